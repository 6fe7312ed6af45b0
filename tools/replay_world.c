/*
 * replay_world.c - one world of `allot replay` (see replay.h): the
 * recorded one applies every record as it was; the what-if one re-plans
 * each reserve inside [T1, T2] with the overrides, follows the recorded
 * commits, releases, fulfils and extends of the reservations it holds too
 * (by the id it gave them), and applies every other change as recorded.
 */
#include "replay.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "history.h"
#include "history_util.h"

/* Reservations a what-if world maps from recorded ids at most. */
#define REPLAY_MAPPED_MAX (1u << 28)

struct replay_world {
	core *c;
	bool recorded;
	replay_overrides ov;
	replay_stats st;
	/* What-if: the id each recorded reservation made inside [T1, T2] got
	 * here (0: refused), indexed by its sequence number less map_base. */
	uint64_t *map;
	uint64_t map_base;
	uint32_t map_len, map_cap;
	uint64_t last_made;        /* the id the last reserve applied made (0: none) */
};

replay_world *replay_world_create(core *c, bool recorded, const replay_overrides *ov)
{
	replay_world *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return NULL;
	w->c = c;
	w->recorded = recorded;
	if (ov)
		w->ov = *ov;
	return w;
}

void replay_world_destroy(replay_world *w)
{
	if (w == NULL)
		return;
	core_destroy(w->c);
	free(w->map);
	free(w);
}

const replay_stats *replay_world_stats(const replay_world *w)
{
	return &w->st;
}

core *replay_world_core(replay_world *w)
{
	return w->c;
}

static uint64_t id_value(const char *id)
{
	return strtoull(id + 2, NULL, 16); /* "r-" + 16 hex digits */
}

/* Units at a location, by name. */
static void add_units(replay_stats *st, core_str loc, int64_t qty)
{
	for (uint32_t i = 0; i < st->nlocations; i++)
		if (strlen(st->locations[i]) == loc.len && memcmp(st->locations[i], loc.p, loc.len) == 0) {
			st->units[i] += (uint64_t)qty;
			return;
		}
	if (st->nlocations == REPLAY_LOCATIONS_MAX) {
		st->other_units += (uint64_t)qty;
		return;
	}
	snprintf(st->locations[st->nlocations], CORE_NAME_MAX + 1, "%.*s", (int)loc.len, loc.p);
	st->units[st->nlocations++] = (uint64_t)qty;
}

static double km_between(double lat1, double lon1, double lat2, double lon2)
{
	const double rad = M_PI / 180.0;
	double dlat = (lat2 - lat1) * rad, dlon = (lon2 - lon1) * rad;
	double a = sin(dlat / 2) * sin(dlat / 2) +
	    cos(lat1 * rad) * cos(lat2 * rad) * sin(dlon / 2) * sin(dlon / 2);
	return 2 * CORE_EARTH_RADIUS_KM * asin(fmin(1.0, sqrt(a)));
}

/* Distance and cost of a shipment from loc to the order's ship_to. */
static void add_shipment(replay_world *w, core_str loc, const core_reserve_cmd *r)
{
	uint32_t n = core_location_count(w->c);
	for (uint32_t i = 0; i < n; i++) {
		core_location_view v;
		core_location_at(w->c, i, &v);
		if (v.name.len != loc.len || memcmp(v.name.p, loc.p, loc.len) != 0)
			continue;
		if (v.has_coords && r->has_ship_to) {
			double km = km_between(v.lat, v.lon, r->ship_lat, r->ship_lon);
			w->st.km += km;
			w->st.cost += v.cost + km * v.cost_per_km;
		}
		return;
	}
}

/* Count a reservation just made for order r. */
static void count_held(replay_world *w, const core_resv *resv, const core_reserve_cmd *r)
{
	core_resv_view v;
	core_resv_view_get(w->c, resv, &v);
	core_str used[REPLAY_SHIPMENTS_HIST * 4];
	uint32_t nused = 0, shipments = 0;
	int64_t units = 0;
	for (uint32_t i = 0; i < v.nlines; i++) {
		core_line_view l;
		core_resv_line_get(w->c, resv, i, &l);
		w->st.short_units += (uint64_t)l.short_qty;
		w->st.backordered_units += (uint64_t)l.backordered;
		for (uint32_t j = 0; j < l.nallocs; j++) {
			core_alloc_view a;
			core_resv_alloc_get(w->c, resv, i, j, &a);
			if (a.qty <= 0)
				continue;
			units += a.qty;
			add_units(&w->st, a.location, a.qty);
			bool seen = false;
			for (uint32_t k = 0; k < nused && !seen; k++)
				seen = used[k].len == a.location.len &&
				    memcmp(used[k].p, a.location.p, a.location.len) == 0;
			if (seen)
				continue;
			shipments++;
			add_shipment(w, a.location, r);
			if (nused < sizeof(used) / sizeof(*used))
				used[nused++] = a.location;
		}
	}
	if (units == 0)
		return;
	assert(shipments >= 1);
	w->st.held++;
	w->st.shipments += shipments;
	w->st.split_orders += shipments > 1;
	w->st.by_shipments[shipments < REPLAY_SHIPMENTS_HIST ? shipments : REPLAY_SHIPMENTS_HIST]++;
}

/* Remember that the recorded reservation rec_id is what_id here (0:
 * refused). */
static void map_put(replay_world *w, uint64_t rec_id, uint64_t what_id)
{
	if (w->map_len == 0)
		w->map_base = rec_id;
	if (rec_id < w->map_base || rec_id - w->map_base >= REPLAY_MAPPED_MAX)
		return;
	uint32_t at = (uint32_t)(rec_id - w->map_base);
	assert(!w->recorded);
	if (at >= w->map_cap) {
		uint32_t cap = w->map_cap ? w->map_cap : 1024;
		while (cap <= at)
			cap *= 2;
		uint64_t *grown = realloc(w->map, sizeof(*grown) * cap);
		if (grown == NULL)
			return;
		memset(grown + w->map_cap, 0xff, sizeof(*grown) * (cap - w->map_cap));
		w->map = grown;
		w->map_cap = cap;
	}
	w->map[at] = what_id;
	if (at >= w->map_len)
		w->map_len = at + 1;
}

/* The id here of a recorded reservation: itself when made before T1,
 * 0 when refused here. */
static uint64_t map_get(const replay_world *w, uint64_t rec_id)
{
	if (w->map_len == 0 || rec_id < w->map_base || rec_id - w->map_base >= w->map_len)
		return rec_id;
	uint64_t v = w->map[rec_id - w->map_base];
	return v == UINT64_MAX ? rec_id : v;
}

uint64_t replay_world_last_made(const replay_world *w)
{
	return w->last_made;
}

/* A reserve: as recorded, or re-planned with the overrides. */
static int apply_reserve(replay_world *w, const journal_entry *e, bool counting,
    uint64_t recorded_id, char *why, size_t why_len)
{
	assert(e->kind == JOURNAL_KIND_RESERVE && e->cmd.type == CORE_CMD_RESERVE);
	core_cmd cmd = e->cmd;
	core_reserve_cmd *r = &cmd.u.reserve;
	bool what_if = !w->recorded && counting;
	if (what_if && w->ov.has_strategy)
		r->strategy = w->ov.strategy;
	if (what_if && w->ov.has_split)
		r->split = w->ov.split;
	if (what_if && w->ov.has_max_shipments)
		r->max_shipments = w->ov.max_shipments;
	core_result res;
	core_error err;
	w->last_made = 0;
	int rc = core_exec(w->c, &cmd, e->now_ms, &res, &err);
	if (counting)
		w->st.orders++;
	if (rc != 0) {
		if (w->recorded) {
			snprintf(why, why_len, "a recorded reserve does not apply: %s", err.message);
			return -1;
		}
		if (counting && rc == CORE_E_OUT_OF_STOCK)
			w->st.out_of_stock++;
		else if (counting)
			w->st.refused_other++;
		if (what_if)
			map_put(w, recorded_id, 0);
		return 0;
	}
	core_resv_view v;
	core_resv_view_get(w->c, res.resv, &v);
	w->last_made = id_value(v.id);
	if (what_if)
		map_put(w, recorded_id, w->last_made);
	if (counting)
		count_held(w, res.resv, r);
	return 0;
}

/* commit, release, fulfill, extend of the reservation the what-if world
 * gave the recorded one's place; skipped when it refused that order. */
static void apply_resv_cmd(replay_world *w, const journal_entry *e)
{
	core_cmd cmd = e->cmd;
	char rec[CORE_RESERVATION_ID_LEN + 1], id[CORE_RESERVATION_ID_LEN + 1];
	snprintf(rec, sizeof(rec), "%.*s", (int)cmd.u.resv.reservation_id.len,
	    cmd.u.resv.reservation_id.p);
	uint64_t here = map_get(w, id_value(rec));
	if (here == 0) {
		w->st.skipped++;
		return;
	}
	snprintf(id, sizeof(id), "r-%016" PRIx64, here);
	cmd.u.resv.reservation_id = hu_str(id);
	core_result res;
	core_error err;
	if (core_exec(w->c, &cmd, e->now_ms, &res, &err) != 0)
		w->st.skipped++;
}

int replay_world_apply(replay_world *w, uint64_t lsn, const journal_entry *e, bool counting,
    uint64_t recorded_id, char *why, size_t why_len)
{
	if (e->kind == JOURNAL_KIND_RESERVE)
		return apply_reserve(w, e, counting, recorded_id, why, why_len);
	if (!w->recorded && w->map_len > 0 && e->kind >= JOURNAL_KIND_COMMIT &&
	    e->kind <= JOURNAL_KIND_EXTEND) {
		apply_resv_cmd(w, e);
		return 0;
	}
	journal_entry copy = *e;
	if (!w->recorded && e->kind == JOURNAL_KIND_STOCK_SET)
		copy.cmd.u.stock.if_version = -1; /* reality wins in either world */
	core_result res;
	core_error err;
	if (history_apply(w->c, &copy, &res, &err) == 0)
		return 0;
	if (w->recorded) {
		snprintf(why, why_len, "record %" PRIu64 " does not apply: %s", lsn, err.message);
		return -1;
	}
	w->st.skipped++; /* e.g. an adjust below what this world has left */
	return 0;
}

/* One location.put of --locations. */
static int put_location(replay_world *w, json_t *o, int64_t now_ms, char *why, size_t why_len)
{
	core_cmd cmd = { .type = CORE_CMD_LOCATION_PUT };
	core_location_cmd *l = &cmd.u.location;
	l->capacity = -1;
	l->enabled = -1;
	json_t *v;
	l->location = hu_str(json_string_value(json_object_get(o, "location")));
	if ((v = json_object_get(o, "lat")) && json_is_number(v) && json_object_get(o, "lon")) {
		l->has_coords = true;
		l->lat = json_number_value(v);
		l->lon = json_number_value(json_object_get(o, "lon"));
	}
	if ((v = json_object_get(o, "priority")) && json_is_integer(v))
		l->has_priority = true, l->priority = json_integer_value(v);
	if ((v = json_object_get(o, "cost")) && json_is_number(v))
		l->has_cost = true, l->cost = json_number_value(v);
	if ((v = json_object_get(o, "cost_per_km")) && json_is_number(v))
		l->has_cost_per_km = true, l->cost_per_km = json_number_value(v);
	if ((v = json_object_get(o, "capacity")) && json_is_integer(v))
		l->capacity = json_integer_value(v);
	if ((v = json_object_get(o, "enabled")) && json_is_boolean(v))
		l->enabled = json_is_true(v);
	core_result res;
	core_error err;
	if (l->location.p == NULL || core_exec(w->c, &cmd, now_ms, &res, &err) != 0) {
		snprintf(why, why_len, "--locations: %s: %s", json_dumps(o, JSON_COMPACT),
		    l->location.p ? err.message : "no \"location\"");
		return -1;
	}
	return 0;
}

int replay_world_locations(replay_world *w, int64_t now_ms, char *why, size_t why_len)
{
	size_t i;
	json_t *o;
	json_array_foreach(w->ov.locations, i, o)
		if (put_location(w, o, now_ms, why, why_len) != 0)
			return -1;
	return 0;
}
