/*
 * seqmap.h - items found by a dense sequence number, in fixed pages.
 *
 * Reservation ids carry a sequence number that only grows, so instead of
 * hashing them the core files each reservation at its number: a directory
 * of pages of 4096 pointers. Inserts are appends (no probing, no rehash,
 * nothing to drain), a lookup is two loads, and an entry costs 8 bytes. A
 * page is freed when its last item goes; the directory grows by doubling
 * and holds one pointer per 4096 numbers ever used.
 */
#ifndef ALLOT_CORE_SEQMAP_H
#define ALLOT_CORE_SEQMAP_H

#include <stddef.h>
#include <stdint.h>

#define SEQMAP_PAGE_BITS 12
#define SEQMAP_PAGE_ITEMS (1u << SEQMAP_PAGE_BITS)

typedef struct seqmap_page {
	uint32_t live;
	void *items[SEQMAP_PAGE_ITEMS];
} seqmap_page;

typedef struct seqmap {
	seqmap_page **pages;
	uint64_t npages; /* directory length */
	uint64_t count;  /* items held */
} seqmap;

void seqmap_init(seqmap *m);
void seqmap_finish(seqmap *m); /* frees pages, not items */
/* Make room to put seq: the page and the directory slot exist after. 0 or
 * -1 (no memory). */
int seqmap_reserve(seqmap *m, uint64_t seq);
/* File item at seq; seqmap_reserve(seq) succeeded and seq is empty. */
void seqmap_put(seqmap *m, uint64_t seq, void *item);
void seqmap_del(seqmap *m, uint64_t seq);
/* Put item where another is filed at seq (a reservation moved). */
void seqmap_replace(seqmap *m, uint64_t seq, void *item);

static inline void *seqmap_get(const seqmap *m, uint64_t seq)
{
	uint64_t p = seq >> SEQMAP_PAGE_BITS;
	if (p >= m->npages || m->pages[p] == NULL)
		return NULL;
	return m->pages[p]->items[seq & (SEQMAP_PAGE_ITEMS - 1)];
}

#endif
