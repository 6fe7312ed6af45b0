/*
 * test_golden.c - every build reads the golden snapshot and journal in
 * tests/golden/ into the same state, and still writes them byte for byte.
 *
 * The files are what a durable allotd keeps in Redis for the history in
 * tests/golden/golden.h (README.md there says how they are made and when
 * to regenerate them). Loading the snapshot must give snapshot.dump;
 * replaying the journal after it, or the whole journal from an empty
 * engine, must give final.dump. The records after the snapshot use every
 * record kind and the snapshot every item tag, status and key method, so a
 * renumbered kind or tag cannot pass unnoticed.
 *
 * Every format this build reads has its set: tests/golden/ (format 1),
 * tests/golden/v2/ (format 2) and tests/golden/v3/ (format 3, this
 * build's, which it must still write byte for byte). They hold the same
 * history up to the snapshot, so all load the same state there; formats 1
 * and 2 hold the same history after it too, and format 3's adds the
 * records of the kinds format 3 added (golden.h).
 */
#include <criterion/criterion.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "replay.h"

#ifndef GOLDEN_DIR
#error "GOLDEN_DIR must name tests/golden"
#endif

#define FILE_MAX (1u << 20)

/* The sets, by directory, oldest format first. */
static const char *const golden_dirs[] = { GOLDEN_DIR, GOLDEN_DIR "/v2", GOLDEN_DIR "/" GOLDEN_CURRENT_SUBDIR };
/* The sets before format 3 hold no record of the kinds it added. */
#define SETS_BEFORE_3 2

static bool kind_in_set(journal_kind k, size_t set)
{
	return set >= SETS_BEFORE_3 || k != JOURNAL_KIND_INBOUND_RECEIVE;
}
#define GOLDEN_SETS (sizeof(golden_dirs) / sizeof(golden_dirs[0]))
#define CURRENT_DIR golden_dirs[GOLDEN_SETS - 1]

/* A whole file of dir, NUL-terminated; the caller frees it. */
static char *slurp(const char *dir, const char *name, size_t *len)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "cannot open %s", path);
	char *buf = malloc(FILE_MAX + 1);
	cr_assert_not_null(buf);
	*len = fread(buf, 1, FILE_MAX, f);
	cr_assert(feof(f) && !ferror(f), "%s: unreadable or over %u bytes", path, FILE_MAX);
	fclose(f);
	buf[*len] = '\0';
	return buf;
}

/* ---- the files, as Redis would hand them out --------------------------------- */

typedef struct files {
	const char *dir;
	char *meta;
	uint64_t snapshot_lsn;
	char format[16];
	uint8_t *snap_file, *journal_file;
	const uint8_t *chunk[GOLDEN_CHUNKS_MAX];
	uint32_t chunk_len[GOLDEN_CHUNKS_MAX];
	uint32_t nchunks;
	const uint8_t *entry[GOLDEN_ENTRIES_MAX];
	uint32_t entry_len[GOLDEN_ENTRIES_MAX];
	uint64_t entry_id[GOLDEN_ENTRIES_MAX];
	uint32_t nentries;
} files;

/* The value of "field value" in meta.txt. */
static const char *meta_field(const char *meta, const char *field, char *out, size_t cap)
{
	size_t n = strlen(field);
	for (const char *line = meta; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (strncmp(line, field, n) == 0 && line[n] == ' ') {
			size_t len = strcspn(line + n + 1, "\n");
			cr_assert_lt(len, cap);
			memcpy(out, line + n + 1, len);
			out[len] = '\0';
			return out;
		}
	}
	cr_assert_fail("meta.txt has no field %s", field);
	return NULL;
}

static void read_files(files *f, const char *dir)
{
	size_t len;
	*f = (files){ .dir = dir };
	f->meta = slurp(dir, GOLDEN_FILE_META, &len);
	char v[64];
	f->snapshot_lsn = strtoull(meta_field(f->meta, DURABLE_META_SNAPSHOT_LSN, v, sizeof(v)), NULL, 10);
	meta_field(f->meta, DURABLE_META_FORMAT, f->format, sizeof(f->format));

	f->snap_file = (uint8_t *)slurp(dir, GOLDEN_FILE_SNAPSHOT, &len);
	mp_cursor c;
	mp_cursor_init(&c, f->snap_file, len);
	cr_assert(mp_read_array(&c, &f->nchunks) && f->nchunks > 1 && f->nchunks <= GOLDEN_CHUNKS_MAX);
	for (uint32_t i = 0; i < f->nchunks; i++)
		cr_assert(mp_read_str(&c, (const char **)&f->chunk[i], &f->chunk_len[i]), "chunk %u", i);
	cr_assert_eq(c.p, c.end, "bytes after the chunks");

	f->journal_file = (uint8_t *)slurp(dir, GOLDEN_FILE_JOURNAL, &len);
	mp_cursor_init(&c, f->journal_file, len);
	cr_assert(mp_read_array(&c, &f->nentries) && f->nentries > 1 && f->nentries <= GOLDEN_ENTRIES_MAX);
	for (uint32_t i = 0; i < f->nentries; i++) {
		uint32_t two, idlen;
		const char *id;
		cr_assert(mp_read_array(&c, &two) && two == 2 && mp_read_str(&c, &id, &idlen) &&
		    mp_read_str(&c, (const char **)&f->entry[i], &f->entry_len[i]), "entry %u", i);
		f->entry_id[i] = strtoull(id, NULL, 10);
	}
	cr_assert_eq(c.p, c.end, "bytes after the entries");
}

static void free_files(files *f)
{
	free(f->meta);
	free(f->snap_file);
	free(f->journal_file);
}

/* ---- loading and replaying ----------------------------------------------------- */

static char *dump_of(const core *c)
{
	char *d = golden_dump(c);
	cr_assert(d && d[0], "core_dump failed");
	return d;
}

static void expect_dump(const core *c, const char *dir, const char *file)
{
	size_t len;
	char *want = slurp(dir, file, &len);
	char *got = dump_of(c);
	cr_assert_str_eq(got, want, "the state differs from %s/%s:\n%s", dir, file, got);
	free(want);
	free(got);
}

static core *load_snapshot(const files *f)
{
	core_config cfg;
	golden_config(&cfg);
	snapshot_loader *l = snapshot_loader_create(&cfg);
	cr_assert_not_null(l);
	const char *err = NULL;
	for (uint32_t i = 0; i < f->nchunks; i++)
		cr_assert_eq(snapshot_loader_feed(l, f->chunk[i], f->chunk_len[i], &err), 0, "chunk %u: %s", i,
		    err);
	uint64_t lsn = 0;
	core *c = snapshot_loader_finish(l, &lsn, &err);
	cr_assert_not_null(c, "the golden snapshot does not load: %s", err);
	cr_assert_eq(lsn, f->snapshot_lsn, "the snapshot's lsn and meta's snapshot_lsn differ");
	snapshot_loader_destroy(l);
	return c;
}

/* Calls fn for every record after `after`, in order, checking that lsns go
 * on without a gap and that each entry's id is its last lsn. Returns the
 * last lsn. */
static uint64_t each_record(const files *f, uint64_t after,
    void (*fn)(void *ctx, uint64_t lsn, const journal_entry *e), void *ctx)
{
	core_line_req lines[GOLDEN_LINES_MAX];
	core_str names[GOLDEN_LOCATIONS_MAX];
	journal_scratch scratch = { lines, GOLDEN_LINES_MAX, names, GOLDEN_LOCATIONS_MAX };
	mp_limits lim = { 1 << 20, 4, 100000, 0, 4096 };
	uint64_t next = 1, last = after;
	for (uint32_t i = 0; i < f->nentries; i++) {
		durable_batch_reader br;
		const char *err = NULL;
		cr_assert_eq(durable_batch_read_begin(&br, f->entry[i], f->entry_len[i], &err), 0, "%s", err);
		cr_assert_eq(br.next_lsn, next, "entry %u starts at lsn %" PRIu64, i, br.next_lsn);
		const uint8_t *rec;
		size_t len;
		uint64_t lsn;
		int got;
		while ((got = durable_batch_read_next(&br, &lim, &rec, &len, &lsn, &err)) == 1) {
			next = lsn + 1;
			if (lsn <= after)
				continue;
			journal_entry e;
			cr_assert_eq(journal_decode_format(rec, len, br.format, &e, &scratch, &err), 0,
			    "%s: record %" PRIu64 ": %s", f->dir, lsn, err);
			fn(ctx, lsn, &e);
			last = lsn;
		}
		cr_assert_eq(got, 0, "entry %u: %s", i, err);
		cr_assert_eq(f->entry_id[i], next - 1, "entry %u's id is not its last lsn", i);
	}
	return last;
}

static void apply(void *ctx, uint64_t lsn, const journal_entry *e)
{
	core_error err;
	cr_assert_eq(replay_apply(ctx, e, &err), CORE_OK, "record %" PRIu64 " does not apply: %s", lsn,
	    err.message);
}

Test(golden, the_snapshot_loads_into_the_state_it_was_taken_at)
{
	for (size_t set = 0; set < GOLDEN_SETS; set++) {
		files f;
		read_files(&f, golden_dirs[set]);
		core *c = load_snapshot(&f);
		expect_dump(c, f.dir, GOLDEN_FILE_SNAPSHOT_DUMP);
		cr_assert_null(core_check(c));
		core_destroy(c);
		free_files(&f);
	}
}

Test(golden, the_journal_after_the_snapshot_replays_to_the_final_state)
{
	for (size_t set = 0; set < GOLDEN_SETS; set++) {
		files f;
		read_files(&f, golden_dirs[set]);
		core *c = load_snapshot(&f);
		uint64_t last = each_record(&f, f.snapshot_lsn, apply, c);
		cr_assert_gt(last, f.snapshot_lsn);
		expect_dump(c, f.dir, GOLDEN_FILE_FINAL_DUMP);
		cr_assert_null(core_check(c));
		core_destroy(c);
		free_files(&f);
	}
}

Test(golden, the_whole_journal_replays_from_empty_to_the_final_state)
{
	for (size_t set = 0; set < GOLDEN_SETS; set++) {
		files f;
		read_files(&f, golden_dirs[set]);
		core_config cfg;
		golden_config(&cfg);
		char v[32];
		cfg.id_epoch = (uint32_t)strtoul(meta_field(f.meta, DURABLE_META_ID_EPOCH, v, sizeof(v)), NULL, 10);
		cfg.hash_seed = strtoull(meta_field(f.meta, DURABLE_META_HASH_SEED, v, sizeof(v)), NULL, 10);
		core *c = core_create(&cfg);
		cr_assert_not_null(c);
		each_record(&f, 0, apply, c);
		expect_dump(c, f.dir, GOLDEN_FILE_FINAL_DUMP);
		core_destroy(c);
		free_files(&f);
	}
}

/* Every format's set holds the same history up to the snapshot, and those
 * before format 3 after it too: the same states. */
Test(golden, every_format_rebuilds_the_same_states)
{
	const char *dumps[] = { GOLDEN_FILE_SNAPSHOT_DUMP, GOLDEN_FILE_FINAL_DUMP };
	for (size_t i = 0; i < 2; i++) {
		size_t len;
		char *oldest = slurp(golden_dirs[0], dumps[i], &len);
		for (size_t set = 1; set < (i == 0 ? GOLDEN_SETS : SETS_BEFORE_3); set++) {
			char *other = slurp(golden_dirs[set], dumps[i], &len);
			cr_assert_str_eq(other, oldest, "%s/%s differs from %s's", golden_dirs[set], dumps[i],
			    golden_dirs[0]);
			free(other);
		}
		free(oldest);
	}
}

/* ---- coverage ------------------------------------------------------------------ */

typedef struct seen_records {
	uint32_t kinds[JOURNAL_KIND_MAX + 1];
	uint32_t with_who, without_who, sweeps_with_who;
} seen_records;

static void count_kind(void *ctx, uint64_t lsn, const journal_entry *e)
{
	seen_records *seen = ctx;
	cr_assert_leq(e->kind, JOURNAL_KIND_MAX);
	seen->kinds[e->kind]++;
	if (e->kind == JOURNAL_KIND_SWEEP)
		seen->sweeps_with_who += e->who.p != NULL;
	else if (e->who.p)
		seen->with_who++;
	else
		seen->without_who++;
}

Test(golden, the_records_after_the_snapshot_use_every_record_kind)
{
	for (size_t set = 0; set < GOLDEN_SETS; set++) {
		files f;
		read_files(&f, golden_dirs[set]);
		seen_records seen = { { 0 }, 0, 0, 0 };
		each_record(&f, f.snapshot_lsn, count_kind, &seen);
		uint32_t kinds = 0, later = 0;
		for (uint32_t k = 0; k <= JOURNAL_KIND_MAX; k++) {
			if (journal_kind_name((journal_kind)k) == NULL)
				continue;
			if (!kind_in_set((journal_kind)k, set)) {
				later++;
				cr_assert_eq(seen.kinds[k], 0, "%s: a %s record in a format before it", f.dir,
				    journal_kind_name((journal_kind)k));
				continue;
			}
			kinds++;
			cr_assert_gt(seen.kinds[k], 0, "%s: no %s record after the golden snapshot", f.dir,
			    journal_kind_name((journal_kind)k));
			core_cmd_type t;
			if (journal_cmd_of_kind((journal_kind)k, &t))
				cr_assert_eq(journal_kind_of_cmd(t), (journal_kind)k, "kind %u does not map back", k);
		}
		cr_assert_eq(kinds + later, CORE_CMD_LAST + 1, "every command and the sweep");
		free_files(&f);
	}
}

static void expect_who(void *ctx, uint64_t lsn, const journal_entry *e)
{
	if (e->kind == JOURNAL_KIND_SWEEP)
		return;
	core_cmd_type t = e->cmd.type;
	core_str want = golden_who(t);
	cr_assert(e->who.len == want.len && memcmp(e->who.p, want.p, want.len) == 0,
	    "record %" PRIu64 " (%s) names %.*s, not %.*s", lsn, journal_kind_name(e->kind),
	    (int)e->who.len, e->who.p ? e->who.p : "", (int)want.len, want.p);
}

/* Format 1 records name nobody; format 2's name who made every command,
 * and the sweep, the engine's own, nobody. */
Test(golden, format_2_records_name_who_made_each_change)
{
	for (size_t set = 0; set < GOLDEN_SETS; set++) {
		files f;
		read_files(&f, golden_dirs[set]);
		seen_records seen = { { 0 }, 0, 0, 0 };
		each_record(&f, 0, count_kind, &seen);
		cr_assert_eq(seen.sweeps_with_who, 0, "%s: a sweep names someone", f.dir);
		if (set == 0) {
			cr_assert(seen.with_who == 0 && seen.without_who > 0, "format 1 has no who");
		} else {
			cr_assert(seen.without_who == 0 && seen.with_who > 0, "%s: a command without who", f.dir);
			each_record(&f, 0, expect_who, NULL);
		}
		free_files(&f);
	}
}

Test(golden, the_snapshot_uses_every_item_tag_status_and_key_method)
{
	for (size_t set = 0; set < GOLDEN_SETS; set++) {
		files f;
		read_files(&f, golden_dirs[set]);
		core_config cfg;
		golden_config(&cfg);
		snapshot_reader *r = snapshot_reader_create(&cfg);
		uint32_t kinds[CORE_SNAP_CHANNEL + 1] = { 0 }, statuses[CORE_RESV_EXPIRED + 1] = { 0 };
		uint32_t reserve_keys = 0, adjust_keys = 0, headers = 0, ends = 0;
		for (uint32_t i = 0; i < f.nchunks; i++) {
			snapshot_reader_chunk(r, f.chunk[i], f.chunk_len[i]);
			snapshot_item it;
			const char *err = NULL;
			int rc;
			while ((rc = snapshot_reader_next(r, &it, &err)) > 0) {
				headers += it.kind == SNAPSHOT_ITEM_HEADER;
				ends += it.kind == SNAPSHOT_ITEM_END;
				if (it.kind != SNAPSHOT_ITEM_CORE)
					continue;
				cr_assert_leq(it.core.kind, CORE_SNAP_CHANNEL);
				kinds[it.core.kind]++;
				if (it.core.kind == CORE_SNAP_RESERVATION)
					statuses[it.core.u.resv.status]++;
				if (it.core.kind == CORE_SNAP_KEY) {
					reserve_keys += it.core.u.key.method == CORE_SNAP_KEY_RESERVE;
					adjust_keys += it.core.u.key.method == CORE_SNAP_KEY_ADJUST;
				}
			}
			cr_assert_eq(rc, 0, "chunk %u: %s", i, err);
		}
		cr_assert(headers == 1 && ends == 1);
		for (uint32_t k = CORE_SNAP_LOCATION; k <= CORE_SNAP_CHANNEL; k++)
			cr_assert_gt(kinds[k], 0, "no item of core kind %u in the golden snapshot", k);
		for (uint32_t st = CORE_RESV_HELD; st <= CORE_RESV_EXPIRED; st++)
			cr_assert_gt(statuses[st], 0, "no %s reservation in the golden snapshot",
			    core_resv_status_name((core_resv_status)st));
		cr_assert(reserve_keys > 0 && adjust_keys > 0, "both key methods");
		snapshot_reader_destroy(r);
		free_files(&f);
	}
}

/* ---- the format version --------------------------------------------------------- */

Test(golden, meta_names_a_format_this_build_reads_and_others_are_refused)
{
	for (size_t set = 0; set < GOLDEN_SETS; set++) {
		files f;
		read_files(&f, golden_dirs[set]);
		char why[300];
		uint32_t format = 0;
		cr_assert_eq(durable_format_parse("golden", f.format, strlen(f.format), &format, why,
		    sizeof(why)), 0, "this build refuses the golden format of %s: %s", f.dir, why);
		cr_assert_eq(format, (uint32_t)(DURABLE_FORMAT_OLDEST + set), "%s: its format", f.dir);
		free_files(&f);
	}
	char why[300];
	char newer[16], want[64];
	int n = snprintf(newer, sizeof(newer), "%d", DURABLE_FORMAT + 1);
	cr_assert_eq(durable_format_check("golden", newer, (size_t)n, why, sizeof(why)), -1);
	snprintf(want, sizeof(want), "format %d", DURABLE_FORMAT + 1);
	cr_assert(strstr(why, want) != NULL, "the message names the namespace's format: %s", why);
	snprintf(want, sizeof(want), "reads format %d to %d", DURABLE_FORMAT_OLDEST, DURABLE_FORMAT);
	cr_assert(strstr(why, want) != NULL, "the message names this build's formats: %s", why);
	cr_assert(strstr(why, "golden") != NULL, "the message names the namespace: %s", why);
	cr_assert_eq(durable_format_check("golden", "0", 1, why, sizeof(why)), -1);
	cr_assert_eq(durable_format_check("golden", "x1", 2, why, sizeof(why)), -1);
	cr_assert_eq(durable_format_check("golden", "", 0, why, sizeof(why)), -1);
}

/* ---- writing ----------------------------------------------------------------------- */

static void expect_bytes(const char *file, const void *p, size_t len)
{
	size_t have;
	char *want = slurp(CURRENT_DIR, file, &have);
	cr_assert(have == len && memcmp(want, p, len) == 0,
	    "this build writes %s/%s differently (%zu bytes, the file has %zu): the on-Redis "
	    "format changed; see tests/golden/README.md", CURRENT_DIR, file, len, have);
	free(want);
}

Test(golden, this_build_writes_its_formats_golden_files_byte_for_byte)
{
	golden g;
	cr_assert_eq(golden_run(&g), 0, "the golden script fails: %s", g.failed);
	mp_buf snap, journal;
	mp_buf_init(&snap);
	mp_buf_init(&journal);
	golden_snapshot_file(&g, &snap);
	golden_journal_file(&g, &journal);
	char meta[1024];
	int meta_len = golden_meta_text(&g, meta, sizeof(meta));
	cr_assert(!mp_buf_failed(&snap) && !mp_buf_failed(&journal) && meta_len > 0);
	expect_bytes(GOLDEN_FILE_META, meta, (size_t)meta_len);
	expect_bytes(GOLDEN_FILE_SNAPSHOT, snap.data, snap.len);
	expect_bytes(GOLDEN_FILE_JOURNAL, journal.data, journal.len);
	expect_bytes(GOLDEN_FILE_SNAPSHOT_DUMP, g.snapshot_dump, strlen(g.snapshot_dump));
	expect_bytes(GOLDEN_FILE_FINAL_DUMP, g.final_dump, strlen(g.final_dump));
	mp_buf_finish(&snap);
	mp_buf_finish(&journal);
	golden_finish(&g);
}
