/*
 * test_core_reserve.c - unit tests of the core's reserve: where the units
 * come from (one location that covers the order, else a split in rank
 * order), short lines, allow_partial, and every validation error, each
 * leaving the state unchanged.
 */
#include <criterion/criterion.h>

#include "core_fixture.h"

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
