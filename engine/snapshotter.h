/*
 * snapshotter.h - snapshots taken by a forked child.
 *
 * A run ends the journal writer's current batch (so the snapshot's lsn L
 * ends a batch) and forks; the child sees the state as it was at the fork
 * (the kernel copies pages only as the parent changes them), writes it to a
 * new key in chunks through the store and exits. When the child has
 * succeeded and Redis has acknowledged every journal record up to L (the
 * writer's acked lsn), the parent sends, on the link, one script that
 * atomically makes the new key current in the meta hash and keeps the
 * history: the journal and the snapshots of the last keep_ms (bounded by
 * keep_bytes of journal), and whatever an attached archiver has not
 * copied, trimming the rest. So the trim never drops a record before it
 * landed. A failed child's key is deleted.
 *
 * Runs start on request (the snapshot method), every interval_s seconds
 * and after every_records records, never two at once and only when
 * something changed. The snapshotter reads the writer and sends through the
 * link; it never touches the writer's outbox.
 */
#ifndef ALLOT_ENGINE_SNAPSHOTTER_H
#define ALLOT_ENGINE_SNAPSHOTTER_H

#include "core.h"
#include "durable.h"
#include "journal_writer.h"
#include "redis_link.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct snapshotter snapshotter;

typedef struct snapshotter_config {
	durable_url url;              /* the child connects on its own */
	const char *ns;               /* copied */
	uint32_t interval_s;          /* 0: no periodic snapshots */
	uint64_t every_records;       /* 0: none by record count */
	size_t chunk_bytes;
	uint32_t connect_timeout_ms;
	uint64_t keep_ms;             /* history kept beyond the snapshot covering it */
	uint64_t keep_bytes;          /* ... and at most this many journal bytes */
} snapshotter_config;

/* The snapshot a run took. */
typedef struct snapshotter_info {
	uint64_t lsn;
	int64_t taken_at_ms;
	uint64_t bytes;
	uint32_t chunks;
	uint64_t duration_ms;
	uint64_t fork_us;
} snapshotter_info;

/* Run `run` is durable (code 0) or failed (code a PROTO_E_* / CORE_E_*
 * with message). info is valid during the call. */
typedef void (*snapshotter_done_fn)(void *ud, uint64_t run, int code, const char *message,
    const snapshotter_info *info);
/* Nothing is running or waiting for Redis any more. */
typedef void (*snapshotter_idle_fn)(void *ud);

/* Where the history kept in Redis starts: after lsn (0: record 1), the
 * time of the snapshot at it (or of record 1), and the journal's batch
 * bytes up to it. */
typedef struct snapshotter_history {
	uint64_t lsn;
	int64_t at_ms;          /* 0: not known */
	uint64_t journal_bytes;
} snapshotter_history;

/* The current snapshot, as recovery found it. */
typedef struct snapshotter_current {
	uint64_t lsn;           /* 0: none */
	int64_t at_ms;
	const char *key;        /* "" when none; copied */
	uint64_t journal_bytes; /* the journal's batch bytes up to recovery's last lsn */
	snapshotter_history history;
} snapshotter_current;

/* A snapshotter of c (the child reads it); NULL without memory. */
snapshotter *snapshotter_create(uv_loop_t *loop, const snapshotter_config *cfg, const core *c,
    redis_link *link, journal_writer *writer, const snapshotter_current *current,
    snapshotter_done_fn done, snapshotter_idle_fn idle, void *ud);

/*
 * The snapshot method: PROTO_DEFERRED with *run the run whose done call
 * answers it (a request during a run waits for the next, which covers
 * everything before the request), or PROTO_E_UNAVAILABLE with message.
 */
int snapshotter_request(snapshotter *s, uint64_t *run, char *message, size_t message_len);

/* The writer sealed a batch ending with lsn (the record-count trigger). */
void snapshotter_sealed(snapshotter *s, uint64_t lsn);
/* Redis acknowledged the journal up to lsn (a finished run may switch). */
void snapshotter_acked(snapshotter *s, uint64_t lsn);
/* The link came up (send what waits) or went down. */
void snapshotter_link_changed(snapshotter *s, bool up);

/* A child runs, or its switch is not yet done. */
bool snapshotter_running(const snapshotter *s);
/* Running, or a failed snapshot's key not yet deleted. */
bool snapshotter_busy(const snapshotter *s);

typedef struct snapshotter_stats {
	uint64_t lsn;           /* the current snapshot's */
	const char *key;        /* valid until the next loop turn */
	int64_t at_ms;          /* 0: none */
	bool running;
	uint64_t taken, failed;
	snapshotter_info last;
} snapshotter_stats;
void snapshotter_stats_get(const snapshotter *s, snapshotter_stats *out);
/* The journal's batch bytes from record 1 to the last sealed. */
uint64_t snapshotter_journal_bytes(const snapshotter *s);
/* A record made at now_ms: the history's oldest time when it starts at
 * record 1 and had none. */
void snapshotter_recorded(snapshotter *s, int64_t now_ms);
/* Where the history kept in Redis starts. */
void snapshotter_history_get(const snapshotter *s, snapshotter_history *out);

/* No more runs; a child running is killed and its run fails. */
void snapshotter_stop(snapshotter *s);
/* Kill any child and close the timers. */
void snapshotter_close(snapshotter *s);
/* After the loop has ended. Accepts NULL. */
void snapshotter_destroy(snapshotter *s);

#endif
