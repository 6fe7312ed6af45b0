/*
 * journal_writer.c - the group-committed journal (see journal_writer.h).
 */
#include "journal_writer.h"

#include "journal.h"
#include "log.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A sealed batch, waiting for Redis to acknowledge it. */
typedef struct batch_item {
	struct batch_item *next;
	journal_writer *w;
	uint64_t first_lsn;
	uint64_t lsn;       /* its last record: the stream id's */
	bool sent;          /* on the current connection */
	bool resent;        /* sent on an earlier connection too */
	bool records;       /* false: events alone, no journal record */
	size_t len;
	uint8_t *data;      /* [first_lsn, [record, ...]] */
	uint32_t nevents;
	size_t events_len;
	uint8_t *events;    /* the stream's entries: entry_head, then its array */
} batch_item;

/* Before each stream entry's MessagePack array in a turn's events: what
 * its XADD needs without reading the array. */
typedef struct entry_head {
	uint64_t last_seq;  /* the entry's id */
	uint32_t n;         /* events in it */
	uint32_t len;       /* bytes of the array that follows */
} entry_head;

struct journal_writer {
	uv_loop_t *loop;
	redis_link *link;
	char key[DURABLE_KEY_MAX];
	char ns[DURABLE_NAMESPACE_MAX + 1];
	char redis_host[256];
	int redis_port;
	size_t backlog_bytes_max;

	durable_batch batch;   /* this turn's records */
	uint64_t acked_lsn;
	mp_buf events;         /* this turn's stream entries (entry_head, array) */
	uint32_t nevents;
	bool entry_open;       /* the last entry in events takes more */
	size_t entry_at;       /* where its entry_head is */
	entry_head entry;      /* its head so far */
	uint64_t events_keep;
	char events_key[DURABLE_KEY_MAX];
	void (*seal_hook)(void *ud);
	void *seal_hook_ud;

	batch_item *head, *tail; /* the outbox, oldest first */
	size_t outbox_bytes;
	uint32_t outbox_items;

	bool fatal;            /* a second writer: no retry can fix it */
	const char *unavailable;
	char unavailable_buf[512];

	uv_check_t check;
	uv_prepare_t prepare;
	bool closed;

	uint64_t batches_total, records_total, bytes_total;

	journal_writer_acked_fn acked_fn;
	journal_writer_sealed_fn sealed_fn;
	void *ud;
};

static void set_unavailable(journal_writer *w)
{
	if (w->fatal)
		return;
	if (!redis_link_is_up(w->link)) {
		snprintf(w->unavailable_buf, sizeof(w->unavailable_buf),
		    "Redis at %s:%d is unreachable, so changes cannot be made durable; reads still work",
		    w->redis_host, w->redis_port);
		w->unavailable = w->unavailable_buf;
	} else if (w->outbox_bytes > w->backlog_bytes_max) {
		snprintf(w->unavailable_buf, sizeof(w->unavailable_buf),
		    "the journal is %zu bytes behind in Redis; try again shortly", w->outbox_bytes);
		w->unavailable = w->unavailable_buf;
	} else {
		w->unavailable = NULL;
	}
}

/* ---- the outbox -------------------------------------------------------- */

static void outbox_push(journal_writer *w, batch_item *it)
{
	/* Events alone carry the lsn of the batch before them. */
	assert(w->tail == NULL || w->tail->lsn < it->first_lsn || !it->records);
	assert(it->first_lsn <= it->lsn && (it->lsn > w->acked_lsn || !it->records));
	it->next = NULL;
	if (w->tail)
		w->tail->next = it;
	else
		w->head = it;
	w->tail = it;
	w->outbox_bytes += it->len + it->events_len + sizeof(*it);
	w->outbox_items++;
}

static batch_item *outbox_pop(journal_writer *w)
{
	batch_item *it = w->head;
	assert(it != NULL && w->outbox_items > 0);
	w->head = it->next;
	if (w->head == NULL)
		w->tail = NULL;
	w->outbox_bytes -= it->len + it->events_len + sizeof(*it);
	w->outbox_items--;
	assert((w->head == NULL) == (w->outbox_items == 0));
	assert(w->outbox_items > 0 || w->outbox_bytes == 0);
	return it;
}

static void on_batch_reply(void *ud, const redisReply *r);

static void send_or_die(journal_writer *w, int argc, const char **argv, const size_t *lens,
    redis_link_reply_fn fn, void *ud)
{
	if (redis_link_send(w->link, argc, argv, lens, fn, ud) != 0) {
		/* The link is up, so only memory is short; an unsent batch
		 * ahead of sent ones would break the order replies map onto. */
		log_error("out of memory sending a journal batch; exiting");
		abort();
	}
}

/* The replies inside a MULTI: the EXEC's says it all. */
static void on_queued(void *ud, const redisReply *r)
{
}

static void send_journal_xadd(journal_writer *w, batch_item *it, redis_link_reply_fn fn)
{
	char id[32];
	int idlen = snprintf(id, sizeof(id), "%" PRIu64 "-0", it->lsn);
	const char *argv[] = { "XADD", w->key, id, DURABLE_BATCH_FIELD, (const char *)it->data };
	size_t lens[] = { 4, strlen(w->key), (size_t)idlen, strlen(DURABLE_BATCH_FIELD), it->len };
	send_or_die(w, 5, argv, lens, fn, it);
}

/*
 * An XADD per entry, its id the entry's last seq: an entry sent again
 * after it landed is refused, never written twice. MINID trims whole
 * entries whose events are all older than the newest events_keep.
 */
static void send_events(journal_writer *w, batch_item *it)
{
	size_t off = 0;
	uint32_t events = 0;
	while (off < it->events_len) {
		entry_head h;
		assert(off + sizeof(h) <= it->events_len);
		memcpy(&h, it->events + off, sizeof(h));
		off += sizeof(h);
		assert(h.n > 0 && h.n <= DURABLE_EVENTS_PER_ENTRY && off + h.len <= it->events_len);
		char id[32], minid[32], n[16];
		uint64_t keep_from = h.last_seq > w->events_keep ? h.last_seq - w->events_keep + 1 : 0;
		const char *argv[] = { "XADD", w->events_key, "MINID", "~", minid, id,
			DURABLE_EVENTS_COUNT_FIELD, n, DURABLE_EVENTS_FIELD, (const char *)it->events + off };
		size_t lens[] = { 4, strlen(w->events_key), 5, 1,
			(size_t)snprintf(minid, sizeof(minid), "%" PRIu64, keep_from),
			(size_t)snprintf(id, sizeof(id), "%" PRIu64 "-0", h.last_seq),
			strlen(DURABLE_EVENTS_COUNT_FIELD), (size_t)snprintf(n, sizeof(n), "%" PRIu32, h.n),
			strlen(DURABLE_EVENTS_FIELD), h.len };
		send_or_die(w, 10, argv, lens, on_queued, NULL);
		off += h.len;
		events += h.n;
	}
	assert(events == it->nevents);
}

static void batch_send(journal_writer *w, batch_item *it)
{
	assert(!it->sent);
	if (it->nevents == 0) {
		send_journal_xadd(w, it, on_batch_reply);
	} else {
		/* Nothing runs before EXEC arrives whole: the journal batch and
		 * its events land together or not at all, whatever becomes of
		 * allotd meanwhile. */
		const char *multi[] = { "MULTI" }, *exec[] = { "EXEC" };
		bool corked = redis_link_cork(w->link);
		send_or_die(w, 1, multi, NULL, on_queued, NULL);
		if (it->records)
			send_journal_xadd(w, it, on_queued);
		send_events(w, it);
		send_or_die(w, 1, exec, NULL, on_batch_reply, it);
		redis_link_uncork(w->link, corked);
	}
	it->sent = true;
}

/* Someone else wrote this namespace's journal: refuse changes for good. */
static void second_writer(journal_writer *w)
{
	w->fatal = true;
	snprintf(w->unavailable_buf, sizeof(w->unavailable_buf),
	    "the journal of namespace %s has records this allotd did not write; "
	    "is a second allotd using it? Changes are refused", w->ns);
	w->unavailable = w->unavailable_buf;
	log_error("%s", w->unavailable);
	/* Never write again: retrying would meet the same id and could take
	 * the other writer's entry for ours. The held replies are never sent. */
	redis_link_stop(w->link);
}

static bool is_stale_xadd(const redisReply *r)
{
	return r->type == REDIS_REPLY_ERROR &&
	    strstr(r->str, "equal or smaller than the target stream top item") != NULL;
}

static void item_free(batch_item *it)
{
	free(it->data);
	free(it->events);
	free(it);
}

static void acked(journal_writer *w)
{
	batch_item *done = outbox_pop(w);
	bool moved = done->records;
	assert(!moved || done->lsn > w->acked_lsn);
	if (moved)
		w->acked_lsn = done->lsn;
	item_free(done);
	set_unavailable(w);
	if (moved && w->acked_fn)
		w->acked_fn(w->ud, w->acked_lsn);
}

/*
 * The reply that decides a batch's fate: its XADD's, or for a MULTI the
 * first command's inside the EXEC's (the batch's XADD, or the first
 * event's). An EXEC refused whole (EXECABORT) is that error.
 */
static const redisReply *deciding_reply(const batch_item *it, const redisReply *r)
{
	if (it->nevents == 0 || r->type != REDIS_REPLY_ARRAY || r->elements == 0)
		return r;
	/* Events behind a journal XADD that landed: refused only if someone
	 * else wrote the stream; the changes are durable, so say so and go on. */
	for (size_t i = 1; i < r->elements; i++)
		if (r->element[i]->type == REDIS_REPLY_ERROR && r->element[0]->type != REDIS_REPLY_ERROR)
			log_warn("event stream: Redis refused an event: %s", r->element[i]->str);
	return r->element[0];
}

static void on_batch_reply(void *ud, const redisReply *r)
{
	batch_item *it = ud;
	journal_writer *w = it->w;
	assert(it->sent);
	if (r == NULL) {
		/* Lost with the connection (every batch in flight hears so, in
		 * order); it may have landed. */
		it->sent = false;
		it->resent = true;
		return;
	}
	/* Replies come in the order the batches were sent, oldest first. */
	assert(it == w->head);
	r = deciding_reply(it, r);
	if (r->type != REDIS_REPLY_ERROR || (is_stale_xadd(r) && it->resent)) {
		acked(w); /* a stale id on a batch sent again: it landed before */
		return;
	}
	if (is_stale_xadd(r)) {
		second_writer(w);
		return;
	}
	char why[300];
	snprintf(why, sizeof(why), "journal write refused: %s", r->str);
	log_error("%s", why);
	it->sent = false;
	it->resent = true;
	redis_link_fail(w->link, why);
}

/* ---- batches ------------------------------------------------------------ */

uint64_t journal_writer_append_cmd(journal_writer *w, const core_cmd *cmd, int64_t now_ms,
    core_str who)
{
	journal_encode_cmd(&w->batch.buf, cmd, now_ms, who);
	w->batch.count++;
	assert(journal_writer_last_lsn(w) > w->acked_lsn);
	return journal_writer_last_lsn(w);
}

uint64_t journal_writer_append_sweep(journal_writer *w, int64_t now_ms, uint32_t reservations,
    uint32_t keys)
{
	assert(reservations > 0 || keys > 0);
	journal_encode_sweep(&w->batch.buf, now_ms, reservations, keys);
	w->batch.count++;
	return journal_writer_last_lsn(w);
}

uint64_t journal_writer_batch_first_lsn(const journal_writer *w)
{
	return w->batch.first_lsn;
}

/* The record count durable_batch_end() patched into the batch's header. */
static uint32_t batch_count_written(const durable_batch *b)
{
	assert(b->buf.len >= b->count_at + 5 && b->buf.data[b->count_at] == 0xdd);
	const uint8_t *h = b->buf.data + b->count_at + 1;
	return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

/* Patch the open entry's head and array length: it takes no more. */
static void entry_close(journal_writer *w)
{
	if (!w->entry_open)
		return;
	entry_head *h = &w->entry;
	size_t array_at = w->entry_at + sizeof(*h);
	assert(h->n > 0 && w->events.len > array_at + 5);
	h->len = (uint32_t)(w->events.len - array_at);
	memcpy(w->events.data + w->entry_at, h, sizeof(*h));
	uint8_t *a = w->events.data + array_at;
	assert(a[0] == 0xdd);
	a[1] = (uint8_t)(h->n >> 24);
	a[2] = (uint8_t)(h->n >> 16);
	a[3] = (uint8_t)(h->n >> 8);
	a[4] = (uint8_t)h->n;
	w->entry_open = false;
}

int journal_writer_append_event(journal_writer *w, uint64_t seq, const uint8_t *item, size_t len)
{
	assert(w->events_keep > 0 && len > 0);
	assert(!w->entry_open || seq > w->entry.last_seq);
	size_t before = w->events.len;
	bool opened = false;
	if (!w->entry_open || w->entry.n == DURABLE_EVENTS_PER_ENTRY) {
		/* A head to patch at the close, then an array32 header whose
		 * count is patched too. */
		static const uint8_t head[sizeof(entry_head)], array[5] = { 0xdd };
		entry_close(w);
		before = w->entry_at = w->events.len;
		mp_write_raw(&w->events, head, sizeof(head));
		mp_write_raw(&w->events, array, sizeof(array));
		w->entry = (entry_head){ 0 };
		opened = true;
	}
	mp_write_raw(&w->events, item, len);
	if (mp_buf_failed(&w->events)) {
		w->events.len = before;
		w->events.failed = false;
		if (opened)
			w->entry_open = false;
		return -1;
	}
	w->entry_open = true;
	w->entry.n++;
	w->entry.last_seq = seq;
	w->nevents++;
	return 0;
}

bool journal_writer_has_stream(const journal_writer *w)
{
	return w->events_keep > 0;
}

void journal_writer_set_seal_hook(journal_writer *w, void (*fn)(void *ud), void *ud)
{
	w->seal_hook = fn;
	w->seal_hook_ud = ud;
}

/* A turn with events and no records: its events alone, in order behind
 * the batches before them. */
static void seal_events_alone(journal_writer *w)
{
	batch_item *it = calloc(1, sizeof(*it));
	if (it == NULL) {
		log_error("out of memory sealing events; exiting");
		abort();
	}
	it->w = w;
	it->first_lsn = it->lsn = w->batch.first_lsn - 1;
	entry_close(w);
	it->nevents = w->nevents;
	it->events = w->events.data;
	it->events_len = w->events.len;
	mp_buf_init(&w->events);
	w->nevents = 0;
	outbox_push(w, it);
	if (redis_link_is_up(w->link) && !w->fatal)
		batch_send(w, it);
	set_unavailable(w);
}

void journal_writer_seal(journal_writer *w)
{
	durable_batch *b = &w->batch;
	if (w->closed)
		return;
	if (w->seal_hook)
		w->seal_hook(w->seal_hook_ud);
	if (b->count == 0 && w->nevents > 0) {
		seal_events_alone(w);
		return;
	}
	if (b->count == 0)
		return;
	assert(b->first_lsn > w->acked_lsn);
	assert(w->tail == NULL || w->tail->lsn + 1 == b->first_lsn);
	durable_batch_end(b);
	assert(batch_count_written(b) == b->count);
	batch_item *it = calloc(1, sizeof(*it));
	if (it == NULL || mp_buf_failed(&b->buf)) {
		/* Replies for these records are held until they are durable:
		 * without memory they never will be, so stop here rather than
		 * pretend. */
		log_error("out of memory sealing a journal batch; exiting");
		abort();
	}
	it->w = w;
	it->records = true;
	it->first_lsn = b->first_lsn;
	it->lsn = b->first_lsn + b->count - 1;
	it->data = b->buf.data;
	it->len = b->buf.len;
	entry_close(w);
	it->nevents = w->nevents;
	it->events = w->events.data;
	it->events_len = w->events.len;
	mp_buf_init(&w->events);
	w->nevents = 0;
	w->batches_total++;
	w->records_total += b->count;
	w->bytes_total += b->buf.len;
	mp_buf_init(&b->buf);
	durable_batch_begin(b, it->lsn + 1);
	outbox_push(w, it);
	if (redis_link_is_up(w->link) && !w->fatal)
		batch_send(w, it);
	set_unavailable(w);
	if (w->sealed_fn)
		w->sealed_fn(w->ud, it->lsn);
}

static void on_check(uv_check_t *h)
{
	journal_writer_seal(h->data);
}

static void on_prepare(uv_prepare_t *h)
{
	journal_writer_seal(h->data);
}

void journal_writer_link_changed(journal_writer *w, bool up)
{
	assert(up == redis_link_is_up(w->link));
	if (up && !w->fatal) {
		/* Redis answered: the whole outbox again, in order. */
		for (batch_item *it = w->head; it; it = it->next)
			batch_send(w, it);
	}
	set_unavailable(w);
}

/* ---- reading ---------------------------------------------------------- */

uint64_t journal_writer_last_lsn(const journal_writer *w)
{
	return w->batch.first_lsn + w->batch.count - 1;
}

uint64_t journal_writer_sealed_lsn(const journal_writer *w)
{
	return w->batch.first_lsn - 1;
}

uint64_t journal_writer_acked_lsn(const journal_writer *w)
{
	return w->acked_lsn;
}

const char *journal_writer_unavailable(const journal_writer *w)
{
	return w->unavailable;
}

bool journal_writer_failed(const journal_writer *w)
{
	return w->fatal;
}

bool journal_writer_drained(const journal_writer *w)
{
	return w->head == NULL && w->batch.count == 0 && w->nevents == 0;
}

void journal_writer_stats_get(const journal_writer *w, journal_writer_stats *out)
{
	*out = (journal_writer_stats){
		.lsn = journal_writer_last_lsn(w),
		.acked_lsn = w->acked_lsn,
		.batches = w->batches_total,
		.records = w->records_total,
		.bytes = w->bytes_total,
		.pending_items = w->outbox_items,
		.pending_bytes = w->outbox_bytes,
	};
}

/* ---- life cycle ---------------------------------------------------------- */

journal_writer *journal_writer_create(uv_loop_t *loop, const journal_writer_config *cfg,
    redis_link *link, uint64_t last_lsn, journal_writer_acked_fn acked_fn,
    journal_writer_sealed_fn sealed_fn, void *ud)
{
	assert(durable_namespace_valid(cfg->ns));
	journal_writer *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return NULL;
	w->loop = loop;
	w->link = link;
	durable_key_journal(w->key, cfg->ns);
	snprintf(w->ns, sizeof(w->ns), "%s", cfg->ns);
	snprintf(w->redis_host, sizeof(w->redis_host), "%s", cfg->redis_host);
	w->redis_port = cfg->redis_port;
	w->backlog_bytes_max = cfg->backlog_bytes_max;
	w->acked_fn = acked_fn;
	w->sealed_fn = sealed_fn;
	w->ud = ud;
	w->acked_lsn = last_lsn;
	w->events_keep = cfg->events_keep;
	durable_key_events(w->events_key, cfg->ns);
	mp_buf_init(&w->events);
	mp_buf_init(&w->batch.buf);
	durable_batch_begin(&w->batch, last_lsn + 1);
	uv_check_init(loop, &w->check);
	uv_prepare_init(loop, &w->prepare);
	w->check.data = w->prepare.data = w;
	uv_check_start(&w->check, on_check);
	uv_prepare_start(&w->prepare, on_prepare);
	/* They run every turn but must not keep the loop alive on their own. */
	uv_unref((uv_handle_t *)&w->check);
	uv_unref((uv_handle_t *)&w->prepare);
	set_unavailable(w);
	return w;
}

void journal_writer_close(journal_writer *w)
{
	if (w == NULL || w->closed)
		return;
	journal_writer_seal(w);
	w->closed = true;
	uv_close((uv_handle_t *)&w->check, NULL);
	uv_close((uv_handle_t *)&w->prepare, NULL);
	if (w->head)
		log_warn("stopping with %u journal items Redis has not acknowledged (their replies were "
		    "not sent)", w->outbox_items);
}

void journal_writer_destroy(journal_writer *w)
{
	if (w == NULL)
		return;
	while (w->head)
		item_free(outbox_pop(w));
	mp_buf_finish(&w->batch.buf);
	mp_buf_finish(&w->events);
	free(w);
}
