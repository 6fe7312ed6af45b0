/*
 * fair.c - the frame budget's backlog and the timeouts (see fair.h).
 */
#include "fair.h"

#include "log.h"

#include <allot/protocol.h>
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>

/*
 * A connection with frames left past its budget stops reading (its input
 * stays bounded by what is buffered) and joins the backlog; the backlog
 * handle gives each one another budget on every loop turn, after the
 * turn's reads, until it has none left, and then it reads again. While the
 * backlog is not empty the idle handle is active, so the loop polls
 * without blocking: the other connections' reads still come every turn.
 */
static void on_turn(uv_idle_t *h)
{
	fair *f = h->data;
	conn *next;
	for (conn *cn = f->backlog; cn; cn = next) {
		next = cn->bnext;
		assert(cn->backlog && !cn->closing);
		conn_serve(cn);
	}
}

void fair_backlog(conn *cn, bool on)
{
	fair *f = cn->fair;
	if (on == cn->backlog)
		return;
	assert(on ? cn->bprev == NULL && cn->bnext == NULL : cn->bprev != NULL || f->backlog == cn);
	cn->backlog = on;
	if (on) {
		uv_read_stop(&cn->h.stream);
		cn->bnext = f->backlog;
		if (f->backlog)
			f->backlog->bprev = cn;
		f->backlog = cn;
		uv_idle_start(&f->turn, on_turn);
		return;
	}
	if (cn->bprev)
		cn->bprev->bnext = cn->bnext;
	else
		f->backlog = cn->bnext;
	if (cn->bnext)
		cn->bnext->bprev = cn->bprev;
	cn->bprev = cn->bnext = NULL;
	if (!cn->closing && !cn->close_when_sent)
		conn_read_resume(cn);
	if (f->backlog == NULL)
		uv_idle_stop(&f->turn);
}

/*
 * The guard's sweep: close connections idle past idle_timeout_s (nothing
 * received, nothing owed) and those whose request began arriving more than
 * frame_timeout_ms ago and is still not whole. Every connection is looked
 * at; a timer each would cost more than this walk.
 */
static void on_guard(uv_timer_t *t)
{
	fair *f = t->data;
	const server_config *cfg = f->cfg;
	uint64_t now = uv_now(f->loop), idle_ms = (uint64_t)cfg->idle_timeout_s * 1000;
	conn *next;
	for (conn *cn = *f->conns; cn; cn = next) {
		next = cn->next;
		if (cn->closing || cn->close_when_sent || !cn->counted || cn->backlog)
			continue;
		if (cfg->frame_timeout_ms && cn->frame_since_ms &&
		    now - cn->frame_since_ms > cfg->frame_timeout_ms) {
			char msg[200];
			snprintf(msg, sizeof(msg), "a request began %" PRIu64 " ms ago and is still not whole "
			    "(--frame-timeout-ms %u); closing the connection", now - cn->frame_since_ms,
			    cfg->frame_timeout_ms);
			log_info("connection %" PRIu64 ": a request unfinished after %u ms; closing", cn->id,
			    cfg->frame_timeout_ms);
			f->frame_timeouts++;
			conn_refuse_frame(cn, 0, ALLOT_ERR_BAD_REQUEST, msg);
		} else if (idle_ms && now - cn->read_at_ms > idle_ms && outq_empty(&cn->out) &&
		    !cn->writing && cn->peer.deferred == 0) {
			log_debug("connection %" PRIu64 ": idle for %u s; closing", cn->id, cfg->idle_timeout_s);
			f->idle_closed++;
			conn_close(cn);
		}
	}
}

/* The guard looks often enough that a timeout is late by at most a
 * quarter of it (within FAIR_GUARD_MIN_MS..FAIR_GUARD_MAX_MS). */
void fair_start(fair *f, uv_loop_t *loop, const server_config *cfg, conn **conns)
{
	*f = (fair){ .loop = loop, .cfg = cfg, .conns = conns };
	uv_idle_init(loop, &f->turn);
	f->turn.data = f;
	uv_timer_init(loop, &f->guard);
	f->guard.data = f;
	uv_unref((uv_handle_t *)&f->guard);
	uint64_t shortest = UINT64_MAX;
	if (cfg->frame_timeout_ms)
		shortest = cfg->frame_timeout_ms;
	if (cfg->idle_timeout_s && (uint64_t)cfg->idle_timeout_s * 1000 < shortest)
		shortest = (uint64_t)cfg->idle_timeout_s * 1000;
	if (shortest == UINT64_MAX)
		return;
	uint64_t every = shortest / 4;
	every = every < FAIR_GUARD_MIN_MS ? FAIR_GUARD_MIN_MS : every > FAIR_GUARD_MAX_MS ? FAIR_GUARD_MAX_MS : every;
	uv_timer_start(&f->guard, on_guard, every, every);
}
