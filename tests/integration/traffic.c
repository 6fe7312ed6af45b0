/*
 * traffic.c - the crash tests' traffic and its model (traffic.h).
 */
#include "traffic.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allot/protocol.h"
#include "harness.h"

const char *const traffic_locs[NLOC] = { "W1", "W2" };
const char *const traffic_status_names[4] = { "held", "committed",
	"released", "fulfilled" };
const char *const traffic_op_names[6] = { "stock.set", "stock.adjust",
	"reserve", "commit", "release", "fulfill" };

/* ---- randomness, names ---- */

uint64_t traffic_splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A number in [0, n). */
int traffic_rnd(uint64_t *s, int n)
{
	return (int)(traffic_splitmix(s) % (uint64_t)n);
}

void traffic_rec_sku(const world *w, int thread, int k, char *buf, size_t len)
{
	snprintf(buf, len, "%s-a%d-%d", w->tag, thread, k);
}

void traffic_world_init(world *w, const char *tag)
{
	snprintf(w->tag, sizeof(w->tag), "%s", tag);
	for (int k = 0; k < NRSKU; k++)
		snprintf(w->rsku[k], sizeof(w->rsku[k]), "%s-r%d", tag, k);
}

void traffic_workers_init(worker *ws, int n, const world *w, uint64_t seed)
{
	for (int t = 0; t < n; t++) {
		memset(&ws[t], 0, sizeof(ws[t]));
		ws[t].index = t;
		ws[t].w = w;
		ws[t].rng = seed ^ (0x51ed2700ULL * (uint64_t)(t + 1));
		ws[t].ops_max = OPS_MAX;
		for (int k = 0; k < NREC; k++)
			ws[t].rec_sent[k] = REC_INITIAL;
	}
}

/* ---- the model ---- */

static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return p;
	size_t c = *cap ? *cap : 256;
	while (c < need)
		c *= 2;
	void *n = realloc(p, c * size);
	if (n == NULL)
		abort();
	*cap = c;
	return n;
}

void traffic_worker_free(worker *w)
{
	free(w->ops);
	free(w->rs);
	free(w->live);
	memset(w, 0, sizeof(*w));
}

static void wfail(worker *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void wfail(worker *w, const char *fmt, ...)
{
	if (w->error[0] != '\0')
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->error, sizeof(w->error), fmt, ap);
	va_end(ap);
}

/* Take qty units off line i, worst-ranked allocation (the last) first. */
static void reduce(rstate *s, const resv *r, int i, int qty, bool fulfil)
{
	for (int j = r->nalloc[i]; j-- > 0 && qty > 0;) {
		int take = s->rem[i][j] < qty ? s->rem[i][j] : qty;
		s->rem[i][j] = (int16_t)(s->rem[i][j] - take);
		qty -= take;
		if (fulfil) {
			s->ful[i][j] = (int16_t)(s->ful[i][j] + take);
			s->fulfilled[i] = (int16_t)(s->fulfilled[i] + take);
		} else {
			s->released[i] = (int16_t)(s->released[i] + take);
		}
	}
}

static int line_rem(const rstate *s, const resv *r, int i)
{
	int n = 0;
	for (int j = 0; j < r->nalloc[i]; j++)
		n += s->rem[i][j];
	return n;
}

void traffic_resv_apply(rstate *s, const resv *r, const op *o)
{
	if (o->kind == OP_COMMIT) {
		s->status = ST_COMMITTED;
		return;
	}
	bool fulfil = o->kind == OP_FULFILL;
	if (o->a < 0) {
		for (int i = 0; i < r->nlines; i++)
			reduce(s, r, i, line_rem(s, r, i), fulfil);
	} else {
		reduce(s, r, o->a, o->b, fulfil);
	}
	bool left = false, fulfilled = false;
	for (int i = 0; i < r->nlines; i++) {
		left |= line_rem(s, r, i) > 0;
		fulfilled |= s->fulfilled[i] > 0;
	}
	if (!left)
		s->status = fulfilled ? ST_FULFILLED : ST_RELEASED;
}

/* The state of a fresh hold. */
static void rstate_init(rstate *s, const resv *r, int16_t q[2][NLOC])
{
	memset(s, 0, sizeof(*s));
	s->status = ST_HELD;
	for (int i = 0; i < r->nlines; i++)
		for (int j = 0; j < r->nalloc[i]; j++)
			s->rem[i][j] = q[i][j];
}

static void live_remove(worker *w, size_t k)
{
	w->live[k] = w->live[--w->nlive];
}

/* Choose the next request, update the model of what was sent, and return
 * its index. */
static size_t next_op(worker *w)
{
	w->ops = grow(w->ops, &w->ops_cap, w->nops + 1, sizeof(*w->ops));
	size_t i = w->nops++;
	op *o = &w->ops[i];
	memset(o, 0, sizeof(*o));
	o->applied = -1;
	o->msgid = ++w->next_msgid;
	if (o->msgid == 0)
		o->msgid = ++w->next_msgid;
	int dice = traffic_rnd(&w->rng, 100);

	if (dice < 15) {
		o->kind = OP_ADJUST;
		o->target = traffic_rnd(&w->rng, NREC);
		int d = 1 + traffic_rnd(&w->rng, 5);
		if (traffic_rnd(&w->rng, 2) && w->rec_sent[o->target] >= d)
			d = -d;
		o->a = d;
		w->rec_sent[o->target] += d;
		o->expect = w->rec_sent[o->target];
		return i;
	}
	if (dice < 20) {
		o->kind = OP_SET;
		o->target = traffic_rnd(&w->rng, NREC);
		o->a = 100 + traffic_rnd(&w->rng, 900);
		w->rec_sent[o->target] = o->a;
		o->expect = o->a;
		return i;
	}
	if (dice < 60 && w->nlive > 0) {
		size_t k = (size_t)traffic_rnd(&w->rng, (int)w->nlive);
		resv *r = &w->rs[w->live[k]];
		o->target = w->live[k];
		int choice = traffic_rnd(&w->rng, 4);
		if (r->sent.status == ST_HELD)
			o->kind = choice < 2 ? OP_COMMIT : OP_RELEASE;
		else
			o->kind = choice < 3 ? OP_FULFILL : OP_RELEASE;
		o->a = -1;
		if (o->kind != OP_COMMIT && traffic_rnd(&w->rng, 3) != 0) {
			/* by line: one line with units left */
			int l = traffic_rnd(&w->rng, r->nlines);
			if (line_rem(&r->sent, r, l) == 0)
				l = 1 - l;
			o->a = l;
			o->b = 1 + traffic_rnd(&w->rng, line_rem(&r->sent, r, l));
		}
		traffic_resv_apply(&r->sent, r, o);
		o->expect = r->sent.status;
		r->ops[r->nops++] = (int)i;
		bool finished = r->sent.status == ST_RELEASED ||
		    r->sent.status == ST_FULFILLED;
		if (finished || r->nops == MAX_RESV_OPS)
			live_remove(w, k);
		return i;
	}
	o->kind = OP_RESERVE;
	w->rs = grow(w->rs, &w->rs_cap, w->nrs + 1, sizeof(*w->rs));
	resv *r = &w->rs[w->nrs];
	memset(r, 0, sizeof(*r));
	r->reserve_op = (int)i;
	r->nlines = (uint8_t)(1 + traffic_rnd(&w->rng, 2));
	r->sku[0] = (uint8_t)traffic_rnd(&w->rng, NRSKU);
	r->sku[1] = (uint8_t)((r->sku[0] + 1 + traffic_rnd(&w->rng, NRSKU - 1)) % NRSKU);
	for (int l = 0; l < r->nlines; l++)
		r->qty[l] = (uint8_t)(1 + traffic_rnd(&w->rng, 3));
	o->target = (int32_t)w->nrs++;
	o->expect = ST_HELD;
	return i;
}

/* ---- requests ---- */

void traffic_write_op(wire_conn *c, const worker *w, size_t i, uint32_t msgid)
{
	const op *o = &w->ops[i];
	mp_buf *b = &c->out;
	char a[96], k[96];
	switch (o->kind) {
	case OP_SET:
	case OP_ADJUST: {
		bool adjust = o->kind == OP_ADJUST;
		traffic_rec_sku(w->w, w->index, o->target, a, sizeof(a));
		wire_request(c, msgid, traffic_op_names[o->kind]);
		mp_write_map(b, adjust ? 4 : 3);
		mp_write_lit(b, "sku");
		mp_write_cstr(b, a);
		mp_write_lit(b, "location");
		mp_write_lit(b, "W1");
		mp_write_cstr(b, adjust ? "delta" : "on_hand");
		mp_write_int(b, o->a);
		if (adjust) {
			snprintf(k, sizeof(k), "ak-%s-%d-%zu", w->w->tag, w->index, i);
			mp_write_lit(b, "idempotency_key");
			mp_write_cstr(b, k);
		}
		break;
	}
	case OP_RESERVE: {
		const resv *r = &w->rs[o->target];
		snprintf(a, sizeof(a), "o-%s-%d-%zu", w->w->tag, w->index, i);
		snprintf(k, sizeof(k), "rk-%s-%d-%zu", w->w->tag, w->index, i);
		wire_request(c, msgid, "reserve");
		mp_write_map(b, 4);
		mp_write_lit(b, "order_id");
		mp_write_cstr(b, a);
		mp_write_lit(b, "lines");
		mp_write_array(b, r->nlines);
		for (int l = 0; l < r->nlines; l++) {
			mp_write_map(b, 2);
			mp_write_lit(b, "sku");
			mp_write_cstr(b, w->w->rsku[r->sku[l]]);
			mp_write_lit(b, "qty");
			mp_write_int(b, r->qty[l]);
		}
		mp_write_lit(b, "ttl_ms");
		mp_write_int(b, TTL_MS);
		mp_write_lit(b, "idempotency_key");
		mp_write_cstr(b, k);
		break;
	}
	default: {
		const resv *r = &w->rs[o->target];
		bool by_line = o->kind != OP_COMMIT && o->a >= 0;
		wire_request(c, msgid, traffic_op_names[o->kind]);
		mp_write_map(b, by_line ? 2 : 1);
		mp_write_lit(b, "reservation_id");
		mp_write_cstr(b, r->id);
		if (by_line) {
			mp_write_lit(b, "lines");
			mp_write_array(b, 1);
			mp_write_map(b, 2);
			mp_write_lit(b, "sku");
			mp_write_cstr(b, w->w->rsku[r->sku[o->a]]);
			mp_write_lit(b, "qty");
			mp_write_int(b, o->b);
		}
		break;
	}
	}
}

/* ---- replies ---- */

/* Read line l of a reserve's result (at line) into r and q. */
static int take_line(worker *w, resv *r, int l, mp_cursor line,
    int16_t q[2][NLOC], uint32_t msgid)
{
	mp_cursor al;
	uint32_t na = 0;
	int64_t qty;
	if (!wire_get_is(line, "sku", w->w->rsku[r->sku[l]]) ||
	    !wire_get_int(line, "qty", &qty) || qty != r->qty[l] ||
	    !wire_get(line, "allocations", &al) || !mp_read_array(&al, &na) ||
	    na < 1 || na > NLOC) {
		wfail(w, "msgid %u (%s): line %d is not %s x%d with 1 or 2 "
		    "allocations", msgid, r->id, l, w->w->rsku[r->sku[l]],
		    r->qty[l]);
		return -1;
	}
	r->nalloc[l] = (uint8_t)na;
	int64_t sum = 0;
	for (uint32_t j = 0; j < na; j++) {
		int loc = -1;
		for (int k = 0; k < NLOC; k++)
			if (wire_get_is(al, "location", traffic_locs[k]))
				loc = k;
		int64_t aq;
		if (loc < 0 || !wire_get_int(al, "qty", &aq) || aq < 1 ||
		    !mp_skip(&al)) {
			wfail(w, "msgid %u (%s): a bad allocation", msgid, r->id);
			return -1;
		}
		r->aloc[l][j] = (uint8_t)loc;
		q[l][j] = (int16_t)aq;
		sum += aq;
	}
	if (sum != qty) {
		wfail(w, "msgid %u (%s): line %d allocates %lld of %lld", msgid,
		    r->id, l, (long long)sum, (long long)qty);
		return -1;
	}
	return 0;
}

int traffic_take_reservation(worker *w, resv *r, mp_cursor res,
    uint32_t msgid)
{
	char id[RES_ID_MAX];
	int64_t exp;
	mp_cursor lines;
	uint32_t nl = 0;
	if (!wire_get_text(res, "reservation_id", id, sizeof(id)) ||
	    id[0] == '\0' || !wire_get_is(res, "status", "held") ||
	    !wire_get_int(res, "expires_at", &exp) ||
	    !wire_get(res, "lines", &lines) || !mp_read_array(&lines, &nl) ||
	    nl != r->nlines) {
		wfail(w, "msgid %u: the reserve reply is not a hold of %d lines",
		    msgid, r->nlines);
		return -1;
	}
	memcpy(r->id, id, sizeof(r->id));
	r->expires_at = exp;
	int16_t q[2][NLOC] = { { 0 } };
	for (int l = 0; l < r->nlines; l++) {
		if (take_line(w, r, l, lines, q, msgid) != 0)
			return -1;
		mp_skip(&lines);
	}
	rstate_init(&r->orig, r, q);
	r->sent = r->orig;
	return 0;
}

/* An error reply to request i: an outcome while Redis is away (lenient),
 * else a failure. */
static int take_error(worker *w, size_t i, const wire_reply *rep)
{
	op *p = &w->ops[i];
	char code[64], msg[256];
	wire_error_code(rep, code, sizeof(code));
	if (!wire_get_text(rep->error, "message", msg, sizeof(msg)))
		snprintf(msg, sizeof(msg), "?");
	bool unavailable = strcmp(code, ALLOT_ERR_UNAVAILABLE) == 0;
	if (w->lenient && (unavailable || w->refused_seen)) {
		/* Refused: it changed nothing. Requests sent after it assumed
		 * it succeeded, so they may fail otherwise. */
		p->refused = true;
		p->applied = 0;
		w->refused_seen = true;
		if (unavailable)
			w->unavailable++;
		else
			w->other_errors++;
		return 0;
	}
	wfail(w, "request %zu (%s, msgid %u) answered %s: %s", i,
	    traffic_op_names[p->kind], p->msgid, code, msg);
	return -1;
}

/* A stock.set or stock.adjust reply: on_hand as the model says. */
static int take_stock(worker *w, op *p, mp_cursor res)
{
	int64_t on_hand, version;
	if (!wire_get_int(res, "on_hand", &on_hand) ||
	    !wire_get_int(res, "version", &version)) {
		wfail(w, "msgid %u: %s reply without on_hand/version", p->msgid,
		    traffic_op_names[p->kind]);
		return -1;
	}
	if (on_hand != p->expect && !w->refused_seen) {
		wfail(w, "msgid %u: %s answered on_hand %lld, expected %lld",
		    p->msgid, traffic_op_names[p->kind], (long long)on_hand,
		    (long long)p->expect);
		return -1;
	}
	p->reply_on_hand = on_hand;
	p->reply_version = version;
	return 0;
}

/* Check the reply to request i (a response with the right msgid). */
static int take_reply(worker *w, size_t i, const wire_reply *rep)
{
	op *p = &w->ops[i];
	if (rep->msgid != p->msgid) {
		wfail(w, "reply to msgid %u, expected %u (%s)", rep->msgid,
		    p->msgid, traffic_op_names[p->kind]);
		return -1;
	}
	if (rep->failed)
		return take_error(w, i, rep);
	if (p->kind == OP_SET || p->kind == OP_ADJUST) {
		if (take_stock(w, p, rep->result) != 0)
			return -1;
	} else if (p->kind == OP_RESERVE) {
		resv *r = &w->rs[p->target];
		if (traffic_take_reservation(w, r, rep->result, p->msgid) != 0)
			return -1;
		w->live = grow(w->live, &w->live_cap, w->nlive + 1,
		    sizeof(*w->live));
		w->live[w->nlive++] = p->target;
	} else {
		resv *r = &w->rs[p->target];
		if (!w->refused_seen && !wire_get_is(rep->result, "status",
		        traffic_status_names[p->expect])) {
			wfail(w, "msgid %u: %s of %s answered a status other than %s",
			    p->msgid, traffic_op_names[p->kind], r->id,
			    traffic_status_names[p->expect]);
			return -1;
		}
		r->nacked++;
	}
	p->acked = true;
	p->applied = 1;
	w->late_successes += w->refused_seen;
	return 0;
}

/* ---- a connection ---- */

void traffic_worker_run(worker *w)
{
	wire_conn c;
	w->head = w->nops;
	w->died = false;
	w->died_why[0] = '\0';
	size_t stop_at = w->nops + w->ops_max;
	if (wire_open(&c, w->port, CLIENT_TIMEOUT_MS) != 0) {
		w->died = true;
		snprintf(w->died_why, sizeof(w->died_why), "cannot connect");
		wire_close(&c);
		return;
	}
	int64_t drain_until = w->deadline + DRAIN_MS;
	for (;;) {
		/* Every request goes out in its own write so that connections
		 * interleave. */
		while (w->nops - w->head < WINDOW && w->nops < stop_at &&
		    harness_now_ms() < w->deadline && !w->refused_seen) {
			size_t i = next_op(w);
			traffic_write_op(&c, w, i, w->ops[i].msgid);
			if (wire_flush(&c, drain_until) != 0) {
				w->died = true;
				goto out;
			}
		}
		if (w->head == w->nops)
			break;
		wire_reply rep;
		int r = wire_reply_next(&c, drain_until, &rep);
		if (r == WIRE_TIMEOUT) {
			wfail(w, "no reply to msgid %u within %d ms of the end of "
			    "the traffic", w->ops[w->head].msgid, DRAIN_MS);
			break;
		}
		if (r == WIRE_CLOSED) {
			w->died = true;
			break;
		}
		if (r != WIRE_OK) {
			wfail(w, "%s", c.error);
			break;
		}
		if (take_reply(w, w->head, &rep) != 0)
			break;
		w->head++;
	}
out:
	if (w->died)
		snprintf(w->died_why, sizeof(w->died_why), "%.*s",
		    (int)sizeof(w->died_why) - 1, c.error);
	wire_close(&c);
}

void *traffic_worker_main(void *arg)
{
	worker *w = arg;
	pthread_barrier_wait(w->start);
	w->deadline = harness_now_ms() + TRAFFIC_MS;
	traffic_worker_run(w);
	return NULL;
}
