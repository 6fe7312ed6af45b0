/*
 * test_race.c - the hot-sku race: many connections reserving the same sku
 * at once, each pipelining its requests. Whatever the interleaving, exactly
 * the units in stock are held (no oversell, no undersell), every other
 * reserve is OUT_OF_STOCK, and every request gets exactly one reply with
 * its msgid, in order.
 *
 * One thread per connection (pthreads), each with its own connection of
 * the wire client (wire_client.h). Every wait is bounded by a deadline.
 * Worker threads do not assert (Criterion assertions belong to the test's
 * thread): they record what they saw, and the test checks it after
 * joining them. The test's own calls go through json_util.h.
 */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc_client.h"
#include "allot/protocol.h"
#include "harness.h"
#include "json_util.h"
#include "server_fixture.h"
#include "wire_client.h"

#define CLIENT_TIMEOUT_MS 10000
#define RACE_DEADLINE_MS 30000 /* every worker finishes within this */
#define NCONN 64
#define PER_CONN 20
#define RES_ID_MAX 32

TestSuite(race, .init = fx_setup, .fini = fx_teardown);

/* ---- requests and replies ---- */

/* [0, msgid, "reserve", [{order_id, lines: [{sku, qty}], ttl_ms}]] */
static void write_reserve(wire_conn *c, uint32_t msgid, const char *order_id,
    const char *sku, int qty)
{
	wire_request(c, msgid, "reserve");
	mp_write_map(&c->out, 3);
	mp_write_lit(&c->out, "order_id");
	mp_write_cstr(&c->out, order_id);
	mp_write_lit(&c->out, "lines");
	mp_write_array(&c->out, 1);
	mp_write_map(&c->out, 2);
	mp_write_lit(&c->out, "sku");
	mp_write_cstr(&c->out, sku);
	mp_write_lit(&c->out, "qty");
	mp_write_int(&c->out, qty);
	mp_write_lit(&c->out, "ttl_ms");
	mp_write_int(&c->out, 600000);
}

/* [0, msgid, "release", [{reservation_id}]] */
static void write_release(wire_conn *c, uint32_t msgid,
    const char *reservation_id)
{
	wire_request(c, msgid, "release");
	mp_write_map(&c->out, 1);
	mp_write_lit(&c->out, "reservation_id");
	mp_write_cstr(&c->out, reservation_id);
}

/* The one line of an OUT_OF_STOCK error: {sku, requested: 1, available: 0}. */
static int check_out_of_stock(wire_conn *c, const wire_reply *rep,
    const char *sku)
{
	mp_cursor lines, l;
	uint32_t n = 0;
	int64_t requested, available;
	if (mp_peek(&rep->result) != MP_T_NIL) {
		wire_fail(c, "msgid %u: OUT_OF_STOCK with a result", rep->msgid);
		return -1;
	}
	if (!wire_get(rep->error, "lines", &lines) || !mp_read_array(&lines, &n) ||
	    n != 1) {
		wire_fail(c, "msgid %u: OUT_OF_STOCK without one short line",
		    rep->msgid);
		return -1;
	}
	l = lines;
	if (!wire_get_is(l, "sku", sku) ||
	    !wire_get_int(l, "requested", &requested) ||
	    !wire_get_int(l, "available", &available) || requested != 1 ||
	    available != 0) {
		wire_fail(c, "msgid %u: OUT_OF_STOCK line is not {sku: %s, "
		    "requested: 1, available: 0}", rep->msgid, sku);
		return -1;
	}
	return 0;
}

/*
 * A hold of one unit of sku: its id copied to id_out, its location's
 * index in locs to *loc_out. 0, or -1 recorded in c->error.
 */
static int check_hold(wire_conn *c, const wire_reply *rep, const char *sku,
    const char *const *locs, int nlocs, char *id_out, int *loc_out)
{
	uint32_t msgid = rep->msgid;
	mp_cursor lines, allocs, unused;
	uint32_t n = 0, na = 0;
	int64_t qty, aqty;
	if (!wire_get_text(rep->result, "reservation_id", id_out, RES_ID_MAX) ||
	    id_out[0] == '\0') {
		wire_fail(c, "msgid %u: no reservation_id", msgid);
		return -1;
	}
	if (!wire_get_is(rep->result, "status", "held")) {
		wire_fail(c, "msgid %u: status is not held", msgid);
		return -1;
	}
	if (!wire_get(rep->result, "lines", &lines) ||
	    !mp_read_array(&lines, &n) || n != 1) {
		wire_fail(c, "msgid %u: not one line", msgid);
		return -1;
	}
	if (!wire_get_is(lines, "sku", sku) || !wire_get_int(lines, "qty", &qty) ||
	    qty != 1 || wire_get(lines, "short", &unused) ||
	    !wire_get(lines, "allocations", &allocs) ||
	    !mp_read_array(&allocs, &na) || na != 1) {
		wire_fail(c, "msgid %u: the line is not %s x1 with one "
		    "allocation", msgid, sku);
		return -1;
	}
	if (!wire_get_int(allocs, "qty", &aqty) || aqty != 1) {
		wire_fail(c, "msgid %u: the allocation does not hold 1", msgid);
		return -1;
	}
	*loc_out = -1;
	for (int i = 0; i < nlocs; i++)
		if (wire_get_is(allocs, "location", locs[i]))
			*loc_out = i;
	if (*loc_out < 0) {
		wire_fail(c, "msgid %u: allocation at an unknown location", msgid);
		return -1;
	}
	return 0;
}

/*
 * Check a reserve reply for one line of qty 1 of sku. Returns 1 for a hold
 * (its id copied to id_out, its location's index in locs to *loc_out), 0
 * for OUT_OF_STOCK, -1 for anything else (recorded in c->error).
 */
static int check_reserve_reply(wire_conn *c, uint32_t msgid, int64_t deadline,
    const char *sku, const char *const *locs, int nlocs, char *id_out,
    int *loc_out)
{
	wire_reply rep;
	if (wire_reply_to(c, msgid, deadline, &rep) != 0)
		return -1;
	char code[64];
	wire_error_code(&rep, code, sizeof(code));
	if (strcmp(code, ALLOT_ERR_OUT_OF_STOCK) == 0)
		return check_out_of_stock(c, &rep, sku);
	if (code[0] != '\0') {
		wire_fail(c, "msgid %u: reserve answered %s", msgid, code);
		return -1;
	}
	return check_hold(c, &rep, sku, locs, nlocs, id_out, loc_out) == 0 ? 1 : -1;
}

/* ---- the reserve-only race ---- */

typedef struct worker {
	/* in */
	int port;
	int index;
	const char *sku;
	const char *const *locs;
	int nlocs;
	pthread_barrier_t *start;
	/* out */
	int replies;  /* responses received with the right msgid */
	int held;
	int out_of_stock;
	int per_loc[8];
	bool rank_order_kept; /* successive holds never go back in rank */
	char ids[PER_CONN][RES_ID_MAX];
	char error[512];
} worker;

static void *reserve_worker(void *arg)
{
	worker *w = arg;
	wire_conn c;
	w->rank_order_kept = true;
	int open_rc = wire_open(&c, w->port, CLIENT_TIMEOUT_MS);
	pthread_barrier_wait(w->start);
	if (open_rc != 0)
		goto out;
	int64_t deadline = harness_now_ms() + RACE_DEADLINE_MS;

	/* Pipeline: every request goes out before any reply is read, each
	 * in its own write so the connections' requests interleave. */
	for (int i = 0; i < PER_CONN; i++) {
		char order[64];
		snprintf(order, sizeof(order), "o-%d-%d", w->index, i);
		write_reserve(&c, (uint32_t)(w->index * 1000 + i + 1), order,
		    w->sku, 1);
		if (wire_flush(&c, deadline) != 0)
			break;
	}

	int last_loc = 0;
	for (int i = 0; i < PER_CONN && c.error[0] == '\0'; i++) {
		int loc = -1;
		int r = check_reserve_reply(&c, (uint32_t)(w->index * 1000 + i + 1),
		    deadline, w->sku, w->locs, w->nlocs, w->ids[w->held], &loc);
		if (r < 0)
			break;
		w->replies++;
		if (r == 0) {
			w->out_of_stock++;
			continue;
		}
		w->held++;
		w->per_loc[loc]++;
		if (loc < last_loc)
			w->rank_order_kept = false;
		last_loc = loc;
	}

	/* Nothing more may arrive: one reply per request. */
	if (c.error[0] == '\0' && wire_more(&c, 100))
		wire_fail(&c, "bytes after the last reply");
out:
	snprintf(w->error, sizeof(w->error), "%s", c.error);
	wire_close(&c);
	return NULL;
}

/* ---- the test's checks ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Run NCONN workers reserving sku (stock on_hand[i] at locs[i]) at once
 * and check the outcome.
 */
static void run_reserve_race(const char *sku, const char *const *locs,
    const int *on_hand, int nlocs)
{
	int total = 0;
	for (int i = 0; i < nlocs; i++) {
		ju_ok("stock.set", json_pack("{s:s, s:s, s:i}",
		    "sku", sku, "location", locs[i], "on_hand", on_hand[i]));
		total += on_hand[i];
	}
	cr_assert_lt(total, NCONN * PER_CONN, "the race needs more attempts "
	    "than units");

	static worker workers[NCONN];
	static pthread_t threads[NCONN];
	memset(workers, 0, sizeof(workers));
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, NCONN);
	int started = 0;
	for (int i = 0; i < NCONN; i++) {
		workers[i] = (worker){ .port = fx_srv->port, .index = i, .sku = sku,
			.locs = locs, .nlocs = nlocs, .start = &start };
		if (pthread_create(&threads[i], NULL, reserve_worker,
		    &workers[i]) != 0)
			break;
		started++;
	}
	cr_assert_eq(started, NCONN, "could only start %d threads", started);
	for (int i = 0; i < NCONN; i++)
		pthread_join(threads[i], NULL);
	pthread_barrier_destroy(&start);

	int held = 0, oos = 0, replies = 0;
	int per_loc[8] = { 0 };
	for (int i = 0; i < NCONN; i++) {
		cr_assert_str_empty(workers[i].error, "connection %d: %s", i,
		    workers[i].error);
		cr_assert_eq(workers[i].replies, PER_CONN, "connection %d got "
		    "%d replies for %d requests", i, workers[i].replies,
		    PER_CONN);
		cr_assert(workers[i].rank_order_kept, "connection %d: a later "
		    "hold came from a better-ranked location than an earlier "
		    "one", i);
		held += workers[i].held;
		oos += workers[i].out_of_stock;
		replies += workers[i].replies;
		for (int k = 0; k < nlocs; k++)
			per_loc[k] += workers[i].per_loc[k];
	}
	cr_assert_eq(replies, NCONN * PER_CONN);
	cr_assert_eq(held, total, "%d reserves succeeded for %d units", held,
	    total);
	cr_assert_eq(oos, NCONN * PER_CONN - total);
	for (int k = 0; k < nlocs; k++)
		cr_assert_eq(per_loc[k], on_hand[k], "%d holds at %s, which has "
		    "%d units", per_loc[k], locs[k], on_hand[k]);

	/* every hold is its own reservation */
	const char **ids = malloc((size_t)held * sizeof(*ids));
	cr_assert_not_null(ids);
	int n = 0;
	for (int i = 0; i < NCONN; i++)
		for (int j = 0; j < workers[i].held; j++)
			ids[n++] = workers[i].ids[j];
	qsort(ids, (size_t)n, sizeof(*ids), cmp_str);
	for (int i = 1; i < n; i++)
		cr_assert_str_neq(ids[i - 1], ids[i], "reservation id %s given "
		    "twice", ids[i]);
	free(ids);

	/* zero oversell, zero undersell */
	json_t *recs = ju_ok("stock.get", json_pack("{s:s}", "sku", sku));
	cr_assert_eq(json_array_size(recs), (size_t)nlocs);
	for (int k = 0; k < nlocs; k++) {
		json_t *r = json_array_get(recs, (size_t)k);
		cr_assert_str_eq(json_string_value(json_object_get(r, "location")),
		    locs[k]);
		cr_assert_eq(ju_geti(r, "on_hand"), on_hand[k]);
		cr_assert_eq(ju_geti(r, "reserved"), on_hand[k], "%s reserved "
		    "%lld of %d", locs[k], (long long)ju_geti(r, "reserved"),
		    on_hand[k]);
		cr_assert_eq(ju_geti(r, "committed"), 0);
		cr_assert_eq(ju_geti(r, "available"), 0);
		cr_assert_eq(ju_geti(r, "oversold"), 0);
	}

	json_t *av = ju_ok("avail", json_pack("{s:[s]}", "skus", sku));
	cr_assert_eq(ju_geti(json_object_get(av, sku), "total"), 0);

	json_t *st = ju_ok("stats", NULL);
	cr_assert_eq(ju_geti(json_object_get(st, "reservations"), "held"), total);
	cr_assert_eq(ju_geti(st, "units_reserved"), total);
	cr_assert_eq(ju_geti(json_object_get(st, "requests"), "reserve"),
	    NCONN * PER_CONN);

	fx_finish();
}

Test(race, hot_sku_at_one_location_holds_exactly_its_stock, .timeout = 120)
{
	static const char *const locs[] = { "W1" };
	static const int on_hand[] = { 500 };
	run_reserve_race("hot-1", locs, on_hand, 1);
}

Test(race, hot_sku_over_three_locations_holds_exactly_its_stock,
    .timeout = 120)
{
	/* rank order is by name: W-a, W-b, W-c */
	static const char *const locs[] = { "W-a", "W-b", "W-c" };
	static const int on_hand[] = { 200, 150, 150 };
	run_reserve_race("hot-3", locs, on_hand, 3);
}

/* ---- reserve and release mixed ---- */

#define MIX_UNITS 200
#define MIX_ROUNDS 10
#define MIX_BATCH 4

typedef struct mix_worker {
	int port;
	int index;
	pthread_barrier_t *start;
	int replies;
	int requests;
	int held;      /* successful reserves */
	int released;  /* successful releases */
	int out_of_stock;
	char error[512];
} mix_worker;

static const char *const mix_locs[] = { "W1" };

/* The reply to a release of a hold: released. 0, or -1 in c->error. */
static int check_release_reply(wire_conn *c, uint32_t msgid, int64_t deadline)
{
	wire_reply rep;
	if (wire_reply_to(c, msgid, deadline, &rep) != 0)
		return -1;
	char code[64];
	wire_error_code(&rep, code, sizeof(code));
	if (code[0] != '\0') {
		wire_fail(c, "msgid %u: release answered %s", msgid, code);
		return -1;
	}
	if (!wire_get_is(rep.result, "status", "released")) {
		wire_fail(c, "msgid %u: released reservation is not released",
		    msgid);
		return -1;
	}
	return 0;
}

static void *mix_worker_run(void *arg)
{
	mix_worker *w = arg;
	wire_conn c;
	int open_rc = wire_open(&c, w->port, CLIENT_TIMEOUT_MS);
	pthread_barrier_wait(w->start);
	if (open_rc != 0)
		goto out;
	int64_t deadline = harness_now_ms() + RACE_DEADLINE_MS;

	/* ids held from the previous round, to release in this one */
	char to_release[MIX_BATCH][RES_ID_MAX];
	int nrelease = 0;
	uint32_t seq = 0;

	for (int round = 0; round < MIX_ROUNDS && c.error[0] == '\0'; round++) {
		/* One write: the releases, then new reserves, interleaved. */
		enum { REL = 1, RES = 2 };
		int kinds[2 * MIX_BATCH];
		uint32_t msgids[2 * MIX_BATCH];
		int nreq = 0;
		for (int i = 0; i < MIX_BATCH; i++) {
			if (i < nrelease) {
				msgids[nreq] = (uint32_t)(w->index * 100000) + ++seq;
				kinds[nreq++] = REL;
				write_release(&c, msgids[nreq - 1], to_release[i]);
			}
			char order[64];
			snprintf(order, sizeof(order), "m-%d-%d-%d", w->index,
			    round, i);
			msgids[nreq] = (uint32_t)(w->index * 100000) + ++seq;
			kinds[nreq++] = RES;
			write_reserve(&c, msgids[nreq - 1], order, "hot-mix", 1);
		}
		if (wire_flush(&c, deadline) != 0)
			break;
		w->requests += nreq;

		/* Read the replies; keep every other new hold, and release
		 * the rest next round. */
		nrelease = 0;
		int kept_this_round = 0;
		for (int i = 0; i < nreq; i++) {
			if (kinds[i] == REL) {
				if (check_release_reply(&c, msgids[i], deadline) != 0)
					break;
				w->replies++;
				w->released++;
				continue;
			}
			char id[RES_ID_MAX];
			int loc;
			int r = check_reserve_reply(&c, msgids[i], deadline,
			    "hot-mix", mix_locs, 1, id, &loc);
			if (r < 0)
				break;
			w->replies++;
			if (r == 0) {
				w->out_of_stock++;
				continue;
			}
			w->held++;
			if (kept_this_round++ % 2 == 0)
				memcpy(to_release[nrelease++], id, RES_ID_MAX);
		}
	}
out:
	snprintf(w->error, sizeof(w->error), "%s", c.error);
	wire_close(&c);
	return NULL;
}

/* Polls stock.get while the workers run, recording what it saw. */
typedef struct monitor {
	int port;
	volatile int stop;
	int polls;
	long long max_reserved;
	long long max_oversold;
	bool inconsistent; /* available != on_hand - reserved */
	char error[1024];
} monitor;

static void *monitor_run(void *arg)
{
	monitor *m = arg;
	char err[256];
	allot_client *c = allot_client_connect(HARNESS_HOST, m->port,
	    CLIENT_TIMEOUT_MS, err, sizeof(err));
	if (c == NULL) {
		snprintf(m->error, sizeof(m->error), "monitor: %s", err);
		return NULL;
	}
	int64_t deadline = harness_now_ms() + RACE_DEADLINE_MS + 5000;
	while (!__atomic_load_n(&m->stop, __ATOMIC_ACQUIRE) &&
	    harness_now_ms() < deadline) {
		json_t *error = NULL, *result = NULL;
		json_t *params = json_pack("{s:s, s:s}", "sku", "hot-mix",
		    "location", "W1");
		int rc = allot_client_call_params(c, "stock.get", params, &error,
		    &result, err, sizeof(err));
		json_decref(params);
		if (rc != 0 || error != NULL) {
			snprintf(m->error, sizeof(m->error), "monitor: stock.get "
			    "failed: %s", rc != 0 ? err : "error reply");
			json_decref(error);
			json_decref(result);
			break;
		}
		json_t *r = json_array_get(result, 0);
		long long on_hand = json_integer_value(json_object_get(r, "on_hand"));
		long long reserved = json_integer_value(json_object_get(r,
		    "reserved"));
		long long available = json_integer_value(json_object_get(r,
		    "available"));
		long long oversold = json_integer_value(json_object_get(r,
		    "oversold"));
		if (reserved > m->max_reserved)
			m->max_reserved = reserved;
		if (oversold > m->max_oversold)
			m->max_oversold = oversold;
		if (available != on_hand - reserved || available < 0)
			m->inconsistent = true;
		m->polls++;
		json_decref(result);
	}
	allot_client_destroy(c);
	return NULL;
}

Test(race, reserves_and_releases_mixed_never_exceed_stock, .timeout = 120)
{
	ju_ok("stock.set", json_pack("{s:s, s:s, s:i}", "sku",
	    "hot-mix", "location", "W1", "on_hand", MIX_UNITS));

	static mix_worker workers[NCONN];
	static pthread_t threads[NCONN];
	memset(workers, 0, sizeof(workers));
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, NCONN);

	monitor mon = { .port = fx_srv->port };
	pthread_t mon_thread;
	cr_assert_eq(pthread_create(&mon_thread, NULL, monitor_run, &mon), 0);

	int started = 0;
	for (int i = 0; i < NCONN; i++) {
		workers[i] = (mix_worker){ .port = fx_srv->port, .index = i,
			.start = &start };
		if (pthread_create(&threads[i], NULL, mix_worker_run,
		    &workers[i]) != 0)
			break;
		started++;
	}
	if (started != NCONN) {
		/* cannot happen in practice; unblock nobody, just report */
		__atomic_store_n(&mon.stop, 1, __ATOMIC_RELEASE);
		pthread_join(mon_thread, NULL);
		cr_assert_fail("could only start %d threads", started);
	}
	for (int i = 0; i < NCONN; i++)
		pthread_join(threads[i], NULL);
	__atomic_store_n(&mon.stop, 1, __ATOMIC_RELEASE);
	pthread_join(mon_thread, NULL);
	pthread_barrier_destroy(&start);

	int held = 0, released = 0, oos = 0;
	for (int i = 0; i < NCONN; i++) {
		cr_assert_str_empty(workers[i].error, "connection %d: %s", i,
		    workers[i].error);
		cr_assert_eq(workers[i].replies, workers[i].requests,
		    "connection %d: %d replies for %d requests", i,
		    workers[i].replies, workers[i].requests);
		cr_assert_eq(workers[i].held + workers[i].out_of_stock,
		    MIX_ROUNDS * MIX_BATCH);
		held += workers[i].held;
		released += workers[i].released;
		oos += workers[i].out_of_stock;
	}
	cr_log_info("mixed race: %d holds, %d releases, %d out of stock; the "
	    "monitor read the record %d times, most reserved %lld", held,
	    released, oos, mon.polls, mon.max_reserved);
	cr_assert_str_empty(mon.error, "%s", mon.error);
	cr_assert_gt(mon.polls, 0, "the monitor never read the record");
	cr_assert_leq(mon.max_reserved, MIX_UNITS, "reserved reached %lld of "
	    "%d units", mon.max_reserved, MIX_UNITS);
	cr_assert_eq(mon.max_oversold, 0);
	cr_assert(!mon.inconsistent, "available != on_hand - reserved seen");

	/* the race was real: more holds than units (thanks to releases), and
	 * some reserves refused */
	cr_assert_gt(held, MIX_UNITS, "only %d holds", held);
	cr_assert_gt(oos, 0);

	json_t *recs = ju_ok("stock.get", json_pack("{s:s}", "sku",
	    "hot-mix"));
	json_t *r = json_array_get(recs, 0);
	json_int_t reserved = ju_geti(r, "reserved");
	cr_assert_eq(reserved, held - released, "reserved %lld, but %d holds "
	    "minus %d releases is %d", (long long)reserved, held, released,
	    held - released);
	cr_assert_leq(reserved, MIX_UNITS);
	cr_assert_eq(ju_geti(r, "available"), MIX_UNITS - reserved);
	cr_assert_eq(ju_geti(r, "on_hand"), MIX_UNITS);
	cr_assert_eq(ju_geti(r, "oversold"), 0);

	json_t *st = ju_ok("stats", NULL);
	json_t *res = json_object_get(st, "reservations");
	cr_assert_eq(ju_geti(res, "held"), held - released);
	cr_assert_eq(ju_geti(res, "released"), released);
	cr_assert_eq(ju_geti(st, "units_reserved"), held - released);

	fx_finish();
}
