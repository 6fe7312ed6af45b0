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
	size_t len;
	uint8_t *data;      /* [first_lsn, [record, ...]] */
} batch_item;

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
	assert(w->tail == NULL || w->tail->lsn < it->first_lsn);
	assert(it->first_lsn <= it->lsn && it->lsn > w->acked_lsn);
	it->next = NULL;
	if (w->tail)
		w->tail->next = it;
	else
		w->head = it;
	w->tail = it;
	w->outbox_bytes += it->len + sizeof(*it);
	w->outbox_items++;
}

static batch_item *outbox_pop(journal_writer *w)
{
	batch_item *it = w->head;
	assert(it != NULL && w->outbox_items > 0);
	w->head = it->next;
	if (w->head == NULL)
		w->tail = NULL;
	w->outbox_bytes -= it->len + sizeof(*it);
	w->outbox_items--;
	assert((w->head == NULL) == (w->outbox_items == 0));
	assert(w->outbox_items > 0 || w->outbox_bytes == 0);
	return it;
}

static void on_batch_reply(void *ud, const redisReply *r);

static void batch_send(journal_writer *w, batch_item *it)
{
	assert(!it->sent);
	char id[32];
	int idlen = snprintf(id, sizeof(id), "%" PRIu64 "-0", it->lsn);
	const char *argv[] = { "XADD", w->key, id, DURABLE_BATCH_FIELD, (const char *)it->data };
	size_t lens[] = { 4, strlen(w->key), (size_t)idlen, strlen(DURABLE_BATCH_FIELD), it->len };
	if (redis_link_send(w->link, 5, argv, lens, on_batch_reply, it) != 0) {
		/* The link is up, so only memory is short; an unsent batch
		 * ahead of sent ones would break the order replies map onto. */
		log_error("out of memory sending a journal batch; exiting");
		abort();
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

static void acked(journal_writer *w)
{
	batch_item *done = outbox_pop(w);
	assert(done->lsn > w->acked_lsn);
	w->acked_lsn = done->lsn;
	free(done->data);
	free(done);
	set_unavailable(w);
	if (w->acked_fn)
		w->acked_fn(w->ud, w->acked_lsn);
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

void journal_writer_seal(journal_writer *w)
{
	durable_batch *b = &w->batch;
	if (b->count == 0 || w->closed)
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
	it->first_lsn = b->first_lsn;
	it->lsn = b->first_lsn + b->count - 1;
	it->data = b->buf.data;
	it->len = b->buf.len;
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
	return w->head == NULL && w->batch.count == 0;
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
	while (w->head) {
		batch_item *it = outbox_pop(w);
		free(it->data);
		free(it);
	}
	mp_buf_finish(&w->batch.buf);
	free(w);
}
