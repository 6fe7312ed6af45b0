/*
 * resv_check.c - the reservations' invariants (core_check()): records'
 * reserved and committed, the unit and status counters, and locations'
 * open shipments, each recomputed from the reservations themselves.
 */
#include "core_internal.h"

#include <stdlib.h>

typedef struct rec_sum {
	const core_rec *rec;
	uint64_t reserved, committed;
} rec_sum;

static int cmp_rec_sum(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)((const rec_sum *)a)->rec, y = (uintptr_t)((const rec_sum *)b)->rec;
	return x < y ? -1 : x > y;
}

static rec_sum *sum_find(rec_sum *sums, uint64_t n, const core_rec *rec)
{
	rec_sum key = { rec, 0, 0 };
	return bsearch(&key, sums, n, sizeof(*sums), cmp_rec_sum);
}

/* Every location's open shipments are the live reservations holding units
 * there. */
static const char *open_check(const core *c)
{
	uint32_t *open = calloc(c->nlocs + 1, sizeof(*open));
	uint16_t *locs = malloc((c->nlocs + 1) * sizeof(*locs));
	if (open == NULL || locs == NULL) {
		free(open);
		free(locs);
		return "check: out of memory";
	}
	for (uint64_t seq = 0; seq < c->next_seq; seq++) {
		const core_resv *r = seqmap_get(&c->resv_by_seq, seq);
		if (r == NULL || (r->status != CORE_RESV_HELD && r->status != CORE_RESV_COMMITTED))
			continue;
		const core_ralloc *al = resv_allocs(r);
		uint32_t n = 0;
		for (uint32_t i = 0; i < r->nlines; i++)
			for (uint32_t j = 0; j < r->lines[i].nallocs; j++) {
				const core_ralloc *a = &al[r->lines[i].alloc_first + j];
				if (a->backorder)
					continue;
				bool seen = false;
				for (uint32_t k = 0; k < n && !seen; k++)
					seen = locs[k] == a->loc;
				if (a->qty > 0 && !seen && n <= c->nlocs)
					locs[n++] = a->loc;
			}
		for (uint32_t k = 0; k < n; k++)
			open[locs[k]]++;
	}
	const char *why = NULL;
	for (uint32_t i = 0; i < c->nlocs && !why; i++)
		if (open[i] != c->locs[i]->open)
			why = "a location's open shipments differ from its live reservations";
	free(open);
	free(locs);
	return why;
}

/* Every record's reserved and committed equal what live reservations hold. */
const char *resv_check(const core *c)
{
	rec_sum *sums = calloc(c->nrecs + 1, sizeof(*sums));
	if (sums == NULL)
		return "check: out of memory";
	uint64_t n = 0, by_status[5] = { 0 };
	for (uint32_t i = 0; i < table_slots(&c->sku_by_name); i++) {
		const core_sku *s = table_at(&c->sku_by_name, i);
		for (uint32_t j = 0; s && j < s->nrecs; j++) {
			if (j > 0 && c->locs[s->recs[j - 1].loc]->name_rank >= c->locs[s->recs[j].loc]->name_rank)
				return free(sums), "records are not in location name order";
			sums[n++].rec = &s->recs[j];
		}
	}
	if (n > 1) /* qsort must not see a NULL array, even empty */
		qsort(sums, n, sizeof(*sums), cmp_rec_sum);
	for (uint64_t seq = 0; seq < c->next_seq; seq++) {
		const core_resv *r = seqmap_get(&c->resv_by_seq, seq);
		if (r == NULL)
			continue;
		by_status[r->status]++;
		if ((r->status == CORE_RESV_HELD) != (r->heap_idx != HEAP_NONE))
			return free(sums), "a held reservation is not scheduled to expire";
		if (r->status != CORE_RESV_HELD && r->status != CORE_RESV_COMMITTED)
			continue;
		const core_ralloc *al = resv_allocs(r);
		for (uint32_t li = 0; li < r->nlines; li++) {
			const core_rline *l = &r->lines[li];
			for (uint32_t j = 0; j < l->nallocs; j++) {
				const core_ralloc *a = &al[l->alloc_first + j];
				if (a->backorder)
					continue;
				rec_sum *sum = sum_find(sums, n, sku_rec_at(c, l->sku, a->loc));
				if (sum == NULL)
					return free(sums), "an allocation names no record";
				*(r->status == CORE_RESV_HELD ? &sum->reserved : &sum->committed) += a->qty;
			}
		}
	}
	const char *why = NULL;
	uint64_t reserved = 0, committed = 0;
	for (uint64_t i = 0; i < n && !why; i++) {
		if (sums[i].reserved != sums[i].rec->reserved)
			why = "a record's reserved differs from its held reservations";
		else if (sums[i].committed != sums[i].rec->committed)
			why = "a record's committed differs from its committed reservations";
		reserved += sums[i].reserved;
		committed += sums[i].committed;
	}
	free(sums);
	if (!why && (reserved != c->units_reserved || committed != c->units_committed))
		why = "the unit counters differ from the records";
	for (int s = 0; s < 5 && !why; s++)
		if (by_status[s] != c->by_status[s])
			why = "the reservation counters differ from the reservations";
	return why ? why : open_check(c);
}
