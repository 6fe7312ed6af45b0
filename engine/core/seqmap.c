/*
 * seqmap.c - see seqmap.h.
 */
#include "seqmap.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

void seqmap_init(seqmap *m)
{
	*m = (seqmap){ NULL, 0, 0 };
}

void seqmap_finish(seqmap *m)
{
	for (uint64_t p = 0; p < m->npages; p++)
		free(m->pages[p]);
	free(m->pages);
	seqmap_init(m);
}

int seqmap_reserve(seqmap *m, uint64_t seq)
{
	uint64_t p = seq >> SEQMAP_PAGE_BITS;
	if (p >= m->npages) {
		uint64_t n = m->npages ? m->npages : 16;
		while (n <= p)
			n *= 2;
		seqmap_page **pages = realloc(m->pages, n * sizeof(*pages));
		if (pages == NULL)
			return -1;
		memset(pages + m->npages, 0, (n - m->npages) * sizeof(*pages));
		m->pages = pages;
		m->npages = n;
	}
	if (m->pages[p] == NULL && (m->pages[p] = calloc(1, sizeof(seqmap_page))) == NULL)
		return -1;
	return 0;
}

void seqmap_put(seqmap *m, uint64_t seq, void *item)
{
	seqmap_page *page = m->pages[seq >> SEQMAP_PAGE_BITS];
	void **slot = &page->items[seq & (SEQMAP_PAGE_ITEMS - 1)];
	assert(*slot == NULL && item != NULL);
	*slot = item;
	page->live++;
	m->count++;
}

void seqmap_del(seqmap *m, uint64_t seq)
{
	uint64_t p = seq >> SEQMAP_PAGE_BITS;
	if (p >= m->npages || m->pages[p] == NULL)
		return;
	seqmap_page *page = m->pages[p];
	void **slot = &page->items[seq & (SEQMAP_PAGE_ITEMS - 1)];
	if (*slot == NULL)
		return;
	*slot = NULL;
	m->count--;
	if (--page->live == 0) {
		free(page);
		m->pages[p] = NULL;
	}
}

void seqmap_replace(seqmap *m, uint64_t seq, void *item)
{
	seqmap_page *page = m->pages[seq >> SEQMAP_PAGE_BITS];
	void **slot = &page->items[seq & (SEQMAP_PAGE_ITEMS - 1)];
	assert(*slot != NULL && item != NULL);
	*slot = item;
}
