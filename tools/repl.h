/*
 * repl.h - `allot` with no method on a terminal: read METHOD [JSON-PARAMS]
 * lines with libedit (history in ~/.allot_history, completion of method
 * names and parameter keys), call each on one connection, print the reply,
 * and reconnect when allotd went away (restarted) since the last line.
 */
#ifndef ALLOT_TOOLS_REPL_H
#define ALLOT_TOOLS_REPL_H

#include "cli_conn.h"
#include "output.h"

/* History lines kept. */
#define REPL_HISTORY_MAX 1000

/* Exit status: 0 at end of input or `quit`. */
int repl_main(const cli_target *t, cli_format format);

#endif
