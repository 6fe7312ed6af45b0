/*
 * fair.h - fair service: no connection may starve the others or hold a
 * slot for nothing (SECURITY.md).
 *
 * - The frame budget. A connection handles at most frames_per_turn
 *   requests per loop turn (server.c counts them). One with more left
 *   stops reading, so its input stays what is buffered, and joins the
 *   backlog; an idle handle then gives each connection of the backlog one
 *   more budget per loop turn, after that turn's reads, until it has none
 *   left and reads again. While the backlog is not empty the loop polls
 *   without blocking, so every other connection's request still comes in
 *   on the next turn: a pipelining client delays another's request by one
 *   budget's work at most, not by all it sent.
 * - The timeouts. One timer per server (the guard) walks the connections:
 *   one that began a request and has not finished it within
 *   frame_timeout_ms (slowloris) is answered and closed; one idle past
 *   idle_timeout_s (nothing received, nothing owed) is closed.
 */
#ifndef ALLOT_ENGINE_FAIR_H
#define ALLOT_ENGINE_FAIR_H

#include "conn.h"
#include "server.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

/* The guard looks every quarter of the shortest timeout, within these. */
#define FAIR_GUARD_MIN_MS 20
#define FAIR_GUARD_MAX_MS 1000

struct fair {
	uv_loop_t *loop;
	const server_config *cfg;
	conn **conns;          /* the server's list of connections */
	conn *backlog;         /* connections with requests past their budget */
	uv_idle_t turn;        /* active while the backlog is not empty */
	uv_timer_t guard;      /* the timeouts' sweep (unreferenced) */
	uint64_t idle_closed;
	uint64_t frame_timeouts;
	uint64_t budget_stops;  /* a connection stopped at its budget, more buffered */
};

/* Start on loop, for the connections on the list at *conns. The handles
 * close with the loop's others. */
void fair_start(fair *f, uv_loop_t *loop, const server_config *cfg, conn **conns);

/* Put cn in the backlog (it stops reading) or take it out (it reads again
 * unless it is closing or finishing). */
void fair_backlog(conn *cn, bool on);

#endif
