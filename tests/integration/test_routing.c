/*
 * test_routing.c - routing and policy over the wire: location.put and
 * location.list, every strategy, split mode and constraint of reserve,
 * route.quote (the same plan, nothing held), explain, and the CLI as a new
 * user would call it. Each test starts its own allotd (server_fixture.h).
 */
#include <criterion/criterion.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc_client.h"
#include "allot/protocol.h"
#include "harness.h"
#include "json_util.h"
#include "server_fixture.h"

TestSuite(routing, .init = fx_setup, .fini = fx_teardown, .timeout = 120);

/* params given as JSON text (NULL: none), parsed. */
static json_t *params_of(const char *params)
{
	json_error_t jerr;
	json_t *p = params ? json_loads(params, 0, &jerr) : NULL;
	cr_assert(params == NULL || p != NULL, "bad JSON in the test: %s: %s", params, jerr.text);
	return p;
}

static json_t *ok(const char *method, const char *params)
{
	return ju_ok(method, params_of(params));
}

/* The error of a call that must fail with code, its message naming field. */
static json_t *fails(const char *method, const char *params, const char *code, const char *field)
{
	return ju_fail(method, params_of(params), code, field);
}

/* The plan as text, "A:W1=2+W2=1;B:W3=1", from a reservation or a quote. */
static const char *plan_of(json_t *r)
{
	static char buf[8][512];
	static int turn;
	char *out = buf[turn++ % 8];
	size_t len = 0;
	json_t *lines = ju_get(r, "lines");
	for (size_t i = 0; i < json_array_size(lines); i++) {
		json_t *l = json_array_get(lines, i);
		len += (size_t)snprintf(out + len, 512 - len, "%s%s:", i ? ";" : "", ju_gets(l, "sku"));
		json_t *allocs = ju_get(l, "allocations");
		if (json_array_size(allocs) == 0)
			len += (size_t)snprintf(out + len, 512 - len, "-");
		for (size_t j = 0; j < json_array_size(allocs); j++) {
			json_t *a = json_array_get(allocs, j);
			len += (size_t)snprintf(out + len, 512 - len, "%s%s=%lld", j ? "+" : "",
			    ju_gets(a, "location"), (long long)ju_geti(a, "qty"));
		}
	}
	return out;
}

static void stock(const char *sku, const char *loc, int on_hand)
{
	char p[256];
	snprintf(p, sizeof(p), "{\"sku\": \"%s\", \"location\": \"%s\", \"on_hand\": %d}", sku, loc, on_hand);
	ok("stock.set", p);
}

/* A small network: three warehouses across Germany and a store in Paris. */
static void network(void)
{
	ok("location.put", "{\"location\": \"dc-berlin\", \"lat\": 52.52, \"lon\": 13.405, \"cost\": 4, "
	    "\"cost_per_km\": 0.01, \"tags\": [\"dc\"]}");
	ok("location.put", "{\"location\": \"dc-munich\", \"lat\": 48.137, \"lon\": 11.575, \"cost\": 2, "
	    "\"cost_per_km\": 0.01, \"priority\": 1}");
	ok("location.put", "{\"location\": \"dc-hamburg\", \"lat\": 53.551, \"lon\": 9.993, \"cost\": 3, "
	    "\"cost_per_km\": 0.02, \"priority\": 2}");
	ok("location.put", "{\"location\": \"store-paris\", \"lat\": 48.857, \"lon\": 2.352, "
	    "\"cost\": 6, \"cost_per_km\": 0.01, \"capacity\": 1, \"tags\": [\"store\", \"fr\"]}");
	stock("tee", "dc-berlin", 10);
	stock("tee", "dc-munich", 30);
	stock("tee", "dc-hamburg", 5);
	stock("tee", "store-paris", 2);
	stock("cap", "dc-munich", 4);
	stock("cap", "dc-hamburg", 4);
}

Test(routing, location_put_sets_what_is_given_and_keeps_the_rest)
{
	json_t *l = ok("location.put", "{\"location\": \"W1\", \"lat\": 52.5, \"lon\": 13.4, \"priority\": 3, "
	    "\"cost\": 1.5, \"cost_per_km\": 0.02, \"capacity\": 10, \"tags\": [\"dc\", \"eu\"]}");
	cr_assert_str_eq(ju_gets(l, "location"), "W1");
	cr_assert_eq(ju_geti(l, "priority"), 3);
	cr_assert_eq(ju_geti(l, "capacity"), 10);
	cr_assert(json_is_true(ju_get(l, "enabled")));
	cr_assert_eq(json_array_size(ju_get(l, "tags")), 2);
	cr_assert_eq(ju_geti(l, "open_shipments"), 0);
	/* only enabled given: the rest stays */
	l = ok("location.put", "{\"location\": \"W1\", \"enabled\": false}");
	cr_assert(json_is_false(ju_get(l, "enabled")));
	cr_assert_eq(ju_geti(l, "priority"), 3);
	cr_assert_eq(ju_geti(l, "capacity"), 10);
	cr_assert(json_real_value(ju_get(l, "lat")) == 52.5);
	cr_assert(json_real_value(ju_get(l, "cost")) == 1.5);
	cr_assert_eq(json_array_size(ju_get(l, "tags")), 2);
	/* a location named by stock.set exists with the defaults */
	stock("tee", "store-1", 3);
	json_t *list = ok("location.list", NULL);
	cr_assert_eq(json_array_size(list), 2);
	json_t *store = json_array_get(list, 0); /* priority 0 ranks before 3 */
	cr_assert_str_eq(ju_gets(store, "location"), "store-1");
	cr_assert_eq(ju_geti(store, "priority"), 0);
	cr_assert(json_is_true(ju_get(store, "enabled")));
	cr_assert_null(json_object_get(store, "lat"));
	cr_assert_null(json_object_get(store, "capacity"));
	cr_assert_str_eq(ju_gets(json_array_get(list, 1), "location"), "W1");
	/* a priority change re-ranks */
	ok("location.put", "{\"location\": \"W1\", \"priority\": -1}");
	list = ok("location.list", NULL);
	cr_assert_str_eq(ju_gets(json_array_get(list, 0), "location"), "W1");
	cr_assert_eq(ju_geti(ok("stats", NULL), "locations"), 2);
	fx_finish();
}

Test(routing, location_put_refuses_bad_attributes_naming_the_field_and_changes_nothing)
{
	ok("location.put", "{\"location\": \"W1\", \"priority\": 2}");
	fails("location.put", "{\"priority\": 1}", "BAD_REQUEST", "location");
	fails("location.put", "{\"location\": \"\"}", "BAD_REQUEST", "location");
	fails("location.put", "{\"location\": \"W1\", \"lat\": 91, \"lon\": 0}", "BAD_REQUEST", "lat");
	fails("location.put", "{\"location\": \"W1\", \"lat\": 0, \"lon\": -180.5}", "BAD_REQUEST", "lon");
	fails("location.put", "{\"location\": \"W1\", \"lat\": 10}", "BAD_REQUEST", "lon");
	fails("location.put", "{\"location\": \"W1\", \"lat\": \"north\", \"lon\": 1}", "BAD_REQUEST", "lat");
	fails("location.put", "{\"location\": \"W1\", \"cost\": -1}", "BAD_REQUEST", "cost");
	fails("location.put", "{\"location\": \"W1\", \"cost_per_km\": 1e300}", "BAD_REQUEST", "cost_per_km");
	fails("location.put", "{\"location\": \"W1\", \"capacity\": -1}", "BAD_REQUEST", "capacity");
	fails("location.put", "{\"location\": \"W1\", \"capacity\": 2147483648}", "BAD_REQUEST", "capacity");
	fails("location.put", "{\"location\": \"W1\", \"priority\": 4294967296}", "BAD_REQUEST", "priority");
	fails("location.put", "{\"location\": \"W1\", \"enabled\": 1}", "BAD_REQUEST", "enabled");
	fails("location.put", "{\"location\": \"W1\", \"tags\": [\"a\", \"a\"]}", "BAD_REQUEST", "tags[1]");
	fails("location.put", "{\"location\": \"W1\", \"tags\": [\"a-tag-longer-than-thirty-two-bytes\"]}",
	    "BAD_REQUEST", "tags[0]");
	fails("location.put", "{\"location\": \"W1\", \"tags\": [\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\","
	    "\"8\",\"9\",\"10\",\"11\",\"12\",\"13\",\"14\",\"15\",\"16\",\"17\"]}", "BAD_REQUEST", "tags");
	fails("location.put", "{\"location\": \"W2\", \"lat\": 95, \"lon\": 0}", "BAD_REQUEST", "lat");
	json_t *list = ok("location.list", NULL);
	cr_assert_eq(json_array_size(list), 1, "a refused location.put created a location");
	cr_assert_eq(ju_geti(json_array_get(list, 0), "priority"), 2);
	fx_finish();
}

Test(routing, each_strategy_ranks_as_documented)
{
	network();
	const char *berlin = "\"ship_to\": {\"lat\": 52.5, \"lon\": 13.4}";
	char p[512];
	snprintf(p, sizeof(p), "{\"order_id\": \"q\", \"lines\": [{\"sku\": \"tee\", \"qty\": 2}], "
	    "\"strategy\": \"priority\"}");
	/* priority 0: dc-berlin and store-paris, then by name */
	cr_assert_str_eq(plan_of(ok("route.quote", p)), "tee:dc-berlin=2");
	snprintf(p, sizeof(p), "{\"order_id\": \"q\", \"lines\": [{\"sku\": \"tee\", \"qty\": 2}], "
	    "\"strategy\": \"nearest\", %s}", berlin);
	cr_assert_str_eq(plan_of(ok("route.quote", p)), "tee:dc-berlin=2");
	/* berlin: 4 + 0.01/km * ~1 km; munich: 2 + 0.01 * 505 km; hamburg: 3 + 0.02 * 255 km */
	snprintf(p, sizeof(p), "{\"order_id\": \"q\", \"lines\": [{\"sku\": \"tee\", \"qty\": 2}], "
	    "\"strategy\": \"cheapest\", %s}", berlin);
	cr_assert_str_eq(plan_of(ok("route.quote", p)), "tee:dc-berlin=2");
	snprintf(p, sizeof(p), "{\"order_id\": \"q\", \"lines\": [{\"sku\": \"tee\", \"qty\": 2}], "
	    "\"strategy\": \"most_stock\"}");
	cr_assert_str_eq(plan_of(ok("route.quote", p)), "tee:dc-munich=2");
	/* two lines: only munich and hamburg have caps; nearest to Berlin holding both is hamburg */
	snprintf(p, sizeof(p), "{\"order_id\": \"q\", \"lines\": [{\"sku\": \"tee\", \"qty\": 2}, "
	    "{\"sku\": \"cap\", \"qty\": 1}], \"strategy\": \"nearest\", %s}", berlin);
	cr_assert_str_eq(plan_of(ok("route.quote", p)), "tee:dc-hamburg=2;cap:dc-hamburg=1");
	fails("route.quote", "{\"order_id\": \"q\", \"lines\": [{\"sku\": \"tee\", \"qty\": 1}], "
	    "\"strategy\": \"cheapest\"}", "BAD_REQUEST", "ship_to");
	fx_finish();
}

Test(routing, route_quote_answers_what_reserve_then_holds_and_holds_nothing)
{
	network();
	const char *order = "{\"order_id\": \"o-1\", \"lines\": [{\"sku\": \"tee\", \"qty\": 35}, "
	    "{\"sku\": \"cap\", \"qty\": 1}], \"strategy\": \"nearest\", \"ship_to\": "
	    "{\"lat\": 52.5, \"lon\": 13.4}}";
	json_t *st0 = ok("stats", NULL);
	json_t *q = ok("route.quote", order);
	cr_assert_eq(ju_geti(q, "shipments"), 2);
	json_t *st1 = ok("stats", NULL);
	cr_assert_eq(ju_geti(st1, "units_reserved"), ju_geti(st0, "units_reserved"));
	cr_assert_eq(ju_geti(ju_get(st1, "reservations"), "held"), 0);
	json_t *r = ok("reserve", order);
	cr_assert_str_eq(plan_of(r), plan_of(q));
	/* 35 tee and a cap: no one location holds them; of the pairs that do,
	 * berlin and munich rank best by distance */
	cr_assert_str_eq(plan_of(r), "tee:dc-berlin=10+dc-munich=25;cap:dc-munich=1");
	cr_assert_eq(ju_geti(ok("stats", NULL), "units_reserved"), 36);
	/* out of stock: the same error from both, with the short lines */
	const char *big = "{\"order_id\": \"o-2\", \"lines\": [{\"sku\": \"cap\", \"qty\": 9}]}";
	json_t *e = fails("route.quote", big, "OUT_OF_STOCK", NULL);
	cr_assert_eq(ju_geti(json_array_get(ju_get(e, "lines"), 0), "available"), 7);
	fails("reserve", big, "OUT_OF_STOCK", NULL);
	fx_finish();
}

Test(routing, split_none_and_lines_and_max_shipments_constrain_the_plan)
{
	network();
	/* 40 tee: munich 30 + berlin 10, two shipments */
	const char *o = "{\"order_id\": \"o\", \"lines\": [{\"sku\": \"tee\", \"qty\": 40}]";
	char p[512];
	snprintf(p, sizeof(p), "%s}", o);
	cr_assert_str_eq(plan_of(ok("route.quote", p)), "tee:dc-berlin=10+dc-munich=30");
	snprintf(p, sizeof(p), "%s, \"split\": \"none\"}", o);
	fails("route.quote", p, "OUT_OF_STOCK", NULL);
	snprintf(p, sizeof(p), "%s, \"split\": \"none\", \"allow_partial\": true}", o);
	json_t *q = ok("route.quote", p);
	cr_assert_str_eq(plan_of(q), "tee:dc-munich=30");
	cr_assert_eq(ju_geti(json_array_get(ju_get(q, "lines"), 0), "short"), 10);
	snprintf(p, sizeof(p), "%s, \"max_shipments\": 1}", o);
	fails("route.quote", p, "OUT_OF_STOCK", NULL);
	/* split lines: each line whole from one location */
	const char *two = "{\"order_id\": \"o\", \"lines\": [{\"sku\": \"tee\", \"qty\": 12}, "
	    "{\"sku\": \"cap\", \"qty\": 4}], \"split\": \"lines\"}";
	cr_assert_str_eq(plan_of(ok("route.quote", two)), "tee:dc-munich=12;cap:dc-munich=4");
	fx_finish();
}

Test(routing, a_location_at_capacity_is_skipped_until_a_shipment_closes)
{
	network();
	/* store-paris ranks first by priority (0, then name after dc-berlin? no:
	 * dc-berlin has priority 0 too and ranks first by name) */
	ok("location.put", "{\"location\": \"store-paris\", \"priority\": -1}");
	json_t *r1 = ok("reserve", "{\"order_id\": \"o-1\", \"lines\": [{\"sku\": \"tee\", \"qty\": 1}]}");
	cr_assert_str_eq(plan_of(r1), "tee:store-paris=1");
	json_t *list = ok("location.list", NULL);
	cr_assert_str_eq(ju_gets(json_array_get(list, 0), "location"), "store-paris");
	cr_assert_eq(ju_geti(json_array_get(list, 0), "open_shipments"), 1);
	json_t *r2 = ok("reserve", "{\"order_id\": \"o-2\", \"lines\": [{\"sku\": \"tee\", \"qty\": 1}], "
	    "\"explain\": true}");
	cr_assert_str_eq(plan_of(r2), "tee:dc-berlin=1");
	json_t *ex = ju_get(r2, "explain");
	json_t *first = json_array_get(ju_get(ex, "locations"), 0);
	cr_assert_str_eq(ju_gets(first, "location"), "store-paris");
	cr_assert_str_eq(ju_gets(first, "fate"), "at_capacity");
	cr_assert(strstr(ju_gets(first, "why"), "1 of 1"), "%s", ju_gets(first, "why"));
	/* committing keeps the shipment open; releasing closes it */
	char p[128];
	snprintf(p, sizeof(p), "{\"reservation_id\": \"%s\"}", ju_gets(r1, "reservation_id"));
	ok("commit", p);
	cr_assert_str_eq(plan_of(ok("route.quote", "{\"order_id\": \"q\", \"lines\": [{\"sku\": \"tee\", "
	    "\"qty\": 1}]}")), "tee:dc-berlin=1");
	ok("release", p);
	cr_assert_eq(ju_geti(json_array_get(ok("location.list", NULL), 0), "open_shipments"), 0);
	cr_assert_str_eq(plan_of(ok("route.quote", "{\"order_id\": \"q\", \"lines\": [{\"sku\": \"tee\", "
	    "\"qty\": 1}]}")), "tee:store-paris=1");
	/* a disabled location is skipped too */
	ok("location.put", "{\"location\": \"store-paris\", \"enabled\": false}");
	cr_assert_str_eq(plan_of(ok("route.quote", "{\"order_id\": \"q\", \"lines\": [{\"sku\": \"tee\", "
	    "\"qty\": 1}]}")), "tee:dc-berlin=1");
	fx_finish();
}

Test(routing, explain_says_why_each_location_was_used_or_skipped)
{
	network();
	ok("location.put", "{\"location\": \"dc-hamburg\", \"enabled\": false}");
	json_t *r = ok("reserve", "{\"order_id\": \"o\", \"lines\": [{\"sku\": \"tee\", \"qty\": 3}, "
	    "{\"sku\": \"cap\", \"qty\": 2}], \"strategy\": \"nearest\", \"ship_to\": {\"lat\": 52.5, "
	    "\"lon\": 13.4}, \"explain\": true}");
	cr_assert_str_eq(plan_of(r), "tee:dc-munich=3;cap:dc-munich=2");
	json_t *ex = ju_get(r, "explain");
	cr_assert_str_eq(ju_gets(ex, "strategy"), "nearest");
	cr_assert_str_eq(ju_gets(ex, "search"), "exact");
	cr_assert_eq(ju_geti(ex, "shipments"), 1);
	cr_assert(strstr(ju_gets(ex, "summary"), "dc-munich"), "%s", ju_gets(ex, "summary"));
	json_t *locs = ju_get(ex, "locations");
	cr_assert_eq(json_array_size(locs), 4);
	/* ranked by distance from Berlin: berlin, hamburg, munich, paris */
	static const char *const names[] = { "dc-berlin", "dc-hamburg", "dc-munich", "store-paris" };
	static const char *const fates[] = { "short", "disabled", "used", "short" };
	for (size_t i = 0; i < 4; i++) {
		json_t *l = json_array_get(locs, i);
		cr_assert_str_eq(ju_gets(l, "location"), names[i]);
		cr_assert_str_eq(ju_gets(l, "fate"), fates[i], "%s: %s", names[i], ju_gets(l, "fate"));
		cr_assert_eq(ju_geti(l, "rank"), (json_int_t)i + 1);
		cr_assert(json_is_number(ju_get(l, "km")));
		cr_assert(json_is_integer(ju_get(l, "available")));
		cr_assert(json_is_integer(ju_get(l, "priority")));
		cr_assert(json_is_number(ju_get(l, "cost")));
	}
	cr_assert_str_eq(ju_gets(json_array_get(locs, 0), "why"), "short by 2 units of cap");
	json_t *ru = ju_get(ex, "runner_up");
	cr_assert_str_eq(ju_gets(ru, "location"), "dc-berlin");
	cr_assert_str_eq(ju_gets(ru, "text"), "dc-berlin would cover the order with 2 more units of cap");
	cr_assert_str_eq(ju_gets(json_array_get(ju_get(ru, "lacks"), 0), "sku"), "cap");
	cr_assert_eq(ju_geti(json_array_get(ju_get(ru, "lacks"), 0), "units"), 2);
	/* without explain there is none */
	r = ok("reserve", "{\"order_id\": \"o2\", \"lines\": [{\"sku\": \"tee\", \"qty\": 1}]}");
	cr_assert_null(json_object_get(r, "explain"));
	/* an out-of-stock order explains too */
	json_t *e = fails("reserve", "{\"order_id\": \"o3\", \"lines\": [{\"sku\": \"cap\", \"qty\": 9}], "
	    "\"explain\": true}", "OUT_OF_STOCK", NULL);
	cr_assert(strstr(ju_gets(ju_get(e, "explain"), "summary"), "short"), "%s", ju_text_of(e));
	fx_finish();
}

Test(routing, the_cli_quotes_and_reserves_with_a_strategy)
{
	network();
	const char *path = getenv("ALLOT_CLI");
	cr_assert_not_null(path, "ALLOT_CLI is not set");
	char port[16];
	snprintf(port, sizeof(port), "%d", fx_srv->port);
	const char *argv[] = { path, "--port", port, "route.quote", "{\"order_id\": \"c-1\", \"lines\": "
	    "[{\"sku\": \"tee\", \"qty\": 1}], \"strategy\": \"nearest\", \"ship_to\": {\"lat\": 48.85, "
	    "\"lon\": 2.35}, \"explain\": true}", NULL };
	char *out = NULL, *err = NULL;
	int status = harness_run(argv, 10000, &out, &err);
	cr_assert_eq(status, 0, "allot exited %d: %s", status, err);
	cr_assert(strstr(out, "\"store-paris\""), "%s", out);
	cr_assert(strstr(out, "\"summary\""), "%s", out);
	free(out);
	free(err);
	const char *bad[] = { path, "--port", port, "reserve", "{\"order_id\": \"c-2\", \"lines\": "
	    "[{\"sku\": \"tee\", \"qty\": 1}], \"strategy\": \"nearest\"}", NULL };
	status = harness_run(bad, 10000, &out, &err);
	cr_assert_eq(status, 1, "an error reply exits 1, not %d", status);
	cr_assert(strstr(out, "ship_to") || strstr(err, "ship_to"), "%s %s", out, err);
	free(out);
	free(err);
	fx_finish();
}

Test(routing, a_channel_serves_from_its_locations_less_its_buffer)
{
	network();
	fails("channel.put", "{\"buffer\": 1}", "BAD_REQUEST", "channel");
	fails("channel.put", "{\"channel\": \"a-channel-name-longer-than-32-bytes\"}", "BAD_REQUEST", "channel");
	fails("channel.put", "{\"channel\": \"m\", \"buffer\": -1}", "BAD_REQUEST", "buffer");
	fails("channel.put", "{\"channel\": \"m\", \"locations\": [\"dc-berlin\", \"nowhere\"]}",
	    "NOT_FOUND", "locations[1]");
	fails("channel.put", "{\"channel\": \"m\", \"locations\": [\"dc-berlin\"], \"all_locations\": true}",
	    "BAD_REQUEST", "locations");
	fails("reserve", "{\"order_id\": \"o\", \"lines\": [{\"sku\": \"tee\", \"qty\": 1}], \"channel\": \"m\"}",
	    "NOT_FOUND", "channel");
	json_t *ch = ok("channel.put", "{\"channel\": \"marketplace\", \"locations\": [\"dc-hamburg\", "
	    "\"dc-berlin\"], \"buffer\": 3}");
	cr_assert_str_eq(ju_gets(ch, "channel"), "marketplace");
	cr_assert_eq(ju_geti(ch, "buffer"), 3);
	cr_assert(json_is_false(ju_get(ch, "all_locations")));
	json_t *locs = ju_get(ch, "locations"); /* in rank order */
	cr_assert_eq(json_array_size(locs), 2);
	cr_assert_str_eq(json_string_value(json_array_get(locs, 0)), "dc-berlin");
	/* avail as the channel sees it: berlin 10 - 3, hamburg 5 - 3 */
	json_t *av = ju_get(ok("avail", "{\"skus\": [\"tee\"], \"channel\": \"marketplace\"}"), "tee");
	cr_assert_eq(ju_geti(av, "total"), 9);
	cr_assert_eq(ju_geti(ju_get(av, "locations"), "dc-berlin"), 7);
	cr_assert_eq(json_object_size(ju_get(av, "locations")), 2);
	/* 8 tee: berlin offers 7, hamburg 2: both */
	json_t *r = ok("reserve", "{\"order_id\": \"o-m\", \"lines\": [{\"sku\": \"tee\", \"qty\": 8}], "
	    "\"channel\": \"marketplace\", \"explain\": true}");
	cr_assert_str_eq(plan_of(r), "tee:dc-berlin=7+dc-hamburg=1");
	json_t *l0 = json_array_get(ju_get(ju_get(r, "explain"), "locations"), 2);
	cr_assert_str_eq(ju_gets(l0, "fate"), "outside_channel", "%s", ju_text_of(l0));
	/* 10 more: the channel cannot, the web shop (all locations) can */
	fails("reserve", "{\"order_id\": \"o-m2\", \"lines\": [{\"sku\": \"tee\", \"qty\": 10}], "
	    "\"channel\": \"marketplace\"}", "OUT_OF_STOCK", NULL);
	ok("channel.put", "{\"channel\": \"web\"}");
	ok("reserve", "{\"order_id\": \"o-w\", \"lines\": [{\"sku\": \"tee\", \"qty\": 10}], \"channel\": \"web\"}");
	/* partial update: the buffer alone; then every location */
	ch = ok("channel.put", "{\"channel\": \"marketplace\", \"buffer\": 0}");
	cr_assert_eq(json_array_size(ju_get(ch, "locations")), 2);
	ch = ok("channel.put", "{\"channel\": \"marketplace\", \"all_locations\": true}");
	cr_assert(json_is_true(ju_get(ch, "all_locations")));
	cr_assert_null(json_object_get(ch, "locations"));
	cr_assert_eq(ju_geti(ch, "buffer"), 0);
	fx_finish();
}

Test(routing, purchase_limits_per_order_and_per_customer_are_limit_exceeded)
{
	network();
	fails("sku.put", "{\"per_order\": 1}", "BAD_REQUEST", "sku");
	fails("sku.put", "{\"sku\": \"tee\", \"per_order\": -1}", "BAD_REQUEST", "per_order");
	json_t *s = ok("sku.put", "{\"sku\": \"tee\", \"per_order\": 3, \"per_customer\": 4, \"low_stock\": 2}");
	cr_assert_eq(ju_geti(s, "per_order"), 3);
	cr_assert_eq(ju_geti(s, "per_customer"), 4);
	cr_assert_eq(ju_geti(s, "low_stock"), 2);
	json_t *e = fails("reserve", "{\"order_id\": \"o\", \"lines\": [{\"sku\": \"tee\", \"qty\": 4}], "
	    "\"customer_id\": \"ann\"}", "LIMIT_EXCEEDED", NULL);
	json_t *l = json_array_get(ju_get(e, "lines"), 0);
	cr_assert_str_eq(ju_gets(l, "sku"), "tee");
	cr_assert_eq(ju_geti(l, "requested"), 4);
	cr_assert_eq(ju_geti(l, "allowed"), 3);
	fails("reserve", "{\"order_id\": \"o\", \"lines\": [{\"sku\": \"tee\", \"qty\": 1}]}", "BAD_REQUEST",
	    "customer_id");
	ok("reserve", "{\"order_id\": \"o-1\", \"lines\": [{\"sku\": \"tee\", \"qty\": 3}], \"customer_id\": \"ann\"}");
	e = fails("route.quote", "{\"order_id\": \"o-2\", \"lines\": [{\"sku\": \"tee\", \"qty\": 2}], "
	    "\"customer_id\": \"ann\"}", "LIMIT_EXCEEDED", NULL);
	cr_assert_eq(ju_geti(json_array_get(ju_get(e, "lines"), 0), "allowed"), 1);
	ok("reserve", "{\"order_id\": \"o-3\", \"lines\": [{\"sku\": \"tee\", \"qty\": 1}], \"customer_id\": \"ann\"}");
	ok("reserve", "{\"order_id\": \"o-4\", \"lines\": [{\"sku\": \"tee\", \"qty\": 3}], \"customer_id\": \"bob\"}");
	/* partial update keeps the rest; 0 lifts a limit */
	s = ok("sku.put", "{\"sku\": \"tee\", \"per_order\": 0}");
	cr_assert_eq(ju_geti(s, "per_order"), 0);
	cr_assert_eq(ju_geti(s, "per_customer"), 4);
	fails("reserve", "{\"order_id\": \"o-5\", \"lines\": [{\"sku\": \"tee\", \"qty\": 1}], "
	    "\"customer_id\": \"ann\"}", "LIMIT_EXCEEDED", NULL);
	/* a sku not stocked yet can get limits */
	s = ok("sku.put", "{\"sku\": \"pre-order\", \"per_order\": 1}");
	cr_assert_str_eq(ju_gets(s, "sku"), "pre-order");
	fx_finish();
}

Test(routing, a_pre_order_is_backordered_against_inbound_stock_and_avail_lists_it)
{
	network();
	fails("inbound.add", "{\"sku\": \"tee\", \"location\": \"dc-berlin\", \"qty\": 5}", "BAD_REQUEST", "eta");
	fails("inbound.add", "{\"sku\": \"tee\", \"location\": \"dc-berlin\", \"qty\": 0, \"eta\": 1}",
	    "BAD_REQUEST", "qty");
	fails("inbound.add", "{\"sku\": \"tee\", \"location\": \"nowhere\", \"qty\": 5, \"eta\": 1}",
	    "NOT_FOUND", "nowhere");
	json_t *in = ok("inbound.add", "{\"sku\": \"hoodie\", \"location\": \"dc-munich\", \"qty\": 20, "
	    "\"eta\": 1900000000000, \"ref\": \"po-77\"}");
	cr_assert_eq(ju_geti(in, "qty"), 20);
	cr_assert_eq(ju_geti(in, "backordered"), 0);
	ok("inbound.add", "{\"sku\": \"hoodie\", \"location\": \"dc-berlin\", \"qty\": 5, \"eta\": 1800000000000}");
	/* no stock on hand: without allow_backorder it is out of stock */
	fails("reserve", "{\"order_id\": \"o\", \"lines\": [{\"sku\": \"hoodie\", \"qty\": 7}]}", "OUT_OF_STOCK", NULL);
	/* with it, held against the earliest arrival first */
	json_t *r = ok("reserve", "{\"order_id\": \"pre-1\", \"lines\": [{\"sku\": \"hoodie\", \"qty\": 7}], "
	    "\"allow_backorder\": true}");
	json_t *line = json_array_get(ju_get(r, "lines"), 0);
	cr_assert_eq(ju_geti(line, "backordered"), 7);
	cr_assert_eq(json_array_size(ju_get(line, "allocations")), 0);
	json_t *bo = ju_get(line, "backorders");
	cr_assert_eq(json_array_size(bo), 2);
	cr_assert_str_eq(ju_gets(json_array_get(bo, 0), "location"), "dc-berlin");
	cr_assert_eq(ju_geti(json_array_get(bo, 0), "qty"), 5);
	cr_assert_eq(ju_geti(json_array_get(bo, 1), "qty"), 2);
	json_t *av = ju_get(ok("avail", "{\"skus\": [\"hoodie\"]}"), "hoodie");
	cr_assert_eq(ju_geti(av, "total"), 0);
	json_t *incoming = ju_get(av, "incoming");
	cr_assert_eq(json_array_size(incoming), 2);
	cr_assert_eq(ju_geti(json_array_get(incoming, 0), "eta"), 1800000000000LL);
	cr_assert_eq(ju_geti(json_array_get(incoming, 0), "qty"), 0);
	cr_assert_eq(ju_geti(json_array_get(incoming, 1), "qty"), 18);
	cr_assert_str_eq(ju_gets(json_array_get(incoming, 1), "ref"), "po-77");
	/* releasing gives the units back to the purchase orders */
	char p[128];
	snprintf(p, sizeof(p), "{\"reservation_id\": \"%s\"}", ju_gets(r, "reservation_id"));
	ok("release", p);
	av = ju_get(ok("avail", "{\"skus\": [\"hoodie\"]}"), "hoodie");
	cr_assert_eq(ju_geti(json_array_get(ju_get(av, "incoming"), 0), "qty"), 5);
	/* on hand first, then backordered; committed and fulfilled, the
	 * backordered units ship from the purchase order */
	r = ok("reserve", "{\"order_id\": \"pre-2\", \"lines\": [{\"sku\": \"cap\", \"qty\": 10}], "
	    "\"allow_backorder\": true, \"allow_partial\": true}");
	line = json_array_get(ju_get(r, "lines"), 0);
	cr_assert_eq(ju_geti(line, "short"), 2, "%s", ju_text_of(line));
	cr_assert_null(json_object_get(line, "backordered"));
	ok("inbound.add", "{\"sku\": \"cap\", \"location\": \"dc-hamburg\", \"qty\": 3, \"eta\": 1800000000000}");
	json_t *q = ok("route.quote", "{\"order_id\": \"pre-3\", \"lines\": [{\"sku\": \"tee\", \"qty\": 40}, "
	    "{\"sku\": \"cap\", \"qty\": 2}], \"allow_backorder\": true}");
	cr_assert_eq(ju_geti(json_array_get(ju_get(q, "lines"), 1), "backordered"), 2, "%s", ju_text_of(q));
	r = ok("reserve", "{\"order_id\": \"pre-3\", \"lines\": [{\"sku\": \"cap\", \"qty\": 2}], "
	    "\"allow_backorder\": true}");
	snprintf(p, sizeof(p), "{\"reservation_id\": \"%s\"}", ju_gets(r, "reservation_id"));
	ok("commit", p);
	r = ok("fulfill", p);
	cr_assert_str_eq(ju_gets(r, "status"), "fulfilled");
	av = ju_get(ok("avail", "{\"skus\": [\"cap\"]}"), "cap");
	cr_assert_eq(ju_geti(json_array_get(ju_get(av, "incoming"), 0), "qty"), 1);
	fx_finish();
}
