/*
 * test_durability.c - allotd with its journal and snapshots in a real Redis
 * (redis_harness.h): state survives a clean restart, a kill -9, a snapshot
 * followed by more changes, and holds expire while allotd is down; when
 * Redis goes away mutations answer UNAVAILABLE and reads go on, and when it
 * comes back nothing acknowledged is missing (also when Redis is killed,
 * or stops answering); async mode; namespaces and the database of the URL;
 * forgetting (--retain-ms, --reservations-max) across restarts; a second
 * allotd on a namespace; bad flags and an unreachable Redis stop allotd at
 * start with a message; without Redis, a warning.
 *
 * Each test has its own redis-server and allotd. "Exact" means every
 * stock.get record, the avail answer, every reservation.get answer and the
 * stats counters that describe state compare equal as JSON.
 */
#include <criterion/criterion.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "allot/client.h"
#include "allot/protocol.h"
#include "harness.h"
#include "redis_harness.h"

#define TEST_TIMEOUT_MS 10000
#define TTL_LONG_MS 600000

/* How long allotd may take to see that Redis is gone, and to use it again
 * once it is back (it reconnects with backoff). */
#define REDIS_LOSS_NOTICED_MS 5000
/* ... or that it no longer answers while its connection stays open. */
#define REDIS_SILENCE_NOTICED_MS 12000
#define REDIS_BACK_MS 15000
/* Once allotd knows Redis is gone, the longest a refused mutation may take. */
#define UNAVAILABLE_REPLY_MS 1000
/* The longest allotd may take to give up on a Redis that refuses it. */
#define REFUSED_EXIT_MS 10000

static redis_server *rs;
static harness_server *srv;
static allot_client *cli;
static const char *cur_ns;
static const char *const *cur_args;

/* ---- values kept until the test ends ---- */

static json_t **kept;
static size_t kept_len, kept_cap;

static json_t *keep(json_t *v)
{
	if (v == NULL)
		return NULL;
	if (kept_len == kept_cap) {
		size_t cap = kept_cap ? kept_cap * 2 : 64;
		json_t **n = realloc(kept, cap * sizeof(*n));
		cr_assert_not_null(n, "out of memory");
		kept = n;
		kept_cap = cap;
	}
	kept[kept_len++] = v;
	return v;
}

static void free_kept(void)
{
	for (size_t i = 0; i < kept_len; i++)
		json_decref(kept[i]);
	free(kept);
	kept = NULL;
	kept_len = kept_cap = 0;
}

/* The compact JSON text of v, kept until the test ends. */
static const char *text_of(json_t *v)
{
	if (v == NULL)
		return "(none)";
	char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	cr_assert_not_null(t, "out of memory");
	json_t *s = keep(json_string(t));
	free(t);
	cr_assert_not_null(s, "out of memory");
	return json_string_value(s);
}

/* A copy of s (NULL reads as ""), kept until the test ends. */
static const char *kept_text(const char *s)
{
	json_t *v = keep(json_string_nocheck(s != NULL ? s : ""));
	cr_assert_not_null(v, "out of memory");
	return json_string_value(v);
}

/* ---- servers ---- */

static void start_redis(void)
{
	char err[1024];
	rs = redis_server_start(err, sizeof(err));
	cr_assert_not_null(rs, "cannot start redis-server: %s", err);
}

static void suite_setup(void)
{
	start_redis();
}

static void suite_teardown(void)
{
	allot_client_destroy(cli);
	cli = NULL;
	allotd_kill(srv);
	srv = NULL;
	redis_server_destroy(rs);
	rs = NULL;
	free_kept();
}

TestSuite(durability, .init = suite_setup, .fini = suite_teardown,
    .timeout = 120);

static void connect_cli(void)
{
	char err[512];
	cli = harness_client(srv, TEST_TIMEOUT_MS, err, sizeof(err));
	cr_assert_not_null(cli, "cannot connect to allotd: %s", err);
}

/* Start allotd on rs with namespace ns and extra args (kept for restarts). */
static void up(const char *ns, const char *const *args)
{
	char err[1024];
	cur_ns = ns;
	cur_args = args;
	srv = allotd_start_durable(rs, ns, args, err, sizeof(err));
	cr_assert_not_null(srv, "cannot start allotd on %s (namespace %s): %s",
	    rs->url, ns, err);
	connect_cli();
}

/* SIGTERM: allotd must exit 0 having written everything it owes. */
static void down_clean(void)
{
	allot_client_destroy(cli);
	cli = NULL;
	int status = harness_server_stop(srv);
	srv = NULL;
	cr_assert_eq(status, 0, "allotd exited with status %d on SIGTERM",
	    status);
}

static void down_hard(void)
{
	allot_client_destroy(cli);
	cli = NULL;
	int status = allotd_kill(srv);
	srv = NULL;
	cr_assert_eq(status, 128 + 9, "allotd was not killed by SIGKILL "
	    "(status %d)", status);
}

/* Restart allotd with the same namespace and args. */
static void bounce(bool hard)
{
	if (hard)
		down_hard();
	else
		down_clean();
	up(cur_ns, cur_args);
}

/* ---- calls ---- */

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
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

/*
 * Call method on c with params (stolen; NULL for none). Returns the client
 * status; *error and *result are kept.
 */
static int call_raw(allot_client *c, const char *method, json_t *params,
    json_t **error, json_t **result, char *err, size_t err_len)
{
	*error = *result = NULL;
	int rc = allot_client_call_params(c, method, params, error, result, err,
	    err_len);
	json_decref(params);
	keep(*error);
	keep(*result);
	return rc;
}

static json_t *ok_on(allot_client *c, const char *method, json_t *params)
{
	char err[512];
	const char *text = params != NULL ? text_of(params) : "";
	json_t *error, *result;
	int rc = call_raw(c, method, params, &error, &result, err, sizeof(err));
	cr_assert_eq(rc, 0, "%s %s: call failed: %s", method, text, err);
	if (error != NULL)
		cr_assert_fail("%s %s answered the error %s", method, text,
		    text_of(error));
	return result;
}

static json_t *ok(const char *method, json_t *params)
{
	return ok_on(cli, method, params);
}

static const char *code_of(json_t *error)
{
	const char *code = json_string_value(json_object_get(error, "code"));
	return code != NULL ? code : "(no code)";
}

/* The error of a call that must fail with code, with a message. */
static json_t *fail_with(const char *method, json_t *params, const char *code)
{
	char err[512];
	const char *text = params != NULL ? text_of(params) : "";
	json_t *error, *result;
	int rc = call_raw(cli, method, params, &error, &result, err,
	    sizeof(err));
	cr_assert_eq(rc, 0, "%s %s: call failed: %s", method, text, err);
	if (error == NULL)
		cr_assert_fail("%s %s succeeded (%s), expected %s", method, text,
		    text_of(result), code);
	cr_assert_str_eq(code_of(error), code, "%s %s: answered %s, expected %s",
	    method, text, text_of(error), code);
	const char *msg = json_string_value(json_object_get(error, "message"));
	cr_assert(msg != NULL && msg[0] != '\0', "%s: %s without a message",
	    method, code);
	return error;
}

static json_t *get(json_t *o, const char *key)
{
	cr_assert(json_is_object(o), "looking up \"%s\" in %s", key, text_of(o));
	json_t *v = json_object_get(o, key);
	if (v == NULL)
		cr_assert_fail("no \"%s\" in %s", key, text_of(o));
	return v;
}

static json_int_t geti(json_t *o, const char *key)
{
	json_t *v = get(o, key);
	cr_assert(json_is_integer(v), "\"%s\" is not an integer in %s", key,
	    text_of(o));
	return json_integer_value(v);
}

static const char *gets(json_t *o, const char *key)
{
	json_t *v = get(o, key);
	cr_assert(json_is_string(v), "\"%s\" is not a string in %s", key,
	    text_of(o));
	return json_string_value(v);
}

static json_t *set_stock(const char *sku, const char *loc, int on_hand)
{
	return ok("stock.set", json_pack("{s:s, s:s, s:i}", "sku", sku,
	    "location", loc, "on_hand", on_hand));
}

static json_t *record(const char *sku, const char *loc)
{
	json_t *recs = ok("stock.get", json_pack("{s:s, s:s}", "sku", sku,
	    "location", loc));
	cr_assert(json_is_array(recs) && json_array_size(recs) == 1,
	    "stock.get %s@%s: %s", sku, loc, text_of(recs));
	return json_array_get(recs, 0);
}

static json_t *reserve1(const char *order, const char *sku, int qty,
    int ttl_ms)
{
	return ok("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i}",
	    "order_id", order, "lines", "sku", sku, "qty", qty,
	    "ttl_ms", ttl_ms));
}

static json_t *reserve2(const char *order, const char *sku1, int qty1,
    const char *sku2, int qty2)
{
	return ok("reserve", json_pack("{s:s, s:[{s:s, s:i}, {s:s, s:i}], s:i}",
	    "order_id", order, "lines", "sku", sku1, "qty", qty1, "sku", sku2,
	    "qty", qty2, "ttl_ms", TTL_LONG_MS));
}

static const char *id_of(json_t *res)
{
	return gets(res, "reservation_id");
}

static json_t *by_id(const char *method, json_t *res)
{
	return ok(method, json_pack("{s:s}", "reservation_id", id_of(res)));
}

/* release or fulfill of qty units of one line. */
static json_t *part(const char *method, json_t *res, const char *sku, int qty)
{
	return ok(method, json_pack("{s:s, s:[{s:s, s:i}]}", "reservation_id",
	    id_of(res), "lines", "sku", sku, "qty", qty));
}

static json_t *resv_get(const char *id)
{
	return ok("reservation.get", json_pack("{s:s}", "reservation_id", id));
}

/* reservation.get: the reservation, or {"error": code} when it fails. */
static json_t *resv_read(const char *id)
{
	char err[512];
	json_t *error, *result;
	int rc = call_raw(cli, "reservation.get", json_pack("{s:s}",
	    "reservation_id", id), &error, &result, err, sizeof(err));
	cr_assert_eq(rc, 0, "reservation.get %s: %s", id, err);
	if (error == NULL)
		return result;
	return keep(json_pack("{s:s}", "error", code_of(error)));
}

/* durability.mode from stats, or NULL when stats has none. */
static const char *durability_mode(void)
{
	json_t *st = ok("stats", NULL);
	json_t *d = json_object_get(st, "durability");
	if (!json_is_object(d))
		return NULL;
	return json_string_value(json_object_get(d, "mode"));
}

/* stats durability (documented with --redis), kept. */
static json_t *durability_stats(void)
{
	json_t *st = ok("stats", NULL);
	json_t *d = get(st, "durability");
	cr_assert(json_is_object(d), "stats durability is %s", text_of(d));
	return d;
}

/* In sync mode, once every reply has come, Redis has every record. */
static void expect_all_acknowledged(void)
{
	json_t *d = durability_stats();
	json_t *j = get(d, "journal");
	cr_assert_eq(geti(j, "acked_lsn"), geti(j, "lsn"), "with every reply "
	    "received, stats durability.journal is %s", text_of(j));
	cr_assert_eq(geti(j, "pending_items"), 0, "with every reply received, "
	    "stats durability.journal is %s", text_of(j));
	cr_assert(json_is_true(get(d, "available")), "stats durability: %s",
	    text_of(d));
}

static void expect_mode(const char *want)
{
	const char *mode = durability_mode();
	if (mode != NULL)
		cr_assert_str_eq(mode, want, "stats durability.mode is %s, "
		    "expected %s", mode, want);
}

/* ---- the state, read back whole ---- */

/* What a test has created: skus and reservation ids. */
typedef struct tracked {
	const char *skus[16];
	size_t nskus;
	const char *ids[64];
	size_t nids;
} tracked;

static void track_sku(tracked *t, const char *sku)
{
	cr_assert_lt(t->nskus, sizeof(t->skus) / sizeof(t->skus[0]));
	t->skus[t->nskus++] = sku;
}

/* Remember a reservation (the id stays alive with the kept reply). */
static json_t *track(tracked *t, json_t *res)
{
	cr_assert_lt(t->nids, sizeof(t->ids) / sizeof(t->ids[0]));
	t->ids[t->nids++] = id_of(res);
	return res;
}

static const char *const state_stats[] = { "skus", "locations", "records",
	"reservations", "units_reserved", "units_committed",
	"idempotency_keys" };

/*
 * Everything readable about t: stock.get of every sku, avail of all of
 * them, reservation.get of every id, and (with_stats) the stats counters
 * that describe state.
 */
static json_t *capture(const tracked *t, bool with_stats)
{
	json_t *state = keep(json_object());
	json_t *stock = json_object(), *resv = json_object();
	json_t *skus = json_array();
	for (size_t i = 0; i < t->nskus; i++) {
		json_object_set(stock, t->skus[i], ok("stock.get",
		    json_pack("{s:s}", "sku", t->skus[i])));
		json_array_append_new(skus, json_string(t->skus[i]));
	}
	json_object_set_new(state, "stock", stock);
	json_object_set(state, "avail", ok("avail",
	    json_pack("{s:o}", "skus", skus)));
	for (size_t i = 0; i < t->nids; i++)
		json_object_set(resv, t->ids[i], resv_read(t->ids[i]));
	json_object_set_new(state, "reservations", resv);
	json_object_set(state, "locations", ok("location.list", NULL));
	if (with_stats) {
		json_t *st = ok("stats", NULL);
		json_t *sub = json_object();
		for (size_t i = 0; i < sizeof(state_stats) / sizeof(*state_stats);
		     i++)
			json_object_set(sub, state_stats[i],
			    get(st, state_stats[i]));
		json_object_set_new(state, "stats", sub);
	}
	return state;
}

/* The path of the first difference between a and b, in buf. */
static bool first_difference(json_t *a, json_t *b, char *buf, size_t len,
    size_t at)
{
	if (json_equal(a, b))
		return false;
	if (json_is_object(a) && json_is_object(b)) {
		const char *key;
		json_t *va;
		json_object_foreach(a, key, va) {
			json_t *vb = json_object_get(b, key);
			int n = snprintf(buf + at, len - at, ".%s", key);
			size_t next = at + (n > 0 ? (size_t)n : 0);
			if (next >= len)
				next = len - 1;
			if (vb == NULL) {
				snprintf(buf + next, len - next, " is missing after");
				return true;
			}
			if (first_difference(va, vb, buf, len, next))
				return true;
		}
		snprintf(buf + at, len - at, " has keys only after: %s",
		    text_of(b));
		return true;
	}
	if (json_is_array(a) && json_is_array(b) &&
	    json_array_size(a) == json_array_size(b)) {
		for (size_t i = 0; i < json_array_size(a); i++) {
			int n = snprintf(buf + at, len - at, "[%zu]", i);
			size_t next = at + (n > 0 ? (size_t)n : 0);
			if (next >= len)
				next = len - 1;
			if (first_difference(json_array_get(a, i),
			        json_array_get(b, i), buf, len, next))
				return true;
		}
	}
	snprintf(buf + at, len - at, ": %s before, %s after", text_of(a),
	    text_of(b));
	return true;
}

static void expect_same_state(json_t *before, json_t *after, const char *when)
{
	char path[2048] = "";
	if (first_difference(before, after, path, sizeof(path), 0))
		cr_assert_fail("the state differs after %s at %s\nbefore: %s\n"
		    "after:  %s", when, path, text_of(before), text_of(after));
}

/*
 * A mix of every mutation over a few skus and locations; the skus are
 * named with prefix so that calls can add to the same state.
 */
static void build_state(tracked *t, const char *prefix, json_t **adjust_reply,
    json_t **reserve_reply)
{
	static char names[8][5][64];
	static int used;
	char (*n)[64] = names[used++ % 8];
	snprintf(n[0], 64, "%s-A", prefix);
	snprintf(n[1], 64, "%s-B", prefix);
	snprintf(n[2], 64, "%s-C", prefix);
	const char *A = n[0], *B = n[1], *C = n[2];
	track_sku(t, A);
	track_sku(t, B);
	track_sku(t, C);
	char order[96], key[96];

	set_stock(A, "W1", 10);
	set_stock(A, "W2", 5);
	ok("stock.set", json_pack("{s:s, s:s, s:i, s:i}", "sku", B,
	    "location", "W1", "on_hand", 20, "safety", 2));
	set_stock(C, "W2", 7);
	snprintf(key, sizeof(key), "%s-adj-1", prefix);
	json_t *adj = ok("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}",
	    "sku", A, "location", "W1", "delta", 3, "idempotency_key", key));
	if (adjust_reply != NULL)
		*adjust_reply = adj;
	ok("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}", "sku", B,
	    "location", "W1", "delta", -4, "reason", "damaged"));
	ok("restock", json_pack("{s:s, s:s, s:i, s:s}", "sku", C, "location",
	    "W2", "qty", 2, "reason", "returned"));
	/* routing: attributes, a channel, a per-customer limit */
	ok("location.put", json_pack("{s:s, s:f, s:f, s:i, s:[s]}", "location", "W1",
	    "lat", 52.52, "lon", 13.405, "capacity", 1000, "tags", "dc"));
	ok("channel.put", json_pack("{s:s, s:b}", "channel", "web", "all_locations", 1));
	ok("channel.put", json_pack("{s:s, s:[s], s:i}", "channel", "market", "locations", "W2",
	    "buffer", 1));
	ok("sku.put", json_pack("{s:s, s:i, s:i}", "sku", B, "per_order", 1000, "low_stock", 2));
	char *limited = n[3];
	snprintf(limited, 64, "%s-D", prefix);
	track_sku(t, limited);
	set_stock(limited, "W2", 5);
	ok("sku.put", json_pack("{s:s, s:i}", "sku", limited, "per_customer", 3));
	snprintf(order, sizeof(order), "%s-o0", prefix);
	track(t, ok("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i, s:s, s:s}", "order_id", order,
	    "lines", "sku", limited, "qty", 2, "ttl_ms", TTL_LONG_MS, "customer_id", "c-1",
	    "channel", "market")));
	/* a backorder against inbound stock */
	char *pre = n[4];
	snprintf(pre, 64, "%s-E", prefix);
	track_sku(t, pre);
	set_stock(pre, "W1", 1);
	ok("inbound.add", json_pack("{s:s, s:s, s:i, s:I, s:s}", "sku", pre, "location", "W1", "qty", 5,
	    "eta", (json_int_t)1900000000000LL, "ref", "po-1"));
	snprintf(order, sizeof(order), "%s-o00", prefix);
	track(t, ok("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i, s:b}", "order_id", order,
	    "lines", "sku", pre, "qty", 3, "ttl_ms", TTL_LONG_MS, "allow_backorder", 1)));

	/* held, with an idempotency key */
	snprintf(order, sizeof(order), "%s-o1", prefix);
	snprintf(key, sizeof(key), "%s-res-1", prefix);
	json_t *r1 = track(t, ok("reserve", json_pack(
	    "{s:s, s:[{s:s, s:i}], s:i, s:s, s:s, s:s}", "order_id", order,
	    "lines", "sku", A, "qty", 4, "ttl_ms", TTL_LONG_MS,
	    "idempotency_key", key, "channel", "web", "customer_id", "c-1")));
	if (reserve_reply != NULL)
		*reserve_reply = r1;
	/* committed, across two skus (and two locations of A) */
	snprintf(order, sizeof(order), "%s-o2", prefix);
	json_t *r2 = track(t, reserve2(order, A, 10, B, 3));
	by_id("commit", r2);
	/* released while held */
	snprintf(order, sizeof(order), "%s-o3", prefix);
	json_t *r3 = track(t, reserve1(order, B, 2, TTL_LONG_MS));
	by_id("release", r3);
	/* fulfilled in two steps */
	snprintf(order, sizeof(order), "%s-o4", prefix);
	json_t *r4 = track(t, reserve1(order, C, 5, TTL_LONG_MS));
	by_id("commit", r4);
	part("fulfill", r4, C, 2);
	by_id("fulfill", r4);
	/* committed, then part released, part fulfilled */
	snprintf(order, sizeof(order), "%s-o5", prefix);
	json_t *r5 = track(t, reserve2(order, A, 2, C, 1));
	by_id("commit", r5);
	part("release", r5, A, 1);
	part("fulfill", r5, C, 1);
	/* held, then extended */
	snprintf(order, sizeof(order), "%s-o6", prefix);
	json_t *r6 = track(t, reserve1(order, B, 1, 60000));
	ok("extend", json_pack("{s:s, s:i}", "reservation_id", id_of(r6),
	    "ttl_ms", 900000));
	/* held, partly released */
	snprintf(order, sizeof(order), "%s-o7", prefix);
	json_t *r7 = track(t, reserve1(order, B, 3, TTL_LONG_MS));
	part("release", r7, B, 1);
	/* a conditional set at the version the record has now */
	json_t *rec = record(A, "W2");
	ok("stock.set", json_pack("{s:s, s:s, s:i, s:I}", "sku", A,
	    "location", "W2", "on_hand", 6, "if_version", geti(rec, "version")));
}

/* ---- Redis inspection ---- */

/* The string value of field in hash key, or NULL (kept). */
static const char *redis_hget(const char *key, const char *field)
{
	char err[512];
	const char *const words[] = { "HGET", key, field, NULL };
	redisReply *rep = redis_server_command(rs, err, sizeof(err), words);
	cr_assert_not_null(rep, "HGET %s %s: %s", key, field, err);
	const char *v = NULL;
	if (rep->type == REDIS_REPLY_STRING)
		v = json_string_value(keep(json_stringn(rep->str, rep->len)));
	freeReplyObject(rep);
	return v;
}

static long long redis_int(const char *const *words)
{
	char err[512];
	redisReply *rep = redis_server_command(rs, err, sizeof(err), words);
	cr_assert_not_null(rep, "%s: %s", words[0], err);
	cr_assert_eq(rep->type, REDIS_REPLY_INTEGER, "%s %s answered type %d "
	    "(%s)", words[0], words[1], rep->type,
	    rep->str != NULL ? rep->str : "");
	long long v = rep->integer;
	freeReplyObject(rep);
	return v;
}

/* ---- (a) a Redis that refuses ---- */

static bool contains_nocase(const char *hay, const char *needle)
{
	size_t n = strlen(needle);
	for (const char *p = hay; *p != '\0'; p++)
		if (strncasecmp(p, needle, n) == 0)
			return true;
	return false;
}

Test(durability, allotd_exits_at_start_when_redis_refuses)
{
	const char *allotd = getenv("ALLOTD");
	cr_assert_not_null(allotd, "ALLOTD is not set");
	int port = harness_free_port();
	cr_assert_gt(port, 0);
	char url[64], port_text[16];
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
	snprintf(port_text, sizeof(port_text), "%d", port);
	const char *const argv[] = { allotd, "--bind", "127.0.0.1", "--port",
		"0", "--redis", url, "--namespace", "refused", NULL };
	char *out = NULL, *errs = NULL;
	int64_t t0 = mono_ms();
	int status = harness_run(argv, REFUSED_EXIT_MS + 5000, &out, &errs);
	int64_t took = mono_ms() - t0;
	free(out);
	const char *e = kept_text(errs);
	free(errs);
	cr_assert_neq(status, HARNESS_STATUS_TIMEOUT, "allotd was still running "
	    "%d ms after start with nothing listening at %s; stderr: %s",
	    REFUSED_EXIT_MS + 5000, url, e);
	cr_assert_eq(status, 1, "allotd with nothing at %s exited with status "
	    "%d, expected 1; stderr: %s", url, status, e);
	cr_assert_leq(took, REFUSED_EXIT_MS, "allotd took %lld ms to give up on "
	    "%s", (long long)took, url);
	cr_assert(contains_nocase(e, "redis") && strstr(e, port_text) != NULL,
	    "allotd's stderr does not name the Redis it could not reach (%s): "
	    "%s", url, e);
}

/* ---- (b) clean restart and kill -9 ---- */

Test(durability, state_survives_a_clean_restart_and_a_kill)
{
	up("b", NULL);
	expect_mode("sync");
	tracked t = { 0 };
	json_t *adj, *res;
	build_state(&t, "b", &adj, &res);
	expect_all_acknowledged();
	cr_assert_gt(geti(get(durability_stats(), "journal"), "lsn"), 0);
	json_t *before = capture(&t, true);

	bounce(false);
	expect_same_state(before, capture(&t, true), "a clean restart");

	/* Idempotency keys survived: retries answer the first reply and change
	 * nothing. */
	json_t *again = ok("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}",
	    "sku", "b-A", "location", "W1", "delta", 3, "idempotency_key",
	    "b-adj-1"));
	cr_assert(json_equal(again, adj), "an adjust retried after a restart "
	    "answered %s, the first reply was %s", text_of(again), text_of(adj));
	again = ok("reserve", json_pack(
	    "{s:s, s:[{s:s, s:i}], s:i, s:s, s:s, s:s}", "order_id", "b-o1",
	    "lines", "sku", "b-A", "qty", 4, "ttl_ms", TTL_LONG_MS,
	    "idempotency_key", "b-res-1", "channel", "web", "customer_id",
	    "c-1"));
	cr_assert(json_equal(again, res), "a reserve retried after a restart "
	    "answered %s, the first reply was %s", text_of(again), text_of(res));
	expect_same_state(before, capture(&t, true), "idempotent retries");

	/* New reservations do not reuse an id of the earlier run. */
	json_t *fresh = reserve1("b-o8", "b-B", 1, TTL_LONG_MS);
	for (size_t i = 0; i < t.nids; i++)
		cr_assert_str_neq(id_of(fresh), t.ids[i], "a reservation made "
		    "after the restart got the id %s of an earlier one",
		    t.ids[i]);
	track(&t, fresh);
	/* Changes after a restart, to reservations of the earlier run too. */
	by_id("commit", res);
	ok("stock.adjust", json_pack("{s:s, s:s, s:i}", "sku", "b-C",
	    "location", "W2", "delta", 4));
	before = capture(&t, true);

	bounce(true);
	expect_same_state(before, capture(&t, true), "kill -9 and a restart");

	/* And once more, with nothing changed in between. */
	bounce(true);
	expect_same_state(before, capture(&t, true), "a second kill -9");
	down_clean();
}

Test(durability, journal_and_keys_live_under_the_namespace)
{
	up("ns-one", NULL);
	tracked t = { 0 };
	build_state(&t, "n", NULL, NULL);
	json_t *one = capture(&t, true);
	down_clean();

	/* Another namespace on the same Redis starts empty. */
	up("ns-two", NULL);
	fail_with("stock.get", json_pack("{s:s}", "sku", "n-A"),
	    ALLOT_ERR_NOT_FOUND);
	fail_with("reservation.get", json_pack("{s:s}", "reservation_id",
	    t.ids[0]), ALLOT_ERR_NOT_FOUND);
	set_stock("two-only", "W9", 1);
	down_clean();

	/* The journal is the stream allot:{NS}:journal, and every key of a
	 * namespace starts with allot:{NS}: */
	const char *const xlen[] = { "XLEN", "allot:{ns-one}:journal", NULL };
	cr_assert_gt(redis_int(xlen), 0, "allot:{ns-one}:journal is empty");
	char err[512];
	const char *const keys[] = { "KEYS", "*", NULL };
	redisReply *rep = redis_server_command(rs, err, sizeof(err), keys);
	cr_assert_not_null(rep, "KEYS: %s", err);
	cr_assert_eq(rep->type, REDIS_REPLY_ARRAY);
	cr_assert_gt(rep->elements, 0);
	for (size_t i = 0; i < rep->elements; i++) {
		const char *k = rep->element[i]->str;
		bool ours = strncmp(k, "allot:{ns-one}:", 15) == 0 ||
		    strncmp(k, "allot:{ns-two}:", 15) == 0;
		if (!ours) {
			char copy[256];
			snprintf(copy, sizeof(copy), "%s", k);
			freeReplyObject(rep);
			cr_assert_fail("key \"%s\" is outside allot:{NS}:", copy);
		}
	}
	freeReplyObject(rep);

	up("ns-one", NULL);
	expect_same_state(one, capture(&t, true), "another namespace was used");
	fail_with("stock.get", json_pack("{s:s}", "sku", "two-only"),
	    ALLOT_ERR_NOT_FOUND);
	down_clean();
}

Test(durability, the_database_of_the_url_holds_the_keys)
{
	char url[80];
	snprintf(url, sizeof(url), "%s/3", rs->url);
	char err[1024];
	const char *const args[] = { "--redis", url, "--namespace", "db3", NULL };
	srv = harness_server_start(args, err, sizeof(err));
	cr_assert_not_null(srv, "cannot start allotd with --redis %s: %s", url,
	    err);
	connect_cli();
	set_stock("db-A", "W1", 4);
	allot_client_destroy(cli);
	cli = NULL;
	int status = harness_server_stop(srv);
	srv = NULL;
	cr_assert_eq(status, 0);

	redisContext *c = redis_server_connect(rs, 5000, err, sizeof(err));
	cr_assert_not_null(c, "%s", err);
	redisReply *rep = redisCommand(c, "EXISTS allot:{db3}:journal");
	long long in_db0 = rep != NULL ? rep->integer : -1;
	if (rep != NULL)
		freeReplyObject(rep);
	rep = redisCommand(c, "SELECT 3");
	if (rep != NULL)
		freeReplyObject(rep);
	rep = redisCommand(c, "EXISTS allot:{db3}:journal");
	long long in_db3 = rep != NULL ? rep->integer : -1;
	if (rep != NULL)
		freeReplyObject(rep);
	redisFree(c);
	cr_assert_eq(in_db0, 0, "the journal of --redis %s is in database 0",
	    url);
	cr_assert_eq(in_db3, 1, "the journal of --redis %s is not in database 3",
	    url);

	srv = harness_server_start(args, err, sizeof(err));
	cr_assert_not_null(srv, "cannot restart allotd: %s", err);
	connect_cli();
	json_t *r = record("db-A", "W1");
	cr_assert_eq(geti(r, "on_hand"), 4);
	down_clean();
}

/* ---- (c) snapshots ---- */

static void expect_snapshot_in_redis(const char *ns)
{
	char meta[128];
	snprintf(meta, sizeof(meta), "allot:{%s}:meta", ns);
	const char *snap = redis_hget(meta, "snapshot");
	cr_assert_not_null(snap, "after the snapshot method, %s has no field "
	    "\"snapshot\"", meta);
	const char *lsn = redis_hget(meta, "snapshot_lsn");
	cr_assert_not_null(lsn, "after the snapshot method, %s has no field "
	    "\"snapshot_lsn\"", meta);
	char prefix[128];
	snprintf(prefix, sizeof(prefix), "allot:{%s}:snap:", ns);
	cr_assert(strncmp(snap, prefix, strlen(prefix)) == 0, "%s snapshot is "
	    "\"%s\", not a key under %s", meta, snap, prefix);
	const char *const exists[] = { "EXISTS", snap, NULL };
	cr_assert_eq(redis_int(exists), 1, "the snapshot key %s named by %s "
	    "does not exist", snap, meta);
}

Test(durability, snapshot_then_changes_then_kill)
{
	up("c", NULL);
	tracked t = { 0 };
	json_t *adj, *res;
	build_state(&t, "c1", &adj, &res);
	ok("snapshot", json_pack("{}"));
	expect_snapshot_in_redis("c");

	/* Changes after the snapshot, to things it holds and to new ones. */
	by_id("commit", res);
	ok("stock.adjust", json_pack("{s:s, s:s, s:i}", "sku", "c1-A",
	    "location", "W2", "delta", -1));
	build_state(&t, "c2", NULL, NULL);
	json_t *before = capture(&t, true);
	bounce(true);
	expect_same_state(before, capture(&t, true),
	    "a snapshot, more changes, kill -9");

	/* A retry of an adjust from before the snapshot is still recognised. */
	json_t *again = ok("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}",
	    "sku", "c1-A", "location", "W1", "delta", 3, "idempotency_key",
	    "c1-adj-1"));
	cr_assert(json_equal(again, adj), "an adjust from before the snapshot "
	    "retried after recovery answered %s, the first reply was %s",
	    text_of(again), text_of(adj));

	/* A snapshot of the recovered state, then a kill with no change. */
	ok("snapshot", json_pack("{}"));
	expect_snapshot_in_redis("c");
	bounce(true);
	expect_same_state(before, capture(&t, true), "a second snapshot, kill -9");

	/* Snapshot, change, snapshot, change, clean restart. */
	ok("snapshot", NULL);
	build_state(&t, "c3", NULL, NULL);
	ok("snapshot", NULL);
	ok("stock.adjust", json_pack("{s:s, s:s, s:i}", "sku", "c3-B",
	    "location", "W1", "delta", 5));
	before = capture(&t, true);
	bounce(false);
	expect_same_state(before, capture(&t, true),
	    "two snapshots and a clean restart");
	bounce(true);
	expect_same_state(before, capture(&t, true), "one more kill -9");
	down_clean();
}

/* ---- (d) holds expire while allotd is down ---- */

static void holds_expire_while_down(bool hard)
{
	up("d", NULL);
	set_stock("d-A", "W1", 10);
	json_t *shorter = reserve1("d-short", "d-A", 3, 1500);
	json_t *longer = reserve1("d-long", "d-A", 2, TTL_LONG_MS);
	json_t *paid = reserve1("d-paid", "d-A", 1, 1500);
	by_id("commit", paid);
	/* One that expires while allotd runs, read once expired. */
	json_t *gone = reserve1("d-gone", "d-A", 1, 200);
	sleep_ms(400);
	json_t *gone_before = resv_get(id_of(gone));
	cr_assert_str_eq(gets(gone_before, "status"), "expired");
	json_t *longer_before = resv_get(id_of(longer));
	json_t *paid_before = resv_get(id_of(paid));
	json_t *rec = record("d-A", "W1");
	cr_assert_eq(geti(rec, "reserved"), 5, "%s", text_of(rec));
	json_int_t version = geti(rec, "version");
	json_int_t deadline = geti(shorter, "expires_at");

	if (hard)
		down_hard();
	else
		down_clean();
	sleep_ms(deadline + 300 - wall_ms());
	up("d", NULL);

	json_t *s = resv_get(id_of(shorter));
	cr_assert_str_eq(gets(s, "status"), "expired", "a hold whose deadline "
	    "passed while allotd was down reads %s", text_of(s));
	cr_assert_eq(geti(s, "expires_at"), deadline, "the expired hold's "
	    "expires_at is %lld, its deadline was %lld",
	    (long long)geti(s, "expires_at"), (long long)deadline);
	json_t *alloc = json_array_get(get(json_array_get(get(s, "lines"), 0),
	    "allocations"), 0);
	cr_assert_eq(geti(alloc, "qty"), 3, "the expired hold keeps its "
	    "allocation: %s", text_of(s));
	expect_same_state(longer_before, resv_get(id_of(longer)),
	    "a restart (the long hold)");
	expect_same_state(paid_before, resv_get(id_of(paid)),
	    "a restart (the committed one)");
	expect_same_state(gone_before, resv_get(id_of(gone)),
	    "a restart (the hold that expired earlier)");

	rec = record("d-A", "W1");
	cr_assert_eq(geti(rec, "on_hand"), 10);
	cr_assert_eq(geti(rec, "reserved"), 2, "reserved after the restart: %s",
	    text_of(rec));
	cr_assert_eq(geti(rec, "committed"), 1, "%s", text_of(rec));
	cr_assert_eq(geti(rec, "available"), 7, "the expired hold's units are "
	    "not available again: %s", text_of(rec));
	cr_assert_eq(geti(rec, "version"), version + 1, "the expiry changed the "
	    "record's version from %lld to %lld, expected one step",
	    (long long)version, (long long)geti(rec, "version"));
	json_t *av = ok("avail", json_pack("{s:[s]}", "skus", "d-A"));
	cr_assert_eq(geti(get(av, "d-A"), "total"), 7, "%s", text_of(av));
	fail_with("commit", json_pack("{s:s}", "reservation_id", id_of(shorter)),
	    ALLOT_ERR_INVALID_STATE);

	/* Every available unit can be held again. */
	reserve1("d-new", "d-A", 7, TTL_LONG_MS);

	/* And the expiry itself is durable. */
	json_t *after = resv_get(id_of(shorter));
	bounce(true);
	expect_same_state(after, resv_get(id_of(shorter)), "another kill -9");
	cr_assert_eq(geti(record("d-A", "W1"), "available"), 0);
	down_clean();
}

Test(durability, holds_expire_while_allotd_is_killed)
{
	holds_expire_while_down(true);
}

Test(durability, holds_expire_while_allotd_is_stopped)
{
	holds_expire_while_down(false);
}

/* ---- (e) Redis lost while allotd runs ---- */

/*
 * One stock.adjust of +1 to the probe record on a fresh connection.
 * Returns 1 on success, 0 for UNAVAILABLE (within *took ms), -1 when no
 * reply came in timeout_ms (the adjust may still apply later).
 */
static int probe(int timeout_ms, int64_t *took)
{
	char err[512];
	allot_client *c = harness_client(srv, timeout_ms, err, sizeof(err));
	cr_assert_not_null(c, "cannot connect to allotd: %s", err);
	json_t *error, *result;
	int64_t t0 = mono_ms();
	int rc = call_raw(c, "stock.adjust", json_pack("{s:s, s:s, s:i}", "sku",
	    "e-probe", "location", "W1", "delta", 1), &error, &result, err,
	    sizeof(err));
	*took = mono_ms() - t0;
	allot_client_destroy(c);
	if (rc == ALLOT_CLIENT_ERR_TIMEOUT)
		return -1;
	cr_assert_eq(rc, 0, "stock.adjust: %s", err);
	if (error == NULL)
		return 1;
	cr_assert_str_eq(code_of(error), ALLOT_ERR_UNAVAILABLE, "stock.adjust "
	    "answered %s while Redis was away", text_of(error));
	return 0;
}

/* A mutation that must answer UNAVAILABLE within UNAVAILABLE_REPLY_MS. */
static void refused(const char *method, json_t *params)
{
	int64_t t0 = mono_ms();
	fail_with(method, params, ALLOT_ERR_UNAVAILABLE);
	int64_t took = mono_ms() - t0;
	cr_assert_leq(took, UNAVAILABLE_REPLY_MS, "%s took %lld ms to answer "
	    "UNAVAILABLE", method, (long long)took);
}

enum loss { LOSS_STOP, LOSS_KILL, LOSS_PAUSE };

static void redis_lost_and_back(enum loss how)
{
	up("e", NULL);
	tracked t = { 0 };
	track_sku(&t, "e-A");
	track_sku(&t, "e-B");
	set_stock("e-A", "W1", 10);
	set_stock("e-B", "W1", 4);
	json_t *held = track(&t, reserve1("e-o1", "e-A", 2, TTL_LONG_MS));
	json_t *paid = track(&t, reserve1("e-o2", "e-A", 3, TTL_LONG_MS));
	by_id("commit", paid);
	set_stock("e-probe", "W1", 0);
	int probes_acked = 0, probes_unknown = 0;
	json_t *before = capture(&t, false);

	if (how == LOSS_KILL) {
		int status = redis_server_kill(rs);
		cr_assert_eq(status, 128 + 9, "redis-server was not killed by "
		    "SIGKILL (status %d)", status);
	} else if (how == LOSS_STOP) {
		int status = redis_server_stop(rs);
		cr_assert_eq(status, 0, "redis-server exited with status %d on "
		    "SIGTERM", status);
	} else {
		cr_assert_eq(redis_server_pause(rs), 0, "cannot SIGSTOP redis");
	}
	int notice_ms = how == LOSS_PAUSE ? REDIS_SILENCE_NOTICED_MS :
	    REDIS_LOSS_NOTICED_MS;

	/* allotd notices within a bound; no mutation succeeds meanwhile. */
	int64_t t0 = mono_ms(), took = 0;
	for (;;) {
		int p = probe(1000, &took);
		cr_assert_neq(p, 1, "a mutation succeeded %lld ms after Redis "
		    "stopped", (long long)(mono_ms() - t0));
		if (p == 0)
			break;
		probes_unknown++;
		cr_assert_lt(mono_ms() - t0, notice_ms, "no mutation answered "
		    "UNAVAILABLE within %d ms of Redis going away", notice_ms);
	}
	cr_log_info("first UNAVAILABLE %lld ms after Redis went away (%lld ms "
	    "to answer)", (long long)(mono_ms() - t0), (long long)took);

	/* Every kind of mutation is refused at once... */
	refused("stock.set", json_pack("{s:s, s:s, s:i}", "sku", "e-A",
	    "location", "W1", "on_hand", 50));
	refused("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}", "sku", "e-A",
	    "location", "W1", "delta", 1, "idempotency_key", "e-key"));
	refused("restock", json_pack("{s:s, s:s, s:i}", "sku", "e-B",
	    "location", "W1", "qty", 1));
	refused("reserve", json_pack("{s:s, s:[{s:s, s:i}]}", "order_id", "e-o3",
	    "lines", "sku", "e-B", "qty", 1));
	refused("commit", json_pack("{s:s}", "reservation_id", id_of(held)));
	refused("release", json_pack("{s:s}", "reservation_id", id_of(held)));
	refused("fulfill", json_pack("{s:s}", "reservation_id", id_of(paid)));
	refused("extend", json_pack("{s:s, s:i}", "reservation_id", id_of(held),
	    "ttl_ms", 1000));
	refused("stock.set", json_pack("{s:s, s:s, s:i}", "sku", "e-new",
	    "location", "W1", "on_hand", 1));

	/* ...while reads go on, and the refused ones changed nothing. */
	cr_assert_str_eq(json_string_value(ok("ping", NULL)), "pong");
	json_t *d = durability_stats();
	cr_assert(json_is_false(get(d, "available")), "stats durability while "
	    "Redis is away: %s", text_of(d));
	cr_assert(json_is_false(get(get(d, "redis"), "connected")), "stats "
	    "durability while Redis is away: %s", text_of(d));
	expect_same_state(before, capture(&t, false),
	    "mutations refused while Redis was away");
	fail_with("stock.get", json_pack("{s:s}", "sku", "e-new"),
	    ALLOT_ERR_NOT_FOUND);

	/* Redis returns (same port, same data): mutations succeed again. */
	char err[1024];
	if (how == LOSS_PAUSE)
		cr_assert_eq(redis_server_resume(rs), 0, "cannot SIGCONT redis");
	else
		cr_assert_eq(redis_server_restart(rs, err, sizeof(err)), 0,
		    "cannot restart redis-server: %s", err);
	t0 = mono_ms();
	for (;;) {
		int p = probe(2000, &took);
		if (p == 1) {
			probes_acked++;
			break;
		}
		if (p < 0)
			probes_unknown++;
		cr_assert_lt(mono_ms() - t0, REDIS_BACK_MS, "mutations still fail "
		    "%d ms after Redis came back", REDIS_BACK_MS);
		sleep_ms(50);
	}
	cr_log_info("mutations succeed again %lld ms after Redis came back",
	    (long long)(mono_ms() - t0));
	expect_same_state(before, capture(&t, false), "Redis came back");
	d = durability_stats();
	cr_assert(json_is_true(get(d, "available")) &&
	    json_is_true(get(get(d, "redis"), "connected")), "stats durability "
	    "once Redis is back: %s", text_of(d));
	cr_assert_geq(geti(get(d, "redis"), "reconnects"), 1, "%s", text_of(d));

	/* Changes made now are durable, with everything from before. */
	by_id("commit", held);
	ok("stock.adjust", json_pack("{s:s, s:s, s:i}", "sku", "e-B",
	    "location", "W1", "delta", 5));
	track(&t, reserve1("e-o4", "e-B", 2, TTL_LONG_MS));
	part("fulfill", paid, "e-A", 1);
	before = capture(&t, false);

	bounce(true);
	expect_same_state(before, capture(&t, false),
	    "Redis lost and back, then kill -9");
	json_int_t probe_on_hand = geti(record("e-probe", "W1"), "on_hand");
	cr_assert(probe_on_hand >= probes_acked &&
	    probe_on_hand <= probes_acked + probes_unknown, "the probe record has "
	    "%lld units: %d adjusts of +1 succeeded, %d got no reply, the rest "
	    "answered UNAVAILABLE", (long long)probe_on_hand, probes_acked,
	    probes_unknown);
	down_clean();
}

Test(durability, redis_stopped_and_back)
{
	redis_lost_and_back(LOSS_STOP);
}

/* With appendfsync always, what Redis acknowledged survives its kill -9. */
Test(durability, redis_killed_and_back)
{
	redis_lost_and_back(LOSS_KILL);
}

/* A Redis that keeps the connection but stops answering (SIGSTOP) counts
 * as lost too: mutations are refused rather than left waiting. */
Test(durability, redis_silent_and_back)
{
	redis_lost_and_back(LOSS_PAUSE);
}

/* ---- (f) async ---- */

Test(durability, async_round_trip_across_a_clean_restart)
{
	static const char *const async_args[] = { "--durability", "async", NULL };
	up("f", async_args);
	expect_mode("async");
	tracked t = { 0 };
	json_t *adj, *res;
	build_state(&t, "f", &adj, &res);
	json_t *before = capture(&t, true);

	bounce(false);
	expect_mode("async");
	expect_same_state(before, capture(&t, true), "a clean restart (async)");

	/* The same journal read back in sync mode. */
	down_clean();
	up("f", NULL);
	expect_mode("sync");
	expect_same_state(before, capture(&t, true), "a restart in sync mode");
	json_t *again = ok("reserve", json_pack(
	    "{s:s, s:[{s:s, s:i}], s:i, s:s, s:s, s:s}", "order_id", "f-o1",
	    "lines", "sku", "f-A", "qty", 4, "ttl_ms", TTL_LONG_MS,
	    "idempotency_key", "f-res-1", "channel", "web", "customer_id",
	    "c-1"));
	cr_assert(json_equal(again, res), "a reserve made in async mode and "
	    "retried after the restart answered %s, the first reply was %s",
	    text_of(again), text_of(res));
	down_clean();
}

/* ---- (g) bad flags ---- */

/* Run allotd with args; it must exit 2 with a message naming topic. */
static void expect_refused_flags(const char *const *args, const char *topic)
{
	const char *allotd = getenv("ALLOTD");
	cr_assert_not_null(allotd, "ALLOTD is not set");
	const char *argv[16] = { allotd, "--bind", "127.0.0.1", "--port", "0" };
	size_t n = 5;
	char shown[512] = "";
	for (size_t i = 0; args[i] != NULL; i++) {
		cr_assert_lt(n, sizeof(argv) / sizeof(argv[0]) - 1);
		argv[n++] = args[i];
		size_t at = strlen(shown);
		snprintf(shown + at, sizeof(shown) - at, " '%s'", args[i]);
	}
	argv[n] = NULL;
	char *out = NULL, *errs = NULL;
	int status = harness_run(argv, 10000, &out, &errs);
	free(out);
	const char *e = kept_text(errs);
	free(errs);
	cr_assert_eq(status, 2, "allotd%s exited with status %d, expected 2; "
	    "stderr: %s", shown, status, e);
	cr_assert(contains_nocase(e, topic), "allotd%s: stderr does not mention "
	    "%s: %s", shown, topic, e);
}

Test(durability, malformed_redis_urls_are_refused_at_start)
{
	static const char *const urls[] = { "http://127.0.0.1:6379",
		"127.0.0.1:6379", "redis://", "redis://127.0.0.1:0",
		"redis://127.0.0.1:99999", "redis://127.0.0.1:port",
		"redis://127.0.0.1:6379/db1", "redis://user:pw@127.0.0.1:6379",
		"redis://127.0.0.1:6379 x" };
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		const char *const args[] = { "--redis", urls[i], NULL };
		expect_refused_flags(args, "redis");
	}
}

Test(durability, bad_namespace_and_durability_flags_are_refused_at_start)
{
	char too_long[80];
	memset(too_long, 'n', 65);
	too_long[65] = '\0';
	static const char *const names[] = { "", "has space", "brace{", "a:b" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *const args[] = { "--redis", rs->url, "--namespace",
			names[i], NULL };
		expect_refused_flags(args, "namespace");
	}
	const char *const long_ns[] = { "--redis", rs->url, "--namespace",
		too_long, NULL };
	expect_refused_flags(long_ns, "namespace");
	const char *const mode[] = { "--redis", rs->url, "--durability", "fast",
		NULL };
	expect_refused_flags(mode, "durability");
}

/* ---- (h) without Redis: a warning ---- */

/* allotd's stderr over its first moments (it is then killed). */
static const char *first_stderr(const char *const *args)
{
	const char *allotd = getenv("ALLOTD");
	cr_assert_not_null(allotd, "ALLOTD is not set");
	const char *argv[16] = { allotd, "--bind", "127.0.0.1", "--port", "0",
		"--log-level", "warn" };
	size_t n = 7;
	for (size_t i = 0; args != NULL && args[i] != NULL; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	char *out = NULL, *errs = NULL;
	int status = harness_run(argv, 1500, &out, &errs);
	free(out);
	const char *e = kept_text(errs);
	free(errs);
	cr_assert_eq(status, HARNESS_STATUS_TIMEOUT, "allotd exited with status "
	    "%d instead of serving; stderr: %s", status, e);
	return e;
}

Test(durability, without_redis_allotd_warns_that_durability_is_none)
{
	const char *e = first_stderr(NULL);
	cr_assert(strstr(e, "warn") != NULL && strstr(e, "durability none") !=
	    NULL, "allotd without --redis does not warn \"durability none\" on "
	    "stderr: %s", e);

	const char *const with_redis[] = { "--redis", rs->url, "--namespace",
		"h", NULL };
	e = first_stderr(with_redis);
	cr_assert(strstr(e, "durability none") == NULL, "allotd with --redis "
	    "warns of durability none: %s", e);

	char err[512];
	srv = harness_server_start(NULL, err, sizeof(err));
	cr_assert_not_null(srv, "cannot start allotd: %s", err);
	connect_cli();
	expect_mode("none");
	down_clean();
}

/* ---- one allotd per namespace ---- */

/*
 * A second allotd on the same namespace: once the first has journaled
 * after the second loaded, the second's journal writes conflict, and
 * PROTOCOL.md has it refuse mutations until it restarts. Whatever either
 * one acknowledged must be in the journal: a restart rebuilds exactly the
 * first one's changes plus any the second one answered with success.
 */
Test(durability, a_second_allotd_on_the_namespace_is_refused)
{
	up("dup", NULL);
	set_stock("dup-A", "W1", 10);

	char err[1024];
	harness_server *second = allotd_start_durable(rs, "dup", NULL, err,
	    sizeof(err));
	cr_assert_not_null(second, "cannot start a second allotd: %s", err);
	allot_client *c2 = harness_client(second, 3000, err, sizeof(err));
	cr_assert_not_null(c2, "cannot connect to the second allotd: %s", err);

	json_t *r = ok("stock.adjust", json_pack("{s:s, s:s, s:i}", "sku",
	    "dup-A", "location", "W1", "delta", 1));
	cr_assert_eq(geti(r, "on_hand"), 11);

	/* The second one's changes: none may be answered with success unless
	 * Redis has it, which a restart shows. */
	int second_ok = 0, second_refused = 0, second_silent = 0;
	int64_t second_delta = 0;
	for (int i = 0; i < 4; i++) {
		json_t *error, *result;
		int delta = 100 << i;
		int rc = call_raw(c2, "stock.adjust", json_pack("{s:s, s:s, s:i}",
		    "sku", "dup-A", "location", "W1", "delta", delta), &error,
		    &result, err, sizeof(err));
		if (rc == ALLOT_CLIENT_ERR_TIMEOUT) {
			second_silent++;
			allot_client_destroy(c2);
			c2 = harness_client(second, 3000, err, sizeof(err));
			cr_assert_not_null(c2, "cannot reconnect to the second "
			    "allotd: %s", err);
			continue;
		}
		cr_assert_eq(rc, 0, "second allotd: %s", err);
		if (error == NULL) {
			second_ok++;
			second_delta += delta;
			cr_log_warn("the second allotd on namespace dup answered "
			    "adjust +%d with success: %s", delta, text_of(result));
		} else {
			cr_assert_str_eq(code_of(error), ALLOT_ERR_UNAVAILABLE,
			    "the second allotd answered %s", text_of(error));
			second_refused++;
		}
		sleep_ms(300);
	}
	cr_log_info("second allotd: %d successes, %d UNAVAILABLE, %d without "
	    "a reply in 3 s", second_ok, second_refused, second_silent);

	r = ok("stock.adjust", json_pack("{s:s, s:s, s:i}", "sku", "dup-A",
	    "location", "W1", "delta", 2));
	cr_assert_eq(geti(r, "on_hand"), 13, "the first allotd's record: %s",
	    text_of(r));

	allot_client_destroy(c2);
	allotd_kill(second);
	bounce(true);
	json_int_t on_hand = geti(record("dup-A", "W1"), "on_hand");
	cr_assert_eq(on_hand, 13 + second_delta, "after a restart dup-A@W1 has "
	    "on_hand %lld: the first allotd acknowledged 10 +1 +2 and the second "
	    "acknowledged %lld more in %d successes", (long long)on_hand,
	    (long long)second_delta, second_ok);
	cr_assert_eq(second_ok, 0, "the second allotd on a namespace answered "
	    "%d mutations with success", second_ok);
	down_clean();
}

/* ---- forgetting, across restarts ---- */

/*
 * Finished reservations and adjust keys are forgotten --retain-ms after
 * they finished (the sweep journals what it forgot); the oldest finished
 * reservation is forgotten early at --reservations-max. Both survive
 * kills: what was forgotten stays forgotten, what was not stays readable,
 * and time that passed while allotd was down counts.
 */
Test(durability, forgetting_survives_restarts)
{
	static const char *const args[] = { "--retain-ms", "1500",
		"--reservations-max", "6", NULL };
	up("g", args);
	tracked t = { 0 };
	track_sku(&t, "g-A");
	set_stock("g-A", "W1", 100);
	json_t *adj = ok("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}", "sku",
	    "g-A", "location", "W1", "delta", 5, "idempotency_key", "g-adj"));
	/* Eight reservations in a table of six: released ones are dropped,
	 * oldest first, as new ones come. */
	json_t *rs_[8];
	for (int i = 0; i < 8; i++) {
		char order[32];
		snprintf(order, sizeof(order), "g-o%d", i);
		rs_[i] = track(&t, reserve1(order, "g-A", 1, TTL_LONG_MS));
		if (i < 5)
			by_id("release", rs_[i]);
	}
	by_id("commit", rs_[6]);
	json_t *before = capture(&t, true);
	for (int i = 0; i < 5; i++) {
		json_t *r = get(get(before, "reservations"), id_of(rs_[i]));
		const char *code = json_string_value(json_object_get(r, "error"));
		if (i < 2)
			cr_assert(code != NULL && strcmp(code, "NOT_FOUND") == 0,
			    "with --reservations-max 6, the released reservation %d "
			    "of 8 reads %s", i, text_of(r));
		else
			cr_assert(code == NULL, "released reservation %d of 8 was "
			    "forgotten early: %s", i, text_of(r));
	}
	int64_t finished_at = wall_ms();

	bounce(true);
	expect_same_state(before, capture(&t, true), "kill -9 (within retain)");
	json_t *again = ok("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}",
	    "sku", "g-A", "location", "W1", "delta", 5, "idempotency_key",
	    "g-adj"));
	cr_assert(json_equal(again, adj), "the adjust key was forgotten early: "
	    "%s, first %s", text_of(again), text_of(adj));

	/* Down while --retain-ms passes. */
	down_hard();
	sleep_ms(finished_at + 1500 + 300 - wall_ms());
	up("g", args);
	int64_t t0 = mono_ms();
	for (;;) {
		int gone = 0;
		for (int i = 0; i < 5; i++)
			gone += json_object_get(resv_read(id_of(rs_[i])), "error") !=
			    NULL;
		if (gone == 5)
			break;
		cr_assert_lt(mono_ms() - t0, 1000, "%d of 5 released reservations "
		    "still readable more than --retain-ms after they finished",
		    5 - gone);
		sleep_ms(20);
	}
	for (int i = 5; i < 8; i++) {
		json_t *r = resv_read(id_of(rs_[i]));
		cr_assert(json_object_get(r, "error") == NULL, "live reservation "
		    "%s forgotten: %s", id_of(rs_[i]), text_of(r));
	}
	/* The key is forgotten too: the same adjust is a new change now. */
	again = ok("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}", "sku", "g-A",
	    "location", "W1", "delta", 5, "idempotency_key", "g-adj"));
	cr_assert_eq(geti(again, "on_hand"), 110, "an adjust whose key "
	    "should be forgotten answered %s", text_of(again));
	before = capture(&t, true);
	bounce(true);
	expect_same_state(before, capture(&t, true), "kill -9 after forgetting");
	bounce(false);
	expect_same_state(before, capture(&t, true), "a clean restart");
	down_clean();
}

/* allot snapshot dump: the current snapshot, then the journal after it, as
 * JSON lines a person (or jq) can read. */
Test(durability, the_cli_dumps_the_snapshot_and_the_journal_after_it)
{
	up("dump", NULL);
	set_stock("dump-A", "W1", 10);
	json_t *res = reserve1("dump-o1", "dump-A", 3, 600000);
	ok("snapshot", json_pack("{}"));
	ok("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}", "sku", "dump-A",
	    "location", "W1", "delta", -1, "reason", "damaged"));
	const char *cli_path = getenv("ALLOT_CLI");
	cr_assert_not_null(cli_path, "ALLOT_CLI is not set");
	const char *argv[] = { cli_path, "snapshot", "dump", "--redis", rs->url,
		"--namespace", "dump", NULL };
	char *out = NULL, *errs = NULL;
	int status = harness_run(argv, 10000, &out, &errs);
	cr_assert_eq(status, 0, "allot snapshot dump exited %d: %s", status,
	    errs ? errs : "");
	/* Every line is a JSON object; collect them by type. */
	int snapshots = 0, records = 0, reservations = 0, adjusts = 0;
	char *save = NULL;
	for (char *line = strtok_r(out, "\n", &save); line;
	    line = strtok_r(NULL, "\n", &save)) {
		json_error_t jerr;
		json_t *o = json_loads(line, 0, &jerr);
		cr_assert(json_is_object(o), "not a JSON object: %s (%s)", line,
		    jerr.text);
		const char *type = json_string_value(json_object_get(o, "type"));
		cr_assert_not_null(type, "a line without type: %s", line);
		if (strcmp(type, "snapshot") == 0) {
			snapshots++;
			cr_assert_eq(json_integer_value(json_object_get(o, "lsn")), 2,
			    "the snapshot covers set and reserve: %s", line);
		} else if (strcmp(type, "record") == 0) {
			records++;
			cr_assert_eq(json_integer_value(json_object_get(o, "on_hand")), 10, "%s", line);
			cr_assert_eq(json_integer_value(json_object_get(o, "reserved")), 3, "%s", line);
		} else if (strcmp(type, "reservation") == 0) {
			reservations++;
			cr_assert_str_eq(json_string_value(json_object_get(o, "reservation_id")),
			    id_of(res), "%s", line);
		} else if (strcmp(type, "stock.adjust") == 0) {
			adjusts++;
			cr_assert_eq(json_integer_value(json_object_get(o, "lsn")), 3, "%s", line);
			cr_assert_eq(json_integer_value(json_object_get(o, "delta")), -1, "%s", line);
		}
		json_decref(o);
	}
	cr_assert_eq(snapshots, 1, "one snapshot header");
	cr_assert_eq(records, 1, "one stock record");
	cr_assert_eq(reservations, 1, "one reservation");
	cr_assert_eq(adjusts, 1, "the adjust after the snapshot, from the journal");
	free(out);
	free(errs);

	/* A Redis that is not there: exit 1 with a message. */
	int port = harness_free_port();
	char url[64];
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
	const char *bad[] = { cli_path, "snapshot", "dump", "--redis", url, NULL };
	status = harness_run(bad, 10000, NULL, &errs);
	cr_assert_eq(status, 1, "dump against no Redis exited %d", status);
	cr_assert(errs && strstr(errs, "Redis"), "the message names Redis: %s", errs ? errs : "");
	free(errs);
	down_clean();
}
