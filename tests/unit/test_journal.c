/*
 * test_journal.c - journal records rebuild the state exactly.
 *
 * A seeded random mix of every command, reads at arbitrary times and
 * sweeps runs on one core; every success and every sweep that did work is
 * recorded, and each record, decoded, is applied to a second core. Their
 * canonical dumps must match throughout. Records cut short or corrupted
 * are refused without harm.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "durable.h"
#include "journal.h"
#include "replay.h"
#include "random_cmd.h"

#define LINES_MAX 8
#define STEPS 3000

/* journal_decode_format() with lines[0..cap) and room for 16 channel
 * locations: dec() in the current format, dec_v1() in format 1's. */
static int dec_format(const uint8_t *buf, size_t len, uint32_t format, journal_entry *e,
    core_line_req *lines, uint32_t cap, const char **why)
{
	static core_str names[16];
	journal_scratch scratch = { lines, cap, names, 16 };
	return journal_decode_format(buf, len, format, e, &scratch, why);
}

static int dec(const uint8_t *buf, size_t len, journal_entry *e, core_line_req *lines, uint32_t cap,
    const char **why)
{
	static core_str names[16];
	journal_scratch scratch = { lines, cap, names, 16 };
	return journal_decode(buf, len, e, &scratch, why);
}

static int dec_v1(const uint8_t *buf, size_t len, journal_entry *e, core_line_req *lines,
    uint32_t cap, const char **why)
{
	return dec_format(buf, len, 1, e, lines, cap, why);
}

static core_str S(const char *s)
{
	return (core_str){ s, (uint32_t)strlen(s) };
}

static core *mk(void)
{
	core_config cfg;
	core_config_default(&cfg);
	cfg.lines_max = LINES_MAX;
	cfg.retain_ms = 20000;
	cfg.id_epoch = 7;
	core *c = core_create(&cfg);
	cr_assert_not_null(c);
	return c;
}

/* Replay, then bring the replica's clock to the present, as recovery does
 * (only expiries can follow from that); the states must then be equal. */
static void expect_same(core *a, core *b, char *da, char *db, size_t cap, int step)
{
	core_advance(b, core_now(a));
	size_t na = core_dump(a, da, cap), nb = core_dump(b, db, cap);
	cr_assert(na < cap && nb < cap, "dump too large");
	cr_assert(na == nb && memcmp(da, db, na) == 0, "step %d: replay differs:\n%.*s\n---\n%.*s",
	    step, (int)na, da, (int)nb, db);
}

/* Decode the record at the end of the journal and apply it to b. */
static void replay_last(mp_buf *journal, size_t start, core *b, int step)
{
	core_line_req lines[LINES_MAX];
	journal_entry e;
	const char *why = NULL;
	cr_assert_eq(dec(journal->data + start, journal->len - start, &e, lines,
	    LINES_MAX, &why), 0, "step %d: record does not decode: %s", step, why);
	core_error err;
	cr_assert_eq(replay_apply(b, &e, &err), CORE_OK, "step %d: replay failed: %s", step,
	    err.message);
}

static void run(uint64_t seed)
{
	core *a = mk(), *b = mk();
	rng g = { seed };
	mp_buf journal;
	mp_buf_init(&journal);
	size_t cap = 4 << 20;
	char *da = malloc(cap), *db = malloc(cap);
	char (*ids)[32] = calloc(STEPS, 32);
	int nids = 0, records = 0, sweeps = 0;
	int64_t now = 1000;
	for (int step = 0; step < STEPS; step++) {
		uint64_t x = next(&g);
		now += (int64_t)(x % 120);
		if (x % 7 == 0) /* a read, sometimes ahead of the next command */
			core_advance(a, now + (int64_t)((x >> 8) % 200) - 50);
		if (x % 11 == 0) {
			uint32_t budget = 1 + (uint32_t)((x >> 12) % 4);
			int64_t at = core_now(a) > now ? core_now(a) : now;
			uint32_t forgot_r, forgot_k;
			core_sweep(a, now, budget);
			core_sweep_forgot(a, &forgot_r, &forgot_k);
			if (forgot_r + forgot_k > 0) {
				size_t start = journal.len;
				journal_encode_sweep(&journal, at, forgot_r, forgot_k);
				replay_last(&journal, start, b, step);
				sweeps++;
			}
			continue;
		}
		core_cmd cmd;
		core_line_req lines[LINES_MAX];
		char order[32];
		snprintf(order, sizeof(order), "o-%d", step);
		random_cmd(&g, &cmd, lines, ids, nids, order);
		core_result res;
		core_error err;
		if (core_exec(a, &cmd, now, &res, &err) != CORE_OK)
			continue;
		size_t start = journal.len;
		journal_encode_cmd(&journal, &cmd, core_now(a), S(step % 3 ? "web" : "-"));
		cr_assert(!mp_buf_failed(&journal));
		replay_last(&journal, start, b, step);
		records++;
		if (cmd.type == CORE_CMD_RESERVE && !res.replayed) {
			core_resv_view view;
			core_resv_view_get(a, res.resv, &view);
			memcpy(ids[nids++], view.id, sizeof(view.id));
		}
		if (step % 25 == 0)
			expect_same(a, b, da, db, cap, step);
	}
	expect_same(a, b, da, db, cap, STEPS);
	cr_assert_gt(records, STEPS / 3, "too few commands succeeded: %d", records);
	cr_assert_gt(sweeps, 5, "too few sweeps did work: %d", sweeps);
	cr_assert_null(core_check(b));

	/* The whole journal again, from the start, into a third core. */
	core *c = mk();
	size_t pos = 0;
	mp_limits lim = { 1 << 20, 8, 1024, 64, 1024 };
	while (pos < journal.len) {
		size_t len;
		const char *why;
		cr_assert_eq(mp_scan(journal.data + pos, journal.len - pos, &lim, &len, &why), MP_OK);
		core_line_req lines[LINES_MAX];
		journal_entry e;
		cr_assert_eq(dec(journal.data + pos, len, &e, lines, LINES_MAX, &why), 0);
		core_error err;
		cr_assert_eq(replay_apply(c, &e, &err), CORE_OK);
		pos += len;
	}
	expect_same(a, c, da, db, cap, -1);
	core_destroy(a);
	core_destroy(b);
	core_destroy(c);
	mp_buf_finish(&journal);
	free(da);
	free(db);
	free(ids);
}

Test(journal, replaying_the_records_rebuilds_the_state_exactly)
{
	run(1);
	run(20261123);
	run(0xfeedULL);
}

Test(journal, records_cut_short_or_corrupted_are_refused_without_harm)
{
	core_line_req lines[3] = { { S("A"), 2 }, { S("B"), 1 }, { S("C"), 3 } };
	core_cmd cmd = { .type = CORE_CMD_RESERVE };
	cmd.u.reserve = (core_reserve_cmd){ .order_id = S("o-1"), .lines = lines, .nlines = 3,
		.ttl_ms = 60000, .idempotency_key = S("k"), .channel = S("web") };
	mp_buf b;
	mp_buf_init(&b);
	journal_encode_cmd(&b, &cmd, 123456, S("checkout-web"));
	core_line_req out[LINES_MAX];
	journal_entry e;
	const char *why;
	cr_assert_eq(dec(b.data, b.len, &e, out, LINES_MAX, &why), 0);
	cr_assert_eq(e.kind, JOURNAL_KIND_RESERVE);
	cr_assert_eq(e.cmd.type, CORE_CMD_RESERVE);
	cr_assert_eq(e.now_ms, 123456);
	cr_assert_eq(e.cmd.u.reserve.nlines, 3);
	cr_assert_eq(e.cmd.u.reserve.lines[2].qty, 3);
	cr_assert_eq(e.cmd.u.reserve.ttl_ms, 60000);
	cr_assert(e.cmd.u.reserve.customer_id.p == NULL, "an absent string came back present");
	cr_assert_eq(memcmp(e.cmd.u.reserve.channel.p, "web", 3), 0);
	cr_assert(e.who.len == 12 && memcmp(e.who.p, "checkout-web", 12) == 0, "who did not come back");
	/* Every prefix is refused, from an exact-size copy. */
	for (size_t len = 0; len < b.len; len++) {
		uint8_t *copy = malloc(len ? len : 1);
		memcpy(copy, b.data, len);
		cr_assert_eq(dec(copy, len, &e, out, LINES_MAX, &why), -1, "prefix %zu accepted", len);
		cr_assert_not_null(why);
		free(copy);
	}
	/* More lines than the engine allows is refused. */
	cr_assert_eq(dec(b.data, b.len, &e, out, 2, &why), -1);
	/* Random byte flips: decoded or refused, never a crash. */
	uint64_t x = 99;
	for (int i = 0; i < 20000; i++) {
		uint8_t copy[512];
		cr_assert_lt(b.len, sizeof(copy));
		memcpy(copy, b.data, b.len);
		x = x * 6364136223846793005ULL + 1;
		copy[(x >> 33) % b.len] ^= (uint8_t)(1 + (x >> 20) % 255);
		dec(copy, b.len, &e, out, LINES_MAX, &why);
	}
	mp_buf_finish(&b);
}

Test(journal, location_records_round_trip_and_old_reserve_records_still_read)
{
	core_str tags[2] = { S("dc"), S("eu") };
	core_cmd cmd = { .type = CORE_CMD_LOCATION_PUT };
	cmd.u.location = (core_location_cmd){ .location = S("W1"), .has_coords = true, .lat = 52.52,
		.lon = -1.5, .has_cost_per_km = true, .cost_per_km = 0.25, .capacity = 7, .enabled = 0,
		.has_tags = true, .ntags = 2, .tags = tags };
	mp_buf b;
	mp_buf_init(&b);
	journal_encode_cmd(&b, &cmd, 99, S("ops"));
	core_line_req out[LINES_MAX];
	journal_entry e;
	const char *why;
	cr_assert_eq(dec(b.data, b.len, &e, out, LINES_MAX, &why), 0);
	const core_location_cmd *l = &e.cmd.u.location;
	cr_assert_eq(e.kind, JOURNAL_KIND_LOCATION_PUT);
	cr_assert_eq(e.cmd.type, CORE_CMD_LOCATION_PUT);
	cr_assert(l->has_coords && l->lat == 52.52 && l->lon == -1.5);
	cr_assert(!l->has_priority && !l->has_cost && l->has_cost_per_km && l->cost_per_km == 0.25);
	cr_assert_eq(l->capacity, 7);
	cr_assert_eq(l->enabled, 0);
	cr_assert(l->has_tags && l->ntags == 2 && memcmp(l->tags[1].p, "eu", 2) == 0);
	for (size_t len = 0; len < b.len; len++)
		cr_assert_eq(dec(b.data, len, &e, out, LINES_MAX, &why), -1);

	/* A reserve record as written before ship_to and allow_backorder. */
	mp_buf_reset(&b);
	mp_write_array(&b, 12);
	mp_write_uint(&b, JOURNAL_KIND_RESERVE);
	mp_write_int(&b, 5);
	mp_write_lit(&b, "o-1");
	mp_write_array(&b, 2);
	mp_write_lit(&b, "A");
	mp_write_int(&b, 2);
	mp_write_nil(&b);
	mp_write_nil(&b);
	mp_write_int(&b, -1);
	mp_write_uint(&b, 0);
	mp_write_uint(&b, 0);
	mp_write_uint(&b, 0);
	mp_write_bool(&b, false);
	mp_write_nil(&b);
	cr_assert_eq(dec_v1(b.data, b.len, &e, out, LINES_MAX, &why), 0, "%s", why);
	cr_assert(!e.cmd.u.reserve.has_ship_to && !e.cmd.u.reserve.allow_backorder);
	cr_assert_eq(e.cmd.u.reserve.nlines, 1);
	cr_assert_null(e.who.p, "a format-1 record names nobody");
	mp_buf_finish(&b);
}

/* Format 1 wrote [kind, now_ms, field...]; format 2 writes [kind, now_ms,
 * who, field...]. Each reads in its own format only, and a sweep names
 * nobody. */
Test(journal, records_carry_who_and_each_format_reads_its_own)
{
	core_cmd cmd = { .type = CORE_CMD_COMMIT };
	cmd.u.resv = (core_resv_cmd){ .reservation_id = S("r-1") };
	mp_buf b;
	mp_buf_init(&b);
	journal_encode_cmd(&b, &cmd, 7, S("pos@store-9"));
	core_line_req out[LINES_MAX];
	journal_entry e;
	const char *why = NULL;
	cr_assert_eq(dec(b.data, b.len, &e, out, LINES_MAX, &why), 0, "%s", why);
	cr_assert(e.who.len == 11 && memcmp(e.who.p, "pos@store-9", 11) == 0);
	cr_assert(e.cmd.u.resv.reservation_id.len == 3);
	cr_assert_eq(dec_v1(b.data, b.len, &e, out, LINES_MAX, &why), -1,
	    "a format-2 record read as format 1");
	cr_assert_eq(dec_format(b.data, b.len, 2, &e, out, LINES_MAX, &why), 0, "format 3 lays records out as 2");
	cr_assert_eq(dec_format(b.data, b.len, DURABLE_FORMAT + 1, &e, out, LINES_MAX, &why), -1,
	    "an unknown format");

	/* The same commit as format 1 wrote it. */
	mp_buf_reset(&b);
	mp_write_array(&b, 3);
	mp_write_uint(&b, JOURNAL_KIND_COMMIT);
	mp_write_int(&b, 7);
	mp_write_lit(&b, "r-1");
	cr_assert_eq(dec_v1(b.data, b.len, &e, out, LINES_MAX, &why), 0, "%s", why);
	cr_assert(e.who.p == NULL && e.cmd.u.resv.reservation_id.len == 3);
	cr_assert_eq(dec(b.data, b.len, &e, out, LINES_MAX, &why), -1, "a format-1 record read as format 2");

	mp_buf_reset(&b);
	journal_encode_sweep(&b, 9, 2, 1);
	cr_assert_eq(dec(b.data, b.len, &e, out, LINES_MAX, &why), 0, "%s", why);
	cr_assert(e.kind == JOURNAL_KIND_SWEEP && e.who.p == NULL && e.forgot_reservations == 2);

	/* who longer than a NAME may be is refused. */
	mp_buf_reset(&b);
	mp_write_array(&b, 4);
	mp_write_uint(&b, JOURNAL_KIND_COMMIT);
	mp_write_int(&b, 7);
	char longer[JOURNAL_WHO_MAX + 1];
	memset(longer, 'w', sizeof(longer));
	mp_write_str(&b, longer, sizeof(longer));
	mp_write_lit(&b, "r-1");
	cr_assert_eq(dec(b.data, b.len, &e, out, LINES_MAX, &why), -1);
	mp_buf_finish(&b);
}
