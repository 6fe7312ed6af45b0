/*
 * wire_client.c - a raw MessagePack-RPC connection to allotd on
 * proto/mp.h (wire_client.h).
 */
#include "wire_client.h"

#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "allot/protocol.h"
#include "harness.h"

/* What the scanner accepts in a reply: any reply allotd can send. */
static const mp_limits wire_limits = {
	.frame_bytes_max = WIRE_FRAME_MAX,
	.depth_max = 32,
	.array_max = 1u << 20,
	.map_max = 1u << 20,
	.str_max = 1u << 20,
};

void wire_fail(wire_conn *c, const char *fmt, ...)
{
	if (c->error[0] != '\0')
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
}

int wire_open(wire_conn *c, int port, int timeout_ms)
{
	memset(c, 0, sizeof(*c));
	mp_buf_init(&c->out);
	mp_reader_init(&c->reader, &wire_limits);
	c->fd = harness_connect_raw(port, timeout_ms);
	if (c->fd < 0) {
		wire_fail(c, "cannot connect to port %d: %s", port,
		    strerror(errno));
		return -1;
	}
	return 0;
}

void wire_close(wire_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	mp_buf_finish(&c->out);
	free(c->in);
	c->in = NULL;
	c->in_len = c->in_cap = c->in_off = c->msg_len = 0;
}

void wire_request(wire_conn *c, uint32_t msgid, const char *method)
{
	mp_write_array(&c->out, 4);
	mp_write_uint(&c->out, ALLOT_MSG_REQUEST);
	mp_write_uint(&c->out, msgid);
	mp_write_cstr(&c->out, method);
	mp_write_array(&c->out, 1);
}

/* Milliseconds left before deadline, for poll(): at least 0. */
static int ms_left(int64_t deadline)
{
	int64_t left = deadline - harness_now_ms();
	return left < 0 ? 0 : left > 60000 ? 60000 : (int)left;
}

int wire_flush(wire_conn *c, int64_t deadline)
{
	if (mp_buf_failed(&c->out)) {
		wire_fail(c, "out of memory writing a request");
		return -1;
	}
	const uint8_t *p = c->out.data;
	size_t len = c->out.len;
	while (len > 0) {
		if (harness_now_ms() >= deadline) {
			wire_fail(c, "deadline passed while sending");
			return -1;
		}
		struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
		if (poll(&pfd, 1, ms_left(deadline)) <= 0)
			continue; /* EINTR, or the deadline check above ends it */
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			wire_fail(c, "send: %s", strerror(errno));
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	mp_buf_reset(&c->out);
	return 0;
}

/* Room for WIRE_READ_CHUNK more bytes, moving what is unread to the front. */
static int make_room(wire_conn *c)
{
	if (c->in_off > 0) {
		memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
	if (c->in_cap - c->in_len >= WIRE_READ_CHUNK)
		return 0;
	size_t cap = c->in_cap ? c->in_cap * 2 : 2 * WIRE_READ_CHUNK;
	uint8_t *n = realloc(c->in, cap);
	if (n == NULL) {
		wire_fail(c, "out of memory reading a reply");
		return WIRE_BAD;
	}
	c->in = n;
	c->in_cap = cap;
	return 0;
}

/* Read what has arrived, waiting until the deadline: WIRE_OK when bytes
 * came, WIRE_TIMEOUT, or WIRE_CLOSED. */
static int fill(wire_conn *c, int64_t deadline)
{
	if (make_room(c) != 0)
		return WIRE_BAD;
	for (;;) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		int pr = poll(&pfd, 1, ms_left(deadline));
		if (pr < 0 && errno != EINTR) {
			wire_fail(c, "poll: %s", strerror(errno));
			return WIRE_CLOSED;
		}
		if (pr <= 0) {
			if (harness_now_ms() >= deadline)
				return WIRE_TIMEOUT;
			continue;
		}
		ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len,
		    MSG_DONTWAIT);
		if (n > 0) {
			c->in_len += (size_t)n;
			return WIRE_OK;
		}
		if (n == 0) {
			wire_fail(c, "the server closed the connection");
			return WIRE_CLOSED;
		}
		if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
			wire_fail(c, "recv: %s", strerror(errno));
			return WIRE_CLOSED;
		}
	}
}

int wire_next(wire_conn *c, int64_t deadline, mp_cursor *msg)
{
	c->in_off += c->msg_len; /* the last message is read by now */
	c->msg_len = 0;
	for (;;) {
		size_t have = c->in_len - c->in_off, len = 0;
		const char *why = NULL;
		/* The one place a reply is framed: the resumable scanner says
		 * whether the bytes hold a whole value yet, carrying on where
		 * it stopped as more arrive. */
		int rc = have == 0 ? MP_INCOMPLETE :
		    mp_reader_next(&c->reader, c->in + c->in_off, have, &len, &why);
		if (rc == MP_OK) {
			assert(len > 0 && len <= have);
			c->msg_len = len;
			mp_cursor_init(msg, c->in + c->in_off, len);
			return WIRE_OK;
		}
		if (rc != MP_INCOMPLETE) {
			wire_fail(c, "the server sent bytes that are not MessagePack "
			    "(%s)", why ? why : "?");
			return WIRE_BAD;
		}
		int got = fill(c, deadline);
		if (got != WIRE_OK)
			return got;
	}
}

int wire_reply_next(wire_conn *c, int64_t deadline, wire_reply *r)
{
	mp_cursor m;
	int rc = wire_next(c, deadline, &m);
	if (rc != WIRE_OK)
		return rc;
	uint32_t n;
	uint64_t type, msgid;
	if (!mp_read_array(&m, &n) || n != 4 || !mp_read_uint(&m, &type) ||
	    type != ALLOT_MSG_RESPONSE || !mp_read_uint(&m, &msgid) ||
	    msgid > UINT32_MAX) {
		wire_fail(c, "a message that is not a response");
		return WIRE_BAD;
	}
	r->msgid = (uint32_t)msgid;
	r->error = m;
	r->failed = mp_peek(&m) != MP_T_NIL;
	if (!mp_skip(&m)) {
		wire_fail(c, "a response without an error and a result");
		return WIRE_BAD;
	}
	r->result = m;
	return WIRE_OK;
}

int wire_reply_to(wire_conn *c, uint32_t msgid, int64_t deadline,
    wire_reply *r)
{
	int rc = wire_reply_next(c, deadline, r);
	if (rc == WIRE_TIMEOUT)
		wire_fail(c, "no reply to msgid %u before the deadline", msgid);
	if (rc != WIRE_OK)
		return -1;
	if (r->msgid != msgid) {
		wire_fail(c, "reply to msgid %u, expected %u", r->msgid, msgid);
		return -1;
	}
	return 0;
}

bool wire_more(wire_conn *c, int wait_ms)
{
	if (c->in_len - c->in_off > c->msg_len)
		return true;
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	if (poll(&pfd, 1, wait_ms) <= 0)
		return false;
	char b;
	return recv(c->fd, &b, 1, MSG_DONTWAIT) > 0;
}

bool wire_get(mp_cursor m, const char *key, mp_cursor *value)
{
	uint32_t n;
	if (!mp_read_map(&m, &n))
		return false;
	size_t klen = strlen(key);
	for (uint32_t i = 0; i < n; i++) {
		bool match = false;
		if (mp_peek(&m) == MP_T_STR) {
			const char *k;
			uint32_t len;
			if (!mp_read_str(&m, &k, &len))
				return false;
			match = len == klen && memcmp(k, key, klen) == 0;
		} else if (!mp_skip(&m)) {
			return false;
		}
		if (match) {
			*value = m;
			return true;
		}
		if (!mp_skip(&m))
			return false;
	}
	return false;
}

bool wire_is_str(mp_cursor v, const char *s)
{
	const char *p;
	uint32_t len;
	return mp_peek(&v) == MP_T_STR && mp_read_str(&v, &p, &len) &&
	    len == strlen(s) && memcmp(p, s, len) == 0;
}

bool wire_get_is(mp_cursor m, const char *key, const char *s)
{
	mp_cursor v;
	return wire_get(m, key, &v) && wire_is_str(v, s);
}

bool wire_get_int(mp_cursor m, const char *key, int64_t *out)
{
	mp_cursor v;
	return wire_get(m, key, &v) && mp_read_int(&v, out);
}

bool wire_get_text(mp_cursor m, const char *key, char *buf, size_t len)
{
	mp_cursor v;
	const char *p;
	uint32_t n;
	if (!wire_get(m, key, &v) || mp_peek(&v) != MP_T_STR ||
	    !mp_read_str(&v, &p, &n) || (size_t)n >= len)
		return false;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return true;
}

void wire_error_code(const wire_reply *r, char *buf, size_t len)
{
	buf[0] = '\0';
	if (!r->failed)
		return;
	if (!wire_get_text(r->error, "code", buf, len))
		snprintf(buf, len, "(error without a code)");
}

bool wire_index(mp_cursor a, uint32_t i, mp_cursor *elem)
{
	uint32_t n;
	if (!mp_read_array(&a, &n) || i >= n)
		return false;
	for (uint32_t k = 0; k < i; k++)
		if (!mp_skip(&a))
			return false;
	*elem = a;
	return true;
}
