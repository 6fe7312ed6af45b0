/*
 * cli_json.c - JSON <-> liballot values for the CLI (see cli_json.h for the
 * mapping), and calls whose args and reply are JSON.
 *
 * Both directions recurse; the depth is bounded by CLI_JSON_DEPTH_MAX on
 * the way in and, on the way out, by liballot's reader, which refuses a
 * reply nested deeper than 64 levels.
 */
#include "cli_json.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int json_fail(char *err, size_t err_len, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int json_fail(char *err, size_t err_len, int status, const char *fmt, ...)
{
	if (err != NULL && err_len > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return status;
}

/* ---- JSON to MessagePack ---- */

static int build_value(allot_builder *b, json_t *v, int depth, char *err,
    size_t err_len)
{
	if (depth > CLI_JSON_DEPTH_MAX)
		return json_fail(err, err_len, ALLOT_E_ARG,
		    "JSON nested deeper than %d levels", CLI_JSON_DEPTH_MAX);
	const char *key;
	size_t key_len, i;
	json_t *val;
	int rc = ALLOT_OK;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		allot_put_map(b, (uint32_t)json_object_size(v));
		json_object_keylen_foreach(v, key, key_len, val) {
			allot_put_strn(b, key, key_len);
			if (rc == 0)
				rc = build_value(b, val, depth + 1, err, err_len);
		}
		break;
	case JSON_ARRAY:
		allot_put_array(b, (uint32_t)json_array_size(v));
		json_array_foreach(v, i, val) {
			if (rc == 0)
				rc = build_value(b, val, depth + 1, err, err_len);
		}
		break;
	case JSON_STRING:
		allot_put_strn(b, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		allot_put_int(b, json_integer_value(v));
		break;
	case JSON_REAL:
		allot_put_float(b, json_real_value(v));
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		allot_put_bool(b, json_is_true(v));
		break;
	case JSON_NULL:
	default:
		allot_put_nil(b);
		break;
	}
	assert(depth >= 1);
	if (rc == 0 && allot_builder_status(b) != 0)
		rc = json_fail(err, err_len, ALLOT_E_NOMEM, "out of memory");
	return rc;
}

int cli_json_build(allot_builder *b, json_t *value, char *err, size_t err_len)
{
	if (value == NULL)
		return json_fail(err, err_len, ALLOT_E_ARG, "no JSON value");
	return build_value(b, value, 1, err, err_len);
}

/* ---- a reply's values to JSON ---- */

/*
 * The length of the well-formed UTF-8 sequence at s[0..n), or 0 when it is
 * not one (a stray continuation byte, an overlong form, a surrogate, or a
 * code point above U+10FFFF).
 */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	uint32_t cp, min;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2, cp = c & 0x1fu, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3, cp = c & 0x0fu, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4, cp = c & 0x07u, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/*
 * A malloc'd copy of p[0..n) with every byte that does not start a valid
 * UTF-8 sequence replaced by U+FFFD; its length goes to *out_len.
 */
static char *utf8_sanitize(const char *p, size_t n, size_t *out_len)
{
	/* Each input byte becomes at most three output bytes. */
	if (n > (SIZE_MAX - 1) / 3)
		return NULL;
	char *out = malloc(n * 3 + 1);
	if (out == NULL)
		return NULL;
	const unsigned char *s = (const unsigned char *)p;
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		size_t len = utf8_seq_len(s + i, n - i);
		if (len == 0) {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i += 1;
		} else {
			memcpy(out + o, s + i, len);
			o += len;
			i += len;
		}
	}
	out[o] = '\0';
	assert(o <= n * 3);
	*out_len = o;
	return out;
}

/* A JSON string for the bytes p[0..n), valid UTF-8 or made so. */
static json_t *string_from_bytes(const char *p, size_t n)
{
	json_t *s = json_stringn(p, n);
	if (s != NULL)
		return s;
	/* jansson refuses invalid UTF-8 (or ran out of memory): repair. */
	size_t len = 0;
	char *fixed = utf8_sanitize(p, n, &len);
	if (fixed == NULL)
		return NULL;
	s = json_stringn(fixed, len);
	free(fixed);
	return s;
}

static json_t *json_from_ext(const allot_value *v)
{
	static const char digits[] = "0123456789abcdef";
	size_t n = 0;
	const unsigned char *p = (const unsigned char *)allot_value_str(v, &n);
	char *hex = malloc(n * 2 + 1);
	if (hex == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		hex[2 * i] = digits[p[i] >> 4];
		hex[2 * i + 1] = digits[p[i] & 0x0f];
	}
	hex[n * 2] = '\0';
	json_t *tag = json_pack("{s:{s:i,s:s}}", "$ext", "type",
	    (int)allot_value_ext_type(v), "hex", hex);
	free(hex);
	return tag;
}

/*
 * The longest text a key that is an array, map or ext renders as. Its
 * compact JSON text escapes the quotes of the keys inside it, so uncut, a
 * key holding a map keyed by such keys, and so on, doubles its length at
 * every level: gigabytes from a reply of a few hundred bytes.
 */
#define KEY_TEXT_MAX 256

/* Cut s to at most max (> 3) bytes, ending "..." where it was cut, never
 * inside a UTF-8 sequence; returns its length. */
static size_t text_cut(char *s, size_t max)
{
	size_t n = strlen(s);
	if (n <= max)
		return n;
	n = max - 3;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	memcpy(s + n, "...", 4);
	return n + 3;
}

/* The text a map key is rendered as, malloc'd, or NULL. */
static char *key_text(const allot_value *k, size_t *len)
{
	char num[40];
	int64_t i = 0;
	uint64_t u = 0;
	double f = 0;
	bool b = false;
	const char *s;
	switch (allot_value_type(k)) {
	case ALLOT_T_STR:
	case ALLOT_T_BIN:
		s = allot_value_str(k, len);
		return utf8_sanitize(s, *len, len);
	case ALLOT_T_UINT:
		allot_value_uint(k, &u);
		snprintf(num, sizeof(num), "%" PRIu64, u);
		break;
	case ALLOT_T_INT:
		allot_value_int(k, &i);
		snprintf(num, sizeof(num), "%" PRId64, i);
		break;
	case ALLOT_T_FLOAT:
		allot_value_float(k, &f);
		snprintf(num, sizeof(num), "%.17g", f);
		break;
	case ALLOT_T_BOOL:
		allot_value_bool(k, &b);
		snprintf(num, sizeof(num), "%s", b ? "true" : "false");
		break;
	case ALLOT_T_NIL:
	case ALLOT_T_NONE:
		snprintf(num, sizeof(num), "null");
		break;
	default: {
		/* Arrays, maps and ext: their compact JSON text, cut. */
		json_t *j = cli_json_from_value(k);
		char *text = j != NULL
		    ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
		json_decref(j);
		if (text != NULL)
			*len = text_cut(text, KEY_TEXT_MAX);
		return text;
	}
	}
	*len = strlen(num);
	return strdup(num);
}

static json_t *json_from_map(const allot_value *map)
{
	json_t *obj = json_object();
	if (obj == NULL)
		goto fail_object;
	for (size_t i = 0; i < allot_value_len(map); i++) {
		size_t key_len = 0;
		char *key = key_text(allot_value_key_at(map, i), &key_len);
		if (key == NULL)
			goto fail_entry;
		json_t *val = cli_json_from_value(allot_value_val_at(map, i));
		int rc = val != NULL ? json_object_setn_new(obj, key, key_len, val) : -1;
		free(key);
		if (rc != 0)
			goto fail_entry;
	}
	return obj;

fail_entry:
	json_decref(obj);
fail_object:
	return NULL;
}

static json_t *json_from_array(const allot_value *arr)
{
	json_t *a = json_array();
	if (a == NULL)
		return NULL;
	for (size_t i = 0; i < allot_value_len(arr); i++) {
		if (json_array_append_new(a, cli_json_from_value(allot_value_at(arr, i))) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

json_t *cli_json_from_value(const allot_value *v)
{
	int64_t i = 0;
	uint64_t u = 0;
	double f = 0;
	bool b = false;
	size_t n = 0;
	const char *s;
	switch (allot_value_type(v)) {
	case ALLOT_T_BOOL:
		allot_value_bool(v, &b);
		return json_boolean(b);
	case ALLOT_T_UINT:
		allot_value_uint(v, &u);
		if (u > INT64_MAX)
			return json_real((double)u);
		return json_integer((json_int_t)u);
	case ALLOT_T_INT:
		allot_value_int(v, &i);
		return json_integer((json_int_t)i);
	case ALLOT_T_FLOAT:
		allot_value_float(v, &f);
		return isfinite(f) ? json_real(f) : json_null();
	case ALLOT_T_STR:
	case ALLOT_T_BIN:
		s = allot_value_str(v, &n);
		return string_from_bytes(s, n);
	case ALLOT_T_EXT:
		return json_from_ext(v);
	case ALLOT_T_ARRAY:
		return json_from_array(v);
	case ALLOT_T_MAP:
		return json_from_map(v);
	case ALLOT_T_NIL:
	case ALLOT_T_NONE:
	default:
		return json_null();
	}
}

/* ---- calls with JSON ---- */

int cli_json_parse_args(const char *text, json_t **args_out, char *err,
    size_t err_len)
{
	*args_out = NULL;
	if (text == NULL || text[strspn(text, " \t\r\n")] == '\0')
		return ALLOT_OK;
	json_error_t jerr;
	json_t *args = json_loads(text,
	    JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (args == NULL)
		return json_fail(err, err_len, ALLOT_E_ARG,
		    "invalid JSON params at line %d, column %d: %s", jerr.line,
		    jerr.column, jerr.text);
	if (!json_is_object(args)) {
		json_decref(args);
		return json_fail(err, err_len, ALLOT_E_ARG,
		    "params must be a JSON object of named arguments");
	}
	*args_out = args;
	return ALLOT_OK;
}

/* Convert r's error and result into the caller's out pointers. */
static int reply_to_json(const allot_reply *r, json_t **error_out,
    json_t **result_out)
{
	json_t *error = NULL, *result = NULL;
	if (error_out != NULL && allot_value_type(allot_reply_error(r)) != ALLOT_T_NIL) {
		error = cli_json_from_value(allot_reply_error(r));
		if (error == NULL)
			goto fail_nomem;
	}
	if (result_out != NULL) {
		result = cli_json_from_value(allot_reply_result(r));
		if (result == NULL)
			goto fail_nomem;
	}
	if (error_out != NULL)
		*error_out = error;
	if (result_out != NULL)
		*result_out = result;
	return ALLOT_OK;

fail_nomem:
	json_decref(error);
	return ALLOT_E_NOMEM;
}

/* cli_json_call(), with a failure's message in err (may be NULL). */
static int call_json(allot_ctx *c, const char *method, json_t *args,
    json_t **error_out, json_t **result_out, char *err, size_t err_len)
{
	if (error_out != NULL)
		*error_out = NULL;
	if (result_out != NULL)
		*result_out = NULL;
	if (args != NULL && !json_is_object(args))
		return json_fail(err, err_len, ALLOT_E_ARG,
		    "params must be a JSON object of named arguments");
	allot_builder *b = NULL;
	if (args != NULL) {
		b = allot_builder_create();
		if (b == NULL)
			return json_fail(err, err_len, ALLOT_E_NOMEM, "out of memory");
		int rc = cli_json_build(b, args, err, err_len);
		if (rc < 0) {
			allot_builder_destroy(b);
			return rc;
		}
	}
	allot_reply *r = NULL;
	int rc = allot_call(c, method, b, &r);
	allot_builder_destroy(b);
	if (rc == 0 || rc == ALLOT_E_SERVER)
		rc = reply_to_json(r, error_out, result_out);
	else
		json_fail(err, err_len, rc, "%s", allot_errstr(c));
	if (rc == ALLOT_E_NOMEM)
		json_fail(err, err_len, rc, "out of memory");
	allot_reply_free(r);
	return rc;
}

int cli_json_call(allot_ctx *c, const char *method, json_t *args,
    json_t **error_out, json_t **result_out)
{
	return call_json(c, method, args, error_out, result_out, NULL, 0);
}

int cli_json_call_text(allot_ctx *c, const char *method, const char *args_json,
    json_t **error_out, json_t **result_out, char *err, size_t err_len)
{
	json_t *args = NULL;
	if (error_out != NULL)
		*error_out = NULL;
	if (result_out != NULL)
		*result_out = NULL;
	int rc = cli_json_parse_args(args_json, &args, err, err_len);
	if (rc < 0)
		return rc;
	rc = call_json(c, method, args, error_out, result_out, err, err_len);
	json_decref(args);
	return rc;
}
