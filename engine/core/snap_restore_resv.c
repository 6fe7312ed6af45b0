/*
 * snap_restore_resv.c - restoring a snapshot's reservations (see
 * snap_restore.c): their checks, their layout, their lines' skus looked up
 * in batches (struct pending), the units they add to records, and the live
 * backorders checked against the inbound entries at the end.
 */
#include "snap_internal.h"
#include "plan.h"

#include <stdlib.h>

/* Check a reservation's times against its status. */
static const char *resv_times_invalid(const core *c, const core_snap_resv *v)
{
	if (v->orig_expires_at_ms < 1)
		return "orig_expires_at_ms must be positive";
	switch (v->status) {
	case CORE_RESV_HELD:
		if (v->expires_at_ms < 1 || v->finished_at_ms != -1)
			return "a held reservation has a positive deadline and finished_at_ms -1";
		return NULL;
	case CORE_RESV_COMMITTED:
		if (v->expires_at_ms != -1 || v->finished_at_ms != -1)
			return "a committed reservation has expires_at_ms and finished_at_ms -1";
		return NULL;
	case CORE_RESV_EXPIRED:
		if (v->finished_at_ms != v->expires_at_ms)
			return "an expired reservation finished at its deadline";
		/* fall through */
	default:
		if (v->finished_at_ms < 0 || v->finished_at_ms > c->now_ms)
			return "a finished reservation has finished_at_ms from 0 to now_ms";
		return NULL;
	}
}

/* Whether line l has a backorder at location loc: units received there
 * may have joined its allocation on hand. */
static bool received_at(const core_snap_line *l, uint64_t loc)
{
	for (uint32_t j = 0; j < l->nbackorders; j++)
		if (l->backorders[j].location == loc)
			return true;
	return false;
}

/* Check the lines of v as far as they can be without looking skus up;
 * their sizes go to *nallocs and *names. */
static int resv_lines_check(core_restore *r, const core_snap_resv *v, uint32_t *nallocs,
    size_t *names, core_error *err)
{
	core *c = r->c;
	unsigned long long seq = (unsigned long long)v->seq;
	*nallocs = 0;
	*names = 0;
	for (uint32_t i = 0; i < v->nlines; i++) {
		const core_snap_line *l = &v->lines[i];
		if (!name_valid(l->sku, CORE_NAME_MAX))
			return snap_refuse(r, err, CORE_E_BAD_REQUEST, "reservation %llu: lines[%u].sku must be 1 "
			    "to %d bytes without control characters", seq, i, CORE_NAME_MAX);
		for (uint32_t j = 0; j < i; j++)
			if (v->lines[j].sku.len == l->sku.len &&
			    memcmp(v->lines[j].sku.p, l->sku.p, l->sku.len) == 0)
				return snap_refuse(r, err, CORE_E_BAD_REQUEST, "reservation %llu: lines[%u] has the "
				    "sku of lines[%u]", seq, i, j);
		if (!l->sku_known && l->nallocs + l->nbackorders > 0)
			return snap_refuse(r, err, CORE_E_BAD_REQUEST, "reservation %llu: lines[%u] has "
			    "allocations but no sku", seq, i);
		if (!l->sku_known)
			*names += 1u + l->sku.len;
		if (l->qty < 1 || l->qty > CORE_QTY_MAX || !snap_qty_valid(l->released) ||
		    !snap_qty_valid(l->fulfilled))
			return snap_refuse(r, err, CORE_E_BAD_REQUEST, "reservation %llu: lines[%u]: qty must "
			    "be 1 to %lld, released and fulfilled 0 to it", seq, i, CORE_QTY_MAX);
		if (l->nallocs + l->nbackorders > UINT16_MAX - *nallocs)
			return snap_refuse(r, err, CORE_E_BAD_REQUEST, "reservation %llu: more than %u "
			    "allocations", seq, UINT16_MAX);
		*nallocs += l->nallocs + l->nbackorders;
		int64_t orig = 0, left = 0;
		for (uint32_t j = 0; j < l->nallocs + l->nbackorders; j++) {
			const core_snap_alloc *a = j < l->nallocs ? &l->allocs[j] : &l->backorders[j - l->nallocs];
			if (a->location >= c->nlocs)
				return snap_refuse(r, err, CORE_E_BAD_REQUEST, "reservation %llu: lines[%u]."
				    "allocations[%u] names location %llu of %u", seq, i, j,
				    (unsigned long long)a->location, c->nlocs);
			/* An allocation on hand that a receipt made or added to
			 * (inbound.receive) may hold more than its orig, 0 for one
			 * the first reply did not have. */
			bool filled = j < l->nallocs && received_at(l, a->location);
			if (a->orig < (filled ? 0 : 1) || a->orig > CORE_QTY_MAX || a->qty < 0 ||
			    a->qty > (filled ? CORE_QTY_MAX : a->orig))
				return snap_refuse(r, err, CORE_E_BAD_REQUEST, "reservation %llu: lines[%u]."
				    "allocations[%u]: orig must be 1 to %lld, qty 0 to orig (on hand where the "
				    "line has a backorder: orig from 0, qty above it)", seq, i, j, CORE_QTY_MAX);
			orig += a->orig;
			left += a->qty;
		}
		/* Units only move from an allocation to released or fulfilled. */
		if (orig > l->qty || left + l->released + l->fulfilled != orig)
			return snap_refuse(r, err, CORE_E_BAD_REQUEST, "reservation %llu: lines[%u]: the "
			    "allocations do not add up to the units released, fulfilled and left", seq, i);
	}
	return 0;
}

/* Lay a reservation out as resv_build() does; known skus are looked up
 * later (their lines' sku is NULL until then). */
static core_resv *resv_make(core *c, const core_snap_resv *v, uint32_t nallocs, size_t names)
{
	size_t size = sizeof(core_resv) + v->nlines * sizeof(core_rline) +
	    nallocs * sizeof(core_ralloc) + v->order_id.len + 1u + v->customer_id.len + names;
	core_resv *r = malloc(size);
	if (r == NULL)
		return NULL;
	*r = (core_resv){
		.id = c->id_base + v->seq,
		.expires_at_ms = v->expires_at_ms,
		.orig_expires_at_ms = v->orig_expires_at_ms,
		.finished_at_ms = v->finished_at_ms,
		.heap_idx = HEAP_NONE,
		.nlines = (uint16_t)v->nlines,
		.status = (uint8_t)v->status,
		.order_id_len = (uint8_t)v->order_id.len,
	};
	core_ralloc *al = resv_allocs(r);
	uint32_t k = 0;
	for (uint32_t i = 0; i < v->nlines; i++) {
		const core_snap_line *l = &v->lines[i];
		r->lines[i] = (core_rline){ .qty = (uint32_t)l->qty, .released = (uint32_t)l->released,
			.fulfilled = (uint32_t)l->fulfilled, .alloc_first = (uint16_t)k,
			.nallocs = (uint16_t)(l->nallocs + l->nbackorders) };
		for (uint32_t j = 0; j < l->nallocs; j++, k++)
			al[k] = (core_ralloc){ (uint32_t)l->allocs[j].qty, (uint32_t)l->allocs[j].orig,
				(uint16_t)l->allocs[j].location, 0 };
		for (uint32_t j = 0; j < l->nbackorders; j++, k++)
			al[k] = (core_ralloc){ (uint32_t)l->backorders[j].qty, (uint32_t)l->backorders[j].orig,
				(uint16_t)l->backorders[j].location, 1 };
	}
	char *tail = (char *)(al + nallocs);
	memcpy(tail, v->order_id.p, v->order_id.len);
	tail += v->order_id.len;
	*tail++ = (char)(uint8_t)v->customer_id.len;
	if (v->customer_id.len)
		memcpy(tail, v->customer_id.p, v->customer_id.len);
	tail += v->customer_id.len;
	for (uint32_t i = 0; i < v->nlines; i++) {
		if (v->lines[i].sku_known)
			continue;
		*tail++ = (char)(uint8_t)v->lines[i].sku.len;
		memcpy(tail, v->lines[i].sku.p, v->lines[i].sku.len);
		tail += v->lines[i].sku.len;
	}
	return r;
}

static int bo_claim_add(core_restore *r, const core_sku *s, uint16_t loc, uint32_t qty)
{
	if (r->nbo == r->bo_cap) {
		uint64_t cap = r->bo_cap ? r->bo_cap * 2 : 256;
		struct bo_claim *bo = realloc(r->bo, cap * sizeof(*bo));
		if (bo == NULL)
			return -1;
		r->bo = bo;
		r->bo_cap = cap;
	}
	r->bo[r->nbo++] = (struct bo_claim){ s, loc, qty };
	return 0;
}

static int cmp_bo(const void *a, const void *b)
{
	const struct bo_claim *x = a, *y = b;
	if (x->sku != y->sku)
		return (uintptr_t)x->sku < (uintptr_t)y->sku ? -1 : 1;
	return x->loc < y->loc ? -1 : x->loc > y->loc;
}

/* Units held at (s, loc) by inbound entries. */
static uint64_t inbound_held_at(const core *c, const core_sku *s, uint64_t loc)
{
	const core_inb *b = inbound_of(c, s);
	uint64_t held = 0;
	for (uint32_t i = 0; b && i < b->n; i++)
		held += b->e[i].loc == loc ? b->e[i].held : 0;
	return held;
}

/* What live backorders hold against what the inbound entries say they
 * hold, per sku and location, both ways. */
int snap_check_backorders(core_restore *r, core_error *err)
{
	core *c = r->c;
	if (r->nbo > 0)
		qsort(r->bo, r->nbo, sizeof(*r->bo), cmp_bo);
	uint64_t groups = 0;
	for (uint64_t i = 0; i < r->nbo;) {
		uint64_t j = i, sum = 0;
		for (; j < r->nbo && cmp_bo(&r->bo[i], &r->bo[j]) == 0; j++)
			sum += r->bo[j].qty;
		if (sum != inbound_held_at(c, r->bo[i].sku, r->bo[i].loc))
			return snap_refuse(r, err, CORE_E_BAD_REQUEST, "sku '%s' at '%s': backorders hold %llu units, "
			    "its inbound entries say otherwise", r->bo[i].sku->name, c->locs[r->bo[i].loc]->name,
			    (unsigned long long)sum);
		groups++;
		i = j;
	}
	/* Every (sku, location) whose entries hold units was a group above. */
	uint64_t holding = 0;
	for (uint32_t t = 0; t < table_slots(&c->inb_by_sku); t++) {
		const core_inb *b = table_at(&c->inb_by_sku, t);
		for (uint32_t i = 0; b && i < b->n; i++) {
			bool first = true;
			for (uint32_t k = 0; k < i && first; k++)
				first = b->e[k].loc != b->e[i].loc;
			holding += first && inbound_held_at(c, b->sku, b->e[i].loc) > 0;
		}
	}
	if (holding != groups)
		return snap_refuse(r, err, CORE_E_BAD_REQUEST, "inbound entries hold units no backorder holds");
	return 0;
}

/* Give a pending line its sku, check its allocations name records of it,
 * and add a live reservation's units to them. */
static int pending_resolve(core_restore *r, const pending *p, core_error *err)
{
	core *c = r->c;
	core_resv *res = p->res;
	unsigned long long seq = (unsigned long long)(res->id - c->id_base);
	if (p->sku == NULL)
		return snap_refuse(r, err, CORE_E_BAD_REQUEST, "reservation %llu: lines[%u].sku '%.*s' is "
		    "not a sku", seq, p->line, (int)p->name_len, p->name);
	core_rline *l = &res->lines[p->line];
	l->sku = p->sku;
	bool live = res->status == CORE_RESV_HELD || res->status == CORE_RESV_COMMITTED;
	bool held = res->status == CORE_RESV_HELD;
	const core_ralloc *al = resv_allocs(res);
	for (uint32_t j = 0; j < l->nallocs; j++) {
		const core_ralloc *a = &al[l->alloc_first + j];
		if (a->backorder) {
			if (live && a->qty > 0 && (bo_claim_add(r, l->sku, a->loc, a->qty) != 0 ||
			    inbound_waiting_restore(c, l->sku, seq) != 0))
				return snap_refuse(r, err, CORE_E_BUSY, "out of memory");
			continue;
		}
		core_rec *rec = sku_rec_at(c, l->sku, a->loc);
		if (rec == NULL)
			return snap_refuse(r, err, CORE_E_BAD_REQUEST, "reservation %llu: lines[%u]."
			    "allocations[%u] names no record of the sku", seq, p->line, j);
		if (!live || a->qty == 0)
			continue;
		uint32_t *units = held ? &rec->reserved : &rec->committed;
		if (*units > CORE_QTY_MAX - a->qty)
			return snap_refuse(r, err, CORE_E_BAD_REQUEST, "reservation %llu: the holds on '%s' at "
			    "'%s' exceed %lld units", seq, l->sku->name, c->locs[a->loc]->name,
			    CORE_QTY_MAX);
		*units += a->qty;
		*(held ? &c->units_reserved : &c->units_committed) += a->qty;
	}
	return 0;
}

/* Look the pending lines up, stage by stage (see struct pending). */
int snap_pending_flush(core_restore *r, core_error *err)
{
	core *c = r->c;
	const table *t = &c->sku_by_name;
	pending *ps = r->pending;
	uint32_t n = r->npending;
	r->npending = 0;
	for (uint32_t i = 0; i < n; i++) {
		ps[i].hash = sku_name_hash(c, (core_str){ ps[i].name, ps[i].name_len });
		table_prefetch(t, ps[i].hash);
	}
	for (uint32_t i = 0; i < n; i++)
		table_prefetch_items(t, ps[i].hash);
	for (uint32_t i = 0; i < n; i++) {
		ps[i].sku = sku_find(c, (core_str){ ps[i].name, ps[i].name_len });
		if (ps[i].sku)
			__builtin_prefetch(ps[i].sku->recs);
	}
	for (uint32_t i = 0; i < n; i++)
		if (pending_resolve(r, &ps[i], err) != 0)
			return err->code;
	return 0;
}

/* A live reservation's open shipments: one per location it holds units at. */
static void open_count(core *c, const core_snap_resv *v)
{
	uint32_t stamp = plan_stamp_next(c);
	for (uint32_t i = 0; i < v->nlines; i++)
		for (uint32_t j = 0; j < v->lines[i].nallocs; j++) {
			const core_snap_alloc *a = &v->lines[i].allocs[j];
			if (a->qty > 0 && plan_stamp_set(c, (uint16_t)a->location, stamp))
				c->locs[a->location]->open++;
		}
}

int snap_restore_resv(core_restore *r, const core_snap_resv *v, core_error *err)
{
	core *c = r->c;
	unsigned long long seq = (unsigned long long)v->seq;
	if (r->reservations >= r->hdr.reservations)
		return snap_refuse(r, err, CORE_E_BAD_REQUEST, "more reservations than the header's %llu",
		    (unsigned long long)r->hdr.reservations);
	if (v->seq < 1 || v->seq >= c->next_seq)
		return snap_refuse(r, err, CORE_E_BAD_REQUEST, "reservation %llu: the sequence number must be "
		    "1 to next_seq - 1 (%llu)", seq, (unsigned long long)c->next_seq - 1);
	if (seqmap_get(&c->resv_by_seq, v->seq))
		return snap_refuse(r, err, CORE_E_BAD_REQUEST, "reservation %llu: is there twice", seq);
	if (v->status > CORE_RESV_EXPIRED)
		return snap_refuse(r, err, CORE_E_BAD_REQUEST, "reservation %llu: unknown status %llu", seq,
		    (unsigned long long)v->status);
	if (!name_valid(v->order_id, CORE_ORDER_ID_MAX))
		return snap_refuse(r, err, CORE_E_BAD_REQUEST, "reservation %llu: order_id must be 1 to %d "
		    "bytes without control characters", seq, CORE_ORDER_ID_MAX);
	if (v->nlines < 1 || v->nlines > c->cfg.lines_max)
		return snap_refuse(r, err, CORE_E_BAD_REQUEST, "reservation %llu: has %u lines; 1 to %u "
		    "allowed", seq, v->nlines, c->cfg.lines_max);
	const char *why = resv_times_invalid(c, v);
	if (why)
		return snap_refuse(r, err, CORE_E_BAD_REQUEST, "reservation %llu: %s", seq, why);
	uint32_t nallocs;
	size_t names;
	if (resv_lines_check(r, v, &nallocs, &names, err) != 0)
		return err->code;
	if (v->customer_id.p && !name_valid(v->customer_id, CORE_CUSTOMER_ID_MAX))
		return snap_refuse(r, err, CORE_E_BAD_REQUEST, "reservation %llu: customer_id must be 1 to %d "
		    "bytes without control characters", seq, CORE_CUSTOMER_ID_MAX);
	core_resv *res = resv_make(c, v, nallocs, names);
	if (res == NULL || seqmap_reserve(&c->resv_by_seq, v->seq) != 0) {
		free(res);
		return snap_refuse(r, err, CORE_E_BUSY, "out of memory");
	}
	seqmap_put(&c->resv_by_seq, v->seq, res); /* owned by the core from here */
	c->by_status[res->status]++;
	r->reservations++;
	if (res->status == CORE_RESV_HELD || res->status == CORE_RESV_COMMITTED)
		open_count(c, v);
	if (res->status == CORE_RESV_HELD) {
		if (heap_reserve(c, 1) != 0)
			return snap_refuse(r, err, CORE_E_BUSY, "out of memory");
		heap_push(c, res);
	} else if (res->status != CORE_RESV_COMMITTED) {
		/* Finished: items come oldest first, expiries first within a
		 * millisecond; each goes to its FIFO (expiry.c merges them). */
		bool other = res->status != CORE_RESV_EXPIRED;
		if (res->finished_at_ms < r->last_fin_ms || (res->finished_at_ms == r->last_fin_ms &&
		    r->last_fin_other && !other))
			return snap_refuse(r, err, CORE_E_BAD_REQUEST, "reservation %llu: finished reservations "
			    "are not oldest first", seq);
		r->last_fin_ms = res->finished_at_ms;
		r->last_fin_other = other;
		resv_finish_link(c, res);
	}
	for (uint32_t i = 0; i < v->nlines; i++) {
		if (!v->lines[i].sku_known)
			continue;
		if (r->npending == PENDING_MAX && snap_pending_flush(r, err) != 0)
			return err->code;
		pending *p = &r->pending[r->npending++];
		p->res = res;
		p->line = (uint16_t)i;
		p->name_len = (uint8_t)v->lines[i].sku.len;
		memcpy(p->name, v->lines[i].sku.p, v->lines[i].sku.len);
	}
	return 0;
}
