/*
 * test_inbound.c - inbound stock over the wire, as proto/PROTOCOL.md says:
 * inbound.receive filling backorders of held and committed reservations
 * (earliest first, partial and over-receipts, by ref), records' incoming
 * in stock.get, inbound.list, avail at a date with channels, and
 * stock.adjust's if_version. Each test starts its own allotd
 * (server_fixture.h).
 */
#include <criterion/criterion.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc_client.h"
#include "allot/protocol.h"
#include "harness.h"
#include "json_util.h"
#include "server_fixture.h"

TestSuite(inbound, .init = fx_setup, .fini = fx_teardown, .timeout = 120);

static json_t *params_of(const char *params)
{
	json_error_t jerr;
	json_t *p = params ? json_loads(params, 0, &jerr) : NULL;
	cr_assert(params == NULL || p != NULL, "bad JSON in the test: %s: %s", params, jerr.text);
	return p;
}

static json_t *ok(const char *method, const char *params)
{
	return ju_ok(method, params_of(params));
}

static json_t *fails(const char *method, const char *params, const char *code, const char *field)
{
	return ju_fail(method, params_of(params), code, field);
}

/* reserve {order_id, lines: [{sku, qty}], allow_backorder: true}. */
static json_t *backorder(const char *order, const char *sku, int qty)
{
	char p[256];
	snprintf(p, sizeof(p), "{\"order_id\": \"%s\", \"lines\": [{\"sku\": \"%s\", \"qty\": %d}], "
	    "\"allow_backorder\": true, \"ttl_ms\": 600000}", order, sku, qty);
	return ok("reserve", p);
}

/* A call naming a reservation: {"reservation_id": ID}. */
static json_t *on(const char *method, json_t *resv)
{
	char p[128];
	snprintf(p, sizeof(p), "{\"reservation_id\": \"%s\"}", ju_gets(resv, "reservation_id"));
	return ok(method, p);
}

/* Units of a reservation's only line at loc: on hand (backorders false) or
 * still backordered. */
static json_int_t units_at(json_t *resv, const char *loc, bool backorders)
{
	json_t *line = ju_at(ju_get(resv, "lines"), 0);
	json_t *list = json_object_get(line, backorders ? "backorders" : "allocations");
	json_int_t n = 0;
	for (size_t i = 0; list && i < json_array_size(list); i++)
		if (strcmp(ju_gets(ju_at(list, i), "location"), loc) == 0)
			n += ju_geti(ju_at(list, i), "qty");
	return n;
}

/* filled[i] of a receipt: that reservation, that many units. */
static void expect_fill(json_t *receipt, size_t i, json_t *resv, json_int_t qty)
{
	json_t *f = ju_at(ju_get(receipt, "filled"), i);
	cr_assert_str_eq(ju_gets(f, "reservation_id"), ju_gets(resv, "reservation_id"), "filled[%zu]", i);
	cr_assert_eq(ju_geti(f, "qty"), qty, "filled[%zu] qty %lld, expected %lld", i,
	    (long long)ju_geti(f, "qty"), (long long)qty);
}

static json_t *record_of(const char *sku, const char *loc)
{
	char p[128];
	snprintf(p, sizeof(p), "{\"sku\": \"%s\", \"location\": \"%s\"}", sku, loc);
	return ju_at(ok("stock.get", p), 0);
}

Test(inbound, a_receipt_fills_held_and_committed_backorders_earliest_first_partial_then_over)
{
	ok("stock.set", "{\"sku\": \"tee\", \"location\": \"W1\", \"on_hand\": 0}");
	ok("inbound.add", "{\"sku\": \"tee\", \"location\": \"W1\", \"qty\": 10, \"eta\": 1900000000000, "
	    "\"ref\": \"po-1\"}");
	cr_assert_eq(ju_geti(record_of("tee", "W1"), "incoming"), 10, "stock.get carries incoming");
	json_t *r1 = backorder("o-1", "tee", 3);
	json_t *r2 = backorder("o-2", "tee", 4);
	json_t *r3 = backorder("o-3", "tee", 2);
	on("commit", r2);

	/* Partial: 5 of the 10 arrive; o-1 then o-2, earliest first. */
	json_t *rc = ok("inbound.receive", "{\"sku\": \"tee\", \"location\": \"W1\", \"qty\": 5}");
	json_t *rec = ju_get(rc, "record");
	cr_assert_eq(ju_geti(rec, "on_hand"), 5);
	cr_assert_eq(ju_geti(rec, "reserved"), 3, "o-1 held: its units are reserved");
	cr_assert_eq(ju_geti(rec, "committed"), 2, "o-2 committed: its units are committed");
	cr_assert_eq(ju_geti(rec, "incoming"), 5);
	cr_assert_eq(ju_geti(rec, "available"), 0);
	cr_assert_eq(json_array_size(ju_get(rc, "filled")), 2, "%s", ju_text_of(rc));
	expect_fill(rc, 0, r1, 3);
	expect_fill(rc, 1, r2, 2);

	json_t *g1 = on("reservation.get", r1);
	cr_assert_str_eq(ju_gets(g1, "status"), "held", "a filled hold stays held");
	cr_assert_eq(units_at(g1, "W1", false), 3);
	cr_assert_eq(units_at(g1, "W1", true), 0);
	cr_assert_eq(ju_geti(ju_at(ju_get(g1, "lines"), 0), "backordered"), 3, "backordered stays as reserve gave it");
	json_t *g2 = on("reservation.get", r2);
	cr_assert_str_eq(ju_gets(g2, "status"), "committed");
	cr_assert_eq(units_at(g2, "W1", false), 2);
	cr_assert_eq(units_at(g2, "W1", true), 2);
	json_t *list = ok("inbound.list", "{\"sku\": \"tee\"}");
	cr_assert_eq(json_array_size(list), 1);
	cr_assert_eq(ju_geti(ju_at(list, 0), "qty"), 5, "the entry still expects the rest");
	cr_assert_eq(ju_geti(ju_at(list, 0), "backordered"), 4, "o-2's 2 and o-3's 2 still wait");
	cr_assert_str_eq(ju_gets(ju_at(list, 0), "ref"), "po-1");

	/* Over-receipt: 8 arrive where 5 were expected. Every backorder is
	 * filled, the entry is gone, the rest is available. */
	rc = ok("inbound.receive", "{\"sku\": \"tee\", \"location\": \"W1\", \"qty\": 8}");
	rec = ju_get(rc, "record");
	cr_assert_eq(ju_geti(rec, "on_hand"), 13);
	cr_assert_eq(ju_geti(rec, "reserved"), 5);
	cr_assert_eq(ju_geti(rec, "committed"), 4);
	cr_assert_eq(ju_geti(rec, "incoming"), 0);
	cr_assert_eq(ju_geti(rec, "available"), 4);
	expect_fill(rc, 0, r2, 2);
	expect_fill(rc, 1, r3, 2);
	cr_assert_eq(json_array_size(ok("inbound.list", "{\"sku\": \"tee\"}")), 0);

	/* The filled units are ordinary units on hand: fulfilled from on_hand. */
	json_t *f = on("fulfill", r2);
	cr_assert_str_eq(ju_gets(f, "status"), "fulfilled");
	rec = record_of("tee", "W1");
	cr_assert_eq(ju_geti(rec, "on_hand"), 9);
	cr_assert_eq(ju_geti(rec, "committed"), 0);
	on("release", r3);
	cr_assert_eq(ju_geti(record_of("tee", "W1"), "reserved"), 3);
	fx_finish();
}

Test(inbound, a_receipt_by_ref_uses_that_entry_and_its_errors_change_nothing)
{
	ok("location.put", "{\"location\": \"W1\"}");
	fails("inbound.receive", "{\"sku\": \"cap\", \"location\": \"nowhere\", \"qty\": 1}", "NOT_FOUND", "nowhere");
	fails("inbound.receive", "{\"sku\": \"cap\", \"location\": \"W1\", \"qty\": 0}", "BAD_REQUEST", "qty");
	fails("inbound.receive", "{\"sku\": \"cap\", \"location\": \"W1\"}", "BAD_REQUEST", "qty");
	fails("inbound.receive", "{\"location\": \"W1\", \"qty\": 1}", "BAD_REQUEST", "sku");
	fails("inbound.receive", "{\"sku\": \"cap\", \"location\": \"W1\", \"qty\": 1, \"ref\": \"po-9\"}",
	    "NOT_FOUND", "ref");
	ok("inbound.add", "{\"sku\": \"cap\", \"location\": \"W1\", \"qty\": 2, \"eta\": 100, \"ref\": \"po-1\"}");
	ok("inbound.add", "{\"sku\": \"cap\", \"location\": \"W1\", \"qty\": 5, \"eta\": 200, \"ref\": \"po-2\"}");
	json_t *r = backorder("o-1", "cap", 6);
	cr_assert_eq(units_at(r, "W1", true), 6);
	fails("inbound.receive", "{\"sku\": \"cap\", \"location\": \"W1\", \"qty\": 1, \"ref\": \"po-3\"}",
	    "NOT_FOUND", "ref");

	/* po-2 arrives in part: 3 of its 5, all promised to o-1. */
	json_t *rc = ok("inbound.receive", "{\"sku\": \"cap\", \"location\": \"W1\", \"qty\": 3, \"ref\": \"po-2\"}");
	expect_fill(rc, 0, r, 3);
	json_t *list = ok("inbound.list", "{\"sku\": \"cap\"}");
	cr_assert_eq(json_array_size(list), 2);
	cr_assert_eq(ju_geti(ju_at(list, 0), "qty"), 2, "po-1 untouched");
	cr_assert_eq(ju_geti(ju_at(list, 0), "backordered"), 2);
	cr_assert_eq(ju_geti(ju_at(list, 1), "qty"), 2, "po-2 expects the rest");
	cr_assert_eq(ju_geti(ju_at(list, 1), "backordered"), 1);

	/* po-1 arrives with 2 more than it said: its own 2 and 1 of the extra
	 * fill o-1; po-2 still expects its 2, now promised to nobody. */
	rc = ok("inbound.receive", "{\"sku\": \"cap\", \"location\": \"W1\", \"qty\": 4, \"ref\": \"po-1\"}");
	expect_fill(rc, 0, r, 3);
	json_t *rec = ju_get(rc, "record");
	cr_assert_eq(ju_geti(rec, "on_hand"), 7);
	cr_assert_eq(ju_geti(rec, "reserved"), 6);
	cr_assert_eq(ju_geti(rec, "incoming"), 2);
	list = ok("inbound.list", "{}");
	cr_assert_eq(json_array_size(list), 1);
	cr_assert_str_eq(ju_gets(ju_at(list, 0), "sku"), "cap");
	cr_assert_str_eq(ju_gets(ju_at(list, 0), "ref"), "po-2");
	cr_assert_eq(ju_geti(ju_at(list, 0), "backordered"), 0);
	json_t *g = on("reservation.get", r);
	cr_assert_eq(units_at(g, "W1", false), 6);
	cr_assert_eq(units_at(g, "W1", true), 0);

	/* Units nobody expected are received too: they join on_hand. */
	rc = ok("inbound.receive", "{\"sku\": \"new\", \"location\": \"W1\", \"qty\": 4}");
	cr_assert_eq(ju_geti(ju_get(rc, "record"), "on_hand"), 4);
	cr_assert_eq(json_array_size(ju_get(rc, "filled")), 0);
	fx_finish();
}

Test(inbound, an_idempotent_retry_of_a_filled_reserve_gives_the_first_reply)
{
	ok("location.put", "{\"location\": \"W1\"}");
	ok("inbound.add", "{\"sku\": \"mug\", \"location\": \"W1\", \"qty\": 4, \"eta\": 100}");
	const char *req = "{\"order_id\": \"o-1\", \"lines\": [{\"sku\": \"mug\", \"qty\": 4}], "
	    "\"allow_backorder\": true, \"idempotency_key\": \"k-1\"}";
	json_t *first = ok("reserve", req);
	ok("inbound.receive", "{\"sku\": \"mug\", \"location\": \"W1\", \"qty\": 4}");
	json_t *again = ok("reserve", req);
	cr_assert_str_eq(ju_text_of(ju_get(again, "lines")), ju_text_of(ju_get(first, "lines")),
	    "the allocation a receipt made is not in the first reply");
	cr_assert_eq(units_at(on("reservation.get", first), "W1", false), 4);
	fx_finish();
}

Test(inbound, avail_at_a_date_adds_inbound_not_promised_with_channels_applied)
{
	ok("location.put", "{\"location\": \"W1\"}");
	ok("location.put", "{\"location\": \"W2\"}");
	ok("stock.set", "{\"sku\": \"A\", \"location\": \"W1\", \"on_hand\": 10}");
	ok("inbound.add", "{\"sku\": \"A\", \"location\": \"W1\", \"qty\": 5, \"eta\": 1000}");
	ok("inbound.add", "{\"sku\": \"A\", \"location\": \"W2\", \"qty\": 7, \"eta\": 5000}");
	backorder("o-1", "A", 12); /* 10 on hand at W1, 2 against W1's entry */
	json_t *a = ju_get(ok("avail", "{\"skus\": [\"A\"], \"at\": 999}"), "A");
	cr_assert_eq(ju_geti(a, "total"), 0, "%s", ju_text_of(a));
	cr_assert_eq(ju_geti(a, "at"), 999);
	a = ju_get(ok("avail", "{\"skus\": [\"A\"], \"at\": 1000}"), "A");
	cr_assert_eq(ju_geti(a, "total"), 3, "%s", ju_text_of(a));
	cr_assert_eq(ju_geti(ju_get(a, "locations"), "W1"), 3);
	a = ju_get(ok("avail", "{\"skus\": [\"A\", \"B\"], \"at\": 5000}"), "A");
	cr_assert_eq(ju_geti(a, "total"), 10, "%s", ju_text_of(a));
	cr_assert_eq(ju_geti(ju_get(a, "locations"), "W2"), 7, "a location with inbound only is listed");
	a = ju_get(ok("avail", "{\"skus\": [\"A\"], \"at\": 5000, \"location\": \"W2\"}"), "A");
	cr_assert_eq(ju_geti(a, "total"), 7);
	/* A channel sees its locations only, each less its buffer. */
	ok("channel.put", "{\"channel\": \"web\", \"locations\": [\"W1\"], \"buffer\": 1}");
	a = ju_get(ok("avail", "{\"skus\": [\"A\"], \"at\": 5000, \"channel\": \"web\"}"), "A");
	cr_assert_eq(ju_geti(a, "total"), 2, "%s", ju_text_of(a));
	cr_assert_null(json_object_get(ju_get(a, "locations"), "W2"));
	/* Without at, avail is as it was: available now. */
	a = ju_get(ok("avail", "{\"skus\": [\"A\"]}"), "A");
	cr_assert_eq(ju_geti(a, "total"), 0);
	cr_assert_null(json_object_get(a, "at"));
	fails("avail", "{\"skus\": [\"A\"], \"at\": -1}", "BAD_REQUEST", "at");
	fails("avail", "{\"skus\": [\"A\"], \"at\": \"soon\"}", "BAD_REQUEST", "at");
	json_t *b = ju_get(ok("avail", "{\"skus\": [\"B\"], \"at\": 5000}"), "B");
	cr_assert_eq(ju_geti(b, "total"), 0, "an unknown sku");
	fx_finish();
}

Test(inbound, stock_adjust_if_version_conflicts_with_the_current_version)
{
	json_t *r = ok("stock.set", "{\"sku\": \"A\", \"location\": \"W1\", \"on_hand\": 5}");
	cr_assert_eq(ju_geti(r, "version"), 1);
	r = ok("stock.adjust", "{\"sku\": \"A\", \"location\": \"W1\", \"delta\": 2, \"if_version\": 1}");
	cr_assert_eq(ju_geti(r, "on_hand"), 7);
	cr_assert_eq(ju_geti(r, "version"), 2);
	json_t *e = fails("stock.adjust", "{\"sku\": \"A\", \"location\": \"W1\", \"delta\": 2, \"if_version\": 1}",
	    "CONFLICT", "if_version");
	cr_assert_eq(ju_geti(e, "version"), 2, "CONFLICT carries the current version");
	cr_assert_eq(ju_geti(record_of("A", "W1"), "on_hand"), 7, "a conflict changes nothing");
	fails("stock.adjust", "{\"sku\": \"B\", \"location\": \"W1\", \"delta\": 2, \"if_version\": 3}",
	    "CONFLICT", "if_version");
	r = ok("stock.adjust", "{\"sku\": \"B\", \"location\": \"W1\", \"delta\": 2, \"if_version\": 0}");
	cr_assert_eq(ju_geti(r, "on_hand"), 2, "0: only while the record does not exist");
	/* A retry with its key is answered as the first time, the version
	 * having moved on since; the same key with another if_version is
	 * other params. */
	const char *keyed = "{\"sku\": \"A\", \"location\": \"W1\", \"delta\": -1, \"if_version\": 2, "
	    "\"idempotency_key\": \"adj-1\"}";
	r = ok("stock.adjust", keyed);
	cr_assert_eq(ju_geti(r, "version"), 3);
	r = ok("stock.adjust", keyed);
	cr_assert_eq(ju_geti(r, "version"), 3);
	cr_assert_eq(ju_geti(r, "on_hand"), 6);
	fails("stock.adjust", "{\"sku\": \"A\", \"location\": \"W1\", \"delta\": -1, \"if_version\": 3, "
	    "\"idempotency_key\": \"adj-1\"}", "CONFLICT", "idempotency_key");
	fails("stock.adjust", "{\"sku\": \"A\", \"location\": \"W1\", \"delta\": 1, \"if_version\": -2}",
	    "BAD_REQUEST", "if_version");
	fx_finish();
}
