/*
 * test_spsc.c - the single-producer single-consumer ring (engine/spsc.h):
 * empty and full, records that wrap past the array's end, batches that
 * appear only once published, and two threads passing a bounded count of
 * records whose order and content the consumer checks.
 */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "spsc.h"

#define RING_SMALL 256u

/* A record whose bytes say which it is: byte i of record seq is seq + i. */
static void fill(uint8_t *p, size_t len, uint64_t seq)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seq + i);
}

static bool holds(const uint8_t *p, size_t len, uint64_t seq)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != (uint8_t)(seq + i))
			return false;
	return true;
}

static bool push(spsc_ring *r, size_t len, uint64_t seq)
{
	uint8_t *p = spsc_reserve(r, len);
	if (p == NULL)
		return false;
	fill(p, len, seq);
	spsc_publish(r);
	return true;
}

Test(spsc, starts_empty_and_takes_records_in_order)
{
	spsc_ring r;
	size_t len;
	cr_assert_eq(spsc_init(&r, RING_SMALL), 0);
	cr_assert_null(spsc_peek(&r, &len));
	cr_assert_eq(spsc_room(&r), RING_SMALL);
	cr_assert(push(&r, 5, 1));
	cr_assert(push(&r, 0, 2));
	cr_assert(push(&r, 16, 3));
	const uint8_t *p = spsc_peek(&r, &len);
	cr_assert(p != NULL && len == 5 && holds(p, 5, 1));
	/* Peeking again gives the same record until it is popped. */
	cr_assert_eq(spsc_peek(&r, &len), p);
	spsc_pop(&r);
	p = spsc_peek(&r, &len);
	cr_assert(p != NULL && len == 0);
	spsc_pop(&r);
	p = spsc_peek(&r, &len);
	cr_assert(p != NULL && len == 16 && holds(p, 16, 3));
	spsc_pop(&r);
	cr_assert_null(spsc_peek(&r, &len));
	cr_assert_eq(spsc_room(&r), RING_SMALL);
	spsc_finish(&r);
}

Test(spsc, full_refuses_until_the_consumer_pops)
{
	spsc_ring r;
	size_t len;
	cr_assert_eq(spsc_init(&r, RING_SMALL), 0);
	/* 24 payload bytes: 32 with the header, 8 records fill the ring. */
	for (uint64_t i = 0; i < RING_SMALL / 32; i++)
		cr_assert(push(&r, 24, i), "record %llu should fit", (unsigned long long)i);
	cr_assert_eq(spsc_room(&r), 0);
	cr_assert_null(spsc_reserve(&r, 0), "a full ring takes nothing");
	cr_assert_null(spsc_reserve(&r, 24));
	const uint8_t *p = spsc_peek(&r, &len);
	cr_assert(p != NULL && holds(p, 24, 0));
	spsc_pop(&r);
	cr_assert(push(&r, 24, 100), "one popped makes room for one");
	cr_assert_null(spsc_reserve(&r, 0));
	for (uint64_t i = 1; i < RING_SMALL / 32; i++) {
		p = spsc_peek(&r, &len);
		cr_assert(p != NULL && len == 24 && holds(p, 24, i));
		spsc_pop(&r);
	}
	p = spsc_peek(&r, &len);
	cr_assert(p != NULL && holds(p, 24, 100), "the record after the wrap comes last");
	spsc_pop(&r);
	cr_assert_null(spsc_peek(&r, &len));
	spsc_finish(&r);
}

Test(spsc, a_record_that_would_cross_the_end_starts_at_zero)
{
	spsc_ring r;
	size_t len;
	cr_assert_eq(spsc_init(&r, RING_SMALL), 0);
	/* 128 + 72 = 200 bytes used; 56 to the end. */
	cr_assert(push(&r, 120, 1));
	cr_assert(push(&r, 64, 1));
	const uint8_t *first = spsc_peek(&r, &len);
	spsc_pop(&r);
	spsc_peek(&r, &len);
	spsc_pop(&r);
	/* 64 bytes with the header do not fit in the 56 left: padding, then
	 * the record at the array's start, whole. */
	uint8_t *p = spsc_reserve(&r, 56);
	cr_assert_not_null(p);
	cr_assert_eq(p, first, "the record is at the array's start");
	fill(p, 56, 2);
	spsc_publish(&r);
	cr_assert_eq(spsc_room(&r), RING_SMALL - 56 - 64, "the padding counts until popped");
	const uint8_t *q = spsc_peek(&r, &len);
	cr_assert(q == p && len == 56 && holds(q, 56, 2), "the consumer skips the padding");
	spsc_pop(&r);
	cr_assert_eq(spsc_room(&r), RING_SMALL);
	/* The largest record fits in a drained ring wherever it stands. */
	for (uint64_t i = 0; i < 16; i++) {
		cr_assert(push(&r, spsc_payload_max(&r), i));
		q = spsc_peek(&r, &len);
		cr_assert(q != NULL && len == spsc_payload_max(&r) && holds(q, len, i));
		spsc_pop(&r);
		cr_assert(push(&r, 8 * (i % 5), i));
		spsc_peek(&r, &len);
		spsc_pop(&r);
	}
	spsc_finish(&r);
}

Test(spsc, reserved_records_appear_only_once_published)
{
	spsc_ring r;
	size_t len;
	cr_assert_eq(spsc_init(&r, RING_SMALL), 0);
	for (uint64_t i = 0; i < 3; i++) {
		uint8_t *p = spsc_reserve(&r, 10);
		cr_assert_not_null(p);
		fill(p, 10, i);
		cr_assert_null(spsc_peek(&r, &len), "record %llu is not published yet",
		    (unsigned long long)i);
	}
	spsc_publish(&r);
	for (uint64_t i = 0; i < 3; i++) {
		const uint8_t *p = spsc_peek(&r, &len);
		cr_assert(p != NULL && len == 10 && holds(p, 10, i));
		spsc_pop(&r);
	}
	cr_assert_null(spsc_peek(&r, &len));
	spsc_finish(&r);
}

/* ---- two threads ---------------------------------------------------------------- */

#define PASS_COUNT 200000u
#define PASS_RING 4096u

typedef struct pass {
	spsc_ring r;
	uint64_t full;  /* the producer's tries that found the ring full */
} pass;

/* Records of 0 to 300 bytes, their lengths drawn from their number, so
 * they wrap at every offset; published in batches of up to 4. */
static size_t pass_len(uint64_t seq)
{
	return (size_t)((seq * 2654435761u) % 301u);
}

static void *producer(void *arg)
{
	pass *ps = arg;
	uint64_t seq = 0;
	while (seq < PASS_COUNT) {
		uint32_t batch = 0;
		while (batch < 1 + seq % 4 && seq < PASS_COUNT) {
			size_t len = pass_len(seq);
			uint8_t *p = spsc_reserve(&ps->r, len + sizeof(seq));
			if (p == NULL)
				break;
			memcpy(p, &seq, sizeof(seq));
			fill(p + sizeof(seq), len, seq);
			seq++;
			batch++;
		}
		spsc_publish(&ps->r);
		if (batch == 0) {
			ps->full++;
			sched_yield();
		}
	}
	return NULL;
}

Test(spsc, two_threads_pass_every_record_in_order)
{
	pass ps = { 0 };
	cr_assert_eq(spsc_init(&ps.r, PASS_RING), 0);
	pthread_t tid;
	cr_assert_eq(pthread_create(&tid, NULL, producer, &ps), 0);
	uint64_t want = 0, bad = 0, empty = 0;
	while (want < PASS_COUNT) {
		size_t len;
		const uint8_t *p = spsc_peek(&ps.r, &len);
		if (p == NULL) {
			empty++;
			sched_yield();
			continue;
		}
		uint64_t seq;
		memcpy(&seq, p, sizeof(seq));
		if (seq != want || len != pass_len(seq) + sizeof(seq) ||
		    !holds(p + sizeof(seq), len - sizeof(seq), seq))
			bad++;
		spsc_pop(&ps.r);
		want++;
	}
	cr_assert_eq(pthread_join(tid, NULL), 0);
	size_t len;
	cr_assert_null(spsc_peek(&ps.r, &len), "nothing beyond the count");
	cr_assert_eq(bad, 0, "%llu records out of order or with the wrong bytes", (unsigned long long)bad);
	cr_assert_eq(spsc_room(&ps.r), PASS_RING);
	cr_log_info("ring full %llu times, empty %llu times", (unsigned long long)ps.full,
	    (unsigned long long)empty);
	spsc_finish(&ps.r);
}
