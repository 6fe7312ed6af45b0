/*
 * core_internal.h - the core's data layout, shared by its .c files only.
 *
 * Inventory: skus are found by name through a hash table; each sku keeps a
 * small array of records, one per location it is stocked at, sorted by the
 * location's rank (priority, then name) so that allocation walks it in
 * order. Locations are few and get a 16-bit id.
 *
 * Reservations are one allocation each: the header, its lines, their
 * allocations and the order id, back to back. The expiry heap node is just
 * an index inside the reservation, so scheduling allocates nothing.
 */
#ifndef ALLOT_CORE_INTERNAL_H
#define ALLOT_CORE_INTERNAL_H

#include "core.h"
#include "seqmap.h"
#include "table.h"

#include <assert.h>

#define LOC_NONE 0xffffu
#define HEAP_NONE UINT32_MAX

typedef struct core_loc {
	uint64_t hash;
	int32_t priority;
	uint32_t rank; /* 0 = best; ranks are dense over existing locations */
	uint16_t id;
	uint8_t name_len;
	char name[CORE_NAME_MAX + 1];
} core_loc;

/* One sku at one location. 32 bytes. */
typedef struct core_rec {
	uint32_t on_hand;
	uint32_t reserved;
	uint32_t committed;
	uint32_t safety;
	uint64_t version;
	uint16_t loc;
	uint16_t unused16;
	uint32_t unused32;
} core_rec;

typedef struct core_sku {
	core_rec *recs; /* sorted by location rank */
	uint32_t hash32;
	uint16_t nrecs;
	uint16_t caprecs;
	uint8_t name_len;
	char name[]; /* NUL-terminated */
} core_sku;

typedef struct core_ralloc {
	uint32_t qty;  /* still allocated */
	uint32_t orig; /* as reserve returned it */
	uint16_t loc;
} core_ralloc;

typedef struct core_rline {
	core_sku *sku;
	uint32_t qty; /* requested */
	uint32_t released;
	uint32_t fulfilled;
	uint16_t alloc_first;
	uint16_t nallocs;
} core_rline;

typedef struct core_idem core_idem;

struct core_resv {
	uint64_t id;
	int64_t expires_at_ms;      /* current deadline while held */
	int64_t orig_expires_at_ms; /* as reserve returned it */
	int64_t finished_at_ms;     /* when it left held/committed */
	core_resv *fin_next;        /* finished FIFO, oldest first */
	core_idem *idem;            /* the key that created it, if any */
	uint32_t heap_idx;          /* position in the expiry heap or HEAP_NONE */
	uint16_t nlines;
	uint8_t status;
	uint8_t order_id_len;
	core_rline lines[];         /* then nallocs core_ralloc, then order id,
	                             * then (len byte, name) per unknown-sku line */
};

enum idem_method { IDEM_RESERVE = 1, IDEM_ADJUST = 2 };

struct core_idem {
	uint64_t hash;
	uint64_t params_hash;
	int64_t created_ms;
	core_idem *prev, *next; /* insertion order, oldest at head */
	core_resv *resv;        /* IDEM_RESERVE */
	core_record_view rec;   /* IDEM_ADJUST: the reply; names point into the sku/loc */
	uint8_t method;
	uint8_t key_len;
	char key[];
};

struct core {
	core_config cfg;
	int64_t now_ms;

	/* Locations by id and by name; rank_order[rank] = id. */
	core_loc **locs;
	uint16_t *rank_order;
	uint32_t nlocs;
	table loc_by_name;

	table sku_by_name;
	uint64_t nrecs;

	/* Reservations by id; expiry heap; finished FIFO. */
	seqmap resv_by_seq;   /* reservation id = id_base + sequence number */
	uint64_t id_base;
	core_resv **heap;
	uint32_t heap_len, heap_cap;
	core_resv *fin_head, *fin_tail;
	uint64_t next_seq;
	uint64_t by_status[5];
	uint64_t expired_total;
	uint64_t units_reserved, units_committed;
	uint32_t swept_reservations, swept_keys; /* forgotten by the last sweep */

	table idem_by_key;
	core_idem *idem_head[2], *idem_tail[2]; /* by method - 1, oldest first */

	/* Scratch for planning, sized for lines_max; grown when a plan needs
	 * more allocations than seen before. */
	core_short_line *shorts;
	core_sku **plan_skus;
	struct plan_alloc { core_rec *rec; uint32_t line; uint32_t qty; } *plan;
	uint32_t plan_cap;
};

/* Helpers shared across the core's files. */
static inline uint64_t resv_count(const core *c)
{
	return c->resv_by_seq.count;
}
static inline core_ralloc *resv_allocs(const core_resv *r)
{
	return (core_ralloc *)(void *)((char *)(uintptr_t)r + sizeof(*r) + r->nlines * sizeof(core_rline));
}
/* The order id follows the last line's allocations. */
static inline const char *resv_order_id(const core_resv *r)
{
	const core_rline *last = &r->lines[r->nlines - 1];
	return (const char *)(resv_allocs(r) + last->alloc_first + last->nallocs);
}
/* A line's sku name: its sku's, or for a sku that did not exist when the
 * order was reserved (allow_partial; the line's sku is then NULL), the copy
 * kept after the order id. */
core_str rline_sku_name(const core_resv *r, const core_rline *l);
static inline int64_t rec_available(const core_rec *rec)
{
	int64_t a = (int64_t)rec->on_hand - rec->reserved - rec->committed - rec->safety;
	return a > 0 ? a : 0;
}

int core_fail(core_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool name_valid(core_str s, uint32_t max);

uint64_t loc_name_hash(const core *c, core_str name);
uint64_t sku_name_hash(const core *c, core_str name);
core_loc *loc_find(const core *c, core_str name);
core_sku *sku_find(const core *c, core_str name);
/* Locations rank by priority (ascending), then name. */
int loc_rank_cmp(const core_loc *a, const core_loc *b);
core_rec *sku_rec_at(const core *c, const core_sku *s, uint16_t loc);
void rec_view(const core *c, const core_sku *s, const core_rec *rec, core_record_view *out);

int inventory_init(core *c);
void inventory_finish(core *c);
int inventory_exec(core *c, const core_cmd *cmd, core_result *res, core_error *err);

int resv_init(core *c);
void resv_finish(core *c);
int resv_exec(core *c, const core_cmd *cmd, core_result *res, core_error *err);
uint32_t resv_expire_due(core *c, uint32_t budget);
/* Forget the oldest finished reservations, at most budget: only those past
 * retain_ms when due_only. */
uint32_t resv_forget_old(core *c, uint32_t budget, bool due_only);
const char *resv_check(const core *c);

void heap_push(core *c, core_resv *r);
void heap_remove(core *c, core_resv *r);
void heap_update(core *c, core_resv *r);
static inline core_resv *heap_top(const core *c)
{
	return c->heap_len ? c->heap[0] : NULL;
}
int heap_reserve(core *c, uint32_t n);
const char *heap_check(const core *c);

#endif
