/*
 * history.c - allot's recorded history from Redis or an archive (see
 * history.h).
 */
#include "history.h"

#include "archive.h"
#include "replay.h"
#include "store.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HISTORY_CONNECT_TIMEOUT_MS 5000
#define HISTORY_REPLY_TIMEOUT_MS 60000
/* The widest an engine may be configured: a history holds whatever an
 * engine wrote (as `allot snapshot dump` reads it). */
#define HISTORY_LINES_MAX UINT16_MAX
#define HISTORY_LOCATIONS_MAX (UINT16_MAX - 1)

struct history {
	store *store;              /* one of these two */
	archive *archive;
	uint32_t id_epoch;
	uint64_t hash_seed;
	uint64_t first_lsn;        /* the journal's first record (0: empty) */
	store_snap *snaps;         /* oldest first */
	uint32_t nsnaps;
	mp_limits limits;
	journal_scratch scratch;
};

static int fail(char *why, size_t why_len, const char *what)
{
	snprintf(why, why_len, "%s", what);
	return -1;
}

/* Redis's snapshots (the history's index, and the current one), its ids
 * and its journal's first record. */
static int open_redis(history *h, const char *url, const char *ns, char *why, size_t why_len)
{
	durable_url u;
	const char *err = NULL;
	if (durable_url_parse(url, &u, &err) != 0)
		return fail(why, why_len, err);
	h->store = store_connect(&u, ns, HISTORY_CONNECT_TIMEOUT_MS, HISTORY_REPLY_TIMEOUT_MS, why,
	    why_len);
	if (h->store == NULL)
		return -1;
	store_meta m;
	if (store_read_meta(h->store, &m, why, why_len) != 0)
		return -1;
	if (!m.has_ids)
		return fail(why, why_len, "the namespace has no history (never used?)");
	h->id_epoch = m.id_epoch;
	h->hash_seed = m.hash_seed;
	if (store_list_snaps(h->store, h->snaps, STORE_SNAPS_MAX, &h->nsnaps, why, why_len) != 0)
		return -1;
	bool listed = !m.snapshot_key[0];
	for (uint32_t i = 0; i < h->nsnaps; i++)
		listed = listed || strcmp(h->snaps[i].key, m.snapshot_key) == 0;
	if (!listed && h->nsnaps < STORE_SNAPS_MAX) {
		store_snap *sn = &h->snaps[h->nsnaps++];
		*sn = (store_snap){ .lsn = m.snapshot_lsn, .at_ms = m.snapshot_at_ms };
		snprintf(sn->key, sizeof(sn->key), "%s", m.snapshot_key);
	}
	return store_journal_first_lsn(h->store, &h->first_lsn, why, why_len);
}

static int open_dir(history *h, const char *dir, char *why, size_t why_len)
{
	h->archive = archive_open_read(dir, why, why_len);
	if (h->archive == NULL)
		return -1;
	const archive_info *in = archive_get_info(h->archive);
	h->id_epoch = in->id_epoch;
	h->hash_seed = in->hash_seed;
	h->first_lsn = archive_first_lsn(h->archive);
	return archive_list_snaps(h->archive, h->snaps, STORE_SNAPS_MAX, &h->nsnaps, why, why_len);
}

static int by_lsn(const void *a, const void *b)
{
	const store_snap *x = a, *y = b;
	return x->lsn < y->lsn ? -1 : x->lsn > y->lsn;
}

history *history_open(const char *url, const char *ns, const char *dir, char *why,
    size_t why_len)
{
	assert((url == NULL) != (dir == NULL));
	history *h = calloc(1, sizeof(*h));
	if (h == NULL)
		return NULL;
	h->snaps = calloc(STORE_SNAPS_MAX, sizeof(*h->snaps));
	h->scratch = (journal_scratch){ malloc(sizeof(core_line_req) * HISTORY_LINES_MAX),
		HISTORY_LINES_MAX, malloc(sizeof(core_str) * HISTORY_LOCATIONS_MAX),
		HISTORY_LOCATIONS_MAX };
	store_record_limits(&h->limits);
	int rc = h->snaps && h->scratch.lines && h->scratch.names ? 0 : fail(why, why_len, "out of memory");
	if (rc == 0)
		rc = url ? open_redis(h, url, ns, why, why_len) : open_dir(h, dir, why, why_len);
	if (rc != 0) {
		history_close(h);
		return NULL;
	}
	if (h->nsnaps > 1)
		qsort(h->snaps, h->nsnaps, sizeof(*h->snaps), by_lsn);
	return h;
}

void history_close(history *h)
{
	if (h == NULL)
		return;
	store_close(h->store);
	archive_close(h->archive);
	free(h->snaps);
	free(h->scratch.lines);
	free(h->scratch.names);
	free(h);
}

void history_core_config(const history *h, int64_t ttl_default_ms, core_config *out)
{
	core_config_default(out);
	out->lines_max = HISTORY_LINES_MAX;
	out->locations_max = HISTORY_LOCATIONS_MAX;
	out->skus_max = UINT32_MAX / 2;
	out->reservations_max = UINT32_MAX / 2;
	out->idempotency_max = UINT32_MAX / 2;
	out->ttl_max_ms = 3650LL * 86400000;
	if (ttl_default_ms > 0)
		out->ttl_default_ms = ttl_default_ms;
	out->id_epoch = h->id_epoch;
	out->hash_seed = h->hash_seed;
}

/* Whether the journal after lsn is all there. */
static bool follows(const history *h, uint64_t lsn)
{
	return h->first_lsn == 0 || h->first_lsn <= lsn + 1;
}

/* The index of the snapshot to start from, or -1 for the empty state. */
static int64_t choose_start(const history *h, int64_t at_ms)
{
	int64_t best = -1, oldest = -1;
	assert(h->nsnaps <= STORE_SNAPS_MAX);
	for (uint32_t i = 0; i < h->nsnaps; i++) {
		if (!follows(h, h->snaps[i].lsn))
			continue;
		if (oldest < 0)
			oldest = i;
		if (h->snaps[i].at_ms <= at_ms)
			best = i;
	}
	bool from_empty = h->first_lsn <= 1;
	if (best >= 0 || from_empty)
		return best;
	return oldest;
}

int history_rebuild(history *h, int64_t at_ms, const core_config *cfg, core **out,
    history_start *start, char *why, size_t why_len)
{
	int64_t i = choose_start(h, at_ms);
	*out = NULL;
	if (i < 0 && h->first_lsn > 1)
		return fail(why, why_len, "the history holds no snapshot its journal follows");
	if (i < 0) {
		*start = (history_start){ .lsn = 0, .at_ms = INT64_MIN };
		*out = core_create(cfg);
		return *out ? 0 : fail(why, why_len, "out of memory");
	}
	assert(i < (int64_t)h->nsnaps && follows(h, h->snaps[i].lsn));
	const store_snap *sn = &h->snaps[i];
	*start = (history_start){ .lsn = sn->lsn, .at_ms = sn->at_ms };
	uint64_t lsn = 0, bytes = 0;
	int rc = h->store ? store_load_snapshot(h->store, sn->key, cfg, out, &lsn, &bytes, why, why_len)
	                  : archive_load_snapshot(h->archive, sn, cfg, out, &lsn, why, why_len);
	if (rc == 0 && lsn != sn->lsn) {
		core_destroy(*out);
		*out = NULL;
		return fail(why, why_len, "a snapshot holds another lsn than its name says");
	}
	return rc;
}

typedef struct reading {
	history_record_fn fn;
	void *ctx;
	bool stopped;
} reading;

static int on_record(void *ctx, uint64_t lsn, const journal_entry *e, char *why, size_t why_len)
{
	reading *r = ctx;
	int rc = r->fn(r->ctx, lsn, e, why, why_len);
	if (rc > 0)
		r->stopped = true;
	return rc == 0 ? 0 : -1;
}

int history_records(history *h, uint64_t after_lsn, history_record_fn fn, void *ctx, char *why,
    size_t why_len)
{
	reading r = { fn, ctx, false };
	uint64_t last = 0;
	int rc = h->store ? store_read_journal(h->store, after_lsn, &h->limits, &h->scratch, on_record,
	                        &r, &last, why, why_len)
	                  : archive_read_journal(h->archive, after_lsn, &h->limits, &h->scratch,
	                        on_record, &r, &last, why, why_len);
	return r.stopped ? 0 : rc;
}

int history_apply(core *c, const journal_entry *e, core_result *res, core_error *err)
{
	return replay_apply_result(c, e, res, err);
}
