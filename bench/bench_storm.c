/*
 * bench_storm.c - the storm (--storm): C connections opened all at once at
 * the start of the timed phase, each then sending on the open loop's
 * schedule (--rate), latency counted from the scheduled send, so a request
 * that waited for its connection to be accepted counts that wait.
 *
 * Only the server should meet something new. So before the storm the
 * client is made warm: STORM_WARM_CONNS connections per thread load the
 * stock, run STORM_WARM_REQUESTS requests each through the same send and
 * reply paths, and are closed (but for the one that reads the verdict's
 * stock after the run, which stays idle); then every storm connection gets
 * its socket (made, not connected) and its buffers, grown and touched. At
 * the start connecting is one system call per connection.
 */
#include "bench.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>

/* Worker t's warm-up connections: they load the stock, and the first of
 * them loads the script and reads the probe before the run. */
void storm_init(worker *w, uint32_t t)
{
	assert(bench_opt.storm && bench_setup_stride == bench_opt.threads * STORM_WARM_CONNS);
	w->nwarm = STORM_WARM_CONNS;
	w->warm = bench_xcalloc(w->nwarm, sizeof *w->warm);
	for (uint32_t i = 0; i < w->nwarm; i++) {
		conn *c = &w->warm[i];
		conn_init(c, w, bench_opt.conns + t * STORM_WARM_CONNS + i);
		c->setup_next = t * STORM_WARM_CONNS + i;
	}
	w->lead = &w->warm[0];
}

/* c's last warm-up request is back: send the next, or end the warm-up once
 * none is left in flight. */
void storm_warm_next(conn *c, uint64_t now)
{
	worker *w = c->w;
	assert(w->phase == PH_WARM);
	if (w->warm_left > 0 && !c->dead) {
		w->warm_left--;
		wl_send_timed(c, now);
	} else if (w->inflight == 0) {
		uv_stop(&w->loop);
	}
}

static void warm_timeout_cb(uv_timer_t *t)
{
	worker *w = t->data;
	fprintf(stderr, "allot-bench: worker %u: the storm's warm-up timed out\n", w->idx);
	w->failed = true;
	uv_stop(&w->loop);
}

/* Run the warm-up requests, one in flight per warm connection, unmeasured
 * (they count for the verdict all the same), then close those connections
 * but the one the verdict reads the stock on. */
static void warm_requests(worker *w)
{
	w->phase = PH_WARM;
	w->measure_start = UINT64_MAX;
	w->warm_left = w->nwarm * STORM_WARM_REQUESTS;
	uint64_t now = bench_mono_ns();
	for (uint32_t i = 0; i < w->nwarm; i++) {
		storm_warm_next(&w->warm[i], now);
		conn_flush(&w->warm[i]);
	}
	uv_timer_start(&w->timer, warm_timeout_cb, PROBE_TIMEOUT_MS, 0);
	if (w->inflight)
		uv_run(&w->loop, UV_RUN_DEFAULT);
	uv_timer_stop(&w->timer);
	for (uint32_t i = 0; i < w->nwarm; i++) {
		conn *c = &w->warm[i];
		/* the lead stays, idle, to read the stock after the run: a storm
		 * connection may not be up then, or at all */
		if (c == w->lead && w->idx == 0 && wl_has_verdict())
			continue;
		conn_close(c);
		c->dead = true;
	}
	uv_run(&w->loop, UV_RUN_NOWAIT); /* their close callbacks */
}

/* Between the probe and the storm: warm the client, let the server settle,
 * then make every storm connection's socket and buffers. */
void storm_warm_phase(worker *w)
{
	assert(w->nwarm > 0 && w->inflight == 0);
	warm_requests(w);
	if (w->failed)
		return;
	uv_sleep(STORM_SETTLE_MS);
	for (uint32_t i = 0; i < w->nconns; i++) {
		conn *c = &w->conns[i];
		int rc = conn_open(c);
		if (rc < 0)
			bench_die("storm: a socket for connection %u: %s", c->gid, uv_strerror(rc));
		conn_prewarm(c);
	}
}

/* The start of the storm: connect every connection at once. */
void storm_kick_off(worker *w)
{
	uint32_t failed = 0;
	for (uint32_t i = 0; i < w->nconns; i++) {
		int rc = conn_connect(&w->conns[i]);
		if (rc < 0) {
			if (failed++ < 5)
				fprintf(stderr, "allot-bench: connection %u: connect: %s\n", w->conns[i].gid,
				    uv_strerror(rc));
			w->conn_errors++;
		}
	}
	if (failed == w->nconns)
		run_begin_stop(w);
}

/* c, a storm connection, is up: note when, and send what its schedule
 * has made due meanwhile (timed from when it was due). */
void storm_conn_ready(conn *c)
{
	worker *w = c->w;
	uint64_t now = bench_mono_ns();
	assert(bench_opt.storm && w->phase == PH_RUN);
	w->storm_connected++;
	if (now - w->start > w->storm_connect_max)
		w->storm_connect_max = now - w->start;
	if (!w->stopping && !w->run_over)
		run_open_loop_send(c, now);
}
