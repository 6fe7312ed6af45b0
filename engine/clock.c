/*
 * clock.c - the engine's time (see clock.h).
 */
#include "clock.h"

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

static int64_t read_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t system_wall_ns(void *ctx)
{
	(void)ctx;
	return read_ns(CLOCK_REALTIME);
}

static int64_t system_mono_ns(void *ctx)
{
	(void)ctx;
	return read_ns(CLOCK_MONOTONIC);
}

const clock_source clock_system = { system_wall_ns, system_mono_ns, NULL };

void clock_init(engine_clock *c, const clock_source *src)
{
	c->src = *src;
	/* The two reads are a few nanoseconds apart: that is the anchor's
	 * error, for good. */
	int64_t mono = src->mono_ns(src->ctx);
	c->wall_at_start_ns = src->wall_ns(src->ctx);
	c->mono_at_start_ns = mono;
}

int64_t clock_read_ms(const engine_clock *c)
{
	int64_t ns = c->wall_at_start_ns + (c->src.mono_ns(c->src.ctx) - c->mono_at_start_ns);
	/* Floor, as the wall clock's milliseconds are (before 1970 too). */
	return ns >= 0 ? ns / 1000000 : -((-ns + 999999) / 1000000);
}

/* One engine per process, one thread reading its clock: no lock. */
static engine_clock engine_time;
static bool started;

void clock_start(const clock_source *src)
{
	clock_init(&engine_time, src ? src : &clock_system);
	started = true;
}

int64_t clock_now_ms(void)
{
	if (!started)
		clock_start(NULL);
	return clock_read_ms(&engine_time);
}
