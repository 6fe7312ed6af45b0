/*
 * persist.h - durability in Redis, for the server: recovery at start, the
 * group-committed journal, snapshots, and riding out Redis faults.
 *
 * A thin facade over the parts, each of which calls only the ones below it:
 *
 *   persist      -> recovery, snapshotter, journal_writer, redis_link
 *   recovery     -> store
 *   snapshotter  -> journal_writer (seal, acked lsn), redis_link (send),
 *                   store (in the forked child)
 *   journal_writer -> redis_link (send)
 *   store        -> proto/ and hiredis only (also `allot snapshot dump`)
 *
 * redis_link.h: the connection on the loop; journal_writer.h: batches,
 * group commit, acknowledgements, the outbox; snapshotter.h: forked
 * snapshots and the switch; recovery.h: loading at start; store/store.h:
 * the one reader of the on-Redis format. The parts talk back only through
 * callbacks this facade registers, and it passes the news on (a link that
 * came back goes to the writer, then the snapshotter; an acknowledgement to
 * the server, then the snapshotter).
 *
 * The request path appends a journal record for every change with
 * persist_append_cmd() (and every sweep that forgot something with
 * persist_append_sweep()); in sync mode the server holds each change's
 * reply until the acked hook reports its lsn.
 */
#ifndef ALLOT_ENGINE_PERSIST_H
#define ALLOT_ENGINE_PERSIST_H

#include "core.h"
#include "durable.h"
#include "mp.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef enum persist_mode {
	PERSIST_NONE = 0,
	PERSIST_ASYNC,
	PERSIST_SYNC,
} persist_mode;

const char *persist_mode_name(persist_mode m);

typedef struct persist_config {
	persist_mode mode;
	durable_url url;
	const char *ns;
	uint32_t snapshot_interval_s;     /* 0: no periodic snapshots */
	uint64_t snapshot_every_records;  /* 0: none by record count */
	uint32_t connect_timeout_ms;
	uint32_t reconnect_min_ms, reconnect_max_ms;
	size_t backlog_bytes_max;         /* unacknowledged journal bytes */
	uint64_t events_keep;             /* events the stream keeps (about); 0: no stream */
	size_t snapshot_chunk_bytes;
	mp_limits record_limits;          /* checked on every record replayed */
	uint64_t journal_keep_ms;         /* history kept beyond the snapshot covering it */
	uint64_t journal_keep_bytes;      /* ... bounded by this many journal bytes */
} persist_config;

void persist_config_default(persist_config *cfg);

/* What recovery found, and where the journal goes on from. */
typedef struct persist_state {
	uint64_t lsn;           /* the last record replayed */
	uint64_t snapshot_lsn;  /* 0: no snapshot */
	int64_t snapshot_at_ms;
	char snapshot_key[DURABLE_KEY_MAX];
	uint64_t events_seq;    /* the newest event's seq in the stream, 0: none */
	uint64_t journal_bytes; /* the journal's batch bytes from record 1 to lsn */
	uint64_t history_lsn;   /* the history kept in Redis starts after it */
	int64_t history_at_ms;
	uint64_t history_journal_bytes;
	void *redis;            /* the store (store.h) recovery used, handed on */
} persist_state;

/*
 * Before the loop runs: connect to Redis (refused: log why and return -1),
 * load the current snapshot (or create an empty core with cc), replay the
 * journal after it, expire what expired meanwhile, and log what was loaded
 * and how long it took. The reservation-id epoch and hash seed come from
 * Redis when it has them; cc's are stored there otherwise. On success *out
 * is the core (the caller destroys it) and *st says where things stand.
 */
int persist_recover(const persist_config *cfg, core_config *cc, core **out, persist_state *st);

/* Free what st still holds (the connection, when persist_create did not
 * take it). */
void persist_state_finish(persist_state *st);

typedef struct persist persist;

/* Called when Redis has acknowledged every record up to lsn. */
typedef void (*persist_acked_fn)(void *ud, uint64_t lsn);
/* Called when a requested snapshot is durable (code 0) or failed (code a
 * PROTO_E_* / CORE_E_* with message). info is valid during the call. */
typedef struct persist_snapshot_info {
	uint64_t lsn;
	int64_t taken_at_ms;
	uint64_t bytes;
	uint32_t chunks;
	uint64_t duration_ms;
	uint64_t fork_us;
} persist_snapshot_info;
typedef void (*persist_snapshot_fn)(void *ud, uint64_t run, int code, const char *message,
    const persist_snapshot_info *info);

/* Starts the journal writer on loop; takes st->redis. NULL without memory. */
persist *persist_create(uv_loop_t *loop, const persist_config *cfg, core *c,
    persist_state *st, persist_acked_fn acked, persist_snapshot_fn snapshot_done, void *ud);

/* Append the journal record of a successful change to this turn's batch
 * (now_ms is the core's clock when it ran; who the caller's token NAME,
 * "-" without tokens); returns its lsn. */
uint64_t persist_append_cmd(persist *p, const core_cmd *cmd, int64_t now_ms, core_str who);
/* Append the record of a sweep that forgot something; returns its lsn. */
uint64_t persist_append_sweep(persist *p, int64_t now_ms, uint32_t forgot_reservations,
    uint32_t forgot_keys);
/* The event stream (journal_writer.h): one event for this turn's batch;
 * whether there is a stream; the hook that appends the turn's events
 * before every seal. */
int persist_append_event(persist *p, uint64_t seq, const uint8_t *item, size_t len);
bool persist_has_stream(const persist *p);
void persist_set_seal_hook(persist *p, void (*fn)(void *ud), void *ud);
/* The first lsn of the batch being built this turn: the gates of one
 * unsent batch are acknowledged together. */
uint64_t persist_batch_first_lsn(const persist *p);

/* NULL, or why mutations cannot be made durable right now. */
const char *persist_unavailable(const persist *p);
uint64_t persist_acked_lsn(const persist *p);

/*
 * snapshot method: PROTO_DEFERRED, with *run the snapshot run whose
 * snapshot_done answers it (a request during a run waits for the next, which
 * covers everything before the request), or an error code with message.
 */
int persist_snapshot_request(persist *p, uint64_t *run, char *message, size_t message_len);

/* The value of stats' "durability" key. */
void persist_write_stats(void *p, mp_buf *out);

/* Durability's figures for /metrics, /healthz and the operations page. */
typedef struct persist_view {
	persist_mode mode;
	const char *unavailable;     /* NULL, or why changes are refused */
	bool connected;
	uint64_t lsn, acked_lsn;     /* given out; acknowledged by Redis */
	uint64_t pending_bytes;      /* journal bytes not yet acknowledged */
	uint64_t batches, records, bytes; /* sealed so far */
	uint64_t snapshot_lsn;
	int64_t snapshot_at_ms;      /* 0: none */
	bool snapshot_running;
	uint64_t snapshots_taken, snapshots_failed;
	uint64_t snapshot_duration_ms, snapshot_bytes; /* the last one taken */
	const struct metrics_hist *batch_records; /* records per sealed batch */
	/* The history kept in Redis (as stats durability.history says). */
	uint64_t history_records, history_bytes;
	int64_t history_oldest_at_ms; /* 0: none */
} persist_view;
void persist_view_get(const persist *p, persist_view *out);

/* Stop taking snapshots; finish once every record is acknowledged. */
void persist_stop(persist *p);
/* Close every handle now, acknowledged or not (shutdown timed out). */
void persist_close(persist *p);
/* After the loop has ended. Accepts NULL. */
void persist_destroy(persist *p);

#endif
