/*
 * persist.c - durability in Redis for the server (see persist.h): the
 * parts composed, the news between them passed on, and the stats.
 */
#include "persist.h"

#include "journal_writer.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "recovery.h"
#include "redis_link.h"
#include "snapshotter.h"
#include "store.h"

#include <allot/protocol.h>
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Recovery waits this long for each Redis reply (a large snapshot's
 * chunks come 64 to a reply). */
#define RECOVERY_REPLY_TIMEOUT_MS 60000
/* While up, a command unanswered this long means Redis is lost. */
#define REPLY_TIMEOUT_MS 5000

struct persist {
	uv_loop_t *loop;
	persist_config cfg;
	redis_link *link;
	journal_writer *writer;
	snapshotter *snap;
	int64_t down_since_ms;
	bool stopping;
	bool closed;
	persist_acked_fn acked_fn;
	persist_snapshot_fn snapshot_fn;
	void *ud;
	uint64_t sealed_lsn;          /* the last batch's end, for its size */
	metrics_hist batch_records;   /* records per sealed batch */
};


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
		.events_keep = ALLOT_DEFAULT_EVENTS_KEEP,
		.snapshot_chunk_bytes = (size_t)1 << 20,
		/* A week of history, as the contract says; and at most 1 GiB of
		 * journal in Redis's memory beyond the snapshot that covers it
		 * (a busy engine's week is far more: `allot archive` keeps it on
		 * disk). */
		.journal_keep_ms = 7ULL * 86400000,
		.journal_keep_bytes = 1ULL << 30,
	};
	store_record_limits(&cfg->record_limits);
}

/* ---- recovery ------------------------------------------------------------- */

int persist_recover(const persist_config *cfg, core_config *cc, core **out, persist_state *st)
{
	recovery_config rc = {
		.url = &cfg->url,
		.ns = cfg->ns,
		.connect_timeout_ms = cfg->connect_timeout_ms,
		.reply_timeout_ms = RECOVERY_REPLY_TIMEOUT_MS,
		.record_limits = cfg->record_limits,
	};
	recovery_result res;
	memset(st, 0, sizeof(*st));
	if (recovery_run(&rc, cc, clock_now_ms(), out, &res) != 0)
		return -1;
	st->lsn = res.lsn;
	st->snapshot_lsn = res.snapshot_lsn;
	st->snapshot_at_ms = res.snapshot_at_ms;
	st->events_seq = res.events_seq;
	snprintf(st->snapshot_key, sizeof(st->snapshot_key), "%s", res.snapshot_key);
	st->journal_bytes = res.journal_bytes;
	st->history_lsn = res.history_lsn;
	st->history_at_ms = res.history_at_ms;
	st->history_journal_bytes = res.history_journal_bytes;
	st->redis = res.store;
	return 0;
}

void persist_state_finish(persist_state *st)
{
	store_close(st->redis);
	st->redis = NULL;
}

/* ---- the news between the parts --------------------------------------------- */

static void maybe_close(persist *p)
{
	if (p->stopping && !p->closed && journal_writer_drained(p->writer) && !snapshotter_busy(p->snap))
		persist_close(p);
}

static void on_link_state(void *ud, bool up, const char *why)
{
	persist *p = ud;
	if (up) {
		journal_writer_stats j;
		journal_writer_stats_get(p->writer, &j);
		log_info("Redis at %s:%d is back after %" PRId64 " ms; writing %u queued journal items",
		    p->cfg.url.host, p->cfg.url.port, clock_now_ms() - p->down_since_ms, j.pending_items);
		p->down_since_ms = 0;
	} else {
		p->down_since_ms = clock_now_ms();
		log_warn("lost Redis at %s:%d: %s; mutations answer UNAVAILABLE until it is back",
		    p->cfg.url.host, p->cfg.url.port, why);
	}
	journal_writer_link_changed(p->writer, up);
	snapshotter_link_changed(p->snap, up);
	maybe_close(p);
}

static void on_acked(void *ud, uint64_t lsn)
{
	persist *p = ud;
	if (p->acked_fn)
		p->acked_fn(p->ud, lsn);
	snapshotter_acked(p->snap, lsn);
	maybe_close(p);
}

static void on_sealed(void *ud, uint64_t lsn)
{
	persist *p = ud;
	/* A batch is sealed once per loop turn that journaled something. */
	if (lsn > p->sealed_lsn) {
		uint64_t n = lsn - p->sealed_lsn;
		metrics_hist_add(&p->batch_records, n, n);
	}
	p->sealed_lsn = lsn;
	snapshotter_sealed(p->snap, lsn);
}

static void on_snapshot_done(void *ud, uint64_t run, int code, const char *message,
    const snapshotter_info *info)
{
	persist *p = ud;
	persist_snapshot_info pi = {
		.lsn = info->lsn,
		.taken_at_ms = info->taken_at_ms,
		.bytes = info->bytes,
		.chunks = info->chunks,
		.duration_ms = info->duration_ms,
		.fork_us = info->fork_us,
	};
	if (p->snapshot_fn)
		p->snapshot_fn(p->ud, run, code, message, &pi);
}

static void on_snapshot_idle(void *ud)
{
	maybe_close(ud);
}

/* ---- the request path --------------------------------------------------------- */

uint64_t persist_append_cmd(persist *p, const core_cmd *cmd, int64_t now_ms, core_str who)
{
	snapshotter_recorded(p->snap, now_ms);
	return journal_writer_append_cmd(p->writer, cmd, now_ms, who);
}

uint64_t persist_append_sweep(persist *p, int64_t now_ms, uint32_t forgot_reservations,
    uint32_t forgot_keys)
{
	return journal_writer_append_sweep(p->writer, now_ms, forgot_reservations, forgot_keys);
}

uint64_t persist_batch_first_lsn(const persist *p)
{
	return journal_writer_batch_first_lsn(p->writer);
}

const char *persist_unavailable(const persist *p)
{
	return journal_writer_unavailable(p->writer);
}

uint64_t persist_acked_lsn(const persist *p)
{
	return journal_writer_acked_lsn(p->writer);
}

int persist_snapshot_request(persist *p, uint64_t *run, char *message, size_t message_len)
{
	return snapshotter_request(p->snap, run, message, message_len);
}

/* ---- stats ----------------------------------------------------------------------- */

static void kv_u(mp_buf *out, const char *k, uint64_t v)
{
	mp_write_cstr(out, k);
	mp_write_uint(out, v);
}

static void write_redis_stats(const persist *p, mp_buf *out)
{
	char addr[300];
	snprintf(addr, sizeof(addr), "%s:%d", p->cfg.url.host, p->cfg.url.port);
	mp_write_map(out, 4);
	mp_write_lit(out, "address");
	mp_write_cstr(out, addr);
	mp_write_lit(out, "namespace");
	mp_write_cstr(out, p->cfg.ns);
	mp_write_lit(out, "connected");
	mp_write_bool(out, redis_link_is_up(p->link));
	kv_u(out, "reconnects", redis_link_reconnects(p->link));
}

static void write_journal_stats(const journal_writer_stats *j, mp_buf *out)
{
	mp_write_map(out, 7);
	kv_u(out, "lsn", j->lsn);
	kv_u(out, "acked_lsn", j->acked_lsn);
	kv_u(out, "batches", j->batches);
	kv_u(out, "records", j->records);
	kv_u(out, "bytes", j->bytes);
	kv_u(out, "pending_items", j->pending_items);
	kv_u(out, "pending_bytes", j->pending_bytes);
}

static void write_snapshot_stats(const persist *p, mp_buf *out)
{
	snapshotter_stats s;
	snapshotter_stats_get(p->snap, &s);
	mp_write_map(out, 9);
	kv_u(out, "lsn", s.lsn);
	mp_write_lit(out, "key");
	mp_write_cstr(out, s.key);
	mp_write_lit(out, "age_ms");
	mp_write_int(out, s.at_ms ? clock_now_ms() - s.at_ms : -1);
	kv_u(out, "records_since", journal_writer_sealed_lsn(p->writer) - s.lsn);
	mp_write_lit(out, "running");
	mp_write_bool(out, s.running);
	kv_u(out, "taken", s.taken);
	kv_u(out, "failed", s.failed);
	kv_u(out, "last_bytes", s.last.bytes);
	kv_u(out, "last_fork_us", s.last.fork_us);
}

/* What the history in Redis keeps: the records after its start (up to
 * what Redis acknowledged), their batch bytes, and the oldest time one can
 * replay from. */
typedef struct history_view {
	uint64_t from_lsn, records, bytes;
	int64_t oldest_at_ms; /* 0: none */
} history_view;

static history_view history_of(const persist *p, const journal_writer_stats *j)
{
	snapshotter_history h;
	snapshotter_history_get(p->snap, &h);
	uint64_t bytes = snapshotter_journal_bytes(p->snap);
	return (history_view){ h.lsn, j->acked_lsn > h.lsn ? j->acked_lsn - h.lsn : 0,
		bytes > h.journal_bytes ? bytes - h.journal_bytes : 0, h.at_ms };
}

static void write_history_stats(const persist *p, const journal_writer_stats *j, mp_buf *out)
{
	history_view h = history_of(p, j);
	mp_write_map(out, 4);
	kv_u(out, "from_lsn", h.from_lsn);
	kv_u(out, "records", h.records);
	kv_u(out, "bytes", h.bytes);
	mp_write_lit(out, "oldest_at_ms");
	mp_write_int(out, h.oldest_at_ms ? h.oldest_at_ms : -1);
}

void persist_write_stats(void *ud, mp_buf *out)
{
	const persist *p = ud;
	journal_writer_stats j;
	journal_writer_stats_get(p->writer, &j);
	mp_write_map(out, 7);
	mp_write_lit(out, "history");
	write_history_stats(p, &j, out);
	mp_write_lit(out, "mode");
	mp_write_cstr(out, persist_mode_name(p->cfg.mode));
	mp_write_lit(out, "redis");
	write_redis_stats(p, out);
	mp_write_lit(out, "available");
	mp_write_bool(out, journal_writer_unavailable(p->writer) == NULL);
	mp_write_lit(out, "journal");
	write_journal_stats(&j, out);
	mp_write_lit(out, "snapshot");
	write_snapshot_stats(p, out);
	mp_write_lit(out, "settings");
	mp_write_map(out, 4);
	kv_u(out, "journal_keep_ms", p->cfg.journal_keep_ms);
	kv_u(out, "journal_keep_bytes", p->cfg.journal_keep_bytes);
	kv_u(out, "snapshot_interval_s", p->cfg.snapshot_interval_s);
	kv_u(out, "snapshot_every_records", p->cfg.snapshot_every_records);
}

void persist_view_get(const persist *p, persist_view *out)
{
	journal_writer_stats j;
	snapshotter_stats s;
	journal_writer_stats_get(p->writer, &j);
	snapshotter_stats_get(p->snap, &s);
	assert(j.acked_lsn <= j.lsn);
	history_view h = history_of(p, &j);
	*out = (persist_view){
		.history_records = h.records,
		.history_bytes = h.bytes,
		.history_oldest_at_ms = h.oldest_at_ms,
		.mode = p->cfg.mode,
		.unavailable = journal_writer_unavailable(p->writer),
		.connected = redis_link_is_up(p->link),
		.lsn = j.lsn,
		.acked_lsn = j.acked_lsn,
		.pending_bytes = j.pending_bytes,
		.batches = j.batches,
		.records = j.records,
		.bytes = j.bytes,
		.snapshot_lsn = s.lsn,
		.snapshot_at_ms = s.at_ms,
		.snapshot_running = s.running,
		.snapshots_taken = s.taken,
		.snapshots_failed = s.failed,
		.snapshot_duration_ms = s.last.duration_ms,
		.snapshot_bytes = s.last.bytes,
		.batch_records = &p->batch_records,
	};
}

/* ---- life cycle ---------------------------------------------------------------- */

static int create_parts(persist *p, core *c, persist_state *st)
{
	const persist_config *cfg = &p->cfg;
	redis_link_config lc = { .url = cfg->url, .connect_timeout_ms = cfg->connect_timeout_ms,
		.reconnect_min_ms = cfg->reconnect_min_ms, .reconnect_max_ms = cfg->reconnect_max_ms,
		.reply_timeout_ms = REPLY_TIMEOUT_MS };
	/* Go on with recovery's connection. */
	struct redisContext *rc = st->redis ? store_release(st->redis) : NULL;
	st->redis = NULL;
	p->link = redis_link_create(p->loop, &lc, rc, on_link_state, p);
	if (p->link == NULL)
		return -1;
	journal_writer_config wc = { .ns = cfg->ns, .redis_host = cfg->url.host,
		.redis_port = cfg->url.port, .backlog_bytes_max = cfg->backlog_bytes_max,
		.events_keep = cfg->events_keep };
	p->sealed_lsn = st->lsn;
	p->writer = journal_writer_create(p->loop, &wc, p->link, st->lsn, on_acked, on_sealed, p);
	if (p->writer == NULL)
		return -1;
	snapshotter_config sc = { .url = cfg->url, .ns = cfg->ns, .interval_s = cfg->snapshot_interval_s,
		.every_records = cfg->snapshot_every_records, .chunk_bytes = cfg->snapshot_chunk_bytes,
		.connect_timeout_ms = cfg->connect_timeout_ms, .keep_ms = cfg->journal_keep_ms,
		.keep_bytes = cfg->journal_keep_bytes };
	snapshotter_current cur = { .lsn = st->snapshot_lsn, .at_ms = st->snapshot_at_ms,
		.key = st->snapshot_key, .journal_bytes = st->journal_bytes,
		.history = { st->history_lsn, st->history_at_ms, st->history_journal_bytes } };
	p->snap = snapshotter_create(p->loop, &sc, c, p->link, p->writer, &cur, on_snapshot_done,
	    on_snapshot_idle, p);
	return p->snap ? 0 : -1;
}

persist *persist_create(uv_loop_t *loop, const persist_config *cfg, core *c,
    persist_state *st, persist_acked_fn acked, persist_snapshot_fn snapshot_done, void *ud)
{
	assert(cfg->mode != PERSIST_NONE);
	persist *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->loop = loop;
	p->cfg = *cfg;
	p->acked_fn = acked;
	p->snapshot_fn = snapshot_done;
	p->ud = ud;
	if (create_parts(p, c, st) != 0) {
		/* Without memory at start: nothing has run on the loop yet. */
		persist_close(p);
		return NULL;
	}
	return p;
}

void persist_stop(persist *p)
{
	if (p == NULL || p->stopping)
		return;
	p->stopping = true;
	snapshotter_stop(p->snap);
	journal_writer_seal(p->writer);
	maybe_close(p);
}

void persist_close(persist *p)
{
	if (p == NULL || p->closed)
		return;
	p->closed = true;
	/* The snapshotter first: the writer's last seal must not start a run. */
	snapshotter_close(p->snap);
	journal_writer_close(p->writer);
	redis_link_close(p->link);
}

void persist_destroy(persist *p)
{
	if (p == NULL)
		return;
	snapshotter_destroy(p->snap);
	journal_writer_destroy(p->writer);
	redis_link_destroy(p->link);
	free(p);
}

/* ---- the event stream -------------------------------------------------------------- */

int persist_append_event(persist *p, uint64_t seq, const uint8_t *item, size_t len)
{
	return journal_writer_append_event(p->writer, seq, item, len);
}

bool persist_has_stream(const persist *p)
{
	return journal_writer_has_stream(p->writer);
}

void persist_set_seal_hook(persist *p, void (*fn)(void *ud), void *ud)
{
	journal_writer_set_seal_hook(p->writer, fn, ud);
}
