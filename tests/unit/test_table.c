/*
 * test_table.c - the core's hash table against a plain reference: random
 * inserts, removals and lookups through many growths, with the old array
 * still draining, and with hashes forced to collide.
 */
#include <criterion/criterion.h>

#include <stdlib.h>

#include "table.h"

typedef struct item {
	uint64_t key;
	uint64_t hash;
	bool present;
} item;

/* Hashes that collide a lot when spread is small. */
static uint64_t spread = UINT64_MAX;

static uint64_t item_hash(uint64_t key)
{
	return hash_mix(spread == UINT64_MAX ? key : key % spread);
}

static uint32_t hash_of(const void *p)
{
	return (uint32_t)((const item *)p)->hash;
}

static bool eq(const void *p, const void *key)
{
	return ((const item *)p)->key == *(const uint64_t *)key;
}

static item *find(const table *t, uint64_t key)
{
	return table_find(t, item_hash(key), eq, &key);
}

/* Every present item is found, and a walk sees exactly the present ones. */
static void check_all(const table *t, item *items, uint32_t n)
{
	uint32_t present = 0;
	for (uint32_t i = 0; i < n; i++) {
		item *got = find(t, items[i].key);
		if (items[i].present) {
			present++;
			cr_assert_eq(got, &items[i], "item %u not found", i);
		} else {
			cr_assert_null(got, "removed item %u still found", i);
		}
	}
	cr_assert_eq(table_count(t), present);
	uint32_t walked = 0;
	for (uint32_t i = 0; i < table_slots(t); i++) {
		item *it = table_at(t, i);
		if (it) {
			cr_assert(it->present, "the walk found a removed item");
			walked++;
		}
	}
	cr_assert_eq(walked, present);
}

static void run(uint64_t seed, uint64_t collide, uint32_t n, uint32_t steps)
{
	spread = collide;
	item *items = calloc(n, sizeof(*items));
	for (uint32_t i = 0; i < n; i++) {
		items[i].key = i * 7919u + 1;
		items[i].hash = item_hash(items[i].key);
	}
	table t;
	cr_assert_eq(table_init(&t, 16, hash_of), 0);
	uint64_t x = seed;
	bool saw_drain = false;
	for (uint32_t s = 0; s < steps; s++) {
		x = hash_mix(x + s);
		item *it = &items[x % n];
		/* Insert more than remove, so the table grows again and again. */
		if (!it->present && (x >> 32) % 4 != 0) {
			cr_assert_eq(table_insert(&t, it->hash, it), 0);
			it->present = true;
		} else if (it->present && (x >> 32) % 3 == 0) {
			table_remove(&t, it);
			it->present = false;
		}
		saw_drain |= t.old.slots != NULL;
		if (s % 97 == 0 || t.old.slots != NULL)
			cr_assert_eq(find(&t, it->key) != NULL, it->present);
		if (s % 4096 == 0)
			check_all(&t, items, n);
	}
	check_all(&t, items, n);
	cr_assert(saw_drain, "the test never grew the table");
	table_finish(&t);
	free(items);
	spread = UINT64_MAX;
}

Test(table, random_inserts_and_removals_agree_with_a_reference_through_growth)
{
	run(1, UINT64_MAX, 20000, 200000);
	run(2, UINT64_MAX, 5000, 100000);
}

Test(table, heavily_colliding_hashes_still_find_every_item)
{
	/* 64 distinct hashes for thousands of items: long clusters, many
	 * backward shifts across the wrap-around. */
	run(3, 64, 3000, 60000);
}

Test(table, reserve_guarantees_the_next_inserts_need_no_growth)
{
	table t;
	cr_assert_eq(table_init(&t, 16, hash_of), 0);
	item items[100];
	cr_assert_eq(table_reserve(&t, 100), 0);
	uint64_t *slots = t.cur.slots;
	for (uint32_t i = 0; i < 100; i++) {
		items[i] = (item){ i + 1, item_hash(i + 1), true };
		cr_assert_eq(table_insert(&t, items[i].hash, &items[i]), 0);
	}
	cr_assert_eq(t.cur.slots, slots, "an insert after reserve reallocated");
	check_all(&t, items, 100);
	table_finish(&t);
}
