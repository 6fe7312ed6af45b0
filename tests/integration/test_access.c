/*
 * test_access.c - tokens and roles over the wire (API.md version 2,
 * "Access"): auth, UNAUTHORIZED before it and for a wrong token, FORBIDDEN
 * outside the role, the close after ALLOT_AUTH_FAILURES_MAX wrong tokens,
 * rotation with SIGHUP, tokens never in the log or stats, counts by name,
 * the CLI's --token and ALLOT_TOKEN, and pynvim authenticating.
 *
 * Tokens are made with the real CLI (`allot token new`), as an operator
 * would make them.
 */
#include <criterion/criterion.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access_util.h"

static harness_server *srv;
static char auth_path[128];

static void teardown(void)
{
	harness_server_stop(srv);
	srv = NULL;
	if (auth_path[0])
		unlink(auth_path);
}

TestSuite(access, .fini = teardown, .timeout = 120);

/* allotd with an auth file holding lines (each ending in a newline). */
static void start_with(const char *lines)
{
	au_path(auth_path, sizeof(auth_path), "tokens");
	au_write(auth_path, lines);
	const char *args[] = { "--auth-file", auth_path, NULL };
	char err[512];
	srv = harness_server_start(args, err, sizeof(err));
	cr_assert_not_null(srv, "cannot start allotd: %s", err);
}

static void stop_clean(void)
{
	int status = harness_server_stop(srv);
	srv = NULL;
	cr_assert_eq(status, 0, "allotd exited with status %d", status);
}

/* Three tokens, one per role, in one file. */
static au_token reader, clerk, ops;
static void start_three(void)
{
	au_token_new(&reader, "reports", "read");
	au_token_new(&clerk, "web", "checkout");
	au_token_new(&ops, "ops", "admin");
	char lines[1024];
	snprintf(lines, sizeof(lines), "# allot tokens\n\n%s\n%s  # the shop\n%s\n", reader.line,
	    clerk.line, ops.line);
	start_with(lines);
}

/* The roles of API.md version 2, "Access": each method with the least
 * role that may call it (auth is tried apart: it changes the connection). */
static const struct { const char *method; int role; } table[] = {
	{ "ping", 0 }, { "stock.get", 1 }, { "avail", 1 }, { "reservation.get", 1 },
	{ "location.list", 1 }, { "route.quote", 1 }, { "stats", 1 },
	{ "reserve", 2 }, { "commit", 2 }, { "release", 2 }, { "extend", 2 }, { "fulfill", 2 },
	{ "stock.set", 3 }, { "stock.adjust", 3 }, { "restock", 3 }, { "location.put", 3 },
	{ "channel.put", 3 }, { "sku.put", 3 }, { "inbound.add", 3 }, { "snapshot", 3 },
	{ "inbound.list", 1 }, { "inbound.receive", 3 },
};
#define TABLE_LEN (sizeof(table) / sizeof(table[0]))

/* Every method against a connection of role (0: not authenticated): those
 * above it are refused with want, the others never are. */
static void expect_role(allot_client *c, int role, const char *want)
{
	for (size_t i = 0; i < TABLE_LEN; i++) {
		const char *code = au_call(c, table[i].method, "{}", NULL);
		if (table[i].role > role)
			cr_assert_str_eq(code, want, "role %d calling %s: %s, expected %s", role, table[i].method,
			    code, want);
		else
			cr_assert(strcmp(code, "UNAUTHORIZED") != 0 && strcmp(code, "FORBIDDEN") != 0,
			    "role %d calling %s: refused with %s", role, table[i].method, code);
	}
}

Test(access, before_auth_only_ping_and_auth_answer)
{
	start_three();
	allot_client *c = au_client(srv, NULL);
	expect_role(c, 0, "UNAUTHORIZED");
	cr_assert_str_eq(au_call(c, "auth", "{\"token\": \"not-a-token\"}", NULL), "UNAUTHORIZED");
	cr_assert_str_eq(au_call(c, "auth", "{}", NULL), "BAD_REQUEST");
	cr_assert_str_eq(au_call(c, "stats", NULL, NULL), "UNAUTHORIZED");
	allot_client_destroy(c);
	stop_clean();
}

Test(access, each_role_may_call_its_methods_and_no_others)
{
	start_three();
	const au_token *tokens[] = { &reader, &clerk, &ops };
	const char *roles[] = { "read", "checkout", "admin" };
	const char *names[] = { "reports", "web", "ops" };
	for (int r = 0; r < 3; r++) {
		allot_client *c = au_client(srv, NULL);
		json_t *res = NULL;
		char params[256];
		snprintf(params, sizeof(params), "{\"token\": \"%s\"}", tokens[r]->token);
		cr_assert_str_empty(au_call(c, "auth", params, &res));
		cr_assert_str_eq(json_string_value(json_object_get(res, "role")), roles[r]);
		cr_assert_str_eq(json_string_value(json_object_get(res, "name")), names[r]);
		json_decref(res);
		expect_role(c, r + 1, "FORBIDDEN");
		allot_client_destroy(c);
	}
	/* A method just outside each role, with the message naming both. */
	allot_client *c = au_client(srv, reader.token);
	json_t *res = NULL;
	char err[512];
	json_t *error = NULL;
	cr_assert_eq(allot_client_call_json(c, "reserve", "{\"order_id\": \"o\", \"lines\": []}", &error,
	    &res, err, sizeof(err)), 0);
	const char *msg = json_string_value(json_object_get(error, "message"));
	cr_assert(msg && strstr(msg, "checkout") && strstr(msg, "reports"), "message: %s", msg);
	json_decref(error);
	json_decref(res);
	allot_client_destroy(c);
	stop_clean();
}

Test(access, a_wrong_token_after_a_right_one_leaves_the_connection_unauthenticated)
{
	start_three();
	allot_client *c = au_client(srv, ops.token);
	cr_assert_str_empty(au_call(c, "stats", NULL, NULL));
	cr_assert_str_eq(au_call(c, "auth", "{\"token\": \"guess\"}", NULL), "UNAUTHORIZED");
	cr_assert_str_eq(au_call(c, "stats", NULL, NULL), "UNAUTHORIZED");
	/* A later right token works again, and may be of another role. */
	char params[256];
	snprintf(params, sizeof(params), "{\"token\": \"%s\"}", reader.token);
	cr_assert_str_empty(au_call(c, "auth", params, NULL));
	cr_assert_str_eq(au_call(c, "stock.set", "{}", NULL), "FORBIDDEN");
	allot_client_destroy(c);
	stop_clean();
}

Test(access, five_wrong_tokens_close_the_connection)
{
	start_three();
	allot_client *c = au_client(srv, NULL);
	for (int i = 1; i < ALLOT_AUTH_FAILURES_MAX; i++) {
		cr_assert_str_eq(au_call(c, "auth", "{\"token\": \"guess\"}", NULL), "UNAUTHORIZED");
		cr_assert_str_empty(au_call(c, "ping", NULL, NULL), "closed after %d failures", i);
	}
	/* The last refusal is answered, then the connection closes. */
	cr_assert_str_eq(au_call(c, "auth", "{\"token\": \"guess\"}", NULL), "UNAUTHORIZED");
	cr_assert(au_closed_by_server(c, 5000), "still open after %d wrong tokens", ALLOT_AUTH_FAILURES_MAX);
	allot_client_destroy(c);
	/* The others go on; stats count the failures and the close. */
	allot_client *admin = au_client(srv, ops.token);
	json_t *st = NULL;
	cr_assert_str_empty(au_call(admin, "stats", NULL, &st));
	json_t *access = json_object_get(st, "access");
	cr_assert_eq(json_integer_value(json_object_get(access, "auth_failures")), ALLOT_AUTH_FAILURES_MAX);
	cr_assert_eq(json_integer_value(json_object_get(access, "closed_for_auth")), 1);
	cr_assert_str_eq(json_string_value(json_object_get(access, "auth")), "tokens");
	cr_assert_eq(json_integer_value(json_object_get(access, "tokens")), 3);
	json_decref(st);
	allot_client_destroy(admin);
	stop_clean();
}

Test(access, stats_count_requests_and_errors_by_name)
{
	start_three();
	allot_client *web = au_client(srv, clerk.token);
	cr_assert_str_eq(au_call(web, "stock.set", "{}", NULL), "FORBIDDEN");
	cr_assert_str_eq(au_call(web, "reserve", "{}", NULL), "BAD_REQUEST");
	cr_assert_str_empty(au_call(web, "ping", NULL, NULL));
	allot_client *admin = au_client(srv, ops.token);
	json_t *st = NULL;
	cr_assert_str_empty(au_call(admin, "stats", NULL, &st));
	json_t *by = json_object_get(json_object_get(st, "access"), "by_name");
	/* web: auth, stock.set, reserve, ping; ops: auth. */
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(by, "web"), "requests")), 4);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(by, "web"), "errors")), 2);
	/* A call is counted once answered: stats does not count itself. */
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(by, "ops"), "requests")), 1);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(by, "reports"), "requests")), 0);
	cr_assert_not_null(json_object_get(by, "-"), "requests without a token count as \"-\"");
	/* No token appears in stats, whatever the name. */
	const char *text = json_dumps(st, JSON_COMPACT);
	cr_assert(strstr(text, clerk.token) == NULL && strstr(text, ops.token) == NULL);
	free((void *)text);
	json_decref(st);
	allot_client_destroy(web);
	allot_client_destroy(admin);
	stop_clean();
}

/* Wait until a new connection's auth with token gives want ("" or a code). */
static void await_auth(const char *token, const char *want)
{
	char params[256];
	snprintf(params, sizeof(params), "{\"token\": \"%s\"}", token);
	int64_t deadline = harness_now_ms() + 5000;
	for (;;) {
		allot_client *c = au_client(srv, NULL);
		const char *code = au_call(c, "auth", params, NULL);
		bool ok = strcmp(code, want) == 0;
		allot_client_destroy(c);
		if (ok)
			return;
		cr_assert_lt(harness_now_ms(), deadline, "auth still answers '%s', expected '%s'", code, want);
		harness_sleep_ms(20);
	}
}

Test(access, sighup_rotates_tokens_and_closes_connections_whose_token_went)
{
	au_token old_web, new_web;
	au_token_new(&old_web, "web", "checkout");
	au_token_new(&new_web, "web", "checkout");
	au_token_new(&ops, "ops", "admin");
	char lines[1024];
	snprintf(lines, sizeof(lines), "%s\n%s\n", old_web.line, ops.line);
	start_with(lines);
	allot_client *on_old = au_client(srv, old_web.token);
	allot_client *on_ops = au_client(srv, ops.token);
	cr_assert_str_eq(au_call(on_old, "reserve", "{}", NULL), "BAD_REQUEST");

	/* Step 1 of a rotation: both of web's tokens are good. */
	snprintf(lines, sizeof(lines), "%s\n%s\n%s\n", old_web.line, new_web.line, ops.line);
	au_write(auth_path, lines);
	kill(srv->pid, SIGHUP);
	await_auth(new_web.token, "");
	cr_assert_str_eq(au_call(on_old, "reserve", "{}", NULL), "BAD_REQUEST", "the old token still works");

	/* Step 2: the old one goes; its connection is closed, ops's stays. */
	snprintf(lines, sizeof(lines), "%s\n%s\n", new_web.line, ops.line);
	au_write(auth_path, lines);
	kill(srv->pid, SIGHUP);
	await_auth(old_web.token, "UNAUTHORIZED");
	cr_assert(au_closed_by_server(on_old, 5000), "the removed token's connection stays open");
	cr_assert_str_empty(au_call(on_ops, "stats", NULL, NULL));

	/* A file that does not load keeps the tokens in force. */
	au_write(auth_path, "web checkout not-a-hash\n");
	kill(srv->pid, SIGHUP);
	harness_sleep_ms(200);
	await_auth(new_web.token, "");
	cr_assert_str_empty(au_call(on_ops, "stats", NULL, NULL));
	/* web's counts carried over the reloads, by name. */
	json_t *st = NULL;
	cr_assert_str_empty(au_call(on_ops, "stats", NULL, &st));
	json_t *web = json_object_get(json_object_get(json_object_get(st, "access"), "by_name"), "web");
	cr_assert_geq(json_integer_value(json_object_get(web, "requests")), 3);
	json_decref(st);
	allot_client_destroy(on_old);
	allot_client_destroy(on_ops);
	stop_clean();
}

/* allotd with an auth file of text must refuse to start, saying why. */
static void expect_refused_file(const char *text, const char *why)
{
	au_path(auth_path, sizeof(auth_path), "tokens");
	if (text)
		au_write(auth_path, text);
	else
		unlink(auth_path);
	const char *exe = getenv("ALLOTD");
	char port[16];
	snprintf(port, sizeof(port), "%d", harness_free_port());
	const char *argv[] = { exe, "--port", port, "--auth-file", auth_path, NULL };
	char *out = NULL, *err = NULL;
	int status = harness_run(argv, 10000, &out, &err);
	cr_assert_eq(status, 2, "allotd exited %d with a bad auth file: %s", status, err);
	cr_assert(strstr(err, why) != NULL, "the message does not say '%s': %s", why, err);
	free(out);
	free(err);
}

Test(access, a_bad_auth_file_stops_the_start_naming_the_line)
{
	au_token t;
	au_token_new(&t, "web", "read");
	char text[512];
	snprintf(text, sizeof(text), "# tokens\n%s\nweb boss %s\n", t.line, strrchr(t.line, ' ') + 1);
	expect_refused_file(text, "line 3");
	snprintf(text, sizeof(text), "%s\nother read %s\n", t.line, strrchr(t.line, ' ') + 1);
	expect_refused_file(text, "the same token as line 1");
	expect_refused_file("web read 1234\n", "line 1: the third word must be the token's SHA-256");
	expect_refused_file("web read\n", "line 1: expected NAME ROLE SHA256HEX");
	expect_refused_file("# nobody\n", "no tokens");
	expect_refused_file(NULL, "cannot open");
}

Test(access, tokens_never_reach_the_log_at_debug)
{
	au_token_new(&ops, "ops", "admin");
	char lines[AU_LINE_MAX + 2], log[128];
	snprintf(lines, sizeof(lines), "%s\n", ops.line);
	au_path(auth_path, sizeof(auth_path), "tokens");
	au_write(auth_path, lines);
	au_path(log, sizeof(log), "allotd.log");
	const char *args[] = { "--auth-file", auth_path, "--log-level", "debug", NULL };
	int port;
	pid_t pid = au_start_logged(args, log, &port);
	harness_server s = { pid, port };
	const char *wrong = "wrong-token-that-must-not-be-logged-either";
	allot_client *c = au_client(&s, NULL);
	char params[256];
	snprintf(params, sizeof(params), "{\"token\": \"%s\"}", wrong);
	cr_assert_str_eq(au_call(c, "auth", params, NULL), "UNAUTHORIZED");
	snprintf(params, sizeof(params), "{\"token\": \"%s\"}", ops.token);
	cr_assert_str_empty(au_call(c, "auth", params, NULL));
	cr_assert_str_empty(au_call(c, "stock.set", "{\"sku\": \"A\", \"location\": \"W\", \"on_hand\": 1}", NULL));
	cr_assert_str_empty(au_call(c, "stats", NULL, NULL));
	allot_client_destroy(c);
	/* The CLI too, with the flag and with the environment. */
	char port_text[16];
	snprintf(port_text, sizeof(port_text), "%d", port);
	const char *cli = getenv("ALLOT_CLI");
	const char *argv[] = { cli, "--port", port_text, "--token", ops.token, "stats", NULL };
	cr_assert_eq(harness_run(argv, 10000, NULL, NULL), 0);
	kill(pid, SIGHUP);
	harness_sleep_ms(100);
	cr_assert_eq(au_stop(pid), 0);
	char *text = au_slurp(log);
	cr_assert(strstr(text, ops.token) == NULL, "the token is in the log:\n%s", text);
	cr_assert(strstr(text, wrong) == NULL, "a wrong token is in the log:\n%s", text);
	/* The log did speak of it, by name only. */
	cr_assert(strstr(text, "auth: an unknown token") != NULL, "no auth failure logged:\n%s", text);
	cr_assert(strstr(text, "now ops, role admin") != NULL, "no auth success logged:\n%s", text);
	free(text);
	unlink(log);
}

Test(access, without_an_auth_file_every_connection_is_admin_and_auth_accepts)
{
	char err[512];
	srv = harness_server_start(NULL, err, sizeof(err));
	cr_assert_not_null(srv, "%s", err);
	allot_client *c = au_client(srv, NULL);
	cr_assert_str_empty(au_call(c, "stock.set", "{\"sku\": \"A\", \"location\": \"W\", \"on_hand\": 1}", NULL));
	json_t *res = NULL;
	cr_assert_str_empty(au_call(c, "auth", "{\"token\": \"anything\"}", &res));
	cr_assert_str_eq(json_string_value(json_object_get(res, "role")), "admin");
	cr_assert_str_eq(json_string_value(json_object_get(res, "name")), "-");
	json_decref(res);
	json_t *st = NULL;
	cr_assert_str_empty(au_call(c, "stats", NULL, &st));
	json_t *access = json_object_get(st, "access");
	cr_assert_str_eq(json_string_value(json_object_get(access, "auth")), "none");
	/* The harness's ping, stock.set and auth (stats is counted once answered). */
	cr_assert_geq(json_integer_value(json_object_get(json_object_get(json_object_get(access, "by_name"),
	    "-"), "requests")), 3);
	json_decref(st);
	allot_client_destroy(c);
	stop_clean();
}

Test(access, the_cli_authenticates_with_the_flag_or_the_environment)
{
	start_three();
	char port[16];
	snprintf(port, sizeof(port), "%d", srv->port);
	const char *cli = getenv("ALLOT_CLI");
	const char *set[] = { cli, "--port", port, "--token", ops.token, "stock.set",
		"{\"sku\": \"A\", \"location\": \"W\", \"on_hand\": 2}", NULL };
	char *out = NULL, *err = NULL;
	cr_assert_eq(harness_run(set, 10000, &out, &err), 0, "%s", err);
	cr_assert(strstr(out, "\"on_hand\": 2") != NULL, "%s", out);
	free(out);
	free(err);
	/* From the environment, and a role that may not. */
	setenv("ALLOT_TOKEN", reader.token, 1);
	const char *get[] = { cli, "--port", port, "stock.get", "{\"sku\": \"A\"}", NULL };
	cr_assert_eq(harness_run(get, 10000, &out, &err), 0, "%s", err);
	free(out);
	free(err);
	cr_assert_eq(harness_run(set + 0, 10000, &out, &err), 0, "the flag wins over the environment");
	free(out);
	free(err);
	const char *denied[] = { cli, "--port", port, "stock.set", "{\"sku\": \"A\", \"location\": \"W\", "
		"\"on_hand\": 3}", NULL };
	cr_assert_eq(harness_run(denied, 10000, &out, &err), 1);
	cr_assert(strstr(out, "FORBIDDEN") != NULL, "%s", out);
	free(out);
	free(err);
	/* A wrong token: a message on stderr, exit 2. */
	setenv("ALLOT_TOKEN", "wrong", 1);
	cr_assert_eq(harness_run(get, 10000, &out, &err), 2);
	cr_assert(strstr(err, "UNAUTHORIZED") != NULL, "%s", err);
	free(out);
	free(err);
	unsetenv("ALLOT_TOKEN");
	cr_assert_eq(harness_run(get, 10000, &out, &err), 1, "no token: the server refuses");
	cr_assert(strstr(out, "UNAUTHORIZED") != NULL, "%s", out);
	free(out);
	free(err);
	stop_clean();
}

Test(access, allot_token_new_refuses_bad_names_and_roles)
{
	const char *cli = getenv("ALLOT_CLI");
	const char *bad_role[] = { cli, "token", "new", "web", "owner", NULL };
	const char *bad_name[] = { cli, "token", "new", "a b", "read", NULL };
	const char *dash[] = { cli, "token", "new", "-", "read", NULL };
	char *out = NULL, *err = NULL;
	cr_assert_eq(harness_run(bad_role, 10000, &out, &err), 2);
	cr_assert(strstr(err, "ROLE") != NULL && out[0] == '\0', "%s", err);
	free(out);
	free(err);
	cr_assert_eq(harness_run(bad_name, 10000, &out, &err), 2);
	free(out);
	free(err);
	cr_assert_eq(harness_run(dash, 10000, &out, &err), 2);
	free(out);
	free(err);
	/* Two tokens are never the same, and each has 128 bits or more. */
	au_token a, b;
	au_token_new(&a, "web", "read");
	au_token_new(&b, "web", "read");
	cr_assert_str_neq(a.token, b.token);
	cr_assert_geq(strlen(a.token), 22, "base64url of at least 128 bits");
}

Test(access, pynvim_authenticates)
{
	start_three();
	const char *script = getenv("PYNVIM_CLIENT");
	cr_assert(script && script[0], "PYNVIM_CLIENT is not set");
	char port[16];
	snprintf(port, sizeof(port), "%d", srv->port);
	const char *argv[] = { "/usr/bin/python3", script, HARNESS_HOST, port, ops.token, NULL };
	char *out = NULL, *err = NULL;
	int status = harness_run(argv, 60000, &out, &err);
	cr_assert_eq(status, 0, "pynvim_client.py exited %d\nstdout:\n%s\nstderr:\n%s", status, out, err);
	cr_assert(strstr(out, "authenticated as ops") != NULL, "%s", out);
	free(out);
	free(err);
	stop_clean();
}
