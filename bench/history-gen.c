/*
 * history-gen - record a realistic day of demand as allot's history,
 * straight into an archive directory (the format `allot archive` writes,
 * engine/store/archive.h), for `allot replay`, `audit` and bench/replay-bench.
 *
 *   history-gen --dir DIR [--orders N] [--hours H] [--locations L]
 *               [--skus S] [--seed X] [--snapshot-every N]
 *
 * The day runs through the pure core exactly as allotd would run it:
 * several locations with coordinates (European cities), skus of Zipf
 * popularity stocked unevenly, orders of one to three lines with ship_to
 * near a city, most committed a minute or two later and fulfilled half an
 * hour after, some released, some left to expire; an out-of-stock order
 * triggers a replenishment. Only what succeeded is journaled, in batches
 * as group commit makes them, with a snapshot every N records.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive.h"
#include "core.h"
#include "durable.h"
#include "journal.h"
#include "snapshot.h"

#define GEN_BATCH_RECORDS 32
#define GEN_CHUNK_BYTES ((size_t)1 << 20)
#define GEN_LINES_MAX 3
#define GEN_ID_EPOCH 7
#define GEN_HASH_SEED 0x5eed5eedULL
#define GEN_START_MS 1796083200000LL /* 2026-12-01T00:00:00Z */

static const struct { const char *name; double lat, lon; } CITIES[] = {
	{ "BER", 52.52, 13.40 }, { "MUC", 48.14, 11.58 }, { "HAM", 53.55, 9.99 },
	{ "CGN", 50.94, 6.96 }, { "FRA", 50.11, 8.68 }, { "PAR", 48.86, 2.35 },
	{ "LYS", 45.76, 4.84 }, { "MAD", 40.42, -3.70 }, { "MIL", 45.46, 9.19 },
	{ "WAW", 52.23, 21.01 }, { "VIE", 48.21, 16.37 }, { "AMS", 52.37, 4.90 },
};
#define CITIES_MAX (sizeof(CITIES) / sizeof(*CITIES))

typedef struct gen_opts {
	const char *dir;
	uint64_t orders, snapshot_every, seed;
	double hours;
	uint32_t locations, skus;
} gen_opts;

/* A follow-up: commit, release or fulfill of a reservation at a time. */
typedef struct followup {
	int64_t at_ms;
	core_cmd_type type;
	char id[CORE_RESERVATION_ID_LEN + 1];
} followup;

typedef struct gen {
	gen_opts o;
	core *c;
	archive *a;
	uint64_t rng;
	double *zipf;              /* cumulative popularity of the skus */
	char (*sku)[16];
	followup *heap;
	size_t nheap, heap_cap;
	durable_batch batch;
	uint64_t lsn, batch_records, snapshots, refused;
	uint64_t since_snapshot;
	int64_t now_ms;
	char why[512];
} gen;

static uint64_t next_u64(gen *g)
{
	uint64_t z = (g->rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double uniform(gen *g)
{
	return (double)(next_u64(g) >> 11) / 9007199254740992.0;
}

static core_str cs(const char *s)
{
	return (core_str){ s, (uint32_t)strlen(s) };
}

static int die(const char *what, const char *why)
{
	fprintf(stderr, "history-gen: %s: %s\n", what, why);
	exit(1);
}

/* ---- the journal --------------------------------------------------------- */

static void flush_batch(gen *g)
{
	if (g->batch_records == 0)
		return;
	durable_batch_end(&g->batch);
	uint64_t first = g->lsn - g->batch_records + 1;
	if (archive_append_batch(g->a, first, g->lsn, g->batch.buf.data, g->batch.buf.len, g->why,
	        sizeof(g->why)) != 0)
		die("appending a batch", g->why);
	g->batch_records = 0;
}

static int emit_chunk(void *ctx, const uint8_t *chunk, size_t len)
{
	gen *g = ctx;
	return archive_snap_chunk(g->a, chunk, len, g->why, sizeof(g->why));
}

static void take_snapshot(gen *g)
{
	flush_batch(g);
	const char *err = NULL;
	if (archive_sync(g->a, g->why, sizeof(g->why)) != 0 ||
	    archive_snap_begin(g->a, g->lsn, g->now_ms, g->why, sizeof(g->why)) != 0)
		die("a snapshot", g->why);
	if (snapshot_write(g->c, g->lsn, GEN_CHUNK_BYTES, emit_chunk, g, NULL, &err) != 0)
		die("a snapshot", err ? err : g->why);
	if (archive_snap_end(g->a, g->why, sizeof(g->why)) != 0)
		die("a snapshot", g->why);
	g->snapshots++;
	g->since_snapshot = 0;
}

/* Run cmd at now_ms; journal it when it succeeded. */
static int run(gen *g, const core_cmd *cmd, const char *who, core_result *res)
{
	core_error err;
	core_result mine;
	int rc = core_exec(g->c, cmd, g->now_ms, res ? res : &mine, &err);
	if (rc != 0)
		return rc;
	if (g->batch_records == 0)
		durable_batch_begin(&g->batch, g->lsn + 1);
	journal_encode_cmd(&g->batch.buf, cmd, core_now(g->c), cs(who));
	g->batch.count++;
	g->lsn++;
	g->batch_records++;
	g->since_snapshot++;
	if (g->batch_records == GEN_BATCH_RECORDS)
		flush_batch(g);
	if (g->o.snapshot_every && g->since_snapshot >= g->o.snapshot_every)
		take_snapshot(g);
	return 0;
}

/* ---- the world ----------------------------------------------------------- */

static void setup(gen *g)
{
	for (uint32_t i = 0; i < g->o.locations; i++) {
		core_cmd cmd = { .type = CORE_CMD_LOCATION_PUT };
		core_location_cmd *l = &cmd.u.location;
		*l = (core_location_cmd){ .location = cs(CITIES[i].name), .has_coords = true,
			.lat = CITIES[i].lat, .lon = CITIES[i].lon, .has_priority = true, .priority = i,
			.has_cost = true, .cost = 3.0 + i % 3, .has_cost_per_km = true, .cost_per_km = 0.02,
			.capacity = -1, .enabled = -1 };
		if (run(g, &cmd, "admin", NULL) != 0)
			die("location.put", CITIES[i].name);
	}
	/* Zipf popularity (s = 1.1), and stock that follows it unevenly. */
	double total = 0;
	for (uint32_t s = 0; s < g->o.skus; s++)
		total += 1.0 / pow(s + 1, 1.1);
	double acc = 0;
	for (uint32_t s = 0; s < g->o.skus; s++) {
		acc += 1.0 / pow(s + 1, 1.1) / total;
		g->zipf[s] = acc;
		snprintf(g->sku[s], sizeof(g->sku[s]), "SKU-%05u", s);
		double share = g->o.orders * 0.8 / pow(s + 1, 1.1) / total;
		for (uint32_t l = 0; l < g->o.locations; l++) {
			if (uniform(g) < 0.3)
				continue; /* not every location carries every sku */
			core_cmd cmd = { .type = CORE_CMD_STOCK_SET };
			cmd.u.stock = (core_stock_cmd){ .sku = cs(g->sku[s]), .location = cs(CITIES[l].name),
				.on_hand = 2 + (int64_t)(share / g->o.locations * (0.5 + uniform(g))), .safety = -1,
				.if_version = -1 };
			run(g, &cmd, "wms", NULL);
		}
	}
}

static uint32_t pick_sku(gen *g)
{
	double u = uniform(g);
	uint32_t lo = 0, hi = g->o.skus - 1;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (g->zipf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void heap_push(gen *g, followup f)
{
	if (g->nheap == g->heap_cap)
		return; /* bounded: the follow-up is dropped, the hold expires */
	size_t i = g->nheap++;
	while (i > 0 && g->heap[(i - 1) / 2].at_ms > f.at_ms) {
		g->heap[i] = g->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	g->heap[i] = f;
}

static followup heap_pop(gen *g)
{
	followup top = g->heap[0], last = g->heap[--g->nheap];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= g->nheap)
			break;
		if (c + 1 < g->nheap && g->heap[c + 1].at_ms < g->heap[c].at_ms)
			c++;
		if (g->heap[c].at_ms >= last.at_ms)
			break;
		g->heap[i] = g->heap[c];
		i = c;
	}
	if (g->nheap)
		g->heap[i] = last;
	return top;
}

/* The follow-ups due by now. */
static void follow_up(gen *g, int64_t until)
{
	while (g->nheap && g->heap[0].at_ms <= until) {
		followup f = heap_pop(g);
		g->now_ms = f.at_ms > g->now_ms ? f.at_ms : g->now_ms;
		core_cmd cmd = { .type = f.type };
		cmd.u.resv = (core_resv_cmd){ .reservation_id = cs(f.id), .ttl_ms = -1 };
		bool done = run(g, &cmd, f.type == CORE_CMD_FULFILL ? "wms" : "checkout-web", NULL) == 0;
		if (done && f.type == CORE_CMD_COMMIT) {
			followup ship = { g->now_ms + 1800000, CORE_CMD_FULFILL, { 0 } };
			memcpy(ship.id, f.id, sizeof(ship.id));
			heap_push(g, ship); /* shipped half an hour after payment */
		}
	}
}

/* A replenishment of what an order lacked. */
static void replenish(gen *g, const core_reserve_cmd *r)
{
	core_cmd cmd = { .type = CORE_CMD_STOCK_ADJUST };
	uint32_t l = (uint32_t)(next_u64(g) % g->o.locations);
	cmd.u.stock = (core_stock_cmd){ .sku = r->lines[0].sku, .location = cs(CITIES[l].name),
		.delta = 20 + (int64_t)(next_u64(g) % 40), .reason = cs("replenishment"), .if_version = -1,
		.safety = -1 };
	run(g, &cmd, "wms", NULL);
}

static void one_order(gen *g, uint64_t n)
{
	core_line_req lines[GEN_LINES_MAX];
	uint32_t nlines = 1 + (uniform(g) < 0.35) + (uniform(g) < 0.15);
	for (uint32_t i = 0; i < nlines; i++)
		lines[i] = (core_line_req){ cs(g->sku[pick_sku(g)]), 1 + (uniform(g) < 0.2) };
	if (nlines == 2 && lines[1].sku.p == lines[0].sku.p)
		nlines = 1;
	if (nlines == 3 && (lines[2].sku.p == lines[0].sku.p || lines[2].sku.p == lines[1].sku.p))
		nlines = 2;
	char order[32];
	snprintf(order, sizeof(order), "o-%08" PRIu64, n);
	uint32_t city = (uint32_t)(next_u64(g) % g->o.locations);
	core_cmd cmd = { .type = CORE_CMD_RESERVE };
	cmd.u.reserve = (core_reserve_cmd){ .order_id = cs(order), .lines = lines, .nlines = nlines,
		.ttl_ms = -1, .has_ship_to = true, .ship_lat = CITIES[city].lat + 3 * (uniform(g) - 0.5),
		.ship_lon = CITIES[city].lon + 4 * (uniform(g) - 0.5) };
	core_result res;
	if (run(g, &cmd, "checkout-web", &res) != 0) {
		g->refused++;
		replenish(g, &cmd.u.reserve);
		return;
	}
	core_resv_view v;
	core_resv_view_get(g->c, res.resv, &v);
	double u = uniform(g);
	followup f = { .at_ms = g->now_ms + 20000 + (int64_t)(next_u64(g) % 100000) };
	memcpy(f.id, v.id, sizeof(f.id));
	if (u < 0.75)
		f.type = CORE_CMD_COMMIT;
	else if (u < 0.90)
		f.type = CORE_CMD_RELEASE;
	else
		return; /* abandoned: the hold expires */
	heap_push(g, f);
}

static int parse(int argc, char **argv, gen_opts *o)
{
	*o = (gen_opts){ .orders = 100000, .hours = 24, .locations = 8, .skus = 2000, .seed = 1,
		.snapshot_every = 250000 };
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];
		if (strcmp(k, "--dir") == 0)
			o->dir = v;
		else if (strcmp(k, "--orders") == 0)
			o->orders = strtoull(v, NULL, 10);
		else if (strcmp(k, "--hours") == 0)
			o->hours = atof(v);
		else if (strcmp(k, "--locations") == 0)
			o->locations = (uint32_t)atoi(v);
		else if (strcmp(k, "--skus") == 0)
			o->skus = (uint32_t)atoi(v);
		else if (strcmp(k, "--seed") == 0)
			o->seed = strtoull(v, NULL, 10);
		else if (strcmp(k, "--snapshot-every") == 0)
			o->snapshot_every = strtoull(v, NULL, 10);
		else
			return -1;
	}
	if (argc % 2 == 0 || o->dir == NULL || o->locations < 1 || o->locations > CITIES_MAX ||
	    o->skus < 1 || o->orders < 1 || o->hours <= 0)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	static gen g;
	if (parse(argc, argv, &g.o) != 0) {
		fprintf(stderr, "usage: history-gen --dir DIR [--orders N] [--hours H] [--locations L<=%zu]\n"
		    "                   [--skus S] [--seed X] [--snapshot-every N]\n", CITIES_MAX);
		return 2;
	}
	g.rng = g.o.seed;
	core_config cfg;
	core_config_default(&cfg);
	cfg.id_epoch = GEN_ID_EPOCH;
	cfg.hash_seed = GEN_HASH_SEED;
	cfg.reservations_max = (uint32_t)(g.o.orders * 2 + 1000);
	g.c = core_create(&cfg);
	archive_info info = { .ns = "generated", .id_epoch = GEN_ID_EPOCH, .hash_seed = GEN_HASH_SEED };
	g.a = archive_open_write(g.o.dir, &info, g.why, sizeof(g.why));
	if (g.a == NULL)
		return die(g.o.dir, g.why);
	g.zipf = calloc(g.o.skus, sizeof(*g.zipf));
	g.sku = calloc(g.o.skus, sizeof(*g.sku));
	g.heap_cap = g.o.orders + 16;
	g.heap = calloc(g.heap_cap, sizeof(*g.heap));
	mp_buf_init(&g.batch.buf);
	if (g.c == NULL || g.zipf == NULL || g.sku == NULL || g.heap == NULL)
		return die("memory", "exhausted");
	g.now_ms = GEN_START_MS;
	setup(&g);
	double step_ms = g.o.hours * 3600000.0 / (double)g.o.orders;
	for (uint64_t n = 0; n < g.o.orders; n++) {
		int64_t t = GEN_START_MS + 60000 + (int64_t)(n * step_ms);
		follow_up(&g, t);
		g.now_ms = t > g.now_ms ? t : g.now_ms;
		one_order(&g, n);
	}
	follow_up(&g, g.now_ms + 3600000);
	flush_batch(&g);
	if (archive_sync(g.a, g.why, sizeof(g.why)) != 0)
		return die("sync", g.why);
	printf("history-gen: %" PRIu64 " records (%" PRIu64 " orders, %" PRIu64 " refused and "
	    "replenished, %" PRIu64 " snapshots) from %" PRId64 " to %" PRId64 " in %s\n", g.lsn,
	    g.o.orders, g.refused, g.snapshots, (int64_t)GEN_START_MS, g.now_ms, g.o.dir);
	archive_close(g.a);
	core_destroy(g.c);
	mp_buf_finish(&g.batch.buf);
	free(g.zipf);
	free(g.sku);
	free(g.heap);
	return 0;
}
