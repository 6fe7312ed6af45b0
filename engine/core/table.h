/*
 * table.h - an open-addressing hash table of pointers, for the core.
 *
 * Each slot is 8 bytes: the item's pointer in the low 48 bits (user-space
 * pointers on x86-64 and arm64 fit) and 16 bits of its hash above, so a
 * probe dereferences an item only when its tag matches. Linear probing
 * with backward-shift deletion keeps lookups short with no tombstones.
 * Growth doubles at 3/4 load; callers that must not fail half-way call
 * table_reserve() first. Items must be able to say their hash again
 * (hash_of), for growth and deletion.
 */
#ifndef ALLOT_CORE_TABLE_H
#define ALLOT_CORE_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The low 32 bits of the hash the item was inserted with. */
typedef uint32_t (*table_hash_fn)(const void *item);

typedef struct table {
	uint64_t *slots; /* 0: empty */
	uint32_t mask;   /* capacity - 1; capacity is a power of two */
	uint32_t count;
	table_hash_fn hash_of;
} table;

#define TABLE_PTR_BITS 48
#define TABLE_PTR_MASK ((UINT64_C(1) << TABLE_PTR_BITS) - 1)

int table_init(table *t, uint32_t capacity, table_hash_fn hash_of);
void table_finish(table *t);
/* Make room for n more items without growing later. 0 or -1 (no memory). */
int table_reserve(table *t, uint32_t n);
/* Insert; the caller has checked the item is absent. 0 or -1. */
int table_insert(table *t, uint64_t hash, void *item);
/* Remove this exact item (by pointer); no-op if absent. */
void table_remove(table *t, const void *item);

/*
 * Probe sequence for a hash:
 *   for (uint32_t i = table_home(t, h); t->slots[i]; i = table_next(t, i))
 *           if (table_tag_matches(t->slots[i], h)) { item = table_item(t->slots[i]); ... }
 */
static inline uint32_t table_home(const table *t, uint64_t hash)
{
	return (uint32_t)hash & t->mask;
}
static inline uint32_t table_next(const table *t, uint32_t i)
{
	return (i + 1) & t->mask;
}
static inline bool table_tag_matches(uint64_t slot, uint64_t hash)
{
	return (slot >> TABLE_PTR_BITS) == (hash >> TABLE_PTR_BITS);
}
static inline void *table_item(uint64_t slot)
{
	return (void *)(uintptr_t)(slot & TABLE_PTR_MASK);
}
/* The item in slot i, or NULL: for walking every item. */
static inline void *table_at(const table *t, uint32_t i)
{
	return table_item(t->slots[i]);
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
	memcpy(&k, p, n);
	return hash_mix(h ^ k ^ ((uint64_t)n << 59));
}

#endif
