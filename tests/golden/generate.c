/*
 * generate.c - write the golden snapshot and journal (see golden.h and
 * README.md in this directory).
 *
 *   golden-generate DIR
 *
 * runs the script and writes DIR/meta.txt, DIR/snapshot.msgpack,
 * DIR/journal.msgpack, DIR/snapshot.dump and DIR/final.dump, in this
 * build's durable format: DIR is tests/golden/v3 (GOLDEN_CURRENT_SUBDIR);
 * the older formats' files stay as they were written. Exit status 0, or 1
 * with a message on stderr.
 */
#include "golden.h"

#include <errno.h>

static int write_file(const char *dir, const char *name, const void *p, size_t len)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite(p, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "golden-generate: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: golden-generate DIR\n");
		return 2;
	}
	golden g;
	if (golden_run(&g) != 0) {
		fprintf(stderr, "golden-generate: the script failed: %s\n", g.failed);
		golden_finish(&g);
		return 1;
	}
	char meta[1024];
	int meta_len = golden_meta_text(&g, meta, sizeof(meta));
	mp_buf snap, journal;
	mp_buf_init(&snap);
	mp_buf_init(&journal);
	golden_snapshot_file(&g, &snap);
	golden_journal_file(&g, &journal);
	int rc = 0;
	if (mp_buf_failed(&snap) || mp_buf_failed(&journal) || meta_len <= 0 ||
	    (size_t)meta_len >= sizeof(meta)) {
		fprintf(stderr, "golden-generate: out of memory\n");
		rc = 1;
	} else if (write_file(argv[1], GOLDEN_FILE_META, meta, (size_t)meta_len) != 0 ||
	    write_file(argv[1], GOLDEN_FILE_SNAPSHOT, snap.data, snap.len) != 0 ||
	    write_file(argv[1], GOLDEN_FILE_JOURNAL, journal.data, journal.len) != 0 ||
	    write_file(argv[1], GOLDEN_FILE_SNAPSHOT_DUMP, g.snapshot_dump, strlen(g.snapshot_dump)) != 0 ||
	    write_file(argv[1], GOLDEN_FILE_FINAL_DUMP, g.final_dump, strlen(g.final_dump)) != 0) {
		rc = 1;
	} else {
		printf("golden-generate: snapshot at lsn %llu in %u chunks, %llu records in %u journal entries\n",
		    (unsigned long long)g.snapshot_lsn, g.nchunks, (unsigned long long)g.lsn, g.nentries);
	}
	mp_buf_finish(&snap);
	mp_buf_finish(&journal);
	golden_finish(&g);
	return rc;
}
