/*
 * auth.h - the tokens allotd accepts: the auth file, read at start and on
 * SIGHUP, and the check of a presented token.
 *
 * The file holds one token per line, `NAME ROLE SHA256HEX`: who the token
 * belongs to (the name that stats and the journal show; proto/access.h
 * says what a NAME may be), the role it
 * grants (read, checkout, admin) and the SHA-256 of the token in hex. `#`
 * starts a comment; blank lines are skipped. The token itself is never
 * stored, logged or kept: a presented token is hashed at once and the hash
 * compared, in constant time, with every entry's.
 *
 * Several lines may share a NAME (a client's old and new token while it
 * rotates): they share the name's counters. A set is immutable once loaded
 * except for those counters; a reload builds a new set and carries the
 * counters over by name (auth_set_carry_counts).
 *
 * No libuv here: the server owns the set, swaps it on SIGHUP and closes the
 * connections whose token went away.
 */
#ifndef ALLOT_ENGINE_AUTH_H
#define ALLOT_ENGINE_AUTH_H

#include "access.h"
#include "command.h"
#include "encode.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_HASH_BYTES 32
/* Lines in one auth file, and bytes in one line and in the whole file. */
#define AUTH_LINES_MAX 10000
#define AUTH_LINE_BYTES_MAX 1024
#define AUTH_FILE_BYTES_MAX (1u << 20)

typedef struct auth_token {
	uint8_t hash[AUTH_HASH_BYTES];
	uint8_t role;          /* cmd_role: ROLE_READ .. ROLE_ADMIN */
	uint32_t line;         /* in the file, for messages */
	proto_who_stats *who;  /* the name's counters, in the set */
} auth_token;

typedef struct auth_set {
	auth_token *tokens;
	uint32_t ntokens;
	proto_who_stats *names; /* one per distinct NAME, in file order */
	uint32_t nnames;
	char *name_text;        /* the names' bytes, which names[] point into */
} auth_set;

/*
 * Read the auth file at path into a new set. 0 with *out (the caller
 * destroys it), or -1 with why naming the file, the line and what is wrong
 * (never the line's hash). A file without a token is refused: it would let
 * nobody in.
 */
int auth_set_load(const char *path, auth_set **out, char *why, size_t why_len);
void auth_set_destroy(auth_set *s);

/*
 * The token entry whose hash is SHA-256(token[0..len)), or NULL. Every
 * entry is compared in full, whatever matched, so the time taken says
 * nothing about which one did.
 */
const auth_token *auth_set_check(const auth_set *s, const char *token, size_t len);
/* The entry with exactly this hash, or NULL (for a reload). */
const auth_token *auth_set_find(const auth_set *s, const uint8_t hash[AUTH_HASH_BYTES]);
/* Copy request and error counts from `from` to `to`, name by name. */
void auth_set_carry_counts(auth_set *to, const auth_set *from);

#endif
