/*
 * server.h - the libuv TCP server: the listener, connections, the sweep
 * timer and graceful shutdown. One thread, one loop, one core.
 */
#ifndef ALLOT_ENGINE_SERVER_H
#define ALLOT_ENGINE_SERVER_H

#include "core.h"
#include "mp.h"
#include "persist.h"

#include <stddef.h>
#include <stdint.h>

typedef struct server_config {
	const char *bind;
	int port;                   /* 0: any free port (logged) */
	uint32_t max_connections;
	size_t output_bytes_max;    /* replies queued per connection */
	mp_limits frame;            /* limits on each incoming message */
	uint32_t avail_skus_max;    /* skus per avail call */
	uint32_t sweep_interval_ms;
	uint32_t sweep_budget;      /* expiries and forgets per tick */
	uint32_t shutdown_timeout_ms;
} server_config;

void server_config_default(server_config *cfg);

/*
 * Serve until SIGINT or SIGTERM, then stop accepting, send the replies owed,
 * close every connection and return 0. Returns non-zero when the server
 * cannot start (the reason is logged). The core is borrowed. pc: NULL or
 * durability in Redis, going on from what persist_recover() left in st.
 */
int server_run(const server_config *cfg, core *c, const persist_config *pc, persist_state *st);

#endif
