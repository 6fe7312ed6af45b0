/*
 * hist.c - see hist.h.
 */
#include "hist.h"

#include <math.h>
#include <string.h>

void hist_init(hist *h)
{
	memset(h, 0, sizeof *h);
	h->min = UINT64_MAX;
}

static uint32_t bucket_of(uint64_t v)
{
	if (v < HIST_LINEAR)
		return (uint32_t)v;
	if (v >= (1ull << HIST_TOP_EXP))
		return HIST_NBUCKETS - 1;
	uint32_t k = 63u - (uint32_t)__builtin_clzll(v); /* 7..35 */
	uint32_t shift = k - HIST_SUB_BITS;
	uint32_t sub = (uint32_t)(v >> shift) - HIST_SUB; /* 0..63 */
	return HIST_LINEAR + (k - HIST_SUB_BITS - 1) * HIST_SUB + sub;
}

/* The largest value that lands in bucket b. */
static uint64_t bucket_high(uint32_t b)
{
	if (b < HIST_LINEAR)
		return b;
	uint32_t r = (b - HIST_LINEAR) / HIST_SUB; /* range index: k = r + 7 */
	uint32_t sub = (b - HIST_LINEAR) % HIST_SUB;
	uint32_t shift = r + 1;
	uint64_t low = (uint64_t)(HIST_SUB + sub) << shift;
	return low + (1ull << shift) - 1;
}

void hist_record(hist *h, uint64_t ns)
{
	h->counts[bucket_of(ns)]++;
	h->total++;
	h->sum += ns;
	if (ns < h->min)
		h->min = ns;
	if (ns > h->max)
		h->max = ns;
}

void hist_merge(hist *dst, const hist *src)
{
	for (uint32_t i = 0; i < HIST_NBUCKETS; i++)
		dst->counts[i] += src->counts[i];
	dst->total += src->total;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t hist_percentile(const hist *h, double p)
{
	if (h->total == 0)
		return 0;
	if (p >= 100.0)
		return h->max;
	double want = ceil(p / 100.0 * (double)h->total);
	uint64_t rank = want < 1.0 ? 1 : (uint64_t)want;
	uint64_t seen = 0;
	for (uint32_t b = 0; b < HIST_NBUCKETS; b++) {
		seen += h->counts[b];
		if (seen >= rank) {
			uint64_t v = bucket_high(b);
			if (v > h->max)
				v = h->max;
			if (v < h->min)
				v = h->min;
			return v;
		}
	}
	return h->max;
}

double hist_mean(const hist *h)
{
	return h->total ? (double)h->sum / (double)h->total : 0.0;
}
