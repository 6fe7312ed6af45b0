/*
 * table.h - an open-addressing hash table of pointers, for the core.
 *
 * Linear probing with backward-shift deletion, so there are no tombstones
 * and lookups stay short however many removals happen. Each slot keeps the
 * low 32 bits of the item's hash beside the pointer, so a probe compares
 * items only when their hashes match. Growth doubles at 3/4 load; callers
 * that must not fail half-way call table_reserve() first.
 */
#ifndef ALLOT_CORE_TABLE_H
#define ALLOT_CORE_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct table_slot {
	void *item;
	uint32_t hash;
} table_slot;

typedef struct table {
	table_slot *slots;
	uint32_t mask;  /* capacity - 1; capacity is a power of two */
	uint32_t count;
} table;

int table_init(table *t, uint32_t capacity);
void table_finish(table *t);
/* Make room for n more items without growing later. 0 or -1 (no memory). */
int table_reserve(table *t, uint32_t n);
/* Insert; the caller has checked the item is absent. 0 or -1. */
int table_insert(table *t, uint64_t hash, void *item);
/* Remove this exact item (by pointer); no-op if absent. */
void table_remove(table *t, uint64_t hash, const void *item);

/* Probe sequence for a hash: for (i = table_home(t, h); t->slots[i].item;
 * i = table_next(t, i)) if (t->slots[i].hash == (uint32_t)h && eq) ... */
static inline uint32_t table_home(const table *t, uint64_t hash)
{
	return (uint32_t)hash & t->mask;
}
static inline uint32_t table_next(const table *t, uint32_t i)
{
	return (i + 1) & t->mask;
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
