/*
 * http.c - the HTTP port: connections, parsing with http-parser, limits,
 * timeouts, access, and the routes (see http.h). What each route answers
 * is built by http_view.c.
 */
#include "http.h"

#include "http_view.h"
#include "listener.h"
#include "log.h"
#include "ops.h"

#include <assert.h>
#include <http_parser.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HTTP_READ_BYTES 4096
#define HTTP_FIELD_BYTES 32
/* A connection's buffer above this is freed once written. */
#define HTTP_KEEP_BYTES (64u * 1024u)

typedef struct http_conn http_conn;

struct http {
	uv_loop_t *loop;
	uv_tcp_t listener;
	uv_timer_t guard;
	const dispatch *d;
	metrics *m;
	ops ops;
	http_conn *conns;
	uint32_t nconns;
	bool stopped;
	metrics_text body;   /* scratch for one response's body, reused */
	http_counts counts;
};

struct http_conn {
	uv_tcp_t tcp;
	http *h;
	http_conn *prev, *next;
	http_parser parser;
	char in[HTTP_READ_BYTES];
	char url[HTTP_URL_BYTES_MAX + 1];
	size_t url_len;
	char field[HTTP_FIELD_BYTES];
	size_t field_len;
	bool in_value;        /* the last callback was a header value */
	bool auth_field;      /* the header being read is Authorization */
	char auth[HTTP_AUTH_BYTES_MAX + 1];
	size_t auth_len;
	size_t body_bytes;
	int reject;           /* a status to answer and close with; 0: none */
	uint64_t began_ms;    /* loop time a request began; 0: none under way */
	uint64_t seen_ms;     /* loop time of the last bytes */
	uint64_t write_since_ms; /* loop time the write in flight began */
	metrics_text out;     /* responses not yet handed to libuv */
	metrics_text inflight;
	uv_write_t wreq;
	bool writing, closing, close_when_sent, counted;
};

/* ---- connections ------------------------------------------------------------- */

static void on_conn_close(uv_handle_t *hd)
{
	http_conn *c = hd->data;
	http *h = c->h;
	if (c->prev)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->counted) {
		assert(h->nconns > 0);
		h->nconns--;
	}
	metrics_text_finish(&c->out);
	metrics_text_finish(&c->inflight);
	free(c);
}

static void conn_close(http_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	uv_close((uv_handle_t *)&c->tcp, on_conn_close);
}

static void on_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf)
{
	http_conn *c = hd->data;
	*buf = uv_buf_init(c->in, sizeof(c->in));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void conn_send(http_conn *c);

static void on_write(uv_write_t *req, int status)
{
	http_conn *c = req->data;
	c->writing = false;
	c->inflight.len = 0;
	/* One large response does not keep its memory for the connection's
	 * life. */
	if (c->inflight.cap > HTTP_KEEP_BYTES) {
		metrics_text_finish(&c->inflight);
		metrics_text_init(&c->inflight, HTTP_OUTPUT_BYTES_MAX);
	}
	if (status < 0 || c->closing) {
		conn_close(c);
		return;
	}
	conn_send(c);
}

/* Hand what is queued to libuv; read on once all is out, or close when
 * asked to. */
static void conn_send(http_conn *c)
{
	if (c->closing || c->writing)
		return;
	if (c->out.failed) {
		log_warn("http: a connection queued more than %u bytes of responses; closing it",
		    HTTP_OUTPUT_BYTES_MAX);
		conn_close(c);
		return;
	}
	if (c->out.len == 0) {
		if (c->close_when_sent)
			conn_close(c);
		else
			uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
		return;
	}
	/* The queue becomes the write in flight; the next responses queue
	 * anew. Reading waits until it is out, so at most one write is. */
	metrics_text t = c->inflight;
	c->inflight = c->out;
	c->out = t;
	c->out.len = 0;
	c->out.failed = false;
	uv_read_stop((uv_stream_t *)&c->tcp);
	uv_buf_t b = uv_buf_init(c->inflight.p, (unsigned)c->inflight.len);
	c->wreq.data = c;
	if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
		conn_close(c);
		return;
	}
	c->writing = true;
	c->write_since_ms = uv_now(c->h->loop);
}

/* ---- responses --------------------------------------------------------------- */

static const char *status_text(int status)
{
	return http_status_str((enum http_status)status);
}

/* Queue one response: the head, then body (NULL for none, or a HEAD). */
static void respond(http_conn *c, int status, const char *type, const char *extra,
    const char *body, size_t len, bool head_only)
{
	bool keep = !c->close_when_sent && c->reject == 0 && http_should_keep_alive(&c->parser);
	if (!keep)
		c->close_when_sent = true;
	metrics_text_printf(&c->out,
	    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	    "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n%sConnection: %s\r\n\r\n",
	    status, status_text(status), type, len, extra ? extra : "", keep ? "keep-alive" : "close");
	if (body && !head_only)
		metrics_text_put(&c->out, body, len);
	http_count(&c->h->counts, c->reject ? HTTP_PATH_OTHER : http_path_of(c->url, c->url_len), status);
}

static void respond_text(http_conn *c, int status, const char *text, const char *extra)
{
	respond(c, status, "text/plain; charset=utf-8", extra, text, strlen(text),
	    c->parser.method == HTTP_HEAD);
}

/* ---- access ---------------------------------------------------------------------- */

/* The token in an Authorization value: Bearer TOKEN, or Basic with the
 * token as the password (what a browser sends once asked). */
static bool token_of(char *value, size_t len, const char **tok, size_t *tok_len)
{
	if (len > 7 && strncasecmp(value, "Bearer ", 7) == 0) {
		*tok = value + 7;
		*tok_len = len - 7;
		return true;
	}
	if (len > 6 && strncasecmp(value, "Basic ", 6) == 0) {
		size_t n = http_base64_decode(value + 6, len - 6, value, len);
		char *colon = n ? memchr(value, ':', n) : NULL;
		if (colon == NULL)
			return false;
		*tok = colon + 1;
		*tok_len = n - (size_t)(colon + 1 - value);
		return true;
	}
	return false;
}

/* Without an auth file anyone may read; with one, a token of any role. */
static bool authorized(http_conn *c)
{
	const auth_set *set = c->h->d->auth;
	if (set == NULL)
		return true;
	const char *tok;
	size_t tok_len;
	if (c->auth_len == 0 || c->auth_len > HTTP_AUTH_BYTES_MAX ||
	    !token_of(c->auth, c->auth_len, &tok, &tok_len))
		return false;
	/* Hashes the token and compares it with every entry in constant
	 * time; never logged. */
	return auth_set_check(set, tok, tok_len) != NULL;
}

/* ---- routes ------------------------------------------------------------------------ */

static void route(http_conn *c)
{
	http *h = c->h;
	bool head = c->parser.method == HTTP_HEAD;
	if (c->parser.method != HTTP_GET && !head) {
		respond_text(c, 405, "only GET and HEAD are served here\n", "Allow: GET, HEAD\r\n");
		return;
	}
	if (!authorized(c)) {
		h->counts.auth_failures++;
		respond_text(c, 401, "a token is needed: Authorization: Bearer TOKEN\n",
		    "WWW-Authenticate: Bearer realm=\"allot\"\r\n"
		    "WWW-Authenticate: Basic realm=\"allot (any user name; the token as password)\"\r\n");
		return;
	}
	metrics_text *b = &h->body;
	b->len = 0;
	b->failed = false;
	http_view_source src = { .d = h->d, .m = h->m, .ops = &h->ops, .counts = &h->counts };
	int status = 200;
	const char *type = "text/plain; charset=utf-8";
	switch (http_path_of(c->url, c->url_len)) {
	case HTTP_PATH_METRICS:
		http_view_metrics(b, &src);
		type = "text/plain; version=0.0.4; charset=utf-8";
		break;
	case HTTP_PATH_HEALTHZ:
		status = http_view_health(b, &src);
		break;
	case HTTP_PATH_SUMMARY:
		http_view_summary(b, &src);
		type = "application/json";
		break;
	case HTTP_PATH_PAGE:
		respond(c, 200, "text/html; charset=utf-8",
		    "Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; "
		    "style-src 'unsafe-inline'; connect-src 'self'; img-src data:\r\n",
		    (const char *)http_ops_page, http_ops_page_len, head);
		return;
	default:
		respond_text(c, 404, "not found: try /, /metrics, /healthz or /api/summary\n", NULL);
		return;
	}
	if (b->failed) {
		respond_text(c, 500, "out of memory building the response\n", NULL);
		return;
	}
	respond(c, status, type, NULL, b->p, b->len, head);
}

/* ---- parsing ------------------------------------------------------------------------ */

static int on_message_begin(http_parser *p)
{
	http_conn *c = p->data;
	c->url_len = c->field_len = c->auth_len = c->body_bytes = 0;
	c->in_value = c->auth_field = false;
	c->began_ms = uv_now(c->h->loop);
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	http_conn *c = p->data;
	if (len > HTTP_URL_BYTES_MAX - c->url_len) {
		c->reject = 414;
		return -1;
	}
	memcpy(c->url + c->url_len, at, len);
	c->url_len += len;
	return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	http_conn *c = p->data;
	if (c->in_value) {
		c->in_value = false;
		c->field_len = 0;
	}
	/* Only Authorization matters: a longer name is some other header. */
	size_t take = len < sizeof(c->field) - c->field_len ? len : sizeof(c->field) - c->field_len;
	memcpy(c->field + c->field_len, at, take);
	c->field_len += take;
	c->auth_field = c->field_len == 13 && strncasecmp(c->field, "authorization", 13) == 0;
	return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	http_conn *c = p->data;
	c->in_value = true;
	if (!c->auth_field || c->auth_len > HTTP_AUTH_BYTES_MAX)
		return 0;
	if (len > HTTP_AUTH_BYTES_MAX - c->auth_len) {
		/* Too long to be a token: it will not be accepted. */
		c->auth_len = HTTP_AUTH_BYTES_MAX + 1;
		return 0;
	}
	memcpy(c->auth + c->auth_len, at, len);
	c->auth_len += len;
	return 0;
}

static int on_headers_complete(http_parser *p)
{
	http_conn *c = p->data;
	if (p->content_length != ULLONG_MAX && p->content_length > HTTP_BODY_BYTES_MAX) {
		c->reject = 413;
		return -1;
	}
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	http_conn *c = p->data;
	c->body_bytes += len;
	if (c->body_bytes > HTTP_BODY_BYTES_MAX) {
		c->reject = 413;
		return -1;
	}
	return 0;
}

static int on_message_complete(http_parser *p)
{
	http_conn *c = p->data;
	c->began_ms = 0;
	c->url[c->url_len] = '\0';
	c->auth[c->auth_len <= HTTP_AUTH_BYTES_MAX ? c->auth_len : 0] = '\0';
	route(c);
	/* Nothing after a response that closes the connection is read. */
	if (c->close_when_sent)
		http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

/* A request that cannot be served: answer it and close. */
static void reject(http_conn *c, enum http_errno e)
{
	int status = c->reject;
	if (status == 0)
		status = e == HPE_HEADER_OVERFLOW ? 431 : 400;
	c->reject = status;
	c->close_when_sent = true;
	char msg[160];
	snprintf(msg, sizeof(msg), "%s (%s)\n", status_text(status),
	    status == 400 || status == 431 ? http_errno_description(e) : "over a limit of allotd's");
	log_debug("http: answering %d and closing: %s", status, http_errno_name(e));
	respond_text(c, status, msg, NULL);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	http_conn *c = s->data;
	if (nread < 0) {
		conn_close(c);
		return;
	}
	if (nread == 0 || c->close_when_sent)
		return;
	c->seen_ms = uv_now(c->h->loop);
	size_t done = http_parser_execute(&c->parser, &settings, buf->base, (size_t)nread);
	enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
	if (e == HPE_PAUSED)
		uv_read_stop(s);
	else if (e != HPE_OK || done != (size_t)nread || c->parser.upgrade)
		reject(c, e == HPE_OK ? HPE_INVALID_METHOD : e);
	conn_send(c);
}

/* ---- the listener and the guard --------------------------------------------------- */

static void on_connection(uv_stream_t *ls, int status)
{
	http *h = ls->data;
	if (status < 0)
		return;
	http_conn *c = calloc(1, sizeof(*c));
	if (c == NULL || uv_tcp_init(h->loop, &c->tcp) != 0) {
		free(c);
		log_error("http: out of memory accepting a connection");
		return;
	}
	c->h = h;
	c->tcp.data = c;
	c->parser.data = c;
	http_parser_init(&c->parser, HTTP_REQUEST);
	metrics_text_init(&c->out, HTTP_OUTPUT_BYTES_MAX);
	metrics_text_init(&c->inflight, HTTP_OUTPUT_BYTES_MAX);
	c->seen_ms = uv_now(h->loop);
	c->next = h->conns;
	if (h->conns)
		h->conns->prev = c;
	h->conns = c;
	if (uv_accept(ls, (uv_stream_t *)&c->tcp) != 0) {
		conn_close(c);
		return;
	}
	if (h->nconns >= HTTP_CONNECTIONS_MAX) {
		c->reject = 503;
		c->close_when_sent = true;
		respond_text(c, 503, "too many HTTP connections; try again later\n", NULL);
		conn_send(c);
		return;
	}
	c->counted = true;
	h->nconns++;
	uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* Close connections whose request is slow to arrive (408) or that have
 * been idle too long. */
static void on_guard(uv_timer_t *t)
{
	http *h = t->data;
	uint64_t now = uv_now(h->loop);
	for (http_conn *c = h->conns, *next; c; c = next) {
		next = c->next;
		if (c->closing)
			continue;
		/* A client that does not read its responses holds a slot of
		 * the pool: not for longer than a request may take. */
		if (c->writing) {
			if (now - c->write_since_ms > HTTP_REQUEST_TIMEOUT_MS)
				conn_close(c);
			continue;
		}
		if (c->close_when_sent)
			continue;
		if (c->began_ms && now - c->began_ms > HTTP_REQUEST_TIMEOUT_MS) {
			c->reject = 408;
			c->close_when_sent = true;
			respond_text(c, 408, "the request took too long to arrive\n", NULL);
			conn_send(c);
		} else if (!c->began_ms && now - c->seen_ms > HTTP_IDLE_TIMEOUT_MS) {
			conn_close(c);
		}
	}
}

int http_parse_listen(const char *listen, char *addr, size_t addr_len, int *port)
{
	const char *colon = strrchr(listen, ':');
	if (colon == NULL || colon == listen)
		return -1;
	const char *a = listen, *end = colon;
	if (*a == '[') {
		if (end[-1] != ']')
			return -1;
		a++;
		end--;
	}
	char *tail;
	long p = strtol(colon + 1, &tail, 10);
	if (colon[1] == '\0' || *tail != '\0' || p < 0 || p > 65535 || (size_t)(end - a) >= addr_len ||
	    end == a)
		return -1;
	memcpy(addr, a, (size_t)(end - a));
	addr[end - a] = '\0';
	*port = (int)p;
	return 0;
}

static void free_on_close(uv_handle_t *hd)
{
	http *h = hd->data;
	metrics_text_finish(&h->body);
	free(h);
}

http *http_start(uv_loop_t *loop, const char *listen, const dispatch *d, metrics **m)
{
	char addr[128];
	int port;
	if (http_parse_listen(listen, addr, sizeof(addr), &port) != 0) {
		log_error("--metrics %s: expected ADDR:PORT", listen);
		return NULL;
	}
	http *h = calloc(1, sizeof(*h));
	*m = metrics_create();
	if (h == NULL || *m == NULL) {
		log_error("out of memory starting the HTTP port");
		free(h);
		metrics_destroy(*m);
		*m = NULL;
		return NULL;
	}
	h->loop = loop;
	h->d = d;
	h->m = *m;
	metrics_text_init(&h->body, HTTP_RESPONSE_BYTES_MAX);
	http_parser_set_max_header_size(HTTP_HEADER_BYTES_MAX);
	if (listener_tcp(loop, &h->listener, addr, port, HTTP_CONNECTIONS_MAX, on_connection, h) != 0) {
		log_error("--metrics %s: cannot serve HTTP there", listen);
		/* The listener's handle is initialised: h goes once it closes. */
		uv_close((uv_handle_t *)&h->listener, free_on_close);
		metrics_destroy(*m);
		*m = NULL;
		return NULL;
	}
	uv_timer_init(loop, &h->guard);
	h->guard.data = h;
	uv_timer_start(&h->guard, on_guard, HTTP_GUARD_MS, HTTP_GUARD_MS);
	uv_unref((uv_handle_t *)&h->guard);
	ops_start(&h->ops, loop, d, *m);
	log_info("http: serving /metrics, /healthz and the operations page on %s", listen);
	return h;
}

void http_stop(http *h)
{
	if (h == NULL || h->stopped)
		return;
	h->stopped = true;
	uv_close((uv_handle_t *)&h->listener, NULL);
	uv_close((uv_handle_t *)&h->guard, NULL);
	ops_stop(&h->ops);
	for (http_conn *c = h->conns; c; c = c->next)
		conn_close(c);
}

void http_destroy(http *h, metrics *m)
{
	if (h) {
		assert(h->conns == NULL);
		metrics_text_finish(&h->body);
		free(h);
	}
	metrics_destroy(m);
}
