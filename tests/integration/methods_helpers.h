/*
 * methods_helpers.h - the checks the method tests (test_methods_*.c) make
 * of replies: every field of a record, a reservation's lines and status,
 * and errors of calls by reservation id. Static inline: they are the
 * suite's own vocabulary, kept out of the link's namespace.
 */
#ifndef ALLOT_TESTS_METHODS_HELPERS_H
#define ALLOT_TESTS_METHODS_HELPERS_H

#include <criterion/criterion.h>

#include <stdbool.h>
#include <string.h>

#include "json_util.h"

/* Check every field of a record reply. */
static inline void expect_record(json_t *r, const char *sku, const char *loc,
    json_int_t on_hand, json_int_t reserved, json_int_t committed,
    json_int_t safety)
{
	cr_assert_str_eq(ju_gets(r, "sku"), sku);
	cr_assert_str_eq(ju_gets(r, "location"), loc);
	cr_assert_eq(ju_geti(r, "on_hand"), on_hand, "%s@%s on_hand %lld, "
	    "expected %lld", sku, loc, (long long)ju_geti(r, "on_hand"),
	    (long long)on_hand);
	cr_assert_eq(ju_geti(r, "reserved"), reserved, "%s@%s reserved %lld, "
	    "expected %lld", sku, loc, (long long)ju_geti(r, "reserved"),
	    (long long)reserved);
	cr_assert_eq(ju_geti(r, "committed"), committed, "%s@%s committed %lld, "
	    "expected %lld", sku, loc, (long long)ju_geti(r, "committed"),
	    (long long)committed);
	cr_assert_eq(ju_geti(r, "safety"), safety);
	json_int_t avail = on_hand - reserved - committed - safety;
	json_int_t oversold = reserved + committed - on_hand;
	cr_assert_eq(ju_geti(r, "available"), avail > 0 ? avail : 0,
	    "%s@%s available %lld", sku, loc, (long long)ju_geti(r, "available"));
	cr_assert_eq(ju_geti(r, "oversold"), oversold > 0 ? oversold : 0,
	    "%s@%s oversold %lld", sku, loc, (long long)ju_geti(r, "oversold"));
	cr_assert_geq(ju_geti(r, "version"), 1);
}

static inline json_t *fail_by_id(const char *method, json_t *reservation,
    const char *code)
{
	return ju_fail(method, json_pack("{s:s}", "reservation_id",
	    ju_gets(reservation, "reservation_id")), code, NULL);
}

/* Check reservation line i: sku, qty, and its allocations (loc, qty)... */
static inline void expect_line(json_t *res, size_t i, const char *sku,
    json_int_t qty, size_t nalloc, const char *const *locs,
    const json_int_t *qtys)
{
	json_t *line = ju_at(ju_get(res, "lines"), i);
	cr_assert_str_eq(ju_gets(line, "sku"), sku);
	cr_assert_eq(ju_geti(line, "qty"), qty);
	json_t *allocs = ju_get(line, "allocations");
	cr_assert(json_is_array(allocs));
	cr_assert_eq(json_array_size(allocs), nalloc, "line %s has %zu "
	    "allocations, expected %zu", sku, json_array_size(allocs), nalloc);
	for (size_t k = 0; k < nalloc; k++) {
		json_t *a = ju_at(allocs, k);
		cr_assert_str_eq(ju_gets(a, "location"), locs[k],
		    "line %s allocation %zu at %s, expected %s", sku, k,
		    ju_gets(a, "location"), locs[k]);
		cr_assert_eq(ju_geti(a, "qty"), qtys[k], "line %s allocation %zu "
		    "(%s) holds %lld, expected %lld", sku, k, locs[k],
		    (long long)ju_geti(a, "qty"), (long long)qtys[k]);
	}
}

static inline void expect_status(json_t *res, const char *status)
{
	cr_assert_str_eq(ju_gets(res, "status"), status);
}

static inline bool is_reservation_id(const char *id)
{
	if (strlen(id) != 18 || strncmp(id, "r-", 2) != 0)
		return false;
	for (int i = 2; i < 18; i++)
		if (!((id[i] >= '0' && id[i] <= '9') ||
		    (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return true;
}

#endif
