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
}

/* Fields after [type, now_ms] for each command type. */
static uint32_t fields_of(int type)
{
	switch (type) {
	case CORE_CMD_STOCK_SET: return 5;
	case CORE_CMD_STOCK_ADJUST: return 5;
	case CORE_CMD_RESTOCK: return 4;
	case CORE_CMD_RESERVE: return 10;
	case CORE_CMD_COMMIT: return 1;
	case CORE_CMD_RELEASE: return 2;
	case CORE_CMD_FULFILL: return 2;
	case CORE_CMD_EXTEND: return 2;
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

static bool get_reserve(reader *r, core_reserve_cmd *c)
{
	uint32_t strategy, split;
	bool ok = get_str(r, &c->order_id) && get_lines(r, &c->lines, &c->nlines) &&
	    get_str(r, &c->channel) && get_str(r, &c->customer_id) && get_int(r, &c->ttl_ms) &&
	    get_small(r, CORE_STRATEGY_PRIORITY, &strategy) && get_small(r, CORE_SPLIT_NONE, &split) &&
	    get_small(r, UINT16_MAX, &c->max_shipments);
	if (!ok)
		return false;
	c->strategy = (core_strategy)strategy;
	c->split = (core_split)split;
	if (!mp_read_bool(&r->cur, &c->allow_partial))
		return r->err = "allow_partial is not a boolean", false;
	if (c->lines == NULL)
		return r->err = "a reserve record has no lines", false;
	return get_str(r, &c->idempotency_key);
}

static bool get_fields(reader *r, journal_entry *e)
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
		return get_reserve(r, &e->cmd.u.reserve);
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
    core_line_req *lines, uint32_t lines_cap, const char **err)
{
	reader r = { .lines = lines, .lines_cap = lines_cap, .err = NULL };
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
	if (fields_of(e->type) == 0 || n != 2 + fields_of(e->type)) {
		*err = "unknown record type, or the wrong number of fields for it";
		return -1;
	}
	if (!get_fields(&r, e)) {
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
