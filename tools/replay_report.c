/*
 * replay_report.c - `allot replay`'s two worlds as a table, as JSON
 * (API.md's S) and as a self-contained HTML report with inline SVG
 * charts (see replay.h).
 */
#include "replay.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "history_util.h"

json_t *replay_json_of(const replay_stats *s)
{
	json_t *units = json_object();
	for (uint32_t i = 0; i < s->nlocations; i++)
		json_object_set_new(units, s->locations[i], json_integer((json_int_t)s->units[i]));
	if (s->other_units)
		json_object_set_new(units, "(other)", json_integer((json_int_t)s->other_units));
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:o}",
	    "orders", (json_int_t)s->orders, "held", (json_int_t)s->held,
	    "out_of_stock", (json_int_t)s->out_of_stock, "short_units", (json_int_t)s->short_units,
	    "backordered_units", (json_int_t)s->backordered_units, "shipments", (json_int_t)s->shipments,
	    "split_orders", (json_int_t)s->split_orders, "km", s->km, "cost", s->cost,
	    "units_by_location", units);
}

/* The locations either world used, in the recorded world's order then the
 * what-if's new ones; the units of each in both. */
typedef struct loc_row {
	const char *name;
	uint64_t a, b;
} loc_row;

static uint32_t loc_rows(const replay_stats *a, const replay_stats *b, loc_row *rows, uint32_t cap)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < a->nlocations && n < cap; i++)
		rows[n++] = (loc_row){ a->locations[i], a->units[i], 0 };
	for (uint32_t i = 0; i < b->nlocations; i++) {
		uint32_t j = 0;
		while (j < n && strcmp(rows[j].name, b->locations[i]) != 0)
			j++;
		if (j == n && n < cap)
			rows[n++] = (loc_row){ b->locations[i], 0, 0 };
		if (j < n)
			rows[j].b = b->units[i];
	}
	for (uint32_t i = 1; i < n; i++) /* by name, for a stable report */
		for (uint32_t j = i; j > 0 && strcmp(rows[j - 1].name, rows[j].name) > 0; j--) {
			loc_row t = rows[j];
			rows[j] = rows[j - 1];
			rows[j - 1] = t;
		}
	return n;
}

static double per(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : 0.0;
}

void replay_print_table(FILE *out, const replay_stats *a, const replay_stats *b, int64_t from_ms,
    int64_t to_ms)
{
	char t1[40], t2[40];
	fprintf(out, "replay %s .. %s\n\n", hu_format_time(from_ms, t1, sizeof(t1)),
	    hu_format_time(to_ms, t2, sizeof(t2)));
	fprintf(out, "%-24s %14s %14s\n", "", "recorded", "what-if");
	const struct { const char *name; uint64_t a, b; } rows[] = {
		{ "orders", a->orders, b->orders }, { "held", a->held, b->held },
		{ "out of stock", a->out_of_stock, b->out_of_stock },
		{ "short units", a->short_units, b->short_units },
		{ "backordered units", a->backordered_units, b->backordered_units },
		{ "shipments", a->shipments, b->shipments },
		{ "split orders", a->split_orders, b->split_orders },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(*rows); i++)
		fprintf(out, "%-24s %14" PRIu64 " %14" PRIu64 "\n", rows[i].name, rows[i].a, rows[i].b);
	fprintf(out, "%-24s %14.3f %14.3f\n", "shipments per order", per(a->shipments, a->held),
	    per(b->shipments, b->held));
	fprintf(out, "%-24s %13.1f%% %13.1f%%\n", "split rate", 100 * per(a->split_orders, a->held),
	    100 * per(b->split_orders, b->held));
	fprintf(out, "%-24s %14.1f %14.1f\n", "km", a->km, b->km);
	fprintf(out, "%-24s %14.2f %14.2f\n", "cost", a->cost, b->cost);
	static loc_row locs[2 * REPLAY_LOCATIONS_MAX];
	uint32_t n = loc_rows(a, b, locs, 2 * REPLAY_LOCATIONS_MAX);
	fprintf(out, "\nunits by location\n");
	for (uint32_t i = 0; i < n; i++)
		fprintf(out, "  %-22s %14" PRIu64 " %14" PRIu64 "\n", locs[i].name, locs[i].a, locs[i].b);
}
