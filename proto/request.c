/*
 * request.c - the msgpack-rpc envelope and every method's params, decoded
 * into typed requests. Types are checked here; ranges and meaning are the
 * core's to check, so that the journal replays exactly what was decided.
 */
#include "request.h"

#include "params.h"
#include "request_inbound.h"
#include "scan.h"

#include <allot/protocol.h>
#include <assert.h>
#include <stdlib.h>
#include <string.h>

int proto_decoder_init(proto_decoder *d, const proto_limits *limits)
{
	memset(d, 0, sizeof(*d));
	d->limits = *limits;
	d->lines = calloc(limits->lines_max ? limits->lines_max : 1, sizeof(*d->lines));
	d->skus = calloc(limits->avail_skus_max ? limits->avail_skus_max : 1, sizeof(*d->skus));
	d->names = calloc(limits->locations_max ? limits->locations_max : 1, sizeof(*d->names));
	if (d->lines == NULL || d->skus == NULL || d->names == NULL) {
		proto_decoder_finish(d);
		return -1;
	}
	return 0;
}

void proto_decoder_finish(proto_decoder *d)
{
	free(d->lines);
	free(d->skus);
	free(d->names);
	d->lines = NULL;
	d->skus = NULL;
	d->names = NULL;
}

/* An array of at most max sku or location names into out[0..*n), each
 * checked as a name ("skus[2]: must be 1 to 64 bytes ..."). */
static int parse_names(params *p, const char *field, uint32_t max, const char *what,
    core_str *out, uint32_t *n)
{
	if (params_array(p, field, max, what, n))
		return -1;
	for (uint32_t i = 0; i < *n; i++) {
		char name[48];
		snprintf(name, sizeof(name), "%s[%u]", field, i);
		out[i] = (core_str){ NULL, 0 };
		if (params_str(p, name, &out[i]))
			return -1;
		if (!core_name_valid(out[i], CORE_NAME_MAX))
			return params_fail(p, CORE_E_BAD_REQUEST,
			    "%s: must be 1 to %d bytes without control characters", name, CORE_NAME_MAX);
	}
	return 0;
}

/* ---- inventory ----------------------------------------------------------- */

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

static int cmp_str(const void *a, const void *b)
{
	const core_str *x = a, *y = b;
	int n = memcmp(x->p, y->p, x->len < y->len ? x->len : y->len);
	return n ? n : (x->len > y->len) - (x->len < y->len);
}

static int parse_avail(proto_decoder *d, params *p, uint32_t *nskus, proto_avail_query *q)
{
	core_str *loc = &q->location, *channel = &q->channel;
	core_str key;
	bool has_skus = false;
	while (params_next(p, &key)) {
		int rc = 0;
		if (key_is(key, "skus")) {
			if (parse_names(p, "skus", d->limits.avail_skus_max, "skus per call", d->skus, nskus))
				return -1;
			has_skus = true;
		} else if (key_is(key, "location")) {
			rc = params_str(p, "location", loc);
		} else if (key_is(key, "channel")) {
			rc = params_str(p, "channel", channel);
		} else if (key_is(key, "at")) {
			q->has_at = mp_peek(&p->cur) != MP_T_NIL;
			rc = params_count(p, "at", INT64_MAX, &q->at_ms);
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

static int parse_reserve(proto_decoder *d, params *p, core_reserve_cmd *r)
{
	core_str key;
	bool has_lines = false, has_ttl = false;
	int64_t ttl_ms = 0;
	*r = (core_reserve_cmd){ .ttl_ms = -1, .lines = d->lines };
	while (params_next(p, &key)) {
		int rc = 0;
		if (key_is(key, "order_id"))
			rc = params_str(p, "order_id", &r->order_id);
		else if (key_is(key, "lines")) {
			rc = params_lines(p, "lines", d->lines, d->limits.lines_max, &r->nlines);
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
			    (long long)d->limits.ttl_max_ms);
		r->ttl_ms = ttl_ms;
	}
	return 0;
}

/* reservation_id, and lines / ttl_ms where the method takes them. */
static int parse_resv(proto_decoder *d, params *p, core_resv_cmd *r, bool takes_lines, bool takes_ttl)
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
				rc = params_lines(p, "lines", d->lines, d->limits.lines_max, &r->nlines);
				r->lines = d->lines;
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

/* ---- locations, channels, skus, inbound ------------------------------------- */

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

static int parse_channel(proto_decoder *d, params *p, core_channel_cmd *ch)
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
			if (parse_names(p, "locations", d->limits.locations_max, "locations", d->names, &n))
				return -1;
			ch->has_locations = true;
			ch->nlocations = n;
			ch->locations = d->names;
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

static int parse_sku(params *p, core_sku_cmd *s)
{
	*s = (core_sku_cmd){ .per_order = -1, .per_customer = -1, .low_stock = -1 };
	core_str key;
	while (params_next(p, &key)) {
		int rc = 0;
		if (key_is(key, "sku"))
			rc = params_str(p, "sku", &s->sku);
		else if (key_is(key, "per_order"))
			rc = params_count(p, "per_order", CORE_QTY_MAX, &s->per_order);
		else if (key_is(key, "per_customer"))
			rc = params_count(p, "per_customer", CORE_QTY_MAX, &s->per_customer);
		else if (key_is(key, "low_stock"))
			rc = params_count(p, "low_stock", CORE_QTY_MAX, &s->low_stock);
		else
			params_skip(p);
		if (rc)
			return -1;
	}
	if (s->sku.p == NULL)
		return params_missing(p, "sku");
	return 0;
}

/* ---- one decoder per method ------------------------------------------------ */

/* Each reads params (an open params map, empty when none came) into req. */
typedef int (*decode_fn)(proto_decoder *d, params *p, proto_request *req);

static int decode_none(proto_decoder *d, params *p, proto_request *req)
{
	return 0;
}

static int decode_stock_change(params *p, proto_request *req, core_cmd_type type, const char *field)
{
	core_cmd *cmd = &req->u.change;
	int64_t num = 0;
	cmd->type = type;
	if (parse_stock(p, &cmd->u.stock, field, &num))
		return -1;
	if (type == CORE_CMD_STOCK_SET)
		cmd->u.stock.on_hand = num;
	else
		cmd->u.stock.delta = num;
	return 0;
}

static int decode_STOCK_SET(proto_decoder *d, params *p, proto_request *req)
{
	return decode_stock_change(p, req, CORE_CMD_STOCK_SET, "on_hand");
}

static int decode_STOCK_ADJUST(proto_decoder *d, params *p, proto_request *req)
{
	return decode_stock_change(p, req, CORE_CMD_STOCK_ADJUST, "delta");
}

static int decode_RESTOCK(proto_decoder *d, params *p, proto_request *req)
{
	return decode_stock_change(p, req, CORE_CMD_RESTOCK, "qty");
}

static int decode_STOCK_GET(proto_decoder *d, params *p, proto_request *req)
{
	proto_stock_query *q = &req->u.stock;
	core_str key;
	*q = (proto_stock_query){ { NULL, 0 }, { NULL, 0 } };
	while (params_next(p, &key)) {
		int rc = 0;
		if (key_is(key, "sku"))
			rc = params_str(p, "sku", &q->sku);
		else if (key_is(key, "location"))
			rc = params_str(p, "location", &q->location);
		else
			params_skip(p);
		if (rc)
			return -1;
	}
	if (q->sku.p == NULL)
		return params_missing(p, "sku");
	if (q->location.p && q->location.len == 0)
		return params_fail(p, CORE_E_BAD_REQUEST, "location: must be 1 to %d bytes", CORE_NAME_MAX);
	return 0;
}

static int decode_STOCK_SCAN(proto_decoder *d, params *p, proto_request *req)
{
	return scan_decode(p, &req->u.scan);
}

static int decode_AVAIL(proto_decoder *d, params *p, proto_request *req)
{
	proto_avail_query *q = &req->u.avail;
	uint32_t n = 0;
	*q = (proto_avail_query){ .skus = d->skus };
	if (parse_avail(d, p, &n, q))
		return -1;
	/* The reply is a map keyed by sku: sort to drop repeated skus. */
	qsort(d->skus, n, sizeof(*d->skus), cmp_str);
	uint32_t unique = 0;
	for (uint32_t i = 0; i < n; i++)
		if (unique == 0 || cmp_str(&d->skus[unique - 1], &d->skus[i]) != 0)
			d->skus[unique++] = d->skus[i];
	q->nskus = unique;
	return 0;
}

static int decode_RESERVE(proto_decoder *d, params *p, proto_request *req)
{
	req->u.change.type = CORE_CMD_RESERVE;
	return parse_reserve(d, p, &req->u.change.u.reserve);
}

static int decode_ROUTE_QUOTE(proto_decoder *d, params *p, proto_request *req)
{
	return parse_reserve(d, p, &req->u.quote);
}

static int decode_resv_change(proto_decoder *d, params *p, proto_request *req, core_cmd_type type)
{
	bool lines = type == CORE_CMD_RELEASE || type == CORE_CMD_FULFILL;
	req->u.change.type = type;
	return parse_resv(d, p, &req->u.change.u.resv, lines, type == CORE_CMD_EXTEND);
}

static int decode_COMMIT(proto_decoder *d, params *p, proto_request *req)
{
	return decode_resv_change(d, p, req, CORE_CMD_COMMIT);
}

static int decode_RELEASE(proto_decoder *d, params *p, proto_request *req)
{
	return decode_resv_change(d, p, req, CORE_CMD_RELEASE);
}

static int decode_FULFILL(proto_decoder *d, params *p, proto_request *req)
{
	return decode_resv_change(d, p, req, CORE_CMD_FULFILL);
}

static int decode_EXTEND(proto_decoder *d, params *p, proto_request *req)
{
	return decode_resv_change(d, p, req, CORE_CMD_EXTEND);
}

static int decode_RESERVATION_GET(proto_decoder *d, params *p, proto_request *req)
{
	core_resv_cmd r;
	if (parse_resv(d, p, &r, false, false))
		return -1;
	req->u.reservation_id = r.reservation_id;
	return 0;
}

static int decode_LOCATION_PUT(proto_decoder *d, params *p, proto_request *req)
{
	req->u.change.type = CORE_CMD_LOCATION_PUT;
	return parse_location(p, &req->u.change.u.location, req->tags);
}

static int decode_CHANNEL_PUT(proto_decoder *d, params *p, proto_request *req)
{
	req->u.change.type = CORE_CMD_CHANNEL_PUT;
	return parse_channel(d, p, &req->u.change.u.channel);
}

static int decode_SKU_PUT(proto_decoder *d, params *p, proto_request *req)
{
	req->u.change.type = CORE_CMD_SKU_PUT;
	return parse_sku(p, &req->u.change.u.sku);
}

static int decode_INBOUND_ADD(proto_decoder *d, params *p, proto_request *req)
{
	req->u.change.type = CORE_CMD_INBOUND_ADD;
	return proto_parse_inbound(p, &req->u.change.u.inbound, true);
}

/* auth {token}: the token is looked up by the dispatch, never kept. */
static int decode_AUTH(proto_decoder *d, params *p, proto_request *req)
{
	core_str key;
	req->u.token = (core_str){ NULL, 0 };
	while (params_next(p, &key)) {
		if (!key_is(key, "token"))
			params_skip(p);
		else if (params_str(p, "token", &req->u.token))
			return -1;
	}
	return req->u.token.p ? 0 : params_missing(p, "token");
}

#define decode_INBOUND_RECEIVE proto_decode_inbound_receive
#define decode_INBOUND_LIST proto_decode_inbound_list
#define decode_PING decode_none
#define decode_LOCATION_LIST decode_none
#define decode_STATS decode_none
#define decode_SNAPSHOT decode_none
#define decode_UNSUBSCRIBE decode_none
#define decode_SUBSCRIBE proto_decode_subscribe

static const decode_fn decoders[CMD_COUNT] = {
#define X(id, name, role, flags) [CMD_##id] = decode_##id,
	CMD_LIST(X)
#undef X
};

/* ---- the envelope ------------------------------------------------------------ */

static int start_params(params *p, mp_cursor *c)
{
	uint32_t pairs = 0;
	if (c && !mp_read_map(c, &pairs))
		return params_fail(p, CORE_E_BAD_REQUEST, "params: must be [] or [map]");
	params_init(p, c, pairs);
	return 0;
}

/* params: [] or [map] (or [nil]); *map says whether a map is next. */
static bool read_params(mp_cursor *c, bool *map)
{
	uint32_t n;
	if (!mp_read_array(c, &n) || n > 1)
		return false;
	*map = false;
	if (n == 1 && !mp_read_nil(c)) {
		if (mp_peek(c) != MP_T_MAP)
			return false;
		*map = true;
	}
	return true;
}


/* A msgid: a uint32, also as a float holding one (see params_read_whole). */
static bool read_msgid(mp_cursor *c, uint64_t *msgid)
{
	int64_t v;
	if (!params_read_whole(c, &v) || v < 0 || v > UINT32_MAX)
		return false;
	*msgid = (uint64_t)v;
	return true;
}

uint32_t proto_peek_msgid(const uint8_t *buf, size_t len)
{
	mp_cursor c;
	mp_cursor_init(&c, buf, len);
	uint32_t n;
	uint64_t type, msgid;
	/* Only the header bytes are read: each read checks its own bounds,
	 * so a frame cut short or bad further on is safe to look at. */
	if (!mp_read_array(&c, &n) || n != 4 || !mp_read_uint(&c, &type) ||
	    type != ALLOT_MSG_REQUEST || !read_msgid(&c, &msgid))
		return 0;
	return (uint32_t)msgid;
}

static proto_decoded refuse(proto_refusal *why, const char *code, int core_code, const char *message)
{
	assert(code != NULL && message != NULL);
	why->code = code;
	why->core_code = core_code;
	snprintf(why->message, sizeof(why->message), "%s", message);
	return PROTO_REFUSED;
}

proto_decoded proto_decode(proto_decoder *d, const uint8_t *frame, size_t len,
    proto_request *req, proto_refusal *why)
{
	mp_cursor c;
	mp_cursor_init(&c, frame, len);
	uint32_t n, name_len;
	uint64_t type = 0, msgid = 0;
	const char *name;
	/* The refusal is filled only when there is one: it is large, and the
	 * common request never needs it. */
	why->msgid = 0;
	why->cmd = NULL;
	if (!mp_read_array(&c, &n) || n < 3 || n > 4 || !mp_read_uint(&c, &type))
		return refuse(why, ALLOT_ERR_BAD_REQUEST, CORE_E_BAD_REQUEST,
		    "not a msgpack-rpc message: expected [0, msgid, method, params]");
	/* Client notifications (pynvim announces itself with one) and stray
	 * responses get no reply. */
	if (type == ALLOT_MSG_NOTIFICATION || type == ALLOT_MSG_RESPONSE)
		return PROTO_IGNORED;
	if (type != ALLOT_MSG_REQUEST || n != 4 || !read_msgid(&c, &msgid))
		return refuse(why, ALLOT_ERR_BAD_REQUEST, CORE_E_BAD_REQUEST,
		    "not a msgpack-rpc request: expected [0, msgid (uint32), method, params]");
	why->msgid = req->msgid = (uint32_t)msgid;
	if (!mp_read_str(&c, &name, &name_len) || !read_params(&c, &req->params))
		return refuse(why, ALLOT_ERR_BAD_REQUEST, CORE_E_BAD_REQUEST,
		    "params: a request is [0, msgid, method (string), params ([] or [map])]");
	req->params_at = req->params ? c : (mp_cursor){ NULL, NULL };
	req->cmd = cmd_lookup(name, name_len);
	if (req->cmd == NULL) {
		snprintf(why->message, sizeof(why->message), "no method '%.*s'",
		    (int)(name_len > 64 ? 64 : name_len), name);
		why->code = ALLOT_ERR_UNKNOWN_METHOD;
		why->core_code = PROTO_E_UNKNOWN_METHOD;
		return PROTO_REFUSED;
	}
	why->cmd = req->cmd;
	return PROTO_REQUEST;
}

int proto_decode_params(proto_decoder *d, proto_request *req, proto_refusal *why)
{
	params p;
	assert(req->cmd != NULL && req->cmd->id < CMD_COUNT);
	if (start_params(&p, req->params ? &req->params_at : NULL) || decoders[req->cmd->id](d, &p, req)) {
		refuse(why, core_strerror(p.code), p.code, p.message);
		return -1;
	}
	assert(!(req->cmd->flags & CMD_MUTATES) ||
	    (req->u.change.type >= CORE_CMD_STOCK_SET && req->u.change.type <= CORE_CMD_LAST));
	return 0;
}
