/*
 * fuzz_snapshot.c - a snapshot out of Redis, as recovery loads it.
 *
 * The input is a snapshot list as tests/golden/snapshot.msgpack holds one:
 * a MessagePack array of chunks, each a bin (or str). Input that does not
 * read so is one chunk. The chunks go to a snapshot_loader as
 * store_load_snapshot() feeds them, each from a copy freed right after the
 * call as the store frees its replies, and to a snapshot_reader as
 * `allot snapshot dump` reads them (store_read_snapshot()). The limits are
 * the golden history's (tests/golden/golden.h), so its snapshot, the seed,
 * loads.
 *
 * Checked: a snapshot refused says why: a message, never a crash; what the
 * loader takes, the reader takes too; a snapshot loaded gives a core whose
 * invariants hold and that survives a snapshot round trip, written in
 * chunks of a size taken from the input.
 */
#include "fuzz_core.h"

#include <string.h>

/* Chunks of one input: at most one per input byte. */
typedef struct chunks {
	const uint8_t **p;
	size_t *len;
	uint32_t n;
} chunks;

static void config(core_config *cfg)
{
	core_config_default(cfg);
	cfg->lines_max = 8;
	cfg->locations_max = 16;
	cfg->retain_ms = 1000;
	cfg->idempotency_max = 100;
	cfg->reservations_max = 1000;
}

/* The chunks of a snapshot list, or the whole input as one. */
static void split(const uint8_t *data, size_t size, chunks *out)
{
	mp_cursor cur;
	mp_cursor_init(&cur, data, size);
	uint32_t n = 0;
	out->p = fuzz_xmalloc(sizeof(*out->p) * (size + 1));
	out->len = fuzz_xmalloc(sizeof(*out->len) * (size + 1));
	out->n = 0;
	if (mp_read_array(&cur, &n) && n <= size) {
		for (uint32_t i = 0; i < n; i++) {
			const char *s;
			uint32_t len;
			if (!mp_read_str(&cur, &s, &len))
				break;
			out->p[out->n] = (const uint8_t *)s;
			out->len[out->n++] = len;
		}
		if (out->n == n && n > 0)
			return;
	}
	out->p[0] = data;
	out->len[0] = size;
	out->n = 1;
}

/* Load as recovery does: a core, or NULL with a reason. */
static core *load(const core_config *cfg, const chunks *ch, uint64_t *lsn)
{
	snapshot_loader *l = snapshot_loader_create(cfg);
	FUZZ_CHECK(l != NULL, "snapshot_loader_create: out of memory");
	const char *err = NULL;
	core *c = NULL;
	uint32_t i = 0;
	while (i < ch->n && fuzz_feed_copy(l, ch->p[i], ch->len[i], &err) == 0)
		i++;
	if (i == ch->n)
		c = snapshot_loader_finish(l, lsn, &err);
	FUZZ_CHECK(c != NULL || (err != NULL && err[0]), "a snapshot refused without a reason");
	if (fuzz_verbose())
		fprintf(stderr, "snapshot: %u chunks: %s\n", ch->n, c ? "loaded" : err);
	snapshot_loader_destroy(l);
	return c;
}

/* Read item by item as the dump tool does: true when every item reads. */
static bool read_items(const core_config *cfg, const chunks *ch)
{
	snapshot_reader *r = snapshot_reader_create(cfg);
	FUZZ_CHECK(r != NULL, "snapshot_reader_create: out of memory");
	const char *err = NULL;
	int rc = 0;
	uint8_t *copy = NULL;
	for (uint32_t i = 0; i < ch->n && rc == 0; i++) {
		free(copy);
		copy = fuzz_xmalloc(ch->len[i]);
		if (ch->len[i])
			memcpy(copy, ch->p[i], ch->len[i]);
		snapshot_reader_chunk(r, copy, ch->len[i]);
		snapshot_item it;
		while ((rc = snapshot_reader_next(r, &it, &err)) > 0)
			FUZZ_CHECK(it.kind >= SNAPSHOT_ITEM_HEADER && it.kind <= SNAPSHOT_ITEM_END,
			    "an item of kind %d", (int)it.kind);
	}
	if (rc == 0)
		rc = snapshot_reader_done(r, &err);
	FUZZ_CHECK(rc == 0 || (err != NULL && err[0]), "a snapshot unreadable without a reason");
	free(copy);
	snapshot_reader_destroy(r);
	return rc == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	core_config cfg;
	config(&cfg);
	chunks ch;
	split(data, size, &ch);
	uint64_t lsn = 0;
	core *c = load(&cfg, &ch, &lsn);
	bool readable = read_items(&cfg, &ch);
	if (c != NULL) {
		FUZZ_CHECK(readable, "the loader takes a snapshot the item reader refuses");
		fuzz_check_core(c, "after loading a snapshot");
		size_t chunk_bytes = 16 + (size_t)(size ? data[size - 1] : 0) * 4;
		fuzz_check_snapshot_roundtrip(c, lsn, chunk_bytes);
		core_destroy(c);
	}
	free(ch.p);
	free(ch.len);
	return 0;
}
