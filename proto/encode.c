/*
 * encode.c - results and errors as the contract shapes them.
 */
#include "encode.h"

#include <string.h>

void encode_str(mp_buf *out, core_str s)
{
	mp_write_str(out, s.p, s.len);
}

/* A literal key and an integer value. */
#define kv_int(out, key, v) (mp_write_lit(out, key), mp_write_int(out, v))

void encode_record(mp_buf *out, const core_record_view *rec)
{
	mp_write_map(out, 9);
	mp_write_lit(out, "sku");
	encode_str(out, rec->sku);
	mp_write_lit(out, "location");
	encode_str(out, rec->location);
	kv_int(out, "on_hand", rec->on_hand);
	kv_int(out, "reserved", rec->reserved);
	kv_int(out, "committed", rec->committed);
	kv_int(out, "safety", rec->safety);
	kv_int(out, "available", rec->available);
	kv_int(out, "oversold", rec->oversold);
	mp_write_lit(out, "version");
	mp_write_uint(out, rec->version);
}

static void encode_line(mp_buf *out, const core *c, const core_resv *r, uint32_t i, bool original)
{
	core_line_view l;
	core_resv_line_get(c, r, i, &l);
	bool has_released = !original && l.released > 0;
	bool has_fulfilled = !original && l.fulfilled > 0;
	mp_write_map(out, 3 + (l.short_qty > 0) + has_released + has_fulfilled);
	mp_write_lit(out, "sku");
	encode_str(out, l.sku);
	kv_int(out, "qty", l.qty);
	mp_write_lit(out, "allocations");
	mp_write_array(out, l.nallocs);
	for (uint32_t j = 0; j < l.nallocs; j++) {
		core_alloc_view a;
		core_resv_alloc_get(c, r, i, j, &a);
		mp_write_map(out, 2);
		mp_write_lit(out, "location");
		encode_str(out, a.location);
		kv_int(out, "qty", original ? core_resv_alloc_original_qty(r, i, j) : a.qty);
	}
	if (l.short_qty > 0)
		kv_int(out, "short", l.short_qty);
	if (has_released)
		kv_int(out, "released", l.released);
	if (has_fulfilled)
		kv_int(out, "fulfilled", l.fulfilled);
}

void encode_reservation(mp_buf *out, const core *c, const core_resv *r, bool original)
{
	core_resv_view v;
	if (original)
		core_resv_view_original(c, r, &v);
	else
		core_resv_view_get(c, r, &v);
	mp_write_map(out, 5);
	mp_write_lit(out, "reservation_id");
	mp_write_str(out, v.id, CORE_RESERVATION_ID_LEN);
	mp_write_lit(out, "order_id");
	encode_str(out, v.order_id);
	mp_write_lit(out, "status");
	mp_write_cstr(out, core_resv_status_name(v.status));
	mp_write_lit(out, "expires_at");
	if (v.expires_at_ms >= 0)
		mp_write_int(out, v.expires_at_ms);
	else
		mp_write_nil(out);
	mp_write_lit(out, "lines");
	mp_write_array(out, v.nlines);
	for (uint32_t i = 0; i < v.nlines; i++)
		encode_line(out, c, r, i, original);
}

void encode_error(mp_buf *out, const char *code, const char *message)
{
	mp_write_map(out, 2);
	mp_write_lit(out, "code");
	mp_write_cstr(out, code);
	mp_write_lit(out, "message");
	mp_write_cstr(out, message);
	mp_write_nil(out);
}

void encode_core_error(mp_buf *out, const core_error *err)
{
	bool shorts = err->code == CORE_E_OUT_OF_STOCK;
	bool version = err->code == CORE_E_CONFLICT && err->version > 0;
	mp_write_map(out, 2 + shorts + version);
	mp_write_lit(out, "code");
	mp_write_cstr(out, core_strerror(err->code));
	mp_write_lit(out, "message");
	mp_write_cstr(out, err->message);
	if (shorts) {
		mp_write_lit(out, "lines");
		mp_write_array(out, err->nshort);
		for (uint32_t i = 0; i < err->nshort; i++) {
			const core_short_line *s = &err->short_lines[i];
			mp_write_map(out, 3);
			mp_write_lit(out, "sku");
			encode_str(out, s->sku);
			kv_int(out, "requested", s->requested);
			kv_int(out, "available", s->available);
		}
	}
	if (version) {
		mp_write_lit(out, "version");
		mp_write_uint(out, err->version);
	}
	mp_write_nil(out);
}
