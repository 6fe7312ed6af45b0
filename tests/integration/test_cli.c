/*
 * test_cli.c - the allot CLI for people, run as a user runs it against a
 * real allotd: `allot help` for every method of the command table, -c and
 * --csv, import (pipelined stock.set: bad rows named with their line
 * numbers and the rest loaded, a summary, --dry-run), export through
 * stock.scan and the exact round trip of export then import into a fresh
 * allotd, and under a pseudo-terminal (repl_pty.py, run with
 * /usr/bin/python3) the shell and import's progress bar.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access_util.h"
#include "allot/protocol.h"
#include "command.h"
#include "harness.h"

#define CLI_TIMEOUT_MS 60000

static harness_server *srv, *srv2;
static char paths[4][128];

static void teardown(void)
{
	harness_server_stop(srv);
	harness_server_stop(srv2);
	srv = srv2 = NULL;
	for (int i = 0; i < 4; i++)
		if (paths[i][0])
			unlink(paths[i]);
}

TestSuite(cli, .fini = teardown, .timeout = 240);

static harness_server *start(void)
{
	char err[512];
	harness_server *s = harness_server_start(NULL, err, sizeof(err));
	cr_assert_not_null(s, "%s", err);
	return s;
}

/* Run the CLI against s with args (NULL-terminated); its exit status,
 * stdout and stderr (the caller frees them). */
static int cli(const harness_server *s, const char *const *args, char **out, char **err)
{
	const char *argv[16] = { getenv("ALLOT_CLI") };
	cr_assert(argv[0] && argv[0][0], "ALLOT_CLI is not set");
	int n = 1;
	for (; args[n - 1] != NULL; n++) {
		cr_assert_lt(n, 15);
		argv[n] = args[n - 1];
	}
	argv[n] = NULL;
	char port[16];
	snprintf(port, sizeof(port), "%d", s ? s->port : 1);
	setenv("ALLOT_HOST", HARNESS_HOST, 1);
	setenv("ALLOT_PORT", port, 1);
	return harness_run(argv, CLI_TIMEOUT_MS, out, err);
}

/* The CLI must exit with want; its stdout, kept for the caller to free. */
static char *cli_ok(const harness_server *s, int want, const char *const *args)
{
	char *out = NULL, *err = NULL;
	int status = cli(s, args, &out, &err);
	cr_assert_eq(status, want, "allot %s %s exited %d, not %d\nstdout:\n%s\nstderr:\n%s", args[0],
	    args[1] ? args[1] : "", status, want, out, err);
	free(err);
	return out;
}

Test(cli, help_lists_every_method_and_describes_each)
{
	char *list = cli_ok(NULL, 0, (const char *[]){ "help", NULL });
	for (int i = 0; i < CMD_COUNT; i++) {
		cr_assert(strstr(list, cmd_table[i].name) != NULL, "allot help lacks %s", cmd_table[i].name);
		char *one = cli_ok(NULL, 0, (const char *[]){ "help", cmd_table[i].name, NULL });
		cr_assert(strstr(one, "params:") && strstr(one, "errors:") && strstr(one, "example:"),
		    "allot help %s:\n%s", cmd_table[i].name, one);
		free(one);
	}
	free(list);
	char *out = NULL, *err = NULL;
	cr_assert_eq(cli(NULL, (const char *[]){ "help", "stock.delete", NULL }, &out, &err), 2);
	cr_assert(strstr(err, "no method 'stock.delete'") != NULL, "%s", err);
	free(out);
	free(err);
	/* No method and stdin not a terminal: no shell, a usage error. */
	cr_assert_eq(cli(NULL, (const char *[]){ NULL }, &out, &err), 2);
	cr_assert(strstr(err, "no METHOD") != NULL, "%s", err);
	free(out);
	free(err);
}

Test(cli, compact_json_and_csv_of_list_results)
{
	srv = start();
	free(cli_ok(srv, 0, (const char *[]){ "stock.set",
	    "{\"sku\": \"a,1\", \"location\": \"W1\", \"on_hand\": 5, \"safety\": 1}", NULL }));
	free(cli_ok(srv, 0, (const char *[]){ "stock.set",
	    "{\"sku\": \"a,1\", \"location\": \"W2\", \"on_hand\": 2}", NULL }));

	char *out = cli_ok(srv, 0, (const char *[]){ "-c", "stock.get", "{\"sku\": \"a,1\"}", NULL });
	cr_assert(strchr(out, '\n') == out + strlen(out) - 1, "not one line: %s", out);
	cr_assert(strstr(out, "\"on_hand\":5") != NULL, "%s", out);
	free(out);
	out = cli_ok(srv, 1, (const char *[]){ "-c", "stock.get", "{\"sku\": \"none\"}", NULL });
	cr_assert(strstr(out, "{\"code\":\"NOT_FOUND\"") == out, "%s", out);
	free(out);

	out = cli_ok(srv, 0, (const char *[]){ "--csv", "stock.get", "{\"sku\": \"a,1\"}", NULL });
	cr_assert_str_eq(out, "sku,location,on_hand,incoming,reserved,committed,safety,available,oversold,version\n"
	    "\"a,1\",W1,5,0,0,0,1,4,0,1\n\"a,1\",W2,2,0,0,0,0,2,0,1\n");
	free(out);
	out = cli_ok(srv, 0, (const char *[]){ "--csv", "stock.scan", "{}", NULL });
	cr_assert(strstr(out, "\"a,1\",W2,2,0,0,0,0,2,0,1\n") != NULL, "%s", out);
	free(out);
	out = cli_ok(srv, 0, (const char *[]){ "--csv", "avail", "{\"skus\": [\"a,1\", \"b\"]}", NULL });
	cr_assert_str_eq(out, "sku,total,location,available\n\"a,1\",6,W1,4\n\"a,1\",6,W2,2\nb,0,,\n");
	free(out);
	char *err = NULL;
	cr_assert_eq(cli(srv, (const char *[]){ "--csv", "ping", NULL }, &out, &err), 2);
	cr_assert(strstr(err, "--csv") != NULL, "%s", err);
	free(out);
	free(err);
	cr_assert_eq(harness_server_stop(srv), 0);
	srv = NULL;
}

Test(cli, import_loads_every_good_row_and_names_each_bad_one)
{
	srv = start();
	au_write(au_path(paths[0], sizeof(paths[0]), "import.csv"),
	    "sku,location,on_hand,safety\n"
	    "imp-1,W1,10,2\n"
	    "imp-2,W1,x,0\n"            /* line 3: on_hand */
	    "imp-3,W2,7,\n"
	    "\n"
	    "imp-4,W1\n"                /* line 6: too few fields */
	    "imp-5,W1,2147483648,0\n"   /* line 7: out of range */
	    "imp-6,\"W 9\",1,0\n");

	/* --dry-run checks and sends nothing. */
	char *out = NULL, *err = NULL;
	cr_assert_eq(cli(srv, (const char *[]){ "import", "--dry-run", paths[0], NULL }, &out, &err), 1,
	    "%s%s", out, err);
	cr_assert(strstr(out, "6 rows checked: 3 good, 3 bad (dry run") != NULL, "%s", out);
	free(out);
	free(err);
	out = cli_ok(srv, 1, (const char *[]){ "stock.get", "{\"sku\": \"imp-1\"}", NULL });
	free(out);

	cr_assert_eq(cli(srv, (const char *[]){ "import", paths[0], NULL }, &out, &err), 1, "%s%s", out, err);
	cr_assert(strstr(out, "6 rows: 3 loaded, 3 bad") != NULL, "%s", out);
	char want[200];
	static const char *const bad[] = { ":3: on_hand", ":6: 2 fields", ":7: on_hand" };
	for (int i = 0; i < 3; i++) {
		snprintf(want, sizeof(want), "%s%s", paths[0], bad[i]);
		cr_assert(strstr(err, want) != NULL, "no '%s' in:\n%s", want, err);
	}
	/* A terminal gets a progress bar; a pipe gets nothing but the bad rows. */
	cr_assert(strchr(err, '\r') == NULL, "%s", err);
	free(out);
	free(err);
	out = cli_ok(srv, 0, (const char *[]){ "-c", "stock.get", "{\"sku\": \"imp-1\"}", NULL });
	cr_assert(strstr(out, "\"on_hand\":10") && strstr(out, "\"safety\":2"), "%s", out);
	free(out);
	out = cli_ok(srv, 0, (const char *[]){ "-c", "stock.get", "{\"sku\": \"imp-6\"}", NULL });
	cr_assert(strstr(out, "\"location\":\"W 9\""), "%s", out);
	free(out);

	/* A file without a header line is refused whole (exit 2). */
	au_write(au_path(paths[1], sizeof(paths[1]), "noheader.csv"), "imp-9,W1,1,0\n");
	cr_assert_eq(cli(srv, (const char *[]){ "import", paths[1], NULL }, &out, &err), 2);
	cr_assert(strstr(err, ":1: the first line must be a header") != NULL, "%s", err);
	free(out);
	free(err);
	cr_assert_eq(harness_server_stop(srv), 0);
	srv = NULL;
}

Test(cli, a_row_the_server_refuses_is_named_with_its_line)
{
	const char *args[] = { "--skus-max", "2", NULL };
	char e[512];
	srv = harness_server_start(args, e, sizeof(e));
	cr_assert_not_null(srv, "%s", e);
	au_write(au_path(paths[0], sizeof(paths[0]), "limit.csv"),
	    "sku,location,on_hand\nx-1,W1,1\nx-2,W1,1\nx-3,W1,1\nx-1,W2,4\n");
	char *out = NULL, *err = NULL;
	cr_assert_eq(cli(srv, (const char *[]){ "import", paths[0], NULL }, &out, &err), 1, "%s%s", out, err);
	char want[200];
	snprintf(want, sizeof(want), "%s:4: TOO_LARGE: ", paths[0]);
	cr_assert(strstr(err, want) != NULL, "no '%s' in:\n%s", want, err);
	cr_assert(strstr(out, "4 rows: 3 loaded, 1 bad") != NULL, "%s", out);
	free(out);
	free(err);
	cr_assert_eq(harness_server_stop(srv), 0);
	srv = NULL;
}

Test(cli, export_then_import_into_a_fresh_allotd_round_trips_exactly)
{
	srv = start();
	/* Names that need quoting, safety set and not, many skus (several
	 * pages of stock.scan at the CLI's count). */
	char csv[1 << 16];
	size_t n = (size_t)snprintf(csv, sizeof(csv), "sku,location,on_hand,safety\n"
	    "\"a,b\",W1,5,1\n\"say \"\"hi\"\"\",\" W 2 \",0,0\nT-Shirt \xc3\xa4,Lager,2147483647,3\n");
	for (int i = 0; i < 1200; i++)
		n += (size_t)snprintf(csv + n, sizeof(csv) - n, "bulk-%d,W%d,%d,%d\n", i, i % 3, i, i % 5);
	cr_assert_lt(n, sizeof(csv));
	au_write(au_path(paths[0], sizeof(paths[0]), "seed.csv"), csv);
	free(cli_ok(srv, 0, (const char *[]){ "import", paths[0], NULL }));
	/* stock.set without safety keeps it: set one without. */
	free(cli_ok(srv, 0, (const char *[]){ "stock.set",
	    "{\"sku\": \"a,b\", \"location\": \"W1\", \"on_hand\": 6}", NULL }));

	char *first = cli_ok(srv, 0, (const char *[]){ "export", NULL });
	cr_assert(strncmp(first, "sku,location,on_hand,safety\n\"a,b\",W1,6,1\n", 41) == 0, "%.200s", first);
	cr_assert(strstr(first, "\"say \"\"hi\"\"\",\" W 2 \",0,0\n") != NULL, "%.300s", first);
	au_write(au_path(paths[1], sizeof(paths[1]), "export.csv"), first);

	srv2 = start();
	char *out = cli_ok(srv2, 0, (const char *[]){ "import", paths[1], NULL });
	cr_assert(strstr(out, "1203 rows: 1203 loaded, 0 bad") != NULL, "%s", out);
	free(out);
	char *second = cli_ok(srv2, 0, (const char *[]){ "export", NULL });
	cr_assert_str_eq(second, first, "the second export differs from the first");

	/* --sku-prefix exports only those skus. */
	out = cli_ok(srv2, 0, (const char *[]){ "export", "--sku-prefix", "bulk-11", NULL });
	int lines = 0;
	for (char *p = out; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	cr_assert_eq(lines, 1 + 1 + 10 + 100, "the header, bulk-11, bulk-110..119 and "
	    "bulk-1100..1199:\n%s", out);
	cr_assert(strstr(out, "bulk-2") == NULL && strstr(out, "\nbulk-1,") == NULL, "%s", out);
	free(out);
	free(first);
	free(second);
	cr_assert_eq(harness_server_stop(srv), 0);
	cr_assert_eq(harness_server_stop(srv2), 0);
	srv = srv2 = NULL;
}

Test(cli, under_a_pty_the_shell_calls_completes_reconnects_keeps_history_and_import_draws_progress)
{
	const char *cli_path = getenv("ALLOT_CLI"), *allotd = getenv("ALLOTD"),
	    *script = getenv("REPL_PTY");
	cr_assert(cli_path && allotd && script, "ALLOT_CLI, ALLOTD and REPL_PTY must be set");
	const char *argv[] = { "/usr/bin/python3", script, cli_path, allotd, NULL };
	char *out = NULL, *err = NULL;
	int status = harness_run(argv, 90000, &out, &err);
	cr_assert_eq(status, 0, "repl_pty.py exited %d\nstdout:\n%s\nstderr:\n%s", status, out, err);
	cr_assert(strstr(out, "ok") != NULL, "%s", out);
	free(out);
	free(err);
}
