/*
 * mp.h - bounded, zero-copy MessagePack reading and a small writer.
 *
 * The server never hands untrusted bytes to a general MessagePack decoder:
 * msgpack-c trusts a 5-byte header that claims 2^32 elements and allocates
 * for it. Instead, an mp_reader walks each incoming value with an explicit
 * stack, checking every claimed length against the limits and against the
 * bytes that can still arrive before it accepts the value. Only then does
 * the request path read the value in place with an mp_cursor, which points
 * into the connection's buffer and allocates nothing.
 *
 * The reader is resumable, as hiredis's reader is: when a frame has only
 * partly arrived it keeps its place (an offset into the frame and the
 * counts of the containers still open), so the next call, with more bytes,
 * goes on from there instead of walking the frame again from its first
 * byte. It holds an offset, never a pointer, so the caller may move or
 * grow its buffer between calls.
 *
 * No function here allocates except mp_buf's growth, and nothing here does
 * I/O.
 */
#ifndef ALLOT_PROTO_MP_H
#define ALLOT_PROTO_MP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Limits an mp_reader checks before it accepts a value. */
typedef struct mp_limits {
	size_t frame_bytes_max; /* bytes in one whole top-level value */
	uint32_t depth_max;     /* nesting of arrays and maps; top level is 1 */
	uint32_t array_max;     /* elements in one array */
	uint32_t map_max;       /* key/value pairs in one map */
	uint32_t str_max;       /* bytes in one str, bin or ext payload */
} mp_limits;

/* The deepest nesting a reader can track, whatever the limits say. */
#define MP_DEPTH_HARD_MAX 64

enum mp_status {
	MP_OK = 0,
	MP_INCOMPLETE = 1,      /* a prefix of a valid value: feed more bytes */
	MP_ERR_MALFORMED = -1,  /* not MessagePack (e.g. the 0xc1 byte) */
	MP_ERR_TOO_LARGE = -2,  /* over a limit; the stream cannot be resynced */
};

/*
 * Where a reader stands in the frame at the front of the caller's input.
 * The fields are private to mp.c except where said; the struct is public
 * so that a connection can embed one (about 600 bytes) without allocating.
 */
typedef struct mp_reader {
	mp_limits lim;      /* a copy; depth_max capped at MP_DEPTH_HARD_MAX */
	size_t pos;         /* bytes of the current frame walked so far (read-only) */
	size_t need;        /* elements of the open containers not yet started */
	uint32_t depth;     /* containers open */
	bool counted;       /* the value at pos is already off its container's count */
	int err;            /* 0, or the MP_ERR_* this stream failed with */
	const char *why;    /* a static message when err != 0 */
	uint64_t headers;   /* headers examined since init (read-only; for tests) */
	uint64_t stack[MP_DEPTH_HARD_MAX]; /* elements not yet started, per depth */
} mp_reader;

/* Start r at the beginning of a stream, checking values against *lim
 * (copied: lim need not outlive r). */
void mp_reader_init(mp_reader *r, const mp_limits *lim);

/* Forget the partial frame and any error, keeping the limits: for a caller
 * that discards its input and starts a new stream. */
void mp_reader_reset(mp_reader *r);

/*
 * Walk the frame at the front of the caller's unconsumed input.
 *
 * buf[0..len) must start at the start of the current frame and hold the
 * same bytes as on the previous call for this frame, plus any that arrived
 * since (so len never shrinks within a frame); bytes after the frame (the
 * next frames, pipelined) are allowed and not looked at. Returns:
 *   MP_OK          the frame is whole: *frame_len is its length. The caller
 *                  consumes frame_len bytes; r is ready for the next frame,
 *                  which starts at buf + frame_len.
 *   MP_INCOMPLETE  buf is a valid prefix that can still complete within
 *                  lim.frame_bytes_max. r keeps its place: the next call
 *                  examines only what it has not examined yet.
 *   MP_ERR_TOO_LARGE  a claimed length or the nesting is over a limit, or
 *                  the frame cannot fit in frame_bytes_max (a header
 *                  claiming more elements than bytes remain in the frame is
 *                  refused at once, without waiting for them);
 *   MP_ERR_MALFORMED  bytes that are not MessagePack.
 * Errors are sticky: every later call returns the same one until
 * mp_reader_reset(). On an error *why (if why is not NULL) points to a
 * static message naming what was wrong; otherwise it is set to NULL.
 * Never allocates; frame_len must not be NULL, and *frame_len is left
 * alone unless MP_OK.
 */
int mp_reader_next(mp_reader *r, const uint8_t *buf, size_t len,
    size_t *frame_len, const char **why);

/*
 * One-shot: scan the one value that starts at buf[0], as a fresh reader's
 * mp_reader_next() would (same results and messages). value_len and err
 * may be NULL. For callers that hold whole records (a journal batch, a
 * snapshot chunk); a stream should keep an mp_reader instead.
 */
int mp_scan(const uint8_t *buf, size_t len, const mp_limits *lim,
    size_t *value_len, const char **err);

/* The type of the next value under a cursor. */
typedef enum mp_type {
	MP_T_INVALID = 0, /* end of input or malformed */
	MP_T_NIL,
	MP_T_BOOL,
	MP_T_UINT,  /* positive fixint, uint 8/16/32/64 */
	MP_T_INT,   /* negative fixint, int 8/16/32/64 (may hold a value >= 0) */
	MP_T_FLOAT, /* float 32/64 */
	MP_T_STR,
	MP_T_BIN,
	MP_T_ARRAY,
	MP_T_MAP,
	MP_T_EXT,
} mp_type;

/*
 * A read position in a buffer. Every mp_read_* checks bounds against end,
 * returns true and advances on success, and returns false leaving the cursor
 * where it was on a type mismatch, a value out of the target's range, or
 * truncated input. Safe on any bytes, scanned or not.
 */
typedef struct mp_cursor {
	const uint8_t *p;
	const uint8_t *end;
} mp_cursor;

static inline void mp_cursor_init(mp_cursor *c, const void *buf, size_t len)
{
	c->p = (const uint8_t *)buf;
	c->end = c->p + len;
}

mp_type mp_peek(const mp_cursor *c);
bool mp_read_nil(mp_cursor *c);
bool mp_read_bool(mp_cursor *c, bool *v);
/* Any MessagePack integer whose value fits in int64_t. */
bool mp_read_int(mp_cursor *c, int64_t *v);
/* Any MessagePack integer whose value is >= 0 and fits in uint64_t. */
bool mp_read_uint(mp_cursor *c, uint64_t *v);
/* float 32/64, or any integer converted to double. */
bool mp_read_double(mp_cursor *c, double *v);
/* A str, or a bin (method names may arrive as bin). *s points into the
 * buffer and is not NUL-terminated. */
bool mp_read_str(mp_cursor *c, const char **s, uint32_t *len);
bool mp_read_array(mp_cursor *c, uint32_t *n);
bool mp_read_map(mp_cursor *c, uint32_t *n);
/* Skip one whole value, nested ones included; iterative, bounded by
 * MP_DEPTH_HARD_MAX nesting (deeper input returns false). */
bool mp_skip(mp_cursor *c);

/*
 * A growable output buffer with MessagePack writers that always pick the
 * smallest encoding. Growth failure is sticky: after it every write is a
 * no-op and mp_buf_failed() is true, so a caller checks once at the end.
 */
typedef struct mp_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	bool failed;
} mp_buf;

void mp_buf_init(mp_buf *b);
void mp_buf_finish(mp_buf *b);             /* frees data; b may be reused after init */
bool mp_buf_reserve(mp_buf *b, size_t n);  /* room for n more bytes */
static inline bool mp_buf_failed(const mp_buf *b) { return b->failed; }
static inline void mp_buf_reset(mp_buf *b) { b->len = 0; b->failed = false; }

void mp_write_nil(mp_buf *b);
void mp_write_bool(mp_buf *b, bool v);
void mp_write_int(mp_buf *b, int64_t v);   /* smallest int or uint encoding */
void mp_write_uint(mp_buf *b, uint64_t v);
void mp_write_double(mp_buf *b, double v); /* float 64 */
void mp_write_str(mp_buf *b, const char *s, size_t len);
void mp_write_cstr(mp_buf *b, const char *s);
/*
 * A string literal, its length known at compile time. Keys are literals
 * of a few bytes, so the common case, a fixstr with room in the buffer,
 * is inline: one header byte and a copy whose size the compiler knows.
 */
static inline void mp_write_fixstr(mp_buf *b, const char *s, size_t len)
{
	if (__builtin_expect(len <= 31 && b->data != NULL && !b->failed && b->cap - b->len > len, 1)) {
		uint8_t *p = b->data + b->len;
		p[0] = (uint8_t)(0xa0 | len);
		memcpy(p + 1, s, len);
		b->len += len + 1;
		return;
	}
	mp_write_str(b, s, len);
}
#define mp_write_lit(b, lit) mp_write_fixstr((b), "" lit "", sizeof(lit) - 1)
void mp_write_array(mp_buf *b, uint32_t n);
void mp_write_map(mp_buf *b, uint32_t n);
void mp_write_raw(mp_buf *b, const void *p, size_t len);

#endif
