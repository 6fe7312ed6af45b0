/*
 * test_scan.c - stock.scan in the core: every record exactly once, pages
 * bounded by count, the sku prefix, the cursor's checks, and the promise
 * that matters, exactness while the state grows between pages: new skus
 * (enough to make the sku table grow and drain while the scan runs) and
 * new records of skus already scanned, half scanned and not yet scanned.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "core_fixture.h"

/* What a scan saw: "sku@location" for every record emitted. */
typedef struct seen {
	char (*keys)[2 * CORE_NAME_MAX + 2];
	size_t n, cap;
} seen;

static void seen_emit(void *ctx, const core_record_view *r)
{
	seen *s = ctx;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 1024;
		s->keys = realloc(s->keys, s->cap * sizeof(*s->keys));
		cr_assert_not_null(s->keys);
	}
	snprintf(s->keys[s->n++], sizeof(s->keys[0]), "%.*s@%.*s", (int)r->sku.len, r->sku.p,
	    (int)r->location.len, r->location.p);
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* How many times key was seen (the keys sorted first). */
static size_t seen_count(const seen *s, const char *key)
{
	size_t n = 0;
	for (size_t i = 0; i < s->n; i++)
		n += strcmp(s->keys[i], key) == 0;
	return n;
}

/* One page; asserts it succeeds and keeps to count. */
static core_scan_page page_of(core *c, uint64_t cursor, uint32_t count, const char *prefix,
    seen *s)
{
	core_scan_cmd q = { .cursor = cursor, .count = count, .sku_prefix = S(prefix) };
	core_scan_page page;
	core_error err;
	size_t before = s->n;
	int rc = core_stock_scan(c, &q, seen_emit, s, &page, &err);
	cr_assert_eq(rc, CORE_OK, "scan from %llu: %s", (unsigned long long)cursor, err.message);
	cr_assert_leq(page.count, count);
	cr_assert_eq(page.count, s->n - before);
	return page;
}

/* A whole scan; the number of pages it took. */
static size_t scan_all(core *c, uint32_t count, const char *prefix, seen *s)
{
	uint64_t cursor = 0;
	size_t pages = 0;
	do {
		cursor = page_of(c, cursor, count, prefix, s).cursor;
		pages++;
		cr_assert_lt(pages, 1000000, "the scan does not end");
	} while (cursor != 0);
	return pages;
}

/* Every key exactly once, and nothing else. */
static void expect_each_once(seen *s, size_t want)
{
	qsort(s->keys, s->n, sizeof(s->keys[0]), key_cmp);
	for (size_t i = 1; i < s->n; i++)
		cr_assert_str_neq(s->keys[i - 1], s->keys[i], "%s returned twice", s->keys[i]);
	cr_assert_eq(s->n, want, "%zu records returned, %zu expected", s->n, want);
}

Test(scan, an_empty_engine_scans_to_nothing_at_once)
{
	core *c = mk();
	seen s = { 0 };
	core_scan_page p = page_of(c, 0, CORE_SCAN_COUNT_DEFAULT, NULL, &s);
	cr_assert_eq(p.count, 0);
	cr_assert_eq(p.cursor, 0);
	free(s.keys);
	done(c);
}

Test(scan, every_record_comes_once_whatever_the_page_size)
{
	core *c = mk();
	char sku[32], loc[32];
	size_t total = 0;
	/* Skus with 1 to 7 records, so pages end inside skus too. */
	for (int i = 0; i < 200; i++) {
		for (int l = 0; l <= i % 7; l++) {
			snprintf(sku, sizeof(sku), "sku-%03d", i);
			snprintf(loc, sizeof(loc), "L%d", (l * 5) % 7);
			put(c, sku, loc, i + l);
			total++;
		}
	}
	static const uint32_t counts[] = { 1, 2, 3, 7, 100, CORE_SCAN_COUNT_MAX };
	for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
		seen s = { 0 };
		size_t pages = scan_all(c, counts[k], NULL, &s);
		expect_each_once(&s, total);
		cr_assert_leq(pages, total / counts[k] + 2, "count %u took %zu pages", counts[k], pages);
		free(s.keys);
	}
	done(c);
}

Test(scan, records_carry_their_values_and_each_skus_come_by_location_name)
{
	core *c = mk();
	put(c, "tee", "W3", 3);
	put(c, "tee", "W1", 1);
	put(c, "cap", "W2", 2);
	seen s = { 0 };
	page_of(c, 0, 10, NULL, &s);
	cr_assert_eq(s.n, 3);
	/* Skus in the order they were made; a sku's records by location name. */
	cr_assert_str_eq(s.keys[0], "tee@W1");
	cr_assert_str_eq(s.keys[1], "tee@W3");
	cr_assert_str_eq(s.keys[2], "cap@W2");
	free(s.keys);
	done(c);
}

Test(scan, a_prefix_keeps_only_its_skus)
{
	core *c = mk();
	char sku[32];
	for (int i = 0; i < 300; i++) {
		snprintf(sku, sizeof(sku), "%s-%d", i % 3 == 0 ? "shoe" : "shirt", i);
		put(c, sku, "W1", 1);
		put(c, sku, "W2", 1);
	}
	seen s = { 0 };
	scan_all(c, 7, "shoe", &s);
	expect_each_once(&s, 200);
	for (size_t i = 0; i < s.n; i++)
		cr_assert(strncmp(s.keys[i], "shoe-", 5) == 0, "%s", s.keys[i]);
	free(s.keys);

	seen none = { 0 };
	scan_all(c, 5, "sock", &none);
	cr_assert_eq(none.n, 0);
	free(none.keys);
	seen all = { 0 };
	scan_all(c, 1000, "", &all);
	expect_each_once(&all, 600);
	free(all.keys);
	done(c);
}

Test(scan, a_page_looks_at_a_bounded_number_of_skus)
{
	core *c = mk();
	char sku[32];
	for (int i = 0; i < 1000; i++) {
		snprintf(sku, sizeof(sku), "x-%d", i);
		put(c, sku, "W1", 1);
	}
	put(c, "y-last", "W1", 1);
	/* Nothing but the last sku matches: pages come back empty but not
	 * done until the walk has looked at every sku, count * the factor at
	 * a time. */
	seen s = { 0 };
	size_t pages = scan_all(c, 2, "y-", &s);
	cr_assert_eq(s.n, 1);
	cr_assert_str_eq(s.keys[0], "y-last@W1");
	size_t per_page = 2 * CORE_SCAN_VISIT_FACTOR;
	cr_assert_geq(pages, 1001 / per_page, "%zu pages", pages);
	cr_assert_leq(pages, 1001 / per_page + 1, "%zu pages", pages);
	free(s.keys);
	done(c);
}

Test(scan, bad_counts_prefixes_and_cursors_are_refused)
{
	core *c = mk();
	put(c, "a", "W1", 1);
	put(c, "a", "W2", 1);
	core_scan_page page;
	core_error err;
	core_scan_cmd q = { .cursor = 0, .count = 0 };
	cr_assert_eq(core_stock_scan(c, &q, seen_emit, NULL, &page, &err), CORE_E_BAD_REQUEST);
	cr_assert(strstr(err.message, "count") != NULL, "%s", err.message);
	q.count = CORE_SCAN_COUNT_MAX + 1;
	cr_assert_eq(core_stock_scan(c, &q, seen_emit, NULL, &page, &err), CORE_E_BAD_REQUEST);
	q = (core_scan_cmd){ .count = 1, .sku_prefix = S("a\n") };
	cr_assert_eq(core_stock_scan(c, &q, seen_emit, NULL, &page, &err), CORE_E_BAD_REQUEST);
	cr_assert(strstr(err.message, "sku_prefix") != NULL, "%s", err.message);
	/* Past the skus, and a location that does not exist. */
	static const uint64_t bad[] = { (uint64_t)2 << 16, ((uint64_t)1 << 16) | 1, 3, UINT64_MAX };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		q = (core_scan_cmd){ .cursor = bad[i], .count = 1 };
		cr_assert_eq(core_stock_scan(c, &q, seen_emit, NULL, &page, &err), CORE_E_BAD_REQUEST,
		    "cursor %llu", (unsigned long long)bad[i]);
		cr_assert(strstr(err.message, "cursor") != NULL, "%s", err.message);
	}
	/* A cursor the scan gave is good, and the last page says done. */
	seen s = { 0 };
	core_scan_page p = page_of(c, 0, 1, NULL, &s);
	cr_assert_neq(p.cursor, 0);
	p = page_of(c, p.cursor, 1, NULL, &s);
	cr_assert_eq(p.cursor, 0);
	cr_assert_eq(s.n, 2);
	free(s.keys);
	done(c);
}

/* Between pages: new skus (a burst that makes the sku table grow and
 * drain), and new records of the skus already made at locations whose
 * names sort before, between and after the existing ones (90 of them at
 * most, well within the engine's limit). */
static void grow(core *c, int round)
{
	char sku[32], loc[32];
	for (int i = 0; i < 97; i++) {
		snprintf(sku, sizeof(sku), "new-%d-%d", round, i);
		put(c, sku, "M", 1);
	}
	for (int i = round % 5; i < 400; i += 37) {
		snprintf(sku, sizeof(sku), "old-%03d", i);
		snprintf(loc, sizeof(loc), "%c%02d", "AMZ"[round % 3], (round / 3) % 30);
		put(c, sku, loc, 2);
	}
}

Test(scan, records_present_throughout_come_once_while_the_state_grows)
{
	core *c = mk();
	char sku[32], loc[32];
	seen before = { 0 };
	/* 400 skus at 3 locations each: B, L and X, so new locations sort
	 * before (A), between (M) and after (Z) them. */
	for (int i = 0; i < 400; i++) {
		snprintf(sku, sizeof(sku), "old-%03d", i);
		for (int l = 0; l < 3; l++) {
			snprintf(loc, sizeof(loc), "%c", "BLX"[l]);
			put(c, sku, loc, 1);
		}
	}
	scan_all(c, CORE_SCAN_COUNT_MAX, NULL, &before);
	cr_assert_eq(before.n, 1200);

	static const uint32_t counts[] = { 1, 2, 5, 64 };
	for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
		seen s = { 0 };
		uint64_t cursor = 0;
		int round = 0;
		do {
			cursor = page_of(c, cursor, counts[k], NULL, &s).cursor;
			/* Grow often at first, then now and then, so the scan
			 * meets the table while it is being drained; then no
			 * more, so the scan can end. */
			if (round < 40 || (round % 50 == 0 && round <= 1500))
				grow(c, (int)(k * 100000) + round);
			round++;
		} while (cursor != 0);
		for (size_t i = 0; i < before.n; i++)
			cr_assert_eq(seen_count(&s, before.keys[i]), 1, "count %u: %s seen %zu times",
			    counts[k], before.keys[i], seen_count(&s, before.keys[i]));
		qsort(s.keys, s.n, sizeof(s.keys[0]), key_cmp);
		for (size_t i = 1; i < s.n; i++)
			cr_assert_str_neq(s.keys[i - 1], s.keys[i], "%s returned twice", s.keys[i]);
		free(s.keys);
	}
	free(before.keys);
	done(c);
}
