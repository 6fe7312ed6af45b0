/*
 * bench_lua.c - the Redis side of the comparison: the Lua scripts that
 * teams use today for a checkout hold, loaded once per worker with SCRIPT
 * LOAD and called with EVALSHA.
 *
 *   redis-lua        one line: check the stock key, DECRBY it, SET a hold
 *                    key with EX (the flash sale)
 *   redis-lua-lines  n lines, all or nothing: check every line's stock key
 *                    first, then DECRBY each and SET one hold key with EX
 *                    naming what it holds (what a release would give back)
 *
 * Both answer 1 (held) or 0 (out of stock). The requests are written by
 * hand into the connection's buffer: the fixed part once per worker, the
 * keys and quantities per request.
 */
#include "bench.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

static const char LUA_ONE[] =
    "local s = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
    "local q = tonumber(ARGV[1])\n"
    "if s < q then return 0 end\n"
    "redis.call('DECRBY', KEYS[1], q)\n"
    "redis.call('SET', KEYS[2], q, 'EX', tonumber(ARGV[2]))\n"
    "return 1\n";

/* KEYS: the n stock keys, then the hold key; ARGV: the n quantities, then
 * the hold's TTL in seconds. */
static const char LUA_LINES[] =
    "local n = #KEYS - 1\n"
    "for i = 1, n do\n"
    "  if tonumber(redis.call('GET', KEYS[i]) or '0') < tonumber(ARGV[i]) then return 0 end\n"
    "end\n"
    "local held = {}\n"
    "for i = 1, n do\n"
    "  redis.call('DECRBY', KEYS[i], ARGV[i])\n"
    "  held[i] = KEYS[i] .. '=' .. ARGV[i]\n"
    "end\n"
    "redis.call('SET', KEYS[n + 1], table.concat(held, ' '), 'EX', tonumber(ARGV[n + 1]))\n"
    "return 1\n";

_Static_assert(FLASH_TTL_MS % 1000 == 0 && CHECKOUT_TTL_MS % 1000 == 0,
    "Redis's EX takes whole seconds");

/* c (the worker's lead) just connected: load the workload's script. */
void lua_connected(conn *c)
{
	if (bench_opt.wl == WL_REDIS_LUA)
		resp_script_load(c, LUA_ONE, sizeof LUA_ONE - 1);
	else
		resp_script_load(c, LUA_LINES, sizeof LUA_LINES - 1);
	c->setup_inflight++;
}

/* The reply to SCRIPT LOAD: keep the sha and build the fixed part of every
 * EVALSHA. False, with the reason in w->setup_err, when it failed. */
bool lua_loaded(worker *w, const reply *r)
{
	if (r->code || r->rtype != '$' || r->rnull || r->rstr_len != 40) {
		snprintf(w->setup_err, sizeof w->setup_err, "SCRIPT LOAD failed: %.*s",
		    (int)(r->code ? r->msg_len : 0), r->code ? r->msg : "");
		return false;
	}
	memcpy(w->sha, r->rstr, 40);
	w->sha[40] = '\0';
	int n;
	if (bench_opt.wl == WL_REDIS_LUA) {
		/* EVALSHA sha 2 stock:flash-0 hold:<conn>-<n> 1 3600 */
		n = snprintf(w->lua_prefix, sizeof w->lua_prefix,
		    "*7\r\n$7\r\nEVALSHA\r\n$40\r\n%s\r\n$1\r\n2\r\n$%zu\r\n%s\r\n",
		    w->sha, strlen(REDIS_STOCK_KEY), REDIS_STOCK_KEY);
	} else {
		/* the array's length and numkeys depend on the order's lines */
		n = snprintf(w->lua_prefix, sizeof w->lua_prefix, "$7\r\nEVALSHA\r\n$40\r\n%s\r\n", w->sha);
	}
	assert(n > 0 && (size_t)n < sizeof w->lua_prefix);
	w->lua_prefix_len = (size_t)n;
	return true;
}

/* "hold:<gid>-<n>", the next hold key of c, into key; returns its length. */
static size_t hold_key(conn *c, char key[48])
{
	size_t l = 5;
	memcpy(key, "hold:", 5);
	l += bench_u64dec(key + l, c->gid);
	key[l++] = '-';
	l += bench_u64dec(key + l, c->seq++);
	return l;
}

/* redis-lua: one unit of the flash stock key. */
void lua_send_one(conn *c, uint64_t t, bool measured)
{
	static const char suffix[] = "$1\r\n1\r\n$4\r\n3600\r\n";
	_Static_assert(FLASH_TTL_MS == 3600 * 1000, "the suffix says 3600 s");
	char key[48];
	size_t l = hold_key(c, key);
	assert(c->w->lua_prefix_len > 0);
	mp_write_raw(&c->out, c->w->lua_prefix, c->w->lua_prefix_len);
	resp_write_bulk(&c->out, key, l);
	mp_write_raw(&c->out, suffix, sizeof suffix - 1);
	conn_track(c, K_LUA, 0, t, measured)->units = 1;
}

/* redis-lua-lines: qtys[i] of "stock:sku-<skus[i]>" for i < n, all or
 * nothing, held under one hold key for the checkout's TTL. */
void lua_send_lines(conn *c, const uint32_t *skus, const uint32_t *qtys, uint32_t n,
    uint64_t t, bool measured)
{
	static const char prefix[] = REDIS_SKU_KEY_PREFIX;
	char key[48], num[24];
	uint32_t units = 0;
	assert(n >= 1 && n <= LINES_MAX && c->w->lua_prefix_len > 0);
	/* EVALSHA sha numkeys key*n hold qty*n ttl */
	resp_write_array(&c->out, 2 * (size_t)n + 5);
	mp_write_raw(&c->out, c->w->lua_prefix, c->w->lua_prefix_len);
	resp_write_bulk(&c->out, num, bench_u64dec(num, (uint64_t)n + 1));
	memcpy(key, prefix, sizeof prefix - 1);
	for (uint32_t i = 0; i < n; i++)
		resp_write_bulk(&c->out, key, sizeof prefix - 1 + bench_u64dec(key + sizeof prefix - 1, skus[i]));
	resp_write_bulk(&c->out, key, hold_key(c, key));
	for (uint32_t i = 0; i < n; i++) {
		resp_write_bulk(&c->out, num, bench_u64dec(num, qtys[i]));
		units += qtys[i];
	}
	resp_write_bulk(&c->out, num, bench_u64dec(num, CHECKOUT_TTL_MS / 1000));
	assert(units <= UINT16_MAX);
	conn_track(c, K_LUA, 0, t, measured)->units = (uint16_t)units;
}
