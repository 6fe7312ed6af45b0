/*
 * sku_scan.c - skus and their totals, a slice of the table at a time, for
 * views that are rebuilt in the background (the operations page's hottest
 * and low skus) without holding the loop for a walk of everything.
 */
#include "core_internal.h"

uint32_t core_sku_scan(const core *c, uint32_t *cursor, uint32_t budget,
    void (*emit)(void *ctx, const core_sku_total *t), void *ctx)
{
	const table *t = &c->sku_by_name;
	uint32_t slots = table_slots(t), visited = 0;
	uint32_t i = *cursor;
	assert(budget > 0);
	for (; i < slots && visited < budget; i++, visited++) {
		const core_sku *s = table_at(t, i);
		if (s == NULL)
			continue;
		core_sku_total tot = { .sku = { s->name, s->name_len }, .records = s->nrecs };
		for (uint32_t r = 0; r < s->nrecs; r++) {
			core_record_view v;
			rec_view(c, s, &s->recs[r], &v);
			tot.on_hand += v.on_hand;
			tot.reserved += v.reserved;
			tot.committed += v.committed;
			tot.available += v.available;
			tot.oversold_records += v.oversold > 0;
		}
		const core_skupol *pol = policy_of(c, s);
		tot.low_stock = pol ? pol->low_stock : 0;
		assert(tot.available >= 0 && tot.reserved >= 0);
		emit(ctx, &tot);
	}
	/* The end of the table (or a table that shrank under the cursor):
	 * the walk is over. */
	*cursor = i < slots ? i : 0;
	return visited;
}
