/*
 * bench_report.c - what allot-bench prints once the workers are done: the
 * workers' counters and histograms summed, the flash verdict (exactly
 * min(available, attempts) succeeded, with zero oversell), and the report
 * as text and, with --json, as one JSON object on the last line.
 *
 * bench/compare parses that JSON line; the text is for people. Both keep
 * their format: scripts and the README quote them.
 */
#include "bench.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Everything the report needs, summed over the workers. */
typedef struct totals {
	hist h;
	errtab errs;
	uint64_t replies, ok, sent, no_reply, conn_errors;
	uint64_t attempts, successes, oos, other;
	uint64_t orders, orders_held, orders_oos, commits, releases;
	double elapsed; /* s from the first measured send to the last reply */
} totals;

/* Count k under code; codes are cleaned to [A-Za-z0-9_.-] so they print
 * safely in JSON. When the table is full, the rest go under OTHER. */
void errtab_add(errtab *t, const char *code, size_t len, uint64_t k)
{
	char clean[ERR_CODE_BYTES];
	if (len > ERR_CODE_BYTES - 1)
		len = ERR_CODE_BYTES - 1;
	for (size_t i = 0; i < len; i++) {
		char ch = code[i];
		bool okc = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.';
		clean[i] = okc ? ch : '_';
	}
	if (len == 0)
		clean[len++] = '?';
	clean[len] = '\0';
	for (uint32_t i = 0; i < t->n; i++) {
		if (strcmp(t->e[i].code, clean) == 0) {
			t->e[i].count += k;
			return;
		}
	}
	if (t->n == ERR_CODES_MAX) {
		errtab_add(t, "OTHER", 5, k);
		return;
	}
	memcpy(t->e[t->n].code, clean, len + 1);
	t->e[t->n].count = k;
	t->n++;
}

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

/* Append to a fixed buffer, never past its end. */
static void cat(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void cat(char *buf, size_t cap, const char *fmt, ...)
{
	size_t l = strlen(buf);
	if (l + 1 >= cap)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + l, cap - l, fmt, ap);
	va_end(ap);
}

static void sum_workers(totals *s)
{
	uint64_t t_begin = UINT64_MAX, t_end = 0;
	memset(s, 0, sizeof *s);
	hist_init(&s->h);
	for (uint32_t t = 0; t < bench_opt.threads; t++) {
		const worker *w = &bench_workers[t];
		hist_merge(&s->h, &w->h);
		for (uint32_t i = 0; i < w->errs.n; i++)
			errtab_add(&s->errs, w->errs.e[i].code, strlen(w->errs.e[i].code), w->errs.e[i].count);
		s->replies += w->replies;
		s->ok += w->ok;
		s->sent += w->sent;
		s->no_reply += w->no_reply;
		s->conn_errors += w->conn_errors;
		s->attempts += w->attempts;
		s->successes += w->successes;
		s->oos += w->oos;
		s->other += w->other;
		s->orders += w->orders;
		s->orders_held += w->orders_held;
		s->orders_oos += w->orders_oos;
		s->commits += w->commits;
		s->releases += w->releases;
		if (w->measure_start < t_begin)
			t_begin = w->measure_start;
		uint64_t e = w->last_reply ? w->last_reply : w->run_end;
		if (e > t_end)
			t_end = e;
	}
	if (s->no_reply)
		errtab_add(&s->errs, "NO_REPLY", 8, s->no_reply);
	s->elapsed = t_end > t_begin ? (double)(t_end - t_begin) / 1e9 : 0.0;
}

/* What is wrong with the flash run, as "; ..." clauses, into bad. */
static void verdict_faults(const totals *s, int64_t base_avail, char *bad, size_t cap)
{
	const stock_view *before = &bench_probes.before, *after = &bench_probes.after;
	uint64_t expect = (uint64_t)base_avail < s->attempts ? (uint64_t)base_avail : s->attempts;
	if (s->no_reply)
		cat(bad, cap, "; %" PRIu64 " requests unanswered", s->no_reply);
	if (s->other)
		cat(bad, cap, "; %" PRIu64 " replies neither success nor OUT_OF_STOCK", s->other);
	if (s->successes + s->oos != s->attempts)
		cat(bad, cap, "; successes + OUT_OF_STOCK != attempts");
	if (s->successes != expect)
		cat(bad, cap, "; %" PRIu64 " succeeded, expected min(%" PRId64 " available, %" PRIu64 " attempts) = %" PRIu64,
		    s->successes, base_avail, s->attempts, expect);
	if (bench_opt.setup && before->on_hand != bench_opt.stock)
		cat(bad, cap, "; stock was %" PRId64 " after setup, not %" PRId64,
		    before->on_hand, bench_opt.stock);
	if (!bench_probes.after_ok) {
		cat(bad, cap, "; could not read the stock after the run");
	} else if (bench_opt.redis) {
		if (after->on_hand != before->on_hand - (int64_t)s->successes)
			cat(bad, cap, "; GET %s = %" PRId64 ", expected %" PRId64 " - %" PRIu64,
			    REDIS_STOCK_KEY, after->on_hand, before->on_hand, s->successes);
	} else {
		if (after->reserved != before->reserved + (int64_t)s->successes)
			cat(bad, cap, "; reserved = %" PRId64 ", expected %" PRId64 " + %" PRIu64,
			    after->reserved, before->reserved, s->successes);
		if (after->on_hand != before->on_hand)
			cat(bad, cap, "; on_hand changed from %" PRId64 " to %" PRId64,
			    before->on_hand, after->on_hand);
		if (after->committed != before->committed)
			cat(bad, cap, "; committed changed from %" PRId64 " to %" PRId64,
			    before->committed, after->committed);
	}
}

/* The flash verdict, "PASS" or "FAIL", with its explanation in why. */
static const char *verdict(const totals *s, char *why, size_t cap)
{
	const stock_view *before = &bench_probes.before, *after = &bench_probes.after;
	char bad[512] = "";
	int64_t base_avail = bench_opt.redis ? before->on_hand : before->available;
	if (base_avail < 0)
		base_avail = 0;
	verdict_faults(s, base_avail, bad, sizeof bad);
	snprintf(why, cap, "attempts=%" PRIu64 " succeeded=%" PRIu64
	    " out_of_stock=%" PRIu64 " other=%" PRIu64 ", available before=%" PRId64,
	    s->attempts, s->successes, s->oos, s->other, base_avail);
	if (bench_probes.after_ok && bench_opt.redis)
		cat(why, cap, ", GET %s %" PRId64 " -> %" PRId64, REDIS_STOCK_KEY,
		    before->on_hand, after->on_hand);
	else if (bench_probes.after_ok)
		cat(why, cap, ", stock.get %s: on_hand %" PRId64 " reserved %" PRId64
		    " -> %" PRId64 " available %" PRId64,
		    FLASH_SKU, after->on_hand, before->reserved, after->reserved, after->available);
	if (bad[0])
		cat(why, cap, "%s", bad);
	else
		cat(why, cap, "; zero oversell");
	if (!bench_opt.redis && before->reserved)
		fprintf(stderr, "allot-bench: note: %s already had %" PRId64 " units reserved before "
		    "the run (an earlier run against this allotd?); the verdict counts from there\n",
		    FLASH_SKU, before->reserved);
	return bad[0] ? "FAIL" : "PASS";
}

static void print_text(const totals *s, double rps, const char *verdict_s, const char *why)
{
	const hist *h = &s->h;
	printf("workload      %s (%s at %s:%d)\n", bench_wl_names[bench_opt.wl],
	    bench_opt.redis ? "Redis, RESP" : "allotd, MessagePack-RPC", bench_opt.host, bench_opt.port);
	if (bench_opt.rate > 0)
		printf("load          open loop at %.0f req/s, %u connections, %u thread%s\n",
		    bench_opt.rate, bench_opt.conns, bench_opt.threads, bench_opt.threads == 1 ? "" : "s");
	else
		printf("load          closed loop, %u connections x pipeline %u, %u thread%s\n",
		    bench_opt.conns, bench_opt.pipeline, bench_opt.threads, bench_opt.threads == 1 ? "" : "s");
	printf("requests      %" PRIu64 " in %.3f s%s\n", s->replies, s->elapsed,
	    bench_opt.warmup > 0 ? " (after warmup)" : "");
	printf("throughput    %.0f req/s\n", rps);
	printf("latency (us)  p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  (min %.1f, mean %.1f)\n",
	    us(hist_percentile(h, 50.0)), us(hist_percentile(h, 90.0)), us(hist_percentile(h, 99.0)),
	    us(hist_percentile(h, 99.9)), us(h->total ? h->max : 0), us(h->total ? h->min : 0),
	    hist_mean(h) / 1000.0);
	printf("ok            %" PRIu64 "\n", s->ok);
	printf("errors        ");
	if (s->errs.n == 0)
		printf("none");
	for (uint32_t i = 0; i < s->errs.n; i++)
		printf("%s%s %" PRIu64, i ? ", " : "", s->errs.e[i].code, s->errs.e[i].count);
	printf("\n");
	if (s->conn_errors)
		printf("connections   %" PRIu64 " failed during the run\n", s->conn_errors);
	if (bench_opt.wl == WL_CHECKOUT)
		printf("orders        %" PRIu64 " reserved: %" PRIu64 " held, %" PRIu64
		    " out of stock; %" PRIu64 " committed, %" PRIu64 " released\n",
		    s->orders, s->orders_held, s->orders_oos, s->commits, s->releases);
	if (verdict_s)
		printf("verdict: %s (%s)\n", verdict_s, why);
}

static void print_json(const totals *s, double rps, const char *verdict_s)
{
	const hist *h = &s->h;
	char js[4096];
	snprintf(js, sizeof js,
	    "{\"workload\":\"%s\",\"connections\":%u,\"pipeline\":%u,\"threads\":%u,"
	    "\"rate\":%.3f,\"requests\":%" PRIu64 ",\"sent\":%" PRIu64 ",\"duration_s\":%.6f,"
	    "\"warmup_s\":%.3f,\"throughput_rps\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,"
	    "\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,\"min_us\":%.1f,\"mean_us\":%.1f,"
	    "\"ok\":%" PRIu64 ",\"errors\":{",
	    bench_wl_names[bench_opt.wl], bench_opt.conns, bench_opt.pipeline, bench_opt.threads,
	    bench_opt.rate, s->replies, s->sent, s->elapsed, bench_opt.warmup, rps,
	    us(hist_percentile(h, 50.0)), us(hist_percentile(h, 90.0)), us(hist_percentile(h, 99.0)),
	    us(hist_percentile(h, 99.9)), us(h->total ? h->max : 0), us(h->total ? h->min : 0),
	    hist_mean(h) / 1000.0, s->ok);
	for (uint32_t i = 0; i < s->errs.n; i++)
		cat(js, sizeof js, "%s\"%s\":%" PRIu64, i ? "," : "", s->errs.e[i].code, s->errs.e[i].count);
	cat(js, sizeof js, "}");
	if (bench_opt.wl == WL_CHECKOUT)
		cat(js, sizeof js, ",\"orders\":%" PRIu64 ",\"orders_held\":%" PRIu64
		    ",\"commits\":%" PRIu64 ",\"releases\":%" PRIu64,
		    s->orders, s->orders_held, s->commits, s->releases);
	if (verdict_s)
		cat(js, sizeof js, ",\"attempts\":%" PRIu64 ",\"successes\":%" PRIu64
		    ",\"out_of_stock\":%" PRIu64 ",\"verdict\":\"%s\"",
		    s->attempts, s->successes, s->oos, verdict_s);
	cat(js, sizeof js, "}");
	printf("%s\n", js);
}

int report_print(void)
{
	static totals s; /* a histogram and an error table: keep them off the stack */
	char why[1024] = "";
	const char *verdict_s = NULL;

	sum_workers(&s);
	double rps = s.elapsed > 0 ? (double)s.replies / s.elapsed : 0.0;
	if (wl_has_verdict())
		verdict_s = verdict(&s, why, sizeof why);
	print_text(&s, rps, verdict_s, why);
	if (bench_opt.json)
		print_json(&s, rps, verdict_s);
	fflush(stdout);
	return verdict_s && strcmp(verdict_s, "FAIL") == 0 ? 1 : 0;
}
