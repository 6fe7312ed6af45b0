/*
 * config.c - the configuration file as arguments (see config.h).
 *
 * inih reads the file; a reader of our own counts its lines, so each entry
 * keeps the line it came from. Errors found here exit at once. Errors in a
 * value are found later, by main.c's flag parsing, which exits 2 with its
 * own message; an exit handler then adds the file's line, so that no flag
 * needs code of its own for it.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One entry of the file, as the argument it became. */
typedef struct config_entry {
	char *arg;   /* "--key=value", "--key", or NULL (a flag set to no) */
	char *shown; /* "key = value", for messages */
	int line;
} config_entry;

static struct {
	const char *path;
	config_entry entries[CONFIG_ENTRIES_MAX];
	int n_entries;
	int *arg_entry; /* per argument of the expanded argv: its entry + 1, or 0 */
	char **argv;
	int argc;
	int current;    /* the entry + 1 being parsed or blamed, or 0 */
} G;

/* What the reader and the handler share while inih runs. */
typedef struct parse_state {
	FILE *f;
	int line;             /* the line being read */
	bool at_line_start;
	const struct option *options;
	char why[256];        /* the handler's refusal, if any */
} parse_state;

static char *reader(char *str, int num, void *stream)
{
	parse_state *ps = stream;
	if (ps->at_line_start)
		ps->line++;
	char *s = fgets(str, num, ps->f);
	if (s != NULL) {
		size_t n = strlen(s);
		ps->at_line_start = n > 0 && s[n - 1] == '\n';
	}
	return s;
}

/* Flags that make no sense in a file, or that read it. */
static bool key_reserved(const char *key)
{
	return strcmp(key, "help") == 0 || strcmp(key, "version") == 0 ||
	    strcmp(key, "config") == 0 || strcmp(key, "check-config") == 0;
}

static const struct option *option_named(const struct option *options, const char *name)
{
	for (const struct option *o = options; o->name != NULL; o++)
		if (strcmp(o->name, name) == 0)
			return o;
	return NULL;
}

/* A flag without a value is set by yes/true/on/1 and left out by the
 * opposite; -1 for anything else. */
static int parse_switch(const char *v)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return 1;
		if (strcasecmp(v, no[i]) == 0)
			return 0;
	}
	return -1;
}

/* a, then sep and b unless b is NULL, in a new string. */
static char *join(const char *a, const char *sep, const char *b)
{
	size_t n = strlen(a) + strlen(sep) + (b ? strlen(b) : 0) + 1;
	char *s = malloc(n);
	if (s == NULL) {
		fprintf(stderr, "allotd: out of memory reading the configuration\n");
		exit(1);
	}
	snprintf(s, n, "%s%s%s", a, b ? sep : "", b ? b : "");
	return s;
}

static int on_entry(void *user, const char *section, const char *key, const char *value)
{
	parse_state *ps = user;
	const struct option *o = option_named(ps->options, key);
	if (section[0] != '\0') {
		snprintf(ps->why, sizeof(ps->why), "sections are not used: [%s]", section);
		return 0;
	}
	if (o == NULL || key_reserved(key)) {
		snprintf(ps->why, sizeof(ps->why), "unknown key '%s' (keys are allotd's long "
		    "flags without dashes: allotd --help)", key);
		return 0;
	}
	for (int i = 0; i < G.n_entries; i++) {
		if (strncmp(G.entries[i].shown, key, strlen(key)) == 0 &&
		    G.entries[i].shown[strlen(key)] == ' ') {
			snprintf(ps->why, sizeof(ps->why), "'%s' again (first at line %d)", key,
			    G.entries[i].line);
			return 0;
		}
	}
	if (G.n_entries == CONFIG_ENTRIES_MAX) {
		snprintf(ps->why, sizeof(ps->why), "more than %d settings", CONFIG_ENTRIES_MAX);
		return 0;
	}
	if (value[0] == '\0') {
		snprintf(ps->why, sizeof(ps->why), "'%s' has no value", key);
		return 0;
	}
	config_entry *e = &G.entries[G.n_entries];
	if (o->has_arg == no_argument) {
		int on = parse_switch(value);
		if (on < 0) {
			snprintf(ps->why, sizeof(ps->why), "%s: expected yes or no, got '%s'", key, value);
			return 0;
		}
		e->arg = on ? join("--", "", key) : NULL;
	} else {
		char *flag = join("--", "", key);
		e->arg = join(flag, "=", value);
		free(flag);
	}
	e->shown = join(key, " = ", value);
	e->line = ps->line;
	G.n_entries++;
	return 1;
}

/* Read path's entries into G, or exit 2 naming the line. */
static void read_file(const char *path, const struct option *options)
{
	parse_state ps = { .at_line_start = true, .options = options };
	ps.f = fopen(path, "r");
	if (ps.f == NULL) {
		fprintf(stderr, "allotd: --config %s: %s\n", path, strerror(errno));
		exit(2);
	}
	/* Whole lines only: no continuation lines, no inline comments (a
	 * value keeps every byte up to the end of its line), lines up to
	 * CONFIG_LINE_BYTES_MAX, and the first error ends the reading. */
	ini_allow_multiline = false;
	ini_allow_inline_comments = false;
	ini_use_stack = false;
	ini_allow_realloc = true;
	ini_max_line = CONFIG_LINE_BYTES_MAX;
	ini_stop_on_first_error = true;
	int rc = ini_parse_stream(reader, &ps, on_entry, &ps);
	fclose(ps.f);
	if (rc == 0)
		return;
	if (rc < 0)
		fprintf(stderr, "allotd: %s: out of memory, or a line over %d bytes\n", path,
		    CONFIG_LINE_BYTES_MAX);
	else if (ps.why[0] != '\0')
		fprintf(stderr, "allotd: %s:%d: %s\n", path, ps.line, ps.why);
	else
		fprintf(stderr, "allotd: %s:%d: not a 'key = value' line\n", path, rc);
	exit(2);
}

/* The exit names the file's line when a value from it was refused. */
static void on_exit_blame(int status, void *arg)
{
	(void)arg;
	if (status != 2 || G.current <= 0)
		return;
	const config_entry *e = &G.entries[G.current - 1];
	fprintf(stderr, "allotd: the value refused is %s:%d: %s\n", G.path, e->line, e->shown);
}

/* Whether argv[i] is a long flag that takes its value from argv[i + 1]. */
static bool takes_next(const char *arg, const struct option *options)
{
	if (strncmp(arg, "--", 2) != 0 || strchr(arg, '=') != NULL)
		return false;
	const struct option *o = option_named(options, arg + 2);
	return o != NULL && o->has_arg == required_argument;
}

/* Take --config and --check-config out of argv into out; the rest, in
 * order, into rest (which has room for argc). */
static int split_args(int argc, char **argv, const struct option *options,
    config_args *out, char **rest)
{
	int n = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			while (i < argc)
				rest[n++] = argv[i++];
			break;
		}
		if (strcmp(a, "--check-config") == 0) {
			out->check_only = true;
		} else if (strcmp(a, "--config") == 0 || strncmp(a, "--config=", 9) == 0) {
			const char *path = a[8] == '=' ? a + 9 : i + 1 < argc ? argv[++i] : NULL;
			if (path == NULL || path[0] == '\0' || out->path != NULL) {
				fprintf(stderr, "allotd: --config takes one FILE, once\n");
				exit(2);
			}
			out->path = path;
		} else {
			rest[n++] = argv[i];
			if (takes_next(a, options) && i + 1 < argc)
				rest[n++] = argv[++i];
		}
	}
	return n;
}

void config_load(int argc, char **argv, const struct option *options,
    config_args *out)
{
	assert(argc >= 1 && options != NULL);
	*out = (config_args){ 0 };
	char **rest = calloc((size_t)argc, sizeof(*rest));
	if (rest == NULL) {
		fprintf(stderr, "allotd: out of memory\n");
		exit(1);
	}
	int n_rest = split_args(argc, argv, options, out, rest);
	if (out->path != NULL)
		read_file(out->path, options);
	G.path = out->path;

	/* argv[0], the file's arguments, then the command line's. */
	size_t cap = 1 + (size_t)G.n_entries + (size_t)n_rest + 1;
	G.argv = calloc(cap, sizeof(*G.argv));
	G.arg_entry = calloc(cap, sizeof(*G.arg_entry));
	if (G.argv == NULL || G.arg_entry == NULL) {
		fprintf(stderr, "allotd: out of memory\n");
		exit(1);
	}
	G.argv[G.argc++] = argv[0];
	for (int i = 0; i < G.n_entries; i++) {
		if (G.entries[i].arg == NULL)
			continue;
		G.arg_entry[G.argc] = i + 1;
		G.argv[G.argc++] = G.entries[i].arg;
	}
	for (int i = 0; i < n_rest; i++)
		G.argv[G.argc++] = rest[i];
	assert((size_t)G.argc < cap);
	free(rest);
	out->argc = G.argc;
	out->argv = G.argv;
	if (G.n_entries > 0)
		on_exit(on_exit_blame, NULL);
}

void config_at(int index)
{
	G.current = index >= 1 && index < G.argc ? G.arg_entry[index] : 0;
}

void config_blame(const char *flag)
{
	G.current = 0;
	if (flag == NULL)
		return;
	size_t n = strlen(flag);
	/* The last time the flag was given is the value in force. */
	for (int i = G.argc - 1; i >= 1; i--) {
		const char *a = G.argv[i];
		if (strncmp(a, "--", 2) == 0 && strncmp(a + 2, flag, n) == 0 &&
		    (a[2 + n] == '\0' || a[2 + n] == '=')) {
			G.current = G.arg_entry[i];
			return;
		}
	}
}
