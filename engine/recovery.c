/*
 * recovery.c - the state at start, from Redis (see recovery.h).
 */
#include "recovery.h"

#include "log.h"
#include "replay.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* A namespace of an older format that this build reads: the journal goes
 * on in this build's format (each batch says its own), and the meta hash
 * says so first, so that an older build refuses the namespace rather than
 * misread the new batches. */
static int upgrade_format(store *s, const store_meta *m, char *why, size_t why_len)
{
	if (!m->has_format || m->format >= DURABLE_FORMAT)
		return 0;
	if (store_write_format(s, why, why_len) != 0)
		return -1;
	log_info("namespace is now durable format %d (was %u): its journal goes on in that format",
	    DURABLE_FORMAT, m->format);
	return 0;
}

/* The reservation-id epoch and hash seed: Redis's when it has them (a
 * replayed reservation must get its id again), else cc's, stored. */
static int settle_ids(store *s, const store_meta *m, core_config *cc, char *why, size_t why_len)
{
	if (m->has_ids) {
		cc->id_epoch = m->id_epoch;
		cc->hash_seed = m->hash_seed;
		return upgrade_format(s, m, why, why_len);
	}
	if (m->snapshot_key[0]) {
		snprintf(why, why_len, "the meta hash names a snapshot but no %s/%s", DURABLE_META_ID_EPOCH,
		    DURABLE_META_HASH_SEED);
		return -1;
	}
	return store_write_ids(s, cc->id_epoch, cc->hash_seed, why, why_len);
}

/* The snapshot the meta hash names, or an empty core. */
static int load_base(store *s, const store_meta *m, const core_config *cc, core **out,
    uint64_t *bytes, char *why, size_t why_len)
{
	if (!m->snapshot_key[0]) {
		*out = core_create(cc);
		if (*out == NULL)
			return snprintf(why, why_len, "out of memory creating the core"), -1;
		return 0;
	}
	uint64_t lsn = 0;
	if (store_load_snapshot(s, m->snapshot_key, cc, out, &lsn, bytes, why, why_len) != 0)
		return -1;
	if (lsn != m->snapshot_lsn) {
		snprintf(why, why_len, "snapshot %s holds lsn %" PRIu64 " but the meta hash says %" PRIu64,
		    m->snapshot_key, lsn, m->snapshot_lsn);
		core_destroy(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

typedef struct replay {
	core *core;
	uint64_t records;
} replay;

static int replay_record(void *ctx, uint64_t lsn, const journal_entry *e, char *why, size_t why_len)
{
	replay *r = ctx;
	core_error err;
	if (replay_apply(r->core, e, &err) != 0) {
		snprintf(why, why_len, "journal record %" PRIu64 " does not apply: %s: %s", lsn,
		    core_strerror(err.code), err.message);
		return -1;
	}
	r->records++;
	return 0;
}

/* Replay the journal after *lsn into c; *lsn becomes the last applied. */
static int replay_journal(store *s, const recovery_config *cfg, core *c, uint64_t *lsn,
    uint64_t *records, char *why, size_t why_len)
{
	const core_config *cc = core_get_config(c);
	uint32_t lines_cap = cc->lines_max ? cc->lines_max : 1;
	uint32_t names_cap = cc->locations_max ? cc->locations_max : 1;
	journal_scratch scratch = { malloc(sizeof(core_line_req) * lines_cap), lines_cap,
		malloc(sizeof(core_str) * names_cap), names_cap };
	int rc = -1;
	replay r = { .core = c };
	if (scratch.lines == NULL || scratch.names == NULL)
		snprintf(why, why_len, "out of memory");
	else
		rc = store_read_journal(s, *lsn, &cfg->record_limits, &scratch, replay_record, &r, lsn, why,
		    why_len);
	free(scratch.lines);
	free(scratch.names);
	*records = r.records;
	return rc;
}

/* Stops a read of the journal at its first record, keeping its time. */
static int first_time(void *ctx, uint64_t lsn, const journal_entry *e, char *why, size_t why_len)
{
	*(int64_t *)ctx = e->now_ms;
	snprintf(why, why_len, "stop");
	return -1;
}

/*
 * Where the history kept in Redis starts, and the journal's bytes up to
 * the current snapshot. A current snapshot the history does not index (a
 * namespace from before history was kept) is indexed now, and the history
 * starts there: the journal before it was trimmed.
 */
static int settle_history(store *s, const store_meta *m, const recovery_config *cfg,
    recovery_result *res, char *why, size_t why_len)
{
	static store_snap list[STORE_SNAPS_MAX];
	uint32_t n = 0;
	if (store_list_snaps(s, list, STORE_SNAPS_MAX, &n, why, why_len) != 0)
		return -1;
	res->history_lsn = m->history_lsn;
	bool indexed = !m->snapshot_key[0];
	for (uint32_t i = 0; i < n; i++) {
		if (strcmp(list[i].key, m->snapshot_key) == 0) {
			indexed = true;
			res->journal_bytes = list[i].journal_bytes;
		}
		if (list[i].lsn == m->history_lsn) {
			res->history_at_ms = list[i].at_ms;
			res->history_journal_bytes = list[i].journal_bytes;
		}
	}
	if (!indexed) {
		if (store_history_adopt(s, m->snapshot_key, m->snapshot_lsn, m->snapshot_at_ms, why,
		        why_len) != 0)
			return -1;
		res->history_lsn = m->snapshot_lsn;
		res->history_at_ms = m->snapshot_at_ms;
		res->history_journal_bytes = 0;
	}
	return 0;
}

/* The time of record 1, when the history starts there (0 when it cannot
 * be read: stats then says so). */
static void history_first_time(store *s, const recovery_config *cfg, core *c, int64_t *at_ms)
{
	const core_config *cc = core_get_config(c);
	uint32_t lines_cap = cc->lines_max ? cc->lines_max : 1;
	uint32_t names_cap = cc->locations_max ? cc->locations_max : 1;
	journal_scratch scratch = { malloc(sizeof(core_line_req) * lines_cap), lines_cap,
		malloc(sizeof(core_str) * names_cap), names_cap };
	char why[200];
	uint64_t last = 0;
	if (scratch.lines && scratch.names)
		(void)store_read_journal(s, 0, &cfg->record_limits, &scratch, first_time, at_ms, &last, why,
		    sizeof(why));
	free(scratch.lines);
	free(scratch.names);
}

static void removed_stray(void *ctx, const char *key)
{
	log_info("removed %s, left by a snapshot that did not finish", key);
}

static void log_loaded(const recovery_config *cfg, const store_meta *m, core *c, uint64_t lsn,
    uint64_t bytes, uint64_t records, uint32_t expired, const uint64_t t[4])
{
	core_stats cs;
	core_stats_get(c, &cs);
	if (m->snapshot_key[0])
		log_info("recovered the snapshot %s at lsn %" PRIu64 " (%" PRIu64 " bytes) in %.1f ms",
		    m->snapshot_key, m->snapshot_lsn, bytes, (double)(t[1] - t[0]) / 1000.0);
	else
		log_info("no snapshot in Redis yet for namespace %s", cfg->ns);
	log_info("replayed %" PRIu64 " journal records in %.1f ms; expired %u holds whose time passed; "
	    "now at lsn %" PRIu64 ": %" PRIu64 " skus, %" PRIu64 " locations, %" PRIu64 " stock records, "
	    "%" PRIu64 " held and %" PRIu64 " committed reservations; recovery took %.1f ms",
	    records, (double)(t[2] - t[1]) / 1000.0, expired, lsn, cs.skus, cs.locations,
	    cs.records, cs.reservations[CORE_RESV_HELD], cs.reservations[CORE_RESV_COMMITTED],
	    (double)(t[3] - t[0]) / 1000.0);
}

int recovery_run(const recovery_config *cfg, core_config *cc, int64_t now_ms, core **out,
    recovery_result *res)
{
	char why[512];
	uint64_t t[4] = { mono_us(), 0, 0, 0 };
	memset(res, 0, sizeof(*res));
	*out = NULL;
	res->history_at_ms = 0;
	store *s = store_connect(cfg->url, cfg->ns, cfg->connect_timeout_ms, cfg->reply_timeout_ms, why,
	    sizeof(why));
	if (s == NULL) {
		log_error("cannot use Redis at %s:%d: %s", cfg->url->host, cfg->url->port, why);
		return -1;
	}
	store_meta m;
	core *c = NULL;
	uint64_t bytes = 0, records = 0;
	if (store_read_meta(s, &m, why, sizeof(why)) != 0 || settle_ids(s, &m, cc, why, sizeof(why)) != 0 ||
	    load_base(s, &m, cc, &c, &bytes, why, sizeof(why)) != 0)
		goto fail;
	t[1] = mono_us();
	uint64_t lsn = m.snapshot_key[0] ? m.snapshot_lsn : 0;
	if (settle_history(s, &m, cfg, res, why, sizeof(why)) != 0)
		goto fail;
	if (replay_journal(s, cfg, c, &lsn, &records, why, sizeof(why)) != 0)
		goto fail;
	res->journal_bytes += store_journal_bytes_read(s);
	if (res->history_lsn == 0 && lsn > 0)
		history_first_time(s, cfg, c, &res->history_at_ms);
	assert(lsn >= m.snapshot_lsn);
	t[2] = mono_us();
	/* Events go on numbering from the stream's newest: it holds exactly
	 * the events of the journal's changes, written with them. */
	if (store_events_last_seq(s, &res->events_seq, why, sizeof(why)) != 0)
		goto fail;
	uint32_t expired = core_advance(c, now_ms);
	store_remove_stray_snapshots(s, m.snapshot_key, removed_stray, NULL);
	t[3] = mono_us();
	log_loaded(cfg, &m, c, lsn, bytes, records, expired, t);
	*out = c;
	res->lsn = lsn;
	res->snapshot_lsn = m.snapshot_lsn;
	res->snapshot_at_ms = m.snapshot_at_ms;
	snprintf(res->snapshot_key, sizeof(res->snapshot_key), "%s", m.snapshot_key);
	res->store = s;
	return 0;
fail:
	log_error("cannot recover from Redis at %s:%d (namespace %s): %s", cfg->url->host, cfg->url->port,
	    cfg->ns, why);
	core_destroy(c);
	store_close(s);
	return -1;
}
