/*
 * fail.h - the client library's one way to report an error: format a
 * message into the caller's buffer (which may be NULL) and return a status.
 * Private to proto/client.
 */
#ifndef ALLOT_CLIENT_FAIL_H
#define ALLOT_CLIENT_FAIL_H

#include <stddef.h>

int client_fail(char *err, size_t err_len, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
