/*
 * test_methods_reserve.c - reserve over the wire against proto/PROTOCOL.md:
 * where the units come from, validation, idempotency. The suite is described
 * in test_methods_stock.c.
 */
#include <criterion/criterion.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc_client.h"
#include "allot/protocol.h"
#include "harness.h"
#include "json_util.h"
#include "methods_helpers.h"
#include "server_fixture.h"

/* ---- reserve: where units come from ---- */

Test(methods, reserve_prefers_one_location_that_covers_the_whole_order)
{
	ju_set_stock("one-a", "W1", 3);
	ju_set_stock("one-a", "W2", 10);
	ju_set_stock("one-a", "W3", 10);

	json_t *r = ju_reserve1("o-one-1", "one-a", 5, 60000);
	cr_assert(is_reservation_id(ju_gets(r, "reservation_id")),
	    "bad reservation id %s", ju_gets(r, "reservation_id"));
	cr_assert_str_eq(ju_gets(r, "order_id"), "o-one-1");
	expect_status(r, "held");
	cr_assert_eq(json_array_size(ju_get(r, "lines")), 1);
	static const char *const w2[] = { "W2" };
	static const json_int_t five[] = { 5 };
	expect_line(r, 0, "one-a", 5, 1, w2, five);
	cr_assert(json_object_get(ju_at(ju_get(r, "lines"), 0), "short") == NULL,
	    "short without allow_partial");

	expect_record(ju_record("one-a", "W1"), "one-a", "W1", 3, 0, 0, 0);
	expect_record(ju_record("one-a", "W2"), "one-a", "W2", 10, 5, 0, 0);
	expect_record(ju_record("one-a", "W3"), "one-a", "W3", 10, 0, 0, 0);

	/* two lines: W1 has both but little of one; W2 covers the order */
	ju_set_stock("one-b", "W1", 100);
	ju_set_stock("one-c", "W1", 1);
	ju_set_stock("one-b", "W2", 2);
	ju_set_stock("one-c", "W2", 2);
	r = ju_ok("reserve", json_pack("{s:s, s:[{s:s, s:i}, {s:s, s:i}]}",
	    "order_id", "o-one-2", "lines", "sku", "one-b", "qty", 2,
	    "sku", "one-c", "qty", 2));
	static const json_int_t two[] = { 2 };
	expect_line(r, 0, "one-b", 2, 1, w2, two);
	expect_line(r, 1, "one-c", 2, 1, w2, two);

	/* both W1 and W2 cover: the best-ranked, W1 */
	r = ju_ok("reserve", json_pack("{s:s, s:[{s:s, s:i}]}", "order_id",
	    "o-one-3", "lines", "sku", "one-b", "qty", 50));
	static const char *const w1[] = { "W1" };
	static const json_int_t fifty[] = { 50 };
	expect_line(r, 0, "one-b", 50, 1, w1, fifty);

	/* default ttl: 15 minutes */
	int64_t t = harness_wall_ms();
	json_int_t exp = ju_geti(r, "expires_at");
	cr_assert(exp >= t + ALLOT_DEFAULT_TTL_MS - 5000 &&
	    exp <= t + ALLOT_DEFAULT_TTL_MS + 5000,
	    "expires_at %lld is not about now + 15 min (%lld)", (long long)exp,
	    (long long)(t + ALLOT_DEFAULT_TTL_MS));
	fx_finish();
}

Test(methods, reserve_splits_across_the_fewest_locations_then_in_rank_order_by_name)
{
	/* created out of name order */
	ju_set_stock("split", "W-b", 4);
	ju_set_stock("split", "W-c", 5);
	ju_set_stock("split", "W-a", 3);

	/* 9 units: W-b and W-c hold them in two shipments, which beats three */
	json_t *r = ju_reserve1("o-split", "split", 9, 60000);
	static const char *const bc9[] = { "W-b", "W-c" };
	static const json_int_t q[] = { 4, 5 };
	expect_line(r, 0, "split", 9, 2, bc9, q);

	expect_record(ju_record("split", "W-a"), "split", "W-a", 3, 0, 0, 0);
	expect_record(ju_record("split", "W-b"), "split", "W-b", 4, 4, 0, 0);
	expect_record(ju_record("split", "W-c"), "split", "W-c", 5, 5, 0, 0);

	json_t *g = ju_by_id("reservation.get", r);
	cr_assert(json_equal(g, r), "reservation.get differs from the reply");

	/* locations with nothing available are skipped */
	ju_set_stock("split2", "W-a", 0);
	ju_set_stock("split2", "W-b", 2);
	ju_set_stock("split2", "W-c", 2);
	r = ju_reserve1("o-split2", "split2", 3, 60000);
	static const char *const bc[] = { "W-b", "W-c" };
	static const json_int_t q2[] = { 2, 1 };
	expect_line(r, 0, "split2", 3, 2, bc, q2);

	/* no location covers the whole order: each line on its own, in
	 * rank order (A from W-a, B from W-b where alone it is) */
	ju_set_stock("split-A", "W-a", 5);
	ju_set_stock("split-A", "W-b", 1);
	ju_set_stock("split-B", "W-b", 3);
	r = ju_ok("reserve", json_pack("{s:s, s:[{s:s, s:i}, {s:s, s:i}]}",
	    "order_id", "o-split3", "lines", "sku", "split-A", "qty", 2,
	    "sku", "split-B", "qty", 3));
	static const char *const a[] = { "W-a" };
	static const char *const b[] = { "W-b" };
	static const json_int_t two[] = { 2 }, three[] = { 3 };
	expect_line(r, 0, "split-A", 2, 1, a, two);
	expect_line(r, 1, "split-B", 3, 1, b, three);
	fx_finish();
}

Test(methods, reserve_out_of_stock_names_every_short_line_and_holds_nothing)
{
	ju_set_stock("oos-x", "W1", 2);
	ju_set_stock("oos-x", "W2", 1);
	ju_set_stock("oos-y", "W1", 10);

	json_t *e = ju_fail("reserve", json_pack(
	    "{s:s, s:[{s:s, s:i}, {s:s, s:i}, {s:s, s:i}]}", "order_id",
	    "o-oos", "lines", "sku", "oos-x", "qty", 5, "sku", "oos-y", "qty", 1,
	    "sku", "oos-unknown", "qty", 2), ALLOT_ERR_OUT_OF_STOCK, NULL);
	json_t *lines = ju_get(e, "lines");
	cr_assert(json_is_array(lines));
	cr_assert_eq(json_array_size(lines), 2, "%zu short lines, expected 2",
	    json_array_size(lines));
	bool saw_x = false, saw_u = false;
	for (size_t i = 0; i < 2; i++) {
		json_t *l = ju_at(lines, i);
		const char *sku = ju_gets(l, "sku");
		if (strcmp(sku, "oos-x") == 0) {
			saw_x = true;
			cr_assert_eq(ju_geti(l, "requested"), 5);
			cr_assert_eq(ju_geti(l, "available"), 3);
		} else if (strcmp(sku, "oos-unknown") == 0) {
			saw_u = true;
			cr_assert_eq(ju_geti(l, "requested"), 2);
			cr_assert_eq(ju_geti(l, "available"), 0);
		} else {
			cr_assert_fail("unexpected short line %s", sku);
		}
	}
	cr_assert(saw_x && saw_u);

	/* nothing held */
	expect_record(ju_record("oos-x", "W1"), "oos-x", "W1", 2, 0, 0, 0);
	expect_record(ju_record("oos-x", "W2"), "oos-x", "W2", 1, 0, 0, 0);
	expect_record(ju_record("oos-y", "W1"), "oos-y", "W1", 10, 0, 0, 0);
	cr_assert_eq(ju_geti(ju_record("oos-y", "W1"), "version"), 1);
	json_t *st = ju_ok("stats", NULL);
	cr_assert_eq(ju_geti(ju_get(st, "reservations"), "held"), 0);
	cr_assert_eq(ju_geti(st, "units_reserved"), 0);
	/* the unknown sku was not created */
	ju_fail("stock.get", json_pack("{s:s}", "sku", "oos-unknown"),
	    ALLOT_ERR_NOT_FOUND, NULL);

	/* an unknown sku alone is simply unavailable */
	e = ju_fail("reserve", json_pack("{s:s, s:[{s:s, s:i}]}", "order_id",
	    "o-oos-2", "lines", "sku", "oos-unknown", "qty", 1),
	    ALLOT_ERR_OUT_OF_STOCK, NULL);
	cr_assert_eq(json_array_size(ju_get(e, "lines")), 1);
	cr_assert_str_eq(ju_gets(ju_at(ju_get(e, "lines"), 0), "sku"), "oos-unknown");
	cr_assert_eq(ju_geti(ju_at(ju_get(e, "lines"), 0), "requested"), 1);
	cr_assert_eq(ju_geti(ju_at(ju_get(e, "lines"), 0), "available"), 0);
	fx_finish();
}

Test(methods, reserve_allow_partial_holds_what_it_can_and_reports_short)
{
	ju_set_stock("part-x", "W1", 2);
	ju_set_stock("part-x", "W2", 1);
	ju_set_stock("part-y", "W1", 10);

	json_t *r = ju_ok("reserve", json_pack(
	    "{s:s, s:[{s:s, s:i}, {s:s, s:i}, {s:s, s:i}], s:b}", "order_id",
	    "o-part", "lines", "sku", "part-x", "qty", 5, "sku", "part-y",
	    "qty", 4, "sku", "part-unknown", "qty", 2, "allow_partial", 1));
	expect_status(r, "held");
	json_t *lines = ju_get(r, "lines");
	cr_assert_eq(json_array_size(lines), 3);

	/* W1 holds both lines' stock, so W1 first for x, then W2 */
	json_t *x = ju_at(lines, 0);
	cr_assert_str_eq(ju_gets(x, "sku"), "part-x");
	cr_assert_eq(ju_geti(x, "qty"), 5);
	cr_assert_eq(ju_geti(x, "short"), 2);
	json_int_t held = 0;
	json_t *allocs = ju_get(x, "allocations");
	for (size_t i = 0; i < json_array_size(allocs); i++)
		held += ju_geti(ju_at(allocs, i), "qty");
	cr_assert_eq(held, 3);

	json_t *y = ju_at(lines, 1);
	cr_assert_str_eq(ju_gets(y, "sku"), "part-y");
	cr_assert_eq(ju_geti(y, "qty"), 4);
	cr_assert(json_object_get(y, "short") == NULL,
	    "short present on a fully held line");
	static const char *const w1[] = { "W1" };
	static const json_int_t four[] = { 4 };
	expect_line(r, 1, "part-y", 4, 1, w1, four);

	json_t *u = ju_at(lines, 2);
	cr_assert_str_eq(ju_gets(u, "sku"), "part-unknown");
	cr_assert_eq(ju_geti(u, "short"), 2);
	cr_assert_eq(json_array_size(ju_get(u, "allocations")), 0);

	expect_record(ju_record("part-x", "W1"), "part-x", "W1", 2, 2, 0, 0);
	expect_record(ju_record("part-x", "W2"), "part-x", "W2", 1, 1, 0, 0);
	expect_record(ju_record("part-y", "W1"), "part-y", "W1", 10, 4, 0, 0);

	/* nothing at all can be held: still OUT_OF_STOCK */
	json_t *e = ju_fail("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:b}",
	    "order_id", "o-part-2", "lines", "sku", "part-x", "qty", 1,
	    "allow_partial", 1), ALLOT_ERR_OUT_OF_STOCK, NULL);
	cr_assert_eq(json_array_size(ju_get(e, "lines")), 1);
	cr_assert_eq(ju_geti(ju_at(ju_get(e, "lines"), 0), "available"), 0);
	json_t *st = ju_ok("stats", NULL);
	cr_assert_eq(ju_geti(ju_get(st, "reservations"), "held"), 1);
	fx_finish();
}

/* ---- reserve: validation ---- */

Test(methods, reserve_rejects_bad_params_naming_the_field_and_holds_nothing)
{
	ju_set_stock("val", "W1", 100);
	ju_set_stock("val2", "W1", 100);

	ju_fail("reserve", json_pack("{s:[{s:s, s:i}]}", "lines", "sku", "val",
	    "qty", 1), ALLOT_ERR_BAD_REQUEST, "order_id");
	ju_fail("reserve", json_pack("{s:s, s:[{s:s, s:i}]}", "order_id", "",
	    "lines", "sku", "val", "qty", 1), ALLOT_ERR_BAD_REQUEST, "order_id");
	ju_fail("reserve", json_pack("{s:i, s:[{s:s, s:i}]}", "order_id", 7,
	    "lines", "sku", "val", "qty", 1), ALLOT_ERR_BAD_REQUEST, "order_id");
	ju_fail("reserve", json_pack("{s:s}", "order_id", "o-val"),
	    ALLOT_ERR_BAD_REQUEST, "lines");
	ju_fail("reserve", json_pack("{s:s, s:[]}", "order_id", "o-val",
	    "lines"), ALLOT_ERR_BAD_REQUEST, "lines");
	ju_fail("reserve", json_pack("{s:s, s:[{s:s, s:s}]}", "order_id",
	    "o-val", "lines", "sku", "val", "qty", "2"), ALLOT_ERR_BAD_REQUEST,
	    "lines[0].qty");
	ju_fail("reserve", json_pack("{s:s, s:[{s:s, s:i}, {s:s, s:i}]}",
	    "order_id", "o-val", "lines", "sku", "val", "qty", 1, "sku", "val2",
	    "qty", 0), ALLOT_ERR_BAD_REQUEST, "lines[1].qty");
	ju_fail("reserve", json_pack("{s:s, s:[{s:s, s:I}]}", "order_id",
	    "o-val", "lines", "sku", "val", "qty",
	    (json_int_t)ALLOT_QTY_MAX + 1), ALLOT_ERR_BAD_REQUEST,
	    "lines[0].qty");
	ju_fail("reserve", json_pack("{s:s, s:[{s:i}]}", "order_id", "o-val",
	    "lines", "qty", 1), ALLOT_ERR_BAD_REQUEST, "lines[0].sku");
	ju_fail("reserve", json_pack("{s:s, s:[{s:s, s:i}, {s:s, s:i}]}",
	    "order_id", "o-val", "lines", "sku", "val", "qty", 1, "sku", "val",
	    "qty", 2), ALLOT_ERR_BAD_REQUEST, NULL);
	ju_fail("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i}", "order_id",
	    "o-val", "lines", "sku", "val", "qty", 1, "ttl_ms", 0),
	    ALLOT_ERR_BAD_REQUEST, "ttl_ms");
	ju_fail("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:I}", "order_id",
	    "o-val", "lines", "sku", "val", "qty", 1, "ttl_ms",
	    (json_int_t)ALLOT_DEFAULT_TTL_MAX_MS + 1), ALLOT_ERR_BAD_REQUEST,
	    "ttl_ms");
	ju_fail("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:{s:f, s:f}}",
	    "order_id", "o-val", "lines", "sku", "val", "qty", 1, "ship_to",
	    "lat", 91.0, "lon", 0.0), ALLOT_ERR_BAD_REQUEST, "lat");
	ju_fail("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:s}", "order_id",
	    "o-val", "lines", "sku", "val", "qty", 1, "channel",
	    "a-channel-name-longer-than-32-bytes"), ALLOT_ERR_BAD_REQUEST,
	    "channel");

	/* routing options out of range */
	ju_fail("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:s}", "order_id",
	    "o-val", "lines", "sku", "val", "qty", 1, "strategy", "fastest"),
	    ALLOT_ERR_BAD_REQUEST, "strategy");
	ju_fail("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:s}", "order_id",
	    "o-val", "lines", "sku", "val", "qty", 1, "strategy", "nearest"),
	    ALLOT_ERR_BAD_REQUEST, "ship_to");
	ju_fail("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:s}", "order_id",
	    "o-val", "lines", "sku", "val", "qty", 1, "split", "parcels"),
	    ALLOT_ERR_BAD_REQUEST, "split");
	ju_fail("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i}", "order_id",
	    "o-val", "lines", "sku", "val", "qty", 1, "max_shipments", -1),
	    ALLOT_ERR_BAD_REQUEST, "max_shipments");
	ju_fail("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:s}", "order_id",
	    "o-val", "lines", "sku", "val", "qty", 1, "explain", "yes"),
	    ALLOT_ERR_BAD_REQUEST, "explain");
	ju_fail("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i}", "order_id",
	    "o-val", "lines", "sku", "val", "qty", 1, "allow_backorder", 1),
	    ALLOT_ERR_BAD_REQUEST, "allow_backorder");

	/* 101 lines: TOO_LARGE; 100 lines is within the limit */
	json_t *lines = json_array();
	for (int i = 0; i < 101; i++) {
		char sku[32];
		snprintf(sku, sizeof(sku), "many-%d", i);
		json_array_append_new(lines, json_pack("{s:s, s:i}", "sku", sku,
		    "qty", 1));
	}
	json_t *lines100 = json_deep_copy(lines);
	json_array_remove(lines100, 100);
	ju_fail("reserve", json_pack("{s:s, s:o}", "order_id", "o-val",
	    "lines", lines), ALLOT_ERR_TOO_LARGE, NULL);
	/* the many-* skus do not exist: over the limit is not TOO_LARGE */
	json_t *e = ju_fail("reserve", json_pack("{s:s, s:o}", "order_id",
	    "o-val", "lines", lines100), ALLOT_ERR_OUT_OF_STOCK, NULL);
	cr_assert_eq(json_array_size(ju_get(e, "lines")), 100);

	/* none of that held anything */
	expect_record(ju_record("val", "W1"), "val", "W1", 100, 0, 0, 0);
	cr_assert_eq(ju_geti(ju_record("val", "W1"), "version"), 1);
	json_t *st = ju_ok("stats", NULL);
	cr_assert_eq(ju_geti(ju_get(st, "reservations"), "held"), 0);

	/* the options of this version are accepted */
	ju_fail("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:s}", "order_id",
	    "o-val", "lines", "sku", "val", "qty", 1, "channel", "web"),
	    ALLOT_ERR_NOT_FOUND, "channel");
	ju_ok("channel.put", json_pack("{s:s}", "channel", "web"));
	json_t *r = ju_ok("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:s, s:s, "
	    "s:i, s:b, s:b, s:b, s:s, s:s, s:{s:f, s:f}, s:I}", "order_id",
	    "o-val-ok", "lines", "sku", "val", "qty", 1, "strategy", "priority",
	    "split", "units", "max_shipments", 0, "allow_backorder", 0,
	    "explain", 0, "allow_partial", 0, "channel", "web", "customer_id",
	    "c-1", "ship_to", "lat", 52.5, "lon", 13.4, "ttl_ms",
	    (json_int_t)ALLOT_DEFAULT_TTL_MAX_MS));
	expect_status(r, "held");
	cr_assert(json_object_get(r, "explain") == NULL ||
	    json_is_null(json_object_get(r, "explain")));
	/* nil counts as not given; unknown keys are ignored */
	r = ju_ok("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:n, s:n, s:i}",
	    "order_id", "o-val-ok2", "lines", "sku", "val", "qty", 1,
	    "ttl_ms", "strategy", "some_future_option", 1));
	expect_status(r, "held");
	expect_record(ju_record("val", "W1"), "val", "W1", 100, 2, 0, 0);
	fx_finish();
}

/*
 * String bounds (PROTOCOL.md, Limits): sku and location 1-64 bytes, channel
 * 1-32, order_id, customer_id and idempotency_key 1-128, reason up to 256;
 * none may contain control characters. Out of bounds is BAD_REQUEST naming
 * the field, wherever the field appears, and changes nothing.
 */
Test(methods, avail_rejects_out_of_bounds_location_channel_and_skus)
{
	ju_set_stock("avb", "W1", 5);
	char long_loc[66];
	memset(long_loc, 'L', 65);
	long_loc[65] = '\0';
	ju_fail("avail", json_pack("{s:[s], s:s}", "skus", "avb", "location",
	    ""), ALLOT_ERR_BAD_REQUEST, "location");
	ju_fail("avail", json_pack("{s:[s], s:s}", "skus", "avb", "location",
	    "W\x01"), ALLOT_ERR_BAD_REQUEST, "location");
	ju_fail("avail", json_pack("{s:[s], s:s}", "skus", "avb", "location",
	    long_loc), ALLOT_ERR_BAD_REQUEST, "location");
	ju_fail("avail", json_pack("{s:[s]}", "skus", "avb\x01"),
	    ALLOT_ERR_BAD_REQUEST, "skus[0]");
	ju_fail("avail", json_pack("{s:[s], s:s}", "skus", "avb", "channel",
	    "web\x01"), ALLOT_ERR_BAD_REQUEST, "channel");
	fx_finish();
}

Test(methods, reserve_rejects_empty_customer_id_and_idempotency_key)
{
	ju_set_stock("rsb", "W1", 5);
	ju_fail("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:s}", "order_id",
	    "o-rsb", "lines", "sku", "rsb", "qty", 1, "customer_id", ""),
	    ALLOT_ERR_BAD_REQUEST, "customer_id");
	ju_fail("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:s}", "order_id",
	    "o-rsb", "lines", "sku", "rsb", "qty", 1, "idempotency_key", ""),
	    ALLOT_ERR_BAD_REQUEST, "idempotency_key");
	expect_record(ju_record("rsb", "W1"), "rsb", "W1", 5, 0, 0, 0);
	fx_finish();
}

Test(methods, stock_adjust_rejects_empty_key_and_control_characters_in_reason)
{
	ju_set_stock("asb", "W1", 5);
	ju_fail("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}", "sku", "asb",
	    "location", "W1", "delta", 1, "idempotency_key", ""),
	    ALLOT_ERR_BAD_REQUEST, "idempotency_key");
	ju_fail("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}", "sku", "asb",
	    "location", "W1", "delta", 1, "reason", "bad\x01reason"),
	    ALLOT_ERR_BAD_REQUEST, "reason");
	ju_fail("restock", json_pack("{s:s, s:s, s:i, s:s}", "sku", "asb",
	    "location", "W1", "qty", 1, "reason", "bad\nreason"),
	    ALLOT_ERR_BAD_REQUEST, "reason");
	expect_record(ju_record("asb", "W1"), "asb", "W1", 5, 0, 0, 0);
	cr_assert_eq(ju_geti(ju_record("asb", "W1"), "version"), 1);
	fx_finish();
}

/* ---- reserve: idempotency ---- */

Test(methods, reserve_replay_returns_the_identical_reply_and_holds_nothing_more)
{
	ju_set_stock("idem", "W1", 10);
	json_t *first = ju_ok("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i, s:s}",
	    "order_id", "o-idem", "lines", "sku", "idem", "qty", 4, "ttl_ms",
	    60000, "idempotency_key", "k-idem"));
	expect_record(ju_record("idem", "W1"), "idem", "W1", 10, 4, 0, 0);

	json_t *again = ju_ok("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i, s:s}",
	    "order_id", "o-idem", "lines", "sku", "idem", "qty", 4, "ttl_ms",
	    60000, "idempotency_key", "k-idem"));
	cr_assert(json_equal(again, first), "the replay differs from the first "
	    "reply");
	expect_record(ju_record("idem", "W1"), "idem", "W1", 10, 4, 0, 0);

	/* even after the reservation was committed */
	json_t *c = ju_by_id("commit", first);
	expect_status(c, "committed");
	again = ju_ok("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i, s:s}",
	    "order_id", "o-idem", "lines", "sku", "idem", "qty", 4, "ttl_ms",
	    60000, "idempotency_key", "k-idem"));
	cr_assert(json_equal(again, first), "the replay after commit differs "
	    "from the first reply");
	expect_status(again, "held");
	expect_record(ju_record("idem", "W1"), "idem", "W1", 10, 0, 4, 0);
	json_t *st = ju_ok("stats", NULL);
	cr_assert_eq(ju_geti(ju_get(st, "reservations"), "held"), 0);
	cr_assert_eq(ju_geti(ju_get(st, "reservations"), "committed"), 1);

	/* same key, other params: CONFLICT, and nothing held */
	ju_fail("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i, s:s}",
	    "order_id", "o-idem", "lines", "sku", "idem", "qty", 5, "ttl_ms",
	    60000, "idempotency_key", "k-idem"), ALLOT_ERR_CONFLICT, NULL);
	ju_fail("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i, s:s}",
	    "order_id", "o-idem-other", "lines", "sku", "idem", "qty", 4,
	    "ttl_ms", 60000, "idempotency_key", "k-idem"), ALLOT_ERR_CONFLICT,
	    NULL);
	ju_fail("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i, s:s}",
	    "order_id", "o-idem", "lines", "sku", "idem", "qty", 4, "ttl_ms",
	    70000, "idempotency_key", "k-idem"), ALLOT_ERR_CONFLICT, NULL);
	ju_fail("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i, s:s, s:b}",
	    "order_id", "o-idem", "lines", "sku", "idem", "qty", 4, "ttl_ms",
	    60000, "idempotency_key", "k-idem", "allow_partial", 1),
	    ALLOT_ERR_CONFLICT, NULL);
	expect_record(ju_record("idem", "W1"), "idem", "W1", 10, 0, 4, 0);

	/* a failed reserve does not use up its key */
	ju_fail("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i, s:s}",
	    "order_id", "o-idem-2", "lines", "sku", "idem", "qty", 8, "ttl_ms",
	    60000, "idempotency_key", "k-idem-2"), ALLOT_ERR_OUT_OF_STOCK, NULL);
	ju_ok("restock", json_pack("{s:s, s:s, s:i}", "sku", "idem", "location",
	    "W1", "qty", 2));
	json_t *r = ju_ok("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i, s:s}",
	    "order_id", "o-idem-2", "lines", "sku", "idem", "qty", 8, "ttl_ms",
	    60000, "idempotency_key", "k-idem-2"));
	expect_status(r, "held");
	cr_assert_str_neq(ju_gets(r, "reservation_id"),
	    ju_gets(first, "reservation_id"));
	expect_record(ju_record("idem", "W1"), "idem", "W1", 12, 8, 4, 0);

	/* without a key, the same order reserves again */
	ju_ok("restock", json_pack("{s:s, s:s, s:i}", "sku", "idem", "location",
	    "W1", "qty", 4));
	r = ju_ok("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i}", "order_id",
	    "o-idem", "lines", "sku", "idem", "qty", 4, "ttl_ms", 60000));
	cr_assert_str_neq(ju_gets(r, "reservation_id"),
	    ju_gets(first, "reservation_id"));
	expect_record(ju_record("idem", "W1"), "idem", "W1", 16, 12, 4, 0);
	fx_finish();
}
