/*
 * harness.h - start the real allotd for integration tests, and talk to it.
 *
 * The server binary is the one named by the environment variable ALLOTD
 * (meson sets it to the built engine/allotd). Each test starts its own
 * server on a free loopback port, so tests share nothing; a server whose
 * test process dies is killed with it (PR_SET_PDEATHSIG).
 */
#ifndef ALLOT_TESTS_HARNESS_H
#define ALLOT_TESTS_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rpc_client.h"

#define HARNESS_HOST "127.0.0.1"

/* Bounds on waiting for the server to answer ping, and to exit. */
#define HARNESS_START_TIMEOUT_MS 10000
#define HARNESS_STOP_TIMEOUT_MS 10000

/* Statuses harness_server_stop() and harness_run() return besides exit codes. */
#define HARNESS_STATUS_ERROR (-1)   /* waitpid failed, or never started */
#define HARNESS_STATUS_TIMEOUT (-2) /* harness_run(): killed after its timeout */

typedef struct harness_server {
	pid_t pid;
	int port;
} harness_server;

/*
 * Start $ALLOTD --bind 127.0.0.1 --port P --log-level warn [extra_args...]
 * on a free port P and wait until it answers ping with "pong". extra_args
 * is NULL or a NULL-terminated list. Returns NULL with a message in err when
 * ALLOTD is unset, the server exits, or it does not answer in time.
 */
harness_server *harness_server_start(const char *const *extra_args,
    char *err, size_t err_len);

/*
 * Send SIGTERM, wait up to HARNESS_STOP_TIMEOUT_MS (then SIGKILL), free s
 * and return the exit status: the exit code, 128 + the signal number if a
 * signal ended it, or HARNESS_STATUS_ERROR. Accepts NULL (returns
 * HARNESS_STATUS_ERROR).
 */
int harness_server_stop(harness_server *s);

/* A client connected to s with the given timeout, or NULL with err set. */
allot_client *harness_client(const harness_server *s, int timeout_ms,
    char *err, size_t err_len);

/* A loopback TCP port that nothing listened on a moment ago, or -1. */
int harness_free_port(void);

/*
 * A blocking TCP socket connected to 127.0.0.1:port, with SO_RCVTIMEO and
 * SO_SNDTIMEO set to timeout_ms, or -1.
 */
int harness_connect_raw(int port, int timeout_ms);

/* Write all of buf to fd. Returns 0 or -1. */
int harness_write_all(int fd, const void *buf, size_t len);

/*
 * Read from fd into buf[0..cap) until the peer closes the connection.
 * Returns the number of bytes read once read() returned 0, or -1 if the
 * connection was still open after timeout_ms, failed (e.g. was reset), or
 * sent more than cap bytes.
 */
ssize_t harness_read_until_eof(int fd, void *buf, size_t cap, int timeout_ms);

/*
 * Run argv[0] (a path) with argv, stdin from /dev/null, capturing stdout and
 * stderr into NUL-terminated malloc'd strings (out pointers may be NULL to
 * discard). Returns the exit status as harness_server_stop() does, or
 * HARNESS_STATUS_TIMEOUT after killing it when it ran past timeout_ms.
 */
int harness_run(const char *const *argv, int timeout_ms, char **out,
    char **err_out);

/* Format a message into err[0..err_len) (err may be NULL): how the
 * harnesses report why something failed. */
void harness_say(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * fork and exec argv[0] (a path, or a name looked up on PATH) with argv,
 * stdin from /dev/null and stdout/stderr on out_fd and err_fd (or inherited
 * when -1). The child dies with the thread that started it, and starts
 * with default signal handling whatever the test runner set up, so that
 * SIGTERM reaches it. Returns its pid, or -1 when fork failed.
 */
pid_t harness_spawn(const char *const *argv, int out_fd, int err_fd);

/* Milliseconds, and microseconds, on the monotonic clock: for deadlines
 * and for measuring how long something took. */
int64_t harness_now_ms(void);
int64_t harness_now_us(void);
/* Milliseconds since the epoch on the wall clock, the clock allotd stamps
 * deadlines (expires_at) with. */
int64_t harness_wall_ms(void);
/* Sleep that long, resuming after signals; nothing for 0 or less. */
void harness_sleep_ms(int64_t ms);
void harness_sleep_us(int64_t us);
/* Reap pid once it exits, waiting until deadline (harness_now_ms()); its
 * status as harness_server_stop() gives it, or HARNESS_STATUS_TIMEOUT. */
int harness_wait_child(pid_t pid, int64_t deadline);
/* SIGKILL pid and reap it; its status (128 + 9) or HARNESS_STATUS_ERROR. */
int harness_kill_child(pid_t pid);

#endif
