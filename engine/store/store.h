/*
 * store.h - one namespace of allot's durable state in Redis, read and
 * written with blocking calls: the one reader of the on-Redis format
 * (proto/durable.h, journal.h, snapshot.h).
 *
 * Recovery at allotd's start and `allot snapshot dump` read through here,
 * so both check the same things the same way (the meta hash's format, the
 * snapshot's framing, the journal's lsn order); the snapshot child writes
 * its chunks through here, and recovery its few writes (the namespace's
 * ids, removing unfinished snapshots).
 *
 * This is the one engine module offline tools may link: it is its own
 * static library (allot_store) and depends on proto/ and hiredis only --
 * no libuv, no engine/log.h, nothing of allotd's loop. It prints nothing:
 * every failure comes back as -1 (or NULL) with `why` filled with a
 * sentence for the caller to print.
 *
 * Every call blocks, each Redis reply for at most the reply timeout given
 * at connect. A store is one connection; it is not thread-safe.
 */
#ifndef ALLOT_ENGINE_STORE_H
#define ALLOT_ENGINE_STORE_H

#include "core.h"
#include "durable.h"
#include "journal.h"
#include "snapshot.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct redisContext;

typedef struct store store;

/* Snapshot chunks and journal entries read per Redis command. */
#define STORE_CHUNKS_PER_READ 64
#define STORE_ENTRIES_PER_READ 100

/* The bounds every journal record is checked against when read back, by
 * recovery and by the history's readers alike. */
void store_record_limits(mp_limits *out);

/*
 * Connect to url, authenticate, select its database and PING, for
 * namespace ns (copied). NULL with why filled (the reason alone: callers
 * say which Redis).
 */
store *store_connect(const durable_url *url, const char *ns, uint32_t connect_timeout_ms,
    uint32_t reply_timeout_ms, char *why, size_t why_len);
/* Close the connection and free s. NULL is fine. */
void store_close(store *s);
/* Free s but keep its connection, blocking and ready, for the caller to go
 * on with (allotd's loop takes recovery's). The caller owns it. */
struct redisContext *store_release(store *s);

/* The meta hash. */
typedef struct store_meta {
	bool has_format;        /* absent: a namespace never used */
	uint32_t format;        /* when has_format: one this build reads */
	bool has_ids;           /* id_epoch and hash_seed both there */
	uint32_t id_epoch;
	uint64_t hash_seed;
	char snapshot_key[DURABLE_KEY_MAX]; /* "": no snapshot yet */
	uint64_t snapshot_lsn;
	int64_t snapshot_at_ms;
	uint64_t history_lsn;   /* the kept history starts after it (0: lsn 1) */
} store_meta;

/* Read the meta hash. A format this build does not read (outside
 * DURABLE_FORMAT_OLDEST..DURABLE_FORMAT) is refused, why naming both
 * (durable_format_parse). 0 or -1. */
int store_read_meta(store *s, store_meta *m, char *why, size_t why_len);
/* Mark the namespace as in this build's format, DURABLE_FORMAT: before
 * this build appends to a journal begun by an older one. 0 or -1. */
int store_write_format(store *s, char *why, size_t why_len);
/* Mark the namespace as used, in this build's format, by an engine whose
 * reservation ids and hashes follow id_epoch and hash_seed. 0 or -1. */
int store_write_ids(store *s, uint32_t id_epoch, uint64_t hash_seed, char *why, size_t why_len);

/*
 * Load the snapshot list at key into a new core with cfg's limits (and
 * the snapshot's hash seed and id epoch): every item checked as untrusted
 * input. 0 with *out (the caller destroys it), the snapshot's lsn and its
 * size in bytes; or -1.
 */
int store_load_snapshot(store *s, const char *key, const core_config *cfg, core **out,
    uint64_t *lsn, uint64_t *bytes, char *why, size_t why_len);

/* One decoded item, valid during the call; non-zero (with why filled) stops
 * the read. */
typedef int (*store_item_fn)(void *ctx, const snapshot_item *item, char *why, size_t why_len);
/* The items of the snapshot list at key, header to end marker, each
 * within limits' bounds (locations_max, lines_max). 0 or -1. */
int store_read_snapshot(store *s, const char *key, const core_config *limits, store_item_fn fn,
    void *ctx, char *why, size_t why_len);

/* One decoded record and its lsn, valid during the call; non-zero (with
 * why filled) stops the read. */
typedef int (*store_record_fn)(void *ctx, uint64_t lsn, const journal_entry *e, char *why,
    size_t why_len);
/*
 * The journal records after after_lsn, in order, each bounded by limits
 * and decoded into scratch. Records must follow on from after_lsn without
 * a gap. 0 with *last the last lsn handed to fn (after_lsn when none), or
 * -1.
 */
int store_read_journal(store *s, uint64_t after_lsn, const mp_limits *limits,
    const journal_scratch *scratch, store_record_fn fn, void *ctx, uint64_t *last, char *why,
    size_t why_len);

/* The batch bytes of the journal the last store_read_journal() handed on
 * (the batches that held records after after_lsn). */
uint64_t store_journal_bytes_read(const store *s);

/*
 * Write c's whole state at lsn as the snapshot list at key (replacing it),
 * in chunks of at most chunk_bytes, pipelined. 0 with its size, or -1. The
 * meta hash is not touched: the caller switches to the new key once the
 * journal it covers is in Redis.
 */
int store_write_snapshot(store *s, const char *key, const core *c, uint64_t lsn,
    size_t chunk_bytes, uint64_t *bytes, uint32_t *chunks, char *why, size_t why_len);

/* Delete every snapshot key of the namespace but current and those the
 * history keeps (allot:{NS}:snaps; the rest were left by snapshots that
 * did not finish), calling removed for each. Bounded: at
 * most STORE_SCAN_ROUNDS_MAX SCAN calls. Returns how many it deleted;
 * failures stop it quietly (the next start tries again). */
#define STORE_SCAN_ROUNDS_MAX 1000
/*
 * The seq of the newest entry of the event stream (its id is "<seq>-0"),
 * 0 when there is none: events go on from the next. 0, or -1 with why.
 */
int store_events_last_seq(store *s, uint64_t *seq, char *why, size_t why_len);

uint32_t store_remove_stray_snapshots(store *s, const char *current,
    void (*removed)(void *ctx, const char *key), void *ctx);

/* ---- history (store_history.c) ------------------------------------------ */

/* Snapshots the history keeps at most: one source for the switch script
 * and every reader. */
#define STORE_SNAPS_MAX 4096

/* A snapshot kept for history. */
typedef struct store_snap {
	char key[DURABLE_KEY_MAX];
	uint64_t lsn;
	int64_t at_ms;
	uint64_t journal_bytes;   /* batch bytes of the journal up to lsn */
} store_snap;

/* The snapshots kept (allot:{NS}:snaps), oldest first, at most cap of
 * them into out; *n how many. Entries that do not parse are skipped. 0 or
 * -1. */
int store_list_snaps(store *s, store_snap *out, uint32_t cap, uint32_t *n, char *why,
    size_t why_len);

/* Index the snapshot at key (lsn, taken at at_ms; its journal bytes not
 * known: 0) and start the history there: for a namespace whose current
 * snapshot predates the history. 0 or -1. */
int store_history_adopt(store *s, const char *key, uint64_t lsn, int64_t at_ms, char *why,
    size_t why_len);

/* One raw snapshot chunk, the index-th. Non-zero stops the read. */
typedef int (*store_raw_chunk_fn)(void *ctx, const uint8_t *chunk, size_t len, uint64_t index,
    char *why, size_t why_len);
/* The raw chunks of the snapshot at key, in order. 0 or -1. */
int store_read_chunks(store *s, const char *key, store_raw_chunk_fn fn, void *ctx, char *why,
    size_t why_len);

/* One raw journal batch (as durable.h describes it) holding records
 * first..last. Non-zero stops the read. */
typedef int (*store_batch_fn)(void *ctx, uint64_t first, uint64_t last, const uint8_t *batch,
    size_t len, char *why, size_t why_len);
/* The raw batches after after_lsn (which must end a batch), at most
 * max_batches of them; *last the last lsn handed on (after_lsn when none).
 * A gap after after_lsn is refused. 0 or -1. */
int store_read_batches(store *s, uint64_t after_lsn, uint32_t max_batches, store_batch_fn fn,
    void *ctx, uint64_t *last, char *why, size_t why_len);
/* The first lsn the journal in Redis holds, 0 when it is empty. */
int store_journal_first_lsn(store *s, uint64_t *lsn, char *why, size_t why_len);

/* An archiver's registration: it has copied the journal up to lsn and the
 * snapshots up to snap_lsn, and is alive at now_ms. allotd trims nothing
 * past what a registered archiver copied. 0 or -1. */
int store_archiver_beat(store *s, const char *name, uint64_t lsn, uint64_t snap_lsn,
    int64_t now_ms, char *why, size_t why_len);
/* Forget an archiver's registration (it stops following). 0 or -1. */
int store_archiver_forget(store *s, const char *name, char *why, size_t why_len);

#endif
