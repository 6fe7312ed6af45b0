/*
 * ctx.c - liballot's connection: connecting, sending, framing replies,
 * pipelining (see allot/allot.h).
 *
 * The socket is non-blocking and every wait goes through poll() with a
 * deadline, so one timeout bounds connect, send and receive alike.
 *
 * Incoming bytes collect in one buffer. The project's resumable MessagePack
 * reader (proto/mp.h) walks the next value's headers and finds where it
 * ends, refusing at once a header that claims more than the reply limit
 * allows, and keeps its place in a frame that has partly arrived, so a
 * large reply read in many pieces is walked once. Only whole, checked
 * frames are decoded into replies (value.c).
 *
 * Requests queue in an output buffer. Sending waits for the socket to take
 * bytes and, meanwhile, reads what the server has answered, so a client
 * that pipelines more than the socket buffers hold never blocks against a
 * server that waits for its output to drain.
 */
#include "lib.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* How much is read from the socket at a time, at most. */
#define CTX_READ_CHUNK ((size_t)64 << 10)
#define CTX_ERRSTR_BYTES 256

struct allot_ctx {
	int fd;
	int timeout_ms;
	uint32_t next_msgid;
	size_t reply_max;
	size_t pending; /* requests queued or sent whose response is unread */

	int err;
	char errstr[CTX_ERRSTR_BYTES];
	/*
	 * Once the byte stream is out of step (a partial send, undecodable
	 * input, a reset) nothing more can be exchanged on it; broken holds
	 * the status every later operation returns.
	 */
	int broken;

	uint8_t *in;      /* received bytes; in[off..len) not yet consumed */
	size_t off, len, cap;
	mp_reader reader; /* where it stands in the frame at in + off */

	mp_buf out;       /* queued requests; out[sent..len) not yet sent */
	size_t sent;

	allot_notify_fn *notify_fn;
	void *notify_ud;
};

int lib_fail(allot_ctx *c, int status, const char *fmt, ...)
{
	c->err = status;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->errstr, sizeof(c->errstr), fmt, ap);
	va_end(ap);
	return status;
}

/* The header's version and the soname's come from one place each: they
 * must agree. */
_Static_assert(ALLOT_LIB_VERSION_MAJOR == LIBALLOT_BUILD_VERSION_MAJOR &&
    ALLOT_LIB_VERSION_MINOR == LIBALLOT_BUILD_VERSION_MINOR &&
    ALLOT_LIB_VERSION_PATCH == LIBALLOT_BUILD_VERSION_PATCH,
    "allot/allot.h and meson.build disagree on liballot's version");

const char *allot_version(void)
{
#define STR_(x) #x
#define STR(x) STR_(x)
	return STR(ALLOT_LIB_VERSION_MAJOR) "." STR(ALLOT_LIB_VERSION_MINOR) "."
	    STR(ALLOT_LIB_VERSION_PATCH);
}

const char *allot_strerror(int status)
{
	switch (status) {
	case ALLOT_OK: return "success";
	case ALLOT_E_ARG: return "bad argument";
	case ALLOT_E_NOMEM: return "out of memory";
	case ALLOT_E_CONNECT: return "cannot connect";
	case ALLOT_E_IO: return "connection failed";
	case ALLOT_E_TIMEOUT: return "timed out";
	case ALLOT_E_CLOSED: return "connection closed by the server";
	case ALLOT_E_PROTOCOL: return "protocol error";
	case ALLOT_E_AUTH: return "token refused";
	case ALLOT_E_SERVER: return "the server answered with an error";
	case ALLOT_E_TYPE: return "value of another type";
	default: return "unknown status";
	}
}

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

/* Wait until fd is ready for events (*revents says which) or the deadline
 * passes. */
static int wait_fd(int fd, short events, int64_t deadline, short *revents)
{
	for (;;) {
		int wait_ms = -1;
		if (deadline >= 0) {
			int64_t left = deadline - now_ms();
			if (left <= 0)
				return ALLOT_E_TIMEOUT;
			wait_ms = left > INT_MAX ? INT_MAX : (int)left;
		}
		struct pollfd pfd = { .fd = fd, .events = events };
		int n = poll(&pfd, 1, wait_ms);
		if (n > 0) {
			if (revents != NULL)
				*revents = pfd.revents;
			return ALLOT_OK;
		}
		if (n == 0)
			return ALLOT_E_TIMEOUT;
		if (errno != EINTR)
			return ALLOT_E_IO;
	}
}

/* ---- connecting ---- */

/* Finish a non-blocking connect on fd; errno describes a failure. */
static int connect_fd(int fd, const struct sockaddr *sa, socklen_t sa_len,
    int64_t deadline)
{
	if (connect(fd, sa, sa_len) == 0)
		return ALLOT_OK;
	if (errno != EINPROGRESS && errno != EINTR)
		return ALLOT_E_CONNECT;
	int rc = wait_fd(fd, POLLOUT, deadline, NULL);
	if (rc == ALLOT_E_TIMEOUT) {
		errno = ETIMEDOUT;
		return rc;
	}
	if (rc < 0)
		return ALLOT_E_CONNECT;
	int so_error = 0;
	socklen_t len = sizeof(so_error);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) < 0)
		return ALLOT_E_CONNECT;
	if (so_error != 0) {
		errno = so_error;
		return ALLOT_E_CONNECT;
	}
	return ALLOT_OK;
}

static int connect_unix(allot_ctx *c, const char *path, int64_t deadline)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sun.sun_path))
		return lib_fail(c, ALLOT_E_ARG, "socket path too long: %s", path);
	memcpy(sun.sun_path, path, strlen(path) + 1);

	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return lib_fail(c, ALLOT_E_CONNECT, "socket: %s", strerror(errno));
	int rc = connect_fd(fd, (struct sockaddr *)&sun, sizeof(sun), deadline);
	if (rc < 0) {
		int saved = errno;
		close(fd);
		return lib_fail(c, rc, "cannot connect to %s: %s", path, strerror(saved));
	}
	return fd;
}

/* Try each address host resolves to until one accepts the connection. */
static int connect_tcp(allot_ctx *c, const char *host, int port, int64_t deadline)
{
	if (port <= 0 || port > 65535)
		return lib_fail(c, ALLOT_E_ARG, "port out of range: %d", port);
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
		return lib_fail(c, ALLOT_E_CONNECT, "cannot resolve %s: %s", host,
		    gai_strerror(gai));

	int fd = -1, rc = ALLOT_E_CONNECT, saved = EHOSTUNREACH;
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
			if (rc == ALLOT_E_TIMEOUT)
				break;
		}
	}
	freeaddrinfo(list);
	if (fd < 0) {
		bool v6 = strchr(host, ':') != NULL;
		return lib_fail(c, rc, "cannot connect to %s%s%s:%d: %s",
		    v6 ? "[" : "", host, v6 ? "]" : "", port, strerror(saved));
	}
	/* Requests are small and a caller waits on each: send them at once. */
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static allot_ctx *ctx_create(int timeout_ms)
{
	allot_ctx *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->fd = -1;
	c->timeout_ms = timeout_ms;
	c->next_msgid = 1;
	c->reply_max = ALLOT_REPLY_BYTES_MAX_DEFAULT;
	mp_limits lim = frame_limits(c->reply_max);
	mp_reader_init(&c->reader, &lim);
	mp_buf_init(&c->out);
	return c;
}

allot_ctx *allot_connect(const char *host, int port, int timeout_ms)
{
	if (host == NULL)
		host = ALLOT_DEFAULT_HOST;
	if (strchr(host, '/') != NULL)
		return allot_connect_unix(host, timeout_ms);
	allot_ctx *c = ctx_create(timeout_ms);
	if (c == NULL)
		return NULL;
	int fd = connect_tcp(c, host, port, deadline_after(timeout_ms));
	if (fd < 0)
		c->broken = fd;
	c->fd = fd < 0 ? -1 : fd;
	return c;
}

allot_ctx *allot_connect_unix(const char *path, int timeout_ms)
{
	allot_ctx *c = ctx_create(timeout_ms);
	if (c == NULL)
		return NULL;
	int fd = path != NULL ? connect_unix(c, path, deadline_after(timeout_ms))
	                      : lib_fail(c, ALLOT_E_ARG, "no socket path");
	if (fd < 0)
		c->broken = fd;
	c->fd = fd < 0 ? -1 : fd;
	return c;
}

void allot_free(allot_ctx *c)
{
	if (c == NULL)
		return;
	if (c->fd >= 0)
		close(c->fd);
	mp_buf_finish(&c->out);
	free(c->in);
	free(c);
}

int allot_err(const allot_ctx *c)
{
	return c->err;
}

const char *allot_errstr(const allot_ctx *c)
{
	return c->errstr;
}

void allot_set_timeout(allot_ctx *c, int timeout_ms)
{
	c->timeout_ms = timeout_ms;
}

void allot_set_reply_limit(allot_ctx *c, size_t bytes)
{
	c->reply_max = bytes > 0 ? bytes : ALLOT_REPLY_BYTES_MAX_DEFAULT;
	/* A frame partly walked under the old limit is walked again, from the
	 * front of the buffer, under the new one. A broken stream stays so. */
	mp_limits lim = frame_limits(c->reply_max);
	mp_reader_init(&c->reader, &lim);
}

int allot_fd(const allot_ctx *c)
{
	return c->fd;
}

void allot_set_notify(allot_ctx *c, allot_notify_fn *fn, void *ud)
{
	c->notify_fn = fn;
	c->notify_ud = ud;
}

size_t allot_pending(const allot_ctx *c)
{
	return c->pending;
}

static int broken_status(allot_ctx *c)
{
	if (c->fd < 0)
		return lib_fail(c, c->broken, "not connected");
	return lib_fail(c, c->broken, "connection unusable after an earlier error");
}

/* ---- receiving ---- */

/* Make room for a read of CTX_READ_CHUNK bytes at the end of the buffer. */
static int make_room(allot_ctx *c)
{
	/* The reader holds an offset into the frame at in + off, not a
	 * pointer, so the bytes may move to the front and the buffer grow. */
	if (c->off > 0 && (c->off == c->len || c->cap - c->len < CTX_READ_CHUNK)) {
		memmove(c->in, c->in + c->off, c->len - c->off);
		c->len -= c->off;
		c->off = 0;
	}
	assert(c->off <= c->len && c->len <= c->cap);
	if (c->cap - c->len >= CTX_READ_CHUNK)
		return ALLOT_OK;
	size_t cap = c->cap > 0 ? c->cap * 2 : CTX_READ_CHUNK;
	if (cap < c->len + CTX_READ_CHUNK)
		cap = c->len + CTX_READ_CHUNK;
	uint8_t *in = realloc(c->in, cap);
	if (in == NULL)
		return lib_fail(c, ALLOT_E_NOMEM, "out of memory");
	c->in = in;
	c->cap = cap;
	return ALLOT_OK;
}

/* Read what has arrived without waiting: ALLOT_OK (perhaps nothing was
 * there) or a failure that breaks the stream. */
static int read_some(allot_ctx *c, bool *got)
{
	*got = false;
	int rc = make_room(c);
	if (rc < 0)
		return rc;
	for (;;) {
		ssize_t n = recv(c->fd, c->in + c->len, c->cap - c->len, 0);
		if (n > 0) {
			c->len += (size_t)n;
			*got = true;
			return ALLOT_OK;
		}
		if (n == 0) {
			c->broken = c->len > c->off ? ALLOT_E_PROTOCOL : ALLOT_E_CLOSED;
			return lib_fail(c, c->broken, c->len > c->off
			    ? "connection closed in the middle of a message"
			    : "connection closed by the server");
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return ALLOT_OK;
		int saved = errno;
		c->broken = ALLOT_E_IO;
		return lib_fail(c, c->broken, "recv: %s", strerror(saved));
	}
}

/* Read more bytes into the buffer, waiting until the deadline. */
static int fill(allot_ctx *c, int64_t deadline)
{
	for (;;) {
		bool got = false;
		int rc = read_some(c, &got);
		if (rc < 0 || got)
			return rc;
		rc = wait_fd(c->fd, POLLIN, deadline, NULL);
		if (rc == ALLOT_E_TIMEOUT)
			return lib_fail(c, rc, "timed out waiting for the server");
		if (rc < 0)
			return lib_fail(c, rc, "poll: %s", strerror(errno));
	}
}

/* The next whole message, decoded, waiting until the deadline. */
static int recv_until(allot_ctx *c, allot_reply **out, int64_t deadline)
{
	*out = NULL;
	for (;;) {
		if (c->broken)
			return broken_status(c);
		size_t frame_len = 0;
		const char *why = NULL;
		int rc = mp_reader_next(&c->reader, c->in + c->off, c->len - c->off,
		    &frame_len, &why);
		if (rc == MP_OK) {
			assert(frame_len > 0 && frame_len <= c->len - c->off);
			const uint8_t *frame = c->in + c->off;
			c->off += frame_len;
			rc = reply_decode(frame, frame_len, out, &why);
			if (rc < 0)
				return lib_fail(c, rc, "a %zu-byte message from the server: %s",
				    frame_len, why);
			return ALLOT_OK;
		}
		if (rc != MP_INCOMPLETE) {
			c->broken = ALLOT_E_PROTOCOL;
			if (rc == MP_ERR_MALFORMED)
				return lib_fail(c, c->broken, "not MessagePack from the server: %s", why);
			return lib_fail(c, c->broken,
			    "message from the server over the limits (%zu bytes, %d levels): %s",
			    c->reply_max, MP_DEPTH_HARD_MAX, why);
		}
		rc = fill(c, deadline);
		if (rc < 0)
			return rc;
	}
}

/* ---- sending ---- */

/* Send out[sent..len), reading replies that arrive meanwhile. */
static int flush_until(allot_ctx *c, int64_t deadline)
{
	if (c->broken)
		return broken_status(c);
	assert(c->sent <= c->out.len);
	while (c->sent < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->sent, c->out.len - c->sent,
		    MSG_NOSIGNAL);
		if (n > 0) {
			c->sent += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		int rc = ALLOT_E_IO;
		short revents = 0;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* Read while waiting, unless a reply limit's worth is
			 * already buffered: then the caller must read replies. */
			short events = c->len - c->off < c->reply_max ? POLLOUT | POLLIN : POLLOUT;
			rc = wait_fd(c->fd, events, deadline, &revents);
		}
		if (rc == ALLOT_OK && (revents & POLLIN)) {
			bool got = false;
			rc = read_some(c, &got);
			if (rc < 0)
				return rc;
		}
		if (rc == ALLOT_OK)
			continue;
		int saved = errno;
		/* Part of a message went out: the peer would misread the rest. */
		if (c->sent > 0 || rc != ALLOT_E_TIMEOUT)
			c->broken = rc;
		if (rc == ALLOT_E_TIMEOUT)
			return lib_fail(c, rc, "send timed out");
		return lib_fail(c, rc, "send: %s", strerror(saved));
	}
	assert(c->sent == c->out.len);
	mp_buf_reset(&c->out);
	c->sent = 0;
	return ALLOT_OK;
}

int allot_flush(allot_ctx *c)
{
	return flush_until(c, deadline_after(c->timeout_ms));
}

int allot_send_raw(allot_ctx *c, const void *buf, size_t len)
{
	int rc = allot_flush(c);
	if (rc < 0)
		return rc;
	mp_write_raw(&c->out, buf, len);
	if (mp_buf_failed(&c->out))
		return lib_fail(c, ALLOT_E_NOMEM, "out of memory");
	return allot_flush(c);
}

/*
 * Queue [0, msgid, method, params]: params is the encoded params array, or,
 * when wrap is set, the one value to send as [value]; NULL sends [].
 */
static int append_request(allot_ctx *c, const char *method, bool wrap,
    const void *params, size_t params_len, uint32_t *msgid)
{
	if (c->broken)
		return broken_status(c);
	if (method == NULL)
		return lib_fail(c, ALLOT_E_ARG, "no method name");
	uint32_t id = c->next_msgid++;
	if (c->next_msgid == 0)
		c->next_msgid = 1;
	size_t before = c->out.len;
	mp_write_array(&c->out, 4);
	mp_write_uint(&c->out, ALLOT_MSG_REQUEST);
	mp_write_uint(&c->out, id);
	mp_write_cstr(&c->out, method);
	if (params == NULL)
		mp_write_array(&c->out, 0);
	else if (wrap)
		mp_write_array(&c->out, 1);
	if (params != NULL)
		mp_write_raw(&c->out, params, params_len);
	if (mp_buf_failed(&c->out)) {
		/* Keep what was queued before, whole. */
		c->out.failed = false;
		c->out.len = before;
		return lib_fail(c, ALLOT_E_NOMEM, "out of memory");
	}
	c->pending++;
	assert(c->out.len > before && c->pending > 0);
	if (msgid != NULL)
		*msgid = id;
	return ALLOT_OK;
}

int allot_append_raw(allot_ctx *c, const char *method, const void *params,
    size_t params_len, uint32_t *msgid)
{
	if (params != NULL && !lib_is_one_value(params, params_len))
		return lib_fail(c, ALLOT_E_ARG, "params are not exactly one MessagePack value");
	return append_request(c, method, false, params, params_len, msgid);
}

int allot_append(allot_ctx *c, const char *method, const allot_builder *args,
    uint32_t *msgid)
{
	if (args == NULL)
		return append_request(c, method, false, NULL, 0, msgid);
	if (mp_buf_failed(&args->buf))
		return lib_fail(c, ALLOT_E_NOMEM, "out of memory building the params");
	if (!lib_is_one_value(args->buf.data, args->buf.len))
		return lib_fail(c, ALLOT_E_ARG, "the params builder does not hold exactly one value");
	return append_request(c, method, true, args->buf.data, args->buf.len, msgid);
}

/* ---- replies ---- */

/* Settle a response: ALLOT_E_SERVER when it carries an error. */
static int response_status(allot_ctx *c, allot_reply *r)
{
	assert(r->kind == ALLOT_REPLY_RESPONSE);
	if (r->error->type == ALLOT_T_NIL)
		return ALLOT_OK;
	const char *code = allot_reply_error_code(r);
	const char *message = allot_reply_error_message(r);
	return lib_fail(c, ALLOT_E_SERVER, "%s: %s", code ? code : "(no code)",
	    message ? message : "(no message)");
}

/* Read responses until the one with msgid (0: the next one), passing
 * notifications to the handler and dropping other responses. */
static int read_response(allot_ctx *c, uint32_t msgid, int64_t deadline,
    allot_reply **out)
{
	int rc = flush_until(c, deadline);
	if (rc < 0)
		return rc;
	for (;;) {
		allot_reply *r = NULL;
		rc = recv_until(c, &r, deadline);
		if (rc < 0)
			return rc;
		if (r->kind == ALLOT_REPLY_NOTIFICATION) {
			if (c->notify_fn != NULL)
				c->notify_fn(r, c->notify_ud);
			allot_reply_free(r);
			continue;
		}
		if (c->pending > 0)
			c->pending--;
		if (msgid == 0 || r->msgid == msgid || r->msgid == 0) {
			*out = r;
			return response_status(c, r);
		}
		allot_reply_free(r);
	}
}

/* Hand r to the caller, or free it when the caller wants none. */
static int deliver(int rc, allot_reply *r, allot_reply **out)
{
	if (out != NULL)
		*out = r;
	else
		allot_reply_free(r);
	return rc;
}

int allot_get_reply(allot_ctx *c, allot_reply **out)
{
	allot_reply *r = NULL;
	int rc = read_response(c, 0, deadline_after(c->timeout_ms), &r);
	return deliver(rc, r, out);
}

int allot_get_message(allot_ctx *c, allot_reply **out)
{
	int64_t deadline = deadline_after(c->timeout_ms);
	allot_reply *r = NULL;
	int rc = flush_until(c, deadline);
	if (rc == 0)
		rc = recv_until(c, &r, deadline);
	if (rc == 0 && r->kind == ALLOT_REPLY_RESPONSE && c->pending > 0)
		c->pending--;
	return deliver(rc, r, out);
}

int allot_call_raw(allot_ctx *c, const char *method, const void *params,
    size_t params_len, allot_reply **out)
{
	int64_t deadline = deadline_after(c->timeout_ms);
	uint32_t msgid = 0;
	allot_reply *r = NULL;
	int rc = allot_append_raw(c, method, params, params_len, &msgid);
	if (rc == 0)
		rc = read_response(c, msgid, deadline, &r);
	return deliver(rc, r, out);
}

int allot_call(allot_ctx *c, const char *method, const allot_builder *args,
    allot_reply **out)
{
	int64_t deadline = deadline_after(c->timeout_ms);
	uint32_t msgid = 0;
	allot_reply *r = NULL;
	int rc = allot_append(c, method, args, &msgid);
	if (rc == 0)
		rc = read_response(c, msgid, deadline, &r);
	return deliver(rc, r, out);
}

void lib_wipe_output(allot_ctx *c)
{
	if (c->out.data != NULL)
		memset(c->out.data, 0, c->out.cap);
}
