/*
 * test_clock.c - the engine's clock counts monotonic time from the wall
 * clock it read at start: stepping the wall clock back or forward while
 * the engine runs neither freezes expiry nor hastens it.
 *
 * The time source is a fake whose wall and monotonic clocks the tests set;
 * the last test reads the system's.
 */
#include <criterion/criterion.h>

#include <string.h>
#include <time.h>

#include "clock.h"
#include "core.h"

#define MS INT64_C(1000000) /* ns */
#define HOUR (3600000 * MS)

typedef struct fake {
	int64_t wall_ns, mono_ns;
} fake;

static int64_t fake_wall(void *ctx)
{
	return ((fake *)ctx)->wall_ns;
}

static int64_t fake_mono(void *ctx)
{
	return ((fake *)ctx)->mono_ns;
}

static core_str S(const char *s)
{
	return (core_str){ s, (uint32_t)strlen(s) };
}

Test(clock, reads_the_wall_clock_once_then_counts_the_monotonic_one)
{
	fake f = { 1700000000000 * MS + 400000, 5000 * MS };
	clock_source src = { fake_wall, fake_mono, &f };
	engine_clock c;
	clock_init(&c, &src);
	cr_assert_eq(clock_read_ms(&c), 1700000000000);
	f.mono_ns += 250 * MS;
	cr_assert_eq(clock_read_ms(&c), 1700000000250);
	f.wall_ns -= HOUR; /* NTP steps it back */
	cr_assert_eq(clock_read_ms(&c), 1700000000250);
	f.wall_ns += 3 * HOUR; /* and forward */
	f.mono_ns += 1 * MS;
	cr_assert_eq(clock_read_ms(&c), 1700000000251);
}

Test(clock, keeps_the_wall_clocks_parts_of_a_millisecond)
{
	/* 0.6 ms into a millisecond at start, 0.5 ms later: the next one. A
	 * clock that truncated each read would still say the first. */
	fake f = { 1700000000000 * MS + 600000, 77 * MS + 300000 };
	clock_source src = { fake_wall, fake_mono, &f };
	engine_clock c;
	clock_init(&c, &src);
	cr_assert_eq(clock_read_ms(&c), 1700000000000);
	f.mono_ns += 500000;
	cr_assert_eq(clock_read_ms(&c), 1700000000001);
}

/* A core reading time from a fake clock: one hold of ttl_ms on "A". */
typedef struct rig {
	fake f;
	engine_clock clk;
	core *c;
	char id[CORE_RESERVATION_ID_LEN + 1];
} rig;

static void rig_init(rig *g, int64_t ttl_ms)
{
	g->f = (fake){ 1700000000000 * MS, 10 * MS };
	clock_source src = { fake_wall, fake_mono, &g->f };
	clock_init(&g->clk, &src);
	core_config cfg;
	core_config_default(&cfg);
	g->c = core_create(&cfg);
	cr_assert_not_null(g->c);
	core_result res;
	core_error err;
	core_cmd set = { .type = CORE_CMD_STOCK_SET };
	set.u.stock = (core_stock_cmd){ .sku = S("A"), .location = S("W1"), .on_hand = 5, .safety = -1,
		.if_version = -1 };
	cr_assert_eq(core_exec(g->c, &set, clock_read_ms(&g->clk), &res, &err), CORE_OK);
	core_line_req line = { S("A"), 5 };
	core_cmd cmd = { .type = CORE_CMD_RESERVE };
	cmd.u.reserve = (core_reserve_cmd){ .order_id = S("o"), .lines = &line, .nlines = 1, .ttl_ms = ttl_ms };
	cr_assert_eq(core_exec(g->c, &cmd, clock_read_ms(&g->clk), &res, &err), CORE_OK, "%s", err.message);
	core_resv_view v;
	core_resv_view_get(g->c, res.resv, &v);
	memcpy(g->id, v.id, sizeof(v.id));
}

static core_resv_status status(rig *g)
{
	const core_resv *r;
	core_error err;
	cr_assert_eq(core_resv_find(g->c, S(g->id), &r, &err), CORE_OK);
	core_resv_view v;
	core_resv_view_get(g->c, r, &v);
	return v.status;
}

static int64_t avail(rig *g)
{
	uint32_t n;
	return core_avail(g->c, S("A"), (core_str){ NULL, 0 }, NULL, NULL, &n);
}

Test(clock, a_wall_clock_stepped_back_does_not_freeze_expiry)
{
	rig g;
	rig_init(&g, 1000);
	g.f.wall_ns -= HOUR;
	g.f.mono_ns += 999 * MS;
	cr_assert_eq(core_advance(g.c, clock_read_ms(&g.clk)), 0);
	cr_assert_eq(status(&g), CORE_RESV_HELD);
	g.f.mono_ns += 1 * MS; /* the deadline, an hour before the wall clock's now */
	cr_assert_eq(core_advance(g.c, clock_read_ms(&g.clk)), 1);
	cr_assert_eq(status(&g), CORE_RESV_EXPIRED);
	cr_assert_eq(avail(&g), 5);
	core_destroy(g.c);
}

Test(clock, a_wall_clock_stepped_forward_does_not_expire_holds_early)
{
	rig g;
	rig_init(&g, 60000);
	g.f.wall_ns += 24 * HOUR;
	g.f.mono_ns += 10 * MS;
	cr_assert_eq(core_advance(g.c, clock_read_ms(&g.clk)), 0);
	cr_assert_eq(status(&g), CORE_RESV_HELD);
	cr_assert_eq(avail(&g), 0);
	g.f.mono_ns += 59989 * MS;
	cr_assert_eq(core_advance(g.c, clock_read_ms(&g.clk)), 0);
	g.f.mono_ns += 1 * MS;
	cr_assert_eq(core_advance(g.c, clock_read_ms(&g.clk)), 1);
	cr_assert_eq(avail(&g), 5);
	core_destroy(g.c);
}

Test(clock, the_engines_clock_starts_from_the_source_it_is_given)
{
	fake f = { 1700000000000 * MS, 0 };
	clock_source src = { fake_wall, fake_mono, &f };
	clock_start(&src);
	cr_assert_eq(clock_now_ms(), 1700000000000);
	f.wall_ns -= HOUR;
	f.mono_ns += 42 * MS;
	cr_assert_eq(clock_now_ms(), 1700000000042);
	/* The system's: about the wall clock now, and never going back. */
	clock_start(NULL);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t wall = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	int64_t a = clock_now_ms();
	cr_assert(a >= wall && a <= wall + 1000, "%lld is not about %lld", (long long)a, (long long)wall);
	for (int i = 0; i < 1000; i++) {
		int64_t b = clock_now_ms();
		cr_assert_geq(b, a);
		a = b;
	}
}
