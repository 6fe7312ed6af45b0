/*
 * replay.c - a journal record applied to the core (see replay.h).
 */
#include "replay.h"

#include <assert.h>

int replay_apply(core *c, const journal_entry *e, core_error *err)
{
	core_result res;
	return replay_apply_result(c, e, &res, err);
}

int replay_apply_result(core *c, const journal_entry *e, core_result *res, core_error *err)
{
	if (e->kind == JOURNAL_KIND_SWEEP) {
		*res = (core_result){ 0 };
		return core_forget(c, e->now_ms, e->forgot_reservations, e->forgot_keys, err);
	}
	assert(e->cmd.type >= CORE_CMD_STOCK_SET && e->cmd.type <= CORE_CMD_LAST);
	return core_exec(c, &e->cmd, e->now_ms, res, err);
}
