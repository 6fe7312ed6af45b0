/*
 * plan-bench.c - the planner alone: nanoseconds per plan of a 5-line order
 * across 50 locations, for each strategy, through core_quote() (the plan
 * reserve makes, holding nothing, so every run plans the same state).
 *
 * The network: 50 locations spread over Europe, each with a cost and a
 * cost per km; each sku is stocked at about 60% of them with 0 to 20
 * units, so some orders fit one location and others must split. Orders
 * draw 5 distinct skus and 1 to 3 units each, and a ship_to among 20
 * cities; the same orders for every strategy.
 *
 * usage: plan-bench [--plans N] [--skus K] [--locations L] [--lines N] [--seed S] [--json]
 */
#include "bench_time.h"
#include "core.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ORDERS 4096 /* distinct orders, planned in turn */
#define LINES_MAX 16

static uint64_t rng_state = 1;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void must(int rc, const core_error *err, const char *what)
{
	if (rc != CORE_OK) {
		fprintf(stderr, "plan-bench: %s failed: %s %s\n", what, core_strerror(rc), err->message);
		exit(1);
	}
}

static core_str str(const char *s)
{
	return (core_str){ s, (uint32_t)strlen(s) };
}

typedef struct order {
	core_line_req lines[LINES_MAX];
	char skus[LINES_MAX][16];
	double lat, lon;
} order;

static void load(core *c, uint32_t skus, uint32_t locations)
{
	char sku[16], loc[16];
	core_result res;
	core_error err;
	for (uint32_t j = 0; j < locations; j++) {
		snprintf(loc, sizeof(loc), "L%02u", j);
		core_cmd cmd = { .type = CORE_CMD_LOCATION_PUT };
		cmd.u.location = (core_location_cmd){ .location = str(loc), .has_coords = true,
			.lat = 36 + (double)(rng() % 2400) / 100, .lon = -9 + (double)(rng() % 3300) / 100,
			.has_priority = true, .priority = (int64_t)(rng() % 5), .has_cost = true,
			.cost = (double)(rng() % 800) / 100, .has_cost_per_km = true,
			.cost_per_km = (double)(rng() % 300) / 10000, .capacity = -1, .enabled = -1 };
		must(core_exec(c, &cmd, 1, &res, &err), &err, "location.put");
	}
	for (uint32_t i = 0; i < skus; i++) {
		for (uint32_t j = 0; j < locations; j++) {
			if (rng() % 10 >= 6)
				continue;
			snprintf(sku, sizeof(sku), "sku-%05u", i);
			snprintf(loc, sizeof(loc), "L%02u", j);
			core_cmd cmd = { .type = CORE_CMD_STOCK_SET };
			cmd.u.stock = (core_stock_cmd){ .sku = str(sku), .location = str(loc),
				.on_hand = (int64_t)(rng() % 21), .safety = -1, .if_version = -1 };
			must(core_exec(c, &cmd, 1, &res, &err), &err, "stock.set");
		}
	}
}

static void make_orders(order *orders, uint32_t skus, uint32_t nlines)
{
	for (uint32_t k = 0; k < ORDERS; k++) {
		order *o = &orders[k];
		for (uint32_t i = 0; i < nlines; i++) {
			uint32_t s;
			bool dup;
			do {
				s = (uint32_t)(rng() % skus);
				snprintf(o->skus[i], sizeof(o->skus[i]), "sku-%05u", s);
				dup = false;
				for (uint32_t j = 0; j < i; j++)
					dup |= strcmp(o->skus[i], o->skus[j]) == 0;
			} while (dup);
			o->lines[i] = (core_line_req){ str(o->skus[i]), 1 + (int64_t)(rng() % 3) };
		}
		o->lat = 37 + (double)(rng() % 2200) / 100;
		o->lon = -8 + (double)(rng() % 3100) / 100;
	}
}

typedef struct result {
	double ns;
	double shipments;     /* per planned order */
	double out_of_stock;  /* share */
} result;

static result bench(core *c, const order *orders, uint32_t nlines, core_strategy strategy, uint64_t plans)
{
	core_reserve_cmd cmd = { .order_id = str("bench"), .nlines = nlines, .ttl_ms = -1,
		.strategy = strategy, .has_ship_to = true };
	uint64_t shipments = 0, oos = 0;
	core_error err;
	double t0 = bench_mono_s();
	for (uint64_t n = 0; n < plans; n++) {
		const order *o = &orders[n % ORDERS];
		cmd.lines = o->lines;
		cmd.ship_lat = o->lat;
		cmd.ship_lon = o->lon;
		int rc = core_quote(c, &cmd, &err);
		if (rc == CORE_OK)
			shipments += core_plan_shipments(c);
		else if (rc == CORE_E_OUT_OF_STOCK)
			oos++;
		else
			must(rc, &err, "route.quote");
	}
	double t = bench_mono_s() - t0;
	uint64_t planned = plans - oos;
	return (result){ t * 1e9 / (double)plans, planned ? (double)shipments / (double)planned : 0,
		(double)oos / (double)plans };
}

int main(int argc, char **argv)
{
	uint64_t plans = 1000000;
	uint32_t skus = 2000, locations = 50, nlines = 5;
	bool json = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--json")) {
			json = true;
			continue;
		}
		if (!strcmp(a, "--help")) {
			printf("usage: plan-bench [--plans N] [--skus K] [--locations L] [--lines N] [--seed S] [--json]\n");
			return 0;
		}
		if (v == NULL) {
			fprintf(stderr, "plan-bench: %s needs a value\n", a);
			return 2;
		}
		if (!strcmp(a, "--plans"))
			plans = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--skus"))
			skus = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--locations"))
			locations = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--lines"))
			nlines = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--seed"))
			rng_state = strtoull(v, NULL, 10);
		else {
			fprintf(stderr, "plan-bench: unknown option %s\n", a);
			return 2;
		}
		i++;
	}
	if (plans == 0 || skus < LINES_MAX || skus > 99999 || locations == 0 || locations > 100 ||
	    nlines == 0 || nlines > LINES_MAX) {
		fprintf(stderr, "plan-bench: plans > 0, skus 16 to 99999, locations 1 to 100, lines 1 to %d\n",
		    LINES_MAX);
		return 2;
	}
	core_config cfg;
	core_config_default(&cfg);
	core *c = core_create(&cfg);
	order *orders = calloc(ORDERS, sizeof(*orders));
	if (c == NULL || orders == NULL)
		return 1;
	load(c, skus, locations);
	make_orders(orders, skus, nlines);
	static const core_strategy strategies[] = { CORE_STRATEGY_PRIORITY, CORE_STRATEGY_NEAREST,
		CORE_STRATEGY_CHEAPEST, CORE_STRATEGY_MOST_STOCK };
	result r[4];
	bench(c, orders, nlines, CORE_STRATEGY_PRIORITY, plans / 10 + 1); /* warm up */
	for (int k = 0; k < 4; k++)
		r[k] = bench(c, orders, nlines, strategies[k], plans);
	if (json) {
		printf("{\"locations\": %u, \"lines\": %u, \"plans\": %" PRIu64, locations, nlines, plans);
		for (int k = 0; k < 4; k++)
			printf(", \"%s\": {\"ns_per_plan\": %.1f, \"shipments\": %.3f, \"out_of_stock\": %.3f}",
			    core_strategy_name(strategies[k]), r[k].ns, r[k].shipments, r[k].out_of_stock);
		printf("}\n");
	} else {
		printf("%u-line orders across %u locations, %" PRIu64 " plans each\n", nlines, locations, plans);
		printf("%-11s %12s %10s %13s\n", "strategy", "ns/plan", "shipments", "out of stock");
		for (int k = 0; k < 4; k++)
			printf("%-11s %12.1f %10.3f %12.1f%%\n", core_strategy_name(strategies[k]), r[k].ns,
			    r[k].shipments, 100 * r[k].out_of_stock);
	}
	free(orders);
	core_destroy(c);
	return 0;
}
