/*
 * inbound.c - expected arrivals (inbound.add) and the backorders held
 * against them.
 *
 * Each sku with inbound stock has a small sorted array of entries, filed
 * by sku. A backordered allocation of a reservation names only its
 * location: at each (sku, location) what backorders hold equals the sum of
 * the entries' held, and which entries hold it follows fixed rules (see
 * core_internal.h), so the state replays exactly.
 *
 * Backorders of lazily expired holds (expiry.c) are still in the entries'
 * held until the sweep reaches them. Reads take them out as the sweep
 * would (inbound_held_now); before a command changes the entries at a
 * location they go back for real (settle), which gives the entries the
 * sweep's result: units go back to the latest entries, and giving back
 * commutes with what can happen at that location in between (new entries,
 * more units, other units given back). Each location's slot remembers up
 * to which deadline that was done, so the sweep does not give them twice.
 */
#include "core_internal.h"

#include <stdlib.h>

static uint32_t inb_hash_of(const void *item)
{
	return ((const core_inb *)item)->sku->hash32;
}

int inbound_init(core *c)
{
	return table_init(&c->inb_by_sku, 64, inb_hash_of);
}

void inbound_finish(core *c)
{
	for (uint32_t i = 0; i < table_slots(&c->inb_by_sku); i++) {
		core_inb *b = table_at(&c->inb_by_sku, i);
		if (b) {
			free(b->e);
			free(b->slots);
			free(b->waiting);
			free(b);
		}
	}
	table_finish(&c->inb_by_sku);
}

static bool inb_eq(const void *item, const void *key)
{
	return ((const core_inb *)item)->sku == key;
}

core_inb *inbound_of(const core *c, const core_sku *s)
{
	if (s == NULL || table_count(&c->inb_by_sku) == 0)
		return NULL;
	return table_find(&c->inb_by_sku, s->hash32, inb_eq, s);
}

/* Entries order by eta, then location name, then ref. */
int inbound_entry_cmp(const core *c, const inb_entry *a, const inb_entry *b)
{
	if (a->eta_ms != b->eta_ms)
		return a->eta_ms < b->eta_ms ? -1 : 1;
	uint32_t ra = c->locs[a->loc]->name_rank, rb = c->locs[b->loc]->name_rank;
	if (ra != rb)
		return ra < rb ? -1 : 1;
	int n = memcmp(a->ref, b->ref, a->ref_len < b->ref_len ? a->ref_len : b->ref_len);
	return n ? n : (int)a->ref_len - (int)b->ref_len;
}

static inb_slot *slot_of(const core_inb *b, uint16_t loc)
{
	for (uint32_t i = 0; b && i < b->nslots; i++)
		if (b->slots[i].loc == loc)
			return &b->slots[i];
	return NULL;
}

/* Room for one more slot: drop those of locations without entries whose
 * ledger is empty (nothing to remember), else grow. */
static int slot_room(core_inb *b)
{
	if (b->nslots < b->cap_slots)
		return 0;
	uint32_t k = 0;
	for (uint32_t i = 0; i < b->nslots; i++) {
		bool used = b->slots[i].ledger != 0;
		for (uint32_t j = 0; j < b->n && !used; j++)
			used = b->e[j].loc == b->slots[i].loc;
		if (used)
			b->slots[k++] = b->slots[i];
	}
	b->nslots = k;
	if (k < b->cap_slots)
		return 0;
	uint32_t cap = b->cap_slots ? b->cap_slots * 2 : 2;
	inb_slot *slots = realloc(b->slots, cap * sizeof(*slots));
	if (slots == NULL)
		return -1;
	b->slots = slots;
	b->cap_slots = cap;
	return 0;
}

inb_slot *inbound_slot(const core *c, const core_sku *s, uint16_t loc)
{
	inb_slot *slot = slot_of(inbound_of(c, s), loc);
	assert(slot != NULL); /* backorders are held only where there are entries */
	return slot;
}

/* Room for one more entry in b (or a new b for s), and a slot for its
 * location; NULL without memory. */
static core_inb *inb_room(core *c, core_sku *s, core_inb *b, core_error *err)
{
	if (b && b->n < b->cap && slot_room(b) == 0)
		return b;
	if (b && b->n < b->cap) {
		core_fail(err, CORE_E_BUSY, "out of memory");
		return NULL;
	}
	bool fresh = b == NULL;
	if (fresh) {
		if (table_reserve(&c->inb_by_sku, 1) != 0 || (b = calloc(1, sizeof(*b))) == NULL) {
			core_fail(err, CORE_E_BUSY, "out of memory");
			return NULL;
		}
		b->sku = s;
	}
	uint32_t cap = b->cap ? b->cap * 2 : 2;
	inb_entry *e = realloc(b->e, cap * sizeof(*e));
	if (e != NULL) {
		b->e = e;
		b->cap = cap;
	}
	if (e == NULL || slot_room(b) != 0) {
		if (fresh) {
			free(b->e);
			free(b);
		}
		core_fail(err, CORE_E_BUSY, "out of memory");
		return NULL;
	}
	if (fresh) {
		int rc = table_insert(&c->inb_by_sku, s->hash32, b);
		assert(rc == 0); /* room was reserved */
		(void)rc;
	}
	return b;
}

static void inb_insert(core *c, core_inb *b, const inb_entry *e)
{
	uint32_t i = b->n;
	while (i > 0 && inbound_entry_cmp(c, e, &b->e[i - 1]) < 0) {
		b->e[i] = b->e[i - 1];
		i--;
	}
	b->e[i] = *e;
	b->n++;
	c->ninbound++;
	if (slot_of(b, e->loc) == NULL) /* room made by inb_room() */
		b->slots[b->nslots++] = (inb_slot){ .settled_ms = INT64_MIN, .loc = e->loc };
	assert(b->nslots <= b->cap_slots);
}

/* Entry k of b as a reply shows it, held[] from inbound_held_now(). */
static void entry_view(const core *c, const core_inb *b, uint32_t k, const uint32_t *held,
    core_inbound_view *out)
{
	const inb_entry *e = &b->e[k];
	const core_loc *l = c->locs[e->loc];
	*out = (core_inbound_view){ .sku = { b->sku->name, b->sku->name_len },
		.location = { l->name, l->name_len }, .qty = e->qty, .eta_ms = e->eta_ms,
		.ref = { e->ref_len ? e->ref : NULL, e->ref_len }, .backordered = held[k] };
}

/* Entry k of b after a change: the result of inbound.add. */
static void entry_result(const core *c, const core_inb *b, uint32_t k, core_result *res)
{
	uint32_t held[CORE_INBOUND_PER_SKU_MAX];
	inbound_held_now(c, b, held);
	res->kind = CORE_RESULT_INBOUND;
	entry_view(c, b, k, held, &res->inbound);
}

/* Units of lazily expired backorders at slot's location not given back yet. */
static uint64_t unsettled(const core *c, const inb_slot *slot)
{
	if (slot->ledger == 0 || !lazy_any(c) || slot->settled_ms >= c->horizon_ms)
		return 0;
	return ledger_upto(c, slot->ledger, c->horizon_ms).a - ledger_upto(c, slot->ledger, slot->settled_ms).a;
}

void inbound_held_now(const core *c, const core_inb *b, uint32_t *held)
{
	assert(b->n <= CORE_INBOUND_PER_SKU_MAX);
	for (uint32_t i = 0; i < b->n; i++)
		held[i] = b->e[i].held;
	for (uint32_t s = 0; s < b->nslots; s++) {
		uint64_t units = unsettled(c, &b->slots[s]);
		for (uint32_t i = b->n; i-- > 0 && units > 0;) { /* as inbound_return() gives back */
			uint32_t take = b->e[i].loc == b->slots[s].loc ? (held[i] < units ? held[i] : (uint32_t)units) : 0;
			held[i] -= take;
			units -= take;
		}
		assert(units == 0);
	}
}

int inbound_add(core *c, const core_inbound_cmd *cmd, core_result *res, core_error *err)
{
	if (!name_valid(cmd->sku, CORE_NAME_MAX))
		return core_fail(err, CORE_E_BAD_REQUEST,
		    "sku: must be 1 to %d bytes without control characters", CORE_NAME_MAX);
	if (!name_valid(cmd->location, CORE_NAME_MAX))
		return core_fail(err, CORE_E_BAD_REQUEST,
		    "location: must be 1 to %d bytes without control characters", CORE_NAME_MAX);
	if (cmd->qty < 1 || cmd->qty > CORE_QTY_MAX)
		return core_fail(err, CORE_E_BAD_REQUEST, "qty: must be 1 to %lld", CORE_QTY_MAX);
	if (cmd->eta_ms < 0)
		return core_fail(err, CORE_E_BAD_REQUEST, "eta: must be a time in ms since the epoch");
	if (cmd->ref.p && !name_valid(cmd->ref, CORE_REF_MAX))
		return core_fail(err, CORE_E_BAD_REQUEST,
		    "ref: must be 1 to %d bytes without control characters", CORE_REF_MAX);
	core_loc *l = loc_find(c, cmd->location);
	if (l == NULL)
		return core_fail(err, CORE_E_NOT_FOUND, "location '%.*s' not found: stock.set or "
		    "location.put makes it", (int)cmd->location.len, cmd->location.p);
	core_sku *s = sku_find(c, cmd->sku);
	core_inb *b = inbound_of(c, s);
	inb_entry e = { .eta_ms = cmd->eta_ms, .qty = (uint32_t)cmd->qty, .loc = l->id,
		.ref_len = (uint8_t)cmd->ref.len };
	if (cmd->ref.len)
		memcpy(e.ref, cmd->ref.p, cmd->ref.len);
	/* The same location, eta and ref: more of the same arrival. */
	for (uint32_t i = 0; b && i < b->n; i++) {
		inb_entry *x = &b->e[i];
		if (inbound_entry_cmp(c, x, &e) != 0)
			continue;
		if ((int64_t)x->qty + cmd->qty > CORE_QTY_MAX)
			return core_fail(err, CORE_E_BAD_REQUEST, "qty: the entry would exceed %lld", CORE_QTY_MAX);
		x->qty += (uint32_t)cmd->qty;
		entry_result(c, b, i, res);
		return 0;
	}
	if (b && b->n >= CORE_INBOUND_PER_SKU_MAX)
		return core_fail(err, CORE_E_TOO_LARGE, "sku '%.*s' has its maximum of %d inbound entries",
		    (int)cmd->sku.len, cmd->sku.p, CORE_INBOUND_PER_SKU_MAX);
	if (c->ninbound >= CORE_INBOUND_MAX)
		return core_fail(err, CORE_E_TOO_LARGE, "the engine holds its maximum of %d inbound entries",
		    CORE_INBOUND_MAX);
	bool new_sku = s == NULL;
	if (new_sku && (s = sku_make(c, cmd->sku, err)) == NULL)
		return err->code;
	core_inb *room = inb_room(c, s, b, err);
	if (room == NULL) {
		(void)new_sku; /* a sku made above stays, without records: as sku.put makes them */
		return err->code;
	}
	inb_insert(c, room, &e);
	for (uint32_t i = 0; i < room->n; i++)
		if (inbound_entry_cmp(c, &room->e[i], &e) == 0)
			entry_result(c, room, i, res);
	return 0;
}

static void raw_return(core_inb *b, uint16_t loc, uint64_t units)
{
	for (uint32_t i = b ? b->n : 0; i-- > 0 && units > 0;) {
		inb_entry *e = &b->e[i];
		uint32_t take = e->loc == loc ? (e->held < units ? e->held : (uint32_t)units) : 0;
		e->held -= take;
		units -= take;
	}
	assert(units == 0);
}

/* Give back what lazily expired backorders at loc hold, before a command
 * changes the entries there. */
void inbound_settle(core *c, core_inb *b, uint16_t loc)
{
	inb_slot *slot = slot_of(b, loc);
	assert(slot != NULL);
	if (slot->settled_ms >= c->horizon_ms)
		return;
	raw_return(b, loc, unsettled(c, slot));
	slot->settled_ms = c->horizon_ms;
}

void inbound_expired(core *c, const core_sku *s, uint16_t loc, uint32_t units, int64_t deadline_ms)
{
	core_inb *b = inbound_of(c, s);
	inb_slot *slot = slot_of(b, loc);
	assert(slot != NULL);
	if (deadline_ms > slot->settled_ms) /* else settle() gave them back */
		raw_return(b, loc, units);
}

void inbound_hold(core *c, const core_sku *s, uint16_t loc, uint32_t units)
{
	core_inb *b = inbound_of(c, s);
	inbound_settle(c, b, loc);
	for (uint32_t i = 0; b && i < b->n && units > 0; i++) {
		inb_entry *e = &b->e[i];
		uint32_t free_units = e->qty - e->held;
		uint32_t take = e->loc == loc ? (free_units < units ? free_units : units) : 0;
		e->held += take;
		units -= take;
	}
	assert(units == 0);
}

void inbound_return(core *c, const core_sku *s, uint16_t loc, uint32_t units)
{
	core_inb *b = inbound_of(c, s);
	inbound_settle(c, b, loc);
	raw_return(b, loc, units);
}

void inbound_ship(core *c, const core_sku *s, uint16_t loc, uint32_t units)
{
	core_inb *b = inbound_of(c, s);
	inbound_settle(c, b, loc);
	for (uint32_t i = 0; b && i < b->n && units > 0; i++) {
		inb_entry *e = &b->e[i];
		uint32_t take = e->loc == loc ? (e->held < units ? e->held : units) : 0;
		e->held -= take;
		e->qty -= take;
		units -= take;
	}
	assert(units == 0);
	/* Entries shipped to nothing are gone. */
	uint32_t k = 0;
	for (uint32_t i = 0; b && i < b->n; i++) {
		if (b->e[i].qty > 0)
			b->e[k++] = b->e[i];
		else
			c->ninbound--;
	}
	if (b)
		b->n = k;
}

int inbound_restore(core *c, core_sku *s, const inb_entry *e)
{
	core_error err;
	core_inb *b = inbound_of(c, s);
	for (uint32_t i = 0; b && i < b->n; i++)
		if (inbound_entry_cmp(c, &b->e[i], e) == 0)
			return -2; /* the same arrival twice */
	if ((b = inb_room(c, s, b, &err)) == NULL)
		return -1;
	inb_insert(c, b, e);
	return 0;
}

uint32_t core_incoming(const core *c, core_str sku, const core_channel *ch,
    void (*emit)(void *ctx, const core_inbound_view *v), void *ctx)
{
	const core_inb *b = inbound_of(c, sku_find(c, sku));
	uint32_t n = 0, held[CORE_INBOUND_PER_SKU_MAX];
	if (b && emit)
		inbound_held_now(c, b, held);
	for (uint32_t i = 0; b && i < b->n; i++) {
		const inb_entry *e = &b->e[i];
		if (ch && !ch->all && !((ch->bits[e->loc >> 6] >> (e->loc & 63)) & 1))
			continue;
		n++;
		if (emit) {
			core_inbound_view v;
			entry_view(c, b, i, held, &v);
			emit(ctx, &v);
		}
	}
	return n;
}

/* A live backorder's units at (sku, location), for the check. */
typedef struct bo_sum {
	const core_sku *sku;
	uint16_t loc;
	uint64_t qty;
} bo_sum;

static int cmp_bo_sum(const void *a, const void *b)
{
	const bo_sum *x = a, *y = b;
	if (x->sku != y->sku)
		return (uintptr_t)x->sku < (uintptr_t)y->sku ? -1 : 1;
	return (x->loc > y->loc) - (x->loc < y->loc);
}

/* The live backorders not given back by settle(), summed by (sku,
 * location) in *out (sorted; the caller frees it): one pass over the
 * reservations. NULL, or what is wrong. */
static const char *bo_sums(const core *c, bo_sum **out, uint64_t *nout)
{
	bo_sum *v = NULL;
	uint64_t n = 0, cap = 0;
	for (uint64_t seq = 0; seq < c->next_seq; seq++) {
		const core_resv *r = seqmap_get(&c->resv_by_seq, seq);
		if (r == NULL || (r->status != CORE_RESV_HELD && r->status != CORE_RESV_COMMITTED))
			continue;
		const core_ralloc *al = resv_allocs(r);
		for (uint32_t li = 0; li < r->nlines; li++)
			for (uint32_t a = 0; a < r->lines[li].nallocs; a++) {
				const core_ralloc *x = &al[r->lines[li].alloc_first + a];
				if (!x->backorder || x->qty == 0)
					continue;
				const inb_slot *slot = slot_of(inbound_of(c, r->lines[li].sku), x->loc);
				if (slot == NULL)
					return free(v), "a backorder where its sku has no inbound entries";
				if (r->status == CORE_RESV_HELD && r->expires_at_ms <= slot->settled_ms)
					continue; /* given back by settle() */
				if (n == cap) {
					cap = cap ? 2 * cap : 64;
					bo_sum *w = realloc(v, cap * sizeof(*v));
					if (w == NULL)
						return free(v), "check: out of memory";
					v = w;
				}
				v[n++] = (bo_sum){ r->lines[li].sku, x->loc, x->qty };
			}
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_bo_sum);
	uint64_t k = 0;
	for (uint64_t i = 0; i < n; i++) {
		if (k > 0 && cmp_bo_sum(&v[k - 1], &v[i]) == 0)
			v[k - 1].qty += v[i].qty;
		else
			v[k++] = v[i];
	}
	*out = v;
	*nout = k;
	return NULL;
}

/* What backorders hold at each (sku, location) equals the entries' held,
 * less what settle() gave back of lazily expired ones; entries are sorted,
 * within bounds, and counted. */
const char *inbound_check(const core *c)
{
	uint64_t n = 0;
	for (uint32_t i = 0; i < table_slots(&c->inb_by_sku); i++) {
		const core_inb *b = table_at(&c->inb_by_sku, i);
		for (uint32_t j = 0; b && j < b->n; j++) {
			if (b->e[j].held > b->e[j].qty || b->e[j].qty == 0)
				return "an inbound entry holds more than it has, or nothing";
			if (j > 0 && inbound_entry_cmp(c, &b->e[j - 1], &b->e[j]) >= 0)
				return "inbound entries are not in order";
		}
		n += b ? b->n : 0;
	}
	if (n != c->ninbound)
		return "the inbound count differs from the entries";
	bo_sum *sums = NULL;
	uint64_t nsums = 0, matched = 0;
	const char *why = bo_sums(c, &sums, &nsums);
	for (uint32_t i = 0; !why && i < table_slots(&c->inb_by_sku); i++) {
		const core_inb *b = table_at(&c->inb_by_sku, i);
		for (uint32_t j = 0; !why && b && j < b->n; j++) {
			/* Sum once per (sku, location): at its first entry. */
			bool first = true;
			for (uint32_t k = 0; k < j && first; k++)
				first = b->e[k].loc != b->e[j].loc;
			if (!first)
				continue;
			uint64_t held = 0;
			for (uint32_t k = j; k < b->n; k++)
				held += b->e[k].loc == b->e[j].loc ? b->e[k].held : 0;
			const inb_slot *slot = slot_of(b, b->e[j].loc);
			if (slot == NULL || slot->settled_ms > c->horizon_ms) {
				why = "inbound entries at a location without a slot, or settled ahead";
				break;
			}
			bo_sum key = { b->sku, b->e[j].loc, 0 };
			const bo_sum *s = nsums ? bsearch(&key, sums, nsums, sizeof(key), cmp_bo_sum) : NULL;
			matched += s != NULL;
			if (held != (s ? s->qty : 0))
				why = "inbound entries' held differs from the backorders";
		}
	}
	if (!why && matched != nsums)
		why = "backorders at a location where their sku's entries hold nothing";
	free(sums);
	return why;
}
