/*
 * scan.c - stock.scan: every record, a page at a time, with a cursor that
 * stays exact while the state grows.
 *
 * The sku hash table cannot carry a cursor: it grows by draining an old
 * array into a new one a few items per insert, and deletes by shifting
 * items backwards, so an item's slot is no stable position. Skus are never
 * removed, though, so the order in which they were made is: each new sku
 * is appended to c->sku_seq, and a scan walks that array. Within one sku
 * the records are kept sorted by location name (records are never removed
 * either, but one may be inserted before others), so a page that ends
 * inside a sku resumes at the first record whose location name is at or
 * after the name of the location it stopped at. Location names never change
 * and locations are never removed, so that name is always there to
 * compare with, whatever was added since.
 *
 * The cursor is (position in sku_seq) << 16 | (location id + 1 to resume
 * at, or 0 for the sku's first record). 0 is the start, and the position
 * of a continuation is past 0 or its location part is not 0, so no
 * continuation is 0: 0 returned means done.
 */
#include "core_internal.h"

#include <stdlib.h>

#define SCAN_LOC_BITS 16
#define SCAN_LOC_MASK ((UINT64_C(1) << SCAN_LOC_BITS) - 1)

_Static_assert(LOC_NONE <= SCAN_LOC_MASK, "a location id + 1 fits the cursor's low bits");
_Static_assert(CORE_SCAN_COUNT_DEFAULT <= CORE_SCAN_COUNT_MAX, "the default count is allowed");

int sku_seq_reserve(core *c, uint32_t n)
{
	uint64_t need = (uint64_t)c->nsku_seq + n;
	if (need <= c->cap_sku_seq)
		return 0;
	uint64_t cap = c->cap_sku_seq ? c->cap_sku_seq : 1024;
	while (cap < need)
		cap *= 2;
	if (cap > UINT32_MAX)
		return -1;
	core_sku **seq = realloc(c->sku_seq, cap * sizeof(*seq));
	if (seq == NULL)
		return -1;
	c->sku_seq = seq;
	c->cap_sku_seq = (uint32_t)cap;
	return 0;
}

void sku_seq_push(core *c, core_sku *s)
{
	assert(c->nsku_seq < c->cap_sku_seq); /* sku_seq_reserve() made room */
	assert(s != NULL);
	c->sku_seq[c->nsku_seq++] = s;
}

void sku_seq_finish(core *c)
{
	free(c->sku_seq);
	c->sku_seq = NULL;
	c->nsku_seq = c->cap_sku_seq = 0;
}

static bool has_prefix(const core_sku *s, core_str prefix)
{
	return s->name_len >= prefix.len && memcmp(s->name, prefix.p, prefix.len) == 0;
}

/* Check the request; 0 with the sku position and the record to resume at. */
static int scan_start(const core *c, const core_scan_cmd *q, uint64_t *pos, uint32_t *loc_plus1,
    core_error *err)
{
	if (q->count < 1 || q->count > CORE_SCAN_COUNT_MAX)
		return core_fail(err, CORE_E_BAD_REQUEST, "count: must be 1 to %d", CORE_SCAN_COUNT_MAX);
	if (q->sku_prefix.p && (q->sku_prefix.len > CORE_NAME_MAX ||
	    !core_text_valid(q->sku_prefix, CORE_NAME_MAX)))
		return core_fail(err, CORE_E_BAD_REQUEST,
		    "sku_prefix: must be 0 to %d bytes without control characters", CORE_NAME_MAX);
	*pos = q->cursor >> SCAN_LOC_BITS;
	*loc_plus1 = (uint32_t)(q->cursor & SCAN_LOC_MASK);
	if (*pos > c->nsku_seq || (*pos == c->nsku_seq && *loc_plus1 != 0) ||
	    *loc_plus1 > c->nlocs)
		return core_fail(err, CORE_E_BAD_REQUEST,
		    "cursor: %llu is not one stock.scan returned (start with 0)",
		    (unsigned long long)q->cursor);
	return 0;
}

int core_stock_scan(const core *c, const core_scan_cmd *q,
    void (*emit)(void *ctx, const core_record_view *rec), void *ctx,
    core_scan_page *page, core_error *err)
{
	uint64_t pos = 0;
	uint32_t loc_plus1 = 0;
	int rc = scan_start(c, q, &pos, &loc_plus1, err);
	if (rc)
		return rc;
	/* Skus looked at are bounded too, so a prefix that matches little
	 * cannot make one call walk every sku. */
	uint64_t visit_left = (uint64_t)q->count * CORE_SCAN_VISIT_FACTOR;
	core_str prefix = q->sku_prefix.p ? q->sku_prefix : (core_str){ "", 0 };
	*page = (core_scan_page){ 0 };
	for (; pos < c->nsku_seq && visit_left > 0; pos++, visit_left--, loc_plus1 = 0) {
		if (page->count == q->count)
			break; /* full at a sku's start: resume there */
		const core_sku *s = c->sku_seq[pos];
		if (!has_prefix(s, prefix))
			continue;
		uint32_t i = 0;
		if (loc_plus1 != 0) {
			uint32_t rank = c->locs[loc_plus1 - 1]->name_rank;
			while (i < s->nrecs && c->locs[s->recs[i].loc]->name_rank < rank)
				i++;
		}
		for (; i < s->nrecs; i++) {
			if (page->count == q->count) {
				page->cursor = pos << SCAN_LOC_BITS | (uint64_t)(s->recs[i].loc + 1u);
				return 0;
			}
			core_record_view v;
			rec_view(c, s, &s->recs[i], &v);
			emit(ctx, &v);
			page->count++;
		}
	}
	page->cursor = pos < c->nsku_seq ? pos << SCAN_LOC_BITS : 0;
	assert(page->count <= q->count);
	return 0;
}

const char *sku_seq_check(const core *c)
{
	if (c->nsku_seq != table_count(&c->sku_by_name))
		return "sku_seq: not one entry per sku";
	for (uint32_t i = 0; i < c->nsku_seq; i++) {
		const core_sku *s = c->sku_seq[i];
		if (sku_find(c, (core_str){ s->name, s->name_len }) != s)
			return "sku_seq: an entry is not the sku of its name";
	}
	return NULL;
}
