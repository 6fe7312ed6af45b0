/*
 * test_core_changes.c - the core's account of what changed, which the
 * engine's events come from (core.h, "What changed").
 */
#include <criterion/criterion.h>

#include "core_fixture.h"

#define L(...) ((lines8){ __VA_ARGS__ })

/* What one drain handed over, copied. */
typedef struct seen {
	uint32_t nrec, nsku, nresv;
	core_record_view rec[32];
	char rec_sku[32][CORE_NAME_MAX + 1];
	core_change_sku sku[32];
	char sku_name[32][CORE_NAME_MAX + 1];
	core_change_resv resv[64];
	char order[64][CORE_ORDER_ID_MAX + 1];
} seen;

static void on_resv(void *ud, const core_change_resv *ch)
{
	seen *s = ud;
	cr_assert_lt(s->nresv, 64);
	s->resv[s->nresv] = *ch;
	snprintf(s->order[s->nresv], sizeof(s->order[0]), "%.*s", (int)ch->order_id.len, ch->order_id.p);
	s->nresv++;
}

static void on_record(void *ud, const core_record_view *rec)
{
	seen *s = ud;
	cr_assert_lt(s->nrec, 32);
	s->rec[s->nrec] = *rec;
	snprintf(s->rec_sku[s->nrec], sizeof(s->rec_sku[0]), "%.*s", (int)rec->sku.len, rec->sku.p);
	s->nrec++;
}

static void on_sku(void *ud, const core_change_sku *ch)
{
	seen *s = ud;
	cr_assert_lt(s->nsku, 32);
	s->sku[s->nsku] = *ch;
	snprintf(s->sku_name[s->nsku], sizeof(s->sku_name[0]), "%.*s", (int)ch->sku.len, ch->sku.p);
	s->nsku++;
}

static seen *drain(core *c)
{
	static seen s;
	memset(&s, 0, sizeof(s));
	core_changes_sink sink = { on_resv, on_record, on_sku, &s };
	core_changes_drain(c, &sink);
	cr_assert_eq(core_changes_pending(c), 0, "a drain leaves nothing pending");
	return &s;
}

static core *tracked(void)
{
	core *c = mk();
	cr_assert_eq(core_track(c, true), 0);
	cr_assert(core_tracking(c));
	return c;
}

Test(changes, nothing_is_kept_while_not_tracking)
{
	core *c = mk();
	put(c, "A", "W1", 10);
	hold(c, 1000, "o-1", L({ "A" }, { 2 }), 60000);
	cr_assert_eq(core_changes_pending(c), 0);
	seen *s = drain(c);
	cr_assert_eq(s->nrec + s->nsku + s->nresv, 0);
	done(c);
}

Test(changes, many_reserves_on_one_record_give_one_record_with_the_latest_values)
{
	core *c = tracked();
	put(c, "A", "W1", 100);
	seen *s = drain(c);
	cr_assert_eq(s->nrec, 1);
	cr_assert_eq(s->rec[0].available, 100);
	cr_assert_eq(s->nsku, 1);
	cr_assert_eq(s->sku[0].before, 0, "a new sku had nothing available");
	cr_assert_eq(s->sku[0].available, 100);

	for (int i = 0; i < 20; i++) {
		char order[16];
		snprintf(order, sizeof(order), "o-%d", i);
		hold(c, 1000 + i, order, L({ "A" }, { 3 }), 60000);
	}
	s = drain(c);
	cr_assert_eq(s->nresv, 20, "every reservation's change is news");
	for (uint32_t i = 0; i < s->nresv; i++) {
		cr_assert_eq(s->resv[i].status, CORE_RESV_HELD);
		cr_assert_not_null(s->resv[i].resv);
	}
	cr_assert_str_eq(s->order[19], "o-19");
	cr_assert_eq(s->nrec, 1, "one record, however many changes");
	cr_assert_str_eq(s->rec_sku[0], "A");
	cr_assert_eq(s->rec[0].reserved, 60);
	cr_assert_eq(s->rec[0].available, 40);
	cr_assert_eq(s->nsku, 1);
	cr_assert_eq(s->sku[0].before, 100);
	cr_assert_eq(s->sku[0].available, 40);
	done(c);
}

Test(changes, a_commit_changes_no_available_and_gives_no_record)
{
	core *c = tracked();
	put(c, "A", "W1", 10);
	rid r = hold(c, 1000, "o-1", L({ "A" }, { 4 }), 60000);
	drain(c);
	core_error err;
	cr_assert_eq(commit(c, 2000, r.s, &err), CORE_OK);
	seen *s = drain(c);
	cr_assert_eq(s->nresv, 1);
	cr_assert_eq(s->resv[0].status, CORE_RESV_COMMITTED);
	cr_assert_eq(s->resv[0].at_ms, 2000);
	cr_assert_str_eq(s->resv[0].id, r.s);
	cr_assert_eq(s->nrec, 0, "reserved moved to committed: available is the same");
	cr_assert_eq(s->nsku, 1);
	cr_assert_eq(s->sku[0].before, 6);
	cr_assert_eq(s->sku[0].available, 6);
	done(c);
}

Test(changes, an_expiry_is_told_at_its_deadline)
{
	core *c = tracked();
	put(c, "A", "W1", 5);
	hold(c, 1000, "o-1", L({ "A" }, { 5 }), 250);
	seen *s = drain(c);
	cr_assert_eq(s->nsku, 1);
	cr_assert_eq(s->sku[0].available, 0);
	core_advance(c, 9000);
	s = drain(c);
	cr_assert_eq(s->nresv, 1);
	cr_assert_eq(s->resv[0].status, CORE_RESV_EXPIRED);
	cr_assert_eq(s->resv[0].at_ms, 1250, "at the deadline, not when it was seen");
	cr_assert_eq(s->nrec, 1);
	cr_assert_eq(s->rec[0].available, 5);
	cr_assert_eq(s->sku[0].before, 0);
	cr_assert_eq(s->sku[0].available, 5);
	done(c);
}

/* More holds due at once than an advance sweeps: the rest count as expired
 * at once and the sweep processes them later. Their records' units are
 * told when swept, as given back, and each expiry at its own deadline. */
Test(changes, lazily_expired_holds_are_told_when_swept)
{
	core *c = tracked();
	put(c, "A", "W1", 100);
	for (int i = 0; i < 40; i++) {
		char order[16];
		snprintf(order, sizeof(order), "o-%d", i);
		hold(c, 1000, order, L({ "A" }, { 2 }), 100 + i);
	}
	seen *s = drain(c);
	cr_assert_eq(s->sku[0].available, 20);
	core_advance(c, 5000);
	s = drain(c);
	uint32_t told = s->nresv;
	cr_assert_lt(told, 40, "some are left to the sweep");
	core_sweep(c, 5000, 1000);
	seen *t = drain(c);
	cr_assert_eq(told + t->nresv, 40);
	for (uint32_t i = 0; i < t->nresv; i++) {
		cr_assert_eq(t->resv[i].status, CORE_RESV_EXPIRED);
		cr_assert_eq(t->resv[i].at_ms, 1100 + (int64_t)(told + i), "expired at its deadline");
	}
	cr_assert_eq(t->nrec, 1, "the swept holds' record is told, with every unit back");
	cr_assert_eq(t->rec[0].reserved, 0);
	cr_assert_eq(t->rec[0].available, 100);
	done(c);
}

Test(changes, sku_totals_cross_zero_and_the_threshold)
{
	core *c = tracked();
	core_cmd cmd = { .type = CORE_CMD_SKU_PUT };
	cmd.u.sku = (core_sku_cmd){ .sku = S("A"), .per_order = -1, .per_customer = -1, .low_stock = 3 };
	core_result res;
	core_error err;
	put(c, "A", "W1", 4);
	put(c, "A", "W2", 4);
	cr_assert_eq(core_exec(c, &cmd, 100, &res, &err), CORE_OK);
	seen *s = drain(c);
	cr_assert_eq(s->nsku, 1);
	cr_assert_eq(s->sku[0].available, 8);
	cr_assert_eq(s->sku[0].low_stock, 3);
	rid r = hold(c, 1000, "o-1", L({ "A" }, { 8 }), 60000);
	s = drain(c);
	cr_assert_eq(s->nrec, 2, "both records of the sku changed");
	cr_assert_eq(s->sku[0].before, 8);
	cr_assert_eq(s->sku[0].available, 0);
	cr_assert_eq(release(c, 2000, r.s, L({ "A" }, { 2 }), &err), CORE_OK);
	s = drain(c);
	cr_assert_eq(s->sku[0].before, 0);
	cr_assert_eq(s->sku[0].available, 2);
	cr_assert_eq(s->nresv, 0, "a partial release leaves it held");
	done(c);
}

Test(changes, tracking_stops_and_starts_again_from_the_state_as_it_stands)
{
	core *c = tracked();
	put(c, "A", "W1", 4);
	cr_assert_gt(core_changes_pending(c), 0);
	cr_assert_eq(core_track(c, false), 0);
	cr_assert_eq(core_changes_pending(c), 0);
	put(c, "A", "W1", 7);
	cr_assert_eq(core_track(c, true), 0);
	put(c, "A", "W1", 9);
	seen *s = drain(c);
	cr_assert_eq(s->nrec, 1);
	cr_assert_eq(s->rec[0].available, 9);
	cr_assert_eq(s->sku[0].before, 7, "the total when tracking began");
	done(c);
}
