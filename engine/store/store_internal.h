/*
 * store_internal.h - what the store's files share (store.c for Redis,
 * store_history.c for the history kept there, archive.c for the archive
 * on disk): the connection, Redis calls that fail with a sentence, and the
 * one decoder of a journal batch's records, so that Redis and the archive
 * are read alike. Not for use outside engine/store/.
 */
#ifndef ALLOT_ENGINE_STORE_INTERNAL_H
#define ALLOT_ENGINE_STORE_INTERNAL_H

#include "store.h"

#include <hiredis/hiredis.h>

struct store {
	redisContext *rc;
	char ns[DURABLE_NAMESPACE_MAX + 1];
	char key_meta[DURABLE_KEY_MAX];
	char key_journal[DURABLE_KEY_MAX];
	uint64_t journal_bytes_read; /* batch bytes the last read used */
};

/* Fill why and return -1. */
__attribute__((format(printf, 3, 4)))
int store_fail(char *why, size_t why_len, const char *fmt, ...);
/* A command whose reply must be neither missing nor an error. NULL with
 * why filled. lens may be NULL for C strings. */
redisReply *store_command(store *s, char *why, size_t why_len, int argc, const char **argv,
    const size_t *lens);
/* A command whose reply is not needed. 0 or -1. */
int store_command_ok(store *s, char *why, size_t why_len, int argc, const char **argv);

/* One snapshot chunk, the index-th of the snapshot. */
typedef int (*store_chunk_fn)(void *ctx, const uint8_t *chunk, size_t len, uint64_t index,
    char *why, size_t why_len);
/* Every chunk of the snapshot list at key, in order. An empty or missing
 * list is refused. 0 or -1. */
int store_each_chunk(store *s, const char *key, store_chunk_fn fn, void *ctx, char *why,
    size_t why_len);

/* A read of records in order: the records after last go to fn. */
typedef struct store_records {
	const mp_limits *limits;
	const journal_scratch *scratch;
	store_record_fn fn;
	void *ctx;
	uint64_t last;        /* the last lsn handed to fn */
	uint64_t bytes;       /* batch bytes of the batches that gave records */
} store_records;

/* The records of one batch (where names it in messages): those at or
 * before r->last are skipped (a snapshot covers them), the rest must
 * follow on without a gap. 0 or -1. */
int store_batch_records(store_records *r, const uint8_t *batch, size_t len, const char *where,
    char *why, size_t why_len);

#endif
