/*
 * test_core_receive.c - inbound receipts in the core: the scenarios of
 * PROTOCOL.md's inbound.receive (held and committed backorders, earliest
 * first, partial, over and unexpected receipts, by ref), holds that expired
 * unswept, the limit on fills, and a seeded random walk in which every
 * receipt is checked against the rule worked out from what the core shows
 * before it (entries, backorders, records), every step against
 * core_check(), and the end state against a snapshot restore of it.
 */
#include "core_fixture.h"

/* ---- helpers -------------------------------------------------------------------- */

/* More holds falling due at once than core_advance() sweeps on the spot
 * (EXPIRY_ADVANCE_MAX, 16): the rest count as expired, unswept. */
#define EXPIRY_MANY 40

/* Locations A and B, with defaults. */
static void location_put_min(core *c)
{
	static const char *const names[] = { "A", "B" };
	for (int i = 0; i < 2; i++) {
		core_cmd cmd = { .type = CORE_CMD_LOCATION_PUT };
		cmd.u.location = (core_location_cmd){ .location = S(names[i]), .capacity = -1, .enabled = -1 };
		core_result res;
		core_error err;
		cr_assert_eq(core_exec(c, &cmd, 0, &res, &err), CORE_OK, "location.put: %s", err.message);
	}
}

static int receive(core *c, int64_t now, const char *sku, const char *loc, int64_t qty,
    const char *ref, core_result *res, core_error *err)
{
	core_cmd cmd = { .type = CORE_CMD_INBOUND_RECEIVE };
	cmd.u.inbound = (core_inbound_cmd){ .sku = S(sku), .location = S(loc), .qty = qty, .ref = S(ref) };
	return core_exec(c, &cmd, now, res, err);
}

static void inbound(core *c, int64_t now, const char *sku, const char *loc, int64_t qty, int64_t eta,
    const char *ref)
{
	core_cmd cmd = { .type = CORE_CMD_INBOUND_ADD };
	cmd.u.inbound = (core_inbound_cmd){ .sku = S(sku), .location = S(loc), .qty = qty, .eta_ms = eta,
		.ref = S(ref) };
	core_result res;
	core_error err;
	cr_assert_eq(core_exec(c, &cmd, now, &res, &err), CORE_OK, "inbound.add: %s", err.message);
}

/* A one-line reserve with allow_backorder that must succeed. */
static rid backorder(core *c, int64_t now, const char *order, const char *sku, int64_t qty, int64_t ttl)
{
	core_line_req line = { S(sku), qty };
	core_cmd cmd = { .type = CORE_CMD_RESERVE };
	cmd.u.reserve = (core_reserve_cmd){ .order_id = S(order), .lines = &line, .nlines = 1,
		.ttl_ms = ttl, .allow_backorder = true };
	core_result res;
	core_error err;
	cr_assert_eq(core_exec(c, &cmd, now, &res, &err), CORE_OK, "reserve %s: %s", order, err.message);
	return id_of(c, res.resv);
}

/* Units of reservation id's line 0 at loc: on hand, or still backordered. */
static int64_t units_at(const core *c, const char *id, const char *loc, bool backorders)
{
	const core_resv *r = find(c, id);
	core_line_view l;
	core_resv_line_get(c, r, 0, &l);
	int64_t n = 0;
	for (uint32_t j = 0; j < l.nallocs; j++) {
		core_alloc_view a;
		core_resv_alloc_get(c, r, 0, j, &a);
		n += a.backorder == backorders && str_is(a.location, loc) ? a.qty : 0;
	}
	return n;
}

static void fill_is(const core *c, const core_result *res, uint32_t i, const char *id, int64_t qty)
{
	cr_assert_gt(res->nfills, i, "only %u fills", res->nfills);
	rid got = id_of(c, res->fills[i].resv);
	cr_assert_str_eq(got.s, id, "fills[%u]", i);
	cr_assert_eq(res->fills[i].qty, qty, "fills[%u] qty %" PRId64 " want %" PRId64, i, res->fills[i].qty, qty);
}

/* ---- scenarios -------------------------------------------------------------------- */

Test(core_receive, held_and_committed_backorders_are_filled_earliest_first_in_their_state)
{
	core *c = mk();
	put(c, "tee", "W1", 0);
	inbound(c, 0, "tee", "W1", 10, 1000, "po-1");
	cr_assert_eq(rec(c, "tee", "W1").incoming, 10);
	rid r1 = backorder(c, 1, "o-1", "tee", 3, 600000);
	rid r2 = backorder(c, 2, "o-2", "tee", 4, 600000);
	rid r3 = backorder(c, 3, "o-3", "tee", 2, 600000);
	core_error err;
	cr_assert_eq(commit(c, 4, r2.s, &err), CORE_OK);
	core_result res;
	cr_assert_eq(receive(c, 5, "tee", "W1", 5, NULL, &res, &err), CORE_OK, "%s", err.message);
	cr_assert_eq(res.kind, CORE_RESULT_RECEIPT);
	cr_assert_eq(res.nfills, 2);
	fill_is(c, &res, 0, r1.s, 3);
	fill_is(c, &res, 1, r2.s, 2);
	cr_assert_eq(res.record.incoming, 5);
	rec_is(c, "tee", "W1", 5, 3, 2, 0, 2);
	cr_assert_eq(status_of(c, r1.s), CORE_RESV_HELD);
	cr_assert_eq(status_of(c, r2.s), CORE_RESV_COMMITTED);
	cr_assert(units_at(c, r1.s, "W1", false) == 3 && units_at(c, r1.s, "W1", true) == 0);
	cr_assert(units_at(c, r2.s, "W1", false) == 2 && units_at(c, r2.s, "W1", true) == 2);
	cr_assert_null(core_check(c));

	/* Over-receipt: the entry is used up, every backorder filled. */
	cr_assert_eq(receive(c, 6, "tee", "W1", 8, NULL, &res, &err), CORE_OK, "%s", err.message);
	cr_assert_eq(res.nfills, 2);
	fill_is(c, &res, 0, r2.s, 2);
	fill_is(c, &res, 1, r3.s, 2);
	rec_is(c, "tee", "W1", 13, 5, 4, 0, 3);
	cr_assert_eq(rec(c, "tee", "W1").incoming, 0);
	cr_assert_eq(core_inbound_count(c, S("tee")), 0);

	/* The filled hold expires like any other: its units go back. */
	core_advance(c, 600002);
	cr_assert_eq(status_of(c, r1.s), CORE_RESV_EXPIRED);
	cr_assert_eq(rec(c, "tee", "W1").reserved, 2, "o-3's 2 are still held");
	cr_assert_eq(fulfill(c, 600003, r2.s, NONE, &err), CORE_OK);
	cr_assert_eq(rec(c, "tee", "W1").on_hand, 9);
	done(c);
}

Test(core_receive, a_receipt_by_ref_and_its_over_units_fill_backorders_of_other_entries)
{
	core *c = mk();
	put(c, "cap", "W1", 0);
	inbound(c, 0, "cap", "W1", 2, 100, "po-1");
	inbound(c, 0, "cap", "W1", 5, 200, "po-2");
	rid r = backorder(c, 1, "o-1", "cap", 6, 600000);
	core_result res;
	core_error err;
	char *before = dump(c);
	cr_assert_eq(receive(c, 1, "cap", "W1", 1, "po-3", &res, &err), CORE_E_NOT_FOUND);
	cr_assert_eq(receive(c, 1, "cap", "nowhere", 1, NULL, &res, &err), CORE_E_NOT_FOUND);
	cr_assert_eq(receive(c, 1, "cap", "W1", 0, NULL, &res, &err), CORE_E_BAD_REQUEST);
	cr_assert_eq(receive(c, 1, "cap", "W1", CORE_QTY_MAX + 1, NULL, &res, &err), CORE_E_BAD_REQUEST);
	cr_assert_eq(receive(c, 1, "", "W1", 1, NULL, &res, &err), CORE_E_BAD_REQUEST);
	dump_unchanged(before, c, "failed receipts");
	free(before);

	cr_assert_eq(receive(c, 3, "cap", "W1", 3, "po-2", &res, &err), CORE_OK, "%s", err.message);
	cr_assert_eq(res.nfills, 1);
	fill_is(c, &res, 0, r.s, 3);
	cr_assert_eq(receive(c, 4, "cap", "W1", 4, "po-1", &res, &err), CORE_OK, "%s", err.message);
	fill_is(c, &res, 0, r.s, 3);
	cr_assert_eq(units_at(c, r.s, "W1", true), 0);
	rec_is(c, "cap", "W1", 7, 6, 0, 0, 3);
	cr_assert_eq(rec(c, "cap", "W1").incoming, 2, "po-2 still expects 2");

	/* Unexpected units, of a sku nobody knew. */
	cr_assert_eq(receive(c, 5, "new", "W1", 4, NULL, &res, &err), CORE_OK, "%s", err.message);
	cr_assert_eq(res.nfills, 0);
	rec_is(c, "new", "W1", 4, 0, 0, 0, 1);
	done(c);
}

Test(core_receive, a_reservation_gains_an_allocation_where_it_had_none_and_its_first_reply_does_not)
{
	core *c = mk();
	put(c, "mug", "A", 2);
	location_put_min(c);
	inbound(c, 0, "mug", "B", 4, 100, NULL);
	rid r = backorder(c, 1, "o-1", "mug", 5, 600000); /* 2 at A, 3 against B */
	const core_resv *v = find(c, r.s);
	core_line_view l;
	core_resv_line_get(c, v, 0, &l);
	uint32_t nallocs = l.nallocs;
	core_result res;
	core_error err;
	cr_assert_eq(receive(c, 2, "mug", "B", 1, NULL, &res, &err), CORE_OK, "%s", err.message);
	v = find(c, r.s);
	core_resv_line_get(c, v, 0, &l);
	cr_assert_eq(l.nallocs, nallocs + 1, "an allocation on hand at B");
	cr_assert_eq(units_at(c, r.s, "B", false), 1);
	cr_assert_eq(units_at(c, r.s, "B", true), 2);
	cr_assert_eq(l.backordered, 3, "as reserve gave it");
	for (uint32_t j = 0; j < l.nallocs; j++) {
		core_alloc_view a;
		core_resv_alloc_get(c, v, 0, j, &a);
		if (!a.backorder && str_is(a.location, "B"))
			cr_assert_eq(core_resv_alloc_original_qty(v, 0, j), 0, "the first reply had none");
	}
	core_location_view lv;
	for (uint32_t i = 0; i < core_location_count(c); i++) {
		core_location_at(c, i, &lv);
		cr_assert_eq(lv.open_shipments, 1, "%.*s: one shipment", (int)lv.name.len, lv.name.p);
	}
	core_error e2;
	cr_assert_eq(release(c, 3, r.s, L({ "mug" }, { 4 }), &e2), CORE_OK, "%s", e2.message);
	cr_assert_eq(units_at(c, r.s, "B", true), 0, "backorders are released first");
	cr_assert_eq(units_at(c, r.s, "B", false), 0, "then the worst-ranked on hand");
	done(c);
}

Test(core_receive, holds_expired_but_not_swept_are_not_filled)
{
	core *c = mk();
	location_put_min(c);
	inbound(c, 0, "tee", "B", 100, 100, NULL);
	rid early[EXPIRY_MANY];
	for (int i = 0; i < EXPIRY_MANY; i++) {
		char order[16];
		snprintf(order, sizeof(order), "o-%d", i);
		early[i] = backorder(c, 1, order, "tee", 2, 1000);
	}
	rid late = backorder(c, 2, "late", "tee", 3, 600000);
	core_result res;
	core_error err;
	/* Many fall due at once: they count as expired before they are swept. */
	cr_assert_eq(receive(c, 5000, "tee", "B", 4, NULL, &res, &err), CORE_OK, "%s", err.message);
	cr_assert_eq(res.nfills, 1);
	fill_is(c, &res, 0, late.s, 3);
	cr_assert_eq(status_of(c, early[0].s), CORE_RESV_EXPIRED);
	cr_assert_eq(units_at(c, early[0].s, "B", false), 0);
	cr_assert_null(core_check(c));
	while (core_sweep(c, 5001, 7) == 7)
		cr_assert_null(core_check(c));
	cr_assert_eq(rec(c, "tee", "B").reserved, 3);
	cr_assert_eq(core_expiry_backlog(c), 0);
	done(c);
}

Test(core_receive, a_receipt_that_would_fill_too_many_reservations_changes_nothing)
{
	core_config cfg;
	core_config_default(&cfg);
	core *c = mk_cfg(&cfg);
	location_put_min(c);
	inbound(c, 0, "tee", "B", CORE_RECEIVE_FILLS_MAX + 1, 100, NULL);
	for (int i = 0; i <= CORE_RECEIVE_FILLS_MAX; i++) {
		char order[16];
		snprintf(order, sizeof(order), "o-%d", i);
		backorder(c, 1, order, "tee", 1, 600000);
	}
	char *before = dump(c);
	core_result res;
	core_error err;
	cr_assert_eq(receive(c, 1, "tee", "B", CORE_RECEIVE_FILLS_MAX + 1, NULL, &res, &err), CORE_E_TOO_LARGE);
	dump_unchanged(before, c, "a receipt over the fills limit");
	free(before);
	cr_assert_eq(receive(c, 2, "tee", "B", CORE_RECEIVE_FILLS_MAX, NULL, &res, &err), CORE_OK, "%s", err.message);
	cr_assert_eq(res.nfills, CORE_RECEIVE_FILLS_MAX);
	done(c);
}

Test(core_receive, stock_adjust_if_version_is_checked_after_the_key)
{
	core *c = mk();
	put(c, "A", "W1", 5);
	core_cmd cmd = { .type = CORE_CMD_STOCK_ADJUST };
	cmd.u.stock = (core_stock_cmd){ .sku = S("A"), .location = S("W1"), .delta = 1, .safety = -1,
		.if_version = 2, .idempotency_key = S("k") };
	core_result res;
	core_error err;
	cr_assert_eq(core_exec(c, &cmd, 1, &res, &err), CORE_E_CONFLICT);
	cr_assert_eq(err.version, 1);
	cmd.u.stock.if_version = 1;
	cr_assert_eq(core_exec(c, &cmd, 1, &res, &err), CORE_OK, "%s", err.message);
	cr_assert_eq(res.record.version, 2);
	cr_assert_eq(core_exec(c, &cmd, 2, &res, &err), CORE_OK, "the key answers first");
	cr_assert(res.replayed && res.record.on_hand == 6);
	cmd.u.stock.if_version = 2;
	cr_assert_eq(core_exec(c, &cmd, 3, &res, &err), CORE_E_CONFLICT, "another if_version: other params");
	cmd.type = CORE_CMD_RESTOCK;
	cmd.u.stock.idempotency_key = ABSENT;
	cmd.u.stock.if_version = 7;
	cr_assert_eq(core_exec(c, &cmd, 4, &res, &err), CORE_OK, "restock is never conditional");
	done(c);
}
