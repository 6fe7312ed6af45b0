/*
 * policy.c - channels (which locations serve a channel, and the buffer it
 * may not touch), sku policies (purchase limits, low-stock threshold) and
 * the units each customer holds of a sku with a per-customer limit.
 *
 * Customers' units are derived from the live reservations, which keep
 * their customer id: reserve adds the units it holds, release, fulfill and
 * expiry take them back. They are kept only for skus with a per-customer
 * limit, so orders of other skus pay nothing for them; setting a limit
 * counts what live reservations already hold (one pass over them).
 */
#include "core_internal.h"

#include <stdlib.h>

static uint32_t chan_hash_of(const void *item)
{
	return (uint32_t)((const core_channel *)item)->hash;
}

static uint32_t pol_hash_of(const void *item)
{
	return ((const core_skupol *)item)->sku->hash32;
}

static uint32_t cust_hash_of(const void *item)
{
	return (uint32_t)((const core_cust *)item)->hash;
}

int policy_init(core *c)
{
	c->chans = calloc(CORE_CHANNELS_MAX, sizeof(*c->chans));
	if (c->chans == NULL)
		return -1;
	if (table_init(&c->chan_by_name, 16, chan_hash_of) != 0)
		goto fail;
	if (table_init(&c->pol_by_sku, 64, pol_hash_of) != 0)
		goto fail_pol;
	if (table_init(&c->cust_by_key, 64, cust_hash_of) != 0)
		goto fail_cust;
	return 0;

fail_cust:
	table_finish(&c->pol_by_sku);
fail_pol:
	table_finish(&c->chan_by_name);
fail:
	free(c->chans);
	return -1;
}

static void free_items(table *t)
{
	for (uint32_t i = 0; i < table_slots(t); i++)
		free(table_at(t, i));
	table_finish(t);
}

void policy_finish(core *c)
{
	free_items(&c->chan_by_name);
	free_items(&c->pol_by_sku);
	free_items(&c->cust_by_key);
	free(c->chans);
}

/* ---- channels ------------------------------------------------------------------ */

static uint64_t chan_name_hash(const core *c, core_str name)
{
	return hash_bytes(c->cfg.hash_seed ^ 5, name.p, name.len);
}

static bool chan_eq(const void *item, const void *key)
{
	const core_channel *ch = item;
	const core_str *name = key;
	return ch->name_len == name->len && memcmp(ch->name, name->p, name->len) == 0;
}

core_channel *channel_find(const core *c, core_str name)
{
	if (table_count(&c->chan_by_name) == 0)
		return NULL;
	return table_find(&c->chan_by_name, chan_name_hash(c, name), chan_eq, &name);
}

static size_t chan_words(const core *c)
{
	return (c->cfg.locations_max + 63) / 64;
}

int core_channel_find(const core *c, core_str name, const core_channel **out, core_error *err)
{
	if (!name_valid(name, CORE_CHANNEL_MAX))
		return core_fail(err, CORE_E_BAD_REQUEST,
		    "channel: must be 1 to %d bytes without control characters", CORE_CHANNEL_MAX);
	*out = channel_find(c, name);
	if (*out == NULL)
		return core_fail(err, CORE_E_NOT_FOUND, "channel '%.*s' not found: channel.put makes it",
		    (int)name.len, name.p);
	return 0;
}

/* Make a channel, linked, serving every location with no buffer. */
core_channel *channel_make(core *c, core_str name, core_error *err)
{
	if (c->nchans >= CORE_CHANNELS_MAX) {
		core_fail(err, CORE_E_TOO_LARGE, "channel: the engine holds its maximum of %d channels",
		    CORE_CHANNELS_MAX);
		return NULL;
	}
	core_channel *ch = calloc(1, sizeof(*ch) + chan_words(c) * sizeof(uint64_t));
	if (ch == NULL || table_reserve(&c->chan_by_name, 1) != 0) {
		free(ch);
		core_fail(err, CORE_E_BUSY, "out of memory");
		return NULL;
	}
	memcpy(ch->name, name.p, name.len);
	ch->name_len = (uint8_t)name.len;
	ch->hash = chan_name_hash(c, name);
	ch->all = true;
	int rc = table_insert(&c->chan_by_name, ch->hash, ch);
	assert(rc == 0); /* room was reserved */
	(void)rc;
	c->chans[c->nchans++] = ch;
	return ch;
}

/* Set a channel's locations to ids[0..n). */
static void channel_set_locations(core *c, core_channel *ch, const uint16_t *ids, uint32_t n)
{
	memset(ch->bits, 0, chan_words(c) * sizeof(uint64_t));
	ch->all = false;
	ch->nlocs = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t bit = UINT64_C(1) << (ids[i] & 63);
		if (!(ch->bits[ids[i] >> 6] & bit)) {
			ch->bits[ids[i] >> 6] |= bit;
			ch->nlocs++;
		}
	}
}

int policy_channel_put(core *c, const core_channel_cmd *cmd, core_result *res, core_error *err)
{
	if (!name_valid(cmd->channel, CORE_CHANNEL_MAX))
		return core_fail(err, CORE_E_BAD_REQUEST,
		    "channel: must be 1 to %d bytes without control characters", CORE_CHANNEL_MAX);
	if (cmd->buffer < -1 || cmd->buffer > CORE_QTY_MAX)
		return core_fail(err, CORE_E_BAD_REQUEST, "buffer: must be 0 to %lld", CORE_QTY_MAX);
	if (cmd->has_locations && cmd->all_locations)
		return core_fail(err, CORE_E_BAD_REQUEST, "locations: give a list or all_locations, not both");
	if (cmd->has_locations && cmd->nlocations > c->cfg.locations_max)
		return core_fail(err, CORE_E_TOO_LARGE, "locations: at most %u", c->cfg.locations_max);
	uint16_t *ids = NULL;
	if (cmd->has_locations) {
		/* The location ids first: a name that is not a location changes nothing. */
		ids = malloc((cmd->nlocations ? cmd->nlocations : 1) * sizeof(*ids));
		if (ids == NULL)
			return core_fail(err, CORE_E_BUSY, "out of memory");
		for (uint32_t i = 0; i < cmd->nlocations; i++) {
			core_loc *l = name_valid(cmd->locations[i], CORE_NAME_MAX) ? loc_find(c, cmd->locations[i]) : NULL;
			if (l == NULL) {
				free(ids);
				return core_fail(err, name_valid(cmd->locations[i], CORE_NAME_MAX) ? CORE_E_NOT_FOUND
				    : CORE_E_BAD_REQUEST, "locations[%u]: no location '%.*s'", i,
				    (int)(cmd->locations[i].len > 64 ? 64 : cmd->locations[i].len), cmd->locations[i].p);
			}
			ids[i] = l->id;
		}
	}
	core_channel *ch = channel_find(c, cmd->channel);
	if (ch == NULL && (ch = channel_make(c, cmd->channel, err)) == NULL) {
		free(ids);
		return err->code;
	}
	/* Nothing can fail from here on. */
	if (cmd->has_locations)
		channel_set_locations(c, ch, ids, cmd->nlocations);
	if (cmd->all_locations) {
		ch->all = true;
		ch->nlocs = 0;
		memset(ch->bits, 0, chan_words(c) * sizeof(uint64_t));
	}
	if (cmd->buffer >= 0)
		ch->buffer = (uint32_t)cmd->buffer;
	free(ids);
	res->kind = CORE_RESULT_CHANNEL;
	res->channel = ch;
	return 0;
}

void core_channel_get(const core *c, const core_channel *ch, core_channel_view *out)
{
	*out = (core_channel_view){ .name = { ch->name, ch->name_len }, .all_locations = ch->all,
		.nlocations = ch->all ? 0 : ch->nlocs, .buffer = ch->buffer };
}

void core_channel_locations(const core *c, const core_channel *ch,
    void (*emit)(void *ctx, core_str location), void *ctx)
{
	for (uint32_t r = 0; !ch->all && r < c->nlocs; r++) {
		uint16_t id = c->rank_order[r];
		if ((ch->bits[id >> 6] >> (id & 63)) & 1)
			emit(ctx, (core_str){ c->locs[id]->name, c->locs[id]->name_len });
	}
}

uint32_t core_channel_count(const core *c)
{
	return c->nchans;
}

const core_channel *core_channel_at(const core *c, uint32_t i)
{
	return i < c->nchans ? c->chans[i] : NULL;
}

/* ---- sku policies ------------------------------------------------------------------ */

static bool pol_eq(const void *item, const void *key)
{
	return ((const core_skupol *)item)->sku == key;
}

const core_skupol *policy_of(const core *c, const core_sku *s)
{
	if (table_count(&c->pol_by_sku) == 0 || s == NULL)
		return NULL;
	return table_find(&c->pol_by_sku, s->hash32, pol_eq, s);
}

static void cust_drop_sku(core *c, const core_sku *s);

int policy_sku_put(core *c, const core_sku_cmd *cmd, core_result *res, core_error *err)
{
	if (!name_valid(cmd->sku, CORE_NAME_MAX))
		return core_fail(err, CORE_E_BAD_REQUEST,
		    "sku: must be 1 to %d bytes without control characters", CORE_NAME_MAX);
	const int64_t *vals[3] = { &cmd->per_order, &cmd->per_customer, &cmd->low_stock };
	static const char *const names[3] = { "per_order", "per_customer", "low_stock" };
	for (int i = 0; i < 3; i++)
		if (*vals[i] < -1 || *vals[i] > CORE_QTY_MAX)
			return core_fail(err, CORE_E_BAD_REQUEST, "%s: must be 0 to %lld", names[i], CORE_QTY_MAX);
	core_sku *s = sku_find(c, cmd->sku);
	core_skupol *pol = (core_skupol *)(uintptr_t)policy_of(c, s);
	core_skupol next = pol ? *pol : (core_skupol){ 0 };
	if (cmd->per_order >= 0)
		next.per_order = (uint32_t)cmd->per_order;
	if (cmd->per_customer >= 0)
		next.per_customer = (uint32_t)cmd->per_customer;
	if (cmd->low_stock >= 0)
		next.low_stock = (uint32_t)cmd->low_stock;
	bool any = next.per_order || next.per_customer || next.low_stock;
	core_skupol *made = NULL;
	if (any && pol == NULL &&
	    ((made = calloc(1, sizeof(*made))) == NULL || table_reserve(&c->pol_by_sku, 1) != 0)) {
		free(made);
		return core_fail(err, CORE_E_BUSY, "out of memory");
	}
	if (s == NULL && (s = sku_make(c, cmd->sku, err)) == NULL) {
		free(made);
		return err->code;
	}
	if (made) {
		made->sku = s;
		int rc = table_insert(&c->pol_by_sku, s->hash32, made);
		assert(rc == 0);
		(void)rc;
		pol = made;
	}
	uint32_t counted = pol ? pol->per_customer : 0;
	if (pol) {
		next.sku = s;
		*pol = next;
	}
	/* Customers' units are kept while there is a per-customer limit. */
	if (counted == 0 && next.per_customer > 0 && cust_rebuild(c, s) != 0) {
		cust_drop_sku(c, s);
		if (made) {
			table_remove(&c->pol_by_sku, made);
			free(made);
		} else {
			pol->per_customer = 0;
		}
		return core_fail(err, CORE_E_BUSY, "out of memory");
	}
	if (counted > 0 && next.per_customer == 0)
		cust_drop_sku(c, s);
	if (pol && !any) {
		table_remove(&c->pol_by_sku, pol);
		free(pol);
	}
	res->kind = CORE_RESULT_SKU;
	res->sku = (core_sku_view){ { s->name, s->name_len }, next.per_order, next.per_customer,
		next.low_stock };
	return 0;
}

/* ---- customers' units ------------------------------------------------------------- */

uint64_t cust_hash(const core *c, core_str customer, const core_sku *s)
{
	return hash_mix(hash_bytes(c->cfg.hash_seed ^ 3, customer.p, customer.len) ^ s->hash32);
}

typedef struct cust_key {
	core_str customer;
	const core_sku *sku;
} cust_key;

static bool cust_eq(const void *item, const void *key)
{
	const core_cust *e = item;
	const cust_key *k = key;
	return e->sku == k->sku && e->len == k->customer.len && memcmp(e->id, k->customer.p, e->len) == 0;
}

core_cust *cust_find(const core *c, core_str customer, const core_sku *s)
{
	if (table_count(&c->cust_by_key) == 0)
		return NULL;
	cust_key k = { customer, s };
	return table_find(&c->cust_by_key, cust_hash(c, customer, s), cust_eq, &k);
}

static core_cust *cust_new(const core *c, core_str customer, core_sku *s)
{
	core_cust *e = malloc(sizeof(*e) + customer.len);
	if (e == NULL)
		return NULL;
	*e = (core_cust){ .hash = cust_hash(c, customer, s), .sku = s, .len = (uint8_t)customer.len };
	memcpy(e->id, customer.p, customer.len);
	return e;
}

int cust_prepare(core *c, core_str customer, core_sku *const *skus, uint32_t n, core_cust **out)
{
	int made = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (cust_find(c, customer, skus[i]))
			continue;
		core_cust *e = cust_new(c, customer, skus[i]);
		if (e == NULL)
			goto fail;
		out[made++] = e;
	}
	if (made && table_reserve(&c->cust_by_key, (uint32_t)made) != 0)
		goto fail;
	return made;
fail:
	while (made > 0)
		free(out[--made]);
	return -1;
}

void cust_link(core *c, core_cust *e)
{
	int rc = table_insert(&c->cust_by_key, e->hash, e);
	assert(rc == 0); /* room was reserved */
	(void)rc;
}

void cust_unlink(core *c, core_cust *e)
{
	assert(e->ledger == 0);
	table_remove(&c->cust_by_key, e);
	free(e);
}

void cust_add(core *c, core_str customer, const core_sku *s, uint64_t units)
{
	core_cust *e = cust_find(c, customer, s);
	assert(e != NULL);
	if (e)
		e->units += units;
}

void cust_take(core *c, core_str customer, const core_sku *s, uint64_t units)
{
	const core_skupol *pol = policy_of(c, s);
	if (pol == NULL || pol->per_customer == 0 || customer.p == NULL || units == 0)
		return;
	core_cust *e = cust_find(c, customer, s);
	assert(e != NULL && e->units >= units);
	if (e == NULL)
		return;
	e->units -= units;
	if (e->units == 0) {
		assert(e->ledger == 0); /* held ones' units are in units */
		table_remove(&c->cust_by_key, e);
		free(e);
	}
}

/* Forget every customer's units of s, with their ledgers. Removing moves
 * items within the table, so the entries are collected first (or, without
 * memory for that, found again from the start after each removal). */
static void cust_drop_sku(core *c, const core_sku *s)
{
	uint32_t n = 0, slots = table_slots(&c->cust_by_key);
	for (uint32_t i = 0; i < slots; i++) {
		const core_cust *e = table_at(&c->cust_by_key, i);
		n += e && e->sku == s;
	}
	core_cust **drop = n ? malloc(n * sizeof(*drop)) : NULL;
	if (drop) {
		uint32_t k = 0;
		for (uint32_t i = 0; i < slots; i++) {
			core_cust *e = table_at(&c->cust_by_key, i);
			if (e && e->sku == s)
				drop[k++] = e;
		}
		for (uint32_t i = 0; i < k; i++) {
			ledger_clear(c, &drop[i]->ledger);
			table_remove(&c->cust_by_key, drop[i]);
			free(drop[i]);
		}
		free(drop);
		return;
	}
	for (uint32_t i = 0; n && i < table_slots(&c->cust_by_key); i++) {
		core_cust *e = table_at(&c->cust_by_key, i);
		if (e && e->sku == s) {
			ledger_clear(c, &e->ledger);
			table_remove(&c->cust_by_key, e);
			free(e);
			n--;
			i = UINT32_MAX; /* from the start: the loop's i++ makes it 0 */
		}
	}
}

/* Units a line still holds. */
static uint64_t rline_left(const core_resv *r, const core_rline *l)
{
	const core_ralloc *al = resv_allocs(r);
	uint64_t n = 0;
	for (uint32_t j = 0; j < l->nallocs; j++)
		n += al[l->alloc_first + j].qty;
	return n;
}

int cust_rebuild(core *c, const core_sku *only)
{
	if (table_count(&c->pol_by_sku) == 0)
		return 0;
	const seqmap *m = &c->resv_by_seq;
	for (uint64_t p = 0; p < m->npages; p++) {
		for (uint32_t i = 0; m->pages[p] && i < SEQMAP_PAGE_ITEMS; i++) {
			const core_resv *r = m->pages[p]->items[i];
			if (r == NULL || (r->status != CORE_RESV_HELD && r->status != CORE_RESV_COMMITTED))
				continue;
			core_str customer = resv_customer(r);
			for (uint32_t k = 0; customer.p && k < r->nlines; k++) {
				core_sku *s = r->lines[k].sku;
				const core_skupol *pol = policy_of(c, s);
				uint64_t left = rline_left(r, &r->lines[k]);
				if (pol == NULL || pol->per_customer == 0 || (only && s != only) || left == 0)
					continue;
				core_cust *e = cust_find(c, customer, s);
				if (e == NULL) {
					if ((e = cust_new(c, customer, s)) == NULL ||
					    table_reserve(&c->cust_by_key, 1) != 0) {
						free(e);
						return -1;
					}
					cust_link(c, e);
				}
				/* What a held one gives back when it expires (expiry.c). */
				if (r->status == CORE_RESV_HELD && ledger_reserve(c, 1) != 0)
					return -1;
				e->units += left;
				if (r->status == CORE_RESV_HELD)
					ledger_add(c, &e->ledger, r->expires_at_ms, left, 0);
			}
		}
	}
	return 0;
}

/* Customers' units against the live reservations. */
const char *policy_check(const core *c)
{
	uint32_t n = table_count(&c->cust_by_key);
	uint64_t *sums = calloc(n + 1, sizeof(*sums));
	const core_cust **entries = calloc(n + 1, sizeof(*entries));
	const char *why = NULL;
	if (sums == NULL || entries == NULL) {
		why = "check: out of memory";
		goto out;
	}
	uint32_t k = 0;
	for (uint32_t i = 0; i < table_slots(&c->cust_by_key); i++)
		if (table_at(&c->cust_by_key, i))
			entries[k++] = table_at(&c->cust_by_key, i);
	for (uint64_t seq = 0; seq < c->next_seq && !why; seq++) {
		const core_resv *r = seqmap_get(&c->resv_by_seq, seq);
		if (r == NULL || (r->status != CORE_RESV_HELD && r->status != CORE_RESV_COMMITTED))
			continue;
		core_str customer = resv_customer(r);
		for (uint32_t l = 0; customer.p && l < r->nlines && !why; l++) {
			const core_skupol *pol = policy_of(c, r->lines[l].sku);
			uint64_t left = rline_left(r, &r->lines[l]);
			if (pol == NULL || pol->per_customer == 0 || left == 0)
				continue;
			const core_cust *e = cust_find(c, customer, r->lines[l].sku);
			uint32_t j = 0;
			while (j < n && entries[j] != e)
				j++;
			if (e == NULL || j == n)
				why = "a customer's units of a limited sku are not counted";
			else
				sums[j] += left;
		}
	}
	for (uint32_t j = 0; j < n && !why; j++) {
		const core_skupol *pol = policy_of(c, entries[j]->sku);
		if (sums[j] != entries[j]->units || entries[j]->units == 0 || pol == NULL || pol->per_customer == 0)
			why = "a customer's units of a limited sku differ from the reservations";
	}
out:
	free(sums);
	free(entries);
	return why;
}
