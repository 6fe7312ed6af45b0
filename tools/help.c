/*
 * help.c - the help of every method (see help.h). The texts follow
 * proto/PROTOCOL.md, which has the whole story.
 */
#include "help.h"

#include <string.h>

#define COMMON_ERRORS "BAD_REQUEST, UNAUTHORIZED, FORBIDDEN, TOO_LARGE, BUSY"
#define CHANGE_ERRORS COMMON_ERRORS ", UNAVAILABLE"

#define RECORD "{sku, location, on_hand, incoming, reserved, committed, safety, available, oversold, version}"
#define RESERVATION "{reservation_id, order_id, status, expires_at, lines: [{sku, qty, allocations: [{location, qty}]}]}"
#define NAME "string, 1..64 bytes, no control characters"
#define QTY "integer, 0..2147483647"

#define RESERVE_TYPES                                                              \
	"order_id: string, 1..128 bytes\n"                                         \
	"lines: [{sku: string, qty: integer >= 1}], at most 100 (--lines-max)\n"  \
	"channel: string, 1..32 bytes (a channel.put channel)\n"                  \
	"customer_id: string, 1..128 bytes (per_customer limits)\n"               \
	"ttl_ms: integer, default 900000, at most --ttl-max-ms\n"                 \
	"ship_to: {lat, lon} (nearest, cheapest)\n"                               \
	"strategy: priority | nearest | cheapest | most_stock\n"                  \
	"split: none | lines | units\n"                                           \
	"max_shipments: integer\n"                                                \
	"allow_partial, allow_backorder, explain: bool\n"                         \
	"idempotency_key: string, 1..128 bytes"
#define RESERVE_KEYS                                                              \
	"order_id lines sku qty channel customer_id ttl_ms ship_to lat lon strategy " \
	"split max_shipments allow_partial allow_backorder explain idempotency_key"

const cli_help cli_help_table[CMD_COUNT] = {
	[CMD_PING] = {
		.summary = "check that allotd answers",
		.params = "{}", .types = "(none)", .result = "\"pong\"",
		.errors = "(none)", .example = "{}", .keys = "",
	},
	[CMD_AUTH] = {
		.summary = "authenticate the connection with a token (the CLI does it with --token)",
		.params = "{token}", .types = "token: string",
		.result = "{role, name}", .errors = "UNAUTHORIZED",
		.example = "{\"token\": \"...\"}", .keys = "token",
	},
	[CMD_STOCK_SET] = {
		.summary = "set the absolute on-hand count of a sku at a location",
		.params = "{sku, location, on_hand, safety?, if_version?}",
		.types = "sku: " NAME "\nlocation: " NAME "\non_hand: " QTY "\nsafety: " QTY
		    " (kept when not given)\nif_version: integer (0: only if new)",
		.result = RECORD, .errors = CHANGE_ERRORS ", CONFLICT",
		.example = "{\"sku\": \"tee-m\", \"location\": \"dc-berlin\", \"on_hand\": 40}",
		.keys = "sku location on_hand safety if_version",
	},
	[CMD_STOCK_ADJUST] = {
		.summary = "add to (or take from) the on-hand count",
		.params = "{sku, location, delta, reason?, idempotency_key?, if_version?}",
		.types = "sku: " NAME "\nlocation: " NAME "\ndelta: integer (negative removes)\n"
		    "reason: string, up to 256 bytes\nidempotency_key: string, 1..128 bytes\n"
		    "if_version: integer (CONFLICT, with the version, when the record is at another)",
		.result = RECORD, .errors = CHANGE_ERRORS ", CONFLICT",
		.example = "{\"sku\": \"tee-m\", \"location\": \"dc-berlin\", \"delta\": -2, \"reason\": \"damaged\"}",
		.keys = "sku location delta reason idempotency_key if_version",
	},
	[CMD_STOCK_GET] = {
		.summary = "the records of a sku, at every location or one",
		.params = "{sku, location?}", .types = "sku: " NAME "\nlocation: " NAME,
		.result = "[" RECORD ", ...] in location rank order",
		.errors = COMMON_ERRORS ", NOT_FOUND",
		.example = "{\"sku\": \"tee-m\"}", .keys = "sku location",
	},
	[CMD_STOCK_SCAN] = {
		.summary = "every record, a page at a time (allot export uses it)",
		.params = "{cursor?, count?, sku_prefix?}",
		.types = "cursor: integer, 0 (or absent) starts, then the one the last page gave\n"
		    "count: integer, 1..10000, default 1000\nsku_prefix: string, 0..64 bytes",
		.result = "{records: [" RECORD ", ...], cursor} (cursor 0: done)",
		.errors = COMMON_ERRORS,
		.example = "{\"count\": 100, \"sku_prefix\": \"tee-\"}", .keys = "cursor count sku_prefix",
	},
	[CMD_AVAIL] = {
		.summary = "available units of skus, in total and per location",
		.params = "{skus, channel?, location?, at?}",
		.types = "skus: [string], at most 1000 (--avail-skus-max)\nchannel: string, 1..32 bytes\n"
		    "location: " NAME "\nat: integer, ms since the epoch (what can be promised then, inbound included)",
		.result = "{sku: {total, locations: {location: n}, incoming: [{location, qty, eta, backordered}]}}",
		.errors = COMMON_ERRORS ", NOT_FOUND (channel)",
		.example = "{\"skus\": [\"tee-m\", \"tee-l\"]}", .keys = "skus channel location",
	},
	[CMD_RESTOCK] = {
		.summary = "put returned units back on hand",
		.params = "{sku, location, qty, reason?}",
		.types = "sku: " NAME "\nlocation: " NAME "\nqty: integer >= 1\nreason: string, up to 256 bytes",
		.result = RECORD, .errors = CHANGE_ERRORS,
		.example = "{\"sku\": \"tee-m\", \"location\": \"dc-berlin\", \"qty\": 1, \"reason\": \"return\"}",
		.keys = "sku location qty reason",
	},
	[CMD_RESERVE] = {
		.summary = "hold units for an order, all or nothing unless allow_partial",
		.params = "{order_id, lines, channel?, customer_id?, ttl_ms?, ship_to?, strategy?, split?, "
		    "max_shipments?, allow_partial?, allow_backorder?, explain?, idempotency_key?}",
		.types = RESERVE_TYPES, .result = RESERVATION,
		.errors = CHANGE_ERRORS ", OUT_OF_STOCK (with lines: [{sku, requested, available}]), "
		    "LIMIT_EXCEEDED, CONFLICT, NOT_FOUND (channel)",
		.example = "{\"order_id\": \"o-1\", \"lines\": [{\"sku\": \"tee-m\", \"qty\": 2}]}",
		.keys = RESERVE_KEYS,
	},
	[CMD_COMMIT] = {
		.summary = "payment captured: the hold no longer expires",
		.params = "{reservation_id}", .types = "reservation_id: string (r-...)",
		.result = RESERVATION, .errors = CHANGE_ERRORS ", NOT_FOUND, INVALID_STATE",
		.example = "{\"reservation_id\": \"r-0000000100000001\"}", .keys = "reservation_id",
	},
	[CMD_RELEASE] = {
		.summary = "give units back, all or some lines",
		.params = "{reservation_id, lines?}",
		.types = "reservation_id: string\nlines: [{sku, qty}]",
		.result = RESERVATION, .errors = CHANGE_ERRORS ", NOT_FOUND, INVALID_STATE",
		.example = "{\"reservation_id\": \"r-0000000100000001\"}", .keys = "reservation_id lines sku qty",
	},
	[CMD_FULFILL] = {
		.summary = "shipped: committed units leave on_hand",
		.params = "{reservation_id, lines?}",
		.types = "reservation_id: string\nlines: [{sku, qty}]",
		.result = RESERVATION, .errors = CHANGE_ERRORS ", NOT_FOUND, INVALID_STATE",
		.example = "{\"reservation_id\": \"r-0000000100000001\"}", .keys = "reservation_id lines sku qty",
	},
	[CMD_EXTEND] = {
		.summary = "move a held reservation's deadline",
		.params = "{reservation_id, ttl_ms}",
		.types = "reservation_id: string\nttl_ms: integer, from now, at most --ttl-max-ms",
		.result = RESERVATION, .errors = CHANGE_ERRORS ", NOT_FOUND, INVALID_STATE",
		.example = "{\"reservation_id\": \"r-0000000100000001\", \"ttl_ms\": 600000}",
		.keys = "reservation_id ttl_ms",
	},
	[CMD_RESERVATION_GET] = {
		.summary = "a reservation as it is now",
		.params = "{reservation_id}", .types = "reservation_id: string",
		.result = RESERVATION, .errors = COMMON_ERRORS ", NOT_FOUND",
		.example = "{\"reservation_id\": \"r-0000000100000001\"}", .keys = "reservation_id",
	},
	[CMD_LOCATION_PUT] = {
		.summary = "create or change a location's routing attributes",
		.params = "{location, lat?, lon?, priority?, cost?, cost_per_km?, capacity?, enabled?, tags?}",
		.types = "location: " NAME "\nlat, lon: number (together)\npriority: integer (lower first)\n"
		    "cost, cost_per_km: number >= 0\ncapacity: integer (open shipments)\n"
		    "enabled: bool\ntags: [string], at most 16",
		.result = "{location, lat?, lon?, priority, cost, cost_per_km, capacity?, enabled, tags, open_shipments}",
		.errors = CHANGE_ERRORS,
		.example = "{\"location\": \"dc-berlin\", \"lat\": 52.52, \"lon\": 13.405, \"priority\": 1}",
		.keys = "location lat lon priority cost cost_per_km capacity enabled tags",
	},
	[CMD_LOCATION_LIST] = {
		.summary = "every location in rank order",
		.params = "{}", .types = "(none)", .result = "[location, ...]",
		.errors = COMMON_ERRORS, .example = "{}", .keys = "",
	},
	[CMD_ROUTE_QUOTE] = {
		.summary = "the plan reserve would make now, holding nothing",
		.params = "reserve's", .types = RESERVE_TYPES,
		.result = "{order_id, shipments, lines: [{sku, qty, allocations, short?}], explain?}",
		.errors = COMMON_ERRORS ", OUT_OF_STOCK, LIMIT_EXCEEDED, NOT_FOUND (channel)",
		.example = "{\"order_id\": \"q-1\", \"lines\": [{\"sku\": \"tee-m\", \"qty\": 1}], \"explain\": true}",
		.keys = RESERVE_KEYS,
	},
	[CMD_CHANNEL_PUT] = {
		.summary = "create or change a sales channel: its locations and buffer",
		.params = "{channel, locations?, all_locations?, buffer?}",
		.types = "channel: string, 1..32 bytes\nlocations: [string]\nall_locations: bool\nbuffer: " QTY,
		.result = "{channel, buffer, all_locations, locations?}",
		.errors = CHANGE_ERRORS ", NOT_FOUND (a location)",
		.example = "{\"channel\": \"marketplace\", \"locations\": [\"dc-berlin\"], \"buffer\": 3}",
		.keys = "channel locations all_locations buffer",
	},
	[CMD_SKU_PUT] = {
		.summary = "a sku's purchase limits and low-stock threshold",
		.params = "{sku, per_order?, per_customer?, low_stock?}",
		.types = "sku: " NAME "\nper_order, per_customer, low_stock: " QTY " (0: none)",
		.result = "{sku, per_order, per_customer, low_stock}", .errors = CHANGE_ERRORS,
		.example = "{\"sku\": \"tee-m\", \"per_order\": 5}",
		.keys = "sku per_order per_customer low_stock",
	},
	[CMD_INBOUND_ADD] = {
		.summary = "units expected at a location, for backorders and pre-orders",
		.params = "{sku, location, qty, eta, ref?}",
		.types = "sku: " NAME "\nlocation: " NAME "\nqty: integer >= 1\neta: integer, ms since the epoch\n"
		    "ref: string, up to 64 bytes",
		.result = "\"ok\"", .errors = CHANGE_ERRORS,
		.example = "{\"sku\": \"tee-m\", \"location\": \"dc-berlin\", \"qty\": 20, \"eta\": 1900000000000}",
		.keys = "sku location qty eta ref",
	},
	[CMD_INBOUND_RECEIVE] = {
		.summary = "units arrived: they join on_hand and fill the backorders waiting there, earliest first",
		.params = "{sku, location, qty, ref?}",
		.types = "sku: " NAME "\nlocation: " NAME "\nqty: integer >= 1\nref: string, up to 64 bytes "
		    "(only that inbound entry's units)",
		.result = "{record: " RECORD ", filled: [{reservation_id, qty}]}",
		.errors = CHANGE_ERRORS ", NOT_FOUND",
		.example = "{\"sku\": \"tee-m\", \"location\": \"dc-berlin\", \"qty\": 20}",
		.keys = "sku location qty ref",
	},
	[CMD_INBOUND_LIST] = {
		.summary = "the units expected, by sku and eta",
		.params = "{sku?}", .types = "sku: " NAME,
		.result = "[{sku, location, qty, eta, ref?, backordered}]",
		.errors = COMMON_ERRORS,
		.example = "{\"sku\": \"tee-m\"}", .keys = "sku",
	},
	[CMD_SUBSCRIBE] = {
		.summary = "receive events on this connection (allot watch prints them)",
		.params = "{topics, skus?}",
		.types = "topics: [stock | low_stock | out_of_stock | back_in_stock | reservation]\n"
		    "skus: [string] (only their events)",
		.result = "{topics}", .errors = COMMON_ERRORS,
		.example = "{\"topics\": [\"stock\", \"out_of_stock\"], \"skus\": [\"tee-m\"]}",
		.keys = "topics skus",
	},
	[CMD_UNSUBSCRIBE] = {
		.summary = "stop receiving events on this connection",
		.params = "{}", .types = "(none)", .result = "{topics: []}", .errors = COMMON_ERRORS,
		.example = "{}", .keys = "",
	},
	[CMD_STATS] = {
		.summary = "counters: connections, requests, reservations, memory, durability",
		.params = "{}", .types = "(none)", .result = "{...}", .errors = COMMON_ERRORS,
		.example = "{}", .keys = "",
	},
	[CMD_SNAPSHOT] = {
		.summary = "take a snapshot now; answers once it is durable (needs --redis)",
		.params = "{}", .types = "(none)", .result = "{lsn, taken_at, bytes, chunks, duration_ms}",
		.errors = CHANGE_ERRORS, .example = "{}", .keys = "",
	},
};

const cmd_def *cli_help_lookup(const char *method)
{
	return cmd_lookup(method, (uint32_t)strlen(method));
}

void cli_help_list(FILE *out)
{
	fprintf(out, "Methods (allot help METHOD for one):\n\n");
	for (int i = 0; i < CMD_COUNT; i++) {
		const char *summary = cli_help_table[i].summary;
		fprintf(out, "  %-16s %s\n", cmd_table[i].name, summary ? summary : "");
	}
	fprintf(out, "\nCall one with: allot METHOD '{JSON params}'\n"
	    "Commands: allot import FILE.csv, allot export, allot token new, allot snapshot dump\n");
}

/* Print text with every line indented. */
static void print_indented(FILE *out, const char *text)
{
	const char *p = text;
	while (*p) {
		size_t n = strcspn(p, "\n");
		fprintf(out, "    %.*s\n", (int)n, p);
		p += n + (p[n] == '\n');
	}
}

int cli_help_method(FILE *out, const char *method)
{
	const cmd_def *cmd = cli_help_lookup(method);
	if (cmd == NULL)
		return -1;
	static const char *const roles[] = { "anyone", "read", "checkout", "admin" };
	const cli_help *h = &cli_help_table[cmd->id];
	if (h->summary == NULL) {
		/* The unit test 'cli_help' fails first; this is for a build
		 * that skipped it. */
		fprintf(out, "%s: no help yet; see proto/PROTOCOL.md\n", cmd->name);
		return 0;
	}
	fprintf(out, "%s - %s\n\n", cmd->name, h->summary);
	fprintf(out, "  params: %s\n", h->params);
	print_indented(out, h->types);
	fprintf(out, "  result: %s\n", h->result);
	fprintf(out, "  errors: %s\n", h->errors);
	fprintf(out, "  role:   %s\n", roles[cmd->role]);
	fprintf(out, "  example:\n    allot %s '%s'\n", cmd->name, h->example);
	return 0;
}
