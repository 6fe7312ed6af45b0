/*
 * test_crash.c - kill -9 of allotd (sync durability in a real Redis) in the
 * middle of pipelined traffic, and during a snapshot; after the restart
 * nothing acknowledged is missing and the state is one the requests sent
 * could have produced.
 *
 * The traffic (traffic.h): a few connections (one thread each) keep
 * WINDOW requests in flight on the wire client (wire_client.h), with a
 * model of what they sent that checks every reply. What the state may be
 * after a kill, and how it is read back and compared, is the oracle
 * (oracle.h).
 *
 * Also: one round with --snapshot-every-records 500, so snapshots run
 * during the traffic and the kill may land in one; kills at varied moments
 * (spread over the time one takes) after a snapshot request, each followed
 * by an exact comparison; and Redis stopped or killed under the same
 * traffic and started again, after which every request has an answer and
 * the state is exactly what the successful ones made.
 *
 * Each test prints its seed; ALLOT_TEST_SEED=N repeats a run.
 */
#include <criterion/criterion.h>

#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rpc_client.h"
#include "allot/protocol.h"
#include "harness.h"
#include "oracle.h"
#include "redis_harness.h"
#include "traffic.h"
#include "wire_client.h"

#define KILL_MIN_MS 150      /* the kill lands this long after the start */
#define KILL_SPAN_MS 750     /* ... plus up to this */
#define ROUNDS 5
#define LIVES 2              /* bursts (each ended by a kill) per round */
#define SNAP_KILLS 10        /* kills during a snapshot */
#define SNAP_OPS 4000        /* requests between those snapshots */

static uint64_t base_seed(void)
{
	const char *env = getenv("ALLOT_TEST_SEED");
	if (env != NULL && env[0] != '\0')
		return strtoull(env, NULL, 0);
	return (uint64_t)harness_wall_ms() * 1000003ULL ^ (uint64_t)getpid();
}

/* ---- servers ---- */

static redis_server *rs;
static harness_server *srv;

static void crash_setup(void)
{
	char err[1024];
	rs = redis_server_start(err, sizeof(err));
	cr_assert_not_null(rs, "cannot start redis-server: %s", err);
}

static void crash_teardown(void)
{
	allotd_kill(srv);
	srv = NULL;
	redis_server_destroy(rs);
	rs = NULL;
}

TestSuite(crash, .init = crash_setup, .fini = crash_teardown, .timeout = 280);

static void start_allotd(const char *ns, const char *const *args)
{
	char err[1024];
	srv = allotd_start_durable(rs, ns, args, err, sizeof(err));
	cr_assert_not_null(srv, "%s: cannot start allotd (namespace %s): %s",
	    oracle_ctx, ns, err);
}

/* ---- the traffic's threads ---- */

/* Start NTHREADS workers of ws on srv, waiting at start with the caller. */
static void workers_start(worker *ws, pthread_barrier_t *start,
    pthread_t *th, bool lenient)
{
	pthread_barrier_init(start, NULL, NTHREADS + 1);
	for (int t = 0; t < NTHREADS; t++) {
		ws[t].port = srv->port;
		ws[t].start = start;
		ws[t].lenient = lenient;
		cr_assert_eq(pthread_create(&th[t], NULL, traffic_worker_main,
		    &ws[t]), 0);
	}
}

static void workers_join(pthread_barrier_t *start, pthread_t *th)
{
	for (int t = 0; t < NTHREADS; t++)
		pthread_join(th[t], NULL);
	pthread_barrier_destroy(start);
}

/* ---- rounds of traffic and kills ---- */

/*
 * Rounds of a test run with seeds drawn from one base seed; messages name
 * the base seed (ALLOT_TEST_SEED repeats the run) and the round.
 */
static uint64_t announce_seed(const char *test)
{
	uint64_t base = base_seed();
	fprintf(stderr, "crash: %s: seed 0x%016" PRIx64 " (ALLOT_TEST_SEED="
	    "0x%016" PRIx64 " repeats it)\n", test, base, base);
	cr_log_info("%s: seed 0x%016" PRIx64, test, base);
	return base;
}

/*
 * One life of a round: stock its world, run the traffic, kill allotd in
 * the middle of it, restart, and check what came back (oracle.h); then
 * the earlier lives' captures must read the same.
 */
static void run_life(const char *ns, const char *const *args, uint64_t *rng,
    world *worlds, worker (*ws)[NTHREADS], json_t **captures, int life)
{
	allot_client *c = oracle_client(srv);
	oracle_stock_world(c, &worlds[life]);
	allot_client_destroy(c);
	traffic_workers_init(ws[life], NTHREADS, &worlds[life],
	    traffic_splitmix(rng));

	pthread_barrier_t start;
	pthread_t th[NTHREADS];
	workers_start(ws[life], &start, th, false);
	int kill_after = KILL_MIN_MS + traffic_rnd(rng, KILL_SPAN_MS);
	pthread_barrier_wait(&start);
	harness_sleep_ms(kill_after);
	int status = allotd_kill(srv);
	srv = NULL;
	int64_t killed_at = harness_wall_ms();
	cr_assert_eq(status, 128 + 9, "%s: allotd ended with status %d "
	    "before the kill", oracle_ctx, status);
	workers_join(&start, th);

	size_t sent = 0, acked = 0;
	for (int t = 0; t < NTHREADS; t++) {
		worker *w = &ws[life][t];
		cr_assert_str_empty(w->error, "%s: connection %d: %s", oracle_ctx,
		    t, w->error);
		cr_assert(w->died, "%s: connection %d finished its traffic "
		    "before the kill at %d ms", oracle_ctx, t, kill_after);
		sent += w->nops;
		acked += w->head;
	}
	cr_assert_gt(sent - acked, 0, "%s: nothing was in flight at the "
	    "kill", oracle_ctx);

	harness_sleep_ms(5);
	start_allotd(ns, args);
	int64_t ready_at = harness_wall_ms();
	c = oracle_client(srv);
	int old = 0, fresh = 0;
	oracle_check_after_kill(c, srv->port, ws[life], NTHREADS, &worlds[life],
	    killed_at, ready_at, &old, &fresh);
	size_t applied = 0, unknown = 0;
	for (int t = 0; t < NTHREADS; t++)
		for (size_t i = ws[life][t].head; i < ws[life][t].nops; i++) {
			applied += ws[life][t].ops[i].applied == 1;
			unknown += ws[life][t].ops[i].applied < 0;
		}
	cr_log_info("%s: kill at %d ms: %zu requests sent, %zu "
	    "acknowledged; of the %zu others %zu took effect and %zu "
	    "cannot be told; %d unanswered reserves were journaled, %d "
	    "were not", oracle_ctx, kill_after, sent, acked, sent - acked,
	    applied, unknown, old, fresh);
	for (int p = 0; p < life; p++) {
		json_t *now = oracle_capture(c, &worlds[p], ws[p], NTHREADS);
		oracle_expect_same(captures[p], now, "a later kill");
		json_decref(now);
	}
	captures[life] = oracle_capture(c, &worlds[life], ws[life], NTHREADS);
	allot_client_destroy(c);
}

static void run_round(uint64_t base, uint64_t seed, int round,
    const char *const *args)
{
	char ns[48];
	snprintf(ns, sizeof(ns), "crash-%d-%016" PRIx64, round, seed);
	snprintf(oracle_ctx, sizeof(oracle_ctx), "seed 0x%016" PRIx64
	    " round %d", base, round);
	uint64_t rng = seed;
	start_allotd(ns, args);

	static world worlds[LIVES];
	static worker ws[LIVES][NTHREADS];
	json_t *captures[LIVES] = { NULL };
	for (int life = 0; life < LIVES; life++) {
		snprintf(oracle_ctx, sizeof(oracle_ctx), "seed 0x%016" PRIx64
		    " round %d life %d", base, round, life);
		char tag[32];
		snprintf(tag, sizeof(tag), "c%dl%d", round, life);
		traffic_world_init(&worlds[life], tag);
		run_life(ns, args, &rng, worlds, ws, captures, life);
	}

	/* A clean restart keeps all of it. */
	snprintf(oracle_ctx, sizeof(oracle_ctx), "seed 0x%016" PRIx64
	    " round %d", base, round);
	int status = harness_server_stop(srv);
	srv = NULL;
	cr_assert_eq(status, 0, "%s: allotd exited with status %d on SIGTERM",
	    oracle_ctx, status);
	start_allotd(ns, args);
	allot_client *c = oracle_client(srv);
	for (int life = 0; life < LIVES; life++) {
		json_t *now = oracle_capture(c, &worlds[life], ws[life], NTHREADS);
		oracle_expect_same(captures[life], now, "a clean restart");
		json_decref(now);
		json_decref(captures[life]);
		for (int t = 0; t < NTHREADS; t++)
			traffic_worker_free(&ws[life][t]);
	}
	allot_client_destroy(c);
	status = harness_server_stop(srv);
	srv = NULL;
	cr_assert_eq(status, 0, "%s: allotd exited with status %d on SIGTERM",
	    oracle_ctx, status);
}

Test(crash, kill_during_pipelined_traffic)
{
	uint64_t base = announce_seed("kill_during_pipelined_traffic");
	uint64_t seed = base;
	for (int round = 0; round < ROUNDS; round++)
		run_round(base, traffic_splitmix(&seed), round, NULL);
}

Test(crash, kill_during_traffic_with_frequent_snapshots)
{
	static const char *const args[] = { "--snapshot-every-records", "500",
		NULL };
	uint64_t base = announce_seed("kill_during_traffic_with_frequent_snapshots");
	uint64_t seed = base;
	run_round(base, traffic_splitmix(&seed), 0, args);
	snprintf(oracle_ctx, sizeof(oracle_ctx), "frequent snapshots");
	char meta[96];
	char err[512];
	/* The namespace of round 0 with that seed. */
	redisContext *rc = redis_server_connect(rs, 5000, err, sizeof(err));
	cr_assert_not_null(rc, "%s", err);
	redisReply *keys = redisCommand(rc, "KEYS allot:{crash-0-*}:meta");
	cr_assert(keys != NULL && keys->type == REDIS_REPLY_ARRAY &&
	    keys->elements == 1, "no single allot:{crash-0-*}:meta key");
	snprintf(meta, sizeof(meta), "%s", keys->element[0]->str);
	freeReplyObject(keys);
	redisReply *snap = redisCommand(rc, "HGET %s snapshot", meta);
	bool has = snap != NULL && snap->type == REDIS_REPLY_STRING;
	if (snap != NULL)
		freeReplyObject(snap);
	redisFree(rc);
	cr_assert(has, "with --snapshot-every-records 500, %s names no snapshot "
	    "after thousands of records", meta);
}

/* ---- kills during a snapshot ---- */

/* Send a snapshot request (msgid 1) on c, a new connection to port. */
static void send_snapshot(wire_conn *c, int port)
{
	cr_assert_eq(wire_open(c, port, CLIENT_TIMEOUT_MS), 0, "%s: %s",
	    oracle_ctx, c->error);
	wire_request(c, 1, "snapshot");
	mp_write_map(&c->out, 0);
	cr_assert_eq(wire_flush(c, harness_now_ms() + CLIENT_TIMEOUT_MS), 0,
	    "%s: cannot send the snapshot request: %s", oracle_ctx, c->error);
}

/* How long a snapshot takes to be answered now, in microseconds. */
static int64_t time_snapshot(int port)
{
	wire_conn c;
	send_snapshot(&c, port);
	int64_t t0 = harness_now_us();
	wire_reply rep;
	int r = wire_reply_to(&c, 1, harness_now_ms() + CLIENT_TIMEOUT_MS, &rep);
	int64_t took = harness_now_us() - t0;
	cr_assert_eq(r, 0, "%s: no reply to snapshot: %s", oracle_ctx, c.error);
	cr_assert(!rep.failed, "%s: the snapshot method failed", oracle_ctx);
	wire_close(&c);
	return took;
}

/*
 * The snapshot that allot:{ns}:meta names, if any, exists, and no other
 * snapshot key is left (one from an unfinished snapshot is deleted at
 * start).
 */
static void expect_current_snapshot_exists(const char *ns)
{
	char err[512], meta[96];
	snprintf(meta, sizeof(meta), "allot:{%s}:meta", ns);
	redisContext *rc = redis_server_connect(rs, 5000, err, sizeof(err));
	cr_assert_not_null(rc, "%s: %s", oracle_ctx, err);
	redisReply *snap = redisCommand(rc, "HGET %s snapshot", meta);
	cr_assert_not_null(snap, "%s: HGET %s: %s", oracle_ctx, meta, rc->errstr);
	char key[160] = "";
	if (snap->type == REDIS_REPLY_STRING)
		snprintf(key, sizeof(key), "%s", snap->str);
	freeReplyObject(snap);
	long long exists = 1;
	if (key[0] != '\0') {
		redisReply *e = redisCommand(rc, "EXISTS %s", key);
		exists = e != NULL && e->type == REDIS_REPLY_INTEGER ? e->integer : -1;
		if (e != NULL)
			freeReplyObject(e);
	}
	redisReply *keys = redisCommand(rc, "KEYS allot:{%s}:snap:*", ns);
	cr_assert(keys != NULL && keys->type == REDIS_REPLY_ARRAY, "%s: KEYS",
	    oracle_ctx);
	char stray[160] = "";
	for (size_t i = 0; i < keys->elements; i++)
		if (strcmp(keys->element[i]->str, key) != 0)
			snprintf(stray, sizeof(stray), "%s", keys->element[i]->str);
	freeReplyObject(keys);
	redisFree(rc);
	cr_assert_eq(exists, 1, "%s: %s names the snapshot %s, which does not "
	    "exist", oracle_ctx, meta, key);
	cr_assert_str_empty(stray, "%s: after the restart the snapshot key %s "
	    "is left besides the current one (%s)", oracle_ctx, stray,
	    key[0] ? key : "none");
}

/*
 * Build up state, then: a snapshot (timed), a few more changes, another
 * snapshot request and a kill -9 somewhere between sending it and twice
 * the time the first one took; the restart must rebuild exactly what was
 * acknowledged. The state grows from one kill to the next.
 */
Test(crash, kill_at_varied_moments_after_a_snapshot_request)
{
	uint64_t seed = announce_seed("kill_at_varied_moments_after_a_snapshot_request");
	uint64_t rng = seed;
	snprintf(oracle_ctx, sizeof(oracle_ctx), "seed 0x%016" PRIx64 " snapshot kills", seed);
	const char *ns = "snapkill";
	start_allotd(ns, NULL);
	world w;
	traffic_world_init(&w, "snap");
	allot_client *c = oracle_client(srv);
	oracle_stock_world(c, &w);
	allot_client_destroy(c);
	static worker wk;
	traffic_workers_init(&wk, 1, &w, traffic_splitmix(&rng));
	/* one connection: only its records change */
	int answered = 0;
	for (int it = 0; it < SNAP_KILLS; it++) {
		snprintf(oracle_ctx, sizeof(oracle_ctx), "seed 0x%016" PRIx64 " snapshot kill %d",
		    seed, it);
		/* More state, every request answered. */
		wk.port = srv->port;
		wk.ops_max = SNAP_OPS;
		wk.deadline = harness_now_ms() + 30000;
		traffic_worker_run(&wk);
		cr_assert_str_empty(wk.error, "%s: %s", oracle_ctx, wk.error);
		cr_assert(!wk.died, "%s: the connection failed: %s", oracle_ctx,
		    wk.died_why);
		cr_assert_eq(wk.head, wk.nops);
		int64_t took = time_snapshot(srv->port);
		wk.ops_max = 50;
		traffic_worker_run(&wk);
		cr_assert_str_empty(wk.error, "%s: %s", oracle_ctx, wk.error);
		cr_assert_eq(wk.head, wk.nops);
		c = oracle_client(srv);
		json_t *before = oracle_capture(c, &w, &wk, 1);
		allot_client_destroy(c);

		/* snapshot, then kill -9 up to twice its time later */
		int64_t span = took * 2 > 200 ? took * 2 : 200;
		int64_t delay = it == 0 ? 0 : (int64_t)(traffic_splitmix(&rng) %
		    (uint64_t)(span + 1));
		wire_conn sc;
		send_snapshot(&sc, srv->port);
		harness_sleep_us(delay);
		struct pollfd pfd = { .fd = sc.fd, .events = POLLIN };
		bool replied = poll(&pfd, 1, 0) > 0;
		int status = allotd_kill(srv);
		srv = NULL;
		wire_close(&sc);
		cr_assert_eq(status, 128 + 9, "%s: allotd ended with status %d "
		    "before the kill", oracle_ctx, status);
		answered += replied;

		start_allotd(ns, NULL);
		expect_current_snapshot_exists(ns);
		c = oracle_client(srv);
		json_t *after = oracle_capture(c, &w, &wk, 1);
		allot_client_destroy(c);
		char when[160];
		snprintf(when, sizeof(when), "a kill %lld us after a snapshot "
		    "request (one took %lld us; %s)", (long long)delay,
		    (long long)took, replied ? "answered" : "not answered yet");
		cr_log_info("%s: %s", oracle_ctx, when);
		oracle_expect_same(before, after, when);
		json_decref(before);
		json_decref(after);
	}
	cr_log_info("%s: %d of %d snapshots had answered before the kill", oracle_ctx,
	    answered, SNAP_KILLS);
	int status = harness_server_stop(srv);
	srv = NULL;
	cr_assert_eq(status, 0, "%s: allotd exited with status %d on SIGTERM",
	    oracle_ctx, status);
	traffic_worker_free(&wk);
}

/* ---- Redis lost in the middle of pipelined traffic ---- */

#define LOSS_ROUNDS 4
#define LOSS_AT_MIN_MS 100    /* Redis goes away this long after the start */
#define LOSS_AT_SPAN_MS 500
#define DOWN_MIN_MS 50        /* ... and stays away this long */
#define DOWN_SPAN_MS 500

/*
 * Redis is stopped (SIGTERM, or SIGKILL in odd rounds) while four
 * connections pipeline mutations, and started again (same port, same
 * data) a moment later. Each connection stops sending at its first
 * refusal. Every request must get a reply, success or UNAVAILABLE (a
 * request pending when Redis went away may succeed once it is back), and
 * the state must be exactly what the successful requests make, both in
 * the running allotd and after a kill -9 and a restart.
 */
Test(crash, redis_lost_during_pipelined_traffic)
{
	uint64_t base = announce_seed("redis_lost_during_pipelined_traffic");
	uint64_t rng = base;
	static world worlds[LOSS_ROUNDS];
	static worker ws[NTHREADS];
	for (int round = 0; round < LOSS_ROUNDS; round++) {
		snprintf(oracle_ctx, sizeof(oracle_ctx), "seed 0x%016" PRIx64 " Redis loss "
		    "round %d", base, round);
		char ns[32], tag[32];
		snprintf(ns, sizeof(ns), "loss-%d", round);
		snprintf(tag, sizeof(tag), "x%d", round);
		start_allotd(ns, NULL);
		traffic_world_init(&worlds[round], tag);
		allot_client *c = oracle_client(srv);
		oracle_stock_world(c, &worlds[round]);
		allot_client_destroy(c);
		traffic_workers_init(ws, NTHREADS, &worlds[round], traffic_splitmix(&rng));

		pthread_barrier_t start;
		pthread_t th[NTHREADS];
		workers_start(ws, &start, th, true);
		int lose_at = LOSS_AT_MIN_MS + traffic_rnd(&rng, LOSS_AT_SPAN_MS);
		int down_for = DOWN_MIN_MS + traffic_rnd(&rng, DOWN_SPAN_MS);
		bool hard = round % 2 == 1;
		pthread_barrier_wait(&start);
		harness_sleep_ms(lose_at);
		int status = hard ? redis_server_kill(rs) : redis_server_stop(rs);
		cr_assert_eq(status, hard ? 128 + 9 : 0, "%s: redis-server ended "
		    "with status %d", oracle_ctx, status);
		harness_sleep_ms(down_for);
		char err[1024];
		cr_assert_eq(redis_server_restart(rs, err, sizeof(err)), 0,
		    "%s: cannot restart redis-server: %s", oracle_ctx, err);
		workers_join(&start, th);

		size_t sent = 0, ok = 0;
		int unavailable = 0, other = 0, late = 0;
		for (int t = 0; t < NTHREADS; t++) {
			worker *w = &ws[t];
			cr_assert_str_empty(w->error, "%s: connection %d: %s", oracle_ctx, t,
			    w->error);
			cr_assert(!w->died, "%s: connection %d: %s", oracle_ctx, t,
			    w->died_why);
			cr_assert_eq(w->head, w->nops, "%s: connection %d: %zu "
			    "requests without a reply", oracle_ctx, t, w->nops - w->head);
			sent += w->nops;
			for (size_t i = 0; i < w->nops; i++)
				ok += w->ops[i].acked;
			unavailable += w->unavailable;
			other += w->other_errors;
			late += w->late_successes;
		}
		cr_assert_gt(unavailable, 0, "%s: Redis was %s %d ms into the "
		    "traffic for %d ms and no request answered UNAVAILABLE", oracle_ctx,
		    hard ? "killed" : "stopped", lose_at, down_for);
		cr_log_info("%s: Redis %s at %d ms for %d ms: %zu requests, %zu "
		    "succeeded, %d UNAVAILABLE, %d other errors after a refusal, "
		    "%d successes after a refusal", oracle_ctx,
		    hard ? "killed" : "stopped", lose_at, down_for, sent, ok,
		    unavailable, other, late);

		c = oracle_client(srv);
		oracle_check_exact(c, ws, NTHREADS, &worlds[round]);
		allot_client_destroy(c);

		status = allotd_kill(srv);
		srv = NULL;
		cr_assert_eq(status, 128 + 9);
		start_allotd(ns, NULL);
		c = oracle_client(srv);
		oracle_check_exact(c, ws, NTHREADS, &worlds[round]);
		oracle_check_adjust_retries(c, ws, NTHREADS);
		allot_client_destroy(c);
		status = harness_server_stop(srv);
		srv = NULL;
		cr_assert_eq(status, 0, "%s: allotd exited with status %d on "
		    "SIGTERM", oracle_ctx, status);
		for (int t = 0; t < NTHREADS; t++)
			traffic_worker_free(&ws[t]);
	}
}
