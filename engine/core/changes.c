/*
 * changes.c - what the core's mutations changed, kept for the engine's
 * events (core.h, "What changed").
 *
 * Three append-only lists, emptied by each drain: records (a sku and a
 * location id, deduplicated by a mark in the record, with its available
 * before the first change), skus (deduplicated by a mark in the sku) and
 * reservation changes (each one: a reservation may be reserved, committed
 * and fulfilled in one turn, and each step is news). Records are named by
 * sku and location rather than by pointer because a sku's array of records
 * moves when a record is added.
 */
#include "core_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct chg_rec {
	core_sku *sku;
	int64_t before;
	uint16_t loc;
} chg_rec;

typedef struct chg_resv {
	uint64_t id;
	int64_t at_ms;
	uint8_t status;
	uint8_t order_id_len;
	char order_id[CORE_ORDER_ID_MAX];
} chg_resv;

struct core_changes {
	chg_rec *recs;
	core_sku **skus;
	chg_resv *resvs;
	uint32_t nrecs, nskus, nresvs;
	uint32_t cap_recs, cap_skus, cap_resvs;
	uint64_t lost;
};

/* Room for one more in an array of *cap elements of size each; false
 * at CORE_CHANGES_MAX or without memory. */
static bool grow(void **arr, uint32_t n, uint32_t *cap, size_t size)
{
	if (n < *cap)
		return true;
	if (n >= CORE_CHANGES_MAX)
		return false;
	uint32_t next = *cap ? *cap * 2 : 64;
	if (next > CORE_CHANGES_MAX)
		next = CORE_CHANGES_MAX;
	void *p = realloc(*arr, (size_t)next * size);
	if (p == NULL)
		return false;
	*arr = p;
	*cap = next;
	return true;
}

static int64_t sku_total(const core *c, const core_sku *s)
{
	int64_t total = 0;
	for (uint32_t i = 0; i < s->nrecs; i++)
		total += rec_available(c, &s->recs[i]);
	return total;
}

int core_track(core *c, bool on)
{
	if (!on) {
		changes_finish(c);
		return 0;
	}
	if (c->changes)
		return 0;
	c->changes = calloc(1, sizeof(*c->changes));
	if (c->changes == NULL)
		return -1;
	/* What events compare with from now on: the totals as they stand. */
	for (uint32_t i = 0; i < table_slots(&c->sku_by_name); i++) {
		core_sku *s = table_at(&c->sku_by_name, i);
		if (s) {
			s->total_seen = sku_total(c, s);
			s->touched = 0;
		}
	}
	return 0;
}

bool core_tracking(const core *c)
{
	return c->changes != NULL;
}

/* Unmark what is still listed, so that tracking can start again clean. */
static void unmark(core *c)
{
	struct core_changes *ch = c->changes;
	for (uint32_t i = 0; i < ch->nrecs; i++) {
		core_rec *rec = sku_rec_at(c, ch->recs[i].sku, ch->recs[i].loc);
		if (rec)
			rec->touched = 0;
	}
	for (uint32_t i = 0; i < ch->nskus; i++)
		ch->skus[i]->touched = 0;
	ch->nrecs = ch->nskus = ch->nresvs = 0;
}

void changes_finish(core *c)
{
	if (c->changes == NULL)
		return;
	unmark(c);
	free(c->changes->recs);
	free(c->changes->skus);
	free(c->changes->resvs);
	free(c->changes);
	c->changes = NULL;
}

void changes_rec(core *c, const core_sku *cs, core_rec *rec, uint32_t extra)
{
	struct core_changes *ch = c->changes;
	core_sku *s = (core_sku *)(uintptr_t)cs;
	assert(ch != NULL && !rec->touched);
	if (!grow((void **)&ch->recs, ch->nrecs, &ch->cap_recs, sizeof(*ch->recs))) {
		ch->lost++;
		return;
	}
	/* Available as a reader saw it just before, the units of a lazily
	 * expired hold still held (the sweep gives them back now). */
	int64_t before = (int64_t)rec->on_hand - rec_reserved(c, rec) - extra - rec->committed -
	    rec->safety;
	ch->recs[ch->nrecs++] = (chg_rec){ .sku = s, .before = before > 0 ? before : 0, .loc = rec->loc };
	rec->touched = 1;
	if (s->touched)
		return;
	if (!grow((void **)&ch->skus, ch->nskus, &ch->cap_skus, sizeof(*ch->skus))) {
		ch->lost++;
		return;
	}
	ch->skus[ch->nskus++] = s;
	s->touched = 1;
}

void changes_resv(core *c, const core_resv *r, core_resv_status s, int64_t at_ms)
{
	struct core_changes *ch = c->changes;
	if (!grow((void **)&ch->resvs, ch->nresvs, &ch->cap_resvs, sizeof(*ch->resvs))) {
		ch->lost++;
		return;
	}
	chg_resv *e = &ch->resvs[ch->nresvs++];
	e->id = r->id;
	e->at_ms = at_ms;
	e->status = (uint8_t)s;
	e->order_id_len = r->order_id_len;
	memcpy(e->order_id, resv_order_id(r), r->order_id_len);
}

uint32_t core_changes_pending(const core *c)
{
	const struct core_changes *ch = c->changes;
	return ch ? ch->nrecs + ch->nskus + ch->nresvs : 0;
}

uint64_t core_changes_lost(const core *c)
{
	return c->changes ? c->changes->lost : 0;
}

static void drain_resvs(core *c, const core_changes_sink *sink)
{
	struct core_changes *ch = c->changes;
	for (uint32_t i = 0; i < ch->nresvs; i++) {
		const chg_resv *e = &ch->resvs[i];
		core_change_resv v = {
			.order_id = { e->order_id, e->order_id_len },
			.status = (core_resv_status)e->status,
			.at_ms = e->at_ms,
			.resv = seqmap_get(&c->resv_by_seq, e->id - c->id_base),
		};
		resv_id_format(e->id, v.id);
		if (sink->resv)
			sink->resv(sink->ud, &v);
	}
}

static void drain_records(core *c, const core_changes_sink *sink)
{
	struct core_changes *ch = c->changes;
	for (uint32_t i = 0; i < ch->nrecs; i++) {
		core_rec *rec = sku_rec_at(c, ch->recs[i].sku, ch->recs[i].loc);
		assert(rec != NULL && rec->touched);
		rec->touched = 0;
		core_record_view v;
		rec_view(c, ch->recs[i].sku, rec, &v);
		if (v.available != ch->recs[i].before && sink->record)
			sink->record(sink->ud, &v);
	}
}

static void drain_skus(core *c, const core_changes_sink *sink)
{
	struct core_changes *ch = c->changes;
	for (uint32_t i = 0; i < ch->nskus; i++) {
		core_sku *s = ch->skus[i];
		assert(s->touched);
		s->touched = 0;
		const core_skupol *pol = policy_of(c, s);
		core_change_sku v = {
			.sku = { s->name, s->name_len },
			.before = s->total_seen,
			.available = sku_total(c, s),
			.low_stock = pol ? pol->low_stock : 0,
		};
		s->total_seen = v.available;
		if (sink->sku)
			sink->sku(sink->ud, &v);
	}
}

uint32_t core_changes_drain(core *c, const core_changes_sink *sink)
{
	struct core_changes *ch = c->changes;
	if (ch == NULL)
		return 0;
	uint32_t n = ch->nrecs + ch->nskus + ch->nresvs;
	drain_resvs(c, sink);
	drain_records(c, sink);
	drain_skus(c, sink);
	ch->nrecs = ch->nskus = ch->nresvs = 0;
	return n;
}
