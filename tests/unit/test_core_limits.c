/*
 * test_core_limits.c - unit tests of the core's names and limits: control
 * bytes in names, optional strings, the sku, location and reservation
 * tables' bounds, thousands of records, and on_hand that never goes below 0.
 */
#include <criterion/criterion.h>

#include "core_fixture.h"

Test(core, names_with_a_control_byte_at_any_position_are_refused_and_other_bytes_accepted)
{
	core *c = mk();
	core_result res;
	core_error err;
	char name[CORE_NAME_MAX + 1];
	const unsigned char bad[] = { 0x00, 0x01, 0x09, 0x0a, 0x1f, 0x7f };
	for (uint32_t len = 1; len <= CORE_NAME_MAX; len++) {
		for (uint32_t pos = 0; pos < len; pos++)
			for (size_t b = 0; b < sizeof(bad); b++) {
				memset(name, 'a', len);
				name[pos] = (char)bad[b];
				core_str n = { name, len };
				cr_assert(!core_name_valid(n, CORE_NAME_MAX), "len %u pos %u byte %#x", len, pos, bad[b]);
				core_cmd cmd = { .type = CORE_CMD_STOCK_SET };
				cmd.u.stock = (core_stock_cmd){ .sku = n, .location = S("W1"), .on_hand = 1,
					.safety = -1, .if_version = -1 };
				cr_assert_eq(core_exec(c, &cmd, 0, &res, &err), CORE_E_BAD_REQUEST);
				cmd.u.stock.sku = S("A");
				cmd.u.stock.location = n;
				cr_assert_eq(core_exec(c, &cmd, 0, &res, &err), CORE_E_BAD_REQUEST);
			}
		/* Every other byte, UTF-8 included, is fine: ' ', '~', 0x80, 0xff. */
		const unsigned char good[] = { 0x20, 0x7e, 0x80, 0xc3, 0xff };
		for (uint32_t pos = 0; pos < len; pos += 7)
			for (size_t g = 0; g < sizeof(good); g++) {
				memset(name, 'b', len);
				name[pos] = (char)good[g];
				cr_assert(core_name_valid((core_str){ name, len }, CORE_NAME_MAX),
				    "len %u pos %u byte %#x", len, pos, good[g]);
			}
	}
	cr_assert_eq(core_stock_count(c, S("A"), ABSENT), 0);
	memset(name, 'a', sizeof(name));
	cr_assert(!core_name_valid((core_str){ name, CORE_NAME_MAX + 1 }, CORE_NAME_MAX));
	cr_assert(!core_name_valid((core_str){ name, 0 }, CORE_NAME_MAX));
	cr_assert(!core_name_valid(ABSENT, CORE_NAME_MAX));
	/* A 64-byte UTF-8 name is stored and read back. */
	const char *utf8 = "\xc3\xa9";
	char big[CORE_NAME_MAX + 1];
	for (int i = 0; i < CORE_NAME_MAX; i += 2)
		memcpy(big + i, utf8, 2);
	big[CORE_NAME_MAX] = '\0';
	put(c, big, "W1", 3);
	rec_is(c, big, "W1", 3, 0, 0, 0, 1);
	done(c);
}

Test(core, optional_strings_absent_are_fine_and_given_empty_or_bad_are_bad_request)
{
	core *c = mk();
	put(c, "A", "W1", 5);
	core_advance(c, 0);
	char *before = dump(c);
	core_result res;
	core_error err;
	/* Given but empty: an idempotency key, a channel, a customer id. */
	cr_assert_eq(stock_adjust(c, 0, "A", "W1", 1, "", NULL, &res, &err), CORE_E_BAD_REQUEST);
	cr_assert_eq(reserve(c, 0, "o-1", L({ "A" }, { 1 }), 1000, false, "", &res, &err),
	    CORE_E_BAD_REQUEST);
	core_line_req line = { S("A"), 1 };
	core_cmd cmd = { .type = CORE_CMD_RESERVE };
	cmd.u.reserve = (core_reserve_cmd){ .order_id = S("o-1"), .lines = &line, .nlines = 1,
		.ttl_ms = 1000, .channel = S("") };
	cr_assert_eq(core_exec(c, &cmd, 0, &res, &err), CORE_E_BAD_REQUEST);
	cmd.u.reserve.channel = S("web\n");
	cr_assert_eq(core_exec(c, &cmd, 0, &res, &err), CORE_E_BAD_REQUEST);
	cmd.u.reserve.channel = S("abcdefghijklmnopqrstuvwxyz0123456"); /* 33 bytes */
	cr_assert_eq(core_exec(c, &cmd, 0, &res, &err), CORE_E_BAD_REQUEST);
	cmd.u.reserve.channel = ABSENT;
	cmd.u.reserve.customer_id = S("");
	cr_assert_eq(core_exec(c, &cmd, 0, &res, &err), CORE_E_BAD_REQUEST);
	/* A reason with a control character. */
	cr_assert_eq(stock_adjust(c, 0, "A", "W1", 1, NULL, "a\tb", &res, &err), CORE_E_BAD_REQUEST);
	/* stock.get of a given empty location. */
	core_record_view v;
	uint32_t n = 0;
	cr_assert_eq(core_stock_get(c, S("A"), S(""), rec_emit, &v, &n, &err), CORE_E_BAD_REQUEST);
	dump_unchanged(before, c, "a command with a bad optional string");
	free(before);
	/* Valid ones, and an empty reason (free text may be empty); a channel
	 * must have been made by channel.put. */
	cmd.u.reserve.channel = S("web");
	cmd.u.reserve.customer_id = S("cust-9");
	cr_assert_eq(core_exec(c, &cmd, 0, &res, &err), CORE_E_NOT_FOUND);
	core_cmd chan = { .type = CORE_CMD_CHANNEL_PUT };
	chan.u.channel = (core_channel_cmd){ .channel = S("web"), .buffer = -1 };
	cr_assert_eq(core_exec(c, &chan, 0, &res, &err), CORE_OK, "%s", err.message);
	cr_assert_eq(core_exec(c, &cmd, 0, &res, &err), CORE_OK, "%s", err.message);
	cr_assert_eq(stock_adjust(c, 0, "A", "W1", 1, NULL, "", &res, &err), CORE_OK);
	rec_is(c, "A", "W1", 6, 1, 0, 0, 3);
	done(c);
}

Test(core, sku_and_location_limits_are_too_large_and_leave_nothing_half_made)
{
	core_config cfg;
	core_config_default(&cfg);
	cfg.skus_max = 2;
	cfg.locations_max = 2;
	core *c = mk_cfg(&cfg);
	put(c, "A", "W1", 1);
	put(c, "B", "W2", 1);
	core_advance(c, 0);
	char *before = dump(c);
	core_result res;
	core_error err;
	/* A third sku at a new location: TOO_LARGE for the location, or for
	 * the sku with the location prepared; neither may appear. */
	cr_assert_eq(stock_set(c, 0, "C", "W3", 1, -1, -1, &res, &err), CORE_E_TOO_LARGE);
	cr_assert_eq(stock_set(c, 0, "C", "W1", 1, -1, -1, &res, &err), CORE_E_TOO_LARGE);
	cr_assert_eq(stock_adjust(c, 0, "A", "W3", 1, "k", NULL, &res, &err), CORE_E_TOO_LARGE);
	cr_assert_eq(restock(c, 0, "C", "W2", 1, &res, &err), CORE_E_TOO_LARGE);
	dump_unchanged(before, c, "a TOO_LARGE stock command");
	free(before);
	core_stats st;
	core_stats_get(c, &st);
	cr_assert_eq(st.skus, 2);
	cr_assert_eq(st.locations, 2);
	cr_assert_eq(st.records, 2);
	cr_assert_eq(st.idempotency_keys, 0);
	/* Existing skus at existing locations are fine. */
	put(c, "A", "W2", 4);
	put(c, "B", "W1", 4);
	rec_is(c, "A", "W2", 4, 0, 0, 0, 1);
	cr_assert_str_eq(locs_of(c, "B"), "W1=4,W2=1");
	done(c);
}

Test(core, a_full_reservation_table_forgets_the_oldest_finished_one_or_answers_busy)
{
	core_config cfg;
	core_config_default(&cfg);
	cfg.reservations_max = 2;
	core *c = mk_cfg(&cfg);
	put(c, "A", "W1", 10);
	rid a = hold(c, 0, "o-1", L({ "A" }, { 1 }), 60000);
	rid b = hold(c, 0, "o-2", L({ "A" }, { 1 }), 60000);
	core_advance(c, 0);
	char *before = dump(c);
	core_result res;
	core_error err;
	cr_assert_eq(reserve(c, 0, "o-3", L({ "A" }, { 1 }), 60000, false, NULL, &res, &err), CORE_E_BUSY);
	dump_unchanged(before, c, "a BUSY reserve");
	free(before);
	cr_assert_eq(release(c, 0, a.s, NONE, &err), CORE_OK);
	rid d = hold(c, 0, "o-3", L({ "A" }, { 1 }), 60000);
	not_found(c, a.s);
	cr_assert_eq(status_of(c, b.s), CORE_RESV_HELD);
	cr_assert_eq(status_of(c, d.s), CORE_RESV_HELD);
	rec_is(c, "A", "W1", 10, 2, 0, 0, 5);
	done(c);
}

Test(core, thousands_of_skus_and_reservations_stay_consistent_as_the_tables_grow)
{
	core *c = mk();
	enum { N = 5000 };
	static char names[N][16];
	static rid ids[N];
	core_error err;
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "sku-%d", i);
		put(c, names[i], i % 2 ? "W1" : "W2", 2 + i % 3);
	}
	for (int i = 0; i < N; i++)
		ids[i] = hold(c, 1, names[i], L({ names[i] }, { 1 + i % 2 }), 1000 + i);
	for (int i = 0; i < N; i += 3)
		cr_assert_eq(commit(c, 2, ids[i].s, &err), CORE_OK);
	for (int i = 1; i < N; i += 3)
		cr_assert_eq(release(c, 2, ids[i].s, NONE, &err), CORE_OK);
	/* Holds of i % 3 == 2 expire at 1 + 1000 + i: half of them by 3500. */
	core_advance(c, 3500);
	const char *why = core_check(c);
	cr_assert_null(why, "%s", why ? why : "");
	for (int i = 0; i < N; i++) {
		core_resv_status want = i % 3 == 0 ? CORE_RESV_COMMITTED : i % 3 == 1 ? CORE_RESV_RELEASED :
		    1 + 1000 + i <= 3500 ? CORE_RESV_EXPIRED : CORE_RESV_HELD;
		cr_assert_eq(status_of(c, ids[i].s), want, "%s", ids[i].s);
		int64_t qty = 1 + i % 2;
		rec_is(c, names[i], i % 2 ? "W1" : "W2", 2 + i % 3, want == CORE_RESV_HELD ? qty : 0,
		    want == CORE_RESV_COMMITTED ? qty : 0, 0,
		    want == CORE_RESV_COMMITTED || want == CORE_RESV_RELEASED || want == CORE_RESV_EXPIRED ? 3 : 2);
	}
	core_stats st;
	core_stats_get(c, &st);
	cr_assert_eq(st.skus, N);
	cr_assert_eq(st.records, N);
	cr_assert_eq(st.locations, 2);
	done(c);
}

Test(core, fulfilling_more_than_on_hand_after_a_count_leaves_on_hand_at_zero)
{
	/* stock.set may count fewer units than were committed (oversold); the
	 * contract says fulfill lowers on_hand by the units, and on_hand cannot
	 * go below 0. */
	core *c = mk();
	put(c, "A", "W1", 5);
	rid r = hold(c, 0, "o-1", L({ "A" }, { 5 }), 60000);
	core_error err;
	cr_assert_eq(commit(c, 0, r.s, &err), CORE_OK);
	put(c, "A", "W1", 2);
	rec_is(c, "A", "W1", 2, 0, 5, 0, 4);
	cr_assert_eq(fulfill(c, 0, r.s, L({ "A" }, { 1 }), &err), CORE_OK);
	rec_is(c, "A", "W1", 1, 0, 4, 0, 5);
	cr_assert_eq(fulfill(c, 0, r.s, NONE, &err), CORE_OK);
	rec_is(c, "A", "W1", 0, 0, 0, 0, 6);
	cr_assert_eq(status_of(c, r.s), CORE_RESV_FULFILLED);
	line_is(c, r.s, 0, "A", 5, 0, 0, 5, "W1=0");
	done(c);
}
