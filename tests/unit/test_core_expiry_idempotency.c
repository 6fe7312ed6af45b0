/*
 * test_core_expiry_idempotency.c - unit tests of expiry at the exact
 * deadline, the idempotent reserve's replay, and what core_sweep forgets
 * (after retain_ms, within its budget, never a live reservation).
 */
#include <criterion/criterion.h>

#include "core_fixture.h"

Test(core, a_hold_with_ttl_1000_from_t0_is_held_at_999_and_expired_at_1000_by_advance_alone)
{
	core *c = mk();
	put(c, "A", "W1", 5);
	put(c, "A", "W2", 5);
	rid r = hold(c, 0, "o-1", L({ "A" }, { 7 }), 1000);
	cr_assert_eq(core_next_deadline(c), 1000);
	rec_is(c, "A", "W1", 5, 5, 0, 0, 2);
	rec_is(c, "A", "W2", 5, 2, 0, 0, 2);
	cr_assert_eq(core_advance(c, 999), 0);
	core_resv_view v;
	core_resv_view_get(c, find(c, r.s), &v);
	cr_assert_eq(v.status, CORE_RESV_HELD);
	cr_assert_eq(v.expires_at_ms, 1000);
	rec_is(c, "A", "W1", 5, 5, 0, 0, 2);
	cr_assert_eq(core_advance(c, 1000), 1);
	core_resv_view_get(c, find(c, r.s), &v);
	cr_assert_eq(v.status, CORE_RESV_EXPIRED);
	cr_assert_eq(v.expires_at_ms, 1000);
	/* The expired reservation keeps the allocations it had. */
	line_is(c, r.s, 0, "A", 7, 0, 0, 0, "W1=5,W2=2");
	rec_is(c, "A", "W1", 5, 0, 0, 0, 3);
	rec_is(c, "A", "W2", 5, 0, 0, 0, 3);
	core_stats st;
	stats(c, &st);
	cr_assert_eq(st.expired_total, 1);
	cr_assert_eq(st.units_reserved, 0);
	cr_assert_eq(st.reservations[CORE_RESV_EXPIRED], 1);
	cr_assert_eq(st.reservations[CORE_RESV_HELD], 0);
	cr_assert_eq(core_next_deadline(c), INT64_MAX);
	/* Advancing again expires nothing more; the clock never goes back. */
	cr_assert_eq(core_advance(c, 500), 0);
	stats(c, &st);
	cr_assert_eq(st.now_ms, 1000);
	/* An expired hold cannot be committed. */
	core_error err;
	char *before = dump(c);
	cr_assert_eq(commit(c, 1000, r.s, &err), CORE_E_INVALID_STATE);
	dump_unchanged(before, c, "commit of an expired hold");
	free(before);
	done(c);
}

Test(core, the_request_at_the_deadline_sees_the_expired_units_without_an_explicit_advance)
{
	core *c = mk();
	put(c, "A", "W1", 3);
	rid r = hold(c, 0, "o-1", L({ "A" }, { 3 }), 1000);
	core_result res;
	core_error err;
	/* At 999 the units are still held. */
	cr_assert_eq(reserve(c, 999, "o-2", L({ "A" }, { 3 }), 1000, false, NULL, &res, &err),
	    CORE_E_OUT_OF_STOCK);
	cr_assert_eq(err.short_lines[0].available, 0);
	/* core_exec at 1000 expires first, then plans. */
	cr_assert_eq(reserve(c, 1000, "o-2", L({ "A" }, { 3 }), 1000, false, NULL, &res, &err), CORE_OK);
	rid s = id_of(c, res.resv);
	cr_assert_eq(status_of(c, r.s), CORE_RESV_EXPIRED);
	cr_assert_eq(status_of(c, s.s), CORE_RESV_HELD);
	rec_is(c, "A", "W1", 3, 3, 0, 0, 4);
	/* A commit exactly at the deadline is too late. */
	cr_assert_eq(commit(c, 2000, s.s, &err), CORE_E_INVALID_STATE);
	cr_assert_eq(status_of(c, s.s), CORE_RESV_EXPIRED);
	rec_is(c, "A", "W1", 3, 0, 0, 0, 5);
	done(c);
}

Test(core, reserve_replay_returns_the_same_reservation_and_changes_nothing_even_after_commit)
{
	core *c = mk();
	put(c, "A", "W1", 3);
	put(c, "A", "W2", 3);
	core_result res;
	core_error err;
	cr_assert_eq(reserve(c, 0, "o-1", L({ "A" }, { 4 }), 60000, false, "key-1", &res, &err), CORE_OK);
	cr_assert(!res.replayed);
	const core_resv *first = res.resv;
	rid r = id_of(c, first);
	core_advance(c, 10);
	char *before = dump(c);
	cr_assert_eq(reserve(c, 10, "o-1", L({ "A" }, { 4 }), 60000, false, "key-1", &res, &err), CORE_OK);
	cr_assert(res.replayed);
	cr_assert_eq(res.resv, first);
	cr_assert_str_eq(id_of(c, res.resv).s, r.s);
	dump_unchanged(before, c, "a reserve replay");
	free(before);
	rec_is(c, "A", "W1", 3, 3, 0, 0, 2);
	rec_is(c, "A", "W2", 3, 1, 0, 0, 2);

	/* After commit and a partial release: the same reservation, the
	 * original reply still readable, nothing held again. */
	cr_assert_eq(commit(c, 20, r.s, &err), CORE_OK);
	cr_assert_eq(release(c, 20, r.s, L({ "A" }, { 1 }), &err), CORE_OK);
	core_advance(c, 30);
	before = dump(c);
	cr_assert_eq(reserve(c, 30, "o-1", L({ "A" }, { 4 }), 60000, false, "key-1", &res, &err), CORE_OK);
	cr_assert(res.replayed);
	cr_assert_str_eq(id_of(c, res.resv).s, r.s);
	dump_unchanged(before, c, "a reserve replay after commit");
	free(before);
	core_resv_view v;
	core_resv_view_get(c, res.resv, &v);
	cr_assert_eq(v.status, CORE_RESV_COMMITTED);
	core_resv_view_original(c, res.resv, &v);
	cr_assert_eq(v.status, CORE_RESV_HELD);
	cr_assert_eq(v.expires_at_ms, 60000);
	cr_assert_str_eq(v.id, r.s);
	cr_assert_eq(core_resv_alloc_original_qty(res.resv, 0, 0), 3);
	cr_assert_eq(core_resv_alloc_original_qty(res.resv, 0, 1), 1);
	line_is(c, r.s, 0, "A", 4, 0, 1, 0, "W1=3,W2=0");
	rec_is(c, "A", "W1", 3, 0, 3, 0, 3);
	rec_is(c, "A", "W2", 3, 0, 0, 0, 4);

	/* Released entirely: still the same reservation, nothing held. */
	cr_assert_eq(release(c, 40, r.s, NONE, &err), CORE_OK);
	cr_assert_eq(reserve(c, 40, "o-1", L({ "A" }, { 4 }), 60000, false, "key-1", &res, &err), CORE_OK);
	cr_assert(res.replayed);
	cr_assert_str_eq(id_of(c, res.resv).s, r.s);
	rec_is(c, "A", "W1", 3, 0, 0, 0, 4);
	rec_is(c, "A", "W2", 3, 0, 0, 0, 4);

	/* The same key with other params conflicts; nothing changes. */
	core_advance(c, 50);
	before = dump(c);
	cr_assert_eq(reserve(c, 50, "o-1", L({ "A" }, { 3 }), 60000, false, "key-1", &res, &err),
	    CORE_E_CONFLICT);
	cr_assert_eq(err.code, CORE_E_CONFLICT);
	cr_assert_eq(reserve(c, 50, "o-2", L({ "A" }, { 4 }), 60000, false, "key-1", &res, &err),
	    CORE_E_CONFLICT);
	cr_assert_eq(reserve(c, 50, "o-1", L({ "A" }, { 4 }), 60001, false, "key-1", &res, &err),
	    CORE_E_CONFLICT);
	cr_assert_eq(reserve(c, 50, "o-1", L({ "A" }, { 4 }), 60000, true, "key-1", &res, &err),
	    CORE_E_CONFLICT);
	cr_assert_eq(reserve(c, 50, "o-1", L({ "B" }, { 4 }), 60000, false, "key-1", &res, &err),
	    CORE_E_CONFLICT);
	/* A failed reserve does not use up its key. */
	cr_assert_eq(reserve(c, 50, "o-3", L({ "A" }, { 99 }), 60000, false, "key-2", &res, &err),
	    CORE_E_OUT_OF_STOCK);
	dump_unchanged(before, c, "a conflicting or failed keyed reserve");
	free(before);
	cr_assert_eq(reserve(c, 50, "o-3", L({ "A" }, { 2 }), 60000, false, "key-2", &res, &err), CORE_OK);
	cr_assert(!res.replayed);
	cr_assert_str_eq(id_of(c, res.resv).s, "r-0000000000000002");
	/* Keys of adjust and reserve are separate namespaces. */
	cr_assert_eq(stock_adjust(c, 50, "A", "W1", 1, "key-1", NULL, &res, &err), CORE_OK);
	cr_assert(!res.replayed);
	done(c);
}

Test(core, sweep_forgets_finished_reservations_after_retain_ms_but_never_live_ones)
{
	core_config cfg;
	core_config_default(&cfg);
	cfg.retain_ms = 10000;
	core *c = mk_cfg(&cfg);
	put(c, "A", "W1", 100);
	core_error err;
	core_result res;
	rid released = hold(c, 0, "o-rel", L({ "A" }, { 1 }), 1000000);
	cr_assert_eq(release(c, 1000, released.s, NONE, &err), CORE_OK);     /* finished 1000 */
	rid expired = hold(c, 1000, "o-exp", L({ "A" }, { 1 }), 1000);      /* finished 2000 */
	rid held = hold(c, 1000, "o-held", L({ "A" }, { 1 }), 86400000);
	rid committed = hold(c, 1000, "o-com", L({ "A" }, { 1 }), 1000);
	cr_assert_eq(commit(c, 1000, committed.s, &err), CORE_OK);
	cr_assert_eq(reserve(c, 1000, "o-key", L({ "A" }, { 1 }), 100, false, "k", &res, &err), CORE_OK);
	rid keyed = id_of(c, res.resv);                                     /* expires 1100 */
	cr_assert_eq(core_advance(c, 2000), 2);
	cr_assert_eq(status_of(c, expired.s), CORE_RESV_EXPIRED);
	cr_assert_eq(status_of(c, keyed.s), CORE_RESV_EXPIRED);

	/* core_advance alone never forgets. */
	cr_assert_eq(core_advance(c, 50000), 0);
	find(c, released.s);
	find(c, expired.s);
	core_stats st;
	stats(c, &st);
	cr_assert_eq(st.reservations[CORE_RESV_RELEASED], 1);

	/* 1000 + 10000 is the first instant the released one goes. */
	core *d = mk_cfg(&cfg);
	put(d, "A", "W1", 1);
	rid x = hold(d, 0, "o-x", L({ "A" }, { 1 }), 1000000);
	cr_assert_eq(release(d, 1000, x.s, NONE, &err), CORE_OK);
	cr_assert_eq(core_sweep(d, 10999, 100), 0);
	find(d, x.s);
	cr_assert_eq(core_sweep(d, 11000, 100), 1);
	not_found(d, x.s);
	done(d);

	cr_assert_eq(core_sweep(c, 50000, 100), 3);
	not_found(c, released.s);
	not_found(c, expired.s);
	not_found(c, keyed.s);
	cr_assert_eq(status_of(c, held.s), CORE_RESV_HELD);
	cr_assert_eq(status_of(c, committed.s), CORE_RESV_COMMITTED);
	stats(c, &st);
	cr_assert_eq(st.reservations[CORE_RESV_RELEASED], 0);
	cr_assert_eq(st.reservations[CORE_RESV_EXPIRED], 0);
	cr_assert_eq(st.reservations[CORE_RESV_HELD], 1);
	cr_assert_eq(st.reservations[CORE_RESV_COMMITTED], 1);
	cr_assert_eq(st.expired_total, 2);
	cr_assert_eq(commit(c, 50000, released.s, &err), CORE_E_NOT_FOUND);
	/* A forgotten reservation's key is forgotten with it. */
	cr_assert_eq(reserve(c, 50000, "o-key", L({ "A" }, { 1 }), 100, false, "k", &res, &err), CORE_OK);
	cr_assert(!res.replayed);
	rid rekeyed = id_of(c, res.resv);
	cr_assert_str_neq(rekeyed.s, keyed.s);
	/* Live ones stay however long; a hold expires at its deadline and is
	 * kept retain_ms from its deadline, however late its expiry is
	 * processed: the 100 ms hold above, due at 50100, is expired and
	 * forgotten by the same sweep. */
	cr_assert_eq(core_sweep(c, 86401000 - 1, 1000), 2);
	not_found(c, rekeyed.s);
	cr_assert_eq(status_of(c, held.s), CORE_RESV_HELD);
	cr_assert_eq(core_sweep(c, 86401000, 1000), 1);
	cr_assert_eq(status_of(c, held.s), CORE_RESV_EXPIRED);
	cr_assert_eq(core_sweep(c, 86401000 + 9999, 1000), 0);
	find(c, held.s);
	cr_assert_eq(core_sweep(c, 86401000 + 10000, 1000), 1);
	not_found(c, held.s);
	cr_assert_eq(core_sweep(c, 900000000, 1000), 0);
	cr_assert_eq(status_of(c, committed.s), CORE_RESV_COMMITTED);
	/* v1 set; 2-3 released; 4 expired; 5 held; 6-7 committed; 8 keyed;
	 * 9-10 the two expiries; 11-12 the new keyed hold; 13 held's expiry. */
	rec_is(c, "A", "W1", 100, 0, 1, 0, 13);
	done(c);
}

Test(core, sweep_does_at_most_budget_items_expiring_first_then_forgetting)
{
	core_config cfg;
	core_config_default(&cfg);
	cfg.retain_ms = 1000;
	core *c = mk_cfg(&cfg);
	put(c, "A", "W1", 100);
	core_result res;
	core_error err;
	rid r[5];
	for (int i = 0; i < 5; i++) {
		char order[16];
		snprintf(order, sizeof(order), "o-%d", i);
		r[i] = hold(c, 0, order, L({ "A" }, { i + 1 }), 100);
	}
	cr_assert_eq(stock_adjust(c, 0, "A", "W1", 1, "adj", NULL, &res, &err), CORE_OK);
	core_stats st;
	/* Expiry in deadline, then id, order. */
	cr_assert_eq(core_sweep(c, 100, 2), 2);
	cr_assert_eq(status_of(c, r[0].s), CORE_RESV_EXPIRED);
	cr_assert_eq(status_of(c, r[1].s), CORE_RESV_EXPIRED);
	cr_assert_eq(status_of(c, r[2].s), CORE_RESV_HELD);
	stats(c, &st);
	cr_assert_eq(st.units_reserved, 3 + 4 + 5);
	cr_assert_eq(st.expired_total, 2);
	rec_is(c, "A", "W1", 101, 12, 0, 0, 9);
	cr_assert_eq(core_sweep(c, 100, 2), 2);
	cr_assert_eq(core_sweep(c, 100, 2), 1); /* caught up */
	cr_assert_eq(core_sweep(c, 100, 2), 0);
	stats(c, &st);
	cr_assert_eq(st.units_reserved, 0);
	cr_assert_eq(st.reservations[CORE_RESV_EXPIRED], 5);
	rec_is(c, "A", "W1", 101, 0, 0, 0, 12);
	/* Forgetting: 5 reservations finished at 100 and the adjust key made at
	 * 0, all due by 1100; 3 a call. */
	cr_assert_eq(core_sweep(c, 1099, 3), 1); /* only the key is due */
	cr_assert_eq(core_sweep(c, 1100, 3), 3);
	stats(c, &st);
	cr_assert_eq(st.reservations[CORE_RESV_EXPIRED], 2);
	not_found(c, r[0].s);
	not_found(c, r[2].s);
	find(c, r[3].s);
	cr_assert_eq(core_sweep(c, 1100, 3), 2);
	cr_assert_eq(core_sweep(c, 1100, 3), 0);
	not_found(c, r[4].s);
	stats(c, &st);
	cr_assert_eq(st.reservations[CORE_RESV_EXPIRED], 0);
	cr_assert_eq(st.idempotency_keys, 0);
	/* The forgotten adjust key applies again. */
	cr_assert_eq(stock_adjust(c, 1100, "A", "W1", 1, "adj", NULL, &res, &err), CORE_OK);
	cr_assert(!res.replayed);
	rec_is(c, "A", "W1", 102, 0, 0, 0, 13);
	/* Budget 0 does nothing. */
	rid h = hold(c, 1100, "o-z", L({ "A" }, { 1 }), 100);
	cr_assert_eq(core_sweep(c, 1200, 0), 0);
	cr_assert_eq(status_of(c, h.s), CORE_RESV_HELD);
	cr_assert_eq(core_sweep(c, 1200, 1), 1);
	cr_assert_eq(status_of(c, h.s), CORE_RESV_EXPIRED);
	done(c);
}
