/*
 * test_durability_redis.c - allotd and a Redis that is not there or goes
 * away: a Redis that refuses stops allotd at start; when Redis goes away
 * (stopped, killed, or silent) mutations answer UNAVAILABLE and reads go on,
 * and when it comes back nothing acknowledged is missing; a second allotd on
 * a namespace is refused; bad flags stop allotd at start with a message;
 * without Redis, a warning. Each test has its own redis-server and allotd
 * (durability_fixture.h).
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
	int64_t t0 = harness_now_ms();
	int status = harness_run(argv, REFUSED_EXIT_MS + 5000, &out, &errs);
	int64_t took = harness_now_ms() - t0;
	free(out);
	const char *e = ju_kept_text(errs);
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

/* ---- (e) Redis lost while allotd runs ---- */

/*
 * One stock.adjust of +1 to the probe record on a fresh connection.
 * Returns 1 on success, 0 for UNAVAILABLE (within *took ms), -1 when no
 * reply came in timeout_ms (the adjust may still apply later).
 */
static int probe(int timeout_ms, int64_t *took)
{
	char err[512];
	allot_client *c = harness_client(dur_srv, timeout_ms, err, sizeof(err));
	cr_assert_not_null(c, "cannot connect to allotd: %s", err);
	json_t *error, *result;
	int64_t t0 = harness_now_ms();
	int rc = ju_call(c, "stock.adjust", json_pack("{s:s, s:s, s:i}", "sku",
	    "e-probe", "location", "W1", "delta", 1), &error, &result, err,
	    sizeof(err));
	*took = harness_now_ms() - t0;
	allot_client_destroy(c);
	if (rc == ALLOT_CLIENT_ERR_TIMEOUT)
		return -1;
	cr_assert_eq(rc, 0, "stock.adjust: %s", err);
	if (error == NULL)
		return 1;
	cr_assert_str_eq(ju_code_of(error), ALLOT_ERR_UNAVAILABLE, "stock.adjust "
	    "answered %s while Redis was away", ju_text_of(error));
	return 0;
}

/* A mutation that must answer UNAVAILABLE within UNAVAILABLE_REPLY_MS. */
static void refused(const char *method, json_t *params)
{
	int64_t t0 = harness_now_ms();
	fail_with(method, params, ALLOT_ERR_UNAVAILABLE);
	int64_t took = harness_now_ms() - t0;
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
	ju_set_stock("e-A", "W1", 10);
	ju_set_stock("e-B", "W1", 4);
	json_t *held = track(&t, ju_reserve1("e-o1", "e-A", 2, TTL_LONG_MS));
	json_t *paid = track(&t, ju_reserve1("e-o2", "e-A", 3, TTL_LONG_MS));
	ju_by_id("commit", paid);
	ju_set_stock("e-probe", "W1", 0);
	int probes_acked = 0, probes_unknown = 0;
	json_t *before = capture(&t, false);

	if (how == LOSS_KILL) {
		int status = redis_server_kill(dur_rs);
		cr_assert_eq(status, 128 + 9, "redis-server was not killed by "
		    "SIGKILL (status %d)", status);
	} else if (how == LOSS_STOP) {
		int status = redis_server_stop(dur_rs);
		cr_assert_eq(status, 0, "redis-server exited with status %d on "
		    "SIGTERM", status);
	} else {
		cr_assert_eq(redis_server_pause(dur_rs), 0, "cannot SIGSTOP redis");
	}
	int notice_ms = how == LOSS_PAUSE ? REDIS_SILENCE_NOTICED_MS :
	    REDIS_LOSS_NOTICED_MS;

	/* allotd notices within a bound; no mutation succeeds meanwhile. */
	int64_t t0 = harness_now_ms(), took = 0;
	for (;;) {
		int p = probe(1000, &took);
		cr_assert_neq(p, 1, "a mutation succeeded %lld ms after Redis "
		    "stopped", (long long)(harness_now_ms() - t0));
		if (p == 0)
			break;
		probes_unknown++;
		cr_assert_lt(harness_now_ms() - t0, notice_ms, "no mutation answered "
		    "UNAVAILABLE within %d ms of Redis going away", notice_ms);
	}
	cr_log_info("first UNAVAILABLE %lld ms after Redis went away (%lld ms "
	    "to answer)", (long long)(harness_now_ms() - t0), (long long)took);

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
	cr_assert_str_eq(json_string_value(ju_ok("ping", NULL)), "pong");
	json_t *d = durability_stats();
	cr_assert(json_is_false(ju_get(d, "available")), "stats durability while "
	    "Redis is away: %s", ju_text_of(d));
	cr_assert(json_is_false(ju_get(ju_get(d, "redis"), "connected")), "stats "
	    "durability while Redis is away: %s", ju_text_of(d));
	expect_same_state(before, capture(&t, false),
	    "mutations refused while Redis was away");
	fail_with("stock.get", json_pack("{s:s}", "sku", "e-new"),
	    ALLOT_ERR_NOT_FOUND);

	/* Redis returns (same port, same data): mutations succeed again. */
	char err[1024];
	if (how == LOSS_PAUSE)
		cr_assert_eq(redis_server_resume(dur_rs), 0, "cannot SIGCONT redis");
	else
		cr_assert_eq(redis_server_restart(dur_rs, err, sizeof(err)), 0,
		    "cannot restart redis-server: %s", err);
	t0 = harness_now_ms();
	for (;;) {
		int p = probe(2000, &took);
		if (p == 1) {
			probes_acked++;
			break;
		}
		if (p < 0)
			probes_unknown++;
		cr_assert_lt(harness_now_ms() - t0, REDIS_BACK_MS, "mutations still fail "
		    "%d ms after Redis came back", REDIS_BACK_MS);
		harness_sleep_ms(50);
	}
	cr_log_info("mutations succeed again %lld ms after Redis came back",
	    (long long)(harness_now_ms() - t0));
	expect_same_state(before, capture(&t, false), "Redis came back");
	d = durability_stats();
	cr_assert(json_is_true(ju_get(d, "available")) &&
	    json_is_true(ju_get(ju_get(d, "redis"), "connected")), "stats durability "
	    "once Redis is back: %s", ju_text_of(d));
	cr_assert_geq(ju_geti(ju_get(d, "redis"), "reconnects"), 1, "%s", ju_text_of(d));

	/* Changes made now are durable, with everything from before. */
	ju_by_id("commit", held);
	ju_ok("stock.adjust", json_pack("{s:s, s:s, s:i}", "sku", "e-B",
	    "location", "W1", "delta", 5));
	track(&t, ju_reserve1("e-o4", "e-B", 2, TTL_LONG_MS));
	part("fulfill", paid, "e-A", 1);
	before = capture(&t, false);

	bounce(true);
	expect_same_state(before, capture(&t, false),
	    "Redis lost and back, then kill -9");
	json_int_t probe_on_hand = ju_geti(ju_record("e-probe", "W1"), "on_hand");
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
	const char *e = ju_kept_text(errs);
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
		const char *const args[] = { "--redis", dur_rs->url, "--namespace",
			names[i], NULL };
		expect_refused_flags(args, "namespace");
	}
	const char *const long_ns[] = { "--redis", dur_rs->url, "--namespace",
		too_long, NULL };
	expect_refused_flags(long_ns, "namespace");
	const char *const mode[] = { "--redis", dur_rs->url, "--durability", "fast",
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
	const char *e = ju_kept_text(errs);
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

	const char *const with_redis[] = { "--redis", dur_rs->url, "--namespace",
		"h", NULL };
	e = first_stderr(with_redis);
	cr_assert(strstr(e, "durability none") == NULL, "allotd with --redis "
	    "warns of durability none: %s", e);

	char err[512];
	dur_srv = harness_server_start(NULL, err, sizeof(err));
	cr_assert_not_null(dur_srv, "cannot start allotd: %s", err);
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
	ju_set_stock("dup-A", "W1", 10);

	char err[1024];
	harness_server *second = allotd_start_durable(dur_rs, "dup", NULL, err,
	    sizeof(err));
	cr_assert_not_null(second, "cannot start a second allotd: %s", err);
	allot_client *c2 = harness_client(second, 3000, err, sizeof(err));
	cr_assert_not_null(c2, "cannot connect to the second allotd: %s", err);

	json_t *r = ju_ok("stock.adjust", json_pack("{s:s, s:s, s:i}", "sku",
	    "dup-A", "location", "W1", "delta", 1));
	cr_assert_eq(ju_geti(r, "on_hand"), 11);

	/* The second one's changes: none may be answered with success unless
	 * Redis has it, which a restart shows. */
	int second_ok = 0, second_refused = 0, second_silent = 0;
	int64_t second_delta = 0;
	for (int i = 0; i < 4; i++) {
		json_t *error, *result;
		int delta = 100 << i;
		int rc = ju_call(c2, "stock.adjust", json_pack("{s:s, s:s, s:i}",
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
			    "adjust +%d with success: %s", delta, ju_text_of(result));
		} else {
			cr_assert_str_eq(ju_code_of(error), ALLOT_ERR_UNAVAILABLE,
			    "the second allotd answered %s", ju_text_of(error));
			second_refused++;
		}
		harness_sleep_ms(300);
	}
	cr_log_info("second allotd: %d successes, %d UNAVAILABLE, %d without "
	    "a reply in 3 s", second_ok, second_refused, second_silent);

	r = ju_ok("stock.adjust", json_pack("{s:s, s:s, s:i}", "sku", "dup-A",
	    "location", "W1", "delta", 2));
	cr_assert_eq(ju_geti(r, "on_hand"), 13, "the first allotd's record: %s",
	    ju_text_of(r));

	allot_client_destroy(c2);
	allotd_kill(second);
	bounce(true);
	json_int_t on_hand = ju_geti(ju_record("dup-A", "W1"), "on_hand");
	cr_assert_eq(on_hand, 13 + second_delta, "after a restart dup-A@W1 has "
	    "on_hand %lld: the first allotd acknowledged 10 +1 +2 and the second "
	    "acknowledged %lld more in %d successes", (long long)on_hand,
	    (long long)second_delta, second_ok);
	cr_assert_eq(second_ok, 0, "the second allotd on a namespace answered "
	    "%d mutations with success", second_ok);
	down_clean();
}
