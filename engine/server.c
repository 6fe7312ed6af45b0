/*
 * server.c - listener, connections, request path, sweep and shutdown.
 *
 * The request path: bytes land in the connection's input buffer (libuv
 * reads straight into it), mp_scan() cuts complete messages off its front,
 * proto_handle_frame() runs each against the core and appends its reply to
 * the connection's output buffer, and after the whole read is handled the
 * replies go out in one write. Replies on a connection therefore leave in
 * request order, and a pipelining client gets one write per read.
 *
 * Memory per connection is bounded: the input buffer by the frame limit,
 * the output by output_bytes_max (a client that does not read its replies
 * is cut off rather than buffered for).
 */
#include "server.h"

#include "clock.h"
#include "journal.h"
#include "log.h"
#include "persist.h"

#include <allot/protocol.h>
#include <errno.h>
#include <inttypes.h>
#include <jemalloc/jemalloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#define READ_CHUNK (16u * 1024u)

typedef struct server server;

/*
 * A point in a connection's reply stream that output must not pass yet:
 * the start of a change's reply whose journal record Redis has not
 * acknowledged (sync mode), or the place of a reply the engine owes later
 * (snapshot). pos counts bytes since the connection opened.
 */
typedef struct gate {
	uint64_t pos;
	uint64_t lsn;   /* journal gate: released once acked_lsn >= lsn */
	uint64_t run;   /* deferred: the snapshot run that answers it */
	uint32_t msgid;
	bool deferred;
	bool resolved;  /* deferred: its reply is in place */
} gate;

#define CONN_DEFERRED_MAX 16

typedef struct conn {
	uv_tcp_t tcp;
	server *srv;
	struct conn *prev, *next;
	uint8_t *in;
	size_t in_len, in_cap;
	mp_buf out;      /* replies not yet handed to libuv */
	mp_buf inflight; /* replies being written */
	uv_write_t wreq;
	bool writing;
	bool closing;         /* uv_close called */
	bool close_when_sent; /* no more reads; close once the output is out */
	bool counted;         /* counts against max_connections */
	uint64_t id;
	uint64_t out_base;    /* bytes of replies taken off out's front so far */
	gate *gates;          /* gates[gate_head..ngates) are pending, in order */
	uint32_t gate_head, ngates, gates_cap;
	uint32_t deferred;    /* pending deferred replies */
	struct conn *wprev, *wnext; /* in the server's list of gated conns */
	bool waiting;
} conn;

struct server {
	const server_config *cfg;
	core *core;
	uv_loop_t *loop;
	uv_tcp_t listener;
	uv_timer_t sweep;
	uv_timer_t shutdown_timer;
	uv_signal_t sigint, sigterm;
	cmd_ctx ctx;
	cmd_server_stats stats;
	conn *conns;
	conn *waiting;        /* connections with gates */
	conn *current;        /* the connection being processed */
	uint64_t next_conn_id;
	bool stopping;
	persist *persist;
	persist_mode mode;
	uint64_t acked_lsn;
	uint64_t deferred_run; /* set by the snapshot hook for the current request */
	uv_prepare_t busy_meter;
	uint64_t turn_hr, turn_idle;
};

void server_config_default(server_config *cfg)
{
	*cfg = (server_config){
		.bind = ALLOT_DEFAULT_HOST,
		.port = ALLOT_DEFAULT_PORT,
		.max_connections = ALLOT_DEFAULT_MAX_CONNECTIONS,
		.output_bytes_max = ALLOT_DEFAULT_OUTPUT_BYTES_MAX,
		.frame = {
			.frame_bytes_max = ALLOT_DEFAULT_FRAME_BYTES_MAX,
			.depth_max = 16,
			.array_max = 100000,
			.map_max = 10000,
			.str_max = 65536,
		},
		.cmd = { .avail_skus_max = ALLOT_DEFAULT_AVAIL_SKUS_MAX },
		.sweep_interval_ms = 10,
		/* Expiring a hold costs 0.3 to 2 us (up to 4 when many due at
		 * once come out of the heap in no order of memory), forgetting
		 * one less: a tick stays within a millisecond or so, and
		 * requests run between ticks. */
		.sweep_budget = 256,
		.shutdown_timeout_ms = 5000,
	};
}

/* ---- connections -------------------------------------------------------- */

static void on_close(uv_handle_t *h)
{
	conn *cn = h->data;
	server *srv = cn->srv;
	if (cn->prev)
		cn->prev->next = cn->next;
	else
		srv->conns = cn->next;
	if (cn->next)
		cn->next->prev = cn->prev;
	if (cn->counted)
		srv->stats.connections_current--;
	if (cn->waiting) {
		if (cn->wprev)
			cn->wprev->wnext = cn->wnext;
		else
			srv->waiting = cn->wnext;
		if (cn->wnext)
			cn->wnext->wprev = cn->wprev;
	}
	log_debug("connection %" PRIu64 " closed", cn->id);
	free(cn->gates);
	free(cn->in);
	mp_buf_finish(&cn->out);
	mp_buf_finish(&cn->inflight);
	free(cn);
}

static void conn_close(conn *cn)
{
	if (cn->closing)
		return;
	cn->closing = true;
	uv_close((uv_handle_t *)&cn->tcp, on_close);
}

static void conn_flush(conn *cn);

static void on_write(uv_write_t *req, int status)
{
	conn *cn = req->data;
	cn->writing = false;
	mp_buf_reset(&cn->inflight);
	if (status < 0) {
		if (status != UV_ECANCELED)
			log_debug("connection %" PRIu64 ": write failed: %s", cn->id, uv_strerror(status));
		conn_close(cn);
		return;
	}
	conn_flush(cn);
}

static void conn_wait(conn *cn, bool on)
{
	server *srv = cn->srv;
	if (on == cn->waiting)
		return;
	cn->waiting = on;
	if (on) {
		cn->wprev = NULL;
		cn->wnext = srv->waiting;
		if (srv->waiting)
			srv->waiting->wprev = cn;
		srv->waiting = cn;
	} else {
		if (cn->wprev)
			cn->wprev->wnext = cn->wnext;
		else
			srv->waiting = cn->wnext;
		if (cn->wnext)
			cn->wnext->wprev = cn->wprev;
		cn->wprev = cn->wnext = NULL;
	}
}

/* Queue a gate at the end of the output; false without memory. */
static bool conn_gate(conn *cn, const gate *g)
{
	if (cn->gate_head == cn->ngates)
		cn->gate_head = cn->ngates = 0;
	if (cn->ngates == cn->gates_cap) {
		if (cn->gate_head > 0) {
			memmove(cn->gates, cn->gates + cn->gate_head, (cn->ngates - cn->gate_head) * sizeof(gate));
			cn->ngates -= cn->gate_head;
			cn->gate_head = 0;
		} else {
			uint32_t cap = cn->gates_cap ? cn->gates_cap * 2 : 8;
			gate *gs = realloc(cn->gates, cap * sizeof(gate));
			if (gs == NULL)
				return false;
			cn->gates = gs;
			cn->gates_cap = cap;
		}
	}
	cn->gates[cn->ngates++] = *g;
	conn_wait(cn, true);
	return true;
}

/* A journal gate for a change whose reply starts at pos. Gates within one
 * unsent batch are one: they are acknowledged together. */
static bool conn_gate_lsn(conn *cn, uint64_t pos, uint64_t lsn, uint64_t batch_first)
{
	if (cn->ngates > cn->gate_head) {
		gate *last = &cn->gates[cn->ngates - 1];
		if (!last->deferred && last->lsn >= batch_first) {
			last->lsn = lsn;
			return true;
		}
	}
	return conn_gate(cn, &(gate){ .pos = pos, .lsn = lsn });
}

/* Bytes at out's front that may go now; drops gates that have opened. */
static size_t conn_sendable(conn *cn)
{
	uint64_t acked = cn->srv->acked_lsn;
	while (cn->gate_head < cn->ngates) {
		gate *g = &cn->gates[cn->gate_head];
		bool open = g->deferred ? g->resolved : g->lsn <= acked;
		if (!open)
			return (size_t)(g->pos - cn->out_base);
		if (g->deferred)
			cn->deferred--;
		cn->gate_head++;
	}
	if (cn->waiting)
		conn_wait(cn, false);
	return cn->out.len;
}

/* Take n sent bytes off out's front. */
static void conn_consume(conn *cn, size_t n)
{
	if (n == cn->out.len) {
		mp_buf_reset(&cn->out);
	} else {
		memmove(cn->out.data, cn->out.data + n, cn->out.len - n);
		cn->out.len -= n;
	}
	cn->out_base += n;
}

/*
 * Send the replies that may go; close when asked to and all is sent. The
 * common case is one write() that takes everything: uv_try_write() does
 * just that. Only a remainder goes through uv_write(), because libuv 1.44
 * re-arms the socket's epoll registration after every completed uv_write(),
 * which costs an extra system call per reply.
 */
static void conn_flush(conn *cn)
{
	if (cn->closing || cn->writing)
		return;
	size_t n = conn_sendable(cn);
	if (n == 0) {
		if (cn->close_when_sent && cn->out.len == 0 && !cn->waiting)
			conn_close(cn);
		return;
	}
	uv_buf_t buf = uv_buf_init((char *)cn->out.data, (unsigned)n);
	int sent = uv_try_write((uv_stream_t *)&cn->tcp, &buf, 1);
	if (sent == (int)n) {
		conn_consume(cn, n);
		if (cn->close_when_sent && cn->out.len == 0 && !cn->waiting)
			conn_close(cn);
		return;
	}
	if (sent < 0 && sent != UV_EAGAIN) {
		log_debug("connection %" PRIu64 ": write failed: %s", cn->id, uv_strerror(sent));
		conn_close(cn);
		return;
	}
	size_t done = sent > 0 ? (size_t)sent : 0;
	mp_buf_reset(&cn->inflight);
	mp_write_raw(&cn->inflight, cn->out.data + done, n - done);
	if (mp_buf_failed(&cn->inflight)) {
		log_error("connection %" PRIu64 ": out of memory for its replies", cn->id);
		conn_close(cn);
		return;
	}
	conn_consume(cn, n);
	buf = uv_buf_init((char *)cn->inflight.data, (unsigned)cn->inflight.len);
	cn->wreq.data = cn;
	int rc = uv_write(&cn->wreq, (uv_stream_t *)&cn->tcp, &buf, 1, on_write);
	if (rc < 0) {
		log_debug("connection %" PRIu64 ": write failed: %s", cn->id, uv_strerror(rc));
		conn_close(cn);
		return;
	}
	cn->writing = true;
}

/* Stop reading; send what is owed, then close. */
static void conn_finish(conn *cn)
{
	if (cn->closing)
		return;
	uv_read_stop((uv_stream_t *)&cn->tcp);
	cn->close_when_sent = true;
	conn_flush(cn);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	conn *cn = h->data;
	size_t limit = cn->srv->cfg->frame.frame_bytes_max + READ_CHUNK;
	if (cn->in_cap - cn->in_len < READ_CHUNK && cn->in_cap < limit) {
		size_t cap = cn->in_cap ? cn->in_cap * 2 : READ_CHUNK;
		while (cap - cn->in_len < READ_CHUNK && cap < limit)
			cap *= 2;
		uint8_t *in = realloc(cn->in, cap);
		if (in) {
			cn->in = in;
			cn->in_cap = cap;
		}
	}
	*buf = uv_buf_init((char *)cn->in + cn->in_len, (unsigned)(cn->in_cap - cn->in_len));
}

static void refuse_stream(conn *cn, int rc, const char *why)
{
	const char *code = rc == MP_ERR_TOO_LARGE ? ALLOT_ERR_TOO_LARGE : ALLOT_ERR_BAD_REQUEST;
	char msg[200];
	snprintf(msg, sizeof(msg), "cannot decode the request stream: %s; closing the connection", why);
	proto_write_error_response(&cn->out, 0, code, msg);
	log_info("connection %" PRIu64 ": %s; closing", cn->id, why);
	cn->srv->stats.errors_total++;
	conn_finish(cn);
}

static void count_request(server *srv, const proto_frame_info *info)
{
	if (!info->replied)
		return;
	srv->stats.requests_total++;
	if (info->cmd)
		srv->stats.requests_by_cmd[info->cmd->id]++;
	if (info->code != CORE_OK)
		srv->stats.errors_total++;
}

/* Handle every complete message in the input buffer, in order. */
static void conn_process(conn *cn)
{
	server *srv = cn->srv;
	size_t pos = 0;
	srv->ctx.now_ms = clock_now_ms();
	core_advance(srv->core, srv->ctx.now_ms);
	if (srv->persist)
		srv->ctx.unavailable = persist_unavailable(srv->persist);
	srv->current = cn;
	while (pos < cn->in_len && !cn->close_when_sent) {
		size_t len;
		const char *why = NULL;
		int rc = mp_scan(cn->in + pos, cn->in_len - pos, &srv->cfg->frame, &len, &why);
		if (rc == MP_INCOMPLETE)
			break;
		if (rc != MP_OK) {
			refuse_stream(cn, rc, why ? why : "malformed MessagePack");
			break;
		}
		proto_frame_info info;
		size_t reply_at = cn->out.len;
		proto_handle_frame(&srv->ctx, cn->in + pos, len, &cn->out, &info);
		count_request(srv, &info);
		pos += len;
		bool gated = true;
		if (info.deferred) {
			gated = conn_gate(cn, &(gate){ .pos = cn->out_base + reply_at, .run = srv->deferred_run,
			    .msgid = info.msgid, .deferred = true });
			cn->deferred += gated;
		} else if (info.changed && srv->mode == PERSIST_SYNC) {
			uint64_t lsn = cmd_ctx_lsn(&srv->ctx);
			if (lsn > srv->acked_lsn)
				gated = conn_gate_lsn(cn, cn->out_base + reply_at, lsn, srv->ctx.journal->first_lsn);
		}
		if (!gated) {
			log_error("connection %" PRIu64 ": out of memory holding replies; closing it", cn->id);
			conn_close(cn);
			break;
		}
		if (cn->out.len + cn->inflight.len > srv->cfg->output_bytes_max || mp_buf_failed(&cn->out)) {
			log_warn("connection %" PRIu64 ": more than %zu bytes of replies unread; cutting it off",
			    cn->id, srv->cfg->output_bytes_max);
			conn_close(cn);
			break;
		}
	}
	srv->current = NULL;
	if (pos > 0) {
		memmove(cn->in, cn->in + pos, cn->in_len - pos);
		cn->in_len -= pos;
	}
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	conn *cn = s->data;
	if (nread < 0) {
		if (nread != UV_EOF)
			log_debug("connection %" PRIu64 ": read failed: %s", cn->id, uv_strerror((int)nread));
		conn_finish(cn);
		return;
	}
	if (nread == 0)
		return;
	cn->in_len += (size_t)nread;
	conn_process(cn);
	if (!cn->closing)
		conn_flush(cn);
}

static void on_connection(uv_stream_t *listener, int status)
{
	server *srv = listener->data;
	if (status < 0) {
		log_warn("accept failed: %s", uv_strerror(status));
		return;
	}
	conn *cn = calloc(1, sizeof(*cn));
	if (cn == NULL || uv_tcp_init(srv->loop, &cn->tcp) != 0) {
		free(cn);
		log_error("out of memory accepting a connection");
		return;
	}
	cn->srv = srv;
	cn->tcp.data = cn;
	cn->id = ++srv->next_conn_id;
	mp_buf_init(&cn->out);
	mp_buf_init(&cn->inflight);
	cn->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = cn;
	srv->conns = cn;
	if (uv_accept(listener, (uv_stream_t *)&cn->tcp) != 0) {
		conn_close(cn);
		return;
	}
	if (srv->stats.connections_current >= srv->cfg->max_connections) {
		srv->stats.connections_rejected++;
		proto_write_error_response(&cn->out, 0, ALLOT_ERR_BUSY,
		    "too many connections; try again later");
		cn->close_when_sent = true;
		conn_flush(cn);
		return;
	}
	cn->counted = true;
	srv->stats.connections_current++;
	srv->stats.connections_total++;
	uv_tcp_nodelay(&cn->tcp, 1);
	uv_read_start((uv_stream_t *)&cn->tcp, on_alloc, on_read);
	log_debug("connection %" PRIu64 " accepted", cn->id);
}

/* ---- timers, signals, shutdown ------------------------------------------- */

static void on_sweep(uv_timer_t *t)
{
	server *srv = t->data;
	uint32_t done = core_sweep(srv->core, clock_now_ms(), srv->cfg->sweep_budget);
	uint32_t forgot_resv, forgot_keys;
	core_sweep_forgot(srv->core, &forgot_resv, &forgot_keys);
	if (srv->ctx.journal && (forgot_resv || forgot_keys)) {
		journal_encode_sweep(&srv->ctx.journal->buf, core_now(srv->core), forgot_resv, forgot_keys);
		srv->ctx.journal->count++;
	}
	/* Behind: come back after the next poll for requests rather than a
	 * full period. Not 0 ms: libuv before 1.48 runs a timer re-armed at 0
	 * from its own callback again at once, starving the requests. */
	if (done >= srv->cfg->sweep_budget)
		uv_timer_start(t, on_sweep, 1, srv->cfg->sweep_interval_ms);
}

static void on_shutdown_timeout(uv_timer_t *t)
{
	server *srv = t->data;
	log_warn("shutdown: replies still unsent after %u ms; closing the remaining connections",
	    srv->cfg->shutdown_timeout_ms);
	for (conn *cn = srv->conns; cn; cn = cn->next)
		conn_close(cn);
	persist_close(srv->persist);
}

/* ---- durability hooks ------------------------------------------------------ */

static void on_acked(void *ud, uint64_t lsn)
{
	server *srv = ud;
	srv->acked_lsn = lsn;
	conn *next;
	for (conn *cn = srv->waiting; cn; cn = next) {
		next = cn->wnext;
		conn_flush(cn);
	}
}

static int on_snapshot_request(void *ud, char *message, size_t message_len)
{
	server *srv = ud;
	if (srv->current && srv->current->deferred >= CONN_DEFERRED_MAX) {
		snprintf(message, message_len, "%d snapshot requests are already waiting on this connection",
		    CONN_DEFERRED_MAX);
		return CORE_E_BUSY;
	}
	return persist_snapshot_request(srv->persist, &srv->deferred_run, message, message_len);
}

/* Put a snapshot's reply in place of every deferred gate of run or before. */
static void on_snapshot_done(void *ud, uint64_t run, int code, const char *message,
    const persist_snapshot_info *info)
{
	server *srv = ud;
	mp_buf reply;
	mp_buf_init(&reply);
	conn *next;
	for (conn *cn = srv->waiting; cn; cn = next) {
		next = cn->wnext;
		for (uint32_t i = cn->gate_head; i < cn->ngates; i++) {
			gate *g = &cn->gates[i];
			if (!g->deferred || g->resolved || g->run > run)
				continue;
			mp_buf_reset(&reply);
			if (code == 0) {
				mp_write_array(&reply, 4);
				mp_write_uint(&reply, ALLOT_MSG_RESPONSE);
				mp_write_uint(&reply, g->msgid);
				mp_write_nil(&reply);
				mp_write_map(&reply, 6);
				mp_write_lit(&reply, "lsn");
				mp_write_uint(&reply, info->lsn);
				mp_write_lit(&reply, "taken_at_ms");
				mp_write_int(&reply, info->taken_at_ms);
				mp_write_lit(&reply, "bytes");
				mp_write_uint(&reply, info->bytes);
				mp_write_lit(&reply, "chunks");
				mp_write_uint(&reply, info->chunks);
				mp_write_lit(&reply, "duration_ms");
				mp_write_uint(&reply, info->duration_ms);
				mp_write_lit(&reply, "fork_us");
				mp_write_uint(&reply, info->fork_us);
			} else {
				proto_write_error_response(&reply, g->msgid,
				    code == CORE_E_BUSY ? ALLOT_ERR_BUSY : ALLOT_ERR_UNAVAILABLE, message);
			}
			size_t at = (size_t)(g->pos - cn->out_base);
			if (mp_buf_failed(&reply) || !mp_buf_reserve(&cn->out, reply.len)) {
				conn_close(cn);
				break;
			}
			memmove(cn->out.data + at + reply.len, cn->out.data + at, cn->out.len - at);
			memcpy(cn->out.data + at, reply.data, reply.len);
			cn->out.len += reply.len;
			for (uint32_t j = i + 1; j < cn->ngates; j++)
				cn->gates[j].pos += reply.len;
			g->resolved = true;
		}
		conn_flush(cn);
	}
	mp_buf_finish(&reply);
}

/* The longest loop turn: wall time between two prepares less the time the
 * loop slept in poll. */
static void on_busy_meter(uv_prepare_t *h)
{
	server *srv = h->data;
	uint64_t now = uv_hrtime(), idle = uv_metrics_idle_time(srv->loop);
	if (srv->turn_hr) {
		uint64_t busy = (now - srv->turn_hr) - (idle - srv->turn_idle);
		if (busy / 1000 > srv->stats.loop_busy_max_us)
			srv->stats.loop_busy_max_us = busy / 1000;
	}
	srv->turn_hr = now;
	srv->turn_idle = idle;
}

static void close_handle(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
	server *srv = s->data;
	const char *name = signum == SIGINT ? "SIGINT" : "SIGTERM";
	if (srv->stopping) {
		log_warn("received %s again; closing the remaining connections now", name);
		for (conn *cn = srv->conns; cn; cn = cn->next)
			conn_close(cn);
		return;
	}
	srv->stopping = true;
	log_info("received %s; stopping: no new connections, sending the replies owed", name);
	uv_close((uv_handle_t *)&srv->listener, NULL);
	uv_close((uv_handle_t *)&srv->sweep, NULL);
	/* The signal handlers stay, so a repeated signal is handled rather
	 * than killing the process, but they no longer keep the loop alive. */
	uv_unref((uv_handle_t *)&srv->sigint);
	uv_unref((uv_handle_t *)&srv->sigterm);
	uv_timer_start(&srv->shutdown_timer, on_shutdown_timeout, srv->cfg->shutdown_timeout_ms, 0);
	uv_unref((uv_handle_t *)&srv->shutdown_timer);
	uv_close((uv_handle_t *)&srv->busy_meter, NULL);
	conn *next;
	for (conn *cn = srv->conns; cn; cn = next) {
		next = cn->next;
		conn_finish(cn);
	}
	persist_stop(srv->persist);
}

static void refresh_stats(cmd_server_stats *s)
{
	uint64_t epoch = 1;
	size_t len = sizeof(epoch);
	mallctl("epoch", &epoch, &len, &epoch, len);
	size_t v;
	len = sizeof(v);
	if (mallctl("stats.allocated", &v, &len, NULL, 0) == 0)
		s->memory_allocated = v;
	len = sizeof(v);
	if (mallctl("stats.resident", &v, &len, NULL, 0) == 0)
		s->memory_resident = v;
}

static int listen_on(server *srv)
{
	struct sockaddr_storage addr;
	int rc = uv_ip4_addr(srv->cfg->bind, srv->cfg->port, (struct sockaddr_in *)&addr);
	if (rc != 0)
		rc = uv_ip6_addr(srv->cfg->bind, srv->cfg->port, (struct sockaddr_in6 *)&addr);
	if (rc != 0) {
		log_error("--bind %s: not an IPv4 or IPv6 address", srv->cfg->bind);
		return -1;
	}
	uv_tcp_init(srv->loop, &srv->listener);
	srv->listener.data = srv;
	rc = uv_tcp_bind(&srv->listener, (struct sockaddr *)&addr, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&srv->listener, 4096, on_connection);
	if (rc != 0) {
		log_error("cannot listen on %s:%d: %s", srv->cfg->bind, srv->cfg->port, uv_strerror(rc));
		return -1;
	}
	struct sockaddr_storage bound;
	int namelen = sizeof(bound);
	uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&bound, &namelen);
	int port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
	                                             : ((struct sockaddr_in *)&bound)->sin_port);
	log_info("listening on %s:%d (max %u connections)", srv->cfg->bind, port, srv->cfg->max_connections);
	return 0;
}

int server_run(const server_config *cfg, core *c, const persist_config *pc, persist_state *st)
{
	server srv = { .cfg = cfg, .core = c };
	srv.loop = uv_default_loop();
	uv_loop_configure(srv.loop, UV_METRICS_IDLE_TIME);
	if (cmd_ctx_init(&srv.ctx, c, &cfg->cmd) != 0) {
		log_error("out of memory");
		return 1;
	}
	srv.stats.version = ALLOT_VERSION;
	srv.stats.durability = persist_mode_name(pc ? pc->mode : PERSIST_NONE);
	srv.stats.started_at_ms = clock_now_ms();
	srv.ctx.stats = &srv.stats;
	srv.ctx.refresh_stats = refresh_stats;
	signal(SIGPIPE, SIG_IGN);
	if (listen_on(&srv) != 0) {
		uv_walk(srv.loop, close_handle, NULL);
		uv_run(srv.loop, UV_RUN_DEFAULT);
		uv_loop_close(srv.loop);
		cmd_ctx_finish(&srv.ctx);
		return 1;
	}
	if (pc && pc->mode != PERSIST_NONE) {
		srv.mode = pc->mode;
		srv.acked_lsn = st->lsn;
		srv.persist = persist_create(srv.loop, pc, c, st, on_acked, on_snapshot_done, &srv);
		if (srv.persist == NULL) {
			log_error("out of memory");
			return 1;
		}
		srv.ctx.journal = persist_journal(srv.persist);
		srv.ctx.snapshot = on_snapshot_request;
		srv.ctx.snapshot_ud = &srv;
		srv.stats.write_durability = persist_write_stats;
		srv.stats.durability_ud = srv.persist;
	}
	uv_prepare_init(srv.loop, &srv.busy_meter);
	srv.busy_meter.data = &srv;
	uv_prepare_start(&srv.busy_meter, on_busy_meter);
	uv_unref((uv_handle_t *)&srv.busy_meter);
	uv_timer_init(srv.loop, &srv.sweep);
	srv.sweep.data = &srv;
	uv_timer_start(&srv.sweep, on_sweep, cfg->sweep_interval_ms, cfg->sweep_interval_ms);
	uv_timer_init(srv.loop, &srv.shutdown_timer);
	srv.shutdown_timer.data = &srv;
	uv_signal_init(srv.loop, &srv.sigint);
	uv_signal_init(srv.loop, &srv.sigterm);
	srv.sigint.data = srv.sigterm.data = &srv;
	uv_signal_start(&srv.sigint, on_signal, SIGINT);
	uv_signal_start(&srv.sigterm, on_signal, SIGTERM);

	uv_run(srv.loop, UV_RUN_DEFAULT);

	persist_close(srv.persist);
	uv_walk(srv.loop, close_handle, NULL);
	uv_run(srv.loop, UV_RUN_DEFAULT);
	int rc = uv_loop_close(srv.loop);
	persist_destroy(srv.persist);
	cmd_ctx_finish(&srv.ctx);
	if (rc != 0) {
		log_error("the loop did not close cleanly: %s", uv_strerror(rc));
		return 1;
	}
	log_info("stopped");
	return 0;
}
