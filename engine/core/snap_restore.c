/*
 * snap_restore.c - the checked restore of a snapshot (see core.h,
 * "Snapshots"): the driver, locations, channels, skus, keys and the final
 * checks. Reservations are restored by snap_restore_resv.c.
 *
 * A restore builds the core's structures directly, not through commands:
 * locations, skus and records as they were, each reservation as one
 * allocation laid out as resv_build() lays it out, keys through idem.h.
 * What is derived is rebuilt as items arrive (the expiry heap, the finished
 * FIFO, the key FIFOs, the counters) or once its inputs are in (location
 * ranks after the last location). Reservation lines find their skus in
 * batches (see struct pending).
 *
 * Records carry their reserved and committed, which the holds must add up
 * to. While restoring, a record starts at 0 and the holds are added to it;
 * what the snapshot claimed waits in r->claims, at the index the record
 * keeps in its ledger field, and core_restore_finish() compares the two
 * and clears the index; the ledgers (expiry.c) are built after that.
 */
#include "snap_internal.h"
#include "idem.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* The largest next_seq a restore accepts: the reservation directory holds
 * a pointer per 4096 sequence numbers, so this bounds it to 2 GiB. */
#define SNAP_SEQ_MAX (UINT64_C(1) << 40)

/* States of up to this many records and reservations in all are also run
 * through core_check(): about 30 ms at this size, 0.5 s at a million each. */
#define SNAP_CHECK_ITEMS_MAX 200000u

int snap_refuse(core_restore *r, core_error *err, int code, const char *fmt, ...)
{
	*err = (core_error){ .code = code };
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	if (r)
		r->failure = *err;
	return code;
}

void core_restore_abort(core_restore *r)
{
	if (r == NULL)
		return;
	core_destroy(r->c);
	free(r->claims);
	free(r->pending);
	free(r->bo);
	free(r);
}

core_restore *core_restore_begin(const core_config *cfg, const core_snap_header *hdr,
    core_error *err)
{
	core_config cc = *cfg;
	cc.hash_seed = hdr->hash_seed;
	cc.id_epoch = hdr->id_epoch;
	if (hdr->now_ms < 0)
		return snap_refuse(NULL, err, CORE_E_BAD_REQUEST, "header: now_ms is negative"), NULL;
	if (hdr->next_seq < 1 || hdr->next_seq > SNAP_SEQ_MAX)
		return snap_refuse(NULL, err, CORE_E_BAD_REQUEST, "header: next_seq must be 1 to %llu",
		    (unsigned long long)SNAP_SEQ_MAX), NULL;
	core_restore *r = calloc(1, sizeof(*r));
	if (r == NULL || (r->c = core_create(&cc)) == NULL) {
		free(r);
		return snap_refuse(NULL, err, CORE_E_BUSY, "out of memory"), NULL;
	}
	r->hdr = *hdr;
	core *c = r->c;
	const core_config *lim = &c->cfg; /* as core_create() clamped it */
	if (hdr->locations > lim->locations_max || hdr->skus > lim->skus_max ||
	    hdr->reservations > lim->reservations_max || hdr->keys > lim->idempotency_max) {
		snap_refuse(NULL, err, CORE_E_TOO_LARGE, "header: %llu locations, %llu skus, %llu reservations "
		    "and %llu keys exceed the engine's limits (%u, %u, %u, %u)",
		    (unsigned long long)hdr->locations, (unsigned long long)hdr->skus,
		    (unsigned long long)hdr->reservations, (unsigned long long)hdr->keys,
		    lim->locations_max, lim->skus_max, lim->reservations_max, lim->idempotency_max);
		goto fail;
	}
	if (hdr->records > hdr->skus * hdr->locations || hdr->records > UINT32_MAX) {
		snap_refuse(NULL, err, CORE_E_BAD_REQUEST, "header: %llu records cannot belong to %llu skus "
		    "at %llu locations", (unsigned long long)hdr->records,
		    (unsigned long long)hdr->skus, (unsigned long long)hdr->locations);
		goto fail;
	}
	c->now_ms = hdr->now_ms;
	c->next_seq = hdr->next_seq;
	c->expired_total = hdr->expired_total;
	/* Room for what the header announces (within the limits just checked),
	 * so the tables do not grow while restoring. */
	if ((r->pending = malloc(PENDING_MAX * sizeof(*r->pending))) == NULL ||
	    table_reserve(&c->loc_by_name, (uint32_t)hdr->locations) != 0 ||
	    table_reserve(&c->sku_by_name, (uint32_t)hdr->skus) != 0 ||
	    sku_seq_reserve(c, (uint32_t)hdr->skus) != 0 ||
	    table_reserve(&c->idem_by_key, (uint32_t)hdr->keys) != 0) {
		snap_refuse(NULL, err, CORE_E_BUSY, "out of memory");
		goto fail;
	}
	return r;

fail:
	core_restore_abort(r);
	return NULL;
}

/* A location's routing attributes as location.put would accept them. */
static const char *location_attrs_invalid(const core_snap_location *v)
{
	if (v->has_coords && !(isfinite(v->lat) && v->lat >= -90 && v->lat <= 90 &&
	    isfinite(v->lon) && v->lon >= -180 && v->lon <= 180))
		return "coordinates out of range";
	if (!(isfinite(v->cost) && v->cost >= 0 && v->cost <= CORE_COST_MAX) ||
	    !(isfinite(v->cost_per_km) && v->cost_per_km >= 0 && v->cost_per_km <= CORE_COST_MAX))
		return "cost or cost_per_km out of range";
	if (v->capacity < -1 || v->capacity > CORE_QTY_MAX)
		return "capacity out of range";
	if (v->ntags > CORE_TAGS_MAX)
		return "too many tags";
	for (uint32_t t = 0; t < v->ntags; t++) {
		if (!name_valid(v->tags[t], CORE_TAG_MAX))
			return "a tag must be 1 to 32 bytes without control characters";
		for (uint32_t u = 0; u < t; u++)
			if (v->tags[u].len == v->tags[t].len && memcmp(v->tags[u].p, v->tags[t].p, v->tags[t].len) == 0)
				return "a tag is there twice";
	}
	return NULL;
}

static int restore_location(core_restore *r, const core_snap_location *v, core_error *err)
{
	core *c = r->c;
	if (c->nlocs >= r->hdr.locations)
		return snap_refuse(r, err, CORE_E_BAD_REQUEST, "more locations than the header's %llu",
		    (unsigned long long)r->hdr.locations);
	if (v->id != c->nlocs)
		return snap_refuse(r, err, CORE_E_BAD_REQUEST, "location %u: has id %llu; ids go 0, 1, 2, "
		    "... in order", c->nlocs, (unsigned long long)v->id);
	if (!name_valid(v->name, CORE_NAME_MAX))
		return snap_refuse(r, err, CORE_E_BAD_REQUEST, "location %u: the name must be 1 to %d bytes "
		    "without control characters", c->nlocs, CORE_NAME_MAX);
	if (v->priority < INT32_MIN || v->priority > INT32_MAX)
		return snap_refuse(r, err, CORE_E_BAD_REQUEST, "location %u: priority out of range", c->nlocs);
	if (loc_find(c, v->name))
		return snap_refuse(r, err, CORE_E_BAD_REQUEST, "location %u: '%.*s' is there twice", c->nlocs,
		    (int)v->name.len, v->name.p);
	const char *why = location_attrs_invalid(v);
	if (why)
		return snap_refuse(r, err, CORE_E_BAD_REQUEST, "location '%.*s': %s", (int)v->name.len,
		    v->name.p, why);
	core_loc *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return snap_refuse(r, err, CORE_E_BUSY, "out of memory");
	memcpy(l->name, v->name.p, v->name.len);
	l->name_len = (uint8_t)v->name.len;
	l->hash = loc_name_hash(c, v->name);
	loc_defaults(l);
	l->priority = (int32_t)v->priority;
	if (v->has_coords)
		loc_set_coords(l, v->lat, v->lon);
	l->cost = v->cost + 0.0;
	l->cost_per_km = v->cost_per_km + 0.0;
	l->capacity = v->capacity;
	l->enabled = v->enabled;
	l->ntags = (uint8_t)v->ntags;
	for (uint32_t t = 0; t < v->ntags; t++) {
		memcpy(l->tags[t], v->tags[t].p, v->tags[t].len);
		l->tag_len[t] = (uint8_t)v->tags[t].len;
	}
	l->id = (uint16_t)c->nlocs;
	c->locs[c->nlocs++] = l; /* owned by the core from here */
	if (table_insert(&c->loc_by_name, l->hash, l) != 0)
		return snap_refuse(r, err, CORE_E_BUSY, "out of memory");
	return 0;
}

static int cmp_loc_rank(const void *a, const void *b)
{
	return loc_rank_cmp(*(const core_loc *const *)a, *(const core_loc *const *)b);
}

static int cmp_loc_name(const void *a, const void *b)
{
	return loc_name_cmp(*(const core_loc *const *)a, *(const core_loc *const *)b);
}

/* Ranks follow from the locations: once they are all in. */
static int rank_locations(core_restore *r, core_error *err)
{
	core *c = r->c;
	if (r->ranked)
		return 0;
	r->ranked = true;
	if (c->nlocs == 0)
		return 0;
	core_loc **by_rank = malloc(c->nlocs * sizeof(*by_rank));
	if (by_rank == NULL)
		return snap_refuse(r, err, CORE_E_BUSY, "out of memory");
	memcpy(by_rank, c->locs, c->nlocs * sizeof(*by_rank));
	if (c->nlocs > 1) /* qsort must not see a NULL array, even empty */
		qsort(by_rank, c->nlocs, sizeof(*by_rank), cmp_loc_rank);
	for (uint32_t i = 0; i < c->nlocs; i++) {
		c->rank_order[i] = by_rank[i]->id;
		by_rank[i]->rank = i;
	}
	if (c->nlocs > 1)
		qsort(by_rank, c->nlocs, sizeof(*by_rank), cmp_loc_name);
	for (uint32_t i = 0; i < c->nlocs; i++) {
		c->name_order[i] = by_rank[i]->id;
		by_rank[i]->name_rank = i;
	}
	free(by_rank);
	loc_ranks_checked(c);
	return 0;
}

static int claims_room(core_restore *r, uint32_t n, core_error *err)
{
	if (r->nclaims + n <= r->claims_cap)
		return 0;
	uint64_t cap = r->claims_cap ? r->claims_cap : 1024;
	while (cap < r->nclaims + n)
		cap *= 2;
	rec_claim *claims = realloc(r->claims, cap * sizeof(*claims));
	if (claims == NULL)
		return snap_refuse(r, err, CORE_E_BUSY, "out of memory");
	r->claims = claims;
	r->claims_cap = cap;
	return 0;
}

static int restore_sku(core_restore *r, const core_snap_sku *v, core_error *err)
{
	core *c = r->c;
	if (r->skus >= r->hdr.skus)
		return snap_refuse(r, err, CORE_E_BAD_REQUEST, "more skus than the header's %llu",
		    (unsigned long long)r->hdr.skus);
	if (!name_valid(v->name, CORE_NAME_MAX))
		return snap_refuse(r, err, CORE_E_BAD_REQUEST, "sku %llu: the name must be 1 to %d bytes "
		    "without control characters", (unsigned long long)r->skus, CORE_NAME_MAX);
	int name_len = (int)v->name.len;
	if (v->nrecs > c->nlocs)
		return snap_refuse(r, err, CORE_E_BAD_REQUEST, "sku '%.*s': has %u records; a sku has at most "
		    "one per location (%u)", name_len, v->name.p, v->nrecs, c->nlocs);
	if (!snap_qty_valid(v->per_order) || !snap_qty_valid(v->per_customer) || !snap_qty_valid(v->low_stock))
		return snap_refuse(r, err, CORE_E_BAD_REQUEST, "sku '%.*s': a limit is not 0 to %lld", name_len,
		    v->name.p, CORE_QTY_MAX);
	if (c->nrecs + v->nrecs > r->hdr.records)
		return snap_refuse(r, err, CORE_E_BAD_REQUEST, "sku '%.*s': more records than the header's %llu",
		    name_len, v->name.p, (unsigned long long)r->hdr.records);
	if (sku_find(c, v->name))
		return snap_refuse(r, err, CORE_E_BAD_REQUEST, "sku '%.*s': is there twice", name_len, v->name.p);
	for (uint32_t i = 0; i < v->nrecs; i++) {
		const core_snap_record *rec = &v->recs[i];
		if (rec->location >= c->nlocs)
			return snap_refuse(r, err, CORE_E_BAD_REQUEST, "sku '%.*s': record %u names location %llu "
			    "of %u", name_len, v->name.p, i, (unsigned long long)rec->location, c->nlocs);
		if (i > 0 && c->locs[v->recs[i - 1].location]->name_rank >= c->locs[rec->location]->name_rank)
			return snap_refuse(r, err, CORE_E_BAD_REQUEST, "sku '%.*s': records are not in location "
			    "name order, or a location is there twice", name_len, v->name.p);
		if (!snap_qty_valid(rec->on_hand) || !snap_qty_valid(rec->reserved) ||
		    !snap_qty_valid(rec->committed) || !snap_qty_valid(rec->safety))
			return snap_refuse(r, err, CORE_E_BAD_REQUEST, "sku '%.*s': record %u: a quantity is not "
			    "0 to %lld", name_len, v->name.p, i, CORE_QTY_MAX);
	}
	if (claims_room(r, v->nrecs, err) != 0)
		return err->code;
	core_sku *s = calloc(1, offsetof(core_sku, name) + v->name.len + 1);
	core_rec *recs = malloc(v->nrecs * sizeof(*recs));
	if (s == NULL || recs == NULL) {
		free(s);
		free(recs);
		return snap_refuse(r, err, CORE_E_BUSY, "out of memory");
	}
	for (uint32_t i = 0; i < v->nrecs; i++) {
		const core_snap_record *rec = &v->recs[i];
		recs[i] = (core_rec){ .on_hand = (uint32_t)rec->on_hand, .safety = (uint32_t)rec->safety,
			.version = rec->version, .loc = (uint16_t)rec->location,
			.ledger = (uint32_t)r->nclaims };
		r->claims[r->nclaims++] = (rec_claim){ (uint32_t)rec->reserved, (uint32_t)rec->committed };
	}
	s->recs = recs;
	s->nrecs = s->caprecs = (uint16_t)v->nrecs;
	s->name_len = (uint8_t)v->name.len;
	memcpy(s->name, v->name.p, v->name.len);
	uint64_t h = sku_name_hash(c, v->name);
	s->hash32 = (uint32_t)h;
	if (sku_seq_reserve(c, 1) != 0 || table_insert(&c->sku_by_name, h, s) != 0) {
		free(recs);
		free(s);
		return snap_refuse(r, err, CORE_E_BUSY, "out of memory");
	}
	sku_seq_push(c, s);
	c->nrecs += v->nrecs;
	r->skus++;
	for (uint32_t i = 0; i < v->ninbound; i++) {
		const core_snap_inbound *in = &v->inbound[i];
		if (in->location >= c->nlocs || in->qty < 1 || in->qty > CORE_QTY_MAX || in->eta_ms < 0 ||
		    in->backordered < 0 || in->backordered > in->qty ||
		    (in->ref.p && !name_valid(in->ref, CORE_REF_MAX)))
			return snap_refuse(r, err, CORE_E_BAD_REQUEST, "sku '%.*s': inbound entry %u is out of range",
			    name_len, v->name.p, i);
		inb_entry e = { .eta_ms = in->eta_ms, .qty = (uint32_t)in->qty, .held = (uint32_t)in->backordered,
			.loc = (uint16_t)in->location, .ref_len = (uint8_t)in->ref.len };
		if (in->ref.len)
			memcpy(e.ref, in->ref.p, in->ref.len);
		int rc = c->ninbound >= CORE_INBOUND_MAX || v->ninbound > CORE_INBOUND_PER_SKU_MAX ? -2
		    : inbound_restore(c, s, &e);
		if (rc != 0)
			return snap_refuse(r, err, rc == -1 ? CORE_E_BUSY : CORE_E_TOO_LARGE, rc == -1 ? "out of memory"
			    : "sku '%.*s': more inbound entries than the engine allows", name_len, v->name.p);
	}
	if (v->per_order || v->per_customer || v->low_stock) {
		core_skupol *pol = calloc(1, sizeof(*pol));
		if (pol == NULL || table_reserve(&c->pol_by_sku, 1) != 0) {
			free(pol);
			return snap_refuse(r, err, CORE_E_BUSY, "out of memory");
		}
		*pol = (core_skupol){ s, (uint32_t)v->per_order, (uint32_t)v->per_customer,
			(uint32_t)v->low_stock };
		table_insert(&c->pol_by_sku, s->hash32, pol);
	}
	return 0;
}

static int restore_key(core_restore *r, const core_snap_key *v, core_error *err)
{
	core *c = r->c;
	if (r->keys >= r->hdr.keys)
		return snap_refuse(r, err, CORE_E_BAD_REQUEST, "more keys than the header's %llu",
		    (unsigned long long)r->hdr.keys);
	if (v->method != CORE_SNAP_KEY_RESERVE && v->method != CORE_SNAP_KEY_ADJUST)
		return snap_refuse(r, err, CORE_E_BAD_REQUEST, "key %llu: unknown method %llu",
		    (unsigned long long)r->keys, (unsigned long long)v->method);
	if (!name_valid(v->key, CORE_KEY_MAX))
		return snap_refuse(r, err, CORE_E_BAD_REQUEST, "key %llu: must be 1 to %d bytes without "
		    "control characters", (unsigned long long)r->keys, CORE_KEY_MAX);
	int key_len = (int)v->key.len;
	if (v->created_ms < 0 || v->created_ms > c->now_ms)
		return snap_refuse(r, err, CORE_E_BAD_REQUEST, "key '%.*s': created_ms must be 0 to now_ms",
		    key_len, v->key.p);
	int method = v->method == CORE_SNAP_KEY_RESERVE ? IDEM_RESERVE : IDEM_ADJUST;
	if (idem_find(c, method, v->key))
		return snap_refuse(r, err, CORE_E_BAD_REQUEST, "key '%.*s': is there twice", key_len, v->key.p);
	core_resv *res = NULL;
	core_sku *sku = NULL;
	core_rec rec = { 0 };
	if (method == IDEM_RESERVE) {
		res = seqmap_get(&c->resv_by_seq, v->resv_seq);
		if (res == NULL || res->idem != NULL)
			return snap_refuse(r, err, CORE_E_BAD_REQUEST, "key '%.*s': reservation %llu is not there, "
			    "or has a key already", key_len, v->key.p, (unsigned long long)v->resv_seq);
	} else {
		const core_record_view *w = &v->reply;
		core_loc *loc = NULL;
		if (!name_valid(w->sku, CORE_NAME_MAX) || !name_valid(w->location, CORE_NAME_MAX) ||
		    (sku = sku_find(c, w->sku)) == NULL || (loc = loc_find(c, w->location)) == NULL ||
		    sku_rec_at(c, sku, loc->id) == NULL)
			return snap_refuse(r, err, CORE_E_BAD_REQUEST, "key '%.*s': the reply's record is not "
			    "there", key_len, v->key.p);
		if (!snap_qty_valid(w->on_hand) || !snap_qty_valid(w->reserved) || !snap_qty_valid(w->committed) ||
		    !snap_qty_valid(w->safety) || w->incoming < 0 || w->incoming > (int64_t)CORE_INBOUND_PER_SKU_MAX *
		    CORE_QTY_MAX)
			return snap_refuse(r, err, CORE_E_BAD_REQUEST, "key '%.*s': a quantity of the reply is "
			    "not 0 to %lld", key_len, v->key.p, CORE_QTY_MAX);
		rec = (core_rec){ .on_hand = (uint32_t)w->on_hand, .reserved = (uint32_t)w->reserved,
			.committed = (uint32_t)w->committed, .safety = (uint32_t)w->safety,
			.version = w->version, .loc = loc->id };
	}
	core_idem *e = idem_prepare(c, method, v->key, v->params_hash);
	if (e == NULL)
		return snap_refuse(r, err, CORE_E_BUSY, "out of memory");
	if (res)
		e->resv = res;
	else {
		rec_view(c, sku, &rec, &e->rec); /* names point into the sku and location */
		e->rec.incoming = v->reply.incoming; /* as the first reply said, not as now */
	}
	idem_commit(c, e); /* the header's count is within the limit: nothing is evicted */
	e->created_ms = v->created_ms;
	r->keys++;
	return 0;
}

/* Items come locations, channels, skus, reservations, keys: a kind's
 * place in that order, from 1; 0 for no kind. */
static int kind_order(int kind)
{
	static const int order[] = { [CORE_SNAP_LOCATION] = 1, [CORE_SNAP_CHANNEL] = 2,
		[CORE_SNAP_SKU] = 3, [CORE_SNAP_RESERVATION] = 4, [CORE_SNAP_KEY] = 5 };
	return kind >= CORE_SNAP_LOCATION && kind <= CORE_SNAP_CHANNEL ? order[kind] : 0;
}

static int restore_channel(core_restore *r, const core_snap_channel *v, core_error *err)
{
	core *c = r->c;
	if (!name_valid(v->name, CORE_CHANNEL_MAX))
		return snap_refuse(r, err, CORE_E_BAD_REQUEST, "channel %u: the name must be 1 to %d bytes without "
		    "control characters", c->nchans, CORE_CHANNEL_MAX);
	if (channel_find(c, v->name))
		return snap_refuse(r, err, CORE_E_BAD_REQUEST, "channel '%.*s': is there twice", (int)v->name.len,
		    v->name.p);
	if (!snap_qty_valid(v->buffer) || (v->all_locations && v->nlocations))
		return snap_refuse(r, err, CORE_E_BAD_REQUEST, "channel '%.*s': buffer out of range, or both all "
		    "locations and a list", (int)v->name.len, v->name.p);
	for (uint32_t i = 0; i < v->nlocations; i++)
		if (v->locations[i] >= c->nlocs || (i && v->locations[i] <= v->locations[i - 1]))
			return snap_refuse(r, err, CORE_E_BAD_REQUEST, "channel '%.*s': locations must be ids of "
			    "locations, ascending", (int)v->name.len, v->name.p);
	core_error e;
	core_channel *ch = channel_make(c, v->name, &e);
	if (ch == NULL)
		return snap_refuse(r, err, e.code, "%s", e.message);
	ch->buffer = (uint32_t)v->buffer;
	ch->all = v->all_locations;
	for (uint32_t i = 0; i < v->nlocations; i++)
		ch->bits[v->locations[i] >> 6] |= UINT64_C(1) << (v->locations[i] & 63);
	ch->nlocs = v->nlocations;
	return 0;
}

int core_restore_item(core_restore *r, const core_snap_item *item, core_error *err)
{
	if (r->failure.code) {
		*err = r->failure;
		return err->code;
	}
	int order = kind_order(item->kind);
	if (order == 0)
		return snap_refuse(r, err, CORE_E_BAD_REQUEST, "unknown item kind %d", (int)item->kind);
	if (order < r->last)
		return snap_refuse(r, err, CORE_E_BAD_REQUEST, "items out of order: locations, channels, skus, "
		    "reservations, then keys");
	if (item->kind != CORE_SNAP_LOCATION && rank_locations(r, err) != 0)
		return err->code;
	/* Keys refer to reservations whole. */
	if (order != r->last && r->npending && snap_pending_flush(r, err) != 0)
		return err->code;
	r->last = order;
	switch (item->kind) {
	case CORE_SNAP_CHANNEL: return restore_channel(r, &item->u.channel, err);
	case CORE_SNAP_LOCATION: return restore_location(r, &item->u.location, err);
	case CORE_SNAP_SKU: return restore_sku(r, &item->u.sku, err);
	case CORE_SNAP_RESERVATION: return snap_restore_resv(r, &item->u.resv, err);
	case CORE_SNAP_KEY: return restore_key(r, &item->u.key, err);
	}
	return snap_refuse(r, err, CORE_E_BAD_REQUEST, "unknown item kind");
}

/* The claimed reserved and committed of every record against the holds. */
static int check_claims(core_restore *r, core_error *err)
{
	core *c = r->c;
	for (uint32_t i = 0; i < table_slots(&c->sku_by_name); i++) {
		core_sku *s = table_at(&c->sku_by_name, i);
		for (uint32_t j = 0; s && j < s->nrecs; j++) {
			core_rec *rec = &s->recs[j];
			const rec_claim *claim = &r->claims[rec->ledger];
			if (claim->reserved != rec->reserved || claim->committed != rec->committed)
				return snap_refuse(r, err, CORE_E_BAD_REQUEST, "sku '%s' at '%s': reserved %u and "
				    "committed %u, but the reservations hold %u and %u", s->name,
				    c->locs[rec->loc]->name, claim->reserved, claim->committed,
				    rec->reserved, rec->committed);
			rec->ledger = 0;
		}
	}
	return 0;
}

core *core_restore_finish(core_restore *r, core_error *err)
{
	if (r->failure.code) {
		*err = r->failure;
		goto fail;
	}
	if (rank_locations(r, err) != 0 || (r->npending && snap_pending_flush(r, err) != 0))
		goto fail;
	core *c = r->c;
	const core_snap_header *h = &r->hdr;
	if (c->nlocs != h->locations || r->skus != h->skus || c->nrecs != h->records ||
	    r->reservations != h->reservations || r->keys != h->keys) {
		snap_refuse(r, err, CORE_E_BAD_REQUEST, "the snapshot holds %u locations, %llu skus, %llu "
		    "records, %llu reservations and %llu keys; its header says %llu, %llu, %llu, %llu "
		    "and %llu", c->nlocs, (unsigned long long)r->skus, (unsigned long long)c->nrecs,
		    (unsigned long long)r->reservations, (unsigned long long)r->keys,
		    (unsigned long long)h->locations, (unsigned long long)h->skus,
		    (unsigned long long)h->records, (unsigned long long)h->reservations,
		    (unsigned long long)h->keys);
		goto fail;
	}
	if (check_claims(r, err) != 0 || snap_check_backorders(r, err) != 0)
		goto fail;
	if (cust_rebuild(c, NULL) != 0 || expiry_ledgers_build(c) != 0) {
		snap_refuse(r, err, CORE_E_BUSY, "out of memory");
		goto fail;
	}
	/* The checks above and the way the restore builds the rest (the heap,
	 * the FIFOs and the counters from the items themselves) cover what
	 * core_check() checks; it runs as a second opinion where it is cheap,
	 * as it sorts every record. */
	const char *why = c->nrecs + resv_count(c) <= SNAP_CHECK_ITEMS_MAX ? core_check(c) : NULL;
	if (why) {
		snap_refuse(r, err, CORE_E_BAD_REQUEST, "the restored state is inconsistent: %s", why);
		goto fail;
	}
	free(r->claims);
	free(r->pending);
	free(r->bo);
	free(r);
	return c;

fail:
	core_restore_abort(r);
	return NULL;
}
