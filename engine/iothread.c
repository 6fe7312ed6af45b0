/*
 * iothread.c - --io-threads: the group, its listening sockets, the
 * threads' lives, and the owner's side of the rings (see iothread.h).
 *
 * The owner's side, in one callback (on_owner_wake): set the engine's time
 * once (dispatch_turn), then take each thread's frames in turn, at most
 * IOTHREAD_DRAIN_BUDGET of them before the next thread's, run each through
 * dispatch_frame() exactly as server.c does, and push its reply bytes into
 * that thread's reply ring; publish each ring once and wake its thread.
 * With frames left it wakes itself again, so the timers and signals get
 * their turn in between.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include "iothread_internal.h"

#include "clock.h"
#include "listener.h"
#include "log.h"

#include <allot/protocol.h>

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

_Static_assert(IOTHREAD_FRAME_MAX + sizeof(iot_msg) <= IOTHREAD_RING_BYTES / 2 - SPSC_HEADER,
    "a frame of IOTHREAD_FRAME_MAX bytes fits in one record");
_Static_assert(IOTHREAD_FRAME_MAX >= ALLOT_DEFAULT_FRAME_BYTES_MAX,
    "the default frame limit works with --io-threads");
_Static_assert((IOTHREAD_RING_BYTES & (IOTHREAD_RING_BYTES - 1)) == 0 &&
    IOTHREAD_RING_BYTES <= SPSC_BYTES_MAX, "the rings' size is a power of two spsc takes");

/* Room the owner wants in a thread's reply ring before it takes a frame:
 * any reply then fits, inline or as a pointer, padding and all. */
#define OWNER_REPLY_ROOM (2 * spsc_record_bytes(sizeof(iot_msg) + IOTHREAD_REPLY_INLINE_MAX))

/* The owner's encoding buffer is given back above this, as outq does. */
#define OWNER_SCRATCH_KEEP ((size_t)64 << 10)

int iothreads_check(const server_config *cfg, persist_mode mode, char *why, size_t len)
{
	const char *no = NULL;
	if (cfg->io_threads == 0)
		return 0;
	if (cfg->io_threads > IOTHREAD_MAX)
		no = "more threads than IOTHREAD_MAX";
	else if (mode != PERSIST_NONE)
		no = "durability other than none (--redis, --durability)";
	else if (cfg->auth_file)
		no = "--auth-file";
	else if (cfg->unix_path)
		no = "--unix";
	else if (cfg->metrics_listen)
		no = "--metrics";
	else if (cfg->frame.frame_bytes_max > IOTHREAD_FRAME_MAX)
		no = "--frame-bytes-max above the rings' record size";
	if (no == NULL)
		return 0;
	snprintf(why, len, "--io-threads %u (a prototype) does not support %s; start without "
	    "--io-threads, or without that option", cfg->io_threads, no);
	return -1;
}

/* ---- records ------------------------------------------------------------------ */

bool iot_push(spsc_ring *r, uint64_t conn, iot_kind kind, const uint8_t *bytes, size_t len)
{
	bool heap = kind >= IOT_REPLY && len > IOTHREAD_REPLY_INLINE_MAX;
	assert(heap || sizeof(iot_msg) + len <= spsc_payload_max(r));
	uint8_t *at = spsc_reserve(r, sizeof(iot_msg) + (heap ? sizeof(void *) : len));
	if (at == NULL)
		return false;
	iot_msg m = { .conn = conn, .kind = kind, .heap = heap, .len = len };
	if (heap) {
		void *copy = malloc(len);
		if (copy == NULL) {
			/* The space stays reserved: a reply with no bytes that
			 * closes the connection takes it. */
			m = (iot_msg){ .conn = conn, .kind = IOT_REPLY_CLOSE };
		} else {
			memcpy(copy, bytes, len);
			memcpy(at + sizeof(m), &copy, sizeof(copy));
		}
	} else if (len) {
		memcpy(at + sizeof(m), bytes, len);
	}
	memcpy(at, &m, sizeof(m));
	return true;
}

void iot_release(const iot_msg *m)
{
	if (m->heap)
		free((void *)iot_bytes(m));
}

/* ---- the owner's side ------------------------------------------------------- */

/* One frame through the dispatch, as conn_process() runs it; its reply to
 * the thread. */
static void owner_frame(iothreads *io, iothread *t, const iot_msg *m)
{
	mp_buf *out = &io->scratch;
	dispatch_reply r;
	mp_buf_reset(out);
	dispatch_frame(io->d, &t->peer, iot_bytes(m), (size_t)m->len, out, &r);
	/* Without tokens, events, durability or snapshots nothing waits,
	 * nothing is deferred and the peer stays as it began. */
	assert(!r.deferred && r.wait_lsn == 0 && !r.close);
	assert(t->peer.sub == NULL && t->peer.deferred == 0 && t->peer.role == ROLE_ADMIN);
	bool failed = mp_buf_failed(out);
	if (failed)
		log_error("io thread %u: out of memory encoding a reply; closing its connection", t->index);
	bool pushed = iot_push(&t->out, m->conn, failed ? IOT_REPLY_CLOSE : IOT_REPLY, out->data,
	    failed || !r.replied ? 0 : out->len);
	assert(pushed);
	(void)pushed;
	if (out->cap > OWNER_SCRATCH_KEEP) {
		mp_buf_finish(out);
		mp_buf_init(out);
	}
}

/* Whether the thread's reply ring has room for any reply; if not, the
 * thread is asked to wake the owner when it makes some. */
static bool owner_has_room(iothread *t)
{
	if (spsc_fits(&t->out, OWNER_REPLY_ROOM))
		return true;
	atomic_store_explicit(&t->out_blocked, true, memory_order_seq_cst);
	/* The thread may have made room between the look and the flag. */
	return spsc_room_sync(&t->out) >= OWNER_REPLY_ROOM;
}

/* Up to budget of t's records; whether any may be left. */
static bool owner_drain(iothreads *io, iothread *t, uint32_t budget)
{
	uint32_t n = 0;
	const uint8_t *rec;
	size_t len;
	while (n < budget && owner_has_room(t) && (rec = spsc_peek(&t->in, &len)) != NULL) {
		iot_msg m;
		assert(len >= sizeof(m));
		memcpy(&m, rec, sizeof(m));
		const iot_msg *mp = (const iot_msg *)rec;
		bool pushed = true;
		switch ((iot_kind)m.kind) {
		case IOT_FRAME:
			owner_frame(io, t, mp);
			break;
		case IOT_REFUSED:
			dispatch_count_refusal(io->d);
			pushed = iot_push(&t->out, m.conn, IOT_REPLY_CLOSE, iot_bytes(mp), (size_t)m.len);
			break;
		case IOT_DONE:
			/* Its last record: answer, and never send to it again. */
			assert(!t->done);
			t->done = true;
			io->done++;
			pushed = iot_push(&t->out, 0, IOT_BYE, NULL, 0);
			break;
		default:
			assert(!"a reply kind in a frame ring");
		}
		/* owner_has_room() made room for any reply. */
		assert(pushed);
		iot_release(mp);
		spsc_pop(&t->in);
		t->out_pushed = true;
		n++;
	}
	/* The thread stopped reading for want of room: there is some now. */
	if (n)
		spsc_pop_sync(&t->in);
	if (n && !t->done && atomic_exchange_explicit(&t->in_blocked, false, memory_order_seq_cst))
		t->out_pushed = true;
	return n == budget;
}

static void on_owner_wake(uv_async_t *h)
{
	iothreads *io = h->data;
	bool more = false;
	dispatch_turn(io->d, clock_now_ms());
	for (uint32_t i = 0; i < io->n; i++) {
		iothread *t = &io->threads[i];
		if (!t->done)
			more |= owner_drain(io, t, IOTHREAD_DRAIN_BUDGET);
	}
	for (uint32_t i = 0; i < io->n; i++) {
		iothread *t = &io->threads[i];
		if (t->out_pushed) {
			spsc_publish(&t->out);
			uv_async_send(&t->wake);
		}
		t->out_pushed = false;
	}
	assert(io->done <= io->n);
	if (io->done == io->n) {
		/* Every thread is done: the owner loop may end. The handle stays
		 * open until the threads are joined (iothreads_join), since a
		 * thread's last uv_async_send() may still be on its way. */
		uv_unref((uv_handle_t *)&io->owner_wake);
		return;
	}
	if (more)
		uv_async_send(&io->owner_wake);
}

/* ---- listening sockets ----------------------------------------------------- */

/* A socket bound to addr with SO_REUSEPORT (libuv 1.44 cannot set it). */
static int reuseport_socket(const struct sockaddr *addr, socklen_t addrlen)
{
	int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int on = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0 ||
	    bind(fd, addr, addrlen) != 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

/* Each thread's listener on cfg's address: the first picks the port when
 * it is 0, the others share it. 0, or -1 logged. */
static int listen_all(iothreads *io)
{
	const server_config *cfg = io->cfg;
	struct sockaddr_storage addr;
	socklen_t addrlen = sizeof(struct sockaddr_in);
	int rc = uv_ip4_addr(cfg->bind, cfg->port, (struct sockaddr_in *)&addr);
	if (rc != 0) {
		rc = uv_ip6_addr(cfg->bind, cfg->port, (struct sockaddr_in6 *)&addr);
		addrlen = sizeof(struct sockaddr_in6);
	}
	if (rc != 0) {
		log_error("--bind %s: not an IPv4 or IPv6 address", cfg->bind);
		return -1;
	}
	for (uint32_t i = 0; i < io->n; i++) {
		iothread *t = &io->threads[i];
		int fd = reuseport_socket((struct sockaddr *)&addr, addrlen);
		if (fd < 0) {
			log_error("cannot listen on %s:%d: %s", cfg->bind, cfg->port, strerror(-fd));
			return -1;
		}
		uv_tcp_init(&t->loop, &t->listener);
		t->listener.data = t;
		t->listening = true;
		rc = uv_tcp_open(&t->listener, fd);
		if (rc != 0)
			close(fd); /* not the handle's: closing it leaves fd open */
		else
			rc = uv_listen((uv_stream_t *)&t->listener, LISTENER_BACKLOG, iot_on_connection);
		if (rc != 0) {
			log_error("cannot listen on %s:%d: %s", cfg->bind, cfg->port, uv_strerror(rc));
			return -1;
		}
		/* Port 0: the rest bind the port the first one got. */
		socklen_t got = sizeof(addr);
		getsockname(fd, (struct sockaddr *)&addr, &got);
	}
	uint16_t port = ntohs(addr.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&addr)->sin6_port
	                                                 : ((struct sockaddr_in *)&addr)->sin_port);
	log_info("listening on %s:%u with %u io threads (SO_REUSEPORT; max %u connections)", cfg->bind,
	    port, io->n, cfg->max_connections);
	return 0;
}

/* ---- the threads ------------------------------------------------------------ */

static void *thread_main(void *arg)
{
	iothread *t = arg;
	char name[16];
	snprintf(name, sizeof(name), "allot-io%u", t->index);
	pthread_setname_np(pthread_self(), name);
	while (sem_wait(&t->grp->go) != 0)
		;
	uv_run(&t->loop, UV_RUN_DEFAULT);
	assert(t->conns == NULL && t->zombies == 0 && t->ending);
	return NULL;
}

/* A thread's rings, loop and handles, before it runs. 0 or -1. */
static int thread_init(iothreads *io, iothread *t, uint32_t index)
{
	t->grp = io;
	t->index = index;
	atomic_init(&t->in_blocked, false);
	atomic_init(&t->out_blocked, false);
	atomic_init(&t->stop, 0);
	dispatch_peer_init(io->d, &t->peer);
	if (spsc_init(&t->in, IOTHREAD_RING_BYTES) != 0 || spsc_init(&t->out, IOTHREAD_RING_BYTES) != 0)
		return -1;
	if (uv_loop_init(&t->loop) != 0)
		return -1;
	t->loop_made = true;
	uv_async_init(&t->loop, &t->wake, iot_on_wake);
	t->wake.data = t;
	uv_check_init(&t->loop, &t->publish);
	t->publish.data = t;
	uv_check_start(&t->publish, iot_on_publish);
	uv_unref((uv_handle_t *)&t->publish);
	return 0;
}

static void close_any(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* A thread that never ran: close its loop's handles and the loop. */
static void thread_unmake(iothread *t)
{
	if (t->loop_made) {
		uv_walk(&t->loop, close_any, NULL);
		uv_run(&t->loop, UV_RUN_DEFAULT);
		int rc = uv_loop_close(&t->loop);
		assert(rc == 0);
		(void)rc;
		t->loop_made = false;
	}
}

iothreads *iothreads_start(uv_loop_t *owner, dispatch *d, const server_config *cfg)
{
	assert(cfg->io_threads >= 1 && cfg->io_threads <= IOTHREAD_MAX);
	iothreads *io = calloc(1, sizeof(*io));
	if (io == NULL) {
		log_error("out of memory starting the io threads");
		return NULL;
	}
	io->owner = owner;
	io->d = d;
	io->cfg = cfg;
	io->n = cfg->io_threads;
	if (cfg->frame_timeout_ms || cfg->idle_timeout_s)
		log_warn("--io-threads: the frame and idle timeouts are not enforced by the prototype");
	mp_buf_init(&io->scratch);
	atomic_init(&io->connections_current, 0);
	atomic_init(&io->connections_total, 0);
	atomic_init(&io->connections_rejected, 0);
	for (uint32_t i = 0; i < io->n; i++) {
		if (thread_init(io, &io->threads[i], i) != 0) {
			log_error("out of memory starting the io threads");
			goto fail;
		}
	}
	if (listen_all(io) != 0 || sem_init(&io->go, 0, 0) != 0)
		goto fail;
	io->go_made = true;
	for (uint32_t i = 0; i < io->n; i++) {
		iothread *t = &io->threads[i];
		int rc = pthread_create(&t->tid, NULL, thread_main, t);
		if (rc != 0) {
			log_error("cannot start io thread %u: %s", i, strerror(rc));
			goto fail;
		}
		t->started = true;
	}
	uv_async_init(owner, &io->owner_wake, on_owner_wake);
	io->owner_wake.data = io;
	io->owner_ready = true;
	for (uint32_t i = 0; i < io->n; i++)
		sem_post(&io->go);
	return io;
fail:
	/* The threads made wait at the gate: let them through stopped, so
	 * they close their listeners, serve nobody and end. */
	for (uint32_t i = 0; i < io->n; i++) {
		if (io->threads[i].started) {
			atomic_store_explicit(&io->threads[i].stop, IOT_STOP_NOW, memory_order_release);
			uv_async_send(&io->threads[i].wake);
			sem_post(&io->go);
		}
	}
	iothreads_destroy(io);
	return NULL;
}

void iothreads_stop(iothreads *io, bool now)
{
	if (io == NULL)
		return;
	for (uint32_t i = 0; i < io->n; i++) {
		iothread *t = &io->threads[i];
		/* A done thread's wake handle is closed, or closing. */
		if (!t->started || t->done)
			continue;
		atomic_store_explicit(&t->stop, now ? IOT_STOP_NOW : IOT_STOP_GRACEFUL, memory_order_release);
		uv_async_send(&t->wake);
	}
}

void iothreads_join(iothreads *io)
{
	if (io == NULL || io->joined)
		return;
	for (uint32_t i = 0; i < io->n; i++)
		if (io->threads[i].started)
			pthread_join(io->threads[i].tid, NULL);
	io->joined = true;
}

void iothreads_destroy(iothreads *io)
{
	if (io == NULL)
		return;
	iothreads_join(io);
	for (uint32_t i = 0; i < io->n; i++) {
		iothread *t = &io->threads[i];
		if (t->started) {
			int rc = uv_loop_close(&t->loop);
			assert(rc == 0);
			(void)rc;
		} else {
			thread_unmake(t);
		}
		/* Records never handled (a failed start) may hold heap copies. */
		const uint8_t *rec;
		size_t len;
		while (t->out.data && (rec = spsc_peek(&t->out, &len)) != NULL) {
			iot_release((const iot_msg *)rec);
			spsc_pop(&t->out);
		}
		spsc_finish(&t->in);
		spsc_finish(&t->out);
	}
	if (io->go_made)
		sem_destroy(&io->go);
	mp_buf_finish(&io->scratch);
	free(io);
}

void iothreads_counts(const iothreads *io, uint64_t *current, uint64_t *total, uint64_t *rejected)
{
	*current = atomic_load_explicit(&io->connections_current, memory_order_relaxed);
	*total = atomic_load_explicit(&io->connections_total, memory_order_relaxed);
	*rejected = atomic_load_explicit(&io->connections_rejected, memory_order_relaxed);
}
