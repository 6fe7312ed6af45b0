/*
 * ledger.c - sums by deadline: treaps keyed by deadline, each node with the
 * sums (a, b) of its subtree, all in one pool of nodes addressed by 32-bit
 * indices.
 *
 * A tree answers "how much is due at or before t" in O(depth), whatever
 * the number of deadlines at or before t: that is what lets expiry move
 * its horizon past any number of holds at once (expiry.c). Holds sharing a
 * deadline share a node, so a tree has a node per distinct deadline, not
 * per hold. Treaps need no balancing state: a node's priority is a hash of
 * its index under a per-core seed, which a client cannot steer, so the
 * expected depth is O(log n) for any pattern of deadlines. Nodes keep only
 * subtree sums; a node's own sums are its subtree's less its children's.
 *
 * Nodes come in chunks that never move, so a node pointer stays valid
 * while the tree changes, and growing the pool copies only the chunk
 * table. Callers that must not fail take nodes reserved beforehand.
 */
#include "core_internal.h"

#include <stdlib.h>

#define CHUNK_NODES (1u << LEDGER_CHUNK_BITS)
/* Indices are 32-bit and 0 is no node. */
#define LEDGER_NODES_MAX (UINT32_MAX - CHUNK_NODES)

static inline ledger_node *N(const core *c, uint32_t i)
{
	return &c->ledger.chunks[i >> LEDGER_CHUNK_BITS][i & (CHUNK_NODES - 1)];
}

static inline uint64_t A(const core *c, uint32_t i)
{
	return i ? N(c, i)->a : 0;
}

static inline uint64_t B(const core *c, uint32_t i)
{
	return i ? N(c, i)->b : 0;
}

static inline uint32_t prio(const core *c, uint32_t i)
{
	return (uint32_t)(hash_mix(c->ledger.seed ^ i) >> 32);
}

void ledger_init(core *c)
{
	c->ledger = (ledger_pool){ .seed = hash_mix(c->cfg.hash_seed ^ 0x1ed9e7) };
}

void ledger_finish(core *c)
{
	for (uint32_t i = 0; i < c->ledger.nchunks; i++)
		free(c->ledger.chunks[i]);
	free(c->ledger.chunks);
	c->ledger = (ledger_pool){ 0 };
}

static int chunk_add(core *c)
{
	ledger_pool *p = &c->ledger;
	if ((uint64_t)(p->nchunks + 1) * CHUNK_NODES > LEDGER_NODES_MAX)
		return -1;
	if (p->nchunks == p->cap_chunks) {
		uint32_t cap = p->cap_chunks ? p->cap_chunks * 2 : 16;
		ledger_node **chunks = realloc(p->chunks, cap * sizeof(*chunks));
		if (chunks == NULL)
			return -1;
		p->chunks = chunks;
		p->cap_chunks = cap;
	}
	ledger_node *chunk = malloc(CHUNK_NODES * sizeof(*chunk));
	if (chunk == NULL)
		return -1;
	uint32_t base = p->nchunks << LEDGER_CHUNK_BITS;
	p->chunks[p->nchunks++] = chunk;
	/* Onto the free list, lowest index first; index 0 is never a node. */
	for (uint32_t i = CHUNK_NODES; i-- > (base == 0);) {
		chunk[i].l = p->free_head;
		p->free_head = base + i;
		p->nfree++;
	}
	return 0;
}

int ledger_reserve(core *c, uint64_t n)
{
	while (c->ledger.nfree < n)
		if (chunk_add(c) != 0)
			return -1;
	return 0;
}

static uint32_t node_take(core *c)
{
	ledger_pool *p = &c->ledger;
	assert(p->nfree > 0 && p->free_head != 0); /* ledger_reserve() was called */
	uint32_t i = p->free_head;
	p->free_head = N(c, i)->l;
	p->nfree--;
	p->used++;
	return i;
}

static void node_put(core *c, uint32_t i)
{
	ledger_pool *p = &c->ledger;
	N(c, i)->l = p->free_head;
	p->free_head = i;
	p->nfree++;
	p->used--;
}

/* Split t into the keys before key (*l) and after it (*r); key is not in
 * t. Recursion depth is the tree's depth. */
static void split(core *c, uint32_t t, int64_t key, uint32_t *l, uint32_t *r)
{
	if (t == 0) {
		*l = *r = 0;
		return;
	}
	ledger_node *x = N(c, t);
	assert(x->key != key);
	if (x->key < key) {
		split(c, x->r, key, &x->r, r);
		x->a -= A(c, *r);
		x->b -= B(c, *r);
		*l = t;
	} else {
		split(c, x->l, key, l, &x->l);
		x->a -= A(c, *l);
		x->b -= B(c, *l);
		*r = t;
	}
}

/* Join two trees, every key of l before every key of r. */
static uint32_t merge(core *c, uint32_t l, uint32_t r)
{
	if (l == 0 || r == 0)
		return l ? l : r;
	/* The tree that goes under gains the other's sums: take them first. */
	if (prio(c, l) > prio(c, r)) {
		ledger_node *x = N(c, l);
		x->a += A(c, r);
		x->b += B(c, r);
		x->r = merge(c, x->r, r);
		return l;
	}
	ledger_node *y = N(c, r);
	y->a += A(c, l);
	y->b += B(c, l);
	y->l = merge(c, l, y->l);
	return r;
}

void ledger_add(core *c, uint32_t *root, int64_t key, uint64_t a, uint64_t b)
{
	assert(a || b);
	uint32_t t = *root;
	while (t && N(c, t)->key != key)
		t = key < N(c, t)->key ? N(c, t)->l : N(c, t)->r;
	if (t) { /* the deadline has a node: its path gains the sums */
		for (t = *root;; t = key < N(c, t)->key ? N(c, t)->l : N(c, t)->r) {
			N(c, t)->a += a;
			N(c, t)->b += b;
			if (N(c, t)->key == key)
				return;
		}
	}
	/* A new node goes down to where its priority places it; the nodes
	 * above gain the sums, the subtree there splits around it. */
	uint32_t n = node_take(c);
	uint32_t pn = prio(c, n);
	uint32_t *link = root;
	while (*link && prio(c, *link) >= pn) {
		ledger_node *x = N(c, *link);
		x->a += a;
		x->b += b;
		link = key < x->key ? &x->l : &x->r;
	}
	uint32_t l = 0, r = 0;
	if (*link) /* often not: a tree's only deadline comes and goes */
		split(c, *link, key, &l, &r);
	*N(c, n) = (ledger_node){ key, l, r, a + A(c, l) + A(c, r), b + B(c, l) + B(c, r) };
	*link = n;
}

void ledger_sub(core *c, uint32_t *root, int64_t key, uint64_t a, uint64_t b)
{
	uint32_t *link = root;
	ledger_node *x;
	for (;;) {
		assert(*link != 0); /* the key is there */
		x = N(c, *link);
		assert(x->a >= a && x->b >= b);
		x->a -= a;
		x->b -= b;
		if (x->key == key)
			break;
		link = key < x->key ? &x->l : &x->r;
	}
	/* Its own sums are what its children do not account for. */
	if (x->a == A(c, x->l) + A(c, x->r) && x->b == B(c, x->l) + B(c, x->r)) {
		uint32_t t = *link;
		*link = x->l && x->r ? merge(c, x->l, x->r) : x->l | x->r;
		node_put(c, t);
	}
}

ledger_sum ledger_upto(const core *c, uint32_t t, int64_t upto)
{
	ledger_sum s = { 0, 0 };
	while (t) {
		const ledger_node *x = N(c, t);
		if (x->key <= upto) {
			s.a += x->a - A(c, x->r);
			s.b += x->b - B(c, x->r);
			t = x->r;
		} else {
			t = x->l;
		}
	}
	return s;
}

int64_t ledger_after(const core *c, uint32_t t, int64_t after)
{
	int64_t best = INT64_MAX;
	while (t) {
		const ledger_node *x = N(c, t);
		if (x->key > after) {
			best = x->key;
			t = x->l;
		} else {
			t = x->r;
		}
	}
	return best;
}

void ledger_clear(core *c, uint32_t *root)
{
	/* Rotate left children up until there are none, freeing as we go:
	 * no recursion, however the tree is shaped. */
	uint32_t t = *root;
	while (t) {
		ledger_node *x = N(c, t);
		if (x->l) {
			uint32_t y = x->l;
			x->l = N(c, y)->r;
			N(c, y)->r = t;
			t = y;
		} else {
			uint32_t next = x->r;
			node_put(c, t);
			t = next;
		}
	}
	*root = 0;
}

static const char *tree_check(const core *c, uint32_t t, int64_t lo, int64_t hi, uint32_t parent_prio,
    ledger_sum *sum, uint64_t *nodes, uint32_t depth)
{
	*sum = (ledger_sum){ 0, 0 };
	if (t == 0)
		return NULL;
	if (depth > 1000)
		return "ledger: a tree is too deep";
	const ledger_node *x = N(c, t);
	if (x->key <= lo || x->key >= hi)
		return "ledger: keys out of order";
	if (prio(c, t) > parent_prio)
		return "ledger: priorities out of order";
	ledger_sum ls, rs;
	const char *why = tree_check(c, x->l, lo, x->key, prio(c, t), &ls, nodes, depth + 1);
	if (why == NULL)
		why = tree_check(c, x->r, x->key, hi, prio(c, t), &rs, nodes, depth + 1);
	if (why)
		return why;
	if (x->a < ls.a + rs.a || x->b < ls.b + rs.b)
		return "ledger: a node's sums are less than its children's";
	if (x->a == ls.a + rs.a && x->b == ls.b + rs.b)
		return "ledger: a node holds nothing of its own";
	(*nodes)++;
	*sum = (ledger_sum){ x->a, x->b };
	return NULL;
}

const char *ledger_tree_check(const core *c, uint32_t root, ledger_sum *total, uint64_t *nodes)
{
	return tree_check(c, root, INT64_MIN, INT64_MAX, UINT32_MAX, total, nodes, 0);
}
