/*
 * inventory.c - locations, skus and their per-location records, and the
 * stock commands (stock.set, stock.adjust, restock) and stock reads.
 */
#include "core_internal.h"
#include "idem.h"

#include <math.h>
#include <stdlib.h>

static uint32_t loc_hash_of(const void *item)
{
	return (uint32_t)((const core_loc *)item)->hash;
}

static uint32_t sku_hash_of(const void *item)
{
	return ((const core_sku *)item)->hash32;
}

int inventory_init(core *c)
{
	c->ranks_by_name = true;
	c->locs = calloc(c->cfg.locations_max, sizeof(*c->locs));
	c->rank_order = calloc(c->cfg.locations_max, sizeof(*c->rank_order));
	c->name_order = calloc(c->cfg.locations_max, sizeof(*c->name_order));
	if (c->locs == NULL || c->rank_order == NULL || c->name_order == NULL)
		goto fail;
	if (table_init(&c->loc_by_name, 64, loc_hash_of) != 0)
		goto fail;
	if (table_init(&c->sku_by_name, 1024, sku_hash_of) != 0)
		goto fail_skus;
	return 0;

fail_skus:
	table_finish(&c->loc_by_name);
fail:
	free(c->locs);
	free(c->rank_order);
	free(c->name_order);
	return -1;
}

void inventory_finish(core *c)
{
	for (uint32_t i = 0; i < table_slots(&c->sku_by_name); i++) {
		core_sku *s = table_at(&c->sku_by_name, i);
		if (s) {
			free(s->recs);
			free(s);
		}
	}
	table_finish(&c->sku_by_name);
	sku_seq_finish(c);
	for (uint32_t i = 0; i < c->nlocs; i++)
		free(c->locs[i]);
	table_finish(&c->loc_by_name);
	free(c->locs);
	free(c->rank_order);
	free(c->name_order);
}

static bool loc_eq(const void *item, const void *key)
{
	const core_loc *l = item;
	const core_str *name = key;
	return l->name_len == name->len && memcmp(l->name, name->p, name->len) == 0;
}

uint64_t loc_name_hash(const core *c, core_str name)
{
	return hash_bytes(c->cfg.hash_seed, name.p, name.len);
}

core_loc *loc_find(const core *c, core_str name)
{
	return table_find(&c->loc_by_name, loc_name_hash(c, name), loc_eq, &name);
}

static bool sku_eq(const void *item, const void *key)
{
	const core_sku *s = item;
	const core_str *name = key;
	return s->name_len == name->len && memcmp(s->name, name->p, name->len) == 0;
}

uint64_t sku_name_hash(const core *c, core_str name)
{
	return hash_bytes(c->cfg.hash_seed ^ 1, name.p, name.len);
}

core_sku *sku_find(const core *c, core_str name)
{
	return table_find(&c->sku_by_name, sku_name_hash(c, name), sku_eq, &name);
}

int loc_name_cmp(const core_loc *a, const core_loc *b)
{
	int n = memcmp(a->name, b->name, a->name_len < b->name_len ? a->name_len : b->name_len);
	return n ? n : (int)a->name_len - (int)b->name_len;
}

/* Locations rank by priority (ascending), then name. */
int loc_rank_cmp(const core_loc *a, const core_loc *b)
{
	if (a->priority != b->priority)
		return a->priority < b->priority ? -1 : 1;
	return loc_name_cmp(a, b);
}

/* Index of the first record of s whose location's name ranks at or after
 * name_rank. */
static uint32_t rec_lower_bound(const core *c, const core_sku *s, uint32_t name_rank)
{
	uint32_t lo = 0, hi = s->nrecs;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (c->locs[s->recs[mid].loc]->name_rank < name_rank)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

core_rec *sku_rec_at(const core *c, const core_sku *s, uint16_t loc)
{
	uint32_t i = rec_lower_bound(c, s, c->locs[loc]->name_rank);
	return (i < s->nrecs && s->recs[i].loc == loc) ? &s->recs[i] : NULL;
}

void rec_view(const core *c, const core_sku *s, const core_rec *rec, core_record_view *out)
{
	const core_loc *l = c->locs[rec->loc];
	out->sku = (core_str){ s->name, s->name_len };
	out->location = (core_str){ l->name, l->name_len };
	uint32_t reserved = rec_reserved(c, rec); /* lazily expired holds gone (expiry.c) */
	out->on_hand = rec->on_hand;
	out->reserved = reserved;
	out->committed = rec->committed;
	out->safety = rec->safety;
	out->available = rec_available(c, rec);
	int64_t over = (int64_t)reserved + rec->committed - rec->on_hand;
	out->oversold = over > 0 ? over : 0;
	out->version = rec_version(c, rec);
	out->incoming = inbound_incoming_at(c, s, rec->loc);
}

/* A record to change (target, core_internal.h): made to exist in two
 * steps, so that it cannot fail half-way. */
int target_prepare(core *c, core_str sku, core_str loc, target *t, core_error *err)
{
	*t = (target){ 0 };
	t->loc = loc_find(c, loc);
	t->sku = sku_find(c, sku);
	if (t->loc && t->sku && (t->rec = sku_rec_at(c, t->sku, t->loc->id)) != NULL)
		return 0;
	if (t->loc == NULL) {
		if (c->nlocs >= c->cfg.locations_max)
			return core_fail(err, CORE_E_TOO_LARGE,
			    "location: the engine holds its maximum of %u locations", c->cfg.locations_max);
		if (table_reserve(&c->loc_by_name, 1) != 0)
			goto nomem;
		t->new_loc = calloc(1, sizeof(*t->new_loc));
		if (t->new_loc == NULL)
			goto nomem;
	}
	if (t->sku == NULL) {
		if (table_count(&c->sku_by_name) >= c->cfg.skus_max) {
			free(t->new_loc); /* prepared above for a new location */
			return core_fail(err, CORE_E_TOO_LARGE,
			    "sku: the engine holds its maximum of %u skus", c->cfg.skus_max);
		}
		if (table_reserve(&c->sku_by_name, 1) != 0 || sku_seq_reserve(c, 1) != 0)
			goto nomem;
		t->new_sku = calloc(1, offsetof(core_sku, name) + sku.len + 1);
		if (t->new_sku == NULL)
			goto nomem;
	}
	core_sku *s = t->sku ? t->sku : t->new_sku;
	if (s->nrecs == s->caprecs) {
		uint32_t cap = s->caprecs ? s->caprecs * 2u : 1u;
		if (cap > UINT16_MAX)
			cap = UINT16_MAX;
		core_rec *recs = realloc(s->recs, cap * sizeof(*recs));
		if (recs == NULL)
			goto nomem;
		s->recs = recs;
		s->caprecs = (uint16_t)cap;
	}
	return 0;

nomem:
	free(t->new_loc);
	if (t->new_sku) {
		free(t->new_sku->recs);
		free(t->new_sku);
	}
	return core_fail(err, CORE_E_BUSY, "out of memory");
}

/* A location as stock.set first makes it: priority 0, enabled, no
 * coordinates, no capacity, no cost, no tags. */
void loc_defaults(core_loc *l)
{
	l->priority = 0;
	l->capacity = -1;
	l->enabled = true;
	l->has_coords = false;
	l->lat = l->lon = l->x = l->y = l->z = 0;
	l->cost = l->cost_per_km = 0;
	l->ntags = 0;
	l->open = 0;
}

/* The point on the unit sphere: distances then need no trigonometry per
 * request (see plan.c). */
void loc_set_coords(core_loc *l, double lat, double lon)
{
	const double rad = M_PI / 180.0;
	l->has_coords = true;
	l->lat = lat;
	l->lon = lon;
	l->x = cos(lat * rad) * cos(lon * rad);
	l->y = cos(lat * rad) * sin(lon * rad);
	l->z = sin(lat * rad);
}

/* Insert id into order[0..n) (sorted by cmp) keeping it sorted; returns
 * its position. */
static uint32_t order_insert(core *c, uint16_t *order, uint32_t n, const core_loc *l,
    int (*cmp)(const core_loc *, const core_loc *))
{
	uint32_t pos = n;
	while (pos > 0 && cmp(l, c->locs[order[pos - 1]]) < 0) {
		order[pos] = order[pos - 1];
		pos--;
	}
	order[pos] = l->id;
	return pos;
}

/* A sku without records (sku.put of a sku not stocked yet). */
core_sku *sku_make(core *c, core_str name, core_error *err)
{
	if (table_count(&c->sku_by_name) >= c->cfg.skus_max) {
		core_fail(err, CORE_E_TOO_LARGE, "sku: the engine holds its maximum of %u skus", c->cfg.skus_max);
		return NULL;
	}
	core_sku *s = NULL;
	if (table_reserve(&c->sku_by_name, 1) != 0 || sku_seq_reserve(c, 1) != 0 ||
	    (s = calloc(1, offsetof(core_sku, name) + name.len + 1)) == NULL) {
		core_fail(err, CORE_E_BUSY, "out of memory");
		return NULL;
	}
	memcpy(s->name, name.p, name.len);
	s->name_len = (uint8_t)name.len;
	uint64_t h = sku_name_hash(c, name);
	s->hash32 = (uint32_t)h;
	int rc = table_insert(&c->sku_by_name, h, s);
	assert(rc == 0); /* room was reserved */
	(void)rc;
	sku_seq_push(c, s);
	return s;
}

static void loc_link(core *c, core_loc *l, core_str name)
{
	memcpy(l->name, name.p, name.len);
	l->name[name.len] = '\0';
	l->name_len = (uint8_t)name.len;
	l->hash = loc_name_hash(c, name);
	loc_defaults(l);
	l->id = (uint16_t)c->nlocs;
	c->locs[c->nlocs] = l;
	/* Insert into both orders; the relative order of the others is
	 * unchanged, so every sku's records stay sorted by name rank. */
	uint32_t rpos = order_insert(c, c->rank_order, c->nlocs, l, loc_rank_cmp);
	uint32_t npos = order_insert(c, c->name_order, c->nlocs, l, loc_name_cmp);
	c->nlocs++;
	for (uint32_t r = rpos; r < c->nlocs; r++)
		c->locs[c->rank_order[r]]->rank = r;
	for (uint32_t r = npos; r < c->nlocs; r++)
		c->locs[c->name_order[r]]->name_rank = r;
	c->ranks_by_name = c->ranks_by_name && rpos == npos;
	if (!c->ranks_by_name)
		loc_ranks_checked(c);
	int rc = table_insert(&c->loc_by_name, l->hash, l);
	assert(rc == 0); /* room was reserved */
	(void)rc;
}

/* Rank order after a priority changed: insertion sort, as all but one
 * location are in order already. Name ranks do not change. */
void loc_rerank(core *c)
{
	for (uint32_t i = 1; i < c->nlocs; i++) {
		uint16_t id = c->rank_order[i];
		uint32_t j = i;
		while (j > 0 && loc_rank_cmp(c->locs[id], c->locs[c->rank_order[j - 1]]) < 0) {
			c->rank_order[j] = c->rank_order[j - 1];
			j--;
		}
		c->rank_order[j] = id;
	}
	for (uint32_t r = 0; r < c->nlocs; r++)
		c->locs[c->rank_order[r]]->rank = r;
	loc_ranks_checked(c);
}

void loc_ranks_checked(core *c)
{
	c->ranks_by_name = true;
	for (uint32_t r = 0; r < c->nlocs && c->ranks_by_name; r++)
		c->ranks_by_name = c->rank_order[r] == c->name_order[r];
}

core_rec *target_commit(core *c, target *t, core_str sku, core_str loc)
{
	if (t->rec)
		return t->rec;
	if (t->new_loc) {
		loc_link(c, t->new_loc, loc);
		t->loc = t->new_loc;
	}
	if (t->new_sku) {
		core_sku *s = t->new_sku;
		memcpy(s->name, sku.p, sku.len);
		s->name[sku.len] = '\0';
		s->name_len = (uint8_t)sku.len;
		uint64_t h = sku_name_hash(c, sku);
		s->hash32 = (uint32_t)h;
		int rc = table_insert(&c->sku_by_name, h, s);
		assert(rc == 0);
		(void)rc;
		sku_seq_push(c, s);
		t->sku = s;
	}
	core_sku *s = t->sku;
	uint32_t i = rec_lower_bound(c, s, t->loc->name_rank);
	memmove(&s->recs[i + 1], &s->recs[i], (s->nrecs - i) * sizeof(*s->recs));
	s->recs[i] = (core_rec){ .loc = t->loc->id };
	s->nrecs++;
	c->nrecs++;
	t->rec = &s->recs[i];
	return t->rec;
}

static int check_names(core_str sku, core_str loc, core_error *err)
{
	if (!name_valid(sku, CORE_NAME_MAX))
		return core_fail(err, CORE_E_BAD_REQUEST,
		    "sku: must be 1 to %d bytes without control characters", CORE_NAME_MAX);
	if (!name_valid(loc, CORE_NAME_MAX))
		return core_fail(err, CORE_E_BAD_REQUEST,
		    "location: must be 1 to %d bytes without control characters", CORE_NAME_MAX);
	return 0;
}

static uint64_t adjust_params_hash(const core *c, const core_stock_cmd *s)
{
	uint64_t h = hash_bytes(c->cfg.hash_seed, s->sku.p, s->sku.len);
	h = hash_mix(h ^ hash_bytes(h, s->location.p, s->location.len));
	h = hash_mix(h ^ (uint64_t)s->delta);
	/* An empty reason may be { NULL, 0 }: memcpy from NULL is undefined
	 * even for 0 bytes, and the hash of 0 bytes does not read p. */
	h = hash_mix(h ^ hash_bytes(h, s->reason.len ? s->reason.p : "", s->reason.len));
	/* if_version only when given, so keys made before it still match. */
	return s->if_version >= 0 ? hash_mix(h ^ (uint64_t)s->if_version ^ 0x1f5e) : h;
}

/* Validate a stock command against the record as it is (zeroes if absent)
 * and compute the new on_hand. Changes nothing. */
static int stock_plan(const core *c, const core_cmd *cmd, const core_rec *cur,
    int64_t *on_hand, core_error *err)
{
	const core_stock_cmd *s = &cmd->u.stock;
	int64_t have = cur ? cur->on_hand : 0;
	if (cmd->type == CORE_CMD_STOCK_SET) {
		if (s->on_hand < 0 || s->on_hand > CORE_QTY_MAX)
			return core_fail(err, CORE_E_BAD_REQUEST, "on_hand: must be 0 to %lld", CORE_QTY_MAX);
		if (s->safety < -1 || s->safety > CORE_QTY_MAX)
			return core_fail(err, CORE_E_BAD_REQUEST, "safety: must be 0 to %lld", CORE_QTY_MAX);
	}
	/* stock.set and stock.adjust may be conditional; restock never is. */
	uint64_t version = cur ? rec_version(c, cur) : 0;
	if (cmd->type != CORE_CMD_RESTOCK && s->if_version >= 0 && (uint64_t)s->if_version != version) {
		core_fail(err, CORE_E_CONFLICT, "if_version: the record is at version %llu, not %lld",
		    (unsigned long long)version, (long long)s->if_version);
		err->version = version;
		return CORE_E_CONFLICT;
	}
	if (cmd->type == CORE_CMD_STOCK_SET) {
		*on_hand = s->on_hand;
		return 0;
	}
	const char *field = cmd->type == CORE_CMD_RESTOCK ? "qty" : "delta";
	int64_t lo = cmd->type == CORE_CMD_RESTOCK ? 1 : -CORE_QTY_MAX;
	if (s->delta < lo || s->delta > CORE_QTY_MAX)
		return core_fail(err, CORE_E_BAD_REQUEST, "%s: must be %lld to %lld", field,
		    (long long)lo, CORE_QTY_MAX);
	if (!core_text_valid(s->reason, CORE_REASON_MAX))
		return core_fail(err, CORE_E_BAD_REQUEST,
		    "reason: at most %d bytes without control characters", CORE_REASON_MAX);
	*on_hand = have + s->delta;
	if (*on_hand < 0)
		return core_fail(err, CORE_E_BAD_REQUEST,
		    "delta: on_hand would go below zero (on_hand %lld, delta %lld)",
		    (long long)have, (long long)s->delta);
	if (*on_hand > CORE_QTY_MAX)
		return core_fail(err, CORE_E_BAD_REQUEST, "%s: on_hand would exceed %lld", field, CORE_QTY_MAX);
	return 0;
}

int inventory_exec(core *c, const core_cmd *cmd, core_result *res, core_error *err)
{
	const core_stock_cmd *s = &cmd->u.stock;
	int rc = check_names(s->sku, s->location, err);
	if (rc)
		return rc;
	bool keyed = cmd->type == CORE_CMD_STOCK_ADJUST && s->idempotency_key.p != NULL;
	uint64_t params_hash = 0;
	if (keyed) {
		if (!name_valid(s->idempotency_key, CORE_KEY_MAX))
			return core_fail(err, CORE_E_BAD_REQUEST,
			    "idempotency_key: must be 1 to %d bytes without control characters", CORE_KEY_MAX);
		params_hash = adjust_params_hash(c, s);
		const core_idem *e = idem_find(c, IDEM_ADJUST, s->idempotency_key);
		if (e) {
			if (e->params_hash != params_hash)
				return core_fail(err, CORE_E_CONFLICT,
				    "idempotency_key: already used with different params");
			res->record = e->rec;
			res->replayed = true;
			return 0;
		}
	}
	const core_sku *sku = sku_find(c, s->sku);
	const core_loc *loc = loc_find(c, s->location);
	const core_rec *cur = (sku && loc) ? sku_rec_at(c, sku, loc->id) : NULL;
	int64_t on_hand = 0;
	if ((rc = stock_plan(c, cmd, cur, &on_hand, err)) != 0)
		return rc;

	core_idem *e = NULL;
	if (keyed && (e = idem_prepare(c, IDEM_ADJUST, s->idempotency_key, params_hash)) == NULL)
		return core_fail(err, CORE_E_BUSY, "out of memory");
	target t;
	if ((rc = target_prepare(c, s->sku, s->location, &t, err)) != 0) {
		idem_abort(e);
		return rc;
	}
	core_rec *rec = target_commit(c, &t, s->sku, s->location);
	track_rec(c, t.sku, rec, 0);
	rec->on_hand = (uint32_t)on_hand;
	if (cmd->type == CORE_CMD_STOCK_SET && s->safety >= 0)
		rec->safety = (uint32_t)s->safety;
	rec->version++;
	rec_view(c, t.sku, rec, &res->record);
	if (e) {
		e->rec = res->record;
		idem_commit(c, e);
	}
	return 0;
}

/* ---- locations -------------------------------------------------------------- */

static bool cost_valid(double v)
{
	return isfinite(v) && v >= 0 && v <= CORE_COST_MAX;
}

/* Check a location.put against nothing but itself. */
static int location_validate(const core_location_cmd *l, core_error *err)
{
	if (!name_valid(l->location, CORE_NAME_MAX))
		return core_fail(err, CORE_E_BAD_REQUEST,
		    "location: must be 1 to %d bytes without control characters", CORE_NAME_MAX);
	if (l->has_coords && !(isfinite(l->lat) && l->lat >= -90 && l->lat <= 90))
		return core_fail(err, CORE_E_BAD_REQUEST, "lat: must be a number from -90 to 90");
	if (l->has_coords && !(isfinite(l->lon) && l->lon >= -180 && l->lon <= 180))
		return core_fail(err, CORE_E_BAD_REQUEST, "lon: must be a number from -180 to 180");
	if (l->has_priority && (l->priority < INT32_MIN || l->priority > INT32_MAX))
		return core_fail(err, CORE_E_BAD_REQUEST, "priority: must be %d to %d", INT32_MIN, INT32_MAX);
	if (l->has_cost && !cost_valid(l->cost))
		return core_fail(err, CORE_E_BAD_REQUEST, "cost: must be a number from 0 to %.0f", CORE_COST_MAX);
	if (l->has_cost_per_km && !cost_valid(l->cost_per_km))
		return core_fail(err, CORE_E_BAD_REQUEST, "cost_per_km: must be a number from 0 to %.0f",
		    CORE_COST_MAX);
	if (l->capacity < -1 || l->capacity > CORE_QTY_MAX)
		return core_fail(err, CORE_E_BAD_REQUEST, "capacity: must be 0 to %lld", CORE_QTY_MAX);
	if (l->enabled < -1 || l->enabled > 1)
		return core_fail(err, CORE_E_BAD_REQUEST, "enabled: must be true or false");
	if (l->has_tags && l->ntags > CORE_TAGS_MAX)
		return core_fail(err, CORE_E_BAD_REQUEST, "tags: at most %d", CORE_TAGS_MAX);
	for (uint32_t i = 0; l->has_tags && i < l->ntags; i++) {
		if (!name_valid(l->tags[i], CORE_TAG_MAX))
			return core_fail(err, CORE_E_BAD_REQUEST,
			    "tags[%u]: must be 1 to %d bytes without control characters", i, CORE_TAG_MAX);
		for (uint32_t j = 0; j < i; j++)
			if (l->tags[j].len == l->tags[i].len && memcmp(l->tags[j].p, l->tags[i].p, l->tags[i].len) == 0)
				return core_fail(err, CORE_E_BAD_REQUEST, "tags[%u]: the same tag as tags[%u]", i, j);
	}
	return 0;
}

void loc_view(const core *c, const core_loc *l, core_location_view *out)
{
	out->name = (core_str){ l->name, l->name_len };
	out->has_coords = l->has_coords;
	out->lat = l->lat;
	out->lon = l->lon;
	out->priority = l->priority;
	out->cost = l->cost;
	out->cost_per_km = l->cost_per_km;
	out->capacity = l->capacity;
	out->enabled = l->enabled;
	out->open_shipments = loc_open(c, l);
	out->ntags = l->ntags;
	for (uint32_t i = 0; i < l->ntags; i++)
		out->tags[i] = (core_str){ l->tags[i], l->tag_len[i] };
}

/* location.put: creates the location (with defaults) when new, then sets
 * what was given. A priority change re-ranks the locations. */
int inventory_location_put(core *c, const core_location_cmd *cmd, core_result *res, core_error *err)
{
	int rc = location_validate(cmd, err);
	if (rc)
		return rc;
	core_loc *l = loc_find(c, cmd->location);
	if (l == NULL) {
		if (c->nlocs >= c->cfg.locations_max)
			return core_fail(err, CORE_E_TOO_LARGE,
			    "location: the engine holds its maximum of %u locations", c->cfg.locations_max);
		if (table_reserve(&c->loc_by_name, 1) != 0 || (l = calloc(1, sizeof(*l))) == NULL)
			return core_fail(err, CORE_E_BUSY, "out of memory");
		loc_link(c, l, cmd->location);
	}
	if (cmd->has_coords)
		loc_set_coords(l, cmd->lat, cmd->lon);
	if (cmd->has_cost)
		l->cost = cmd->cost + 0.0; /* + 0.0: -0.0 becomes 0.0 */
	if (cmd->has_cost_per_km)
		l->cost_per_km = cmd->cost_per_km + 0.0;
	if (cmd->capacity >= 0)
		l->capacity = cmd->capacity;
	if (cmd->enabled >= 0)
		l->enabled = cmd->enabled == 1;
	if (cmd->has_tags) {
		l->ntags = (uint8_t)cmd->ntags;
		for (uint32_t i = 0; i < cmd->ntags; i++) {
			memcpy(l->tags[i], cmd->tags[i].p, cmd->tags[i].len);
			l->tag_len[i] = (uint8_t)cmd->tags[i].len;
		}
	}
	if (cmd->has_priority && l->priority != (int32_t)cmd->priority) {
		l->priority = (int32_t)cmd->priority;
		loc_rerank(c);
	}
	res->kind = CORE_RESULT_LOCATION;
	loc_view(c, l, &res->location);
	return 0;
}

uint32_t core_location_count(const core *c)
{
	return c->nlocs;
}

void core_location_at(const core *c, uint32_t rank, core_location_view *out)
{
	assert(rank < c->nlocs);
	loc_view(c, c->locs[c->rank_order[rank]], out);
}

/* ---- reads --------------------------------------------------------------- */

/* stock.get sorts up to this many records on the stack; more are found by
 * walking the locations in rank order. */
#define STOCK_GET_SORT_MAX 256

uint32_t core_stock_count(const core *c, core_str sku, core_str location)
{
	const core_sku *s = sku_find(c, sku);
	if (s == NULL)
		return 0;
	if (location.p == NULL)
		return s->nrecs;
	const core_loc *l = loc_find(c, location);
	return (l && sku_rec_at(c, s, l->id)) ? 1 : 0;
}

int core_stock_get(const core *c, core_str sku, core_str location,
    void (*emit)(void *ctx, const core_record_view *rec), void *ctx,
    uint32_t *count, core_error *err)
{
	int rc = check_names(sku, location.p ? location : sku, err);
	if (rc)
		return rc;
	const core_sku *s = sku_find(c, sku);
	if (s == NULL)
		return core_fail(err, CORE_E_NOT_FOUND, "sku '%.*s' not found", (int)sku.len, sku.p);
	core_record_view v;
	if (location.p) {
		const core_loc *l = loc_find(c, location);
		const core_rec *rec = l ? sku_rec_at(c, s, l->id) : NULL;
		if (rec == NULL)
			return core_fail(err, CORE_E_NOT_FOUND, "sku '%.*s' has no record at location '%.*s'",
			    (int)sku.len, sku.p, (int)location.len, location.p);
		rec_view(c, s, rec, &v);
		emit(ctx, &v);
		*count = 1;
		return 0;
	}
	if (s->nrecs == 0)
		return core_fail(err, CORE_E_NOT_FOUND, "sku '%.*s' has no records", (int)sku.len, sku.p);
	/* Records are kept in name order; the reply lists them in rank order. */
	uint16_t idx[STOCK_GET_SORT_MAX];
	if (s->nrecs <= STOCK_GET_SORT_MAX) {
		for (uint32_t i = 0; i < s->nrecs; i++) {
			uint32_t j = i;
			while (j > 0 && c->locs[s->recs[idx[j - 1]].loc]->rank > c->locs[s->recs[i].loc]->rank) {
				idx[j] = idx[j - 1];
				j--;
			}
			idx[j] = (uint16_t)i;
		}
		for (uint32_t i = 0; i < s->nrecs; i++) {
			rec_view(c, s, &s->recs[idx[i]], &v);
			emit(ctx, &v);
		}
	} else {
		for (uint32_t r = 0; r < c->nlocs; r++) {
			const core_rec *rec = sku_rec_at(c, s, c->rank_order[r]);
			if (rec) {
				rec_view(c, s, rec, &v);
				emit(ctx, &v);
			}
		}
	}
	*count = s->nrecs;
	return 0;
}

int64_t core_avail(const core *c, core_str sku, core_str location,
    void (*emit)(void *ctx, const core_avail_loc *loc), void *ctx,
    uint32_t *nlocs)
{
	return core_avail_channel(c, sku, location, NULL, emit, ctx, nlocs);
}

int64_t core_avail_channel(const core *c, core_str sku, core_str location, const core_channel *ch,
    void (*emit)(void *ctx, const core_avail_loc *loc), void *ctx,
    uint32_t *nlocs)
{
	*nlocs = 0;
	const core_sku *s = sku_find(c, sku);
	if (s == NULL)
		return 0;
	const core_loc *only = NULL;
	if (location.p && (only = loc_find(c, location)) == NULL)
		return 0;
	int64_t total = 0;
	for (uint32_t i = 0; i < s->nrecs; i++) {
		const core_rec *rec = &s->recs[i];
		if (only && rec->loc != only->id)
			continue;
		if (ch && !ch->all && !((ch->bits[rec->loc >> 6] >> (rec->loc & 63)) & 1))
			continue;
		const core_loc *l = c->locs[rec->loc];
		int64_t a = rec_available(c, rec) - (ch ? (int64_t)ch->buffer : 0);
		core_avail_loc v = { { l->name, l->name_len }, a > 0 ? a : 0 };
		total += v.available;
		(*nlocs)++;
		if (emit)
			emit(ctx, &v);
	}
	return total;
}
