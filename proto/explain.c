/*
 * explain.c - the "explain" of a reserve or route.quote: per location, its
 * rank key and what became of it, the runner-up plan, and sentences that
 * say why, all from the core's account of its last plan (core_explain).
 */
#include "encode.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* A literal key and an integer value. */
#define kv_int(out, key, v) (mp_write_lit(out, key), mp_write_int(out, v))
#define kv_double(out, key, v) (mp_write_lit(out, key), mp_write_double(out, v))

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
