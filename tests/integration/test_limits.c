/*
 * test_limits.c - allotd under hostile or excessive input: every limit is
 * answered as the protocol says, the connection is kept or closed as it
 * says, and the server stays up, answers others, and exits 0 on SIGTERM.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <msgpack.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rpc_client.h"
#include "harness.h"

#define TIMEOUT_MS 5000

static harness_server *srv;

static void start(const char *const *args)
{
	char err[512];
	srv = harness_server_start(args, err, sizeof(err));
	cr_assert_not_null(srv, "cannot start allotd: %s", err);
}

static void stop_expect_clean(void)
{
	int status = harness_server_stop(srv);
	srv = NULL;
	cr_assert_eq(status, 0, "allotd exited with status %d", status);
}

static void teardown(void)
{
	harness_server_stop(srv);
	srv = NULL;
}

TestSuite(limits, .fini = teardown, .timeout = 120);

static void ignore_sigpipe(void)
{
	signal(SIGPIPE, SIG_IGN);
}

/* A ping over a fresh client proves the server still serves. */
static void expect_alive(void)
{
	char err[512];
	allot_client *c = harness_client(srv, TIMEOUT_MS, err, sizeof(err));
	cr_assert_not_null(c, "cannot connect: %s", err);
	json_t *error = NULL, *result = NULL;
	cr_assert_eq(allot_client_call_json(c, "ping", NULL, &error, &result, err, sizeof(err)), 0,
	    "ping failed: %s", err);
	cr_assert_null(error);
	cr_assert_str_eq(json_string_value(result), "pong");
	json_decref(result);
	allot_client_destroy(c);
}

/* Decode the one response in buf[0..len) and return its error code. */
static void expect_single_error(const char *buf, size_t len, uint64_t msgid, const char *code)
{
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	size_t off = 0;
	cr_assert_eq(msgpack_unpack_next(&u, buf, len, &off), MSGPACK_UNPACK_SUCCESS,
	    "no complete response in %zu bytes", len);
	cr_assert_eq(off, len, "more than one response: %zu of %zu bytes used", off, len);
	const msgpack_object *o = &u.data;
	cr_assert_eq(o->type, MSGPACK_OBJECT_ARRAY);
	cr_assert_eq(o->via.array.size, 4);
	cr_assert_eq(o->via.array.ptr[0].via.u64, 1);
	cr_assert_eq(o->via.array.ptr[1].via.u64, msgid);
	const msgpack_object *c = allot_object_map_get(&o->via.array.ptr[2], "code");
	cr_assert_not_null(c, "the error has no code");
	cr_assert_eq(c->type, MSGPACK_OBJECT_STR);
	cr_assert(c->via.str.size == strlen(code) && memcmp(c->via.str.ptr, code, strlen(code)) == 0,
	    "code %.*s, expected %s", (int)c->via.str.size, c->via.str.ptr, code);
	cr_assert_eq(o->via.array.ptr[3].type, MSGPACK_OBJECT_NIL);
	msgpack_unpacked_destroy(&u);
}

/* Send bytes on a raw connection and expect one error reply, then EOF.
 * The reply echoes the request's msgid when [0, msgid, ...] was readable
 * (version 2 of the contract), else 0. */
static void expect_refused_stream(const void *bytes, size_t len, uint64_t msgid, const char *code)
{
	int fd = harness_connect_raw(srv->port, TIMEOUT_MS);
	cr_assert_geq(fd, 0);
	cr_assert_eq(harness_write_all(fd, bytes, len), 0);
	char buf[4096];
	ssize_t n = harness_read_until_eof(fd, buf, sizeof(buf), TIMEOUT_MS);
	cr_assert_gt(n, 0, "the server did not answer and close");
	expect_single_error(buf, (size_t)n, msgid, code);
	close(fd);
}

Test(limits, a_string_header_over_the_frame_limit_is_refused_before_its_bytes)
{
	start(NULL);
	/* [0, 1, "ping", [{"x": <str32 of 2 MiB>}]] with only the header sent. */
	const unsigned char msg[] = {
		0x94, 0x00, 0x01, 0xa4, 'p', 'i', 'n', 'g', 0x91, 0x81, 0xa1, 'x',
		0xdb, 0x00, 0x20, 0x00, 0x00,
	};
	expect_refused_stream(msg, sizeof(msg), 1, "TOO_LARGE");
	expect_alive();
	stop_expect_clean();
}

Test(limits, nesting_deeper_than_the_limit_is_refused)
{
	start(NULL);
	unsigned char msg[200];
	memset(msg, 0x91, sizeof(msg)); /* 200 nested one-element arrays */
	expect_refused_stream(msg, sizeof(msg), 0, "TOO_LARGE");
	expect_alive();
	stop_expect_clean();
}

Test(limits, a_map_header_claiming_four_billion_pairs_is_refused_at_once)
{
	start(NULL);
	const unsigned char msg[] = { 0x94, 0x00, 0x01, 0xa4, 'p', 'i', 'n', 'g', 0x91,
		0xdf, 0xff, 0xff, 0xff, 0xff };
	expect_refused_stream(msg, sizeof(msg), 1, "TOO_LARGE");
	expect_alive();
	stop_expect_clean();
}

Test(limits, a_message_over_frame_bytes_max_is_refused)
{
	const char *const args[] = { "--frame-bytes-max", "4096", NULL };
	start(args);
	/* A well-formed request of about 8 KiB: one long unknown string. */
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint32(&pk, 0);
	msgpack_pack_uint32(&pk, 9);
	msgpack_pack_str_with_body(&pk, "ping", 4);
	msgpack_pack_array(&pk, 1);
	msgpack_pack_map(&pk, 1);
	msgpack_pack_str_with_body(&pk, "pad", 3);
	char pad[8192];
	memset(pad, 'x', sizeof(pad));
	msgpack_pack_str_with_body(&pk, pad, sizeof(pad));
	expect_refused_stream(sb.data, sb.size, 9, "TOO_LARGE");
	msgpack_sbuffer_destroy(&sb);
	expect_alive();
	stop_expect_clean();
}

Test(limits, connections_beyond_the_maximum_get_busy_and_are_closed)
{
	const char *const args[] = { "--max-connections", "4", NULL };
	start(args);
	char err[512];
	allot_client *held[4];
	/* Three clients plus the harness's own start-up ping, which has
	 * closed by now: open four and prove each is served. */
	for (int i = 0; i < 4; i++) {
		held[i] = harness_client(srv, TIMEOUT_MS, err, sizeof(err));
		cr_assert_not_null(held[i], "client %d: %s", i, err);
		json_t *error = NULL, *result = NULL;
		int64_t deadline = harness_now_ms() + TIMEOUT_MS;
		int rc;
		/* The start-up ping's connection may still be closing. */
		while ((rc = allot_client_call_json(held[i], "ping", NULL, &error, &result, err,
		    sizeof(err))) != 0 && harness_now_ms() < deadline) {
			allot_client_destroy(held[i]);
			usleep(20000);
			held[i] = harness_client(srv, TIMEOUT_MS, err, sizeof(err));
			cr_assert_not_null(held[i]);
		}
		cr_assert_eq(rc, 0, "client %d: %s", i, err);
		cr_assert_null(error, "client %d got an error", i);
		json_decref(result);
	}
	int fd = harness_connect_raw(srv->port, TIMEOUT_MS);
	cr_assert_geq(fd, 0);
	char buf[1024];
	ssize_t n = harness_read_until_eof(fd, buf, sizeof(buf), TIMEOUT_MS);
	cr_assert_gt(n, 0, "the fifth connection was not answered and closed");
	expect_single_error(buf, (size_t)n, 0, "BUSY");
	close(fd);
	/* Once one leaves, a newcomer is served again. */
	allot_client_destroy(held[0]);
	int64_t deadline = harness_now_ms() + TIMEOUT_MS;
	bool served = false;
	while (!served && harness_now_ms() < deadline) {
		allot_client *c = harness_client(srv, TIMEOUT_MS, err, sizeof(err));
		json_t *error = NULL, *result = NULL;
		served = c && allot_client_call_json(c, "ping", NULL, &error, &result, err, sizeof(err)) == 0 &&
		    error == NULL;
		json_decref(error);
		json_decref(result);
		allot_client_destroy(c);
		if (!served)
			usleep(20000);
	}
	cr_assert(served, "no connection was served after one closed");
	for (int i = 1; i < 4; i++)
		allot_client_destroy(held[i]);
	stop_expect_clean();
}

/* Pack an avail request for n skus into sb. */
static void pack_avail(msgpack_sbuffer *sb, uint32_t msgid, int n)
{
	msgpack_packer pk;
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint32(&pk, 0);
	msgpack_pack_uint32(&pk, msgid);
	msgpack_pack_str_with_body(&pk, "avail", 5);
	msgpack_pack_array(&pk, 1);
	msgpack_pack_map(&pk, 1);
	msgpack_pack_str_with_body(&pk, "skus", 4);
	msgpack_pack_array(&pk, (uint32_t)n);
	for (int i = 0; i < n; i++) {
		char sku[32];
		int len = snprintf(sku, sizeof(sku), "sku-%05d", i);
		msgpack_pack_str_with_body(&pk, sku, (size_t)len);
	}
}

Test(limits, a_client_that_does_not_read_its_replies_is_cut_off, .init = ignore_sigpipe)
{
	const char *const args[] = { "--output-bytes-max", "65536", NULL };
	start(args);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int small = 4096;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	close(fd);
	fd = harness_connect_raw(srv->port, TIMEOUT_MS);
	cr_assert_geq(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	/* Each avail of 1000 unknown skus answers about 30 KB; 1000 of them
	 * would be 30 MB of replies this client never reads. */
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	pack_avail(&sb, 1, 1000);
	int64_t deadline = harness_now_ms() + 20000;
	int sent = 0;
	bool write_failed = false;
	while (sent < 1000 && harness_now_ms() < deadline) {
		struct pollfd p = { fd, POLLOUT, 0 };
		if (poll(&p, 1, 200) <= 0)
			continue;
		if (p.revents & (POLLERR | POLLHUP)) {
			write_failed = true;
			break;
		}
		if (send(fd, sb.data, sb.size, MSG_NOSIGNAL) < 0) {
			write_failed = true;
			break;
		}
		sent++;
	}
	msgpack_sbuffer_destroy(&sb);
	/* Now read: the connection must end well before 30 MB arrive. */
	size_t got = 0;
	char buf[65536];
	bool ended = false;
	while (!ended && harness_now_ms() < deadline) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			ended = true;
		else if (n > 0)
			got += (size_t)n;
	}
	close(fd);
	cr_assert(ended, "the connection was not cut off (sent %d requests, read %zu bytes)", sent, got);
	cr_assert_lt(got, (size_t)sent * 30000, "read %zu bytes: every reply was delivered", got);
	cr_assert(write_failed || sent > 0);
	expect_alive();
	stop_expect_clean();
}

Test(limits, random_garbage_from_many_connections_never_takes_the_server_down)
{
	start(NULL);
	unsigned seed = 20261123;
	for (int conn = 0; conn < 200; conn++) {
		int fd = harness_connect_raw(srv->port, TIMEOUT_MS);
		cr_assert_geq(fd, 0);
		unsigned char junk[512];
		size_t len = 1 + (size_t)(rand_r(&seed) % sizeof(junk));
		for (size_t i = 0; i < len; i++)
			junk[i] = (unsigned char)rand_r(&seed);
		/* Make some of them start like a request, to get deeper. */
		if (conn % 2 == 0 && len > 4) {
			junk[0] = 0x94;
			junk[1] = 0x00;
		}
		harness_write_all(fd, junk, len);
		shutdown(fd, SHUT_WR);
		char buf[8192];
		/* The server answers or not, then closes: bounded either way. */
		harness_read_until_eof(fd, buf, sizeof(buf), TIMEOUT_MS);
		close(fd);
	}
	expect_alive();
	stop_expect_clean();
}

/* How many avail requests the server has handled, from stats. */
static long long avail_requests_handled(void)
{
	char err[512];
	allot_client *c = harness_client(srv, TIMEOUT_MS, err, sizeof(err));
	cr_assert_not_null(c, "cannot connect: %s", err);
	json_t *error = NULL, *result = NULL;
	cr_assert_eq(allot_client_call_json(c, "stats", NULL, &error, &result, err, sizeof(err)), 0);
	cr_assert_null(error);
	json_t *n = json_object_get(json_object_get(result, "requests"), "avail");
	long long v = n ? json_integer_value(n) : 0;
	json_decref(result);
	allot_client_destroy(c);
	return v;
}

Test(limits, sigterm_sends_the_replies_owed_and_exits_zero, .init = ignore_sigpipe)
{
	start(NULL);
	/* 200 avail requests of 1000 skus: about 6 MB of replies, far more
	 * than the socket buffers hold, so the server still owes most of them
	 * when the signal comes. */
	enum { REQUESTS = 200 };
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	for (uint32_t i = 1; i <= REQUESTS; i++)
		pack_avail(&sb, i, 1000);
	int fd = harness_connect_raw(srv->port, 20000);
	cr_assert_geq(fd, 0);
	cr_assert_eq(harness_write_all(fd, sb.data, sb.size), 0);
	msgpack_sbuffer_destroy(&sb);
	int64_t deadline = harness_now_ms() + 20000;
	while (avail_requests_handled() < REQUESTS && harness_now_ms() < deadline)
		usleep(10000);
	cr_assert_eq(avail_requests_handled(), REQUESTS, "the server did not handle every request");
	kill(srv->pid, SIGTERM);
	size_t cap = 64u << 20;
	char *buf = malloc(cap);
	ssize_t len = harness_read_until_eof(fd, buf, cap, 20000);
	cr_assert_gt(len, 0, "the connection did not end with a clean close");
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	size_t off = 0;
	uint32_t expect = 1;
	while (msgpack_unpack_next(&u, buf, (size_t)len, &off) == MSGPACK_UNPACK_SUCCESS) {
		cr_assert_eq(u.data.via.array.ptr[1].via.u64, expect);
		cr_assert_eq(u.data.via.array.ptr[2].type, MSGPACK_OBJECT_NIL);
		expect++;
	}
	cr_assert_eq(off, (size_t)len, "a partial reply at the end");
	cr_assert_eq(expect - 1, REQUESTS, "only %u of %d owed replies were sent", expect - 1, REQUESTS);
	msgpack_unpacked_destroy(&u);
	free(buf);
	close(fd);
	stop_expect_clean();
}

Test(limits, help_and_version_print_to_stdout_and_exit_zero)
{
	const char *allotd = getenv("ALLOTD");
	cr_assert_not_null(allotd);
	char *out = NULL;
	const char *const help[] = { allotd, "--help", NULL };
	cr_assert_eq(harness_run(help, TIMEOUT_MS, &out, NULL), 0);
	cr_assert_not_null(strstr(out, "--port"), "help does not list --port: %s", out);
	free(out);
	const char *const version[] = { allotd, "--version", NULL };
	cr_assert_eq(harness_run(version, TIMEOUT_MS, &out, NULL), 0);
	cr_assert_not_null(strstr(out, "allotd "), "version output: %s", out);
	free(out);
	const char *const bad[] = { allotd, "--port", "seventy", NULL };
	cr_assert_eq(harness_run(bad, TIMEOUT_MS, NULL, NULL), 2);
}
