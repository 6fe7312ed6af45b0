/*
 * test_methods_stock.c - every method of allotd, over the wire, against the
 * behaviour written down in proto/PROTOCOL.md: each success path and each
 * error path the document lists. Each test starts its own server
 * (server_fixture.h), talks to it with the client library's JSON helpers
 * (json_util.h), and checks the server exits 0 on SIGTERM afterwards. This
 * file: ping, unknown methods, stock.set, stock.adjust, restock, stock.get
 * and avail.
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

/* The suite of test_methods_*.c: each test starts its own allotd. */
TestSuite(methods, .init = fx_setup, .fini = fx_teardown, .timeout = 120);

/* ---- ping, unknown methods ---- */

Test(methods, ping_answers_pong)
{
	json_t *r = ju_ok("ping", NULL);
	cr_assert(json_is_string(r));
	cr_assert_str_eq(json_string_value(r), "pong");
	fx_finish();
}

Test(methods, methods_of_later_versions_and_unknown_ones_are_unknown_method)
{
	static const char *const later[] = { "subscribe", "stock.delete", "" };
	for (size_t i = 0; i < sizeof(later) / sizeof(later[0]); i++)
		ju_fail(later[i], json_pack("{s:s}", "location", "W1"),
		    ALLOT_ERR_UNKNOWN_METHOD, NULL);
	/* The connection is still usable, and nothing was created. */
	cr_assert_str_eq(json_string_value(ju_ok("ping", NULL)), "pong");
	json_t *st = ju_ok("stats", NULL);
	cr_assert_eq(ju_geti(st, "locations"), 0);
	fx_finish();
}

Test(methods, snapshot_without_redis_is_unavailable)
{
	json_t *e = ju_fail("snapshot", json_object(), ALLOT_ERR_UNAVAILABLE, NULL);
	const char *msg = json_string_value(json_object_get(e, "message"));
	cr_assert(msg && strstr(msg, "--redis"), "the message names --redis: %s", msg ? msg : "(none)");
	cr_assert_str_eq(json_string_value(ju_ok("ping", NULL)), "pong");
	fx_finish();
}

/* ---- stock.set ---- */

Test(methods, stock_set_creates_a_record_and_reports_every_field)
{
	json_t *r = ju_set_stock("set-a", "W1", 10);
	expect_record(r, "set-a", "W1", 10, 0, 0, 0);
	cr_assert_eq(ju_geti(r, "version"), 1);

	r = ju_ok("stock.set", json_pack("{s:s, s:s, s:i, s:i}", "sku", "set-a",
	    "location", "W1", "on_hand", 12, "safety", 3));
	expect_record(r, "set-a", "W1", 12, 0, 0, 3);
	cr_assert_eq(ju_geti(r, "version"), 2);

	/* safety is kept when not given */
	r = ju_set_stock("set-a", "W1", 20);
	expect_record(r, "set-a", "W1", 20, 0, 0, 3);
	cr_assert_eq(ju_geti(r, "version"), 3);

	/* safety above on_hand: available is 0, not negative */
	r = ju_ok("stock.set", json_pack("{s:s, s:s, s:i, s:i}", "sku", "set-a",
	    "location", "W1", "on_hand", 2, "safety", 5));
	expect_record(r, "set-a", "W1", 2, 0, 0, 5);

	json_t *g = ju_record("set-a", "W1");
	cr_assert(json_equal(g, r), "stock.get differs from stock.set's reply");

	json_t *st = ju_ok("stats", NULL);
	cr_assert_eq(ju_geti(st, "skus"), 1);
	cr_assert_eq(ju_geti(st, "locations"), 1);
	cr_assert_eq(ju_geti(st, "records"), 1);
	fx_finish();
}

Test(methods, stock_set_rejects_bad_params_naming_the_field)
{
	ju_fail("stock.set", json_pack("{s:s, s:i}", "location", "W1",
	    "on_hand", 1), ALLOT_ERR_BAD_REQUEST, "sku");
	ju_fail("stock.set", json_pack("{s:s, s:i}", "sku", "bad-a",
	    "on_hand", 1), ALLOT_ERR_BAD_REQUEST, "location");
	ju_fail("stock.set", json_pack("{s:s, s:s}", "sku", "bad-a",
	    "location", "W1"), ALLOT_ERR_BAD_REQUEST, "on_hand");
	ju_fail("stock.set", json_pack("{s:s, s:s, s:i}", "sku", "bad-a",
	    "location", "W1", "on_hand", -1), ALLOT_ERR_BAD_REQUEST, "on_hand");
	ju_fail("stock.set", json_pack("{s:s, s:s, s:I}", "sku", "bad-a",
	    "location", "W1", "on_hand", (json_int_t)ALLOT_QTY_MAX + 1),
	    ALLOT_ERR_BAD_REQUEST, "on_hand");
	ju_fail("stock.set", json_pack("{s:s, s:s, s:s}", "sku", "bad-a",
	    "location", "W1", "on_hand", "5"), ALLOT_ERR_BAD_REQUEST, "on_hand");
	ju_fail("stock.set", json_pack("{s:s, s:s, s:i}", "sku", "",
	    "location", "W1", "on_hand", 1), ALLOT_ERR_BAD_REQUEST, "sku");
	char long_sku[66];
	memset(long_sku, 'x', 65);
	long_sku[65] = '\0';
	ju_fail("stock.set", json_pack("{s:s, s:s, s:i}", "sku", long_sku,
	    "location", "W1", "on_hand", 1), ALLOT_ERR_BAD_REQUEST, "sku");
	ju_fail("stock.set", json_pack("{s:s, s:s, s:i}", "sku", "a\tb",
	    "location", "W1", "on_hand", 1), ALLOT_ERR_BAD_REQUEST, "sku");
	ju_fail("stock.set", json_pack("{s:s, s:s, s:i, s:i}", "sku", "bad-a",
	    "location", "W1", "on_hand", 1, "safety", -5),
	    ALLOT_ERR_BAD_REQUEST, "safety");
	ju_fail("stock.set", json_pack("{s:s, s:s, s:i, s:I}", "sku", "bad-a",
	    "location", "W1", "on_hand", 1, "safety",
	    (json_int_t)ALLOT_QTY_MAX + 1), ALLOT_ERR_BAD_REQUEST, "safety");
	ju_fail("stock.set", json_pack("{s:s, s:s, s:i, s:i}", "sku", "bad-a",
	    "location", "W1", "on_hand", 1, "if_version", -5),
	    ALLOT_ERR_BAD_REQUEST, "if_version");
	/* (-1, which the engine mistakes for "not given", has tests of its
	 * own below.) */

	/* 64 bytes is fine */
	long_sku[64] = '\0';
	expect_record(ju_set_stock(long_sku, "W1", 1), long_sku, "W1", 1, 0, 0, 0);

	/* A failed request changes nothing. */
	ju_fail("stock.get", json_pack("{s:s}", "sku", "bad-a"),
	    ALLOT_ERR_NOT_FOUND, NULL);
	fx_finish();
}

/*
 * Quantities are 0 to 2^31-1 and a value out of range is BAD_REQUEST; only
 * nil counts as not given. -1 is a negative number like any other.
 */
Test(methods, stock_set_safety_minus_one_is_bad_request_not_absent)
{
	/* on a new record: refused, and nothing is created */
	ju_fail("stock.set", json_pack("{s:s, s:s, s:i, s:i}", "sku", "neg-s",
	    "location", "W1", "on_hand", 5, "safety", -1),
	    ALLOT_ERR_BAD_REQUEST, "safety");
	ju_fail("stock.get", json_pack("{s:s}", "sku", "neg-s"),
	    ALLOT_ERR_NOT_FOUND, NULL);

	/* on an existing record: refused, and the record is unchanged */
	ju_ok("stock.set", json_pack("{s:s, s:s, s:i, s:i}", "sku", "neg-s2",
	    "location", "W1", "on_hand", 5, "safety", 2));
	ju_fail("stock.set", json_pack("{s:s, s:s, s:i, s:i}", "sku", "neg-s2",
	    "location", "W1", "on_hand", 9, "safety", -1),
	    ALLOT_ERR_BAD_REQUEST, "safety");
	json_t *r = ju_record("neg-s2", "W1");
	expect_record(r, "neg-s2", "W1", 5, 0, 0, 2);
	cr_assert_eq(ju_geti(r, "version"), 1);
	fx_finish();
}

Test(methods, stock_set_if_version_minus_one_is_bad_request_not_unconditional)
{
	ju_set_stock("neg-v", "W1", 5);
	ju_fail("stock.set", json_pack("{s:s, s:s, s:i, s:i}", "sku", "neg-v",
	    "location", "W1", "on_hand", 7, "if_version", -1),
	    ALLOT_ERR_BAD_REQUEST, "if_version");
	json_t *r = ju_record("neg-v", "W1");
	expect_record(r, "neg-v", "W1", 5, 0, 0, 0);
	cr_assert_eq(ju_geti(r, "version"), 1);
	fx_finish();
}

Test(methods, reserve_ttl_ms_minus_one_is_bad_request_not_the_default)
{
	ju_set_stock("neg-t", "W1", 5);
	ju_fail("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i}", "order_id",
	    "o-neg-t", "lines", "sku", "neg-t", "qty", 1, "ttl_ms", -1),
	    ALLOT_ERR_BAD_REQUEST, "ttl_ms");
	expect_record(ju_record("neg-t", "W1"), "neg-t", "W1", 5, 0, 0, 0);
	json_t *st = ju_ok("stats", NULL);
	cr_assert_eq(ju_geti(ju_get(st, "reservations"), "held"), 0);
	fx_finish();
}

Test(methods, stock_set_if_version_applies_only_at_that_version)
{
	/* 0: only if the record does not exist yet */
	json_t *r = ju_ok("stock.set", json_pack("{s:s, s:s, s:i, s:i}", "sku",
	    "ifv", "location", "W1", "on_hand", 10, "if_version", 0));
	cr_assert_eq(ju_geti(r, "version"), 1);

	json_t *e = ju_fail("stock.set", json_pack("{s:s, s:s, s:i, s:i}",
	    "sku", "ifv", "location", "W1", "on_hand", 11, "if_version", 0),
	    ALLOT_ERR_CONFLICT, NULL);
	cr_assert_eq(ju_geti(e, "version"), 1);

	r = ju_ok("stock.set", json_pack("{s:s, s:s, s:i, s:i}", "sku", "ifv",
	    "location", "W1", "on_hand", 12, "if_version", 1));
	cr_assert_eq(ju_geti(r, "version"), 2);
	cr_assert_eq(ju_geti(r, "on_hand"), 12);

	e = ju_fail("stock.set", json_pack("{s:s, s:s, s:i, s:i}", "sku",
	    "ifv", "location", "W1", "on_hand", 99, "if_version", 1),
	    ALLOT_ERR_CONFLICT, NULL);
	cr_assert_eq(ju_geti(e, "version"), 2);
	e = ju_fail("stock.set", json_pack("{s:s, s:s, s:i, s:i}", "sku",
	    "ifv", "location", "W1", "on_hand", 99, "if_version", 7),
	    ALLOT_ERR_CONFLICT, NULL);
	cr_assert_eq(ju_geti(e, "version"), 2);

	/* The refused writes changed nothing. */
	r = ju_record("ifv", "W1");
	expect_record(r, "ifv", "W1", 12, 0, 0, 0);
	cr_assert_eq(ju_geti(r, "version"), 2);

	/* A hold bumps the version, so a stale if_version conflicts. */
	ju_reserve1("o-ifv", "ifv", 1, 60000);
	e = ju_fail("stock.set", json_pack("{s:s, s:s, s:i, s:i}", "sku",
	    "ifv", "location", "W1", "on_hand", 50, "if_version", 2),
	    ALLOT_ERR_CONFLICT, NULL);
	cr_assert_eq(ju_geti(e, "version"), 3);
	r = ju_ok("stock.set", json_pack("{s:s, s:s, s:i, s:i}", "sku", "ifv",
	    "location", "W1", "on_hand", 50, "if_version", 3));
	cr_assert_eq(ju_geti(r, "version"), 4);
	expect_record(r, "ifv", "W1", 50, 1, 0, 0);

	/* A nonzero if_version on a record that does not exist: CONFLICT,
	 * with no version (there is none), and nothing is created. */
	e = ju_fail("stock.set", json_pack("{s:s, s:s, s:i, s:i}", "sku",
	    "ifv-new", "location", "W1", "on_hand", 5, "if_version", 1),
	    ALLOT_ERR_CONFLICT, NULL);
	json_t *v = json_object_get(e, "version");
	cr_assert(v == NULL || json_is_null(v),
	    "CONFLICT on a missing record carries a version");
	ju_fail("stock.get", json_pack("{s:s}", "sku", "ifv-new"),
	    ALLOT_ERR_NOT_FOUND, NULL);
	fx_finish();
}

Test(methods, stock_set_below_promised_units_reports_oversold)
{
	ju_set_stock("over", "W1", 10);
	json_t *a = ju_reserve1("o-over-1", "over", 6, 60000);
	ju_by_id("commit", a);
	ju_reserve1("o-over-2", "over", 3, 60000);
	expect_record(ju_record("over", "W1"), "over", "W1", 10, 3, 6, 0);

	/* reality wins: the count applies even below reserved + committed */
	json_t *r = ju_set_stock("over", "W1", 5);
	expect_record(r, "over", "W1", 5, 3, 6, 0);
	cr_assert_eq(ju_geti(r, "oversold"), 4);
	cr_assert_eq(ju_geti(r, "available"), 0);

	/* nothing can be reserved while oversold */
	json_t *e = ju_fail("reserve", json_pack("{s:s, s:[{s:s, s:i}]}",
	    "order_id", "o-over-3", "lines", "sku", "over", "qty", 1),
	    ALLOT_ERR_OUT_OF_STOCK, NULL);
	cr_assert_eq(ju_geti(ju_at(ju_get(e, "lines"), 0), "available"), 0);
	json_t *av = ju_ok("avail", json_pack("{s:[s]}", "skus", "over"));
	cr_assert_eq(ju_geti(ju_get(av, "over"), "total"), 0);

	/* stock comes back */
	r = ju_set_stock("over", "W1", 20);
	expect_record(r, "over", "W1", 20, 3, 6, 0);
	cr_assert_eq(ju_geti(r, "oversold"), 0);
	cr_assert_eq(ju_geti(r, "available"), 11);
	fx_finish();
}

/* ---- stock.adjust ---- */

Test(methods, stock_adjust_adds_delta_and_refuses_below_zero)
{
	/* creates the record with a non-negative delta */
	json_t *r = ju_ok("stock.adjust", json_pack("{s:s, s:s, s:i}", "sku",
	    "adj", "location", "W1", "delta", 5));
	expect_record(r, "adj", "W1", 5, 0, 0, 0);
	cr_assert_eq(ju_geti(r, "version"), 1);

	r = ju_ok("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}", "sku", "adj",
	    "location", "W1", "delta", -3, "reason", "damaged"));
	expect_record(r, "adj", "W1", 2, 0, 0, 0);
	cr_assert_eq(ju_geti(r, "version"), 2);

	r = ju_ok("stock.adjust", json_pack("{s:s, s:s, s:i}", "sku", "adj",
	    "location", "W1", "delta", 0));
	cr_assert_eq(ju_geti(r, "on_hand"), 2);

	ju_fail("stock.adjust", json_pack("{s:s, s:s, s:i}", "sku", "adj",
	    "location", "W1", "delta", -3), ALLOT_ERR_BAD_REQUEST, "delta");
	ju_fail("stock.adjust", json_pack("{s:s, s:s, s:I}", "sku", "adj",
	    "location", "W1", "delta", (json_int_t)ALLOT_QTY_MAX),
	    ALLOT_ERR_BAD_REQUEST, "delta");
	ju_fail("stock.adjust", json_pack("{s:s, s:s}", "sku", "adj",
	    "location", "W1"), ALLOT_ERR_BAD_REQUEST, "delta");
	ju_fail("stock.adjust", json_pack("{s:s, s:s, s:s}", "sku", "adj",
	    "location", "W1", "delta", "1"), ALLOT_ERR_BAD_REQUEST, "delta");

	/* the refusals changed nothing */
	r = ju_record("adj", "W1");
	expect_record(r, "adj", "W1", 2, 0, 0, 0);

	/* on_hand may reach exactly 0 and exactly 2^31-1 */
	r = ju_ok("stock.adjust", json_pack("{s:s, s:s, s:i}", "sku", "adj",
	    "location", "W1", "delta", -2));
	cr_assert_eq(ju_geti(r, "on_hand"), 0);
	r = ju_ok("stock.adjust", json_pack("{s:s, s:s, s:I}", "sku", "adj",
	    "location", "W1", "delta", (json_int_t)ALLOT_QTY_MAX));
	cr_assert_eq(ju_geti(r, "on_hand"), ALLOT_QTY_MAX);

	/* a negative delta does not create a record */
	ju_fail("stock.adjust", json_pack("{s:s, s:s, s:i}", "sku", "adj-new",
	    "location", "W1", "delta", -1), ALLOT_ERR_BAD_REQUEST, "delta");
	ju_fail("stock.get", json_pack("{s:s}", "sku", "adj-new"),
	    ALLOT_ERR_NOT_FOUND, NULL);
	fx_finish();
}

Test(methods, stock_adjust_replay_returns_the_first_reply_and_changes_nothing)
{
	ju_set_stock("adj-idem", "W1", 10);
	json_t *first = ju_ok("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}",
	    "sku", "adj-idem", "location", "W1", "delta", 5,
	    "idempotency_key", "k-adj-1"));
	expect_record(first, "adj-idem", "W1", 15, 0, 0, 0);

	/* later changes */
	ju_set_stock("adj-idem", "W1", 100);
	ju_reserve1("o-adj-idem", "adj-idem", 7, 60000);

	json_t *again = ju_ok("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}",
	    "sku", "adj-idem", "location", "W1", "delta", 5,
	    "idempotency_key", "k-adj-1"));
	cr_assert(json_equal(again, first), "the replay is not the first reply");
	expect_record(ju_record("adj-idem", "W1"), "adj-idem", "W1", 100, 7, 0, 0);

	/* same key, other params */
	ju_fail("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}", "sku",
	    "adj-idem", "location", "W1", "delta", 6, "idempotency_key",
	    "k-adj-1"), ALLOT_ERR_CONFLICT, NULL);
	ju_fail("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}", "sku",
	    "adj-idem", "location", "W2", "delta", 5, "idempotency_key",
	    "k-adj-1"), ALLOT_ERR_CONFLICT, NULL);
	expect_record(ju_record("adj-idem", "W1"), "adj-idem", "W1", 100, 7, 0, 0);
	ju_fail("stock.get", json_pack("{s:s, s:s}", "sku", "adj-idem",
	    "location", "W2"), ALLOT_ERR_NOT_FOUND, NULL);

	/* a failed adjust changes nothing, its key included */
	ju_fail("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}", "sku",
	    "adj-idem", "location", "W1", "delta", -1000, "idempotency_key",
	    "k-adj-3"), ALLOT_ERR_BAD_REQUEST, "delta");
	json_t *r3 = ju_ok("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}", "sku",
	    "adj-idem", "location", "W1", "delta", 1, "idempotency_key",
	    "k-adj-3"));
	cr_assert_eq(ju_geti(r3, "on_hand"), 101);
	ju_set_stock("adj-idem", "W1", 100);

	/* another key applies again */
	json_t *r = ju_ok("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}", "sku",
	    "adj-idem", "location", "W1", "delta", 5, "idempotency_key",
	    "k-adj-2"));
	cr_assert_eq(ju_geti(r, "on_hand"), 105);
	fx_finish();
}

/* ---- restock ---- */

Test(methods, restock_adds_returned_units)
{
	ju_set_stock("rs", "W1", 4);
	json_t *r = ju_ok("restock", json_pack("{s:s, s:s, s:i, s:s}", "sku", "rs",
	    "location", "W1", "qty", 3, "reason", "customer return"));
	expect_record(r, "rs", "W1", 7, 0, 0, 0);
	cr_assert_eq(ju_geti(r, "version"), 2);

	ju_fail("restock", json_pack("{s:s, s:s, s:i}", "sku", "rs",
	    "location", "W1", "qty", 0), ALLOT_ERR_BAD_REQUEST, "qty");
	ju_fail("restock", json_pack("{s:s, s:s, s:i}", "sku", "rs",
	    "location", "W1", "qty", -2), ALLOT_ERR_BAD_REQUEST, "qty");
	ju_fail("restock", json_pack("{s:s, s:s}", "sku", "rs",
	    "location", "W1"), ALLOT_ERR_BAD_REQUEST, "qty");
	expect_record(ju_record("rs", "W1"), "rs", "W1", 7, 0, 0, 0);
	fx_finish();
}

/* ---- stock.get ---- */

Test(methods, stock_get_lists_records_in_rank_order_or_one_location)
{
	/* created out of order: rank is by name */
	ju_set_stock("get-a", "W3", 3);
	ju_set_stock("get-a", "W1", 1);
	ju_set_stock("get-a", "W2", 2);
	ju_set_stock("get-b", "W9", 9);

	json_t *all = ju_ok("stock.get", json_pack("{s:s}", "sku", "get-a"));
	cr_assert(json_is_array(all));
	cr_assert_eq(json_array_size(all), 3);
	expect_record(ju_at(all, 0), "get-a", "W1", 1, 0, 0, 0);
	expect_record(ju_at(all, 1), "get-a", "W2", 2, 0, 0, 0);
	expect_record(ju_at(all, 2), "get-a", "W3", 3, 0, 0, 0);

	json_t *one = ju_ok("stock.get", json_pack("{s:s, s:s}", "sku", "get-a",
	    "location", "W2"));
	cr_assert_eq(json_array_size(one), 1);
	expect_record(ju_at(one, 0), "get-a", "W2", 2, 0, 0, 0);

	ju_fail("stock.get", json_pack("{s:s}", "sku", "get-nope"),
	    ALLOT_ERR_NOT_FOUND, NULL);
	/* W9 exists as a location, but get-a has no record there */
	ju_fail("stock.get", json_pack("{s:s, s:s}", "sku", "get-a",
	    "location", "W9"), ALLOT_ERR_NOT_FOUND, NULL);
	ju_fail("stock.get", json_pack("{s:s, s:s}", "sku", "get-a",
	    "location", "W-unknown"), ALLOT_ERR_NOT_FOUND, NULL);
	ju_fail("stock.get", json_pack("{}"), ALLOT_ERR_BAD_REQUEST, "sku");
	ju_fail("stock.get", NULL, ALLOT_ERR_BAD_REQUEST, "sku");
	fx_finish();
}

/* ---- avail ---- */

Test(methods, avail_reports_totals_per_location_and_unknown_skus)
{
	ju_set_stock("av-a", "W2", 5);
	ju_set_stock("av-a", "W1", 10);
	ju_ok("stock.set", json_pack("{s:s, s:s, s:i, s:i}", "sku", "av-a",
	    "location", "W3", "on_hand", 4, "safety", 4));
	ju_reserve1("o-av", "av-a", 3, 60000); /* from W1: 10 covers 3 */
	ju_set_stock("av-b", "W1", 7);

	json_t *av = ju_ok("avail", json_pack("{s:[s, s, s, s]}", "skus", "av-a",
	    "av-b", "av-a", "av-none"));
	cr_assert(json_is_object(av));
	cr_assert_eq(json_object_size(av), 3, "a repeated sku is not answered "
	    "once: %zu entries", json_object_size(av));

	json_t *a = ju_get(av, "av-a");
	cr_assert_eq(ju_geti(a, "total"), 12);
	json_t *locs = ju_get(a, "locations");
	cr_assert_eq(json_object_size(locs), 3);
	cr_assert_eq(ju_geti(locs, "W1"), 7);
	cr_assert_eq(ju_geti(locs, "W2"), 5);
	cr_assert_eq(ju_geti(locs, "W3"), 0, "a location at 0 is listed");
	cr_assert(json_is_array(ju_get(a, "incoming")));
	cr_assert_eq(json_array_size(ju_get(a, "incoming")), 0);

	json_t *b = ju_get(av, "av-b");
	cr_assert_eq(ju_geti(b, "total"), 7);
	cr_assert_eq(json_object_size(ju_get(b, "locations")), 1);
	cr_assert_eq(ju_geti(ju_get(b, "locations"), "W1"), 7);

	json_t *none = ju_get(av, "av-none");
	cr_assert_eq(ju_geti(none, "total"), 0);
	cr_assert(json_is_object(ju_get(none, "locations")));
	cr_assert_eq(json_object_size(ju_get(none, "locations")), 0);
	cr_assert_eq(json_array_size(ju_get(none, "incoming")), 0);

	/* location: only that location */
	av = ju_ok("avail", json_pack("{s:[s, s], s:s}", "skus", "av-a", "av-b",
	    "location", "W2"));
	a = ju_get(av, "av-a");
	cr_assert_eq(json_object_size(ju_get(a, "locations")), 1);
	cr_assert_eq(ju_geti(ju_get(a, "locations"), "W2"), 5);
	cr_assert_eq(ju_geti(a, "total"), 5);
	b = ju_get(av, "av-b");
	cr_assert_eq(ju_geti(b, "total"), 0);
	json_t *bl = ju_get(b, "locations");
	cr_assert(json_object_size(bl) == 0 ||
	    (json_object_size(bl) == 1 && ju_geti(bl, "W2") == 0),
	    "av-b has no record at W2 but avail lists other locations");

	/* a channel must have been made; made without a list, it sees every
	 * location, and a buffer is withheld per location */
	ju_fail("avail", json_pack("{s:[s], s:s}", "skus", "av-a", "channel", "web"),
	    ALLOT_ERR_NOT_FOUND, "web");
	ju_ok("channel.put", json_pack("{s:s}", "channel", "web"));
	av = ju_ok("avail", json_pack("{s:[s], s:s}", "skus", "av-a",
	    "channel", "web"));
	cr_assert_eq(ju_geti(ju_get(av, "av-a"), "total"), 12);
	ju_ok("channel.put", json_pack("{s:s, s:i}", "channel", "web", "buffer", 2));
	av = ju_ok("avail", json_pack("{s:[s], s:s}", "skus", "av-a",
	    "channel", "web"));
	cr_assert_eq(ju_geti(ju_get(av, "av-a"), "total"), 8);

	/* an empty list answers an empty map */
	av = ju_ok("avail", json_pack("{s:[]}", "skus"));
	cr_assert(json_is_object(av) && json_object_size(av) == 0);

	ju_fail("avail", json_pack("{}"), ALLOT_ERR_BAD_REQUEST, "skus");
	ju_fail("avail", json_pack("{s:s}", "skus", "av-a"),
	    ALLOT_ERR_BAD_REQUEST, "skus");
	ju_fail("avail", json_pack("{s:[i]}", "skus", 5),
	    ALLOT_ERR_BAD_REQUEST, "skus[0]");
	fx_finish();
}

Test(methods, avail_of_more_than_1000_skus_is_too_large_and_connection_stays)
{
	ju_set_stock("big-0", "W1", 1);
	json_t *skus = json_array();
	for (int i = 0; i < 1001; i++) {
		char name[32];
		snprintf(name, sizeof(name), "big-%d", i);
		json_array_append_new(skus, json_string(name));
	}
	json_t *skus1000 = json_deep_copy(skus);
	json_array_remove(skus1000, 1000);

	ju_fail("avail", json_pack("{s:o}", "skus", skus),
	    ALLOT_ERR_TOO_LARGE, NULL);
	cr_assert_str_eq(json_string_value(ju_ok("ping", NULL)), "pong");

	json_t *av = ju_ok("avail", json_pack("{s:o}", "skus", skus1000));
	cr_assert_eq(json_object_size(av), 1000);
	cr_assert_eq(ju_geti(ju_get(av, "big-0"), "total"), 1);
	cr_assert_eq(ju_geti(ju_get(av, "big-999"), "total"), 0);

	fx_finish();
}
