/*
 * iothread_internal.h - what iothread.c (the group, the owner's side) and
 * iothread_conn.c (an I/O thread's connections) share. Nothing else looks
 * inside.
 *
 * A ring record is an iot_msg header and its bytes. conn is the I/O
 * thread's connection as an opaque token: the owner never dereferences it,
 * and the thread keeps the connection's memory until every frame it sent
 * has had its record back (owed), so a token in a reply never dangles.
 */
#ifndef ALLOT_ENGINE_IOTHREAD_INTERNAL_H
#define ALLOT_ENGINE_IOTHREAD_INTERNAL_H

#include "iothread.h"
#include "mp.h"
#include "spsc.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

typedef enum iot_kind {
	/* I/O thread -> owner */
	IOT_FRAME = 1,   /* a whole request frame */
	IOT_REFUSED,     /* the stream was refused: the error response the
	                  * thread encoded, to go out after the replies owed */
	IOT_DONE,        /* the thread has no connection left; its last record */
	/* owner -> I/O thread: one per IOT_FRAME or IOT_REFUSED, in order */
	IOT_REPLY,       /* reply bytes (none for a frame that has no reply) */
	IOT_REPLY_CLOSE, /* reply bytes, then close (a refusal; out of memory) */
	IOT_BYE,         /* the answer to IOT_DONE, the owner's last record:
	                  * the thread may close its wake handle now */
} iot_kind;

typedef struct iot_msg {
	uint64_t conn;   /* the I/O thread's connection token */
	uint32_t kind;   /* iot_kind */
	uint32_t heap;   /* 1: the bytes are a malloc'd copy, *(void **)(msg + 1),
	                  * freed by the consumer */
	uint64_t len;    /* bytes that follow (or the copy's length) */
} iot_msg;

typedef struct iot_conn iot_conn;
typedef struct iothread iothread;

struct iothread {
	iothreads *grp;
	uint32_t index;
	pthread_t tid;
	bool started;
	spsc_ring in;            /* frames: this thread -> the owner */
	spsc_ring out;           /* replies: the owner -> this thread */
	_Atomic bool in_blocked; /* the thread waits for room in `in` */
	_Atomic bool out_blocked; /* the owner waits for room in `out` */
	_Atomic int stop;        /* 0, IOT_STOP_GRACEFUL or IOT_STOP_NOW */

	/* The owner's side. */
	dispatch_peer peer;      /* every connection's: no tokens, no events */
	bool done;               /* IOT_DONE came */
	bool out_pushed;         /* records in `out` not yet published */

	/* The thread's side: its loop and connections. */
	uv_loop_t loop;
	bool loop_made;
	uv_tcp_t listener;
	bool listening;
	uv_async_t wake;         /* the owner's replies, room, stop */
	uv_check_t publish;      /* once per loop turn: frames to the owner */
	bool in_pushed;          /* records in `in` not yet published */
	iot_conn *conns;         /* open connections */
	iot_conn *dirty;         /* connections with replies to write */
	iot_conn *blocked;       /* connections waiting for room in `in` */
	uint64_t next_id;
	uint32_t zombies;        /* closed, still owed replies */
	bool ending;             /* IOT_DONE sent (or the start failed) */
};

#define IOT_STOP_GRACEFUL 1
#define IOT_STOP_NOW 2

struct iothreads {
	uv_loop_t *owner;
	dispatch *d;
	const server_config *cfg;
	uv_async_t owner_wake;   /* initialised once every thread is created;
	                          * unreferenced once every thread is done,
	                          * closed with the owner loop's handles */
	bool owner_ready;        /* ... and so the threads may send to it */
	sem_t go;                /* a created thread waits here to run */
	bool go_made;
	uint32_t n;
	uint32_t done;           /* threads that sent IOT_DONE */
	bool joined;             /* iothreads_join() ran */
	mp_buf scratch;          /* the reply being encoded */
	_Atomic uint64_t connections_current;
	_Atomic uint64_t connections_total;
	_Atomic uint64_t connections_rejected;
	iothread threads[IOTHREAD_MAX];
};

/*
 * Reserve and fill a record of len bytes (copied; a reply's on the heap
 * when they are more than IOTHREAD_REPLY_INLINE_MAX; a frame's always in
 * the record). Returns false when the ring has no
 * room or memory ran out (nothing is pushed then). The caller publishes.
 */
bool iot_push(spsc_ring *r, uint64_t conn, iot_kind kind, const uint8_t *bytes, size_t len);

/* The bytes of a record spsc_peek() returned, and their length. */
static inline const uint8_t *iot_bytes(const iot_msg *m)
{
	if (m->heap) {
		void *p;
		memcpy(&p, m + 1, sizeof(p));
		return p;
	}
	return (const uint8_t *)(m + 1);
}

/* Free a heap copy once the record is handled. */
void iot_release(const iot_msg *m);

/* iothread_conn.c, on the I/O thread: accepting, and the owner's records. */
void iot_on_connection(uv_stream_t *listener, int status);
void iot_on_wake(uv_async_t *h);
void iot_on_publish(uv_check_t *h);

#endif
