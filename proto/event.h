/*
 * event.h - events on the wire: the topics, subscribe's params, and one
 * event as a map {topic, seq, at, ...}, which notifications carry
 * ([2, "event", [map]]), and as the array [topic, seq, at, ...] the Redis
 * event stream's entries carry.
 *
 * The engine decides what happened (engine/events.c, from the core's
 * account of its changes); this file only says how it reads.
 */
#ifndef ALLOT_PROTO_EVENT_H
#define ALLOT_PROTO_EVENT_H

#include "core.h"
#include "mp.h"

#include <stddef.h>
#include <stdint.h>

/* Topics, as bits of a subscription. */
enum event_topic {
	EVENT_STOCK = 1u << 0,         /* a record's available changed */
	EVENT_LOW_STOCK = 1u << 1,     /* a sku's total fell to or below its threshold */
	EVENT_OUT_OF_STOCK = 1u << 2,  /* a sku's total became 0 */
	EVENT_BACK_IN_STOCK = 1u << 3, /* a sku's total rose from 0 */
	EVENT_RESERVATION = 1u << 4,   /* a reservation's status changed */
};
#define EVENT_TOPICS_ALL 0x1fu
#define EVENT_TOPIC_COUNT 5

/* The wire name of one topic bit ("stock", ...). */
const char *event_topic_name(uint32_t topic);

/* subscribe {topics, skus?}: skus sorted, repeats dropped; nskus 0 for
 * every sku. */
typedef struct proto_subscribe {
	uint32_t topics;
	const core_str *skus;
	uint32_t nskus;
} proto_subscribe;

/* The names of the topics set in topics, as an array. */
void event_write_topics(mp_buf *out, uint32_t topics);

/* One event. Fields that do not apply to its topic are ignored. */
typedef struct proto_event {
	uint32_t topic;          /* one EVENT_* bit */
	uint64_t seq;
	int64_t at_ms;
	core_str sku;            /* all but reservation */
	core_str location;       /* stock */
	int64_t on_hand, reserved, committed; /* stock */
	int64_t available;       /* stock, low_stock, back_in_stock */
	int64_t threshold;       /* low_stock */
	const char *reservation_id, *status; /* reservation */
	core_str order_id;
} proto_event;

/* The event as an item of the Redis event stream: [topic, seq, at, ...],
 * the map's values in its order, keys left out (a stream keeps millions). */
void event_write_item(mp_buf *out, const proto_event *e);
/* The whole notification [2, "event", [map]]. */
void event_write_notification(mp_buf *out, const proto_event *e);

#endif
