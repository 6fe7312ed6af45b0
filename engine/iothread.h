/*
 * iothread.h - --io-threads N: sockets on N threads, state on one.
 *
 * With N > 0 the server's loop (the owner) keeps everything it owns (the
 * core, the dispatch, the sweep, the signals) and listens on nothing.
 * Each of N I/O threads runs a uv loop of its own with its own listening
 * socket on the RPC address, bound with SO_REUSEPORT so that the kernel
 * spreads the connections among them. A thread accepts, reads, cuts the
 * byte stream into whole MessagePack frames with the server's scanner
 * (proto/mp.h) and pushes each frame, with its connection's token, into
 * its ring to the owner (spsc.h), waking the owner with uv_async_send. The
 * owner drains every ring, runs each frame through dispatch_frame() as the
 * server does, and pushes the reply bytes into the thread's ring back,
 * waking the thread, which writes them (uv_try_write first).
 *
 * Nothing is shared but the rings, a few flags that say a side waits for
 * room, and the connection counters for stats (relaxed atomics). A ring
 * that is full stops its producer: an I/O thread stops reading the
 * connection whose frame did not fit, and the owner stops taking a
 * thread's frames while that thread's reply ring lacks room for a reply.
 *
 * The prototype serves what the request path needs without durability or
 * tokens: iothreads_check() names what it refuses at start.
 */
#ifndef ALLOT_ENGINE_IOTHREAD_H
#define ALLOT_ENGINE_IOTHREAD_H

#include "dispatch.h"
#include "persist.h"
#include "server.h"

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* --io-threads takes 0 (off) to this. */
#define IOTHREAD_MAX 16

/* Each ring's bytes, both ways, per thread (one source for the sizes). A
 * record carries at most half of it (spsc_payload_max), and a frame goes
 * whole in one: --frame-bytes-max is limited to IOTHREAD_FRAME_MAX. A
 * reply above IOTHREAD_REPLY_INLINE_MAX travels as a pointer to a copy,
 * so that the owner needs only a little room to answer any frame. */
#define IOTHREAD_RING_BYTES ((size_t)4 << 20)
#define IOTHREAD_FRAME_MAX (IOTHREAD_RING_BYTES / 2 - 64)
#define IOTHREAD_REPLY_INLINE_MAX ((size_t)64 << 10)

/* Records the owner handles from one thread's ring before it looks at the
 * others' (and at its timers): the rings are served in turn. */
#define IOTHREAD_DRAIN_BUDGET 256

typedef struct iothreads iothreads;

/*
 * Whether the prototype can serve cfg with durability mode: 0, or -1 with
 * why[0..len) naming the option it does not support.
 */
int iothreads_check(const server_config *cfg, persist_mode mode, char *why, size_t len);

/*
 * Start cfg->io_threads threads listening on cfg->bind:cfg->port, handing
 * frames to d on owner (the calling thread's loop, which must run d). NULL
 * with the reason logged. cfg and d are borrowed until
 * iothreads_destroy().
 */
iothreads *iothreads_start(uv_loop_t *owner, dispatch *d, const server_config *cfg);

/*
 * Stop: no new connections, no more reads; every connection gets the
 * replies it is owed and closes (now: closes at once). Once every thread
 * has finished, the owner's handle closes and the owner loop may end.
 */
void iothreads_stop(iothreads *io, bool now);

/* Wait for the threads to end: once the owner loop's uv_run() has
 * returned, and before that loop is closed. io may be NULL. */
void iothreads_join(iothreads *io);

/* Free everything (joining first if need be); after the owner loop is
 * closed, which closes the owner's handle. io may be NULL. */
void iothreads_destroy(iothreads *io);

/* The connection counts for stats. */
void iothreads_counts(const iothreads *io, uint64_t *current, uint64_t *total, uint64_t *rejected);

#endif
