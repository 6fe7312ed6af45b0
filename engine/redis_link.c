/*
 * redis_link.c - allotd's one connection to Redis (see redis_link.h).
 */
#define _GNU_SOURCE
#include "redis_link.h"

#include "log.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* How often the watchdog looks for a command unanswered too long. */
#define WATCHDOG_PERIOD_MS 500
/* The first room for commands in flight; it doubles as needed. */
#define PENDING_INITIAL 64

enum link_state { LINK_DOWN, LINK_CONNECTING, LINK_HELLO, LINK_UP };

/* A command sent and not yet answered. */
typedef struct pending {
	redis_link_reply_fn fn;
	void *ud;
	uint64_t sent_ms;
} pending;

struct redis_link {
	uv_loop_t *loop;
	redis_link_config cfg;
	redisContext *rc;
	uv_poll_t *poll;        /* heap: it closes on its own schedule */
	int poll_events;
	enum link_state state;
	uint32_t preamble;      /* AUTH/SELECT/PING replies still to come */
	bool stopped;           /* never reconnect */
	bool closed;
	bool corked;            /* inside the up callback: flush once after */
	/* Bumped whenever the connection is dropped, so that a loop handing
	 * out replies notices a callback that dropped it. */
	uint64_t generation;

	/* A ring of commands in flight, oldest first. It grows as needed: its
	 * users bound it (the journal writer refuses changes once its backlog
	 * is over backlog_bytes_max; the snapshotter has a few at most). */
	pending *q;
	uint32_t q_head, q_count, q_cap;

	uv_timer_t retry_timer; /* backoff, then the connect timeout */
	uint32_t backoff_ms;
	uv_timer_t watchdog;
	uv_timer_t fail_timer;  /* reports a failed write outside send */
	char fail_why[200];
	uint64_t reconnects_total;

	redis_link_state_fn state_fn;
	void *ud;
};

static void link_down(redis_link *l, const char *why);
static void on_poll(uv_poll_t *h, int status, int events);

/* ---- the queue of commands in flight -------------------------------------- */

static bool q_push(redis_link *l, pending p)
{
	if (l->q_count == l->q_cap) {
		uint32_t cap = l->q_cap ? l->q_cap * 2 : PENDING_INITIAL;
		pending *q = malloc(sizeof(*q) * cap);
		if (q == NULL)
			return false;
		for (uint32_t i = 0; i < l->q_count; i++)
			q[i] = l->q[(l->q_head + i) % l->q_cap];
		free(l->q);
		l->q = q;
		l->q_cap = cap;
		l->q_head = 0;
	}
	l->q[(l->q_head + l->q_count) % l->q_cap] = p;
	l->q_count++;
	return true;
}

static pending q_pop(redis_link *l)
{
	assert(l->q_count > 0);
	pending p = l->q[l->q_head];
	l->q_head = (l->q_head + 1) % l->q_cap;
	l->q_count--;
	return p;
}

/* ---- the connection -------------------------------------------------------- */

static void on_poll_closed(uv_handle_t *h)
{
	redisContext *rc = h->data;
	if (rc)
		redisFree(rc);
	free(h);
}

/* Drop the connection; its context is freed once libuv lets go of the fd. */
static void drop_connection(redis_link *l)
{
	if (l->poll) {
		uv_poll_stop(l->poll);
		l->poll->data = l->rc;
		uv_close((uv_handle_t *)l->poll, on_poll_closed);
		l->poll = NULL;
	} else if (l->rc) {
		redisFree(l->rc);
	}
	l->rc = NULL;
	l->poll_events = 0;
	l->state = LINK_DOWN;
	l->generation++;
}

static void poll_want(redis_link *l, int events)
{
	if (l->poll == NULL || events == l->poll_events)
		return;
	l->poll_events = events;
	uv_poll_start(l->poll, events, on_poll);
}

static int watch(redis_link *l)
{
	l->poll = malloc(sizeof(*l->poll));
	if (l->poll == NULL || uv_poll_init(l->loop, l->poll, l->rc->fd) != 0) {
		free(l->poll);
		l->poll = NULL;
		return -1;
	}
	l->poll->data = l;
	l->poll_events = 0;
	return 0;
}

/* Write what hiredis has buffered; watch for writability if some is left.
 * -1 with why when the write failed (the caller reports it). */
static int flush(redis_link *l, char *why, size_t why_len)
{
	if ((l->state != LINK_UP && l->state != LINK_HELLO) || l->rc == NULL || l->corked)
		return 0;
	int done = 0;
	if (redisBufferWrite(l->rc, &done) != REDIS_OK) {
		snprintf(why, why_len, "%s", l->rc->errstr[0] ? l->rc->errstr : "write failed");
		return -1;
	}
	poll_want(l, UV_READABLE | (done ? 0 : UV_WRITABLE));
	return 0;
}

static void flush_or_down(redis_link *l)
{
	char why[200];
	if (flush(l, why, sizeof(why)) != 0)
		link_down(l, why);
}

static void on_retry(uv_timer_t *t);

static void retry_schedule(redis_link *l)
{
	uint32_t ms = l->backoff_ms ? l->backoff_ms : l->cfg.reconnect_min_ms;
	l->backoff_ms = ms * 2 > l->cfg.reconnect_max_ms ? l->cfg.reconnect_max_ms : ms * 2;
	uv_timer_start(&l->retry_timer, on_retry, ms, 0);
}

static void link_down(redis_link *l, const char *why)
{
	if (l->closed || l->stopped)
		return;
	bool was_up = l->state == LINK_UP;
	drop_connection(l);
	uv_timer_stop(&l->fail_timer);
	if (!was_up)
		log_debug("cannot reach Redis at %s:%d: %s", l->cfg.url.host, l->cfg.url.port, why);
	assert(was_up || l->q_count == 0);
	/* What was sent may or may not have landed: its sender decides. */
	uint64_t generation = l->generation;
	while (l->q_count > 0 && l->generation == generation && !l->closed) {
		pending p = q_pop(l);
		p.fn(p.ud, NULL);
	}
	if (was_up && l->state_fn && !l->closed)
		l->state_fn(l->ud, false, why);
	if (!l->closed && !l->stopped && l->state == LINK_DOWN)
		retry_schedule(l);
}

/* Redis answered the PING (or recovery's connection was handed over). */
static void link_ready(redis_link *l, bool notify)
{
	assert(l->q_count == 0);
	l->state = LINK_UP;
	l->backoff_ms = 0;
	uv_timer_stop(&l->retry_timer);
	if (notify && l->state_fn) {
		uint64_t generation = l->generation;
		l->corked = true;
		l->state_fn(l->ud, true, NULL);
		l->corked = false;
		if (l->generation != generation || l->closed)
			return;
	}
	flush_or_down(l);
}

/* The TCP connection is made: AUTH, SELECT and PING, all answered before
 * the link counts as up (the connect timer still runs). */
static void link_hello(redis_link *l)
{
	l->state = LINK_HELLO;
	l->preamble = 0;
	if (l->cfg.url.password[0]) {
		const char *argv[] = { "AUTH", l->cfg.url.password };
		redisAppendCommandArgv(l->rc, 2, argv, NULL);
		l->preamble++;
	}
	if (l->cfg.url.db) {
		char db[16];
		snprintf(db, sizeof(db), "%d", l->cfg.url.db);
		const char *argv[] = { "SELECT", db };
		redisAppendCommandArgv(l->rc, 2, argv, NULL);
		l->preamble++;
	}
	const char *argv[] = { "PING" };
	redisAppendCommandArgv(l->rc, 1, argv, NULL);
	l->preamble++;
	flush_or_down(l);
}

/* One reply: the preamble's, or the oldest command's. */
static void dispatch(redis_link *l, const redisReply *r)
{
	if (l->preamble) {
		assert(l->state == LINK_HELLO && l->q_count == 0);
		l->preamble--;
		if (r->type == REDIS_REPLY_ERROR) {
			char why[300];
			snprintf(why, sizeof(why), "%s", r->str);
			link_down(l, why);
		} else if (l->preamble == 0 && l->state == LINK_HELLO) {
			link_ready(l, true);
		}
		return;
	}
	if (l->state != LINK_UP || l->q_count == 0) {
		link_down(l, "a reply nothing was waiting for");
		return;
	}
	pending p = q_pop(l);
	p.fn(p.ud, r);
}

static void read_replies(redis_link *l)
{
	if (redisBufferRead(l->rc) != REDIS_OK) {
		link_down(l, l->rc->errstr[0] ? l->rc->errstr : "read failed");
		return;
	}
	uint64_t generation = l->generation;
	for (;;) {
		void *reply = NULL;
		if (redisGetReplyFromReader(l->rc, &reply) != REDIS_OK) {
			link_down(l, l->rc->errstr[0] ? l->rc->errstr : "unreadable reply");
			return;
		}
		if (reply == NULL)
			return;
		dispatch(l, reply);
		freeReplyObject(reply);
		/* A callback may have dropped the connection (or closed the link). */
		if (l->generation != generation || l->closed || l->rc == NULL)
			return;
	}
}

/* The connect finished (or failed): find out which. */
static void connected(redis_link *l, int status)
{
	int err = 0;
	socklen_t len = sizeof(err);
	if (status < 0)
		err = -status;
	else if (getsockopt(l->rc->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err)
		link_down(l, strerror(err));
	else
		link_hello(l);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	redis_link *l = h->data;
	assert(l->poll == h && l->rc != NULL);
	if (l->state == LINK_CONNECTING) {
		connected(l, status);
		return;
	}
	if (status < 0) {
		char why[120];
		snprintf(why, sizeof(why), "the connection failed (%s)", uv_strerror(status));
		link_down(l, why);
		return;
	}
	uint64_t generation = l->generation;
	if (events & UV_WRITABLE) {
		flush_or_down(l);
		if (l->generation != generation)
			return;
	}
	if (events & UV_READABLE)
		read_replies(l);
}

/* ---- timers ------------------------------------------------------------------ */

/* A Redis that keeps the connection but stops answering (stopped, or
 * stuck on its disk) is treated as lost, so that its users give up rather
 * than wait. */
static void on_watchdog(uv_timer_t *t)
{
	redis_link *l = t->data;
	if (l->state != LINK_UP || l->q_count == 0)
		return;
	if (uv_now(l->loop) - l->q[l->q_head].sent_ms > l->cfg.reply_timeout_ms) {
		char why[64];
		snprintf(why, sizeof(why), "no reply in %u s", l->cfg.reply_timeout_ms / 1000);
		link_down(l, why);
	}
}

static void on_connect_timeout(uv_timer_t *t)
{
	redis_link *l = t->data;
	if (l->state == LINK_CONNECTING || l->state == LINK_HELLO)
		link_down(l, "no answer to connect and PING in time");
}

static void on_fail(uv_timer_t *t)
{
	redis_link *l = t->data;
	link_down(l, l->fail_why);
}

static void on_retry(uv_timer_t *t)
{
	redis_link *l = t->data;
	if (l->closed || l->stopped || l->state != LINK_DOWN)
		return;
	assert(l->rc == NULL && l->poll == NULL);
	l->reconnects_total++;
	l->rc = redisConnectNonBlock(l->cfg.url.host, l->cfg.url.port);
	if (l->rc == NULL || l->rc->err) {
		char why[200];
		snprintf(why, sizeof(why), "%s", l->rc ? l->rc->errstr : "out of memory");
		link_down(l, why);
		return;
	}
	if (watch(l) != 0) {
		link_down(l, "cannot watch the socket");
		return;
	}
	l->state = LINK_CONNECTING;
	poll_want(l, UV_WRITABLE);
	uv_timer_start(&l->retry_timer, on_connect_timeout, l->cfg.connect_timeout_ms, 0);
}

/* ---- the interface ------------------------------------------------------------ */

/* Go on with a connected blocking context, made non-blocking. */
static void adopt(redis_link *l, redisContext *rc)
{
	l->rc = rc;
	int fl = fcntl(rc->fd, F_GETFL);
	fcntl(rc->fd, F_SETFL, fl | O_NONBLOCK);
	rc->flags &= ~REDIS_BLOCK;
	struct timeval none = { 0, 0 };
	redisSetTimeout(rc, none);
	if (watch(l) != 0) {
		link_down(l, "cannot watch the socket");
		return;
	}
	link_ready(l, false);
	poll_want(l, UV_READABLE);
}

redis_link *redis_link_create(uv_loop_t *loop, const redis_link_config *cfg, redisContext *rc,
    redis_link_state_fn state_fn, void *ud)
{
	assert(cfg->reconnect_min_ms > 0 && cfg->reconnect_min_ms <= cfg->reconnect_max_ms);
	redis_link *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return NULL;
	l->loop = loop;
	l->cfg = *cfg;
	l->state_fn = state_fn;
	l->ud = ud;
	l->state = LINK_DOWN;
	uv_timer_init(loop, &l->retry_timer);
	uv_timer_init(loop, &l->watchdog);
	uv_timer_init(loop, &l->fail_timer);
	l->retry_timer.data = l->watchdog.data = l->fail_timer.data = l;
	uv_timer_start(&l->watchdog, on_watchdog, WATCHDOG_PERIOD_MS, WATCHDOG_PERIOD_MS);
	uv_unref((uv_handle_t *)&l->watchdog);
	if (rc)
		adopt(l, rc);
	else
		retry_schedule(l);
	return l;
}

int redis_link_send(redis_link *l, int argc, const char **argv, const size_t *lens,
    redis_link_reply_fn fn, void *ud)
{
	assert(fn != NULL);
	if (l->state != LINK_UP || l->closed)
		return -1;
	assert(l->rc != NULL && l->preamble == 0);
	if (!q_push(l, (pending){ fn, ud, uv_now(l->loop) }))
		return -1;
	if (redisAppendCommandArgv(l->rc, argc, argv, lens) != REDIS_OK) {
		l->q_count--; /* the command just queued */
		return -1;
	}
	if (uv_is_active((uv_handle_t *)&l->fail_timer))
		return 0; /* a write failed already: the loss is on its way */
	if (flush(l, l->fail_why, sizeof(l->fail_why)) != 0)
		uv_timer_start(&l->fail_timer, on_fail, 0, 0);
	return 0;
}

bool redis_link_cork(redis_link *l)
{
	bool was = l->corked;
	l->corked = true;
	return was;
}

void redis_link_uncork(redis_link *l, bool was)
{
	if (was)
		return; /* an outer cork (the up callback) flushes */
	l->corked = false;
	if (l->state != LINK_UP || l->closed || uv_is_active((uv_handle_t *)&l->fail_timer))
		return;
	if (flush(l, l->fail_why, sizeof(l->fail_why)) != 0)
		uv_timer_start(&l->fail_timer, on_fail, 0, 0);
}

bool redis_link_is_up(const redis_link *l)
{
	return l->state == LINK_UP && !l->closed;
}

uint32_t redis_link_in_flight(const redis_link *l)
{
	return l->q_count;
}

uint64_t redis_link_reconnects(const redis_link *l)
{
	return l->reconnects_total;
}

void redis_link_fail(redis_link *l, const char *why)
{
	link_down(l, why);
}

void redis_link_stop(redis_link *l)
{
	if (l->stopped || l->closed)
		return;
	l->stopped = true;
	drop_connection(l);
	l->q_count = 0;
	uv_timer_stop(&l->retry_timer);
	uv_timer_stop(&l->fail_timer);
}

void redis_link_close(redis_link *l)
{
	if (l == NULL || l->closed)
		return;
	redis_link_stop(l);
	l->closed = true;
	uv_close((uv_handle_t *)&l->retry_timer, NULL);
	uv_close((uv_handle_t *)&l->watchdog, NULL);
	uv_close((uv_handle_t *)&l->fail_timer, NULL);
}

void redis_link_destroy(redis_link *l)
{
	if (l == NULL)
		return;
	if (l->rc)
		redisFree(l->rc);
	free(l->q);
	free(l);
}
