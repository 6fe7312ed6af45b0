/*
 * bench.h - what the parts of allot-bench share: its limits, its options,
 * a connection and a worker, and each part's entry points.
 *
 * The parts, each in its own file:
 *   allot-bench.c     options and main
 *   bench_run.c       a worker's phases: connect and load, probe, the timed
 *                     run (closed or open loop), the drain
 *   bench_conn.c      connections on libuv: connect, write, read, fail,
 *                     and the rings of what each has in flight
 *   bench_rpc.c       allotd's MessagePack-RPC: requests, and replies framed
 *                     with proto/mp.h's resumable reader
 *   bench_resp.c      Redis's RESP: requests and replies
 *   bench_storm.c     the storm: warm-up connections, then C fresh ones
 *                     opened at the start of the timed phase
 *   bench_workload.c  what each workload loads, sends, and what a reply
 *                     means to it; the probes of the verdict
 *   bench_lua.c       the Redis Lua scripts (one line, many lines) and their
 *                     EVALSHA requests
 *   bench_report.c    the error tally, the verdicts, the report
 *
 * Threads: each worker (one thread, one libuv loop) owns its connections
 * and counters; the options and the other bench_* globals are written
 * before the workers start and only read after.
 */
#ifndef ALLOT_BENCH_H
#define ALLOT_BENCH_H

#include "bench_time.h"
#include "hist.h"
#include "mp.h"

#include <allot/protocol.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <uv.h>

/* ------------------------------------------------------------------------
 * Limits and defaults
 * --------------------------------------------------------------------- */

#define RUN_CAP_S 600.0            /* hard cap of the timed phase */
#define CONNECT_SETUP_TIMEOUT_MS 300000
#define PROBE_TIMEOUT_MS 10000
#define DRAIN_TIMEOUT_MS 10000     /* wait for in-flight replies after the end */
#define TICK_MS 1                  /* open loop schedule granularity */
#define TICK_NS (TICK_MS * 1000000ull)
#define SETUP_WINDOW 256           /* setup requests in flight per connection */
#define IN_INITIAL (64u << 10)
#define IN_MIN_FREE (8u << 10)
#define IN_MAX (64u << 20)         /* the largest reply we accept */
#define OPEN_LOOP_INFLIGHT_MAX (1u << 16)
#define RESP_DEPTH_MAX 16
#define RESP_LINE_MAX (64u << 10)
#define RESP_ARRAY_MAX (1u << 24)
#define ERR_CODES_MAX 32
#define ERR_CODE_BYTES 32
#define FOLLOWUP_ID_BYTES 64
#define SKUS_MAX 10000000u
#define LOCATIONS_MAX 4096u
#define CONNECTIONS_MAX 20000u
#define THREADS_MAX 64u
#define LOCATIONS_DEFAULT 4
#define STOCK_FLASH_DEFAULT 10000
#define STOCK_DEFAULT 1000000
/* redis-lua-lines: one key holds what checkout loads of a sku over its
 * default locations, so that both sides sell the same units */
#define STOCK_LUA_LINES_DEFAULT (STOCK_DEFAULT * LOCATIONS_DEFAULT)
#define AVAIL_SKUS 10
#define LINES_MAX ALLOT_DEFAULT_LINES_MAX /* --lines: allotd's default --lines-max */
#define CHECKOUT_LINES_DEFAULT 3   /* without --lines, checkout orders have 1-3 lines */
#define PROBE_WINDOW 16            /* probe requests in flight on the probing connection */
#define PROBE_MGET_KEYS 1000       /* Redis stock keys per MGET of a probe */
#define STORM_WARM_CONNS 4         /* per thread: warm the client before the storm */
#define STORM_WARM_REQUESTS 500    /* per warm-up connection, one in flight */
#define STORM_SETTLE_MS 100        /* quiet between the warm-up and the storm */
_Static_assert(LINES_MAX * 2 <= UINT16_MAX, "an order's units fit inflight.units");
_Static_assert(CHECKOUT_LINES_DEFAULT <= LINES_MAX, "the default order fits the limit");

/* Where --ship-to random draws from, and where the locations of a routed
 * run stand (about Europe: the kilometres are of a real continent). */
#define GEO_LAT_MIN 36.0
#define GEO_LAT_MAX 60.0
#define GEO_LON_MIN -10.0
#define GEO_LON_MAX 30.0
#define GEO_COST_MAX 20            /* a location's cost per shipment, 1..this */
#define GEO_COST_PER_KM 0.01

#define FLASH_SKU_PREFIX "flash-"
#define FLASH_SKU FLASH_SKU_PREFIX "0"
#define SKU_PREFIX "sku-"
#define FLASH_LOCATION "L0"
#define FLASH_TTL_MS 3600000
#define CHECKOUT_TTL_MS 60000
#define HOLD_TTL_MS ALLOT_DEFAULT_TTL_MAX_MS
#define REDIS_FLASH_KEY_PREFIX "stock:flash-"
#define REDIS_STOCK_KEY REDIS_FLASH_KEY_PREFIX "0"
#define REDIS_SKU_KEY_PREFIX "stock:sku-"

enum workload {
	WL_FLASH, WL_CHECKOUT, WL_AVAIL, WL_HOLD, WL_REDIS_CMD, WL_REDIS_LUA, WL_REDIS_LUA_LINES,
};
#define WL_COUNT (WL_REDIS_LUA_LINES + 1)

/* --ship-to: none, one point for every order, or a point drawn per order. */
enum ship_to { SHIP_NONE, SHIP_FIXED, SHIP_RANDOM };

/* The workloads' names on the command line and in the report. */
extern const char *const bench_wl_names[WL_COUNT];

/* What a request in flight was, to know what its reply means. */
enum kind {
	K_SETUP,       /* stock.set, location.put or SET while loading */
	K_SCRIPT_LOAD, /* SCRIPT LOAD: the reply is the sha */
	K_PROBE,       /* stock.get / MGET before and after the run */
	K_AUTH,        /* auth with --token, first on every allotd connection */
	K_RESERVE,     /* from here on: timed requests */
	K_COMMIT,
	K_RELEASE,
	K_AVAIL,
	K_CMD,
	K_LUA,         /* either Lua script */
};
#define K_TIMED(k) ((k) >= K_RESERVE)

enum phase { PH_SETUP, PH_PROBE, PH_WARM, PH_RUN, PH_OVER };

/* ------------------------------------------------------------------------
 * Options (read-only once the workers start)
 * --------------------------------------------------------------------- */

typedef struct bench_options {
	const char *host;
	int port;
	uint32_t conns;
	uint32_t pipeline;
	uint32_t threads;
	uint64_t requests;
	bool have_requests;
	double duration;
	bool have_duration;
	double rate;   /* 0: closed loop */
	double warmup;
	enum workload wl;
	uint32_t skus;
	uint32_t locations;
	int64_t stock;
	bool have_stock;
	uint64_t seed;
	double zipf_s;
	uint64_t ttl_ms;  /* hold */
	bool json;
	bool setup;
	const char *redis_cmd;
	bool redis;    /* RESP rather than MessagePack-RPC */
	uint32_t lines;        /* --lines; 0: checkout's 1-3, flash's 1 */
	const char *strategy;  /* --strategy, sent on every reserve; NULL: not sent */
	enum ship_to ship_to;
	double ship_lat, ship_lon;  /* SHIP_FIXED */
	bool routing;  /* --strategy or --ship-to: locations get coordinates */
	bool storm;    /* connections opened at the start of the timed phase */
	const char *token; /* --token or ALLOT_TOKEN: auth first on every connection */
} bench_options;

extern bench_options bench_opt;
extern struct sockaddr_storage bench_addr; /* the resolved --host/--port */
extern uint64_t bench_setup_items;         /* loading requests over all connections */
extern uint32_t bench_setup_stride;        /* connections that load: C, or the storm's warm ones */

/* ------------------------------------------------------------------------
 * Connections and workers
 * --------------------------------------------------------------------- */

typedef struct inflight {
	uint64_t t;      /* send time, or scheduled time in the open loop */
	uint32_t msgid;
	uint8_t kind;
	uint8_t measured;
	uint16_t units;  /* a Lua reserve: the units it asks for */
} inflight;

/* A commit or release waiting for its turn on the connection. */
typedef struct followup {
	char id[FOLLOWUP_ID_BYTES - 2];
	uint8_t len;
	uint8_t kind;
} followup;

struct worker;

typedef struct conn {
	uv_tcp_t tcp;
	uv_connect_t creq;
	uv_write_t wreq;
	struct worker *w;
	uint32_t gid;        /* global index, 0..C-1 */
	bool dead;
	bool connected;
	bool writing;
	bool setup_done;
	mp_buf out;          /* queued since the last flush */
	mp_buf wbuf;         /* handed to uv_write until its callback */
	uint8_t *in;
	size_t in_len, in_cap;
	mp_reader reader;    /* MessagePack-RPC: its place in the reply at in[0] */
	inflight *fl;        /* ring, power-of-two capacity */
	uint32_t fl_head, fl_count, fl_cap;
	followup *fu;        /* ring, power-of-two capacity */
	uint32_t fu_head, fu_count, fu_cap;
	uint32_t next_msgid;
	uint64_t seq;        /* the <n> of order ids and hold keys */
	uint64_t rng;
	uint64_t sched0;     /* open loop: first scheduled send */
	uint64_t sched_k;    /* open loop: sends made so far */
	uint64_t setup_next; /* next setup item: gid, gid + C, ... */
	uint32_t setup_inflight;
} conn;

typedef struct stock_view {
	bool ok;
	int64_t on_hand, reserved, committed, available, records;
} stock_view;

/* Where a location of a routed run stands, and what it costs. */
typedef struct bench_geo {
	double lat, lon;
	int64_t priority;
	uint32_t cost;
} bench_geo;

/* What a probe read: allotd's records of each flash sku (flash-0 ..
 * flash-<n-1>), or Redis's stock keys summed. */
typedef struct probe_view {
	bool ok;               /* every reply came and made sense */
	uint32_t nskus;
	stock_view sku[LINES_MAX];
	uint64_t keys;         /* Redis: keys read, missing ones included */
	uint64_t keys_missing; /* the scripts read a missing key as 0 */
	int64_t key_sum, key_min;
} probe_view;

typedef struct errtab {
	uint32_t n;
	struct {
		char code[ERR_CODE_BYTES];
		uint64_t count;
	} e[ERR_CODES_MAX];
} errtab;

typedef struct worker {
	uint32_t idx;
	uv_loop_t loop;
	uv_thread_t thread;
	uv_timer_t tick;     /* open loop schedule */
	uv_timer_t timer;    /* phase timeouts, run deadline, drain */
	conn *conns;
	uint32_t nconns;
	conn *warm;          /* --storm: the warm-up connections, closed before the run */
	uint32_t nwarm;
	conn *lead;          /* loads the script and reads the probes */
	enum phase phase;
	uint32_t pending;    /* connections still connecting or loading */
	bool failed;
	bool stopping;       /* no new requests; waiting for in-flight ones */
	bool run_over;
	bool probe_done;
	uint32_t probe_sent, probe_total, probe_got;
	uint64_t budget;     /* measured requests this worker may still send */
	uint64_t inflight;   /* timed requests in flight */
	uint64_t start, measure_start, end_by, run_end, last_reply;
	double interval;     /* open loop: ns between one connection's sends */

	/* measured (after warmup) */
	hist h;
	uint64_t replies, ok, sent;
	errtab errs;
	/* whole run, warmup included */
	uint64_t no_reply, conn_errors;
	uint64_t unsent;     /* open loop: measured sends due on a connection down */
	uint64_t reserves;   /* measured replies to reserves and Lua reserves */
	uint64_t attempts, successes, oos, other;  /* flash, redis-lua, redis-lua-lines */
	uint64_t units;      /* redis-lua-lines: units of the orders held */
	uint32_t warm_left;  /* --storm: warm-up requests still to send */
	uint32_t storm_connected;
	uint64_t storm_connect_max;  /* ns from the start to the last connection up */
	uint64_t orders, orders_held, orders_oos, commits, releases;
	/* loading */
	uint64_t setup_items, setup_errors, setup_t0, setup_t1;
	char setup_err[200];
	char sha[41];
	char lua_prefix[128];
	size_t lua_prefix_len;
	probe_view probe;
} worker;

extern worker *bench_workers; /* bench_opt.threads of them */

/* A reply, MessagePack-RPC or RESP, reduced to what the bench looks at. */
typedef struct reply {
	const char *code;    /* NULL on success */
	uint32_t code_len;
	const char *msg;
	uint32_t msg_len;
	mp_cursor result;    /* MessagePack: the result value */
	char rtype;          /* RESP: '+', '-', ':', '$', '*' */
	bool rnull;          /* RESP: null bulk or array */
	int64_t rint;        /* RESP ':' */
	const char *rstr;    /* RESP '+', '-', '$' */
	size_t rstr_len;
	const char *raw;     /* RESP: the whole reply, to walk an array */
	size_t raw_len;
} reply;

/* ------------------------------------------------------------------------
 * Small helpers (allot-bench.c)
 * --------------------------------------------------------------------- */

void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void *bench_xmalloc(size_t n);              /* never NULL: dies instead */
void *bench_xcalloc(size_t n, size_t sz);

/* Decimal digits of v into dst (no NUL); returns how many. */
static inline size_t bench_u64dec(char *dst, uint64_t v)
{
	char tmp[20];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		dst[i] = tmp[n - 1 - i];
	return n;
}

static inline uint64_t bench_rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A uniform draw in [0, n). */
static inline uint32_t bench_rng_below(uint64_t *s, uint32_t n)
{
	return (uint32_t)(((bench_rng_next(s) >> 32) * (uint64_t)n) >> 32);
}

/* A uniform draw in [lo, hi). */
static inline double bench_rng_between(uint64_t *s, double lo, double hi)
{
	double u = (double)(bench_rng_next(s) >> 11) * 0x1.0p-53;
	return lo + u * (hi - lo);
}

/* Whether s[0..len) is the string lit. */
static inline bool bench_str_is(const char *s, size_t len, const char *lit)
{
	size_t l = strlen(lit);
	return len == l && memcmp(s, lit, l) == 0;
}

/* ------------------------------------------------------------------------
 * Each part's entry points
 * --------------------------------------------------------------------- */

/* bench_conn.c */
void conn_init(conn *c, worker *w, uint32_t gid);
void conn_finish(conn *c);                  /* frees what conn_init and the run grew */
void conn_prewarm(conn *c);                 /* grows and touches the buffers */
int conn_open(conn *c);                     /* the socket; 0, or a libuv error (c dead) */
int conn_connect(conn *c);                  /* after conn_open; 0, or a libuv error (c dead) */
int conn_start(conn *c);                    /* conn_open, then conn_connect */
void conn_flush(conn *c);
void conn_fail(conn *c, const char *why);
void conn_close(conn *c);
void conn_on_closed(uv_handle_t *h);
inflight *conn_track(conn *c, uint8_t kind, uint32_t msgid, uint64_t t, bool measured);
inflight conn_pop(conn *c);                 /* the oldest request in flight */
void conn_followup_push(conn *c, const char *id, uint32_t len, uint8_t kind);
followup conn_followup_pop(conn *c);

/* bench_rpc.c: requests are queued on c->out and tracked on c. Sku names
 * are "<sku_prefix><index>", locations "L<index>". */
void rpc_reader_init(mp_reader *r);         /* with the limits replies are read with */
void rpc_stock_set(conn *c, const char *sku_prefix, uint64_t sku, uint32_t loc, int64_t on_hand);
void rpc_location_put(conn *c, uint32_t loc, const bench_geo *g);
void rpc_stock_get(conn *c, const char *sku_prefix, uint64_t sku);
void rpc_reserve_one(conn *c, char id_prefix, const char *sku_prefix, uint64_t sku, uint64_t ttl_ms,
    uint64_t t, bool measured);
void rpc_reserve_lines(conn *c, char id_prefix, const char *sku_prefix, const uint32_t *skus,
    const uint32_t *qtys, uint32_t n, uint64_t ttl_ms, uint64_t t, bool measured);
void rpc_finish(conn *c, uint8_t kind, const char *id, uint32_t len, uint64_t t, bool measured);
/* auth {token}, untimed; a refusal fails the connection. */
void rpc_auth(conn *c, const char *token);
void rpc_avail(conn *c, const uint32_t *skus, uint32_t n, uint64_t t, bool measured);
int rpc_take(conn *c, const uint8_t *p, size_t len, size_t *used, uint64_t now);
void rpc_parse_stock_get(mp_cursor *cur, stock_view *v);
const char *rpc_find_reservation_id(mp_cursor *cur, uint32_t *len);

/* bench_resp.c */
void resp_write_bulk(mp_buf *b, const char *s, size_t len);
void resp_write_array(mp_buf *b, size_t n);
void resp_set(conn *c, const char *key, int64_t v);
void resp_mget(conn *c, const char *prefix, uint64_t first, uint32_t n);
void resp_script_load(conn *c, const char *script, size_t len);
void resp_command_build(const char *line, uint8_t **out, size_t *out_len);
int resp_take(conn *c, const uint8_t *p, size_t len, size_t *used, uint64_t now);
bool resp_sum_keys(const reply *r, probe_view *v);

/* bench_lua.c */
void lua_connected(conn *c);                /* SCRIPT LOAD on the lead */
bool lua_loaded(worker *w, const reply *r);
void lua_send_one(conn *c, uint64_t t, bool measured);
void lua_send_lines(conn *c, const uint32_t *skus, const uint32_t *qtys, uint32_t n,
    uint64_t t, bool measured);

/* bench_workload.c */
void wl_prepare(void);                      /* before the workers start */
void wl_free(void);
bool wl_has_verdict(void);
void wl_connected(conn *c);
void wl_setup_pump(conn *c);
void wl_send_timed(conn *c, uint64_t t);
void wl_probe_start(conn *c);               /* run_probe_done once it is read */
void wl_on_reply(conn *c, const inflight *f, reply *r, uint64_t now);

/* bench_storm.c */
void storm_init(worker *w, uint32_t t);
void storm_warm_phase(worker *w);
void storm_warm_next(conn *c, uint64_t now);
void storm_kick_off(worker *w);
void storm_conn_ready(conn *c);

/* bench_run.c */
typedef struct run_probes {
	probe_view before, after;
	bool before_ok, after_ok, abort;
} run_probes;
extern run_probes bench_probes;             /* valid once run_workers returns */
void run_workers(void);
void run_begin_stop(worker *w);
void run_finish(worker *w);
void run_probe_done(worker *w);
void run_setup_done(worker *w);
void run_open_loop_send(conn *c, uint64_t now);

/* bench_report.c */
void errtab_add(errtab *t, const char *code, size_t len, uint64_t k);
int report_print(void);                     /* the exit status */

#endif
