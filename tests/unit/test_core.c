/*
 * test_core.c - unit tests for the pure core (engine/core): scenario tests
 * with exact values for every command and error path, expiry and retention,
 * and a seeded random test against an independent reference model that
 * checks the whole observable state after every step.
 *
 * The core pointer is always called `c`: `core` is the typedef.
 */
#include <criterion/criterion.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

/* ------------------------------------------------------------------------
 * Helpers
 * --------------------------------------------------------------------- */

static core_str S(const char *s)
{
	return (core_str){ s, s ? (uint32_t)strlen(s) : 0 };
}

/* An optional string not given. */
#define ABSENT ((core_str){ NULL, 0 })

static bool str_is(core_str s, const char *want)
{
	return s.len == strlen(want) && memcmp(s.p, want, s.len) == 0;
}

static core *mk_cfg(const core_config *cfg)
{
	core *c = core_create(cfg);
	cr_assert_not_null(c);
	return c;
}

static core *mk(void)
{
	core_config cfg;
	core_config_default(&cfg);
	return mk_cfg(&cfg);
}

/* Every scenario ends with the core's own invariant check. */
static void done(core *c)
{
	const char *why = core_check(c);
	cr_assert_null(why, "core_check: %s", why ? why : "");
	core_destroy(c);
}

static int stock_set(core *c, int64_t now, const char *sku, const char *loc, int64_t on_hand,
    int64_t safety, int64_t if_version, core_result *res, core_error *err)
{
	core_cmd cmd = { .type = CORE_CMD_STOCK_SET };
	cmd.u.stock = (core_stock_cmd){ .sku = S(sku), .location = S(loc), .on_hand = on_hand,
		.safety = safety, .if_version = if_version };
	return core_exec(c, &cmd, now, res, err);
}

/* stock.set that must succeed (safety kept, unconditional). */
static void put(core *c, const char *sku, const char *loc, int64_t on_hand)
{
	core_result res;
	core_error err;
	int rc = stock_set(c, 0, sku, loc, on_hand, -1, -1, &res, &err);
	cr_assert_eq(rc, CORE_OK, "stock.set %s@%s: %s", sku, loc, err.message);
}

static int stock_adjust(core *c, int64_t now, const char *sku, const char *loc, int64_t delta,
    const char *key, const char *reason, core_result *res, core_error *err)
{
	core_cmd cmd = { .type = CORE_CMD_STOCK_ADJUST };
	cmd.u.stock = (core_stock_cmd){ .sku = S(sku), .location = S(loc), .delta = delta,
		.safety = -1, .if_version = -1, .reason = S(reason), .idempotency_key = S(key) };
	return core_exec(c, &cmd, now, res, err);
}

static int restock(core *c, int64_t now, const char *sku, const char *loc, int64_t qty,
    core_result *res, core_error *err)
{
	core_cmd cmd = { .type = CORE_CMD_RESTOCK };
	cmd.u.stock = (core_stock_cmd){ .sku = S(sku), .location = S(loc), .delta = qty,
		.safety = -1, .if_version = -1 };
	return core_exec(c, &cmd, now, res, err);
}

/* Up to 8 lines given as sku, qty pairs; NULL sku ends the list. */
typedef struct lines8 {
	const char *sku[8];
	int64_t qty[8];
} lines8;

static uint32_t lines_of(const lines8 *in, core_line_req *out)
{
	uint32_t n = 0;
	while (n < 8 && in->sku[n]) {
		out[n] = (core_line_req){ S(in->sku[n]), in->qty[n] };
		n++;
	}
	return n;
}

static int reserve_n(core *c, int64_t now, const char *order, const core_line_req *lines,
    uint32_t n, int64_t ttl_ms, bool allow_partial, const char *key,
    core_result *res, core_error *err)
{
	core_cmd cmd = { .type = CORE_CMD_RESERVE };
	cmd.u.reserve = (core_reserve_cmd){ .order_id = S(order), .lines = lines, .nlines = n,
		.ttl_ms = ttl_ms, .allow_partial = allow_partial, .idempotency_key = S(key) };
	return core_exec(c, &cmd, now, res, err);
}

static int reserve(core *c, int64_t now, const char *order, lines8 l, int64_t ttl_ms,
    bool allow_partial, const char *key, core_result *res, core_error *err)
{
	core_line_req req[8];
	uint32_t n = lines_of(&l, req);
	return reserve_n(c, now, order, req, n, ttl_ms, allow_partial, key, res, err);
}

/* Reservation id as text. */
typedef struct rid {
	char s[CORE_RESERVATION_ID_LEN + 1];
} rid;

static rid id_of(const core *c, const core_resv *r)
{
	core_resv_view v;
	core_resv_view_get(c, r, &v);
	rid out;
	memcpy(out.s, v.id, sizeof(out.s));
	return out;
}

/* A reserve that must succeed; returns the new id. */
static rid hold(core *c, int64_t now, const char *order, lines8 l, int64_t ttl_ms)
{
	core_result res;
	core_error err;
	int rc = reserve(c, now, order, l, ttl_ms, false, NULL, &res, &err);
	cr_assert_eq(rc, CORE_OK, "reserve %s: %s %s", order, core_strerror(rc), err.message);
	cr_assert_not_null(res.resv);
	cr_assert(!res.replayed);
	return id_of(c, res.resv);
}

static int resv_cmd(core *c, int64_t now, core_cmd_type type, const char *id,
    const core_line_req *lines, uint32_t n, int64_t ttl_ms, core_result *res, core_error *err)
{
	core_cmd cmd = { .type = type };
	cmd.u.resv = (core_resv_cmd){ .reservation_id = S(id), .lines = lines, .nlines = n,
		.ttl_ms = ttl_ms };
	return core_exec(c, &cmd, now, res, err);
}

static int commit(core *c, int64_t now, const char *id, core_error *err)
{
	core_result res;
	return resv_cmd(c, now, CORE_CMD_COMMIT, id, NULL, 0, 0, &res, err);
}

static int release(core *c, int64_t now, const char *id, lines8 l, core_error *err)
{
	core_result res;
	core_line_req req[8];
	uint32_t n = lines_of(&l, req);
	return resv_cmd(c, now, CORE_CMD_RELEASE, id, n ? req : NULL, n, 0, &res, err);
}

static int fulfill(core *c, int64_t now, const char *id, lines8 l, core_error *err)
{
	core_result res;
	core_line_req req[8];
	uint32_t n = lines_of(&l, req);
	return resv_cmd(c, now, CORE_CMD_FULFILL, id, n ? req : NULL, n, 0, &res, err);
}

static int extend(core *c, int64_t now, const char *id, int64_t ttl_ms, core_error *err)
{
	core_result res;
	return resv_cmd(c, now, CORE_CMD_EXTEND, id, NULL, 0, ttl_ms, &res, err);
}

/* One record through core_stock_get(sku, location). */
static void rec_emit(void *ctx, const core_record_view *rec)
{
	*(core_record_view *)ctx = *rec;
}

static core_record_view rec(const core *c, const char *sku, const char *loc)
{
	core_record_view v;
	memset(&v, 0, sizeof(v));
	uint32_t n = 0;
	core_error err;
	int rc = core_stock_get(c, S(sku), S(loc), rec_emit, &v, &n, &err);
	cr_assert_eq(rc, CORE_OK, "stock.get %s@%s: %s", sku, loc, err.message);
	cr_assert_eq(n, 1);
	return v;
}

/* Assert a record's numbers: on_hand, reserved, committed, safety, version;
 * available and oversold are checked against their definitions. */
static void rec_is(const core *c, const char *sku, const char *loc, int64_t on_hand,
    int64_t reserved, int64_t committed, int64_t safety, uint64_t version)
{
	core_record_view v = rec(c, sku, loc);
	cr_assert(str_is(v.sku, sku) && str_is(v.location, loc));
	cr_assert_eq(v.on_hand, on_hand, "%s@%s on_hand %" PRId64 " want %" PRId64, sku, loc, v.on_hand, on_hand);
	cr_assert_eq(v.reserved, reserved, "%s@%s reserved %" PRId64 " want %" PRId64, sku, loc, v.reserved, reserved);
	cr_assert_eq(v.committed, committed, "%s@%s committed %" PRId64 " want %" PRId64, sku, loc, v.committed, committed);
	cr_assert_eq(v.safety, safety, "%s@%s safety %" PRId64 " want %" PRId64, sku, loc, v.safety, safety);
	cr_assert_eq(v.version, version, "%s@%s version %" PRIu64 " want %" PRIu64, sku, loc, v.version, version);
	int64_t avail = on_hand - reserved - committed - safety;
	int64_t over = reserved + committed - on_hand;
	cr_assert_eq(v.available, avail > 0 ? avail : 0, "%s@%s available %" PRId64, sku, loc, v.available);
	cr_assert_eq(v.oversold, over > 0 ? over : 0, "%s@%s oversold %" PRId64, sku, loc, v.oversold);
}

static const core_resv *find(const core *c, const char *id)
{
	const core_resv *r = NULL;
	core_error err;
	int rc = core_resv_find(c, S(id), &r, &err);
	cr_assert_eq(rc, CORE_OK, "find %s: %s", id, err.message);
	return r;
}

static void not_found(const core *c, const char *id)
{
	const core_resv *r = NULL;
	core_error err;
	cr_assert_eq(core_resv_find(c, S(id), &r, &err), CORE_E_NOT_FOUND, "%s should be gone", id);
}

static core_resv_status status_of(const core *c, const char *id)
{
	core_resv_view v;
	core_resv_view_get(c, find(c, id), &v);
	return v.status;
}

/* Assert line i of reservation id: sku, qty, short, released, fulfilled and
 * its allocations as "LOC=qty,LOC=qty". */
static void line_is(const core *c, const char *id, uint32_t i, const char *sku, int64_t qty,
    int64_t short_qty, int64_t released, int64_t fulfilled, const char *allocs)
{
	const core_resv *r = find(c, id);
	core_resv_view rv;
	core_resv_view_get(c, r, &rv);
	cr_assert_lt(i, rv.nlines);
	core_line_view lv;
	core_resv_line_get(c, r, i, &lv);
	cr_assert(str_is(lv.sku, sku), "line %u sku %.*s want %s", i, (int)lv.sku.len, lv.sku.p, sku);
	cr_assert_eq(lv.qty, qty, "line %u qty %" PRId64, i, lv.qty);
	cr_assert_eq(lv.short_qty, short_qty, "line %u short %" PRId64, i, lv.short_qty);
	cr_assert_eq(lv.released, released, "line %u released %" PRId64, i, lv.released);
	cr_assert_eq(lv.fulfilled, fulfilled, "line %u fulfilled %" PRId64, i, lv.fulfilled);
	char got[256] = "";
	size_t len = 0;
	for (uint32_t j = 0; j < lv.nallocs; j++) {
		core_alloc_view av;
		core_resv_alloc_get(c, r, i, j, &av);
		len += (size_t)snprintf(got + len, sizeof(got) - len, "%s%.*s=%" PRId64, j ? "," : "",
		    (int)av.location.len, av.location.p, av.qty);
	}
	cr_assert_str_eq(got, allocs, "line %u allocations", i);
}

#define L(...) ((lines8){ __VA_ARGS__ })
#define NONE ((lines8){ { NULL }, { 0 } })

/* ------------------------------------------------------------------------
 * Stock
 * --------------------------------------------------------------------- */

Test(core, stock_set_creates_the_record_at_version_1_and_get_reads_it)
{
	core *c = mk();
	core_result res;
	core_error err;
	cr_assert_eq(stock_set(c, 0, "A", "W1", 10, 2, -1, &res, &err), CORE_OK);
	cr_assert(str_is(res.record.sku, "A") && str_is(res.record.location, "W1"));
	cr_assert_eq(res.record.on_hand, 10);
	cr_assert_eq(res.record.safety, 2);
	cr_assert_eq(res.record.available, 8);
	cr_assert_eq(res.record.version, 1);
	cr_assert(!res.replayed);
	rec_is(c, "A", "W1", 10, 0, 0, 2, 1);

	/* safety -1 keeps the current value; each set bumps the version. */
	cr_assert_eq(stock_set(c, 0, "A", "W1", 7, -1, -1, &res, &err), CORE_OK);
	rec_is(c, "A", "W1", 7, 0, 0, 2, 2);
	cr_assert_eq(stock_set(c, 0, "A", "W1", 7, 0, -1, &res, &err), CORE_OK);
	rec_is(c, "A", "W1", 7, 0, 0, 0, 3);

	/* Bounds. */
	cr_assert_eq(stock_set(c, 0, "A", "W1", -1, -1, -1, &res, &err), CORE_E_BAD_REQUEST);
	cr_assert_eq(stock_set(c, 0, "A", "W1", CORE_QTY_MAX + 1, -1, -1, &res, &err), CORE_E_BAD_REQUEST);
	cr_assert_eq(stock_set(c, 0, "A", "W1", 1, -2, -1, &res, &err), CORE_E_BAD_REQUEST);
	cr_assert_eq(stock_set(c, 0, "A", "W1", CORE_QTY_MAX, -1, -1, &res, &err), CORE_OK);
	rec_is(c, "A", "W1", CORE_QTY_MAX, 0, 0, 0, 4);

	/* Reads of what does not exist. */
	core_record_view v;
	uint32_t n = 0;
	cr_assert_eq(core_stock_get(c, S("B"), ABSENT, rec_emit, &v, &n, &err), CORE_E_NOT_FOUND);
	cr_assert_eq(core_stock_get(c, S("A"), S("W2"), rec_emit, &v, &n, &err), CORE_E_NOT_FOUND);
	cr_assert_eq(core_stock_count(c, S("A"), ABSENT), 1);
	cr_assert_eq(core_stock_count(c, S("B"), ABSENT), 0);
	done(c);
}

Test(core, stock_set_if_version_conflicts_report_the_current_version_and_change_nothing)
{
	core *c = mk();
	core_result res;
	core_error err;
	/* 0: only when the record does not exist yet. */
	cr_assert_eq(stock_set(c, 0, "A", "W1", 5, -1, 0, &res, &err), CORE_OK);
	rec_is(c, "A", "W1", 5, 0, 0, 0, 1);
	cr_assert_eq(stock_set(c, 0, "A", "W1", 6, -1, 0, &res, &err), CORE_E_CONFLICT);
	cr_assert_eq(err.code, CORE_E_CONFLICT);
	cr_assert_eq(err.version, 1);
	cr_assert_eq(stock_set(c, 0, "A", "W1", 6, -1, 2, &res, &err), CORE_E_CONFLICT);
	cr_assert_eq(err.version, 1);
	rec_is(c, "A", "W1", 5, 0, 0, 0, 1);
	cr_assert_eq(stock_set(c, 0, "A", "W1", 6, 1, 1, &res, &err), CORE_OK);
	rec_is(c, "A", "W1", 6, 0, 0, 1, 2);
	cr_assert_eq(res.record.version, 2);
	/* A record that does not exist is at version 0 and is not created. */
	cr_assert_eq(stock_set(c, 0, "B", "W1", 6, -1, 3, &res, &err), CORE_E_CONFLICT);
	cr_assert_eq(err.version, 0);
	cr_assert_eq(core_stock_count(c, S("B"), ABSENT), 0);
	cr_assert_eq(stock_set(c, 0, "A", "W2", 6, -1, 1, &res, &err), CORE_E_CONFLICT);
	cr_assert_eq(core_stock_count(c, S("A"), ABSENT), 1);
	/* -1 is unconditional. */
	cr_assert_eq(stock_set(c, 0, "A", "W1", 9, -1, -1, &res, &err), CORE_OK);
	rec_is(c, "A", "W1", 9, 0, 0, 1, 3);
	done(c);
}

Test(core, stock_set_below_promised_units_reports_oversold_and_restock_recovers)
{
	core *c = mk();
	core_result res;
	core_error err;
	put(c, "A", "W1", 10);                                        /* v1 */
	rid h = hold(c, 0, "o-1", L({ "A" }, { 4 }), 60000);           /* v2 */
	rid k = hold(c, 0, "o-2", L({ "A" }, { 3 }), 60000);           /* v3 */
	cr_assert_eq(commit(c, 0, k.s, &err), CORE_OK);                /* v4 */
	rec_is(c, "A", "W1", 10, 4, 3, 0, 4);
	cr_assert_eq(stock_set(c, 0, "A", "W1", 5, -1, -1, &res, &err), CORE_OK); /* v5 */
	cr_assert_eq(res.record.oversold, 2);
	cr_assert_eq(res.record.available, 0);
	rec_is(c, "A", "W1", 5, 4, 3, 0, 5);
	/* Nothing can be reserved while oversold. */
	cr_assert_eq(reserve(c, 0, "o-3", L({ "A" }, { 1 }), 60000, false, NULL, &res, &err),
	    CORE_E_OUT_OF_STOCK);
	cr_assert_eq(err.nshort, 1);
	cr_assert_eq(err.short_lines[0].available, 0);
	cr_assert_eq(restock(c, 0, "A", "W1", 4, &res, &err), CORE_OK); /* v6 */
	cr_assert_eq(res.record.on_hand, 9);
	cr_assert_eq(res.record.oversold, 0);
	cr_assert_eq(res.record.available, 2);
	rec_is(c, "A", "W1", 9, 4, 3, 0, 6);
	cr_assert_eq(status_of(c, h.s), CORE_RESV_HELD);
	done(c);
}

Test(core, stock_adjust_refuses_going_below_zero_or_above_max_and_creates_only_on_non_negative)
{
	core *c = mk();
	core_result res;
	core_error err;
	put(c, "A", "W1", 3);
	cr_assert_eq(stock_adjust(c, 0, "A", "W1", -4, NULL, NULL, &res, &err), CORE_E_BAD_REQUEST);
	cr_assert_eq(err.code, CORE_E_BAD_REQUEST);
	rec_is(c, "A", "W1", 3, 0, 0, 0, 1);
	cr_assert_eq(stock_adjust(c, 0, "A", "W1", -3, NULL, "count", &res, &err), CORE_OK);
	cr_assert_eq(res.record.on_hand, 0);
	rec_is(c, "A", "W1", 0, 0, 0, 0, 2);
	/* Absent record: a negative delta is refused and creates nothing. */
	cr_assert_eq(stock_adjust(c, 0, "B", "W1", -1, NULL, NULL, &res, &err), CORE_E_BAD_REQUEST);
	cr_assert_eq(core_stock_count(c, S("B"), ABSENT), 0);
	/* ... delta 0 creates it at version 1. */
	cr_assert_eq(stock_adjust(c, 0, "B", "W1", 0, NULL, NULL, &res, &err), CORE_OK);
	rec_is(c, "B", "W1", 0, 0, 0, 0, 1);
	cr_assert_eq(stock_adjust(c, 0, "C", "W2", 7, NULL, NULL, &res, &err), CORE_OK);
	rec_is(c, "C", "W2", 7, 0, 0, 0, 1);
	/* delta bounds: +-(2^31-1). */
	cr_assert_eq(stock_adjust(c, 0, "C", "W2", -CORE_QTY_MAX - 1, NULL, NULL, &res, &err),
	    CORE_E_BAD_REQUEST);
	cr_assert_eq(stock_adjust(c, 0, "C", "W2", CORE_QTY_MAX + 1, NULL, NULL, &res, &err),
	    CORE_E_BAD_REQUEST);
	cr_assert_eq(stock_adjust(c, 0, "C", "W2", CORE_QTY_MAX - 7, NULL, NULL, &res, &err), CORE_OK);
	rec_is(c, "C", "W2", CORE_QTY_MAX, 0, 0, 0, 2);
	cr_assert_eq(stock_adjust(c, 0, "C", "W2", 1, NULL, NULL, &res, &err), CORE_E_BAD_REQUEST);
	cr_assert_eq(stock_adjust(c, 0, "C", "W2", -CORE_QTY_MAX, NULL, NULL, &res, &err), CORE_OK);
	rec_is(c, "C", "W2", 0, 0, 0, 0, 3);
	done(c);
}

Test(core, stock_adjust_idempotent_replay_returns_the_first_reply_and_other_params_conflict)
{
	core *c = mk();
	core_result res;
	core_error err;
	cr_assert_eq(stock_adjust(c, 0, "A", "W1", 5, "k1", "recv", &res, &err), CORE_OK);
	cr_assert(!res.replayed);
	cr_assert_eq(res.record.on_hand, 5);
	cr_assert_eq(res.record.version, 1);
	cr_assert_eq(stock_adjust(c, 10, "A", "W1", 5, "k1", "recv", &res, &err), CORE_OK);
	cr_assert(res.replayed);
	cr_assert_eq(res.record.on_hand, 5);
	cr_assert_eq(res.record.version, 1);
	rec_is(c, "A", "W1", 5, 0, 0, 0, 1);
	/* Whatever happened since, the replay is the first reply. */
	put(c, "A", "W1", 100);
	cr_assert_eq(stock_adjust(c, 20, "A", "W1", 5, "k1", "recv", &res, &err), CORE_OK);
	cr_assert(res.replayed);
	cr_assert_eq(res.record.on_hand, 5);
	cr_assert_eq(res.record.version, 1);
	cr_assert(str_is(res.record.sku, "A") && str_is(res.record.location, "W1"));
	rec_is(c, "A", "W1", 100, 0, 0, 0, 2);
	/* The same key with other params. */
	cr_assert_eq(stock_adjust(c, 20, "A", "W1", 6, "k1", "recv", &res, &err), CORE_E_CONFLICT);
	cr_assert_eq(stock_adjust(c, 20, "A", "W2", 5, "k1", "recv", &res, &err), CORE_E_CONFLICT);
	cr_assert_eq(stock_adjust(c, 20, "B", "W1", 5, "k1", "recv", &res, &err), CORE_E_CONFLICT);
	cr_assert_eq(stock_adjust(c, 20, "A", "W1", 5, "k1", "other", &res, &err), CORE_E_CONFLICT);
	rec_is(c, "A", "W1", 100, 0, 0, 0, 2);
	cr_assert_eq(core_stock_count(c, S("A"), S("W2")), 0);
	/* A failed adjust does not use up its key. */
	cr_assert_eq(stock_adjust(c, 20, "A", "W1", -1000, "k2", NULL, &res, &err), CORE_E_BAD_REQUEST);
	cr_assert_eq(stock_adjust(c, 20, "A", "W1", -10, "k2", NULL, &res, &err), CORE_OK);
	cr_assert(!res.replayed);
	rec_is(c, "A", "W1", 90, 0, 0, 0, 3);
	/* Without a key every call applies. */
	cr_assert_eq(stock_adjust(c, 20, "A", "W1", -10, NULL, NULL, &res, &err), CORE_OK);
	cr_assert_eq(stock_adjust(c, 20, "A", "W1", -10, NULL, NULL, &res, &err), CORE_OK);
	rec_is(c, "A", "W1", 70, 0, 0, 0, 5);
	done(c);
}

Test(core, restock_adds_qty_to_on_hand_and_refuses_zero_or_overflow)
{
	core *c = mk();
	core_result res;
	core_error err;
	put(c, "A", "W1", 3);
	cr_assert_eq(restock(c, 0, "A", "W1", 4, &res, &err), CORE_OK);
	cr_assert_eq(res.record.on_hand, 7);
	cr_assert_eq(res.record.version, 2);
	rec_is(c, "A", "W1", 7, 0, 0, 0, 2);
	cr_assert_eq(restock(c, 0, "A", "W1", 0, &res, &err), CORE_E_BAD_REQUEST);
	cr_assert_eq(restock(c, 0, "A", "W1", -1, &res, &err), CORE_E_BAD_REQUEST);
	cr_assert_eq(restock(c, 0, "A", "W1", CORE_QTY_MAX + 1, &res, &err), CORE_E_BAD_REQUEST);
	cr_assert_eq(restock(c, 0, "A", "W1", CORE_QTY_MAX - 6, &res, &err), CORE_E_BAD_REQUEST);
	rec_is(c, "A", "W1", 7, 0, 0, 0, 2);
	cr_assert_eq(restock(c, 0, "A", "W1", CORE_QTY_MAX - 7, &res, &err), CORE_OK);
	rec_is(c, "A", "W1", CORE_QTY_MAX, 0, 0, 0, 3);
	done(c);
}

/* ------------------------------------------------------------------------
 * Reserve: planning and validation
 * --------------------------------------------------------------------- */

/* The canonical dump, malloc'ed. */
static char *dump(const core *c)
{
	size_t n = core_dump(c, NULL, 0);
	char *buf = malloc(n + 1);
	cr_assert_not_null(buf);
	size_t m = core_dump(c, buf, n + 1);
	cr_assert_eq(m, n);
	return buf;
}

/* A sku's records through core_stock_get(sku, ""), as "LOC=on_hand,...". */
typedef struct locs_acc {
	char buf[512];
	size_t len;
	uint32_t n;
} locs_acc;

static void locs_emit(void *ctx, const core_record_view *v)
{
	locs_acc *a = ctx;
	a->len += (size_t)snprintf(a->buf + a->len, sizeof(a->buf) - a->len, "%s%.*s=%" PRId64,
	    a->n++ ? "," : "", (int)v->location.len, v->location.p, v->on_hand);
}

static const char *locs_of(const core *c, const char *sku)
{
	static locs_acc a;
	memset(&a, 0, sizeof(a));
	uint32_t n = 0;
	core_error err;
	cr_assert_eq(core_stock_get(c, S(sku), ABSENT, locs_emit, &a, &n, &err), CORE_OK);
	cr_assert_eq(n, a.n);
	return a.buf;
}

static void dump_unchanged(const char *before, const core *c, const char *what)
{
	char *after = dump(c);
	cr_assert_str_eq(after, before, "%s changed the state", what);
	free(after);
}

Test(core, reserve_prefers_one_location_covering_the_whole_order_over_a_split)
{
	core *c = mk();
	/* W1 ranks first but cannot cover B; W2 and W3 both cover everything. */
	put(c, "A", "W1", 10);
	put(c, "B", "W1", 1);
	put(c, "A", "W3", 5);
	put(c, "B", "W3", 5);
	put(c, "A", "W2", 5);
	put(c, "B", "W2", 5);
	rid r = hold(c, 1000, "o-1", L({ "A", "B" }, { 3, 2 }), 60000);
	line_is(c, r.s, 0, "A", 3, 0, 0, 0, "W2=3");
	line_is(c, r.s, 1, "B", 2, 0, 0, 0, "W2=2");
	rec_is(c, "A", "W1", 10, 0, 0, 0, 1);
	rec_is(c, "B", "W1", 1, 0, 0, 0, 1);
	rec_is(c, "A", "W2", 5, 3, 0, 0, 2);
	rec_is(c, "B", "W2", 5, 2, 0, 0, 2);
	rec_is(c, "A", "W3", 5, 0, 0, 0, 1);
	rec_is(c, "B", "W3", 5, 0, 0, 0, 1);
	core_resv_view v;
	core_resv_view_get(c, find(c, r.s), &v);
	cr_assert_eq(v.status, CORE_RESV_HELD);
	cr_assert_eq(v.expires_at_ms, 61000);
	cr_assert(str_is(v.order_id, "o-1"));
	cr_assert_eq(v.nlines, 2);
	cr_assert_eq(strlen(v.id), CORE_RESERVATION_ID_LEN);
	cr_assert_eq(strncmp(v.id, "r-", 2), 0);
	/* Now W2 has A=2, B=3 left; W3 covers A:3,B:3 whole, so W3 holds it
	 * although W1 (A) and W2 rank before it. */
	rid s = hold(c, 1000, "o-2", L({ "A", "B" }, { 3, 3 }), 60000);
	line_is(c, s.s, 0, "A", 3, 0, 0, 0, "W3=3");
	line_is(c, s.s, 1, "B", 3, 0, 0, 0, "W3=3");
	/* A single-line order that W1 covers stays at W1. */
	rid t = hold(c, 1000, "o-3", L({ "A" }, { 10 }), 60000);
	line_is(c, t.s, 0, "A", 10, 0, 0, 0, "W1=10");
	done(c);
}

Test(core, reserve_splits_in_location_rank_order_when_no_location_covers)
{
	core *c = mk();
	/* Created out of rank order; bytewise: "W" < "W10" < "W2". */
	put(c, "A", "W2", 2);
	put(c, "A", "W10", 2);
	put(c, "A", "W", 2);
	put(c, "B", "W2", 9);
	/* stock.get lists in rank order. */
	cr_assert_str_eq(locs_of(c, "A"), "W=2,W10=2,W2=2");
	core_error err;
	rid r = hold(c, 0, "o-1", L({ "A", "B" }, { 5, 1 }), 60000);
	line_is(c, r.s, 0, "A", 5, 0, 0, 0, "W=2,W10=2,W2=1");
	line_is(c, r.s, 1, "B", 1, 0, 0, 0, "W2=1");
	rec_is(c, "A", "W", 2, 2, 0, 0, 2);
	rec_is(c, "A", "W10", 2, 2, 0, 0, 2);
	rec_is(c, "A", "W2", 2, 1, 0, 0, 2);
	rec_is(c, "B", "W2", 9, 1, 0, 0, 2);
	/* safety is never offered. */
	core_result res;
	cr_assert_eq(stock_set(c, 0, "C", "W2", 5, 2, -1, &res, &err), CORE_OK);
	cr_assert_eq(stock_set(c, 0, "C", "W", 3, 3, -1, &res, &err), CORE_OK);
	cr_assert_eq(stock_set(c, 0, "C", "W10", 2, 0, -1, &res, &err), CORE_OK);
	rid s = hold(c, 0, "o-2", L({ "C" }, { 4 }), 60000);
	line_is(c, s.s, 0, "C", 4, 0, 0, 0, "W10=2,W2=2");
	rec_is(c, "C", "W", 3, 0, 0, 3, 1);
	rec_is(c, "C", "W2", 5, 2, 0, 2, 2);
	done(c);
}

Test(core, reserve_out_of_stock_lists_every_short_line_and_changes_nothing)
{
	core *c = mk();
	put(c, "A", "W1", 3);
	put(c, "B", "W1", 1);
	put(c, "B", "W2", 2);
	put(c, "D", "W2", 4);
	char *before = dump(c);
	core_result res;
	core_error err;
	/* A fits, B has 3 of 5 over two locations, C is unknown, D fits. */
	int rc = reserve(c, 0, "o-1", L({ "A", "B", "C", "D" }, { 2, 5, 1, 4 }), 60000, false,
	    NULL, &res, &err);
	cr_assert_eq(rc, CORE_E_OUT_OF_STOCK);
	cr_assert_eq(err.code, CORE_E_OUT_OF_STOCK);
	cr_assert_eq(err.nshort, 2);
	cr_assert(str_is(err.short_lines[0].sku, "B"));
	cr_assert_eq(err.short_lines[0].requested, 5);
	cr_assert_eq(err.short_lines[0].available, 3);
	cr_assert(str_is(err.short_lines[1].sku, "C"));
	cr_assert_eq(err.short_lines[1].requested, 1);
	cr_assert_eq(err.short_lines[1].available, 0);
	dump_unchanged(before, c, "an OUT_OF_STOCK reserve");
	/* Every line short. */
	rc = reserve(c, 0, "o-1", L({ "A", "D" }, { 4, 5 }), 60000, false, NULL, &res, &err);
	cr_assert_eq(rc, CORE_E_OUT_OF_STOCK);
	cr_assert_eq(err.nshort, 2);
	cr_assert(str_is(err.short_lines[0].sku, "A"));
	cr_assert_eq(err.short_lines[0].available, 3);
	cr_assert(str_is(err.short_lines[1].sku, "D"));
	cr_assert_eq(err.short_lines[1].available, 4);
	dump_unchanged(before, c, "an OUT_OF_STOCK reserve");
	free(before);
	/* The next successful reserve still gets the first sequence number. */
	rid r = hold(c, 0, "o-2", L({ "A" }, { 3 }), 60000);
	cr_assert_str_eq(r.s, "r-0000000000000001");
	done(c);
}

Test(core, reserve_allow_partial_holds_what_it_can_and_reports_short)
{
	core *c = mk();
	put(c, "A", "W1", 3);
	put(c, "B", "W1", 1);
	put(c, "B", "W2", 2);
	core_result res;
	core_error err;
	int rc = reserve(c, 0, "o-1", L({ "A", "B", "C" }, { 2, 5, 1 }), 60000, true, NULL, &res, &err);
	cr_assert_eq(rc, CORE_OK, "%s", err.message);
	rid r = id_of(c, res.resv);
	line_is(c, r.s, 0, "A", 2, 0, 0, 0, "W1=2");
	line_is(c, r.s, 1, "B", 5, 2, 0, 0, "W1=1,W2=2");
	line_is(c, r.s, 2, "C", 1, 1, 0, 0, "");
	rec_is(c, "A", "W1", 3, 2, 0, 0, 2);
	rec_is(c, "B", "W1", 1, 1, 0, 0, 2);
	rec_is(c, "B", "W2", 2, 2, 0, 0, 2);
	/* Nothing at all can be held: OUT_OF_STOCK even with allow_partial. */
	char *before = dump(c);
	rc = reserve(c, 0, "o-2", L({ "B", "C" }, { 1, 1 }), 60000, true, NULL, &res, &err);
	cr_assert_eq(rc, CORE_E_OUT_OF_STOCK);
	cr_assert_eq(err.nshort, 2);
	cr_assert_eq(err.short_lines[0].available, 0);
	cr_assert_eq(err.short_lines[1].available, 0);
	dump_unchanged(before, c, "an OUT_OF_STOCK partial reserve");
	free(before);
	/* The short line of an unknown sku survives the sku appearing later,
	 * and the reservation goes through its whole life. */
	put(c, "C", "W1", 5);
	cr_assert_eq(commit(c, 0, r.s, &err), CORE_OK);
	rec_is(c, "A", "W1", 3, 0, 2, 0, 3);
	rec_is(c, "C", "W1", 5, 0, 0, 0, 1);
	cr_assert_eq(fulfill(c, 0, r.s, NONE, &err), CORE_OK);
	cr_assert_eq(status_of(c, r.s), CORE_RESV_FULFILLED);
	line_is(c, r.s, 1, "B", 5, 2, 0, 3, "W1=0,W2=0");
	line_is(c, r.s, 2, "C", 1, 1, 0, 0, "");
	rec_is(c, "B", "W1", 0, 0, 0, 0, 4);
	rec_is(c, "B", "W2", 0, 0, 0, 0, 4);
	rec_is(c, "C", "W1", 5, 0, 0, 0, 1);
	done(c);
}

Test(core, reserve_of_an_unknown_sku_is_out_of_stock_with_available_0)
{
	core *c = mk();
	put(c, "A", "W1", 3);
	char *before = dump(c);
	core_result res;
	core_error err;
	int rc = reserve(c, 0, "o-1", L({ "NOPE" }, { 1 }), 60000, false, NULL, &res, &err);
	cr_assert_eq(rc, CORE_E_OUT_OF_STOCK);
	cr_assert_eq(err.nshort, 1);
	cr_assert(str_is(err.short_lines[0].sku, "NOPE"));
	cr_assert_eq(err.short_lines[0].requested, 1);
	cr_assert_eq(err.short_lines[0].available, 0);
	dump_unchanged(before, c, "a reserve of an unknown sku");
	/* Unknown skus are not created by reading or reserving them. */
	cr_assert_eq(core_stock_count(c, S("NOPE"), ABSENT), 0);
	uint32_t nlocs = 9;
	cr_assert_eq(core_avail(c, S("NOPE"), ABSENT, NULL, NULL, &nlocs), 0);
	cr_assert_eq(nlocs, 0);
	free(before);
	done(c);
}

Test(core, reserve_refuses_a_repeated_sku_empty_lines_and_bad_qty_as_bad_request)
{
	core *c = mk();
	put(c, "A", "W1", 30);
	put(c, "B", "W1", 30);
	char *before = dump(c);
	core_result res;
	core_error err;
	cr_assert_eq(reserve(c, 0, "o-1", L({ "A", "B", "A" }, { 1, 1, 1 }), 60000, false, NULL,
	    &res, &err), CORE_E_BAD_REQUEST);
	cr_assert_eq(err.code, CORE_E_BAD_REQUEST);
	cr_assert_eq(reserve(c, 0, "o-1", L({ "A", "A" }, { 1, 2 }), 60000, true, NULL,
	    &res, &err), CORE_E_BAD_REQUEST);
	cr_assert_eq(reserve(c, 0, "o-1", NONE, 60000, false, NULL, &res, &err), CORE_E_BAD_REQUEST);
	cr_assert_eq(reserve(c, 0, "o-1", L({ "A" }, { 0 }), 60000, false, NULL, &res, &err),
	    CORE_E_BAD_REQUEST);
	cr_assert_eq(reserve(c, 0, "o-1", L({ "A" }, { -3 }), 60000, false, NULL, &res, &err),
	    CORE_E_BAD_REQUEST);
	cr_assert_eq(reserve(c, 0, "o-1", L({ "A" }, { CORE_QTY_MAX + 1 }), 60000, false, NULL,
	    &res, &err), CORE_E_BAD_REQUEST);
	cr_assert_eq(reserve(c, 0, "", L({ "A" }, { 1 }), 60000, false, NULL, &res, &err),
	    CORE_E_BAD_REQUEST);
	char long_order[CORE_ORDER_ID_MAX + 2];
	memset(long_order, 'o', sizeof(long_order) - 1);
	long_order[sizeof(long_order) - 1] = '\0';
	cr_assert_eq(reserve(c, 0, long_order, L({ "A" }, { 1 }), 60000, false, NULL, &res, &err),
	    CORE_E_BAD_REQUEST);
	dump_unchanged(before, c, "a refused reserve");
	free(before);
	long_order[CORE_ORDER_ID_MAX] = '\0'; /* exactly 128 bytes */
	cr_assert_eq(reserve(c, 0, long_order, L({ "A" }, { 1 }), 60000, false, NULL, &res, &err),
	    CORE_OK);
	rec_is(c, "A", "W1", 30, 1, 0, 0, 2);
	done(c);
}

Test(core, reserve_over_lines_max_is_too_large)
{
	core_config cfg;
	core_config_default(&cfg);
	cfg.lines_max = 3;
	core *c = mk_cfg(&cfg);
	put(c, "A", "W1", 9);
	put(c, "B", "W1", 9);
	put(c, "C", "W1", 9);
	put(c, "D", "W1", 9);
	char *before = dump(c);
	core_result res;
	core_error err;
	cr_assert_eq(reserve(c, 0, "o-1", L({ "A", "B", "C", "D" }, { 1, 1, 1, 1 }), 60000, false,
	    NULL, &res, &err), CORE_E_TOO_LARGE);
	cr_assert_eq(err.code, CORE_E_TOO_LARGE);
	dump_unchanged(before, c, "a TOO_LARGE reserve");
	free(before);
	rid r = hold(c, 0, "o-1", L({ "A", "B", "C" }, { 1, 1, 1 }), 60000);
	line_is(c, r.s, 2, "C", 1, 0, 0, 0, "W1=1");
	done(c);

	/* The default is 100. */
	c = mk();
	core_line_req lines[101];
	char names[101][16];
	for (int i = 0; i < 101; i++) {
		snprintf(names[i], sizeof(names[i]), "s%d", i);
		put(c, names[i], "W1", 1);
		lines[i] = (core_line_req){ S(names[i]), 1 };
	}
	cr_assert_eq(reserve_n(c, 0, "o-1", lines, 101, 60000, false, NULL, &res, &err),
	    CORE_E_TOO_LARGE);
	cr_assert_eq(reserve_n(c, 0, "o-1", lines, 100, 60000, false, NULL, &res, &err), CORE_OK);
	rec_is(c, "s99", "W1", 1, 1, 0, 0, 2);
	rec_is(c, "s100", "W1", 1, 0, 0, 0, 1);
	done(c);
}

Test(core, reserve_ttl_out_of_range_is_bad_request_and_minus_1_is_the_default)
{
	core_config cfg;
	core_config_default(&cfg);
	cfg.ttl_default_ms = 5000;
	cfg.ttl_max_ms = 10000;
	core *c = mk_cfg(&cfg);
	put(c, "A", "W1", 9);
	core_advance(c, 100);
	char *before = dump(c);
	core_result res;
	core_error err;
	cr_assert_eq(reserve(c, 100, "o-1", L({ "A" }, { 1 }), 0, false, NULL, &res, &err),
	    CORE_E_BAD_REQUEST);
	cr_assert_eq(reserve(c, 100, "o-1", L({ "A" }, { 1 }), 10001, false, NULL, &res, &err),
	    CORE_E_BAD_REQUEST);
	cr_assert_eq(reserve(c, 100, "o-1", L({ "A" }, { 1 }), -2, false, NULL, &res, &err),
	    CORE_E_BAD_REQUEST, "ttl_ms -2 is neither the default (-1) nor 1..ttl_max_ms");
	cr_assert_eq(reserve(c, 100, "o-1", L({ "A" }, { 1 }), INT64_MIN, false, NULL, &res, &err),
	    CORE_E_BAD_REQUEST);
	dump_unchanged(before, c, "a reserve with a bad ttl");
	free(before);
	core_resv_view v;
	cr_assert_eq(reserve(c, 100, "o-1", L({ "A" }, { 1 }), -1, false, NULL, &res, &err), CORE_OK);
	core_resv_view_get(c, res.resv, &v);
	cr_assert_eq(v.expires_at_ms, 5100);
	cr_assert_eq(reserve(c, 100, "o-2", L({ "A" }, { 1 }), 10000, false, NULL, &res, &err), CORE_OK);
	core_resv_view_get(c, res.resv, &v);
	cr_assert_eq(v.expires_at_ms, 10100);
	cr_assert_eq(reserve(c, 100, "o-3", L({ "A" }, { 1 }), 1, false, NULL, &res, &err), CORE_OK);
	core_resv_view_get(c, res.resv, &v);
	cr_assert_eq(v.expires_at_ms, 101);
	rec_is(c, "A", "W1", 9, 3, 0, 0, 4);
	done(c);
}

/* ------------------------------------------------------------------------
 * Reservation life cycle
 * --------------------------------------------------------------------- */

static void stats(const core *c, core_stats *st)
{
	core_stats_get(c, st);
}

Test(core, commit_moves_held_units_to_committed_and_a_second_commit_changes_nothing)
{
	core *c = mk();
	put(c, "A", "W1", 10);
	put(c, "B", "W1", 10);
	rid r = hold(c, 0, "o-1", L({ "A", "B" }, { 3, 4 }), 60000);
	rec_is(c, "A", "W1", 10, 3, 0, 0, 2);
	core_error err;
	cr_assert_eq(commit(c, 10, r.s, &err), CORE_OK);
	rec_is(c, "A", "W1", 10, 0, 3, 0, 3);
	rec_is(c, "B", "W1", 10, 0, 4, 0, 3);
	core_resv_view v;
	core_resv_view_get(c, find(c, r.s), &v);
	cr_assert_eq(v.status, CORE_RESV_COMMITTED);
	cr_assert_eq(v.expires_at_ms, -1);
	core_stats st;
	stats(c, &st);
	cr_assert_eq(st.units_reserved, 0);
	cr_assert_eq(st.units_committed, 7);
	cr_assert_eq(st.reservations[CORE_RESV_COMMITTED], 1);
	cr_assert_eq(core_next_deadline(c), INT64_MAX);
	/* Committed units no longer expire. */
	cr_assert_eq(core_advance(c, 1000000), 0);
	cr_assert_eq(status_of(c, r.s), CORE_RESV_COMMITTED);
	/* A retried commit succeeds and changes nothing. */
	char *before = dump(c);
	core_result res;
	cr_assert_eq(resv_cmd(c, 1000000, CORE_CMD_COMMIT, r.s, NULL, 0, 0, &res, &err), CORE_OK);
	cr_assert_not_null(res.resv);
	cr_assert_str_eq(id_of(c, res.resv).s, r.s);
	dump_unchanged(before, c, "a second commit");
	free(before);
	done(c);
}

Test(core, unknown_or_malformed_reservation_ids_are_not_found)
{
	core *c = mk();
	put(c, "A", "W1", 10);
	rid r = hold(c, 0, "o-1", L({ "A" }, { 1 }), 60000);
	cr_assert_str_eq(r.s, "r-0000000000000001");
	char *before = dump(c);
	const char *bad[] = { "r-0000000000000002", "r-00000000000000ff", "r-000000000000000", "",
		"r-00000000000000010", "R-0000000000000001", "r-000000000000000G",
		"r-000000000000000A", "x-0000000000000001", "r+0000000000000001" };
	core_error err;
	core_result res;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		not_found(c, bad[i]);
		cr_assert_eq(commit(c, 0, bad[i], &err), CORE_E_NOT_FOUND, "commit %s", bad[i]);
		cr_assert_eq(err.code, CORE_E_NOT_FOUND);
		cr_assert_eq(release(c, 0, bad[i], NONE, &err), CORE_E_NOT_FOUND, "release %s", bad[i]);
		cr_assert_eq(release(c, 0, bad[i], L({ "A" }, { 1 }), &err), CORE_E_NOT_FOUND);
		cr_assert_eq(fulfill(c, 0, bad[i], NONE, &err), CORE_E_NOT_FOUND, "fulfill %s", bad[i]);
		cr_assert_eq(extend(c, 0, bad[i], 1000, &err), CORE_E_NOT_FOUND, "extend %s", bad[i]);
		cr_assert_eq(resv_cmd(c, 0, CORE_CMD_EXTEND, bad[i], NULL, 0, 0, &res, &err),
		    CORE_E_NOT_FOUND);
	}
	dump_unchanged(before, c, "operations on unknown ids");
	free(before);
	cr_assert_eq(status_of(c, r.s), CORE_RESV_HELD);
	done(c);
}

Test(core, release_whole_returns_held_or_committed_units)
{
	core *c = mk();
	put(c, "A", "W1", 2);
	put(c, "A", "W2", 4);
	put(c, "B", "W2", 8);
	rid h = hold(c, 0, "o-1", L({ "A" }, { 5 }), 60000);      /* W1=2 W2=3 */
	rid k = hold(c, 0, "o-2", L({ "A", "B" }, { 1, 2 }), 60000); /* W2 covers */
	line_is(c, h.s, 0, "A", 5, 0, 0, 0, "W1=2,W2=3");
	line_is(c, k.s, 0, "A", 1, 0, 0, 0, "W2=1");
	core_error err;
	cr_assert_eq(commit(c, 0, k.s, &err), CORE_OK);
	rec_is(c, "A", "W2", 4, 3, 1, 0, 4);
	cr_assert_eq(release(c, 5, h.s, NONE, &err), CORE_OK);
	core_resv_view v;
	core_resv_view_get(c, find(c, h.s), &v);
	cr_assert_eq(v.status, CORE_RESV_RELEASED);
	cr_assert_eq(v.expires_at_ms, -1);
	line_is(c, h.s, 0, "A", 5, 0, 5, 0, "W1=0,W2=0");
	rec_is(c, "A", "W1", 2, 0, 0, 0, 3);
	rec_is(c, "A", "W2", 4, 0, 1, 0, 5);
	cr_assert_eq(release(c, 5, k.s, NONE, &err), CORE_OK);
	cr_assert_eq(status_of(c, k.s), CORE_RESV_RELEASED);
	line_is(c, k.s, 0, "A", 1, 0, 1, 0, "W2=0");
	line_is(c, k.s, 1, "B", 2, 0, 2, 0, "W2=0");
	rec_is(c, "A", "W2", 4, 0, 0, 0, 6);
	rec_is(c, "B", "W2", 8, 0, 0, 0, 4);
	core_stats st;
	stats(c, &st);
	cr_assert_eq(st.units_reserved, 0);
	cr_assert_eq(st.units_committed, 0);
	cr_assert_eq(st.reservations[CORE_RESV_RELEASED], 2);
	cr_assert_eq(core_next_deadline(c), INT64_MAX);
	done(c);
}

Test(core, partial_release_and_fulfill_reduce_from_the_worst_ranked_allocation)
{
	core *c = mk();
	put(c, "A", "W1", 2);
	put(c, "A", "W2", 3);
	put(c, "A", "W3", 5);
	put(c, "B", "W1", 4);
	/* No location covers A:5 and B:3 together (W3 has no B). */
	rid r = hold(c, 0, "o-1", L({ "A", "B" }, { 5, 3 }), 60000);
	line_is(c, r.s, 0, "A", 5, 0, 0, 0, "W1=2,W2=3");
	line_is(c, r.s, 1, "B", 3, 0, 0, 0, "W1=3");
	core_error err;
	/* Release 4 of A: 3 from W2 (worst), then 1 from W1. */
	cr_assert_eq(release(c, 0, r.s, L({ "A" }, { 4 }), &err), CORE_OK);
	cr_assert_eq(status_of(c, r.s), CORE_RESV_HELD);
	line_is(c, r.s, 0, "A", 5, 0, 4, 0, "W1=1,W2=0");
	rec_is(c, "A", "W1", 2, 1, 0, 0, 3);
	rec_is(c, "A", "W2", 3, 0, 0, 0, 3);
	rec_is(c, "A", "W3", 5, 0, 0, 0, 1);
	/* Commit moves what is left; the emptied W2 allocation touches nothing. */
	cr_assert_eq(commit(c, 0, r.s, &err), CORE_OK);
	rec_is(c, "A", "W1", 2, 0, 1, 0, 4);
	rec_is(c, "A", "W2", 3, 0, 0, 0, 3);
	rec_is(c, "B", "W1", 4, 0, 3, 0, 3);
	/* Fulfill 2 of B: committed and on_hand go down. */
	cr_assert_eq(fulfill(c, 0, r.s, L({ "B" }, { 2 }), &err), CORE_OK);
	line_is(c, r.s, 1, "B", 3, 0, 0, 2, "W1=1");
	rec_is(c, "B", "W1", 2, 0, 1, 0, 4);
	cr_assert_eq(status_of(c, r.s), CORE_RESV_COMMITTED);
	/* Release the last B from the committed reservation. */
	cr_assert_eq(release(c, 0, r.s, L({ "B" }, { 1 }), &err), CORE_OK);
	line_is(c, r.s, 1, "B", 3, 0, 1, 2, "W1=0");
	rec_is(c, "B", "W1", 2, 0, 0, 0, 5);
	cr_assert_eq(status_of(c, r.s), CORE_RESV_COMMITTED);

	/* Bad lines: more than left, a sku not in it, named twice, nothing
	 * left, qty 0, an empty list. All BAD_REQUEST, nothing changes. */
	char *before = dump(c);
	const lines8 bad[] = {
		L({ "A" }, { 2 }), L({ "X" }, { 1 }), L({ "A", "A" }, { 1, 1 }),
		L({ "B" }, { 1 }), L({ "A" }, { 0 }), L({ "A" }, { -1 }),
		L({ "A", "B", "X" }, { 1, 1, 1 }),
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(release(c, 0, r.s, bad[i], &err), CORE_E_BAD_REQUEST, "release bad[%zu]", i);
		cr_assert_eq(fulfill(c, 0, r.s, bad[i], &err), CORE_E_BAD_REQUEST, "fulfill bad[%zu]", i);
	}
	core_line_req none[1] = { { S("A"), 1 } };
	core_result res;
	cr_assert_eq(resv_cmd(c, 0, CORE_CMD_RELEASE, r.s, none, 0, 0, &res, &err), CORE_E_BAD_REQUEST);
	cr_assert_eq(resv_cmd(c, 0, CORE_CMD_FULFILL, r.s, none, 0, 0, &res, &err), CORE_E_BAD_REQUEST);
	dump_unchanged(before, c, "a release/fulfill with bad lines");
	free(before);

	/* Fulfill the last A: nothing is left and units were fulfilled. */
	cr_assert_eq(fulfill(c, 0, r.s, L({ "A" }, { 1 }), &err), CORE_OK);
	line_is(c, r.s, 0, "A", 5, 0, 4, 1, "W1=0,W2=0");
	rec_is(c, "A", "W1", 1, 0, 0, 0, 5);
	core_resv_view v;
	core_resv_view_get(c, find(c, r.s), &v);
	cr_assert_eq(v.status, CORE_RESV_FULFILLED);
	cr_assert_eq(v.expires_at_ms, -1);
	done(c);
}

Test(core, a_reservation_emptied_by_release_is_fulfilled_if_any_unit_was_fulfilled)
{
	core *c = mk();
	put(c, "A", "W1", 10);
	put(c, "B", "W1", 10);
	core_error err;
	/* Fulfilled some, then released the rest: fulfilled. */
	rid r = hold(c, 0, "o-1", L({ "A", "B" }, { 3, 2 }), 60000);
	cr_assert_eq(commit(c, 0, r.s, &err), CORE_OK);
	cr_assert_eq(fulfill(c, 0, r.s, L({ "A" }, { 1 }), &err), CORE_OK);
	cr_assert_eq(release(c, 0, r.s, NONE, &err), CORE_OK);
	cr_assert_eq(status_of(c, r.s), CORE_RESV_FULFILLED);
	line_is(c, r.s, 0, "A", 3, 0, 2, 1, "W1=0");
	line_is(c, r.s, 1, "B", 2, 0, 2, 0, "W1=0");
	rec_is(c, "A", "W1", 9, 0, 0, 0, 5);
	rec_is(c, "B", "W1", 10, 0, 0, 0, 4);
	/* Released line by line, nothing fulfilled: released. */
	rid s = hold(c, 0, "o-2", L({ "A", "B" }, { 3, 2 }), 60000);
	cr_assert_eq(release(c, 0, s.s, L({ "B", "A" }, { 2, 1 }), &err), CORE_OK);
	cr_assert_eq(status_of(c, s.s), CORE_RESV_HELD);
	line_is(c, s.s, 0, "A", 3, 0, 1, 0, "W1=2");
	line_is(c, s.s, 1, "B", 2, 0, 2, 0, "W1=0");
	cr_assert_eq(release(c, 0, s.s, L({ "A" }, { 2 }), &err), CORE_OK);
	cr_assert_eq(status_of(c, s.s), CORE_RESV_RELEASED);
	rec_is(c, "A", "W1", 9, 0, 0, 0, 8);
	rec_is(c, "B", "W1", 10, 0, 0, 0, 6);
	/* Fulfill whole. */
	rid t = hold(c, 0, "o-3", L({ "A", "B" }, { 4, 5 }), 60000);
	cr_assert_eq(commit(c, 0, t.s, &err), CORE_OK);
	cr_assert_eq(fulfill(c, 0, t.s, NONE, &err), CORE_OK);
	cr_assert_eq(status_of(c, t.s), CORE_RESV_FULFILLED);
	line_is(c, t.s, 0, "A", 4, 0, 0, 4, "W1=0");
	line_is(c, t.s, 1, "B", 5, 0, 0, 5, "W1=0");
	rec_is(c, "A", "W1", 5, 0, 0, 0, 11);
	rec_is(c, "B", "W1", 5, 0, 0, 0, 9);
	done(c);
}

Test(core, every_invalid_state_transition_is_refused_and_changes_nothing)
{
	core_config cfg;
	core_config_default(&cfg);
	core *c = mk_cfg(&cfg);
	put(c, "A", "W1", 100);
	core_error err;
	rid held = hold(c, 0, "o-held", L({ "A" }, { 1 }), 1000000);
	rid committed = hold(c, 0, "o-committed", L({ "A" }, { 1 }), 1000000);
	cr_assert_eq(commit(c, 0, committed.s, &err), CORE_OK);
	rid released = hold(c, 0, "o-released", L({ "A" }, { 1 }), 1000000);
	cr_assert_eq(release(c, 0, released.s, NONE, &err), CORE_OK);
	rid released_c = hold(c, 0, "o-released-c", L({ "A" }, { 1 }), 1000000);
	cr_assert_eq(commit(c, 0, released_c.s, &err), CORE_OK);
	cr_assert_eq(release(c, 0, released_c.s, NONE, &err), CORE_OK);
	rid fulfilled = hold(c, 0, "o-fulfilled", L({ "A" }, { 1 }), 1000000);
	cr_assert_eq(commit(c, 0, fulfilled.s, &err), CORE_OK);
	cr_assert_eq(fulfill(c, 0, fulfilled.s, NONE, &err), CORE_OK);
	rid expired = hold(c, 0, "o-expired", L({ "A" }, { 1 }), 10);
	cr_assert_eq(core_advance(c, 10), 1);
	cr_assert_eq(status_of(c, held.s), CORE_RESV_HELD);
	cr_assert_eq(status_of(c, committed.s), CORE_RESV_COMMITTED);
	cr_assert_eq(status_of(c, released.s), CORE_RESV_RELEASED);
	cr_assert_eq(status_of(c, released_c.s), CORE_RESV_RELEASED);
	cr_assert_eq(status_of(c, fulfilled.s), CORE_RESV_FULFILLED);
	cr_assert_eq(status_of(c, expired.s), CORE_RESV_EXPIRED);

	char *before = dump(c);
	const char *finished[] = { released.s, released_c.s, fulfilled.s, expired.s };
	for (int i = 0; i < 4; i++) {
		const char *id = finished[i];
		cr_assert_eq(commit(c, 10, id, &err), CORE_E_INVALID_STATE, "commit %s", id);
		cr_assert_eq(err.code, CORE_E_INVALID_STATE);
		cr_assert_eq(release(c, 10, id, NONE, &err), CORE_E_INVALID_STATE, "release %s", id);
		cr_assert_eq(release(c, 10, id, L({ "A" }, { 1 }), &err), CORE_E_INVALID_STATE);
		cr_assert_eq(fulfill(c, 10, id, NONE, &err), CORE_E_INVALID_STATE, "fulfill %s", id);
		cr_assert_eq(fulfill(c, 10, id, L({ "A" }, { 1 }), &err), CORE_E_INVALID_STATE);
		cr_assert_eq(extend(c, 10, id, 1000, &err), CORE_E_INVALID_STATE, "extend %s", id);
	}
	/* held cannot be fulfilled; committed cannot be extended. */
	cr_assert_eq(fulfill(c, 10, held.s, NONE, &err), CORE_E_INVALID_STATE);
	cr_assert_eq(fulfill(c, 10, held.s, L({ "A" }, { 1 }), &err), CORE_E_INVALID_STATE);
	cr_assert_eq(extend(c, 10, committed.s, 1000, &err), CORE_E_INVALID_STATE);
	dump_unchanged(before, c, "an INVALID_STATE command");
	free(before);
	/* v1 set; reserve+commit 2-4; reserve+release 5-6; reserve+commit+
	 * release 7-9; reserve+commit+fulfill 10-12; reserve+expiry 13-14. */
	rec_is(c, "A", "W1", 99, 1, 1, 0, 14);
	done(c);
}

Test(core, extend_sets_the_deadline_to_now_plus_ttl_even_earlier_and_only_while_held)
{
	core_config cfg;
	core_config_default(&cfg);
	cfg.ttl_max_ms = 100000;
	core *c = mk_cfg(&cfg);
	put(c, "A", "W1", 10);
	rid r = hold(c, 0, "o-1", L({ "A" }, { 2 }), 1000);
	core_error err;
	core_result res;
	cr_assert_eq(resv_cmd(c, 500, CORE_CMD_EXTEND, r.s, NULL, 0, 5000, &res, &err), CORE_OK);
	core_resv_view v;
	core_resv_view_get(c, res.resv, &v);
	cr_assert_eq(v.status, CORE_RESV_HELD);
	cr_assert_eq(v.expires_at_ms, 5500);
	cr_assert_eq(core_next_deadline(c), 5500);
	cr_assert_eq(core_advance(c, 1000), 0);
	cr_assert_eq(status_of(c, r.s), CORE_RESV_HELD);
	/* Extend never bumps record versions. */
	rec_is(c, "A", "W1", 10, 2, 0, 0, 2);
	/* Earlier than before. */
	cr_assert_eq(extend(c, 2000, r.s, 100, &err), CORE_OK);
	core_resv_view_get(c, find(c, r.s), &v);
	cr_assert_eq(v.expires_at_ms, 2100);
	/* ttl bounds. */
	char *before = dump(c);
	cr_assert_eq(extend(c, 2000, r.s, 0, &err), CORE_E_BAD_REQUEST);
	cr_assert_eq(extend(c, 2000, r.s, -1, &err), CORE_E_BAD_REQUEST);
	cr_assert_eq(extend(c, 2000, r.s, 100001, &err), CORE_E_BAD_REQUEST);
	dump_unchanged(before, c, "an extend with a bad ttl");
	free(before);
	cr_assert_eq(core_advance(c, 2099), 0);
	cr_assert_eq(status_of(c, r.s), CORE_RESV_HELD);
	cr_assert_eq(core_advance(c, 2100), 1);
	core_resv_view_get(c, find(c, r.s), &v);
	cr_assert_eq(v.status, CORE_RESV_EXPIRED);
	cr_assert_eq(v.expires_at_ms, 2100);
	rec_is(c, "A", "W1", 10, 0, 0, 0, 3);
	cr_assert_eq(extend(c, 2100, r.s, 1000, &err), CORE_E_INVALID_STATE);
	/* Max ttl is accepted. */
	rid s = hold(c, 3000, "o-2", L({ "A" }, { 1 }), 5);
	cr_assert_eq(extend(c, 3000, s.s, 100000, &err), CORE_OK);
	core_resv_view_get(c, find(c, s.s), &v);
	cr_assert_eq(v.expires_at_ms, 103000);
	done(c);
}

/* ------------------------------------------------------------------------
 * Expiry, idempotent reserve, retention, sweep
 * --------------------------------------------------------------------- */

Test(core, a_hold_with_ttl_1000_from_t0_is_held_at_999_and_expired_at_1000_by_advance_alone)
{
	core *c = mk();
	put(c, "A", "W1", 5);
	put(c, "A", "W2", 5);
	rid r = hold(c, 0, "o-1", L({ "A" }, { 7 }), 1000);
	cr_assert_eq(core_next_deadline(c), 1000);
	rec_is(c, "A", "W1", 5, 5, 0, 0, 2);
	rec_is(c, "A", "W2", 5, 2, 0, 0, 2);
	cr_assert_eq(core_advance(c, 999), 0);
	core_resv_view v;
	core_resv_view_get(c, find(c, r.s), &v);
	cr_assert_eq(v.status, CORE_RESV_HELD);
	cr_assert_eq(v.expires_at_ms, 1000);
	rec_is(c, "A", "W1", 5, 5, 0, 0, 2);
	cr_assert_eq(core_advance(c, 1000), 1);
	core_resv_view_get(c, find(c, r.s), &v);
	cr_assert_eq(v.status, CORE_RESV_EXPIRED);
	cr_assert_eq(v.expires_at_ms, 1000);
	/* The expired reservation keeps the allocations it had. */
	line_is(c, r.s, 0, "A", 7, 0, 0, 0, "W1=5,W2=2");
	rec_is(c, "A", "W1", 5, 0, 0, 0, 3);
	rec_is(c, "A", "W2", 5, 0, 0, 0, 3);
	core_stats st;
	stats(c, &st);
	cr_assert_eq(st.expired_total, 1);
	cr_assert_eq(st.units_reserved, 0);
	cr_assert_eq(st.reservations[CORE_RESV_EXPIRED], 1);
	cr_assert_eq(st.reservations[CORE_RESV_HELD], 0);
	cr_assert_eq(core_next_deadline(c), INT64_MAX);
	/* Advancing again expires nothing more; the clock never goes back. */
	cr_assert_eq(core_advance(c, 500), 0);
	stats(c, &st);
	cr_assert_eq(st.now_ms, 1000);
	/* An expired hold cannot be committed. */
	core_error err;
	char *before = dump(c);
	cr_assert_eq(commit(c, 1000, r.s, &err), CORE_E_INVALID_STATE);
	dump_unchanged(before, c, "commit of an expired hold");
	free(before);
	done(c);
}

Test(core, the_request_at_the_deadline_sees_the_expired_units_without_an_explicit_advance)
{
	core *c = mk();
	put(c, "A", "W1", 3);
	rid r = hold(c, 0, "o-1", L({ "A" }, { 3 }), 1000);
	core_result res;
	core_error err;
	/* At 999 the units are still held. */
	cr_assert_eq(reserve(c, 999, "o-2", L({ "A" }, { 3 }), 1000, false, NULL, &res, &err),
	    CORE_E_OUT_OF_STOCK);
	cr_assert_eq(err.short_lines[0].available, 0);
	/* core_exec at 1000 expires first, then plans. */
	cr_assert_eq(reserve(c, 1000, "o-2", L({ "A" }, { 3 }), 1000, false, NULL, &res, &err), CORE_OK);
	rid s = id_of(c, res.resv);
	cr_assert_eq(status_of(c, r.s), CORE_RESV_EXPIRED);
	cr_assert_eq(status_of(c, s.s), CORE_RESV_HELD);
	rec_is(c, "A", "W1", 3, 3, 0, 0, 4);
	/* A commit exactly at the deadline is too late. */
	cr_assert_eq(commit(c, 2000, s.s, &err), CORE_E_INVALID_STATE);
	cr_assert_eq(status_of(c, s.s), CORE_RESV_EXPIRED);
	rec_is(c, "A", "W1", 3, 0, 0, 0, 5);
	done(c);
}

Test(core, reserve_replay_returns_the_same_reservation_and_changes_nothing_even_after_commit)
{
	core *c = mk();
	put(c, "A", "W1", 3);
	put(c, "A", "W2", 3);
	core_result res;
	core_error err;
	cr_assert_eq(reserve(c, 0, "o-1", L({ "A" }, { 4 }), 60000, false, "key-1", &res, &err), CORE_OK);
	cr_assert(!res.replayed);
	const core_resv *first = res.resv;
	rid r = id_of(c, first);
	core_advance(c, 10);
	char *before = dump(c);
	cr_assert_eq(reserve(c, 10, "o-1", L({ "A" }, { 4 }), 60000, false, "key-1", &res, &err), CORE_OK);
	cr_assert(res.replayed);
	cr_assert_eq(res.resv, first);
	cr_assert_str_eq(id_of(c, res.resv).s, r.s);
	dump_unchanged(before, c, "a reserve replay");
	free(before);
	rec_is(c, "A", "W1", 3, 3, 0, 0, 2);
	rec_is(c, "A", "W2", 3, 1, 0, 0, 2);

	/* After commit and a partial release: the same reservation, the
	 * original reply still readable, nothing held again. */
	cr_assert_eq(commit(c, 20, r.s, &err), CORE_OK);
	cr_assert_eq(release(c, 20, r.s, L({ "A" }, { 1 }), &err), CORE_OK);
	core_advance(c, 30);
	before = dump(c);
	cr_assert_eq(reserve(c, 30, "o-1", L({ "A" }, { 4 }), 60000, false, "key-1", &res, &err), CORE_OK);
	cr_assert(res.replayed);
	cr_assert_str_eq(id_of(c, res.resv).s, r.s);
	dump_unchanged(before, c, "a reserve replay after commit");
	free(before);
	core_resv_view v;
	core_resv_view_get(c, res.resv, &v);
	cr_assert_eq(v.status, CORE_RESV_COMMITTED);
	core_resv_view_original(c, res.resv, &v);
	cr_assert_eq(v.status, CORE_RESV_HELD);
	cr_assert_eq(v.expires_at_ms, 60000);
	cr_assert_str_eq(v.id, r.s);
	cr_assert_eq(core_resv_alloc_original_qty(res.resv, 0, 0), 3);
	cr_assert_eq(core_resv_alloc_original_qty(res.resv, 0, 1), 1);
	line_is(c, r.s, 0, "A", 4, 0, 1, 0, "W1=3,W2=0");
	rec_is(c, "A", "W1", 3, 0, 3, 0, 3);
	rec_is(c, "A", "W2", 3, 0, 0, 0, 4);

	/* Released entirely: still the same reservation, nothing held. */
	cr_assert_eq(release(c, 40, r.s, NONE, &err), CORE_OK);
	cr_assert_eq(reserve(c, 40, "o-1", L({ "A" }, { 4 }), 60000, false, "key-1", &res, &err), CORE_OK);
	cr_assert(res.replayed);
	cr_assert_str_eq(id_of(c, res.resv).s, r.s);
	rec_is(c, "A", "W1", 3, 0, 0, 0, 4);
	rec_is(c, "A", "W2", 3, 0, 0, 0, 4);

	/* The same key with other params conflicts; nothing changes. */
	core_advance(c, 50);
	before = dump(c);
	cr_assert_eq(reserve(c, 50, "o-1", L({ "A" }, { 3 }), 60000, false, "key-1", &res, &err),
	    CORE_E_CONFLICT);
	cr_assert_eq(err.code, CORE_E_CONFLICT);
	cr_assert_eq(reserve(c, 50, "o-2", L({ "A" }, { 4 }), 60000, false, "key-1", &res, &err),
	    CORE_E_CONFLICT);
	cr_assert_eq(reserve(c, 50, "o-1", L({ "A" }, { 4 }), 60001, false, "key-1", &res, &err),
	    CORE_E_CONFLICT);
	cr_assert_eq(reserve(c, 50, "o-1", L({ "A" }, { 4 }), 60000, true, "key-1", &res, &err),
	    CORE_E_CONFLICT);
	cr_assert_eq(reserve(c, 50, "o-1", L({ "B" }, { 4 }), 60000, false, "key-1", &res, &err),
	    CORE_E_CONFLICT);
	/* A failed reserve does not use up its key. */
	cr_assert_eq(reserve(c, 50, "o-3", L({ "A" }, { 99 }), 60000, false, "key-2", &res, &err),
	    CORE_E_OUT_OF_STOCK);
	dump_unchanged(before, c, "a conflicting or failed keyed reserve");
	free(before);
	cr_assert_eq(reserve(c, 50, "o-3", L({ "A" }, { 2 }), 60000, false, "key-2", &res, &err), CORE_OK);
	cr_assert(!res.replayed);
	cr_assert_str_eq(id_of(c, res.resv).s, "r-0000000000000002");
	/* Keys of adjust and reserve are separate namespaces. */
	cr_assert_eq(stock_adjust(c, 50, "A", "W1", 1, "key-1", NULL, &res, &err), CORE_OK);
	cr_assert(!res.replayed);
	done(c);
}

Test(core, sweep_forgets_finished_reservations_after_retain_ms_but_never_live_ones)
{
	core_config cfg;
	core_config_default(&cfg);
	cfg.retain_ms = 10000;
	core *c = mk_cfg(&cfg);
	put(c, "A", "W1", 100);
	core_error err;
	core_result res;
	rid released = hold(c, 0, "o-rel", L({ "A" }, { 1 }), 1000000);
	cr_assert_eq(release(c, 1000, released.s, NONE, &err), CORE_OK);     /* finished 1000 */
	rid expired = hold(c, 1000, "o-exp", L({ "A" }, { 1 }), 1000);      /* finished 2000 */
	rid held = hold(c, 1000, "o-held", L({ "A" }, { 1 }), 86400000);
	rid committed = hold(c, 1000, "o-com", L({ "A" }, { 1 }), 1000);
	cr_assert_eq(commit(c, 1000, committed.s, &err), CORE_OK);
	cr_assert_eq(reserve(c, 1000, "o-key", L({ "A" }, { 1 }), 100, false, "k", &res, &err), CORE_OK);
	rid keyed = id_of(c, res.resv);                                     /* expires 1100 */
	cr_assert_eq(core_advance(c, 2000), 2);
	cr_assert_eq(status_of(c, expired.s), CORE_RESV_EXPIRED);
	cr_assert_eq(status_of(c, keyed.s), CORE_RESV_EXPIRED);

	/* core_advance alone never forgets. */
	cr_assert_eq(core_advance(c, 50000), 0);
	find(c, released.s);
	find(c, expired.s);
	core_stats st;
	stats(c, &st);
	cr_assert_eq(st.reservations[CORE_RESV_RELEASED], 1);

	/* 1000 + 10000 is the first instant the released one goes. */
	core *d = mk_cfg(&cfg);
	put(d, "A", "W1", 1);
	rid x = hold(d, 0, "o-x", L({ "A" }, { 1 }), 1000000);
	cr_assert_eq(release(d, 1000, x.s, NONE, &err), CORE_OK);
	cr_assert_eq(core_sweep(d, 10999, 100), 0);
	find(d, x.s);
	cr_assert_eq(core_sweep(d, 11000, 100), 1);
	not_found(d, x.s);
	done(d);

	cr_assert_eq(core_sweep(c, 50000, 100), 3);
	not_found(c, released.s);
	not_found(c, expired.s);
	not_found(c, keyed.s);
	cr_assert_eq(status_of(c, held.s), CORE_RESV_HELD);
	cr_assert_eq(status_of(c, committed.s), CORE_RESV_COMMITTED);
	stats(c, &st);
	cr_assert_eq(st.reservations[CORE_RESV_RELEASED], 0);
	cr_assert_eq(st.reservations[CORE_RESV_EXPIRED], 0);
	cr_assert_eq(st.reservations[CORE_RESV_HELD], 1);
	cr_assert_eq(st.reservations[CORE_RESV_COMMITTED], 1);
	cr_assert_eq(st.expired_total, 2);
	cr_assert_eq(commit(c, 50000, released.s, &err), CORE_E_NOT_FOUND);
	/* A forgotten reservation's key is forgotten with it. */
	cr_assert_eq(reserve(c, 50000, "o-key", L({ "A" }, { 1 }), 100, false, "k", &res, &err), CORE_OK);
	cr_assert(!res.replayed);
	rid rekeyed = id_of(c, res.resv);
	cr_assert_str_neq(rekeyed.s, keyed.s);
	/* Live ones stay however long; a hold expires at its deadline and is
	 * kept retain_ms from its deadline, however late its expiry is
	 * processed: the 100 ms hold above, due at 50100, is expired and
	 * forgotten by the same sweep. */
	cr_assert_eq(core_sweep(c, 86401000 - 1, 1000), 2);
	not_found(c, rekeyed.s);
	cr_assert_eq(status_of(c, held.s), CORE_RESV_HELD);
	cr_assert_eq(core_sweep(c, 86401000, 1000), 1);
	cr_assert_eq(status_of(c, held.s), CORE_RESV_EXPIRED);
	cr_assert_eq(core_sweep(c, 86401000 + 9999, 1000), 0);
	find(c, held.s);
	cr_assert_eq(core_sweep(c, 86401000 + 10000, 1000), 1);
	not_found(c, held.s);
	cr_assert_eq(core_sweep(c, 900000000, 1000), 0);
	cr_assert_eq(status_of(c, committed.s), CORE_RESV_COMMITTED);
	/* v1 set; 2-3 released; 4 expired; 5 held; 6-7 committed; 8 keyed;
	 * 9-10 the two expiries; 11-12 the new keyed hold; 13 held's expiry. */
	rec_is(c, "A", "W1", 100, 0, 1, 0, 13);
	done(c);
}

Test(core, sweep_does_at_most_budget_items_expiring_first_then_forgetting)
{
	core_config cfg;
	core_config_default(&cfg);
	cfg.retain_ms = 1000;
	core *c = mk_cfg(&cfg);
	put(c, "A", "W1", 100);
	core_result res;
	core_error err;
	rid r[5];
	for (int i = 0; i < 5; i++) {
		char order[16];
		snprintf(order, sizeof(order), "o-%d", i);
		r[i] = hold(c, 0, order, L({ "A" }, { i + 1 }), 100);
	}
	cr_assert_eq(stock_adjust(c, 0, "A", "W1", 1, "adj", NULL, &res, &err), CORE_OK);
	core_stats st;
	/* Expiry in deadline, then id, order. */
	cr_assert_eq(core_sweep(c, 100, 2), 2);
	cr_assert_eq(status_of(c, r[0].s), CORE_RESV_EXPIRED);
	cr_assert_eq(status_of(c, r[1].s), CORE_RESV_EXPIRED);
	cr_assert_eq(status_of(c, r[2].s), CORE_RESV_HELD);
	stats(c, &st);
	cr_assert_eq(st.units_reserved, 3 + 4 + 5);
	cr_assert_eq(st.expired_total, 2);
	rec_is(c, "A", "W1", 101, 12, 0, 0, 9);
	cr_assert_eq(core_sweep(c, 100, 2), 2);
	cr_assert_eq(core_sweep(c, 100, 2), 1); /* caught up */
	cr_assert_eq(core_sweep(c, 100, 2), 0);
	stats(c, &st);
	cr_assert_eq(st.units_reserved, 0);
	cr_assert_eq(st.reservations[CORE_RESV_EXPIRED], 5);
	rec_is(c, "A", "W1", 101, 0, 0, 0, 12);
	/* Forgetting: 5 reservations finished at 100 and the adjust key made at
	 * 0, all due by 1100; 3 a call. */
	cr_assert_eq(core_sweep(c, 1099, 3), 1); /* only the key is due */
	cr_assert_eq(core_sweep(c, 1100, 3), 3);
	stats(c, &st);
	cr_assert_eq(st.reservations[CORE_RESV_EXPIRED], 2);
	not_found(c, r[0].s);
	not_found(c, r[2].s);
	find(c, r[3].s);
	cr_assert_eq(core_sweep(c, 1100, 3), 2);
	cr_assert_eq(core_sweep(c, 1100, 3), 0);
	not_found(c, r[4].s);
	stats(c, &st);
	cr_assert_eq(st.reservations[CORE_RESV_EXPIRED], 0);
	cr_assert_eq(st.idempotency_keys, 0);
	/* The forgotten adjust key applies again. */
	cr_assert_eq(stock_adjust(c, 1100, "A", "W1", 1, "adj", NULL, &res, &err), CORE_OK);
	cr_assert(!res.replayed);
	rec_is(c, "A", "W1", 102, 0, 0, 0, 13);
	/* Budget 0 does nothing. */
	rid h = hold(c, 1100, "o-z", L({ "A" }, { 1 }), 100);
	cr_assert_eq(core_sweep(c, 1200, 0), 0);
	cr_assert_eq(status_of(c, h.s), CORE_RESV_HELD);
	cr_assert_eq(core_sweep(c, 1200, 1), 1);
	cr_assert_eq(status_of(c, h.s), CORE_RESV_EXPIRED);
	done(c);
}

/* ------------------------------------------------------------------------
 * Names, limits, scale
 * --------------------------------------------------------------------- */

Test(core, names_with_a_control_byte_at_any_position_are_refused_and_other_bytes_accepted)
{
	core *c = mk();
	core_result res;
	core_error err;
	char name[CORE_NAME_MAX + 1];
	const unsigned char bad[] = { 0x00, 0x01, 0x09, 0x0a, 0x1f, 0x7f };
	for (uint32_t len = 1; len <= CORE_NAME_MAX; len++) {
		for (uint32_t pos = 0; pos < len; pos++)
			for (size_t b = 0; b < sizeof(bad); b++) {
				memset(name, 'a', len);
				name[pos] = (char)bad[b];
				core_str n = { name, len };
				cr_assert(!core_name_valid(n, CORE_NAME_MAX), "len %u pos %u byte %#x", len, pos, bad[b]);
				core_cmd cmd = { .type = CORE_CMD_STOCK_SET };
				cmd.u.stock = (core_stock_cmd){ .sku = n, .location = S("W1"), .on_hand = 1,
					.safety = -1, .if_version = -1 };
				cr_assert_eq(core_exec(c, &cmd, 0, &res, &err), CORE_E_BAD_REQUEST);
				cmd.u.stock.sku = S("A");
				cmd.u.stock.location = n;
				cr_assert_eq(core_exec(c, &cmd, 0, &res, &err), CORE_E_BAD_REQUEST);
			}
		/* Every other byte, UTF-8 included, is fine: ' ', '~', 0x80, 0xff. */
		const unsigned char good[] = { 0x20, 0x7e, 0x80, 0xc3, 0xff };
		for (uint32_t pos = 0; pos < len; pos += 7)
			for (size_t g = 0; g < sizeof(good); g++) {
				memset(name, 'b', len);
				name[pos] = (char)good[g];
				cr_assert(core_name_valid((core_str){ name, len }, CORE_NAME_MAX),
				    "len %u pos %u byte %#x", len, pos, good[g]);
			}
	}
	cr_assert_eq(core_stock_count(c, S("A"), ABSENT), 0);
	memset(name, 'a', sizeof(name));
	cr_assert(!core_name_valid((core_str){ name, CORE_NAME_MAX + 1 }, CORE_NAME_MAX));
	cr_assert(!core_name_valid((core_str){ name, 0 }, CORE_NAME_MAX));
	cr_assert(!core_name_valid(ABSENT, CORE_NAME_MAX));
	/* A 64-byte UTF-8 name is stored and read back. */
	const char *utf8 = "\xc3\xa9";
	char big[CORE_NAME_MAX + 1];
	for (int i = 0; i < CORE_NAME_MAX; i += 2)
		memcpy(big + i, utf8, 2);
	big[CORE_NAME_MAX] = '\0';
	put(c, big, "W1", 3);
	rec_is(c, big, "W1", 3, 0, 0, 0, 1);
	done(c);
}

Test(core, optional_strings_absent_are_fine_and_given_empty_or_bad_are_bad_request)
{
	core *c = mk();
	put(c, "A", "W1", 5);
	core_advance(c, 0);
	char *before = dump(c);
	core_result res;
	core_error err;
	/* Given but empty: an idempotency key, a channel, a customer id. */
	cr_assert_eq(stock_adjust(c, 0, "A", "W1", 1, "", NULL, &res, &err), CORE_E_BAD_REQUEST);
	cr_assert_eq(reserve(c, 0, "o-1", L({ "A" }, { 1 }), 1000, false, "", &res, &err),
	    CORE_E_BAD_REQUEST);
	core_line_req line = { S("A"), 1 };
	core_cmd cmd = { .type = CORE_CMD_RESERVE };
	cmd.u.reserve = (core_reserve_cmd){ .order_id = S("o-1"), .lines = &line, .nlines = 1,
		.ttl_ms = 1000, .channel = S("") };
	cr_assert_eq(core_exec(c, &cmd, 0, &res, &err), CORE_E_BAD_REQUEST);
	cmd.u.reserve.channel = S("web\n");
	cr_assert_eq(core_exec(c, &cmd, 0, &res, &err), CORE_E_BAD_REQUEST);
	cmd.u.reserve.channel = S("abcdefghijklmnopqrstuvwxyz0123456"); /* 33 bytes */
	cr_assert_eq(core_exec(c, &cmd, 0, &res, &err), CORE_E_BAD_REQUEST);
	cmd.u.reserve.channel = ABSENT;
	cmd.u.reserve.customer_id = S("");
	cr_assert_eq(core_exec(c, &cmd, 0, &res, &err), CORE_E_BAD_REQUEST);
	/* A reason with a control character. */
	cr_assert_eq(stock_adjust(c, 0, "A", "W1", 1, NULL, "a\tb", &res, &err), CORE_E_BAD_REQUEST);
	/* stock.get of a given empty location. */
	core_record_view v;
	uint32_t n = 0;
	cr_assert_eq(core_stock_get(c, S("A"), S(""), rec_emit, &v, &n, &err), CORE_E_BAD_REQUEST);
	dump_unchanged(before, c, "a command with a bad optional string");
	free(before);
	/* Valid ones, and an empty reason (free text may be empty); a channel
	 * must have been made by channel.put. */
	cmd.u.reserve.channel = S("web");
	cmd.u.reserve.customer_id = S("cust-9");
	cr_assert_eq(core_exec(c, &cmd, 0, &res, &err), CORE_E_NOT_FOUND);
	core_cmd chan = { .type = CORE_CMD_CHANNEL_PUT };
	chan.u.channel = (core_channel_cmd){ .channel = S("web"), .buffer = -1 };
	cr_assert_eq(core_exec(c, &chan, 0, &res, &err), CORE_OK, "%s", err.message);
	cr_assert_eq(core_exec(c, &cmd, 0, &res, &err), CORE_OK, "%s", err.message);
	cr_assert_eq(stock_adjust(c, 0, "A", "W1", 1, NULL, "", &res, &err), CORE_OK);
	rec_is(c, "A", "W1", 6, 1, 0, 0, 3);
	done(c);
}

Test(core, sku_and_location_limits_are_too_large_and_leave_nothing_half_made)
{
	core_config cfg;
	core_config_default(&cfg);
	cfg.skus_max = 2;
	cfg.locations_max = 2;
	core *c = mk_cfg(&cfg);
	put(c, "A", "W1", 1);
	put(c, "B", "W2", 1);
	core_advance(c, 0);
	char *before = dump(c);
	core_result res;
	core_error err;
	/* A third sku at a new location: TOO_LARGE for the location, or for
	 * the sku with the location prepared; neither may appear. */
	cr_assert_eq(stock_set(c, 0, "C", "W3", 1, -1, -1, &res, &err), CORE_E_TOO_LARGE);
	cr_assert_eq(stock_set(c, 0, "C", "W1", 1, -1, -1, &res, &err), CORE_E_TOO_LARGE);
	cr_assert_eq(stock_adjust(c, 0, "A", "W3", 1, "k", NULL, &res, &err), CORE_E_TOO_LARGE);
	cr_assert_eq(restock(c, 0, "C", "W2", 1, &res, &err), CORE_E_TOO_LARGE);
	dump_unchanged(before, c, "a TOO_LARGE stock command");
	free(before);
	core_stats st;
	core_stats_get(c, &st);
	cr_assert_eq(st.skus, 2);
	cr_assert_eq(st.locations, 2);
	cr_assert_eq(st.records, 2);
	cr_assert_eq(st.idempotency_keys, 0);
	/* Existing skus at existing locations are fine. */
	put(c, "A", "W2", 4);
	put(c, "B", "W1", 4);
	rec_is(c, "A", "W2", 4, 0, 0, 0, 1);
	cr_assert_str_eq(locs_of(c, "B"), "W1=4,W2=1");
	done(c);
}

Test(core, a_full_reservation_table_forgets_the_oldest_finished_one_or_answers_busy)
{
	core_config cfg;
	core_config_default(&cfg);
	cfg.reservations_max = 2;
	core *c = mk_cfg(&cfg);
	put(c, "A", "W1", 10);
	rid a = hold(c, 0, "o-1", L({ "A" }, { 1 }), 60000);
	rid b = hold(c, 0, "o-2", L({ "A" }, { 1 }), 60000);
	core_advance(c, 0);
	char *before = dump(c);
	core_result res;
	core_error err;
	cr_assert_eq(reserve(c, 0, "o-3", L({ "A" }, { 1 }), 60000, false, NULL, &res, &err), CORE_E_BUSY);
	dump_unchanged(before, c, "a BUSY reserve");
	free(before);
	cr_assert_eq(release(c, 0, a.s, NONE, &err), CORE_OK);
	rid d = hold(c, 0, "o-3", L({ "A" }, { 1 }), 60000);
	not_found(c, a.s);
	cr_assert_eq(status_of(c, b.s), CORE_RESV_HELD);
	cr_assert_eq(status_of(c, d.s), CORE_RESV_HELD);
	rec_is(c, "A", "W1", 10, 2, 0, 0, 5);
	done(c);
}

Test(core, thousands_of_skus_and_reservations_stay_consistent_as_the_tables_grow)
{
	core *c = mk();
	enum { N = 5000 };
	static char names[N][16];
	static rid ids[N];
	core_error err;
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "sku-%d", i);
		put(c, names[i], i % 2 ? "W1" : "W2", 2 + i % 3);
	}
	for (int i = 0; i < N; i++)
		ids[i] = hold(c, 1, names[i], L({ names[i] }, { 1 + i % 2 }), 1000 + i);
	for (int i = 0; i < N; i += 3)
		cr_assert_eq(commit(c, 2, ids[i].s, &err), CORE_OK);
	for (int i = 1; i < N; i += 3)
		cr_assert_eq(release(c, 2, ids[i].s, NONE, &err), CORE_OK);
	/* Holds of i % 3 == 2 expire at 1 + 1000 + i: half of them by 3500. */
	core_advance(c, 3500);
	const char *why = core_check(c);
	cr_assert_null(why, "%s", why ? why : "");
	for (int i = 0; i < N; i++) {
		core_resv_status want = i % 3 == 0 ? CORE_RESV_COMMITTED : i % 3 == 1 ? CORE_RESV_RELEASED :
		    1 + 1000 + i <= 3500 ? CORE_RESV_EXPIRED : CORE_RESV_HELD;
		cr_assert_eq(status_of(c, ids[i].s), want, "%s", ids[i].s);
		int64_t qty = 1 + i % 2;
		rec_is(c, names[i], i % 2 ? "W1" : "W2", 2 + i % 3, want == CORE_RESV_HELD ? qty : 0,
		    want == CORE_RESV_COMMITTED ? qty : 0, 0,
		    want == CORE_RESV_COMMITTED || want == CORE_RESV_RELEASED || want == CORE_RESV_EXPIRED ? 3 : 2);
	}
	core_stats st;
	core_stats_get(c, &st);
	cr_assert_eq(st.skus, N);
	cr_assert_eq(st.records, N);
	cr_assert_eq(st.locations, 2);
	done(c);
}

Test(core, fulfilling_more_than_on_hand_after_a_count_leaves_on_hand_at_zero)
{
	/* stock.set may count fewer units than were committed (oversold); the
	 * contract says fulfill lowers on_hand by the units, and on_hand cannot
	 * go below 0. */
	core *c = mk();
	put(c, "A", "W1", 5);
	rid r = hold(c, 0, "o-1", L({ "A" }, { 5 }), 60000);
	core_error err;
	cr_assert_eq(commit(c, 0, r.s, &err), CORE_OK);
	put(c, "A", "W1", 2);
	rec_is(c, "A", "W1", 2, 0, 5, 0, 4);
	cr_assert_eq(fulfill(c, 0, r.s, L({ "A" }, { 1 }), &err), CORE_OK);
	rec_is(c, "A", "W1", 1, 0, 4, 0, 5);
	cr_assert_eq(fulfill(c, 0, r.s, NONE, &err), CORE_OK);
	rec_is(c, "A", "W1", 0, 0, 0, 0, 6);
	cr_assert_eq(status_of(c, r.s), CORE_RESV_FULFILLED);
	line_is(c, r.s, 0, "A", 5, 0, 0, 5, "W1=0");
	done(c);
}

/* ------------------------------------------------------------------------
 * Seeded random test against a reference model
 *
 * The model is plain arrays, written from the specification (PROTOCOL.md,
 * Model and Methods): records per (sku, location), reservations with their
 * lines and allocations, idempotency keys. Every step runs one random
 * command (valid or not) on both and compares: the outcome and error code,
 * the reply, every record, the touched and the expired reservations, the
 * counters; core_check(); and for a failed command, the canonical dump
 * before and after.
 * --------------------------------------------------------------------- */

#define M_SKUS 6      /* stocked skus s0..s5 */
#define M_NAMES 7     /* plus "zz", never stocked */
#define M_LOCS 4
#define M_KEYS 6      /* idempotency keys per method */
#define M_LINES_MAX 3 /* cfg.lines_max */
#define M_TTL_MAX 10000
#define M_TTL_DEFAULT 3000
#define M_RETAIN 8000

static const char *const m_sku_name[M_NAMES] = { "s0", "s1", "s2", "s3", "s4", "s5", "zz" };
/* Listed out of rank order: bytewise the rank is A, W, W10, W2. */
static const char *const m_loc_name[M_LOCS] = { "W2", "W10", "A", "W" };
static const char *const m_adj_key_name[M_KEYS] = { "a0", "a1", "a2", "a3", "a4", "a5" };
static const char *const m_res_key_name[M_KEYS] = { "k0", "k1", "k2", "k3", "k4", "k5" };
static const char *const m_reason[2] = { "", "cycle count" };

typedef struct m_rec {
	bool exists;
	int64_t on_hand, reserved, committed, safety;
	uint64_t version;
} m_rec;

typedef struct m_alloc {
	int loc;
	int64_t qty, orig;
} m_alloc;

typedef struct m_line {
	int sku;
	int64_t qty, released, fulfilled;
	int nallocs;
	m_alloc a[M_LOCS];
} m_line;

typedef struct m_resv {
	uint64_t seq;
	char order[24];
	int status;
	int64_t deadline, orig_deadline, finished_at;
	uint64_t fin_order;
	bool forgotten;
	int key; /* reserve key index or -1 */
	int live_pos; /* index in model.live while held or committed, else -1 */
	int nlines;
	m_line l[M_LINES_MAX];
} m_resv;

typedef struct m_adj_key {
	bool used;
	int sku, loc, reason;
	int64_t delta;
	m_rec reply;
	int64_t created;
	uint64_t order;
} m_adj_key;

typedef struct m_res_key {
	bool used;
	int resv;
	char order[24];
	int nlines;
	int sku[M_LINES_MAX + 1];
	int64_t qty[M_LINES_MAX + 1];
	int64_t ttl; /* resolved */
	bool partial;
} m_res_key;

typedef struct model {
	m_rec rec[M_SKUS][M_LOCS];
	int rank[M_LOCS]; /* rank position -> location index */
	m_resv *r;
	int nr, capr;
	int *live; /* indices of held or committed reservations */
	int nlive;
	uint64_t next_seq, fin_counter, key_counter, expired_total;
	m_adj_key adj[M_KEYS];
	m_res_key res[M_KEYS];
	int64_t now;
} model;

/* Context for failure messages. */
static uint64_t g_seed;
static int g_step;
static const char *g_op = "";

#define MCHECK(cond, ...) do { \
		if (!(cond)) { \
			char mcheck_msg__[512]; \
			snprintf(mcheck_msg__, sizeof(mcheck_msg__), __VA_ARGS__); \
			cr_assert_fail("seed %" PRIu64 " step %d op %s: %s (%s)", g_seed, g_step, g_op, \
			    mcheck_msg__, #cond); \
		} \
	} while (0)

static int64_t m_avail(const m_rec *r)
{
	int64_t a = r->on_hand - r->reserved - r->committed - r->safety;
	return a > 0 ? a : 0;
}

static void m_init(model *m)
{
	memset(m, 0, sizeof(*m));
	m->next_seq = 1;
	/* Rank by name, bytewise (strcmp puts a prefix first). */
	for (int i = 0; i < M_LOCS; i++)
		m->rank[i] = i;
	for (int i = 1; i < M_LOCS; i++)
		for (int j = i; j > 0 && strcmp(m_loc_name[m->rank[j]], m_loc_name[m->rank[j - 1]]) < 0; j--) {
			int t = m->rank[j];
			m->rank[j] = m->rank[j - 1];
			m->rank[j - 1] = t;
		}
	for (int i = 0; i < M_KEYS; i++)
		m->res[i].resv = -1;
}

static void m_free(model *m)
{
	free(m->r);
	free(m->live);
}

static m_resv *m_new_resv(model *m)
{
	if (m->nr == m->capr) {
		m->capr = m->capr ? m->capr * 2 : 1024;
		m->r = realloc(m->r, (size_t)m->capr * sizeof(*m->r));
		m->live = realloc(m->live, (size_t)m->capr * sizeof(*m->live));
		cr_assert(m->r && m->live);
	}
	m_resv *r = &m->r[m->nr];
	memset(r, 0, sizeof(*r));
	r->key = -1;
	r->live_pos = m->nlive;
	m->live[m->nlive++] = m->nr;
	m->nr++;
	return r;
}

/* A reservation leaves held/committed; an expired hold finishes at its
 * deadline, whenever its expiry is processed. */
static void m_finish(model *m, m_resv *r, int status)
{
	r->status = status;
	r->finished_at = status == CORE_RESV_EXPIRED ? r->deadline : m->now;
	r->fin_order = ++m->fin_counter;
	int last = m->live[--m->nlive];
	m->live[r->live_pos] = last;
	m->r[last].live_pos = r->live_pos;
	r->live_pos = -1;
}

static int64_t m_line_left(const m_line *l)
{
	int64_t n = 0;
	for (int j = 0; j < l->nallocs; j++)
		n += l->a[j].qty;
	return n;
}

static void m_expire(model *m, m_resv *r)
{
	for (int i = 0; i < r->nlines; i++)
		for (int j = 0; j < r->l[i].nallocs; j++) {
			m_alloc *a = &r->l[i].a[j];
			if (a->qty == 0)
				continue;
			m_rec *rec = &m->rec[r->l[i].sku][a->loc];
			rec->reserved -= a->qty;
			rec->version++;
		}
	m_finish(m, r, CORE_RESV_EXPIRED);
	m->expired_total++;
}

static bool m_due_before(const model *m, int a, int b)
{
	const m_resv *x = &m->r[a], *y = &m->r[b];
	if (x->deadline != y->deadline)
		return x->deadline < y->deadline;
	return x->seq < y->seq;
}

/* Expire at most budget due holds, by (deadline, id); their indices go to
 * out (if given). Returns how many. */
static int m_expire_due(model *m, uint32_t budget, int *out)
{
	int due[4096], n = 0;
	for (int i = 0; i < m->nlive; i++) {
		const m_resv *r = &m->r[m->live[i]];
		if (r->status == CORE_RESV_HELD && r->deadline <= m->now) {
			cr_assert_lt(n, 4096);
			due[n++] = m->live[i];
		}
	}
	for (int i = 1; i < n; i++) /* insertion sort: few are due at once */
		for (int j = i; j > 0 && m_due_before(m, due[j], due[j - 1]); j--) {
			int t = due[j];
			due[j] = due[j - 1];
			due[j - 1] = t;
		}
	if ((uint32_t)n > budget)
		n = (int)budget;
	for (int i = 0; i < n; i++) {
		m_expire(m, &m->r[due[i]]);
		if (out)
			out[i] = due[i];
	}
	return n;
}

static int m_advance(model *m, int64_t now, int *out)
{
	if (now > m->now)
		m->now = now;
	return m_expire_due(m, UINT32_MAX, out);
}

/* core_sweep: expire, then forget finished reservations (oldest finished
 * first), then adjust keys (oldest first), budget items in all. */
static uint32_t m_sweep(model *m, int64_t now, uint32_t budget)
{
	if (now > m->now)
		m->now = now;
	uint32_t done_n = (uint32_t)m_expire_due(m, budget, NULL);
	while (done_n < budget) {
		m_resv *oldest = NULL;
		for (int i = 0; i < m->nr; i++) {
			m_resv *r = &m->r[i];
			if (r->forgotten || r->live_pos >= 0)
				continue;
			if (oldest == NULL || r->fin_order < oldest->fin_order)
				oldest = r;
		}
		if (oldest == NULL || oldest->finished_at + M_RETAIN > m->now)
			break;
		oldest->forgotten = true;
		if (oldest->key >= 0) {
			m->res[oldest->key].used = false;
			m->res[oldest->key].resv = -1;
		}
		done_n++;
	}
	while (done_n < budget) {
		m_adj_key *oldest = NULL;
		for (int k = 0; k < M_KEYS; k++)
			if (m->adj[k].used && (oldest == NULL || m->adj[k].order < oldest->order))
				oldest = &m->adj[k];
		if (oldest == NULL || oldest->created + M_RETAIN > m->now)
			break;
		oldest->used = false;
		done_n++;
	}
	return done_n;
}

/* ---- model commands ---- */

typedef struct m_out {
	int rc;
	uint64_t err_version;     /* CONFLICT of stock.set */
	int nshort;               /* OUT_OF_STOCK */
	int short_sku[M_LINES_MAX + 1];
	int64_t short_req[M_LINES_MAX + 1], short_avail[M_LINES_MAX + 1];
	bool replayed;
	m_rec reply;              /* stock commands */
	int sku, loc;             /* stock commands: the record */
	int resv;                 /* reservation commands: model index */
} m_out;

static int m_stock(model *m, core_cmd_type type, int sku, int loc, int64_t on_hand,
    int64_t safety, int64_t if_version, int64_t delta, int key, int reason, m_out *o)
{
	m_rec *rec = &m->rec[sku][loc];
	o->sku = sku;
	o->loc = loc;
	if (type == CORE_CMD_STOCK_ADJUST && key >= 0 && m->adj[key].used) {
		const m_adj_key *k = &m->adj[key];
		if (k->sku != sku || k->loc != loc || k->delta != delta || k->reason != reason)
			return o->rc = CORE_E_CONFLICT;
		o->replayed = true;
		o->reply = k->reply;
		return o->rc = CORE_OK;
	}
	int64_t have = rec->exists ? rec->on_hand : 0, next;
	if (type == CORE_CMD_STOCK_SET) {
		if (on_hand < 0 || on_hand > CORE_QTY_MAX || safety < -1 || safety > CORE_QTY_MAX)
			return o->rc = CORE_E_BAD_REQUEST;
		uint64_t version = rec->exists ? rec->version : 0;
		if (if_version >= 0 && (uint64_t)if_version != version) {
			o->err_version = version;
			return o->rc = CORE_E_CONFLICT;
		}
		next = on_hand;
	} else {
		int64_t lo = type == CORE_CMD_RESTOCK ? 1 : -CORE_QTY_MAX;
		if (delta < lo || delta > CORE_QTY_MAX)
			return o->rc = CORE_E_BAD_REQUEST;
		next = have + delta;
		if (next < 0 || next > CORE_QTY_MAX)
			return o->rc = CORE_E_BAD_REQUEST;
	}
	if (!rec->exists)
		*rec = (m_rec){ .exists = true };
	rec->on_hand = next;
	if (type == CORE_CMD_STOCK_SET && safety >= 0)
		rec->safety = safety;
	rec->version++;
	o->reply = *rec;
	if (type == CORE_CMD_STOCK_ADJUST && key >= 0)
		m->adj[key] = (m_adj_key){ true, sku, loc, reason, delta, *rec, m->now, ++m->key_counter };
	return o->rc = CORE_OK;
}

/* The plan, by the rule: the best-ranked location that covers every line
 * whole holds everything; otherwise each line takes from its sku's
 * locations in rank order. Lines of unknown skus find nothing. */
typedef struct m_plan {
	int nallocs[M_LINES_MAX + 1];
	m_alloc a[M_LINES_MAX + 1][M_LOCS];
	int64_t held[M_LINES_MAX + 1];
	int64_t units;
	int nshort;
} m_plan;

static const m_rec *m_rec_of(const model *m, int sku, int loc)
{
	if (sku >= M_SKUS || !m->rec[sku][loc].exists)
		return NULL;
	return &m->rec[sku][loc];
}

/* True when set a beats set b of the same size: compared in rank order,
 * best first (bit k is the location ranked k). */
static bool m_set_before(unsigned a, unsigned b)
{
	for (int k = 0; k < M_LOCS; k++)
		if (((a ^ b) >> k) & 1)
			return (a >> k) & 1;
	return false;
}

/* The planner's rule by brute force over every set of locations: the most
 * units held, then the fewest locations, then the best-ranked set; each
 * line then draws from the set in rank order. */
static void m_plan_make(const model *m, const int *sku, const int64_t *qty, int n, m_plan *p)
{
	memset(p, 0, sizeof(*p));
	unsigned best = 0;
	int64_t best_units = -1;
	for (unsigned set = 0; set < (1u << M_LOCS); set++) {
		int64_t units = 0;
		bool useless = false;
		for (int k = 0; k < M_LOCS; k++) {
			if (!((set >> k) & 1))
				continue;
			int64_t offers = 0; /* a location without stock is not usable */
			for (int i = 0; i < n; i++) {
				const m_rec *rec = m_rec_of(m, sku[i], m->rank[k]);
				offers += rec ? m_avail(rec) : 0;
			}
			useless |= offers == 0;
		}
		if (useless)
			continue;
		for (int i = 0; i < n; i++) {
			int64_t sum = 0;
			for (int k = 0; k < M_LOCS; k++) {
				const m_rec *rec = (set >> k) & 1 ? m_rec_of(m, sku[i], m->rank[k]) : NULL;
				sum += rec ? m_avail(rec) : 0;
			}
			units += sum < qty[i] ? sum : qty[i];
		}
		int size = __builtin_popcount(set), best_size = __builtin_popcount(best);
		if (units > best_units || (units == best_units && (size < best_size ||
		    (size == best_size && m_set_before(set, best))))) {
			best = set;
			best_units = units;
		}
	}
	for (int i = 0; i < n; i++) {
		int64_t need = qty[i];
		for (int k = 0; k < M_LOCS && need > 0; k++) {
			int loc = m->rank[k];
			const m_rec *rec = m_rec_of(m, sku[i], loc);
			if (rec == NULL || !((best >> k) & 1))
				continue;
			int64_t take = m_avail(rec) < need ? m_avail(rec) : need;
			if (take == 0)
				continue;
			p->a[i][p->nallocs[i]++] = (m_alloc){ loc, take, take };
			need -= take;
		}
		p->held[i] = qty[i] - need;
		p->units += p->held[i];
		if (need > 0)
			p->nshort++;
	}
}

static int m_reserve(model *m, const char *order, const int *sku, const int64_t *qty, int n,
    int64_t ttl, bool partial, int key, m_out *o)
{
	if (n == 0)
		return o->rc = CORE_E_BAD_REQUEST;
	if (n > M_LINES_MAX)
		return o->rc = CORE_E_TOO_LARGE;
	if (ttl == -1)
		ttl = M_TTL_DEFAULT;
	if (ttl < 1 || ttl > M_TTL_MAX)
		return o->rc = CORE_E_BAD_REQUEST;
	for (int i = 0; i < n; i++) {
		if (qty[i] < 1 || qty[i] > CORE_QTY_MAX)
			return o->rc = CORE_E_BAD_REQUEST;
		for (int j = 0; j < i; j++)
			if (sku[j] == sku[i])
				return o->rc = CORE_E_BAD_REQUEST;
	}
	if (key >= 0 && m->res[key].used) {
		const m_res_key *k = &m->res[key];
		bool same = strcmp(k->order, order) == 0 && k->nlines == n && k->ttl == ttl &&
		    k->partial == partial;
		for (int i = 0; i < n && same; i++)
			same = k->sku[i] == sku[i] && k->qty[i] == qty[i];
		if (!same)
			return o->rc = CORE_E_CONFLICT;
		o->replayed = true;
		o->resv = k->resv;
		return o->rc = CORE_OK;
	}
	m_plan p;
	m_plan_make(m, sku, qty, n, &p);
	if (p.nshort && (!partial || p.units == 0)) {
		for (int i = 0; i < n; i++)
			if (p.held[i] < qty[i]) {
				o->short_sku[o->nshort] = sku[i];
				o->short_req[o->nshort] = qty[i];
				o->short_avail[o->nshort] = p.held[i];
				o->nshort++;
			}
		return o->rc = CORE_E_OUT_OF_STOCK;
	}
	m_resv *r = m_new_resv(m);
	r->seq = m->next_seq++;
	snprintf(r->order, sizeof(r->order), "%s", order);
	r->status = CORE_RESV_HELD;
	r->deadline = r->orig_deadline = m->now + ttl;
	r->finished_at = -1;
	r->nlines = n;
	for (int i = 0; i < n; i++) {
		m_line *l = &r->l[i];
		*l = (m_line){ .sku = sku[i], .qty = qty[i], .nallocs = p.nallocs[i] };
		for (int j = 0; j < p.nallocs[i]; j++) {
			l->a[j] = p.a[i][j];
			m_rec *rec = &m->rec[sku[i]][l->a[j].loc];
			rec->reserved += l->a[j].qty;
			rec->version++;
		}
	}
	if (key >= 0) {
		m_res_key *k = &m->res[key];
		*k = (m_res_key){ .used = true, .resv = m->nr - 1, .nlines = n, .ttl = ttl,
			.partial = partial };
		snprintf(k->order, sizeof(k->order), "%s", order);
		for (int i = 0; i < n; i++) {
			k->sku[i] = sku[i];
			k->qty[i] = qty[i];
		}
		r->key = key;
	}
	o->resv = m->nr - 1;
	return o->rc = CORE_OK;
}

/* idx < 0: an id the core never made. */
static m_resv *m_lookup(model *m, int idx)
{
	return (idx >= 0 && !m->r[idx].forgotten) ? &m->r[idx] : NULL;
}

static int m_commit(model *m, int idx, m_out *o)
{
	m_resv *r = m_lookup(m, idx);
	o->resv = idx;
	if (r == NULL)
		return o->rc = CORE_E_NOT_FOUND;
	if (r->status == CORE_RESV_COMMITTED)
		return o->rc = CORE_OK;
	if (r->status != CORE_RESV_HELD)
		return o->rc = CORE_E_INVALID_STATE;
	for (int i = 0; i < r->nlines; i++)
		for (int j = 0; j < r->l[i].nallocs; j++) {
			const m_alloc *a = &r->l[i].a[j];
			if (a->qty == 0)
				continue;
			m_rec *rec = &m->rec[r->l[i].sku][a->loc];
			rec->reserved -= a->qty;
			rec->committed += a->qty;
			rec->version++;
		}
	r->status = CORE_RESV_COMMITTED;
	return o->rc = CORE_OK;
}

/* Take qty off a line, worst-ranked allocation first (allocations are in
 * rank order). Fulfilled units leave on_hand too, which never goes below 0. */
static void m_line_take(model *m, m_resv *r, m_line *l, int64_t qty, bool fulfil)
{
	for (int j = l->nallocs - 1; j >= 0 && qty > 0; j--) {
		m_alloc *a = &l->a[j];
		int64_t take = a->qty < qty ? a->qty : qty;
		if (take == 0)
			continue;
		m_rec *rec = &m->rec[l->sku][a->loc];
		if (r->status == CORE_RESV_HELD) {
			rec->reserved -= take;
		} else {
			rec->committed -= take;
			if (fulfil)
				rec->on_hand = rec->on_hand > take ? rec->on_hand - take : 0;
		}
		rec->version++;
		a->qty -= take;
		qty -= take;
		if (fulfil)
			l->fulfilled += take;
		else
			l->released += take;
	}
	cr_assert_eq(qty, 0);
}

/* lines NULL: the whole reservation. */
static int m_release_fulfill(model *m, int idx, const int *sku, const int64_t *qty, int n,
    bool whole, bool fulfil, m_out *o)
{
	m_resv *r = m_lookup(m, idx);
	o->resv = idx;
	if (r == NULL)
		return o->rc = CORE_E_NOT_FOUND;
	if (fulfil ? r->status != CORE_RESV_COMMITTED
	           : (r->status != CORE_RESV_HELD && r->status != CORE_RESV_COMMITTED))
		return o->rc = CORE_E_INVALID_STATE;
	int which[M_LINES_MAX + 2];
	if (!whole) {
		if (n == 0 || n > r->nlines)
			return o->rc = CORE_E_BAD_REQUEST;
		for (int i = 0; i < n; i++) {
			int k = 0;
			while (k < r->nlines && r->l[k].sku != sku[i])
				k++;
			if (k == r->nlines)
				return o->rc = CORE_E_BAD_REQUEST;
			for (int j = 0; j < i; j++)
				if (which[j] == k)
					return o->rc = CORE_E_BAD_REQUEST;
			if (qty[i] < 1 || qty[i] > m_line_left(&r->l[k]))
				return o->rc = CORE_E_BAD_REQUEST;
			which[i] = k;
		}
		for (int i = 0; i < n; i++)
			m_line_take(m, r, &r->l[which[i]], qty[i], fulfil);
	} else {
		for (int i = 0; i < r->nlines; i++)
			m_line_take(m, r, &r->l[i], m_line_left(&r->l[i]), fulfil);
	}
	bool left = false, fulfilled = false;
	for (int i = 0; i < r->nlines; i++) {
		left |= m_line_left(&r->l[i]) > 0;
		fulfilled |= r->l[i].fulfilled > 0;
	}
	if (!left)
		m_finish(m, r, fulfilled ? CORE_RESV_FULFILLED : CORE_RESV_RELEASED);
	return o->rc = CORE_OK;
}

static int m_extend(model *m, int idx, int64_t ttl, m_out *o)
{
	m_resv *r = m_lookup(m, idx);
	o->resv = idx;
	if (r == NULL)
		return o->rc = CORE_E_NOT_FOUND;
	if (ttl < 1 || ttl > M_TTL_MAX)
		return o->rc = CORE_E_BAD_REQUEST;
	if (r->status != CORE_RESV_HELD)
		return o->rc = CORE_E_INVALID_STATE;
	r->deadline = m->now + ttl;
	return o->rc = CORE_OK;
}

/* ---- comparing the core with the model ---- */

#define M_EPOCH UINT64_C(0x6b0401fa) /* high half of ids: exercises a-f digits */

static void m_id(uint64_t seq, char out[CORE_RESERVATION_ID_LEN + 1])
{
	snprintf(out, CORE_RESERVATION_ID_LEN + 1, "r-%016" PRIx64, (M_EPOCH << 32) + seq);
}

static void m_check_resv(const core *c, const model *m, int idx)
{
	const m_resv *mr = &m->r[idx];
	char id[CORE_RESERVATION_ID_LEN + 1];
	m_id(mr->seq, id);
	const core_resv *r = NULL;
	core_error err;
	int rc = core_resv_find(c, S(id), &r, &err);
	if (mr->forgotten) {
		MCHECK(rc == CORE_E_NOT_FOUND, "%s was forgotten by the model, core says %s", id,
		    core_strerror(rc));
		return;
	}
	MCHECK(rc == CORE_OK, "%s: %s", id, err.message);
	core_resv_view v;
	core_resv_view_get(c, r, &v);
	MCHECK(strcmp(v.id, id) == 0, "id %s want %s", v.id, id);
	MCHECK(str_is(v.order_id, mr->order), "%s order", id);
	MCHECK((int)v.status == mr->status, "%s status %s want %s", id, core_resv_status_name(v.status),
	    core_resv_status_name((core_resv_status)mr->status));
	int64_t exp = (mr->status == CORE_RESV_HELD || mr->status == CORE_RESV_EXPIRED) ? mr->deadline : -1;
	MCHECK(v.expires_at_ms == exp, "%s expires_at %" PRId64 " want %" PRId64, id, v.expires_at_ms, exp);
	MCHECK(v.nlines == (uint32_t)mr->nlines, "%s nlines", id);
	core_resv_view_original(c, r, &v);
	MCHECK(v.status == CORE_RESV_HELD && v.expires_at_ms == mr->orig_deadline, "%s original", id);
	for (int i = 0; i < mr->nlines; i++) {
		const m_line *ml = &mr->l[i];
		core_line_view lv;
		core_resv_line_get(c, r, (uint32_t)i, &lv);
		int64_t held = 0;
		for (int j = 0; j < ml->nallocs; j++)
			held += ml->a[j].orig;
		MCHECK(str_is(lv.sku, m_sku_name[ml->sku]), "%s line %d sku", id, i);
		MCHECK(lv.qty == ml->qty, "%s line %d qty", id, i);
		MCHECK(lv.short_qty == ml->qty - held, "%s line %d short %" PRId64 " want %" PRId64, id, i,
		    lv.short_qty, ml->qty - held);
		MCHECK(lv.released == ml->released, "%s line %d released %" PRId64 " want %" PRId64, id, i,
		    lv.released, ml->released);
		MCHECK(lv.fulfilled == ml->fulfilled, "%s line %d fulfilled %" PRId64 " want %" PRId64, id,
		    i, lv.fulfilled, ml->fulfilled);
		MCHECK(lv.nallocs == (uint32_t)ml->nallocs, "%s line %d nallocs %u want %d", id, i,
		    lv.nallocs, ml->nallocs);
		for (int j = 0; j < ml->nallocs; j++) {
			core_alloc_view av;
			core_resv_alloc_get(c, r, (uint32_t)i, (uint32_t)j, &av);
			MCHECK(str_is(av.location, m_loc_name[ml->a[j].loc]), "%s line %d alloc %d location %.*s want %s",
			    id, i, j, (int)av.location.len, av.location.p, m_loc_name[ml->a[j].loc]);
			MCHECK(av.qty == ml->a[j].qty, "%s line %d alloc %d qty %" PRId64 " want %" PRId64, id, i,
			    j, av.qty, ml->a[j].qty);
			MCHECK(core_resv_alloc_original_qty(r, (uint32_t)i, (uint32_t)j) == ml->a[j].orig,
			    "%s line %d alloc %d orig", id, i, j);
		}
	}
}

typedef struct m_got {
	core_record_view v[M_LOCS + 1];
	uint32_t n;
} m_got;

static void m_got_emit(void *ctx, const core_record_view *v)
{
	m_got *g = ctx;
	if (g->n <= M_LOCS)
		g->v[g->n] = *v;
	g->n++;
}

static void m_check_rec_view(const core_record_view *v, const m_rec *mr, int sku, int loc,
    const char *what)
{
	MCHECK(str_is(v->sku, m_sku_name[sku]) && str_is(v->location, m_loc_name[loc]),
	    "%s: %s@%s names", what, m_sku_name[sku], m_loc_name[loc]);
	MCHECK(v->on_hand >= 0 && v->reserved >= 0 && v->committed >= 0 && v->safety >= 0 &&
	    v->available >= 0 && v->oversold >= 0, "%s: %s@%s has a negative quantity", what,
	    m_sku_name[sku], m_loc_name[loc]);
	MCHECK(v->on_hand == mr->on_hand && v->reserved == mr->reserved &&
	    v->committed == mr->committed && v->safety == mr->safety && v->version == mr->version,
	    "%s: %s@%s is on_hand %" PRId64 " reserved %" PRId64 " committed %" PRId64 " safety %"
	    PRId64 " v%" PRIu64 ", model %" PRId64 "/%" PRId64 "/%" PRId64 "/%" PRId64 " v%" PRIu64,
	    what, m_sku_name[sku], m_loc_name[loc], v->on_hand, v->reserved, v->committed, v->safety,
	    v->version, mr->on_hand, mr->reserved, mr->committed, mr->safety, mr->version);
	int64_t over = mr->reserved + mr->committed - mr->on_hand;
	MCHECK(v->available == m_avail(mr) && v->oversold == (over > 0 ? over : 0),
	    "%s: %s@%s available/oversold", what, m_sku_name[sku], m_loc_name[loc]);
}

/* Every record, in rank order; reserved/committed equal the sums over live
 * holds; the counters. */
static void m_check_state(const core *c, const model *m)
{
	int64_t sres[M_SKUS][M_LOCS] = { { 0 } }, scom[M_SKUS][M_LOCS] = { { 0 } };
	int64_t next_deadline = INT64_MAX;
	for (int i = 0; i < m->nlive; i++) {
		const m_resv *r = &m->r[m->live[i]];
		MCHECK(r->status == CORE_RESV_HELD || r->status == CORE_RESV_COMMITTED, "model live list");
		if (r->status == CORE_RESV_HELD && r->deadline < next_deadline)
			next_deadline = r->deadline;
		for (int li = 0; li < r->nlines; li++)
			for (int j = 0; j < r->l[li].nallocs; j++) {
				int64_t (*sum)[M_LOCS] = r->status == CORE_RESV_HELD ? sres : scom;
				sum[r->l[li].sku][r->l[li].a[j].loc] += r->l[li].a[j].qty;
			}
	}
	uint64_t skus = 0, records = 0, units_reserved = 0, units_committed = 0;
	bool loc_used[M_LOCS] = { false };
	for (int s = 0; s < M_NAMES; s++) {
		m_got g = { .n = 0 };
		uint32_t n = 0;
		core_error err;
		int rc = core_stock_get(c, S(m_sku_name[s]), ABSENT, m_got_emit, &g, &n, &err);
		int want = 0;
		int64_t total = 0;
		for (int k = 0; k < M_LOCS; k++) {
			int loc = m->rank[k];
			const m_rec *mr = m_rec_of(m, s, loc);
			if (mr == NULL)
				continue;
			MCHECK(mr->reserved == sres[s][loc] && mr->committed == scom[s][loc],
			    "model %s@%s reserved/committed differ from its live holds", m_sku_name[s],
			    m_loc_name[loc]);
			MCHECK(mr->on_hand >= 0 && mr->reserved >= 0 && mr->committed >= 0, "model negative");
			MCHECK((int)g.n > want, "%s: core has %u records, model more", m_sku_name[s], g.n);
			m_check_rec_view(&g.v[want], mr, s, loc, "stock.get");
			units_reserved += (uint64_t)mr->reserved;
			units_committed += (uint64_t)mr->committed;
			total += m_avail(mr);
			loc_used[loc] = true;
			want++;
		}
		if (want == 0) {
			MCHECK(rc == CORE_E_NOT_FOUND, "%s should not exist", m_sku_name[s]);
		} else {
			MCHECK(rc == CORE_OK && n == (uint32_t)want && g.n == (uint32_t)want,
			    "%s: %u records, model %d", m_sku_name[s], g.n, want);
			skus++;
			records += (uint64_t)want;
		}
		uint32_t nlocs = 0;
		MCHECK(core_avail(c, S(m_sku_name[s]), ABSENT, NULL, NULL, &nlocs) == total &&
		    nlocs == (uint32_t)want, "%s: avail", m_sku_name[s]);
	}
	core_stats st;
	core_stats_get(c, &st);
	uint64_t by_status[5] = { 0 }, keys = 0, locations = 0;
	for (int i = 0; i < m->nr; i++)
		if (!m->r[i].forgotten)
			by_status[m->r[i].status]++;
	for (int k = 0; k < M_KEYS; k++)
		keys += m->adj[k].used + m->res[k].used;
	for (int l = 0; l < M_LOCS; l++)
		locations += loc_used[l];
	MCHECK(st.skus == skus && st.records == records, "stats skus/records");
	MCHECK(st.locations == locations, "stats locations %" PRIu64 " want %" PRIu64, st.locations, locations);
	for (int s = 0; s < 5; s++)
		MCHECK(st.reservations[s] == by_status[s], "stats %s: %" PRIu64 " want %" PRIu64,
		    core_resv_status_name((core_resv_status)s), st.reservations[s], by_status[s]);
	MCHECK(st.units_reserved == units_reserved && st.units_committed == units_committed,
	    "stats units");
	MCHECK(st.expired_total == m->expired_total, "expired_total %" PRIu64 " want %" PRIu64,
	    st.expired_total, m->expired_total);
	MCHECK(st.idempotency_keys == keys, "idempotency keys %" PRIu64 " want %" PRIu64,
	    st.idempotency_keys, keys);
	MCHECK(st.now_ms == m->now, "now");
	MCHECK(core_next_deadline(c) == next_deadline, "next deadline %" PRId64 " want %" PRId64,
	    core_next_deadline(c), next_deadline);
	const char *why = core_check(c);
	MCHECK(why == NULL, "core_check: %s", why ? why : "");
}

static void m_check_all_resv(const core *c, const model *m)
{
	for (int i = 0; i < m->nr; i++)
		m_check_resv(c, m, i);
}

static void m_dump_same(const char *before, const char *after)
{
	if (strcmp(before, after) == 0)
		return;
	size_t i = 0;
	while (before[i] == after[i])
		i++;
	while (i > 0 && before[i - 1] != '\n')
		i--;
	MCHECK(false, "a failed command changed the dump; before: \"%.120s\" after: \"%.120s\"",
	    before + i, after + i);
}

/* ---- the random walk ---- */

static uint64_t g_rng;

static uint64_t rnd64(void)
{
	uint64_t z = (g_rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int rnd(int n)
{
	return (int)(rnd64() % (uint64_t)n);
}

/* A reservation id to act on: mostly recent or live ones, some old or
 * forgotten, some the core never made. Returns the model index or -1. */
static int m_pick(const model *m, char id[32], int prefer)
{
	int x = rnd(100);
	if (prefer >= 0 && x >= 8 && x < 50) { /* a live one in the preferred state */
		int cand[64], n = 0;
		for (int i = 0; i < m->nlive && n < 64; i++)
			if (m->r[m->live[i]].status == prefer)
				cand[n++] = m->live[i];
		if (n) {
			int idx = cand[rnd(n)];
			m_id(m->r[idx].seq, id);
			return idx;
		}
	}
	if (m->nr == 0 || x < 8) {
		switch (rnd(5)) {
		case 0: /* the next id, not made yet */
			m_id(m->next_seq + (uint64_t)rnd(3), id);
			break;
		case 1: /* an existing id in upper case */
			m_id(m->nr ? m->r[rnd(m->nr)].seq : 1, id);
			for (char *p = id + 2; *p; p++)
				if (*p >= 'a' && *p <= 'f')
					*p = (char)(*p - 'a' + 'A');
			break;
		case 2:
			snprintf(id, 32, "r-%016" PRIx64, (uint64_t)1); /* wrong epoch */
			break;
		case 3:
			snprintf(id, 32, "r-zzzzzzzzzzzzzzzz");
			break;
		default:
			id[0] = '\0';
		}
		return -1;
	}
	int idx;
	if (x < 55 && m->nlive)
		idx = m->live[rnd(m->nlive)];
	else if (x < 80)
		idx = m->nr - 1 - rnd(m->nr < 20 ? m->nr : 20);
	else
		idx = rnd(m->nr);
	m_id(m->r[idx].seq, id);
	return idx;
}

static void run_model(uint64_t seed, int steps)
{
	g_seed = seed;
	g_rng = seed;
	core_config cfg;
	core_config_default(&cfg);
	cfg.hash_seed = seed * 0x2545f4914f6cdd1dULL;
	cfg.lines_max = M_LINES_MAX;
	cfg.ttl_default_ms = M_TTL_DEFAULT;
	cfg.ttl_max_ms = M_TTL_MAX;
	cfg.retain_ms = M_RETAIN;
	cfg.id_epoch = (uint32_t)M_EPOCH;
	core *c = mk_cfg(&cfg);
	model *m = malloc(sizeof(*m));
	cr_assert_not_null(m);
	m_init(m);
	int64_t now = 0;
	int expired[4096];
	uint64_t n_ok = 0, n_fail = 0, n_codes[9] = { 0 }, n_sweep_expired = 0;
	/* Outcomes by operation, for the log: ok and failed. */
	static const char *const op_names[] = { "stock.set", "stock.adjust", "restock", "reserve",
		"commit", "release", "release lines", "fulfill", "fulfill lines", "extend" };
	uint64_t op_ok[10] = { 0 }, op_fail[10] = { 0 };

	for (g_step = 0; g_step < steps; g_step++) {
		now += rnd(501);
		int op = rnd(100);
		if (op == 99)
			now += rnd(5001); /* a pause */
		/* Half the sweeps run without an advance first, so that they do
		 * the expiring themselves, within their budget. */
		bool raw_sweep = (op == 97 || op == 98) && rnd(2);
		int nexp = raw_sweep ? 0 : m_advance(m, now, expired);

		core_cmd cmd;
		memset(&cmd, 0, sizeof(cmd));
		core_line_req lines[M_LINES_MAX + 2];
		int lsku[M_LINES_MAX + 2];
		int64_t lqty[M_LINES_MAX + 2];
		int nl = 0;
		char id[32] = "", order[24];
		m_out o;
		memset(&o, 0, sizeof(o));
		o.resv = -1;
		bool exec = true;

		if (op < 10) {
			g_op = "stock.set";
			int s = rnd(M_SKUS), l = rnd(M_LOCS), x = rnd(100);
			int64_t on_hand = x < 90 ? rnd(31) : x < 94 ? -1 : x < 97 ? CORE_QTY_MAX + 1 : CORE_QTY_MAX - rnd(5);
			x = rnd(100);
			int64_t safety = x < 50 ? -1 : x < 90 ? rnd(4) : -2;
			x = rnd(100);
			const m_rec *mr = &m->rec[s][l];
			int64_t if_version = x < 70 ? -1 : x < 80 ? 0 : x < 90 ? (int64_t)mr->version :
			    (int64_t)mr->version + 1 + rnd(3);
			cmd.type = CORE_CMD_STOCK_SET;
			cmd.u.stock = (core_stock_cmd){ .sku = S(m_sku_name[s]), .location = S(m_loc_name[l]),
				.on_hand = on_hand, .safety = safety, .if_version = if_version };
			m_stock(m, cmd.type, s, l, on_hand, safety, if_version, 0, -1, 0, &o);
		} else if (op < 22 || (op >= 22 && op < 27)) {
			bool re = op >= 22;
			g_op = re ? "restock" : "stock.adjust";
			int s = rnd(M_SKUS), l = rnd(M_LOCS), x = rnd(100), key = -1, reason = rnd(2);
			int64_t delta;
			if (re)
				delta = x < 90 ? 1 + rnd(10) : x < 95 ? 0 : x < 97 ? -3 : CORE_QTY_MAX;
			else
				delta = x < 85 ? rnd(26) - 10 : x < 90 ? -CORE_QTY_MAX - 1 : x < 95 ? CORE_QTY_MAX : -rnd(50);
			if (!re && rnd(100) < 35) {
				key = rnd(M_KEYS);
				if (m->adj[key].used && rnd(100) < 60) { /* a retry */
					s = m->adj[key].sku;
					l = m->adj[key].loc;
					delta = m->adj[key].delta;
					reason = m->adj[key].reason;
				}
			}
			cmd.type = re ? CORE_CMD_RESTOCK : CORE_CMD_STOCK_ADJUST;
			cmd.u.stock = (core_stock_cmd){ .sku = S(m_sku_name[s]), .location = S(m_loc_name[l]),
				.delta = delta, .safety = -1, .if_version = -1,
				.reason = re ? ABSENT : S(m_reason[reason]),
				.idempotency_key = key >= 0 ? S(m_adj_key_name[key]) : ABSENT };
			m_stock(m, cmd.type, s, l, 0, -1, -1, delta, key, re ? 0 : reason, &o);
		} else if (op < 57) {
			g_op = "reserve";
			int x = rnd(100);
			nl = x < 1 ? 0 : x < 4 ? M_LINES_MAX + 1 : 1 + rnd(M_LINES_MAX);
			int perm[M_NAMES];
			for (int i = 0; i < M_NAMES; i++)
				perm[i] = i;
			for (int i = M_NAMES - 1; i > 0; i--) {
				int j = rnd(i + 1), t = perm[i];
				perm[i] = perm[j];
				perm[j] = t;
			}
			for (int i = 0; i < nl; i++) {
				lsku[i] = perm[i];
				lqty[i] = rnd(100) < 2 ? 0 : 1 + rnd(8);
			}
			if (nl >= 2 && rnd(100) < 5)
				lsku[nl - 1] = lsku[0]; /* the same sku twice */
			x = rnd(100);
			int64_t ttl = x < 85 ? 100 + rnd(4901) : x < 90 ? -1 : x < 93 ? 0 : x < 96 ? M_TTL_MAX + 1 :
			    x < 98 ? -5 : M_TTL_MAX;
			bool partial = rnd(100) < 30;
			int key = -1;
			snprintf(order, sizeof(order), "o-%d", g_step);
			if (rnd(100) < 20) {
				key = rnd(M_KEYS);
				const m_res_key *k = &m->res[key];
				if (k->used && rnd(100) < 60) { /* a retry */
					snprintf(order, sizeof(order), "%s", k->order);
					nl = k->nlines;
					for (int i = 0; i < nl; i++) {
						lsku[i] = k->sku[i];
						lqty[i] = k->qty[i];
					}
					ttl = rnd(4) ? k->ttl : (k->ttl == M_TTL_DEFAULT ? -1 : k->ttl);
					partial = k->partial;
				}
			}
			for (int i = 0; i < nl; i++)
				lines[i] = (core_line_req){ S(m_sku_name[lsku[i]]), lqty[i] };
			cmd.type = CORE_CMD_RESERVE;
			cmd.u.reserve = (core_reserve_cmd){ .order_id = S(order), .lines = lines,
				.nlines = (uint32_t)nl, .ttl_ms = ttl, .allow_partial = partial,
				.idempotency_key = key >= 0 ? S(m_res_key_name[key]) : ABSENT };
			m_reserve(m, order, lsku, lqty, nl, ttl, partial, key, &o);
		} else if (op < 97) {
			int idx = m_pick(m, id, op >= 80 && op < 92 ? CORE_RESV_COMMITTED :
			    op < 67 || op >= 92 ? CORE_RESV_HELD : -1);
			cmd.u.resv.reservation_id = S(id);
			if (op < 67) {
				g_op = "commit";
				cmd.type = CORE_CMD_COMMIT;
				m_commit(m, idx, &o);
			} else if (op < 92) {
				bool fulfil = op >= 80;
				bool whole = fulfil ? op < 84 : op < 72;
				g_op = fulfil ? (whole ? "fulfill" : "fulfill lines") : (whole ? "release" : "release lines");
				cmd.type = fulfil ? CORE_CMD_FULFILL : CORE_CMD_RELEASE;
				if (!whole) {
					const m_resv *r = m_lookup(m, idx);
					if (r) {
						int order_l[M_LINES_MAX];
						for (int i = 0; i < r->nlines; i++)
							order_l[i] = i;
						for (int i = r->nlines - 1; i > 0; i--) {
							int j = rnd(i + 1), t = order_l[i];
							order_l[i] = order_l[j];
							order_l[j] = t;
						}
						nl = 1 + rnd(r->nlines);
						for (int i = 0; i < nl; i++) {
							const m_line *l = &r->l[order_l[i]];
							int64_t left = m_line_left(l);
							lsku[i] = l->sku;
							lqty[i] = left > 0 ? 1 + rnd((int)left) : 1;
						}
						int x = rnd(100);
						if (x < 8) {
							lqty[0] = m_line_left(&r->l[order_l[0]]) + 1;
						} else if (x < 12) {
							lqty[0] = 0;
						} else if (x < 16) { /* a sku not in the reservation */
							int s;
							bool in;
							do {
								s = rnd(M_NAMES);
								in = false;
								for (int i = 0; i < r->nlines; i++)
									in |= r->l[i].sku == s;
							} while (in);
							lsku[rnd(nl)] = s;
						} else if (x < 20) { /* named twice */
							if (nl >= 2)
								lsku[1] = lsku[0];
							else {
								lsku[1] = lsku[0];
								lqty[1] = 1;
								nl = 2;
							}
						} else if (x < 23) {
							nl = 0;
						}
					} else {
						nl = 1 + rnd(2);
						lsku[0] = rnd(M_NAMES);
						lsku[1] = (lsku[0] + 1) % M_NAMES;
						lqty[0] = lqty[1] = 1 + rnd(3);
					}
					for (int i = 0; i < nl; i++)
						lines[i] = (core_line_req){ S(m_sku_name[lsku[i]]), lqty[i] };
					cmd.u.resv.lines = lines;
					cmd.u.resv.nlines = (uint32_t)nl;
				}
				m_release_fulfill(m, idx, lsku, lqty, nl, whole, fulfil, &o);
			} else {
				g_op = "extend";
				int x = rnd(100);
				int64_t ttl = x < 90 ? 100 + rnd(4901) : x < 94 ? 0 : x < 97 ? M_TTL_MAX + 1 : M_TTL_MAX;
				cmd.type = CORE_CMD_EXTEND;
				cmd.u.resv.ttl_ms = ttl;
				m_extend(m, idx, ttl, &o);
			}
		} else {
			exec = false;
		}

		if (!exec) {
			g_op = op == 99 ? "advance" : raw_sweep ? "sweep without advance" : "sweep";
			if (!raw_sweep) {
				uint32_t n = core_advance(c, now);
				MCHECK(n == (uint32_t)nexp, "core_advance expired %u, model %d", n, nexp);
			}
			if (op != 99) {
				uint32_t budget = rnd(2) ? UINT32_MAX : 1 + (uint32_t)rnd(4);
				uint64_t expired_before = m->expired_total;
				uint32_t want = m_sweep(m, now, budget);
				uint32_t got = core_sweep(c, now, budget);
				MCHECK(got == want, "core_sweep(%u) did %u, model %u", budget, got, want);
				if (raw_sweep && m->expired_total > expired_before)
					n_sweep_expired++;
				m_check_all_resv(c, m);
			}
		} else {
			/* A failed command must leave the dump as it was: advance
			 * first, dump, then run it at the same now. Otherwise
			 * let core_exec do the expiry itself half of the time. */
			char *before = NULL;
			if (o.rc != CORE_OK || rnd(2)) {
				uint32_t n = core_advance(c, now);
				MCHECK(n == (uint32_t)nexp, "core_advance expired %u, model %d", n, nexp);
			}
			if (o.rc != CORE_OK)
				before = dump(c);
			core_result res;
			core_error err;
			memset(&res, 0, sizeof(res));
			memset(&err, 0, sizeof(err));
			int rc = core_exec(c, &cmd, now, &res, &err);
			MCHECK(rc == o.rc, "core %s (%s), model %s", core_strerror(rc),
			    rc ? err.message : "", core_strerror(o.rc));
			n_codes[-rc]++;
			for (int k = 0; k < 10; k++)
				if (strcmp(g_op, op_names[k]) == 0)
					(rc ? op_fail : op_ok)[k]++;
			if (rc != CORE_OK) {
				n_fail++;
				MCHECK(err.code == rc, "err.code");
				char *after = dump(c);
				m_dump_same(before, after);
				free(after);
				if (rc == CORE_E_OUT_OF_STOCK) {
					MCHECK(err.nshort == (uint32_t)o.nshort, "nshort %u want %d", err.nshort, o.nshort);
					for (int i = 0; i < o.nshort; i++)
						MCHECK(str_is(err.short_lines[i].sku, m_sku_name[o.short_sku[i]]) &&
						    err.short_lines[i].requested == o.short_req[i] &&
						    err.short_lines[i].available == o.short_avail[i],
						    "short line %d: %.*s %" PRId64 "/%" PRId64 " want %s %" PRId64 "/%" PRId64,
						    i, (int)err.short_lines[i].sku.len, err.short_lines[i].sku.p,
						    err.short_lines[i].requested, err.short_lines[i].available,
						    m_sku_name[o.short_sku[i]], o.short_req[i], o.short_avail[i]);
				}
				if (rc == CORE_E_CONFLICT && cmd.type == CORE_CMD_STOCK_SET)
					MCHECK(err.version == o.err_version, "conflict version");
			} else {
				n_ok++;
				MCHECK(res.replayed == o.replayed, "replayed %d want %d", res.replayed, o.replayed);
				if (cmd.type <= CORE_CMD_RESTOCK) {
					m_check_rec_view(&res.record, &o.reply, o.sku, o.loc, "reply");
				} else {
					char want[CORE_RESERVATION_ID_LEN + 1];
					m_id(m->r[o.resv].seq, want);
					MCHECK(res.resv != NULL && strcmp(id_of(c, res.resv).s, want) == 0,
					    "reply names %s", want);
					m_check_resv(c, m, o.resv);
				}
				if (cmd.type == CORE_CMD_RESERVE && !res.replayed) {
					/* Nothing promised beyond what is on hand. */
					const m_resv *r = &m->r[o.resv];
					for (int i = 0; i < r->nlines; i++)
						for (int j = 0; j < r->l[i].nallocs; j++) {
							core_record_view v = rec(c, m_sku_name[r->l[i].sku],
							    m_loc_name[r->l[i].a[j].loc]);
							MCHECK(v.reserved + v.committed + v.safety <= v.on_hand,
							    "reserve overcommitted %s@%s", m_sku_name[r->l[i].sku],
							    m_loc_name[r->l[i].a[j].loc]);
						}
				}
			}
			free(before);
		}
		for (int i = 0; i < nexp; i++) {
			MCHECK(m->r[expired[i]].status == CORE_RESV_EXPIRED || m->r[expired[i]].forgotten,
			    "model expiry");
			m_check_resv(c, m, expired[i]);
		}
		m_check_state(c, m);
		if (g_step % 500 == 499)
			m_check_all_resv(c, m);
	}
	m_check_all_resv(c, m);
	/* The walk must have exercised both outcomes and every error. */
	cr_assert_gt(n_ok, (uint64_t)steps / 4, "seed %" PRIu64 ": %" PRIu64 " successes", seed, n_ok);
	cr_assert_gt(n_fail, (uint64_t)steps / 10, "seed %" PRIu64 ": %" PRIu64 " failures", seed, n_fail);
	for (int code = 1; code <= 7; code++)
		if (code != -CORE_E_LIMIT_EXCEEDED)
			cr_assert_gt(n_codes[code], 0, "seed %" PRIu64 ": no %s", seed, core_strerror(-code));
	cr_assert_gt(m->expired_total, 0);
	cr_assert_gt(n_sweep_expired, 0, "seed %" PRIu64 ": no sweep expired anything", seed);
	cr_log_info("seed %" PRIu64 ": %d steps, %" PRIu64 " ok, %" PRIu64 " failed, %d reservations, "
	    "%" PRIu64 " expired, %" PRIu64 " sweeps expired holds", seed, steps, n_ok, n_fail, m->nr,
	    m->expired_total, n_sweep_expired);
	char by_op[512];
	size_t len = 0;
	for (int k = 0; k < 10; k++) {
		len += (size_t)snprintf(by_op + len, sizeof(by_op) - len, " %s %" PRIu64 "/%" PRIu64 ";",
		    op_names[k], op_ok[k], op_ok[k] + op_fail[k]);
		/* Every command must have succeeded often enough to matter. */
		cr_assert_gt(op_ok[k], (uint64_t)steps / 200, "seed %" PRIu64 ": %s succeeded %" PRIu64
		    " times", seed, op_names[k], op_ok[k]);
	}
	cr_log_info("seed %" PRIu64 " ok/run:%s", seed, by_op);
	core_destroy(c);
	m_free(m);
	free(m);
}

#define M_STEPS 20000

Test(core, random_walk_matches_the_model_seed_1)
{
	run_model(1, M_STEPS);
}

Test(core, random_walk_matches_the_model_seed_2)
{
	run_model(2, M_STEPS);
}

Test(core, random_walk_matches_the_model_seed_0xc0ffee)
{
	run_model(0xc0ffee, M_STEPS);
}

Test(core, random_walk_matches_the_model_seed_20240917)
{
	run_model(20240917, M_STEPS);
}

/*
 * Replay: the same commands at the same times rebuild the same state,
 * whether or not reads (which expire due holds) ran in between. Durability
 * rests on this: a journal records commands, not reads.
 */
Test(core, the_same_commands_at_the_same_times_give_the_same_state_whatever_reads_ran_between)
{
	core *live = mk(), *replayed = mk();
	uint64_t x = 42;
	int64_t now = 1000;
	char order[32], sku[8];
	size_t cap = 1 << 20;
	char *a = malloc(cap), *b = malloc(cap);
	for (int i = 0; i < 3; i++) {
		snprintf(sku, sizeof(sku), "S%d", i);
		put(live, sku, "W1", 50);
		put(replayed, sku, "W1", 50);
	}
	for (int step = 0; step < 400; step++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		now += (int64_t)(x >> 40) % 300;
		/* Reads at times between commands, on the live core only. */
		if ((x >> 20) & 1)
			core_advance(live, now - (int64_t)((x >> 8) % 150));
		snprintf(order, sizeof(order), "o-%d", step);
		snprintf(sku, sizeof(sku), "S%d", (int)((x >> 33) % 3));
		core_result ra, rb;
		core_error ea, eb;
		int ca, cb;
		if ((x >> 12) % 4 == 0 && step > 0) {
			/* Release the hold made a few steps ago, if still there. */
			rid id;
			snprintf(id.s, sizeof(id.s), "r-%016llx", (unsigned long long)((x >> 16) % (uint64_t)step + 1));
			core_cmd cmd = { .type = CORE_CMD_RELEASE };
			cmd.u.resv = (core_resv_cmd){ .reservation_id = S(id.s) };
			ca = core_exec(live, &cmd, now, &ra, &ea);
			cb = core_exec(replayed, &cmd, now, &rb, &eb);
		} else {
			ca = reserve(live, now, order, (lines8){ { sku }, { 1 } }, 100 + (int64_t)(x >> 50) % 900,
			    false, NULL, &ra, &ea);
			cb = reserve(replayed, now, order, (lines8){ { sku }, { 1 } }, 100 + (int64_t)(x >> 50) % 900,
			    false, NULL, &rb, &eb);
		}
		cr_assert_eq(ca, cb, "step %d: outcomes differ", step);
		size_t na = core_dump(live, a, cap), nb = core_dump(replayed, b, cap);
		cr_assert(na < cap && nb < cap);
		cr_assert(na == nb && memcmp(a, b, na) == 0, "step %d: states differ:\n%.*s\n---\n%.*s",
		    step, (int)na, a, (int)nb, b);
	}
	free(a);
	free(b);
	done(live);
	done(replayed);
}
