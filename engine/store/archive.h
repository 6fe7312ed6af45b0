/*
 * archive.h - allot's history on disk: the journal's batches and the
 * snapshots, copied from Redis by `allot archive` into segment files of a
 * directory, in the versioned format docs/ARCHIVE.md describes. The one
 * writer and reader of that format; records read back through the same
 * batch decoder as Redis's (store_internal.h), so the archive and Redis
 * are read alike.
 *
 * Blocking file I/O; prints nothing (failures fill why).
 */
#ifndef ALLOT_ENGINE_ARCHIVE_H
#define ALLOT_ENGINE_ARCHIVE_H

#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The format of the files below; a reader refuses any other. */
#define ARCHIVE_FORMAT 1
/* A journal segment is closed and the next begun past this many bytes. */
#define ARCHIVE_SEGMENT_BYTES_MAX ((uint64_t)64 << 20)
/* The most segment and snapshot files an archive may hold (each listing
 * is bounded by it). */
#define ARCHIVE_FILES_MAX 100000
/* One frame (a batch or a snapshot chunk) at most: the record limits'
 * frame bound times the records a batch may hold is far more than any
 * batch allotd writes; this bounds what a reader allocates. */
#define ARCHIVE_FRAME_BYTES_MAX ((uint32_t)256 << 20)

typedef struct archive archive;

/* What the ARCHIVE file says: the namespace and its ids. */
typedef struct archive_info {
	char ns[DURABLE_NAMESPACE_MAX + 1];
	uint32_t id_epoch;
	uint64_t hash_seed;
} archive_info;

/* Where the copy stands (the POSITION file): every record up to lsn is
 * in the segments, and every snapshot up to snap_lsn. */
typedef struct archive_position {
	uint64_t lsn;
	uint64_t snap_lsn;
	char segment[64];       /* "" before the first batch */
	uint64_t segment_bytes; /* its bytes that hold whole frames */
} archive_position;

/*
 * Open dir for writing, creating it (and the ARCHIVE file from info) when
 * new; an existing archive of another namespace is refused. The current
 * segment is cut back to the position's bytes (a frame written after the
 * last position is dropped: it is copied again). NULL with why.
 */
archive *archive_open_write(const char *dir, const archive_info *info, char *why, size_t why_len);
/* Open dir for reading. NULL with why. */
archive *archive_open_read(const char *dir, char *why, size_t why_len);
void archive_close(archive *a); /* NULL is fine */

const archive_info *archive_get_info(const archive *a);
const archive_position *archive_get_position(const archive *a);
/* The last record appended (synced or not). */
uint64_t archive_written_lsn(const archive *a);

/* A new archive's journal starts after lsn (a snapshot at lsn is its
 * first): only while it holds no record. 0 or -1. */
int archive_start_at(archive *a, uint64_t lsn, char *why, size_t why_len);

/* Append one batch holding records first..last (first must follow the
 * position's lsn), rolling to a new segment when the current one is full.
 * The position moves only at archive_sync(). 0 or -1. */
int archive_append_batch(archive *a, uint64_t first, uint64_t last, const uint8_t *batch,
    size_t len, char *why, size_t why_len);
/* Make what was appended durable (fsync) and record the position. 0 or -1. */
int archive_sync(archive *a, char *why, size_t why_len);

/* Writing a snapshot: begin, chunks in order, end (renames it into place
 * and moves snap_lsn, durably). abort drops it. */
int archive_snap_begin(archive *a, uint64_t lsn, int64_t at_ms, char *why, size_t why_len);
int archive_snap_chunk(archive *a, const uint8_t *chunk, size_t len, char *why, size_t why_len);
int archive_snap_end(archive *a, char *why, size_t why_len);
void archive_snap_abort(archive *a);

/* The snapshots in the archive, oldest first (at most cap). 0 or -1. */
int archive_list_snaps(archive *a, store_snap *out, uint32_t cap, uint32_t *n, char *why,
    size_t why_len);
/* Load the snapshot of the listing (its key is its file name) into a new
 * core with cfg's limits. 0 with *out and *lsn, or -1. */
int archive_load_snapshot(archive *a, const store_snap *sn, const core_config *cfg, core **out,
    uint64_t *lsn, char *why, size_t why_len);
/* The first lsn the segments hold, 0 when none. */
uint64_t archive_first_lsn(archive *a);
/* The records after after_lsn, in order, as store_read_journal() gives
 * Redis's. 0 with *last, or -1. */
int archive_read_journal(archive *a, uint64_t after_lsn, const mp_limits *limits,
    const journal_scratch *scratch, store_record_fn fn, void *ctx, uint64_t *last, char *why,
    size_t why_len);

#endif
