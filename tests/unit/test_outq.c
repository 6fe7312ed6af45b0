/*
 * test_outq.c - a connection's reply queue: order kept, gates opened by the
 * journal's acknowledgements, deferred replies written into their slots.
 */
#include "outq.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

/* Append text as one reply that may leave once the journal reaches lsn. */
static void reply(outq *q, const char *text, uint64_t lsn, uint64_t batch_first)
{
	mp_buf *b = outq_tail(q);
	cr_assert_not_null(b);
	size_t before = b->len;
	mp_write_raw(b, text, strlen(text));
	cr_assert(outq_wrote(q, before, lsn, batch_first));
}

/* Everything that may leave at acked, concatenated, then consumed. */
static void drain(outq *q, uint64_t acked, char *got, size_t cap)
{
	const uint8_t *base[8];
	size_t lens[8], total = 0;
	got[0] = '\0';
	uint32_t n;
	while ((n = outq_sendable(q, acked, base, lens, 8)) > 0) {
		size_t sum = 0;
		for (uint32_t i = 0; i < n; i++) {
			cr_assert_lt(total + lens[i], cap);
			memcpy(got + total, base[i], lens[i]);
			total += lens[i];
			sum += lens[i];
		}
		got[total] = '\0';
		outq_consume(q, sum);
	}
}

Test(outq, open_replies_leave_at_once_in_order)
{
	outq q;
	char got[64];
	outq_init(&q);
	reply(&q, "a", 0, 0);
	reply(&q, "b", 0, 0);
	drain(&q, 0, got, sizeof(got));
	cr_assert_str_eq(got, "ab");
	cr_assert(outq_empty(&q));
	reply(&q, "c", 0, 0);
	drain(&q, 0, got, sizeof(got));
	cr_assert_str_eq(got, "c");
	outq_finish(&q);
}

Test(outq, a_gated_reply_holds_back_what_follows_but_not_what_precedes)
{
	outq q;
	char got[64];
	outq_init(&q);
	reply(&q, "a", 0, 5);
	reply(&q, "B", 7, 5);
	reply(&q, "c", 0, 5);
	cr_assert(outq_waiting(&q, 6));
	drain(&q, 6, got, sizeof(got));
	cr_assert_str_eq(got, "a");
	drain(&q, 6, got, sizeof(got));
	cr_assert_str_eq(got, "");
	drain(&q, 7, got, sizeof(got));
	cr_assert_str_eq(got, "Bc");
	cr_assert(!outq_waiting(&q, 7));
	cr_assert(outq_empty(&q));
	outq_finish(&q);
}

Test(outq, gates_of_one_batch_share_a_slot_and_an_older_batch_gets_its_own)
{
	outq q;
	char got[64];
	outq_init(&q);
	reply(&q, "A", 3, 3);
	reply(&q, "B", 4, 3);  /* same batch: the slot now waits for 4 */
	cr_assert_eq(q.count, 1);
	reply(&q, "C", 9, 8);  /* a later batch: its own slot */
	cr_assert_eq(q.count, 2);
	drain(&q, 3, got, sizeof(got));
	cr_assert_str_eq(got, "");
	drain(&q, 4, got, sizeof(got));
	cr_assert_str_eq(got, "AB");
	drain(&q, 9, got, sizeof(got));
	cr_assert_str_eq(got, "C");
	outq_finish(&q);
}

static void fill_x(void *ud, mp_buf *buf, uint32_t msgid)
{
	char text[16];
	snprintf(text, sizeof(text), "<%u>", msgid);
	mp_write_raw(buf, text, strlen(text));
	(*(int *)ud)++;
}

Test(outq, a_deferred_reply_is_written_into_its_place)
{
	outq q;
	char got[64];
	int calls = 0;
	outq_init(&q);
	reply(&q, "a", 0, 0);
	cr_assert(outq_defer(&q, 41, 2));
	reply(&q, "b", 0, 0);
	cr_assert(outq_defer(&q, 42, 3));
	drain(&q, 0, got, sizeof(got));
	cr_assert_str_eq(got, "a");
	cr_assert(outq_waiting(&q, 0));
	cr_assert_eq(outq_fill(&q, 2, fill_x, &calls), 1);
	drain(&q, 0, got, sizeof(got));
	cr_assert_str_eq(got, "<41>b");
	cr_assert_eq(outq_fill(&q, 3, fill_x, &calls), 1);
	drain(&q, 0, got, sizeof(got));
	cr_assert_str_eq(got, "<42>");
	cr_assert_eq(calls, 2);
	cr_assert(outq_empty(&q));
	outq_finish(&q);
}

Test(outq, a_partial_send_resumes_where_it_stopped_across_many_slots)
{
	outq q;
	char got[256], want[256] = "";
	outq_init(&q);
	/* Forty slots, each its own batch, so the ring grows and wraps. */
	for (int i = 0; i < 40; i++) {
		char text[8];
		snprintf(text, sizeof(text), "%02d", i);
		strcat(want, text);
		reply(&q, text, (uint64_t)(i + 1) * 10, (uint64_t)(i + 1) * 10);
	}
	cr_assert_eq(q.count, 40);
	const uint8_t *base[8];
	size_t lens[8];
	size_t total = 0;
	uint64_t acked = 0;
	while (!outq_empty(&q)) {
		acked += 10;
		uint32_t n = outq_sendable(&q, acked, base, lens, 8);
		cr_assert_eq(n, 1);
		/* One byte at a time, as a congested socket would take it. */
		for (size_t k = 0; k < lens[0]; k++)
			got[total + k] = (char)base[0][k];
		size_t len = lens[0];
		outq_consume(&q, 1);
		n = outq_sendable(&q, acked, base, lens, 8);
		cr_assert_eq(n, 1);
		cr_assert_eq(lens[0], len - 1);
		outq_consume(&q, lens[0]);
		total += len;
	}
	got[total] = '\0';
	cr_assert_str_eq(got, want);
	outq_finish(&q);
}
