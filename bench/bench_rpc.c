/*
 * bench_rpc.c - allot-bench's side of allotd's MessagePack-RPC: the
 * requests the workloads send, written with proto/mp.h's writer, and the
 * replies, framed with its resumable reader and read in place with a
 * cursor.
 *
 * Each connection keeps one mp_reader: when a reply arrives in pieces, the
 * next read goes on from where the reader stopped instead of walking the
 * reply again from its first byte.
 */
#include "bench.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Replies are allotd's: bounded, but as large as a big stock.get. */
static const mp_limits REPLY_LIMITS = {
	.frame_bytes_max = IN_MAX,
	.depth_max = 32,
	.array_max = 1u << 24,
	.map_max = 1u << 24,
	.str_max = 16u << 20,
};

void rpc_reader_init(mp_reader *r)
{
	mp_reader_init(r, &REPLY_LIMITS);
}

/* ------------------------------------------------------------------------
 * Requests
 * --------------------------------------------------------------------- */

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
	conn_track(c, kind, id, t, measured);
}

void rpc_auth(conn *c, const char *token)
{
	assert(token != NULL && !bench_opt.redis);
	rpc_begin(c, "auth", 1, K_AUTH, 0, false);
	mp_write_lit(&c->out, "token");
	mp_write_cstr(&c->out, token);
}

/* prefix + decimal i as a MessagePack str. */
static void write_name(mp_buf *b, const char *prefix, uint64_t i)
{
	char s[64];
	size_t pl = strlen(prefix);
	assert(pl + 20 <= sizeof s);
	memcpy(s, prefix, pl);
	mp_write_str(b, s, pl + bench_u64dec(s + pl, i));
}

/* "<p>-<gid>-<n>" as a MessagePack str: the next order id of c. */
static void write_order_id(conn *c, char p)
{
	char s[48];
	size_t l = 0;
	s[l++] = p;
	s[l++] = '-';
	l += bench_u64dec(s + l, c->gid);
	s[l++] = '-';
	l += bench_u64dec(s + l, c->seq++);
	mp_write_str(&c->out, s, l);
}

/* stock.set of "<sku_prefix><sku>" at "L<loc>". */
void rpc_stock_set(conn *c, const char *sku_prefix, uint64_t sku, uint32_t loc, int64_t on_hand)
{
	mp_buf *b = &c->out;
	rpc_begin(c, "stock.set", 3, K_SETUP, 0, false);
	mp_write_cstr(b, "sku");
	write_name(b, sku_prefix, sku);
	mp_write_cstr(b, "location");
	write_name(b, "L", loc);
	mp_write_cstr(b, "on_hand");
	mp_write_int(b, on_hand);
}

/* location.put of "L<loc>" with coordinates, a priority and costs, so that
 * every strategy has something to rank. */
void rpc_location_put(conn *c, uint32_t loc, const bench_geo *g)
{
	mp_buf *b = &c->out;
	rpc_begin(c, "location.put", 6, K_SETUP, 0, false);
	mp_write_cstr(b, "location");
	write_name(b, "L", loc);
	mp_write_cstr(b, "lat");
	mp_write_double(b, g->lat);
	mp_write_cstr(b, "lon");
	mp_write_double(b, g->lon);
	mp_write_cstr(b, "priority");
	mp_write_int(b, g->priority);
	mp_write_cstr(b, "cost");
	mp_write_uint(b, g->cost);
	mp_write_cstr(b, "cost_per_km");
	mp_write_double(b, GEO_COST_PER_KM);
}

/* stock.get of "<sku_prefix><sku>", a probe. */
void rpc_stock_get(conn *c, const char *sku_prefix, uint64_t sku)
{
	mp_buf *b = &c->out;
	rpc_begin(c, "stock.get", 1, K_PROBE, 0, false);
	mp_write_cstr(b, "sku");
	write_name(b, sku_prefix, sku);
}

/* The routing params every reserve carries: 0, 1 or 2 pairs. */
static uint32_t routing_pairs(void)
{
	return (bench_opt.strategy != NULL) + (bench_opt.ship_to != SHIP_NONE);
}

/* strategy and ship_to, as the options say; a random ship_to is drawn
 * for each order, uniformly in the box the locations stand in. */
static void write_routing(conn *c)
{
	mp_buf *b = &c->out;
	if (bench_opt.strategy) {
		mp_write_cstr(b, "strategy");
		mp_write_cstr(b, bench_opt.strategy);
	}
	if (bench_opt.ship_to == SHIP_NONE)
		return;
	double lat = bench_opt.ship_lat, lon = bench_opt.ship_lon;
	if (bench_opt.ship_to == SHIP_RANDOM) {
		lat = bench_rng_between(&c->rng, GEO_LAT_MIN, GEO_LAT_MAX);
		lon = bench_rng_between(&c->rng, GEO_LON_MIN, GEO_LON_MAX);
	}
	assert(lat >= -90.0 && lat <= 90.0 && lon >= -180.0 && lon <= 180.0);
	mp_write_cstr(b, "ship_to");
	mp_write_map(b, 2);
	mp_write_cstr(b, "lat");
	mp_write_double(b, lat);
	mp_write_cstr(b, "lon");
	mp_write_double(b, lon);
}

/* reserve: one line of 1 unit of "<sku_prefix><sku>", held for ttl_ms,
 * under the order id "<id_prefix>-<gid>-<n>". */
void rpc_reserve_one(conn *c, char id_prefix, const char *sku_prefix, uint64_t sku, uint64_t ttl_ms,
    uint64_t t, bool measured)
{
	mp_buf *b = &c->out;
	rpc_begin(c, "reserve", 3 + routing_pairs(), K_RESERVE, t, measured);
	mp_write_cstr(b, "order_id");
	write_order_id(c, id_prefix);
	mp_write_cstr(b, "lines");
	mp_write_array(b, 1);
	mp_write_map(b, 2);
	mp_write_cstr(b, "sku");
	write_name(b, sku_prefix, sku);
	mp_write_cstr(b, "qty");
	mp_write_uint(b, 1);
	mp_write_cstr(b, "ttl_ms");
	mp_write_uint(b, ttl_ms);
	write_routing(c);
}

/* reserve: n lines, qtys[i] of "<sku_prefix><skus[i]>", all or nothing. */
void rpc_reserve_lines(conn *c, char id_prefix, const char *sku_prefix, const uint32_t *skus,
    const uint32_t *qtys, uint32_t n, uint64_t ttl_ms, uint64_t t, bool measured)
{
	mp_buf *b = &c->out;
	assert(n >= 1 && n <= LINES_MAX);
	rpc_begin(c, "reserve", 3 + routing_pairs(), K_RESERVE, t, measured);
	mp_write_cstr(b, "order_id");
	write_order_id(c, id_prefix);
	mp_write_cstr(b, "lines");
	mp_write_array(b, n);
	for (uint32_t i = 0; i < n; i++) {
		mp_write_map(b, 2);
		mp_write_cstr(b, "sku");
		write_name(b, sku_prefix, skus[i]);
		mp_write_cstr(b, "qty");
		mp_write_uint(b, qtys[i]);
	}
	mp_write_cstr(b, "ttl_ms");
	mp_write_uint(b, ttl_ms);
	write_routing(c);
}

/* commit (kind K_COMMIT) or release (K_RELEASE) of a reservation. */
void rpc_finish(conn *c, uint8_t kind, const char *id, uint32_t len, uint64_t t, bool measured)
{
	mp_buf *b = &c->out;
	assert(kind == K_COMMIT || kind == K_RELEASE);
	rpc_begin(c, kind == K_COMMIT ? "commit" : "release", 1, kind, t, measured);
	mp_write_cstr(b, "reservation_id");
	mp_write_str(b, id, len);
}

/* avail of "sku-<skus[i]>" for i < n. */
void rpc_avail(conn *c, const uint32_t *skus, uint32_t n, uint64_t t, bool measured)
{
	mp_buf *b = &c->out;
	rpc_begin(c, "avail", 1, K_AVAIL, t, measured);
	mp_write_cstr(b, "skus");
	mp_write_array(b, n);
	for (uint32_t i = 0; i < n; i++)
		write_name(b, "sku-", skus[i]);
}

/* ------------------------------------------------------------------------
 * Replies
 * --------------------------------------------------------------------- */

/* Sum a stock.get result (the records of one sku) into v. */
void rpc_parse_stock_get(mp_cursor *cur, stock_view *v)
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
			int64_t *dst = bench_str_is(k, kl, "on_hand") ? &v->on_hand :
			    bench_str_is(k, kl, "reserved") ? &v->reserved :
			    bench_str_is(k, kl, "committed") ? &v->committed :
			    bench_str_is(k, kl, "available") ? &v->available : NULL;
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
const char *rpc_find_reservation_id(mp_cursor *cur, uint32_t *len)
{
	uint32_t m;
	if (!mp_read_map(cur, &m))
		return NULL;
	for (uint32_t i = 0; i < m; i++) {
		const char *k, *v;
		uint32_t kl, vl;
		if (!mp_read_str(cur, &k, &kl))
			return NULL;
		if (bench_str_is(k, kl, "reservation_id")) {
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

/* The error map of a response, or nil: its code and message into r. False
 * when it is neither a map nor nil. */
static bool read_error(mp_cursor *cur, reply *r)
{
	if (mp_peek(cur) == MP_T_NIL)
		return mp_read_nil(cur);
	uint32_t m;
	if (!mp_read_map(cur, &m))
		return false;
	for (uint32_t i = 0; i < m; i++) {
		const char *k;
		uint32_t kl;
		bool got = false;
		if (mp_read_str(cur, &k, &kl)) {
			if (bench_str_is(k, kl, "code"))
				got = mp_read_str(cur, &r->code, &r->code_len);
			else if (bench_str_is(k, kl, "message"))
				got = mp_read_str(cur, &r->msg, &r->msg_len);
		} else if (!mp_skip(cur)) {
			break;
		}
		if (!got && !mp_skip(cur))
			break;
	}
	if (!r->code) {
		r->code = "ERROR";
		r->code_len = 5;
	}
	return true;
}

/* Match the response r (to msgid) with the oldest request in flight on c
 * and hand it to the workload. Returns 1, or -1 when c failed. */
static int deliver(conn *c, uint64_t msgid, reply *r, uint64_t now)
{
	if (c->fl_count == 0) {
		char why[256];
		snprintf(why, sizeof why, "unsolicited reply (msgid %" PRIu64 "): %.*s: %.*s",
		    msgid, (int)r->code_len, r->code ? r->code : "", (int)r->msg_len,
		    r->msg ? r->msg : "");
		conn_fail(c, why);
		return -1;
	}
	inflight f = conn_pop(c);
	if (f.msgid != msgid) {
		if (K_TIMED(f.kind)) {
			c->w->inflight--;
			c->w->no_reply++;
		}
		conn_fail(c, "reply out of order");
		return -1;
	}
	wl_on_reply(c, &f, r, now);
	return c->dead ? -1 : 1;
}

/*
 * One MessagePack-RPC message at p, the front of c's unread input (the same
 * bytes as last time plus any new ones, while c->reader is in the middle of
 * a message): 1 and *used when whole, 0 when more bytes are needed, -1
 * (connection failed) when broken.
 */
int rpc_take(conn *c, const uint8_t *p, size_t len, size_t *used, uint64_t now)
{
	const char *why = NULL;
	int rc = mp_reader_next(&c->reader, p, len, used, &why);
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
	if (!read_error(&cur, &r)) {
		conn_fail(c, "an error that is not a map");
		return -1;
	}
	r.result = cur;
	return deliver(c, msgid, &r, now);
}
