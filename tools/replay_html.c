/*
 * replay_html.c - `allot replay --html FILE`: the two worlds as one
 * self-contained HTML page (no external assets): the summary table and
 * two inline SVG bar charts, units per location and held orders by
 * shipments, each bar pair recorded beside what-if.
 */
#include "replay.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "history_util.h"

#define CHART_W 760
#define CHART_H 260
#define CHART_PAD 40
#define COLOR_RECORDED "#4e79a7"
#define COLOR_WHAT_IF "#f28e2b"

static void put_escaped(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		default: fputc(*s, f);
		}
	}
}

/* A grouped bar chart: n groups, each a recorded and a what-if bar. */
static void bar_chart(FILE *f, const char *title, const char *const *labels, const uint64_t *a,
    const uint64_t *b, uint32_t n)
{
	uint64_t max = 1;
	for (uint32_t i = 0; i < n; i++)
		max = a[i] > max ? a[i] : b[i] > max ? b[i] : max;
	double gw = n ? (double)(CHART_W - 2 * CHART_PAD) / n : 0, bw = gw * 0.38;
	double ph = CHART_H - 2 * CHART_PAD;
	fprintf(f, "<h2>");
	put_escaped(f, title);
	fprintf(f, "</h2>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
	    "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"11\">\n", CHART_W, CHART_H,
	    CHART_W, CHART_H);
	fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\"/>\n", CHART_PAD,
	    CHART_H - CHART_PAD, CHART_W - CHART_PAD, CHART_H - CHART_PAD);
	fprintf(f, "<text x=\"%d\" y=\"%d\">%" PRIu64 "</text>\n", 2, CHART_PAD, max);
	for (uint32_t i = 0; i < n; i++) {
		double x = CHART_PAD + i * gw + gw * 0.1;
		double ha = ph * (double)a[i] / (double)max, hb = ph * (double)b[i] / (double)max;
		fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
		    "<title>recorded: %" PRIu64 "</title></rect>\n", x, CHART_H - CHART_PAD - ha, bw, ha,
		    COLOR_RECORDED, a[i]);
		fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
		    "<title>what-if: %" PRIu64 "</title></rect>\n", x + bw, CHART_H - CHART_PAD - hb, bw, hb,
		    COLOR_WHAT_IF, b[i]);
		fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">", x + bw,
		    CHART_H - CHART_PAD + 14);
		put_escaped(f, labels[i]);
		fprintf(f, "</text>\n");
	}
	fprintf(f, "<rect x=\"%d\" y=\"6\" width=\"10\" height=\"10\" fill=\"%s\"/><text x=\"%d\" "
	    "y=\"15\">recorded</text><rect x=\"%d\" y=\"6\" width=\"10\" height=\"10\" fill=\"%s\"/>"
	    "<text x=\"%d\" y=\"15\">what-if</text>\n</svg>\n", CHART_W - 200, COLOR_RECORDED,
	    CHART_W - 186, CHART_W - 110, COLOR_WHAT_IF, CHART_W - 96);
}

static void summary_table(FILE *f, const replay_stats *a, const replay_stats *b)
{
	const struct { const char *name; uint64_t a, b; } rows[] = {
		{ "orders", a->orders, b->orders }, { "held", a->held, b->held },
		{ "out of stock", a->out_of_stock, b->out_of_stock },
		{ "short units", a->short_units, b->short_units },
		{ "backordered units", a->backordered_units, b->backordered_units },
		{ "shipments", a->shipments, b->shipments },
		{ "split orders", a->split_orders, b->split_orders },
	};
	fprintf(f, "<table>\n<tr><th></th><th>recorded</th><th>what-if</th></tr>\n");
	for (size_t i = 0; i < sizeof(rows) / sizeof(*rows); i++)
		fprintf(f, "<tr><td>%s</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td></tr>\n", rows[i].name,
		    rows[i].a, rows[i].b);
	fprintf(f, "<tr><td>km</td><td>%.1f</td><td>%.1f</td></tr>\n", a->km, b->km);
	fprintf(f, "<tr><td>cost</td><td>%.2f</td><td>%.2f</td></tr>\n</table>\n", a->cost, b->cost);
}

/* The locations of both worlds, by name, and their units in each. */
static uint32_t locations_of(const replay_stats *a, const replay_stats *b, const char **names,
    uint64_t *ua, uint64_t *ub, uint32_t cap)
{
	uint32_t n = 0;
	const replay_stats *both[2] = { a, b };
	for (int w = 0; w < 2; w++)
		for (uint32_t i = 0; i < both[w]->nlocations; i++) {
			uint32_t j = 0;
			while (j < n && strcmp(names[j], both[w]->locations[i]) != 0)
				j++;
			if (j == n && n == cap)
				continue;
			if (j == n) {
				names[n] = both[w]->locations[i];
				ua[n] = ub[n] = 0;
				n++;
			}
			(w ? ub : ua)[j] = both[w]->units[i];
		}
	return n;
}

int replay_write_html(const char *path, const replay_stats *a, const replay_stats *b,
    int64_t from_ms, int64_t to_ms, const char *overrides_text)
{
	FILE *f = fopen(path, "we");
	if (f == NULL)
		return -1;
	char t1[40], t2[40];
	fprintf(f, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>allot replay</title>\n"
	    "<style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse}"
	    "td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}td:first-child{text-align:left}"
	    "</style></head><body>\n<h1>allot replay</h1>\n<p>%s .. %s; what-if overrides: ",
	    hu_format_time(from_ms, t1, sizeof(t1)), hu_format_time(to_ms, t2, sizeof(t2)));
	put_escaped(f, overrides_text);
	fprintf(f, "</p>\n");
	summary_table(f, a, b);
	static const char *names[REPLAY_LOCATIONS_MAX];
	static uint64_t ua[REPLAY_LOCATIONS_MAX], ub[REPLAY_LOCATIONS_MAX];
	uint32_t n = locations_of(a, b, names, ua, ub, REPLAY_LOCATIONS_MAX);
	bar_chart(f, "Units per location", names, ua, ub, n);
	static char labels[REPLAY_SHIPMENTS_HIST + 1][8];
	const char *lp[REPLAY_SHIPMENTS_HIST];
	uint32_t top = 1;
	for (uint32_t i = 1; i <= REPLAY_SHIPMENTS_HIST; i++)
		if (a->by_shipments[i] || b->by_shipments[i])
			top = i;
	for (uint32_t i = 1; i <= top; i++) {
		snprintf(labels[i], sizeof(labels[i]), i == REPLAY_SHIPMENTS_HIST ? "%u+" : "%u", i);
		lp[i - 1] = labels[i];
	}
	bar_chart(f, "Held orders by shipments per order", lp, a->by_shipments + 1, b->by_shipments + 1,
	    top);
	fprintf(f, "</body></html>\n");
	return fclose(f) == 0 ? 0 : -1;
}
