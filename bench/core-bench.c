/*
 * core-bench.c - the pure core alone, no network: nanoseconds per
 * reserve+commit and reserve+release at 1M sku-locations, and bytes per
 * sku-location and per live one-line reservation (from jemalloc's own
 * allocation counter, so allocator overhead counts).
 *
 * usage: core-bench [--skus N] [--locations L] [--ops N] [--holds N] [--seed S] [--json]
 */
#include "bench_time.h"
#include "core.h"

#include <inttypes.h>
#include <jemalloc/jemalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rng_state;

/* Sku names, made once so the timed loops measure the core, not printf. */
static char (*sku_names)[16];
static uint32_t sku_name_len;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t allocated_bytes(void)
{
	uint64_t epoch = 1;
	size_t len = sizeof(epoch);
	mallctl("epoch", &epoch, &len, &epoch, len);
	size_t v = 0;
	len = sizeof(v);
	mallctl("stats.allocated", &v, &len, NULL, 0);
	return v;
}

static void must(int rc, const core_error *err, const char *what)
{
	if (rc != CORE_OK) {
		fprintf(stderr, "core-bench: %s failed: %s %s\n", what, core_strerror(rc), err->message);
		exit(1);
	}
}

static void load(core *c, uint32_t skus, uint32_t locations)
{
	char sku[32], loc[32];
	for (uint32_t i = 0; i < skus; i++) {
		for (uint32_t j = 0; j < locations; j++) {
			core_cmd cmd = { .type = CORE_CMD_STOCK_SET };
			cmd.u.stock = (core_stock_cmd){
				.sku = { sku, (uint32_t)snprintf(sku, sizeof(sku), "sku-%07u", i) },
				.location = { loc, (uint32_t)snprintf(loc, sizeof(loc), "L%02u", j) },
				.on_hand = 1000000000, .safety = -1, .if_version = -1,
			};
			core_result res;
			core_error err;
			must(core_exec(c, &cmd, 1, &res, &err), &err, "stock.set");
		}
	}
}

/* Reserve one line of a random sku; returns the reservation id. */
static void reserve_one(core *c, uint32_t skus, int64_t now, char id_out[CORE_RESERVATION_ID_LEN + 1])
{
	core_line_req line = { { sku_names[rng() % skus], sku_name_len }, 1 };
	core_cmd cmd = { .type = CORE_CMD_RESERVE };
	cmd.u.reserve = (core_reserve_cmd){
		.order_id = { "order-0000001", 13 }, .lines = &line, .nlines = 1, .ttl_ms = 3600000,
	};
	core_result res;
	core_error err;
	must(core_exec(c, &cmd, now, &res, &err), &err, "reserve");
	core_resv_view v;
	core_resv_view_get(c, res.resv, &v);
	memcpy(id_out, v.id, sizeof(v.id));
}

static double bench_pair(core *c, uint32_t skus, uint64_t ops, core_cmd_type second)
{
	double t0 = bench_mono_s();
	for (uint64_t i = 0; i < ops; i++) {
		char id[CORE_RESERVATION_ID_LEN + 1];
		reserve_one(c, skus, 2, id);
		core_cmd cmd = { .type = second };
		cmd.u.resv = (core_resv_cmd){ .reservation_id = { id, CORE_RESERVATION_ID_LEN } };
		core_result res;
		core_error err;
		must(core_exec(c, &cmd, 2, &res, &err), &err, "commit/release");
	}
	return (bench_mono_s() - t0) * 1e9 / (double)ops;
}

int main(int argc, char **argv)
{
	uint32_t skus = 250000, locations = 4;
	uint64_t ops = 1000000, holds = 1000000;
	bool json = false;
	rng_state = 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--json")) { json = true; continue; }
		if (!strcmp(a, "--help")) {
			printf("usage: core-bench [--skus N] [--locations L] [--ops N] [--holds N] [--seed S] [--json]\n");
			return 0;
		}
		if (v == NULL) { fprintf(stderr, "core-bench: %s needs a value\n", a); return 2; }
		if (!strcmp(a, "--skus")) skus = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--locations")) locations = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--ops")) ops = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--holds")) holds = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--seed")) rng_state = strtoull(v, NULL, 10);
		else { fprintf(stderr, "core-bench: unknown option %s\n", a); return 2; }
		i++;
	}
	if (skus == 0 || locations == 0 || locations > 4000 || ops == 0) {
		fprintf(stderr, "core-bench: skus, locations and ops must be positive (locations <= 4000)\n");
		return 2;
	}
	sku_names = malloc((size_t)skus * sizeof(*sku_names));
	if (sku_names == NULL || skus > 9999999)
		return 1;
	for (uint32_t i = 0; i < skus; i++)
		sku_name_len = (uint32_t)snprintf(sku_names[i], sizeof(sku_names[i]), "sku-%07u", i);
	core_config cfg;
	core_config_default(&cfg);
	cfg.reservations_max = (uint32_t)(holds + ops + 16);
	uint64_t base = allocated_bytes();
	core *c = core_create(&cfg);
	if (c == NULL)
		return 1;
	load(c, skus, locations);
	uint64_t records = (uint64_t)skus * locations;
	double per_record = (double)(allocated_bytes() - base) / (double)records;

	double ns_commit = bench_pair(c, skus, ops, CORE_CMD_COMMIT);
	double ns_release = bench_pair(c, skus, ops, CORE_CMD_RELEASE);

	/* Live holds: measure what a million one-line holds add. */
	core_destroy(c);
	c = core_create(&cfg);
	load(c, skus, locations);
	uint64_t before = allocated_bytes();
	for (uint64_t i = 0; i < holds; i++) {
		char id[CORE_RESERVATION_ID_LEN + 1];
		reserve_one(c, skus, 3, id);
	}
	double per_hold = holds ? (double)(allocated_bytes() - before) / (double)holds : 0;
	core_destroy(c);
	free(sku_names);

	if (json) {
		printf("{\"sku_locations\": %" PRIu64 ", \"ns_reserve_commit\": %.1f, \"ns_reserve_release\": %.1f, "
		    "\"bytes_per_sku_location\": %.1f, \"bytes_per_hold\": %.1f, \"holds\": %" PRIu64 "}\n",
		    records, ns_commit, ns_release, per_record, per_hold, holds);
	} else {
		printf("sku-locations          %" PRIu64 " (%u skus x %u locations)\n", records, skus, locations);
		printf("reserve+commit         %.1f ns\n", ns_commit);
		printf("reserve+release        %.1f ns\n", ns_release);
		printf("bytes per sku-location %.1f\n", per_record);
		printf("bytes per one-line hold %.1f (%" PRIu64 " live holds)\n", per_hold, holds);
	}
	return 0;
}
