#include "table.h"

#include <assert.h>
#include <stdlib.h>

int table_init(table *t, uint32_t capacity, table_hash_fn hash_of)
{
	uint32_t cap = 16;
	while (cap < capacity)
		cap <<= 1;
	t->slots = calloc(cap, sizeof(*t->slots));
	if (t->slots == NULL)
		return -1;
	t->mask = cap - 1;
	t->count = 0;
	t->hash_of = hash_of;
	return 0;
}

void table_finish(table *t)
{
	free(t->slots);
	t->slots = NULL;
	t->mask = 0;
	t->count = 0;
}

static void place(table *t, uint32_t home, uint64_t slot)
{
	uint32_t i = home & t->mask;
	while (t->slots[i] != 0)
		i = table_next(t, i);
	t->slots[i] = slot;
}

static int grow(table *t, uint32_t cap)
{
	uint64_t *old = t->slots;
	uint32_t old_cap = t->mask + 1;
	uint64_t *slots = calloc(cap, sizeof(*slots));
	if (slots == NULL)
		return -1;
	t->slots = slots;
	t->mask = cap - 1;
	for (uint32_t i = 0; i < old_cap; i++)
		if (old[i] != 0)
			place(t, t->hash_of(table_item(old[i])), old[i]);
	free(old);
	return 0;
}

int table_reserve(table *t, uint32_t n)
{
	uint64_t need = (uint64_t)t->count + n;
	uint64_t cap = (uint64_t)t->mask + 1;
	if (need * 4 <= cap * 3)
		return 0;
	while (need * 4 > cap * 3)
		cap <<= 1;
	if (cap > (1ULL << 31))
		return -1;
	return grow(t, (uint32_t)cap);
}

int table_insert(table *t, uint64_t hash, void *item)
{
	uint64_t ptr = (uint64_t)(uintptr_t)item;
	assert(item != NULL && (ptr & ~TABLE_PTR_MASK) == 0);
	assert(t->hash_of(item) == (uint32_t)hash);
	if (table_reserve(t, 1) != 0)
		return -1;
	place(t, (uint32_t)hash, (hash & ~TABLE_PTR_MASK) | ptr);
	t->count++;
	return 0;
}

void table_remove(table *t, const void *item)
{
	uint32_t i = t->hash_of(item) & t->mask;
	while (table_item(t->slots[i]) != item) {
		if (t->slots[i] == 0)
			return;
		i = table_next(t, i);
	}
	/* Backward-shift: pull later members of the cluster into the hole when
	 * their home slot is at or before it, so no probe sequence breaks. */
	uint32_t hole = i;
	for (uint32_t j = table_next(t, i); t->slots[j] != 0; j = table_next(t, j)) {
		uint32_t home = t->hash_of(table_item(t->slots[j])) & t->mask;
		bool movable = (hole <= j) ? (home <= hole || home > j)
		                           : (home <= hole && home > j);
		if (movable) {
			t->slots[hole] = t->slots[j];
			hole = j;
		}
	}
	t->slots[hole] = 0;
	t->count--;
}
