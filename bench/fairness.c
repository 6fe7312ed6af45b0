/*
 * fairness.c - does one greedy connection delay another's requests?
 *
 *   allot-fairness --port P [--seconds S] [--batch N] [--greedy C]
 *
 * A pinger sends one ping every millisecond and waits for each answer,
 * first alone (the baseline), then beside C greedy connections that each
 * pipeline batches of N pings without pause (reading their replies on a
 * thread of their own, as fast as they come). It prints the pinger's round
 * trip, p50, p99 and max in microseconds, for both phases, and the greedy
 * connections' requests per second:
 *
 *   phase     pings  p50_us  p99_us  max_us  greedy_rps
 *   alone      2999      41      88     210           0
 *   greedy     2998      63     910    2400      410000
 *
 * Compare allotd with --frames-per-turn at its default and with a budget
 * so large it is off (bench/fairness runs both). The machine is shared:
 * read the figures as rough, and the baseline beside them.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "bench_time.h"
#include "mp.h"

#define FAIR_GREEDY_MAX 16
#define FAIR_PINGS_MAX 1000000
#define FAIR_READ_CHUNK (256u << 10)

/* [0, 1, "ping", []]: the msgid is not looked at by anyone here. */
static const uint8_t ping_req[] = { 0x94, 0x00, 0x01, 0xa4, 'p', 'i', 'n', 'g', 0x90 };

static atomic_bool stop_greedy;
static atomic_ullong greedy_replies;

static int connect_to(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		fprintf(stderr, "allot-fairness: cannot connect to 127.0.0.1:%d: %s\n", port, strerror(errno));
		exit(2);
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void write_all(int fd, const void *p, size_t len)
{
	const uint8_t *b = p;
	while (len > 0) {
		ssize_t n = send(fd, b, len, MSG_NOSIGNAL);
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			return; /* the server closed: the run ends anyway */
		}
		b += n;
		len -= (size_t)n;
	}
}

typedef struct greedy {
	pthread_t writer, reader;
	int fd;
	uint32_t batch;
	uint8_t *burst;
} greedy;

static void *greedy_write(void *arg)
{
	greedy *g = arg;
	while (!atomic_load(&stop_greedy))
		write_all(g->fd, g->burst, (size_t)g->batch * sizeof(ping_req));
	return NULL;
}

/* Count replies by their first byte: each pong is [1, msgid, nil, "pong"],
 * and only the pong's own bytes contain 0xa4 followed by "pong". Counting
 * the suffix is enough for a rate. */
static void *greedy_read(void *arg)
{
	greedy *g = arg;
	uint8_t *buf = malloc(FAIR_READ_CHUNK);
	uint32_t match = 0;
	static const uint8_t tail[] = { 0xa4, 'p', 'o', 'n', 'g' };
	while (buf) {
		ssize_t n = recv(g->fd, buf, FAIR_READ_CHUNK, 0);
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++) {
			match = buf[i] == tail[match] ? match + 1 : buf[i] == tail[0];
			if (match == sizeof(tail)) {
				atomic_fetch_add(&greedy_replies, 1);
				match = 0;
			}
		}
	}
	free(buf);
	return NULL;
}

/* One ping, its round trip in ns; the reply is framed with mp_scan. */
static uint64_t ping_once(int fd, uint8_t *buf, size_t cap)
{
	uint64_t t0 = bench_mono_ns();
	write_all(fd, ping_req, sizeof(ping_req));
	size_t have = 0;
	mp_limits lim = { cap, 8, 16, 16, 64 };
	for (;;) {
		ssize_t n = recv(fd, buf + have, cap - have, 0);
		if (n <= 0) {
			fprintf(stderr, "allot-fairness: the pinger's connection closed\n");
			exit(1);
		}
		have += (size_t)n;
		size_t len;
		if (mp_scan(buf, have, &lim, &len, NULL) == MP_OK)
			return bench_mono_ns() - t0;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Ping every millisecond for seconds; print the phase's line. */
static void run_pinger(int port, double seconds, const char *phase, uint64_t *rtt)
{
	int fd = connect_to(port);
	uint8_t buf[256];
	size_t n = 0;
	unsigned long long before = atomic_load(&greedy_replies);
	double start = bench_mono_s(), next = start;
	while (bench_mono_s() - start < seconds && n < FAIR_PINGS_MAX) {
		rtt[n++] = ping_once(fd, buf, sizeof(buf));
		next += 0.001;
		double wait = next - bench_mono_s();
		if (wait > 0)
			usleep((useconds_t)(wait * 1e6));
	}
	double took = bench_mono_s() - start;
	close(fd);
	qsort(rtt, n, sizeof(*rtt), cmp_u64);
	printf("%-8s %6zu %7llu %7llu %7llu %11.0f\n", phase, n, (unsigned long long)rtt[n / 2] / 1000,
	    (unsigned long long)rtt[n * 99 / 100] / 1000, (unsigned long long)rtt[n - 1] / 1000,
	    (double)(atomic_load(&greedy_replies) - before) / took);
}

int main(int argc, char **argv)
{
	int port = 0, ngreedy = 1;
	double seconds = 3;
	uint32_t batch = 4096;
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' }, { "seconds", required_argument, NULL, 's' },
		{ "batch", required_argument, NULL, 'b' }, { "greedy", required_argument, NULL, 'g' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'p': port = atoi(optarg); break;
		case 's': seconds = atof(optarg); break;
		case 'b': batch = (uint32_t)atoi(optarg); break;
		case 'g': ngreedy = atoi(optarg); break;
		default: return 2;
		}
	}
	if (port <= 0 || seconds <= 0 || batch == 0 || ngreedy < 1 || ngreedy > FAIR_GREEDY_MAX) {
		fprintf(stderr, "usage: allot-fairness --port P [--seconds S] [--batch N] [--greedy 1..%d]\n",
		    FAIR_GREEDY_MAX);
		return 2;
	}
	uint64_t *rtt = malloc(sizeof(*rtt) * FAIR_PINGS_MAX);
	uint8_t *burst = malloc((size_t)batch * sizeof(ping_req));
	if (rtt == NULL || burst == NULL)
		return 1;
	for (uint32_t i = 0; i < batch; i++)
		memcpy(burst + i * sizeof(ping_req), ping_req, sizeof(ping_req));
	printf("phase     pings  p50_us  p99_us  max_us  greedy_rps\n");
	run_pinger(port, seconds, "alone", rtt);
	greedy g[FAIR_GREEDY_MAX];
	for (int i = 0; i < ngreedy; i++) {
		g[i] = (greedy){ .fd = connect_to(port), .batch = batch, .burst = burst };
		pthread_create(&g[i].reader, NULL, greedy_read, &g[i]);
		pthread_create(&g[i].writer, NULL, greedy_write, &g[i]);
	}
	usleep(200000); /* the greedy ones get going */
	run_pinger(port, seconds, "greedy", rtt);
	atomic_store(&stop_greedy, true);
	for (int i = 0; i < ngreedy; i++) {
		shutdown(g[i].fd, SHUT_RDWR);
		pthread_join(g[i].writer, NULL);
		pthread_join(g[i].reader, NULL);
		close(g[i].fd);
	}
	free(rtt);
	free(burst);
	return 0;
}
