/*
 * fuzz_core.h - checks on a core that the harnesses driving one share:
 * its invariants, and that its state survives a snapshot exactly.
 */
#ifndef ALLOT_TESTS_FUZZ_CORE_H
#define ALLOT_TESTS_FUZZ_CORE_H

#include "core.h"
#include "fuzz.h"
#include "snapshot.h"

#include <string.h>

/* core_check() finds every invariant whole. */
static inline void fuzz_check_core(const core *c, const char *when)
{
	const char *broken = core_check(c);
	FUZZ_CHECK(broken == NULL, "%s: core_check: %s", when, broken);
}

/* core_dump() of c, malloc'd and NUL-terminated; its length in *len. */
static inline char *fuzz_dump(const core *c, size_t *len)
{
	size_t need = core_dump(c, NULL, 0);
	char *buf = fuzz_xmalloc(need + 1);
	size_t again = core_dump(c, buf, need + 1);
	FUZZ_CHECK(again == need, "core_dump needed %zu bytes, then %zu", need, again);
	*len = need;
	return buf;
}

typedef struct fuzz_feed {
	snapshot_loader *loader;
	const char *err;
} fuzz_feed;

/* Hand one chunk to the loader from a copy freed right after, as the
 * store's reply buffers are: the loader may keep nothing of a chunk. */
static inline int fuzz_feed_copy(snapshot_loader *l, const uint8_t *chunk, size_t len,
    const char **err)
{
	uint8_t *copy = fuzz_xmalloc(len);
	if (len)
		memcpy(copy, chunk, len);
	int rc = snapshot_loader_feed(l, copy, len, err);
	free(copy);
	return rc;
}

static inline int fuzz_feed_chunk(void *ctx, const uint8_t *chunk, size_t len)
{
	fuzz_feed *f = ctx;
	return fuzz_feed_copy(f->loader, chunk, len, &f->err);
}

/*
 * c written as a snapshot in chunks of chunk_bytes and loaded back the way
 * recovery loads one must give the same state (core_dump) at the same lsn,
 * and a core whose invariants hold.
 */
static inline void fuzz_check_snapshot_roundtrip(const core *c, uint64_t lsn, size_t chunk_bytes)
{
	fuzz_feed f = { .loader = snapshot_loader_create(core_get_config(c)), .err = NULL };
	FUZZ_CHECK(f.loader != NULL, "snapshot_loader_create: out of memory");
	const char *err = NULL;
	int rc = snapshot_write(c, lsn, chunk_bytes, fuzz_feed_chunk, &f, NULL, &err);
	FUZZ_CHECK(rc == 0, "a valid state's snapshot does not load: %s (%s)", f.err ? f.err : "-",
	    err ? err : "-");
	uint64_t back_lsn = 0;
	core *back = snapshot_loader_finish(f.loader, &back_lsn, &err);
	FUZZ_CHECK(back != NULL, "a valid state's snapshot does not load: %s", err ? err : "-");
	FUZZ_CHECK(back_lsn == lsn, "the snapshot says lsn %llu, not %llu",
	    (unsigned long long)back_lsn, (unsigned long long)lsn);
	fuzz_check_core(back, "after a snapshot round trip");
	size_t a_len, b_len;
	char *a = fuzz_dump(c, &a_len), *b = fuzz_dump(back, &b_len);
	FUZZ_CHECK(a_len == b_len && memcmp(a, b, a_len) == 0,
	    "the restored state differs:\n--- before\n%s--- restored\n%s", a, b);
	free(a);
	free(b);
	core_destroy(back);
	snapshot_loader_destroy(f.loader);
}

#endif
