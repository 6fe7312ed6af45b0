/*
 * spsc.h - a bounded, lock-free ring of variable-length records between
 * exactly one producer thread and one consumer thread.
 *
 * The ring is a power-of-two array of bytes with two monotonic counters:
 * tail (bytes the producer has published) and head (bytes the consumer has
 * released). A record is an 8-byte header (its payload's length) followed
 * by the payload, padded to 8 bytes, and always contiguous: a record that
 * would cross the array's end is preceded by a padding record that fills
 * the rest, and the consumer skips it. So the consumer reads each payload in
 * place, and neither side ever allocates.
 *
 * Ordering (C11 atomics): the producer writes a payload, then stores tail
 * with release; the consumer loads tail with acquire before reading the
 * payload, so it sees the bytes written. The consumer stores head with
 * release once it is done with a record; the producer loads head with
 * acquire before it writes over that space again. Each side caches the
 * other's counter and reloads it only when the cache says the ring is full
 * (or empty), so the common case touches no shared cache line.
 *
 * The producer may reserve several records and publish them at once
 * (spsc_publish); the consumer sees none of them before that. Model: the
 * LMAX Disruptor's sequence counters; Linux's io_uring rings.
 */
#ifndef ALLOT_ENGINE_SPSC_H
#define ALLOT_ENGINE_SPSC_H

#include <assert.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SPSC_ALIGN 8u
#define SPSC_HEADER 8u
/* The smallest ring spsc_init() takes, and the largest (one source). */
#define SPSC_BYTES_MIN 64u
#define SPSC_BYTES_MAX ((size_t)1 << 30)
/* A header's length that marks padding up to the array's end. */
#define SPSC_PAD UINT32_MAX

/* Keep the two sides' counters on separate cache lines. */
#define SPSC_CACHELINE 64

typedef struct spsc_ring {
	uint8_t *data;
	size_t cap;                     /* bytes, a power of two */
	alignas(SPSC_CACHELINE) _Atomic uint64_t tail; /* published by the producer */
	uint64_t wtail;                 /* producer: reserved, not yet published */
	uint64_t head_seen;             /* producer: head as last loaded */
	alignas(SPSC_CACHELINE) _Atomic uint64_t head; /* released by the consumer */
	uint64_t rhead;                 /* consumer: the record being read */
	uint64_t tail_seen;             /* consumer: tail as last loaded */
} spsc_ring;

/* The bytes a record of len payload bytes takes. */
static inline size_t spsc_record_bytes(size_t len)
{
	return (SPSC_HEADER + len + SPSC_ALIGN - 1) & ~(size_t)(SPSC_ALIGN - 1);
}

/* The largest payload one record may carry: half the ring, so that a
 * record always fits once the ring has drained, padding and all (the
 * padding is shorter than the record). */
static inline size_t spsc_payload_max(const spsc_ring *r)
{
	return r->cap / 2 - SPSC_HEADER;
}

/* cap: a power of two within [SPSC_BYTES_MIN, SPSC_BYTES_MAX]. 0, or -1
 * without memory. Not thread-safe: before either side runs. */
static inline int spsc_init(spsc_ring *r, size_t cap)
{
	assert(cap >= SPSC_BYTES_MIN && cap <= SPSC_BYTES_MAX && (cap & (cap - 1)) == 0);
	memset(r, 0, sizeof(*r));
	r->data = aligned_alloc(SPSC_CACHELINE, cap);
	if (r->data == NULL)
		return -1;
	r->cap = cap;
	atomic_init(&r->tail, 0);
	atomic_init(&r->head, 0);
	return 0;
}

/* Free the array; after both sides have stopped. r may be zeroed. */
static inline void spsc_finish(spsc_ring *r)
{
	free(r->data);
	r->data = NULL;
}

/* ---- the producer's side ---------------------------------------------------- */

/* Whether n more bytes fit, reloading head only when the cached value
 * says they do not. */
static inline bool spsc_fits(spsc_ring *r, size_t n)
{
	if (r->wtail + n - r->head_seen <= r->cap)
		return true;
	r->head_seen = atomic_load_explicit(&r->head, memory_order_acquire);
	assert(r->head_seen <= r->wtail);
	return r->wtail + n - r->head_seen <= r->cap;
}

/* Free bytes as the producer sees them now (reloading head). */
static inline size_t spsc_room(spsc_ring *r)
{
	r->head_seen = atomic_load_explicit(&r->head, memory_order_acquire);
	assert(r->wtail - r->head_seen <= r->cap);
	return r->cap - (size_t)(r->wtail - r->head_seen);
}

/*
 * Room for a record of len payload bytes (len <= spsc_payload_max()): the
 * payload's address, which the caller fills before spsc_publish(). NULL
 * when the ring has no room now (nothing is reserved then).
 */
static inline uint8_t *spsc_reserve(spsc_ring *r, size_t len)
{
	assert(len <= spsc_payload_max(r));
	size_t need = spsc_record_bytes(len);
	size_t at = (size_t)(r->wtail & (r->cap - 1));
	size_t to_end = r->cap - at;
	size_t pad = need > to_end ? to_end : 0;
	if (!spsc_fits(r, pad + need))
		return NULL;
	if (pad) {
		/* Fill the rest of the array; the record starts at 0. */
		uint32_t mark = SPSC_PAD;
		memcpy(r->data + at, &mark, sizeof(mark));
		r->wtail += pad;
		at = 0;
	}
	uint32_t len32 = (uint32_t)len;
	memcpy(r->data + at, &len32, sizeof(len32));
	r->wtail += need;
	return r->data + at + SPSC_HEADER;
}

/* Let the consumer see every record reserved so far. */
static inline void spsc_publish(spsc_ring *r)
{
	atomic_store_explicit(&r->tail, r->wtail, memory_order_release);
}

/*
 * For a producer that found the ring full and set a flag asking the
 * consumer to wake it: free bytes, with head loaded seq_cst. With the
 * flag stored seq_cst before, and the consumer's spsc_pop_sync() before it
 * reads the flag, either this sees the consumer's pops or the consumer sees
 * the flag (a Dekker handshake made of seq_cst operations rather than
 * fences, which ThreadSanitizer cannot follow).
 */
static inline size_t spsc_room_sync(spsc_ring *r)
{
	r->head_seen = atomic_load_explicit(&r->head, memory_order_seq_cst);
	assert(r->wtail - r->head_seen <= r->cap);
	return r->cap - (size_t)(r->wtail - r->head_seen);
}

/* ---- the consumer's side ---------------------------------------------------- */

/*
 * The oldest published record not yet popped: its payload (valid until
 * spsc_pop()) and its length in *len. NULL when there is none.
 */
static inline const uint8_t *spsc_peek(spsc_ring *r, size_t *len)
{
	for (;;) {
		if (r->rhead == r->tail_seen) {
			r->tail_seen = atomic_load_explicit(&r->tail, memory_order_acquire);
			if (r->rhead == r->tail_seen)
				return NULL;
		}
		assert(r->tail_seen - r->rhead <= r->cap);
		size_t at = (size_t)(r->rhead & (r->cap - 1));
		uint32_t len32;
		memcpy(&len32, r->data + at, sizeof(len32));
		if (len32 != SPSC_PAD) {
			assert(spsc_record_bytes(len32) <= r->tail_seen - r->rhead);
			*len = len32;
			return r->data + at + SPSC_HEADER;
		}
		/* Padding to the array's end: the record is at 0. */
		r->rhead += r->cap - at;
	}
}

/* Done with the record spsc_peek() returned: its space goes back to the
 * producer. */
static inline void spsc_pop(spsc_ring *r)
{
	size_t at = (size_t)(r->rhead & (r->cap - 1));
	uint32_t len32;
	memcpy(&len32, r->data + at, sizeof(len32));
	assert(len32 != SPSC_PAD && r->rhead != r->tail_seen);
	r->rhead += spsc_record_bytes(len32);
	atomic_store_explicit(&r->head, r->rhead, memory_order_release);
}

/* After pops, before reading the producer's "wake me" flag: head again,
 * stored seq_cst (see spsc_room_sync). */
static inline void spsc_pop_sync(spsc_ring *r)
{
	atomic_store_explicit(&r->head, r->rhead, memory_order_seq_cst);
}

#endif
