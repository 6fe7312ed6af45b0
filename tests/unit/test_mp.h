/*
 * test_mp.h - what the MessagePack unit tests share: limits, exact-size
 * copies (so ASan or valgrind flag any overread), a msgpack-c packer, the
 * check that every reader stays inside its input, and a real msgpack-rpc
 * request to feed in pieces.
 */
#ifndef ALLOT_TESTS_TEST_MP_H
#define ALLOT_TESTS_TEST_MP_H

#include <criterion/criterion.h>
#include <msgpack.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../proto/mp.h"

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
static inline uint8_t *dup_exact(const void *p, size_t len)
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

static inline void packer_init(packer *p)
{
	msgpack_sbuffer_init(&p->sb);
	msgpack_packer_init(&p->pk, &p->sb, msgpack_sbuffer_write);
}

static inline void packer_clear(packer *p)
{
	msgpack_sbuffer_clear(&p->sb);
}

static inline void packer_destroy(packer *p)
{
	msgpack_sbuffer_destroy(&p->sb);
}

static inline void pack_cstr(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str_with_body(pk, s, strlen(s));
}

/*
 * Try every reader at the cursor. A reader that fails must leave the
 * cursor where it was. Returns true if one of them advanced it.
 */
static inline bool try_all_readers(mp_cursor *c)
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

/* [0, 7, "reserve", [{"order_id": "o-1", "lines": [{"sku": "A", "qty": 2}],
 *   "ttl_ms": 60000, "explain": true, "ship_to": {"lat": 51.5,
 *   "lon": -0.12}}]] */
static inline void pack_reserve(msgpack_packer *pk)
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
static inline void pack_release(msgpack_packer *pk)
{
	msgpack_pack_array(pk, 4);
	msgpack_pack_int(pk, 0);
	msgpack_pack_int(pk, 8);
	pack_cstr(pk, "release");
	msgpack_pack_array(pk, 1);
	pack_cstr(pk, "o-1");
}

#endif
