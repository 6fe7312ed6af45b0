/*
 * server.h - the libuv TCP server: the listener, connections, the sweep
 * timer and graceful shutdown. One thread, one loop, one core.
 */
#ifndef ALLOT_ENGINE_SERVER_H
#define ALLOT_ENGINE_SERVER_H

#include "auth.h"
#include "core.h"
#include "mp.h"
#include "persist.h"

#include <stddef.h>
#include <stdint.h>

typedef struct server_config {
	const char *bind;
	int port;                   /* 0: any free port (logged) */
	const char *unix_path;      /* NULL, or a Unix socket to serve too */
	const char *auth_file;      /* NULL: no tokens; else read again on SIGHUP */
	auth_set *auth;             /* its tokens as read at start: server_run
	                             * takes it (NULL without an auth file) */
	uint32_t max_connections;
	size_t output_bytes_max;    /* replies queued per connection */
	size_t subscriber_bytes_max; /* events unsent to a subscriber before it is cut off */
	uint32_t frames_per_turn;   /* requests per connection per loop turn */
	uint32_t idle_timeout_s;    /* 0: off */
	uint32_t frame_timeout_ms;  /* to finish a begun request; 0: off */
	mp_limits frame;            /* limits on each incoming message */
	uint32_t avail_skus_max;    /* skus per avail call */
	uint32_t sweep_interval_ms;
	uint32_t sweep_budget;      /* expiries and forgets per tick */
	uint32_t shutdown_timeout_ms;
	const char *metrics_listen; /* NULL, or ADDR:PORT serving HTTP (http.h) */
	uint32_t io_threads;        /* 0: sockets on the loop; else threads for
	                             * them (iothread.h, a prototype) */
} server_config;

void server_config_default(server_config *cfg);

/*
 * Serve until SIGINT or SIGTERM, then stop accepting, send the replies owed,
 * close every connection and return 0. SIGHUP reads cfg->auth_file again. Returns non-zero when the server
 * cannot start (the reason is logged). The core is borrowed. pc: NULL or
 * durability in Redis, going on from what persist_recover() left in st.
 */
int server_run(const server_config *cfg, core *c, const persist_config *pc, persist_state *st);

#endif
