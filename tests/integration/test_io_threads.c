/*
 * test_io_threads.c - allotd --io-threads 2 (engine/iothread.h): the
 * request path's methods over several connections, pipelined and not,
 * with every reply checked and the stock adding up at the end; the same
 * bytes back as the default path gives for the same requests (a refused
 * stream included); a long pipeline of large frames, whose replies are
 * large enough to travel as copies, back whole and in order; and the options the prototype does not serve refused
 * at start or, for subscribe, answered with an error that says why.
 */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "json_util.h"
#include "wire_client.h"

#define CLIENT_TIMEOUT_MS 10000
#define DEADLINE_MS 30000
#define NCONN 8          /* half pipeline their requests, half do not */
#define PER_CONN 25      /* reserves per connection */
#define STOCK 120        /* fewer than NCONN * PER_CONN: some are refused */
#define ID_MAX 32
#define RAW_MAX 65536

static harness_server *srv, *srv_plain;

static void teardown(void)
{
	allot_client_destroy(ju_client);
	ju_client = NULL;
	harness_server_stop(srv);
	harness_server_stop(srv_plain);
	srv = srv_plain = NULL;
	ju_free_kept();
}

TestSuite(io_threads, .fini = teardown, .timeout = 120);

static harness_server *start(const char *threads)
{
	char err[512];
	const char *args[] = { "--io-threads", threads, NULL };
	harness_server *s = harness_server_start(args, err, sizeof(err));
	cr_assert_not_null(s, "cannot start allotd --io-threads %s: %s", threads, err);
	return s;
}

/* Stop s: it must exit 0 (every connection had what it was owed). */
static void stop_clean(harness_server **s)
{
	int status = harness_server_stop(*s);
	*s = NULL;
	cr_assert_eq(status, 0, "allotd exited with status %d", status);
}

/* ---- reserve, commit, release over several connections ------------------------ */

typedef struct worker {
	wire_conn c;
	bool pipelined;
	uint32_t next_msgid;
	int holds, out_of_stock, commits, releases;
	char ids[PER_CONN][ID_MAX];
} worker;

static void write_reserve(worker *w, int i, int k)
{
	char order[48];
	snprintf(order, sizeof(order), "o-%d-%d", i, k);
	wire_request(&w->c, ++w->next_msgid, "reserve");
	mp_write_map(&w->c.out, 2);
	mp_write_lit(&w->c.out, "order_id");
	mp_write_cstr(&w->c.out, order);
	mp_write_lit(&w->c.out, "lines");
	mp_write_array(&w->c.out, 1);
	mp_write_map(&w->c.out, 2);
	mp_write_lit(&w->c.out, "sku");
	mp_write_lit(&w->c.out, "iot");
	mp_write_lit(&w->c.out, "qty");
	mp_write_int(&w->c.out, 1);
}

/* The reply to reserve k: a hold (its id kept) or OUT_OF_STOCK. */
static void read_reserve(worker *w, int k)
{
	wire_reply r;
	cr_assert_eq(wire_reply_to(&w->c, w->next_msgid - (w->pipelined ? PER_CONN - 1 - k : 0),
	    harness_now_ms() + DEADLINE_MS, &r), 0, "%s", w->c.error);
	char code[64];
	wire_error_code(&r, code, sizeof(code));
	if (r.failed) {
		cr_assert_str_eq(code, "OUT_OF_STOCK");
		w->ids[k][0] = '\0';
		w->out_of_stock++;
		return;
	}
	cr_assert(wire_get_text(r.result, "reservation_id", w->ids[k], ID_MAX));
	cr_assert(wire_get_is(r.result, "status", "held"), "reserve %d: not held", k);
	w->holds++;
}

/* Commit the even holds, release the odd ones. */
static void write_finish(worker *w, int k)
{
	bool commit = k % 2 == 0;
	wire_request(&w->c, ++w->next_msgid, commit ? "commit" : "release");
	mp_write_map(&w->c.out, 1);
	mp_write_lit(&w->c.out, "reservation_id");
	mp_write_cstr(&w->c.out, w->ids[k]);
}

static void read_finish(worker *w, int k, uint32_t msgid)
{
	wire_reply r;
	cr_assert_eq(wire_reply_to(&w->c, msgid, harness_now_ms() + DEADLINE_MS, &r), 0, "%s",
	    w->c.error);
	cr_assert(!r.failed, "finishing hold %d failed", k);
	bool commit = k % 2 == 0;
	cr_assert(wire_get_is(r.result, "status", commit ? "committed" : "released"));
	if (commit)
		w->commits++;
	else
		w->releases++;
}

/* Every worker's reserves: pipelined ones send all, then read all. */
static void run_reserves(worker *ws)
{
	int64_t deadline = harness_now_ms() + DEADLINE_MS;
	for (int i = 0; i < NCONN; i++) {
		if (!ws[i].pipelined)
			continue;
		for (int k = 0; k < PER_CONN; k++)
			write_reserve(&ws[i], i, k);
		cr_assert_eq(wire_flush(&ws[i].c, deadline), 0, "%s", ws[i].c.error);
	}
	for (int k = 0; k < PER_CONN; k++) {
		for (int i = 0; i < NCONN; i++) {
			worker *w = &ws[i];
			if (!w->pipelined) {
				write_reserve(w, i, k);
				cr_assert_eq(wire_flush(&w->c, deadline), 0, "%s", w->c.error);
			}
			read_reserve(w, k);
		}
	}
}

static void run_finishes(worker *ws)
{
	int64_t deadline = harness_now_ms() + DEADLINE_MS;
	for (int i = 0; i < NCONN; i++) {
		worker *w = &ws[i];
		uint32_t first = w->next_msgid + 1;
		for (int k = 0; k < PER_CONN; k++) {
			if (!w->ids[k][0])
				continue;
			write_finish(w, k);
			if (!w->pipelined) {
				cr_assert_eq(wire_flush(&w->c, deadline), 0, "%s", w->c.error);
				read_finish(w, k, w->next_msgid);
			}
		}
		if (!w->pipelined)
			continue;
		cr_assert_eq(wire_flush(&w->c, deadline), 0, "%s", w->c.error);
		for (int k = 0; k < PER_CONN; k++)
			if (w->ids[k][0])
				read_finish(w, k, first++);
		cr_assert(!wire_more(&w->c, 0), "one reply per request");
	}
}

Test(io_threads, reserve_commit_release_over_connections_add_up)
{
	char err[512];
	srv = start("2");
	ju_client = harness_client(srv, CLIENT_TIMEOUT_MS, err, sizeof(err));
	cr_assert_not_null(ju_client, "%s", err);
	ju_set_stock("iot", "L1", STOCK);
	static worker ws[NCONN];
	memset(ws, 0, sizeof(ws));
	for (int i = 0; i < NCONN; i++) {
		ws[i].pipelined = i % 2 == 0;
		cr_assert_eq(wire_open(&ws[i].c, srv->port, CLIENT_TIMEOUT_MS), 0, "%s", ws[i].c.error);
	}
	run_reserves(ws);
	int holds = 0, refused = 0, commits = 0, releases = 0;
	for (int i = 0; i < NCONN; i++) {
		holds += ws[i].holds;
		refused += ws[i].out_of_stock;
	}
	cr_assert_eq(holds, STOCK, "exactly the stock is held: %d", holds);
	cr_assert_eq(refused, NCONN * PER_CONN - STOCK);
	json_t *rec = ju_record("iot", "L1");
	cr_assert_eq(ju_geti(rec, "reserved"), STOCK);
	run_finishes(ws);
	for (int i = 0; i < NCONN; i++) {
		commits += ws[i].commits;
		releases += ws[i].releases;
		wire_close(&ws[i].c);
	}
	cr_assert_eq(commits + releases, holds);
	rec = ju_record("iot", "L1");
	cr_assert_eq(ju_geti(rec, "on_hand"), STOCK);
	cr_assert_eq(ju_geti(rec, "reserved"), 0);
	cr_assert_eq(ju_geti(rec, "committed"), commits);
	cr_assert_eq(ju_geti(rec, "available"), STOCK - commits);
	json_t *stats = ju_ok("stats", NULL);
	json_t *conns = ju_get(stats, "connections");
	cr_assert_geq(ju_geti(conns, "total"), NCONN + 1);
	cr_assert_geq(ju_geti(conns, "current"), 1);
	allot_client_destroy(ju_client);
	ju_client = NULL;
	stop_clean(&srv);
}

/* ---- the same bytes as the default path ------------------------------------------- */

/* Requests whose replies hold nothing that differs between runs (no
 * reservation ids, no clocks), ending with a byte that is not MessagePack:
 * the stream is refused and the connection closed. Returns the bytes back. */
static ssize_t exchange(int port, uint8_t *buf, size_t cap)
{
	wire_conn c;
	cr_assert_eq(wire_open(&c, port, CLIENT_TIMEOUT_MS), 0, "%s", c.error);
	wire_request(&c, 1, "ping");
	mp_write_map(&c.out, 0);
	wire_request(&c, 2, "stock.set");
	mp_write_map(&c.out, 3);
	mp_write_lit(&c.out, "sku");
	mp_write_lit(&c.out, "b");
	mp_write_lit(&c.out, "location");
	mp_write_lit(&c.out, "L1");
	mp_write_lit(&c.out, "on_hand");
	mp_write_int(&c.out, 0);
	wire_request(&c, 3, "avail");
	mp_write_map(&c.out, 1);
	mp_write_lit(&c.out, "skus");
	mp_write_array(&c.out, 2);
	mp_write_lit(&c.out, "b");
	mp_write_lit(&c.out, "nope");
	wire_request(&c, 4, "reserve"); /* OUT_OF_STOCK */
	mp_write_map(&c.out, 2);
	mp_write_lit(&c.out, "order_id");
	mp_write_lit(&c.out, "x");
	mp_write_lit(&c.out, "lines");
	mp_write_array(&c.out, 1);
	mp_write_map(&c.out, 2);
	mp_write_lit(&c.out, "sku");
	mp_write_lit(&c.out, "b");
	mp_write_lit(&c.out, "qty");
	mp_write_int(&c.out, 2);
	wire_request(&c, 5, "no.such.method");
	mp_write_map(&c.out, 0);
	wire_request(&c, 6, "commit"); /* a bad param */
	mp_write_map(&c.out, 1);
	mp_write_lit(&c.out, "reservation_id");
	mp_write_int(&c.out, 7);
	wire_request(&c, 7, "location.list");
	mp_write_map(&c.out, 0);
	uint8_t bad = 0xc1;
	mp_write_raw(&c.out, &bad, 1);
	cr_assert_eq(wire_flush(&c, harness_now_ms() + DEADLINE_MS), 0, "%s", c.error);
	ssize_t n = harness_read_until_eof(c.fd, buf, cap, DEADLINE_MS);
	wire_close(&c);
	return n;
}

Test(io_threads, replies_are_the_bytes_the_default_path_sends)
{
	static uint8_t got[RAW_MAX], want[RAW_MAX];
	srv = start("2");
	srv_plain = start("0");
	ssize_t n = exchange(srv->port, got, sizeof(got));
	ssize_t m = exchange(srv_plain->port, want, sizeof(want));
	cr_assert_gt(m, 0, "the default path closes after the refused stream");
	cr_assert_eq(n, m, "%zd bytes back, the default path sends %zd", n, m);
	cr_assert(memcmp(got, want, (size_t)m) == 0, "the replies differ from the default path's");
	/* Eight replies: seven requests and the refusal. */
	mp_cursor cur;
	mp_cursor_init(&cur, got, (size_t)n);
	int replies = 0;
	while (cur.p < cur.end && mp_skip(&cur))
		replies++;
	cr_assert_eq(replies, 8);
	stop_clean(&srv);
	stop_clean(&srv_plain);
}

/* ---- a long pipeline of large frames ----------------------------------------------- */

#define BIG_REQUESTS 600   /* about 25 MB of requests: the rings fill */
#define BIG_SKUS 1000      /* per avail: a reply of about 70 KB */

typedef struct big_writer {
	wire_conn w;           /* the connection's socket, its own buffer */
	int status;
} big_writer;

static void *write_big(void *arg)
{
	big_writer *bw = arg;
	bw->status = wire_flush(&bw->w, harness_now_ms() + DEADLINE_MS * 2);
	return NULL;
}

Test(io_threads, a_long_pipeline_of_large_frames_comes_back_whole_in_order)
{
	wire_conn c;
	srv = start("1");
	cr_assert_eq(wire_open(&c, srv->port, CLIENT_TIMEOUT_MS), 0, "%s", c.error);
	static big_writer bw;
	memset(&bw, 0, sizeof(bw));
	bw.w.fd = c.fd;
	mp_buf_init(&bw.w.out);
	char sku[48];
	for (uint32_t i = 1; i <= BIG_REQUESTS; i++) {
		wire_request(&bw.w, i, "avail");
		mp_write_map(&bw.w.out, 1);
		mp_write_lit(&bw.w.out, "skus");
		mp_write_array(&bw.w.out, BIG_SKUS);
		for (int k = 0; k < BIG_SKUS; k++) {
			snprintf(sku, sizeof(sku), "sku-%06d-of-request-%06u-padding", k, i);
			mp_write_cstr(&bw.w.out, sku);
		}
	}
	cr_assert(!mp_buf_failed(&bw.w.out));
	/* Written from another thread while this one reads the replies, as a
	 * pipelining client does: neither side waits on the other. */
	pthread_t tid;
	cr_assert_eq(pthread_create(&tid, NULL, write_big, &bw), 0);
	int bad = 0;
	for (uint32_t i = 1; i <= BIG_REQUESTS; i++) {
		wire_reply r;
		if (wire_reply_to(&c, i, harness_now_ms() + DEADLINE_MS * 2, &r) != 0) {
			bad = -1;
			break;
		}
		uint32_t n = 0;
		if (r.failed || !mp_read_map(&r.result, &n) || n != BIG_SKUS)
			bad++;
	}
	cr_assert_eq(pthread_join(tid, NULL), 0);
	cr_assert_eq(bw.status, 0, "sending: %s", bw.w.error);
	mp_buf_finish(&bw.w.out);
	cr_assert_eq(bad, 0, "%d replies wrong, or: %s", bad, c.error);
	cr_assert(!wire_more(&c, 100), "one reply per request");
	wire_close(&c);
	stop_clean(&srv);
}

/* ---- what the prototype does not serve ----------------------------------------------- */

Test(io_threads, subscribe_is_answered_with_why)
{
	char err[512];
	srv = start("1");
	ju_client = harness_client(srv, CLIENT_TIMEOUT_MS, err, sizeof(err));
	cr_assert_not_null(ju_client, "%s", err);
	json_t *e = ju_fail("subscribe", json_pack("{s:[s]}", "topics", "stock"), "UNAVAILABLE", NULL);
	cr_assert(strstr(ju_gets(e, "message"), "--io-threads") != NULL, "%s", ju_gets(e, "message"));
	cr_assert_str_eq(json_string_value(ju_ok("ping", NULL)), "pong");
	allot_client_destroy(ju_client);
	ju_client = NULL;
	stop_clean(&srv);
}

/* allotd with args to its end: its status; stderr must name what. */
static void refused_at_start(const char *const *args, const char *what)
{
	const char *argv[16] = { getenv("ALLOTD") };
	size_t n = 1;
	for (size_t i = 0; args[i]; i++)
		argv[n++] = args[i];
	char *out = NULL, *err = NULL;
	int status = harness_run(argv, 10000, &out, &err);
	cr_assert_eq(status, 2, "%s: exit %d: %s", what, status, err);
	cr_assert(strstr(err, what) != NULL, "the message does not name %s: %s", what, err);
	free(out);
	free(err);
}

Test(io_threads, options_it_does_not_serve_are_refused_at_start)
{
	char port[16];
	snprintf(port, sizeof(port), "%d", harness_free_port());
	const char *unix_sock[] = { "--port", port, "--io-threads", "2", "--unix", "/tmp/allot-iot.sock", NULL };
	refused_at_start(unix_sock, "--unix");
	const char *redis[] = { "--port", port, "--io-threads", "2", "--redis", "redis://127.0.0.1:1",
		"--durability", "async", NULL };
	refused_at_start(redis, "durability");
	const char *metrics[] = { "--port", port, "--io-threads", "1", "--metrics", "127.0.0.1:0", NULL };
	refused_at_start(metrics, "--metrics");
	const char *many[] = { "--port", port, "--io-threads", "17", NULL };
	refused_at_start(many, "--io-threads");
	cr_assert_eq(access("/tmp/allot-iot.sock", F_OK), -1, "no socket file was made");
}
