/*
 * persist.c - durability in Redis (see persist.h).
 *
 * hiredis is used below its async layer: a non-blocking redisContext whose
 * descriptor this file watches with its own uv_poll_t. That keeps every
 * fault in view (hiredis 0.14.1's libuv adapter never reports a refused
 * connection) and makes replies map one to one, in order, onto the outbox:
 * the queue of batches and scripts sent and not yet acknowledged.
 */
#define _GNU_SOURCE
#include "persist.h"

#include "command.h"
#include "journal.h"
#include "log.h"
#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

const char *persist_mode_name(persist_mode m)
{
	switch (m) {
	case PERSIST_NONE: return "none";
	case PERSIST_ASYNC: return "async";
	case PERSIST_SYNC: return "sync";
	}
	return "unknown";
}

void persist_config_default(persist_config *cfg)
{
	*cfg = (persist_config){
		.mode = PERSIST_NONE,
		.ns = "default",
		.snapshot_interval_s = 300,
		.snapshot_every_records = 1000000,
		.connect_timeout_ms = 2000,
		.reconnect_min_ms = 50,
		.reconnect_max_ms = 2000,
		.backlog_bytes_max = (size_t)256 << 20,
		.snapshot_chunk_bytes = (size_t)1 << 20,
		.record_limits = {
			.frame_bytes_max = 1 << 20,
			.depth_max = 4,
			.array_max = 100000,
			.map_max = 0,
			.str_max = 4096,
		},
	};
}

/* ---- blocking Redis, for recovery and the snapshot child ------------------ */

static redisReply *redis_argv(redisContext *rc, int argc, const char **argv, const size_t *lens)
{
	return redisCommandArgv(rc, argc, argv, lens);
}

/* A command whose reply must not be an error. NULL with why filled. */
static redisReply *redis_must(redisContext *rc, char *why, size_t why_len, int argc,
    const char **argv, const size_t *lens)
{
	redisReply *r = redis_argv(rc, argc, argv, lens);
	if (r == NULL) {
		snprintf(why, why_len, "%s failed: %s", argv[0], rc->errstr[0] ? rc->errstr : "connection lost");
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		snprintf(why, why_len, "%s failed: %s", argv[0], r->str);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

static int redis_handshake(redisContext *rc, const persist_config *cfg, char *why, size_t why_len)
{
	redisReply *r;
	if (cfg->url.password[0]) {
		const char *argv[] = { "AUTH", cfg->url.password };
		if ((r = redis_must(rc, why, why_len, 2, argv, NULL)) == NULL)
			return -1;
		freeReplyObject(r);
	}
	if (cfg->url.db) {
		char db[16];
		snprintf(db, sizeof(db), "%d", cfg->url.db);
		const char *argv[] = { "SELECT", db };
		if ((r = redis_must(rc, why, why_len, 2, argv, NULL)) == NULL)
			return -1;
		freeReplyObject(r);
	}
	const char *argv[] = { "PING" };
	if ((r = redis_must(rc, why, why_len, 1, argv, NULL)) == NULL)
		return -1;
	freeReplyObject(r);
	return 0;
}

static redisContext *redis_connect_blocking(const persist_config *cfg, uint32_t io_timeout_ms,
    char *why, size_t why_len)
{
	struct timeval tv = { cfg->connect_timeout_ms / 1000, (cfg->connect_timeout_ms % 1000) * 1000 };
	redisContext *rc = redisConnectWithTimeout(cfg->url.host, cfg->url.port, tv);
	if (rc == NULL) {
		snprintf(why, why_len, "out of memory");
		return NULL;
	}
	if (rc->err) {
		snprintf(why, why_len, "%s", rc->errstr);
		redisFree(rc);
		return NULL;
	}
	struct timeval io = { io_timeout_ms / 1000, (io_timeout_ms % 1000) * 1000 };
	redisSetTimeout(rc, io);
	if (redis_handshake(rc, cfg, why, why_len) != 0) {
		redisFree(rc);
		return NULL;
	}
	return rc;
}

/* ---- recovery --------------------------------------------------------------- */

typedef struct meta {
	bool has_ids;
	uint32_t id_epoch;
	uint64_t hash_seed;
	char snapshot_key[DURABLE_KEY_MAX];
	uint64_t snapshot_lsn;
	int64_t snapshot_at_ms;
	int64_t format;
} meta;

static bool parse_u64(const char *s, size_t len, uint64_t *out)
{
	if (len == 0 || len > 20)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		uint64_t d = (uint64_t)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

static int read_meta(redisContext *rc, const persist_config *cfg, meta *m, char *why, size_t why_len)
{
	char key[DURABLE_KEY_MAX];
	durable_key_meta(key, cfg->ns);
	const char *argv[] = { "HGETALL", key };
	redisReply *r = redis_must(rc, why, why_len, 2, argv, NULL);
	if (r == NULL)
		return -1;
	memset(m, 0, sizeof(*m));
	bool has_epoch = false, has_seed = false;
	int rc_ = 0;
	if (r->type != REDIS_REPLY_ARRAY || r->elements % 2) {
		snprintf(why, why_len, "%s is not a hash", key);
		rc_ = -1;
		goto out;
	}
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		redisReply *k = r->element[i], *v = r->element[i + 1];
		if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
			continue;
		uint64_t n = 0;
		bool num = parse_u64(v->str, v->len, &n);
		if (strcmp(k->str, "snapshot") == 0) {
			if (v->len == 0 || v->len >= sizeof(m->snapshot_key)) {
				snprintf(why, why_len, "%s: snapshot key of %zu bytes", key, (size_t)v->len);
				rc_ = -1;
				goto out;
			}
			memcpy(m->snapshot_key, v->str, v->len);
		} else if (strcmp(k->str, "snapshot_lsn") == 0 && num) {
			m->snapshot_lsn = n;
		} else if (strcmp(k->str, "snapshot_at_ms") == 0 && num) {
			m->snapshot_at_ms = (int64_t)n;
		} else if (strcmp(k->str, "format") == 0 && num) {
			m->format = (int64_t)n;
		} else if (strcmp(k->str, "id_epoch") == 0 && num && n <= UINT32_MAX) {
			m->id_epoch = (uint32_t)n;
			has_epoch = true;
		} else if (strcmp(k->str, "hash_seed") == 0 && num) {
			m->hash_seed = n;
			has_seed = true;
		}
	}
	m->has_ids = has_epoch && has_seed;
	if (m->format && m->format != DURABLE_FORMAT) {
		snprintf(why, why_len, "%s: format %" PRId64 ", this allotd reads format %d", key, m->format,
		    DURABLE_FORMAT);
		rc_ = -1;
	}
out:
	freeReplyObject(r);
	return rc_;
}

static int write_ids(redisContext *rc, const persist_config *cfg, const core_config *cc,
    char *why, size_t why_len)
{
	char key[DURABLE_KEY_MAX], epoch[24], seed[24], format[8];
	durable_key_meta(key, cfg->ns);
	snprintf(epoch, sizeof(epoch), "%" PRIu32, cc->id_epoch);
	snprintf(seed, sizeof(seed), "%" PRIu64, cc->hash_seed);
	snprintf(format, sizeof(format), "%d", DURABLE_FORMAT);
	const char *argv[] = { "HSET", key, "format", format, "id_epoch", epoch, "hash_seed", seed };
	redisReply *r = redis_must(rc, why, why_len, 8, argv, NULL);
	if (r == NULL)
		return -1;
	freeReplyObject(r);
	return 0;
}

static int load_snapshot(redisContext *rc, const persist_config *cfg, const core_config *cc,
    const meta *m, core **out, uint64_t *bytes, char *why, size_t why_len)
{
	snapshot_loader *ld = snapshot_loader_create(cc);
	if (ld == NULL) {
		snprintf(why, why_len, "out of memory");
		return -1;
	}
	int rc_ = -1;
	const char *err = NULL;
	for (long start = 0;; start += 64) {
		char a[24], b[24];
		snprintf(a, sizeof(a), "%ld", start);
		snprintf(b, sizeof(b), "%ld", start + 63);
		const char *argv[] = { "LRANGE", m->snapshot_key, a, b };
		redisReply *r = redis_must(rc, why, why_len, 4, argv, NULL);
		if (r == NULL)
			goto out;
		if (r->type != REDIS_REPLY_ARRAY) {
			snprintf(why, why_len, "snapshot %s is not a list", m->snapshot_key);
			freeReplyObject(r);
			goto out;
		}
		size_t n = r->elements;
		for (size_t i = 0; i < n; i++) {
			redisReply *e = r->element[i];
			if (e->type != REDIS_REPLY_STRING ||
			    snapshot_loader_feed(ld, (const uint8_t *)e->str, e->len, &err) != 0) {
				snprintf(why, why_len, "snapshot %s, chunk %zu: %s", m->snapshot_key,
				    (size_t)start + i, err ? err : "not a string");
				freeReplyObject(r);
				goto out;
			}
			*bytes += e->len;
		}
		freeReplyObject(r);
		if (n < 64)
			break;
	}
	uint64_t lsn = 0;
	*out = snapshot_loader_finish(ld, &lsn, &err);
	if (*out == NULL) {
		snprintf(why, why_len, "snapshot %s: %s", m->snapshot_key, err ? err : "unreadable");
		goto out;
	}
	if (lsn != m->snapshot_lsn) {
		snprintf(why, why_len, "snapshot %s holds lsn %" PRIu64 " but %s says %" PRIu64,
		    m->snapshot_key, lsn, "the meta hash", m->snapshot_lsn);
		core_destroy(*out);
		*out = NULL;
		goto out;
	}
	rc_ = 0;
out:
	snapshot_loader_destroy(ld);
	return rc_;
}

/* Replay the journal after *lsn; *lsn becomes the last record applied. */
static int replay_journal(redisContext *rc, const persist_config *cfg, core *c, uint64_t *lsn,
    uint64_t *records, char *why, size_t why_len)
{
	char key[DURABLE_KEY_MAX];
	durable_key_journal(key, cfg->ns);
	uint32_t lines_cap = core_get_config(c)->lines_max;
	uint32_t names_cap = core_get_config(c)->locations_max;
	core_line_req *lines = malloc(sizeof(*lines) * (lines_cap ? lines_cap : 1));
	core_str *names = malloc(sizeof(*names) * (names_cap ? names_cap : 1));
	journal_scratch scratch = { lines, lines_cap, names, names_cap };
	if (lines == NULL || names == NULL) {
		free(lines);
		free(names);
		snprintf(why, why_len, "out of memory");
		return -1;
	}
	int rc_ = -1;
	char from[48];
	snprintf(from, sizeof(from), "(%" PRIu64 "-0", *lsn);
	for (;;) {
		const char *argv[] = { "XRANGE", key, from, "+", "COUNT", "100" };
		redisReply *r = redis_must(rc, why, why_len, 6, argv, NULL);
		if (r == NULL)
			goto out;
		if (r->type != REDIS_REPLY_ARRAY) {
			snprintf(why, why_len, "%s is not a stream", key);
			freeReplyObject(r);
			goto out;
		}
		size_t n = r->elements;
		for (size_t i = 0; i < n; i++) {
			redisReply *e = r->element[i];
			if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
			    e->element[0]->type != REDIS_REPLY_STRING ||
			    e->element[1]->type != REDIS_REPLY_ARRAY || e->element[1]->elements != 2 ||
			    e->element[1]->element[1]->type != REDIS_REPLY_STRING) {
				snprintf(why, why_len, "%s: an entry is not [id, [\"b\", batch]]", key);
				freeReplyObject(r);
				goto out;
			}
			const char *id = e->element[0]->str;
			snprintf(from, sizeof(from), "(%.40s", id);
			redisReply *v = e->element[1]->element[1];
			durable_batch_reader br;
			const char *err = NULL;
			if (durable_batch_read_begin(&br, (const uint8_t *)v->str, v->len, &err) != 0) {
				snprintf(why, why_len, "%s entry %s: %s", key, id, err);
				freeReplyObject(r);
				goto out;
			}
			if (br.next_lsn > *lsn + 1) {
				snprintf(why, why_len, "%s entry %s starts at lsn %" PRIu64 " but the state is at %" PRIu64
				    ": records are missing", key, id, br.next_lsn, *lsn);
				freeReplyObject(r);
				goto out;
			}
			const uint8_t *rec;
			size_t len;
			uint64_t rlsn;
			int got;
			while ((got = durable_batch_read_next(&br, &cfg->record_limits, &rec, &len, &rlsn, &err)) == 1) {
				if (rlsn <= *lsn)
					continue; /* covered by the snapshot */
				journal_entry je;
				core_error cerr;
				if (journal_decode(rec, len, &je, &scratch, &err) != 0) {
					snprintf(why, why_len, "%s record %" PRIu64 ": %s", key, rlsn, err);
					freeReplyObject(r);
					goto out;
				}
				int arc = journal_apply(c, &je, &cerr);
				if (arc != 0) {
					snprintf(why, why_len, "%s record %" PRIu64 " does not apply: %s: %s", key, rlsn,
					    core_strerror(cerr.code), cerr.message);
					freeReplyObject(r);
					goto out;
				}
				*lsn = rlsn;
				(*records)++;
			}
			if (got < 0) {
				snprintf(why, why_len, "%s entry %s: %s", key, id, err);
				freeReplyObject(r);
				goto out;
			}
		}
		freeReplyObject(r);
		if (n < 100)
			break;
	}
	rc_ = 0;
out:
	free(lines);
	free(names);
	return rc_;
}

/* Delete snapshot keys other than the current one: left by a snapshot that
 * did not finish. Bounded: at most 1000 SCAN calls. */
static void remove_stray_snapshots(redisContext *rc, const persist_config *cfg, const char *current)
{
	char pattern[DURABLE_KEY_MAX], why[200];
	durable_key_snapshot_pattern(pattern, cfg->ns);
	char cursor[32] = "0";
	for (int round = 0; round < 1000; round++) {
		const char *argv[] = { "SCAN", cursor, "MATCH", pattern, "COUNT", "1000" };
		redisReply *r = redis_must(rc, why, sizeof(why), 6, argv, NULL);
		if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
			if (r)
				freeReplyObject(r);
			return;
		}
		snprintf(cursor, sizeof(cursor), "%.30s", r->element[0]->str);
		redisReply *keys = r->element[1];
		for (size_t i = 0; i < keys->elements; i++) {
			redisReply *k = keys->element[i];
			if (k->type != REDIS_REPLY_STRING || strcmp(k->str, current) == 0)
				continue;
			const char *dargv[] = { "DEL", k->str };
			redisReply *d = redis_argv(rc, 2, dargv, NULL);
			if (d)
				freeReplyObject(d);
			log_info("removed %s, left by a snapshot that did not finish", k->str);
		}
		freeReplyObject(r);
		if (strcmp(cursor, "0") == 0)
			return;
	}
}

int persist_recover(const persist_config *cfg, core_config *cc, core **out, persist_state *st)
{
	char why[512];
	memset(st, 0, sizeof(*st));
	*out = NULL;
	uint64_t t0 = mono_us();
	redisContext *rc = redis_connect_blocking(cfg, 60000, why, sizeof(why));
	if (rc == NULL) {
		log_error("cannot use Redis at %s:%d: %s", cfg->url.host, cfg->url.port, why);
		return -1;
	}
	meta m;
	if (read_meta(rc, cfg, &m, why, sizeof(why)) != 0)
		goto fail;
	if (m.has_ids) {
		cc->id_epoch = m.id_epoch;
		cc->hash_seed = m.hash_seed;
	} else if (m.snapshot_key[0]) {
		snprintf(why, sizeof(why), "the meta hash names a snapshot but no id_epoch/hash_seed");
		goto fail;
	} else if (write_ids(rc, cfg, cc, why, sizeof(why)) != 0) {
		goto fail;
	}
	core *c = NULL;
	uint64_t snap_bytes = 0, lsn = 0, records = 0;
	if (m.snapshot_key[0]) {
		if (load_snapshot(rc, cfg, cc, &m, &c, &snap_bytes, why, sizeof(why)) != 0)
			goto fail;
		lsn = m.snapshot_lsn;
	} else if ((c = core_create(cc)) == NULL) {
		snprintf(why, sizeof(why), "out of memory creating the core");
		goto fail;
	}
	uint64_t t_snap = mono_us();
	if (replay_journal(rc, cfg, c, &lsn, &records, why, sizeof(why)) != 0) {
		core_destroy(c);
		goto fail;
	}
	uint64_t t_journal = mono_us();
	core_stats before;
	core_stats_get(c, &before);
	uint32_t expired = core_advance(c, wall_ms());
	remove_stray_snapshots(rc, cfg, m.snapshot_key);
	core_stats cs;
	core_stats_get(c, &cs);
	if (m.snapshot_key[0])
		log_info("recovered the snapshot %s at lsn %" PRIu64 " (%" PRIu64 " bytes) in %.1f ms",
		    m.snapshot_key, m.snapshot_lsn, snap_bytes, (double)(t_snap - t0) / 1000.0);
	else
		log_info("no snapshot in Redis yet for namespace %s", cfg->ns);
	log_info("replayed %" PRIu64 " journal records in %.1f ms; expired %u holds whose time passed; "
	    "now at lsn %" PRIu64 ": %" PRIu64 " skus, %" PRIu64 " locations, %" PRIu64 " stock records, "
	    "%" PRIu64 " held and %" PRIu64 " committed reservations; recovery took %.1f ms",
	    records, (double)(t_journal - t_snap) / 1000.0, expired, lsn, cs.skus, cs.locations,
	    cs.records, cs.reservations[CORE_RESV_HELD], cs.reservations[CORE_RESV_COMMITTED],
	    (double)(mono_us() - t0) / 1000.0);
	*out = c;
	st->lsn = lsn;
	st->snapshot_lsn = m.snapshot_lsn;
	st->snapshot_at_ms = m.snapshot_at_ms;
	snprintf(st->snapshot_key, sizeof(st->snapshot_key), "%s", m.snapshot_key);
	st->redis = rc;
	return 0;
fail:
	log_error("cannot recover from Redis at %s:%d (namespace %s): %s", cfg->url.host, cfg->url.port,
	    cfg->ns, why);
	redisFree(rc);
	return -1;
}

void persist_state_finish(persist_state *st)
{
	if (st->redis)
		redisFree(st->redis);
	st->redis = NULL;
}

/* ---- the journal writer ------------------------------------------------------ */

enum item_kind { ITEM_BATCH = 1, ITEM_SWITCH, ITEM_DEL };

typedef struct item {
	struct item *next;
	uint8_t kind;
	bool sent;        /* on the current connection */
	bool resent;      /* sent on an earlier connection too */
	uint64_t lsn;     /* BATCH: its last record; SWITCH: the snapshot's */
	uint64_t run;     /* SWITCH: the snapshot run */
	char key[DURABLE_KEY_MAX]; /* SWITCH: the new snapshot; DEL: the key */
	char old[DURABLE_KEY_MAX]; /* SWITCH: the snapshot it replaces */
	int64_t at_ms;    /* SWITCH: when the snapshot was taken */
	int64_t sent_ms;  /* when it was last sent */
	size_t len;
	uint8_t *data;    /* BATCH */
} item;

/* DOWN -> CONNECTING (TCP) -> HELLO (AUTH, SELECT, PING answered?) -> UP.
 * A stopped Redis still completes TCP connects from its backlog, so only an
 * answer counts as back. */
enum link_state { LINK_DOWN, LINK_CONNECTING, LINK_HELLO, LINK_UP };

struct persist {
	uv_loop_t *loop;
	persist_config cfg;
	core *core;
	char key_journal[DURABLE_KEY_MAX];
	char key_meta[DURABLE_KEY_MAX];

	durable_batch batch; /* this turn's records */
	uint64_t acked_lsn;

	item *head, *tail;   /* the outbox, oldest first */
	size_t outbox_bytes;
	uint32_t outbox_items;

	redisContext *rc;
	uv_poll_t *poll;     /* heap: closes on its own schedule */
	int poll_events;
	int link;
	uint32_t preamble;   /* AUTH/SELECT replies to skip */
	uv_timer_t retry_timer;
	uint32_t backoff_ms;
	int64_t down_since_ms;
	char unavailable_buf[512];
	const char *unavailable;
	bool fatal;          /* a conflict no retry can fix */

	uv_check_t check;
	uv_prepare_t prepare;
	uv_timer_t watchdog;    /* Redis alive but not answering */

	/* snapshots */
	uv_timer_t snap_timer;  /* periodic */
	uv_timer_t child_timer; /* polls the child */
	pid_t child;
	int child_pipe;
	uint64_t run;           /* runs started */
	bool again;             /* a request came during the current run */
	uint64_t child_lsn;
	int64_t child_at_ms;
	uint64_t child_t0_us, child_fork_us;
	char child_key[DURABLE_KEY_MAX];
	uint64_t snap_lsn;
	int64_t snap_at_ms;
	char snap_key[DURABLE_KEY_MAX];
	persist_snapshot_info last;
	uint64_t snapshots_total, snapshots_failed;

	/* figures */
	uint64_t batches_total, records_total, bytes_total;
	uint64_t reconnects_total;
	uint64_t ack_us_max, ack_us_sum, ack_n;

	persist_acked_fn acked_fn;
	persist_snapshot_fn snapshot_fn;
	void *ud;
	bool stopping;
	bool closed;
	uint32_t handles_open;
};

static void link_down(persist *p, const char *why);
static void link_flush(persist *p);
static void snapshot_maybe(persist *p);
static void snapshot_finish(persist *p, int code, const char *message);
static void maybe_close(persist *p);

durable_batch *persist_journal(persist *p)
{
	return &p->batch;
}

const char *persist_unavailable(const persist *p)
{
	return p->unavailable;
}

uint64_t persist_acked_lsn(const persist *p)
{
	return p->acked_lsn;
}

static void set_unavailable(persist *p)
{
	if (p->fatal)
		return;
	if (p->link != LINK_UP) {
		snprintf(p->unavailable_buf, sizeof(p->unavailable_buf),
		    "Redis at %s:%d is unreachable, so changes cannot be made durable; reads still work",
		    p->cfg.url.host, p->cfg.url.port);
		p->unavailable = p->unavailable_buf;
	} else if (p->outbox_bytes > p->cfg.backlog_bytes_max) {
		snprintf(p->unavailable_buf, sizeof(p->unavailable_buf),
		    "the journal is %zu bytes behind in Redis; try again shortly", p->outbox_bytes);
		p->unavailable = p->unavailable_buf;
	} else {
		p->unavailable = NULL;
	}
}

static void outbox_push(persist *p, item *it)
{
	it->next = NULL;
	if (p->tail)
		p->tail->next = it;
	else
		p->head = it;
	p->tail = it;
	p->outbox_bytes += it->len + sizeof(*it);
	p->outbox_items++;
}

static item *outbox_pop(persist *p)
{
	item *it = p->head;
	p->head = it->next;
	if (p->head == NULL)
		p->tail = NULL;
	p->outbox_bytes -= it->len + sizeof(*it);
	p->outbox_items--;
	return it;
}

static const char SWITCH_SCRIPT[] =
    "redis.call('HSET', KEYS[1], 'snapshot', KEYS[3], 'snapshot_lsn', ARGV[1], "
    "'snapshot_at_ms', ARGV[2], 'format', ARGV[3]) "
    "redis.call('XTRIM', KEYS[2], 'MINID', ARGV[4]) "
    "if KEYS[4] ~= '' and KEYS[4] ~= KEYS[3] then redis.call('DEL', KEYS[4]) end "
    "return 1";

/* Append an item's command to the connection's output buffer. */
static void item_send(persist *p, item *it)
{
	if (it->kind == ITEM_BATCH) {
		char id[32];
		int idlen = snprintf(id, sizeof(id), "%" PRIu64 "-0", it->lsn);
		const char *argv[] = { "XADD", p->key_journal, id, DURABLE_BATCH_FIELD, (const char *)it->data };
		size_t lens[] = { 4, strlen(p->key_journal), (size_t)idlen, 1, it->len };
		redisAppendCommandArgv(p->rc, 5, argv, lens);
	} else if (it->kind == ITEM_SWITCH) {
		char lsn[24], at[24], fmt[8], minid[32];
		snprintf(lsn, sizeof(lsn), "%" PRIu64, it->lsn);
		snprintf(at, sizeof(at), "%" PRId64, it->at_ms);
		snprintf(fmt, sizeof(fmt), "%d", DURABLE_FORMAT);
		snprintf(minid, sizeof(minid), "%" PRIu64 "-0", it->lsn + 1);
		const char *argv[] = { "EVAL", SWITCH_SCRIPT, "4", p->key_meta, p->key_journal, it->key,
			it->old, lsn, at, fmt, minid };
		redisAppendCommandArgv(p->rc, 11, argv, NULL);
	} else {
		const char *argv[] = { "DEL", it->key };
		redisAppendCommandArgv(p->rc, 2, argv, NULL);
	}
	it->sent = true;
	it->sent_ms = uv_now(p->loop);
}

/* Seal this turn's batch into the outbox and send it. */
static void seal(persist *p)
{
	durable_batch *b = &p->batch;
	if (b->count == 0 || p->closed)
		return;
	durable_batch_end(b);
	item *it = calloc(1, sizeof(*it));
	if (it == NULL || mp_buf_failed(&b->buf)) {
		/* Replies for these records are held until they are durable:
		 * without memory they never will be, so stop here rather than
		 * pretend. */
		log_error("out of memory sealing a journal batch; exiting");
		abort();
	}
	it->kind = ITEM_BATCH;
	it->lsn = b->first_lsn + b->count - 1;
	it->data = b->buf.data;
	it->len = b->buf.len;
	p->batches_total++;
	p->records_total += b->count;
	p->bytes_total += b->buf.len;
	mp_buf_init(&b->buf);
	durable_batch_begin(b, it->lsn + 1);
	outbox_push(p, it);
	if (p->link == LINK_UP) {
		item_send(p, it);
		link_flush(p);
	}
	set_unavailable(p);
	if (p->cfg.snapshot_every_records && p->child == 0 &&
	    it->lsn - p->snap_lsn >= p->cfg.snapshot_every_records)
		snapshot_maybe(p);
}

static void on_check(uv_check_t *h)
{
	seal(h->data);
}

static void on_prepare(uv_prepare_t *h)
{
	seal(h->data);
}

/* ---- the connection -------------------------------------------------------- */

static void on_poll_closed(uv_handle_t *h)
{
	redisContext *rc = h->data;
	if (rc)
		redisFree(rc);
	free(h);
}

static void link_close(persist *p)
{
	if (p->poll) {
		uv_poll_stop(p->poll);
		p->poll->data = p->rc; /* freed once libuv lets go of the fd */
		uv_close((uv_handle_t *)p->poll, on_poll_closed);
		p->poll = NULL;
	} else if (p->rc) {
		redisFree(p->rc);
	}
	p->rc = NULL;
	p->poll_events = 0;
}

static void on_poll(uv_poll_t *h, int status, int events);
static void on_retry(uv_timer_t *t);

static void poll_want(persist *p, int events)
{
	if (p->poll == NULL || events == p->poll_events)
		return;
	p->poll_events = events;
	uv_poll_start(p->poll, events, on_poll);
}

/* Write what hiredis has buffered; watch for writability if some is left. */
static void link_flush(persist *p)
{
	if ((p->link != LINK_UP && p->link != LINK_HELLO) || p->rc == NULL)
		return;
	int done = 0;
	if (redisBufferWrite(p->rc, &done) != REDIS_OK) {
		link_down(p, p->rc->errstr[0] ? p->rc->errstr : "write failed");
		return;
	}
	poll_want(p, UV_READABLE | (done ? 0 : UV_WRITABLE));
}

static void retry_schedule(persist *p)
{
	if (p->fatal || (p->stopping && p->head == NULL))
		return;
	uint32_t ms = p->backoff_ms ? p->backoff_ms : p->cfg.reconnect_min_ms;
	p->backoff_ms = ms * 2 > p->cfg.reconnect_max_ms ? p->cfg.reconnect_max_ms : ms * 2;
	uv_timer_start(&p->retry_timer, on_retry, ms, 0);
}

static void link_down(persist *p, const char *why)
{
	bool was_up = p->link == LINK_UP;
	link_close(p);
	p->link = LINK_DOWN;
	if (was_up) {
		p->down_since_ms = wall_ms();
		log_warn("lost Redis at %s:%d: %s; mutations answer UNAVAILABLE until it is back",
		    p->cfg.url.host, p->cfg.url.port, why);
	} else {
		log_debug("cannot reach Redis at %s:%d: %s", p->cfg.url.host, p->cfg.url.port, why);
	}
	/* What was sent may or may not have landed: it goes again, and a
	 * batch that did land is recognised by its stream id. */
	for (item *it = p->head; it; it = it->next) {
		if (it->sent)
			it->resent = true;
		it->sent = false;
	}
	set_unavailable(p);
	if (p->stopping && p->head == NULL) {
		maybe_close(p);
		return;
	}
	retry_schedule(p);
}

/* Redis answered: send the whole outbox again, in order. */
static void link_ready(persist *p)
{
	p->link = LINK_UP;
	p->backoff_ms = 0;
	uv_timer_stop(&p->retry_timer);
	for (item *it = p->head; it; it = it->next)
		item_send(p, it);
	if (p->down_since_ms) {
		log_info("Redis at %s:%d is back after %" PRId64 " ms; writing %u queued journal items",
		    p->cfg.url.host, p->cfg.url.port, wall_ms() - p->down_since_ms, p->outbox_items);
		p->down_since_ms = 0;
	}
	set_unavailable(p);
	link_flush(p);
}

/* The TCP connection is made: AUTH, SELECT and PING, all answered before
 * the link counts as up (the connect timer still runs). */
static void link_hello(persist *p)
{
	p->link = LINK_HELLO;
	p->preamble = 0;
	if (p->cfg.url.password[0]) {
		const char *argv[] = { "AUTH", p->cfg.url.password };
		redisAppendCommandArgv(p->rc, 2, argv, NULL);
		p->preamble++;
	}
	if (p->cfg.url.db) {
		char db[16];
		snprintf(db, sizeof(db), "%d", p->cfg.url.db);
		const char *argv[] = { "SELECT", db };
		redisAppendCommandArgv(p->rc, 2, argv, NULL);
		p->preamble++;
	}
	const char *argv[] = { "PING" };
	redisAppendCommandArgv(p->rc, 1, argv, NULL);
	p->preamble++;
	link_flush(p);
}

static bool is_stale_xadd(const redisReply *r)
{
	return r->type == REDIS_REPLY_ERROR && strstr(r->str, "equal or smaller than the target stream top item");
}

static void handle_reply(persist *p, redisReply *r)
{
	if (p->preamble) {
		p->preamble--;
		if (r->type == REDIS_REPLY_ERROR) {
			char why[300];
			snprintf(why, sizeof(why), "%s", r->str);
			link_down(p, why);
		} else if (p->preamble == 0 && p->link == LINK_HELLO) {
			link_ready(p);
		}
		return;
	}
	item *it = p->head;
	if (it == NULL || !it->sent) {
		link_down(p, "a reply nothing was waiting for");
		return;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		if (it->kind == ITEM_BATCH && is_stale_xadd(r)) {
			if (!it->resent) {
				/* Somebody else wrote this namespace's journal. */
				p->fatal = true;
				snprintf(p->unavailable_buf, sizeof(p->unavailable_buf),
				    "the journal of namespace %s has records this allotd did not write; "
				    "is a second allotd using it? Changes are refused", p->cfg.ns);
				p->unavailable = p->unavailable_buf;
				log_error("%s", p->unavailable);
				/* Never write again: retrying would meet the same id and
				 * could take the other writer's entry for ours. The held
				 * replies are never sent. */
				link_close(p);
				p->link = LINK_DOWN;
				uv_timer_stop(&p->retry_timer);
				return;
			}
			/* Written before the connection was lost: acknowledged. */
		} else if (it->kind == ITEM_SWITCH) {
			log_error("switching to snapshot %s failed: %s", it->key, r->str);
			item *done = outbox_pop(p);
			p->child_lsn = done->lsn;
			free(done);
			snapshot_finish(p, PROTO_E_UNAVAILABLE, "switching to the new snapshot failed in Redis");
			return;
		} else if (it->kind == ITEM_DEL) {
			log_warn("removing %s failed: %s", it->key, r->str);
		} else {
			char why[300];
			snprintf(why, sizeof(why), "journal write refused: %s", r->str);
			log_error("%s", why);
			link_down(p, why);
			return;
		}
	}
	item *done = outbox_pop(p);
	if (done->kind == ITEM_BATCH) {
		p->acked_lsn = done->lsn;
		free(done->data);
		free(done);
		set_unavailable(p);
		if (p->acked_fn)
			p->acked_fn(p->ud, p->acked_lsn);
	} else if (done->kind == ITEM_SWITCH) {
		p->snap_lsn = done->lsn;
		p->snap_at_ms = done->at_ms;
		snprintf(p->snap_key, sizeof(p->snap_key), "%s", done->key);
		free(done);
		snapshot_finish(p, 0, NULL);
	} else {
		free(done);
	}
	if (p->stopping && p->head == NULL)
		maybe_close(p);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	persist *p = h->data;
	if (p->link == LINK_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);
		if (status < 0)
			err = -status;
		else if (getsockopt(p->rc->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
			err = errno;
		if (err) {
			link_down(p, strerror(err));
			return;
		}
		link_hello(p);
		return;
	}
	if (status < 0) {
		char why[120];
		snprintf(why, sizeof(why), "the connection failed (%s)", uv_strerror(status));
		link_down(p, why);
		return;
	}
	if (events & UV_WRITABLE) {
		link_flush(p);
		if (p->link == LINK_DOWN)
			return;
	}
	if (events & UV_READABLE) {
		if (redisBufferRead(p->rc) != REDIS_OK) {
			link_down(p, p->rc->errstr[0] ? p->rc->errstr : "read failed");
			return;
		}
		for (;;) {
			void *reply = NULL;
			if (redisGetReplyFromReader(p->rc, &reply) != REDIS_OK) {
				link_down(p, p->rc->errstr[0] ? p->rc->errstr : "unreadable reply");
				return;
			}
			if (reply == NULL)
				break;
			handle_reply(p, reply);
			freeReplyObject(reply);
			if (p->link == LINK_DOWN || p->closed)
				return;
		}
	}
}

static int link_watch(persist *p)
{
	p->poll = malloc(sizeof(*p->poll));
	if (p->poll == NULL || uv_poll_init(p->loop, p->poll, p->rc->fd) != 0) {
		free(p->poll);
		p->poll = NULL;
		return -1;
	}
	p->poll->data = p;
	p->poll_events = 0;
	return 0;
}

/* A Redis that keeps the connection but stops answering (stopped, or
 * stuck on its disk) is treated as lost, so mutations are refused rather
 * than left waiting. */
#define REPLY_TIMEOUT_MS 5000

static void on_watchdog(uv_timer_t *t)
{
	persist *p = t->data;
	if (p->link == LINK_UP && p->head && p->head->sent &&
	    uv_now(p->loop) - (uint64_t)p->head->sent_ms > REPLY_TIMEOUT_MS)
		link_down(p, "no reply in 5 s");
}

static void on_connect_timeout(uv_timer_t *t)
{
	persist *p = t->data;
	if (p->link == LINK_CONNECTING || p->link == LINK_HELLO)
		link_down(p, "no answer to connect and PING in time");
}

static void on_retry(uv_timer_t *t)
{
	persist *p = t->data;
	if (p->closed || p->link != LINK_DOWN)
		return;
	p->reconnects_total++;
	p->rc = redisConnectNonBlock(p->cfg.url.host, p->cfg.url.port);
	if (p->rc == NULL || p->rc->err) {
		char why[200];
		snprintf(why, sizeof(why), "%s", p->rc ? p->rc->errstr : "out of memory");
		link_down(p, why);
		return;
	}
	if (link_watch(p) != 0) {
		link_down(p, "cannot watch the socket");
		return;
	}
	p->link = LINK_CONNECTING;
	poll_want(p, UV_WRITABLE);
	uv_timer_start(&p->retry_timer, on_connect_timeout, p->cfg.connect_timeout_ms, 0);
}

/* ---- snapshots --------------------------------------------------------------- */

typedef struct child_emit {
	redisContext *rc;
	const char *key;
	uint32_t pending;
	uint32_t chunks;
	uint64_t bytes;
	char why[300];
} child_emit;

static int child_drain(child_emit *ce, uint32_t keep)
{
	while (ce->pending > keep) {
		void *reply = NULL;
		if (redisGetReply(ce->rc, &reply) != REDIS_OK || reply == NULL) {
			snprintf(ce->why, sizeof(ce->why), "%s", ce->rc->errstr[0] ? ce->rc->errstr : "no reply");
			return -1;
		}
		redisReply *r = reply;
		int bad = r->type == REDIS_REPLY_ERROR;
		if (bad)
			snprintf(ce->why, sizeof(ce->why), "%s", r->str);
		freeReplyObject(r);
		ce->pending--;
		if (bad)
			return -1;
	}
	return 0;
}

static int child_emit_chunk(void *ctx, const uint8_t *chunk, size_t len)
{
	child_emit *ce = ctx;
	const char *argv[] = { "RPUSH", ce->key, (const char *)chunk };
	size_t lens[] = { 5, strlen(ce->key), len };
	if (redisAppendCommandArgv(ce->rc, 3, argv, lens) != REDIS_OK) {
		snprintf(ce->why, sizeof(ce->why), "out of memory");
		return -1;
	}
	ce->pending++;
	ce->chunks++;
	ce->bytes += len;
	return child_drain(ce, 8);
}

/* In the child: write the snapshot, report through fd, exit. Never returns. */
static void __attribute__((noreturn)) snapshot_child(persist *p, pid_t parent, int fd)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(3);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	/* Drop the parent's sockets (the listener above all), so that a child
	 * outliving a killed parent cannot hold its port. */
	if (fd > 3)
		close_range(3, (unsigned)fd - 1, 0);
	close_range((unsigned)fd + 1, ~0U, 0);
	char why[300];
	redisContext *rc = redis_connect_blocking(&p->cfg, 30000, why, sizeof(why));
	if (rc == NULL) {
		log_error("snapshot: cannot reach Redis: %s", why);
		_exit(1);
	}
	child_emit ce = { .rc = rc, .key = p->child_key };
	const char *dargv[] = { "DEL", p->child_key };
	redisReply *r = redis_must(rc, why, sizeof(why), 2, dargv, NULL);
	if (r == NULL) {
		log_error("snapshot: %s", why);
		_exit(1);
	}
	freeReplyObject(r);
	const char *err = NULL;
	if (snapshot_write(p->core, p->child_lsn, p->cfg.snapshot_chunk_bytes, child_emit_chunk, &ce,
	        NULL, &err) != 0 || child_drain(&ce, 0) != 0) {
		log_error("snapshot: writing %s failed: %s", p->child_key,
		    ce.why[0] ? ce.why : err ? err : "encoding failed");
		_exit(1);
	}
	uint64_t report[2] = { ce.bytes, ce.chunks };
	if (write(fd, report, sizeof(report)) != (ssize_t)sizeof(report))
		_exit(1);
	_exit(0);
}

static void on_child_poll(uv_timer_t *t)
{
	persist *p = t->data;
	if (p->child == 0)
		return;
	int status;
	pid_t got = waitpid(p->child, &status, WNOHANG);
	if (got == 0)
		return;
	uv_timer_stop(&p->child_timer);
	p->child = 0;
	uint64_t report[2] = { 0, 0 };
	bool ok = got > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
	    read(p->child_pipe, report, sizeof(report)) == (ssize_t)sizeof(report);
	close(p->child_pipe);
	p->child_pipe = -1;
	if (!ok) {
		log_error("snapshot at lsn %" PRIu64 " failed (the writer exited with status %d)", p->child_lsn,
		    got > 0 ? status : -1);
		item *del = calloc(1, sizeof(*del));
		if (del) {
			del->kind = ITEM_DEL;
			snprintf(del->key, sizeof(del->key), "%s", p->child_key);
			outbox_push(p, del);
			if (p->link == LINK_UP) {
				item_send(p, del);
				link_flush(p);
			}
		}
		snapshot_finish(p, PROTO_E_UNAVAILABLE, "the snapshot could not be written to Redis");
		return;
	}
	p->last.bytes = report[0];
	p->last.chunks = (uint32_t)report[1];
	/* Switch on the journal's own connection, behind every batch the
	 * snapshot covers, so the trim never drops a record before it lands. */
	item *sw = calloc(1, sizeof(*sw));
	if (sw == NULL) {
		snapshot_finish(p, CORE_E_BUSY, "out of memory");
		return;
	}
	sw->kind = ITEM_SWITCH;
	sw->lsn = p->child_lsn;
	sw->at_ms = p->child_at_ms;
	snprintf(sw->key, sizeof(sw->key), "%s", p->child_key);
	snprintf(sw->old, sizeof(sw->old), "%s", p->snap_key);
	outbox_push(p, sw);
	if (p->link == LINK_UP) {
		item_send(p, sw);
		link_flush(p);
	}
}

/* Start a snapshot run now. 0, or -1 with why. */
static int snapshot_start(persist *p, char *why, size_t why_len)
{
	if (p->link != LINK_UP || p->fatal) {
		snprintf(why, why_len, "%s", p->unavailable ? p->unavailable : "Redis is unreachable");
		return -1;
	}
	seal(p);
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) != 0) {
		snprintf(why, why_len, "pipe: %s", strerror(errno));
		return -1;
	}
	p->child_lsn = p->batch.first_lsn - 1;
	p->child_at_ms = wall_ms();
	durable_key_snapshot(p->child_key, p->cfg.ns, p->child_lsn, (uint64_t)p->child_at_ms);
	pid_t parent = getpid();
	uint64_t t0 = mono_us();
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		snapshot_child(p, parent, fds[1]);
	}
	uint64_t t1 = mono_us();
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		snprintf(why, why_len, "fork: %s", strerror(errno));
		return -1;
	}
	p->run++;
	p->child = pid;
	p->child_pipe = fds[0];
	p->child_t0_us = t0;
	p->child_fork_us = t1 - t0;
	log_info("snapshot at lsn %" PRIu64 " started (the fork took %" PRIu64 " us)", p->child_lsn,
	    p->child_fork_us);
	uv_timer_start(&p->child_timer, on_child_poll, 2, 2);
	return 0;
}

static void snapshot_finish(persist *p, int code, const char *message)
{
	uint64_t run = p->run;
	persist_snapshot_info info = p->last;
	info.lsn = p->child_lsn;
	info.taken_at_ms = p->child_at_ms;
	info.duration_ms = (mono_us() - p->child_t0_us) / 1000;
	info.fork_us = p->child_fork_us;
	if (code == 0) {
		p->snapshots_total++;
		p->last = info;
		log_info("snapshot at lsn %" PRIu64 " is current: %" PRIu64 " bytes in %u chunks, %" PRIu64
		    " ms; the journal before it is trimmed", info.lsn, info.bytes, info.chunks, info.duration_ms);
	} else {
		p->snapshots_failed++;
	}
	if (p->snapshot_fn)
		p->snapshot_fn(p->ud, run, code, message, &info);
	if (p->again && !p->stopping) {
		p->again = false;
		char why[300];
		if (snapshot_start(p, why, sizeof(why)) != 0 && p->snapshot_fn) {
			p->run++;
			p->snapshot_fn(p->ud, p->run, PROTO_E_UNAVAILABLE, why, &info);
		}
	}
}

static bool snapshot_running(const persist *p)
{
	if (p->child)
		return true;
	for (item *it = p->head; it; it = it->next)
		if (it->kind == ITEM_SWITCH)
			return true;
	return false;
}

static void snapshot_maybe(persist *p)
{
	if (p->stopping || snapshot_running(p) || p->link != LINK_UP)
		return;
	if (p->batch.first_lsn - 1 == p->snap_lsn)
		return; /* nothing new */
	char why[300];
	if (snapshot_start(p, why, sizeof(why)) != 0)
		log_warn("periodic snapshot not taken: %s", why);
}

static void on_snap_timer(uv_timer_t *t)
{
	snapshot_maybe(t->data);
}

int persist_snapshot_request(persist *p, uint64_t *run, char *message, size_t message_len)
{
	if (p->stopping) {
		snprintf(message, message_len, "the server is stopping");
		return PROTO_E_UNAVAILABLE;
	}
	if (snapshot_running(p)) {
		p->again = true;
		*run = p->run + 1;
		return PROTO_DEFERRED;
	}
	if (snapshot_start(p, message, message_len) != 0)
		return PROTO_E_UNAVAILABLE;
	*run = p->run;
	return PROTO_DEFERRED;
}

/* ---- stats ----------------------------------------------------------------------- */

static void kv_u(mp_buf *out, const char *k, uint64_t v)
{
	mp_write_cstr(out, k);
	mp_write_uint(out, v);
}

void persist_write_stats(void *ud, mp_buf *out)
{
	persist *p = ud;
	int64_t now = wall_ms();
	mp_write_map(out, 6);
	mp_write_lit(out, "mode");
	mp_write_cstr(out, persist_mode_name(p->cfg.mode));
	mp_write_lit(out, "redis");
	mp_write_map(out, 4);
	mp_write_lit(out, "address");
	char addr[300];
	snprintf(addr, sizeof(addr), "%s:%d", p->cfg.url.host, p->cfg.url.port);
	mp_write_cstr(out, addr);
	mp_write_lit(out, "namespace");
	mp_write_cstr(out, p->cfg.ns);
	mp_write_lit(out, "connected");
	mp_write_bool(out, p->link == LINK_UP);
	kv_u(out, "reconnects", p->reconnects_total);
	mp_write_lit(out, "available");
	mp_write_bool(out, p->unavailable == NULL);
	mp_write_lit(out, "journal");
	mp_write_map(out, 7);
	kv_u(out, "lsn", p->batch.first_lsn + p->batch.count - 1);
	kv_u(out, "acked_lsn", p->acked_lsn);
	kv_u(out, "batches", p->batches_total);
	kv_u(out, "records", p->records_total);
	kv_u(out, "bytes", p->bytes_total);
	kv_u(out, "pending_items", p->outbox_items);
	kv_u(out, "pending_bytes", p->outbox_bytes);
	mp_write_lit(out, "snapshot");
	mp_write_map(out, 9);
	kv_u(out, "lsn", p->snap_lsn);
	mp_write_lit(out, "key");
	mp_write_cstr(out, p->snap_key);
	mp_write_lit(out, "age_ms");
	mp_write_int(out, p->snap_at_ms ? now - p->snap_at_ms : -1);
	kv_u(out, "records_since", p->batch.first_lsn - 1 - p->snap_lsn);
	mp_write_lit(out, "running");
	mp_write_bool(out, snapshot_running(p));
	kv_u(out, "taken", p->snapshots_total);
	kv_u(out, "failed", p->snapshots_failed);
	kv_u(out, "last_bytes", p->last.bytes);
	kv_u(out, "last_fork_us", p->last.fork_us);
	mp_write_lit(out, "settings");
	mp_write_map(out, 2);
	kv_u(out, "snapshot_interval_s", p->cfg.snapshot_interval_s);
	kv_u(out, "snapshot_every_records", p->cfg.snapshot_every_records);
}

/* ---- life cycle ---------------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h)
{
	persist *p = h->data;
	p->handles_open--;
}

static void close_handle(persist *p, uv_handle_t *h)
{
	if (!uv_is_closing(h)) {
		h->data = p;
		uv_close(h, on_handle_closed);
	}
}

void persist_close(persist *p)
{
	if (p == NULL || p->closed)
		return;
	seal(p);
	p->closed = true;
	if (p->child) {
		kill(p->child, SIGKILL);
		waitpid(p->child, NULL, 0);
		p->child = 0;
		close(p->child_pipe);
	}
	link_close(p);
	p->link = LINK_DOWN;
	close_handle(p, (uv_handle_t *)&p->check);
	close_handle(p, (uv_handle_t *)&p->prepare);
	close_handle(p, (uv_handle_t *)&p->retry_timer);
	close_handle(p, (uv_handle_t *)&p->snap_timer);
	close_handle(p, (uv_handle_t *)&p->child_timer);
	close_handle(p, (uv_handle_t *)&p->watchdog);
	if (p->head)
		log_warn("stopping with %u journal items Redis has not acknowledged (their replies were not sent)",
		    p->outbox_items);
}

static void maybe_close(persist *p)
{
	if (p->stopping && p->head == NULL && p->batch.count == 0 && p->child == 0)
		persist_close(p);
}

void persist_stop(persist *p)
{
	if (p == NULL || p->stopping)
		return;
	p->stopping = true;
	uv_timer_stop(&p->snap_timer);
	p->again = false;
	seal(p);
	if (p->child) {
		kill(p->child, SIGKILL);
		waitpid(p->child, NULL, 0);
		p->child = 0;
		close(p->child_pipe);
		p->child_pipe = -1;
		uv_timer_stop(&p->child_timer);
		snapshot_finish(p, PROTO_E_UNAVAILABLE, "the server is stopping");
	}
	maybe_close(p);
}

persist *persist_create(uv_loop_t *loop, const persist_config *cfg, core *c,
    persist_state *st, persist_acked_fn acked, persist_snapshot_fn snapshot_done, void *ud)
{
	persist *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->loop = loop;
	p->cfg = *cfg;
	p->core = c;
	p->acked_fn = acked;
	p->snapshot_fn = snapshot_done;
	p->ud = ud;
	p->child_pipe = -1;
	durable_key_journal(p->key_journal, cfg->ns);
	durable_key_meta(p->key_meta, cfg->ns);
	mp_buf_init(&p->batch.buf);
	durable_batch_begin(&p->batch, st->lsn + 1);
	p->acked_lsn = st->lsn;
	p->snap_lsn = st->snapshot_lsn;
	p->snap_at_ms = st->snapshot_at_ms;
	snprintf(p->snap_key, sizeof(p->snap_key), "%s", st->snapshot_key);

	uv_check_init(loop, &p->check);
	uv_prepare_init(loop, &p->prepare);
	uv_timer_init(loop, &p->retry_timer);
	uv_timer_init(loop, &p->snap_timer);
	uv_timer_init(loop, &p->child_timer);
	uv_timer_init(loop, &p->watchdog);
	p->handles_open = 6;
	p->check.data = p->prepare.data = p->retry_timer.data = p->snap_timer.data = p->child_timer.data = p;
	p->watchdog.data = p;
	uv_timer_start(&p->watchdog, on_watchdog, 500, 500);
	uv_unref((uv_handle_t *)&p->watchdog);
	uv_check_start(&p->check, on_check);
	uv_prepare_start(&p->prepare, on_prepare);
	/* The check and prepare hooks run every turn but must not keep the
	 * loop alive on their own. */
	uv_unref((uv_handle_t *)&p->check);
	uv_unref((uv_handle_t *)&p->prepare);
	if (cfg->snapshot_interval_s) {
		uint64_t ms = (uint64_t)cfg->snapshot_interval_s * 1000;
		uv_timer_start(&p->snap_timer, on_snap_timer, ms, ms);
		uv_unref((uv_handle_t *)&p->snap_timer);
	}

	/* Go on with recovery's connection, made non-blocking. */
	p->rc = st->redis;
	st->redis = NULL;
	int fl = fcntl(p->rc->fd, F_GETFL);
	fcntl(p->rc->fd, F_SETFL, fl | O_NONBLOCK);
	p->rc->flags &= ~REDIS_BLOCK;
	struct timeval none = { 0, 0 };
	redisSetTimeout(p->rc, none);
	if (link_watch(p) != 0) {
		link_down(p, "cannot watch the socket");
	} else {
		link_ready(p);
		poll_want(p, UV_READABLE);
	}
	return p;
}

void persist_destroy(persist *p)
{
	if (p == NULL)
		return;
	while (p->head) {
		item *it = outbox_pop(p);
		free(it->data);
		free(it);
	}
	if (p->rc)
		redisFree(p->rc);
	mp_buf_finish(&p->batch.buf);
	free(p);
}

uint64_t persist_append_cmd(persist *p, const core_cmd *cmd, int64_t now_ms)
{
	durable_batch *b = persist_journal(p);
	journal_encode_cmd(&b->buf, cmd, now_ms);
	b->count++;
	return b->first_lsn + b->count - 1;
}

uint64_t persist_append_sweep(persist *p, int64_t now_ms, uint32_t forgot_reservations,
    uint32_t forgot_keys)
{
	durable_batch *b = persist_journal(p);
	journal_encode_sweep(&b->buf, now_ms, forgot_reservations, forgot_keys);
	b->count++;
	return b->first_lsn + b->count - 1;
}

uint64_t persist_batch_first_lsn(const persist *p)
{
	return persist_journal((persist *)p)->first_lsn;
}
