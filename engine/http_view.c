/*
 * http_view.c - the HTTP port's answers (see http_view.h). Every figure
 * is read where it is kept: the dispatch's request counters, the core's
 * stats, the server's connections and memory (the figures `stats`
 * reports), durability's positions, the metrics' histograms and the ops
 * view's lists. Nothing is counted twice and nothing is changed.
 */
#include "http_view.h"

#include "clock.h"

#include <allot/protocol.h>
#include <assert.h>
#include <string.h>

static const int statuses[HTTP_STATUSES] = { 200, 400, 401, 404, 405, 408, 413, 414, 431, 500, 503,
	0, 0 };

http_path http_path_of(const char *url, size_t len)
{
	const char *q = memchr(url, '?', len);
	size_t n = q ? (size_t)(q - url) : len;
#define IS(lit) (n == sizeof(lit) - 1 && memcmp(url, lit, n) == 0)
	if (IS("/") || IS("/index.html"))
		return HTTP_PATH_PAGE;
	if (IS("/metrics"))
		return HTTP_PATH_METRICS;
	if (IS("/healthz"))
		return HTTP_PATH_HEALTHZ;
	if (IS("/api/summary"))
		return HTTP_PATH_SUMMARY;
#undef IS
	return HTTP_PATH_OTHER;
}

void http_count(http_counts *c, http_path path, int status)
{
	assert(path < HTTP_PATHS);
	uint32_t i = 0;
	while (i < HTTP_STATUSES - 1 && statuses[i] != status && statuses[i] != 0)
		i++;
	c->by_path_status[path][i]++;
}

static int b64_value(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	return ch == '+' ? 62 : ch == '/' ? 63 : -1;
}

size_t http_base64_decode(const char *in, size_t len, char *out, size_t cap)
{
	uint32_t acc = 0, bits = 0;
	size_t n = 0;
	while (len > 0 && in[len - 1] == '=')
		len--;
	for (size_t i = 0; i < len; i++) {
		int v = b64_value((unsigned char)in[i]);
		if (v < 0)
			return 0;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == cap)
				return 0;
			/* Writing behind the reading position is safe in place:
			 * every 4 characters read give at most 3 bytes. */
			out[n++] = (char)(acc >> bits & 0xff);
		}
	}
	return n;
}

/* ---- /metrics ------------------------------------------------------------------- */

static const char *method_name(uint32_t cmd)
{
	return cmd < CMD_COUNT ? cmd_table[cmd].name : "unknown";
}

static void gauge(metrics_text *t, const char *name, const char *help, double v)
{
	metrics_family(t, name, "gauge", help);
	metrics_text_printf(t, "%s %.9g\n", name, v);
}

static void counter(metrics_text *t, const char *name, const char *help, uint64_t v)
{
	metrics_family(t, name, "counter", help);
	metrics_text_printf(t, "%s %llu\n", name, (unsigned long long)v);
}

static void write_requests(metrics_text *t, const http_view_source *s)
{
	const dispatch *d = s->d;
	metrics_family(t, "allot_requests_total", "counter",
	    "Requests answered, by method and wire code (OK or the error's code).");
	for (uint32_t c = 0; c <= CMD_COUNT; c++) {
		uint64_t errors = 0;
		for (uint32_t k = 1; k < METRICS_CODES; k++) {
			uint64_t n = d->errors_by_cmd_code[c][k];
			errors += n;
			if (n)
				metrics_text_printf(t, "allot_requests_total{method=\"%s\",code=\"%s\"} %llu\n",
				    method_name(c), metrics_code_name(k), (unsigned long long)n);
		}
		uint64_t all = c < CMD_COUNT ? d->requests_by_cmd[c] : errors;
		assert(all >= errors);
		if (all > errors)
			metrics_text_printf(t, "allot_requests_total{method=\"%s\",code=\"OK\"} %llu\n",
			    method_name(c), (unsigned long long)(all - errors));
	}
	metrics_family(t, "allot_request_duration_seconds", "histogram",
	    "Server time per request, from its frame decoded to its reply written, including the "
	    "durability wait in sync mode.");
	for (uint32_t c = 0; c <= CMD_COUNT; c++) {
		const metrics_hist *h = &s->m->latency[c];
		uint64_t n = 0;
		for (uint32_t k = 0; k < METRICS_BUCKETS; k++)
			n += h->counts[k];
		if (n == 0)
			continue;
		char labels[64];
		snprintf(labels, sizeof(labels), "method=\"%s\"", method_name(c));
		metrics_write_hist(t, "allot_request_duration_seconds", labels, h, 1e6, 1e9);
	}
	metrics_family(t, "allot_durability_wait_seconds", "histogram",
	    "Sync mode: time a reply waited for Redis to acknowledge its journal record.");
	metrics_write_hist(t, "allot_durability_wait_seconds", "", &s->m->durability_wait, 1e6, 1e9);
	counter(t, "allot_request_durations_unrecorded_total",
	    "Replies whose time was not recorded (more waiting on the journal than kept).",
	    s->m->unrecorded);
}

static void write_state(metrics_text *t, const http_view_source *s, const core_stats *cs)
{
	metrics_family(t, "allot_reservations", "gauge", "Reservations kept, by state.");
	for (int i = 0; i < 5; i++)
		metrics_text_printf(t, "allot_reservations{state=\"%s\"} %llu\n",
		    core_resv_status_name((core_resv_status)i), (unsigned long long)cs->reservations[i]);
	gauge(t, "allot_units_reserved", "Units held by live holds, all records.", (double)cs->units_reserved);
	gauge(t, "allot_units_committed", "Units committed and not yet fulfilled, all records.",
	    (double)cs->units_committed);
	gauge(t, "allot_records_oversold",
	    "Records whose reserved + committed exceed on_hand, as of the last background walk.",
	    (double)s->ops->published.records_oversold);
	counter(t, "allot_expired_total", "Holds expired since the state began.", cs->expired_total);
	gauge(t, "allot_expiry_backlog", "Holds past their deadline not yet swept.",
	    (double)core_expiry_backlog(s->d->core));
	gauge(t, "allot_skus", "Skus known.", (double)cs->skus);
	gauge(t, "allot_locations", "Locations known.", (double)cs->locations);
	gauge(t, "allot_records", "Sku-location records.", (double)cs->records);
	gauge(t, "allot_idempotency_keys", "Idempotency keys remembered.", (double)cs->idempotency_keys);
}

static void write_server(metrics_text *t, const http_view_source *s, const proto_server_stats *ss)
{
	gauge(t, "allot_uptime_seconds", "Time since allotd started serving.", (double)ss->uptime_ms / 1e3);
	gauge(t, "allot_connections", "RPC connections open.", (double)ss->connections_current);
	counter(t, "allot_connections_accepted_total", "RPC connections accepted.", ss->connections_total);
	counter(t, "allot_connections_rejected_total", "RPC connections refused: too many at once.",
	    ss->connections_rejected);
	counter(t, "allot_connections_idle_closed_total", "RPC connections closed for idleness.",
	    ss->connections_idle_closed);
	counter(t, "allot_connections_frame_timeouts_total",
	    "RPC connections closed for a request unfinished in time.", ss->connections_frame_timeouts);
	counter(t, "allot_connections_budget_stops_total",
	    "Times a connection stopped at its frame budget with requests still buffered.",
	    ss->connections_budget_stops);
	gauge(t, "allot_subscribers", "Clients subscribed to events.", (double)s->m->subscribers);
	gauge(t, "allot_memory_allocated_bytes", "Bytes allocated (jemalloc stats.allocated).",
	    (double)ss->memory_allocated);
	gauge(t, "allot_memory_resident_bytes", "Bytes resident (jemalloc stats.resident).",
	    (double)ss->memory_resident);
	metrics_family(t, "allot_loop_busy_seconds", "histogram",
	    "Loop turns by the time they worked (wall time less time asleep in poll).");
	metrics_write_hist(t, "allot_loop_busy_seconds", "", &s->m->loop_busy, 1e6, 1e9);
	gauge(t, "allot_loop_busy_max_seconds", "The longest loop turn.", (double)ss->loop_busy_max_us / 1e6);
	counter(t, "allot_auth_failures_total", "RPC auth calls with a wrong token.",
	    ss->access.auth_failures);
	counter(t, "allot_http_auth_failures_total", "HTTP requests without a valid token.",
	    s->counts->auth_failures);
	static const char *const paths[HTTP_PATHS] = { "/", "/metrics", "/healthz", "/api/summary", "other" };
	metrics_family(t, "allot_http_requests_total", "counter", "HTTP requests, by route and status.");
	for (uint32_t p = 0; p < HTTP_PATHS; p++)
		for (uint32_t i = 0; i < HTTP_STATUSES; i++)
			if (s->counts->by_path_status[p][i])
				metrics_text_printf(t, "allot_http_requests_total{path=\"%s\",code=\"%d\"} %llu\n",
				    paths[p], statuses[i] ? statuses[i] : 0,
				    (unsigned long long)s->counts->by_path_status[p][i]);
}

static void write_durability(metrics_text *t, const http_view_source *s)
{
	if (s->d->persist == NULL) {
		gauge(t, "allot_durability_available", "1 while changes can be made durable (or durability none).", 1);
		return;
	}
	persist_view v;
	persist_view_get(s->d->persist, &v);
	gauge(t, "allot_durability_available", "1 while changes can be made durable (or durability none).",
	    v.unavailable == NULL);
	gauge(t, "allot_redis_connected", "1 while the link to Redis is up.", v.connected);
	gauge(t, "allot_journal_lsn", "The last journal record given out.", (double)v.lsn);
	gauge(t, "allot_journal_acked_lsn", "The last journal record Redis acknowledged.", (double)v.acked_lsn);
	gauge(t, "allot_journal_lag_records", "Journal records not yet acknowledged by Redis.",
	    (double)(v.lsn - v.acked_lsn));
	gauge(t, "allot_journal_lag_bytes", "Journal bytes not yet acknowledged by Redis.",
	    (double)v.pending_bytes);
	counter(t, "allot_journal_batches_total", "Journal batches sealed (one per loop turn that changed something).",
	    v.batches);
	counter(t, "allot_journal_records_total", "Journal records sealed.", v.records);
	counter(t, "allot_journal_bytes_total", "Journal bytes sealed.", v.bytes);
	metrics_family(t, "allot_journal_batch_records", "histogram", "Records per journal batch (group commit).");
	metrics_write_hist(t, "allot_journal_batch_records", "", v.batch_records, 1, 1);
	if (v.snapshot_at_ms)
		gauge(t, "allot_snapshot_age_seconds", "Age of the current snapshot.",
		    (double)(clock_now_ms() - v.snapshot_at_ms) / 1e3);
	gauge(t, "allot_snapshot_duration_seconds", "How long the last snapshot taken took.",
	    (double)v.snapshot_duration_ms / 1e3);
	gauge(t, "allot_snapshot_bytes", "Size of the last snapshot taken.", (double)v.snapshot_bytes);
	gauge(t, "allot_snapshot_running", "1 while a snapshot is being taken.", v.snapshot_running);
	gauge(t, "allot_history_records", "Journal records kept in Redis as history (--journal-keep-ms).",
	    (double)v.history_records);
	gauge(t, "allot_history_bytes", "Journal bytes kept in Redis as history.", (double)v.history_bytes);
	if (v.history_oldest_at_ms)
		gauge(t, "allot_history_oldest_seconds", "Age of the oldest time the history can replay from.",
		    (double)(clock_now_ms() - v.history_oldest_at_ms) / 1e3);
	metrics_family(t, "allot_snapshots_total", "counter", "Snapshots finished, by result.");
	metrics_text_printf(t, "allot_snapshots_total{result=\"taken\"} %llu\n",
	    (unsigned long long)v.snapshots_taken);
	metrics_text_printf(t, "allot_snapshots_total{result=\"failed\"} %llu\n",
	    (unsigned long long)v.snapshots_failed);
}

/* The figures `stats` reports, gathered the way it gathers them. */
static void gather(const http_view_source *s, core_stats *cs, proto_server_stats *ss)
{
	const dispatch *d = s->d;
	core_stats_get(d->core, cs);
	*ss = (proto_server_stats){
		.version = ALLOT_VERSION,
		.uptime_ms = clock_now_ms() - d->started_at_ms,
		.requests_total = d->requests_total,
		.errors_total = d->errors_total,
		.requests_by_cmd = d->requests_by_cmd,
		.access = { .auth_failures = d->auth_failures },
	};
	if (d->server_stats)
		d->server_stats(d->server_stats_ud, ss);
}

void http_view_metrics(metrics_text *t, const http_view_source *s)
{
	core_stats cs;
	proto_server_stats ss;
	gather(s, &cs, &ss);
	metrics_family(t, "allot_build_info", "gauge", "allotd's version.");
	metrics_text_printf(t, "allot_build_info{version=\"%s\"} 1\n", ALLOT_VERSION);
	write_requests(t, s);
	write_state(t, s, &cs);
	write_server(t, s, &ss);
	write_durability(t, s);
}

/* ---- /healthz --------------------------------------------------------------------- */

int http_view_health(metrics_text *t, const http_view_source *s)
{
	if (s->d->persist == NULL) {
		metrics_text_printf(t, "ok: serving; durability none\n");
		return 200;
	}
	persist_view v;
	persist_view_get(s->d->persist, &v);
	if (v.unavailable) {
		metrics_text_printf(t, "unavailable: changes are refused: %s\n", v.unavailable);
		return 503;
	}
	metrics_text_printf(t, "ok: serving; durability %s, journal acknowledged to lsn %llu\n",
	    persist_mode_name(v.mode), (unsigned long long)v.acked_lsn);
	return 200;
}
