/*
 * params.c - typed reads of named arguments (see params.h).
 */
#include "params.h"

#include <stdarg.h>
#include <string.h>

void params_init(params *p, mp_cursor *c, uint32_t pairs)
{
	if (c)
		p->cur = *c;
	else
		mp_cursor_init(&p->cur, "", 0);
	p->left = c ? pairs : 0;
	p->code = 0;
	p->message[0] = '\0';
}

int params_fail(params *p, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->message, sizeof(p->message), fmt, ap);
	va_end(ap);
	p->code = code;
	return -1;
}

int params_missing(params *p, const char *field)
{
	return params_fail(p, CORE_E_BAD_REQUEST, "%s: required", field);
}

bool params_next(params *p, core_str *key)
{
	while (p->left > 0) {
		p->left--;
		const char *s;
		uint32_t n;
		if (mp_read_str(&p->cur, &s, &n)) {
			*key = (core_str){ s, n };
			return true;
		}
		/* A key that is not a string: skip the pair. */
		if (!mp_skip(&p->cur) || !mp_skip(&p->cur))
			return false;
	}
	return false;
}

void params_skip(params *p)
{
	mp_skip(&p->cur);
}

int params_str(params *p, const char *field, core_str *out)
{
	if (mp_read_nil(&p->cur))
		return 0;
	const char *s;
	uint32_t n;
	if (!mp_read_str(&p->cur, &s, &n)) {
		params_skip(p);
		return params_fail(p, CORE_E_BAD_REQUEST, "%s: must be a string", field);
	}
	*out = (core_str){ s, n };
	return 0;
}

/*
 * The bounds of int64_t as doubles: -2^63 is exact, and 2^63 is the first
 * double above INT64_MAX, so a double d converts exactly when
 * -2^63 <= d < 2^63 and it has no fraction. NaN fails both comparisons.
 */
#define WHOLE_MIN (-9223372036854775808.0)
#define WHOLE_LIMIT 9223372036854775808.0

/* A float holding an exact integer within int64_t (see params_read_whole). */
static bool read_whole_float(mp_cursor *c, int64_t *out)
{
	if (mp_peek(c) != MP_T_FLOAT)
		return false;
	mp_cursor at = *c;
	double d;
	if (!mp_read_double(&at, &d) || !(d >= WHOLE_MIN && d < WHOLE_LIMIT))
		return false;
	int64_t v = (int64_t)d;
	if ((double)v != d)
		return false; /* a fraction */
	*out = v;
	*c = at;
	return true;
}

bool params_read_whole(mp_cursor *c, int64_t *out)
{
	return mp_read_int(c, out) || read_whole_float(c, out);
}

int params_int(params *p, const char *field, int64_t *out)
{
	if (mp_read_nil(&p->cur))
		return 0;
	/* Integers first: the common case costs what it did before floats. */
	if (mp_read_int(&p->cur, out) || read_whole_float(&p->cur, out))
		return 0;
	mp_type t = mp_peek(&p->cur);
	params_skip(p);
	return params_fail(p, CORE_E_BAD_REQUEST, "%s: must be an integer%s", field,
	    t == MP_T_UINT ? " within range" : t == MP_T_FLOAT ? " (a whole number within range)" : "");
}

int params_count(params *p, const char *field, int64_t max, int64_t *out)
{
	int64_t v = -1;
	if (mp_read_nil(&p->cur))
		return 0;
	if (params_int(p, field, &v))
		return -1;
	if (v < 0 || v > max)
		return params_fail(p, CORE_E_BAD_REQUEST, "%s: must be 0 to %lld", field, (long long)max);
	*out = v;
	return 0;
}

int params_bool(params *p, const char *field, bool *out)
{
	if (mp_read_nil(&p->cur))
		return 0;
	if (mp_read_bool(&p->cur, out))
		return 0;
	params_skip(p);
	return params_fail(p, CORE_E_BAD_REQUEST, "%s: must be true or false", field);
}

int params_double(params *p, const char *field, double *out)
{
	if (mp_read_nil(&p->cur))
		return 0;
	if (mp_read_double(&p->cur, out))
		return 0;
	params_skip(p);
	return params_fail(p, CORE_E_BAD_REQUEST, "%s: must be a number", field);
}

int params_array(params *p, const char *field, uint32_t max, const char *what, uint32_t *n)
{
	if (!mp_read_array(&p->cur, n)) {
		params_skip(p);
		return params_fail(p, CORE_E_BAD_REQUEST, "%s: must be an array", field);
	}
	if (*n > max)
		return params_fail(p, CORE_E_TOO_LARGE, "%s: at most %u %s", field, max, what);
	return 0;
}

static int read_line(params *p, const char *field, uint32_t i, core_line_req *line)
{
	uint32_t pairs;
	if (!mp_read_map(&p->cur, &pairs))
		return params_fail(p, CORE_E_BAD_REQUEST, "%s[%u]: must be a map {sku, qty}", field, i);
	params sub;
	params_init(&sub, &p->cur, pairs);
	core_str key;
	bool has_sku = false, has_qty = false;
	const char *bad = NULL;
	*line = (core_line_req){ { NULL, 0 }, 0 };
	while (bad == NULL && params_next(&sub, &key)) {
		if (key_is(key, "sku")) {
			if (params_str(&sub, "sku", &line->sku))
				bad = "sku";
			has_sku = line->sku.p != NULL;
		} else if (key_is(key, "qty")) {
			if (params_int(&sub, "qty", &line->qty))
				bad = "qty";
			has_qty = true;
		} else {
			params_skip(&sub);
		}
	}
	p->cur = sub.cur;
	if (bad) {
		/* sub.message starts with the bare field name: name it in full. */
		const char *why = sub.message + strlen(bad);
		return params_fail(p, sub.code, "%s[%u].%s%s", field, i, bad, why);
	}
	if (!has_sku || !has_qty)
		return params_fail(p, CORE_E_BAD_REQUEST, "%s[%u].%s: required", field, i,
		    has_sku ? "qty" : "sku");
	return 0;
}

int params_lines(params *p, const char *field, core_line_req *lines, uint32_t max, uint32_t *n)
{
	if (mp_read_nil(&p->cur)) {
		*n = 0;
		return 0;
	}
	if (params_array(p, field, max, "lines", n))
		return -1;
	for (uint32_t i = 0; i < *n; i++)
		if (read_line(p, field, i, &lines[i]))
			return -1;
	return 0;
}
