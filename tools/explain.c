/*
 * explain.c - `allot explain RESERVATION_ID`: the routing decision of a
 * past reserve, rebuilt from the history (see archive_tool.h).
 *
 * The history is replayed from its oldest start; each reserve is re-run
 * with explain on (which changes nothing: explain is not journaled), and
 * the one that makes the reservation is printed as reserve answered it,
 * explain included. The replayed allocation is then compared with the one
 * allotd recorded in the newest snapshot that holds the reservation.
 */
#include "archive_tool.h"

#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli_json.h"
#include "encode.h"
#include "history_util.h"

typedef struct explain {
	core_str id;
	core *c;
	json_t *reply;         /* the reply, explain included, once found */
	uint64_t lsn;
} explain;

/* MessagePack in b as JSON (NULL when it does not decode): liballot reads
 * it as a response's result, as it reads a reply, and the CLI's converter
 * turns that into JSON. */
static json_t *json_of_buf(const mp_buf *b)
{
	if (mp_buf_failed(b))
		return NULL;
	mp_buf msg;
	mp_buf_init(&msg);
	mp_write_array(&msg, 4);
	mp_write_uint(&msg, ALLOT_MSG_RESPONSE);
	mp_write_uint(&msg, 0);
	mp_write_nil(&msg);
	mp_write_raw(&msg, b->data, b->len);
	allot_reply *r = NULL;
	json_t *j = NULL;
	if (!mp_buf_failed(&msg) && allot_reply_parse(msg.data, msg.len, &r) == ALLOT_OK)
		j = cli_json_from_value(allot_reply_result(r));
	allot_reply_free(r);
	mp_buf_finish(&msg);
	return j;
}

static int on_record(void *ctx, uint64_t lsn, const journal_entry *e, char *why, size_t why_len)
{
	explain *x = ctx;
	journal_entry copy = *e;
	if (e->kind == JOURNAL_KIND_RESERVE)
		copy.cmd.u.reserve.explain = true; /* changes nothing: not journaled */
	core_result res;
	core_error err;
	if (history_apply(x->c, &copy, &res, &err) != 0) {
		snprintf(why, why_len, "record %" PRIu64 " does not apply: %s", lsn, err.message);
		return -1;
	}
	if (e->kind != JOURNAL_KIND_RESERVE || res.resv == NULL || res.replayed)
		return 0;
	core_resv_view v;
	core_resv_view_get(x->c, res.resv, &v);
	if (strlen(v.id) != x->id.len || memcmp(v.id, x->id.p, x->id.len) != 0)
		return 0;
	mp_buf b;
	mp_buf_init(&b);
	encode_reservation_head(&b, x->c, res.resv, true, true);
	encode_explain(&b, x->c, &copy.cmd.u.reserve);
	x->reply = json_of_buf(&b);
	mp_buf_finish(&b);
	x->lsn = lsn;
	return 1;
}

/* The reservation as the newest snapshot holding it recorded it (the
 * reply reserve gave), or NULL. */
static json_t *recorded_reply(history *h, const core_config *cfg, core_str id)
{
	core *c = NULL;
	history_start start;
	char why[256];
	if (history_rebuild(h, INT64_MAX, cfg, &c, &start, why, sizeof(why)) != 0)
		return NULL;
	const core_resv *r;
	core_error err;
	json_t *j = NULL;
	if (core_resv_find(c, id, &r, &err) == 0) {
		mp_buf b;
		mp_buf_init(&b);
		encode_reservation(&b, c, r, true);
		j = json_of_buf(&b);
		mp_buf_finish(&b);
	}
	core_destroy(c);
	return j;
}

static int explain_run(history *h, const hu_source *src, explain *x)
{
	core_config cfg;
	history_core_config(h, src->ttl_default_ms, &cfg);
	char why[512];
	history_start start;
	const core_resv *r;
	core_error err;
	if (history_rebuild(h, INT64_MIN, &cfg, &x->c, &start, why, sizeof(why)) != 0 ||
	    history_records(h, start.lsn, on_record, x, why, sizeof(why)) != 0) {
		fprintf(stderr, "allot explain: %s\n", why);
		return HU_EXIT_DATA;
	}
	if (x->reply == NULL) {
		bool before = core_resv_find(x->c, x->id, &r, &err) == 0;
		fprintf(stderr, "allot explain: no reserve in the history kept made %.*s%s\n",
		    (int)x->id.len, x->id.p, before ? " (it was made before the history kept begins)" : "");
		return HU_EXIT_DATA;
	}
	json_dumpf(x->reply, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
	putchar('\n');
	json_t *rec = recorded_reply(h, &cfg, x->id);
	json_t *mine = json_object_get(x->reply, "lines"), *theirs = rec ? json_object_get(rec, "lines") : NULL;
	bool differs = theirs && !json_equal(mine, theirs);
	if (theirs == NULL)
		fprintf(stderr, "allot explain: no snapshot taken since holds %.*s to compare the replayed "
		    "allocation with\n", (int)x->id.len, x->id.p);
	else if (differs)
		fprintf(stderr, "allot explain: the replayed allocation DIFFERS from the recorded one, "
		    "which is:\n");
	if (differs)
		json_dumpf(theirs, stderr, JSON_COMPACT);
	else
		fprintf(stderr, "allot explain: the replayed allocation equals the recorded one\n");
	json_decref(rec);
	return differs ? HU_EXIT_DATA : HU_EXIT_OK;
}

int explain_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, HU_SOURCE_OPTIONS, { NULL, 0, NULL, 0 },
	};
	static char prog[] = "allot explain";
	argv[0] = prog;
	optind = 0;
	hu_source src = { 0 };
	int ch;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		int taken = hu_source_option(&src, ch, optarg, prog);
		if (ch == 'h') {
			printf("usage: allot explain RESERVATION_ID (--dir DIR | --redis URL [--namespace NS])\n\n"
			    "Replay the history up to the reserve that made RESERVATION_ID and print\n"
			    "its reply with explain, as `explain: true` gave it; say whether the\n"
			    "replayed allocation equals the one allotd recorded.\n\n" HU_SOURCE_HELP);
			return HU_EXIT_OK;
		}
		if (taken <= 0)
			return HU_EXIT_USAGE;
	}
	if (optind + 1 != argc || strlen(argv[optind]) != CORE_RESERVATION_ID_LEN) {
		fprintf(stderr, "%s: give one RESERVATION_ID (r-...)\nTry 'allot explain --help'.\n", prog);
		return HU_EXIT_USAGE;
	}
	explain x = { .id = hu_str(argv[optind]) };
	history *h = hu_open(&src, prog);
	if (h == NULL)
		return HU_EXIT_DATA;
	int status = explain_run(h, &src, &x);
	json_decref(x.reply);
	core_destroy(x.c);
	history_close(h);
	return status;
}
