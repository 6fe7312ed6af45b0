/*
 * test_expiry_storm.c - a storm of holds falling due over the wire: while
 * allotd runs, and while it is stopped (SIGSTOP) until after the last
 * deadline, as a paused VM would be. The request right after the deadlines
 * or SIGCONT sees every unit available and a reserve of all of them holds;
 * the holds read expired at their deadlines; the sweep catches up.
 *
 * Correctness only: nothing here is timed (bench/expiry-storm measures the
 * waits). Every wait is bounded by the client's timeout.
 */
#include <criterion/criterion.h>

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "rpc_client.h"
#include "harness.h"

#define HOLDS 40000
#define PIPELINE 512
#define CLIENT_TIMEOUT_MS 20000
#define LEAD_MS 4000  /* the first deadline after the load began */
#define WINDOW_MS 100 /* the deadlines spread over this */

static harness_server *srv;
static allot_client *cl;

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_until_wall(int64_t ms)
{
	int64_t left = ms - wall_ms();
	if (left > 0)
		harness_sleep_ms((long)left);
}

static void start(void)
{
	char err[256];
	srv = harness_server_start(NULL, err, sizeof(err));
	cr_assert_not_null(srv, "%s", err);
	cl = harness_client(srv, CLIENT_TIMEOUT_MS, err, sizeof(err));
	cr_assert_not_null(cl, "%s", err);
}

static void finish(void)
{
	allot_client_destroy(cl);
	cr_assert_eq(harness_server_stop(srv), 0);
}

/* method(params) must succeed; its result (a new reference). */
static json_t *ok(const char *method, json_t *params)
{
	json_t *error = NULL, *result = NULL;
	char err[256];
	cr_assert_eq(allot_client_call_params(cl, method, params, &error, &result, err, sizeof(err)), 0,
	    "%s: %s", method, err);
	char *e = error ? json_dumps(error, JSON_COMPACT) : NULL;
	cr_assert_null(error, "%s answered %s", method, e ? e : "?");
	json_decref(params);
	return result;
}

static json_int_t geti(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	cr_assert(json_is_integer(v), "no integer %s", key);
	return json_integer_value(v);
}

static void pack_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

/*
 * HOLDS one-unit holds of sku, pipelined, due over WINDOW_MS from
 * LEAD_MS after now; the deadlines the replies gave, earliest and latest,
 * and one hold's id and deadline.
 */
static void load(const char *sku, int64_t *first, int64_t *last, char *id, size_t id_len, int64_t *id_due)
{
	int64_t base = wall_ms() + LEAD_MS;
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	allot_message reply;
	allot_message_init(&reply);
	char err[256], order[32];
	int sent = 0, answered = 0;
	*first = INT64_MAX;
	*last = 0;
	while (answered < HOLDS) {
		while (sent < HOLDS && sent - answered < PIPELINE) {
			int64_t ttl = base + (int64_t)sent * WINDOW_MS / HOLDS - wall_ms();
			cr_assert_gt(ttl, 0, "loading took more than %d ms", LEAD_MS);
			snprintf(order, sizeof(order), "s-%d", sent);
			msgpack_sbuffer_clear(&sb);
			msgpack_packer pk;
			msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
			msgpack_pack_array(&pk, 1);
			msgpack_pack_map(&pk, 3);
			pack_str(&pk, "order_id");
			pack_str(&pk, order);
			pack_str(&pk, "lines");
			msgpack_pack_array(&pk, 1);
			msgpack_pack_map(&pk, 2);
			pack_str(&pk, "sku");
			pack_str(&pk, sku);
			pack_str(&pk, "qty");
			msgpack_pack_int(&pk, 1);
			pack_str(&pk, "ttl_ms");
			msgpack_pack_int64(&pk, ttl);
			cr_assert_eq(allot_client_send_request(cl, "reserve", sb.data, sb.size, NULL, err, sizeof(err)), 0,
			    "%s", err);
			sent++;
		}
		cr_assert_eq(allot_client_recv(cl, &reply, err, sizeof(err)), 0, "%s", err);
		cr_assert_eq(reply.error.type, MSGPACK_OBJECT_NIL, "hold %d was refused", answered);
		const msgpack_object *exp = allot_object_map_get(&reply.result, "expires_at");
		const msgpack_object *rid = allot_object_map_get(&reply.result, "reservation_id");
		cr_assert(exp && exp->type == MSGPACK_OBJECT_POSITIVE_INTEGER && rid && rid->type == MSGPACK_OBJECT_STR);
		int64_t due = (int64_t)exp->via.u64;
		*first = due < *first ? due : *first;
		*last = due > *last ? due : *last;
		if (answered == HOLDS / 2) {
			cr_assert_lt(rid->via.str.size, id_len);
			memcpy(id, rid->via.str.ptr, rid->via.str.size);
			id[rid->via.str.size] = '\0';
			*id_due = due;
		}
		answered++;
	}
	allot_message_clear(&reply);
	msgpack_sbuffer_destroy(&sb);
	cr_assert_lt(wall_ms(), *first, "loading took more than %d ms", LEAD_MS);
}

/* The request right after the storm: all units available, a reserve of
 * all of them holds, the holds read expired at their deadlines. */
static void after_storm(const char *sku, const char *id, int64_t id_due)
{
	json_t *av = ok("avail", json_pack("{s:[s]}", "skus", sku));
	cr_assert_eq(geti(json_object_get(av, sku), "total"), HOLDS, "units of expired holds not available");
	json_decref(av);
	json_t *all = ok("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:i}", "order_id", "all", "lines",
	    "sku", sku, "qty", HOLDS, "ttl_ms", 60000));
	cr_assert_str_eq(json_string_value(json_object_get(all, "status")), "held");
	json_decref(all);
	json_t *g = ok("reservation.get", json_pack("{s:s}", "reservation_id", id));
	cr_assert_str_eq(json_string_value(json_object_get(g, "status")), "expired");
	cr_assert_eq(geti(g, "expires_at"), id_due, "an expired hold keeps its deadline");
	json_decref(g);
	json_t *st = ok("stats", NULL);
	cr_assert_eq(geti(st, "expired_total"), HOLDS);
	cr_assert_eq(geti(json_object_get(st, "reservations"), "held"), 1);
	cr_assert_eq(geti(st, "units_reserved"), HOLDS);
	json_decref(st);
}

static void set_stock(const char *sku)
{
	json_decref(ok("stock.set", json_pack("{s:s, s:s, s:i}", "sku", sku, "location", "W1", "on_hand", HOLDS)));
}

Test(expiry_storm, holds_falling_due_while_allotd_runs_are_available_to_the_next_request, .timeout = 120)
{
	start();
	set_stock("live");
	int64_t first, last, id_due;
	char id[64];
	load("live", &first, &last, id, sizeof(id), &id_due);
	sleep_until_wall(last + 1);
	after_storm("live", id, id_due);
	finish();
}

Test(expiry_storm, holds_falling_due_while_allotd_is_stopped_are_available_after_sigcont, .timeout = 120)
{
	start();
	set_stock("paused");
	int64_t first, last, id_due;
	char id[64];
	load("paused", &first, &last, id, sizeof(id), &id_due);
	sleep_until_wall(first - 200);
	cr_assert_eq(kill(srv->pid, SIGSTOP), 0);
	sleep_until_wall(last + 100);
	cr_assert_eq(kill(srv->pid, SIGCONT), 0);
	after_storm("paused", id, id_due);
	/* While the sweep works through them, what reads show stays. */
	harness_sleep_ms(300);
	json_t *g = ok("reservation.get", json_pack("{s:s}", "reservation_id", id));
	cr_assert_str_eq(json_string_value(json_object_get(g, "status")), "expired");
	json_decref(g);
	json_t *av = ok("avail", json_pack("{s:[s]}", "skus", "paused"));
	cr_assert_eq(geti(json_object_get(av, "paused"), "total"), 0);
	json_decref(av);
	finish();
}
