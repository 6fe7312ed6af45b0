/*
 * metrics.c - the latency bookkeeping behind the histograms, and the
 * Prometheus text format's pieces (http_view.c puts them together).
 */
#include "metrics.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *metrics_code_name(uint32_t index)
{
	static const char *const names[METRICS_CODES] = {
		"OK", "BAD_REQUEST", "NOT_FOUND", "OUT_OF_STOCK", "CONFLICT", "INVALID_STATE",
		"LIMIT_EXCEEDED", "TOO_LARGE", "BUSY", "UNKNOWN_METHOD", "UNAVAILABLE", "UNAUTHORIZED",
		"FORBIDDEN", "INTERNAL",
	};
	return index < METRICS_CODES ? names[index] : "INTERNAL";
}

metrics *metrics_create(void)
{
	metrics *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return NULL;
	m->gated = calloc(METRICS_GATED_MAX, sizeof(*m->gated));
	if (m->gated == NULL) {
		free(m);
		return NULL;
	}
	return m;
}

void metrics_destroy(metrics *m)
{
	if (m == NULL)
		return;
	free(m->gated);
	free(m);
}

static inline void record_latency(metrics *m, uint32_t cmd, uint64_t ns)
{
	assert(cmd <= CMD_COUNT);
	metrics_hist_add(&m->latency[cmd], ns / 1000, ns);
}

/*
 * The replies of one read: those that left go into their method's
 * histogram now; those that wait on the journal join the gated ring, to
 * be recorded when Redis acknowledges their lsn.
 */
void metrics_turn_flush(metrics *m, uint64_t now_ns)
{
	for (uint32_t i = 0; i < m->nturn; i++) {
		metrics_pending *p = &m->turn[i];
		uint64_t ns = now_ns > p->start_ns ? now_ns - p->start_ns : 0;
		if (p->wait_lsn == 0) {
			record_latency(m, p->cmd, ns);
			continue;
		}
		if (m->gated_count == METRICS_GATED_MAX) {
			m->unrecorded++;
			continue;
		}
		/* The ring stays in lsn order: lsns only grow. */
		uint32_t tail = (m->gated_head + m->gated_count) % METRICS_GATED_MAX;
		assert(m->gated_count == 0 ||
		    m->gated[(tail + METRICS_GATED_MAX - 1) % METRICS_GATED_MAX].wait_lsn <= p->wait_lsn);
		p->ready_ns = now_ns;
		m->gated[tail] = *p;
		m->gated_count++;
	}
	m->nturn = 0;
}

void metrics_acked(metrics *m, uint64_t lsn, uint64_t now_ns)
{
	while (m->gated_count > 0) {
		metrics_pending *p = &m->gated[m->gated_head];
		if (p->wait_lsn > lsn)
			break;
		uint64_t ns = now_ns > p->start_ns ? now_ns - p->start_ns : 0;
		uint64_t wait = now_ns > p->ready_ns ? now_ns - p->ready_ns : 0;
		record_latency(m, p->cmd, ns);
		metrics_hist_add(&m->durability_wait, wait / 1000, wait);
		m->gated_head = (m->gated_head + 1) % METRICS_GATED_MAX;
		m->gated_count--;
	}
}

/* ---- text ---------------------------------------------------------------------- */

void metrics_text_init(metrics_text *t, size_t max)
{
	*t = (metrics_text){ .max = max };
}

void metrics_text_finish(metrics_text *t)
{
	free(t->p);
	*t = (metrics_text){ 0 };
}

static bool text_room(metrics_text *t, size_t n)
{
	if (t->failed)
		return false;
	if (t->len + n + 1 <= t->cap)
		return true;
	if (t->len + n + 1 > t->max) {
		t->failed = true;
		return false;
	}
	size_t cap = t->cap ? t->cap : 4096;
	while (cap < t->len + n + 1)
		cap *= 2;
	if (cap > t->max)
		cap = t->max;
	char *p = realloc(t->p, cap);
	if (p == NULL) {
		t->failed = true;
		return false;
	}
	t->p = p;
	t->cap = cap;
	return true;
}

void metrics_text_put(metrics_text *t, const char *s, size_t len)
{
	if (!text_room(t, len))
		return;
	memcpy(t->p + t->len, s, len);
	t->len += len;
	t->p[t->len] = '\0';
}

void metrics_text_printf(metrics_text *t, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		t->failed = true;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		metrics_text_put(t, small, (size_t)n);
		return;
	}
	if (!text_room(t, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(t->p + t->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

void metrics_text_json(metrics_text *t, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			metrics_text_printf(t, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			metrics_text_printf(t, "\\u%04x", c);
		else
			metrics_text_put(t, (const char *)&s[i], 1);
	}
}

void metrics_family(metrics_text *t, const char *name, const char *type, const char *help)
{
	metrics_text_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void metrics_write_hist(metrics_text *t, const char *name, const char *labels, const metrics_hist *h,
    double bucket_scale, double sum_scale)
{
	const char *sep = labels[0] ? "," : "";
	uint64_t cum = 0;
	for (uint32_t k = 0; k < METRICS_BUCKETS - 1; k++) {
		cum += h->counts[k];
		metrics_text_printf(t, "%s_bucket{%s%sle=\"%.9g\"} %llu\n", name, labels, sep,
		    (double)(UINT64_C(1) << k) / bucket_scale, (unsigned long long)cum);
	}
	cum += h->counts[METRICS_BUCKETS - 1];
	metrics_text_printf(t, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
	    (unsigned long long)cum);
	metrics_text_printf(t, "%s_sum%s%s%s %.9g\n", name, labels[0] ? "{" : "", labels,
	    labels[0] ? "}" : "", (double)h->sum / sum_scale);
	metrics_text_printf(t, "%s_count%s%s%s %llu\n", name, labels[0] ? "{" : "", labels,
	    labels[0] ? "}" : "", (unsigned long long)cum);
}

uint64_t metrics_hist_quantile(const metrics_hist *h, const metrics_hist *base, double q)
{
	uint64_t n[METRICS_BUCKETS], total = 0;
	for (uint32_t k = 0; k < METRICS_BUCKETS; k++) {
		n[k] = h->counts[k] - (base ? base->counts[k] : 0);
		total += n[k];
	}
	if (total == 0)
		return 0;
	/* The rank of the q-quantile: ceil(q * total), at least the first. */
	double rank = q * (double)total;
	uint64_t want = (uint64_t)rank;
	if ((double)want < rank || want == 0)
		want++;
	uint64_t cum = 0;
	for (uint32_t k = 0; k < METRICS_BUCKETS; k++) {
		cum += n[k];
		if (cum >= want)
			return UINT64_C(1) << (k < METRICS_BUCKETS - 1 ? k : METRICS_BUCKETS - 2);
	}
	return UINT64_C(1) << (METRICS_BUCKETS - 2);
}
