/*
 * event.c - subscribe's params, and events as notifications and stream
 * entries (event.h).
 */
#include "event.h"

#include "params.h"
#include "request.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const topic_names[EVENT_TOPIC_COUNT] = {
	"stock", "low_stock", "out_of_stock", "back_in_stock", "reservation",
};

const char *event_topic_name(uint32_t topic)
{
	for (uint32_t i = 0; i < EVENT_TOPIC_COUNT; i++)
		if (topic == 1u << i)
			return topic_names[i];
	return NULL;
}

void event_write_topics(mp_buf *out, uint32_t topics)
{
	mp_write_array(out, (uint32_t)__builtin_popcount(topics & EVENT_TOPICS_ALL));
	for (uint32_t i = 0; i < EVENT_TOPIC_COUNT; i++)
		if (topics & (1u << i))
			mp_write_cstr(out, topic_names[i]);
}

/* ---- subscribe {topics, skus?} ----------------------------------------- */

static int parse_topics(params *p, uint32_t *topics)
{
	uint32_t n;
	if (params_array(p, "topics", 64, "topics", &n))
		return -1;
	if (n == 0)
		return params_fail(p, CORE_E_BAD_REQUEST,
		    "topics: empty; name at least one, or call unsubscribe to stop");
	for (uint32_t i = 0; i < n; i++) {
		char field[32];
		core_str s = { NULL, 0 };
		snprintf(field, sizeof(field), "topics[%u]", i);
		if (params_str(p, field, &s))
			return -1;
		uint32_t bit = 0;
		for (uint32_t t = 0; s.p && t < EVENT_TOPIC_COUNT; t++)
			if (key_is(s, topic_names[t]))
				bit = 1u << t;
		if (bit == 0)
			return params_fail(p, CORE_E_BAD_REQUEST, "%s: must be stock, low_stock, "
			    "out_of_stock, back_in_stock or reservation", field);
		*topics |= bit;
	}
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	const core_str *x = a, *y = b;
	int n = memcmp(x->p, y->p, x->len < y->len ? x->len : y->len);
	return n ? n : (x->len > y->len) - (x->len < y->len);
}

static int parse_skus(proto_decoder *d, params *p, proto_subscribe *s)
{
	uint32_t n;
	if (params_array(p, "skus", d->limits.avail_skus_max, "skus per subscription", &n))
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		char field[32];
		snprintf(field, sizeof(field), "skus[%u]", i);
		d->skus[i] = (core_str){ NULL, 0 };
		if (params_str(p, field, &d->skus[i]))
			return -1;
		if (!core_name_valid(d->skus[i], CORE_NAME_MAX))
			return params_fail(p, CORE_E_BAD_REQUEST,
			    "%s: must be 1 to %d bytes without control characters", field, CORE_NAME_MAX);
	}
	if (n == 0)
		return params_fail(p, CORE_E_BAD_REQUEST, "skus: empty; leave it out for every sku");
	/* Sorted for the engine's lookups; repeats dropped. */
	qsort(d->skus, n, sizeof(*d->skus), cmp_name);
	uint32_t unique = 0;
	for (uint32_t i = 0; i < n; i++)
		if (unique == 0 || cmp_name(&d->skus[unique - 1], &d->skus[i]) != 0)
			d->skus[unique++] = d->skus[i];
	s->skus = d->skus;
	s->nskus = unique;
	return 0;
}

int proto_decode_subscribe(proto_decoder *d, params *p, proto_request *req)
{
	proto_subscribe *s = &req->u.subscribe;
	core_str key;
	*s = (proto_subscribe){ 0 };
	while (params_next(p, &key)) {
		int rc = 0;
		if (key_is(key, "topics"))
			rc = parse_topics(p, &s->topics);
		else if (key_is(key, "skus"))
			rc = parse_skus(d, p, s);
		else
			params_skip(p);
		if (rc)
			return -1;
	}
	return s->topics ? 0 : params_missing(p, "topics");
}

/* ---- an event ---------------------------------------------------------- */

/* Fields after topic, seq and at, by topic. */
static uint32_t topic_fields(uint32_t topic)
{
	switch (topic) {
	case EVENT_STOCK: return 6;
	case EVENT_LOW_STOCK: return 3;
	case EVENT_OUT_OF_STOCK: return 1;
	case EVENT_BACK_IN_STOCK: return 2;
	case EVENT_RESERVATION: return 3;
	}
	return 0;
}

/* A field's key, when the event is written as a map. */
#define KEY(out, keys, lit) \
	do { \
		if (keys) \
			mp_write_lit(out, lit); \
	} while (0)

/*
 * The event's fields in their one order: as a map {topic, seq, at, ...}
 * (keys true: a notification) or as an array of the same values (the
 * stream's item), so the two can never disagree.
 */
static void write_event(mp_buf *out, const proto_event *e, bool keys)
{
	assert(event_topic_name(e->topic) != NULL);
	assert(e->seq > 0);
	uint32_t n = 3 + topic_fields(e->topic);
	if (keys)
		mp_write_map(out, n);
	else
		mp_write_array(out, n);
	KEY(out, keys, "topic");
	mp_write_cstr(out, event_topic_name(e->topic));
	KEY(out, keys, "seq");
	mp_write_uint(out, e->seq);
	KEY(out, keys, "at");
	mp_write_int(out, e->at_ms);
	if (e->topic == EVENT_RESERVATION) {
		KEY(out, keys, "reservation_id");
		mp_write_cstr(out, e->reservation_id);
		KEY(out, keys, "order_id");
		mp_write_str(out, e->order_id.p, e->order_id.len);
		KEY(out, keys, "status");
		mp_write_cstr(out, e->status);
		return;
	}
	KEY(out, keys, "sku");
	mp_write_str(out, e->sku.p, e->sku.len);
	if (e->topic == EVENT_STOCK) {
		KEY(out, keys, "location");
		mp_write_str(out, e->location.p, e->location.len);
		KEY(out, keys, "on_hand");
		mp_write_int(out, e->on_hand);
		KEY(out, keys, "reserved");
		mp_write_int(out, e->reserved);
		KEY(out, keys, "committed");
		mp_write_int(out, e->committed);
	}
	if (e->topic == EVENT_STOCK || e->topic == EVENT_LOW_STOCK || e->topic == EVENT_BACK_IN_STOCK) {
		KEY(out, keys, "available");
		mp_write_int(out, e->available);
	}
	if (e->topic == EVENT_LOW_STOCK) {
		KEY(out, keys, "threshold");
		mp_write_int(out, e->threshold);
	}
}

void event_write_item(mp_buf *out, const proto_event *e)
{
	write_event(out, e, false);
}

void event_write_notification(mp_buf *out, const proto_event *e)
{
	mp_write_array(out, 3);
	mp_write_uint(out, 2);
	mp_write_lit(out, "event");
	mp_write_array(out, 1);
	write_event(out, e, true);
}
