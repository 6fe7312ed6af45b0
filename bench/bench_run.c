/*
 * bench_run.c - a worker's phases, each on its own libuv loop:
 *
 *   1. connect, then load stock (pipelined over the same connections; with
 *      --storm, over the warm-up connections alone);
 *   2. (worker 0) probe the stock the verdict compares, before the run;
 *   3. (--storm) warm the client up, close the warm-up connections (but
 *      the lead, which reads the stock after the run);
 *   4. the timed run: closed loop (each connection keeps --pipeline requests
 *      in flight) or open loop (--rate: every connection sends on its own
 *      schedule whatever the replies, latency counted from the scheduled
 *      time, as wrk2 does; with --storm the connections open at its start);
 *   5. (worker 0) probe the stock after the run.
 *
 * Barriers separate the phases, so every worker starts the run together and
 * the final probe sees every reply.
 */
#include "bench.h"
#include "bench_cpu.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

run_probes bench_probes;

static uv_barrier_t barrier;

/* ------------------------------------------------------------------------
 * Ending the run
 * --------------------------------------------------------------------- */

void run_finish(worker *w)
{
	if (w->run_over)
		return;
	w->run_over = true;
	w->run_end = bench_mono_ns();
	if (w->idx == 0)
		bench_cpu_end();
	w->no_reply += w->inflight;
	uv_timer_stop(&w->tick);
	uv_timer_stop(&w->timer);
	uv_stop(&w->loop);
}

static void drain_timeout_cb(uv_timer_t *t)
{
	worker *w = t->data;
	fprintf(stderr, "allot-bench: %" PRIu64 " requests still unanswered %d s after the end\n",
	    w->inflight, DRAIN_TIMEOUT_MS / 1000);
	run_finish(w);
}

/* Open loop: how many measured sends of c's schedule fell due before
 * until and were never made. */
static uint64_t unsent_due(const worker *w, const conn *c, uint64_t until)
{
	if (until <= c->sched0)
		return 0;
	/* the k-th send is due at sched0 + k * interval */
	uint64_t k_end = (uint64_t)ceil((double)(until - c->sched0) / w->interval);
	uint64_t k_measured = w->measure_start <= c->sched0 ? 0 :
	    (uint64_t)ceil((double)(w->measure_start - c->sched0) / w->interval);
	uint64_t k_first = c->sched_k > k_measured ? c->sched_k : k_measured;
	return k_end > k_first ? k_end - k_first : 0;
}

/* Open loop, as the run stops: the sends due on connections that could not
 * make them (never up, or failed) are counted, not silently skipped: a
 * server that leaves connections waiting must not look faster for it. */
static void count_unsent(worker *w)
{
	uint64_t now = bench_mono_ns();
	uint64_t until = now < w->end_by ? now : w->end_by;
	/* no schedule yet when the run ends before it starts (no budget) */
	if (bench_opt.rate == 0.0 || w->phase != PH_RUN || w->interval == 0.0)
		return;
	for (uint32_t i = 0; i < w->nconns; i++) {
		const conn *c = &w->conns[i];
		if (c->dead || !c->connected)
			w->unsent += unsent_due(w, c, until);
	}
}

/* No new requests from now on; finish once the in-flight ones are back. */
void run_begin_stop(worker *w)
{
	if (w->run_over)
		return;
	if (!w->stopping) {
		w->stopping = true;
		count_unsent(w);
		uv_timer_stop(&w->tick);
		uv_timer_stop(&w->timer);
		uv_timer_start(&w->timer, drain_timeout_cb, DRAIN_TIMEOUT_MS, 0);
	}
	if (w->inflight == 0)
		run_finish(w);
}

/* Every connection of w has loaded its share. */
void run_setup_done(worker *w)
{
	assert(w->phase == PH_SETUP);
	uv_timer_stop(&w->timer);
	uv_stop(&w->loop);
}

/* The probe's reply is in w->probe. */
void run_probe_done(worker *w)
{
	w->probe_done = true;
	uv_timer_stop(&w->timer);
	uv_stop(&w->loop);
}

static void phase_timeout_cb(uv_timer_t *t)
{
	worker *w = t->data;
	fprintf(stderr, "allot-bench: worker %u: timed out %s\n", w->idx,
	    w->phase == PH_SETUP ? "connecting and loading stock" : "reading the stock");
	w->failed = true;
	uv_stop(&w->loop);
}

/* ------------------------------------------------------------------------
 * The timed run
 * --------------------------------------------------------------------- */

static void deadline_cb(uv_timer_t *t)
{
	run_begin_stop(t->data);
}

/* The open loop's horizon at now: what falls due before it goes out now. */
static uint64_t open_loop_horizon(const worker *w, uint64_t now)
{
	uint64_t horizon = now + TICK_NS;
	return horizon > w->end_by ? w->end_by : horizon;
}

/*
 * Send each request of c's schedule that falls due before the next tick. A
 * request that goes out late (a late tick, a client that fell behind, a
 * connection at its in-flight cap or not yet connected) is timed from when
 * it was due, so the queueing it suffered counts, as in wrk2. One sent up
 * to a tick early is timed from when it went out, so the timer's 1 ms
 * granularity does not add a phantom 0-1 ms to every latency.
 */
void run_open_loop_send(conn *c, uint64_t now)
{
	worker *w = c->w;
	uint64_t horizon = open_loop_horizon(w, now);
	if (c->dead || !c->connected)
		return;
	assert(w->interval > 0.0);
	for (;;) {
		uint64_t due = c->sched0 + (uint64_t)((double)c->sched_k * w->interval);
		if (due >= horizon || w->stopping || c->fl_count >= OPEN_LOOP_INFLIGHT_MAX)
			break;
		wl_send_timed(c, due < now ? due : now);
		c->sched_k++;
	}
	conn_flush(c);
}

/* Open loop: every tick (1 ms), each connection sends what fell due. */
static void tick_cb(uv_timer_t *t)
{
	worker *w = t->data;
	uint64_t now = bench_mono_ns();
	if (now >= w->end_by) {
		run_begin_stop(w);
		return;
	}
	for (uint32_t i = 0; i < w->nconns && !w->stopping; i++)
		run_open_loop_send(&w->conns[i], now);
}

/* The first requests: the open loop's schedule, or the closed loop's
 * --pipeline requests on every connection. */
static void run_kick_off(worker *w, uint64_t now)
{
	if (bench_opt.rate > 0.0) {
		/* each connection sends every C/R seconds; their schedules are
		 * staggered so the total is spread evenly */
		w->interval = (double)BENCH_NS_PER_S * (double)bench_opt.conns / bench_opt.rate;
		for (uint32_t i = 0; i < w->nconns; i++) {
			conn *c = &w->conns[i];
			c->sched0 = now + (uint64_t)(w->interval * (double)c->gid / (double)bench_opt.conns);
			c->sched_k = 0;
		}
		if (bench_opt.storm)
			storm_kick_off(w);
		if (!w->stopping)
			uv_timer_start(&w->tick, tick_cb, 0, TICK_MS);
		return;
	}
	for (uint32_t i = 0; i < w->nconns && !w->stopping; i++) {
		conn *c = &w->conns[i];
		for (uint32_t d = 0; d < bench_opt.pipeline && !w->stopping && !c->dead; d++)
			wl_send_timed(c, now);
		conn_flush(c);
	}
}

static void run_phase(worker *w)
{
	w->phase = PH_RUN;
	uv_update_time(&w->loop);
	uint64_t now = bench_mono_ns();
	uint64_t warm = (uint64_t)(bench_opt.warmup * (double)BENCH_NS_PER_S);
	/* CPU from here: with --warmup it counts the warmup too (compare
	 * runs without). */
	if (w->idx == 0)
		bench_cpu_begin();
	w->start = now;
	w->measure_start = now + warm;
	uint64_t cap = now + (uint64_t)(RUN_CAP_S * (double)BENCH_NS_PER_S);
	w->end_by = bench_opt.have_duration ?
	    w->measure_start + (uint64_t)(bench_opt.duration * (double)BENCH_NS_PER_S) : cap;
	if (w->end_by > cap)
		w->end_by = cap;

	uv_timer_start(&w->timer, deadline_cb, (w->end_by - now + 999999) / 1000000, 0);
	if (w->budget == 0)
		run_begin_stop(w);
	else
		run_kick_off(w, now);
	/* even when the run is already over: this clears uv_stop's flag */
	uv_run(&w->loop, UV_RUN_DEFAULT);
	if (!w->run_over)
		run_finish(w); /* the loop ran dry */
	w->phase = PH_OVER;
}

/* Worker 0 only: read the stock the verdict compares, on c, into w->probe. */
static bool probe_phase(worker *w, conn *c)
{
	w->phase = PH_PROBE;
	w->probe_done = false;
	memset(&w->probe, 0, sizeof w->probe);
	if (!c || c->dead || !c->connected || c->fl_count)
		return false;
	wl_probe_start(c);
	conn_flush(c);
	uv_timer_start(&w->timer, phase_timeout_cb, PROBE_TIMEOUT_MS, 0);
	uv_run(&w->loop, UV_RUN_DEFAULT);
	uv_timer_stop(&w->timer);
	return w->probe_done && w->probe.ok;
}

/* ------------------------------------------------------------------------
 * A worker from start to end
 * --------------------------------------------------------------------- */

/* Phase 1: connect every connection (with --storm, every warm-up one) and
 * load stock over them. */
static void setup_phase(worker *w)
{
	conn *group = w->nwarm ? w->warm : w->conns;
	uint32_t n = w->nwarm ? w->nwarm : w->nconns;
	w->phase = PH_SETUP;
	w->pending = n;
	w->setup_t0 = bench_mono_ns();
	uv_timer_start(&w->timer, phase_timeout_cb, CONNECT_SETUP_TIMEOUT_MS, 0);
	for (uint32_t i = 0; i < n && !w->failed; i++) {
		int rc = conn_start(&group[i]);
		if (rc < 0) {
			fprintf(stderr, "allot-bench: connect: %s\n", uv_strerror(rc));
			w->failed = true;
		}
	}
	if (!w->failed)
		uv_run(&w->loop, UV_RUN_DEFAULT);
	uv_timer_stop(&w->timer);
	w->setup_t1 = bench_mono_ns();
	if (w->setup_errors)
		w->failed = true;
}

/* Whether any worker failed; read between barriers only. */
static bool any_failed(void)
{
	bool failed = false;
	for (uint32_t i = 0; i < bench_opt.threads; i++)
		failed |= bench_workers[i].failed;
	return failed;
}

static void worker_main(void *arg)
{
	worker *w = arg;

	setup_phase(w);
	uv_barrier_wait(&barrier);

	/* 2: the stock before the run */
	bool abort_run = any_failed();
	if (!abort_run && w->idx == 0 && wl_has_verdict()) {
		bench_probes.before_ok = probe_phase(w, w->lead);
		bench_probes.before = w->probe;
		if (!bench_probes.before_ok) {
			fprintf(stderr, "allot-bench: could not read the stock before the run\n");
			bench_probes.abort = true;
		}
	}
	uv_barrier_wait(&barrier);
	abort_run |= bench_probes.abort;

	/* 3: the storm's warm-up */
	if (!abort_run && bench_opt.storm)
		storm_warm_phase(w);
	uv_barrier_wait(&barrier);
	abort_run |= any_failed();
	if (w->idx == 0 && abort_run)
		bench_probes.abort = true;

	/* 4: the run */
	if (!abort_run)
		run_phase(w);
	uv_barrier_wait(&barrier);

	/* 5: the stock after it */
	if (!abort_run && w->idx == 0 && wl_has_verdict()) {
		bench_probes.after_ok = probe_phase(w, w->lead);
		bench_probes.after = w->probe;
	}

	/* close everything and let the loop finish */
	w->phase = PH_OVER;
	for (uint32_t i = 0; i < w->nconns; i++)
		conn_close(&w->conns[i]);
	for (uint32_t i = 0; i < w->nwarm; i++)
		conn_close(&w->warm[i]);
	uv_close((uv_handle_t *)&w->tick, conn_on_closed);
	uv_close((uv_handle_t *)&w->timer, conn_on_closed);
	uv_run(&w->loop, UV_RUN_DEFAULT);
	uv_loop_close(&w->loop);
}

/* Run every worker, on this thread when there is one, and wait for all. */
void run_workers(void)
{
	if (uv_barrier_init(&barrier, bench_opt.threads) != 0)
		bench_die("uv_barrier_init failed");
	if (bench_opt.threads == 1) {
		worker_main(&bench_workers[0]);
	} else {
		for (uint32_t t = 0; t < bench_opt.threads; t++)
			if (uv_thread_create(&bench_workers[t].thread, worker_main, &bench_workers[t]) != 0)
				bench_die("cannot start thread %u", t);
		for (uint32_t t = 0; t < bench_opt.threads; t++)
			uv_thread_join(&bench_workers[t].thread);
	}
	uv_barrier_destroy(&barrier);
}
