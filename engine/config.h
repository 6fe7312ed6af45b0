/*
 * config.h - allotd --config FILE: a file of `key = value` lines whose keys
 * are the long flag names without dashes (API.md v2, "Configuration").
 *
 * The file is not parsed into settings of its own. Each of its lines
 * becomes the argument `--key=value` placed ahead of the command line's own
 * arguments, and main.c's one getopt table and one parsing code take them
 * all: a flag added to that table works in the file with no code here, a
 * value is checked exactly as on the command line, and a flag given on the
 * command line comes later and so overrides the file. What this module
 * adds is the file's own checks (unknown keys, repeated keys, sections,
 * syntax) and the line number a refused value came from.
 */
#ifndef ALLOT_ENGINE_CONFIG_H
#define ALLOT_ENGINE_CONFIG_H

#include <getopt.h>
#include <stdbool.h>

/* The longest line the file may hold, in bytes. */
#define CONFIG_LINE_BYTES_MAX 4096
/* The most key = value lines it may hold. */
#define CONFIG_ENTRIES_MAX 256

typedef struct config_args {
	int argc;
	char **argv;       /* the file's --key=value, then the command line */
	const char *path;  /* --config's FILE, or NULL */
	bool check_only;   /* --check-config: check, then exit */
} config_args;

/*
 * Take --config FILE (or --config=FILE) and --check-config out of argv and
 * put the file's lines, as --key=value arguments, ahead of the rest in
 * out->argv (which lives until the process ends). options is main.c's
 * getopt table, NULL-terminated. A file that cannot be read, a syntax
 * error, a section, a key not in options (or one of help, version, config,
 * check-config), a key given twice, an empty value, or a value other than
 * yes/no/true/false/on/off/1/0 for a flag that takes none prints
 * "allotd: FILE:LINE: why" and exits 2.
 */
void config_load(int argc, char **argv, const struct option *options,
    config_args *out);

/*
 * While flags are parsed: the argument at index (optind - 1 after
 * getopt_long returned) is the one being handled. If it came from the file
 * and allotd exits with status 2 before config_at(-1), the exit names the
 * file's line ("allotd: FILE:LINE: key = value").
 */
void config_at(int index);

/*
 * After the loop, before a check that concerns one flag (long name, e.g.
 * "redis"): blame the file's line for that flag if its value in force came
 * from the file. NULL blames nothing.
 */
void config_blame(const char *flag);

#endif
