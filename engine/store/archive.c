/*
 * archive.c - allot's history on disk (see archive.h and docs/ARCHIVE.md):
 * the archive's files, and writing to them.
 */
#define _GNU_SOURCE
#include "archive.h"
#include "archive_internal.h"
#include "store_internal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

uint32_t archive_checksum(const uint8_t *p, size_t len)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

int archive_path(const archive *a, char *buf, size_t len, const char *fmt, ...)
{
	int n = snprintf(buf, len, "%s/", a->dir);
	va_list ap;
	va_start(ap, fmt);
	int m = n >= 0 && (size_t)n < len ? vsnprintf(buf + n, len - (size_t)n, fmt, ap) : -1;
	va_end(ap);
	return m >= 0 && (size_t)(n + m) < len ? 0 : -1;
}

/* Write a whole file durably: a temporary, fsync, rename. */
static int write_file(const archive *a, const char *name, const char *text, char *why,
    size_t why_len)
{
	char path[ARCHIVE_PATH_MAX], tmp[ARCHIVE_PATH_MAX];
	if (archive_path(a, path, sizeof(path), "%s", name) != 0 ||
	    archive_path(a, tmp, sizeof(tmp), "%s.tmp", name) != 0)
		return store_fail(why, why_len, "%s: the path is too long", a->dir);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return store_fail(why, why_len, "%s: %s", tmp, strerror(errno));
	size_t len = strlen(text);
	bool ok = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
	int e = errno;
	close(fd);
	if (!ok || rename(tmp, path) != 0)
		return store_fail(why, why_len, "%s: %s", path, strerror(ok ? errno : e));
	return 0;
}

static int read_info(archive *a, char *why, size_t why_len)
{
	char path[ARCHIVE_PATH_MAX];
	if (archive_path(a, path, sizeof(path), "ARCHIVE") != 0)
		return store_fail(why, why_len, "%s: the path is too long", a->dir);
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return store_fail(why, why_len, "%s: %s (not an allot archive?)", path, strerror(errno));
	unsigned format = 0, epoch = 0;
	unsigned long long seed = 0;
	char ns[DURABLE_NAMESPACE_MAX + 1] = "";
	int got = fscanf(f, "allot-archive %u\nnamespace %64s\nid_epoch %u\nhash_seed %llu\n", &format,
	    ns, &epoch, &seed);
	fclose(f);
	if (got != 4)
		return store_fail(why, why_len, "%s: not an allot archive description", path);
	if (format != ARCHIVE_FORMAT)
		return store_fail(why, why_len, "%s: archive format %u; this build reads format %d", path,
		    format, ARCHIVE_FORMAT);
	snprintf(a->info.ns, sizeof(a->info.ns), "%s", ns);
	a->info.id_epoch = epoch;
	a->info.hash_seed = seed;
	return 0;
}

static int read_position(archive *a, char *why, size_t why_len)
{
	char path[ARCHIVE_PATH_MAX];
	if (archive_path(a, path, sizeof(path), "POSITION") != 0)
		return store_fail(why, why_len, "%s: the path is too long", a->dir);
	a->pos = (archive_position){ 0 };
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return errno == ENOENT ? 0 : store_fail(why, why_len, "%s: %s", path, strerror(errno));
	unsigned long long lsn = 0, snap = 0, bytes = 0;
	char seg[64] = "";
	int got = fscanf(f, "lsn %llu\nsnap_lsn %llu\nsegment %63s\nbytes %llu\n", &lsn, &snap, seg,
	    &bytes);
	fclose(f);
	if (got != 4)
		return store_fail(why, why_len, "%s: not an archive position", path);
	a->pos.lsn = lsn;
	a->pos.snap_lsn = snap;
	if (strcmp(seg, "-") != 0)
		snprintf(a->pos.segment, sizeof(a->pos.segment), "%s", seg);
	a->pos.segment_bytes = bytes;
	return 0;
}

static int write_position(archive *a, char *why, size_t why_len)
{
	char text[256];
	snprintf(text, sizeof(text), "lsn %" PRIu64 "\nsnap_lsn %" PRIu64 "\nsegment %s\nbytes %" PRIu64
	    "\n", a->pos.lsn, a->pos.snap_lsn, a->pos.segment[0] ? a->pos.segment : "-",
	    a->pos.segment_bytes);
	return write_file(a, "POSITION", text, why, why_len);
}

static archive *archive_new(const char *dir, char *why, size_t why_len)
{
	archive *a = calloc(1, sizeof(*a));
	if (a == NULL) {
		store_fail(why, why_len, "out of memory");
		return NULL;
	}
	if (strlen(dir) >= sizeof(a->dir) - 64) {
		store_fail(why, why_len, "%s: the path is too long", dir);
		free(a);
		return NULL;
	}
	snprintf(a->dir, sizeof(a->dir), "%s", dir);
	a->seg_fd = -1;
	a->snap_fd = -1;
	return a;
}

archive *archive_open_read(const char *dir, char *why, size_t why_len)
{
	archive *a = archive_new(dir, why, why_len);
	if (a && (read_info(a, why, why_len) != 0 || read_position(a, why, why_len) != 0)) {
		archive_close(a);
		return NULL;
	}
	return a;
}

static int make_dirs(const archive *a, char *why, size_t why_len)
{
	static const char *const sub[] = { "", "journal", "snap" };
	for (size_t i = 0; i < sizeof(sub) / sizeof(*sub); i++) {
		char path[ARCHIVE_PATH_MAX];
		if (archive_path(a, path, sizeof(path), "%s", sub[i]) != 0)
			return store_fail(why, why_len, "%s: the path is too long", a->dir);
		if (mkdir(path, 0755) != 0 && errno != EEXIST)
			return store_fail(why, why_len, "%s: %s", path, strerror(errno));
	}
	return 0;
}

/* An archive made now, or one of the same namespace. */
static int settle_info(archive *a, const archive_info *info, char *why, size_t why_len)
{
	char path[ARCHIVE_PATH_MAX];
	if (archive_path(a, path, sizeof(path), "ARCHIVE") != 0)
		return store_fail(why, why_len, "%s: the path is too long", a->dir);
	if (access(path, F_OK) != 0) {
		char text[256];
		snprintf(text, sizeof(text), "allot-archive %d\nnamespace %s\nid_epoch %" PRIu32
		    "\nhash_seed %" PRIu64 "\n", ARCHIVE_FORMAT, info->ns, info->id_epoch, info->hash_seed);
		a->info = *info;
		return write_file(a, "ARCHIVE", text, why, why_len);
	}
	if (read_info(a, why, why_len) != 0)
		return -1;
	if (strcmp(a->info.ns, info->ns) != 0 || a->info.id_epoch != info->id_epoch ||
	    a->info.hash_seed != info->hash_seed)
		return store_fail(why, why_len, "%s holds namespace %s (or its ids differ), not %s", a->dir,
		    a->info.ns, info->ns);
	return 0;
}

/* Reopen the position's segment, cut back to its whole frames. */
static int reopen_segment(archive *a, char *why, size_t why_len)
{
	a->written_lsn = a->pos.lsn;
	if (!a->pos.segment[0])
		return 0;
	char path[ARCHIVE_PATH_MAX];
	if (archive_path(a, path, sizeof(path), "journal/%s", a->pos.segment) != 0)
		return store_fail(why, why_len, "%s: the path is too long", a->dir);
	a->seg_fd = open(path, O_WRONLY | O_CLOEXEC);
	if (a->seg_fd < 0 || ftruncate(a->seg_fd, (off_t)a->pos.segment_bytes) != 0 ||
	    lseek(a->seg_fd, 0, SEEK_END) < 0)
		return store_fail(why, why_len, "%s: %s", path, strerror(errno));
	snprintf(a->seg_name, sizeof(a->seg_name), "%s", a->pos.segment);
	a->seg_bytes = a->pos.segment_bytes;
	return 0;
}

archive *archive_open_write(const char *dir, const archive_info *info, char *why, size_t why_len)
{
	archive *a = archive_new(dir, why, why_len);
	if (a == NULL)
		return NULL;
	a->writing = true;
	if (make_dirs(a, why, why_len) != 0 || settle_info(a, info, why, why_len) != 0 ||
	    read_position(a, why, why_len) != 0 || reopen_segment(a, why, why_len) != 0) {
		archive_close(a);
		return NULL;
	}
	return a;
}

void archive_close(archive *a)
{
	if (a == NULL)
		return;
	if (a->seg_fd >= 0)
		close(a->seg_fd);
	archive_snap_abort(a);
	free(a);
}

const archive_info *archive_get_info(const archive *a)
{
	return &a->info;
}

const archive_position *archive_get_position(const archive *a)
{
	return &a->pos;
}

int archive_start_at(archive *a, uint64_t lsn, char *why, size_t why_len)
{
	assert(a->writing);
	if (a->pos.lsn != 0 || a->seg_fd >= 0)
		return store_fail(why, why_len, "%s already holds records", a->dir);
	a->written_lsn = lsn;
	a->pos.lsn = lsn;
	return write_position(a, why, why_len);
}

uint64_t archive_written_lsn(const archive *a)
{
	return a->written_lsn;
}

/* One frame: its length, its checksum (little-endian), its bytes. */
static int write_frame(int fd, const uint8_t *p, size_t len)
{
	assert(len <= ARCHIVE_FRAME_BYTES_MAX);
	uint32_t n = (uint32_t)len, sum = archive_checksum(p, len);
	uint8_t head[ARCHIVE_FRAME_HEAD] = { n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >> 24,
		sum & 0xff, (sum >> 8) & 0xff, (sum >> 16) & 0xff, sum >> 24 };
	if (write(fd, head, sizeof(head)) != (ssize_t)sizeof(head))
		return -1;
	return write(fd, p, len) == (ssize_t)len ? 0 : -1;
}

/* A new segment whose first record is first; the one before made durable. */
static int roll_segment(archive *a, uint64_t first, char *why, size_t why_len)
{
	if (a->seg_fd >= 0) {
		if (fsync(a->seg_fd) != 0)
			return store_fail(why, why_len, "%s: fsync: %s", a->seg_name, strerror(errno));
		close(a->seg_fd);
		a->seg_fd = -1;
	}
	snprintf(a->seg_name, sizeof(a->seg_name), "%020" PRIu64 ".seg", first);
	char path[ARCHIVE_PATH_MAX];
	if (archive_path(a, path, sizeof(path), "journal/%s", a->seg_name) != 0)
		return store_fail(why, why_len, "%s: the path is too long", a->dir);
	a->seg_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (a->seg_fd < 0 || write(a->seg_fd, ARCHIVE_SEG_MAGIC, 8) != 8)
		return store_fail(why, why_len, "%s: %s", path, strerror(errno));
	a->seg_bytes = 8;
	return 0;
}

int archive_append_batch(archive *a, uint64_t first, uint64_t last, const uint8_t *batch,
    size_t len, char *why, size_t why_len)
{
	assert(a->writing && last >= first);
	if (first != a->written_lsn + 1)
		return store_fail(why, why_len, "a batch of records %" PRIu64 "..%" PRIu64 " does not follow "
		    "record %" PRIu64 ", the last archived", first, last, a->written_lsn);
	if (len > ARCHIVE_FRAME_BYTES_MAX)
		return store_fail(why, why_len, "a batch of %zu bytes is over the archive's frame bound", len);
	if ((a->seg_fd < 0 || a->seg_bytes >= ARCHIVE_SEGMENT_BYTES_MAX) &&
	    roll_segment(a, first, why, why_len) != 0)
		return -1;
	if (write_frame(a->seg_fd, batch, len) != 0)
		return store_fail(why, why_len, "%s: %s", a->seg_name, strerror(errno));
	a->seg_bytes += ARCHIVE_FRAME_HEAD + len;
	a->written_lsn = last;
	return 0;
}

int archive_sync(archive *a, char *why, size_t why_len)
{
	assert(a->writing);
	if (a->seg_fd >= 0 && fsync(a->seg_fd) != 0)
		return store_fail(why, why_len, "%s: fsync: %s", a->seg_name, strerror(errno));
	if (a->pos.lsn == a->written_lsn && strcmp(a->pos.segment, a->seg_name) == 0 &&
	    a->pos.segment_bytes == a->seg_bytes)
		return 0;
	a->pos.lsn = a->written_lsn;
	snprintf(a->pos.segment, sizeof(a->pos.segment), "%s", a->seg_name);
	a->pos.segment_bytes = a->seg_bytes;
	return write_position(a, why, why_len);
}

/* ---- snapshots -------------------------------------------------------------- */

int archive_snap_begin(archive *a, uint64_t lsn, int64_t at_ms, char *why, size_t why_len)
{
	assert(a->writing && a->snap_fd < 0);
	snprintf(a->snap_name, sizeof(a->snap_name), "%020" PRIu64 "-%" PRId64 ".snap", lsn, at_ms);
	char tmp[ARCHIVE_PATH_MAX];
	if (archive_path(a, tmp, sizeof(tmp), "snap/%s.tmp", a->snap_name) != 0)
		return store_fail(why, why_len, "%s: the path is too long", a->dir);
	a->snap_fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (a->snap_fd < 0 || write(a->snap_fd, ARCHIVE_SNAP_MAGIC, 8) != 8) {
		archive_snap_abort(a);
		return store_fail(why, why_len, "%s: %s", tmp, strerror(errno));
	}
	a->snap_lsn = lsn;
	return 0;
}

int archive_snap_chunk(archive *a, const uint8_t *chunk, size_t len, char *why, size_t why_len)
{
	assert(a->snap_fd >= 0);
	if (len > ARCHIVE_FRAME_BYTES_MAX || write_frame(a->snap_fd, chunk, len) != 0)
		return store_fail(why, why_len, "snap/%s: %s", a->snap_name,
		    len > ARCHIVE_FRAME_BYTES_MAX ? "a chunk over the frame bound" : strerror(errno));
	return 0;
}

int archive_snap_end(archive *a, char *why, size_t why_len)
{
	assert(a->snap_fd >= 0);
	char tmp[ARCHIVE_PATH_MAX], path[ARCHIVE_PATH_MAX];
	archive_path(a, tmp, sizeof(tmp), "snap/%s.tmp", a->snap_name);
	archive_path(a, path, sizeof(path), "snap/%s", a->snap_name);
	bool ok = fsync(a->snap_fd) == 0;
	close(a->snap_fd);
	a->snap_fd = -1;
	if (!ok || rename(tmp, path) != 0)
		return store_fail(why, why_len, "%s: %s", path, strerror(errno));
	if (a->snap_lsn > a->pos.snap_lsn)
		a->pos.snap_lsn = a->snap_lsn;
	return write_position(a, why, why_len);
}

void archive_snap_abort(archive *a)
{
	if (a->snap_fd < 0)
		return;
	close(a->snap_fd);
	a->snap_fd = -1;
	char tmp[ARCHIVE_PATH_MAX];
	if (archive_path(a, tmp, sizeof(tmp), "snap/%s.tmp", a->snap_name) == 0)
		unlink(tmp);
}
