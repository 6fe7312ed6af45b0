/*
 * harness.c - start and stop allotd, run commands, raw sockets (harness.h).
 */
#define _GNU_SOURCE /* pipe2 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Most output harness_run() keeps from one stream of a command. */
#define HARNESS_CAPTURE_MAX ((size_t)16 << 20)

/* Attempts at starting the server before giving up (see start_once()). */
#define HARNESS_START_ATTEMPTS 3

enum { START_OK = 0, START_FAILED = -1, START_RETRY = -2 };

void harness_say(char *err, size_t err_len, const char *fmt, ...)
{
	if (err == NULL || err_len == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
}

/* The one reading of each clock the tests use. */
static int64_t clock_us(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t harness_now_ms(void)
{
	return clock_us(CLOCK_MONOTONIC) / 1000;
}

int64_t harness_now_us(void)
{
	return clock_us(CLOCK_MONOTONIC);
}

int64_t harness_wall_ms(void)
{
	return clock_us(CLOCK_REALTIME) / 1000;
}

void harness_sleep_us(int64_t us)
{
	if (us <= 0)
		return;
	struct timespec ts = { (time_t)(us / 1000000), (long)(us % 1000000) * 1000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void harness_sleep_ms(int64_t ms)
{
	harness_sleep_us(ms * 1000);
}

/* Milliseconds left before deadline, for poll(): at least 0. */
static int ms_left(int64_t deadline)
{
	int64_t left = deadline - harness_now_ms();
	return left < 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
}

static int exit_status(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return HARNESS_STATUS_ERROR;
}

int harness_wait_child(pid_t pid, int64_t deadline)
{
	for (;;) {
		int wstatus = 0;
		pid_t r = waitpid(pid, &wstatus, WNOHANG);
		if (r == pid)
			return exit_status(wstatus);
		if (r < 0 && errno != EINTR)
			return HARNESS_STATUS_ERROR;
		if (harness_now_ms() >= deadline)
			return HARNESS_STATUS_TIMEOUT;
		harness_sleep_ms(10);
	}
}

int harness_kill_child(pid_t pid)
{
	kill(pid, SIGKILL);
	int wstatus = 0;
	while (waitpid(pid, &wstatus, 0) < 0) {
		if (errno != EINTR)
			return HARNESS_STATUS_ERROR;
	}
	return exit_status(wstatus);
}

pid_t harness_spawn(const char *const *argv, int out_fd, int err_fd)
{
	pid_t parent = getpid();
	fflush(NULL);
	pid_t pid = fork();
	if (pid != 0)
		return pid;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	int devnull = open("/dev/null", O_RDONLY);
	if (devnull >= 0)
		dup2(devnull, STDIN_FILENO);
	if (out_fd >= 0)
		dup2(out_fd, STDOUT_FILENO);
	if (err_fd >= 0)
		dup2(err_fd, STDERR_FILENO);
	execvp(argv[0], (char *const *)argv);
	dprintf(STDERR_FILENO, "harness: cannot run %s: %s\n", argv[0],
	    strerror(errno));
	_exit(127);
}

int harness_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(sin);
	int port = -1;
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

allot_client *harness_client(const harness_server *s, int timeout_ms,
    char *err, size_t err_len)
{
	return allot_client_connect(HARNESS_HOST, s->port, timeout_ms, err,
	    err_len);
}

/*
 * Whether the server on port answers ping with "pong": 1 yes, 0 not yet
 * (cannot connect, no reply), -1 it answered something else.
 */
static int ping_once(int port, char *err, size_t err_len)
{
	allot_client *c = allot_client_connect(HARNESS_HOST, port, 250, err,
	    err_len);
	if (c == NULL)
		return 0;
	json_t *error = NULL, *result = NULL;
	int ready = 0;
	allot_client_set_timeout(c, 1000);
	if (allot_client_call_json(c, "ping", NULL, &error, &result, err,
	        err_len) == 0) {
		ready = error == NULL && json_is_string(result) &&
		    strcmp(json_string_value(result), "pong") == 0 ? 1 : -1;
		if (ready < 0) {
			char *text = json_dumps(error != NULL ? error : result,
			    JSON_COMPACT | JSON_ENCODE_ANY);
			harness_say(err, err_len, "ping answered %s", text ? text : "?");
			free(text);
		}
	}
	json_decref(error);
	json_decref(result);
	allot_client_destroy(c);
	return ready;
}

/* Wait until the server answers ping, exits, or runs out of time. */
static int wait_ready(harness_server *s, char *err, size_t err_len)
{
	int64_t deadline = harness_now_ms() + HARNESS_START_TIMEOUT_MS;
	char last[256] = "no attempt";
	for (;;) {
		int status = harness_wait_child(s->pid, 0);
		if (status != HARNESS_STATUS_TIMEOUT) {
			/* Perhaps another process took the port: try another. */
			harness_say(err, err_len, "allotd exited with status %d before "
			    "answering ping", status);
			return START_RETRY;
		}
		int ready = ping_once(s->port, last, sizeof(last));
		if (ready > 0)
			return START_OK;
		if (ready < 0 || harness_now_ms() >= deadline) {
			harness_say(err, err_len, "allotd did not answer ping with \"pong\" "
			    "within %d ms: %s", HARNESS_START_TIMEOUT_MS, last);
			harness_kill_child(s->pid);
			return START_FAILED;
		}
		harness_sleep_ms(20);
	}
}

/* One attempt at starting exe on a fresh free port. */
static int start_once(const char *exe, const char *const *extra_args,
    harness_server *s, char *err, size_t err_len)
{
	size_t n_extra = 0;
	while (extra_args != NULL && extra_args[n_extra] != NULL)
		n_extra++;
	const char **argv = calloc(n_extra + 8, sizeof(*argv));
	if (argv == NULL) {
		harness_say(err, err_len, "out of memory");
		return START_FAILED;
	}
	s->port = harness_free_port();
	char port_text[16];
	snprintf(port_text, sizeof(port_text), "%d", s->port);
	size_t i = 0;
	argv[i++] = exe;
	argv[i++] = "--bind";
	argv[i++] = HARNESS_HOST;
	argv[i++] = "--port";
	argv[i++] = port_text;
	argv[i++] = "--log-level";
	argv[i++] = "warn";
	for (size_t k = 0; k < n_extra; k++)
		argv[i++] = extra_args[k];
	argv[i] = NULL;

	int rc = START_FAILED;
	if (s->port < 0)
		harness_say(err, err_len, "no free port: %s", strerror(errno));
	else if ((s->pid = harness_spawn(argv, -1, -1)) < 0)
		harness_say(err, err_len, "fork: %s", strerror(errno));
	else
		rc = wait_ready(s, err, err_len);
	free(argv);
	return rc;
}

harness_server *harness_server_start(const char *const *extra_args,
    char *err, size_t err_len)
{
	const char *exe = getenv("ALLOTD");
	if (exe == NULL || exe[0] == '\0') {
		harness_say(err, err_len, "ALLOTD is not set (the path of the allotd "
		    "binary; meson test sets it)");
		return NULL;
	}
	harness_server *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		harness_say(err, err_len, "out of memory");
		return NULL;
	}
	int rc = START_RETRY;
	for (int attempt = 0; attempt < HARNESS_START_ATTEMPTS && rc == START_RETRY;
	     attempt++)
		rc = start_once(exe, extra_args, s, err, err_len);
	if (rc != START_OK) {
		free(s);
		return NULL;
	}
	return s;
}

int harness_server_stop(harness_server *s)
{
	if (s == NULL)
		return HARNESS_STATUS_ERROR;
	int status = HARNESS_STATUS_ERROR;
	if (kill(s->pid, SIGTERM) == 0 || errno == ESRCH)
		status = harness_wait_child(s->pid, harness_now_ms() + HARNESS_STOP_TIMEOUT_MS);
	if (status == HARNESS_STATUS_TIMEOUT) {
		fprintf(stderr, "harness: allotd (pid %d) still running %d ms "
		    "after SIGTERM; killing it\n", (int)s->pid,
		    HARNESS_STOP_TIMEOUT_MS);
		status = harness_kill_child(s->pid);
	}
	free(s);
	return status;
}

int harness_connect_raw(int port, int timeout_ms)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	struct sockaddr_in sin = { .sin_family = AF_INET,
		.sin_port = htons((uint16_t)port) };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int harness_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t harness_read_until_eof(int fd, void *buf, size_t cap, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;
	size_t got = 0;
	char spare;
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int n = poll(&pfd, 1, ms_left(deadline));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		/* Past cap, read one byte anyway to tell EOF from overflow. */
		ssize_t r = got < cap ? read(fd, (char *)buf + got, cap - got)
		                      : read(fd, &spare, 1);
		if (r == 0)
			return (ssize_t)got;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || got == cap)
			return -1;
		got += (size_t)r;
	}
}

/* One captured output stream of harness_run(). */
typedef struct capture {
	int fd; /* -1 once at EOF */
	char *buf;
	size_t len, cap;
} capture;

/* Read what is available from c->fd. Returns 0, or -1 when out of memory. */
static int capture_read(capture *c)
{
	/* Past HARNESS_CAPTURE_MAX the output is read and dropped, so that
	 * the command does not block on a full pipe. */
	bool keep = c->len < HARNESS_CAPTURE_MAX;
	if (keep && c->cap - c->len < 4096) {
		size_t cap = c->cap * 2 > 8192 ? c->cap * 2 : 8192;
		char *buf = realloc(c->buf, cap);
		if (buf == NULL)
			return -1;
		c->buf = buf;
		c->cap = cap;
	}
	char sink[4096];
	ssize_t n = keep ? read(c->fd, c->buf + c->len, c->cap - c->len - 1)
	                 : read(c->fd, sink, sizeof(sink));
	if (n < 0 && errno == EINTR)
		return 0;
	if (n <= 0) {
		close(c->fd);
		c->fd = -1;
		return 0;
	}
	if (keep)
		c->len += (size_t)n;
	return 0;
}

/* Collect both streams until they close or the deadline passes. */
static bool capture_all(capture *cs, int64_t deadline)
{
	while (cs[0].fd >= 0 || cs[1].fd >= 0) {
		struct pollfd pfd[2];
		for (int i = 0; i < 2; i++)
			pfd[i] = (struct pollfd){ .fd = cs[i].fd, .events = POLLIN };
		int n = poll(pfd, 2, ms_left(deadline));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		for (int i = 0; i < 2; i++) {
			if (pfd[i].revents != 0 && capture_read(&cs[i]) < 0)
				return false;
		}
	}
	return true;
}

static char *capture_text(capture *c)
{
	char *text = c->buf != NULL ? c->buf : malloc(1);
	if (text != NULL)
		text[c->buf != NULL ? c->len : 0] = '\0';
	c->buf = NULL;
	return text;
}

int harness_run(const char *const *argv, int timeout_ms, char **out,
    char **err_out)
{
	int64_t deadline = harness_now_ms() + timeout_ms;
	int out_pipe[2] = { -1, -1 }, err_pipe[2] = { -1, -1 };
	capture cs[2] = { { .fd = -1 }, { .fd = -1 } };
	int status = HARNESS_STATUS_ERROR;
	pid_t pid;

	if (pipe2(out_pipe, O_CLOEXEC) < 0)
		goto fail_out_pipe;
	if (pipe2(err_pipe, O_CLOEXEC) < 0)
		goto fail_err_pipe;
	pid = harness_spawn(argv, out_pipe[1], err_pipe[1]);
	close(out_pipe[1]);
	close(err_pipe[1]);
	cs[0].fd = out_pipe[0];
	cs[1].fd = err_pipe[0];
	if (pid < 0)
		goto fail_spawn;

	bool done = capture_all(cs, deadline);
	status = done ? harness_wait_child(pid, deadline) : HARNESS_STATUS_TIMEOUT;
	if (status == HARNESS_STATUS_TIMEOUT)
		harness_kill_child(pid);

fail_spawn:
	for (int i = 0; i < 2; i++) {
		if (cs[i].fd >= 0)
			close(cs[i].fd);
	}
	if (out != NULL)
		*out = capture_text(&cs[0]);
	if (err_out != NULL)
		*err_out = capture_text(&cs[1]);
	free(cs[0].buf);
	free(cs[1].buf);
	return status;

fail_err_pipe:
	close(out_pipe[0]);
	close(out_pipe[1]);
fail_out_pipe:
	if (out != NULL)
		*out = NULL;
	if (err_out != NULL)
		*err_out = NULL;
	return status;
}
