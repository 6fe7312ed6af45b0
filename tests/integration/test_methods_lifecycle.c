/*
 * test_methods_lifecycle.c - a reservation's life over the wire against
 * proto/PROTOCOL.md: commit, release, fulfill, extend, reservation.get;
 * configured limits, stats, and exact expiry. The suite is described in
 * test_methods_stock.c.
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

/* ---- commit ---- */

Test(methods, commit_moves_held_units_to_committed_and_is_retryable)
{
	ju_set_stock("com", "W1", 10);
	json_t *r = ju_reserve1("o-com", "com", 4, 60000);
	cr_assert(json_is_integer(ju_get(r, "expires_at")));

	json_t *c = ju_by_id("commit", r);
	expect_status(c, "committed");
	cr_assert(json_is_null(ju_get(c, "expires_at")), "expires_at not nil");
	cr_assert_str_eq(ju_gets(c, "reservation_id"), ju_gets(r, "reservation_id"));
	cr_assert_str_eq(ju_gets(c, "order_id"), "o-com");
	cr_assert(json_equal(ju_get(c, "lines"), ju_get(r, "lines")));
	expect_record(ju_record("com", "W1"), "com", "W1", 10, 0, 4, 0);

	/* committed twice: returned unchanged */
	json_t *c2 = ju_by_id("commit", r);
	cr_assert(json_equal(c2, c), "a second commit changed the reply");
	expect_record(ju_record("com", "W1"), "com", "W1", 10, 0, 4, 0);
	cr_assert(json_equal(ju_by_id("reservation.get", r), c));

	/* a released reservation cannot be committed */
	json_t *r2 = ju_reserve1("o-com-2", "com", 2, 60000);
	expect_status(ju_by_id("release", r2), "released");
	fail_by_id("commit", r2, ALLOT_ERR_INVALID_STATE);
	expect_status(ju_by_id("reservation.get", r2), "released");
	expect_record(ju_record("com", "W1"), "com", "W1", 10, 0, 4, 0);

	ju_fail("commit", json_pack("{s:s}", "reservation_id",
	    "r-0000000000000000"), ALLOT_ERR_NOT_FOUND, NULL);
	ju_fail("commit", json_pack("{}"), ALLOT_ERR_BAD_REQUEST,
	    "reservation_id");
	fx_finish();
}

/* ---- release ---- */

Test(methods, release_whole_returns_every_unit)
{
	ju_set_stock("rel", "W1", 3);
	ju_set_stock("rel", "W2", 4);
	json_t *r = ju_reserve1("o-rel", "rel", 6, 60000);
	expect_record(ju_record("rel", "W1"), "rel", "W1", 3, 3, 0, 0);
	expect_record(ju_record("rel", "W2"), "rel", "W2", 4, 3, 0, 0);

	json_t *x = ju_by_id("release", r);
	expect_status(x, "released");
	cr_assert(json_is_null(ju_get(x, "expires_at")));
	json_t *line = ju_at(ju_get(x, "lines"), 0);
	cr_assert_eq(ju_geti(line, "qty"), 6);
	cr_assert_eq(ju_geti(line, "released"), 6);
	/* allocations reduced to 0 stay listed */
	static const char *const w12[] = { "W1", "W2" };
	static const json_int_t zeros[] = { 0, 0 };
	expect_line(x, 0, "rel", 6, 2, w12, zeros);

	expect_record(ju_record("rel", "W1"), "rel", "W1", 3, 0, 0, 0);
	expect_record(ju_record("rel", "W2"), "rel", "W2", 4, 0, 0, 0);
	json_t *av = ju_ok("avail", json_pack("{s:[s]}", "skus", "rel"));
	cr_assert_eq(ju_geti(ju_get(av, "rel"), "total"), 7);

	fail_by_id("release", r, ALLOT_ERR_INVALID_STATE);
	ju_fail("release", json_pack("{s:s, s:[{s:s, s:i}]}", "reservation_id",
	    ju_gets(r, "reservation_id"), "lines", "sku", "rel", "qty", 1),
	    ALLOT_ERR_INVALID_STATE, NULL);

	/* a committed reservation can be released too */
	json_t *r2 = ju_reserve1("o-rel-2", "rel", 2, 60000);
	ju_by_id("commit", r2);
	expect_record(ju_record("rel", "W1"), "rel", "W1", 3, 0, 2, 0);
	json_t *x2 = ju_by_id("release", r2);
	expect_status(x2, "released");
	expect_record(ju_record("rel", "W1"), "rel", "W1", 3, 0, 0, 0);

	ju_fail("release", json_pack("{s:s}", "reservation_id", "nonsense"),
	    ALLOT_ERR_NOT_FOUND, NULL);
	fx_finish();
}

Test(methods, release_partial_keeps_it_held_and_frees_those_units)
{
	ju_set_stock("relp", "W1", 3);
	ju_set_stock("relp", "W2", 2);
	ju_set_stock("relp-o", "W1", 10);
	json_t *r = ju_ok("reserve", json_pack("{s:s, s:[{s:s, s:i}, {s:s, s:i}], "
	    "s:i}", "order_id", "o-relp", "lines", "sku", "relp", "qty", 5,
	    "sku", "relp-o", "qty", 1, "ttl_ms", 60000));
	static const char *const w12[] = { "W1", "W2" };
	static const json_int_t q32[] = { 3, 2 };
	expect_line(r, 0, "relp", 5, 2, w12, q32);

	/* units leave the worst-ranked allocation first */
	json_t *x = ju_ok("release", json_pack("{s:s, s:[{s:s, s:i}]}",
	    "reservation_id", ju_gets(r, "reservation_id"), "lines", "sku", "relp",
	    "qty", 3));
	expect_status(x, "held");
	cr_assert(json_is_integer(ju_get(x, "expires_at")));
	cr_assert_eq(ju_geti(x, "expires_at"), ju_geti(r, "expires_at"));
	static const json_int_t q20[] = { 2, 0 };
	expect_line(x, 0, "relp", 5, 2, w12, q20);
	cr_assert_eq(ju_geti(ju_at(ju_get(x, "lines"), 0), "released"), 3);
	cr_assert(json_object_get(ju_at(ju_get(x, "lines"), 1), "released") == NULL);
	expect_record(ju_record("relp", "W1"), "relp", "W1", 3, 2, 0, 0);
	expect_record(ju_record("relp", "W2"), "relp", "W2", 2, 0, 0, 0);
	json_t *av = ju_ok("avail", json_pack("{s:[s]}", "skus", "relp"));
	cr_assert_eq(ju_geti(ju_get(av, "relp"), "total"), 3);

	/* the freed units can be reserved by someone else */
	json_t *other = ju_reserve1("o-relp-other", "relp", 3, 60000);
	static const json_int_t q12[] = { 1, 2 };
	expect_line(other, 0, "relp", 3, 2, w12, q12);

	/* over-release, a sku not in it, a sku named twice, qty 0 */
	ju_fail("release", json_pack("{s:s, s:[{s:s, s:i}]}", "reservation_id",
	    ju_gets(r, "reservation_id"), "lines", "sku", "relp", "qty", 3),
	    ALLOT_ERR_BAD_REQUEST, NULL);
	ju_fail("release", json_pack("{s:s, s:[{s:s, s:i}]}", "reservation_id",
	    ju_gets(r, "reservation_id"), "lines", "sku", "relp-none", "qty", 1),
	    ALLOT_ERR_BAD_REQUEST, NULL);
	ju_fail("release", json_pack("{s:s, s:[{s:s, s:i}, {s:s, s:i}]}",
	    "reservation_id", ju_gets(r, "reservation_id"), "lines", "sku", "relp",
	    "qty", 1, "sku", "relp", "qty", 1), ALLOT_ERR_BAD_REQUEST, NULL);
	ju_fail("release", json_pack("{s:s, s:[{s:s, s:i}]}", "reservation_id",
	    ju_gets(r, "reservation_id"), "lines", "sku", "relp", "qty", 0),
	    ALLOT_ERR_BAD_REQUEST, "qty");
	json_t *many = json_array();
	for (int i = 0; i < 101; i++) {
		char sku[32];
		snprintf(sku, sizeof(sku), "relp-%d", i);
		json_array_append_new(many, json_pack("{s:s, s:i}", "sku", sku,
		    "qty", 1));
	}
	ju_fail("release", json_pack("{s:s, s:o}", "reservation_id",
	    ju_gets(r, "reservation_id"), "lines", many), ALLOT_ERR_TOO_LARGE,
	    NULL);
	ju_fail("release", json_pack("{s:s, s:[{s:s, s:s}]}", "reservation_id",
	    ju_gets(r, "reservation_id"), "lines", "sku", "relp", "qty", "1"),
	    ALLOT_ERR_BAD_REQUEST, "lines[0].qty");
	json_t *g = ju_by_id("reservation.get", r);
	cr_assert(json_equal(g, x), "a refused release changed the reservation");

	/* release the rest line by line: released at the end */
	x = ju_ok("release", json_pack("{s:s, s:[{s:s, s:i}, {s:s, s:i}]}",
	    "reservation_id", ju_gets(r, "reservation_id"), "lines", "sku", "relp",
	    "qty", 2, "sku", "relp-o", "qty", 1));
	expect_status(x, "released");
	static const json_int_t q00[] = { 0, 0 };
	expect_line(x, 0, "relp", 5, 2, w12, q00);
	cr_assert_eq(ju_geti(ju_at(ju_get(x, "lines"), 0), "released"), 5);
	/* what is left is the other order's: 1 at W1, 2 at W2 */
	expect_record(ju_record("relp", "W1"), "relp", "W1", 3, 1, 0, 0);
	expect_record(ju_record("relp", "W2"), "relp", "W2", 2, 2, 0, 0);
	expect_record(ju_record("relp-o", "W1"), "relp-o", "W1", 10, 0, 0, 0);
	fx_finish();
}

/* ---- fulfill ---- */

Test(methods, fulfill_ships_committed_units_partially_then_wholly)
{
	ju_set_stock("ful", "W1", 10);
	json_t *r = ju_reserve1("o-ful", "ful", 5, 60000);
	fail_by_id("fulfill", r, ALLOT_ERR_INVALID_STATE);
	expect_record(ju_record("ful", "W1"), "ful", "W1", 10, 5, 0, 0);

	ju_by_id("commit", r);
	json_t *f = ju_ok("fulfill", json_pack("{s:s, s:[{s:s, s:i}]}",
	    "reservation_id", ju_gets(r, "reservation_id"), "lines", "sku", "ful",
	    "qty", 2));
	expect_status(f, "committed");
	cr_assert_eq(ju_geti(ju_at(ju_get(f, "lines"), 0), "fulfilled"), 2);
	static const char *const w1[] = { "W1" };
	static const json_int_t three[] = { 3 };
	expect_line(f, 0, "ful", 5, 1, w1, three);
	expect_record(ju_record("ful", "W1"), "ful", "W1", 8, 0, 3, 0);

	ju_fail("fulfill", json_pack("{s:s, s:[{s:s, s:i}]}", "reservation_id",
	    ju_gets(r, "reservation_id"), "lines", "sku", "ful", "qty", 4),
	    ALLOT_ERR_BAD_REQUEST, NULL);
	ju_fail("fulfill", json_pack("{s:s, s:[{s:s, s:i}]}", "reservation_id",
	    ju_gets(r, "reservation_id"), "lines", "sku", "ful-none", "qty", 1),
	    ALLOT_ERR_BAD_REQUEST, NULL);
	expect_record(ju_record("ful", "W1"), "ful", "W1", 8, 0, 3, 0);

	f = ju_by_id("fulfill", r);
	expect_status(f, "fulfilled");
	cr_assert(json_is_null(ju_get(f, "expires_at")));
	cr_assert_eq(ju_geti(ju_at(ju_get(f, "lines"), 0), "fulfilled"), 5);
	static const json_int_t zero[] = { 0 };
	expect_line(f, 0, "ful", 5, 1, w1, zero);
	expect_record(ju_record("ful", "W1"), "ful", "W1", 5, 0, 0, 0);

	fail_by_id("fulfill", r, ALLOT_ERR_INVALID_STATE);
	fail_by_id("release", r, ALLOT_ERR_INVALID_STATE);
	fail_by_id("commit", r, ALLOT_ERR_INVALID_STATE);

	/* partly fulfilled, rest released: fulfilled */
	json_t *r2 = ju_reserve1("o-ful-2", "ful", 4, 60000);
	ju_by_id("commit", r2);
	ju_ok("fulfill", json_pack("{s:s, s:[{s:s, s:i}]}", "reservation_id",
	    ju_gets(r2, "reservation_id"), "lines", "sku", "ful", "qty", 1));
	json_t *x = ju_by_id("release", r2);
	expect_status(x, "fulfilled");
	cr_assert_eq(ju_geti(ju_at(ju_get(x, "lines"), 0), "fulfilled"), 1);
	cr_assert_eq(ju_geti(ju_at(ju_get(x, "lines"), 0), "released"), 3);
	expect_record(ju_record("ful", "W1"), "ful", "W1", 4, 0, 0, 0);
	fx_finish();
}

Test(methods, fulfill_and_release_of_committed_units_leave_worst_ranked_first)
{
	ju_set_stock("fw", "W1", 3);
	ju_set_stock("fw", "W2", 2);
	json_t *r = ju_reserve1("o-fw", "fw", 5, 60000);
	static const char *const w12[] = { "W1", "W2" };
	static const json_int_t q32[] = { 3, 2 };
	expect_line(r, 0, "fw", 5, 2, w12, q32);
	ju_by_id("commit", r);
	expect_record(ju_record("fw", "W1"), "fw", "W1", 3, 0, 3, 0);
	expect_record(ju_record("fw", "W2"), "fw", "W2", 2, 0, 2, 0);

	json_t *f = ju_ok("fulfill", json_pack("{s:s, s:[{s:s, s:i}]}",
	    "reservation_id", ju_gets(r, "reservation_id"), "lines", "sku", "fw",
	    "qty", 3));
	expect_status(f, "committed");
	static const json_int_t q20[] = { 2, 0 };
	expect_line(f, 0, "fw", 5, 2, w12, q20);
	cr_assert_eq(ju_geti(ju_at(ju_get(f, "lines"), 0), "fulfilled"), 3);
	expect_record(ju_record("fw", "W1"), "fw", "W1", 2, 0, 2, 0);
	expect_record(ju_record("fw", "W2"), "fw", "W2", 0, 0, 0, 0);

	/* releasing committed units makes them available again */
	json_t *x = ju_ok("release", json_pack("{s:s, s:[{s:s, s:i}]}",
	    "reservation_id", ju_gets(r, "reservation_id"), "lines", "sku", "fw",
	    "qty", 1));
	expect_status(x, "committed");
	static const json_int_t q10[] = { 1, 0 };
	expect_line(x, 0, "fw", 5, 2, w12, q10);
	cr_assert_eq(ju_geti(ju_at(ju_get(x, "lines"), 0), "released"), 1);
	cr_assert_eq(ju_geti(ju_at(ju_get(x, "lines"), 0), "fulfilled"), 3);
	expect_record(ju_record("fw", "W1"), "fw", "W1", 2, 0, 1, 0);
	json_t *av = ju_ok("avail", json_pack("{s:[s]}", "skus", "fw"));
	cr_assert_eq(ju_geti(ju_get(av, "fw"), "total"), 1);

	f = ju_by_id("fulfill", r);
	expect_status(f, "fulfilled");
	static const json_int_t q00[] = { 0, 0 };
	expect_line(f, 0, "fw", 5, 2, w12, q00);
	cr_assert_eq(ju_geti(ju_at(ju_get(f, "lines"), 0), "fulfilled"), 4);
	cr_assert_eq(ju_geti(ju_at(ju_get(f, "lines"), 0), "released"), 1);
	expect_record(ju_record("fw", "W1"), "fw", "W1", 1, 0, 0, 0);
	expect_record(ju_record("fw", "W2"), "fw", "W2", 0, 0, 0, 0);
	fx_finish();
}

/* ---- extend ---- */

Test(methods, extend_sets_a_new_deadline_on_held_only)
{
	ju_set_stock("ext", "W1", 10);
	json_t *r = ju_reserve1("o-ext", "ext", 1, 60000);

	int64_t t0 = harness_wall_ms();
	json_t *x = ju_ok("extend", json_pack("{s:s, s:i}", "reservation_id",
	    ju_gets(r, "reservation_id"), "ttl_ms", 1000000));
	int64_t t1 = harness_wall_ms();
	expect_status(x, "held");
	json_int_t exp = ju_geti(x, "expires_at");
	cr_assert(exp >= t0 + 1000000 - 50 && exp <= t1 + 1000000 + 50,
	    "expires_at %lld not within [%lld, %lld]", (long long)exp,
	    (long long)(t0 + 1000000), (long long)(t1 + 1000000));
	cr_assert_eq(ju_geti(ju_by_id("reservation.get", r), "expires_at"), exp);

	/* earlier than the old deadline is allowed */
	t0 = harness_wall_ms();
	x = ju_ok("extend", json_pack("{s:s, s:i}", "reservation_id",
	    ju_gets(r, "reservation_id"), "ttl_ms", 5000));
	exp = ju_geti(x, "expires_at");
	cr_assert(exp >= t0 + 5000 - 50 && exp <= harness_wall_ms() + 5000 + 50);

	ju_fail("extend", json_pack("{s:s, s:i}", "reservation_id",
	    ju_gets(r, "reservation_id"), "ttl_ms", 0), ALLOT_ERR_BAD_REQUEST,
	    "ttl_ms");
	ju_fail("extend", json_pack("{s:s, s:i}", "reservation_id",
	    ju_gets(r, "reservation_id"), "ttl_ms", -1), ALLOT_ERR_BAD_REQUEST,
	    "ttl_ms");
	ju_fail("extend", json_pack("{s:s}", "reservation_id",
	    ju_gets(r, "reservation_id")), ALLOT_ERR_BAD_REQUEST, "ttl_ms");
	ju_fail("extend", json_pack("{s:s, s:I}", "reservation_id",
	    ju_gets(r, "reservation_id"), "ttl_ms",
	    (json_int_t)ALLOT_DEFAULT_TTL_MAX_MS + 1), ALLOT_ERR_BAD_REQUEST,
	    "ttl_ms");
	cr_assert_eq(ju_geti(ju_by_id("reservation.get", r), "expires_at"), exp);

	ju_by_id("commit", r);
	ju_fail("extend", json_pack("{s:s, s:i}", "reservation_id",
	    ju_gets(r, "reservation_id"), "ttl_ms", 60000),
	    ALLOT_ERR_INVALID_STATE, NULL);
	cr_assert(json_is_null(ju_get(ju_by_id("reservation.get", r), "expires_at")));

	json_t *r2 = ju_reserve1("o-ext-2", "ext", 1, 60000);
	ju_by_id("release", r2);
	ju_fail("extend", json_pack("{s:s, s:i}", "reservation_id",
	    ju_gets(r2, "reservation_id"), "ttl_ms", 60000),
	    ALLOT_ERR_INVALID_STATE, NULL);
	ju_fail("extend", json_pack("{s:s, s:i}", "reservation_id",
	    "r-0000000000000000", "ttl_ms", 60000), ALLOT_ERR_NOT_FOUND, NULL);
	fx_finish();
}

/* ---- reservation.get ---- */

Test(methods, reservation_get_reads_reservations_and_not_found_otherwise)
{
	ju_set_stock("rg", "W1", 10);
	json_t *r = ju_reserve1("o-rg", "rg", 2, 60000);
	cr_assert(json_equal(ju_by_id("reservation.get", r), r));

	ju_fail("reservation.get", json_pack("{s:s}", "reservation_id",
	    "r-0000000000000000"), ALLOT_ERR_NOT_FOUND, NULL);
	ju_fail("reservation.get", json_pack("{s:s}", "reservation_id",
	    "nonsense"), ALLOT_ERR_NOT_FOUND, NULL);
	ju_fail("reservation.get", json_pack("{}"), ALLOT_ERR_BAD_REQUEST,
	    "reservation_id");
	ju_fail("reservation.get", json_pack("{s:i}", "reservation_id", 5),
	    ALLOT_ERR_BAD_REQUEST, "reservation_id");
	fx_finish();
}

/*
 * "Ids carry the engine's start time, so an id from an earlier run is never
 * reused." Three runs back to back (well within a second or two of each
 * other): the first reservation of each must have a different id.
 */
Test(methods, reservation_ids_are_never_reused_by_a_later_run)
{
	enum { RUNS = 3 };
	char ids[RUNS][32];
	for (int run = 0; run < RUNS; run++) {
		if (run > 0)
			fx_restart(NULL);
		ju_set_stock("ids", "W1", 1);
		json_t *r = ju_reserve1("o-ids", "ids", 1, 60000);
		const char *id = ju_gets(r, "reservation_id");
		cr_assert(is_reservation_id(id), "bad id %s", id);
		snprintf(ids[run], sizeof(ids[run]), "%s", id);
		for (int k = 0; k < run; k++)
			cr_assert_str_neq(ids[k], ids[run], "run %d reused the id "
			    "%s of run %d", run + 1, ids[run], k + 1);
	}
	fx_finish();
}

Test(methods, configured_limits_ttls_and_retention_apply)
{
	static const char *const args[] = { "--retain-ms", "300",
		"--ttl-default-ms", "400", "--ttl-max-ms", "1000",
		"--lines-max", "2", "--avail-skus-max", "3", NULL };
	fx_restart(args);
	ju_set_stock("cfg", "W1", 50);

	ju_fail("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i}", "order_id",
	    "o-cfg", "lines", "sku", "cfg", "qty", 1, "ttl_ms", 1001),
	    ALLOT_ERR_BAD_REQUEST, "ttl_ms");
	ju_fail("reserve", json_pack("{s:s, s:[{s:s, s:i}, {s:s, s:i}, "
	    "{s:s, s:i}]}", "order_id", "o-cfg", "lines", "sku", "cfg", "qty", 1,
	    "sku", "cfg-b", "qty", 1, "sku", "cfg-c", "qty", 1),
	    ALLOT_ERR_TOO_LARGE, NULL);
	ju_fail("avail", json_pack("{s:[s, s, s, s]}", "skus", "cfg", "b",
	    "c", "d"), ALLOT_ERR_TOO_LARGE, NULL);
	json_t *av = ju_ok("avail", json_pack("{s:[s, s, s]}", "skus", "cfg", "b",
	    "c"));
	cr_assert_eq(json_object_size(av), 3);

	/* default hold: 400 ms */
	int64_t t0 = harness_wall_ms();
	json_t *def = ju_ok("reserve", json_pack("{s:s, s:[{s:s, s:i}]}",
	    "order_id", "o-cfg-def", "lines", "sku", "cfg", "qty", 1));
	json_int_t exp = ju_geti(def, "expires_at");
	cr_assert(exp >= t0 + 400 && exp <= harness_wall_ms() + 400,
	    "expires_at %lld is not about now + 400 ms", (long long)exp);

	/* finished ones are forgotten after --retain-ms; live ones stay */
	json_t *kept_res = ju_ok("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i, "
	    "s:s}", "order_id", "o-cfg-keep", "lines", "sku", "cfg", "qty", 2,
	    "ttl_ms", 1000, "idempotency_key", "k-keep"));
	ju_by_id("commit", kept_res);
	json_t *gone = ju_ok("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i, s:s}",
	    "order_id", "o-cfg-gone", "lines", "sku", "cfg", "qty", 3,
	    "ttl_ms", 1000, "idempotency_key", "k-gone"));
	ju_by_id("release", gone);
	json_t *adj = ju_ok("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}", "sku",
	    "cfg", "location", "W1", "delta", 1, "idempotency_key", "k-adj"));
	cr_assert_eq(ju_geti(adj, "on_hand"), 51);
	expect_status(ju_by_id("reservation.get", gone), "released");

	harness_sleep_ms(800); /* past the default hold and the retention */
	fail_by_id("reservation.get", gone, ALLOT_ERR_NOT_FOUND);
	fail_by_id("reservation.get", def, ALLOT_ERR_NOT_FOUND);
	expect_status(ju_by_id("reservation.get", kept_res), "committed");
	json_t *st = ju_ok("stats", NULL);
	json_t *res = ju_get(st, "reservations");
	cr_assert_eq(ju_geti(res, "committed"), 1);
	cr_assert_eq(ju_geti(res, "released"), 0);
	cr_assert_eq(ju_geti(res, "expired"), 0);
	cr_assert_eq(ju_geti(st, "expired_total"), 1);

	/* forgotten keys apply again; a kept one still replays */
	adj = ju_ok("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}", "sku", "cfg",
	    "location", "W1", "delta", 1, "idempotency_key", "k-adj"));
	cr_assert_eq(ju_geti(adj, "on_hand"), 52);
	json_t *again = ju_ok("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i, "
	    "s:s}", "order_id", "o-cfg-gone", "lines", "sku", "cfg", "qty", 3,
	    "ttl_ms", 1000, "idempotency_key", "k-gone"));
	cr_assert_str_neq(ju_gets(again, "reservation_id"),
	    ju_gets(gone, "reservation_id"));
	expect_status(again, "held");
	json_t *replay = ju_ok("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i, "
	    "s:s}", "order_id", "o-cfg-keep", "lines", "sku", "cfg", "qty", 2,
	    "ttl_ms", 1000, "idempotency_key", "k-keep"));
	cr_assert(json_equal(replay, kept_res));
	expect_record(ju_record("cfg", "W1"), "cfg", "W1", 52, 3, 2, 0);
	fx_finish();
}

/* ---- stats ---- */

Test(methods, stats_counts_reservations_requests_connections_and_memory)
{
	ju_set_stock("st", "W1", 100);
	ju_set_stock("st", "W2", 100);
	ju_set_stock("st2", "W1", 100);

	json_t *held = ju_reserve1("o-st-1", "st", 1, 60000);
	(void)held;
	json_t *com = ju_reserve1("o-st-2", "st", 2, 60000);
	ju_by_id("commit", com);
	json_t *rel = ju_reserve1("o-st-3", "st", 3, 60000);
	ju_by_id("release", rel);
	json_t *ful = ju_reserve1("o-st-4", "st2", 4, 60000);
	ju_by_id("commit", ful);
	ju_by_id("fulfill", ful);
	ju_reserve1("o-st-5", "st2", 5, 1);
	harness_sleep_ms(30);
	ju_fail("reserve", json_pack("{s:s, s:[{s:s, s:i}]}", "order_id",
	    "o-st-6", "lines", "sku", "st", "qty", 1000),
	    ALLOT_ERR_OUT_OF_STOCK, NULL);

	char err[512];
	allot_client *other = harness_client(fx_srv, FX_CLIENT_TIMEOUT_MS, err,
	    sizeof(err));
	cr_assert_not_null(other, "cannot connect: %s", err);
	json_t *st = ju_ok_on(other, "stats", NULL);
	allot_client_destroy(other);

	cr_assert_eq(ju_geti(st, "skus"), 2);
	cr_assert_eq(ju_geti(st, "locations"), 2);
	cr_assert_eq(ju_geti(st, "records"), 3);
	json_t *res = ju_get(st, "reservations");
	cr_assert_eq(ju_geti(res, "held"), 1);
	cr_assert_eq(ju_geti(res, "committed"), 1);
	cr_assert_eq(ju_geti(res, "fulfilled"), 1);
	cr_assert_eq(ju_geti(res, "released"), 1);
	cr_assert_eq(ju_geti(res, "expired"), 1);
	cr_assert_eq(ju_geti(st, "expired_total"), 1);
	cr_assert_eq(ju_geti(st, "units_reserved"), 1);
	cr_assert_eq(ju_geti(st, "units_committed"), 2);
	cr_assert(json_is_integer(ju_get(st, "idempotency_keys")));
	cr_assert(json_is_string(ju_get(st, "version")));
	cr_assert_geq(ju_geti(st, "uptime_ms"), 30);

	json_t *conn = ju_get(st, "connections");
	cr_assert_geq(ju_geti(conn, "current"), 2);
	cr_assert_geq(ju_geti(conn, "total"), 2);
	cr_assert_eq(ju_geti(conn, "rejected"), 0);

	json_t *req = ju_get(st, "requests");
	cr_assert_eq(ju_geti(req, "stock.set"), 3);
	cr_assert_eq(ju_geti(req, "reserve"), 6);
	cr_assert_eq(ju_geti(req, "commit"), 2);
	cr_assert_eq(ju_geti(req, "release"), 1);
	cr_assert_eq(ju_geti(req, "fulfill"), 1);
	cr_assert_geq(ju_geti(req, "ping"), 1); /* the harness's */
	cr_assert_geq(ju_geti(req, "errors"), 1);
	cr_assert_geq(ju_geti(req, "total"), 14);

	json_t *mem = ju_get(st, "memory");
	cr_assert_gt(ju_geti(mem, "allocated"), 0);
	cr_assert_gt(ju_geti(mem, "resident"), 0);
	cr_assert_str_eq(ju_gets(ju_get(st, "durability"), "mode"), "none");
	fx_finish();
}

/* ---- exact expiry ---- */

Test(methods, expired_hold_is_available_to_the_very_next_request)
{
	json_t *set = ju_set_stock("exp", "W1", 5);
	cr_assert_eq(ju_geti(set, "version"), 1);
	int64_t t0 = harness_wall_ms();
	json_t *r = ju_reserve1("o-exp", "exp", 3, 300);
	int64_t t1 = harness_wall_ms();
	json_int_t deadline = ju_geti(r, "expires_at");
	cr_assert(deadline >= t0 + 300 && deadline <= t1 + 300,
	    "expires_at %lld not within [%lld, %lld]", (long long)deadline,
	    (long long)(t0 + 300), (long long)(t1 + 300));

	json_t *av = ju_ok("avail", json_pack("{s:[s]}", "skus", "exp"));
	cr_assert_eq(ju_geti(ju_get(av, "exp"), "total"), 2, "held units available");
	json_t *rec = ju_record("exp", "W1");
	expect_record(rec, "exp", "W1", 5, 3, 0, 0);
	cr_assert_eq(ju_geti(rec, "version"), 2);

	/* sleep past the deadline; the next request sees the units back */
	int64_t wait = deadline + 100 - harness_wall_ms();
	if (wait > 0)
		harness_sleep_ms((int)wait);
	av = ju_ok("avail", json_pack("{s:[s]}", "skus", "exp"));
	cr_assert_eq(ju_geti(ju_get(av, "exp"), "total"), 5,
	    "expired units are not available");
	cr_assert_eq(ju_geti(ju_get(ju_get(av, "exp"), "locations"), "W1"), 5);

	json_t *g = ju_by_id("reservation.get", r);
	expect_status(g, "expired");
	cr_assert_eq(ju_geti(g, "expires_at"), deadline,
	    "expired reservation does not keep the deadline that passed");
	static const char *const w1[] = { "W1" };
	static const json_int_t three[] = { 3 };
	expect_line(g, 0, "exp", 3, 1, w1, three);

	rec = ju_record("exp", "W1");
	expect_record(rec, "exp", "W1", 5, 0, 0, 0);
	cr_assert_eq(ju_geti(rec, "version"), 3, "the expiry did not bump the "
	    "version once");

	fail_by_id("commit", r, ALLOT_ERR_INVALID_STATE);
	fail_by_id("release", r, ALLOT_ERR_INVALID_STATE);
	ju_fail("extend", json_pack("{s:s, s:i}", "reservation_id",
	    ju_gets(r, "reservation_id"), "ttl_ms", 60000),
	    ALLOT_ERR_INVALID_STATE, NULL);
	expect_status(ju_by_id("reservation.get", r), "expired");

	json_t *st = ju_ok("stats", NULL);
	cr_assert_eq(ju_geti(st, "expired_total"), 1);
	cr_assert_eq(ju_geti(ju_get(st, "reservations"), "expired"), 1);
	cr_assert_eq(ju_geti(ju_get(st, "reservations"), "held"), 0);
	cr_assert_eq(ju_geti(st, "units_reserved"), 0);

	/* all 5 can be reserved again */
	json_t *r2 = ju_reserve1("o-exp-2", "exp", 5, 60000);
	expect_status(r2, "held");
	fx_finish();
}

Test(methods, expiry_is_seen_by_a_reserve_sent_right_after_the_deadline)
{
	/* A hold with a short ttl blocks a reserve; right after its
	 * deadline a reserve of every unit succeeds. */
	ju_set_stock("exp2", "W1", 4);
	json_t *r = ju_reserve1("o-exp2", "exp2", 4, 200);
	json_int_t deadline = ju_geti(r, "expires_at");
	ju_fail("reserve", json_pack("{s:s, s:[{s:s, s:i}]}", "order_id",
	    "o-exp2-b", "lines", "sku", "exp2", "qty", 1),
	    ALLOT_ERR_OUT_OF_STOCK, NULL);
	int64_t wait = deadline + 20 - harness_wall_ms();
	if (wait > 0)
		harness_sleep_ms((int)wait);
	json_t *r2 = ju_reserve1("o-exp2-c", "exp2", 4, 60000);
	expect_status(r2, "held");
	expect_status(ju_by_id("reservation.get", r), "expired");
	expect_record(ju_record("exp2", "W1"), "exp2", "W1", 4, 4, 0, 0);
	fx_finish();
}
