/*
 * golden.h - the script behind the golden snapshot and journal in
 * tests/golden/: a small engine history that uses every journal record
 * kind after its snapshot and every snapshot item tag in it.
 *
 * tests/golden/generate.c runs it and writes the files; test_golden.c reads
 * the committed files back (every build must rebuild the same state from
 * them) and runs it again in memory to check that this build still writes
 * the same bytes. Both include this header; nothing else should.
 *
 * The history: routing and stock set up, holds made, committed, released,
 * fulfilled and backordered (records 1..GOLDEN_SNAPSHOT_LSN), a snapshot at
 * that lsn, then one record of every kind and a sweep that forgets the
 * reservations finished before the snapshot.
 *
 * The script writes this build's durable format. The files of each format
 * this build reads stay committed: tests/golden/ holds format 1 (as allot
 * 0.1 wrote it: records without who), tests/golden/v2/ format 2 (each
 * record names who made it: "ops" for the set-up, "web" for the
 * reservations, "-" for the inbound entry, as without tokens),
 * tests/golden/v3/ format 3, whose history after the snapshot also has,
 * before the sweep, the records format 3 added (golden_format_3): an
 * inbound receipt that fills a backorder, and a conditional stock.adjust.
 */
#ifndef ALLOT_TESTS_GOLDEN_H
#define ALLOT_TESTS_GOLDEN_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "durable.h"
#include "journal.h"
#include "snapshot.h"

#define GOLDEN_NAMESPACE "golden"
#define GOLDEN_ID_EPOCH 7u
#define GOLDEN_HASH_SEED 0x5eedf00dULL
#define GOLDEN_LINES_MAX 8u
#define GOLDEN_LOCATIONS_MAX 16u
#define GOLDEN_RETAIN_MS 1000
/* Small chunks, so that the snapshot spans several. */
#define GOLDEN_CHUNK_BYTES 256u
/* Records per journal batch (per stream entry). */
#define GOLDEN_BATCH_RECORDS 3u
#define GOLDEN_CHUNKS_MAX 64u
#define GOLDEN_ENTRIES_MAX 64u
#define GOLDEN_DUMP_CAP (64u << 10)

/* Where this build's format is kept, under tests/golden/. */
#define GOLDEN_CURRENT_SUBDIR "v3"

/* The files, relative to their format's directory. */
#define GOLDEN_FILE_META "meta.txt"
#define GOLDEN_FILE_SNAPSHOT "snapshot.msgpack"
#define GOLDEN_FILE_JOURNAL "journal.msgpack"
#define GOLDEN_FILE_SNAPSHOT_DUMP "snapshot.dump"
#define GOLDEN_FILE_FINAL_DUMP "final.dump"

/* What the script produces: the Redis contents of a namespace, as the
 * engine would have written them, and the states to compare against. */
typedef struct golden {
	core_config cfg;
	uint64_t snapshot_lsn;
	int64_t snapshot_at_ms;
	mp_buf chunks[GOLDEN_CHUNKS_MAX];
	uint32_t nchunks;
	mp_buf entries[GOLDEN_ENTRIES_MAX]; /* batches: [first_lsn, [record, ...]] */
	uint64_t entry_lsn[GOLDEN_ENTRIES_MAX]; /* each entry's last lsn: its stream id */
	uint32_t nentries;
	char *snapshot_dump; /* core_dump() at the snapshot */
	char *final_dump;    /* core_dump() after the last record */
	/* While the script runs. */
	core *core;
	durable_batch batch;
	uint64_t lsn;
	char failed[256];    /* "" when the script ran as written */
} golden;

static inline core_str golden_str(const char *s)
{
	return (core_str){ s, s ? (uint32_t)strlen(s) : 0 };
}

static inline void golden_config(core_config *cfg)
{
	core_config_default(cfg);
	cfg->lines_max = GOLDEN_LINES_MAX;
	cfg->locations_max = GOLDEN_LOCATIONS_MAX;
	cfg->retain_ms = GOLDEN_RETAIN_MS;
	cfg->id_epoch = GOLDEN_ID_EPOCH;
	cfg->hash_seed = GOLDEN_HASH_SEED;
	cfg->idempotency_max = 100;
	cfg->reservations_max = 1000;
}

/* The batch being built goes into the journal as one entry. */
static inline void golden_seal(golden *g)
{
	if (g->batch.count == 0)
		return;
	if (g->nentries == GOLDEN_ENTRIES_MAX) {
		snprintf(g->failed, sizeof(g->failed), "more than %u journal entries", GOLDEN_ENTRIES_MAX);
		return;
	}
	durable_batch_end(&g->batch);
	mp_buf *e = &g->entries[g->nentries];
	mp_buf_init(e);
	mp_write_raw(e, g->batch.buf.data, g->batch.buf.len);
	g->entry_lsn[g->nentries++] = g->lsn;
	durable_batch_begin(&g->batch, g->lsn + 1);
}

static inline void golden_recorded(golden *g)
{
	g->lsn++;
	g->batch.count++;
	if (g->batch.count == GOLDEN_BATCH_RECORDS)
		golden_seal(g);
}

/* Who made a command in the script: the audit trail's names. */
static inline core_str golden_who(core_cmd_type type)
{
	switch (type) {
	case CORE_CMD_RESERVE:
	case CORE_CMD_COMMIT:
	case CORE_CMD_RELEASE:
	case CORE_CMD_FULFILL:
	case CORE_CMD_EXTEND:
		return (core_str){ "web", 3 };
	case CORE_CMD_INBOUND_ADD:
		return (core_str){ "-", 1 };
	default:
		return (core_str){ "ops", 3 };
	}
}

/* Run cmd at now_ms; it must succeed. Returns the reservation id it made,
 * if any, in id. */
static inline void golden_exec(golden *g, const core_cmd *cmd, int64_t now_ms,
    char id[CORE_RESERVATION_ID_LEN + 1])
{
	core_result res;
	core_error err;
	if (g->failed[0])
		return;
	if (core_exec(g->core, cmd, now_ms, &res, &err) != CORE_OK) {
		snprintf(g->failed, sizeof(g->failed), "command %d at %lld: %s: %s", (int)cmd->type,
		    (long long)now_ms, core_strerror(err.code), err.message);
		return;
	}
	journal_encode_cmd(&g->batch.buf, cmd, core_now(g->core), golden_who(cmd->type));
	golden_recorded(g);
	if (id && res.kind == CORE_RESULT_RESV) {
		core_resv_view v;
		core_resv_view_get(g->core, res.resv, &v);
		memcpy(id, v.id, CORE_RESERVATION_ID_LEN + 1);
	}
}

static inline void golden_stock(golden *g, core_cmd_type type, int64_t now_ms, const char *sku,
    const char *loc, int64_t n, const char *reason, const char *key)
{
	core_cmd cmd = { .type = type };
	cmd.u.stock = (core_stock_cmd){ .sku = golden_str(sku), .location = golden_str(loc),
		.safety = -1, .if_version = -1, .reason = golden_str(reason),
		.idempotency_key = golden_str(key) };
	if (type == CORE_CMD_STOCK_SET)
		cmd.u.stock.on_hand = n;
	else
		cmd.u.stock.delta = n;
	golden_exec(g, &cmd, now_ms, NULL);
}

static inline void golden_resv(golden *g, core_cmd_type type, int64_t now_ms, const char *id,
    const core_line_req *line, int64_t ttl_ms)
{
	core_cmd cmd = { .type = type };
	cmd.u.resv = (core_resv_cmd){ .reservation_id = golden_str(id), .lines = line,
		.nlines = line ? 1 : 0, .ttl_ms = ttl_ms };
	golden_exec(g, &cmd, now_ms, NULL);
}

static inline void golden_reserve(golden *g, int64_t now_ms, core_reserve_cmd r,
    char id[CORE_RESERVATION_ID_LEN + 1])
{
	core_cmd cmd = { .type = CORE_CMD_RESERVE, .u.reserve = r };
	golden_exec(g, &cmd, now_ms, id);
}

static inline void golden_version_of(void *ctx, const core_record_view *rec)
{
	*(int64_t *)ctx = (int64_t)rec->version;
}

/* Records 1..GOLDEN_SNAPSHOT_LSN: every snapshot item tag gets content. */
static inline void golden_before_snapshot(golden *g, char ids[][CORE_RESERVATION_ID_LEN + 1])
{
	static const core_str tags[] = { { "dc", 2 }, { "uk", 2 } };
	static const core_str market[] = { { "leeds", 5 }, { "berlin", 6 } };
	core_cmd setup[] = {
		{ .type = CORE_CMD_LOCATION_PUT, .u.location = { .location = golden_str("leeds"),
			.has_coords = true, .lat = 53.8, .lon = -1.55, .has_priority = true, .priority = 1,
			.has_cost = true, .cost = 2.5, .has_cost_per_km = true, .cost_per_km = 0.125,
			.capacity = 50, .enabled = 1, .has_tags = true, .ntags = 2, .tags = tags } },
		{ .type = CORE_CMD_LOCATION_PUT, .u.location = { .location = golden_str("berlin"),
			.has_coords = true, .lat = 52.52, .lon = 13.4, .capacity = -1, .enabled = -1 } },
		{ .type = CORE_CMD_CHANNEL_PUT, .u.channel = { .channel = golden_str("web"),
			.all_locations = true, .buffer = -1 } },
		{ .type = CORE_CMD_CHANNEL_PUT, .u.channel = { .channel = golden_str("market"),
			.has_locations = true, .nlocations = 2, .locations = market, .buffer = 1 } },
		{ .type = CORE_CMD_SKU_PUT, .u.sku = { .sku = golden_str("mug"), .per_order = 20,
			.per_customer = 50, .low_stock = 5 } },
		{ .type = CORE_CMD_INBOUND_ADD, .u.inbound = { .sku = golden_str("tee"),
			.location = golden_str("berlin"), .qty = 5, .eta_ms = 50000, .ref = golden_str("po-1") } },
	};
	for (size_t i = 0; i < sizeof(setup) / sizeof(setup[0]); i++)
		golden_exec(g, &setup[i], 1000, NULL);
	golden_stock(g, CORE_CMD_STOCK_SET, 1100, "tee", "leeds", 10, NULL, NULL);
	golden_stock(g, CORE_CMD_STOCK_SET, 1100, "tee", "berlin", 6, NULL, NULL);
	golden_stock(g, CORE_CMD_STOCK_SET, 1100, "mug", "leeds", 40, NULL, NULL);
	golden_stock(g, CORE_CMD_RESTOCK, 1200, "mug", "leeds", 5, "return", NULL);
	golden_stock(g, CORE_CMD_STOCK_ADJUST, 1300, "mug", "leeds", -2, "count", "adj-1");
	core_line_req l1[] = { { golden_str("tee"), 3 }, { golden_str("mug"), 1 } };
	golden_reserve(g, 2000, (core_reserve_cmd){ .order_id = golden_str("o-1"), .lines = l1,
		.nlines = 2, .channel = golden_str("web"), .customer_id = golden_str("c-1"),
		.ttl_ms = 600000, .idempotency_key = golden_str("res-1") }, ids[0]);
	core_line_req l2[] = { { golden_str("tee"), 15 } };
	golden_reserve(g, 2100, (core_reserve_cmd){ .order_id = golden_str("o-2"), .lines = l2,
		.nlines = 1, .ttl_ms = -1, .allow_backorder = true }, ids[1]);
	core_line_req l3[] = { { golden_str("mug"), 2 } };
	for (int i = 2; i < 5; i++) {
		char order[8];
		snprintf(order, sizeof(order), "o-%d", i + 1);
		golden_reserve(g, 2200 + 100 * i, (core_reserve_cmd){ .order_id = golden_str(order),
			.lines = l3, .nlines = 1, .customer_id = golden_str("c-1"), .ttl_ms = -1 }, ids[i]);
	}
	golden_resv(g, CORE_CMD_COMMIT, 2600, ids[2], NULL, 0);     /* committed */
	golden_resv(g, CORE_CMD_RELEASE, 2700, ids[3], NULL, 0);    /* released */
	golden_resv(g, CORE_CMD_COMMIT, 2800, ids[4], NULL, 0);
	golden_resv(g, CORE_CMD_FULFILL, 2900, ids[4], NULL, 0);    /* fulfilled */
	core_line_req l7[] = { { golden_str("mug"), 1 } };
	golden_reserve(g, 2950, (core_reserve_cmd){ .order_id = golden_str("o-7"), .lines = l7,
		.nlines = 1, .customer_id = golden_str("c-3"), .ttl_ms = 40 }, ids[6]); /* expires */
	golden_resv(g, CORE_CMD_EXTEND, 3000, ids[0], NULL, 900000);
}

/* The records format 3 added, at now_ms: o-2's backorder of 2 tee at
 * berlin (against po-1) filled by a receipt of 3, then a stock.adjust of
 * the record at the version the receipt left it. */
static inline void golden_format_3(golden *g, int64_t now_ms)
{
	core_cmd receive = { .type = CORE_CMD_INBOUND_RECEIVE, .u.inbound = { .sku = golden_str("tee"),
		.location = golden_str("berlin"), .qty = 3, .ref = golden_str("po-1") } };
	golden_exec(g, &receive, now_ms, NULL);
	core_cmd adjust = { .type = CORE_CMD_STOCK_ADJUST };
	adjust.u.stock = (core_stock_cmd){ .sku = golden_str("tee"), .location = golden_str("berlin"),
		.delta = -1, .safety = -1, .if_version = -1, .reason = golden_str("damaged") };
	core_error err;
	uint32_t n;
	if (!g->failed[0] && core_stock_get(g->core, adjust.u.stock.sku, adjust.u.stock.location,
	        golden_version_of, &adjust.u.stock.if_version, &n, &err) != 0)
		snprintf(g->failed, sizeof(g->failed), "stock.get: %s", err.message);
	golden_exec(g, &adjust, now_ms + 10, NULL);
}

/* After the snapshot: one record of every kind, and a sweep. */
static inline void golden_after_snapshot(golden *g, char ids[][CORE_RESERVATION_ID_LEN + 1])
{
	static const core_str tags[] = { { "eu", 2 } };
	static const core_str market[] = { { "berlin", 6 } };
	core_cmd put[] = {
		{ .type = CORE_CMD_LOCATION_PUT, .u.location = { .location = golden_str("paris"),
			.has_coords = true, .lat = 48.85, .lon = 2.35, .has_priority = true, .priority = -2,
			.capacity = 3, .enabled = 0, .has_tags = true, .ntags = 1, .tags = tags } },
		{ .type = CORE_CMD_CHANNEL_PUT, .u.channel = { .channel = golden_str("market"),
			.has_locations = true, .nlocations = 1, .locations = market, .buffer = 0 } },
		{ .type = CORE_CMD_SKU_PUT, .u.sku = { .sku = golden_str("tee"), .per_order = 30,
			.per_customer = -1, .low_stock = 2 } },
		{ .type = CORE_CMD_INBOUND_ADD, .u.inbound = { .sku = golden_str("mug"),
			.location = golden_str("leeds"), .qty = 12, .eta_ms = 90000 } },
	};
	for (size_t i = 0; i < sizeof(put) / sizeof(put[0]); i++)
		golden_exec(g, &put[i], 4000 + 10 * (int64_t)i, NULL);
	golden_stock(g, CORE_CMD_STOCK_SET, 4100, "cap", "paris", 4, NULL, NULL);
	golden_stock(g, CORE_CMD_STOCK_ADJUST, 4200, "tee", "leeds", 2, "found", "adj-2");
	golden_stock(g, CORE_CMD_RESTOCK, 4300, "mug", "leeds", 1, NULL, NULL);
	core_line_req l6[] = { { golden_str("mug"), 3 }, { golden_str("tee"), 1 },
		{ golden_str("ghost"), 1 } };
	golden_reserve(g, 4400, (core_reserve_cmd){ .order_id = golden_str("o-6"), .lines = l6,
		.nlines = 3, .channel = golden_str("web"), .customer_id = golden_str("c-2"),
		.ttl_ms = 60000, .strategy = CORE_STRATEGY_NEAREST, .split = CORE_SPLIT_LINES,
		.max_shipments = 2, .allow_partial = true, .idempotency_key = golden_str("res-6"),
		.has_ship_to = true, .ship_lat = 51.5, .ship_lon = -0.12 }, ids[5]);
	core_line_req mug1 = { golden_str("mug"), 1 };
	golden_resv(g, CORE_CMD_COMMIT, 4500, ids[0], NULL, 0);
	golden_resv(g, CORE_CMD_RELEASE, 4600, ids[5], &mug1, 0);
	golden_resv(g, CORE_CMD_FULFILL, 4700, ids[0], &mug1, 0);
	golden_resv(g, CORE_CMD_EXTEND, 4800, ids[5], NULL, 120000);
	golden_format_3(g, 4850);
	/* The released and fulfilled holds of before the snapshot are past
	 * their retention: the sweep forgets them. */
	int64_t at = 4900 + GOLDEN_RETAIN_MS;
	core_sweep(g->core, at, 100);
	uint32_t resv = 0, keys = 0;
	core_sweep_forgot(g->core, &resv, &keys);
	if (resv == 0 && !g->failed[0])
		snprintf(g->failed, sizeof(g->failed), "the sweep forgot nothing");
	journal_encode_sweep(&g->batch.buf, core_now(g->core), resv, keys);
	golden_recorded(g);
}

static inline int golden_emit_chunk(void *ctx, const uint8_t *chunk, size_t len)
{
	golden *g = ctx;
	if (g->nchunks == GOLDEN_CHUNKS_MAX)
		return -1;
	mp_buf *b = &g->chunks[g->nchunks++];
	mp_buf_init(b);
	mp_write_raw(b, chunk, len);
	return mp_buf_failed(b) ? -1 : 0;
}

static inline char *golden_dump(const core *c)
{
	char *buf = malloc(GOLDEN_DUMP_CAP);
	if (buf && core_dump(c, buf, GOLDEN_DUMP_CAP) >= GOLDEN_DUMP_CAP)
		buf[0] = '\0';
	return buf;
}

/* Run the script into g (the caller calls golden_finish). 0, or -1 with
 * g->failed saying what went wrong. */
static inline int golden_run(golden *g)
{
	char ids[8][CORE_RESERVATION_ID_LEN + 1];
	memset(g, 0, sizeof(*g));
	golden_config(&g->cfg);
	g->core = core_create(&g->cfg);
	if (g->core == NULL)
		return snprintf(g->failed, sizeof(g->failed), "out of memory"), -1;
	mp_buf_init(&g->batch.buf);
	durable_batch_begin(&g->batch, 1);
	golden_before_snapshot(g, ids);
	golden_seal(g); /* allotd ends the batch before it forks */
	g->snapshot_lsn = g->lsn;
	g->snapshot_at_ms = 3500;
	const char *err = NULL;
	if (!g->failed[0] && snapshot_write(g->core, g->lsn, GOLDEN_CHUNK_BYTES, golden_emit_chunk, g,
	        NULL, &err) != 0)
		snprintf(g->failed, sizeof(g->failed), "snapshot_write: %s", err);
	g->snapshot_dump = golden_dump(g->core);
	golden_after_snapshot(g, ids);
	golden_seal(g);
	g->final_dump = golden_dump(g->core);
	if (!g->failed[0] && (g->snapshot_dump == NULL || g->final_dump == NULL ||
	        !g->snapshot_dump[0] || !g->final_dump[0]))
		snprintf(g->failed, sizeof(g->failed), "core_dump: out of memory or too large");
	return g->failed[0] ? -1 : 0;
}

static inline void golden_finish(golden *g)
{
	for (uint32_t i = 0; i < g->nchunks; i++)
		mp_buf_finish(&g->chunks[i]);
	for (uint32_t i = 0; i < g->nentries; i++)
		mp_buf_finish(&g->entries[i]);
	mp_buf_finish(&g->batch.buf);
	core_destroy(g->core);
	free(g->snapshot_dump);
	free(g->final_dump);
	g->core = NULL;
}

/* ---- the files ------------------------------------------------------------- */

/* A bin value (the chunks and batches are bytes, not text). */
static inline void golden_write_bin(mp_buf *out, const uint8_t *p, size_t len)
{
	uint8_t h[5] = { 0xc6, (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
		(uint8_t)len };
	mp_write_raw(out, h, sizeof(h));
	mp_write_raw(out, p, len);
}

/* snapshot.msgpack: [chunk, ...], each chunk a bin, in list order. */
static inline void golden_snapshot_file(const golden *g, mp_buf *out)
{
	mp_write_array(out, g->nchunks);
	for (uint32_t i = 0; i < g->nchunks; i++)
		golden_write_bin(out, g->chunks[i].data, g->chunks[i].len);
}

/* journal.msgpack: [[stream id, batch], ...] in stream order, untrimmed:
 * the entries up to the snapshot are there too. */
static inline void golden_journal_file(const golden *g, mp_buf *out)
{
	mp_write_array(out, g->nentries);
	for (uint32_t i = 0; i < g->nentries; i++) {
		char id[32];
		int n = snprintf(id, sizeof(id), "%llu-0", (unsigned long long)g->entry_lsn[i]);
		mp_write_array(out, 2);
		mp_write_str(out, id, (size_t)n);
		golden_write_bin(out, g->entries[i].data, g->entries[i].len);
	}
}

/* meta.txt: the meta hash, one "field value" a line, as HGETALL shows it. */
static inline int golden_meta_text(const golden *g, char *buf, size_t cap)
{
	char key[DURABLE_KEY_MAX];
	durable_key_snapshot(key, GOLDEN_NAMESPACE, g->snapshot_lsn, (uint64_t)g->snapshot_at_ms);
	return snprintf(buf, cap,
	    "format %d\nid_epoch %u\nhash_seed %llu\nsnapshot %s\nsnapshot_lsn %llu\nsnapshot_at_ms %lld\n",
	    DURABLE_FORMAT, g->cfg.id_epoch, (unsigned long long)g->cfg.hash_seed, key,
	    (unsigned long long)g->snapshot_lsn, (long long)g->snapshot_at_ms);
}

#endif
