/*
 * core.c - life cycle, the clock, the one mutation entry point, and the
 * whole-state views (stats, canonical dump, invariant check).
 */
#include "core_internal.h"
#include "idem.h"
#include "plan.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

_Static_assert(sizeof(core_rec) == 32, "a record is 32 bytes");
_Static_assert(CORE_ORDER_ID_MAX <= UINT8_MAX, "order id length fits its byte");
_Static_assert(CORE_KEY_MAX <= UINT8_MAX, "key length fits its byte");
_Static_assert(CORE_NAME_MAX <= UINT8_MAX, "name length fits its byte");

void core_config_default(core_config *cfg)
{
	cfg->hash_seed = 0x5eed5eed5eed5eedULL;
	cfg->lines_max = CORE_DEFAULT_LINES_MAX;
	cfg->skus_max = 10000000;
	cfg->locations_max = 4096;
	cfg->reservations_max = 10000000;
	cfg->idempotency_max = 1000000;
	cfg->ttl_default_ms = CORE_DEFAULT_TTL_MS;
	cfg->ttl_max_ms = CORE_DEFAULT_TTL_MAX_MS;
	cfg->retain_ms = 3600000;
	cfg->id_epoch = 0;
}

const char *core_strerror(int code)
{
	switch (code) {
	case CORE_OK: return "OK";
	case CORE_E_BAD_REQUEST: return "BAD_REQUEST";
	case CORE_E_NOT_FOUND: return "NOT_FOUND";
	case CORE_E_OUT_OF_STOCK: return "OUT_OF_STOCK";
	case CORE_E_CONFLICT: return "CONFLICT";
	case CORE_E_INVALID_STATE: return "INVALID_STATE";
	case CORE_E_LIMIT_EXCEEDED: return "LIMIT_EXCEEDED";
	case CORE_E_TOO_LARGE: return "TOO_LARGE";
	case CORE_E_BUSY: return "BUSY";
	}
	return "INTERNAL";
}

const char *core_strategy_name(core_strategy s)
{
	static const char *const names[] = { "priority", "nearest", "cheapest", "most_stock" };
	return (unsigned)s <= CORE_STRATEGY_LAST ? names[s] : NULL;
}

const char *core_split_name(int split)
{
	static const char *const names[] = { "units", "lines", "none" };
	return split >= 0 && split <= CORE_SPLIT_NONE ? names[split] : NULL;
}

const char *core_resv_status_name(core_resv_status s)
{
	static const char *const names[] = {
		"held", "committed", "fulfilled", "released", "expired",
	};
	return (unsigned)s < 5 ? names[s] : "unknown";
}

int core_fail(core_error *err, int code, const char *fmt, ...)
{
	err->code = code;
	err->nshort = 0;
	err->short_lines = NULL;
	err->version = 0;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return code;
}

/* True when any byte of x is below 0x20 or is 0x7f (8 bytes at a time:
 * the classic "has a byte less than n" and "has a zero byte" tricks). */
static bool word_has_control(uint64_t x)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	uint64_t below_space = (x - ones * 0x20) & ~x & highs;
	uint64_t y = x ^ (ones * 0x7f);
	uint64_t is_del = (y - ones) & ~y & highs;
	return (below_space | is_del) != 0;
}

bool core_name_valid(core_str s, uint32_t max)
{
	return name_valid(s, max);
}

bool core_text_valid(core_str s, uint32_t max)
{
	return s.len == 0 || name_valid(s, max);
}

bool name_valid(core_str s, uint32_t max)
{
	if (s.len == 0 || s.len > max || s.p == NULL)
		return false;
	uint32_t i = 0;
	for (; i + 8 <= s.len; i += 8) {
		uint64_t x;
		memcpy(&x, s.p + i, 8);
		if (word_has_control(x))
			return false;
	}
	for (; i < s.len; i++) {
		unsigned char ch = (unsigned char)s.p[i];
		if (ch < 0x20 || ch == 0x7f)
			return false;
	}
	return true;
}

core *core_create(const core_config *cfg)
{
	core *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->cfg = *cfg;
	if (c->cfg.locations_max > LOC_NONE - 1)
		c->cfg.locations_max = LOC_NONE - 1;
	if (c->cfg.lines_max > UINT16_MAX)
		c->cfg.lines_max = UINT16_MAX;
	c->now_ms = 0;
	c->horizon_ms = INT64_MIN;
	ledger_init(c);
	if (inventory_init(c) != 0)
		goto fail_inventory;
	if (resv_init(c) != 0)
		goto fail_resv;
	if (policy_init(c) != 0)
		goto fail_policy;
	if (inbound_init(c) != 0)
		goto fail_inbound;
	return c;

fail_inbound:
	policy_finish(c);
fail_policy:
	resv_finish(c);
fail_resv:
	inventory_finish(c);
fail_inventory:
	free(c);
	return NULL;
}

void core_destroy(core *c)
{
	if (c == NULL)
		return;
	changes_finish(c);
	resv_finish(c);
	policy_finish(c);
	inbound_finish(c);
	inbound_receive_finish(c);
	inventory_finish(c);
	ledger_finish(c);
	free(c);
}

const core_config *core_get_config(const core *c)
{
	return &c->cfg;
}

void core_sweep_forgot(const core *c, uint32_t *reservations, uint32_t *keys)
{
	*reservations = c->swept_reservations;
	*keys = c->swept_keys;
}

int64_t core_now(const core *c)
{
	return c->now_ms;
}

int core_exec(core *c, const core_cmd *cmd, int64_t now_ms,
    core_result *res, core_error *err)
{
	core_advance(c, now_ms);
	plan_forget(c);
	res->kind = CORE_RESULT_RECORD;
	res->resv = NULL;
	res->replayed = false;
	switch (cmd->type) {
	case CORE_CMD_LOCATION_PUT:
		return inventory_location_put(c, &cmd->u.location, res, err);
	case CORE_CMD_CHANNEL_PUT:
		return policy_channel_put(c, &cmd->u.channel, res, err);
	case CORE_CMD_SKU_PUT:
		return policy_sku_put(c, &cmd->u.sku, res, err);
	case CORE_CMD_INBOUND_ADD:
		return inbound_add(c, &cmd->u.inbound, res, err);
	case CORE_CMD_INBOUND_RECEIVE:
		return inbound_receive(c, &cmd->u.inbound, res, err);
	case CORE_CMD_STOCK_SET:
	case CORE_CMD_STOCK_ADJUST:
	case CORE_CMD_RESTOCK:
		return inventory_exec(c, cmd, res, err);
	case CORE_CMD_RESERVE:
	case CORE_CMD_COMMIT:
	case CORE_CMD_RELEASE:
	case CORE_CMD_FULFILL:
	case CORE_CMD_EXTEND:
		return resv_exec(c, cmd, res, err);
	}
	return core_fail(err, CORE_E_BAD_REQUEST, "unknown command %d", (int)cmd->type);
}

void core_stats_get(const core *c, core_stats *out)
{
	out->skus = table_count(&c->sku_by_name);
	out->locations = c->nlocs;
	out->records = c->nrecs;
	/* Lazily expired holds count as expired (expiry.c). */
	ledger_sum lazy = lazy_sum(c, c->ledger_all);
	for (int i = 0; i < 5; i++)
		out->reservations[i] = c->by_status[i];
	out->reservations[CORE_RESV_HELD] -= lazy.b;
	out->reservations[CORE_RESV_EXPIRED] += lazy.b;
	out->idempotency_keys = table_count(&c->idem_by_key);
	out->expired_total = c->expired_total + lazy.b;
	out->units_reserved = c->units_reserved - lazy.a;
	out->units_committed = c->units_committed;
	out->now_ms = c->now_ms;
}

/* ---- canonical dump ------------------------------------------------------ */

typedef struct dump_out {
	char *buf;
	size_t cap;
	size_t len;
} dump_out;

__attribute__((format(printf, 2, 3)))
static void put(dump_out *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t room = o->len < o->cap ? o->cap - o->len : 0;
	int n = vsnprintf(room ? o->buf + o->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += (size_t)n;
}

static int cmp_sku(const void *a, const void *b)
{
	const core_sku *x = *(const core_sku *const *)a, *y = *(const core_sku *const *)b;
	return strcmp(x->name, y->name);
}

static int cmp_idem(const void *a, const void *b)
{
	const core_idem *x = *(const core_idem *const *)a, *y = *(const core_idem *const *)b;
	if (x->method != y->method)
		return x->method - y->method;
	int n = memcmp(x->key, y->key, x->key_len < y->key_len ? x->key_len : y->key_len);
	return n ? n : x->key_len - y->key_len;
}

static int cmp_cust(const void *a, const void *b)
{
	const core_cust *x = *(const core_cust *const *)a, *y = *(const core_cust *const *)b;
	int n = memcmp(x->id, y->id, x->len < y->len ? x->len : y->len);
	if (n || x->len != y->len)
		return n ? n : x->len - y->len;
	return strcmp(x->sku->name, y->sku->name);
}

/* Collect a table's items into a sorted array; NULL when empty or no memory. */
static void **sorted_items(const table *t, int (*cmp)(const void *, const void *))
{
	uint32_t count = table_count(t);
	if (count == 0)
		return NULL;
	void **items = malloc(count * sizeof(*items));
	if (items == NULL)
		return NULL;
	uint32_t n = 0;
	for (uint32_t i = 0; i < table_slots(t); i++)
		if (table_at(t, i))
			items[n++] = table_at(t, i);
	if (n > 1) /* qsort must not see a NULL array, even empty */
		qsort(items, n, sizeof(*items), cmp);
	return items;
}

static void dump_resv(const core *c, dump_out *o, const core_resv *r)
{
	const core_ralloc *al = resv_allocs(r);
	core_str customer = resv_customer(r);
	put(o, "resv %016" PRIx64 " order=%.*s customer=%.*s status=%u exp=%" PRId64 " orig_exp=%" PRId64
	    " fin=%" PRId64 " idem=%d\n", r->id, r->order_id_len, resv_order_id(r), (int)customer.len,
	    customer.p ? customer.p : "", resv_status(c, r), r->expires_at_ms, r->orig_expires_at_ms,
	    resv_finished_at(c, r), r->idem != NULL);
	for (uint32_t i = 0; i < r->nlines; i++) {
		const core_rline *l = &r->lines[i];
		core_str sku = rline_sku_name(r, l);
		put(o, "  line %.*s qty=%u rel=%u ful=%u\n", (int)sku.len, sku.p, l->qty, l->released,
		    l->fulfilled);
		for (uint32_t j = 0; j < l->nallocs; j++) {
			const core_ralloc *a = &al[l->alloc_first + j];
			put(o, "    %s %s qty=%u orig=%u\n", a->backorder ? "backorder" : "at", c->locs[a->loc]->name,
			    a->qty, a->orig);
		}
	}
}

/* The dump is of the state as commands see it: lazily expired holds are
 * expired (expiry.c), however far the sweep has got. */
size_t core_dump(const core *c, char *buf, size_t cap)
{
	dump_out o = { buf, cap, 0 };
	put(&o, "now=%" PRId64 " seq=%" PRIu64 " expired=%" PRIu64 "\n",
	    c->now_ms, c->next_seq, c->expired_total + lazy_sum(c, c->ledger_all).b);
	for (uint32_t r = 0; r < c->nlocs; r++) {
		const core_loc *l = c->locs[c->rank_order[r]];
		put(&o, "loc %s id=%u prio=%d rank=%u name_rank=%u open=%u cap=%lld on=%d", l->name, l->id,
		    l->priority, l->rank, l->name_rank, loc_open(c, l), (long long)l->capacity, l->enabled);
		if (l->has_coords)
			put(&o, " at=%a,%a", l->lat, l->lon);
		put(&o, " cost=%a+%a/km tags=", l->cost, l->cost_per_km);
		for (uint32_t t = 0; t < l->ntags; t++)
			put(&o, "%s%.*s", t ? "," : "", (int)l->tag_len[t], l->tags[t]);
		put(&o, "\n");
	}
	for (uint32_t i = 0; i < c->nchans; i++) {
		const core_channel *ch = c->chans[i];
		put(&o, "channel %s buffer=%u all=%d locations=", ch->name, ch->buffer, ch->all);
		for (uint32_t r = 0; !ch->all && r < c->nlocs; r++) {
			uint16_t id = c->rank_order[r];
			if ((ch->bits[id >> 6] >> (id & 63)) & 1)
				put(&o, "%s,", c->locs[id]->name);
		}
		put(&o, "\n");
	}
	core_sku **skus = (core_sku **)sorted_items(&c->sku_by_name, cmp_sku);
	for (uint32_t i = 0; skus && i < table_count(&c->sku_by_name); i++) {
		const core_sku *s = skus[i];
		const core_skupol *pol = policy_of(c, s);
		put(&o, "sku %s", s->name);
		if (pol)
			put(&o, " per_order=%u per_customer=%u low_stock=%u", pol->per_order, pol->per_customer,
			    pol->low_stock);
		put(&o, "\n");
		const core_inb *b = inbound_of(c, s);
		uint32_t held[CORE_INBOUND_PER_SKU_MAX];
		if (b)
			inbound_held_now(c, b, held);
		for (uint32_t k = 0; b && k < b->n; k++)
			put(&o, "  inbound %s qty=%u held=%u eta=%" PRId64 " ref=%.*s\n", c->locs[b->e[k].loc]->name,
			    b->e[k].qty, held[k], b->e[k].eta_ms, b->e[k].ref_len, b->e[k].ref);
		for (uint32_t j = 0; j < s->nrecs; j++) {
			const core_rec *rec = &s->recs[j];
			put(&o, "  at %s on_hand=%u reserved=%u committed=%u safety=%u v=%" PRIu64 "\n",
			    c->locs[rec->loc]->name, rec->on_hand, rec_reserved(c, rec),
			    rec->committed, rec->safety, rec_version(c, rec));
		}
	}
	free(skus);
	/* Sequence order is id order. */
	for (uint64_t seq = 0; seq < c->next_seq; seq++) {
		const core_resv *r = seqmap_get(&c->resv_by_seq, seq);
		if (r)
			dump_resv(c, &o, r);
	}
	core_cust **cs = (core_cust **)sorted_items(&c->cust_by_key, cmp_cust);
	for (uint32_t i = 0; cs && i < table_count(&c->cust_by_key); i++)
		if (cust_units(c, cs[i])) /* all of it lazily expired: gone once swept */
			put(&o, "customer %.*s sku=%s units=%" PRIu64 "\n", cs[i]->len, cs[i]->id,
			    cs[i]->sku->name, cust_units(c, cs[i]));
	free(cs);
	core_idem **ks = (core_idem **)sorted_items(&c->idem_by_key, cmp_idem);
	for (uint32_t i = 0; ks && i < table_count(&c->idem_by_key); i++)
		put(&o, "idem %u %.*s params=%016" PRIx64 " at=%" PRId64 "\n", ks[i]->method,
		    ks[i]->key_len, ks[i]->key, ks[i]->params_hash, ks[i]->created_ms);
	free(ks);
	return o.len;
}

const char *core_check(const core *c)
{
	const char *why = resv_check(c);
	if (why == NULL)
		why = heap_check(c);
	if (why == NULL)
		why = policy_check(c);
	if (why == NULL)
		why = inbound_check(c);
	if (why == NULL)
		why = inbound_waiting_check(c);
	if (why == NULL)
		why = expiry_check(c);
	if (why == NULL)
		why = sku_seq_check(c);
	return why;
}
