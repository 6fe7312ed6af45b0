/*
 * test_events.c - subscribe, unsubscribe and the events of each topic,
 * read with the project's wire client: fields as the contract gives them,
 * seq in order, the skus filter, expiry at the deadline, a flash sale
 * coalesced per record, a subscriber that never reads cut off while the
 * others are served, and pynvim as a subscriber (pynvim_events.py).
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>

#include "events_util.h"

#define PYTHON "/usr/bin/python3"
#define CALL_MS 10000
/* An event that is due comes within this (a loop turn, a sweep tick). */
#define EVENT_MS 5000

static harness_server *srv;
static uint32_t next_msgid = 1;

static void start(const char *const *args)
{
	char err[512];
	srv = harness_server_start(args, err, sizeof(err));
	cr_assert_not_null(srv, "cannot start allotd: %s", err);
}

static void stop(void)
{
	int status = harness_server_stop(srv);
	srv = NULL;
	cr_assert_eq(status, 0, "allotd exited with status %d", status);
}

static void open_conn(wire_conn *c)
{
	cr_assert_eq(wire_open(c, srv->port, CALL_MS), 0, "connect: %s", c->error);
}

/* Send what c->out holds (one request, msgid) and read its reply. */
static wire_reply finish(wire_conn *c, uint32_t msgid)
{
	wire_reply r;
	int64_t deadline = harness_now_ms() + CALL_MS;
	cr_assert_eq(wire_flush(c, deadline), 0, "send: %s", c->error);
	cr_assert_eq(wire_reply_to(c, msgid, deadline, &r), 0, "reply: %s", c->error);
	return r;
}

static void ok(const wire_reply *r, const char *what)
{
	char code[64];
	wire_error_code(r, code, sizeof(code));
	cr_assert(!r->failed, "%s failed: %s", what, code);
}

static void set_stock(wire_conn *c, const char *sku, const char *loc, int64_t on_hand)
{
	uint32_t id = next_msgid++;
	wire_request(c, id, "stock.set");
	mp_write_map(&c->out, 3);
	mp_write_lit(&c->out, "sku");
	mp_write_cstr(&c->out, sku);
	mp_write_lit(&c->out, "location");
	mp_write_cstr(&c->out, loc);
	mp_write_lit(&c->out, "on_hand");
	mp_write_int(&c->out, on_hand);
	wire_reply r = finish(c, id);
	ok(&r, "stock.set");
}

static void write_reserve(wire_conn *c, uint32_t id, const char *order, const char *sku,
    int64_t qty, int64_t ttl_ms)
{
	wire_request(c, id, "reserve");
	mp_write_map(&c->out, 3);
	mp_write_lit(&c->out, "order_id");
	mp_write_cstr(&c->out, order);
	mp_write_lit(&c->out, "lines");
	mp_write_array(&c->out, 1);
	mp_write_map(&c->out, 2);
	mp_write_lit(&c->out, "sku");
	mp_write_cstr(&c->out, sku);
	mp_write_lit(&c->out, "qty");
	mp_write_int(&c->out, qty);
	mp_write_lit(&c->out, "ttl_ms");
	mp_write_int(&c->out, ttl_ms);
}

/* reserve; the reservation id into id_out, its expires_at into *expires. */
static void reserve(wire_conn *c, const char *order, const char *sku, int64_t qty, int64_t ttl_ms,
    char *id_out, size_t id_len, int64_t *expires)
{
	uint32_t id = next_msgid++;
	write_reserve(c, id, order, sku, qty, ttl_ms);
	wire_reply r = finish(c, id);
	ok(&r, "reserve");
	cr_assert(wire_get_text(r.result, "reservation_id", id_out, id_len));
	if (expires)
		cr_assert(wire_get_int(r.result, "expires_at", expires));
}

static void by_id(wire_conn *c, const char *method, const char *rid)
{
	uint32_t id = next_msgid++;
	wire_request(c, id, method);
	mp_write_map(&c->out, 1);
	mp_write_lit(&c->out, "reservation_id");
	mp_write_cstr(&c->out, rid);
	wire_reply r = finish(c, id);
	ok(&r, method);
}

static void sku_low_stock(wire_conn *c, const char *sku, int64_t threshold)
{
	uint32_t id = next_msgid++;
	wire_request(c, id, "sku.put");
	mp_write_map(&c->out, 2);
	mp_write_lit(&c->out, "sku");
	mp_write_cstr(&c->out, sku);
	mp_write_lit(&c->out, "low_stock");
	mp_write_int(&c->out, threshold);
	wire_reply r = finish(c, id);
	ok(&r, "sku.put");
}

/* subscribe {topics, skus?}; NULL-terminated lists; the reply. */
static wire_reply subscribe(wire_conn *c, const char *const *topics, const char *const *skus)
{
	uint32_t id = next_msgid++, nt = 0, ns = 0;
	while (topics[nt])
		nt++;
	while (skus && skus[ns])
		ns++;
	wire_request(c, id, "subscribe");
	mp_write_map(&c->out, skus ? 2 : 1);
	mp_write_lit(&c->out, "topics");
	mp_write_array(&c->out, nt);
	for (uint32_t i = 0; i < nt; i++)
		mp_write_cstr(&c->out, topics[i]);
	if (skus) {
		mp_write_lit(&c->out, "skus");
		mp_write_array(&c->out, ns);
		for (uint32_t i = 0; i < ns; i++)
			mp_write_cstr(&c->out, skus[i]);
	}
	return finish(c, id);
}

static const char *const all_topics[] = { "stock", "low_stock", "out_of_stock", "back_in_stock",
	"reservation", NULL };

/* The topics of a subscribe or unsubscribe reply, comma-separated. */
static void topics_of(const wire_reply *r, char *buf, size_t len)
{
	mp_cursor arr;
	uint32_t n;
	buf[0] = '\0';
	cr_assert(wire_get(r->result, "topics", &arr) && mp_read_array(&arr, &n), "no topics array");
	for (uint32_t i = 0; i < n; i++) {
		const char *s;
		uint32_t sl;
		cr_assert(mp_read_str(&arr, &s, &sl));
		snprintf(buf + strlen(buf), len - strlen(buf), "%s%.*s", i ? "," : "", (int)sl, s);
	}
}

Test(events, subscribe_answers_its_topics_and_refuses_what_is_not_one)
{
	start(NULL);
	wire_conn c;
	open_conn(&c);
	char got[256], code[64];
	wire_reply r = subscribe(&c, (const char *const[]){ "reservation", "stock", "stock", NULL }, NULL);
	ok(&r, "subscribe");
	topics_of(&r, got, sizeof(got));
	cr_assert_str_eq(got, "stock,reservation");

	r = subscribe(&c, (const char *const[]){ "stock", "weather", NULL }, NULL);
	wire_error_code(&r, code, sizeof(code));
	cr_assert_str_eq(code, ALLOT_ERR_BAD_REQUEST, "an unknown topic is BAD_REQUEST, got %s", code);
	r = subscribe(&c, (const char *const[]){ NULL }, NULL);
	wire_error_code(&r, code, sizeof(code));
	cr_assert_str_eq(code, ALLOT_ERR_BAD_REQUEST, "no topics is BAD_REQUEST, got %s", code);

	uint32_t id = next_msgid++;
	wire_request(&c, id, "unsubscribe");
	mp_write_map(&c.out, 0);
	r = finish(&c, id);
	ok(&r, "unsubscribe");
	topics_of(&r, got, sizeof(got));
	cr_assert_str_eq(got, "");
	wire_close(&c);
	stop();
}

Test(events, every_topic_carries_the_contract_fields_in_seq_order)
{
	start(NULL);
	wire_conn sub, act;
	open_conn(&sub);
	open_conn(&act);
	wire_reply r = subscribe(&sub, all_topics, NULL);
	ok(&r, "subscribe");
	sku_low_stock(&act, "A", 3);
	set_stock(&act, "A", "W1", 5);
	ev e;
	int64_t before = harness_wall_ms() - 1000;
	ev_expect(&sub, EVENT_MS, &e);
	cr_assert_str_eq(e.topic, "stock");
	cr_assert_str_eq(e.sku, "A");
	cr_assert_str_eq(e.location, "W1");
	cr_assert(e.on_hand == 5 && e.reserved == 0 && e.committed == 0 && e.available == 5);
	cr_assert_gt(e.at, before, "at is the time of the change (ms since the epoch): %lld",
	    (long long)e.at);
	int64_t seq = e.seq;
	ev_expect(&sub, EVENT_MS, &e);
	cr_assert_str_eq(e.topic, "back_in_stock", "a new sku's total rose from 0: %s", e.topic);
	cr_assert_eq(e.available, 5);
	cr_assert_eq(e.seq, ++seq, "seq goes up by one");

	char rid[32];
	reserve(&act, "o-1", "A", 3, 600000, rid, sizeof(rid), NULL);
	ev_expect(&sub, EVENT_MS, &e);
	cr_assert_str_eq(e.topic, "reservation");
	cr_assert_str_eq(e.reservation_id, rid);
	cr_assert_str_eq(e.order_id, "o-1");
	cr_assert_str_eq(e.status, "held");
	cr_assert_eq(e.seq, ++seq);
	ev_expect(&sub, EVENT_MS, &e);
	cr_assert(strcmp(e.topic, "stock") == 0 && e.reserved == 3 && e.available == 2);
	ev_expect(&sub, EVENT_MS, &e);
	cr_assert_str_eq(e.topic, "low_stock");
	cr_assert(e.available == 2 && e.threshold == 3, "low_stock %lld of %lld", (long long)e.available,
	    (long long)e.threshold);
	cr_assert_eq(e.seq, seq + 2);
	seq = e.seq;

	char rid2[32];
	reserve(&act, "o-2", "A", 2, 600000, rid2, sizeof(rid2), NULL);
	const char *want[] = { "reservation", "stock", "out_of_stock" };
	for (int i = 0; i < 3; i++) {
		ev_expect(&sub, EVENT_MS, &e);
		cr_assert_str_eq(e.topic, want[i]);
		cr_assert_eq(e.seq, ++seq);
	}
	cr_assert_str_eq(e.sku, "A");
	/* Committing changes no available: a reservation event and no stock. */
	by_id(&act, "commit", rid);
	by_id(&act, "release", rid2);
	const char *want2[] = { "reservation", "reservation", "stock", "back_in_stock" };
	const char *status[] = { "committed", "released" };
	for (int i = 0; i < 4; i++) {
		ev_expect(&sub, EVENT_MS, &e);
		cr_assert_str_eq(e.topic, want2[i], "event %d is %s", i, e.topic);
		if (i < 2)
			cr_assert_str_eq(e.status, status[i]);
	}
	cr_assert_eq(e.available, 2);
	by_id(&act, "fulfill", rid);
	ev_expect(&sub, EVENT_MS, &e);
	cr_assert(strcmp(e.status, "fulfilled") == 0 && strcmp(e.reservation_id, rid) == 0);
	cr_assert(!wire_more(&sub, 200), "fulfilling committed units changes no available: no stock event");
	wire_close(&sub);
	wire_close(&act);
	stop();
}

Test(events, the_skus_filter_keeps_only_their_events)
{
	start(NULL);
	wire_conn sub, act;
	open_conn(&sub);
	open_conn(&act);
	wire_reply r = subscribe(&sub, (const char *const[]){ "stock", "reservation", NULL },
	    (const char *const[]){ "B", NULL });
	ok(&r, "subscribe");
	set_stock(&act, "A", "W1", 5);
	set_stock(&act, "B", "W1", 5);
	char rid[32];
	reserve(&act, "o-a", "A", 1, 600000, rid, sizeof(rid), NULL);
	reserve(&act, "o-b", "B", 1, 600000, rid, sizeof(rid), NULL);
	ev e;
	const char *want[][2] = { { "stock", "B" }, { "reservation", "o-b" }, { "stock", "B" } };
	for (int i = 0; i < 3; i++) {
		ev_expect(&sub, EVENT_MS, &e);
		cr_assert_str_eq(e.topic, want[i][0]);
		cr_assert_str_eq(i == 1 ? e.order_id : e.sku, want[i][1]);
	}
	cr_assert(!wire_more(&sub, 200), "nothing of A");
	wire_close(&sub);
	wire_close(&act);
	stop();
}

Test(events, an_expiry_is_an_event_at_its_deadline)
{
	start(NULL);
	wire_conn sub, act;
	open_conn(&sub);
	open_conn(&act);
	set_stock(&act, "E", "W1", 2);
	wire_reply r = subscribe(&sub, (const char *const[]){ "reservation", "stock", NULL }, NULL);
	ok(&r, "subscribe");
	char rid[32];
	int64_t expires;
	reserve(&act, "o-e", "E", 2, 300, rid, sizeof(rid), &expires);
	ev e;
	ev_expect(&sub, EVENT_MS, &e);
	cr_assert_str_eq(e.status, "held");
	ev_expect(&sub, EVENT_MS, &e);
	cr_assert_eq(e.available, 0);
	/* Nobody calls: the sweep finds it, and the event says when it expired. */
	ev_expect(&sub, EVENT_MS, &e);
	cr_assert_str_eq(e.topic, "reservation");
	cr_assert_str_eq(e.reservation_id, rid);
	cr_assert_str_eq(e.status, "expired");
	cr_assert_eq(e.at, expires, "at %lld is the deadline %lld", (long long)e.at, (long long)expires);
	ev_expect(&sub, EVENT_MS, &e);
	cr_assert(strcmp(e.topic, "stock") == 0 && e.available == 2 && e.reserved == 0);
	wire_close(&sub);
	wire_close(&act);
	stop();
}

/* inbound.add, then a backordered reserve, then inbound.receive: the
 * receipt turns the backorder into stock held at W1, which the subscriber
 * hears as a reservation event (the hold keeps its state) and the record's
 * stock event. */
Test(events, a_receipt_that_fills_a_backorder_is_heard)
{
	start(NULL);
	wire_conn sub, act;
	open_conn(&sub);
	open_conn(&act);
	set_stock(&act, "R", "W1", 0);
	uint32_t id = next_msgid++;
	wire_request(&act, id, "inbound.add");
	mp_write_map(&act.out, 4);
	mp_write_lit(&act.out, "sku");
	mp_write_lit(&act.out, "R");
	mp_write_lit(&act.out, "location");
	mp_write_lit(&act.out, "W1");
	mp_write_lit(&act.out, "qty");
	mp_write_int(&act.out, 5);
	mp_write_lit(&act.out, "eta");
	mp_write_int(&act.out, 1900000000000);
	wire_reply r = finish(&act, id);
	ok(&r, "inbound.add");
	id = next_msgid++;
	wire_request(&act, id, "reserve");
	mp_write_map(&act.out, 3);
	mp_write_lit(&act.out, "order_id");
	mp_write_lit(&act.out, "o-r");
	mp_write_lit(&act.out, "lines");
	mp_write_array(&act.out, 1);
	mp_write_map(&act.out, 2);
	mp_write_lit(&act.out, "sku");
	mp_write_lit(&act.out, "R");
	mp_write_lit(&act.out, "qty");
	mp_write_int(&act.out, 2);
	mp_write_lit(&act.out, "allow_backorder");
	mp_write_bool(&act.out, true);
	r = finish(&act, id);
	ok(&r, "reserve");
	char rid[32];
	cr_assert(wire_get_text(r.result, "reservation_id", rid, sizeof(rid)));
	r = subscribe(&sub, (const char *const[]){ "reservation", "stock", NULL }, NULL);
	ok(&r, "subscribe");

	id = next_msgid++;
	wire_request(&act, id, "inbound.receive");
	mp_write_map(&act.out, 3);
	mp_write_lit(&act.out, "sku");
	mp_write_lit(&act.out, "R");
	mp_write_lit(&act.out, "location");
	mp_write_lit(&act.out, "W1");
	mp_write_lit(&act.out, "qty");
	mp_write_int(&act.out, 5);
	r = finish(&act, id);
	ok(&r, "inbound.receive");
	ev e;
	ev_expect(&sub, EVENT_MS, &e);
	cr_assert_str_eq(e.topic, "reservation");
	cr_assert_str_eq(e.reservation_id, rid);
	cr_assert_str_eq(e.status, "held");
	ev_expect(&sub, EVENT_MS, &e);
	cr_assert_str_eq(e.topic, "stock");
	cr_assert(strcmp(e.sku, "R") == 0 && strcmp(e.location, "W1") == 0);
	cr_assert(e.on_hand == 5 && e.reserved == 2 && e.available == 3,
	    "on_hand %lld reserved %lld available %lld", (long long)e.on_hand,
	    (long long)e.reserved, (long long)e.available);
	wire_close(&sub);
	wire_close(&act);
	stop();
}

#define SALE_ORDERS 600

/* A flash sale: one client pipelines SALE_ORDERS reserves of one unit on
 * one record in one write. Each is a reservation event, but the record's
 * stock events are coalesced per loop turn: far fewer, the last with the
 * record's final values. */
Test(events, a_flash_sale_gives_few_stock_events_with_the_latest_values)
{
	start(NULL);
	wire_conn sub, act;
	open_conn(&sub);
	open_conn(&act);
	set_stock(&act, "HOT", "W1", 1000);
	wire_reply r = subscribe(&sub, (const char *const[]){ "reservation", "stock", NULL }, NULL);
	ok(&r, "subscribe");
	uint32_t first = next_msgid;
	for (int i = 0; i < SALE_ORDERS; i++) {
		char order[32];
		snprintf(order, sizeof(order), "sale-%d", i);
		write_reserve(&act, next_msgid++, order, "HOT", 1, 600000);
	}
	int64_t deadline = harness_now_ms() + 30000;
	cr_assert_eq(wire_flush(&act, deadline), 0, "send: %s", act.error);
	for (int i = 0; i < SALE_ORDERS; i++) {
		wire_reply rep;
		cr_assert_eq(wire_reply_to(&act, first + (uint32_t)i, deadline, &rep), 0, "%s", act.error);
		ok(&rep, "reserve");
	}
	int held = 0, stock = 0;
	ev e, last = { 0 };
	int64_t seq = 0;
	while (held < SALE_ORDERS || last.reserved != SALE_ORDERS) {
		ev_expect(&sub, EVENT_MS, &e);
		cr_assert_gt(e.seq, seq, "seq in order");
		seq = e.seq;
		if (strcmp(e.topic, "reservation") == 0) {
			held++;
		} else {
			stock++;
			cr_assert_geq(e.reserved, last.reserved, "later values never go back");
			last = e;
		}
	}
	cr_assert_eq(held, SALE_ORDERS);
	cr_assert_leq(stock * 10, SALE_ORDERS, "%d stock events for %d reserves: not coalesced", stock,
	    SALE_ORDERS);
	cr_assert(last.on_hand == 1000 && last.reserved == SALE_ORDERS && last.available == 1000 - SALE_ORDERS,
	    "the last stock event carries the final values");
	cr_assert(!wire_more(&sub, 200), "nothing after the last");
	wire_close(&sub);
	wire_close(&act);
	stop();
}

/* A subscriber that never reads: past --subscriber-bytes-max behind it is
 * disconnected, and the client making the changes is answered throughout. */
Test(events, a_subscriber_that_never_reads_is_cut_off_and_nobody_waits, .timeout = 240)
{
	start((const char *const[]){ "--subscriber-bytes-max", "65536", NULL });
	wire_conn sub, act;
	open_conn(&sub);
	open_conn(&act);
	wire_reply r = subscribe(&sub, (const char *const[]){ "stock", NULL }, NULL);
	ok(&r, "subscribe");
	/* Batches of changes, each answered before the next; at most this
	 * many, far more bytes of events than any socket buffer holds. */
	enum { BATCH = 1000, BATCHES = 120 };
	int64_t changes = 0;
	for (int b = 0; b < BATCHES; b++) {
		uint32_t first = next_msgid;
		for (int i = 0; i < BATCH; i++) {
			char sku[32];
			snprintf(sku, sizeof(sku), "slow-%d", i);
			wire_request(&act, next_msgid++, "stock.set");
			mp_write_map(&act.out, 3);
			mp_write_lit(&act.out, "sku");
			mp_write_cstr(&act.out, sku);
			mp_write_lit(&act.out, "location");
			mp_write_lit(&act.out, "a-location-with-a-longish-name");
			mp_write_lit(&act.out, "on_hand");
			mp_write_int(&act.out, b + 1);
		}
		int64_t deadline = harness_now_ms() + CALL_MS;
		cr_assert_eq(wire_flush(&act, deadline), 0, "send: %s", act.error);
		for (int i = 0; i < BATCH; i++) {
			wire_reply rep;
			cr_assert_eq(wire_reply_to(&act, first + (uint32_t)i, deadline, &rep), 0,
			    "batch %d: the other client waited: %s", b, act.error);
			ok(&rep, "stock.set");
		}
		changes += BATCH;
	}
	/* Now read what the subscriber was sent: it ends, closed, well short
	 * of every event. */
	int64_t got = 0;
	ev e;
	int rc;
	while ((rc = ev_next(&sub, harness_now_ms() + EVENT_MS, &e)) == WIRE_OK)
		got++;
	cr_assert_eq(rc, WIRE_CLOSED, "the subscriber was not disconnected (%d): %s", rc, sub.error);
	cr_assert_lt(got, changes, "it got %lld of %lld events", (long long)got, (long long)changes);
	/* The server goes on. */
	set_stock(&act, "after", "W1", 1);
	wire_close(&sub);
	wire_close(&act);
	stop();
}

Test(events, pynvim_subscribes_and_reads_events_as_notifications, .timeout = 120)
{
	const char *client = getenv("PYNVIM_CLIENT");
	cr_assert(client != NULL && client[0] != '\0', "PYNVIM_CLIENT is not set");
	char script[1024];
	snprintf(script, sizeof(script), "%s", client);
	char *slash = strrchr(script, '/');
	cr_assert_not_null(slash);
	snprintf(slash + 1, sizeof(script) - (size_t)(slash + 1 - script), "pynvim_events.py");
	start(NULL);
	char port[16];
	snprintf(port, sizeof(port), "%d", srv->port);
	const char *argv[] = { PYTHON, script, HARNESS_HOST, port, NULL };
	char *out = NULL, *errs = NULL;
	int status = harness_run(argv, 60000, &out, &errs);
	cr_assert_eq(status, 0, "pynvim_events.py exited %d\nstdout:\n%s\nstderr:\n%s", status,
	    out ? out : "", errs ? errs : "");
	free(out);
	free(errs);
	stop();
}

/* allot watch prints each event as one compact JSON line and exits 0 on
 * SIGINT. */
Test(events, allot_watch_prints_json_lines_until_interrupted, .timeout = 60)
{
	const char *cli = getenv("ALLOT_CLI");
	cr_assert(cli != NULL && cli[0] != '\0', "ALLOT_CLI is not set");
	start(NULL);
	char port[16], path[] = "/tmp/allot-watch-XXXXXX";
	snprintf(port, sizeof(port), "%d", srv->port);
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	const char *argv[] = { cli, "--port", port, "watch", "stock", "reservation", "--sku", "W-1",
		NULL };
	pid_t pid = harness_spawn(argv, fd, 2);
	cr_assert_gt(pid, 0);
	wire_conn act;
	open_conn(&act);
	/* It is subscribed once a change shows up in its output. */
	char buf[8192] = "";
	int64_t deadline = harness_now_ms() + EVENT_MS;
	for (int64_t n = 1; strstr(buf, "\"topic\":\"stock\"") == NULL; n++) {
		cr_assert_lt(harness_now_ms(), deadline, "allot watch printed nothing: %s", buf);
		set_stock(&act, "W-1", "W1", n);
		harness_sleep_ms(50);
		ssize_t len = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[len > 0 ? len : 0] = '\0';
	}
	set_stock(&act, "other", "W1", 3);
	char rid[32];
	reserve(&act, "o-w", "W-1", 1, 600000, rid, sizeof(rid), NULL);
	deadline = harness_now_ms() + EVENT_MS;
	while (strstr(buf, rid) == NULL || strstr(buf, "\"reserved\":1") == NULL) {
		cr_assert_lt(harness_now_ms(), deadline, "no reservation event: %s", buf);
		harness_sleep_ms(50);
		ssize_t len = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[len > 0 ? len : 0] = '\0';
	}
	kill(pid, SIGINT);
	int status = harness_wait_child(pid, harness_now_ms() + 5000);
	cr_assert_eq(status, 0, "allot watch exited %d on SIGINT", status);
	ssize_t len = pread(fd, buf, sizeof(buf) - 1, 0);
	buf[len > 0 ? len : 0] = '\0';
	close(fd);
	unlink(path);
	cr_assert_null(strstr(buf, "other"), "the sku filter: %s", buf);
	/* One compact object per line. */
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		cr_assert(line[0] == '{' && line[strlen(line) - 1] == '}', "not a JSON line: %s", line);
		cr_assert_null(strchr(line, ' '), "not compact: %s", line);
		cr_assert_not_null(strstr(line, "\"seq\":"), "no seq: %s", line);
	}
	wire_close(&act);
	stop();
}
