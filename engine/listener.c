/*
 * listener.c - the TCP and Unix listeners (see listener.h).
 */
#include "listener.h"

#include "log.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int listener_tcp(uv_loop_t *loop, uv_tcp_t *h, const char *bind, int port, uint32_t max_connections,
    uv_connection_cb cb, void *data)
{
	struct sockaddr_storage addr;
	int rc = uv_ip4_addr(bind, port, (struct sockaddr_in *)&addr);
	if (rc != 0)
		rc = uv_ip6_addr(bind, port, (struct sockaddr_in6 *)&addr);
	uv_tcp_init(loop, h);
	h->data = data;
	if (rc != 0) {
		log_error("--bind %s: not an IPv4 or IPv6 address", bind);
		return -1;
	}
	rc = uv_tcp_bind(h, (struct sockaddr *)&addr, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)h, LISTENER_BACKLOG, cb);
	if (rc != 0) {
		log_error("cannot listen on %s:%d: %s", bind, port, uv_strerror(rc));
		return -1;
	}
	struct sockaddr_storage bound;
	int namelen = sizeof(bound);
	uv_tcp_getsockname(h, (struct sockaddr *)&bound, &namelen);
	int got = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
	                                            : ((struct sockaddr_in *)&bound)->sin_port);
	log_info("listening on %s:%d (max %u connections)", bind, got, max_connections);
	return 0;
}

/*
 * Make room for a socket at path: nothing there, or a socket nobody
 * answers on (a crashed allotd's), which is removed. 0, or -1 logged.
 */
static int clear_stale(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : (log_error("--unix %s: %s", path, strerror(errno)), -1);
	if (!S_ISSOCK(st.st_mode)) {
		log_error("--unix %s: the file exists and is not a socket; not replacing it", path);
		return -1;
	}
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	memcpy(sun.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_error("--unix %s: socket: %s", path, strerror(errno));
		return -1;
	}
	int rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	int err = errno;
	close(fd);
	if (rc == 0) {
		log_error("--unix %s: another process answers on this socket; not replacing it", path);
		return -1;
	}
	if (err != ECONNREFUSED) {
		log_error("--unix %s: cannot tell whether the socket is in use: %s", path, strerror(err));
		return -1;
	}
	if (unlink(path) != 0 && errno != ENOENT) {
		log_error("--unix %s: cannot remove the stale socket: %s", path, strerror(errno));
		return -1;
	}
	log_info("--unix %s: replaced a stale socket file", path);
	return 0;
}

int listener_unix(uv_loop_t *loop, uv_pipe_t *h, const char *path, uv_connection_cb cb, void *data,
    bool *initialised)
{
	*initialised = false;
	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		log_error("--unix %s: longer than a socket path may be (%zu bytes)", path,
		    sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		return -1;
	}
	if (clear_stale(path) != 0)
		return -1;
	uv_pipe_init(loop, h, 0);
	h->data = data;
	*initialised = true;
	/* Created with the mode it keeps, so that no one else can connect in
	 * the moment before the chmod below. */
	mode_t old = umask(0777 & ~LISTENER_UNIX_MODE);
	int rc = uv_pipe_bind(h, path);
	umask(old);
	if (rc == 0 && chmod(path, LISTENER_UNIX_MODE) != 0)
		rc = uv_translate_sys_error(errno);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)h, LISTENER_BACKLOG, cb);
	if (rc != 0) {
		log_error("cannot listen on the Unix socket %s: %s", path, uv_strerror(rc));
		return -1;
	}
	log_info("listening on the Unix socket %s (mode %o)", path, LISTENER_UNIX_MODE);
	return 0;
}

void listener_unix_remove(const char *path)
{
	if (unlink(path) != 0 && errno != ENOENT)
		log_warn("cannot remove the Unix socket %s: %s", path, strerror(errno));
}

bool listener_is_loopback(const char *addr)
{
	struct in_addr v4;
	struct in6_addr v6;
	if (inet_pton(AF_INET, addr, &v4) == 1)
		return (ntohl(v4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, addr, &v6) != 1)
		return false;
	if (IN6_IS_ADDR_LOOPBACK(&v6))
		return true;
	return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
}
