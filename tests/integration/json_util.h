/*
 * json_util.h - JSON helpers of the integration tests that call allotd
 * through the tests' client (tests/compat/rpc_client.h, over liballot) and assert with Criterion.
 *
 * Every value a helper hands out is kept (ju_keep) and freed by
 * ju_free_kept() when the test ends, so tests can chain lookups without
 * bookkeeping and an assertion that aborts a test leaks nothing that
 * matters. Call these from the test's own thread only.
 */
#ifndef ALLOT_TESTS_JSON_UTIL_H
#define ALLOT_TESTS_JSON_UTIL_H

#include <stddef.h>

#include "rpc_client.h"

/* Keep v (may be NULL) until ju_free_kept(); returns v. */
json_t *ju_keep(json_t *v);
/* Release every kept value. */
void ju_free_kept(void);

/* The compact JSON text of v ("(none)" for NULL), kept. */
const char *ju_text_of(json_t *v);
/* A copy of s (NULL reads as ""), kept. */
const char *ju_kept_text(const char *s);

/* o's member key, which must exist (o must be an object). */
json_t *ju_get(json_t *o, const char *key);
/* ... which must be an integer, or a string. */
json_int_t ju_geti(json_t *o, const char *key);
const char *ju_gets(json_t *o, const char *key);
/* Element i of array a, which must exist. */
json_t *ju_at(json_t *a, size_t i);
/* The code of an error reply, or "(no code)". */
const char *ju_code_of(json_t *error);

/*
 * The client the calls below use when they take none: each suite's fixture
 * connects it (and destroys it) around every test.
 */
extern allot_client *ju_client;

/*
 * Call method on c with params (stolen; NULL for none). Returns the client
 * status (0, or negative with a message in err); *error and *result are
 * kept.
 */
int ju_call(allot_client *c, const char *method, json_t *params,
    json_t **error, json_t **result, char *err, size_t err_len);

/* The result of a call on c, or on ju_client, that must succeed (params
 * stolen). */
json_t *ju_ok_on(allot_client *c, const char *method, json_t *params);
json_t *ju_ok(const char *method, json_t *params);

/*
 * The error of a call on ju_client that must fail with code: a map with
 * that code, a message (naming field when field is not NULL), and no
 * result. params is stolen.
 */
json_t *ju_fail(const char *method, json_t *params, const char *code,
    const char *field);

/* Calls on ju_client that must succeed, as most tests make them. */
/* stock.set of on_hand units of sku at loc. */
json_t *ju_set_stock(const char *sku, const char *loc, int on_hand);
/* The one record of sku at loc, read with stock.get. */
json_t *ju_record(const char *sku, const char *loc);
/* reserve {order_id, lines: [{sku, qty}], ttl_ms} for one line. */
json_t *ju_reserve1(const char *order, const char *sku, int qty, int ttl_ms);
/* method {reservation_id} of a reserve reply's reservation. */
json_t *ju_by_id(const char *method, json_t *reservation);

#endif
