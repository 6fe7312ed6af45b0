/*
 * oracle.c - what allotd may hold after the crash tests' traffic, checked
 * against what it answers (oracle.h).
 */
#include "oracle.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allot/protocol.h"
#include "wire_client.h"

#define PIPE_CHUNK 256       /* verification requests in flight */

char oracle_ctx[160];

/* ---- calls ---- */

allot_client *oracle_client(const harness_server *s)
{
	char err[512];
	allot_client *c = harness_client(s, CLIENT_TIMEOUT_MS, err, sizeof(err));
	cr_assert_not_null(c, "%s: cannot connect to allotd: %s", oracle_ctx, err);
	return c;
}

static const char *show(json_t *v)
{
	static char buf[4][2048];
	static int at;
	char *b = buf[at++ % 4];
	char *t = v != NULL ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	snprintf(b, sizeof(buf[0]), "%s", t != NULL ? t : "(none)");
	free(t);
	return b;
}

/*
 * Call method with each of params[0..n) (stolen), PIPE_CHUNK at a time on
 * one connection; results[i] is the result (new reference) or NULL, and
 * errors[i] the error (new reference) or NULL.
 */
static void pipelined(allot_client *c, const char *method, size_t n,
    json_t **params, json_t **results, json_t **errors)
{
	char err[512];
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	allot_message m;
	allot_message_init(&m);
	uint32_t *ids = calloc(PIPE_CHUNK, sizeof(*ids));
	cr_assert_not_null(ids);
	for (size_t from = 0; from < n; from += PIPE_CHUNK) {
		size_t to = from + PIPE_CHUNK < n ? from + PIPE_CHUNK : n;
		for (size_t i = from; i < to; i++) {
			msgpack_sbuffer_clear(&sb);
			msgpack_pack_array(&pk, 1);
			int rc = allot_json_pack(&pk, params[i], err, sizeof(err));
			cr_assert_eq(rc, 0, "%s: packing %s: %s", oracle_ctx, method, err);
			json_decref(params[i]);
			params[i] = NULL;
			rc = allot_client_send_request(c, method, sb.data, sb.size,
			    &ids[i - from], err, sizeof(err));
			cr_assert_eq(rc, 0, "%s: sending %s: %s", oracle_ctx, method, err);
		}
		for (size_t i = from; i < to; i++) {
			int rc = allot_client_recv(c, &m, err, sizeof(err));
			cr_assert_eq(rc, 0, "%s: waiting for %s replies: %s", oracle_ctx,
			    method, err);
			cr_assert_eq(m.type, ALLOT_MSG_RESPONSE);
			cr_assert_eq(m.msgid, ids[i - from], "%s: %s reply to msgid "
			    "%u, expected %u", oracle_ctx, method, m.msgid, ids[i - from]);
			errors[i] = m.error.type == MSGPACK_OBJECT_NIL ? NULL :
			    allot_json_from_msgpack(&m.error);
			results[i] = m.error.type == MSGPACK_OBJECT_NIL ?
			    allot_json_from_msgpack(&m.result) : NULL;
		}
	}
	allot_message_clear(&m);
	free(ids);
	msgpack_sbuffer_destroy(&sb);
}

static json_t *call_ok(allot_client *c, const char *method, json_t *params)
{
	json_t *result = NULL, *error = NULL;
	pipelined(c, method, 1, &params, &result, &error);
	if (error != NULL)
		cr_assert_fail("%s: %s answered %s", oracle_ctx, method, show(error));
	return result;
}

static json_int_t int_at(json_t *o, const char *key, json_int_t absent)
{
	json_t *v = json_object_get(o, key);
	if (v == NULL || json_is_null(v))
		return absent;
	cr_assert(json_is_integer(v), "%s: \"%s\" is not an integer in %s", oracle_ctx,
	    key, show(o));
	return json_integer_value(v);
}

void oracle_stock_world(allot_client *c, const world *w)
{
	for (int k = 0; k < NRSKU; k++)
		for (int l = 0; l < NLOC; l++)
			json_decref(call_ok(c, "stock.set", json_pack(
			    "{s:s, s:s, s:i}", "sku", w->rsku[k], "location",
			    traffic_locs[l], "on_hand", l == 0 ? W1_STOCK : W2_STOCK)));
	for (int t = 0; t < NTHREADS; t++)
		for (int k = 0; k < NREC; k++) {
			char sku[96];
			traffic_rec_sku(w, t, k, sku, sizeof(sku));
			json_decref(call_ok(c, "stock.set", json_pack(
			    "{s:s, s:s, s:i}", "sku", sku, "location", "W1",
			    "on_hand", REC_INITIAL)));
		}
}

/* ---- reservations ---- */

/* reservation.get of every known reservation of ws, in the order the
 * workers and their reservations come. */
typedef struct fetched {
	size_t n;
	json_t **results, **errors;
} fetched;

static void fetch_reservations(allot_client *c, worker *ws, int nw,
    fetched *f)
{
	size_t n = 0;
	for (int t = 0; t < nw; t++)
		for (size_t k = 0; k < ws[t].nrs; k++)
			n += ws[t].rs[k].id[0] != '\0';
	json_t **params = calloc(n + 1, sizeof(*params));
	f->results = calloc(n + 1, sizeof(*f->results));
	f->errors = calloc(n + 1, sizeof(*f->errors));
	cr_assert(params && f->results && f->errors);
	size_t i = 0;
	for (int t = 0; t < nw; t++)
		for (size_t k = 0; k < ws[t].nrs; k++)
			if (ws[t].rs[k].id[0] != '\0')
				params[i++] = json_pack("{s:s}", "reservation_id",
				    ws[t].rs[k].id);
	pipelined(c, "reservation.get", n, params, f->results, f->errors);
	free(params);
	f->n = n;
}

/* Free the arrays (the values are the caller's). */
static void fetched_free(fetched *f)
{
	free(f->results);
	free(f->errors);
}

static bool resv_matches(const world *w, const resv *r, const rstate *s,
    json_t *got, char *why, size_t why_len)
{
	const char *status = json_string_value(json_object_get(got, "status"));
	if (status == NULL || strcmp(status, traffic_status_names[s->status]) != 0) {
		snprintf(why, why_len, "status %s, not %s", status ? status : "?",
		    traffic_status_names[s->status]);
		return false;
	}
	json_t *exp = json_object_get(got, "expires_at");
	if (s->status == ST_HELD ? !json_is_integer(exp) ||
	        json_integer_value(exp) != r->expires_at :
	        exp != NULL && !json_is_null(exp)) {
		snprintf(why, why_len, "expires_at %s", show(exp));
		return false;
	}
	json_t *lines = json_object_get(got, "lines");
	if (!json_is_array(lines) || json_array_size(lines) != r->nlines) {
		snprintf(why, why_len, "not %d lines", r->nlines);
		return false;
	}
	for (int l = 0; l < r->nlines; l++) {
		json_t *line = json_array_get(lines, (size_t)l);
		const char *sku = json_string_value(json_object_get(line, "sku"));
		if (sku == NULL || strcmp(sku, w->rsku[r->sku[l]]) != 0 ||
		    int_at(line, "qty", -1) != r->qty[l]) {
			snprintf(why, why_len, "line %d is not %s x%d", l,
			    w->rsku[r->sku[l]], r->qty[l]);
			return false;
		}
		if (int_at(line, "released", 0) != s->released[l] ||
		    int_at(line, "fulfilled", 0) != s->fulfilled[l]) {
			snprintf(why, why_len, "line %d released %lld fulfilled %lld, "
			    "not %d and %d", l,
			    (long long)int_at(line, "released", 0),
			    (long long)int_at(line, "fulfilled", 0),
			    s->released[l], s->fulfilled[l]);
			return false;
		}
		json_t *al = json_object_get(line, "allocations");
		if (!json_is_array(al) || json_array_size(al) != r->nalloc[l]) {
			snprintf(why, why_len, "line %d: not %d allocations", l,
			    r->nalloc[l]);
			return false;
		}
		for (int j = 0; j < r->nalloc[l]; j++) {
			json_t *a = json_array_get(al, (size_t)j);
			const char *loc = json_string_value(json_object_get(a,
			    "location"));
			if (loc == NULL || strcmp(loc, traffic_locs[r->aloc[l][j]]) != 0 ||
			    int_at(a, "qty", -1) != s->rem[l][j]) {
				snprintf(why, why_len, "line %d allocation %d is %s, "
				    "expected %s x%d", l, j, show(a),
				    traffic_locs[r->aloc[l][j]], s->rem[l][j]);
				return false;
			}
		}
	}
	return true;
}

static void describe_ops(const worker *w, const resv *r, char *buf,
    size_t len)
{
	size_t at = 0;
	buf[0] = '\0';
	for (int k = 0; k < r->nops && at < len; k++) {
		const op *o = &w->ops[r->ops[k]];
		int n = snprintf(buf + at, len - at, "%s%s", k ? ", " : "",
		    traffic_op_names[o->kind]);
		at += n > 0 ? (size_t)n : 0;
		if (o->kind != OP_COMMIT && at < len) {
			n = o->a < 0 ? snprintf(buf + at, len - at, " all") :
			    snprintf(buf + at, len - at, " line %d x%d", o->a, o->b);
			at += n > 0 ? (size_t)n : 0;
		}
		if (at < len) {
			n = snprintf(buf + at, len - at, "%s",
			    o->acked ? " (acknowledged)" : o->refused ? " (refused)" :
			    " (no reply)");
			at += n > 0 ? (size_t)n : 0;
		}
	}
}

/* The first of r's operations without a reply; replies come in order, so
 * all later ones have none either. */
static int first_unanswered(const worker *w, const resv *r)
{
	int p = 0;
	while (p < r->nops && (w->ops[r->ops[p]].acked || w->ops[r->ops[p]].refused))
		p++;
	return p;
}

/*
 * Reservation r of connection t reads as got: as after its answered
 * operations (the acknowledged ones applied, the refused ones not) and a
 * prefix of the unanswered ones. Record which, in r->found and in the
 * unanswered operations' applied.
 */
static void match_reservation(worker *w, int t, resv *r, json_t *got,
    json_t *error)
{
	char ops_text[512];
	describe_ops(w, r, ops_text, sizeof(ops_text));
	if (error != NULL)
		cr_assert_fail("%s: reservation %s (connection %d, acknowledged "
		    "reserve; then %s) answers %s", oracle_ctx, r->id, t,
		    r->nops ? ops_text : "nothing", show(error));
	int answered = first_unanswered(w, r), found = -1, applied = 0;
	char why[256] = "", first_why[256] = "";
	rstate cand = r->orig;
	for (int p = 0; p <= r->nops; p++) {
		const op *o = p > 0 ? &w->ops[r->ops[p - 1]] : NULL;
		if (o != NULL && !o->refused) {
			traffic_resv_apply(&cand, r, o);
			applied++;
		}
		if (p < answered)
			continue;
		if (resv_matches(w->w, r, &cand, got, why, sizeof(why))) {
			found = p;
			break;
		}
		if (first_why[0] == '\0')
			snprintf(first_why, sizeof(first_why), "%s", why);
	}
	if (found < 0)
		cr_assert_fail("%s: reservation %s (connection %d) reads %s; its "
		    "operations: reserve (acknowledged), %s; it matches no state "
		    "after the answered ones (%d) and a prefix of the rest (first "
		    "mismatch: %s)", oracle_ctx, r->id, t, show(got),
		    r->nops ? ops_text : "none", answered, first_why);
	r->found = cand;
	r->found_ops = applied;
	for (int p = answered; p < r->nops; p++)
		w->ops[r->ops[p]].applied = p < found;
}

/* Every known reservation, read back (match_reservation()). */
static void check_reservations(allot_client *c, worker *ws, int nw)
{
	fetched f;
	fetch_reservations(c, ws, nw, &f);
	size_t i = 0;
	for (int t = 0; t < nw; t++)
		for (size_t k = 0; k < ws[t].nrs; k++) {
			resv *r = &ws[t].rs[k];
			if (r->id[0] == '\0')
				continue;
			match_reservation(&ws[t], t, r, f.results[i], f.errors[i]);
			json_decref(f.results[i]);
			i++;
		}
	fetched_free(&f);
}

/* ---- records ---- */

/*
 * Owned record k of connection t: on_hand follows its answered sets and
 * adjusts (the acknowledged ones applied, the refused ones not) and a
 * prefix of the rest; nothing is ever reserved from it.
 */
static void check_owned_record(allot_client *c, worker *w, int t, int k)
{
	char sku[96];
	traffic_rec_sku(w->w, t, k, sku, sizeof(sku));
	json_t *recs = call_ok(c, "stock.get", json_pack("{s:s, s:s}", "sku",
	    sku, "location", "W1"));
	json_t *rec = json_array_get(recs, 0);
	cr_assert_not_null(rec, "%s: stock.get %s: %s", oracle_ctx, sku,
	    show(recs));
	json_int_t on_hand = int_at(rec, "on_hand", -1);
	cr_assert_eq(int_at(rec, "reserved", -1), 0);
	cr_assert_eq(int_at(rec, "committed", -1), 0);
	/* the record's requests, in order; the answered ones first */
	size_t *mine = malloc((w->nops + 1) * sizeof(*mine));
	cr_assert_not_null(mine);
	size_t m = 0, answered = 0, refused = 0;
	for (size_t i = 0; i < w->nops; i++) {
		const op *o = &w->ops[i];
		if ((o->kind == OP_SET || o->kind == OP_ADJUST) && o->target == k) {
			mine[m++] = i;
			answered += o->acked || o->refused;
			refused += o->refused;
		}
	}
	int64_t value = REC_INITIAL;
	int matches = 0, match_at = -1;
	char seq[512] = "";
	size_t at = 0;
	for (size_t p = 0; p <= m; p++) {
		const op *o = p > 0 ? &w->ops[mine[p - 1]] : NULL;
		if (o != NULL && !o->refused)
			value = o->kind == OP_SET ? o->a : value + o->a;
		if (p < answered)
			continue;
		if (at < sizeof(seq)) {
			int n = snprintf(seq + at, sizeof(seq) - at, "%s%lld",
			    p > answered ? ", " : "", (long long)value);
			at += n > 0 ? (size_t)n : 0;
		}
		if (value == on_hand) {
			matches++;
			match_at = (int)p;
		}
	}
	cr_assert_gt(matches, 0, "%s: %s@W1 has on_hand %lld; after its %zu "
	    "answered sets and adjusts (%zu of them refused) and a prefix of "
	    "the %zu others it would be one of: %s", oracle_ctx, sku,
	    (long long)on_hand, answered, refused, m - answered, seq);
	if (matches == 1)
		for (size_t p = answered; p < m; p++)
			w->ops[mine[p]].applied = (int)p < match_at;
	free(mine);
	json_decref(recs);
}

static void check_owned_records(allot_client *c, worker *ws, int nw)
{
	for (int t = 0; t < nw; t++)
		for (int k = 0; k < NREC; k++)
			check_owned_record(c, &ws[t], t, k);
}

/* Units per record of the reserved skus, from reservation states. */
typedef struct tally {
	int64_t held[NRSKU][NLOC], committed[NRSKU][NLOC], fulfilled[NRSKU][NLOC];
	int64_t unknown[NRSKU]; /* units of reserves never answered */
} tally;

static void tally_add(tally *y, const resv *r, const rstate *s)
{
	for (int l = 0; l < r->nlines; l++)
		for (int j = 0; j < r->nalloc[l]; j++) {
			int loc = r->aloc[l][j];
			if (s->status == ST_HELD)
				y->held[r->sku[l]][loc] += s->rem[l][j];
			else if (s->status == ST_COMMITTED)
				y->committed[r->sku[l]][loc] += s->rem[l][j];
			y->fulfilled[r->sku[l]][loc] += s->ful[l][j];
		}
}

static void tally_known(tally *y, worker *ws, int nw)
{
	memset(y, 0, sizeof(*y));
	for (int t = 0; t < nw; t++)
		for (size_t k = 0; k < ws[t].nrs; k++) {
			const resv *r = &ws[t].rs[k];
			if (r->id[0] != '\0') {
				tally_add(y, r, &r->found);
			} else {
				for (int l = 0; l < r->nlines; l++)
					y->unknown[r->sku[l]] += r->qty[l];
			}
		}
}

/*
 * The records of the reserved skus against the tally: committed and
 * on_hand exact; reserved exact when exact_reserved, else between the
 * known holds and those plus the unanswered reserves.
 */
static void check_reserved_records(allot_client *c, const world *w,
    const tally *y, bool exact_reserved)
{
	for (int k = 0; k < NRSKU; k++) {
		json_t *recs = call_ok(c, "stock.get", json_pack("{s:s}", "sku",
		    w->rsku[k]));
		cr_assert(json_is_array(recs) && json_array_size(recs) == NLOC,
		    "%s: stock.get %s: %s", oracle_ctx, w->rsku[k], show(recs));
		int64_t extra = 0;
		for (int l = 0; l < NLOC; l++) {
			json_t *rec = json_array_get(recs, (size_t)l);
			int64_t initial = l == 0 ? W1_STOCK : W2_STOCK;
			int64_t on_hand = int_at(rec, "on_hand", -1);
			int64_t reserved = int_at(rec, "reserved", -1);
			int64_t committed = int_at(rec, "committed", -1);
			cr_assert_eq(on_hand, initial - y->fulfilled[k][l], "%s: %s@%s "
			    "on_hand %lld; the reservations read back fulfilled "
			    "%lld of %lld there", oracle_ctx, w->rsku[k], traffic_locs[l],
			    (long long)on_hand, (long long)y->fulfilled[k][l],
			    (long long)initial);
			cr_assert_eq(committed, y->committed[k][l], "%s: %s@%s "
			    "committed %lld; the committed reservations read back "
			    "hold %lld there", oracle_ctx, w->rsku[k], traffic_locs[l],
			    (long long)committed, (long long)y->committed[k][l]);
			if (exact_reserved)
				cr_assert_eq(reserved, y->held[k][l], "%s: %s@%s "
				    "reserved %lld; the held reservations hold %lld "
				    "there", oracle_ctx, w->rsku[k], traffic_locs[l],
				    (long long)reserved, (long long)y->held[k][l]);
			else
				cr_assert_geq(reserved, y->held[k][l], "%s: %s@%s "
				    "reserved %lld, less than the %lld that the known "
				    "held reservations hold", oracle_ctx, w->rsku[k], traffic_locs[l],
				    (long long)reserved, (long long)y->held[k][l]);
			extra += reserved - y->held[k][l];
		}
		if (!exact_reserved)
			cr_assert_leq(extra, y->unknown[k], "%s: %s has %lld units "
			    "reserved beyond the known holds, but unanswered "
			    "reserves asked for only %lld", oracle_ctx, w->rsku[k],
			    (long long)extra, (long long)y->unknown[k]);
		json_decref(recs);
	}
}

/* ---- after a kill ---- */

/*
 * Retry every unanswered reserve with its idempotency key (the same
 * request, on a connection to port): the answer is the first hold if it
 * was journaled (its clock reading is from before the kill), else a new
 * one made now. Either way it is now known.
 */
static void retry_unanswered_reserves(int port, worker *ws, int nw,
    int64_t killed_at, int64_t ready_at, int *old_out, int *new_out)
{
	*old_out = *new_out = 0;
	wire_conn wc;
	cr_assert_eq(wire_open(&wc, port, CLIENT_TIMEOUT_MS), 0, "%s: %s",
	    oracle_ctx, wc.error);
	uint32_t msgid = 0;
	for (int t = 0; t < nw; t++) {
		worker *w = &ws[t];
		for (size_t k = 0; k < w->nrs; k++) {
			resv *r = &w->rs[k];
			if (r->id[0] != '\0')
				continue;
			size_t i = (size_t)r->reserve_op;
			char order[96], code[64];
			snprintf(order, sizeof(order), "o-%s-%d-%zu", w->w->tag, t, i);
			traffic_write_op(&wc, w, i, ++msgid);
			int64_t deadline = harness_now_ms() + CLIENT_TIMEOUT_MS;
			wire_reply rep;
			int rc = wire_flush(&wc, deadline);
			if (rc == 0)
				rc = wire_reply_to(&wc, msgid, deadline, &rep);
			cr_assert_eq(rc, 0, "%s: retried reserve %s: %s", oracle_ctx,
			    order, wc.error);
			wire_error_code(&rep, code, sizeof(code));
			cr_assert_str_empty(code, "%s: the retried reserve %s answered "
			    "%s", oracle_ctx, order, code);
			rc = traffic_take_reservation(w, r, rep.result, msgid);
			cr_assert_eq(rc, 0, "%s: retried reserve %s: %s", oracle_ctx,
			    order, w->error);
			int64_t ran_at = r->expires_at - TTL_MS;
			if (ran_at <= killed_at) {
				r->old = true;
				++*old_out;
			} else {
				cr_assert_geq(ran_at, ready_at, "%s: the retried reserve "
				    "%s ran at %lld, after the kill (%lld) and before "
				    "allotd was back (%lld)", oracle_ctx, order,
				    (long long)ran_at, (long long)killed_at,
				    (long long)ready_at);
				++*new_out;
			}
			w->ops[i].applied = r->old;
			r->retried = true;
			r->found = r->orig;
			r->found_ops = 0;
		}
	}
	wire_close(&wc);
}

/* Unanswered requests that took effect come before those that did not. */
static void check_prefix(worker *ws, int nw)
{
	for (int t = 0; t < nw; t++) {
		const worker *w = &ws[t];
		long last_no = -1;
		for (size_t i = w->head; i < w->nops; i++) {
			const op *o = &w->ops[i];
			if (o->applied == 0 && last_no < 0)
				last_no = (long)i;
			if (o->applied == 1 && last_no >= 0)
				cr_assert_fail("%s: connection %d: request %zu (%s, no "
				    "reply) took effect but the earlier request %ld "
				    "(%s, no reply) did not: the journal has a hole",
				    oracle_ctx, t, i, traffic_op_names[o->kind], last_no,
				    traffic_op_names[w->ops[last_no].kind]);
		}
	}
}

/*
 * A retry of the last acknowledged adjust of each record answers the first
 * reply and changes nothing.
 */
void oracle_check_adjust_retries(allot_client *c, worker *ws, int nw)
{
	for (int t = 0; t < nw; t++) {
		worker *w = &ws[t];
		for (int k = 0; k < NREC; k++) {
			long last = -1;
			for (size_t i = 0; i < w->head; i++)
				if (w->ops[i].kind == OP_ADJUST && w->ops[i].target == k &&
				    w->ops[i].acked)
					last = (long)i;
			if (last < 0)
				continue;
			const op *o = &w->ops[last];
			char sku[96], key[96];
			traffic_rec_sku(w->w, t, k, sku, sizeof(sku));
			snprintf(key, sizeof(key), "ak-%s-%d-%ld", w->w->tag, t, last);
			json_t *before = call_ok(c, "stock.get", json_pack(
			    "{s:s, s:s}", "sku", sku, "location", "W1"));
			json_t *again = call_ok(c, "stock.adjust", json_pack(
			    "{s:s, s:s, s:i, s:s}", "sku", sku, "location", "W1",
			    "delta", o->a, "idempotency_key", key));
			cr_assert(int_at(again, "on_hand", -1) == o->reply_on_hand &&
			    int_at(again, "version", -1) == o->reply_version,
			    "%s: adjust %s retried after the restart answered %s; "
			    "the first reply had on_hand %lld version %lld", oracle_ctx, key,
			    show(again), (long long)o->reply_on_hand,
			    (long long)o->reply_version);
			json_t *after = call_ok(c, "stock.get", json_pack(
			    "{s:s, s:s}", "sku", sku, "location", "W1"));
			cr_assert(json_equal(before, after), "%s: a retried adjust "
			    "changed %s: %s then %s", oracle_ctx, sku, show(before),
			    show(after));
			json_decref(before);
			json_decref(again);
			json_decref(after);
		}
	}
}

/* ---- whole states ---- */

json_t *oracle_capture(allot_client *c, const world *w, worker *ws, int nw)
{
	json_t *state = json_object();
	json_t *stock = json_object();
	for (int k = 0; k < NRSKU; k++)
		json_object_set_new(stock, w->rsku[k], call_ok(c, "stock.get",
		    json_pack("{s:s}", "sku", w->rsku[k])));
	for (int t = 0; t < nw; t++)
		for (int k = 0; k < NREC; k++) {
			char sku[96];
			traffic_rec_sku(w, t, k, sku, sizeof(sku));
			json_object_set_new(stock, sku, call_ok(c, "stock.get",
			    json_pack("{s:s}", "sku", sku)));
		}
	json_object_set_new(state, "stock", stock);
	fetched f;
	fetch_reservations(c, ws, nw, &f);
	json_t *by_id = json_object();
	size_t i = 0;
	for (int t = 0; t < nw; t++)
		for (size_t k = 0; k < ws[t].nrs; k++) {
			if (ws[t].rs[k].id[0] == '\0')
				continue;
			if (f.errors[i] != NULL)
				cr_assert_fail("%s: reservation.get %s: %s", oracle_ctx,
				    ws[t].rs[k].id, show(f.errors[i]));
			json_object_set_new(by_id, ws[t].rs[k].id, f.results[i]);
			i++;
		}
	json_object_set_new(state, "reservations", by_id);
	fetched_free(&f);
	return state;
}

void oracle_expect_same(json_t *before, json_t *after, const char *when)
{
	if (json_equal(before, after))
		return;
	const char *key;
	json_t *part;
	json_object_foreach(before, key, part) {
		const char *k2;
		json_t *v;
		json_t *other = json_object_get(after, key);
		json_object_foreach(part, k2, v) {
			json_t *v2 = json_object_get(other, k2);
			if (!json_equal(v, v2))
				cr_assert_fail("%s: after %s, %s %s reads %s; before "
				    "it read %s", oracle_ctx, when, key, k2, show(v2),
				    show(v));
		}
	}
	cr_assert_fail("%s: the state differs after %s", oracle_ctx, when);
}

void oracle_check_after_kill(allot_client *c, int port, worker *ws, int nw,
    const world *w, int64_t killed_at, int64_t ready_at, int *old_out,
    int *new_out)
{
	check_owned_records(c, ws, nw);
	check_reservations(c, ws, nw);
	tally y;
	tally_known(&y, ws, nw);
	check_reserved_records(c, w, &y, false);
	retry_unanswered_reserves(port, ws, nw, killed_at, ready_at, old_out,
	    new_out);
	tally_known(&y, ws, nw);
	check_reserved_records(c, w, &y, true);
	check_prefix(ws, nw);
	oracle_check_adjust_retries(c, ws, nw);
}

void oracle_check_exact(allot_client *c, worker *ws, int nw, const world *w)
{
	check_owned_records(c, ws, nw);
	check_reservations(c, ws, nw);
	tally y;
	tally_known(&y, ws, nw);
	check_reserved_records(c, w, &y, true);
}
