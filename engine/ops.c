/*
 * ops.c - the operations page's background view (see ops.h).
 */
#include "ops.h"

#include "clock.h"

#include <assert.h>
#include <string.h>

void ops_latency_all(const metrics *m, metrics_hist *out)
{
	memset(out, 0, sizeof(*out));
	for (uint32_t c = 0; c <= CMD_COUNT; c++) {
		for (uint32_t k = 0; k < METRICS_BUCKETS; k++)
			out->counts[k] += m->latency[c].counts[k];
		out->sum += m->latency[c].sum;
	}
}

/* ---- lists -------------------------------------------------------------------- */

/*
 * Keep the OPS_LIST_MAX skus that rank highest by key in l, ordered best
 * first: a sku below the last of a full list is counted and dropped; one
 * above takes its place by insertion.
 */
static void list_offer(ops_list *l, const core_sku_total *t, int64_t (*key)(const ops_sku *))
{
	ops_sku s = { .name_len = (uint8_t)t->sku.len, .on_hand = t->on_hand, .reserved = t->reserved,
		.committed = t->committed, .available = t->available, .low_stock = t->low_stock };
	assert(t->sku.len <= CORE_NAME_MAX);
	memcpy(s.name, t->sku.p, t->sku.len);
	s.name[t->sku.len] = '\0';
	l->total++;
	int64_t k = key(&s);
	if (l->n == OPS_LIST_MAX && k <= key(&l->skus[l->n - 1]))
		return;
	uint32_t i = l->n < OPS_LIST_MAX ? l->n++ : l->n - 1;
	while (i > 0 && key(&l->skus[i - 1]) < k) {
		l->skus[i] = l->skus[i - 1];
		i--;
	}
	l->skus[i] = s;
}

static int64_t key_held(const ops_sku *s)
{
	return s->reserved + s->committed;
}

/* Lowest available first. */
static int64_t key_scarce(const ops_sku *s)
{
	return -s->available;
}

static void on_sku(void *ctx, const core_sku_total *t)
{
	ops_walk *w = ctx;
	w->skus++;
	w->records_oversold += t->oversold_records;
	if (t->reserved + t->committed > 0)
		list_offer(&w->hottest, t, key_held);
	if (t->records == 0)
		return;
	if (t->available == 0)
		list_offer(&w->out, t, key_held);
	else if (t->low_stock > 0 && t->available <= t->low_stock)
		list_offer(&w->low, t, key_scarce);
}

/* ---- the timer ------------------------------------------------------------------ */

static void walk_slice(ops *o, int64_t now_ms)
{
	if (!o->walking) {
		if (o->published.done_at_ms && now_ms - o->walk_began_ms < OPS_WALK_MS)
			return;
		memset(&o->building, 0, sizeof(o->building));
		o->walking = true;
		o->cursor = 0;
		o->walk_began_ms = now_ms;
		o->walk_began_ns = uv_hrtime();
	}
	core_sku_scan(o->d->core, &o->cursor, OPS_SCAN_SLOTS, on_sku, &o->building);
	if (o->cursor != 0)
		return;
	o->walking = false;
	o->building.done_at_ms = now_ms;
	o->building.duration_us = (uv_hrtime() - o->walk_began_ns) / 1000;
	o->published = o->building;
}

static void sample(ops *o, int64_t now_ms)
{
	metrics_hist all;
	ops_latency_all(o->m, &all);
	if (o->sampled_at_ms) {
		double s = (double)(now_ms - o->sampled_at_ms) / 1000.0;
		uint32_t at = (o->history_head + o->history_count) % OPS_HISTORY;
		if (o->history_count == OPS_HISTORY)
			o->history_head = (o->history_head + 1) % OPS_HISTORY;
		else
			o->history_count++;
		o->history[at] = (ops_sample){
			.at_ms = now_ms,
			.requests_per_s = (double)(o->d->requests_total - o->sampled_requests) / s,
			.errors_per_s = (double)(o->d->errors_total - o->sampled_errors) / s,
			.p50_us = metrics_hist_quantile(&all, &o->sampled_latency, 0.5),
			.p99_us = metrics_hist_quantile(&all, &o->sampled_latency, 0.99),
		};
	}
	o->sampled_at_ms = now_ms;
	o->sampled_requests = o->d->requests_total;
	o->sampled_errors = o->d->errors_total;
	o->sampled_latency = all;
}

static void on_tick(uv_timer_t *t)
{
	ops *o = t->data;
	int64_t now_ms = clock_now_ms();
	walk_slice(o, now_ms);
	if (now_ms - o->sampled_at_ms >= OPS_SAMPLE_MS)
		sample(o, now_ms);
}

void ops_start(ops *o, uv_loop_t *loop, const dispatch *d, const metrics *m)
{
	memset(o, 0, sizeof(*o));
	o->d = d;
	o->m = m;
	uv_timer_init(loop, &o->timer);
	o->timer.data = o;
	uv_timer_start(&o->timer, on_tick, 0, OPS_TICK_MS);
	uv_unref((uv_handle_t *)&o->timer);
}

void ops_stop(ops *o)
{
	if (!uv_is_closing((uv_handle_t *)&o->timer))
		uv_close((uv_handle_t *)&o->timer, NULL);
}

const ops_sample *ops_sample_at(const ops *o, uint32_t i)
{
	assert(i < o->history_count);
	return &o->history[(o->history_head + i) % OPS_HISTORY];
}
