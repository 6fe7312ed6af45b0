/*
 * snapshot.h - the core's whole state in MessagePack, in chunks.
 *
 * A snapshot is a sequence of MessagePack arrays ("items"): a header, the
 * core's items (core.h, "Snapshots") and an end marker that carries the
 * number of items between, so a snapshot cut short is detected. Items are
 * grouped into chunks of at most chunk_bytes; an item never spans chunks
 * (an item larger than chunk_bytes makes a chunk of its own), so every
 * chunk is a self-contained concatenation of whole items. The engine keeps
 * the chunks as a Redis list (durable.h). The item layouts are the
 * SNAPSHOT_*_ITEM lists below.
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

/*
 * Item tags, the first element of every item but the header, and the other
 * numbers items hold: a reservation's status and a key's method. They are
 * the format's own numbers, never renumbered; snapshot.c maps them to and
 * from the core's enums by switch (no cast), and its _Static_asserts fail
 * the build when the core gains a status the format has no number for.
 */
enum {
	SNAPSHOT_TAG_END = 0,
	SNAPSHOT_TAG_LOCATION = 1,
	SNAPSHOT_TAG_SKU = 2,
	SNAPSHOT_TAG_RESERVATION = 3,
	SNAPSHOT_TAG_KEY = 4,
	SNAPSHOT_TAG_CHANNEL = 5,
};
enum {
	SNAPSHOT_STATUS_HELD = 0,
	SNAPSHOT_STATUS_COMMITTED = 1,
	SNAPSHOT_STATUS_FULFILLED = 2,
	SNAPSHOT_STATUS_RELEASED = 3,
	SNAPSHOT_STATUS_EXPIRED = 4,
	SNAPSHOT_STATUS_MAX = SNAPSHOT_STATUS_EXPIRED,
};
enum {
	SNAPSHOT_KEY_RESERVE = 1,
	SNAPSHOT_KEY_ADJUST = 2,
};

/*
 * Item layouts: the elements of each item, in order. The counts the
 * writer puts in array headers and the reader checks come from these
 * lists, never from a number typed twice. A list with _V1/_V2 is an older
 * layout the reader still takes. Field by field in proto/PROTOCOL.md,
 * "Snapshots".
 */
#define SNAPSHOT_HEADER_ITEM(X) X(magic) X(format) X(lsn) X(now_ms) X(hash_seed) X(id_epoch) \
	X(next_seq) X(expired_total) X(locations) X(skus) X(records) X(reservations) X(keys)
#define SNAPSHOT_LOCATION_ITEM_V1(X) X(tag) X(id) X(name) X(priority)
#define SNAPSHOT_LOCATION_ITEM(X) SNAPSHOT_LOCATION_ITEM_V1(X) X(lat) X(lon) X(cost) \
	X(cost_per_km) X(capacity) X(enabled) X(tags)
#define SNAPSHOT_CHANNEL_ITEM(X) X(tag) X(channel) X(buffer) X(all_locations) X(locations)
#define SNAPSHOT_SKU_ITEM_V1(X) X(tag) X(sku) X(records)
#define SNAPSHOT_SKU_ITEM_V2(X) SNAPSHOT_SKU_ITEM_V1(X) X(per_order) X(per_customer) X(low_stock)
#define SNAPSHOT_SKU_ITEM(X) SNAPSHOT_SKU_ITEM_V2(X) X(inbound)
/* A sku's records and inbound entries are flat arrays of these. */
#define SNAPSHOT_SKU_RECORD(X) X(location) X(on_hand) X(reserved) X(committed) X(safety) \
	X(version)
#define SNAPSHOT_SKU_INBOUND(X) X(location) X(qty) X(eta) X(ref) X(backordered)
#define SNAPSHOT_RESV_ITEM_V1(X) X(tag) X(seq) X(status) X(expires_at_ms) X(orig_expires_at_ms) \
	X(finished_at_ms) X(order_id) X(lines)
#define SNAPSHOT_RESV_ITEM(X) X(tag) X(seq) X(status) X(expires_at_ms) X(orig_expires_at_ms) \
	X(finished_at_ms) X(order_id) X(customer_id) X(lines)
#define SNAPSHOT_RESV_LINE_V1(X) X(sku) X(sku_known) X(qty) X(released) X(fulfilled) \
	X(allocations)
#define SNAPSHOT_RESV_LINE(X) SNAPSHOT_RESV_LINE_V1(X) X(backorders)
/* A line's allocations and backorders are flat arrays of these. */
#define SNAPSHOT_RESV_ALLOC(X) X(location) X(qty) X(orig)
#define SNAPSHOT_KEY_HEAD(X) X(tag) X(method) X(key) X(params_hash) X(created_ms)
#define SNAPSHOT_KEY_RESERVE_ITEM(X) SNAPSHOT_KEY_HEAD(X) X(seq)
#define SNAPSHOT_KEY_ADJUST_ITEM_V1(X) SNAPSHOT_KEY_HEAD(X) X(sku) X(location) X(on_hand) \
	X(reserved) X(committed) X(safety) X(version)
/* Format 3: the reply's incoming too (12 elements still read, as 0). */
#define SNAPSHOT_KEY_ADJUST_ITEM(X) SNAPSHOT_KEY_ADJUST_ITEM_V1(X) X(incoming)
#define SNAPSHOT_END_ITEM(X) X(tag) X(items)

#define SNAPSHOT_COUNT_ONE(name) +1
enum {
	SNAPSHOT_HEADER_FIELDS = 0 SNAPSHOT_HEADER_ITEM(SNAPSHOT_COUNT_ONE),
	SNAPSHOT_LOCATION_FIELDS_V1 = 0 SNAPSHOT_LOCATION_ITEM_V1(SNAPSHOT_COUNT_ONE),
	SNAPSHOT_LOCATION_FIELDS = 0 SNAPSHOT_LOCATION_ITEM(SNAPSHOT_COUNT_ONE),
	SNAPSHOT_CHANNEL_FIELDS = 0 SNAPSHOT_CHANNEL_ITEM(SNAPSHOT_COUNT_ONE),
	SNAPSHOT_SKU_FIELDS_V1 = 0 SNAPSHOT_SKU_ITEM_V1(SNAPSHOT_COUNT_ONE),
	SNAPSHOT_SKU_FIELDS_V2 = 0 SNAPSHOT_SKU_ITEM_V2(SNAPSHOT_COUNT_ONE),
	SNAPSHOT_SKU_FIELDS = 0 SNAPSHOT_SKU_ITEM(SNAPSHOT_COUNT_ONE),
	SNAPSHOT_RECORD_FIELDS = 0 SNAPSHOT_SKU_RECORD(SNAPSHOT_COUNT_ONE),
	SNAPSHOT_INBOUND_FIELDS = 0 SNAPSHOT_SKU_INBOUND(SNAPSHOT_COUNT_ONE),
	SNAPSHOT_RESV_FIELDS_V1 = 0 SNAPSHOT_RESV_ITEM_V1(SNAPSHOT_COUNT_ONE),
	SNAPSHOT_RESV_FIELDS = 0 SNAPSHOT_RESV_ITEM(SNAPSHOT_COUNT_ONE),
	SNAPSHOT_LINE_FIELDS_V1 = 0 SNAPSHOT_RESV_LINE_V1(SNAPSHOT_COUNT_ONE),
	SNAPSHOT_LINE_FIELDS = 0 SNAPSHOT_RESV_LINE(SNAPSHOT_COUNT_ONE),
	SNAPSHOT_ALLOC_FIELDS = 0 SNAPSHOT_RESV_ALLOC(SNAPSHOT_COUNT_ONE),
	SNAPSHOT_KEY_RESERVE_FIELDS = 0 SNAPSHOT_KEY_RESERVE_ITEM(SNAPSHOT_COUNT_ONE),
	SNAPSHOT_KEY_ADJUST_FIELDS_V1 = 0 SNAPSHOT_KEY_ADJUST_ITEM_V1(SNAPSHOT_COUNT_ONE),
	SNAPSHOT_KEY_ADJUST_FIELDS = 0 SNAPSHOT_KEY_ADJUST_ITEM(SNAPSHOT_COUNT_ONE),
	SNAPSHOT_END_FIELDS = 0 SNAPSHOT_END_ITEM(SNAPSHOT_COUNT_ONE),
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
