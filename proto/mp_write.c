/*
 * mp_write.c - the MessagePack writer: a growable buffer and writers that
 * always pick the smallest encoding (see mp.h). Multi-byte fields are
 * stored big-endian with shifts, never through unaligned pointer casts.
 */
#include "mp.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

static inline void st16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void st32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void st64(uint8_t *p, uint64_t v)
{
	st32(p, (uint32_t)(v >> 32));
	st32(p + 4, (uint32_t)v);
}

/* ------------------------------------------------------------------------
 * Writer
 * --------------------------------------------------------------------- */

#define MP_BUF_START 256

void mp_buf_init(mp_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->failed = false;
}

void mp_buf_finish(mp_buf *b)
{
	free(b->data);
	mp_buf_init(b);
}

static bool buf_grow(mp_buf *b, size_t n)
{
	size_t cap = b->cap ? b->cap : MP_BUF_START;
	uint8_t *d;

	if (n > SIZE_MAX - b->len)
		goto fail;
	while (cap - b->len < n) {
		if (cap > SIZE_MAX / 2)
			goto fail;
		cap *= 2;
	}
	d = realloc(b->data, cap);
	if (!d)
		goto fail;
	b->data = d;
	b->cap = cap;
	return true;
fail:
	b->failed = true;
	return false;
}

bool mp_buf_reserve(mp_buf *b, size_t n)
{
	if (b->failed)
		return false;
	if (b->cap - b->len >= n && b->data)
		return true;
	return buf_grow(b, n);
}

/* Room for n bytes at the end of b, or NULL (b->failed is then set). The
 * common case, room already there, stays inline in every writer. */
static inline uint8_t *wr(mp_buf *b, size_t n)
{
	if (__builtin_expect(b->data != NULL && !b->failed && b->cap - b->len >= n, 1))
		return b->data + b->len;
	if (!mp_buf_reserve(b, n))
		return NULL;
	return b->data + b->len;
}

void mp_write_nil(mp_buf *b)
{
	uint8_t *p = wr(b, 1);

	if (!p)
		return;
	p[0] = 0xc0;
	b->len += 1;
}

void mp_write_bool(mp_buf *b, bool v)
{
	uint8_t *p = wr(b, 1);

	if (!p)
		return;
	p[0] = v ? 0xc3 : 0xc2;
	b->len += 1;
}

void mp_write_uint(mp_buf *b, uint64_t v)
{
	uint8_t *p = wr(b, 9);

	if (!p)
		return;
	if (v <= 0x7f) {
		p[0] = (uint8_t)v;
		b->len += 1;
	} else if (v <= UINT8_MAX) {
		p[0] = 0xcc;
		p[1] = (uint8_t)v;
		b->len += 2;
	} else if (v <= UINT16_MAX) {
		p[0] = 0xcd;
		st16(p + 1, (uint16_t)v);
		b->len += 3;
	} else if (v <= UINT32_MAX) {
		p[0] = 0xce;
		st32(p + 1, (uint32_t)v);
		b->len += 5;
	} else {
		p[0] = 0xcf;
		st64(p + 1, v);
		b->len += 9;
	}
}

void mp_write_int(mp_buf *b, int64_t v)
{
	uint8_t *p;

	if (v >= 0) {
		mp_write_uint(b, (uint64_t)v);
		return;
	}
	p = wr(b, 9);
	if (!p)
		return;
	if (v >= -32) {
		p[0] = (uint8_t)(int8_t)v;              /* 0xe0..0xff */
		b->len += 1;
	} else if (v >= INT8_MIN) {
		p[0] = 0xd0;
		p[1] = (uint8_t)(int8_t)v;
		b->len += 2;
	} else if (v >= INT16_MIN) {
		p[0] = 0xd1;
		st16(p + 1, (uint16_t)(int16_t)v);
		b->len += 3;
	} else if (v >= INT32_MIN) {
		p[0] = 0xd2;
		st32(p + 1, (uint32_t)(int32_t)v);
		b->len += 5;
	} else {
		p[0] = 0xd3;
		st64(p + 1, (uint64_t)v);
		b->len += 9;
	}
}

void mp_write_double(mp_buf *b, double v)
{
	uint8_t *p = wr(b, 9);
	uint64_t u;

	if (!p)
		return;
	memcpy(&u, &v, sizeof u);
	p[0] = 0xcb;
	st64(p + 1, u);
	b->len += 9;
}

void mp_write_str(mp_buf *b, const char *s, size_t len)
{
	uint8_t *p;
	size_t h;

	if (len > UINT32_MAX || len > SIZE_MAX - 5) {
		/* Not representable in MessagePack: fail the whole buffer. */
		b->failed = true;
		return;
	}
	p = wr(b, 5 + len);
	if (!p)
		return;
	if (len <= 31) {
		p[0] = (uint8_t)(0xa0 | len);
		h = 1;
	} else if (len <= UINT8_MAX) {
		p[0] = 0xd9;
		p[1] = (uint8_t)len;
		h = 2;
	} else if (len <= UINT16_MAX) {
		p[0] = 0xda;
		st16(p + 1, (uint16_t)len);
		h = 3;
	} else {
		p[0] = 0xdb;
		st32(p + 1, (uint32_t)len);
		h = 5;
	}
	if (len > 0)
		memcpy(p + h, s, len);
	b->len += h + len;
}

void mp_write_cstr(mp_buf *b, const char *s)
{
	/* NULL is written as the empty string, never dereferenced. */
	mp_write_str(b, s ? s : "", s ? strlen(s) : 0);
}

static inline void write_container(mp_buf *b, uint32_t n, uint8_t fix,
    uint8_t c16, uint8_t c32)
{
	uint8_t *p = wr(b, 5);

	if (!p)
		return;
	if (n <= 15) {
		p[0] = (uint8_t)(fix | n);
		b->len += 1;
	} else if (n <= UINT16_MAX) {
		p[0] = c16;
		st16(p + 1, (uint16_t)n);
		b->len += 3;
	} else {
		p[0] = c32;
		st32(p + 1, n);
		b->len += 5;
	}
}

void mp_write_array(mp_buf *b, uint32_t n)
{
	write_container(b, n, 0x90, 0xdc, 0xdd);
}

void mp_write_map(mp_buf *b, uint32_t n)
{
	write_container(b, n, 0x80, 0xde, 0xdf);
}

void mp_write_raw(mp_buf *b, const void *p, size_t len)
{
	uint8_t *d = wr(b, len);

	if (!d || len == 0)
		return;
	memcpy(d, p, len);
	b->len += len;
}
