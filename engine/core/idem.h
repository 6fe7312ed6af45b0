/*
 * idem.h - idempotency keys: a retry with the same key and params gets the
 * first reply again; other params with the same key get CONFLICT.
 *
 * Keys live in one table per core, scoped by method, and in one FIFO list
 * per method so the oldest are forgotten first. A reserve key lives as long
 * as its reservation is remembered; an adjust key for retain_ms. Both are
 * bounded in number by idempotency_max.
 */
#ifndef ALLOT_CORE_IDEM_H
#define ALLOT_CORE_IDEM_H

#include "core_internal.h"

core_idem *idem_find(const core *c, int method, core_str key);
uint32_t idem_hash_of(const void *item); /* for the key table */
/* Allocate an entry and make room to insert it; NULL without memory. */
core_idem *idem_prepare(core *c, int method, core_str key, uint64_t params_hash);
void idem_abort(core_idem *e); /* free a prepared entry; NULL is fine */
/* Link a prepared entry; evicts the oldest key when at the limit. */
void idem_commit(core *c, core_idem *e);
void idem_remove(core *c, core_idem *e);
/* Forget the oldest adjust keys, at most budget: only those older than
 * retain_ms when due_only. */
uint32_t idem_forget_old(core *c, uint32_t budget, bool due_only);
void idem_finish(core *c);

#endif
