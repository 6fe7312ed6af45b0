/*
 * test_liballot.c - liballot's public API (allot/allot.h) against the real
 * allotd: the typed helpers, errors as codes with their data, pipelining
 * (in order, longer than the socket buffers, past a server's output limit),
 * the Unix socket, timeouts, and notifications (from a small fake server:
 * this allotd has no subscribe yet).
 */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "allot/allot.h"
#include "harness.h"

#define TIMEOUT_MS 10000

static harness_server *srv;

static void start_with(const char *const *args)
{
	char err[256];
	srv = harness_server_start(args, err, sizeof(err));
	cr_assert_not_null(srv, "%s", err);
}

static void stop_server(void)
{
	if (srv != NULL)
		cr_assert_eq(harness_server_stop(srv), 0, "allotd exits 0");
	srv = NULL;
}

static void teardown(void)
{
	if (srv != NULL)
		harness_server_stop(srv);
	srv = NULL;
}

TestSuite(liballot, .fini = teardown, .timeout = 120);

static allot_ctx *connect_ok(void)
{
	allot_ctx *c = allot_connect(HARNESS_HOST, srv->port, TIMEOUT_MS);
	cr_assert_not_null(c);
	cr_assert_eq(allot_err(c), 0, "%s", allot_errstr(c));
	return c;
}

static int64_t get_int(const allot_value *v, const char *key)
{
	int64_t n = -1;
	cr_assert_eq(allot_value_int(allot_value_get(v, key), &n), ALLOT_OK, "%s is an integer", key);
	return n;
}

Test(liballot, typed_helpers_set_reserve_commit_release_and_read)
{
	start_with(NULL);
	allot_ctx *c = connect_ok();
	cr_assert_eq(allot_ping(c), ALLOT_OK);
	allot_reply *r = NULL;

	cr_assert_eq(allot_stock_set(c, "tee-m", "berlin", 5, 1, &r), ALLOT_OK, "%s", allot_errstr(c));
	cr_assert_eq(get_int(allot_reply_result(r), "on_hand"), 5);
	cr_assert_eq(get_int(allot_reply_result(r), "safety"), 1);
	allot_reply_free(r);

	const char *skus[] = { "tee-m", "nothing" };
	cr_assert_eq(allot_avail(c, skus, 2, &r), ALLOT_OK);
	cr_assert_eq(get_int(allot_value_get(allot_reply_result(r), "tee-m"), "total"), 4);
	cr_assert_eq(get_int(allot_value_get(allot_reply_result(r), "nothing"), "total"), 0);
	allot_reply_free(r);

	allot_line lines[] = { { "tee-m", 3 } };
	cr_assert_eq(allot_reserve(c, "o-1", lines, 1, 60000, &r), ALLOT_OK, "%s", allot_errstr(c));
	const allot_value *res = allot_reply_result(r);
	cr_assert_str_eq(allot_value_str(allot_value_get(res, "status"), NULL), "held");
	char id[64];
	snprintf(id, sizeof(id), "%s", allot_value_str(allot_value_get(res, "reservation_id"), NULL));
	allot_reply_free(r);

	cr_assert_eq(allot_commit(c, id, &r), ALLOT_OK);
	cr_assert_str_eq(allot_value_str(allot_value_get(allot_reply_result(r), "status"), NULL),
	    "committed");
	allot_reply_free(r);

	/* A hold released gives its unit back. */
	allot_line one[] = { { "tee-m", 1 } };
	cr_assert_eq(allot_reserve(c, "o-2", one, 1, 0, &r), ALLOT_OK);
	char id2[64];
	snprintf(id2, sizeof(id2), "%s", allot_value_str(allot_value_get(allot_reply_result(r),
	    "reservation_id"), NULL));
	allot_reply_free(r);
	cr_assert_eq(allot_release(c, id2, NULL), ALLOT_OK, "out may be NULL");
	cr_assert_eq(allot_avail(c, skus, 1, &r), ALLOT_OK);
	cr_assert_eq(get_int(allot_value_get(allot_reply_result(r), "tee-m"), "total"), 1);
	allot_reply_free(r);

	allot_free(c);
	stop_server();
}

Test(liballot, errors_come_back_as_codes_with_their_data)
{
	start_with(NULL);
	allot_ctx *c = connect_ok();
	allot_reply *r = NULL;
	cr_assert_eq(allot_stock_set(c, "tee-m", "berlin", 2, -1, NULL), ALLOT_OK);

	allot_line lines[] = { { "tee-m", 3 } };
	cr_assert_eq(allot_reserve(c, "o-1", lines, 1, 0, &r), ALLOT_E_SERVER);
	cr_assert_not_null(r, "the error reply is handed back");
	cr_assert_str_eq(allot_reply_error_code(r), ALLOT_ERR_OUT_OF_STOCK);
	cr_assert_not_null(allot_reply_error_message(r));
	const allot_value *line = allot_value_at(allot_value_get(allot_reply_error(r), "lines"), 0);
	cr_assert_str_eq(allot_value_str(allot_value_get(line, "sku"), NULL), "tee-m");
	cr_assert_eq(get_int(line, "requested"), 3);
	cr_assert_eq(get_int(line, "available"), 2);
	cr_assert_eq(allot_err(c), ALLOT_E_SERVER);
	cr_assert(strstr(allot_errstr(c), "OUT_OF_STOCK") != NULL, "%s", allot_errstr(c));
	allot_reply_free(r);

	cr_assert_eq(allot_commit(c, "r-nope", &r), ALLOT_E_SERVER);
	cr_assert_str_eq(allot_reply_error_code(r), ALLOT_ERR_NOT_FOUND);
	allot_reply_free(r);
	cr_assert_eq(allot_call(c, "no.such.method", NULL, &r), ALLOT_E_SERVER);
	cr_assert_str_eq(allot_reply_error_code(r), ALLOT_ERR_UNKNOWN_METHOD);
	allot_reply_free(r);

	/* A bad request leaves the connection usable. */
	cr_assert_eq(allot_ping(c), ALLOT_OK);
	allot_free(c);
	stop_server();
}

Test(liballot, pipelined_replies_come_in_request_order)
{
	start_with(NULL);
	allot_ctx *c = connect_ok();
	enum { N = 2000 };
	static uint32_t ids[N];
	char sku[32];
	for (int i = 0; i < N; i++) {
		snprintf(sku, sizeof(sku), "sku-%d", i);
		cr_assert_eq(allot_append_stock_set(c, sku, "berlin", i, -1, &ids[i]), ALLOT_OK);
	}
	cr_assert_eq(allot_pending(c), N);
	for (int i = 0; i < N; i++) {
		allot_reply *r = NULL;
		cr_assert_eq(allot_get_reply(c, &r), ALLOT_OK, "%d: %s", i, allot_errstr(c));
		cr_assert_eq(allot_reply_msgid(r), ids[i]);
		snprintf(sku, sizeof(sku), "sku-%d", i);
		cr_assert_str_eq(allot_value_str(allot_value_get(allot_reply_result(r), "sku"), NULL), sku);
		cr_assert_eq(get_int(allot_reply_result(r), "on_hand"), i);
		allot_reply_free(r);
	}
	cr_assert_eq(allot_pending(c), 0);

	/* A call after requests whose replies were not read drops those
	 * replies and returns its own. */
	for (int i = 0; i < 10; i++)
		cr_assert_eq(allot_append(c, "ping", NULL, NULL), ALLOT_OK);
	allot_reply *r = NULL;
	cr_assert_eq(allot_stock_set(c, "last", "berlin", 7, -1, &r), ALLOT_OK);
	cr_assert_str_eq(allot_value_str(allot_value_get(allot_reply_result(r), "sku"), NULL), "last");
	cr_assert_eq(allot_pending(c), 0);
	allot_reply_free(r);
	allot_free(c);
	stop_server();
}

Test(liballot, a_pipeline_larger_than_the_servers_output_limit_does_not_stall)
{
	/* allotd cuts off a connection with more than 64 KiB of replies
	 * unread. A client that only wrote until everything was sent would
	 * be cut off here; liballot reads replies while it sends. */
	const char *args[] = { "--output-bytes-max", "65536", NULL };
	start_with(args);
	allot_ctx *c = connect_ok();
	/* Small socket buffers on this side, and more requests (about 12 MB)
	 * than the server's side can buffer: the replies to the first ones
	 * are due long before the last ones are sent. */
	int bytes = 65536;
	cr_assert_eq(setsockopt(allot_fd(c), SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes)), 0);
	cr_assert_eq(setsockopt(allot_fd(c), SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes)), 0);
	enum { N = 250000 };
	char sku[32];
	for (int i = 0; i < N; i++) {
		snprintf(sku, sizeof(sku), "bulk-%d", i);
		cr_assert_eq(allot_append_stock_set(c, sku, "leeds", 1, -1, NULL), ALLOT_OK);
	}
	cr_assert_eq(allot_flush(c), ALLOT_OK, "%s", allot_errstr(c));
	for (int i = 0; i < N; i++) {
		allot_reply *r = NULL;
		cr_assert_eq(allot_get_reply(c, &r), ALLOT_OK, "reply %d: %s", i, allot_errstr(c));
		allot_reply_free(r);
	}
	cr_assert_eq(allot_ping(c), ALLOT_OK);
	allot_free(c);
	stop_server();
}

Test(liballot, connects_over_a_unix_socket)
{
	char path[64];
	snprintf(path, sizeof(path), "/tmp/allot-liballot-%d.sock", (int)getpid());
	const char *args[] = { "--unix", path, NULL };
	start_with(args);
	allot_ctx *c = allot_connect_unix(path, TIMEOUT_MS);
	cr_assert_eq(allot_err(c), 0, "%s", allot_errstr(c));
	cr_assert_eq(allot_ping(c), ALLOT_OK);
	allot_free(c);
	/* A host with a slash is a socket path, as the CLI's --host. */
	c = allot_connect(path, 0, TIMEOUT_MS);
	cr_assert_eq(allot_err(c), 0, "%s", allot_errstr(c));
	cr_assert_eq(allot_ping(c), ALLOT_OK);
	allot_free(c);
	stop_server();
}

/* A listening socket on loopback that never answers; its port. */
static int silent_listener(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 4) == 0);
	getsockname(fd, (struct sockaddr *)&sa, &len);
	*port = ntohs(sa.sin_port);
	return fd;
}

Test(liballot, a_call_nobody_answers_times_out)
{
	int port;
	int fd = silent_listener(&port);
	allot_ctx *c = allot_connect(HARNESS_HOST, port, 300);
	cr_assert_eq(allot_err(c), 0, "%s", allot_errstr(c));
	int64_t t0 = harness_now_ms();
	allot_reply *r = (allot_reply *)1;
	cr_assert_eq(allot_call(c, "ping", NULL, &r), ALLOT_E_TIMEOUT);
	int64_t took = harness_now_ms() - t0;
	cr_assert_null(r);
	cr_assert(took >= 250 && took < 5000, "took %lld ms", (long long)took);
	allot_free(c);
	close(fd);
}

Test(liballot, a_refused_connection_is_a_context_with_the_reason)
{
	int port = harness_free_port();
	allot_ctx *c = allot_connect("127.0.0.1", port, 2000);
	cr_assert_not_null(c);
	cr_assert_eq(allot_err(c), ALLOT_E_CONNECT);
	char where[32];
	snprintf(where, sizeof(where), "127.0.0.1:%d", port);
	cr_assert(strstr(allot_errstr(c), where) != NULL, "%s", allot_errstr(c));
	cr_assert_eq(allot_fd(c), -1);
	/* Calls on it fail the same way, without touching a socket. */
	cr_assert_eq(allot_ping(c), ALLOT_E_CONNECT);
	allot_reply *r = (allot_reply *)1;
	cr_assert_eq(allot_call(c, "ping", NULL, &r), ALLOT_E_CONNECT);
	cr_assert_null(r);
	allot_free(c);

	c = allot_connect("127.0.0.1", 70000, 2000);
	cr_assert_eq(allot_err(c), ALLOT_E_ARG);
	allot_free(c);
	c = allot_connect_unix("/nonexistent/allotd.sock", 2000);
	cr_assert_eq(allot_err(c), ALLOT_E_CONNECT);
	allot_free(c);
}

Test(liballot, a_params_builder_must_hold_one_whole_value)
{
	/* Checked before any I/O: a context whose connection failed answers
	 * ALLOT_E_ARG for bad params rather than its connection's status. */
	allot_ctx *c = allot_connect("127.0.0.1", harness_free_port(), 2000);
	allot_builder *b = allot_builder_create();
	allot_put_map(b, 2);
	allot_put_str(b, "sku");
	allot_put_str(b, "tee-m");
	cr_assert_eq(allot_append(c, "stock.get", b, NULL), ALLOT_E_ARG, "a map short of a pair");
	allot_builder_reset(b);
	allot_put_nil(b);
	allot_put_nil(b);
	cr_assert_eq(allot_append(c, "stock.get", b, NULL), ALLOT_E_ARG, "two values");
	cr_assert_eq(allot_pending(c), 0);
	allot_builder_destroy(b);
	allot_free(c);
}

/* ---- notifications, from a fake server ---- */

/* [2, "event", [{"topic": "stock"}]] then [1, 1, nil, "pong"]: what a
 * subscribed connection sees when an event comes before its reply. */
static const uint8_t NOTE_THEN_PONG[] = {
	0x93, 0x02, 0xa5, 'e', 'v', 'e', 'n', 't', 0x91, 0x81,
	0xa5, 't', 'o', 'p', 'i', 'c', 0xa5, 's', 't', 'o', 'c', 'k',
	0x94, 0x01, 0x01, 0xc0, 0xa4, 'p', 'o', 'n', 'g',
};

static void *fake_server(void *arg)
{
	int lfd = *(int *)arg;
	int fd = accept(lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	char buf[256];
	/* The request: whatever it is, one read holds it (a ping is 10 bytes). */
	if (read(fd, buf, sizeof(buf)) > 0)
		harness_write_all(fd, NOTE_THEN_PONG, sizeof(NOTE_THEN_PONG));
	/* Wait for the client to close. */
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
	return NULL;
}

typedef struct seen {
	int notes;
	char topic[32];
} seen;

static void on_note(const allot_reply *note, void *ud)
{
	seen *s = ud;
	s->notes++;
	const char *t = allot_value_str(allot_value_get(allot_value_at(allot_reply_params(note), 0),
	    "topic"), NULL);
	snprintf(s->topic, sizeof(s->topic), "%s", t != NULL ? t : "");
}

Test(liballot, notifications_before_a_response_go_to_the_handler)
{
	int port;
	int lfd = silent_listener(&port);
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, fake_server, &lfd), 0);
	allot_ctx *c = allot_connect(HARNESS_HOST, port, TIMEOUT_MS);
	cr_assert_eq(allot_err(c), 0, "%s", allot_errstr(c));
	seen s = { 0 };
	allot_set_notify(c, on_note, &s);
	cr_assert_eq(allot_ping(c), ALLOT_OK, "%s", allot_errstr(c));
	cr_assert_eq(s.notes, 1);
	cr_assert_str_eq(s.topic, "stock");
	allot_free(c);
	pthread_join(th, NULL);
	close(lfd);
}

Test(liballot, get_message_returns_notifications_too)
{
	int port;
	int lfd = silent_listener(&port);
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, fake_server, &lfd), 0);
	allot_ctx *c = allot_connect(HARNESS_HOST, port, TIMEOUT_MS);
	cr_assert_eq(allot_append(c, "ping", NULL, NULL), ALLOT_OK);
	allot_reply *r = NULL;
	cr_assert_eq(allot_get_message(c, &r), ALLOT_OK, "%s", allot_errstr(c));
	cr_assert_eq(allot_reply_kind(r), ALLOT_REPLY_NOTIFICATION);
	cr_assert_str_eq(allot_reply_method(r), "event");
	allot_reply_free(r);
	cr_assert_eq(allot_get_message(c, &r), ALLOT_OK);
	cr_assert_eq(allot_reply_kind(r), ALLOT_REPLY_RESPONSE);
	cr_assert_str_eq(allot_value_str(allot_reply_result(r), NULL), "pong");
	cr_assert_eq(allot_pending(c), 0);
	allot_reply_free(r);
	allot_free(c);
	pthread_join(th, NULL);
	close(lfd);
}
