/*
 * expiry-storm.c - how long allotd keeps requests waiting when a storm of
 * holds falls due at once, running and after a pause.
 *
 *   expiry-storm [--allotd PATH] [--holds N] [--window-ms W] [--lead-ms L]
 *                [--after-ms A] [--json]
 *
 * Each scenario starts its own allotd (PATH, else $ALLOTD, else
 * build/engine/allotd) on a free loopback port, sets one sku's stock to N
 * and loads N one-unit holds of it, pipelined, with ttls chosen so that
 * their deadlines fall evenly over W ms starting L ms after the load
 * began. Then:
 *
 *   live    a ping every millisecond from just before the first deadline;
 *           the first one sent after the last deadline is "first", and a
 *           reserve of all N units goes right after it.
 *   paused  SIGSTOP just before the first deadline, SIGCONT 100 ms after
 *           the last (as a paused VM or a long fork would), then at once a
 *           ping ("first") and the reserve of all N units.
 *
 * and pings every millisecond for A ms more. It prints the first ping's
 * round trip, the reserve's round trip and whether it held all N units,
 * the median, p99 and maximum of the pings after (live: also of those
 * while the holds were falling due), and allotd's longest loop turn
 * (stats), which a ping's time on a busy machine can exceed. Targets:
 * first < 10 ms, reserve < 10 ms and held, p99 < 5 ms. A benchmark, not
 * a test: on a shared machine the figures vary from run to run.
 *
 * Exit status: 0 done (whatever the times), 1 allotd failed or refused the
 * reserve of all units, 2 usage.
 */
#include "hist.h"

#include <allot/allot.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PIPELINE 64            /* reserves in flight while loading: short loop turns */
#define CALL_TIMEOUT_MS 30000
#define START_TIMEOUT_MS 10000
#define SKU "storm"

static struct {
	const char *allotd;
	long holds, window_ms, lead_ms, after_ms;
	bool json;
} O = { .holds = 300000, .window_ms = 300, .lead_ms = 6000, .after_ms = 2000 };

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("expiry-storm: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t wall_ms(void)
{
	return clock_ns(CLOCK_REALTIME) / 1000000;
}

/* Sleep until the wall clock reads ms. */
static void sleep_until_wall(int64_t ms)
{
	int64_t left;
	while ((left = ms - wall_ms()) > 0) {
		struct timespec ts = { left / 1000, (left % 1000) * 1000000 };
		nanosleep(&ts, NULL);
	}
}

/* ---- allotd ----------------------------------------------------------------- */

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int port = -1;
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* Start allotd on a free port; connect once it answers. */
static pid_t start_allotd(int *port, allot_ctx **out)
{
	*port = free_port();
	if (*port < 0)
		fail("no free port: %s", strerror(errno));
	char port_s[16];
	snprintf(port_s, sizeof(port_s), "%d", *port);
	pid_t pid = fork();
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (pid == 0) {
		/* Its warning that state lives in memory only is expected. */
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0) {
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		execl(O.allotd, O.allotd, "--bind", "127.0.0.1", "--port", port_s, "--log-level", "warn",
		    (char *)NULL);
		fprintf(stderr, "expiry-storm: cannot run %s: %s\n", O.allotd, strerror(errno));
		_exit(127);
	}
	int64_t deadline = clock_ns(CLOCK_MONOTONIC) + (int64_t)START_TIMEOUT_MS * 1000000;
	char err[256] = "";
	while (clock_ns(CLOCK_MONOTONIC) < deadline) {
		allot_ctx *c = allot_connect("127.0.0.1", *port, CALL_TIMEOUT_MS);
		if (c && allot_err(c) == 0) {
			*out = c;
			return pid;
		}
		snprintf(err, sizeof(err), "%s", c ? allot_errstr(c) : "out of memory");
		allot_free(c);
		if (waitpid(pid, NULL, WNOHANG) == pid)
			fail("%s exited before it listened", O.allotd);
		struct timespec ts = { 0, 10000000 };
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	fail("%s did not listen within %d ms: %s", O.allotd, START_TIMEOUT_MS, err);
}

static void stop_allotd(pid_t pid)
{
	kill(pid, SIGCONT);
	kill(pid, SIGTERM);
	for (int i = 0; i < 500; i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return;
		struct timespec ts = { 0, 10000000 };
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* ---- requests ---------------------------------------------------------------- */

/* {order_id, lines: [{sku, qty}], ttl_ms} into b (reset first). */
static void reserve_args(allot_builder *b, const char *order, long qty, int64_t ttl_ms)
{
	allot_builder_reset(b);
	allot_put_map(b, 3);
	allot_put_str(b, "order_id");
	allot_put_str(b, order);
	allot_put_str(b, "lines");
	allot_put_array(b, 1);
	allot_put_map(b, 2);
	allot_put_str(b, "sku");
	allot_put_str(b, SKU);
	allot_put_str(b, "qty");
	allot_put_int(b, qty);
	allot_put_str(b, "ttl_ms");
	allot_put_int(b, ttl_ms);
	if (allot_builder_status(b) != 0)
		fail("out of memory");
}

/* Call and time it; *ok says whether the reply carried no error. */
static int64_t timed_call(allot_ctx *c, const char *method, const allot_builder *args, bool *ok)
{
	int64_t t0 = clock_ns(CLOCK_MONOTONIC);
	int rc = allot_call(c, method, args, NULL);
	int64_t ns = clock_ns(CLOCK_MONOTONIC) - t0;
	if (rc != 0 && rc != ALLOT_E_SERVER)
		fail("%s: %s", method, allot_errstr(c));
	if (ok)
		*ok = rc == 0;
	return ns;
}

/* stats.loop_busy_max_us: allotd's longest loop turn since it started. */
static int64_t busy_max_us(allot_ctx *c)
{
	allot_reply *r = NULL;
	if (allot_call(c, "stats", NULL, &r) != 0)
		fail("stats: %s", allot_errstr(c));
	int64_t us = -1;
	allot_value_int(allot_value_get(allot_reply_result(r), "loop_busy_max_us"), &us);
	allot_reply_free(r);
	return us;
}

static void stock_set(allot_ctx *c, long on_hand)
{
	int rc = allot_stock_set(c, SKU, "W1", on_hand, -1, NULL);
	if (rc != 0)
		fail("stock.set was refused: %s", allot_errstr(c));
}

/*
 * N one-unit holds, PIPELINE in flight, hold i due at about first + i * W
 * / N (ms on the wall clock, which allotd's clock reads at its start; a
 * request waits in the pipeline a little, so its deadline comes as late).
 * The deadlines the replies gave, earliest and latest, go to *due_first
 * and *due_last.
 */
static void load(allot_ctx *c, int64_t *due_first, int64_t *due_last)
{
	int64_t first = wall_ms() + O.lead_ms;
	*due_first = INT64_MAX;
	*due_last = 0;
	allot_builder *b = allot_builder_create();
	if (b == NULL)
		fail("out of memory");
	char order[32];
	long sent = 0, answered = 0, refused = 0;
	while (answered < O.holds) {
		while (sent < O.holds && sent - answered < PIPELINE) {
			int64_t due = first + (int64_t)sent * O.window_ms / O.holds;
			int64_t ttl = due - wall_ms();
			if (ttl < 1)
				fail("loading took longer than --lead-ms %ld: raise it", O.lead_ms);
			snprintf(order, sizeof(order), "s-%ld", sent);
			reserve_args(b, order, 1, ttl);
			if (allot_append(c, "reserve", b, NULL) != 0 || allot_flush(c) != 0)
				fail("send: %s", allot_errstr(c));
			sent++;
		}
		allot_reply *r = NULL;
		int rc = allot_get_reply(c, &r);
		if (rc != 0 && rc != ALLOT_E_SERVER)
			fail("recv: %s", allot_errstr(c));
		refused += rc != 0;
		int64_t due = 0;
		if (allot_value_int(allot_value_get(allot_reply_result(r), "expires_at"), &due) == 0) {
			*due_first = due < *due_first ? due : *due_first;
			*due_last = due > *due_last ? due : *due_last;
		}
		allot_reply_free(r);
		answered++;
	}
	allot_builder_destroy(b);
	if (refused)
		fail("%ld of %ld holds were refused", refused, O.holds);
	if (*due_last == 0)
		fail("the replies gave no deadlines");
	if (wall_ms() > *due_first - 100)
		fail("loading took longer than --lead-ms %ld: raise it", O.lead_ms);
}

/* ---- scenarios ---------------------------------------------------------------- */

typedef struct result {
	const char *name;
	int64_t load_ms, due_ms;  /* loading took; the deadlines spread over */
	int64_t busy_load_us, busy_us; /* allotd's longest loop turn: by the end of loading, of the run */
	int64_t first_ns, reserve_ns;
	bool reserve_held;
	hist after, during;
} result;

/* The first ping and the reserve of all units, then pings every
 * millisecond for after_ms into r->after. */
static void first_then_pings(allot_ctx *c, result *r)
{
	allot_builder *b = allot_builder_create();
	if (b == NULL)
		fail("out of memory");
	reserve_args(b, "all", O.holds, 60000);
	r->first_ns = timed_call(c, "ping", NULL, NULL);
	r->reserve_ns = timed_call(c, "reserve", b, &r->reserve_held);
	allot_builder_destroy(b);
	int64_t next = clock_ns(CLOCK_MONOTONIC), end = next + (int64_t)O.after_ms * 1000000;
	while (next < end) {
		next += 1000000;
		hist_record(&r->after, (uint64_t)timed_call(c, "ping", NULL, NULL));
		struct timespec ts = { next / 1000000000, next % 1000000000 };
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	}
}

static void scenario(result *r, bool paused)
{
	*r = (result){ .name = paused ? "paused" : "live" };
	hist_init(&r->after);
	hist_init(&r->during);
	int port;
	allot_ctx *c;
	pid_t pid = start_allotd(&port, &c);
	stock_set(c, O.holds);
	int64_t t0 = wall_ms(), first, last;
	load(c, &first, &last);
	r->load_ms = wall_ms() - t0;
	r->due_ms = last - first;
	r->busy_load_us = busy_max_us(c);
	if (paused) {
		sleep_until_wall(first - 50);
		kill(pid, SIGSTOP);
		sleep_until_wall(last + 100);
		kill(pid, SIGCONT);
	} else {
		/* Pings every millisecond while the holds fall due, up to the first
		 * sent after the last deadline. */
		sleep_until_wall(first - 50);
		while (wall_ms() <= last) {
			int64_t ms = wall_ms();
			hist_record(&r->during, (uint64_t)timed_call(c, "ping", NULL, NULL));
			while (wall_ms() == ms) {
				struct timespec ts = { 0, 100000 };
				nanosleep(&ts, NULL);
			}
		}
	}
	first_then_pings(c, r);
	r->busy_us = busy_max_us(c);
	allot_free(c);
	stop_allotd(pid);
}

static void print(const result *r)
{
	double ms = 1e6;
	if (O.json) {
		printf("{\"scenario\": \"%s\", \"holds\": %ld, \"window_ms\": %" PRId64 ", \"load_ms\": %" PRId64 ", "
		    "\"first_ping_ms\": %.3f, \"reserve_all_ms\": %.3f, \"reserve_all_held\": %s, "
		    "\"pings_after\": %" PRIu64 ", \"after_p50_ms\": %.3f, \"after_p99_ms\": %.3f, "
		    "\"after_max_ms\": %.3f", r->name, O.holds, r->due_ms, r->load_ms, r->first_ns / ms,
		    r->reserve_ns / ms, r->reserve_held ? "true" : "false", r->after.total,
		    hist_percentile(&r->after, 50) / ms, hist_percentile(&r->after, 99) / ms, r->after.max / ms);
		if (r->during.total)
			printf(", \"during_p99_ms\": %.3f, \"during_max_ms\": %.3f", hist_percentile(&r->during, 99) / ms,
			    r->during.max / ms);
		printf(", \"loop_busy_max_load_ms\": %.3f, \"loop_busy_max_ms\": %.3f}\n", r->busy_load_us / 1e3,
		    r->busy_us / 1e3);
		return;
	}
	printf("%s: %ld holds due over %" PRId64 " ms (loaded in %" PRId64 " ms)\n", r->name, O.holds, r->due_ms,
	    r->load_ms);
	printf("  first ping %s      %8.3f ms\n", strcmp(r->name, "paused") ? "after the deadlines" : "after SIGCONT",
	    r->first_ns / ms);
	printf("  reserve of all %ld units    %8.3f ms (%s)\n", O.holds, r->reserve_ns / ms,
	    r->reserve_held ? "held" : "REFUSED");
	printf("  %" PRIu64 " pings after: p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", r->after.total,
	    hist_percentile(&r->after, 50) / ms, hist_percentile(&r->after, 99) / ms, r->after.max / ms);
	if (r->during.total)
		printf("  %" PRIu64 " pings while falling due: p99 %.3f ms, max %.3f ms\n", r->during.total,
		    hist_percentile(&r->during, 99) / ms, r->during.max / ms);
	/* A ping's time includes the machine's scheduling of both processes;
	 * allotd's own longest turn tells its stalls apart. */
	if (r->busy_us > r->busy_load_us)
		printf("  allotd's longest loop turn: %.3f ms (loading: %.3f ms)\n", r->busy_us / 1e3,
		    r->busy_load_us / 1e3);
	else
		printf("  allotd's longest loop turn: %.3f ms, while loading; none as long after\n",
		    r->busy_load_us / 1e3);
}

static long number(const char *opt, const char *v, long lo, long hi)
{
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno || *end || n < lo || n > hi) {
		fprintf(stderr, "expiry-storm: %s: expected %ld to %ld, got '%s'\n", opt, lo, hi, v);
		exit(2);
	}
	return n;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "allotd", required_argument, NULL, 'a' }, { "holds", required_argument, NULL, 'n' },
		{ "window-ms", required_argument, NULL, 'w' }, { "lead-ms", required_argument, NULL, 'l' },
		{ "after-ms", required_argument, NULL, 'A' }, { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	O.allotd = getenv("ALLOTD") ? getenv("ALLOTD") : "build/engine/allotd";
	int ch;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'a': O.allotd = optarg; break;
		case 'n': O.holds = number("--holds", optarg, 1, 10000000); break;
		case 'w': O.window_ms = number("--window-ms", optarg, 0, 60000); break;
		case 'l': O.lead_ms = number("--lead-ms", optarg, 100, 600000); break;
		case 'A': O.after_ms = number("--after-ms", optarg, 0, 600000); break;
		case 'j': O.json = true; break;
		case 'h':
			printf("usage: expiry-storm [--allotd PATH] [--holds N] [--window-ms W] [--lead-ms L] "
			    "[--after-ms A] [--json]\n");
			return 0;
		default:
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	result r;
	int status = 0;
	for (int paused = 0; paused < 2; paused++) {
		scenario(&r, paused);
		print(&r);
		fflush(stdout);
		if (!r.reserve_held)
			status = 1;
	}
	return status;
}
