/*
 * routing_random.h - random routing commands and options for the unit
 * tests' seeded random walks (journal, snapshot): each draws from the
 * bits of one random number.
 */
#ifndef ALLOT_TESTS_ROUTING_RANDOM_H
#define ALLOT_TESTS_ROUTING_RANDOM_H

#include <string.h>

#include "core.h"

static const core_str routing_tags[] = { { "dc", 2 }, { "eu", 2 }, { "store", 5 } };

/* location.put with a random part of the attributes given. */
static inline void random_location(uint64_t x, core_location_cmd *l, const char *name)
{
	*l = (core_location_cmd){ .location = { name, (uint32_t)strlen(name) }, .capacity = -1, .enabled = -1 };
	if (x & 1) {
		l->has_coords = true;
		l->lat = (double)((x >> 1) % 180) - 89.5;
		l->lon = (double)((x >> 9) % 360) - 179.25;
	}
	if ((x >> 18) & 1) {
		l->has_priority = true;
		l->priority = (int64_t)((x >> 19) % 3);
	}
	if ((x >> 21) & 1) {
		l->has_cost = true;
		l->cost = (double)((x >> 22) % 5) / 4;
		l->has_cost_per_km = true;
		l->cost_per_km = (double)((x >> 25) % 3) / 100;
	}
	if ((x >> 27) % 4 == 0)
		l->capacity = (int64_t)((x >> 29) % 4);
	if ((x >> 31) % 4 == 0)
		l->enabled = (int)((x >> 33) % 4 != 0);
	if ((x >> 35) & 1) {
		l->has_tags = true;
		l->ntags = (uint32_t)((x >> 36) % 4);
		l->tags = routing_tags;
	}
}

/* Random routing options on a reserve. */
static inline void routing_options(uint64_t x, core_reserve_cmd *r)
{
	r->strategy = (core_strategy)(x % 4);
	r->split = (core_split)((x >> 2) % 3);
	r->max_shipments = (uint32_t)((x >> 4) % 3);
	r->has_ship_to = (x >> 6) % 4 != 0 || r->strategy == CORE_STRATEGY_NEAREST ||
	    r->strategy == CORE_STRATEGY_CHEAPEST;
	r->ship_lat = (double)((x >> 8) % 170) - 85.125;
	r->ship_lon = (double)((x >> 16) % 350) - 175.5;
	r->explain = (x >> 25) & 1;
	r->allow_backorder = (x >> 26) & 1;
}

static const core_str routing_refs[] = { { "po-1", 4 }, { "po-2", 4 } };

/* inbound.add of a few units of sku at location, at one of a few etas. */
static inline void random_inbound(uint64_t x, core_inbound_cmd *in, const char *sku, const char *loc)
{
	*in = (core_inbound_cmd){ .sku = { sku, (uint32_t)strlen(sku) }, .location = { loc, (uint32_t)strlen(loc) },
		.qty = 1 + (int64_t)(x % 4), .eta_ms = 5000 + 1000 * (int64_t)((x >> 2) % 3) };
	if ((x >> 4) % 3)
		in->ref = routing_refs[(x >> 6) & 1];
}

/* channel.put of "web" or "market": some of locs[0..nlocs), or all, and a
 * buffer; names points to scratch for the list. */
static inline void random_channel(uint64_t x, core_channel_cmd *ch, const char *const *locs,
    uint32_t nlocs, core_str *names)
{
	*ch = (core_channel_cmd){ .channel = { (x & 1) ? "web" : "market", (x & 1) ? 3 : 6 }, .buffer = -1 };
	if ((x >> 1) % 3 == 0) {
		ch->has_locations = true;
		for (uint32_t i = 0; i < nlocs; i++)
			if ((x >> (3 + i)) & 1)
				names[ch->nlocations++] = (core_str){ locs[i], (uint32_t)strlen(locs[i]) };
		ch->locations = names;
	} else if ((x >> 1) % 3 == 1) {
		ch->all_locations = true;
	}
	if ((x >> 12) & 1)
		ch->buffer = (int64_t)((x >> 13) % 3);
}

/* sku.put with random limits on sku. */
static inline void random_sku_put(uint64_t x, core_sku_cmd *s, const char *sku)
{
	*s = (core_sku_cmd){ .sku = { sku, (uint32_t)strlen(sku) }, .per_order = -1, .per_customer = -1,
		.low_stock = -1 };
	if (x & 1)
		s->per_order = (int64_t)((x >> 1) % 4);
	if ((x >> 3) & 1)
		s->per_customer = (int64_t)((x >> 4) % 6);
	if ((x >> 7) & 1)
		s->low_stock = (int64_t)((x >> 8) % 3);
}

static const char *const routing_customers[] = { "c-1", "c-2", "c-3" };

#endif
