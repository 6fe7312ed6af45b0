/*
 * fuzz_journal.c - journal batches and records, as recovery reads them.
 *
 * The input is a sequence of MessagePack values. One that reads as a
 * journal batch [first_lsn, [record, ...]] is read record by record with
 * durable_batch_read_next() under the record limits allotd replays with
 * (persist_config_default), as store_read_journal() reads a stream entry;
 * any other value is taken as one record. Each record is decoded
 * (journal_decode) and applied (replay_apply) to a core configured as
 * the golden history's (tests/golden/golden.h), so that the golden journal,
 * the seed, replays in full.
 *
 * Checked: a record refused says why; core_check() after every record;
 * and the encoder agrees with the decoder: every record that applies (and
 * every sweep) is encoded again (journal_encode_cmd, journal_encode_sweep),
 * must decode again, and is applied to a twin core, which must answer the
 * same and end in the same state (core_dump). At the end the state
 * survives a snapshot round trip (fuzz_core.h).
 */
#include "durable.h"
#include "fuzz_core.h"
#include "journal.h"
#include "replay.h"
#include "persist.h"

#include <string.h>

typedef struct twins {
	core *a, *b;           /* a: the records as given; b: as encoded again */
	journal_scratch sa, sb;
	mp_limits record_limits;
	mp_buf again;
	uint64_t decoded, applied;
} twins;

/* The golden history's configuration (tests/golden/golden.h): its journal
 * names reservations by ids made with this epoch. */
static core *make_core(void)
{
	core_config cfg;
	core_config_default(&cfg);
	cfg.lines_max = 8;
	cfg.locations_max = 16;
	cfg.retain_ms = 1000;
	cfg.id_epoch = 7;
	cfg.hash_seed = 0x5eedf00dULL;
	cfg.idempotency_max = 100;
	cfg.reservations_max = 1000;
	core *c = core_create(&cfg);
	FUZZ_CHECK(c != NULL, "core_create: out of memory");
	return c;
}

static journal_scratch make_scratch(const core *c)
{
	const core_config *cc = core_get_config(c);
	journal_scratch s = {
		.lines = fuzz_xmalloc(sizeof(core_line_req) * cc->lines_max), .lines_cap = cc->lines_max,
		.names = fuzz_xmalloc(sizeof(core_str) * cc->locations_max), .names_cap = cc->locations_max,
	};
	return s;
}

/* Encode e again, as the journal writer would have recorded it. */
static void encode_again(mp_buf *out, const journal_entry *e)
{
	mp_buf_reset(out);
	if (e->kind == JOURNAL_KIND_SWEEP)
		journal_encode_sweep(out, e->now_ms, e->forgot_reservations, e->forgot_keys);
	else
		journal_encode_cmd(out, &e->cmd, e->now_ms, e->who.p ? e->who : (core_str){ "-", 1 });
	FUZZ_CHECK(!mp_buf_failed(out), "encoding a record: out of memory");
}

/* One record written in durable format `format` (its batch's). */
static void one_record(twins *t, const uint8_t *rec, size_t len, uint32_t format)
{
	journal_entry e, e2;
	const char *err = NULL;
	if (journal_decode_format(rec, len, format, &e, &t->sa, &err) != 0) {
		FUZZ_CHECK(err != NULL && err[0], "a record refused without a reason");
		return;
	}
	t->decoded++;
	core_error ea, eb;
	int ra = replay_apply(t->a, &e, &ea);
	FUZZ_CHECK(ra == 0 || ea.message[0], "a record refused by the core without a message");
	fuzz_check_core(t->a, "after a journal record");
	/* The journal holds only commands that succeeded, and the encoder
	 * need not write back values the core refuses (a capacity of -5 goes
	 * out as "not given"): a refused command changes nothing but the
	 * clock (core_exec advances it first), so the twin only advances. A
	 * refused sweep has forgotten what there was: the twin takes it too. */
	if (ra != 0 && e.kind != JOURNAL_KIND_SWEEP) {
		core_advance(t->b, e.now_ms);
		return;
	}
	if (ra == 0)
		t->applied++;
	encode_again(&t->again, &e);
	err = NULL;
	int rc = journal_decode(t->again.data, t->again.len, &e2, &t->sb, &err);
	FUZZ_CHECK(rc == 0, "a record of kind %d applies, but does not decode once encoded again: %s",
	    (int)e.kind, err ? err : "-");
	FUZZ_CHECK(e2.kind == e.kind && e2.now_ms == e.now_ms, "kind %d at %lld came back as %d at %lld",
	    (int)e.kind, (long long)e.now_ms, (int)e2.kind, (long long)e2.now_ms);
	int rb = replay_apply(t->b, &e2, &eb);
	FUZZ_CHECK(ra == rb, "a record of kind %d applies with %d, encoded again with %d (%s / %s)",
	    (int)e.kind, ra, rb, ra ? ea.message : "-", rb ? eb.message : "-");
}

/* The records of one value: a batch's, or the value itself. */
static void one_value(twins *t, const uint8_t *v, size_t len)
{
	durable_batch_reader br;
	const char *err = NULL;
	if (durable_batch_read_begin(&br, v, len, &err) != 0) {
		size_t rec_len = 0;
		if (mp_scan(v, len, &t->record_limits, &rec_len, &err) == MP_OK && rec_len == len)
			one_record(t, v, len, DURABLE_FORMAT);
		return;
	}
	const uint8_t *rec;
	size_t rec_len;
	uint64_t lsn;
	int got;
	while ((got = durable_batch_read_next(&br, &t->record_limits, &rec, &rec_len, &lsn, &err)) == 1)
		one_record(t, rec, rec_len, br.format);
	FUZZ_CHECK(got == 0 || (err != NULL && err[0]), "a batch refused without a reason");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	persist_config pc;
	persist_config_default(&pc);
	twins t = { .a = make_core(), .b = make_core(), .record_limits = pc.record_limits };
	t.sa = make_scratch(t.a);
	t.sb = make_scratch(t.b);
	mp_buf_init(&t.again);
	/* A stream entry's value is a Redis string: any length, bounded
	 * only by the input here. */
	mp_limits entry = { .frame_bytes_max = SIZE_MAX, .depth_max = MP_DEPTH_HARD_MAX,
		.array_max = UINT32_MAX, .map_max = UINT32_MAX, .str_max = UINT32_MAX };
	size_t pos = 0, len = 0;
	while (pos < size && mp_scan(data + pos, size - pos, &entry, &len, NULL) == MP_OK) {
		one_value(&t, data + pos, len);
		pos += len;
	}
	if (fuzz_verbose())
		fprintf(stderr, "journal: %llu records decoded, %llu applied\n",
		    (unsigned long long)t.decoded, (unsigned long long)t.applied);
	fuzz_check_core(t.b, "the twin, at the end");
	size_t la, lb;
	char *da = fuzz_dump(t.a, &la), *db = fuzz_dump(t.b, &lb);
	FUZZ_CHECK(la == lb && memcmp(da, db, la) == 0,
	    "records encoded again give another state:\n--- as given\n%s--- encoded again\n%s", da, db);
	free(da);
	free(db);
	fuzz_check_snapshot_roundtrip(t.a, t.applied, 128);
	mp_buf_finish(&t.again);
	free(t.sa.lines);
	free(t.sa.names);
	free(t.sb.lines);
	free(t.sb.names);
	core_destroy(t.a);
	core_destroy(t.b);
	return 0;
}
