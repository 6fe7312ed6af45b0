/*
 * history.h - allot's recorded history, from Redis or from an archive on
 * disk, read alike: the snapshots to start from, the journal records after
 * them, and each record applied to a core as it was when recorded (the
 * engine's own replay, engine/replay.c). What `allot audit`, `allot
 * replay` and `allot explain` stand on.
 *
 * Blocking; prints nothing (failures fill why).
 */
#ifndef ALLOT_ENGINE_HISTORY_H
#define ALLOT_ENGINE_HISTORY_H

#include "core.h"
#include "durable.h"
#include "journal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct history history;

/* The history of namespace ns in the Redis at url, or (url NULL) of the
 * archive in dir. NULL with why. */
history *history_open(const char *url, const char *ns, const char *dir, char *why,
    size_t why_len);
void history_close(history *h); /* NULL is fine */

/* The config of a core that replays this history: the widest limits any
 * engine may be configured with, and the namespace's reservation-id epoch
 * and hash seed; ttl_default_ms is the engine's default TTL (a reserve
 * recorded without ttl_ms got it), 0 for the contract's. */
void history_core_config(const history *h, int64_t ttl_default_ms, core_config *out);

/* Where a replay starts: the newest snapshot taken at or before at_ms
 * whose following journal is all there, else the oldest such start (the
 * empty state before record 1 counts, at time INT64_MIN, when the journal
 * begins there). */
typedef struct history_start {
	uint64_t lsn;            /* 0: the empty state */
	int64_t at_ms;           /* when the snapshot was taken */
} history_start;

/* The state at the start chosen for at_ms, in a new core with cfg (the
 * caller destroys it). 0 or -1. */
int history_rebuild(history *h, int64_t at_ms, const core_config *cfg, core **out,
    history_start *start, char *why, size_t why_len);

/* Each record after after_lsn, in order: 0 goes on, 1 stops the read
 * (not a failure), -1 fails it (the callback fills why). */
typedef int (*history_record_fn)(void *ctx, uint64_t lsn, const journal_entry *e, char *why,
    size_t why_len);
/* 0 (read to the end, or stopped), or -1. */
int history_records(history *h, uint64_t after_lsn, history_record_fn fn, void *ctx, char *why,
    size_t why_len);

/* Apply a record to c as recorded (engine/replay.c), with what it
 * produced in *res. 0, or a core code with err. */
int history_apply(core *c, const journal_entry *e, core_result *res, core_error *err);

#endif
