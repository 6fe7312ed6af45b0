/*
 * conn.h - one client connection of allotd's server, shared by server.c
 * (reading, the request path, writing) and fair.c (the frame budget's
 * backlog and the timeouts, which keep one connection from hurting the
 * others). Nothing else looks inside.
 */
#ifndef ALLOT_ENGINE_CONN_H
#define ALLOT_ENGINE_CONN_H

#include "dispatch.h"
#include "mp.h"
#include "outq.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct server server;
typedef struct fair fair;

typedef struct conn {
	union {
		uv_handle_t handle;
		uv_stream_t stream;
		uv_tcp_t tcp;   /* from the TCP listener */
		uv_pipe_t pipe; /* from the Unix socket's */
	} h;
	server *srv;
	fair *fair;
	struct conn *prev, *next;
	uint8_t *in;
	size_t in_len, in_cap;
	mp_reader reader; /* keeps its place in a frame that is still arriving */
	outq out;        /* replies not yet handed to libuv */
	mp_buf inflight; /* replies being written */
	uv_write_t wreq;
	dispatch_peer peer;
	bool writing;
	bool closing;         /* uv_close called */
	bool close_when_sent; /* no more reads; close once the output is out */
	bool counted;         /* counts against max_connections */
	uint64_t id;
	struct conn *wprev, *wnext; /* in the server's list of waiting conns */
	bool waiting;         /* replies wait on the journal or a snapshot */
	struct conn *bprev, *bnext; /* in the backlog (fair.h) */
	bool backlog;         /* complete frames wait past the turn's budget:
	                       * reading stops until they are handled */
	uint64_t read_at_ms;  /* loop time of the last bytes received (kept
	                       * only with an idle timeout) */
	uint64_t frame_since_ms; /* loop time a request still partial began
	                          * to arrive; 0 when none is */
} conn;

/* server.c, for fair.c. */

/* Handle one budget's worth of the complete requests buffered (queueing
 * the connection for a later turn when more are left) and send the
 * replies that may go. */
void conn_serve(conn *cn);
/* Read again after a backlog is handled. */
void conn_read_resume(conn *cn);
/* Close now; the memory goes in the close callback. */
void conn_close(conn *cn);
/* Send what may leave now (also events.c, after queueing notifications). */
void conn_flush(conn *cn);
/*
 * Answer the frame at cn->in + pos, which ends the stream (over a limit,
 * not MessagePack, or unfinished in time), with code and msg, and close
 * once it is sent. The answer echoes the request's msgid when its first
 * elements could be read, so that a generic client's pending call ends.
 */
void conn_refuse_frame(conn *cn, size_t pos, const char *code, const char *msg);

#endif
