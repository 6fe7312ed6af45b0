/*
 * test_protected.c - protected mode and the Unix socket: without an auth
 * file allotd refuses a non-loopback --bind unless --no-auth says so, and
 * says how to add tokens; --unix serves a socket of mode 0660 with the same
 * limits and auth as TCP, replaces a stale socket file, refuses to replace
 * anything else, and removes its socket at exit.
 */
#include <criterion/criterion.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "access_util.h"

static harness_server *srv;
static char sock_path[100], auth_path[128];

static void teardown(void)
{
	harness_server_stop(srv);
	srv = NULL;
	if (sock_path[0])
		unlink(sock_path);
	if (auth_path[0])
		unlink(auth_path);
}

TestSuite(protected, .fini = teardown, .timeout = 120);

/* Run allotd with args to its end: its status, stderr in *err. */
static int run_allotd(const char *const *args, char **err)
{
	const char *argv[16] = { getenv("ALLOTD") };
	size_t n = 1;
	for (size_t i = 0; args[i]; i++)
		argv[n++] = args[i];
	char *out = NULL;
	int status = harness_run(argv, 10000, &out, err);
	free(out);
	return status;
}

Test(protected, a_public_bind_without_tokens_is_refused_with_how_to_add_them)
{
	char port[16];
	snprintf(port, sizeof(port), "%d", harness_free_port());
	const char *const binds[] = { "0.0.0.0", "::", "192.0.2.1" };
	for (size_t i = 0; i < 3; i++) {
		const char *args[] = { "--bind", binds[i], "--port", port, NULL };
		char *err = NULL;
		int status = run_allotd(args, &err);
		cr_assert_eq(status, 2, "--bind %s without tokens: exit %d: %s", binds[i], status, err);
		cr_assert(strstr(err, "allot token new") && strstr(err, "--auth-file") && strstr(err, "--no-auth"),
		    "the message does not say how: %s", err);
		free(err);
	}
	const char *both[] = { "--bind", "0.0.0.0", "--port", port, "--no-auth", "--auth-file", "/x", NULL };
	char *err = NULL;
	cr_assert_eq(run_allotd(both, &err), 2);
	cr_assert(strstr(err, "contradict") != NULL, "%s", err);
	free(err);
}

Test(protected, no_auth_serves_a_public_bind_on_purpose)
{
	const char *args[] = { "--bind", "0.0.0.0", "--no-auth", NULL };
	char err[512];
	srv = harness_server_start(args, err, sizeof(err));
	cr_assert_not_null(srv, "allotd --bind 0.0.0.0 --no-auth did not start: %s", err);
	allot_client *c = au_client(srv, NULL);
	cr_assert_str_empty(au_call(c, "stock.set", "{\"sku\": \"A\", \"location\": \"W\", \"on_hand\": 1}", NULL));
	allot_client_destroy(c);
	cr_assert_eq(harness_server_stop(srv), 0);
	srv = NULL;
}

Test(protected, a_public_bind_with_tokens_starts_and_asks_for_them)
{
	au_token t;
	au_token_new(&t, "ops", "admin");
	char lines[AU_LINE_MAX + 2];
	snprintf(lines, sizeof(lines), "%s\n", t.line);
	au_write(au_path(auth_path, sizeof(auth_path), "tokens"), lines);
	const char *args[] = { "--bind", "0.0.0.0", "--auth-file", auth_path, NULL };
	char err[512];
	srv = harness_server_start(args, err, sizeof(err));
	cr_assert_not_null(srv, "%s", err);
	allot_client *c = au_client(srv, NULL);
	cr_assert_str_eq(au_call(c, "stats", NULL, NULL), "UNAUTHORIZED");
	allot_client_destroy(c);
	c = au_client(srv, t.token);
	cr_assert_str_empty(au_call(c, "stats", NULL, NULL));
	allot_client_destroy(c);
	cr_assert_eq(harness_server_stop(srv), 0);
	srv = NULL;
}

/* A client of the Unix socket at path, authenticated with token if any. */
static allot_client *unix_client(const char *token)
{
	char err[512];
	allot_client *c = allot_client_connect(sock_path, 0, AU_TIMEOUT_MS, err, sizeof(err));
	cr_assert_not_null(c, "cannot connect to %s: %s", sock_path, err);
	if (token)
		cr_assert_eq(allot_client_auth(c, token, NULL, 0, err, sizeof(err)), 0, "%s", err);
	return c;
}

Test(protected, the_unix_socket_serves_with_the_same_auth_and_mode_0660)
{
	au_token t;
	au_token_new(&t, "ops", "admin");
	char lines[AU_LINE_MAX + 2];
	snprintf(lines, sizeof(lines), "%s\n", t.line);
	au_write(au_path(auth_path, sizeof(auth_path), "tokens"), lines);
	au_path(sock_path, sizeof(sock_path), "allotd.sock");
	const char *args[] = { "--auth-file", auth_path, "--unix", sock_path, NULL };
	char err[512];
	srv = harness_server_start(args, err, sizeof(err));
	cr_assert_not_null(srv, "%s", err);
	struct stat st;
	cr_assert_eq(stat(sock_path, &st), 0);
	cr_assert(S_ISSOCK(st.st_mode), "not a socket");
	cr_assert_eq(st.st_mode & 0777, 0660, "mode %o", st.st_mode & 0777);
	allot_client *c = unix_client(NULL);
	cr_assert_str_empty(au_call(c, "ping", NULL, NULL));
	cr_assert_str_eq(au_call(c, "stock.set", "{}", NULL), "UNAUTHORIZED");
	allot_client_destroy(c);
	c = unix_client(t.token);
	cr_assert_str_empty(au_call(c, "stock.set", "{\"sku\": \"A\", \"location\": \"W\", \"on_hand\": 3}", NULL));
	/* The same engine as over TCP. */
	allot_client *tcp = au_client(srv, t.token);
	json_t *recs = NULL;
	cr_assert_str_empty(au_call(tcp, "stock.get", "{\"sku\": \"A\"}", &recs));
	cr_assert_eq(json_integer_value(json_object_get(json_array_get(recs, 0), "on_hand")), 3);
	json_decref(recs);
	/* Limits hold there too: an over-large frame is refused with its msgid. */
	unsigned char huge[] = { 0x94, 0x00, 0x2a, 0xa4, 'p', 'i', 'n', 'g', 0x91, 0xdb, 0x7f, 0xff, 0xff, 0xff };
	allot_message m;
	allot_message_init(&m);
	cr_assert_eq(allot_client_send_raw(c, huge, sizeof(huge), err, sizeof(err)), 0);
	cr_assert_eq(allot_client_recv(c, &m, err, sizeof(err)), 0, "%s", err);
	char code[32];
	cr_assert_str_eq(allot_message_error_code(&m, code, sizeof(code)), "TOO_LARGE");
	cr_assert_eq(m.msgid, 42);
	allot_message_clear(&m);
	allot_client_destroy(c);
	allot_client_destroy(tcp);
	/* Stats count the socket's connections with the others. */
	cr_assert_eq(harness_server_stop(srv), 0);
	srv = NULL;
	cr_assert_neq(access(sock_path, F_OK), 0, "the socket is left behind after exit");
}

Test(protected, a_stale_socket_is_replaced_and_other_files_are_not)
{
	au_path(sock_path, sizeof(sock_path), "stale.sock");
	unlink(sock_path);
	/* A socket nobody listens on, as a killed allotd leaves it. */
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	const char *args[] = { "--unix", sock_path, NULL };
	char err[512];
	srv = harness_server_start(args, err, sizeof(err));
	cr_assert_not_null(srv, "a stale socket stopped the start: %s", err);
	allot_client *c = unix_client(NULL);
	cr_assert_str_empty(au_call(c, "ping", NULL, NULL));
	allot_client_destroy(c);
	/* A second allotd on the live socket is refused. */
	char port[16];
	snprintf(port, sizeof(port), "%d", harness_free_port());
	const char *second[] = { "--port", port, "--unix", sock_path, NULL };
	char *errs = NULL;
	cr_assert_neq(run_allotd(second, &errs), 0);
	cr_assert(strstr(errs, "another process") != NULL, "%s", errs);
	free(errs);
	cr_assert_eq(harness_server_stop(srv), 0);
	srv = NULL;
	/* A file that is not a socket is never replaced. */
	au_write(sock_path, "precious\n");
	const char *args2[] = { "--port", port, "--unix", sock_path, NULL };
	cr_assert_neq(run_allotd(args2, &errs), 0);
	cr_assert(strstr(errs, "not a socket") != NULL, "%s", errs);
	free(errs);
	char *text = au_slurp(sock_path);
	cr_assert_str_eq(text, "precious\n");
	free(text);
}
