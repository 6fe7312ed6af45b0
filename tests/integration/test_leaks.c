/*
 * test_leaks.c - allotd under valgrind: every method, hostile input and a
 * client that vanishes mid-request, then SIGTERM. valgrind's exit status
 * says whether anything leaked or any memory error happened; allotd's own
 * status must be 0 as well.
 *
 * jemalloc replaces malloc in allotd; --soname-synonyms points valgrind's
 * allocator interception at it.
 */
#include <criterion/criterion.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rpc_client.h"
#include "harness.h"

#define TIMEOUT_MS 20000
#define VALGRIND_ERROR 99

static harness_server *srv;
static char wrapper[64];

/* A script that runs the real allotd under valgrind, given as ALLOTD. */
static void use_valgrind(void)
{
	const char *real = getenv("ALLOTD");
	cr_assert_not_null(real, "ALLOTD is not set");
	cr_assert_eq(access("/usr/bin/valgrind", X_OK), 0, "valgrind is not installed");
	snprintf(wrapper, sizeof(wrapper), "/tmp/allotd-valgrind-%d.sh", (int)getpid());
	FILE *f = fopen(wrapper, "w");
	cr_assert_not_null(f);
	fprintf(f,
	    "#!/bin/sh\n"
	    "exec /usr/bin/valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect "
	    "--errors-for-leak-kinds=definite,indirect --error-exitcode=%d "
	    "--soname-synonyms=somalloc=*jemalloc* '%s' \"$@\"\n",
	    VALGRIND_ERROR, real);
	fclose(f);
	chmod(wrapper, 0755);
	setenv("ALLOTD", wrapper, 1);
}

static void teardown(void)
{
	harness_server_stop(srv);
	srv = NULL;
	if (wrapper[0])
		unlink(wrapper);
}

TestSuite(leaks, .init = use_valgrind, .fini = teardown, .timeout = 240);

/* Call and return the error code ("" on success); the reply is discarded. */
static const char *call(allot_client *c, const char *method, const char *params)
{
	static char code[64];
	char err[512];
	json_t *error = NULL, *result = NULL;
	int rc = allot_client_call_json(c, method, params, &error, &result, err, sizeof(err));
	cr_assert_eq(rc, 0, "%s failed: %s", method, err);
	code[0] = '\0';
	if (error)
		snprintf(code, sizeof(code), "%s", json_string_value(json_object_get(error, "code")));
	json_decref(error);
	json_decref(result);
	return code;
}

static char *reserve_id(allot_client *c, const char *params)
{
	char err[512];
	json_t *error = NULL, *result = NULL;
	cr_assert_eq(allot_client_call_json(c, "reserve", params, &error, &result, err, sizeof(err)), 0);
	cr_assert_null(error, "reserve failed");
	char *id = strdup(json_string_value(json_object_get(result, "reservation_id")));
	json_decref(result);
	return id;
}

static void with_id(char *buf, size_t n, const char *id, const char *rest)
{
	snprintf(buf, n, "{\"reservation_id\": \"%s\"%s}", id, rest);
}

Test(leaks, every_method_and_hostile_input_leave_nothing_behind)
{
	char err[512];
	srv = harness_server_start(NULL, err, sizeof(err));
	cr_assert_not_null(srv, "cannot start allotd under valgrind: %s", err);
	/* Prove the server really runs under valgrind's memcheck. */
	char exe_link[64], exe[256];
	snprintf(exe_link, sizeof(exe_link), "/proc/%d/exe", (int)srv->pid);
	ssize_t n = readlink(exe_link, exe, sizeof(exe) - 1);
	cr_assert_gt(n, 0);
	exe[n] = '\0';
	cr_assert_not_null(strstr(exe, "memcheck"), "allotd is not under valgrind: %s", exe);
	allot_client *c = harness_client(srv, TIMEOUT_MS, err, sizeof(err));
	cr_assert_not_null(c, "%s", err);

	cr_assert_str_empty(call(c, "stock.set", "{\"sku\": \"A\", \"location\": \"W1\", \"on_hand\": 10}"));
	cr_assert_str_empty(call(c, "stock.set", "{\"sku\": \"A\", \"location\": \"W2\", \"on_hand\": 5}"));
	cr_assert_str_empty(call(c, "stock.set", "{\"sku\": \"B\", \"location\": \"W1\", \"on_hand\": 3}"));
	cr_assert_str_eq(call(c, "stock.set", "{\"sku\": \"A\", \"location\": \"W1\", \"on_hand\": 1, \"if_version\": 9}"), "CONFLICT");
	cr_assert_str_empty(call(c, "stock.adjust", "{\"sku\": \"A\", \"location\": \"W1\", \"delta\": 2, \"idempotency_key\": \"k\"}"));
	cr_assert_str_empty(call(c, "stock.adjust", "{\"sku\": \"A\", \"location\": \"W1\", \"delta\": 2, \"idempotency_key\": \"k\"}"));
	cr_assert_str_eq(call(c, "stock.adjust", "{\"sku\": \"A\", \"location\": \"W1\", \"delta\": -99}"), "BAD_REQUEST");
	cr_assert_str_empty(call(c, "restock", "{\"sku\": \"B\", \"location\": \"W2\", \"qty\": 1}"));
	cr_assert_str_empty(call(c, "stock.get", "{\"sku\": \"A\"}"));
	cr_assert_str_eq(call(c, "stock.get", "{\"sku\": \"Z\"}"), "NOT_FOUND");
	cr_assert_str_empty(call(c, "avail", "{\"skus\": [\"A\", \"B\", \"A\", \"Z\"]}"));

	char *held = reserve_id(c, "{\"order_id\": \"o1\", \"lines\": [{\"sku\": \"A\", \"qty\": 14}, {\"sku\": \"B\", \"qty\": 1}], \"idempotency_key\": \"r1\"}");
	char *expiring = reserve_id(c, "{\"order_id\": \"o2\", \"lines\": [{\"sku\": \"B\", \"qty\": 1}], \"ttl_ms\": 50}");
	char *released = reserve_id(c, "{\"order_id\": \"o3\", \"lines\": [{\"sku\": \"B\", \"qty\": 1}], \"allow_partial\": true}");
	cr_assert_str_eq(call(c, "reserve", "{\"order_id\": \"o4\", \"lines\": [{\"sku\": \"A\", \"qty\": 99}]}"), "OUT_OF_STOCK");
	cr_assert_str_empty(call(c, "reserve", "{\"order_id\": \"o1\", \"lines\": [{\"sku\": \"A\", \"qty\": 14}, {\"sku\": \"B\", \"qty\": 1}], \"idempotency_key\": \"r1\"}"));
	char buf[256];
	with_id(buf, sizeof(buf), held, ", \"lines\": [{\"sku\": \"A\", \"qty\": 1}]");
	cr_assert_str_empty(call(c, "release", buf));
	with_id(buf, sizeof(buf), held, ", \"ttl_ms\": 60000");
	cr_assert_str_empty(call(c, "extend", buf));
	with_id(buf, sizeof(buf), held, "");
	cr_assert_str_empty(call(c, "commit", buf));
	with_id(buf, sizeof(buf), held, ", \"lines\": [{\"sku\": \"A\", \"qty\": 3}]");
	cr_assert_str_empty(call(c, "fulfill", buf));
	with_id(buf, sizeof(buf), held, "");
	cr_assert_str_empty(call(c, "fulfill", buf));
	with_id(buf, sizeof(buf), released, "");
	cr_assert_str_empty(call(c, "release", buf));
	usleep(100000);
	with_id(buf, sizeof(buf), expiring, "");
	cr_assert_str_eq(call(c, "commit", buf), "INVALID_STATE");
	cr_assert_str_empty(call(c, "reservation.get", buf));
	cr_assert_str_empty(call(c, "stats", NULL));
	cr_assert_str_empty(call(c, "ping", NULL));
	cr_assert_str_empty(call(c, "location.put", "{\"location\": \"W1\", \"lat\": 52.5, "
	    "\"lon\": 13.4, \"tags\": [\"dc\", \"eu\"], \"capacity\": 9}"));
	cr_assert_str_eq(call(c, "location.put", "{\"location\": \"W1\", \"lat\": 99, \"lon\": 0}"),
	    "BAD_REQUEST");
	cr_assert_str_empty(call(c, "location.list", NULL));
	cr_assert_str_empty(call(c, "route.quote", "{\"order_id\": \"q\", \"lines\": [{\"sku\": \"A\", "
	    "\"qty\": 1}, {\"sku\": \"B\", \"qty\": 1}], \"strategy\": \"nearest\", \"ship_to\": "
	    "{\"lat\": 50, \"lon\": 8}, \"explain\": true}"));
	cr_assert_str_eq(call(c, "route.quote", "{\"order_id\": \"q\", \"lines\": [{\"sku\": \"A\", "
	    "\"qty\": 999}], \"explain\": true}"), "OUT_OF_STOCK");
	cr_assert_str_empty(call(c, "reserve", "{\"order_id\": \"o9\", \"lines\": [{\"sku\": \"A\", "
	    "\"qty\": 1}], \"strategy\": \"most_stock\", \"split\": \"none\", \"explain\": true}"));
	cr_assert_str_empty(call(c, "channel.put", "{\"channel\": \"m\", \"locations\": [\"W1\", \"W2\"], "
	    "\"buffer\": 1}"));
	cr_assert_str_eq(call(c, "channel.put", "{\"channel\": \"m\", \"locations\": [\"W9\"]}"), "NOT_FOUND");
	cr_assert_str_empty(call(c, "avail", "{\"skus\": [\"A\"], \"channel\": \"m\"}"));
	cr_assert_str_empty(call(c, "sku.put", "{\"sku\": \"A\", \"per_customer\": 5, \"per_order\": 3}"));
	cr_assert_str_empty(call(c, "reserve", "{\"order_id\": \"o10\", \"lines\": [{\"sku\": \"A\", "
	    "\"qty\": 1}], \"channel\": \"m\", \"customer_id\": \"ann\"}"));
	cr_assert_str_eq(call(c, "reserve", "{\"order_id\": \"o11\", \"lines\": [{\"sku\": \"A\", "
	    "\"qty\": 5}], \"customer_id\": \"ann\"}"), "LIMIT_EXCEEDED");
	cr_assert_str_empty(call(c, "sku.put", "{\"sku\": \"A\", \"per_customer\": 0}"));
	cr_assert_str_empty(call(c, "sku.put", "{\"sku\": \"A\", \"per_customer\": 9}"));
	cr_assert_str_empty(call(c, "inbound.add", "{\"sku\": \"B\", \"location\": \"W1\", \"qty\": 9, "
	    "\"eta\": 1900000000000, \"ref\": \"po-1\"}"));
	cr_assert_str_empty(call(c, "reserve", "{\"order_id\": \"o12\", \"lines\": [{\"sku\": \"B\", "
	    "\"qty\": 6}], \"allow_backorder\": true, \"ttl_ms\": 1}"));
	cr_assert_str_empty(call(c, "avail", "{\"skus\": [\"B\"]}"));
	/* Without an auth file every connection is admin and auth accepts. */
	cr_assert_str_empty(call(c, "auth", "{\"token\": \"t\"}"));
	free(held);
	free(expiring);
	free(released);

	/* Bytes that are not MessagePack, a header claiming 4 GiB, and a
	 * client that leaves half-way through a request. */
	const unsigned char junk[] = { 0x94, 0x00, 0x01, 0xc1 };
	const unsigned char huge[] = { 0x94, 0x00, 0x01, 0xa4, 'p', 'i', 'n', 'g', 0x91, 0xdb, 0xff, 0xff, 0xff, 0xff };
	const unsigned char half[] = { 0x94, 0x00, 0x07, 0xa7, 'r', 'e', 's', 'e', 'r', 'v', 'e', 0x91, 0x82 };
	const unsigned char *streams[] = { junk, huge, half };
	const size_t lens[] = { sizeof(junk), sizeof(huge), sizeof(half) };
	for (int i = 0; i < 3; i++) {
		int fd = harness_connect_raw(srv->port, TIMEOUT_MS);
		cr_assert_geq(fd, 0);
		cr_assert_eq(harness_write_all(fd, streams[i], lens[i]), 0);
		if (i < 2) {
			char reply[512];
			cr_assert_gt(harness_read_until_eof(fd, reply, sizeof(reply), TIMEOUT_MS), 0);
		}
		close(fd);
	}
	/* Many pipelined requests on a connection closed without reading. */
	int fd = harness_connect_raw(srv->port, TIMEOUT_MS);
	cr_assert_geq(fd, 0);
	const unsigned char ping[] = { 0x94, 0x00, 0x05, 0xa4, 'p', 'i', 'n', 'g', 0x90 };
	for (int i = 0; i < 200; i++)
		cr_assert_eq(harness_write_all(fd, ping, sizeof(ping)), 0);
	close(fd);
	cr_assert_str_empty(call(c, "ping", NULL));
	allot_client_destroy(c);

	int status = harness_server_stop(srv);
	srv = NULL;
	cr_assert_neq(status, VALGRIND_ERROR, "valgrind found leaks or memory errors (see stderr)");
	cr_assert_eq(status, 0, "allotd under valgrind exited with status %d", status);
}

/* The access paths under valgrind: an auth file, right and wrong tokens,
 * the close after too many, SIGHUP rotation (the old set freed, a bad file
 * kept out), the Unix socket, a greedy pipeliner through the backlog, and
 * the frame timeout. */
#define LEAK_TOKEN_1 "leaks-token-1"
#define LEAK_TOKEN_2 "leaks-token-2"
#define LEAK_HASH_1 "8cb2a2b191390a4037166fbc03fadd0925c995cf8cff0558d4726de2e508ce8c"
#define LEAK_HASH_2 "d2eed09f4f565c7eb10d5abccb380550889daae22f88e71fd57e59c7036bbbc5"

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

Test(leaks, tokens_reloads_the_unix_socket_and_the_backlog_leave_nothing_behind)
{
	char auth[64], sock[64], err[512];
	snprintf(auth, sizeof(auth), "/tmp/allotd-leaks-%d.tokens", (int)getpid());
	snprintf(sock, sizeof(sock), "/tmp/allotd-leaks-%d.sock", (int)getpid());
	write_text(auth, "ops admin " LEAK_HASH_1 "\n");
	const char *args[] = { "--auth-file", auth, "--unix", sock, "--frames-per-turn", "4",
		"--frame-timeout-ms", "500", NULL };
	srv = harness_server_start(args, err, sizeof(err));
	cr_assert_not_null(srv, "cannot start allotd under valgrind: %s", err);
	allot_client *c = harness_client(srv, TIMEOUT_MS, err, sizeof(err));
	cr_assert_not_null(c, "%s", err);
	cr_assert_str_eq(call(c, "stats", NULL), "UNAUTHORIZED");
	for (int i = 0; i < 4; i++)
		cr_assert_str_eq(call(c, "auth", "{\"token\": \"wrong\"}"), "UNAUTHORIZED");
	cr_assert_str_empty(call(c, "auth", "{\"token\": \"" LEAK_TOKEN_1 "\"}"));
	cr_assert_str_empty(call(c, "stock.set", "{\"sku\": \"A\", \"location\": \"W\", \"on_hand\": 5}"));
	allot_client *u = allot_client_connect(sock, 0, TIMEOUT_MS, err, sizeof(err));
	cr_assert_not_null(u, "%s", err);
	cr_assert_eq(allot_client_auth(u, LEAK_TOKEN_1, NULL, 0, err, sizeof(err)), 0, "%s", err);
	/* A greedy pipeline through the backlog, read back whole. */
	const unsigned char ping[] = { 0x94, 0x00, 0x05, 0xa4, 'p', 'i', 'n', 'g', 0x90 };
	for (int i = 0; i < 300; i++)
		cr_assert_eq(allot_client_send_raw(u, ping, sizeof(ping), err, sizeof(err)), 0);
	allot_message m;
	allot_message_init(&m);
	for (int i = 0; i < 300; i++)
		cr_assert_eq(allot_client_recv(u, &m, err, sizeof(err)), 0, "reply %d: %s", i, err);
	allot_message_clear(&m);
	/* Rotation: the new token in, the old out (its connections close), and
	 * a bad file kept out. */
	write_text(auth, "ops admin " LEAK_HASH_2 "\n");
	kill(srv->pid, SIGHUP);
	usleep(500000);
	write_text(auth, "ops boss " LEAK_HASH_2 "\n");
	kill(srv->pid, SIGHUP);
	usleep(300000);
	allot_client *d = harness_client(srv, TIMEOUT_MS, err, sizeof(err));
	cr_assert_not_null(d, "%s", err);
	cr_assert_str_empty(call(d, "auth", "{\"token\": \"" LEAK_TOKEN_2 "\"}"));
	cr_assert_str_empty(call(d, "stats", NULL));
	/* A request that never finishes, and a client that leaves at once. */
	int fd = harness_connect_raw(srv->port, TIMEOUT_MS);
	const unsigned char half[] = { 0x94, 0x00, 0x07, 0xa4, 'p', 'i', 'n', 'g' };
	cr_assert_eq(harness_write_all(fd, half, sizeof(half)), 0);
	char reply[512];
	cr_assert_gt(harness_read_until_eof(fd, reply, sizeof(reply), TIMEOUT_MS), 0);
	close(fd);
	allot_client_destroy(c);
	allot_client_destroy(u);
	allot_client_destroy(d);
	int status = harness_server_stop(srv);
	srv = NULL;
	unlink(auth);
	cr_assert_neq(access(sock, F_OK), 0, "the socket is left behind");
	cr_assert_neq(status, VALGRIND_ERROR, "valgrind found leaks or memory errors (see stderr)");
	cr_assert_eq(status, 0, "allotd under valgrind exited with status %d", status);
}
