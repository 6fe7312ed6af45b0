/*
 * replay-bench - how fast the recorded history replays through the pure
 * core on one core: every record of an archive (bench/history-gen makes
 * one) applied as recovery, `allot audit`, `replay` and `explain` apply
 * them (engine/store/history.h), timed; records per second.
 *
 *   replay-bench --dir DIR [--passes N]
 *
 * The machine is shared: compare the rate with a run on the same machine
 * at the same time, not with a figure from elsewhere.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core.h"
#include "history.h"

typedef struct run {
	core *c;
	uint64_t records, reserves;
} run;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int apply(void *ctx, uint64_t lsn, const journal_entry *e, char *why, size_t why_len)
{
	run *r = ctx;
	core_result res;
	core_error err;
	if (history_apply(r->c, e, &res, &err) != 0) {
		snprintf(why, why_len, "record %" PRIu64 ": %s", lsn, err.message);
		return -1;
	}
	r->records++;
	r->reserves += e->kind == JOURNAL_KIND_RESERVE;
	return 0;
}

int main(int argc, char **argv)
{
	const char *dir = NULL;
	int passes = 1;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--dir") == 0)
			dir = argv[i + 1];
		else if (strcmp(argv[i], "--passes") == 0)
			passes = atoi(argv[i + 1]);
	}
	if (dir == NULL || passes < 1) {
		fprintf(stderr, "usage: replay-bench --dir DIR [--passes N]\n");
		return 2;
	}
	char why[512];
	for (int p = 0; p < passes; p++) {
		history *h = history_open(NULL, NULL, dir, why, sizeof(why));
		if (h == NULL) {
			fprintf(stderr, "replay-bench: %s\n", why);
			return 1;
		}
		core_config cfg;
		history_core_config(h, 0, &cfg);
		history_start start;
		run r = { 0 };
		double t0 = now_s();
		if (history_rebuild(h, INT64_MIN, &cfg, &r.c, &start, why, sizeof(why)) != 0 ||
		    history_records(h, start.lsn, apply, &r, why, sizeof(why)) != 0) {
			fprintf(stderr, "replay-bench: %s\n", why);
			return 1;
		}
		double t = now_s() - t0;
		printf("pass %d: %" PRIu64 " records (%" PRIu64 " reserves) in %.3f s: %.0f records/s\n", p + 1,
		    r.records, r.reserves, t, (double)r.records / t);
		core_destroy(r.c);
		history_close(h);
	}
	return 0;
}
