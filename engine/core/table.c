/*
 * table.c - the core's hash table (see table.h).
 *
 * Draining the old array: its slots are visited in order and each item
 * found is removed from it (with the usual backward shift, so the old
 * array stays a valid table that lookups can trust) and placed in the new
 * one. A backward shift can pull an item past the wrap-around into a slot
 * already visited, so the walk starts over until the old array is empty;
 * every step removes an item, so it ends.
 */
#include "table.h"

#include <assert.h>
#include <stdlib.h>

/*
 * Pace of draining, per insert or removal. Growth happens at 3/4 load, so
 * the old array holds 3/8 of the new one's capacity, and the new one
 * reaches 3/4 after as many inserts again: moving one item per insert
 * would just finish in time, two leave a margin. Each move reads the item
 * (a cache miss) to recompute its home, so no more than that; empty slots
 * are cheap, so up to 32 of them are skipped per step.
 */
#define DRAIN_ITEMS 2u
#define DRAIN_SLOTS 32u

static int array_init(table_array *a, uint32_t cap)
{
	a->slots = calloc(cap, sizeof(*a->slots));
	if (a->slots == NULL)
		return -1;
	a->mask = cap - 1;
	a->count = 0;
	return 0;
}

static void array_finish(table_array *a)
{
	free(a->slots);
	*a = (table_array){ NULL, 0, 0 };
}

static void array_place(table_array *a, uint32_t home, uint64_t slot)
{
	uint32_t i = home & a->mask;
	while (a->slots[i] != 0)
		i = (i + 1) & a->mask;
	a->slots[i] = slot;
	a->count++;
}

/* Empty slot i of a, keeping every probe sequence intact. */
static void array_delete_at(table_array *a, uint32_t i, table_hash_fn hash_of)
{
	uint32_t hole = i;
	for (uint32_t j = (i + 1) & a->mask; a->slots[j] != 0; j = (j + 1) & a->mask) {
		uint32_t home = hash_of(table_item(a->slots[j])) & a->mask;
		bool movable = (hole <= j) ? (home <= hole || home > j)
		                           : (home <= hole && home > j);
		if (movable) {
			a->slots[hole] = a->slots[j];
			hole = j;
		}
	}
	a->slots[hole] = 0;
	a->count--;
}

static bool array_remove(table_array *a, const void *item, table_hash_fn hash_of)
{
	if (a->slots == NULL || a->count == 0)
		return false;
	uint32_t i = hash_of(item) & a->mask;
	while (table_item(a->slots[i]) != item) {
		if (a->slots[i] == 0)
			return false;
		i = (i + 1) & a->mask;
	}
	array_delete_at(a, i, hash_of);
	return true;
}

/* Move up to items items of the old array into the current one, looking
 * at no more than slots empty slots. */
static void drain(table *t, uint32_t items, uint32_t slots)
{
	table_array *old = &t->old;
	while (old->slots && items > 0 && slots > 0) {
		if (old->count == 0) {
			array_finish(old);
			break;
		}
		uint64_t slot = old->slots[t->drain_at];
		if (slot == 0) {
			t->drain_at = (t->drain_at + 1) & old->mask;
			slots--;
			continue;
		}
		array_delete_at(old, t->drain_at, t->hash_of);
		array_place(&t->cur, t->hash_of(table_item(slot)), slot);
		items--;
	}
}

int table_init(table *t, uint32_t capacity, table_hash_fn hash_of)
{
	uint32_t cap = 16;
	while (cap < capacity)
		cap <<= 1;
	*t = (table){ .hash_of = hash_of };
	return array_init(&t->cur, cap);
}

void table_finish(table *t)
{
	array_finish(&t->cur);
	array_finish(&t->old);
}

int table_reserve(table *t, uint32_t n)
{
	uint64_t need = (uint64_t)table_count(t) + n;
	uint64_t cap = (uint64_t)t->cur.mask + 1;
	if (need * 4 <= cap * 3)
		return 0;
	/* Still draining from the last growth: finish it first. Draining is
	 * paced to end before this happens, so this is the rare path. */
	drain(t, UINT32_MAX, UINT32_MAX);
	while (need * 4 > cap * 3)
		cap <<= 1;
	if (cap > (1ULL << 31))
		return -1;
	table_array fresh;
	if (array_init(&fresh, (uint32_t)cap) != 0)
		return -1;
	t->old = t->cur;
	t->cur = fresh;
	t->drain_at = 0;
	return 0;
}

int table_insert(table *t, uint64_t hash, void *item)
{
	uint64_t ptr = (uint64_t)(uintptr_t)item;
	assert(item != NULL && (ptr & ~TABLE_PTR_MASK) == 0);
	if (table_reserve(t, 1) != 0)
		return -1;
	array_place(&t->cur, (uint32_t)hash, (hash & ~TABLE_PTR_MASK) | ptr);
	drain(t, DRAIN_ITEMS, DRAIN_SLOTS);
	return 0;
}

void table_remove(table *t, const void *item)
{
	if (!array_remove(&t->cur, item, t->hash_of))
		array_remove(&t->old, item, t->hash_of);
	drain(t, DRAIN_ITEMS, DRAIN_SLOTS);
}
