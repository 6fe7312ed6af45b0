/*
 * store.c - blocking access to one namespace in Redis (see store.h).
 */
#include "store.h"
#include "store_internal.h"

#include <assert.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* Snapshot chunks pipelined ahead of their replies while writing. */
#define STORE_RPUSH_AHEAD 8

int store_fail(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
	return -1;
}

static struct timeval timeval_of_ms(uint32_t ms)
{
	return (struct timeval){ .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
}

/* A command whose reply must be neither missing nor an error. NULL with
 * why filled. lens may be NULL for C strings. */
redisReply *store_command(store *s, char *why, size_t why_len, int argc, const char **argv,
    const size_t *lens)
{
	redisReply *r = redisCommandArgv(s->rc, argc, argv, lens);
	if (r == NULL) {
		store_fail(why, why_len, "%s failed: %s", argv[0],
		    s->rc->errstr[0] ? s->rc->errstr : "the connection was lost");
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		store_fail(why, why_len, "%s failed: Redis answered: %s", argv[0], r->str);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

/* A command whose reply is not needed. */
int store_command_ok(store *s, char *why, size_t why_len, int argc, const char **argv)
{
	redisReply *r = store_command(s, why, why_len, argc, argv, NULL);
	if (r == NULL)
		return -1;
	freeReplyObject(r);
	return 0;
}

static int handshake(store *s, const durable_url *url, char *why, size_t why_len)
{
	if (url->password[0]) {
		const char *argv[] = { "AUTH", url->password };
		if (store_command_ok(s, why, why_len, 2, argv) != 0)
			return -1;
	}
	if (url->db) {
		char db[16];
		snprintf(db, sizeof(db), "%d", url->db);
		const char *argv[] = { "SELECT", db };
		if (store_command_ok(s, why, why_len, 2, argv) != 0)
			return -1;
	}
	const char *argv[] = { "PING" };
	return store_command_ok(s, why, why_len, 1, argv);
}

void store_record_limits(mp_limits *out)
{
	*out = (mp_limits){
		.frame_bytes_max = 1 << 20,
		.depth_max = 4,
		.array_max = 100000,
		.map_max = 0,
		.str_max = 4096,
	};
}

store *store_connect(const durable_url *url, const char *ns, uint32_t connect_timeout_ms,
    uint32_t reply_timeout_ms, char *why, size_t why_len)
{
	assert(durable_namespace_valid(ns));
	store *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		store_fail(why, why_len, "out of memory");
		return NULL;
	}
	snprintf(s->ns, sizeof(s->ns), "%s", ns);
	durable_key_meta(s->key_meta, ns);
	durable_key_journal(s->key_journal, ns);
	s->rc = redisConnectWithTimeout(url->host, url->port, timeval_of_ms(connect_timeout_ms));
	if (s->rc == NULL) {
		store_fail(why, why_len, "out of memory");
		goto fail_connect;
	}
	if (s->rc->err) {
		store_fail(why, why_len, "%s", s->rc->errstr);
		goto fail_connect;
	}
	if (redisSetTimeout(s->rc, timeval_of_ms(reply_timeout_ms)) != REDIS_OK) {
		store_fail(why, why_len, "cannot set a reply timeout on the connection");
		goto fail_connect;
	}
	if (handshake(s, url, why, why_len) != 0)
		goto fail_connect;
	return s;
fail_connect:
	store_close(s);
	return NULL;
}

void store_close(store *s)
{
	if (s == NULL)
		return;
	if (s->rc)
		redisFree(s->rc);
	free(s);
}

struct redisContext *store_release(store *s)
{
	redisContext *rc = s->rc;
	free(s);
	return rc;
}

/* ---- meta ----------------------------------------------------------------- */

static bool parse_u64(const char *p, size_t len, uint64_t *out)
{
	if (len == 0 || len > 20)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		uint64_t d = (uint64_t)(p[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

static bool field_is(const redisReply *k, const char *name)
{
	return k->len == strlen(name) && memcmp(k->str, name, k->len) == 0;
}

/* One field of the meta hash into m. 0 or -1. */
static int meta_field(store *s, const redisReply *k, const redisReply *v, store_meta *m,
    bool *has_epoch, bool *has_seed, char *why, size_t why_len)
{
	uint64_t n = 0;
	bool num = parse_u64(v->str, v->len, &n);
	if (field_is(k, DURABLE_META_FORMAT)) {
		m->has_format = true;
		return durable_format_parse(s->ns, v->str, v->len, &m->format, why, why_len);
	}
	if (field_is(k, DURABLE_META_SNAPSHOT)) {
		if (v->len == 0 || v->len >= sizeof(m->snapshot_key))
			return store_fail(why, why_len, "%s names a snapshot key of %zu bytes", s->key_meta,
			    (size_t)v->len);
		memcpy(m->snapshot_key, v->str, v->len);
		m->snapshot_key[v->len] = '\0';
	} else if (field_is(k, DURABLE_META_SNAPSHOT_LSN) && num) {
		m->snapshot_lsn = n;
	} else if (field_is(k, DURABLE_META_HISTORY_LSN) && num) {
		m->history_lsn = n;
	} else if (field_is(k, DURABLE_META_SNAPSHOT_AT_MS) && num && n <= INT64_MAX) {
		m->snapshot_at_ms = (int64_t)n;
	} else if (field_is(k, DURABLE_META_ID_EPOCH) && num && n <= UINT32_MAX) {
		m->id_epoch = (uint32_t)n;
		*has_epoch = true;
	} else if (field_is(k, DURABLE_META_HASH_SEED) && num) {
		m->hash_seed = n;
		*has_seed = true;
	}
	return 0;
}

int store_read_meta(store *s, store_meta *m, char *why, size_t why_len)
{
	const char *argv[] = { "HGETALL", s->key_meta };
	redisReply *r = store_command(s, why, why_len, 2, argv, NULL);
	if (r == NULL)
		return -1;
	*m = (store_meta){ 0 };
	int rc = 0;
	bool has_epoch = false, has_seed = false;
	if (r->type != REDIS_REPLY_ARRAY || r->elements % 2) {
		rc = store_fail(why, why_len, "%s is not a hash", s->key_meta);
		goto out;
	}
	for (size_t i = 0; rc == 0 && i + 1 < r->elements; i += 2) {
		const redisReply *k = r->element[i], *v = r->element[i + 1];
		if (k->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING)
			rc = meta_field(s, k, v, m, &has_epoch, &has_seed, why, why_len);
	}
	m->has_ids = has_epoch && has_seed;
out:
	freeReplyObject(r);
	return rc;
}

uint64_t store_journal_bytes_read(const store *s)
{
	return s->journal_bytes_read;
}

int store_write_ids(store *s, uint32_t id_epoch, uint64_t hash_seed, char *why, size_t why_len)
{
	char epoch[24], seed[24], format[16];
	snprintf(epoch, sizeof(epoch), "%" PRIu32, id_epoch);
	snprintf(seed, sizeof(seed), "%" PRIu64, hash_seed);
	snprintf(format, sizeof(format), "%d", DURABLE_FORMAT);
	const char *argv[] = { "HSET", s->key_meta, DURABLE_META_FORMAT, format, DURABLE_META_ID_EPOCH,
		epoch, DURABLE_META_HASH_SEED, seed };
	return store_command_ok(s, why, why_len, 8, argv);
}

int store_write_format(store *s, char *why, size_t why_len)
{
	char format[16];
	snprintf(format, sizeof(format), "%d", DURABLE_FORMAT);
	const char *argv[] = { "HSET", s->key_meta, DURABLE_META_FORMAT, format };
	return store_command_ok(s, why, why_len, 4, argv);
}

/* ---- snapshots ------------------------------------------------------------- */

/* In pages of STORE_CHUNKS_PER_READ. */
int store_each_chunk(store *s, const char *key, store_chunk_fn fn, void *ctx, char *why,
    size_t why_len)
{
	for (uint64_t start = 0;; start += STORE_CHUNKS_PER_READ) {
		char a[24], b[24];
		snprintf(a, sizeof(a), "%" PRIu64, start);
		snprintf(b, sizeof(b), "%" PRIu64, start + STORE_CHUNKS_PER_READ - 1);
		const char *argv[] = { "LRANGE", key, a, b };
		redisReply *r = store_command(s, why, why_len, 4, argv, NULL);
		if (r == NULL)
			return -1;
		size_t n = r->elements;
		int rc = 0;
		if (r->type != REDIS_REPLY_ARRAY)
			rc = store_fail(why, why_len, "the snapshot %s is not a list", key);
		else if (start == 0 && n == 0)
			rc = store_fail(why, why_len, "the snapshot %s named by the meta hash is missing or empty "
			    "(replaced while it was read?)", key);
		for (size_t i = 0; rc == 0 && i < n; i++) {
			const redisReply *e = r->element[i];
			if (e->type != REDIS_REPLY_STRING)
				rc = store_fail(why, why_len, "the snapshot %s, chunk %" PRIu64 ": not a string", key,
				    start + i);
			else
				rc = fn(ctx, (const uint8_t *)e->str, e->len, start + i, why, why_len);
		}
		freeReplyObject(r);
		if (rc != 0)
			return -1;
		if (n < STORE_CHUNKS_PER_READ)
			return 0;
	}
}

typedef struct load_ctx {
	snapshot_loader *loader;
	const char *key;
	uint64_t bytes;
} load_ctx;

static int load_chunk(void *ctx, const uint8_t *chunk, size_t len, uint64_t index, char *why,
    size_t why_len)
{
	load_ctx *l = ctx;
	const char *err = NULL;
	if (snapshot_loader_feed(l->loader, chunk, len, &err) != 0)
		return store_fail(why, why_len, "the snapshot %s, chunk %" PRIu64 ": %s", l->key, index, err);
	l->bytes += len;
	return 0;
}

int store_load_snapshot(store *s, const char *key, const core_config *cfg, core **out,
    uint64_t *lsn, uint64_t *bytes, char *why, size_t why_len)
{
	load_ctx l = { .loader = snapshot_loader_create(cfg), .key = key };
	*out = NULL;
	if (l.loader == NULL)
		return store_fail(why, why_len, "out of memory");
	int rc = store_each_chunk(s, key, load_chunk, &l, why, why_len);
	if (rc == 0) {
		const char *err = NULL;
		*out = snapshot_loader_finish(l.loader, lsn, &err);
		if (*out == NULL)
			rc = store_fail(why, why_len, "the snapshot %s: %s", key, err ? err : "unreadable");
	}
	snapshot_loader_destroy(l.loader);
	*bytes = l.bytes;
	return rc;
}

typedef struct items_ctx {
	snapshot_reader *reader;
	const char *key;
	store_item_fn fn;
	void *ctx;
} items_ctx;

static int items_of_chunk(void *ctx, const uint8_t *chunk, size_t len, uint64_t index, char *why,
    size_t why_len)
{
	items_ctx *x = ctx;
	snapshot_reader_chunk(x->reader, chunk, len);
	snapshot_item it;
	const char *err = NULL;
	int rc;
	while ((rc = snapshot_reader_next(x->reader, &it, &err)) > 0)
		if (x->fn(x->ctx, &it, why, why_len) != 0)
			return -1;
	if (rc < 0)
		return store_fail(why, why_len, "the snapshot %s, chunk %" PRIu64 ": %s", x->key, index, err);
	return 0;
}

int store_read_snapshot(store *s, const char *key, const core_config *limits, store_item_fn fn,
    void *ctx, char *why, size_t why_len)
{
	items_ctx x = { .reader = snapshot_reader_create(limits), .key = key, .fn = fn, .ctx = ctx };
	if (x.reader == NULL)
		return store_fail(why, why_len, "out of memory");
	int rc = store_each_chunk(s, key, items_of_chunk, &x, why, why_len);
	const char *err = NULL;
	if (rc == 0 && snapshot_reader_done(x.reader, &err) != 0)
		rc = store_fail(why, why_len, "the snapshot %s: %s", key, err);
	snapshot_reader_destroy(x.reader);
	return rc;
}

/* ---- writing a snapshot ------------------------------------------------- */

typedef struct emit_ctx {
	store *s;
	const char *key;
	uint32_t pending;  /* RPUSHes sent, replies not yet read */
	uint32_t chunks;
	uint64_t bytes;
	char why[300];
} emit_ctx;

/* Read replies until at most keep are outstanding. */
static int drain(emit_ctx *e, uint32_t keep)
{
	while (e->pending > keep) {
		void *reply = NULL;
		if (redisGetReply(e->s->rc, &reply) != REDIS_OK || reply == NULL)
			return store_fail(e->why, sizeof(e->why), "RPUSH failed: %s",
			    e->s->rc->errstr[0] ? e->s->rc->errstr : "no reply");
		redisReply *r = reply;
		int rc = r->type == REDIS_REPLY_ERROR ?
		    store_fail(e->why, sizeof(e->why), "RPUSH failed: Redis answered: %s", r->str) : 0;
		freeReplyObject(r);
		e->pending--;
		if (rc != 0)
			return -1;
	}
	return 0;
}

static int emit_chunk(void *ctx, const uint8_t *chunk, size_t len)
{
	emit_ctx *e = ctx;
	const char *argv[] = { "RPUSH", e->key, (const char *)chunk };
	size_t lens[] = { 5, strlen(e->key), len };
	if (redisAppendCommandArgv(e->s->rc, 3, argv, lens) != REDIS_OK)
		return store_fail(e->why, sizeof(e->why), "out of memory");
	e->pending++;
	e->chunks++;
	e->bytes += len;
	return drain(e, STORE_RPUSH_AHEAD);
}

int store_write_snapshot(store *s, const char *key, const core *c, uint64_t lsn,
    size_t chunk_bytes, uint64_t *bytes, uint32_t *chunks, char *why, size_t why_len)
{
	assert(chunk_bytes > 0);
	const char *argv[] = { "DEL", key };
	if (store_command_ok(s, why, why_len, 2, argv) != 0)
		return -1;
	emit_ctx e = { .s = s, .key = key };
	const char *err = NULL;
	if (snapshot_write(c, lsn, chunk_bytes, emit_chunk, &e, NULL, &err) != 0 || drain(&e, 0) != 0)
		return store_fail(why, why_len, "writing %s failed: %s", key,
		    e.why[0] ? e.why : err ? err : "encoding failed");
	assert(e.pending == 0);
	*bytes = e.bytes;
	*chunks = e.chunks;
	return 0;
}

/* ---- the journal --------------------------------------------------------- */

/* The value of field DURABLE_BATCH_FIELD of a stream entry's fields. */
static const redisReply *batch_field(const redisReply *fields)
{
	if (fields->type != REDIS_REPLY_ARRAY)
		return NULL;
	for (size_t i = 0; i + 1 < fields->elements; i += 2) {
		const redisReply *k = fields->element[i], *v = fields->element[i + 1];
		if (k->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING &&
		    field_is(k, DURABLE_BATCH_FIELD))
			return v;
	}
	return NULL;
}

int store_batch_records(store_records *j, const uint8_t *batch, size_t len, const char *where,
    char *why, size_t why_len)
{
	assert(j->fn != NULL && j->scratch != NULL);
	durable_batch_reader br;
	const char *err = NULL;
	if (durable_batch_read_begin(&br, batch, len, &err) != 0)
		return store_fail(why, why_len, "%s: %s", where, err);
	const uint8_t *rec;
	size_t rlen;
	uint64_t lsn;
	int got;
	bool used = false;
	while ((got = durable_batch_read_next(&br, j->limits, &rec, &rlen, &lsn, &err)) == 1) {
		if (lsn <= j->last)
			continue; /* covered by the snapshot */
		if (lsn != j->last + 1)
			return store_fail(why, why_len, "%s: record %" PRIu64 " follows record %" PRIu64
			    ": records are missing (trimmed while it was read?)", where, lsn, j->last);
		journal_entry e;
		if (journal_decode_format(rec, rlen, br.format, &e, j->scratch, &err) != 0)
			return store_fail(why, why_len, "%s, record %" PRIu64 ": %s", where, lsn, err);
		if (j->fn(j->ctx, lsn, &e, why, why_len) != 0)
			return -1;
		j->last = lsn;
		used = true;
	}
	if (got < 0)
		return store_fail(why, why_len, "%s: %s", where, err);
	assert(!used || j->last == br.next_lsn - 1);
	if (used)
		j->bytes += len;
	return 0;
}

/* The records of one entry [id, [field, value, ...]] after j->last. */
static int read_entry(store *s, store_records *j, const redisReply *entry, char *why,
    size_t why_len)
{
	const char *id = entry->element[0]->str;
	const redisReply *b = batch_field(entry->element[1]);
	if (b == NULL)
		return store_fail(why, why_len, "%s entry %s has no field \"%s\"", s->key_journal, id,
		    DURABLE_BATCH_FIELD);
	char where[DURABLE_KEY_MAX + 64];
	snprintf(where, sizeof(where), "%s entry %s", s->key_journal, id);
	return store_batch_records(j, (const uint8_t *)b->str, b->len, where, why, why_len);
}

static bool entry_shaped(const redisReply *e)
{
	return e->type == REDIS_REPLY_ARRAY && e->elements == 2 &&
	    e->element[0]->type == REDIS_REPLY_STRING && e->element[0]->len < 40;
}

int store_read_journal(store *s, uint64_t after_lsn, const mp_limits *limits,
    const journal_scratch *scratch, store_record_fn fn, void *ctx, uint64_t *last, char *why,
    size_t why_len)
{
	store_records j = { .limits = limits, .scratch = scratch, .fn = fn, .ctx = ctx,
		.last = after_lsn };
	s->journal_bytes_read = 0;
	char from[48], count[16];
	snprintf(from, sizeof(from), "(%" PRIu64 "-0", after_lsn);
	snprintf(count, sizeof(count), "%d", STORE_ENTRIES_PER_READ);
	for (;;) {
		const char *argv[] = { "XRANGE", s->key_journal, from, "+", "COUNT", count };
		redisReply *r = store_command(s, why, why_len, 6, argv, NULL);
		if (r == NULL)
			return -1;
		size_t n = r->elements;
		int rc = 0;
		if (r->type != REDIS_REPLY_ARRAY)
			rc = store_fail(why, why_len, "%s is not a stream", s->key_journal);
		for (size_t i = 0; rc == 0 && i < n; i++) {
			const redisReply *e = r->element[i];
			if (!entry_shaped(e)) {
				rc = store_fail(why, why_len, "%s holds an entry that is not [id, fields]", s->key_journal);
				break;
			}
			snprintf(from, sizeof(from), "(%s", e->element[0]->str);
			rc = read_entry(s, &j, e, why, why_len);
		}
		freeReplyObject(r);
		if (rc != 0)
			return -1;
		s->journal_bytes_read = j.bytes;
		if (n < STORE_ENTRIES_PER_READ) {
			*last = j.last;
			return 0;
		}
	}
}

/* ---- stray snapshots ------------------------------------------------------- */

uint32_t store_remove_stray_snapshots(store *s, const char *current,
    void (*removed)(void *ctx, const char *key), void *ctx)
{
	char pattern[DURABLE_KEY_MAX], snaps[DURABLE_KEY_MAX], why[200], cursor[32] = "0";
	durable_key_snapshot_pattern(pattern, s->ns);
	durable_key_snaps(snaps, s->ns);
	uint32_t deleted = 0;
	for (int round = 0; round < STORE_SCAN_ROUNDS_MAX; round++) {
		const char *argv[] = { "SCAN", cursor, "MATCH", pattern, "COUNT", "1000" };
		redisReply *r = store_command(s, why, sizeof(why), 6, argv, NULL);
		if (r == NULL)
			return deleted;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
			freeReplyObject(r);
			return deleted;
		}
		snprintf(cursor, sizeof(cursor), "%.30s", r->element[0]->str);
		const redisReply *keys = r->element[1];
		for (size_t i = 0; i < keys->elements; i++) {
			const redisReply *k = keys->element[i];
			if (k->type != REDIS_REPLY_STRING || strcmp(k->str, current) == 0)
				continue;
			const char *hargv[] = { "HEXISTS", snaps, k->str };
			redisReply *kept = store_command(s, why, sizeof(why), 3, hargv, NULL);
			bool keep = kept == NULL || kept->type != REDIS_REPLY_INTEGER || kept->integer != 0;
			if (kept)
				freeReplyObject(kept);
			if (keep)
				continue; /* the history's, or unknown: left alone */
			const char *dargv[] = { "DEL", k->str };
			if (store_command_ok(s, why, sizeof(why), 2, dargv) != 0)
				continue;
			deleted++;
			if (removed)
				removed(ctx, k->str);
		}
		freeReplyObject(r);
		if (strcmp(cursor, "0") == 0)
			return deleted;
	}
	return deleted;
}

int store_events_last_seq(store *s, uint64_t *seq, char *why, size_t why_len)
{
	char key[DURABLE_KEY_MAX];
	durable_key_events(key, s->ns);
	const char *argv[] = { "XREVRANGE", key, "+", "-", "COUNT", "1" };
	redisReply *r = store_command(s, why, why_len, 6, argv, NULL);
	if (r == NULL)
		return -1;
	*seq = 0;
	int rc = 0;
	if (r->type != REDIS_REPLY_ARRAY) {
		rc = store_fail(why, why_len, "XREVRANGE %s: not an array", key);
	} else if (r->elements > 0) {
		const redisReply *e = r->element[0];
		char *end = NULL;
		if (e->type == REDIS_REPLY_ARRAY && e->elements >= 1 && e->element[0]->type == REDIS_REPLY_STRING)
			*seq = strtoull(e->element[0]->str, &end, 10);
		if (end == NULL || *end != '-')
			rc = store_fail(why, why_len, "the newest entry of %s has no id of the form <seq>-0", key);
	}
	freeReplyObject(r);
	return rc;
}
