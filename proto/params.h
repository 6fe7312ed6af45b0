/*
 * params.h - reading a method's named arguments from its params map.
 *
 * Every reader takes the field's name so the error message can name it, as
 * the contract asks ("lines[2].qty: must be an integer"). A nil value reads
 * as absent, so clients that send null for "not given" work. Readers check
 * types only; the core checks ranges and meaning.
 */
#ifndef ALLOT_PROTO_PARAMS_H
#define ALLOT_PROTO_PARAMS_H

#include "core.h"
#include "mp.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef struct params {
	mp_cursor cur;
	uint32_t left; /* pairs not yet read */
	int code;      /* CORE_E_* of the first error */
	char message[200];
} params;

/* Start on a params map; c may be NULL for no params. */
void params_init(params *p, mp_cursor *c, uint32_t pairs);
/* Next key; false at the end. Keys that are not strings are skipped with
 * their values (unknown keys are ignored by the contract). */
bool params_next(params *p, core_str *key);
static inline bool key_is(core_str k, const char *name)
{
	size_t n = strlen(name);
	return k.len == n && memcmp(k.p, name, n) == 0;
}
/* Skip the current value. */
void params_skip(params *p);

/*
 * An integer: any MessagePack integer within int64_t, or a float32/float64
 * whose value is an exact integer within it (JavaScript clients send
 * integers of 2^31 and above as float64). A fraction, NaN or an infinity is
 * not one. true and advances, or false leaving c where it was.
 */
bool params_read_whole(mp_cursor *c, int64_t *out);

/* Readers: 0 on success or nil (out untouched), -1 with p->message set.
 * params_int (and params_count) read with params_read_whole(). */
int params_str(params *p, const char *field, core_str *out);
int params_int(params *p, const char *field, int64_t *out);
/* An integer from 0 to max (BAD_REQUEST otherwise). */
int params_count(params *p, const char *field, int64_t max, int64_t *out);
int params_bool(params *p, const char *field, bool *out);
int params_double(params *p, const char *field, double *out);
/* An array header, at most max elements (TOO_LARGE beyond). */
int params_array(params *p, const char *field, uint32_t max, const char *what, uint32_t *n);
/* [{sku, qty}, ...] into lines[0..max). */
int params_lines(params *p, const char *field, core_line_req *lines, uint32_t max, uint32_t *n);

int params_fail(params *p, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A required field that did not come. */
int params_missing(params *p, const char *field);

#endif
