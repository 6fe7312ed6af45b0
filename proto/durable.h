/*
 * durable.h - allot's durable format in Redis: the URL that names the
 * Redis, the key names under a namespace, and journal batches. Pure: no
 * sockets, no hiredis (engine/store/ and engine/redis_link.c do the
 * talking).
 *
 * Every key of a namespace NS shares the Redis Cluster hash tag {NS}:
 *   allot:{NS}:journal      a stream; one entry per group-committed batch,
 *                           entry id "<last lsn>-0", one field "b" whose
 *                           value is the batch: [first_lsn, format,
 *                           [record, ...]] (format 1 wrote [first_lsn,
 *                           [record, ...]]), its records in that format
 *   allot:{NS}:meta         a hash: "format" (DURABLE_FORMAT, written when
 *                           the namespace is first used and at every
 *                           snapshot switch); "id_epoch" and "hash_seed",
 *                           fixed when the namespace is first used, so that
 *                           replayed reservations get their ids again;
 *                           "snapshot" (the current snapshot's key, absent
 *                           before the first), "snapshot_lsn",
 *                           "snapshot_at_ms"
 *   allot:{NS}:snap:<lsn>-<nonce>
 *                           a list of snapshot chunks (see snapshot.h); the
 *                           nonce (the time it was started, in ms) keeps two
 *                           snapshots at one lsn apart
 *   allot:{NS}:snaps        a hash: every snapshot kept for history, key ->
 *                           "<lsn> <taken at ms> <journal bytes>", the
 *                           last the journal's batch bytes written from lsn
 *                           1 up to that snapshot (see "History" in
 *                           proto/PROTOCOL.md)
 *   allot:{NS}:archivers    a hash: each attached `allot archive`, name ->
 *                           "<lsn copied> <snapshot lsn copied> <heartbeat
 *                           ms>"
 *
 * Every journal record has a log sequence number (lsn), 1, 2, 3, ... with
 * no gaps; a snapshot at lsn L holds the effect of records 1..L exactly.
 */
#ifndef ALLOT_PROTO_DURABLE_H
#define ALLOT_PROTO_DURABLE_H

#include "mp.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The version of everything above: key layout, meta fields, journal
 * batches and records (journal.h), snapshot chunks (snapshot.h). A reader
 * refuses a namespace whose meta names a format outside
 * DURABLE_FORMAT_OLDEST..DURABLE_FORMAT (durable_format_check); bump it
 * when this build's writer makes what an older reader would misread, and
 * keep reading the older layouts. tests/golden/ holds a namespace of each
 * format this build reads.
 *
 * Format 2 (allot 0.2) adds who made each change: every journal record
 * carries the caller's token NAME (journal.h), and each batch says the
 * format of its records, so a journal begun in format 1 and continued in
 * format 2 reads back whole. A format-1 namespace is marked format 2 when
 * this build first opens it (an older build then refuses it rather than
 * misread the new batches).
 *
 * Format 3 adds inbound receipts: journal records of kind 13
 * (inbound.receive), stock.adjust records with if_version (6 fields; 5
 * still read), and snapshot reservations whose allocations on hand a
 * receipt made or added to (orig 0, or qty above orig, where the line has
 * a backorder at that location). Records and batches are laid out as in
 * format 2. A format-2 namespace is marked format 3 when this build first
 * opens it, so that a format-2 build refuses it rather than stop on a
 * record it does not know.
 */
#define DURABLE_FORMAT 3
#define DURABLE_FORMAT_OLDEST 1
#define DURABLE_NAMESPACE_MAX 64
#define DURABLE_KEY_MAX (DURABLE_NAMESPACE_MAX + 64)
#define DURABLE_BATCH_FIELD "b"
/* The event stream's entries: field "n" the number of events (decimal),
 * field "events" a MessagePack array of them, each [topic, seq, at, ...]
 * (event_write_item); at most DURABLE_EVENTS_PER_ENTRY of them per entry. */
#define DURABLE_EVENTS_COUNT_FIELD "n"
#define DURABLE_EVENTS_FIELD "events"
#define DURABLE_EVENTS_PER_ENTRY 256

/* The meta hash's fields. */
#define DURABLE_META_FORMAT "format"
#define DURABLE_META_ID_EPOCH "id_epoch"
#define DURABLE_META_HASH_SEED "hash_seed"
#define DURABLE_META_SNAPSHOT "snapshot"
#define DURABLE_META_SNAPSHOT_LSN "snapshot_lsn"
#define DURABLE_META_SNAPSHOT_AT_MS "snapshot_at_ms"
/* The lsn the history kept in Redis starts after: the journal holds every
 * record after it, and the snapshot at it (none for 0) is kept. */
#define DURABLE_META_HISTORY_LSN "history_lsn"

/*
 * Check the meta hash's format field of namespace ns, its value as Redis
 * holds it (text, len bytes). 0 when this build reads that format (and
 * *format, when not NULL, is it); else -1 with why saying which format the
 * namespace is in and which this build reads.
 */
int durable_format_check(const char *ns, const char *value, size_t len, char *why, size_t why_len);
int durable_format_parse(const char *ns, const char *value, size_t len, uint32_t *format, char *why,
    size_t why_len);

/* redis://[:password@]host:port[/db] (also redis://host, port 6379). */
typedef struct durable_url {
	char host[256];
	int port;
	char password[256]; /* "" when none */
	int db;             /* 0 when none */
} durable_url;

/* 0, or -1 with *err a sentence saying what is wrong. */
int durable_url_parse(const char *url, durable_url *out, const char **err);

/* A namespace is 1..64 of [A-Za-z0-9_.-]. */
bool durable_namespace_valid(const char *ns);

/* Key names; buf must have DURABLE_KEY_MAX bytes. */
void durable_key_journal(char *buf, const char *ns);
void durable_key_meta(char *buf, const char *ns);
/* The event stream: an entry per group of events, its id "<last seq>-0". */
void durable_key_events(char *buf, const char *ns);
void durable_key_snapshot(char *buf, const char *ns, uint64_t lsn, uint64_t nonce);
/* The snapshots kept for history, and the attached archivers. */
void durable_key_snaps(char *buf, const char *ns);
void durable_key_archivers(char *buf, const char *ns);
/* The pattern that matches every snapshot key of ns (for SCAN). */
void durable_key_snapshot_pattern(char *buf, const char *ns);

/*
 * Building a batch: begin writes [first_lsn, DURABLE_FORMAT, [ with a
 * 5-byte array header that durable_batch_end() patches with the record
 * count. Records are appended between, each one whole MessagePack value
 * (journal.h), in this build's format.
 */
typedef struct durable_batch {
	mp_buf buf;
	uint64_t first_lsn;
	uint32_t count;
	size_t count_at; /* offset of the array header */
} durable_batch;

void durable_batch_begin(durable_batch *b, uint64_t first_lsn);
void durable_batch_end(durable_batch *b);

/*
 * Reading a batch: the records of [first_lsn, format, [record, ...]] (or
 * format 1's [first_lsn, [record, ...]]) one by one; r->format says which
 * format to decode them in (journal_decode_format). Every record is
 * checked with mp_scan against the limits. Returns 1 with the next record
 * in *rec and *len and its lsn in *lsn, 0 at the end, -1 with *err when the
 * batch is malformed.
 */
typedef struct durable_batch_reader {
	const uint8_t *p, *end;
	uint64_t next_lsn;
	uint32_t left;
	uint32_t format;
} durable_batch_reader;

int durable_batch_read_begin(durable_batch_reader *r, const uint8_t *buf, size_t len,
    const char **err);
int durable_batch_read_next(durable_batch_reader *r, const mp_limits *lim,
    const uint8_t **rec, size_t *len, uint64_t *lsn, const char **err);

#endif
