/*
 * hist.h - a fixed-size log-linear latency histogram (HdrHistogram-like).
 *
 * Values are nanoseconds. Below 128 ns every value has its own bucket;
 * above, each power-of-two range [2^k, 2^(k+1)) is split into 64 linear
 * sub-buckets, so a recorded value is known to within 1/64 (1.6 %) of
 * itself. The top range ends at 2^36 ns (about 68.7 s); larger values land
 * in the last bucket (the exact maximum is kept on the side). No sampling,
 * no allocation: every value is counted, in 16 KiB.
 */
#ifndef ALLOT_BENCH_HIST_H
#define ALLOT_BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 6                      /* 64 sub-buckets per range */
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_LINEAR (2u * HIST_SUB)          /* values 0..127 exact */
#define HIST_TOP_EXP 36                      /* last range [2^35, 2^36) */
#define HIST_NBUCKETS (HIST_LINEAR + (HIST_TOP_EXP - HIST_SUB_BITS - 1) * HIST_SUB)

typedef struct hist {
	uint64_t counts[HIST_NBUCKETS];
	uint64_t total;
	uint64_t min;
	uint64_t max;
	uint64_t sum; /* ns; overflows only after 584 years of latency */
} hist;

void hist_init(hist *h);
void hist_record(hist *h, uint64_t ns);
void hist_merge(hist *dst, const hist *src);
/* The value at percentile p (0..100): the highest value equivalent to the
 * bucket holding the ceil(p% * total)-th smallest sample, capped at the
 * exact maximum. 0 when empty. */
uint64_t hist_percentile(const hist *h, double p);
double hist_mean(const hist *h);

#endif
