/*
 * replay.h - a journal record applied to the core, as it was when it was
 * recorded.
 *
 * proto/journal.h decodes a record; running it is the engine's, as every
 * run of the core is (proto/ never runs the core). Recovery replays the
 * journal through here; the tests and the journal fuzzer do too.
 */
#ifndef ALLOT_ENGINE_REPLAY_H
#define ALLOT_ENGINE_REPLAY_H

#include "core.h"
#include "journal.h"

/* Apply a decoded record: a command through core_exec at the time it was
 * recorded, or a sweep's forgetting through core_forget. 0, or a core code
 * with err filled. */
int replay_apply(core *c, const journal_entry *e, core_error *err);
/* The same, with what the command produced in *res (a sweep's is left
 * zeroed), for readers of the history that report it. */
int replay_apply_result(core *c, const journal_entry *e, core_result *res, core_error *err);

#endif
