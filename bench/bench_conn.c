/*
 * bench_conn.c - allot-bench's connections on libuv: connecting, writing
 * what the workload queued, reading replies and handing each to its
 * protocol's parser, failing a connection, and the two rings a connection
 * keeps (what it has in flight, and the commits or releases waiting for
 * their turn).
 *
 * Replies on a connection come back in request order, so the in-flight
 * ring is a FIFO; nothing is allocated per request once the rings and
 * buffers have grown to their working size.
 */
#include "bench.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * Rings
 * --------------------------------------------------------------------- */

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 16;
	while (p < n)
		p <<= 1;
	return p;
}

static inflight *fl_push(conn *c)
{
	if (c->fl_count == c->fl_cap) {
		uint32_t ncap = c->fl_cap ? c->fl_cap * 2 : 16;
		inflight *n = bench_xmalloc((size_t)ncap * sizeof *n);
		for (uint32_t i = 0; i < c->fl_count; i++)
			n[i] = c->fl[(c->fl_head + i) & (c->fl_cap - 1)];
		free(c->fl);
		c->fl = n;
		c->fl_cap = ncap;
		c->fl_head = 0;
	}
	inflight *f = &c->fl[(c->fl_head + c->fl_count) & (c->fl_cap - 1)];
	c->fl_count++;
	return f;
}

inflight conn_pop(conn *c)
{
	assert(c->fl_count > 0);
	inflight f = c->fl[c->fl_head];
	c->fl_head = (c->fl_head + 1) & (c->fl_cap - 1);
	c->fl_count--;
	return f;
}

void conn_followup_push(conn *c, const char *id, uint32_t len, uint8_t kind)
{
	assert(len <= sizeof c->fu[0].id);
	if (c->fu_count == c->fu_cap) {
		uint32_t ncap = c->fu_cap ? c->fu_cap * 2 : 16;
		followup *n = bench_xmalloc((size_t)ncap * sizeof *n);
		for (uint32_t i = 0; i < c->fu_count; i++)
			n[i] = c->fu[(c->fu_head + i) & (c->fu_cap - 1)];
		free(c->fu);
		c->fu = n;
		c->fu_cap = ncap;
		c->fu_head = 0;
	}
	followup *f = &c->fu[(c->fu_head + c->fu_count) & (c->fu_cap - 1)];
	memcpy(f->id, id, len);
	f->len = (uint8_t)len;
	f->kind = kind;
	c->fu_count++;
}

followup conn_followup_pop(conn *c)
{
	assert(c->fu_count > 0);
	followup f = c->fu[c->fu_head];
	c->fu_head = (c->fu_head + 1) & (c->fu_cap - 1);
	c->fu_count--;
	return f;
}

/* Note a request just queued on c, to match its reply when it comes. The
 * entry is the caller's to add to (units) until the next conn_track. */
inflight *conn_track(conn *c, uint8_t kind, uint32_t msgid, uint64_t t, bool measured)
{
	inflight *f = fl_push(c);
	f->t = t;
	f->msgid = msgid;
	f->kind = kind;
	f->measured = measured;
	f->units = 0;
	if (K_TIMED(kind)) {
		c->w->inflight++;
		if (measured)
			c->w->sent++;
	}
	return f;
}

/* ------------------------------------------------------------------------
 * Life of a connection
 * --------------------------------------------------------------------- */

void conn_init(conn *c, worker *w, uint32_t gid)
{
	c->w = w;
	c->gid = gid;
	c->rng = bench_opt.seed ^ (0x9e3779b97f4a7c15ull * ((uint64_t)c->gid + 1));
	(void)bench_rng_next(&c->rng);
	c->next_msgid = 1;
	c->setup_next = c->gid;
	mp_buf_init(&c->out);
	mp_buf_init(&c->wbuf);
	rpc_reader_init(&c->reader);
	c->fl_cap = pow2_at_least(bench_opt.pipeline > SETUP_WINDOW ? bench_opt.pipeline : SETUP_WINDOW);
	c->fl = bench_xmalloc((size_t)c->fl_cap * sizeof *c->fl);
}

/*
 * Grow and touch c's buffers to their working size before c connects, so
 * that a connection opened in the storm costs the client no allocation and
 * no first-touch page faults: the server alone meets something new.
 */
void conn_prewarm(conn *c)
{
	assert(c->in == NULL && c->fl_cap > 0);
	c->in = bench_xmalloc(IN_INITIAL);
	c->in_cap = IN_INITIAL;
	memset(c->in, 0, IN_INITIAL);
	if (!mp_buf_reserve(&c->out, IN_MIN_FREE) || !mp_buf_reserve(&c->wbuf, IN_MIN_FREE))
		bench_die("out of memory for the output buffers");
	memset(c->out.data, 0, IN_MIN_FREE);
	memset(c->wbuf.data, 0, IN_MIN_FREE);
	memset(c->fl, 0, (size_t)c->fl_cap * sizeof *c->fl);
	if (!c->fu) {
		c->fu_cap = 16; /* the size fu's first push would give it */
		c->fu = bench_xcalloc(c->fu_cap, sizeof *c->fu);
	}
}

void conn_finish(conn *c)
{
	mp_buf_finish(&c->out);
	mp_buf_finish(&c->wbuf);
	free(c->in);
	free(c->fl);
	free(c->fu);
}

void conn_on_closed(uv_handle_t *h)
{
	(void)h;
}

void conn_close(conn *c)
{
	if (!uv_is_closing((uv_handle_t *)&c->tcp) && c->tcp.loop)
		uv_close((uv_handle_t *)&c->tcp, conn_on_closed);
}

/* c is unusable: note why, count what it had in flight as unanswered. */
void conn_fail(conn *c, const char *why)
{
	worker *w = c->w;
	if (c->dead)
		return;
	c->dead = true;
	w->conn_errors++;
	if (w->conn_errors <= 5)
		fprintf(stderr, "allot-bench: connection %u: %s\n", c->gid, why);
	uint64_t timed = 0;
	for (uint32_t i = 0; i < c->fl_count; i++)
		timed += K_TIMED(c->fl[(c->fl_head + i) & (c->fl_cap - 1)].kind);
	c->fl_count = 0;
	w->inflight -= timed;
	w->no_reply += timed;
	uv_read_stop((uv_stream_t *)&c->tcp);
	if (!uv_is_closing((uv_handle_t *)&c->tcp))
		uv_close((uv_handle_t *)&c->tcp, conn_on_closed);

	switch (w->phase) {
	case PH_SETUP:
	case PH_PROBE:
	case PH_WARM:
		w->failed = true;
		uv_stop(&w->loop);
		break;
	case PH_RUN: {
		bool any = false;
		for (uint32_t i = 0; i < w->nconns; i++)
			any |= !w->conns[i].dead;
		if (!any)
			run_begin_stop(w);
		else if (w->stopping && w->inflight == 0)
			run_begin_stop(w); /* already stopping: re-check the drain */
		break;
	}
	case PH_OVER:
		break;
	}
}

/* ------------------------------------------------------------------------
 * Writing
 * --------------------------------------------------------------------- */

static void write_cb(uv_write_t *req, int status)
{
	conn *c = req->data;
	c->writing = false;
	mp_buf_reset(&c->wbuf);
	if (status < 0) {
		if (status != UV_ECANCELED)
			conn_fail(c, uv_strerror(status));
		return;
	}
	conn_flush(c); /* what queued up while the write was out */
}

/* Send everything queued on c: try a direct write first; what the kernel
 * does not take goes out with one uv_write, and requests queued meanwhile
 * wait for its callback. */
void conn_flush(conn *c)
{
	if (c->dead || c->writing || c->out.len == 0)
		return;
	if (mp_buf_failed(&c->out))
		bench_die("out of memory for the output buffer");
	uv_buf_t b = uv_buf_init((char *)c->out.data, (unsigned)c->out.len);
	int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
	if (n == (int)c->out.len) {
		mp_buf_reset(&c->out);
		return;
	}
	if (n < 0 && n != UV_EAGAIN) {
		conn_fail(c, uv_strerror(n));
		return;
	}
	if (n < 0)
		n = 0;
	mp_buf tmp = c->wbuf;
	c->wbuf = c->out;
	c->out = tmp;
	b = uv_buf_init((char *)c->wbuf.data + n, (unsigned)(c->wbuf.len - (size_t)n));
	c->writing = true;
	c->wreq.data = c;
	int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, write_cb);
	if (rc < 0) {
		c->writing = false;
		conn_fail(c, uv_strerror(rc));
	}
}

/* ------------------------------------------------------------------------
 * Reading
 * --------------------------------------------------------------------- */

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	conn *c = h->data;
	(void)hint;
	if (c->in_cap - c->in_len < IN_MIN_FREE) {
		size_t ncap = c->in_cap ? c->in_cap * 2 : IN_INITIAL;
		if (ncap > IN_MAX) {
			buf->base = NULL; /* read_cb gets UV_ENOBUFS */
			buf->len = 0;
			return;
		}
		/* The reader keeps an offset into the reply at in[0], not a
		 * pointer, so the buffer may move. */
		uint8_t *n = realloc(c->in, ncap);
		if (!n)
			bench_die("out of memory for a read buffer");
		c->in = n;
		c->in_cap = ncap;
	}
	buf->base = (char *)c->in + c->in_len;
	buf->len = c->in_cap - c->in_len;
}

/*
 * Take every whole reply off the front of c->in, then move what is left
 * (the start of the next reply) to the front. The MessagePack reader keeps
 * its place in that partial reply, so the next read goes on from there.
 */
static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	conn *c = s->data;
	(void)buf;
	if (nread < 0) {
		conn_fail(c, nread == UV_EOF ? "closed by the server" :
		    nread == UV_ENOBUFS ? "reply too large" : uv_strerror((int)nread));
		return;
	}
	if (nread == 0)
		return;
	c->in_len += (size_t)nread;
	uint64_t now = bench_mono_ns();
	size_t pos = 0;
	while (pos < c->in_len) {
		size_t used = 0;
		int rc = bench_opt.redis ? resp_take(c, c->in + pos, c->in_len - pos, &used, now) :
		    rpc_take(c, c->in + pos, c->in_len - pos, &used, now);
		if (rc < 0)
			return;
		if (rc == 0)
			break;
		assert(used > 0 && used <= c->in_len - pos);
		pos += used;
	}
	if (pos) {
		memmove(c->in, c->in + pos, c->in_len - pos);
		c->in_len -= pos;
	}
	conn_flush(c);
}

/* ------------------------------------------------------------------------
 * Connecting
 * --------------------------------------------------------------------- */

static void connect_cb(uv_connect_t *req, int status)
{
	conn *c = req->data;
	if (status == UV_ECANCELED) {
		c->dead = true; /* closed by us before it was up: at the end of a storm */
		return;
	}
	if (status < 0) {
		char why[160];
		snprintf(why, sizeof why, "connect to %s:%d: %s", bench_opt.host, bench_opt.port,
		    uv_strerror(status));
		conn_fail(c, why);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	int rc = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
	if (rc < 0) {
		conn_fail(c, uv_strerror(rc));
		return;
	}
	c->connected = true;
	/* auth goes first; allotd answers in order, so what follows is sent
	 * with the token's role */
	if (bench_opt.token && !bench_opt.redis)
		rpc_auth(c, bench_opt.token);
	/* in the timed phase only the storm connects: it starts sending; one
	 * that connects after the run just stays idle */
	if (c->w->phase == PH_SETUP)
		wl_connected(c);
	else if (c->w->phase == PH_RUN)
		storm_conn_ready(c);
	conn_flush(c);
}

/* c's socket, made now (uv_tcp_init_ex creates it), so that connecting
 * later is one system call. 0, or a libuv error (c is then dead). */
int conn_open(conn *c)
{
	assert(c->tcp.loop == NULL);
	int rc = uv_tcp_init_ex(&c->w->loop, &c->tcp, bench_addr.ss_family);
	if (rc < 0) {
		c->dead = true;
		return rc;
	}
	c->tcp.data = c;
	c->creq.data = c;
	uv_tcp_nodelay(&c->tcp, 1);
	return 0;
}

/* Connect c's open socket; connect_cb goes on from there. */
int conn_connect(conn *c)
{
	assert(c->tcp.loop != NULL && !c->connected);
	int rc = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&bench_addr, connect_cb);
	if (rc < 0) {
		c->dead = true;
		uv_close((uv_handle_t *)&c->tcp, conn_on_closed);
	}
	return rc;
}

int conn_start(conn *c)
{
	int rc = conn_open(c);
	return rc < 0 ? rc : conn_connect(c);
}
