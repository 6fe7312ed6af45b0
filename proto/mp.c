/*
 * mp.c - bounded, resumable MessagePack scanning and in-place reading (the
 * writer is in mp_write.c).
 *
 * See mp.h for the contract. Everything here is byte-oriented: multi-byte
 * fields are assembled with shifts (big-endian on the wire), never through
 * unaligned pointer casts, and every read is checked against the end of
 * the input before it happens.
 */
#include "mp.h"

#include <assert.h>
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
 * mp_reader
 * --------------------------------------------------------------------- */

static const char ERR_C1[] = "invalid MessagePack byte 0xc1";
static const char ERR_DEPTH[] = "nesting deeper than the limit";
static const char ERR_FRAME[] = "frame larger than the limit";
static const char ERR_ARRAY[] = "array longer than the limit";
static const char ERR_MAP[] = "map longer than the limit";
static const char ERR_STR[] = "string longer than the limit";
static const char ERR_BIN[] = "bin longer than the limit";
static const char ERR_EXT[] = "ext longer than the limit";

/* What one step of the walk did, besides the mp_status values. */
#define STEP_TAKEN 2 /* a value (or a container's header) was walked */

/* Back to the start of a frame; the limits and the counter stay. */
static void reader_restart(mp_reader *r)
{
	r->pos = 0;
	r->need = 0;
	r->depth = 0;
	r->counted = false;
	r->err = 0;
	r->why = NULL;
}

void mp_reader_init(mp_reader *r, const mp_limits *lim)
{
	r->lim = *lim;
	if (r->lim.depth_max > MP_DEPTH_HARD_MAX)
		r->lim.depth_max = MP_DEPTH_HARD_MAX;
	r->headers = 0;
	reader_restart(r);
}

void mp_reader_reset(mp_reader *r)
{
	reader_restart(r);
	assert(r->pos == 0 && r->depth == 0 && r->need == 0 && r->err == 0);
}

static int reader_fail(mp_reader *r, int status, const char *msg)
{
	r->err = status;
	r->why = msg;
	return status;
}

/*
 * Check what header h claims, n payload bytes (str, bin, ext) or n
 * elements (array, map; a map's n pairs become 2n elements in *n), against
 * the limits and against the avail bytes the frame has left for it.
 * Returns 0, or the error r now holds.
 */
static inline __attribute__((always_inline)) int reader_claim(mp_reader *r, const struct hinfo *h, uint64_t *n,
    size_t avail)
{
	switch (h->kind) {
	case HK_STR:
		if (*n > r->lim.str_max)
			return reader_fail(r, MP_ERR_TOO_LARGE, ERR_STR);
		break;
	case HK_BIN:
		if (*n > r->lim.str_max)
			return reader_fail(r, MP_ERR_TOO_LARGE, ERR_BIN);
		break;
	case HK_EXT:
		if (*n > r->lim.str_max)
			return reader_fail(r, MP_ERR_TOO_LARGE, ERR_EXT);
		break;
	case HK_ARRAY:
		if (*n > r->lim.array_max)
			return reader_fail(r, MP_ERR_TOO_LARGE, ERR_ARRAY);
		break;
	case HK_MAP:
		if (*n > r->lim.map_max)
			return reader_fail(r, MP_ERR_TOO_LARGE, ERR_MAP);
		*n *= 2;
		break;
	default: /* HK_FIXED: the header is the whole value */
		*n = 0;
		break;
	}
	/* Every payload byte and every element takes at least a byte. */
	if (*n > avail)
		return reader_fail(r, MP_ERR_TOO_LARGE, ERR_FRAME);
	return 0;
}

/* Where a walk stands, in locals while it runs (mp_reader_next keeps them
 * in registers and stores them back into the reader when it stops). */
struct walk {
	size_t pos, need;
	uint32_t depth;
	bool counted;
	uint64_t headers;
};

static void walk_save(mp_reader *r, const struct walk *w)
{
	r->pos = w->pos;
	r->need = w->need;
	r->depth = w->depth;
	r->counted = w->counted;
	r->headers = w->headers;
}

/*
 * Walk the one value that starts at w->pos: its header, and for str, bin
 * and ext its payload too; a container's elements are later steps. Returns
 * STEP_TAKEN, MP_INCOMPLETE (nothing changed but w->counted), or the error
 * r now holds.
 *
 * w->need counts the elements of the open containers not yet started.
 * Each takes at least one byte, so pos + need is the least the frame can
 * still end up as, and every claimed length is checked against what that
 * leaves of frame_bytes_max. Invariant: pos + need <= frame_bytes_max, so
 * frame_max - pos - need never wraps.
 */
static inline __attribute__((always_inline)) int reader_step(mp_reader *r, struct walk *w,
    const uint8_t *buf, size_t len)
{
	const size_t frame_max = r->lim.frame_bytes_max;
	struct hinfo h;
	size_t avail;
	uint64_t n;
	int rc;

	/* Start the value: take it off its container's count, once only, as
	 * an INCOMPLETE return comes back here for the same value. */
	if (!w->counted) {
		if (w->depth > 0) {
			r->stack[w->depth - 1]--;
			w->need--;
		}
		w->counted = true;
	}
	/* Even its first byte would not fit. */
	if (frame_max - w->pos - w->need < 1)
		return reader_fail(r, MP_ERR_TOO_LARGE, ERR_FRAME);
	if (w->pos >= len)
		return MP_INCOMPLETE;

	w->headers++;
	h = classify(buf[w->pos]);
	if (h.kind == HK_BAD)
		return reader_fail(r, MP_ERR_MALFORMED, ERR_C1);
	if ((h.kind == HK_ARRAY || h.kind == HK_MAP) && w->depth >= r->lim.depth_max)
		return reader_fail(r, MP_ERR_TOO_LARGE, ERR_DEPTH);
	avail = frame_max - w->pos - w->need;
	if (h.hdr > avail)
		return reader_fail(r, MP_ERR_TOO_LARGE, ERR_FRAME);
	if (len - w->pos < h.hdr)
		return MP_INCOMPLETE;
	n = h.lenbytes ? ldn(buf + w->pos + 1, h.lenbytes) : h.len;
	if (h.kind != HK_FIXED) {
		rc = reader_claim(r, &h, &n, avail - h.hdr);
		if (rc < 0)
			return rc;
	} else {
		n = 0;
	}

	if (h.kind == HK_ARRAY || h.kind == HK_MAP) {
		if (n > 0) {
			assert(w->depth < MP_DEPTH_HARD_MAX);
			r->stack[w->depth++] = n;
			w->need += (size_t)n;
		}
		n = 0; /* the elements are later steps, not payload */
	} else if (len - w->pos - h.hdr < n) {
		return MP_INCOMPLETE;
	}
	w->pos += h.hdr + (size_t)n;
	w->counted = false;
	return STEP_TAKEN;
}

/*
 * The walk for the values requests are made of, whole in buf: fixint,
 * fixstr and str8, fixarray, fixmap, nil, bools, floats and fixed-width
 * integers, with the walk's state in registers. It leaves the state
 * exactly as reader_step() would, value by value, and stops at the start
 * of any value it does not take (another type, a limit reached, bytes not
 * there yet) for reader_step() to take, refuse or wait for. Most frames
 * never leave it, at half the instructions per value. Returns true when a
 * value completed the frame.
 */
static inline __attribute__((always_inline)) bool fast_walk(mp_reader *r, struct walk *w,
    const uint8_t *buf, size_t len)
{
	static const uint8_t width[10] = { 5, 9, 2, 3, 5, 9, 2, 3, 5, 9 }; /* 0xca..0xd3 */
	const mp_limits lim = r->lim;
	uint64_t *const stack = r->stack;
	size_t pos = w->pos, need = w->need;
	uint32_t depth = w->depth;
	uint64_t headers = w->headers;
	bool done = false;

	if (w->counted)
		return false;
	while (pos < len) {
		const uint8_t b = buf[pos];
		size_t size = 1; /* the value's bytes, or a container's header's */
		uint64_t n = 0;  /* a container's elements */
		if (b <= 0x7f || b >= 0xe0) {
			/* fixint */
		} else if (b >= 0xa0 && b <= 0xbf) {
			size += b & 0x1f;
			if ((uint32_t)(b & 0x1f) > lim.str_max)
				break;
		} else if (b <= 0x9f) { /* fixmap 0x80-0x8f, fixarray 0x90-0x9f */
			uint32_t k = b & 0x0f;
			if (k > (b <= 0x8f ? lim.map_max : lim.array_max) || depth >= lim.depth_max)
				break;
			n = b <= 0x8f ? 2u * k : k;
		} else if (b == 0xc0 || b == 0xc2 || b == 0xc3) {
			/* nil, false, true */
		} else if (b == 0xd9 && len - pos >= 2 && buf[pos + 1] <= lim.str_max) {
			size += 1 + (size_t)buf[pos + 1];
		} else if (b >= 0xca && b <= 0xd3) {
			size = width[b - 0xca];
		} else {
			break;
		}
		/* Whole in buf, and within the frame's budget once off its
		 * count; a one-byte scalar inside a container is both, as it
		 * takes the byte its count held (pos + need <= the limit). */
		if ((size + n > 1 || depth == 0) && (len - pos < size ||
		    lim.frame_bytes_max - pos - (need - (depth > 0)) < size + n))
			break;
		if (depth > 0) {
			stack[depth - 1]--;
			need--;
		}
		headers++;
		pos += size;
		if (n > 0) {
			assert(depth < MP_DEPTH_HARD_MAX);
			stack[depth++] = n;
			need += (size_t)n;
			continue;
		}
		while (depth > 0 && stack[depth - 1] == 0)
			depth--;
		if (depth == 0) {
			done = true;
			break;
		}
	}
	w->pos = pos;
	w->need = need;
	w->depth = depth;
	w->headers = headers;
	return done;
}

int mp_reader_next(mp_reader *r, const uint8_t *buf, size_t len,
    size_t *frame_len, const char **why)
{
	int rc;

	assert(frame_len != NULL);
	if (why)
		*why = r->err ? r->why : NULL;
	if (r->err)
		return r->err;
	/* The same bytes as last time, plus any new ones. */
	assert(r->pos <= len);
	struct walk w = { r->pos, r->need, r->depth, r->counted, r->headers };
	for (;;) {
		if (!fast_walk(r, &w, buf, len)) {
			if ((rc = reader_step(r, &w, buf, len)) != STEP_TAKEN)
				break;
			/* A value ended: close every container it completed. */
			while (w.depth > 0 && r->stack[w.depth - 1] == 0)
				w.depth--;
		}
		if (w.depth == 0) {
			assert(w.need == 0 && w.pos > 0 && w.pos <= len);
			*frame_len = w.pos;
			r->headers = w.headers;
			reader_restart(r);
			return MP_OK;
		}
	}
	/* The invariants of the walk, checked where it stops rather than at
	 * every value, which would cost a fifth of the scan. */
	assert(w.pos <= r->lim.frame_bytes_max && w.need <= r->lim.frame_bytes_max - w.pos);
	assert(w.depth <= r->lim.depth_max && w.pos <= len);
	walk_save(r, &w);
	if (rc == MP_INCOMPLETE) {
		/* Cannot happen given the checks above, but keep the promise:
		 * what has arrived of the frame is below the limit. */
		if (len >= r->lim.frame_bytes_max)
			return reader_fail(r, MP_ERR_TOO_LARGE, ERR_FRAME);
		return MP_INCOMPLETE;
	}
	if (why)
		*why = r->why;
	return rc;
}

int mp_scan(const uint8_t *buf, size_t len, const mp_limits *lim,
    size_t *value_len, const char **err)
{
	mp_reader r;
	size_t n = 0;
	int rc;

	mp_reader_init(&r, lim);
	rc = mp_reader_next(&r, buf, len, &n, err);
	if (rc == MP_OK && value_len)
		*value_len = n;
	return rc;
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
