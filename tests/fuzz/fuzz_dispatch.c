/*
 * fuzz_dispatch.c - one client's bytes through the engine, in process.
 *
 * What allotd does with a connection's bytes (conn_process in
 * engine/server.c), without the socket: each read appends to the input,
 * dispatch_turn() moves the engine's clock (expiring what is due), and
 * mp_reader_next() cuts every complete frame off the front for
 * dispatch_frame(), from a peer of role admin, durability none. A stream
 * error closes the connection; the harness goes on as a new one.
 *
 * The input is the stream with the shape of the reads at its end: each
 * read takes one control byte off the end of the input (as libFuzzer's
 * FuzzedDataProvider takes integers), so mutating the stream leaves the
 * reads alone. A control byte's low nibble is the read's size (0x0f: all
 * that is left), its high nibble how far the clock moves before the read;
 * from 8 up the periodic sweep runs too.
 *
 * Checked: every reply is one whole MessagePack response [1, msgid, error,
 * result] to the request's msgid, with an error exactly when the reply's
 * code is not CORE_OK, and nothing is written for a frame that gets no
 * reply; core_check() after every frame and sweep; and at the end the
 * state survives a snapshot round trip (fuzz_core.h).
 */
#include "dispatch.h"
#include "fuzz_core.h"
#include "server.h"

#include <allot/protocol.h>
#include <string.h>

/* The engine's clock at the first read: a real date, so that deadlines
 * are the size they are in production. */
#define FUZZ_T0_MS 1700000000000LL

/* Bytes of one read, by the control byte's low nibble (0x0f: the rest). */
static const uint16_t read_sizes[15] = { 1, 2, 3, 4, 5, 7, 9, 12, 16, 24, 32, 48, 64, 128, 256 };

/* Milliseconds the clock moves before a read, by the high nibble: small
 * steps, a hold's default ttl (15 min) and past it, the retention (1 h),
 * the longest ttl (24 h). */
static const int64_t time_steps[16] = { 0, 0, 0, 1, 2, 5, 10, 50, 100, 1000, 10000, 60000, 900000,
	900001, 3600001, 86400001 };
#define FUZZ_SWEEP_FROM 8

typedef struct stream {
	const uint8_t *data;
	size_t pos, end; /* the stream is data[pos..end); control bytes are taken at end */
} stream;

typedef struct conn {
	mp_reader reader;
	dispatch_peer peer;
	uint8_t *in;
	size_t in_len;
} conn;

static void conn_open(dispatch *d, conn *cn, const mp_limits *lim)
{
	mp_reader_init(&cn->reader, lim);
	/* Without tokens every connection is admin, as in allotd. */
	dispatch_peer_init(d, &cn->peer);
	cn->in_len = 0;
}

/* A small core, so that the limits (skus, reservations, keys) are in reach. */
static core *make_core(void)
{
	core_config cfg;
	core_config_default(&cfg);
	cfg.skus_max = 64;
	cfg.locations_max = 16;
	cfg.reservations_max = 64;
	cfg.idempotency_max = 32;
	core *c = core_create(&cfg);
	FUZZ_CHECK(c != NULL, "core_create: out of memory");
	return c;
}

/* out[before..) is the whole reply to r, or empty when r says none. */
static void check_reply(const mp_buf *out, size_t before, const dispatch_reply *r)
{
	FUZZ_CHECK(!mp_buf_failed(out), "the reply buffer ran out of memory");
	if (!r->replied) {
		FUZZ_CHECK(out->len == before, "%zu bytes written for a frame without reply",
		    out->len - before);
		return;
	}
	FUZZ_CHECK(!r->deferred, "a deferred reply without durability");
	const uint8_t *p = out->data + before;
	size_t len = out->len - before, value_len = 0;
	mp_limits any = { .frame_bytes_max = SIZE_MAX, .depth_max = MP_DEPTH_HARD_MAX,
		.array_max = UINT32_MAX, .map_max = UINT32_MAX, .str_max = UINT32_MAX };
	const char *why = NULL;
	int rc = mp_scan(p, len, &any, &value_len, &why);
	FUZZ_CHECK(rc == MP_OK && value_len == len, "the reply is not one MessagePack value (%d: %s; "
	    "%zu of %zu bytes)", rc, why ? why : "-", value_len, len);
	mp_cursor cur;
	mp_cursor_init(&cur, p, len);
	uint32_t n = 0;
	uint64_t type = 0, msgid = 0;
	FUZZ_CHECK(mp_read_array(&cur, &n) && n == 4 && mp_read_uint(&cur, &type) && type == 1 &&
	    mp_read_uint(&cur, &msgid), "the reply is not [1, msgid, error, result]");
	FUZZ_CHECK(msgid == r->msgid, "the reply's msgid %llu is not the request's %u",
	    (unsigned long long)msgid, r->msgid);
	bool ok = mp_peek(&cur) == MP_T_NIL;
	FUZZ_CHECK(ok == (r->code == CORE_OK), "error %s but code %d", ok ? "nil" : "given", r->code);
	FUZZ_CHECK(ok || mp_peek(&cur) == MP_T_MAP, "the error is not a map");
}

/* Every complete frame at the front of the connection's input, as
 * conn_process does it. false: the stream was refused (the connection
 * closes). */
static bool process(dispatch *d, conn *cn, mp_buf *out)
{
	size_t pos = 0;
	bool open = true;
	while (pos < cn->in_len) {
		size_t len = 0;
		const char *why = NULL;
		int rc = mp_reader_next(&cn->reader, cn->in + pos, cn->in_len - pos, &len, &why);
		if (rc == MP_INCOMPLETE)
			break;
		if (rc != MP_OK) {
			FUZZ_CHECK(rc == MP_ERR_MALFORMED || rc == MP_ERR_TOO_LARGE, "mp_reader_next: %d", rc);
			FUZZ_CHECK(why != NULL && why[0], "a refused stream without a reason");
			open = false;
			break;
		}
		FUZZ_CHECK(len > 0 && len <= cn->in_len - pos, "frame of %zu bytes, %zu left", len,
		    cn->in_len - pos);
		dispatch_reply r;
		size_t before = out->len;
		dispatch_frame(d, &cn->peer, cn->in + pos, len, out, &r);
		check_reply(out, before, &r);
		if (fuzz_verbose() > 1)
			fprintf(stderr, "  frame of %zu bytes: msgid %u, code %d%s\n", len, r.msgid, r.code,
			    r.replied ? "" : ", no reply");
		fuzz_check_core(d->core, "after a frame");
		pos += len;
	}
	memmove(cn->in, cn->in + pos, cn->in_len - pos);
	cn->in_len -= pos;
	return open;
}

/* The next read's control byte, off the end of the stream; 0x0f (all
 * that is left, no time) when the stream is all that is left. */
static uint8_t take_control(stream *s)
{
	if (s->end - s->pos < 2)
		return 0x0f;
	return s->data[--s->end];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	server_config scfg;
	server_config_default(&scfg);
	core *c = make_core();
	const core_config *cc = core_get_config(c);
	proto_limits limits = { .lines_max = cc->lines_max, .avail_skus_max = scfg.avail_skus_max,
		.locations_max = cc->locations_max, .ttl_max_ms = cc->ttl_max_ms };
	int64_t now = FUZZ_T0_MS;
	dispatch d;
	FUZZ_CHECK(dispatch_init(&d, c, &limits, NULL, PERSIST_NONE, now) == 0, "dispatch_init");
	conn cn = { .in = fuzz_xmalloc(size) };
	conn_open(&d, &cn, &scfg.frame);
	mp_buf out;
	mp_buf_init(&out);
	stream s = { .data = data, .pos = 0, .end = size };
	while (s.pos < s.end) {
		uint8_t ctl = take_control(&s);
		size_t want = (ctl & 0x0f) == 0x0f ? SIZE_MAX : read_sizes[ctl & 0x0f];
		size_t n = want < s.end - s.pos ? want : s.end - s.pos;
		now += time_steps[ctl >> 4];
		if ((ctl >> 4) >= FUZZ_SWEEP_FROM) {
			dispatch_sweep(&d, now, scfg.sweep_budget);
			fuzz_check_core(c, "after a sweep");
		}
		memcpy(cn.in + cn.in_len, s.data + s.pos, n);
		cn.in_len += n;
		s.pos += n;
		dispatch_turn(&d, now);
		if (!process(&d, &cn, &out))
			conn_open(&d, &cn, &scfg.frame);
		mp_buf_reset(&out); /* sent */
	}
	fuzz_check_core(c, "at the end");
	if (fuzz_verbose())
		fprintf(stderr, "dispatch: %llu requests, %llu errors\n",
		    (unsigned long long)d.requests_total, (unsigned long long)d.errors_total);
	fuzz_check_snapshot_roundtrip(c, d.requests_total + 1, 64);
	mp_buf_finish(&out);
	free(cn.in);
	dispatch_finish(&d);
	core_destroy(c);
	return 0;
}
