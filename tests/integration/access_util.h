/*
 * access_util.h - helpers of the access tests (test_access.c,
 * test_access_journal.c, test_protected.c): tokens made with the real CLI
 * (`allot token new`), auth files, clients that authenticate, and an
 * allotd whose stderr goes to a file.
 *
 * They assert with Criterion: call them from the test's own thread.
 */
#ifndef ALLOT_TESTS_ACCESS_UTIL_H
#define ALLOT_TESTS_ACCESS_UTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "rpc_client.h"
#include "harness.h"

#define AU_TIMEOUT_MS 10000
#define AU_TOKEN_MAX 128
#define AU_LINE_MAX 256

/* A token made by `allot token new name role`, and its auth-file line. */
typedef struct au_token {
	char token[AU_TOKEN_MAX];
	char line[AU_LINE_MAX];
} au_token;

/* Run `$ALLOT_CLI token new name role` (it must succeed) into *t. */
void au_token_new(au_token *t, const char *name, const char *role);

/* Write text to path (replacing it), or fail the test. */
void au_write(const char *path, const char *text);
/* A fresh path under /tmp for this test process: "/tmp/allot-<pid>-<what>". */
const char *au_path(char *buf, size_t len, const char *what);

/* A client of s; authenticated with token unless it is NULL. */
allot_client *au_client(const harness_server *s, const char *token);

/*
 * Call method on c with params as JSON text (NULL: none). Returns the
 * error's code, "" on success, kept until the next call; *result (when
 * not NULL) gets the result, which the caller frees.
 */
const char *au_call(allot_client *c, const char *method, const char *params, json_t **result);

/* Whether the connection of c was closed by the server (EOF on read
 * within timeout_ms, nothing else arriving). */
int au_closed_by_server(allot_client *c, int timeout_ms);

/*
 * Start $ALLOTD --bind 127.0.0.1 --port P with args (NULL-terminated),
 * stderr to log_path, and wait until it answers ping. Returns its pid;
 * *port is P.
 */
pid_t au_start_logged(const char *const *args, const char *log_path, int *port);
/* SIGTERM pid and return its exit status. */
int au_stop(pid_t pid);

/* The whole file at path, NUL-terminated, malloc'd. */
char *au_slurp(const char *path);

#endif
