/*
 * listener.h - where allotd listens: a TCP address, and with --unix a Unix
 * socket beside it. Both hand their connections to the same callback; the
 * server tells them apart by the listener's handle type.
 */
#ifndef ALLOT_ENGINE_LISTENER_H
#define ALLOT_ENGINE_LISTENER_H

#include <stdbool.h>
#include <uv.h>

/* Connections waiting to be accepted, per listener. */
#define LISTENER_BACKLOG 4096
/* A Unix socket is readable and writable by its owner and group only. */
#define LISTENER_UNIX_MODE 0660

/*
 * Listen on bind:port (a numeric IPv4 or IPv6 address; port 0 picks a free
 * one, which is logged). h->data is set to data. 0, or -1 with the reason
 * logged (h is then initialised and must be closed).
 */
int listener_tcp(uv_loop_t *loop, uv_tcp_t *h, const char *bind, int port, uint32_t max_connections,
    uv_connection_cb cb, void *data);

/*
 * Listen on a Unix socket at path, mode LISTENER_UNIX_MODE. A socket file
 * left by a process that is gone is replaced; a live one (another allotd
 * answers on it) or a file that is not a socket is refused. 0, or -1 with
 * the reason logged (h is initialised when it returns -1 after
 * uv_pipe_init, and must be closed: *initialised says so).
 */
int listener_unix(uv_loop_t *loop, uv_pipe_t *h, const char *path, uv_connection_cb cb, void *data,
    bool *initialised);

/* Remove the socket file listener_unix() made, at exit. */
void listener_unix_remove(const char *path);

/* Whether addr (numeric) is a loopback address: 127.0.0.0/8 or ::1 (also
 * as ::ffff:127.x.y.z). Anything else, the wildcards included, is not. */
bool listener_is_loopback(const char *addr);

#endif
