/*
 * journal_writer.h - the group-committed journal in Redis.
 *
 * The request path appends the journal record of every change to the batch
 * of the current loop turn (journal_writer_append_*), which numbers it with
 * the next lsn. At the end of the turn the writer seals the batch and sends
 * it as one XADD on the link (group commit), with the stream id "<last
 * lsn>-0", pipelined behind the batches still unacknowledged. Each
 * acknowledgement moves acked_lsn on and is reported through the acked
 * callback: in sync mode the server holds each change's reply until then.
 *
 * Sealed batches stay in the outbox until Redis acknowledges them. When the
 * link is lost they are written again, in order, once it is back; a batch
 * that did reach Redis before the loss is recognised by its stream id
 * (Redis refuses an id not above the stream's last) and counted as
 * acknowledged, so nothing is written twice. A batch refused that way on
 * its first sending was not written by this allotd: a second writer on the
 * namespace. The writer then refuses every change for good.
 *
 * While the link is down, while the outbox holds more than
 * backlog_bytes_max, or after a second writer was seen, the writer is
 * unavailable: journal_writer_unavailable() says why, and the request path
 * answers mutations UNAVAILABLE with it.
 */
#ifndef ALLOT_ENGINE_JOURNAL_WRITER_H
#define ALLOT_ENGINE_JOURNAL_WRITER_H

#include "core.h"
#include "durable.h"
#include "redis_link.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct journal_writer journal_writer;

typedef struct journal_writer_config {
	const char *ns;               /* copied into the key */
	const char *redis_host;       /* for messages; copied */
	int redis_port;
	size_t backlog_bytes_max;     /* unacknowledged journal bytes */
	uint64_t events_keep;         /* events the stream keeps (about); 0: no stream */
} journal_writer_config;


/* Redis has acknowledged every record up to lsn. */
typedef void (*journal_writer_acked_fn)(void *ud, uint64_t lsn);
/* A batch ending with lsn was sealed (and sent, when the link is up). */
typedef void (*journal_writer_sealed_fn)(void *ud, uint64_t lsn);

/*
 * A writer on loop that writes through link; the journal so far ends with
 * last_lsn (recovery's), which counts as acknowledged. The hooks on loop
 * that seal each turn's batch start now. NULL without memory.
 */
journal_writer *journal_writer_create(uv_loop_t *loop, const journal_writer_config *cfg,
    redis_link *link, uint64_t last_lsn, journal_writer_acked_fn acked,
    journal_writer_sealed_fn sealed, void *ud);

/* Append the record of a change that succeeded at now_ms (the core's
 * clock), made by who (a token NAME, "-" without tokens), to this turn's
 * batch; returns its lsn. */
uint64_t journal_writer_append_cmd(journal_writer *w, const core_cmd *cmd, int64_t now_ms,
    core_str who);
/* Append the record of a sweep that forgot something; returns its lsn. */
uint64_t journal_writer_append_sweep(journal_writer *w, int64_t now_ms, uint32_t reservations,
    uint32_t keys);
/*
 * The event stream (events_keep > 0): events appended in a turn are written
 * with that turn's batch, in one MULTI ... EXEC (the batch's XADD, then an
 * XADD per DURABLE_EVENTS_PER_ENTRY events, id "<last seq>-0", trimmed by
 * MINID to the newest events_keep), so that they are in Redis exactly when
 * the changes they tell of are. A turn with events and no records (an
 * expiry) writes its events alone, in order with the batches. item is the
 * event as the stream has it (event_write_item), copied; seq grows with
 * each call. 0, or -1 without memory (the event is not written).
 */
int journal_writer_append_event(journal_writer *w, uint64_t seq, const uint8_t *item, size_t len);
bool journal_writer_has_stream(const journal_writer *w);
/* fn(ud) runs first thing in every seal, so that what it appends (the
 * turn's events) joins the batch being sealed. */
void journal_writer_set_seal_hook(journal_writer *w, void (*fn)(void *ud), void *ud);

/* The first lsn of the batch being built: gates of one unsent batch are
 * acknowledged together. */
uint64_t journal_writer_batch_first_lsn(const journal_writer *w);

/* Seal this turn's batch now (a snapshot must end a batch). */
void journal_writer_seal(journal_writer *w);

/* The last lsn given out (0: none). */
uint64_t journal_writer_last_lsn(const journal_writer *w);
/* The last lsn of the sealed batches: what a snapshot taken now covers. */
uint64_t journal_writer_sealed_lsn(const journal_writer *w);
uint64_t journal_writer_acked_lsn(const journal_writer *w);
/* NULL, or why changes cannot be made durable now. */
const char *journal_writer_unavailable(const journal_writer *w);
/* A second writer was seen: nothing more will be written. */
bool journal_writer_failed(const journal_writer *w);
/* Nothing sealed is unacknowledged and nothing is appended unsealed. */
bool journal_writer_drained(const journal_writer *w);

/* The link came up (send the outbox again) or went down. */
void journal_writer_link_changed(journal_writer *w, bool up);

typedef struct journal_writer_stats {
	uint64_t lsn;           /* last given out */
	uint64_t acked_lsn;
	uint64_t batches, records, bytes;  /* sealed so far */
	uint32_t pending_items; /* the outbox */
	size_t pending_bytes;
} journal_writer_stats;
void journal_writer_stats_get(const journal_writer *w, journal_writer_stats *out);

/* Seal what is left and close the hooks; nothing is sent after this. */
void journal_writer_close(journal_writer *w);
/* After the loop has ended. Accepts NULL. */
void journal_writer_destroy(journal_writer *w);

#endif
