/*
 * bench_cpu.h - CPU time spent during the timed run, by the client itself
 * and by the processes named with --cpu-pid (the server, and the Redis
 * that holds its journal), so a run can say where a request's time goes:
 * in user space or in the kernel, in the client or in the server.
 */
#ifndef ALLOT_BENCH_CPU_H
#define ALLOT_BENCH_CPU_H

#include <stddef.h>
#include <stdint.h>

#define BENCH_CPU_PIDS_MAX 4

/* Add a process to watch (--cpu-pid); 0, or -1 when there are too many. */
int bench_cpu_watch(int pid);
/* The timed run begins, and ends (worker 0 calls both). */
void bench_cpu_begin(void);
void bench_cpu_end(void);
/* Append ,"cpu":{...} to the JSON in js (nothing before a whole run). */
void bench_cpu_json(char *js, size_t cap);
/* One line per process for the text report (nothing before a whole run). */
void bench_cpu_print(uint64_t requests);

#endif
