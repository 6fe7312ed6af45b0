/*
 * command.c - the command table, the msgpack-rpc envelope, and the
 * handlers of every method.
 */
#include "command.h"
#include "journal.h"

#include "encode.h"
#include "params.h"

#include <allot/protocol.h>
#include <stdlib.h>
#include <string.h>

int cmd_ctx_init(cmd_ctx *ctx, core *c, const cmd_limits *limits)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->core = c;
	ctx->limits = *limits;
	ctx->lines_cap = core_get_config(c)->lines_max;
	ctx->skus_cap = limits->avail_skus_max;
	ctx->lines = calloc(ctx->lines_cap ? ctx->lines_cap : 1, sizeof(*ctx->lines));
	ctx->skus = calloc(ctx->skus_cap ? ctx->skus_cap : 1, sizeof(*ctx->skus));
	ctx->names_cap = core_get_config(c)->locations_max;
	ctx->names = calloc(ctx->names_cap ? ctx->names_cap : 1, sizeof(*ctx->names));
	if (ctx->lines == NULL || ctx->skus == NULL || ctx->names == NULL) {
		cmd_ctx_finish(ctx);
		return -1;
	}
	return 0;
}

void cmd_ctx_finish(cmd_ctx *ctx)
{
	free(ctx->lines);
	free(ctx->skus);
	free(ctx->names);
	ctx->lines = NULL;
	ctx->skus = NULL;
	ctx->names = NULL;
}

/* ---- shared handler plumbing --------------------------------------------- */

static int reply_params_error(mp_buf *out, const params *p)
{
	encode_error(out, core_strerror(p->code), p->message);
	return p->code;
}

static int reply_core_error(mp_buf *out, const core_error *err)
{
	encode_core_error(out, err);
	return err->code;
}

/* A failed reserve or route.quote that planned (OUT_OF_STOCK) says why
 * when asked to explain. */
static int reply_core_error_explained(cmd_ctx *ctx, mp_buf *out, const core_error *err,
    const core_reserve_cmd *r)
{
	core_explain ex;
	if (!r->explain || !core_explain_get(ctx->core, &ex))
		return reply_core_error(out, err);
	encode_core_error_head(out, err, 1);
	encode_explain(out, ctx->core, r);
	mp_write_nil(out);
	return err->code;
}

static int exec_reply(cmd_ctx *ctx, const core_cmd *cmd, mp_buf *out)
{
	core_result res;
	core_error err;
	int rc = core_exec(ctx->core, cmd, ctx->now_ms, &res, &err);
	if (rc && cmd->type == CORE_CMD_RESERVE)
		return reply_core_error_explained(ctx, out, &err, &cmd->u.reserve);
	if (rc)
		return reply_core_error(out, &err);
	ctx->changed = true;
	if (ctx->journal && !res.replayed) {
		journal_encode_cmd(&ctx->journal->buf, cmd, core_now(ctx->core));
		ctx->journal->count++;
	}
	mp_write_nil(out);
	switch (res.kind) {
	case CORE_RESULT_RESV: {
		bool explained = cmd->type == CORE_CMD_RESERVE && cmd->u.reserve.explain && !res.replayed;
		encode_reservation_head(out, ctx->core, res.resv, res.replayed && cmd->type == CORE_CMD_RESERVE,
		    explained);
		if (explained)
			encode_explain(out, ctx->core, &cmd->u.reserve);
		break;
	}
	case CORE_RESULT_LOCATION:
		encode_location(out, &res.location);
		break;
	case CORE_RESULT_CHANNEL:
		encode_channel(out, ctx->core, res.channel);
		break;
	case CORE_RESULT_SKU:
		encode_sku(out, &res.sku);
		break;
	case CORE_RESULT_INBOUND:
		encode_inbound(out, &res.inbound);
		break;
	case CORE_RESULT_RECORD:
		encode_record(out, &res.record);
		break;
	}
	return CORE_OK;
}

/* Parse a map of sku/location/number fields shared by the stock methods. */
static int parse_stock(params *p, core_stock_cmd *s, const char *num_field, int64_t *num)
{
	core_str key;
	bool has_num = false;
	*s = (core_stock_cmd){ .safety = -1, .if_version = -1 };
	while (params_next(p, &key)) {
		int rc = 0;
		if (key_is(key, "sku"))
			rc = params_str(p, "sku", &s->sku);
		else if (key_is(key, "location"))
			rc = params_str(p, "location", &s->location);
		else if (key_is(key, num_field)) {
			rc = params_int(p, num_field, num);
			has_num = rc == 0;
		} else if (key_is(key, "safety"))
			rc = params_count(p, "safety", CORE_QTY_MAX, &s->safety);
		else if (key_is(key, "if_version"))
			rc = params_count(p, "if_version", INT64_MAX, &s->if_version);
		else if (key_is(key, "reason"))
			rc = params_str(p, "reason", &s->reason);
		else if (key_is(key, "idempotency_key"))
			rc = params_str(p, "idempotency_key", &s->idempotency_key);
		else
			params_skip(p);
		if (rc)
			return -1;
	}
	if (s->sku.p == NULL)
		return params_missing(p, "sku");
	if (s->location.p == NULL)
		return params_missing(p, "location");
	if (!has_num)
		return params_missing(p, num_field);
	return 0;
}

static int start_params(params *p, mp_cursor *c)
{
	uint32_t pairs = 0;
	if (c && !mp_read_map(c, &pairs))
		return params_fail(p, CORE_E_BAD_REQUEST, "params: must be [] or [map]");
	params_init(p, c, pairs);
	return 0;
}

/* ---- inventory ----------------------------------------------------------- */

static int h_ping(cmd_ctx *ctx, mp_cursor *c, mp_buf *out)
{
	mp_write_nil(out);
	mp_write_lit(out, "pong");
	return CORE_OK;
}

static int h_stock(cmd_ctx *ctx, mp_cursor *c, mp_buf *out, core_cmd_type type, const char *num_field)
{
	params p;
	core_cmd cmd = { .type = type };
	int64_t num = 0;
	if (start_params(&p, c) || parse_stock(&p, &cmd.u.stock, num_field, &num))
		return reply_params_error(out, &p);
	if (type == CORE_CMD_STOCK_SET)
		cmd.u.stock.on_hand = num;
	else
		cmd.u.stock.delta = num;
	return exec_reply(ctx, &cmd, out);
}

static int h_stock_set(cmd_ctx *ctx, mp_cursor *c, mp_buf *out)
{
	return h_stock(ctx, c, out, CORE_CMD_STOCK_SET, "on_hand");
}

static int h_stock_adjust(cmd_ctx *ctx, mp_cursor *c, mp_buf *out)
{
	return h_stock(ctx, c, out, CORE_CMD_STOCK_ADJUST, "delta");
}

static int h_restock(cmd_ctx *ctx, mp_cursor *c, mp_buf *out)
{
	return h_stock(ctx, c, out, CORE_CMD_RESTOCK, "qty");
}

static void emit_record(void *arg, const core_record_view *rec)
{
	encode_record(arg, rec);
}

static int h_stock_get(cmd_ctx *ctx, mp_cursor *c, mp_buf *out)
{
	params p;
	core_str key, sku = { NULL, 0 }, loc = { NULL, 0 };
	if (start_params(&p, c))
		return reply_params_error(out, &p);
	while (params_next(&p, &key)) {
		int rc = 0;
		if (key_is(key, "sku"))
			rc = params_str(&p, "sku", &sku);
		else if (key_is(key, "location"))
			rc = params_str(&p, "location", &loc);
		else
			params_skip(&p);
		if (rc)
			return reply_params_error(out, &p);
	}
	if (sku.p == NULL)
		return reply_params_error(out, (params_missing(&p, "sku"), &p));
	if (loc.p && loc.len == 0)
		return reply_params_error(out, (params_fail(&p, CORE_E_BAD_REQUEST,
		    "location: must be 1 to %d bytes", CORE_NAME_MAX), &p));
	core_error err;
	uint32_t n = core_stock_count(ctx->core, sku, loc);
	if (n == 0) {
		core_stock_get(ctx->core, sku, loc, emit_record, out, &n, &err);
		return reply_core_error(out, &err);
	}
	mp_write_nil(out);
	mp_write_array(out, n);
	core_stock_get(ctx->core, sku, loc, emit_record, out, &n, &err);
	return CORE_OK;
}

static int cmp_str(const void *a, const void *b)
{
	const core_str *x = a, *y = b;
	int n = memcmp(x->p, y->p, x->len < y->len ? x->len : y->len);
	return n ? n : (x->len > y->len) - (x->len < y->len);
}

static void emit_avail(void *arg, const core_avail_loc *l)
{
	encode_str(arg, l->location);
	mp_write_int(arg, l->available);
}

static void emit_incoming(void *arg, const core_inbound_view *v)
{
	mp_buf *out = arg;
	mp_write_map(out, 4 + (v->ref.p != NULL));
	mp_write_lit(out, "location");
	encode_str(out, v->location);
	mp_write_lit(out, "qty");
	mp_write_int(out, v->qty - v->backordered);
	mp_write_lit(out, "eta");
	mp_write_int(out, v->eta_ms);
	mp_write_lit(out, "backordered");
	mp_write_int(out, v->backordered);
	if (v->ref.p) {
		mp_write_lit(out, "ref");
		encode_str(out, v->ref);
	}
}

static int parse_avail(cmd_ctx *ctx, params *p, uint32_t *nskus, core_str *loc, core_str *channel)
{
	core_str key;
	bool has_skus = false;
	while (params_next(p, &key)) {
		int rc = 0;
		if (key_is(key, "skus")) {
			if (params_array(p, "skus", ctx->skus_cap, "skus per call", nskus))
				return -1;
			for (uint32_t i = 0; i < *nskus; i++) {
				char name[24];
				snprintf(name, sizeof(name), "skus[%u]", i);
				ctx->skus[i] = (core_str){ NULL, 0 };
				if (params_str(p, name, &ctx->skus[i]))
					return -1;
				if (!core_name_valid(ctx->skus[i], CORE_NAME_MAX))
					return params_fail(p, CORE_E_BAD_REQUEST,
					    "%s: must be 1 to %d bytes without control characters", name, CORE_NAME_MAX);
			}
			has_skus = true;
		} else if (key_is(key, "location")) {
			rc = params_str(p, "location", loc);
		} else if (key_is(key, "channel")) {
			rc = params_str(p, "channel", channel);
		} else {
			params_skip(p);
		}
		if (rc)
			return -1;
	}
	if (!has_skus)
		return params_missing(p, "skus");
	if (loc->p && !core_name_valid(*loc, CORE_NAME_MAX))
		return params_fail(p, CORE_E_BAD_REQUEST,
		    "location: must be 1 to %d bytes without control characters", CORE_NAME_MAX);
	if (channel->p && !core_name_valid(*channel, CORE_CHANNEL_MAX))
		return params_fail(p, CORE_E_BAD_REQUEST,
		    "channel: must be 1 to %d bytes without control characters", CORE_CHANNEL_MAX);
	return 0;
}

static int h_avail(cmd_ctx *ctx, mp_cursor *c, mp_buf *out)
{
	params p;
	uint32_t n = 0;
	core_str loc = { NULL, 0 }, channel = { NULL, 0 };
	if (start_params(&p, c) || parse_avail(ctx, &p, &n, &loc, &channel))
		return reply_params_error(out, &p);
	/* The reply is a map keyed by sku: sort to drop repeated skus. */
	qsort(ctx->skus, n, sizeof(*ctx->skus), cmp_str);
	uint32_t unique = 0;
	for (uint32_t i = 0; i < n; i++)
		if (unique == 0 || cmp_str(&ctx->skus[unique - 1], &ctx->skus[i]) != 0)
			ctx->skus[unique++] = ctx->skus[i];
	const core_channel *ch = NULL;
	core_error err;
	if (channel.p && core_channel_find(ctx->core, channel, &ch, &err) != 0)
		return reply_core_error(out, &err);
	mp_write_nil(out);
	mp_write_map(out, unique);
	for (uint32_t i = 0; i < unique; i++) {
		uint32_t nlocs;
		int64_t total = core_avail_channel(ctx->core, ctx->skus[i], loc, ch, NULL, NULL, &nlocs);
		encode_str(out, ctx->skus[i]);
		mp_write_map(out, 3);
		mp_write_lit(out, "total");
		mp_write_int(out, total);
		mp_write_lit(out, "locations");
		mp_write_map(out, nlocs);
		core_avail_channel(ctx->core, ctx->skus[i], loc, ch, emit_avail, out, &nlocs);
		mp_write_lit(out, "incoming");
		mp_write_array(out, core_incoming(ctx->core, ctx->skus[i], ch, NULL, NULL));
		core_incoming(ctx->core, ctx->skus[i], ch, emit_incoming, out);
	}
	return CORE_OK;
}

/* ---- reservations -------------------------------------------------------- */

static int parse_ship_to(params *p, core_reserve_cmd *r)
{
	uint32_t pairs;
	if (!mp_read_map(&p->cur, &pairs))
		return params_fail(p, CORE_E_BAD_REQUEST, "ship_to: must be a map {lat, lon}");
	params sub;
	params_init(&sub, &p->cur, pairs);
	core_str key;
	double lat = 0, lon = 0;
	bool has_lat = false, has_lon = false;
	while (params_next(&sub, &key)) {
		if (mp_peek(&sub.cur) == MP_T_NIL) /* nil counts as not given */
			params_skip(&sub);
		else if (key_is(key, "lat"))
			has_lat = params_double(&sub, "ship_to.lat", &lat) == 0;
		else if (key_is(key, "lon"))
			has_lon = params_double(&sub, "ship_to.lon", &lon) == 0;
		else
			params_skip(&sub);
		if (sub.code)
			break;
	}
	p->cur = sub.cur;
	if (sub.code)
		return params_fail(p, sub.code, "%s", sub.message);
	if (!has_lat || !has_lon)
		return params_missing(p, has_lat ? "ship_to.lon" : "ship_to.lat");
	if (!(lat >= -90 && lat <= 90) || !(lon >= -180 && lon <= 180))
		return params_fail(p, CORE_E_BAD_REQUEST, "ship_to: lat must be -90 to 90 and lon -180 to 180");
	r->has_ship_to = true;
	r->ship_lat = lat;
	r->ship_lon = lon;
	return 0;
}

/* A string that must be one of names[0..n); its index in *out. */
static int params_enum(params *p, const char *field, const char *const *names, uint32_t n, int *out)
{
	core_str s = { NULL, 0 };
	if (params_str(p, field, &s))
		return -1;
	if (s.p == NULL)
		return 0;
	for (uint32_t i = 0; i < n; i++)
		if (key_is(s, names[i])) {
			*out = (int)i;
			return 0;
		}
	return params_fail(p, CORE_E_BAD_REQUEST, "%s: must be %s%s%s%s%s%s%s", field, names[0],
	    n > 2 ? ", " : " or ", names[1], n > 2 ? (n > 3 ? ", " : " or ") : "", n > 2 ? names[2] : "",
	    n > 3 ? " or " : "", n > 3 ? names[3] : "");
}

/* The routing options of reserve and route.quote. */
static int parse_routing_option(params *p, core_str key, core_reserve_cmd *r)
{
	static const char *const strategies[] = { "priority", "nearest", "cheapest", "most_stock" };
	static const char *const splits[] = { "units", "lines", "none" };
	int v = -1;
	int64_t n = 0;
	if (key_is(key, "strategy")) {
		if (params_enum(p, "strategy", strategies, 4, &v))
			return -1;
		if (v >= 0)
			r->strategy = (core_strategy)v;
	} else if (key_is(key, "split")) {
		if (params_enum(p, "split", splits, 3, &v))
			return -1;
		if (v >= 0)
			r->split = (core_split)v;
	} else if (key_is(key, "max_shipments")) {
		if (params_count(p, "max_shipments", CORE_MAX_SHIPMENTS_MAX, &n))
			return -1;
		r->max_shipments = (uint32_t)n;
	} else if (key_is(key, "allow_backorder")) {
		if (params_bool(p, "allow_backorder", &r->allow_backorder))
			return -1;
	} else if (key_is(key, "explain")) {
		return params_bool(p, "explain", &r->explain);
	} else if (key_is(key, "ship_to")) {
		if (!mp_read_nil(&p->cur))
			return parse_ship_to(p, r);
	} else {
		params_skip(p);
	}
	return 0;
}

static int parse_reserve(cmd_ctx *ctx, params *p, core_reserve_cmd *r)
{
	core_str key;
	bool has_lines = false, has_ttl = false;
	int64_t ttl_ms = 0;
	*r = (core_reserve_cmd){ .ttl_ms = -1, .lines = ctx->lines };
	while (params_next(p, &key)) {
		int rc = 0;
		if (key_is(key, "order_id"))
			rc = params_str(p, "order_id", &r->order_id);
		else if (key_is(key, "lines")) {
			rc = params_lines(p, "lines", ctx->lines, ctx->lines_cap, &r->nlines);
			has_lines = true;
		} else if (key_is(key, "ttl_ms")) {
			has_ttl = mp_peek(&p->cur) != MP_T_NIL;
			rc = params_int(p, "ttl_ms", &ttl_ms);
		} else if (key_is(key, "allow_partial"))
			rc = params_bool(p, "allow_partial", &r->allow_partial);
		else if (key_is(key, "idempotency_key"))
			rc = params_str(p, "idempotency_key", &r->idempotency_key);
		else if (key_is(key, "channel"))
			rc = params_str(p, "channel", &r->channel);
		else if (key_is(key, "customer_id"))
			rc = params_str(p, "customer_id", &r->customer_id);
		else
			rc = parse_routing_option(p, key, r);
		if (rc)
			return -1;
	}
	if (r->order_id.p == NULL)
		return params_missing(p, "order_id");
	if (!has_lines)
		return params_missing(p, "lines");
	if (has_ttl) {
		if (ttl_ms < 1)
			return params_fail(p, CORE_E_BAD_REQUEST, "ttl_ms: must be 1 to %lld",
			    (long long)core_get_config(ctx->core)->ttl_max_ms);
		r->ttl_ms = ttl_ms;
	}
	return 0;
}

static int h_reserve(cmd_ctx *ctx, mp_cursor *c, mp_buf *out)
{
	params p;
	core_cmd cmd = { .type = CORE_CMD_RESERVE };
	if (start_params(&p, c) || parse_reserve(ctx, &p, &cmd.u.reserve))
		return reply_params_error(out, &p);
	return exec_reply(ctx, &cmd, out);
}

/* route.quote: reserve's params; the plan, holding nothing. */
static int h_route_quote(cmd_ctx *ctx, mp_cursor *c, mp_buf *out)
{
	params p;
	core_reserve_cmd r;
	if (start_params(&p, c) || parse_reserve(ctx, &p, &r))
		return reply_params_error(out, &p);
	core_error err;
	int rc = core_quote(ctx->core, &r, &err);
	if (rc)
		return reply_core_error_explained(ctx, out, &err, &r);
	mp_write_nil(out);
	encode_quote(out, ctx->core, &r);
	return CORE_OK;
}

/* reservation_id, and lines / ttl_ms where the method takes them. */
static int parse_resv(cmd_ctx *ctx, params *p, core_resv_cmd *r, bool takes_lines, bool takes_ttl)
{
	core_str key;
	bool has_ttl = false;
	*r = (core_resv_cmd){ .ttl_ms = 0 };
	while (params_next(p, &key)) {
		int rc = 0;
		if (key_is(key, "reservation_id")) {
			rc = params_str(p, "reservation_id", &r->reservation_id);
		} else if (takes_lines && key_is(key, "lines")) {
			/* Absent or nil lines mean the whole reservation. */
			if (!mp_read_nil(&p->cur)) {
				rc = params_lines(p, "lines", ctx->lines, ctx->lines_cap, &r->nlines);
				r->lines = ctx->lines;
			}
		} else if (takes_ttl && key_is(key, "ttl_ms")) {
			rc = params_int(p, "ttl_ms", &r->ttl_ms);
			has_ttl = rc == 0;
		} else {
			params_skip(p);
		}
		if (rc)
			return -1;
	}
	if (r->reservation_id.p == NULL)
		return params_missing(p, "reservation_id");
	if (takes_ttl && !has_ttl)
		return params_missing(p, "ttl_ms");
	return 0;
}

static int h_resv(cmd_ctx *ctx, mp_cursor *c, mp_buf *out, core_cmd_type type)
{
	params p;
	core_cmd cmd = { .type = type };
	bool lines = type == CORE_CMD_RELEASE || type == CORE_CMD_FULFILL;
	if (start_params(&p, c) || parse_resv(ctx, &p, &cmd.u.resv, lines, type == CORE_CMD_EXTEND))
		return reply_params_error(out, &p);
	return exec_reply(ctx, &cmd, out);
}

static int h_commit(cmd_ctx *ctx, mp_cursor *c, mp_buf *out)
{
	return h_resv(ctx, c, out, CORE_CMD_COMMIT);
}

static int h_release(cmd_ctx *ctx, mp_cursor *c, mp_buf *out)
{
	return h_resv(ctx, c, out, CORE_CMD_RELEASE);
}

static int h_fulfill(cmd_ctx *ctx, mp_cursor *c, mp_buf *out)
{
	return h_resv(ctx, c, out, CORE_CMD_FULFILL);
}

static int h_extend(cmd_ctx *ctx, mp_cursor *c, mp_buf *out)
{
	return h_resv(ctx, c, out, CORE_CMD_EXTEND);
}

static int h_reservation_get(cmd_ctx *ctx, mp_cursor *c, mp_buf *out)
{
	params p;
	core_resv_cmd r;
	if (start_params(&p, c) || parse_resv(ctx, &p, &r, false, false))
		return reply_params_error(out, &p);
	const core_resv *resv;
	core_error err;
	if (core_resv_find(ctx->core, r.reservation_id, &resv, &err))
		return reply_core_error(out, &err);
	mp_write_nil(out);
	encode_reservation(out, ctx->core, resv, false);
	return CORE_OK;
}

/* ---- locations --------------------------------------------------------------- */

/* tags: an array of at most CORE_TAGS_MAX strings into tags. */
static int parse_tags(params *p, core_location_cmd *l, core_str *tags)
{
	uint32_t n;
	if (params_array(p, "tags", CORE_TAGS_MAX, "tags", &n))
		return params_fail(p, CORE_E_BAD_REQUEST, "tags: an array of at most %d strings", CORE_TAGS_MAX);
	for (uint32_t i = 0; i < n; i++) {
		char field[24];
		snprintf(field, sizeof(field), "tags[%u]", i);
		tags[i] = (core_str){ NULL, 0 };
		if (params_str(p, field, &tags[i]))
			return -1;
		if (tags[i].p == NULL)
			return params_fail(p, CORE_E_BAD_REQUEST, "%s: must be a string", field);
	}
	l->has_tags = true;
	l->ntags = n;
	l->tags = tags;
	return 0;
}

/* A number field of location.put; nil is not given. */
static int parse_number(params *p, const char *field, bool *given, double *out)
{
	if (mp_read_nil(&p->cur))
		return 0;
	*given = true;
	return params_double(p, field, out);
}

static int parse_location(params *p, core_location_cmd *l, core_str *tags)
{
	core_str key;
	bool has_lat = false, has_lon = false, enabled = false;
	int64_t capacity = -1;
	*l = (core_location_cmd){ .capacity = -1, .enabled = -1 };
	while (params_next(p, &key)) {
		int rc = 0;
		if (key_is(key, "location")) {
			rc = params_str(p, "location", &l->location);
		} else if (key_is(key, "lat")) {
			rc = parse_number(p, "lat", &has_lat, &l->lat);
		} else if (key_is(key, "lon")) {
			rc = parse_number(p, "lon", &has_lon, &l->lon);
		} else if (key_is(key, "priority")) {
			l->has_priority = mp_peek(&p->cur) != MP_T_NIL;
			rc = params_int(p, "priority", &l->priority);
		} else if (key_is(key, "cost")) {
			rc = parse_number(p, "cost", &l->has_cost, &l->cost);
		} else if (key_is(key, "cost_per_km")) {
			rc = parse_number(p, "cost_per_km", &l->has_cost_per_km, &l->cost_per_km);
		} else if (key_is(key, "capacity")) {
			rc = params_count(p, "capacity", CORE_QTY_MAX, &capacity);
			l->capacity = capacity;
		} else if (key_is(key, "enabled")) {
			bool nil = mp_peek(&p->cur) == MP_T_NIL;
			rc = params_bool(p, "enabled", &enabled);
			if (!nil)
				l->enabled = enabled;
		} else if (key_is(key, "tags")) {
			if (!mp_read_nil(&p->cur))
				rc = parse_tags(p, l, tags);
		} else {
			params_skip(p);
		}
		if (rc)
			return -1;
	}
	if (l->location.p == NULL)
		return params_missing(p, "location");
	if (has_lat != has_lon)
		return params_fail(p, CORE_E_BAD_REQUEST, "%s: required with %s", has_lat ? "lon" : "lat",
		    has_lat ? "lat" : "lon");
	l->has_coords = has_lat;
	return 0;
}

static int h_location_put(cmd_ctx *ctx, mp_cursor *c, mp_buf *out)
{
	params p;
	core_str tags[CORE_TAGS_MAX];
	core_cmd cmd = { .type = CORE_CMD_LOCATION_PUT };
	if (start_params(&p, c) || parse_location(&p, &cmd.u.location, tags))
		return reply_params_error(out, &p);
	return exec_reply(ctx, &cmd, out);
}

static int h_location_list(cmd_ctx *ctx, mp_cursor *c, mp_buf *out)
{
	uint32_t n = core_location_count(ctx->core);
	mp_write_nil(out);
	mp_write_array(out, n);
	for (uint32_t i = 0; i < n; i++) {
		core_location_view v;
		core_location_at(ctx->core, i, &v);
		encode_location(out, &v);
	}
	return CORE_OK;
}

/* ---- channels and skus ---------------------------------------------------------- */

static int parse_channel(cmd_ctx *ctx, params *p, core_channel_cmd *ch)
{
	core_str key;
	int64_t buffer = -1;
	*ch = (core_channel_cmd){ .buffer = -1 };
	while (params_next(p, &key)) {
		int rc = 0;
		if (key_is(key, "channel")) {
			rc = params_str(p, "channel", &ch->channel);
		} else if (key_is(key, "buffer")) {
			rc = params_count(p, "buffer", CORE_QTY_MAX, &buffer);
			ch->buffer = buffer;
		} else if (key_is(key, "all_locations")) {
			rc = params_bool(p, "all_locations", &ch->all_locations);
		} else if (key_is(key, "locations")) {
			if (mp_read_nil(&p->cur))
				continue;
			uint32_t n;
			if (params_array(p, "locations", ctx->names_cap, "locations", &n))
				return -1;
			for (uint32_t i = 0; i < n; i++) {
				char field[32];
				snprintf(field, sizeof(field), "locations[%u]", i);
				ctx->names[i] = (core_str){ NULL, 0 };
				if (params_str(p, field, &ctx->names[i]))
					return -1;
				if (!core_name_valid(ctx->names[i], CORE_NAME_MAX))
					return params_fail(p, CORE_E_BAD_REQUEST,
					    "%s: must be 1 to %d bytes without control characters", field, CORE_NAME_MAX);
			}
			ch->has_locations = true;
			ch->nlocations = n;
			ch->locations = ctx->names;
		} else {
			params_skip(p);
		}
		if (rc)
			return -1;
	}
	if (ch->channel.p == NULL)
		return params_missing(p, "channel");
	return 0;
}

static int h_channel_put(cmd_ctx *ctx, mp_cursor *c, mp_buf *out)
{
	params p;
	core_cmd cmd = { .type = CORE_CMD_CHANNEL_PUT };
	if (start_params(&p, c) || parse_channel(ctx, &p, &cmd.u.channel))
		return reply_params_error(out, &p);
	return exec_reply(ctx, &cmd, out);
}

static int h_sku_put(cmd_ctx *ctx, mp_cursor *c, mp_buf *out)
{
	params p;
	core_cmd cmd = { .type = CORE_CMD_SKU_PUT };
	core_sku_cmd *s = &cmd.u.sku;
	*s = (core_sku_cmd){ .per_order = -1, .per_customer = -1, .low_stock = -1 };
	if (start_params(&p, c))
		return reply_params_error(out, &p);
	core_str key;
	while (params_next(&p, &key)) {
		int rc = 0;
		if (key_is(key, "sku"))
			rc = params_str(&p, "sku", &s->sku);
		else if (key_is(key, "per_order"))
			rc = params_count(&p, "per_order", CORE_QTY_MAX, &s->per_order);
		else if (key_is(key, "per_customer"))
			rc = params_count(&p, "per_customer", CORE_QTY_MAX, &s->per_customer);
		else if (key_is(key, "low_stock"))
			rc = params_count(&p, "low_stock", CORE_QTY_MAX, &s->low_stock);
		else
			params_skip(&p);
		if (rc)
			return reply_params_error(out, &p);
	}
	if (s->sku.p == NULL)
		return reply_params_error(out, (params_missing(&p, "sku"), &p));
	return exec_reply(ctx, &cmd, out);
}

static int h_inbound_add(cmd_ctx *ctx, mp_cursor *c, mp_buf *out)
{
	params p;
	core_cmd cmd = { .type = CORE_CMD_INBOUND_ADD };
	core_inbound_cmd *in = &cmd.u.inbound;
	bool has_qty = false, has_eta = false;
	if (start_params(&p, c))
		return reply_params_error(out, &p);
	core_str key;
	while (params_next(&p, &key)) {
		int rc = 0;
		if (key_is(key, "sku")) {
			rc = params_str(&p, "sku", &in->sku);
		} else if (key_is(key, "location")) {
			rc = params_str(&p, "location", &in->location);
		} else if (key_is(key, "qty")) {
			has_qty = mp_peek(&p.cur) != MP_T_NIL;
			rc = params_int(&p, "qty", &in->qty);
		} else if (key_is(key, "eta")) {
			has_eta = mp_peek(&p.cur) != MP_T_NIL;
			rc = params_int(&p, "eta", &in->eta_ms);
		} else if (key_is(key, "ref")) {
			rc = params_str(&p, "ref", &in->ref);
		} else {
			params_skip(&p);
		}
		if (rc)
			return reply_params_error(out, &p);
	}
	const char *missing = in->sku.p == NULL ? "sku" : in->location.p == NULL ? "location"
	    : !has_qty ? "qty" : !has_eta ? "eta" : NULL;
	if (missing)
		return reply_params_error(out, (params_missing(&p, missing), &p));
	return exec_reply(ctx, &cmd, out);
}

/* ---- operations ------------------------------------------------------------ */

/* A literal key and an unsigned value. */
#define kv_uint(out, key, v) (mp_write_lit(out, key), mp_write_uint(out, v))

static void stats_server(cmd_ctx *ctx, mp_buf *out)
{
	cmd_server_stats *s = ctx->stats;
	if (ctx->refresh_stats)
		ctx->refresh_stats(s);
	mp_write_lit(out, "version");
	mp_write_cstr(out, s->version);
	mp_write_lit(out, "uptime_ms");
	mp_write_int(out, ctx->now_ms - s->started_at_ms);
	mp_write_lit(out, "connections");
	mp_write_map(out, 3);
	kv_uint(out, "current", s->connections_current);
	kv_uint(out, "total", s->connections_total);
	kv_uint(out, "rejected", s->connections_rejected);
	mp_write_lit(out, "requests");
	uint32_t used = 0;
	for (int i = 0; i < CMD_COUNT; i++)
		used += s->requests_by_cmd[i] > 0;
	mp_write_map(out, 2 + used);
	kv_uint(out, "total", s->requests_total);
	kv_uint(out, "errors", s->errors_total);
	for (int i = 0; i < CMD_COUNT; i++)
		if (s->requests_by_cmd[i] > 0)
		{
			mp_write_str(out, cmd_table[i].name, cmd_table[i].name_len);
			mp_write_uint(out, s->requests_by_cmd[i]);
		}
	mp_write_lit(out, "memory");
	mp_write_map(out, 2);
	kv_uint(out, "allocated", s->memory_allocated);
	kv_uint(out, "resident", s->memory_resident);
	mp_write_lit(out, "loop_busy_max_us");
	mp_write_uint(out, s->loop_busy_max_us);
	mp_write_lit(out, "durability");
	if (s->write_durability) {
		s->write_durability(s->durability_ud, out);
	} else {
		mp_write_map(out, 1);
		mp_write_lit(out, "mode");
		mp_write_cstr(out, s->durability);
	}
}

static int h_stats(cmd_ctx *ctx, mp_cursor *c, mp_buf *out)
{
	core_stats cs;
	core_stats_get(ctx->core, &cs);
	mp_write_nil(out);
	mp_write_map(out, 8 + (ctx->stats ? 7 : 0));
	kv_uint(out, "skus", cs.skus);
	kv_uint(out, "locations", cs.locations);
	kv_uint(out, "records", cs.records);
	mp_write_lit(out, "reservations");
	mp_write_map(out, 5);
	for (int s = 0; s < 5; s++) {
		mp_write_cstr(out, core_resv_status_name((core_resv_status)s));
		mp_write_uint(out, cs.reservations[s]);
	}
	kv_uint(out, "expired_total", cs.expired_total);
	kv_uint(out, "units_reserved", cs.units_reserved);
	kv_uint(out, "units_committed", cs.units_committed);
	kv_uint(out, "idempotency_keys", cs.idempotency_keys);
	if (ctx->stats)
		stats_server(ctx, out);
	return CORE_OK;
}

/* snapshot {}: the engine takes it and replies once it is durable. */
static int h_snapshot(cmd_ctx *ctx, mp_cursor *c, mp_buf *out)
{
	if (ctx->snapshot == NULL) {
		encode_error(out, ALLOT_ERR_UNAVAILABLE,
		    "durability is none: snapshots need --redis");
		return PROTO_E_UNAVAILABLE;
	}
	char msg[200];
	int rc = ctx->snapshot(ctx->snapshot_ud, msg, sizeof(msg));
	if (rc == PROTO_DEFERRED)
		return rc;
	encode_error(out, rc == PROTO_E_UNAVAILABLE ? ALLOT_ERR_UNAVAILABLE : core_strerror(rc), msg);
	return rc;
}

/* ---- the table and the envelope ------------------------------------------ */

const cmd_def cmd_table[CMD_COUNT] = {
#define X(id_, name_, handler_, role_, flags_) \
	[CMD_##id_] = { name_, sizeof(name_) - 1, role_, flags_, CMD_##id_, handler_ },
	CMD_LIST(X)
#undef X
};

const cmd_def *cmd_lookup(const char *name, uint32_t len)
{
	for (int i = 0; i < CMD_COUNT; i++)
		if (cmd_table[i].name_len == len && memcmp(cmd_table[i].name, name, len) == 0)
			return &cmd_table[i];
	return NULL;
}

void proto_write_error_response(mp_buf *out, uint32_t msgid, const char *code, const char *message)
{
	mp_write_array(out, 4);
	mp_write_uint(out, ALLOT_MSG_RESPONSE);
	mp_write_uint(out, msgid);
	encode_error(out, code, message);
}

/* params: [] or [map] (or [nil]); *map is NULL when there are none. */
static bool read_params(mp_cursor *c, mp_cursor **map)
{
	uint32_t n;
	if (!mp_read_array(c, &n) || n > 1)
		return false;
	*map = NULL;
	if (n == 1 && !mp_read_nil(c)) {
		if (mp_peek(c) != MP_T_MAP)
			return false;
		*map = c;
	}
	return true;
}

void proto_handle_frame(cmd_ctx *ctx, const uint8_t *frame, size_t len,
    mp_buf *out, proto_frame_info *info)
{
	mp_cursor c;
	mp_cursor_init(&c, frame, len);
	uint32_t n;
	uint64_t type = 0, msgid = 0;
	*info = (proto_frame_info){ .replied = true, .code = CORE_E_BAD_REQUEST };
	if (!mp_read_array(&c, &n) || n < 3 || n > 4 || !mp_read_uint(&c, &type)) {
		proto_write_error_response(out, 0, ALLOT_ERR_BAD_REQUEST,
		    "not a msgpack-rpc message: expected [0, msgid, method, params]");
		return;
	}
	if (type == ALLOT_MSG_NOTIFICATION || type == ALLOT_MSG_RESPONSE) {
		/* Client notifications (pynvim announces itself with one) and
		 * stray responses get no reply. */
		info->replied = false;
		info->code = CORE_OK;
		return;
	}
	if (type != ALLOT_MSG_REQUEST || n != 4 || !mp_read_uint(&c, &msgid) || msgid > UINT32_MAX) {
		proto_write_error_response(out, 0, ALLOT_ERR_BAD_REQUEST,
		    "not a msgpack-rpc request: expected [0, msgid (uint32), method, params]");
		return;
	}
	info->msgid = (uint32_t)msgid;
	const char *name;
	uint32_t name_len;
	mp_cursor *map;
	if (!mp_read_str(&c, &name, &name_len) || !read_params(&c, &map)) {
		proto_write_error_response(out, info->msgid, ALLOT_ERR_BAD_REQUEST,
		    "params: a request is [0, msgid, method (string), params ([] or [map])]");
		return;
	}
	info->cmd = cmd_lookup(name, name_len);
	size_t start = out->len;
	mp_write_array(out, 4);
	mp_write_uint(out, ALLOT_MSG_RESPONSE);
	mp_write_uint(out, info->msgid);
	if (info->cmd == NULL) {
		char msg[120];
		snprintf(msg, sizeof(msg), "no method '%.*s'", (int)(name_len > 64 ? 64 : name_len), name);
		encode_error(out, ALLOT_ERR_UNKNOWN_METHOD, msg);
		info->code = PROTO_E_UNKNOWN_METHOD;
		return;
	}
	if ((info->cmd->flags & CMD_MUTATES) && ctx->unavailable) {
		encode_error(out, ALLOT_ERR_UNAVAILABLE, ctx->unavailable);
		info->code = PROTO_E_UNAVAILABLE;
		return;
	}
	ctx->changed = false;
	info->code = info->cmd->handle(ctx, map, out);
	info->changed = ctx->changed;
	if (info->code == PROTO_DEFERRED) {
		/* The engine answers later: take back the envelope's start. */
		out->len = start;
		info->replied = false;
		info->deferred = true;
		info->code = CORE_OK;
	}
}
