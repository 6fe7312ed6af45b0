/*
 * test_mp_scan.c - unit tests for proto/mp.c's scanner as one call sees it
 * (mp_scan, a fresh reader): every format and every truncation of it, a
 * real msgpack-rpc request cut anywhere, hostile headers refused from the
 * header alone with the messages the server passes on, and a small
 * deterministic fuzz loop against mp_skip. The resumable side of the
 * reader is in test_mp_reader.c.
 *
 * Inputs that must not be read past their end are always handed over in
 * exact-size malloc'ed copies, so ASan or valgrind flag any overread.
 */
#include "test_mp.h"

/* ------------------------------------------------------------------------
 * 1. Every format: scan, skip, peek, and every truncation of it
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
Test(mp_scan, every_format_scans_skips_and_peeks_and_every_truncation_is_incomplete)
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
 * 2. A real msgpack-rpc request, cut anywhere
 * --------------------------------------------------------------------- */

Test(mp_scan, rpc_request_is_incomplete_at_every_split_and_ok_when_whole)
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

Test(mp_scan, rpc_request_followed_by_more_bytes_scans_only_the_first_value)
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

/* ------------------------------------------------------------------------
 * 3. Hostile input
 * --------------------------------------------------------------------- */


static int scan_bytes(const uint8_t *src, size_t len, const mp_limits *lim,
    size_t *vlen, const char **err)
{
	uint8_t *buf = dup_exact(src, len);
	int r = mp_scan(buf, len, lim, vlen, err);

	free(buf);
	return r;
}

Test(mp_scan, array32_claiming_4g_elements_is_refused_from_its_5_byte_header)
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

Test(mp_scan, claimed_elements_are_checked_against_the_frame_to_the_byte)
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

Test(mp_scan, map32_claiming_4g_pairs_is_refused_from_its_header)
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

Test(mp_scan, str_bin_and_ext32_claiming_4gib_are_refused_from_their_headers)
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

Test(mp_scan, arrays_longer_than_array_max_are_refused)
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

Test(mp_scan, nesting_deeper_than_depth_max_is_refused_and_exactly_max_is_ok)
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

Test(mp_scan, byte_0xc1_is_malformed_wherever_a_value_starts)
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

Test(mp_scan, frame_larger_than_frame_bytes_max_is_refused)
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

Test(mp_scan, random_bytes_never_scan_past_their_end_and_skip_agrees)
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
