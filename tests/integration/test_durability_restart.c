/*
 * test_durability_restart.c - allotd with its journal and snapshots in a
 * real Redis: state survives a clean restart, a kill -9, a snapshot followed
 * by more changes; holds expire while allotd is down; async mode; namespaces
 * and the database of the URL; forgetting (--retain-ms, --reservations-max)
 * across restarts; the CLI's dump of the snapshot and the journal. Each test
 * has its own redis-server and allotd (durability_fixture.h).
 */
#include <criterion/criterion.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc_client.h"
#include "allot/protocol.h"
#include "durability_fixture.h"
#include "harness.h"
#include "json_util.h"
#include "redis_harness.h"

/* The suite of test_durability_*.c (durability_fixture.h). */
TestSuite(durability, .init = dur_setup, .fini = dur_teardown, .timeout = 120);

/* ---- (b) clean restart and kill -9 ---- */

Test(durability, state_survives_a_clean_restart_and_a_kill)
{
	up("b", NULL);
	expect_mode("sync");
	tracked t = { 0 };
	json_t *adj, *res;
	build_state(&t, "b", &adj, &res);
	expect_all_acknowledged();
	cr_assert_gt(ju_geti(ju_get(durability_stats(), "journal"), "lsn"), 0);
	json_t *before = capture(&t, true);

	bounce(false);
	expect_same_state(before, capture(&t, true), "a clean restart");

	/* Idempotency keys survived: retries answer the first reply and change
	 * nothing. */
	json_t *again = ju_ok("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}",
	    "sku", "b-A", "location", "W1", "delta", 3, "idempotency_key",
	    "b-adj-1"));
	cr_assert(json_equal(again, adj), "an adjust retried after a restart "
	    "answered %s, the first reply was %s", ju_text_of(again), ju_text_of(adj));
	again = ju_ok("reserve", json_pack(
	    "{s:s, s:[{s:s, s:i}], s:i, s:s, s:s, s:s}", "order_id", "b-o1",
	    "lines", "sku", "b-A", "qty", 4, "ttl_ms", TTL_LONG_MS,
	    "idempotency_key", "b-res-1", "channel", "web", "customer_id",
	    "c-1"));
	cr_assert(json_equal(again, res), "a reserve retried after a restart "
	    "answered %s, the first reply was %s", ju_text_of(again), ju_text_of(res));
	expect_same_state(before, capture(&t, true), "idempotent retries");

	/* New reservations do not reuse an id of the earlier run. */
	json_t *fresh = ju_reserve1("b-o8", "b-B", 1, TTL_LONG_MS);
	for (size_t i = 0; i < t.nids; i++)
		cr_assert_str_neq(id_of(fresh), t.ids[i], "a reservation made "
		    "after the restart got the id %s of an earlier one",
		    t.ids[i]);
	track(&t, fresh);
	/* Changes after a restart, to reservations of the earlier run too. */
	ju_by_id("commit", res);
	ju_ok("stock.adjust", json_pack("{s:s, s:s, s:i}", "sku", "b-C",
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
	ju_set_stock("two-only", "W9", 1);
	down_clean();

	/* The journal is the stream allot:{NS}:journal, and every key of a
	 * namespace starts with allot:{NS}: */
	const char *const xlen[] = { "XLEN", "allot:{ns-one}:journal", NULL };
	cr_assert_gt(redis_int(xlen), 0, "allot:{ns-one}:journal is empty");
	char err[512];
	const char *const keys[] = { "KEYS", "*", NULL };
	redisReply *rep = redis_server_command(dur_rs, err, sizeof(err), keys);
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
	snprintf(url, sizeof(url), "%s/3", dur_rs->url);
	char err[1024];
	const char *const args[] = { "--redis", url, "--namespace", "db3", NULL };
	dur_srv = harness_server_start(args, err, sizeof(err));
	cr_assert_not_null(dur_srv, "cannot start allotd with --redis %s: %s", url,
	    err);
	connect_cli();
	ju_set_stock("db-A", "W1", 4);
	allot_client_destroy(ju_client);
	ju_client = NULL;
	int status = harness_server_stop(dur_srv);
	dur_srv = NULL;
	cr_assert_eq(status, 0);

	redisContext *c = redis_server_connect(dur_rs, 5000, err, sizeof(err));
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

	dur_srv = harness_server_start(args, err, sizeof(err));
	cr_assert_not_null(dur_srv, "cannot restart allotd: %s", err);
	connect_cli();
	json_t *r = ju_record("db-A", "W1");
	cr_assert_eq(ju_geti(r, "on_hand"), 4);
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
	ju_ok("snapshot", json_pack("{}"));
	expect_snapshot_in_redis("c");

	/* Changes after the snapshot, to things it holds and to new ones. */
	ju_by_id("commit", res);
	ju_ok("stock.adjust", json_pack("{s:s, s:s, s:i}", "sku", "c1-A",
	    "location", "W2", "delta", -1));
	build_state(&t, "c2", NULL, NULL);
	json_t *before = capture(&t, true);
	bounce(true);
	expect_same_state(before, capture(&t, true),
	    "a snapshot, more changes, kill -9");

	/* A retry of an adjust from before the snapshot is still recognised. */
	json_t *again = ju_ok("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}",
	    "sku", "c1-A", "location", "W1", "delta", 3, "idempotency_key",
	    "c1-adj-1"));
	cr_assert(json_equal(again, adj), "an adjust from before the snapshot "
	    "retried after recovery answered %s, the first reply was %s",
	    ju_text_of(again), ju_text_of(adj));

	/* A snapshot of the recovered state, then a kill with no change. */
	ju_ok("snapshot", json_pack("{}"));
	expect_snapshot_in_redis("c");
	bounce(true);
	expect_same_state(before, capture(&t, true), "a second snapshot, kill -9");

	/* Snapshot, change, snapshot, change, clean restart. */
	ju_ok("snapshot", NULL);
	build_state(&t, "c3", NULL, NULL);
	ju_ok("snapshot", NULL);
	ju_ok("stock.adjust", json_pack("{s:s, s:s, s:i}", "sku", "c3-B",
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
	ju_set_stock("d-A", "W1", 10);
	json_t *shorter = ju_reserve1("d-short", "d-A", 3, 1500);
	json_t *longer = ju_reserve1("d-long", "d-A", 2, TTL_LONG_MS);
	json_t *paid = ju_reserve1("d-paid", "d-A", 1, 1500);
	ju_by_id("commit", paid);
	/* One that expires while allotd runs, read once expired. */
	json_t *gone = ju_reserve1("d-gone", "d-A", 1, 200);
	harness_sleep_ms(400);
	json_t *gone_before = resv_get(id_of(gone));
	cr_assert_str_eq(ju_gets(gone_before, "status"), "expired");
	json_t *longer_before = resv_get(id_of(longer));
	json_t *paid_before = resv_get(id_of(paid));
	json_t *rec = ju_record("d-A", "W1");
	cr_assert_eq(ju_geti(rec, "reserved"), 5, "%s", ju_text_of(rec));
	json_int_t version = ju_geti(rec, "version");
	json_int_t deadline = ju_geti(shorter, "expires_at");

	if (hard)
		down_hard();
	else
		down_clean();
	harness_sleep_ms(deadline + 300 - harness_wall_ms());
	up("d", NULL);

	json_t *s = resv_get(id_of(shorter));
	cr_assert_str_eq(ju_gets(s, "status"), "expired", "a hold whose deadline "
	    "passed while allotd was down reads %s", ju_text_of(s));
	cr_assert_eq(ju_geti(s, "expires_at"), deadline, "the expired hold's "
	    "expires_at is %lld, its deadline was %lld",
	    (long long)ju_geti(s, "expires_at"), (long long)deadline);
	json_t *alloc = json_array_get(ju_get(json_array_get(ju_get(s, "lines"), 0),
	    "allocations"), 0);
	cr_assert_eq(ju_geti(alloc, "qty"), 3, "the expired hold keeps its "
	    "allocation: %s", ju_text_of(s));
	expect_same_state(longer_before, resv_get(id_of(longer)),
	    "a restart (the long hold)");
	expect_same_state(paid_before, resv_get(id_of(paid)),
	    "a restart (the committed one)");
	expect_same_state(gone_before, resv_get(id_of(gone)),
	    "a restart (the hold that expired earlier)");

	rec = ju_record("d-A", "W1");
	cr_assert_eq(ju_geti(rec, "on_hand"), 10);
	cr_assert_eq(ju_geti(rec, "reserved"), 2, "reserved after the restart: %s",
	    ju_text_of(rec));
	cr_assert_eq(ju_geti(rec, "committed"), 1, "%s", ju_text_of(rec));
	cr_assert_eq(ju_geti(rec, "available"), 7, "the expired hold's units are "
	    "not available again: %s", ju_text_of(rec));
	cr_assert_eq(ju_geti(rec, "version"), version + 1, "the expiry changed the "
	    "record's version from %lld to %lld, expected one step",
	    (long long)version, (long long)ju_geti(rec, "version"));
	json_t *av = ju_ok("avail", json_pack("{s:[s]}", "skus", "d-A"));
	cr_assert_eq(ju_geti(ju_get(av, "d-A"), "total"), 7, "%s", ju_text_of(av));
	fail_with("commit", json_pack("{s:s}", "reservation_id", id_of(shorter)),
	    ALLOT_ERR_INVALID_STATE);

	/* Every available unit can be held again. */
	ju_reserve1("d-new", "d-A", 7, TTL_LONG_MS);

	/* And the expiry itself is durable. */
	json_t *after = resv_get(id_of(shorter));
	bounce(true);
	expect_same_state(after, resv_get(id_of(shorter)), "another kill -9");
	cr_assert_eq(ju_geti(ju_record("d-A", "W1"), "available"), 0);
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
	json_t *again = ju_ok("reserve", json_pack(
	    "{s:s, s:[{s:s, s:i}], s:i, s:s, s:s, s:s}", "order_id", "f-o1",
	    "lines", "sku", "f-A", "qty", 4, "ttl_ms", TTL_LONG_MS,
	    "idempotency_key", "f-res-1", "channel", "web", "customer_id",
	    "c-1"));
	cr_assert(json_equal(again, res), "a reserve made in async mode and "
	    "retried after the restart answered %s, the first reply was %s",
	    ju_text_of(again), ju_text_of(res));
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
	ju_set_stock("g-A", "W1", 100);
	json_t *adj = ju_ok("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}", "sku",
	    "g-A", "location", "W1", "delta", 5, "idempotency_key", "g-adj"));
	/* Eight reservations in a table of six: released ones are dropped,
	 * oldest first, as new ones come. */
	json_t *rs_[8];
	for (int i = 0; i < 8; i++) {
		char order[32];
		snprintf(order, sizeof(order), "g-o%d", i);
		rs_[i] = track(&t, ju_reserve1(order, "g-A", 1, TTL_LONG_MS));
		if (i < 5)
			ju_by_id("release", rs_[i]);
	}
	ju_by_id("commit", rs_[6]);
	json_t *before = capture(&t, true);
	for (int i = 0; i < 5; i++) {
		json_t *r = ju_get(ju_get(before, "reservations"), id_of(rs_[i]));
		const char *code = json_string_value(json_object_get(r, "error"));
		if (i < 2)
			cr_assert(code != NULL && strcmp(code, "NOT_FOUND") == 0,
			    "with --reservations-max 6, the released reservation %d "
			    "of 8 reads %s", i, ju_text_of(r));
		else
			cr_assert(code == NULL, "released reservation %d of 8 was "
			    "forgotten early: %s", i, ju_text_of(r));
	}
	int64_t finished_at = harness_wall_ms();

	bounce(true);
	expect_same_state(before, capture(&t, true), "kill -9 (within retain)");
	json_t *again = ju_ok("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}",
	    "sku", "g-A", "location", "W1", "delta", 5, "idempotency_key",
	    "g-adj"));
	cr_assert(json_equal(again, adj), "the adjust key was forgotten early: "
	    "%s, first %s", ju_text_of(again), ju_text_of(adj));

	/* Down while --retain-ms passes. */
	down_hard();
	harness_sleep_ms(finished_at + 1500 + 300 - harness_wall_ms());
	up("g", args);
	int64_t t0 = harness_now_ms();
	for (;;) {
		int gone = 0;
		for (int i = 0; i < 5; i++)
			gone += json_object_get(resv_read(id_of(rs_[i])), "error") !=
			    NULL;
		if (gone == 5)
			break;
		cr_assert_lt(harness_now_ms() - t0, 1000, "%d of 5 released reservations "
		    "still readable more than --retain-ms after they finished",
		    5 - gone);
		harness_sleep_ms(20);
	}
	for (int i = 5; i < 8; i++) {
		json_t *r = resv_read(id_of(rs_[i]));
		cr_assert(json_object_get(r, "error") == NULL, "live reservation "
		    "%s forgotten: %s", id_of(rs_[i]), ju_text_of(r));
	}
	/* The key is forgotten too: the same adjust is a new change now. */
	again = ju_ok("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}", "sku", "g-A",
	    "location", "W1", "delta", 5, "idempotency_key", "g-adj"));
	cr_assert_eq(ju_geti(again, "on_hand"), 110, "an adjust whose key "
	    "should be forgotten answered %s", ju_text_of(again));
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
	ju_set_stock("dump-A", "W1", 10);
	json_t *res = ju_reserve1("dump-o1", "dump-A", 3, 600000);
	ju_ok("snapshot", json_pack("{}"));
	ju_ok("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}", "sku", "dump-A",
	    "location", "W1", "delta", -1, "reason", "damaged"));
	const char *cli_path = getenv("ALLOT_CLI");
	cr_assert_not_null(cli_path, "ALLOT_CLI is not set");
	const char *argv[] = { cli_path, "snapshot", "dump", "--redis", dur_rs->url,
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
