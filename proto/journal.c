/*
 * journal.c - journal records (see journal.h).
 *
 * Each record kind's fields are one list below, F(how, member...), in the
 * order they are stored after [kind, now_ms]. The same list generates the
 * encoder, the decoder and the field count, so the three cannot disagree:
 * adding a field is adding it to the list (and to PROTOCOL.md).
 */
#include "journal.h"

#include "durable.h"

#include <assert.h>
#include <stdbool.h>

/* ---- the record kinds ----------------------------------------------------- */

/*
 * X(NAME, member, method): JOURNAL_KIND_NAME records CORE_CMD_NAME, whose
 * arguments are core_cmd.u.member, and NAME_FIELDS lists its fields.
 */
#define JOURNAL_CMD_KINDS(X) \
	X(STOCK_SET, stock, "stock.set") \
	X(STOCK_ADJUST, stock, "stock.adjust") \
	X(RESTOCK, stock, "restock") \
	X(RESERVE, reserve, "reserve") \
	X(COMMIT, resv, "commit") \
	X(RELEASE, resv, "release") \
	X(FULFILL, resv, "fulfill") \
	X(EXTEND, resv, "extend") \
	X(LOCATION_PUT, location, "location.put") \
	X(CHANNEL_PUT, channel, "channel.put") \
	X(SKU_PUT, sku, "sku.put") \
	X(INBOUND_ADD, inbound, "inbound.add") \
	X(INBOUND_RECEIVE, inbound, "inbound.receive")

#define STOCK_SET_FIELDS(F) \
	F(STR, sku) F(STR, location) F(INT, on_hand) F(INT, safety) F(INT, if_version)
/* Adjust records written before if_version (format 2 and older) have the
 * first fields only. */
#define STOCK_ADJUST_V1_FIELDS(F) \
	F(STR, sku) F(STR, location) F(INT, delta) F(STR, reason) F(STR, idempotency_key)
#define STOCK_ADJUST_FIELDS(F) STOCK_ADJUST_V1_FIELDS(F) F(INT, if_version)
#define RESTOCK_FIELDS(F) \
	F(STR, sku) F(STR, location) F(INT, delta) F(STR, reason)
/* Reserve records written before ship_to and allow_backorder have the
 * first fields only. */
#define RESERVE_V1_FIELDS(F) \
	F(STR, order_id) F(LINES, lines, nlines) F(STR, channel) F(STR, customer_id) \
	F(INT, ttl_ms) F(STRATEGY, strategy) F(SPLIT, split) F(U16, max_shipments) \
	F(BOOL, allow_partial) F(STR, idempotency_key)
#define RESERVE_V2_FIELDS(F) \
	F(OPT_F64, has_ship_to, ship_lat) F(OPT_F64_TOO, has_ship_to, ship_lon) \
	F(BOOL, allow_backorder)
#define RESERVE_FIELDS(F) RESERVE_V1_FIELDS(F) RESERVE_V2_FIELDS(F)
#define COMMIT_FIELDS(F) F(STR, reservation_id)
#define RELEASE_FIELDS(F) F(STR, reservation_id) F(LINES, lines, nlines)
#define FULFILL_FIELDS(F) F(STR, reservation_id) F(LINES, lines, nlines)
#define EXTEND_FIELDS(F) F(STR, reservation_id) F(INT, ttl_ms)
#define LOCATION_PUT_FIELDS(F) \
	F(STR, location) F(OPT_F64, has_coords, lat) F(OPT_F64_TOO, has_coords, lon) \
	F(OPT_INT, has_priority, priority) F(OPT_F64, has_cost, cost) \
	F(OPT_F64, has_cost_per_km, cost_per_km) F(OPT_COUNT, capacity) F(OPT_BOOL, enabled) \
	F(TAGS, has_tags, ntags, tags)
#define CHANNEL_PUT_FIELDS(F) \
	F(STR, channel) F(NAMES, has_locations, nlocations, locations) F(OPT_COUNT, buffer) \
	F(BOOL, all_locations)
#define SKU_PUT_FIELDS(F) \
	F(STR, sku) F(OPT_COUNT, per_order) F(OPT_COUNT, per_customer) F(OPT_COUNT, low_stock)
#define INBOUND_ADD_FIELDS(F) \
	F(STR, sku) F(STR, location) F(INT, qty) F(INT, eta_ms) F(STR, ref)
#define INBOUND_RECEIVE_FIELDS(F) \
	F(STR, sku) F(STR, location) F(INT, qty) F(STR, ref)
/* Of journal_entry itself. */
#define SWEEP_FIELDS(F) F(U32, forgot_reservations) F(U32, forgot_keys)

/* Fields after [kind, now_ms], counted from the lists. */
#define COUNT_FIELD(how, ...) +1
#define FIELD_COUNT(NAME, member, method) NAME##_COUNT = 0 NAME##_FIELDS(COUNT_FIELD),
enum {
	JOURNAL_CMD_KINDS(FIELD_COUNT)
	SWEEP_COUNT = 0 SWEEP_FIELDS(COUNT_FIELD),
	RESERVE_V1_COUNT = 0 RESERVE_V1_FIELDS(COUNT_FIELD),
	STOCK_ADJUST_V1_COUNT = 0 STOCK_ADJUST_V1_FIELDS(COUNT_FIELD),
};
/* Every record starts [kind, now_ms, who, ...]; format 1's had no who. */
#define RECORD_HEAD 3
#define RECORD_HEAD_V1 2
_Static_assert(DURABLE_FORMAT == 3, "the records' head is format 2's and 3's: [kind, now_ms, who]");

/* Every core command has a kind; a command added to the core must be
 * added to JOURNAL_CMD_KINDS (the count below then fails to match). */
#define COUNT_KIND(NAME, member, method) +1
_Static_assert(CORE_CMD_STOCK_SET == 1 && CORE_CMD_LAST == CORE_CMD_INBOUND_RECEIVE &&
    0 JOURNAL_CMD_KINDS(COUNT_KIND) == CORE_CMD_LAST,
    "every core command needs a journal record kind in JOURNAL_CMD_KINDS");
/*
 * The switches below that map core enums to stored numbers have no
 * default, so -Wswitch (an error in this build) also names any core
 * command, strategy or split that lacks a number.
 */

journal_kind journal_kind_of_cmd(core_cmd_type type)
{
	switch (type) {
#define KIND_OF_CMD(NAME, member, method) case CORE_CMD_##NAME: return JOURNAL_KIND_##NAME;
	JOURNAL_CMD_KINDS(KIND_OF_CMD)
#undef KIND_OF_CMD
	}
	return (journal_kind)0;
}

bool journal_cmd_of_kind(journal_kind kind, core_cmd_type *out)
{
	switch (kind) {
#define CMD_OF_KIND(NAME, member, method) case JOURNAL_KIND_##NAME: *out = CORE_CMD_##NAME; return true;
	JOURNAL_CMD_KINDS(CMD_OF_KIND)
#undef CMD_OF_KIND
	case JOURNAL_KIND_SWEEP:
		break;
	}
	return false;
}

const char *journal_kind_name(journal_kind kind)
{
	switch (kind) {
#define NAME_OF_KIND(NAME, member, method) case JOURNAL_KIND_##NAME: return method;
	JOURNAL_CMD_KINDS(NAME_OF_KIND)
#undef NAME_OF_KIND
	case JOURNAL_KIND_SWEEP:
		return "sweep";
	}
	return NULL;
}

/* Fields after [kind, now_ms]; 0 for an unknown kind. */
static uint32_t fields_of(journal_kind kind)
{
	switch (kind) {
#define COUNT_OF_KIND(NAME, member, method) case JOURNAL_KIND_##NAME: return NAME##_COUNT;
	JOURNAL_CMD_KINDS(COUNT_OF_KIND)
#undef COUNT_OF_KIND
	case JOURNAL_KIND_SWEEP:
		return SWEEP_COUNT;
	}
	return 0;
}

static uint64_t strategy_number(core_strategy s)
{
	switch (s) {
	case CORE_STRATEGY_PRIORITY: return JOURNAL_STRATEGY_PRIORITY;
	case CORE_STRATEGY_NEAREST: return JOURNAL_STRATEGY_NEAREST;
	case CORE_STRATEGY_CHEAPEST: return JOURNAL_STRATEGY_CHEAPEST;
	case CORE_STRATEGY_MOST_STOCK: return JOURNAL_STRATEGY_MOST_STOCK;
	}
	assert(!"a strategy without a journal number");
	return JOURNAL_STRATEGY_PRIORITY;
}

static uint64_t split_number(core_split s)
{
	switch (s) {
	case CORE_SPLIT_UNITS: return JOURNAL_SPLIT_UNITS;
	case CORE_SPLIT_LINES: return JOURNAL_SPLIT_LINES;
	case CORE_SPLIT_NONE: return JOURNAL_SPLIT_NONE;
	}
	assert(!"a split without a journal number");
	return JOURNAL_SPLIT_UNITS;
}

static const core_strategy strategy_of_number[JOURNAL_STRATEGY_MAX + 1] = {
	[JOURNAL_STRATEGY_PRIORITY] = CORE_STRATEGY_PRIORITY,
	[JOURNAL_STRATEGY_NEAREST] = CORE_STRATEGY_NEAREST,
	[JOURNAL_STRATEGY_CHEAPEST] = CORE_STRATEGY_CHEAPEST,
	[JOURNAL_STRATEGY_MOST_STOCK] = CORE_STRATEGY_MOST_STOCK,
};

static const core_split split_of_number[JOURNAL_SPLIT_MAX + 1] = {
	[JOURNAL_SPLIT_UNITS] = CORE_SPLIT_UNITS,
	[JOURNAL_SPLIT_LINES] = CORE_SPLIT_LINES,
	[JOURNAL_SPLIT_NONE] = CORE_SPLIT_NONE,
};

_Static_assert(sizeof(strategy_of_number) / sizeof(strategy_of_number[0]) == CORE_STRATEGY_LAST + 1,
    "every core strategy needs a JOURNAL_STRATEGY_ number, and every number a strategy");

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

static void put_opt_int(mp_buf *out, bool given, int64_t v)
{
	if (given)
		mp_write_int(out, v);
	else
		mp_write_nil(out);
}

/* -1: not given, else 0 or 1. */
static void put_opt_bool(mp_buf *out, int v)
{
	if (v >= 0)
		mp_write_bool(out, v == 1);
	else
		mp_write_nil(out);
}

/* Names (tags, a channel's locations) given, or nil. */
static void put_names(mp_buf *out, bool given, const core_str *names, uint32_t n)
{
	if (!given) {
		mp_write_nil(out);
		return;
	}
	mp_write_array(out, n);
	for (uint32_t i = 0; i < n; i++)
		put_str(out, names[i]);
}

#define PUT_STR(v, m) put_str(out, (v)->m);
#define PUT_INT(v, m) mp_write_int(out, (v)->m);
#define PUT_BOOL(v, m) mp_write_bool(out, (v)->m);
#define PUT_U16(v, m) mp_write_uint(out, (v)->m);
#define PUT_U32(v, m) mp_write_uint(out, (v)->m);
#define PUT_STRATEGY(v, m) mp_write_uint(out, strategy_number((v)->m));
#define PUT_SPLIT(v, m) mp_write_uint(out, split_number((v)->m));
#define PUT_LINES(v, m, n) put_lines(out, (v)->m, (v)->n);
#define PUT_OPT_F64(v, has, m) put_opt_double(out, (v)->has, (v)->m);
#define PUT_OPT_F64_TOO(v, has, m) put_opt_double(out, (v)->has, (v)->m);
#define PUT_OPT_INT(v, has, m) put_opt_int(out, (v)->has, (v)->m);
#define PUT_OPT_COUNT(v, m) put_opt_int(out, (v)->m >= 0, (v)->m);
#define PUT_OPT_BOOL(v, m) put_opt_bool(out, (v)->m);
#define PUT_TAGS(v, has, n, m) put_names(out, (v)->has, (v)->m, (v)->n);
#define PUT_NAMES(v, has, n, m) put_names(out, (v)->has, (v)->m, (v)->n);
#define PUT_FIELD(how, ...) PUT_##how(v, __VA_ARGS__)

#define ENCODER(NAME, member, method) \
	static void encode_##NAME(mp_buf *out, const core_cmd *cmd, int64_t now_ms, core_str who) \
	{ \
		const __typeof__(cmd->u.member) *v = &cmd->u.member; \
		mp_write_array(out, RECORD_HEAD + NAME##_COUNT); \
		mp_write_uint(out, JOURNAL_KIND_##NAME); \
		mp_write_int(out, now_ms); \
		mp_write_str(out, who.p, who.len); \
		NAME##_FIELDS(PUT_FIELD) \
	}
JOURNAL_CMD_KINDS(ENCODER)

void journal_encode_cmd(mp_buf *out, const core_cmd *cmd, int64_t now_ms, core_str who)
{
	assert(journal_kind_of_cmd(cmd->type) != 0);
	assert(who.p != NULL && who.len > 0 && who.len <= JOURNAL_WHO_MAX);
	switch (cmd->type) {
#define ENCODE_CMD(NAME, member, method) case CORE_CMD_##NAME: encode_##NAME(out, cmd, now_ms, who); break;
	JOURNAL_CMD_KINDS(ENCODE_CMD)
#undef ENCODE_CMD
	}
}

void journal_encode_sweep(mp_buf *out, int64_t now_ms, uint32_t reservations, uint32_t keys)
{
	const journal_entry sweep = { .forgot_reservations = reservations, .forgot_keys = keys };
	const journal_entry *v = &sweep;
	mp_write_array(out, RECORD_HEAD + SWEEP_COUNT);
	mp_write_uint(out, JOURNAL_KIND_SWEEP);
	mp_write_int(out, now_ms);
	mp_write_nil(out); /* the engine's own housekeeping: nobody's */
	SWEEP_FIELDS(PUT_FIELD)
}

/* ---- decoding -------------------------------------------------------------- */

typedef struct reader {
	mp_cursor cur;
	core_line_req *lines;
	uint32_t lines_cap;
	core_str *names;
	uint32_t names_cap;
	core_str *tags;   /* CORE_TAGS_MAX, in the entry */
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

static bool get_bool(reader *r, bool *out)
{
	if (!mp_read_bool(&r->cur, out))
		return r->err = "a boolean field is not a boolean", false;
	return true;
}

static bool get_strategy(reader *r, core_strategy *out)
{
	uint32_t n;
	if (!get_small(r, JOURNAL_STRATEGY_MAX, &n))
		return false;
	*out = strategy_of_number[n];
	return true;
}

static bool get_split(reader *r, core_split *out)
{
	uint32_t n;
	if (!get_small(r, JOURNAL_SPLIT_MAX, &n))
		return false;
	*out = split_of_number[n];
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

/* The second of a pair given together (lat and lon): present exactly when
 * the first was. */
static bool get_opt_double_too(reader *r, bool first_given, double *out)
{
	bool given;
	if (!get_opt_double(r, &given, out))
		return false;
	if (given != first_given)
		return r->err = "a record has a latitude without a longitude", false;
	return true;
}

static bool get_opt_int(reader *r, bool *given, int64_t *out)
{
	*given = !mp_read_nil(&r->cur);
	return !*given || get_int(r, out);
}

/* A count, or nil for -1 (not given). */
static bool get_opt_count(reader *r, int64_t *out)
{
	bool given;
	if (!get_opt_int(r, &given, out))
		return false;
	if (!given)
		*out = -1;
	return true;
}

/* A boolean, or nil for -1 (not given). */
static bool get_opt_bool(reader *r, int *out)
{
	bool v;
	if (mp_read_nil(&r->cur)) {
		*out = -1;
		return true;
	}
	if (!get_bool(r, &v))
		return false;
	*out = v;
	return true;
}

/* nil, or an array of at most cap strings into to[]. */
static bool get_names(reader *r, bool *given, uint32_t *n, const core_str **names, core_str *to,
    uint32_t cap)
{
	*given = !mp_read_nil(&r->cur);
	if (!*given)
		return true;
	uint32_t count;
	if (!mp_read_array(&r->cur, &count))
		return r->err = "a list of names is not an array", false;
	if (count > cap)
		return r->err = "a list of names is longer than the engine allows", false;
	for (uint32_t i = 0; i < count; i++)
		if (!get_str(r, &to[i]) || to[i].p == NULL)
			return r->err = "a name in a list is not a string", false;
	*n = count;
	*names = to;
	return true;
}

#define GET_STR(v, m) get_str(r, &(v)->m)
#define GET_INT(v, m) get_int(r, &(v)->m)
#define GET_BOOL(v, m) get_bool(r, &(v)->m)
#define GET_U16(v, m) get_small(r, UINT16_MAX, &(v)->m)
#define GET_U32(v, m) get_small(r, UINT32_MAX, &(v)->m)
#define GET_STRATEGY(v, m) get_strategy(r, &(v)->m)
#define GET_SPLIT(v, m) get_split(r, &(v)->m)
#define GET_LINES(v, m, n) get_lines(r, &(v)->m, &(v)->n)
#define GET_OPT_F64(v, has, m) get_opt_double(r, &(v)->has, &(v)->m)
#define GET_OPT_F64_TOO(v, has, m) get_opt_double_too(r, (v)->has, &(v)->m)
#define GET_OPT_INT(v, has, m) get_opt_int(r, &(v)->has, &(v)->m)
#define GET_OPT_COUNT(v, m) get_opt_count(r, &(v)->m)
#define GET_OPT_BOOL(v, m) get_opt_bool(r, &(v)->m)
#define GET_TAGS(v, has, n, m) get_names(r, &(v)->has, &(v)->n, &(v)->m, r->tags, CORE_TAGS_MAX)
#define GET_NAMES(v, has, n, m) get_names(r, &(v)->has, &(v)->n, &(v)->m, r->names, r->names_cap)
#define GET_FIELD(how, ...) && GET_##how(v, __VA_ARGS__)

/* Read the fields of kind NAME into e->cmd.u.member; fields is how many
 * the record has (a count fields_of() allowed). */
#define DECODER(NAME, member, method) \
	static bool decode_##NAME(reader *r, journal_entry *e, uint32_t fields) \
	{ \
		__typeof__(e->cmd.u.member) *v = &e->cmd.u.member; \
		(void)fields; \
		return true NAME##_FIELDS(GET_FIELD); \
	}
JOURNAL_CMD_KINDS(DECODER)

/* A reserve record of the first fields only reads as without the rest;
 * either way it names lines. */
static bool decode_reserve(reader *r, journal_entry *e, uint32_t fields)
{
	core_reserve_cmd *v = &e->cmd.u.reserve;
	if (fields != RESERVE_V1_COUNT)
		return decode_RESERVE(r, e, fields) &&
		    (v->lines != NULL || (r->err = "a reserve record has no lines", false));
	return (true RESERVE_V1_FIELDS(GET_FIELD)) &&
	    (v->lines != NULL || (r->err = "a reserve record has no lines", false));
}

static bool decode_fields(reader *r, journal_entry *e, uint32_t fields)
{
	switch (e->kind) {
	case JOURNAL_KIND_STOCK_ADJUST:
	case JOURNAL_KIND_RESTOCK:
		/* Not recorded: these commands keep them (adjust's if_version
		 * only in records of the first fields). */
		e->cmd.u.stock.safety = e->cmd.u.stock.if_version = -1;
		break;
	default:
		break;
	}
	if (e->kind == JOURNAL_KIND_RESERVE)
		return decode_reserve(r, e, fields);
	if (e->kind == JOURNAL_KIND_STOCK_ADJUST && fields == STOCK_ADJUST_V1_COUNT) {
		core_stock_cmd *v = &e->cmd.u.stock;
		return true STOCK_ADJUST_V1_FIELDS(GET_FIELD);
	}
	switch (e->kind) {
	case JOURNAL_KIND_SWEEP: {
		journal_entry *v = e;
		return true SWEEP_FIELDS(GET_FIELD);
	}
#define DECODE_KIND(NAME, member, method) case JOURNAL_KIND_##NAME: return decode_##NAME(r, e, fields);
	JOURNAL_CMD_KINDS(DECODE_KIND)
#undef DECODE_KIND
	}
	return r->err = "unknown record kind", false;
}

/* who: nil, or a string of 1 to JOURNAL_WHO_MAX bytes. */
static bool get_who(reader *r, core_str *who)
{
	if (!get_str(r, who))
		return false;
	if (who->p && (who->len == 0 || who->len > JOURNAL_WHO_MAX))
		return r->err = "a record's who is empty or too long", false;
	return true;
}

int journal_decode_format(const uint8_t *buf, size_t len, uint32_t format, journal_entry *e,
    const journal_scratch *scratch, const char **err)
{
	reader r = { .lines = scratch->lines, .lines_cap = scratch->lines_cap, .names = scratch->names,
		.names_cap = scratch->names_cap, .tags = e->tags, .err = NULL };
	mp_cursor_init(&r.cur, buf, len);
	*e = (journal_entry){ 0 };
	uint32_t n, kind, head = format >= 2 ? RECORD_HEAD : RECORD_HEAD_V1;
	if (format < DURABLE_FORMAT_OLDEST || format > DURABLE_FORMAT) {
		*err = "a record of a durable format this build does not read";
		return -1;
	}
	if (!mp_read_array(&r.cur, &n) || n < head) {
		*err = format >= 2 ? "a record is not an array [kind, now_ms, who, ...]"
		                   : "a record is not an array [kind, now_ms, ...]";
		return -1;
	}
	if (!get_small(&r, JOURNAL_KIND_MAX, &kind) || !get_int(&r, &e->now_ms) ||
	    (head == RECORD_HEAD && !get_who(&r, &e->who))) {
		*err = r.err;
		return -1;
	}
	e->kind = (journal_kind)kind;
	uint32_t fields = n - head;
	bool old_layout = (e->kind == JOURNAL_KIND_RESERVE && fields == RESERVE_V1_COUNT) ||
	    (e->kind == JOURNAL_KIND_STOCK_ADJUST && fields == STOCK_ADJUST_V1_COUNT);
	if (fields_of(e->kind) == 0 || (fields != fields_of(e->kind) && !old_layout)) {
		*err = "unknown record kind, or the wrong number of fields for it";
		return -1;
	}
	if (e->kind != JOURNAL_KIND_SWEEP && !journal_cmd_of_kind(e->kind, &e->cmd.type)) {
		*err = "unknown record kind";
		return -1;
	}
	if (!decode_fields(&r, e, fields)) {
		*err = r.err;
		return -1;
	}
	if (r.cur.p != r.cur.end) {
		*err = "bytes after the record";
		return -1;
	}
	return 0;
}

int journal_decode(const uint8_t *buf, size_t len, journal_entry *e,
    const journal_scratch *scratch, const char **err)
{
	return journal_decode_format(buf, len, DURABLE_FORMAT, e, scratch, err);
}
