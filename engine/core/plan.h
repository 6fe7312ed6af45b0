/*
 * plan.h - choosing where each line of an order is held.
 *
 * The planner reads the state and writes only the core's plan scratch: it
 * never changes inventory, so reserve can fail after planning with nothing
 * to undo.
 */
#ifndef ALLOT_CORE_PLAN_H
#define ALLOT_CORE_PLAN_H

#include "core_internal.h"

typedef struct plan_result {
	uint32_t nplan;        /* entries in c->plan, grouped by line in order */
	uint32_t nshort;       /* lines not fully covered, in c->shorts */
	uint64_t units;        /* units the plan holds */
} plan_result;

/*
 * Plan the lines of cmd against skus (c->plan_skus[i], NULL when unknown).
 * Prefers the best-ranked single location that covers the whole order;
 * otherwise each line draws from its locations in rank order. Returns 0, or
 * BUSY when the scratch cannot grow.
 */
int plan_make(core *c, const core_reserve_cmd *cmd, plan_result *out, core_error *err);

#endif
