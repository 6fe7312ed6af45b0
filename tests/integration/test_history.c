/*
 * test_history.c - the history kept in Redis, against a real
 * redis-server: the journal is no longer trimmed at each snapshot but
 * kept for --journal-keep-ms and at most --journal-keep-bytes, with the
 * snapshots it needs; stats says what is kept.
 */
#include "durability_fixture.h"

#include <inttypes.h>

TestSuite(history, .init = dur_setup, .fini = dur_teardown, .timeout = 120);

static long long hlen(const char *ns, const char *what)
{
	char key[128];
	snprintf(key, sizeof(key), "allot:{%s}:%s", ns, what);
	const char *const words[] = { "HLEN", key, NULL };
	return redis_int(words);
}

static json_t *history_stats(void)
{
	return ju_get(durability_stats(), "history");
}

/* Some changes, then a snapshot: three times. */
static void three_snapshots(const char *prefix)
{
	char sku[64];
	for (int round = 0; round < 3; round++) {
		snprintf(sku, sizeof(sku), "%s-%d", prefix, round);
		ju_set_stock(sku, "W1", 10 + round);
		ju_ok("stock.adjust", json_pack("{s:s, s:s, s:i, s:s}", "sku", sku, "location", "W1",
		    "delta", -1, "reason", "damaged"));
		ju_ok("snapshot", NULL);
	}
}

Test(history, the_journal_before_three_snapshots_is_still_there)
{
	up("h3", NULL);
	three_snapshots("h3");
	expect_all_acknowledged();
	cr_assert_eq(dur_journal_first_lsn("h3"), 1, "after three snapshots the journal should still begin "
	    "with record 1, it begins with %lld", dur_journal_first_lsn("h3"));
	cr_assert_eq(hlen("h3", "snaps"), 3, "the history should keep the three snapshots");
	json_t *h = history_stats();
	cr_assert_eq(ju_geti(h, "from_lsn"), 0, "stats durability.history is %s", ju_text_of(h));
	cr_assert_eq(ju_geti(h, "records"), 6, "stats durability.history is %s", ju_text_of(h));
	cr_assert_gt(ju_geti(h, "bytes"), 0, "stats durability.history is %s", ju_text_of(h));
	cr_assert_gt(ju_geti(h, "oldest_at_ms"), 1600000000000LL, "stats durability.history is %s",
	    ju_text_of(h));

	/* A restart reads the same history back, and keeps it. */
	bounce(false);
	h = history_stats();
	cr_assert_eq(ju_geti(h, "records"), 6, "after a restart stats durability.history is %s",
	    ju_text_of(h));
	ju_ok("stock.adjust", json_pack("{s:s, s:s, s:i}", "sku", "h3-0", "location", "W1", "delta", 1));
	ju_ok("snapshot", NULL);
	cr_assert_eq(dur_journal_first_lsn("h3"), 1, "after a restart and a fourth snapshot");
	cr_assert_eq(hlen("h3", "snaps"), 4, "the history should keep the four snapshots");
}

Test(history, keep_ms_0_trims_at_each_snapshot_as_before)
{
	static const char *const args[] = { "--journal-keep-ms", "0", NULL };
	up("h0", args);
	three_snapshots("h0");
	expect_all_acknowledged();
	cr_assert_eq(dur_journal_first_lsn("h0"), 0, "with --journal-keep-ms 0 the journal before the "
	    "snapshot should be trimmed");
	cr_assert_eq(hlen("h0", "snaps"), 1, "only the current snapshot should be left");
	json_t *h = history_stats();
	cr_assert_eq(ju_geti(h, "from_lsn"), 6, "stats durability.history is %s", ju_text_of(h));
	cr_assert_eq(ju_geti(h, "records"), 0, "stats durability.history is %s", ju_text_of(h));
}

Test(history, keep_bytes_bounds_the_journal_kept)
{
	static const char *const args[] = { "--journal-keep-bytes", "1", NULL };
	up("hb", args);
	three_snapshots("hb");
	ju_ok("stock.adjust", json_pack("{s:s, s:s, s:i}", "sku", "hb-0", "location", "W1", "delta", 1));
	expect_all_acknowledged();
	/* Beyond the bound, the history starts at the newest snapshot. */
	cr_assert_eq(dur_journal_first_lsn("hb"), 7, "the journal should begin after the newest snapshot");
	cr_assert_eq(hlen("hb", "snaps"), 1, "only the newest snapshot should be kept");
	json_t *h = history_stats();
	cr_assert_eq(ju_geti(h, "records"), 1, "stats durability.history is %s", ju_text_of(h));
}
