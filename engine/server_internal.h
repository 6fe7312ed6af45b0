/*
 * server_internal.h - the server's state, shared by server.c (listener,
 * connections, the request path, timers) and server_control.c (signals,
 * shutdown, the stats the server keeps). Only those two engine/ files of
 * the server include it; nothing else looks inside.
 */
#ifndef ALLOT_ENGINE_SERVER_INTERNAL_H
#define ALLOT_ENGINE_SERVER_INTERNAL_H

#include "conn.h"
#include "core.h"
#include "dispatch.h"
#include "events.h"
#include "fair.h"
#include "http.h"
#include "iothread.h"
#include "metrics.h"
#include "persist.h"
#include "server.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct server {
	const server_config *cfg;
	core *core;
	uv_loop_t *loop;
	uv_tcp_t listener;
	uv_pipe_t unix_listener;
	bool unix_listening;  /* unix_listener is initialised */
	bool unix_made;       /* the socket file is ours to remove */
	uv_timer_t sweep;
	uv_timer_t shutdown_timer;
	uv_signal_t sigint, sigterm, sighup;
	dispatch dispatch;
	conn *conns;
	conn *waiting;        /* connections whose replies wait */
	fair fair;            /* the frame budget's backlog, the timeouts */
	uint64_t next_conn_id;
	uint64_t connections_current;
	uint64_t connections_total;
	uint64_t connections_rejected;
	uint64_t loop_busy_max_us; /* the longest loop turn */
	bool stopping;
	persist *persist;
	events *events;       /* subscriptions and the turn's events */
	uint64_t acked_lsn;
	uv_prepare_t busy_meter;
	uint64_t turn_hr, turn_idle;
	metrics *metrics;     /* NULL without --metrics */
	http *http;
	iothreads *io;        /* --io-threads: the sockets' threads; else NULL */
};

/* server.c, for server_control.c. */

/* Stop reading; send what is owed, then close. */
void conn_finish(conn *cn);

/* server_control.c, for server.c. */

/* The figures of `stats` that the server keeps (dispatch.h's
 * server_stats hook; ud is the server). */
void server_stats_fill(void *ud, proto_server_stats *s);
/* Arm SIGINT and SIGTERM (graceful stop, then the shutdown timeout) and
 * SIGHUP (the auth file read again). */
void server_signals_start(server *srv);

#endif
