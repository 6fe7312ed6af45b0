/*
 * resv_view.c - how a reservation is named, found and read: its id ("r-"
 * and 16 hex digits of id_base + its sequence number), the lookup by id,
 * and the views of it, its lines and their allocations.
 */
#include "core_internal.h"

static const char hex_digits[16] = "0123456789abcdef";

void resv_id_format(uint64_t id, char out[CORE_RESERVATION_ID_LEN + 1])
{
	out[0] = 'r';
	out[1] = '-';
	for (int i = 17; i >= 2; i--, id >>= 4)
		out[i] = hex_digits[id & 15];
	out[CORE_RESERVATION_ID_LEN] = '\0';
}

/* Value of a lowercase hex digit, or 16 for anything else. */
static uint8_t hex_value(char ch)
{
	if (ch >= '0' && ch <= '9')
		return (uint8_t)(ch - '0');
	if (ch >= 'a' && ch <= 'f')
		return (uint8_t)(ch - 'a' + 10);
	return 16;
}

static bool id_parse(core_str s, uint64_t *id)
{
	if (s.len != CORE_RESERVATION_ID_LEN || s.p[0] != 'r' || s.p[1] != '-')
		return false;
	uint64_t v = 0;
	uint8_t bad = 0;
	for (uint32_t i = 2; i < CORE_RESERVATION_ID_LEN; i++) {
		uint8_t d = hex_value(s.p[i]);
		bad |= d;
		v = v << 4 | (d & 15);
	}
	*id = v;
	return (bad & 16) == 0;
}

static core_resv *resv_lookup(const core *c, uint64_t id)
{
	if (id < c->id_base)
		return NULL;
	core_resv *r = seqmap_get(&c->resv_by_seq, id - c->id_base);
	return (r && r->id == id) ? r : NULL;
}

int core_resv_find(const core *c, core_str reservation_id, const core_resv **out, core_error *err)
{
	uint64_t id;
	core_resv *r = id_parse(reservation_id, &id) ? resv_lookup(c, id) : NULL;
	if (r == NULL)
		return core_fail(err, CORE_E_NOT_FOUND, "reservation '%.*s' not found",
		    (int)(reservation_id.len > 64 ? 64 : reservation_id.len), reservation_id.p);
	*out = r;
	return 0;
}

core_str rline_sku_name(const core_resv *r, const core_rline *l)
{
	if (l->sku)
		return (core_str){ l->sku->name, l->sku->name_len };
	const unsigned char *p = resv_unknown_names(r);
	for (const core_rline *k = r->lines; k < l; k++)
		if (k->sku == NULL)
			p += 1u + p[0];
	return (core_str){ (const char *)p + 1, p[0] };
}

/* ---- views -------------------------------------------------------------- */

void core_resv_view_get(const core *c, const core_resv *r, core_resv_view *out)
{
	resv_id_format(r->id, out->id);
	out->order_id = (core_str){ resv_order_id(r), r->order_id_len };
	out->status = resv_status(c, r);
	bool dated = out->status == CORE_RESV_HELD || out->status == CORE_RESV_EXPIRED;
	out->expires_at_ms = dated ? r->expires_at_ms : -1;
	out->nlines = r->nlines;
}

void core_resv_view_original(const core *c, const core_resv *r, core_resv_view *out)
{
	core_resv_view_get(c, r, out);
	out->status = CORE_RESV_HELD;
	out->expires_at_ms = r->orig_expires_at_ms;
}

void core_resv_line_get(const core *c, const core_resv *r, uint32_t i, core_line_view *out)
{
	const core_rline *l = &r->lines[i];
	const core_ralloc *al = resv_allocs(r);
	uint64_t held = 0, backordered = 0;
	for (uint32_t j = 0; j < l->nallocs; j++) {
		held += al[l->alloc_first + j].orig;
		backordered += al[l->alloc_first + j].backorder ? al[l->alloc_first + j].orig : 0;
	}
	out->backordered = (int64_t)backordered;
	out->sku = rline_sku_name(r, l);
	out->qty = l->qty;
	out->short_qty = (int64_t)l->qty - (int64_t)held;
	out->released = l->released;
	out->fulfilled = l->fulfilled;
	out->nallocs = l->nallocs;
}

void core_resv_alloc_get(const core *c, const core_resv *r, uint32_t line, uint32_t i,
    core_alloc_view *out)
{
	const core_ralloc *a = &resv_allocs(r)[r->lines[line].alloc_first + i];
	const core_loc *l = c->locs[a->loc];
	out->location = (core_str){ l->name, l->name_len };
	out->qty = a->qty;
	out->backorder = a->backorder;
}

int64_t core_resv_alloc_original_qty(const core_resv *r, uint32_t line, uint32_t i)
{
	return resv_allocs(r)[r->lines[line].alloc_first + i].orig;
}

