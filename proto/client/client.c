/*
 * client.c - the blocking MessagePack-RPC client (see allot/client.h).
 *
 * The socket is non-blocking and every wait goes through poll() with a
 * deadline, so one timeout bounds connect, send and receive alike.
 *
 * Incoming bytes collect in one buffer. Before msgpack-c sees any of them,
 * the project's MessagePack reader (proto/mp.h) walks the next value's
 * headers and finds where it ends, refusing at once a header that claims
 * more than the reply limit allows. msgpack-c's own unpacker would allocate
 * for a claimed element count as soon as it read the header, so only whole,
 * checked frames are decoded. The reader keeps its place in a frame that
 * has partly arrived, so a large reply read in many pieces is walked once.
 */
#include "allot/client.h"
#include "fail.h"
#include "mp.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* How much is read from the socket at a time, at most. */
#define CLIENT_READ_CHUNK ((size_t)64 << 10)

struct allot_client {
	int fd;
	int timeout_ms;
	uint32_t next_msgid;
	size_t reply_max;

	/*
	 * Once the byte stream is out of step (a partial send, undecodable
	 * input, a reset) nothing more can be exchanged on it; broken holds
	 * the status every later operation returns.
	 */
	int broken;

	uint8_t *buf;    /* received bytes; buf[off..len) not yet consumed */
	size_t off, len, cap;
	mp_reader reader; /* where it stands in the frame at buf + off */

	allot_notify_fn *notify_fn;
	void *notify_ud;

	msgpack_sbuffer out; /* reused to encode requests */
};

int client_fail(char *err, size_t err_len, int status, const char *fmt, ...)
{
	if (err != NULL && err_len > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return status;
}

/* ---- framing ---- */

/*
 * The limits a reply is framed with: only its size is the caller's to set.
 * Element counts and string lengths are bounded by that size alone, and
 * nesting by the reader's hard maximum (msgpack-c itself stops at 32
 * levels, which message_take() reports, consuming the frame).
 */
static mp_limits frame_limits(size_t frame_bytes_max)
{
	return (mp_limits){
		.frame_bytes_max = frame_bytes_max,
		.depth_max = MP_DEPTH_HARD_MAX,
		.array_max = UINT32_MAX,
		.map_max = UINT32_MAX,
		.str_max = UINT32_MAX,
	};
}

/* Whether p[0..len) is exactly one well-formed MessagePack value. */
static bool is_one_value(const void *p, size_t len)
{
	mp_limits lim = frame_limits(len);
	size_t value_len = 0;
	return mp_scan(p, len, &lim, &value_len, NULL) == MP_OK && value_len == len;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The deadline of an operation starting now; -1 means none. */
static int64_t deadline_after(int timeout_ms)
{
	return timeout_ms > 0 ? now_ms() + timeout_ms : -1;
}

/* Wait until fd is ready for events or the deadline passes. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int wait_ms = -1;
		if (deadline >= 0) {
			int64_t left = deadline - now_ms();
			if (left <= 0)
				return ALLOT_CLIENT_ERR_TIMEOUT;
			wait_ms = left > INT_MAX ? INT_MAX : (int)left;
		}
		struct pollfd pfd = { .fd = fd, .events = events };
		int n = poll(&pfd, 1, wait_ms);
		if (n > 0)
			return ALLOT_CLIENT_OK;
		if (n == 0)
			return ALLOT_CLIENT_ERR_TIMEOUT;
		if (errno != EINTR)
			return ALLOT_CLIENT_ERR_IO;
	}
}

void allot_message_init(allot_message *m)
{
	memset(m, 0, sizeof(*m));
	msgpack_unpacked_init(&m->unpacked_);
}

void allot_message_clear(allot_message *m)
{
	msgpack_unpacked_destroy(&m->unpacked_);
	free(m->frame_);
	allot_message_init(m);
}

/* ---- connecting ---- */

/*
 * Finish a non-blocking connect on fd. Returns 0, or a negative status with
 * errno describing the failure.
 */
static int connect_fd(int fd, const struct sockaddr *sa, socklen_t sa_len,
    int64_t deadline)
{
	if (connect(fd, sa, sa_len) == 0)
		return ALLOT_CLIENT_OK;
	if (errno != EINPROGRESS && errno != EINTR)
		return ALLOT_CLIENT_ERR_CONNECT;
	int rc = wait_fd(fd, POLLOUT, deadline);
	if (rc == ALLOT_CLIENT_ERR_TIMEOUT) {
		errno = ETIMEDOUT;
		return rc;
	}
	if (rc < 0)
		return ALLOT_CLIENT_ERR_CONNECT;
	int so_error = 0;
	socklen_t len = sizeof(so_error);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) < 0)
		return ALLOT_CLIENT_ERR_CONNECT;
	if (so_error != 0) {
		errno = so_error;
		return ALLOT_CLIENT_ERR_CONNECT;
	}
	return ALLOT_CLIENT_OK;
}

static int connect_unix(const char *path, int64_t deadline, char *err,
    size_t err_len)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sun.sun_path))
		return client_fail(err, err_len, ALLOT_CLIENT_ERR_ARG,
		    "socket path too long: %s", path);
	memcpy(sun.sun_path, path, strlen(path) + 1);

	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return client_fail(err, err_len, ALLOT_CLIENT_ERR_CONNECT,
		    "socket: %s", strerror(errno));
	int rc = connect_fd(fd, (struct sockaddr *)&sun, sizeof(sun), deadline);
	if (rc < 0) {
		int saved = errno;
		close(fd);
		return client_fail(err, err_len, rc, "cannot connect to %s: %s", path,
		    strerror(saved));
	}
	return fd;
}

/* Try each address host resolves to until one accepts the connection. */
static int connect_tcp(const char *host, int port, int64_t deadline,
    char *err, size_t err_len)
{
	if (port <= 0 || port > 65535)
		return client_fail(err, err_len, ALLOT_CLIENT_ERR_ARG,
		    "port out of range: %d", port);
	char service[8];
	snprintf(service, sizeof(service), "%d", port);
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICSERV,
	};
	struct addrinfo *list = NULL;
	int gai = getaddrinfo(host, service, &hints, &list);
	if (gai != 0)
		return client_fail(err, err_len, ALLOT_CLIENT_ERR_CONNECT,
		    "cannot resolve %s: %s", host, gai_strerror(gai));

	int fd = -1, rc = ALLOT_CLIENT_ERR_CONNECT, saved = EHOSTUNREACH;
	for (struct addrinfo *ai = list; ai != NULL && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family,
		    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		rc = connect_fd(fd, ai->ai_addr, ai->ai_addrlen, deadline);
		if (rc < 0) {
			saved = errno;
			close(fd);
			fd = -1;
			if (rc == ALLOT_CLIENT_ERR_TIMEOUT)
				break;
		}
	}
	freeaddrinfo(list);
	if (fd < 0) {
		bool v6 = strchr(host, ':') != NULL;
		return client_fail(err, err_len, rc, "cannot connect to %s%s%s:%d: %s",
		    v6 ? "[" : "", host, v6 ? "]" : "", port, strerror(saved));
	}

	/* Requests are small and a caller waits on each: send them at once. */
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

allot_client *allot_client_connect(const char *host, int port, int timeout_ms,
    char *err, size_t err_len)
{
	if (host == NULL)
		host = ALLOT_DEFAULT_HOST;
	allot_client *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		client_fail(err, err_len, ALLOT_CLIENT_ERR_NOMEM, "out of memory");
		goto fail_alloc;
	}
	c->fd = -1;
	c->timeout_ms = timeout_ms;
	c->next_msgid = 1;
	c->reply_max = ALLOT_CLIENT_REPLY_BYTES_MAX;
	mp_limits lim = frame_limits(c->reply_max);
	mp_reader_init(&c->reader, &lim);
	msgpack_sbuffer_init(&c->out);

	int64_t deadline = deadline_after(timeout_ms);
	if (strchr(host, '/') != NULL)
		c->fd = connect_unix(host, deadline, err, err_len);
	else
		c->fd = connect_tcp(host, port, deadline, err, err_len);
	if (c->fd < 0)
		goto fail_connect;
	return c;

fail_connect:
	msgpack_sbuffer_destroy(&c->out);
	free(c);
fail_alloc:
	return NULL;
}

void allot_client_destroy(allot_client *c)
{
	if (c == NULL)
		return;
	if (c->fd >= 0)
		close(c->fd);
	msgpack_sbuffer_destroy(&c->out);
	free(c->buf);
	free(c);
}

void allot_client_set_timeout(allot_client *c, int timeout_ms)
{
	c->timeout_ms = timeout_ms;
}

void allot_client_set_reply_limit(allot_client *c, size_t bytes)
{
	c->reply_max = bytes > 0 ? bytes : ALLOT_CLIENT_REPLY_BYTES_MAX;
	/* A frame partly walked under the old limit is walked again, from the
	 * front of the buffer, under the new one. A stream already broken stays
	 * broken: c->broken says so, whatever the reader holds. */
	mp_limits lim = frame_limits(c->reply_max);
	mp_reader_init(&c->reader, &lim);
}

int allot_client_fd(const allot_client *c)
{
	return c->fd;
}

void allot_client_set_notify_handler(allot_client *c, allot_notify_fn *fn,
    void *ud)
{
	c->notify_fn = fn;
	c->notify_ud = ud;
}

static int broken_status(const allot_client *c, char *err, size_t err_len)
{
	return client_fail(err, err_len, c->broken,
	    "connection unusable after an earlier error");
}

/* ---- sending ---- */

static int send_until(allot_client *c, const void *buf, size_t len,
    int64_t deadline, char *err, size_t err_len)
{
	if (c->broken)
		return broken_status(c, err, err_len);
	const uint8_t *p = buf;
	size_t sent = 0;
	while (sent < len) {
		ssize_t n = send(c->fd, p + sent, len - sent, MSG_NOSIGNAL);
		if (n > 0) {
			sent += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		int rc = ALLOT_CLIENT_ERR_IO;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			rc = wait_fd(c->fd, POLLOUT, deadline);
		if (rc == ALLOT_CLIENT_OK)
			continue;
		int saved = errno;
		/* Part of a message went out: the peer would misread the rest. */
		if (sent > 0 || rc != ALLOT_CLIENT_ERR_TIMEOUT)
			c->broken = rc;
		if (rc == ALLOT_CLIENT_ERR_TIMEOUT)
			return client_fail(err, err_len, rc, "send timed out");
		return client_fail(err, err_len, rc, "send: %s", strerror(saved));
	}
	return ALLOT_CLIENT_OK;
}

int allot_client_send_raw(allot_client *c, const void *buf, size_t len,
    char *err, size_t err_len)
{
	return send_until(c, buf, len, deadline_after(c->timeout_ms), err,
	    err_len);
}

/* ---- receiving ---- */

/* Read more bytes into the buffer, waiting until the deadline. */
static int fill(allot_client *c, int64_t deadline, char *err, size_t err_len)
{
	/* The reader holds an offset into the frame at buf + off, not a
	 * pointer, so the bytes may move to the front and the buffer grow. */
	if (c->off > 0 && (c->off == c->len || c->cap - c->len < CLIENT_READ_CHUNK)) {
		memmove(c->buf, c->buf + c->off, c->len - c->off);
		c->len -= c->off;
		c->off = 0;
	}
	if (c->cap - c->len < CLIENT_READ_CHUNK) {
		size_t cap = c->cap > 0 ? c->cap * 2 : CLIENT_READ_CHUNK;
		if (cap < c->len + CLIENT_READ_CHUNK)
			cap = c->len + CLIENT_READ_CHUNK;
		uint8_t *buf = realloc(c->buf, cap);
		if (buf == NULL)
			return client_fail(err, err_len, ALLOT_CLIENT_ERR_NOMEM, "out of memory");
		c->buf = buf;
		c->cap = cap;
	}
	for (;;) {
		ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (n > 0) {
			c->len += (size_t)n;
			return ALLOT_CLIENT_OK;
		}
		if (n == 0) {
			c->broken = c->len > c->off ? ALLOT_CLIENT_ERR_PROTOCOL
			                            : ALLOT_CLIENT_ERR_CLOSED;
			return client_fail(err, err_len, c->broken, c->len > c->off
			    ? "connection closed in the middle of a message"
			    : "connection closed by the server");
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			int saved = errno;
			c->broken = ALLOT_CLIENT_ERR_IO;
			return client_fail(err, err_len, c->broken, "recv: %s", strerror(saved));
		}
		int rc = wait_fd(c->fd, POLLIN, deadline);
		if (rc == ALLOT_CLIENT_ERR_TIMEOUT)
			return client_fail(err, err_len, rc, "timed out waiting for the server");
		if (rc < 0)
			return client_fail(err, err_len, rc, "poll: %s", strerror(errno));
	}
}

static bool object_is_uint32(const msgpack_object *o)
{
	return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
	    o->via.u64 <= UINT32_MAX;
}

/* Fill m's fields from its decoded root, checking the message's shape. */
static int message_interpret(allot_message *m, char *err, size_t err_len)
{
	const msgpack_object *root = &m->root;
	const msgpack_object_array *a = &root->via.array;
	if (root->type != MSGPACK_OBJECT_ARRAY || a->size < 1 ||
	    a->ptr[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		goto fail_shape;
	if (a->ptr[0].via.u64 == ALLOT_MSG_RESPONSE && a->size == 4 &&
	    object_is_uint32(&a->ptr[1])) {
		m->type = ALLOT_MSG_RESPONSE;
		m->msgid = (uint32_t)a->ptr[1].via.u64;
		m->error = a->ptr[2];
		m->result = a->ptr[3];
		return ALLOT_CLIENT_OK;
	}
	if (a->ptr[0].via.u64 == ALLOT_MSG_NOTIFICATION && a->size == 3 &&
	    (a->ptr[1].type == MSGPACK_OBJECT_STR ||
	     a->ptr[1].type == MSGPACK_OBJECT_BIN)) {
		m->type = ALLOT_MSG_NOTIFICATION;
		m->method = a->ptr[1];
		m->params = a->ptr[2];
		return ALLOT_CLIENT_OK;
	}
fail_shape:
	return client_fail(err, err_len, ALLOT_CLIENT_ERR_PROTOCOL,
	    "not a msgpack-rpc response or notification");
}

/*
 * Move the whole frame at the front of the buffer into m and decode it.
 * The frame is copied because msgpack-c's objects point into the bytes
 * they were decoded from, and the buffer moves as it fills.
 */
static int message_take(allot_client *c, size_t frame_len, allot_message *m,
    char *err, size_t err_len)
{
	allot_message_clear(m);
	m->frame_ = malloc(frame_len);
	if (m->frame_ == NULL)
		return client_fail(err, err_len, ALLOT_CLIENT_ERR_NOMEM, "out of memory");
	memcpy(m->frame_, c->buf + c->off, frame_len);
	c->off += frame_len;
	m->size = frame_len;

	size_t used = 0;
	msgpack_unpack_return ur =
	    msgpack_unpack_next(&m->unpacked_, m->frame_, frame_len, &used);
	if (ur != MSGPACK_UNPACK_SUCCESS || used != frame_len) {
		/* The reader accepted it, so msgpack-c ran out of nesting depth
		 * (32 levels) or of memory; it reports both as NOMEM_ERROR. The
		 * frame is consumed, so the stream stays usable. */
		allot_message_clear(m);
		return client_fail(err, err_len, ALLOT_CLIENT_ERR_PROTOCOL,
		    "cannot decode a %zu-byte message: nested deeper than 32 "
		    "levels, or out of memory", frame_len);
	}
	m->root = m->unpacked_.data;
	int rc = message_interpret(m, err, err_len);
	if (rc < 0)
		allot_message_clear(m);
	return rc;
}

static int recv_until(allot_client *c, allot_message *m, int64_t deadline,
    char *err, size_t err_len)
{
	for (;;) {
		if (c->broken)
			return broken_status(c, err, err_len);
		size_t frame_len = 0;
		const char *why = NULL;
		int rc = mp_reader_next(&c->reader, c->buf + c->off, c->len - c->off,
		    &frame_len, &why);
		if (rc == MP_OK)
			return message_take(c, frame_len, m, err, err_len);
		if (rc != MP_INCOMPLETE) {
			c->broken = ALLOT_CLIENT_ERR_PROTOCOL;
			if (rc == MP_ERR_MALFORMED)
				return client_fail(err, err_len, c->broken,
				    "not MessagePack from the server: %s", why);
			return client_fail(err, err_len, c->broken,
			    "message from the server over the limits (%zu bytes, %d levels): %s",
			    c->reply_max, MP_DEPTH_HARD_MAX, why);
		}
		rc = fill(c, deadline, err, err_len);
		if (rc < 0)
			return rc;
	}
}

int allot_client_recv(allot_client *c, allot_message *msg, char *err,
    size_t err_len)
{
	return recv_until(c, msg, deadline_after(c->timeout_ms), err, err_len);
}

/* ---- requests ---- */

static int send_request_until(allot_client *c, const char *method,
    const void *params, size_t params_len, uint32_t *msgid_out,
    int64_t deadline, char *err, size_t err_len)
{
	if (method == NULL)
		return client_fail(err, err_len, ALLOT_CLIENT_ERR_ARG, "no method name");
	if (params != NULL) {
		if (!is_one_value(params, params_len))
			return client_fail(err, err_len, ALLOT_CLIENT_ERR_ARG,
			    "params are not exactly one MessagePack value");
	}
	uint32_t msgid = c->next_msgid++;
	if (c->next_msgid == 0)
		c->next_msgid = 1;

	msgpack_sbuffer_clear(&c->out);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &c->out, msgpack_sbuffer_write);
	size_t method_len = strlen(method);
	int prc = msgpack_pack_array(&pk, 4);
	prc |= msgpack_pack_uint8(&pk, ALLOT_MSG_REQUEST);
	prc |= msgpack_pack_uint32(&pk, msgid);
	prc |= msgpack_pack_str(&pk, method_len);
	prc |= msgpack_pack_str_body(&pk, method, method_len);
	if (params != NULL)
		prc |= msgpack_sbuffer_write(&c->out, params, params_len);
	else
		prc |= msgpack_pack_array(&pk, 0);
	if (prc != 0)
		return client_fail(err, err_len, ALLOT_CLIENT_ERR_NOMEM, "out of memory");

	int rc = send_until(c, c->out.data, c->out.size, deadline, err, err_len);
	if (rc == 0 && msgid_out != NULL)
		*msgid_out = msgid;
	return rc;
}

int allot_client_send_request(allot_client *c, const char *method,
    const void *params, size_t params_len, uint32_t *msgid_out, char *err,
    size_t err_len)
{
	return send_request_until(c, method, params, params_len, msgid_out,
	    deadline_after(c->timeout_ms), err, err_len);
}

int allot_client_call(allot_client *c, const char *method,
    const void *params, size_t params_len, allot_message *reply, char *err,
    size_t err_len)
{
	int64_t deadline = deadline_after(c->timeout_ms);
	uint32_t msgid = 0;
	allot_message_clear(reply);
	int rc = send_request_until(c, method, params, params_len, &msgid,
	    deadline, err, err_len);
	if (rc < 0)
		return rc;
	for (;;) {
		rc = recv_until(c, reply, deadline, err, err_len);
		if (rc < 0)
			return rc;
		if (reply->type == ALLOT_MSG_NOTIFICATION) {
			if (c->notify_fn != NULL)
				c->notify_fn(reply, c->notify_ud);
			continue;
		}
		if (reply->msgid == msgid || reply->msgid == 0)
			return ALLOT_CLIENT_OK;
	}
}

/* ---- reading replies ---- */

static bool object_equals_cstr(const msgpack_object *o, const char *s)
{
	size_t n = strlen(s);
	if (o->type == MSGPACK_OBJECT_STR)
		return o->via.str.size == n && memcmp(o->via.str.ptr, s, n) == 0;
	if (o->type == MSGPACK_OBJECT_BIN)
		return o->via.bin.size == n && memcmp(o->via.bin.ptr, s, n) == 0;
	return false;
}

const msgpack_object *allot_object_map_get(const msgpack_object *map,
    const char *key)
{
	if (map == NULL || map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object_kv *kv = &map->via.map.ptr[i];
		if (object_equals_cstr(&kv->key, key))
			return &kv->val;
	}
	return NULL;
}

const char *allot_message_error_code(const allot_message *m, char *buf,
    size_t buf_len)
{
	if (m->type != ALLOT_MSG_RESPONSE || buf == NULL || buf_len == 0)
		return NULL;
	const msgpack_object *code = allot_object_map_get(&m->error, "code");
	if (code == NULL || code->type != MSGPACK_OBJECT_STR)
		return NULL;
	size_t n = code->via.str.size < buf_len - 1 ? code->via.str.size
	                                              : buf_len - 1;
	memcpy(buf, code->via.str.ptr, n);
	buf[n] = '\0';
	return buf;
}

/* ---- access ---- */

/* The str value of key in map, copied NUL-terminated into buf, or "". */
static void copy_field(const msgpack_object *map, const char *key, char *buf, size_t len)
{
	const msgpack_object *v = allot_object_map_get(map, key);
	if (buf == NULL || len == 0)
		return;
	buf[0] = '\0';
	if (v == NULL || v->type != MSGPACK_OBJECT_STR)
		return;
	size_t n = v->via.str.size < len - 1 ? v->via.str.size : len - 1;
	memcpy(buf, v->via.str.ptr, n);
	buf[n] = '\0';
}

int allot_client_auth(allot_client *c, const char *token, char *role, size_t role_len,
    char *err, size_t err_len)
{
	if (token == NULL)
		return client_fail(err, err_len, ALLOT_CLIENT_ERR_ARG, "no token given");
	size_t n = strlen(token);
	msgpack_sbuffer sbuf;
	msgpack_sbuffer_init(&sbuf);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
	int rc = msgpack_pack_array(&pk, 1) || msgpack_pack_map(&pk, 1) ||
	    msgpack_pack_str_with_body(&pk, "token", 5) || msgpack_pack_str_with_body(&pk, token, n)
	    ? client_fail(err, err_len, ALLOT_CLIENT_ERR_NOMEM, "out of memory") : ALLOT_CLIENT_OK;
	allot_message reply;
	allot_message_init(&reply);
	if (rc == 0)
		rc = allot_client_call(c, "auth", sbuf.data, sbuf.size, &reply, err, err_len);
	/* The request held the token: it does not linger in the buffer. */
	if (sbuf.data)
		memset(sbuf.data, 0, sbuf.size);
	msgpack_sbuffer_destroy(&sbuf);
	if (rc == 0 && reply.error.type != MSGPACK_OBJECT_NIL) {
		char code[32], message[200];
		copy_field(&reply.error, "code", code, sizeof(code));
		copy_field(&reply.error, "message", message, sizeof(message));
		rc = client_fail(err, err_len, ALLOT_CLIENT_ERR_AUTH, "the token was refused: %s: %s",
		    code[0] ? code : "(no code)", message);
	} else if (rc == 0) {
		copy_field(&reply.result, "role", role, role_len);
	}
	allot_message_clear(&reply);
	return rc;
}
