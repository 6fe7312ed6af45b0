/*
 * test_archive.c - the archive on disk (engine/store/archive.h) and the
 * history read from it (history.h): records and snapshots come back as
 * written, a replay from a snapshot and from record 1 reach the same
 * state, a torn last frame is a write to redo while a damaged one is an
 * error, and a writer restarted cuts back to its last position.
 */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive.h"
#include "history.h"
#include "snapshot.h"

#define EPOCH 3
#define SEED 77

static char dir[128];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/allot-test-archive-%d", (int)getpid());
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

static void teardown(void)
{
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)!system(cmd);
}

TestSuite(archive, .init = setup, .fini = teardown);

static core_str S(const char *s)
{
	return (core_str){ s, (uint32_t)strlen(s) };
}

static archive *open_w(void)
{
	char why[300];
	archive_info info = { .ns = "t", .id_epoch = EPOCH, .hash_seed = SEED };
	archive *a = archive_open_write(dir, &info, why, sizeof(why));
	cr_assert_not_null(a, "%s", why);
	return a;
}

/* A batch of one stock.adjust of sku at lsn, appended. */
static void append_adjust(archive *a, uint64_t lsn, const char *sku, int64_t delta)
{
	core_cmd cmd = { .type = CORE_CMD_STOCK_ADJUST };
	cmd.u.stock = (core_stock_cmd){ .sku = S(sku), .location = S("W1"), .delta = delta,
		.reason = S("counted"), .safety = -1, .if_version = -1 };
	if (delta == 0) {
		cmd.type = CORE_CMD_STOCK_SET;
		cmd.u.stock.on_hand = 10;
	}
	durable_batch b;
	mp_buf_init(&b.buf);
	durable_batch_begin(&b, lsn);
	journal_encode_cmd(&b.buf, &cmd, 1000 + (int64_t)lsn, S("alice"));
	b.count++;
	durable_batch_end(&b);
	char why[300];
	cr_assert_eq(archive_append_batch(a, lsn, lsn, b.buf.data, b.buf.len, why, sizeof(why)), 0, "%s",
	    why);
	mp_buf_finish(&b.buf);
}

typedef struct seen {
	core *c;
	uint64_t n, last;
	char who[16];
} seen;

static int on_record(void *ctx, uint64_t lsn, const journal_entry *e, char *why, size_t why_len)
{
	seen *s = ctx;
	core_result res;
	core_error err;
	cr_assert_eq(history_apply(s->c, e, &res, &err), 0, "record %" PRIu64 ": %s", lsn, err.message);
	s->n++;
	s->last = lsn;
	snprintf(s->who, sizeof(s->who), "%.*s", (int)e->who.len, e->who.p);
	return 0;
}

/* Replay the archive from the start chosen for at_ms: the core (caller
 * destroys) and what was seen. */
static seen replay_from(int64_t at_ms, history_start *start)
{
	char why[300];
	history *h = history_open(NULL, NULL, dir, why, sizeof(why));
	cr_assert_not_null(h, "%s", why);
	core_config cfg;
	history_core_config(h, 0, &cfg);
	seen s = { 0 };
	cr_assert_eq(history_rebuild(h, at_ms, &cfg, &s.c, start, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(history_records(h, start->lsn, on_record, &s, why, sizeof(why)), 0, "%s", why);
	history_close(h);
	return s;
}

static int emit(void *ctx, const uint8_t *chunk, size_t len)
{
	char why[300];
	return archive_snap_chunk(ctx, chunk, len, why, sizeof(why));
}

/* Records 1..3, a snapshot at 3 taken at 2000 (from a core that replayed
 * them), then records 4..5. */
static void write_history(void)
{
	archive *a = open_w();
	append_adjust(a, 1, "A", 0);
	append_adjust(a, 2, "A", 5);
	append_adjust(a, 3, "A", -2);
	char why[300];
	cr_assert_eq(archive_sync(a, why, sizeof(why)), 0, "%s", why);
	archive_close(a);
	history_start st;
	seen s = replay_from(INT64_MIN, &st);
	a = open_w();
	const char *err = NULL;
	cr_assert_eq(archive_snap_begin(a, 3, 2000, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(snapshot_write(s.c, 3, 64, emit, a, NULL, &err), 0, "%s", err ? err : "");
	cr_assert_eq(archive_snap_end(a, why, sizeof(why)), 0, "%s", why);
	append_adjust(a, 4, "A", 1);
	append_adjust(a, 5, "B", 0);
	cr_assert_eq(archive_sync(a, why, sizeof(why)), 0, "%s", why);
	archive_close(a);
	core_destroy(s.c);
}

Test(archive, records_and_snapshots_come_back_and_both_starts_agree)
{
	write_history();
	history_start from_start, from_snap;
	seen a = replay_from(INT64_MIN, &from_start);
	seen b = replay_from(5000, &from_snap);
	cr_assert_eq(from_start.lsn, 0, "before every snapshot: record 1");
	cr_assert_eq(from_snap.lsn, 3, "at 5000: the snapshot taken at 2000");
	cr_assert_eq(a.n, 5);
	cr_assert_eq(b.n, 2);
	cr_assert_eq(a.last, 5);
	cr_assert_str_eq(a.who, "alice", "who comes back");
	static char da[1 << 16], db[1 << 16];
	core_dump(a.c, da, sizeof(da));
	core_dump(b.c, db, sizeof(db));
	cr_assert_str_eq(da, db, "a replay from a snapshot reaches the state of one from record 1");
	core_destroy(a.c);
	core_destroy(b.c);
}

static char *segment_path(char *buf, size_t len)
{
	snprintf(buf, len, "%s/journal/%020d.seg", dir, 1);
	return buf;
}

Test(archive, a_torn_last_frame_is_redone_and_a_restart_cuts_it_back)
{
	write_history();
	char path[256];
	int fd = open(segment_path(path, sizeof(path)), O_WRONLY | O_APPEND);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "\x40\0\0\0abc", 7), 7); /* a frame's head, torn */
	close(fd);
	history_start st;
	seen s = replay_from(INT64_MIN, &st);
	cr_assert_eq(s.n, 5, "the torn frame is not a record");
	core_destroy(s.c);
	archive *a = open_w(); /* cuts back to POSITION's bytes */
	cr_assert_eq(archive_get_position(a)->lsn, 5);
	append_adjust(a, 6, "A", 3);
	char why[300];
	cr_assert_eq(archive_sync(a, why, sizeof(why)), 0, "%s", why);
	archive_close(a);
	s = replay_from(INT64_MIN, &st);
	cr_assert_eq(s.n, 6, "the restarted writer went on after record 5");
	core_destroy(s.c);
}

Test(archive, a_damaged_frame_is_an_error)
{
	write_history();
	char path[256];
	int fd = open(segment_path(path, sizeof(path)), O_RDWR);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, "\xff", 1, 8 + 8 + 3), 1); /* inside the first batch */
	close(fd);
	char why[300];
	history *h = history_open(NULL, NULL, dir, why, sizeof(why));
	cr_assert_not_null(h, "%s", why);
	core_config cfg;
	history_core_config(h, 0, &cfg);
	history_start st;
	seen s = { 0 };
	cr_assert_eq(history_rebuild(h, INT64_MIN, &cfg, &s.c, &st, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(history_records(h, st.lsn, on_record, &s, why, sizeof(why)), -1);
	cr_assert(strstr(why, "checksum") != NULL, "the error says why: %s", why);
	core_destroy(s.c);
	history_close(h);
}

Test(archive, another_namespace_is_refused)
{
	archive_close(open_w());
	char why[300];
	archive_info other = { .ns = "u", .id_epoch = EPOCH, .hash_seed = SEED };
	cr_assert_null(archive_open_write(dir, &other, why, sizeof(why)));
	cr_assert(strstr(why, "namespace t") != NULL, "%s", why);
}
