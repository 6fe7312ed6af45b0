/*
 * encode.c - results and errors as the contract shapes them.
 */
#include "encode.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
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
		n += a.backorder == backorders;
	}
	mp_write_array(out, n);
	for (uint32_t j = 0; j < l->nallocs; j++) {
		if (r)
			core_resv_alloc_get(c, r, i, j, &a);
		else
			core_plan_alloc_get(c, i, j, &a);
		if (a.backorder != backorders)
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

/* ---- explain -------------------------------------------------------------------- */

/* Locations listed in an explanation; the rest are counted in "omitted". */
#define EXPLAIN_LOCATIONS_MAX 64
/* Lines named in one sentence; the rest are summed up. */
#define EXPLAIN_LINES_NAMED 3

static const char *const fate_names[] = {
	[CORE_FATE_USED] = "used",
	[CORE_FATE_NOT_NEEDED] = "not_needed",
	[CORE_FATE_SHORT] = "short",
	[CORE_FATE_DISABLED] = "disabled",
	[CORE_FATE_OUTSIDE_CHANNEL] = "outside_channel",
	[CORE_FATE_AT_CAPACITY] = "at_capacity",
};

/* A growing sentence in a fixed buffer; what does not fit is cut. */
typedef struct text {
	char buf[400];
	size_t len;
} text;

__attribute__((format(printf, 2, 3)))
static void say(text *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t room = sizeof(t->buf) - t->len;
	int n = vsnprintf(t->buf + t->len, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		t->len += (size_t)n < room ? (size_t)n : room - 1;
}

static bool str_eq(core_str a, core_str b)
{
	return a.len == b.len && memcmp(a.p, b.p, a.len) == 0;
}

/* "2 of A, 1 of B": what the plan holds at location loc. */
static void say_held_at(text *t, const core *c, const core_reserve_cmd *r, core_str loc)
{
	uint32_t named = 0;
	for (uint32_t i = 0; i < r->nlines; i++) {
		core_line_view l;
		core_plan_line_get(c, i, &l);
		for (uint32_t j = 0; j < l.nallocs; j++) {
			core_alloc_view a;
			core_plan_alloc_get(c, i, j, &a);
			if (!str_eq(a.location, loc))
				continue;
			if (named++ < EXPLAIN_LINES_NAMED)
				say(t, "%s%lld of %.*s", named > 1 ? ", " : "", (long long)a.qty, (int)l.sku.len, l.sku.p);
		}
	}
	if (named > EXPLAIN_LINES_NAMED)
		say(t, " and %u more lines", named - EXPLAIN_LINES_NAMED);
}

static uint32_t lines_lacking(const core *c, const core_reserve_cmd *r, uint32_t i)
{
	uint32_t n = 0;
	for (uint32_t k = 0; k < r->nlines; k++)
		n += r->lines[k].qty > core_explain_line_available(c, i, k);
	return n;
}

/* "2 more units of B and 1 more unit of C": what location i lacks to
 * cover every line (more: "more " or ""); the number of lines it lacks
 * for. */
static uint32_t say_lacks(text *t, const core *c, const core_reserve_cmd *r, uint32_t i, const char *more)
{
	uint32_t total = lines_lacking(c, r, i), lacking = 0;
	uint32_t named = total < EXPLAIN_LINES_NAMED ? total : EXPLAIN_LINES_NAMED;
	for (uint32_t k = 0; k < r->nlines && lacking < named; k++) {
		int64_t lack = r->lines[k].qty - core_explain_line_available(c, i, k);
		if (lack <= 0)
			continue;
		lacking++;
		say(t, "%s%lld %sunit%s of %.*s", lacking == 1 ? "" : lacking == total ? " and " : ", ",
		    (long long)lack, more, lack == 1 ? "" : "s", (int)r->lines[k].sku.len, r->lines[k].sku.p);
	}
	if (total > named)
		say(t, " and more of %u other lines", total - named);
	return total;
}

/* The rank key the strategy compares, in words: "12.3 km". */
static void say_key(text *t, const core_explain *ex, const core_explain_loc *l)
{
	switch (ex->strategy) {
	case CORE_STRATEGY_NEAREST:
		if (l->has_km)
			say(t, "%.1f km", l->km);
		else
			say(t, "no coordinates");
		break;
	case CORE_STRATEGY_CHEAPEST:
		say(t, "cost %.2f", l->cost);
		break;
	case CORE_STRATEGY_MOST_STOCK:
		say(t, "%lld units available", (long long)l->available);
		break;
	case CORE_STRATEGY_PRIORITY:
	default:
		say(t, "priority %d", l->priority);
		break;
	}
}

/* Why location i met its fate, in a sentence. */
static void say_why(text *t, const core *c, const core_reserve_cmd *r, const core_explain *ex,
    uint32_t i, const core_explain_loc *l, core_str first_used)
{
	switch (l->fate) {
	case CORE_FATE_USED:
		say(t, "holds ");
		say_held_at(t, c, r, l->location);
		break;
	case CORE_FATE_NOT_NEEDED:
		say(t, "could hold the whole order, but %.*s ranks before it (this one: ", (int)first_used.len,
		    first_used.p);
		say_key(t, ex, l);
		say(t, ")");
		break;
	case CORE_FATE_SHORT:
		if (l->available == 0) {
			say(t, "short: nothing of the order available");
		} else {
			say(t, "short by ");
			say_lacks(t, c, r, i, "");
		}
		break;
	case CORE_FATE_DISABLED:
		say(t, "disabled");
		break;
	case CORE_FATE_OUTSIDE_CHANNEL:
		say(t, "not a location of channel %.*s", (int)r->channel.len, r->channel.p);
		break;
	case CORE_FATE_AT_CAPACITY:
		say(t, "at capacity: %u of %lld open shipments", l->open_shipments, (long long)l->capacity);
		break;
	}
}

static void encode_explain_loc(mp_buf *out, const core *c, const core_reserve_cmd *r,
    const core_explain *ex, uint32_t i, core_str first_used)
{
	core_explain_loc l;
	core_explain_loc_get(c, i, &l);
	mp_write_map(out, 7 + l.has_km);
	mp_write_lit(out, "location");
	encode_str(out, l.location);
	kv_int(out, "rank", i + 1);
	mp_write_lit(out, "fate");
	mp_write_cstr(out, fate_names[l.fate]);
	text why = { .len = 0 };
	say_why(&why, c, r, ex, i, &l, first_used);
	mp_write_lit(out, "why");
	mp_write_str(out, why.buf, why.len);
	if (l.has_km)
		kv_double(out, "km", round(l.km * 1000) / 1000);
	kv_double(out, "cost", round(l.cost * 10000) / 10000);
	kv_int(out, "available", l.available);
	kv_int(out, "priority", l.priority);
}

/* The best-ranked location not used, and what it lacked. */
static void encode_runner_up(mp_buf *out, const core *c, const core_reserve_cmd *r,
    const core_explain *ex, core_str first_used)
{
	core_explain_loc l;
	core_explain_loc_get(c, (uint32_t)ex->runner_up, &l);
	text t = { .len = 0 };
	say(&t, "%.*s ", (int)l.location.len, l.location.p);
	text lacks = { .len = 0 };
	uint32_t lacking = say_lacks(&lacks, c, r, (uint32_t)ex->runner_up, "more ");
	switch (l.fate) {
	case CORE_FATE_DISABLED:
		say(&t, "is disabled%s", lacking ? "; it would also need " : "");
		break;
	case CORE_FATE_OUTSIDE_CHANNEL:
		say(&t, "is not a location of channel %.*s%s", (int)r->channel.len, r->channel.p,
		    lacking ? "; it would also need " : "");
		break;
	case CORE_FATE_AT_CAPACITY:
		say(&t, "is at capacity (%u of %lld open shipments)%s", l.open_shipments,
		    (long long)l.capacity, lacking ? "; it would also need " : "");
		break;
	default:
		if (lacking)
			say(&t, "would cover the order with ");
		else if (first_used.len)
			say(&t, "could cover the whole order too, but %.*s ranks before it",
			    (int)first_used.len, first_used.p);
		else
			say(&t, "could cover the whole order");
		break;
	}
	if (lacking)
		say(&t, "%s", lacks.buf);
	mp_write_lit(out, "runner_up");
	mp_write_map(out, 3);
	mp_write_lit(out, "location");
	encode_str(out, l.location);
	mp_write_lit(out, "lacks");
	mp_write_array(out, lacking);
	for (uint32_t k = 0; k < r->nlines; k++) {
		int64_t lack = r->lines[k].qty - core_explain_line_available(c, (uint32_t)ex->runner_up, k);
		if (lack <= 0)
			continue;
		mp_write_map(out, 2);
		mp_write_lit(out, "sku");
		encode_str(out, r->lines[k].sku);
		kv_int(out, "units", lack);
	}
	mp_write_lit(out, "text");
	mp_write_str(out, t.buf, t.len);
}

/* One sentence for the whole plan. */
static void say_summary(text *t, const core *c, const core_reserve_cmd *r, const core_explain *ex)
{
	static const char *const by[] = { "priority", "distance", "cost", "stock" };
	int64_t short_units = 0;
	for (uint32_t i = 0; i < r->nlines; i++) {
		core_line_view l;
		core_plan_line_get(c, i, &l);
		short_units += l.short_qty;
	}
	if (ex->shipments == 0) {
		say(t, "nothing can be held: %s", ex->usable ? "no usable location offers the order's skus"
		    : "no location is usable for this order");
		return;
	}
	uint32_t named = 0;
	core_explain_loc first = { .fate = CORE_FATE_USED };
	for (uint32_t i = 0; i < ex->considered && named < ex->shipments; i++) {
		core_explain_loc l;
		core_explain_loc_get(c, i, &l);
		if (l.fate != CORE_FATE_USED)
			continue;
		if (named == 0)
			first = l;
		if (named == 0)
			say(t, "%u shipment%s from ", ex->shipments, ex->shipments == 1 ? "" : "s");
		if (named < 4)
			say(t, "%s%.*s", named ? ", " : "", (int)l.location.len, l.location.p);
		else if (named == 4)
			say(t, " and %u more", ex->shipments - 4);
		named++;
	}
	if (ex->shipments == 1 && short_units == 0) {
		say(t, ": the best-ranked location by %s that holds the whole order (", by[ex->strategy]);
		say_key(t, ex, &first);
		say(t, ")");
	}
	else if (ex->split == CORE_SPLIT_NONE)
		say(t, ": split none, and no location holds the whole order");
	else if (ex->exact)
		say(t, ": no one location holds %s; the fewest that hold %s, ranked best by %s",
		    short_units ? "all it can" : "the whole order", short_units ? "the most" : "it", by[ex->strategy]);
	else
		say(t, ": chosen greedily among %u usable locations (exact search covers up to %d)",
		    ex->usable, CORE_PLAN_EXACT_MAX);
	if (ex->max_shipments && ex->shipments == ex->max_shipments && short_units)
		say(t, "; max_shipments %u", ex->max_shipments);
	if (short_units)
		say(t, "; %lld unit%s short", (long long)short_units, short_units == 1 ? "" : "s");
}

void encode_explain(mp_buf *out, const core *c, const core_reserve_cmd *r)
{
	core_explain ex;
	if (!core_explain_get(c, &ex)) {
		mp_write_lit(out, "explain");
		mp_write_nil(out);
		return;
	}
	core_str first_used = { "", 0 };
	for (uint32_t i = 0; i < ex.considered && first_used.len == 0; i++) {
		core_explain_loc l;
		core_explain_loc_get(c, i, &l);
		if (l.fate == CORE_FATE_USED)
			first_used = l.location;
	}
	uint32_t listed = ex.considered < EXPLAIN_LOCATIONS_MAX ? ex.considered : EXPLAIN_LOCATIONS_MAX;
	bool runner_up = ex.runner_up >= 0;
	mp_write_lit(out, "explain");
	mp_write_map(out, 8 + runner_up + (ex.considered > listed));
	mp_write_lit(out, "strategy");
	mp_write_cstr(out, core_strategy_name(ex.strategy));
	mp_write_lit(out, "split");
	mp_write_cstr(out, core_split_name(ex.split));
	kv_int(out, "max_shipments", ex.max_shipments);
	kv_int(out, "usable", ex.usable);
	mp_write_lit(out, "search");
	mp_write_cstr(out, ex.exact ? "exact" : "greedy");
	kv_int(out, "shipments", ex.shipments);
	text summary = { .len = 0 };
	say_summary(&summary, c, r, &ex);
	mp_write_lit(out, "summary");
	mp_write_str(out, summary.buf, summary.len);
	mp_write_lit(out, "locations");
	mp_write_array(out, listed);
	for (uint32_t i = 0; i < listed; i++)
		encode_explain_loc(out, c, r, &ex, i, first_used);
	if (ex.considered > listed)
		kv_int(out, "omitted", ex.considered - listed);
	if (runner_up)
		encode_runner_up(out, c, r, &ex, first_used);
}
