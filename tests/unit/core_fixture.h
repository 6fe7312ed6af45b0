/*
 * core_fixture.h - the helpers of the core's scenario tests: commands as
 * one-line calls, and assertions on records, reservations and the
 * canonical dump. They assert with Criterion, so a call that must succeed
 * fails the test where it is made.
 *
 * They are static inline: every scenario file (and the reference model's
 * checks) shares these short names without putting them in the link's
 * namespace. The core pointer is always called `c`: `core` is the typedef.
 */
#ifndef ALLOT_TESTS_CORE_FIXTURE_H
#define ALLOT_TESTS_CORE_FIXTURE_H

#include <criterion/criterion.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

static inline core_str S(const char *s)
{
	return (core_str){ s, s ? (uint32_t)strlen(s) : 0 };
}

/* An optional string not given. */
#define ABSENT ((core_str){ NULL, 0 })

static inline bool str_is(core_str s, const char *want)
{
	return s.len == strlen(want) && memcmp(s.p, want, s.len) == 0;
}

static inline core *mk_cfg(const core_config *cfg)
{
	core *c = core_create(cfg);
	cr_assert_not_null(c);
	return c;
}

static inline core *mk(void)
{
	core_config cfg;
	core_config_default(&cfg);
	return mk_cfg(&cfg);
}

/* Every scenario ends with the core's own invariant check. */
static inline void done(core *c)
{
	const char *why = core_check(c);
	cr_assert_null(why, "core_check: %s", why ? why : "");
	core_destroy(c);
}

static inline int stock_set(core *c, int64_t now, const char *sku, const char *loc, int64_t on_hand,
    int64_t safety, int64_t if_version, core_result *res, core_error *err)
{
	core_cmd cmd = { .type = CORE_CMD_STOCK_SET };
	cmd.u.stock = (core_stock_cmd){ .sku = S(sku), .location = S(loc), .on_hand = on_hand,
		.safety = safety, .if_version = if_version };
	return core_exec(c, &cmd, now, res, err);
}

/* stock.set that must succeed (safety kept, unconditional). */
static inline void put(core *c, const char *sku, const char *loc, int64_t on_hand)
{
	core_result res;
	core_error err;
	int rc = stock_set(c, 0, sku, loc, on_hand, -1, -1, &res, &err);
	cr_assert_eq(rc, CORE_OK, "stock.set %s@%s: %s", sku, loc, err.message);
}

static inline int stock_adjust(core *c, int64_t now, const char *sku, const char *loc, int64_t delta,
    const char *key, const char *reason, core_result *res, core_error *err)
{
	core_cmd cmd = { .type = CORE_CMD_STOCK_ADJUST };
	cmd.u.stock = (core_stock_cmd){ .sku = S(sku), .location = S(loc), .delta = delta,
		.safety = -1, .if_version = -1, .reason = S(reason), .idempotency_key = S(key) };
	return core_exec(c, &cmd, now, res, err);
}

static inline int restock(core *c, int64_t now, const char *sku, const char *loc, int64_t qty,
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

static inline uint32_t lines_of(const lines8 *in, core_line_req *out)
{
	uint32_t n = 0;
	while (n < 8 && in->sku[n]) {
		out[n] = (core_line_req){ S(in->sku[n]), in->qty[n] };
		n++;
	}
	return n;
}

static inline int reserve_n(core *c, int64_t now, const char *order, const core_line_req *lines,
    uint32_t n, int64_t ttl_ms, bool allow_partial, const char *key,
    core_result *res, core_error *err)
{
	core_cmd cmd = { .type = CORE_CMD_RESERVE };
	cmd.u.reserve = (core_reserve_cmd){ .order_id = S(order), .lines = lines, .nlines = n,
		.ttl_ms = ttl_ms, .allow_partial = allow_partial, .idempotency_key = S(key) };
	return core_exec(c, &cmd, now, res, err);
}

static inline int reserve(core *c, int64_t now, const char *order, lines8 l, int64_t ttl_ms,
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

static inline rid id_of(const core *c, const core_resv *r)
{
	core_resv_view v;
	core_resv_view_get(c, r, &v);
	rid out;
	memcpy(out.s, v.id, sizeof(out.s));
	return out;
}

/* A reserve that must succeed; returns the new id. */
static inline rid hold(core *c, int64_t now, const char *order, lines8 l, int64_t ttl_ms)
{
	core_result res;
	core_error err;
	int rc = reserve(c, now, order, l, ttl_ms, false, NULL, &res, &err);
	cr_assert_eq(rc, CORE_OK, "reserve %s: %s %s", order, core_strerror(rc), err.message);
	cr_assert_not_null(res.resv);
	cr_assert(!res.replayed);
	return id_of(c, res.resv);
}

static inline int resv_cmd(core *c, int64_t now, core_cmd_type type, const char *id,
    const core_line_req *lines, uint32_t n, int64_t ttl_ms, core_result *res, core_error *err)
{
	core_cmd cmd = { .type = type };
	cmd.u.resv = (core_resv_cmd){ .reservation_id = S(id), .lines = lines, .nlines = n,
		.ttl_ms = ttl_ms };
	return core_exec(c, &cmd, now, res, err);
}

static inline int commit(core *c, int64_t now, const char *id, core_error *err)
{
	core_result res;
	return resv_cmd(c, now, CORE_CMD_COMMIT, id, NULL, 0, 0, &res, err);
}

static inline int release(core *c, int64_t now, const char *id, lines8 l, core_error *err)
{
	core_result res;
	core_line_req req[8];
	uint32_t n = lines_of(&l, req);
	return resv_cmd(c, now, CORE_CMD_RELEASE, id, n ? req : NULL, n, 0, &res, err);
}

static inline int fulfill(core *c, int64_t now, const char *id, lines8 l, core_error *err)
{
	core_result res;
	core_line_req req[8];
	uint32_t n = lines_of(&l, req);
	return resv_cmd(c, now, CORE_CMD_FULFILL, id, n ? req : NULL, n, 0, &res, err);
}

static inline int extend(core *c, int64_t now, const char *id, int64_t ttl_ms, core_error *err)
{
	core_result res;
	return resv_cmd(c, now, CORE_CMD_EXTEND, id, NULL, 0, ttl_ms, &res, err);
}

/* One record through core_stock_get(sku, location). */
static inline void rec_emit(void *ctx, const core_record_view *rec)
{
	*(core_record_view *)ctx = *rec;
}

static inline core_record_view rec(const core *c, const char *sku, const char *loc)
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
static inline void rec_is(const core *c, const char *sku, const char *loc, int64_t on_hand,
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

static inline const core_resv *find(const core *c, const char *id)
{
	const core_resv *r = NULL;
	core_error err;
	int rc = core_resv_find(c, S(id), &r, &err);
	cr_assert_eq(rc, CORE_OK, "find %s: %s", id, err.message);
	return r;
}

static inline void not_found(const core *c, const char *id)
{
	const core_resv *r = NULL;
	core_error err;
	cr_assert_eq(core_resv_find(c, S(id), &r, &err), CORE_E_NOT_FOUND, "%s should be gone", id);
}

static inline core_resv_status status_of(const core *c, const char *id)
{
	core_resv_view v;
	core_resv_view_get(c, find(c, id), &v);
	return v.status;
}

/* Assert line i of reservation id: sku, qty, short, released, fulfilled and
 * its allocations as "LOC=qty,LOC=qty". */
static inline void line_is(const core *c, const char *id, uint32_t i, const char *sku, int64_t qty,
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

/* The canonical dump, malloc'ed. */
static inline char *dump(const core *c)
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

static inline void locs_emit(void *ctx, const core_record_view *v)
{
	locs_acc *a = ctx;
	a->len += (size_t)snprintf(a->buf + a->len, sizeof(a->buf) - a->len, "%s%.*s=%" PRId64,
	    a->n++ ? "," : "", (int)v->location.len, v->location.p, v->on_hand);
}

static inline const char *locs_of(const core *c, const char *sku)
{
	static locs_acc a;
	memset(&a, 0, sizeof(a));
	uint32_t n = 0;
	core_error err;
	cr_assert_eq(core_stock_get(c, S(sku), ABSENT, locs_emit, &a, &n, &err), CORE_OK);
	cr_assert_eq(n, a.n);
	return a.buf;
}

static inline void dump_unchanged(const char *before, const core *c, const char *what)
{
	char *after = dump(c);
	cr_assert_str_eq(after, before, "%s changed the state", what);
	free(after);
}

static inline void stats(const core *c, core_stats *st)
{
	core_stats_get(c, st);
}

#endif
