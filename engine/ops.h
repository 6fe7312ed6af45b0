/*
 * ops.h - the operations page's background view: the hottest skus, the
 * low and out of stock ones, records oversold, and a few minutes of
 * throughput and latency, second by second.
 *
 * Nothing here is on the request path. A timer walks the core's skus a
 * bounded slice at a time (core_sku_scan, OPS_SCAN_SLOTS per tick), keeps
 * the best few of each list, and publishes a finished walk at once; a
 * walk starts at most once a second. Every second it also samples the
 * dispatch's request counters and the latency histograms.
 */
#ifndef ALLOT_ENGINE_OPS_H
#define ALLOT_ENGINE_OPS_H

#include "dispatch.h"
#include "metrics.h"

#include <stdint.h>
#include <uv.h>

/* Skus in each list the page shows. */
#define OPS_LIST_MAX 20
/* Sku table slots looked at per tick, and the tick. */
#define OPS_SCAN_SLOTS 4096
#define OPS_TICK_MS 50
/* A walk begins at most this often, and a sample is taken this often. */
#define OPS_WALK_MS 1000
#define OPS_SAMPLE_MS 1000
/* Samples kept: five minutes. */
#define OPS_HISTORY 300

typedef struct ops_sku {
	char name[CORE_NAME_MAX + 1];
	uint8_t name_len;
	int64_t on_hand, reserved, committed, available, low_stock;
} ops_sku;

typedef struct ops_list {
	ops_sku skus[OPS_LIST_MAX];
	uint32_t n;
	uint64_t total;   /* skus that qualified, shown or not */
} ops_list;

/* One finished walk. */
typedef struct ops_walk {
	ops_list hottest;  /* most reserved + committed */
	ops_list low;      /* 0 < available <= low_stock threshold, least first */
	ops_list out;      /* available 0, most reserved + committed first */
	uint64_t skus;
	uint64_t records_oversold;
	int64_t done_at_ms; /* 0: no walk finished yet */
	uint64_t duration_us;
} ops_walk;

typedef struct ops_sample {
	int64_t at_ms;
	double requests_per_s;
	double errors_per_s;
	uint64_t p50_us, p99_us; /* over the second, all methods */
} ops_sample;

typedef struct ops {
	uv_timer_t timer;
	const dispatch *d;
	const metrics *m;
	ops_walk building, published;
	uint32_t cursor;
	bool walking;
	int64_t walk_began_ms;
	uint64_t walk_began_ns;
	ops_sample history[OPS_HISTORY];
	uint32_t history_head, history_count;
	int64_t sampled_at_ms;
	uint64_t sampled_requests, sampled_errors;
	metrics_hist sampled_latency; /* all methods, at the last sample */
} ops;

/* Start the timer on loop (unreferenced: it keeps no loop alive). */
void ops_start(ops *o, uv_loop_t *loop, const dispatch *d, const metrics *m);
/* Close the timer; o must outlive the close. */
void ops_stop(ops *o);

/* The i-th sample, oldest first (i < o->history_count). */
const ops_sample *ops_sample_at(const ops *o, uint32_t i);

/* The latency histograms of every method, summed. */
void ops_latency_all(const metrics *m, metrics_hist *out);

#endif
