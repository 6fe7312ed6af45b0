/*
 * bench_cpu.c - CPU time over the timed run (see bench_cpu.h). The
 * watched processes' user and system time come from /proc/PID/stat (in
 * clock ticks, usually 10 ms: runs of seconds are what this is for), the
 * client's own from getrusage.
 */
#include "bench_cpu.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

typedef struct cpu_times {
	double user_s, sys_s;
	bool ok;
} cpu_times;

static int pids[BENCH_CPU_PIDS_MAX];
static uint32_t npids;
static cpu_times at_begin[BENCH_CPU_PIDS_MAX + 1], at_end[BENCH_CPU_PIDS_MAX + 1];
static bool begun, ended;

int bench_cpu_watch(int pid)
{
	if (npids == BENCH_CPU_PIDS_MAX || pid <= 0)
		return -1;
	pids[npids++] = pid;
	return 0;
}

/* utime and stime are the 14th and 15th fields; the 2nd, the command
 * name, may hold spaces, so count from the last ')'. */
static cpu_times proc_times(int pid)
{
	cpu_times t = { 0 };
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return t;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');
	unsigned long long ut, st;
	/* after ')': state (3rd) ... utime (14th), stime (15th) */
	if (p == NULL || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
	    &ut, &st) != 2)
		return t;
	double hz = (double)sysconf(_SC_CLK_TCK);
	assert(hz > 0);
	t.user_s = (double)ut / hz;
	t.sys_s = (double)st / hz;
	t.ok = true;
	return t;
}

static cpu_times self_times(void)
{
	struct rusage u;
	cpu_times t = { 0 };
	if (getrusage(RUSAGE_SELF, &u) != 0)
		return t;
	t.user_s = (double)u.ru_utime.tv_sec + (double)u.ru_utime.tv_usec / 1e6;
	t.sys_s = (double)u.ru_stime.tv_sec + (double)u.ru_stime.tv_usec / 1e6;
	t.ok = true;
	return t;
}

static void sample(cpu_times *t)
{
	t[0] = self_times();
	for (uint32_t i = 0; i < npids; i++)
		t[i + 1] = proc_times(pids[i]);
}

void bench_cpu_begin(void)
{
	sample(at_begin);
	begun = true;
}

void bench_cpu_end(void)
{
	if (!begun || ended)
		return;
	sample(at_end);
	ended = true;
}

static bool delta(uint32_t i, double *user, double *sys)
{
	assert(i <= npids);
	if (!ended || !at_begin[i].ok || !at_end[i].ok)
		return false;
	*user = at_end[i].user_s - at_begin[i].user_s;
	*sys = at_end[i].sys_s - at_begin[i].sys_s;
	return true;
}

void bench_cpu_json(char *js, size_t cap)
{
	size_t len = strlen(js);
	double u, s;
	if (!delta(0, &u, &s) || len >= cap)
		return;
	len += (size_t)snprintf(js + len, cap - len,
	    ",\"cpu\":{\"client\":{\"user_s\":%.3f,\"sys_s\":%.3f},\"pids\":[", u, s);
	for (uint32_t i = 0; i < npids && len < cap; i++) {
		bool ok = delta(i + 1, &u, &s);
		len += (size_t)snprintf(js + len, cap - len,
		    "%s{\"pid\":%d,\"user_s\":%.3f,\"sys_s\":%.3f}", i ? "," : "", pids[i],
		    ok ? u : -1.0, ok ? s : -1.0);
	}
	if (len < cap)
		snprintf(js + len, cap - len, "]}");
}

void bench_cpu_print(uint64_t requests)
{
	double u, s;
	if (!delta(0, &u, &s) || requests == 0)
		return;
	double per = 1e6 / (double)requests;
	printf("cpu (us/req)  client user %.2f sys %.2f", u * per, s * per);
	for (uint32_t i = 0; i < npids; i++)
		if (delta(i + 1, &u, &s))
			printf("; pid %d user %.2f sys %.2f", pids[i], u * per, s * per);
	printf("\n");
}
