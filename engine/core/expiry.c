/*
 * expiry.c - holds expire at their deadline, however many share it, and
 * no request waits behind sweeping them.
 *
 * A hold is expired once the core's clock passes its deadline and a
 * request has looked (core_advance); what is expired is a function of the
 * commands and their times alone, never of how far the sweep has got, so
 * a replayed or restored core agrees. Sweeping a hold (expire_one) costs
 * 0.3 to 2 microseconds: its records, shipments, customer's units,
 * backorders and finished FIFO, and a pop from a heap that misses the
 * cache when it is large. Doing that for every hold due before a request
 * is answered stalls the loop when many fall due at once (300,000 holds:
 * 0.15 to 0.3 s), so past EXPIRY_ADVANCE_MAX holds core_advance() sweeps
 * none and moves the horizon instead: every held reservation due at or
 * before horizon_ms is expired, swept or not ("lazily expired").
 *
 * Every read that an unswept hold would change must then see it gone. What
 * a hold gives back when it expires is kept ahead of time in ledgers:
 * treaps keyed by deadline (ledger.c), one per thing it changes -
 *
 *   record (core_rec.ledger)     a: units held there, b: its allocations
 *                                (each expiry bumps the record's version)
 *   location (core_loc.ledger)   a: holds with units there (open shipments)
 *   customer (core_cust.ledger)  a: units of a limited sku
 *   backorders (inb_slot.ledger) a: units held against a sku's inbound
 *                                entries at a location
 *   the core (ledger_all)        a: units on hand, b: holds
 *
 * A read subtracts what lazily expired holds give back: the ledger's sum up
 * to the horizon, O(log n) for any number of holds or deadlines at or
 * before it (rec_reserved() and friends in core_internal.h). Reads with no
 * lazily expired hold (the usual case) cost one comparison more. Inbound
 * entries are not counters, so a sku's backorders at a location are given
 * back for real before a command changes those entries (inbound.c).
 *
 * The sweep (core_sweep, on a timer) then sweeps the lazily expired holds
 * in deadline order, a budget at a time, exactly as it sweeps other due
 * holds: each leaves its ledgers as it does its records, so reads do not
 * change. A command on a lazily expired hold sees it expired (resv_status)
 * and fails without touching it. Forgetting needs the oldest finished
 * reservation: swept expiries and other finishes are two FIFOs, each in
 * order, and lazily expired holds follow the swept expiries in the heap;
 * the oldest of the three heads goes, swept first if it was not.
 */
#include "core_internal.h"
#include "idem.h"
#include "plan.h"

#include <stdlib.h>

ledger_sum lazy_sum(const core *c, uint32_t ledger)
{
	if (ledger == 0 || !lazy_any(c))
		return (ledger_sum){ 0, 0 };
	return ledger_upto(c, ledger, c->horizon_ms);
}

/* ---- what a hold gives back ---------------------------------------------- */

/* One ledger entry a held reservation makes: the tree (by its root's
 * address), the deadline, the sums; collected to check the ledgers. */
typedef struct entry {
	const uint32_t *root;
	int64_t key;
	uint64_t a, b;
} entry;

typedef struct entries {
	entry *e;
	uint64_t n, cap;
	bool failed;
} entries;

static void collect(entries *es, uint32_t *root, int64_t key, uint64_t a, uint64_t b)
{
	if (es->failed)
		return;
	if (es->n == es->cap) {
		uint64_t cap = es->cap ? es->cap * 2 : 1024;
		entry *e = realloc(es->e, cap * sizeof(*e));
		if (e == NULL) {
			es->failed = true;
			return;
		}
		es->e = e;
		es->cap = cap;
	}
	es->e[es->n++] = (entry){ root, key, a, b };
}

/* What to do with each entry: add it, take it back, or collect it. */
typedef struct account {
	enum { ACCOUNT_ADD, ACCOUNT_SUB, ACCOUNT_COLLECT } op;
	bool customers;  /* the customers' part too */
	entries *es;     /* ACCOUNT_COLLECT */
} account;

static inline void post(core *c, const account *ac, uint32_t *root, int64_t key, uint64_t a, uint64_t b)
{
	if (ac->op == ACCOUNT_ADD)
		ledger_add(c, root, key, a, b);
	else if (ac->op == ACCOUNT_SUB)
		ledger_sub(c, root, key, a, b);
	else
		collect(ac->es, root, key, a, b);
}

/* Each ledger entry of held r at its deadline: the one description of
 * what an expiry gives back, used to add, take back and check. Mirrors
 * expire_one(): allocations holding nothing change nothing. */
static void account_walk(core *c, const core_resv *r, const account *ac)
{
	assert(r->status == CORE_RESV_HELD);
	int64_t d = r->expires_at_ms;
	const core_ralloc *al = resv_allocs(r);
	/* A location counts once per hold: marks are needed only when the
	 * hold has more than one allocation. */
	bool one = r->nlines == 1 && r->lines[0].nallocs == 1;
	uint32_t stamp = one ? 0 : plan_stamp_next(c);
	core_str customer = { NULL, 0 };
	if (ac->customers && table_count(&c->cust_by_key))
		customer = resv_customer(r);
	uint64_t units = 0;
	for (uint32_t i = 0; i < r->nlines; i++) {
		const core_rline *l = &r->lines[i];
		uint64_t left = 0;
		for (uint32_t j = 0; j < l->nallocs; j++) {
			const core_ralloc *a = &al[l->alloc_first + j];
			if (a->qty == 0)
				continue;
			left += a->qty;
			if (a->backorder) {
				post(c, ac, &inbound_slot(c, l->sku, a->loc)->ledger, d, a->qty, 0);
				continue;
			}
			core_rec *rec = sku_rec_at(c, l->sku, a->loc);
			assert(rec != NULL);
			post(c, ac, &rec->ledger, d, a->qty, 1);
			units += a->qty;
			if (one || plan_stamp_set(c, a->loc, stamp))
				post(c, ac, &c->locs[a->loc]->ledger, d, 1, 0);
		}
		const core_skupol *pol = customer.p && left ? policy_of(c, l->sku) : NULL;
		if (pol && pol->per_customer) {
			core_cust *e = cust_find(c, customer, l->sku);
			assert(e != NULL && e->units >= left);
			post(c, ac, &e->ledger, d, left, 0);
		}
	}
	post(c, ac, &c->ledger_all, d, units, 1);
}

void resv_account(core *c, const core_resv *r, bool add)
{
	account ac = { add ? ACCOUNT_ADD : ACCOUNT_SUB, true, NULL };
	account_walk(c, r, &ac);
}

/* ---- sweeping ---------------------------------------------------------------- */

void expire_one(core *c, core_resv *r)
{
	assert(r->status == CORE_RESV_HELD && r->expires_at_ms <= c->now_ms);
	resv_account(c, r, false);
	uint16_t *locs = plan_loc_scratch(c);
	resv_close_emptied(c, r, locs, resv_open_locs(c, r, locs), true);
	core_str customer = resv_customer(r);
	for (uint32_t i = 0; customer.p && table_count(&c->cust_by_key) && i < r->nlines; i++)
		cust_take(c, customer, r->lines[i].sku, line_remaining(r, &r->lines[i]));
	resv_unhold(c, r, false);
	resv_end(c, r, CORE_RESV_EXPIRED);
	c->expired_total++;
}

uint32_t resv_expire_due(core *c, uint32_t budget)
{
	uint32_t n = 0;
	core_resv *r;
	while (n < budget && (r = heap_top(c)) != NULL && r->expires_at_ms <= c->now_ms) {
		expire_one(c, r);
		n++;
	}
	return n;
}

void expiry_drain(core *c)
{
	while (lazy_any(c))
		expire_one(c, c->heap[0]);
}

/* ---- the finished FIFOs ------------------------------------------------------- */

void resv_finish_link(core *c, core_resv *r)
{
	bool expired = r->status == CORE_RESV_EXPIRED;
	core_resv **head = expired ? &c->exp_head : &c->fin_head;
	core_resv **tail = expired ? &c->exp_tail : &c->fin_tail;
	/* Each FIFO stays in the order forgetting takes it. */
	assert(*tail == NULL || (expired ? (*tail)->expires_at_ms <= r->expires_at_ms
	    : (*tail)->finished_at_ms <= r->finished_at_ms));
	r->fin_next = NULL;
	if (*tail)
		(*tail)->fin_next = r;
	else
		*head = r;
	*tail = r;
}

/*
 * Finished reservations are forgotten in the order they finished, expiries
 * first among those finishing in the same millisecond (a command at t runs
 * after everything due at t expired). Swept expiries come in heap order and
 * every lazily expired hold is due after them (they were swept first), so
 * the expiries in order are the swept FIFO then the heap's top; the other
 * finishes are in their FIFO by time.
 */
core_resv *resv_oldest_finished(const core *c)
{
	core_resv *e = c->exp_head;
	if (e == NULL && lazy_any(c))
		e = c->heap[0];
	core_resv *f = c->fin_head;
	if (e && (f == NULL || e->expires_at_ms <= f->finished_at_ms))
		return e;
	return f;
}

uint32_t resv_forget_old(core *c, uint32_t budget, bool due_only)
{
	uint32_t n = 0;
	core_resv *r;
	while (n < budget && (r = resv_oldest_finished(c)) != NULL &&
	    (!due_only || resv_finished_at(c, r) + c->cfg.retain_ms <= c->now_ms)) {
		if (r->status == CORE_RESV_HELD) /* lazily expired: swept first, O(its lines) */
			expire_one(c, r);
		resv_forget(c, r);
		n++;
	}
	return n;
}

/* ---- the clock ------------------------------------------------------------------ */

static bool due_now(const core *c)
{
	return c->heap_len && c->heap[0]->expires_at_ms <= c->now_ms;
}

uint32_t core_advance(core *c, int64_t now_ms)
{
	if (now_ms > c->now_ms)
		c->now_ms = now_ms;
	assert(c->horizon_ms <= c->now_ms);
	if (!due_now(c))
		return 0;
	if (!lazy_any(c)) {
		/* The usual case: a few holds came due since the last request;
		 * sweep them now and leave nothing lazy. */
		uint32_t n = resv_expire_due(c, EXPIRY_ADVANCE_MAX);
		if (!due_now(c))
			return n;
		uint64_t rest = ledger_upto(c, c->ledger_all, c->now_ms).b;
		c->horizon_ms = c->now_ms;
		assert(rest <= c->heap_len);
		return n + (uint32_t)rest;
	}
	/* Behind already: the sweep catches up; this costs O(log n). */
	uint64_t before = ledger_upto(c, c->ledger_all, c->horizon_ms).b;
	uint64_t due = ledger_upto(c, c->ledger_all, c->now_ms).b;
	c->horizon_ms = c->now_ms;
	assert(due >= before && due <= c->heap_len);
	return (uint32_t)(due - before);
}

/*
 * The budget covers lazily expired holds too (they cost what any expiry
 * costs), so a tick stays within it however far behind the sweep is; while
 * it is behind it forgets nothing, as before.
 */
uint32_t core_sweep(core *c, int64_t now_ms, uint32_t budget)
{
	if (now_ms > c->now_ms)
		c->now_ms = now_ms;
	uint32_t done = resv_expire_due(c, budget);
	c->swept_reservations = resv_forget_old(c, budget - done, true);
	done += c->swept_reservations;
	c->swept_keys = idem_forget_old(c, budget - done, true);
	return done + c->swept_keys;
}

int core_forget(core *c, int64_t now_ms, uint32_t reservations, uint32_t keys, core_error *err)
{
	core_advance(c, now_ms);
	uint32_t r = resv_forget_old(c, reservations, false);
	uint32_t k = idem_forget_old(c, keys, false);
	if (r != reservations || k != keys)
		return core_fail(err, CORE_E_BAD_REQUEST,
		    "a sweep forgot %u finished reservations and %u keys, but only %u and %u were there",
		    reservations, keys, r, k);
	return CORE_OK;
}

int64_t core_next_deadline(const core *c)
{
	if (c->heap_len == 0)
		return INT64_MAX;
	if (!lazy_any(c))
		return c->heap[0]->expires_at_ms;
	return ledger_after(c, c->ledger_all, c->horizon_ms);
}

uint64_t core_expiry_backlog(const core *c)
{
	return lazy_sum(c, c->ledger_all).b;
}

/* ---- snapshots ------------------------------------------------------------------ */

static int cmp_heap_order(const void *a, const void *b)
{
	const core_resv *x = *(const core_resv *const *)a, *y = *(const core_resv *const *)b;
	if (x->expires_at_ms != y->expires_at_ms)
		return x->expires_at_ms < y->expires_at_ms ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* The lazily expired holds are the heap's entries at or before the
 * horizon: a subtree at its top, walked in O(its size), then sorted. */
int expiry_lazy_sorted(const core *c, const core_resv ***out, uint32_t *n)
{
	uint64_t want = lazy_sum(c, c->ledger_all).b;
	*out = NULL;
	*n = 0;
	if (want == 0)
		return 0;
	uint32_t *stack = malloc(want * sizeof(*stack));
	const core_resv **lazy = malloc(want * sizeof(*lazy));
	if (stack == NULL || lazy == NULL) {
		free(stack);
		free(lazy);
		return -1;
	}
	uint32_t depth = 0, k = 0;
	stack[depth++] = 0;
	while (depth > 0) {
		uint32_t i = stack[--depth];
		assert(k < want && c->heap[i]->expires_at_ms <= c->horizon_ms);
		lazy[k++] = c->heap[i];
		/* Each node is pushed once, when its parent is taken: want bounds the stack. */
		for (uint64_t child = 2 * (uint64_t)i + 1; child <= 2 * (uint64_t)i + 2; child++)
			if (child < c->heap_len && c->heap[child]->expires_at_ms <= c->horizon_ms)
				stack[depth++] = (uint32_t)child;
	}
	free(stack);
	assert(k == want);
	if (k > 1) /* qsort must not see a NULL array, even empty */
		qsort(lazy, k, sizeof(*lazy), cmp_heap_order);
	*out = lazy;
	*n = k;
	return 0;
}

int expiry_ledgers_build(core *c)
{
	for (uint32_t i = 0; i < c->heap_len; i++) {
		const core_resv *r = c->heap[i];
		uint32_t nallocs = 0;
		for (uint32_t k = 0; k < r->nlines; k++)
			nallocs += r->lines[k].nallocs;
		if (ledger_reserve(c, resv_account_nodes(nallocs, r->nlines)) != 0)
			return -1;
		account ac = { ACCOUNT_ADD, false, NULL };
		account_walk(c, r, &ac);
	}
	return 0;
}

/* ---- invariants ------------------------------------------------------------------ */

static int cmp_entry(const void *x, const void *y)
{
	const entry *p = x, *q = y;
	if (p->root != q->root)
		return (uintptr_t)p->root < (uintptr_t)q->root ? -1 : 1;
	return p->key < q->key ? -1 : p->key > q->key;
}

/* Every tree holds exactly the sums of the entries aimed at it, per
 * deadline (its tail included), and every node is in some tree. */
static const char *entries_check(const core *c, entries *es)
{
	if (es->n > 1) /* with none, es->e may be NULL: qsort must not see it */
		qsort(es->e, es->n, sizeof(*es->e), cmp_entry);
	uint64_t nodes_in_entries = 0;
	for (uint64_t i = 0; i < es->n;) {
		uint64_t j = i;
		ledger_sum want = { 0, 0 };
		for (; j < es->n && es->e[j].root == es->e[i].root && es->e[j].key == es->e[i].key; j++) {
			want.a += es->e[j].a;
			want.b += es->e[j].b;
		}
		ledger_sum upto = ledger_upto(c, *es->e[i].root, es->e[i].key);
		ledger_sum below = ledger_upto(c, *es->e[i].root, es->e[i].key - 1);
		if (upto.a - below.a != want.a || upto.b - below.b != want.b)
			return "ledger: a deadline's sums differ from the holds due then";
		nodes_in_entries += ledger_has_node(c, *es->e[i].root, es->e[i].key);
		/* A ledger's head is a node too: one per ledger with entries. */
		nodes_in_entries += i == 0 || es->e[i - 1].root != es->e[i].root;
		i = j;
	}
	if (nodes_in_entries != c->ledger.used)
		return "ledger: nodes that no hold accounts for";
	return NULL;
}

/* Each tree's shape; the count of nodes in trees. */
static const char *trees_check(const core *c, uint64_t *nodes)
{
	ledger_sum t;
	const char *why = ledger_tree_check(c, c->ledger_all, &t, nodes);
	for (uint32_t i = 0; i < c->nlocs && !why; i++)
		why = ledger_tree_check(c, c->locs[i]->ledger, &t, nodes);
	for (uint32_t i = 0; i < table_slots(&c->sku_by_name) && !why; i++) {
		const core_sku *s = table_at(&c->sku_by_name, i);
		for (uint32_t j = 0; s && j < s->nrecs && !why; j++) {
			why = ledger_tree_check(c, s->recs[j].ledger, &t, nodes);
			if (!why && t.a > s->recs[j].reserved)
				why = "ledger: a record gives back more than it has reserved";
		}
	}
	for (uint32_t i = 0; i < table_slots(&c->cust_by_key) && !why; i++) {
		const core_cust *e = table_at(&c->cust_by_key, i);
		if (e && !(why = ledger_tree_check(c, e->ledger, &t, nodes)) && t.a > e->units)
			why = "ledger: a customer gives back more units than it has";
	}
	for (uint32_t i = 0; i < table_slots(&c->inb_by_sku) && !why; i++) {
		const core_inb *b = table_at(&c->inb_by_sku, i);
		for (uint32_t k = 0; b && k < b->nslots && !why; k++)
			why = ledger_tree_check(c, b->slots[k].ledger, &t, nodes);
	}
	return why;
}

/* The lazily expired holds: exactly the heap's due ones at or before the
 * horizon, counted and summed as the core's ledger says. */
static const char *lazy_check(const core *c)
{
	if (c->horizon_ms > c->now_ms)
		return "expiry: the horizon is ahead of the clock";
	uint64_t count = 0, units = 0;
	for (uint32_t i = 0; i < c->heap_len; i++) {
		const core_resv *r = c->heap[i];
		if (r->expires_at_ms > c->horizon_ms)
			continue;
		count++;
		for (uint32_t li = 0; li < r->nlines; li++)
			for (uint32_t j = 0; j < r->lines[li].nallocs; j++) {
				const core_ralloc *a = &resv_allocs(r)[r->lines[li].alloc_first + j];
				units += a->backorder ? 0 : a->qty;
			}
	}
	ledger_sum lazy = ledger_upto(c, c->ledger_all, c->horizon_ms);
	if (lazy.b != count || lazy.a != units)
		return "expiry: the lazily expired holds differ from what the ledger says";
	if (c->exp_head && c->heap_len && c->exp_tail->expires_at_ms > c->heap[0]->expires_at_ms)
		return "expiry: a swept expiry is due after a held reservation";
	return NULL;
}

const char *expiry_check(const core *c)
{
	core *m = (core *)(uintptr_t)c; /* the walk uses the planner's stamps, scratch only */
	entries es = { 0 };
	account ac = { ACCOUNT_COLLECT, true, &es };
	for (uint32_t i = 0; i < c->heap_len; i++)
		account_walk(m, c->heap[i], &ac);
	uint64_t nodes = 0;
	const char *why = es.failed ? "check: out of memory" : trees_check(c, &nodes);
	if (why == NULL && nodes != c->ledger.used)
		why = "ledger: nodes in no tree";
	if (why == NULL)
		why = entries_check(c, &es);
	if (why == NULL)
		why = lazy_check(c);
	free(es.e);
	return why;
}
