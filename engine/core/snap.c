/*
 * snap.c - snapshots of the whole state: the export cursor and the checked
 * restore (see core.h, "Snapshots").
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
 * keeps in its unused32 field, and core_restore_finish() compares the two
 * and clears the index.
 */
#include "core_internal.h"
#include "idem.h"
#include "plan.h"

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

/* ---- export -------------------------------------------------------------- */

enum snap_phase {
	PHASE_LOCATIONS,
	PHASE_CHANNELS,
	PHASE_SKUS,
	PHASE_LIVE,      /* held and committed, by sequence number */
	PHASE_FINISHED,  /* the finished FIFO, oldest first */
	PHASE_KEYS,      /* reserve keys, then adjust keys, oldest first */
	PHASE_DONE,
};

struct core_snap_cursor {
	const core *c;
	int phase;
	uint64_t pos;            /* location id, sku table slot or sequence number */
	const core_resv *fin;    /* the next finished reservation */
	const core_idem *key;    /* the next key */
	int key_method;          /* its method */
	/* Scratch the views point into, owned by the cursor and sized at open
	 * for the largest item the core can hold. */
	core_snap_record *recs;  /* nlocs */
	core_snap_line *lines;   /* lines_max */
	core_snap_alloc *allocs; /* UINT16_MAX: a reservation's allocations */
	uint64_t *loc_ids;       /* nlocs: a channel's locations */
	core_snap_inbound inb[CORE_INBOUND_PER_SKU_MAX];
};

core_snap_cursor *core_snap_open(const core *c, core_snap_header *hdr)
{
	core_snap_cursor *cur = calloc(1, sizeof(*cur));
	if (cur == NULL)
		return NULL;
	cur->c = c;
	cur->phase = PHASE_LOCATIONS;
	cur->recs = malloc((c->nlocs ? c->nlocs : 1) * sizeof(*cur->recs));
	cur->lines = malloc((c->cfg.lines_max ? c->cfg.lines_max : 1) * sizeof(*cur->lines));
	cur->allocs = malloc(UINT16_MAX * sizeof(*cur->allocs));
	cur->loc_ids = malloc((c->nlocs ? c->nlocs : 1) * sizeof(*cur->loc_ids));
	if (cur->recs == NULL || cur->lines == NULL || cur->allocs == NULL || cur->loc_ids == NULL) {
		core_snap_close(cur);
		return NULL;
	}
	*hdr = (core_snap_header){
		.hash_seed = c->cfg.hash_seed,
		.id_epoch = c->cfg.id_epoch,
		.now_ms = c->now_ms,
		.next_seq = c->next_seq,
		.expired_total = c->expired_total,
		.locations = c->nlocs,
		.skus = table_count(&c->sku_by_name),
		.records = c->nrecs,
		.reservations = resv_count(c),
		.keys = table_count(&c->idem_by_key),
	};
	return cur;
}

void core_snap_close(core_snap_cursor *cur)
{
	if (cur == NULL)
		return;
	free(cur->recs);
	free(cur->lines);
	free(cur->allocs);
	free(cur->loc_ids);
	free(cur);
}

static void sku_item(core_snap_cursor *cur, const core_sku *s, core_snap_item *item)
{
	for (uint32_t i = 0; i < s->nrecs; i++) {
		const core_rec *rec = &s->recs[i];
		cur->recs[i] = (core_snap_record){ rec->loc, rec->on_hand, rec->reserved,
			rec->committed, rec->safety, rec->version };
	}
	const core_skupol *pol = policy_of(cur->c, s);
	const core_inb *b = inbound_of(cur->c, s);
	for (uint32_t i = 0; b && i < b->n; i++) {
		const inb_entry *e = &b->e[i];
		cur->inb[i] = (core_snap_inbound){ e->loc, e->qty, e->eta_ms,
			{ e->ref_len ? e->ref : NULL, e->ref_len }, e->held };
	}
	item->kind = CORE_SNAP_SKU;
	item->u.sku = (core_snap_sku){ { s->name, s->name_len }, s->nrecs, cur->recs,
		pol ? pol->per_order : 0, pol ? pol->per_customer : 0, pol ? pol->low_stock : 0,
		b ? b->n : 0, cur->inb };
}

static void channel_item(core_snap_cursor *cur, const core_channel *ch, core_snap_item *item)
{
	const core *c = cur->c;
	uint32_t n = 0;
	for (uint32_t id = 0; !ch->all && id < c->nlocs; id++)
		if ((ch->bits[id >> 6] >> (id & 63)) & 1)
			cur->loc_ids[n++] = id;
	item->kind = CORE_SNAP_CHANNEL;
	item->u.channel = (core_snap_channel){ { ch->name, ch->name_len }, ch->buffer, ch->all, n,
		cur->loc_ids };
}

static void resv_item(core_snap_cursor *cur, const core_resv *r, core_snap_item *item)
{
	const core_ralloc *al = resv_allocs(r);
	/* Names of unknown-sku lines follow the order id, in line order. */
	const unsigned char *unknown = resv_unknown_names(r);
	uint32_t k = 0;
	assert(r->nlines <= cur->c->cfg.lines_max);
	for (uint32_t i = 0; i < r->nlines; i++) {
		const core_rline *l = &r->lines[i];
		core_str name;
		if (l->sku) {
			name = (core_str){ l->sku->name, l->sku->name_len };
		} else {
			name = (core_str){ (const char *)unknown + 1, unknown[0] };
			unknown += 1u + unknown[0];
		}
		/* Backorders follow a line's allocations on hand. */
		uint32_t onhand = 0;
		while (onhand < l->nallocs && !al[l->alloc_first + onhand].backorder)
			onhand++;
		cur->lines[i] = (core_snap_line){ name, l->sku != NULL, l->qty, l->released,
			l->fulfilled, onhand, &cur->allocs[k], l->nallocs - onhand, &cur->allocs[k + onhand] };
		for (uint32_t j = 0; j < l->nallocs; j++, k++) {
			const core_ralloc *a = &al[l->alloc_first + j];
			assert(k < UINT16_MAX && (j < onhand) == !a->backorder);
			cur->allocs[k] = (core_snap_alloc){ a->loc, a->qty, a->orig };
		}
	}
	item->kind = CORE_SNAP_RESERVATION;
	item->u.resv = (core_snap_resv){
		.seq = r->id - cur->c->id_base,
		.status = r->status,
		.expires_at_ms = r->expires_at_ms,
		.orig_expires_at_ms = r->orig_expires_at_ms,
		.finished_at_ms = r->finished_at_ms,
		.order_id = { resv_order_id(r), r->order_id_len },
		.customer_id = resv_customer(r),
		.nlines = r->nlines,
		.lines = cur->lines,
	};
}

static void key_item(core_snap_cursor *cur, const core_idem *e, core_snap_item *item)
{
	item->kind = CORE_SNAP_KEY;
	item->u.key = (core_snap_key){
		.method = e->method == IDEM_RESERVE ? CORE_SNAP_KEY_RESERVE : CORE_SNAP_KEY_ADJUST,
		.key = { e->key, e->key_len },
		.params_hash = e->params_hash,
		.created_ms = e->created_ms,
	};
	if (e->method == IDEM_RESERVE)
		item->u.key.resv_seq = e->resv->id - cur->c->id_base;
	else
		item->u.key.reply = e->rec;
}

/* The next live reservation at or after cur->pos, skipping empty pages. */
static const core_resv *next_live(core_snap_cursor *cur)
{
	const seqmap *m = &cur->c->resv_by_seq;
	while (cur->pos < cur->c->next_seq) {
		uint64_t page = cur->pos >> SEQMAP_PAGE_BITS;
		if (page >= m->npages)
			break;
		if (m->pages[page] == NULL) {
			cur->pos = (page + 1) << SEQMAP_PAGE_BITS;
			continue;
		}
		const core_resv *r = m->pages[page]->items[cur->pos & (SEQMAP_PAGE_ITEMS - 1)];
		cur->pos++;
		if (r && (r->status == CORE_RESV_HELD || r->status == CORE_RESV_COMMITTED))
			return r;
	}
	return NULL;
}

int core_snap_next(core_snap_cursor *cur, core_snap_item *item)
{
	const core *c = cur->c;
	switch (cur->phase) {
	case PHASE_LOCATIONS:
		if (cur->pos < c->nlocs) {
			const core_loc *l = c->locs[cur->pos];
			item->kind = CORE_SNAP_LOCATION;
			core_snap_location *v = &item->u.location;
			*v = (core_snap_location){ .id = l->id, .name = { l->name, l->name_len },
				.priority = l->priority, .has_coords = l->has_coords, .lat = l->lat,
				.lon = l->lon, .cost = l->cost, .cost_per_km = l->cost_per_km,
				.capacity = l->capacity, .enabled = l->enabled, .ntags = l->ntags };
			for (uint32_t t = 0; t < l->ntags; t++)
				v->tags[t] = (core_str){ l->tags[t], l->tag_len[t] };
			cur->pos++;
			return 1;
		}
		cur->phase = PHASE_CHANNELS;
		cur->pos = 0;
		/* fall through */
	case PHASE_CHANNELS:
		if (cur->pos < c->nchans) {
			channel_item(cur, c->chans[cur->pos++], item);
			return 1;
		}
		cur->phase = PHASE_SKUS;
		cur->pos = 0;
		/* fall through */
	case PHASE_SKUS:
		while (cur->pos < table_slots(&c->sku_by_name)) {
			const core_sku *s = table_at(&c->sku_by_name, (uint32_t)cur->pos++);
			if (s) {
				sku_item(cur, s, item);
				return 1;
			}
		}
		cur->phase = PHASE_LIVE;
		cur->pos = 0;
		/* fall through */
	case PHASE_LIVE: {
		const core_resv *r = next_live(cur);
		if (r) {
			resv_item(cur, r, item);
			return 1;
		}
		cur->phase = PHASE_FINISHED;
		cur->fin = c->fin_head;
	}
		/* fall through */
	case PHASE_FINISHED:
		if (cur->fin) {
			resv_item(cur, cur->fin, item);
			cur->fin = cur->fin->fin_next;
			return 1;
		}
		cur->phase = PHASE_KEYS;
		cur->key_method = IDEM_RESERVE;
		cur->key = c->idem_head[IDEM_RESERVE - 1];
		/* fall through */
	case PHASE_KEYS:
		for (;;) {
			if (cur->key) {
				key_item(cur, cur->key, item);
				cur->key = cur->key->next;
				return 1;
			}
			if (cur->key_method == IDEM_ADJUST)
				break;
			cur->key_method = IDEM_ADJUST;
			cur->key = c->idem_head[IDEM_ADJUST - 1];
		}
		cur->phase = PHASE_DONE;
		/* fall through */
	default:
		return 0;
	}
}

/* ---- restore ------------------------------------------------------------- */

/* What a record's sku item claimed, checked against the holds at the end. */
typedef struct rec_claim {
	uint32_t reserved;
	uint32_t committed;
} rec_claim;

/*
 * A line of a restored reservation whose sku is still to be looked up.
 * Lookups of skus named at random miss the cache three times each (the
 * table slot, the sku, its records), so they are done in batches of
 * PENDING_MAX, stage by stage, with the next stage's memory prefetched:
 * the misses of a batch overlap instead of following one another.
 */
#define PENDING_MAX 256

typedef struct pending {
	core_resv *res;          /* linked into the core already */
	core_sku *sku;
	uint64_t hash;
	uint16_t line;
	uint8_t name_len;
	char name[CORE_NAME_MAX];
} pending;

struct core_restore {
	core *c;                 /* being built; owned until finished */
	core_snap_header hdr;
	int last;                /* order of the last item's kind (kind_order), 0 before any */
	bool ranked;             /* location ranks computed */
	core_error failure;      /* code 0, or what every later call answers */
	uint64_t skus, reservations, keys; /* items restored */
	rec_claim *claims;       /* by record index (rec->unused32) */
	uint64_t nclaims, claims_cap;
	pending *pending;        /* PENDING_MAX */
	uint32_t npending;
	struct bo_claim { const core_sku *sku; uint64_t loc, qty; } *bo; /* live backorders */
	uint64_t nbo, bo_cap;
};

__attribute__((format(printf, 4, 5)))
static int refuse(core_restore *r, core_error *err, int code, const char *fmt, ...)
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

static bool qty_valid(int64_t v)
{
	return v >= 0 && v <= CORE_QTY_MAX;
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
		return refuse(NULL, err, CORE_E_BAD_REQUEST, "header: now_ms is negative"), NULL;
	if (hdr->next_seq < 1 || hdr->next_seq > SNAP_SEQ_MAX)
		return refuse(NULL, err, CORE_E_BAD_REQUEST, "header: next_seq must be 1 to %llu",
		    (unsigned long long)SNAP_SEQ_MAX), NULL;
	core_restore *r = calloc(1, sizeof(*r));
	if (r == NULL || (r->c = core_create(&cc)) == NULL) {
		free(r);
		return refuse(NULL, err, CORE_E_BUSY, "out of memory"), NULL;
	}
	r->hdr = *hdr;
	core *c = r->c;
	const core_config *lim = &c->cfg; /* as core_create() clamped it */
	if (hdr->locations > lim->locations_max || hdr->skus > lim->skus_max ||
	    hdr->reservations > lim->reservations_max || hdr->keys > lim->idempotency_max) {
		refuse(NULL, err, CORE_E_TOO_LARGE, "header: %llu locations, %llu skus, %llu reservations "
		    "and %llu keys exceed the engine's limits (%u, %u, %u, %u)",
		    (unsigned long long)hdr->locations, (unsigned long long)hdr->skus,
		    (unsigned long long)hdr->reservations, (unsigned long long)hdr->keys,
		    lim->locations_max, lim->skus_max, lim->reservations_max, lim->idempotency_max);
		goto fail;
	}
	if (hdr->records > hdr->skus * hdr->locations || hdr->records > UINT32_MAX) {
		refuse(NULL, err, CORE_E_BAD_REQUEST, "header: %llu records cannot belong to %llu skus "
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
	    table_reserve(&c->idem_by_key, (uint32_t)hdr->keys) != 0) {
		refuse(NULL, err, CORE_E_BUSY, "out of memory");
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
		return refuse(r, err, CORE_E_BAD_REQUEST, "more locations than the header's %llu",
		    (unsigned long long)r->hdr.locations);
	if (v->id != c->nlocs)
		return refuse(r, err, CORE_E_BAD_REQUEST, "location %u: has id %llu; ids go 0, 1, 2, "
		    "... in order", c->nlocs, (unsigned long long)v->id);
	if (!name_valid(v->name, CORE_NAME_MAX))
		return refuse(r, err, CORE_E_BAD_REQUEST, "location %u: the name must be 1 to %d bytes "
		    "without control characters", c->nlocs, CORE_NAME_MAX);
	if (v->priority < INT32_MIN || v->priority > INT32_MAX)
		return refuse(r, err, CORE_E_BAD_REQUEST, "location %u: priority out of range", c->nlocs);
	if (loc_find(c, v->name))
		return refuse(r, err, CORE_E_BAD_REQUEST, "location %u: '%.*s' is there twice", c->nlocs,
		    (int)v->name.len, v->name.p);
	const char *why = location_attrs_invalid(v);
	if (why)
		return refuse(r, err, CORE_E_BAD_REQUEST, "location '%.*s': %s", (int)v->name.len,
		    v->name.p, why);
	core_loc *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return refuse(r, err, CORE_E_BUSY, "out of memory");
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
		return refuse(r, err, CORE_E_BUSY, "out of memory");
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
		return refuse(r, err, CORE_E_BUSY, "out of memory");
	memcpy(by_rank, c->locs, c->nlocs * sizeof(*by_rank));
	qsort(by_rank, c->nlocs, sizeof(*by_rank), cmp_loc_rank);
	for (uint32_t i = 0; i < c->nlocs; i++) {
		c->rank_order[i] = by_rank[i]->id;
		by_rank[i]->rank = i;
	}
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
		return refuse(r, err, CORE_E_BUSY, "out of memory");
	r->claims = claims;
	r->claims_cap = cap;
	return 0;
}

static int restore_sku(core_restore *r, const core_snap_sku *v, core_error *err)
{
	core *c = r->c;
	if (r->skus >= r->hdr.skus)
		return refuse(r, err, CORE_E_BAD_REQUEST, "more skus than the header's %llu",
		    (unsigned long long)r->hdr.skus);
	if (!name_valid(v->name, CORE_NAME_MAX))
		return refuse(r, err, CORE_E_BAD_REQUEST, "sku %llu: the name must be 1 to %d bytes "
		    "without control characters", (unsigned long long)r->skus, CORE_NAME_MAX);
	int name_len = (int)v->name.len;
	if (v->nrecs > c->nlocs)
		return refuse(r, err, CORE_E_BAD_REQUEST, "sku '%.*s': has %u records; a sku has at most "
		    "one per location (%u)", name_len, v->name.p, v->nrecs, c->nlocs);
	if (!qty_valid(v->per_order) || !qty_valid(v->per_customer) || !qty_valid(v->low_stock))
		return refuse(r, err, CORE_E_BAD_REQUEST, "sku '%.*s': a limit is not 0 to %lld", name_len,
		    v->name.p, CORE_QTY_MAX);
	if (c->nrecs + v->nrecs > r->hdr.records)
		return refuse(r, err, CORE_E_BAD_REQUEST, "sku '%.*s': more records than the header's %llu",
		    name_len, v->name.p, (unsigned long long)r->hdr.records);
	if (sku_find(c, v->name))
		return refuse(r, err, CORE_E_BAD_REQUEST, "sku '%.*s': is there twice", name_len, v->name.p);
	for (uint32_t i = 0; i < v->nrecs; i++) {
		const core_snap_record *rec = &v->recs[i];
		if (rec->location >= c->nlocs)
			return refuse(r, err, CORE_E_BAD_REQUEST, "sku '%.*s': record %u names location %llu "
			    "of %u", name_len, v->name.p, i, (unsigned long long)rec->location, c->nlocs);
		if (i > 0 && c->locs[v->recs[i - 1].location]->name_rank >= c->locs[rec->location]->name_rank)
			return refuse(r, err, CORE_E_BAD_REQUEST, "sku '%.*s': records are not in location "
			    "name order, or a location is there twice", name_len, v->name.p);
		if (!qty_valid(rec->on_hand) || !qty_valid(rec->reserved) ||
		    !qty_valid(rec->committed) || !qty_valid(rec->safety))
			return refuse(r, err, CORE_E_BAD_REQUEST, "sku '%.*s': record %u: a quantity is not "
			    "0 to %lld", name_len, v->name.p, i, CORE_QTY_MAX);
	}
	if (claims_room(r, v->nrecs, err) != 0)
		return err->code;
	core_sku *s = calloc(1, offsetof(core_sku, name) + v->name.len + 1);
	core_rec *recs = malloc(v->nrecs * sizeof(*recs));
	if (s == NULL || recs == NULL) {
		free(s);
		free(recs);
		return refuse(r, err, CORE_E_BUSY, "out of memory");
	}
	for (uint32_t i = 0; i < v->nrecs; i++) {
		const core_snap_record *rec = &v->recs[i];
		recs[i] = (core_rec){ .on_hand = (uint32_t)rec->on_hand, .safety = (uint32_t)rec->safety,
			.version = rec->version, .loc = (uint16_t)rec->location,
			.unused32 = (uint32_t)r->nclaims };
		r->claims[r->nclaims++] = (rec_claim){ (uint32_t)rec->reserved, (uint32_t)rec->committed };
	}
	s->recs = recs;
	s->nrecs = s->caprecs = (uint16_t)v->nrecs;
	s->name_len = (uint8_t)v->name.len;
	memcpy(s->name, v->name.p, v->name.len);
	uint64_t h = sku_name_hash(c, v->name);
	s->hash32 = (uint32_t)h;
	if (table_insert(&c->sku_by_name, h, s) != 0) {
		free(recs);
		free(s);
		return refuse(r, err, CORE_E_BUSY, "out of memory");
	}
	c->nrecs += v->nrecs;
	r->skus++;
	for (uint32_t i = 0; i < v->ninbound; i++) {
		const core_snap_inbound *in = &v->inbound[i];
		if (in->location >= c->nlocs || in->qty < 1 || in->qty > CORE_QTY_MAX || in->eta_ms < 0 ||
		    in->backordered < 0 || in->backordered > in->qty ||
		    (in->ref.p && !name_valid(in->ref, CORE_REF_MAX)))
			return refuse(r, err, CORE_E_BAD_REQUEST, "sku '%.*s': inbound entry %u is out of range",
			    name_len, v->name.p, i);
		inb_entry e = { .eta_ms = in->eta_ms, .qty = (uint32_t)in->qty, .held = (uint32_t)in->backordered,
			.loc = (uint16_t)in->location, .ref_len = (uint8_t)in->ref.len };
		if (in->ref.len)
			memcpy(e.ref, in->ref.p, in->ref.len);
		int rc = c->ninbound >= CORE_INBOUND_MAX || v->ninbound > CORE_INBOUND_PER_SKU_MAX ? -2
		    : inbound_restore(c, s, &e);
		if (rc != 0)
			return refuse(r, err, rc == -1 ? CORE_E_BUSY : CORE_E_TOO_LARGE, rc == -1 ? "out of memory"
			    : "sku '%.*s': more inbound entries than the engine allows", name_len, v->name.p);
	}
	if (v->per_order || v->per_customer || v->low_stock) {
		core_skupol *pol = calloc(1, sizeof(*pol));
		if (pol == NULL || table_reserve(&c->pol_by_sku, 1) != 0) {
			free(pol);
			return refuse(r, err, CORE_E_BUSY, "out of memory");
		}
		*pol = (core_skupol){ s, (uint32_t)v->per_order, (uint32_t)v->per_customer,
			(uint32_t)v->low_stock };
		table_insert(&c->pol_by_sku, s->hash32, pol);
	}
	return 0;
}

/* Check a reservation's times against its status. */
static const char *resv_times_invalid(const core *c, const core_snap_resv *v)
{
	if (v->orig_expires_at_ms < 1)
		return "orig_expires_at_ms must be positive";
	switch (v->status) {
	case CORE_RESV_HELD:
		if (v->expires_at_ms < 1 || v->finished_at_ms != -1)
			return "a held reservation has a positive deadline and finished_at_ms -1";
		return NULL;
	case CORE_RESV_COMMITTED:
		if (v->expires_at_ms != -1 || v->finished_at_ms != -1)
			return "a committed reservation has expires_at_ms and finished_at_ms -1";
		return NULL;
	case CORE_RESV_EXPIRED:
		if (v->finished_at_ms != v->expires_at_ms)
			return "an expired reservation finished at its deadline";
		/* fall through */
	default:
		if (v->finished_at_ms < 0 || v->finished_at_ms > c->now_ms)
			return "a finished reservation has finished_at_ms from 0 to now_ms";
		return NULL;
	}
}

/* Check the lines of v as far as they can be without looking skus up;
 * their sizes go to *nallocs and *names. */
static int resv_lines_check(core_restore *r, const core_snap_resv *v, uint32_t *nallocs,
    size_t *names, core_error *err)
{
	core *c = r->c;
	unsigned long long seq = (unsigned long long)v->seq;
	*nallocs = 0;
	*names = 0;
	for (uint32_t i = 0; i < v->nlines; i++) {
		const core_snap_line *l = &v->lines[i];
		if (!name_valid(l->sku, CORE_NAME_MAX))
			return refuse(r, err, CORE_E_BAD_REQUEST, "reservation %llu: lines[%u].sku must be 1 "
			    "to %d bytes without control characters", seq, i, CORE_NAME_MAX);
		for (uint32_t j = 0; j < i; j++)
			if (v->lines[j].sku.len == l->sku.len &&
			    memcmp(v->lines[j].sku.p, l->sku.p, l->sku.len) == 0)
				return refuse(r, err, CORE_E_BAD_REQUEST, "reservation %llu: lines[%u] has the "
				    "sku of lines[%u]", seq, i, j);
		if (!l->sku_known && l->nallocs + l->nbackorders > 0)
			return refuse(r, err, CORE_E_BAD_REQUEST, "reservation %llu: lines[%u] has "
			    "allocations but no sku", seq, i);
		if (!l->sku_known)
			*names += 1u + l->sku.len;
		if (l->qty < 1 || l->qty > CORE_QTY_MAX || !qty_valid(l->released) ||
		    !qty_valid(l->fulfilled))
			return refuse(r, err, CORE_E_BAD_REQUEST, "reservation %llu: lines[%u]: qty must "
			    "be 1 to %lld, released and fulfilled 0 to it", seq, i, CORE_QTY_MAX);
		if (l->nallocs + l->nbackorders > UINT16_MAX - *nallocs)
			return refuse(r, err, CORE_E_BAD_REQUEST, "reservation %llu: more than %u "
			    "allocations", seq, UINT16_MAX);
		*nallocs += l->nallocs + l->nbackorders;
		int64_t orig = 0, left = 0;
		for (uint32_t j = 0; j < l->nallocs + l->nbackorders; j++) {
			const core_snap_alloc *a = j < l->nallocs ? &l->allocs[j] : &l->backorders[j - l->nallocs];
			if (a->location >= c->nlocs)
				return refuse(r, err, CORE_E_BAD_REQUEST, "reservation %llu: lines[%u]."
				    "allocations[%u] names location %llu of %u", seq, i, j,
				    (unsigned long long)a->location, c->nlocs);
			if (a->orig < 1 || a->orig > CORE_QTY_MAX || a->qty < 0 || a->qty > a->orig)
				return refuse(r, err, CORE_E_BAD_REQUEST, "reservation %llu: lines[%u]."
				    "allocations[%u]: orig must be 1 to %lld, qty 0 to orig", seq, i, j,
				    CORE_QTY_MAX);
			orig += a->orig;
			left += a->qty;
		}
		/* Units only move from an allocation to released or fulfilled. */
		if (orig > l->qty || left + l->released + l->fulfilled != orig)
			return refuse(r, err, CORE_E_BAD_REQUEST, "reservation %llu: lines[%u]: the "
			    "allocations do not add up to the units released, fulfilled and left", seq, i);
	}
	return 0;
}

/* Lay a reservation out as resv_build() does; known skus are looked up
 * later (their lines' sku is NULL until then). */
static core_resv *resv_make(core *c, const core_snap_resv *v, uint32_t nallocs, size_t names)
{
	size_t size = sizeof(core_resv) + v->nlines * sizeof(core_rline) +
	    nallocs * sizeof(core_ralloc) + v->order_id.len + 1u + v->customer_id.len + names;
	core_resv *r = malloc(size);
	if (r == NULL)
		return NULL;
	*r = (core_resv){
		.id = c->id_base + v->seq,
		.expires_at_ms = v->expires_at_ms,
		.orig_expires_at_ms = v->orig_expires_at_ms,
		.finished_at_ms = v->finished_at_ms,
		.heap_idx = HEAP_NONE,
		.nlines = (uint16_t)v->nlines,
		.status = (uint8_t)v->status,
		.order_id_len = (uint8_t)v->order_id.len,
	};
	core_ralloc *al = resv_allocs(r);
	uint32_t k = 0;
	for (uint32_t i = 0; i < v->nlines; i++) {
		const core_snap_line *l = &v->lines[i];
		r->lines[i] = (core_rline){ .qty = (uint32_t)l->qty, .released = (uint32_t)l->released,
			.fulfilled = (uint32_t)l->fulfilled, .alloc_first = (uint16_t)k,
			.nallocs = (uint16_t)(l->nallocs + l->nbackorders) };
		for (uint32_t j = 0; j < l->nallocs; j++, k++)
			al[k] = (core_ralloc){ (uint32_t)l->allocs[j].qty, (uint32_t)l->allocs[j].orig,
				(uint16_t)l->allocs[j].location, 0 };
		for (uint32_t j = 0; j < l->nbackorders; j++, k++)
			al[k] = (core_ralloc){ (uint32_t)l->backorders[j].qty, (uint32_t)l->backorders[j].orig,
				(uint16_t)l->backorders[j].location, 1 };
	}
	char *tail = (char *)(al + nallocs);
	memcpy(tail, v->order_id.p, v->order_id.len);
	tail += v->order_id.len;
	*tail++ = (char)(uint8_t)v->customer_id.len;
	if (v->customer_id.len)
		memcpy(tail, v->customer_id.p, v->customer_id.len);
	tail += v->customer_id.len;
	for (uint32_t i = 0; i < v->nlines; i++) {
		if (v->lines[i].sku_known)
			continue;
		*tail++ = (char)(uint8_t)v->lines[i].sku.len;
		memcpy(tail, v->lines[i].sku.p, v->lines[i].sku.len);
		tail += v->lines[i].sku.len;
	}
	return r;
}

static int bo_claim_add(core_restore *r, const core_sku *s, uint16_t loc, uint32_t qty)
{
	if (r->nbo == r->bo_cap) {
		uint64_t cap = r->bo_cap ? r->bo_cap * 2 : 256;
		struct bo_claim *bo = realloc(r->bo, cap * sizeof(*bo));
		if (bo == NULL)
			return -1;
		r->bo = bo;
		r->bo_cap = cap;
	}
	r->bo[r->nbo++] = (struct bo_claim){ s, loc, qty };
	return 0;
}

static int cmp_bo(const void *a, const void *b)
{
	const struct bo_claim *x = a, *y = b;
	if (x->sku != y->sku)
		return (uintptr_t)x->sku < (uintptr_t)y->sku ? -1 : 1;
	return x->loc < y->loc ? -1 : x->loc > y->loc;
}

/* Units held at (s, loc) by inbound entries. */
static uint64_t inbound_held_at(const core *c, const core_sku *s, uint64_t loc)
{
	const core_inb *b = inbound_of(c, s);
	uint64_t held = 0;
	for (uint32_t i = 0; b && i < b->n; i++)
		held += b->e[i].loc == loc ? b->e[i].held : 0;
	return held;
}

/* What live backorders hold against what the inbound entries say they
 * hold, per sku and location, both ways. */
static int check_backorders(core_restore *r, core_error *err)
{
	core *c = r->c;
	if (r->nbo > 0)
		qsort(r->bo, r->nbo, sizeof(*r->bo), cmp_bo);
	uint64_t groups = 0;
	for (uint64_t i = 0; i < r->nbo;) {
		uint64_t j = i, sum = 0;
		for (; j < r->nbo && cmp_bo(&r->bo[i], &r->bo[j]) == 0; j++)
			sum += r->bo[j].qty;
		if (sum != inbound_held_at(c, r->bo[i].sku, r->bo[i].loc))
			return refuse(r, err, CORE_E_BAD_REQUEST, "sku '%s' at '%s': backorders hold %llu units, "
			    "its inbound entries say otherwise", r->bo[i].sku->name, c->locs[r->bo[i].loc]->name,
			    (unsigned long long)sum);
		groups++;
		i = j;
	}
	/* Every (sku, location) whose entries hold units was a group above. */
	uint64_t holding = 0;
	for (uint32_t t = 0; t < table_slots(&c->inb_by_sku); t++) {
		const core_inb *b = table_at(&c->inb_by_sku, t);
		for (uint32_t i = 0; b && i < b->n; i++) {
			bool first = true;
			for (uint32_t k = 0; k < i && first; k++)
				first = b->e[k].loc != b->e[i].loc;
			holding += first && inbound_held_at(c, b->sku, b->e[i].loc) > 0;
		}
	}
	if (holding != groups)
		return refuse(r, err, CORE_E_BAD_REQUEST, "inbound entries hold units no backorder holds");
	return 0;
}

/* Give a pending line its sku, check its allocations name records of it,
 * and add a live reservation's units to them. */
static int pending_resolve(core_restore *r, const pending *p, core_error *err)
{
	core *c = r->c;
	core_resv *res = p->res;
	unsigned long long seq = (unsigned long long)(res->id - c->id_base);
	if (p->sku == NULL)
		return refuse(r, err, CORE_E_BAD_REQUEST, "reservation %llu: lines[%u].sku '%.*s' is "
		    "not a sku", seq, p->line, (int)p->name_len, p->name);
	core_rline *l = &res->lines[p->line];
	l->sku = p->sku;
	bool live = res->status == CORE_RESV_HELD || res->status == CORE_RESV_COMMITTED;
	bool held = res->status == CORE_RESV_HELD;
	const core_ralloc *al = resv_allocs(res);
	for (uint32_t j = 0; j < l->nallocs; j++) {
		const core_ralloc *a = &al[l->alloc_first + j];
		if (a->backorder) {
			if (live && a->qty > 0 && bo_claim_add(r, l->sku, a->loc, a->qty) != 0)
				return refuse(r, err, CORE_E_BUSY, "out of memory");
			continue;
		}
		core_rec *rec = sku_rec_at(c, l->sku, a->loc);
		if (rec == NULL)
			return refuse(r, err, CORE_E_BAD_REQUEST, "reservation %llu: lines[%u]."
			    "allocations[%u] names no record of the sku", seq, p->line, j);
		if (!live || a->qty == 0)
			continue;
		uint32_t *units = held ? &rec->reserved : &rec->committed;
		if (*units > CORE_QTY_MAX - a->qty)
			return refuse(r, err, CORE_E_BAD_REQUEST, "reservation %llu: the holds on '%s' at "
			    "'%s' exceed %lld units", seq, l->sku->name, c->locs[a->loc]->name,
			    CORE_QTY_MAX);
		*units += a->qty;
		*(held ? &c->units_reserved : &c->units_committed) += a->qty;
	}
	return 0;
}

/* Look the pending lines up, stage by stage (see struct pending). */
static int pending_flush(core_restore *r, core_error *err)
{
	core *c = r->c;
	const table *t = &c->sku_by_name;
	pending *ps = r->pending;
	uint32_t n = r->npending;
	r->npending = 0;
	for (uint32_t i = 0; i < n; i++) {
		ps[i].hash = sku_name_hash(c, (core_str){ ps[i].name, ps[i].name_len });
		table_prefetch(t, ps[i].hash);
	}
	for (uint32_t i = 0; i < n; i++)
		table_prefetch_items(t, ps[i].hash);
	for (uint32_t i = 0; i < n; i++) {
		ps[i].sku = sku_find(c, (core_str){ ps[i].name, ps[i].name_len });
		if (ps[i].sku)
			__builtin_prefetch(ps[i].sku->recs);
	}
	for (uint32_t i = 0; i < n; i++)
		if (pending_resolve(r, &ps[i], err) != 0)
			return err->code;
	return 0;
}

/* A live reservation's open shipments: one per location it holds units at. */
static void open_count(core *c, const core_snap_resv *v)
{
	uint32_t stamp = plan_stamp_next(c);
	for (uint32_t i = 0; i < v->nlines; i++)
		for (uint32_t j = 0; j < v->lines[i].nallocs; j++) {
			const core_snap_alloc *a = &v->lines[i].allocs[j];
			if (a->qty > 0 && plan_stamp_set(c, (uint16_t)a->location, stamp))
				c->locs[a->location]->open++;
		}
}

static int restore_resv(core_restore *r, const core_snap_resv *v, core_error *err)
{
	core *c = r->c;
	unsigned long long seq = (unsigned long long)v->seq;
	if (r->reservations >= r->hdr.reservations)
		return refuse(r, err, CORE_E_BAD_REQUEST, "more reservations than the header's %llu",
		    (unsigned long long)r->hdr.reservations);
	if (v->seq < 1 || v->seq >= c->next_seq)
		return refuse(r, err, CORE_E_BAD_REQUEST, "reservation %llu: the sequence number must be "
		    "1 to next_seq - 1 (%llu)", seq, (unsigned long long)c->next_seq - 1);
	if (seqmap_get(&c->resv_by_seq, v->seq))
		return refuse(r, err, CORE_E_BAD_REQUEST, "reservation %llu: is there twice", seq);
	if (v->status > CORE_RESV_EXPIRED)
		return refuse(r, err, CORE_E_BAD_REQUEST, "reservation %llu: unknown status %llu", seq,
		    (unsigned long long)v->status);
	if (!name_valid(v->order_id, CORE_ORDER_ID_MAX))
		return refuse(r, err, CORE_E_BAD_REQUEST, "reservation %llu: order_id must be 1 to %d "
		    "bytes without control characters", seq, CORE_ORDER_ID_MAX);
	if (v->nlines < 1 || v->nlines > c->cfg.lines_max)
		return refuse(r, err, CORE_E_BAD_REQUEST, "reservation %llu: has %u lines; 1 to %u "
		    "allowed", seq, v->nlines, c->cfg.lines_max);
	const char *why = resv_times_invalid(c, v);
	if (why)
		return refuse(r, err, CORE_E_BAD_REQUEST, "reservation %llu: %s", seq, why);
	uint32_t nallocs;
	size_t names;
	if (resv_lines_check(r, v, &nallocs, &names, err) != 0)
		return err->code;
	if (v->customer_id.p && !name_valid(v->customer_id, CORE_CUSTOMER_ID_MAX))
		return refuse(r, err, CORE_E_BAD_REQUEST, "reservation %llu: customer_id must be 1 to %d "
		    "bytes without control characters", seq, CORE_CUSTOMER_ID_MAX);
	core_resv *res = resv_make(c, v, nallocs, names);
	if (res == NULL || seqmap_reserve(&c->resv_by_seq, v->seq) != 0) {
		free(res);
		return refuse(r, err, CORE_E_BUSY, "out of memory");
	}
	seqmap_put(&c->resv_by_seq, v->seq, res); /* owned by the core from here */
	c->by_status[res->status]++;
	r->reservations++;
	if (res->status == CORE_RESV_HELD || res->status == CORE_RESV_COMMITTED)
		open_count(c, v);
	if (res->status == CORE_RESV_HELD) {
		if (heap_reserve(c, 1) != 0)
			return refuse(r, err, CORE_E_BUSY, "out of memory");
		heap_push(c, res);
	} else if (res->status != CORE_RESV_COMMITTED) {
		/* Finished: items come in the FIFO's order. */
		if (c->fin_tail)
			c->fin_tail->fin_next = res;
		else
			c->fin_head = res;
		c->fin_tail = res;
	}
	for (uint32_t i = 0; i < v->nlines; i++) {
		if (!v->lines[i].sku_known)
			continue;
		if (r->npending == PENDING_MAX && pending_flush(r, err) != 0)
			return err->code;
		pending *p = &r->pending[r->npending++];
		p->res = res;
		p->line = (uint16_t)i;
		p->name_len = (uint8_t)v->lines[i].sku.len;
		memcpy(p->name, v->lines[i].sku.p, v->lines[i].sku.len);
	}
	return 0;
}

static int restore_key(core_restore *r, const core_snap_key *v, core_error *err)
{
	core *c = r->c;
	if (r->keys >= r->hdr.keys)
		return refuse(r, err, CORE_E_BAD_REQUEST, "more keys than the header's %llu",
		    (unsigned long long)r->hdr.keys);
	if (v->method != CORE_SNAP_KEY_RESERVE && v->method != CORE_SNAP_KEY_ADJUST)
		return refuse(r, err, CORE_E_BAD_REQUEST, "key %llu: unknown method %llu",
		    (unsigned long long)r->keys, (unsigned long long)v->method);
	if (!name_valid(v->key, CORE_KEY_MAX))
		return refuse(r, err, CORE_E_BAD_REQUEST, "key %llu: must be 1 to %d bytes without "
		    "control characters", (unsigned long long)r->keys, CORE_KEY_MAX);
	int key_len = (int)v->key.len;
	if (v->created_ms < 0 || v->created_ms > c->now_ms)
		return refuse(r, err, CORE_E_BAD_REQUEST, "key '%.*s': created_ms must be 0 to now_ms",
		    key_len, v->key.p);
	int method = v->method == CORE_SNAP_KEY_RESERVE ? IDEM_RESERVE : IDEM_ADJUST;
	if (idem_find(c, method, v->key))
		return refuse(r, err, CORE_E_BAD_REQUEST, "key '%.*s': is there twice", key_len, v->key.p);
	core_resv *res = NULL;
	core_sku *sku = NULL;
	core_rec rec = { 0 };
	if (method == IDEM_RESERVE) {
		res = seqmap_get(&c->resv_by_seq, v->resv_seq);
		if (res == NULL || res->idem != NULL)
			return refuse(r, err, CORE_E_BAD_REQUEST, "key '%.*s': reservation %llu is not there, "
			    "or has a key already", key_len, v->key.p, (unsigned long long)v->resv_seq);
	} else {
		const core_record_view *w = &v->reply;
		core_loc *loc = NULL;
		if (!name_valid(w->sku, CORE_NAME_MAX) || !name_valid(w->location, CORE_NAME_MAX) ||
		    (sku = sku_find(c, w->sku)) == NULL || (loc = loc_find(c, w->location)) == NULL ||
		    sku_rec_at(c, sku, loc->id) == NULL)
			return refuse(r, err, CORE_E_BAD_REQUEST, "key '%.*s': the reply's record is not "
			    "there", key_len, v->key.p);
		if (!qty_valid(w->on_hand) || !qty_valid(w->reserved) || !qty_valid(w->committed) ||
		    !qty_valid(w->safety))
			return refuse(r, err, CORE_E_BAD_REQUEST, "key '%.*s': a quantity of the reply is "
			    "not 0 to %lld", key_len, v->key.p, CORE_QTY_MAX);
		rec = (core_rec){ .on_hand = (uint32_t)w->on_hand, .reserved = (uint32_t)w->reserved,
			.committed = (uint32_t)w->committed, .safety = (uint32_t)w->safety,
			.version = w->version, .loc = loc->id };
	}
	core_idem *e = idem_prepare(c, method, v->key, v->params_hash);
	if (e == NULL)
		return refuse(r, err, CORE_E_BUSY, "out of memory");
	if (res)
		e->resv = res;
	else
		rec_view(c, sku, &rec, &e->rec); /* names point into the sku and location */
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
		return refuse(r, err, CORE_E_BAD_REQUEST, "channel %u: the name must be 1 to %d bytes without "
		    "control characters", c->nchans, CORE_CHANNEL_MAX);
	if (channel_find(c, v->name))
		return refuse(r, err, CORE_E_BAD_REQUEST, "channel '%.*s': is there twice", (int)v->name.len,
		    v->name.p);
	if (!qty_valid(v->buffer) || (v->all_locations && v->nlocations))
		return refuse(r, err, CORE_E_BAD_REQUEST, "channel '%.*s': buffer out of range, or both all "
		    "locations and a list", (int)v->name.len, v->name.p);
	for (uint32_t i = 0; i < v->nlocations; i++)
		if (v->locations[i] >= c->nlocs || (i && v->locations[i] <= v->locations[i - 1]))
			return refuse(r, err, CORE_E_BAD_REQUEST, "channel '%.*s': locations must be ids of "
			    "locations, ascending", (int)v->name.len, v->name.p);
	core_error e;
	core_channel *ch = channel_make(c, v->name, &e);
	if (ch == NULL)
		return refuse(r, err, e.code, "%s", e.message);
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
		return refuse(r, err, CORE_E_BAD_REQUEST, "unknown item kind %d", (int)item->kind);
	if (order < r->last)
		return refuse(r, err, CORE_E_BAD_REQUEST, "items out of order: locations, channels, skus, "
		    "reservations, then keys");
	if (item->kind != CORE_SNAP_LOCATION && rank_locations(r, err) != 0)
		return err->code;
	/* Keys refer to reservations whole. */
	if (order != r->last && r->npending && pending_flush(r, err) != 0)
		return err->code;
	r->last = order;
	switch (item->kind) {
	case CORE_SNAP_CHANNEL: return restore_channel(r, &item->u.channel, err);
	case CORE_SNAP_LOCATION: return restore_location(r, &item->u.location, err);
	case CORE_SNAP_SKU: return restore_sku(r, &item->u.sku, err);
	case CORE_SNAP_RESERVATION: return restore_resv(r, &item->u.resv, err);
	case CORE_SNAP_KEY: return restore_key(r, &item->u.key, err);
	}
	return refuse(r, err, CORE_E_BAD_REQUEST, "unknown item kind");
}

/* The claimed reserved and committed of every record against the holds. */
static int check_claims(core_restore *r, core_error *err)
{
	core *c = r->c;
	for (uint32_t i = 0; i < table_slots(&c->sku_by_name); i++) {
		core_sku *s = table_at(&c->sku_by_name, i);
		for (uint32_t j = 0; s && j < s->nrecs; j++) {
			core_rec *rec = &s->recs[j];
			const rec_claim *claim = &r->claims[rec->unused32];
			if (claim->reserved != rec->reserved || claim->committed != rec->committed)
				return refuse(r, err, CORE_E_BAD_REQUEST, "sku '%s' at '%s': reserved %u and "
				    "committed %u, but the reservations hold %u and %u", s->name,
				    c->locs[rec->loc]->name, claim->reserved, claim->committed,
				    rec->reserved, rec->committed);
			rec->unused32 = 0;
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
	if (rank_locations(r, err) != 0 || (r->npending && pending_flush(r, err) != 0))
		goto fail;
	core *c = r->c;
	const core_snap_header *h = &r->hdr;
	if (c->nlocs != h->locations || r->skus != h->skus || c->nrecs != h->records ||
	    r->reservations != h->reservations || r->keys != h->keys) {
		refuse(r, err, CORE_E_BAD_REQUEST, "the snapshot holds %u locations, %llu skus, %llu "
		    "records, %llu reservations and %llu keys; its header says %llu, %llu, %llu, %llu "
		    "and %llu", c->nlocs, (unsigned long long)r->skus, (unsigned long long)c->nrecs,
		    (unsigned long long)r->reservations, (unsigned long long)r->keys,
		    (unsigned long long)h->locations, (unsigned long long)h->skus,
		    (unsigned long long)h->records, (unsigned long long)h->reservations,
		    (unsigned long long)h->keys);
		goto fail;
	}
	if (check_claims(r, err) != 0 || check_backorders(r, err) != 0)
		goto fail;
	if (cust_rebuild(c, NULL) != 0) {
		refuse(r, err, CORE_E_BUSY, "out of memory");
		goto fail;
	}
	/* The checks above and the way the restore builds the rest (the heap,
	 * the FIFOs and the counters from the items themselves) cover what
	 * core_check() checks; it runs as a second opinion where it is cheap,
	 * as it sorts every record. */
	const char *why = c->nrecs + resv_count(c) <= SNAP_CHECK_ITEMS_MAX ? core_check(c) : NULL;
	if (why) {
		refuse(r, err, CORE_E_BAD_REQUEST, "the restored state is inconsistent: %s", why);
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
