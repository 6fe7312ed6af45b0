/*
 * mp.c - bounded MessagePack scanning, in-place reading and writing.
 *
 * See mp.h for the contract. Everything here is byte-oriented: multi-byte
 * fields are assembled with shifts (big-endian on the wire), never through
 * unaligned pointer casts, and every read is checked against the end of
 * the input before it happens.
 */
#include "mp.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * Big-endian helpers
 * --------------------------------------------------------------------- */

static inline uint16_t ld16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | (uint16_t)p[1]);
}

static inline uint32_t ld32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline uint64_t ld64(const uint8_t *p)
{
	return (uint64_t)ld32(p) << 32 | (uint64_t)ld32(p + 4);
}

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

/* Read an n-byte (1, 2 or 4) big-endian unsigned length field. */
static inline uint32_t ldn(const uint8_t *p, unsigned n)
{
	switch (n) {
	case 1: return p[0];
	case 2: return ld16(p);
	default: return ld32(p);
	}
}

/* ------------------------------------------------------------------------
 * Classification of a leading byte
 * --------------------------------------------------------------------- */

enum hkind {
	HK_BAD,     /* 0xc1 */
	HK_FIXED,   /* whole value is hdr bytes (scalars, fixext payload incl.) */
	HK_STR,     /* hdr bytes, then len bytes of payload */
	HK_BIN,
	HK_EXT,     /* hdr includes the ext type byte; len is the payload */
	HK_ARRAY,   /* hdr bytes, then len elements */
	HK_MAP,     /* hdr bytes, then len key/value pairs */
};

/*
 * What a leading byte says about the value it starts:
 *   kind    - see enum hkind
 *   hdr     - bytes of header (for HK_FIXED, the whole value)
 *   lenbytes- width of the big-endian length field after the first byte
 *             (0 when the length is in the first byte or implied)
 *   len     - the implied length when lenbytes == 0 (fixstr, fixarray,
 *             fixmap length; fixext payload size)
 */
struct hinfo {
	uint8_t kind;
	uint8_t hdr;
	uint8_t lenbytes;
	uint8_t len;
};

static inline struct hinfo classify(uint8_t b)
{
	struct hinfo h = { HK_FIXED, 1, 0, 0 };

	if (b <= 0x7f || b >= 0xe0)             /* positive / negative fixint */
		return h;
	if (b <= 0x8f) {                        /* fixmap */
		h.kind = HK_MAP;
		h.len = b & 0x0f;
		return h;
	}
	if (b <= 0x9f) {                        /* fixarray */
		h.kind = HK_ARRAY;
		h.len = b & 0x0f;
		return h;
	}
	if (b <= 0xbf) {                        /* fixstr */
		h.kind = HK_STR;
		h.len = b & 0x1f;
		return h;
	}
	switch (b) {
	case 0xc0: case 0xc2: case 0xc3:        /* nil, false, true */
		return h;
	case 0xc1:
		h.kind = HK_BAD;
		return h;
	case 0xc4: h.kind = HK_BIN; h.hdr = 2; h.lenbytes = 1; return h;
	case 0xc5: h.kind = HK_BIN; h.hdr = 3; h.lenbytes = 2; return h;
	case 0xc6: h.kind = HK_BIN; h.hdr = 5; h.lenbytes = 4; return h;
	case 0xc7: h.kind = HK_EXT; h.hdr = 3; h.lenbytes = 1; return h;
	case 0xc8: h.kind = HK_EXT; h.hdr = 4; h.lenbytes = 2; return h;
	case 0xc9: h.kind = HK_EXT; h.hdr = 6; h.lenbytes = 4; return h;
	case 0xca: h.hdr = 5; return h;         /* float 32 */
	case 0xcb: h.hdr = 9; return h;         /* float 64 */
	case 0xcc: case 0xd0: h.hdr = 2; return h;
	case 0xcd: case 0xd1: h.hdr = 3; return h;
	case 0xce: case 0xd2: h.hdr = 5; return h;
	case 0xcf: case 0xd3: h.hdr = 9; return h;
	case 0xd4: h.kind = HK_EXT; h.hdr = 2; h.len = 1; return h;
	case 0xd5: h.kind = HK_EXT; h.hdr = 2; h.len = 2; return h;
	case 0xd6: h.kind = HK_EXT; h.hdr = 2; h.len = 4; return h;
	case 0xd7: h.kind = HK_EXT; h.hdr = 2; h.len = 8; return h;
	case 0xd8: h.kind = HK_EXT; h.hdr = 2; h.len = 16; return h;
	case 0xd9: h.kind = HK_STR; h.hdr = 2; h.lenbytes = 1; return h;
	case 0xda: h.kind = HK_STR; h.hdr = 3; h.lenbytes = 2; return h;
	case 0xdb: h.kind = HK_STR; h.hdr = 5; h.lenbytes = 4; return h;
	case 0xdc: h.kind = HK_ARRAY; h.hdr = 3; h.lenbytes = 2; return h;
	case 0xdd: h.kind = HK_ARRAY; h.hdr = 5; h.lenbytes = 4; return h;
	case 0xde: h.kind = HK_MAP; h.hdr = 3; h.lenbytes = 2; return h;
	default:   h.kind = HK_MAP; h.hdr = 5; h.lenbytes = 4; return h; /* 0xdf */
	}
}

/* ------------------------------------------------------------------------
 * mp_scan
 * --------------------------------------------------------------------- */

static const char ERR_C1[] = "invalid MessagePack byte 0xc1";
static const char ERR_DEPTH[] = "nesting deeper than the limit";
static const char ERR_FRAME[] = "frame larger than the limit";
static const char ERR_ARRAY[] = "array longer than the limit";
static const char ERR_MAP[] = "map longer than the limit";
static const char ERR_STR[] = "string longer than the limit";
static const char ERR_BIN[] = "bin longer than the limit";
static const char ERR_EXT[] = "ext longer than the limit";

static inline int scan_fail(const char **err, int status, const char *msg)
{
	if (err)
		*err = msg;
	return status;
}

int mp_scan(const uint8_t *buf, size_t len, const mp_limits *lim,
    size_t *value_len, const char **err)
{
	/*
	 * stack[i] counts the elements of the open container at depth i+1
	 * that have not been started yet (a map of n pairs has 2n elements).
	 * need is their sum: every one of them takes at least one byte, so
	 * pos + need bytes is the least the frame can still end up as.
	 * Invariant: pos + need <= frame_max, so frame_max - pos - need never
	 * wraps.
	 */
	uint64_t stack[MP_DEPTH_HARD_MAX];
	const size_t frame_max = lim->frame_bytes_max;
	const uint32_t depth_max = lim->depth_max < MP_DEPTH_HARD_MAX ?
	    lim->depth_max : MP_DEPTH_HARD_MAX;
	size_t pos = 0;
	size_t need = 0;
	uint32_t depth = 0;

	if (err)
		*err = NULL;

	for (;;) {
		struct hinfo h;
		size_t avail;
		uint64_t n;

		/* Start one value: take it off its container's count. */
		if (depth > 0) {
			stack[depth - 1]--;
			need--;
		}
		/* Even its first byte would not fit. */
		if (frame_max - pos - need < 1)
			return scan_fail(err, MP_ERR_TOO_LARGE, ERR_FRAME);
		if (pos >= len)
			goto incomplete;

		h = classify(buf[pos]);
		if (h.kind == HK_BAD)
			return scan_fail(err, MP_ERR_MALFORMED, ERR_C1);
		if ((h.kind == HK_ARRAY || h.kind == HK_MAP) && depth >= depth_max)
			return scan_fail(err, MP_ERR_TOO_LARGE, ERR_DEPTH);

		avail = frame_max - pos - need;
		if (h.hdr > avail)
			return scan_fail(err, MP_ERR_TOO_LARGE, ERR_FRAME);
		if (len - pos < h.hdr)
			goto incomplete;

		n = h.lenbytes ? ldn(buf + pos + 1, h.lenbytes) : h.len;
		avail -= h.hdr;

		switch (h.kind) {
		case HK_FIXED:
			pos += h.hdr;
			break;
		case HK_STR:
		case HK_BIN:
		case HK_EXT:
			if (n > lim->str_max)
				return scan_fail(err, MP_ERR_TOO_LARGE,
				    h.kind == HK_STR ? ERR_STR :
				    h.kind == HK_BIN ? ERR_BIN : ERR_EXT);
			if (n > avail)
				return scan_fail(err, MP_ERR_TOO_LARGE, ERR_FRAME);
			if (len - pos - h.hdr < n)
				goto incomplete;
			pos += h.hdr + (size_t)n;
			break;
		case HK_ARRAY:
		case HK_MAP:
			if (h.kind == HK_ARRAY && n > lim->array_max)
				return scan_fail(err, MP_ERR_TOO_LARGE, ERR_ARRAY);
			if (h.kind == HK_MAP && n > lim->map_max)
				return scan_fail(err, MP_ERR_TOO_LARGE, ERR_MAP);
			if (h.kind == HK_MAP)
				n *= 2;
			if (n > avail)
				return scan_fail(err, MP_ERR_TOO_LARGE, ERR_FRAME);
			pos += h.hdr;
			if (n > 0) {
				stack[depth++] = n;
				need += (size_t)n;
				continue;
			}
			break;
		default:
			return scan_fail(err, MP_ERR_MALFORMED, ERR_C1);
		}

		/* A value ended: close every container it completed. */
		while (depth > 0 && stack[depth - 1] == 0)
			depth--;
		if (depth == 0) {
			if (value_len)
				*value_len = pos;
			return MP_OK;
		}
	}

incomplete:
	/* Cannot happen given the checks above, but keep the promise. */
	if (len >= frame_max)
		return scan_fail(err, MP_ERR_TOO_LARGE, ERR_FRAME);
	return MP_INCOMPLETE;
}

/* ------------------------------------------------------------------------
 * Cursor
 * --------------------------------------------------------------------- */

static inline size_t cur_left(const mp_cursor *c)
{
	return c->p < c->end ? (size_t)(c->end - c->p) : 0;
}

mp_type mp_peek(const mp_cursor *c)
{
	uint8_t b;

	if (cur_left(c) == 0)
		return MP_T_INVALID;
	b = c->p[0];
	if (b <= 0x7f)
		return MP_T_UINT;
	if (b <= 0x8f)
		return MP_T_MAP;
	if (b <= 0x9f)
		return MP_T_ARRAY;
	if (b <= 0xbf)
		return MP_T_STR;
	if (b >= 0xe0)
		return MP_T_INT;
	switch (b) {
	case 0xc0: return MP_T_NIL;
	case 0xc2: case 0xc3: return MP_T_BOOL;
	case 0xc4: case 0xc5: case 0xc6: return MP_T_BIN;
	case 0xc7: case 0xc8: case 0xc9: return MP_T_EXT;
	case 0xca: case 0xcb: return MP_T_FLOAT;
	case 0xcc: case 0xcd: case 0xce: case 0xcf: return MP_T_UINT;
	case 0xd0: case 0xd1: case 0xd2: case 0xd3: return MP_T_INT;
	case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: return MP_T_EXT;
	case 0xd9: case 0xda: case 0xdb: return MP_T_STR;
	case 0xdc: case 0xdd: return MP_T_ARRAY;
	case 0xde: case 0xdf: return MP_T_MAP;
	default: return MP_T_INVALID; /* 0xc1 */
	}
}

bool mp_read_nil(mp_cursor *c)
{
	if (cur_left(c) < 1 || c->p[0] != 0xc0)
		return false;
	c->p++;
	return true;
}

bool mp_read_bool(mp_cursor *c, bool *v)
{
	if (cur_left(c) < 1 || (c->p[0] != 0xc2 && c->p[0] != 0xc3))
		return false;
	*v = c->p[0] == 0xc3;
	c->p++;
	return true;
}

/*
 * Decode the integer under the cursor without moving it. *neg is true when
 * the value is negative (only signed encodings can be); *bits holds the
 * value when !*neg, or its int64_t two's-complement pattern when *neg.
 * Returns the encoded size, or 0 if the next value is not an integer or is
 * truncated.
 */
static size_t peek_int(const mp_cursor *c, bool *neg, uint64_t *bits)
{
	size_t left = cur_left(c);
	const uint8_t *p = c->p;
	size_t size;
	int64_t s;

	if (left < 1)
		return 0;
	if (p[0] <= 0x7f) {
		*neg = false;
		*bits = p[0];
		return 1;
	}
	if (p[0] >= 0xe0) {
		*neg = true;
		*bits = (uint64_t)(int64_t)(int8_t)p[0];
		return 1;
	}
	switch (p[0]) {
	case 0xcc: case 0xd0: size = 2; break;
	case 0xcd: case 0xd1: size = 3; break;
	case 0xce: case 0xd2: size = 5; break;
	case 0xcf: case 0xd3: size = 9; break;
	default: return 0;
	}
	if (left < size)
		return 0;
	switch (p[0]) {
	case 0xcc: *neg = false; *bits = p[1]; return size;
	case 0xcd: *neg = false; *bits = ld16(p + 1); return size;
	case 0xce: *neg = false; *bits = ld32(p + 1); return size;
	case 0xcf: *neg = false; *bits = ld64(p + 1); return size;
	case 0xd0: s = (int8_t)p[1]; break;
	case 0xd1: s = (int16_t)ld16(p + 1); break;
	case 0xd2: s = (int32_t)ld32(p + 1); break;
	default:   s = (int64_t)ld64(p + 1); break;
	}
	*neg = s < 0;
	*bits = (uint64_t)s;
	return size;
}

bool mp_read_int(mp_cursor *c, int64_t *v)
{
	bool neg;
	uint64_t bits;
	size_t n = peek_int(c, &neg, &bits);

	if (n == 0)
		return false;
	if (!neg && bits > (uint64_t)INT64_MAX)
		return false;
	*v = (int64_t)bits; /* negative: gnu11/two's complement conversion */
	c->p += n;
	return true;
}

bool mp_read_uint(mp_cursor *c, uint64_t *v)
{
	bool neg;
	uint64_t bits;
	size_t n = peek_int(c, &neg, &bits);

	if (n == 0 || neg)
		return false;
	*v = bits;
	c->p += n;
	return true;
}

bool mp_read_double(mp_cursor *c, double *v)
{
	size_t left = cur_left(c);
	bool neg;
	uint64_t bits;
	size_t n;

	if (left >= 1 && c->p[0] == 0xca) {
		uint32_t u;
		float f;

		if (left < 5)
			return false;
		u = ld32(c->p + 1);
		memcpy(&f, &u, sizeof f);
		*v = (double)f;
		c->p += 5;
		return true;
	}
	if (left >= 1 && c->p[0] == 0xcb) {
		uint64_t u;
		double d;

		if (left < 9)
			return false;
		u = ld64(c->p + 1);
		memcpy(&d, &u, sizeof d);
		*v = d;
		c->p += 9;
		return true;
	}
	n = peek_int(c, &neg, &bits);
	if (n == 0)
		return false;
	*v = neg ? (double)(int64_t)bits : (double)bits;
	c->p += n;
	return true;
}

bool mp_read_str(mp_cursor *c, const char **s, uint32_t *len)
{
	size_t left = cur_left(c);
	struct hinfo h;
	uint32_t n;

	if (left < 1)
		return false;
	h = classify(c->p[0]);
	if (h.kind != HK_STR && h.kind != HK_BIN)
		return false;
	if (left < h.hdr)
		return false;
	n = h.lenbytes ? ldn(c->p + 1, h.lenbytes) : h.len;
	if (n > left - h.hdr)
		return false;
	*s = (const char *)(c->p + h.hdr);
	*len = n;
	c->p += h.hdr + (size_t)n;
	return true;
}

static bool read_container(mp_cursor *c, uint32_t *n, uint8_t kind)
{
	size_t left = cur_left(c);
	struct hinfo h;

	if (left < 1)
		return false;
	h = classify(c->p[0]);
	if (h.kind != kind || left < h.hdr)
		return false;
	*n = h.lenbytes ? ldn(c->p + 1, h.lenbytes) : h.len;
	c->p += h.hdr;
	return true;
}

bool mp_read_array(mp_cursor *c, uint32_t *n)
{
	return read_container(c, n, HK_ARRAY);
}

bool mp_read_map(mp_cursor *c, uint32_t *n)
{
	return read_container(c, n, HK_MAP);
}

bool mp_skip(mp_cursor *c)
{
	/* stack[i]: elements not yet started in the container at depth i+1. */
	uint64_t stack[MP_DEPTH_HARD_MAX];
	const uint8_t *p = c->p;
	size_t left = cur_left(c);
	uint32_t depth = 0;

	for (;;) {
		struct hinfo h;
		uint64_t n;

		if (depth > 0)
			stack[depth - 1]--;
		if (left < 1)
			return false;
		h = classify(*p);
		if (h.kind == HK_BAD || left < h.hdr)
			return false;
		n = h.lenbytes ? ldn(p + 1, h.lenbytes) : h.len;
		p += h.hdr;
		left -= h.hdr;

		switch (h.kind) {
		case HK_FIXED:
			break;
		case HK_STR:
		case HK_BIN:
		case HK_EXT:
			if (n > left)
				return false;
			p += n;
			left -= (size_t)n;
			break;
		default: /* HK_ARRAY, HK_MAP */
			if (depth >= MP_DEPTH_HARD_MAX)
				return false;
			if (h.kind == HK_MAP)
				n *= 2;
			/* Every element takes at least one byte. */
			if (n > left)
				return false;
			if (n > 0) {
				stack[depth++] = n;
				continue;
			}
			break;
		}

		while (depth > 0 && stack[depth - 1] == 0)
			depth--;
		if (depth == 0) {
			c->p = p;
			return true;
		}
	}
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
