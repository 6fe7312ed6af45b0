/*
 * history_util.h - what the history commands share: where the history is
 * (--redis URL [--namespace NS] or --dir DIR), times on the command line
 * and in output, and a record's views read back from a core.
 */
#ifndef ALLOT_TOOLS_HISTORY_UTIL_H
#define ALLOT_TOOLS_HISTORY_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core.h"
#include "history.h"

/* Exit statuses of the history commands. */
enum { HU_EXIT_OK = 0, HU_EXIT_DATA = 1, HU_EXIT_USAGE = 2 };

/* The options every history command takes. */
typedef struct hu_source {
	const char *url;          /* --redis */
	const char *ns;           /* --namespace, default "default" */
	const char *dir;          /* --dir */
	int64_t ttl_default_ms;   /* --ttl-default-ms: the engine's, 0 for the contract's */
} hu_source;

/* getopt_long values of the shared options, above any letter. */
enum { HU_OPT_REDIS = 1000, HU_OPT_NAMESPACE, HU_OPT_DIR, HU_OPT_TTL_DEFAULT_MS };
#define HU_SOURCE_OPTIONS \
	{ "redis", required_argument, NULL, HU_OPT_REDIS }, \
	{ "namespace", required_argument, NULL, HU_OPT_NAMESPACE }, \
	{ "dir", required_argument, NULL, HU_OPT_DIR }, \
	{ "ttl-default-ms", required_argument, NULL, HU_OPT_TTL_DEFAULT_MS }
#define HU_SOURCE_HELP \
	"  --redis URL         read the history kept in Redis (with --namespace NS)\n" \
	"  --dir DIR           ... or the archive `allot archive` wrote in DIR\n" \
	"  --ttl-default-ms N  allotd's --ttl-default-ms, when it was not the default\n"

/* Take one of the shared options (opt, optarg) into src: 1 taken, 0 not
 * one of them, -1 a bad value (said on stderr). */
int hu_source_option(hu_source *src, int opt, const char *arg, const char *prog);
/* Open the history src names (exactly one of --redis and --dir). NULL
 * after saying why on stderr. */
history *hu_open(const hu_source *src, const char *prog);

/* A time: ms since the epoch, or an ISO 8601 UTC date
 * (2026-12-05T10:00:00Z, seconds and Z optional, or a plain date). */
int hu_parse_time(const char *text, int64_t *ms);
/* ms since the epoch as "2026-12-05T10:00:00.123Z" into buf (32 bytes). */
const char *hu_format_time(int64_t ms, char *buf, size_t len);

/* The records of sku (at location when its p is not NULL), into out (at
 * most cap), in location rank order; *n how many. Strings point into the
 * core until its next change. */
void hu_records(const core *c, core_str sku, core_str location, core_record_view *out,
    uint32_t cap, uint32_t *n);

/* core_str of a C string (NULL: absent). */
core_str hu_str(const char *s);

#endif
