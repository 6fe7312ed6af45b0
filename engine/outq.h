/*
 * outq.h - a connection's replies, in request order, as a queue of slots.
 *
 * A slot holds the bytes of one or more consecutive replies and says when
 * they may leave: at once, once Redis has acknowledged the journal up to
 * wait_lsn (a change's reply in sync mode), or once the engine has written
 * a deferred reply into it (snapshot). Only the open slots at the front
 * leave, so replies keep their order, and a deferred reply is written into
 * its own slot when it is known rather than spliced into a byte stream.
 *
 * Slots are a ring whose buffers are kept and reused, so the steady state
 * allocates nothing. The queue knows no sockets: the server asks it for the
 * bytes that may go (outq_sendable) and tells it what went (outq_consume).
 */
#ifndef ALLOT_ENGINE_OUTQ_H
#define ALLOT_ENGINE_OUTQ_H

#include "mp.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A slot's buffer above this is freed when the slot is recycled, so one
 * burst of large replies does not keep its memory for the connection's
 * life; below it the buffer is kept and reused. */
#define OUTQ_KEEP_BYTES (64u * 1024u)

typedef struct outq_slot {
	mp_buf buf;
	size_t sent;       /* bytes at buf's front already handed on */
	uint64_t wait_lsn; /* 0, or closed until the journal is acked to here */
	uint64_t run;      /* pending: the snapshot run that answers it */
	uint32_t msgid;    /* pending: the request it answers */
	bool pending;      /* a deferred reply not yet written */
} outq_slot;

typedef struct outq {
	outq_slot *slots;  /* a ring of cap slots; slots[head..head+count) used */
	uint32_t head, count, cap;
	uint32_t pending;  /* slots still waiting for a deferred reply */
	size_t bytes;      /* queued and not yet consumed, all slots */
} outq;

void outq_init(outq *q);
void outq_finish(outq *q);

/* The buffer the next reply is written into: the last slot's, unless that
 * slot is a pending one (then a new slot). NULL without memory. Call
 * outq_wrote() once the reply is in. The pointer is valid only until the
 * queue's next call: taking a slot may move every slot. */
mp_buf *outq_tail(outq *q);
/* The reply just appended to outq_tail()'s buffer (len bytes before it was
 * written) may leave only once the journal is acknowledged to wait_lsn (0:
 * at once, after what is before it). batch_first: the first lsn of the
 * journal batch being filled, whose gates open together. false without
 * memory. */
bool outq_wrote_gated(outq *q, size_t len_before, uint64_t wait_lsn, uint64_t batch_first);
static inline bool outq_wrote(outq *q, size_t len_before, uint64_t wait_lsn, uint64_t batch_first)
{
	if (wait_lsn == 0) {
		/* Open: it leaves with, or right after, what is before it. */
		q->bytes += q->slots[(q->head + q->count - 1) % q->cap].buf.len - len_before;
		return true;
	}
	return outq_wrote_gated(q, len_before, wait_lsn, batch_first);
}
/* A slot for a reply the engine writes later. false without memory. */
bool outq_defer(outq *q, uint32_t msgid, uint64_t run);

/* Pending slots of run or before, in order: fill(ud, buf, msgid) writes
 * each reply. Returns how many were filled. */
uint32_t outq_fill(outq *q, uint64_t run, void (*fill)(void *ud, mp_buf *buf, uint32_t msgid),
    void *ud);

uint32_t outq_sendable_slow(const outq *q, uint64_t acked, const uint8_t **base, size_t *lens,
    uint32_t max);
void outq_consume_slow(outq *q, size_t n);

/* Up to max buffers of bytes that may leave now (acked: the journal's
 * acknowledged lsn), from the front; returns how many. */
static inline uint32_t outq_sendable(const outq *q, uint64_t acked, const uint8_t **base,
    size_t *lens, uint32_t max)
{
	/* The common case, inline: one open slot. */
	if (q->count == 1) {
		const outq_slot *s = &q->slots[q->head];
		if (s->pending || s->wait_lsn > acked || s->buf.len == s->sent)
			return 0;
		base[0] = s->buf.data + s->sent;
		lens[0] = s->buf.len - s->sent;
		return 1;
	}
	return outq_sendable_slow(q, acked, base, lens, max);
}

/* n bytes from the front went out. */
static inline void outq_consume(outq *q, size_t n)
{
	/* The common case, inline: all of the one slot went, and its buffer is
	 * kept for the next replies. */
	if (q->count == 1 && n == q->bytes) {
		outq_slot *s = &q->slots[q->head];
		if (!s->pending && s->buf.cap <= OUTQ_KEEP_BYTES && s->sent + n == s->buf.len) {
			s->buf.len = 0;
			s->sent = 0;
			s->wait_lsn = 0;
			q->bytes = 0;
			return;
		}
	}
	outq_consume_slow(q, n);
}

/* Slots that wait on the journal or on a deferred reply. */
bool outq_waiting(const outq *q, uint64_t acked);

static inline bool outq_empty(const outq *q)
{
	return q->bytes == 0 && q->pending == 0;
}

#endif
