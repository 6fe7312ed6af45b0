/*
 * lib.h - what liballot's files share (private to proto/client/).
 */
#ifndef ALLOT_CLIENT_LIB_H
#define ALLOT_CLIENT_LIB_H

#include "allot/allot.h"
#include "mp.h"

#include <stddef.h>
#include <stdint.h>

/*
 * One value of a reply. A str, bin or ext points at a NUL-terminated copy
 * in the reply's string area; an array's elements, and a map's keys and
 * values (alternating, key first), are consecutive nodes of the reply.
 */
struct allot_value {
	uint8_t type;     /* allot_type */
	int8_t ext_type;
	uint32_t len;     /* bytes, elements or pairs */
	union {
		bool b;
		int64_t i;
		uint64_t u;
		double f;
		const char *s;
		allot_value *items;
	} via;
};

/* One message, its values, strings and raw bytes in one allocation. */
struct allot_reply {
	allot_reply_type kind;
	uint32_t msgid;
	const allot_value *error;  /* responses */
	const allot_value *result;
	const char *method;        /* notifications */
	const allot_value *params;
	const uint8_t *raw;
	size_t raw_len;
	allot_value *nodes;
	size_t nodes_len;
};

struct allot_builder {
	mp_buf buf;
};

/*
 * Decode the whole frame frame[0..len), which the reader has accepted as
 * one value within the limits, into a new reply. Returns 0, ALLOT_E_NOMEM,
 * or ALLOT_E_PROTOCOL (why says what) when it is not a msgpack-rpc response
 * or notification.
 */
int reply_decode(const uint8_t *frame, size_t len, allot_reply **out,
    const char **why);

/* Whether p[0..len) is exactly one well-formed MessagePack value. */
bool lib_is_one_value(const void *p, size_t len);

/* Record a failure on c: status and a formatted message. Returns status. */
int lib_fail(allot_ctx *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Wipe what c's output buffer held (a token), sent or not. */
void lib_wipe_output(allot_ctx *c);

#endif
