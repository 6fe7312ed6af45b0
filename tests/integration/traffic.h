/*
 * traffic.h - the crash tests' traffic (test_crash.c): a few connections,
 * one thread each, keep WINDOW requests in flight: reserve, commit,
 * release and fulfill (whole or by line) of their own reservations, and
 * stock.adjust (with idempotency keys) and stock.set of records each
 * connection owns. Each worker keeps a log of what it sent and a model of
 * each reservation, so every request it sends is valid when it runs, and
 * it checks every reply against the model.
 *
 * The log is what the oracle (oracle.h) reads to say what allotd may hold
 * after a kill. Worker threads do not assert: a wrong reply is recorded in
 * worker.error for the test's thread to report.
 */
#ifndef ALLOT_TESTS_TRAFFIC_H
#define ALLOT_TESTS_TRAFFIC_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire_client.h"

#define NTHREADS 4
#define WINDOW 32            /* requests in flight per connection */
#define TRAFFIC_MS 3000      /* the longest a burst of traffic runs */
#define OPS_MAX 200000       /* requests per connection per burst */
#define DRAIN_MS 10000       /* bound on waiting for replies at the end */
#define CLIENT_TIMEOUT_MS 10000

#define TTL_MS 600000
#define NRSKU 4              /* skus reserved from */
#define NLOC 2
#define NREC 2               /* records each connection sets and adjusts */
#define W1_STOCK 40          /* scarce: holds spill over to W2 */
#define W2_STOCK 1000000
#define REC_INITIAL 500
#define RES_ID_MAX 32
#define MAX_RESV_OPS 8       /* commit + at most one op per unit (6) */

/* The locations, in rank order; the names of statuses and operations. */
extern const char *const traffic_locs[NLOC];
enum { ST_HELD, ST_COMMITTED, ST_RELEASED, ST_FULFILLED };
extern const char *const traffic_status_names[4];
enum { OP_SET, OP_ADJUST, OP_RESERVE, OP_COMMIT, OP_RELEASE, OP_FULFILL };
extern const char *const traffic_op_names[6];

/* One life's names: the skus reserved from, and the owned records. */
typedef struct world {
	char tag[32];
	char rsku[NRSKU][48];
} world;

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
	int64_t deadline;         /* stop sending (harness_now_ms()) */
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

/* splitmix64: the next number of the sequence *s, and one in [0, n). */
uint64_t traffic_splitmix(uint64_t *s);
int traffic_rnd(uint64_t *s, int n);

/* A life named tag: its reserved skus are "<tag>-r<k>". */
void traffic_world_init(world *w, const char *tag);
/* The name of record k owned by connection thread. */
void traffic_rec_sku(const world *w, int thread, int k, char *buf,
    size_t len);
/* n workers of world w, with seeds drawn from seed. */
void traffic_workers_init(worker *ws, int n, const world *w, uint64_t seed);
void traffic_worker_free(worker *w);

/*
 * Keep WINDOW requests in flight on a new connection to w->port until
 * w->deadline or w->ops_max more requests, then wait up to DRAIN_MS for
 * the replies; stop when the connection dies (w->died).
 */
void traffic_worker_run(worker *w);
/* A thread's start: wait at w->start, then run for TRAFFIC_MS. */
void *traffic_worker_main(void *arg);

/* The state of reservation r after operation o (the reservation model). */
void traffic_resv_apply(rstate *s, const resv *r, const op *o);

/* Write request i of w into c->out, as msgid. */
void traffic_write_op(wire_conn *c, const worker *w, size_t i,
    uint32_t msgid);
/* Read a reserve's result into r: id, deadline, allocations. 0, or -1
 * with w->error set when it is not a hold of r's lines. */
int traffic_take_reservation(worker *w, resv *r, mp_cursor res,
    uint32_t msgid);

#endif
