/*
 * probe.c - allot-probe: how long allotd keeps a request waiting around a
 * snapshot, and how soon a restarted allotd answers.
 *
 *   allot-probe stall [--host H] [--port P] [--before-ms N] [--after-ms N]
 *                     [--timeout-s N] [--json]
 *     One connection sends `ping` one at a time, back to back, and times
 *     each round trip. After --before-ms, a second connection (on its own
 *     thread) calls `snapshot`; pings go on until --after-ms after its
 *     reply. Every ping is counted in one of three histograms: before the
 *     snapshot call, during it (the call was out at any moment of the
 *     ping), after it. `stats` is read before and after: loop_busy_max_us
 *     (the longest loop turn since allotd started) and the snapshot's
 *     fork_us.
 *
 *   allot-probe ready [--host H] [--port P] --since-us T [--pid PID]
 *                     [--timeout-s N] [--json]
 *     Connect and ping every millisecond until allotd answers `pong`; print
 *     how long after T (microseconds since the epoch, e.g. bash's
 *     $EPOCHREALTIME taken just before starting allotd) that was. With
 *     --pid, give up as soon as that process has exited.
 *
 * Everything is bounded by --timeout-s (default 120). Exit status: 0 done,
 * 1 the server failed or timed out, 2 usage.
 */
#include "bench_time.h"
#include "hist.h"

#include "cli_json.h"
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOP_N 8                /* slowest pings kept with their times */
#define READY_RETRY_NS 1000000 /* 1 ms between tries in ready */
#define CONNECT_TIMEOUT_MS 200

static struct {
	const char *host;
	int port;
	uint64_t before_ms, after_ms, timeout_s;
	int64_t since_us;
	bool have_since;
	long pid;
	bool json;
} O = {
	.host = "127.0.0.1",
	.port = ALLOT_DEFAULT_PORT,
	.before_ms = 2000,
	.after_ms = 1000,
	.timeout_s = 120,
};

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("allot-probe: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static allot_ctx *connect_or_fail(int timeout_ms)
{
	allot_ctx *c = allot_connect(O.host, O.port, timeout_ms);
	if (!c || allot_err(c) < 0)
		fail("connect to %s:%d: %s", O.host, O.port, c ? allot_errstr(c) : "out of memory");
	return c;
}

/* Call method with no params; the result (a new reference) or exit. */
static json_t *call_or_fail(allot_ctx *c, const char *method)
{
	json_t *error = NULL, *result = NULL;
	if (cli_json_call(c, method, NULL, &error, &result) != 0)
		fail("%s: %s", method, allot_errstr(c));
	if (error) {
		char *e = json_dumps(error, JSON_COMPACT);
		fail("%s answered an error: %s", method, e ? e : "?");
	}
	return result;
}

/* result.a.b... as an integer, -1 when missing. */
static json_int_t jget(json_t *o, const char *path)
{
	char key[64];
	const char *p = path;
	while (o && *p) {
		size_t n = strcspn(p, ".");
		if (n >= sizeof key)
			return -1;
		memcpy(key, p, n);
		key[n] = '\0';
		o = json_object_get(o, key);
		p += n + (p[n] == '.');
	}
	if (json_is_integer(o))
		return json_integer_value(o);
	if (json_is_real(o))
		return (json_int_t)json_real_value(o);
	return -1;
}

/* ------------------------------------------------------------------------
 * stall
 * --------------------------------------------------------------------- */

enum { PH_BEFORE, PH_DURING, PH_AFTER, PH_FAILED };

static struct {
	allot_ctx *c;
	_Atomic int phase;
	uint64_t t0, t1;     /* the snapshot call sent, its reply read */
	json_t *result;
	char err[512];
} snap;

static void *snapshot_thread(void *arg)
{
	(void)arg;
	json_t *error = NULL;
	json_t *args = json_object();
	int rc = cli_json_call(snap.c, "snapshot", args, &error, &snap.result);
	json_decref(args);
	snap.t1 = bench_mono_ns();
	if (rc != 0) {
		snprintf(snap.err, sizeof snap.err, "%s", allot_errstr(snap.c));
	} else if (error) {
		char *e = json_dumps(error, JSON_COMPACT);
		snprintf(snap.err, sizeof snap.err, "error %s", e ? e : "?");
		free(e);
	}
	atomic_store(&snap.phase, snap.err[0] ? PH_FAILED : PH_AFTER);
	return NULL;
}

typedef struct slow {
	uint64_t rtt;
	int64_t at; /* when it was sent, ns after the snapshot call */
} slow;

/* Keep the TOP_N slowest, slowest first. */
static void top_add(slow *top, uint32_t *n, uint64_t rtt, int64_t at)
{
	uint32_t i;
	if (*n < TOP_N)
		i = (*n)++;
	else if (rtt > top[TOP_N - 1].rtt)
		i = TOP_N - 1;
	else
		return;
	top[i].rtt = rtt;
	top[i].at = at;
	while (i > 0 && top[i - 1].rtt < top[i].rtt) {
		slow t = top[i - 1];
		top[i - 1] = top[i];
		top[i] = t;
		i--;
	}
}

static json_t *hist_json(const hist *h)
{
	return json_pack("{s:I, s:f, s:f, s:f, s:f}", "pings", (json_int_t)h->total,
	    "p50_us", h->total ? (double)hist_percentile(h, 50.0) / 1e3 : 0.0,
	    "p99_us", h->total ? (double)hist_percentile(h, 99.0) / 1e3 : 0.0,
	    "p999_us", h->total ? (double)hist_percentile(h, 99.9) / 1e3 : 0.0,
	    "max_us", h->total ? (double)h->max / 1e3 : 0.0);
}

static void print_hist(const char *name, const hist *h)
{
	printf("%-8s %8" PRIu64 " pings  p50 %8.1f  p99 %8.1f  p99.9 %8.1f  max %8.1f us\n", name,
	    h->total, h->total ? (double)hist_percentile(h, 50.0) / 1e3 : 0.0,
	    h->total ? (double)hist_percentile(h, 99.0) / 1e3 : 0.0,
	    h->total ? (double)hist_percentile(h, 99.9) / 1e3 : 0.0,
	    h->total ? (double)h->max / 1e3 : 0.0);
}

static int run_stall(void)
{
	int timeout_ms = (int)(O.timeout_s * 1000);
	allot_ctx *ctl = connect_or_fail(timeout_ms);
	allot_ctx *pc = connect_or_fail(timeout_ms);
	snap.c = connect_or_fail(timeout_ms);
	json_t *stats0 = call_or_fail(ctl, "stats");
	if (!json_is_object(json_object_get(json_object_get(stats0, "durability"), "snapshot")))
		fail("stats has no durability: is allotd running with --redis?");

	static hist h[3];
	for (int i = 0; i < 3; i++)
		hist_init(&h[i]);
	slow top[TOP_N];
	uint32_t ntop = 0;
	uint64_t start = bench_mono_ns(), deadline = start + O.timeout_s * 1000000000ull;
	uint64_t snap_at = start + O.before_ms * 1000000ull, stop_at = 0;
	bool started = false;
	pthread_t th;
	uint64_t pings = 0, max_pings = O.timeout_s * 10000000ull; /* 10M/s: never reached */
	for (;;) {
		uint64_t now = bench_mono_ns();
		if (now >= deadline || pings >= max_pings) {
			fail("gave up after %" PRIu64 " s (the snapshot %s)", O.timeout_s,
			    started ? "never answered" : "was never called");
		}
		if (!started && now >= snap_at) {
			/* the call counts as out from here, just before the thread sends it */
			snap.t0 = bench_mono_ns();
			atomic_store(&snap.phase, PH_DURING);
			if (pthread_create(&th, NULL, snapshot_thread, NULL) != 0)
				fail("cannot start a thread");
			started = true;
		}
		int p0 = atomic_load(&snap.phase);
		if (p0 == PH_FAILED)
			break;
		if (p0 == PH_AFTER && !stop_at)
			stop_at = snap.t1 + O.after_ms * 1000000ull;
		if (stop_at && now >= stop_at)
			break;
		uint64_t t = bench_mono_ns();
		if (allot_ping(pc) != 0)
			fail("ping: %s", allot_errstr(pc));
		uint64_t rtt = bench_mono_ns() - t;
		int p1 = atomic_load(&snap.phase);
		pings++;
		int which = p0 == PH_BEFORE && p1 == PH_BEFORE ? 0 : p0 == PH_AFTER ? 2 : 1;
		hist_record(&h[which], rtt);
		if (which == 1)
			top_add(top, &ntop, rtt, (int64_t)t - (int64_t)snap.t0);
	}
	pthread_join(th, NULL);
	if (snap.err[0])
		fail("snapshot: %s", snap.err);
	json_t *stats1 = call_or_fail(ctl, "stats");

	json_t *out = json_object();
	json_object_set_new(out, "before", hist_json(&h[0]));
	json_object_set_new(out, "during", hist_json(&h[1]));
	json_object_set_new(out, "after", hist_json(&h[2]));
	json_object_set_new(out, "snapshot", snap.result);
	json_object_set_new(out, "snapshot_call_ms", json_real((double)(snap.t1 - snap.t0) / 1e6));
	/* CLOCK_MONOTONIC, to line the call up with a trace (perf -k CLOCK_MONOTONIC) */
	json_object_set_new(out, "snapshot_call_mono_s", json_pack("[f, f]",
	    (double)snap.t0 / 1e9, (double)snap.t1 / 1e9));
	json_t *slowest = json_array();
	for (uint32_t i = 0; i < ntop; i++)
		json_array_append_new(slowest, json_pack("{s:f, s:f}", "rtt_us",
		    (double)top[i].rtt / 1e3, "sent_at_ms", (double)top[i].at / 1e6));
	json_object_set_new(out, "slowest_during", slowest);
	json_object_set_new(out, "loop_busy_max_us_before",
	    json_integer(jget(stats0, "loop_busy_max_us")));
	json_object_set_new(out, "loop_busy_max_us_after",
	    json_integer(jget(stats1, "loop_busy_max_us")));
	json_object_set_new(out, "last_fork_us",
	    json_integer(jget(stats1, "durability.snapshot.last_fork_us")));
	json_object_set_new(out, "resident_bytes", json_integer(jget(stats1, "memory.resident")));

	printf("snapshot      lsn %" JSON_INTEGER_FORMAT ", %" JSON_INTEGER_FORMAT " bytes in %"
	    JSON_INTEGER_FORMAT " chunks, %" JSON_INTEGER_FORMAT " ms, fork %" JSON_INTEGER_FORMAT
	    " us (the call took %.1f ms)\n", jget(snap.result, "lsn"), jget(snap.result, "bytes"),
	    jget(snap.result, "chunks"), jget(snap.result, "duration_ms"),
	    jget(snap.result, "fork_us"), (double)(snap.t1 - snap.t0) / 1e6);
	print_hist("before", &h[0]);
	print_hist("during", &h[1]);
	print_hist("after", &h[2]);
	printf("slowest pings during the snapshot (rtt us @ sent ms after the call):");
	for (uint32_t i = 0; i < ntop; i++)
		printf(" %.0f@%.1f", (double)top[i].rtt / 1e3, (double)top[i].at / 1e6);
	printf("\nloop_busy_max_us %" JSON_INTEGER_FORMAT " before, %" JSON_INTEGER_FORMAT " after\n",
	    jget(stats0, "loop_busy_max_us"), jget(stats1, "loop_busy_max_us"));
	if (O.json) {
		char *s = json_dumps(out, JSON_COMPACT);
		printf("%s\n", s ? s : "{}");
		free(s);
	}
	json_decref(out);
	json_decref(stats0);
	json_decref(stats1);
	allot_free(ctl);
	allot_free(pc);
	allot_free(snap.c);
	return 0;
}

/* ------------------------------------------------------------------------
 * ready
 * --------------------------------------------------------------------- */

/* The process has exited (or is a zombie waiting to be reaped). */
static bool pid_gone(long pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return true;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *rp = strrchr(buf, ')');
	return !rp || rp[1] != ' ' || rp[2] == 'Z' || rp[2] == 'X';
}

static int run_ready(void)
{
	uint64_t deadline = bench_mono_ns() + O.timeout_s * 1000000000ull;
	uint64_t tries = 0, max_tries = O.timeout_s * 1000 + 10;
	for (; tries < max_tries && bench_mono_ns() < deadline; tries++) {
		if (O.pid && pid_gone(O.pid))
			fail("process %ld exited before answering", O.pid);
		allot_ctx *c = allot_connect(O.host, O.port, CONNECT_TIMEOUT_MS);
		if (c && allot_err(c) == 0) {
			bool pong = allot_ping(c) == 0;
			int64_t at = bench_wall_us();
			allot_free(c);
			if (pong) {
				double ms = (double)(at - O.since_us) / 1e3;
				printf("ready after %.1f ms (%" PRIu64 " tries)\n", ms, tries + 1);
				if (O.json)
					printf("{\"ready_ms\":%.1f,\"tries\":%" PRIu64 "}\n", ms, tries + 1);
				return 0;
			}
		} else {
			allot_free(c);
		}
		struct timespec ts = { 0, READY_RETRY_NS };
		nanosleep(&ts, NULL);
	}
	fail("no pong from %s:%d within %" PRIu64 " s", O.host, O.port, O.timeout_s);
}

/* ------------------------------------------------------------------------
 * Options
 * --------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
	    "usage: allot-probe stall [--host H] [--port P] [--before-ms N] [--after-ms N]\n"
	    "                         [--timeout-s N] [--json]\n"
	    "       allot-probe ready [--host H] [--port P] --since-us T [--pid PID]\n"
	    "                         [--timeout-s N] [--json]\n"
	    "\n"
	    "stall: ping allotd one request at a time on one connection, call `snapshot`\n"
	    "       on another after --before-ms (default 2000) and go on until --after-ms\n"
	    "       (default 1000) after its reply; print the ping round trips before,\n"
	    "       during and after the snapshot call, the snapshot's reply and stats'\n"
	    "       loop_busy_max_us before and after.\n"
	    "ready: connect and ping every millisecond until allotd answers; print how\n"
	    "       long after T (microseconds since the epoch) it did. --pid: give up\n"
	    "       when that process has exited.\n"
	    "\n"
	    "  --host H, --port P   allotd (default 127.0.0.1:%d)\n"
	    "  --timeout-s N        give up after N seconds (default 120)\n"
	    "  --json               also print the results as one JSON object, last line\n"
	    "\n"
	    "Exit status: 0 done, 1 allotd failed or timed out, 2 usage.\n",
	    ALLOT_DEFAULT_PORT);
}

static uint64_t opt_u64(const char *flag, const char *s, uint64_t lo, uint64_t hi)
{
	char *end;
	errno = 0;
	unsigned long long v = *s == '-' ? 0 : strtoull(s, &end, 10);
	if (*s == '-' || errno || end == s || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "allot-probe: --%s: expected a whole number from %" PRIu64 " to %"
		    PRIu64 ", got '%s'\n", flag, lo, hi, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	enum { OPT_HOST = 256, OPT_PORT, OPT_BEFORE, OPT_AFTER, OPT_TIMEOUT, OPT_SINCE, OPT_PID,
		OPT_JSON, OPT_HELP };
	static const struct option longopts[] = {
		{"host", required_argument, NULL, OPT_HOST},
		{"port", required_argument, NULL, OPT_PORT},
		{"before-ms", required_argument, NULL, OPT_BEFORE},
		{"after-ms", required_argument, NULL, OPT_AFTER},
		{"timeout-s", required_argument, NULL, OPT_TIMEOUT},
		{"since-us", required_argument, NULL, OPT_SINCE},
		{"pid", required_argument, NULL, OPT_PID},
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, OPT_HELP},
		{NULL, 0, NULL, 0},
	};
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc < 2 || (strcmp(argv[1], "stall") != 0 && strcmp(argv[1], "ready") != 0)) {
		usage(stderr);
		return 2;
	}
	const char *mode = argv[1];
	int ch;
	opterr = 0;
	optind = 2;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_HOST:
			O.host = optarg;
			break;
		case OPT_PORT:
			O.port = (int)opt_u64("port", optarg, 1, 65535);
			break;
		case OPT_BEFORE:
			O.before_ms = opt_u64("before-ms", optarg, 0, 600000);
			break;
		case OPT_AFTER:
			O.after_ms = opt_u64("after-ms", optarg, 0, 600000);
			break;
		case OPT_TIMEOUT:
			O.timeout_s = opt_u64("timeout-s", optarg, 1, 3600);
			break;
		case OPT_SINCE:
			O.since_us = (int64_t)opt_u64("since-us", optarg, 1, (uint64_t)INT64_MAX);
			O.have_since = true;
			break;
		case OPT_PID:
			O.pid = (long)opt_u64("pid", optarg, 1, 1u << 30);
			break;
		case OPT_JSON:
			O.json = true;
			break;
		case OPT_HELP:
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "allot-probe: unknown or incomplete option '%s'\n", argv[optind - 1]);
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "allot-probe: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (strcmp(mode, "ready") == 0) {
		if (!O.have_since) {
			fprintf(stderr, "allot-probe: ready needs --since-us\n");
			return 2;
		}
		return run_ready();
	}
	if (O.before_ms + O.after_ms >= O.timeout_s * 1000) {
		fprintf(stderr, "allot-probe: --timeout-s must leave time beyond --before-ms and --after-ms\n");
		return 2;
	}
	return run_stall();
}
