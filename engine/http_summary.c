/*
 * http_summary.c - GET /api/summary: the operations page's figures as one
 * JSON object. The counts are those `stats` reports (same sources); the
 * sku lists and the history come from the ops view, built off the
 * request path, so answering costs a copy of bounded lists.
 */
#include "http_view.h"

#include "clock.h"

#include <allot/protocol.h>
#include <assert.h>

#define U(v) ((unsigned long long)(v))

static void json_str(metrics_text *t, const char *s, size_t len)
{
	metrics_text_put(t, "\"", 1);
	metrics_text_json(t, s, len);
	metrics_text_put(t, "\"", 1);
}

static void write_list(metrics_text *t, const char *name, const ops_list *l)
{
	metrics_text_printf(t, ",\"%s_total\":%llu,\"%s\":[", name, U(l->total), name);
	for (uint32_t i = 0; i < l->n; i++) {
		const ops_sku *k = &l->skus[i];
		metrics_text_printf(t, "%s{\"sku\":", i ? "," : "");
		json_str(t, k->name, k->name_len);
		metrics_text_printf(t,
		    ",\"on_hand\":%lld,\"available\":%lld,\"reserved\":%lld,\"committed\":%lld,"
		    "\"low_stock\":%lld}",
		    (long long)k->on_hand, (long long)k->available, (long long)k->reserved,
		    (long long)k->committed, (long long)k->low_stock);
	}
	metrics_text_put(t, "]", 1);
}

static void write_counts(metrics_text *t, const http_view_source *s)
{
	const dispatch *d = s->d;
	core_stats cs;
	core_stats_get(d->core, &cs);
	proto_server_stats ss = { .requests_by_cmd = d->requests_by_cmd };
	if (d->server_stats)
		d->server_stats(d->server_stats_ud, &ss);
	metrics_text_printf(t, "\"version\":\"%s\",\"now_ms\":%lld,\"uptime_ms\":%lld", ALLOT_VERSION,
	    (long long)clock_now_ms(), (long long)(clock_now_ms() - d->started_at_ms));
	metrics_text_printf(t, ",\"requests\":{\"total\":%llu,\"errors\":%llu,\"by_method\":{",
	    U(d->requests_total), U(d->errors_total));
	bool first = true;
	for (uint32_t c = 0; c < CMD_COUNT; c++)
		if (d->requests_by_cmd[c]) {
			metrics_text_printf(t, "%s\"%s\":%llu", first ? "" : ",", cmd_table[c].name,
			    U(d->requests_by_cmd[c]));
			first = false;
		}
	metrics_text_put(t, "}},\"reservations\":{", 19);
	for (int i = 0; i < 5; i++)
		metrics_text_printf(t, "%s\"%s\":%llu", i ? "," : "", core_resv_status_name((core_resv_status)i),
		    U(cs.reservations[i]));
	metrics_text_printf(t,
	    "},\"units_reserved\":%llu,\"units_committed\":%llu,\"expired_total\":%llu,\"skus\":%llu,"
	    "\"locations\":%llu,\"records\":%llu,\"connections\":%llu,\"subscribers\":%llu,"
	    "\"memory\":{\"allocated\":%llu,\"resident\":%llu},\"loop_busy_max_us\":%llu",
	    U(cs.units_reserved), U(cs.units_committed), U(cs.expired_total), U(cs.skus),
	    U(cs.locations), U(cs.records), U(ss.connections_current), U(s->m->subscribers),
	    U(ss.memory_allocated), U(ss.memory_resident), U(ss.loop_busy_max_us));
}

static void write_durability(metrics_text *t, const http_view_source *s)
{
	if (s->d->persist == NULL) {
		metrics_text_printf(t, ",\"durability\":{\"mode\":\"none\",\"available\":true}");
		return;
	}
	persist_view v;
	persist_view_get(s->d->persist, &v);
	metrics_text_printf(t, ",\"durability\":{\"mode\":\"%s\",\"available\":%s,\"reason\":",
	    persist_mode_name(v.mode), v.unavailable ? "false" : "true");
	if (v.unavailable)
		json_str(t, v.unavailable, strlen(v.unavailable));
	else
		metrics_text_put(t, "null", 4);
	metrics_text_printf(t,
	    ",\"connected\":%s,\"lsn\":%llu,\"acked_lsn\":%llu,\"lag_records\":%llu,\"lag_bytes\":%llu,"
	    "\"snapshot_lsn\":%llu,\"snapshot_age_ms\":%lld,\"snapshot_duration_ms\":%llu,"
	    "\"snapshot_running\":%s,\"snapshots_taken\":%llu,\"snapshots_failed\":%llu}",
	    v.connected ? "true" : "false", U(v.lsn), U(v.acked_lsn), U(v.lsn - v.acked_lsn),
	    U(v.pending_bytes), U(v.snapshot_lsn),
	    (long long)(v.snapshot_at_ms ? clock_now_ms() - v.snapshot_at_ms : -1),
	    U(v.snapshot_duration_ms), v.snapshot_running ? "true" : "false", U(v.snapshots_taken),
	    U(v.snapshots_failed));
}

static void write_history(metrics_text *t, const ops *o)
{
	metrics_text_put(t, ",\"history\":[", 12);
	for (uint32_t i = 0; i < o->history_count; i++) {
		const ops_sample *p = ops_sample_at(o, i);
		metrics_text_printf(t, "%s[%lld,%.1f,%.1f,%llu,%llu]", i ? "," : "", (long long)p->at_ms,
		    p->requests_per_s, p->errors_per_s, U(p->p50_us), U(p->p99_us));
	}
	metrics_text_put(t, "]", 1);
}

void http_view_summary(metrics_text *t, const http_view_source *s)
{
	const ops_walk *w = &s->ops->published;
	metrics_text_put(t, "{", 1);
	write_counts(t, s);
	write_durability(t, s);
	write_history(t, s->ops);
	metrics_text_printf(t,
	    ",\"walk\":{\"done_at_ms\":%lld,\"duration_us\":%llu,\"skus\":%llu,\"records_oversold\":%llu}",
	    (long long)w->done_at_ms, U(w->duration_us), U(w->skus), U(w->records_oversold));
	write_list(t, "hottest", &w->hottest);
	write_list(t, "low", &w->low);
	write_list(t, "out", &w->out);
	metrics_text_put(t, "}\n", 2);
}
