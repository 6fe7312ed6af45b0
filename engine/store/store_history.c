/*
 * store_history.c - the history a namespace keeps in Redis (see store.h):
 * the snapshots kept, raw batches and chunks for the archiver, and the
 * archivers' registrations.
 */
#include "store.h"
#include "store_internal.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "<lsn> <at_ms> <journal bytes>" into sn. */
static bool parse_snap(const char *v, store_snap *sn)
{
	unsigned long long lsn, at, jb;
	char tail;
	if (sscanf(v, "%llu %llu %llu%c", &lsn, &at, &jb, &tail) != 3 || at > INT64_MAX)
		return false;
	sn->lsn = lsn;
	sn->at_ms = (int64_t)at;
	sn->journal_bytes = jb;
	return true;
}

static int by_lsn(const void *a, const void *b)
{
	const store_snap *x = a, *y = b;
	return x->lsn < y->lsn ? -1 : x->lsn > y->lsn;
}

int store_list_snaps(store *s, store_snap *out, uint32_t cap, uint32_t *n, char *why,
    size_t why_len)
{
	char key[DURABLE_KEY_MAX];
	durable_key_snaps(key, s->ns);
	assert(cap > 0);
	const char *argv[] = { "HGETALL", key };
	redisReply *r = store_command(s, why, why_len, 2, argv, NULL);
	if (r == NULL)
		return -1;
	*n = 0;
	int rc = 0;
	if (r->type != REDIS_REPLY_ARRAY || r->elements % 2)
		rc = store_fail(why, why_len, "%s is not a hash", key);
	for (size_t i = 0; rc == 0 && i + 1 < r->elements && *n < cap; i += 2) {
		const redisReply *k = r->element[i], *v = r->element[i + 1];
		store_snap sn = { 0 };
		if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING ||
		    k->len >= sizeof(sn.key) || !parse_snap(v->str, &sn))
			continue;
		memcpy(sn.key, k->str, k->len);
		sn.key[k->len] = '\0';
		out[(*n)++] = sn;
	}
	freeReplyObject(r);
	if (rc == 0 && *n > 1)
		qsort(out, *n, sizeof(*out), by_lsn);
	return rc;
}

int store_history_adopt(store *s, const char *key, uint64_t lsn, int64_t at_ms, char *why,
    size_t why_len)
{
	char snaps[DURABLE_KEY_MAX], value[80], hist[24];
	durable_key_snaps(snaps, s->ns);
	snprintf(value, sizeof(value), "%" PRIu64 " %" PRId64 " 0", lsn, at_ms);
	snprintf(hist, sizeof(hist), "%" PRIu64, lsn);
	const char *a1[] = { "HSET", snaps, key, value };
	const char *a2[] = { "HSET", s->key_meta, DURABLE_META_HISTORY_LSN, hist };
	if (store_command_ok(s, why, why_len, 4, a1) != 0)
		return -1;
	return store_command_ok(s, why, why_len, 4, a2);
}

typedef struct raw_chunks {
	store_raw_chunk_fn fn;
	void *ctx;
} raw_chunks;

static int raw_chunk(void *ctx, const uint8_t *chunk, size_t len, uint64_t index, char *why,
    size_t why_len)
{
	raw_chunks *x = ctx;
	return x->fn(x->ctx, chunk, len, index, why, why_len);
}

int store_read_chunks(store *s, const char *key, store_raw_chunk_fn fn, void *ctx, char *why,
    size_t why_len)
{
	raw_chunks x = { fn, ctx };
	return store_each_chunk(s, key, raw_chunk, &x, why, why_len);
}

/* The batch field of a stream entry [id, [field, value, ...]], or NULL. */
static const redisReply *entry_batch(const redisReply *e)
{
	if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[1]->type != REDIS_REPLY_ARRAY)
		return NULL;
	const redisReply *f = e->element[1];
	for (size_t i = 0; i + 1 < f->elements; i += 2)
		if (f->element[i]->type == REDIS_REPLY_STRING && f->element[i + 1]->type == REDIS_REPLY_STRING &&
		    strcmp(f->element[i]->str, DURABLE_BATCH_FIELD) == 0)
			return f->element[i + 1];
	return NULL;
}

/* One raw batch after *last: it must follow on. */
static int raw_batch(const store *s, const redisReply *b, uint64_t *last, store_batch_fn fn,
    void *ctx, char *why, size_t why_len)
{
	durable_batch_reader br;
	const char *err = NULL;
	if (durable_batch_read_begin(&br, (const uint8_t *)b->str, b->len, &err) != 0)
		return store_fail(why, why_len, "%s: %s", s->key_journal, err);
	if (br.left == 0)
		return 0;
	uint64_t first = br.next_lsn, end = first + br.left - 1;
	if (end <= *last)
		return 0;
	if (first != *last + 1)
		return store_fail(why, why_len, "%s: a batch of records %" PRIu64 "..%" PRIu64 " follows "
		    "record %" PRIu64 ": records are missing (trimmed before they were copied?)",
		    s->key_journal, first, end, *last);
	assert(end >= first && first == *last + 1);
	if (fn(ctx, first, end, (const uint8_t *)b->str, b->len, why, why_len) != 0)
		return -1;
	*last = end;
	return 0;
}

int store_read_batches(store *s, uint64_t after_lsn, uint32_t max_batches, store_batch_fn fn,
    void *ctx, uint64_t *last, char *why, size_t why_len)
{
	assert(max_batches > 0);
	char from[48], count[16];
	snprintf(from, sizeof(from), "(%" PRIu64 "-0", after_lsn);
	snprintf(count, sizeof(count), "%" PRIu32, max_batches);
	const char *argv[] = { "XRANGE", s->key_journal, from, "+", "COUNT", count };
	redisReply *r = store_command(s, why, why_len, 6, argv, NULL);
	if (r == NULL)
		return -1;
	*last = after_lsn;
	int rc = 0;
	if (r->type != REDIS_REPLY_ARRAY)
		rc = store_fail(why, why_len, "%s is not a stream", s->key_journal);
	for (size_t i = 0; rc == 0 && i < r->elements; i++) {
		const redisReply *b = entry_batch(r->element[i]);
		rc = b ? raw_batch(s, b, last, fn, ctx, why, why_len)
		       : store_fail(why, why_len, "%s holds an entry without a batch", s->key_journal);
	}
	freeReplyObject(r);
	return rc;
}

int store_journal_first_lsn(store *s, uint64_t *lsn, char *why, size_t why_len)
{
	const char *argv[] = { "XRANGE", s->key_journal, "-", "+", "COUNT", "1" };
	redisReply *r = store_command(s, why, why_len, 6, argv, NULL);
	if (r == NULL)
		return -1;
	*lsn = 0;
	int rc = 0;
	if (r->type != REDIS_REPLY_ARRAY)
		rc = store_fail(why, why_len, "%s is not a stream", s->key_journal);
	else if (r->elements == 1) {
		const redisReply *b = entry_batch(r->element[0]);
		durable_batch_reader br;
		const char *err = NULL;
		if (b == NULL || durable_batch_read_begin(&br, (const uint8_t *)b->str, b->len, &err) != 0)
			rc = store_fail(why, why_len, "%s: its first entry is not a batch", s->key_journal);
		else
			*lsn = br.next_lsn;
	}
	freeReplyObject(r);
	return rc;
}

int store_archiver_beat(store *s, const char *name, uint64_t lsn, uint64_t snap_lsn,
    int64_t now_ms, char *why, size_t why_len)
{
	char key[DURABLE_KEY_MAX], value[80];
	durable_key_archivers(key, s->ns);
	snprintf(value, sizeof(value), "%" PRIu64 " %" PRIu64 " %" PRId64, lsn, snap_lsn, now_ms);
	const char *argv[] = { "HSET", key, name, value };
	return store_command_ok(s, why, why_len, 4, argv);
}

int store_archiver_forget(store *s, const char *name, char *why, size_t why_len)
{
	char key[DURABLE_KEY_MAX];
	durable_key_archivers(key, s->ns);
	const char *argv[] = { "HDEL", key, name };
	return store_command_ok(s, why, why_len, 3, argv);
}
