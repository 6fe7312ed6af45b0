/*
 * test_crash.c - kill -9 of allotd (sync durability in a real Redis) in the
 * middle of pipelined traffic, and during a snapshot; after the restart
 * nothing acknowledged is missing and the state is one the requests sent
 * could have produced.
 *
 * The traffic: a few connections (one thread each) keep WINDOW requests in
 * flight: reserve, commit, release and fulfill (whole or by line) of their
 * own reservations, and stock.adjust (with idempotency keys) and stock.set
 * of records each connection owns. Each thread keeps a model of what it
 * sent, so every request it sends is valid when it runs, and checks every
 * reply against the model.
 *
 * Replies on a connection come in request order, so the requests that got
 * a reply before the kill (acknowledged) are a prefix of what the
 * connection sent; of the rest, some may have been journaled. The journal
 * is written in the order requests run, so on each connection the
 * recovered state reflects the acknowledged requests and then a prefix of
 * the unacknowledged ones:
 *
 *   - each reservation reads exactly as after its acknowledged operations
 *     and some prefix of its unacknowledged ones;
 *   - each owned record's on_hand is the result of its acknowledged
 *     set/adjust sequence and some prefix of the rest;
 *   - on each record of a reserved sku, committed and on_hand are exactly
 *     what the recovered reservations add up to, and reserved is that plus
 *     what unacknowledged reserves (whose ids were never seen) may hold;
 *     retrying those reserves with their idempotency keys then makes it
 *     exact, and tells which of them were journaled;
 *   - across everything a connection sent, the unacknowledged requests that
 *     took effect come before those that did not.
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

#include <errno.h>
#include <inttypes.h>
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
#include "redis_harness.h"

#define NTHREADS 4
#define WINDOW 32            /* requests in flight per connection */
#define TRAFFIC_MS 3000      /* the longest a burst of traffic runs */
#define OPS_MAX 200000       /* requests per connection per burst */
#define KILL_MIN_MS 150      /* the kill lands this long after the start */
#define KILL_SPAN_MS 750     /* ... plus up to this */
#define DRAIN_MS 10000       /* bound on waiting for replies at the end */
#define CLIENT_TIMEOUT_MS 10000
#define ROUNDS 5
#define LIVES 2              /* bursts (each ended by a kill) per round */
#define SNAP_KILLS 10        /* kills during a snapshot */
#define SNAP_OPS 4000        /* requests between those snapshots */
#define PIPE_CHUNK 256       /* verification requests in flight */

#define TTL_MS 600000
#define NRSKU 4              /* skus reserved from */
#define NLOC 2
#define NREC 2               /* records each connection sets and adjusts */
#define W1_STOCK 40          /* scarce: holds spill over to W2 */
#define W2_STOCK 1000000
#define REC_INITIAL 500
#define RES_ID_MAX 32
#define MAX_RESV_OPS 8       /* commit + at most one op per unit (6) */

static const char *const locs[NLOC] = { "W1", "W2" };

/* ---- time, randomness, MessagePack ---- */

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
	if (ms <= 0)
		return;
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0)
		;
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A number in [0, n). */
static int rnd(uint64_t *s, int n)
{
	return (int)(splitmix(s) % (uint64_t)n);
}

static uint64_t base_seed(void)
{
	const char *env = getenv("ALLOT_TEST_SEED");
	if (env != NULL && env[0] != '\0')
		return strtoull(env, NULL, 0);
	return (uint64_t)wall_ms() * 1000003ULL ^ (uint64_t)getpid();
}

/* What is being checked, for failure messages: seed, round, life. */
static char ctx[160];

static void pack_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

static void pack_head(msgpack_packer *pk, uint32_t msgid, const char *method,
    uint32_t nparams)
{
	msgpack_pack_array(pk, 4);
	msgpack_pack_uint8(pk, ALLOT_MSG_REQUEST);
	msgpack_pack_uint32(pk, msgid);
	pack_str(pk, method);
	msgpack_pack_array(pk, 1);
	msgpack_pack_map(pk, nparams);
}

static bool obj_is_str(const msgpack_object *o, const char *s)
{
	size_t n = strlen(s);
	return o != NULL && o->type == MSGPACK_OBJECT_STR &&
	    o->via.str.size == n && memcmp(o->via.str.ptr, s, n) == 0;
}

static bool obj_int(const msgpack_object *o, int64_t *out)
{
	if (o == NULL)
		return false;
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX) {
		*out = (int64_t)o->via.u64;
		return true;
	}
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		*out = o->via.i64;
		return true;
	}
	return false;
}

static const msgpack_object *map_get(const msgpack_object *map,
    const char *key)
{
	return allot_object_map_get(map, key);
}

/* ---- the model ---- */

enum { ST_HELD, ST_COMMITTED, ST_RELEASED, ST_FULFILLED };
static const char *const status_names[] = { "held", "committed", "released",
	"fulfilled" };

enum { OP_SET, OP_ADJUST, OP_RESERVE, OP_COMMIT, OP_RELEASE, OP_FULFILL };
static const char *const op_names[] = { "stock.set", "stock.adjust",
	"reserve", "commit", "release", "fulfill" };

/* One life's names: the skus reserved from, and the owned records. */
typedef struct world {
	char tag[32];
	char rsku[NRSKU][48];
} world;

static void rec_sku(const world *w, int thread, int k, char *buf, size_t len)
{
	snprintf(buf, len, "%s-a%d-%d", w->tag, thread, k);
}

/* A reservation's state: what each allocation still holds, and what it
 * fulfilled; released and fulfilled per line. */
typedef struct rstate {
	uint8_t status;
	int16_t rem[2][NLOC];
	int16_t ful[2][NLOC];
	int16_t released[2], fulfilled[2];
} rstate;

typedef struct op {
	uint8_t kind;
	bool acked;
	bool refused;     /* answered with an error (Redis away) */
	int8_t applied;   /* verification: -1 unknown, 0 no, 1 yes */
	int32_t target;   /* record (0..NREC) or reservation index */
	int32_t a;        /* set: on_hand; adjust: delta; release/fulfill: line or -1 */
	int32_t b;        /* release/fulfill: qty */
	int64_t expect;   /* set/adjust: on_hand after; others: status after */
	uint32_t msgid;
	int64_t reply_on_hand, reply_version; /* set/adjust, once acked */
} op;

typedef struct resv {
	char id[RES_ID_MAX];      /* "" until known */
	int reserve_op;
	bool retried;             /* known from a retry after the kill */
	bool old;                 /* the retry found the first one */
	uint8_t nlines;
	uint8_t sku[2], qty[2];
	uint8_t nalloc[2], aloc[2][NLOC];
	int64_t expires_at;
	rstate orig;              /* as the reserve made it */
	rstate sent;              /* after every operation sent */
	int ops[MAX_RESV_OPS];    /* operations after the reserve */
	int nops;
	int nacked;
	rstate found;             /* verification: the state read back */
	int found_ops;            /* ... which follows this many of ops */
} resv;

typedef struct worker {
	/* in */
	int index;
	int port;
	const world *w;
	uint64_t rng;
	int64_t deadline;         /* stop sending (CLOCK_MONOTONIC ms) */
	size_t ops_max;
	pthread_barrier_t *start;
	bool lenient;             /* error replies while Redis is away are
	                             outcomes, not failures */
	/* the model, kept across bursts */
	op *ops;
	size_t nops, ops_cap;
	resv *rs;
	size_t nrs, rs_cap;
	int *live;                /* known reservations still held or committed */
	size_t nlive, live_cap;
	int rec_sent[NREC];
	uint32_t next_msgid;
	/* out */
	size_t head;              /* the oldest request without a reply */
	bool died;                /* the connection closed or failed */
	char died_why[160];
	bool refused_seen;        /* lenient: an error reply came */
	int unavailable, other_errors, late_successes;
	char error[512];          /* a wrong reply: a failure */
} worker;

static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return p;
	size_t c = *cap ? *cap : 256;
	while (c < need)
		c *= 2;
	void *n = realloc(p, c * size);
	if (n == NULL)
		abort();
	*cap = c;
	return n;
}

static void worker_free(worker *w)
{
	free(w->ops);
	free(w->rs);
	free(w->live);
	memset(w, 0, sizeof(*w));
}

static void wfail(worker *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void wfail(worker *w, const char *fmt, ...)
{
	if (w->error[0] != '\0')
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->error, sizeof(w->error), fmt, ap);
	va_end(ap);
}

/* Take qty units off line i, worst-ranked allocation (the last) first. */
static void reduce(rstate *s, const resv *r, int i, int qty, bool fulfil)
{
	for (int j = r->nalloc[i]; j-- > 0 && qty > 0;) {
		int take = s->rem[i][j] < qty ? s->rem[i][j] : qty;
		s->rem[i][j] = (int16_t)(s->rem[i][j] - take);
		qty -= take;
		if (fulfil) {
			s->ful[i][j] = (int16_t)(s->ful[i][j] + take);
			s->fulfilled[i] = (int16_t)(s->fulfilled[i] + take);
		} else {
			s->released[i] = (int16_t)(s->released[i] + take);
		}
	}
}

static int line_rem(const rstate *s, const resv *r, int i)
{
	int n = 0;
	for (int j = 0; j < r->nalloc[i]; j++)
		n += s->rem[i][j];
	return n;
}

static void rstate_apply(rstate *s, const resv *r, const op *o)
{
	if (o->kind == OP_COMMIT) {
		s->status = ST_COMMITTED;
		return;
	}
	bool fulfil = o->kind == OP_FULFILL;
	if (o->a < 0) {
		for (int i = 0; i < r->nlines; i++)
			reduce(s, r, i, line_rem(s, r, i), fulfil);
	} else {
		reduce(s, r, o->a, o->b, fulfil);
	}
	bool left = false, fulfilled = false;
	for (int i = 0; i < r->nlines; i++) {
		left |= line_rem(s, r, i) > 0;
		fulfilled |= s->fulfilled[i] > 0;
	}
	if (!left)
		s->status = fulfilled ? ST_FULFILLED : ST_RELEASED;
}

/* The state of a fresh hold. */
static void rstate_init(rstate *s, const resv *r, int16_t q[2][NLOC])
{
	memset(s, 0, sizeof(*s));
	s->status = ST_HELD;
	for (int i = 0; i < r->nlines; i++)
		for (int j = 0; j < r->nalloc[i]; j++)
			s->rem[i][j] = q[i][j];
}

/* ---- a connection (worker threads do not assert) ---- */

typedef struct conn {
	int fd;
	msgpack_unpacker up;
	msgpack_unpacked msg;
	bool ready;
} conn;

static int conn_open(conn *c, int port)
{
	memset(c, 0, sizeof(*c));
	c->fd = harness_connect_raw(port, CLIENT_TIMEOUT_MS);
	if (c->fd < 0)
		return -1;
	if (!msgpack_unpacker_init(&c->up, 1 << 16)) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	msgpack_unpacked_init(&c->msg);
	c->ready = true;
	return 0;
}

static void conn_close(conn *c)
{
	if (c->ready) {
		msgpack_unpacked_destroy(&c->msg);
		msgpack_unpacker_destroy(&c->up);
		c->ready = false;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* 0, or -1 with why when the connection failed or closed. */
static int conn_send(conn *c, const void *buf, size_t len, int64_t deadline,
    char *why, size_t why_len)
{
	const char *p = buf;
	while (len > 0) {
		int64_t left = deadline - mono_ms();
		if (left <= 0) {
			snprintf(why, why_len, "deadline passed while sending");
			return -1;
		}
		struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
		int pr = poll(&pfd, 1, (int)left);
		if (pr <= 0)
			continue;
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			snprintf(why, why_len, "send: %s", strerror(errno));
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * The next message into c->msg. 1 when one arrived, 0 when the deadline
 * passed, -1 with why when the connection closed or failed, -2 for bytes
 * that are not MessagePack.
 */
static int conn_next(conn *c, int64_t deadline, char *why, size_t why_len)
{
	for (;;) {
		msgpack_unpack_return r = msgpack_unpacker_next(&c->up, &c->msg);
		if (r == MSGPACK_UNPACK_SUCCESS)
			return 1;
		if (r != MSGPACK_UNPACK_CONTINUE) {
			snprintf(why, why_len, "bytes that are not MessagePack");
			return -2;
		}
		int64_t left = deadline - mono_ms();
		if (left <= 0)
			return 0;
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		int pr = poll(&pfd, 1, (int)left);
		if (pr <= 0)
			continue;
		if (!msgpack_unpacker_reserve_buffer(&c->up, 1 << 16)) {
			snprintf(why, why_len, "out of memory");
			return -2;
		}
		ssize_t n = recv(c->fd, msgpack_unpacker_buffer(&c->up),
		    msgpack_unpacker_buffer_capacity(&c->up), MSG_DONTWAIT);
		if (n == 0) {
			snprintf(why, why_len, "the server closed the connection");
			return -1;
		}
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			snprintf(why, why_len, "recv: %s", strerror(errno));
			return -1;
		}
		msgpack_unpacker_buffer_consumed(&c->up, (size_t)n);
	}
}

/* ---- traffic ---- */

static void pack_op(msgpack_packer *pk, const worker *w, size_t i)
{
	const op *o = &w->ops[i];
	char a[96], b[96];
	switch (o->kind) {
	case OP_SET:
		rec_sku(w->w, w->index, o->target, a, sizeof(a));
		pack_head(pk, o->msgid, "stock.set", 3);
		pack_str(pk, "sku");
		pack_str(pk, a);
		pack_str(pk, "location");
		pack_str(pk, "W1");
		pack_str(pk, "on_hand");
		msgpack_pack_int32(pk, o->a);
		break;
	case OP_ADJUST:
		rec_sku(w->w, w->index, o->target, a, sizeof(a));
		snprintf(b, sizeof(b), "ak-%s-%d-%zu", w->w->tag, w->index, i);
		pack_head(pk, o->msgid, "stock.adjust", 4);
		pack_str(pk, "sku");
		pack_str(pk, a);
		pack_str(pk, "location");
		pack_str(pk, "W1");
		pack_str(pk, "delta");
		msgpack_pack_int32(pk, o->a);
		pack_str(pk, "idempotency_key");
		pack_str(pk, b);
		break;
	case OP_RESERVE: {
		const resv *r = &w->rs[o->target];
		snprintf(a, sizeof(a), "o-%s-%d-%zu", w->w->tag, w->index, i);
		snprintf(b, sizeof(b), "rk-%s-%d-%zu", w->w->tag, w->index, i);
		pack_head(pk, o->msgid, "reserve", 4);
		pack_str(pk, "order_id");
		pack_str(pk, a);
		pack_str(pk, "lines");
		msgpack_pack_array(pk, r->nlines);
		for (int l = 0; l < r->nlines; l++) {
			msgpack_pack_map(pk, 2);
			pack_str(pk, "sku");
			pack_str(pk, w->w->rsku[r->sku[l]]);
			pack_str(pk, "qty");
			msgpack_pack_int32(pk, r->qty[l]);
		}
		pack_str(pk, "ttl_ms");
		msgpack_pack_int32(pk, TTL_MS);
		pack_str(pk, "idempotency_key");
		pack_str(pk, b);
		break;
	}
	default: {
		const resv *r = &w->rs[o->target];
		bool by_line = o->kind != OP_COMMIT && o->a >= 0;
		pack_head(pk, o->msgid, op_names[o->kind], by_line ? 2 : 1);
		pack_str(pk, "reservation_id");
		pack_str(pk, r->id);
		if (by_line) {
			pack_str(pk, "lines");
			msgpack_pack_array(pk, 1);
			msgpack_pack_map(pk, 2);
			pack_str(pk, "sku");
			pack_str(pk, w->w->rsku[r->sku[o->a]]);
			pack_str(pk, "qty");
			msgpack_pack_int32(pk, o->b);
		}
		break;
	}
	}
}

static void live_remove(worker *w, size_t k)
{
	w->live[k] = w->live[--w->nlive];
}

/* Choose the next request, update the model of what was sent, and return
 * its index. */
static size_t next_op(worker *w)
{
	w->ops = grow(w->ops, &w->ops_cap, w->nops + 1, sizeof(*w->ops));
	size_t i = w->nops++;
	op *o = &w->ops[i];
	memset(o, 0, sizeof(*o));
	o->applied = -1;
	o->msgid = ++w->next_msgid;
	if (o->msgid == 0)
		o->msgid = ++w->next_msgid;
	int dice = rnd(&w->rng, 100);

	if (dice < 15) {
		o->kind = OP_ADJUST;
		o->target = rnd(&w->rng, NREC);
		int d = 1 + rnd(&w->rng, 5);
		if (rnd(&w->rng, 2) && w->rec_sent[o->target] >= d)
			d = -d;
		o->a = d;
		w->rec_sent[o->target] += d;
		o->expect = w->rec_sent[o->target];
		return i;
	}
	if (dice < 20) {
		o->kind = OP_SET;
		o->target = rnd(&w->rng, NREC);
		o->a = 100 + rnd(&w->rng, 900);
		w->rec_sent[o->target] = o->a;
		o->expect = o->a;
		return i;
	}
	if (dice < 60 && w->nlive > 0) {
		size_t k = (size_t)rnd(&w->rng, (int)w->nlive);
		resv *r = &w->rs[w->live[k]];
		o->target = w->live[k];
		int choice = rnd(&w->rng, 4);
		if (r->sent.status == ST_HELD)
			o->kind = choice < 2 ? OP_COMMIT : OP_RELEASE;
		else
			o->kind = choice < 3 ? OP_FULFILL : OP_RELEASE;
		o->a = -1;
		if (o->kind != OP_COMMIT && rnd(&w->rng, 3) != 0) {
			/* by line: one line with units left */
			int l = rnd(&w->rng, r->nlines);
			if (line_rem(&r->sent, r, l) == 0)
				l = 1 - l;
			o->a = l;
			o->b = 1 + rnd(&w->rng, line_rem(&r->sent, r, l));
		}
		rstate_apply(&r->sent, r, o);
		o->expect = r->sent.status;
		r->ops[r->nops++] = (int)i;
		bool finished = r->sent.status == ST_RELEASED ||
		    r->sent.status == ST_FULFILLED;
		if (finished || r->nops == MAX_RESV_OPS)
			live_remove(w, k);
		return i;
	}
	o->kind = OP_RESERVE;
	w->rs = grow(w->rs, &w->rs_cap, w->nrs + 1, sizeof(*w->rs));
	resv *r = &w->rs[w->nrs];
	memset(r, 0, sizeof(*r));
	r->reserve_op = (int)i;
	r->nlines = (uint8_t)(1 + rnd(&w->rng, 2));
	r->sku[0] = (uint8_t)rnd(&w->rng, NRSKU);
	r->sku[1] = (uint8_t)((r->sku[0] + 1 + rnd(&w->rng, NRSKU - 1)) % NRSKU);
	for (int l = 0; l < r->nlines; l++)
		r->qty[l] = (uint8_t)(1 + rnd(&w->rng, 3));
	o->target = (int32_t)w->nrs++;
	o->expect = ST_HELD;
	return i;
}

/* Read a reserve's result into r: id, deadline, allocations. */
static int take_reservation(worker *w, resv *r, const msgpack_object *res,
    uint32_t msgid)
{
	const msgpack_object *id = map_get(res, "reservation_id");
	const msgpack_object *lines = map_get(res, "lines");
	int64_t exp;
	if (id == NULL || id->type != MSGPACK_OBJECT_STR ||
	    id->via.str.size == 0 || id->via.str.size >= RES_ID_MAX ||
	    !obj_is_str(map_get(res, "status"), "held") ||
	    !obj_int(map_get(res, "expires_at"), &exp) || lines == NULL ||
	    lines->type != MSGPACK_OBJECT_ARRAY ||
	    lines->via.array.size != r->nlines) {
		wfail(w, "msgid %u: the reserve reply is not a hold of %d lines",
		    msgid, r->nlines);
		return -1;
	}
	memcpy(r->id, id->via.str.ptr, id->via.str.size);
	r->id[id->via.str.size] = '\0';
	r->expires_at = exp;
	int16_t q[2][NLOC] = { { 0 } };
	for (int l = 0; l < r->nlines; l++) {
		const msgpack_object *line = &lines->via.array.ptr[l];
		const msgpack_object *al = map_get(line, "allocations");
		int64_t qty;
		if (!obj_is_str(map_get(line, "sku"), w->w->rsku[r->sku[l]]) ||
		    !obj_int(map_get(line, "qty"), &qty) || qty != r->qty[l] ||
		    al == NULL || al->type != MSGPACK_OBJECT_ARRAY ||
		    al->via.array.size < 1 || al->via.array.size > NLOC) {
			wfail(w, "msgid %u (%s): line %d is not %s x%d with 1 or 2 "
			    "allocations", msgid, r->id, l, w->w->rsku[r->sku[l]],
			    r->qty[l]);
			return -1;
		}
		r->nalloc[l] = (uint8_t)al->via.array.size;
		int64_t sum = 0;
		for (uint32_t j = 0; j < al->via.array.size; j++) {
			const msgpack_object *a = &al->via.array.ptr[j];
			int loc = -1;
			for (int k = 0; k < NLOC; k++)
				if (obj_is_str(map_get(a, "location"), locs[k]))
					loc = k;
			int64_t aq;
			if (loc < 0 || !obj_int(map_get(a, "qty"), &aq) || aq < 1) {
				wfail(w, "msgid %u (%s): a bad allocation", msgid,
				    r->id);
				return -1;
			}
			r->aloc[l][j] = (uint8_t)loc;
			q[l][j] = (int16_t)aq;
			sum += aq;
		}
		if (sum != qty) {
			wfail(w, "msgid %u (%s): line %d allocates %lld of %lld",
			    msgid, r->id, l, (long long)sum, (long long)qty);
			return -1;
		}
	}
	rstate_init(&r->orig, r, q);
	r->sent = r->orig;
	return 0;
}

/* Check the reply to request i (a response with the right msgid). */
static int take_reply(worker *w, size_t i, const msgpack_object *o)
{
	op *p = &w->ops[i];
	int64_t type, id;
	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 4 ||
	    !obj_int(&o->via.array.ptr[0], &type) || type != ALLOT_MSG_RESPONSE ||
	    !obj_int(&o->via.array.ptr[1], &id)) {
		wfail(w, "a message that is not a response, waiting for msgid %u",
		    p->msgid);
		return -1;
	}
	if ((uint32_t)id != p->msgid) {
		wfail(w, "reply to msgid %lld, expected %u (%s)", (long long)id,
		    p->msgid, op_names[p->kind]);
		return -1;
	}
	const msgpack_object *err = &o->via.array.ptr[2];
	const msgpack_object *res = &o->via.array.ptr[3];
	if (err->type != MSGPACK_OBJECT_NIL) {
		const msgpack_object *code = map_get(err, "code");
		const msgpack_object *msg = map_get(err, "message");
		bool unavailable = obj_is_str(code, ALLOT_ERR_UNAVAILABLE);
		if (w->lenient && (unavailable || w->refused_seen)) {
			/* Refused: it changed nothing. Requests sent after it
			 * assumed it succeeded, so they may fail otherwise. */
			p->refused = true;
			p->applied = 0;
			w->refused_seen = true;
			if (unavailable)
				w->unavailable++;
			else
				w->other_errors++;
			return 0;
		}
		wfail(w, "request %zu (%s, msgid %u) answered %.*s: %.*s", i,
		    op_names[p->kind], p->msgid,
		    code && code->type == MSGPACK_OBJECT_STR ? (int)code->via.str.size : 1,
		    code && code->type == MSGPACK_OBJECT_STR ? code->via.str.ptr : "?",
		    msg && msg->type == MSGPACK_OBJECT_STR ? (int)msg->via.str.size : 1,
		    msg && msg->type == MSGPACK_OBJECT_STR ? msg->via.str.ptr : "?");
		return -1;
	}
	switch (p->kind) {
	case OP_SET:
	case OP_ADJUST: {
		int64_t on_hand, version;
		if (!obj_int(map_get(res, "on_hand"), &on_hand) ||
		    !obj_int(map_get(res, "version"), &version)) {
			wfail(w, "msgid %u: %s reply without on_hand/version",
			    p->msgid, op_names[p->kind]);
			return -1;
		}
		if (on_hand != p->expect && !w->refused_seen) {
			wfail(w, "msgid %u: %s answered on_hand %lld, expected %lld",
			    p->msgid, op_names[p->kind], (long long)on_hand,
			    (long long)p->expect);
			return -1;
		}
		p->reply_on_hand = on_hand;
		p->reply_version = version;
		break;
	}
	case OP_RESERVE: {
		resv *r = &w->rs[p->target];
		if (take_reservation(w, r, res, p->msgid) != 0)
			return -1;
		w->live = grow(w->live, &w->live_cap, w->nlive + 1,
		    sizeof(*w->live));
		w->live[w->nlive++] = p->target;
		break;
	}
	default: {
		resv *r = &w->rs[p->target];
		if (!w->refused_seen &&
		    !obj_is_str(map_get(res, "status"), status_names[p->expect])) {
			wfail(w, "msgid %u: %s of %s answered a status other than %s",
			    p->msgid, op_names[p->kind], r->id,
			    status_names[p->expect]);
			return -1;
		}
		r->nacked++;
		break;
	}
	}
	p->acked = true;
	p->applied = 1;
	w->late_successes += w->refused_seen;
	return 0;
}

/*
 * Keep WINDOW requests in flight until the deadline or ops_max, then wait
 * for the replies; stop when the connection dies. Every request goes out
 * in its own write so that connections interleave.
 */
static void worker_run(worker *w)
{
	conn c;
	w->head = w->nops;
	w->died = false;
	w->died_why[0] = '\0';
	size_t stop_at = w->nops + w->ops_max;
	if (conn_open(&c, w->port) != 0) {
		w->died = true;
		snprintf(w->died_why, sizeof(w->died_why), "cannot connect");
		return;
	}
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	int64_t drain_until = w->deadline + DRAIN_MS;
	for (;;) {
		while (w->nops - w->head < WINDOW && w->nops < stop_at &&
		    mono_ms() < w->deadline && !w->refused_seen) {
			size_t i = next_op(w);
			msgpack_sbuffer_clear(&sb);
			pack_op(&pk, w, i);
			if (conn_send(&c, sb.data, sb.size, drain_until, w->died_why,
			        sizeof(w->died_why)) != 0) {
				w->died = true;
				goto out;
			}
		}
		if (w->head == w->nops)
			break;
		int r = conn_next(&c, drain_until, w->died_why,
		    sizeof(w->died_why));
		if (r == 0) {
			wfail(w, "no reply to msgid %u within %d ms of the end of "
			    "the traffic", w->ops[w->head].msgid, DRAIN_MS);
			break;
		}
		if (r == -1) {
			w->died = true;
			break;
		}
		if (r < 0) {
			wfail(w, "%s", w->died_why);
			break;
		}
		if (take_reply(w, w->head, &c.msg.data) != 0)
			break;
		w->head++;
	}
out:
	msgpack_sbuffer_destroy(&sb);
	conn_close(&c);
}

static void *worker_main(void *arg)
{
	worker *w = arg;
	pthread_barrier_wait(w->start);
	w->deadline = mono_ms() + TRAFFIC_MS;
	worker_run(w);
	return NULL;
}

/* ---- main-thread calls ---- */

static allot_client *client_for(const harness_server *s)
{
	char err[512];
	allot_client *c = harness_client(s, CLIENT_TIMEOUT_MS, err, sizeof(err));
	cr_assert_not_null(c, "%s: cannot connect to allotd: %s", ctx, err);
	return c;
}

static const char *show(json_t *v)
{
	static char buf[4][2048];
	static int at;
	char *b = buf[at++ % 4];
	char *t = v != NULL ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	snprintf(b, sizeof(buf[0]), "%s", t != NULL ? t : "(none)");
	free(t);
	return b;
}

/*
 * Call method with each of params[0..n) (stolen), PIPE_CHUNK at a time on
 * one connection; results[i] is the result (new reference) or NULL, and
 * errors[i] the error (new reference) or NULL.
 */
static void pipelined(allot_client *c, const char *method, size_t n,
    json_t **params, json_t **results, json_t **errors)
{
	char err[512];
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	allot_message m;
	allot_message_init(&m);
	uint32_t *ids = calloc(PIPE_CHUNK, sizeof(*ids));
	cr_assert_not_null(ids);
	for (size_t from = 0; from < n; from += PIPE_CHUNK) {
		size_t to = from + PIPE_CHUNK < n ? from + PIPE_CHUNK : n;
		for (size_t i = from; i < to; i++) {
			msgpack_sbuffer_clear(&sb);
			msgpack_pack_array(&pk, 1);
			int rc = allot_json_pack(&pk, params[i], err, sizeof(err));
			cr_assert_eq(rc, 0, "%s: packing %s: %s", ctx, method, err);
			json_decref(params[i]);
			params[i] = NULL;
			rc = allot_client_send_request(c, method, sb.data, sb.size,
			    &ids[i - from], err, sizeof(err));
			cr_assert_eq(rc, 0, "%s: sending %s: %s", ctx, method, err);
		}
		for (size_t i = from; i < to; i++) {
			int rc = allot_client_recv(c, &m, err, sizeof(err));
			cr_assert_eq(rc, 0, "%s: waiting for %s replies: %s", ctx,
			    method, err);
			cr_assert_eq(m.type, ALLOT_MSG_RESPONSE);
			cr_assert_eq(m.msgid, ids[i - from], "%s: %s reply to msgid "
			    "%u, expected %u", ctx, method, m.msgid, ids[i - from]);
			errors[i] = m.error.type == MSGPACK_OBJECT_NIL ? NULL :
			    allot_json_from_msgpack(&m.error);
			results[i] = m.error.type == MSGPACK_OBJECT_NIL ?
			    allot_json_from_msgpack(&m.result) : NULL;
		}
	}
	allot_message_clear(&m);
	free(ids);
	msgpack_sbuffer_destroy(&sb);
}

static json_t *call_ok(allot_client *c, const char *method, json_t *params)
{
	json_t *result = NULL, *error = NULL;
	pipelined(c, method, 1, &params, &result, &error);
	if (error != NULL)
		cr_assert_fail("%s: %s answered %s", ctx, method, show(error));
	return result;
}

static json_int_t int_at(json_t *o, const char *key, json_int_t absent)
{
	json_t *v = json_object_get(o, key);
	if (v == NULL || json_is_null(v))
		return absent;
	cr_assert(json_is_integer(v), "%s: \"%s\" is not an integer in %s", ctx,
	    key, show(o));
	return json_integer_value(v);
}

/* ---- setting up a life ---- */

static void world_init(world *w, const char *tag)
{
	snprintf(w->tag, sizeof(w->tag), "%s", tag);
	for (int k = 0; k < NRSKU; k++)
		snprintf(w->rsku[k], sizeof(w->rsku[k]), "%s-r%d", tag, k);
}

static void world_stock(allot_client *c, const world *w)
{
	for (int k = 0; k < NRSKU; k++)
		for (int l = 0; l < NLOC; l++)
			json_decref(call_ok(c, "stock.set", json_pack(
			    "{s:s, s:s, s:i}", "sku", w->rsku[k], "location",
			    locs[l], "on_hand", l == 0 ? W1_STOCK : W2_STOCK)));
	for (int t = 0; t < NTHREADS; t++)
		for (int k = 0; k < NREC; k++) {
			char sku[96];
			rec_sku(w, t, k, sku, sizeof(sku));
			json_decref(call_ok(c, "stock.set", json_pack(
			    "{s:s, s:s, s:i}", "sku", sku, "location", "W1",
			    "on_hand", REC_INITIAL)));
		}
}

static void workers_init(worker *ws, int n, const world *w, uint64_t seed)
{
	for (int t = 0; t < n; t++) {
		memset(&ws[t], 0, sizeof(ws[t]));
		ws[t].index = t;
		ws[t].w = w;
		ws[t].rng = seed ^ (0x51ed2700ULL * (uint64_t)(t + 1));
		ws[t].ops_max = OPS_MAX;
		for (int k = 0; k < NREC; k++)
			ws[t].rec_sent[k] = REC_INITIAL;
	}
}

/* ---- checking what came back ---- */

static bool resv_matches(const world *w, const resv *r, const rstate *s,
    json_t *got, char *why, size_t why_len)
{
	const char *status = json_string_value(json_object_get(got, "status"));
	if (status == NULL || strcmp(status, status_names[s->status]) != 0) {
		snprintf(why, why_len, "status %s, not %s", status ? status : "?",
		    status_names[s->status]);
		return false;
	}
	json_t *exp = json_object_get(got, "expires_at");
	if (s->status == ST_HELD ? !json_is_integer(exp) ||
	        json_integer_value(exp) != r->expires_at :
	        exp != NULL && !json_is_null(exp)) {
		snprintf(why, why_len, "expires_at %s", show(exp));
		return false;
	}
	json_t *lines = json_object_get(got, "lines");
	if (!json_is_array(lines) || json_array_size(lines) != r->nlines) {
		snprintf(why, why_len, "not %d lines", r->nlines);
		return false;
	}
	for (int l = 0; l < r->nlines; l++) {
		json_t *line = json_array_get(lines, (size_t)l);
		const char *sku = json_string_value(json_object_get(line, "sku"));
		if (sku == NULL || strcmp(sku, w->rsku[r->sku[l]]) != 0 ||
		    int_at(line, "qty", -1) != r->qty[l]) {
			snprintf(why, why_len, "line %d is not %s x%d", l,
			    w->rsku[r->sku[l]], r->qty[l]);
			return false;
		}
		if (int_at(line, "released", 0) != s->released[l] ||
		    int_at(line, "fulfilled", 0) != s->fulfilled[l]) {
			snprintf(why, why_len, "line %d released %lld fulfilled %lld, "
			    "not %d and %d", l,
			    (long long)int_at(line, "released", 0),
			    (long long)int_at(line, "fulfilled", 0),
			    s->released[l], s->fulfilled[l]);
			return false;
		}
		json_t *al = json_object_get(line, "allocations");
		if (!json_is_array(al) || json_array_size(al) != r->nalloc[l]) {
			snprintf(why, why_len, "line %d: not %d allocations", l,
			    r->nalloc[l]);
			return false;
		}
		for (int j = 0; j < r->nalloc[l]; j++) {
			json_t *a = json_array_get(al, (size_t)j);
			const char *loc = json_string_value(json_object_get(a,
			    "location"));
			if (loc == NULL || strcmp(loc, locs[r->aloc[l][j]]) != 0 ||
			    int_at(a, "qty", -1) != s->rem[l][j]) {
				snprintf(why, why_len, "line %d allocation %d is %s, "
				    "expected %s x%d", l, j, show(a),
				    locs[r->aloc[l][j]], s->rem[l][j]);
				return false;
			}
		}
	}
	return true;
}

static void describe_ops(const worker *w, const resv *r, char *buf,
    size_t len)
{
	size_t at = 0;
	buf[0] = '\0';
	for (int k = 0; k < r->nops && at < len; k++) {
		const op *o = &w->ops[r->ops[k]];
		int n = snprintf(buf + at, len - at, "%s%s", k ? ", " : "",
		    op_names[o->kind]);
		at += n > 0 ? (size_t)n : 0;
		if (o->kind != OP_COMMIT && at < len) {
			n = o->a < 0 ? snprintf(buf + at, len - at, " all") :
			    snprintf(buf + at, len - at, " line %d x%d", o->a, o->b);
			at += n > 0 ? (size_t)n : 0;
		}
		if (at < len) {
			n = snprintf(buf + at, len - at, "%s",
			    o->acked ? " (acknowledged)" : o->refused ? " (refused)" :
			    " (no reply)");
			at += n > 0 ? (size_t)n : 0;
		}
	}
}

/*
 * Every known reservation reads as after its acknowledged operations and
 * a prefix of the others; record which of those took effect.
 */
static void check_reservations(allot_client *c, worker *ws, int nw)
{
	size_t n = 0;
	for (int t = 0; t < nw; t++)
		for (size_t k = 0; k < ws[t].nrs; k++)
			n += ws[t].rs[k].id[0] != '\0';
	json_t **params = calloc(n + 1, sizeof(*params));
	json_t **results = calloc(n + 1, sizeof(*results));
	json_t **errors = calloc(n + 1, sizeof(*errors));
	cr_assert(params && results && errors);
	size_t i = 0;
	for (int t = 0; t < nw; t++)
		for (size_t k = 0; k < ws[t].nrs; k++)
			if (ws[t].rs[k].id[0] != '\0')
				params[i++] = json_pack("{s:s}", "reservation_id",
				    ws[t].rs[k].id);
	pipelined(c, "reservation.get", n, params, results, errors);
	i = 0;
	for (int t = 0; t < nw; t++) {
		worker *w = &ws[t];
		for (size_t k = 0; k < w->nrs; k++) {
			resv *r = &w->rs[k];
			if (r->id[0] == '\0')
				continue;
			json_t *got = results[i], *error = errors[i];
			i++;
			char ops_text[512];
			describe_ops(w, r, ops_text, sizeof(ops_text));
			if (error != NULL)
				cr_assert_fail("%s: reservation %s (connection %d, "
				    "acknowledged reserve; then %s) answers %s after "
				    "the restart", ctx, r->id, t,
				    r->nops ? ops_text : "nothing", show(error));
			int found = -1;
			char why[256] = "", first_why[256] = "";
			rstate cand = r->orig;
			for (int p = 0; p <= r->nops; p++) {
				if (p > 0)
					rstate_apply(&cand, r, &w->ops[r->ops[p - 1]]);
				if (p < r->nacked)
					continue;
				if (resv_matches(w->w, r, &cand, got, why,
				        sizeof(why))) {
					found = p;
					break;
				}
				if (first_why[0] == '\0')
					snprintf(first_why, sizeof(first_why), "%s",
					    why);
			}
			if (found < 0)
				cr_assert_fail("%s: reservation %s (connection %d) "
				    "reads %s after the restart; its operations: "
				    "reserve (acknowledged), %s; it matches no state "
				    "after the acknowledged ones (%d) and a prefix "
				    "of the rest (first mismatch: %s)", ctx, r->id, t,
				    show(got), r->nops ? ops_text : "none", r->nacked,
				    first_why);
			r->found = cand;
			r->found_ops = found;
			for (int p = r->nacked; p < r->nops; p++)
				w->ops[r->ops[p]].applied = p < found;
			json_decref(got);
		}
	}
	free(params);
	free(results);
	free(errors);
}

/*
 * The owned records: on_hand follows the acknowledged sets and adjusts
 * and a prefix of the rest.
 */
static void check_owned_records(allot_client *c, worker *ws, int nw)
{
	for (int t = 0; t < nw; t++) {
		worker *w = &ws[t];
		for (int k = 0; k < NREC; k++) {
			char sku[96];
			rec_sku(w->w, t, k, sku, sizeof(sku));
			json_t *recs = call_ok(c, "stock.get", json_pack(
			    "{s:s, s:s}", "sku", sku, "location", "W1"));
			json_t *rec = json_array_get(recs, 0);
			cr_assert_not_null(rec, "%s: stock.get %s: %s", ctx, sku,
			    show(recs));
			json_int_t on_hand = int_at(rec, "on_hand", -1);
			cr_assert_eq(int_at(rec, "reserved", -1), 0);
			cr_assert_eq(int_at(rec, "committed", -1), 0);
			/* the record's requests, in order */
			size_t *mine = malloc((w->nops + 1) * sizeof(*mine));
			cr_assert_not_null(mine);
			size_t m = 0, acked = 0;
			for (size_t i = 0; i < w->nops; i++) {
				const op *o = &w->ops[i];
				if ((o->kind == OP_SET || o->kind == OP_ADJUST) &&
				    o->target == k) {
					mine[m++] = i;
					acked += o->acked;
				}
			}
			int64_t value = REC_INITIAL;
			int matches = 0, match_at = -1;
			char seq[512] = "";
			size_t at = 0;
			for (size_t p = 0; p <= m; p++) {
				if (p > 0) {
					const op *o = &w->ops[mine[p - 1]];
					value = o->kind == OP_SET ? o->a : value + o->a;
				}
				if (p < acked)
					continue;
				if (at < sizeof(seq)) {
					int n = snprintf(seq + at, sizeof(seq) - at,
					    "%s%lld", p > acked ? ", " : "",
					    (long long)value);
					at += n > 0 ? (size_t)n : 0;
				}
				if (value == on_hand) {
					matches++;
					match_at = (int)p;
				}
			}
			cr_assert_gt(matches, 0, "%s: %s@W1 has on_hand %lld after "
			    "the restart; after its %zu acknowledged sets and "
			    "adjusts and a prefix of the %zu others it would be "
			    "one of: %s", ctx, sku, (long long)on_hand, acked,
			    m - acked, seq);
			if (matches == 1)
				for (size_t p = acked; p < m; p++)
					w->ops[mine[p]].applied = (int)p < match_at;
			free(mine);
			json_decref(recs);
		}
	}
}

/* Units per record of the reserved skus, from reservation states. */
typedef struct tally {
	int64_t held[NRSKU][NLOC], committed[NRSKU][NLOC], fulfilled[NRSKU][NLOC];
	int64_t unknown[NRSKU]; /* units of reserves never answered */
} tally;

static void tally_add(tally *y, const resv *r, const rstate *s)
{
	for (int l = 0; l < r->nlines; l++)
		for (int j = 0; j < r->nalloc[l]; j++) {
			int loc = r->aloc[l][j];
			if (s->status == ST_HELD)
				y->held[r->sku[l]][loc] += s->rem[l][j];
			else if (s->status == ST_COMMITTED)
				y->committed[r->sku[l]][loc] += s->rem[l][j];
			y->fulfilled[r->sku[l]][loc] += s->ful[l][j];
		}
}

static void tally_known(tally *y, worker *ws, int nw)
{
	memset(y, 0, sizeof(*y));
	for (int t = 0; t < nw; t++)
		for (size_t k = 0; k < ws[t].nrs; k++) {
			const resv *r = &ws[t].rs[k];
			if (r->id[0] != '\0') {
				tally_add(y, r, &r->found);
			} else {
				for (int l = 0; l < r->nlines; l++)
					y->unknown[r->sku[l]] += r->qty[l];
			}
		}
}

/*
 * The records of the reserved skus against the tally: committed and
 * on_hand exact; reserved exact when exact_reserved, else between the
 * known holds and those plus the unanswered reserves.
 */
static void check_reserved_records(allot_client *c, const world *w,
    const tally *y, bool exact_reserved)
{
	for (int k = 0; k < NRSKU; k++) {
		json_t *recs = call_ok(c, "stock.get", json_pack("{s:s}", "sku",
		    w->rsku[k]));
		cr_assert(json_is_array(recs) && json_array_size(recs) == NLOC,
		    "%s: stock.get %s: %s", ctx, w->rsku[k], show(recs));
		int64_t extra = 0;
		for (int l = 0; l < NLOC; l++) {
			json_t *rec = json_array_get(recs, (size_t)l);
			int64_t initial = l == 0 ? W1_STOCK : W2_STOCK;
			int64_t on_hand = int_at(rec, "on_hand", -1);
			int64_t reserved = int_at(rec, "reserved", -1);
			int64_t committed = int_at(rec, "committed", -1);
			cr_assert_eq(on_hand, initial - y->fulfilled[k][l], "%s: %s@%s "
			    "on_hand %lld; the reservations read back fulfilled "
			    "%lld of %lld there", ctx, w->rsku[k], locs[l],
			    (long long)on_hand, (long long)y->fulfilled[k][l],
			    (long long)initial);
			cr_assert_eq(committed, y->committed[k][l], "%s: %s@%s "
			    "committed %lld; the committed reservations read back "
			    "hold %lld there", ctx, w->rsku[k], locs[l],
			    (long long)committed, (long long)y->committed[k][l]);
			if (exact_reserved)
				cr_assert_eq(reserved, y->held[k][l], "%s: %s@%s "
				    "reserved %lld; the held reservations hold %lld "
				    "there", ctx, w->rsku[k], locs[l],
				    (long long)reserved, (long long)y->held[k][l]);
			else
				cr_assert_geq(reserved, y->held[k][l], "%s: %s@%s "
				    "reserved %lld, less than the %lld that the known "
				    "held reservations hold", ctx, w->rsku[k], locs[l],
				    (long long)reserved, (long long)y->held[k][l]);
			extra += reserved - y->held[k][l];
		}
		if (!exact_reserved)
			cr_assert_leq(extra, y->unknown[k], "%s: %s has %lld units "
			    "reserved beyond the known holds, but unanswered "
			    "reserves asked for only %lld", ctx, w->rsku[k],
			    (long long)extra, (long long)y->unknown[k]);
		json_decref(recs);
	}
}

/*
 * Retry every unanswered reserve with its idempotency key: the answer is
 * the first hold if it was journaled (its clock reading is from before the
 * kill), else a new one made now. Either way it is now known.
 */
static void retry_unanswered_reserves(allot_client *c, worker *ws, int nw,
    int64_t killed_at, int64_t ready_at, int *old_out, int *new_out)
{
	*old_out = *new_out = 0;
	for (int t = 0; t < nw; t++) {
		worker *w = &ws[t];
		for (size_t k = 0; k < w->nrs; k++) {
			resv *r = &w->rs[k];
			if (r->id[0] != '\0')
				continue;
			size_t i = (size_t)r->reserve_op;
			char order[96], key[96];
			snprintf(order, sizeof(order), "o-%s-%d-%zu", w->w->tag, t, i);
			snprintf(key, sizeof(key), "rk-%s-%d-%zu", w->w->tag, t, i);
			json_t *lines = json_array();
			for (int l = 0; l < r->nlines; l++)
				json_array_append_new(lines, json_pack("{s:s, s:i}",
				    "sku", w->w->rsku[r->sku[l]], "qty", r->qty[l]));
			json_t *res = call_ok(c, "reserve", json_pack(
			    "{s:s, s:o, s:i, s:s}", "order_id", order, "lines", lines,
			    "ttl_ms", TTL_MS, "idempotency_key", key));
			/* Reuse the reply reader of the traffic. */
			msgpack_sbuffer sb;
			msgpack_sbuffer_init(&sb);
			msgpack_packer pk;
			msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
			char err[256];
			cr_assert_eq(allot_json_pack(&pk, res, err, sizeof(err)), 0);
			msgpack_unpacked u;
			msgpack_unpacked_init(&u);
			cr_assert_eq(msgpack_unpack_next(&u, sb.data, sb.size, NULL),
			    MSGPACK_UNPACK_SUCCESS);
			int rc = take_reservation(w, r, &u.data, 0);
			msgpack_unpacked_destroy(&u);
			msgpack_sbuffer_destroy(&sb);
			cr_assert_eq(rc, 0, "%s: retried reserve %s: %s (%s)", ctx,
			    order, w->error, show(res));
			json_decref(res);
			int64_t ran_at = r->expires_at - TTL_MS;
			if (ran_at <= killed_at) {
				r->old = true;
				++*old_out;
			} else {
				cr_assert_geq(ran_at, ready_at, "%s: the retried reserve "
				    "%s ran at %lld, after the kill (%lld) and before "
				    "allotd was back (%lld)", ctx, order,
				    (long long)ran_at, (long long)killed_at,
				    (long long)ready_at);
				++*new_out;
			}
			w->ops[i].applied = r->old;
			r->retried = true;
			r->found = r->orig;
			r->found_ops = 0;
		}
	}
}

/* Unanswered requests that took effect come before those that did not. */
static void check_prefix(worker *ws, int nw)
{
	for (int t = 0; t < nw; t++) {
		const worker *w = &ws[t];
		long last_no = -1;
		for (size_t i = w->head; i < w->nops; i++) {
			const op *o = &w->ops[i];
			if (o->applied == 0 && last_no < 0)
				last_no = (long)i;
			if (o->applied == 1 && last_no >= 0)
				cr_assert_fail("%s: connection %d: request %zu (%s, no "
				    "reply) took effect but the earlier request %ld "
				    "(%s, no reply) did not: the journal has a hole",
				    ctx, t, i, op_names[o->kind], last_no,
				    op_names[w->ops[last_no].kind]);
		}
	}
}

/*
 * A retry of the last acknowledged adjust of each record answers the first
 * reply and changes nothing.
 */
static void check_adjust_retries(allot_client *c, worker *ws, int nw)
{
	for (int t = 0; t < nw; t++) {
		worker *w = &ws[t];
		for (int k = 0; k < NREC; k++) {
			long last = -1;
			for (size_t i = 0; i < w->head; i++)
				if (w->ops[i].kind == OP_ADJUST && w->ops[i].target == k &&
				    w->ops[i].acked)
					last = (long)i;
			if (last < 0)
				continue;
			const op *o = &w->ops[last];
			char sku[96], key[96];
			rec_sku(w->w, t, k, sku, sizeof(sku));
			snprintf(key, sizeof(key), "ak-%s-%d-%ld", w->w->tag, t, last);
			json_t *before = call_ok(c, "stock.get", json_pack(
			    "{s:s, s:s}", "sku", sku, "location", "W1"));
			json_t *again = call_ok(c, "stock.adjust", json_pack(
			    "{s:s, s:s, s:i, s:s}", "sku", sku, "location", "W1",
			    "delta", o->a, "idempotency_key", key));
			cr_assert(int_at(again, "on_hand", -1) == o->reply_on_hand &&
			    int_at(again, "version", -1) == o->reply_version,
			    "%s: adjust %s retried after the restart answered %s; "
			    "the first reply had on_hand %lld version %lld", ctx, key,
			    show(again), (long long)o->reply_on_hand,
			    (long long)o->reply_version);
			json_t *after = call_ok(c, "stock.get", json_pack(
			    "{s:s, s:s}", "sku", sku, "location", "W1"));
			cr_assert(json_equal(before, after), "%s: a retried adjust "
			    "changed %s: %s then %s", ctx, sku, show(before),
			    show(after));
			json_decref(before);
			json_decref(again);
			json_decref(after);
		}
	}
}

/* Everything readable about a life, for comparing after later kills. */
static json_t *capture_life(allot_client *c, const world *w, worker *ws,
    int nw)
{
	json_t *state = json_object();
	json_t *stock = json_object();
	for (int k = 0; k < NRSKU; k++)
		json_object_set_new(stock, w->rsku[k], call_ok(c, "stock.get",
		    json_pack("{s:s}", "sku", w->rsku[k])));
	for (int t = 0; t < nw; t++)
		for (int k = 0; k < NREC; k++) {
			char sku[96];
			rec_sku(w, t, k, sku, sizeof(sku));
			json_object_set_new(stock, sku, call_ok(c, "stock.get",
			    json_pack("{s:s}", "sku", sku)));
		}
	json_object_set_new(state, "stock", stock);
	size_t n = 0;
	for (int t = 0; t < nw; t++)
		for (size_t k = 0; k < ws[t].nrs; k++)
			n += ws[t].rs[k].id[0] != '\0';
	json_t **params = calloc(n + 1, sizeof(*params));
	json_t **results = calloc(n + 1, sizeof(*results));
	json_t **errors = calloc(n + 1, sizeof(*errors));
	cr_assert(params && results && errors);
	size_t i = 0;
	for (int t = 0; t < nw; t++)
		for (size_t k = 0; k < ws[t].nrs; k++)
			if (ws[t].rs[k].id[0] != '\0')
				params[i++] = json_pack("{s:s}", "reservation_id",
				    ws[t].rs[k].id);
	pipelined(c, "reservation.get", n, params, results, errors);
	json_t *by_id = json_object();
	i = 0;
	for (int t = 0; t < nw; t++)
		for (size_t k = 0; k < ws[t].nrs; k++) {
			if (ws[t].rs[k].id[0] == '\0')
				continue;
			if (errors[i] != NULL)
				cr_assert_fail("%s: reservation.get %s: %s", ctx,
				    ws[t].rs[k].id, show(errors[i]));
			json_object_set_new(by_id, ws[t].rs[k].id, results[i]);
			i++;
		}
	json_object_set_new(state, "reservations", by_id);
	free(params);
	free(results);
	free(errors);
	return state;
}

static void expect_same(json_t *before, json_t *after, const char *when)
{
	if (json_equal(before, after))
		return;
	const char *key;
	json_t *part;
	json_object_foreach(before, key, part) {
		const char *k2;
		json_t *v;
		json_t *other = json_object_get(after, key);
		json_object_foreach(part, k2, v) {
			json_t *v2 = json_object_get(other, k2);
			if (!json_equal(v, v2))
				cr_assert_fail("%s: after %s, %s %s reads %s; before "
				    "it read %s", ctx, when, key, k2, show(v2),
				    show(v));
		}
	}
	cr_assert_fail("%s: the state differs after %s", ctx, when);
}

/*
 * When every request got a reply (success or refusal), the state is known
 * exactly: each record and reservation is the result of the requests that
 * succeeded, in order, and nothing else.
 */
static void check_exact(allot_client *c, worker *ws, int nw, const world *w)
{
	for (int t = 0; t < nw; t++) {
		worker *wk = &ws[t];
		for (size_t k = 0; k < wk->nrs; k++) {
			resv *r = &wk->rs[k];
			if (r->id[0] == '\0')
				continue;
			r->found = r->orig;
			r->found_ops = 0;
			for (int p = 0; p < r->nops; p++)
				if (wk->ops[r->ops[p]].acked) {
					rstate_apply(&r->found, r, &wk->ops[r->ops[p]]);
					r->found_ops++;
				}
		}
		for (int k = 0; k < NREC; k++) {
			int64_t value = REC_INITIAL;
			size_t acked = 0, refused = 0;
			for (size_t i = 0; i < wk->nops; i++) {
				const op *o = &wk->ops[i];
				if ((o->kind != OP_SET && o->kind != OP_ADJUST) ||
				    o->target != k)
					continue;
				if (o->acked)
					value = o->kind == OP_SET ? o->a : value + o->a;
				acked += o->acked;
				refused += o->refused;
			}
			char sku[96];
			rec_sku(w, t, k, sku, sizeof(sku));
			json_t *recs = call_ok(c, "stock.get", json_pack(
			    "{s:s, s:s}", "sku", sku, "location", "W1"));
			json_int_t on_hand = int_at(json_array_get(recs, 0), "on_hand",
			    -1);
			cr_assert_eq(on_hand, value, "%s: %s@W1 has on_hand %lld; its "
			    "%zu successful sets and adjusts make %lld (%zu others "
			    "were refused)", ctx, sku, (long long)on_hand, acked,
			    (long long)value, refused);
			json_decref(recs);
		}
	}
	size_t n = 0;
	for (int t = 0; t < nw; t++)
		for (size_t k = 0; k < ws[t].nrs; k++)
			n += ws[t].rs[k].id[0] != '\0';
	json_t **params = calloc(n + 1, sizeof(*params));
	json_t **results = calloc(n + 1, sizeof(*results));
	json_t **errors = calloc(n + 1, sizeof(*errors));
	cr_assert(params && results && errors);
	size_t i = 0;
	for (int t = 0; t < nw; t++)
		for (size_t k = 0; k < ws[t].nrs; k++)
			if (ws[t].rs[k].id[0] != '\0')
				params[i++] = json_pack("{s:s}", "reservation_id",
				    ws[t].rs[k].id);
	pipelined(c, "reservation.get", n, params, results, errors);
	i = 0;
	for (int t = 0; t < nw; t++)
		for (size_t k = 0; k < ws[t].nrs; k++) {
			resv *r = &ws[t].rs[k];
			if (r->id[0] == '\0')
				continue;
			json_t *got = results[i], *error = errors[i];
			i++;
			char ops_text[512], why[256];
			describe_ops(&ws[t], r, ops_text, sizeof(ops_text));
			if (error != NULL)
				cr_assert_fail("%s: reservation %s (connection %d) "
				    "answers %s", ctx, r->id, t, show(error));
			if (!resv_matches(w, r, &r->found, got, why, sizeof(why)))
				cr_assert_fail("%s: reservation %s (connection %d) reads "
				    "%s: %s; after the reserve, its operations were %s "
				    "and %d of them succeeded", ctx, r->id, t, show(got),
				    why, r->nops ? ops_text : "none", r->found_ops);
			json_decref(got);
		}
	free(params);
	free(results);
	free(errors);
	tally y;
	tally_known(&y, ws, nw);
	check_reserved_records(c, w, &y, true);
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
	    ctx, ns, err);
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

static void run_round(uint64_t base, uint64_t seed, int round,
    const char *const *args)
{
	char ns[48];
	snprintf(ns, sizeof(ns), "crash-%d-%016" PRIx64, round, seed);
	snprintf(ctx, sizeof(ctx), "seed 0x%016" PRIx64 " round %d", base, round);
	uint64_t rng = seed;
	start_allotd(ns, args);

	static world worlds[LIVES];
	static worker ws[LIVES][NTHREADS];
	json_t *captures[LIVES] = { NULL };
	for (int life = 0; life < LIVES; life++) {
		snprintf(ctx, sizeof(ctx), "seed 0x%016" PRIx64 " round %d life %d",
		    base, round, life);
		char tag[32];
		snprintf(tag, sizeof(tag), "c%dl%d", round, life);
		world_init(&worlds[life], tag);
		allot_client *c = client_for(srv);
		world_stock(c, &worlds[life]);
		allot_client_destroy(c);
		workers_init(ws[life], NTHREADS, &worlds[life], splitmix(&rng));

		pthread_barrier_t start;
		pthread_barrier_init(&start, NULL, NTHREADS + 1);
		pthread_t th[NTHREADS];
		for (int t = 0; t < NTHREADS; t++) {
			ws[life][t].port = srv->port;
			ws[life][t].start = &start;
			cr_assert_eq(pthread_create(&th[t], NULL, worker_main,
			    &ws[life][t]), 0);
		}
		int kill_after = KILL_MIN_MS + rnd(&rng, KILL_SPAN_MS);
		pthread_barrier_wait(&start);
		sleep_ms(kill_after);
		int status = allotd_kill(srv);
		srv = NULL;
		int64_t killed_at = wall_ms();
		cr_assert_eq(status, 128 + 9, "%s: allotd ended with status %d "
		    "before the kill", ctx, status);
		for (int t = 0; t < NTHREADS; t++)
			pthread_join(th[t], NULL);
		pthread_barrier_destroy(&start);

		size_t sent = 0, acked = 0;
		for (int t = 0; t < NTHREADS; t++) {
			worker *w = &ws[life][t];
			cr_assert_str_empty(w->error, "%s: connection %d: %s", ctx, t,
			    w->error);
			cr_assert(w->died, "%s: connection %d finished its traffic "
			    "before the kill at %d ms", ctx, t, kill_after);
			sent += w->nops;
			acked += w->head;
		}
		cr_assert_gt(sent - acked, 0, "%s: nothing was in flight at the "
		    "kill", ctx);

		sleep_ms(5);
		start_allotd(ns, args);
		int64_t ready_at = wall_ms();
		c = client_for(srv);
		check_owned_records(c, ws[life], NTHREADS);
		check_reservations(c, ws[life], NTHREADS);
		tally y;
		tally_known(&y, ws[life], NTHREADS);
		check_reserved_records(c, &worlds[life], &y, false);
		int old = 0, fresh = 0;
		retry_unanswered_reserves(c, ws[life], NTHREADS, killed_at,
		    ready_at, &old, &fresh);
		tally_known(&y, ws[life], NTHREADS);
		check_reserved_records(c, &worlds[life], &y, true);
		check_prefix(ws[life], NTHREADS);
		check_adjust_retries(c, ws[life], NTHREADS);
		size_t applied = 0, unknown = 0;
		for (int t = 0; t < NTHREADS; t++)
			for (size_t i = ws[life][t].head; i < ws[life][t].nops; i++) {
				applied += ws[life][t].ops[i].applied == 1;
				unknown += ws[life][t].ops[i].applied < 0;
			}
		cr_log_info("%s: kill at %d ms: %zu requests sent, %zu "
		    "acknowledged; of the %zu others %zu took effect and %zu "
		    "cannot be told; %d unanswered reserves were journaled, %d "
		    "were not", ctx, kill_after, sent, acked, sent - acked,
		    applied, unknown, old, fresh);
		for (int p = 0; p < life; p++)
			expect_same(captures[p], capture_life(c, &worlds[p], ws[p],
			    NTHREADS), "a later kill");
		captures[life] = capture_life(c, &worlds[life], ws[life], NTHREADS);
		allot_client_destroy(c);
	}

	/* A clean restart keeps all of it. */
	snprintf(ctx, sizeof(ctx), "seed 0x%016" PRIx64 " round %d", base, round);
	int status = harness_server_stop(srv);
	srv = NULL;
	cr_assert_eq(status, 0, "%s: allotd exited with status %d on SIGTERM",
	    ctx, status);
	start_allotd(ns, args);
	allot_client *c = client_for(srv);
	for (int life = 0; life < LIVES; life++) {
		json_t *now = capture_life(c, &worlds[life], ws[life], NTHREADS);
		expect_same(captures[life], now, "a clean restart");
		json_decref(now);
		json_decref(captures[life]);
		for (int t = 0; t < NTHREADS; t++)
			worker_free(&ws[life][t]);
	}
	allot_client_destroy(c);
	status = harness_server_stop(srv);
	srv = NULL;
	cr_assert_eq(status, 0, "%s: allotd exited with status %d on SIGTERM",
	    ctx, status);
}

Test(crash, kill_during_pipelined_traffic)
{
	uint64_t base = announce_seed("kill_during_pipelined_traffic");
	uint64_t seed = base;
	for (int round = 0; round < ROUNDS; round++)
		run_round(base, splitmix(&seed), round, NULL);
}

Test(crash, kill_during_traffic_with_frequent_snapshots)
{
	static const char *const args[] = { "--snapshot-every-records", "500",
		NULL };
	uint64_t base = announce_seed("kill_during_traffic_with_frequent_snapshots");
	uint64_t seed = base;
	run_round(base, splitmix(&seed), 0, args);
	snprintf(ctx, sizeof(ctx), "frequent snapshots");
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

static void sleep_us(int64_t us)
{
	if (us <= 0)
		return;
	struct timespec ts = { (time_t)(us / 1000000), (long)(us % 1000000) * 1000L };
	while (nanosleep(&ts, &ts) != 0)
		;
}

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Send a snapshot request on a new raw connection; returns the socket. */
static int send_snapshot(int port)
{
	int fd = harness_connect_raw(port, CLIENT_TIMEOUT_MS);
	cr_assert_geq(fd, 0, "%s: cannot connect", ctx);
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	pack_head(&pk, 1, "snapshot", 0);
	int rc = harness_write_all(fd, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	cr_assert_eq(rc, 0, "%s: cannot send the snapshot request", ctx);
	return fd;
}

/* How long a snapshot takes to be answered now, in microseconds. */
static int64_t time_snapshot(int port)
{
	int fd = send_snapshot(port);
	int64_t t0 = mono_us();
	conn c;
	memset(&c, 0, sizeof(c));
	c.fd = fd;
	cr_assert(msgpack_unpacker_init(&c.up, 1 << 16));
	msgpack_unpacked_init(&c.msg);
	c.ready = true;
	char why[160] = "";
	int r = conn_next(&c, mono_ms() + CLIENT_TIMEOUT_MS, why, sizeof(why));
	int64_t took = mono_us() - t0;
	cr_assert_eq(r, 1, "%s: no reply to snapshot: %s", ctx, why);
	const msgpack_object *o = &c.msg.data;
	cr_assert(o->type == MSGPACK_OBJECT_ARRAY && o->via.array.size == 4 &&
	    o->via.array.ptr[2].type == MSGPACK_OBJECT_NIL, "%s: the snapshot "
	    "method failed", ctx);
	conn_close(&c);
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
	cr_assert_not_null(rc, "%s: %s", ctx, err);
	redisReply *snap = redisCommand(rc, "HGET %s snapshot", meta);
	cr_assert_not_null(snap, "%s: HGET %s: %s", ctx, meta, rc->errstr);
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
	    ctx);
	char stray[160] = "";
	for (size_t i = 0; i < keys->elements; i++)
		if (strcmp(keys->element[i]->str, key) != 0)
			snprintf(stray, sizeof(stray), "%s", keys->element[i]->str);
	freeReplyObject(keys);
	redisFree(rc);
	cr_assert_eq(exists, 1, "%s: %s names the snapshot %s, which does not "
	    "exist", ctx, meta, key);
	cr_assert_str_empty(stray, "%s: after the restart the snapshot key %s "
	    "is left besides the current one (%s)", ctx, stray,
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
	snprintf(ctx, sizeof(ctx), "seed 0x%016" PRIx64 " snapshot kills", seed);
	const char *ns = "snapkill";
	start_allotd(ns, NULL);
	world w;
	world_init(&w, "snap");
	allot_client *c = client_for(srv);
	world_stock(c, &w);
	allot_client_destroy(c);
	static worker wk;
	workers_init(&wk, 1, &w, splitmix(&rng));
	/* one connection: only its records change */
	int answered = 0;
	for (int it = 0; it < SNAP_KILLS; it++) {
		snprintf(ctx, sizeof(ctx), "seed 0x%016" PRIx64 " snapshot kill %d",
		    seed, it);
		/* More state, every request answered. */
		wk.port = srv->port;
		wk.ops_max = SNAP_OPS;
		wk.deadline = mono_ms() + 30000;
		worker_run(&wk);
		cr_assert_str_empty(wk.error, "%s: %s", ctx, wk.error);
		cr_assert(!wk.died, "%s: the connection failed: %s", ctx,
		    wk.died_why);
		cr_assert_eq(wk.head, wk.nops);
		int64_t took = time_snapshot(srv->port);
		wk.ops_max = 50;
		worker_run(&wk);
		cr_assert_str_empty(wk.error, "%s: %s", ctx, wk.error);
		cr_assert_eq(wk.head, wk.nops);
		c = client_for(srv);
		json_t *before = capture_life(c, &w, &wk, 1);
		allot_client_destroy(c);

		/* snapshot, then kill -9 up to twice its time later */
		int64_t span = took * 2 > 200 ? took * 2 : 200;
		int64_t delay = it == 0 ? 0 : (int64_t)(splitmix(&rng) %
		    (uint64_t)(span + 1));
		int fd = send_snapshot(srv->port);
		sleep_us(delay);
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		bool replied = poll(&pfd, 1, 0) > 0;
		int status = allotd_kill(srv);
		srv = NULL;
		close(fd);
		cr_assert_eq(status, 128 + 9, "%s: allotd ended with status %d "
		    "before the kill", ctx, status);
		answered += replied;

		start_allotd(ns, NULL);
		expect_current_snapshot_exists(ns);
		c = client_for(srv);
		json_t *after = capture_life(c, &w, &wk, 1);
		allot_client_destroy(c);
		char when[160];
		snprintf(when, sizeof(when), "a kill %lld us after a snapshot "
		    "request (one took %lld us; %s)", (long long)delay,
		    (long long)took, replied ? "answered" : "not answered yet");
		cr_log_info("%s: %s", ctx, when);
		expect_same(before, after, when);
		json_decref(before);
		json_decref(after);
	}
	cr_log_info("%s: %d of %d snapshots had answered before the kill", ctx,
	    answered, SNAP_KILLS);
	int status = harness_server_stop(srv);
	srv = NULL;
	cr_assert_eq(status, 0, "%s: allotd exited with status %d on SIGTERM",
	    ctx, status);
	worker_free(&wk);
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
		snprintf(ctx, sizeof(ctx), "seed 0x%016" PRIx64 " Redis loss "
		    "round %d", base, round);
		char ns[32], tag[32];
		snprintf(ns, sizeof(ns), "loss-%d", round);
		snprintf(tag, sizeof(tag), "x%d", round);
		start_allotd(ns, NULL);
		world_init(&worlds[round], tag);
		allot_client *c = client_for(srv);
		world_stock(c, &worlds[round]);
		allot_client_destroy(c);
		workers_init(ws, NTHREADS, &worlds[round], splitmix(&rng));

		pthread_barrier_t start;
		pthread_barrier_init(&start, NULL, NTHREADS + 1);
		pthread_t th[NTHREADS];
		for (int t = 0; t < NTHREADS; t++) {
			ws[t].port = srv->port;
			ws[t].start = &start;
			ws[t].lenient = true;
			cr_assert_eq(pthread_create(&th[t], NULL, worker_main,
			    &ws[t]), 0);
		}
		int lose_at = LOSS_AT_MIN_MS + rnd(&rng, LOSS_AT_SPAN_MS);
		int down_for = DOWN_MIN_MS + rnd(&rng, DOWN_SPAN_MS);
		bool hard = round % 2 == 1;
		pthread_barrier_wait(&start);
		sleep_ms(lose_at);
		int status = hard ? redis_server_kill(rs) : redis_server_stop(rs);
		cr_assert_eq(status, hard ? 128 + 9 : 0, "%s: redis-server ended "
		    "with status %d", ctx, status);
		sleep_ms(down_for);
		char err[1024];
		cr_assert_eq(redis_server_restart(rs, err, sizeof(err)), 0,
		    "%s: cannot restart redis-server: %s", ctx, err);
		for (int t = 0; t < NTHREADS; t++)
			pthread_join(th[t], NULL);
		pthread_barrier_destroy(&start);

		size_t sent = 0, ok = 0;
		int unavailable = 0, other = 0, late = 0;
		for (int t = 0; t < NTHREADS; t++) {
			worker *w = &ws[t];
			cr_assert_str_empty(w->error, "%s: connection %d: %s", ctx, t,
			    w->error);
			cr_assert(!w->died, "%s: connection %d: %s", ctx, t,
			    w->died_why);
			cr_assert_eq(w->head, w->nops, "%s: connection %d: %zu "
			    "requests without a reply", ctx, t, w->nops - w->head);
			sent += w->nops;
			for (size_t i = 0; i < w->nops; i++)
				ok += w->ops[i].acked;
			unavailable += w->unavailable;
			other += w->other_errors;
			late += w->late_successes;
		}
		cr_assert_gt(unavailable, 0, "%s: Redis was %s %d ms into the "
		    "traffic for %d ms and no request answered UNAVAILABLE", ctx,
		    hard ? "killed" : "stopped", lose_at, down_for);
		cr_log_info("%s: Redis %s at %d ms for %d ms: %zu requests, %zu "
		    "succeeded, %d UNAVAILABLE, %d other errors after a refusal, "
		    "%d successes after a refusal", ctx,
		    hard ? "killed" : "stopped", lose_at, down_for, sent, ok,
		    unavailable, other, late);

		c = client_for(srv);
		check_exact(c, ws, NTHREADS, &worlds[round]);
		allot_client_destroy(c);

		status = allotd_kill(srv);
		srv = NULL;
		cr_assert_eq(status, 128 + 9);
		start_allotd(ns, NULL);
		c = client_for(srv);
		check_exact(c, ws, NTHREADS, &worlds[round]);
		check_adjust_retries(c, ws, NTHREADS);
		allot_client_destroy(c);
		status = harness_server_stop(srv);
		srv = NULL;
		cr_assert_eq(status, 0, "%s: allotd exited with status %d on "
		    "SIGTERM", ctx, status);
		for (int t = 0; t < NTHREADS; t++)
			worker_free(&ws[t]);
	}
}
