/*
 * resv.c - reservations: reserve, commit, release, fulfill, extend, expiry
 * and retention, and the reservation views.
 *
 * States: held -> committed -> fulfilled; held or committed -> released;
 * held -> expired. A held reservation's units count in its records'
 * reserved, a committed one's in committed. Finished reservations stay
 * readable for retain_ms, in a FIFO, then are forgotten.
 */
#include "core_internal.h"
#include "idem.h"
#include "plan.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>

int resv_init(core *c)
{
	c->next_seq = 1;
	c->shorts = calloc(c->cfg.lines_max, sizeof(*c->shorts));
	c->plan_skus = calloc(c->cfg.lines_max, sizeof(*c->plan_skus));
	c->cust_skus = calloc(c->cfg.lines_max, sizeof(*c->cust_skus));
	c->cust_new = calloc(c->cfg.lines_max, sizeof(*c->cust_new));
	if (c->shorts == NULL || c->plan_skus == NULL || c->cust_skus == NULL || c->cust_new == NULL)
		goto fail;
	seqmap_init(&c->resv_by_seq);
	c->id_base = (uint64_t)c->cfg.id_epoch << 32;
	if (table_init(&c->idem_by_key, 1024, idem_hash_of) != 0)
		goto fail_idem;
	if (heap_reserve(c, 1024) != 0)
		goto fail_heap;
	if (plan_init(c) != 0)
		goto fail_plan;
	return 0;

fail_plan:
	free(c->heap);
fail_heap:
	table_finish(&c->idem_by_key);
fail_idem:
fail:
	free(c->shorts);
	free(c->plan_skus);
	free(c->cust_skus);
	free(c->cust_new);
	return -1;
}

void resv_finish(core *c)
{
	idem_finish(c);
	for (uint64_t p = 0; p < c->resv_by_seq.npages; p++)
		for (uint32_t i = 0; c->resv_by_seq.pages[p] && i < SEQMAP_PAGE_ITEMS; i++)
			free(c->resv_by_seq.pages[p]->items[i]);
	seqmap_finish(&c->resv_by_seq);
	free(c->heap);
	free(c->plan);
	free(c->shorts);
	free(c->plan_skus);
	free(c->cust_skus);
	free(c->cust_new);
	plan_finish(c);
}

static const char hex_digits[16] = "0123456789abcdef";

static void id_format(uint64_t id, char out[CORE_RESERVATION_ID_LEN + 1])
{
	out[0] = 'r';
	out[1] = '-';
	for (int i = 17; i >= 2; i--, id >>= 4)
		out[i] = hex_digits[id & 15];
	out[CORE_RESERVATION_ID_LEN] = '\0';
}

/* Value of a lowercase hex digit, or 16 for anything else. */
static uint8_t hex_value(char ch)
{
	if (ch >= '0' && ch <= '9')
		return (uint8_t)(ch - '0');
	if (ch >= 'a' && ch <= 'f')
		return (uint8_t)(ch - 'a' + 10);
	return 16;
}

static bool id_parse(core_str s, uint64_t *id)
{
	if (s.len != CORE_RESERVATION_ID_LEN || s.p[0] != 'r' || s.p[1] != '-')
		return false;
	uint64_t v = 0;
	uint8_t bad = 0;
	for (uint32_t i = 2; i < CORE_RESERVATION_ID_LEN; i++) {
		uint8_t d = hex_value(s.p[i]);
		bad |= d;
		v = v << 4 | (d & 15);
	}
	*id = v;
	return (bad & 16) == 0;
}

static core_resv *resv_lookup(const core *c, uint64_t id)
{
	if (id < c->id_base)
		return NULL;
	core_resv *r = seqmap_get(&c->resv_by_seq, id - c->id_base);
	return (r && r->id == id) ? r : NULL;
}

int core_resv_find(const core *c, core_str reservation_id, const core_resv **out, core_error *err)
{
	uint64_t id;
	core_resv *r = id_parse(reservation_id, &id) ? resv_lookup(c, id) : NULL;
	if (r == NULL)
		return core_fail(err, CORE_E_NOT_FOUND, "reservation '%.*s' not found",
		    (int)(reservation_id.len > 64 ? 64 : reservation_id.len), reservation_id.p);
	*out = r;
	return 0;
}

/* ---- open shipments ---------------------------------------------------------- */

/*
 * A location's open shipments are the live reservations holding units
 * there. They open when a reserve holds units at a location and close when
 * the reservation holds none there any more (released, fulfilled,
 * expired).
 */

uint32_t resv_open_locs(core *c, const core_resv *r, uint16_t *list)
{
	uint32_t stamp = plan_stamp_next(c), n = 0;
	const core_ralloc *al = resv_allocs(r);
	for (uint32_t i = 0; i < r->nlines; i++) {
		const core_rline *l = &r->lines[i];
		for (uint32_t j = 0; j < l->nallocs; j++) {
			const core_ralloc *a = &al[l->alloc_first + j];
			if (a->qty > 0 && !a->backorder && plan_stamp_set(c, a->loc, stamp))
				list[n++] = a->loc;
		}
	}
	return n;
}

void resv_close_emptied(core *c, const core_resv *r, const uint16_t *before, uint32_t n, bool all)
{
	uint32_t stamp = plan_stamp_next(c);
	const core_ralloc *al = resv_allocs(r);
	for (uint32_t i = 0; !all && i < r->nlines; i++) {
		const core_rline *l = &r->lines[i];
		for (uint32_t j = 0; j < l->nallocs; j++)
			if (al[l->alloc_first + j].qty > 0 && !al[l->alloc_first + j].backorder)
				plan_stamp_set(c, al[l->alloc_first + j].loc, stamp);
	}
	for (uint32_t j = 0; j < n; j++) {
		if (!all && plan_stamp_is(c, before[j], stamp))
			continue;
		assert(c->locs[before[j]]->open > 0);
		c->locs[before[j]]->open--;
	}
}

/* ---- moving units between a reservation and its records ------------------ */

static void set_status(core *c, core_resv *r, core_resv_status s)
{
	c->by_status[r->status]--;
	c->by_status[s]++;
	r->status = (uint8_t)s;
}

/*
 * A reservation leaves held/committed: it is kept readable for retain_ms.
 * An expired hold finishes at its deadline, not at the moment its expiry
 * was processed: reads expire due holds too, and a replay of the commands
 * alone must rebuild the same state.
 */
void resv_end(core *c, core_resv *r, core_resv_status s)
{
	assert(r->status == CORE_RESV_HELD || r->status == CORE_RESV_COMMITTED);
	if (r->heap_idx != HEAP_NONE)
		heap_remove(c, r);
	r->finished_at_ms = s == CORE_RESV_EXPIRED ? r->expires_at_ms : c->now_ms;
	set_status(c, r, s);
	resv_finish_link(c, r);
}

/* Take qty units off one allocation of r (held or committed), back to its
 * record; fulfilled units also leave on_hand. */
static void alloc_reduce(core *c, core_resv *r, const core_rline *l, core_ralloc *a,
    uint32_t qty, bool fulfil)
{
	if (a->backorder) {
		/* Fulfilled backorders ship the inbound units; released ones give them back. */
		if (fulfil)
			inbound_ship(c, l->sku, a->loc, qty);
		else
			inbound_return(c, l->sku, a->loc, qty);
		a->qty -= qty;
		return;
	}
	core_rec *rec = sku_rec_at(c, l->sku, a->loc);
	assert(rec != NULL && qty <= a->qty);
	if (r->status == CORE_RESV_HELD) {
		assert(rec->reserved >= qty);
		rec->reserved -= qty;
		c->units_reserved -= qty;
	} else {
		assert(rec->committed >= qty);
		rec->committed -= qty;
		c->units_committed -= qty;
		if (fulfil)
			rec->on_hand = rec->on_hand > qty ? rec->on_hand - qty : 0;
	}
	rec->version++;
	a->qty -= qty;
}

uint64_t line_remaining(const core_resv *r, const core_rline *l)
{
	const core_ralloc *al = resv_allocs(r);
	uint64_t n = 0;
	for (uint32_t j = 0; j < l->nallocs; j++)
		n += al[l->alloc_first + j].qty;
	return n;
}

/* Reduce a line by qty, from its worst-ranked allocation back: backorders
 * are released first, and fulfilled last (units on hand ship first). */
static void line_reduce(core *c, core_resv *r, core_rline *l, uint32_t qty, bool fulfil)
{
	core_ralloc *al = resv_allocs(r);
	for (uint32_t pass = 0, j = l->nallocs; pass < 2 && qty > 0; pass++, j = l->nallocs)
	while (j-- > 0 && qty > 0) {
		core_ralloc *a = &al[l->alloc_first + j];
		uint32_t take = a->qty < qty ? a->qty : qty;
		if (take == 0 || (fulfil && (a->backorder != 0) != (pass == 1)) || (!fulfil && pass == 1))
			continue;
		alloc_reduce(c, r, l, a, take, fulfil);
		cust_take(c, resv_customer(r), l->sku, take);
		qty -= take;
		if (fulfil)
			l->fulfilled += take;
		else
			l->released += take;
	}
	assert(qty == 0);
}

/* Take a held reservation's units out of its records' reserved: back to
 * available (expiry), or on into committed (commit). */
void resv_unhold(core *c, const core_resv *r, bool to_committed)
{
	assert(r->status == CORE_RESV_HELD);
	const core_ralloc *al = resv_allocs(r);
	uint64_t units = 0;
	for (uint32_t i = 0; i < r->nlines; i++) {
		const core_rline *l = &r->lines[i];
		for (uint32_t j = 0; j < l->nallocs; j++) {
			const core_ralloc *a = &al[l->alloc_first + j];
			if (a->qty == 0) /* released already: the record does not change */
				continue;
			if (a->backorder) { /* expired: back to inbound; committed: stays */
				if (!to_committed)
					inbound_expired(c, l->sku, a->loc, a->qty, r->expires_at_ms);
				continue;
			}
			core_rec *rec = sku_rec_at(c, l->sku, a->loc);
			assert(rec && rec->reserved >= a->qty);
			rec->reserved -= a->qty;
			if (to_committed)
				rec->committed += a->qty;
			rec->version++;
			units += a->qty;
		}
	}
	c->units_reserved -= units;
	if (to_committed)
		c->units_committed += units;
}

void resv_forget(core *c, core_resv *r)
{
	bool expired = r->status == CORE_RESV_EXPIRED;
	core_resv **head = expired ? &c->exp_head : &c->fin_head;
	assert(r == *head);
	*head = r->fin_next;
	if (*head == NULL)
		*(expired ? &c->exp_tail : &c->fin_tail) = NULL;
	if (r->idem)
		idem_remove(c, r->idem);
	seqmap_del(&c->resv_by_seq, r->id - c->id_base);
	c->by_status[r->status]--;
	free(r);
}

/* ---- reserve --------------------------------------------------------------- */

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

core_str rline_sku_name(const core_resv *r, const core_rline *l)
{
	if (l->sku)
		return (core_str){ l->sku->name, l->sku->name_len };
	const unsigned char *p = resv_unknown_names(r);
	for (const core_rline *k = r->lines; k < l; k++)
		if (k->sku == NULL)
			p += 1u + p[0];
	return (core_str){ (const char *)p + 1, p[0] };
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

static int reserve(core *c, const core_reserve_cmd *cmd, core_result *res, core_error *err)
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
	heap_push(c, r);
	c->by_status[CORE_RESV_HELD]++;
	resv_account(c, r, true);
	if (e) {
		e->resv = r;
		idem_commit(c, e);
	}
	res->kind = CORE_RESULT_RESV;
	res->resv = r;
	return 0;
}

/* ---- commit, release, fulfill, extend ------------------------------------ */

static int wrong_state(core *c, const core_resv *r, const char *what, core_error *err)
{
	char id[CORE_RESERVATION_ID_LEN + 1];
	id_format(r->id, id);
	return core_fail(err, CORE_E_INVALID_STATE, "reservation %s is %s: %s", id,
	    core_resv_status_name(resv_status(c, r)), what);
}

/* Commands see a lazily expired hold as expired (resv_status) and refuse
 * it as they refuse a swept one, changing nothing. */
static int commit(core *c, core_resv *r, core_error *err)
{
	core_resv_status s = resv_status(c, r);
	if (s == CORE_RESV_COMMITTED)
		return 0; /* a retried commit is answered, not refused */
	if (s != CORE_RESV_HELD)
		return wrong_state(c, r, "only a held reservation can be committed", err);
	resv_account(c, r, false);
	resv_unhold(c, r, true);
	heap_remove(c, r);
	r->expires_at_ms = -1;
	set_status(c, r, CORE_RESV_COMMITTED);
	return 0;
}

/* Validate release/fulfill lines: each names a line of r, once, with at
 * most its remaining units. */
static int lines_validate(const core_resv *r, const core_resv_cmd *cmd, uint32_t *which, core_error *err)
{
	if (cmd->nlines == 0)
		return core_fail(err, CORE_E_BAD_REQUEST, "lines: empty; omit it to act on the whole reservation");
	if (cmd->nlines > r->nlines)
		return core_fail(err, CORE_E_BAD_REQUEST, "lines: more lines than the reservation has");
	for (uint32_t i = 0; i < cmd->nlines; i++) {
		const core_line_req *q = &cmd->lines[i];
		uint32_t k = 0;
		for (; k < r->nlines; k++) {
			core_str name = rline_sku_name(r, &r->lines[k]);
			if (name.len == q->sku.len && memcmp(name.p, q->sku.p, q->sku.len) == 0)
				break;
		}
		if (k == r->nlines)
			return core_fail(err, CORE_E_BAD_REQUEST, "lines[%u].sku: not in the reservation", i);
		for (uint32_t j = 0; j < i; j++)
			if (which[j] == k)
				return core_fail(err, CORE_E_BAD_REQUEST, "lines[%u].sku: named twice", i);
		uint64_t left = line_remaining(r, &r->lines[k]);
		if (q->qty < 1 || (uint64_t)q->qty > left)
			return core_fail(err, CORE_E_BAD_REQUEST, "lines[%u].qty: must be 1 to %llu",
			    i, (unsigned long long)left);
		which[i] = k;
	}
	return 0;
}

static int release_or_fulfill(core *c, core_resv *r, const core_resv_cmd *cmd, bool fulfil,
    core_error *err)
{
	core_resv_status s = resv_status(c, r);
	if (fulfil && s != CORE_RESV_COMMITTED)
		return wrong_state(c, r, "only committed units can be fulfilled", err);
	if (!fulfil && s != CORE_RESV_HELD && s != CORE_RESV_COMMITTED)
		return wrong_state(c, r, "only a held or committed reservation can be released", err);
	uint32_t *which = (uint32_t *)(void *)c->shorts; /* scratch: lines_max entries */
	_Static_assert(sizeof(core_short_line) >= sizeof(uint32_t), "scratch fits");
	if (cmd->lines) {
		int rc = lines_validate(r, cmd, which, err);
		if (rc)
			return rc;
	}
	/* A held one's ledgers follow its units: out now, back in after. */
	bool held = s == CORE_RESV_HELD;
	if (held)
		resv_account(c, r, false);
	uint16_t *before = plan_loc_scratch(c);
	uint32_t nbefore = resv_open_locs(c, r, before);
	if (cmd->lines) {
		for (uint32_t i = 0; i < cmd->nlines; i++)
			line_reduce(c, r, &r->lines[which[i]], (uint32_t)cmd->lines[i].qty, fulfil);
	} else {
		for (uint32_t i = 0; i < r->nlines; i++)
			line_reduce(c, r, &r->lines[i], (uint32_t)line_remaining(r, &r->lines[i]), fulfil);
	}
	resv_close_emptied(c, r, before, nbefore, cmd->lines == NULL); /* whole: every one closes */
	bool any_left = false, any_fulfilled = false;
	for (uint32_t i = 0; i < r->nlines; i++) {
		any_left |= line_remaining(r, &r->lines[i]) > 0;
		any_fulfilled |= r->lines[i].fulfilled > 0;
	}
	if (!any_left)
		resv_end(c, r, any_fulfilled ? CORE_RESV_FULFILLED : CORE_RESV_RELEASED);
	else if (held)
		resv_account(c, r, true); /* needs no node the line above did not free */
	return 0;
}

static int extend(core *c, core_resv *r, int64_t ttl_ms, core_error *err)
{
	if (ttl_ms < 1 || ttl_ms > c->cfg.ttl_max_ms)
		return core_fail(err, CORE_E_BAD_REQUEST, "ttl_ms: must be 1 to %lld",
		    (long long)c->cfg.ttl_max_ms);
	if (resv_status(c, r) != CORE_RESV_HELD)
		return wrong_state(c, r, "only a held reservation can be extended", err);
	uint32_t nallocs = 0;
	for (uint32_t i = 0; i < r->nlines; i++)
		nallocs += r->lines[i].nallocs;
	if (ledger_reserve(c, resv_account_nodes(nallocs, r->nlines)) != 0)
		return core_fail(err, CORE_E_BUSY, "out of memory");
	resv_account(c, r, false);
	r->expires_at_ms = c->now_ms + ttl_ms;
	heap_update(c, r);
	resv_account(c, r, true);
	return 0;
}

int resv_exec(core *c, const core_cmd *cmd, core_result *res, core_error *err)
{
	if (cmd->type == CORE_CMD_RESERVE)
		return reserve(c, &cmd->u.reserve, res, err);
	const core_resv_cmd *rc = &cmd->u.resv;
	const core_resv *found;
	int e = core_resv_find(c, rc->reservation_id, &found, err);
	if (e)
		return e;
	core_resv *r = (core_resv *)(uintptr_t)found;
	switch (cmd->type) {
	case CORE_CMD_COMMIT: e = commit(c, r, err); break;
	case CORE_CMD_RELEASE: e = release_or_fulfill(c, r, rc, false, err); break;
	case CORE_CMD_FULFILL: e = release_or_fulfill(c, r, rc, true, err); break;
	case CORE_CMD_EXTEND: e = extend(c, r, rc->ttl_ms, err); break;
	default: return core_fail(err, CORE_E_BAD_REQUEST, "unknown command");
	}
	if (e == 0) {
		res->kind = CORE_RESULT_RESV;
		res->resv = r;
	}
	return e;
}

/* ---- views -------------------------------------------------------------- */

void core_resv_view_get(const core *c, const core_resv *r, core_resv_view *out)
{
	id_format(r->id, out->id);
	out->order_id = (core_str){ resv_order_id(r), r->order_id_len };
	out->status = resv_status(c, r);
	bool dated = out->status == CORE_RESV_HELD || out->status == CORE_RESV_EXPIRED;
	out->expires_at_ms = dated ? r->expires_at_ms : -1;
	out->nlines = r->nlines;
}

void core_resv_view_original(const core *c, const core_resv *r, core_resv_view *out)
{
	core_resv_view_get(c, r, out);
	out->status = CORE_RESV_HELD;
	out->expires_at_ms = r->orig_expires_at_ms;
}

void core_resv_line_get(const core *c, const core_resv *r, uint32_t i, core_line_view *out)
{
	const core_rline *l = &r->lines[i];
	const core_ralloc *al = resv_allocs(r);
	uint64_t held = 0, backordered = 0;
	for (uint32_t j = 0; j < l->nallocs; j++) {
		held += al[l->alloc_first + j].orig;
		backordered += al[l->alloc_first + j].backorder ? al[l->alloc_first + j].orig : 0;
	}
	out->backordered = (int64_t)backordered;
	out->sku = rline_sku_name(r, l);
	out->qty = l->qty;
	out->short_qty = (int64_t)l->qty - (int64_t)held;
	out->released = l->released;
	out->fulfilled = l->fulfilled;
	out->nallocs = l->nallocs;
}

void core_resv_alloc_get(const core *c, const core_resv *r, uint32_t line, uint32_t i,
    core_alloc_view *out)
{
	const core_ralloc *a = &resv_allocs(r)[r->lines[line].alloc_first + i];
	const core_loc *l = c->locs[a->loc];
	out->location = (core_str){ l->name, l->name_len };
	out->qty = a->qty;
	out->backorder = a->backorder;
}

int64_t core_resv_alloc_original_qty(const core_resv *r, uint32_t line, uint32_t i)
{
	return resv_allocs(r)[r->lines[line].alloc_first + i].orig;
}

/* ---- invariants ------------------------------------------------------------ */

typedef struct rec_sum {
	const core_rec *rec;
	uint64_t reserved, committed;
} rec_sum;

static int cmp_rec_sum(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)((const rec_sum *)a)->rec, y = (uintptr_t)((const rec_sum *)b)->rec;
	return x < y ? -1 : x > y;
}

static rec_sum *sum_find(rec_sum *sums, uint64_t n, const core_rec *rec)
{
	rec_sum key = { rec, 0, 0 };
	return bsearch(&key, sums, n, sizeof(*sums), cmp_rec_sum);
}

/* Every location's open shipments are the live reservations holding units
 * there. */
static const char *open_check(const core *c)
{
	uint32_t *open = calloc(c->nlocs + 1, sizeof(*open));
	uint16_t *locs = malloc((c->nlocs + 1) * sizeof(*locs));
	if (open == NULL || locs == NULL) {
		free(open);
		free(locs);
		return "check: out of memory";
	}
	for (uint64_t seq = 0; seq < c->next_seq; seq++) {
		const core_resv *r = seqmap_get(&c->resv_by_seq, seq);
		if (r == NULL || (r->status != CORE_RESV_HELD && r->status != CORE_RESV_COMMITTED))
			continue;
		const core_ralloc *al = resv_allocs(r);
		uint32_t n = 0;
		for (uint32_t i = 0; i < r->nlines; i++)
			for (uint32_t j = 0; j < r->lines[i].nallocs; j++) {
				const core_ralloc *a = &al[r->lines[i].alloc_first + j];
				if (a->backorder)
					continue;
				bool seen = false;
				for (uint32_t k = 0; k < n && !seen; k++)
					seen = locs[k] == a->loc;
				if (a->qty > 0 && !seen && n <= c->nlocs)
					locs[n++] = a->loc;
			}
		for (uint32_t k = 0; k < n; k++)
			open[locs[k]]++;
	}
	const char *why = NULL;
	for (uint32_t i = 0; i < c->nlocs && !why; i++)
		if (open[i] != c->locs[i]->open)
			why = "a location's open shipments differ from its live reservations";
	free(open);
	free(locs);
	return why;
}

/* Every record's reserved and committed equal what live reservations hold. */
const char *resv_check(const core *c)
{
	rec_sum *sums = calloc(c->nrecs + 1, sizeof(*sums));
	if (sums == NULL)
		return "check: out of memory";
	uint64_t n = 0, by_status[5] = { 0 };
	for (uint32_t i = 0; i < table_slots(&c->sku_by_name); i++) {
		const core_sku *s = table_at(&c->sku_by_name, i);
		for (uint32_t j = 0; s && j < s->nrecs; j++) {
			if (j > 0 && c->locs[s->recs[j - 1].loc]->name_rank >= c->locs[s->recs[j].loc]->name_rank)
				return free(sums), "records are not in location name order";
			sums[n++].rec = &s->recs[j];
		}
	}
	qsort(sums, n, sizeof(*sums), cmp_rec_sum);
	for (uint64_t seq = 0; seq < c->next_seq; seq++) {
		const core_resv *r = seqmap_get(&c->resv_by_seq, seq);
		if (r == NULL)
			continue;
		by_status[r->status]++;
		if ((r->status == CORE_RESV_HELD) != (r->heap_idx != HEAP_NONE))
			return free(sums), "a held reservation is not scheduled to expire";
		if (r->status != CORE_RESV_HELD && r->status != CORE_RESV_COMMITTED)
			continue;
		const core_ralloc *al = resv_allocs(r);
		for (uint32_t li = 0; li < r->nlines; li++) {
			const core_rline *l = &r->lines[li];
			for (uint32_t j = 0; j < l->nallocs; j++) {
				const core_ralloc *a = &al[l->alloc_first + j];
				if (a->backorder)
					continue;
				rec_sum *sum = sum_find(sums, n, sku_rec_at(c, l->sku, a->loc));
				if (sum == NULL)
					return free(sums), "an allocation names no record";
				*(r->status == CORE_RESV_HELD ? &sum->reserved : &sum->committed) += a->qty;
			}
		}
	}
	const char *why = NULL;
	uint64_t reserved = 0, committed = 0;
	for (uint64_t i = 0; i < n && !why; i++) {
		if (sums[i].reserved != sums[i].rec->reserved)
			why = "a record's reserved differs from its held reservations";
		else if (sums[i].committed != sums[i].rec->committed)
			why = "a record's committed differs from its committed reservations";
		reserved += sums[i].reserved;
		committed += sums[i].committed;
	}
	free(sums);
	if (!why && (reserved != c->units_reserved || committed != c->units_committed))
		why = "the unit counters differ from the records";
	for (int s = 0; s < 5 && !why; s++)
		if (by_status[s] != c->by_status[s])
			why = "the reservation counters differ from the reservations";
	return why ? why : open_check(c);
}
