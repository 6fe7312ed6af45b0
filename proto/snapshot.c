/*
 * snapshot.c - snapshots in MessagePack chunks (see snapshot.h).
 */
#include "snapshot.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The stored numbers and the core's enums are mapped by the switches and
 * tables below, never cast, so renumbering a core enum cannot change what
 * is stored; the switches have no default, so -Wswitch (an error in this
 * build) names a core kind or status that has no number yet.
 */
_Static_assert(SNAPSHOT_STATUS_MAX - SNAPSHOT_STATUS_HELD == CORE_RESV_EXPIRED - CORE_RESV_HELD,
    "every reservation status needs a SNAPSHOT_STATUS_ number, and every number a status");

static uint64_t status_number(uint64_t status)
{
	switch ((core_resv_status)status) {
	case CORE_RESV_HELD: return SNAPSHOT_STATUS_HELD;
	case CORE_RESV_COMMITTED: return SNAPSHOT_STATUS_COMMITTED;
	case CORE_RESV_FULFILLED: return SNAPSHOT_STATUS_FULFILLED;
	case CORE_RESV_RELEASED: return SNAPSHOT_STATUS_RELEASED;
	case CORE_RESV_EXPIRED: return SNAPSHOT_STATUS_EXPIRED;
	}
	assert(!"a reservation status without a number");
	return SNAPSHOT_STATUS_HELD;
}

/* A stored status as the core's, or false for an unknown one. */
static bool status_of_number(uint64_t n, uint64_t *status)
{
	static const core_resv_status of[SNAPSHOT_STATUS_MAX + 1] = {
		[SNAPSHOT_STATUS_HELD] = CORE_RESV_HELD,
		[SNAPSHOT_STATUS_COMMITTED] = CORE_RESV_COMMITTED,
		[SNAPSHOT_STATUS_FULFILLED] = CORE_RESV_FULFILLED,
		[SNAPSHOT_STATUS_RELEASED] = CORE_RESV_RELEASED,
		[SNAPSHOT_STATUS_EXPIRED] = CORE_RESV_EXPIRED,
	};
	if (n > SNAPSHOT_STATUS_MAX)
		return false;
	*status = of[n];
	return true;
}

/* A reservation's allocations, all lines together (resv_reserve.c caps a plan). */
#define ALLOCS_MAX UINT16_MAX

/* ---- writing ----------------------------------------------------------------- */

static void put_str(mp_buf *b, core_str s)
{
	mp_write_str(b, s.p, s.len);
}

static void put_header(mp_buf *b, uint64_t lsn, const core_snap_header *h)
{
	mp_write_array(b, SNAPSHOT_HEADER_FIELDS);
	mp_write_lit(b, SNAPSHOT_MAGIC);
	mp_write_uint(b, SNAPSHOT_FORMAT);
	mp_write_uint(b, lsn);
	mp_write_int(b, h->now_ms);
	mp_write_uint(b, h->hash_seed);
	mp_write_uint(b, h->id_epoch);
	mp_write_uint(b, h->next_seq);
	mp_write_uint(b, h->expired_total);
	mp_write_uint(b, h->locations);
	mp_write_uint(b, h->skus);
	mp_write_uint(b, h->records);
	mp_write_uint(b, h->reservations);
	mp_write_uint(b, h->keys);
}

static void put_location(mp_buf *b, const core_snap_location *l)
{
	mp_write_array(b, SNAPSHOT_LOCATION_FIELDS);
	mp_write_uint(b, SNAPSHOT_TAG_LOCATION);
	mp_write_uint(b, l->id);
	put_str(b, l->name);
	mp_write_int(b, l->priority);
	if (l->has_coords) {
		mp_write_double(b, l->lat);
		mp_write_double(b, l->lon);
	} else {
		mp_write_nil(b);
		mp_write_nil(b);
	}
	mp_write_double(b, l->cost);
	mp_write_double(b, l->cost_per_km);
	mp_write_int(b, l->capacity);
	mp_write_bool(b, l->enabled);
	mp_write_array(b, l->ntags);
	for (uint32_t i = 0; i < l->ntags; i++)
		put_str(b, l->tags[i]);
}

/* Allocations (or backorders) as [location, qty, orig, ...]. */
static void put_allocs(mp_buf *b, const core_snap_alloc *a, uint32_t n)
{
	mp_write_array(b, SNAPSHOT_ALLOC_FIELDS * n);
	for (uint32_t j = 0; j < n; j++) {
		mp_write_uint(b, a[j].location);
		mp_write_int(b, a[j].qty);
		mp_write_int(b, a[j].orig);
	}
}

static void put_resv(mp_buf *b, const core_snap_resv *v)
{
	mp_write_array(b, SNAPSHOT_RESV_FIELDS);
	mp_write_uint(b, SNAPSHOT_TAG_RESERVATION);
	mp_write_uint(b, v->seq);
	mp_write_uint(b, status_number(v->status));
	mp_write_int(b, v->expires_at_ms);
	mp_write_int(b, v->orig_expires_at_ms);
	mp_write_int(b, v->finished_at_ms);
	put_str(b, v->order_id);
	if (v->customer_id.p)
		put_str(b, v->customer_id);
	else
		mp_write_nil(b);
	mp_write_array(b, v->nlines);
	for (uint32_t i = 0; i < v->nlines; i++) {
		const core_snap_line *l = &v->lines[i];
		mp_write_array(b, SNAPSHOT_LINE_FIELDS);
		put_str(b, l->sku);
		mp_write_bool(b, l->sku_known);
		mp_write_int(b, l->qty);
		mp_write_int(b, l->released);
		mp_write_int(b, l->fulfilled);
		put_allocs(b, l->allocs, l->nallocs);
		put_allocs(b, l->backorders, l->nbackorders);
	}
}

static void put_key(mp_buf *b, const core_snap_key *k)
{
	bool reserve = k->method == CORE_SNAP_KEY_RESERVE;
	assert(reserve || k->method == CORE_SNAP_KEY_ADJUST);
	mp_write_array(b, reserve ? SNAPSHOT_KEY_RESERVE_FIELDS : SNAPSHOT_KEY_ADJUST_FIELDS);
	mp_write_uint(b, SNAPSHOT_TAG_KEY);
	mp_write_uint(b, reserve ? SNAPSHOT_KEY_RESERVE : SNAPSHOT_KEY_ADJUST);
	put_str(b, k->key);
	mp_write_uint(b, k->params_hash);
	mp_write_int(b, k->created_ms);
	if (reserve) {
		mp_write_uint(b, k->resv_seq);
		return;
	}
	put_str(b, k->reply.sku);
	put_str(b, k->reply.location);
	mp_write_int(b, k->reply.on_hand);
	mp_write_int(b, k->reply.reserved);
	mp_write_int(b, k->reply.committed);
	mp_write_int(b, k->reply.safety);
	mp_write_uint(b, k->reply.version);
	mp_write_int(b, k->reply.incoming);
}

static void put_item(mp_buf *b, const core_snap_item *it)
{
	switch (it->kind) {
	case CORE_SNAP_LOCATION:
		put_location(b, &it->u.location);
		break;
	case CORE_SNAP_SKU:
		mp_write_array(b, SNAPSHOT_SKU_FIELDS);
		mp_write_uint(b, SNAPSHOT_TAG_SKU);
		put_str(b, it->u.sku.name);
		mp_write_array(b, SNAPSHOT_RECORD_FIELDS * it->u.sku.nrecs);
		for (uint32_t i = 0; i < it->u.sku.nrecs; i++) {
			const core_snap_record *r = &it->u.sku.recs[i];
			mp_write_uint(b, r->location);
			mp_write_int(b, r->on_hand);
			mp_write_int(b, r->reserved);
			mp_write_int(b, r->committed);
			mp_write_int(b, r->safety);
			mp_write_uint(b, r->version);
		}
		mp_write_int(b, it->u.sku.per_order);
		mp_write_int(b, it->u.sku.per_customer);
		mp_write_int(b, it->u.sku.low_stock);
		mp_write_array(b, SNAPSHOT_INBOUND_FIELDS * it->u.sku.ninbound);
		for (uint32_t i = 0; i < it->u.sku.ninbound; i++) {
			const core_snap_inbound *in = &it->u.sku.inbound[i];
			mp_write_uint(b, in->location);
			mp_write_int(b, in->qty);
			mp_write_int(b, in->eta_ms);
			if (in->ref.p)
				put_str(b, in->ref);
			else
				mp_write_nil(b);
			mp_write_int(b, in->backordered);
		}
		break;
	case CORE_SNAP_CHANNEL:
		mp_write_array(b, SNAPSHOT_CHANNEL_FIELDS);
		mp_write_uint(b, SNAPSHOT_TAG_CHANNEL);
		put_str(b, it->u.channel.name);
		mp_write_int(b, it->u.channel.buffer);
		mp_write_bool(b, it->u.channel.all_locations);
		mp_write_array(b, it->u.channel.nlocations);
		for (uint32_t i = 0; i < it->u.channel.nlocations; i++)
			mp_write_uint(b, it->u.channel.locations[i]);
		break;
	case CORE_SNAP_RESERVATION:
		put_resv(b, &it->u.resv);
		break;
	case CORE_SNAP_KEY:
		put_key(b, &it->u.key);
		break;
	}
}

/* The chunk being filled. */
typedef struct writer {
	mp_buf buf;
	size_t chunk_bytes;
	snapshot_emit_fn emit;
	void *ctx;
	snapshot_stats stats;
} writer;

static int emit_chunk(writer *w, size_t len)
{
	if (w->emit(w->ctx, w->buf.data, len) != 0)
		return -1;
	w->stats.chunks++;
	w->stats.bytes += len;
	return 0;
}

/* The item from start to the end of b holds exactly the elements its
 * array header counts: neither cut short nor followed by strays. */
static void assert_whole_item(const mp_buf *b, size_t start)
{
	const mp_limits lim = { .frame_bytes_max = SIZE_MAX, .depth_max = 8, .array_max = UINT32_MAX,
		.map_max = 0, .str_max = UINT32_MAX };
	size_t len = 0;
	const char *why = NULL;
	int rc = mp_scan(b->data + start, b->len - start, &lim, &len, &why);
	assert(rc == MP_OK && len == b->len - start);
	(void)rc;
}

/*
 * The item that starts at start has just been written. When the chunk
 * went over chunk_bytes with it, what came before goes out as a chunk and
 * the item starts the next; a chunk that reaches chunk_bytes goes out.
 */
static int item_done(writer *w, size_t start, const char **err)
{
	if (mp_buf_failed(&w->buf))
		return *err = "out of memory", -1;
	assert_whole_item(&w->buf, start);
	w->stats.items++;
	if (w->buf.len > w->chunk_bytes && start > 0) {
		if (emit_chunk(w, start) != 0)
			return *err = "a chunk could not be stored", -1;
		memmove(w->buf.data, w->buf.data + start, w->buf.len - start);
		w->buf.len -= start;
	}
	if (w->buf.len >= w->chunk_bytes) {
		if (emit_chunk(w, w->buf.len) != 0)
			return *err = "a chunk could not be stored", -1;
		w->buf.len = 0;
	}
	return 0;
}

int snapshot_write(const core *c, uint64_t lsn, size_t chunk_bytes, snapshot_emit_fn emit,
    void *ctx, snapshot_stats *stats, const char **err)
{
	if (chunk_bytes == 0)
		return *err = "chunk_bytes must be positive", -1;
	writer w = { .chunk_bytes = chunk_bytes, .emit = emit, .ctx = ctx };
	mp_buf_init(&w.buf);
	int rc = -1;
	core_snap_header h;
	core_snap_cursor *cur = core_snap_open(c, &h);
	size_t room = chunk_bytes < (64u << 20) ? chunk_bytes : (64u << 20); /* grows past it */
	if (cur == NULL || !mp_buf_reserve(&w.buf, room + 256)) {
		*err = "out of memory";
		goto fail;
	}
	put_header(&w.buf, lsn, &h);
	if (item_done(&w, 0, err) != 0)
		goto fail;
	core_snap_item it;
	uint64_t items = 0;
	while (core_snap_next(cur, &it) > 0) {
		size_t start = w.buf.len;
		put_item(&w.buf, &it);
		if (item_done(&w, start, err) != 0)
			goto fail;
		items++;
	}
	size_t start = w.buf.len;
	mp_write_array(&w.buf, SNAPSHOT_END_FIELDS);
	mp_write_uint(&w.buf, SNAPSHOT_TAG_END);
	mp_write_uint(&w.buf, items);
	if (item_done(&w, start, err) != 0)
		goto fail;
	if (w.buf.len > 0 && emit_chunk(&w, w.buf.len) != 0) {
		*err = "a chunk could not be stored";
		goto fail;
	}
	if (stats)
		*stats = w.stats;
	rc = 0;
fail:
	core_snap_close(cur);
	mp_buf_finish(&w.buf);
	return rc;
}

/* ---- reading items ----------------------------------------------------------- */

/* Owns its scratch; borrows the current chunk. */
struct snapshot_reader {
	mp_cursor chunk;         /* what is left of the current chunk */
	mp_limits lim;
	bool have_header;
	bool ended;
	uint64_t items;          /* core items read */
	/* Scratch the item views point into, sized from the config. */
	uint32_t recs_cap, lines_cap;
	core_snap_record *recs;
	core_snap_line *lines;
	core_snap_alloc *allocs; /* ALLOCS_MAX */
	uint64_t *loc_ids;       /* recs_cap: a channel's locations */
	core_snap_inbound inb[CORE_INBOUND_PER_SKU_MAX];
	char msg[160];
};

snapshot_reader *snapshot_reader_create(const core_config *cfg)
{
	snapshot_reader *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	/* As core_create() clamps them. */
	r->recs_cap = cfg->locations_max < UINT16_MAX - 1 ? cfg->locations_max : UINT16_MAX - 1;
	r->lines_cap = cfg->lines_max < UINT16_MAX ? cfg->lines_max : UINT16_MAX;
	r->recs = malloc((r->recs_cap ? r->recs_cap : 1) * sizeof(*r->recs));
	r->lines = malloc((r->lines_cap ? r->lines_cap : 1) * sizeof(*r->lines));
	r->allocs = malloc(ALLOCS_MAX * sizeof(*r->allocs));
	r->loc_ids = malloc((r->recs_cap ? r->recs_cap : 1) * sizeof(*r->loc_ids));
	if (r->recs == NULL || r->lines == NULL || r->allocs == NULL || r->loc_ids == NULL) {
		snapshot_reader_destroy(r);
		return NULL;
	}
	/* Every item is one array of scalars and arrays of scalars, at most
	 * three deep (a reservation's allocations); names are short. */
	uint32_t arrays = SNAPSHOT_RECORD_FIELDS * r->recs_cap;
	if (arrays < SNAPSHOT_ALLOC_FIELDS * ALLOCS_MAX)
		arrays = SNAPSHOT_ALLOC_FIELDS * ALLOCS_MAX;
	r->lim = (mp_limits){ .frame_bytes_max = SIZE_MAX, .depth_max = 4, .array_max = arrays,
		.map_max = 0, .str_max = 255 };
	return r;
}

void snapshot_reader_destroy(snapshot_reader *r)
{
	if (r == NULL)
		return;
	free(r->recs);
	free(r->lines);
	free(r->allocs);
	free(r->loc_ids);
	free(r);
}

void snapshot_reader_chunk(snapshot_reader *r, const uint8_t *chunk, size_t len)
{
	mp_cursor_init(&r->chunk, chunk, len);
}

static bool get_str(mp_cursor *c, core_str *out)
{
	const char *p;
	uint32_t n;
	if (!mp_read_str(c, &p, &n))
		return false;
	*out = (core_str){ p, n };
	return true;
}

static bool get_header(mp_cursor *c, uint32_t n, snapshot_item *out, snapshot_reader *r,
    const char **err)
{
	core_str magic;
	uint64_t format, epoch;
	core_snap_header *h = &out->header;
	if (n < 2 || !get_str(c, &magic) || magic.len != strlen(SNAPSHOT_MAGIC) ||
	    memcmp(magic.p, SNAPSHOT_MAGIC, magic.len) != 0 || !mp_read_uint(c, &format))
		return *err = "not an allot snapshot: the first item is not its header", false;
	if (format != SNAPSHOT_FORMAT) {
		snprintf(r->msg, sizeof(r->msg), "snapshot format %llu; this build reads format %d",
		    (unsigned long long)format, SNAPSHOT_FORMAT);
		return *err = r->msg, false;
	}
	if (n != SNAPSHOT_HEADER_FIELDS || !mp_read_uint(c, &out->lsn) || !mp_read_int(c, &h->now_ms) ||
	    !mp_read_uint(c, &h->hash_seed) || !mp_read_uint(c, &epoch) || epoch > UINT32_MAX ||
	    !mp_read_uint(c, &h->next_seq) || !mp_read_uint(c, &h->expired_total) ||
	    !mp_read_uint(c, &h->locations) || !mp_read_uint(c, &h->skus) ||
	    !mp_read_uint(c, &h->records) || !mp_read_uint(c, &h->reservations) ||
	    !mp_read_uint(c, &h->keys))
		return *err = "the snapshot header is malformed", false;
	h->id_epoch = (uint32_t)epoch;
	out->kind = SNAPSHOT_ITEM_HEADER;
	return true;
}

/* [1, id, name, priority], or with the routing attributes after. */
static bool get_location(mp_cursor *c, uint32_t n, core_snap_location *l)
{
	*l = (core_snap_location){ .capacity = -1, .enabled = true };
	if ((n != SNAPSHOT_LOCATION_FIELDS_V1 && n != SNAPSHOT_LOCATION_FIELDS) || !mp_read_uint(c, &l->id) ||
	    !get_str(c, &l->name) || !mp_read_int(c, &l->priority))
		return false;
	if (n == SNAPSHOT_LOCATION_FIELDS_V1)
		return true;
	l->has_coords = !mp_read_nil(c);
	if (l->has_coords && (!mp_read_double(c, &l->lat) || !mp_read_double(c, &l->lon)))
		return false;
	if (!l->has_coords && !mp_read_nil(c))
		return false;
	uint32_t ntags;
	if (!mp_read_double(c, &l->cost) || !mp_read_double(c, &l->cost_per_km) ||
	    !mp_read_int(c, &l->capacity) || !mp_read_bool(c, &l->enabled) ||
	    !mp_read_array(c, &ntags) || ntags > CORE_TAGS_MAX)
		return false;
	l->ntags = ntags;
	for (uint32_t i = 0; i < ntags; i++)
		if (!get_str(c, &l->tags[i]))
			return false;
	return true;
}

static bool get_sku(snapshot_reader *r, mp_cursor *c, uint32_t n, core_snap_sku *s,
    const char **err)
{
	uint32_t flat;
	s->per_order = s->per_customer = s->low_stock = 0;
	s->ninbound = 0;
	s->inbound = r->inb;
	if ((n != SNAPSHOT_SKU_FIELDS && n != SNAPSHOT_SKU_FIELDS_V2 && n != SNAPSHOT_SKU_FIELDS_V1) || !get_str(c, &s->name) || !mp_read_array(c, &flat) ||
	    flat % SNAPSHOT_RECORD_FIELDS != 0)
		return *err = "a sku item is not [2, sku, [location, on_hand, reserved, committed, "
		    "safety, version, ...]]", false;
	if (flat / SNAPSHOT_RECORD_FIELDS > r->recs_cap)
		return *err = "a sku has more records than the engine has locations", false;
	s->nrecs = flat / SNAPSHOT_RECORD_FIELDS;
	s->recs = r->recs;
	for (uint32_t i = 0; i < s->nrecs; i++) {
		core_snap_record *rec = &r->recs[i];
		if (!mp_read_uint(c, &rec->location) || !mp_read_int(c, &rec->on_hand) ||
		    !mp_read_int(c, &rec->reserved) || !mp_read_int(c, &rec->committed) ||
		    !mp_read_int(c, &rec->safety) || !mp_read_uint(c, &rec->version))
			return *err = "a sku's record is malformed", false;
	}
	if (n >= SNAPSHOT_SKU_FIELDS_V2 && (!mp_read_int(c, &s->per_order) || !mp_read_int(c, &s->per_customer) ||
	    !mp_read_int(c, &s->low_stock)))
		return *err = "a sku's limits are malformed", false;
	if (n < SNAPSHOT_SKU_FIELDS)
		return true;
	if (!mp_read_array(c, &flat) || flat % SNAPSHOT_INBOUND_FIELDS != 0)
		return *err = "a sku's inbound entries are not [location, qty, eta, ref, backordered, ...]", false;
	if (flat / SNAPSHOT_INBOUND_FIELDS > CORE_INBOUND_PER_SKU_MAX)
		return *err = "a sku has more inbound entries than the engine allows", false;
	s->ninbound = flat / SNAPSHOT_INBOUND_FIELDS;
	for (uint32_t i = 0; i < s->ninbound; i++) {
		core_snap_inbound *in = &r->inb[i];
		in->ref = (core_str){ NULL, 0 };
		if (!mp_read_uint(c, &in->location) || !mp_read_int(c, &in->qty) || !mp_read_int(c, &in->eta_ms) ||
		    (!mp_read_nil(c) && !get_str(c, &in->ref)) || !mp_read_int(c, &in->backordered))
			return *err = "a sku's inbound entry is malformed", false;
	}
	return true;
}

static bool get_channel(snapshot_reader *r, mp_cursor *c, uint32_t n, core_snap_channel *ch,
    const char **err)
{
	uint32_t nlocs;
	if (n != SNAPSHOT_CHANNEL_FIELDS || !get_str(c, &ch->name) || !mp_read_int(c, &ch->buffer) ||
	    !mp_read_bool(c, &ch->all_locations) || !mp_read_array(c, &nlocs))
		return *err = "a channel item is not [5, channel, buffer, all_locations, [location, ...]]", false;
	if (nlocs > r->recs_cap)
		return *err = "a channel has more locations than the engine allows", false;
	for (uint32_t i = 0; i < nlocs; i++)
		if (!mp_read_uint(c, &r->loc_ids[i]))
			return *err = "a channel's location is not an id", false;
	ch->nlocations = nlocs;
	ch->locations = r->loc_ids;
	return true;
}

/* Allocations (or backorders) [location, qty, orig, ...] into the
 * reader's scratch after the *used taken by the reservation's earlier ones. */
static bool get_allocs(snapshot_reader *r, mp_cursor *c, uint32_t *used,
    const core_snap_alloc **out, uint32_t *n, const char **err)
{
	uint32_t flat;
	if (!mp_read_array(c, &flat) || flat % SNAPSHOT_ALLOC_FIELDS != 0)
		return *err = "a reservation's allocations are malformed", false;
	if (flat / SNAPSHOT_ALLOC_FIELDS > ALLOCS_MAX - *used)
		return *err = "a reservation has more allocations than the engine allows", false;
	*n = flat / SNAPSHOT_ALLOC_FIELDS;
	*out = &r->allocs[*used];
	for (uint32_t j = 0; j < *n; j++) {
		core_snap_alloc *a = &r->allocs[(*used)++];
		if (!mp_read_uint(c, &a->location) || !mp_read_int(c, &a->qty) || !mp_read_int(c, &a->orig))
			return *err = "a reservation's allocation is malformed", false;
	}
	return true;
}

static bool get_resv(snapshot_reader *r, mp_cursor *c, uint32_t n, core_snap_resv *v,
    const char **err)
{
	uint32_t nlines, nallocs = 0;
	uint64_t status;
	v->customer_id = (core_str){ NULL, 0 };
	if ((n != SNAPSHOT_RESV_FIELDS && n != SNAPSHOT_RESV_FIELDS_V1) || !mp_read_uint(c, &v->seq) ||
	    !mp_read_uint(c, &status) || !mp_read_int(c, &v->expires_at_ms) ||
	    !mp_read_int(c, &v->orig_expires_at_ms) || !mp_read_int(c, &v->finished_at_ms) ||
	    !get_str(c, &v->order_id) ||
	    (n == SNAPSHOT_RESV_FIELDS && !mp_read_nil(c) && !get_str(c, &v->customer_id)) ||
	    !mp_read_array(c, &nlines))
		return *err = "a reservation item is malformed", false;
	if (!status_of_number(status, &v->status))
		return *err = "a reservation item has an unknown status", false;
	if (nlines > r->lines_cap)
		return *err = "a reservation has more lines than the engine allows", false;
	v->nlines = nlines;
	v->lines = r->lines;
	for (uint32_t i = 0; i < nlines; i++) {
		core_snap_line *l = &r->lines[i];
		uint32_t fields;
		if (!mp_read_array(c, &fields) ||
		    (fields != SNAPSHOT_LINE_FIELDS && fields != SNAPSHOT_LINE_FIELDS_V1) ||
		    !get_str(c, &l->sku) ||
		    !mp_read_bool(c, &l->sku_known) || !mp_read_int(c, &l->qty) ||
		    !mp_read_int(c, &l->released) || !mp_read_int(c, &l->fulfilled))
			return *err = "a reservation's line is malformed", false;
		l->nbackorders = 0;
		l->backorders = NULL;
		if (!get_allocs(r, c, &nallocs, &l->allocs, &l->nallocs, err) ||
		    (fields == SNAPSHOT_LINE_FIELDS &&
		    !get_allocs(r, c, &nallocs, &l->backorders, &l->nbackorders, err)))
			return false;
	}
	return true;
}

static bool get_key(mp_cursor *c, uint32_t n, core_snap_key *k, const char **err)
{
	uint64_t method;
	*k = (core_snap_key){ 0 };
	if (n < 2 || !mp_read_uint(c, &method))
		return *err = "a key item is malformed", false;
	bool reserve = method == SNAPSHOT_KEY_RESERVE;
	if (!reserve && method != SNAPSHOT_KEY_ADJUST)
		return *err = "a key item has an unknown method", false;
	k->method = reserve ? CORE_SNAP_KEY_RESERVE : CORE_SNAP_KEY_ADJUST;
	bool fits = reserve ? n == SNAPSHOT_KEY_RESERVE_FIELDS
	                    : n == SNAPSHOT_KEY_ADJUST_FIELDS || n == SNAPSHOT_KEY_ADJUST_FIELDS_V1;
	if (!fits || !get_str(c, &k->key) ||
	    !mp_read_uint(c, &k->params_hash) || !mp_read_int(c, &k->created_ms))
		return *err = "a key item is malformed", false;
	if (reserve) {
		if (!mp_read_uint(c, &k->resv_seq))
			return *err = "a reserve key item is malformed", false;
		return true;
	}
	core_record_view *w = &k->reply;
	if (!get_str(c, &w->sku) || !get_str(c, &w->location) || !mp_read_int(c, &w->on_hand) ||
	    !mp_read_int(c, &w->reserved) || !mp_read_int(c, &w->committed) ||
	    !mp_read_int(c, &w->safety) || !mp_read_uint(c, &w->version) ||
	    (n == SNAPSHOT_KEY_ADJUST_FIELDS && !mp_read_int(c, &w->incoming)))
		return *err = "an adjust key item is malformed", false;
	return true;
}

/* Decode the item buf[0..len), already bounded by mp_scan. */
static bool get_item(snapshot_reader *r, const uint8_t *buf, size_t len, snapshot_item *out,
    const char **err)
{
	mp_cursor c;
	mp_cursor_init(&c, buf, len);
	uint32_t n;
	uint64_t tag;
	if (!mp_read_array(&c, &n) || n < 1)
		return *err = "a snapshot item is not an array", false;
	if (!r->have_header) {
		if (!get_header(&c, n, out, r, err))
			return false;
		r->have_header = true;
	} else if (mp_peek(&c) == MP_T_STR) {
		return *err = "a second snapshot header", false;
	} else if (!mp_read_uint(&c, &tag)) {
		return *err = "a snapshot item does not start with its tag", false;
	} else {
		core_snap_item *it = &out->core;
		out->kind = SNAPSHOT_ITEM_CORE;
		bool ok = false;
		switch (tag) {
		case SNAPSHOT_TAG_END:
			out->kind = SNAPSHOT_ITEM_END;
			if (n != SNAPSHOT_END_FIELDS || !mp_read_uint(&c, &out->count))
				return *err = "the end marker is not [0, items]", false;
			ok = true;
			break;
		case SNAPSHOT_TAG_LOCATION:
			it->kind = CORE_SNAP_LOCATION;
			ok = get_location(&c, n, &it->u.location);
			if (!ok)
				*err = "a location item is not [1, id, name, priority, lat, lon, cost, "
				    "cost_per_km, capacity, enabled, tags]";
			break;
		case SNAPSHOT_TAG_SKU:
			it->kind = CORE_SNAP_SKU;
			ok = get_sku(r, &c, n, &it->u.sku, err);
			break;
		case SNAPSHOT_TAG_RESERVATION:
			it->kind = CORE_SNAP_RESERVATION;
			ok = get_resv(r, &c, n, &it->u.resv, err);
			break;
		case SNAPSHOT_TAG_KEY:
			it->kind = CORE_SNAP_KEY;
			ok = get_key(&c, n, &it->u.key, err);
			break;
		case SNAPSHOT_TAG_CHANNEL:
			it->kind = CORE_SNAP_CHANNEL;
			ok = get_channel(r, &c, n, &it->u.channel, err);
			break;
		default:
			*err = "a snapshot item has an unknown tag";
			break;
		}
		if (!ok)
			return false;
	}
	if (c.p != c.end)
		return *err = "a snapshot item has more fields than its kind", false;
	return true;
}

int snapshot_reader_next(snapshot_reader *r, snapshot_item *out, const char **err)
{
	size_t left = (size_t)(r->chunk.end - r->chunk.p);
	if (left == 0)
		return 0;
	if (r->ended)
		return *err = "bytes after the snapshot's end marker", -1;
	size_t len;
	const char *why = NULL;
	r->lim.frame_bytes_max = left;
	int rc = mp_scan(r->chunk.p, left, &r->lim, &len, &why);
	if (rc != MP_OK) {
		snprintf(r->msg, sizeof(r->msg), "a snapshot item is %s: %s",
		    rc == MP_INCOMPLETE ? "cut short" : "malformed or over a limit",
		    why ? why : "it ends with its chunk");
		return *err = r->msg, -1;
	}
	if (!get_item(r, r->chunk.p, len, out, err))
		return -1;
	r->chunk.p += len;
	if (out->kind == SNAPSHOT_ITEM_END) {
		if (out->count != r->items) {
			snprintf(r->msg, sizeof(r->msg), "the end marker counts %llu items, but %llu came",
			    (unsigned long long)out->count, (unsigned long long)r->items);
			return *err = r->msg, -1;
		}
		r->ended = true;
	} else if (out->kind == SNAPSHOT_ITEM_CORE) {
		r->items++;
	}
	return 1;
}

int snapshot_reader_done(snapshot_reader *r, const char **err)
{
	if (!r->have_header)
		return *err = "the snapshot is empty", -1;
	if (!r->ended)
		return *err = "the snapshot is cut short: it has no end marker", -1;
	return 0;
}

/* ---- loading a core ---------------------------------------------------------- */

/* Owns the reader and the restore (the core until finish hands it out). */
struct snapshot_loader {
	core_config cfg;
	snapshot_reader *reader;
	core_restore *restore;   /* after the header */
	uint64_t lsn;
	uint64_t item;           /* items read, for messages */
	bool finished;
	bool failed;
	char msg[320];
};

snapshot_loader *snapshot_loader_create(const core_config *cfg)
{
	snapshot_loader *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return NULL;
	l->cfg = *cfg;
	if ((l->reader = snapshot_reader_create(cfg)) == NULL) {
		free(l);
		return NULL;
	}
	return l;
}

void snapshot_loader_destroy(snapshot_loader *l)
{
	if (l == NULL)
		return;
	snapshot_reader_destroy(l->reader);
	core_restore_abort(l->restore);
	free(l);
}

__attribute__((format(printf, 3, 4)))
static int load_fail(snapshot_loader *l, const char **err, const char *fmt, ...)
{
	if (!l->failed) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(l->msg, sizeof(l->msg), fmt, ap);
		va_end(ap);
		l->failed = true;
	}
	*err = l->msg;
	return -1;
}

int snapshot_loader_feed(snapshot_loader *l, const uint8_t *chunk, size_t len, const char **err)
{
	if (l->failed)
		return *err = l->msg, -1;
	if (l->finished)
		return load_fail(l, err, "snapshot: loaded already");
	if (len == 0)
		return load_fail(l, err, "snapshot: an empty chunk");
	snapshot_reader_chunk(l->reader, chunk, len);
	snapshot_item it;
	const char *why = NULL;
	int rc;
	while ((rc = snapshot_reader_next(l->reader, &it, &why)) > 0) {
		core_error cerr;
		l->item++;
		switch (it.kind) {
		case SNAPSHOT_ITEM_HEADER:
			l->lsn = it.lsn;
			l->restore = core_restore_begin(&l->cfg, &it.header, &cerr);
			if (l->restore == NULL)
				return load_fail(l, err, "snapshot: %s", cerr.message);
			break;
		case SNAPSHOT_ITEM_CORE:
			if (core_restore_item(l->restore, &it.core, &cerr) != CORE_OK)
				return load_fail(l, err, "snapshot item %llu: %s",
				    (unsigned long long)l->item, cerr.message);
			break;
		case SNAPSHOT_ITEM_END:
			break;
		}
	}
	if (rc < 0)
		return load_fail(l, err, "snapshot item %llu: %s", (unsigned long long)l->item + 1, why);
	return 0;
}

core *snapshot_loader_finish(snapshot_loader *l, uint64_t *lsn, const char **err)
{
	const char *why;
	core_error cerr;
	if (l->failed || l->finished) {
		load_fail(l, err, "snapshot: loaded already"); /* or the first failure */
		return NULL;
	}
	l->finished = true;
	if (snapshot_reader_done(l->reader, &why) != 0) {
		load_fail(l, err, "snapshot: %s", why);
		return NULL;
	}
	core *c = core_restore_finish(l->restore, &cerr);
	l->restore = NULL; /* consumed */
	if (c == NULL)
		load_fail(l, err, "snapshot: %s", cerr.message);
	else
		*lsn = l->lsn;
	return c;
}
