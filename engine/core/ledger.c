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
 * its key under a per-core seed, which a client cannot steer, so the
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

/* A node's priority comes from its key, so finding a deadline and finding
 * where a new one goes are the same descent. The per-core seed keeps a
 * client from choosing deadlines that unbalance a tree. Ties between two
 * keys' priorities go to the smaller key, so (priority, key) orders every
 * node and the tree's shape is a function of its keys alone. */
static inline uint32_t key_prio(uint64_t seed, int64_t key)
{
	return (uint32_t)(hash_mix(seed ^ (uint64_t)key) >> 32);
}

/* Whether a node of key x (priority px) sits above one of key k (pk). */
static inline bool above(uint32_t px, int64_t x, uint32_t pk, int64_t k)
{
	return px > pk || (px == pk && x < k);
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
	ledger_node *x = N(c, l), *y = N(c, r);
	if (above(x->prio, x->key, y->prio, y->key)) {
		x->a += A(c, r);
		x->b += B(c, r);
		x->r = merge(c, x->r, r);
		return l;
	}
	y->a += A(c, l);
	y->b += B(c, l);
	y->l = merge(c, l, y->l);
	return r;
}

static void tree_add(core *c, uint32_t *root, int64_t key, uint64_t a, uint64_t b)
{
	assert(a || b);
	/* The root's b is the tree's largest: no node's b can wrap. */
	assert(b <= UINT32_MAX - B(c, *root));
	const uint32_t pk = key_prio(c->ledger.seed, key);
	/* One descent: every node above the key's place gains the sums; it
	 * ends at the key's node, or where the key's node belongs. */
	uint32_t *link = root;
	while (*link) {
		ledger_node *x = N(c, *link);
		if (x->key == key) {
			x->a += a;
			x->b += (uint32_t)b;
			return;
		}
		if (!above(x->prio, x->key, pk, key))
			break;
		x->a += a;
		x->b += (uint32_t)b;
		link = key < x->key ? &x->l : &x->r;
	}
	/* A new node: the subtree at its place splits around it. No node
	 * below can have the key, as it would then sit above them all. */
	uint32_t n = node_take(c);
	uint32_t l = 0, r = 0;
	if (*link) /* often not: a tree's only deadline comes and goes */
		split(c, *link, key, &l, &r);
	*N(c, n) = (ledger_node){ key, l, r, a + A(c, l) + A(c, r), (uint32_t)(b + B(c, l) + B(c, r)), pk };
	*link = n;
}

static void tree_sub(core *c, uint32_t *root, int64_t key, uint64_t a, uint64_t b)
{
	uint32_t *link = root;
	ledger_node *x;
	for (;;) {
		assert(*link != 0); /* the key is there */
		x = N(c, *link);
		assert(x->a >= a && x->b >= b);
		x->a -= a;
		x->b -= (uint32_t)b;
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

static ledger_sum tree_upto(const core *c, uint32_t t, int64_t upto)
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

static int64_t tree_after(const core *c, uint32_t t, int64_t after)
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

static void tree_clear(core *c, uint32_t *root)
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

static const char *tree_check(const core *c, uint32_t t, int64_t lo, int64_t hi,
    const ledger_node *parent,
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
	if (x->prio != key_prio(c->ledger.seed, x->key))
		return "ledger: a node's priority is not its key's";
	if (parent && above(x->prio, x->key, parent->prio, parent->key))
		return "ledger: priorities out of order";
	ledger_sum ls, rs;
	const char *why = tree_check(c, x->l, lo, x->key, x, &ls, nodes, depth + 1);
	if (why == NULL)
		why = tree_check(c, x->r, x->key, hi, x, &rs, nodes, depth + 1);
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

/* ---- a ledger: its head, its tail, its tree -------------------------------
 *
 * A ledger is the index of its head node: the head's key, a and b are the
 * tail (the newest deadline's sums, kept beside the tree), its l is the
 * tree's root, its r is unused (0). Holds made in the same millisecond
 * with the same ttl share a deadline, and deadlines are mostly now plus a
 * service's ttl, so they come in order: most adds meet the tail and cost
 * no descent. A deadline may be in the tail and in the tree at once; its
 * sums are then the two added. An empty ledger has no head.
 */

static inline bool tail_any(const ledger_node *h)
{
	return h->a != 0 || h->b != 0;
}

/* The tail takes a key at or after its own; an older key goes into the
 * tree, and a newer one pushes the tail's into the tree. */
void ledger_add(core *c, uint32_t *ledger, int64_t key, uint64_t a, uint64_t b)
{
	assert(a || b);
	if (*ledger == 0) {
		uint32_t n = node_take(c);
		*N(c, n) = (ledger_node){ key, 0, 0, a, (uint32_t)b, 0 };
		*ledger = n;
		return;
	}
	ledger_node *h = N(c, *ledger);
	assert(h->r == 0 && (tail_any(h) || h->l != 0));
	assert(b <= UINT32_MAX - h->b);
	if (tail_any(h) && key < h->key) {
		tree_add(c, &h->l, key, a, b);
	} else if (tail_any(h) && key > h->key) {
		tree_add(c, &h->l, h->key, h->a, h->b);
		*h = (ledger_node){ key, h->l, 0, a, (uint32_t)b, 0 };
	} else {
		h->key = key;
		h->a += a;
		h->b += (uint32_t)b;
	}
}

/* What the tail has of the key goes first, each sum as far as it goes;
 * the tree has the rest. The head goes with the last of the ledger. */
void ledger_sub(core *c, uint32_t *ledger, int64_t key, uint64_t a, uint64_t b)
{
	assert(*ledger != 0); /* the key is there */
	ledger_node *h = N(c, *ledger);
	if (tail_any(h) && h->key == key) {
		uint64_t ta = a < h->a ? a : h->a;
		uint32_t tb = b < h->b ? (uint32_t)b : h->b;
		h->a -= ta;
		h->b -= tb;
		a -= ta;
		b -= tb;
		if (!tail_any(h))
			h->key = 0;
	}
	if (a || b)
		tree_sub(c, &h->l, key, a, b);
	if (!tail_any(h) && h->l == 0) {
		node_put(c, *ledger);
		*ledger = 0;
	}
}

ledger_sum ledger_upto(const core *c, uint32_t ledger, int64_t upto)
{
	if (ledger == 0)
		return (ledger_sum){ 0, 0 };
	const ledger_node *h = N(c, ledger);
	ledger_sum s = tree_upto(c, h->l, upto);
	if (tail_any(h) && h->key <= upto) {
		s.a += h->a;
		s.b += h->b;
	}
	return s;
}

int64_t ledger_after(const core *c, uint32_t ledger, int64_t after)
{
	if (ledger == 0)
		return INT64_MAX;
	const ledger_node *h = N(c, ledger);
	int64_t best = tree_after(c, h->l, after);
	if (tail_any(h) && h->key > after && h->key < best)
		best = h->key;
	return best;
}

void ledger_clear(core *c, uint32_t *ledger)
{
	if (*ledger == 0)
		return;
	tree_clear(c, &N(c, *ledger)->l);
	node_put(c, *ledger);
	*ledger = 0;
}

bool ledger_has_node(const core *c, uint32_t ledger, int64_t key)
{
	uint32_t i = ledger ? N(c, ledger)->l : 0;
	while (i && N(c, i)->key != key)
		i = key < N(c, i)->key ? N(c, i)->l : N(c, i)->r;
	return i != 0;
}

const char *ledger_tree_check(const core *c, uint32_t ledger, ledger_sum *total, uint64_t *nodes)
{
	*total = (ledger_sum){ 0, 0 };
	if (ledger == 0)
		return NULL;
	const ledger_node *h = N(c, ledger);
	if (h->r != 0 || h->prio != 0)
		return "ledger: a head is not a head";
	if (!tail_any(h) && (h->key != 0 || h->l == 0))
		return "ledger: an empty tail keeps a key, or an empty ledger its head";
	const char *why = tree_check(c, h->l, INT64_MIN, INT64_MAX, NULL, total, nodes, 0);
	if (why)
		return why;
	(*nodes)++;
	total->a += h->a;
	total->b += h->b;
	return NULL;
}
