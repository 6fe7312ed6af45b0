/*
 * snap_internal.h - what the restore's files share (snap_restore.c,
 * snap_restore_resv.c): the restore's state and its helpers. Private to
 * the core; core.h names only the opaque struct core_restore.
 */
#ifndef ALLOT_SNAP_INTERNAL_H
#define ALLOT_SNAP_INTERNAL_H

#include "core_internal.h"

/* What a record's sku item claimed, checked against the holds at the end. */
typedef struct rec_claim {
	uint32_t reserved;
	uint32_t committed;
} rec_claim;

/*
 * A line of a restored reservation whose sku is still to be looked up.
 * Lookups of skus named at random miss the cache three times each (the
 * table slot, the sku, its records), so they are done in batches of
 * PENDING_MAX, stage by stage, with the next stage's memory prefetched:
 * the misses of a batch overlap instead of following one another.
 */
#define PENDING_MAX 256

typedef struct pending {
	core_resv *res;          /* linked into the core already */
	core_sku *sku;
	uint64_t hash;
	uint16_t line;
	uint8_t name_len;
	char name[CORE_NAME_MAX];
} pending;

struct core_restore {
	core *c;                 /* being built; owned until finished */
	core_snap_header hdr;
	int last;                /* order of the last item's kind (kind_order), 0 before any */
	bool ranked;             /* location ranks computed */
	core_error failure;      /* code 0, or what every later call answers */
	uint64_t skus, reservations, keys; /* items restored */
	rec_claim *claims;       /* by record index (rec->ledger while restoring) */
	int64_t last_fin_ms;     /* the last finished reservation's time, and */
	bool last_fin_other;     /* whether it was not an expiry */
	uint64_t nclaims, claims_cap;
	pending *pending;        /* PENDING_MAX */
	uint32_t npending;
	struct bo_claim { const core_sku *sku; uint64_t loc, qty; } *bo; /* live backorders */
	uint64_t nbo, bo_cap;
};

/* Fail the restore: the error goes to *err and, unless r is NULL, stays on
 * r for every later call. Returns code. */
__attribute__((format(printf, 4, 5)))
int snap_refuse(core_restore *r, core_error *err, int code, const char *fmt, ...);

static inline bool snap_qty_valid(int64_t v)
{
	return v >= 0 && v <= CORE_QTY_MAX;
}

/* snap_restore_resv.c: a reservation item; its lines' skus are looked up
 * by snap_pending_flush(), which must run before anything reads them. */
int snap_restore_resv(core_restore *r, const core_snap_resv *v, core_error *err);
int snap_pending_flush(core_restore *r, core_error *err);
/* Live backorders against the inbound entries, once every item is in. */
int snap_check_backorders(core_restore *r, core_error *err);

#endif
