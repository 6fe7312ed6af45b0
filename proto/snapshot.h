/*
 * snapshot.h - the core's whole state in MessagePack, in chunks.
 *
 * A snapshot is a sequence of MessagePack arrays ("items"): a header, the
 * core's items (core.h, "Snapshots") and an end marker that carries the
 * number of items between, so a snapshot cut short is detected. Items are
 * grouped into chunks of at most chunk_bytes; an item never spans chunks
 * (an item larger than chunk_bytes makes a chunk of its own), so every
 * chunk is a self-contained concatenation of whole items. The engine keeps
 * the chunks as a Redis list (durable.h). Item layouts are in
 * proto/PROTOCOL.md, "Snapshots":
 *
 *   ["allot-snapshot", 1, lsn, now_ms, hash_seed, id_epoch, next_seq,
 *    expired_total, locations, skus, records, reservations, keys]
 *   [1, id, name, priority, lat, lon, cost, cost_per_km, capacity, enabled,
 *    [tag, ...]]                                                 location
 *   [5, channel, buffer, all_locations, [location, ...]]         channel
 *   [2, sku, [location, on_hand, reserved, committed, safety, version, ...],
 *    per_order, per_customer, low_stock]                         sku
 *   [3, seq, status, expires_at_ms, orig_expires_at_ms, finished_at_ms,
 *    order_id, customer_id, [[sku, sku_known, qty, released, fulfilled,
 *                [location, qty, orig, ...]], ...]]              reservation
 *   [4, 1, key, params_hash, created_ms, seq]                    reserve key
 *   [4, 2, key, params_hash, created_ms, sku, location, on_hand, reserved,
 *    committed, safety, version]                                 adjust key
 *   [0, items]                                                   end
 *
 * Nothing here does I/O: the writer hands chunks to a callback, the readers
 * take chunks from the caller.
 */
#ifndef ALLOT_PROTO_SNAPSHOT_H
#define ALLOT_PROTO_SNAPSHOT_H

#include "core.h"
#include "mp.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNAPSHOT_MAGIC "allot-snapshot"
#define SNAPSHOT_FORMAT 1
#define SNAPSHOT_CHUNK_BYTES_DEFAULT (1u << 20)

/* Item tags, the first element of every item but the header. */
enum {
	SNAPSHOT_TAG_END = 0,
	SNAPSHOT_TAG_LOCATION = CORE_SNAP_LOCATION,
	SNAPSHOT_TAG_SKU = CORE_SNAP_SKU,
	SNAPSHOT_TAG_RESERVATION = CORE_SNAP_RESERVATION,
	SNAPSHOT_TAG_KEY = CORE_SNAP_KEY,
	SNAPSHOT_TAG_CHANNEL = CORE_SNAP_CHANNEL,
};

/* ---- Writing --------------------------------------------------------------- */

/* Store one chunk; 0, or non-zero to stop the snapshot. The chunk is only
 * valid during the call. */
typedef int (*snapshot_emit_fn)(void *ctx, const uint8_t *chunk, size_t len);

typedef struct snapshot_stats {
	uint64_t items;  /* header and end marker included */
	uint64_t bytes;
	uint32_t chunks;
} snapshot_stats;

/*
 * Write c's whole state, taken at journal position lsn, as chunks of at
 * most chunk_bytes (> 0) handed to emit as each fills. Holds one chunk in
 * memory, never the whole snapshot. Returns 0 (stats filled when not NULL),
 * or -1 with *err saying why (emit refused a chunk, or out of memory).
 */
int snapshot_write(const core *c, uint64_t lsn, size_t chunk_bytes, snapshot_emit_fn emit,
    void *ctx, snapshot_stats *stats, const char **err);

/* ---- Reading items --------------------------------------------------------- */

typedef enum snapshot_item_kind {
	SNAPSHOT_ITEM_HEADER = 1,
	SNAPSHOT_ITEM_CORE,   /* one of the core's items */
	SNAPSHOT_ITEM_END,
} snapshot_item_kind;

typedef struct snapshot_item {
	snapshot_item_kind kind;
	uint64_t lsn;               /* HEADER */
	core_snap_header header;    /* HEADER */
	core_snap_item core;        /* CORE: views into the chunk and the reader */
	uint64_t count;             /* END: the items between header and end */
} snapshot_item;

/*
 * Decodes items from untrusted chunks, one chunk after the other: every
 * item is bounded with mp_scan first, then read field by field. The reader
 * checks the framing (header first and in format 1, nothing after the end
 * marker, the end marker's count) and that each item fits its scratch
 * (records, lines and allocations within cfg's limits); whether the items
 * make a consistent state is for core_restore_*.
 */
typedef struct snapshot_reader snapshot_reader;

/* Limits come from cfg (locations_max, lines_max). NULL without memory. */
snapshot_reader *snapshot_reader_create(const core_config *cfg);
void snapshot_reader_destroy(snapshot_reader *r); /* NULL is fine */
/* Read chunk next (borrowed until the next call that takes a chunk). */
void snapshot_reader_chunk(snapshot_reader *r, const uint8_t *chunk, size_t len);
/* 1 with the next item of the chunk in *out (valid until the next call), 0
 * at the chunk's end, -1 with *err (valid until the reader is destroyed). */
int snapshot_reader_next(snapshot_reader *r, snapshot_item *out, const char **err);
/* After the last chunk: 0 when the end marker was read, or -1 with *err. */
int snapshot_reader_done(snapshot_reader *r, const char **err);

/* ---- Loading a core -------------------------------------------------------- */

/*
 * Chunks in, a core out: snapshot_reader plus core_restore_*. The core gets
 * cfg's limits and the snapshot's hash seed and id epoch.
 *
 *   l = snapshot_loader_create(cfg);
 *   for each chunk: snapshot_loader_feed(l, chunk, len, &err);
 *   c = snapshot_loader_finish(l, &lsn, &err);
 *   snapshot_loader_destroy(l);
 *
 * feed returns 0 or -1; after -1 every call fails the same way. finish
 * returns the core (the caller owns it) and the snapshot's lsn, or NULL.
 * Error strings live in the loader until it is destroyed.
 */
typedef struct snapshot_loader snapshot_loader;

snapshot_loader *snapshot_loader_create(const core_config *cfg); /* NULL without memory */
int snapshot_loader_feed(snapshot_loader *l, const uint8_t *chunk, size_t len, const char **err);
core *snapshot_loader_finish(snapshot_loader *l, uint64_t *lsn, const char **err);
void snapshot_loader_destroy(snapshot_loader *l); /* NULL is fine */

#endif
