/*
 * allot-bench - a load generator for allotd (MessagePack-RPC) and, with the
 * same connection machinery, for Redis (RESP), so that both are measured by
 * one client.
 *
 * This file holds the options and main: it reads the command line, sets up
 * the workers (each with its own libuv loop and its share of the
 * connections), runs them (bench_run.c) and prints the report
 * (bench_report.c). bench.h lists the other parts.
 */
#include "bench.h"
#include "bench_cpu.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const bench_wl_names[WL_COUNT] = {
	[WL_FLASH] = "flash",
	[WL_CHECKOUT] = "checkout",
	[WL_AVAIL] = "avail",
	[WL_HOLD] = "hold",
	[WL_REDIS_CMD] = "redis-cmd",
	[WL_REDIS_LUA] = "redis-lua",
	[WL_REDIS_LUA_LINES] = "redis-lua-lines",
};

/* The strategies of reserve (proto/PROTOCOL.md), as --strategy takes them. */
static const char *const strategy_names[] = { "priority", "nearest", "cheapest", "most_stock" };

bench_options bench_opt = {
	.host = ALLOT_DEFAULT_HOST,
	.port = ALLOT_DEFAULT_PORT,
	.conns = 50,
	.pipeline = 1,
	.threads = 1,
	.duration = 10.0,
	.wl = WL_FLASH,
	.skus = 1000,
	.locations = LOCATIONS_DEFAULT,
	.seed = 1,
	.zipf_s = 1.0,
	.ttl_ms = HOLD_TTL_MS,
	.setup = true,
};

struct sockaddr_storage bench_addr;
worker *bench_workers;

/* ------------------------------------------------------------------------
 * Small helpers
 * --------------------------------------------------------------------- */

void bench_die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("allot-bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

void *bench_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		bench_die("out of memory");
	return p;
}

void *bench_xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);
	if (!p)
		bench_die("out of memory");
	return p;
}

/* ------------------------------------------------------------------------
 * Options
 * --------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
	    "usage: allot-bench [options]\n"
	    "\n"
	    "Load generator for allotd (MessagePack-RPC) and Redis (RESP). Loads stock,\n"
	    "runs a bounded timed phase, and reports throughput and latency percentiles\n"
	    "from a log-linear histogram of every request (no sampling).\n"
	    "\n"
	    "Target\n"
	    "  --host HOST          server address (default %s)\n"
	    "  --port PORT          server port (default %d)\n"
	    "\n"
	    "Load\n"
	    "  --connections C      TCP connections (default 50)\n"
	    "  --pipeline D         closed loop: requests in flight per connection (default 1)\n"
	    "  --rate R             open loop: R requests/s in all, spread evenly over the\n"
	    "                       connections, each sending on its own schedule whatever\n"
	    "                       the replies; latency counts from the scheduled time\n"
	    "                       (queueing included, as wrk2; sends go out on a 1 ms\n"
	    "                       tick, and one sent early is timed from its send).\n"
	    "                       Sends due on a connection that is down (or not yet\n"
	    "                       up, with --storm) are counted as errors, UNSENT.\n"
	    "                       --pipeline is then unused\n"
	    "  --requests N         stop after N measured requests\n"
	    "  --duration S         stop after S seconds (default 10 unless only --requests\n"
	    "                       is given; with both, whichever ends first; the timed\n"
	    "                       phase never exceeds 600 s)\n"
	    "  --warmup S           run S seconds first without recording (default 0); not\n"
	    "                       counted in --duration or --requests\n"
	    "  --threads T          T event loops, each with C/T connections (default 1)\n"
	    "  --storm              with --rate: the C connections open all at once at the\n"
	    "                       start of the timed phase, each then sending on its\n"
	    "                       schedule (a request waiting for its connection is timed\n"
	    "                       from when it was due). The client is warm first: %u\n"
	    "                       connections per thread load the stock, send %u requests\n"
	    "                       each and close (one stays idle to read the verdict's\n"
	    "                       stock after the run), and every storm connection's\n"
	    "                       socket and buffers are made before the start, so only\n"
	    "                       the server meets fresh connections. Not with --warmup\n"
	    "\n",
	    ALLOT_DEFAULT_HOST, ALLOT_DEFAULT_PORT, STORM_WARM_CONNS, STORM_WARM_REQUESTS);
	fprintf(f,
	    "Workload\n"
	    "  --workload W         flash, checkout, avail, hold, redis-cmd, redis-lua or\n"
	    "                       redis-lua-lines (default flash)\n"
	    "      flash      every request reserves 1 unit of flash-0 (L0), or with --lines N\n"
	    "                 1 unit of each of flash-0 .. flash-<N-1>, all or nothing; at\n"
	    "                 the end the successes must equal min(available at the start,\n"
	    "                 attempts) (min(S, attempts) on a fresh allotd), each sku's\n"
	    "                 reserved must have grown by the successes: zero oversell\n"
	    "      checkout   reserve 1-3 (or --lines) distinct Zipf-drawn skus (qty 1-2,\n"
	    "                 ttl 60 s), all or nothing, then commit (80%%) or release\n"
	    "                 (20%%) each held order as a separate request (in the open\n"
	    "                 loop it takes its connection's next slot)\n"
	    "      avail      avail of 10 Zipf-drawn skus\n"
	    "      hold       reserve 1 unit of one sku, the skus in turn, held for\n"
	    "                 --ttl-ms and never finished: fills allotd with live\n"
	    "                 one-line holds (loads --skus x --locations first)\n"
	    "      redis-cmd  the --redis-cmd command, sent to Redis over RESP\n"
	    "      redis-lua  the flash sale as the usual Redis Lua script (EVALSHA),\n"
	    "                 with the same verdict\n"
	    "      redis-lua-lines  checkout's orders (1-3 or --lines skus drawn the same\n"
	    "                 way, qty 1-2) as one Lua script (EVALSHA) that checks every\n"
	    "                 line's key stock:sku-<i>, then DECRBYs each and SETs a hold\n"
	    "                 key with EX 60, all or nothing; no commit or release. At the\n"
	    "                 end the keys must have gone down by exactly the units of\n"
	    "                 the held orders, none below zero\n"
	    "  --lines N            lines of every order, 1-%d: flash, checkout and\n"
	    "                       redis-lua-lines (at most --skus for the last two)\n"
	    "  --strategy S         send strategy S (priority, nearest, cheapest or\n"
	    "                       most_stock) on every reserve: flash, checkout, hold.\n"
	    "                       nearest and cheapest need --ship-to\n"
	    "  --ship-to LAT,LON    send ship_to {lat, lon} on every reserve; 'random' draws\n"
	    "                       one per order in the box lat %g..%g, lon %g..%g.\n"
	    "                       With --strategy or --ship-to the loading first puts\n"
	    "                       each location L<i> (location.put) in that box, at a\n"
	    "                       place drawn from --seed, with priority i, cost 1-%d\n"
	    "                       and cost_per_km %g (flash: L0 alone)\n"
	    "  --skus K             skus for checkout, avail, hold and redis-lua-lines\n"
	    "                       (default 1000)\n"
	    "  --locations L        locations per sku (default %d)\n"
	    "  --stock S            on_hand per record (default %d for flash and\n"
	    "                       redis-lua, %d for checkout, avail and hold);\n"
	    "                       redis-lua-lines: per stock key (default %d, what\n"
	    "                       checkout loads of a sku over %d locations)\n"
	    "  --ttl-ms N           how long the hold workload holds (default %lld,\n"
	    "                       allotd's default --ttl-max-ms)\n"
	    "  --zipf S             Zipf exponent of sku popularity, 0 for uniform (default 1.0)\n"
	    "  --seed N             random seed (default 1)\n"
	    "  --redis-cmd CMD      command for redis-cmd, split on spaces (default PING)\n"
	    "  --setup, --no-setup  load stock before the run, or use what is there\n"
	    "                       (default --setup)\n"
	    "\n",
	    LINES_MAX, GEO_LAT_MIN, GEO_LAT_MAX, GEO_LON_MIN, GEO_LON_MAX, GEO_COST_MAX,
	    GEO_COST_PER_KM, LOCATIONS_DEFAULT, STOCK_FLASH_DEFAULT, STOCK_DEFAULT,
	    STOCK_LUA_LINES_DEFAULT, LOCATIONS_DEFAULT, HOLD_TTL_MS);
	fputs("Output\n"
	    "  --json               also print the results as one JSON object, last line\n"
	    "  --token TOKEN        send auth {token} first on every allotd connection\n"
	    "                       (default: ALLOT_TOKEN from the environment, if set)\n"
	    "  --cpu-pid PID        also report the user and system CPU time process PID\n"
	    "                       (the server, the Redis of its journal) and the client\n"
	    "                       spent during the timed run; repeatable\n"
	    "  --help               print this and exit\n"
	    "\n"
	    "Exit status: 0 done, 1 the verdict (flash, redis-lua, redis-lua-lines)\n"
	    "failed, 2 usage, connection or setup failure.\n", f);
}

static uint64_t opt_u64(const char *flag, const char *s, uint64_t lo, uint64_t hi)
{
	char *end;
	errno = 0;
	if (*s == '-')
		bench_die("--%s: expected a whole number from %" PRIu64 " to %" PRIu64 ", got '%s'",
		    flag, lo, hi, s);
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < lo || v > hi)
		bench_die("--%s: expected a whole number from %" PRIu64 " to %" PRIu64 ", got '%s'",
		    flag, lo, hi, s);
	return v;
}

static double opt_double(const char *flag, const char *s, double lo, double hi)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end != '\0' || !(v >= lo && v <= hi))
		bench_die("--%s: expected a number from %g to %g, got '%s'", flag, lo, hi, s);
	return v;
}

static const char *opt_strategy(const char *s)
{
	for (size_t i = 0; i < sizeof strategy_names / sizeof strategy_names[0]; i++)
		if (strcmp(s, strategy_names[i]) == 0)
			return strategy_names[i];
	bench_die("--strategy: expected priority, nearest, cheapest or most_stock, got '%s'", s);
}

/* --ship-to LAT,LON or random. */
static void opt_ship_to(const char *s)
{
	if (strcmp(s, "random") == 0) {
		bench_opt.ship_to = SHIP_RANDOM;
		return;
	}
	char *end;
	errno = 0;
	double lat = strtod(s, &end);
	bool ok = !errno && end != s && *end == ',';
	const char *lon_s = ok ? end + 1 : s;
	double lon = ok ? strtod(lon_s, &end) : 0.0;
	ok = ok && !errno && end != lon_s && *end == '\0';
	if (!ok || !(lat >= -90.0 && lat <= 90.0) || !(lon >= -180.0 && lon <= 180.0))
		bench_die("--ship-to: expected LAT,LON (-90..90, -180..180) or random, got '%s'", s);
	bench_opt.ship_to = SHIP_FIXED;
	bench_opt.ship_lat = lat;
	bench_opt.ship_lon = lon;
}

enum {
	OPT_HOST = 256, OPT_PORT, OPT_CONNS, OPT_PIPELINE, OPT_REQUESTS, OPT_DURATION,
	OPT_RATE, OPT_WORKLOAD, OPT_SKUS, OPT_LOCATIONS, OPT_STOCK, OPT_SEED, OPT_JSON,
	OPT_WARMUP, OPT_CPU_PID, OPT_TOKEN, OPT_SETUP, OPT_NO_SETUP, OPT_THREADS, OPT_REDIS_CMD, OPT_ZIPF, OPT_TTL_MS,
	OPT_LINES, OPT_STRATEGY, OPT_SHIP_TO, OPT_STORM, OPT_HELP,
};

/* The options that go only with some workloads or with each other. */
static void check_combinations(void)
{
	enum workload wl = bench_opt.wl;
	bool reserves = wl == WL_FLASH || wl == WL_CHECKOUT || wl == WL_HOLD;
	if (bench_opt.lines && wl != WL_FLASH && wl != WL_CHECKOUT && wl != WL_REDIS_LUA_LINES)
		bench_die("--lines goes with --workload flash, checkout or redis-lua-lines");
	if (bench_opt.lines > bench_opt.skus && (wl == WL_CHECKOUT || wl == WL_REDIS_LUA_LINES))
		bench_die("--lines %u is more than --skus %u: an order names distinct skus",
		    bench_opt.lines, bench_opt.skus);
	if ((bench_opt.strategy || bench_opt.ship_to != SHIP_NONE) && !reserves)
		bench_die("--strategy and --ship-to go with --workload flash, checkout or hold");
	if (bench_opt.strategy && bench_opt.ship_to == SHIP_NONE &&
	    (strcmp(bench_opt.strategy, "nearest") == 0 || strcmp(bench_opt.strategy, "cheapest") == 0))
		bench_die("--strategy %s needs --ship-to (allotd answers BAD_REQUEST without ship_to)",
		    bench_opt.strategy);
	if (bench_opt.storm && bench_opt.rate == 0.0)
		bench_die("--storm needs --rate: its connections send on the open loop's schedule");
	if (bench_opt.storm && bench_opt.warmup > 0.0)
		bench_die("--storm warms the client on connections of its own; --warmup does not go with it");
}

/* Once every option is read: check how they go together and fill in the
 * defaults that depend on others. */
static void settle_options(void)
{
	if (bench_opt.threads > bench_opt.conns)
		bench_die("--threads %u is more than --connections %u", bench_opt.threads, bench_opt.conns);
	if (bench_opt.redis_cmd && bench_opt.wl != WL_REDIS_CMD)
		bench_die("--redis-cmd goes with --workload redis-cmd");
	if (!bench_opt.redis_cmd)
		bench_opt.redis_cmd = "PING";
	check_combinations();
	if (!bench_opt.have_stock)
		bench_opt.stock = (bench_opt.wl == WL_FLASH || bench_opt.wl == WL_REDIS_LUA) ? STOCK_FLASH_DEFAULT :
		    bench_opt.wl == WL_REDIS_LUA_LINES ? STOCK_LUA_LINES_DEFAULT : STOCK_DEFAULT;
	bench_opt.redis = bench_opt.wl == WL_REDIS_CMD || bench_opt.wl == WL_REDIS_LUA ||
	    bench_opt.wl == WL_REDIS_LUA_LINES;
	bench_opt.routing = bench_opt.strategy != NULL || bench_opt.ship_to != SHIP_NONE;
	/* bounded always: --requests alone runs up to the 600 s cap */
	if (bench_opt.have_requests && !bench_opt.have_duration)
		bench_opt.duration = RUN_CAP_S;
	else
		bench_opt.have_duration = true;
	if (bench_opt.warmup + bench_opt.duration > RUN_CAP_S)
		bench_opt.duration = RUN_CAP_S - bench_opt.warmup > 0.001 ? RUN_CAP_S - bench_opt.warmup : 0.001;
}

static void parse_options(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"host", required_argument, NULL, OPT_HOST},
		{"port", required_argument, NULL, OPT_PORT},
		{"connections", required_argument, NULL, OPT_CONNS},
		{"pipeline", required_argument, NULL, OPT_PIPELINE},
		{"requests", required_argument, NULL, OPT_REQUESTS},
		{"duration", required_argument, NULL, OPT_DURATION},
		{"rate", required_argument, NULL, OPT_RATE},
		{"workload", required_argument, NULL, OPT_WORKLOAD},
		{"skus", required_argument, NULL, OPT_SKUS},
		{"locations", required_argument, NULL, OPT_LOCATIONS},
		{"stock", required_argument, NULL, OPT_STOCK},
		{"seed", required_argument, NULL, OPT_SEED},
		{"json", no_argument, NULL, OPT_JSON},
		{"warmup", required_argument, NULL, OPT_WARMUP},
		{"cpu-pid", required_argument, NULL, OPT_CPU_PID},
		{"token", required_argument, NULL, OPT_TOKEN},
		{"setup", no_argument, NULL, OPT_SETUP},
		{"no-setup", no_argument, NULL, OPT_NO_SETUP},
		{"threads", required_argument, NULL, OPT_THREADS},
		{"redis-cmd", required_argument, NULL, OPT_REDIS_CMD},
		{"zipf", required_argument, NULL, OPT_ZIPF},
		{"ttl-ms", required_argument, NULL, OPT_TTL_MS},
		{"lines", required_argument, NULL, OPT_LINES},
		{"strategy", required_argument, NULL, OPT_STRATEGY},
		{"ship-to", required_argument, NULL, OPT_SHIP_TO},
		{"storm", no_argument, NULL, OPT_STORM},
		{"help", no_argument, NULL, OPT_HELP},
		{NULL, 0, NULL, 0},
	};
	int ch;
	opterr = 0;
	const char *env_token = getenv("ALLOT_TOKEN");
	if (env_token && *env_token)
		bench_opt.token = env_token;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_HOST:
			bench_opt.host = optarg;
			break;
		case OPT_PORT:
			bench_opt.port = (int)opt_u64("port", optarg, 1, 65535);
			break;
		case OPT_CONNS:
			bench_opt.conns = (uint32_t)opt_u64("connections", optarg, 1, CONNECTIONS_MAX);
			break;
		case OPT_PIPELINE:
			bench_opt.pipeline = (uint32_t)opt_u64("pipeline", optarg, 1, 65536);
			break;
		case OPT_REQUESTS:
			bench_opt.requests = opt_u64("requests", optarg, 1, UINT64_MAX / 2);
			bench_opt.have_requests = true;
			break;
		case OPT_DURATION:
			bench_opt.duration = opt_double("duration", optarg, 0.001, RUN_CAP_S);
			bench_opt.have_duration = true;
			break;
		case OPT_RATE:
			bench_opt.rate = opt_double("rate", optarg, 0.001, 1e9);
			break;
		case OPT_WORKLOAD: {
			bool found = false;
			for (int i = 0; i < WL_COUNT; i++) {
				if (strcmp(optarg, bench_wl_names[i]) == 0) {
					bench_opt.wl = (enum workload)i;
					found = true;
				}
			}
			if (!found)
				bench_die("--workload: expected flash, checkout, avail, hold, redis-cmd, "
				    "redis-lua or redis-lua-lines, got '%s'", optarg);
			break;
		}
		case OPT_SKUS:
			bench_opt.skus = (uint32_t)opt_u64("skus", optarg, 1, SKUS_MAX);
			break;
		case OPT_LOCATIONS:
			bench_opt.locations = (uint32_t)opt_u64("locations", optarg, 1, LOCATIONS_MAX);
			break;
		case OPT_STOCK:
			bench_opt.stock = (int64_t)opt_u64("stock", optarg, 0, (uint64_t)ALLOT_QTY_MAX);
			bench_opt.have_stock = true;
			break;
		case OPT_SEED:
			bench_opt.seed = opt_u64("seed", optarg, 0, UINT64_MAX);
			break;
		case OPT_JSON:
			bench_opt.json = true;
			break;
		case OPT_WARMUP:
			bench_opt.warmup = opt_double("warmup", optarg, 0.0, RUN_CAP_S);
			break;
		case OPT_TOKEN:
			bench_opt.token = optarg;
			break;
		case OPT_CPU_PID:
			if (bench_cpu_watch((int)opt_u64("cpu-pid", optarg, 1, INT32_MAX)) != 0)
				bench_die("--cpu-pid: at most %d processes", BENCH_CPU_PIDS_MAX);
			break;
		case OPT_SETUP:
			bench_opt.setup = true;
			break;
		case OPT_NO_SETUP:
			bench_opt.setup = false;
			break;
		case OPT_THREADS:
			bench_opt.threads = (uint32_t)opt_u64("threads", optarg, 1, THREADS_MAX);
			break;
		case OPT_REDIS_CMD:
			bench_opt.redis_cmd = optarg;
			break;
		case OPT_ZIPF:
			bench_opt.zipf_s = opt_double("zipf", optarg, 0.0, 10.0);
			break;
		case OPT_TTL_MS:
			bench_opt.ttl_ms = opt_u64("ttl-ms", optarg, 1, (uint64_t)INT64_MAX);
			break;
		case OPT_LINES:
			bench_opt.lines = (uint32_t)opt_u64("lines", optarg, 1, LINES_MAX);
			break;
		case OPT_STRATEGY:
			bench_opt.strategy = opt_strategy(optarg);
			break;
		case OPT_SHIP_TO:
			opt_ship_to(optarg);
			break;
		case OPT_STORM:
			bench_opt.storm = true;
			break;
		case OPT_HELP:
			usage(stdout);
			exit(0);
		default:
			fprintf(stderr, "allot-bench: unknown or incomplete option '%s'\n",
			    argv[optind - 1]);
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc)
		bench_die("unexpected argument '%s' (see --help)", argv[optind]);
	settle_options();
}

static void resolve_host(void)
{
	struct addrinfo hints, *res = NULL;
	char port[16];
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof port, "%d", bench_opt.port);
	int rc = getaddrinfo(bench_opt.host, port, &hints, &res);
	if (rc != 0 || !res)
		bench_die("--host %s: %s", bench_opt.host, gai_strerror(rc));
	/* prefer IPv4: "localhost" may list ::1 first, and allotd binds 127.0.0.1 */
	const struct addrinfo *pick = res;
	for (const struct addrinfo *a = res; a; a = a->ai_next) {
		if (a->ai_family == AF_INET) {
			pick = a;
			break;
		}
	}
	memcpy(&bench_addr, pick->ai_addr, pick->ai_addrlen);
	freeaddrinfo(res);
}

/* ------------------------------------------------------------------------
 * Main
 * --------------------------------------------------------------------- */

/* Worker t's share of the connections and of --requests. */
static void worker_init(worker *w, uint32_t t, uint32_t first, uint32_t last)
{
	w->idx = t;
	w->nconns = last - first;
	if (uv_loop_init(&w->loop) != 0)
		bench_die("uv_loop_init failed");
	uv_timer_init(&w->loop, &w->tick);
	uv_timer_init(&w->loop, &w->timer);
	w->tick.data = w;
	w->timer.data = w;
	hist_init(&w->h);
	if (bench_opt.have_requests) {
		uint64_t q = bench_opt.requests / bench_opt.conns, rem = bench_opt.requests % bench_opt.conns;
		uint64_t hi = q * last + rem * last / bench_opt.conns;
		uint64_t lo = q * first + rem * first / bench_opt.conns;
		w->budget = hi - lo;
	} else {
		w->budget = UINT64_MAX;
	}
	w->conns = bench_xcalloc(w->nconns, sizeof *w->conns);
	for (uint32_t i = 0; i < w->nconns; i++)
		conn_init(&w->conns[i], w, first + i);
	w->lead = &w->conns[0];
	if (bench_opt.storm)
		storm_init(w, t);
}

/* Setup failures end it here; otherwise say what was loaded. */
static void check_setup(void)
{
	bool failed = bench_probes.abort;
	uint64_t loaded = 0, setup_ns = 0;
	for (uint32_t t = 0; t < bench_opt.threads; t++) {
		worker *w = &bench_workers[t];
		loaded += w->setup_items;
		if (w->setup_t1 - w->setup_t0 > setup_ns)
			setup_ns = w->setup_t1 - w->setup_t0;
		if (w->setup_errors)
			fprintf(stderr, "allot-bench: loading failed: %" PRIu64 " errors, first: %s\n",
			    w->setup_errors, w->setup_err);
		failed |= w->failed;
	}
	if (failed)
		bench_die("gave up before the run");
	if (bench_setup_items)
		fprintf(stderr, "allot-bench: loaded %" PRIu64 " record%s in %.1f ms over %u connections\n",
		    loaded, loaded == 1 ? "" : "s", (double)setup_ns / 1e6, bench_setup_stride);
}

int main(int argc, char **argv)
{
	parse_options(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	resolve_host();
	wl_prepare();
	bench_setup_stride = bench_opt.storm ? bench_opt.threads * STORM_WARM_CONNS : bench_opt.conns;

	bench_workers = bench_xcalloc(bench_opt.threads, sizeof *bench_workers);
	uint32_t first = 0;
	for (uint32_t t = 0; t < bench_opt.threads; t++) {
		uint32_t last = (uint32_t)(((uint64_t)bench_opt.conns * (t + 1)) / bench_opt.threads);
		worker_init(&bench_workers[t], t, first, last);
		first = last;
	}

	run_workers();
	check_setup();
	int status = report_print();

	for (uint32_t t = 0; t < bench_opt.threads; t++) {
		worker *w = &bench_workers[t];
		for (uint32_t i = 0; i < w->nconns; i++)
			conn_finish(&w->conns[i]);
		for (uint32_t i = 0; i < w->nwarm; i++)
			conn_finish(&w->warm[i]);
		free(w->conns);
		free(w->warm);
	}
	free(bench_workers);
	wl_free();
	return status;
}
