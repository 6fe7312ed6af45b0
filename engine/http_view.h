/*
 * http_view.h - what the HTTP port answers: the Prometheus exposition,
 * the health line, the operations page's JSON, and the page itself
 * (engine/http/ops.html, embedded at build time). Reads only.
 */
#ifndef ALLOT_ENGINE_HTTP_VIEW_H
#define ALLOT_ENGINE_HTTP_VIEW_H

#include "dispatch.h"
#include "metrics.h"
#include "ops.h"

#include <stddef.h>
#include <stdint.h>

/* Routes, for the port's own counters. */
typedef enum http_path {
	HTTP_PATH_PAGE = 0,
	HTTP_PATH_METRICS,
	HTTP_PATH_HEALTHZ,
	HTTP_PATH_SUMMARY,
	HTTP_PATH_OTHER,
	HTTP_PATHS,
} http_path;

/* Statuses the port answers, for its counters. */
#define HTTP_STATUSES 13

typedef struct http_counts {
	uint64_t by_path_status[HTTP_PATHS][HTTP_STATUSES];
	uint64_t auth_failures;
} http_counts;

/* The route of a request target (its query string ignored). */
http_path http_path_of(const char *url, size_t len);
/* Count one response. */
void http_count(http_counts *c, http_path path, int status);

/* Decode base64 in[0..len) into out (cap bytes); its length, or 0 when it
 * is not base64 or does not fit. out may be in. */
size_t http_base64_decode(const char *in, size_t len, char *out, size_t cap);

typedef struct http_view_source {
	const dispatch *d;
	const metrics *m;
	const ops *ops;
	const http_counts *counts;
} http_view_source;

/* GET /metrics: the Prometheus text format, version 0.0.4. */
void http_view_metrics(metrics_text *t, const http_view_source *s);
/* GET /healthz: one line; returns 200, or 503 while durability is
 * unavailable. */
int http_view_health(metrics_text *t, const http_view_source *s);
/* GET /api/summary: the operations page's figures, as JSON. */
void http_view_summary(metrics_text *t, const http_view_source *s);

/* The page (ops_page.c, generated from engine/http/ops.html). */
extern const unsigned char http_ops_page[];
extern const size_t http_ops_page_len;

#endif
