/*
 * resv_reserve.c - reserve and quote: validate an order, check its purchase
 * limits, plan it (plan.h), and hold the plan's units in a new reservation
 * laid out as one allocation (see core_internal.h).
 */
#include "core_internal.h"
#include "idem.h"
#include "plan.h"

#include <math.h>
#include <stdlib.h>

static uint64_t reserve_params_hash(const core *c, const core_reserve_cmd *cmd, int64_t ttl_ms)
{
	uint64_t h = hash_bytes(c->cfg.hash_seed, cmd->order_id.p, cmd->order_id.len);
	for (uint32_t i = 0; i < cmd->nlines; i++) {
		h = hash_mix(h ^ hash_bytes(h, cmd->lines[i].sku.p, cmd->lines[i].sku.len));
		h = hash_mix(h ^ (uint64_t)cmd->lines[i].qty);
	}
	/* Empty channel / customer_id may be { NULL, 0 }: see adjust_params_hash. */
	h = hash_mix(h ^ hash_bytes(h, cmd->channel.len ? cmd->channel.p : "", cmd->channel.len));
	h = hash_mix(h ^ hash_bytes(h, cmd->customer_id.len ? cmd->customer_id.p : "",
	    cmd->customer_id.len));
	h = hash_mix(h ^ (uint64_t)ttl_ms);
	h = hash_mix(h ^ ((uint64_t)cmd->strategy << 40 | (uint64_t)cmd->split << 32 |
	    (uint64_t)cmd->max_shipments << 1 | cmd->allow_partial));
	/* Later fields only when given, so keys made before them still match. */
	if (cmd->has_ship_to) {
		uint64_t lat, lon;
		memcpy(&lat, &cmd->ship_lat, sizeof(lat));
		memcpy(&lon, &cmd->ship_lon, sizeof(lon));
		h = hash_mix(h ^ lat ^ 0x5417);
		h = hash_mix(h ^ lon);
	}
	if (cmd->allow_backorder)
		h = hash_mix(h ^ 0xbac0);
	return h;
}

static int reserve_validate(core *c, const core_reserve_cmd *cmd, int64_t *ttl_ms,
    const core_channel **ch, core_error *err)
{
	if (!name_valid(cmd->order_id, CORE_ORDER_ID_MAX))
		return core_fail(err, CORE_E_BAD_REQUEST,
		    "order_id: must be 1 to %d bytes without control characters", CORE_ORDER_ID_MAX);
	if (cmd->nlines == 0)
		return core_fail(err, CORE_E_BAD_REQUEST, "lines: an order needs at least one line");
	if (cmd->nlines > c->cfg.lines_max)
		return core_fail(err, CORE_E_TOO_LARGE, "lines: at most %u lines per order", c->cfg.lines_max);
	*ttl_ms = cmd->ttl_ms == -1 ? c->cfg.ttl_default_ms : cmd->ttl_ms; /* only -1 is "not given" */
	if (*ttl_ms < 1 || *ttl_ms > c->cfg.ttl_max_ms)
		return core_fail(err, CORE_E_BAD_REQUEST, "ttl_ms: must be 1 to %lld",
		    (long long)c->cfg.ttl_max_ms);
	if (cmd->channel.p) {
		int rc = core_channel_find(c, cmd->channel, ch, err);
		if (rc)
			return rc;
	}
	if (cmd->customer_id.p && !name_valid(cmd->customer_id, CORE_CUSTOMER_ID_MAX))
		return core_fail(err, CORE_E_BAD_REQUEST,
		    "customer_id: must be 1 to %d bytes without control characters", CORE_CUSTOMER_ID_MAX);
	if (cmd->idempotency_key.p && !name_valid(cmd->idempotency_key, CORE_KEY_MAX))
		return core_fail(err, CORE_E_BAD_REQUEST,
		    "idempotency_key: must be 1 to %d bytes without control characters", CORE_KEY_MAX);
	if ((unsigned)cmd->strategy > CORE_STRATEGY_LAST)
		return core_fail(err, CORE_E_BAD_REQUEST,
		    "strategy: must be priority, nearest, cheapest or most_stock");
	if ((unsigned)cmd->split > CORE_SPLIT_NONE)
		return core_fail(err, CORE_E_BAD_REQUEST, "split: must be units, lines or none");
	if (cmd->max_shipments > CORE_MAX_SHIPMENTS_MAX)
		return core_fail(err, CORE_E_BAD_REQUEST, "max_shipments: must be 0 to %d",
		    CORE_MAX_SHIPMENTS_MAX);
	if (cmd->has_ship_to && !(isfinite(cmd->ship_lat) && cmd->ship_lat >= -90 && cmd->ship_lat <= 90 &&
	    isfinite(cmd->ship_lon) && cmd->ship_lon >= -180 && cmd->ship_lon <= 180))
		return core_fail(err, CORE_E_BAD_REQUEST,
		    "ship_to: lat must be -90 to 90 and lon -180 to 180");
	for (uint32_t i = 0; i < cmd->nlines; i++) {
		const core_line_req *l = &cmd->lines[i];
		if (!name_valid(l->sku, CORE_NAME_MAX))
			return core_fail(err, CORE_E_BAD_REQUEST,
			    "lines[%u].sku: must be 1 to %d bytes without control characters", i, CORE_NAME_MAX);
		if (l->qty < 1 || l->qty > CORE_QTY_MAX)
			return core_fail(err, CORE_E_BAD_REQUEST, "lines[%u].qty: must be 1 to %lld", i, CORE_QTY_MAX);
		c->plan_skus[i] = sku_find(c, l->sku);
		for (uint32_t j = 0; j < i; j++)
			if (cmd->lines[j].sku.len == l->sku.len &&
			    memcmp(cmd->lines[j].sku.p, l->sku.p, l->sku.len) == 0)
				return core_fail(err, CORE_E_BAD_REQUEST,
				    "lines[%u].sku: the same sku as lines[%u]; one line per sku", i, j);
	}
	return 0;
}

static int out_of_stock(core *c, const plan_result *p, core_error *err)
{
	core_fail(err, CORE_E_OUT_OF_STOCK, "%u of the order's lines cannot be covered", p->nshort);
	err->nshort = p->nshort;
	err->short_lines = c->shorts;
	return CORE_E_OUT_OF_STOCK;
}

/* Make sure a new reservation fits: forget the oldest finished one when the
 * table is full (swept by sweep_before()). Called only once nothing else
 * can fail. */
static void make_room(core *c)
{
	core_resv *r = resv_count(c) >= c->cfg.reservations_max ? resv_oldest_finished(c) : NULL;
	if (r == NULL)
		return;
	assert(r->status != CORE_RESV_HELD);
	resv_forget(c, r);
}

/*
 * Before a reserve prepares anything, sweep what it would otherwise meet
 * unswept (expiry.c); neither changes what the state says. The oldest
 * finished reservation, when the table is full and it is lazily expired:
 * make_room() forgets it, and sweeping it then could free a customer's
 * entry cust_prepare() counted on. And every lazily expired hold when a
 * record's reserved, which counts them until they are swept, would not
 * hold the new units in 32 bits: only after storms of huge holds gone
 * unswept, so the O(backlog) stall is acceptable there.
 */
static void sweep_before(core *c, const plan_result *p)
{
	core_resv *old = resv_count(c) >= c->cfg.reservations_max ? resv_oldest_finished(c) : NULL;
	if (old && old->status == CORE_RESV_HELD)
		expire_one(c, old);
	for (uint32_t k = 0; k < p->nplan; k++) {
		if (!c->plan[k].backorder && (uint64_t)c->plan[k].rec->reserved + c->plan[k].qty > UINT32_MAX) {
			expiry_drain(c);
			break;
		}
	}
}

/* Room on the waiting list of each sku the plan backorders (a receipt
 * fills from it); -1 without memory. Pruning a list changes nothing a read
 * sees, so it may happen even if the reserve then fails. */
static int waiting_room(core *c, const plan_result *p)
{
	for (uint32_t k = 0; k < p->nplan; k++)
		if (c->plan[k].backorder && inbound_waiting_room(c, c->plan_skus[c->plan[k].line]) != 0)
			return -1;
	return 0;
}

static core_resv *resv_build(core *c, const core_reserve_cmd *cmd, const plan_result *p, int64_t ttl_ms)
{
	size_t size = sizeof(core_resv) + cmd->nlines * sizeof(core_rline) +
	    p->nplan * sizeof(core_ralloc) + cmd->order_id.len + 1u + cmd->customer_id.len;
	for (uint32_t i = 0; i < cmd->nlines; i++)
		if (c->plan_skus[i] == NULL) /* unknown sku, kept by name */
			size += 1u + cmd->lines[i].sku.len;
	core_resv *r = malloc(size);
	if (r == NULL)
		return NULL;
	*r = (core_resv){
		.id = c->id_base + c->next_seq,
		.expires_at_ms = c->now_ms + ttl_ms,
		.orig_expires_at_ms = c->now_ms + ttl_ms,
		.finished_at_ms = -1,
		.heap_idx = HEAP_NONE,
		.nlines = (uint16_t)cmd->nlines,
		.status = CORE_RESV_HELD,
		.order_id_len = (uint8_t)cmd->order_id.len,
	};
	core_ralloc *al = resv_allocs(r);
	uint32_t k = 0;
	for (uint32_t i = 0; i < cmd->nlines; i++) {
		core_rline *l = &r->lines[i];
		*l = (core_rline){ .sku = c->plan_skus[i], .qty = (uint32_t)cmd->lines[i].qty,
			.alloc_first = (uint16_t)k };
		while (k < p->nplan && c->plan[k].line == i) {
			al[k] = (core_ralloc){ c->plan[k].qty, c->plan[k].qty, c->plan[k].loc, c->plan[k].backorder };
			k++;
			l->nallocs++;
		}
	}
	char *tail = (char *)(al + p->nplan);
	memcpy(tail, cmd->order_id.p, cmd->order_id.len);
	tail += cmd->order_id.len;
	*tail++ = (char)(uint8_t)cmd->customer_id.len;
	if (cmd->customer_id.len)
		memcpy(tail, cmd->customer_id.p, cmd->customer_id.len);
	tail += cmd->customer_id.len;
	for (uint32_t i = 0; i < cmd->nlines; i++) {
		if (c->plan_skus[i] != NULL)
			continue;
		*tail++ = (char)(uint8_t)cmd->lines[i].sku.len;
		memcpy(tail, cmd->lines[i].sku.p, cmd->lines[i].sku.len);
		tail += cmd->lines[i].sku.len;
	}
	return r;
}

/* Purchase limits: each line within its sku's per-order limit and what
 * its per-customer limit leaves the customer. */
static int check_limits(core *c, const core_reserve_cmd *cmd, core_error *err)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < cmd->nlines && table_count(&c->pol_by_sku); i++) {
		const core_skupol *pol = policy_of(c, c->plan_skus[i]);
		if (pol == NULL || (pol->per_order == 0 && pol->per_customer == 0))
			continue;
		int64_t allowed = pol->per_order ? pol->per_order : CORE_QTY_MAX;
		if (pol->per_customer) {
			if (cmd->customer_id.p == NULL)
				return core_fail(err, CORE_E_BAD_REQUEST, "customer_id: required, as sku '%.*s' has a "
				    "per-customer limit", (int)cmd->lines[i].sku.len, cmd->lines[i].sku.p);
			const core_cust *e = cust_find(c, cmd->customer_id, c->plan_skus[i]);
			int64_t left = (int64_t)pol->per_customer - (int64_t)(e ? cust_units(c, e) : 0);
			allowed = left < allowed ? (left > 0 ? left : 0) : allowed;
		}
		if (cmd->lines[i].qty > allowed)
			c->shorts[n++] = (core_short_line){ cmd->lines[i].sku, cmd->lines[i].qty, allowed };
	}
	if (n == 0)
		return 0;
	core_fail(err, CORE_E_LIMIT_EXCEEDED, "%u of the order's lines exceed a purchase limit "
	    "(lines[].allowed is what the order may still take)", n);
	err->nshort = n;
	err->short_lines = c->shorts;
	return CORE_E_LIMIT_EXCEEDED;
}

/* Plan an order that passed reserve_validate(): what reserve would hold,
 * or why it cannot. */
static int reserve_plan(core *c, const core_reserve_cmd *cmd, const core_channel *ch, plan_result *p,
    core_error *err)
{
	int rc = check_limits(c, cmd, err);
	if (rc)
		return rc;
	plan_scope scope = { ch && !ch->all ? ch->bits : NULL, ch ? ch->buffer : 0 };
	rc = plan_make(c, cmd, &scope, p, err);
	if (rc)
		return rc;
	if (p->nshort && (!cmd->allow_partial || p->units == 0))
		return out_of_stock(c, p, err);
	return 0;
}

int core_quote(core *c, const core_reserve_cmd *cmd, core_error *err)
{
	plan_forget(c);
	int64_t ttl_ms = 0;
	const core_channel *ch = NULL;
	int rc = reserve_validate(c, cmd, &ttl_ms, &ch, err);
	if (rc)
		return rc;
	plan_result p;
	return reserve_plan(c, cmd, ch, &p, err);
}

/* The new reservation's lines of skus with a per-customer limit, into
 * c->cust_skus; their count. */
static uint32_t limited_lines(core *c, const core_reserve_cmd *cmd)
{
	uint32_t n = 0;
	for (uint32_t i = 0; cmd->customer_id.p && table_count(&c->pol_by_sku) && i < cmd->nlines; i++) {
		const core_skupol *pol = policy_of(c, c->plan_skus[i]);
		if (pol && pol->per_customer)
			c->cust_skus[n++] = c->plan_skus[i];
	}
	return n;
}

int resv_reserve(core *c, const core_reserve_cmd *cmd, core_result *res, core_error *err)
{
	int64_t ttl_ms = 0;
	const core_channel *ch = NULL;
	int rc = reserve_validate(c, cmd, &ttl_ms, &ch, err);
	if (rc)
		return rc;
	uint64_t params_hash = 0;
	if (cmd->idempotency_key.p) {
		params_hash = reserve_params_hash(c, cmd, ttl_ms);
		core_idem *e = idem_find(c, IDEM_RESERVE, cmd->idempotency_key);
		if (e) {
			if (e->params_hash != params_hash)
				return core_fail(err, CORE_E_CONFLICT,
				    "idempotency_key: already used with different params");
			res->kind = CORE_RESULT_RESV;
			res->resv = e->resv;
			res->replayed = true;
			return 0;
		}
	}
	plan_result p;
	if ((rc = reserve_plan(c, cmd, ch, &p, err)) != 0)
		return rc;
	if (p.nplan > UINT16_MAX)
		return core_fail(err, CORE_E_TOO_LARGE, "lines: the plan would use more than %u allocations", UINT16_MAX);
	if (resv_count(c) >= c->cfg.reservations_max && resv_oldest_finished(c) == NULL)
		return core_fail(err, CORE_E_BUSY, "the engine holds its maximum of %u reservations",
		    c->cfg.reservations_max);
	sweep_before(c, &p);
	if (waiting_room(c, &p) != 0)
		return core_fail(err, CORE_E_BUSY, "out of memory");

	core_resv *r = resv_build(c, cmd, &p, ttl_ms);
	core_idem *e = NULL;
	uint32_t nlimited = limited_lines(c, cmd);
	int ncust = 0;
	if (r == NULL || seqmap_reserve(&c->resv_by_seq, c->next_seq) != 0 || heap_reserve(c, 1) != 0 ||
	    ledger_reserve(c, resv_account_nodes(p.nplan, cmd->nlines)) != 0 ||
	    (nlimited && (ncust = cust_prepare(c, cmd->customer_id, c->cust_skus, nlimited, c->cust_new)) < 0) ||
	    (cmd->idempotency_key.p &&
	     (e = idem_prepare(c, IDEM_RESERVE, cmd->idempotency_key, params_hash)) == NULL)) {
		while (ncust > 0)
			free(c->cust_new[--ncust]);
		free(r);
		return core_fail(err, CORE_E_BUSY, "out of memory");
	}
	/* Nothing can fail from here on. */
	make_room(c);
	c->next_seq++;
	uint64_t on_hand_units = 0;
	for (uint32_t k = 0; k < p.nplan; k++) {
		if (c->plan[k].backorder) {
			inbound_hold(c, c->plan_skus[c->plan[k].line], c->plan[k].loc, c->plan[k].qty);
			continue;
		}
		core_rec *rec = c->plan[k].rec;
		track_rec(c, c->plan_skus[c->plan[k].line], rec, 0);
		rec->reserved += c->plan[k].qty;
		rec->version++;
		on_hand_units += c->plan[k].qty;
	}
	const uint16_t *used = plan_used(c);
	for (uint32_t k = 0; k < p.nused; k++)
		c->locs[used[k]]->open++;
	for (int k = 0; k < ncust; k++)
		cust_link(c, c->cust_new[k]);
	for (uint32_t k = 0; nlimited && k < r->nlines; k++) {
		const core_skupol *pol = policy_of(c, r->lines[k].sku);
		uint64_t held = line_remaining(r, &r->lines[k]);
		if (pol && pol->per_customer && held)
			cust_add(c, cmd->customer_id, r->lines[k].sku, held);
	}
	for (int k = 0; k < ncust; k++) /* a line that held nothing (allow_partial) */
		if (c->cust_new[k]->units == 0)
			cust_unlink(c, c->cust_new[k]);
	c->units_reserved += on_hand_units;
	seqmap_put(&c->resv_by_seq, r->id - c->id_base, r);
	for (uint32_t k = 0; k < p.nplan; k++) /* a line's backorders: once, at its first */
		if (c->plan[k].backorder && (k == 0 || c->plan[k - 1].line != c->plan[k].line ||
		    !c->plan[k - 1].backorder))
			inbound_waiting_add(c, c->plan_skus[c->plan[k].line], r->id - c->id_base);
	heap_push(c, r);
	c->by_status[CORE_RESV_HELD]++;
	track_resv(c, r, CORE_RESV_HELD, c->now_ms);
	resv_account(c, r, true);
	if (e) {
		e->resv = r;
		idem_commit(c, e);
	}
	res->kind = CORE_RESULT_RESV;
	res->resv = r;
	return 0;
}
