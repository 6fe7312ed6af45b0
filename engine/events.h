/*
 * events.h - subscriptions and the events of each loop turn.
 *
 * The core notes what its changes touched (core.h, "What changed") only
 * while the events are active: some connection subscribes, or the Redis
 * event stream is on. Once per loop turn (a check handle, and first thing
 * in every journal seal so that a change's events join its batch) the
 * events drain the core's account, number each event (seq), append it to
 * the stream (persist_append_event) and queue it as a notification on
 * each subscriber whose topics and skus it matches, behind the
 * connection's replies and gated like them on the journal in sync mode.
 * A subscriber with more than subscriber_bytes_max unsent is cut off
 * there and then; nothing else waits for it.
 */
#ifndef ALLOT_ENGINE_EVENTS_H
#define ALLOT_ENGINE_EVENTS_H

#include "core.h"
#include "event.h"
#include "persist.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct events events;
typedef struct events_sub events_sub;
struct dispatch;
struct dispatch_peer;

typedef struct events_config {
	size_t subscriber_bytes_max; /* unsent notifications before a cut */
} events_config;

/*
 * Events on loop for the dispatch's core; p (NULL: durability none) gives
 * the stream when it has one, and seq the last seq used (the stream's
 * newest, from recovery). NULL without memory.
 */
events *events_create(uv_loop_t *loop, struct dispatch *d, persist *p, const events_config *cfg,
    uint64_t seq);
/* Close the handle; free after the loop ended. Both accept NULL. */
void events_close(events *ev);
void events_destroy(events *ev);

/*
 * subscribe on peer's connection (the peer lives in a conn, conn.h):
 * replaces what it had. 0, or CORE_E_BUSY without memory (message says so).
 */
int events_subscribe(events *ev, struct dispatch_peer *peer, const proto_subscribe *s,
    char *message, size_t message_len);
/* unsubscribe, and a connection going away: nothing more is queued. */
void events_unsubscribe(events *ev, struct dispatch_peer *peer);
/* The topics peer's connection is subscribed to (0: none). */
uint32_t events_topics(const struct dispatch_peer *peer);

/* Drain the core's account of this turn's changes now. */
void events_drain(events *ev);

/* For stats and metrics. */
uint32_t events_subscriber_count(const events *ev);
typedef struct events_stats {
	uint32_t subscribers;
	uint64_t seq;              /* the last event's */
	uint64_t published;        /* events made since start */
	uint64_t notifications;    /* queued to subscribers */
	uint64_t subscribers_cut;  /* disconnected for being too far behind */
	uint64_t lost;             /* changes the core could not keep, stream events not written */
} events_stats;
void events_stats_get(const events *ev, events_stats *out);

#endif
