/*
 * bench_workload.c - what each workload loads, sends and counts:
 *
 *   flash      every request reserves 1 unit of flash-0 (L0)
 *   checkout   reserve 1-3 Zipf-drawn skus, then commit (80%) or release
 *              (20%) each held order as a separate request
 *   avail      avail of 10 Zipf-drawn skus
 *   hold       reserve 1 unit of one sku, the skus in turn, never finished
 *   redis-cmd  the --redis-cmd command, sent to Redis
 *   redis-lua  the flash sale as the usual Redis Lua script (EVALSHA)
 *
 * The encodings are bench_rpc.c's and bench_resp.c's; this file decides
 * what to send when, and what a reply means for the counters and the
 * verdict.
 */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char LUA_SCRIPT[] =
    "local s = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
    "local q = tonumber(ARGV[1])\n"
    "if s < q then return 0 end\n"
    "redis.call('DECRBY', KEYS[1], q)\n"
    "redis.call('SET', KEYS[2], q, 'EX', tonumber(ARGV[2]))\n"
    "return 1\n";

uint64_t bench_setup_items;

static double *zipf_cdf;         /* K entries, cumulative, last = 1 */
static uint8_t *redis_cmd;       /* the --redis-cmd command in RESP */
static size_t redis_cmd_len;

/* ------------------------------------------------------------------------
 * Preparation, before the workers start
 * --------------------------------------------------------------------- */

static void zipf_build(void)
{
	uint32_t k = bench_opt.skus;
	zipf_cdf = bench_xmalloc((size_t)k * sizeof *zipf_cdf);
	double sum = 0.0;
	for (uint32_t i = 0; i < k; i++) {
		sum += bench_opt.zipf_s == 0.0 ? 1.0 : 1.0 / pow((double)i + 1.0, bench_opt.zipf_s);
		zipf_cdf[i] = sum;
	}
	for (uint32_t i = 0; i < k; i++)
		zipf_cdf[i] /= sum;
	zipf_cdf[k - 1] = 1.0;
}

void wl_prepare(void)
{
	enum workload wl = bench_opt.wl;
	if (wl == WL_CHECKOUT || wl == WL_AVAIL)
		zipf_build();
	if (wl == WL_REDIS_CMD)
		resp_command_build(bench_opt.redis_cmd, &redis_cmd, &redis_cmd_len);

	if (!bench_opt.setup)
		bench_setup_items = 0;
	else if (wl == WL_CHECKOUT || wl == WL_AVAIL || wl == WL_HOLD)
		bench_setup_items = (uint64_t)bench_opt.skus * bench_opt.locations;
	else if (wl == WL_FLASH || wl == WL_REDIS_LUA)
		bench_setup_items = 1;
}

void wl_free(void)
{
	free(zipf_cdf);
	free(redis_cmd);
	zipf_cdf = NULL;
	redis_cmd = NULL;
}

bool wl_has_verdict(void)
{
	return bench_opt.wl == WL_FLASH || bench_opt.wl == WL_REDIS_LUA;
}

/* A sku index drawn from the Zipf distribution over K (0 is the hottest). */
static uint32_t zipf_draw(uint64_t *s)
{
	double u = (double)(bench_rng_next(s) >> 11) * 0x1.0p-53;
	uint32_t lo = 0, hi = bench_opt.skus - 1;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (zipf_cdf[mid] >= u)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* ------------------------------------------------------------------------
 * Loading
 * --------------------------------------------------------------------- */

static bool needs_script(const conn *c)
{
	return bench_opt.wl == WL_REDIS_LUA && c == &c->w->conns[0];
}

/* Keep up to SETUP_WINDOW loading requests in flight on c; note when it has
 * loaded its share. */
void wl_setup_pump(conn *c)
{
	worker *w = c->w;
	while (!c->dead && c->setup_inflight < SETUP_WINDOW && c->setup_next < bench_setup_items) {
		uint64_t item = c->setup_next;
		switch (bench_opt.wl) {
		case WL_FLASH:
			rpc_stock_set(c, 0, 0, bench_opt.stock, FLASH_SKU);
			break;
		case WL_CHECKOUT:
		case WL_AVAIL:
		case WL_HOLD:
			rpc_stock_set(c, item / bench_opt.locations,
			    (uint32_t)(item % bench_opt.locations), bench_opt.stock, NULL);
			break;
		case WL_REDIS_LUA:
			resp_set(c, REDIS_STOCK_KEY, bench_opt.stock);
			break;
		case WL_REDIS_CMD:
			break;
		}
		c->setup_next += bench_opt.conns;
		c->setup_inflight++;
	}
	if (c->setup_inflight == 0 && c->setup_next >= bench_setup_items && !c->setup_done) {
		c->setup_done = true;
		if (--w->pending == 0)
			run_setup_done(w);
	}
}

/* c just connected: start loading its share. */
void wl_connected(conn *c)
{
	if (needs_script(c)) {
		resp_script_load(c, LUA_SCRIPT, sizeof LUA_SCRIPT - 1);
		c->setup_inflight++;
	}
	wl_setup_pump(c);
}

/* Read the flash record: stock.get or GET. */
void wl_send_probe(conn *c)
{
	if (bench_opt.redis)
		resp_get(c, REDIS_STOCK_KEY);
	else
		rpc_stock_get(c, FLASH_SKU);
}

/* ------------------------------------------------------------------------
 * Timed requests
 * --------------------------------------------------------------------- */

/* checkout: 1-3 lines of distinct Zipf-drawn skus, qty 1-2 each. */
static void send_order(conn *c, uint64_t t, bool measured)
{
	uint32_t skus[ORDER_LINES_MAX], qtys[ORDER_LINES_MAX];
	uint32_t n = 1 + bench_rng_below(&c->rng, ORDER_LINES_MAX);
	if (n > bench_opt.skus)
		n = bench_opt.skus;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t s = zipf_draw(&c->rng);
		for (uint32_t tries = 0;; tries++) {
			bool dup = false;
			for (uint32_t j = 0; j < i; j++)
				dup |= skus[j] == s;
			if (!dup)
				break;
			/* the hot head collides often: redraw a few times, then step */
			s = tries < 8 ? zipf_draw(&c->rng) : (s + 1) % bench_opt.skus;
		}
		skus[i] = s;
	}
	for (uint32_t i = 0; i < n; i++)
		qtys[i] = 1 + bench_rng_below(&c->rng, 2);
	rpc_reserve_lines(c, 'c', skus, qtys, n, CHECKOUT_TTL_MS, t, measured);
}

static void send_avail(conn *c, uint64_t t, bool measured)
{
	uint32_t skus[AVAIL_SKUS];
	for (uint32_t i = 0; i < AVAIL_SKUS; i++)
		skus[i] = zipf_draw(&c->rng);
	rpc_avail(c, skus, AVAIL_SKUS, t, measured);
}

/* hold: one line of 1 unit, the skus taken in turn over all connections
 * (the i-th request of all reserves sku-(i mod K)), held for --ttl-ms and
 * never finished: it leaves live holds behind. */
static void send_hold(conn *c, uint64_t t, bool measured)
{
	uint64_t i = c->gid + c->seq * bench_opt.conns;
	rpc_reserve_one(c, 'h', NULL, i % bench_opt.skus, bench_opt.ttl_ms, t, measured);
}

static void lua_prefix_build(worker *w)
{
	/* EVALSHA sha 2 stock:flash-0 hold:<conn>-<n> 1 3600 */
	int n = snprintf(w->lua_prefix, sizeof w->lua_prefix,
	    "*7\r\n$7\r\nEVALSHA\r\n$40\r\n%s\r\n$1\r\n2\r\n$%zu\r\n%s\r\n",
	    w->sha, strlen(REDIS_STOCK_KEY), REDIS_STOCK_KEY);
	w->lua_prefix_len = (size_t)n;
}

static void send_lua(conn *c, uint64_t t, bool measured)
{
	static const char suffix[] = "$1\r\n1\r\n$4\r\n3600\r\n";
	char key[48];
	size_t l = 0;
	memcpy(key, "hold:", 5);
	l = 5;
	l += bench_u64dec(key + l, c->gid);
	key[l++] = '-';
	l += bench_u64dec(key + l, c->seq++);
	mp_write_raw(&c->out, c->w->lua_prefix, c->w->lua_prefix_len);
	resp_write_bulk(&c->out, key, l);
	mp_write_raw(&c->out, suffix, sizeof suffix - 1);
	conn_track(c, K_LUA, 0, t, measured);
}

static void send_one(conn *c, uint64_t t, bool measured)
{
	switch (bench_opt.wl) {
	case WL_FLASH:
		rpc_reserve_one(c, 'b', FLASH_SKU, 0, FLASH_TTL_MS, t, measured);
		break;
	case WL_CHECKOUT:
		if (c->fu_count) {
			followup f = conn_followup_pop(c);
			rpc_finish(c, f.kind, f.id, f.len, t, measured);
		} else {
			send_order(c, t, measured);
		}
		break;
	case WL_AVAIL:
		send_avail(c, t, measured);
		break;
	case WL_HOLD:
		send_hold(c, t, measured);
		break;
	case WL_REDIS_CMD:
		mp_write_raw(&c->out, redis_cmd, redis_cmd_len);
		conn_track(c, K_CMD, 0, t, measured);
		break;
	case WL_REDIS_LUA:
		send_lua(c, t, measured);
		break;
	}
}

/* One timed request on c, sent (or scheduled) at t. */
void wl_send_timed(conn *c, uint64_t t)
{
	worker *w = c->w;
	bool measured = t >= w->measure_start;
	if (measured) {
		if (w->budget == 0) {
			run_begin_stop(w);
			return;
		}
		w->budget--;
	}
	send_one(c, t, measured);
	if (measured && w->budget == 0)
		run_begin_stop(w);
}

/* ------------------------------------------------------------------------
 * Replies
 * --------------------------------------------------------------------- */

/* What a timed reply means for the workload's own counters; a held
 * checkout order queues its commit or release. */
static void count_outcome(conn *c, const inflight *f, reply *r)
{
	worker *w = c->w;
	bool oos = r->code && bench_str_is(r->code, r->code_len, ALLOT_ERR_OUT_OF_STOCK);
	if (bench_opt.wl == WL_FLASH || bench_opt.wl == WL_REDIS_LUA) {
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
			const char *id = rpc_find_reservation_id(&r->result, &idl);
			w->orders_held++;
			if (!id || idl == 0 || idl > FOLLOWUP_ID_BYTES - 2) {
				errtab_add(&w->errs, "NO_RESERVATION_ID", 17, 1);
			} else if (!w->stopping && bench_opt.wl == WL_CHECKOUT) {
				uint8_t k = bench_rng_below(&c->rng, 5) == 0 ? K_RELEASE : K_COMMIT;
				conn_followup_push(c, id, idl, k);
			}
		} else if (oos) {
			w->orders_oos++;
		}
	} else if (f->kind == K_COMMIT && !r->code) {
		w->commits++;
	} else if (f->kind == K_RELEASE && !r->code) {
		w->releases++;
	}
}

static void on_timed_reply(conn *c, const inflight *f, reply *r, uint64_t now)
{
	worker *w = c->w;
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
	if (f->measured) {
		hist_record(&w->h, now > f->t ? now - f->t : 0);
		w->replies++;
		w->last_reply = now;
		if (!r->code)
			w->ok++;
		else
			errtab_add(&w->errs, r->code, r->code_len, 1);
	}
	count_outcome(c, f, r);

	if (!w->stopping && bench_opt.rate == 0.0) {
		if (now >= w->end_by)
			run_begin_stop(w);
		else
			wl_send_timed(c, now);
	}
	if (w->stopping && w->inflight == 0)
		run_finish(w);
}

/* The flash record before or after the run, into w->probe. */
static void on_probe_reply(worker *w, const reply *r)
{
	memset(&w->probe, 0, sizeof w->probe);
	if (r->code) {
		fprintf(stderr, "allot-bench: reading the flash stock failed: %.*s: %.*s\n",
		    (int)r->code_len, r->code, (int)r->msg_len, r->msg ? r->msg : "");
	} else if (bench_opt.redis) {
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
		mp_cursor result = r->result;
		rpc_parse_stock_get(&result, &w->probe);
	}
	run_probe_done(w);
}

/* Take a reply to f, which was in flight on c. */
void wl_on_reply(conn *c, const inflight *f, reply *r, uint64_t now)
{
	worker *w = c->w;

	if (K_TIMED(f->kind)) {
		on_timed_reply(c, f, r, now);
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
		wl_setup_pump(c);
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
		wl_setup_pump(c);
		break;
	case K_PROBE:
		on_probe_reply(w, r);
		break;
	default:
		break;
	}
}
