/*
 * test_metrics.c - the metrics' histograms and bookkeeping, the HTTP
 * port's small parsers (routes, base64, ADDR:PORT) and the core's sku walk
 * that the operations page is built from.
 */
#include "core.h"
#include "http.h"
#include "http_view.h"
#include "metrics.h"

#include <criterion/criterion.h>
#include <string.h>

Test(metrics, buckets_are_powers_of_two_with_an_overflow_bucket)
{
	cr_assert_eq(metrics_bucket(0), 0);
	cr_assert_eq(metrics_bucket(1), 0);
	cr_assert_eq(metrics_bucket(2), 1);
	cr_assert_eq(metrics_bucket(3), 2);
	cr_assert_eq(metrics_bucket(4), 2);
	cr_assert_eq(metrics_bucket(5), 3);
	cr_assert_eq(metrics_bucket(UINT64_C(1) << 22), 22);
	cr_assert_eq(metrics_bucket((UINT64_C(1) << 22) + 1), METRICS_BUCKETS - 1);
	cr_assert_eq(metrics_bucket(UINT64_MAX), METRICS_BUCKETS - 1);
}

Test(metrics, codes_map_to_their_wire_names)
{
	cr_assert_str_eq(metrics_code_name(metrics_code_index(0)), "OK");
	cr_assert_str_eq(metrics_code_name(metrics_code_index(-3)), "OUT_OF_STOCK");
	cr_assert_str_eq(metrics_code_name(metrics_code_index(-8)), "BUSY");
	cr_assert_str_eq(metrics_code_name(metrics_code_index(-101)), "UNAVAILABLE");
	cr_assert_str_eq(metrics_code_name(metrics_code_index(-104)), "FORBIDDEN");
	cr_assert_str_eq(metrics_code_name(metrics_code_index(-55)), "INTERNAL");
}

Test(metrics, a_histogram_is_written_cumulative_with_sum_and_count)
{
	metrics_hist h = { 0 };
	metrics_hist_add(&h, 1, 1000);
	metrics_hist_add(&h, 3, 3000);
	metrics_hist_add(&h, 1u << 30, 5000);
	metrics_text t;
	metrics_text_init(&t, 1 << 20);
	metrics_write_hist(&t, "x_seconds", "method=\"ping\"", &h, 1e6, 1e9);
	cr_assert_not(t.failed);
	cr_assert(strstr(t.p, "x_seconds_bucket{method=\"ping\",le=\"1e-06\"} 1\n"), "%s", t.p);
	cr_assert(strstr(t.p, "x_seconds_bucket{method=\"ping\",le=\"4e-06\"} 2\n"), "%s", t.p);
	cr_assert(strstr(t.p, "x_seconds_bucket{method=\"ping\",le=\"+Inf\"} 3\n"), "%s", t.p);
	cr_assert(strstr(t.p, "x_seconds_sum{method=\"ping\"} 9e-06\n"), "%s", t.p);
	cr_assert(strstr(t.p, "x_seconds_count{method=\"ping\"} 3\n"), "%s", t.p);
	cr_assert_eq(metrics_hist_quantile(&h, NULL, 0.5), 4);
	metrics_text_finish(&t);
}

Test(metrics, text_stops_at_its_limit)
{
	metrics_text t;
	metrics_text_init(&t, 100);
	for (int i = 0; i < 50; i++)
		metrics_text_printf(&t, "%d\n", i);
	cr_assert(t.failed);
	cr_assert_leq(t.len, 100);
	metrics_text_finish(&t);
}

/* Replies waiting on the journal are timed when their lsn is acked. */
Test(metrics, gated_replies_are_recorded_when_acknowledged)
{
	metrics *m = metrics_create();
	cr_assert_not_null(m);
	metrics_reply(m, CMD_RESERVE, 1000, 0);
	metrics_reply(m, CMD_RESERVE, 2000, 7);
	metrics_reply(m, CMD_COMMIT, 3000, 8);
	metrics_turn_end(m, 5000);
	cr_assert_eq(m->nturn, 0);
	cr_assert_eq(m->gated_count, 2);
	cr_assert_eq(m->latency[CMD_RESERVE].sum, 4000);
	metrics_acked(m, 7, 10000);
	cr_assert_eq(m->gated_count, 1);
	cr_assert_eq(m->latency[CMD_RESERVE].sum, 4000 + 8000);
	cr_assert_eq(m->durability_wait.sum, 5000);
	metrics_acked(m, 9, 11000);
	cr_assert_eq(m->gated_count, 0);
	cr_assert_eq(m->latency[CMD_COMMIT].sum, 8000);
	metrics_destroy(m);
}

Test(http, routes_ignore_the_query_string)
{
	cr_assert_eq(http_path_of("/", 1), HTTP_PATH_PAGE);
	cr_assert_eq(http_path_of("/metrics?x=1", 12), HTTP_PATH_METRICS);
	cr_assert_eq(http_path_of("/healthz", 8), HTTP_PATH_HEALTHZ);
	cr_assert_eq(http_path_of("/api/summary", 12), HTTP_PATH_SUMMARY);
	cr_assert_eq(http_path_of("/metricsx", 9), HTTP_PATH_OTHER);
}

Test(http, base64_decodes_and_refuses_what_is_not)
{
	char out[64];
	cr_assert_eq(http_base64_decode("dTp0b2tlbg==", 12, out, sizeof(out)), 7);
	cr_assert_eq(memcmp(out, "u:token", 7), 0);
	cr_assert_eq(http_base64_decode("d*p0", 4, out, sizeof(out)), 0);
	cr_assert_eq(http_base64_decode("dTp0b2tlbg==", 12, out, 3), 0);
}

Test(http, listen_addresses_parse)
{
	char addr[64];
	int port;
	cr_assert_eq(http_parse_listen("127.0.0.1:9100", addr, sizeof(addr), &port), 0);
	cr_assert_str_eq(addr, "127.0.0.1");
	cr_assert_eq(port, 9100);
	cr_assert_eq(http_parse_listen("[::1]:0", addr, sizeof(addr), &port), 0);
	cr_assert_str_eq(addr, "::1");
	cr_assert_eq(http_parse_listen("9100", addr, sizeof(addr), &port), -1);
	cr_assert_eq(http_parse_listen("host:", addr, sizeof(addr), &port), -1);
	cr_assert_eq(http_parse_listen("h:70000", addr, sizeof(addr), &port), -1);
	cr_assert_eq(http_parse_listen(":80", addr, sizeof(addr), &port), -1);
}

static void count_sku(void *ctx, const core_sku_total *t)
{
	int64_t *sums = ctx;
	sums[0]++;
	sums[1] += t->available;
	sums[2] += t->reserved;
}

/* A walk in small slices sees every sku once when nothing changes. */
Test(core_sku_scan, slices_visit_every_sku_once)
{
	core_config cfg;
	core_config_default(&cfg);
	core *c = core_create(&cfg);
	cr_assert_not_null(c);
	for (int i = 0; i < 300; i++) {
		char sku[16];
		int n = snprintf(sku, sizeof(sku), "s-%d", i);
		core_cmd cmd = { .type = CORE_CMD_STOCK_SET,
			.u.stock = { .sku = { sku, (uint32_t)n }, .location = { "w1", 2 }, .on_hand = 5,
				.safety = -1, .if_version = -1 } };
		core_result res;
		core_error err;
		cr_assert_eq(core_exec(c, &cmd, 1000, &res, &err), 0, "%s", err.message);
	}
	int64_t sums[3] = { 0 };
	uint32_t cursor = 0, calls = 0;
	do {
		core_sku_scan(c, &cursor, 7, count_sku, sums);
		calls++;
	} while (cursor != 0 && calls < 100000);
	cr_assert_eq(sums[0], 300);
	cr_assert_eq(sums[1], 1500);
	cr_assert_eq(sums[2], 0);
	cr_assert_gt(calls, 1);
	core_destroy(c);
}
