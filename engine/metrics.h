/*
 * metrics.h - what allotd measures for Prometheus (GET /metrics) and the
 * operations page, beyond the counters `stats` already keeps.
 *
 * Recording is on the request path, so it is a few instructions and never
 * allocates: histograms are fixed arrays of counts with power-of-two
 * bounds, found with one count-leading-zeros. Everything here is read by
 * the HTTP module (http.c) and written by the server, the dispatch and the
 * journal's seal; nothing here knows sockets or the core.
 *
 * The counters `stats` keeps (requests by method, reservations by state,
 * connections, memory, the journal's positions) are not counted again:
 * the exposition reads them where they live (http_view.c).
 */
#ifndef ALLOT_ENGINE_METRICS_H
#define ALLOT_ENGINE_METRICS_H

#include "command.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Histogram buckets: le = 2^0 .. 2^(METRICS_BUCKETS-2) units, then +Inf.
 * In microseconds that is 1 us .. 4.2 s. */
#define METRICS_BUCKETS 24

typedef struct metrics_hist {
	uint64_t counts[METRICS_BUCKETS]; /* per bucket, not cumulative */
	uint64_t sum;                     /* in the unit of sum_scale (below) */
} metrics_hist;

/* The bucket of v: the least k with v <= 2^k, or the +Inf bucket. */
static inline uint32_t metrics_bucket(uint64_t v)
{
	if (v <= 1)
		return 0;
	uint32_t k = 64u - (uint32_t)__builtin_clzll(v - 1);
	return k < METRICS_BUCKETS - 1 ? k : METRICS_BUCKETS - 1;
}

/* Count one observation: bucketed by v, summed as sum_v (the finer unit
 * the exposition divides back, e.g. nanoseconds for a bucket in us). */
static inline void metrics_hist_add(metrics_hist *h, uint64_t v, uint64_t sum_v)
{
	h->counts[metrics_bucket(v)]++;
	h->sum += sum_v;
}

/* The wire's error codes, as indexes of the by-code counters. */
enum {
	METRICS_CODE_OK = 0,
	/* 1..8: CORE_E_BAD_REQUEST (-1) .. CORE_E_BUSY (-8) */
	METRICS_CODE_UNKNOWN_METHOD = 9,
	METRICS_CODE_UNAVAILABLE,
	METRICS_CODE_UNAUTHORIZED,
	METRICS_CODE_FORBIDDEN,
	METRICS_CODE_INTERNAL,
	METRICS_CODES,
};

/* A CORE_E_* / PROTO_E_* code's index. */
static inline uint32_t metrics_code_index(int code)
{
	if (code <= 0 && code >= -8)
		return (uint32_t)-code;
	switch (code) {
	case -100: return METRICS_CODE_UNKNOWN_METHOD; /* PROTO_E_UNKNOWN_METHOD */
	case -101: return METRICS_CODE_UNAVAILABLE;    /* PROTO_E_UNAVAILABLE */
	case -103: return METRICS_CODE_UNAUTHORIZED;   /* PROTO_E_UNAUTHORIZED */
	case -104: return METRICS_CODE_FORBIDDEN;      /* PROTO_E_FORBIDDEN */
	}
	return METRICS_CODE_INTERNAL;
}

/* The wire name of a code index ("OK", "OUT_OF_STOCK", ...). */
const char *metrics_code_name(uint32_t index);

/* Replies of one read whose time is recorded after their write: at most
 * this many, then the earlier ones are recorded at once. */
#define METRICS_TURN_MAX 256
/* Replies waiting on the journal (sync mode) whose time is recorded when
 * Redis acknowledges it; past this many they go unrecorded (counted). */
#define METRICS_GATED_MAX 32768

/* One reply in flight: its method, when its frame was decoded, and in
 * sync mode the lsn it waits on and when it was ready. */
typedef struct metrics_pending {
	uint64_t wait_lsn;
	uint64_t start_ns;
	uint64_t ready_ns;
	uint32_t cmd;     /* cmd_id, or CMD_COUNT for no known method */
} metrics_pending;

typedef struct metrics {
	/* Per method (CMD_COUNT: no known method), decoded to written. */
	metrics_hist latency[CMD_COUNT + 1];
	/* Sync mode: from the reply ready to its release by Redis's ack. */
	metrics_hist durability_wait;
	/* One per loop turn: wall time less the time slept in poll. */
	metrics_hist loop_busy;
	/* The replies of the read being handled (METRICS_TURN_MAX). */
	metrics_pending turn[METRICS_TURN_MAX];
	uint32_t nturn;
	/* A ring of METRICS_GATED_MAX replies waiting on the journal, in lsn
	 * order: lsns are given out in order and acknowledged in order. */
	metrics_pending *gated;
	uint32_t gated_head, gated_count;
	uint64_t unrecorded;   /* replies whose time could not be kept */
	/* Clients subscribed to events; the events module keeps it current
	 * with metrics_subscribers_set() (0 until it does). */
	uint64_t subscribers;
} metrics;

/* NULL without memory. */
metrics *metrics_create(void);
void metrics_destroy(metrics *m);

/* The events module's count of subscribed clients. m may be NULL (no
 * --metrics): then nothing is kept. */
static inline void metrics_subscribers_set(metrics *m, uint64_t n)
{
	if (m)
		m->subscribers = n;
}

/* A reply just queued: cmd, when its frame was decoded, and the lsn it
 * waits on (0: none). Recorded by metrics_turn_end(). */
void metrics_turn_flush(metrics *m, uint64_t now_ns);
static inline void metrics_reply(metrics *m, uint32_t cmd, uint64_t start_ns, uint64_t wait_lsn)
{
	if (m->nturn == METRICS_TURN_MAX)
		metrics_turn_flush(m, start_ns);
	m->turn[m->nturn++] = (metrics_pending){ .wait_lsn = wait_lsn, .start_ns = start_ns, .cmd = cmd };
}
/* The read's replies were written (or queued behind the journal) by now. */
static inline void metrics_turn_end(metrics *m, uint64_t now_ns)
{
	if (m->nturn)
		metrics_turn_flush(m, now_ns);
}
/* Redis acknowledged the journal to lsn and the replies it held were
 * written by now_ns. */
void metrics_acked(metrics *m, uint64_t lsn, uint64_t now_ns);

/* ---- the exposition ---------------------------------------------------------- */

/* A growing text buffer; a failed append sets failed and keeps the text. */
typedef struct metrics_text {
	char *p;
	size_t len, cap;
	size_t max;   /* never grows past this */
	bool failed;
} metrics_text;

void metrics_text_init(metrics_text *t, size_t max);
void metrics_text_finish(metrics_text *t);
void metrics_text_printf(metrics_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void metrics_text_put(metrics_text *t, const char *s, size_t len);
/* s as the inside of a JSON string (quotes, backslashes and control bytes
 * escaped). */
void metrics_text_json(metrics_text *t, const char *s, size_t len);

/* "# HELP", "# TYPE" of one metric family. */
void metrics_family(metrics_text *t, const char *name, const char *type, const char *help);
/* One histogram's series: name_bucket{labels,le=..}, _sum, _count. labels
 * is "" or `key="value"` pairs without braces; scale divides the sum into
 * the exposition's unit, and bucket_scale the bounds. */
void metrics_write_hist(metrics_text *t, const char *name, const char *labels, const metrics_hist *h,
    double bucket_scale, double sum_scale);
/* The q-quantile (0..1) of h in its bucket unit, by the bucket's upper
 * bound (0 when empty); over a difference of two histograms when base is
 * not NULL. */
uint64_t metrics_hist_quantile(const metrics_hist *h, const metrics_hist *base, double q);

#endif
