/*
 * repl.c - the interactive shell (see repl.h).
 *
 * One connection serves every line. Before each call the REPL checks the
 * connection is still open: a restarted allotd has closed it, and a fresh
 * one is made then, so a call is never sent into a dead socket and then
 * retried (which could apply a change twice). A call that fails on the
 * way drops the connection; the next line reconnects.
 */
#include "repl.h"

#include <editline/readline.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_json.h"
#include "help.h"

typedef struct repl {
	const cli_target *t;
	cli_format format;
	cli_conn *conn;
	char history[PATH_MAX];
} repl;

/* Words the REPL itself knows, besides the methods. */
static const char *const repl_builtins[] = { "help", "quit", "exit", NULL };

/* ---- completion ---- */

/* The candidates of one completion, handed out one by one. */
static struct {
	const char *list[CMD_COUNT + 64];
	size_t n, next;
	char quote_prefix[2]; /* '"' when the word being completed began with one */
} cands;

static char *next_candidate(const char *text, int state)
{
	(void)state;
	size_t skip = cands.quote_prefix[0] ? 1 : 0;
	while (cands.next < cands.n) {
		const char *c = cands.list[cands.next++];
		if (strncmp(c, text + skip, strlen(text + skip)) != 0)
			continue;
		if (!skip)
			return strdup(c);
		/* A key: complete it as a JSON key, "key": */
		size_t n = strlen(c) + 4;
		char *out = malloc(n);
		if (out)
			snprintf(out, n, "\"%s\":", c);
		return out;
	}
	return NULL;
}

/* The parameter keys of the method that starts the line. */
static void candidates_of_keys(const char *line)
{
	char method[64];
	size_t n = strcspn(line, " \t");
	snprintf(method, sizeof(method), "%.*s", (int)(n < 63 ? n : 63), line);
	const cmd_def *cmd = cli_help_lookup(method);
	const char *keys = cmd ? cli_help_table[cmd->id].keys : NULL;
	static char words[1024];
	snprintf(words, sizeof(words), "%s", keys ? keys : "");
	for (char *save = NULL, *w = strtok_r(words, " ", &save);
	     w && cands.n < sizeof(cands.list) / sizeof(cands.list[0]); w = strtok_r(NULL, " ", &save))
		cands.list[cands.n++] = w;
}

static char **repl_complete(const char *text, int start, int end)
{
	(void)end;
	cands.n = cands.next = 0;
	cands.quote_prefix[0] = '\0';
	rl_attempted_completion_over = 1; /* never fall back to file names */
	if (strspn(rl_line_buffer, " \t") >= (size_t)start) {
		/* The first word: a method or a builtin. */
		for (int i = 0; i < CMD_COUNT; i++)
			cands.list[cands.n++] = cmd_table[i].name;
		for (int i = 0; repl_builtins[i]; i++)
			cands.list[cands.n++] = repl_builtins[i];
		rl_completion_append_character = ' ';
	} else if (strncmp(rl_line_buffer, "help", 4) == 0) {
		for (int i = 0; i < CMD_COUNT; i++)
			cands.list[cands.n++] = cmd_table[i].name;
		rl_completion_append_character = ' ';
	} else {
		candidates_of_keys(rl_line_buffer);
		cands.quote_prefix[0] = text[0] == '"' ? '"' : '\0';
		rl_completion_append_character = ' ';
	}
	return rl_completion_matches(text, next_candidate);
}

/* ---- calls ---- */

/* A live connection, made or remade as needed; NULL after saying why. */
static cli_conn *repl_conn(repl *r)
{
	char err[512];
	if (r->conn != NULL && cli_conn_alive(r->conn))
		return r->conn;
	bool again = r->conn != NULL;
	cli_conn_close(r->conn);
	r->conn = cli_conn_open(r->t, err, sizeof(err));
	if (r->conn == NULL) {
		fprintf(stderr, "allot: %s\n", err);
		return NULL;
	}
	if (again)
		fprintf(stderr, "allot: the connection was closed; reconnected\n");
	return r->conn;
}

/* One line: METHOD [JSON-PARAMS], or a builtin. 1 to quit. */
static int repl_line(repl *r, char *line)
{
	char *method = line + strspn(line, " \t");
	size_t n = strcspn(method, " \t");
	char *rest = method[n] ? method + n + 1 : method + n;
	method[n] = '\0';
	if (method[0] == '\0')
		return 0;
	if (strcmp(method, "quit") == 0 || strcmp(method, "exit") == 0)
		return 1;
	if (strcmp(method, "help") == 0) {
		rest += strspn(rest, " \t");
		rest[strcspn(rest, " \t")] = '\0';
		if (rest[0] == '\0')
			cli_help_list(stdout);
		else if (cli_help_method(stdout, rest) != 0)
			printf("no method '%s' (help lists them)\n", rest);
		return 0;
	}
	char err[512];
	json_t *params = NULL, *error = NULL, *result = NULL;
	if (cli_json_parse_args(rest, &params, err, sizeof(err)) < 0) {
		fprintf(stderr, "allot: %s\n", err);
		return 0;
	}
	cli_conn *c = repl_conn(r);
	if (c != NULL && cli_conn_call(c, method, params, &error, &result, err, sizeof(err)) < 0) {
		fprintf(stderr, "allot: %s: %s\n", method, err);
		cli_conn_close(r->conn);
		r->conn = NULL;
	} else if (c != NULL) {
		output_print(stdout, method, error ? error : result, error != NULL,
		    error == NULL && output_csv_supported(method) ? r->format
		    : r->format == CLI_FORMAT_CSV ? CLI_FORMAT_PRETTY : r->format);
	}
	json_decref(params);
	json_decref(error);
	json_decref(result);
	return 0;
}

/* ---- the loop ---- */

static void repl_history_open(repl *r)
{
	const char *home = getenv("HOME");
	r->history[0] = '\0';
	if (home == NULL || home[0] == '\0')
		return;
	snprintf(r->history, sizeof(r->history), "%s/.allot_history", home);
	stifle_history(REPL_HISTORY_MAX);
	read_history(r->history); /* none yet is fine */
}

/* Keep the line, unless it carries a token (auth): history files are read
 * by more than the user means to. */
static void repl_history_add(repl *r, const char *line)
{
	const char *w = line + strspn(line, " \t");
	if (strncmp(w, "auth", 4) == 0 && (w[4] == '\0' || w[4] == ' ' || w[4] == '\t'))
		return;
	add_history(line);
	if (r->history[0]) {
		mode_t old = umask(077);
		write_history(r->history);
		umask(old);
	}
}

int repl_main(const cli_target *t, cli_format format)
{
	repl r = { .t = t, .format = format };
	rl_readline_name = "allot";
	rl_basic_word_break_characters = " \t{,:[";
	rl_attempted_completion_function = repl_complete;
	repl_history_open(&r);
	printf("allot shell: METHOD [JSON-PARAMS], 'help', 'help METHOD', 'quit' (Tab completes)\n");
	fflush(stdout);
	char *line;
	while ((line = readline("allot> ")) != NULL) {
		if (line[strspn(line, " \t")] != '\0')
			repl_history_add(&r, line);
		int stop = repl_line(&r, line);
		free(line);
		fflush(stdout);
		if (stop)
			break;
	}
	cli_conn_close(r.conn);
	return 0;
}
