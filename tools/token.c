/*
 * token.c - allot token new NAME ROLE
 *
 * Prints a fresh token (TOKEN_RANDOM_BYTES from getrandom, base64url) and
 * the line for allotd's --auth-file, `NAME ROLE SHA256HEX`:
 *
 *   token: q3Vf...
 *   line: web checkout 5e88...
 *
 * The token is printed once and kept nowhere: the auth file holds only its
 * SHA-256. NAME and ROLE are checked by the rules allotd reads the file
 * with (proto/access.h).
 */
#include "token.h"

#include <errno.h>
#include <nettle/base64.h>
#include <nettle/sha2.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "access.h"

/* 192 bits: far past guessing, 32 characters to paste. */
#define TOKEN_RANDOM_BYTES 24
_Static_assert(TOKEN_RANDOM_BYTES * 8 >= 128, "a token carries at least 128 random bits");

static void token_usage(FILE *out)
{
	fprintf(out,
	    "usage: allot token new NAME ROLE\n"
	    "\n"
	    "Print a fresh random token and the line to add to allotd's --auth-file.\n"
	    "NAME (1 to %d of A-Z a-z 0-9 _ . @ -) is who the token belongs to: stats\n"
	    "and the journal show it. ROLE is read, checkout or admin.\n"
	    "\n"
	    "Give the token to the client (allot --token, or ALLOT_TOKEN); add the\n"
	    "line to the auth file and send allotd SIGHUP. The token is shown only\n"
	    "this once: the file keeps its SHA-256.\n",
	    ACCESS_NAME_MAX);
}

/* Fill buf with n random bytes from the kernel. 0, or -1 with a message. */
static int random_bytes(uint8_t *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = getrandom(buf + got, n - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fprintf(stderr, "allot: token new: getrandom: %s\n", strerror(errno));
			return -1;
		}
		got += (size_t)r;
	}
	return 0;
}

/* base64url without padding: the token travels in shells, URLs and JSON. */
static void encode_token(const uint8_t *raw, char *out)
{
	struct base64_encode_ctx ctx;
	base64url_encode_init(&ctx);
	size_t n = base64_encode_update(&ctx, out, TOKEN_RANDOM_BYTES, raw);
	n += base64_encode_final(&ctx, out + n);
	while (n > 0 && out[n - 1] == '=')
		n--;
	out[n] = '\0';
}

int token_main(int argc, char **argv)
{
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		token_usage(stdout);
		return 0;
	}
	if (argc != 3 || strcmp(argv[0], "new") != 0) {
		token_usage(stderr);
		return 2;
	}
	const char *name = argv[1], *role = argv[2];
	if (!access_name_valid(name, strlen(name))) {
		fprintf(stderr, "allot: token new: NAME must be 1 to %d of A-Z a-z 0-9 _ . @ - "
		    "(and not \"-\" alone), not '%s'\n", ACCESS_NAME_MAX, name);
		return 2;
	}
	if (access_role_parse(role, strlen(role)) < 0) {
		fprintf(stderr, "allot: token new: ROLE must be read, checkout or admin, not '%s'\n", role);
		return 2;
	}
	uint8_t raw[TOKEN_RANDOM_BYTES], hash[SHA256_DIGEST_SIZE];
	char token[BASE64_ENCODE_LENGTH(TOKEN_RANDOM_BYTES) + BASE64_ENCODE_FINAL_LENGTH + 1];
	if (random_bytes(raw, sizeof(raw)) != 0)
		return 2;
	encode_token(raw, token);
	struct sha256_ctx ctx;
	sha256_init(&ctx);
	sha256_update(&ctx, strlen(token), (const uint8_t *)token);
	sha256_digest(&ctx, SHA256_DIGEST_SIZE, hash);
	printf("token: %s\nline: %s %s ", token, name, role);
	for (size_t i = 0; i < sizeof(hash); i++)
		printf("%02x", hash[i]);
	printf("\n");
	memset(raw, 0, sizeof(raw));
	memset(token, 0, sizeof(token));
	return fflush(stdout) == 0 ? 0 : 2;
}
