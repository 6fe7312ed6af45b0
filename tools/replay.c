/*
 * replay.c - `allot replay`: the recorded demand between two times re-run
 * through the same core with other routing, beside the world as recorded
 * (see replay.h and archive_tool.h).
 *
 *   allot replay (--dir DIR | --redis URL [--namespace NS]) --from T1 --to T2
 *       [--strategy S] [--split S] [--max-shipments N] [--locations FILE]
 *       [--json] [--html FILE]
 *
 * Both worlds start from the state at T1 (the newest snapshot at or
 * before it, then every record up to T1) and take every record up to T2:
 * the recorded world as it was; the what-if world re-plans each reserve
 * with the overrides (route.quote changes nothing, so it is not
 * journaled and has nothing to re-run) and applies every other change as
 * recorded, commits and releases only of reservations it holds too.
 */
#include "archive_tool.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "history_util.h"
#include "replay.h"

typedef struct replay_opts {
	hu_source src;
	int64_t from, to;
	bool has_from, has_to, json;
	const char *html;
	const char *locations_path;
	replay_overrides ov;
	char ov_text[256];
} replay_opts;

typedef struct replay_run {
	const replay_opts *o;
	replay_world *rec, *what;
	bool located;          /* the --locations overrides are applied */
	uint64_t records;
} replay_run;

static void replay_usage(FILE *out)
{
	fprintf(out,
	    "usage: allot replay (--dir DIR | --redis URL [--namespace NS]) --from T1 --to T2\n"
	    "                    [--strategy S] [--split S] [--max-shipments N]\n"
	    "                    [--locations FILE] [--json] [--html FILE]\n"
	    "\n"
	    "Rebuild the state at T1 from the history and re-run every recorded request\n"
	    "up to T2 twice: as recorded, and with each reserve re-planned with the\n"
	    "overrides. Prints both worlds side by side; --json prints\n"
	    "{\"recorded\": S, \"what_if\": S}; --html writes a self-contained report.\n"
	    "\n"
	    "  --strategy S        priority, nearest, cheapest or most_stock\n"
	    "  --split S           none, lines or units\n"
	    "  --max-shipments N   at most N locations per order (0: no cap)\n"
	    "  --locations FILE    location.put params (a JSON array, or one object a\n"
	    "                      line) applied to the what-if world at T1\n"
	    "T: ms since the epoch or an ISO 8601 UTC time.\n"
	    "\n" HU_SOURCE_HELP);
}

static int parse_override(replay_opts *o, int ch, const char *arg)
{
	if (ch == 'S') {
		for (int s = 0; s <= CORE_STRATEGY_LAST; s++)
			if (strcmp(core_strategy_name((core_strategy)s), arg) == 0) {
				o->ov.has_strategy = true;
				o->ov.strategy = (core_strategy)s;
				return 0;
			}
		return -1;
	}
	if (ch == 'P') {
		for (int s = CORE_SPLIT_UNITS; s <= CORE_SPLIT_NONE; s++)
			if (strcmp(core_split_name(s), arg) == 0) {
				o->ov.has_split = true;
				o->ov.split = (core_split)s;
				return 0;
			}
		return -1;
	}
	char *end;
	long n = strtol(arg, &end, 10);
	if (*end || n < 0 || n > CORE_MAX_SHIPMENTS_MAX)
		return -1;
	o->ov.has_max_shipments = true;
	o->ov.max_shipments = (uint32_t)n;
	return 0;
}

static int parse_one(replay_opts *o, int ch, const char *arg, const char *prog)
{
	switch (ch) {
	case 'f':
	case 't': {
		int64_t *at = ch == 'f' ? &o->from : &o->to;
		if (hu_parse_time(arg, at) != 0) {
			fprintf(stderr, "%s: not a time: '%s'\n", prog, arg);
			return -1;
		}
		*(ch == 'f' ? &o->has_from : &o->has_to) = true;
		return 0;
	}
	case 'S':
	case 'P':
	case 'M':
		if (parse_override(o, ch, arg) != 0) {
			fprintf(stderr, "%s: a bad override: '%s'\n", prog, arg);
			return -1;
		}
		size_t len = strlen(o->ov_text);
		snprintf(o->ov_text + len, sizeof(o->ov_text) - len, "%s%s=%s", len ? " " : "",
		    ch == 'S' ? "strategy" : ch == 'P' ? "split" : "max_shipments", arg);
		return 0;
	case 'L': o->locations_path = arg; return 0;
	case 'j': o->json = true; return 0;
	case 'H': o->html = arg; return 0;
	case 'h': replay_usage(stdout); exit(0);
	}
	return -1;
}

static int parse_args(int argc, char **argv, replay_opts *o)
{
	static const struct option longopts[] = {
		{ "from", required_argument, NULL, 'f' }, { "to", required_argument, NULL, 't' },
		{ "strategy", required_argument, NULL, 'S' }, { "split", required_argument, NULL, 'P' },
		{ "max-shipments", required_argument, NULL, 'M' },
		{ "locations", required_argument, NULL, 'L' }, { "json", no_argument, NULL, 'j' },
		{ "html", required_argument, NULL, 'H' }, { "help", no_argument, NULL, 'h' },
		HU_SOURCE_OPTIONS, { NULL, 0, NULL, 0 },
	};
	static char prog[] = "allot replay";
	argv[0] = prog;
	optind = 0;
	int ch;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		int taken = hu_source_option(&o->src, ch, optarg, prog);
		if (taken < 0 || (taken == 0 && parse_one(o, ch, optarg, prog) != 0))
			return -1;
	}
	if (!o->has_from || !o->has_to || o->to < o->from || optind < argc) {
		fprintf(stderr, "%s: give --from T1 and --to T2, T1 <= T2\n", prog);
		return -1;
	}
	if (o->ov_text[0] == '\0')
		snprintf(o->ov_text, sizeof(o->ov_text), "none");
	return 0;
}

/* --locations FILE: a JSON array of location.put params, or one a line. */
static json_t *load_locations(const char *path)
{
	json_error_t err;
	FILE *f = fopen(path, "re");
	if (f == NULL) {
		fprintf(stderr, "allot replay: --locations %s: cannot open it\n", path);
		return NULL;
	}
	json_t *all = json_array(), *v;
	while ((v = json_loadf(f, JSON_DISABLE_EOF_CHECK, &err)) != NULL) {
		if (json_is_array(v))
			json_array_extend(all, v);
		else if (json_is_object(v))
			json_array_append(all, v);
		json_decref(v);
	}
	bool at_end = feof(f) || strstr(err.text, "end of file") != NULL;
	fclose(f);
	if (!at_end) {
		fprintf(stderr, "allot replay: --locations %s, line %d: %s\n", path, err.line, err.text);
		json_decref(all);
		return NULL;
	}
	return all;
}

static int on_record(void *ctx, uint64_t lsn, const journal_entry *e, char *why, size_t why_len)
{
	replay_run *r = ctx;
	if (e->now_ms > r->o->to)
		return 1;
	bool counting = e->now_ms > r->o->from;
	if (counting && !r->located) {
		r->located = true;
		if (replay_world_locations(r->what, r->o->from, why, why_len) != 0)
			return -1;
	}
	r->records++;
	if (replay_world_apply(r->rec, lsn, e, counting, 0, why, why_len) != 0)
		return -1;
	uint64_t made = e->kind == JOURNAL_KIND_RESERVE ? replay_world_last_made(r->rec) : 0;
	return replay_world_apply(r->what, lsn, e, counting, made, why, why_len);
}

/* Two worlds at the start for --from. 0 or -1 (said on stderr). */
static int make_worlds(history *h, const replay_opts *o, replay_run *r, uint64_t *start_lsn)
{
	core_config cfg;
	history_core_config(h, o->src.ttl_default_ms, &cfg);
	char why[512], when[40];
	history_start start;
	core *a = NULL, *b = NULL;
	if (history_rebuild(h, o->from, &cfg, &a, &start, why, sizeof(why)) != 0 ||
	    history_rebuild(h, o->from, &cfg, &b, &start, why, sizeof(why)) != 0) {
		core_destroy(a);
		fprintf(stderr, "allot replay: %s\n", why);
		return -1;
	}
	if (start.lsn > 0 && start.at_ms > o->from)
		fprintf(stderr, "allot replay: the history kept starts at %s, after --from: the replay "
		    "starts there\n", hu_format_time(start.at_ms, when, sizeof(when)));
	r->rec = replay_world_create(a, true, NULL);
	r->what = replay_world_create(b, false, &o->ov);
	if (r->rec == NULL || r->what == NULL) {
		fprintf(stderr, "allot replay: out of memory\n");
		return -1;
	}
	*start_lsn = start.lsn; /* the caller reads the records after it */
	return 0;
}

static int report(const replay_opts *o, const replay_run *r)
{
	const replay_stats *a = replay_world_stats(r->rec), *b = replay_world_stats(r->what);
	if (o->json) {
		json_t *out = json_pack("{s:o, s:o}", "recorded", replay_json_of(a), "what_if",
		    replay_json_of(b));
		json_dumpf(out, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(12));
		putchar('\n');
		json_decref(out);
	} else {
		replay_print_table(stdout, a, b, o->from, o->to);
	}
	if (b->refused_other || b->skipped)
		fprintf(stderr, "allot replay: in the what-if world %" PRIu64 " reserves were refused other "
		    "than for stock (e.g. nearest without ship_to) and %" PRIu64 " recorded changes did not "
		    "apply (to orders it refused, or below what it had left)\n", b->refused_other, b->skipped);
	if (o->html && replay_write_html(o->html, a, b, o->from, o->to, o->ov_text) != 0) {
		fprintf(stderr, "allot replay: cannot write %s\n", o->html);
		return HU_EXIT_DATA;
	}
	return fflush(stdout) == 0 ? HU_EXIT_OK : HU_EXIT_DATA;
}

int replay_main(int argc, char **argv)
{
	static replay_opts o;
	o = (replay_opts){ 0 };
	if (parse_args(argc, argv, &o) != 0) {
		fprintf(stderr, "Try 'allot replay --help'.\n");
		return HU_EXIT_USAGE;
	}
	if (o.locations_path && (o.ov.locations = load_locations(o.locations_path)) == NULL)
		return HU_EXIT_USAGE;
	if (o.ov.locations == NULL)
		o.ov.locations = json_array();
	history *h = hu_open(&o.src, "allot replay");
	replay_run r = { .o = &o };
	int status = HU_EXIT_DATA;
	uint64_t start = 0;
	if (h && make_worlds(h, &o, &r, &start) == 0) {
		char why[512] = "";
		if (history_records(h, start, on_record, &r, why, sizeof(why)) != 0)
			fprintf(stderr, "allot replay: %s\n", why);
		else if (!r.located && replay_world_locations(r.what, o.from, why, sizeof(why)) != 0)
			fprintf(stderr, "allot replay: %s\n", why);
		else
			status = report(&o, &r);
	}
	replay_world_destroy(r.rec);
	replay_world_destroy(r.what);
	history_close(h);
	json_decref(o.ov.locations);
	return status;
}
