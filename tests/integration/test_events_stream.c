/*
 * test_events_stream.c - the event stream in Redis (allot:{NS}:events): a
 * consumer reading it with XREAD across a kill -9 of allotd sees every
 * event of every acknowledged change, once, in order of seq, and seq goes
 * on across the restart with no gap.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "durable.h"
#include "events_util.h"
#include "redis_harness.h"

#define CALL_MS 10000
#define NS "evs"
#define KEY "allot:{" NS "}:events"
#define SEQUENTIAL 40
#define PIPELINED 300
#define READ_BEFORE_KILL 100
#define AFTER 20
#define ENTRIES_MAX 4096

typedef struct entry {
	uint64_t seq;
	char topic[32], rid[32], status[16];
} entry;

static entry entries[ENTRIES_MAX];
static size_t nentries;
static char last_id[64] = "0-0";

static const redisReply *field(const redisReply *fields, const char *name)
{
	for (size_t i = 0; i + 1 < fields->elements; i += 2)
		if (strcmp(fields->element[i]->str, name) == 0)
			return fields->element[i + 1];
	cr_assert_fail("a stream entry without the field %s", name);
	return NULL;
}

static size_t stream_entries; /* entries read, each holding 1.. events */
static size_t full_entries;   /* of them, those of DURABLE_EVENTS_PER_ENTRY */

static void copy_str(mp_cursor *cur, char *dst, size_t cap)
{
	const char *p;
	uint32_t len;
	cr_assert(mp_read_str(cur, &p, &len) && len < cap, "a stream item's string");
	memcpy(dst, p, len);
	dst[len] = '\0';
}

/* One event of an entry: [topic, seq, at, ...], the notification's values
 * in its order (proto/PROTOCOL.md). Only reservations' fields are kept. */
static void read_item(mp_cursor *cur, entry *x)
{
	uint32_t n;
	int64_t at;
	memset(x, 0, sizeof(*x));
	cr_assert(mp_read_array(cur, &n) && n >= 4, "a stream item that is not [topic, seq, at, ...]");
	copy_str(cur, x->topic, sizeof(x->topic));
	cr_assert(mp_read_uint(cur, &x->seq) && mp_read_int(cur, &at) && at > 0, "seq and at of %s",
	    x->topic);
	static const struct { const char *topic; uint32_t n; } shape[] = { { "stock", 9 },
		{ "low_stock", 6 }, { "out_of_stock", 4 }, { "back_in_stock", 5 }, { "reservation", 6 } };
	bool known = false;
	for (size_t i = 0; i < sizeof(shape) / sizeof(shape[0]); i++)
		if (strcmp(shape[i].topic, x->topic) == 0) {
			cr_assert_eq(n, shape[i].n, "a %s item of %u values", x->topic, n);
			known = true;
		}
	cr_assert(known, "an item of topic %s", x->topic);
	if (strcmp(x->topic, "reservation") == 0) {
		char order[136];
		copy_str(cur, x->rid, sizeof(x->rid));
		copy_str(cur, order, sizeof(order));
		copy_str(cur, x->status, sizeof(x->status));
		return;
	}
	/* The rest: sku, then (stock) location, then numbers. */
	char sku[72], location[72];
	copy_str(cur, sku, sizeof(sku));
	cr_assert(sku[0] != '\0', "a %s item without its sku", x->topic);
	uint32_t i = 4;
	if (strcmp(x->topic, "stock") == 0) {
		copy_str(cur, location, sizeof(location));
		i++;
	}
	for (int64_t v; i < n; i++)
		cr_assert(mp_read_int(cur, &v), "a %s item's number %u", x->topic, i);
}

/* One stream entry: id "<last seq>-0", n, and events, a MessagePack array
 * of the events' items in seq order. */
static void read_entry(const redisReply *it)
{
	const redisReply *fields = it->element[1];
	char *end;
	uint64_t last = strtoull(it->element[0]->str, &end, 10);
	cr_assert_str_eq(end, "-0", "stream id %s is not <seq>-0", it->element[0]->str);
	unsigned long n = strtoul(field(fields, DURABLE_EVENTS_COUNT_FIELD)->str, NULL, 10);
	const redisReply *blob = field(fields, DURABLE_EVENTS_FIELD);
	mp_cursor cur;
	mp_cursor_init(&cur, (const uint8_t *)blob->str, blob->len);
	uint32_t count;
	cr_assert(mp_read_array(&cur, &count), "events is not an array");
	cr_assert(count == n && n >= 1 && n <= DURABLE_EVENTS_PER_ENTRY, "an entry of %u events says n %lu",
	    count, n);
	if (n == DURABLE_EVENTS_PER_ENTRY)
		full_entries++;
	for (uint32_t k = 0; k < count; k++) {
		cr_assert_lt(nentries, ENTRIES_MAX);
		entry *x = &entries[nentries++];
		read_item(&cur, x);
		cr_assert(k == 0 || x->seq == x[-1].seq + 1, "an entry's events are not consecutive");
	}
	cr_assert_eq(cur.p, cur.end, "bytes after the events of entry %s", it->element[0]->str);
	cr_assert_eq(entries[nentries - 1].seq, last, "entry %s ends with seq %llu",
	    it->element[0]->str, (unsigned long long)entries[nentries - 1].seq);
	stream_entries++;
}

/* XREAD from where the consumer stopped until nothing is left. */
static void consume(redisContext *rc)
{
	for (int rounds = 0; rounds < 100; rounds++) {
		redisReply *r = redisCommand(rc, "XREAD COUNT 500 STREAMS %s %s", KEY, last_id);
		cr_assert_not_null(r, "XREAD: %s", rc->errstr);
		if (r->type == REDIS_REPLY_NIL) {
			freeReplyObject(r);
			return;
		}
		cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
		const redisReply *items = r->element[0]->element[1];
		for (size_t i = 0; i < items->elements; i++) {
			read_entry(items->element[i]);
			snprintf(last_id, sizeof(last_id), "%s", items->element[i]->element[0]->str);
		}
		freeReplyObject(r);
	}
	cr_assert_fail("the stream did not end");
}

static int count_of(const char *rid, const char *status)
{
	int n = 0;
	for (size_t i = 0; i < nentries; i++)
		n += strcmp(entries[i].rid, rid) == 0 && strcmp(entries[i].status, status) == 0;
	return n;
}

/* reserve {order_id, lines: [{sku, qty: 1}], ttl_ms, allow_backorder?}. */
static void write_hold(wire_conn *c, uint32_t id, const char *order, const char *sku, int64_t ttl_ms,
    bool backorder)
{
	wire_request(c, id, "reserve");
	mp_write_map(&c->out, backorder ? 4 : 3);
	mp_write_lit(&c->out, "order_id");
	mp_write_cstr(&c->out, order);
	mp_write_lit(&c->out, "lines");
	mp_write_array(&c->out, 1);
	mp_write_map(&c->out, 2);
	mp_write_lit(&c->out, "sku");
	mp_write_cstr(&c->out, sku);
	mp_write_lit(&c->out, "qty");
	mp_write_int(&c->out, 1);
	mp_write_lit(&c->out, "ttl_ms");
	mp_write_int(&c->out, ttl_ms);
	if (backorder) {
		mp_write_lit(&c->out, "allow_backorder");
		mp_write_bool(&c->out, true);
	}
}

static void write_reserve(wire_conn *c, uint32_t id, int order)
{
	char name[32];
	snprintf(name, sizeof(name), "o-%d", order);
	write_hold(c, id, name, "K", 600000, false);
}

/* The acknowledged changes: reserves' ids, and which were committed. */
static char held[SEQUENTIAL + PIPELINED + AFTER][32];
static bool committed[SEQUENTIAL + PIPELINED + AFTER];
static int nheld;

static void reply_of(wire_conn *c, uint32_t id, int64_t deadline, bool keep)
{
	wire_reply r;
	cr_assert_eq(wire_reply_to(c, id, deadline, &r), 0, "%s", c->error);
	cr_assert(!r.failed, "a change failed");
	if (keep) {
		cr_assert(wire_get_text(r.result, "reservation_id", held[nheld], sizeof(held[0])));
		nheld++;
	}
}

/* Send what is written on c and expect request id to succeed. */
static void call_ok(wire_conn *c, uint32_t id)
{
	int64_t deadline = harness_now_ms() + CALL_MS;
	cr_assert_eq(wire_flush(c, deadline), 0, "%s", c->error);
	reply_of(c, id, deadline, false);
}

static uint32_t msgid = 1;

static void one(wire_conn *c, int order, bool commit_it)
{
	uint32_t id = msgid++;
	write_reserve(c, id, order);
	int64_t deadline = harness_now_ms() + CALL_MS;
	cr_assert_eq(wire_flush(c, deadline), 0, "%s", c->error);
	reply_of(c, id, deadline, true);
	if (!commit_it)
		return;
	id = msgid++;
	wire_request(c, id, "commit");
	mp_write_map(&c->out, 1);
	mp_write_lit(&c->out, "reservation_id");
	mp_write_cstr(&c->out, held[nheld - 1]);
	cr_assert_eq(wire_flush(c, deadline), 0, "%s", c->error);
	reply_of(c, id, deadline, false);
	committed[nheld - 1] = true;
}

static harness_server *up(redis_server *rs, wire_conn *c)
{
	char err[1024];
	harness_server *s = allotd_start_durable(rs, NS, NULL, err, sizeof(err));
	cr_assert_not_null(s, "cannot start allotd: %s", err);
	cr_assert_eq(wire_open(c, s->port, CALL_MS), 0, "%s", c->error);
	return s;
}

static void set_k(wire_conn *c, int64_t on_hand)
{
	uint32_t id = msgid++;
	wire_request(c, id, "stock.set");
	mp_write_map(&c->out, 3);
	mp_write_lit(&c->out, "sku");
	mp_write_lit(&c->out, "K");
	mp_write_lit(&c->out, "location");
	mp_write_lit(&c->out, "W1");
	mp_write_lit(&c->out, "on_hand");
	mp_write_int(&c->out, on_hand);
	call_ok(c, id);
}

Test(events_stream, xread_across_kill9_sees_every_acknowledged_event_once_in_seq_order,
    .timeout = 240)
{
	char err[512];
	redis_server *rs = redis_server_start(err, sizeof(err));
	cr_assert_not_null(rs, "cannot start redis-server: %s", err);
	redisContext *rc = redis_server_connect(rs, CALL_MS, err, sizeof(err));
	cr_assert_not_null(rc, "%s", err);
	wire_conn c;
	harness_server *srv = up(rs, &c);

	set_k(&c, 100000);
	for (int i = 0; i < SEQUENTIAL; i++)
		one(&c, i, i % 4 == 0);
	consume(rc);

	/* A burst in flight: some acknowledged, then kill -9. */
	uint32_t first = msgid;
	for (int i = 0; i < PIPELINED; i++)
		write_reserve(&c, msgid++, SEQUENTIAL + i);
	int64_t deadline = harness_now_ms() + CALL_MS;
	cr_assert_eq(wire_flush(&c, deadline), 0, "%s", c.error);
	for (int i = 0; i < READ_BEFORE_KILL; i++)
		reply_of(&c, first + (uint32_t)i, deadline, true);
	cr_assert_eq(allotd_kill(srv), 128 + 9);
	wire_close(&c);

	srv = up(rs, &c);
	for (int i = 0; i < AFTER; i++)
		one(&c, SEQUENTIAL + PIPELINED + i, i % 2 == 0);
	consume(rc);

	/* Every seq once, from 1, in order, with no gap across the kill. */
	cr_assert_geq(nentries, (size_t)nheld, "%zu entries for %d acknowledged reserves", nentries, nheld);
	cr_assert_eq(nheld, SEQUENTIAL + READ_BEFORE_KILL + AFTER);
	for (size_t i = 0; i < nentries; i++)
		cr_assert_eq(entries[i].seq, i + 1, "entry %zu has seq %llu", i,
		    (unsigned long long)entries[i].seq);
	for (int i = 0; i < nheld; i++) {
		cr_assert_eq(count_of(held[i], "held"), 1, "reservation %s (acknowledged) is held %d "
		    "times in the stream", held[i], count_of(held[i], "held"));
		cr_assert_eq(count_of(held[i], "committed"), committed[i] ? 1 : 0,
		    "reservation %s committed %d times", held[i], count_of(held[i], "committed"));
	}
	/* Nothing twice, acknowledged or not. */
	for (size_t i = 0; i < nentries; i++)
		if (entries[i].rid[0])
			cr_assert_eq(count_of(entries[i].rid, entries[i].status), 1, "%s %s twice",
			    entries[i].rid, entries[i].status);

	/* A live subscriber's seq goes on from the stream's. */
	wire_conn sub;
	cr_assert_eq(wire_open(&sub, srv->port, CALL_MS), 0, "%s", sub.error);
	uint32_t id = msgid++;
	wire_request(&sub, id, "subscribe");
	mp_write_map(&sub.out, 1);
	mp_write_lit(&sub.out, "topics");
	mp_write_array(&sub.out, 1);
	mp_write_lit(&sub.out, "reservation");
	deadline = harness_now_ms() + CALL_MS;
	cr_assert_eq(wire_flush(&sub, deadline), 0, "%s", sub.error);
	reply_of(&sub, id, deadline, false);
	one(&c, 99999, false);
	ev e;
	ev_expect(&sub, CALL_MS, &e);
	consume(rc);
	cr_assert_eq((uint64_t)e.seq, entries[nentries - 1].seq - 1,
	    "the notification's seq %lld is the stream's (then its stock event)", (long long)e.seq);
	wire_close(&sub);
	wire_close(&c);
	cr_assert_eq(harness_server_stop(srv), 0);
	redisFree(rc);
	redis_server_destroy(rs);
}

static void subscribe_all(wire_conn *sub)
{
	uint32_t id = msgid++;
	wire_request(sub, id, "subscribe");
	mp_write_map(&sub->out, 1);
	mp_write_lit(&sub->out, "topics");
	mp_write_array(&sub->out, 2);
	mp_write_lit(&sub->out, "reservation");
	mp_write_lit(&sub->out, "stock");
	call_ok(sub, id);
}

/* In sync mode an event leaves only once its change is durable: while
 * Redis does not answer, neither the reply nor the event comes. An expiry
 * (no journal record) is in the stream too, at its deadline. */
Test(events_stream, sync_events_wait_for_durability_and_expiries_reach_the_stream,
    .timeout = 120)
{
	char err[512];
	redis_server *rs = redis_server_start(err, sizeof(err));
	cr_assert_not_null(rs, "cannot start redis-server: %s", err);
	redisContext *rc = redis_server_connect(rs, CALL_MS, err, sizeof(err));
	cr_assert_not_null(rc, "%s", err);
	wire_conn c, sub;
	harness_server *srv = up(rs, &c);
	cr_assert_eq(wire_open(&sub, srv->port, CALL_MS), 0, "%s", sub.error);
	set_k(&c, 10);
	subscribe_all(&sub);

	cr_assert_eq(redis_server_pause(rs), 0);
	uint32_t id = msgid++;
	write_reserve(&c, id, 1);
	cr_assert_eq(wire_flush(&c, harness_now_ms() + CALL_MS), 0, "%s", c.error);
	bool early = wire_more(&sub, 700);
	cr_assert_eq(redis_server_resume(rs), 0);
	cr_assert(!early, "an event came before its change was durable");
	reply_of(&c, id, harness_now_ms() + CALL_MS, true);
	ev e;
	ev_expect(&sub, CALL_MS, &e);
	cr_assert(strcmp(e.topic, "reservation") == 0 && strcmp(e.reservation_id, held[nheld - 1]) == 0);
	ev_expect(&sub, CALL_MS, &e);
	cr_assert_str_eq(e.topic, "stock");

	/* A hold of 300 ms, left to expire. */
	id = msgid++;
	write_hold(&c, id, "short", "K", 300, false);
	int64_t deadline = harness_now_ms() + CALL_MS;
	cr_assert_eq(wire_flush(&c, deadline), 0, "%s", c.error);
	wire_reply r;
	cr_assert_eq(wire_reply_to(&c, id, deadline, &r), 0, "%s", c.error);
	char rid[32];
	int64_t expires;
	cr_assert(wire_get_text(r.result, "reservation_id", rid, sizeof(rid)) &&
	    wire_get_int(r.result, "expires_at", &expires));
	do
		ev_expect(&sub, CALL_MS, &e);
	while (strcmp(e.status, "expired") != 0);
	cr_assert_eq(e.at, expires);
	/* The stream has it once its write is acknowledged: wait for it. */
	bool found = false;
	for (int tries = 0; !found && tries < 100; tries++) {
		consume(rc);
		found = count_of(rid, "expired") == 1;
		if (!found)
			harness_sleep_ms(50);
	}
	cr_assert(found, "the expiry of %s is not in the stream", rid);
	wire_close(&sub);
	wire_close(&c);
	cr_assert_eq(harness_server_stop(srv), 0);
	redisFree(rc);
	redis_server_destroy(rs);
}

Test(events_stream, events_keep_0_writes_no_stream, .timeout = 60)
{
	char err[1024];
	redis_server *rs = redis_server_start(err, sizeof(err));
	cr_assert_not_null(rs, "cannot start redis-server: %s", err);
	harness_server *srv = allotd_start_durable(rs, NS, (const char *const[]){ "--events-keep", "0",
	    NULL }, err, sizeof(err));
	cr_assert_not_null(srv, "cannot start allotd: %s", err);
	wire_conn c;
	cr_assert_eq(wire_open(&c, srv->port, CALL_MS), 0, "%s", c.error);
	set_k(&c, 10);
	one(&c, 1, true);
	const char *const words[] = { "EXISTS", KEY, NULL };
	redisReply *r = redis_server_command(rs, err, sizeof(err), words);
	cr_assert_not_null(r, "%s", err);
	cr_assert_eq(r->integer, 0, "the stream exists with --events-keep 0");
	freeReplyObject(r);
	wire_close(&c);
	cr_assert_eq(harness_server_stop(srv), 0);
	redis_server_destroy(rs);
}

/* Redis killed under a burst and started again: allotd writes its
 * unacknowledged batches again; those that had landed are refused entry by
 * entry and not written twice, and the stream stays one entry per seq. */
Test(events_stream, a_redis_restart_under_load_writes_no_event_twice, .timeout = 120)
{
	char err[512];
	redis_server *rs = redis_server_start(err, sizeof(err));
	cr_assert_not_null(rs, "cannot start redis-server: %s", err);
	wire_conn c;
	harness_server *srv = up(rs, &c);
	set_k(&c, 100000);
	for (int i = 0; i < 10; i++)
		one(&c, i, false);
	/* The burst's batches are written to a Redis that does not read
	 * them, and then it dies: they must be written again. */
	cr_assert_eq(redis_server_pause(rs), 0);
	uint32_t first = msgid;
	for (int i = 0; i < PIPELINED; i++)
		write_reserve(&c, msgid++, 10 + i);
	int64_t deadline = harness_now_ms() + CALL_MS;
	cr_assert_eq(wire_flush(&c, deadline), 0, "%s", c.error);
	cr_assert(!wire_more(&c, 300), "a reply came while Redis was stopped");
	cr_assert_eq(redis_server_kill(rs), 128 + 9);
	cr_assert_eq(redis_server_restart(rs, err, sizeof(err)), 0, "%s", err);
	/* Every change was accepted before the loss: each is answered once
	 * allotd has written it again. */
	deadline = harness_now_ms() + 30000;
	for (int i = 0; i < PIPELINED; i++)
		reply_of(&c, first + (uint32_t)i, deadline, true);
	cr_assert_eq(nheld, 10 + PIPELINED);
	redisContext *rc = redis_server_connect(rs, CALL_MS, err, sizeof(err));
	cr_assert_not_null(rc, "%s", err);
	consume(rc);
	for (size_t i = 0; i < nentries; i++)
		cr_assert_eq(entries[i].seq, i + 1, "entry %zu has seq %llu", i,
		    (unsigned long long)entries[i].seq);
	for (int i = 0; i < nheld; i++)
		cr_assert_eq(count_of(held[i], "held"), 1, "%s is held %d times in the stream", held[i],
		    count_of(held[i], "held"));
	wire_close(&c);
	cr_assert_eq(harness_server_stop(srv), 0);
	redisFree(rc);
	redis_server_destroy(rs);
}

/* B's backorders, made one by one, then filled by one receipt: that turn's
 * events pass DURABLE_EVENTS_PER_ENTRY and are split into entries. With a
 * small --events-keep, older entries are trimmed and the newest events stay. */
#define BACKORDERS 600
#define KEEP 300

Test(events_stream, a_turn_of_many_events_is_split_into_entries_and_old_ones_trimmed, .timeout = 120)
{
	char err[1024];
	redis_server *rs = redis_server_start(err, sizeof(err));
	cr_assert_not_null(rs, "cannot start redis-server: %s", err);
	harness_server *srv = allotd_start_durable(rs, NS, (const char *const[]){ "--events-keep",
	    "300", NULL }, err, sizeof(err));
	cr_assert_not_null(srv, "cannot start allotd: %s", err);
	wire_conn c;
	cr_assert_eq(wire_open(&c, srv->port, CALL_MS), 0, "%s", c.error);
	set_k(&c, 10); /* makes location W1 */
	uint32_t id = msgid++;
	wire_request(&c, id, "inbound.add");
	mp_write_map(&c.out, 4);
	mp_write_lit(&c.out, "sku");
	mp_write_lit(&c.out, "B");
	mp_write_lit(&c.out, "location");
	mp_write_lit(&c.out, "W1");
	mp_write_lit(&c.out, "qty");
	mp_write_int(&c.out, BACKORDERS);
	mp_write_lit(&c.out, "eta");
	mp_write_int(&c.out, harness_now_ms() + 86400000);
	call_ok(&c, id);
	for (int i = 0; i < BACKORDERS; i++) {
		id = msgid++;
		write_hold(&c, id, "bo", "B", 600000, true);
		call_ok(&c, id);
	}
	id = msgid++;
	wire_request(&c, id, "inbound.receive");
	mp_write_map(&c.out, 3);
	mp_write_lit(&c.out, "sku");
	mp_write_lit(&c.out, "B");
	mp_write_lit(&c.out, "location");
	mp_write_lit(&c.out, "W1");
	mp_write_lit(&c.out, "qty");
	mp_write_int(&c.out, BACKORDERS);
	call_ok(&c, id);

	redisContext *rc = redis_server_connect(rs, CALL_MS, err, sizeof(err));
	cr_assert_not_null(rc, "%s", err);
	nentries = full_entries = 0;
	snprintf(last_id, sizeof(last_id), "0-0");
	consume(rc);
	/* The receipt's turn alone has BACKORDERS reservation events, split
	 * into full entries and the rest (the oldest may be trimmed already). */
	cr_assert_geq(full_entries, 1, "%zu full entries", full_entries);
	/* The newest KEEP events at least, each once and in order, up to the
	 * last; the oldest are gone. */
	cr_assert_geq(nentries, (size_t)KEEP, "%zu events kept", nentries);
	cr_assert_gt(entries[0].seq, 1, "nothing was trimmed");
	for (size_t i = 1; i < nentries; i++)
		cr_assert_eq(entries[i].seq, entries[i - 1].seq + 1, "seq %llu after %llu",
		    (unsigned long long)entries[i].seq, (unsigned long long)entries[i - 1].seq);
	/* The receipt's turn is last: its reservation events come before its
	 * few stock and sku events, so nearly all the newest KEEP are held. */
	size_t held_n = 0;
	for (size_t i = nentries - KEEP; i < nentries; i++)
		held_n += strcmp(entries[i].status, "held") == 0;
	cr_assert_geq(held_n, (size_t)KEEP - 8, "%zu of the newest %d events are holds filled", held_n,
	    KEEP);
	wire_close(&c);
	cr_assert_eq(harness_server_stop(srv), 0);
	redisFree(rc);
	redis_server_destroy(rs);
}
