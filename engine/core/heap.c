/*
 * heap.c - the expiry heap: a binary min-heap of held reservations ordered
 * by (deadline, id). Each reservation keeps its own index, so removal and
 * re-keying are O(log n) and nothing is allocated once the array has room.
 */
#include "core_internal.h"

#include <stdlib.h>

static bool before(const core_resv *a, const core_resv *b)
{
	if (a->expires_at_ms != b->expires_at_ms)
		return a->expires_at_ms < b->expires_at_ms;
	return a->id < b->id;
}

static void set(core *c, uint32_t i, core_resv *r)
{
	c->heap[i] = r;
	r->heap_idx = i;
}

static void sift_up(core *c, uint32_t i)
{
	core_resv *r = c->heap[i];
	while (i > 0) {
		uint32_t parent = (i - 1) / 2;
		if (!before(r, c->heap[parent]))
			break;
		set(c, i, c->heap[parent]);
		i = parent;
	}
	set(c, i, r);
}

static void sift_down(core *c, uint32_t i)
{
	core_resv *r = c->heap[i];
	for (;;) {
		uint32_t child = 2 * i + 1;
		if (child >= c->heap_len)
			break;
		if (child + 1 < c->heap_len && before(c->heap[child + 1], c->heap[child]))
			child++;
		if (!before(c->heap[child], r))
			break;
		set(c, i, c->heap[child]);
		i = child;
	}
	set(c, i, r);
}

int heap_reserve(core *c, uint32_t n)
{
	if ((uint64_t)c->heap_len + n <= c->heap_cap)
		return 0;
	uint64_t cap = c->heap_cap ? c->heap_cap : 1024;
	while (cap < (uint64_t)c->heap_len + n)
		cap *= 2;
	if (cap > UINT32_MAX - 1)
		return -1;
	core_resv **h = realloc(c->heap, cap * sizeof(*h));
	if (h == NULL)
		return -1;
	c->heap = h;
	c->heap_cap = (uint32_t)cap;
	return 0;
}

void heap_push(core *c, core_resv *r)
{
	assert(c->heap_len < c->heap_cap); /* heap_reserve() was called */
	assert(r->heap_idx == HEAP_NONE);
	c->heap[c->heap_len] = r;
	r->heap_idx = c->heap_len++;
	sift_up(c, r->heap_idx);
}

void heap_remove(core *c, core_resv *r)
{
	uint32_t i = r->heap_idx;
	assert(i < c->heap_len && c->heap[i] == r);
	r->heap_idx = HEAP_NONE;
	c->heap_len--;
	if (i == c->heap_len)
		return;
	core_resv *moved = c->heap[c->heap_len];
	set(c, i, moved);
	sift_up(c, i);
	sift_down(c, moved->heap_idx);
}

void heap_update(core *c, core_resv *r)
{
	assert(r->heap_idx < c->heap_len);
	sift_up(c, r->heap_idx);
	sift_down(c, r->heap_idx);
}

const char *heap_check(const core *c)
{
	for (uint32_t i = 0; i < c->heap_len; i++) {
		if (c->heap[i]->heap_idx != i)
			return "heap: a reservation's index does not match its slot";
		if (c->heap[i]->status != CORE_RESV_HELD)
			return "heap: a reservation that is not held is scheduled";
		if (i > 0 && before(c->heap[i], c->heap[(i - 1) / 2]))
			return "heap: a child is due before its parent";
	}
	return NULL;
}
