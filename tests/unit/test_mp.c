/*
 * test_mp.c - unit tests for proto/mp.c: round trips against msgpack-c,
 * incremental scanning of a real msgpack-rpc request, hostile inputs and a
 * small deterministic fuzz loop.
 *
 * Inputs that must not be read past their end are always handed over in
 * exact-size malloc'ed copies, so ASan or valgrind flag any overread.
 */
#include <criterion/criterion.h>
#include <msgpack.h>

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../proto/mp.h"

/* ------------------------------------------------------------------------
 * Helpers
 * --------------------------------------------------------------------- */

/* Limits that never refuse anything but depth beyond MP_DEPTH_HARD_MAX. */
static const mp_limits LOOSE = {
	.frame_bytes_max = SIZE_MAX,
	.depth_max = MP_DEPTH_HARD_MAX,
	.array_max = UINT32_MAX,
	.map_max = UINT32_MAX,
	.str_max = UINT32_MAX,
};

/* Limits in the spirit of what the server uses for requests. */
static const mp_limits RPC = {
	.frame_bytes_max = 1u << 20,
	.depth_max = 16,
	.array_max = 1u << 16,
	.map_max = 1024,
	.str_max = 1u << 16,
};

/* An exact-size heap copy: reading one byte past len is an ASan error. */
static uint8_t *dup_exact(const void *p, size_t len)
{
	uint8_t *d = malloc(len ? len : 1);

	cr_assert_not_null(d);
	if (len)
		memcpy(d, p, len);
	return d;
}

typedef struct packer {
	msgpack_sbuffer sb;
	msgpack_packer pk;
} packer;

static void packer_init(packer *p)
{
	msgpack_sbuffer_init(&p->sb);
	msgpack_packer_init(&p->pk, &p->sb, msgpack_sbuffer_write);
}

static void packer_clear(packer *p)
{
	msgpack_sbuffer_clear(&p->sb);
}

static void packer_destroy(packer *p)
{
	msgpack_sbuffer_destroy(&p->sb);
}

static void pack_cstr(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str_with_body(pk, s, strlen(s));
}

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

/*
 * Try every reader at the cursor. A reader that fails must leave the
 * cursor where it was. Returns true if one of them advanced it.
 */
static bool try_all_readers(mp_cursor *c)
{
	const uint8_t *at = c->p;
	bool b;
	int64_t i;
	uint64_t u;
	double d;
	const char *s;
	uint32_t n;

#define TRY(call)                                                        \
	do {                                                             \
		if (call) {                                              \
			cr_assert(c->p > at && c->p <= c->end);          \
			return true;                                     \
		}                                                        \
		cr_assert_eq(c->p, at, #call " moved the cursor on failure"); \
	} while (0)
	TRY(mp_read_nil(c));
	TRY(mp_read_bool(c, &b));
	TRY(mp_read_int(c, &i));
	TRY(mp_read_uint(c, &u));
	TRY(mp_read_double(c, &d));
	TRY(mp_read_str(c, &s, &n));
	TRY(mp_read_array(c, &n));
	TRY(mp_read_map(c, &n));
	TRY(mp_skip(c));
#undef TRY
	return false;
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
 * Every format: scan, skip, peek, and every truncation of it
 * --------------------------------------------------------------------- */

/* Pack sample i with msgpack-c; returns false past the last sample. */
static bool pack_sample(int i, msgpack_packer *pk, mp_type *t)
{
	static char body[70000];

	memset(body, 0x5a, sizeof body);
	switch (i) {
	case 0: *t = MP_T_UINT; msgpack_pack_uint64(pk, 5); return true;
	case 1: *t = MP_T_UINT; msgpack_pack_fix_uint8(pk, 200); return true;
	case 2: *t = MP_T_UINT; msgpack_pack_fix_uint16(pk, 2); return true;
	case 3: *t = MP_T_UINT; msgpack_pack_fix_uint32(pk, 2); return true;
	case 4: *t = MP_T_UINT; msgpack_pack_fix_uint64(pk, 2); return true;
	case 5: *t = MP_T_INT; msgpack_pack_int64(pk, -3); return true;
	case 6: *t = MP_T_INT; msgpack_pack_fix_int8(pk, -3); return true;
	case 7: *t = MP_T_INT; msgpack_pack_fix_int16(pk, -3); return true;
	case 8: *t = MP_T_INT; msgpack_pack_fix_int32(pk, -3); return true;
	case 9: *t = MP_T_INT; msgpack_pack_fix_int64(pk, -3); return true;
	case 10: *t = MP_T_NIL; msgpack_pack_nil(pk); return true;
	case 11: *t = MP_T_BOOL; msgpack_pack_true(pk); return true;
	case 12: *t = MP_T_BOOL; msgpack_pack_false(pk); return true;
	case 13: *t = MP_T_FLOAT; msgpack_pack_float(pk, 1.5f); return true;
	case 14: *t = MP_T_FLOAT; msgpack_pack_double(pk, 1.5); return true;
	case 15: *t = MP_T_STR; msgpack_pack_str_with_body(pk, body, 3); return true;
	case 16: *t = MP_T_STR; msgpack_pack_str_with_body(pk, body, 40); return true;
	case 17: *t = MP_T_STR; msgpack_pack_str_with_body(pk, body, 300); return true;
	case 18: *t = MP_T_STR; msgpack_pack_str_with_body(pk, body, 65536); return true;
	case 19: *t = MP_T_BIN; msgpack_pack_bin_with_body(pk, body, 3); return true;
	case 20: *t = MP_T_BIN; msgpack_pack_bin_with_body(pk, body, 300); return true;
	case 21: *t = MP_T_BIN; msgpack_pack_bin_with_body(pk, body, 65536); return true;
	case 22: *t = MP_T_EXT; msgpack_pack_ext_with_body(pk, body, 1, 1); return true;
	case 23: *t = MP_T_EXT; msgpack_pack_ext_with_body(pk, body, 2, 1); return true;
	case 24: *t = MP_T_EXT; msgpack_pack_ext_with_body(pk, body, 4, -1); return true;
	case 25: *t = MP_T_EXT; msgpack_pack_ext_with_body(pk, body, 8, 1); return true;
	case 26: *t = MP_T_EXT; msgpack_pack_ext_with_body(pk, body, 16, 1); return true;
	case 27: *t = MP_T_EXT; msgpack_pack_ext_with_body(pk, body, 3, 1); return true;
	case 28: *t = MP_T_EXT; msgpack_pack_ext_with_body(pk, body, 0, 1); return true;
	case 29: *t = MP_T_EXT; msgpack_pack_ext_with_body(pk, body, 300, 1); return true;
	case 30: *t = MP_T_EXT; msgpack_pack_ext_with_body(pk, body, 65536, 1); return true;
	case 31:
		*t = MP_T_ARRAY;
		msgpack_pack_array(pk, 2);
		msgpack_pack_array(pk, 0);
		msgpack_pack_map(pk, 1);
		msgpack_pack_ext_with_body(pk, body, 4, 7);
		msgpack_pack_bin_with_body(pk, body, 2);
		return true;
	case 32:
		*t = MP_T_MAP;
		msgpack_pack_map(pk, 2);
		msgpack_pack_nil(pk);
		msgpack_pack_map(pk, 0);
		msgpack_pack_float(pk, 2.0f);
		msgpack_pack_array(pk, 1);
		msgpack_pack_int64(pk, INT64_MIN);
		return true;
	default:
		return false;
	}
}

/* The first-byte codes the samples above must cover, 0xc1 aside. */
Test(mp, every_format_scans_skips_and_peeks_and_every_truncation_is_incomplete)
{
	bool seen[256] = { false };
	packer p;
	mp_type t;

	packer_init(&p);
	for (int i = 0; pack_sample(i, &p.pk, &t); i++, packer_clear(&p)) {
		size_t len = p.sb.size;
		uint8_t *buf = dup_exact(p.sb.data, len);
		size_t vlen = 0;
		const char *err = "unset";
		mp_cursor c;

		seen[buf[0]] = true;
		cr_assert_eq(mp_scan(buf, len, &LOOSE, &vlen, &err), MP_OK,
		    "sample %d", i);
		cr_assert_eq(vlen, len, "sample %d", i);
		cr_assert_null(err);
		mp_cursor_init(&c, buf, len);
		cr_assert_eq(mp_peek(&c), t, "sample %d", i);
		cr_assert(mp_skip(&c), "sample %d", i);
		cr_assert_eq(c.p, c.end, "sample %d", i);
		free(buf);

		for (size_t cut = 0; cut < len; cut++) {
			uint8_t *pre = dup_exact(p.sb.data, cut);
			int r = mp_scan(pre, cut, &LOOSE, &vlen, &err);

			if (r != MP_INCOMPLETE)
				cr_assert_fail("sample %d cut at %zu: %d", i, cut, r);
			mp_cursor_init(&c, pre, cut);
			if (mp_skip(&c) || c.p != pre)
				cr_assert_fail("skip of sample %d cut at %zu", i, cut);
			/* Whatever the readers manage, they stay inside. */
			while (try_all_readers(&c))
				;
			free(pre);
		}
	}
	packer_destroy(&p);

	/* Every length class of every family was exercised. */
	static const uint8_t want[] = {
		0x05, 0xcc, 0xcd, 0xce, 0xcf, 0xfd, 0xd0, 0xd1, 0xd2, 0xd3,
		0xc0, 0xc3, 0xc2, 0xca, 0xcb, 0xa3, 0xd9, 0xda, 0xdb,
		0xc4, 0xc5, 0xc6, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xc7, 0xc8,
		0xc9, 0x92, 0x82,
	};
	for (size_t k = 0; k < sizeof want; k++)
		cr_assert(seen[want[k]], "format 0x%02x not covered", want[k]);
}

/* ------------------------------------------------------------------------
 * 2. A real msgpack-rpc request, fed in pieces
 * --------------------------------------------------------------------- */

/* [0, 7, "reserve", [{"order_id": "o-1", "lines": [{"sku": "A", "qty": 2}],
 *   "ttl_ms": 60000, "explain": true, "ship_to": {"lat": 51.5,
 *   "lon": -0.12}}]] */
static void pack_reserve(msgpack_packer *pk)
{
	msgpack_pack_array(pk, 4);
	msgpack_pack_int(pk, 0);
	msgpack_pack_uint32(pk, 7);
	pack_cstr(pk, "reserve");
	msgpack_pack_array(pk, 1);
	msgpack_pack_map(pk, 5);
	pack_cstr(pk, "order_id");
	pack_cstr(pk, "o-1");
	pack_cstr(pk, "lines");
	msgpack_pack_array(pk, 1);
	msgpack_pack_map(pk, 2);
	pack_cstr(pk, "sku");
	pack_cstr(pk, "A");
	pack_cstr(pk, "qty");
	msgpack_pack_int(pk, 2);
	pack_cstr(pk, "ttl_ms");
	msgpack_pack_uint32(pk, 60000);
	pack_cstr(pk, "explain");
	msgpack_pack_true(pk);
	pack_cstr(pk, "ship_to");
	msgpack_pack_map(pk, 2);
	pack_cstr(pk, "lat");
	msgpack_pack_double(pk, 51.5);
	pack_cstr(pk, "lon");
	msgpack_pack_double(pk, -0.12);
}

/* [0, 8, "release", ["o-1"]] */
static void pack_release(msgpack_packer *pk)
{
	msgpack_pack_array(pk, 4);
	msgpack_pack_int(pk, 0);
	msgpack_pack_int(pk, 8);
	pack_cstr(pk, "release");
	msgpack_pack_array(pk, 1);
	pack_cstr(pk, "o-1");
}

Test(mp, rpc_request_is_incomplete_at_every_split_and_ok_when_whole)
{
	packer p;
	size_t n;

	packer_init(&p);
	pack_reserve(&p.pk);
	n = p.sb.size;
	cr_assert_eq(n, 99, "request layout changed: %zu bytes", n);

	for (size_t cut = 0; cut <= n; cut++) {
		uint8_t *buf = dup_exact(p.sb.data, cut);
		size_t vlen = 12345;
		const char *err = "unset";
		int r = mp_scan(buf, cut, &RPC, &vlen, &err);

		if (cut < n) {
			if (r != MP_INCOMPLETE || err != NULL)
				cr_assert_fail("prefix of %zu/%zu bytes: %d (%s)",
				    cut, n, r, err ? err : "-");
			cr_assert_eq(vlen, 12345, "value_len set on INCOMPLETE");
		} else {
			cr_assert_eq(r, MP_OK, "whole request: %d (%s)", r,
			    err ? err : "-");
			cr_assert_eq(vlen, n);
			cr_assert_null(err);
		}
		free(buf);
	}
	packer_destroy(&p);
}

Test(mp, rpc_request_followed_by_more_bytes_scans_only_the_first_value)
{
	packer p;
	size_t n, m;
	uint8_t *all;

	packer_init(&p);
	pack_reserve(&p.pk);
	n = p.sb.size;
	pack_release(&p.pk);
	m = p.sb.size - n;
	all = dup_exact(p.sb.data, n + m);

	/* The first message plus any prefix of the second one. */
	for (size_t extra = 0; extra <= m; extra++) {
		uint8_t *buf = dup_exact(all, n + extra);
		size_t vlen = 0;

		cr_assert_eq(mp_scan(buf, n + extra, &RPC, &vlen, NULL), MP_OK,
		    "with %zu extra bytes", extra);
		cr_assert_eq(vlen, n, "with %zu extra bytes", extra);
		free(buf);
	}

	/* Back to back: the second starts where the first ends. */
	{
		size_t v1 = 0, v2 = 0;
		mp_cursor c;
		uint32_t k = 0;
		const char *s;
		uint32_t sl;
		int64_t id = 0;

		cr_assert_eq(mp_scan(all, n + m, &RPC, &v1, NULL), MP_OK);
		cr_assert_eq(mp_scan(all + v1, n + m - v1, &RPC, &v2, NULL), MP_OK);
		cr_assert_eq(v1, n);
		cr_assert_eq(v2, m);

		mp_cursor_init(&c, all + v1, v2);
		cr_assert(mp_read_array(&c, &k));
		cr_assert_eq(k, 4);
		cr_assert(mp_skip(&c));
		cr_assert(mp_read_int(&c, &id));
		cr_assert_eq(id, 8);
		cr_assert(mp_read_str(&c, &s, &sl));
		cr_assert_eq(sl, 7);
		cr_assert_eq(memcmp(s, "release", 7), 0);
		cr_assert(mp_skip(&c));
		cr_assert_eq(c.p, c.end);
	}
	free(all);
	packer_destroy(&p);
}

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
 * 3. Hostile input
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

static int scan_bytes(const uint8_t *src, size_t len, const mp_limits *lim,
    size_t *vlen, const char **err)
{
	uint8_t *buf = dup_exact(src, len);
	int r = mp_scan(buf, len, lim, vlen, err);

	free(buf);
	return r;
}

Test(mp, array32_claiming_4g_elements_is_refused_from_its_5_byte_header)
{
	static const uint8_t hdr[] = { 0xdd, 0xff, 0xff, 0xff, 0xff };
	mp_limits big = RPC;
	const char *err = NULL;
	size_t vlen = 0;
	mp_cursor c;

	cr_assert_eq(scan_bytes(hdr, 5, &RPC, &vlen, &err), MP_ERR_TOO_LARGE);
	cr_assert_str_eq(err, "array longer than the limit");

	/* Even when the element limit allows it, the frame cannot hold it. */
	big.array_max = UINT32_MAX;
	err = NULL;
	cr_assert_eq(scan_bytes(hdr, 5, &big, &vlen, &err), MP_ERR_TOO_LARGE);
	cr_assert_str_eq(err, "frame larger than the limit");

	/* Until the count has arrived, nothing is known yet. */
	for (size_t cut = 1; cut < 5; cut++)
		cr_assert_eq(scan_bytes(hdr, cut, &big, &vlen, &err),
		    MP_INCOMPLETE);

	/* And mp_skip refuses it at once too. */
	{
		uint8_t *buf = dup_exact(hdr, 5);

		mp_cursor_init(&c, buf, 5);
		cr_assert_not(mp_skip(&c));
		cr_assert_eq(c.p, buf);
		free(buf);
	}
}

Test(mp, claimed_elements_are_checked_against_the_frame_to_the_byte)
{
	/* frame 64: an array32 header (5) leaves room for 59 elements. */
	mp_limits lim = { 64, 8, UINT32_MAX, UINT32_MAX, UINT32_MAX };
	uint8_t a59[] = { 0xdd, 0, 0, 0, 59 };
	uint8_t a60[] = { 0xdd, 0, 0, 0, 60 };
	uint8_t m29[] = { 0xdf, 0, 0, 0, 29 };  /* 58 elements */
	uint8_t m30[] = { 0xdf, 0, 0, 0, 30 };  /* 60 elements */
	uint8_t s59[] = { 0xdb, 0, 0, 0, 59 };
	uint8_t s60[] = { 0xdb, 0, 0, 0, 60 };
	/* Nested: a fixarray of 15 whose first element is an array16 of k:
	 * 1 + 3 + k + 14 (the outer's other elements) must be <= 64. */
	uint8_t nest_ok[] = { 0x9f, 0xdc, 0, 46 };
	uint8_t nest_bad[] = { 0x9f, 0xdc, 0, 47 };
	const char *err = NULL;
	size_t vlen;

	cr_assert_eq(scan_bytes(a59, 5, &lim, &vlen, &err), MP_INCOMPLETE);
	cr_assert_eq(scan_bytes(a60, 5, &lim, &vlen, &err), MP_ERR_TOO_LARGE);
	cr_assert_str_eq(err, "frame larger than the limit");
	cr_assert_eq(scan_bytes(m29, 5, &lim, &vlen, &err), MP_INCOMPLETE);
	cr_assert_eq(scan_bytes(m30, 5, &lim, &vlen, &err), MP_ERR_TOO_LARGE);
	cr_assert_eq(scan_bytes(s59, 5, &lim, &vlen, &err), MP_INCOMPLETE);
	cr_assert_eq(scan_bytes(s60, 5, &lim, &vlen, &err), MP_ERR_TOO_LARGE);
	cr_assert_eq(scan_bytes(nest_ok, 4, &lim, &vlen, &err), MP_INCOMPLETE);
	err = NULL;
	cr_assert_eq(scan_bytes(nest_bad, 4, &lim, &vlen, &err),
	    MP_ERR_TOO_LARGE, "the outer array's 14 other elements count");
	cr_assert_str_eq(err, "frame larger than the limit");
}

Test(mp, map32_claiming_4g_pairs_is_refused_from_its_header)
{
	static const uint8_t hdr[] = { 0xdf, 0xff, 0xff, 0xff, 0xff };
	mp_limits big = RPC;
	const char *err = NULL;
	size_t vlen;

	cr_assert_eq(scan_bytes(hdr, 5, &RPC, &vlen, &err), MP_ERR_TOO_LARGE);
	cr_assert_str_eq(err, "map longer than the limit");
	big.map_max = UINT32_MAX;
	cr_assert_eq(scan_bytes(hdr, 5, &big, &vlen, &err), MP_ERR_TOO_LARGE);
	cr_assert_str_eq(err, "frame larger than the limit");
	/* map16 with 1025 pairs is over RPC's map_max of 1024. */
	{
		static const uint8_t m[] = { 0xde, 0x04, 0x01 };

		cr_assert_eq(scan_bytes(m, 3, &RPC, &vlen, &err),
		    MP_ERR_TOO_LARGE);
		cr_assert_str_eq(err, "map longer than the limit");
	}
}

Test(mp, str_bin_and_ext32_claiming_4gib_are_refused_from_their_headers)
{
	static const uint8_t str32[] = { 0xdb, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t bin32[] = { 0xc6, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t ext32[] = { 0xc9, 0xff, 0xff, 0xff, 0xff, 0x01 };
	mp_limits big = RPC;
	const char *err = NULL;
	size_t vlen;

	cr_assert_eq(scan_bytes(str32, 5, &RPC, &vlen, &err), MP_ERR_TOO_LARGE);
	cr_assert_str_eq(err, "string longer than the limit");
	cr_assert_eq(scan_bytes(bin32, 5, &RPC, &vlen, &err), MP_ERR_TOO_LARGE);
	cr_assert_str_eq(err, "bin longer than the limit");
	cr_assert_eq(scan_bytes(ext32, 6, &RPC, &vlen, &err), MP_ERR_TOO_LARGE);
	cr_assert_str_eq(err, "ext longer than the limit");

	big.str_max = UINT32_MAX;
	cr_assert_eq(scan_bytes(str32, 5, &big, &vlen, &err), MP_ERR_TOO_LARGE);
	cr_assert_str_eq(err, "frame larger than the limit");
	cr_assert_eq(scan_bytes(bin32, 5, &big, &vlen, &err), MP_ERR_TOO_LARGE);
	cr_assert_str_eq(err, "frame larger than the limit");
	cr_assert_eq(scan_bytes(ext32, 6, &big, &vlen, &err), MP_ERR_TOO_LARGE);
	cr_assert_str_eq(err, "frame larger than the limit");

	/* A fixstr over str_max is refused too. */
	{
		mp_limits tiny = RPC;
		static const uint8_t fs[] = { 0xa5, 'h', 'e', 'l', 'l', 'o' };

		tiny.str_max = 4;
		cr_assert_eq(scan_bytes(fs, 1, &tiny, &vlen, &err),
		    MP_ERR_TOO_LARGE);
		cr_assert_str_eq(err, "string longer than the limit");
		tiny.str_max = 5;
		cr_assert_eq(scan_bytes(fs, 6, &tiny, &vlen, &err), MP_OK);
		cr_assert_eq(vlen, 6);
	}
}

Test(mp, arrays_longer_than_array_max_are_refused)
{
	mp_limits lim = RPC;
	uint8_t a16[] = { 0xdc, 0x00, 0x11 };  /* 17 elements */
	uint8_t fa[] = { 0x9f };               /* 15 elements */
	const char *err = NULL;
	size_t vlen;

	lim.array_max = 16;
	cr_assert_eq(scan_bytes(a16, 3, &lim, &vlen, &err), MP_ERR_TOO_LARGE);
	cr_assert_str_eq(err, "array longer than the limit");
	a16[2] = 0x10;
	cr_assert_eq(scan_bytes(a16, 3, &lim, &vlen, &err), MP_INCOMPLETE);
	lim.array_max = 14;
	cr_assert_eq(scan_bytes(fa, 1, &lim, &vlen, &err), MP_ERR_TOO_LARGE);
	cr_assert_str_eq(err, "array longer than the limit");
}

Test(mp, nesting_deeper_than_depth_max_is_refused_and_exactly_max_is_ok)
{
	uint8_t deep[101];
	mp_limits lim = RPC; /* depth_max 16 */
	const char *err = NULL;
	size_t vlen = 0;

	memset(deep, 0x91, 100);
	deep[100] = 0x01;

	/* 100 levels: refused as soon as the 17th header arrives. */
	cr_assert_eq(scan_bytes(deep, 101, &lim, &vlen, &err), MP_ERR_TOO_LARGE);
	cr_assert_str_eq(err, "nesting deeper than the limit");
	cr_assert_eq(scan_bytes(deep, 17, &lim, &vlen, &err), MP_ERR_TOO_LARGE);
	cr_assert_eq(scan_bytes(deep, 16, &lim, &vlen, &err), MP_INCOMPLETE);

	/* Exactly 16 levels, then a scalar. */
	{
		uint8_t ok[17];

		memset(ok, 0x91, 16);
		ok[16] = 0xc0;
		cr_assert_eq(scan_bytes(ok, 17, &lim, &vlen, &err), MP_OK);
		cr_assert_eq(vlen, 17);
		/* An empty container one deeper still counts as a level. */
		ok[16] = 0x90;
		cr_assert_eq(scan_bytes(ok, 17, &lim, &vlen, &err),
		    MP_ERR_TOO_LARGE);
	}

	/* Maps nest the same way: {1: {1: ... }}. */
	{
		uint8_t maps[2 * 17 + 1];

		for (int k = 0; k < 17; k++) {
			maps[2 * k] = 0x81;
			maps[2 * k + 1] = 0x01;
		}
		maps[34] = 0xc0;
		cr_assert_eq(scan_bytes(maps, 35, &lim, &vlen, &err),
		    MP_ERR_TOO_LARGE);
		cr_assert_str_eq(err, "nesting deeper than the limit");
		lim.depth_max = 17;
		cr_assert_eq(scan_bytes(maps, 35, &lim, &vlen, &err), MP_OK);
		cr_assert_eq(vlen, 35);
	}

	/* depth_max above MP_DEPTH_HARD_MAX is capped at it. */
	lim.depth_max = 1000;
	lim.array_max = UINT32_MAX;
	{
		uint8_t hard[MP_DEPTH_HARD_MAX + 2];
		mp_cursor c;
		uint8_t *buf;

		memset(hard, 0x91, MP_DEPTH_HARD_MAX);
		hard[MP_DEPTH_HARD_MAX] = 0x07;
		cr_assert_eq(scan_bytes(hard, MP_DEPTH_HARD_MAX + 1, &lim, &vlen,
		    &err), MP_OK);
		cr_assert_eq(vlen, MP_DEPTH_HARD_MAX + 1);
		buf = dup_exact(hard, MP_DEPTH_HARD_MAX + 1);
		mp_cursor_init(&c, buf, MP_DEPTH_HARD_MAX + 1);
		cr_assert(mp_skip(&c));
		cr_assert_eq(c.p, c.end);
		free(buf);

		memset(hard, 0x91, MP_DEPTH_HARD_MAX + 1);
		hard[MP_DEPTH_HARD_MAX + 1] = 0x07;
		cr_assert_eq(scan_bytes(hard, MP_DEPTH_HARD_MAX + 2, &lim, &vlen,
		    &err), MP_ERR_TOO_LARGE);
		cr_assert_str_eq(err, "nesting deeper than the limit");
		buf = dup_exact(hard, MP_DEPTH_HARD_MAX + 2);
		mp_cursor_init(&c, buf, MP_DEPTH_HARD_MAX + 2);
		cr_assert_not(mp_skip(&c));
		cr_assert_eq(c.p, buf);
		free(buf);
	}
}

Test(mp, byte_0xc1_is_malformed_wherever_a_value_starts)
{
	static const uint8_t top[] = { 0xc1 };
	static const uint8_t in_array[] = { 0x92, 0x01, 0xc1 };
	static const uint8_t as_key[] = { 0x81, 0xc1, 0x01 };
	static const uint8_t in_str[] = { 0xa1, 0xc1 };
	const char *err = NULL;
	size_t vlen = 0;
	uint8_t *buf;
	mp_cursor c;

	cr_assert_eq(scan_bytes(top, 1, &RPC, &vlen, &err), MP_ERR_MALFORMED);
	cr_assert_str_eq(err, "invalid MessagePack byte 0xc1");
	err = NULL;
	cr_assert_eq(scan_bytes(in_array, 3, &RPC, &vlen, &err),
	    MP_ERR_MALFORMED);
	cr_assert_str_eq(err, "invalid MessagePack byte 0xc1");
	cr_assert_eq(scan_bytes(as_key, 3, &RPC, &vlen, &err), MP_ERR_MALFORMED);
	/* Inside a payload it is just a byte. */
	cr_assert_eq(scan_bytes(in_str, 2, &RPC, &vlen, &err), MP_OK);
	cr_assert_eq(vlen, 2);

	buf = dup_exact(top, 1);
	mp_cursor_init(&c, buf, 1);
	cr_assert_eq(mp_peek(&c), MP_T_INVALID);
	cr_assert_not(try_all_readers(&c), "no reader accepts 0xc1");
	cr_assert_eq(c.p, buf);
	free(buf);

	buf = dup_exact(in_array, 3);
	mp_cursor_init(&c, buf, 3);
	cr_assert_not(mp_skip(&c));
	cr_assert_eq(c.p, buf);
	free(buf);
}

Test(mp, frame_larger_than_frame_bytes_max_is_refused)
{
	mp_limits lim = { 64, 8, 1000, 1000, 1000 };
	uint8_t v[200];
	size_t len = 0, vlen = 0;
	const char *err = NULL;

	/* ["xxxxxxxxxx" x 10]: 1 + 10 * 11 = 111 bytes. */
	v[len++] = 0x9a;
	for (int k = 0; k < 10; k++) {
		v[len++] = 0xaa;
		memset(v + len, 'x', 10);
		len += 10;
	}
	cr_assert_eq(len, 111);
	cr_assert_eq(scan_bytes(v, len, &lim, &vlen, &err), MP_ERR_TOO_LARGE);
	cr_assert_str_eq(err, "frame larger than the limit");
	/* Known before frame_bytes_max bytes have even arrived. */
	cr_assert_eq(scan_bytes(v, 64, &lim, &vlen, &err), MP_ERR_TOO_LARGE);
	cr_assert_eq(scan_bytes(v, 60, &lim, &vlen, &err), MP_ERR_TOO_LARGE);
	/* With a large enough frame the same bytes are fine. */
	lim.frame_bytes_max = 111;
	cr_assert_eq(scan_bytes(v, len, &lim, &vlen, &err), MP_OK);
	cr_assert_eq(vlen, 111);
	lim.frame_bytes_max = 110;
	cr_assert_eq(scan_bytes(v, len, &lim, &vlen, &err), MP_ERR_TOO_LARGE);

	/* A str8 of 62 bytes is exactly 64 bytes: fine; 63 is not. */
	lim.frame_bytes_max = 64;
	v[0] = 0xd9;
	v[1] = 62;
	memset(v + 2, 'y', 63);
	cr_assert_eq(scan_bytes(v, 64, &lim, &vlen, &err), MP_OK);
	cr_assert_eq(vlen, 64);
	cr_assert_eq(scan_bytes(v, 2, &lim, &vlen, &err), MP_INCOMPLETE);
	v[1] = 63;
	cr_assert_eq(scan_bytes(v, 2, &lim, &vlen, &err), MP_ERR_TOO_LARGE,
	    "refused from the header alone");

	/* A frame limit of 0 admits nothing, not even an empty buffer. */
	lim.frame_bytes_max = 0;
	cr_assert_eq(scan_bytes(v, 0, &lim, &vlen, &err), MP_ERR_TOO_LARGE);
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

/* ------------------------------------------------------------------------
 * 4. Deterministic fuzz
 * --------------------------------------------------------------------- */

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

Test(mp, random_bytes_never_scan_past_their_end_and_skip_agrees)
{
	/* Bytes that make structure likelier than uniform noise does. */
	static const uint8_t interesting[] = {
		0x00, 0x01, 0x02, 0x03, 0x7f, 0x80, 0x81, 0x82, 0x8f, 0x90,
		0x91, 0x92, 0x93, 0x9f, 0xa0, 0xa1, 0xa3, 0xbf, 0xc0, 0xc1,
		0xc2, 0xc4, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcc, 0xcf,
		0xd0, 0xd3, 0xd4, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde,
		0xdf, 0xe0, 0xff,
	};
	uint64_t seed = UINT64_C(0x9e3779b97f4a7c15);
	uint8_t tmp[64];
	unsigned n_ok = 0, n_inc = 0, n_mal = 0, n_big = 0;

	for (int it = 0; it < 200000; it++) {
		size_t len = xorshift(&seed) % 65;
		bool loose = it & 1;
		mp_limits lim;
		uint8_t *buf;
		size_t vlen = SIZE_MAX;
		const char *err = NULL;
		mp_cursor c;
		bool skipped;
		int r;

		for (size_t k = 0; k < len; k++) {
			uint64_t x = xorshift(&seed);

			tmp[k] = (x & 1) ? interesting[(x >> 8) % sizeof interesting]
			    : (uint8_t)(x >> 16);
		}
		if (loose) {
			lim = LOOSE;
		} else {
			uint64_t x = xorshift(&seed);

			lim.frame_bytes_max = x % 80;
			lim.depth_max = (uint32_t)(x >> 8) % 10;
			lim.array_max = (uint32_t)(x >> 16) % 20;
			lim.map_max = (uint32_t)(x >> 24) % 20;
			lim.str_max = (uint32_t)(x >> 32) % 40;
		}
		buf = dup_exact(tmp, len);
		r = mp_scan(buf, len, &lim, &vlen, &err);
		mp_cursor_init(&c, buf, len);
		skipped = mp_skip(&c);
		if (!skipped && c.p != buf)
			cr_assert_fail("it %d: failed skip moved the cursor", it);

		switch (r) {
		case MP_OK:
			n_ok++;
			if (vlen == 0 || vlen > len || vlen > lim.frame_bytes_max ||
			    err != NULL)
				cr_assert_fail("it %d: OK with value_len %zu of %zu",
				    it, vlen, len);
			if (!skipped || (size_t)(c.p - buf) != vlen)
				cr_assert_fail("it %d: scan says %zu, skip says %td",
				    it, vlen, skipped ? c.p - buf : -1);
			/* The value alone scans the same. */
			{
				uint8_t *only = dup_exact(buf, vlen);
				size_t v2 = 0;

				if (mp_scan(only, vlen, &lim, &v2, NULL) != MP_OK ||
				    v2 != vlen)
					cr_assert_fail("it %d: value alone differs", it);
				free(only);
			}
			break;
		case MP_INCOMPLETE:
			n_inc++;
			if (skipped || len >= lim.frame_bytes_max || err != NULL)
				cr_assert_fail("it %d: INCOMPLETE but skip %d", it,
				    skipped);
			break;
		case MP_ERR_MALFORMED:
			n_mal++;
			if (skipped || err == NULL)
				cr_assert_fail("it %d: MALFORMED but skip ok", it);
			break;
		case MP_ERR_TOO_LARGE:
			n_big++;
			if (err == NULL)
				cr_assert_fail("it %d: no message", it);
			/* Under LOOSE only depth can be too large, and skip
			 * has the same hard cap. */
			if (loose && skipped)
				cr_assert_fail("it %d: LOOSE refused a value "
				    "skip accepts (%s)", it, err);
			break;
		default:
			cr_assert_fail("it %d: unknown status %d", it, r);
		}
		/* Under LOOSE, skip succeeding means scan found the value. */
		if (loose && skipped && r != MP_OK)
			cr_assert_fail("it %d: skip ok but scan %d", it, r);
		free(buf);
	}
	/* The generator reached every outcome a fair number of times. */
	cr_assert_gt(n_ok, 1000);
	cr_assert_gt(n_inc, 1000);
	cr_assert_gt(n_mal, 1000);
	cr_assert_gt(n_big, 1000);
}
