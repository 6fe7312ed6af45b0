/*
 * json_util.c - JSON helpers of the integration tests (json_util.h).
 */
#include "json_util.h"

#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

/* The kept values; the array grows as a test keeps more. */
static json_t **kept;
static size_t kept_len, kept_cap;

allot_client *ju_client;

json_t *ju_keep(json_t *v)
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

void ju_free_kept(void)
{
	for (size_t i = 0; i < kept_len; i++)
		json_decref(kept[i]);
	free(kept);
	kept = NULL;
	kept_len = kept_cap = 0;
}

const char *ju_text_of(json_t *v)
{
	if (v == NULL)
		return "(none)";
	char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	cr_assert_not_null(t, "out of memory");
	json_t *s = ju_keep(json_string(t));
	free(t);
	cr_assert_not_null(s, "out of memory");
	return json_string_value(s);
}

const char *ju_kept_text(const char *s)
{
	json_t *v = ju_keep(json_string_nocheck(s != NULL ? s : ""));
	cr_assert_not_null(v, "out of memory");
	return json_string_value(v);
}

json_t *ju_get(json_t *o, const char *key)
{
	cr_assert(json_is_object(o), "looking up \"%s\" in %s", key,
	    ju_text_of(o));
	json_t *v = json_object_get(o, key);
	if (v == NULL)
		cr_assert_fail("no \"%s\" in %s", key, ju_text_of(o));
	return v;
}

json_int_t ju_geti(json_t *o, const char *key)
{
	json_t *v = ju_get(o, key);
	cr_assert(json_is_integer(v), "\"%s\" is not an integer in %s", key,
	    ju_text_of(o));
	return json_integer_value(v);
}

const char *ju_gets(json_t *o, const char *key)
{
	json_t *v = ju_get(o, key);
	cr_assert(json_is_string(v), "\"%s\" is not a string in %s", key,
	    ju_text_of(o));
	return json_string_value(v);
}

json_t *ju_at(json_t *a, size_t i)
{
	cr_assert(json_is_array(a), "indexing %s", ju_text_of(a));
	cr_assert_lt(i, json_array_size(a), "index %zu of an array of %zu", i,
	    json_array_size(a));
	return json_array_get(a, i);
}

const char *ju_code_of(json_t *error)
{
	const char *code = json_string_value(json_object_get(error, "code"));
	return code != NULL ? code : "(no code)";
}

int ju_call(allot_client *c, const char *method, json_t *params,
    json_t **error, json_t **result, char *err, size_t err_len)
{
	*error = *result = NULL;
	int rc = allot_client_call_params(c, method, params, error, result, err,
	    err_len);
	json_decref(params);
	ju_keep(*error);
	ju_keep(*result);
	return rc;
}

json_t *ju_ok_on(allot_client *c, const char *method, json_t *params)
{
	char err[512];
	const char *text = params != NULL ? ju_text_of(params) : "";
	json_t *error, *result;
	int rc = ju_call(c, method, params, &error, &result, err, sizeof(err));
	cr_assert_eq(rc, 0, "%s %s: call failed: %s", method, text, err);
	if (error != NULL)
		cr_assert_fail("%s %s answered the error %s", method, text,
		    ju_text_of(error));
	return result;
}

json_t *ju_ok(const char *method, json_t *params)
{
	return ju_ok_on(ju_client, method, params);
}

json_t *ju_fail(const char *method, json_t *params, const char *code,
    const char *field)
{
	char err[512];
	const char *text = params != NULL ? ju_text_of(params) : "";
	json_t *error, *result;
	int rc = ju_call(ju_client, method, params, &error, &result, err,
	    sizeof(err));
	cr_assert_eq(rc, 0, "%s %s: call failed: %s", method, text, err);
	if (error == NULL)
		cr_assert_fail("%s %s succeeded (%s), expected %s", method, text,
		    ju_text_of(result), code);
	cr_assert(json_is_object(error), "%s: error is not a map", method);
	const char *got = json_string_value(json_object_get(error, "code"));
	cr_assert_not_null(got, "%s %s: error without a string code", method,
	    text);
	cr_assert_str_eq(got, code, "%s %s: code %s, expected %s (%s)", method,
	    text, got, code, ju_text_of(error));
	const char *msg = json_string_value(json_object_get(error, "message"));
	cr_assert(msg != NULL && msg[0] != '\0', "%s: %s without a message",
	    method, code);
	if (field != NULL)
		cr_assert(strstr(msg, field) != NULL, "%s %s: message \"%s\" does "
		    "not name %s", method, text, msg, field);
	cr_assert(json_is_null(result), "%s: error with a result", method);
	return error;
}

json_t *ju_set_stock(const char *sku, const char *loc, int on_hand)
{
	return ju_ok("stock.set", json_pack("{s:s, s:s, s:i}", "sku", sku,
	    "location", loc, "on_hand", on_hand));
}

json_t *ju_record(const char *sku, const char *loc)
{
	json_t *recs = ju_ok("stock.get", json_pack("{s:s, s:s}", "sku", sku,
	    "location", loc));
	cr_assert(json_is_array(recs) && json_array_size(recs) == 1,
	    "stock.get %s@%s did not answer one record: %s", sku, loc,
	    ju_text_of(recs));
	return ju_at(recs, 0);
}

json_t *ju_reserve1(const char *order, const char *sku, int qty, int ttl_ms)
{
	return ju_ok("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i}",
	    "order_id", order, "lines", "sku", sku, "qty", qty,
	    "ttl_ms", ttl_ms));
}

json_t *ju_by_id(const char *method, json_t *reservation)
{
	return ju_ok(method, json_pack("{s:s}", "reservation_id",
	    ju_gets(reservation, "reservation_id")));
}
