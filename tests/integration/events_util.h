/*
 * events_util.h - reading events as the project's wire client sees them,
 * for test_events.c and test_events_stream.c.
 */
#ifndef ALLOT_TESTS_EVENTS_UTIL_H
#define ALLOT_TESTS_EVENTS_UTIL_H

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "allot/protocol.h"
#include "harness.h"
#include "wire_client.h"

/* One event, its strings copied. Absent numbers are -1. */
typedef struct ev {
	char topic[32];
	int64_t seq, at;
	char sku[72], location[72];
	int64_t on_hand, reserved, committed, available, threshold;
	char reservation_id[32], order_id[136], status[16];
} ev;

/* One event's map {topic, seq, at, ...}, as notifications and the event
 * stream's entries carry it. */
static inline void ev_read_map(mp_cursor map, ev *e)
{
	memset(e, 0, sizeof(*e));
	cr_assert(wire_get_text(map, "topic", e->topic, sizeof(e->topic)), "an event without topic");
	cr_assert(wire_get_int(map, "seq", &e->seq) && wire_get_int(map, "at", &e->at),
	    "a %s event without seq or at", e->topic);
	int64_t *nums[] = { &e->on_hand, &e->reserved, &e->committed, &e->available, &e->threshold };
	const char *keys[] = { "on_hand", "reserved", "committed", "available", "threshold" };
	for (size_t i = 0; i < 5; i++)
		if (!wire_get_int(map, keys[i], nums[i]))
			*nums[i] = -1;
	wire_get_text(map, "sku", e->sku, sizeof(e->sku));
	wire_get_text(map, "location", e->location, sizeof(e->location));
	wire_get_text(map, "reservation_id", e->reservation_id, sizeof(e->reservation_id));
	wire_get_text(map, "order_id", e->order_id, sizeof(e->order_id));
	wire_get_text(map, "status", e->status, sizeof(e->status));
}

/* The next message on c, which must be an event notification:
 * [2, "event", [{...}]]. WIRE_OK, or the wire status (timeout, closed). */
static inline int ev_next(wire_conn *c, int64_t deadline, ev *e)
{
	mp_cursor m;
	int rc = wire_next(c, deadline, &m);
	if (rc != WIRE_OK)
		return rc;
	uint32_t n, np;
	uint64_t type;
	const char *name;
	uint32_t name_len;
	bool ok = mp_read_array(&m, &n) && n == 3 && mp_read_uint(&m, &type) &&
	    type == ALLOT_MSG_NOTIFICATION && mp_read_str(&m, &name, &name_len) &&
	    name_len == 5 && memcmp(name, "event", 5) == 0 && mp_read_array(&m, &np) && np == 1;
	cr_assert(ok, "a message that is not an event notification");
	ev_read_map(m, e);
	return WIRE_OK;
}

/* The next event, which must come within ms. */
static inline void ev_expect(wire_conn *c, int ms, ev *e)
{
	int rc = ev_next(c, harness_now_ms() + ms, e);
	cr_assert_eq(rc, WIRE_OK, "no event within %d ms (%d): %s", ms, rc, c->error);
}

#endif
