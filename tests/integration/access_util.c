/*
 * access_util.c - helpers of the access tests (access_util.h).
 */
#include "access_util.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void au_token_new(au_token *t, const char *name, const char *role)
{
	const char *cli = getenv("ALLOT_CLI");
	cr_assert(cli && cli[0], "ALLOT_CLI is not set");
	const char *argv[] = { cli, "token", "new", name, role, NULL };
	char *out = NULL, *err = NULL;
	int status = harness_run(argv, AU_TIMEOUT_MS, &out, &err);
	cr_assert_eq(status, 0, "allot token new %s %s exited %d: %s", name, role, status, err);
	const char *tok = strstr(out, "token: "), *line = strstr(out, "line: ");
	cr_assert(tok && line, "allot token new printed: %s", out);
	size_t n = strcspn(tok + 7, "\n"), m = strcspn(line + 6, "\n");
	cr_assert(n > 0 && n < sizeof(t->token) && m > 0 && m < sizeof(t->line));
	memcpy(t->token, tok + 7, n);
	t->token[n] = '\0';
	memcpy(t->line, line + 6, m);
	t->line[m] = '\0';
	free(out);
	free(err);
}

void au_write(const char *path, const char *text)
{
	/* Written beside and renamed, as an operator's editor or deploy would,
	 * so that a reload never sees half a file. */
	char tmp[300];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	cr_assert_not_null(f, "%s: %s", tmp, strerror(errno));
	cr_assert_eq(fputs(text, f) >= 0 && fclose(f) == 0, 1);
	cr_assert_eq(rename(tmp, path), 0, "rename %s: %s", path, strerror(errno));
}

const char *au_path(char *buf, size_t len, const char *what)
{
	snprintf(buf, len, "/tmp/allot-%d-%s", (int)getpid(), what);
	return buf;
}

allot_client *au_client(const harness_server *s, const char *token)
{
	char err[512];
	allot_client *c = harness_client(s, AU_TIMEOUT_MS, err, sizeof(err));
	cr_assert_not_null(c, "cannot connect: %s", err);
	if (token) {
		char role[32];
		cr_assert_eq(allot_client_auth(c, token, role, sizeof(role), err, sizeof(err)), 0,
		    "auth failed: %s", err);
	}
	return c;
}

const char *au_call(allot_client *c, const char *method, const char *params, json_t **result)
{
	static char code[64];
	char err[512];
	json_t *error = NULL, *res = NULL;
	int rc = allot_client_call_json(c, method, params, &error, &res, err, sizeof(err));
	cr_assert_eq(rc, 0, "%s: the call failed: %s", method, err);
	code[0] = '\0';
	if (error)
		snprintf(code, sizeof(code), "%s", json_string_value(json_object_get(error, "code")));
	json_decref(error);
	if (result)
		*result = res;
	else
		json_decref(res);
	return code;
}

int au_closed_by_server(allot_client *c, int timeout_ms)
{
	int fd = allot_client_fd(c);
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int64_t deadline = harness_now_ms() + timeout_ms;
	while (harness_now_ms() < deadline) {
		if (poll(&p, 1, 50) <= 0)
			continue;
		char b[4096];
		ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return 1;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return 1;
	}
	return 0;
}

pid_t au_start_logged(const char *const *args, const char *log_path, int *port)
{
	const char *exe = getenv("ALLOTD");
	cr_assert(exe && exe[0], "ALLOTD is not set");
	int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0, "%s: %s", log_path, strerror(errno));
	*port = harness_free_port();
	char port_text[16];
	snprintf(port_text, sizeof(port_text), "%d", *port);
	const char *argv[32] = { exe, "--bind", HARNESS_HOST, "--port", port_text };
	size_t n = 5;
	for (size_t i = 0; args && args[i]; i++) {
		cr_assert_lt(n, 31);
		argv[n++] = args[i];
	}
	pid_t pid = harness_spawn(argv, -1, fd);
	close(fd);
	cr_assert_gt(pid, 0);
	harness_server probe = { pid, *port };
	int64_t deadline = harness_now_ms() + HARNESS_START_TIMEOUT_MS;
	for (;;) {
		char err[256];
		allot_client *c = harness_client(&probe, 1000, err, sizeof(err));
		if (c) {
			const char *code = au_call(c, "ping", NULL, NULL);
			allot_client_destroy(c);
			cr_assert_str_empty(code);
			return pid;
		}
		cr_assert_eq(harness_wait_child(pid, 0), HARNESS_STATUS_TIMEOUT, "allotd exited: see %s",
		    log_path);
		cr_assert_lt(harness_now_ms(), deadline, "allotd did not answer in time");
		harness_sleep_ms(20);
	}
}

int au_stop(pid_t pid)
{
	kill(pid, SIGTERM);
	int status = harness_wait_child(pid, harness_now_ms() + HARNESS_STOP_TIMEOUT_MS);
	if (status == HARNESS_STATUS_TIMEOUT)
		status = harness_kill_child(pid);
	return status;
}

char *au_slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	size_t cap = 1 << 20, len = 0;
	char *buf = malloc(cap + 1);
	cr_assert_not_null(buf);
	len = fread(buf, 1, cap, f);
	fclose(f);
	buf[len] = '\0';
	return buf;
}
