/*
 * server.c - listener, connections, request path, sweep and shutdown.
 * Signals and the stats the server keeps are server_control.c's; the
 * state both share is server_internal.h's.
 *
 * The request path: bytes land in the connection's input buffer (libuv
 * reads straight into it), an mp_reader cuts complete messages off its
 * front (resuming inside a frame that is still arriving, never re-walking it),
 * dispatch_frame() (dispatch.c) handles each and appends its reply to the
 * connection's reply queue (outq.c), and after the whole read is handled
 * the replies that may leave go out in one write. Replies on a connection
 * therefore leave in request order, and a pipelining client gets one write
 * per read.
 *
 * Memory per connection is bounded: the input buffer by the frame limit,
 * the output by output_bytes_max (a client that does not read its replies
 * is cut off rather than buffered for).
 *
 * No connection may starve the others (SECURITY.md): each handles at most
 * frames_per_turn requests per loop turn, and one with more waiting stops
 * reading and is resumed on the next turn by the backlog handle, after the
 * others' reads; a connection idle past idle_timeout_s, or one that began a
 * request and has not finished it within frame_timeout_ms (slowloris), is
 * closed by one per-server sweep (the guard timer), not a timer each.
 */
#include "server.h"

#include "clock.h"
#include "conn.h"
#include "dispatch.h"
#include "events.h"
#include "fair.h"
#include "http.h"
#include "iothread.h"
#include "listener.h"
#include "log.h"
#include "notify.h"
#include "outq.h"
#include "persist.h"
#include "server_internal.h"

#include <allot/protocol.h>
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#define READ_CHUNK (16u * 1024u)

/* Buffers handed to one write: the open slots at the queue's front. */
#define CONN_IOV_MAX 16

void server_config_default(server_config *cfg)
{
	*cfg = (server_config){
		.bind = ALLOT_DEFAULT_HOST,
		.port = ALLOT_DEFAULT_PORT,
		.max_connections = ALLOT_DEFAULT_MAX_CONNECTIONS,
		.output_bytes_max = ALLOT_DEFAULT_OUTPUT_BYTES_MAX,
		.subscriber_bytes_max = ALLOT_DEFAULT_SUBSCRIBER_BYTES_MAX,
		.frames_per_turn = ALLOT_DEFAULT_FRAMES_PER_TURN,
		.idle_timeout_s = ALLOT_DEFAULT_IDLE_TIMEOUT_S,
		.frame_timeout_ms = ALLOT_DEFAULT_FRAME_TIMEOUT_MS,
		.frame = {
			.frame_bytes_max = ALLOT_DEFAULT_FRAME_BYTES_MAX,
			.depth_max = 16,
			.array_max = 100000,
			.map_max = 10000,
			.str_max = 65536,
		},
		.avail_skus_max = ALLOT_DEFAULT_AVAIL_SKUS_MAX,
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

static void conn_wait(conn *cn, bool on);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

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
	assert(cn->closing);
	if (cn->counted) {
		assert(srv->connections_current > 0);
		srv->connections_current--;
	}
	conn_wait(cn, false);
	fair_backlog(cn, false);
	events_unsubscribe(srv->events, &cn->peer);
	log_debug("connection %" PRIu64 " closed", cn->id);
	free(cn->in);
	outq_finish(&cn->out);
	mp_buf_finish(&cn->inflight);
	free(cn);
}

void conn_close(conn *cn)
{
	if (cn->closing)
		return;
	cn->closing = true;
	fair_backlog(cn, false);
	uv_close(&cn->h.handle, on_close);
}

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
	/* On the list exactly when waiting: first, or after someone. */
	assert(on ? cn->wprev == NULL && cn->wnext == NULL : cn->wprev != NULL || srv->waiting == cn);
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

/* Keep the server's list of connections whose replies wait current. */
static void conn_update_waiting(conn *cn)
{
	if (cn->srv->persist)
		conn_wait(cn, outq_waiting(&cn->out, cn->srv->acked_lsn));
}

static void conn_close_if_done(conn *cn)
{
	if (cn->close_when_sent && !cn->writing && outq_empty(&cn->out))
		conn_close(cn);
}

/* Hand libuv the rest of what try_write did not take, copied, since the
 * queue's buffers change before the write completes. */
static void conn_write_rest(conn *cn, uv_buf_t *bufs, uint32_t n, size_t done, size_t total)
{
	mp_buf_reset(&cn->inflight);
	for (uint32_t i = 0; i < n; i++) {
		size_t skip = done < bufs[i].len ? done : bufs[i].len;
		done -= skip;
		mp_write_raw(&cn->inflight, bufs[i].base + skip, bufs[i].len - skip);
	}
	if (mp_buf_failed(&cn->inflight)) {
		log_error("connection %" PRIu64 ": out of memory for its replies", cn->id);
		conn_close(cn);
		return;
	}
	outq_consume(&cn->out, total);
	uv_buf_t buf = uv_buf_init((char *)cn->inflight.data, (unsigned)cn->inflight.len);
	cn->wreq.data = cn;
	int rc = uv_write(&cn->wreq, &cn->h.stream, &buf, 1, on_write);
	if (rc < 0) {
		log_debug("connection %" PRIu64 ": write failed: %s", cn->id, uv_strerror(rc));
		conn_close(cn);
		return;
	}
	cn->writing = true;
}

/*
 * Send the replies that may go; close when asked to and all is sent. The
 * common case is one write() that takes everything: uv_try_write() does
 * just that. Only a remainder goes through uv_write(), because libuv 1.44
 * re-arms the socket's epoll registration after every completed uv_write(),
 * which costs an extra system call per reply.
 */
void conn_flush(conn *cn)
{
	const uint8_t *base[CONN_IOV_MAX];
	size_t lens[CONN_IOV_MAX];
	uv_buf_t bufs[CONN_IOV_MAX];
	uint32_t n;
	while (!cn->closing && !cn->writing &&
	    (n = outq_sendable(&cn->out, cn->srv->acked_lsn, base, lens, CONN_IOV_MAX)) > 0) {
		size_t total = 0;
		for (uint32_t i = 0; i < n; i++) {
			bufs[i] = uv_buf_init((char *)base[i], (unsigned)lens[i]);
			total += lens[i];
		}
		int sent = uv_try_write(&cn->h.stream, bufs, n);
		if (sent == (int)total) {
			outq_consume(&cn->out, total);
			if (cn->out.bytes == 0)
				break;
			continue;
		}
		if (sent < 0 && sent != UV_EAGAIN) {
			log_debug("connection %" PRIu64 ": write failed: %s", cn->id, uv_strerror(sent));
			conn_close(cn);
			return;
		}
		conn_write_rest(cn, bufs, n, sent > 0 ? (size_t)sent : 0, total);
	}
	if (cn->closing)
		return;
	conn_update_waiting(cn);
	conn_close_if_done(cn);
}

/* Stop reading; send what is owed, then close. */
void conn_finish(conn *cn)
{
	if (cn->closing)
		return;
	uv_read_stop(&cn->h.stream);
	cn->close_when_sent = true;
	fair_backlog(cn, false);
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

/* A reply the connection cannot take: out of memory, or more unread
 * than it may have. Either way the client is cut off. */
static bool conn_overfull_slow(conn *cn, bool queued)
{
	size_t max = cn->srv->cfg->output_bytes_max;
	if (!queued) {
		log_error("connection %" PRIu64 ": out of memory holding replies; closing it", cn->id);
		conn_close(cn);
		return true;
	}
	if (cn->out.bytes + cn->inflight.len > max) {
		log_warn("connection %" PRIu64 ": more than %zu bytes of replies unread; cutting it off",
		    cn->id, max);
		conn_close(cn);
		return true;
	}
	return false;
}

static inline bool conn_overfull(conn *cn, bool queued)
{
	if (queued && cn->out.bytes + cn->inflight.len <= cn->srv->cfg->output_bytes_max)
		return false;
	return conn_overfull_slow(cn, queued);
}

void conn_refuse_frame(conn *cn, size_t pos, const char *code, const char *msg)
{
	assert(pos <= cn->in_len);
	uint32_t msgid = proto_peek_msgid(cn->in + pos, cn->in_len - pos);
	mp_buf *out = outq_tail(&cn->out);
	if (out) {
		size_t before = out->len;
		encode_error_response(out, msgid, code, msg);
		outq_wrote(&cn->out, before, 0, 0);
	}
	dispatch_count_refusal(&cn->srv->dispatch);
	conn_finish(cn);
}

static void refuse_stream(conn *cn, size_t pos, int rc, const char *why)
{
	const char *code = rc == MP_ERR_TOO_LARGE ? ALLOT_ERR_TOO_LARGE : ALLOT_ERR_BAD_REQUEST;
	char msg[200];
	snprintf(msg, sizeof(msg), "cannot decode the request stream: %s; closing the connection", why);
	log_info("connection %" PRIu64 ": %s; closing", cn->id, why);
	conn_refuse_frame(cn, pos, code, msg);
}

/* Queue one frame's reply, as the dispatch says it may leave. */
static bool conn_queue(conn *cn, mp_buf *out, size_t before, const dispatch_reply *r)
{
	server *srv = cn->srv;
	/* out belongs to the queue: it may move once the queue takes a slot. */
	if (mp_buf_failed(out))
		return false;
	if (r->deferred)
		return outq_defer(&cn->out, r->msgid, r->run);
	if (!r->replied)
		return true;
	if (r->wait_lsn == 0)
		return outq_wrote(&cn->out, before, 0, 0);
	assert(srv->persist != NULL);
	return outq_wrote(&cn->out, before, r->wait_lsn, dispatch_batch_first_lsn(&srv->dispatch));
}

/* The dispatch asked to close (too many failed auth calls): what is owed
 * goes first. */
static void conn_close_asked(conn *cn)
{
	log_info("connection %" PRIu64 ": %d failed auth calls; closing", cn->id, ALLOT_AUTH_FAILURES_MAX);
	conn_finish(cn);
}

/*
 * Handle the complete messages in the input buffer, in order, at most the
 * turn's budget of them (frames_per_turn). Returns whether it stopped at the
 * budget with bytes still to look at.
 */
static bool conn_process(conn *cn)
{
	server *srv = cn->srv;
	size_t pos = 0;
	uint32_t frames = 0;
	bool more = false;
	dispatch_turn(&srv->dispatch, clock_now_ms());
	while (pos < cn->in_len && !cn->close_when_sent) {
		if (frames++ == srv->cfg->frames_per_turn) {
			more = true;
			break;
		}
		size_t len;
		const char *why = NULL;
		int rc = mp_reader_next(&cn->reader, cn->in + pos, cn->in_len - pos, &len, &why);
		if (rc == MP_INCOMPLETE)
			break;
		if (rc != MP_OK) {
			refuse_stream(cn, pos, rc, why ? why : "malformed MessagePack");
			break;
		}
		assert(len > 0 && len <= cn->in_len - pos);
		dispatch_reply r;
		mp_buf *out = outq_tail(&cn->out);
		size_t before = out ? out->len : 0;
		uint64_t start_ns = srv->metrics ? uv_hrtime() : 0;
		if (out)
			dispatch_frame(&srv->dispatch, &cn->peer, cn->in + pos, len, out, &r);
		pos += len;
		if (conn_overfull(cn, out && conn_queue(cn, out, before, &r)))
			break;
		if (srv->metrics && r.replied)
			metrics_reply(srv->metrics, r.cmd, start_ns, r.wait_lsn);
		if (r.close) {
			conn_close_asked(cn);
			break;
		}
	}
	assert(pos <= cn->in_len);
	srv->fair.budget_stops += more;
	if (pos > 0) {
		memmove(cn->in, cn->in + pos, cn->in_len - pos);
		cn->in_len -= pos;
	}
	/* A request left partly arrived began with this read (the one before
	 * it ended here) or earlier: the frame timeout runs from then. */
	if (__builtin_expect(cn->in_len == 0, 1))
		cn->frame_since_ms = 0;
	else if (pos > 0 || cn->frame_since_ms == 0)
		cn->frame_since_ms = uv_now(srv->loop);
	return more;
}

void conn_serve(conn *cn)
{
	bool more = conn_process(cn) && !cn->close_when_sent;
	if (!cn->closing) {
		if (more != cn->backlog)
			fair_backlog(cn, more);
		conn_flush(cn);
	}
	/* The read's replies are written, or wait on the journal, by now. */
	if (cn->srv->metrics)
		metrics_turn_end(cn->srv->metrics, uv_hrtime());
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
	assert(!cn->closing && !cn->backlog && (size_t)nread <= cn->in_cap - cn->in_len);
	cn->in_len += (size_t)nread;
	/* Only the idle timeout looks at it. */
	if (cn->srv->cfg->idle_timeout_s)
		cn->read_at_ms = uv_now(cn->srv->loop);
	conn_serve(cn);
}

void conn_read_resume(conn *cn)
{
	assert(!cn->closing && !cn->close_when_sent);
	uv_read_start(&cn->h.stream, on_alloc, on_read);
}

static void on_connection(uv_stream_t *listener, int status)
{
	server *srv = listener->data;
	if (status < 0) {
		log_warn("accept failed: %s", uv_strerror(status));
		return;
	}
	conn *cn = calloc(1, sizeof(*cn));
	bool tcp = listener->type == UV_TCP;
	if (cn == NULL || (tcp ? uv_tcp_init(srv->loop, &cn->h.tcp)
	                       : uv_pipe_init(srv->loop, &cn->h.pipe, 0)) != 0) {
		free(cn);
		log_error("out of memory accepting a connection");
		return;
	}
	cn->srv = srv;
	cn->fair = &srv->fair;
	cn->h.handle.data = cn;
	cn->id = ++srv->next_conn_id;
	cn->read_at_ms = uv_now(srv->loop);
	/* Without tokens every connection may call every method; with them,
	 * only ping and auth until auth succeeds. */
	dispatch_peer_init(&srv->dispatch, &cn->peer);
	outq_init(&cn->out);
	mp_reader_init(&cn->reader, &srv->cfg->frame);
	mp_buf_init(&cn->inflight);
	cn->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = cn;
	srv->conns = cn;
	if (uv_accept(listener, &cn->h.stream) != 0) {
		conn_close(cn);
		return;
	}
	if (srv->connections_current >= srv->cfg->max_connections) {
		srv->connections_rejected++;
		mp_buf *out = outq_tail(&cn->out);
		if (out) {
			encode_error_response(out, 0, ALLOT_ERR_BUSY, "too many connections; try again later");
			outq_wrote(&cn->out, 0, 0, 0);
		}
		cn->close_when_sent = true;
		conn_flush(cn);
		return;
	}
	cn->counted = true;
	srv->connections_current++;
	srv->connections_total++;
	if (tcp)
		uv_tcp_nodelay(&cn->h.tcp, 1);
	uv_read_start(&cn->h.stream, on_alloc, on_read);
	log_debug("connection %" PRIu64 " accepted%s", cn->id, tcp ? "" : " on the Unix socket");
}

/* ---- timers (signals and the stop are server_control.c's) ------------------ */

static void on_sweep(uv_timer_t *t)
{
	server *srv = t->data;
	uint32_t done = dispatch_sweep(&srv->dispatch, clock_now_ms(), srv->cfg->sweep_budget);
	/* Behind: come back after the next poll for requests rather than a
	 * full period. Not 0 ms: libuv before 1.48 runs a timer re-armed at 0
	 * from its own callback again at once, starving the requests. */
	if (done >= srv->cfg->sweep_budget)
		uv_timer_start(t, on_sweep, 1, srv->cfg->sweep_interval_ms);
}

/* ---- durability hooks ------------------------------------------------------ */

static void on_acked(void *ud, uint64_t lsn)
{
	server *srv = ud;
	/* Redis acknowledges the journal in order: the mark only moves on. */
	assert(lsn >= srv->acked_lsn);
	srv->acked_lsn = lsn;
	conn *next;
	for (conn *cn = srv->waiting; cn; cn = next) {
		next = cn->wnext;
		conn_flush(cn);
	}
	if (srv->metrics)
		metrics_acked(srv->metrics, lsn, uv_hrtime());
}

typedef struct snapshot_outcome {
	int code;
	const char *message;
	const persist_snapshot_info *info;
} snapshot_outcome;

static void fill_snapshot_reply(void *ud, mp_buf *buf, uint32_t msgid)
{
	const snapshot_outcome *o = ud;
	dispatch_snapshot_reply(buf, msgid, o->code, o->message, o->info);
}

/* A snapshot's reply for every request waiting on run or before. */
static void on_snapshot_done(void *ud, uint64_t run, int code, const char *message,
    const persist_snapshot_info *info)
{
	server *srv = ud;
	snapshot_outcome done = { code, message, info };
	conn *next;
	for (conn *cn = srv->waiting; cn; cn = next) {
		next = cn->wnext;
		uint32_t filled = outq_fill(&cn->out, run, fill_snapshot_reply, &done);
		assert(filled <= cn->peer.deferred);
		cn->peer.deferred -= filled;
		if (filled && !conn_overfull(cn, true))
			conn_flush(cn);
	}
}

/* The longest loop turn: wall time between two prepares less the time the
 * loop slept in poll. */
static void on_busy_meter(uv_prepare_t *h)
{
	server *srv = h->data;
	uint64_t now = uv_hrtime(), idle = uv_metrics_idle_time(srv->loop);
	if (srv->turn_hr) {
		uint64_t busy = (now - srv->turn_hr) - (idle - srv->turn_idle);
		if (busy / 1000 > srv->loop_busy_max_us)
			srv->loop_busy_max_us = busy / 1000;
		if (srv->metrics)
			metrics_hist_add(&srv->metrics->loop_busy, busy / 1000, busy);
	}
	srv->turn_hr = now;
	srv->turn_idle = idle;
}

static void close_handle(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* The TCP listener, and the Unix socket's with --unix. 0, or -1 logged. */
static int listen_on(server *srv)
{
	const server_config *cfg = srv->cfg;
	if (cfg->io_threads)
		return 0; /* the io threads listen (iothreads_start) */
	if (listener_tcp(srv->loop, &srv->listener, cfg->bind, cfg->port, cfg->max_connections,
	        on_connection, srv) != 0)
		return -1;
	if (cfg->unix_path == NULL)
		return 0;
	int rc = listener_unix(srv->loop, &srv->unix_listener, cfg->unix_path, on_connection, srv,
	    &srv->unix_listening);
	srv->unix_made = rc == 0;
	return rc;
}

/* The durability and the dispatch; false when out of memory. */
static bool server_start_request_path(server *srv, const persist_config *pc, persist_state *st)
{
	const core_config *cc = core_get_config(srv->core);
	proto_limits limits = {
		.lines_max = cc->lines_max,
		.avail_skus_max = srv->cfg->avail_skus_max,
		.locations_max = cc->locations_max,
		.ttl_max_ms = cc->ttl_max_ms,
	};
	persist_mode mode = pc ? pc->mode : PERSIST_NONE;
	if (mode != PERSIST_NONE) {
		srv->acked_lsn = st->lsn;
		srv->persist = persist_create(srv->loop, pc, srv->core, st, on_acked, on_snapshot_done, srv);
		if (srv->persist == NULL)
			return false;
	}
	if (dispatch_init(&srv->dispatch, srv->core, &limits, srv->persist, mode, clock_now_ms()) != 0)
		return false;
	srv->dispatch.server_stats = server_stats_fill;
	srv->dispatch.server_stats_ud = srv;
	dispatch_set_auth(&srv->dispatch, srv->cfg->auth);
	events_config ec = { .subscriber_bytes_max = srv->cfg->subscriber_bytes_max };
	srv->events = events_create(srv->loop, &srv->dispatch, srv->persist, &ec, st ? st->events_seq : 0);
	if (srv->events == NULL)
		return false;
	srv->dispatch.events = srv->events;
	if (srv->cfg->io_threads) {
		/* The prototype serves no subscriptions (iothread.h). */
		srv->dispatch.events = NULL;
		srv->dispatch.events_off = "subscribe is not served with --io-threads (a prototype); "
		    "start allotd without it to subscribe";
	}
	return true;
}

static void server_start_timers(server *srv)
{
	uv_prepare_init(srv->loop, &srv->busy_meter);
	srv->busy_meter.data = srv;
	uv_prepare_start(&srv->busy_meter, on_busy_meter);
	uv_unref((uv_handle_t *)&srv->busy_meter);
	uv_timer_init(srv->loop, &srv->sweep);
	srv->sweep.data = srv;
	uv_timer_start(&srv->sweep, on_sweep, srv->cfg->sweep_interval_ms, srv->cfg->sweep_interval_ms);
	server_signals_start(srv);
	fair_start(&srv->fair, srv->loop, srv->cfg, &srv->conns);
}

/* Close every handle left and end the loop; remove the Unix socket and
 * let go of the tokens. */
static int server_close_loop(server *srv)
{
	uv_walk(srv->loop, close_handle, NULL);
	uv_run(srv->loop, UV_RUN_DEFAULT);
	if (srv->unix_made)
		listener_unix_remove(srv->cfg->unix_path);
	auth_set_destroy(srv->dispatch.auth ? srv->dispatch.auth : srv->cfg->auth);
	srv->dispatch.auth = NULL;
	return uv_loop_close(srv->loop);
}

int server_run(const server_config *cfg, core *c, const persist_config *pc, persist_state *st)
{
	server srv = { .cfg = cfg, .core = c };
	srv.loop = uv_default_loop();
	uv_loop_configure(srv.loop, UV_METRICS_IDLE_TIME);
	signal(SIGPIPE, SIG_IGN);
	/* --metrics: HTTP on the same loop, reading what the dispatch keeps. */
	if (listen_on(&srv) != 0 || (cfg->metrics_listen &&
	        (srv.http = http_start(srv.loop, cfg->metrics_listen, &srv.dispatch, &srv.metrics)) == NULL)) {
		server_close_loop(&srv);
		return 1;
	}
	if (!server_start_request_path(&srv, pc, st)) {
		log_error("out of memory");
		persist_close(srv.persist);
		server_close_loop(&srv);
		persist_destroy(srv.persist);
		events_destroy(srv.events);
		return 1;
	}
	if (cfg->io_threads && (srv.io = iothreads_start(srv.loop, &srv.dispatch, cfg)) == NULL) {
		persist_close(srv.persist);
		events_close(srv.events);
		server_close_loop(&srv);
		events_destroy(srv.events);
		dispatch_finish(&srv.dispatch);
		return 1;
	}
	server_start_timers(&srv);
	notify_ready();

	uv_run(srv.loop, UV_RUN_DEFAULT);

	iothreads_join(srv.io);
	persist_close(srv.persist);
	events_close(srv.events);
	int rc = server_close_loop(&srv);
	iothreads_destroy(srv.io);
	persist_destroy(srv.persist);
	events_destroy(srv.events);
	dispatch_finish(&srv.dispatch);
	http_destroy(srv.http, srv.metrics);
	if (rc != 0) {
		log_error("the loop did not close cleanly: %s", uv_strerror(rc));
		return 1;
	}
	log_info("stopped");
	return 0;
}
