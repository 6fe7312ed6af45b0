/*
 * audit.c - `allot audit`: every change to a sku's records, oldest first,
 * from the recorded history (see archive_tool.h).
 *
 *   allot audit --sku SKU [--location L] [--since T] [--until T] [--json]
 *               (--redis URL [--namespace NS] | --dir DIR)
 *
 * The history is replayed through the pure core (history.h): from the
 * newest snapshot at or before --since, each journal record is applied as
 * recorded and the matching records are compared before and after it.
 * Holds expire inside the core as its clock passes their deadlines; the
 * replay moves the clock to each deadline on its own first, so that an
 * expiry shows as such, at its deadline, naming the reservations it ended.
 */
#include "archive_tool.h"

#include <assert.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "history_util.h"
#include "journal.h"

/* The records of one sku an audit follows at most (its locations). */
#define AUDIT_RECORDS_MAX 4096
/* Held reservations of the sku followed to name them when they expire. */
#define AUDIT_TRACKED_MAX 100000
/* Deadlines passed between two records before the audit stops naming each
 * (a storm of expiries is then shown at the record that follows). */
#define AUDIT_DEADLINES_PER_GAP 100000

typedef struct audit_rec {
	char location[CORE_NAME_MAX + 1];
	int64_t on_hand, reserved, committed, safety, available;
} audit_rec;

typedef struct audit {
	const char *prog;
	core_str sku, location;
	int64_t since, until;
	bool json;
	core *c;
	audit_rec prev[AUDIT_RECORDS_MAX];
	uint32_t nprev;
	core_record_view cur[AUDIT_RECORDS_MAX];
	char (*tracked)[CORE_RESERVATION_ID_LEN + 1];
	uint32_t ntracked;
	uint64_t changes;
} audit;

/* What a change is: when, by whom, through what, and why. */
typedef struct audit_cause {
	int64_t at_ms;
	uint64_t lsn;              /* 0: an expiry */
	const char *who;
	const char *method;
	core_str reason;
	core_str order_id;
	const char *reservation_id; /* or NULL */
	const char *expired;       /* expiries: the reservations, comma separated */
} audit_cause;

static const char *const BUCKETS[] = { "on_hand", "reserved", "committed", "safety", "available" };

static void rec_values(const audit_rec *r, int64_t v[5])
{
	v[0] = r->on_hand, v[1] = r->reserved, v[2] = r->committed, v[3] = r->safety, v[4] = r->available;
}

static audit_rec rec_of(const core_record_view *v)
{
	audit_rec r = { .on_hand = v->on_hand, .reserved = v->reserved, .committed = v->committed,
		.safety = v->safety, .available = v->available };
	snprintf(r.location, sizeof(r.location), "%.*s", (int)v->location.len, v->location.p);
	return r;
}

static void print_json(const audit *a, const audit_cause *k, const audit_rec *before,
    const audit_rec *after, bool existed)
{
	char when[40];
	json_t *o = json_object(), *ch = json_object();
	json_object_set_new(o, "at", json_integer(k->at_ms));
	json_object_set_new(o, "time", json_string(hu_format_time(k->at_ms, when, sizeof(when))));
	if (k->lsn)
		json_object_set_new(o, "lsn", json_integer((json_int_t)k->lsn));
	json_object_set_new(o, "who", json_string(k->who));
	json_object_set_new(o, "method", json_string(k->method));
	json_object_set_new(o, "sku", json_stringn(a->sku.p, a->sku.len));
	json_object_set_new(o, "location", json_string(after->location));
	int64_t b[5] = { 0 }, v[5];
	if (existed)
		rec_values(before, b);
	rec_values(after, v);
	for (int i = 0; i < 5; i++)
		if (b[i] != v[i] || (!existed && i == 0))
			json_object_set_new(ch, BUCKETS[i], json_pack("[I, I]", (json_int_t)b[i], (json_int_t)v[i]));
	json_object_set_new(o, "changes", ch);
	if (k->reason.p)
		json_object_set_new(o, "reason", json_stringn(k->reason.p, k->reason.len));
	if (k->order_id.p)
		json_object_set_new(o, "order_id", json_stringn(k->order_id.p, k->order_id.len));
	if (k->reservation_id)
		json_object_set_new(o, "reservation_id", json_string(k->reservation_id));
	if (k->expired)
		json_object_set_new(o, "expired", json_string(k->expired));
	char *text = json_dumps(o, JSON_COMPACT);
	puts(text);
	free(text);
	json_decref(o);
}

static void print_text(const audit *a, const audit_cause *k, const audit_rec *before,
    const audit_rec *after, bool existed)
{
	char when[40];
	printf("%s  %-12s %-13s %.*s@%s ", hu_format_time(k->at_ms, when, sizeof(when)), k->who,
	    k->method, (int)a->sku.len, a->sku.p, after->location);
	int64_t b[5] = { 0 }, v[5];
	if (existed)
		rec_values(before, b);
	rec_values(after, v);
	const char *sep = " ";
	for (int i = 0; i < 5; i++) {
		if (b[i] == v[i] && (existed || i > 0))
			continue;
		printf("%s%s %" PRId64 " -> %" PRId64, sep, BUCKETS[i], b[i], v[i]);
		sep = ", ";
	}
	if (k->reason.p)
		printf("  reason \"%.*s\"", (int)k->reason.len, k->reason.p);
	if (k->order_id.p)
		printf("  order %.*s", (int)k->order_id.len, k->order_id.p);
	if (k->reservation_id)
		printf("  %s", k->reservation_id);
	if (k->expired)
		printf("  expired %s", k->expired);
	putchar('\n');
}

/* Compare the matching records with prev, print each change (when inside
 * --since), and keep the new values. */
static void diff(audit *a, const audit_cause *k)
{
	uint32_t n = 0;
	hu_records(a->c, a->sku, a->location, a->cur, AUDIT_RECORDS_MAX, &n);
	assert(n <= AUDIT_RECORDS_MAX && a->nprev <= AUDIT_RECORDS_MAX);
	for (uint32_t i = 0; i < n; i++) {
		audit_rec now = rec_of(&a->cur[i]);
		audit_rec *was = NULL;
		for (uint32_t j = 0; j < a->nprev && was == NULL; j++)
			if (strcmp(a->prev[j].location, now.location) == 0)
				was = &a->prev[j];
		if (was && memcmp(&was->on_hand, &now.on_hand, sizeof(int64_t) * 5) == 0)
			continue;
		if (k->method && k->at_ms >= a->since) {
			a->changes++;
			(a->json ? print_json : print_text)(a, k, was, &now, was != NULL);
		}
		if (was)
			*was = now;
		else if (a->nprev < AUDIT_RECORDS_MAX)
			a->prev[a->nprev++] = now;
	}
}

/* Follow a reservation of the sku, to name it should it expire. */
static void track(audit *a, const core_resv *r)
{
	core_resv_view v;
	core_resv_view_get(a->c, r, &v);
	for (uint32_t i = 0; i < v.nlines; i++) {
		core_line_view l;
		core_resv_line_get(a->c, r, i, &l);
		if (l.sku.len == a->sku.len && memcmp(l.sku.p, a->sku.p, l.sku.len) == 0 &&
		    a->ntracked < AUDIT_TRACKED_MAX) {
			memcpy(a->tracked[a->ntracked++], v.id, sizeof(v.id));
			return;
		}
	}
}

/* The followed reservations that have expired, named in buf and no
 * longer followed; so are those no longer held. */
static const char *expired_ones(audit *a, char *buf, size_t len)
{
	size_t at = 0;
	buf[0] = '\0';
	for (uint32_t i = 0; i < a->ntracked;) {
		const core_resv *r;
		core_error err;
		core_resv_view v = { .status = CORE_RESV_RELEASED };
		if (core_resv_find(a->c, hu_str(a->tracked[i]), &r, &err) == 0)
			core_resv_view_get(a->c, r, &v);
		if (v.status == CORE_RESV_HELD) {
			i++;
			continue;
		}
		if (v.status == CORE_RESV_EXPIRED && at + CORE_RESERVATION_ID_LEN + 2 < len)
			at += (size_t)snprintf(buf + at, len - at, "%s%s", at ? "," : "", a->tracked[i]);
		memcpy(a->tracked[i], a->tracked[--a->ntracked], sizeof(a->tracked[i]));
	}
	return buf[0] ? buf : NULL;
}

/* Move the clock through every deadline up to t, showing each expiry. */
static void expire_until(audit *a, int64_t t)
{
	static char names[4096];
	for (uint32_t n = 0; n < AUDIT_DEADLINES_PER_GAP; n++) {
		int64_t d = core_next_deadline(a->c);
		if (d > t || d == INT64_MAX || d < core_now(a->c))
			return;
		core_advance(a->c, d);
		assert(core_now(a->c) >= d);
		audit_cause k = { .at_ms = d, .who = "-", .method = "expire" };
		k.expired = expired_ones(a, names, sizeof(names));
		diff(a, &k);
		if (core_next_deadline(a->c) <= d)
			return; /* the rest count as expired already */
	}
}

static int on_record(void *ctx, uint64_t lsn, const journal_entry *e, char *why, size_t why_len)
{
	audit *a = ctx;
	if (e->now_ms > a->until) {
		expire_until(a, a->until);
		return 1;
	}
	expire_until(a, e->now_ms);
	core_result res;
	core_error err;
	if (history_apply(a->c, e, &res, &err) != 0) {
		snprintf(why, why_len, "record %" PRIu64 " does not apply: %s", lsn, err.message);
		return -1;
	}
	char who[JOURNAL_WHO_MAX + 1], rid[CORE_RESERVATION_ID_LEN + 1];
	snprintf(who, sizeof(who), "%.*s", (int)e->who.len, e->who.p ? e->who.p : "-");
	const char *method = journal_kind_name(e->kind);
	audit_cause k = { .at_ms = e->now_ms, .lsn = lsn, .who = who, .method = method ? method : "?" };
	const core_cmd *cmd = &e->cmd;
	const core_resv *r = NULL;
	if (e->kind == JOURNAL_KIND_STOCK_SET || e->kind == JOURNAL_KIND_STOCK_ADJUST ||
	    e->kind == JOURNAL_KIND_RESTOCK)
		k.reason = cmd->u.stock.reason;
	if (e->kind == JOURNAL_KIND_RESERVE) {
		r = res.resv;
		if (r)
			track(a, r);
	} else if (e->kind >= JOURNAL_KIND_COMMIT && e->kind <= JOURNAL_KIND_EXTEND) {
		core_error ferr;
		if (core_resv_find(a->c, cmd->u.resv.reservation_id, &r, &ferr) != 0)
			r = NULL;
	}
	core_resv_view v;
	if (r) {
		core_resv_view_get(a->c, r, &v);
		k.order_id = v.order_id;
		memcpy(rid, v.id, sizeof(rid));
		k.reservation_id = rid;
	}
	diff(a, &k);
	return 0;
}

static void audit_usage(FILE *out)
{
	fprintf(out,
	    "usage: allot audit --sku SKU [--location L] [--since T] [--until T] [--json]\n"
	    "                   (--redis URL [--namespace NS] | --dir DIR)\n"
	    "\n"
	    "Every change to the records of SKU (at L), oldest first: the time, who\n"
	    "(the token NAME), the method, each bucket before -> after, the reason\n"
	    "and the order or reservation. Expiries show as method \"expire\" at their\n"
	    "deadlines. T: ms since the epoch or an ISO 8601 UTC time. --json: one\n"
	    "JSON object a line.\n"
	    "\n" HU_SOURCE_HELP);
}

static int parse_args(int argc, char **argv, audit *a, hu_source *src)
{
	static const struct option longopts[] = {
		{ "sku", required_argument, NULL, 's' }, { "location", required_argument, NULL, 'l' },
		{ "since", required_argument, NULL, 'S' }, { "until", required_argument, NULL, 'U' },
		{ "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' },
		HU_SOURCE_OPTIONS, { NULL, 0, NULL, 0 },
	};
	static char prog[] = "allot audit";
	argv[0] = prog;
	optind = 0;
	int ch;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		int taken = hu_source_option(src, ch, optarg, prog);
		if (taken < 0)
			return -1;
		if (taken)
			continue;
		switch (ch) {
		case 's': a->sku = hu_str(optarg); break;
		case 'l': a->location = hu_str(optarg); break;
		case 'S':
		case 'U':
			if (hu_parse_time(optarg, ch == 'S' ? &a->since : &a->until) != 0) {
				fprintf(stderr, "%s: not a time: '%s'\n", prog, optarg);
				return -1;
			}
			break;
		case 'j': a->json = true; break;
		case 'h': audit_usage(stdout); exit(0);
		default: return -1;
		}
	}
	if (a->sku.p == NULL || !core_name_valid(a->sku, CORE_NAME_MAX) || optind < argc) {
		fprintf(stderr, "%s: give --sku SKU\n", prog);
		return -1;
	}
	return 0;
}

int audit_main(int argc, char **argv)
{
	static audit a;
	hu_source src = { 0 };
	a = (audit){ .since = INT64_MIN, .until = INT64_MAX };
	if (parse_args(argc, argv, &a, &src) != 0) {
		fprintf(stderr, "Try 'allot audit --help'.\n");
		return HU_EXIT_USAGE;
	}
	history *h = hu_open(&src, "allot audit");
	if (h == NULL)
		return HU_EXIT_DATA;
	a.tracked = calloc(AUDIT_TRACKED_MAX, sizeof(*a.tracked));
	core_config cfg;
	history_core_config(h, src.ttl_default_ms, &cfg);
	char why[512] = "out of memory";
	history_start start;
	int rc = a.tracked ? history_rebuild(h, a.since, &cfg, &a.c, &start, why, sizeof(why)) : -1;
	if (rc == 0) {
		audit_cause k = { .at_ms = INT64_MIN }; /* the start: nothing printed */
		diff(&a, &k);
		rc = history_records(h, start.lsn, on_record, &a, why, sizeof(why));
	}
	if (rc == 0 && a.until != INT64_MAX)
		expire_until(&a, a.until);
	if (rc != 0)
		fprintf(stderr, "allot audit: %s\n", why);
	core_destroy(a.c);
	free(a.tracked);
	history_close(h);
	return rc == 0 && fflush(stdout) == 0 ? HU_EXIT_OK : HU_EXIT_DATA;
}
