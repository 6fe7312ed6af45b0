/*
 * test_core_inventory.c - unit tests of the core's stock commands
 * (stock.set, stock.adjust, restock and stock.get), with exact values for
 * every success and error path.
 */
#include <criterion/criterion.h>

#include "core_fixture.h"

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
