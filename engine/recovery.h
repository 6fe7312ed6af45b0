/*
 * recovery.h - allotd's state at start, from Redis: the current snapshot,
 * the journal after it, then the clock brought to now (expiring the holds
 * whose time passed while allotd was down), and the namespace tidied of
 * snapshots that did not finish. It logs what it loaded and how long each
 * part took.
 *
 * Blocking, before the loop runs; reads through the store (store/store.h).
 */
#ifndef ALLOT_ENGINE_RECOVERY_H
#define ALLOT_ENGINE_RECOVERY_H

#include "core.h"
#include "durable.h"
#include "store.h"

#include <stdint.h>

typedef struct recovery_config {
	const durable_url *url;
	const char *ns;
	uint32_t connect_timeout_ms;
	uint32_t reply_timeout_ms;
	mp_limits record_limits;      /* checked on every record replayed */
} recovery_config;

/* Where the journal goes on from. */
typedef struct recovery_result {
	uint64_t lsn;           /* the last record replayed */
	uint64_t snapshot_lsn;  /* 0: no snapshot */
	int64_t snapshot_at_ms;
	char snapshot_key[DURABLE_KEY_MAX];
	uint64_t events_seq;    /* the seq of the newest event in the stream, 0: none */
	uint64_t journal_bytes; /* the journal's batch bytes from record 1 to lsn */
	uint64_t history_lsn;   /* the history kept starts after it */
	int64_t history_at_ms;  /* the time of the snapshot at it, or of record 1 (0: none) */
	uint64_t history_journal_bytes; /* the journal's batch bytes up to it */
	store *store;           /* the connection recovery used, handed on */
} recovery_result;

/*
 * Connect (refused: log why and return -1), read the meta hash, load the
 * current snapshot (or create an empty core with cc), replay the journal
 * after it, expire what expired meanwhile (at now_ms). The reservation-id
 * epoch and hash seed come from Redis when it has them; cc's are stored
 * there otherwise. On success *out is the core (the caller destroys it)
 * and *res says where things stand; res->store is the caller's to close.
 * On failure it logs why and returns -1.
 */
int recovery_run(const recovery_config *cfg, core_config *cc, int64_t now_ms, core **out,
    recovery_result *res);

#endif
