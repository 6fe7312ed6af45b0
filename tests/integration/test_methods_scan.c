/*
 * test_methods_scan.c - stock.scan over the wire (proto/PROTOCOL.md): the
 * reply's shape, pages that end inside a sku, the default and largest
 * count, sku_prefix, refusals, and every record present for the whole scan
 * returned exactly once while other calls add skus and records between
 * pages.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc_client.h"
#include "allot/protocol.h"
#include "harness.h"
#include "json_util.h"
#include "methods_helpers.h"
#include "server_fixture.h"

TestSuite(methods_scan, .init = fx_setup, .fini = fx_teardown, .timeout = 120);

/* One page: {records, cursor} and nothing else. */
static json_t *scan_page(json_int_t cursor, int count, const char *prefix, json_int_t *next)
{
	json_t *params = json_pack("{s:I}", "cursor", cursor);
	if (count > 0)
		json_object_set_new(params, "count", json_integer(count));
	if (prefix)
		json_object_set_new(params, "sku_prefix", json_string(prefix));
	json_t *r = ju_ok("stock.scan", params);
	cr_assert_eq(json_object_size(r), 2, "{records, cursor}: %s", ju_text_of(r));
	json_t *records = ju_get(r, "records");
	cr_assert(json_is_array(records));
	*next = ju_geti(r, "cursor");
	cr_assert_geq(*next, 0);
	return records;
}

/* A whole scan into an object "sku@location" => times seen; its pages. */
static int scan_all(int count, const char *prefix, json_t *seen, void (*between)(int page))
{
	json_int_t cursor = 0;
	int pages = 0;
	do {
		json_t *records = scan_page(cursor, count, prefix, &cursor);
		cr_assert_leq(json_array_size(records), count > 0 ? (size_t)count
		    : (size_t)ALLOT_SCAN_COUNT_DEFAULT);
		size_t i;
		json_t *rec;
		json_array_foreach(records, i, rec) {
			char key[160];
			snprintf(key, sizeof(key), "%s@%s", ju_gets(rec, "sku"), ju_gets(rec, "location"));
			json_t *n = json_object_get(seen, key);
			json_object_set_new(seen, key, json_integer(n ? json_integer_value(n) + 1 : 1));
		}
		if (between)
			between(pages);
		cr_assert_lt(++pages, 100000, "the scan does not end");
	} while (cursor != 0);
	return pages;
}

static void expect_once(json_t *seen, const char *sku, const char *loc)
{
	char key[160];
	snprintf(key, sizeof(key), "%s@%s", sku, loc);
	json_t *n = json_object_get(seen, key);
	cr_assert(n && json_integer_value(n) == 1, "%s seen %lld times", key,
	    n ? (long long)json_integer_value(n) : 0LL);
}

Test(methods_scan, pages_return_every_record_once_with_every_field)
{
	char sku[32];
	for (int i = 0; i < 10; i++) {
		snprintf(sku, sizeof(sku), "scan-%d", i);
		ju_set_stock(sku, "W2", i);
		ju_set_stock(sku, "W1", 100 + i);
	}
	ju_ok("stock.set", json_pack("{s:s, s:s, s:i, s:i}", "sku", "scan-0", "location", "W3",
	    "on_hand", 7, "safety", 2));
	/* The first page of 3 ends inside scan-0 (3 records); records are
	 * whole records, as stock.get gives them. */
	json_int_t cursor;
	json_t *records = scan_page(0, 2, NULL, &cursor);
	cr_assert_eq(json_array_size(records), 2);
	cr_assert_neq(cursor, 0);
	expect_record(ju_at(records, 0), "scan-0", "W1", 100, 0, 0, 0);
	expect_record(ju_at(records, 1), "scan-0", "W2", 0, 0, 0, 0);
	records = scan_page(cursor, 2, NULL, &cursor);
	expect_record(ju_at(records, 0), "scan-0", "W3", 7, 0, 0, 2);

	json_t *seen = ju_keep(json_object());
	int pages = scan_all(3, NULL, seen, NULL);
	cr_assert_eq(json_object_size(seen), 21);
	cr_assert_eq(pages, 7);
	for (int i = 0; i < 10; i++) {
		snprintf(sku, sizeof(sku), "scan-%d", i);
		expect_once(seen, sku, "W1");
		expect_once(seen, sku, "W2");
	}
	fx_finish();
}

Test(methods_scan, count_defaults_to_1000_and_goes_up_to_10000)
{
	char sku[32];
	for (int i = 0; i < 1500; i++) {
		snprintf(sku, sizeof(sku), "many-%04d", i);
		ju_set_stock(sku, "W1", 1);
	}
	json_int_t cursor;
	json_t *records = scan_page(0, 0, NULL, &cursor);
	cr_assert_eq(json_array_size(records), ALLOT_SCAN_COUNT_DEFAULT);
	cr_assert_neq(cursor, 0);
	records = scan_page(cursor, 0, NULL, &cursor);
	cr_assert_eq(json_array_size(records), 500);
	cr_assert_eq(cursor, 0);
	records = scan_page(0, ALLOT_SCAN_COUNT_MAX, NULL, &cursor);
	cr_assert_eq(json_array_size(records), 1500);
	cr_assert_eq(cursor, 0);
	fx_finish();
}

Test(methods_scan, sku_prefix_keeps_only_its_skus)
{
	ju_set_stock("tee-s", "W1", 1);
	ju_set_stock("cap-1", "W1", 1);
	ju_set_stock("tee-m", "W1", 1);
	ju_set_stock("tee-m", "W2", 1);
	json_t *seen = ju_keep(json_object());
	scan_all(1, "tee-", seen, NULL);
	cr_assert_eq(json_object_size(seen), 3, "%s", ju_text_of(seen));
	expect_once(seen, "tee-s", "W1");
	expect_once(seen, "tee-m", "W1");
	expect_once(seen, "tee-m", "W2");
	fx_finish();
}

Test(methods_scan, bad_params_are_bad_request_naming_the_field)
{
	ju_set_stock("a", "W1", 1);
	ju_fail("stock.scan", json_pack("{s:i}", "count", ALLOT_SCAN_COUNT_MAX + 1),
	    ALLOT_ERR_BAD_REQUEST, "count");
	ju_fail("stock.scan", json_pack("{s:i}", "count", 0), ALLOT_ERR_BAD_REQUEST, "count");
	ju_fail("stock.scan", json_pack("{s:i}", "cursor", -1), ALLOT_ERR_BAD_REQUEST, "cursor");
	ju_fail("stock.scan", json_pack("{s:I}", "cursor", (json_int_t)1 << 40),
	    ALLOT_ERR_BAD_REQUEST, "cursor");
	ju_fail("stock.scan", json_pack("{s:s}", "cursor", "0"), ALLOT_ERR_BAD_REQUEST, "cursor");
	ju_fail("stock.scan", json_pack("{s:i}", "sku_prefix", 1), ALLOT_ERR_BAD_REQUEST,
	    "sku_prefix");
	/* No params at all is a scan from the start. */
	json_t *r = ju_ok("stock.scan", NULL);
	cr_assert_eq(json_array_size(ju_get(r, "records")), 1);
	cr_assert_eq(ju_geti(r, "cursor"), 0);
	fx_finish();
}

/* Between pages: 300 new skus (the engine's sku table grows and drains
 * meanwhile) and new records of the skus made before the scan. */
static void grow_between(int page)
{
	char sku[32], loc[16];
	if (page >= 20)
		return;
	for (int i = 0; i < 300; i++) {
		snprintf(sku, sizeof(sku), "new-%d-%d", page, i);
		ju_set_stock(sku, "W5", 1);
	}
	for (int i = page % 3; i < 200; i += 7) {
		snprintf(sku, sizeof(sku), "old-%03d", i);
		snprintf(loc, sizeof(loc), "%c%d", "AMZ"[page % 3], page);
		ju_set_stock(sku, loc, 1);
	}
}

Test(methods_scan, records_present_throughout_come_once_while_others_are_added)
{
	char sku[32];
	for (int i = 0; i < 200; i++) {
		snprintf(sku, sizeof(sku), "old-%03d", i);
		ju_set_stock(sku, "B", 1);
		ju_set_stock(sku, "L", 1);
	}
	json_t *seen = ju_keep(json_object());
	scan_all(9, NULL, seen, grow_between);
	for (int i = 0; i < 200; i++) {
		snprintf(sku, sizeof(sku), "old-%03d", i);
		expect_once(seen, sku, "B");
		expect_once(seen, sku, "L");
	}
	const char *key;
	json_t *n;
	json_object_foreach(seen, key, n)
		cr_assert_eq(json_integer_value(n), 1, "%s seen %lld times", key,
		    (long long)json_integer_value(n));
	fx_finish();
}
