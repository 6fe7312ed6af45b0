/*
 * test_expiry.c - holds expire at their deadline however many fall due at
 * once, core_advance() does a bounded amount of sweeping for it, and what
 * every read and command sees is what it would see had each hold been
 * swept at its deadline.
 *
 * Storms of 300,000 holds on one sku, sharing a deadline and each with its
 * own: one core_advance() makes every unit available and sweeps a few
 * dozen; the sweep then works through the rest in slices without changing
 * the state. Commands on an expired hold not swept yet refuse it as they
 * refuse a swept one. Seeded random walks with bursts of holds and jumps of
 * the clock (capacities, customers' limits, backorders, channels included)
 * run a core that sweeps lazily beside one that sweeps everything before
 * each command, through the journal into a replica, and through snapshots
 * taken while the sweep is behind: results and canonical dumps must match
 * after every step.
 */
#include <criterion/criterion.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"
#include "replay.h"
#include "random_cmd.h"

#define STORM 300000
/* core.h: past "a few dozen" due holds, core_advance() sweeps none more. */
#define ADVANCE_SWEEP_BOUND 64
#define SLICE 256
#define LINES_MAX 8

static core_str S(const char *s)
{
	return (core_str){ s, s ? (uint32_t)strlen(s) : 0 };
}

static core *mk(uint32_t reservations_max, int64_t retain_ms)
{
	core_config cfg;
	core_config_default(&cfg);
	cfg.reservations_max = reservations_max;
	cfg.retain_ms = retain_ms;
	cfg.lines_max = LINES_MAX;
	cfg.locations_max = 16;
	cfg.id_epoch = 7;
	core *c = core_create(&cfg);
	cr_assert_not_null(c);
	return c;
}

static void must(int rc, const core_error *err, const char *what)
{
	cr_assert_eq(rc, CORE_OK, "%s: %s %s", what, core_strerror(rc), err->message);
}

static void stock_set(core *c, const char *sku, const char *loc, int64_t on_hand, int64_t now)
{
	core_cmd cmd = { .type = CORE_CMD_STOCK_SET };
	cmd.u.stock = (core_stock_cmd){ .sku = S(sku), .location = S(loc), .on_hand = on_hand,
		.safety = -1, .if_version = -1 };
	core_result res;
	core_error err;
	must(core_exec(c, &cmd, now, &res, &err), &err, "stock.set");
}

static int reserve(core *c, int64_t now, const char *sku, int64_t qty, int64_t ttl,
    char id[CORE_RESERVATION_ID_LEN + 1], core_error *err)
{
	core_line_req line = { S(sku), qty };
	core_cmd cmd = { .type = CORE_CMD_RESERVE };
	cmd.u.reserve = (core_reserve_cmd){ .order_id = S("o"), .lines = &line, .nlines = 1, .ttl_ms = ttl };
	core_result res;
	int rc = core_exec(c, &cmd, now, &res, err);
	if (rc == CORE_OK && id) {
		core_resv_view v;
		core_resv_view_get(c, res.resv, &v);
		memcpy(id, v.id, sizeof(v.id));
	}
	return rc;
}

static void hold(core *c, int64_t now, const char *sku, int64_t qty, int64_t ttl,
    char id[CORE_RESERVATION_ID_LEN + 1])
{
	core_error err;
	must(reserve(c, now, sku, qty, ttl, id, &err), &err, "reserve");
}

static core_resv_view view_of(const core *c, const char *id)
{
	const core_resv *r;
	core_error err;
	must(core_resv_find(c, S(id), &r, &err), &err, "find");
	core_resv_view v;
	core_resv_view_get(c, r, &v);
	return v;
}

static int64_t avail(const core *c, const char *sku)
{
	uint32_t n;
	return core_avail(c, S(sku), (core_str){ NULL, 0 }, NULL, NULL, &n);
}

static void record_cb(void *ctx, const core_record_view *rec)
{
	*(core_record_view *)ctx = *rec;
}

static core_record_view record(const core *c, const char *sku, const char *loc)
{
	core_record_view v;
	uint32_t n;
	core_error err;
	must(core_stock_get(c, S(sku), S(loc), record_cb, &v, &n, &err), &err, "stock.get");
	return v;
}

static char *dump(const core *c)
{
	size_t need = core_dump(c, NULL, 0);
	char *buf = malloc(need + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(core_dump(c, buf, need + 1), need);
	return buf;
}

static void expect_same(const core *a, const core *b, const char *when, int step)
{
	char *da = dump(a), *db = dump(b);
	cr_assert(strcmp(da, db) == 0, "%s, step %d: dumps differ:\n%s\n---\n%s", when, step, da, db);
	free(da);
	free(db);
	core_stats sa, sb;
	core_stats_get(a, &sa);
	core_stats_get(b, &sb);
	cr_assert(memcmp(&sa, &sb, sizeof(sa)) == 0, "%s, step %d: stats differ", when, step);
	cr_assert_eq(core_next_deadline(a), core_next_deadline(b), "%s, step %d: next deadline", when, step);
}

/* Sweep c's backlog in slices: each within the budget, the state as it was. */
static uint32_t sweep_all(core *c, int64_t now)
{
	char *before = dump(c);
	uint32_t slices = 0;
	while (core_expiry_backlog(c) > 0) {
		uint64_t backlog = core_expiry_backlog(c);
		uint32_t done = core_sweep(c, now, SLICE);
		cr_assert_leq(done, SLICE);
		cr_assert_eq(core_expiry_backlog(c), backlog > SLICE ? backlog - SLICE : 0,
		    "a slice sweeps its budget of the backlog");
		slices++;
	}
	char *after = dump(c);
	cr_assert(strcmp(before, after) == 0, "sweeping changed what the state says");
	free(before);
	free(after);
	return slices;
}

/* ---- storms ------------------------------------------------------------------ */

Test(expiry, a_storm_sharing_a_deadline_expires_at_once_and_is_swept_in_slices, .timeout = 60)
{
	core *c = mk(STORM + 16, 3600000);
	stock_set(c, "S", "W1", STORM, 1000);
	/* Made over 300 ms, all due at 101000. */
	for (int i = 0; i < STORM; i++)
		hold(c, 1000 + i / 1000, "S", 1, 100000 - i / 1000, NULL);
	cr_assert_eq(avail(c, "S"), 0);
	cr_assert_eq(core_next_deadline(c), 101000);
	cr_assert_eq(core_advance(c, 100999), 0);
	cr_assert_eq(core_expiry_backlog(c), 0);

	/* One advance past the deadline: every unit available, a few swept. */
	cr_assert_eq(core_advance(c, 101000), STORM);
	uint64_t backlog = core_expiry_backlog(c);
	cr_assert_leq(STORM - backlog, ADVANCE_SWEEP_BOUND, "core_advance swept %llu holds",
	    (unsigned long long)(STORM - backlog));
	cr_assert_eq(avail(c, "S"), STORM);
	core_record_view rec = record(c, "S", "W1");
	cr_assert_eq(rec.reserved, 0);
	cr_assert_eq(rec.available, STORM);
	cr_assert_eq(rec.version, 1 + 2 * (uint64_t)STORM, "each reserve and each expiry is a version");
	core_stats st;
	core_stats_get(c, &st);
	cr_assert_eq(st.reservations[CORE_RESV_HELD], 0);
	cr_assert_eq(st.reservations[CORE_RESV_EXPIRED], STORM);
	cr_assert_eq(st.expired_total, STORM);
	cr_assert_eq(st.units_reserved, 0);
	cr_assert_eq(core_next_deadline(c), INT64_MAX);

	/* The very next request takes every unit, with no sweeping of its own. */
	char all[CORE_RESERVATION_ID_LEN + 1];
	hold(c, 101000, "S", STORM, 60000, all);
	cr_assert_eq(core_expiry_backlog(c), backlog);
	cr_assert_eq(avail(c, "S"), 0);
	cr_assert_eq(record(c, "S", "W1").reserved, STORM);
	cr_assert_eq(core_next_deadline(c), 161000);

	uint32_t slices = sweep_all(c, 101000);
	cr_assert_eq(slices, (backlog + SLICE - 1) / SLICE);
	cr_assert_eq(view_of(c, all).status, CORE_RESV_HELD);
	cr_assert_null(core_check(c));
	core_destroy(c);
}

Test(expiry, a_storm_of_distinct_deadlines_on_one_record_expires_up_to_the_clock, .timeout = 60)
{
	core *c = mk(STORM + 16, 3600000);
	stock_set(c, "S", "W1", STORM, 1000);
	/* Every hold its own deadline: 11000, 11001, ... */
	for (int i = 0; i < STORM; i++)
		hold(c, 1000, "S", 1, 10000 + i, NULL);
	/* Half of them fall due while the process is paused: the next advance
	 * expires exactly those, sweeping a few. */
	int64_t mid = 11000 + STORM / 2 - 1;
	cr_assert_eq(core_advance(c, mid), STORM / 2);
	uint64_t backlog = core_expiry_backlog(c);
	cr_assert_leq(STORM / 2 - backlog, ADVANCE_SWEEP_BOUND);
	cr_assert_eq(avail(c, "S"), STORM / 2);
	cr_assert_eq(core_next_deadline(c), mid + 1);
	core_stats st;
	core_stats_get(c, &st);
	cr_assert_eq(st.reservations[CORE_RESV_HELD], STORM / 2);
	cr_assert_eq(st.units_reserved, STORM / 2);
	cr_assert_null(core_check(c));

	/* The rest after another pause: the sweep is still behind, and this
	 * advance sweeps nothing. */
	cr_assert_eq(core_advance(c, 1000000), STORM / 2);
	cr_assert_eq(core_expiry_backlog(c), backlog + STORM / 2, "an advance while behind sweeps none");
	cr_assert_eq(avail(c, "S"), STORM);
	hold(c, 1000000, "S", STORM, 1000, NULL);
	cr_assert_eq(avail(c, "S"), 0);
	sweep_all(c, 1000000);
	cr_assert_null(core_check(c));
	core_destroy(c);
}

/* ---- commands on an expired hold not swept yet --------------------------------- */

static void refused(core *c, core_cmd_type type, const char *id, int64_t now)
{
	char *before = dump(c);
	core_line_req line = { S("S"), 1 };
	core_cmd cmd = { .type = type };
	cmd.u.resv = (core_resv_cmd){ .reservation_id = S(id), .ttl_ms = 1000 };
	if (type == CORE_CMD_RELEASE) {
		cmd.u.resv.lines = &line;
		cmd.u.resv.nlines = 1;
	}
	core_result res;
	core_error err;
	cr_assert_eq(core_exec(c, &cmd, now, &res, &err), CORE_E_INVALID_STATE);
	cr_assert(strstr(err.message, "is expired") != NULL, "%s", err.message);
	char *after = dump(c);
	cr_assert(strcmp(before, after) == 0, "a refused command changed the state");
	free(before);
	free(after);
}

Test(expiry, commands_on_an_expired_hold_not_swept_yet_refuse_it_as_expired)
{
	core *c = mk(1000, 3600000);
	stock_set(c, "S", "W1", 500, 1000);
	char ids[100][CORE_RESERVATION_ID_LEN + 1];
	for (int i = 0; i < 100; i++)
		hold(c, 1000, "S", 2, 1000, ids[i]);
	char kept[CORE_RESERVATION_ID_LEN + 1];
	hold(c, 1000, "S", 3, 5000, kept);
	cr_assert_eq(core_advance(c, 2500), 100);
	cr_assert_gt(core_expiry_backlog(c), 0);
	/* Swept in id order: the last is not swept. */
	const char *lazy = ids[99];
	core_resv_view v = view_of(c, lazy);
	cr_assert_eq(v.status, CORE_RESV_EXPIRED);
	cr_assert_eq(v.expires_at_ms, 2000, "it expired at its deadline");
	const core_resv *r;
	core_error err;
	must(core_resv_find(c, S(lazy), &r, &err), &err, "find");
	core_line_view lv;
	core_resv_line_get(c, r, 0, &lv);
	core_alloc_view av;
	core_resv_alloc_get(c, r, 0, 0, &av);
	cr_assert_eq(av.qty, 2, "an expired hold's allocation is as it was at expiry");
	refused(c, CORE_CMD_COMMIT, lazy, 2500);
	refused(c, CORE_CMD_RELEASE, lazy, 2500);
	refused(c, CORE_CMD_EXTEND, lazy, 2500);
	core_cmd cmd = { .type = CORE_CMD_FULFILL };
	cmd.u.resv = (core_resv_cmd){ .reservation_id = S(lazy) };
	core_result res;
	cr_assert_eq(core_exec(c, &cmd, 2500, &res, &err), CORE_E_INVALID_STATE);
	/* The live one is untouched, and commits. */
	cmd = (core_cmd){ .type = CORE_CMD_COMMIT };
	cmd.u.resv = (core_resv_cmd){ .reservation_id = S(kept) };
	must(core_exec(c, &cmd, 2500, &res, &err), &err, "commit");
	core_record_view rec = record(c, "S", "W1");
	cr_assert_eq(rec.reserved, 0);
	cr_assert_eq(rec.committed, 3);
	cr_assert_eq(rec.available, 497);
	cr_assert_null(core_check(c));
	sweep_all(c, 2500);
	cr_assert_eq(view_of(c, lazy).status, CORE_RESV_EXPIRED);
	cr_assert_null(core_check(c));
	core_destroy(c);
}

/* ---- backorders ------------------------------------------------------------------ */

static void inbound_cb(void *ctx, const core_inbound_view *v)
{
	int64_t **out = ctx;
	*(*out)++ = v->backordered;
}

/* What inbound.list shows backordered, entry by entry (at most 8). */
static void backordered(const core *c, const char *sku, int64_t *out, uint32_t n)
{
	int64_t got[8], *p = got;
	cr_assert_eq(core_incoming(c, S(sku), NULL, inbound_cb, &p), n);
	memcpy(out, got, n * sizeof(*out));
}

static void inbound(core *c, const char *sku, const char *loc, int64_t qty, int64_t eta, int64_t now)
{
	core_cmd cmd = { .type = CORE_CMD_INBOUND_ADD };
	cmd.u.inbound = (core_inbound_cmd){ .sku = S(sku), .location = S(loc), .qty = qty, .eta_ms = eta };
	core_result res;
	core_error err;
	must(core_exec(c, &cmd, now, &res, &err), &err, "inbound.add");
}

static void backorder(core *c, int64_t now, int64_t qty, int64_t ttl, char id[CORE_RESERVATION_ID_LEN + 1])
{
	core_line_req line = { S("I"), qty };
	core_cmd cmd = { .type = CORE_CMD_RESERVE };
	cmd.u.reserve = (core_reserve_cmd){ .order_id = S("o"), .lines = &line, .nlines = 1, .ttl_ms = ttl,
		.allow_backorder = true };
	core_result res;
	core_error err;
	must(core_exec(c, &cmd, now, &res, &err), &err, "backorder");
	if (id) {
		core_resv_view v;
		core_resv_view_get(c, res.resv, &v);
		memcpy(id, v.id, sizeof(v.id));
	}
}

static void by_id(core *c, core_cmd_type type, const char *id, int64_t now)
{
	core_cmd cmd = { .type = type };
	cmd.u.resv = (core_resv_cmd){ .reservation_id = S(id) };
	core_result res;
	core_error err;
	must(core_exec(c, &cmd, now, &res, &err), &err, "by id");
}

Test(expiry, backorders_of_expired_holds_go_back_to_the_latest_inbound_entries)
{
	core *c = mk(1000, 3600000);
	static const char *const names[] = { "W9", "W1", "W2", "W3" };
	for (int i = 0; i < 4; i++) {
		core_cmd cmd = { .type = CORE_CMD_LOCATION_PUT };
		cmd.u.location = (core_location_cmd){ .location = S(names[i]), .capacity = -1, .enabled = -1 };
		core_result res;
		core_error err;
		must(core_exec(c, &cmd, 1000, &res, &err), &err, "location.put");
	}
	/* A location whose entries all ship leaves nothing to remember: its
	 * slot makes room for others. */
	inbound(c, "I", "W9", 2, 4000, 1000);
	char shipped[CORE_RESERVATION_ID_LEN + 1];
	backorder(c, 1000, 2, 60000, shipped);
	by_id(c, CORE_CMD_COMMIT, shipped, 1000);
	by_id(c, CORE_CMD_FULFILL, shipped, 1000);
	cr_assert_eq(core_incoming(c, S("I"), NULL, NULL, NULL), 0);
	inbound(c, "I", "W1", 40, 5000, 1000);
	inbound(c, "I", "W1", 40, 6000, 1000);
	for (int i = 0; i < 50; i++)
		backorder(c, 1000, 1, 1000, NULL);  /* due 2000 */
	for (int i = 0; i < 20; i++)
		backorder(c, 1000, 1, 5000, NULL);  /* due 6000 */
	int64_t b[2];
	backordered(c, "I", b, 2);
	cr_assert(b[0] == 40 && b[1] == 30, "%lld %lld", (long long)b[0], (long long)b[1]);
	/* 50 expire: their units leave the latest entries first, swept or not. */
	cr_assert_eq(core_advance(c, 2500), 50);
	cr_assert_gt(core_expiry_backlog(c), 0);
	backordered(c, "I", b, 2);
	cr_assert(b[0] == 20 && b[1] == 0, "%lld %lld", (long long)b[0], (long long)b[1]);
	/* A new backorder takes the earliest room, as after a sweep. */
	backorder(c, 2500, 30, 5000, NULL);
	backordered(c, "I", b, 2);
	cr_assert(b[0] == 40 && b[1] == 10, "%lld %lld", (long long)b[0], (long long)b[1]);
	sweep_all(c, 2500);
	backordered(c, "I", b, 2);
	cr_assert(b[0] == 40 && b[1] == 10, "sweeping gave them back twice: %lld %lld", (long long)b[0],
	    (long long)b[1]);
	/* More locations than slots were made for: the shipped one's goes. */
	inbound(c, "I", "W2", 5, 7000, 2500);
	inbound(c, "I", "W3", 5, 8000, 2500);
	cr_assert_null(core_check(c));
	core_destroy(c);
}

/* ---- forgetting ------------------------------------------------------------------ */

Test(expiry, finished_reservations_are_forgotten_in_the_order_they_finished)
{
	core *c = mk(200, 1000);
	stock_set(c, "S", "W1", 1000, 1000);
	char early[50][CORE_RESERVATION_ID_LEN + 1], late[50][CORE_RESERVATION_ID_LEN + 1];
	char rel1[CORE_RESERVATION_ID_LEN + 1], rel2[CORE_RESERVATION_ID_LEN + 1];
	for (int i = 0; i < 50; i++)
		hold(c, 1000, "S", 1, 500, early[i]); /* due 1500 */
	for (int i = 0; i < 50; i++)
		hold(c, 1000, "S", 1, 700, late[i]);  /* due 1700 */
	hold(c, 1000, "S", 1, 60000, rel1);
	hold(c, 1000, "S", 1, 60000, rel2);
	core_cmd cmd = { .type = CORE_CMD_RELEASE };
	core_result res;
	core_error err;
	/* Released at 1600, between the two storms; each storm is expired by
	 * the next request and left to the sweep. */
	cmd.u.resv = (core_resv_cmd){ .reservation_id = S(rel1) };
	must(core_exec(c, &cmd, 1600, &res, &err), &err, "release");
	cmd.u.resv = (core_resv_cmd){ .reservation_id = S(rel2) };
	must(core_exec(c, &cmd, 1800, &res, &err), &err, "release");
	cr_assert_gt(core_expiry_backlog(c), 50);
	/* At 2599 the first storm is past its retention, not the release at
	 * 1600: the sweep first works through the backlog, then forgets the 50. */
	uint32_t forgot = 0, forgot_keys = 0, total = 0;
	for (int i = 0; i < 100; i++) {
		core_sweep(c, 2599, 16);
		core_sweep_forgot(c, &forgot, &forgot_keys);
		total += forgot;
	}
	cr_assert_eq(total, 50);
	core_error e;
	const core_resv *r;
	cr_assert_eq(core_resv_find(c, S(early[49]), &r, &e), CORE_E_NOT_FOUND);
	must(core_resv_find(c, S(rel1), &r, &e), &e, "the release at 1600 stays");
	must(core_resv_find(c, S(late[0]), &r, &e), &e, "the second storm stays");
	/* A full table forgets the oldest finished, swept or not: the second
	 * storm (due 1700) before the release at 1800, after the one at 1600. */
	cr_assert_eq(core_advance(c, 2600), 0);
	core *d = mk(102, 1000000);
	stock_set(d, "S", "W1", 1000, 1000);
	char d_early[40][CORE_RESERVATION_ID_LEN + 1], d_rel[CORE_RESERVATION_ID_LEN + 1];
	hold(d, 1000, "S", 1, 60000, d_rel);
	for (int i = 0; i < 40; i++)
		hold(d, 1000, "S", 1, 700, d_early[i]); /* due 1700 */
	cmd.u.resv = (core_resv_cmd){ .reservation_id = S(d_rel) };
	must(core_exec(d, &cmd, 1600, &res, &err), &err, "release");
	for (int i = 0; i < 61; i++)
		hold(d, 1800, "S", 1, 60000, NULL);
	cr_assert_gt(core_expiry_backlog(d), 0);
	/* 102 reservations: the next forgets the release (1600), then the
	 * expiries in id order, swept or not. */
	hold(d, 1800, "S", 1, 60000, NULL);
	cr_assert_eq(core_resv_find(d, S(d_rel), &r, &e), CORE_E_NOT_FOUND);
	must(core_resv_find(d, S(d_early[0]), &r, &e), &e, "the expiries stay");
	for (int i = 0; i < 39; i++)
		hold(d, 1800, "S", 1, 60000, NULL);
	cr_assert_eq(core_resv_find(d, S(d_early[38]), &r, &e), CORE_E_NOT_FOUND);
	must(core_resv_find(d, S(d_early[39]), &r, &e), &e, "in id order");
	cr_assert_null(core_check(d));
	cr_assert_null(core_check(c));
	core_destroy(c);
	core_destroy(d);
}

/* ---- a reserve meeting holds expired but not swept -------------------------------- */

static void reserve_for(core *c, int64_t now, const char *sku, int64_t qty, int64_t ttl, const char *customer,
    char id[CORE_RESERVATION_ID_LEN + 1])
{
	core_line_req line = { S(sku), qty };
	core_cmd cmd = { .type = CORE_CMD_RESERVE };
	cmd.u.reserve = (core_reserve_cmd){ .order_id = S("o"), .lines = &line, .nlines = 1, .ttl_ms = ttl,
		.customer_id = S(customer) };
	core_result res;
	core_error err;
	must(core_exec(c, &cmd, now, &res, &err), &err, "reserve");
	if (id) {
		core_resv_view v;
		core_resv_view_get(c, res.resv, &v);
		memcpy(id, v.id, sizeof(v.id));
	}
}

Test(expiry, a_full_table_forgets_an_unswept_hold_of_the_customer_reserving_again)
{
	core *c = mk(42, 3600000);
	stock_set(c, "L", "W1", 1000, 1000);
	core_cmd put = { .type = CORE_CMD_SKU_PUT };
	put.u.sku = (core_sku_cmd){ .sku = S("L"), .per_order = -1, .per_customer = 100, .low_stock = -1 };
	core_result res;
	core_error err;
	must(core_exec(c, &put, 1000, &res, &err), &err, "sku.put");
	for (int i = 0; i < 40; i++)
		reserve_for(c, 1000, "L", 1, 1000, "c-2", NULL); /* due 2000 */
	char b[CORE_RESERVATION_ID_LEN + 1];
	reserve_for(c, 1000, "L", 1, 1500, "c-1", b);        /* due 2500: c-1's only unit */
	cr_assert_eq(core_advance(c, 2000), 40);
	cr_assert_eq(core_advance(c, 2600), 1);              /* behind: b is not swept */
	/* The 40 go (as a journal's sweep replays): b is the oldest now. */
	must(core_forget(c, 2600, 40, 0, &err), &err, "forget");
	cr_assert_eq(core_expiry_backlog(c), 1);
	cr_assert_eq(view_of(c, b).status, CORE_RESV_EXPIRED);
	for (int i = 0; i < 41; i++)
		reserve_for(c, 2600, "L", 1, 60000, i % 2 ? "c-3" : "c-4", NULL);
	cr_assert_eq(core_expiry_backlog(c), 1);
	/* The table is full: c-1 reserving again (its whole limit: b counts
	 * no more) forgets b, whose sweep ends c-1's count of L before the new
	 * hold starts it again. */
	reserve_for(c, 2600, "L", 100, 1000, "c-1", NULL);
	const core_resv *r;
	cr_assert_eq(core_resv_find(c, S(b), &r, &err), CORE_E_NOT_FOUND);
	char *d = dump(c);
	cr_assert(strstr(d, "customer c-1 sku=L units=100\n") != NULL, "%s", d);
	free(d);
	cr_assert_null(core_check(c));
	core_destroy(c);
}

Test(expiry, a_record_counting_huge_unswept_holds_still_takes_every_unit)
{
	core *c = mk(1000, 3600000);
	stock_set(c, "H", "W1", CORE_QTY_MAX, 1000);
	int64_t x = CORE_QTY_MAX / 100;
	for (int i = 0; i < 100; i++)
		hold(c, 1000, "H", x, 1000, NULL);
	cr_assert_eq(core_advance(c, 2000), 100);
	for (int i = 0; i < 100; i++)
		hold(c, 2000, "H", x, 1000, NULL);
	cr_assert_eq(core_advance(c, 3000), 100);
	/* At least 136 of those holds are not swept: with all the units again
	 * they would not fit a record's count, so this reserve sweeps them
	 * first. */
	cr_assert_geq(core_expiry_backlog(c), 200 - ADVANCE_SWEEP_BOUND);
	cr_assert_eq(avail(c, "H"), CORE_QTY_MAX);
	hold(c, 3000, "H", CORE_QTY_MAX, 1000, NULL);
	cr_assert_eq(core_expiry_backlog(c), 0);
	core_record_view rec = record(c, "H", "W1");
	cr_assert_eq(rec.reserved, CORE_QTY_MAX);
	cr_assert_eq(rec.available, 0);
	cr_assert_null(core_check(c));
	core_destroy(c);
}

/* ---- walks --------------------------------------------------------------------- */

/* Two cores given the same commands: the results must match. */
static void same_result(const core *a, const core *b, int x, int y, const core_result *ra,
    const core_result *rb, const core_error *ea, const core_error *eb, int step)
{
	cr_assert_eq(x, y, "step %d: %s (%s) vs %s (%s)", step, core_strerror(x), x ? ea->message : "",
	    core_strerror(y), y ? eb->message : "");
	if (x != CORE_OK) {
		cr_assert_str_eq(ea->message, eb->message, "step %d", step);
		cr_assert_eq(ea->nshort, eb->nshort, "step %d", step);
		for (uint32_t i = 0; i < ea->nshort; i++)
			cr_assert_eq(ea->short_lines[i].available, eb->short_lines[i].available, "step %d", step);
		return;
	}
	cr_assert_eq(ra->kind, rb->kind);
	cr_assert_eq(ra->replayed, rb->replayed, "step %d", step);
	if (ra->kind == CORE_RESULT_RECORD) {
		const core_record_view *p = &ra->record, *q = &rb->record;
		cr_assert(p->reserved == q->reserved && p->available == q->available && p->version == q->version &&
		    p->oversold == q->oversold && p->on_hand == q->on_hand, "step %d: records differ", step);
	} else if (ra->kind == CORE_RESULT_LOCATION) {
		cr_assert_eq(ra->location.open_shipments, rb->location.open_shipments, "step %d", step);
	} else if (ra->kind == CORE_RESULT_INBOUND) {
		cr_assert_eq(ra->inbound.backordered, rb->inbound.backordered, "step %d", step);
	} else if (ra->kind == CORE_RESULT_RESV) {
		core_resv_view va, vb;
		core_resv_view_get(a, ra->resv, &va);
		core_resv_view_get(b, rb->resv, &vb);
		cr_assert(strcmp(va.id, vb.id) == 0 && va.status == vb.status &&
		    va.expires_at_ms == vb.expires_at_ms, "step %d: reservations differ", step);
	}
}

static int exec_both(core *a, core *b, const core_cmd *cmd, int64_t now, int step, core_result *out)
{
	core_result ra, rb;
	core_error ea, eb;
	memset(&ra, 0, sizeof(ra));
	memset(&rb, 0, sizeof(rb));
	int x = core_exec(a, cmd, now, &ra, &ea);
	int y = core_exec(b, cmd, now, &rb, &eb);
	same_result(a, b, x, y, &ra, &rb, &ea, &eb, step);
	if (out)
		*out = ra;
	return x;
}

/* A walk's commands: random ones (random_cmd.h) and, now and then, a burst
 * of one-unit holds of one sku at one location (well stocked, with
 * inbound units to backorder against, a capacity and a per-customer limit
 * to count against) made to fall due together. */
typedef struct walk {
	rng g;
	int64_t now;
	char (*ids)[32];
	int nids, cap_ids;
	int lazy_steps;   /* steps that found holds expired but not swept */
} walk;

static void walk_init(walk *w, uint64_t seed, int steps)
{
	*w = (walk){ .g = { seed }, .now = 1000, .cap_ids = steps * 40 };
	w->ids = calloc((size_t)w->cap_ids, 32);
	cr_assert_not_null(w->ids);
}

static void remember(walk *w, const core *a, int rc, const core_cmd *cmd, const core_result *res)
{
	if (rc == CORE_OK && cmd->type == CORE_CMD_RESERVE && !res->replayed && w->nids < w->cap_ids) {
		core_resv_view v;
		core_resv_view_get(a, res->resv, &v);
		memcpy(w->ids[w->nids++], v.id, sizeof(v.id));
	}
}

/* The next command of the walk into *cmd (lines, order: its scratch). */
static void walk_cmd(walk *w, int i, core_cmd *cmd, core_line_req *lines, char *order)
{
	snprintf(order, 32, "o-%d", i);
	random_cmd(&w->g, cmd, lines, w->ids, w->nids, order);
}

/* The commands of a burst, for exec() to run on the walk's cores. */
static void burst(walk *w, int step, void (*exec)(void *ctx, const core_cmd *cmd, int64_t now), void *ctx)
{
	uint64_t x = next(&w->g);
	const char *sku = skus[x % 4], *loc = locs[(x >> 2) % 4];
	int n = 40 + (int)((x >> 4) % 60);
	core_cmd cmd = { .type = CORE_CMD_STOCK_SET };
	cmd.u.stock = (core_stock_cmd){ .sku = S(sku), .location = S(loc), .on_hand = (int64_t)n * 3 / 4,
		.safety = -1, .if_version = -1 };
	exec(ctx, &cmd, w->now);
	if ((x >> 11) % 3 == 0) {
		cmd = (core_cmd){ .type = CORE_CMD_INBOUND_ADD };
		cmd.u.inbound = (core_inbound_cmd){ .sku = S(sku), .location = S(loc), .qty = 30, .eta_ms = 9000 };
		exec(ctx, &cmd, w->now);
	}
	if ((x >> 13) % 3 == 0) {
		cmd = (core_cmd){ .type = CORE_CMD_LOCATION_PUT };
		cmd.u.location = (core_location_cmd){ .location = S(loc), .capacity = 30 + (int64_t)((x >> 15) % 40),
			.enabled = -1 };
		exec(ctx, &cmd, w->now);
	}
	if ((x >> 21) % 3 == 0) {
		cmd = (core_cmd){ .type = CORE_CMD_SKU_PUT };
		cmd.u.sku = (core_sku_cmd){ .sku = S(sku), .per_order = -1, .per_customer = 15 + (int64_t)((x >> 23) % 30),
			.low_stock = -1 };
		exec(ctx, &cmd, w->now);
	}
	int64_t ttl = 300 + (int64_t)((x >> 30) % 2000);
	for (int i = 0; i < n; i++) {
		uint64_t y = next(&w->g);
		static core_line_req line;
		static char order[32];
		snprintf(order, sizeof(order), "b-%d-%d", step, i);
		line = (core_line_req){ S(sku), 1 };
		cmd = (core_cmd){ .type = CORE_CMD_RESERVE };
		cmd.u.reserve = (core_reserve_cmd){ .order_id = S(order), .lines = &line, .nlines = 1,
			/* the same deadline, or a few, or each its own */
			.ttl_ms = (y & 3) == 0 ? ttl : ttl + (int64_t)(y >> 2) % ((x >> 40) % 2 ? 50 : 1000),
			.allow_backorder = (y >> 12) & 1 };
		if ((y >> 13) % 3)
			cmd.u.reserve.customer_id = S(routing_customers[(y >> 15) % 3]);
		exec(ctx, &cmd, w->now);
	}
}

/* ---- a lazy core beside an eager one ---- */

typedef struct duo {
	core *lazy, *eager;
	walk *w;
	int step;
} duo;

/* What one core's sweep forgot, the other forgets too (as a journal
 * replays it). */
static void forget_too(core *from, core *to)
{
	uint32_t r, k;
	core_sweep_forgot(from, &r, &k);
	core_error err;
	if (r || k)
		must(core_forget(to, core_now(from), r, k, &err), &err, "forget");
}

static void duo_exec(void *ctx, const core_cmd *cmd, int64_t now)
{
	duo *d = ctx;
	/* The eager core sweeps everything due before each command. */
	core_sweep(d->eager, now, UINT32_MAX);
	forget_too(d->eager, d->lazy);
	core_result res;
	int rc = exec_both(d->lazy, d->eager, cmd, now, d->step, &res);
	remember(d->w, d->lazy, rc, cmd, &res);
	d->w->lazy_steps += core_expiry_backlog(d->lazy) > 0;
}

static void lazy_beside_eager(uint64_t seed, int steps)
{
	walk w;
	walk_init(&w, seed, steps);
	duo d = { mk(400, 6000), mk(400, 6000), &w, 0 };
	for (int step = 0; step < steps; step++) {
		d.step = step;
		uint64_t x = next(&w.g);
		w.now += (x % 13 == 0) ? 2000 + (int64_t)(x % 3000) : (int64_t)(x % 120);
		if (x % 17 == 0) {
			burst(&w, step, duo_exec, &d);
		} else if (x % 5 == 0) {
			/* The timer's slice on the lazy side; what it forgets, the
			 * eager side forgets too. */
			core_sweep(d.lazy, w.now, 1 + (uint32_t)((x >> 8) % 40));
			forget_too(d.lazy, d.eager);
			core_advance(d.lazy, w.now);
			core_sweep(d.eager, w.now, UINT32_MAX);
			forget_too(d.eager, d.lazy);
		} else {
			core_cmd cmd;
			core_line_req lines[LINES_MAX];
			char order[32];
			walk_cmd(&w, step, &cmd, lines, order);
			duo_exec(&d, &cmd, w.now);
		}
		expect_same(d.lazy, d.eager, "lazy beside eager", step);
		if (step % 50 == 0) {
			const char *why = core_check(d.lazy);
			cr_assert_null(why, "step %d: %s", step, why);
		}
	}
	cr_assert_null(core_check(d.lazy));
	cr_assert_null(core_check(d.eager));
	cr_assert_gt(w.lazy_steps, steps / 20, "seed %llu: holds were expired but not swept in %d steps only",
	    (unsigned long long)seed, w.lazy_steps);
	cr_log_info("seed %llu: %d steps, %d reservations, %d with holds not swept", (unsigned long long)seed,
	    steps, w.nids, w.lazy_steps);
	core_destroy(d.lazy);
	core_destroy(d.eager);
	free(w.ids);
}

Test(expiry, a_core_that_sweeps_lazily_matches_one_that_sweeps_at_once_seed_1, .timeout = 120)
{
	lazy_beside_eager(1, 1500);
}

Test(expiry, a_core_that_sweeps_lazily_matches_one_that_sweeps_at_once_seed_2, .timeout = 120)
{
	lazy_beside_eager(2, 1500);
}

Test(expiry, a_core_that_sweeps_lazily_matches_one_that_sweeps_at_once_seed_3, .timeout = 120)
{
	lazy_beside_eager(0xe8917, 1500);
}

/* ---- the journal ---- */

typedef struct replica {
	core *a, *b;
	mp_buf journal;
	walk *w;
	int step;
} replica;

static void replay_last(replica *p, size_t start)
{
	core_line_req lines[LINES_MAX];
	core_str names[16];
	journal_scratch scratch = { lines, LINES_MAX, names, 16 };
	journal_entry e;
	const char *why = NULL;
	cr_assert_eq(journal_decode(p->journal.data + start, p->journal.len - start, &e, &scratch, &why), 0,
	    "step %d: %s", p->step, why);
	core_error err;
	cr_assert_eq(replay_apply(p->b, &e, &err), CORE_OK, "step %d: %s", p->step, err.message);
}

static void replica_exec(void *ctx, const core_cmd *cmd, int64_t now)
{
	replica *p = ctx;
	core_result res;
	core_error err;
	int rc = core_exec(p->a, cmd, now, &res, &err);
	remember(p->w, p->a, rc, cmd, &res);
	p->w->lazy_steps += core_expiry_backlog(p->a) > 0;
	if (rc != CORE_OK)
		return;
	size_t start = p->journal.len;
	journal_encode_cmd(&p->journal, cmd, core_now(p->a), (core_str){ "-", 1 });
	cr_assert(!mp_buf_failed(&p->journal));
	replay_last(p, start);
}

Test(expiry, the_journal_replays_a_state_with_holds_expired_but_not_swept, .timeout = 120)
{
	walk w;
	walk_init(&w, 77, 1500);
	replica p = { mk(400, 4000), mk(400, 4000), { 0 }, &w, 0 };
	mp_buf_init(&p.journal);
	int sweeps = 0;
	for (int step = 0; step < 1500; step++) {
		p.step = step;
		uint64_t x = next(&w.g);
		w.now += (x % 13 == 0) ? 2000 + (int64_t)(x % 3000) : (int64_t)(x % 120);
		if (x % 17 == 0) {
			burst(&w, step, replica_exec, &p);
		} else if (x % 5 == 0) {
			uint32_t r, k;
			int64_t at = core_now(p.a) > w.now ? core_now(p.a) : w.now;
			core_sweep(p.a, w.now, 1 + (uint32_t)((x >> 8) % 40));
			core_sweep_forgot(p.a, &r, &k);
			if (r || k) {
				size_t start = p.journal.len;
				journal_encode_sweep(&p.journal, at, r, k);
				replay_last(&p, start);
				sweeps++;
			}
			continue;
		} else {
			core_cmd cmd;
			core_line_req lines[LINES_MAX];
			char order[32];
			walk_cmd(&w, step, &cmd, lines, order);
			replica_exec(&p, &cmd, w.now);
		}
		/* As recovery does: the replica's clock to the present. */
		core_advance(p.b, core_now(p.a));
		expect_same(p.a, p.b, "replayed", step);
	}
	cr_assert_gt(sweeps, 5);
	cr_assert_gt(w.lazy_steps, 50);
	/* The whole journal again into a third core. */
	core *c = mk(400, 4000);
	size_t pos = 0;
	mp_limits lim = { 1 << 20, 8, 1024, 64, 1024 };
	while (pos < p.journal.len) {
		size_t len;
		const char *why;
		cr_assert_eq(mp_scan(p.journal.data + pos, p.journal.len - pos, &lim, &len, &why), MP_OK);
		core_line_req lines[LINES_MAX];
		core_str names[16];
		journal_scratch scratch = { lines, LINES_MAX, names, 16 };
		journal_entry e;
		cr_assert_eq(journal_decode(p.journal.data + pos, len, &e, &scratch, &why), 0);
		core_error err;
		cr_assert_eq(replay_apply(c, &e, &err), CORE_OK, "%s", err.message);
		pos += len;
	}
	core_advance(c, core_now(p.a));
	expect_same(p.a, c, "replayed from the start", 1500);
	cr_assert_null(core_check(c));
	core_destroy(c);
	core_destroy(p.a);
	core_destroy(p.b);
	mp_buf_finish(&p.journal);
	free(w.ids);
}

/* ---- snapshots ---- */

/* Restore a copy of a through the snapshot cursor. */
static core *copy_of(const core *a)
{
	core_snap_header hdr;
	core_snap_cursor *cur = core_snap_open(a, &hdr);
	cr_assert_not_null(cur);
	core_error err;
	core_restore *r = core_restore_begin(core_get_config(a), &hdr, &err);
	cr_assert_not_null(r, "%s", err.message);
	core_snap_item item;
	while (core_snap_next(cur, &item))
		cr_assert_eq(core_restore_item(r, &item, &err), CORE_OK, "%s", err.message);
	core_snap_close(cur);
	core *b = core_restore_finish(r, &err);
	cr_assert_not_null(b, "%s", err.message);
	return b;
}

static void pair_exec(void *ctx, const core_cmd *cmd, int64_t now)
{
	duo *d = ctx;
	core_result res;
	int rc = exec_both(d->lazy, d->eager, cmd, now, d->step, &res);
	remember(d->w, d->lazy, rc, cmd, &res);
}

Test(expiry, a_snapshot_taken_while_the_sweep_is_behind_restores_the_same_state, .timeout = 120)
{
	walk w;
	walk_init(&w, 99, 1200);
	core *a = mk(400, 3000);
	duo d = { a, NULL, &w, 0 };
	int snapshots = 0;
	for (int step = 0; step < 1200; step++) {
		d.step = step;
		uint64_t x = next(&w.g);
		w.now += (x % 13 == 0) ? 2000 + (int64_t)(x % 3000) : (int64_t)(x % 120);
		if (d.eager == NULL || (x % 23 == 0 && core_expiry_backlog(d.lazy) > 0)) {
			/* A snapshot now, restored: the copy goes on beside it. */
			core *b = copy_of(d.lazy);
			expect_same(d.lazy, b, "just restored", step);
			cr_assert_eq(core_expiry_backlog(b), 0, "a restored core has every expiry swept");
			core_destroy(d.eager);
			d.eager = b;
			snapshots += core_expiry_backlog(d.lazy) > 0;
			if ((x >> 40) & 1) { /* go on from the copy */
				d.eager = d.lazy;
				d.lazy = b;
			}
			continue;
		}
		if (x % 17 == 0) {
			burst(&w, step, pair_exec, &d);
		} else if (x % 5 == 0) {
			core_sweep(d.lazy, w.now, 1 + (uint32_t)((x >> 8) % 40));
			forget_too(d.lazy, d.eager);
			core_advance(d.lazy, w.now);
			core_advance(d.eager, w.now);
		} else {
			core_cmd cmd;
			core_line_req lines[LINES_MAX];
			char order[32];
			walk_cmd(&w, step, &cmd, lines, order);
			pair_exec(&d, &cmd, w.now);
		}
		expect_same(d.lazy, d.eager, "beside its restored copy", step);
	}
	cr_assert_gt(snapshots, 3, "only %d snapshots were taken while the sweep was behind", snapshots);
	cr_assert_null(core_check(d.lazy));
	cr_assert_null(core_check(d.eager));
	core_destroy(d.lazy);
	core_destroy(d.eager);
	free(w.ids);
}
