/*
 * plan.h - choosing where each line of an order is held.
 *
 * The planner reads the state and writes only its scratch and the core's
 * plan scratch: it never changes inventory, so reserve can fail after
 * planning with nothing to undo. The rules (proto/PROTOCOL.md, "Routing"):
 *
 *   1. The usable locations are those enabled, in the channel, under
 *      capacity and offering units of at least one line (what a record
 *      offers is its available less the channel's buffer).
 *   2. The strategy ranks them; ties break by location name.
 *   3. The plan holds as many of the order's units as can be held with at
 *      most max_shipments locations, with as few locations as that takes,
 *      and among those the set whose locations rank best (compared in rank
 *      order, best first): exactly by trying every combination when at most
 *      CORE_PLAN_EXACT_MAX locations are usable, greedily beyond.
 *   4. Each line draws from the chosen locations in rank order (split
 *      units), or from the first that covers it whole, else the one
 *      offering most (split lines); split none allows one location.
 */
#ifndef ALLOT_CORE_PLAN_H
#define ALLOT_CORE_PLAN_H

#include "core_internal.h"

typedef struct plan_result {
	uint32_t nplan;        /* entries in c->plan, grouped by line in order */
	uint32_t nshort;       /* lines not fully covered, in c->shorts */
	uint64_t units;        /* units the plan holds */
	uint32_t nused;        /* locations it holds units at: plan_used(c) */
} plan_result;

/* What limits the plan beyond the command: the channel's locations (NULL:
 * all) and its buffer. */
typedef struct plan_scope {
	const uint64_t *channel_bits; /* bit per location id, or NULL */
	uint32_t buffer;
} plan_scope;

int plan_init(core *c);
void plan_finish(core *c);

/*
 * Plan the lines of cmd against skus (c->plan_skus[i], NULL when unknown).
 * Returns 0, or BUSY when the scratch cannot grow; BAD_REQUEST when the
 * strategy needs ship_to and there is none.
 */
int plan_make(core *c, const core_reserve_cmd *cmd, const plan_scope *scope,
    plan_result *out, core_error *err);

/* Location ids the last plan holds units at, nused of them. */
const uint16_t *plan_used(const core *c);

/* Forget the last plan (a mutation changed what it described). */
void plan_forget(core *c);

/* Marks per location id, for one pass at a time: a new stamp, then set
 * (true when not set before in this pass) and test. A new stamp ends the
 * planner's own pass, so use them only once a plan is made. */
uint32_t plan_stamp_next(core *c);
bool plan_stamp_set(core *c, uint16_t loc, uint32_t stamp);
bool plan_stamp_is(const core *c, uint16_t loc, uint32_t stamp);
/* locations_max location ids of scratch. */
uint16_t *plan_loc_scratch(core *c);

#endif
