/*
 * bench_time.h - the clocks of the benchmark programs, defined once.
 *
 * Durations are measured on CLOCK_MONOTONIC (never stepped by NTP or by
 * hand); CLOCK_REALTIME is only for stamping events that another process
 * (a log, a script) lines up with its own wall clock.
 */
#ifndef ALLOT_BENCH_TIME_H
#define ALLOT_BENCH_TIME_H

#include <stdint.h>
#include <time.h>

#define BENCH_NS_PER_S 1000000000ull

/* Monotonic nanoseconds, from an arbitrary start. */
static inline uint64_t bench_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * BENCH_NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* Monotonic seconds, from an arbitrary start. */
static inline double bench_mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wall-clock microseconds since the Unix epoch. */
static inline int64_t bench_wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#endif
