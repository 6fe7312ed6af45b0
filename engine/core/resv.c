/*
 * resv.c - reservations: the module's state, moving units between a
 * reservation and its records, and the commands on a reservation (commit,
 * release, fulfill, extend). Reserve is in resv_reserve.c, ids and views
 * in resv_view.c, the invariants in resv_check.c; expiry and retention in
 * expiry.c.
 *
 * States: held -> committed -> fulfilled; held or committed -> released;
 * held -> expired. A held reservation's units count in its records'
 * reserved, a committed one's in committed. Finished reservations stay
 * readable for retain_ms, in a FIFO, then are forgotten.
 */
#include "core_internal.h"
#include "idem.h"
#include "plan.h"

#include <stdlib.h>

int resv_init(core *c)
{
	c->next_seq = 1;
	c->shorts = calloc(c->cfg.lines_max, sizeof(*c->shorts));
	c->plan_skus = calloc(c->cfg.lines_max, sizeof(*c->plan_skus));
	c->cust_skus = calloc(c->cfg.lines_max, sizeof(*c->cust_skus));
	c->cust_new = calloc(c->cfg.lines_max, sizeof(*c->cust_new));
	if (c->shorts == NULL || c->plan_skus == NULL || c->cust_skus == NULL || c->cust_new == NULL)
		goto fail;
	seqmap_init(&c->resv_by_seq);
	c->id_base = (uint64_t)c->cfg.id_epoch << 32;
	if (table_init(&c->idem_by_key, 1024, idem_hash_of) != 0)
		goto fail_idem;
	if (heap_reserve(c, 1024) != 0)
		goto fail_heap;
	if (plan_init(c) != 0)
		goto fail_plan;
	return 0;

fail_plan:
	free(c->heap);
fail_heap:
	table_finish(&c->idem_by_key);
fail_idem:
fail:
	free(c->shorts);
	free(c->plan_skus);
	free(c->cust_skus);
	free(c->cust_new);
	return -1;
}

void resv_finish(core *c)
{
	idem_finish(c);
	for (uint64_t p = 0; p < c->resv_by_seq.npages; p++)
		for (uint32_t i = 0; c->resv_by_seq.pages[p] && i < SEQMAP_PAGE_ITEMS; i++)
			free(c->resv_by_seq.pages[p]->items[i]);
	seqmap_finish(&c->resv_by_seq);
	free(c->heap);
	free(c->plan);
	free(c->shorts);
	free(c->plan_skus);
	free(c->cust_skus);
	free(c->cust_new);
	plan_finish(c);
}

/* ---- open shipments ---------------------------------------------------------- */

/*
 * A location's open shipments are the live reservations holding units
 * there. They open when a reserve holds units at a location and close when
 * the reservation holds none there any more (released, fulfilled,
 * expired).
 */

uint32_t resv_open_locs(core *c, const core_resv *r, uint16_t *list)
{
	uint32_t stamp = plan_stamp_next(c), n = 0;
	const core_ralloc *al = resv_allocs(r);
	for (uint32_t i = 0; i < r->nlines; i++) {
		const core_rline *l = &r->lines[i];
		for (uint32_t j = 0; j < l->nallocs; j++) {
			const core_ralloc *a = &al[l->alloc_first + j];
			if (a->qty > 0 && !a->backorder && plan_stamp_set(c, a->loc, stamp))
				list[n++] = a->loc;
		}
	}
	return n;
}

void resv_close_emptied(core *c, const core_resv *r, const uint16_t *before, uint32_t n, bool all)
{
	uint32_t stamp = plan_stamp_next(c);
	const core_ralloc *al = resv_allocs(r);
	for (uint32_t i = 0; !all && i < r->nlines; i++) {
		const core_rline *l = &r->lines[i];
		for (uint32_t j = 0; j < l->nallocs; j++)
			if (al[l->alloc_first + j].qty > 0 && !al[l->alloc_first + j].backorder)
				plan_stamp_set(c, al[l->alloc_first + j].loc, stamp);
	}
	for (uint32_t j = 0; j < n; j++) {
		if (!all && plan_stamp_is(c, before[j], stamp))
			continue;
		assert(c->locs[before[j]]->open > 0);
		c->locs[before[j]]->open--;
	}
}

/* ---- moving units between a reservation and its records ------------------ */

static void set_status(core *c, core_resv *r, core_resv_status s)
{
	c->by_status[r->status]--;
	c->by_status[s]++;
	r->status = (uint8_t)s;
	track_resv(c, r, s, s == CORE_RESV_EXPIRED ? r->expires_at_ms : c->now_ms);
}

/*
 * A reservation leaves held/committed: it is kept readable for retain_ms.
 * An expired hold finishes at its deadline, not at the moment its expiry
 * was processed: reads expire due holds too, and a replay of the commands
 * alone must rebuild the same state.
 */
void resv_end(core *c, core_resv *r, core_resv_status s)
{
	assert(r->status == CORE_RESV_HELD || r->status == CORE_RESV_COMMITTED);
	if (r->heap_idx != HEAP_NONE)
		heap_remove(c, r);
	r->finished_at_ms = s == CORE_RESV_EXPIRED ? r->expires_at_ms : c->now_ms;
	set_status(c, r, s);
	resv_finish_link(c, r);
}

/* Take qty units off one allocation of r (held or committed), back to its
 * record; fulfilled units also leave on_hand. */
static void alloc_reduce(core *c, core_resv *r, const core_rline *l, core_ralloc *a,
    uint32_t qty, bool fulfil)
{
	if (a->backorder) {
		/* Fulfilled backorders ship the inbound units; released ones give them back. */
		if (fulfil)
			inbound_ship(c, l->sku, a->loc, qty);
		else
			inbound_return(c, l->sku, a->loc, qty);
		a->qty -= qty;
		return;
	}
	core_rec *rec = sku_rec_at(c, l->sku, a->loc);
	assert(rec != NULL && qty <= a->qty);
	track_rec(c, l->sku, rec, 0);
	if (r->status == CORE_RESV_HELD) {
		assert(rec->reserved >= qty);
		rec->reserved -= qty;
		c->units_reserved -= qty;
	} else {
		assert(rec->committed >= qty);
		rec->committed -= qty;
		c->units_committed -= qty;
		if (fulfil)
			rec->on_hand = rec->on_hand > qty ? rec->on_hand - qty : 0;
	}
	rec->version++;
	a->qty -= qty;
}

uint64_t line_remaining(const core_resv *r, const core_rline *l)
{
	const core_ralloc *al = resv_allocs(r);
	uint64_t n = 0;
	for (uint32_t j = 0; j < l->nallocs; j++)
		n += al[l->alloc_first + j].qty;
	return n;
}

/* Reduce a line by qty, from its worst-ranked allocation back: backorders
 * are released first, and fulfilled last (units on hand ship first). */
static void line_reduce(core *c, core_resv *r, core_rline *l, uint32_t qty, bool fulfil)
{
	core_ralloc *al = resv_allocs(r);
	for (uint32_t pass = 0, j = l->nallocs; pass < 2 && qty > 0; pass++, j = l->nallocs)
	while (j-- > 0 && qty > 0) {
		core_ralloc *a = &al[l->alloc_first + j];
		uint32_t take = a->qty < qty ? a->qty : qty;
		if (take == 0 || (fulfil && (a->backorder != 0) != (pass == 1)) || (!fulfil && pass == 1))
			continue;
		alloc_reduce(c, r, l, a, take, fulfil);
		cust_take(c, resv_customer(r), l->sku, take);
		qty -= take;
		if (fulfil)
			l->fulfilled += take;
		else
			l->released += take;
	}
	assert(qty == 0);
}

/* Take a held reservation's units out of its records' reserved: back to
 * available (expiry), or on into committed (commit). */
void resv_unhold(core *c, const core_resv *r, bool to_committed)
{
	assert(r->status == CORE_RESV_HELD);
	const core_ralloc *al = resv_allocs(r);
	uint64_t units = 0;
	bool lazy = !to_committed && resv_lazy(c, r);
	for (uint32_t i = 0; i < r->nlines; i++) {
		const core_rline *l = &r->lines[i];
		for (uint32_t j = 0; j < l->nallocs; j++) {
			const core_ralloc *a = &al[l->alloc_first + j];
			if (a->qty == 0) /* released already: the record does not change */
				continue;
			if (a->backorder) { /* expired: back to inbound; committed: stays */
				if (!to_committed)
					inbound_expired(c, l->sku, a->loc, a->qty, r->expires_at_ms);
				continue;
			}
			core_rec *rec = sku_rec_at(c, l->sku, a->loc);
			assert(rec && rec->reserved >= a->qty);
			/* An expiring hold the readers already count as expired
			 * gives back units they no longer see as reserved. */
			track_rec(c, l->sku, rec, lazy ? a->qty : 0);
			rec->reserved -= a->qty;
			if (to_committed)
				rec->committed += a->qty;
			rec->version++;
			units += a->qty;
		}
	}
	c->units_reserved -= units;
	if (to_committed)
		c->units_committed += units;
}

void resv_forget(core *c, core_resv *r)
{
	bool expired = r->status == CORE_RESV_EXPIRED;
	core_resv **head = expired ? &c->exp_head : &c->fin_head;
	assert(r == *head);
	*head = r->fin_next;
	if (*head == NULL)
		*(expired ? &c->exp_tail : &c->fin_tail) = NULL;
	if (r->idem)
		idem_remove(c, r->idem);
	seqmap_del(&c->resv_by_seq, r->id - c->id_base);
	c->by_status[r->status]--;
	free(r);
}

/* ---- commit, release, fulfill, extend ------------------------------------ */

static int wrong_state(core *c, const core_resv *r, const char *what, core_error *err)
{
	char id[CORE_RESERVATION_ID_LEN + 1];
	resv_id_format(r->id, id);
	return core_fail(err, CORE_E_INVALID_STATE, "reservation %s is %s: %s", id,
	    core_resv_status_name(resv_status(c, r)), what);
}

/* Commands see a lazily expired hold as expired (resv_status) and refuse
 * it as they refuse a swept one, changing nothing. */
static int commit(core *c, core_resv *r, core_error *err)
{
	core_resv_status s = resv_status(c, r);
	if (s == CORE_RESV_COMMITTED)
		return 0; /* a retried commit is answered, not refused */
	if (s != CORE_RESV_HELD)
		return wrong_state(c, r, "only a held reservation can be committed", err);
	resv_account(c, r, false);
	resv_unhold(c, r, true);
	heap_remove(c, r);
	r->expires_at_ms = -1;
	set_status(c, r, CORE_RESV_COMMITTED);
	return 0;
}

/* Validate release/fulfill lines: each names a line of r, once, with at
 * most its remaining units. */
static int lines_validate(const core_resv *r, const core_resv_cmd *cmd, uint32_t *which, core_error *err)
{
	if (cmd->nlines == 0)
		return core_fail(err, CORE_E_BAD_REQUEST, "lines: empty; omit it to act on the whole reservation");
	if (cmd->nlines > r->nlines)
		return core_fail(err, CORE_E_BAD_REQUEST, "lines: more lines than the reservation has");
	for (uint32_t i = 0; i < cmd->nlines; i++) {
		const core_line_req *q = &cmd->lines[i];
		uint32_t k = 0;
		for (; k < r->nlines; k++) {
			core_str name = rline_sku_name(r, &r->lines[k]);
			if (name.len == q->sku.len && memcmp(name.p, q->sku.p, q->sku.len) == 0)
				break;
		}
		if (k == r->nlines)
			return core_fail(err, CORE_E_BAD_REQUEST, "lines[%u].sku: not in the reservation", i);
		for (uint32_t j = 0; j < i; j++)
			if (which[j] == k)
				return core_fail(err, CORE_E_BAD_REQUEST, "lines[%u].sku: named twice", i);
		uint64_t left = line_remaining(r, &r->lines[k]);
		if (q->qty < 1 || (uint64_t)q->qty > left)
			return core_fail(err, CORE_E_BAD_REQUEST, "lines[%u].qty: must be 1 to %llu",
			    i, (unsigned long long)left);
		which[i] = k;
	}
	return 0;
}

static int release_or_fulfill(core *c, core_resv *r, const core_resv_cmd *cmd, bool fulfil,
    core_error *err)
{
	core_resv_status s = resv_status(c, r);
	if (fulfil && s != CORE_RESV_COMMITTED)
		return wrong_state(c, r, "only committed units can be fulfilled", err);
	if (!fulfil && s != CORE_RESV_HELD && s != CORE_RESV_COMMITTED)
		return wrong_state(c, r, "only a held or committed reservation can be released", err);
	uint32_t *which = (uint32_t *)(void *)c->shorts; /* scratch: lines_max entries */
	_Static_assert(sizeof(core_short_line) >= sizeof(uint32_t), "scratch fits");
	if (cmd->lines) {
		int rc = lines_validate(r, cmd, which, err);
		if (rc)
			return rc;
	}
	/* A held one's ledgers follow its units: out now, back in after. */
	bool held = s == CORE_RESV_HELD;
	if (held)
		resv_account(c, r, false);
	uint16_t *before = plan_loc_scratch(c);
	uint32_t nbefore = resv_open_locs(c, r, before);
	if (cmd->lines) {
		for (uint32_t i = 0; i < cmd->nlines; i++)
			line_reduce(c, r, &r->lines[which[i]], (uint32_t)cmd->lines[i].qty, fulfil);
	} else {
		for (uint32_t i = 0; i < r->nlines; i++)
			line_reduce(c, r, &r->lines[i], (uint32_t)line_remaining(r, &r->lines[i]), fulfil);
	}
	resv_close_emptied(c, r, before, nbefore, cmd->lines == NULL); /* whole: every one closes */
	bool any_left = false, any_fulfilled = false;
	for (uint32_t i = 0; i < r->nlines; i++) {
		any_left |= line_remaining(r, &r->lines[i]) > 0;
		any_fulfilled |= r->lines[i].fulfilled > 0;
	}
	if (!any_left)
		resv_end(c, r, any_fulfilled ? CORE_RESV_FULFILLED : CORE_RESV_RELEASED);
	else if (held)
		resv_account(c, r, true); /* needs no node the line above did not free */
	return 0;
}

static int extend(core *c, core_resv *r, int64_t ttl_ms, core_error *err)
{
	if (ttl_ms < 1 || ttl_ms > c->cfg.ttl_max_ms)
		return core_fail(err, CORE_E_BAD_REQUEST, "ttl_ms: must be 1 to %lld",
		    (long long)c->cfg.ttl_max_ms);
	if (resv_status(c, r) != CORE_RESV_HELD)
		return wrong_state(c, r, "only a held reservation can be extended", err);
	uint32_t nallocs = 0;
	for (uint32_t i = 0; i < r->nlines; i++)
		nallocs += r->lines[i].nallocs;
	if (ledger_reserve(c, resv_account_nodes(nallocs, r->nlines)) != 0)
		return core_fail(err, CORE_E_BUSY, "out of memory");
	resv_account(c, r, false);
	r->expires_at_ms = c->now_ms + ttl_ms;
	heap_update(c, r);
	resv_account(c, r, true);
	return 0;
}

int resv_exec(core *c, const core_cmd *cmd, core_result *res, core_error *err)
{
	if (cmd->type == CORE_CMD_RESERVE)
		return resv_reserve(c, &cmd->u.reserve, res, err);
	const core_resv_cmd *rc = &cmd->u.resv;
	const core_resv *found;
	int e = core_resv_find(c, rc->reservation_id, &found, err);
	if (e)
		return e;
	core_resv *r = (core_resv *)(uintptr_t)found;
	switch (cmd->type) {
	case CORE_CMD_COMMIT: e = commit(c, r, err); break;
	case CORE_CMD_RELEASE: e = release_or_fulfill(c, r, rc, false, err); break;
	case CORE_CMD_FULFILL: e = release_or_fulfill(c, r, rc, true, err); break;
	case CORE_CMD_EXTEND: e = extend(c, r, rc->ttl_ms, err); break;
	default: return core_fail(err, CORE_E_BAD_REQUEST, "unknown command");
	}
	if (e == 0) {
		res->kind = CORE_RESULT_RESV;
		res->resv = r;
	}
	return e;
}
