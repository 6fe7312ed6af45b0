/*
 * main.c - allotd: flags, resource limits, the core, and the server.
 */
#include "clock.h"
#include "auth.h"
#include "config.h"
#include "core.h"
#include "http.h"
#include "iothread.h"
#include "listener.h"
#include "log.h"
#include "persist.h"
#include "server.h"

#include <allot/protocol.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/*
 * jemalloc backs the heap with transparent huge pages where the kernel
 * allows them (Debian: "madvise"): a snapshot's fork() then copies a page
 * table entry per 2 MiB rather than per 4 KiB, which keeps its stall of
 * the loop short with millions of holds in memory.
 */
const char *malloc_conf = "thp:always";

static void usage(FILE *f)
{
	/* Every default printed comes from where it is set. */
	core_config cc;
	persist_config pc;
	core_config_default(&cc);
	persist_config_default(&pc);
	fprintf(f,
	    "usage: allotd [options]\n"
	    "\n"
	    "allot's engine: holds inventory and reservations in memory and answers\n"
	    "MessagePack-RPC over TCP (see proto/PROTOCOL.md).\n"
	    "\n"
	    "  --bind ADDR              address to listen on (default %s); an address\n"
	    "                           other than loopback needs --auth-file or --no-auth\n"
	    "  --port PORT              TCP port, 0 for any free one (default %d)\n"
	    "  --unix PATH              also serve on a Unix socket at PATH (mode 0660)\n"
	    "  --log-level LEVEL        error, warn, info or debug (default info)\n"
	    "  --max-connections N      open connections at once (default %d)\n"
	    "  --frame-bytes-max N      bytes in one request (default %u)\n"
	    "  --output-bytes-max N     unread reply bytes per connection before it is\n"
	    "                           cut off (default %u)\n"
	    "  --lines-max N            lines per order (default %u)\n"
	    "  --avail-skus-max N       skus per avail call (default %d)\n"
	    "  --ttl-default-ms N       hold time when reserve gives no ttl_ms (default %lld)\n"
	    "  --ttl-max-ms N           longest hold (default %lld)\n"
	    "  --retain-ms N            how long finished reservations stay readable\n"
	    "                           (default %lld)\n"
	    "  --reservations-max N     reservations kept, live and finished (default %u)\n"
	    "  --skus-max N             distinct skus (default %u)\n"
	    "\n"
	    "Access and fair service (see SECURITY.md):\n"
	    "  --auth-file PATH         tokens, one 'NAME ROLE SHA256HEX' a line (allot\n"
	    "                           token new prints one); read again on SIGHUP\n"
	    "  --no-auth                serve a non-loopback --bind without tokens, on\n"
	    "                           purpose\n"
	    "  --frames-per-turn N      requests one connection may have handled per loop\n"
	    "                           turn before the others' (default %d)\n"
	    "  --idle-timeout-s N       close connections silent that long, 0 for never\n"
	    "                           (default %d)\n"
	    "  --frame-timeout-ms N     close a connection whose request is not whole\n"
	    "                           that long after it began, 0 for never (default %d)\n"
	    "  --io-threads N           a prototype: N threads (up to %d) do the sockets'\n"
	    "                           work and hand frames to the one loop, 0 for off\n"
	    "                           (default 0); durability none only, no --auth-file,\n"
	    "                           --unix or --metrics (bench/README.md)\n"
	    "\n"
	    "Operations over HTTP (see README.md):\n"
	    "  --metrics ADDR:PORT      serve GET /metrics (Prometheus), /healthz and the\n"
	    "                           operations page at / (default off)\n"
	    "\n"
	    "Durability (see README.md):\n"
	    "  --redis URL              redis://[:password@]host:port[/db] holding the\n"
	    "                           journal and snapshots\n"
	    "  --namespace NS           keys under allot:{NS}: (default \"%s\")\n"
	    "  --durability MODE        sync (default with --redis): replies wait for\n"
	    "                           Redis; async: replies at once; none (default\n"
	    "                           without --redis): memory only\n"
	    "  --snapshot-interval-s N  snapshot every N seconds, 0 for never (default %u)\n"
	    "  --snapshot-every-records N\n"
	    "                           snapshot after N journal records, 0 for never\n"
	    "                           (default %llu)\n"
	    "\n"
	    "Events (see README.md):\n"
	    "  --subscriber-bytes-max N events unsent to a subscriber before it is cut\n"
	    "                           off (default %u)\n"
	    "  --events-keep N          with --redis, events kept in the event stream\n"
	    "                           allot:{NS}:events (about; default %llu), 0 for no\n"
	    "                           stream\n"
	    "\n"
	    "History (see README.md):\n"
	    "  --journal-keep-ms N      keep the journal's history this long beyond the\n"
	    "                           snapshot that covers it (default %llu)\n"
	    "  --journal-keep-bytes N   ... and at most N journal bytes (default %llu)\n"
	    "  --config FILE            read flags from FILE, 'key = value' a line, keys the\n"
	    "                           long flags without dashes; flags given here win\n"
	    "  --check-config           check the flags and FILE, then exit (0 or 2)\n"
	    "  --help                   print this and exit\n"
	    "  --version                print the version and exit\n",
	    ALLOT_DEFAULT_HOST, ALLOT_DEFAULT_PORT, ALLOT_DEFAULT_MAX_CONNECTIONS,
	    ALLOT_DEFAULT_FRAME_BYTES_MAX, ALLOT_DEFAULT_OUTPUT_BYTES_MAX,
	    cc.lines_max, ALLOT_DEFAULT_AVAIL_SKUS_MAX,
	    (long long)cc.ttl_default_ms, (long long)cc.ttl_max_ms, (long long)cc.retain_ms,
	    cc.reservations_max, cc.skus_max, ALLOT_DEFAULT_FRAMES_PER_TURN,
	    ALLOT_DEFAULT_IDLE_TIMEOUT_S, ALLOT_DEFAULT_FRAME_TIMEOUT_MS, IOTHREAD_MAX, pc.ns,
	    pc.snapshot_interval_s, (unsigned long long)pc.snapshot_every_records,
	    ALLOT_DEFAULT_SUBSCRIBER_BYTES_MAX, (unsigned long long)pc.events_keep,
	    (unsigned long long)pc.journal_keep_ms, (unsigned long long)pc.journal_keep_bytes);
}

/* A whole decimal number within [lo, hi], or exit 2 naming the flag. */
static int64_t parse_num(const char *flag, const char *s, int64_t lo, int64_t hi)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "allotd: --%s: expected a whole number from %lld to %lld, got '%s'\n",
		    flag, (long long)lo, (long long)hi, s);
		exit(2);
	}
	return v;
}

enum {
	OPT_BIND = 256, OPT_PORT, OPT_LOG_LEVEL, OPT_MAX_CONNECTIONS, OPT_FRAME_BYTES_MAX,
	OPT_OUTPUT_BYTES_MAX, OPT_LINES_MAX, OPT_AVAIL_SKUS_MAX, OPT_TTL_DEFAULT_MS,
	OPT_TTL_MAX_MS, OPT_RETAIN_MS, OPT_RESERVATIONS_MAX, OPT_SKUS_MAX, OPT_REDIS, OPT_NAMESPACE,
	OPT_DURABILITY, OPT_SNAPSHOT_INTERVAL_S, OPT_SNAPSHOT_EVERY_RECORDS, OPT_AUTH_FILE, OPT_NO_AUTH,
	OPT_UNIX, OPT_FRAMES_PER_TURN, OPT_IDLE_TIMEOUT_S, OPT_FRAME_TIMEOUT_MS,
	OPT_METRICS, OPT_SUBSCRIBER_BYTES_MAX, OPT_EVENTS_KEEP,
	OPT_JOURNAL_KEEP_MS, OPT_JOURNAL_KEEP_BYTES,
	OPT_IO_THREADS,
	OPT_HELP, OPT_VERSION,
};

static const struct option options[] = {
	{ "bind", required_argument, NULL, OPT_BIND },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS },
	{ "frame-bytes-max", required_argument, NULL, OPT_FRAME_BYTES_MAX },
	{ "output-bytes-max", required_argument, NULL, OPT_OUTPUT_BYTES_MAX },
	{ "lines-max", required_argument, NULL, OPT_LINES_MAX },
	{ "avail-skus-max", required_argument, NULL, OPT_AVAIL_SKUS_MAX },
	{ "ttl-default-ms", required_argument, NULL, OPT_TTL_DEFAULT_MS },
	{ "ttl-max-ms", required_argument, NULL, OPT_TTL_MAX_MS },
	{ "retain-ms", required_argument, NULL, OPT_RETAIN_MS },
	{ "reservations-max", required_argument, NULL, OPT_RESERVATIONS_MAX },
	{ "skus-max", required_argument, NULL, OPT_SKUS_MAX },
	{ "redis", required_argument, NULL, OPT_REDIS },
	{ "namespace", required_argument, NULL, OPT_NAMESPACE },
	{ "durability", required_argument, NULL, OPT_DURABILITY },
	{ "snapshot-interval-s", required_argument, NULL, OPT_SNAPSHOT_INTERVAL_S },
	{ "snapshot-every-records", required_argument, NULL, OPT_SNAPSHOT_EVERY_RECORDS },
	{ "auth-file", required_argument, NULL, OPT_AUTH_FILE },
	{ "no-auth", no_argument, NULL, OPT_NO_AUTH },
	{ "unix", required_argument, NULL, OPT_UNIX },
	{ "frames-per-turn", required_argument, NULL, OPT_FRAMES_PER_TURN },
	{ "idle-timeout-s", required_argument, NULL, OPT_IDLE_TIMEOUT_S },
	{ "frame-timeout-ms", required_argument, NULL, OPT_FRAME_TIMEOUT_MS },
	{ "metrics", required_argument, NULL, OPT_METRICS },
	{ "subscriber-bytes-max", required_argument, NULL, OPT_SUBSCRIBER_BYTES_MAX },
	{ "events-keep", required_argument, NULL, OPT_EVENTS_KEEP },
	{ "journal-keep-ms", required_argument, NULL, OPT_JOURNAL_KEEP_MS },
	{ "journal-keep-bytes", required_argument, NULL, OPT_JOURNAL_KEEP_BYTES },
	{ "io-threads", required_argument, NULL, OPT_IO_THREADS },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

/*
 * Protected mode: without tokens, anyone who can reach the port may change
 * stock, so allotd serves only loopback (and its Unix socket) unless told
 * --no-auth. Then the tokens, read now so that a bad file stops the start
 * with its line number.
 */
static void settle_access(server_config *srv, bool no_auth)
{
	if (srv->auth_file && no_auth) {
		fprintf(stderr, "allotd: --auth-file and --no-auth contradict each other; give one\n");
		exit(2);
	}
	if (srv->auth_file == NULL && !no_auth && !listener_is_loopback(srv->bind)) {
		fprintf(stderr,
		    "allotd: refusing to serve --bind %s without tokens: anyone who can reach it could\n"
		    "change stock. Make a token with `allot token new NAME ROLE`, put the line it prints\n"
		    "in a file and start with --auth-file FILE (clients then call auth, or allot --token);\n"
		    "or give --no-auth to serve this address without tokens on purpose. See SECURITY.md.\n",
		    srv->bind);
		exit(2);
	}
	/* The HTTP port shows the figures, not the means to change them, but
	 * they are the business's: the same rule holds for it. */
	char maddr[128];
	int mport;
	if (srv->auth_file == NULL && !no_auth && srv->metrics_listen &&
	    http_parse_listen(srv->metrics_listen, maddr, sizeof(maddr), &mport) == 0 &&
	    !listener_is_loopback(maddr)) {
		fprintf(stderr, "allotd: refusing to serve --metrics %s without tokens; give --auth-file FILE, "
		    "or --no-auth to serve it without on purpose. See SECURITY.md.\n", srv->metrics_listen);
		exit(2);
	}
	if (srv->auth_file == NULL)
		return;
	char why[512];
	if (auth_set_load(srv->auth_file, &srv->auth, why, sizeof(why)) != 0) {
		fprintf(stderr, "allotd: --auth-file %s\n", why);
		exit(2);
	}
}

static void parse_flags(int argc, char **argv, server_config *srv, core_config *cc,
    persist_config *pc)
{
	int opt;
	const char *redis = NULL, *durability = NULL;
	bool no_auth = false;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		config_at(optind - 1);
		const char *name = opt >= OPT_BIND && opt <= OPT_VERSION ? options[opt - OPT_BIND].name : "";
		switch (opt) {
		case OPT_BIND: srv->bind = optarg; break;
		case OPT_PORT: srv->port = (int)parse_num(name, optarg, 0, 65535); break;
		case OPT_LOG_LEVEL: {
			int level = log_level_parse(optarg);
			if (level < 0) {
				fprintf(stderr, "allotd: --log-level: expected error, warn, info or debug, got '%s'\n", optarg);
				exit(2);
			}
			log_set_level((log_level)level);
			break;
		}
		case OPT_MAX_CONNECTIONS: srv->max_connections = (uint32_t)parse_num(name, optarg, 1, 1000000); break;
		case OPT_FRAME_BYTES_MAX: srv->frame.frame_bytes_max = (size_t)parse_num(name, optarg, 1024, 1 << 30); break;
		case OPT_OUTPUT_BYTES_MAX: srv->output_bytes_max = (size_t)parse_num(name, optarg, 65536, 1LL << 32); break;
		case OPT_LINES_MAX: cc->lines_max = (uint32_t)parse_num(name, optarg, 1, 10000); break;
		case OPT_AVAIL_SKUS_MAX: srv->avail_skus_max = (uint32_t)parse_num(name, optarg, 1, 100000); break;
		case OPT_TTL_DEFAULT_MS: cc->ttl_default_ms = parse_num(name, optarg, 1, INT32_MAX); break;
		case OPT_TTL_MAX_MS: cc->ttl_max_ms = parse_num(name, optarg, 1, 365LL * 86400000); break;
		case OPT_RETAIN_MS: cc->retain_ms = parse_num(name, optarg, 0, 30LL * 86400000); break;
		case OPT_RESERVATIONS_MAX: cc->reservations_max = (uint32_t)parse_num(name, optarg, 1, UINT32_MAX / 2); break;
		case OPT_SKUS_MAX: cc->skus_max = (uint32_t)parse_num(name, optarg, 1, UINT32_MAX / 2); break;
		case OPT_REDIS: redis = optarg; break;
		case OPT_NAMESPACE:
			if (!durable_namespace_valid(optarg)) {
				fprintf(stderr, "allotd: --namespace: 1 to %d of A-Z a-z 0-9 _ . -, got '%s'\n",
				    DURABLE_NAMESPACE_MAX, optarg);
				exit(2);
			}
			pc->ns = optarg;
			break;
		case OPT_DURABILITY: durability = optarg; break;
		case OPT_SNAPSHOT_INTERVAL_S: pc->snapshot_interval_s = (uint32_t)parse_num(name, optarg, 0, 86400 * 365); break;
		case OPT_SNAPSHOT_EVERY_RECORDS: pc->snapshot_every_records = (uint64_t)parse_num(name, optarg, 0, INT64_MAX); break;
		case OPT_AUTH_FILE: srv->auth_file = optarg; break;
		case OPT_NO_AUTH: no_auth = true; break;
		case OPT_UNIX: srv->unix_path = optarg; break;
		case OPT_FRAMES_PER_TURN: srv->frames_per_turn = (uint32_t)parse_num(name, optarg, 1, 1000000); break;
		case OPT_IDLE_TIMEOUT_S: srv->idle_timeout_s = (uint32_t)parse_num(name, optarg, 0, 86400 * 365); break;
		case OPT_FRAME_TIMEOUT_MS: srv->frame_timeout_ms = (uint32_t)parse_num(name, optarg, 0, 86400000); break;
		case OPT_METRICS: {
			char addr[128];
			int port;
			if (http_parse_listen(optarg, addr, sizeof(addr), &port) != 0) {
				fprintf(stderr, "allotd: --metrics: expected ADDR:PORT ([ADDR]:PORT for IPv6), got '%s'\n", optarg);
				exit(2);
			}
			srv->metrics_listen = optarg;
			break;
		}
		case OPT_SUBSCRIBER_BYTES_MAX: srv->subscriber_bytes_max = (size_t)parse_num(name, optarg, 4096, 1LL << 32); break;
		case OPT_EVENTS_KEEP: pc->events_keep = (uint64_t)parse_num(name, optarg, 0, INT64_MAX); break;
		case OPT_JOURNAL_KEEP_MS: pc->journal_keep_ms = (uint64_t)parse_num(name, optarg, 0, 3650LL * 86400000); break;
		case OPT_JOURNAL_KEEP_BYTES: pc->journal_keep_bytes = (uint64_t)parse_num(name, optarg, 0, INT64_MAX); break;
		case OPT_IO_THREADS: srv->io_threads = (uint32_t)parse_num(name, optarg, 0, IOTHREAD_MAX); break;
		case OPT_HELP: usage(stdout); exit(0);
		case OPT_VERSION: printf("allotd %s\n", ALLOT_VERSION); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	config_blame(NULL);
	if (optind < argc) {
		fprintf(stderr, "allotd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		exit(2);
	}
	config_blame("redis");
	if (redis) {
		const char *why;
		if (durable_url_parse(redis, &pc->url, &why) != 0) {
			fprintf(stderr, "allotd: --redis: %s\n", why);
			exit(2);
		}
	}
	config_blame("durability");
	if (durability == NULL)
		pc->mode = redis ? PERSIST_SYNC : PERSIST_NONE;
	else if (strcmp(durability, "sync") == 0)
		pc->mode = PERSIST_SYNC;
	else if (strcmp(durability, "async") == 0)
		pc->mode = PERSIST_ASYNC;
	else if (strcmp(durability, "none") == 0)
		pc->mode = PERSIST_NONE;
	else {
		fprintf(stderr, "allotd: --durability: expected sync, async or none, got '%s'\n", durability);
		exit(2);
	}
	if (pc->mode != PERSIST_NONE && redis == NULL) {
		fprintf(stderr, "allotd: --durability %s needs --redis URL\n", durability);
		exit(2);
	}
	config_blame("ttl-default-ms");
	if (cc->ttl_default_ms > cc->ttl_max_ms) {
		fprintf(stderr, "allotd: --ttl-default-ms must not exceed --ttl-max-ms\n");
		exit(2);
	}
	config_blame("auth-file");
	settle_access(srv, no_auth);
	config_blame("io-threads");
	char why[256];
	if (iothreads_check(srv, pc->mode, why, sizeof(why)) != 0) {
		fprintf(stderr, "allotd: %s\n", why);
		exit(2);
	}
	config_blame(NULL);
}

/* Each connection needs a descriptor: raise the soft limit, and lower
 * max_connections (with a warning) if the hard limit is too small. */
static void fit_descriptors(server_config *srv)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	rlim_t want = (rlim_t)srv->max_connections + 64;
	if (rl.rlim_cur < want) {
		rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < want) {
		uint32_t fit = rl.rlim_cur > 128 ? (uint32_t)(rl.rlim_cur - 64) : 64;
		log_warn("the descriptor limit is %llu: serving at most %u connections instead of %u",
		    (unsigned long long)rl.rlim_cur, fit, srv->max_connections);
		srv->max_connections = fit;
	}
}

int main(int argc, char **argv)
{
	server_config srv;
	core_config cc;
	persist_config pc;
	persist_state st = { 0 };
	server_config_default(&srv);
	persist_config_default(&pc);
	core_config_default(&cc);
	config_args args;
	config_load(argc, argv, options, &args);
	parse_flags(args.argc, args.argv, &srv, &cc, &pc);
	if (args.check_only) {
		printf("allotd: %s: the configuration is valid\n", args.path ? args.path : "flags");
		return 0;
	}
	if (getrandom(&cc.hash_seed, sizeof(cc.hash_seed), 0) != sizeof(cc.hash_seed))
		cc.hash_seed ^= (uint64_t)time(NULL);
	/* Reservation ids carry a random prefix per run, so an id from an
	 * earlier run (state lives in memory only) is not mistaken for a new
	 * one: two runs share a prefix with probability 2^-32. */
	if (getrandom(&cc.id_epoch, sizeof(cc.id_epoch), 0) != sizeof(cc.id_epoch))
		cc.id_epoch = (uint32_t)time(NULL) ^ (uint32_t)getpid() << 16;
	fit_descriptors(&srv);

	/* The engine's time from here on: the wall clock now, moved on by the
	 * monotonic clock, so a stepped wall clock neither freezes nor hastens
	 * expiry (clock.h). */
	clock_start(NULL);
	log_info("allotd %s starting", ALLOT_VERSION);
	if (srv.auth)
		log_info("access: %u tokens of %u names from %s", srv.auth->ntokens, srv.auth->nnames,
		    srv.auth_file);
	else
		log_info("access: no --auth-file: every connection may call every method");
	core *c = NULL;
	if (pc.mode == PERSIST_NONE) {
		c = core_create(&cc);
		if (c == NULL) {
			log_error("out of memory creating the core");
			return 1;
		}
		log_warn("durability none: state lives in memory only and a restart starts empty");
	} else {
		log_info("durability %s: journal and snapshots in Redis at %s:%d, namespace %s",
		    persist_mode_name(pc.mode), pc.url.host, pc.url.port, pc.ns);
		if (persist_recover(&pc, &cc, &c, &st) != 0)
			return 1;
	}
	int rc = server_run(&srv, c, pc.mode == PERSIST_NONE ? NULL : &pc, &st);
	persist_state_finish(&st);
	core_destroy(c);
	return rc;
}
