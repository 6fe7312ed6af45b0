/*
 * allot - call one method of a running allotd and print the reply as JSON.
 *
 *   allot [--host H] [--port P] [--timeout-ms T] METHOD [JSON-PARAMS]
 *
 * Exit status: 0 with the result on stdout; 1 with the error object on
 * stdout when the server answered with an error; 2 with a message on stderr
 * for a usage error, params that are not a JSON object, or a failure to
 * connect or to get a reply.
 *
 *   allot snapshot dump --redis URL [--namespace NS]
 *
 * reads a durable engine's state from Redis (the key layout is in
 * proto/durable.h) and prints it as JSON lines: the current snapshot's
 * header and items, then every journal record after it. Exit status: 0;
 * 1 with a message on stderr when Redis fails or holds data that does not
 * decode; 2 for a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "allot/client.h"
#include "allot/protocol.h"
#include "durable.h"
#include "journal.h"
#include "snapshot.h"

#ifndef ALLOT_VERSION
#define ALLOT_VERSION "0.1.0"
#endif

enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_REPLY_ERROR = 1,
	CLI_EXIT_DATA = 1,     /* snapshot dump: Redis failed, or its data */
	CLI_EXIT_FAILURE = 2,
};

/* Long enough that a durable snapshot can finish; 0 waits forever. */
#define CLI_DEFAULT_TIMEOUT_MS 30000

/* snapshot dump: Redis replies read per command. */
#define DUMP_CHUNKS_PER_READ 64
#define DUMP_ENTRIES_PER_READ 1000
#define DUMP_CONNECT_TIMEOUT_S 5
#define DUMP_REPLY_TIMEOUT_S 30
#define DUMP_DEFAULT_NAMESPACE "default"

/* What the command line asks for. */
typedef enum cli_action {
	CLI_ACTION_RUN,
	CLI_ACTION_HELP,
	CLI_ACTION_VERSION,
	CLI_ACTION_DUMP,
	CLI_ACTION_DUMP_HELP,
} cli_action;

typedef struct cli_opts {
	cli_action action;
	const char *host;
	int port;
	int timeout_ms;
	/* The words after the options: METHOD [JSON-PARAMS] for a call, or
	 * "snapshot dump" and its options. */
	int argc;
	char **argv;
	const char *redis_url;  /* snapshot dump */
	const char *ns;         /* snapshot dump */
} cli_opts;

static void cli_usage(FILE *out)
{
	fprintf(out,
	    "usage: allot [--host H] [--port P] [--timeout-ms T] METHOD [JSON-PARAMS]\n"
	    "       allot --help | --version\n"
	    "\n"
	    "Call METHOD on allotd with JSON-PARAMS (a JSON object of named\n"
	    "arguments, default none) and print the reply as JSON.\n"
	    "\n"
	    "  --host H        server host, or a Unix socket path containing '/'\n"
	    "                  (env ALLOT_HOST, default %s)\n"
	    "  --port P        server TCP port (env ALLOT_PORT, default %d)\n"
	    "  --timeout-ms T  give up after T ms, 0 for never (default %d)\n"
	    "  -h, --help      show this help\n"
	    "  -V, --version   show the version\n"
	    "\n"
	    "Options go before METHOD. Example:\n"
	    "  allot stock.get '{\"sku\": \"A-1\"}'\n"
	    "\n"
	    "Exit status: 0 result printed; 1 the server answered with an error\n"
	    "(printed on stdout); 2 usage, params or connection failure.\n"
	    "\n"
	    "       allot snapshot dump --redis URL [--namespace NS]\n"
	    "\n"
	    "Print a durable engine's state in Redis as JSON lines (see\n"
	    "'allot snapshot dump --help').\n",
	    ALLOT_DEFAULT_HOST, ALLOT_DEFAULT_PORT, CLI_DEFAULT_TIMEOUT_MS);
}

static void cli_dump_usage(FILE *out)
{
	fprintf(out,
	    "usage: allot snapshot dump --redis URL [--namespace NS]\n"
	    "\n"
	    "Read a durable engine's state from Redis and print it as JSON, one\n"
	    "object per line: the current snapshot's header (type \"snapshot\"),\n"
	    "its items (types \"location\", \"record\", \"reservation\",\n"
	    "\"idempotency_key\"), then each journal record after it, with its\n"
	    "lsn and its type named as the method (\"reserve\", ...; \"sweep\").\n"
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
static int cli_parse_dump_args(int argc, char **argv, cli_opts *o)
{
	static const struct option longopts[] = {
		{ "redis", required_argument, NULL, 'r' },
		{ "namespace", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static char prog[] = "allot snapshot dump"; /* for getopt_long's messages */
	o->action = CLI_ACTION_DUMP;
	o->ns = DUMP_DEFAULT_NAMESPACE;
	argv[0] = prog;
	optind = 0; /* start over on the new argv (glibc) */
	int ch;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'r': o->redis_url = optarg; break;
		case 'n': o->ns = optarg; break;
		case 'h': o->action = CLI_ACTION_DUMP_HELP; return 0;
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

/* Parse a whole decimal number in [min, max] from text, naming it on error. */
static int cli_parse_int(const char *what, const char *text, long min,
    long max, int *out)
{
	char *end = NULL;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "allot: %s must be a number from %ld to %ld, not '%s'\n",
		    what, min, max, text);
		return -1;
	}
	*out = (int)v;
	return 0;
}

/*
 * Fill o from the command line and the environment; flags win over
 * ALLOT_HOST and ALLOT_PORT. Returns 0, or -1 after printing why.
 */
static int cli_parse_args(int argc, char **argv, cli_opts *o)
{
	static const struct option longopts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *port_text = NULL, *port_what = "port", *timeout_text = NULL;
	*o = (cli_opts){ .action = CLI_ACTION_RUN, .port = ALLOT_DEFAULT_PORT,
		.timeout_ms = CLI_DEFAULT_TIMEOUT_MS };

	/* A leading '+' stops at METHOD, so its arguments stay its own. */
	int ch;
	while ((ch = getopt_long(argc, argv, "+hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'H': o->host = optarg; break;
		case 'p': port_text = optarg; break;
		case 't': timeout_text = optarg; break;
		case 'h': o->action = CLI_ACTION_HELP; return 0;
		case 'V': o->action = CLI_ACTION_VERSION; return 0;
		default: return -1; /* getopt_long already said why */
		}
	}
	if (o->host == NULL)
		o->host = getenv("ALLOT_HOST");
	if (o->host == NULL || o->host[0] == '\0')
		o->host = ALLOT_DEFAULT_HOST;
	if (port_text == NULL) {
		port_text = getenv("ALLOT_PORT");
		port_what = "ALLOT_PORT";
	}
	if (port_text != NULL && port_text[0] != '\0' &&
	    cli_parse_int(port_what, port_text, 1, 65535, &o->port) < 0)
		return -1;
	if (timeout_text != NULL &&
	    cli_parse_int("timeout", timeout_text, 0, INT_MAX, &o->timeout_ms) < 0)
		return -1;

	o->argc = argc - optind;
	o->argv = argv + optind;
	if (o->argc >= 2 && strcmp(o->argv[0], "snapshot") == 0 && strcmp(o->argv[1], "dump") == 0)
		return cli_parse_dump_args(o->argc - 1, o->argv + 1, o);
	if (o->argc < 1 || o->argc > 2) {
		fprintf(stderr, "allot: %s\n", o->argc < 1
		    ? "no METHOD given" : "too many arguments (quote JSON-PARAMS)");
		return -1;
	}
	return 0;
}

/* Print v as indented JSON and a newline on stdout. */
static int cli_print_json(json_t *v)
{
	if (json_dumpf(v, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15)) != 0 ||
	    fputc('\n', stdout) == EOF || fflush(stdout) != 0) {
		fprintf(stderr, "allot: cannot write the reply: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/* Run METHOD [JSON-PARAMS]: one request, one reply. */
static int cli_run_call(const cli_opts *o)
{
	char err[512];
	const char *method = o->argv[0];
	json_t *params = NULL, *error = NULL, *result = NULL;
	allot_client *c = NULL;
	int status = CLI_EXIT_FAILURE;

	/* Check the params first: a typo should not need a server to report. */
	if (allot_json_parse_params(o->argc > 1 ? o->argv[1] : NULL, &params,
	        err, sizeof(err)) < 0) {
		fprintf(stderr, "allot: %s\n", err);
		goto fail_params;
	}
	c = allot_client_connect(o->host, o->port, o->timeout_ms,
	    err, sizeof(err));
	if (c == NULL) {
		fprintf(stderr, "allot: %s\n", err);
		goto fail_connect;
	}
	if (allot_client_call_params(c, method, params, &error, &result, err,
	        sizeof(err)) < 0) {
		fprintf(stderr, "allot: %s: %s\n", method, err);
		goto fail_call;
	}
	if (error != NULL)
		status = cli_print_json(error) == 0 ? CLI_EXIT_REPLY_ERROR
		                                    : CLI_EXIT_FAILURE;
	else
		status = cli_print_json(result) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;

	json_decref(error);
	json_decref(result);
fail_call:
	allot_client_destroy(c);
fail_connect:
	json_decref(params);
fail_params:
	return status;
}

/* ---- snapshot dump --------------------------------------------------------- */

/* A dump in progress: the connection, and what later items refer back to.
 * It owns the connection and the arrays. */
typedef struct cli_dump {
	redisContext *redis;
	const char *ns;                       /* borrowed from the command line */
	char (*loc_names)[CORE_NAME_MAX + 1]; /* by location id, from location items */
	uint32_t nlocs;
	uint32_t id_epoch;                    /* the snapshot's */
	uint64_t lsn;                         /* the snapshot's; 0 without one */
	uint64_t next_lsn;                    /* the journal record expected next */
	core_line_req *lines;                 /* journal_decode() scratch */
	core_str *names;
} cli_dump;

#define DUMP_LINES_MAX UINT16_MAX

__attribute__((format(printf, 1, 2)))
static int dump_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("allot: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return CLI_EXIT_DATA;
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
			return CLI_EXIT_DATA;
	}
	if (v->per_order || v->per_customer || v->low_stock) {
		json_t *o = json_object();
		json_put(o, "type", json_string("sku"));
		json_put(o, "sku", json_str(v->name));
		json_put(o, "per_order", json_integer(v->per_order));
		json_put(o, "per_customer", json_integer(v->per_customer));
		json_put(o, "low_stock", json_integer(v->low_stock));
		if (dump_print(o) != 0)
			return CLI_EXIT_DATA;
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
			return CLI_EXIT_DATA;
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

/* A reply that is not an error nor NULL; else print why and NULL. */
static redisReply *dump_reply(cli_dump *d, redisReply *rep, const char *what)
{
	if (rep == NULL) {
		dump_fail("%s: %s", what, d->redis->errstr[0] ? d->redis->errstr : "no reply from Redis");
		return NULL;
	}
	if (rep->type == REDIS_REPLY_ERROR) {
		dump_fail("%s: Redis answered: %s", what, rep->str);
		freeReplyObject(rep);
		return NULL;
	}
	return rep;
}

/* The snapshot list at key, in pages of chunks. */
static int dump_snapshot(cli_dump *d, const char *key)
{
	core_config cfg;
	core_config_default(&cfg);
	cfg.locations_max = UINT16_MAX - 1; /* the widest any engine may use */
	cfg.lines_max = UINT16_MAX;
	snapshot_reader *r = snapshot_reader_create(&cfg);
	if (r == NULL)
		return dump_fail("out of memory");
	int status = CLI_EXIT_DATA;
	long long start = 0;
	for (;;) {
		redisReply *rep = dump_reply(d, redisCommand(d->redis, "LRANGE %s %lld %lld", key, start,
		    start + DUMP_CHUNKS_PER_READ - 1), "reading the snapshot");
		if (rep == NULL)
			goto out;
		if (rep->type != REDIS_REPLY_ARRAY) {
			freeReplyObject(rep);
			dump_fail("the snapshot %s is not a list", key);
			goto out;
		}
		size_t n = rep->elements;
		for (size_t i = 0; i < n; i++) {
			const redisReply *chunk = rep->element[i];
			if (chunk->type != REDIS_REPLY_STRING) {
				freeReplyObject(rep);
				dump_fail("the snapshot %s holds a chunk that is not a string", key);
				goto out;
			}
			snapshot_reader_chunk(r, (const uint8_t *)chunk->str, chunk->len);
			snapshot_item it;
			const char *why = NULL;
			int rc;
			while ((rc = snapshot_reader_next(r, &it, &why)) > 0)
				if (dump_item(d, &it, key) != 0) {
					freeReplyObject(rep);
					goto out;
				}
			if (rc < 0) {
				freeReplyObject(rep);
				dump_fail("the snapshot %s, chunk %lld: %s", key, start + (long long)i, why);
				goto out;
			}
		}
		freeReplyObject(rep);
		if (start == 0 && n == 0) {
			dump_fail("the snapshot %s named by the meta hash is missing or empty "
			    "(replaced while it was read? run again)", key);
			goto out;
		}
		if (n < DUMP_CHUNKS_PER_READ)
			break;
		start += DUMP_CHUNKS_PER_READ;
	}
	const char *why = NULL;
	if (snapshot_reader_done(r, &why) != 0) {
		dump_fail("the snapshot %s: %s", key, why);
		goto out;
	}
	status = CLI_EXIT_OK;
out:
	snapshot_reader_destroy(r);
	return status;
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

/* One journal record with named fields; what was not given is left out. */
static int dump_record(uint64_t lsn, const journal_entry *e)
{
	static const char *const names[] = {
		[CORE_CMD_STOCK_SET] = "stock.set", [CORE_CMD_STOCK_ADJUST] = "stock.adjust",
		[CORE_CMD_RESTOCK] = "restock", [CORE_CMD_RESERVE] = "reserve",
		[CORE_CMD_COMMIT] = "commit", [CORE_CMD_RELEASE] = "release",
		[CORE_CMD_FULFILL] = "fulfill", [CORE_CMD_EXTEND] = "extend",
		[CORE_CMD_LOCATION_PUT] = "location.put", [CORE_CMD_CHANNEL_PUT] = "channel.put",
		[CORE_CMD_SKU_PUT] = "sku.put", [CORE_CMD_INBOUND_ADD] = "inbound.add",
	};
	const core_stock_cmd *s = &e->cmd.u.stock;
	const core_reserve_cmd *r = &e->cmd.u.reserve;
	const core_resv_cmd *v = &e->cmd.u.resv;
	json_t *o = json_object();
	json_put(o, "lsn", json_u64(lsn));
	json_put(o, "type", json_string(e->type == JOURNAL_SWEEP ? "sweep" : names[e->type]));
	json_put(o, "now_ms", json_integer(e->now_ms));
	switch (e->type) {
	case JOURNAL_SWEEP:
		json_put(o, "reservations_forgotten", json_integer(e->forgot_reservations));
		json_put(o, "keys_forgotten", json_integer(e->forgot_keys));
		break;
	case CORE_CMD_STOCK_SET:
		json_put(o, "sku", json_opt(s->sku));
		json_put(o, "location", json_opt(s->location));
		json_put(o, "on_hand", json_integer(s->on_hand));
		json_put(o, "safety", s->safety != -1 ? json_integer(s->safety) : NULL);
		json_put(o, "if_version", s->if_version != -1 ? json_integer(s->if_version) : NULL);
		break;
	case CORE_CMD_STOCK_ADJUST:
	case CORE_CMD_RESTOCK:
		json_put(o, "sku", json_opt(s->sku));
		json_put(o, "location", json_opt(s->location));
		json_put(o, e->type == CORE_CMD_RESTOCK ? "qty" : "delta", json_integer(s->delta));
		json_put(o, "reason", json_opt(s->reason));
		json_put(o, "idempotency_key", json_opt(s->idempotency_key));
		break;
	case CORE_CMD_RESERVE:
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
		break;
	case CORE_CMD_LOCATION_PUT:
		dump_location_cmd(o, &e->cmd.u.location);
		break;
	case CORE_CMD_CHANNEL_PUT: {
		const core_channel_cmd *ch = &e->cmd.u.channel;
		json_put(o, "channel", json_opt(ch->channel));
		if (ch->has_locations) {
			json_t *locs = json_array();
			for (uint32_t i = 0; i < ch->nlocations; i++)
				json_array_append_new(locs, json_str(ch->locations[i]));
			json_put(o, "locations", locs);
		}
		json_put(o, "buffer", ch->buffer >= 0 ? json_integer(ch->buffer) : NULL);
		json_put(o, "all_locations", ch->all_locations ? json_true() : NULL);
		break;
	}
	case CORE_CMD_INBOUND_ADD:
		json_put(o, "sku", json_opt(e->cmd.u.inbound.sku));
		json_put(o, "location", json_opt(e->cmd.u.inbound.location));
		json_put(o, "qty", json_integer(e->cmd.u.inbound.qty));
		json_put(o, "eta", json_integer(e->cmd.u.inbound.eta_ms));
		json_put(o, "ref", json_opt(e->cmd.u.inbound.ref));
		break;
	case CORE_CMD_SKU_PUT:
		json_put(o, "sku", json_opt(e->cmd.u.sku.sku));
		json_put(o, "per_order", e->cmd.u.sku.per_order >= 0 ? json_integer(e->cmd.u.sku.per_order) : NULL);
		json_put(o, "per_customer", e->cmd.u.sku.per_customer >= 0 ?
		    json_integer(e->cmd.u.sku.per_customer) : NULL);
		json_put(o, "low_stock", e->cmd.u.sku.low_stock >= 0 ? json_integer(e->cmd.u.sku.low_stock) : NULL);
		break;
	case CORE_CMD_COMMIT:
	case CORE_CMD_RELEASE:
	case CORE_CMD_FULFILL:
	case CORE_CMD_EXTEND:
		json_put(o, "reservation_id", json_opt(v->reservation_id));
		if (e->type == CORE_CMD_EXTEND)
			json_put(o, "ttl_ms", json_integer(v->ttl_ms));
		else if (e->type != CORE_CMD_COMMIT)
			json_put(o, "lines", json_lines(v->lines, v->nlines));
		break;
	}
	return dump_print(o);
}

/* The value of field "b" of a stream entry [id, [field, value, ...]]. */
static const redisReply *dump_batch_field(const redisReply *entry)
{
	const redisReply *fields = entry->element[1];
	if (fields->type != REDIS_REPLY_ARRAY)
		return NULL;
	for (size_t i = 0; i + 1 < fields->elements; i += 2) {
		const redisReply *k = fields->element[i], *v = fields->element[i + 1];
		if (k->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING &&
		    k->len == strlen(DURABLE_BATCH_FIELD) && memcmp(k->str, DURABLE_BATCH_FIELD, k->len) == 0)
			return v;
	}
	return NULL;
}

/* The records of one stream entry after the snapshot's lsn. */
static int dump_batch(cli_dump *d, const redisReply *entry)
{
	const redisReply *b = dump_batch_field(entry);
	const char *id = entry->element[0]->str;
	if (b == NULL)
		return dump_fail("journal entry %s has no field \"%s\"", id, DURABLE_BATCH_FIELD);
	/* A record holds at most lines_max lines of two values and short
	 * strings; the engine's own limits are no wider. */
	mp_limits lim = { .frame_bytes_max = 16u << 20, .depth_max = 4,
		.array_max = 2 * DUMP_LINES_MAX + 16, .map_max = 0, .str_max = 4096 };
	durable_batch_reader br;
	const char *why = NULL;
	if (durable_batch_read_begin(&br, (const uint8_t *)b->str, b->len, &why) != 0)
		return dump_fail("journal entry %s: %s", id, why);
	const uint8_t *rec;
	size_t len;
	uint64_t lsn;
	int rc;
	while ((rc = durable_batch_read_next(&br, &lim, &rec, &len, &lsn, &why)) > 0) {
		if (lsn <= d->lsn)
			continue; /* in the snapshot already */
		if (lsn != d->next_lsn)
			return dump_fail("the journal goes from record %" PRIu64 " to %" PRIu64 " (trimmed "
			    "while it was read? run again)", d->next_lsn - 1, lsn);
		d->next_lsn++;
		journal_entry e;
		journal_scratch scratch = { d->lines, DUMP_LINES_MAX, d->names, DUMP_LINES_MAX };
		if (journal_decode(rec, len, &e, &scratch, &why) != 0)
			return dump_fail("journal record %" PRIu64 " (entry %s): %s", lsn, id, why);
		if (dump_record(lsn, &e) != 0)
			return CLI_EXIT_DATA;
	}
	if (rc < 0)
		return dump_fail("journal entry %s: %s", id, why);
	return 0;
}

/* The journal stream after the snapshot, in pages of entries. */
static int dump_journal(cli_dump *d)
{
	char key[DURABLE_KEY_MAX], start[64];
	durable_key_journal(key, d->ns);
	d->next_lsn = d->lsn + 1;
	if (d->lsn)
		snprintf(start, sizeof(start), "(%" PRIu64 "-0", d->lsn);
	else
		snprintf(start, sizeof(start), "-");
	for (;;) {
		redisReply *rep = dump_reply(d, redisCommand(d->redis, "XRANGE %s %s + COUNT %d", key,
		    start, DUMP_ENTRIES_PER_READ), "reading the journal");
		if (rep == NULL)
			return CLI_EXIT_DATA;
		if (rep->type != REDIS_REPLY_ARRAY) {
			freeReplyObject(rep);
			return dump_fail("the journal %s is not a stream", key);
		}
		size_t n = rep->elements;
		for (size_t i = 0; i < n; i++) {
			const redisReply *entry = rep->element[i];
			if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 ||
			    entry->element[0]->type != REDIS_REPLY_STRING ||
			    entry->element[0]->len + 2 > sizeof(start)) {
				freeReplyObject(rep);
				return dump_fail("the journal %s holds an entry that is not [id, fields]", key);
			}
			int rc = dump_batch(d, entry);
			snprintf(start, sizeof(start), "(%s", entry->element[0]->str);
			if (rc != 0) {
				freeReplyObject(rep);
				return rc;
			}
		}
		freeReplyObject(rep);
		if (n < DUMP_ENTRIES_PER_READ)
			return CLI_EXIT_OK;
	}
}

/* Connect, authenticate and select the database the URL names. */
static int dump_connect(cli_dump *d, const durable_url *url)
{
	struct timeval tv = { DUMP_CONNECT_TIMEOUT_S, 0 };
	d->redis = redisConnectWithTimeout(url->host, url->port, tv);
	if (d->redis == NULL)
		return dump_fail("cannot connect to Redis: out of memory");
	if (d->redis->err)
		return dump_fail("cannot connect to Redis at %s:%d: %s", url->host, url->port,
		    d->redis->errstr);
	struct timeval reply_tv = { DUMP_REPLY_TIMEOUT_S, 0 };
	if (redisSetTimeout(d->redis, reply_tv) != REDIS_OK)
		return dump_fail("cannot set a timeout on the Redis connection");
	redisReply *rep;
	if (url->password[0]) {
		if ((rep = dump_reply(d, redisCommand(d->redis, "AUTH %s", url->password),
		    "AUTH")) == NULL)
			return CLI_EXIT_DATA;
		freeReplyObject(rep);
	}
	if (url->db) {
		if ((rep = dump_reply(d, redisCommand(d->redis, "SELECT %d", url->db), "SELECT")) == NULL)
			return CLI_EXIT_DATA;
		freeReplyObject(rep);
	}
	return 0;
}

/* snapshot dump: the meta hash names the snapshot; the journal follows. */
static int cli_snapshot_dump(const cli_opts *o)
{
	durable_url url;
	const char *why = NULL;
	if (durable_url_parse(o->redis_url, &url, &why) != 0) {
		fprintf(stderr, "allot: --redis: %s\n", why);
		return CLI_EXIT_FAILURE;
	}
	cli_dump d = { .ns = o->ns };
	int status = CLI_EXIT_DATA;
	if ((d.lines = malloc(DUMP_LINES_MAX * sizeof(*d.lines))) == NULL ||
	    (d.names = malloc(DUMP_LINES_MAX * sizeof(*d.names))) == NULL) {
		dump_fail("out of memory");
		goto out;
	}
	if (dump_connect(&d, &url) != 0)
		goto out;
	char meta[DURABLE_KEY_MAX];
	durable_key_meta(meta, o->ns);
	redisReply *rep = dump_reply(&d, redisCommand(d.redis, "HMGET %s format snapshot", meta),
	    "reading the meta hash");
	if (rep == NULL)
		goto out;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
		freeReplyObject(rep);
		dump_fail("the meta hash %s is not a hash", meta);
		goto out;
	}
	const redisReply *format = rep->element[0], *snap = rep->element[1];
	char key[DURABLE_KEY_MAX] = "";
	if (format->type == REDIS_REPLY_STRING && strtol(format->str, NULL, 10) != DURABLE_FORMAT) {
		dump_fail("the namespace is in format %s; this allot reads format %d", format->str,
		    DURABLE_FORMAT);
		freeReplyObject(rep);
		goto out;
	}
	if (snap->type == REDIS_REPLY_STRING) {
		if (snap->len >= sizeof(key)) {
			freeReplyObject(rep);
			dump_fail("the meta hash names a snapshot key over %d bytes", DURABLE_KEY_MAX - 1);
			goto out;
		}
		memcpy(key, snap->str, snap->len);
		key[snap->len] = '\0';
	}
	freeReplyObject(rep);
	if (key[0] && (status = dump_snapshot(&d, key)) != CLI_EXIT_OK)
		goto out;
	status = dump_journal(&d);
	if (status == CLI_EXIT_OK && fflush(stdout) != 0)
		status = dump_fail("cannot write the dump: %s", strerror(errno));
out:
	if (d.redis)
		redisFree(d.redis);
	free(d.loc_names);
	free(d.lines);
	free(d.names);
	return status;
}

int main(int argc, char **argv)
{
	cli_opts o;
	if (cli_parse_args(argc, argv, &o) < 0) {
		fprintf(stderr, "Try 'allot %s--help'.\n", o.action == CLI_ACTION_DUMP ? "snapshot dump " : "");
		return CLI_EXIT_FAILURE;
	}
	switch (o.action) {
	case CLI_ACTION_HELP:
		cli_usage(stdout);
		return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
	case CLI_ACTION_DUMP_HELP:
		cli_dump_usage(stdout);
		return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
	case CLI_ACTION_DUMP:
		return cli_snapshot_dump(&o);
	case CLI_ACTION_VERSION:
		printf("allot %s (wire protocol %d)\n", ALLOT_VERSION,
		    ALLOT_PROTOCOL_VERSION);
		return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
	case CLI_ACTION_RUN:
		break;
	}
	return cli_run_call(&o);
}
