/*
 * help.h - `allot help` and `allot help METHOD`: what each method takes,
 * answers and refuses, with one example, from one table keyed by the
 * command table's ids (proto/command.h), so that a method added to
 * CMD_LIST without help fails the unit test 'cli_help'.
 */
#ifndef ALLOT_TOOLS_HELP_H
#define ALLOT_TOOLS_HELP_H

#include <stdio.h>

#include "command.h"

typedef struct cli_help {
	const char *summary; /* one line */
	const char *params;  /* the params map, e.g. "{sku, location?}" */
	const char *types;   /* one "key: type" per line */
	const char *result;  /* the result's shape */
	const char *errors;  /* the error codes this method answers */
	const char *example; /* params of one call, as JSON */
	const char *keys;    /* the parameter keys, space-separated, for completion */
} cli_help;

/* Indexed by cmd_id; an entry without a summary is a method without help. */
extern const cli_help cli_help_table[CMD_COUNT];

/* The command of a method name, or NULL. */
const cmd_def *cli_help_lookup(const char *method);

/* `allot help`: every method with its summary. */
void cli_help_list(FILE *out);
/* `allot help METHOD`: 0, or -1 for an unknown method (nothing printed). */
int cli_help_method(FILE *out, const char *method);

#endif
