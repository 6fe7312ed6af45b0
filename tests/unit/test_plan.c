/*
 * test_plan.c - the planner: realistic routing scenarios, each named in
 * words and given as a row of a table (locations, stock, earlier orders,
 * the order and its options, the plan expected), and an exhaustive check
 * on small random networks that every plan holds the most units that can
 * be held, with the fewest shipments, within every constraint, ranked as
 * the strategy says, never more than is available; route.quote makes the
 * same plan as reserve and changes nothing.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

static core_str S(const char *s)
{
	return (core_str){ s, s ? (uint32_t)strlen(s) : 0 };
}

#define ABSENT ((core_str){ NULL, 0 })

/* ---- building a network --------------------------------------------------------- */

typedef struct loc_spec {
	const char *name;
	bool coords;
	double lat, lon;
	int priority;
	double cost, cost_per_km;
	int64_t capacity; /* 0 in a table row means none; use CAP(n) */
	bool disabled;
} loc_spec;

/* Capacities in tables: 0 is "none", so a real capacity is stored + 1. */
#define CAP(n) ((n) + 1)

typedef struct stock_spec {
	const char *sku, *loc;
	int64_t on_hand, safety;
} stock_spec;

static void must(int rc, const core_error *err, const char *what)
{
	cr_assert_eq(rc, CORE_OK, "%s: %s %s", what, core_strerror(rc), err->message);
}

static void location_put(core *c, const loc_spec *l)
{
	core_cmd cmd = { .type = CORE_CMD_LOCATION_PUT };
	cmd.u.location = (core_location_cmd){ .location = S(l->name), .has_coords = l->coords,
		.lat = l->lat, .lon = l->lon, .has_priority = true, .priority = l->priority,
		.has_cost = true, .cost = l->cost, .has_cost_per_km = true, .cost_per_km = l->cost_per_km,
		.capacity = l->capacity ? l->capacity - 1 : -1, .enabled = !l->disabled };
	core_result res;
	core_error err;
	must(core_exec(c, &cmd, 1000, &res, &err), &err, "location.put");
}

static void stock_set(core *c, const stock_spec *s)
{
	core_cmd cmd = { .type = CORE_CMD_STOCK_SET };
	cmd.u.stock = (core_stock_cmd){ .sku = S(s->sku), .location = S(s->loc), .on_hand = s->on_hand,
		.safety = s->safety, .if_version = -1 };
	core_result res;
	core_error err;
	must(core_exec(c, &cmd, 1000, &res, &err), &err, "stock.set");
}

/* "A:2,B:1" into lines; names point into buf. */
static uint32_t parse_lines(const char *spec, char *buf, size_t cap, core_line_req *lines)
{
	snprintf(buf, cap, "%s", spec);
	uint32_t n = 0;
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(tok, ':');
		cr_assert_not_null(colon, "bad lines spec %s", spec);
		*colon = '\0';
		lines[n++] = (core_line_req){ S(tok), atoll(colon + 1) };
	}
	return n;
}

/* The plan as text: "A:W1=2+W2=1;B:W3=1" (lines in order, allocations in
 * the order they are held); a line holding nothing is "A:-". */
static void plan_text(const core *c, const core_resv *r, uint32_t nlines, char *out, size_t cap)
{
	size_t len = 0;
	out[0] = '\0';
	for (uint32_t i = 0; i < nlines; i++) {
		core_line_view l;
		if (r)
			core_resv_line_get(c, r, i, &l);
		else
			core_plan_line_get(c, i, &l);
		len += (size_t)snprintf(out + len, cap - len, "%s%.*s:", i ? ";" : "", (int)l.sku.len, l.sku.p);
		if (l.nallocs == 0)
			len += (size_t)snprintf(out + len, cap - len, "-");
		for (uint32_t j = 0; j < l.nallocs; j++) {
			core_alloc_view a;
			if (r)
				core_resv_alloc_get(c, r, i, j, &a);
			else
				core_plan_alloc_get(c, i, j, &a);
			len += (size_t)snprintf(out + len, cap - len, "%s%.*s=%lld%s", j ? "+" : "",
			    (int)a.location.len, a.location.p, (long long)a.qty, a.backorder ? "(backorder)" : "");
		}
	}
}

/* ---- scenarios -------------------------------------------------------------------- */

typedef struct scenario {
	const char *name;
	loc_spec locs[8];
	stock_spec stock[16];
	const char *earlier;  /* orders reserved first (priority), ';' between */
	const char *lines;
	core_strategy strategy;
	core_split split;
	uint32_t max_shipments;
	bool ship_to;
	double lat, lon;
	bool allow_partial;
	int code;             /* CORE_OK or the error */
	const char *plan;     /* expected, when CORE_OK */
	const char *channel;  /* the order's channel, made first */
	const char *channel_locations; /* "a,b"; NULL: all */
	int64_t buffer;
	int64_t per_order, per_customer; /* limits of the order's first sku */
	const char *customer; /* of the order and of the earlier ones */
	struct { const char *sku, *loc; int64_t qty, eta; } inbound[4];
	bool allow_backorder;
} scenario;

/* Places used below (lat, lon). */
#define BERLIN true, 52.52, 13.405
#define HAMBURG true, 53.551, 9.993
#define MUNICH true, 48.137, 11.575
#define LEEDS true, 53.8, -1.55
#define PARIS true, 48.857, 2.352
#define SHIP_BERLIN true, 52.5, 13.4
#define SHIP_PARIS true, 48.85, 2.35

static const scenario scenarios[] = {
	{ .name = "a nearby store short one unit loses to a farther warehouse holding the whole order",
	  .locs = { { "store-paris", PARIS }, { "dc-berlin", BERLIN } },
	  .stock = { { "tee", "store-paris", 1, 0 }, { "tee", "dc-berlin", 50, 0 } },
	  .lines = "tee:2", .strategy = CORE_STRATEGY_NEAREST, .ship_to = SHIP_PARIS,
	  .plan = "tee:dc-berlin=2" },
	{ .name = "nearest takes the closest location that holds everything",
	  .locs = { { "dc-berlin", BERLIN }, { "dc-munich", MUNICH }, { "dc-hamburg", HAMBURG } },
	  .stock = { { "tee", "dc-berlin", 5, 0 }, { "tee", "dc-munich", 5, 0 }, { "tee", "dc-hamburg", 5, 0 } },
	  .lines = "tee:3", .strategy = CORE_STRATEGY_NEAREST, .ship_to = SHIP_BERLIN,
	  .plan = "tee:dc-berlin=3" },
	{ .name = "one location holding the whole order beats a split even when it ranks last",
	  .locs = { { "a-store", .priority = 0 }, { "b-store", .priority = 1 }, { "z-dc", .priority = 9 } },
	  .stock = { { "tee", "a-store", 2, 0 }, { "cap", "b-store", 1, 0 },
		     { "tee", "z-dc", 2, 0 }, { "cap", "z-dc", 1, 0 } },
	  .lines = "tee:2,cap:1", .plan = "tee:z-dc=2;cap:z-dc=1" },
	{ .name = "cheapest weighs a fixed cost against the distance",
	  .locs = { { "near-3pl", BERLIN, .cost = 9, .cost_per_km = 0.001 },
		    { "far-dc", MUNICH, .cost = 2, .cost_per_km = 0.01 } },
	  .stock = { { "tee", "near-3pl", 5, 0 }, { "tee", "far-dc", 5, 0 } },
	  .lines = "tee:1", .strategy = CORE_STRATEGY_CHEAPEST, .ship_to = SHIP_BERLIN,
	  .plan = "tee:far-dc=1" },
	{ .name = "most_stock drains the fullest warehouse first",
	  .locs = { { "dc-a" }, { "dc-b" }, { "dc-c" } },
	  .stock = { { "tee", "dc-a", 10, 0 }, { "tee", "dc-b", 80, 0 }, { "tee", "dc-c", 40, 0 } },
	  .lines = "tee:4", .strategy = CORE_STRATEGY_MOST_STOCK, .plan = "tee:dc-b=4" },
	{ .name = "a split the customer forbade is out of stock though two locations hold it together",
	  .locs = { { "dc-a" }, { "dc-b" } },
	  .stock = { { "tee", "dc-a", 2, 0 }, { "tee", "dc-b", 2, 0 } },
	  .lines = "tee:3", .split = CORE_SPLIT_NONE, .code = CORE_E_OUT_OF_STOCK },
	{ .name = "split none with allow_partial holds what the best single location has",
	  .locs = { { "dc-a" }, { "dc-b" } },
	  .stock = { { "tee", "dc-a", 2, 0 }, { "cap", "dc-a", 1, 0 }, { "tee", "dc-b", 3, 0 } },
	  .lines = "tee:3,cap:1", .split = CORE_SPLIT_NONE, .allow_partial = true,
	  .plan = "tee:dc-a=2;cap:dc-a=1" },
	{ .name = "split lines ships each line whole from one location",
	  .locs = { { "dc-a" }, { "dc-b" }, { "dc-c" } },
	  .stock = { { "tee", "dc-a", 2, 0 }, { "tee", "dc-b", 1, 0 }, { "tee", "dc-c", 3, 0 },
		     { "cap", "dc-a", 1, 0 } },
	  .lines = "tee:3,cap:1", .split = CORE_SPLIT_LINES, .plan = "tee:dc-c=3;cap:dc-a=1" },
	{ .name = "split lines refuses a line no one location holds whole",
	  .locs = { { "dc-a" }, { "dc-b" } },
	  .stock = { { "tee", "dc-a", 2, 0 }, { "tee", "dc-b", 2, 0 } },
	  .lines = "tee:3", .split = CORE_SPLIT_LINES, .code = CORE_E_OUT_OF_STOCK },
	{ .name = "max_shipments 2 refuses an order that needs three",
	  .locs = { { "s1" }, { "s2" }, { "s3" } },
	  .stock = { { "tee", "s1", 1, 0 }, { "tee", "s2", 1, 0 }, { "tee", "s3", 1, 0 } },
	  .lines = "tee:3", .max_shipments = 2, .code = CORE_E_OUT_OF_STOCK },
	{ .name = "max_shipments 1 with allow_partial holds the most one location can",
	  .locs = { { "s1" }, { "s2" } },
	  .stock = { { "tee", "s1", 1, 0 }, { "tee", "s2", 2, 0 } },
	  .lines = "tee:3", .max_shipments = 1, .allow_partial = true, .plan = "tee:s2=2" },
	{ .name = "the fewest shipments: two big warehouses beat three nearer stores",
	  .locs = { { "store-1", BERLIN }, { "store-2", BERLIN }, { "store-3", BERLIN },
		    { "dc-far-1", MUNICH }, { "dc-far-2", MUNICH } },
	  .stock = { { "tee", "store-1", 2, 0 }, { "tee", "store-2", 2, 0 }, { "tee", "store-3", 2, 0 },
		     { "tee", "dc-far-1", 3, 0 }, { "tee", "dc-far-2", 3, 0 } },
	  .lines = "tee:6", .strategy = CORE_STRATEGY_NEAREST, .ship_to = SHIP_BERLIN,
	  .plan = "tee:dc-far-1=3+dc-far-2=3" },
	{ .name = "a warehouse at capacity is skipped for the next one",
	  .locs = { { "dc-a", .capacity = CAP(1) }, { "dc-b" } },
	  .stock = { { "tee", "dc-a", 10, 0 }, { "tee", "dc-b", 10, 0 } },
	  .earlier = "tee:1", .lines = "tee:2", .plan = "tee:dc-b=2" },
	{ .name = "a disabled location is never used",
	  .locs = { { "dc-a", .disabled = true }, { "dc-b" } },
	  .stock = { { "tee", "dc-a", 10, 0 }, { "tee", "dc-b", 1, 0 } },
	  .lines = "tee:2", .allow_partial = true, .plan = "tee:dc-b=1" },
	{ .name = "locations without coordinates rank after those with",
	  .locs = { { "a-nowhere" }, { "z-hamburg", HAMBURG } },
	  .stock = { { "tee", "a-nowhere", 5, 0 }, { "tee", "z-hamburg", 5, 0 } },
	  .lines = "tee:1", .strategy = CORE_STRATEGY_NEAREST, .ship_to = SHIP_BERLIN,
	  .plan = "tee:z-hamburg=1" },
	{ .name = "safety stock is never offered",
	  .locs = { { "dc-a" }, { "dc-b" } },
	  .stock = { { "tee", "dc-a", 5, 4 }, { "tee", "dc-b", 2, 0 } },
	  .lines = "tee:2", .plan = "tee:dc-b=2" },
	{ .name = "two locations at the same distance tie by name",
	  .locs = { { "dc-z", BERLIN }, { "dc-m", BERLIN } },
	  .stock = { { "tee", "dc-z", 5, 0 }, { "tee", "dc-m", 5, 0 } },
	  .lines = "tee:1", .strategy = CORE_STRATEGY_NEAREST, .ship_to = SHIP_BERLIN,
	  .plan = "tee:dc-m=1" },
	{ .name = "priority ranks lower numbers first, then names",
	  .locs = { { "a-dc", .priority = 2 }, { "b-dc", .priority = 1 }, { "c-dc", .priority = 1 } },
	  .stock = { { "tee", "a-dc", 5, 0 }, { "tee", "b-dc", 5, 0 }, { "tee", "c-dc", 5, 0 } },
	  .lines = "tee:5", .plan = "tee:b-dc=5" },
	{ .name = "a split draws from the chosen locations in rank order",
	  .locs = { { "dc-far", MUNICH }, { "dc-near", BERLIN }, { "dc-mid", HAMBURG } },
	  .stock = { { "tee", "dc-far", 4, 0 }, { "tee", "dc-near", 2, 0 }, { "tee", "dc-mid", 1, 0 } },
	  .lines = "tee:6", .strategy = CORE_STRATEGY_NEAREST, .ship_to = SHIP_BERLIN,
	  .plan = "tee:dc-near=2+dc-far=4" },
	{ .name = "a marketplace channel with a buffer leaves the last units to the web shop",
	  .locs = { { "dc-a" }, { "dc-b" } },
	  .stock = { { "tee", "dc-a", 3, 0 }, { "tee", "dc-b", 5, 0 } },
	  .lines = "tee:2", .channel = "marketplace", .buffer = 2, .plan = "tee:dc-b=2" },
	{ .name = "the same order on the web shop takes the first location",
	  .locs = { { "dc-a" }, { "dc-b" } },
	  .stock = { { "tee", "dc-a", 3, 0 }, { "tee", "dc-b", 5, 0 } },
	  .lines = "tee:2", .channel = "web", .plan = "tee:dc-a=2" },
	{ .name = "a store channel ships only from its stores",
	  .locs = { { "dc-a" }, { "store-1" }, { "store-2" } },
	  .stock = { { "tee", "dc-a", 50, 0 }, { "tee", "store-1", 1, 0 }, { "tee", "store-2", 1, 0 } },
	  .lines = "tee:2", .channel = "stores", .channel_locations = "store-1,store-2",
	  .plan = "tee:store-1=1+store-2=1" },
	{ .name = "stock outside the channel does not count",
	  .locs = { { "dc-a" }, { "store-1" } },
	  .stock = { { "tee", "dc-a", 50, 0 }, { "tee", "store-1", 1, 0 } },
	  .lines = "tee:2", .channel = "stores", .channel_locations = "store-1",
	  .code = CORE_E_OUT_OF_STOCK },
	{ .name = "a per-order limit refuses a bigger order",
	  .locs = { { "dc-a" } }, .stock = { { "tee", "dc-a", 50, 0 } },
	  .lines = "tee:3", .per_order = 2, .code = CORE_E_LIMIT_EXCEEDED },
	{ .name = "a per-customer limit counts what the customer already holds",
	  .locs = { { "dc-a" } }, .stock = { { "tee", "dc-a", 50, 0 } },
	  .earlier = "tee:2", .customer = "c-7", .lines = "tee:2", .per_customer = 3,
	  .code = CORE_E_LIMIT_EXCEEDED },
	{ .name = "the rest of a per-customer limit can still be bought",
	  .locs = { { "dc-a" } }, .stock = { { "tee", "dc-a", 50, 0 } },
	  .earlier = "tee:2", .customer = "c-7", .lines = "tee:1", .per_customer = 3,
	  .plan = "tee:dc-a=1" },
	{ .name = "a pre-order is held against a purchase order",
	  .locs = { { "dc-a" } }, .stock = { { "new-tee", "dc-a", 0, 0 } },
	  .inbound = { { "new-tee", "dc-a", 100, 5000 } },
	  .lines = "new-tee:3", .allow_backorder = true, .plan = "new-tee:dc-a=3(backorder)" },
	{ .name = "what is on hand goes first, the rest against the earliest arrival",
	  .locs = { { "dc-a" }, { "dc-b" } },
	  .stock = { { "tee", "dc-a", 2, 0 } },
	  .inbound = { { "tee", "dc-a", 10, 9000 }, { "tee", "dc-b", 1, 4000 }, { "tee", "dc-b", 5, 6000 } },
	  .lines = "tee:5", .allow_backorder = true, .plan = "tee:dc-a=2+dc-b=3(backorder)" },
	{ .name = "without allow_backorder an inbound purchase order does not count",
	  .locs = { { "dc-a" } }, .stock = { { "tee", "dc-a", 1, 0 } },
	  .inbound = { { "tee", "dc-a", 10, 9000 } }, .lines = "tee:3", .code = CORE_E_OUT_OF_STOCK },
	{ .name = "a backorder beyond every purchase order is still out of stock",
	  .locs = { { "dc-a" } }, .stock = { { "tee", "dc-a", 1, 0 } },
	  .inbound = { { "tee", "dc-a", 1, 9000 } }, .lines = "tee:3", .allow_backorder = true,
	  .code = CORE_E_OUT_OF_STOCK },
	{ .name = "nearest without ship_to is a bad request",
	  .locs = { { "dc-a", BERLIN } }, .stock = { { "tee", "dc-a", 5, 0 } },
	  .lines = "tee:1", .strategy = CORE_STRATEGY_NEAREST, .code = CORE_E_BAD_REQUEST },
};

static core *build(const scenario *sc)
{
	core_config cfg;
	core_config_default(&cfg);
	core *c = core_create(&cfg);
	cr_assert_not_null(c);
	for (int i = 0; i < 8 && sc->locs[i].name; i++)
		location_put(c, &sc->locs[i]);
	for (int i = 0; i < 16 && sc->stock[i].sku; i++)
		stock_set(c, &sc->stock[i]);
	core_result res;
	core_error err;
	char buf[256], order[32];
	core_line_req lines[8];
	if (sc->channel) {
		core_str names[8];
		uint32_t n = 0;
		if (sc->channel_locations) {
			snprintf(buf, sizeof(buf), "%s", sc->channel_locations);
			for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
				names[n++] = S(t);
		}
		core_cmd cmd = { .type = CORE_CMD_CHANNEL_PUT };
		cmd.u.channel = (core_channel_cmd){ .channel = S(sc->channel), .buffer = sc->buffer,
			.has_locations = sc->channel_locations != NULL, .nlocations = n, .locations = names };
		must(core_exec(c, &cmd, 1000, &res, &err), &err, "channel.put");
	}
	for (int i = 0; i < 4 && sc->inbound[i].sku; i++) {
		core_cmd cmd = { .type = CORE_CMD_INBOUND_ADD };
		cmd.u.inbound = (core_inbound_cmd){ .sku = S(sc->inbound[i].sku), .location = S(sc->inbound[i].loc),
			.qty = sc->inbound[i].qty, .eta_ms = sc->inbound[i].eta };
		must(core_exec(c, &cmd, 1000, &res, &err), &err, "inbound.add");
	}
	if (sc->per_order || sc->per_customer) {
		char sku[64];
		snprintf(sku, sizeof(sku), "%.*s", (int)(strchr(sc->lines, ':') - sc->lines), sc->lines);
		core_cmd cmd = { .type = CORE_CMD_SKU_PUT };
		cmd.u.sku = (core_sku_cmd){ .sku = S(sku), .per_order = sc->per_order,
			.per_customer = sc->per_customer, .low_stock = -1 };
		must(core_exec(c, &cmd, 1000, &res, &err), &err, "sku.put");
	}
	int k = 0;
	for (const char *p = sc->earlier; p && *p; k++) {
		const char *end = strchr(p, ';');
		char one[128];
		snprintf(one, sizeof(one), "%.*s", (int)(end ? end - p : (long)strlen(p)), p);
		snprintf(order, sizeof(order), "earlier-%d", k);
		core_cmd cmd = { .type = CORE_CMD_RESERVE };
		cmd.u.reserve = (core_reserve_cmd){ .order_id = S(order), .ttl_ms = -1, .lines = lines,
			.nlines = parse_lines(one, buf, sizeof(buf), lines), .customer_id = S(sc->customer) };
		must(core_exec(c, &cmd, 1000, &res, &err), &err, "earlier order");
		p = end ? end + 1 : NULL;
	}
	return c;
}

static void run_scenario(const scenario *sc)
{
	core *c = build(sc);
	char buf[256], got[512];
	core_line_req lines[8];
	core_cmd cmd = { .type = CORE_CMD_RESERVE };
	cmd.u.reserve = (core_reserve_cmd){ .order_id = S("order"), .ttl_ms = -1, .lines = lines,
		.nlines = parse_lines(sc->lines, buf, sizeof(buf), lines), .strategy = sc->strategy,
		.split = sc->split, .max_shipments = sc->max_shipments, .has_ship_to = sc->ship_to,
		.ship_lat = sc->lat, .ship_lon = sc->lon, .allow_partial = sc->allow_partial,
		.explain = true, .channel = S(sc->channel), .customer_id = S(sc->customer),
		.allow_backorder = sc->allow_backorder };
	/* route.quote first: the same answer, and nothing changes. */
	static char before[1 << 16], after[1 << 16];
	core_advance(c, 2000);
	core_dump(c, before, sizeof(before));
	core_error err;
	int qrc = core_quote(c, &cmd.u.reserve, &err);
	core_dump(c, after, sizeof(after));
	cr_assert_str_eq(before, after, "%s: route.quote changed the state", sc->name);
	cr_assert_eq(qrc, sc->code, "%s: quote answered %s (%s), expected %s", sc->name, core_strerror(qrc),
	    qrc ? err.message : "", core_strerror(sc->code));
	char quoted[512] = "";
	if (qrc == CORE_OK)
		plan_text(c, NULL, cmd.u.reserve.nlines, quoted, sizeof(quoted));
	core_result res;
	int rc = core_exec(c, &cmd, 2000, &res, &err);
	cr_assert_eq(rc, sc->code, "%s: reserve answered %s (%s), expected %s", sc->name, core_strerror(rc),
	    rc ? err.message : "", core_strerror(sc->code));
	if (rc == CORE_OK) {
		plan_text(c, res.resv, cmd.u.reserve.nlines, got, sizeof(got));
		cr_assert_str_eq(got, sc->plan, "%s: planned %s", sc->name, got);
		cr_assert_str_eq(quoted, got, "%s: quoted %s, reserved %s", sc->name, quoted, got);
		core_explain ex;
		cr_assert(core_explain_get(c, &ex), "%s: no explanation", sc->name);
		cr_assert(ex.shipments > 0 || sc->allow_backorder, "%s: no shipment", sc->name);
	} else {
		core_dump(c, after, sizeof(after));
		cr_assert_str_eq(before, after, "%s: a failed reserve changed the state", sc->name);
	}
	const char *why = core_check(c);
	cr_assert_null(why, "%s: %s", sc->name, why);
	core_destroy(c);
}

Test(plan, realistic_routing_scenarios_plan_as_the_rules_say)
{
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		run_scenario(&scenarios[i]);
}

/* ---- the exhaustive check ----------------------------------------------------------- */

#define N_LOCS 4
#define N_SKUS 3

typedef struct net {
	loc_spec loc[N_LOCS];
	char names[N_LOCS][8];
	int nlocs;
	int64_t avail[N_SKUS][N_LOCS]; /* -1: no record */
	uint32_t open[N_LOCS];
} net;

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)((rng_state >> 33) % n);
}

static const double cities[][2] = {
	{ 52.52, 13.405 }, { 48.137, 11.575 }, { 53.551, 9.993 }, { 48.857, 2.352 }, { 53.8, -1.55 },
	{ 52.52, 13.405 }, { 40.4, -3.7 },
};

static double haversine_km(double lat1, double lon1, double lat2, double lon2)
{
	double r = M_PI / 180, dlat = (lat2 - lat1) * r, dlon = (lon2 - lon1) * r;
	double a = sin(dlat / 2) * sin(dlat / 2) + cos(lat1 * r) * cos(lat2 * r) * sin(dlon / 2) * sin(dlon / 2);
	return 2 * 6371.0088 * asin(sqrt(a));
}

/* The strategy's order, computed independently: true when a ranks before b. */
static bool ranks_before(const net *n, const core_reserve_cmd *o, const int64_t *units, int a, int b)
{
	const loc_spec *x = &n->loc[a], *y = &n->loc[b];
	double kx = 0, ky = 0;
	switch (o->strategy) {
	case CORE_STRATEGY_PRIORITY:
		kx = x->priority;
		ky = y->priority;
		break;
	case CORE_STRATEGY_NEAREST:
	case CORE_STRATEGY_CHEAPEST:
		if (x->coords != y->coords)
			return x->coords;
		if (!x->coords) {
			kx = o->strategy == CORE_STRATEGY_CHEAPEST ? x->cost : 0;
			ky = o->strategy == CORE_STRATEGY_CHEAPEST ? y->cost : 0;
			break;
		}
		kx = haversine_km(o->ship_lat, o->ship_lon, x->lat, x->lon);
		ky = haversine_km(o->ship_lat, o->ship_lon, y->lat, y->lon);
		if (o->strategy == CORE_STRATEGY_CHEAPEST) {
			kx = x->cost + kx * x->cost_per_km;
			ky = y->cost + ky * y->cost_per_km;
		}
		if (fabs(kx - ky) < 1e-9)
			kx = ky; /* the same place, computed two ways */
		break;
	case CORE_STRATEGY_MOST_STOCK:
		kx = -(double)units[a];
		ky = -(double)units[b];
		break;
	}
	if (kx != ky)
		return kx < ky;
	return strcmp(x->name, y->name) < 0;
}

/* Units a set of locations holds for the order under the split mode. */
static int64_t set_units(const net *n, const int *sku, const int64_t *qty, int nl, unsigned set, int split)
{
	int64_t units = 0;
	for (int i = 0; i < nl; i++) {
		int64_t sum = 0, best = 0;
		for (int l = 0; l < n->nlocs; l++) {
			if (!((set >> l) & 1) || n->avail[sku[i]][l] <= 0)
				continue;
			sum += n->avail[sku[i]][l];
			int64_t v = n->avail[sku[i]][l] < qty[i] ? n->avail[sku[i]][l] : qty[i];
			best = v > best ? v : best;
		}
		units += split == CORE_SPLIT_LINES ? best : (sum < qty[i] ? sum : qty[i]);
	}
	return units;
}

/* Sorted rank positions of a set compare: true when set a ranks better. */
static bool set_before(const net *n, const core_reserve_cmd *o, const int64_t *units, unsigned a, unsigned b)
{
	int la[N_LOCS], lb[N_LOCS], na = 0, nb = 0;
	for (int l = 0; l < n->nlocs; l++) {
		if ((a >> l) & 1)
			la[na++] = l;
		if ((b >> l) & 1)
			lb[nb++] = l;
	}
	/* sort each by rank */
	for (int i = 1; i < na; i++)
		for (int j = i; j > 0 && ranks_before(n, o, units, la[j], la[j - 1]); j--) {
			int t = la[j]; la[j] = la[j - 1]; la[j - 1] = t;
		}
	for (int i = 1; i < nb; i++)
		for (int j = i; j > 0 && ranks_before(n, o, units, lb[j], lb[j - 1]); j--) {
			int t = lb[j]; lb[j] = lb[j - 1]; lb[j - 1] = t;
		}
	for (int i = 0; i < na && i < nb; i++)
		if (la[i] != lb[i])
			return ranks_before(n, o, units, la[i], lb[i]);
	return false;
}

static void random_round(int round)
{
	core_config cfg;
	core_config_default(&cfg);
	core *c = core_create(&cfg);
	net n = { .nlocs = 1 + (int)rnd(N_LOCS) };
	char sku_names[N_SKUS][4] = { "A", "B", "C" };
	for (int l = 0; l < n.nlocs; l++) {
		loc_spec *s = &n.loc[l];
		snprintf(n.names[l], sizeof(n.names[l]), "L%c", "dbca"[l]);
		const double *city = cities[rnd(7)];
		*s = (loc_spec){ .name = n.names[l], .coords = rnd(5) != 0, .lat = city[0], .lon = city[1],
			.priority = (int)rnd(3), .cost = rnd(4), .cost_per_km = rnd(3) * 0.01,
			.capacity = rnd(3) == 0 ? CAP((int64_t)rnd(3)) : 0, .disabled = rnd(8) == 0 };
		location_put(c, s);
	}
	for (int k = 0; k < N_SKUS; k++)
		for (int l = 0; l < n.nlocs; l++) {
			n.avail[k][l] = -1;
			if (rnd(4) == 0)
				continue;
			stock_spec st = { sku_names[k], n.names[l], rnd(5), rnd(4) == 0 ? 1 : 0 };
			stock_set(c, &st);
		}
	/* A few earlier holds open shipments (and may fill capacities). */
	for (int e = 0, ne = (int)rnd(3); e < ne; e++) {
		char order[16];
		snprintf(order, sizeof(order), "e%d", e);
		core_line_req line = { S(sku_names[rnd(N_SKUS)]), 1 };
		core_cmd cmd = { .type = CORE_CMD_RESERVE };
		cmd.u.reserve = (core_reserve_cmd){ .order_id = S(order), .ttl_ms = -1, .lines = &line, .nlines = 1 };
		core_result res;
		core_error err;
		core_exec(c, &cmd, 1000, &res, &err);
	}
	/* Half the orders come through a channel of some locations, with a buffer. */
	bool use_channel = rnd(2), in_channel[N_LOCS];
	int64_t buffer = use_channel ? rnd(3) : 0;
	if (use_channel) {
		core_str names[N_LOCS];
		uint32_t nin = 0;
		for (int l = 0; l < n.nlocs; l++)
			if ((in_channel[l] = rnd(4) != 0))
				names[nin++] = S(n.names[l]);
		core_cmd cmd = { .type = CORE_CMD_CHANNEL_PUT };
		cmd.u.channel = (core_channel_cmd){ .channel = S("ch"), .has_locations = true, .nlocations = nin,
			.locations = names, .buffer = buffer };
		core_result res;
		core_error err;
		must(core_exec(c, &cmd, 1000, &res, &err), &err, "channel.put");
	}
	/* What each location offers now, and whether it is usable. */
	bool usable[N_LOCS];
	for (int l = 0; l < n.nlocs; l++) {
		core_location_view v;
		for (uint32_t r = 0; r < core_location_count(c); r++) {
			core_location_at(c, r, &v);
			if (strcmp(v.name.p, n.names[l]) == 0 || (v.name.len == 2 && memcmp(v.name.p, n.names[l], 2) == 0))
				break;
		}
		n.open[l] = v.open_shipments;
		usable[l] = !n.loc[l].disabled && (n.loc[l].capacity == 0 || n.open[l] < n.loc[l].capacity - 1) &&
		    (!use_channel || in_channel[l]);
		for (int k = 0; k < N_SKUS; k++) {
			core_avail_loc got = { { NULL, 0 }, -1 };
			uint32_t nl;
			core_avail(c, S(sku_names[k]), S(n.names[l]), NULL, NULL, &nl);
			if (nl)
				got.available = core_avail(c, S(sku_names[k]), S(n.names[l]), NULL, NULL, &nl);
			n.avail[k][l] = nl ? (got.available > buffer ? got.available - buffer : 0) : -1;
		}
	}
	/* The order. */
	int nl = 1 + (int)rnd(3), sku[3];
	int64_t qty[3];
	core_line_req lines[3];
	for (int i = 0; i < nl; i++) {
		sku[i] = (i + (int)rnd(N_SKUS)) % N_SKUS;
		for (int j = 0; j < i; j++)
			if (sku[j] == sku[i])
				sku[i] = (sku[i] + 1) % N_SKUS;
		for (int j = 0; j < i; j++)
			if (sku[j] == sku[i])
				sku[i] = (sku[i] + 1) % N_SKUS;
		qty[i] = 1 + rnd(4);
		lines[i] = (core_line_req){ S(sku_names[sku[i]]), qty[i] };
	}
	const double *to = cities[rnd(7)];
	core_reserve_cmd o = { .order_id = S("order"), .ttl_ms = -1, .lines = lines, .nlines = (uint32_t)nl,
		.strategy = (core_strategy)rnd(4), .split = (core_split)rnd(3), .max_shipments = rnd(4),
		.has_ship_to = true, .ship_lat = to[0], .ship_lon = to[1], .allow_partial = rnd(2),
		.channel = use_channel ? S("ch") : ABSENT };
	int64_t units_at[N_LOCS] = { 0 };
	unsigned usable_set = 0;
	for (int l = 0; l < n.nlocs; l++) {
		for (int i = 0; i < nl; i++)
			units_at[l] += n.avail[sku[i]][l] > 0 ? n.avail[sku[i]][l] : 0;
		if (usable[l] && units_at[l] > 0)
			usable_set |= 1u << l;
	}
	/* The best by brute force: most units, fewest locations, best ranked. */
	unsigned best = 0;
	int64_t best_units = 0, total = 0;
	for (int i = 0; i < nl; i++)
		total += qty[i];
	for (unsigned set = 1; set < (1u << n.nlocs); set++) {
		int size = __builtin_popcount(set);
		if ((set & ~usable_set) || (o.max_shipments && size > (int)o.max_shipments) ||
		    (o.split == CORE_SPLIT_NONE && size > 1))
			continue;
		int64_t u = set_units(&n, sku, qty, nl, set, o.split);
		int bsize = __builtin_popcount(best);
		if (u > best_units || (u == best_units && best && (size < bsize ||
		    (size == bsize && set_before(&n, &o, units_at, set, best))))) {
			best = set;
			best_units = u;
		}
	}
	core_error err;
	int rc = core_quote(c, &o, &err);
	bool expect_ok = best_units == total || (o.allow_partial && best_units > 0);
	cr_assert_eq(rc == CORE_OK, expect_ok, "round %d: quote %s (%s); best holds %lld of %lld",
	    round, core_strerror(rc), rc ? err.message : "", (long long)best_units, (long long)total);
	if (rc == CORE_E_OUT_OF_STOCK) {
		int64_t could = 0;
		for (uint32_t i = 0; i < err.nshort; i++)
			could += err.short_lines[i].available - err.short_lines[i].requested;
		cr_assert_eq(total + could, best_units, "round %d: the short lines' available", round);
	}
	if (rc == CORE_OK) {
		unsigned used = 0;
		int64_t units = 0;
		int64_t took[N_SKUS][N_LOCS] = { { 0 } };
		for (int i = 0; i < nl; i++) {
			core_line_view lv;
			core_plan_line_get(c, (uint32_t)i, &lv);
			int prev = -1;
			for (uint32_t j = 0; j < lv.nallocs; j++) {
				core_alloc_view a;
				core_plan_alloc_get(c, (uint32_t)i, j, &a);
				int l = 0;
				while (l < n.nlocs && !(a.location.len == 2 && memcmp(a.location.p, n.names[l], 2) == 0))
					l++;
				cr_assert_lt(l, n.nlocs);
				cr_assert_gt(a.qty, 0);
				took[sku[i]][l] += a.qty;
				used |= 1u << l;
				units += a.qty;
				/* a line draws in rank order */
				cr_assert(prev < 0 || ranks_before(&n, &o, units_at, prev, l), "round %d: rank order", round);
				prev = l;
			}
			cr_assert_leq((int64_t)lv.nallocs, o.split == CORE_SPLIT_UNITS ? N_LOCS : 1,
			    "round %d: split %s drew a line from %u locations", round,
			    core_split_name(o.split), lv.nallocs);
		}
		for (int k = 0; k < N_SKUS; k++)
			for (int l = 0; l < n.nlocs; l++)
				cr_assert_leq(took[k][l], n.avail[k][l] > 0 ? n.avail[k][l] : 0,
				    "round %d: more than available", round);
		cr_assert_eq(used & ~usable_set, 0, "round %d: an unusable location was used", round);
		cr_assert_eq(units, best_units, "round %d: holds %lld, the best holds %lld", round,
		    (long long)units, (long long)best_units);
		cr_assert_eq(used, best, "round %d: used locations %x, the best set is %x (strategy %s, split %s, "
		    "max %u)", round, used, best, core_strategy_name(o.strategy), core_split_name(o.split),
		    o.max_shipments);
		cr_assert_eq(core_plan_shipments(c), (uint32_t)__builtin_popcount(used));
		/* reserve holds the same */
		core_cmd cmd = { .type = CORE_CMD_RESERVE, .u.reserve = o };
		core_result res;
		cr_assert_eq(core_exec(c, &cmd, 1500, &res, &err), CORE_OK, "round %d: %s", round, err.message);
	}
	const char *why = core_check(c);
	cr_assert_null(why, "round %d: %s", round, why);
	core_destroy(c);
}

Test(plan, on_small_random_networks_every_plan_is_the_best_the_rules_allow)
{
	rng_state = 20261123;
	for (int round = 0; round < 20000; round++)
		random_round(round);
}

/* ---- purchase limits over time ---------------------------------------------------- */

static int order_for(core *c, int64_t now, const char *order, const char *customer, int64_t qty,
    char id[CORE_RESERVATION_ID_LEN + 1], core_error *err)
{
	core_line_req line = { S("tee"), qty };
	core_cmd cmd = { .type = CORE_CMD_RESERVE };
	cmd.u.reserve = (core_reserve_cmd){ .order_id = S(order), .ttl_ms = 1000, .lines = &line, .nlines = 1,
		.customer_id = S(customer) };
	core_result res;
	int rc = core_exec(c, &cmd, now, &res, err);
	if (rc == CORE_OK && id) {
		core_resv_view v;
		core_resv_view_get(c, res.resv, &v);
		memcpy(id, v.id, sizeof(v.id));
	}
	return rc;
}

Test(plan, a_per_customer_limit_counts_held_and_committed_units_from_before_it_was_set)
{
	core_config cfg;
	core_config_default(&cfg);
	core *c = core_create(&cfg);
	stock_spec st = { "tee", "dc", 100, 0 };
	stock_set(c, &st);
	char a[32], b[32];
	core_error err;
	must(order_for(c, 1000, "o-1", "ann", 2, a, &err), &err, "o-1");
	must(order_for(c, 1000, "o-2", "ann", 1, b, &err), &err, "o-2");
	core_cmd cmd = { .type = CORE_CMD_COMMIT };
	cmd.u.resv = (core_resv_cmd){ .reservation_id = S(b) };
	core_result res;
	must(core_exec(c, &cmd, 1000, &res, &err), &err, "commit");
	/* The limit comes after: ann holds 3 already. */
	core_cmd lim = { .type = CORE_CMD_SKU_PUT };
	lim.u.sku = (core_sku_cmd){ .sku = S("tee"), .per_order = -1, .per_customer = 4, .low_stock = -1 };
	must(core_exec(c, &lim, 1000, &res, &err), &err, "sku.put");
	cr_assert_eq(order_for(c, 1000, "o-3", "ann", 2, NULL, &err), CORE_E_LIMIT_EXCEEDED);
	cr_assert_eq(err.nshort, 1);
	cr_assert_eq(err.short_lines[0].available, 1, "ann may still take 1");
	cr_assert_eq(order_for(c, 1000, "o-4", "bob", 4, NULL, &err), CORE_OK);
	cr_assert_eq(order_for(c, 1000, "o-5", NULL, 1, NULL, &err), CORE_E_BAD_REQUEST);
	cr_assert(strstr(err.message, "customer_id"), "%s", err.message);
	/* o-1 expires: its 2 units are ann's again to buy. */
	cr_assert_eq(order_for(c, 2000, "o-6", "ann", 3, NULL, &err), CORE_OK, "%s", err.message);
	cr_assert_null(core_check(c));
	/* Fulfilled units no longer count; removing the limit forgets the counts. */
	cmd.type = CORE_CMD_FULFILL;
	must(core_exec(c, &cmd, 2000, &res, &err), &err, "fulfill");
	lim.u.sku.per_customer = 0;
	must(core_exec(c, &lim, 2000, &res, &err), &err, "sku.put");
	cr_assert_eq(order_for(c, 2000, "o-7", "ann", 50, NULL, &err), CORE_OK);
	cr_assert_null(core_check(c));
	core_destroy(c);
}

/* ---- backorders over time ------------------------------------------------------------ */

static void sum_free(void *ctx, const core_inbound_view *v)
{
	*(int64_t *)ctx += v->qty - v->backordered;
}

static int64_t inbound_free(const core *c, const char *sku)
{
	int64_t n = 0;
	core_incoming(c, S(sku), NULL, sum_free, &n);
	return n;
}

Test(plan, backorders_come_back_on_release_and_expiry_and_ship_from_the_purchase_order)
{
	core_config cfg;
	core_config_default(&cfg);
	core *c = core_create(&cfg);
	stock_spec st = { "tee", "dc", 1, 0 };
	stock_set(c, &st);
	core_cmd in = { .type = CORE_CMD_INBOUND_ADD };
	in.u.inbound = (core_inbound_cmd){ .sku = S("tee"), .location = S("dc"), .qty = 10, .eta_ms = 9000,
		.ref = S("po-1") };
	core_result res;
	core_error err;
	must(core_exec(c, &in, 1000, &res, &err), &err, "inbound.add");
	core_line_req line = { S("tee"), 4 };
	core_cmd cmd = { .type = CORE_CMD_RESERVE };
	cmd.u.reserve = (core_reserve_cmd){ .order_id = S("o-1"), .ttl_ms = 1000, .lines = &line, .nlines = 1,
		.allow_backorder = true };
	must(core_exec(c, &cmd, 1000, &res, &err), &err, "reserve");
	core_line_view lv;
	core_resv_line_get(c, res.resv, 0, &lv);
	cr_assert_eq(lv.backordered, 3);
	cr_assert_eq(lv.short_qty, 0);
	cr_assert_eq(inbound_free(c, "tee"), 7);
	cr_assert_null(core_check(c));
	/* expiry gives the 3 back to the purchase order, the 1 back on hand */
	core_advance(c, 2000);
	cr_assert_eq(inbound_free(c, "tee"), 10);
	cr_assert_null(core_check(c));
	/* a second order, committed then fulfilled: the backordered units ship
	 * from the purchase order, the one on hand from on_hand */
	cmd.u.reserve.order_id = S("o-2");
	cmd.u.reserve.ttl_ms = 60000;
	must(core_exec(c, &cmd, 2000, &res, &err), &err, "reserve");
	char id[CORE_RESERVATION_ID_LEN + 1];
	core_resv_view v;
	core_resv_view_get(c, res.resv, &v);
	memcpy(id, v.id, sizeof(id));
	core_cmd commit = { .type = CORE_CMD_COMMIT };
	commit.u.resv = (core_resv_cmd){ .reservation_id = S(id) };
	must(core_exec(c, &commit, 2000, &res, &err), &err, "commit");
	/* release 1 unit: the backorder goes first */
	core_line_req one = { S("tee"), 1 };
	core_cmd rel = { .type = CORE_CMD_RELEASE };
	rel.u.resv = (core_resv_cmd){ .reservation_id = S(id), .lines = &one, .nlines = 1 };
	must(core_exec(c, &rel, 2000, &res, &err), &err, "release");
	cr_assert_eq(inbound_free(c, "tee"), 8);
	core_cmd ful = { .type = CORE_CMD_FULFILL };
	ful.u.resv = (core_resv_cmd){ .reservation_id = S(id) };
	must(core_exec(c, &ful, 2000, &res, &err), &err, "fulfill");
	/* 1 on hand shipped, 2 from the purchase order: 8 expected, none held */
	cr_assert_eq(core_incoming(c, S("tee"), NULL, NULL, NULL), 1);
	int64_t total = 0;
	core_incoming(c, S("tee"), NULL, sum_free, &total);
	cr_assert_eq(total, 8);
	cr_assert_null(core_check(c));
	core_destroy(c);
}
