/*
 * durable.c - see durable.h.
 */
#include "durable.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int url_fail(const char **err, const char *why)
{
	*err = why;
	return -1;
}

int durable_url_parse(const char *url, durable_url *out, const char **err)
{
	memset(out, 0, sizeof(*out));
	out->port = 6379;
	const char *p = url;
	if (strncmp(p, "redis://", 8) != 0)
		return url_fail(err, "a Redis URL starts with redis:// (redis://[:password@]host:port[/db])");
	p += 8;
	const char *at = strrchr(p, '@');
	if (at) {
		const char *cred = p;
		if (*cred != ':')
			return url_fail(err, "the Redis URL's credentials must be :password@ (no user name)");
		size_t n = (size_t)(at - cred - 1);
		if (n == 0 || n >= sizeof(out->password))
			return url_fail(err, "the Redis URL's password must be 1..255 bytes");
		memcpy(out->password, cred + 1, n);
		p = at + 1;
	}
	const char *host_end;
	if (*p == '[') {
		host_end = strchr(p, ']');
		if (host_end == NULL)
			return url_fail(err, "the Redis URL's IPv6 address lacks its closing ]");
		size_t n = (size_t)(host_end - p - 1);
		if (n == 0 || n >= sizeof(out->host))
			return url_fail(err, "the Redis URL's host is empty or too long");
		memcpy(out->host, p + 1, n);
		host_end++;
	} else {
		host_end = p + strcspn(p, ":/");
		size_t n = (size_t)(host_end - p);
		if (n == 0 || n >= sizeof(out->host))
			return url_fail(err, "the Redis URL's host is empty or too long");
		memcpy(out->host, p, n);
	}
	p = host_end;
	if (*p == ':') {
		char *end;
		p++;
		long port = strtol(p, &end, 10);
		if (end == p || port < 1 || port > 65535)
			return url_fail(err, "the Redis URL's port must be 1..65535");
		out->port = (int)port;
		p = end;
	}
	if (*p == '/') {
		p++;
		if (*p) {
			char *end;
			long db = strtol(p, &end, 10);
			if (end == p || *end || db < 0 || db > 65535)
				return url_fail(err, "the Redis URL's database must be a number 0..65535");
			out->db = (int)db;
			p = end;
		}
	}
	if (*p)
		return url_fail(err, "the Redis URL has trailing characters (redis://[:password@]host:port[/db])");
	return 0;
}

int durable_format_parse(const char *ns, const char *value, size_t len, uint32_t *out, char *why,
    size_t why_len)
{
	unsigned long format = 0;
	bool number = len > 0 && len <= 9;
	for (size_t i = 0; number && i < len; i++) {
		number = value[i] >= '0' && value[i] <= '9';
		format = format * 10 + (unsigned long)(value[i] - '0');
	}
	if (number && format >= DURABLE_FORMAT_OLDEST && format <= DURABLE_FORMAT) {
		if (out)
			*out = (uint32_t)format;
		return 0;
	}
	if (number)
		snprintf(why, why_len, "namespace %s is in durable format %lu, but this build reads format %d "
		    "to %d only; use an allot that reads format %lu", ns, format, DURABLE_FORMAT_OLDEST,
		    DURABLE_FORMAT, format);
	else
		snprintf(why, why_len, "namespace %s names durable format \"%.*s\", which is not a format "
		    "number; this build reads format %d to %d", ns, (int)(len < 32 ? len : 32), value,
		    DURABLE_FORMAT_OLDEST, DURABLE_FORMAT);
	return -1;
}

int durable_format_check(const char *ns, const char *value, size_t len, char *why, size_t why_len)
{
	return durable_format_parse(ns, value, len, NULL, why, why_len);
}

bool durable_namespace_valid(const char *ns)
{
	size_t n = strlen(ns);
	if (n == 0 || n > DURABLE_NAMESPACE_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = ns[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-';
		if (!ok)
			return false;
	}
	return true;
}

void durable_key_journal(char *buf, const char *ns)
{
	snprintf(buf, DURABLE_KEY_MAX, "allot:{%s}:journal", ns);
}

void durable_key_events(char *buf, const char *ns)
{
	snprintf(buf, DURABLE_KEY_MAX, "allot:{%s}:events", ns);
}

void durable_key_meta(char *buf, const char *ns)
{
	snprintf(buf, DURABLE_KEY_MAX, "allot:{%s}:meta", ns);
}

void durable_key_snapshot(char *buf, const char *ns, uint64_t lsn, uint64_t nonce)
{
	snprintf(buf, DURABLE_KEY_MAX, "allot:{%s}:snap:%llu-%llu", ns, (unsigned long long)lsn,
	    (unsigned long long)nonce);
}

void durable_key_snaps(char *buf, const char *ns)
{
	snprintf(buf, DURABLE_KEY_MAX, "allot:{%s}:snaps", ns);
}

void durable_key_archivers(char *buf, const char *ns)
{
	snprintf(buf, DURABLE_KEY_MAX, "allot:{%s}:archivers", ns);
}

void durable_key_snapshot_pattern(char *buf, const char *ns)
{
	snprintf(buf, DURABLE_KEY_MAX, "allot:{%s}:snap:*", ns);
}

void durable_batch_begin(durable_batch *b, uint64_t first_lsn)
{
	mp_buf_reset(&b->buf);
	b->first_lsn = first_lsn;
	b->count = 0;
	mp_write_array(&b->buf, 3);
	mp_write_uint(&b->buf, first_lsn);
	mp_write_uint(&b->buf, DURABLE_FORMAT);
	b->count_at = b->buf.len;
	static const uint8_t hdr[5] = { 0xdd, 0, 0, 0, 0 }; /* array 32 */
	mp_write_raw(&b->buf, hdr, sizeof(hdr));
}

void durable_batch_end(durable_batch *b)
{
	if (mp_buf_failed(&b->buf) || b->buf.len < b->count_at + 5)
		return;
	uint8_t *h = b->buf.data + b->count_at + 1;
	h[0] = (uint8_t)(b->count >> 24);
	h[1] = (uint8_t)(b->count >> 16);
	h[2] = (uint8_t)(b->count >> 8);
	h[3] = (uint8_t)b->count;
}

int durable_batch_read_begin(durable_batch_reader *r, const uint8_t *buf, size_t len,
    const char **err)
{
	mp_cursor c = { .p = buf, .end = buf + len };
	uint32_t n;
	uint64_t first, format = 1;
	/* Format 1 batches have no format element; later ones name theirs. */
	if (!mp_read_array(&c, &n) || (n != 2 && n != 3) || !mp_read_uint(&c, &first) || first == 0 ||
	    (n == 3 && !mp_read_uint(&c, &format)) || !mp_read_array(&c, &r->left)) {
		*err = "a journal batch is not [first_lsn, format, [record, ...]]";
		return -1;
	}
	if (format < 2 ? n == 3 : format > DURABLE_FORMAT) {
		*err = "a journal batch names a format this build does not read";
		return -1;
	}
	r->format = (uint32_t)format;
	r->p = c.p;
	r->end = buf + len;
	r->next_lsn = first;
	return 0;
}

int durable_batch_read_next(durable_batch_reader *r, const mp_limits *lim,
    const uint8_t **rec, size_t *len, uint64_t *lsn, const char **err)
{
	if (r->left == 0) {
		if (r->p != r->end) {
			*err = "a journal batch has bytes after its last record";
			return -1;
		}
		return 0;
	}
	size_t n;
	const char *why = NULL;
	int rc = mp_scan(r->p, (size_t)(r->end - r->p), lim, &n, &why);
	if (rc != MP_OK) {
		*err = rc == MP_INCOMPLETE ? "a journal batch is truncated" : (why ? why : "a journal record is malformed");
		return -1;
	}
	*rec = r->p;
	*len = n;
	*lsn = r->next_lsn++;
	r->p += n;
	r->left--;
	return 1;
}
