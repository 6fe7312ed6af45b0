/*
 * plan.c - the allocation planner for the priority strategy.
 */
#include "plan.h"

#include <stdlib.h>

static int plan_room(core *c, const core_reserve_cmd *cmd, core_error *err)
{
	uint64_t need = 0;
	for (uint32_t i = 0; i < cmd->nlines; i++)
		need += c->plan_skus[i] ? c->plan_skus[i]->nrecs : 0;
	if (need <= c->plan_cap)
		return 0;
	uint64_t cap = c->plan_cap ? c->plan_cap : 64;
	while (cap < need)
		cap *= 2;
	void *p = realloc(c->plan, cap * sizeof(*c->plan));
	if (p == NULL)
		return core_fail(err, CORE_E_BUSY, "out of memory");
	c->plan = p;
	c->plan_cap = (uint32_t)cap;
	return 0;
}

/* The best-ranked location holding every line whole, or LOC_NONE. */
static uint16_t single_location(const core *c, const core_reserve_cmd *cmd)
{
	const core_sku *first = c->plan_skus[0];
	if (first == NULL)
		return LOC_NONE;
	for (uint32_t r = 0; r < first->nrecs; r++) {
		const core_rec *rec0 = &first->recs[r];
		if (rec_available(rec0) < cmd->lines[0].qty)
			continue;
		bool covers = true;
		for (uint32_t i = 1; i < cmd->nlines && covers; i++) {
			const core_sku *s = c->plan_skus[i];
			const core_rec *rec = s ? sku_rec_at(c, s, rec0->loc) : NULL;
			covers = rec && rec_available(rec) >= cmd->lines[i].qty;
		}
		if (covers)
			return rec0->loc;
	}
	return LOC_NONE;
}

int plan_make(core *c, const core_reserve_cmd *cmd, plan_result *out, core_error *err)
{
	int rc = plan_room(c, cmd, err);
	if (rc)
		return rc;
	*out = (plan_result){ 0 };
	uint16_t only = single_location(c, cmd);
	for (uint32_t i = 0; i < cmd->nlines; i++) {
		core_sku *s = c->plan_skus[i];
		int64_t need = cmd->lines[i].qty;
		for (uint32_t r = 0; s && r < s->nrecs && need > 0; r++) {
			core_rec *rec = &s->recs[r];
			if (only != LOC_NONE && rec->loc != only)
				continue;
			int64_t take = rec_available(rec);
			if (take > need)
				take = need;
			if (take == 0)
				continue;
			c->plan[out->nplan++] = (struct plan_alloc){ rec, i, (uint32_t)take };
			need -= take;
			out->units += (uint64_t)take;
		}
		if (need > 0)
			c->shorts[out->nshort++] = (core_short_line){
				cmd->lines[i].sku, cmd->lines[i].qty, cmd->lines[i].qty - need,
			};
	}
	assert(out->nplan <= c->plan_cap);
	return 0;
}
