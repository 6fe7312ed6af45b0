/*
 * auth.c - the auth file and the token check (see auth.h).
 *
 * SHA-256 and the constant-time comparison are nettle's.
 */
#include "auth.h"

#include "journal.h"

#include <assert.h>
#include <errno.h>
#include <nettle/memops.h>
#include <nettle/sha2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(SHA256_DIGEST_SIZE == AUTH_HASH_BYTES, "a token's hash is a SHA-256");
_Static_assert(ACCESS_NAME_MAX <= JOURNAL_WHO_MAX, "a token NAME fits a journal record's who");

static void sha256(const void *p, size_t len, uint8_t out[AUTH_HASH_BYTES])
{
	struct sha256_ctx ctx;
	sha256_init(&ctx);
	sha256_update(&ctx, len, p);
	sha256_digest(&ctx, SHA256_DIGEST_SIZE, out);
}

const auth_token *auth_set_check(const auth_set *s, const char *token, size_t len)
{
	uint8_t hash[AUTH_HASH_BYTES];
	sha256(token, len, hash);
	const auth_token *found = NULL;
	/* No early exit: every entry costs the same whether or not an
	 * earlier one matched. Hashes are unique in a set (the loader says
	 * so), so at most one matches. */
	for (uint32_t i = 0; i < s->ntokens; i++) {
		int same = memeql_sec(hash, s->tokens[i].hash, AUTH_HASH_BYTES);
		if (same)
			found = &s->tokens[i];
	}
	memset(hash, 0, sizeof(hash));
	return found;
}

const auth_token *auth_set_find(const auth_set *s, const uint8_t hash[AUTH_HASH_BYTES])
{
	for (uint32_t i = 0; i < s->ntokens; i++)
		if (memcmp(s->tokens[i].hash, hash, AUTH_HASH_BYTES) == 0)
			return &s->tokens[i];
	return NULL;
}

static bool name_is(const proto_who_stats *w, core_str name)
{
	return w->name.len == name.len && memcmp(w->name.p, name.p, name.len) == 0;
}

void auth_set_carry_counts(auth_set *to, const auth_set *from)
{
	for (uint32_t i = 0; i < to->nnames; i++)
		for (uint32_t j = 0; j < from->nnames; j++)
			if (name_is(&from->names[j], to->names[i].name)) {
				to->names[i].requests = from->names[j].requests;
				to->names[i].errors = from->names[j].errors;
				break;
			}
}

void auth_set_destroy(auth_set *s)
{
	if (s == NULL)
		return;
	free(s->tokens);
	free(s->names);
	free(s->name_text);
	free(s);
}

/* ---- loading ------------------------------------------------------------------ */

typedef struct loader {
	const char *path;
	auth_set *set;
	uint32_t line;
	char *why;
	size_t why_len;
} loader;

__attribute__((format(printf, 2, 3)))
static int load_fail(loader *l, const char *fmt, ...)
{
	int n = l->line ? snprintf(l->why, l->why_len, "%s, line %u: ", l->path, l->line)
	                : snprintf(l->why, l->why_len, "%s: ", l->path);
	if (n < 0 || (size_t)n >= l->why_len)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(l->why + n, l->why_len - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static int hex_value(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static bool parse_hash(const char *s, size_t len, uint8_t out[AUTH_HASH_BYTES])
{
	if (len != 2 * AUTH_HASH_BYTES)
		return false;
	for (size_t i = 0; i < AUTH_HASH_BYTES; i++) {
		int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

/* The name's counters, added to the set when it is new. The name's bytes
 * are copied into text at *text_len (room enough: the file's size). */
static proto_who_stats *name_of(auth_set *set, const char *name, size_t len, size_t *text_len)
{
	core_str want = { name, (uint32_t)len };
	for (uint32_t i = 0; i < set->nnames; i++)
		if (name_is(&set->names[i], want))
			return &set->names[i];
	char *at = set->name_text + *text_len;
	memcpy(at, name, len);
	*text_len += len;
	proto_who_stats *w = &set->names[set->nnames++];
	*w = (proto_who_stats){ .name = { at, (uint32_t)len } };
	return w;
}

/* The next whitespace-separated word of [*p, end), or false at the end. */
static bool next_word(const char **p, const char *end, const char **word, size_t *len)
{
	while (*p < end && (**p == ' ' || **p == '\t' || **p == '\r'))
		(*p)++;
	if (*p == end)
		return false;
	*word = *p;
	while (*p < end && **p != ' ' && **p != '\t' && **p != '\r')
		(*p)++;
	*len = (size_t)(*p - *word);
	return true;
}

/* One line, without its newline; comments and blank lines add nothing. */
static int load_line(loader *l, const char *p, const char *end, size_t *text_len)
{
	const char *hash = memchr(p, '#', (size_t)(end - p));
	if (hash)
		end = hash;
	const char *w[4];
	size_t n[4];
	int words = 0;
	while (words < 4 && next_word(&p, end, &w[words], &n[words]))
		words++;
	if (words == 0)
		return 0;
	if (words != 3)
		return load_fail(l, "expected NAME ROLE SHA256HEX, found %d word%s", words > 3 ? 4 : words,
		    words == 1 ? "" : "s");
	if (!access_name_valid(w[0], n[0]))
		return load_fail(l, "the NAME must be 1 to %d of A-Z a-z 0-9 _ . @ - (and not \"-\" alone)",
		    ACCESS_NAME_MAX);
	int role = access_role_parse(w[1], n[1]);
	if (role < 0)
		return load_fail(l, "the ROLE must be read, checkout or admin, not '%.*s'",
		    (int)(n[1] > 32 ? 32 : n[1]), w[1]);
	auth_token *t = &l->set->tokens[l->set->ntokens];
	if (!parse_hash(w[2], n[2], t->hash))
		return load_fail(l, "the third word must be the token's SHA-256 as 64 hex digits "
		    "(allot token new prints the line)");
	const auth_token *dup = auth_set_find(l->set, t->hash);
	if (dup)
		return load_fail(l, "the same token as line %u: each token must be different", dup->line);
	t->role = (uint8_t)role;
	t->line = l->line;
	t->who = name_of(l->set, w[0], n[0], text_len);
	l->set->ntokens++;
	return 0;
}

static int load_text(loader *l, const char *text, size_t len)
{
	size_t text_len = 0;
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *stop = nl ? nl : end;
		l->line++;
		if (l->line > AUTH_LINES_MAX)
			return load_fail(l, "more than %d lines", AUTH_LINES_MAX);
		if ((size_t)(stop - p) > AUTH_LINE_BYTES_MAX)
			return load_fail(l, "longer than %d bytes", AUTH_LINE_BYTES_MAX);
		if (memchr(p, '\0', (size_t)(stop - p)))
			return load_fail(l, "a NUL byte: not a text file");
		if (load_line(l, p, stop, &text_len) != 0)
			return -1;
		p = nl ? nl + 1 : end;
	}
	l->line = 0;
	if (l->set->ntokens == 0)
		return load_fail(l, "no tokens: add a line NAME ROLE SHA256HEX (allot token new NAME ROLE "
		    "prints one)");
	assert(l->set->nnames >= 1 && l->set->nnames <= l->set->ntokens);
	return 0;
}

/* The whole file, NUL-terminated, at most AUTH_FILE_BYTES_MAX. */
static char *read_file(loader *l, size_t *len)
{
	FILE *f = fopen(l->path, "rb");
	if (f == NULL) {
		load_fail(l, "cannot open: %s", strerror(errno));
		return NULL;
	}
	char *buf = malloc(AUTH_FILE_BYTES_MAX + 1);
	if (buf == NULL) {
		fclose(f);
		load_fail(l, "out of memory");
		return NULL;
	}
	*len = fread(buf, 1, AUTH_FILE_BYTES_MAX + 1, f);
	bool failed = ferror(f) != 0;
	fclose(f);
	if (failed || *len > AUTH_FILE_BYTES_MAX) {
		load_fail(l, failed ? "cannot read it" : "larger than %u bytes", AUTH_FILE_BYTES_MAX);
		free(buf);
		return NULL;
	}
	buf[*len] = '\0';
	return buf;
}

int auth_set_load(const char *path, auth_set **out, char *why, size_t why_len)
{
	loader l = { .path = path, .why = why, .why_len = why_len };
	size_t len = 0;
	*out = NULL;
	char *text = read_file(&l, &len);
	if (text == NULL)
		return -1;
	/* Every line holds at most one token and one name: size by lines. */
	uint32_t lines = 1;
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	if (lines > AUTH_LINES_MAX + 1)
		lines = AUTH_LINES_MAX + 1;
	l.set = calloc(1, sizeof(*l.set));
	if (l.set) {
		l.set->tokens = calloc(lines, sizeof(*l.set->tokens));
		l.set->names = calloc(lines, sizeof(*l.set->names));
		l.set->name_text = malloc(len + 1);
	}
	int rc = -1;
	if (l.set == NULL || l.set->tokens == NULL || l.set->names == NULL || l.set->name_text == NULL)
		load_fail(&l, "out of memory");
	else
		rc = load_text(&l, text, len);
	/* The file holds hashes, not tokens, but it need not linger. */
	memset(text, 0, len);
	free(text);
	if (rc != 0) {
		auth_set_destroy(l.set);
		return -1;
	}
	*out = l.set;
	return 0;
}
