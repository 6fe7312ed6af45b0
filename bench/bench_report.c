/*
 * bench_report.c - what allot-bench prints once the workers are done: the
 * workers' counters and histograms summed, the verdict of flash and
 * redis-lua (exactly min(available, attempts) succeeded, with zero
 * oversell) and of redis-lua-lines (the stock keys down by exactly what
 * the held orders took, none below zero), and the report as text and,
 * with --json, as one JSON object on the last line.
 *
 * bench/compare parses that JSON line; the text is for people. Both keep
 * their format: scripts and the README quote them.
 */
#include "bench.h"
#include "bench_cpu.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Everything the report needs, summed over the workers. */
typedef struct totals {
	hist h;
	errtab errs;
	uint64_t replies, ok, sent, no_reply, conn_errors, unsent;
	uint64_t reserves, attempts, successes, oos, other, units;
	uint32_t storm_connected;
	uint64_t storm_connect_max;
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
		s->unsent += w->unsent;
		s->conn_errors += w->conn_errors;
		s->reserves += w->reserves;
		s->units += w->units;
		s->storm_connected += w->storm_connected;
		if (w->storm_connect_max > s->storm_connect_max)
			s->storm_connect_max = w->storm_connect_max;
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
	if (s->unsent)
		errtab_add(&s->errs, "UNSENT", 6, s->unsent);
	s->elapsed = t_end > t_begin ? (double)(t_end - t_begin) / 1e9 : 0.0;
}

/* What every verdict checks: each attempt answered, success or
 * OUT_OF_STOCK. As "; ..." clauses, into bad. */
static void common_faults(const totals *s, char *bad, size_t cap)
{
	if (s->no_reply)
		cat(bad, cap, "; %" PRIu64 " requests unanswered", s->no_reply);
	if (s->other)
		cat(bad, cap, "; %" PRIu64 " replies neither success nor OUT_OF_STOCK", s->other);
	if (s->successes + s->oos != s->attempts)
		cat(bad, cap, "; successes + OUT_OF_STOCK != attempts");
}

/* Exactly min(available, attempts) of the flash orders may succeed. */
static void expect_successes(const totals *s, int64_t base_avail, char *bad, size_t cap)
{
	uint64_t expect = (uint64_t)base_avail < s->attempts ? (uint64_t)base_avail : s->attempts;
	if (s->successes != expect)
		cat(bad, cap, "; %" PRIu64 " succeeded, expected min(%" PRId64 " available, %" PRIu64 " attempts) = %" PRIu64,
		    s->successes, base_avail, s->attempts, expect);
}

/* allotd flash over n skus: what the orders could take (the scarcest
 * sku's available), each sku reserved up by the successes, nothing else
 * moved. The first faulty sku is named. */
static void flash_faults(const totals *s, int64_t base_avail, char *bad, size_t cap)
{
	const probe_view *b = &bench_probes.before, *a = &bench_probes.after;
	expect_successes(s, base_avail, bad, cap);
	for (uint32_t i = 0; i < b->nskus && bench_opt.setup; i++) {
		if (b->sku[i].on_hand != bench_opt.stock) {
			cat(bad, cap, "; %s%u had stock %" PRId64 " after setup, not %" PRId64,
			    FLASH_SKU_PREFIX, i, b->sku[i].on_hand, bench_opt.stock);
			break;
		}
	}
	if (!bench_probes.after_ok || a->nskus != b->nskus) {
		cat(bad, cap, "; could not read the stock after the run");
		return;
	}
	for (uint32_t i = 0; i < b->nskus; i++) {
		const stock_view *x = &b->sku[i], *y = &a->sku[i];
		size_t before = strlen(bad);
		if (y->reserved != x->reserved + (int64_t)s->successes)
			cat(bad, cap, "; %s%u: reserved = %" PRId64 ", expected %" PRId64 " + %" PRIu64,
			    FLASH_SKU_PREFIX, i, y->reserved, x->reserved, s->successes);
		if (y->on_hand != x->on_hand)
			cat(bad, cap, "; %s%u: on_hand changed from %" PRId64 " to %" PRId64,
			    FLASH_SKU_PREFIX, i, x->on_hand, y->on_hand);
		if (y->committed != x->committed)
			cat(bad, cap, "; %s%u: committed changed from %" PRId64 " to %" PRId64,
			    FLASH_SKU_PREFIX, i, x->committed, y->committed);
		if (strlen(bad) != before)
			break;
	}
}

/* redis-lua: the stock key down by the successes. redis-lua-lines: every
 * stock key loaded, the keys down by the units of the held orders in all,
 * none below zero. */
static void redis_faults(const totals *s, int64_t base_avail, char *bad, size_t cap)
{
	const probe_view *b = &bench_probes.before, *a = &bench_probes.after;
	bool lines = bench_opt.wl == WL_REDIS_LUA_LINES;
	if (!lines)
		expect_successes(s, base_avail, bad, cap);
	if (bench_opt.setup && (b->keys_missing || b->key_sum != (int64_t)b->keys * bench_opt.stock))
		cat(bad, cap, "; the stock keys held %" PRId64 " after setup (%" PRIu64 " missing), not %" PRIu64 " x %" PRId64,
		    b->key_sum, b->keys_missing, b->keys, bench_opt.stock);
	if (!bench_probes.after_ok) {
		cat(bad, cap, "; could not read the stock after the run");
		return;
	}
	uint64_t taken = lines ? s->units : s->successes;
	if (a->key_sum != b->key_sum - (int64_t)taken)
		cat(bad, cap, "; the stock keys went down by %" PRId64 ", the held orders took %" PRIu64,
		    b->key_sum - a->key_sum, taken);
	if (a->key_min < 0)
		cat(bad, cap, "; oversold: a stock key at %" PRId64, a->key_min);
	if (a->keys_missing != b->keys_missing)
		cat(bad, cap, "; %" PRIu64 " stock keys missing after the run, %" PRIu64 " before",
		    a->keys_missing, b->keys_missing);
}

/* What the orders could take at most: the scarcest flash sku's available,
 * or the flash stock key. */
static int64_t base_available(void)
{
	const probe_view *b = &bench_probes.before;
	int64_t base = bench_opt.redis ? b->key_sum : INT64_MAX;
	for (uint32_t i = 0; i < b->nskus && !bench_opt.redis; i++)
		base = b->sku[i].available < base ? b->sku[i].available : base;
	return base < 0 || base == INT64_MAX ? 0 : base;
}

/* What the probes saw, for the verdict's line. */
static void describe_stock(const totals *s, int64_t base_avail, char *why, size_t cap)
{
	const probe_view *b = &bench_probes.before, *a = &bench_probes.after;
	if (bench_opt.wl == WL_REDIS_LUA_LINES) {
		snprintf(why, cap, "orders=%" PRIu64 " held=%" PRIu64 " out_of_stock=%" PRIu64
		    " other=%" PRIu64 ", units held=%" PRIu64, s->attempts, s->successes, s->oos, s->other, s->units);
		if (bench_opt.lines)
			cat(why, cap, " in %" PRIu64 " lines (%" PRIu64 " x %u)",
			    s->successes * bench_opt.lines, s->successes, bench_opt.lines);
		if (bench_probes.after_ok)
			cat(why, cap, ", %" PRIu64 " stock keys: sum %" PRId64 " -> %" PRId64 " (down %" PRId64 "), lowest %" PRId64,
			    b->keys, b->key_sum, a->key_sum, b->key_sum - a->key_sum, a->key_min);
		return;
	}
	snprintf(why, cap, "attempts=%" PRIu64 " succeeded=%" PRIu64
	    " out_of_stock=%" PRIu64 " other=%" PRIu64 ", available before=%" PRId64,
	    s->attempts, s->successes, s->oos, s->other, base_avail);
	if (bench_probes.after_ok && bench_opt.redis) {
		cat(why, cap, ", %s %" PRId64 " -> %" PRId64, REDIS_STOCK_KEY, b->key_sum, a->key_sum);
	} else if (bench_probes.after_ok && a->nskus == 1) {
		cat(why, cap, ", stock.get %s: on_hand %" PRId64 " reserved %" PRId64
		    " -> %" PRId64 " available %" PRId64, FLASH_SKU, a->sku[0].on_hand,
		    b->sku[0].reserved, a->sku[0].reserved, a->sku[0].available);
	} else if (bench_probes.after_ok && a->nskus > 1) {
		cat(why, cap, ", stock.get of each of %s0 .. %s%u: reserved %" PRId64 " -> %" PRId64
		    " (%s0)", FLASH_SKU_PREFIX, FLASH_SKU_PREFIX, a->nskus - 1, b->sku[0].reserved,
		    a->sku[0].reserved, FLASH_SKU_PREFIX);
	}
}

/* The verdict, "PASS" or "FAIL", with its explanation in why. */
static const char *verdict(const totals *s, char *why, size_t cap)
{
	const probe_view *b = &bench_probes.before;
	char bad[512] = "";
	int64_t base_avail = base_available();
	common_faults(s, bad, sizeof bad);
	if (bench_opt.redis)
		redis_faults(s, base_avail, bad, sizeof bad);
	else
		flash_faults(s, base_avail, bad, sizeof bad);
	describe_stock(s, base_avail, why, cap);
	if (bad[0])
		cat(why, cap, "%s", bad);
	else
		cat(why, cap, "; zero oversell");
	if (!bench_opt.redis && b->nskus && b->sku[0].reserved)
		fprintf(stderr, "allot-bench: note: %s already had %" PRId64 " units reserved before "
		    "the run (an earlier run against this allotd?); the verdict counts from there\n",
		    FLASH_SKU, b->sku[0].reserved);
	return bad[0] ? "FAIL" : "PASS";
}

/* The order's shape and routing, when the options set them. */
static void print_routing(void)
{
	if (!bench_opt.lines && !bench_opt.routing)
		return;
	printf("orders of     ");
	if (bench_opt.lines)
		printf("%u line%s", bench_opt.lines, bench_opt.lines == 1 ? "" : "s");
	else
		printf("the workload's lines");
	if (bench_opt.strategy)
		printf(", strategy %s", bench_opt.strategy);
	if (bench_opt.ship_to == SHIP_RANDOM)
		printf(", ship_to drawn per order");
	else if (bench_opt.ship_to == SHIP_FIXED)
		printf(", ship_to %.4f,%.4f", bench_opt.ship_lat, bench_opt.ship_lon);
	printf("\n");
}

static void print_text(const totals *s, double rps, const char *verdict_s, const char *why)
{
	const hist *h = &s->h;
	printf("workload      %s (%s at %s:%d)\n", bench_wl_names[bench_opt.wl],
	    bench_opt.redis ? "Redis, RESP" : "allotd, MessagePack-RPC", bench_opt.host, bench_opt.port);
	if (bench_opt.storm)
		printf("load          storm: %u connections opened at the start, open loop at %.0f req/s, "
		    "%u thread%s\n", bench_opt.conns, bench_opt.rate, bench_opt.threads,
		    bench_opt.threads == 1 ? "" : "s");
	else if (bench_opt.rate > 0)
		printf("load          open loop at %.0f req/s, %u connections, %u thread%s\n",
		    bench_opt.rate, bench_opt.conns, bench_opt.threads, bench_opt.threads == 1 ? "" : "s");
	else
		printf("load          closed loop, %u connections x pipeline %u, %u thread%s\n",
		    bench_opt.conns, bench_opt.pipeline, bench_opt.threads, bench_opt.threads == 1 ? "" : "s");
	print_routing();
	printf("requests      %" PRIu64 " in %.3f s%s\n", s->replies, s->elapsed,
	    bench_opt.warmup > 0 ? " (after warmup)" : "");
	printf("throughput    %.0f req/s\n", rps);
	printf("latency (us)  p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  (min %.1f, mean %.1f)\n",
	    us(hist_percentile(h, 50.0)), us(hist_percentile(h, 90.0)), us(hist_percentile(h, 99.0)),
	    us(hist_percentile(h, 99.9)), us(h->total ? h->max : 0), us(h->total ? h->min : 0),
	    hist_mean(h) / 1000.0);
	bench_cpu_print(s->replies);
	printf("ok            %" PRIu64 "\n", s->ok);
	printf("errors        ");
	if (s->errs.n == 0)
		printf("none");
	for (uint32_t i = 0; i < s->errs.n; i++)
		printf("%s%s %" PRIu64, i ? ", " : "", s->errs.e[i].code, s->errs.e[i].count);
	printf("\n");
	if (bench_opt.storm)
		printf("storm         %u of %u connections up, the last %.1f ms after the start\n",
		    s->storm_connected, bench_opt.conns, (double)s->storm_connect_max / 1e6);
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
	cat(js, sizeof js, "},\"reserves\":%" PRIu64 ",\"reserve_rps\":%.1f", s->reserves,
	    s->elapsed > 0 ? (double)s->reserves / s->elapsed : 0.0);
	if (bench_opt.lines)
		cat(js, sizeof js, ",\"lines\":%u", bench_opt.lines);
	if (bench_opt.strategy)
		cat(js, sizeof js, ",\"strategy\":\"%s\"", bench_opt.strategy);
	if (bench_opt.ship_to != SHIP_NONE)
		cat(js, sizeof js, ",\"ship_to\":\"%s\"", bench_opt.ship_to == SHIP_RANDOM ? "random" : "fixed");
	if (bench_opt.storm)
		cat(js, sizeof js, ",\"storm\":true,\"storm_connected\":%u,\"storm_connect_max_us\":%.1f",
		    s->storm_connected, us(s->storm_connect_max));
	if (bench_opt.wl == WL_REDIS_LUA_LINES)
		cat(js, sizeof js, ",\"units\":%" PRIu64, s->units);
	if (bench_opt.wl == WL_CHECKOUT)
		cat(js, sizeof js, ",\"orders\":%" PRIu64 ",\"orders_held\":%" PRIu64
		    ",\"commits\":%" PRIu64 ",\"releases\":%" PRIu64,
		    s->orders, s->orders_held, s->commits, s->releases);
	if (verdict_s)
		cat(js, sizeof js, ",\"attempts\":%" PRIu64 ",\"successes\":%" PRIu64
		    ",\"out_of_stock\":%" PRIu64 ",\"verdict\":\"%s\"",
		    s->attempts, s->successes, s->oos, verdict_s);
	bench_cpu_json(js, sizeof js);
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
