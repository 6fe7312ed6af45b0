/*
 * test_wire.c - the MessagePack-RPC framing of allotd, seen from outside:
 * what a client sends byte by byte and what comes back. Each test starts
 * its own server (harness.h) and checks it exits 0 on SIGTERM afterwards.
 */
#include <criterion/criterion.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rpc_client.h"
#include "allot/protocol.h"
#include "harness.h"

#define TEST_TIMEOUT_MS 5000

static harness_server *srv;

static void wire_setup(void)
{
	char err[512];
	srv = harness_server_start(NULL, err, sizeof(err));
	cr_assert_not_null(srv, "cannot start allotd: %s", err);
}

/*
 * Criterion does not count a failed assertion in .fini, so each test ends
 * with wire_finish(), which checks the exit status; the teardown only
 * stops a server that a failed test left running.
 */
static void wire_finish(void)
{
	int status = harness_server_stop(srv);
	srv = NULL;
	cr_assert_eq(status, 0, "allotd exited with status %d", status);
}

static void wire_teardown(void)
{
	harness_server_stop(srv);
	srv = NULL;
}

TestSuite(wire, .init = wire_setup, .fini = wire_teardown, .timeout = 120);

/* ---- helpers ---- */

static allot_client *connect_to(const harness_server *s)
{
	char err[512];
	allot_client *c = harness_client(s, TEST_TIMEOUT_MS, err, sizeof(err));
	cr_assert_not_null(c, "cannot connect: %s", err);
	return c;
}

static bool object_is_str(const msgpack_object *o, const char *s)
{
	size_t n = strlen(s);
	return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
	    memcmp(o->via.str.ptr, s, n) == 0;
}

/* Call ping over c with the JSON helpers and check the answer. */
static void expect_ping(allot_client *c)
{
	char err[512];
	json_t *error = NULL, *result = NULL;
	int rc = allot_client_call_json(c, "ping", NULL, &error, &result, err,
	    sizeof(err));
	cr_assert_eq(rc, 0, "ping failed: %s", err);
	cr_assert_null(error, "ping answered an error");
	cr_assert(json_is_string(result), "ping result is not a string");
	cr_assert_str_eq(json_string_value(result), "pong");
	json_decref(result);
}

/* Read one message from c and check it is the response to msgid. */
static void recv_response(allot_client *c, allot_message *m, uint32_t msgid)
{
	char err[512];
	int rc = allot_client_recv(c, m, err, sizeof(err));
	cr_assert_eq(rc, 0, "no response to msgid %u: %s", msgid, err);
	cr_assert_eq(m->type, ALLOT_MSG_RESPONSE, "not a response");
	cr_assert_eq(m->msgid, msgid, "response to msgid %u, expected %u",
	    m->msgid, msgid);
}

static void expect_pong_message(const allot_message *m)
{
	cr_assert_eq(m->error.type, MSGPACK_OBJECT_NIL, "ping answered an error");
	cr_assert(object_is_str(&m->result, "pong"), "ping did not answer \"pong\"");
}

/* Check m is an error response with the given code, a message and no result. */
static void expect_error(const allot_message *m, const char *code)
{
	char buf[64];
	const char *got = allot_message_error_code(m, buf, sizeof(buf));
	cr_assert_not_null(got, "response to msgid %u has no error code",
	    m->msgid);
	cr_assert_str_eq(got, code);
	const msgpack_object *message = allot_object_map_get(&m->error, "message");
	cr_assert(message != NULL && message->type == MSGPACK_OBJECT_STR,
	    "error without a string message");
	cr_assert_eq(m->result.type, MSGPACK_OBJECT_NIL, "error with a result");
}

/* Pack [0, msgid, method (as str or bin), params] up to the params. */
static void pack_head(msgpack_packer *pk, uint32_t msgid, const char *method,
    bool as_bin)
{
	size_t n = strlen(method);
	msgpack_pack_array(pk, 4);
	msgpack_pack_uint8(pk, ALLOT_MSG_REQUEST);
	msgpack_pack_uint32(pk, msgid);
	if (as_bin) {
		msgpack_pack_bin(pk, n);
		msgpack_pack_bin_body(pk, method, n);
	} else {
		msgpack_pack_str(pk, n);
		msgpack_pack_str_body(pk, method, n);
	}
}

static void pack_str(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str(pk, strlen(s));
	msgpack_pack_str_body(pk, s, strlen(s));
}

static void send_buffer(allot_client *c, const msgpack_sbuffer *sb)
{
	char err[512];
	int rc = allot_client_send_raw(c, sb->data, sb->size, err, sizeof(err));
	cr_assert_eq(rc, 0, "send failed: %s", err);
}

/*
 * Check bytes[0..len) hold exactly one error response [1, 0, error, nil]
 * and nothing else; code may be NULL when any string code will do.
 */
static void expect_single_stream_error(const char *bytes, size_t len,
    const char *code)
{
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	size_t off = 0;
	int ur = msgpack_unpack_next(&u, bytes, len, &off);
	cr_assert_eq(ur, MSGPACK_UNPACK_SUCCESS, "the reply (%zu bytes) is not "
	    "one MessagePack value", len);
	cr_assert_eq(off, len, "more than one reply: %zu of %zu bytes left over",
	    len - off, len);
	const msgpack_object *o = &u.data;
	cr_assert(o->type == MSGPACK_OBJECT_ARRAY && o->via.array.size == 4,
	    "the reply is not a 4-element array");
	const msgpack_object *a = o->via.array.ptr;
	cr_assert(a[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER && a[0].via.u64 == 1,
	    "the reply is not a response");
	cr_assert(a[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER && a[1].via.u64 == 0,
	    "the error response does not carry msgid 0");
	const msgpack_object *got = allot_object_map_get(&a[2], "code");
	cr_assert(got != NULL && got->type == MSGPACK_OBJECT_STR &&
	    got->via.str.size > 0, "the error has no string code");
	if (code != NULL)
		cr_assert(object_is_str(got, code), "error code %.*s, expected %s",
		    (int)got->via.str.size, got->via.str.ptr, code);
	cr_assert_eq(a[3].type, MSGPACK_OBJECT_NIL, "error with a result");
	msgpack_unpacked_destroy(&u);
}

/* Send bytes on a fresh raw connection and expect one error, then EOF. */
static void expect_stream_refused(const void *bytes, size_t len,
    const char *code)
{
	int fd = harness_connect_raw(srv->port, TEST_TIMEOUT_MS);
	cr_assert_geq(fd, 0, "cannot connect a raw socket");
	cr_assert_eq(harness_write_all(fd, bytes, len), 0, "write failed");
	char reply[4096];
	ssize_t n = harness_read_until_eof(fd, reply, sizeof(reply),
	    TEST_TIMEOUT_MS);
	close(fd);
	cr_assert_geq(n, 0, "the server did not close the connection within "
	    "%d ms (or reset it)", TEST_TIMEOUT_MS);
	expect_single_stream_error(reply, (size_t)n, code);
}

/* ---- tests ---- */

Test(wire, ping_returns_pong_with_empty_or_empty_map_params)
{
	allot_client *c = connect_to(srv);
	allot_message m;
	allot_message_init(&m);
	char err[512];

	/* params = [] */
	cr_assert_eq(allot_client_call(c, "ping", NULL, 0, &m, err, sizeof(err)),
	    0, "ping: %s", err);
	expect_pong_message(&m);

	/* params = [{}] */
	static const char one_empty_map[] = { (char)0x91, (char)0x80 };
	cr_assert_eq(allot_client_call(c, "ping", one_empty_map,
	    sizeof(one_empty_map), &m, err, sizeof(err)), 0, "ping: %s", err);
	expect_pong_message(&m);

	/* The JSON helper sends [] for no params and [{}] for "{}". */
	expect_ping(c);
	json_t *error = NULL, *result = NULL;
	cr_assert_eq(allot_client_call_json(c, "ping", "{}", &error, &result, err,
	    sizeof(err)), 0, "ping: %s", err);
	cr_assert_null(error);
	cr_assert_str_eq(json_string_value(result), "pong");
	json_decref(result);

	allot_message_clear(&m);
	allot_client_destroy(c);
	wire_finish();
}

Test(wire, unknown_method_gets_unknown_method_and_connection_stays)
{
	allot_client *c = connect_to(srv);
	allot_message m;
	allot_message_init(&m);
	char err[512];
	uint32_t msgid = 0;

	cr_assert_eq(allot_client_send_request(c, "no.such.method", NULL, 0,
	    &msgid, err, sizeof(err)), 0, "send: %s", err);
	recv_response(c, &m, msgid);
	expect_error(&m, ALLOT_ERR_UNKNOWN_METHOD);

	expect_ping(c);
	allot_message_clear(&m);
	allot_client_destroy(c);
	wire_finish();
}

Test(wire, method_name_as_bin_is_accepted)
{
	allot_client *c = connect_to(srv);
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	pack_head(&pk, 42, "ping", true);
	msgpack_pack_array(&pk, 0);
	send_buffer(c, &sb);

	allot_message m;
	allot_message_init(&m);
	recv_response(c, &m, 42);
	expect_pong_message(&m);

	allot_message_clear(&m);
	msgpack_sbuffer_destroy(&sb);
	allot_client_destroy(c);
	wire_finish();
}

Test(wire, pipelined_requests_are_answered_in_order)
{
	enum { N = 1000 };
	static uint32_t ids[N];
	allot_client *c = connect_to(srv);
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);

	/* Distinct ids in no particular order (an odd multiplier is a
	 * bijection mod 2^32), so a server that counts instead of echoing
	 * is caught. */
	for (uint32_t i = 0; i < N; i++) {
		ids[i] = ((i + 1) * 2654435761u) | 1u;
		pack_head(&pk, ids[i], "ping", false);
		msgpack_pack_array(&pk, 0);
	}
	send_buffer(c, &sb);

	allot_message m;
	allot_message_init(&m);
	for (uint32_t i = 0; i < N; i++) {
		recv_response(c, &m, ids[i]);
		expect_pong_message(&m);
	}
	expect_ping(c);

	allot_message_clear(&m);
	msgpack_sbuffer_destroy(&sb);
	allot_client_destroy(c);
	wire_finish();
}

Test(wire, client_notification_gets_no_reply)
{
	allot_client *c = connect_to(srv);
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 3);
	msgpack_pack_uint8(&pk, ALLOT_MSG_NOTIFICATION);
	pack_str(&pk, "nvim_something");
	msgpack_pack_array(&pk, 0);
	pack_head(&pk, 77, "ping", false);
	msgpack_pack_array(&pk, 0);
	send_buffer(c, &sb);

	/* Replies come in order, so anything sent for the notification
	 * would arrive before the ping's response. */
	allot_message m;
	allot_message_init(&m);
	recv_response(c, &m, 77);
	expect_pong_message(&m);

	char err[512];
	allot_client_set_timeout(c, 300);
	int rc = allot_client_recv(c, &m, err, sizeof(err));
	cr_assert_eq(rc, ALLOT_CLIENT_ERR_TIMEOUT, "unexpected message or "
	    "error after the ping (%d: %s)", rc, err);
	allot_client_set_timeout(c, TEST_TIMEOUT_MS);
	expect_ping(c);

	allot_message_clear(&m);
	msgpack_sbuffer_destroy(&sb);
	allot_client_destroy(c);
	wire_finish();
}

Test(wire, undecodable_bytes_get_one_error_with_msgid_0_and_close)
{
	static const unsigned char garbage[] = { 0xc1 };
	expect_stream_refused(garbage, sizeof(garbage), ALLOT_ERR_BAD_REQUEST);

	allot_client *c = connect_to(srv);
	expect_ping(c);
	allot_client_destroy(c);
	wire_finish();
}

Test(wire, requests_before_undecodable_bytes_are_still_answered)
{
	allot_client *c = connect_to(srv);
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	pack_head(&pk, 5, "ping", false);
	msgpack_pack_array(&pk, 0);
	msgpack_sbuffer_write(&sb, "\xc1", 1);
	send_buffer(c, &sb);

	allot_message m;
	allot_message_init(&m);
	recv_response(c, &m, 5);
	expect_pong_message(&m);
	recv_response(c, &m, 0);
	cr_assert_neq(m.error.type, MSGPACK_OBJECT_NIL, "msgid 0 without error");

	char err[512];
	int rc = allot_client_recv(c, &m, err, sizeof(err));
	cr_assert_eq(rc, ALLOT_CLIENT_ERR_CLOSED, "connection not closed after "
	    "the error (%d: %s)", rc, err);

	allot_message_clear(&m);
	msgpack_sbuffer_destroy(&sb);
	allot_client_destroy(c);
	wire_finish();
}

Test(wire, huge_array_header_gets_too_large_and_close)
{
	/* array32 claiming 2^32-1 elements, none of which follow. */
	static const unsigned char header[] = { 0xdd, 0xff, 0xff, 0xff, 0xff };
	expect_stream_refused(header, sizeof(header), ALLOT_ERR_TOO_LARGE);

	allot_client *c = connect_to(srv);
	expect_ping(c);
	allot_client_destroy(c);
	wire_finish();
}

Test(wire, params_of_wrong_shape_get_bad_request_and_connection_stays)
{
	allot_client *c = connect_to(srv);
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);

	pack_head(&pk, 101, "ping", false); /* params: "x" */
	pack_str(&pk, "x");
	pack_head(&pk, 102, "ping", false); /* params: [1] */
	msgpack_pack_array(&pk, 1);
	msgpack_pack_int(&pk, 1);
	pack_head(&pk, 103, "ping", false); /* params: [{}, {}] */
	msgpack_pack_array(&pk, 2);
	msgpack_pack_map(&pk, 0);
	msgpack_pack_map(&pk, 0);
	pack_head(&pk, 104, "stock.get", false); /* params: "x" */
	pack_str(&pk, "x");
	pack_head(&pk, 105, "ping", false);
	msgpack_pack_array(&pk, 0);
	send_buffer(c, &sb);

	allot_message m;
	allot_message_init(&m);
	for (uint32_t id = 101; id <= 104; id++) {
		recv_response(c, &m, id);
		expect_error(&m, ALLOT_ERR_BAD_REQUEST);
	}
	recv_response(c, &m, 105);
	expect_pong_message(&m);

	allot_message_clear(&m);
	msgpack_sbuffer_destroy(&sb);
	allot_client_destroy(c);
	wire_finish();
}

Test(wire, well_formed_non_requests_get_bad_request_and_connection_stays)
{
	allot_client *c = connect_to(srv);
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);

	msgpack_pack_map(&pk, 0); /* not an array: no msgid to echo */
	msgpack_pack_array(&pk, 4); /* method not a string */
	msgpack_pack_uint8(&pk, ALLOT_MSG_REQUEST);
	msgpack_pack_uint32(&pk, 9);
	msgpack_pack_int(&pk, 5);
	msgpack_pack_array(&pk, 0);
	msgpack_pack_array(&pk, 4); /* a response from the client: ignored */
	msgpack_pack_uint8(&pk, ALLOT_MSG_RESPONSE);
	msgpack_pack_uint32(&pk, 3);
	msgpack_pack_nil(&pk);
	msgpack_pack_nil(&pk);
	pack_head(&pk, 10, "ping", false);
	msgpack_pack_array(&pk, 0);
	send_buffer(c, &sb);

	allot_message m;
	allot_message_init(&m);
	recv_response(c, &m, 0);
	expect_error(&m, ALLOT_ERR_BAD_REQUEST);
	recv_response(c, &m, 9);
	expect_error(&m, ALLOT_ERR_BAD_REQUEST);
	recv_response(c, &m, 10);
	expect_pong_message(&m);

	allot_message_clear(&m);
	msgpack_sbuffer_destroy(&sb);
	allot_client_destroy(c);
	wire_finish();
}

/* ---- the allot command-line tool ---- */

static const char *cli_path(void)
{
	const char *path = getenv("ALLOT_CLI");
	cr_assert(path != NULL && path[0] != '\0',
	    "ALLOT_CLI is not set (the path of the allot binary)");
	return path;
}

/* Run allot with --host/--port of port and up to two more arguments. */
static int run_cli(int port, const char *a1, const char *a2, char **out,
    char **err_out)
{
	char port_text[16];
	snprintf(port_text, sizeof(port_text), "%d", port);
	const char *argv[] = { cli_path(), "--host", HARNESS_HOST, "--port",
		port_text, a1, a2, NULL };
	return harness_run(argv, 30000, out, err_out);
}

Test(cli, ping_prints_pong)
{
	char err[512];
	harness_server *s = harness_server_start(NULL, err, sizeof(err));
	cr_assert_not_null(s, "cannot start allotd: %s", err);
	char *out = NULL, *errs = NULL;
	int status = run_cli(s->port, "ping", NULL, &out, &errs);
	cr_assert_eq(status, 0, "allot ping exited %d: %s", status, errs);
	json_t *v = json_loads(out, JSON_DECODE_ANY, NULL);
	cr_assert(json_is_string(v), "stdout is not a JSON string: %s", out);
	cr_assert_str_eq(json_string_value(v), "pong");
	json_decref(v);
	free(out);
	free(errs);
	cr_assert_eq(harness_server_stop(s), 0, "allotd did not exit 0");
}

Test(cli, error_reply_exits_1_with_the_error_json_on_stdout)
{
	char err[512];
	harness_server *s = harness_server_start(NULL, err, sizeof(err));
	cr_assert_not_null(s, "cannot start allotd: %s", err);
	char *out = NULL, *errs = NULL;
	int status = run_cli(s->port, "no.such.method", "{\"a\": 1}", &out, &errs);
	cr_assert_eq(status, 1, "exited %d: %s", status, errs);
	json_t *v = json_loads(out, 0, NULL);
	cr_assert(json_is_object(v), "stdout is not a JSON object: %s", out);
	cr_assert_str_eq(json_string_value(json_object_get(v, "code")),
	    ALLOT_ERR_UNKNOWN_METHOD);
	cr_assert(json_is_string(json_object_get(v, "message")));
	json_decref(v);
	free(out);
	free(errs);
	cr_assert_eq(harness_server_stop(s), 0, "allotd did not exit 0");
}

Test(cli, invalid_or_non_object_params_exit_2)
{
	/* A live server, so that only the params can be the reason. */
	char err[512];
	harness_server *s = harness_server_start(NULL, err, sizeof(err));
	cr_assert_not_null(s, "cannot start allotd: %s", err);
	char *out = NULL, *errs = NULL;

	int status = run_cli(s->port, "ping", "{\"sku\": ", &out, &errs);
	cr_assert_eq(status, 2, "invalid JSON: exited %d", status);
	cr_assert_str_empty(out);
	cr_assert(strstr(errs, "line 1") != NULL && strstr(errs, "column") != NULL,
	    "no line/column in: %s", errs);
	free(out);
	free(errs);

	status = run_cli(s->port, "ping", "[1, 2]", &out, &errs);
	cr_assert_eq(status, 2, "array params: exited %d", status);
	cr_assert_str_empty(out);
	cr_assert_str_not_empty(errs);
	free(out);
	free(errs);
	cr_assert_eq(harness_server_stop(s), 0, "allotd did not exit 0");
}

Test(cli, closed_port_exits_2)
{
	int port = harness_free_port();
	cr_assert_gt(port, 0);
	char *out = NULL, *errs = NULL;
	int status = run_cli(port, "ping", NULL, &out, &errs);
	cr_assert_eq(status, 2, "exited %d", status);
	cr_assert_str_empty(out);
	cr_assert_str_not_empty(errs);
	free(out);
	free(errs);
}

Test(cli, usage_errors_exit_2_and_help_and_version_exit_0)
{
	char *out = NULL, *errs = NULL;
	const char *no_method[] = { cli_path(), NULL };
	cr_assert_eq(harness_run(no_method, 30000, &out, &errs), 2);
	cr_assert_str_not_empty(errs);
	free(out);
	free(errs);

	const char *help[] = { cli_path(), "--help", NULL };
	cr_assert_eq(harness_run(help, 30000, &out, &errs), 0);
	cr_assert(strstr(out, "usage:") != NULL, "help: %s", out);
	free(out);
	free(errs);

	const char *version[] = { cli_path(), "--version", NULL };
	cr_assert_eq(harness_run(version, 30000, &out, &errs), 0);
	cr_assert(strstr(out, "allot ") != NULL, "version: %s", out);
	free(out);
	free(errs);
}

Test(cli, port_from_the_environment)
{
	char err[512];
	harness_server *s = harness_server_start(NULL, err, sizeof(err));
	cr_assert_not_null(s, "cannot start allotd: %s", err);
	char env_port[32], env_host[32];
	snprintf(env_port, sizeof(env_port), "ALLOT_PORT=%d", s->port);
	snprintf(env_host, sizeof(env_host), "ALLOT_HOST=%s", HARNESS_HOST);
	const char *argv[] = { "/usr/bin/env", env_host, env_port, cli_path(),
		"ping", NULL };
	char *out = NULL, *errs = NULL;
	int status = harness_run(argv, 30000, &out, &errs);
	cr_assert_eq(status, 0, "exited %d: %s", status, errs);
	cr_assert(strstr(out, "\"pong\"") != NULL, "stdout: %s", out);
	free(out);
	free(errs);
	cr_assert_eq(harness_server_stop(s), 0, "allotd did not exit 0");
}
