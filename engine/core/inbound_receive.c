/*
 * inbound_receive.c - inbound stock arriving (inbound.receive), the lists
 * of reservations waiting on a sku's inbound entries, and what the entries
 * add to reads: a record's incoming, availability at a date, the list.
 *
 * A receipt at (sku, location) puts its units on hand and uses up the
 * entries there (those with its ref, when it names one), earliest first.
 * Its units go first to the backorders waiting at the location, earliest
 * reservation first, which become allocations on hand; what backorders
 * still hold there is then spread again over the entries left there,
 * earliest first (the rule of new backorders). A reservation
 * keeps its state: the units join the record's reserved (held) or
 * committed (committed), and the reservation gains an allocation on hand
 * at the location when it had none (its orig is 0: the first reply did not
 * have it). Everything that can fail (memory, limits) is checked before
 * anything changes.
 */
#include "core_internal.h"

#include <stdlib.h>

static core_inb *inb_mut(const core *c, const core_sku *s)
{
	return (core_inb *)(uintptr_t)inbound_of(c, s);
}

int64_t inbound_incoming_at(const core *c, const core_sku *s, uint16_t loc)
{
	const core_inb *b = inbound_of(c, s);
	int64_t n = 0;
	for (uint32_t i = 0; b && i < b->n; i++)
		n += b->e[i].loc == loc ? b->e[i].qty : 0;
	return n;
}

/* ---- waiting lists ---------------------------------------------------------- */

/* The line of r for s, or NULL. */
static core_rline *line_of(const core_resv *r, const core_sku *s)
{
	for (uint32_t i = 0; i < r->nlines; i++)
		if (r->lines[i].sku == s)
			return (core_rline *)(uintptr_t)&r->lines[i];
	return NULL;
}

/* The allocation of line l at loc, on hand or backordered; NULL if none. */
static core_ralloc *alloc_at(const core_resv *r, const core_rline *l, uint16_t loc, bool backorder)
{
	core_ralloc *al = resv_allocs(r);
	for (uint32_t j = 0; j < l->nallocs; j++) {
		core_ralloc *a = &al[l->alloc_first + j];
		if (a->loc == loc && (a->backorder != 0) == backorder)
			return a;
	}
	return NULL;
}

bool inbound_resv_waits(const core *c, const core_resv *r, const core_sku *s)
{
	if (r == NULL)
		return false;
	core_resv_status st = resv_status(c, r);
	const core_rline *l = line_of(r, s);
	if ((st != CORE_RESV_HELD && st != CORE_RESV_COMMITTED) || l == NULL)
		return false;
	const core_ralloc *al = resv_allocs(r);
	for (uint32_t j = 0; j < l->nallocs; j++)
		if (al[l->alloc_first + j].backorder && al[l->alloc_first + j].qty > 0)
			return true;
	return false;
}

/* Drop the reservations that no longer wait; the order stays. */
static void waiting_prune(const core *c, core_inb *b)
{
	uint32_t k = 0;
	for (uint32_t i = 0; i < b->nwaiting; i++)
		if (inbound_resv_waits(c, seqmap_get(&c->resv_by_seq, b->waiting[i]), b->sku))
			b->waiting[k++] = b->waiting[i];
	b->nwaiting = k;
}

static int waiting_grow(core_inb *b)
{
	uint32_t cap = b->cap_waiting ? b->cap_waiting * 2 : 8;
	uint64_t *w = realloc(b->waiting, (size_t)cap * sizeof(*w));
	if (w == NULL)
		return -1;
	b->waiting = w;
	b->cap_waiting = cap;
	return 0;
}

int inbound_waiting_room(core *c, const core_sku *s)
{
	core_inb *b = inb_mut(c, s);
	assert(b != NULL); /* backorders are held only against entries */
	if (b->nwaiting < b->cap_waiting)
		return 0;
	/* Full: drop who no longer waits; grow when that left it over half
	 * full, so that pruning costs O(1) per reservation added. */
	waiting_prune(c, b);
	if (b->nwaiting <= b->cap_waiting / 2 && b->nwaiting < b->cap_waiting)
		return 0;
	if (waiting_grow(b) != 0 && b->nwaiting == b->cap_waiting)
		return -1;
	return 0;
}

void inbound_waiting_add(core *c, const core_sku *s, uint64_t seq)
{
	core_inb *b = inb_mut(c, s);
	assert(b != NULL && b->nwaiting < b->cap_waiting);
	assert(b->nwaiting == 0 || b->waiting[b->nwaiting - 1] < seq);
	b->waiting[b->nwaiting++] = seq;
}

int inbound_waiting_restore(core *c, const core_sku *s, uint64_t seq)
{
	core_inb *b = inb_mut(c, s);
	if (b == NULL)
		return 0; /* no entries: the restore's backorder check refuses it */
	if (b->nwaiting == b->cap_waiting && waiting_grow(b) != 0)
		return -1;
	uint32_t i = b->nwaiting;
	while (i > 0 && b->waiting[i - 1] > seq) {
		b->waiting[i] = b->waiting[i - 1];
		i--;
	}
	if (i > 0 && b->waiting[i - 1] == seq) { /* there already: undo the shift */
		memmove(&b->waiting[i], &b->waiting[i + 1], (b->nwaiting - i) * sizeof(*b->waiting));
		return 0;
	}
	b->waiting[i] = seq;
	b->nwaiting++;
	return 0;
}

static int cmp_seq(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Every list ascends, and holds every live reservation that waits. */
const char *inbound_waiting_check(const core *c)
{
	for (uint32_t t = 0; t < table_slots(&c->inb_by_sku); t++) {
		const core_inb *b = table_at(&c->inb_by_sku, t);
		for (uint32_t i = 1; b && i < b->nwaiting; i++)
			if (b->waiting[i - 1] >= b->waiting[i])
				return "a sku's waiting list is not in sequence order";
	}
	for (uint64_t seq = 0; seq < c->next_seq; seq++) {
		const core_resv *r = seqmap_get(&c->resv_by_seq, seq);
		for (uint32_t i = 0; r && i < r->nlines; i++) {
			const core_sku *s = r->lines[i].sku;
			if (s == NULL || !inbound_resv_waits(c, r, s))
				continue;
			const core_inb *b = inbound_of(c, s);
			if (b == NULL || b->nwaiting == 0 ||
			    bsearch(&seq, b->waiting, b->nwaiting, sizeof(seq), cmp_seq) == NULL)
				return "a reservation holding backorders is not on its sku's waiting list";
		}
	}
	return NULL;
}

void inbound_receive_finish(core *c)
{
	free(c->fills);
	free(c->fill_grown);
	c->fills = NULL;
	c->fill_grown = NULL;
	c->fills_cap = 0;
}

/* ---- receipts --------------------------------------------------------------- */

/* What a receipt will do, worked out before anything changes. */
typedef struct receipt {
	core_loc *loc;
	core_sku *sku;          /* NULL: a sku no one knows yet */
	core_inb *b;            /* NULL: no entries */
	bool at_loc;            /* b has entries at loc */
	uint32_t take[CORE_INBOUND_PER_SKU_MAX];  /* units received per entry */
	uint64_t waiting;       /* backorder units held at the location */
	uint64_t fill;          /* of them, units to fill */
	uint64_t fill_held, fill_committed;
	uint32_t nfills;
	uint64_t ledger_nodes;  /* for the held reservations filled */
} receipt;

static bool ref_is(const inb_entry *e, core_str ref)
{
	return e->ref_len == ref.len && memcmp(e->ref, ref.p, ref.len) == 0;
}

/* Which entries the units use up, and how many backorder units they fill:
 * as many as wait at the location, up to the units received. */
static int receipt_entries(const core *c, const core_inbound_cmd *cmd, receipt *rp, core_error *err)
{
	const core_inb *b = rp->b;
	uint32_t held[CORE_INBOUND_PER_SKU_MAX];
	uint64_t left = (uint64_t)cmd->qty;
	bool matched = false;
	if (b)
		inbound_held_now(c, b, held);
	for (uint32_t i = 0; b && i < b->n; i++) {
		const inb_entry *e = &b->e[i];
		if (e->loc != rp->loc->id)
			continue;
		rp->at_loc = true;
		rp->waiting += held[i];
		if (cmd->ref.p && !ref_is(e, cmd->ref))
			continue;
		matched = true;
		uint32_t t = left < e->qty ? (uint32_t)left : e->qty;
		rp->take[i] = t;
		left -= t;
	}
	if (cmd->ref.p && !matched)
		return core_fail(err, CORE_E_NOT_FOUND, "ref: sku '%.*s' has no inbound entry '%.*s' at '%s'",
		    (int)cmd->sku.len, cmd->sku.p, (int)cmd->ref.len, cmd->ref.p, rp->loc->name);
	rp->fill = rp->waiting < (uint64_t)cmd->qty ? rp->waiting : (uint64_t)cmd->qty;
	return 0;
}

static size_t resv_tail_len(const core_resv *r)
{
	const unsigned char *p = resv_unknown_names(r);
	for (uint32_t i = 0; i < r->nlines; i++)
		if (r->lines[i].sku == NULL)
			p += 1u + p[0];
	return (size_t)(p - (const unsigned char *)resv_order_id(r));
}

static uint32_t resv_nallocs(const core_resv *r)
{
	const core_rline *last = &r->lines[r->nlines - 1];
	return (uint32_t)last->alloc_first + last->nallocs;
}

static int fills_room(core *c, uint32_t n)
{
	if (n <= c->fills_cap)
		return 0;
	uint32_t cap = c->fills_cap ? c->fills_cap : 16;
	while (cap < n)
		cap *= 2;
	core_fill *f = realloc(c->fills, cap * sizeof(*f));
	if (f == NULL)
		return -1;
	c->fills = f;
	core_resv **g = realloc(c->fill_grown, cap * sizeof(*g));
	if (g == NULL)
		return -1;
	c->fill_grown = g;
	c->fills_cap = cap;
	return 0;
}

/* Memory for one fill: a grown copy when r has no allocation on hand at
 * loc to take the units; ledger nodes when held. */
static int fill_prepare(core *c, receipt *rp, const core_resv *r, uint32_t k, core_error *err)
{
	const core_rline *l = line_of(r, rp->sku);
	uint32_t nallocs = resv_nallocs(r);
	c->fill_grown[k] = NULL;
	if (alloc_at(r, l, rp->loc->id, false) == NULL) {
		if (nallocs >= UINT16_MAX)
			return core_fail(err, CORE_E_TOO_LARGE, "a reservation to fill has %u allocations already",
			    UINT16_MAX);
		size_t size = sizeof(core_resv) + r->nlines * sizeof(core_rline) +
		    (nallocs + 1u) * sizeof(core_ralloc) + resv_tail_len(r);
		if ((c->fill_grown[k] = malloc(size)) == NULL)
			return core_fail(err, CORE_E_BUSY, "out of memory");
		nallocs++;
	}
	if (r->status == CORE_RESV_HELD)
		rp->ledger_nodes += resv_account_nodes(nallocs, r->nlines);
	return 0;
}

/* The reservations to fill, earliest first, and what each needs. */
static int receipt_fills(core *c, receipt *rp, core_error *err)
{
	uint64_t left = rp->fill;
	rp->nfills = 0;
	for (uint32_t i = 0; left > 0 && i < rp->b->nwaiting; i++) {
		const core_resv *r = seqmap_get(&c->resv_by_seq, rp->b->waiting[i]);
		if (!inbound_resv_waits(c, r, rp->sku))
			continue;
		const core_ralloc *bo = alloc_at(r, line_of(r, rp->sku), rp->loc->id, true);
		if (bo == NULL || bo->qty == 0)
			continue;
		if (rp->nfills == CORE_RECEIVE_FILLS_MAX)
			return core_fail(err, CORE_E_TOO_LARGE, "qty: the receipt would fill more than %d "
			    "reservations; receive fewer units at once", CORE_RECEIVE_FILLS_MAX);
		if (fills_room(c, rp->nfills + 1) != 0)
			return core_fail(err, CORE_E_BUSY, "out of memory");
		uint32_t u = left < bo->qty ? (uint32_t)left : bo->qty;
		c->fills[rp->nfills] = (core_fill){ r, u };
		*(r->status == CORE_RESV_HELD ? &rp->fill_held : &rp->fill_committed) += u;
		int rc = fill_prepare(c, rp, r, rp->nfills++, err);
		if (rc)
			return rc;
		left -= u;
	}
	/* What the entries hold at loc is what waiting backorders hold there. */
	assert(left == 0);
	return 0;
}

static void receipt_abort(core *c, const receipt *rp)
{
	for (uint32_t k = 0; k < rp->nfills; k++)
		free(c->fill_grown[k]);
}

static int receipt_validate(const core *c, const core_inbound_cmd *cmd, core_error *err)
{
	if (!name_valid(cmd->sku, CORE_NAME_MAX))
		return core_fail(err, CORE_E_BAD_REQUEST,
		    "sku: must be 1 to %d bytes without control characters", CORE_NAME_MAX);
	if (!name_valid(cmd->location, CORE_NAME_MAX))
		return core_fail(err, CORE_E_BAD_REQUEST,
		    "location: must be 1 to %d bytes without control characters", CORE_NAME_MAX);
	if (cmd->qty < 1 || cmd->qty > CORE_QTY_MAX)
		return core_fail(err, CORE_E_BAD_REQUEST, "qty: must be 1 to %lld", CORE_QTY_MAX);
	if (cmd->ref.p && !name_valid(cmd->ref, CORE_REF_MAX))
		return core_fail(err, CORE_E_BAD_REQUEST,
		    "ref: must be 1 to %d bytes without control characters", CORE_REF_MAX);
	if (loc_find(c, cmd->location) == NULL)
		return core_fail(err, CORE_E_NOT_FOUND, "location '%.*s' not found: stock.set or "
		    "location.put makes it", (int)cmd->location.len, cmd->location.p);
	return 0;
}

/* Plan a receipt that passed receipt_validate(); changes nothing but the
 * scratch (and allocates what the fills need: receipt_abort() frees it). */
static int receipt_plan(core *c, const core_inbound_cmd *cmd, receipt *rp, core_error *err)
{
	rp->loc = loc_find(c, cmd->location);
	rp->sku = sku_find(c, cmd->sku);
	rp->b = inb_mut(c, rp->sku);
	int rc = receipt_entries(c, cmd, rp, err);
	if (rc)
		return rc;
	const core_rec *rec = rp->sku ? sku_rec_at(c, rp->sku, rp->loc->id) : NULL;
	if ((rec ? rec->on_hand : 0) + cmd->qty > CORE_QTY_MAX)
		return core_fail(err, CORE_E_BAD_REQUEST, "qty: on_hand would exceed %lld", CORE_QTY_MAX);
	/* reserved counts lazily expired holds until they are swept. */
	if (rec && ((uint64_t)rec->reserved + rp->fill > UINT32_MAX ||
	    (uint64_t)rec->committed + rp->fill > CORE_QTY_MAX))
		return core_fail(err, CORE_E_BAD_REQUEST, "qty: the record would hold more than %lld units "
		    "for reservations", CORE_QTY_MAX);
	if (rp->fill && (rc = receipt_fills(c, rp, err)) != 0)
		return rc;
	if (rp->ledger_nodes && ledger_reserve(c, rp->ledger_nodes) != 0)
		return core_fail(err, CORE_E_BUSY, "out of memory");
	return 0;
}

/* r, moved to grown (room for one more allocation), with an empty
 * allocation on hand at loc before the line's backorders. */
static core_resv *resv_grow(core *c, core_resv *r, core_rline *line, uint16_t loc, core_resv *grown)
{
	uint32_t li = (uint32_t)(line - r->lines), nallocs = resv_nallocs(r);
	uint32_t pos = line->alloc_first;
	const core_ralloc *al = resv_allocs(r);
	while (pos < (uint32_t)line->alloc_first + line->nallocs && !al[pos].backorder)
		pos++;
	size_t head = sizeof(core_resv) + r->nlines * sizeof(core_rline), tail = resv_tail_len(r);
	memcpy(grown, r, head);
	core_ralloc *nal = resv_allocs(grown);
	memcpy(nal, al, pos * sizeof(*al));
	nal[pos] = (core_ralloc){ .qty = 0, .orig = 0, .loc = loc, .backorder = 0 };
	memcpy(nal + pos + 1, al + pos, (nallocs - pos) * sizeof(*al));
	grown->lines[li].nallocs++;
	for (uint32_t i = li + 1; i < grown->nlines; i++)
		grown->lines[i].alloc_first++;
	memcpy((char *)(nal + nallocs + 1), resv_order_id(r), tail);
	/* Whatever points at r points at the copy now: the sequence map, the
	 * expiry heap, the key that made it. */
	seqmap_replace(&c->resv_by_seq, r->id - c->id_base, grown);
	if (grown->heap_idx != HEAP_NONE)
		c->heap[grown->heap_idx] = grown;
	if (grown->idem)
		grown->idem->resv = grown;
	free(r);
	return grown;
}

/* Turn u backordered units of r at loc into units on hand there. */
static core_resv *fill_apply(core *c, const receipt *rp, core_resv *r, uint32_t u, core_rec *rec,
    core_resv *grown)
{
	uint16_t loc = rp->loc->id;
	bool held = r->status == CORE_RESV_HELD;
	if (held) /* its ledgers follow its units: out now, back in after */
		resv_account(c, r, false);
	core_rline *l = line_of(r, rp->sku);
	core_ralloc *on = alloc_at(r, l, loc, false);
	bool opens = true;
	for (uint32_t i = 0; i < r->nlines && opens; i++)
		for (uint32_t j = 0; j < r->lines[i].nallocs && opens; j++) {
			const core_ralloc *a = &resv_allocs(r)[r->lines[i].alloc_first + j];
			opens = !(a->loc == loc && !a->backorder && a->qty > 0);
		}
	if (on == NULL) {
		r = resv_grow(c, r, l, loc, grown);
		l = line_of(r, rp->sku);
		on = alloc_at(r, l, loc, false);
	}
	core_ralloc *bo = alloc_at(r, l, loc, true);
	assert(on != NULL && bo != NULL && bo->qty >= u);
	bo->qty -= u;
	on->qty += u;
	*(held ? &rec->reserved : &rec->committed) += u;
	*(held ? &c->units_reserved : &c->units_committed) += u;
	if (opens) /* a new shipment from loc */
		c->locs[loc]->open++;
	if (held)
		resv_account(c, r, true);
	return r;
}

/* The entries at loc give up what the receipt took (used-up ones go), and
 * what backorders still hold there is spread over them again, earliest
 * first. It fits: the receipt took at most its units from them, and
 * filled that many backorders, or every one. */
static void receipt_take(core *c, receipt *rp)
{
	core_inb *b = rp->b;
	if (b == NULL || !rp->at_loc)
		return;
	inbound_settle(c, b, rp->loc->id); /* held is now what reads saw */
	uint64_t hold = rp->waiting - rp->fill;
	uint32_t k = 0;
	for (uint32_t i = 0; i < b->n; i++) {
		inb_entry *e = &b->e[i];
		assert(e->qty >= rp->take[i]);
		if (e->loc == rp->loc->id) {
			e->qty -= rp->take[i];
			e->held = hold < e->qty ? (uint32_t)hold : e->qty;
			hold -= e->held;
		}
		if (e->qty > 0)
			b->e[k++] = *e;
		else
			c->ninbound--;
	}
	assert(hold == 0);
	b->n = k;
}

int inbound_receive(core *c, const core_inbound_cmd *cmd, core_result *res, core_error *err)
{
	int rc = receipt_validate(c, cmd, err);
	if (rc)
		return rc;
	receipt rp = { 0 };
	target t;
	if ((rc = receipt_plan(c, cmd, &rp, err)) != 0 ||
	    (rc = target_prepare(c, cmd->sku, cmd->location, &t, err)) != 0) {
		receipt_abort(c, &rp);
		return rc;
	}
	/* Nothing can fail from here on. */
	receipt_take(c, &rp);
	core_rec *rec = target_commit(c, &t, cmd->sku, cmd->location);
	track_rec(c, t.sku, rec, 0);
	rec->on_hand += (uint32_t)cmd->qty;
	rec->version++;
	for (uint32_t k = 0; k < rp.nfills; k++) {
		core_resv *r = (core_resv *)(uintptr_t)c->fills[k].resv;
		c->fills[k].resv = fill_apply(c, &rp, r, (uint32_t)c->fills[k].qty, rec, c->fill_grown[k]);
		/* Its backorder became stock here: a reservation event, in the
		 * state it keeps. */
		track_resv(c, c->fills[k].resv, c->fills[k].resv->status, c->now_ms);
	}
	if (rp.b)
		waiting_prune(c, rp.b);
	res->kind = CORE_RESULT_RECEIPT;
	rec_view(c, t.sku, rec, &res->record);
	res->fills = c->fills;
	res->nfills = rp.nfills;
	return 0;
}

/* ---- reads -------------------------------------------------------------------- */

static bool in_channel(const core_channel *ch, uint16_t loc)
{
	return ch == NULL || ch->all || ((ch->bits[loc >> 6] >> (loc & 63)) & 1);
}

static void avail_emit(const core *c, uint16_t loc, int64_t n, const core_channel *ch,
    void (*emit)(void *ctx, const core_avail_loc *loc), void *ctx, int64_t *total, uint32_t *nlocs)
{
	const core_loc *l = c->locs[loc];
	int64_t a = n - (ch ? (int64_t)ch->buffer : 0);
	core_avail_loc v = { { l->name, l->name_len }, a > 0 ? a : 0 };
	*total += v.available;
	(*nlocs)++;
	if (emit)
		emit(ctx, &v);
}

int64_t core_avail_at(const core *c, core_str sku, core_str location, const core_channel *ch,
    int64_t at_ms, void (*emit)(void *ctx, const core_avail_loc *loc), void *ctx,
    uint32_t *nlocs)
{
	*nlocs = 0;
	const core_sku *s = sku_find(c, sku);
	const core_loc *only = location.p ? loc_find(c, location) : NULL;
	if (s == NULL || (location.p && only == NULL))
		return 0;
	/* Free units due by at_ms, per entry; each location's are summed
	 * where it is met first. */
	const core_inb *b = inbound_of(c, s);
	uint32_t held[CORE_INBOUND_PER_SKU_MAX];
	bool used[CORE_INBOUND_PER_SKU_MAX] = { false };
	if (b)
		inbound_held_now(c, b, held);
	int64_t total = 0;
	for (uint32_t i = 0; i < s->nrecs; i++) {
		const core_rec *rec = &s->recs[i];
		if ((only && rec->loc != only->id) || !in_channel(ch, rec->loc))
			continue;
		int64_t n = rec_available(c, rec);
		for (uint32_t k = 0; b && k < b->n; k++)
			if (b->e[k].loc == rec->loc) {
				n += b->e[k].eta_ms <= at_ms ? b->e[k].qty - held[k] : 0;
				used[k] = true;
			}
		avail_emit(c, rec->loc, n, ch, emit, ctx, &total, nlocs);
	}
	/* Locations with entries but no record yet. */
	for (uint32_t k = 0; b && k < b->n; k++) {
		uint16_t loc = b->e[k].loc;
		if (used[k] || (only && loc != only->id) || !in_channel(ch, loc))
			continue;
		int64_t n = 0;
		for (uint32_t j = k; j < b->n; j++)
			if (b->e[j].loc == loc) {
				n += b->e[j].eta_ms <= at_ms ? b->e[j].qty - held[j] : 0;
				used[j] = true;
			}
		avail_emit(c, loc, n, ch, emit, ctx, &total, nlocs);
	}
	return total;
}

static int cmp_inb_name(const void *a, const void *b)
{
	const core_inb *x = *(const core_inb *const *)a, *y = *(const core_inb *const *)b;
	return strcmp(x->sku->name, y->sku->name);
}

static void list_sku(const core *c, const core_inb *b,
    void (*emit)(void *ctx, const core_inbound_view *v), void *ctx)
{
	uint32_t held[CORE_INBOUND_PER_SKU_MAX];
	inbound_held_now(c, b, held);
	for (uint32_t i = 0; i < b->n; i++) {
		const inb_entry *e = &b->e[i];
		const core_loc *l = c->locs[e->loc];
		core_inbound_view v = { .sku = { b->sku->name, b->sku->name_len },
			.location = { l->name, l->name_len }, .qty = e->qty, .eta_ms = e->eta_ms,
			.ref = { e->ref_len ? e->ref : NULL, e->ref_len }, .backordered = held[i] };
		emit(ctx, &v);
	}
}

uint64_t core_inbound_count(const core *c, core_str sku)
{
	if (sku.p == NULL)
		return c->ninbound;
	const core_inb *b = inbound_of(c, sku_find(c, sku));
	return b ? b->n : 0;
}

int core_inbound_list(const core *c, core_str sku,
    void (*emit)(void *ctx, const core_inbound_view *v), void *ctx, core_error *err)
{
	if (sku.p) {
		const core_inb *b = inbound_of(c, sku_find(c, sku));
		if (b)
			list_sku(c, b, emit, ctx);
		return 0;
	}
	/* Every sku's, by sku name: only those with entries are sorted. */
	uint32_t n = 0, cap = table_count(&c->inb_by_sku);
	const core_inb **bs = malloc((cap ? cap : 1) * sizeof(*bs));
	if (bs == NULL)
		return core_fail(err, CORE_E_BUSY, "out of memory");
	for (uint32_t t = 0; t < table_slots(&c->inb_by_sku); t++) {
		const core_inb *b = table_at(&c->inb_by_sku, t);
		if (b && b->n > 0 && n < cap)
			bs[n++] = b;
	}
	if (n > 1)
		qsort(bs, n, sizeof(*bs), cmp_inb_name);
	for (uint32_t i = 0; i < n; i++)
		list_sku(c, bs[i], emit, ctx);
	free(bs);
	return 0;
}
