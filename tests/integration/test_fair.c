/*
 * test_fair.c - numbers from every client and fair service under abuse,
 * over the wire:
 *   - a float32/float64 holding an exact integer is accepted wherever an
 *     integer is (inbound.add's eta as JavaScript sends it), a fraction,
 *     NaN or an infinity is BAD_REQUEST naming the field;
 *   - a refused frame (TOO_LARGE, undecodable) echoes the request's msgid
 *     when [0, msgid, ...] was readable, then the connection closes;
 *   - a request begun and not finished within --frame-timeout-ms
 *     (slowloris) is answered and its connection closed, while a quiet
 *     connection stays;
 *   - --idle-timeout-s closes a silent connection, not a talking one;
 *   - the frame budget: with allotd paused, a greedy connection's thousands
 *     of pipelined requests and another's one request arrive together; on
 *     resuming, the other's request is handled after at most a few budgets
 *     of the greedy one's (an order, read from stats, not a time), and the
 *     greedy one still gets every reply, in order.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <msgpack.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access_util.h"
#include "mp.h"
#include "wire_client.h"

static harness_server *srv;

static void teardown(void)
{
	if (srv)
		kill(srv->pid, SIGCONT);
	harness_server_stop(srv);
	srv = NULL;
}

TestSuite(fair, .fini = teardown, .timeout = 120);

static void start(const char *const *args)
{
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

/* ---- numbers ---------------------------------------------------------------- */

/* inbound.add {sku, location, qty, eta} with qty and eta packed by fn. */
typedef void (*pack_fn)(msgpack_packer *pk, double v);
static void pack_f64(msgpack_packer *pk, double v) { msgpack_pack_double(pk, v); }
static void pack_f32(msgpack_packer *pk, double v) { msgpack_pack_float(pk, (float)v); }

/* Send inbound.add with qty and eta as floats; the error code, "" on
 * success, and the message in msg. */
static const char *inbound_floats(allot_client *c, pack_fn qty_fn, double qty, pack_fn eta_fn,
    double eta, char *msg, size_t msg_len)
{
	static char code[32];
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 1);
	msgpack_pack_map(&pk, 4);
	msgpack_pack_str_with_body(&pk, "sku", 3);
	msgpack_pack_str_with_body(&pk, "A", 1);
	msgpack_pack_str_with_body(&pk, "location", 8);
	msgpack_pack_str_with_body(&pk, "W", 1);
	msgpack_pack_str_with_body(&pk, "qty", 3);
	qty_fn(&pk, qty);
	msgpack_pack_str_with_body(&pk, "eta", 3);
	eta_fn(&pk, eta);
	allot_message m;
	allot_message_init(&m);
	char err[512];
	cr_assert_eq(allot_client_call(c, "inbound.add", sb.data, sb.size, &m, err, sizeof(err)), 0, "%s", err);
	code[0] = msg[0] = '\0';
	if (allot_message_error_code(&m, code, sizeof(code))) {
		const msgpack_object *o = allot_object_map_get(&m.error, "message");
		snprintf(msg, msg_len, "%.*s", o ? (int)o->via.str.size : 0, o ? o->via.str.ptr : "");
	}
	allot_message_clear(&m);
	msgpack_sbuffer_destroy(&sb);
	return code;
}

Test(fair, whole_floats_are_integers_and_fractions_nan_and_infinity_are_not)
{
	start(NULL);
	allot_client *c = au_client(srv, NULL);
	char msg[256];
	cr_assert_str_empty(au_call(c, "stock.set", "{\"sku\": \"A\", \"location\": \"W\", \"on_hand\": 1}", NULL));
	/* JavaScript's eta: 1.9e12 as float64; qty 3 as float32. */
	cr_assert_str_empty(inbound_floats(c, pack_f32, 3, pack_f64, 1900000000000.0, msg, sizeof(msg)), "%s", msg);
	cr_assert_str_empty(inbound_floats(c, pack_f64, 2, pack_f64, -0.0, msg, sizeof(msg)), "%s", msg);
	json_t *list = NULL;
	cr_assert_str_empty(au_call(c, "avail", "{\"skus\": [\"A\"]}", &list));
	json_t *incoming = json_object_get(json_object_get(list, "A"), "incoming");
	cr_assert_eq(json_array_size(incoming), 2, "%s", json_dumps(list, 0));
	json_decref(list);
	const struct { pack_fn fn; double qty, eta; const char *field; } bad[] = {
		{ pack_f64, 2.5, 1e12, "qty" },
		{ pack_f32, 1, 1900000000000.5, "eta" },
		{ pack_f64, NAN, 1e12, "qty" },
		{ pack_f64, 1, INFINITY, "eta" },
		{ pack_f64, 1, -INFINITY, "eta" },
		{ pack_f64, 1, 1e19, "eta" }, /* past int64 */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *code = bad[i].field[0] == 'q'
		    ? inbound_floats(c, bad[i].fn, bad[i].qty, pack_f64, bad[i].eta, msg, sizeof(msg))
		    : inbound_floats(c, pack_f64, bad[i].qty, pack_f64, bad[i].eta, msg, sizeof(msg));
		cr_assert_str_eq(code, "BAD_REQUEST", "case %zu: %s", i, msg);
		cr_assert(strncmp(msg, bad[i].field, strlen(bad[i].field)) == 0, "case %zu names %s: %s", i,
		    bad[i].field, msg);
	}
	/* Everywhere an integer is read: stock.set's on_hand, reserve's qty. */
	cr_assert_str_empty(au_call(c, "stock.set", "{\"sku\": \"B\", \"location\": \"W\", \"on_hand\": 4.0}", NULL));
	cr_assert_str_empty(au_call(c, "reserve", "{\"order_id\": \"o\", \"lines\": [{\"sku\": \"B\", \"qty\": 2.0}], "
	    "\"ttl_ms\": 60000.0}", NULL));
	cr_assert_str_eq(au_call(c, "reserve", "{\"order_id\": \"p\", \"lines\": [{\"sku\": \"B\", \"qty\": 0.5}]}",
	    NULL), "BAD_REQUEST");
	allot_client_destroy(c);
	stop_clean();
}

/* ---- the msgid of a refused frame --------------------------------------------- */

/* Send bytes raw; the one reply must be code with msgid, then EOF. */
static void expect_refusal(const void *bytes, size_t len, uint32_t msgid, const char *code)
{
	wire_conn w;
	cr_assert_eq(wire_open(&w, srv->port, AU_TIMEOUT_MS), 0, "%s", w.error);
	mp_write_raw(&w.out, bytes, len);
	int64_t deadline = harness_now_ms() + AU_TIMEOUT_MS;
	cr_assert_eq(wire_flush(&w, deadline), 0, "%s", w.error);
	wire_reply r;
	cr_assert_eq(wire_reply_next(&w, deadline, &r), WIRE_OK, "%s", w.error);
	char got[32];
	wire_error_code(&r, got, sizeof(got));
	cr_assert_str_eq(got, code);
	cr_assert_eq(r.msgid, msgid, "the refusal answers msgid %u, expected %u", r.msgid, msgid);
	mp_cursor next;
	cr_assert_eq(wire_next(&w, deadline, &next), WIRE_CLOSED, "the connection stays open");
	wire_close(&w);
}

Test(fair, a_refused_frame_echoes_the_msgid_it_could_read)
{
	const char *args[] = { "--frame-bytes-max", "4096", NULL };
	start(args);
	/* Over the frame limit: [0, 77, "ping", [{"x": str32 of 1 MiB}]]. */
	const unsigned char big[] = { 0x94, 0x00, 0x4d, 0xa4, 'p', 'i', 'n', 'g', 0x91, 0x81, 0xa1, 'x',
		0xdb, 0x00, 0x10, 0x00, 0x00 };
	expect_refusal(big, sizeof(big), 77, "TOO_LARGE");
	/* Not MessagePack after a readable head: [0, 78, 0xc1 ...]. */
	const unsigned char junk[] = { 0x94, 0x00, 0x4e, 0xc1 };
	expect_refusal(junk, sizeof(junk), 78, "BAD_REQUEST");
	/* A msgid sent as a float64 (uint32 range), as some clients send it. */
	const unsigned char fmsgid[] = { 0x94, 0x00, 0xcb, 0x40, 0x53, 0x40, 0, 0, 0, 0, 0, 0xc1 };
	expect_refusal(fmsgid, sizeof(fmsgid), 77, "BAD_REQUEST");
	/* Unreadable from the start: msgid 0. */
	const unsigned char none[] = { 0xc1 };
	expect_refusal(none, sizeof(none), 0, "BAD_REQUEST");
	stop_clean();
}

/* ---- timeouts ---------------------------------------------------------------------- */

Test(fair, a_request_unfinished_within_the_frame_timeout_closes_its_connection)
{
	const char *args[] = { "--frame-timeout-ms", "300", NULL };
	start(args);
	allot_client *quiet = au_client(srv, NULL);
	cr_assert_str_empty(au_call(quiet, "ping", NULL, NULL));
	/* Slowloris: the head of [0, 42, "stock.set", [{...}]] and no more. */
	wire_conn w;
	cr_assert_eq(wire_open(&w, srv->port, AU_TIMEOUT_MS), 0, "%s", w.error);
	const unsigned char head[] = { 0x94, 0x00, 0x2a, 0xa9, 's', 't', 'o', 'c', 'k', '.', 's', 'e', 't',
		0x91, 0x83 };
	mp_write_raw(&w.out, head, sizeof(head));
	int64_t deadline = harness_now_ms() + AU_TIMEOUT_MS;
	cr_assert_eq(wire_flush(&w, deadline), 0);
	wire_reply r;
	cr_assert_eq(wire_reply_next(&w, deadline, &r), WIRE_OK, "no answer to the slow request: %s", w.error);
	char code[32];
	wire_error_code(&r, code, sizeof(code));
	cr_assert_str_eq(code, "BAD_REQUEST");
	cr_assert_eq(r.msgid, 42);
	char text[256];
	cr_assert(wire_get_text(r.error, "message", text, sizeof(text)) && strstr(text, "--frame-timeout-ms"),
	    "%s", text);
	mp_cursor next;
	cr_assert_eq(wire_next(&w, deadline, &next), WIRE_CLOSED);
	wire_close(&w);
	/* A connection with nothing begun is not touched by it. */
	harness_sleep_ms(600);
	cr_assert_str_empty(au_call(quiet, "ping", NULL, NULL));
	json_t *st = NULL;
	cr_assert_str_empty(au_call(quiet, "stats", NULL, &st));
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(st, "connections"), "frame_timeouts")), 1);
	json_decref(st);
	allot_client_destroy(quiet);
	stop_clean();
}

Test(fair, the_idle_timeout_closes_silent_connections_only)
{
	const char *args[] = { "--idle-timeout-s", "1", NULL };
	start(args);
	allot_client *silent = au_client(srv, NULL), *talker = au_client(srv, NULL);
	cr_assert_str_empty(au_call(silent, "ping", NULL, NULL));
	int64_t until = harness_now_ms() + 2500;
	while (harness_now_ms() < until) {
		cr_assert_str_empty(au_call(talker, "ping", NULL, NULL));
		harness_sleep_ms(200);
	}
	cr_assert(au_closed_by_server(silent, 3000), "a connection silent past the idle timeout stays");
	cr_assert_str_empty(au_call(talker, "ping", NULL, NULL), "a talking connection was closed");
	json_t *st = NULL;
	cr_assert_str_empty(au_call(talker, "stats", NULL, &st));
	cr_assert_geq(json_integer_value(json_object_get(json_object_get(st, "connections"), "idle_closed")), 1);
	json_decref(st);
	allot_client_destroy(silent);
	allot_client_destroy(talker);
	stop_clean();
}

/* ---- the frame budget ----------------------------------------------------------------- */

#define GREEDY_PINGS 8000
#define BUDGET 8

Test(fair, a_greedy_pipeliner_does_not_starve_another_connection)
{
	const char *args[] = { "--frames-per-turn", "8", NULL };
	start(args);
	wire_conn greedy, other;
	cr_assert_eq(wire_open(&greedy, srv->port, AU_TIMEOUT_MS), 0, "%s", greedy.error);
	cr_assert_eq(wire_open(&other, srv->port, AU_TIMEOUT_MS), 0, "%s", other.error);
	/* Both connections are open and served before allotd is paused. */
	int64_t deadline = harness_now_ms() + AU_TIMEOUT_MS;
	wire_reply r;
	wire_request(&other, 1, "ping");
	mp_write_map(&other.out, 0);
	cr_assert_eq(wire_flush(&other, deadline), 0);
	cr_assert_eq(wire_reply_to(&other, 1, deadline, &r), 0, "%s", other.error);

	/* Paused, allotd reads nothing: the greedy requests, then the other's
	 * stats, wait in its sockets and arrive together when it resumes. */
	cr_assert_eq(kill(srv->pid, SIGSTOP), 0);
	for (uint32_t i = 0; i < GREEDY_PINGS; i++) {
		wire_request(&greedy, 100 + i, "ping");
		mp_write_map(&greedy.out, 0);
	}
	cr_assert_eq(wire_flush(&greedy, deadline), 0, "%s", greedy.error);
	wire_request(&other, 2, "stats");
	mp_write_map(&other.out, 0);
	cr_assert_eq(wire_flush(&other, deadline), 0);
	cr_assert_eq(kill(srv->pid, SIGCONT), 0);

	cr_assert_eq(wire_reply_to(&other, 2, deadline, &r), 0, "%s", other.error);
	mp_cursor requests;
	int64_t pings = 0;
	cr_assert(wire_get(r.result, "requests", &requests), "stats has no requests (failed %d, %ld bytes)", r.failed, (long)(r.result.end - r.result.p));
	cr_assert(wire_get_int(requests, "ping", &pings), "requests has no ping");
	/* One ping came from the other connection before the pause. Without a
	 * budget a whole read of the greedy stream (about 1800 pings per 16 KiB)
	 * would go first. */
	cr_assert_leq(pings - 1, 4 * BUDGET, "%lld greedy requests were handled before the other's one",
	    (long long)(pings - 1));
	/* The greedy connection loses nothing and keeps its order. */
	for (uint32_t i = 0; i < GREEDY_PINGS; i++) {
		cr_assert_eq(wire_reply_next(&greedy, deadline, &r), WIRE_OK, "reply %u: %s", i, greedy.error);
		cr_assert_eq(r.msgid, 100 + i, "reply %u answers msgid %u", i, r.msgid);
		cr_assert(!r.failed && wire_is_str(r.result, "pong"), "reply %u is not pong", i);
	}
	/* And stats counted its stops at the budget. */
	wire_request(&other, 3, "stats");
	mp_write_map(&other.out, 0);
	cr_assert_eq(wire_flush(&other, deadline), 0);
	cr_assert_eq(wire_reply_to(&other, 3, deadline, &r), 0, "%s", other.error);
	mp_cursor conns;
	int64_t stops = 0;
	cr_assert(wire_get(r.result, "connections", &conns) && wire_get_int(conns, "budget_stops", &stops));
	cr_assert_geq(stops, GREEDY_PINGS / BUDGET / 2, "the greedy connection stopped %lld times at its "
	    "budget", (long long)stops);
	wire_close(&greedy);
	wire_close(&other);
	stop_clean();
}
