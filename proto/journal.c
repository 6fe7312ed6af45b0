/*
 * journal.c - journal records (see journal.h).
 */
#include "journal.h"

#include <stdbool.h>

/* ---- encoding -------------------------------------------------------------- */

static void put_str(mp_buf *out, core_str s)
{
	if (s.p == NULL)
		mp_write_nil(out);
	else
		mp_write_str(out, s.p, s.len);
}

/* Lines as [sku, qty, ...], or nil for "the whole reservation". */
static void put_lines(mp_buf *out, const core_line_req *lines, uint32_t n)
{
	if (lines == NULL) {
		mp_write_nil(out);
		return;
	}
	mp_write_array(out, 2 * n);
	for (uint32_t i = 0; i < n; i++) {
		put_str(out, lines[i].sku);
		mp_write_int(out, lines[i].qty);
	}
}

/* A number given, or nil. */
static void put_opt_double(mp_buf *out, bool given, double v)
{
	if (given)
		mp_write_double(out, v);
	else
		mp_write_nil(out);
}

static void put_location(mp_buf *out, const core_location_cmd *l)
{
	put_str(out, l->location);
	put_opt_double(out, l->has_coords, l->lat);
	put_opt_double(out, l->has_coords, l->lon);
	if (l->has_priority)
		mp_write_int(out, l->priority);
	else
		mp_write_nil(out);
	put_opt_double(out, l->has_cost, l->cost);
	put_opt_double(out, l->has_cost_per_km, l->cost_per_km);
	if (l->capacity >= 0)
		mp_write_int(out, l->capacity);
	else
		mp_write_nil(out);
	if (l->enabled >= 0)
		mp_write_bool(out, l->enabled == 1);
	else
		mp_write_nil(out);
	if (!l->has_tags) {
		mp_write_nil(out);
		return;
	}
	mp_write_array(out, l->ntags);
	for (uint32_t i = 0; i < l->ntags; i++)
		put_str(out, l->tags[i]);
}

/* A count given (>= 0), or nil. */
static void put_opt_count(mp_buf *out, int64_t v)
{
	if (v >= 0)
		mp_write_int(out, v);
	else
		mp_write_nil(out);
}

static void put_channel(mp_buf *out, const core_channel_cmd *ch)
{
	put_str(out, ch->channel);
	if (ch->has_locations) {
		mp_write_array(out, ch->nlocations);
		for (uint32_t i = 0; i < ch->nlocations; i++)
			put_str(out, ch->locations[i]);
	} else {
		mp_write_nil(out);
	}
	put_opt_count(out, ch->buffer);
	mp_write_bool(out, ch->all_locations);
}

static void put_reserve(mp_buf *out, const core_reserve_cmd *r)
{
	put_str(out, r->order_id);
	put_lines(out, r->lines, r->nlines);
	put_str(out, r->channel);
	put_str(out, r->customer_id);
	mp_write_int(out, r->ttl_ms);
	mp_write_uint(out, (uint64_t)r->strategy);
	mp_write_uint(out, (uint64_t)r->split);
	mp_write_uint(out, r->max_shipments);
	mp_write_bool(out, r->allow_partial);
	put_str(out, r->idempotency_key);
	put_opt_double(out, r->has_ship_to, r->ship_lat);
	put_opt_double(out, r->has_ship_to, r->ship_lon);
	mp_write_bool(out, r->allow_backorder);
}

/* A reserve record's fields; records written before ship_to and
 * allow_backorder have the first RESERVE_FIELDS_V1. */
#define RESERVE_FIELDS 13
#define RESERVE_FIELDS_V1 10

/* Fields after [type, now_ms] for each command type. */
static uint32_t fields_of(int type)
{
	switch (type) {
	case CORE_CMD_STOCK_SET: return 5;
	case CORE_CMD_STOCK_ADJUST: return 5;
	case CORE_CMD_RESTOCK: return 4;
	case CORE_CMD_RESERVE: return RESERVE_FIELDS;
	case CORE_CMD_COMMIT: return 1;
	case CORE_CMD_RELEASE: return 2;
	case CORE_CMD_FULFILL: return 2;
	case CORE_CMD_EXTEND: return 2;
	case CORE_CMD_LOCATION_PUT: return 9;
	case CORE_CMD_CHANNEL_PUT: return 4;
	case CORE_CMD_SKU_PUT: return 4;
	case CORE_CMD_INBOUND_ADD: return 5;
	case JOURNAL_SWEEP: return 2;
	}
	return 0;
}

void journal_encode_cmd(mp_buf *out, const core_cmd *cmd, int64_t now_ms)
{
	const core_stock_cmd *s = &cmd->u.stock;
	const core_resv_cmd *r = &cmd->u.resv;
	mp_write_array(out, 2 + fields_of(cmd->type));
	mp_write_uint(out, (uint64_t)cmd->type);
	mp_write_int(out, now_ms);
	switch (cmd->type) {
	case CORE_CMD_STOCK_SET:
		put_str(out, s->sku);
		put_str(out, s->location);
		mp_write_int(out, s->on_hand);
		mp_write_int(out, s->safety);
		mp_write_int(out, s->if_version);
		break;
	case CORE_CMD_STOCK_ADJUST:
	case CORE_CMD_RESTOCK:
		put_str(out, s->sku);
		put_str(out, s->location);
		mp_write_int(out, s->delta);
		put_str(out, s->reason);
		if (cmd->type == CORE_CMD_STOCK_ADJUST)
			put_str(out, s->idempotency_key);
		break;
	case CORE_CMD_RESERVE:
		put_reserve(out, &cmd->u.reserve);
		break;
	case CORE_CMD_COMMIT:
		put_str(out, r->reservation_id);
		break;
	case CORE_CMD_RELEASE:
	case CORE_CMD_FULFILL:
		put_str(out, r->reservation_id);
		put_lines(out, r->lines, r->nlines);
		break;
	case CORE_CMD_EXTEND:
		put_str(out, r->reservation_id);
		mp_write_int(out, r->ttl_ms);
		break;
	case CORE_CMD_LOCATION_PUT:
		put_location(out, &cmd->u.location);
		break;
	case CORE_CMD_CHANNEL_PUT:
		put_channel(out, &cmd->u.channel);
		break;
	case CORE_CMD_INBOUND_ADD:
		put_str(out, cmd->u.inbound.sku);
		put_str(out, cmd->u.inbound.location);
		mp_write_int(out, cmd->u.inbound.qty);
		mp_write_int(out, cmd->u.inbound.eta_ms);
		put_str(out, cmd->u.inbound.ref);
		break;
	case CORE_CMD_SKU_PUT:
		put_str(out, cmd->u.sku.sku);
		put_opt_count(out, cmd->u.sku.per_order);
		put_opt_count(out, cmd->u.sku.per_customer);
		put_opt_count(out, cmd->u.sku.low_stock);
		break;
	}
}

void journal_encode_sweep(mp_buf *out, int64_t now_ms, uint32_t reservations, uint32_t keys)
{
	mp_write_array(out, 4);
	mp_write_uint(out, JOURNAL_SWEEP);
	mp_write_int(out, now_ms);
	mp_write_uint(out, reservations);
	mp_write_uint(out, keys);
}

/* ---- decoding -------------------------------------------------------------- */

typedef struct reader {
	mp_cursor cur;
	core_line_req *lines;
	uint32_t lines_cap;
	core_str *names;
	uint32_t names_cap;
	const char *err;
} reader;

static bool get_str(reader *r, core_str *out)
{
	if (mp_read_nil(&r->cur)) {
		*out = (core_str){ NULL, 0 };
		return true;
	}
	const char *p;
	uint32_t n;
	if (!mp_read_str(&r->cur, &p, &n))
		return r->err = "a string field is not a string", false;
	*out = (core_str){ p, n };
	return true;
}

static bool get_int(reader *r, int64_t *out)
{
	if (!mp_read_int(&r->cur, out))
		return r->err = "an integer field is not an integer", false;
	return true;
}

static bool get_small(reader *r, uint32_t max, uint32_t *out)
{
	int64_t v;
	if (!get_int(r, &v) || v < 0 || v > max)
		return r->err = "a field is out of range", false;
	*out = (uint32_t)v;
	return true;
}

static bool get_lines(reader *r, const core_line_req **lines, uint32_t *n)
{
	if (mp_read_nil(&r->cur)) {
		*lines = NULL;
		*n = 0;
		return true;
	}
	uint32_t items;
	if (!mp_read_array(&r->cur, &items) || items % 2 != 0)
		return r->err = "lines are not [sku, qty, ...]", false;
	if (items / 2 > r->lines_cap)
		return r->err = "more lines than the engine allows", false;
	for (uint32_t i = 0; i < items / 2; i++)
		if (!get_str(r, &r->lines[i].sku) || !get_int(r, &r->lines[i].qty))
			return false;
	*lines = r->lines;
	*n = items / 2;
	return true;
}

/* A number or nil; *given says which. */
static bool get_opt_double(reader *r, bool *given, double *out)
{
	*given = !mp_read_nil(&r->cur);
	if (*given && !mp_read_double(&r->cur, out))
		return r->err = "a number field is not a number", false;
	return true;
}

static bool get_opt_int(reader *r, int64_t absent, int64_t *out)
{
	if (mp_read_nil(&r->cur)) {
		*out = absent;
		return true;
	}
	return get_int(r, out);
}

static bool get_location(reader *r, journal_entry *e)
{
	core_location_cmd *l = &e->cmd.u.location;
	bool has_lon = false, enabled;
	*l = (core_location_cmd){ .capacity = -1, .enabled = -1 };
	if (!get_str(r, &l->location) || !get_opt_double(r, &l->has_coords, &l->lat) ||
	    !get_opt_double(r, &has_lon, &l->lon) || !get_opt_int(r, INT64_MIN, &l->priority) ||
	    !get_opt_double(r, &l->has_cost, &l->cost) ||
	    !get_opt_double(r, &l->has_cost_per_km, &l->cost_per_km) ||
	    !get_opt_int(r, -1, &l->capacity))
		return false;
	if (has_lon != l->has_coords)
		return r->err = "a location record has lat without lon", false;
	l->has_priority = l->priority != INT64_MIN;
	if (!mp_read_nil(&r->cur)) {
		if (!mp_read_bool(&r->cur, &enabled))
			return r->err = "enabled is not a boolean", false;
		l->enabled = enabled;
	}
	if (mp_read_nil(&r->cur))
		return true;
	uint32_t n;
	if (!mp_read_array(&r->cur, &n) || n > CORE_TAGS_MAX)
		return r->err = "tags are not an array of at most 16 strings", false;
	for (uint32_t i = 0; i < n; i++)
		if (!get_str(r, &e->tags[i]) || e->tags[i].p == NULL)
			return r->err = "a tag is not a string", false;
	l->has_tags = true;
	l->ntags = n;
	l->tags = e->tags;
	return true;
}

static bool get_channel(reader *r, core_channel_cmd *ch)
{
	*ch = (core_channel_cmd){ .buffer = -1 };
	if (!get_str(r, &ch->channel))
		return false;
	if (!mp_read_nil(&r->cur)) {
		uint32_t n;
		if (!mp_read_array(&r->cur, &n))
			return r->err = "a channel's locations are not an array", false;
		if (n > r->names_cap)
			return r->err = "a channel has more locations than the engine allows", false;
		for (uint32_t i = 0; i < n; i++)
			if (!get_str(r, &r->names[i]) || r->names[i].p == NULL)
				return r->err = "a channel's location is not a string", false;
		ch->has_locations = true;
		ch->nlocations = n;
		ch->locations = r->names;
	}
	if (!get_opt_int(r, -1, &ch->buffer))
		return false;
	if (!mp_read_bool(&r->cur, &ch->all_locations))
		return r->err = "all_locations is not a boolean", false;
	return true;
}

static bool get_sku_put(reader *r, core_sku_cmd *s)
{
	return get_str(r, &s->sku) && get_opt_int(r, -1, &s->per_order) &&
	    get_opt_int(r, -1, &s->per_customer) && get_opt_int(r, -1, &s->low_stock);
}

static bool get_reserve(reader *r, core_reserve_cmd *c, uint32_t fields)
{
	uint32_t strategy, split;
	bool ok = get_str(r, &c->order_id) && get_lines(r, &c->lines, &c->nlines) &&
	    get_str(r, &c->channel) && get_str(r, &c->customer_id) && get_int(r, &c->ttl_ms) &&
	    get_small(r, CORE_STRATEGY_LAST, &strategy) && get_small(r, CORE_SPLIT_NONE, &split) &&
	    get_small(r, UINT16_MAX, &c->max_shipments);
	if (!ok)
		return false;
	c->strategy = (core_strategy)strategy;
	c->split = (core_split)split;
	if (!mp_read_bool(&r->cur, &c->allow_partial))
		return r->err = "allow_partial is not a boolean", false;
	if (c->lines == NULL)
		return r->err = "a reserve record has no lines", false;
	if (!get_str(r, &c->idempotency_key))
		return false;
	if (fields == RESERVE_FIELDS_V1)
		return true;
	bool has_lon;
	if (!get_opt_double(r, &c->has_ship_to, &c->ship_lat) || !get_opt_double(r, &has_lon, &c->ship_lon))
		return false;
	if (has_lon != c->has_ship_to)
		return r->err = "a reserve record has a ship_to lat without lon", false;
	if (!mp_read_bool(&r->cur, &c->allow_backorder))
		return r->err = "allow_backorder is not a boolean", false;
	return true;
}

static bool get_fields(reader *r, journal_entry *e, uint32_t fields)
{
	core_stock_cmd *s = &e->cmd.u.stock;
	core_resv_cmd *v = &e->cmd.u.resv;
	switch (e->type) {
	case CORE_CMD_STOCK_SET:
		return get_str(r, &s->sku) && get_str(r, &s->location) && get_int(r, &s->on_hand) &&
		    get_int(r, &s->safety) && get_int(r, &s->if_version);
	case CORE_CMD_STOCK_ADJUST:
		s->safety = s->if_version = -1;
		return get_str(r, &s->sku) && get_str(r, &s->location) && get_int(r, &s->delta) &&
		    get_str(r, &s->reason) && get_str(r, &s->idempotency_key);
	case CORE_CMD_RESTOCK:
		s->safety = s->if_version = -1;
		return get_str(r, &s->sku) && get_str(r, &s->location) && get_int(r, &s->delta) &&
		    get_str(r, &s->reason);
	case CORE_CMD_RESERVE:
		return get_reserve(r, &e->cmd.u.reserve, fields);
	case CORE_CMD_LOCATION_PUT:
		return get_location(r, e);
	case CORE_CMD_CHANNEL_PUT:
		return get_channel(r, &e->cmd.u.channel);
	case CORE_CMD_SKU_PUT:
		return get_sku_put(r, &e->cmd.u.sku);
	case CORE_CMD_INBOUND_ADD: {
		core_inbound_cmd *in = &e->cmd.u.inbound;
		return get_str(r, &in->sku) && get_str(r, &in->location) && get_int(r, &in->qty) &&
		    get_int(r, &in->eta_ms) && get_str(r, &in->ref);
	}
	case CORE_CMD_COMMIT:
		return get_str(r, &v->reservation_id);
	case CORE_CMD_RELEASE:
	case CORE_CMD_FULFILL:
		return get_str(r, &v->reservation_id) && get_lines(r, &v->lines, &v->nlines);
	case CORE_CMD_EXTEND:
		return get_str(r, &v->reservation_id) && get_int(r, &v->ttl_ms);
	case JOURNAL_SWEEP:
		return get_small(r, UINT32_MAX, &e->forgot_reservations) &&
		    get_small(r, UINT32_MAX, &e->forgot_keys);
	}
	return r->err = "unknown record type", false;
}

int journal_decode(const uint8_t *buf, size_t len, journal_entry *e,
    const journal_scratch *scratch, const char **err)
{
	reader r = { .lines = scratch->lines, .lines_cap = scratch->lines_cap, .names = scratch->names,
		.names_cap = scratch->names_cap, .err = NULL };
	mp_cursor_init(&r.cur, buf, len);
	*e = (journal_entry){ 0 };
	uint32_t n, type;
	if (!mp_read_array(&r.cur, &n) || n < 2) {
		*err = "a record is not an array [type, now_ms, ...]";
		return -1;
	}
	if (!get_small(&r, JOURNAL_SWEEP, &type) || !get_int(&r, &e->now_ms)) {
		*err = r.err;
		return -1;
	}
	e->type = (int)type;
	e->cmd.type = (core_cmd_type)type;
	bool old_reserve = e->type == CORE_CMD_RESERVE && n == 2 + RESERVE_FIELDS_V1;
	if (fields_of(e->type) == 0 || (n != 2 + fields_of(e->type) && !old_reserve)) {
		*err = "unknown record type, or the wrong number of fields for it";
		return -1;
	}
	if (!get_fields(&r, e, n - 2)) {
		*err = r.err;
		return -1;
	}
	if (r.cur.p != r.cur.end) {
		*err = "bytes after the record";
		return -1;
	}
	return 0;
}

int journal_apply(core *c, const journal_entry *e, core_error *err)
{
	if (e->type == JOURNAL_SWEEP) {
		return core_forget(c, e->now_ms, e->forgot_reservations, e->forgot_keys, err);
	}
	core_result res;
	return core_exec(c, &e->cmd, e->now_ms, &res, err);
}
