/*
 * test_core_lifecycle.c - unit tests of a reservation's life in the core:
 * commit, release and fulfill (whole or by line, worst-ranked allocation
 * first), extend, unknown ids, and every invalid state transition.
 */
#include <criterion/criterion.h>

#include "core_fixture.h"

Test(core, commit_moves_held_units_to_committed_and_a_second_commit_changes_nothing)
{
	core *c = mk();
	put(c, "A", "W1", 10);
	put(c, "B", "W1", 10);
	rid r = hold(c, 0, "o-1", L({ "A", "B" }, { 3, 4 }), 60000);
	rec_is(c, "A", "W1", 10, 3, 0, 0, 2);
	core_error err;
	cr_assert_eq(commit(c, 10, r.s, &err), CORE_OK);
	rec_is(c, "A", "W1", 10, 0, 3, 0, 3);
	rec_is(c, "B", "W1", 10, 0, 4, 0, 3);
	core_resv_view v;
	core_resv_view_get(c, find(c, r.s), &v);
	cr_assert_eq(v.status, CORE_RESV_COMMITTED);
	cr_assert_eq(v.expires_at_ms, -1);
	core_stats st;
	stats(c, &st);
	cr_assert_eq(st.units_reserved, 0);
	cr_assert_eq(st.units_committed, 7);
	cr_assert_eq(st.reservations[CORE_RESV_COMMITTED], 1);
	cr_assert_eq(core_next_deadline(c), INT64_MAX);
	/* Committed units no longer expire. */
	cr_assert_eq(core_advance(c, 1000000), 0);
	cr_assert_eq(status_of(c, r.s), CORE_RESV_COMMITTED);
	/* A retried commit succeeds and changes nothing. */
	char *before = dump(c);
	core_result res;
	cr_assert_eq(resv_cmd(c, 1000000, CORE_CMD_COMMIT, r.s, NULL, 0, 0, &res, &err), CORE_OK);
	cr_assert_not_null(res.resv);
	cr_assert_str_eq(id_of(c, res.resv).s, r.s);
	dump_unchanged(before, c, "a second commit");
	free(before);
	done(c);
}

Test(core, unknown_or_malformed_reservation_ids_are_not_found)
{
	core *c = mk();
	put(c, "A", "W1", 10);
	rid r = hold(c, 0, "o-1", L({ "A" }, { 1 }), 60000);
	cr_assert_str_eq(r.s, "r-0000000000000001");
	char *before = dump(c);
	const char *bad[] = { "r-0000000000000002", "r-00000000000000ff", "r-000000000000000", "",
		"r-00000000000000010", "R-0000000000000001", "r-000000000000000G",
		"r-000000000000000A", "x-0000000000000001", "r+0000000000000001" };
	core_error err;
	core_result res;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		not_found(c, bad[i]);
		cr_assert_eq(commit(c, 0, bad[i], &err), CORE_E_NOT_FOUND, "commit %s", bad[i]);
		cr_assert_eq(err.code, CORE_E_NOT_FOUND);
		cr_assert_eq(release(c, 0, bad[i], NONE, &err), CORE_E_NOT_FOUND, "release %s", bad[i]);
		cr_assert_eq(release(c, 0, bad[i], L({ "A" }, { 1 }), &err), CORE_E_NOT_FOUND);
		cr_assert_eq(fulfill(c, 0, bad[i], NONE, &err), CORE_E_NOT_FOUND, "fulfill %s", bad[i]);
		cr_assert_eq(extend(c, 0, bad[i], 1000, &err), CORE_E_NOT_FOUND, "extend %s", bad[i]);
		cr_assert_eq(resv_cmd(c, 0, CORE_CMD_EXTEND, bad[i], NULL, 0, 0, &res, &err),
		    CORE_E_NOT_FOUND);
	}
	dump_unchanged(before, c, "operations on unknown ids");
	free(before);
	cr_assert_eq(status_of(c, r.s), CORE_RESV_HELD);
	done(c);
}

Test(core, release_whole_returns_held_or_committed_units)
{
	core *c = mk();
	put(c, "A", "W1", 2);
	put(c, "A", "W2", 4);
	put(c, "B", "W2", 8);
	rid h = hold(c, 0, "o-1", L({ "A" }, { 5 }), 60000);      /* W1=2 W2=3 */
	rid k = hold(c, 0, "o-2", L({ "A", "B" }, { 1, 2 }), 60000); /* W2 covers */
	line_is(c, h.s, 0, "A", 5, 0, 0, 0, "W1=2,W2=3");
	line_is(c, k.s, 0, "A", 1, 0, 0, 0, "W2=1");
	core_error err;
	cr_assert_eq(commit(c, 0, k.s, &err), CORE_OK);
	rec_is(c, "A", "W2", 4, 3, 1, 0, 4);
	cr_assert_eq(release(c, 5, h.s, NONE, &err), CORE_OK);
	core_resv_view v;
	core_resv_view_get(c, find(c, h.s), &v);
	cr_assert_eq(v.status, CORE_RESV_RELEASED);
	cr_assert_eq(v.expires_at_ms, -1);
	line_is(c, h.s, 0, "A", 5, 0, 5, 0, "W1=0,W2=0");
	rec_is(c, "A", "W1", 2, 0, 0, 0, 3);
	rec_is(c, "A", "W2", 4, 0, 1, 0, 5);
	cr_assert_eq(release(c, 5, k.s, NONE, &err), CORE_OK);
	cr_assert_eq(status_of(c, k.s), CORE_RESV_RELEASED);
	line_is(c, k.s, 0, "A", 1, 0, 1, 0, "W2=0");
	line_is(c, k.s, 1, "B", 2, 0, 2, 0, "W2=0");
	rec_is(c, "A", "W2", 4, 0, 0, 0, 6);
	rec_is(c, "B", "W2", 8, 0, 0, 0, 4);
	core_stats st;
	stats(c, &st);
	cr_assert_eq(st.units_reserved, 0);
	cr_assert_eq(st.units_committed, 0);
	cr_assert_eq(st.reservations[CORE_RESV_RELEASED], 2);
	cr_assert_eq(core_next_deadline(c), INT64_MAX);
	done(c);
}

Test(core, partial_release_and_fulfill_reduce_from_the_worst_ranked_allocation)
{
	core *c = mk();
	put(c, "A", "W1", 2);
	put(c, "A", "W2", 3);
	put(c, "A", "W3", 5);
	put(c, "B", "W1", 4);
	/* No location covers A:5 and B:3 together (W3 has no B). */
	rid r = hold(c, 0, "o-1", L({ "A", "B" }, { 5, 3 }), 60000);
	line_is(c, r.s, 0, "A", 5, 0, 0, 0, "W1=2,W2=3");
	line_is(c, r.s, 1, "B", 3, 0, 0, 0, "W1=3");
	core_error err;
	/* Release 4 of A: 3 from W2 (worst), then 1 from W1. */
	cr_assert_eq(release(c, 0, r.s, L({ "A" }, { 4 }), &err), CORE_OK);
	cr_assert_eq(status_of(c, r.s), CORE_RESV_HELD);
	line_is(c, r.s, 0, "A", 5, 0, 4, 0, "W1=1,W2=0");
	rec_is(c, "A", "W1", 2, 1, 0, 0, 3);
	rec_is(c, "A", "W2", 3, 0, 0, 0, 3);
	rec_is(c, "A", "W3", 5, 0, 0, 0, 1);
	/* Commit moves what is left; the emptied W2 allocation touches nothing. */
	cr_assert_eq(commit(c, 0, r.s, &err), CORE_OK);
	rec_is(c, "A", "W1", 2, 0, 1, 0, 4);
	rec_is(c, "A", "W2", 3, 0, 0, 0, 3);
	rec_is(c, "B", "W1", 4, 0, 3, 0, 3);
	/* Fulfill 2 of B: committed and on_hand go down. */
	cr_assert_eq(fulfill(c, 0, r.s, L({ "B" }, { 2 }), &err), CORE_OK);
	line_is(c, r.s, 1, "B", 3, 0, 0, 2, "W1=1");
	rec_is(c, "B", "W1", 2, 0, 1, 0, 4);
	cr_assert_eq(status_of(c, r.s), CORE_RESV_COMMITTED);
	/* Release the last B from the committed reservation. */
	cr_assert_eq(release(c, 0, r.s, L({ "B" }, { 1 }), &err), CORE_OK);
	line_is(c, r.s, 1, "B", 3, 0, 1, 2, "W1=0");
	rec_is(c, "B", "W1", 2, 0, 0, 0, 5);
	cr_assert_eq(status_of(c, r.s), CORE_RESV_COMMITTED);

	/* Bad lines: more than left, a sku not in it, named twice, nothing
	 * left, qty 0, an empty list. All BAD_REQUEST, nothing changes. */
	char *before = dump(c);
	const lines8 bad[] = {
		L({ "A" }, { 2 }), L({ "X" }, { 1 }), L({ "A", "A" }, { 1, 1 }),
		L({ "B" }, { 1 }), L({ "A" }, { 0 }), L({ "A" }, { -1 }),
		L({ "A", "B", "X" }, { 1, 1, 1 }),
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(release(c, 0, r.s, bad[i], &err), CORE_E_BAD_REQUEST, "release bad[%zu]", i);
		cr_assert_eq(fulfill(c, 0, r.s, bad[i], &err), CORE_E_BAD_REQUEST, "fulfill bad[%zu]", i);
	}
	core_line_req none[1] = { { S("A"), 1 } };
	core_result res;
	cr_assert_eq(resv_cmd(c, 0, CORE_CMD_RELEASE, r.s, none, 0, 0, &res, &err), CORE_E_BAD_REQUEST);
	cr_assert_eq(resv_cmd(c, 0, CORE_CMD_FULFILL, r.s, none, 0, 0, &res, &err), CORE_E_BAD_REQUEST);
	dump_unchanged(before, c, "a release/fulfill with bad lines");
	free(before);

	/* Fulfill the last A: nothing is left and units were fulfilled. */
	cr_assert_eq(fulfill(c, 0, r.s, L({ "A" }, { 1 }), &err), CORE_OK);
	line_is(c, r.s, 0, "A", 5, 0, 4, 1, "W1=0,W2=0");
	rec_is(c, "A", "W1", 1, 0, 0, 0, 5);
	core_resv_view v;
	core_resv_view_get(c, find(c, r.s), &v);
	cr_assert_eq(v.status, CORE_RESV_FULFILLED);
	cr_assert_eq(v.expires_at_ms, -1);
	done(c);
}

Test(core, a_reservation_emptied_by_release_is_fulfilled_if_any_unit_was_fulfilled)
{
	core *c = mk();
	put(c, "A", "W1", 10);
	put(c, "B", "W1", 10);
	core_error err;
	/* Fulfilled some, then released the rest: fulfilled. */
	rid r = hold(c, 0, "o-1", L({ "A", "B" }, { 3, 2 }), 60000);
	cr_assert_eq(commit(c, 0, r.s, &err), CORE_OK);
	cr_assert_eq(fulfill(c, 0, r.s, L({ "A" }, { 1 }), &err), CORE_OK);
	cr_assert_eq(release(c, 0, r.s, NONE, &err), CORE_OK);
	cr_assert_eq(status_of(c, r.s), CORE_RESV_FULFILLED);
	line_is(c, r.s, 0, "A", 3, 0, 2, 1, "W1=0");
	line_is(c, r.s, 1, "B", 2, 0, 2, 0, "W1=0");
	rec_is(c, "A", "W1", 9, 0, 0, 0, 5);
	rec_is(c, "B", "W1", 10, 0, 0, 0, 4);
	/* Released line by line, nothing fulfilled: released. */
	rid s = hold(c, 0, "o-2", L({ "A", "B" }, { 3, 2 }), 60000);
	cr_assert_eq(release(c, 0, s.s, L({ "B", "A" }, { 2, 1 }), &err), CORE_OK);
	cr_assert_eq(status_of(c, s.s), CORE_RESV_HELD);
	line_is(c, s.s, 0, "A", 3, 0, 1, 0, "W1=2");
	line_is(c, s.s, 1, "B", 2, 0, 2, 0, "W1=0");
	cr_assert_eq(release(c, 0, s.s, L({ "A" }, { 2 }), &err), CORE_OK);
	cr_assert_eq(status_of(c, s.s), CORE_RESV_RELEASED);
	rec_is(c, "A", "W1", 9, 0, 0, 0, 8);
	rec_is(c, "B", "W1", 10, 0, 0, 0, 6);
	/* Fulfill whole. */
	rid t = hold(c, 0, "o-3", L({ "A", "B" }, { 4, 5 }), 60000);
	cr_assert_eq(commit(c, 0, t.s, &err), CORE_OK);
	cr_assert_eq(fulfill(c, 0, t.s, NONE, &err), CORE_OK);
	cr_assert_eq(status_of(c, t.s), CORE_RESV_FULFILLED);
	line_is(c, t.s, 0, "A", 4, 0, 0, 4, "W1=0");
	line_is(c, t.s, 1, "B", 5, 0, 0, 5, "W1=0");
	rec_is(c, "A", "W1", 5, 0, 0, 0, 11);
	rec_is(c, "B", "W1", 5, 0, 0, 0, 9);
	done(c);
}

Test(core, every_invalid_state_transition_is_refused_and_changes_nothing)
{
	core_config cfg;
	core_config_default(&cfg);
	core *c = mk_cfg(&cfg);
	put(c, "A", "W1", 100);
	core_error err;
	rid held = hold(c, 0, "o-held", L({ "A" }, { 1 }), 1000000);
	rid committed = hold(c, 0, "o-committed", L({ "A" }, { 1 }), 1000000);
	cr_assert_eq(commit(c, 0, committed.s, &err), CORE_OK);
	rid released = hold(c, 0, "o-released", L({ "A" }, { 1 }), 1000000);
	cr_assert_eq(release(c, 0, released.s, NONE, &err), CORE_OK);
	rid released_c = hold(c, 0, "o-released-c", L({ "A" }, { 1 }), 1000000);
	cr_assert_eq(commit(c, 0, released_c.s, &err), CORE_OK);
	cr_assert_eq(release(c, 0, released_c.s, NONE, &err), CORE_OK);
	rid fulfilled = hold(c, 0, "o-fulfilled", L({ "A" }, { 1 }), 1000000);
	cr_assert_eq(commit(c, 0, fulfilled.s, &err), CORE_OK);
	cr_assert_eq(fulfill(c, 0, fulfilled.s, NONE, &err), CORE_OK);
	rid expired = hold(c, 0, "o-expired", L({ "A" }, { 1 }), 10);
	cr_assert_eq(core_advance(c, 10), 1);
	cr_assert_eq(status_of(c, held.s), CORE_RESV_HELD);
	cr_assert_eq(status_of(c, committed.s), CORE_RESV_COMMITTED);
	cr_assert_eq(status_of(c, released.s), CORE_RESV_RELEASED);
	cr_assert_eq(status_of(c, released_c.s), CORE_RESV_RELEASED);
	cr_assert_eq(status_of(c, fulfilled.s), CORE_RESV_FULFILLED);
	cr_assert_eq(status_of(c, expired.s), CORE_RESV_EXPIRED);

	char *before = dump(c);
	const char *finished[] = { released.s, released_c.s, fulfilled.s, expired.s };
	for (int i = 0; i < 4; i++) {
		const char *id = finished[i];
		cr_assert_eq(commit(c, 10, id, &err), CORE_E_INVALID_STATE, "commit %s", id);
		cr_assert_eq(err.code, CORE_E_INVALID_STATE);
		cr_assert_eq(release(c, 10, id, NONE, &err), CORE_E_INVALID_STATE, "release %s", id);
		cr_assert_eq(release(c, 10, id, L({ "A" }, { 1 }), &err), CORE_E_INVALID_STATE);
		cr_assert_eq(fulfill(c, 10, id, NONE, &err), CORE_E_INVALID_STATE, "fulfill %s", id);
		cr_assert_eq(fulfill(c, 10, id, L({ "A" }, { 1 }), &err), CORE_E_INVALID_STATE);
		cr_assert_eq(extend(c, 10, id, 1000, &err), CORE_E_INVALID_STATE, "extend %s", id);
	}
	/* held cannot be fulfilled; committed cannot be extended. */
	cr_assert_eq(fulfill(c, 10, held.s, NONE, &err), CORE_E_INVALID_STATE);
	cr_assert_eq(fulfill(c, 10, held.s, L({ "A" }, { 1 }), &err), CORE_E_INVALID_STATE);
	cr_assert_eq(extend(c, 10, committed.s, 1000, &err), CORE_E_INVALID_STATE);
	dump_unchanged(before, c, "an INVALID_STATE command");
	free(before);
	/* v1 set; reserve+commit 2-4; reserve+release 5-6; reserve+commit+
	 * release 7-9; reserve+commit+fulfill 10-12; reserve+expiry 13-14. */
	rec_is(c, "A", "W1", 99, 1, 1, 0, 14);
	done(c);
}

Test(core, extend_sets_the_deadline_to_now_plus_ttl_even_earlier_and_only_while_held)
{
	core_config cfg;
	core_config_default(&cfg);
	cfg.ttl_max_ms = 100000;
	core *c = mk_cfg(&cfg);
	put(c, "A", "W1", 10);
	rid r = hold(c, 0, "o-1", L({ "A" }, { 2 }), 1000);
	core_error err;
	core_result res;
	cr_assert_eq(resv_cmd(c, 500, CORE_CMD_EXTEND, r.s, NULL, 0, 5000, &res, &err), CORE_OK);
	core_resv_view v;
	core_resv_view_get(c, res.resv, &v);
	cr_assert_eq(v.status, CORE_RESV_HELD);
	cr_assert_eq(v.expires_at_ms, 5500);
	cr_assert_eq(core_next_deadline(c), 5500);
	cr_assert_eq(core_advance(c, 1000), 0);
	cr_assert_eq(status_of(c, r.s), CORE_RESV_HELD);
	/* Extend never bumps record versions. */
	rec_is(c, "A", "W1", 10, 2, 0, 0, 2);
	/* Earlier than before. */
	cr_assert_eq(extend(c, 2000, r.s, 100, &err), CORE_OK);
	core_resv_view_get(c, find(c, r.s), &v);
	cr_assert_eq(v.expires_at_ms, 2100);
	/* ttl bounds. */
	char *before = dump(c);
	cr_assert_eq(extend(c, 2000, r.s, 0, &err), CORE_E_BAD_REQUEST);
	cr_assert_eq(extend(c, 2000, r.s, -1, &err), CORE_E_BAD_REQUEST);
	cr_assert_eq(extend(c, 2000, r.s, 100001, &err), CORE_E_BAD_REQUEST);
	dump_unchanged(before, c, "an extend with a bad ttl");
	free(before);
	cr_assert_eq(core_advance(c, 2099), 0);
	cr_assert_eq(status_of(c, r.s), CORE_RESV_HELD);
	cr_assert_eq(core_advance(c, 2100), 1);
	core_resv_view_get(c, find(c, r.s), &v);
	cr_assert_eq(v.status, CORE_RESV_EXPIRED);
	cr_assert_eq(v.expires_at_ms, 2100);
	rec_is(c, "A", "W1", 10, 0, 0, 0, 3);
	cr_assert_eq(extend(c, 2100, r.s, 1000, &err), CORE_E_INVALID_STATE);
	/* Max ttl is accepted. */
	rid s = hold(c, 3000, "o-2", L({ "A" }, { 1 }), 5);
	cr_assert_eq(extend(c, 3000, s.s, 100000, &err), CORE_OK);
	core_resv_view_get(c, find(c, s.s), &v);
	cr_assert_eq(v.expires_at_ms, 103000);
	done(c);
}
