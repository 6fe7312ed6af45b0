/*
 * test_race.c - the hot-sku race: many connections reserving the same sku
 * at once, each pipelining its requests. Whatever the interleaving, exactly
 * the units in stock are held (no oversell, no undersell), every other
 * reserve is OUT_OF_STOCK, and every request gets exactly one reply with
 * its msgid, in order.
 *
 * One thread per connection (pthreads), each with its own loopback socket;
 * requests are built with msgpack_packer and replies parsed with
 * msgpack_unpacker. Every wait is bounded by a deadline. Worker threads do
 * not assert (Criterion assertions belong to the test's thread): they record
 * what they saw, and the test checks it after joining them.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "allot/client.h"
#include "allot/protocol.h"
#include "harness.h"

#define CLIENT_TIMEOUT_MS 10000
#define RACE_DEADLINE_MS 30000 /* every worker finishes within this */
#define NCONN 64
#define PER_CONN 20
#define RES_ID_MAX 32

/* ---- small helpers ---- */

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pack_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

static void pack_head(msgpack_packer *pk, uint32_t msgid, const char *method)
{
	msgpack_pack_array(pk, 4);
	msgpack_pack_uint8(pk, ALLOT_MSG_REQUEST);
	msgpack_pack_uint32(pk, msgid);
	pack_str(pk, method);
	msgpack_pack_array(pk, 1);
}

/* [0, msgid, "reserve", [{order_id, lines: [{sku, qty}], ttl_ms}]] */
static void pack_reserve(msgpack_packer *pk, uint32_t msgid,
    const char *order_id, const char *sku, int qty)
{
	pack_head(pk, msgid, "reserve");
	msgpack_pack_map(pk, 3);
	pack_str(pk, "order_id");
	pack_str(pk, order_id);
	pack_str(pk, "lines");
	msgpack_pack_array(pk, 1);
	msgpack_pack_map(pk, 2);
	pack_str(pk, "sku");
	pack_str(pk, sku);
	pack_str(pk, "qty");
	msgpack_pack_int(pk, qty);
	pack_str(pk, "ttl_ms");
	msgpack_pack_int(pk, 600000);
}

/* [0, msgid, "release", [{reservation_id}]] */
static void pack_release(msgpack_packer *pk, uint32_t msgid,
    const char *reservation_id)
{
	pack_head(pk, msgid, "release");
	msgpack_pack_map(pk, 1);
	pack_str(pk, "reservation_id");
	pack_str(pk, reservation_id);
}

static const msgpack_object *map_get(const msgpack_object *map,
    const char *key)
{
	return allot_object_map_get(map, key);
}

static bool obj_is_str(const msgpack_object *o, const char *s)
{
	size_t n = strlen(s);
	return o != NULL && o->type == MSGPACK_OBJECT_STR &&
	    o->via.str.size == n && memcmp(o->via.str.ptr, s, n) == 0;
}

static bool obj_uint(const msgpack_object *o, uint64_t *out)
{
	if (o == NULL || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return false;
	*out = o->via.u64;
	return true;
}

/* ---- one connection ---- */

typedef struct conn {
	int fd;
	msgpack_unpacker up;
	msgpack_unpacked msg;
	bool up_ready;
	int64_t deadline; /* CLOCK_MONOTONIC ms */
	char error[512];  /* the first problem seen, "" if none */
} conn;

static void conn_fail(conn *c, const char *fmt, ...)
{
	if (c->error[0] != '\0')
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
}

static int conn_open(conn *c, int port, int64_t deadline)
{
	memset(c, 0, sizeof(*c));
	c->deadline = deadline;
	c->fd = harness_connect_raw(port, CLIENT_TIMEOUT_MS);
	if (c->fd < 0) {
		conn_fail(c, "cannot connect to port %d", port);
		return -1;
	}
	if (!msgpack_unpacker_init(&c->up, 1 << 16)) {
		close(c->fd);
		c->fd = -1;
		conn_fail(c, "msgpack_unpacker_init failed");
		return -1;
	}
	msgpack_unpacked_init(&c->msg);
	c->up_ready = true;
	return 0;
}

static void conn_close(conn *c)
{
	if (c->up_ready) {
		msgpack_unpacked_destroy(&c->msg);
		msgpack_unpacker_destroy(&c->up);
		c->up_ready = false;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* Write all of buf before the deadline. */
static int conn_send(conn *c, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		int64_t left = c->deadline - mono_ms();
		if (left <= 0) {
			conn_fail(c, "deadline passed while sending");
			return -1;
		}
		struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
		int pr = poll(&pfd, 1, (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			continue; /* the deadline check above ends this */
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN ||
			    errno == EWOULDBLOCK)
				continue;
			conn_fail(c, "send: %s", strerror(errno));
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Read the next message into c->msg (valid until the next call), waiting
 * no later than the deadline.
 */
static int conn_next(conn *c)
{
	for (;;) {
		msgpack_unpack_return r = msgpack_unpacker_next(&c->up, &c->msg);
		if (r == MSGPACK_UNPACK_SUCCESS)
			return 0;
		if (r != MSGPACK_UNPACK_CONTINUE) {
			conn_fail(c, "the server sent bytes that are not "
			    "MessagePack (%d)", (int)r);
			return -1;
		}
		int64_t left = c->deadline - mono_ms();
		if (left <= 0) {
			conn_fail(c, "deadline passed waiting for a reply");
			return -1;
		}
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		int pr = poll(&pfd, 1, (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			continue;
		if (!msgpack_unpacker_reserve_buffer(&c->up, 1 << 16)) {
			conn_fail(c, "out of memory");
			return -1;
		}
		ssize_t n = recv(c->fd, msgpack_unpacker_buffer(&c->up),
		    msgpack_unpacker_buffer_capacity(&c->up), MSG_DONTWAIT);
		if (n == 0) {
			conn_fail(c, "the server closed the connection");
			return -1;
		}
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN ||
			    errno == EWOULDBLOCK)
				continue;
			conn_fail(c, "recv: %s", strerror(errno));
			return -1;
		}
		msgpack_unpacker_buffer_consumed(&c->up, (size_t)n);
	}
}

/*
 * Read the next message and check it is the response to msgid; on success
 * *error and *result point into c->msg.
 */
static int conn_reply(conn *c, uint32_t msgid, const msgpack_object **error,
    const msgpack_object **result)
{
	if (conn_next(c) != 0)
		return -1;
	const msgpack_object *o = &c->msg.data;
	uint64_t type, id;
	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 4 ||
	    !obj_uint(&o->via.array.ptr[0], &type) ||
	    type != ALLOT_MSG_RESPONSE ||
	    !obj_uint(&o->via.array.ptr[1], &id)) {
		conn_fail(c, "a message that is not a response, waiting for "
		    "msgid %u", msgid);
		return -1;
	}
	if (id != msgid) {
		conn_fail(c, "reply to msgid %llu, expected %u",
		    (unsigned long long)id, msgid);
		return -1;
	}
	*error = &o->via.array.ptr[2];
	*result = &o->via.array.ptr[3];
	return 0;
}

/* The error code of an error object, or "" when error is nil. */
static void error_code(const msgpack_object *error, char *buf, size_t len)
{
	buf[0] = '\0';
	if (error->type == MSGPACK_OBJECT_NIL)
		return;
	const msgpack_object *code = map_get(error, "code");
	if (code == NULL || code->type != MSGPACK_OBJECT_STR) {
		snprintf(buf, len, "(error without a code)");
		return;
	}
	snprintf(buf, len, "%.*s", (int)code->via.str.size,
	    code->via.str.ptr);
}

/*
 * Check a reserve reply for one line of qty 1 of sku. Returns 1 for a hold
 * (its id copied to id_out, its location's index in locs to *loc_out), 0
 * for OUT_OF_STOCK, -1 for anything else (recorded in c->error).
 */
static int check_reserve_reply(conn *c, uint32_t msgid, const char *sku,
    const char *const *locs, int nlocs, char *id_out, int *loc_out)
{
	const msgpack_object *error, *result;
	if (conn_reply(c, msgid, &error, &result) != 0)
		return -1;
	char code[64];
	error_code(error, code, sizeof(code));
	if (strcmp(code, ALLOT_ERR_OUT_OF_STOCK) == 0) {
		if (result->type != MSGPACK_OBJECT_NIL) {
			conn_fail(c, "msgid %u: OUT_OF_STOCK with a result", msgid);
			return -1;
		}
		const msgpack_object *lines = map_get(error, "lines");
		if (lines == NULL || lines->type != MSGPACK_OBJECT_ARRAY ||
		    lines->via.array.size != 1) {
			conn_fail(c, "msgid %u: OUT_OF_STOCK without one short line",
			    msgid);
			return -1;
		}
		const msgpack_object *l = &lines->via.array.ptr[0];
		uint64_t requested, available;
		if (!obj_is_str(map_get(l, "sku"), sku) ||
		    !obj_uint(map_get(l, "requested"), &requested) ||
		    !obj_uint(map_get(l, "available"), &available) ||
		    requested != 1 || available != 0) {
			conn_fail(c, "msgid %u: OUT_OF_STOCK line is not {sku: %s, "
			    "requested: 1, available: 0}", msgid, sku);
			return -1;
		}
		return 0;
	}
	if (code[0] != '\0') {
		conn_fail(c, "msgid %u: reserve answered %s", msgid, code);
		return -1;
	}
	const msgpack_object *id = map_get(result, "reservation_id");
	if (id == NULL || id->type != MSGPACK_OBJECT_STR ||
	    id->via.str.size == 0 || id->via.str.size >= RES_ID_MAX) {
		conn_fail(c, "msgid %u: no reservation_id", msgid);
		return -1;
	}
	memcpy(id_out, id->via.str.ptr, id->via.str.size);
	id_out[id->via.str.size] = '\0';
	if (!obj_is_str(map_get(result, "status"), "held")) {
		conn_fail(c, "msgid %u: status is not held", msgid);
		return -1;
	}
	const msgpack_object *lines = map_get(result, "lines");
	if (lines == NULL || lines->type != MSGPACK_OBJECT_ARRAY ||
	    lines->via.array.size != 1) {
		conn_fail(c, "msgid %u: not one line", msgid);
		return -1;
	}
	const msgpack_object *l = &lines->via.array.ptr[0];
	const msgpack_object *allocs = map_get(l, "allocations");
	uint64_t qty;
	if (!obj_is_str(map_get(l, "sku"), sku) ||
	    !obj_uint(map_get(l, "qty"), &qty) || qty != 1 ||
	    map_get(l, "short") != NULL || allocs == NULL ||
	    allocs->type != MSGPACK_OBJECT_ARRAY ||
	    allocs->via.array.size != 1) {
		conn_fail(c, "msgid %u: the line is not %s x1 with one "
		    "allocation", msgid, sku);
		return -1;
	}
	const msgpack_object *a = &allocs->via.array.ptr[0];
	uint64_t aqty;
	if (!obj_uint(map_get(a, "qty"), &aqty) || aqty != 1) {
		conn_fail(c, "msgid %u: the allocation does not hold 1", msgid);
		return -1;
	}
	const msgpack_object *loc = map_get(a, "location");
	*loc_out = -1;
	for (int i = 0; i < nlocs; i++)
		if (obj_is_str(loc, locs[i]))
			*loc_out = i;
	if (*loc_out < 0) {
		conn_fail(c, "msgid %u: allocation at an unknown location", msgid);
		return -1;
	}
	return 1;
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
	conn c;
	w->rank_order_kept = true;
	int open_rc = conn_open(&c, w->port, mono_ms() + RACE_DEADLINE_MS);
	pthread_barrier_wait(w->start);
	if (open_rc != 0)
		goto out;
	c.deadline = mono_ms() + RACE_DEADLINE_MS;

	/* Pipeline: every request goes out before any reply is read, each
	 * in its own write so the connections' requests interleave. */
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	for (int i = 0; i < PER_CONN; i++) {
		char order[64];
		snprintf(order, sizeof(order), "o-%d-%d", w->index, i);
		msgpack_sbuffer_clear(&sb);
		pack_reserve(&pk, (uint32_t)(w->index * 1000 + i + 1), order,
		    w->sku, 1);
		if (conn_send(&c, sb.data, sb.size) != 0)
			break;
	}
	msgpack_sbuffer_destroy(&sb);

	int last_loc = 0;
	for (int i = 0; i < PER_CONN && c.error[0] == '\0'; i++) {
		int loc = -1;
		int r = check_reserve_reply(&c, (uint32_t)(w->index * 1000 + i + 1),
		    w->sku, w->locs, w->nlocs, w->ids[w->held], &loc);
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
	if (c.error[0] == '\0') {
		struct pollfd pfd = { .fd = c.fd, .events = POLLIN };
		if (poll(&pfd, 1, 100) > 0) {
			char b;
			ssize_t n = recv(c.fd, &b, 1, MSG_DONTWAIT);
			if (n > 0)
				conn_fail(&c, "bytes after the last reply");
		}
	}
out:
	snprintf(w->error, sizeof(w->error), "%s", c.error);
	conn_close(&c);
	return NULL;
}

/* ---- main-thread helpers (JSON) ---- */

static json_t *call_ok(allot_client *c, const char *method, json_t *params)
{
	char err[512];
	json_t *error = NULL, *result = NULL;
	int rc = allot_client_call_params(c, method, params, &error, &result,
	    err, sizeof(err));
	json_decref(params);
	cr_assert_eq(rc, 0, "%s: %s", method, err);
	if (error != NULL) {
		char *t = json_dumps(error, JSON_COMPACT);
		cr_assert_fail("%s answered %s", method, t);
		free(t);
	}
	return result;
}

static json_int_t int_of(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	cr_assert(json_is_integer(v), "no integer \"%s\"", key);
	return json_integer_value(v);
}

static harness_server *start_server(void)
{
	char err[512];
	harness_server *s = harness_server_start(NULL, err, sizeof(err));
	cr_assert_not_null(s, "cannot start allotd: %s", err);
	return s;
}

static allot_client *connect_to(harness_server *s)
{
	char err[512];
	allot_client *c = harness_client(s, CLIENT_TIMEOUT_MS, err, sizeof(err));
	cr_assert_not_null(c, "cannot connect: %s", err);
	return c;
}

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
	harness_server *s = start_server();
	allot_client *c = connect_to(s);
	int total = 0;
	for (int i = 0; i < nlocs; i++) {
		json_decref(call_ok(c, "stock.set", json_pack("{s:s, s:s, s:i}",
		    "sku", sku, "location", locs[i], "on_hand", on_hand[i])));
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
		workers[i] = (worker){ .port = s->port, .index = i, .sku = sku,
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
	json_t *recs = call_ok(c, "stock.get", json_pack("{s:s}", "sku", sku));
	cr_assert_eq(json_array_size(recs), (size_t)nlocs);
	for (int k = 0; k < nlocs; k++) {
		json_t *r = json_array_get(recs, (size_t)k);
		cr_assert_str_eq(json_string_value(json_object_get(r, "location")),
		    locs[k]);
		cr_assert_eq(int_of(r, "on_hand"), on_hand[k]);
		cr_assert_eq(int_of(r, "reserved"), on_hand[k], "%s reserved "
		    "%lld of %d", locs[k], (long long)int_of(r, "reserved"),
		    on_hand[k]);
		cr_assert_eq(int_of(r, "committed"), 0);
		cr_assert_eq(int_of(r, "available"), 0);
		cr_assert_eq(int_of(r, "oversold"), 0);
	}
	json_decref(recs);

	json_t *av = call_ok(c, "avail", json_pack("{s:[s]}", "skus", sku));
	cr_assert_eq(int_of(json_object_get(av, sku), "total"), 0);
	json_decref(av);

	json_t *st = call_ok(c, "stats", NULL);
	cr_assert_eq(int_of(json_object_get(st, "reservations"), "held"), total);
	cr_assert_eq(int_of(st, "units_reserved"), total);
	cr_assert_eq(int_of(json_object_get(st, "requests"), "reserve"),
	    NCONN * PER_CONN);
	json_decref(st);

	allot_client_destroy(c);
	int status = harness_server_stop(s);
	cr_assert_eq(status, 0, "allotd exited with status %d", status);
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

static void *mix_worker_run(void *arg)
{
	mix_worker *w = arg;
	conn c;
	int open_rc = conn_open(&c, w->port, mono_ms() + RACE_DEADLINE_MS);
	pthread_barrier_wait(w->start);
	if (open_rc != 0)
		goto out;
	c.deadline = mono_ms() + RACE_DEADLINE_MS;

	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);

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
		msgpack_sbuffer_clear(&sb);
		for (int i = 0; i < MIX_BATCH; i++) {
			if (i < nrelease) {
				msgids[nreq] = (uint32_t)(w->index * 100000) + ++seq;
				kinds[nreq++] = REL;
				pack_release(&pk, msgids[nreq - 1], to_release[i]);
			}
			char order[64];
			snprintf(order, sizeof(order), "m-%d-%d-%d", w->index,
			    round, i);
			msgids[nreq] = (uint32_t)(w->index * 100000) + ++seq;
			kinds[nreq++] = RES;
			pack_reserve(&pk, msgids[nreq - 1], order, "hot-mix", 1);
		}
		if (conn_send(&c, sb.data, sb.size) != 0)
			break;
		w->requests += nreq;

		/* Read the replies; keep every other new hold, and release
		 * the rest next round. */
		nrelease = 0;
		int kept_this_round = 0;
		for (int i = 0; i < nreq; i++) {
			if (kinds[i] == REL) {
				const msgpack_object *error, *result;
				if (conn_reply(&c, msgids[i], &error, &result) != 0)
					break;
				w->replies++;
				char code[64];
				error_code(error, code, sizeof(code));
				if (code[0] != '\0') {
					conn_fail(&c, "msgid %u: release answered %s",
					    msgids[i], code);
					break;
				}
				if (!obj_is_str(map_get(result, "status"),
				    "released")) {
					conn_fail(&c, "msgid %u: released "
					    "reservation is not released", msgids[i]);
					break;
				}
				w->released++;
				continue;
			}
			char id[RES_ID_MAX];
			int loc;
			int r = check_reserve_reply(&c, msgids[i], "hot-mix",
			    mix_locs, 1, id, &loc);
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
	msgpack_sbuffer_destroy(&sb);
out:
	snprintf(w->error, sizeof(w->error), "%s", c.error);
	conn_close(&c);
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
	int64_t deadline = mono_ms() + RACE_DEADLINE_MS + 5000;
	while (!__atomic_load_n(&m->stop, __ATOMIC_ACQUIRE) &&
	    mono_ms() < deadline) {
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
	harness_server *s = start_server();
	allot_client *c = connect_to(s);
	json_decref(call_ok(c, "stock.set", json_pack("{s:s, s:s, s:i}", "sku",
	    "hot-mix", "location", "W1", "on_hand", MIX_UNITS)));

	static mix_worker workers[NCONN];
	static pthread_t threads[NCONN];
	memset(workers, 0, sizeof(workers));
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, NCONN);

	monitor mon = { .port = s->port };
	pthread_t mon_thread;
	cr_assert_eq(pthread_create(&mon_thread, NULL, monitor_run, &mon), 0);

	int started = 0;
	for (int i = 0; i < NCONN; i++) {
		workers[i] = (mix_worker){ .port = s->port, .index = i,
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

	json_t *recs = call_ok(c, "stock.get", json_pack("{s:s}", "sku",
	    "hot-mix"));
	json_t *r = json_array_get(recs, 0);
	json_int_t reserved = int_of(r, "reserved");
	cr_assert_eq(reserved, held - released, "reserved %lld, but %d holds "
	    "minus %d releases is %d", (long long)reserved, held, released,
	    held - released);
	cr_assert_leq(reserved, MIX_UNITS);
	cr_assert_eq(int_of(r, "available"), MIX_UNITS - reserved);
	cr_assert_eq(int_of(r, "on_hand"), MIX_UNITS);
	cr_assert_eq(int_of(r, "oversold"), 0);
	json_decref(recs);

	json_t *st = call_ok(c, "stats", NULL);
	json_t *res = json_object_get(st, "reservations");
	cr_assert_eq(int_of(res, "held"), held - released);
	cr_assert_eq(int_of(res, "released"), released);
	cr_assert_eq(int_of(st, "units_reserved"), held - released);
	json_decref(st);

	allot_client_destroy(c);
	int status = harness_server_stop(s);
	cr_assert_eq(status, 0, "allotd exited with status %d", status);
}
