/*
 * plan.c - the allocation planner (see plan.h for the rules).
 *
 * A plan runs in four steps, allocating nothing:
 *
 *   gather  one walk over the records of the order's skus makes a candidate
 *           per location met (stamped per location id, so no clearing), with
 *           what it offers: units, units capped per line (cover), and the
 *           lines it covers whole;
 *   rank    a 64-bit key per usable candidate, lower first, name rank to
 *           break ties; distances come from unit vectors kept per location,
 *           so ranking needs no trigonometry per location;
 *   choose  a best-ranked location covering the whole order when there is
 *           one (the common case, one pass); otherwise every combination of
 *           up to CORE_PLAN_EXACT_MAX usable locations by increasing size,
 *           each size in rank order, stopping at the first that holds all
 *           that can be held; greedy maximum coverage beyond;
 *   draw    each line from the chosen locations in rank order.
 */
#include "plan.h"

#include <math.h>
#include <stdlib.h>

#define EXACT CORE_PLAN_EXACT_MAX

enum { FATE_USABLE = 100 }; /* before the final fate is known */

typedef struct plan_cand {
	uint64_t key;    /* the strategy's rank key: lower ranks first */
	uint64_t units;  /* units of the order's skus offered (channel view) */
	uint64_t cover;  /* sum over lines of min(qty, offered) */
	uint64_t gain;   /* greedy scratch */
	double km;       /* to ship_to; -1 unknown */
	uint16_t loc;
	uint16_t slot;   /* column in the exact search's matrix */
	uint32_t full;   /* lines it covers whole */
	uint8_t fate;    /* FATE_USABLE or a core_fate */
	bool chosen;
	bool used;
} plan_cand;

struct plan_state {
	uint32_t *stamp;      /* per location id: == cur when cand_of is valid */
	uint16_t *cand_of;    /* per location id: its candidate */
	uint32_t cur;
	plan_cand *cands;     /* locations_max */
	uint32_t ncands;
	uint16_t *usable;     /* candidate indices */
	uint32_t nusable;
	uint16_t *chosen;     /* candidate indices, ranked once drawn */
	uint32_t nchosen;
	uint16_t *used;       /* location ids the plan holds units at */
	uint32_t nused;
	uint16_t *ex_order;   /* explain: every candidate, ranked */
	uint16_t *scratch;    /* location ids, for callers (plan_loc_scratch) */
	uint32_t *m;          /* exact search: m[line * EXACT + slot] offered */
	int64_t *vec;         /* exact search: (EXACT + 1) rows of nlines */
	int64_t *need;        /* per line */
	int64_t *qty;         /* per line, as asked */
	core_str *names;      /* per line, borrowed from the last command */
	uint32_t *line_first; /* per line + 1: first entry in c->plan */
	uint32_t nlines;
	uint32_t buffer;
	double sx, sy, sz;    /* ship_to on the unit sphere */
	bool has_ship_to;
	bool have;            /* the fields below describe the last command */
	bool explain;
	core_explain ex;
};

int plan_init(core *c)
{
	plan_state *ps = calloc(1, sizeof(*ps));
	if (ps == NULL)
		return -1;
	c->ps = ps;
	uint32_t nl = c->cfg.locations_max ? c->cfg.locations_max : 1;
	uint32_t nn = c->cfg.lines_max ? c->cfg.lines_max : 1;
	ps->stamp = calloc(nl, sizeof(*ps->stamp));
	ps->cand_of = calloc(nl, sizeof(*ps->cand_of));
	ps->cands = calloc(nl, sizeof(*ps->cands));
	ps->usable = calloc(nl, sizeof(*ps->usable));
	ps->chosen = calloc(nl, sizeof(*ps->chosen));
	ps->used = calloc(nl, sizeof(*ps->used));
	ps->ex_order = calloc(nl, sizeof(*ps->ex_order));
	ps->scratch = calloc(nl, sizeof(*ps->scratch));
	ps->m = calloc((size_t)nn * EXACT, sizeof(*ps->m));
	ps->vec = calloc((size_t)nn * (EXACT + 1), sizeof(*ps->vec));
	ps->need = calloc(nn, sizeof(*ps->need));
	ps->qty = calloc(nn, sizeof(*ps->qty));
	ps->names = calloc(nn, sizeof(*ps->names));
	ps->line_first = calloc(nn + 1, sizeof(*ps->line_first));
	if (!ps->stamp || !ps->cand_of || !ps->cands || !ps->usable || !ps->chosen || !ps->used ||
	    !ps->ex_order || !ps->scratch || !ps->m || !ps->vec || !ps->need || !ps->qty || !ps->names ||
	    !ps->line_first) {
		plan_finish(c);
		return -1;
	}
	return 0;
}

void plan_finish(core *c)
{
	plan_state *ps = c->ps;
	if (ps == NULL)
		return;
	free(ps->stamp);
	free(ps->cand_of);
	free(ps->cands);
	free(ps->usable);
	free(ps->chosen);
	free(ps->used);
	free(ps->ex_order);
	free(ps->scratch);
	free(ps->m);
	free(ps->vec);
	free(ps->need);
	free(ps->qty);
	free(ps->names);
	free(ps->line_first);
	free(ps);
	c->ps = NULL;
}

const uint16_t *plan_used(const core *c)
{
	return c->ps->used;
}

uint32_t plan_stamp_next(core *c)
{
	plan_state *ps = c->ps;
	if (++ps->cur == 0) {
		memset(ps->stamp, 0, c->cfg.locations_max * sizeof(*ps->stamp));
		ps->cur = 1;
	}
	return ps->cur;
}

bool plan_stamp_set(core *c, uint16_t loc, uint32_t stamp)
{
	if (c->ps->stamp[loc] == stamp)
		return false;
	c->ps->stamp[loc] = stamp;
	return true;
}

bool plan_stamp_is(const core *c, uint16_t loc, uint32_t stamp)
{
	return c->ps->stamp[loc] == stamp;
}

uint16_t *plan_loc_scratch(core *c)
{
	return c->ps->scratch;
}

void plan_forget(core *c)
{
	c->ps->have = false;
}

static int plan_room(core *c, const core_reserve_cmd *cmd, core_error *err)
{
	uint64_t need = 0;
	for (uint32_t i = 0; i < cmd->nlines; i++) {
		need += c->plan_skus[i] ? c->plan_skus[i]->nrecs : 0;
		const core_inb *b = cmd->allow_backorder ? inbound_of(c, c->plan_skus[i]) : NULL;
		need += b ? b->n : 0;
	}
	if (need <= c->plan_cap)
		return 0;
	uint64_t cap = c->plan_cap ? c->plan_cap : 64;
	while (cap < need)
		cap *= 2;
	void *p = realloc(c->plan, cap * sizeof(*c->plan));
	if (p == NULL)
		return core_fail(err, CORE_E_BUSY, "out of memory");
	c->plan = p;
	c->plan_cap = (uint32_t)cap;
	return 0;
}

/* What a record offers the order: available less the channel's buffer. */
static inline int64_t offered(const core *c, const core_rec *rec, uint32_t buffer)
{
	int64_t a = rec_available(c, rec) - (int64_t)buffer;
	return a > 0 ? a : 0;
}

static inline bool bit_is_set(const uint64_t *bits, uint32_t i)
{
	return (bits[i >> 6] >> (i & 63)) & 1;
}

/* ---- gather ------------------------------------------------------------------ */

static uint32_t cand_get(core *c, plan_state *ps, uint16_t loc, const plan_scope *scope)
{
	if (ps->stamp[loc] == ps->cur)
		return ps->cand_of[loc];
	ps->stamp[loc] = ps->cur;
	uint32_t k = ps->ncands++;
	ps->cand_of[loc] = (uint16_t)k;
	const core_loc *l = c->locs[loc];
	uint8_t fate = FATE_USABLE;
	if (!l->enabled)
		fate = CORE_FATE_DISABLED;
	else if (scope->channel_bits && !bit_is_set(scope->channel_bits, loc))
		fate = CORE_FATE_OUTSIDE_CHANNEL;
	else if (l->capacity >= 0 && loc_open(c, l) >= (uint64_t)l->capacity)
		fate = CORE_FATE_AT_CAPACITY;
	plan_cand *p = &ps->cands[k];
	p->units = p->cover = 0;
	p->full = 0;
	p->km = -1;
	p->loc = loc;
	p->fate = fate;
	p->chosen = p->used = false;
	return k;
}

static void gather(core *c, plan_state *ps, const core_reserve_cmd *cmd, const plan_scope *scope)
{
	plan_stamp_next(c);
	ps->ncands = 0;
	for (uint32_t i = 0; i < cmd->nlines; i++) {
		const core_sku *s = c->plan_skus[i];
		int64_t qty = cmd->lines[i].qty;
		for (uint32_t r = 0; s && r < s->nrecs; r++) {
			const core_rec *rec = &s->recs[r];
			plan_cand *k = &ps->cands[cand_get(c, ps, rec->loc, scope)];
			int64_t a = offered(c, rec, scope->buffer);
			k->units += (uint64_t)a;
			k->cover += (uint64_t)(a < qty ? a : qty);
			k->full += a >= qty;
		}
	}
	ps->nusable = 0;
	for (uint32_t k = 0; k < ps->ncands; k++) {
		plan_cand *p = &ps->cands[k];
		if (p->fate != FATE_USABLE)
			continue;
		if (p->units == 0)
			p->fate = CORE_FATE_SHORT;
		else
			ps->usable[ps->nusable++] = (uint16_t)k;
	}
}

/* ---- rank --------------------------------------------------------------------- */

/* A non-negative double's bits order as the double does. */
static inline uint64_t dbits(double v)
{
	uint64_t u;
	memcpy(&u, &v, sizeof(u));
	return u;
}

/* Squared chord between ship_to and l on the unit sphere: it orders as the
 * great-circle distance does. */
static inline double chord2(const plan_state *ps, const core_loc *l)
{
	double dx = l->x - ps->sx, dy = l->y - ps->sy, dz = l->z - ps->sz;
	return dx * dx + dy * dy + dz * dz;
}

static double km_of(const plan_state *ps, const core_loc *l)
{
	double half = sqrt(chord2(ps, l)) / 2;
	return 2 * CORE_EARTH_RADIUS_KM * asin(half < 1 ? half : 1);
}

/* The rank key of location l offering units of the order; *km is set when
 * the key needed the distance. */
static inline uint64_t key_of_loc(const plan_state *ps, core_strategy strategy, const core_loc *l,
    uint64_t units, double *km)
{
	switch (strategy) {
	case CORE_STRATEGY_NEAREST:
		return l->has_coords ? dbits(chord2(ps, l)) : UINT64_MAX;
	case CORE_STRATEGY_CHEAPEST:
		/* Without coordinates: after every location with them, by cost. */
		if (!l->has_coords)
			return UINT64_C(1) << 63 | dbits(l->cost);
		*km = km_of(ps, l);
		return dbits(l->cost + *km * l->cost_per_km);
	case CORE_STRATEGY_MOST_STOCK:
		return UINT64_MAX - units;
	case CORE_STRATEGY_PRIORITY:
	default:
		return l->rank;
	}
}

static uint64_t key_of(const core *c, const plan_state *ps, core_strategy strategy, plan_cand *k)
{
	return key_of_loc(ps, strategy, c->locs[k->loc], k->units, &k->km);
}

static inline bool before(const core *c, const plan_cand *a, const plan_cand *b)
{
	if (a->key != b->key)
		return a->key < b->key;
	return c->locs[a->loc]->name_rank < c->locs[b->loc]->name_rank;
}

/* Sort candidate indices by rank: insertion sort (they are few, or nearly
 * sorted), or a merge sort through scratch when many. */
static void rank_sort(const core *c, const plan_cand *cands, uint16_t *idx, uint32_t n, uint16_t *tmp)
{
	if (n <= 32 || tmp == NULL) {
		for (uint32_t i = 1; i < n; i++) {
			uint16_t v = idx[i];
			uint32_t j = i;
			while (j > 0 && before(c, &cands[v], &cands[idx[j - 1]])) {
				idx[j] = idx[j - 1];
				j--;
			}
			idx[j] = v;
		}
		return;
	}
	/* Bottom-up merge sort: stable, O(n log n), no allocation. */
	uint16_t *src = idx, *dst = tmp;
	for (uint32_t w = 1; w < n; w *= 2) {
		for (uint32_t lo = 0; lo < n; lo += 2 * w) {
			uint32_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
			uint32_t a = lo, b = mid, o = lo;
			while (a < mid && b < hi)
				dst[o++] = before(c, &cands[src[b]], &cands[src[a]]) ? src[b++] : src[a++];
			while (a < mid)
				dst[o++] = src[a++];
			while (b < hi)
				dst[o++] = src[b++];
		}
		uint16_t *t = src;
		src = dst;
		dst = t;
	}
	if (src != idx)
		memcpy(idx, src, n * sizeof(*idx));
}

/* ---- choose: exact search -------------------------------------------------------- */

typedef struct search {
	const int64_t *qty;
	const uint32_t *m;
	int64_t *vec;
	uint32_t nlines, n;
	bool lines_mode;
	uint64_t target;
	uint64_t best;
	uint32_t best_k;
	uint8_t pick[EXACT], best_pick[EXACT];
} search;

/* Row depth + 1 from row depth with slot u added. */
static void row_add(search *s, uint32_t depth, uint32_t u)
{
	const int64_t *prev = s->vec + (size_t)depth * s->nlines;
	int64_t *next = s->vec + (size_t)(depth + 1) * s->nlines;
	for (uint32_t i = 0; i < s->nlines; i++) {
		int64_t a = s->m[(size_t)i * EXACT + u];
		if (s->lines_mode) {
			int64_t v = a < s->qty[i] ? a : s->qty[i];
			next[i] = v > prev[i] ? v : prev[i];
		} else {
			next[i] = prev[i] + a;
		}
	}
}

/* Units a set holds: per line, what its locations offer together (units)
 * or what its best one offers (lines), capped at the line's qty. */
static uint64_t row_value(const search *s, uint32_t depth)
{
	const int64_t *row = s->vec + (size_t)depth * s->nlines;
	uint64_t v = 0;
	for (uint32_t i = 0; i < s->nlines; i++)
		v += (uint64_t)(row[i] < s->qty[i] ? row[i] : s->qty[i]);
	return v;
}

/* Every set of k slots in lexicographic (= rank) order; true once one
 * holds the target, which is then the answer. */
static bool search_k(search *s, uint32_t depth, uint32_t start, uint32_t k)
{
	for (uint32_t u = start; u + (k - depth) <= s->n; u++) {
		s->pick[depth] = (uint8_t)u;
		row_add(s, depth, u);
		if (depth + 1 == k) {
			uint64_t v = row_value(s, k);
			if (v > s->best) {
				s->best = v;
				s->best_k = k;
				memcpy(s->best_pick, s->pick, k);
				if (v == s->target)
					return true;
			}
		} else if (search_k(s, depth + 1, u + 1, k)) {
			return true;
		}
	}
	return false;
}

static void choose_exact(core *c, plan_state *ps, const core_reserve_cmd *cmd, const plan_scope *scope,
    uint32_t kmax, bool lines_mode)
{
	uint32_t n = ps->nusable, nl = cmd->nlines;
	for (uint32_t u = 0; u < n; u++)
		ps->cands[ps->usable[u]].slot = (uint16_t)u;
	memset(ps->m, 0, (size_t)nl * EXACT * sizeof(*ps->m));
	for (uint32_t i = 0; i < nl; i++) {
		const core_sku *s = c->plan_skus[i];
		for (uint32_t r = 0; s && r < s->nrecs; r++) {
			const plan_cand *k = &ps->cands[ps->cand_of[s->recs[r].loc]];
			if (k->fate == FATE_USABLE)
				ps->m[(size_t)i * EXACT + k->slot] = (uint32_t)offered(c, &s->recs[r], scope->buffer);
		}
	}
	search s = { .qty = ps->qty, .m = ps->m, .vec = ps->vec, .nlines = nl, .n = n,
		.lines_mode = lines_mode };
	memset(ps->vec, 0, (size_t)nl * sizeof(*ps->vec));
	/* What all of them hold together: no set holds more. */
	for (uint32_t i = 0; i < nl; i++) {
		int64_t all = 0;
		for (uint32_t u = 0; u < n; u++) {
			int64_t a = ps->m[(size_t)i * EXACT + u];
			if (!lines_mode)
				all += a;
			else if (a > all)
				all = a;
		}
		s.target += (uint64_t)(all < ps->qty[i] ? all : ps->qty[i]);
	}
	for (uint32_t k = 1; k <= kmax && s.best < s.target; k++)
		if (search_k(&s, 0, 0, k))
			break;
	ps->nchosen = s.best_k;
	for (uint32_t j = 0; j < s.best_k; j++)
		ps->chosen[j] = ps->usable[s.best_pick[j]];
}

/* ---- choose: greedy ------------------------------------------------------------ */

/* Units of line i that candidate k adds: to what is still needed (units),
 * or over the best the line has (lines). */
static inline int64_t gain_of(int64_t a, int64_t qty, int64_t need, bool lines_mode)
{
	if (lines_mode) {
		int64_t v = a < qty ? a : qty;
		return v > need ? v - need : 0;
	}
	return a < need ? a : need;
}

/* Maximum coverage, one location at a time: the one adding most units,
 * ties to the better ranked. need[i] is what line i still needs (units) or
 * the most one chosen location offers it (lines). */
static void choose_greedy(core *c, plan_state *ps, const core_reserve_cmd *cmd, const plan_scope *scope,
    uint32_t kmax, bool lines_mode)
{
	uint32_t nl = cmd->nlines;
	for (uint32_t i = 0; i < nl; i++)
		ps->need[i] = lines_mode ? 0 : ps->qty[i];
	ps->nchosen = 0;
	while (ps->nchosen < kmax) {
		for (uint32_t u = 0; u < ps->nusable; u++)
			ps->cands[ps->usable[u]].gain = 0;
		bool open = false;
		for (uint32_t i = 0; i < nl; i++) {
			const core_sku *s = c->plan_skus[i];
			if (s == NULL || ps->need[i] == (lines_mode ? ps->qty[i] : 0))
				continue;
			open = true;
			for (uint32_t r = 0; r < s->nrecs; r++) {
				plan_cand *k = &ps->cands[ps->cand_of[s->recs[r].loc]];
				if (k->fate == FATE_USABLE && !k->chosen)
					k->gain += (uint64_t)gain_of(offered(c, &s->recs[r], scope->buffer), ps->qty[i],
					    ps->need[i], lines_mode);
			}
		}
		plan_cand *best = NULL;
		for (uint32_t u = 0; open && u < ps->nusable; u++) {
			plan_cand *k = &ps->cands[ps->usable[u]];
			if (!k->chosen && k->gain > 0 &&
			    (best == NULL || k->gain > best->gain || (k->gain == best->gain && before(c, k, best))))
				best = k;
		}
		if (best == NULL)
			break;
		best->chosen = true;
		ps->chosen[ps->nchosen++] = ps->cand_of[best->loc];
		for (uint32_t i = 0; i < nl; i++) {
			const core_rec *rec = c->plan_skus[i] ? sku_rec_at(c, c->plan_skus[i], best->loc) : NULL;
			int64_t a = rec ? offered(c, rec, scope->buffer) : 0;
			int64_t g = gain_of(a, ps->qty[i], ps->need[i], lines_mode);
			ps->need[i] += lines_mode ? g : -g;
		}
	}
}

/* ---- draw ---------------------------------------------------------------------- */

static void take(core *c, plan_result *out, core_rec *rec, uint32_t line, int64_t qty)
{
	c->plan[out->nplan++] = (struct plan_alloc){ rec, line, (uint32_t)qty, rec->loc, false };
	out->units += (uint64_t)qty;
	plan_cand *k = &c->ps->cands[c->ps->cand_of[rec->loc]];
	if (!k->used) {
		k->used = true;
		c->ps->used[out->nused++] = rec->loc;
	}
}

/* A line of split lines: the first chosen location covering it whole,
 * else the one offering most (the first of those). */
static void draw_line_whole(core *c, plan_state *ps, uint32_t i, const plan_scope *scope,
    plan_result *out)
{
	core_rec *best = NULL;
	int64_t best_a = 0;
	for (uint32_t j = 0; j < ps->nchosen; j++) {
		core_rec *rec = sku_rec_at(c, c->plan_skus[i], ps->cands[ps->chosen[j]].loc);
		int64_t a = rec ? offered(c, rec, scope->buffer) : 0;
		if (a > best_a) {
			best = rec;
			best_a = a;
			if (a >= ps->qty[i])
				break;
		}
	}
	if (best)
		take(c, out, best, i, best_a < ps->qty[i] ? best_a : ps->qty[i]);
}

/*
 * What line i still needs, held against the sku's inbound entries, earliest
 * eta first, at enabled locations of the channel: one backorder per
 * location, in the order the locations are first met.
 */
static void draw_backorder(core *c, uint32_t i, int64_t need, const plan_scope *scope, plan_result *out)
{
	const core_inb *b = inbound_of(c, c->plan_skus[i]);
	uint32_t first = out->nplan;
	uint32_t held[CORE_INBOUND_PER_SKU_MAX]; /* lazily expired backorders gone */
	if (b)
		inbound_held_now(c, b, held);
	for (uint32_t k = 0; b && k < b->n && need > 0; k++) {
		const inb_entry *e = &b->e[k];
		const core_loc *l = c->locs[e->loc];
		int64_t free_units = (int64_t)e->qty - held[k];
		if (!l->enabled || free_units <= 0 ||
		    (scope->channel_bits && !bit_is_set(scope->channel_bits, e->loc)))
			continue;
		int64_t t = free_units < need ? free_units : need;
		need -= t;
		out->units += (uint64_t)t;
		uint32_t j = first;
		while (j < out->nplan && c->plan[j].loc != e->loc)
			j++;
		if (j == out->nplan)
			c->plan[out->nplan++] = (struct plan_alloc){ NULL, i, 0, e->loc, true };
		c->plan[j].qty += (uint32_t)t;
	}
}

static void draw(core *c, plan_state *ps, const core_reserve_cmd *cmd, const plan_scope *scope,
    plan_result *out)
{
	rank_sort(c, ps->cands, ps->chosen, ps->nchosen, ps->ex_order);
	for (uint32_t i = 0; i < cmd->nlines; i++) {
		ps->line_first[i] = out->nplan;
		uint32_t first = out->nplan;
		if (c->plan_skus[i] && cmd->split == CORE_SPLIT_LINES) {
			draw_line_whole(c, ps, i, scope, out);
		} else if (c->plan_skus[i]) {
			int64_t need = ps->qty[i];
			for (uint32_t j = 0; j < ps->nchosen && need > 0; j++) {
				core_rec *rec = sku_rec_at(c, c->plan_skus[i], ps->cands[ps->chosen[j]].loc);
				int64_t a = rec ? offered(c, rec, scope->buffer) : 0;
				if (a > 0) {
					take(c, out, rec, i, a < need ? a : need);
					need -= a < need ? a : need;
				}
			}
		}
		int64_t held = 0;
		for (uint32_t k = first; k < out->nplan; k++)
			held += c->plan[k].qty;
		if (held < ps->qty[i] && cmd->allow_backorder && c->plan_skus[i]) {
			draw_backorder(c, i, ps->qty[i] - held, scope, out);
			held = 0;
			for (uint32_t k = first; k < out->nplan; k++)
				held += c->plan[k].qty;
		}
		if (held < ps->qty[i])
			c->shorts[out->nshort++] = (core_short_line){ cmd->lines[i].sku, ps->qty[i], held };
	}
	ps->line_first[cmd->nlines] = out->nplan;
}

/* ---- the planner ----------------------------------------------------------------- */

/*
 * One line, one location: the best-ranked usable record offering the whole
 * line, found in one pass without candidates. The general path would make
 * the same choice (a location covering the whole order wins); this one is
 * the hot path of checkout traffic. False when no record covers the line.
 */
static bool plan_one_line(core *c, plan_state *ps, const core_reserve_cmd *cmd, const plan_scope *scope,
    plan_result *out)
{
	const core_sku *s = c->plan_skus[0];
	int64_t qty = cmd->lines[0].qty;
	core_rec *best = NULL;
	const core_loc *best_loc = NULL;
	uint64_t best_key = 0;
	/* By priority, with records in rank order, the first that fits wins. */
	bool first_wins = cmd->strategy == CORE_STRATEGY_PRIORITY && c->ranks_by_name;
	for (uint32_t r = 0; s && r < s->nrecs && !(first_wins && best); r++) {
		core_rec *rec = &s->recs[r];
		int64_t a = offered(c, rec, scope->buffer);
		if (a < qty)
			continue;
		const core_loc *l = c->locs[rec->loc];
		if (!l->enabled || (scope->channel_bits && !bit_is_set(scope->channel_bits, rec->loc)) ||
		    (l->capacity >= 0 && loc_open(c, l) >= (uint64_t)l->capacity))
			continue;
		double km;
		uint64_t key = key_of_loc(ps, cmd->strategy, l, (uint64_t)a, &km);
		if (best == NULL || key < best_key || (key == best_key && l->name_rank < best_loc->name_rank)) {
			best = rec;
			best_loc = l;
			best_key = key;
		}
	}
	if (best == NULL)
		return false;
	c->plan[0] = (struct plan_alloc){ best, 0, (uint32_t)qty, best->loc, false };
	*out = (plan_result){ .nplan = 1, .units = (uint64_t)qty, .nused = 1 };
	ps->used[0] = best->loc;
	ps->line_first[0] = 0;
	ps->line_first[1] = 1;
	return true;
}

/* The best-ranked usable candidate satisfying the predicate, or -1. */
static int64_t best_full(const core *c, const plan_state *ps, uint32_t nlines)
{
	int64_t best = -1;
	for (uint32_t u = 0; u < ps->nusable; u++) {
		const plan_cand *k = &ps->cands[ps->usable[u]];
		if (k->full == nlines && (best < 0 || before(c, k, &ps->cands[best])))
			best = ps->usable[u];
	}
	return best;
}

/* The usable candidate offering most of the order (capped per line), ties
 * to the better ranked. */
static int64_t best_cover(const core *c, const plan_state *ps)
{
	int64_t best = -1;
	for (uint32_t u = 0; u < ps->nusable; u++) {
		const plan_cand *k = &ps->cands[ps->usable[u]];
		const plan_cand *b = best >= 0 ? &ps->cands[best] : NULL;
		if (b == NULL || k->cover > b->cover || (k->cover == b->cover && before(c, k, b)))
			best = ps->usable[u];
	}
	return best;
}

static void explain_finish(core *c, plan_state *ps, const core_reserve_cmd *cmd, bool exact)
{
	uint64_t total = 0;
	for (uint32_t i = 0; i < cmd->nlines; i++)
		total += (uint64_t)ps->qty[i];
	for (uint32_t k = 0; k < ps->ncands; k++) {
		plan_cand *p = &ps->cands[k];
		if (p->fate == FATE_USABLE)
			p->fate = p->used ? CORE_FATE_USED : p->cover == total ? CORE_FATE_NOT_NEEDED : CORE_FATE_SHORT;
		else /* not ranked while planning */
			p->key = key_of(c, ps, cmd->strategy, p);
		if (p->km < 0 && ps->has_ship_to && c->locs[p->loc]->has_coords)
			p->km = km_of(ps, c->locs[p->loc]);
		ps->ex_order[k] = (uint16_t)k;
	}
	rank_sort(c, ps->cands, ps->ex_order, ps->ncands, ps->chosen);
	ps->ex = (core_explain){ .strategy = cmd->strategy, .split = cmd->split,
		.max_shipments = cmd->max_shipments, .considered = ps->ncands, .usable = ps->nusable,
		.exact = exact, .runner_up = -1 };
	for (uint32_t j = 0; j < ps->ncands && ps->ex.runner_up < 0; j++)
		if (ps->cands[ps->ex_order[j]].fate != CORE_FATE_USED)
			ps->ex.runner_up = j;
	ps->explain = true;
}

int plan_make(core *c, const core_reserve_cmd *cmd, const plan_scope *scope,
    plan_result *out, core_error *err)
{
	plan_state *ps = c->ps;
	*out = (plan_result){ 0 };
	ps->have = false;
	ps->explain = false;
	bool by_distance = cmd->strategy == CORE_STRATEGY_NEAREST || cmd->strategy == CORE_STRATEGY_CHEAPEST;
	if (by_distance && !cmd->has_ship_to)
		return core_fail(err, CORE_E_BAD_REQUEST, "ship_to: required by strategy '%s'",
		    core_strategy_name(cmd->strategy));
	int rc = plan_room(c, cmd, err);
	if (rc)
		return rc;
	ps->has_ship_to = cmd->has_ship_to;
	if (cmd->has_ship_to) {
		core_loc p = { 0 };
		loc_set_coords(&p, cmd->ship_lat, cmd->ship_lon);
		ps->sx = p.x;
		ps->sy = p.y;
		ps->sz = p.z;
	}
	ps->nlines = cmd->nlines;
	ps->buffer = scope->buffer;
	for (uint32_t i = 0; i < cmd->nlines; i++) {
		ps->qty[i] = cmd->lines[i].qty;
		ps->names[i] = cmd->lines[i].sku;
	}
	if (cmd->nlines == 1 && !cmd->explain && plan_one_line(c, ps, cmd, scope, out)) {
		ps->nused = 1;
		ps->have = true;
		return 0;
	}
	gather(c, ps, cmd, scope);
	for (uint32_t u = 0; u < ps->nusable; u++) {
		plan_cand *k = &ps->cands[ps->usable[u]];
		k->key = key_of(c, ps, cmd->strategy, k);
	}
	uint32_t kmax = cmd->max_shipments && cmd->max_shipments < ps->nusable ? cmd->max_shipments
	    : ps->nusable;
	bool exact = ps->nusable <= EXACT;
	int64_t one = best_full(c, ps, cmd->nlines);
	if (one < 0 && cmd->split == CORE_SPLIT_NONE && ps->nusable > 0)
		one = best_cover(c, ps);
	ps->nchosen = 0;
	if (one >= 0) {
		ps->chosen[ps->nchosen++] = (uint16_t)one;
	} else if (ps->nusable > 0 && exact) {
		rank_sort(c, ps->cands, ps->usable, ps->nusable, NULL);
		choose_exact(c, ps, cmd, scope, kmax, cmd->split == CORE_SPLIT_LINES);
	} else if (ps->nusable > 0) {
		choose_greedy(c, ps, cmd, scope, kmax, cmd->split == CORE_SPLIT_LINES);
	}
	draw(c, ps, cmd, scope, out);
	ps->nused = out->nused;
	assert(out->nplan <= c->plan_cap && out->nused <= ps->nchosen);
	ps->have = true;
	if (cmd->explain)
		explain_finish(c, ps, cmd, exact);
	return 0;
}

/* ---- reading the last plan ------------------------------------------------------- */

uint32_t core_plan_shipments(const core *c)
{
	return c->ps->have ? c->ps->nused : 0;
}

void core_plan_line_get(const core *c, uint32_t line, core_line_view *out)
{
	const plan_state *ps = c->ps;
	assert(ps->have && line < ps->nlines);
	int64_t held = 0, backordered = 0;
	for (uint32_t k = ps->line_first[line]; k < ps->line_first[line + 1]; k++) {
		held += c->plan[k].qty;
		backordered += c->plan[k].backorder ? c->plan[k].qty : 0;
	}
	*out = (core_line_view){ .sku = ps->names[line], .qty = ps->qty[line],
		.short_qty = ps->qty[line] - held, .backordered = backordered,
		.nallocs = ps->line_first[line + 1] - ps->line_first[line] };
}

void core_plan_alloc_get(const core *c, uint32_t line, uint32_t i, core_alloc_view *out)
{
	const plan_state *ps = c->ps;
	const struct plan_alloc *a = &c->plan[ps->line_first[line] + i];
	const core_loc *l = c->locs[a->loc];
	*out = (core_alloc_view){ { l->name, l->name_len }, a->qty, a->backorder };
}

bool core_explain_get(const core *c, core_explain *out)
{
	if (!c->ps->have || !c->ps->explain)
		return false;
	*out = c->ps->ex;
	out->shipments = c->ps->nused;
	return true;
}

void core_explain_loc_get(const core *c, uint32_t i, core_explain_loc *out)
{
	const plan_state *ps = c->ps;
	assert(ps->explain && i < ps->ncands);
	const plan_cand *k = &ps->cands[ps->ex_order[i]];
	const core_loc *l = c->locs[k->loc];
	*out = (core_explain_loc){
		.location = { l->name, l->name_len },
		.fate = (core_fate)k->fate,
		.has_km = k->km >= 0,
		.km = k->km >= 0 ? k->km : 0,
		.cost = l->cost + (k->km >= 0 ? k->km * l->cost_per_km : 0),
		.available = (int64_t)k->units,
		.priority = l->priority,
		.open_shipments = loc_open(c, l),
		.capacity = l->capacity,
	};
}

int64_t core_explain_line_available(const core *c, uint32_t i, uint32_t line)
{
	const plan_state *ps = c->ps;
	assert(ps->explain && i < ps->ncands && line < ps->nlines);
	const core_sku *s = c->plan_skus[line];
	const core_rec *rec = s ? sku_rec_at(c, s, ps->cands[ps->ex_order[i]].loc) : NULL;
	return rec ? offered(c, rec, ps->buffer) : 0;
}
