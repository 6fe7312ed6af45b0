/*
 * archive_internal.h - what archive.c (the files, writing) and
 * archive_read.c (reading) share. Not for use outside engine/store/.
 */
#ifndef ALLOT_ENGINE_ARCHIVE_INTERNAL_H
#define ALLOT_ENGINE_ARCHIVE_INTERNAL_H

#include "archive.h"

#define ARCHIVE_PATH_MAX 4096
/* The first 8 bytes of a journal segment and of a snapshot file. */
#define ARCHIVE_SEG_MAGIC "ALLOTJ1\n"
#define ARCHIVE_SNAP_MAGIC "ALLOTS1\n"
/* A frame's head: its length and its checksum, each a little-endian u32. */
#define ARCHIVE_FRAME_HEAD 8

struct archive {
	char dir[ARCHIVE_PATH_MAX - 128];
	archive_info info;
	archive_position pos;
	bool writing;
	int seg_fd;              /* the segment being written */
	char seg_name[64];
	uint64_t seg_bytes;
	uint64_t written_lsn;    /* the last record appended */
	int snap_fd;             /* the snapshot being written */
	char snap_name[64];
	uint64_t snap_lsn;
};

/* FNV-1a of p, a frame's checksum. */
uint32_t archive_checksum(const uint8_t *p, size_t len);
/* dir/<fmt...> into buf. 0, or -1 when it does not fit. */
__attribute__((format(printf, 4, 5)))
int archive_path(const archive *a, char *buf, size_t len, const char *fmt, ...);

#endif
