/*
 * archive_read.c - reading an archive (see archive.h): its snapshots and
 * the records of its segments, through the batch decoder Redis's journal
 * is read with.
 */
#define _GNU_SOURCE
#include "archive.h"
#include "archive_internal.h"
#include "store_internal.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The files of dir/sub whose names parse, sorted by name (the names are
 * zero-padded lsns, so by lsn). *names is malloc'd; free each, then it. */
static int list_dir(const archive *a, const char *sub, const char *suffix, char ***names,
    uint32_t *n, char *why, size_t why_len)
{
	char path[ARCHIVE_PATH_MAX];
	archive_path(a, path, sizeof(path), "%s", sub);
	struct dirent **list = NULL;
	int got = scandir(path, &list, NULL, alphasort);
	*names = NULL;
	*n = 0;
	if (got < 0)
		return errno == ENOENT ? 0 : store_fail(why, why_len, "%s: %s", path, strerror(errno));
	*names = calloc((size_t)got + 1, sizeof(char *));
	int rc = *names ? 0 : store_fail(why, why_len, "out of memory");
	size_t sl = strlen(suffix);
	for (int i = 0; i < got; i++) {
		size_t len = strlen(list[i]->d_name);
		if (rc == 0 && *n < ARCHIVE_FILES_MAX && len > sl && list[i]->d_name[0] != '.' &&
		    strcmp(list[i]->d_name + len - sl, suffix) == 0)
			(*names)[(*n)++] = strdup(list[i]->d_name);
		free(list[i]);
	}
	free(list);
	return rc;
}

static void free_names(char **names, uint32_t n)
{
	for (uint32_t i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
}

int archive_list_snaps(archive *a, store_snap *out, uint32_t cap, uint32_t *n, char *why,
    size_t why_len)
{
	char **names;
	uint32_t count;
	if (list_dir(a, "snap", ".snap", &names, &count, why, why_len) != 0)
		return -1;
	*n = 0;
	for (uint32_t i = 0; i < count && *n < cap; i++) {
		unsigned long long lsn;
		long long at;
		if (sscanf(names[i], "%llu-%lld.snap", &lsn, &at) != 2)
			continue;
		store_snap *sn = &out[(*n)++];
		*sn = (store_snap){ .lsn = lsn, .at_ms = at };
		snprintf(sn->key, sizeof(sn->key), "%s", names[i]);
	}
	free_names(names, count);
	return 0;
}

/* A frame of f: 1 with *buf (grown as needed) and *len, 0 at the end (or
 * at a partial frame, when partial_ok), -1 with why. */
static int read_frame(FILE *f, const char *name, bool partial_ok, uint8_t **buf, size_t *cap,
    size_t *len, char *why, size_t why_len)
{
	uint8_t head[ARCHIVE_FRAME_HEAD];
	size_t got = fread(head, 1, sizeof(head), f);
	if (got == 0 && feof(f))
		return 0;
	uint32_t n = (uint32_t)head[0] | (uint32_t)head[1] << 8 | (uint32_t)head[2] << 16 |
	    (uint32_t)head[3] << 24;
	uint32_t sum = (uint32_t)head[4] | (uint32_t)head[5] << 8 | (uint32_t)head[6] << 16 |
	    (uint32_t)head[7] << 24;
	if (got == sizeof(head) && n > ARCHIVE_FRAME_BYTES_MAX)
		return store_fail(why, why_len, "%s: a frame of %" PRIu32 " bytes", name, n);
	if (got == sizeof(head) && n > *cap) {
		uint8_t *grown = realloc(*buf, n);
		if (grown == NULL)
			return store_fail(why, why_len, "out of memory");
		*buf = grown;
		*cap = n;
	}
	if (got != sizeof(head) || fread(*buf, 1, n, f) != n) {
		if (partial_ok)
			return 0; /* the writer's unfinished frame: copied again later */
		return store_fail(why, why_len, "%s: ends within a frame", name);
	}
	if (archive_checksum(*buf, n) != sum)
		return store_fail(why, why_len, "%s: a frame whose checksum does not match", name);
	*len = n;
	return 1;
}

/* Open dir/sub/name and check its magic. NULL with why. */
static FILE *open_file(const archive *a, const char *sub, const char *name, const char *magic,
    char *why, size_t why_len)
{
	char path[ARCHIVE_PATH_MAX], head[8];
	archive_path(a, path, sizeof(path), "%s/%s", sub, name);
	FILE *f = fopen(path, "re");
	if (f == NULL) {
		store_fail(why, why_len, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fread(head, 1, 8, f) != 8 || memcmp(head, magic, 8) != 0) {
		fclose(f);
		store_fail(why, why_len, "%s: not an archive file of format %d", path, ARCHIVE_FORMAT);
		return NULL;
	}
	return f;
}

int archive_load_snapshot(archive *a, const store_snap *sn, const core_config *cfg, core **out,
    uint64_t *lsn, char *why, size_t why_len)
{
	*out = NULL;
	FILE *f = open_file(a, "snap", sn->key, ARCHIVE_SNAP_MAGIC, why, why_len);
	if (f == NULL)
		return -1;
	snapshot_loader *l = snapshot_loader_create(cfg);
	uint8_t *buf = NULL;
	size_t cap = 0, len = 0;
	int rc = l ? 0 : store_fail(why, why_len, "out of memory"), got;
	while (rc == 0 && (got = read_frame(f, sn->key, false, &buf, &cap, &len, why, why_len)) != 0) {
		const char *err = NULL;
		if (got < 0)
			rc = -1;
		else if (snapshot_loader_feed(l, buf, len, &err) != 0)
			rc = store_fail(why, why_len, "snap/%s: %s", sn->key, err);
	}
	if (rc == 0) {
		const char *err = NULL;
		*out = snapshot_loader_finish(l, lsn, &err);
		if (*out == NULL)
			rc = store_fail(why, why_len, "snap/%s: %s", sn->key, err ? err : "unreadable");
		else if (*lsn != sn->lsn)
			rc = store_fail(why, why_len, "snap/%s holds lsn %" PRIu64, sn->key, *lsn);
	}
	if (rc != 0 && *out) {
		core_destroy(*out);
		*out = NULL;
	}
	snapshot_loader_destroy(l);
	free(buf);
	fclose(f);
	return rc;
}

uint64_t archive_first_lsn(archive *a)
{
	char **names, why[200];
	uint32_t n;
	unsigned long long first = 0;
	if (list_dir(a, "journal", ".seg", &names, &n, why, sizeof(why)) == 0 && n > 0)
		sscanf(names[0], "%llu.seg", &first);
	free_names(names, n);
	return first;
}

/* The records of one segment after r->last. */
static int read_segment(archive *a, const char *name, bool last_one, store_records *r, char *why,
    size_t why_len)
{
	FILE *f = open_file(a, "journal", name, ARCHIVE_SEG_MAGIC, why, why_len);
	if (f == NULL)
		return -1;
	uint8_t *buf = NULL;
	size_t cap = 0, len = 0;
	char where[128];
	int rc = 0, got;
	for (uint64_t i = 0; rc == 0; i++) {
		got = read_frame(f, name, last_one, &buf, &cap, &len, why, why_len);
		if (got <= 0) {
			rc = got;
			break;
		}
		snprintf(where, sizeof(where), "journal/%s, batch %" PRIu64, name, i);
		rc = store_batch_records(r, buf, len, where, why, why_len);
	}
	free(buf);
	fclose(f);
	return rc;
}

int archive_read_journal(archive *a, uint64_t after_lsn, const mp_limits *limits,
    const journal_scratch *scratch, store_record_fn fn, void *ctx, uint64_t *last, char *why,
    size_t why_len)
{
	char **names;
	uint32_t n;
	if (list_dir(a, "journal", ".seg", &names, &n, why, why_len) != 0)
		return -1;
	store_records r = { .limits = limits, .scratch = scratch, .fn = fn, .ctx = ctx,
		.last = after_lsn };
	assert(n <= ARCHIVE_FILES_MAX);
	int rc = 0;
	for (uint32_t i = 0; rc == 0 && i < n; i++) {
		unsigned long long next = 0;
		/* A segment wholly before after_lsn is skipped unread. */
		if (i + 1 < n && sscanf(names[i + 1], "%llu.seg", &next) == 1 && next <= after_lsn + 1)
			continue;
		rc = read_segment(a, names[i], i + 1 == n, &r, why, why_len);
	}
	free_names(names, n);
	assert(r.last >= after_lsn);
	*last = r.last;
	return rc;
}
