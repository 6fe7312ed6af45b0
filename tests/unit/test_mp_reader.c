/*
 * test_mp_reader.c - unit tests for the resumable side of proto/mp.c's
 * reader: a frame fed at every split and in random chunks gives what one
 * call on the whole gives, at every step; the reader keeps its place
 * instead of walking the frame again (its count of headers examined proves
 * it); pipelined frames come out one by one from a buffer that moves;
 * errors are sticky until a reset.
 *
 * Every prefix is handed over in a fresh exact-size malloc'ed copy, so the
 * reader cannot keep a pointer into an earlier buffer, and ASan or
 * valgrind flag any overread.
 */
#include <inttypes.h>

#include "test_mp.h"

/* A frame of many small values: [0, 1, 2, ... 999]. */
#define MANY 1000

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* Headers a fresh reader examines to walk buf[0..len) in one call. */
static uint64_t one_shot_headers(const uint8_t *buf, size_t len, const mp_limits *lim)
{
	mp_reader r;
	size_t n = 0;

	mp_reader_init(&r, lim);
	cr_assert_eq(mp_reader_next(&r, buf, len, &n, NULL), MP_OK);
	cr_assert_eq(n, len);
	return r.headers;
}

/*
 * Feed src[0..len) to r in growing prefixes ending at ends[0..nends) (the
 * last one len), each in a new exact-size copy, and check every answer
 * against a one-shot mp_scan of the same prefix: same status, same message,
 * same frame length. While the frame is incomplete the saved offset never
 * goes back and never passes the bytes given. Returns the last status;
 * *calls counts the calls made before the frame ended or failed.
 */
static int feed(mp_reader *r, const uint8_t *src, size_t len, const size_t *ends,
    size_t nends, size_t *frame_len, size_t *calls)
{
	size_t last_pos = 0;
	int rc = MP_INCOMPLETE;

	*calls = 0;
	for (size_t i = 0; i < nends && rc == MP_INCOMPLETE; i++) {
		size_t e = ends[i];
		uint8_t *copy = dup_exact(src, e);
		const char *why = "unset", *why1 = "unset";
		size_t fl = SIZE_MAX, fl1 = SIZE_MAX;
		int rc1;

		cr_assert_leq(e, len);
		rc = mp_reader_next(r, copy, e, &fl, &why);
		rc1 = mp_scan(copy, e, &r->lim, &fl1, &why1);
		(*calls)++;
		if (rc != rc1)
			cr_assert_fail("at %zu of %zu bytes: reader %d, one-shot %d", e, len, rc, rc1);
		if (rc < 0)
			cr_assert_str_eq(why, why1, "at %zu of %zu bytes", e, len);
		else
			cr_assert_null(why, "at %zu of %zu bytes", e, len);
		if (rc == MP_OK) {
			cr_assert_eq(fl, fl1);
			*frame_len = fl;
			cr_assert_eq(r->pos, 0, "ready for the next frame");
			cr_assert_eq(r->depth, 0);
		} else if (rc == MP_INCOMPLETE) {
			cr_assert_eq(fl, SIZE_MAX, "frame_len set on INCOMPLETE");
			if (r->pos < last_pos || r->pos > e)
				cr_assert_fail("offset %zu after %zu, with %zu bytes", r->pos,
				    last_pos, e);
			last_pos = r->pos;
		}
		free(copy);
	}
	return rc;
}

/* Random increasing chunk ends over [0, len], the last one len. */
static size_t random_ends(uint64_t *seed, size_t len, size_t *ends, size_t cap)
{
	size_t n = 0, at = 0;

	while (at < len && n + 1 < cap) {
		uint64_t x = xorshift(seed);
		/* Mostly small steps, sometimes none, now and then a leap. */
		size_t step = (x & 15) == 0 ? 0 : (x & 63) == 1 ? (size_t)(x >> 8) % (len / 4 + 1) :
		    1 + (size_t)(x >> 8) % 7;
		at = at + step > len ? len : at + step;
		ends[n++] = at;
	}
	if (n == 0 || ends[n - 1] != len)
		ends[n++] = len;
	return n;
}

static void pack_many(msgpack_packer *pk)
{
	msgpack_pack_array(pk, MANY);
	for (int i = 0; i < MANY; i++)
		msgpack_pack_int(pk, i % 128);
}

/* A frame with every kind of thing in it: nesting, long payloads, ext. */
static void pack_mixed(msgpack_packer *pk)
{
	static char body[3000];

	memset(body, 'q', sizeof body);
	msgpack_pack_map(pk, 3);
	pack_cstr(pk, "nested");
	msgpack_pack_array(pk, 2);
	msgpack_pack_array(pk, 1);
	msgpack_pack_map(pk, 1);
	msgpack_pack_nil(pk);
	msgpack_pack_array(pk, 0);
	msgpack_pack_double(pk, -2.5);
	pack_cstr(pk, "long");
	msgpack_pack_str_with_body(pk, body, sizeof body);
	msgpack_pack_bin_with_body(pk, body, 300);
	msgpack_pack_ext_with_body(pk, body, 70, 3);
}

typedef void pack_fn(msgpack_packer *pk);

/* ------------------------------------------------------------------------
 * 1. Any chunking gives the one-shot answer
 * --------------------------------------------------------------------- */

Test(mp_reader, a_frame_split_at_every_byte_gives_the_one_shot_result)
{
	pack_fn *const frames[] = { pack_reserve, pack_release, pack_mixed, pack_many };
	packer p;

	packer_init(&p);
	for (size_t f = 0; f < sizeof frames / sizeof frames[0]; f++, packer_clear(&p)) {
		const uint8_t *src;
		size_t n;

		frames[f](&p.pk);
		src = (const uint8_t *)p.sb.data;
		n = p.sb.size;
		for (size_t cut = 0; cut <= n; cut++) {
			size_t ends[2] = { cut, n };
			size_t fl = 0, calls;
			mp_reader r;

			mp_reader_init(&r, &LOOSE);
			cr_assert_eq(feed(&r, src, n, ends, 2, &fl, &calls), MP_OK,
			    "frame %zu split at %zu", f, cut);
			cr_assert_eq(fl, n);
		}
	}
	packer_destroy(&p);
}

Test(mp_reader, random_chunkings_give_the_one_shot_result)
{
	pack_fn *const frames[] = { pack_reserve, pack_mixed, pack_many };
	uint64_t seed = UINT64_C(0x2545f4914f6cdd1d);
	static size_t ends[8192];
	packer p;

	packer_init(&p);
	for (size_t f = 0; f < sizeof frames / sizeof frames[0]; f++, packer_clear(&p)) {
		frames[f](&p.pk);
		for (int trial = 0; trial < 200; trial++) {
			size_t n = p.sb.size, fl = 0, calls;
			size_t k = random_ends(&seed, n, ends, sizeof ends / sizeof ends[0]);
			mp_reader r;

			mp_reader_init(&r, &RPC);
			cr_assert_eq(feed(&r, (const uint8_t *)p.sb.data, n, ends, k, &fl, &calls),
			    MP_OK, "frame %zu trial %d", f, trial);
			cr_assert_eq(fl, n);
		}
	}
	packer_destroy(&p);
}

/* ------------------------------------------------------------------------
 * 2. It keeps its place instead of walking again
 * --------------------------------------------------------------------- */

/*
 * A call examines the header it stopped at last time (its bytes or its
 * payload may have been missing) and then only headers it has not seen:
 * over a whole frame, headers examined <= the frame's values + calls. A
 * scanner that walked again from the frame's first byte on every call
 * would examine about values * calls / 2 here: 500,000 against 2,000.
 */
Test(mp_reader, one_byte_at_a_time_examines_each_header_about_once)
{
	pack_fn *const frames[] = { pack_many, pack_mixed, pack_reserve };
	static size_t ends[8192];
	packer p;

	packer_init(&p);
	for (size_t f = 0; f < sizeof frames / sizeof frames[0]; f++, packer_clear(&p)) {
		const uint8_t *src;
		size_t n, fl = 0, calls;
		uint64_t values;
		mp_reader r;

		frames[f](&p.pk);
		src = (const uint8_t *)p.sb.data;
		n = p.sb.size;
		cr_assert_lt(n, sizeof ends / sizeof ends[0]);
		values = one_shot_headers(src, n, &LOOSE);
		for (size_t i = 0; i < n; i++)
			ends[i] = i + 1;

		mp_reader_init(&r, &LOOSE);
		cr_assert_eq(feed(&r, src, n, ends, n, &fl, &calls), MP_OK);
		cr_assert_eq(calls, n);
		cr_assert_leq(r.headers, values + calls, "frame %zu: %" PRIu64
		    " headers examined for %" PRIu64 " values in %zu calls", f, r.headers,
		    values, calls);
	}
	cr_assert_eq(one_shot_headers((const uint8_t *)"\x91\x01", 2, &LOOSE), 2);
	packer_destroy(&p);
}

Test(mp_reader, a_long_string_arriving_in_pieces_is_not_walked_again)
{
	/* ["ab", <str32 of 100000>]: while the payload arrives, the reader
	 * stays at the string's header and every call looks at it alone. */
	enum { LONG = 100000 };
	uint8_t *src = malloc(LONG + 16);
	size_t n = 0, fl = 0;
	mp_reader r;

	cr_assert_not_null(src);
	src[n++] = 0x92;
	src[n++] = 0xa2;
	src[n++] = 'a';
	src[n++] = 'b';
	src[n++] = 0xdb;
	src[n++] = 0;
	src[n++] = (uint8_t)(LONG >> 16);
	src[n++] = (uint8_t)(LONG >> 8);
	src[n++] = (uint8_t)LONG;
	memset(src + n, 'z', LONG);
	n += LONG;

	mp_reader_init(&r, &LOOSE);
	cr_assert_eq(mp_reader_next(&r, src, 9, &fl, NULL), MP_INCOMPLETE);
	cr_assert_eq(r.pos, 4, "stopped at the long string's header");
	cr_assert_eq(r.headers, 3);
	for (size_t have = 9 + 1000; have < n; have += 1000) {
		cr_assert_eq(mp_reader_next(&r, src, have, &fl, NULL), MP_INCOMPLETE);
		cr_assert_eq(r.pos, 4);
	}
	/* 3, then one look at the string's header per call: 99 calls. */
	cr_assert_eq(r.headers, 3 + 99);
	cr_assert_eq(mp_reader_next(&r, src, n, &fl, NULL), MP_OK);
	cr_assert_eq(fl, n);
	cr_assert_eq(r.headers, 3 + 99 + 1);
	free(src);
}

/* ------------------------------------------------------------------------
 * 3. Pipelined frames from a buffer that moves
 * --------------------------------------------------------------------- */

/*
 * What a connection does: bytes arrive in random chunks at the end of its
 * buffer; whole frames are taken off the front; what is left is moved to
 * the start of a new buffer. The reader sees the same frame bytes at a new
 * address each time and still never walks them again.
 */
Test(mp_reader, pipelined_frames_come_out_in_order_from_a_buffer_that_moves)
{
	pack_fn *const frames[] = { pack_reserve, pack_release, pack_many, pack_mixed,
		pack_release, pack_reserve };
	enum { NF = sizeof frames / sizeof frames[0] };
	uint64_t seed = 12345;
	size_t want[NF];
	packer p;

	packer_init(&p);
	for (size_t f = 0; f < NF; f++) {
		size_t before = p.sb.size;

		frames[f](&p.pk);
		want[f] = p.sb.size - before;
	}
	for (int trial = 0; trial < 100; trial++) {
		const uint8_t *all = (const uint8_t *)p.sb.data;
		size_t total = p.sb.size, arrived = 0, consumed = 0, got = 0;
		uint8_t *buf = dup_exact("", 0);
		mp_reader r;

		mp_reader_init(&r, &RPC);
		while (got < NF) {
			uint64_t x = xorshift(&seed);
			size_t step = 1 + (size_t)(x % 200);
			size_t fl = 0;
			int rc;

			arrived = arrived + step > total ? total : arrived + step;
			free(buf);
			buf = dup_exact(all + consumed, arrived - consumed);
			while ((rc = mp_reader_next(&r, buf, arrived - consumed, &fl, NULL)) == MP_OK) {
				cr_assert_lt(got, NF);
				cr_assert_eq(fl, want[got], "trial %d frame %zu", trial, got);
				cr_assert_eq(r.pos, 0);
				consumed += fl;
				got++;
				/* The rest moves to the front of a new buffer. */
				uint8_t *rest = dup_exact(buf + fl, arrived - consumed);
				free(buf);
				buf = rest;
			}
			cr_assert_eq(rc, MP_INCOMPLETE);
			cr_assert(got == NF || arrived < total, "trial %d: bytes left over", trial);
		}
		cr_assert_eq(consumed, total);
		free(buf);
	}
	packer_destroy(&p);
}

/* ------------------------------------------------------------------------
 * 4. Errors
 * --------------------------------------------------------------------- */

Test(mp_reader, errors_are_sticky_until_reset_and_reset_keeps_the_limits)
{
	static const uint8_t bad[] = { 0x92, 0x01, 0xc1, 0x01 };
	static const uint8_t deep[] = { 0x91, 0x91, 0x91 };
	static const uint8_t good[] = { 0x92, 0x01, 0x02 };
	mp_limits shallow = RPC;
	const char *why = NULL;
	size_t fl = 77;
	mp_reader r;

	mp_reader_init(&r, &RPC);
	cr_assert_eq(mp_reader_next(&r, bad, 2, &fl, &why), MP_INCOMPLETE);
	cr_assert_null(why);
	cr_assert_eq(mp_reader_next(&r, bad, 3, &fl, &why), MP_ERR_MALFORMED);
	cr_assert_str_eq(why, "invalid MessagePack byte 0xc1");
	/* More bytes, even good ones, change nothing. */
	why = NULL;
	cr_assert_eq(mp_reader_next(&r, bad, 4, &fl, &why), MP_ERR_MALFORMED);
	cr_assert_str_eq(why, "invalid MessagePack byte 0xc1");
	cr_assert_eq(mp_reader_next(&r, good, 3, &fl, NULL), MP_ERR_MALFORMED);
	cr_assert_eq(fl, 77, "frame_len untouched on errors");

	mp_reader_reset(&r);
	cr_assert_eq(mp_reader_next(&r, good, 3, &fl, &why), MP_OK);
	cr_assert_null(why);
	cr_assert_eq(fl, 3);

	/* The limits survive a reset. */
	shallow.depth_max = 2;
	mp_reader_init(&r, &shallow);
	cr_assert_eq(mp_reader_next(&r, deep, 2, &fl, NULL), MP_INCOMPLETE);
	cr_assert_eq(mp_reader_next(&r, deep, 3, &fl, &why), MP_ERR_TOO_LARGE);
	cr_assert_str_eq(why, "nesting deeper than the limit");
	mp_reader_reset(&r);
	cr_assert_eq(mp_reader_next(&r, deep, 3, &fl, &why), MP_ERR_TOO_LARGE);
	cr_assert_str_eq(why, "nesting deeper than the limit");
}

Test(mp_reader, init_copies_the_limits_and_caps_the_depth)
{
	mp_limits lim = RPC;
	static const uint8_t s5[] = { 0xa5, 'h', 'e', 'l', 'l', 'o' };
	size_t fl = 0;
	mp_reader r;

	lim.depth_max = 1000;
	lim.str_max = 5;
	mp_reader_init(&r, &lim);
	cr_assert_eq(r.lim.depth_max, MP_DEPTH_HARD_MAX);
	/* Changing the caller's copy afterwards changes nothing. */
	lim.str_max = 1;
	cr_assert_eq(mp_reader_next(&r, s5, sizeof s5, &fl, NULL), MP_OK);
	cr_assert_eq(fl, sizeof s5);
}

/*
 * Hostile headers, each fed one byte at a time: the reader refuses at the
 * same byte, with the same message, as one call on that prefix does.
 */
Test(mp_reader, hostile_headers_are_refused_at_the_same_byte_fed_piecewise)
{
	static const struct {
		uint8_t bytes[12];
		size_t len;
		const char *why;
	} cases[] = {
		{ { 0x94, 0x00, 0x01, 0xdd, 0xff, 0xff, 0xff, 0xff }, 8, "array longer than the limit" },
		{ { 0x91, 0xdf, 0xff, 0xff, 0xff, 0xff }, 6, "map longer than the limit" },
		{ { 0x92, 0xa1, 'x', 0xdb, 0x00, 0x20, 0x00, 0x00 }, 8, "string longer than the limit" },
		{ { 0x91, 0xc6, 0x00, 0x01, 0x00, 0x01 }, 6, "bin longer than the limit" },
		{ { 0x91, 0xc9, 0x00, 0x01, 0x00, 0x01, 0x01 }, 7, "ext longer than the limit" },
		{ { 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91 }, 11,
		    "nesting deeper than the limit" },
		{ { 0x93, 0x01, 0x02, 0xc1 }, 4, "invalid MessagePack byte 0xc1" },
	};
	mp_limits lim = RPC;

	lim.depth_max = 10;
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		size_t ends[16], fl = 0, calls;
		mp_reader r;
		int rc;

		for (size_t i = 0; i < cases[k].len; i++)
			ends[i] = i + 1;
		mp_reader_init(&r, &lim);
		rc = feed(&r, cases[k].bytes, cases[k].len, ends, cases[k].len, &fl, &calls);
		cr_assert_lt(rc, 0, "case %zu", k);
		cr_assert_eq(calls, cases[k].len, "case %zu refused at its last byte", k);
		cr_assert_str_eq(r.why, cases[k].why, "case %zu", k);
	}
}

/* ------------------------------------------------------------------------
 * 5. Deterministic fuzz: random bytes in random chunks
 * --------------------------------------------------------------------- */

Test(mp_reader, random_bytes_in_random_chunks_agree_with_one_shot_at_every_step)
{
	static const uint8_t interesting[] = {
		0x00, 0x01, 0x7f, 0x80, 0x81, 0x82, 0x8f, 0x90, 0x91, 0x92, 0x9f, 0xa0,
		0xa1, 0xa3, 0xbf, 0xc0, 0xc1, 0xc2, 0xc4, 0xc5, 0xc6, 0xc7, 0xc9, 0xca,
		0xcb, 0xcc, 0xcf, 0xd0, 0xd3, 0xd4, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd,
		0xde, 0xdf, 0xe0, 0xff,
	};
	uint64_t seed = UINT64_C(0x9e3779b97f4a7c15);
	unsigned outcomes[4] = { 0 };
	uint8_t tmp[96];
	size_t ends[128];

	for (int it = 0; it < 50000; it++) {
		size_t len = xorshift(&seed) % sizeof tmp, fl = 0, calls, k;
		uint64_t x = xorshift(&seed);
		mp_limits lim;
		mp_reader r;
		int rc;

		for (size_t i = 0; i < len; i++) {
			uint64_t y = xorshift(&seed);

			tmp[i] = (y & 1) ? interesting[(y >> 8) % sizeof interesting] : (uint8_t)(y >> 16);
		}
		if (it & 1) {
			lim = LOOSE;
		} else {
			lim.frame_bytes_max = x % 100;
			lim.depth_max = (uint32_t)(x >> 8) % 10;
			lim.array_max = (uint32_t)(x >> 16) % 20;
			lim.map_max = (uint32_t)(x >> 24) % 20;
			lim.str_max = (uint32_t)(x >> 32) % 40;
		}
		k = random_ends(&seed, len, ends, sizeof ends / sizeof ends[0]);
		mp_reader_init(&r, &lim);
		rc = feed(&r, tmp, len, ends, k, &fl, &calls);
		outcomes[rc == MP_OK ? 0 : rc == MP_INCOMPLETE ? 1 : rc == MP_ERR_MALFORMED ? 2 : 3]++;
	}
	/* The generator reached every outcome a fair number of times. */
	for (int i = 0; i < 4; i++)
		cr_assert_gt(outcomes[i], 1000, "outcome %d: %u", i, outcomes[i]);
}
