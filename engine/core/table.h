/*
 * table.h - an open-addressing hash table of pointers, for the core.
 *
 * Each slot is 8 bytes: the item's pointer in the low 48 bits (user-space
 * pointers on x86-64 and arm64 fit) and 16 bits of its hash above, so a
 * probe dereferences an item only when its tag matches. Linear probing
 * with backward-shift deletion keeps lookups short with no tombstones.
 *
 * Growth never stalls the caller: at 3/4 load a table twice the size is
 * allocated and the old one is drained into it a few slots at every insert
 * and removal, while lookups look in both. Callers that must not fail
 * half-way call table_reserve() first. Items must be able to say their hash
 * again (hash_of), for moving and deletion.
 */
#ifndef ALLOT_CORE_TABLE_H
#define ALLOT_CORE_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The low 32 bits of the hash the item was inserted with. */
typedef uint32_t (*table_hash_fn)(const void *item);

/* One open-addressing array. */
typedef struct table_array {
	uint64_t *slots; /* 0: empty */
	uint32_t mask;   /* capacity - 1; capacity is a power of two */
	uint32_t count;
} table_array;

typedef struct table {
	table_array cur;  /* inserts go here */
	table_array old;  /* being drained into cur; slots NULL when not */
	uint32_t drain_at; /* next slot of old to move */
	table_hash_fn hash_of;
} table;

#define TABLE_PTR_BITS 48
#define TABLE_PTR_MASK ((UINT64_C(1) << TABLE_PTR_BITS) - 1)

int table_init(table *t, uint32_t capacity, table_hash_fn hash_of);
void table_finish(table *t);
/* Make room for n more items: the next n inserts will not allocate or
 * fail. 0 or -1 (no memory). */
int table_reserve(table *t, uint32_t n);
/* Insert; the caller has checked the item is absent. 0 or -1. */
int table_insert(table *t, uint64_t hash, void *item);
/* Remove this exact item (by pointer); no-op if absent. */
void table_remove(table *t, const void *item);

static inline uint32_t table_count(const table *t)
{
	return t->cur.count + t->old.count;
}

static inline void *table_item(uint64_t slot)
{
	return (void *)(uintptr_t)(slot & TABLE_PTR_MASK);
}

/* Walking every item: slots 0 .. table_slots(t)-1, table_at() NULL for empty. */
static inline uint32_t table_slots(const table *t)
{
	return t->cur.mask + 1 + (t->old.slots ? t->old.mask + 1 : 0);
}
static inline void *table_at(const table *t, uint32_t i)
{
	uint32_t n = t->cur.mask + 1;
	return table_item(i < n ? t->cur.slots[i] : t->old.slots[i - n]);
}

/* The item eq() accepts among those filed under hash, or NULL. Inline so
 * that eq is inlined too. */
typedef bool (*table_eq_fn)(const void *item, const void *key);

static inline void *table_array_find(const table_array *a, uint64_t hash,
    table_eq_fn eq, const void *key)
{
	uint64_t tag = hash >> TABLE_PTR_BITS;
	for (uint32_t i = (uint32_t)hash & a->mask; a->slots[i]; i = (i + 1) & a->mask) {
		uint64_t slot = a->slots[i];
		if ((slot >> TABLE_PTR_BITS) == tag && eq(table_item(slot), key))
			return table_item(slot);
	}
	return NULL;
}

static inline void *table_find(const table *t, uint64_t hash, table_eq_fn eq, const void *key)
{
	void *item = table_array_find(&t->cur, hash, eq, key);
	if (item == NULL && t->old.slots != NULL)
		item = table_array_find(&t->old, hash, eq, key);
	return item;
}

/*
 * For lookups in batches, which overlap their cache misses: table_prefetch()
 * asks for the slot a lookup of hash starts at; a later
 * table_prefetch_items(), once that slot is in cache, asks for the items
 * its probe sequence holds under hash's tag. Hints only: they change
 * nothing and skip an array being drained.
 */
static inline void table_prefetch(const table *t, uint64_t hash)
{
	__builtin_prefetch(&t->cur.slots[(uint32_t)hash & t->cur.mask]);
}

static inline void table_prefetch_items(const table *t, uint64_t hash)
{
	const table_array *a = &t->cur;
	uint64_t tag = hash >> TABLE_PTR_BITS;
	for (uint32_t i = (uint32_t)hash & a->mask; a->slots[i]; i = (i + 1) & a->mask)
		if ((a->slots[i] >> TABLE_PTR_BITS) == tag)
			__builtin_prefetch(table_item(a->slots[i]));
}

/* 64-bit mixing (the splitmix64 finaliser). */
static inline uint64_t hash_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

/* Seeded hash of a short byte string (names are at most 128 bytes). */
static inline uint64_t hash_bytes(uint64_t seed, const char *p, size_t n)
{
	uint64_t h = seed ^ ((uint64_t)n * 0x9e3779b97f4a7c15ULL);
	while (n >= 8) {
		uint64_t k;
		memcpy(&k, p, 8);
		h = hash_mix(h ^ k);
		p += 8;
		n -= 8;
	}
	uint64_t k = 0;
	if (n)
		memcpy(&k, p, n);
	return hash_mix(h ^ k ^ ((uint64_t)n << 59));
}

#endif
