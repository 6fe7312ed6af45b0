/*
 * json.c - JSON <-> MessagePack for the client (see allot/client.h for the
 * mapping), and calls whose params and reply are JSON.
 *
 * Both directions recurse; the depth is bounded by ALLOT_JSON_DEPTH_MAX on
 * the way in and, on the way out, by msgpack-c's decoder, which refuses
 * more than 32 levels of nesting.
 */
#include "allot/client.h"
#include "fail.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ---- JSON to MessagePack ---- */

static int pack_value(msgpack_packer *pk, json_t *v, int depth, char *err,
    size_t err_len);

static int pack_object(msgpack_packer *pk, json_t *v, int depth, char *err,
    size_t err_len)
{
	const char *key;
	size_t key_len;
	json_t *val;
	if (msgpack_pack_map(pk, json_object_size(v)) != 0)
		return client_fail(err, err_len, ALLOT_CLIENT_ERR_NOMEM, "out of memory");
	json_object_keylen_foreach(v, key, key_len, val) {
		if (msgpack_pack_str(pk, key_len) != 0 ||
		    msgpack_pack_str_body(pk, key, key_len) != 0)
			return client_fail(err, err_len, ALLOT_CLIENT_ERR_NOMEM, "out of memory");
		int rc = pack_value(pk, val, depth + 1, err, err_len);
		if (rc < 0)
			return rc;
	}
	return ALLOT_CLIENT_OK;
}

static int pack_array(msgpack_packer *pk, json_t *v, int depth, char *err,
    size_t err_len)
{
	size_t i;
	json_t *val;
	if (msgpack_pack_array(pk, json_array_size(v)) != 0)
		return client_fail(err, err_len, ALLOT_CLIENT_ERR_NOMEM, "out of memory");
	json_array_foreach(v, i, val) {
		int rc = pack_value(pk, val, depth + 1, err, err_len);
		if (rc < 0)
			return rc;
	}
	return ALLOT_CLIENT_OK;
}

static int pack_value(msgpack_packer *pk, json_t *v, int depth, char *err,
    size_t err_len)
{
	if (depth > ALLOT_JSON_DEPTH_MAX)
		return client_fail(err, err_len, ALLOT_CLIENT_ERR_ARG,
		    "JSON nested deeper than %d levels", ALLOT_JSON_DEPTH_MAX);
	int rc;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return pack_object(pk, v, depth, err, err_len);
	case JSON_ARRAY:
		return pack_array(pk, v, depth, err, err_len);
	case JSON_STRING:
		rc = msgpack_pack_str(pk, json_string_length(v));
		if (rc == 0)
			rc = msgpack_pack_str_body(pk, json_string_value(v),
			    json_string_length(v));
		break;
	case JSON_INTEGER:
		rc = msgpack_pack_int64(pk, json_integer_value(v));
		break;
	case JSON_REAL:
		rc = msgpack_pack_double(pk, json_real_value(v));
		break;
	case JSON_TRUE:
		rc = msgpack_pack_true(pk);
		break;
	case JSON_FALSE:
		rc = msgpack_pack_false(pk);
		break;
	case JSON_NULL:
	default:
		rc = msgpack_pack_nil(pk);
		break;
	}
	return rc == 0 ? ALLOT_CLIENT_OK
	               : client_fail(err, err_len, ALLOT_CLIENT_ERR_NOMEM, "out of memory");
}

int allot_json_pack(msgpack_packer *pk, json_t *value, char *err,
    size_t err_len)
{
	if (value == NULL)
		return client_fail(err, err_len, ALLOT_CLIENT_ERR_ARG, "no JSON value");
	return pack_value(pk, value, 1, err, err_len);
}

/* ---- MessagePack to JSON ---- */

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

static json_t *json_from_ext(const msgpack_object_ext *ext)
{
	static const char digits[] = "0123456789abcdef";
	char *hex = malloc((size_t)ext->size * 2 + 1);
	if (hex == NULL)
		return NULL;
	for (uint32_t i = 0; i < ext->size; i++) {
		unsigned char b = (unsigned char)ext->ptr[i];
		hex[2 * i] = digits[b >> 4];
		hex[2 * i + 1] = digits[b & 0x0f];
	}
	hex[(size_t)ext->size * 2] = '\0';
	json_t *tag = json_pack("{s:{s:i,s:s}}", "$ext", "type", (int)ext->type,
	    "hex", hex);
	free(hex);
	return tag;
}

static json_t *from_msgpack(const msgpack_object *o);

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
static char *key_text(const msgpack_object *k, size_t *len)
{
	char num[40];
	switch (k->type) {
	case MSGPACK_OBJECT_STR:
		return utf8_sanitize(k->via.str.ptr, k->via.str.size, len);
	case MSGPACK_OBJECT_BIN:
		return utf8_sanitize(k->via.bin.ptr, k->via.bin.size, len);
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		snprintf(num, sizeof(num), "%" PRIu64, k->via.u64);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		snprintf(num, sizeof(num), "%" PRId64, k->via.i64);
		break;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		snprintf(num, sizeof(num), "%.17g", k->via.f64);
		break;
	case MSGPACK_OBJECT_BOOLEAN:
		snprintf(num, sizeof(num), "%s", k->via.boolean ? "true" : "false");
		break;
	case MSGPACK_OBJECT_NIL:
		snprintf(num, sizeof(num), "null");
		break;
	default: {
		/* Arrays, maps and ext: their compact JSON text, cut. */
		json_t *j = from_msgpack(k);
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

static json_t *json_from_map(const msgpack_object_map *map)
{
	json_t *obj = json_object();
	if (obj == NULL)
		goto fail_object;
	for (uint32_t i = 0; i < map->size; i++) {
		size_t key_len = 0;
		char *key = key_text(&map->ptr[i].key, &key_len);
		if (key == NULL)
			goto fail_entry;
		json_t *val = from_msgpack(&map->ptr[i].val);
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

static json_t *json_from_array(const msgpack_object_array *arr)
{
	json_t *a = json_array();
	if (a == NULL)
		return NULL;
	for (uint32_t i = 0; i < arr->size; i++) {
		if (json_array_append_new(a, from_msgpack(&arr->ptr[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *from_msgpack(const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		return json_null();
	case MSGPACK_OBJECT_BOOLEAN:
		return json_boolean(o->via.boolean);
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (o->via.u64 > INT64_MAX)
			return json_real((double)o->via.u64);
		return json_integer((json_int_t)o->via.u64);
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return json_integer((json_int_t)o->via.i64);
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return isfinite(o->via.f64) ? json_real(o->via.f64) : json_null();
	case MSGPACK_OBJECT_STR:
		return string_from_bytes(o->via.str.ptr, o->via.str.size);
	case MSGPACK_OBJECT_BIN:
		return string_from_bytes(o->via.bin.ptr, o->via.bin.size);
	case MSGPACK_OBJECT_EXT:
		return json_from_ext(&o->via.ext);
	case MSGPACK_OBJECT_ARRAY:
		return json_from_array(&o->via.array);
	case MSGPACK_OBJECT_MAP:
		return json_from_map(&o->via.map);
	}
	return json_null();
}

json_t *allot_json_from_msgpack(const msgpack_object *obj)
{
	return obj != NULL ? from_msgpack(obj) : json_null();
}

/* ---- calls with JSON ---- */

int allot_json_parse_params(const char *text, json_t **params_out,
    char *err, size_t err_len)
{
	*params_out = NULL;
	if (text == NULL || text[strspn(text, " \t\r\n")] == '\0')
		return ALLOT_CLIENT_OK;
	json_error_t jerr;
	json_t *params = json_loads(text,
	    JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
	    &jerr);
	if (params == NULL)
		return client_fail(err, err_len, ALLOT_CLIENT_ERR_ARG,
		    "invalid JSON params at line %d, column %d: %s", jerr.line,
		    jerr.column, jerr.text);
	if (!json_is_object(params)) {
		json_decref(params);
		return client_fail(err, err_len, ALLOT_CLIENT_ERR_ARG,
		    "params must be a JSON object of named arguments");
	}
	*params_out = params;
	return ALLOT_CLIENT_OK;
}

/* Convert reply's error and result into the caller's out pointers. */
static int reply_to_json(const allot_message *reply, json_t **error_out,
    json_t **result_out, char *err, size_t err_len)
{
	json_t *error = NULL, *result = NULL;
	if (error_out != NULL && reply->error.type != MSGPACK_OBJECT_NIL) {
		error = allot_json_from_msgpack(&reply->error);
		if (error == NULL)
			goto fail_nomem;
	}
	if (result_out != NULL) {
		result = allot_json_from_msgpack(&reply->result);
		if (result == NULL)
			goto fail_nomem;
	}
	if (error_out != NULL)
		*error_out = error;
	if (result_out != NULL)
		*result_out = result;
	return ALLOT_CLIENT_OK;

fail_nomem:
	json_decref(error);
	return client_fail(err, err_len, ALLOT_CLIENT_ERR_NOMEM, "out of memory");
}

int allot_client_call_params(allot_client *c, const char *method,
    json_t *params, json_t **error_out, json_t **result_out, char *err,
    size_t err_len)
{
	if (error_out != NULL)
		*error_out = NULL;
	if (result_out != NULL)
		*result_out = NULL;
	if (params != NULL && !json_is_object(params))
		return client_fail(err, err_len, ALLOT_CLIENT_ERR_ARG,
		    "params must be a JSON object of named arguments");

	msgpack_sbuffer sbuf;
	msgpack_sbuffer_init(&sbuf);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
	allot_message reply;
	allot_message_init(&reply);

	int rc = msgpack_pack_array(&pk, params != NULL ? 1 : 0) == 0
	    ? ALLOT_CLIENT_OK
	    : client_fail(err, err_len, ALLOT_CLIENT_ERR_NOMEM, "out of memory");
	if (rc == 0 && params != NULL)
		rc = allot_json_pack(&pk, params, err, err_len);
	if (rc == 0)
		rc = allot_client_call(c, method, sbuf.data, sbuf.size, &reply, err,
		    err_len);
	if (rc == 0)
		rc = reply_to_json(&reply, error_out, result_out, err, err_len);

	allot_message_clear(&reply);
	msgpack_sbuffer_destroy(&sbuf);
	return rc;
}

int allot_client_call_json(allot_client *c, const char *method,
    const char *params_json, json_t **error_out, json_t **result_out,
    char *err, size_t err_len)
{
	json_t *params = NULL;
	if (error_out != NULL)
		*error_out = NULL;
	if (result_out != NULL)
		*result_out = NULL;
	int rc = allot_json_parse_params(params_json, &params, err, err_len);
	if (rc < 0)
		return rc;
	rc = allot_client_call_params(c, method, params, error_out, result_out,
	    err, err_len);
	json_decref(params);
	return rc;
}
