/*
 * allot-bench - a load generator for allotd (MessagePack-RPC) and, with the
 * same connection machinery, for Redis (RESP), so that both are measured by
 * one client.
 *
 * Shape of a run, per worker thread (each with its own libuv loop and its
 * share of the connections):
 *
 *   1. connect, then load stock (pipelined over the same connections);
 *   2. (worker 0) probe the flash record before the run;
 *   3. the timed run: closed loop (each connection keeps --pipeline requests
 *      in flight) or open loop (--rate: every connection sends on its own
 *      schedule whatever the replies, latency counted from the scheduled
 *      time, as wrk2 does);
 *   4. (worker 0) probe the flash record after the run, and judge it.
 *
 * Barriers separate the phases, so every worker starts the run together and
 * the final probe sees every reply. Replies on a connection come back in
 * request order, so each connection keeps a FIFO ring of what it has in
 * flight (send time, msgid, kind); nothing is allocated per request once the
 * rings and buffers have grown to their working size.
 */
#include "hist.h"
#include "mp.h"

#include <allot/protocol.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <uv.h>

/* ------------------------------------------------------------------------
 * Limits and defaults
 * --------------------------------------------------------------------- */

#define NS_PER_S 1000000000ull
#define RUN_CAP_S 600.0            /* hard cap of the timed phase */
#define CONNECT_SETUP_TIMEOUT_MS 300000
#define PROBE_TIMEOUT_MS 10000
#define DRAIN_TIMEOUT_MS 10000
#define TICK_MS 1                  /* open loop schedule granularity */
#define TICK_NS (TICK_MS * 1000000ull)     /* wait for in-flight replies after the end */
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
#define AVAIL_SKUS 10

#define FLASH_SKU "flash-0"
#define FLASH_LOCATION "L0"
#define FLASH_TTL_MS 3600000
#define CHECKOUT_TTL_MS 60000
#define HOLD_TTL_MS ALLOT_DEFAULT_TTL_MAX_MS
#define REDIS_STOCK_KEY "stock:flash-0"

static const char LUA_SCRIPT[] =
    "local s = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
    "local q = tonumber(ARGV[1])\n"
    "if s < q then return 0 end\n"
    "redis.call('DECRBY', KEYS[1], q)\n"
    "redis.call('SET', KEYS[2], q, 'EX', tonumber(ARGV[2]))\n"
    "return 1\n";

enum workload { WL_FLASH, WL_CHECKOUT, WL_AVAIL, WL_HOLD, WL_REDIS_CMD, WL_REDIS_LUA };

static const char *const WL_NAMES[] = {
	[WL_FLASH] = "flash",
	[WL_CHECKOUT] = "checkout",
	[WL_AVAIL] = "avail",
	[WL_HOLD] = "hold",
	[WL_REDIS_CMD] = "redis-cmd",
	[WL_REDIS_LUA] = "redis-lua",
};

/* What a request in flight was, to know what its reply means. */
enum kind {
	K_SETUP,       /* stock.set or SET while loading */
	K_SCRIPT_LOAD, /* SCRIPT LOAD: the reply is the sha */
	K_PROBE,       /* stock.get / GET before and after the run */
	K_RESERVE,     /* from here on: timed requests */
	K_COMMIT,
	K_RELEASE,
	K_AVAIL,
	K_CMD,
	K_LUA,
};
#define K_TIMED(k) ((k) >= K_RESERVE)

enum phase { PH_SETUP, PH_PROBE, PH_RUN, PH_OVER };

/* ------------------------------------------------------------------------
 * Options (read-only once the workers start)
 * --------------------------------------------------------------------- */

static struct options {
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
} O = {
	.host = ALLOT_DEFAULT_HOST,
	.port = ALLOT_DEFAULT_PORT,
	.conns = 50,
	.pipeline = 1,
	.threads = 1,
	.duration = 10.0,
	.wl = WL_FLASH,
	.skus = 1000,
	.locations = 4,
	.seed = 1,
	.zipf_s = 1.0,
	.ttl_ms = HOLD_TTL_MS,
	.setup = true,
};

/* Shared read-only state built before the workers start. */
static struct sockaddr_storage g_addr;
static double *g_zipf_cdf;       /* K entries, cumulative, last = 1 */
static uint8_t *g_redis_cmd;     /* the --redis-cmd command in RESP */
static size_t g_redis_cmd_len;
static uv_barrier_t g_barrier;

/* ------------------------------------------------------------------------
 * Small helpers
 * --------------------------------------------------------------------- */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("allot-bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		die("out of memory");
	return p;
}

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);
	if (!p)
		die("out of memory");
	return p;
}

/* Decimal digits of v into dst (no NUL); returns how many. */
static size_t u64dec(char *dst, uint64_t v)
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

static inline uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A uniform draw in [0, n). */
static inline uint32_t rng_below(uint64_t *s, uint32_t n)
{
	return (uint32_t)(((rng_next(s) >> 32) * (uint64_t)n) >> 32);
}

/* A sku index drawn from the Zipf distribution over K (0 is the hottest). */
static uint32_t zipf_draw(uint64_t *s)
{
	double u = (double)(rng_next(s) >> 11) * 0x1.0p-53;
	uint32_t lo = 0, hi = O.skus - 1;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (g_zipf_cdf[mid] >= u)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static void zipf_build(void)
{
	uint32_t k = O.skus;
	g_zipf_cdf = xmalloc((size_t)k * sizeof *g_zipf_cdf);
	double sum = 0.0;
	for (uint32_t i = 0; i < k; i++) {
		sum += O.zipf_s == 0.0 ? 1.0 : 1.0 / pow((double)i + 1.0, O.zipf_s);
		g_zipf_cdf[i] = sum;
	}
	for (uint32_t i = 0; i < k; i++)
		g_zipf_cdf[i] /= sum;
	g_zipf_cdf[k - 1] = 1.0;
}

/* ------------------------------------------------------------------------
 * Error-code tally
 * --------------------------------------------------------------------- */

typedef struct errtab {
	uint32_t n;
	struct {
		char code[ERR_CODE_BYTES];
		uint64_t count;
	} e[ERR_CODES_MAX];
} errtab;

/* Count k under code; codes are cleaned to [A-Za-z0-9_.-] so they print
 * safely in JSON. When the table is full, the rest go under OTHER. */
static void err_add(errtab *t, const char *code, size_t len, uint64_t k)
{
	char clean[ERR_CODE_BYTES];
	if (len > ERR_CODE_BYTES - 1)
		len = ERR_CODE_BYTES - 1;
	for (size_t i = 0; i < len; i++) {
		char ch = code[i];
		bool okc = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.';
		clean[i] = okc ? ch : '_';
	}
	if (len == 0)
		clean[len++] = '?';
	clean[len] = '\0';
	for (uint32_t i = 0; i < t->n; i++) {
		if (strcmp(t->e[i].code, clean) == 0) {
			t->e[i].count += k;
			return;
		}
	}
	if (t->n == ERR_CODES_MAX) {
		err_add(t, "OTHER", 5, k);
		return;
	}
	memcpy(t->e[t->n].code, clean, len + 1);
	t->e[t->n].count = k;
	t->n++;
}

/* ------------------------------------------------------------------------
 * Connections and workers
 * --------------------------------------------------------------------- */

typedef struct inflight {
	uint64_t t;      /* send time, or scheduled time in the open loop */
	uint32_t msgid;
	uint8_t kind;
	uint8_t measured;
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
	bool writing;
	bool setup_done;
	mp_buf out;          /* queued since the last flush */
	mp_buf wbuf;         /* handed to uv_write until its callback */
	uint8_t *in;
	size_t in_len, in_cap;
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

typedef struct worker {
	uint32_t idx;
	uv_loop_t loop;
	uv_thread_t thread;
	uv_timer_t tick;     /* open loop schedule */
	uv_timer_t timer;    /* phase timeouts, run deadline, drain */
	conn *conns;
	uint32_t nconns;
	enum phase phase;
	uint32_t pending;    /* connections still connecting or loading */
	bool failed;
	bool stopping;       /* no new requests; waiting for in-flight ones */
	bool run_over;
	bool probe_done;
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
	uint64_t attempts, successes, oos, other;  /* flash, redis-lua */
	uint64_t orders, orders_held, orders_oos, commits, releases;
	/* loading */
	uint64_t setup_items, setup_errors, setup_t0, setup_t1;
	char setup_err[200];
	char sha[41];
	char lua_prefix[128];
	size_t lua_prefix_len;
	stock_view probe;
} worker;

static worker *g_workers;
static uint64_t g_setup_items; /* loading requests over all connections */

static void conn_fail(conn *c, const char *why);
static void begin_stop(worker *w);

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
		inflight *n = xmalloc((size_t)ncap * sizeof *n);
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

static inflight fl_pop(conn *c)
{
	inflight f = c->fl[c->fl_head];
	c->fl_head = (c->fl_head + 1) & (c->fl_cap - 1);
	c->fl_count--;
	return f;
}

static void fu_push(conn *c, const char *id, uint32_t len, uint8_t kind)
{
	if (c->fu_count == c->fu_cap) {
		uint32_t ncap = c->fu_cap ? c->fu_cap * 2 : 16;
		followup *n = xmalloc((size_t)ncap * sizeof *n);
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

/* ------------------------------------------------------------------------
 * Writing requests
 * --------------------------------------------------------------------- */

static void track(conn *c, uint8_t kind, uint32_t msgid, uint64_t t, bool measured)
{
	inflight *f = fl_push(c);
	f->t = t;
	f->msgid = msgid;
	f->kind = kind;
	f->measured = measured;
	if (K_TIMED(kind)) {
		c->w->inflight++;
		if (measured)
			c->w->sent++;
	}
}

/* [0, msgid, method, [{...npairs...}]] up to the map header. */
static void rpc_begin(conn *c, const char *method, uint32_t npairs, uint8_t kind,
    uint64_t t, bool measured)
{
	mp_buf *b = &c->out;
	uint32_t id = c->next_msgid++;
	mp_write_array(b, 4);
	mp_write_uint(b, ALLOT_MSG_REQUEST);
	mp_write_uint(b, id);
	mp_write_cstr(b, method);
	mp_write_array(b, 1);
	mp_write_map(b, npairs);
	track(c, kind, id, t, measured);
}

/* prefix + decimal i as a MessagePack str. */
static void write_name(mp_buf *b, const char *prefix, uint64_t i)
{
	char s[64];
	size_t pl = strlen(prefix);
	memcpy(s, prefix, pl);
	mp_write_str(b, s, pl + u64dec(s + pl, i));
}

/* "<p>-<gid>-<n>" as a MessagePack str. */
static void write_order_id(mp_buf *b, char p, uint32_t gid, uint64_t n)
{
	char s[48];
	size_t l = 0;
	s[l++] = p;
	s[l++] = '-';
	l += u64dec(s + l, gid);
	s[l++] = '-';
	l += u64dec(s + l, n);
	mp_write_str(b, s, l);
}

static void req_stock_set(conn *c, uint64_t sku, uint32_t loc, int64_t on_hand,
    const char *sku_name)
{
	mp_buf *b = &c->out;
	rpc_begin(c, "stock.set", 3, K_SETUP, 0, false);
	mp_write_cstr(b, "sku");
	if (sku_name)
		mp_write_cstr(b, sku_name);
	else
		write_name(b, "sku-", sku);
	mp_write_cstr(b, "location");
	write_name(b, "L", loc);
	mp_write_cstr(b, "on_hand");
	mp_write_int(b, on_hand);
}

static void req_stock_get(conn *c)
{
	mp_buf *b = &c->out;
	rpc_begin(c, "stock.get", 1, K_PROBE, 0, false);
	mp_write_cstr(b, "sku");
	mp_write_cstr(b, FLASH_SKU);
}

static void req_flash(conn *c, uint64_t t, bool measured)
{
	mp_buf *b = &c->out;
	rpc_begin(c, "reserve", 3, K_RESERVE, t, measured);
	mp_write_cstr(b, "order_id");
	write_order_id(b, 'b', c->gid, c->seq++);
	mp_write_cstr(b, "lines");
	mp_write_array(b, 1);
	mp_write_map(b, 2);
	mp_write_cstr(b, "sku");
	mp_write_cstr(b, FLASH_SKU);
	mp_write_cstr(b, "qty");
	mp_write_uint(b, 1);
	mp_write_cstr(b, "ttl_ms");
	mp_write_uint(b, FLASH_TTL_MS);
}

/* hold: one line of 1 unit, the skus taken in turn over all connections
 * (the i-th request of all reserves sku-(i mod K)), held for --ttl-ms and
 * never finished: it leaves live holds behind. */
static void req_hold(conn *c, uint64_t t, bool measured)
{
	mp_buf *b = &c->out;
	uint64_t i = c->gid + c->seq * O.conns;
	rpc_begin(c, "reserve", 3, K_RESERVE, t, measured);
	mp_write_cstr(b, "order_id");
	write_order_id(b, 'h', c->gid, c->seq++);
	mp_write_cstr(b, "lines");
	mp_write_array(b, 1);
	mp_write_map(b, 2);
	mp_write_cstr(b, "sku");
	write_name(b, "sku-", i % O.skus);
	mp_write_cstr(b, "qty");
	mp_write_uint(b, 1);
	mp_write_cstr(b, "ttl_ms");
	mp_write_uint(b, O.ttl_ms);
}

static void req_order(conn *c, uint64_t t, bool measured)
{
	mp_buf *b = &c->out;
	uint32_t skus[3];
	uint32_t n = 1 + rng_below(&c->rng, 3);
	if (n > O.skus)
		n = O.skus;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t s = zipf_draw(&c->rng);
		for (uint32_t tries = 0;; tries++) {
			bool dup = false;
			for (uint32_t j = 0; j < i; j++)
				dup |= skus[j] == s;
			if (!dup)
				break;
			/* the hot head collides often: redraw a few times, then step */
			s = tries < 8 ? zipf_draw(&c->rng) : (s + 1) % O.skus;
		}
		skus[i] = s;
	}
	rpc_begin(c, "reserve", 3, K_RESERVE, t, measured);
	mp_write_cstr(b, "order_id");
	write_order_id(b, 'c', c->gid, c->seq++);
	mp_write_cstr(b, "lines");
	mp_write_array(b, n);
	for (uint32_t i = 0; i < n; i++) {
		mp_write_map(b, 2);
		mp_write_cstr(b, "sku");
		write_name(b, "sku-", skus[i]);
		mp_write_cstr(b, "qty");
		mp_write_uint(b, 1 + rng_below(&c->rng, 2));
	}
	mp_write_cstr(b, "ttl_ms");
	mp_write_uint(b, CHECKOUT_TTL_MS);
}

static void req_followup(conn *c, uint64_t t, bool measured)
{
	followup *f = &c->fu[c->fu_head];
	c->fu_head = (c->fu_head + 1) & (c->fu_cap - 1);
	c->fu_count--;
	mp_buf *b = &c->out;
	rpc_begin(c, f->kind == K_COMMIT ? "commit" : "release", 1, f->kind, t, measured);
	mp_write_cstr(b, "reservation_id");
	mp_write_str(b, f->id, f->len);
}

static void req_avail(conn *c, uint64_t t, bool measured)
{
	mp_buf *b = &c->out;
	rpc_begin(c, "avail", 1, K_AVAIL, t, measured);
	mp_write_cstr(b, "skus");
	mp_write_array(b, AVAIL_SKUS);
	for (uint32_t i = 0; i < AVAIL_SKUS; i++)
		write_name(b, "sku-", zipf_draw(&c->rng));
}

/* RESP: an array of bulk strings. */
static void resp_write_bulk(mp_buf *b, const char *s, size_t len)
{
	char hdr[32];
	size_t l = 0;
	hdr[l++] = '$';
	l += u64dec(hdr + l, len);
	hdr[l++] = '\r';
	hdr[l++] = '\n';
	mp_write_raw(b, hdr, l);
	mp_write_raw(b, s, len);
	mp_write_raw(b, "\r\n", 2);
}

static void resp_write_array(mp_buf *b, size_t n)
{
	char hdr[32];
	size_t l = 0;
	hdr[l++] = '*';
	l += u64dec(hdr + l, n);
	hdr[l++] = '\r';
	hdr[l++] = '\n';
	mp_write_raw(b, hdr, l);
}

static void req_redis_set(conn *c, int64_t v)
{
	char num[24];
	size_t l = (size_t)snprintf(num, sizeof num, "%" PRId64, v);
	resp_write_array(&c->out, 3);
	resp_write_bulk(&c->out, "SET", 3);
	resp_write_bulk(&c->out, REDIS_STOCK_KEY, strlen(REDIS_STOCK_KEY));
	resp_write_bulk(&c->out, num, l);
	track(c, K_SETUP, 0, 0, false);
}

static void req_redis_get(conn *c)
{
	resp_write_array(&c->out, 2);
	resp_write_bulk(&c->out, "GET", 3);
	resp_write_bulk(&c->out, REDIS_STOCK_KEY, strlen(REDIS_STOCK_KEY));
	track(c, K_PROBE, 0, 0, false);
}

static void req_script_load(conn *c)
{
	resp_write_array(&c->out, 3);
	resp_write_bulk(&c->out, "SCRIPT", 6);
	resp_write_bulk(&c->out, "LOAD", 4);
	resp_write_bulk(&c->out, LUA_SCRIPT, sizeof LUA_SCRIPT - 1);
	track(c, K_SCRIPT_LOAD, 0, 0, false);
}

static void lua_prefix_build(worker *w)
{
	/* EVALSHA sha 2 stock:flash-0 hold:<conn>-<n> 1 3600 */
	int n = snprintf(w->lua_prefix, sizeof w->lua_prefix,
	    "*7\r\n$7\r\nEVALSHA\r\n$40\r\n%s\r\n$1\r\n2\r\n$%zu\r\n%s\r\n",
	    w->sha, strlen(REDIS_STOCK_KEY), REDIS_STOCK_KEY);
	w->lua_prefix_len = (size_t)n;
}

static void req_lua(conn *c, uint64_t t, bool measured)
{
	static const char suffix[] = "$1\r\n1\r\n$4\r\n3600\r\n";
	char key[48];
	size_t l = 0;
	memcpy(key, "hold:", 5);
	l = 5;
	l += u64dec(key + l, c->gid);
	key[l++] = '-';
	l += u64dec(key + l, c->seq++);
	mp_write_raw(&c->out, c->w->lua_prefix, c->w->lua_prefix_len);
	resp_write_bulk(&c->out, key, l);
	mp_write_raw(&c->out, suffix, sizeof suffix - 1);
	track(c, K_LUA, 0, t, measured);
}

static void req_cmd(conn *c, uint64_t t, bool measured)
{
	mp_write_raw(&c->out, g_redis_cmd, g_redis_cmd_len);
	track(c, K_CMD, 0, t, measured);
}

/* One timed request on c, sent (or scheduled) at t. */
static void send_timed(conn *c, uint64_t t)
{
	worker *w = c->w;
	bool measured = t >= w->measure_start;
	if (measured) {
		if (w->budget == 0) {
			begin_stop(w);
			return;
		}
		w->budget--;
	}
	switch (O.wl) {
	case WL_FLASH:
		req_flash(c, t, measured);
		break;
	case WL_CHECKOUT:
		if (c->fu_count)
			req_followup(c, t, measured);
		else
			req_order(c, t, measured);
		break;
	case WL_AVAIL:
		req_avail(c, t, measured);
		break;
	case WL_HOLD:
		req_hold(c, t, measured);
		break;
	case WL_REDIS_CMD:
		req_cmd(c, t, measured);
		break;
	case WL_REDIS_LUA:
		req_lua(c, t, measured);
		break;
	}
	if (measured && w->budget == 0)
		begin_stop(w);
}

/* ------------------------------------------------------------------------
 * Socket plumbing
 * --------------------------------------------------------------------- */

static void conn_flush(conn *c);

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
static void conn_flush(conn *c)
{
	if (c->dead || c->writing || c->out.len == 0)
		return;
	if (mp_buf_failed(&c->out))
		die("out of memory for the output buffer");
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

static void on_closed(uv_handle_t *h)
{
	(void)h;
}

/* c is unusable: note why, count what it had in flight as unanswered. */
static void conn_fail(conn *c, const char *why)
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
		uv_close((uv_handle_t *)&c->tcp, on_closed);

	switch (w->phase) {
	case PH_SETUP:
	case PH_PROBE:
		w->failed = true;
		uv_stop(&w->loop);
		break;
	case PH_RUN: {
		bool any = false;
		for (uint32_t i = 0; i < w->nconns; i++)
			any |= !w->conns[i].dead;
		if (!any)
			begin_stop(w);
		else if (w->stopping && w->inflight == 0)
			begin_stop(w); /* already stopping: re-check the drain */
		break;
	}
	case PH_OVER:
		break;
	}
}

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
		uint8_t *n = realloc(c->in, ncap);
		if (!n)
			die("out of memory for a read buffer");
		c->in = n;
		c->in_cap = ncap;
	}
	buf->base = (char *)c->in + c->in_len;
	buf->len = c->in_cap - c->in_len;
}

/* ------------------------------------------------------------------------
 * Replies
 * --------------------------------------------------------------------- */

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
} reply;

static bool str_is(const char *s, uint32_t len, const char *lit)
{
	size_t l = strlen(lit);
	return len == l && memcmp(s, lit, l) == 0;
}

static void finish_run(worker *w)
{
	if (w->run_over)
		return;
	w->run_over = true;
	w->run_end = uv_hrtime();
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
	finish_run(w);
}

/* No new requests from now on; finish once the in-flight ones are back. */
static void begin_stop(worker *w)
{
	if (w->run_over)
		return;
	if (!w->stopping) {
		w->stopping = true;
		uv_timer_stop(&w->tick);
		uv_timer_stop(&w->timer);
		uv_timer_start(&w->timer, drain_timeout_cb, DRAIN_TIMEOUT_MS, 0);
	}
	if (w->inflight == 0)
		finish_run(w);
}

/* Sum a stock.get result (records of flash-0) into v. */
static void parse_stock_get(mp_cursor *cur, stock_view *v)
{
	uint32_t n;
	memset(v, 0, sizeof *v);
	if (!mp_read_array(cur, &n))
		return;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t m;
		if (!mp_read_map(cur, &m))
			return;
		for (uint32_t j = 0; j < m; j++) {
			const char *k;
			uint32_t kl;
			int64_t x = 0;
			if (!mp_read_str(cur, &k, &kl))
				return;
			int64_t *dst = str_is(k, kl, "on_hand") ? &v->on_hand :
			    str_is(k, kl, "reserved") ? &v->reserved :
			    str_is(k, kl, "committed") ? &v->committed :
			    str_is(k, kl, "available") ? &v->available : NULL;
			if (dst && mp_read_int(cur, &x))
				*dst += x;
			else if (!mp_skip(cur))
				return;
		}
		v->records++;
	}
	v->ok = true;
}

/* The reservation_id of a reserve result, or NULL. */
static const char *find_reservation_id(mp_cursor *cur, uint32_t *len)
{
	uint32_t m;
	if (!mp_read_map(cur, &m))
		return NULL;
	for (uint32_t i = 0; i < m; i++) {
		const char *k, *v;
		uint32_t kl, vl;
		if (!mp_read_str(cur, &k, &kl))
			return NULL;
		if (str_is(k, kl, "reservation_id")) {
			if (!mp_read_str(cur, &v, &vl))
				return NULL;
			*len = vl;
			return v;
		}
		if (!mp_skip(cur))
			return NULL;
	}
	return NULL;
}

static void setup_pump(conn *c);

/* Take a reply to f, which was in flight on c. */
static void on_reply(conn *c, const inflight *f, reply *r, uint64_t now)
{
	worker *w = c->w;

	if (K_TIMED(f->kind)) {
		w->inflight--;
		if (w->phase != PH_RUN || w->run_over)
			return; /* a straggler after the run was given up */

		/* redis-lua answers 0 for "out of stock", not an error */
		if (f->kind == K_LUA && !r->code) {
			if (r->rtype != ':' || (r->rint != 0 && r->rint != 1)) {
				r->code = "UNEXPECTED_REPLY";
				r->code_len = 16;
			} else if (r->rint == 0) {
				r->code = ALLOT_ERR_OUT_OF_STOCK;
				r->code_len = (uint32_t)strlen(ALLOT_ERR_OUT_OF_STOCK);
			}
		}
		bool oos = r->code && str_is(r->code, r->code_len, ALLOT_ERR_OUT_OF_STOCK);
		if (f->measured) {
			hist_record(&w->h, now > f->t ? now - f->t : 0);
			w->replies++;
			w->last_reply = now;
			if (!r->code)
				w->ok++;
			else
				err_add(&w->errs, r->code, r->code_len, 1);
		}
		if (O.wl == WL_FLASH || O.wl == WL_REDIS_LUA) {
			w->attempts++;
			if (!r->code)
				w->successes++;
			else if (oos)
				w->oos++;
			else
				w->other++;
		} else if (f->kind == K_RESERVE) {
			w->orders++;
			if (!r->code) {
				uint32_t idl = 0;
				const char *id = find_reservation_id(&r->result, &idl);
				w->orders_held++;
				if (!id || idl == 0 || idl > FOLLOWUP_ID_BYTES - 2) {
					err_add(&w->errs, "NO_RESERVATION_ID", 17, 1);
				} else if (!w->stopping && O.wl == WL_CHECKOUT) {
					uint8_t k = rng_below(&c->rng, 5) == 0 ? K_RELEASE : K_COMMIT;
					fu_push(c, id, idl, k);
				}
			} else if (oos) {
				w->orders_oos++;
			}
		} else if (f->kind == K_COMMIT && !r->code) {
			w->commits++;
		} else if (f->kind == K_RELEASE && !r->code) {
			w->releases++;
		}

		if (!w->stopping && O.rate == 0.0) {
			if (now >= w->end_by)
				begin_stop(w);
			else
				send_timed(c, now);
		}
		if (w->stopping && w->inflight == 0)
			finish_run(w);
		return;
	}

	switch (f->kind) {
	case K_SETUP:
		if (r->code) {
			if (w->setup_errors++ == 0)
				snprintf(w->setup_err, sizeof w->setup_err, "%.*s: %.*s",
				    (int)r->code_len, r->code, (int)r->msg_len, r->msg ? r->msg : "");
		} else {
			w->setup_items++;
		}
		c->setup_inflight--;
		setup_pump(c);
		break;
	case K_SCRIPT_LOAD:
		if (r->code || r->rtype != '$' || r->rnull || r->rstr_len != 40) {
			w->setup_errors++;
			snprintf(w->setup_err, sizeof w->setup_err, "SCRIPT LOAD failed: %.*s",
			    (int)(r->code ? r->msg_len : 0), r->code ? r->msg : "");
		} else {
			memcpy(w->sha, r->rstr, 40);
			w->sha[40] = '\0';
			lua_prefix_build(w);
		}
		c->setup_inflight--;
		setup_pump(c);
		break;
	case K_PROBE:
		memset(&w->probe, 0, sizeof w->probe);
		if (r->code) {
			fprintf(stderr, "allot-bench: reading the flash stock failed: %.*s: %.*s\n",
			    (int)r->code_len, r->code, (int)r->msg_len, r->msg ? r->msg : "");
		} else if (O.redis) {
			/* GET: a bulk integer, nil when the key is missing (the script reads 0) */
			char num[32];
			if (r->rtype == '$' && r->rnull) {
				w->probe.ok = true;
			} else if (r->rtype == '$' && r->rstr_len < sizeof num) {
				char *end;
				memcpy(num, r->rstr, r->rstr_len);
				num[r->rstr_len] = '\0';
				errno = 0;
				long long x = strtoll(num, &end, 10);
				if (!errno && end != num && *end == '\0') {
					w->probe.ok = true;
					w->probe.on_hand = x;
					w->probe.available = x;
				}
			}
		} else {
			parse_stock_get(&r->result, &w->probe);
		}
		w->probe_done = true;
		uv_timer_stop(&w->timer);
		uv_stop(&w->loop);
		break;
	default:
		break;
	}
}

static const mp_limits REPLY_LIMITS = {
	.frame_bytes_max = IN_MAX,
	.depth_max = 32,
	.array_max = 1u << 24,
	.map_max = 1u << 24,
	.str_max = 16u << 20,
};

/* One MessagePack-RPC message at p: 1 and *used when whole, 0 when more
 * bytes are needed, -1 (connection failed) when broken. */
static int take_mp(conn *c, const uint8_t *p, size_t len, size_t *used, uint64_t now)
{
	const char *why = NULL;
	int rc = mp_scan(p, len, &REPLY_LIMITS, used, &why);
	if (rc == MP_INCOMPLETE)
		return 0;
	if (rc != MP_OK) {
		conn_fail(c, why ? why : "bad MessagePack from the server");
		return -1;
	}

	mp_cursor cur;
	uint32_t n;
	uint64_t type, msgid;
	mp_cursor_init(&cur, p, *used);
	if (!mp_read_array(&cur, &n) || n < 3 || !mp_read_uint(&cur, &type)) {
		conn_fail(c, "a message that is not msgpack-rpc");
		return -1;
	}
	if (type == ALLOT_MSG_NOTIFICATION)
		return 1;
	if (type != ALLOT_MSG_RESPONSE || n != 4 || !mp_read_uint(&cur, &msgid)) {
		conn_fail(c, "a message that is not a msgpack-rpc response");
		return -1;
	}

	reply r;
	memset(&r, 0, sizeof r);
	if (mp_peek(&cur) == MP_T_NIL) {
		mp_read_nil(&cur);
	} else {
		uint32_t m;
		if (!mp_read_map(&cur, &m)) {
			conn_fail(c, "an error that is not a map");
			return -1;
		}
		for (uint32_t i = 0; i < m; i++) {
			const char *k;
			uint32_t kl;
			bool got = false;
			if (mp_read_str(&cur, &k, &kl)) {
				if (str_is(k, kl, "code"))
					got = mp_read_str(&cur, &r.code, &r.code_len);
				else if (str_is(k, kl, "message"))
					got = mp_read_str(&cur, &r.msg, &r.msg_len);
			} else if (!mp_skip(&cur)) {
				break;
			}
			if (!got && !mp_skip(&cur))
				break;
		}
		if (!r.code) {
			r.code = "ERROR";
			r.code_len = 5;
		}
	}
	r.result = cur;

	if (c->fl_count == 0) {
		char why2[256];
		snprintf(why2, sizeof why2, "unsolicited reply (msgid %" PRIu64 "): %.*s: %.*s",
		    msgid, (int)r.code_len, r.code ? r.code : "", (int)r.msg_len,
		    r.msg ? r.msg : "");
		conn_fail(c, why2);
		return -1;
	}
	inflight f = fl_pop(c);
	if (f.msgid != msgid) {
		if (K_TIMED(f.kind)) {
			c->w->inflight--;
			c->w->no_reply++;
		}
		conn_fail(c, "reply out of order");
		return -1;
	}
	on_reply(c, &f, &r, now);
	return c->dead ? -1 : 1;
}

/* Parse a RESP integer in [s, s+len); false if it is not one. */
static bool resp_int(const char *s, size_t len, int64_t *v)
{
	bool neg = false;
	uint64_t x = 0;
	size_t i = 0;
	if (len && s[0] == '-') {
		neg = true;
		i = 1;
	}
	if (i == len || len - i > 19)
		return false;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	if (x > (uint64_t)INT64_MAX)
		return false;
	*v = neg ? -(int64_t)x : (int64_t)x;
	return true;
}

/*
 * One RESP2 reply at p: 1 and *used when it is whole (r describes its
 * outermost value), 0 when more bytes are needed, -1 when it is not RESP.
 * Nested arrays are walked with a bounded stack of element counts.
 */
static int resp_parse(const char *p, size_t len, size_t *used, reply *r)
{
	uint64_t stack[RESP_DEPTH_MAX];
	int depth = 0;
	bool first = true;
	size_t pos = 0;

	for (;;) {
		if (pos >= len)
			return 0;
		const char *nl = memchr(p + pos, '\n', len - pos);
		if (!nl)
			return len - pos > RESP_LINE_MAX ? -1 : 0;
		size_t lend = (size_t)(nl - p);
		if (lend < pos + 2 || p[lend - 1] != '\r')
			return -1;
		char t = p[pos];
		const char *ls = p + pos + 1;
		size_t ll = lend - 1 - (pos + 1);
		int64_t n = 0;
		bool leaf = true, isnull = false;
		const char *str = ls;
		size_t slen = ll;
		pos = lend + 1;

		switch (t) {
		case '+':
		case '-':
			break;
		case ':':
			if (!resp_int(ls, ll, &n))
				return -1;
			break;
		case '$':
			if (!resp_int(ls, ll, &n) || n < -1 || n > (int64_t)IN_MAX)
				return -1;
			if (n == -1) {
				isnull = true;
				str = NULL;
				slen = 0;
				break;
			}
			if (len - pos < (size_t)n + 2)
				return 0;
			if (p[pos + (size_t)n] != '\r' || p[pos + (size_t)n + 1] != '\n')
				return -1;
			str = p + pos;
			slen = (size_t)n;
			pos += (size_t)n + 2;
			break;
		case '*':
			if (!resp_int(ls, ll, &n) || n < -1 || n > (int64_t)RESP_ARRAY_MAX)
				return -1;
			isnull = n == -1;
			if (n > 0) {
				if (depth == RESP_DEPTH_MAX)
					return -1;
				stack[depth++] = (uint64_t)n;
				leaf = false;
			}
			break;
		default:
			return -1;
		}
		if (first) {
			first = false;
			r->rtype = t;
			r->rnull = isnull;
			r->rint = n;
			r->rstr = str;
			r->rstr_len = slen;
		}
		if (!leaf)
			continue;
		/* a whole value: it completes elements of the arrays above it */
		while (depth > 0) {
			if (--stack[depth - 1] > 0)
				break;
			depth--;
		}
		if (depth == 0) {
			*used = pos;
			return 1;
		}
	}
}

static int take_resp(conn *c, const uint8_t *p, size_t len, size_t *used, uint64_t now)
{
	reply r;
	memset(&r, 0, sizeof r);
	int rc = resp_parse((const char *)p, len, used, &r);
	if (rc == 0)
		return 0;
	if (rc < 0) {
		conn_fail(c, "bad RESP from the server");
		return -1;
	}
	if (r.rtype == '-') {
		/* the error code is the first word: ERR, NOSCRIPT, WRONGTYPE... */
		size_t w = 0;
		while (w < r.rstr_len && r.rstr[w] != ' ')
			w++;
		r.code = r.rstr;
		r.code_len = (uint32_t)w;
		r.msg = r.rstr;
		r.msg_len = (uint32_t)(r.rstr_len > 150 ? 150 : r.rstr_len);
	}
	if (c->fl_count == 0) {
		conn_fail(c, "unsolicited reply");
		return -1;
	}
	inflight f = fl_pop(c);
	on_reply(c, &f, &r, now);
	return c->dead ? -1 : 1;
}

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
	uint64_t now = uv_hrtime();
	size_t pos = 0;
	while (pos < c->in_len) {
		size_t used = 0;
		int rc = O.redis ? take_resp(c, c->in + pos, c->in_len - pos, &used, now) :
		    take_mp(c, c->in + pos, c->in_len - pos, &used, now);
		if (rc < 0)
			return;
		if (rc == 0)
			break;
		pos += used;
	}
	if (pos) {
		memmove(c->in, c->in + pos, c->in_len - pos);
		c->in_len -= pos;
	}
	conn_flush(c);
}

/* ------------------------------------------------------------------------
 * Connecting and loading
 * --------------------------------------------------------------------- */

static bool needs_script(const conn *c)
{
	return O.wl == WL_REDIS_LUA && c == &c->w->conns[0];
}

/* Keep up to SETUP_WINDOW loading requests in flight on c; note when it has
 * loaded its share. */
static void setup_pump(conn *c)
{
	worker *w = c->w;
	while (!c->dead && c->setup_inflight < SETUP_WINDOW && c->setup_next < g_setup_items) {
		uint64_t item = c->setup_next;
		switch (O.wl) {
		case WL_FLASH:
			req_stock_set(c, 0, 0, O.stock, FLASH_SKU);
			break;
		case WL_CHECKOUT:
		case WL_AVAIL:
		case WL_HOLD:
			req_stock_set(c, item / O.locations, (uint32_t)(item % O.locations),
			    O.stock, NULL);
			break;
		case WL_REDIS_LUA:
			req_redis_set(c, O.stock);
			break;
		case WL_REDIS_CMD:
			break;
		}
		c->setup_next += O.conns;
		c->setup_inflight++;
	}
	if (c->setup_inflight == 0 && c->setup_next >= g_setup_items && !c->setup_done) {
		c->setup_done = true;
		if (--w->pending == 0) {
			uv_timer_stop(&w->timer);
			uv_stop(&w->loop);
		}
	}
}

static void connect_cb(uv_connect_t *req, int status)
{
	conn *c = req->data;
	if (status < 0) {
		char why[160];
		snprintf(why, sizeof why, "connect to %s:%d: %s", O.host, O.port, uv_strerror(status));
		conn_fail(c, why);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	int rc = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
	if (rc < 0) {
		conn_fail(c, uv_strerror(rc));
		return;
	}
	if (needs_script(c)) {
		req_script_load(c);
		c->setup_inflight++;
	}
	setup_pump(c);
	conn_flush(c);
}

static void phase_timeout_cb(uv_timer_t *t)
{
	worker *w = t->data;
	fprintf(stderr, "allot-bench: worker %u: timed out %s\n", w->idx,
	    w->phase == PH_SETUP ? "connecting and loading stock" : "reading the flash stock");
	w->failed = true;
	uv_stop(&w->loop);
}

/* ------------------------------------------------------------------------
 * The timed run
 * --------------------------------------------------------------------- */

static void deadline_cb(uv_timer_t *t)
{
	begin_stop(t->data);
}

/*
 * Open loop: every tick (1 ms) sends each request whose scheduled time falls
 * before the next tick. A request that goes out late (a late tick, a client
 * that fell behind, a connection at its in-flight cap) is timed from when it
 * was due, so the queueing it suffered counts, as in wrk2. One sent up to a
 * tick early is timed from when it went out, so the timer's 1 ms granularity
 * does not add a phantom 0-1 ms to every latency.
 */
static void tick_cb(uv_timer_t *t)
{
	worker *w = t->data;
	uint64_t now = uv_hrtime();
	if (now >= w->end_by) {
		begin_stop(w);
		return;
	}
	uint64_t horizon = now + TICK_NS;
	if (horizon > w->end_by)
		horizon = w->end_by;
	for (uint32_t i = 0; i < w->nconns && !w->stopping; i++) {
		conn *c = &w->conns[i];
		if (c->dead)
			continue;
		for (;;) {
			uint64_t due = c->sched0 + (uint64_t)((double)c->sched_k * w->interval);
			if (due >= horizon || w->stopping || c->fl_count >= OPEN_LOOP_INFLIGHT_MAX)
				break;
			send_timed(c, due < now ? due : now);
			c->sched_k++;
		}
		conn_flush(c);
	}
}

static void run_phase(worker *w)
{
	w->phase = PH_RUN;
	uv_update_time(&w->loop);
	uint64_t now = uv_hrtime();
	uint64_t warm = (uint64_t)(O.warmup * (double)NS_PER_S);
	w->start = now;
	w->measure_start = now + warm;
	uint64_t cap = now + (uint64_t)(RUN_CAP_S * (double)NS_PER_S);
	w->end_by = O.have_duration ? w->measure_start + (uint64_t)(O.duration * (double)NS_PER_S) : cap;
	if (w->end_by > cap)
		w->end_by = cap;

	uv_timer_start(&w->timer, deadline_cb, (w->end_by - now + 999999) / 1000000, 0);
	if (w->budget == 0) {
		begin_stop(w);
	} else if (O.rate > 0.0) {
		/* each connection sends every C/R seconds; their schedules are
		 * staggered so the total is spread evenly */
		w->interval = (double)NS_PER_S * (double)O.conns / O.rate;
		for (uint32_t i = 0; i < w->nconns; i++) {
			conn *c = &w->conns[i];
			c->sched0 = now + (uint64_t)(w->interval * (double)c->gid / (double)O.conns);
			c->sched_k = 0;
		}
		uv_timer_start(&w->tick, tick_cb, 0, TICK_MS);
	} else {
		for (uint32_t i = 0; i < w->nconns && !w->stopping; i++) {
			conn *c = &w->conns[i];
			for (uint32_t d = 0; d < O.pipeline && !w->stopping && !c->dead; d++)
				send_timed(c, now);
			conn_flush(c);
		}
	}
	/* even when the run is already over: this clears uv_stop's flag */
	uv_run(&w->loop, UV_RUN_DEFAULT);
	if (!w->run_over)
		finish_run(w); /* the loop ran dry */
	w->phase = PH_OVER;
}

/* Worker 0 only: read the flash record (stock.get or GET) into w->probe. */
static bool probe_phase(worker *w)
{
	conn *c = &w->conns[0];
	w->phase = PH_PROBE;
	w->probe_done = false;
	memset(&w->probe, 0, sizeof w->probe);
	if (c->dead || c->fl_count)
		return false;
	if (O.redis)
		req_redis_get(c);
	else
		req_stock_get(c);
	conn_flush(c);
	uv_timer_start(&w->timer, phase_timeout_cb, PROBE_TIMEOUT_MS, 0);
	uv_run(&w->loop, UV_RUN_DEFAULT);
	uv_timer_stop(&w->timer);
	return w->probe_done && w->probe.ok;
}

static bool verdict_workload(void)
{
	return O.wl == WL_FLASH || O.wl == WL_REDIS_LUA;
}

static stock_view g_before, g_after;
static bool g_before_ok, g_after_ok, g_abort;

static void worker_main(void *arg)
{
	worker *w = arg;

	/* 1: connect and load */
	w->phase = PH_SETUP;
	w->pending = w->nconns;
	w->setup_t0 = uv_hrtime();
	uv_timer_start(&w->timer, phase_timeout_cb, CONNECT_SETUP_TIMEOUT_MS, 0);
	for (uint32_t i = 0; i < w->nconns && !w->failed; i++) {
		conn *c = &w->conns[i];
		uv_tcp_init(&w->loop, &c->tcp);
		c->tcp.data = c;
		c->creq.data = c;
		int rc = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&g_addr, connect_cb);
		if (rc < 0) {
			fprintf(stderr, "allot-bench: connect: %s\n", uv_strerror(rc));
			w->failed = true;
			c->dead = true;
			uv_close((uv_handle_t *)&c->tcp, on_closed);
		}
	}
	if (!w->failed)
		uv_run(&w->loop, UV_RUN_DEFAULT);
	uv_timer_stop(&w->timer);
	w->setup_t1 = uv_hrtime();
	if (w->setup_errors)
		w->failed = true;
	uv_barrier_wait(&g_barrier);

	/* 2: the flash record before the run */
	bool abort_run = false;
	for (uint32_t i = 0; i < O.threads; i++)
		abort_run |= g_workers[i].failed;
	if (!abort_run && w->idx == 0 && verdict_workload()) {
		g_before_ok = probe_phase(w);
		g_before = w->probe;
		if (!g_before_ok) {
			fprintf(stderr, "allot-bench: could not read the flash stock before the run\n");
			g_abort = true;
		}
	}
	uv_barrier_wait(&g_barrier);
	abort_run |= g_abort;

	/* 3: the run */
	if (!abort_run)
		run_phase(w);
	uv_barrier_wait(&g_barrier);

	/* 4: the flash record after it */
	if (!abort_run && w->idx == 0 && verdict_workload()) {
		g_after_ok = probe_phase(w);
		g_after = w->probe;
	}

	/* close everything and let the loop finish */
	w->phase = PH_OVER;
	for (uint32_t i = 0; i < w->nconns; i++) {
		conn *c = &w->conns[i];
		if (!uv_is_closing((uv_handle_t *)&c->tcp) && c->tcp.loop)
			uv_close((uv_handle_t *)&c->tcp, on_closed);
	}
	uv_close((uv_handle_t *)&w->tick, on_closed);
	uv_close((uv_handle_t *)&w->timer, on_closed);
	uv_run(&w->loop, UV_RUN_DEFAULT);
	uv_loop_close(&w->loop);
}

/* ------------------------------------------------------------------------
 * Options
 * --------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
	    "usage: allot-bench [options]\n"
	    "\n"
	    "Load generator for allotd (MessagePack-RPC) and Redis (RESP). Loads stock,\n"
	    "runs a bounded timed phase, and reports throughput and latency percentiles\n"
	    "from a log-linear histogram of every request (no sampling).\n"
	    "\n"
	    "Target\n"
	    "  --host HOST          server address (default %s)\n"
	    "  --port PORT          server port (default %d)\n"
	    "\n"
	    "Load\n"
	    "  --connections C      TCP connections (default 50)\n"
	    "  --pipeline D         closed loop: requests in flight per connection (default 1)\n"
	    "  --rate R             open loop: R requests/s in all, spread evenly over the\n"
	    "                       connections, each sending on its own schedule whatever\n"
	    "                       the replies; latency counts from the scheduled time\n"
	    "                       (queueing included, as wrk2; sends go out on a 1 ms\n"
	    "                       tick, and one sent early is timed from its send).\n"
	    "                       --pipeline is then unused\n"
	    "  --requests N         stop after N measured requests\n"
	    "  --duration S         stop after S seconds (default 10 unless only --requests\n"
	    "                       is given; with both, whichever ends first; the timed\n"
	    "                       phase never exceeds 600 s)\n"
	    "  --warmup S           run S seconds first without recording (default 0); not\n"
	    "                       counted in --duration or --requests\n"
	    "  --threads T          T event loops, each with C/T connections (default 1)\n"
	    "\n"
	    "Workload\n"
	    "  --workload W         flash, checkout, avail, hold, redis-cmd or redis-lua\n"
	    "                       (default flash)\n"
	    "      flash      every request reserves 1 unit of flash-0 (L0); at the end the\n"
	    "                 successes must equal min(available at the start, attempts)\n"
	    "                 (min(S, attempts) on a fresh allotd) with zero oversell\n"
	    "      checkout   reserve 1-3 Zipf-drawn skus (qty 1-2, ttl 60 s), then commit\n"
	    "                 (80%%) or release (20%%) each held order as a separate request\n"
	    "                 (in the open loop it takes its connection's next slot)\n"
	    "      avail      avail of 10 Zipf-drawn skus\n"
	    "      hold       reserve 1 unit of one sku, the skus in turn, held for\n"
	    "                 --ttl-ms and never finished: fills allotd with live\n"
	    "                 one-line holds (loads --skus x --locations first)\n"
	    "      redis-cmd  the --redis-cmd command, sent to Redis over RESP\n"
	    "      redis-lua  the flash sale as the usual Redis Lua script (EVALSHA),\n"
	    "                 with the same verdict\n"
	    "  --skus K             skus for checkout, avail and hold (default 1000)\n"
	    "  --locations L        locations per sku (default 4)\n"
	    "  --stock S            on_hand per record (default 10000 for flash and\n"
	    "                       redis-lua, 1000000 for checkout, avail and hold)\n"
	    "  --ttl-ms N           how long the hold workload holds (default %lld,\n"
	    "                       allotd's default --ttl-max-ms)\n"
	    "  --zipf S             Zipf exponent of sku popularity, 0 for uniform (default 1.0)\n"
	    "  --seed N             random seed (default 1)\n"
	    "  --redis-cmd CMD      command for redis-cmd, split on spaces (default PING)\n"
	    "  --setup, --no-setup  load stock before the run, or use what is there\n"
	    "                       (default --setup)\n"
	    "\n"
	    "Output\n"
	    "  --json               also print the results as one JSON object, last line\n"
	    "  --help               print this and exit\n"
	    "\n"
	    "Exit status: 0 done, 1 the flash verdict failed, 2 usage, connection or\n"
	    "setup failure.\n",
	    ALLOT_DEFAULT_HOST, ALLOT_DEFAULT_PORT, HOLD_TTL_MS);
}

static uint64_t opt_u64(const char *flag, const char *s, uint64_t lo, uint64_t hi)
{
	char *end;
	errno = 0;
	if (*s == '-')
		die("--%s: expected a whole number from %" PRIu64 " to %" PRIu64 ", got '%s'",
		    flag, lo, hi, s);
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < lo || v > hi)
		die("--%s: expected a whole number from %" PRIu64 " to %" PRIu64 ", got '%s'",
		    flag, lo, hi, s);
	return v;
}

static double opt_double(const char *flag, const char *s, double lo, double hi)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end != '\0' || !(v >= lo && v <= hi))
		die("--%s: expected a number from %g to %g, got '%s'", flag, lo, hi, s);
	return v;
}

enum {
	OPT_HOST = 256, OPT_PORT, OPT_CONNS, OPT_PIPELINE, OPT_REQUESTS, OPT_DURATION,
	OPT_RATE, OPT_WORKLOAD, OPT_SKUS, OPT_LOCATIONS, OPT_STOCK, OPT_SEED, OPT_JSON,
	OPT_WARMUP, OPT_SETUP, OPT_NO_SETUP, OPT_THREADS, OPT_REDIS_CMD, OPT_ZIPF, OPT_TTL_MS,
	OPT_HELP,
};

static void parse_options(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"host", required_argument, NULL, OPT_HOST},
		{"port", required_argument, NULL, OPT_PORT},
		{"connections", required_argument, NULL, OPT_CONNS},
		{"pipeline", required_argument, NULL, OPT_PIPELINE},
		{"requests", required_argument, NULL, OPT_REQUESTS},
		{"duration", required_argument, NULL, OPT_DURATION},
		{"rate", required_argument, NULL, OPT_RATE},
		{"workload", required_argument, NULL, OPT_WORKLOAD},
		{"skus", required_argument, NULL, OPT_SKUS},
		{"locations", required_argument, NULL, OPT_LOCATIONS},
		{"stock", required_argument, NULL, OPT_STOCK},
		{"seed", required_argument, NULL, OPT_SEED},
		{"json", no_argument, NULL, OPT_JSON},
		{"warmup", required_argument, NULL, OPT_WARMUP},
		{"setup", no_argument, NULL, OPT_SETUP},
		{"no-setup", no_argument, NULL, OPT_NO_SETUP},
		{"threads", required_argument, NULL, OPT_THREADS},
		{"redis-cmd", required_argument, NULL, OPT_REDIS_CMD},
		{"zipf", required_argument, NULL, OPT_ZIPF},
		{"ttl-ms", required_argument, NULL, OPT_TTL_MS},
		{"help", no_argument, NULL, OPT_HELP},
		{NULL, 0, NULL, 0},
	};
	int ch;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_HOST:
			O.host = optarg;
			break;
		case OPT_PORT:
			O.port = (int)opt_u64("port", optarg, 1, 65535);
			break;
		case OPT_CONNS:
			O.conns = (uint32_t)opt_u64("connections", optarg, 1, CONNECTIONS_MAX);
			break;
		case OPT_PIPELINE:
			O.pipeline = (uint32_t)opt_u64("pipeline", optarg, 1, 65536);
			break;
		case OPT_REQUESTS:
			O.requests = opt_u64("requests", optarg, 1, UINT64_MAX / 2);
			O.have_requests = true;
			break;
		case OPT_DURATION:
			O.duration = opt_double("duration", optarg, 0.001, RUN_CAP_S);
			O.have_duration = true;
			break;
		case OPT_RATE:
			O.rate = opt_double("rate", optarg, 0.001, 1e9);
			break;
		case OPT_WORKLOAD: {
			bool found = false;
			for (int i = 0; i < (int)(sizeof WL_NAMES / sizeof WL_NAMES[0]); i++) {
				if (strcmp(optarg, WL_NAMES[i]) == 0) {
					O.wl = (enum workload)i;
					found = true;
				}
			}
			if (!found)
				die("--workload: expected flash, checkout, avail, hold, redis-cmd or redis-lua, got '%s'",
				    optarg);
			break;
		}
		case OPT_SKUS:
			O.skus = (uint32_t)opt_u64("skus", optarg, 1, SKUS_MAX);
			break;
		case OPT_LOCATIONS:
			O.locations = (uint32_t)opt_u64("locations", optarg, 1, LOCATIONS_MAX);
			break;
		case OPT_STOCK:
			O.stock = (int64_t)opt_u64("stock", optarg, 0, (uint64_t)ALLOT_QTY_MAX);
			O.have_stock = true;
			break;
		case OPT_SEED:
			O.seed = opt_u64("seed", optarg, 0, UINT64_MAX);
			break;
		case OPT_JSON:
			O.json = true;
			break;
		case OPT_WARMUP:
			O.warmup = opt_double("warmup", optarg, 0.0, RUN_CAP_S);
			break;
		case OPT_SETUP:
			O.setup = true;
			break;
		case OPT_NO_SETUP:
			O.setup = false;
			break;
		case OPT_THREADS:
			O.threads = (uint32_t)opt_u64("threads", optarg, 1, THREADS_MAX);
			break;
		case OPT_REDIS_CMD:
			O.redis_cmd = optarg;
			break;
		case OPT_ZIPF:
			O.zipf_s = opt_double("zipf", optarg, 0.0, 10.0);
			break;
		case OPT_TTL_MS:
			O.ttl_ms = opt_u64("ttl-ms", optarg, 1, (uint64_t)INT64_MAX);
			break;
		case OPT_HELP:
			usage(stdout);
			exit(0);
		default:
			fprintf(stderr, "allot-bench: unknown or incomplete option '%s'\n",
			    argv[optind - 1]);
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc)
		die("unexpected argument '%s' (see --help)", argv[optind]);
	if (O.threads > O.conns)
		die("--threads %u is more than --connections %u", O.threads, O.conns);
	if (O.redis_cmd && O.wl != WL_REDIS_CMD)
		die("--redis-cmd goes with --workload redis-cmd");
	if (!O.redis_cmd)
		O.redis_cmd = "PING";
	if (!O.have_stock)
		O.stock = (O.wl == WL_FLASH || O.wl == WL_REDIS_LUA) ? 10000 : 1000000;
	O.redis = O.wl == WL_REDIS_CMD || O.wl == WL_REDIS_LUA;
	/* bounded always: --requests alone runs up to the 600 s cap */
	if (O.have_requests && !O.have_duration)
		O.duration = RUN_CAP_S;
	else
		O.have_duration = true;
	if (O.warmup + O.duration > RUN_CAP_S)
		O.duration = RUN_CAP_S - O.warmup > 0.001 ? RUN_CAP_S - O.warmup : 0.001;
}

static void resolve_host(void)
{
	struct addrinfo hints, *res = NULL;
	char port[16];
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof port, "%d", O.port);
	int rc = getaddrinfo(O.host, port, &hints, &res);
	if (rc != 0 || !res)
		die("--host %s: %s", O.host, gai_strerror(rc));
	/* prefer IPv4: "localhost" may list ::1 first, and allotd binds 127.0.0.1 */
	const struct addrinfo *pick = res;
	for (const struct addrinfo *a = res; a; a = a->ai_next) {
		if (a->ai_family == AF_INET) {
			pick = a;
			break;
		}
	}
	memcpy(&g_addr, pick->ai_addr, pick->ai_addrlen);
	freeaddrinfo(res);
}

static void redis_cmd_build(void)
{
	mp_buf b;
	size_t n = 0;
	const char *s = O.redis_cmd;
	mp_buf_init(&b);
	for (const char *p = s; *p;) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		n++;
		while (*p && *p != ' ')
			p++;
	}
	if (n == 0)
		die("--redis-cmd: empty command");
	resp_write_array(&b, n);
	for (const char *p = s; *p;) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		const char *t = p;
		while (*p && *p != ' ')
			p++;
		resp_write_bulk(&b, t, (size_t)(p - t));
	}
	if (mp_buf_failed(&b))
		die("out of memory");
	g_redis_cmd = b.data;
	g_redis_cmd_len = b.len;
}

/* ------------------------------------------------------------------------
 * Results
 * --------------------------------------------------------------------- */

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

/* Append to a fixed buffer, never past its end. */
static void cat(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void cat(char *buf, size_t cap, const char *fmt, ...)
{
	size_t l = strlen(buf);
	if (l + 1 >= cap)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + l, cap - l, fmt, ap);
	va_end(ap);
}

int main(int argc, char **argv)
{
	parse_options(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	resolve_host();
	if (O.wl == WL_CHECKOUT || O.wl == WL_AVAIL)
		zipf_build();
	if (O.wl == WL_REDIS_CMD)
		redis_cmd_build();

	if (!O.setup)
		g_setup_items = 0;
	else if (O.wl == WL_CHECKOUT || O.wl == WL_AVAIL || O.wl == WL_HOLD)
		g_setup_items = (uint64_t)O.skus * O.locations;
	else if (O.wl == WL_FLASH || O.wl == WL_REDIS_LUA)
		g_setup_items = 1;

	g_workers = xcalloc(O.threads, sizeof *g_workers);
	uint32_t first = 0;
	for (uint32_t t = 0; t < O.threads; t++) {
		worker *w = &g_workers[t];
		uint32_t last = (uint32_t)(((uint64_t)O.conns * (t + 1)) / O.threads);
		w->idx = t;
		w->nconns = last - first;
		if (uv_loop_init(&w->loop) != 0)
			die("uv_loop_init failed");
		uv_timer_init(&w->loop, &w->tick);
		uv_timer_init(&w->loop, &w->timer);
		w->tick.data = w;
		w->timer.data = w;
		hist_init(&w->h);
		if (O.have_requests) {
			uint64_t q = O.requests / O.conns, rem = O.requests % O.conns;
			uint64_t hi = q * last + rem * last / O.conns;
			uint64_t lo = q * first + rem * first / O.conns;
			w->budget = hi - lo;
		} else {
			w->budget = UINT64_MAX;
		}
		w->conns = xcalloc(w->nconns, sizeof *w->conns);
		for (uint32_t i = 0; i < w->nconns; i++) {
			conn *c = &w->conns[i];
			c->w = w;
			c->gid = first + i;
			c->rng = O.seed ^ (0x9e3779b97f4a7c15ull * ((uint64_t)c->gid + 1));
			(void)rng_next(&c->rng);
			c->next_msgid = 1;
			c->setup_next = c->gid;
			mp_buf_init(&c->out);
			mp_buf_init(&c->wbuf);
			c->fl_cap = pow2_at_least(O.pipeline > SETUP_WINDOW ? O.pipeline : SETUP_WINDOW);
			c->fl = xmalloc((size_t)c->fl_cap * sizeof *c->fl);
		}
		first = last;
	}

	if (uv_barrier_init(&g_barrier, O.threads) != 0)
		die("uv_barrier_init failed");
	if (O.threads == 1) {
		worker_main(&g_workers[0]);
	} else {
		for (uint32_t t = 0; t < O.threads; t++)
			if (uv_thread_create(&g_workers[t].thread, worker_main, &g_workers[t]) != 0)
				die("cannot start thread %u", t);
		for (uint32_t t = 0; t < O.threads; t++)
			uv_thread_join(&g_workers[t].thread);
	}
	uv_barrier_destroy(&g_barrier);

	/* setup failures end it here */
	bool failed = g_abort;
	uint64_t loaded = 0, setup_ns = 0;
	for (uint32_t t = 0; t < O.threads; t++) {
		worker *w = &g_workers[t];
		loaded += w->setup_items;
		if (w->setup_t1 - w->setup_t0 > setup_ns)
			setup_ns = w->setup_t1 - w->setup_t0;
		if (w->setup_errors)
			fprintf(stderr, "allot-bench: loading failed: %" PRIu64 " errors, first: %s\n",
			    w->setup_errors, w->setup_err);
		failed |= w->failed;
	}
	if (failed)
		die("gave up before the run");
	if (g_setup_items)
		fprintf(stderr, "allot-bench: loaded %" PRIu64 " record%s in %.1f ms over %u connections\n",
		    loaded, loaded == 1 ? "" : "s", (double)setup_ns / 1e6, O.conns);

	/* aggregate */
	hist h;
	errtab errs;
	hist_init(&h);
	memset(&errs, 0, sizeof errs);
	uint64_t replies = 0, ok = 0, sent = 0, no_reply = 0, conn_errors = 0;
	uint64_t attempts = 0, successes = 0, oos = 0, other = 0;
	uint64_t orders = 0, orders_held = 0, orders_oos = 0, commits = 0, releases = 0;
	uint64_t t_begin = UINT64_MAX, t_end = 0;
	for (uint32_t t = 0; t < O.threads; t++) {
		worker *w = &g_workers[t];
		hist_merge(&h, &w->h);
		for (uint32_t i = 0; i < w->errs.n; i++)
			err_add(&errs, w->errs.e[i].code, strlen(w->errs.e[i].code), w->errs.e[i].count);
		replies += w->replies;
		ok += w->ok;
		sent += w->sent;
		no_reply += w->no_reply;
		conn_errors += w->conn_errors;
		attempts += w->attempts;
		successes += w->successes;
		oos += w->oos;
		other += w->other;
		orders += w->orders;
		orders_held += w->orders_held;
		orders_oos += w->orders_oos;
		commits += w->commits;
		releases += w->releases;
		if (w->measure_start < t_begin)
			t_begin = w->measure_start;
		uint64_t e = w->last_reply ? w->last_reply : w->run_end;
		if (e > t_end)
			t_end = e;
	}
	if (no_reply)
		err_add(&errs, "NO_REPLY", 8, no_reply);
	double elapsed = t_end > t_begin ? (double)(t_end - t_begin) / 1e9 : 0.0;
	double rps = elapsed > 0 ? (double)replies / elapsed : 0.0;
	uint64_t p50 = hist_percentile(&h, 50.0), p90 = hist_percentile(&h, 90.0);
	uint64_t p99 = hist_percentile(&h, 99.0), p999 = hist_percentile(&h, 99.9);
	uint64_t mx = h.total ? h.max : 0, mn = h.total ? h.min : 0;

	/* the flash verdict */
	const char *verdict = NULL;
	char why[1024] = "";
	if (verdict_workload()) {
		char bad[512] = "";
		int64_t base_avail = O.redis ? g_before.on_hand : g_before.available;
		if (base_avail < 0)
			base_avail = 0;
		uint64_t expect = (uint64_t)base_avail < attempts ? (uint64_t)base_avail : attempts;
		if (no_reply)
			cat(bad, sizeof bad, "; %" PRIu64 " requests unanswered", no_reply);
		if (other)
			cat(bad, sizeof bad, "; %" PRIu64 " replies neither success nor OUT_OF_STOCK", other);
		if (successes + oos != attempts)
			cat(bad, sizeof bad, "; successes + OUT_OF_STOCK != attempts");
		if (successes != expect)
			cat(bad, sizeof bad, "; %" PRIu64 " succeeded, expected min(%" PRId64 " available, %" PRIu64 " attempts) = %" PRIu64,
			    successes, base_avail, attempts, expect);
		if (O.setup && g_before.on_hand != O.stock)
			cat(bad, sizeof bad, "; stock was %" PRId64 " after setup, not %" PRId64,
			    g_before.on_hand, O.stock);
		if (!g_after_ok) {
			cat(bad, sizeof bad, "; could not read the stock after the run");
		} else if (O.redis) {
			if (g_after.on_hand != g_before.on_hand - (int64_t)successes)
				cat(bad, sizeof bad, "; GET %s = %" PRId64 ", expected %" PRId64 " - %" PRIu64,
				    REDIS_STOCK_KEY, g_after.on_hand, g_before.on_hand, successes);
		} else {
			if (g_after.reserved != g_before.reserved + (int64_t)successes)
				cat(bad, sizeof bad, "; reserved = %" PRId64 ", expected %" PRId64 " + %" PRIu64,
				    g_after.reserved, g_before.reserved, successes);
			if (g_after.on_hand != g_before.on_hand)
				cat(bad, sizeof bad, "; on_hand changed from %" PRId64 " to %" PRId64,
				    g_before.on_hand, g_after.on_hand);
			if (g_after.committed != g_before.committed)
				cat(bad, sizeof bad, "; committed changed from %" PRId64 " to %" PRId64,
				    g_before.committed, g_after.committed);
		}
		verdict = bad[0] ? "FAIL" : "PASS";
		snprintf(why, sizeof why, "attempts=%" PRIu64 " succeeded=%" PRIu64
		    " out_of_stock=%" PRIu64 " other=%" PRIu64 ", available before=%" PRId64,
		    attempts, successes, oos, other, base_avail);
		if (g_after_ok && O.redis)
			cat(why, sizeof why, ", GET %s %" PRId64 " -> %" PRId64, REDIS_STOCK_KEY,
			    g_before.on_hand, g_after.on_hand);
		else if (g_after_ok)
			cat(why, sizeof why, ", stock.get %s: on_hand %" PRId64 " reserved %" PRId64
			    " -> %" PRId64 " available %" PRId64,
			    FLASH_SKU, g_after.on_hand, g_before.reserved, g_after.reserved, g_after.available);
		if (bad[0])
			cat(why, sizeof why, "%s", bad);
		else
			cat(why, sizeof why, "; zero oversell");
		if (!O.redis && g_before.reserved)
			fprintf(stderr, "allot-bench: note: %s already had %" PRId64 " units reserved before "
			    "the run (an earlier run against this allotd?); the verdict counts from there\n",
			    FLASH_SKU, g_before.reserved);
	}

	printf("workload      %s (%s at %s:%d)\n", WL_NAMES[O.wl],
	    O.redis ? "Redis, RESP" : "allotd, MessagePack-RPC", O.host, O.port);
	if (O.rate > 0)
		printf("load          open loop at %.0f req/s, %u connections, %u thread%s\n",
		    O.rate, O.conns, O.threads, O.threads == 1 ? "" : "s");
	else
		printf("load          closed loop, %u connections x pipeline %u, %u thread%s\n",
		    O.conns, O.pipeline, O.threads, O.threads == 1 ? "" : "s");
	printf("requests      %" PRIu64 " in %.3f s%s\n", replies, elapsed,
	    O.warmup > 0 ? " (after warmup)" : "");
	printf("throughput    %.0f req/s\n", rps);
	printf("latency (us)  p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  (min %.1f, mean %.1f)\n",
	    us(p50), us(p90), us(p99), us(p999), us(mx), us(mn), hist_mean(&h) / 1000.0);
	printf("ok            %" PRIu64 "\n", ok);
	printf("errors        ");
	if (errs.n == 0)
		printf("none");
	for (uint32_t i = 0; i < errs.n; i++)
		printf("%s%s %" PRIu64, i ? ", " : "", errs.e[i].code, errs.e[i].count);
	printf("\n");
	if (conn_errors)
		printf("connections   %" PRIu64 " failed during the run\n", conn_errors);
	if (O.wl == WL_CHECKOUT)
		printf("orders        %" PRIu64 " reserved: %" PRIu64 " held, %" PRIu64
		    " out of stock; %" PRIu64 " committed, %" PRIu64 " released\n",
		    orders, orders_held, orders_oos, commits, releases);
	if (verdict)
		printf("verdict: %s (%s)\n", verdict, why);

	if (O.json) {
		char js[4096];
		snprintf(js, sizeof js,
		    "{\"workload\":\"%s\",\"connections\":%u,\"pipeline\":%u,\"threads\":%u,"
		    "\"rate\":%.3f,\"requests\":%" PRIu64 ",\"sent\":%" PRIu64 ",\"duration_s\":%.6f,"
		    "\"warmup_s\":%.3f,\"throughput_rps\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,"
		    "\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,\"min_us\":%.1f,\"mean_us\":%.1f,"
		    "\"ok\":%" PRIu64 ",\"errors\":{",
		    WL_NAMES[O.wl], O.conns, O.pipeline, O.threads, O.rate, replies,
		    sent, elapsed, O.warmup, rps, us(p50), us(p90), us(p99), us(p999), us(mx), us(mn),
		    hist_mean(&h) / 1000.0, ok);
		for (uint32_t i = 0; i < errs.n; i++)
			cat(js, sizeof js, "%s\"%s\":%" PRIu64, i ? "," : "", errs.e[i].code, errs.e[i].count);
		cat(js, sizeof js, "}");
		if (O.wl == WL_CHECKOUT)
			cat(js, sizeof js, ",\"orders\":%" PRIu64 ",\"orders_held\":%" PRIu64
			    ",\"commits\":%" PRIu64 ",\"releases\":%" PRIu64,
			    orders, orders_held, commits, releases);
		if (verdict)
			cat(js, sizeof js, ",\"attempts\":%" PRIu64 ",\"successes\":%" PRIu64
			    ",\"out_of_stock\":%" PRIu64 ",\"verdict\":\"%s\"",
			    attempts, successes, oos, verdict);
		cat(js, sizeof js, "}");
		printf("%s\n", js);
	}
	fflush(stdout);

	for (uint32_t t = 0; t < O.threads; t++) {
		worker *w = &g_workers[t];
		for (uint32_t i = 0; i < w->nconns; i++) {
			conn *c = &w->conns[i];
			mp_buf_finish(&c->out);
			mp_buf_finish(&c->wbuf);
			free(c->in);
			free(c->fl);
			free(c->fu);
		}
		free(w->conns);
	}
	free(g_workers);
	free(g_zipf_cdf);
	free(g_redis_cmd);
	return verdict && strcmp(verdict, "FAIL") == 0 ? 1 : 0;
}
