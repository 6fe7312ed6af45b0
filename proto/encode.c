/*
 * encode.c - results and errors as the contract shapes them.
 */
#include "encode.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <allot/protocol.h>
#include <assert.h>

/* Reservation states, for stats' map of counts by state. */
#define RESV_STATUSES (CORE_RESV_EXPIRED + 1)
_Static_assert(RESV_STATUSES == sizeof(((core_stats *)0)->reservations) / sizeof(uint64_t),
    "stats counts every reservation state");

void encode_str(mp_buf *out, core_str s)
{
	mp_write_str(out, s.p, s.len);
}

/* A literal key and an integer value. */
#define kv_int(out, key, v) (mp_write_lit(out, key), mp_write_int(out, v))

void encode_record(mp_buf *out, const core_record_view *rec)
{
	mp_write_map(out, 10);
	mp_write_lit(out, "sku");
	encode_str(out, rec->sku);
	mp_write_lit(out, "location");
	encode_str(out, rec->location);
	kv_int(out, "on_hand", rec->on_hand);
	kv_int(out, "incoming", rec->incoming);
	kv_int(out, "reserved", rec->reserved);
	kv_int(out, "committed", rec->committed);
	kv_int(out, "safety", rec->safety);
	kv_int(out, "available", rec->available);
	kv_int(out, "oversold", rec->oversold);
	mp_write_lit(out, "version");
	mp_write_uint(out, rec->version);
}

/* Whether allocation j of line i is listed: on hand or backorders as
 * asked; in the first reply (original) not one a receipt made later (its
 * orig is 0). */
static bool alloc_listed(const core_resv *r, uint32_t i, uint32_t j, const core_alloc_view *a,
    bool original, bool backorders)
{
	return a->backorder == backorders && !(original && r && core_resv_alloc_original_qty(r, i, j) == 0);
}

/* Allocations on hand, or (backorders) those held against inbound stock:
 * [{location, qty}]. The line's allocations list the ones on hand first. */
static void encode_allocs(mp_buf *out, const core *c, const core_resv *r, uint32_t i,
    const core_line_view *l, bool original, bool backorders)
{
	uint32_t n = 0;
	core_alloc_view a;
	for (uint32_t j = 0; j < l->nallocs; j++) {
		if (r)
			core_resv_alloc_get(c, r, i, j, &a);
		else
			core_plan_alloc_get(c, i, j, &a);
		n += alloc_listed(r, i, j, &a, original, backorders);
	}
	mp_write_array(out, n);
	for (uint32_t j = 0; j < l->nallocs; j++) {
		if (r)
			core_resv_alloc_get(c, r, i, j, &a);
		else
			core_plan_alloc_get(c, i, j, &a);
		if (!alloc_listed(r, i, j, &a, original, backorders))
			continue;
		mp_write_map(out, 2);
		mp_write_lit(out, "location");
		encode_str(out, a.location);
		kv_int(out, "qty", original && r ? core_resv_alloc_original_qty(r, i, j) : a.qty);
	}
}

static void encode_line(mp_buf *out, const core *c, const core_resv *r, uint32_t i, bool original)
{
	core_line_view l;
	core_resv_line_get(c, r, i, &l);
	bool has_released = !original && l.released > 0;
	bool has_fulfilled = !original && l.fulfilled > 0;
	bool backordered = l.backordered > 0;
	mp_write_map(out, 3 + (l.short_qty > 0) + has_released + has_fulfilled + 2 * backordered);
	mp_write_lit(out, "sku");
	encode_str(out, l.sku);
	kv_int(out, "qty", l.qty);
	mp_write_lit(out, "allocations");
	encode_allocs(out, c, r, i, &l, original, false);
	if (backordered) {
		kv_int(out, "backordered", l.backordered);
		mp_write_lit(out, "backorders");
		encode_allocs(out, c, r, i, &l, original, true);
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
	encode_reservation_head(out, c, r, original, false);
}

void encode_reservation_head(mp_buf *out, const core *c, const core_resv *r, bool original,
    bool explained)
{
	core_resv_view v;
	if (original)
		core_resv_view_original(c, r, &v);
	else
		core_resv_view_get(c, r, &v);
	mp_write_map(out, 5 + explained);
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
	encode_core_error_head(out, err, 0);
	mp_write_nil(out);
}

void encode_core_error_head(mp_buf *out, const core_error *err, uint32_t extra)
{
	bool shorts = err->code == CORE_E_OUT_OF_STOCK || err->code == CORE_E_LIMIT_EXCEEDED;
	bool version = err->code == CORE_E_CONFLICT && err->version > 0;
	mp_write_map(out, 2 + shorts + version + extra);
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
			if (err->code == CORE_E_LIMIT_EXCEEDED)
				kv_int(out, "allowed", s->available);
			else
				kv_int(out, "available", s->available);
		}
	}
	if (version) {
		mp_write_lit(out, "version");
		mp_write_uint(out, err->version);
	}
}

/* ---- locations and plans ---------------------------------------------------- */

/* A literal key and a double value. */
#define kv_double(out, key, v) (mp_write_lit(out, key), mp_write_double(out, v))

void encode_location(mp_buf *out, const core_location_view *l)
{
	mp_write_map(out, 7 + 2 * l->has_coords + (l->capacity >= 0));
	mp_write_lit(out, "location");
	encode_str(out, l->name);
	if (l->has_coords) {
		kv_double(out, "lat", l->lat);
		kv_double(out, "lon", l->lon);
	}
	kv_int(out, "priority", l->priority);
	kv_double(out, "cost", l->cost);
	kv_double(out, "cost_per_km", l->cost_per_km);
	if (l->capacity >= 0)
		kv_int(out, "capacity", l->capacity);
	mp_write_lit(out, "enabled");
	mp_write_bool(out, l->enabled);
	mp_write_lit(out, "tags");
	mp_write_array(out, l->ntags);
	for (uint32_t i = 0; i < l->ntags; i++)
		encode_str(out, l->tags[i]);
	kv_int(out, "open_shipments", l->open_shipments);
}

static void emit_location_name(void *ctx, core_str location)
{
	encode_str(ctx, location);
}

void encode_channel(mp_buf *out, const core *c, const core_channel *ch)
{
	core_channel_view v;
	core_channel_get(c, ch, &v);
	mp_write_map(out, 3 + !v.all_locations);
	mp_write_lit(out, "channel");
	encode_str(out, v.name);
	kv_int(out, "buffer", v.buffer);
	mp_write_lit(out, "all_locations");
	mp_write_bool(out, v.all_locations);
	if (!v.all_locations) {
		mp_write_lit(out, "locations");
		mp_write_array(out, v.nlocations);
		core_channel_locations(c, ch, emit_location_name, out);
	}
}

void encode_inbound(mp_buf *out, const core_inbound_view *v)
{
	mp_write_map(out, 5 + (v->ref.p != NULL));
	mp_write_lit(out, "sku");
	encode_str(out, v->sku);
	mp_write_lit(out, "location");
	encode_str(out, v->location);
	kv_int(out, "qty", v->qty);
	kv_int(out, "eta", v->eta_ms);
	kv_int(out, "backordered", v->backordered);
	if (v->ref.p) {
		mp_write_lit(out, "ref");
		encode_str(out, v->ref);
	}
}

void encode_sku(mp_buf *out, const core_sku_view *s)
{
	mp_write_map(out, 4);
	mp_write_lit(out, "sku");
	encode_str(out, s->sku);
	kv_int(out, "per_order", s->per_order);
	kv_int(out, "per_customer", s->per_customer);
	kv_int(out, "low_stock", s->low_stock);
}

void encode_quote(mp_buf *out, const core *c, const core_reserve_cmd *r)
{
	core_explain ex;
	bool explained = r->explain && core_explain_get(c, &ex);
	mp_write_map(out, 3 + explained);
	mp_write_lit(out, "order_id");
	encode_str(out, r->order_id);
	kv_int(out, "shipments", core_plan_shipments(c));
	mp_write_lit(out, "lines");
	mp_write_array(out, r->nlines);
	for (uint32_t i = 0; i < r->nlines; i++) {
		core_line_view l;
		core_plan_line_get(c, i, &l);
		bool backordered = l.backordered > 0;
		mp_write_map(out, 3 + (l.short_qty > 0) + 2 * backordered);
		mp_write_lit(out, "sku");
		encode_str(out, l.sku);
		kv_int(out, "qty", l.qty);
		mp_write_lit(out, "allocations");
		encode_allocs(out, c, NULL, i, &l, false, false);
		if (backordered) {
			kv_int(out, "backordered", l.backordered);
			mp_write_lit(out, "backorders");
			encode_allocs(out, c, NULL, i, &l, false, true);
		}
		if (l.short_qty > 0)
			kv_int(out, "short", l.short_qty);
	}
	if (explained)
		encode_explain(out, c, r);
}


/* ---- responses ---------------------------------------------------------------- */

void encode_response_head(mp_buf *out, uint32_t msgid)
{
	mp_write_array(out, 4);
	mp_write_uint(out, ALLOT_MSG_RESPONSE);
	mp_write_uint(out, msgid);
}

void encode_error_response(mp_buf *out, uint32_t msgid, const char *code, const char *message)
{
	encode_response_head(out, msgid);
	encode_error(out, code, message);
}

/* ---- reads ---------------------------------------------------------------------- */

void encode_record_item(void *out, const core_record_view *rec)
{
	encode_record(out, rec);
}

static void encode_avail_location(void *arg, const core_avail_loc *l)
{
	encode_str(arg, l->location);
	mp_write_int(arg, l->available);
}

static void encode_incoming(void *arg, const core_inbound_view *v)
{
	mp_buf *out = arg;
	mp_write_map(out, 4 + (v->ref.p != NULL));
	mp_write_lit(out, "location");
	encode_str(out, v->location);
	mp_write_lit(out, "qty");
	mp_write_int(out, v->qty - v->backordered);
	mp_write_lit(out, "eta");
	mp_write_int(out, v->eta_ms);
	mp_write_lit(out, "backordered");
	mp_write_int(out, v->backordered);
	if (v->ref.p) {
		mp_write_lit(out, "ref");
		encode_str(out, v->ref);
	}
}

void encode_avail_sku(mp_buf *out, const core *c, core_str sku, core_str location,
    const core_channel *ch)
{
	uint32_t nlocs;
	int64_t total = core_avail_channel(c, sku, location, ch, NULL, NULL, &nlocs);
	encode_str(out, sku);
	mp_write_map(out, 3);
	kv_int(out, "total", total);
	mp_write_lit(out, "locations");
	mp_write_map(out, nlocs);
	core_avail_channel(c, sku, location, ch, encode_avail_location, out, &nlocs);
	mp_write_lit(out, "incoming");
	mp_write_array(out, core_incoming(c, sku, ch, NULL, NULL));
	core_incoming(c, sku, ch, encode_incoming, out);
}

void encode_avail_sku_at(mp_buf *out, const core *c, core_str sku, core_str location,
    const core_channel *ch, int64_t at_ms)
{
	uint32_t nlocs;
	int64_t total = core_avail_at(c, sku, location, ch, at_ms, NULL, NULL, &nlocs);
	encode_str(out, sku);
	mp_write_map(out, 4);
	kv_int(out, "total", total);
	mp_write_lit(out, "locations");
	mp_write_map(out, nlocs);
	core_avail_at(c, sku, location, ch, at_ms, encode_avail_location, out, &nlocs);
	kv_int(out, "at", at_ms);
	mp_write_lit(out, "incoming");
	mp_write_array(out, core_incoming(c, sku, ch, NULL, NULL));
	core_incoming(c, sku, ch, encode_incoming, out);
}

void encode_inbound_item(void *out, const core_inbound_view *v)
{
	encode_inbound(out, v);
}

void encode_receipt(mp_buf *out, const core *c, const core_result *res)
{
	mp_write_map(out, 2);
	mp_write_lit(out, "record");
	encode_record(out, &res->record);
	mp_write_lit(out, "filled");
	mp_write_array(out, res->nfills);
	for (uint32_t i = 0; i < res->nfills; i++) {
		core_resv_view v;
		core_resv_view_get(c, res->fills[i].resv, &v);
		mp_write_map(out, 2);
		mp_write_lit(out, "reservation_id");
		mp_write_str(out, v.id, CORE_RESERVATION_ID_LEN);
		kv_int(out, "qty", res->fills[i].qty);
	}
}

void encode_location_list(mp_buf *out, const core *c)
{
	uint32_t n = core_location_count(c);
	mp_write_array(out, n);
	for (uint32_t i = 0; i < n; i++) {
		core_location_view v;
		core_location_at(c, i, &v);
		encode_location(out, &v);
	}
}

/* ---- operations ------------------------------------------------------------------ */

/*
 * A map whose pairs are counted as they are written, so that no count is
 * typed by hand: map_open() writes a map 16 header with a zero count and
 * map_close() puts the count in.
 */
static size_t map_open(mp_buf *out)
{
	static const uint8_t map16[3] = { 0xde, 0, 0 };
	size_t at = out->len;
	mp_write_raw(out, map16, sizeof(map16));
	return at;
}

static void map_close(mp_buf *out, size_t at, uint32_t pairs)
{
	assert(pairs <= UINT16_MAX);
	if (mp_buf_failed(out))
		return;
	assert(out->data[at] == 0xde);
	out->data[at + 1] = (uint8_t)(pairs >> 8);
	out->data[at + 2] = (uint8_t)pairs;
}

/* A literal key and an unsigned value, counted. */
#define kv_uint_n(out, n, key, v) (mp_write_lit(out, key), mp_write_uint(out, v), (n)++)

static void encode_who(mp_buf *out, const proto_who_stats *w)
{
	mp_write_str(out, w->name.p, w->name.len);
	mp_write_map(out, 2);
	mp_write_lit(out, "requests");
	mp_write_uint(out, w->requests);
	mp_write_lit(out, "errors");
	mp_write_uint(out, w->errors);
}

/* {auth, tokens, auth_failures, closed_for_auth, by_name: {NAME: {requests,
 * errors}}}: "-" first, then the auth file's names in its order. */
static void encode_access_stats(mp_buf *out, const proto_access_stats *a)
{
	uint32_t n = 0;
	size_t at = map_open(out);
	mp_write_lit(out, "auth");
	if (a->tokens)
		mp_write_lit(out, "tokens");
	else
		mp_write_lit(out, "none");
	n++;
	kv_uint_n(out, n, "tokens", a->ntokens);
	kv_uint_n(out, n, "auth_failures", a->auth_failures);
	kv_uint_n(out, n, "closed_for_auth", a->closed_for_auth);
	mp_write_lit(out, "by_name");
	mp_write_map(out, (a->anonymous ? 1 : 0) + a->nnames);
	if (a->anonymous)
		encode_who(out, a->anonymous);
	for (uint32_t i = 0; i < a->nnames; i++)
		encode_who(out, &a->names[i]);
	n++;
	map_close(out, at, n);
}

void encode_stats(mp_buf *out, const core_stats *cs, const proto_server_stats *s)
{
	uint32_t n = 0, used = 0;
	size_t at = map_open(out);
	kv_uint_n(out, n, "skus", cs->skus);
	kv_uint_n(out, n, "locations", cs->locations);
	kv_uint_n(out, n, "records", cs->records);
	mp_write_lit(out, "reservations");
	mp_write_map(out, RESV_STATUSES);
	for (int i = 0; i < RESV_STATUSES; i++) {
		mp_write_cstr(out, core_resv_status_name((core_resv_status)i));
		mp_write_uint(out, cs->reservations[i]);
	}
	n++;
	kv_uint_n(out, n, "expired_total", cs->expired_total);
	kv_uint_n(out, n, "units_reserved", cs->units_reserved);
	kv_uint_n(out, n, "units_committed", cs->units_committed);
	kv_uint_n(out, n, "idempotency_keys", cs->idempotency_keys);
	mp_write_lit(out, "version");
	mp_write_cstr(out, s->version);
	mp_write_lit(out, "uptime_ms");
	mp_write_int(out, s->uptime_ms);
	n += 2;
	mp_write_lit(out, "connections");
	uint32_t nc = 0;
	size_t conns_at = map_open(out);
	kv_uint_n(out, nc, "current", s->connections_current);
	kv_uint_n(out, nc, "total", s->connections_total);
	kv_uint_n(out, nc, "rejected", s->connections_rejected);
	kv_uint_n(out, nc, "idle_closed", s->connections_idle_closed);
	kv_uint_n(out, nc, "frame_timeouts", s->connections_frame_timeouts);
	kv_uint_n(out, nc, "budget_stops", s->connections_budget_stops);
	map_close(out, conns_at, nc);
	n++;
	mp_write_lit(out, "access");
	encode_access_stats(out, &s->access);
	n++;
	for (int i = 0; i < CMD_COUNT; i++)
		used += s->requests_by_cmd[i] > 0;
	mp_write_lit(out, "requests");
	mp_write_map(out, 2 + used);
	mp_write_lit(out, "total");
	mp_write_uint(out, s->requests_total);
	mp_write_lit(out, "errors");
	mp_write_uint(out, s->errors_total);
	for (int i = 0; i < CMD_COUNT; i++)
		if (s->requests_by_cmd[i] > 0) {
			mp_write_str(out, cmd_table[i].name, cmd_table[i].name_len);
			mp_write_uint(out, s->requests_by_cmd[i]);
		}
	n++;
	mp_write_lit(out, "memory");
	mp_write_map(out, 2);
	mp_write_lit(out, "allocated");
	mp_write_uint(out, s->memory_allocated);
	mp_write_lit(out, "resident");
	mp_write_uint(out, s->memory_resident);
	n++;
	kv_uint_n(out, n, "loop_busy_max_us", s->loop_busy_max_us);
	/* The caller writes durability's value next. */
	mp_write_lit(out, "durability");
	n++;
	map_close(out, at, n);
}

void encode_durability_none(mp_buf *out, const char *mode)
{
	mp_write_map(out, 1);
	mp_write_lit(out, "mode");
	mp_write_cstr(out, mode);
}

void encode_snapshot_result(mp_buf *out, const proto_snapshot_result *r)
{
	uint32_t n = 0;
	size_t at = map_open(out);
	kv_uint_n(out, n, "lsn", r->lsn);
	mp_write_lit(out, "taken_at_ms");
	mp_write_int(out, r->taken_at_ms);
	n++;
	kv_uint_n(out, n, "bytes", r->bytes);
	kv_uint_n(out, n, "chunks", r->chunks);
	kv_uint_n(out, n, "duration_ms", r->duration_ms);
	kv_uint_n(out, n, "fork_us", r->fork_us);
	map_close(out, at, n);
}
