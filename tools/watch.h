/*
 * watch.h - allot watch [TOPIC...] [--sku SKU...]: live events as JSON
 * lines (see watch.c).
 */
#ifndef ALLOT_TOOLS_WATCH_H
#define ALLOT_TOOLS_WATCH_H

/* The connection the CLI's options name. */
typedef struct watch_target {
	const char *host;
	int port;
	const char *token;  /* NULL: no auth call */
	int timeout_ms;     /* for connecting and subscribing; 0: none */
} watch_target;

/* argv[0] is "watch". Returns the exit status: 0 when interrupted
 * (SIGINT, SIGTERM), 1 when subscribe was refused, 2 for a usage error or
 * a lost connection. */
int watch_main(const watch_target *t, int argc, char **argv);

#endif
