/*
 * bench_workload.c - what each workload loads, sends and counts:
 *
 *   flash            every request reserves 1 unit of flash-0 (L0); with
 *                    --lines N, 1 unit of each of flash-0 .. flash-<N-1>
 *   checkout         reserve 1-3 (or --lines) Zipf-drawn skus, then commit
 *                    (80%) or release (20%) each held order as a separate
 *                    request
 *   avail            avail of 10 Zipf-drawn skus
 *   hold             reserve 1 unit of one sku, the skus in turn, never
 *                    finished
 *   redis-cmd        the --redis-cmd command, sent to Redis
 *   redis-lua        the flash sale as the usual Redis Lua script (EVALSHA)
 *   redis-lua-lines  checkout's orders as one all-or-nothing Lua script
 *
 * With --strategy or --ship-to, the loading also puts every location with
 * coordinates and costs (location.put), and every reserve carries them.
 *
 * The encodings are bench_rpc.c's, bench_resp.c's and bench_lua.c's; this
 * file decides what to send when, what a reply means for the counters, and
 * reads the stock the verdict compares (the probes).
 */
#include "bench.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t bench_setup_items;
uint32_t bench_setup_stride;

static double *zipf_cdf;         /* K entries, cumulative, last = 1 */
static uint8_t *redis_cmd;       /* the --redis-cmd command in RESP */
static size_t redis_cmd_len;
static uint64_t location_items;  /* the first loading items: location.put */
static uint32_t flash_idx[LINES_MAX], flash_qty[LINES_MAX]; /* a flash order */

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

/* The skus of a flash order: flash-0 alone, or --lines of them. */
static uint32_t flash_skus(void)
{
	return bench_opt.lines ? bench_opt.lines : 1;
}

/* Records loaded after the locations: stock.set or SET items. */
static uint64_t stock_items(void)
{
	switch (bench_opt.wl) {
	case WL_FLASH:
		return flash_skus();
	case WL_CHECKOUT:
	case WL_AVAIL:
	case WL_HOLD:
		return (uint64_t)bench_opt.skus * bench_opt.locations;
	case WL_REDIS_LUA:
		return 1;
	case WL_REDIS_LUA_LINES:
		return bench_opt.skus;
	case WL_REDIS_CMD:
		break;
	}
	return 0;
}

void wl_prepare(void)
{
	enum workload wl = bench_opt.wl;
	if (wl == WL_CHECKOUT || wl == WL_AVAIL || wl == WL_REDIS_LUA_LINES)
		zipf_build();
	if (wl == WL_REDIS_CMD)
		resp_command_build(bench_opt.redis_cmd, &redis_cmd, &redis_cmd_len);
	for (uint32_t i = 0; i < LINES_MAX; i++) {
		flash_idx[i] = i;
		flash_qty[i] = 1;
	}
	/* a flash sale ships from L0 alone; the others from every location */
	location_items = !bench_opt.routing ? 0 : wl == WL_FLASH ? 1 : bench_opt.locations;
	bench_setup_items = bench_opt.setup ? location_items + stock_items() : 0;
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
	return bench_opt.wl == WL_FLASH || bench_opt.wl == WL_REDIS_LUA ||
	    bench_opt.wl == WL_REDIS_LUA_LINES;
}

/* Where location loc stands and what it costs: drawn from the seed, the
 * same in every run with it. It ranks loc-th by priority. */
static void location_geo(uint32_t loc, bench_geo *g)
{
	uint64_t s = bench_opt.seed ^ (0xa24baed4963ee407ull * ((uint64_t)loc + 1));
	g->lat = bench_rng_between(&s, GEO_LAT_MIN, GEO_LAT_MAX);
	g->lon = bench_rng_between(&s, GEO_LON_MIN, GEO_LON_MAX);
	g->priority = loc;
	g->cost = 1 + bench_rng_below(&s, GEO_COST_MAX);
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

/* Loading item i: the locations first (with --strategy or --ship-to),
 * then the stock. */
static void setup_item(conn *c, uint64_t item)
{
	if (item < location_items) {
		bench_geo g;
		location_geo((uint32_t)item, &g);
		rpc_location_put(c, (uint32_t)item, &g);
		return;
	}
	item -= location_items;
	switch (bench_opt.wl) {
	case WL_FLASH:
		rpc_stock_set(c, FLASH_SKU_PREFIX, item, 0, bench_opt.stock);
		break;
	case WL_CHECKOUT:
	case WL_AVAIL:
	case WL_HOLD:
		rpc_stock_set(c, SKU_PREFIX, item / bench_opt.locations,
		    (uint32_t)(item % bench_opt.locations), bench_opt.stock);
		break;
	case WL_REDIS_LUA:
		resp_set(c, REDIS_STOCK_KEY, bench_opt.stock);
		break;
	case WL_REDIS_LUA_LINES: {
		char key[48];
		size_t l = sizeof REDIS_SKU_KEY_PREFIX - 1;
		memcpy(key, REDIS_SKU_KEY_PREFIX, l);
		key[l + bench_u64dec(key + l, item)] = '\0';
		resp_set(c, key, bench_opt.stock);
		break;
	}
	case WL_REDIS_CMD:
		break;
	}
}

/* Keep up to SETUP_WINDOW loading requests in flight on c; note when it has
 * loaded its share (items c->setup_next, + stride, ...). */
void wl_setup_pump(conn *c)
{
	worker *w = c->w;
	assert(bench_setup_stride > 0);
	while (!c->dead && c->setup_inflight < SETUP_WINDOW && c->setup_next < bench_setup_items) {
		setup_item(c, c->setup_next);
		c->setup_next += bench_setup_stride;
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
	bool lua = bench_opt.wl == WL_REDIS_LUA || bench_opt.wl == WL_REDIS_LUA_LINES;
	if (lua && c == c->w->lead)
		lua_connected(c);
	wl_setup_pump(c);
}

/* ------------------------------------------------------------------------
 * Probes: the stock the verdict compares, before and after the run
 * --------------------------------------------------------------------- */

static uint32_t probe_requests(void)
{
	switch (bench_opt.wl) {
	case WL_FLASH:
		return flash_skus();
	case WL_REDIS_LUA:
		return 1;
	case WL_REDIS_LUA_LINES:
		return (bench_opt.skus + PROBE_MGET_KEYS - 1) / PROBE_MGET_KEYS;
	default:
		return 0;
	}
}

/* Keep up to PROBE_WINDOW probe requests in flight on c. */
static void probe_pump(conn *c)
{
	worker *w = c->w;
	while (w->probe_sent < w->probe_total && w->probe_sent - w->probe_got < PROBE_WINDOW) {
		uint32_t i = w->probe_sent++;
		if (bench_opt.wl == WL_FLASH) {
			rpc_stock_get(c, FLASH_SKU_PREFIX, i);
		} else if (bench_opt.wl == WL_REDIS_LUA) {
			resp_mget(c, REDIS_FLASH_KEY_PREFIX, 0, 1);
		} else {
			uint64_t first = (uint64_t)i * PROBE_MGET_KEYS;
			uint64_t n = bench_opt.skus - first < PROBE_MGET_KEYS ? bench_opt.skus - first : PROBE_MGET_KEYS;
			resp_mget(c, REDIS_SKU_KEY_PREFIX, first, (uint32_t)n);
		}
	}
}

/* Read the verdict's stock on c into c->w->probe: stock.get of each flash
 * sku, or MGET of the stock keys. */
void wl_probe_start(conn *c)
{
	worker *w = c->w;
	memset(&w->probe, 0, sizeof w->probe);
	w->probe.ok = true;
	w->probe.key_min = INT64_MAX;
	w->probe_total = probe_requests();
	w->probe_sent = w->probe_got = 0;
	assert(w->probe_total > 0 && w->probe_total <= (SKUS_MAX + PROBE_MGET_KEYS - 1) / PROBE_MGET_KEYS);
	probe_pump(c);
}

static void on_probe_reply(conn *c, const reply *r)
{
	worker *w = c->w;
	uint32_t i = w->probe_got++;
	assert(i < w->probe_total);
	if (r->code) {
		fprintf(stderr, "allot-bench: reading the stock failed: %.*s: %.*s\n",
		    (int)r->code_len, r->code, (int)r->msg_len, r->msg ? r->msg : "");
		w->probe.ok = false;
	} else if (bench_opt.redis) {
		if (!resp_sum_keys(r, &w->probe)) {
			fprintf(stderr, "allot-bench: MGET of the stock keys: not an array of integers\n");
			w->probe.ok = false;
		}
	} else {
		mp_cursor result = r->result;
		rpc_parse_stock_get(&result, &w->probe.sku[i]);
		w->probe.ok &= w->probe.sku[i].ok;
		w->probe.nskus = i + 1;
	}
	if (w->probe_got < w->probe_total) {
		probe_pump(c);
		return;
	}
	/* the scripts read a missing key as 0 */
	if (w->probe.keys_missing || w->probe.key_min == INT64_MAX)
		w->probe.key_min = w->probe.key_min < 0 ? w->probe.key_min : 0;
	run_probe_done(w);
}

/* ------------------------------------------------------------------------
 * Timed requests
 * --------------------------------------------------------------------- */

/* An order: --lines (or 1-3) distinct Zipf-drawn skus, qty 1-2 each, into
 * skus and qtys; returns its lines. */
static uint32_t draw_order(conn *c, uint32_t *skus, uint32_t *qtys)
{
	uint32_t n = bench_opt.lines ? bench_opt.lines : 1 + bench_rng_below(&c->rng, CHECKOUT_LINES_DEFAULT);
	if (n > bench_opt.skus)
		n = bench_opt.skus;
	assert(n >= 1 && n <= LINES_MAX);
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
	return n;
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
	rpc_reserve_one(c, 'h', SKU_PREFIX, i % bench_opt.skus, bench_opt.ttl_ms, t, measured);
}

static void send_flash(conn *c, uint64_t t, bool measured)
{
	if (flash_skus() == 1)
		rpc_reserve_one(c, 'b', FLASH_SKU_PREFIX, 0, FLASH_TTL_MS, t, measured);
	else
		rpc_reserve_lines(c, 'b', FLASH_SKU_PREFIX, flash_idx, flash_qty, flash_skus(),
		    FLASH_TTL_MS, t, measured);
}

static void send_one(conn *c, uint64_t t, bool measured)
{
	uint32_t skus[LINES_MAX], qtys[LINES_MAX], n;
	switch (bench_opt.wl) {
	case WL_FLASH:
		send_flash(c, t, measured);
		break;
	case WL_CHECKOUT:
		if (c->fu_count) {
			followup f = conn_followup_pop(c);
			rpc_finish(c, f.kind, f.id, f.len, t, measured);
		} else {
			n = draw_order(c, skus, qtys);
			rpc_reserve_lines(c, 'c', SKU_PREFIX, skus, qtys, n, CHECKOUT_TTL_MS, t, measured);
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
		lua_send_one(c, t, measured);
		break;
	case WL_REDIS_LUA_LINES:
		n = draw_order(c, skus, qtys);
		lua_send_lines(c, skus, qtys, n, t, measured);
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
	if (wl_has_verdict()) {
		w->attempts++;
		if (!r->code) {
			w->successes++;
			w->units += f->units;
		} else if (oos) {
			w->oos++;
		} else {
			w->other++;
		}
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

/* The Lua scripts answer 0 for "out of stock", not an error: say so in r. */
static void lua_reply_code(const inflight *f, reply *r)
{
	if (f->kind != K_LUA || r->code)
		return;
	if (r->rtype != ':' || (r->rint != 0 && r->rint != 1)) {
		r->code = "UNEXPECTED_REPLY";
		r->code_len = 16;
	} else if (r->rint == 0) {
		r->code = ALLOT_ERR_OUT_OF_STOCK;
		r->code_len = (uint32_t)strlen(ALLOT_ERR_OUT_OF_STOCK);
	}
}

static void on_timed_reply(conn *c, const inflight *f, reply *r, uint64_t now)
{
	worker *w = c->w;
	w->inflight--;
	lua_reply_code(f, r);
	if (w->phase == PH_WARM) {
		count_outcome(c, f, r);
		storm_warm_next(c, now);
		return;
	}
	if (w->phase != PH_RUN || w->run_over)
		return; /* a straggler after the run was given up */

	if (f->measured) {
		hist_record(&w->h, now > f->t ? now - f->t : 0);
		w->replies++;
		w->reserves += f->kind == K_RESERVE || f->kind == K_LUA;
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
		if (!lua_loaded(w, r))
			w->setup_errors++;
		c->setup_inflight--;
		wl_setup_pump(c);
		break;
	case K_PROBE:
		on_probe_reply(c, r);
		break;
	case K_AUTH:
		if (r->code) {
			char why[256];
			snprintf(why, sizeof why, "auth refused: %.*s: %.*s", (int)r->code_len, r->code,
			    (int)r->msg_len, r->msg ? r->msg : "");
			conn_fail(c, why);
		}
		break;
	default:
		break;
	}
}
