/*
 * test_snapshot.c - a snapshot restores the state exactly, and a broken one
 * is refused without harm.
 *
 * Round trips of an empty core and of a realistic state; seeded random
 * walks that at random points snapshot one core into small chunks, restore
 * a second from them, and then give both the same commands, advances and
 * sweeps, requiring the same results and the same canonical dump after
 * every step. Snapshots cut short, missing a chunk, corrupted at every
 * byte, in another format, over the engine's limits or inconsistent are
 * refused with a message.
 */
#include <criterion/criterion.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "random_cmd.h"
#include "snapshot.h"

#define LINES_MAX 8
#define DUMP_CAP (16u << 20)

static core_str S(const char *s)
{
	return (core_str){ s, s ? (uint32_t)strlen(s) : 0 };
}

static core_config walk_config(void)
{
	core_config cfg;
	core_config_default(&cfg);
	cfg.lines_max = LINES_MAX;
	cfg.retain_ms = 20000;
	cfg.idempotency_max = 6;
	cfg.reservations_max = 80;
	cfg.ttl_default_ms = 4000;
	cfg.locations_max = 16;
	cfg.hash_seed = 0x1234abcd;
	cfg.id_epoch = 7;
	return cfg;
}

static core *mk(const core_config *cfg)
{
	core *c = core_create(cfg);
	cr_assert_not_null(c);
	return c;
}

/* ---- chunks ------------------------------------------------------------------ */

/* Every chunk a snapshot emitted, copied. */
typedef struct chunks {
	uint8_t *data[4096];
	size_t len[4096];
	uint32_t n;
	size_t chunk_bytes;
	int fail_at; /* emit refuses chunk number fail_at (0: never) */
} chunks;

/* Each chunk is whole items, and at most chunk_bytes unless it is one item. */
static int collect(void *ctx, const uint8_t *chunk, size_t len)
{
	chunks *ch = ctx;
	if (ch->fail_at && (int)ch->n + 1 == ch->fail_at)
		return -1;
	cr_assert_lt(ch->n, 4096, "too many chunks");
	cr_assert_gt(len, 0);
	mp_limits lim = { len, 8, 1 << 20, 0, 1 << 10 };
	size_t pos = 0;
	uint32_t items = 0;
	while (pos < len) {
		size_t n;
		const char *why;
		cr_assert_eq(mp_scan(chunk + pos, len - pos, &lim, &n, &why), MP_OK,
		    "chunk %u: an item does not end in it", ch->n);
		pos += n;
		items++;
	}
	cr_assert(len <= ch->chunk_bytes || items == 1, "chunk %u: %zu bytes of %u items, over %zu",
	    ch->n, len, items, ch->chunk_bytes);
	ch->data[ch->n] = malloc(len);
	memcpy(ch->data[ch->n], chunk, len);
	ch->len[ch->n++] = len;
	return 0;
}

static void chunks_free(chunks *ch)
{
	for (uint32_t i = 0; i < ch->n; i++)
		free(ch->data[i]);
	ch->n = 0;
}

static void snap(const core *c, uint64_t lsn, size_t chunk_bytes, chunks *ch)
{
	ch->n = 0;
	ch->chunk_bytes = chunk_bytes;
	ch->fail_at = 0;
	snapshot_stats st;
	const char *err = NULL;
	cr_assert_eq(snapshot_write(c, lsn, chunk_bytes, collect, ch, &st, &err), 0,
	    "snapshot_write: %s", err);
	cr_assert_eq(st.chunks, ch->n);
	size_t bytes = 0;
	for (uint32_t i = 0; i < ch->n; i++)
		bytes += ch->len[i];
	cr_assert_eq(st.bytes, bytes);
}

static char load_err[400];

/* Load chunks[0..n); NULL with load_err on a refusal. */
static core *load_n(const chunks *ch, uint32_t n, const core_config *cfg, uint64_t *lsn)
{
	snapshot_loader *l = snapshot_loader_create(cfg);
	cr_assert_not_null(l);
	const char *err = NULL;
	core *c = NULL;
	load_err[0] = '\0';
	for (uint32_t i = 0; i < n; i++)
		if (snapshot_loader_feed(l, ch->data[i], ch->len[i], &err) != 0)
			goto out;
	c = snapshot_loader_finish(l, lsn, &err);
out:
	if (c == NULL) {
		cr_assert_not_null(err);
		cr_assert_gt(strlen(err), 0);
		snprintf(load_err, sizeof(load_err), "%s", err);
	}
	snapshot_loader_destroy(l);
	return c;
}

static core *load(const chunks *ch, const core_config *cfg, uint64_t *lsn)
{
	return load_n(ch, ch->n, cfg, lsn);
}

/* ---- comparing two cores ------------------------------------------------------- */

static char *dump_a, *dump_b;

static void expect_same(const core *a, const core *b, const char *when, int step)
{
	if (dump_a == NULL) {
		dump_a = malloc(DUMP_CAP);
		dump_b = malloc(DUMP_CAP);
	}
	size_t na = core_dump(a, dump_a, DUMP_CAP), nb = core_dump(b, dump_b, DUMP_CAP);
	cr_assert(na < DUMP_CAP && nb < DUMP_CAP, "dump too large");
	cr_assert(na == nb && memcmp(dump_a, dump_b, na) == 0, "%s, step %d: dumps differ:\n%.*s\n---\n%.*s",
	    when, step, (int)na, dump_a, (int)nb, dump_b);
	core_stats sa, sb;
	core_stats_get(a, &sa);
	core_stats_get(b, &sb);
	cr_assert(memcmp(&sa, &sb, sizeof(sa)) == 0, "%s, step %d: stats differ", when, step);
	cr_assert_eq(core_next_deadline(a), core_next_deadline(b), "%s, step %d", when, step);
	const char *why = core_check(b);
	cr_assert_null(why, "%s, step %d: core_check: %s", when, step, why ? why : "");
}

static void expect_same_resv(const core *a, const core_resv *ra, const core *b,
    const core_resv *rb, int step)
{
	cr_assert((ra == NULL) == (rb == NULL), "step %d: one result has no reservation", step);
	if (ra == NULL)
		return;
	core_resv_view va, vb;
	core_resv_view_get(a, ra, &va);
	core_resv_view_get(b, rb, &vb);
	cr_assert_str_eq(va.id, vb.id, "step %d", step);
	cr_assert_eq(va.status, vb.status, "step %d", step);
	cr_assert_eq(va.expires_at_ms, vb.expires_at_ms, "step %d", step);
	cr_assert_eq(va.nlines, vb.nlines, "step %d", step);
	core_resv_view_original(a, ra, &va);
	core_resv_view_original(b, rb, &vb);
	cr_assert_eq(va.expires_at_ms, vb.expires_at_ms, "step %d", step);
	for (uint32_t i = 0; i < va.nlines; i++) {
		core_line_view la, lb;
		core_resv_line_get(a, ra, i, &la);
		core_resv_line_get(b, rb, i, &lb);
		cr_assert(la.sku.len == lb.sku.len && memcmp(la.sku.p, lb.sku.p, la.sku.len) == 0);
		cr_assert(la.qty == lb.qty && la.short_qty == lb.short_qty &&
		    la.released == lb.released && la.fulfilled == lb.fulfilled &&
		    la.nallocs == lb.nallocs, "step %d: line %u differs", step, i);
	}
}

static void expect_same_record(const core_record_view *x, const core_record_view *y, int step)
{
	cr_assert(x->sku.len == y->sku.len && memcmp(x->sku.p, y->sku.p, x->sku.len) == 0);
	cr_assert(x->location.len == y->location.len &&
	    memcmp(x->location.p, y->location.p, x->location.len) == 0);
	cr_assert(x->on_hand == y->on_hand && x->reserved == y->reserved &&
	    x->committed == y->committed && x->safety == y->safety &&
	    x->available == y->available && x->oversold == y->oversold &&
	    x->version == y->version, "step %d: records differ", step);
}

/* Run cmd on both at now; the results must match. Returns the code. */
static int exec_both(core *a, core *b, const core_cmd *cmd, int64_t now, int step,
    core_result *out)
{
	core_result ra, rb;
	core_error ea, eb;
	int ca = core_exec(a, cmd, now, &ra, &ea);
	int cb = core_exec(b, cmd, now, &rb, &eb);
	cr_assert_eq(ca, cb, "step %d: %s vs %s (%s / %s)", step, core_strerror(ca),
	    core_strerror(cb), ca ? ea.message : "", cb ? eb.message : "");
	if (ca != CORE_OK) {
		cr_assert_str_eq(ea.message, eb.message, "step %d", step);
		return ca;
	}
	cr_assert_eq(ra.replayed, rb.replayed, "step %d", step);
	if (cmd->type <= CORE_CMD_RESTOCK)
		expect_same_record(&ra.record, &rb.record, step);
	else
		expect_same_resv(a, ra.resv, b, rb.resv, step);
	if (out)
		*out = ra;
	return ca;
}

/* ---- a realistic state ----------------------------------------------------------- */

static void ok(int rc, const core_error *err, const char *what)
{
	cr_assert_eq(rc, CORE_OK, "%s: %s %s", what, core_strerror(rc), err->message);
}

static void stock_set(core *c, int64_t now, const char *sku, const char *loc, int64_t on_hand)
{
	core_cmd cmd = { .type = CORE_CMD_STOCK_SET };
	cmd.u.stock = (core_stock_cmd){ .sku = S(sku), .location = S(loc), .on_hand = on_hand,
		.safety = -1, .if_version = -1 };
	core_result res;
	core_error err;
	ok(core_exec(c, &cmd, now, &res, &err), &err, "stock.set");
}

static core_cmd adjust_cmd(const char *sku, const char *loc, int64_t delta, const char *key)
{
	core_cmd cmd = { .type = CORE_CMD_STOCK_ADJUST };
	cmd.u.stock = (core_stock_cmd){ .sku = S(sku), .location = S(loc), .delta = delta,
		.safety = -1, .if_version = -1, .reason = S("count"), .idempotency_key = S(key) };
	return cmd;
}

typedef struct order {
	core_line_req lines[LINES_MAX];
	core_cmd cmd;
} order;

static void order_init(order *o, const char *order_id, const char *key, int64_t ttl_ms,
    bool partial, const char *sku1, int64_t q1, const char *sku2, int64_t q2)
{
	o->lines[0] = (core_line_req){ S(sku1), q1 };
	o->lines[1] = (core_line_req){ S(sku2), q2 };
	o->cmd = (core_cmd){ .type = CORE_CMD_RESERVE };
	o->cmd.u.reserve = (core_reserve_cmd){ .order_id = S(order_id), .lines = o->lines,
		.nlines = sku2 ? 2 : 1, .ttl_ms = ttl_ms, .allow_partial = partial,
		.idempotency_key = S(key), .channel = S("web"), .customer_id = S("c-1") };
}

/* A reservation's id as text. */
static void id_of(const core *c, const core_resv *r, char out[CORE_RESERVATION_ID_LEN + 1])
{
	core_resv_view v;
	core_resv_view_get(c, r, &v);
	memcpy(out, v.id, CORE_RESERVATION_ID_LEN + 1);
}

static void hold(core *c, int64_t now, order *o, char id[CORE_RESERVATION_ID_LEN + 1])
{
	core_result res;
	core_error err;
	ok(core_exec(c, &o->cmd, now, &res, &err), &err, "reserve");
	id_of(c, res.resv, id);
}

static void on_resv(core *c, int64_t now, core_cmd_type type, const char *id, const char *sku,
    int64_t qty)
{
	core_line_req line = { S(sku), qty };
	core_cmd cmd = { .type = type };
	cmd.u.resv = (core_resv_cmd){ .reservation_id = S(id), .lines = sku ? &line : NULL,
		.nlines = sku ? 1 : 0, .ttl_ms = qty };
	core_result res;
	core_error err;
	ok(core_exec(c, &cmd, now, &res, &err), &err, "reservation command");
}

/* Several locations and skus; holds held, committed, fulfilled (partly and
 * whole), released, expired; a partial hold of a sku that did not exist
 * then but does now; reserve and adjust keys; all within retention. */
static core *realistic(void)
{
	core_config cfg = walk_config();
	cfg.idempotency_max = 100;
	cfg.reservations_max = 1000;
	core *c = mk(&cfg);
	char id[8][CORE_RESERVATION_ID_LEN + 1];
	stock_set(c, 1000, "tee-m", "berlin", 10);
	stock_set(c, 1000, "tee-m", "leeds", 5);
	stock_set(c, 1000, "tee-m", "amsterdam", 2);
	stock_set(c, 1000, "mug", "leeds", 40);
	stock_set(c, 1000, "cap", "berlin", 3);
	core_result res;
	core_error err;
	/* Routing: attributes, channels, limits. */
	static const core_str tags[] = { { "dc", 2 }, { "uk", 2 } };
	static const core_str market_locs[] = { { "leeds", 5 }, { "berlin", 6 } };
	core_cmd cmds[] = {
		{ .type = CORE_CMD_LOCATION_PUT, .u.location = { .location = S("leeds"), .has_coords = true,
			.lat = 53.8, .lon = -1.55, .has_priority = true, .priority = 1, .has_cost = true,
			.cost = 2.5, .capacity = 50, .enabled = 1, .has_tags = true, .ntags = 2, .tags = tags } },
		{ .type = CORE_CMD_LOCATION_PUT, .u.location = { .location = S("amsterdam"), .capacity = -1,
			.enabled = 0 } },
		{ .type = CORE_CMD_CHANNEL_PUT, .u.channel = { .channel = S("web"), .buffer = -1 } },
		{ .type = CORE_CMD_CHANNEL_PUT, .u.channel = { .channel = S("market"), .has_locations = true,
			.nlocations = 2, .locations = market_locs, .buffer = 1 } },
		{ .type = CORE_CMD_SKU_PUT, .u.sku = { .sku = S("mug"), .per_order = 20, .per_customer = 50,
			.low_stock = 5 } },
	};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		ok(core_exec(c, &cmds[i], 1050, &res, &err), &err, "routing setup");
	core_cmd adj = adjust_cmd("mug", "leeds", -2, "count-1");
	ok(core_exec(c, &adj, 1100, &res, &err), &err, "adjust");
	order o;
	order_init(&o, "o-1", "key-1", 60000, false, "tee-m", 12, "mug", 1);
	hold(c, 2000, &o, id[0]);                  /* held, split */
	order_init(&o, "o-2", NULL, 60000, false, "mug", 3, NULL, 0);
	hold(c, 2100, &o, id[1]);
	on_resv(c, 2200, CORE_CMD_COMMIT, id[1], NULL, 0); /* committed */
	order_init(&o, "o-3", "key-3", 60000, false, "cap", 2, "mug", 2);
	hold(c, 2300, &o, id[2]);
	on_resv(c, 2400, CORE_CMD_COMMIT, id[2], NULL, 0);
	on_resv(c, 2500, CORE_CMD_FULFILL, id[2], "cap", 1); /* committed, partly fulfilled */
	order_init(&o, "o-4", NULL, 60000, false, "mug", 1, NULL, 0);
	hold(c, 2600, &o, id[3]);
	on_resv(c, 2700, CORE_CMD_RELEASE, id[3], NULL, 0); /* released */
	order_init(&o, "o-5", NULL, 500, false, "tee-m", 1, NULL, 0);
	hold(c, 2800, &o, id[4]);                  /* expires at 3300 */
	order_init(&o, "o-6", "key-6", 60000, true, "ghost", 4, "mug", 2);
	hold(c, 2900, &o, id[5]);                  /* ghost unknown: partial */
	order_init(&o, "o-7", NULL, 60000, false, "mug", 2, NULL, 0);
	hold(c, 3000, &o, id[6]);
	on_resv(c, 3050, CORE_CMD_COMMIT, id[6], NULL, 0);
	on_resv(c, 3100, CORE_CMD_FULFILL, id[6], NULL, 0); /* fulfilled */
	on_resv(c, 3200, CORE_CMD_EXTEND, id[0], NULL, 90000);
	stock_set(c, 3400, "ghost", "paris", 7);   /* o-5 expired before this */
	order_init(&o, "o-8", NULL, 60000, false, "ghost", 1, "tee-m", 1);
	hold(c, 3500, &o, id[7]);
	on_resv(c, 3600, CORE_CMD_RELEASE, id[7], "tee-m", 1); /* a line released */
	adj = adjust_cmd("tee-m", "paris", 3, "count-2");
	ok(core_exec(c, &adj, 3700, &res, &err), &err, "adjust");
	core_stats st;
	core_stats_get(c, &st);
	cr_assert_eq(st.reservations[CORE_RESV_HELD], 3);
	cr_assert_eq(st.reservations[CORE_RESV_COMMITTED], 2);
	cr_assert_eq(st.reservations[CORE_RESV_FULFILLED], 1);
	cr_assert_eq(st.reservations[CORE_RESV_RELEASED], 1);
	cr_assert_eq(st.reservations[CORE_RESV_EXPIRED], 1);
	cr_assert_eq(st.idempotency_keys, 5);
	cr_assert_null(core_check(c));
	return c;
}

Test(snapshot, an_empty_core_round_trips)
{
	core_config cfg = walk_config();
	core *a = mk(&cfg);
	chunks ch = { 0 };
	snap(a, 0, 1 << 20, &ch);
	cr_assert_eq(ch.n, 1, "an empty snapshot is one chunk");
	core_config other = cfg;
	other.hash_seed = 99;
	other.id_epoch = 99;
	uint64_t lsn = 123;
	core *b = load(&ch, &other, &lsn);
	cr_assert_not_null(b, "%s", load_err);
	cr_assert_eq(lsn, 0);
	expect_same(a, b, "empty", 0);
	/* The seed and epoch come from the snapshot: the same next id. */
	cr_assert_eq(core_get_config(b)->hash_seed, cfg.hash_seed);
	cr_assert_eq(core_get_config(b)->id_epoch, cfg.id_epoch);
	stock_set(a, 10, "x", "w", 1);
	stock_set(b, 10, "x", "w", 1);
	core_cmd web = { .type = CORE_CMD_CHANNEL_PUT, .u.channel = { .channel = S("web"), .buffer = -1 } };
	core_result res;
	core_error err;
	ok(core_exec(a, &web, 10, &res, &err), &err, "channel.put");
	ok(core_exec(b, &web, 10, &res, &err), &err, "channel.put");
	order o;
	order_init(&o, "o", NULL, 100, false, "x", 1, NULL, 0);
	char ia[CORE_RESERVATION_ID_LEN + 1], ib[CORE_RESERVATION_ID_LEN + 1];
	hold(a, 20, &o, ia);
	hold(b, 20, &o, ib);
	cr_assert_str_eq(ia, ib);
	cr_assert_str_eq(ia, "r-0000000700000001");
	expect_same(a, b, "empty then used", 1);
	chunks_free(&ch);
	core_destroy(a);
	core_destroy(b);
}

/* A restored core's snapshot holds the same items as the original's, the
 * skus perhaps in another order (that of their hash table): the same size. */
static void expect_same_snapshot_size(const core *a, const core *b, size_t chunk_bytes)
{
	chunks x = { 0 }, y = { 0 };
	snap(a, 5, chunk_bytes, &x);
	snap(b, 5, chunk_bytes, &y);
	size_t nx = 0, ny = 0;
	for (uint32_t i = 0; i < x.n; i++)
		nx += x.len[i];
	for (uint32_t i = 0; i < y.n; i++)
		ny += y.len[i];
	cr_assert_eq(nx, ny, "snapshots of a core and its restored copy differ in size");
	chunks_free(&x);
	chunks_free(&y);
}

Test(snapshot, a_realistic_state_round_trips_and_goes_on_the_same)
{
	core *a = realistic();
	chunks ch = { 0 };
	snap(a, 42, 200, &ch);
	cr_assert_gt(ch.n, 3, "200-byte chunks: several");
	core_config cfg = walk_config();
	cfg.idempotency_max = 100;
	cfg.reservations_max = 1000;
	uint64_t lsn = 0;
	core *b = load(&ch, &cfg, &lsn);
	cr_assert_not_null(b, "%s", load_err);
	cr_assert_eq(lsn, 42);
	expect_same(a, b, "restored", 0);
	expect_same_snapshot_size(a, b, 200);
	/* The held order whose unknown sku now exists keeps its name copy: a
	 * release of that line still finds it, and nothing was held for it. */
	int step = 1;
	core_line_req ghost = { S("ghost"), 1 };
	core_cmd cmd = { .type = CORE_CMD_RELEASE };
	cmd.u.resv = (core_resv_cmd){ .reservation_id = S("r-0000000700000006"), .lines = &ghost,
		.nlines = 1 };
	cr_assert_eq(exec_both(a, b, &cmd, 4000, step++, NULL), CORE_E_BAD_REQUEST);
	/* Idempotent retries replay on both: reserve and adjust. */
	order o;
	order_init(&o, "o-1", "key-1", 60000, false, "tee-m", 12, "mug", 1);
	core_result res;
	cr_assert_eq(exec_both(a, b, &o.cmd, 4100, step++, &res), CORE_OK);
	cr_assert(res.replayed);
	char id[CORE_RESERVATION_ID_LEN + 1];
	id_of(a, res.resv, id);
	cr_assert_str_eq(id, "r-0000000700000001");
	core_cmd adj = adjust_cmd("mug", "leeds", -2, "count-1");
	cr_assert_eq(exec_both(a, b, &adj, 4200, step++, &res), CORE_OK);
	cr_assert(res.replayed);
	cr_assert_eq(res.record.on_hand, 38);
	cr_assert_eq(res.record.version, 2);
	adj = adjust_cmd("mug", "leeds", -3, "count-1");
	cr_assert_eq(exec_both(a, b, &adj, 4250, step++, NULL), CORE_E_CONFLICT);
	/* A new order gets the same next id on both. */
	order_init(&o, "o-9", "key-9", 1000, false, "tee-m", 1, NULL, 0);
	cr_assert_eq(exec_both(a, b, &o.cmd, 4300, step++, &res), CORE_OK);
	id_of(a, res.resv, id);
	cr_assert_str_eq(id, "r-0000000700000009");
	expect_same(a, b, "after commands", step);
	/* Expiries at the same deadlines, then forgetting in the same order. */
	cr_assert_eq(core_advance(a, 6000), core_advance(b, 6000));
	expect_same(a, b, "after expiry", step++);
	for (int64_t t = 20000; t < 120000; t += 7000) {
		uint32_t fa[2], fb[2];
		cr_assert_eq(core_sweep(a, t, 2), core_sweep(b, t, 2));
		core_sweep_forgot(a, &fa[0], &fa[1]);
		core_sweep_forgot(b, &fb[0], &fb[1]);
		cr_assert(fa[0] == fb[0] && fa[1] == fb[1], "t=%lld: sweeps forgot differently",
		    (long long)t);
		expect_same(a, b, "sweeping", step++);
	}
	core_stats st;
	core_stats_get(b, &st);
	cr_assert_eq(st.reservations[CORE_RESV_HELD] + st.reservations[CORE_RESV_COMMITTED],
	    st.reservations[0] + st.reservations[1] + st.reservations[2] + st.reservations[3] +
	    st.reservations[4], "every finished reservation was forgotten");
	chunks_free(&ch);
	core_destroy(a);
	core_destroy(b);
}

/* ---- random walks ---------------------------------------------------------------- */

static void walk(uint64_t seed, int steps)
{
	core_config cfg = walk_config();
	cfg.hash_seed ^= seed;
	/* The restoring side is configured with another seed and epoch: the
	 * snapshot's must win. */
	core_config other = cfg;
	other.hash_seed = ~cfg.hash_seed;
	other.id_epoch = 12345;
	core *a = mk(&cfg), *b = NULL;
	rng g = { seed };
	char (*ids)[32] = calloc((size_t)steps, 32);
	int nids = 0, snapshots = 0, replays = 0, forgets = 0, evicted_ok = 0;
	static const size_t sizes[] = { 200, 200, 200, 37, 1000, 1 << 20 };
	chunks ch = { 0 };
	int64_t now = 1000;
	core_cmd cmd;
	core_line_req lines[LINES_MAX];
	char order_id[32];
	bool have_cmd = false;
	for (int step = 0; step < steps; step++) {
		uint64_t x = next(&g);
		now += (int64_t)(x % 150);
		if (b == NULL || x % 19 == 0) {
			snap(a, (uint64_t)step, sizes[(x >> 20) % 6], &ch);
			uint64_t lsn = 0;
			core_destroy(b);
			b = load(&ch, &other, &lsn);
			cr_assert_not_null(b, "seed %llu step %d: %s", (unsigned long long)seed, step, load_err);
			cr_assert_eq(lsn, (uint64_t)step);
			chunks_free(&ch);
			expect_same(a, b, "just restored", step);
			snapshots++;
			if ((x >> 40) & 1) { /* go on from the restored copy */
				core *t = a;
				a = b;
				b = t;
			}
			continue;
		}
		if (x % 7 == 0) { /* a read, sometimes ahead of the next command */
			int64_t t = now + (int64_t)((x >> 8) % 200) - 50;
			cr_assert_eq(core_advance(a, t), core_advance(b, t), "step %d", step);
		} else if (x % 11 == 0) {
			uint32_t budget = 1 + (uint32_t)((x >> 12) % 4);
			uint32_t fa[2], fb[2];
			cr_assert_eq(core_sweep(a, now, budget), core_sweep(b, now, budget), "step %d", step);
			core_sweep_forgot(a, &fa[0], &fa[1]);
			core_sweep_forgot(b, &fb[0], &fb[1]);
			cr_assert(fa[0] == fb[0] && fa[1] == fb[1], "step %d: sweeps forgot differently", step);
			forgets += fa[0] + fa[1] > 0;
		} else {
			/* Now and then the last command again, as a client retries. */
			if (!have_cmd || (x >> 33) % 5 != 0) {
				snprintf(order_id, sizeof(order_id), "o-%d", step);
				random_cmd(&g, &cmd, lines, ids, nids, order_id);
				have_cmd = true;
			}
			core_result res;
			int rc = exec_both(a, b, &cmd, now, step, &res);
			if (rc == CORE_OK && res.replayed)
				replays++;
			if (rc == CORE_OK && cmd.type == CORE_CMD_RESERVE && !res.replayed)
				id_of(a, res.resv, ids[nids++]);
			if (rc == CORE_OK && cmd.type == CORE_CMD_STOCK_ADJUST && !res.replayed &&
			    cmd.u.stock.idempotency_key.p)
				evicted_ok++;
		}
		expect_same(a, b, "walking", step);
	}
	cr_assert_gt(snapshots, steps / 40, "too few snapshots: %d", snapshots);
	cr_assert_gt(replays, 10, "too few idempotent replays: %d", replays);
	cr_assert_gt(forgets, 5, "too few sweeps forgot anything: %d", forgets);
	cr_assert_gt(evicted_ok, 6, "too few adjust keys to evict the oldest: %d", evicted_ok);
	core_destroy(a);
	core_destroy(b);
	free(ids);
}

Test(snapshot, random_walks_restored_at_random_points_go_on_exactly_the_same)
{
	walk(1, 3000);
	walk(20261123, 3000);
	walk(0xfeedULL, 3000);
	walk(77, 3000);
}

/* Thousands of skus and reservations: the tables grow while they are
 * made, reservations span many directory pages, and a restore looks skus
 * up in many batches. */
Test(snapshot, a_large_state_round_trips_and_goes_on_the_same)
{
	core_config cfg = walk_config();
	cfg.reservations_max = 40000;
	cfg.idempotency_max = 2000;
	cfg.retain_ms = 5000;
	core *a = mk(&cfg);
	rng g = { 5 };
	char name[32], loc[32], order_id[32], key[32];
	for (int i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "sku-%04d", i);
		for (int j = 0; j < 1 + i % 5; j++) {
			snprintf(loc, sizeof(loc), "loc-%d", (i + j * 7) % 11);
			stock_set(a, 1000, name, loc, (int64_t)(next(&g) % 50));
		}
	}
	char (*ids)[32] = calloc(30000, 32);
	int nids = 0;
	int64_t now = 2000;
	core *b = NULL;
	for (int step = 0; step < 30000; step++) {
		uint64_t x = next(&g);
		now += (int64_t)(x % 3);
		core_line_req lines[3];
		uint32_t n = 1 + (uint32_t)((x >> 8) % 3);
		char names[3][32];
		for (uint32_t i = 0; i < n; i++) {
			/* Now and then a sku that does not exist. */
			if ((x >> (12 + i)) % 16 == 0)
				snprintf(names[i], sizeof(names[i]), "none-%u", (unsigned)((x >> 20) % 100 + i * 100));
			else
				snprintf(names[i], sizeof(names[i]), "sku-%04u", (unsigned)((x >> (20 + 8 * i)) % 3000));
			lines[i] = (core_line_req){ S(names[i]), 1 + (int64_t)((x >> 40) % 3) };
		}
		core_cmd cmd = { 0 };
		int kind = (int)(next(&g) % 10);
		if (kind < 5) {
			snprintf(order_id, sizeof(order_id), "order-%d", step);
			snprintf(key, sizeof(key), "key-%d", step);
			cmd.type = CORE_CMD_RESERVE;
			cmd.u.reserve = (core_reserve_cmd){ .order_id = S(order_id), .lines = lines,
				.nlines = n, .ttl_ms = 500 + (int64_t)((x >> 30) % 20000), .allow_partial = true,
				.idempotency_key = kind == 0 ? S(key) : (core_str){ NULL, 0 } };
		} else if (kind == 5) {
			snprintf(key, sizeof(key), "adj-%d", step);
			cmd = adjust_cmd(names[0], "loc-3", 5, key);
		} else if (nids > 0) {
			cmd.type = kind == 6 ? CORE_CMD_RELEASE : kind == 9 ? CORE_CMD_FULFILL : CORE_CMD_COMMIT;
			cmd.u.resv = (core_resv_cmd){ .reservation_id = S(ids[next(&g) % (uint64_t)nids]) };
		} else {
			continue;
		}
		core_result res;
		core_error err;
		int rc = b ? exec_both(a, b, &cmd, now, step, &res) : core_exec(a, &cmd, now, &res, &err);
		if (rc == CORE_OK && cmd.type == CORE_CMD_RESERVE && !res.replayed)
			id_of(a, res.resv, ids[nids++]);
		if (step % 1000 == 999) {
			uint32_t done = core_sweep(a, now, 500);
			if (b)
				cr_assert_eq(core_sweep(b, now, 500), done);
		}
		if (step == 20000) {
			chunks ch = { 0 };
			snap(a, 77, 64 << 10, &ch);
			uint64_t lsn;
			b = load(&ch, &cfg, &lsn);
			cr_assert_not_null(b, "%s", load_err);
			chunks_free(&ch);
			core_stats st;
			core_stats_get(b, &st);
			cr_assert_gt(st.reservations[CORE_RESV_HELD], 1000, "held: %llu",
			    (unsigned long long)st.reservations[CORE_RESV_HELD]);
			cr_assert_gt(st.reservations[CORE_RESV_COMMITTED], 500);
			cr_assert_gt(st.reservations[CORE_RESV_RELEASED] + st.reservations[CORE_RESV_EXPIRED] +
			    st.reservations[CORE_RESV_FULFILLED], 500);
			cr_assert_gt(st.idempotency_keys, 1000);
			expect_same(a, b, "large, restored", step);
		}
		if (b && step % 500 == 0)
			expect_same(a, b, "large, going on", step);
	}
	expect_same(a, b, "large, at the end", 30000);
	free(ids);
	core_destroy(a);
	core_destroy(b);
}

/* ---- refusals -------------------------------------------------------------------- */

Test(snapshot, a_snapshot_missing_its_last_chunk_or_any_chunk_or_cut_short_is_refused)
{
	core *a = realistic();
	chunks ch = { 0 };
	snap(a, 9, 200, &ch);
	core_config cfg = walk_config();
	cfg.idempotency_max = 100;
	cfg.reservations_max = 1000;
	uint64_t lsn;
	cr_assert_null(load_n(&ch, ch.n - 1, &cfg, &lsn));
	cr_assert(strstr(load_err, "cut short") != NULL, "%s", load_err);
	cr_assert_null(load_n(&ch, 0, &cfg, &lsn));
	cr_assert(strstr(load_err, "empty") != NULL, "%s", load_err);
	/* Without any one chunk. */
	for (uint32_t skip = 0; skip < ch.n; skip++) {
		chunks less = { 0 };
		for (uint32_t i = 0; i < ch.n; i++)
			if (i != skip) {
				less.data[less.n] = ch.data[i];
				less.len[less.n++] = ch.len[i];
			}
		cr_assert_null(load(&less, &cfg, &lsn), "chunk %u missing, yet loaded", skip);
	}
	/* The last chunk cut at every byte. */
	uint32_t last = ch.n - 1;
	size_t full = ch.len[last];
	for (size_t len = 1; len < full; len++) {
		uint8_t *copy = malloc(len);
		memcpy(copy, ch.data[last], len);
		chunks cut = ch;
		cut.data[last] = copy;
		cut.len[last] = len;
		cr_assert_null(load(&cut, &cfg, &lsn), "the last chunk cut to %zu bytes loaded", len);
		free(copy);
	}
	/* A chunk twice. */
	chunks twice = ch;
	twice.data[ch.n] = ch.data[last];
	twice.len[ch.n] = ch.len[last];
	twice.n = ch.n + 1;
	cr_assert_null(load(&twice, &cfg, &lsn));
	cr_assert(strstr(load_err, "after the snapshot's end") != NULL, "%s", load_err);
	chunks_free(&ch);
	core_destroy(a);
}

Test(snapshot, bytes_corrupted_anywhere_are_refused_or_give_a_consistent_core)
{
	core *a = realistic();
	chunks ch = { 0 };
	snap(a, 1, 1 << 20, &ch);
	cr_assert_eq(ch.n, 1);
	core_config cfg = walk_config();
	cfg.idempotency_max = 100;
	cfg.reservations_max = 1000;
	cfg.skus_max = 1000;
	size_t len = ch.len[0];
	uint8_t *copy = malloc(len);
	chunks bad = { .n = 1 };
	bad.data[0] = copy;
	bad.len[0] = len;
	static const uint8_t masks[] = { 0x01, 0x02, 0x10, 0x80, 0xff };
	uint32_t refused = 0, loaded = 0;
	for (size_t pos = 0; pos < len; pos++) {
		for (size_t m = 0; m < sizeof(masks); m++) {
			memcpy(copy, ch.data[0], len);
			copy[pos] ^= masks[m];
			uint64_t lsn;
			core *c = load(&bad, &cfg, &lsn);
			if (c == NULL) {
				refused++;
				continue;
			}
			loaded++;
			const char *why = core_check(c);
			cr_assert_null(why, "byte %zu ^ %02x: loaded inconsistent: %s", pos, masks[m], why);
			/* It works: a dump and a command. */
			static char text[1 << 16];
			cr_assert_lt(core_dump(c, text, sizeof(text)), sizeof(text));
			core_cmd adj = adjust_cmd("mug", "leeds", 1, NULL);
			core_result res;
			core_error err;
			core_exec(c, &adj, INT64_C(1) << 40, &res, &err);
			cr_assert_null(core_check(c));
			core_destroy(c);
		}
	}
	cr_assert_gt(refused, len * 3, "most corruptions are refused (%u of %zu)", refused, len * 5);
	cr_assert_gt(loaded, 0, "some corruptions (a quantity, a version) still make a valid state");
	free(copy);
	chunks_free(&ch);
	core_destroy(a);
}

/* A snapshot with a hand-made header and the end marker. */
static void header_only(mp_buf *b, const char *magic, uint64_t format, uint32_t fields)
{
	mp_buf_init(b);
	mp_write_array(b, fields);
	mp_write_cstr(b, magic);
	mp_write_uint(b, format);
	for (uint32_t i = 2; i < fields; i++)
		mp_write_uint(b, i == 6 ? 1 : 0); /* next_seq 1, everything else 0 */
	mp_write_array(b, 2);
	mp_write_uint(b, 0);
	mp_write_uint(b, 0);
}

Test(snapshot, a_header_in_another_format_or_not_a_header_is_refused)
{
	core_config cfg = walk_config();
	mp_buf b;
	chunks ch = { .n = 1 };
	uint64_t lsn;
	header_only(&b, "allot-snapshot", 1, 13);
	ch.data[0] = b.data;
	ch.len[0] = b.len;
	core *c = load(&ch, &cfg, &lsn);
	cr_assert_not_null(c, "the minimal snapshot: %s", load_err);
	core_destroy(c);
	mp_buf_finish(&b);

	header_only(&b, "allot-snapshot", 2, 13);
	ch.data[0] = b.data;
	ch.len[0] = b.len;
	cr_assert_null(load(&ch, &cfg, &lsn));
	cr_assert(strstr(load_err, "format 2") != NULL, "%s", load_err);
	mp_buf_finish(&b);

	header_only(&b, "allot-snapshoT", 1, 13);
	ch.data[0] = b.data;
	ch.len[0] = b.len;
	cr_assert_null(load(&ch, &cfg, &lsn));
	cr_assert(strstr(load_err, "not an allot snapshot") != NULL, "%s", load_err);
	mp_buf_finish(&b);

	header_only(&b, "allot-snapshot", 1, 12);
	ch.data[0] = b.data;
	ch.len[0] = b.len;
	cr_assert_null(load(&ch, &cfg, &lsn));
	cr_assert(strstr(load_err, "header is malformed") != NULL, "%s", load_err);
	mp_buf_finish(&b);

	/* A journal batch is not a snapshot. */
	mp_buf_init(&b);
	mp_write_array(&b, 2);
	mp_write_uint(&b, 1);
	mp_write_array(&b, 0);
	ch.data[0] = b.data;
	ch.len[0] = b.len;
	cr_assert_null(load(&ch, &cfg, &lsn));
	cr_assert(strstr(load_err, "not an allot snapshot") != NULL, "%s", load_err);
	mp_buf_finish(&b);
}

Test(snapshot, a_state_over_the_engine_limits_is_refused_as_too_large)
{
	core *a = realistic();
	chunks ch = { 0 };
	snap(a, 1, 1 << 20, &ch);
	core_config cfg = walk_config();
	cfg.idempotency_max = 100;
	cfg.reservations_max = 1000;
	uint64_t lsn;
	core_config small = cfg;
	small.skus_max = 3;
	cr_assert_null(load(&ch, &small, &lsn));
	cr_assert(strstr(load_err, "limits") != NULL, "%s", load_err);
	small = cfg;
	small.reservations_max = 7;
	cr_assert_null(load(&ch, &small, &lsn));
	small = cfg;
	small.idempotency_max = 4;
	cr_assert_null(load(&ch, &small, &lsn));
	small = cfg;
	small.lines_max = 1;
	cr_assert_null(load(&ch, &small, &lsn));
	cr_assert(strstr(load_err, "more lines than the engine allows") != NULL, "%s", load_err);
	small = cfg;
	small.locations_max = 3;
	cr_assert_null(load(&ch, &small, &lsn));
	/* The same limits as the original load. */
	core *b = load(&ch, &cfg, &lsn);
	cr_assert_not_null(b, "%s", load_err);
	core_destroy(b);
	chunks_free(&ch);
	core_destroy(a);
}

/* ---- inconsistent items, through the core's restore directly ------------------- */

static core_snap_header small_header(void)
{
	return (core_snap_header){ .hash_seed = 1, .id_epoch = 2, .now_ms = 5000, .next_seq = 3,
		.locations = 2, .skus = 1, .records = 2, .reservations = 1, .keys = 1 };
}

static core_snap_item location_item(uint64_t id, const char *name)
{
	core_snap_item it = { .kind = CORE_SNAP_LOCATION };
	it.u.location = (core_snap_location){ .id = id, .name = S(name), .capacity = -1, .enabled = true };
	return it;
}

/* Feed items; the first refusal's code, message in *err. */
static int feed(core_restore *r, const core_snap_item *items, int n, core_error *err)
{
	for (int i = 0; i < n; i++) {
		int rc = core_restore_item(r, &items[i], err);
		if (rc != CORE_OK)
			return rc;
	}
	return CORE_OK;
}

typedef struct small_state {
	core_snap_record recs[2];
	core_snap_alloc allocs[1];
	core_snap_line lines[1];
	core_snap_item items[6];
} small_state;

/* Two locations, one sku at both, one held reservation of 3 at "b", its
 * reserve key. */
static void small_items(small_state *s)
{
	s->items[0] = location_item(0, "b");
	s->items[1] = location_item(1, "a");
	/* Rank order is by name: "a" (id 1) first. */
	s->recs[0] = (core_snap_record){ 1, 10, 0, 0, 0, 1 };
	s->recs[1] = (core_snap_record){ 0, 10, 3, 0, 0, 2 };
	s->items[2] = (core_snap_item){ .kind = CORE_SNAP_SKU };
	s->items[2].u.sku = (core_snap_sku){ .name = S("x"), .nrecs = 2, .recs = s->recs };
	s->allocs[0] = (core_snap_alloc){ 0, 3, 3 };
	s->lines[0] = (core_snap_line){ .sku = S("x"), .sku_known = true, .qty = 3, .nallocs = 1, .allocs = s->allocs };
	s->items[3] = (core_snap_item){ .kind = CORE_SNAP_RESERVATION };
	s->items[3].u.resv = (core_snap_resv){ .seq = 2, .status = CORE_RESV_HELD,
		.expires_at_ms = 9000, .orig_expires_at_ms = 9000, .finished_at_ms = -1,
		.order_id = S("o"), .nlines = 1, .lines = s->lines };
	s->items[4] = (core_snap_item){ .kind = CORE_SNAP_KEY };
	s->items[4].u.key = (core_snap_key){ .method = CORE_SNAP_KEY_RESERVE, .key = S("k"),
		.params_hash = 77, .created_ms = 4000, .resv_seq = 2 };
}

/* Restore the small state with one change made by edit; the code of the
 * first refusal (or OK and the core checked and destroyed). */
static int restore_small(void (*edit)(small_state *s, core_snap_header *h), char *msg,
    size_t msg_len)
{
	core_config cfg = walk_config();
	small_state s;
	small_items(&s);
	core_snap_header h = small_header();
	if (edit)
		edit(&s, &h);
	core_error err = { 0 };
	core_restore *r = core_restore_begin(&cfg, &h, &err);
	int rc = err.code;
	if (r) {
		rc = feed(r, s.items, 5, &err);
		if (rc != CORE_OK) {
			core_restore_abort(r);
		} else {
			core *c = core_restore_finish(r, &err);
			rc = c ? CORE_OK : err.code;
			if (c) {
				cr_assert_null(core_check(c));
				core_destroy(c);
			}
		}
	}
	snprintf(msg, msg_len, "%s", rc ? err.message : "");
	return rc;
}

static void edit_claim(small_state *s, core_snap_header *h) { s->recs[1].reserved = 2; }
static void edit_seq(small_state *s, core_snap_header *h) { s->items[3].u.resv.seq = 3; }
static void edit_key_resv(small_state *s, core_snap_header *h) { s->items[4].u.key.resv_seq = 1; }
static void edit_loc(small_state *s, core_snap_header *h) { s->allocs[0].location = 5; }
static void edit_no_record(small_state *s, core_snap_header *h)
{
	s->items[2].u.sku.nrecs = 1; /* only at "a"; the hold is at "b" */
	h->records = 1;
}
static void edit_no_sku(small_state *s, core_snap_header *h) { s->lines[0].sku = S("y"); }
static void edit_rank(small_state *s, core_snap_header *h)
{
	core_snap_record t = s->recs[0];
	s->recs[0] = s->recs[1];
	s->recs[1] = t;
}
static void edit_order(small_state *s, core_snap_header *h)
{
	s->items[4] = location_item(2, "c"); /* a location after the reservations */
	h->locations = 3;
	h->keys = 0;
}
static void edit_count(small_state *s, core_snap_header *h) { h->keys = 2; }
static void edit_dup_loc(small_state *s, core_snap_header *h) { s->items[1] = location_item(1, "b"); }
static void edit_status(small_state *s, core_snap_header *h) { s->items[3].u.resv.status = 9; }
static void edit_units(small_state *s, core_snap_header *h) { s->allocs[0].qty = 2; }
static void edit_name(small_state *s, core_snap_header *h) { s->lines[0].sku = S("x\n"); }
static void edit_unknown(small_state *s, core_snap_header *h) { s->lines[0].sku_known = false; }
static void edit_committed(small_state *s, core_snap_header *h)
{
	s->items[3].u.resv.status = CORE_RESV_COMMITTED;
	s->items[3].u.resv.expires_at_ms = -1;
}
static void edit_committed_ok(small_state *s, core_snap_header *h)
{
	edit_committed(s, h);
	s->recs[1].reserved = 0;
	s->recs[1].committed = 3;
}
static void edit_qty(small_state *s, core_snap_header *h) { s->recs[0].on_hand = CORE_QTY_MAX + 1; }

Test(snapshot, inconsistent_items_are_refused_with_a_message_naming_the_problem)
{
	char msg[200];
	cr_assert_eq(restore_small(NULL, msg, sizeof(msg)), CORE_OK, "%s", msg);
	cr_assert_eq(restore_small(edit_committed_ok, msg, sizeof(msg)), CORE_OK, "%s", msg);
	static const struct {
		void (*edit)(small_state *, core_snap_header *);
		const char *says;
	} cases[] = {
		{ edit_claim, "reservations hold" },
		{ edit_committed, "reservations hold" },
		{ edit_seq, "sequence number" },
		{ edit_key_resv, "reservation 1 is not there" },
		{ edit_loc, "names location 5 of 2" },
		{ edit_no_record, "names no record" },
		{ edit_no_sku, "'y' is not a sku" },
		{ edit_rank, "name order" },
		{ edit_order, "out of order" },
		{ edit_count, "header says" },
		{ edit_dup_loc, "twice" },
		{ edit_status, "unknown status" },
		{ edit_units, "do not add up" },
		{ edit_name, "without control characters" },
		{ edit_unknown, "allocations but no sku" },
		{ edit_qty, "quantity" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = restore_small(cases[i].edit, msg, sizeof(msg));
		cr_assert_neq(rc, CORE_OK, "case %zu restored", i);
		cr_assert(strstr(msg, cases[i].says) != NULL, "case %zu: '%s' does not say '%s'", i, msg,
		    cases[i].says);
	}
	/* After a refusal, everything is refused the same way. */
	core_config cfg = walk_config();
	small_state s;
	small_items(&s);
	core_snap_header h = small_header();
	core_error err;
	core_restore *r = core_restore_begin(&cfg, &h, &err);
	cr_assert_not_null(r);
	s.items[1] = location_item(7, "z");
	cr_assert_eq(feed(r, s.items, 2, &err), CORE_E_BAD_REQUEST);
	cr_assert_eq(core_restore_item(r, &s.items[2], &err), CORE_E_BAD_REQUEST);
	cr_assert(strstr(err.message, "ids go 0, 1, 2") != NULL, "%s", err.message);
	cr_assert_null(core_restore_finish(r, &err));
}

Test(snapshot, a_chunk_the_store_refuses_stops_the_snapshot_with_an_error)
{
	core *a = realistic();
	chunks ch = { 0 };
	ch.chunk_bytes = 200;
	ch.fail_at = 3;
	const char *err = NULL;
	cr_assert_eq(snapshot_write(a, 1, 200, collect, &ch, NULL, &err), -1);
	cr_assert_not_null(err);
	cr_assert_eq(ch.n, 2, "nothing is emitted after the refusal");
	cr_assert_eq(snapshot_write(a, 1, 0, collect, &ch, NULL, &err), -1);
	chunks_free(&ch);
	core_destroy(a);
}
