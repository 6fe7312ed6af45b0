/*
 * iothread_conn.c - an I/O thread's connections (see iothread.h).
 *
 * Everything here runs on the I/O thread that owns the connection: it
 * reads, cuts whole frames off the input with the server's scanner, pushes
 * each into the thread's ring to the owner, and writes the replies the
 * owner pushes back, in order (the owner answers a thread's frames in the
 * order they came). A connection counts the frames it sent that have not
 * had their record back (owed): it closes only once nothing is owed, and
 * when it must close sooner (a failed write, a stop now) its memory stays,
 * as a zombie, until the last record comes back, because the records name
 * it by its address.
 *
 * Backpressure: a frame that does not fit in the ring stays in the input,
 * the connection stops reading and waits in the thread's blocked list; the
 * owner, having taken records, wakes the thread, which tries again.
 */
#include "iothread_internal.h"

#include "encode.h"
#include "log.h"
#include "request.h"

#include <allot/protocol.h>
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READ_CHUNK (16u * 1024u)

struct iot_conn {
	uv_tcp_t tcp;
	iothread *t;
	iot_conn *prev, *next;  /* the thread's open connections */
	iot_conn *dnext;        /* the dirty list, while dirty */
	iot_conn *bnext;        /* the blocked list, while blocked */
	uint8_t *in;
	size_t in_len, in_cap;
	mp_reader reader;
	mp_buf out;             /* replies not yet handed to libuv */
	mp_buf wbuf;            /* what uv_write() is writing */
	uv_write_t wreq;
	uint32_t owed;          /* frames sent whose record has not come back */
	uint64_t id;
	bool dirty, blocked, writing, counted;
	bool closing;           /* uv_close called */
	bool zombie;            /* closed; kept until nothing is owed */
	bool close_when_sent;   /* no more reads; close once all is out */
};

static void conn_flush(iot_conn *cn);

/* ---- closing ------------------------------------------------------------------ */

static void conn_free(iot_conn *cn)
{
	assert(cn->owed == 0);
	free(cn->in);
	mp_buf_finish(&cn->out);
	mp_buf_finish(&cn->wbuf);
	free(cn);
}

/*
 * Once stopped with no connection left, the thread tells the owner
 * (IOT_DONE) and closes its wake handle only when the owner's answer
 * (IOT_BYE) comes: the owner sends to that handle no more after it, so no
 * uv_async_send() ever meets a closed handle. Each side's last send to the
 * other's handle comes before that side's end.
 */
static void maybe_end(iothread *t)
{
	if (t->ending || atomic_load_explicit(&t->stop, memory_order_acquire) == 0 || t->listening ||
	    t->conns != NULL || t->zombies != 0)
		return;
	t->ending = true;
	uv_close((uv_handle_t *)&t->publish, NULL);
	if (!t->grp->owner_ready) {
		/* The start failed: there is no owner to tell. */
		uv_close((uv_handle_t *)&t->wake, NULL);
		return;
	}
	/* Every frame has had its reply: the ring has room for this. */
	bool pushed = iot_push(&t->in, 0, IOT_DONE, NULL, 0);
	assert(pushed);
	(void)pushed;
	t->in_pushed = false;
	spsc_publish(&t->in);
	uv_async_send(&t->grp->owner_wake);
}

static void on_close(uv_handle_t *h)
{
	iot_conn *cn = h->data;
	iothread *t = cn->t;
	if (cn->prev)
		cn->prev->next = cn->next;
	else
		t->conns = cn->next;
	if (cn->next)
		cn->next->prev = cn->prev;
	if (cn->counted) {
		uint64_t was = atomic_fetch_sub_explicit(&t->grp->connections_current, 1, memory_order_relaxed);
		assert(was > 0);
		(void)was;
	}
	log_debug("io thread %u: connection %" PRIu64 " closed", t->index, cn->id);
	if (cn->owed) {
		cn->zombie = true;
		t->zombies++;
	} else {
		conn_free(cn);
	}
	maybe_end(t);
}

static void unblock(iot_conn *cn)
{
	if (!cn->blocked)
		return;
	iot_conn **p = &cn->t->blocked;
	while (*p != cn)
		p = &(*p)->bnext;
	*p = cn->bnext;
	cn->bnext = NULL;
	cn->blocked = false;
}

static void conn_close(iot_conn *cn)
{
	if (cn->closing)
		return;
	cn->closing = true;
	unblock(cn);
	uv_close((uv_handle_t *)&cn->tcp, on_close);
}

static void close_if_done(iot_conn *cn)
{
	if (cn->close_when_sent && !cn->closing && cn->owed == 0 && !cn->writing && cn->out.len == 0)
		conn_close(cn);
}

/* Stop reading; close once what is owed is written. */
static void conn_finish(iot_conn *cn)
{
	if (cn->closing)
		return;
	uv_read_stop((uv_stream_t *)&cn->tcp);
	unblock(cn);
	cn->close_when_sent = true;
	close_if_done(cn);
}

/* ---- writing ------------------------------------------------------------------- */

static void on_write(uv_write_t *req, int status)
{
	iot_conn *cn = req->data;
	cn->writing = false;
	mp_buf_reset(&cn->wbuf);
	if (status < 0) {
		if (status != UV_ECANCELED)
			log_debug("connection %" PRIu64 ": write failed: %s", cn->id, uv_strerror(status));
		conn_close(cn);
		return;
	}
	conn_flush(cn);
}

/* As server.c's conn_flush: one uv_try_write() takes everything in the
 * common case; only a remainder goes through uv_write(). */
static void conn_flush(iot_conn *cn)
{
	if (cn->closing || cn->writing || cn->out.len == 0) {
		close_if_done(cn);
		return;
	}
	uv_buf_t buf = uv_buf_init((char *)cn->out.data, (unsigned)cn->out.len);
	int sent = uv_try_write((uv_stream_t *)&cn->tcp, &buf, 1);
	if (sent == (int)cn->out.len) {
		mp_buf_reset(&cn->out);
		close_if_done(cn);
		return;
	}
	if (sent < 0 && sent != UV_EAGAIN) {
		log_debug("connection %" PRIu64 ": write failed: %s", cn->id, uv_strerror(sent));
		conn_close(cn);
		return;
	}
	size_t done = sent > 0 ? (size_t)sent : 0;
	mp_buf_reset(&cn->wbuf);
	mp_write_raw(&cn->wbuf, cn->out.data + done, cn->out.len - done);
	mp_buf_reset(&cn->out);
	if (mp_buf_failed(&cn->wbuf)) {
		log_error("connection %" PRIu64 ": out of memory for its replies", cn->id);
		conn_close(cn);
		return;
	}
	buf = uv_buf_init((char *)cn->wbuf.data, (unsigned)cn->wbuf.len);
	cn->wreq.data = cn;
	int rc = uv_write(&cn->wreq, (uv_stream_t *)&cn->tcp, &buf, 1, on_write);
	if (rc < 0) {
		log_debug("connection %" PRIu64 ": write failed: %s", cn->id, uv_strerror(rc));
		conn_close(cn);
		return;
	}
	cn->writing = true;
}

/* One record of the owner's: the reply to cn's oldest frame owed. */
static void conn_reply(iot_conn *cn, const iot_msg *m)
{
	iothread *t = cn->t;
	assert(cn->t == t && cn->owed > 0);
	cn->owed--;
	if (cn->zombie) {
		if (cn->owed == 0) {
			assert(t->zombies > 0);
			t->zombies--;
			conn_free(cn);
			maybe_end(t);
		}
		return;
	}
	if (cn->closing)
		return;
	mp_write_raw(&cn->out, iot_bytes(m), (size_t)m->len);
	if (m->kind == IOT_REPLY_CLOSE)
		conn_finish(cn);
	size_t max = t->grp->cfg->output_bytes_max;
	if (mp_buf_failed(&cn->out) || cn->out.len + cn->wbuf.len > max) {
		log_warn("connection %" PRIu64 ": more than %zu bytes of replies unread; cutting it off",
		    cn->id, max);
		conn_close(cn);
		return;
	}
	if (!cn->dirty) {
		cn->dirty = true;
		cn->dnext = t->dirty;
		t->dirty = cn;
	}
}

/* ---- reading --------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	iot_conn *cn = h->data;
	size_t limit = cn->t->grp->cfg->frame.frame_bytes_max + READ_CHUNK;
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

/* The ring is full: stop reading until the owner has taken records. */
static void conn_block(iot_conn *cn)
{
	iothread *t = cn->t;
	log_debug("io thread %u: the frame ring is full; connection %" PRIu64 " waits", t->index, cn->id);
	uv_read_stop((uv_stream_t *)&cn->tcp);
	if (!cn->blocked) {
		cn->blocked = true;
		cn->bnext = t->blocked;
		t->blocked = cn;
	}
	atomic_store_explicit(&t->in_blocked, true, memory_order_seq_cst);
	/* The owner may have taken everything between the failed push and the
	 * flag: then nobody would wake us, so look again. */
	if (spsc_room_sync(&t->in) >= t->in.cap / 2)
		uv_async_send(&t->wake);
}

/* A stream that is not MessagePack, or over a limit: answered as server.c's
 * refuse_stream() answers it, after the replies owed. false: no room. */
static bool conn_refuse(iot_conn *cn, size_t pos, int rc, const char *why)
{
	char msg[200];
	mp_buf err;
	snprintf(msg, sizeof(msg), "cannot decode the request stream: %s; closing the connection", why);
	mp_buf_init(&err);
	encode_error_response(&err, proto_peek_msgid(cn->in + pos, cn->in_len - pos),
	    rc == MP_ERR_TOO_LARGE ? ALLOT_ERR_TOO_LARGE : ALLOT_ERR_BAD_REQUEST, msg);
	bool pushed = !mp_buf_failed(&err) &&
	    iot_push(&cn->t->in, (uint64_t)(uintptr_t)cn, IOT_REFUSED, err.data, err.len);
	mp_buf_finish(&err);
	if (!pushed)
		return false;
	log_info("connection %" PRIu64 ": %s; closing", cn->id, why);
	cn->owed++;
	cn->t->in_pushed = true;
	uv_read_stop((uv_stream_t *)&cn->tcp);
	cn->close_when_sent = true;
	return true;
}

/* Push the whole frames in the input to the owner, in order. */
static void conn_frames(iot_conn *cn)
{
	iothread *t = cn->t;
	size_t pos = 0;
	while (pos < cn->in_len && !cn->close_when_sent) {
		size_t len;
		const char *why = NULL;
		int rc = mp_reader_next(&cn->reader, cn->in + pos, cn->in_len - pos, &len, &why);
		if (rc == MP_INCOMPLETE)
			break;
		if (rc != MP_OK) {
			if (!conn_refuse(cn, pos, rc, why ? why : "malformed MessagePack"))
				conn_block(cn);
			break;
		}
		assert(len > 0 && len <= cn->in_len - pos && len <= IOTHREAD_FRAME_MAX);
		/* The reader starts this frame afresh if it must come again. */
		if (!iot_push(&t->in, (uint64_t)(uintptr_t)cn, IOT_FRAME, cn->in + pos, len)) {
			conn_block(cn);
			break;
		}
		cn->owed++;
		t->in_pushed = true;
		pos += len;
	}
	assert(pos <= cn->in_len);
	if (pos > 0) {
		memmove(cn->in, cn->in + pos, cn->in_len - pos);
		cn->in_len -= pos;
	}
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	iot_conn *cn = s->data;
	if (nread < 0) {
		if (nread != UV_EOF)
			log_debug("connection %" PRIu64 ": read failed: %s", cn->id, uv_strerror((int)nread));
		conn_finish(cn);
		return;
	}
	if (nread == 0)
		return;
	assert(!cn->closing && !cn->blocked && (size_t)nread <= cn->in_cap - cn->in_len);
	cn->in_len += (size_t)nread;
	conn_frames(cn);
}

/* ---- accepting ------------------------------------------------------------------- */

/* Over max_connections: answered as server.c answers it, then closed. */
static void conn_reject(iot_conn *cn)
{
	atomic_fetch_add_explicit(&cn->t->grp->connections_rejected, 1, memory_order_relaxed);
	encode_error_response(&cn->out, 0, ALLOT_ERR_BUSY, "too many connections; try again later");
	cn->close_when_sent = true;
	conn_flush(cn);
}

void iot_on_connection(uv_stream_t *listener, int status)
{
	iothread *t = listener->data;
	if (status < 0) {
		log_warn("accept failed: %s", uv_strerror(status));
		return;
	}
	iot_conn *cn = calloc(1, sizeof(*cn));
	if (cn == NULL || uv_tcp_init(&t->loop, &cn->tcp) != 0) {
		free(cn);
		log_error("out of memory accepting a connection");
		return;
	}
	cn->t = t;
	cn->tcp.data = cn;
	cn->id = (++t->next_id << 8) | t->index;
	mp_reader_init(&cn->reader, &t->grp->cfg->frame);
	mp_buf_init(&cn->out);
	mp_buf_init(&cn->wbuf);
	cn->next = t->conns;
	if (t->conns)
		t->conns->prev = cn;
	t->conns = cn;
	/* Stopped (or never started: iothreads_start failed): not served. */
	if (uv_accept(listener, (uv_stream_t *)&cn->tcp) != 0 ||
	    atomic_load_explicit(&t->stop, memory_order_acquire) != 0) {
		conn_close(cn);
		return;
	}
	iothreads *io = t->grp;
	uint64_t was = atomic_fetch_add_explicit(&io->connections_current, 1, memory_order_relaxed);
	if (was >= io->cfg->max_connections) {
		atomic_fetch_sub_explicit(&io->connections_current, 1, memory_order_relaxed);
		conn_reject(cn);
		return;
	}
	cn->counted = true;
	atomic_fetch_add_explicit(&io->connections_total, 1, memory_order_relaxed);
	uv_tcp_nodelay(&cn->tcp, 1);
	uv_read_start((uv_stream_t *)&cn->tcp, on_alloc, on_read);
	log_debug("io thread %u: connection %" PRIu64 " accepted", t->index, cn->id);
}

/* ---- the owner's records, stopping, publishing ------------------------------------- */

/* Every reply the owner has published, onto its connection's output. */
static void take_replies(iothread *t)
{
	const uint8_t *rec;
	size_t len;
	uint32_t n = 0;
	while ((rec = spsc_peek(&t->out, &len)) != NULL) {
		const iot_msg *m = (const iot_msg *)rec;
		assert(len >= sizeof(*m) && m->kind >= IOT_REPLY && m->kind <= IOT_BYE);
		if (m->kind == IOT_BYE) {
			assert(t->ending);
			spsc_pop(&t->out);
			uv_close((uv_handle_t *)&t->wake, NULL);
			return;
		}
		conn_reply((iot_conn *)(uintptr_t)m->conn, m);
		iot_release(m);
		spsc_pop(&t->out);
		n++;
	}
	/* The owner stopped taking frames for want of room: there is some. */
	if (n)
		spsc_pop_sync(&t->out);
	if (n && atomic_exchange_explicit(&t->out_blocked, false, memory_order_seq_cst))
		uv_async_send(&t->grp->owner_wake);
}

/* Blocked connections try their frames again; those that got through read
 * again. */
static void retry_blocked(iothread *t)
{
	iot_conn *list = t->blocked;
	t->blocked = NULL;
	atomic_store_explicit(&t->in_blocked, false, memory_order_seq_cst);
	while (list) {
		iot_conn *cn = list;
		list = cn->bnext;
		cn->bnext = NULL;
		cn->blocked = false;
		conn_frames(cn);
		if (!cn->blocked && !cn->closing && !cn->close_when_sent)
			uv_read_start((uv_stream_t *)&cn->tcp, on_alloc, on_read);
	}
}

static void handle_stop(iothread *t, int stop)
{
	if (t->listening) {
		t->listening = false;
		uv_close((uv_handle_t *)&t->listener, NULL);
	}
	iot_conn *next;
	for (iot_conn *cn = t->conns; cn; cn = next) {
		next = cn->next;
		if (stop == IOT_STOP_NOW)
			conn_close(cn);
		else
			conn_finish(cn);
	}
	maybe_end(t);
}

void iot_on_wake(uv_async_t *h)
{
	iothread *t = h->data;
	take_replies(t);
	if (uv_is_closing((uv_handle_t *)h))
		return;
	if (t->blocked)
		retry_blocked(t);
	while (t->dirty) {
		iot_conn *cn = t->dirty;
		t->dirty = cn->dnext;
		cn->dnext = NULL;
		cn->dirty = false;
		conn_flush(cn);
	}
	int stop = atomic_load_explicit(&t->stop, memory_order_acquire);
	if (stop && !t->ending)
		handle_stop(t, stop);
}

void iot_on_publish(uv_check_t *h)
{
	iothread *t = h->data;
	if (!t->in_pushed)
		return;
	t->in_pushed = false;
	spsc_publish(&t->in);
	uv_async_send(&t->grp->owner_wake);
}
