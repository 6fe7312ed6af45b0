/*
 * archive.c - `allot archive`: follow a namespace's journal in Redis and
 * copy it, and every new snapshot, into an archive directory (the format
 * is engine/store/archive.h's, described in docs/ARCHIVE.md).
 *
 *   allot archive --redis URL --dir DIR [--namespace NS] [--name NAME]
 *                 [--interval-ms N] [--once]
 *
 * It registers in Redis (allot:{NS}:archivers) with what it has copied and
 * a heartbeat, so that allotd trims nothing it has not copied; one silent
 * for longer than allotd's --journal-keep-ms is forgotten. Restartable: it
 * resumes from the archive's POSITION. Bounded: each round copies at most
 * ARCHIVE_ROUND_BATCHES batches before it beats and syncs.
 */
#include "archive_tool.h"

#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "archive.h"
#include "durable.h"
#include "store.h"

#define ARCHIVE_CONNECT_TIMEOUT_MS 5000
#define ARCHIVE_REPLY_TIMEOUT_MS 60000
#define ARCHIVE_DEFAULT_INTERVAL_MS 1000
/* Batches read per XRANGE, and copied per round between syncs. */
#define ARCHIVE_READ_BATCHES 100
#define ARCHIVE_ROUND_BATCHES 10000

typedef struct archive_opts {
	const char *url, *dir, *ns, *name;
	int interval_ms;
	bool once;
} archive_opts;

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void archive_usage(FILE *out)
{
	fprintf(out,
	    "usage: allot archive --redis URL --dir DIR [--namespace NS] [--name NAME]\n"
	    "                     [--interval-ms N] [--once]\n"
	    "\n"
	    "Follow the journal of namespace NS (default \"default\") in Redis and copy\n"
	    "it, and every new snapshot, into segment files under DIR (see\n"
	    "docs/ARCHIVE.md). Registers as NAME (default \"archive\") so that allotd\n"
	    "trims nothing not yet copied; resumes where it stopped. Polls every N ms\n"
	    "(default %d); --once stops when it has caught up.\n",
	    ARCHIVE_DEFAULT_INTERVAL_MS);
}

static int parse_args(int argc, char **argv, archive_opts *o)
{
	static const struct option longopts[] = {
		{ "redis", required_argument, NULL, 'r' }, { "dir", required_argument, NULL, 'd' },
		{ "namespace", required_argument, NULL, 'n' }, { "name", required_argument, NULL, 'N' },
		{ "interval-ms", required_argument, NULL, 'i' }, { "once", no_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	static char prog[] = "allot archive";
	*o = (archive_opts){ .ns = "default", .name = "archive",
		.interval_ms = ARCHIVE_DEFAULT_INTERVAL_MS };
	argv[0] = prog;
	optind = 0;
	int ch;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'r': o->url = optarg; break;
		case 'd': o->dir = optarg; break;
		case 'n': o->ns = optarg; break;
		case 'N': o->name = optarg; break;
		case 'i': o->interval_ms = atoi(optarg); break;
		case 'o': o->once = true; break;
		case 'h': archive_usage(stdout); exit(0);
		default: return -1;
		}
	}
	if (o->url == NULL || o->dir == NULL || optind < argc || o->interval_ms < 1 ||
	    !durable_namespace_valid(o->ns) || strlen(o->name) == 0 || strlen(o->name) > 64) {
		fprintf(stderr, "allot archive: give --redis URL and --dir DIR (and a valid namespace, "
		    "name and interval)\n");
		return -1;
	}
	return 0;
}

typedef struct follower {
	store *s;
	archive *a;
	const archive_opts *o;
	store_snap snaps[STORE_SNAPS_MAX];
	uint32_t nsnaps;
	uint64_t batches, records, snapshots;
} follower;

static int copy_chunk(void *ctx, const uint8_t *chunk, size_t len, uint64_t index, char *why,
    size_t why_len)
{
	return archive_snap_chunk(ctx, chunk, len, why, why_len);
}

static int copy_snapshot(follower *f, const store_snap *sn, char *why, size_t why_len)
{
	assert(sn->key[0] != '\0');
	if (archive_snap_begin(f->a, sn->lsn, sn->at_ms, why, why_len) != 0)
		return -1;
	if (store_read_chunks(f->s, sn->key, copy_chunk, f->a, why, why_len) != 0) {
		archive_snap_abort(f->a);
		return -1;
	}
	f->snapshots++;
	return archive_snap_end(f->a, why, why_len);
}

/* A new archive starts where Redis's journal does: at record 1, or at the
 * oldest snapshot the journal follows (copied first). */
static int start_fresh(follower *f, char *why, size_t why_len)
{
	uint64_t first = 0;
	if (store_journal_first_lsn(f->s, &first, why, why_len) != 0)
		return -1;
	if (first <= 1)
		return 0;
	for (uint32_t i = 0; i < f->nsnaps; i++) {
		if (f->snaps[i].lsn + 1 < first)
			continue;
		if (store_archiver_beat(f->s, f->o->name, f->snaps[i].lsn, f->snaps[i].lsn - 1, wall_ms(), why,
		        why_len) != 0 || archive_start_at(f->a, f->snaps[i].lsn, why, why_len) != 0)
			return -1;
		return copy_snapshot(f, &f->snaps[i], why, why_len);
	}
	snprintf(why, why_len, "the journal in Redis begins at record %" PRIu64 " and no snapshot "
	    "it follows is kept", first);
	return -1;
}

/* Every snapshot newer than the last copied. */
static int copy_new_snapshots(follower *f, char *why, size_t why_len)
{
	if (store_list_snaps(f->s, f->snaps, STORE_SNAPS_MAX, &f->nsnaps, why, why_len) != 0)
		return -1;
	const archive_position *p = archive_get_position(f->a);
	for (uint32_t i = 0; i < f->nsnaps && !stop_requested; i++)
		if (f->snaps[i].lsn > p->snap_lsn && copy_snapshot(f, &f->snaps[i], why, why_len) != 0)
			return -1;
	return 0;
}

static int copy_batch(void *ctx, uint64_t first, uint64_t last, const uint8_t *batch, size_t len,
    char *why, size_t why_len)
{
	follower *f = ctx;
	assert(last >= first);
	f->batches++;
	f->records += last - first + 1;
	return archive_append_batch(f->a, first, last, batch, len, why, why_len);
}

/* One round: new snapshots, then up to ARCHIVE_ROUND_BATCHES batches,
 * synced, and a heartbeat. *caught_up when Redis had no more. */
static int round_once(follower *f, bool *caught_up, char *why, size_t why_len)
{
	if (copy_new_snapshots(f, why, why_len) != 0)
		return -1;
	*caught_up = false;
	for (uint32_t n = 0; n < ARCHIVE_ROUND_BATCHES && !stop_requested; n += ARCHIVE_READ_BATCHES) {
		uint64_t last = 0, before = f->batches;
		if (store_read_batches(f->s, archive_written_lsn(f->a), ARCHIVE_READ_BATCHES, copy_batch, f,
		        &last, why, why_len) != 0)
			return -1;
		if (f->batches - before < ARCHIVE_READ_BATCHES) {
			*caught_up = true;
			break;
		}
	}
	if (archive_sync(f->a, why, why_len) != 0)
		return -1;
	const archive_position *p = archive_get_position(f->a);
	return store_archiver_beat(f->s, f->o->name, p->lsn, p->snap_lsn, wall_ms(), why, why_len);
}

static int follow(follower *f, char *why, size_t why_len)
{
	const archive_position *p = archive_get_position(f->a);
	if (store_archiver_beat(f->s, f->o->name, p->lsn, p->snap_lsn, wall_ms(), why, why_len) != 0)
		return -1;
	if (p->lsn == 0 && p->snap_lsn == 0 && p->segment[0] == '\0') {
		if (store_list_snaps(f->s, f->snaps, STORE_SNAPS_MAX, &f->nsnaps, why, why_len) != 0 ||
		    start_fresh(f, why, why_len) != 0)
			return -1;
	}
	while (!stop_requested) {
		bool caught_up = false;
		if (round_once(f, &caught_up, why, why_len) != 0)
			return -1;
		if (caught_up && f->o->once)
			break;
		if (caught_up)
			usleep((useconds_t)f->o->interval_ms * 1000);
	}
	return 0;
}

static int archive_run(const archive_opts *o)
{
	char why[512];
	durable_url u;
	const char *err = NULL;
	if (durable_url_parse(o->url, &u, &err) != 0) {
		fprintf(stderr, "allot archive: --redis: %s\n", err);
		return 2;
	}
	static follower f;
	f = (follower){ .o = o };
	f.s = store_connect(&u, o->ns, ARCHIVE_CONNECT_TIMEOUT_MS, ARCHIVE_REPLY_TIMEOUT_MS, why,
	    sizeof(why));
	if (f.s == NULL) {
		fprintf(stderr, "allot archive: cannot use Redis at %s: %s\n", o->url, why);
		return 1;
	}
	store_meta m;
	int rc = 1;
	if (store_read_meta(f.s, &m, why, sizeof(why)) != 0)
		goto out;
	if (!m.has_ids) {
		snprintf(why, sizeof(why), "namespace %s has no journal yet (start allotd first)", o->ns);
		goto out;
	}
	archive_info info = { .id_epoch = m.id_epoch, .hash_seed = m.hash_seed };
	snprintf(info.ns, sizeof(info.ns), "%s", o->ns);
	f.a = archive_open_write(o->dir, &info, why, sizeof(why));
	if (f.a == NULL || follow(&f, why, sizeof(why)) != 0)
		goto out;
	const archive_position *p = archive_get_position(f.a);
	fprintf(stderr, "allot archive: %s holds the journal to record %" PRIu64 " (%" PRIu64
	    " records in %" PRIu64 " batches and %" PRIu64 " snapshots copied now)\n", o->dir, p->lsn,
	    f.records, f.batches, f.snapshots);
	rc = 0;
out:
	if (rc != 0)
		fprintf(stderr, "allot archive: %s\n", why);
	archive_close(f.a);
	store_close(f.s);
	return rc;
}

int archive_main(int argc, char **argv)
{
	archive_opts o;
	if (parse_args(argc, argv, &o) != 0) {
		fprintf(stderr, "Try 'allot archive --help'.\n");
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	return archive_run(&o);
}
