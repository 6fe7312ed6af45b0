/*
 * durability_fixture.h - the suite of test_durability_*.c: each test has
 * its own redis-server (redis_harness.h) and allotd, and talks to allotd
 * through ju_client (json_util.h). "Exact" means every stock.get record,
 * the avail answer, every reservation.get answer and the stats counters
 * that describe state compare equal as JSON (capture(), expect_same_state()).
 *
 * The suite's state is in durability_fixture.c; the helpers below are
 * static inline, the suite's own vocabulary kept out of the link's
 * namespace.
 */
#ifndef ALLOT_TESTS_DURABILITY_FIXTURE_H
#define ALLOT_TESTS_DURABILITY_FIXTURE_H

#include <criterion/criterion.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rpc_client.h"
#include "harness.h"
#include "json_util.h"
#include "redis_harness.h"

/* The test's redis-server and allotd; NULL outside a test. */
extern redis_server *dur_rs;
extern harness_server *dur_srv;
/* The namespace and extra arguments of the last up(), for bounce(). */
extern const char *dur_ns;
extern const char *const *dur_args;

/* The suite's .init (a fresh redis-server) and .fini (free everything). */
void dur_setup(void);
void dur_teardown(void);
/* The lsn of the first record the journal of namespace ns in dur_rs holds
 * (0: the journal is empty). */
long long dur_journal_first_lsn(const char *ns);

/* How long the suite's client waits for a reply. */
#define DUR_CLIENT_TIMEOUT_MS 10000
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

/* ---- servers ---- */

static inline void connect_cli(void)
{
	char err[512];
	ju_client = harness_client(dur_srv, DUR_CLIENT_TIMEOUT_MS, err, sizeof(err));
	cr_assert_not_null(ju_client, "cannot connect to allotd: %s", err);
}

/* Start allotd on dur_rs with namespace ns and extra args (kept for restarts). */
static inline void up(const char *ns, const char *const *args)
{
	char err[1024];
	dur_ns = ns;
	dur_args = args;
	dur_srv = allotd_start_durable(dur_rs, ns, args, err, sizeof(err));
	cr_assert_not_null(dur_srv, "cannot start allotd on %s (namespace %s): %s",
	    dur_rs->url, ns, err);
	connect_cli();
}

/* SIGTERM: allotd must exit 0 having written everything it owes. */
static inline void down_clean(void)
{
	allot_client_destroy(ju_client);
	ju_client = NULL;
	int status = harness_server_stop(dur_srv);
	dur_srv = NULL;
	cr_assert_eq(status, 0, "allotd exited with status %d on SIGTERM",
	    status);
}

static inline void down_hard(void)
{
	allot_client_destroy(ju_client);
	ju_client = NULL;
	int status = allotd_kill(dur_srv);
	dur_srv = NULL;
	cr_assert_eq(status, 128 + 9, "allotd was not killed by SIGKILL "
	    "(status %d)", status);
}

/* Restart allotd with the same namespace and args. */
static inline void bounce(bool hard)
{
	if (hard)
		down_hard();
	else
		down_clean();
	up(dur_ns, dur_args);
}

/* ---- calls ---- */

/* The error of a call that must fail with code, with a message. */
static inline json_t *fail_with(const char *method, json_t *params, const char *code)
{
	return ju_fail(method, params, code, NULL);
}

static inline json_t *reserve2(const char *order, const char *sku1, int qty1,
    const char *sku2, int qty2)
{
	return ju_ok("reserve", json_pack("{s:s, s:[{s:s, s:i}, {s:s, s:i}], s:i}",
	    "order_id", order, "lines", "sku", sku1, "qty", qty1, "sku", sku2,
	    "qty", qty2, "ttl_ms", TTL_LONG_MS));
}

static inline const char *id_of(json_t *res)
{
	return ju_gets(res, "reservation_id");
}

/* release or fulfill of qty units of one line. */
static inline json_t *part(const char *method, json_t *res, const char *sku, int qty)
{
	return ju_ok(method, json_pack("{s:s, s:[{s:s, s:i}]}", "reservation_id",
	    id_of(res), "lines", "sku", sku, "qty", qty));
}

static inline json_t *resv_get(const char *id)
{
	return ju_ok("reservation.get", json_pack("{s:s}", "reservation_id", id));
}

/* reservation.get: the reservation, or {"error": code} when it fails. */
static inline json_t *resv_read(const char *id)
{
	char err[512];
	json_t *error, *result;
	int rc = ju_call(ju_client, "reservation.get", json_pack("{s:s}",
	    "reservation_id", id), &error, &result, err, sizeof(err));
	cr_assert_eq(rc, 0, "reservation.get %s: %s", id, err);
	if (error == NULL)
		return result;
	return ju_keep(json_pack("{s:s}", "error", ju_code_of(error)));
}

/* durability.mode from stats, or NULL when stats has none. */
static inline const char *durability_mode(void)
{
	json_t *st = ju_ok("stats", NULL);
	json_t *d = json_object_get(st, "durability");
	if (!json_is_object(d))
		return NULL;
	return json_string_value(json_object_get(d, "mode"));
}

/* stats durability (documented with --redis), kept. */
static inline json_t *durability_stats(void)
{
	json_t *st = ju_ok("stats", NULL);
	json_t *d = ju_get(st, "durability");
	cr_assert(json_is_object(d), "stats durability is %s", ju_text_of(d));
	return d;
}

/* In sync mode, once every reply has come, Redis has every record. */
static inline void expect_all_acknowledged(void)
{
	json_t *d = durability_stats();
	json_t *j = ju_get(d, "journal");
	cr_assert_eq(ju_geti(j, "acked_lsn"), ju_geti(j, "lsn"), "with every reply "
	    "received, stats durability.journal is %s", ju_text_of(j));
	cr_assert_eq(ju_geti(j, "pending_items"), 0, "with every reply received, "
	    "stats durability.journal is %s", ju_text_of(j));
	cr_assert(json_is_true(ju_get(d, "available")), "stats durability: %s",
	    ju_text_of(d));
}

static inline void expect_mode(const char *want)
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

static inline void track_sku(tracked *t, const char *sku)
{
	cr_assert_lt(t->nskus, sizeof(t->skus) / sizeof(t->skus[0]));
	t->skus[t->nskus++] = sku;
}

/* Remember a reservation (the id stays alive with the kept reply). */
static inline json_t *track(tracked *t, json_t *res)
{
	cr_assert_lt(t->nids, sizeof(t->ids) / sizeof(t->ids[0]));
	t->ids[t->nids++] = id_of(res);
	return res;
}

/*
 * Everything readable about t: stock.get of every sku, avail of all of
 * them, reservation.get of every id, and (with_stats) the stats counters
 * that describe state.
 */
static inline json_t *capture(const tracked *t, bool with_stats)
{
	json_t *state = ju_keep(json_object());
	json_t *stock = json_object(), *resv = json_object();
	json_t *skus = json_array();
	for (size_t i = 0; i < t->nskus; i++) {
		json_object_set(stock, t->skus[i], ju_ok("stock.get",
		    json_pack("{s:s}", "sku", t->skus[i])));
		json_array_append_new(skus, json_string(t->skus[i]));
	}
	json_object_set_new(state, "stock", stock);
	json_object_set(state, "avail", ju_ok("avail",
	    json_pack("{s:o}", "skus", skus)));
	for (size_t i = 0; i < t->nids; i++)
		json_object_set(resv, t->ids[i], resv_read(t->ids[i]));
	json_object_set_new(state, "reservations", resv);
	json_object_set(state, "locations", ju_ok("location.list", NULL));
	if (with_stats) {
		static const char *const state_stats[] = { "skus", "locations",
			"records", "reservations", "units_reserved",
			"units_committed", "idempotency_keys" };
		json_t *st = ju_ok("stats", NULL);
		json_t *sub = json_object();
		for (size_t i = 0; i < sizeof(state_stats) / sizeof(*state_stats);
		     i++)
			json_object_set(sub, state_stats[i],
			    ju_get(st, state_stats[i]));
		json_object_set_new(state, "stats", sub);
	}
	return state;
}

/* The path of the first difference between a and b, in buf. */
static inline bool first_difference(json_t *a, json_t *b, char *buf, size_t len,
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
		    ju_text_of(b));
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
	snprintf(buf + at, len - at, ": %s before, %s after", ju_text_of(a),
	    ju_text_of(b));
	return true;
}

static inline void expect_same_state(json_t *before, json_t *after, const char *when)
{
	char path[2048] = "";
	if (first_difference(before, after, path, sizeof(path), 0))
		cr_assert_fail("the state differs after %s at %s\nbefore: %s\n"
		    "after:  %s", when, path, ju_text_of(before), ju_text_of(after));
}

/*
 * A mix of every mutation over a few skus and locations; the skus are
 * named with prefix so that calls can add to the same state.
 */
static inline void build_state(tracked *t, const char *prefix, json_t **adjust_reply,
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

	ju_set_stock(A, "W1", 10);
	ju_set_stock(A, "W2", 5);
	ju_ok("stock.set", json_pack("{s:s, s:s, s:i, s:i}", "sku", B,
	    "location", "W1", "on_hand", 20, "safety", 2));
	ju_set_stock(C, "W2", 7);
	snprintf(key, sizeof(key), "%s-adj-1", prefix);
	json_t *adj = ju_ok("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}",
	    "sku", A, "location", "W1", "delta", 3, "idempotency_key", key));
	if (adjust_reply != NULL)
		*adjust_reply = adj;
	ju_ok("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}", "sku", B,
	    "location", "W1", "delta", -4, "reason", "damaged"));
	ju_ok("restock", json_pack("{s:s, s:s, s:i, s:s}", "sku", C, "location",
	    "W2", "qty", 2, "reason", "returned"));
	/* routing: attributes, a channel, a per-customer limit */
	ju_ok("location.put", json_pack("{s:s, s:f, s:f, s:i, s:[s]}", "location", "W1",
	    "lat", 52.52, "lon", 13.405, "capacity", 1000, "tags", "dc"));
	ju_ok("channel.put", json_pack("{s:s, s:b}", "channel", "web", "all_locations", 1));
	ju_ok("channel.put", json_pack("{s:s, s:[s], s:i}", "channel", "market", "locations", "W2",
	    "buffer", 1));
	ju_ok("sku.put", json_pack("{s:s, s:i, s:i}", "sku", B, "per_order", 1000, "low_stock", 2));
	char *limited = n[3];
	snprintf(limited, 64, "%s-D", prefix);
	track_sku(t, limited);
	ju_set_stock(limited, "W2", 5);
	ju_ok("sku.put", json_pack("{s:s, s:i}", "sku", limited, "per_customer", 3));
	snprintf(order, sizeof(order), "%s-o0", prefix);
	track(t, ju_ok("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i, s:s, s:s}", "order_id", order,
	    "lines", "sku", limited, "qty", 2, "ttl_ms", TTL_LONG_MS, "customer_id", "c-1",
	    "channel", "market")));
	/* a backorder against inbound stock */
	char *pre = n[4];
	snprintf(pre, 64, "%s-E", prefix);
	track_sku(t, pre);
	ju_set_stock(pre, "W1", 1);
	ju_ok("inbound.add", json_pack("{s:s, s:s, s:i, s:I, s:s}", "sku", pre, "location", "W1", "qty", 5,
	    "eta", (json_int_t)1900000000000LL, "ref", "po-1"));
	snprintf(order, sizeof(order), "%s-o00", prefix);
	track(t, ju_ok("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i, s:b}", "order_id", order,
	    "lines", "sku", pre, "qty", 3, "ttl_ms", TTL_LONG_MS, "allow_backorder", 1)));

	/* held, with an idempotency key */
	snprintf(order, sizeof(order), "%s-o1", prefix);
	snprintf(key, sizeof(key), "%s-res-1", prefix);
	json_t *r1 = track(t, ju_ok("reserve", json_pack(
	    "{s:s, s:[{s:s, s:i}], s:i, s:s, s:s, s:s}", "order_id", order,
	    "lines", "sku", A, "qty", 4, "ttl_ms", TTL_LONG_MS,
	    "idempotency_key", key, "channel", "web", "customer_id", "c-1")));
	if (reserve_reply != NULL)
		*reserve_reply = r1;
	/* committed, across two skus (and two locations of A) */
	snprintf(order, sizeof(order), "%s-o2", prefix);
	json_t *r2 = track(t, reserve2(order, A, 10, B, 3));
	ju_by_id("commit", r2);
	/* released while held */
	snprintf(order, sizeof(order), "%s-o3", prefix);
	json_t *r3 = track(t, ju_reserve1(order, B, 2, TTL_LONG_MS));
	ju_by_id("release", r3);
	/* fulfilled in two steps */
	snprintf(order, sizeof(order), "%s-o4", prefix);
	json_t *r4 = track(t, ju_reserve1(order, C, 5, TTL_LONG_MS));
	ju_by_id("commit", r4);
	part("fulfill", r4, C, 2);
	ju_by_id("fulfill", r4);
	/* committed, then part released, part fulfilled */
	snprintf(order, sizeof(order), "%s-o5", prefix);
	json_t *r5 = track(t, reserve2(order, A, 2, C, 1));
	ju_by_id("commit", r5);
	part("release", r5, A, 1);
	part("fulfill", r5, C, 1);
	/* held, then extended */
	snprintf(order, sizeof(order), "%s-o6", prefix);
	json_t *r6 = track(t, ju_reserve1(order, B, 1, 60000));
	ju_ok("extend", json_pack("{s:s, s:i}", "reservation_id", id_of(r6),
	    "ttl_ms", 900000));
	/* held, partly released */
	snprintf(order, sizeof(order), "%s-o7", prefix);
	json_t *r7 = track(t, ju_reserve1(order, B, 3, TTL_LONG_MS));
	part("release", r7, B, 1);
	/* a conditional set at the version the record has now */
	json_t *rec = ju_record(A, "W2");
	ju_ok("stock.set", json_pack("{s:s, s:s, s:i, s:I}", "sku", A,
	    "location", "W2", "on_hand", 6, "if_version", ju_geti(rec, "version")));
}

/* ---- Redis inspection ---- */

/* The string value of field in hash key, or NULL (kept). */
static inline const char *redis_hget(const char *key, const char *field)
{
	char err[512];
	const char *const words[] = { "HGET", key, field, NULL };
	redisReply *rep = redis_server_command(dur_rs, err, sizeof(err), words);
	cr_assert_not_null(rep, "HGET %s %s: %s", key, field, err);
	const char *v = NULL;
	if (rep->type == REDIS_REPLY_STRING)
		v = json_string_value(ju_keep(json_stringn(rep->str, rep->len)));
	freeReplyObject(rep);
	return v;
}

static inline long long redis_int(const char *const *words)
{
	char err[512];
	redisReply *rep = redis_server_command(dur_rs, err, sizeof(err), words);
	cr_assert_not_null(rep, "%s: %s", words[0], err);
	cr_assert_eq(rep->type, REDIS_REPLY_INTEGER, "%s %s answered type %d "
	    "(%s)", words[0], words[1], rep->type,
	    rep->str != NULL ? rep->str : "");
	long long v = rep->integer;
	freeReplyObject(rep);
	return v;
}

/* ---- text ---- */

static inline bool contains_nocase(const char *hay, const char *needle)
{
	size_t n = strlen(needle);
	for (const char *p = hay; *p != '\0'; p++)
		if (strncasecmp(p, needle, n) == 0)
			return true;
	return false;
}

#endif
