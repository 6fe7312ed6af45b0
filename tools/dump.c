/*
 * dump.c - allot snapshot dump (see dump.h).
 *
 *   allot snapshot dump --redis URL [--namespace NS]
 *
 * reads a durable engine's state from Redis (the key layout is in
 * proto/durable.h) and prints it as JSON lines: the current snapshot's
 * header and items, then every journal record after it. Exit status: 0;
 * 1 with a message on stderr when Redis fails or holds data that does not
 * decode; 2 for a usage error.
 */
#include "dump.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "durable.h"
#include "journal.h"
#include "snapshot.h"
#include "store.h"

#define DUMP_CONNECT_TIMEOUT_MS 5000
#define DUMP_REPLY_TIMEOUT_MS 30000
#define DUMP_DEFAULT_NAMESPACE "default"
/* The widest any engine may be configured: a dump reads whatever an
 * engine wrote. */
#define DUMP_LINES_MAX UINT16_MAX
#define DUMP_LOCATIONS_MAX (UINT16_MAX - 1)

typedef struct dump_opts {
	const char *redis_url;
	const char *ns;
	bool help;
} dump_opts;

static void dump_usage(FILE *out)
{
	fprintf(out,
	    "usage: allot snapshot dump --redis URL [--namespace NS]\n"
	    "\n"
	    "Read a durable engine's state from Redis and print it as JSON, one\n"
	    "object per line: the current snapshot's header (type \"snapshot\"),\n"
	    "its items (types \"location\", \"record\", \"reservation\",\n"
	    "\"idempotency_key\"), then each journal record after it, with its\n"
	    "lsn, its type named as the method (\"reserve\", ...; \"sweep\") and\n"
	    "who made it (the caller's token NAME, \"-\" without tokens).\n"
	    "Without a snapshot, the whole journal.\n"
	    "\n"
	    "  --redis URL       redis://[:password@]host[:port][/db]\n"
	    "  --namespace NS    the engine's namespace (default \"%s\")\n"
	    "  -h, --help        show this help\n"
	    "\n"
	    "Exit status: 0 printed; 1 Redis failed or holds data that does not\n"
	    "decode (a message on stderr); 2 usage.\n",
	    DUMP_DEFAULT_NAMESPACE);
}

/* Options of "snapshot dump", from argv[0] == "dump". */
static int dump_parse_args(int argc, char **argv, dump_opts *o)
{
	static const struct option longopts[] = {
		{ "redis", required_argument, NULL, 'r' },
		{ "namespace", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static char prog[] = "allot snapshot dump"; /* for getopt_long's messages */
	*o = (dump_opts){ .ns = DUMP_DEFAULT_NAMESPACE };
	argv[0] = prog;
	optind = 0; /* start over on the new argv (glibc) */
	int ch;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'r': o->redis_url = optarg; break;
		case 'n': o->ns = optarg; break;
		case 'h': o->help = true; return 0;
		default: return -1; /* getopt_long already said why */
		}
	}
	if (optind < argc) {
		fprintf(stderr, "allot: snapshot dump: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (o->redis_url == NULL) {
		fprintf(stderr, "allot: snapshot dump needs --redis URL\n");
		return -1;
	}
	if (!durable_namespace_valid(o->ns)) {
		fprintf(stderr, "allot: --namespace must be 1 to %d of A-Z a-z 0-9 _ . -\n",
		    DURABLE_NAMESPACE_MAX);
		return -1;
	}
	return 0;
}

/* A dump in progress: what later items refer back to. It owns the
 * arrays. */
typedef struct cli_dump {
	const char *key;                      /* the snapshot's */
	char (*loc_names)[CORE_NAME_MAX + 1]; /* by location id, from location items */
	uint32_t nlocs;
	uint32_t id_epoch;                    /* the snapshot's */
	uint64_t lsn;                         /* the snapshot's; 0 without one */
} cli_dump;

__attribute__((format(printf, 1, 2)))
static int dump_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("allot: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return DUMP_EXIT_DATA;
}

/* A JSON string of bytes that may not be UTF-8 (names are any bytes but
 * control characters): bytes that do not decode become '?'. */
static json_t *json_bytes(const char *p, size_t n)
{
	json_t *v = json_stringn(p, n);
	if (v != NULL || n == 0)
		return v;
	char *ascii = malloc(n);
	if (ascii == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		ascii[i] = (unsigned char)p[i] < 0x80 && p[i] != 0 ? p[i] : '?';
	v = json_stringn(ascii, n);
	free(ascii);
	return v;
}

static json_t *json_str(core_str s)
{
	return json_bytes(s.p, s.len);
}

/* Unsigned 64-bit values beyond JSON's exact integers become strings. */
static json_t *json_u64(uint64_t v)
{
	if (v <= INT64_MAX)
		return json_integer((json_int_t)v);
	char text[24];
	snprintf(text, sizeof(text), "%" PRIu64, v);
	return json_string(text);
}

static json_t *json_hex64(uint64_t v)
{
	char text[17];
	snprintf(text, sizeof(text), "%016" PRIx64, v);
	return json_string(text);
}

static json_t *json_resv_id(const cli_dump *d, uint64_t seq)
{
	char text[CORE_RESERVATION_ID_LEN + 1];
	snprintf(text, sizeof(text), "r-%016" PRIx64, ((uint64_t)d->id_epoch << 32) + seq);
	return json_string(text);
}

/* Set key to v; a NULL v (an optional field not given) sets nothing. */
static void json_put(json_t *o, const char *key, json_t *v)
{
	if (v != NULL)
		json_object_set_new(o, key, v);
}

/* A location by id: its name, or the id when no location item named it. */
static void json_put_location(json_t *o, const cli_dump *d, uint64_t id)
{
	if (id < d->nlocs && d->loc_names[id][0] != '\0')
		json_put(o, "location", json_bytes(d->loc_names[id], strlen(d->loc_names[id])));
	else
		json_put(o, "location_id", json_u64(id));
}

/* Print o as one line on stdout and release it. */
static int dump_print(json_t *o)
{
	int rc = 0;
	if (o == NULL || json_dumpf(o, stdout, JSON_COMPACT) != 0 || fputc('\n', stdout) == EOF)
		rc = dump_fail("cannot write the dump: %s", o ? strerror(errno) : "out of memory");
	json_decref(o);
	return rc;
}

static int dump_header(cli_dump *d, const snapshot_item *it, const char *key)
{
	const core_snap_header *h = &it->header;
	d->id_epoch = h->id_epoch;
	d->lsn = it->lsn;
	json_t *o = json_object();
	json_put(o, "type", json_string("snapshot"));
	json_put(o, "key", json_string(key));
	json_put(o, "format", json_integer(SNAPSHOT_FORMAT));
	json_put(o, "lsn", json_u64(it->lsn));
	json_put(o, "now_ms", json_integer(h->now_ms));
	json_put(o, "hash_seed", json_hex64(h->hash_seed));
	json_put(o, "id_epoch", json_integer(h->id_epoch));
	json_put(o, "next_seq", json_u64(h->next_seq));
	json_put(o, "expired_total", json_u64(h->expired_total));
	json_put(o, "locations", json_u64(h->locations));
	json_put(o, "skus", json_u64(h->skus));
	json_put(o, "records", json_u64(h->records));
	json_put(o, "reservations", json_u64(h->reservations));
	json_put(o, "idempotency_keys", json_u64(h->keys));
	return dump_print(o);
}

static int dump_location(cli_dump *d, const core_snap_location *v)
{
	/* Ids go 0, 1, 2, ... (core_restore_item() insists; a dump shows
	 * what is there); names are kept for the items that refer to them. */
	if (v->id == d->nlocs && d->nlocs < UINT16_MAX) {
		char (*names)[CORE_NAME_MAX + 1] = realloc(d->loc_names,
		    (d->nlocs + 1) * sizeof(*names));
		if (names == NULL)
			return dump_fail("out of memory");
		d->loc_names = names;
		size_t n = v->name.len < CORE_NAME_MAX ? v->name.len : CORE_NAME_MAX;
		memcpy(names[d->nlocs], v->name.p, n);
		names[d->nlocs][n] = '\0';
		d->nlocs++;
	}
	json_t *o = json_object();
	json_put(o, "type", json_string("location"));
	json_put(o, "id", json_u64(v->id));
	json_put(o, "name", json_str(v->name));
	json_put(o, "priority", json_integer(v->priority));
	if (v->has_coords) {
		json_put(o, "lat", json_real(v->lat));
		json_put(o, "lon", json_real(v->lon));
	}
	json_put(o, "cost", json_real(v->cost));
	json_put(o, "cost_per_km", json_real(v->cost_per_km));
	json_put(o, "capacity", v->capacity >= 0 ? json_integer(v->capacity) : NULL);
	json_put(o, "enabled", json_boolean(v->enabled));
	json_t *tags = json_array();
	for (uint32_t i = 0; i < v->ntags; i++)
		json_array_append_new(tags, json_str(v->tags[i]));
	json_put(o, "tags", tags);
	return dump_print(o);
}

static int dump_channel(const cli_dump *d, const core_snap_channel *v)
{
	json_t *o = json_object();
	json_put(o, "type", json_string("channel"));
	json_put(o, "channel", json_str(v->name));
	json_put(o, "buffer", json_integer(v->buffer));
	json_put(o, "all_locations", json_boolean(v->all_locations));
	json_t *locs = json_array();
	for (uint32_t i = 0; i < v->nlocations; i++) {
		uint64_t id = v->locations[i];
		json_array_append_new(locs, id < d->nlocs ? json_string(d->loc_names[id]) : json_u64(id));
	}
	json_put(o, "locations", locs);
	return dump_print(o);
}

/* A sku item is a line per record, after a line for its policy if any. */
static int dump_sku(const cli_dump *d, const core_snap_sku *v)
{
	for (uint32_t i = 0; i < v->ninbound; i++) {
		const core_snap_inbound *in = &v->inbound[i];
		json_t *o = json_object();
		json_put(o, "type", json_string("inbound"));
		json_put(o, "sku", json_str(v->name));
		json_put_location(o, d, in->location);
		json_put(o, "qty", json_integer(in->qty));
		json_put(o, "eta", json_integer(in->eta_ms));
		json_put(o, "ref", in->ref.p ? json_str(in->ref) : NULL);
		json_put(o, "backordered", json_integer(in->backordered));
		if (dump_print(o) != 0)
			return DUMP_EXIT_DATA;
	}
	if (v->per_order || v->per_customer || v->low_stock) {
		json_t *o = json_object();
		json_put(o, "type", json_string("sku"));
		json_put(o, "sku", json_str(v->name));
		json_put(o, "per_order", json_integer(v->per_order));
		json_put(o, "per_customer", json_integer(v->per_customer));
		json_put(o, "low_stock", json_integer(v->low_stock));
		if (dump_print(o) != 0)
			return DUMP_EXIT_DATA;
	}
	for (uint32_t i = 0; i < v->nrecs; i++) {
		const core_snap_record *r = &v->recs[i];
		json_t *o = json_object();
		json_put(o, "type", json_string("record"));
		json_put(o, "sku", json_str(v->name));
		json_put_location(o, d, r->location);
		json_put(o, "on_hand", json_integer(r->on_hand));
		json_put(o, "reserved", json_integer(r->reserved));
		json_put(o, "committed", json_integer(r->committed));
		json_put(o, "safety", json_integer(r->safety));
		json_put(o, "version", json_u64(r->version));
		if (dump_print(o) != 0)
			return DUMP_EXIT_DATA;
	}
	return 0;
}

static int dump_resv(const cli_dump *d, const core_snap_resv *v)
{
	json_t *o = json_object();
	json_put(o, "type", json_string("reservation"));
	json_put(o, "reservation_id", json_resv_id(d, v->seq));
	json_put(o, "seq", json_u64(v->seq));
	json_put(o, "order_id", json_str(v->order_id));
	json_put(o, "customer_id", v->customer_id.p ? json_str(v->customer_id) : NULL);
	json_put(o, "status", v->status <= CORE_RESV_EXPIRED
	    ? json_string(core_resv_status_name((core_resv_status)v->status)) : json_u64(v->status));
	json_put(o, "expires_at_ms", json_integer(v->expires_at_ms));
	json_put(o, "orig_expires_at_ms", json_integer(v->orig_expires_at_ms));
	json_put(o, "finished_at_ms", json_integer(v->finished_at_ms));
	json_t *lines = json_array();
	for (uint32_t i = 0; i < v->nlines; i++) {
		const core_snap_line *l = &v->lines[i];
		json_t *line = json_object();
		json_put(line, "sku", json_str(l->sku));
		json_put(line, "sku_known", json_boolean(l->sku_known));
		json_put(line, "qty", json_integer(l->qty));
		json_put(line, "released", json_integer(l->released));
		json_put(line, "fulfilled", json_integer(l->fulfilled));
		json_t *allocs = json_array();
		for (uint32_t j = 0; j < l->nallocs; j++) {
			json_t *a = json_object();
			json_put_location(a, d, l->allocs[j].location);
			json_put(a, "qty", json_integer(l->allocs[j].qty));
			json_put(a, "orig", json_integer(l->allocs[j].orig));
			json_array_append_new(allocs, a);
		}
		json_put(line, "allocations", allocs);
		if (l->nbackorders) {
			json_t *bos = json_array();
			for (uint32_t j = 0; j < l->nbackorders; j++) {
				json_t *a = json_object();
				json_put_location(a, d, l->backorders[j].location);
				json_put(a, "qty", json_integer(l->backorders[j].qty));
				json_put(a, "orig", json_integer(l->backorders[j].orig));
				json_array_append_new(bos, a);
			}
			json_put(line, "backorders", bos);
		}
		json_array_append_new(lines, line);
	}
	json_put(o, "lines", lines);
	return dump_print(o);
}

static int dump_key(const cli_dump *d, const core_snap_key *v)
{
	bool reserve = v->method == CORE_SNAP_KEY_RESERVE;
	json_t *o = json_object();
	json_put(o, "type", json_string("idempotency_key"));
	json_put(o, "method", json_string(reserve ? "reserve" : "stock.adjust"));
	json_put(o, "key", json_str(v->key));
	json_put(o, "params_hash", json_hex64(v->params_hash));
	json_put(o, "created_ms", json_integer(v->created_ms));
	if (reserve) {
		json_put(o, "reservation_id", json_resv_id(d, v->resv_seq));
	} else {
		const core_record_view *w = &v->reply;
		json_t *reply = json_object();
		json_put(reply, "sku", json_str(w->sku));
		json_put(reply, "location", json_str(w->location));
		json_put(reply, "on_hand", json_integer(w->on_hand));
		json_put(reply, "reserved", json_integer(w->reserved));
		json_put(reply, "committed", json_integer(w->committed));
		json_put(reply, "safety", json_integer(w->safety));
		json_put(reply, "version", json_u64(w->version));
		json_put(o, "reply", reply);
	}
	return dump_print(o);
}

static int dump_item(cli_dump *d, const snapshot_item *it, const char *key)
{
	if (it->kind == SNAPSHOT_ITEM_HEADER)
		return dump_header(d, it, key);
	if (it->kind == SNAPSHOT_ITEM_END)
		return 0; /* framing: the reader checked its count */
	switch (it->core.kind) {
	case CORE_SNAP_LOCATION: return dump_location(d, &it->core.u.location);
	case CORE_SNAP_SKU: return dump_sku(d, &it->core.u.sku);
	case CORE_SNAP_RESERVATION: return dump_resv(d, &it->core.u.resv);
	case CORE_SNAP_KEY: return dump_key(d, &it->core.u.key);
	case CORE_SNAP_CHANNEL: return dump_channel(d, &it->core.u.channel);
	}
	return 0;
}

static const char *dump_split_name(core_split s)
{
	switch (s) {
	case CORE_SPLIT_UNITS: return "units";
	case CORE_SPLIT_LINES: return "lines";
	case CORE_SPLIT_NONE: return "none";
	}
	return "unknown";
}

/* Lines as [{sku, qty}], or nothing for "the whole reservation". */
static json_t *json_lines(const core_line_req *lines, uint32_t n)
{
	if (lines == NULL)
		return NULL;
	json_t *a = json_array();
	for (uint32_t i = 0; i < n; i++) {
		json_t *l = json_object();
		json_put(l, "sku", json_str(lines[i].sku));
		json_put(l, "qty", json_integer(lines[i].qty));
		json_array_append_new(a, l);
	}
	return a;
}

/* An optional string: nothing when not given. */
static json_t *json_opt(core_str s)
{
	return s.p ? json_str(s) : NULL;
}

static void dump_location_cmd(json_t *o, const core_location_cmd *l)
{
	json_put(o, "location", json_opt(l->location));
	if (l->has_coords) {
		json_put(o, "lat", json_real(l->lat));
		json_put(o, "lon", json_real(l->lon));
	}
	json_put(o, "priority", l->has_priority ? json_integer(l->priority) : NULL);
	json_put(o, "cost", l->has_cost ? json_real(l->cost) : NULL);
	json_put(o, "cost_per_km", l->has_cost_per_km ? json_real(l->cost_per_km) : NULL);
	json_put(o, "capacity", l->capacity >= 0 ? json_integer(l->capacity) : NULL);
	json_put(o, "enabled", l->enabled >= 0 ? json_boolean(l->enabled == 1) : NULL);
	if (l->has_tags) {
		json_t *tags = json_array();
		for (uint32_t i = 0; i < l->ntags; i++)
			json_array_append_new(tags, json_str(l->tags[i]));
		json_put(o, "tags", tags);
	}
}

static void dump_stock_cmd(json_t *o, const journal_entry *e)
{
	const core_stock_cmd *s = &e->cmd.u.stock;
	json_put(o, "sku", json_opt(s->sku));
	json_put(o, "location", json_opt(s->location));
	if (e->kind == JOURNAL_KIND_STOCK_SET) {
		json_put(o, "on_hand", json_integer(s->on_hand));
		json_put(o, "safety", s->safety != -1 ? json_integer(s->safety) : NULL);
		json_put(o, "if_version", s->if_version != -1 ? json_integer(s->if_version) : NULL);
		return;
	}
	json_put(o, e->kind == JOURNAL_KIND_RESTOCK ? "qty" : "delta", json_integer(s->delta));
	json_put(o, "reason", json_opt(s->reason));
	json_put(o, "idempotency_key", json_opt(s->idempotency_key));
	if (e->kind == JOURNAL_KIND_STOCK_ADJUST && s->if_version != -1)
		json_put(o, "if_version", json_integer(s->if_version));
}

static void dump_reserve_cmd(json_t *o, const core_reserve_cmd *r)
{
	json_put(o, "order_id", json_opt(r->order_id));
	json_put(o, "lines", json_lines(r->lines, r->nlines));
	json_put(o, "channel", json_opt(r->channel));
	json_put(o, "customer_id", json_opt(r->customer_id));
	json_put(o, "ttl_ms", r->ttl_ms != -1 ? json_integer(r->ttl_ms) : NULL);
	json_put(o, "strategy", json_string(core_strategy_name(r->strategy)));
	json_put(o, "split", json_string(dump_split_name(r->split)));
	if (r->has_ship_to) {
		json_t *to = json_object();
		json_put(to, "lat", json_real(r->ship_lat));
		json_put(to, "lon", json_real(r->ship_lon));
		json_put(o, "ship_to", to);
	}
	json_put(o, "allow_backorder", json_boolean(r->allow_backorder));
	json_put(o, "max_shipments", json_integer(r->max_shipments));
	json_put(o, "allow_partial", json_boolean(r->allow_partial));
	json_put(o, "idempotency_key", json_opt(r->idempotency_key));
}

static void dump_channel_cmd(json_t *o, const core_channel_cmd *ch)
{
	json_put(o, "channel", json_opt(ch->channel));
	if (ch->has_locations) {
		json_t *locs = json_array();
		for (uint32_t i = 0; i < ch->nlocations; i++)
			json_array_append_new(locs, json_str(ch->locations[i]));
		json_put(o, "locations", locs);
	}
	json_put(o, "buffer", ch->buffer >= 0 ? json_integer(ch->buffer) : NULL);
	json_put(o, "all_locations", ch->all_locations ? json_true() : NULL);
}

/* inbound.add, or (no eta) inbound.receive. */
static void dump_inbound_cmd(json_t *o, const core_inbound_cmd *in, bool eta)
{
	json_put(o, "sku", json_opt(in->sku));
	json_put(o, "location", json_opt(in->location));
	json_put(o, "qty", json_integer(in->qty));
	if (eta)
		json_put(o, "eta", json_integer(in->eta_ms));
	json_put(o, "ref", json_opt(in->ref));
}

static void dump_sku_cmd(json_t *o, const core_sku_cmd *s)
{
	json_put(o, "sku", json_opt(s->sku));
	json_put(o, "per_order", s->per_order >= 0 ? json_integer(s->per_order) : NULL);
	json_put(o, "per_customer", s->per_customer >= 0 ? json_integer(s->per_customer) : NULL);
	json_put(o, "low_stock", s->low_stock >= 0 ? json_integer(s->low_stock) : NULL);
}

static void dump_resv_cmd(json_t *o, const journal_entry *e)
{
	const core_resv_cmd *v = &e->cmd.u.resv;
	json_put(o, "reservation_id", json_opt(v->reservation_id));
	if (e->kind == JOURNAL_KIND_EXTEND)
		json_put(o, "ttl_ms", json_integer(v->ttl_ms));
	else if (e->kind != JOURNAL_KIND_COMMIT)
		json_put(o, "lines", json_lines(v->lines, v->nlines));
}

/* One journal record with named fields; what was not given is left out. */
static int dump_record(uint64_t lsn, const journal_entry *e)
{
	const char *name = journal_kind_name(e->kind);
	json_t *o = json_object();
	json_put(o, "lsn", json_u64(lsn));
	json_put(o, "type", json_string(name ? name : "unknown"));
	json_put(o, "now_ms", json_integer(e->now_ms));
	/* Who made the change: a token NAME, "-" without tokens; records of
	 * durable format 1 and sweeps name nobody. */
	if (e->who.p)
		json_put(o, "who", json_bytes(e->who.p, e->who.len));
	switch (e->kind) {
	case JOURNAL_KIND_SWEEP:
		json_put(o, "reservations_forgotten", json_integer(e->forgot_reservations));
		json_put(o, "keys_forgotten", json_integer(e->forgot_keys));
		break;
	case JOURNAL_KIND_STOCK_SET:
	case JOURNAL_KIND_STOCK_ADJUST:
	case JOURNAL_KIND_RESTOCK:
		dump_stock_cmd(o, e);
		break;
	case JOURNAL_KIND_RESERVE:
		dump_reserve_cmd(o, &e->cmd.u.reserve);
		break;
	case JOURNAL_KIND_LOCATION_PUT:
		dump_location_cmd(o, &e->cmd.u.location);
		break;
	case JOURNAL_KIND_CHANNEL_PUT:
		dump_channel_cmd(o, &e->cmd.u.channel);
		break;
	case JOURNAL_KIND_INBOUND_ADD:
	case JOURNAL_KIND_INBOUND_RECEIVE:
		dump_inbound_cmd(o, &e->cmd.u.inbound, e->kind == JOURNAL_KIND_INBOUND_ADD);
		break;
	case JOURNAL_KIND_SKU_PUT:
		dump_sku_cmd(o, &e->cmd.u.sku);
		break;
	case JOURNAL_KIND_COMMIT:
	case JOURNAL_KIND_RELEASE:
	case JOURNAL_KIND_FULFILL:
	case JOURNAL_KIND_EXTEND:
		dump_resv_cmd(o, e);
		break;
	}
	return dump_print(o);
}

/* ---- reading through the store ------------------------------------------- */

/* The store's callbacks: a failure was printed already, so why stays "". */
static int on_item(void *ctx, const snapshot_item *it, char *why, size_t why_len)
{
	cli_dump *d = ctx;
	return dump_item(d, it, d->key) == 0 ? 0 : (why[0] = '\0', -1);
}

static int on_record(void *ctx, uint64_t lsn, const journal_entry *e, char *why, size_t why_len)
{
	return dump_record(lsn, e) == 0 ? 0 : (why[0] = '\0', -1);
}

/* The meta hash names the snapshot; the journal follows. */
static int dump_namespace(store *s, cli_dump *d, char *why, size_t why_len)
{
	store_meta m;
	if (store_read_meta(s, &m, why, why_len) != 0)
		return -1;
	d->key = m.snapshot_key;
	if (m.snapshot_key[0]) {
		core_config limits;
		core_config_default(&limits);
		limits.locations_max = DUMP_LOCATIONS_MAX;
		limits.lines_max = DUMP_LINES_MAX;
		if (store_read_snapshot(s, m.snapshot_key, &limits, on_item, d, why, why_len) != 0)
			return -1;
	}
	/* A record holds at most lines_max lines of two values and short
	 * strings; the engine's own limits are no wider. */
	mp_limits lim = { .frame_bytes_max = 16u << 20, .depth_max = 4,
		.array_max = 2 * DUMP_LINES_MAX + 16, .map_max = 0, .str_max = 4096 };
	journal_scratch scratch = { malloc(DUMP_LINES_MAX * sizeof(core_line_req)), DUMP_LINES_MAX,
		malloc(DUMP_LOCATIONS_MAX * sizeof(core_str)), DUMP_LOCATIONS_MAX };
	int rc = -1;
	uint64_t last = 0;
	if (scratch.lines == NULL || scratch.names == NULL)
		snprintf(why, why_len, "out of memory");
	else
		rc = store_read_journal(s, d->lsn, &lim, &scratch, on_record, d, &last, why, why_len);
	free(scratch.lines);
	free(scratch.names);
	return rc;
}

static int dump_run(const dump_opts *o)
{
	durable_url url;
	const char *bad = NULL;
	if (durable_url_parse(o->redis_url, &url, &bad) != 0) {
		fprintf(stderr, "allot: --redis: %s\n", bad);
		return DUMP_EXIT_USAGE;
	}
	char why[600] = "";
	store *s = store_connect(&url, o->ns, DUMP_CONNECT_TIMEOUT_MS, DUMP_REPLY_TIMEOUT_MS, why,
	    sizeof(why));
	if (s == NULL)
		return dump_fail("cannot connect to Redis at %s:%d: %s", url.host, url.port, why);
	cli_dump d = { 0 };
	int status = DUMP_EXIT_OK;
	if (dump_namespace(s, &d, why, sizeof(why)) != 0)
		status = why[0] ? dump_fail("%s", why) : DUMP_EXIT_DATA;
	else if (fflush(stdout) != 0)
		status = dump_fail("cannot write the dump: %s", strerror(errno));
	store_close(s);
	free(d.loc_names);
	return status;
}

int dump_main(int argc, char **argv)
{
	dump_opts o;
	if (dump_parse_args(argc, argv, &o) != 0) {
		fprintf(stderr, "Try 'allot snapshot dump --help'.\n");
		return DUMP_EXIT_USAGE;
	}
	if (o.help) {
		dump_usage(stdout);
		return fflush(stdout) == 0 ? DUMP_EXIT_OK : DUMP_EXIT_USAGE;
	}
	return dump_run(&o);
}
