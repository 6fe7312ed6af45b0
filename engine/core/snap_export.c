/*
 * snap_export.c - the snapshot export cursor (see core.h, "Snapshots"):
 * locations, channels, skus, live reservations, finished ones, keys.
 *
 * A snapshot is of the state as commands see it: holds that count as
 * expired but are not swept yet (expiry.c) are exported expired, in their
 * place among the finished ones, and records, inbound entries and the
 * expired count without them. So a core and its restored copy, or two
 * cores that swept differently, export the same items.
 */
#include "core_internal.h"
#include "idem.h"

#include <stdlib.h>

enum snap_phase {
	PHASE_LOCATIONS,
	PHASE_CHANNELS,
	PHASE_SKUS,
	PHASE_LIVE,      /* held and committed, by sequence number */
	PHASE_FINISHED,  /* the finished FIFOs merged, oldest first */
	PHASE_KEYS,      /* reserve keys, then adjust keys, oldest first */
	PHASE_DONE,
};

struct core_snap_cursor {
	const core *c;
	int phase;
	uint64_t pos;            /* location id, sku table slot or sequence number */
	const core_resv *fin;    /* the next finished reservation, but for expiries */
	const core_resv *exp;    /* the next swept expiry */
	const core_resv **lazy;  /* the lazily expired ones, in heap order */
	uint32_t nlazy, lazy_at;
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
	if (cur->recs == NULL || cur->lines == NULL || cur->allocs == NULL || cur->loc_ids == NULL ||
	    expiry_lazy_sorted(c, &cur->lazy, &cur->nlazy) != 0) {
		core_snap_close(cur);
		return NULL;
	}
	*hdr = (core_snap_header){
		.hash_seed = c->cfg.hash_seed,
		.id_epoch = c->cfg.id_epoch,
		.now_ms = c->now_ms,
		.next_seq = c->next_seq,
		.expired_total = c->expired_total + cur->nlazy,
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
	free(cur->lazy);
	free(cur);
}

static void sku_item(core_snap_cursor *cur, const core_sku *s, core_snap_item *item)
{
	const core *c = cur->c;
	for (uint32_t i = 0; i < s->nrecs; i++) {
		const core_rec *rec = &s->recs[i];
		cur->recs[i] = (core_snap_record){ rec->loc, rec->on_hand, rec_reserved(c, rec),
			rec->committed, rec->safety, rec_version(c, rec) };
	}
	const core_skupol *pol = policy_of(c, s);
	const core_inb *b = inbound_of(c, s);
	uint32_t held[CORE_INBOUND_PER_SKU_MAX];
	if (b)
		inbound_held_now(c, b, held);
	for (uint32_t i = 0; b && i < b->n; i++) {
		const inb_entry *e = &b->e[i];
		cur->inb[i] = (core_snap_inbound){ e->loc, e->qty, e->eta_ms,
			{ e->ref_len ? e->ref : NULL, e->ref_len }, held[i] };
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
		.status = resv_status(cur->c, r),
		.expires_at_ms = r->expires_at_ms,
		.orig_expires_at_ms = r->orig_expires_at_ms,
		.finished_at_ms = resv_finished_at(cur->c, r),
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
		core_resv_status s = r ? resv_status(cur->c, r) : CORE_RESV_EXPIRED;
		if (s == CORE_RESV_HELD || s == CORE_RESV_COMMITTED)
			return r;
	}
	return NULL;
}

/* The next finished reservation as resv_oldest_finished() would take them:
 * the expiries (swept, then lazy) and the others merged by when they
 * finished; NULL after the last. */
static const core_resv *next_finished(core_snap_cursor *cur)
{
	const core_resv *e = cur->exp ? cur->exp : cur->lazy_at < cur->nlazy ? cur->lazy[cur->lazy_at] : NULL;
	const core_resv *f = cur->fin;
	if (e && (f == NULL || e->expires_at_ms <= f->finished_at_ms)) {
		if (cur->exp)
			cur->exp = cur->exp->fin_next;
		else
			cur->lazy_at++;
		return e;
	}
	if (f)
		cur->fin = f->fin_next;
	return f;
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
		cur->exp = c->exp_head;
	}
		/* fall through */
	case PHASE_FINISHED: {
		const core_resv *r = next_finished(cur);
		if (r) {
			resv_item(cur, r, item);
			return 1;
		}
		cur->phase = PHASE_KEYS;
		cur->key_method = IDEM_RESERVE;
		cur->key = c->idem_head[IDEM_RESERVE - 1];
	}
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
