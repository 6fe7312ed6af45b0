/*
 * allot - call one method of a running allotd and print the reply as JSON.
 *
 *   allot [--host H] [--port P] [--token T] [--timeout-ms T] [-c | --csv] METHOD [JSON-PARAMS]
 *
 * With no METHOD on a terminal it is a shell (repl.c); `allot help
 * [METHOD]` describes the methods (help.c); `allot import` and `allot
 * export` move stock as CSV (import.c, export.c). Every call to allotd
 * goes through cli_conn.h.
 *
 * With a token (--token, or ALLOT_TOKEN) the call is preceded by auth on
 * the same connection.
 *
 * Exit status: 0 with the result on stdout; 1 with the error object on
 * stdout when the server answered with an error; 2 with a message on stderr
 * for a usage error, params that are not a JSON object, or a failure to
 * connect or to get a reply.
 *
 *   allot snapshot dump --redis URL [--namespace NS]
 *
 * is the offline dump of a durable engine's state in Redis; it lives in
 * dump.c.
 *
 *   allot token new NAME ROLE
 *
 * prints a fresh token and the line for allotd's --auth-file (token.c).
 *
 *   allot watch [TOPIC...] [--sku SKU...]
 *
 * prints live events as JSON lines until interrupted (watch.c).
 *
 *   allot archive | audit | replay | explain ...
 *
 * read and keep allotd's recorded history (archive_tool.h).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "cli_json.h"
#include "allot/protocol.h"
#include "archive_tool.h"
#include "cli_conn.h"
#include "dump.h"
#include "help.h"
#include "import.h"
#include "output.h"
#include "repl.h"
#include "token.h"
#include "watch.h"

#ifndef ALLOT_VERSION
#define ALLOT_VERSION "0.1.0"
#endif

enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_REPLY_ERROR = 1,
	CLI_EXIT_FAILURE = 2,
};

/* Long enough that a durable snapshot can finish; 0 waits forever. */
#define CLI_DEFAULT_TIMEOUT_MS 30000

/* What the command line asks for. */
typedef enum cli_action {
	CLI_ACTION_RUN,
	CLI_ACTION_HELP,
	CLI_ACTION_VERSION,
	CLI_ACTION_DUMP,
	CLI_ACTION_TOKEN,
	CLI_ACTION_WATCH,
	CLI_ACTION_HISTORY,
	CLI_ACTION_REPL,
	CLI_ACTION_HELP_METHODS,
	CLI_ACTION_IMPORT,
	CLI_ACTION_EXPORT,
} cli_action;

typedef struct cli_opts {
	cli_action action;
	const char *host;
	int port;
	int timeout_ms;
	const char *token; /* NULL: no auth call */
	cli_format format;
	/* The words after the options: METHOD [JSON-PARAMS] for a call, or
	 * "snapshot dump" and its options. */
	int argc;
	char **argv;
} cli_opts;

static void cli_usage(FILE *out)
{
	fprintf(out,
	    "usage: allot [--host H] [--port P] [--token T] [--timeout-ms T] [-c | --csv]\n"
	    "             METHOD [JSON-PARAMS]\n"
	    "       allot                 (on a terminal: a shell, see 'help' in it)\n"
	    "       allot help [METHOD]   (the methods, or one: params, errors, example)\n"
	    "       allot import [--dry-run] FILE.csv\n"
	    "       allot export [--sku-prefix P] > FILE.csv\n"
	    "       allot --help | --version\n"
	    "\n"
	    "Call METHOD on allotd with JSON-PARAMS (a JSON object of named\n"
	    "arguments, default none) and print the reply as JSON.\n"
	    "\n"
	    "  --host H        server host, or a Unix socket path containing '/'\n"
	    "                  (env ALLOT_HOST, default %s)\n"
	    "  --port P        server TCP port (env ALLOT_PORT, default %d)\n"
	    "  --token T       authenticate with token T first (env ALLOT_TOKEN);\n"
	    "                  prefer the environment: a flag shows in ps\n"
	    "  --timeout-ms T  give up after T ms, 0 for never (default %d)\n"
	    "  -c, --compact   print JSON on one line\n"
	    "  --csv           print list results (stock.get, stock.scan, avail) as CSV\n"
	    "  -h, --help      show this help\n"
	    "  -V, --version   show the version\n"
	    "\n"
	    "Options go before METHOD. Example:\n"
	    "  allot stock.get '{\"sku\": \"A-1\"}'\n"
	    "\n"
	    "Exit status: 0 result printed; 1 the server answered with an error\n"
	    "(printed on stdout); 2 usage, params or connection failure.\n"
	    "\n"
	    "       allot snapshot dump --redis URL [--namespace NS]\n"
	    "\n"
	    "Print a durable engine's state in Redis as JSON lines (see\n"
	    "'allot snapshot dump --help').\n"
	    "\n"
	    "       allot token new NAME ROLE\n"
	    "\n"
	    "Print a fresh token and the line for allotd's --auth-file (ROLE: read,\n"
	    "checkout or admin; see SECURITY.md).\n"
	    "\n"
	    "       allot watch [TOPIC...] [--sku SKU...]\n"
	    "\n"
	    "Print live events as JSON lines until interrupted (see 'allot watch\n"
	    "--help').\n"
	    "\n"
	    "       allot archive --redis URL --dir DIR ...\n"
	    "       allot audit --sku SKU [--location L] [--since T] [--until T] [--json] ...\n"
	    "       allot replay --dir DIR --from T1 --to T2 [overrides] [--json] [--html FILE]\n"
	    "       allot explain RESERVATION_ID (--dir DIR | --redis URL)\n"
	    "\n"
	    "Keep and read the recorded history (see each one's --help and README.md,\n"
	    "\"History\").\n",
	    ALLOT_DEFAULT_HOST, ALLOT_DEFAULT_PORT, CLI_DEFAULT_TIMEOUT_MS);
}

/* Parse a whole decimal number in [min, max] from text, naming it on error. */
static int cli_parse_int(const char *what, const char *text, long min,
    long max, int *out)
{
	char *end = NULL;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "allot: %s must be a number from %ld to %ld, not '%s'\n",
		    what, min, max, text);
		return -1;
	}
	*out = (int)v;
	return 0;
}

static int cli_parse_command(cli_opts *o);

/*
 * Fill o from the command line and the environment; flags win over
 * ALLOT_HOST and ALLOT_PORT. Returns 0, or -1 after printing why.
 */
static int cli_parse_args(int argc, char **argv, cli_opts *o)
{
	static const struct option longopts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "token", required_argument, NULL, 'k' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "compact", no_argument, NULL, 'c' },
		{ "csv", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *port_text = NULL, *port_what = "port", *timeout_text = NULL;
	*o = (cli_opts){ .action = CLI_ACTION_RUN, .port = ALLOT_DEFAULT_PORT,
		.timeout_ms = CLI_DEFAULT_TIMEOUT_MS };

	/* A leading '+' stops at METHOD, so its arguments stay its own. */
	int ch;
	while ((ch = getopt_long(argc, argv, "+hVc", longopts, NULL)) != -1) {
		switch (ch) {
		case 'H': o->host = optarg; break;
		case 'p': port_text = optarg; break;
		case 'k': o->token = optarg; break;
		case 't': timeout_text = optarg; break;
		case 'c': o->format = CLI_FORMAT_COMPACT; break;
		case 'C': o->format = CLI_FORMAT_CSV; break;
		case 'h': o->action = CLI_ACTION_HELP; return 0;
		case 'V': o->action = CLI_ACTION_VERSION; return 0;
		default: return -1; /* getopt_long already said why */
		}
	}
	if (o->host == NULL)
		o->host = getenv("ALLOT_HOST");
	if (o->host == NULL || o->host[0] == '\0')
		o->host = ALLOT_DEFAULT_HOST;
	if (o->token == NULL)
		o->token = getenv("ALLOT_TOKEN");
	if (o->token != NULL && o->token[0] == '\0')
		o->token = NULL;
	if (port_text == NULL) {
		port_text = getenv("ALLOT_PORT");
		port_what = "ALLOT_PORT";
	}
	if (port_text != NULL && port_text[0] != '\0' &&
	    cli_parse_int(port_what, port_text, 1, 65535, &o->port) < 0)
		return -1;
	if (timeout_text != NULL &&
	    cli_parse_int("timeout", timeout_text, 0, INT_MAX, &o->timeout_ms) < 0)
		return -1;

	o->argc = argc - optind;
	o->argv = argv + optind;
	if (o->argc >= 2 && strcmp(o->argv[0], "snapshot") == 0 && strcmp(o->argv[1], "dump") == 0) {
		o->action = CLI_ACTION_DUMP; /* dump.c reads its own options */
		return 0;
	}
	if (o->argc >= 1 && (strcmp(o->argv[0], "archive") == 0 || strcmp(o->argv[0], "audit") == 0 ||
	        strcmp(o->argv[0], "replay") == 0 || strcmp(o->argv[0], "explain") == 0)) {
		o->action = CLI_ACTION_HISTORY; /* each reads its own options */
		return 0;
	}
	if (o->argc >= 1 && strcmp(o->argv[0], "token") == 0) {
		o->action = CLI_ACTION_TOKEN; /* token.c reads its own words */
		return 0;
	}
	if (o->argc >= 1 && strcmp(o->argv[0], "watch") == 0) {
		o->action = CLI_ACTION_WATCH; /* watch.c reads its own words */
		return 0;
	}
	return cli_parse_command(o);
}

/* The words after the options: a shell, help, import, export or a call. */
static int cli_parse_command(cli_opts *o)
{
	static const struct { const char *word; cli_action action; } commands[] = {
		{ "help", CLI_ACTION_HELP_METHODS },
		{ "import", CLI_ACTION_IMPORT },
		{ "export", CLI_ACTION_EXPORT },
	};
	if (o->argc == 0 && isatty(STDIN_FILENO)) {
		o->action = CLI_ACTION_REPL;
		return 0;
	}
	for (size_t i = 0; o->argc >= 1 && i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(o->argv[0], commands[i].word) == 0) {
			o->action = commands[i].action; /* each reads its own words */
			return 0;
		}
	}
	if (o->format == CLI_FORMAT_CSV && o->argc >= 1 && !output_csv_supported(o->argv[0])) {
		fprintf(stderr, "allot: --csv prints list results only (stock.get, stock.scan, avail)\n");
		return -1;
	}
	if (o->argc < 1 || o->argc > 2) {
		fprintf(stderr, "allot: %s\n", o->argc < 1
		    ? "no METHOD given" : "too many arguments (quote JSON-PARAMS)");
		return -1;
	}
	return 0;
}

/* The connection's settings from the options. */
static cli_target cli_target_of(const cli_opts *o)
{
	return (cli_target){ o->host, o->port, o->timeout_ms, o->token };
}

/* Run METHOD [JSON-PARAMS]: one request, one reply. */
static int cli_run_call(const cli_opts *o)
{
	char err[512];
	const char *method = o->argv[0];
	json_t *params = NULL, *error = NULL, *result = NULL;
	cli_target t = cli_target_of(o);
	cli_conn *c = NULL;
	int status = CLI_EXIT_FAILURE;

	/* Check the params first: a typo should not need a server to report. */
	if (cli_json_parse_args(o->argc > 1 ? o->argv[1] : NULL, &params,
	        err, sizeof(err)) < 0) {
		fprintf(stderr, "allot: %s\n", err);
		goto fail_params;
	}
	/* Every connection the CLI makes authenticates first, when it has a
	 * token. */
	c = cli_conn_open(&t, err, sizeof(err));
	if (c == NULL) {
		fprintf(stderr, "allot: %s\n", err);
		goto fail_connect;
	}
	if (cli_conn_call(c, method, params, &error, &result, err, sizeof(err)) < 0) {
		fprintf(stderr, "allot: %s: %s\n", method, err);
		goto fail_call;
	}
	if (error != NULL)
		status = output_print(stdout, method, error, true, o->format) == 0
		    ? CLI_EXIT_REPLY_ERROR : CLI_EXIT_FAILURE;
	else
		status = output_print(stdout, method, result, false, o->format) == 0
		    ? CLI_EXIT_OK : CLI_EXIT_FAILURE;

	json_decref(error);
	json_decref(result);
fail_call:
	cli_conn_close(c);
fail_connect:
	json_decref(params);
fail_params:
	return status;
}

/* One of the history commands; argv[0] is its name. */
static int cli_run_history(int argc, char **argv)
{
	if (strcmp(argv[0], "archive") == 0)
		return archive_main(argc, argv);
	if (strcmp(argv[0], "audit") == 0)
		return audit_main(argc, argv);
	if (strcmp(argv[0], "replay") == 0)
		return replay_main(argc, argv);
	return explain_main(argc, argv);
}

/* allot help [METHOD] */
static int cli_help_main(const cli_opts *o)
{
	if (o->argc > 2) {
		fprintf(stderr, "allot: usage: allot help [METHOD]\n");
		return CLI_EXIT_FAILURE;
	}
	if (o->argc == 1)
		cli_help_list(stdout);
	else if (cli_help_method(stdout, o->argv[1]) != 0) {
		fprintf(stderr, "allot: no method '%s' ('allot help' lists them)\n", o->argv[1]);
		return CLI_EXIT_FAILURE;
	}
	return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}

int main(int argc, char **argv)
{
	cli_opts o;
	if (cli_parse_args(argc, argv, &o) < 0) {
		fprintf(stderr, "Try 'allot --help'.\n");
		return CLI_EXIT_FAILURE;
	}
	switch (o.action) {
	case CLI_ACTION_HELP:
		cli_usage(stdout);
		return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
	case CLI_ACTION_DUMP:
		return dump_main(o.argc - 1, o.argv + 1);
	case CLI_ACTION_TOKEN:
		return token_main(o.argc - 1, o.argv + 1);
	case CLI_ACTION_WATCH: {
		watch_target t = { o.host, o.port, o.token, o.timeout_ms };
		return watch_main(&t, o.argc, o.argv);
	}
	case CLI_ACTION_HISTORY:
		return cli_run_history(o.argc, o.argv);
	case CLI_ACTION_VERSION:
		printf("allot %s (wire protocol %d)\n", ALLOT_VERSION,
		    ALLOT_PROTOCOL_VERSION);
		return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
	case CLI_ACTION_REPL: {
		cli_target t = cli_target_of(&o);
		return repl_main(&t, o.format);
	}
	case CLI_ACTION_HELP_METHODS:
		return cli_help_main(&o);
	case CLI_ACTION_IMPORT: {
		cli_target t = cli_target_of(&o);
		return import_main(&t, o.argc, o.argv);
	}
	case CLI_ACTION_EXPORT: {
		cli_target t = cli_target_of(&o);
		return export_main(&t, o.argc, o.argv);
	}
	case CLI_ACTION_RUN:
		break;
	}
	return cli_run_call(&o);
}
