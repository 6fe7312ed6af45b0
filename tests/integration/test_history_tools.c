/*
 * test_history_tools.c - the history's commands against a real
 * redis-server and allotd: `allot audit` shows who changed a sku's
 * records, what and why (two named tokens); `allot archive` copies the
 * journal and snapshots, resumes, and holds back allotd's trimming until
 * it has copied; `allot replay` without overrides reproduces the recorded
 * world exactly; `allot explain` agrees with the explain reserve gave.
 */
#include "durability_fixture.h"

#include <inttypes.h>
#include <unistd.h>

#include "access_util.h"

TestSuite(history_tools, .init = dur_setup, .fini = dur_teardown, .timeout = 180);

/* Run the allot CLI with args (NULL-terminated, after "allot"): its
 * stdout (kept); the exit status must be want. */
static const char *cli(int want, const char *const *args)
{
	const char *argv[32] = { getenv("ALLOT_CLI") };
	size_t n = 1;
	for (; args[n - 1] && n < 31; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	char *out = NULL, *err = NULL;
	int status = harness_run(argv, 60000, &out, &err);
	cr_assert_eq(status, want, "allot %s %s exited %d (not %d): %s\n%s", args[0], args[1], status,
	    want, err, out);
	const char *kept = json_string_value(ju_keep(json_string(out ? out : "")));
	free(out);
	free(err);
	return kept;
}

/* JSON lines as an array (kept). */
static json_t *lines_of(const char *text)
{
	json_t *all = ju_keep(json_array());
	char *copy = strdup(text);
	for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n")) {
		json_error_t jerr;
		json_t *o = json_loads(line, 0, &jerr);
		cr_assert_not_null(o, "not JSON: %s", line);
		json_array_append_new(all, o);
	}
	free(copy);
	return all;
}

static json_t *parsed(const char *text)
{
	json_error_t jerr;
	json_t *o = json_loads(text, 0, &jerr);
	cr_assert_not_null(o, "not JSON (%s): %s", jerr.text, text);
	return ju_keep(o);
}

static void expect_change(json_t *ev, const char *who, const char *method, const char *bucket,
    int before, int after, const char *reason)
{
	const char *text = ju_text_of(ev);
	cr_assert_str_eq(ju_gets(ev, "who"), who, "audit line %s", text);
	cr_assert_str_eq(ju_gets(ev, "method"), method, "audit line %s", text);
	json_t *ch = json_object_get(ju_get(ev, "changes"), bucket);
	cr_assert(json_is_array(ch), "audit line %s has no change of %s", text, bucket);
	cr_assert_eq(json_integer_value(json_array_get(ch, 0)), before, "audit line %s", text);
	cr_assert_eq(json_integer_value(json_array_get(ch, 1)), after, "audit line %s", text);
	if (reason)
		cr_assert_str_eq(ju_gets(ev, "reason"), reason, "audit line %s", text);
}

Test(history_tools, audit_shows_who_changed_what_and_why)
{
	au_token alice, bob;
	au_token_new(&alice, "alice", "admin");
	au_token_new(&bob, "bob", "checkout");
	char path[128], text[2 * AU_LINE_MAX + 8];
	au_path(path, sizeof(path), "history.tokens");
	snprintf(text, sizeof(text), "%s\n%s\n", alice.line, bob.line);
	au_write(path, text);
	const char *args[] = { "--auth-file", path, NULL };
	char err[512];
	dur_srv = allotd_start_durable(dur_rs, "aud", args, err, sizeof(err));
	cr_assert_not_null(dur_srv, "%s", err);
	allot_client *a = au_client(dur_srv, alice.token), *b = au_client(dur_srv, bob.token);
	cr_assert_str_empty(au_call(a, "stock.set", "{\"sku\":\"S1\",\"location\":\"W1\",\"on_hand\":10}", NULL));
	cr_assert_str_empty(au_call(a, "stock.adjust", "{\"sku\":\"S1\",\"location\":\"W1\",\"delta\":-2,"
	    "\"reason\":\"damaged\"}", NULL));
	cr_assert_str_empty(au_call(b, "reserve", "{\"order_id\":\"o-7\",\"lines\":[{\"sku\":\"S1\",\"qty\":3}]}",
	    NULL));
	cr_assert_str_empty(au_call(a, "stock.set", "{\"sku\":\"S2\",\"location\":\"W1\",\"on_hand\":4}", NULL));
	cr_assert_str_empty(au_call(a, "snapshot", NULL, NULL));
	cr_assert_str_empty(au_call(a, "restock", "{\"sku\":\"S1\",\"location\":\"W1\",\"qty\":1,"
	    "\"reason\":\"returned\"}", NULL));
	allot_client_destroy(a);
	allot_client_destroy(b);
	unlink(path);

	const char *audit[] = { "audit", "--sku", "S1", "--redis", dur_rs->url, "--namespace", "aud",
		"--json", NULL };
	json_t *ev = lines_of(cli(0, audit));
	cr_assert_eq(json_array_size(ev), 4, "audit printed %s", ju_text_of(ev));
	expect_change(json_array_get(ev, 0), "alice", "stock.set", "on_hand", 0, 10, NULL);
	expect_change(json_array_get(ev, 1), "alice", "stock.adjust", "on_hand", 10, 8, "damaged");
	expect_change(json_array_get(ev, 2), "bob", "reserve", "reserved", 0, 3, NULL);
	cr_assert_str_eq(ju_gets(json_array_get(ev, 2), "order_id"), "o-7");
	cr_assert_not_null(json_object_get(json_array_get(ev, 2), "reservation_id"));
	expect_change(json_array_get(ev, 3), "alice", "restock", "on_hand", 8, 9, "returned");
}

Test(history_tools, audit_shows_an_expiry_at_its_deadline)
{
	up("exp", NULL);
	ju_set_stock("E1", "W1", 5);
	json_t *r = ju_reserve1("o-e", "E1", 2, 200);
	harness_sleep_ms(400);
	ju_set_stock("E2", "W1", 1); /* a record after the deadline */
	const char *audit[] = { "audit", "--sku", "E1", "--redis", dur_rs->url, "--namespace", "exp",
		"--json", NULL };
	json_t *ev = lines_of(cli(0, audit));
	cr_assert_eq(json_array_size(ev), 3, "audit printed %s", ju_text_of(ev));
	json_t *x = json_array_get(ev, 2);
	expect_change(x, "-", "expire", "reserved", 2, 0, NULL);
	cr_assert_str_eq(ju_gets(x, "expired"), id_of(r));
	json_int_t at_reserve = ju_geti(json_array_get(ev, 1), "at");
	cr_assert_eq(ju_geti(x, "at"), at_reserve + 200, "the expiry shows at its deadline: %s",
	    ju_text_of(ev));
}

/* Three locations with coordinates, three skus, and a day's worth of
 * orders in miniature: reserves with ship_to, commits, releases, fulfils,
 * with snapshots between. Returns the reserve replies kept in ids. */
static void record_demand(const char *prefix, json_t **replies, size_t n)
{
	static const char *const locs[] = { "BER", "MUC", "HAM" };
	static const double coords[][2] = { { 52.52, 13.40 }, { 48.14, 11.58 }, { 53.55, 9.99 } };
	for (int i = 0; i < 3; i++)
		ju_ok("location.put", json_pack("{s:s, s:f, s:f, s:i, s:f, s:f}", "location", locs[i], "lat",
		    coords[i][0], "lon", coords[i][1], "priority", i, "cost", 2.0 + i, "cost_per_km", 0.01));
	char sku[64], order[64];
	for (int s = 0; s < 3; s++)
		for (int l = 0; l < 3; l++) {
			snprintf(sku, sizeof(sku), "%s-%d", prefix, s);
			ju_set_stock(sku, locs[l], 6 + 3 * l);
		}
	for (size_t i = 0; i < n; i++) {
		snprintf(order, sizeof(order), "%s-o%zu", prefix, i);
		snprintf(sku, sizeof(sku), "%s-%zu", prefix, i % 3);
		json_t *res = ju_ok("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:{s:f, s:f}, s:b, s:i}",
		    "order_id", order, "lines", "sku", sku, "qty", 1 + (int)(i % 4), "ship_to", "lat",
		    coords[i % 3][0] + 0.3, "lon", coords[i % 3][1] - 0.2, "allow_partial", 1, "ttl_ms",
		    TTL_LONG_MS));
		replies[i] = res;
		if (i % 3 == 0)
			ju_by_id("commit", res);
		if (i % 6 == 0)
			ju_by_id("fulfill", res);
		else if (i % 5 == 1)
			ju_by_id("release", res);
		if (i % 7 == 3)
			ju_ok("snapshot", NULL);
	}
}

Test(history_tools, archive_and_replay_without_overrides_reproduce_the_recorded_world)
{
	up("rep", NULL);
	ju_set_stock("warm", "BER", 1);
	int64_t t1 = harness_wall_ms();
	harness_sleep_ms(5);
	json_t *replies[24];
	record_demand("rp", replies, 24);
	harness_sleep_ms(5);
	int64_t t2 = harness_wall_ms();
	char dir[128], from[24], to[24];
	au_path(dir, sizeof(dir), "archive");
	snprintf(from, sizeof(from), "%" PRId64, t1);
	snprintf(to, sizeof(to), "%" PRId64, t2);
	const char *archive[] = { "archive", "--redis", dur_rs->url, "--namespace", "rep", "--dir", dir,
		"--once", NULL };
	cli(0, archive);

	const char *replay[] = { "replay", "--dir", dir, "--from", from, "--to", to, "--json", NULL };
	json_t *out = parsed(cli(0, replay));
	json_t *rec = ju_get(out, "recorded"), *what = ju_get(out, "what_if");
	cr_assert(json_equal(rec, what), "without overrides the worlds differ: %s", ju_text_of(out));
	cr_assert_eq(ju_geti(rec, "orders"), 24, "%s", ju_text_of(out));
	cr_assert_gt(ju_geti(rec, "held"), 0, "%s", ju_text_of(out));
	cr_assert_gt(json_real_value(ju_get(rec, "km")), 0.0, "%s", ju_text_of(out));
	cr_assert_eq(json_object_size(ju_get(out, "recorded")), 10, "S has exactly API.md's keys: %s",
	    ju_text_of(out));

	/* From Redis too, and the same. */
	const char *replay_redis[] = { "replay", "--redis", dur_rs->url, "--namespace", "rep", "--from",
		from, "--to", to, "--json", NULL };
	cr_assert(json_equal(out, parsed(cli(0, replay_redis))), "Redis and the archive replay alike");

	/* Nearest-first re-plans the same orders and ships from elsewhere. */
	const char *nearest[] = { "replay", "--dir", dir, "--from", from, "--to", to, "--json",
		"--strategy", "nearest", NULL };
	json_t *near = parsed(cli(0, nearest));
	cr_assert(json_equal(ju_get(near, "recorded"), rec), "the recorded world does not change");
	cr_assert_eq(ju_geti(ju_get(near, "what_if"), "orders"), 24);
	cr_assert_lt(json_real_value(ju_get(ju_get(near, "what_if"), "km")),
	    json_real_value(ju_get(rec, "km")), "nearest-first should ship shorter: %s", ju_text_of(near));

	/* The HTML report stands alone. */
	char html[160];
	snprintf(html, sizeof(html), "%s.html", dir);
	const char *report[] = { "replay", "--dir", dir, "--from", from, "--to", to, "--html", html,
		"--strategy", "nearest", NULL };
	cli(0, report);
	char *page = au_slurp(html);
	cr_assert(strstr(page, "<svg") != NULL && strstr(page, "Units per location") != NULL,
	    "the report has its charts");
	cr_assert(strstr(page, "src=\"http") == NULL && strstr(page, "href=\"http") == NULL,
	    "the report needs nothing outside itself");
	free(page);
	unlink(html);
}

Test(history_tools, explain_agrees_with_the_explain_given_at_reserve_time)
{
	up("exq", NULL);
	json_t *replies[8];
	record_demand("ex", replies, 8);
	json_t *given = ju_ok("reserve", json_pack("{s:s, s:[{s:s, s:i}], s:{s:f, s:f}, s:s, s:b}",
	    "order_id", "o-explained", "lines", "sku", "ex-1", "qty", 5, "ship_to", "lat", 50.0, "lon",
	    10.0, "strategy", "cheapest", "explain", 1));
	ju_ok("stock.adjust", json_pack("{s:s, s:s, s:i}", "sku", "ex-1", "location", "HAM", "delta", 1));
	ju_ok("snapshot", NULL);
	char dir[128];
	au_path(dir, sizeof(dir), "explain");
	const char *archive[] = { "archive", "--redis", dur_rs->url, "--namespace", "exq", "--dir", dir,
		"--once", NULL };
	cli(0, archive);
	const char *explain[] = { "explain", id_of(given), "--dir", dir, NULL };
	json_t *again = parsed(cli(0, explain));
	cr_assert(json_equal(again, given), "allot explain gave\n%s\nreserve gave\n%s", ju_text_of(again),
	    ju_text_of(given));
	const char *from_redis[] = { "explain", id_of(given), "--redis", dur_rs->url, "--namespace", "exq",
		NULL };
	cr_assert(json_equal(parsed(cli(0, from_redis)), given), "from Redis too");
}

Test(history_tools, nothing_an_archiver_has_not_copied_is_trimmed_and_it_resumes)
{
	/* History bounded to 1 byte beyond the newest snapshot: allotd would
	 * trim everything before it at each snapshot but for the archiver. */
	static const char *const args[] = { "--journal-keep-bytes", "1", NULL };
	up("arc", args);
	ju_set_stock("A1", "W1", 3);
	ju_set_stock("A2", "W1", 3);
	char dir[128];
	au_path(dir, sizeof(dir), "resume");
	const char *archive[] = { "archive", "--redis", dur_rs->url, "--namespace", "arc", "--dir", dir,
		"--once", NULL };
	cli(0, archive); /* copies records 1 and 2, and registers */
	ju_set_stock("A3", "W1", 3);
	ju_ok("snapshot", NULL);
	cr_assert_eq(dur_journal_first_lsn("arc"), 3, "the journal the archiver has not copied is kept "
	    "(the journal begins at %lld)", dur_journal_first_lsn("arc"));
	cli(0, archive); /* resumes: copies record 3 and the snapshot */
	char *pos = NULL;
	char path[160];
	snprintf(path, sizeof(path), "%s/POSITION", dir);
	pos = au_slurp(path);
	cr_assert(strncmp(pos, "lsn 3\nsnap_lsn 3\n", 17) == 0, "POSITION is %s", pos);
	free(pos);
	ju_set_stock("A4", "W1", 3);
	ju_ok("snapshot", NULL);
	cr_assert_eq(dur_journal_first_lsn("arc"), 4, "what the archiver copied is trimmed as "
	    "--journal-keep-bytes says, record 4 (not copied yet) is kept");
	const char *audit[] = { "audit", "--sku", "A3", "--dir", dir, "--json", NULL };
	cr_assert_eq(json_array_size(lines_of(cli(0, audit))), 1, "the archive holds A3's history");
}
