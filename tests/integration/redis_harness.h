/*
 * redis_harness.h - a real redis-server for durability tests, and allotd
 * started against it.
 *
 * The binary is the one named by the environment variable REDIS_SERVER, or
 * redis-server found on PATH. Each redis_server listens on a free loopback
 * port and keeps its data in a fresh directory of its own, in an
 * append-only file fsynced on every write, so that it can be stopped,
 * killed and started again on the same port with the same data. It dies
 * with the thread that started it (PR_SET_PDEATHSIG): start it from the
 * test's main thread.
 */
#ifndef ALLOT_TESTS_REDIS_HARNESS_H
#define ALLOT_TESTS_REDIS_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

#include <hiredis/hiredis.h>

#include "harness.h"

/* Bounds on waiting for redis-server to answer PING, and to exit. */
#define REDIS_START_TIMEOUT_MS 10000
#define REDIS_STOP_TIMEOUT_MS 10000

typedef struct redis_server {
	pid_t pid;      /* 0 while it is not running */
	int port;       /* the same across restarts */
	char dir[256];  /* its data directory; redis.log is in it too */
	char url[64];   /* redis://127.0.0.1:PORT, for allotd --redis */
} redis_server;

/*
 * Start redis-server on a free loopback port with a fresh data directory
 * and wait until it answers PING. Returns NULL with a message in err when
 * it cannot be started or does not answer within REDIS_START_TIMEOUT_MS.
 */
redis_server *redis_server_start(char *err, size_t err_len);

/*
 * Start r again, on the same port and with the same directory (so with the
 * data it had), and wait until it answers PING. r must not be running.
 * Returns 0, or -1 with a message in err.
 */
int redis_server_restart(redis_server *r, char *err, size_t err_len);

/*
 * Send SIGTERM and wait up to REDIS_STOP_TIMEOUT_MS (then SIGKILL). Returns
 * the exit status as harness_server_stop() does; r stays allocated and can
 * be restarted. HARNESS_STATUS_ERROR when it was not running.
 */
int redis_server_stop(redis_server *r);

/* SIGKILL, reap, and return the exit status (128 + 9). */
int redis_server_kill(redis_server *r);

/*
 * SIGSTOP and SIGCONT: a Redis that keeps its connections open but stops
 * answering, and then answers again. Returns 0 or -1.
 */
int redis_server_pause(redis_server *r);
int redis_server_resume(redis_server *r);

/* Kill r if it is running, remove its directory and free it. Accepts NULL. */
void redis_server_destroy(redis_server *r);

/* A blocking hiredis connection to r, or NULL with a message in err. */
redisContext *redis_server_connect(const redis_server *r, int timeout_ms,
    char *err, size_t err_len);

/*
 * Run one command given as a NULL-terminated list of words on a fresh
 * connection to r. Returns the reply (free it with freeReplyObject()), or
 * NULL with a message in err when r cannot be reached.
 */
redisReply *redis_server_command(const redis_server *r, char *err,
    size_t err_len, const char *const *words);

/*
 * Start allotd (harness_server_start()) with --redis r->url --namespace ns,
 * followed by extra_args (NULL or NULL-terminated). ns may be NULL to leave
 * --namespace out.
 */
harness_server *allotd_start_durable(const redis_server *r, const char *ns,
    const char *const *extra_args, char *err, size_t err_len);

/*
 * Kill allotd with SIGKILL, reap it, free s and return its exit status
 * (128 + 9), or HARNESS_STATUS_ERROR. Accepts NULL.
 */
int allotd_kill(harness_server *s);

#endif
