/*
 * http.h - allotd's HTTP/1.1 port (--metrics ADDR:PORT), served from the
 * engine's own loop: GET /metrics (Prometheus), /healthz, / (the live
 * operations page) and /api/summary (the page's figures, JSON).
 *
 * Requests are parsed by http-parser (Debian's libhttp-parser 2.9) on our
 * own libuv TCP connections, with the care the RPC port takes: every
 * request is bounded (header bytes, body bytes, URL and Authorization
 * lengths), so are the connections (a pool of their own, apart from the
 * RPC port's) and the time a request may take to arrive; a bad request
 * gets 400 and the connection is closed. Keep-alive and pipelining work.
 *
 * The module reads the server's state and never changes it: it takes the
 * dispatch's counters, the core's read-only views (stats, the sku scan of
 * ops.h) and durability's figures, and never runs a request through the
 * core's mutating paths.
 *
 * With an auth file every request needs a token of any role, as
 * `Authorization: Bearer TOKEN`; `Authorization: Basic` with the token as
 * the password is taken too, so that a browser can open the page (it asks
 * for the password when answered 401).
 */
#ifndef ALLOT_ENGINE_HTTP_H
#define ALLOT_ENGINE_HTTP_H

#include "dispatch.h"
#include "metrics.h"

#include <stddef.h>
#include <uv.h>

/* Connections to the HTTP port at once; more are answered 503 and closed. */
#define HTTP_CONNECTIONS_MAX 64
/* Bytes of a request's start line and headers (http-parser checks it). */
#define HTTP_HEADER_BYTES_MAX 8192
/* Bytes of a request's body: the port takes GETs, which have none. */
#define HTTP_BODY_BYTES_MAX 1024
/* The request target, and the Authorization header's value. */
#define HTTP_URL_BYTES_MAX 512
#define HTTP_AUTH_BYTES_MAX 512
/* One response's body, and the responses queued on one connection
 * (pipelined requests), at most: with the write in flight, a connection
 * holds at most twice the latter. */
#define HTTP_RESPONSE_BYTES_MAX (1u << 20)
#define HTTP_OUTPUT_BYTES_MAX (2u << 20)
_Static_assert(HTTP_RESPONSE_BYTES_MAX < HTTP_OUTPUT_BYTES_MAX, "a response fits a connection's queue");
/* A begun request must have arrived within this (and a response been
 * taken by the client); an idle keep-alive connection is closed after the
 * other. */
#define HTTP_REQUEST_TIMEOUT_MS 10000
#define HTTP_IDLE_TIMEOUT_MS 60000
/* The guard timer that enforces both looks this often. */
#define HTTP_GUARD_MS 500

typedef struct http http;

/*
 * "ADDR:PORT" (an IPv6 ADDR in brackets, "[::1]:9100") into addr and
 * port. 0, or -1 when it is not one.
 */
int http_parse_listen(const char *listen, char *addr, size_t addr_len, int *port);

/*
 * Listen on listen (ADDR:PORT) and serve d's figures. Makes the metrics
 * the server records into (*m; http_destroy frees them). NULL, with the
 * reason logged, when it cannot listen or memory runs out; the handles it
 * opened close with the loop's others.
 */
http *http_start(uv_loop_t *loop, const char *listen, const dispatch *d, metrics **m);

/* Stop listening and close every HTTP connection now (shutdown). NULL is
 * fine. */
void http_stop(http *h);

/* After the loop has ended: free h and m. Either may be NULL. */
void http_destroy(http *h, metrics *m);

#endif
