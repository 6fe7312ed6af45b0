/*
 * test_methods.c - every method of allotd, over the wire, against the
 * behaviour written down in proto/PROTOCOL.md: each success path and each
 * error path the document lists. Each test starts its own server
 * (harness.h), talks to it with the client library's JSON helpers, and
 * checks the server exits 0 on SIGTERM afterwards.
 */
#include <criterion/criterion.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "allot/client.h"
#include "allot/protocol.h"
#include "harness.h"

#define TEST_TIMEOUT_MS 10000

static harness_server *srv;
static allot_client *cli;

/*
 * Every JSON value a helper hands out is kept here and freed when the test
 * ends, so tests can chain lookups without bookkeeping.
 */
static json_t **kept;
static size_t kept_len, kept_cap;

static json_t *keep(json_t *v)
{
	if (v == NULL)
		return NULL;
	if (kept_len == kept_cap) {
		size_t cap = kept_cap ? kept_cap * 2 : 64;
		json_t **n = realloc(kept, cap * sizeof(*n));
		cr_assert_not_null(n, "out of memory");
		kept = n;
		kept_cap = cap;
	}
	kept[kept_len++] = v;
	return v;
}

static void free_kept(void)
{
	for (size_t i = 0; i < kept_len; i++)
		json_decref(kept[i]);
	free(kept);
	kept = NULL;
	kept_len = kept_cap = 0;
}

static void methods_setup(void)
{
	char err[512];
	srv = harness_server_start(NULL, err, sizeof(err));
	cr_assert_not_null(srv, "cannot start allotd: %s", err);
	cli = harness_client(srv, TEST_TIMEOUT_MS, err, sizeof(err));
	cr_assert_not_null(cli, "cannot connect: %s", err);
}

/*
 * Criterion does not count a failed assertion in .fini, so each test ends
 * with finish(), which checks the exit status; the teardown only cleans up
 * after a test that failed earlier.
 */
static void finish(void)
{
	allot_client_destroy(cli);
	cli = NULL;
	free_kept();
	int status = harness_server_stop(srv);
	srv = NULL;
	cr_assert_eq(status, 0, "allotd exited with status %d", status);
}

static void methods_teardown(void)
{
	allot_client_destroy(cli);
	cli = NULL;
	free_kept();
	harness_server_stop(srv);
	srv = NULL;
}

TestSuite(methods, .init = methods_setup, .fini = methods_teardown,
    .timeout = 120);

/* ---- helpers ---- */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0)
		;
}

/*
 * The compact JSON text of v ("" for NULL), kept until the test ends so that
 * failure messages can use it without leaking when an assertion aborts.
 */
static const char *text_of(json_t *v)
{
	if (v == NULL)
		return "";
	char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	cr_assert_not_null(t, "out of memory");
	json_t *s = keep(json_string(t));
	free(t);
	cr_assert_not_null(s, "out of memory");
	return json_string_value(s);
}

/* params is stolen (may be NULL: no arguments). */
static void call_on(allot_client *c, const char *method, json_t *params,
    json_t **error, json_t **result)
{
	char err[512];
	const char *text = text_of(params);
	*error = *result = NULL;
	int rc = allot_client_call_params(c, method, params, error, result, err,
	    sizeof(err));
	json_decref(params);
	cr_assert_eq(rc, 0, "%s %s: call failed: %s", method, text, err);
	keep(*error);
	keep(*result);
}

/* The result of a call that must succeed. */
static json_t *ok_on(allot_client *c, const char *method, json_t *params)
{
	const char *text = text_of(params);
	json_t *error, *result;
	call_on(c, method, params, &error, &result);
	if (error != NULL)
		cr_assert_fail("%s %s answered the error %s", method, text,
		    text_of(error));
	return result;
}

static json_t *ok(const char *method, json_t *params)
{
	return ok_on(cli, method, params);
}

/*
 * The error of a call that must fail with code; when field is not NULL the
 * message must name it.
 */
static json_t *fail_with(const char *method, json_t *params, const char *code,
    const char *field)
{
	const char *text = text_of(params);
	json_t *error, *result;
	call_on(cli, method, params, &error, &result);
	if (error == NULL)
		cr_assert_fail("%s %s succeeded (%s), expected %s", method, text,
		    text_of(result), code);
	cr_assert(json_is_object(error), "%s: error is not a map", method);
	const char *got = json_string_value(json_object_get(error, "code"));
	cr_assert_not_null(got, "%s %s: error without a string code", method,
	    text);
	cr_assert_str_eq(got, code, "%s %s: code %s, expected %s (%s)", method,
	    text, got, code, text_of(error));
	const char *msg = json_string_value(json_object_get(error, "message"));
	cr_assert(msg != NULL && msg[0] != '\0', "%s: error without a message",
	    method);
	if (field != NULL)
		cr_assert(strstr(msg, field) != NULL, "%s %s: message \"%s\" does "
		    "not name %s", method, text, msg, field);
	cr_assert(json_is_null(result), "%s: error with a result", method);
	return error;
}

static json_t *get(json_t *o, const char *key)
{
	cr_assert(json_is_object(o), "looking up \"%s\" in a non-object", key);
	json_t *v = json_object_get(o, key);
	if (v == NULL)
		cr_assert_fail("no \"%s\" in %s", key, text_of(o));
	return v;
}

static json_int_t geti(json_t *o, const char *key)
{
	json_t *v = get(o, key);
	cr_assert(json_is_integer(v), "\"%s\" is not an integer", key);
	return json_integer_value(v);
}

static const char *gets(json_t *o, const char *key)
{
	json_t *v = get(o, key);
	cr_assert(json_is_string(v), "\"%s\" is not a string", key);
	return json_string_value(v);
}

static json_t *at(json_t *a, size_t i)
{
	cr_assert(json_is_array(a), "indexing a non-array");
	cr_assert_lt(i, json_array_size(a), "index %zu of an array of %zu", i,
	    json_array_size(a));
	return json_array_get(a, i);
}

/* The one record of sku at location, read with stock.get. */
static json_t *record(const char *sku, const char *loc)
{
	json_t *recs = ok("stock.get", json_pack("{s:s, s:s}", "sku", sku,
	    "location", loc));
	cr_assert(json_is_array(recs) && json_array_size(recs) == 1,
	    "stock.get %s@%s did not answer one record", sku, loc);
	return at(recs, 0);
}

static json_t *set_stock(const char *sku, const char *loc, int on_hand)
{
	return ok("stock.set", json_pack("{s:s, s:s, s:i}", "sku", sku,
	    "location", loc, "on_hand", on_hand));
}

/* Check every field of a record reply. */
static void expect_record(json_t *r, const char *sku, const char *loc,
    json_int_t on_hand, json_int_t reserved, json_int_t committed,
    json_int_t safety)
{
	cr_assert_str_eq(gets(r, "sku"), sku);
	cr_assert_str_eq(gets(r, "location"), loc);
	cr_assert_eq(geti(r, "on_hand"), on_hand, "%s@%s on_hand %lld, "
	    "expected %lld", sku, loc, (long long)geti(r, "on_hand"),
	    (long long)on_hand);
	cr_assert_eq(geti(r, "reserved"), reserved, "%s@%s reserved %lld, "
	    "expected %lld", sku, loc, (long long)geti(r, "reserved"),
	    (long long)reserved);
	cr_assert_eq(geti(r, "committed"), committed, "%s@%s committed %lld, "
	    "expected %lld", sku, loc, (long long)geti(r, "committed"),
	    (long long)committed);
	cr_assert_eq(geti(r, "safety"), safety);
	json_int_t avail = on_hand - reserved - committed - safety;
	json_int_t oversold = reserved + committed - on_hand;
	cr_assert_eq(geti(r, "available"), avail > 0 ? avail : 0,
	    "%s@%s available %lld", sku, loc, (long long)geti(r, "available"));
	cr_assert_eq(geti(r, "oversold"), oversold > 0 ? oversold : 0,
	    "%s@%s oversold %lld", sku, loc, (long long)geti(r, "oversold"));
	cr_assert_geq(geti(r, "version"), 1);
}

/* reserve {order_id, lines: [{sku, qty}], ttl_ms} for one line. */
static json_t *reserve1(const char *order, const char *sku, int qty,
    int ttl_ms)
{
	return ok("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i}",
	    "order_id", order, "lines", "sku", sku, "qty", qty,
	    "ttl_ms", ttl_ms));
}

static json_t *by_id(const char *method, json_t *reservation)
{
	return ok(method, json_pack("{s:s}", "reservation_id",
	    gets(reservation, "reservation_id")));
}

static json_t *fail_by_id(const char *method, json_t *reservation,
    const char *code)
{
	return fail_with(method, json_pack("{s:s}", "reservation_id",
	    gets(reservation, "reservation_id")), code, NULL);
}

/* Check reservation line i: sku, qty, and its allocations (loc, qty)... */
static void expect_line(json_t *res, size_t i, const char *sku,
    json_int_t qty, size_t nalloc, const char *const *locs,
    const json_int_t *qtys)
{
	json_t *line = at(get(res, "lines"), i);
	cr_assert_str_eq(gets(line, "sku"), sku);
	cr_assert_eq(geti(line, "qty"), qty);
	json_t *allocs = get(line, "allocations");
	cr_assert(json_is_array(allocs));
	cr_assert_eq(json_array_size(allocs), nalloc, "line %s has %zu "
	    "allocations, expected %zu", sku, json_array_size(allocs), nalloc);
	for (size_t k = 0; k < nalloc; k++) {
		json_t *a = at(allocs, k);
		cr_assert_str_eq(gets(a, "location"), locs[k],
		    "line %s allocation %zu at %s, expected %s", sku, k,
		    gets(a, "location"), locs[k]);
		cr_assert_eq(geti(a, "qty"), qtys[k], "line %s allocation %zu "
		    "(%s) holds %lld, expected %lld", sku, k, locs[k],
		    (long long)geti(a, "qty"), (long long)qtys[k]);
	}
}

static void expect_status(json_t *res, const char *status)
{
	cr_assert_str_eq(gets(res, "status"), status);
}

static bool is_reservation_id(const char *id)
{
	if (strlen(id) != 18 || strncmp(id, "r-", 2) != 0)
		return false;
	for (int i = 2; i < 18; i++)
		if (!((id[i] >= '0' && id[i] <= '9') ||
		    (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return true;
}

/* Replace the suite's server with one started with extra_args. */
static void restart_with(const char *const *extra_args)
{
	char err[512];
	allot_client_destroy(cli);
	cli = NULL;
	int status = harness_server_stop(srv);
	srv = NULL;
	cr_assert_eq(status, 0, "allotd exited with status %d", status);
	srv = harness_server_start(extra_args, err, sizeof(err));
	cr_assert_not_null(srv, "cannot start allotd: %s", err);
	cli = harness_client(srv, TEST_TIMEOUT_MS, err, sizeof(err));
	cr_assert_not_null(cli, "cannot connect: %s", err);
}

/* ---- ping, unknown methods ---- */

Test(methods, ping_answers_pong)
{
	json_t *r = ok("ping", NULL);
	cr_assert(json_is_string(r));
	cr_assert_str_eq(json_string_value(r), "pong");
	finish();
}

Test(methods, methods_of_later_versions_and_unknown_ones_are_unknown_method)
{
	static const char *const later[] = { "auth", "subscribe", "stock.delete", "" };
	for (size_t i = 0; i < sizeof(later) / sizeof(later[0]); i++)
		fail_with(later[i], json_pack("{s:s}", "location", "W1"),
		    ALLOT_ERR_UNKNOWN_METHOD, NULL);
	/* The connection is still usable, and nothing was created. */
	cr_assert_str_eq(json_string_value(ok("ping", NULL)), "pong");
	json_t *st = ok("stats", NULL);
	cr_assert_eq(geti(st, "locations"), 0);
	finish();
}

Test(methods, snapshot_without_redis_is_unavailable)
{
	json_t *e = fail_with("snapshot", json_object(), ALLOT_ERR_UNAVAILABLE, NULL);
	const char *msg = json_string_value(json_object_get(e, "message"));
	cr_assert(msg && strstr(msg, "--redis"), "the message names --redis: %s", msg ? msg : "(none)");
	cr_assert_str_eq(json_string_value(ok("ping", NULL)), "pong");
	finish();
}

/* ---- stock.set ---- */

Test(methods, stock_set_creates_a_record_and_reports_every_field)
{
	json_t *r = set_stock("set-a", "W1", 10);
	expect_record(r, "set-a", "W1", 10, 0, 0, 0);
	cr_assert_eq(geti(r, "version"), 1);

	r = ok("stock.set", json_pack("{s:s, s:s, s:i, s:i}", "sku", "set-a",
	    "location", "W1", "on_hand", 12, "safety", 3));
	expect_record(r, "set-a", "W1", 12, 0, 0, 3);
	cr_assert_eq(geti(r, "version"), 2);

	/* safety is kept when not given */
	r = set_stock("set-a", "W1", 20);
	expect_record(r, "set-a", "W1", 20, 0, 0, 3);
	cr_assert_eq(geti(r, "version"), 3);

	/* safety above on_hand: available is 0, not negative */
	r = ok("stock.set", json_pack("{s:s, s:s, s:i, s:i}", "sku", "set-a",
	    "location", "W1", "on_hand", 2, "safety", 5));
	expect_record(r, "set-a", "W1", 2, 0, 0, 5);

	json_t *g = record("set-a", "W1");
	cr_assert(json_equal(g, r), "stock.get differs from stock.set's reply");

	json_t *st = ok("stats", NULL);
	cr_assert_eq(geti(st, "skus"), 1);
	cr_assert_eq(geti(st, "locations"), 1);
	cr_assert_eq(geti(st, "records"), 1);
	finish();
}

Test(methods, stock_set_rejects_bad_params_naming_the_field)
{
	fail_with("stock.set", json_pack("{s:s, s:i}", "location", "W1",
	    "on_hand", 1), ALLOT_ERR_BAD_REQUEST, "sku");
	fail_with("stock.set", json_pack("{s:s, s:i}", "sku", "bad-a",
	    "on_hand", 1), ALLOT_ERR_BAD_REQUEST, "location");
	fail_with("stock.set", json_pack("{s:s, s:s}", "sku", "bad-a",
	    "location", "W1"), ALLOT_ERR_BAD_REQUEST, "on_hand");
	fail_with("stock.set", json_pack("{s:s, s:s, s:i}", "sku", "bad-a",
	    "location", "W1", "on_hand", -1), ALLOT_ERR_BAD_REQUEST, "on_hand");
	fail_with("stock.set", json_pack("{s:s, s:s, s:I}", "sku", "bad-a",
	    "location", "W1", "on_hand", (json_int_t)ALLOT_QTY_MAX + 1),
	    ALLOT_ERR_BAD_REQUEST, "on_hand");
	fail_with("stock.set", json_pack("{s:s, s:s, s:s}", "sku", "bad-a",
	    "location", "W1", "on_hand", "5"), ALLOT_ERR_BAD_REQUEST, "on_hand");
	fail_with("stock.set", json_pack("{s:s, s:s, s:i}", "sku", "",
	    "location", "W1", "on_hand", 1), ALLOT_ERR_BAD_REQUEST, "sku");
	char long_sku[66];
	memset(long_sku, 'x', 65);
	long_sku[65] = '\0';
	fail_with("stock.set", json_pack("{s:s, s:s, s:i}", "sku", long_sku,
	    "location", "W1", "on_hand", 1), ALLOT_ERR_BAD_REQUEST, "sku");
	fail_with("stock.set", json_pack("{s:s, s:s, s:i}", "sku", "a\tb",
	    "location", "W1", "on_hand", 1), ALLOT_ERR_BAD_REQUEST, "sku");
	fail_with("stock.set", json_pack("{s:s, s:s, s:i, s:i}", "sku", "bad-a",
	    "location", "W1", "on_hand", 1, "safety", -5),
	    ALLOT_ERR_BAD_REQUEST, "safety");
	fail_with("stock.set", json_pack("{s:s, s:s, s:i, s:I}", "sku", "bad-a",
	    "location", "W1", "on_hand", 1, "safety",
	    (json_int_t)ALLOT_QTY_MAX + 1), ALLOT_ERR_BAD_REQUEST, "safety");
	fail_with("stock.set", json_pack("{s:s, s:s, s:i, s:i}", "sku", "bad-a",
	    "location", "W1", "on_hand", 1, "if_version", -5),
	    ALLOT_ERR_BAD_REQUEST, "if_version");
	/* (-1, which the engine mistakes for "not given", has tests of its
	 * own below.) */

	/* 64 bytes is fine */
	long_sku[64] = '\0';
	expect_record(set_stock(long_sku, "W1", 1), long_sku, "W1", 1, 0, 0, 0);

	/* A failed request changes nothing. */
	fail_with("stock.get", json_pack("{s:s}", "sku", "bad-a"),
	    ALLOT_ERR_NOT_FOUND, NULL);
	finish();
}

/*
 * Quantities are 0 to 2^31-1 and a value out of range is BAD_REQUEST; only
 * nil counts as not given. -1 is a negative number like any other.
 */
Test(methods, stock_set_safety_minus_one_is_bad_request_not_absent)
{
	/* on a new record: refused, and nothing is created */
	fail_with("stock.set", json_pack("{s:s, s:s, s:i, s:i}", "sku", "neg-s",
	    "location", "W1", "on_hand", 5, "safety", -1),
	    ALLOT_ERR_BAD_REQUEST, "safety");
	fail_with("stock.get", json_pack("{s:s}", "sku", "neg-s"),
	    ALLOT_ERR_NOT_FOUND, NULL);

	/* on an existing record: refused, and the record is unchanged */
	ok("stock.set", json_pack("{s:s, s:s, s:i, s:i}", "sku", "neg-s2",
	    "location", "W1", "on_hand", 5, "safety", 2));
	fail_with("stock.set", json_pack("{s:s, s:s, s:i, s:i}", "sku", "neg-s2",
	    "location", "W1", "on_hand", 9, "safety", -1),
	    ALLOT_ERR_BAD_REQUEST, "safety");
	json_t *r = record("neg-s2", "W1");
	expect_record(r, "neg-s2", "W1", 5, 0, 0, 2);
	cr_assert_eq(geti(r, "version"), 1);
	finish();
}

Test(methods, stock_set_if_version_minus_one_is_bad_request_not_unconditional)
{
	set_stock("neg-v", "W1", 5);
	fail_with("stock.set", json_pack("{s:s, s:s, s:i, s:i}", "sku", "neg-v",
	    "location", "W1", "on_hand", 7, "if_version", -1),
	    ALLOT_ERR_BAD_REQUEST, "if_version");
	json_t *r = record("neg-v", "W1");
	expect_record(r, "neg-v", "W1", 5, 0, 0, 0);
	cr_assert_eq(geti(r, "version"), 1);
	finish();
}

Test(methods, reserve_ttl_ms_minus_one_is_bad_request_not_the_default)
{
	set_stock("neg-t", "W1", 5);
	fail_with("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i}", "order_id",
	    "o-neg-t", "lines", "sku", "neg-t", "qty", 1, "ttl_ms", -1),
	    ALLOT_ERR_BAD_REQUEST, "ttl_ms");
	expect_record(record("neg-t", "W1"), "neg-t", "W1", 5, 0, 0, 0);
	json_t *st = ok("stats", NULL);
	cr_assert_eq(geti(get(st, "reservations"), "held"), 0);
	finish();
}

Test(methods, stock_set_if_version_applies_only_at_that_version)
{
	/* 0: only if the record does not exist yet */
	json_t *r = ok("stock.set", json_pack("{s:s, s:s, s:i, s:i}", "sku",
	    "ifv", "location", "W1", "on_hand", 10, "if_version", 0));
	cr_assert_eq(geti(r, "version"), 1);

	json_t *e = fail_with("stock.set", json_pack("{s:s, s:s, s:i, s:i}",
	    "sku", "ifv", "location", "W1", "on_hand", 11, "if_version", 0),
	    ALLOT_ERR_CONFLICT, NULL);
	cr_assert_eq(geti(e, "version"), 1);

	r = ok("stock.set", json_pack("{s:s, s:s, s:i, s:i}", "sku", "ifv",
	    "location", "W1", "on_hand", 12, "if_version", 1));
	cr_assert_eq(geti(r, "version"), 2);
	cr_assert_eq(geti(r, "on_hand"), 12);

	e = fail_with("stock.set", json_pack("{s:s, s:s, s:i, s:i}", "sku",
	    "ifv", "location", "W1", "on_hand", 99, "if_version", 1),
	    ALLOT_ERR_CONFLICT, NULL);
	cr_assert_eq(geti(e, "version"), 2);
	e = fail_with("stock.set", json_pack("{s:s, s:s, s:i, s:i}", "sku",
	    "ifv", "location", "W1", "on_hand", 99, "if_version", 7),
	    ALLOT_ERR_CONFLICT, NULL);
	cr_assert_eq(geti(e, "version"), 2);

	/* The refused writes changed nothing. */
	r = record("ifv", "W1");
	expect_record(r, "ifv", "W1", 12, 0, 0, 0);
	cr_assert_eq(geti(r, "version"), 2);

	/* A hold bumps the version, so a stale if_version conflicts. */
	reserve1("o-ifv", "ifv", 1, 60000);
	e = fail_with("stock.set", json_pack("{s:s, s:s, s:i, s:i}", "sku",
	    "ifv", "location", "W1", "on_hand", 50, "if_version", 2),
	    ALLOT_ERR_CONFLICT, NULL);
	cr_assert_eq(geti(e, "version"), 3);
	r = ok("stock.set", json_pack("{s:s, s:s, s:i, s:i}", "sku", "ifv",
	    "location", "W1", "on_hand", 50, "if_version", 3));
	cr_assert_eq(geti(r, "version"), 4);
	expect_record(r, "ifv", "W1", 50, 1, 0, 0);

	/* A nonzero if_version on a record that does not exist: CONFLICT,
	 * with no version (there is none), and nothing is created. */
	e = fail_with("stock.set", json_pack("{s:s, s:s, s:i, s:i}", "sku",
	    "ifv-new", "location", "W1", "on_hand", 5, "if_version", 1),
	    ALLOT_ERR_CONFLICT, NULL);
	json_t *v = json_object_get(e, "version");
	cr_assert(v == NULL || json_is_null(v),
	    "CONFLICT on a missing record carries a version");
	fail_with("stock.get", json_pack("{s:s}", "sku", "ifv-new"),
	    ALLOT_ERR_NOT_FOUND, NULL);
	finish();
}

Test(methods, stock_set_below_promised_units_reports_oversold)
{
	set_stock("over", "W1", 10);
	json_t *a = reserve1("o-over-1", "over", 6, 60000);
	by_id("commit", a);
	reserve1("o-over-2", "over", 3, 60000);
	expect_record(record("over", "W1"), "over", "W1", 10, 3, 6, 0);

	/* reality wins: the count applies even below reserved + committed */
	json_t *r = set_stock("over", "W1", 5);
	expect_record(r, "over", "W1", 5, 3, 6, 0);
	cr_assert_eq(geti(r, "oversold"), 4);
	cr_assert_eq(geti(r, "available"), 0);

	/* nothing can be reserved while oversold */
	json_t *e = fail_with("reserve", json_pack("{s:s, s:[{s:s, s:i}]}",
	    "order_id", "o-over-3", "lines", "sku", "over", "qty", 1),
	    ALLOT_ERR_OUT_OF_STOCK, NULL);
	cr_assert_eq(geti(at(get(e, "lines"), 0), "available"), 0);
	json_t *av = ok("avail", json_pack("{s:[s]}", "skus", "over"));
	cr_assert_eq(geti(get(av, "over"), "total"), 0);

	/* stock comes back */
	r = set_stock("over", "W1", 20);
	expect_record(r, "over", "W1", 20, 3, 6, 0);
	cr_assert_eq(geti(r, "oversold"), 0);
	cr_assert_eq(geti(r, "available"), 11);
	finish();
}

/* ---- stock.adjust ---- */

Test(methods, stock_adjust_adds_delta_and_refuses_below_zero)
{
	/* creates the record with a non-negative delta */
	json_t *r = ok("stock.adjust", json_pack("{s:s, s:s, s:i}", "sku",
	    "adj", "location", "W1", "delta", 5));
	expect_record(r, "adj", "W1", 5, 0, 0, 0);
	cr_assert_eq(geti(r, "version"), 1);

	r = ok("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}", "sku", "adj",
	    "location", "W1", "delta", -3, "reason", "damaged"));
	expect_record(r, "adj", "W1", 2, 0, 0, 0);
	cr_assert_eq(geti(r, "version"), 2);

	r = ok("stock.adjust", json_pack("{s:s, s:s, s:i}", "sku", "adj",
	    "location", "W1", "delta", 0));
	cr_assert_eq(geti(r, "on_hand"), 2);

	fail_with("stock.adjust", json_pack("{s:s, s:s, s:i}", "sku", "adj",
	    "location", "W1", "delta", -3), ALLOT_ERR_BAD_REQUEST, "delta");
	fail_with("stock.adjust", json_pack("{s:s, s:s, s:I}", "sku", "adj",
	    "location", "W1", "delta", (json_int_t)ALLOT_QTY_MAX),
	    ALLOT_ERR_BAD_REQUEST, "delta");
	fail_with("stock.adjust", json_pack("{s:s, s:s}", "sku", "adj",
	    "location", "W1"), ALLOT_ERR_BAD_REQUEST, "delta");
	fail_with("stock.adjust", json_pack("{s:s, s:s, s:s}", "sku", "adj",
	    "location", "W1", "delta", "1"), ALLOT_ERR_BAD_REQUEST, "delta");

	/* the refusals changed nothing */
	r = record("adj", "W1");
	expect_record(r, "adj", "W1", 2, 0, 0, 0);

	/* on_hand may reach exactly 0 and exactly 2^31-1 */
	r = ok("stock.adjust", json_pack("{s:s, s:s, s:i}", "sku", "adj",
	    "location", "W1", "delta", -2));
	cr_assert_eq(geti(r, "on_hand"), 0);
	r = ok("stock.adjust", json_pack("{s:s, s:s, s:I}", "sku", "adj",
	    "location", "W1", "delta", (json_int_t)ALLOT_QTY_MAX));
	cr_assert_eq(geti(r, "on_hand"), ALLOT_QTY_MAX);

	/* a negative delta does not create a record */
	fail_with("stock.adjust", json_pack("{s:s, s:s, s:i}", "sku", "adj-new",
	    "location", "W1", "delta", -1), ALLOT_ERR_BAD_REQUEST, "delta");
	fail_with("stock.get", json_pack("{s:s}", "sku", "adj-new"),
	    ALLOT_ERR_NOT_FOUND, NULL);
	finish();
}

Test(methods, stock_adjust_replay_returns_the_first_reply_and_changes_nothing)
{
	set_stock("adj-idem", "W1", 10);
	json_t *first = ok("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}",
	    "sku", "adj-idem", "location", "W1", "delta", 5,
	    "idempotency_key", "k-adj-1"));
	expect_record(first, "adj-idem", "W1", 15, 0, 0, 0);

	/* later changes */
	set_stock("adj-idem", "W1", 100);
	reserve1("o-adj-idem", "adj-idem", 7, 60000);

	json_t *again = ok("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}",
	    "sku", "adj-idem", "location", "W1", "delta", 5,
	    "idempotency_key", "k-adj-1"));
	cr_assert(json_equal(again, first), "the replay is not the first reply");
	expect_record(record("adj-idem", "W1"), "adj-idem", "W1", 100, 7, 0, 0);

	/* same key, other params */
	fail_with("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}", "sku",
	    "adj-idem", "location", "W1", "delta", 6, "idempotency_key",
	    "k-adj-1"), ALLOT_ERR_CONFLICT, NULL);
	fail_with("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}", "sku",
	    "adj-idem", "location", "W2", "delta", 5, "idempotency_key",
	    "k-adj-1"), ALLOT_ERR_CONFLICT, NULL);
	expect_record(record("adj-idem", "W1"), "adj-idem", "W1", 100, 7, 0, 0);
	fail_with("stock.get", json_pack("{s:s, s:s}", "sku", "adj-idem",
	    "location", "W2"), ALLOT_ERR_NOT_FOUND, NULL);

	/* a failed adjust changes nothing, its key included */
	fail_with("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}", "sku",
	    "adj-idem", "location", "W1", "delta", -1000, "idempotency_key",
	    "k-adj-3"), ALLOT_ERR_BAD_REQUEST, "delta");
	json_t *r3 = ok("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}", "sku",
	    "adj-idem", "location", "W1", "delta", 1, "idempotency_key",
	    "k-adj-3"));
	cr_assert_eq(geti(r3, "on_hand"), 101);
	set_stock("adj-idem", "W1", 100);

	/* another key applies again */
	json_t *r = ok("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}", "sku",
	    "adj-idem", "location", "W1", "delta", 5, "idempotency_key",
	    "k-adj-2"));
	cr_assert_eq(geti(r, "on_hand"), 105);
	finish();
}

/* ---- restock ---- */

Test(methods, restock_adds_returned_units)
{
	set_stock("rs", "W1", 4);
	json_t *r = ok("restock", json_pack("{s:s, s:s, s:i, s:s}", "sku", "rs",
	    "location", "W1", "qty", 3, "reason", "customer return"));
	expect_record(r, "rs", "W1", 7, 0, 0, 0);
	cr_assert_eq(geti(r, "version"), 2);

	fail_with("restock", json_pack("{s:s, s:s, s:i}", "sku", "rs",
	    "location", "W1", "qty", 0), ALLOT_ERR_BAD_REQUEST, "qty");
	fail_with("restock", json_pack("{s:s, s:s, s:i}", "sku", "rs",
	    "location", "W1", "qty", -2), ALLOT_ERR_BAD_REQUEST, "qty");
	fail_with("restock", json_pack("{s:s, s:s}", "sku", "rs",
	    "location", "W1"), ALLOT_ERR_BAD_REQUEST, "qty");
	expect_record(record("rs", "W1"), "rs", "W1", 7, 0, 0, 0);
	finish();
}

/* ---- stock.get ---- */

Test(methods, stock_get_lists_records_in_rank_order_or_one_location)
{
	/* created out of order: rank is by name */
	set_stock("get-a", "W3", 3);
	set_stock("get-a", "W1", 1);
	set_stock("get-a", "W2", 2);
	set_stock("get-b", "W9", 9);

	json_t *all = ok("stock.get", json_pack("{s:s}", "sku", "get-a"));
	cr_assert(json_is_array(all));
	cr_assert_eq(json_array_size(all), 3);
	expect_record(at(all, 0), "get-a", "W1", 1, 0, 0, 0);
	expect_record(at(all, 1), "get-a", "W2", 2, 0, 0, 0);
	expect_record(at(all, 2), "get-a", "W3", 3, 0, 0, 0);

	json_t *one = ok("stock.get", json_pack("{s:s, s:s}", "sku", "get-a",
	    "location", "W2"));
	cr_assert_eq(json_array_size(one), 1);
	expect_record(at(one, 0), "get-a", "W2", 2, 0, 0, 0);

	fail_with("stock.get", json_pack("{s:s}", "sku", "get-nope"),
	    ALLOT_ERR_NOT_FOUND, NULL);
	/* W9 exists as a location, but get-a has no record there */
	fail_with("stock.get", json_pack("{s:s, s:s}", "sku", "get-a",
	    "location", "W9"), ALLOT_ERR_NOT_FOUND, NULL);
	fail_with("stock.get", json_pack("{s:s, s:s}", "sku", "get-a",
	    "location", "W-unknown"), ALLOT_ERR_NOT_FOUND, NULL);
	fail_with("stock.get", json_pack("{}"), ALLOT_ERR_BAD_REQUEST, "sku");
	fail_with("stock.get", NULL, ALLOT_ERR_BAD_REQUEST, "sku");
	finish();
}

/* ---- avail ---- */

Test(methods, avail_reports_totals_per_location_and_unknown_skus)
{
	set_stock("av-a", "W2", 5);
	set_stock("av-a", "W1", 10);
	ok("stock.set", json_pack("{s:s, s:s, s:i, s:i}", "sku", "av-a",
	    "location", "W3", "on_hand", 4, "safety", 4));
	reserve1("o-av", "av-a", 3, 60000); /* from W1: 10 covers 3 */
	set_stock("av-b", "W1", 7);

	json_t *av = ok("avail", json_pack("{s:[s, s, s, s]}", "skus", "av-a",
	    "av-b", "av-a", "av-none"));
	cr_assert(json_is_object(av));
	cr_assert_eq(json_object_size(av), 3, "a repeated sku is not answered "
	    "once: %zu entries", json_object_size(av));

	json_t *a = get(av, "av-a");
	cr_assert_eq(geti(a, "total"), 12);
	json_t *locs = get(a, "locations");
	cr_assert_eq(json_object_size(locs), 3);
	cr_assert_eq(geti(locs, "W1"), 7);
	cr_assert_eq(geti(locs, "W2"), 5);
	cr_assert_eq(geti(locs, "W3"), 0, "a location at 0 is listed");
	cr_assert(json_is_array(get(a, "incoming")));
	cr_assert_eq(json_array_size(get(a, "incoming")), 0);

	json_t *b = get(av, "av-b");
	cr_assert_eq(geti(b, "total"), 7);
	cr_assert_eq(json_object_size(get(b, "locations")), 1);
	cr_assert_eq(geti(get(b, "locations"), "W1"), 7);

	json_t *none = get(av, "av-none");
	cr_assert_eq(geti(none, "total"), 0);
	cr_assert(json_is_object(get(none, "locations")));
	cr_assert_eq(json_object_size(get(none, "locations")), 0);
	cr_assert_eq(json_array_size(get(none, "incoming")), 0);

	/* location: only that location */
	av = ok("avail", json_pack("{s:[s, s], s:s}", "skus", "av-a", "av-b",
	    "location", "W2"));
	a = get(av, "av-a");
	cr_assert_eq(json_object_size(get(a, "locations")), 1);
	cr_assert_eq(geti(get(a, "locations"), "W2"), 5);
	cr_assert_eq(geti(a, "total"), 5);
	b = get(av, "av-b");
	cr_assert_eq(geti(b, "total"), 0);
	json_t *bl = get(b, "locations");
	cr_assert(json_object_size(bl) == 0 ||
	    (json_object_size(bl) == 1 && geti(bl, "W2") == 0),
	    "av-b has no record at W2 but avail lists other locations");

	/* a channel must have been made; made without a list, it sees every
	 * location, and a buffer is withheld per location */
	fail_with("avail", json_pack("{s:[s], s:s}", "skus", "av-a", "channel", "web"),
	    ALLOT_ERR_NOT_FOUND, "web");
	ok("channel.put", json_pack("{s:s}", "channel", "web"));
	av = ok("avail", json_pack("{s:[s], s:s}", "skus", "av-a",
	    "channel", "web"));
	cr_assert_eq(geti(get(av, "av-a"), "total"), 12);
	ok("channel.put", json_pack("{s:s, s:i}", "channel", "web", "buffer", 2));
	av = ok("avail", json_pack("{s:[s], s:s}", "skus", "av-a",
	    "channel", "web"));
	cr_assert_eq(geti(get(av, "av-a"), "total"), 8);

	/* an empty list answers an empty map */
	av = ok("avail", json_pack("{s:[]}", "skus"));
	cr_assert(json_is_object(av) && json_object_size(av) == 0);

	fail_with("avail", json_pack("{}"), ALLOT_ERR_BAD_REQUEST, "skus");
	fail_with("avail", json_pack("{s:s}", "skus", "av-a"),
	    ALLOT_ERR_BAD_REQUEST, "skus");
	fail_with("avail", json_pack("{s:[i]}", "skus", 5),
	    ALLOT_ERR_BAD_REQUEST, "skus[0]");
	finish();
}

Test(methods, avail_of_more_than_1000_skus_is_too_large_and_connection_stays)
{
	set_stock("big-0", "W1", 1);
	json_t *skus = json_array();
	for (int i = 0; i < 1001; i++) {
		char name[32];
		snprintf(name, sizeof(name), "big-%d", i);
		json_array_append_new(skus, json_string(name));
	}
	json_t *skus1000 = json_deep_copy(skus);
	json_array_remove(skus1000, 1000);

	fail_with("avail", json_pack("{s:o}", "skus", skus),
	    ALLOT_ERR_TOO_LARGE, NULL);
	cr_assert_str_eq(json_string_value(ok("ping", NULL)), "pong");

	json_t *av = ok("avail", json_pack("{s:o}", "skus", skus1000));
	cr_assert_eq(json_object_size(av), 1000);
	cr_assert_eq(geti(get(av, "big-0"), "total"), 1);
	cr_assert_eq(geti(get(av, "big-999"), "total"), 0);

	finish();
}

/* ---- reserve: where units come from ---- */

Test(methods, reserve_prefers_one_location_that_covers_the_whole_order)
{
	set_stock("one-a", "W1", 3);
	set_stock("one-a", "W2", 10);
	set_stock("one-a", "W3", 10);

	json_t *r = reserve1("o-one-1", "one-a", 5, 60000);
	cr_assert(is_reservation_id(gets(r, "reservation_id")),
	    "bad reservation id %s", gets(r, "reservation_id"));
	cr_assert_str_eq(gets(r, "order_id"), "o-one-1");
	expect_status(r, "held");
	cr_assert_eq(json_array_size(get(r, "lines")), 1);
	static const char *const w2[] = { "W2" };
	static const json_int_t five[] = { 5 };
	expect_line(r, 0, "one-a", 5, 1, w2, five);
	cr_assert(json_object_get(at(get(r, "lines"), 0), "short") == NULL,
	    "short without allow_partial");

	expect_record(record("one-a", "W1"), "one-a", "W1", 3, 0, 0, 0);
	expect_record(record("one-a", "W2"), "one-a", "W2", 10, 5, 0, 0);
	expect_record(record("one-a", "W3"), "one-a", "W3", 10, 0, 0, 0);

	/* two lines: W1 has both but little of one; W2 covers the order */
	set_stock("one-b", "W1", 100);
	set_stock("one-c", "W1", 1);
	set_stock("one-b", "W2", 2);
	set_stock("one-c", "W2", 2);
	r = ok("reserve", json_pack("{s:s, s:[{s:s, s:i}, {s:s, s:i}]}",
	    "order_id", "o-one-2", "lines", "sku", "one-b", "qty", 2,
	    "sku", "one-c", "qty", 2));
	static const json_int_t two[] = { 2 };
	expect_line(r, 0, "one-b", 2, 1, w2, two);
	expect_line(r, 1, "one-c", 2, 1, w2, two);

	/* both W1 and W2 cover: the best-ranked, W1 */
	r = ok("reserve", json_pack("{s:s, s:[{s:s, s:i}]}", "order_id",
	    "o-one-3", "lines", "sku", "one-b", "qty", 50));
	static const char *const w1[] = { "W1" };
	static const json_int_t fifty[] = { 50 };
	expect_line(r, 0, "one-b", 50, 1, w1, fifty);

	/* default ttl: 15 minutes */
	int64_t t = now_ms();
	json_int_t exp = geti(r, "expires_at");
	cr_assert(exp >= t + ALLOT_DEFAULT_TTL_MS - 5000 &&
	    exp <= t + ALLOT_DEFAULT_TTL_MS + 5000,
	    "expires_at %lld is not about now + 15 min (%lld)", (long long)exp,
	    (long long)(t + ALLOT_DEFAULT_TTL_MS));
	finish();
}

Test(methods, reserve_splits_across_the_fewest_locations_then_in_rank_order_by_name)
{
	/* created out of name order */
	set_stock("split", "W-b", 4);
	set_stock("split", "W-c", 5);
	set_stock("split", "W-a", 3);

	/* 9 units: W-b and W-c hold them in two shipments, which beats three */
	json_t *r = reserve1("o-split", "split", 9, 60000);
	static const char *const bc9[] = { "W-b", "W-c" };
	static const json_int_t q[] = { 4, 5 };
	expect_line(r, 0, "split", 9, 2, bc9, q);

	expect_record(record("split", "W-a"), "split", "W-a", 3, 0, 0, 0);
	expect_record(record("split", "W-b"), "split", "W-b", 4, 4, 0, 0);
	expect_record(record("split", "W-c"), "split", "W-c", 5, 5, 0, 0);

	json_t *g = by_id("reservation.get", r);
	cr_assert(json_equal(g, r), "reservation.get differs from the reply");

	/* locations with nothing available are skipped */
	set_stock("split2", "W-a", 0);
	set_stock("split2", "W-b", 2);
	set_stock("split2", "W-c", 2);
	r = reserve1("o-split2", "split2", 3, 60000);
	static const char *const bc[] = { "W-b", "W-c" };
	static const json_int_t q2[] = { 2, 1 };
	expect_line(r, 0, "split2", 3, 2, bc, q2);

	/* no location covers the whole order: each line on its own, in
	 * rank order (A from W-a, B from W-b where alone it is) */
	set_stock("split-A", "W-a", 5);
	set_stock("split-A", "W-b", 1);
	set_stock("split-B", "W-b", 3);
	r = ok("reserve", json_pack("{s:s, s:[{s:s, s:i}, {s:s, s:i}]}",
	    "order_id", "o-split3", "lines", "sku", "split-A", "qty", 2,
	    "sku", "split-B", "qty", 3));
	static const char *const a[] = { "W-a" };
	static const char *const b[] = { "W-b" };
	static const json_int_t two[] = { 2 }, three[] = { 3 };
	expect_line(r, 0, "split-A", 2, 1, a, two);
	expect_line(r, 1, "split-B", 3, 1, b, three);
	finish();
}

Test(methods, reserve_out_of_stock_names_every_short_line_and_holds_nothing)
{
	set_stock("oos-x", "W1", 2);
	set_stock("oos-x", "W2", 1);
	set_stock("oos-y", "W1", 10);

	json_t *e = fail_with("reserve", json_pack(
	    "{s:s, s:[{s:s, s:i}, {s:s, s:i}, {s:s, s:i}]}", "order_id",
	    "o-oos", "lines", "sku", "oos-x", "qty", 5, "sku", "oos-y", "qty", 1,
	    "sku", "oos-unknown", "qty", 2), ALLOT_ERR_OUT_OF_STOCK, NULL);
	json_t *lines = get(e, "lines");
	cr_assert(json_is_array(lines));
	cr_assert_eq(json_array_size(lines), 2, "%zu short lines, expected 2",
	    json_array_size(lines));
	bool saw_x = false, saw_u = false;
	for (size_t i = 0; i < 2; i++) {
		json_t *l = at(lines, i);
		const char *sku = gets(l, "sku");
		if (strcmp(sku, "oos-x") == 0) {
			saw_x = true;
			cr_assert_eq(geti(l, "requested"), 5);
			cr_assert_eq(geti(l, "available"), 3);
		} else if (strcmp(sku, "oos-unknown") == 0) {
			saw_u = true;
			cr_assert_eq(geti(l, "requested"), 2);
			cr_assert_eq(geti(l, "available"), 0);
		} else {
			cr_assert_fail("unexpected short line %s", sku);
		}
	}
	cr_assert(saw_x && saw_u);

	/* nothing held */
	expect_record(record("oos-x", "W1"), "oos-x", "W1", 2, 0, 0, 0);
	expect_record(record("oos-x", "W2"), "oos-x", "W2", 1, 0, 0, 0);
	expect_record(record("oos-y", "W1"), "oos-y", "W1", 10, 0, 0, 0);
	cr_assert_eq(geti(record("oos-y", "W1"), "version"), 1);
	json_t *st = ok("stats", NULL);
	cr_assert_eq(geti(get(st, "reservations"), "held"), 0);
	cr_assert_eq(geti(st, "units_reserved"), 0);
	/* the unknown sku was not created */
	fail_with("stock.get", json_pack("{s:s}", "sku", "oos-unknown"),
	    ALLOT_ERR_NOT_FOUND, NULL);

	/* an unknown sku alone is simply unavailable */
	e = fail_with("reserve", json_pack("{s:s, s:[{s:s, s:i}]}", "order_id",
	    "o-oos-2", "lines", "sku", "oos-unknown", "qty", 1),
	    ALLOT_ERR_OUT_OF_STOCK, NULL);
	cr_assert_eq(json_array_size(get(e, "lines")), 1);
	cr_assert_str_eq(gets(at(get(e, "lines"), 0), "sku"), "oos-unknown");
	cr_assert_eq(geti(at(get(e, "lines"), 0), "requested"), 1);
	cr_assert_eq(geti(at(get(e, "lines"), 0), "available"), 0);
	finish();
}

Test(methods, reserve_allow_partial_holds_what_it_can_and_reports_short)
{
	set_stock("part-x", "W1", 2);
	set_stock("part-x", "W2", 1);
	set_stock("part-y", "W1", 10);

	json_t *r = ok("reserve", json_pack(
	    "{s:s, s:[{s:s, s:i}, {s:s, s:i}, {s:s, s:i}], s:b}", "order_id",
	    "o-part", "lines", "sku", "part-x", "qty", 5, "sku", "part-y",
	    "qty", 4, "sku", "part-unknown", "qty", 2, "allow_partial", 1));
	expect_status(r, "held");
	json_t *lines = get(r, "lines");
	cr_assert_eq(json_array_size(lines), 3);

	/* W1 holds both lines' stock, so W1 first for x, then W2 */
	json_t *x = at(lines, 0);
	cr_assert_str_eq(gets(x, "sku"), "part-x");
	cr_assert_eq(geti(x, "qty"), 5);
	cr_assert_eq(geti(x, "short"), 2);
	json_int_t held = 0;
	json_t *allocs = get(x, "allocations");
	for (size_t i = 0; i < json_array_size(allocs); i++)
		held += geti(at(allocs, i), "qty");
	cr_assert_eq(held, 3);

	json_t *y = at(lines, 1);
	cr_assert_str_eq(gets(y, "sku"), "part-y");
	cr_assert_eq(geti(y, "qty"), 4);
	cr_assert(json_object_get(y, "short") == NULL,
	    "short present on a fully held line");
	static const char *const w1[] = { "W1" };
	static const json_int_t four[] = { 4 };
	expect_line(r, 1, "part-y", 4, 1, w1, four);

	json_t *u = at(lines, 2);
	cr_assert_str_eq(gets(u, "sku"), "part-unknown");
	cr_assert_eq(geti(u, "short"), 2);
	cr_assert_eq(json_array_size(get(u, "allocations")), 0);

	expect_record(record("part-x", "W1"), "part-x", "W1", 2, 2, 0, 0);
	expect_record(record("part-x", "W2"), "part-x", "W2", 1, 1, 0, 0);
	expect_record(record("part-y", "W1"), "part-y", "W1", 10, 4, 0, 0);

	/* nothing at all can be held: still OUT_OF_STOCK */
	json_t *e = fail_with("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:b}",
	    "order_id", "o-part-2", "lines", "sku", "part-x", "qty", 1,
	    "allow_partial", 1), ALLOT_ERR_OUT_OF_STOCK, NULL);
	cr_assert_eq(json_array_size(get(e, "lines")), 1);
	cr_assert_eq(geti(at(get(e, "lines"), 0), "available"), 0);
	json_t *st = ok("stats", NULL);
	cr_assert_eq(geti(get(st, "reservations"), "held"), 1);
	finish();
}

/* ---- reserve: validation ---- */

Test(methods, reserve_rejects_bad_params_naming_the_field_and_holds_nothing)
{
	set_stock("val", "W1", 100);
	set_stock("val2", "W1", 100);

	fail_with("reserve", json_pack("{s:[{s:s, s:i}]}", "lines", "sku", "val",
	    "qty", 1), ALLOT_ERR_BAD_REQUEST, "order_id");
	fail_with("reserve", json_pack("{s:s, s:[{s:s, s:i}]}", "order_id", "",
	    "lines", "sku", "val", "qty", 1), ALLOT_ERR_BAD_REQUEST, "order_id");
	fail_with("reserve", json_pack("{s:i, s:[{s:s, s:i}]}", "order_id", 7,
	    "lines", "sku", "val", "qty", 1), ALLOT_ERR_BAD_REQUEST, "order_id");
	fail_with("reserve", json_pack("{s:s}", "order_id", "o-val"),
	    ALLOT_ERR_BAD_REQUEST, "lines");
	fail_with("reserve", json_pack("{s:s, s:[]}", "order_id", "o-val",
	    "lines"), ALLOT_ERR_BAD_REQUEST, "lines");
	fail_with("reserve", json_pack("{s:s, s:[{s:s, s:s}]}", "order_id",
	    "o-val", "lines", "sku", "val", "qty", "2"), ALLOT_ERR_BAD_REQUEST,
	    "lines[0].qty");
	fail_with("reserve", json_pack("{s:s, s:[{s:s, s:i}, {s:s, s:i}]}",
	    "order_id", "o-val", "lines", "sku", "val", "qty", 1, "sku", "val2",
	    "qty", 0), ALLOT_ERR_BAD_REQUEST, "lines[1].qty");
	fail_with("reserve", json_pack("{s:s, s:[{s:s, s:I}]}", "order_id",
	    "o-val", "lines", "sku", "val", "qty",
	    (json_int_t)ALLOT_QTY_MAX + 1), ALLOT_ERR_BAD_REQUEST,
	    "lines[0].qty");
	fail_with("reserve", json_pack("{s:s, s:[{s:i}]}", "order_id", "o-val",
	    "lines", "qty", 1), ALLOT_ERR_BAD_REQUEST, "lines[0].sku");
	fail_with("reserve", json_pack("{s:s, s:[{s:s, s:i}, {s:s, s:i}]}",
	    "order_id", "o-val", "lines", "sku", "val", "qty", 1, "sku", "val",
	    "qty", 2), ALLOT_ERR_BAD_REQUEST, NULL);
	fail_with("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i}", "order_id",
	    "o-val", "lines", "sku", "val", "qty", 1, "ttl_ms", 0),
	    ALLOT_ERR_BAD_REQUEST, "ttl_ms");
	fail_with("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:I}", "order_id",
	    "o-val", "lines", "sku", "val", "qty", 1, "ttl_ms",
	    (json_int_t)ALLOT_DEFAULT_TTL_MAX_MS + 1), ALLOT_ERR_BAD_REQUEST,
	    "ttl_ms");
	fail_with("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:{s:f, s:f}}",
	    "order_id", "o-val", "lines", "sku", "val", "qty", 1, "ship_to",
	    "lat", 91.0, "lon", 0.0), ALLOT_ERR_BAD_REQUEST, "lat");
	fail_with("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:s}", "order_id",
	    "o-val", "lines", "sku", "val", "qty", 1, "channel",
	    "a-channel-name-longer-than-32-bytes"), ALLOT_ERR_BAD_REQUEST,
	    "channel");

	/* routing options out of range */
	fail_with("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:s}", "order_id",
	    "o-val", "lines", "sku", "val", "qty", 1, "strategy", "fastest"),
	    ALLOT_ERR_BAD_REQUEST, "strategy");
	fail_with("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:s}", "order_id",
	    "o-val", "lines", "sku", "val", "qty", 1, "strategy", "nearest"),
	    ALLOT_ERR_BAD_REQUEST, "ship_to");
	fail_with("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:s}", "order_id",
	    "o-val", "lines", "sku", "val", "qty", 1, "split", "parcels"),
	    ALLOT_ERR_BAD_REQUEST, "split");
	fail_with("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i}", "order_id",
	    "o-val", "lines", "sku", "val", "qty", 1, "max_shipments", -1),
	    ALLOT_ERR_BAD_REQUEST, "max_shipments");
	fail_with("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:s}", "order_id",
	    "o-val", "lines", "sku", "val", "qty", 1, "explain", "yes"),
	    ALLOT_ERR_BAD_REQUEST, "explain");
	fail_with("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i}", "order_id",
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
	fail_with("reserve", json_pack("{s:s, s:o}", "order_id", "o-val",
	    "lines", lines), ALLOT_ERR_TOO_LARGE, NULL);
	/* the many-* skus do not exist: over the limit is not TOO_LARGE */
	json_t *e = fail_with("reserve", json_pack("{s:s, s:o}", "order_id",
	    "o-val", "lines", lines100), ALLOT_ERR_OUT_OF_STOCK, NULL);
	cr_assert_eq(json_array_size(get(e, "lines")), 100);

	/* none of that held anything */
	expect_record(record("val", "W1"), "val", "W1", 100, 0, 0, 0);
	cr_assert_eq(geti(record("val", "W1"), "version"), 1);
	json_t *st = ok("stats", NULL);
	cr_assert_eq(geti(get(st, "reservations"), "held"), 0);

	/* the options of this version are accepted */
	fail_with("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:s}", "order_id",
	    "o-val", "lines", "sku", "val", "qty", 1, "channel", "web"),
	    ALLOT_ERR_NOT_FOUND, "channel");
	ok("channel.put", json_pack("{s:s}", "channel", "web"));
	json_t *r = ok("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:s, s:s, "
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
	r = ok("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:n, s:n, s:i}",
	    "order_id", "o-val-ok2", "lines", "sku", "val", "qty", 1,
	    "ttl_ms", "strategy", "some_future_option", 1));
	expect_status(r, "held");
	expect_record(record("val", "W1"), "val", "W1", 100, 2, 0, 0);
	finish();
}

/*
 * String bounds (PROTOCOL.md, Limits): sku and location 1-64 bytes, channel
 * 1-32, order_id, customer_id and idempotency_key 1-128, reason up to 256;
 * none may contain control characters. Out of bounds is BAD_REQUEST naming
 * the field, wherever the field appears, and changes nothing.
 */
Test(methods, avail_rejects_out_of_bounds_location_channel_and_skus)
{
	set_stock("avb", "W1", 5);
	char long_loc[66];
	memset(long_loc, 'L', 65);
	long_loc[65] = '\0';
	fail_with("avail", json_pack("{s:[s], s:s}", "skus", "avb", "location",
	    ""), ALLOT_ERR_BAD_REQUEST, "location");
	fail_with("avail", json_pack("{s:[s], s:s}", "skus", "avb", "location",
	    "W\x01"), ALLOT_ERR_BAD_REQUEST, "location");
	fail_with("avail", json_pack("{s:[s], s:s}", "skus", "avb", "location",
	    long_loc), ALLOT_ERR_BAD_REQUEST, "location");
	fail_with("avail", json_pack("{s:[s]}", "skus", "avb\x01"),
	    ALLOT_ERR_BAD_REQUEST, "skus[0]");
	fail_with("avail", json_pack("{s:[s], s:s}", "skus", "avb", "channel",
	    "web\x01"), ALLOT_ERR_BAD_REQUEST, "channel");
	finish();
}

Test(methods, reserve_rejects_empty_customer_id_and_idempotency_key)
{
	set_stock("rsb", "W1", 5);
	fail_with("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:s}", "order_id",
	    "o-rsb", "lines", "sku", "rsb", "qty", 1, "customer_id", ""),
	    ALLOT_ERR_BAD_REQUEST, "customer_id");
	fail_with("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:s}", "order_id",
	    "o-rsb", "lines", "sku", "rsb", "qty", 1, "idempotency_key", ""),
	    ALLOT_ERR_BAD_REQUEST, "idempotency_key");
	expect_record(record("rsb", "W1"), "rsb", "W1", 5, 0, 0, 0);
	finish();
}

Test(methods, stock_adjust_rejects_empty_key_and_control_characters_in_reason)
{
	set_stock("asb", "W1", 5);
	fail_with("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}", "sku", "asb",
	    "location", "W1", "delta", 1, "idempotency_key", ""),
	    ALLOT_ERR_BAD_REQUEST, "idempotency_key");
	fail_with("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}", "sku", "asb",
	    "location", "W1", "delta", 1, "reason", "bad\x01reason"),
	    ALLOT_ERR_BAD_REQUEST, "reason");
	fail_with("restock", json_pack("{s:s, s:s, s:i, s:s}", "sku", "asb",
	    "location", "W1", "qty", 1, "reason", "bad\nreason"),
	    ALLOT_ERR_BAD_REQUEST, "reason");
	expect_record(record("asb", "W1"), "asb", "W1", 5, 0, 0, 0);
	cr_assert_eq(geti(record("asb", "W1"), "version"), 1);
	finish();
}

/* ---- reserve: idempotency ---- */

Test(methods, reserve_replay_returns_the_identical_reply_and_holds_nothing_more)
{
	set_stock("idem", "W1", 10);
	json_t *first = ok("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i, s:s}",
	    "order_id", "o-idem", "lines", "sku", "idem", "qty", 4, "ttl_ms",
	    60000, "idempotency_key", "k-idem"));
	expect_record(record("idem", "W1"), "idem", "W1", 10, 4, 0, 0);

	json_t *again = ok("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i, s:s}",
	    "order_id", "o-idem", "lines", "sku", "idem", "qty", 4, "ttl_ms",
	    60000, "idempotency_key", "k-idem"));
	cr_assert(json_equal(again, first), "the replay differs from the first "
	    "reply");
	expect_record(record("idem", "W1"), "idem", "W1", 10, 4, 0, 0);

	/* even after the reservation was committed */
	json_t *c = by_id("commit", first);
	expect_status(c, "committed");
	again = ok("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i, s:s}",
	    "order_id", "o-idem", "lines", "sku", "idem", "qty", 4, "ttl_ms",
	    60000, "idempotency_key", "k-idem"));
	cr_assert(json_equal(again, first), "the replay after commit differs "
	    "from the first reply");
	expect_status(again, "held");
	expect_record(record("idem", "W1"), "idem", "W1", 10, 0, 4, 0);
	json_t *st = ok("stats", NULL);
	cr_assert_eq(geti(get(st, "reservations"), "held"), 0);
	cr_assert_eq(geti(get(st, "reservations"), "committed"), 1);

	/* same key, other params: CONFLICT, and nothing held */
	fail_with("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i, s:s}",
	    "order_id", "o-idem", "lines", "sku", "idem", "qty", 5, "ttl_ms",
	    60000, "idempotency_key", "k-idem"), ALLOT_ERR_CONFLICT, NULL);
	fail_with("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i, s:s}",
	    "order_id", "o-idem-other", "lines", "sku", "idem", "qty", 4,
	    "ttl_ms", 60000, "idempotency_key", "k-idem"), ALLOT_ERR_CONFLICT,
	    NULL);
	fail_with("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i, s:s}",
	    "order_id", "o-idem", "lines", "sku", "idem", "qty", 4, "ttl_ms",
	    70000, "idempotency_key", "k-idem"), ALLOT_ERR_CONFLICT, NULL);
	fail_with("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i, s:s, s:b}",
	    "order_id", "o-idem", "lines", "sku", "idem", "qty", 4, "ttl_ms",
	    60000, "idempotency_key", "k-idem", "allow_partial", 1),
	    ALLOT_ERR_CONFLICT, NULL);
	expect_record(record("idem", "W1"), "idem", "W1", 10, 0, 4, 0);

	/* a failed reserve does not use up its key */
	fail_with("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i, s:s}",
	    "order_id", "o-idem-2", "lines", "sku", "idem", "qty", 8, "ttl_ms",
	    60000, "idempotency_key", "k-idem-2"), ALLOT_ERR_OUT_OF_STOCK, NULL);
	ok("restock", json_pack("{s:s, s:s, s:i}", "sku", "idem", "location",
	    "W1", "qty", 2));
	json_t *r = ok("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i, s:s}",
	    "order_id", "o-idem-2", "lines", "sku", "idem", "qty", 8, "ttl_ms",
	    60000, "idempotency_key", "k-idem-2"));
	expect_status(r, "held");
	cr_assert_str_neq(gets(r, "reservation_id"),
	    gets(first, "reservation_id"));
	expect_record(record("idem", "W1"), "idem", "W1", 12, 8, 4, 0);

	/* without a key, the same order reserves again */
	ok("restock", json_pack("{s:s, s:s, s:i}", "sku", "idem", "location",
	    "W1", "qty", 4));
	r = ok("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i}", "order_id",
	    "o-idem", "lines", "sku", "idem", "qty", 4, "ttl_ms", 60000));
	cr_assert_str_neq(gets(r, "reservation_id"),
	    gets(first, "reservation_id"));
	expect_record(record("idem", "W1"), "idem", "W1", 16, 12, 4, 0);
	finish();
}

/* ---- commit ---- */

Test(methods, commit_moves_held_units_to_committed_and_is_retryable)
{
	set_stock("com", "W1", 10);
	json_t *r = reserve1("o-com", "com", 4, 60000);
	cr_assert(json_is_integer(get(r, "expires_at")));

	json_t *c = by_id("commit", r);
	expect_status(c, "committed");
	cr_assert(json_is_null(get(c, "expires_at")), "expires_at not nil");
	cr_assert_str_eq(gets(c, "reservation_id"), gets(r, "reservation_id"));
	cr_assert_str_eq(gets(c, "order_id"), "o-com");
	cr_assert(json_equal(get(c, "lines"), get(r, "lines")));
	expect_record(record("com", "W1"), "com", "W1", 10, 0, 4, 0);

	/* committed twice: returned unchanged */
	json_t *c2 = by_id("commit", r);
	cr_assert(json_equal(c2, c), "a second commit changed the reply");
	expect_record(record("com", "W1"), "com", "W1", 10, 0, 4, 0);
	cr_assert(json_equal(by_id("reservation.get", r), c));

	/* a released reservation cannot be committed */
	json_t *r2 = reserve1("o-com-2", "com", 2, 60000);
	expect_status(by_id("release", r2), "released");
	fail_by_id("commit", r2, ALLOT_ERR_INVALID_STATE);
	expect_status(by_id("reservation.get", r2), "released");
	expect_record(record("com", "W1"), "com", "W1", 10, 0, 4, 0);

	fail_with("commit", json_pack("{s:s}", "reservation_id",
	    "r-0000000000000000"), ALLOT_ERR_NOT_FOUND, NULL);
	fail_with("commit", json_pack("{}"), ALLOT_ERR_BAD_REQUEST,
	    "reservation_id");
	finish();
}

/* ---- release ---- */

Test(methods, release_whole_returns_every_unit)
{
	set_stock("rel", "W1", 3);
	set_stock("rel", "W2", 4);
	json_t *r = reserve1("o-rel", "rel", 6, 60000);
	expect_record(record("rel", "W1"), "rel", "W1", 3, 3, 0, 0);
	expect_record(record("rel", "W2"), "rel", "W2", 4, 3, 0, 0);

	json_t *x = by_id("release", r);
	expect_status(x, "released");
	cr_assert(json_is_null(get(x, "expires_at")));
	json_t *line = at(get(x, "lines"), 0);
	cr_assert_eq(geti(line, "qty"), 6);
	cr_assert_eq(geti(line, "released"), 6);
	/* allocations reduced to 0 stay listed */
	static const char *const w12[] = { "W1", "W2" };
	static const json_int_t zeros[] = { 0, 0 };
	expect_line(x, 0, "rel", 6, 2, w12, zeros);

	expect_record(record("rel", "W1"), "rel", "W1", 3, 0, 0, 0);
	expect_record(record("rel", "W2"), "rel", "W2", 4, 0, 0, 0);
	json_t *av = ok("avail", json_pack("{s:[s]}", "skus", "rel"));
	cr_assert_eq(geti(get(av, "rel"), "total"), 7);

	fail_by_id("release", r, ALLOT_ERR_INVALID_STATE);
	fail_with("release", json_pack("{s:s, s:[{s:s, s:i}]}", "reservation_id",
	    gets(r, "reservation_id"), "lines", "sku", "rel", "qty", 1),
	    ALLOT_ERR_INVALID_STATE, NULL);

	/* a committed reservation can be released too */
	json_t *r2 = reserve1("o-rel-2", "rel", 2, 60000);
	by_id("commit", r2);
	expect_record(record("rel", "W1"), "rel", "W1", 3, 0, 2, 0);
	json_t *x2 = by_id("release", r2);
	expect_status(x2, "released");
	expect_record(record("rel", "W1"), "rel", "W1", 3, 0, 0, 0);

	fail_with("release", json_pack("{s:s}", "reservation_id", "nonsense"),
	    ALLOT_ERR_NOT_FOUND, NULL);
	finish();
}

Test(methods, release_partial_keeps_it_held_and_frees_those_units)
{
	set_stock("relp", "W1", 3);
	set_stock("relp", "W2", 2);
	set_stock("relp-o", "W1", 10);
	json_t *r = ok("reserve", json_pack("{s:s, s:[{s:s, s:i}, {s:s, s:i}], "
	    "s:i}", "order_id", "o-relp", "lines", "sku", "relp", "qty", 5,
	    "sku", "relp-o", "qty", 1, "ttl_ms", 60000));
	static const char *const w12[] = { "W1", "W2" };
	static const json_int_t q32[] = { 3, 2 };
	expect_line(r, 0, "relp", 5, 2, w12, q32);

	/* units leave the worst-ranked allocation first */
	json_t *x = ok("release", json_pack("{s:s, s:[{s:s, s:i}]}",
	    "reservation_id", gets(r, "reservation_id"), "lines", "sku", "relp",
	    "qty", 3));
	expect_status(x, "held");
	cr_assert(json_is_integer(get(x, "expires_at")));
	cr_assert_eq(geti(x, "expires_at"), geti(r, "expires_at"));
	static const json_int_t q20[] = { 2, 0 };
	expect_line(x, 0, "relp", 5, 2, w12, q20);
	cr_assert_eq(geti(at(get(x, "lines"), 0), "released"), 3);
	cr_assert(json_object_get(at(get(x, "lines"), 1), "released") == NULL);
	expect_record(record("relp", "W1"), "relp", "W1", 3, 2, 0, 0);
	expect_record(record("relp", "W2"), "relp", "W2", 2, 0, 0, 0);
	json_t *av = ok("avail", json_pack("{s:[s]}", "skus", "relp"));
	cr_assert_eq(geti(get(av, "relp"), "total"), 3);

	/* the freed units can be reserved by someone else */
	json_t *other = reserve1("o-relp-other", "relp", 3, 60000);
	static const json_int_t q12[] = { 1, 2 };
	expect_line(other, 0, "relp", 3, 2, w12, q12);

	/* over-release, a sku not in it, a sku named twice, qty 0 */
	fail_with("release", json_pack("{s:s, s:[{s:s, s:i}]}", "reservation_id",
	    gets(r, "reservation_id"), "lines", "sku", "relp", "qty", 3),
	    ALLOT_ERR_BAD_REQUEST, NULL);
	fail_with("release", json_pack("{s:s, s:[{s:s, s:i}]}", "reservation_id",
	    gets(r, "reservation_id"), "lines", "sku", "relp-none", "qty", 1),
	    ALLOT_ERR_BAD_REQUEST, NULL);
	fail_with("release", json_pack("{s:s, s:[{s:s, s:i}, {s:s, s:i}]}",
	    "reservation_id", gets(r, "reservation_id"), "lines", "sku", "relp",
	    "qty", 1, "sku", "relp", "qty", 1), ALLOT_ERR_BAD_REQUEST, NULL);
	fail_with("release", json_pack("{s:s, s:[{s:s, s:i}]}", "reservation_id",
	    gets(r, "reservation_id"), "lines", "sku", "relp", "qty", 0),
	    ALLOT_ERR_BAD_REQUEST, "qty");
	json_t *many = json_array();
	for (int i = 0; i < 101; i++) {
		char sku[32];
		snprintf(sku, sizeof(sku), "relp-%d", i);
		json_array_append_new(many, json_pack("{s:s, s:i}", "sku", sku,
		    "qty", 1));
	}
	fail_with("release", json_pack("{s:s, s:o}", "reservation_id",
	    gets(r, "reservation_id"), "lines", many), ALLOT_ERR_TOO_LARGE,
	    NULL);
	fail_with("release", json_pack("{s:s, s:[{s:s, s:s}]}", "reservation_id",
	    gets(r, "reservation_id"), "lines", "sku", "relp", "qty", "1"),
	    ALLOT_ERR_BAD_REQUEST, "lines[0].qty");
	json_t *g = by_id("reservation.get", r);
	cr_assert(json_equal(g, x), "a refused release changed the reservation");

	/* release the rest line by line: released at the end */
	x = ok("release", json_pack("{s:s, s:[{s:s, s:i}, {s:s, s:i}]}",
	    "reservation_id", gets(r, "reservation_id"), "lines", "sku", "relp",
	    "qty", 2, "sku", "relp-o", "qty", 1));
	expect_status(x, "released");
	static const json_int_t q00[] = { 0, 0 };
	expect_line(x, 0, "relp", 5, 2, w12, q00);
	cr_assert_eq(geti(at(get(x, "lines"), 0), "released"), 5);
	/* what is left is the other order's: 1 at W1, 2 at W2 */
	expect_record(record("relp", "W1"), "relp", "W1", 3, 1, 0, 0);
	expect_record(record("relp", "W2"), "relp", "W2", 2, 2, 0, 0);
	expect_record(record("relp-o", "W1"), "relp-o", "W1", 10, 0, 0, 0);
	finish();
}

/* ---- fulfill ---- */

Test(methods, fulfill_ships_committed_units_partially_then_wholly)
{
	set_stock("ful", "W1", 10);
	json_t *r = reserve1("o-ful", "ful", 5, 60000);
	fail_by_id("fulfill", r, ALLOT_ERR_INVALID_STATE);
	expect_record(record("ful", "W1"), "ful", "W1", 10, 5, 0, 0);

	by_id("commit", r);
	json_t *f = ok("fulfill", json_pack("{s:s, s:[{s:s, s:i}]}",
	    "reservation_id", gets(r, "reservation_id"), "lines", "sku", "ful",
	    "qty", 2));
	expect_status(f, "committed");
	cr_assert_eq(geti(at(get(f, "lines"), 0), "fulfilled"), 2);
	static const char *const w1[] = { "W1" };
	static const json_int_t three[] = { 3 };
	expect_line(f, 0, "ful", 5, 1, w1, three);
	expect_record(record("ful", "W1"), "ful", "W1", 8, 0, 3, 0);

	fail_with("fulfill", json_pack("{s:s, s:[{s:s, s:i}]}", "reservation_id",
	    gets(r, "reservation_id"), "lines", "sku", "ful", "qty", 4),
	    ALLOT_ERR_BAD_REQUEST, NULL);
	fail_with("fulfill", json_pack("{s:s, s:[{s:s, s:i}]}", "reservation_id",
	    gets(r, "reservation_id"), "lines", "sku", "ful-none", "qty", 1),
	    ALLOT_ERR_BAD_REQUEST, NULL);
	expect_record(record("ful", "W1"), "ful", "W1", 8, 0, 3, 0);

	f = by_id("fulfill", r);
	expect_status(f, "fulfilled");
	cr_assert(json_is_null(get(f, "expires_at")));
	cr_assert_eq(geti(at(get(f, "lines"), 0), "fulfilled"), 5);
	static const json_int_t zero[] = { 0 };
	expect_line(f, 0, "ful", 5, 1, w1, zero);
	expect_record(record("ful", "W1"), "ful", "W1", 5, 0, 0, 0);

	fail_by_id("fulfill", r, ALLOT_ERR_INVALID_STATE);
	fail_by_id("release", r, ALLOT_ERR_INVALID_STATE);
	fail_by_id("commit", r, ALLOT_ERR_INVALID_STATE);

	/* partly fulfilled, rest released: fulfilled */
	json_t *r2 = reserve1("o-ful-2", "ful", 4, 60000);
	by_id("commit", r2);
	ok("fulfill", json_pack("{s:s, s:[{s:s, s:i}]}", "reservation_id",
	    gets(r2, "reservation_id"), "lines", "sku", "ful", "qty", 1));
	json_t *x = by_id("release", r2);
	expect_status(x, "fulfilled");
	cr_assert_eq(geti(at(get(x, "lines"), 0), "fulfilled"), 1);
	cr_assert_eq(geti(at(get(x, "lines"), 0), "released"), 3);
	expect_record(record("ful", "W1"), "ful", "W1", 4, 0, 0, 0);
	finish();
}

Test(methods, fulfill_and_release_of_committed_units_leave_worst_ranked_first)
{
	set_stock("fw", "W1", 3);
	set_stock("fw", "W2", 2);
	json_t *r = reserve1("o-fw", "fw", 5, 60000);
	static const char *const w12[] = { "W1", "W2" };
	static const json_int_t q32[] = { 3, 2 };
	expect_line(r, 0, "fw", 5, 2, w12, q32);
	by_id("commit", r);
	expect_record(record("fw", "W1"), "fw", "W1", 3, 0, 3, 0);
	expect_record(record("fw", "W2"), "fw", "W2", 2, 0, 2, 0);

	json_t *f = ok("fulfill", json_pack("{s:s, s:[{s:s, s:i}]}",
	    "reservation_id", gets(r, "reservation_id"), "lines", "sku", "fw",
	    "qty", 3));
	expect_status(f, "committed");
	static const json_int_t q20[] = { 2, 0 };
	expect_line(f, 0, "fw", 5, 2, w12, q20);
	cr_assert_eq(geti(at(get(f, "lines"), 0), "fulfilled"), 3);
	expect_record(record("fw", "W1"), "fw", "W1", 2, 0, 2, 0);
	expect_record(record("fw", "W2"), "fw", "W2", 0, 0, 0, 0);

	/* releasing committed units makes them available again */
	json_t *x = ok("release", json_pack("{s:s, s:[{s:s, s:i}]}",
	    "reservation_id", gets(r, "reservation_id"), "lines", "sku", "fw",
	    "qty", 1));
	expect_status(x, "committed");
	static const json_int_t q10[] = { 1, 0 };
	expect_line(x, 0, "fw", 5, 2, w12, q10);
	cr_assert_eq(geti(at(get(x, "lines"), 0), "released"), 1);
	cr_assert_eq(geti(at(get(x, "lines"), 0), "fulfilled"), 3);
	expect_record(record("fw", "W1"), "fw", "W1", 2, 0, 1, 0);
	json_t *av = ok("avail", json_pack("{s:[s]}", "skus", "fw"));
	cr_assert_eq(geti(get(av, "fw"), "total"), 1);

	f = by_id("fulfill", r);
	expect_status(f, "fulfilled");
	static const json_int_t q00[] = { 0, 0 };
	expect_line(f, 0, "fw", 5, 2, w12, q00);
	cr_assert_eq(geti(at(get(f, "lines"), 0), "fulfilled"), 4);
	cr_assert_eq(geti(at(get(f, "lines"), 0), "released"), 1);
	expect_record(record("fw", "W1"), "fw", "W1", 1, 0, 0, 0);
	expect_record(record("fw", "W2"), "fw", "W2", 0, 0, 0, 0);
	finish();
}

/* ---- extend ---- */

Test(methods, extend_sets_a_new_deadline_on_held_only)
{
	set_stock("ext", "W1", 10);
	json_t *r = reserve1("o-ext", "ext", 1, 60000);

	int64_t t0 = now_ms();
	json_t *x = ok("extend", json_pack("{s:s, s:i}", "reservation_id",
	    gets(r, "reservation_id"), "ttl_ms", 1000000));
	int64_t t1 = now_ms();
	expect_status(x, "held");
	json_int_t exp = geti(x, "expires_at");
	cr_assert(exp >= t0 + 1000000 - 50 && exp <= t1 + 1000000 + 50,
	    "expires_at %lld not within [%lld, %lld]", (long long)exp,
	    (long long)(t0 + 1000000), (long long)(t1 + 1000000));
	cr_assert_eq(geti(by_id("reservation.get", r), "expires_at"), exp);

	/* earlier than the old deadline is allowed */
	t0 = now_ms();
	x = ok("extend", json_pack("{s:s, s:i}", "reservation_id",
	    gets(r, "reservation_id"), "ttl_ms", 5000));
	exp = geti(x, "expires_at");
	cr_assert(exp >= t0 + 5000 - 50 && exp <= now_ms() + 5000 + 50);

	fail_with("extend", json_pack("{s:s, s:i}", "reservation_id",
	    gets(r, "reservation_id"), "ttl_ms", 0), ALLOT_ERR_BAD_REQUEST,
	    "ttl_ms");
	fail_with("extend", json_pack("{s:s, s:i}", "reservation_id",
	    gets(r, "reservation_id"), "ttl_ms", -1), ALLOT_ERR_BAD_REQUEST,
	    "ttl_ms");
	fail_with("extend", json_pack("{s:s}", "reservation_id",
	    gets(r, "reservation_id")), ALLOT_ERR_BAD_REQUEST, "ttl_ms");
	fail_with("extend", json_pack("{s:s, s:I}", "reservation_id",
	    gets(r, "reservation_id"), "ttl_ms",
	    (json_int_t)ALLOT_DEFAULT_TTL_MAX_MS + 1), ALLOT_ERR_BAD_REQUEST,
	    "ttl_ms");
	cr_assert_eq(geti(by_id("reservation.get", r), "expires_at"), exp);

	by_id("commit", r);
	fail_with("extend", json_pack("{s:s, s:i}", "reservation_id",
	    gets(r, "reservation_id"), "ttl_ms", 60000),
	    ALLOT_ERR_INVALID_STATE, NULL);
	cr_assert(json_is_null(get(by_id("reservation.get", r), "expires_at")));

	json_t *r2 = reserve1("o-ext-2", "ext", 1, 60000);
	by_id("release", r2);
	fail_with("extend", json_pack("{s:s, s:i}", "reservation_id",
	    gets(r2, "reservation_id"), "ttl_ms", 60000),
	    ALLOT_ERR_INVALID_STATE, NULL);
	fail_with("extend", json_pack("{s:s, s:i}", "reservation_id",
	    "r-0000000000000000", "ttl_ms", 60000), ALLOT_ERR_NOT_FOUND, NULL);
	finish();
}

/* ---- reservation.get ---- */

Test(methods, reservation_get_reads_reservations_and_not_found_otherwise)
{
	set_stock("rg", "W1", 10);
	json_t *r = reserve1("o-rg", "rg", 2, 60000);
	cr_assert(json_equal(by_id("reservation.get", r), r));

	fail_with("reservation.get", json_pack("{s:s}", "reservation_id",
	    "r-0000000000000000"), ALLOT_ERR_NOT_FOUND, NULL);
	fail_with("reservation.get", json_pack("{s:s}", "reservation_id",
	    "nonsense"), ALLOT_ERR_NOT_FOUND, NULL);
	fail_with("reservation.get", json_pack("{}"), ALLOT_ERR_BAD_REQUEST,
	    "reservation_id");
	fail_with("reservation.get", json_pack("{s:i}", "reservation_id", 5),
	    ALLOT_ERR_BAD_REQUEST, "reservation_id");
	finish();
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
			restart_with(NULL);
		set_stock("ids", "W1", 1);
		json_t *r = reserve1("o-ids", "ids", 1, 60000);
		const char *id = gets(r, "reservation_id");
		cr_assert(is_reservation_id(id), "bad id %s", id);
		snprintf(ids[run], sizeof(ids[run]), "%s", id);
		for (int k = 0; k < run; k++)
			cr_assert_str_neq(ids[k], ids[run], "run %d reused the id "
			    "%s of run %d", run + 1, ids[run], k + 1);
	}
	finish();
}

Test(methods, configured_limits_ttls_and_retention_apply)
{
	static const char *const args[] = { "--retain-ms", "300",
		"--ttl-default-ms", "400", "--ttl-max-ms", "1000",
		"--lines-max", "2", "--avail-skus-max", "3", NULL };
	restart_with(args);
	set_stock("cfg", "W1", 50);

	fail_with("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i}", "order_id",
	    "o-cfg", "lines", "sku", "cfg", "qty", 1, "ttl_ms", 1001),
	    ALLOT_ERR_BAD_REQUEST, "ttl_ms");
	fail_with("reserve", json_pack("{s:s, s:[{s:s, s:i}, {s:s, s:i}, "
	    "{s:s, s:i}]}", "order_id", "o-cfg", "lines", "sku", "cfg", "qty", 1,
	    "sku", "cfg-b", "qty", 1, "sku", "cfg-c", "qty", 1),
	    ALLOT_ERR_TOO_LARGE, NULL);
	fail_with("avail", json_pack("{s:[s, s, s, s]}", "skus", "cfg", "b",
	    "c", "d"), ALLOT_ERR_TOO_LARGE, NULL);
	json_t *av = ok("avail", json_pack("{s:[s, s, s]}", "skus", "cfg", "b",
	    "c"));
	cr_assert_eq(json_object_size(av), 3);

	/* default hold: 400 ms */
	int64_t t0 = now_ms();
	json_t *def = ok("reserve", json_pack("{s:s, s:[{s:s, s:i}]}",
	    "order_id", "o-cfg-def", "lines", "sku", "cfg", "qty", 1));
	json_int_t exp = geti(def, "expires_at");
	cr_assert(exp >= t0 + 400 && exp <= now_ms() + 400,
	    "expires_at %lld is not about now + 400 ms", (long long)exp);

	/* finished ones are forgotten after --retain-ms; live ones stay */
	json_t *kept_res = ok("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i, "
	    "s:s}", "order_id", "o-cfg-keep", "lines", "sku", "cfg", "qty", 2,
	    "ttl_ms", 1000, "idempotency_key", "k-keep"));
	by_id("commit", kept_res);
	json_t *gone = ok("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i, s:s}",
	    "order_id", "o-cfg-gone", "lines", "sku", "cfg", "qty", 3,
	    "ttl_ms", 1000, "idempotency_key", "k-gone"));
	by_id("release", gone);
	json_t *adj = ok("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}", "sku",
	    "cfg", "location", "W1", "delta", 1, "idempotency_key", "k-adj"));
	cr_assert_eq(geti(adj, "on_hand"), 51);
	expect_status(by_id("reservation.get", gone), "released");

	sleep_ms(800); /* past the default hold and the retention */
	fail_by_id("reservation.get", gone, ALLOT_ERR_NOT_FOUND);
	fail_by_id("reservation.get", def, ALLOT_ERR_NOT_FOUND);
	expect_status(by_id("reservation.get", kept_res), "committed");
	json_t *st = ok("stats", NULL);
	json_t *res = get(st, "reservations");
	cr_assert_eq(geti(res, "committed"), 1);
	cr_assert_eq(geti(res, "released"), 0);
	cr_assert_eq(geti(res, "expired"), 0);
	cr_assert_eq(geti(st, "expired_total"), 1);

	/* forgotten keys apply again; a kept one still replays */
	adj = ok("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}", "sku", "cfg",
	    "location", "W1", "delta", 1, "idempotency_key", "k-adj"));
	cr_assert_eq(geti(adj, "on_hand"), 52);
	json_t *again = ok("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i, "
	    "s:s}", "order_id", "o-cfg-gone", "lines", "sku", "cfg", "qty", 3,
	    "ttl_ms", 1000, "idempotency_key", "k-gone"));
	cr_assert_str_neq(gets(again, "reservation_id"),
	    gets(gone, "reservation_id"));
	expect_status(again, "held");
	json_t *replay = ok("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i, "
	    "s:s}", "order_id", "o-cfg-keep", "lines", "sku", "cfg", "qty", 2,
	    "ttl_ms", 1000, "idempotency_key", "k-keep"));
	cr_assert(json_equal(replay, kept_res));
	expect_record(record("cfg", "W1"), "cfg", "W1", 52, 3, 2, 0);
	finish();
}

/* ---- stats ---- */

Test(methods, stats_counts_reservations_requests_connections_and_memory)
{
	set_stock("st", "W1", 100);
	set_stock("st", "W2", 100);
	set_stock("st2", "W1", 100);

	json_t *held = reserve1("o-st-1", "st", 1, 60000);
	(void)held;
	json_t *com = reserve1("o-st-2", "st", 2, 60000);
	by_id("commit", com);
	json_t *rel = reserve1("o-st-3", "st", 3, 60000);
	by_id("release", rel);
	json_t *ful = reserve1("o-st-4", "st2", 4, 60000);
	by_id("commit", ful);
	by_id("fulfill", ful);
	reserve1("o-st-5", "st2", 5, 1);
	sleep_ms(30);
	fail_with("reserve", json_pack("{s:s, s:[{s:s, s:i}]}", "order_id",
	    "o-st-6", "lines", "sku", "st", "qty", 1000),
	    ALLOT_ERR_OUT_OF_STOCK, NULL);

	char err[512];
	allot_client *other = harness_client(srv, TEST_TIMEOUT_MS, err,
	    sizeof(err));
	cr_assert_not_null(other, "cannot connect: %s", err);
	json_t *st = ok_on(other, "stats", NULL);
	allot_client_destroy(other);

	cr_assert_eq(geti(st, "skus"), 2);
	cr_assert_eq(geti(st, "locations"), 2);
	cr_assert_eq(geti(st, "records"), 3);
	json_t *res = get(st, "reservations");
	cr_assert_eq(geti(res, "held"), 1);
	cr_assert_eq(geti(res, "committed"), 1);
	cr_assert_eq(geti(res, "fulfilled"), 1);
	cr_assert_eq(geti(res, "released"), 1);
	cr_assert_eq(geti(res, "expired"), 1);
	cr_assert_eq(geti(st, "expired_total"), 1);
	cr_assert_eq(geti(st, "units_reserved"), 1);
	cr_assert_eq(geti(st, "units_committed"), 2);
	cr_assert(json_is_integer(get(st, "idempotency_keys")));
	cr_assert(json_is_string(get(st, "version")));
	cr_assert_geq(geti(st, "uptime_ms"), 30);

	json_t *conn = get(st, "connections");
	cr_assert_geq(geti(conn, "current"), 2);
	cr_assert_geq(geti(conn, "total"), 2);
	cr_assert_eq(geti(conn, "rejected"), 0);

	json_t *req = get(st, "requests");
	cr_assert_eq(geti(req, "stock.set"), 3);
	cr_assert_eq(geti(req, "reserve"), 6);
	cr_assert_eq(geti(req, "commit"), 2);
	cr_assert_eq(geti(req, "release"), 1);
	cr_assert_eq(geti(req, "fulfill"), 1);
	cr_assert_geq(geti(req, "ping"), 1); /* the harness's */
	cr_assert_geq(geti(req, "errors"), 1);
	cr_assert_geq(geti(req, "total"), 14);

	json_t *mem = get(st, "memory");
	cr_assert_gt(geti(mem, "allocated"), 0);
	cr_assert_gt(geti(mem, "resident"), 0);
	cr_assert_str_eq(gets(get(st, "durability"), "mode"), "none");
	finish();
}

/* ---- exact expiry ---- */

Test(methods, expired_hold_is_available_to_the_very_next_request)
{
	json_t *set = set_stock("exp", "W1", 5);
	cr_assert_eq(geti(set, "version"), 1);
	int64_t t0 = now_ms();
	json_t *r = reserve1("o-exp", "exp", 3, 300);
	int64_t t1 = now_ms();
	json_int_t deadline = geti(r, "expires_at");
	cr_assert(deadline >= t0 + 300 && deadline <= t1 + 300,
	    "expires_at %lld not within [%lld, %lld]", (long long)deadline,
	    (long long)(t0 + 300), (long long)(t1 + 300));

	json_t *av = ok("avail", json_pack("{s:[s]}", "skus", "exp"));
	cr_assert_eq(geti(get(av, "exp"), "total"), 2, "held units available");
	json_t *rec = record("exp", "W1");
	expect_record(rec, "exp", "W1", 5, 3, 0, 0);
	cr_assert_eq(geti(rec, "version"), 2);

	/* sleep past the deadline; the next request sees the units back */
	int64_t wait = deadline + 100 - now_ms();
	if (wait > 0)
		sleep_ms((int)wait);
	av = ok("avail", json_pack("{s:[s]}", "skus", "exp"));
	cr_assert_eq(geti(get(av, "exp"), "total"), 5,
	    "expired units are not available");
	cr_assert_eq(geti(get(get(av, "exp"), "locations"), "W1"), 5);

	json_t *g = by_id("reservation.get", r);
	expect_status(g, "expired");
	cr_assert_eq(geti(g, "expires_at"), deadline,
	    "expired reservation does not keep the deadline that passed");
	static const char *const w1[] = { "W1" };
	static const json_int_t three[] = { 3 };
	expect_line(g, 0, "exp", 3, 1, w1, three);

	rec = record("exp", "W1");
	expect_record(rec, "exp", "W1", 5, 0, 0, 0);
	cr_assert_eq(geti(rec, "version"), 3, "the expiry did not bump the "
	    "version once");

	fail_by_id("commit", r, ALLOT_ERR_INVALID_STATE);
	fail_by_id("release", r, ALLOT_ERR_INVALID_STATE);
	fail_with("extend", json_pack("{s:s, s:i}", "reservation_id",
	    gets(r, "reservation_id"), "ttl_ms", 60000),
	    ALLOT_ERR_INVALID_STATE, NULL);
	expect_status(by_id("reservation.get", r), "expired");

	json_t *st = ok("stats", NULL);
	cr_assert_eq(geti(st, "expired_total"), 1);
	cr_assert_eq(geti(get(st, "reservations"), "expired"), 1);
	cr_assert_eq(geti(get(st, "reservations"), "held"), 0);
	cr_assert_eq(geti(st, "units_reserved"), 0);

	/* all 5 can be reserved again */
	json_t *r2 = reserve1("o-exp-2", "exp", 5, 60000);
	expect_status(r2, "held");
	finish();
}

Test(methods, expiry_is_seen_by_a_reserve_sent_right_after_the_deadline)
{
	/* A hold with a short ttl blocks a reserve; right after its
	 * deadline a reserve of every unit succeeds. */
	set_stock("exp2", "W1", 4);
	json_t *r = reserve1("o-exp2", "exp2", 4, 200);
	json_int_t deadline = geti(r, "expires_at");
	fail_with("reserve", json_pack("{s:s, s:[{s:s, s:i}]}", "order_id",
	    "o-exp2-b", "lines", "sku", "exp2", "qty", 1),
	    ALLOT_ERR_OUT_OF_STOCK, NULL);
	int64_t wait = deadline + 20 - now_ms();
	if (wait > 0)
		sleep_ms((int)wait);
	json_t *r2 = reserve1("o-exp2-c", "exp2", 4, 60000);
	expect_status(r2, "held");
	expect_status(by_id("reservation.get", r), "expired");
	expect_record(record("exp2", "W1"), "exp2", "W1", 4, 4, 0, 0);
	finish();
}
