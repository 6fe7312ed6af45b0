/*
 * outq.c - a connection's reply queue (see outq.h).
 */
#include "outq.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

void outq_init(outq *q)
{
	memset(q, 0, sizeof(*q));
}

void outq_finish(outq *q)
{
	for (uint32_t i = 0; i < q->cap; i++)
		mp_buf_finish(&q->slots[i].buf);
	free(q->slots);
	memset(q, 0, sizeof(*q));
}

static outq_slot *slot_at(const outq *q, uint32_t i)
{
	assert(i < q->count);
	return &q->slots[(q->head + i) % q->cap];
}

static void slot_clear(outq_slot *s)
{
	if (s->buf.cap > OUTQ_KEEP_BYTES) {
		mp_buf_finish(&s->buf);
		mp_buf_init(&s->buf);
	}
	mp_buf_reset(&s->buf);
	s->sent = 0;
	s->wait_lsn = 0;
	s->run = 0;
	s->msgid = 0;
	s->pending = false;
}

/* Room for one more slot: the ring doubles, unwrapped into order. */
static bool grow(outq *q)
{
	if (q->count < q->cap)
		return true;
	uint32_t cap = q->cap ? q->cap * 2 : 4;
	outq_slot *slots = calloc(cap, sizeof(*slots));
	if (slots == NULL)
		return false;
	for (uint32_t i = 0; i < q->cap; i++)
		slots[i] = q->slots[(q->head + i) % q->cap];
	for (uint32_t i = q->cap; i < cap; i++)
		mp_buf_init(&slots[i].buf);
	free(q->slots);
	q->slots = slots;
	q->head = 0;
	q->cap = cap;
	return true;
}

/* A new empty slot at the back; NULL without memory. */
static outq_slot *push(outq *q)
{
	if (!grow(q))
		return NULL;
	q->count++;
	outq_slot *s = slot_at(q, q->count - 1);
	slot_clear(s);
	return s;
}

mp_buf *outq_tail(outq *q)
{
	if (q->count > 0 && !slot_at(q, q->count - 1)->pending)
		return &slot_at(q, q->count - 1)->buf;
	outq_slot *s = push(q);
	return s ? &s->buf : NULL;
}

bool outq_wrote_gated(outq *q, size_t len_before, uint64_t wait_lsn, uint64_t batch_first)
{
	outq_slot *tail = slot_at(q, q->count - 1);
	assert(!tail->pending && len_before <= tail->buf.len && tail->sent <= len_before);
	assert(wait_lsn > 0);
	size_t len = tail->buf.len - len_before;
	q->bytes += len;
	if (wait_lsn <= tail->wait_lsn)
		return true; /* open, or behind a gate that covers it already */
	if (len_before == 0 || (tail->wait_lsn > 0 && tail->wait_lsn >= batch_first)) {
		/* Nothing before it in the slot, or what is there is acknowledged
		 * with the same batch: the slot waits for this reply too. */
		tail->wait_lsn = wait_lsn;
		return true;
	}
	/* What is before it may leave sooner: the reply moves to a slot of
	 * its own. */
	outq_slot *s = push(q);
	if (s == NULL)
		return false;
	tail = slot_at(q, q->count - 2);
	mp_write_raw(&s->buf, tail->buf.data + len_before, len);
	tail->buf.len = len_before;
	s->wait_lsn = wait_lsn;
	return !mp_buf_failed(&s->buf);
}

bool outq_defer(outq *q, uint32_t msgid, uint64_t run)
{
	outq_slot *s = push(q);
	if (s == NULL)
		return false;
	s->pending = true;
	s->msgid = msgid;
	s->run = run;
	q->pending++;
	return true;
}

uint32_t outq_fill(outq *q, uint64_t run, void (*fill)(void *ud, mp_buf *buf, uint32_t msgid),
    void *ud)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < q->count && q->pending > 0; i++) {
		outq_slot *s = slot_at(q, i);
		if (!s->pending || s->run > run)
			continue;
		assert(s->buf.len == 0 && s->sent == 0);
		fill(ud, &s->buf, s->msgid);
		s->pending = false;
		q->pending--;
		q->bytes += s->buf.len;
		n++;
	}
	return n;
}

uint32_t outq_sendable_slow(const outq *q, uint64_t acked, const uint8_t **base, size_t *lens,
    uint32_t max)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < q->count && n < max; i++) {
		const outq_slot *s = slot_at(q, i);
		if (s->pending || s->wait_lsn > acked)
			break;
		if (s->buf.len == s->sent)
			continue;
		base[n] = s->buf.data + s->sent;
		lens[n] = s->buf.len - s->sent;
		n++;
	}
	return n;
}

void outq_consume_slow(outq *q, size_t n)
{
	assert(n <= q->bytes);
	q->bytes -= n;
	while (q->count > 0) {
		outq_slot *s = slot_at(q, 0);
		size_t left = s->buf.len - s->sent;
		size_t take = n < left ? n : left;
		s->sent += take;
		n -= take;
		if (s->sent < s->buf.len || s->pending)
			break;
		slot_clear(s);
		q->head = (q->head + 1) % q->cap;
		q->count--;
	}
	assert(n == 0);
}

bool outq_waiting(const outq *q, uint64_t acked)
{
	if (q->pending > 0)
		return true;
	for (uint32_t i = 0; i < q->count; i++)
		if (slot_at(q, i)->wait_lsn > acked)
			return true;
	return false;
}
