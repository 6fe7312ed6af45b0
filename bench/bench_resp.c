/*
 * bench_resp.c - allot-bench's side of Redis's RESP2: commands written as
 * arrays of bulk strings, and replies parsed into the same reply struct as
 * allotd's, so that one workload machinery measures both servers.
 *
 * Redis's replies here are a few bytes each, so the parser walks a reply
 * from its start on every read rather than keeping its place.
 */
#include "bench.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * Commands
 * --------------------------------------------------------------------- */

void resp_write_bulk(mp_buf *b, const char *s, size_t len)
{
	char hdr[32];
	size_t l = 0;
	hdr[l++] = '$';
	l += bench_u64dec(hdr + l, len);
	hdr[l++] = '\r';
	hdr[l++] = '\n';
	mp_write_raw(b, hdr, l);
	mp_write_raw(b, s, len);
	mp_write_raw(b, "\r\n", 2);
}

void resp_write_array(mp_buf *b, size_t n)
{
	char hdr[32];
	size_t l = 0;
	hdr[l++] = '*';
	l += bench_u64dec(hdr + l, n);
	hdr[l++] = '\r';
	hdr[l++] = '\n';
	mp_write_raw(b, hdr, l);
}

/* SET key v, while loading. */
void resp_set(conn *c, const char *key, int64_t v)
{
	char num[24];
	size_t l = (size_t)snprintf(num, sizeof num, "%" PRId64, v);
	resp_write_array(&c->out, 3);
	resp_write_bulk(&c->out, "SET", 3);
	resp_write_bulk(&c->out, key, strlen(key));
	resp_write_bulk(&c->out, num, l);
	conn_track(c, K_SETUP, 0, 0, false);
}

/* MGET of "<prefix><first>" .. "<prefix><first + n - 1>", a probe. */
void resp_mget(conn *c, const char *prefix, uint64_t first, uint32_t n)
{
	char key[96];
	size_t pl = strlen(prefix);
	assert(n > 0 && pl + 20 <= sizeof key);
	memcpy(key, prefix, pl);
	resp_write_array(&c->out, (size_t)n + 1);
	resp_write_bulk(&c->out, "MGET", 4);
	for (uint32_t i = 0; i < n; i++)
		resp_write_bulk(&c->out, key, pl + bench_u64dec(key + pl, first + i));
	conn_track(c, K_PROBE, 0, 0, false);
}

/* SCRIPT LOAD script: the reply is its sha. */
void resp_script_load(conn *c, const char *script, size_t len)
{
	resp_write_array(&c->out, 3);
	resp_write_bulk(&c->out, "SCRIPT", 6);
	resp_write_bulk(&c->out, "LOAD", 4);
	resp_write_bulk(&c->out, script, len);
	conn_track(c, K_SCRIPT_LOAD, 0, 0, false);
}

/* The words of line (split on spaces) as one RESP command, in a new buffer
 * the caller frees. Dies on an empty line. */
void resp_command_build(const char *line, uint8_t **out, size_t *out_len)
{
	mp_buf b;
	size_t n = 0;
	mp_buf_init(&b);
	for (const char *p = line; *p;) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		n++;
		while (*p && *p != ' ')
			p++;
	}
	if (n == 0)
		bench_die("--redis-cmd: empty command");
	resp_write_array(&b, n);
	for (const char *p = line; *p;) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		const char *t = p;
		while (*p && *p != ' ')
			p++;
		resp_write_bulk(&b, t, (size_t)(p - t));
	}
	if (mp_buf_failed(&b))
		bench_die("out of memory");
	*out = b.data;
	*out_len = b.len;
}

/* ------------------------------------------------------------------------
 * Replies
 * --------------------------------------------------------------------- */

/* Parse a RESP integer in [s, s+len); false if it is not one. */
static bool resp_int(const char *s, size_t len, int64_t *v)
{
	bool neg = false;
	uint64_t x = 0;
	size_t i = 0;
	if (len && s[0] == '-') {
		neg = true;
		i = 1;
	}
	if (i == len || len - i > 19)
		return false;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	if (x > (uint64_t)INT64_MAX)
		return false;
	*v = neg ? -(int64_t)x : (int64_t)x;
	return true;
}

/*
 * One RESP2 reply at p: 1 and *used when it is whole (r describes its
 * outermost value), 0 when more bytes are needed, -1 when it is not RESP.
 * Nested arrays are walked with a bounded stack of element counts.
 */
static int resp_parse(const char *p, size_t len, size_t *used, reply *r)
{
	uint64_t stack[RESP_DEPTH_MAX];
	int depth = 0;
	bool first = true;
	size_t pos = 0;

	for (;;) {
		if (pos >= len)
			return 0;
		const char *nl = memchr(p + pos, '\n', len - pos);
		if (!nl)
			return len - pos > RESP_LINE_MAX ? -1 : 0;
		size_t lend = (size_t)(nl - p);
		if (lend < pos + 2 || p[lend - 1] != '\r')
			return -1;
		char t = p[pos];
		const char *ls = p + pos + 1;
		size_t ll = lend - 1 - (pos + 1);
		int64_t n = 0;
		bool leaf = true, isnull = false;
		const char *str = ls;
		size_t slen = ll;
		pos = lend + 1;

		switch (t) {
		case '+':
		case '-':
			break;
		case ':':
			if (!resp_int(ls, ll, &n))
				return -1;
			break;
		case '$':
			if (!resp_int(ls, ll, &n) || n < -1 || n > (int64_t)IN_MAX)
				return -1;
			if (n == -1) {
				isnull = true;
				str = NULL;
				slen = 0;
				break;
			}
			if (len - pos < (size_t)n + 2)
				return 0;
			if (p[pos + (size_t)n] != '\r' || p[pos + (size_t)n + 1] != '\n')
				return -1;
			str = p + pos;
			slen = (size_t)n;
			pos += (size_t)n + 2;
			break;
		case '*':
			if (!resp_int(ls, ll, &n) || n < -1 || n > (int64_t)RESP_ARRAY_MAX)
				return -1;
			isnull = n == -1;
			if (n > 0) {
				if (depth == RESP_DEPTH_MAX)
					return -1;
				stack[depth++] = (uint64_t)n;
				leaf = false;
			}
			break;
		default:
			return -1;
		}
		if (first) {
			first = false;
			r->rtype = t;
			r->rnull = isnull;
			r->rint = n;
			r->rstr = str;
			r->rstr_len = slen;
		}
		if (!leaf)
			continue;
		/* a whole value: it completes elements of the arrays above it */
		while (depth > 0) {
			if (--stack[depth - 1] > 0)
				break;
			depth--;
		}
		if (depth == 0) {
			*used = pos;
			return 1;
		}
	}
}

/*
 * Add the elements of r, an array of bulk integers (an MGET's reply), to
 * v: each one counts as a key, a null one as missing. False when r is not
 * such an array. r was parsed whole already, so its lines are all there.
 */
bool resp_sum_keys(const reply *r, probe_view *v)
{
	if (r->rtype != '*' || r->rnull || !r->raw)
		return false;
	const char *p = r->raw, *end = r->raw + r->raw_len;
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	assert(nl != NULL);
	p = nl + 1;
	for (int64_t i = 0; i < r->rint; i++) {
		int64_t len, x;
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl || *p != '$' || !resp_int(p + 1, (size_t)(nl - 1 - (p + 1)), &len))
			return false;
		p = nl + 1;
		v->keys++;
		if (len < 0) {
			v->keys_missing++;
			continue;
		}
		if ((size_t)(end - p) < (size_t)len + 2 || !resp_int(p, (size_t)len, &x))
			return false;
		p += len + 2;
		v->key_sum += x;
		if (x < v->key_min)
			v->key_min = x;
	}
	return true;
}

/* One RESP reply at p, the front of c's unread input: 1 and *used when
 * whole, 0 when more bytes are needed, -1 (connection failed) when broken. */
int resp_take(conn *c, const uint8_t *p, size_t len, size_t *used, uint64_t now)
{
	reply r;
	memset(&r, 0, sizeof r);
	int rc = resp_parse((const char *)p, len, used, &r);
	if (rc == 0)
		return 0;
	if (rc < 0) {
		conn_fail(c, "bad RESP from the server");
		return -1;
	}
	if (r.rtype == '-') {
		/* the error code is the first word: ERR, NOSCRIPT, WRONGTYPE... */
		size_t w = 0;
		while (w < r.rstr_len && r.rstr[w] != ' ')
			w++;
		r.code = r.rstr;
		r.code_len = (uint32_t)w;
		r.msg = r.rstr;
		r.msg_len = (uint32_t)(r.rstr_len > 150 ? 150 : r.rstr_len);
	}
	r.raw = (const char *)p;
	r.raw_len = *used;
	if (c->fl_count == 0) {
		conn_fail(c, "unsolicited reply");
		return -1;
	}
	inflight f = conn_pop(c);
	wl_on_reply(c, &f, &r, now);
	return c->dead ? -1 : 1;
}
