/*
 * redis_harness.c - start, stop, kill and restart redis-server; start and
 * kill allotd against it (redis_harness.h).
 */
#define _GNU_SOURCE /* nftw flags */
#include "redis_harness.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Attempts at a first start, each on a fresh free port. */
#define REDIS_START_ATTEMPTS 3

/* Bytes of redis-server's own output quoted when it fails to start. */
#define REDIS_LOG_TAIL 600

/* The last REDIS_LOG_TAIL bytes of a file in r's directory, or "". */
static void log_tail(const redis_server *r, const char *name, char *buf,
    size_t cap)
{
	char path[320];
	buf[0] = '\0';
	snprintf(path, sizeof(path), "%s/%s", r->dir, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	off_t size = lseek(fd, 0, SEEK_END);
	size_t want = cap - 1 < REDIS_LOG_TAIL ? cap - 1 : REDIS_LOG_TAIL;
	off_t from = size > (off_t)want ? size - (off_t)want : 0;
	ssize_t n = pread(fd, buf, want, from);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	for (char *p = buf; *p != '\0'; p++)
		if (*p == '\n')
			*p = ' ';
}

/*
 * fork and exec redis-server for r, its output appended to redis.out in
 * its directory. The child dies with the thread that started it and
 * begins with default signal handling.
 */
static pid_t spawn_redis(const redis_server *r)
{
	const char *exe = getenv("REDIS_SERVER");
	if (exe == NULL || exe[0] == '\0')
		exe = "redis-server";
	char port_text[16], log_path[320], out_path[320];
	snprintf(port_text, sizeof(port_text), "%d", r->port);
	snprintf(log_path, sizeof(log_path), "%s/redis.log", r->dir);
	snprintf(out_path, sizeof(out_path), "%s/redis.out", r->dir);
	const char *argv[] = { exe, "--bind", "127.0.0.1", "--port", port_text,
		"--save", "", "--appendonly", "yes", "--appendfsync", "always",
		"--dir", r->dir, "--daemonize", "no", "--logfile", log_path,
		NULL };

	int out = open(out_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	pid_t pid = harness_spawn(argv, out, out);
	if (out >= 0)
		close(out);
	return pid;
}

/* 1 when r answers PING with PONG, 0 not yet, with the reason in err. */
static int ping_once(const redis_server *r, char *err, size_t err_len)
{
	redisContext *c = redis_server_connect(r, 250, err, err_len);
	if (c == NULL)
		return 0;
	redisReply *rep = redisCommand(c, "PING");
	int ok = rep != NULL && rep->type == REDIS_REPLY_STATUS &&
	    strcmp(rep->str, "PONG") == 0;
	if (!ok)
		harness_say(err, err_len, "PING answered %s",
		    rep == NULL ? c->errstr : rep->str != NULL ? rep->str : "?");
	if (rep != NULL)
		freeReplyObject(rep);
	redisFree(c);
	return ok;
}

enum { UP = 0, FAILED = -1, EXITED = -2 };

/* Spawn r and wait until it answers PING, exits, or runs out of time. */
static int run_and_wait(redis_server *r, char *err, size_t err_len)
{
	r->pid = spawn_redis(r);
	if (r->pid < 0) {
		r->pid = 0;
		harness_say(err, err_len, "fork: %s", strerror(errno));
		return FAILED;
	}
	int64_t deadline = harness_now_ms() + REDIS_START_TIMEOUT_MS;
	char last[256] = "no attempt";
	char tail[REDIS_LOG_TAIL + 1];
	for (;;) {
		int status = harness_wait_child(r->pid, 0);
		if (status != HARNESS_STATUS_TIMEOUT) {
			r->pid = 0;
			log_tail(r, "redis.out", tail, sizeof(tail));
			if (tail[0] == '\0')
				log_tail(r, "redis.log", tail, sizeof(tail));
			harness_say(err, err_len, "redis-server on port %d exited with "
			    "status %d before answering PING: %s", r->port,
			    status, tail);
			return EXITED;
		}
		if (ping_once(r, last, sizeof(last)))
			return UP;
		if (harness_now_ms() >= deadline) {
			harness_kill_child(r->pid);
			r->pid = 0;
			log_tail(r, "redis.log", tail, sizeof(tail));
			harness_say(err, err_len, "redis-server on port %d did not answer "
			    "PING within %d ms (%s): %s", r->port,
			    REDIS_START_TIMEOUT_MS, last, tail);
			return FAILED;
		}
		harness_sleep_ms(10);
	}
}

static int remove_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	remove(path);
	return 0;
}

static void remove_dir(const char *dir)
{
	if (dir[0] != '\0')
		nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

redis_server *redis_server_start(char *err, size_t err_len)
{
	redis_server *r = calloc(1, sizeof(*r));
	if (r == NULL) {
		harness_say(err, err_len, "out of memory");
		return NULL;
	}
	const char *tmp = getenv("TMPDIR");
	if (tmp == NULL || tmp[0] == '\0')
		tmp = "/tmp";
	snprintf(r->dir, sizeof(r->dir), "%s/allot-redis-XXXXXX", tmp);
	if (mkdtemp(r->dir) == NULL) {
		harness_say(err, err_len, "mkdtemp %s: %s", r->dir, strerror(errno));
		free(r);
		return NULL;
	}
	int rc = EXITED;
	for (int attempt = 0; attempt < REDIS_START_ATTEMPTS && rc == EXITED;
	     attempt++) {
		/* Perhaps another process took the port: try another. */
		r->port = harness_free_port();
		if (r->port < 0) {
			harness_say(err, err_len, "no free port: %s", strerror(errno));
			rc = FAILED;
			break;
		}
		rc = run_and_wait(r, err, err_len);
	}
	if (rc != UP) {
		remove_dir(r->dir);
		free(r);
		return NULL;
	}
	snprintf(r->url, sizeof(r->url), "redis://127.0.0.1:%d", r->port);
	return r;
}

int redis_server_restart(redis_server *r, char *err, size_t err_len)
{
	if (r->pid != 0) {
		harness_say(err, err_len, "redis-server on port %d is still running",
		    r->port);
		return -1;
	}
	/* The port may linger in TIME_WAIT; redis-server reuses it. A few
	 * tries cover a moment when it cannot bind yet. */
	int rc = EXITED;
	for (int attempt = 0; attempt < REDIS_START_ATTEMPTS && rc == EXITED;
	     attempt++) {
		if (attempt > 0)
			harness_sleep_ms(200);
		rc = run_and_wait(r, err, err_len);
	}
	return rc == UP ? 0 : -1;
}

int redis_server_stop(redis_server *r)
{
	if (r == NULL || r->pid == 0)
		return HARNESS_STATUS_ERROR;
	int status = HARNESS_STATUS_ERROR;
	if (kill(r->pid, SIGTERM) == 0 || errno == ESRCH) {
		kill(r->pid, SIGCONT); /* in case it was paused */
		status = harness_wait_child(r->pid, harness_now_ms() + REDIS_STOP_TIMEOUT_MS);
	}
	if (status == HARNESS_STATUS_TIMEOUT) {
		fprintf(stderr, "redis harness: redis-server (pid %d) still "
		    "running %d ms after SIGTERM; killing it\n", (int)r->pid,
		    REDIS_STOP_TIMEOUT_MS);
		status = harness_kill_child(r->pid);
	}
	r->pid = 0;
	return status;
}

int redis_server_kill(redis_server *r)
{
	if (r == NULL || r->pid == 0)
		return HARNESS_STATUS_ERROR;
	int status = harness_kill_child(r->pid);
	r->pid = 0;
	return status;
}

int redis_server_pause(redis_server *r)
{
	if (r == NULL || r->pid == 0)
		return -1;
	return kill(r->pid, SIGSTOP);
}

int redis_server_resume(redis_server *r)
{
	if (r == NULL || r->pid == 0)
		return -1;
	return kill(r->pid, SIGCONT);
}

void redis_server_destroy(redis_server *r)
{
	if (r == NULL)
		return;
	if (r->pid != 0)
		redis_server_kill(r);
	remove_dir(r->dir);
	free(r);
}

redisContext *redis_server_connect(const redis_server *r, int timeout_ms,
    char *err, size_t err_len)
{
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
	if (c == NULL) {
		harness_say(err, err_len, "out of memory");
		return NULL;
	}
	if (c->err != 0 || redisSetTimeout(c, tv) != REDIS_OK) {
		harness_say(err, err_len, "cannot connect to redis on port %d: %s",
		    r->port, c->errstr);
		redisFree(c);
		return NULL;
	}
	return c;
}

redisReply *redis_server_command(const redis_server *r, char *err,
    size_t err_len, const char *const *words)
{
	int argc = 0;
	while (words[argc] != NULL)
		argc++;
	redisContext *c = redis_server_connect(r, 5000, err, err_len);
	if (c == NULL)
		return NULL;
	redisReply *rep = redisCommandArgv(c, argc, (const char **)words, NULL);
	if (rep == NULL)
		harness_say(err, err_len, "%s: %s", words[0], c->errstr);
	redisFree(c);
	return rep;
}

harness_server *allotd_start_durable(const redis_server *r, const char *ns,
    const char *const *extra_args, char *err, size_t err_len)
{
	size_t n_extra = 0;
	while (extra_args != NULL && extra_args[n_extra] != NULL)
		n_extra++;
	const char **argv = calloc(n_extra + 5, sizeof(*argv));
	if (argv == NULL) {
		harness_say(err, err_len, "out of memory");
		return NULL;
	}
	size_t i = 0;
	argv[i++] = "--redis";
	argv[i++] = r->url;
	if (ns != NULL) {
		argv[i++] = "--namespace";
		argv[i++] = ns;
	}
	for (size_t k = 0; k < n_extra; k++)
		argv[i++] = extra_args[k];
	argv[i] = NULL;
	harness_server *s = harness_server_start(argv, err, err_len);
	free(argv);
	return s;
}

int allotd_kill(harness_server *s)
{
	if (s == NULL)
		return HARNESS_STATUS_ERROR;
	int status = harness_kill_child(s->pid);
	free(s);
	return status;
}
