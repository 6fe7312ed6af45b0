/*
 * test_mp.c - unit tests for proto/mp.c's cursor and mp_write.c's writer:
 * round trips against msgpack-c, reading a real msgpack-rpc request in
 * place, and readers that refuse what they must without moving. The
 * scanner's tests are in test_mp_scan.c and test_mp_reader.c.
 *
 * Inputs that must not be read past their end are always handed over in
 * exact-size malloc'ed copies, so ASan or valgrind flag any overread.
 */
#include <float.h>
#include <math.h>

#include "test_mp.h"

/* ------------------------------------------------------------------------
 * Helpers
 * --------------------------------------------------------------------- */

/* Unpack exactly one object with msgpack-c; it must use all len bytes. */
static void unpack_whole(const void *buf, size_t len, msgpack_unpacked *u)
{
	size_t off = 0;
	msgpack_unpack_return r;

	msgpack_unpacked_init(u);
	r = msgpack_unpack_next(u, buf, len, &off);
	cr_assert_eq(r, MSGPACK_UNPACK_SUCCESS, "msgpack-c could not unpack");
	cr_assert_eq(off, len, "msgpack-c used %zu of %zu bytes", off, len);
}

static size_t int_size(int64_t v)
{
	if (v >= -32 && v <= 127)
		return 1;
	if (v >= INT8_MIN && v <= UINT8_MAX)
		return 2;
	if (v >= INT16_MIN && v <= UINT16_MAX)
		return 3;
	if (v >= INT32_MIN && v <= (int64_t)UINT32_MAX)
		return 5;
	return 9;
}

static size_t uint_size(uint64_t v)
{
	return v <= 127 ? 1 : v <= UINT8_MAX ? 2 : v <= UINT16_MAX ? 3 :
	    v <= UINT32_MAX ? 5 : 9;
}

static const int64_t INT_BOUNDS[] = {
	0, 1, 127, 128, 255, 256, 65535, 65536,
	INT64_C(4294967295), INT64_C(4294967296), INT64_MAX,
	-1, -32, -33, -128, -129, -32768, -32769,
	INT32_MIN, (int64_t)INT32_MIN - 1, INT64_MIN,
};
#define N_INT_BOUNDS (sizeof INT_BOUNDS / sizeof INT_BOUNDS[0])

static const uint64_t UINT_BOUNDS[] = {
	0, 127, 128, 255, 256, 65535, 65536, UINT32_MAX,
	UINT64_C(4294967296), (uint64_t)INT64_MAX, (uint64_t)INT64_MAX + 1,
	UINT64_MAX,
};
#define N_UINT_BOUNDS (sizeof UINT_BOUNDS / sizeof UINT_BOUNDS[0])

static const size_t STR_LENS[] = { 0, 1, 31, 32, 255, 256, 65535, 65536, 70000 };
#define N_STR_LENS (sizeof STR_LENS / sizeof STR_LENS[0])

static const uint32_t COUNTS[] = { 0, 1, 15, 16, 65535, 65536 };
#define N_COUNTS (sizeof COUNTS / sizeof COUNTS[0])

static char *pattern(size_t len)
{
	char *s = malloc(len ? len : 1);

	cr_assert_not_null(s);
	for (size_t i = 0; i < len; i++)
		s[i] = (char)('a' + i % 26);
	return s;
}


/* ------------------------------------------------------------------------
 * 1. Round trips against msgpack-c
 * --------------------------------------------------------------------- */

Test(mp, int_writer_picks_smallest_encoding_byte_identical_to_msgpack_c)
{
	packer p;

	packer_init(&p);
	for (size_t k = 0; k < N_INT_BOUNDS; k++) {
		int64_t v = INT_BOUNDS[k];
		mp_buf b;
		msgpack_unpacked u;

		mp_buf_init(&b);
		mp_write_int(&b, v);
		cr_assert_not(mp_buf_failed(&b));
		cr_assert_eq(b.len, int_size(v), "%lld: %zu bytes",
		    (long long)v, b.len);

		packer_clear(&p);
		msgpack_pack_int64(&p.pk, v);
		cr_assert_eq(b.len, p.sb.size, "%lld", (long long)v);
		cr_assert_eq(memcmp(b.data, p.sb.data, b.len), 0,
		    "%lld encodes differently from msgpack-c", (long long)v);

		unpack_whole(b.data, b.len, &u);
		if (v >= 0) {
			cr_assert_eq(u.data.type, MSGPACK_OBJECT_POSITIVE_INTEGER);
			cr_assert_eq(u.data.via.u64, (uint64_t)v);
		} else {
			cr_assert_eq(u.data.type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
			cr_assert_eq(u.data.via.i64, v);
		}
		msgpack_unpacked_destroy(&u);
		mp_buf_finish(&b);
	}
	packer_destroy(&p);
}

Test(mp, uint_writer_picks_smallest_encoding_byte_identical_to_msgpack_c)
{
	packer p;

	packer_init(&p);
	for (size_t k = 0; k < N_UINT_BOUNDS; k++) {
		uint64_t v = UINT_BOUNDS[k];
		mp_buf b;
		msgpack_unpacked u;

		mp_buf_init(&b);
		mp_write_uint(&b, v);
		cr_assert_eq(b.len, uint_size(v));

		packer_clear(&p);
		msgpack_pack_uint64(&p.pk, v);
		cr_assert_eq(b.len, p.sb.size);
		cr_assert_eq(memcmp(b.data, p.sb.data, b.len), 0,
		    "%llu encodes differently from msgpack-c",
		    (unsigned long long)v);

		unpack_whole(b.data, b.len, &u);
		cr_assert_eq(u.data.type, MSGPACK_OBJECT_POSITIVE_INTEGER);
		cr_assert_eq(u.data.via.u64, v);
		msgpack_unpacked_destroy(&u);
		mp_buf_finish(&b);
	}
	packer_destroy(&p);
}

/* Check one msgpack-c encoding of v through every integer reader. */
static void check_int_reads(const packer *p, int64_t v)
{
	uint8_t *buf = dup_exact(p->sb.data, p->sb.size);
	mp_cursor c;
	int64_t i = 0;
	uint64_t u = 0;
	double d = 0;

	mp_cursor_init(&c, buf, p->sb.size);
	cr_assert(mp_read_int(&c, &i), "read_int %lld", (long long)v);
	cr_assert_eq(i, v);
	cr_assert_eq(c.p, c.end);

	mp_cursor_init(&c, buf, p->sb.size);
	cr_assert_eq(mp_read_uint(&c, &u), v >= 0, "read_uint %lld",
	    (long long)v);
	if (v >= 0) {
		cr_assert_eq(u, (uint64_t)v);
		cr_assert_eq(c.p, c.end);
	} else {
		cr_assert_eq(c.p, buf);
	}

	mp_cursor_init(&c, buf, p->sb.size);
	cr_assert(mp_read_double(&c, &d));
	cr_assert_eq(d, (double)v);
	cr_assert_eq(c.p, c.end);
	free(buf);
}

Test(mp, int_readers_accept_every_msgpack_c_int_encoding)
{
	packer p;

	packer_init(&p);
	for (size_t k = 0; k < N_INT_BOUNDS; k++) {
		int64_t v = INT_BOUNDS[k];

		packer_clear(&p);
		msgpack_pack_int64(&p.pk, v);
		check_int_reads(&p, v);

		/* Non-minimal encodings must be accepted as well. */
		packer_clear(&p);
		msgpack_pack_fix_int64(&p.pk, v);
		cr_assert_eq(p.sb.size, 9);
		check_int_reads(&p, v);
		if (v >= INT32_MIN && v <= INT32_MAX) {
			packer_clear(&p);
			msgpack_pack_fix_int32(&p.pk, (int32_t)v);
			check_int_reads(&p, v);
		}
		if (v >= INT16_MIN && v <= INT16_MAX) {
			packer_clear(&p);
			msgpack_pack_fix_int16(&p.pk, (int16_t)v);
			check_int_reads(&p, v);
		}
		if (v >= INT8_MIN && v <= INT8_MAX) {
			packer_clear(&p);
			msgpack_pack_fix_int8(&p.pk, (int8_t)v);
			check_int_reads(&p, v);
		}
		if (v >= 0) {
			packer_clear(&p);
			msgpack_pack_fix_uint64(&p.pk, (uint64_t)v);
			check_int_reads(&p, v);
		}
		if (v >= 0 && v <= UINT8_MAX) {
			packer_clear(&p);
			msgpack_pack_fix_uint8(&p.pk, (uint8_t)v);
			check_int_reads(&p, v);
		}
	}
	packer_destroy(&p);
}

Test(mp, uint_readers_accept_msgpack_c_uints_and_int_only_up_to_int64_max)
{
	packer p;

	packer_init(&p);
	for (size_t k = 0; k < N_UINT_BOUNDS; k++) {
		uint64_t v = UINT_BOUNDS[k];
		mp_cursor c;
		uint64_t u = 0;
		int64_t i = 0;
		double d = 0;

		packer_clear(&p);
		msgpack_pack_uint64(&p.pk, v);

		mp_cursor_init(&c, p.sb.data, p.sb.size);
		cr_assert(mp_read_uint(&c, &u));
		cr_assert_eq(u, v);
		cr_assert_eq(c.p, c.end);

		mp_cursor_init(&c, p.sb.data, p.sb.size);
		cr_assert_eq(mp_read_int(&c, &i), v <= (uint64_t)INT64_MAX,
		    "read_int of %llu", (unsigned long long)v);
		if (v <= (uint64_t)INT64_MAX)
			cr_assert_eq(i, (int64_t)v);
		else
			cr_assert_eq(c.p, (const uint8_t *)p.sb.data);

		mp_cursor_init(&c, p.sb.data, p.sb.size);
		cr_assert(mp_read_double(&c, &d));
		cr_assert_eq(d, (double)v);
	}
	packer_destroy(&p);
}

Test(mp, doubles_round_trip_bit_exact_both_ways)
{
	static const double vals[] = {
		0.0, -0.0, 1.5, -0.12, 51.5, 60000.0, DBL_MAX, -DBL_MAX,
		DBL_MIN, 4.9e-324, INFINITY, -INFINITY,
	};
	packer p;

	packer_init(&p);
	for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++) {
		mp_buf b;
		msgpack_unpacked u;
		mp_cursor c;
		double d = 0;

		mp_buf_init(&b);
		mp_write_double(&b, vals[k]);
		cr_assert_eq(b.len, 9);
		cr_assert_eq(b.data[0], 0xcb);
		unpack_whole(b.data, b.len, &u);
		cr_assert_eq(u.data.type, MSGPACK_OBJECT_FLOAT64);
		cr_assert_eq(memcmp(&u.data.via.f64, &vals[k], sizeof(double)), 0);
		msgpack_unpacked_destroy(&u);

		packer_clear(&p);
		msgpack_pack_double(&p.pk, vals[k]);
		cr_assert_eq(memcmp(p.sb.data, b.data, 9), 0);
		mp_cursor_init(&c, p.sb.data, p.sb.size);
		cr_assert(mp_read_double(&c, &d));
		cr_assert_eq(memcmp(&d, &vals[k], sizeof d), 0);
		cr_assert_eq(c.p, c.end);
		mp_buf_finish(&b);
	}

	/* float 32 from msgpack-c, and NaN keeps being NaN. */
	{
		mp_cursor c;
		double d = 0;

		packer_clear(&p);
		msgpack_pack_float(&p.pk, -0.12f);
		cr_assert_eq(p.sb.size, 5);
		mp_cursor_init(&c, p.sb.data, p.sb.size);
		cr_assert(mp_read_double(&c, &d));
		cr_assert_eq(d, (double)-0.12f);
		cr_assert_eq(c.p, c.end);

		packer_clear(&p);
		msgpack_pack_double(&p.pk, NAN);
		mp_cursor_init(&c, p.sb.data, p.sb.size);
		cr_assert(mp_read_double(&c, &d));
		cr_assert(isnan(d));
	}
	packer_destroy(&p);
}

Test(mp, strings_round_trip_at_every_length_boundary)
{
	packer p;

	packer_init(&p);
	for (size_t k = 0; k < N_STR_LENS; k++) {
		size_t len = STR_LENS[k];
		size_t hdr = len <= 31 ? 1 : len <= 255 ? 2 : len <= 65535 ? 3 : 5;
		char *s = pattern(len);
		mp_buf b;
		msgpack_unpacked u;
		mp_cursor c;
		const char *out = NULL;
		uint32_t n = 0;
		uint8_t *copy;

		mp_buf_init(&b);
		mp_write_str(&b, s, len);
		cr_assert_eq(b.len, hdr + len, "len %zu", len);

		packer_clear(&p);
		msgpack_pack_str_with_body(&p.pk, s, len);
		cr_assert_eq(p.sb.size, b.len);
		cr_assert_eq(memcmp(p.sb.data, b.data, b.len), 0,
		    "str of %zu encodes differently from msgpack-c", len);

		unpack_whole(b.data, b.len, &u);
		cr_assert_eq(u.data.type, MSGPACK_OBJECT_STR);
		cr_assert_eq(u.data.via.str.size, len);
		cr_assert(len == 0 || memcmp(u.data.via.str.ptr, s, len) == 0);
		msgpack_unpacked_destroy(&u);

		/* Read msgpack-c's bytes in place, from an exact-size copy. */
		copy = dup_exact(p.sb.data, p.sb.size);
		mp_cursor_init(&c, copy, p.sb.size);
		cr_assert_eq(mp_peek(&c), MP_T_STR);
		cr_assert(mp_read_str(&c, &out, &n));
		cr_assert_eq(n, len);
		cr_assert_eq(out, (const char *)copy + hdr, "not zero-copy");
		cr_assert(len == 0 || memcmp(out, s, len) == 0);
		cr_assert_eq(c.p, c.end);
		free(copy);

		/* bin is accepted by mp_read_str too. */
		packer_clear(&p);
		msgpack_pack_bin_with_body(&p.pk, s, len);
		mp_cursor_init(&c, p.sb.data, p.sb.size);
		cr_assert_eq(mp_peek(&c), MP_T_BIN);
		cr_assert(mp_read_str(&c, &out, &n));
		cr_assert_eq(n, len);
		cr_assert(len == 0 || memcmp(out, s, len) == 0);
		cr_assert_eq(c.p, c.end);

		mp_buf_finish(&b);
		free(s);
	}
	packer_destroy(&p);
}

Test(mp, array_and_map_headers_round_trip_at_every_boundary)
{
	packer p;

	packer_init(&p);
	for (size_t k = 0; k < N_COUNTS; k++) {
		uint32_t n = COUNTS[k];
		size_t hdr = n <= 15 ? 1 : n <= 65535 ? 3 : 5;
		mp_buf b;
		msgpack_unpacked u;
		mp_cursor c;
		uint32_t got = 0;
		size_t vlen = 0;
		uint8_t *copy;

		/* Arrays of n nils. */
		mp_buf_init(&b);
		mp_write_array(&b, n);
		cr_assert_eq(b.len, hdr);
		for (uint32_t i = 0; i < n; i++)
			mp_write_nil(&b);
		packer_clear(&p);
		msgpack_pack_array(&p.pk, n);
		for (uint32_t i = 0; i < n; i++)
			msgpack_pack_nil(&p.pk);
		cr_assert_eq(p.sb.size, b.len);
		cr_assert_eq(memcmp(p.sb.data, b.data, b.len), 0);
		unpack_whole(b.data, b.len, &u);
		cr_assert_eq(u.data.type, MSGPACK_OBJECT_ARRAY);
		cr_assert_eq(u.data.via.array.size, n);
		msgpack_unpacked_destroy(&u);

		copy = dup_exact(p.sb.data, p.sb.size);
		mp_cursor_init(&c, copy, p.sb.size);
		cr_assert_eq(mp_peek(&c), MP_T_ARRAY);
		cr_assert(mp_read_array(&c, &got));
		cr_assert_eq(got, n);
		cr_assert_eq(c.p, copy + hdr);
		mp_cursor_init(&c, copy, p.sb.size);
		cr_assert(mp_skip(&c));
		cr_assert_eq(c.p, c.end);
		cr_assert_eq(mp_scan(copy, p.sb.size, &LOOSE, &vlen, NULL), MP_OK);
		cr_assert_eq(vlen, p.sb.size);
		free(copy);
		mp_buf_finish(&b);

		/* Maps of n uint -> bool pairs. */
		mp_buf_init(&b);
		mp_write_map(&b, n);
		cr_assert_eq(b.len, hdr);
		for (uint32_t i = 0; i < n; i++) {
			mp_write_uint(&b, i);
			mp_write_bool(&b, i & 1);
		}
		packer_clear(&p);
		msgpack_pack_map(&p.pk, n);
		for (uint32_t i = 0; i < n; i++) {
			msgpack_pack_uint32(&p.pk, i);
			if (i & 1)
				msgpack_pack_true(&p.pk);
			else
				msgpack_pack_false(&p.pk);
		}
		cr_assert_eq(p.sb.size, b.len);
		cr_assert_eq(memcmp(p.sb.data, b.data, b.len), 0);
		unpack_whole(b.data, b.len, &u);
		cr_assert_eq(u.data.type, MSGPACK_OBJECT_MAP);
		cr_assert_eq(u.data.via.map.size, n);
		if (n > 0) {
			msgpack_object_kv *last = &u.data.via.map.ptr[n - 1];

			cr_assert_eq(last->key.via.u64, n - 1);
			cr_assert_eq(last->val.via.boolean, (n - 1) & 1);
		}
		msgpack_unpacked_destroy(&u);

		copy = dup_exact(p.sb.data, p.sb.size);
		mp_cursor_init(&c, copy, p.sb.size);
		cr_assert_eq(mp_peek(&c), MP_T_MAP);
		cr_assert(mp_read_map(&c, &got));
		cr_assert_eq(got, n);
		for (uint32_t i = 0; i < n; i++) {
			uint64_t key = 0;
			bool val = false;

			cr_assert(mp_read_uint(&c, &key));
			cr_assert(mp_read_bool(&c, &val));
			if (key != i || val != (bool)(i & 1))
				cr_assert_fail("pair %u read back as %llu", i,
				    (unsigned long long)key);
		}
		cr_assert_eq(c.p, c.end);
		cr_assert_eq(mp_scan(copy, p.sb.size, &LOOSE, &vlen, NULL), MP_OK);
		cr_assert_eq(vlen, p.sb.size);
		free(copy);
		mp_buf_finish(&b);
	}
	packer_destroy(&p);
}

Test(mp, nil_bool_cstr_and_raw_writers_round_trip)
{
	mp_buf b;
	msgpack_unpacked u;
	size_t off = 0;
	mp_cursor c;
	bool v = false;
	const char *s;
	uint32_t n;

	mp_buf_init(&b);
	mp_write_nil(&b);
	mp_write_bool(&b, true);
	mp_write_bool(&b, false);
	mp_write_cstr(&b, "reserve");
	mp_write_cstr(&b, NULL); /* documented here as the empty string */
	mp_write_raw(&b, "\x92\x01\xa1x", 4);
	cr_assert_not(mp_buf_failed(&b));
	cr_assert_eq(b.len, 1 + 1 + 1 + 8 + 1 + 4);

	msgpack_unpacked_init(&u);
	cr_assert_eq(msgpack_unpack_next(&u, (const char *)b.data, b.len, &off),
	    MSGPACK_UNPACK_SUCCESS);
	cr_assert_eq(u.data.type, MSGPACK_OBJECT_NIL);
	cr_assert_eq(msgpack_unpack_next(&u, (const char *)b.data, b.len, &off),
	    MSGPACK_UNPACK_SUCCESS);
	cr_assert_eq(u.data.type, MSGPACK_OBJECT_BOOLEAN);
	cr_assert(u.data.via.boolean);
	cr_assert_eq(msgpack_unpack_next(&u, (const char *)b.data, b.len, &off),
	    MSGPACK_UNPACK_SUCCESS);
	cr_assert_not(u.data.via.boolean);
	cr_assert_eq(msgpack_unpack_next(&u, (const char *)b.data, b.len, &off),
	    MSGPACK_UNPACK_SUCCESS);
	cr_assert_eq(u.data.type, MSGPACK_OBJECT_STR);
	cr_assert_eq(u.data.via.str.size, 7);
	cr_assert_eq(memcmp(u.data.via.str.ptr, "reserve", 7), 0);
	cr_assert_eq(msgpack_unpack_next(&u, (const char *)b.data, b.len, &off),
	    MSGPACK_UNPACK_SUCCESS);
	cr_assert_eq(u.data.type, MSGPACK_OBJECT_STR);
	cr_assert_eq(u.data.via.str.size, 0);
	cr_assert_eq(msgpack_unpack_next(&u, (const char *)b.data, b.len, &off),
	    MSGPACK_UNPACK_SUCCESS);
	cr_assert_eq(u.data.type, MSGPACK_OBJECT_ARRAY);
	cr_assert_eq(u.data.via.array.size, 2);
	cr_assert_eq(off, b.len);
	msgpack_unpacked_destroy(&u);

	mp_cursor_init(&c, b.data, b.len);
	cr_assert_eq(mp_peek(&c), MP_T_NIL);
	cr_assert(mp_read_nil(&c));
	cr_assert_eq(mp_peek(&c), MP_T_BOOL);
	cr_assert(mp_read_bool(&c, &v));
	cr_assert(v);
	cr_assert(mp_read_bool(&c, &v));
	cr_assert_not(v);
	cr_assert(mp_read_str(&c, &s, &n));
	cr_assert_eq(n, 7);
	cr_assert(mp_read_str(&c, &s, &n));
	cr_assert_eq(n, 0);
	cr_assert(mp_skip(&c));
	cr_assert_eq(c.p, c.end);
	cr_assert_eq(mp_peek(&c), MP_T_INVALID);
	mp_buf_finish(&b);
}

Test(mp, buffer_grows_by_doubling_from_256_and_failure_is_sticky)
{
	mp_buf b;
	char big[300];

	mp_buf_init(&b);
	cr_assert_null(b.data);
	cr_assert_eq(b.cap, 0);
	mp_write_nil(&b);
	cr_assert_eq(b.cap, 256);
	memset(big, 'x', sizeof big);
	mp_write_raw(&b, big, sizeof big);
	cr_assert_eq(b.len, 301);
	cr_assert_eq(b.cap, 512);
	mp_write_str(&b, big, sizeof big);
	cr_assert_eq(b.len, 301 + 3 + 300);
	cr_assert_eq(b.cap, 1024);
	cr_assert_eq(b.data[0], 0xc0);
	cr_assert_eq(b.data[301], 0xda);

	mp_buf_reset(&b);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(b.cap, 1024, "reset keeps the allocation");

	/* A request that cannot be met sets failed and every write after it
	 * is a no-op until reset. */
	cr_assert_not(mp_buf_reserve(&b, SIZE_MAX));
	cr_assert(mp_buf_failed(&b));
	mp_write_int(&b, 1);
	mp_write_cstr(&b, "abc");
	mp_write_array(&b, 3);
	mp_write_double(&b, 1.0);
	mp_write_raw(&b, "x", 1);
	cr_assert_eq(b.len, 0);
	cr_assert(mp_buf_failed(&b));
	cr_assert_not(mp_buf_reserve(&b, 1), "failure is sticky");

	mp_buf_reset(&b);
	cr_assert_not(mp_buf_failed(&b));
	mp_write_int(&b, -1);
	cr_assert_eq(b.len, 1);
	cr_assert_eq(b.data[0], 0xff);

	mp_buf_finish(&b);
	cr_assert_null(b.data);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(b.cap, 0);
}

/* ------------------------------------------------------------------------
 * 2. A real msgpack-rpc request, read in place
 * --------------------------------------------------------------------- */

static bool key_is(const char *s, uint32_t n, const char *want)
{
	return n == strlen(want) && memcmp(s, want, n) == 0;
}

Test(mp, rpc_request_reads_in_place_with_a_cursor)
{
	packer p;
	mp_cursor c;
	uint32_t n = 0, pairs = 0;
	int64_t i = -1;
	const char *s;
	uint32_t sl;
	int seen = 0;

	packer_init(&p);
	pack_reserve(&p.pk);
	mp_cursor_init(&c, p.sb.data, p.sb.size);

	cr_assert(mp_read_array(&c, &n));
	cr_assert_eq(n, 4);
	cr_assert(mp_read_int(&c, &i));
	cr_assert_eq(i, 0);
	cr_assert(mp_read_int(&c, &i));
	cr_assert_eq(i, 7);
	cr_assert(mp_read_str(&c, &s, &sl));
	cr_assert(key_is(s, sl, "reserve"));
	cr_assert(mp_read_array(&c, &n));
	cr_assert_eq(n, 1);
	cr_assert(mp_read_map(&c, &pairs));
	cr_assert_eq(pairs, 5);
	for (uint32_t k = 0; k < pairs; k++) {
		cr_assert(mp_read_str(&c, &s, &sl));
		if (key_is(s, sl, "order_id")) {
			cr_assert(mp_read_str(&c, &s, &sl));
			cr_assert(key_is(s, sl, "o-1"));
			seen |= 1;
		} else if (key_is(s, sl, "lines")) {
			uint32_t lines = 0, f = 0;
			uint64_t qty = 0;

			cr_assert(mp_read_array(&c, &lines));
			cr_assert_eq(lines, 1);
			cr_assert(mp_read_map(&c, &f));
			cr_assert_eq(f, 2);
			cr_assert(mp_read_str(&c, &s, &sl));
			cr_assert(key_is(s, sl, "sku"));
			cr_assert(mp_read_str(&c, &s, &sl));
			cr_assert(key_is(s, sl, "A"));
			cr_assert(mp_read_str(&c, &s, &sl));
			cr_assert(key_is(s, sl, "qty"));
			cr_assert(mp_read_uint(&c, &qty));
			cr_assert_eq(qty, 2);
			seen |= 2;
		} else if (key_is(s, sl, "ttl_ms")) {
			uint64_t ttl = 0;

			cr_assert(mp_read_uint(&c, &ttl));
			cr_assert_eq(ttl, 60000);
			seen |= 4;
		} else if (key_is(s, sl, "explain")) {
			bool e = false;

			cr_assert(mp_read_bool(&c, &e));
			cr_assert(e);
			seen |= 8;
		} else if (key_is(s, sl, "ship_to")) {
			uint32_t f = 0;
			double lat = 0, lon = 0;

			cr_assert(mp_read_map(&c, &f));
			cr_assert_eq(f, 2);
			cr_assert(mp_read_str(&c, &s, &sl));
			cr_assert(mp_read_double(&c, &lat));
			cr_assert(mp_read_str(&c, &s, &sl));
			cr_assert(mp_read_double(&c, &lon));
			cr_assert_eq(lat, 51.5);
			cr_assert_eq(lon, -0.12);
			seen |= 16;
		} else {
			cr_assert_fail("unexpected key %.*s", (int)sl, s);
		}
	}
	cr_assert_eq(seen, 31);
	cr_assert_eq(c.p, c.end);
	packer_destroy(&p);
}


/* ------------------------------------------------------------------------
 * 3. Hostile input to the cursor
 * --------------------------------------------------------------------- */

Test(mp, truncated_rpc_request_is_never_read_past_its_end)
{
	packer p;
	size_t n;

	packer_init(&p);
	pack_reserve(&p.pk);
	n = p.sb.size;
	for (size_t cut = 0; cut < n; cut++) {
		uint8_t *buf = dup_exact(p.sb.data, cut);
		mp_cursor c;
		int steps = 0;

		mp_cursor_init(&c, buf, cut);
		if (mp_skip(&c) || c.p != buf)
			cr_assert_fail("skip of %zu-byte prefix", cut);
		/* Walk as far as the readers get; each failure must leave
		 * the cursor in place, each success stay inside. */
		while (try_all_readers(&c))
			steps++;
		cr_assert_leq(c.p, c.end);
		/* The outer array header alone is readable from one byte. */
		cr_assert(cut == 0 || steps > 0, "prefix %zu: nothing read", cut);
		free(buf);
	}
	packer_destroy(&p);
}

/* Which readers accept a sample. */
enum {
	R_NIL = 1, R_BOOL = 2, R_INT = 4, R_UINT = 8, R_DOUBLE = 16,
	R_STR = 32, R_ARRAY = 64, R_MAP = 128,
};

Test(mp, readers_refuse_wrong_types_and_leave_the_cursor_in_place)
{
	static const struct {
		const char *name;
		uint8_t bytes[10];
		size_t len;
		size_t adv; /* bytes a successful reader consumes */
		unsigned ok;
	} cases[] = {
		{ "nil", { 0xc0 }, 1, 1, R_NIL },
		{ "true", { 0xc3 }, 1, 1, R_BOOL },
		{ "fixint 5", { 0x05 }, 1, 1, R_INT | R_UINT | R_DOUBLE },
		{ "fixint -5", { 0xfb }, 1, 1, R_INT | R_DOUBLE },
		{ "int8 5", { 0xd0, 0x05 }, 2, 2, R_INT | R_UINT | R_DOUBLE },
		{ "uint64 max", { 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		    0xff }, 9, 9, R_UINT | R_DOUBLE },
		{ "float32", { 0xca, 0x3f, 0xc0, 0, 0 }, 5, 5, R_DOUBLE },
		{ "float64", { 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0 }, 9, 9,
		    R_DOUBLE },
		{ "fixstr", { 0xa3, 'a', 'b', 'c' }, 4, 4, R_STR },
		{ "bin8", { 0xc4, 0x02, 'a', 'b' }, 4, 4, R_STR },
		{ "fixarray", { 0x91, 0x01 }, 2, 1, R_ARRAY },
		{ "array16", { 0xdc, 0x00, 0x01, 0x01 }, 4, 3, R_ARRAY },
		{ "fixmap", { 0x81, 0x01, 0x02 }, 3, 1, R_MAP },
		{ "map32", { 0xdf, 0, 0, 0, 1, 0x01, 0x02 }, 7, 5, R_MAP },
		{ "fixext1", { 0xd4, 0x01, 0x00 }, 3, 3, 0 },
		{ "ext8", { 0xc7, 0x01, 0x01, 0x00 }, 4, 4, 0 },
		{ "0xc1", { 0xc1 }, 1, 1, 0 },
	};

	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		uint8_t *buf = dup_exact(cases[k].bytes, cases[k].len);
		const uint8_t *want_ok = buf + cases[k].adv;
		unsigned ok = cases[k].ok;
		mp_cursor c;
		bool b;
		int64_t i;
		uint64_t u;
		double d;
		const char *s;
		uint32_t n;

#define CHECK(flag, call)                                                  \
	do {                                                               \
		bool r_;                                                   \
		mp_cursor_init(&c, buf, cases[k].len);                     \
		r_ = (call);                                               \
		cr_assert_eq(r_, (ok & (flag)) != 0, "%s: %s", cases[k].name, \
		    #call);                                                \
		cr_assert_eq(c.p, r_ ? want_ok : buf, "%s: %s cursor",     \
		    cases[k].name, #call);                                 \
	} while (0)
		CHECK(R_NIL, mp_read_nil(&c));
		CHECK(R_BOOL, mp_read_bool(&c, &b));
		CHECK(R_INT, mp_read_int(&c, &i));
		CHECK(R_UINT, mp_read_uint(&c, &u));
		CHECK(R_DOUBLE, mp_read_double(&c, &d));
		CHECK(R_STR, mp_read_str(&c, &s, &n));
		CHECK(R_ARRAY, mp_read_array(&c, &n));
		CHECK(R_MAP, mp_read_map(&c, &n));
#undef CHECK
		free(buf);
	}
}

Test(mp, int_readers_enforce_the_target_range)
{
	static const uint8_t over[] = { 0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0 };
	static const uint8_t max[] = { 0xcf, 0x7f, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff };
	static const uint8_t neg_encodings[][9] = {
		{ 0xff },
		{ 0xd0, 0xff },
		{ 0xd1, 0xff, 0xff },
		{ 0xd2, 0xff, 0xff, 0xff, 0xff },
		{ 0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
	};
	static const size_t neg_len[] = { 1, 2, 3, 5, 9 };
	static const uint8_t pos_int64[] = { 0xd3, 0, 0, 0, 0, 0, 0, 0x01, 0x00 };
	mp_cursor c;
	int64_t i = 0;
	uint64_t u = 0;

	mp_cursor_init(&c, over, sizeof over);
	cr_assert_not(mp_read_int(&c, &i), "2^63 does not fit int64_t");
	cr_assert_eq(c.p, over);
	cr_assert(mp_read_uint(&c, &u));
	cr_assert_eq(u, (uint64_t)INT64_MAX + 1);

	mp_cursor_init(&c, max, sizeof max);
	cr_assert(mp_read_int(&c, &i));
	cr_assert_eq(i, INT64_MAX);

	for (size_t k = 0; k < 5; k++) {
		mp_cursor_init(&c, neg_encodings[k], neg_len[k]);
		cr_assert_not(mp_read_uint(&c, &u), "-1 in %zu bytes", neg_len[k]);
		cr_assert_eq(c.p, neg_encodings[k]);
		cr_assert(mp_read_int(&c, &i));
		cr_assert_eq(i, -1);
		cr_assert_eq(c.p, c.end);
	}

	/* A signed encoding of a non-negative value is a fine uint. */
	mp_cursor_init(&c, pos_int64, sizeof pos_int64);
	cr_assert(mp_read_uint(&c, &u));
	cr_assert_eq(u, 256);
}

Test(mp, truncated_scalars_strings_and_headers_fail_without_moving)
{
	static const struct {
		uint8_t bytes[8];
		size_t len;
	} cases[] = {
		{ { 0xcc }, 1 },
		{ { 0xcd, 0x01 }, 2 },
		{ { 0xce, 0x01, 0x02, 0x03 }, 4 },
		{ { 0xcf, 1, 2, 3, 4, 5, 6, 7 }, 8 },
		{ { 0xd3, 1, 2, 3, 4, 5, 6, 7 }, 8 },
		{ { 0xca, 0x3f, 0xc0, 0x00 }, 4 },
		{ { 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0 }, 8 },
		{ { 0xa3, 'a', 'b' }, 3 },
		{ { 0xd9 }, 1 },
		{ { 0xd9, 0x05, 'a' }, 3 },
		{ { 0xda, 0x00 }, 2 },
		{ { 0xc6, 0x00, 0x00, 0x00, 0x04, 'a' }, 6 },
		{ { 0xdc, 0x00 }, 2 },
		{ { 0xdd, 0x00, 0x00, 0x00 }, 4 },
		{ { 0xde }, 1 },
		{ { 0xdf, 0x00, 0x00 }, 3 },
		{ { 0x92, 0x01 }, 2 },
		{ { 0x81, 0x01 }, 2 },
		{ { 0xc7, 0x02, 0x01, 'a' }, 4 },
		{ { 0xd8, 0x01, 'a' }, 3 },
	};

	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		uint8_t *buf = dup_exact(cases[k].bytes, cases[k].len);
		mp_cursor c;
		size_t vlen;

		mp_cursor_init(&c, buf, cases[k].len);
		cr_assert_not(mp_skip(&c), "case %zu", k);
		cr_assert_eq(c.p, buf, "case %zu", k);
		/* The only reads that may succeed are container headers
		 * that are themselves complete. */
		while (try_all_readers(&c))
			cr_assert(buf[0] == 0x92 || buf[0] == 0x81, "case %zu", k);
		cr_assert_eq(mp_scan(buf, cases[k].len, &LOOSE, &vlen, NULL),
		    MP_INCOMPLETE, "case %zu", k);
		free(buf);
	}
}

Test(mp, skip_bounds_claimed_counts_by_the_bytes_present)
{
	/* An array16 of 3 elements with 2 present, and maps/strs with lying
	 * lengths: all false, cursor unchanged. */
	static const uint8_t a[] = { 0xdc, 0x00, 0x03, 0x01, 0x02 };
	static const uint8_t m[] = { 0x82, 0x01, 0x02, 0x03 };
	static const uint8_t s[] = { 0x91, 0xdb, 0x00, 0x01, 0x00, 0x00, 'x' };
	static const uint8_t ok[] = { 0x93, 0x01, 0x80, 0x90, 0xc0 };
	const uint8_t *ins[] = { a, m, s };
	size_t lens[] = { sizeof a, sizeof m, sizeof s };
	mp_cursor c;

	for (size_t k = 0; k < 3; k++) {
		uint8_t *buf = dup_exact(ins[k], lens[k]);

		mp_cursor_init(&c, buf, lens[k]);
		cr_assert_not(mp_skip(&c), "input %zu", k);
		cr_assert_eq(c.p, buf);
		free(buf);
	}
	/* Empty containers end immediately; trailing bytes stay unread. */
	mp_cursor_init(&c, ok, sizeof ok);
	cr_assert(mp_skip(&c));
	cr_assert_eq(c.p, ok + 4);
	cr_assert(mp_read_nil(&c));
}
