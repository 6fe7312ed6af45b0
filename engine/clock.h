/*
 * clock.h - the engine's time: a monotonic clock that reads as wall-clock
 * milliseconds.
 *
 * Deadlines are wall-clock times (clients see them, and a restarted engine
 * recovers them), but the wall clock can be stepped: NTP setting it back
 * would freeze expiry until it caught up, and setting it forward would
 * expire holds early. So the engine reads CLOCK_REALTIME once, at start,
 * and from then on counts CLOCK_MONOTONIC, which is never stepped:
 *
 *     now = wall_at_start + (mono_now - mono_at_start)
 *
 * A step of the wall clock while the engine runs changes nothing; the two
 * agree again at the next start. CLOCK_MONOTONIC keeps counting while the
 * process is stopped (SIGSTOP), so holds due during such a pause are due
 * when it resumes; it does not count while the machine is suspended.
 *
 * The time source can be replaced, for tests.
 */
#ifndef ALLOT_CLOCK_H
#define ALLOT_CLOCK_H

#include <stdint.h>

/* Where time comes from: the wall clock (since the epoch) and a monotonic
 * clock (from any origin), both in nanoseconds. Nanoseconds, not
 * milliseconds: truncating each read to the millisecond would put the
 * engine's time up to a millisecond behind the wall clock, and a client
 * that read the wall clock before its request could see a deadline before
 * its own now + ttl. */
typedef struct clock_source {
	int64_t (*wall_ns)(void *ctx);
	int64_t (*mono_ns)(void *ctx);
	void *ctx;
} clock_source;

/* The system's: CLOCK_REALTIME and CLOCK_MONOTONIC. */
extern const clock_source clock_system;

/* A clock anchored to its source's wall clock when it was started. */
typedef struct engine_clock {
	clock_source src;
	int64_t wall_at_start_ns;
	int64_t mono_at_start_ns;
} engine_clock;

/* Anchor c to src (copied) now. */
void clock_init(engine_clock *c, const clock_source *src);
/* The anchored wall time plus the monotonic time elapsed since. */
int64_t clock_read_ms(const engine_clock *c);

/*
 * The engine's clock, one per process: anchored to the system's clocks at
 * the first clock_now_ms(), or when clock_start() says (with another source
 * for tests; NULL for the system's).
 */
void clock_start(const clock_source *src);
int64_t clock_now_ms(void);

#endif
