/*
 * model.c - the reference model of the core's seeded random walks, and
 * the comparison of the core with it (model.h).
 */
#include "model.h"

#include <stdlib.h>
#include <string.h>

#include "core_fixture.h"

const char *const m_sku_name[M_NAMES] = { "s0", "s1", "s2", "s3", "s4", "s5", "zz" };
/* Listed out of rank order: bytewise the rank is A, W, W10, W2. */
const char *const m_loc_name[M_LOCS] = { "W2", "W10", "A", "W" };
const char *const m_adj_key_name[M_KEYS] = { "a0", "a1", "a2", "a3", "a4", "a5" };
const char *const m_res_key_name[M_KEYS] = { "k0", "k1", "k2", "k3", "k4", "k5" };
const char *const m_reason[2] = { "", "cycle count" };
const char *const m_ref_name[M_REFS] = { "po-1", "po-2" };

uint64_t m_seed;
int m_step;
const char *m_op = "";

static int64_t m_avail(const m_rec *r)
{
	int64_t a = r->on_hand - r->reserved - r->committed - r->safety;
	return a > 0 ? a : 0;
}

void m_init(model *m)
{
	memset(m, 0, sizeof(*m));
	m->next_seq = 1;
	/* Rank by name, bytewise (strcmp puts a prefix first). */
	for (int i = 0; i < M_LOCS; i++)
		m->rank[i] = i;
	for (int i = 1; i < M_LOCS; i++)
		for (int j = i; j > 0 && strcmp(m_loc_name[m->rank[j]], m_loc_name[m->rank[j - 1]]) < 0; j--) {
			int t = m->rank[j];
			m->rank[j] = m->rank[j - 1];
			m->rank[j - 1] = t;
		}
	for (int i = 0; i < M_KEYS; i++)
		m->res[i].resv = -1;
}

void m_free(model *m)
{
	free(m->r);
	free(m->live);
}

static m_resv *m_new_resv(model *m)
{
	if (m->nr == m->capr) {
		m->capr = m->capr ? m->capr * 2 : 1024;
		m->r = realloc(m->r, (size_t)m->capr * sizeof(*m->r));
		m->live = realloc(m->live, (size_t)m->capr * sizeof(*m->live));
		cr_assert(m->r && m->live);
	}
	m_resv *r = &m->r[m->nr];
	memset(r, 0, sizeof(*r));
	r->key = -1;
	r->live_pos = m->nlive;
	m->live[m->nlive++] = m->nr;
	m->nr++;
	return r;
}

/* A reservation leaves held/committed; an expired hold finishes at its
 * deadline, whenever its expiry is processed. */
static void m_finish(model *m, m_resv *r, int status)
{
	r->status = status;
	r->finished_at = status == CORE_RESV_EXPIRED ? r->deadline : m->now;
	r->fin_order = ++m->fin_counter;
	int last = m->live[--m->nlive];
	m->live[r->live_pos] = last;
	m->r[last].live_pos = r->live_pos;
	r->live_pos = -1;
}

int64_t m_line_left(const m_line *l)
{
	int64_t n = 0;
	for (int j = 0; j < l->nallocs; j++)
		n += l->a[j].qty;
	return n;
}

/* ---- inbound entries ---- */

static int m_name_rank(const model *m, int loc)
{
	for (int k = 0; k < M_LOCS; k++)
		if (m->rank[k] == loc)
			return k;
	return -1;
}

static int m_entry_cmp(const model *m, const m_entry *a, const m_entry *b)
{
	if (a->eta != b->eta)
		return a->eta < b->eta ? -1 : 1;
	int ra = m_name_rank(m, a->loc), rb = m_name_rank(m, b->loc);
	if (ra != rb)
		return ra < rb ? -1 : 1;
	return a->ref - b->ref; /* none, "po-1", "po-2": bytewise too */
}

/* Backorders take units at loc: the earliest entries with units free. */
static void m_in_hold(model *m, int s, int loc, int64_t units)
{
	for (int i = 0; i < m->nin[s] && units > 0; i++) {
		m_entry *e = &m->in[s][i];
		int64_t t = e->loc == loc ? (e->qty - e->held < units ? e->qty - e->held : units) : 0;
		e->held += t;
		units -= t;
	}
	cr_assert_eq(units, 0, "model: backorders beyond the entries");
}

/* Units given back go to the latest entries. */
static void m_in_return(model *m, int s, int loc, int64_t units)
{
	for (int i = m->nin[s] - 1; i >= 0 && units > 0; i--) {
		m_entry *e = &m->in[s][i];
		int64_t t = e->loc == loc ? (e->held < units ? e->held : units) : 0;
		e->held -= t;
		units -= t;
	}
	cr_assert_eq(units, 0, "model: units given back beyond the entries");
}

/* Entries used up (qty 0) are gone. */
static void m_in_compact(model *m, int s)
{
	int k = 0;
	for (int i = 0; i < m->nin[s]; i++)
		if (m->in[s][i].qty > 0)
			m->in[s][k++] = m->in[s][i];
	m->nin[s] = k;
}

/* Backorders shipped leave the earliest entries with them. */
static void m_in_ship(model *m, int s, int loc, int64_t units)
{
	for (int i = 0; i < m->nin[s] && units > 0; i++) {
		m_entry *e = &m->in[s][i];
		int64_t t = e->loc == loc ? (e->held < units ? e->held : units) : 0;
		e->held -= t;
		e->qty -= t;
		m->rec[s][loc].incoming -= t;
		units -= t;
	}
	cr_assert_eq(units, 0, "model: units shipped beyond the entries");
	m_in_compact(m, s);
}

static bool m_loc_exists(const model *m, int loc)
{
	for (int s = 0; s < M_SKUS; s++)
		if (m->rec[s][loc].exists)
			return true;
	return false;
}

static void m_expire(model *m, m_resv *r)
{
	for (int i = 0; i < r->nlines; i++)
		for (int j = 0; j < r->l[i].nallocs; j++) {
			m_alloc *a = &r->l[i].a[j];
			if (a->qty == 0)
				continue;
			if (a->bo) {
				m_in_return(m, r->l[i].sku, a->loc, a->qty);
				continue;
			}
			m_rec *rec = &m->rec[r->l[i].sku][a->loc];
			rec->reserved -= a->qty;
			rec->version++;
		}
	m_finish(m, r, CORE_RESV_EXPIRED);
	m->expired_total++;
}

static bool m_due_before(const model *m, int a, int b)
{
	const m_resv *x = &m->r[a], *y = &m->r[b];
	if (x->deadline != y->deadline)
		return x->deadline < y->deadline;
	return x->seq < y->seq;
}

/* Expire at most budget due holds, by (deadline, id); their indices go to
 * out (if given). Returns how many. */
static int m_expire_due(model *m, uint32_t budget, int *out)
{
	int due[4096], n = 0;
	for (int i = 0; i < m->nlive; i++) {
		const m_resv *r = &m->r[m->live[i]];
		if (r->status == CORE_RESV_HELD && r->deadline <= m->now) {
			cr_assert_lt(n, 4096);
			due[n++] = m->live[i];
		}
	}
	for (int i = 1; i < n; i++) /* insertion sort: few are due at once */
		for (int j = i; j > 0 && m_due_before(m, due[j], due[j - 1]); j--) {
			int t = due[j];
			due[j] = due[j - 1];
			due[j - 1] = t;
		}
	if ((uint32_t)n > budget)
		n = (int)budget;
	for (int i = 0; i < n; i++) {
		m_expire(m, &m->r[due[i]]);
		if (out)
			out[i] = due[i];
	}
	return n;
}

int m_advance(model *m, int64_t now, int *out)
{
	if (now > m->now)
		m->now = now;
	return m_expire_due(m, UINT32_MAX, out);
}

/* core_sweep: expire, then forget finished reservations (oldest finished
 * first), then adjust keys (oldest first), budget items in all. */
uint32_t m_sweep(model *m, int64_t now, uint32_t budget)
{
	if (now > m->now)
		m->now = now;
	uint32_t done_n = (uint32_t)m_expire_due(m, budget, NULL);
	while (done_n < budget) {
		m_resv *oldest = NULL;
		for (int i = 0; i < m->nr; i++) {
			m_resv *r = &m->r[i];
			if (r->forgotten || r->live_pos >= 0)
				continue;
			if (oldest == NULL || r->fin_order < oldest->fin_order)
				oldest = r;
		}
		if (oldest == NULL || oldest->finished_at + M_RETAIN > m->now)
			break;
		oldest->forgotten = true;
		if (oldest->key >= 0) {
			m->res[oldest->key].used = false;
			m->res[oldest->key].resv = -1;
		}
		done_n++;
	}
	while (done_n < budget) {
		m_adj_key *oldest = NULL;
		for (int k = 0; k < M_KEYS; k++)
			if (m->adj[k].used && (oldest == NULL || m->adj[k].order < oldest->order))
				oldest = &m->adj[k];
		if (oldest == NULL || oldest->created + M_RETAIN > m->now)
			break;
		oldest->used = false;
		done_n++;
	}
	return done_n;
}

/* ---- model commands ---- */

int m_stock(model *m, core_cmd_type type, int sku, int loc, int64_t on_hand,
    int64_t safety, int64_t if_version, int64_t delta, int key, int reason, m_out *o)
{
	m_rec *rec = &m->rec[sku][loc];
	o->sku = sku;
	o->loc = loc;
	if (type == CORE_CMD_STOCK_ADJUST && key >= 0 && m->adj[key].used) {
		const m_adj_key *k = &m->adj[key];
		if (k->sku != sku || k->loc != loc || k->delta != delta || k->reason != reason ||
		    k->if_version != (if_version >= 0 ? if_version : -1))
			return o->rc = CORE_E_CONFLICT;
		o->replayed = true;
		o->reply = k->reply;
		return o->rc = CORE_OK;
	}
	int64_t have = rec->exists ? rec->on_hand : 0, next;
	if (type == CORE_CMD_STOCK_SET) {
		if (on_hand < 0 || on_hand > CORE_QTY_MAX || safety < -1 || safety > CORE_QTY_MAX)
			return o->rc = CORE_E_BAD_REQUEST;
		uint64_t version = rec->exists ? rec->version : 0;
		if (if_version >= 0 && (uint64_t)if_version != version) {
			o->err_version = version;
			return o->rc = CORE_E_CONFLICT;
		}
		next = on_hand;
	} else {
		uint64_t version = rec->exists ? rec->version : 0;
		if (type == CORE_CMD_STOCK_ADJUST && if_version >= 0 && (uint64_t)if_version != version) {
			o->err_version = version;
			return o->rc = CORE_E_CONFLICT;
		}
		int64_t lo = type == CORE_CMD_RESTOCK ? 1 : -CORE_QTY_MAX;
		if (delta < lo || delta > CORE_QTY_MAX)
			return o->rc = CORE_E_BAD_REQUEST;
		next = have + delta;
		if (next < 0 || next > CORE_QTY_MAX)
			return o->rc = CORE_E_BAD_REQUEST;
	}
	if (!rec->exists)
		*rec = (m_rec){ .exists = true, .incoming = rec->incoming };
	m->sku_made[sku] = true;
	rec->on_hand = next;
	if (type == CORE_CMD_STOCK_SET && safety >= 0)
		rec->safety = safety;
	rec->version++;
	o->reply = *rec;
	if (type == CORE_CMD_STOCK_ADJUST && key >= 0)
		m->adj[key] = (m_adj_key){ true, sku, loc, reason, delta, if_version >= 0 ? if_version : -1, *rec,
			m->now, ++m->key_counter };
	return o->rc = CORE_OK;
}

/* The plan, by the rule: the best-ranked location that covers every line
 * whole holds everything; otherwise each line takes from its sku's
 * locations in rank order. Lines of unknown skus find nothing. */
typedef struct m_plan {
	int nallocs[M_LINES_MAX + 1];
	m_alloc a[M_LINES_MAX + 1][2 * M_LOCS];
	int64_t held[M_LINES_MAX + 1];
	int64_t units;
	int nshort;
} m_plan;

static const m_rec *m_rec_of(const model *m, int sku, int loc)
{
	if (sku >= M_SKUS || !m->rec[sku][loc].exists)
		return NULL;
	return &m->rec[sku][loc];
}

/* True when set a beats set b of the same size: compared in rank order,
 * best first (bit k is the location ranked k). */
static bool m_set_before(unsigned a, unsigned b)
{
	for (int k = 0; k < M_LOCS; k++)
		if (((a ^ b) >> k) & 1)
			return (a >> k) & 1;
	return false;
}

/* The planner's rule by brute force over every set of locations: the most
 * units held, then the fewest locations, then the best-ranked set; each
 * line then draws from the set in rank order. */
static void m_plan_make(const model *m, const int *sku, const int64_t *qty, int n, m_plan *p)
{
	memset(p, 0, sizeof(*p));
	unsigned best = 0;
	int64_t best_units = -1;
	for (unsigned set = 0; set < (1u << M_LOCS); set++) {
		int64_t units = 0;
		bool useless = false;
		for (int k = 0; k < M_LOCS; k++) {
			if (!((set >> k) & 1))
				continue;
			int64_t offers = 0; /* a location without stock is not usable */
			for (int i = 0; i < n; i++) {
				const m_rec *rec = m_rec_of(m, sku[i], m->rank[k]);
				offers += rec ? m_avail(rec) : 0;
			}
			useless |= offers == 0;
		}
		if (useless)
			continue;
		for (int i = 0; i < n; i++) {
			int64_t sum = 0;
			for (int k = 0; k < M_LOCS; k++) {
				const m_rec *rec = (set >> k) & 1 ? m_rec_of(m, sku[i], m->rank[k]) : NULL;
				sum += rec ? m_avail(rec) : 0;
			}
			units += sum < qty[i] ? sum : qty[i];
		}
		int size = __builtin_popcount(set), best_size = __builtin_popcount(best);
		if (units > best_units || (units == best_units && (size < best_size ||
		    (size == best_size && m_set_before(set, best))))) {
			best = set;
			best_units = units;
		}
	}
	for (int i = 0; i < n; i++) {
		int64_t need = qty[i];
		for (int k = 0; k < M_LOCS && need > 0; k++) {
			int loc = m->rank[k];
			const m_rec *rec = m_rec_of(m, sku[i], loc);
			if (rec == NULL || !((best >> k) & 1))
				continue;
			int64_t take = m_avail(rec) < need ? m_avail(rec) : need;
			if (take == 0)
				continue;
			p->a[i][p->nallocs[i]++] = (m_alloc){ loc, take, take, false };
			need -= take;
		}
		p->held[i] = qty[i] - need;
		p->units += p->held[i];
		if (need > 0)
			p->nshort++;
	}
}

/* What line i still lacks, held against its sku's entries, earliest first:
 * one backorder per location, in the order the locations are first met. */
static void m_plan_backorders(const model *m, int i, int sku, int64_t qty, m_plan *p)
{
	int64_t need = qty - p->held[i];
	if (need <= 0 || sku >= M_SKUS || !m->sku_made[sku])
		return;
	int first = p->nallocs[i];
	for (int k = 0; k < m->nin[sku] && need > 0; k++) {
		const m_entry *e = &m->in[sku][k];
		int64_t t = e->qty - e->held < need ? e->qty - e->held : need;
		if (t <= 0)
			continue;
		int j = first;
		while (j < p->nallocs[i] && p->a[i][j].loc != e->loc)
			j++;
		if (j == p->nallocs[i])
			p->a[i][p->nallocs[i]++] = (m_alloc){ e->loc, 0, 0, true };
		p->a[i][j].qty += t;
		p->a[i][j].orig += t;
		need -= t;
		p->held[i] += t;
		p->units += t;
	}
	if (p->held[i] == qty)
		p->nshort--;
}

int m_reserve(model *m, const char *order, const int *sku, const int64_t *qty, int n,
    int64_t ttl, bool partial, bool backorder, int key, m_out *o)
{
	if (n == 0)
		return o->rc = CORE_E_BAD_REQUEST;
	if (n > M_LINES_MAX)
		return o->rc = CORE_E_TOO_LARGE;
	if (ttl == -1)
		ttl = M_TTL_DEFAULT;
	if (ttl < 1 || ttl > M_TTL_MAX)
		return o->rc = CORE_E_BAD_REQUEST;
	for (int i = 0; i < n; i++) {
		if (qty[i] < 1 || qty[i] > CORE_QTY_MAX)
			return o->rc = CORE_E_BAD_REQUEST;
		for (int j = 0; j < i; j++)
			if (sku[j] == sku[i])
				return o->rc = CORE_E_BAD_REQUEST;
	}
	if (key >= 0 && m->res[key].used) {
		const m_res_key *k = &m->res[key];
		bool same = strcmp(k->order, order) == 0 && k->nlines == n && k->ttl == ttl &&
		    k->partial == partial && k->backorder == backorder;
		for (int i = 0; i < n && same; i++)
			same = k->sku[i] == sku[i] && k->qty[i] == qty[i];
		if (!same)
			return o->rc = CORE_E_CONFLICT;
		o->replayed = true;
		o->resv = k->resv;
		return o->rc = CORE_OK;
	}
	m_plan p;
	m_plan_make(m, sku, qty, n, &p);
	for (int i = 0; i < n && backorder; i++)
		m_plan_backorders(m, i, sku[i], qty[i], &p);
	if (p.nshort && (!partial || p.units == 0)) {
		for (int i = 0; i < n; i++)
			if (p.held[i] < qty[i]) {
				o->short_sku[o->nshort] = sku[i];
				o->short_req[o->nshort] = qty[i];
				o->short_avail[o->nshort] = p.held[i];
				o->nshort++;
			}
		return o->rc = CORE_E_OUT_OF_STOCK;
	}
	m_resv *r = m_new_resv(m);
	r->seq = m->next_seq++;
	snprintf(r->order, sizeof(r->order), "%s", order);
	r->status = CORE_RESV_HELD;
	r->deadline = r->orig_deadline = m->now + ttl;
	r->finished_at = -1;
	r->nlines = n;
	for (int i = 0; i < n; i++) {
		m_line *l = &r->l[i];
		*l = (m_line){ .sku = sku[i], .qty = qty[i], .nallocs = p.nallocs[i] };
		for (int j = 0; j < p.nallocs[i]; j++) {
			l->a[j] = p.a[i][j];
			if (l->a[j].bo) {
				m_in_hold(m, sku[i], l->a[j].loc, l->a[j].qty);
				continue;
			}
			m_rec *rec = &m->rec[sku[i]][l->a[j].loc];
			rec->reserved += l->a[j].qty;
			rec->version++;
		}
	}
	if (key >= 0) {
		m_res_key *k = &m->res[key];
		*k = (m_res_key){ .used = true, .resv = m->nr - 1, .nlines = n, .ttl = ttl,
			.partial = partial, .backorder = backorder };
		snprintf(k->order, sizeof(k->order), "%s", order);
		for (int i = 0; i < n; i++) {
			k->sku[i] = sku[i];
			k->qty[i] = qty[i];
		}
		r->key = key;
	}
	o->resv = m->nr - 1;
	return o->rc = CORE_OK;
}

/* idx < 0: an id the core never made. */
m_resv *m_lookup(model *m, int idx)
{
	return (idx >= 0 && !m->r[idx].forgotten) ? &m->r[idx] : NULL;
}

int m_commit(model *m, int idx, m_out *o)
{
	m_resv *r = m_lookup(m, idx);
	o->resv = idx;
	if (r == NULL)
		return o->rc = CORE_E_NOT_FOUND;
	if (r->status == CORE_RESV_COMMITTED)
		return o->rc = CORE_OK;
	if (r->status != CORE_RESV_HELD)
		return o->rc = CORE_E_INVALID_STATE;
	for (int i = 0; i < r->nlines; i++)
		for (int j = 0; j < r->l[i].nallocs; j++) {
			const m_alloc *a = &r->l[i].a[j];
			if (a->qty == 0 || a->bo) /* backorders stay held against the entries */
				continue;
			m_rec *rec = &m->rec[r->l[i].sku][a->loc];
			rec->reserved -= a->qty;
			rec->committed += a->qty;
			rec->version++;
		}
	r->status = CORE_RESV_COMMITTED;
	return o->rc = CORE_OK;
}

/* Take qty off a line, worst-ranked allocation first (allocations are in
 * rank order, backorders last): released backorders go back to the
 * entries; fulfilled units ship from on hand first, which never goes below
 * 0, then from the entries. */
static void m_line_take(model *m, m_resv *r, m_line *l, int64_t qty, bool fulfil)
{
	for (int pass = 0; pass < 2 && qty > 0; pass++)
	for (int j = l->nallocs - 1; j >= 0 && qty > 0; j--) {
		m_alloc *a = &l->a[j];
		int64_t take = a->qty < qty ? a->qty : qty;
		if (take == 0 || (fulfil && a->bo != (pass == 1)) || (!fulfil && pass == 1))
			continue;
		if (a->bo) {
			if (fulfil)
				m_in_ship(m, l->sku, a->loc, take);
			else
				m_in_return(m, l->sku, a->loc, take);
			a->qty -= take;
			qty -= take;
			*(fulfil ? &l->fulfilled : &l->released) += take;
			continue;
		}
		m_rec *rec = &m->rec[l->sku][a->loc];
		if (r->status == CORE_RESV_HELD) {
			rec->reserved -= take;
		} else {
			rec->committed -= take;
			if (fulfil)
				rec->on_hand = rec->on_hand > take ? rec->on_hand - take : 0;
		}
		rec->version++;
		a->qty -= take;
		qty -= take;
		if (fulfil)
			l->fulfilled += take;
		else
			l->released += take;
	}
	cr_assert_eq(qty, 0);
}

/* lines NULL: the whole reservation. */
int m_release_fulfill(model *m, int idx, const int *sku, const int64_t *qty, int n,
    bool whole, bool fulfil, m_out *o)
{
	m_resv *r = m_lookup(m, idx);
	o->resv = idx;
	if (r == NULL)
		return o->rc = CORE_E_NOT_FOUND;
	if (fulfil ? r->status != CORE_RESV_COMMITTED
	           : (r->status != CORE_RESV_HELD && r->status != CORE_RESV_COMMITTED))
		return o->rc = CORE_E_INVALID_STATE;
	int which[M_LINES_MAX + 2];
	if (!whole) {
		if (n == 0 || n > r->nlines)
			return o->rc = CORE_E_BAD_REQUEST;
		for (int i = 0; i < n; i++) {
			int k = 0;
			while (k < r->nlines && r->l[k].sku != sku[i])
				k++;
			if (k == r->nlines)
				return o->rc = CORE_E_BAD_REQUEST;
			for (int j = 0; j < i; j++)
				if (which[j] == k)
					return o->rc = CORE_E_BAD_REQUEST;
			if (qty[i] < 1 || qty[i] > m_line_left(&r->l[k]))
				return o->rc = CORE_E_BAD_REQUEST;
			which[i] = k;
		}
		for (int i = 0; i < n; i++)
			m_line_take(m, r, &r->l[which[i]], qty[i], fulfil);
	} else {
		for (int i = 0; i < r->nlines; i++)
			m_line_take(m, r, &r->l[i], m_line_left(&r->l[i]), fulfil);
	}
	bool left = false, fulfilled = false;
	for (int i = 0; i < r->nlines; i++) {
		left |= m_line_left(&r->l[i]) > 0;
		fulfilled |= r->l[i].fulfilled > 0;
	}
	if (!left)
		m_finish(m, r, fulfilled ? CORE_RESV_FULFILLED : CORE_RESV_RELEASED);
	return o->rc = CORE_OK;
}

int m_extend(model *m, int idx, int64_t ttl, m_out *o)
{
	m_resv *r = m_lookup(m, idx);
	o->resv = idx;
	if (r == NULL)
		return o->rc = CORE_E_NOT_FOUND;
	if (ttl < 1 || ttl > M_TTL_MAX)
		return o->rc = CORE_E_BAD_REQUEST;
	if (r->status != CORE_RESV_HELD)
		return o->rc = CORE_E_INVALID_STATE;
	r->deadline = m->now + ttl;
	return o->rc = CORE_OK;
}

int m_inbound_add(model *m, int sku, int loc, int64_t qty, int64_t eta, int ref, m_out *o)
{
	o->sku = sku;
	o->loc = loc;
	if (qty < 1 || qty > CORE_QTY_MAX || eta < 0)
		return o->rc = CORE_E_BAD_REQUEST;
	if (!m_loc_exists(m, loc))
		return o->rc = CORE_E_NOT_FOUND;
	m_entry e = { loc, eta, ref, qty, 0 };
	int i = 0;
	while (i < m->nin[sku] && m_entry_cmp(m, &m->in[sku][i], &e) < 0)
		i++;
	if (i < m->nin[sku] && m_entry_cmp(m, &m->in[sku][i], &e) == 0) { /* more of the same arrival */
		if (m->in[sku][i].qty + qty > CORE_QTY_MAX)
			return o->rc = CORE_E_BAD_REQUEST;
		m->in[sku][i].qty += qty;
	} else {
		if (m->nin[sku] == M_ENTRIES)
			return o->rc = CORE_E_TOO_LARGE;
		memmove(&m->in[sku][i + 1], &m->in[sku][i], (size_t)(m->nin[sku] - i) * sizeof(e));
		m->in[sku][i] = e;
		m->nin[sku]++;
	}
	m->rec[sku][loc].incoming += qty;
	m->sku_made[sku] = true;
	return o->rc = CORE_OK;
}

/* The line of r for sku, or NULL. */
static m_line *m_line_of(m_resv *r, int sku)
{
	for (int i = 0; i < r->nlines; i++)
		if (r->l[i].sku == sku)
			return &r->l[i];
	return NULL;
}

/* Line l's allocation at loc, on hand or a backorder; NULL if none. */
static m_alloc *m_alloc_at(m_line *l, int loc, bool bo)
{
	for (int j = 0; j < l->nallocs; j++)
		if (l->a[j].loc == loc && l->a[j].bo == bo)
			return &l->a[j];
	return NULL;
}

/* PROTOCOL.md, inbound.receive: the units use up the entries at loc
 * (those of ref), earliest first, and fill the backorders waiting there
 * up to the units received; what backorders still hold at loc is spread
 * over the entries left there, earliest first. Returns the units filled. */
static int64_t m_receipt_entries(model *m, int sku, int loc, int64_t qty, int ref)
{
	int64_t left = qty, waiting = 0;
	for (int i = 0; i < m->nin[sku]; i++) {
		m_entry *e = &m->in[sku][i];
		if (e->loc != loc)
			continue;
		waiting += e->held;
		if (ref >= 0 && e->ref != ref)
			continue;
		int64_t t = left < e->qty ? left : e->qty;
		e->qty -= t;
		m->rec[sku][loc].incoming -= t;
		left -= t;
	}
	int64_t fill = waiting < qty ? waiting : qty, hold = waiting - fill;
	for (int i = 0; i < m->nin[sku]; i++) {
		m_entry *e = &m->in[sku][i];
		if (e->loc == loc) {
			e->held = hold < e->qty ? hold : e->qty;
			hold -= e->held;
		}
	}
	cr_assert_eq(hold, 0, "model: backorders beyond the entries left");
	m_in_compact(m, sku);
	return fill;
}

/* u backordered units of r's line at loc become units on hand there (an
 * allocation is added before the backorders when there is none). */
static void m_fill(model *m, m_resv *r, int sku, int loc, int64_t u)
{
	m_line *l = m_line_of(r, sku);
	m_alloc *on = m_alloc_at(l, loc, false);
	if (on == NULL) {
		int pos = 0;
		while (pos < l->nallocs && !l->a[pos].bo)
			pos++;
		cr_assert_lt(l->nallocs, 2 * M_LOCS);
		memmove(&l->a[pos + 1], &l->a[pos], (size_t)(l->nallocs - pos) * sizeof(l->a[0]));
		l->a[pos] = (m_alloc){ loc, 0, 0, false };
		l->nallocs++;
		on = &l->a[pos];
	}
	m_alloc_at(l, loc, true)->qty -= u;
	on->qty += u;
	*(r->status == CORE_RESV_HELD ? &m->rec[sku][loc].reserved : &m->rec[sku][loc].committed) += u;
}

int m_receive(model *m, int sku, int loc, int64_t qty, int ref, m_out *o)
{
	o->sku = sku;
	o->loc = loc;
	if (qty < 1 || qty > CORE_QTY_MAX)
		return o->rc = CORE_E_BAD_REQUEST;
	if (!m_loc_exists(m, loc))
		return o->rc = CORE_E_NOT_FOUND;
	bool found = ref < 0;
	for (int i = 0; i < m->nin[sku] && !found; i++)
		found = m->in[sku][i].loc == loc && m->in[sku][i].ref == ref;
	if (!found)
		return o->rc = CORE_E_NOT_FOUND;
	m_rec *rec = &m->rec[sku][loc];
	if ((rec->exists ? rec->on_hand : 0) + qty > CORE_QTY_MAX)
		return o->rc = CORE_E_BAD_REQUEST;
	int64_t fill = m_receipt_entries(m, sku, loc, qty, ref);
	if (!rec->exists)
		*rec = (m_rec){ .exists = true, .incoming = rec->incoming };
	m->sku_made[sku] = true;
	rec->on_hand += qty;
	rec->version++;
	/* Earliest reservation first: the model's are in sequence order. */
	for (int i = 0; i < m->nr && fill > 0; i++) {
		m_resv *r = &m->r[i];
		m_line *l = r->live_pos >= 0 ? m_line_of(r, sku) : NULL;
		m_alloc *bo = l ? m_alloc_at(l, loc, true) : NULL;
		if (bo == NULL || bo->qty == 0)
			continue;
		int64_t u = bo->qty < fill ? bo->qty : fill;
		cr_assert_lt(o->nfills, M_FILLS);
		o->fill_resv[o->nfills] = i;
		o->fill_qty[o->nfills++] = u;
		m_fill(m, r, sku, loc, u);
		fill -= u;
	}
	cr_assert_eq(fill, 0, "model: more freed than backordered");
	o->reply = *rec;
	return o->rc = CORE_OK;
}

/* ---- comparing the core with the model ---- */

void m_id(uint64_t seq, char out[CORE_RESERVATION_ID_LEN + 1])
{
	snprintf(out, CORE_RESERVATION_ID_LEN + 1, "r-%016" PRIx64, (M_EPOCH << 32) + seq);
}

void m_check_resv(const core *c, const model *m, int idx)
{
	const m_resv *mr = &m->r[idx];
	char id[CORE_RESERVATION_ID_LEN + 1];
	m_id(mr->seq, id);
	const core_resv *r = NULL;
	core_error err;
	int rc = core_resv_find(c, S(id), &r, &err);
	if (mr->forgotten) {
		MCHECK(rc == CORE_E_NOT_FOUND, "%s was forgotten by the model, core says %s", id,
		    core_strerror(rc));
		return;
	}
	MCHECK(rc == CORE_OK, "%s: %s", id, err.message);
	core_resv_view v;
	core_resv_view_get(c, r, &v);
	MCHECK(strcmp(v.id, id) == 0, "id %s want %s", v.id, id);
	MCHECK(str_is(v.order_id, mr->order), "%s order", id);
	MCHECK((int)v.status == mr->status, "%s status %s want %s", id, core_resv_status_name(v.status),
	    core_resv_status_name((core_resv_status)mr->status));
	int64_t exp = (mr->status == CORE_RESV_HELD || mr->status == CORE_RESV_EXPIRED) ? mr->deadline : -1;
	MCHECK(v.expires_at_ms == exp, "%s expires_at %" PRId64 " want %" PRId64, id, v.expires_at_ms, exp);
	MCHECK(v.nlines == (uint32_t)mr->nlines, "%s nlines", id);
	core_resv_view_original(c, r, &v);
	MCHECK(v.status == CORE_RESV_HELD && v.expires_at_ms == mr->orig_deadline, "%s original", id);
	for (int i = 0; i < mr->nlines; i++) {
		const m_line *ml = &mr->l[i];
		core_line_view lv;
		core_resv_line_get(c, r, (uint32_t)i, &lv);
		int64_t held = 0, backordered = 0;
		for (int j = 0; j < ml->nallocs; j++) {
			held += ml->a[j].orig;
			backordered += ml->a[j].bo ? ml->a[j].orig : 0;
		}
		MCHECK(lv.backordered == backordered, "%s line %d backordered %" PRId64 " want %" PRId64, id, i,
		    lv.backordered, backordered);
		MCHECK(str_is(lv.sku, m_sku_name[ml->sku]), "%s line %d sku", id, i);
		MCHECK(lv.qty == ml->qty, "%s line %d qty", id, i);
		MCHECK(lv.short_qty == ml->qty - held, "%s line %d short %" PRId64 " want %" PRId64, id, i,
		    lv.short_qty, ml->qty - held);
		MCHECK(lv.released == ml->released, "%s line %d released %" PRId64 " want %" PRId64, id, i,
		    lv.released, ml->released);
		MCHECK(lv.fulfilled == ml->fulfilled, "%s line %d fulfilled %" PRId64 " want %" PRId64, id,
		    i, lv.fulfilled, ml->fulfilled);
		MCHECK(lv.nallocs == (uint32_t)ml->nallocs, "%s line %d nallocs %u want %d", id, i,
		    lv.nallocs, ml->nallocs);
		for (int j = 0; j < ml->nallocs; j++) {
			core_alloc_view av;
			core_resv_alloc_get(c, r, (uint32_t)i, (uint32_t)j, &av);
			MCHECK(str_is(av.location, m_loc_name[ml->a[j].loc]), "%s line %d alloc %d location %.*s want %s",
			    id, i, j, (int)av.location.len, av.location.p, m_loc_name[ml->a[j].loc]);
			MCHECK(av.qty == ml->a[j].qty, "%s line %d alloc %d qty %" PRId64 " want %" PRId64, id, i,
			    j, av.qty, ml->a[j].qty);
			MCHECK(av.backorder == ml->a[j].bo, "%s line %d alloc %d backorder %d want %d", id, i, j,
			    av.backorder, ml->a[j].bo);
			MCHECK(core_resv_alloc_original_qty(r, (uint32_t)i, (uint32_t)j) == ml->a[j].orig,
			    "%s line %d alloc %d orig", id, i, j);
		}
	}
}

typedef struct m_got_in {
	core_inbound_view v[M_ENTRIES];
	uint32_t n;
} m_got_in;

static void m_got_in_emit(void *ctx, const core_inbound_view *v)
{
	m_got_in *g = ctx;
	if (g->n < M_ENTRIES)
		g->v[g->n] = *v;
	g->n++;
}

/* A sku's inbound entries as the core lists them, and what it promises at
 * a few dates (avail at): free units due, added per location. */
static void m_check_inbound(const core *c, const model *m, int s)
{
	m_got_in g = { .n = 0 };
	core_incoming(c, S(m_sku_name[s]), NULL, m_got_in_emit, &g);
	MCHECK(g.n == (uint32_t)m->nin[s], "%s: %u inbound entries, model %d", m_sku_name[s], g.n, m->nin[s]);
	for (int i = 0; i < m->nin[s]; i++) {
		const m_entry *e = &m->in[s][i];
		const core_inbound_view *v = &g.v[i];
		MCHECK(str_is(v->location, m_loc_name[e->loc]) && v->eta_ms == e->eta && v->qty == e->qty &&
		    v->backordered == e->held && (e->ref < 0 ? v->ref.p == NULL : str_is(v->ref, m_ref_name[e->ref])),
		    "%s: entry %d is %.*s eta %" PRId64 " qty %" PRId64 " held %" PRId64 ", model %s %" PRId64
		    " %" PRId64 " %" PRId64, m_sku_name[s], i, (int)v->location.len, v->location.p, v->eta_ms,
		    v->qty, v->backordered, m_loc_name[e->loc], e->eta, e->qty, e->held);
	}
	static const int64_t dates[] = { 0, 1500, 2500, INT64_MAX };
	for (size_t d = 0; d < sizeof(dates) / sizeof(dates[0]); d++) {
		int64_t total = 0;
		uint32_t nlocs = 0, got_n = 0;
		for (int loc = 0; loc < M_LOCS; loc++) {
			const m_rec *mr = &m->rec[s][loc];
			bool listed = mr->exists;
			int64_t n = mr->exists ? m_avail(mr) : 0;
			for (int i = 0; i < m->nin[s]; i++)
				if (m->in[s][i].loc == loc) {
					listed = true;
					n += m->in[s][i].eta <= dates[d] ? m->in[s][i].qty - m->in[s][i].held : 0;
				}
			total += listed && n > 0 ? n : 0;
			nlocs += listed;
		}
		int64_t got = core_avail_at(c, S(m_sku_name[s]), ABSENT, NULL, dates[d], NULL, NULL, &got_n);
		MCHECK(got == total && got_n == nlocs, "%s: avail at %" PRId64 " %" PRId64 " over %u locations, "
		    "model %" PRId64 " over %u", m_sku_name[s], dates[d], got, got_n, total, nlocs);
	}
}

typedef struct m_got {
	core_record_view v[M_LOCS + 1];
	uint32_t n;
} m_got;

static void m_got_emit(void *ctx, const core_record_view *v)
{
	m_got *g = ctx;
	if (g->n <= M_LOCS)
		g->v[g->n] = *v;
	g->n++;
}

void m_check_rec_view(const core_record_view *v, const m_rec *mr, int sku, int loc,
    const char *what)
{
	MCHECK(str_is(v->sku, m_sku_name[sku]) && str_is(v->location, m_loc_name[loc]),
	    "%s: %s@%s names", what, m_sku_name[sku], m_loc_name[loc]);
	MCHECK(v->on_hand >= 0 && v->reserved >= 0 && v->committed >= 0 && v->safety >= 0 &&
	    v->available >= 0 && v->oversold >= 0, "%s: %s@%s has a negative quantity", what,
	    m_sku_name[sku], m_loc_name[loc]);
	MCHECK(v->on_hand == mr->on_hand && v->reserved == mr->reserved &&
	    v->committed == mr->committed && v->safety == mr->safety && v->version == mr->version,
	    "%s: %s@%s is on_hand %" PRId64 " reserved %" PRId64 " committed %" PRId64 " safety %"
	    PRId64 " v%" PRIu64 ", model %" PRId64 "/%" PRId64 "/%" PRId64 "/%" PRId64 " v%" PRIu64,
	    what, m_sku_name[sku], m_loc_name[loc], v->on_hand, v->reserved, v->committed, v->safety,
	    v->version, mr->on_hand, mr->reserved, mr->committed, mr->safety, mr->version);
	int64_t over = mr->reserved + mr->committed - mr->on_hand;
	MCHECK(v->available == m_avail(mr) && v->oversold == (over > 0 ? over : 0),
	    "%s: %s@%s available/oversold", what, m_sku_name[sku], m_loc_name[loc]);
	MCHECK(v->incoming == mr->incoming, "%s: %s@%s incoming %" PRId64 " want %" PRId64, what,
	    m_sku_name[sku], m_loc_name[loc], v->incoming, mr->incoming);
}

/* Every record, in rank order; reserved/committed equal the sums over live
 * holds; the counters. */
void m_check_state(const core *c, const model *m)
{
	int64_t sres[M_SKUS][M_LOCS] = { { 0 } }, scom[M_SKUS][M_LOCS] = { { 0 } };
	int64_t next_deadline = INT64_MAX;
	for (int i = 0; i < m->nlive; i++) {
		const m_resv *r = &m->r[m->live[i]];
		MCHECK(r->status == CORE_RESV_HELD || r->status == CORE_RESV_COMMITTED, "model live list");
		if (r->status == CORE_RESV_HELD && r->deadline < next_deadline)
			next_deadline = r->deadline;
		for (int li = 0; li < r->nlines; li++)
			for (int j = 0; j < r->l[li].nallocs; j++) {
				int64_t (*sum)[M_LOCS] = r->status == CORE_RESV_HELD ? sres : scom;
				if (!r->l[li].a[j].bo)
					sum[r->l[li].sku][r->l[li].a[j].loc] += r->l[li].a[j].qty;
			}
	}
	uint64_t skus = 0, records = 0, units_reserved = 0, units_committed = 0;
	bool loc_used[M_LOCS] = { false };
	for (int s = 0; s < M_NAMES; s++) {
		m_got g = { .n = 0 };
		uint32_t n = 0;
		core_error err;
		int rc = core_stock_get(c, S(m_sku_name[s]), ABSENT, m_got_emit, &g, &n, &err);
		int want = 0;
		int64_t total = 0;
		for (int k = 0; k < M_LOCS; k++) {
			int loc = m->rank[k];
			const m_rec *mr = m_rec_of(m, s, loc);
			if (mr == NULL)
				continue;
			MCHECK(mr->reserved == sres[s][loc] && mr->committed == scom[s][loc],
			    "model %s@%s reserved/committed differ from its live holds", m_sku_name[s],
			    m_loc_name[loc]);
			MCHECK(mr->on_hand >= 0 && mr->reserved >= 0 && mr->committed >= 0, "model negative");
			MCHECK((int)g.n > want, "%s: core has %u records, model more", m_sku_name[s], g.n);
			m_check_rec_view(&g.v[want], mr, s, loc, "stock.get");
			units_reserved += (uint64_t)mr->reserved;
			units_committed += (uint64_t)mr->committed;
			total += m_avail(mr);
			loc_used[loc] = true;
			want++;
		}
		if (want == 0) {
			MCHECK(rc == CORE_E_NOT_FOUND, "%s should not exist", m_sku_name[s]);
		} else {
			MCHECK(rc == CORE_OK && n == (uint32_t)want && g.n == (uint32_t)want,
			    "%s: %u records, model %d", m_sku_name[s], g.n, want);
			records += (uint64_t)want;
		}
		skus += s < M_SKUS && m->sku_made[s];
		if (s < M_SKUS)
			m_check_inbound(c, m, s);
		uint32_t nlocs = 0;
		MCHECK(core_avail(c, S(m_sku_name[s]), ABSENT, NULL, NULL, &nlocs) == total &&
		    nlocs == (uint32_t)want, "%s: avail", m_sku_name[s]);
	}
	core_stats st;
	core_stats_get(c, &st);
	uint64_t by_status[5] = { 0 }, keys = 0, locations = 0;
	for (int i = 0; i < m->nr; i++)
		if (!m->r[i].forgotten)
			by_status[m->r[i].status]++;
	for (int k = 0; k < M_KEYS; k++)
		keys += m->adj[k].used + m->res[k].used;
	for (int l = 0; l < M_LOCS; l++)
		locations += loc_used[l];
	MCHECK(st.skus == skus && st.records == records, "stats skus/records");
	MCHECK(st.locations == locations, "stats locations %" PRIu64 " want %" PRIu64, st.locations, locations);
	for (int s = 0; s < 5; s++)
		MCHECK(st.reservations[s] == by_status[s], "stats %s: %" PRIu64 " want %" PRIu64,
		    core_resv_status_name((core_resv_status)s), st.reservations[s], by_status[s]);
	MCHECK(st.units_reserved == units_reserved && st.units_committed == units_committed,
	    "stats units");
	MCHECK(st.expired_total == m->expired_total, "expired_total %" PRIu64 " want %" PRIu64,
	    st.expired_total, m->expired_total);
	MCHECK(st.idempotency_keys == keys, "idempotency keys %" PRIu64 " want %" PRIu64,
	    st.idempotency_keys, keys);
	MCHECK(st.now_ms == m->now, "now");
	MCHECK(core_next_deadline(c) == next_deadline, "next deadline %" PRId64 " want %" PRId64,
	    core_next_deadline(c), next_deadline);
	const char *why = core_check(c);
	MCHECK(why == NULL, "core_check: %s", why ? why : "");
}

void m_check_all_resv(const core *c, const model *m)
{
	for (int i = 0; i < m->nr; i++)
		m_check_resv(c, m, i);
}

void m_dump_same(const char *before, const char *after)
{
	if (strcmp(before, after) == 0)
		return;
	size_t i = 0;
	while (before[i] == after[i])
		i++;
	while (i > 0 && before[i - 1] != '\n')
		i--;
	MCHECK(false, "a failed command changed the dump; before: \"%.120s\" after: \"%.120s\"",
	    before + i, after + i);
}
