/*
 * random_cmd.h - the seeded random commands of the unit tests' walks
 * (journal replay, snapshot restore): every command type, with idempotency
 * keys, unknown skus ("E" is rarely stocked), routing options, inbound
 * entries, backorders and receipts.
 */
#ifndef ALLOT_TESTS_RANDOM_CMD_H
#define ALLOT_TESTS_RANDOM_CMD_H

#include <stdint.h>
#include <string.h>

#include "core.h"
#include "routing_random.h"

static inline core_str walk_str(const char *s)
{
	return (core_str){ s, (uint32_t)strlen(s) };
}

typedef struct rng {
	uint64_t s;
} rng;

static inline uint64_t next(rng *r)
{
	r->s = r->s * 6364136223846793005ULL + 1442695040888963407ULL;
	return r->s >> 17;
}

static const char *skus[] = { "A", "B", "C", "D", "E" };
static const char *locs[] = { "W1", "W2", "W3", "a-store" };
static const char *keys[] = { "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8" };

/* A random command; "E" is rarely stocked, so lines often name it before
 * it exists. Strings are static or in ids/order. */
static inline void random_cmd(rng *g, core_cmd *cmd, core_line_req *lines, char ids[][32], int nids,
    const char *order_id)
{
	memset(cmd, 0, sizeof(*cmd));
	uint64_t x = next(g);
	int kind = (int)(x % 10);
	if (kind == 9 && (x >> 50) % 3 != 0)
		kind = 8; /* location.put now and then: it may disable where holds go */
	core_stock_cmd *s = &cmd->u.stock;
	core_resv_cmd *v = &cmd->u.resv;
	s->safety = s->if_version = -1;
	s->sku = walk_str(skus[next(g) % 40 == 0 ? 4 : (x >> 8) % 4]);
	s->location = walk_str(locs[(x >> 10) % 4]);
	const char *id = nids ? ids[(x >> 12) % (uint64_t)nids] : "r-0000000700000001";
	uint32_t n = 1 + (uint32_t)((x >> 14) % 3);
	for (uint32_t i = 0; i < n; i++)
		lines[i] = (core_line_req){ walk_str(skus[(i + (x >> 16)) % 5]), 1 + (int64_t)((x >> (20 + i)) % 3) };
	switch (kind) {
	case 0:
		cmd->type = CORE_CMD_STOCK_SET;
		s->on_hand = (int64_t)((x >> 24) % 12);
		if ((x >> 30) & 1)
			s->safety = (int64_t)((x >> 31) % 2);
		break;
	case 1:
		cmd->type = CORE_CMD_STOCK_ADJUST;
		s->delta = (int64_t)((x >> 24) % 9) - 3;
		if ((x >> 30) & 1)
			s->idempotency_key = walk_str(keys[(x >> 31) % 8]);
		if ((x >> 34) & 1)
			s->reason = walk_str("cycle count");
		if ((x >> 35) % 4 == 0) /* conditional: often a CONFLICT */
			s->if_version = (int64_t)((x >> 37) % 6);
		break;
	case 2:
		cmd->type = CORE_CMD_RESTOCK;
		s->delta = 1 + (int64_t)((x >> 24) % 3);
		break;
	case 3:
	case 4:
		cmd->type = CORE_CMD_RESERVE;
		cmd->u.reserve = (core_reserve_cmd){ .order_id = walk_str(order_id), .lines = lines, .nlines = n,
			.ttl_ms = (x >> 26) & 1 ? 200 + (int64_t)((x >> 27) % 3000) : -1,
			.allow_partial = (x >> 40) & 1 };
		if ((x >> 41) % 3 == 0)
			cmd->u.reserve.idempotency_key = walk_str(keys[(x >> 43) % 8]);
		if ((x >> 46) & 1)
			cmd->u.reserve.channel = walk_str("web");
		if ((x >> 45) & 1)
			cmd->u.reserve.customer_id = walk_str(routing_customers[(x >> 42) % 3]);
		uint64_t opts = next(g);
		if (opts & 1)
			routing_options(opts >> 1, &cmd->u.reserve);
		break;
	case 9: {
		static core_str chan_names[8];
		uint64_t y = next(g);
		memset(&cmd->u, 0, sizeof(cmd->u));
		if (y % 4 == 3) {
			cmd->type = (y >> 40) % 3 == 0 ? CORE_CMD_INBOUND_RECEIVE : CORE_CMD_INBOUND_ADD;
			random_inbound(y >> 2, &cmd->u.inbound, skus[(x >> 8) % 4], locs[(x >> 10) % 4]);
			if (cmd->type == CORE_CMD_INBOUND_RECEIVE) /* partial, whole and over-receipts */
				cmd->u.inbound.qty = 1 + (int64_t)((y >> 42) % 7);
		} else if (y % 3 == 0) {
			cmd->type = CORE_CMD_LOCATION_PUT;
			random_location(y >> 2, &cmd->u.location, locs[(x >> 10) % 4]);
		} else if (y % 3 == 1) {
			cmd->type = CORE_CMD_CHANNEL_PUT;
			random_channel(y >> 2, &cmd->u.channel, locs, 4, chan_names);
		} else {
			cmd->type = CORE_CMD_SKU_PUT;
			random_sku_put(y >> 2, &cmd->u.sku, skus[(x >> 8) % 4]);
		}
		break;
	}
	case 5:
		memset(&cmd->u, 0, sizeof(cmd->u)); /* the stock fields share the union */
		cmd->type = CORE_CMD_COMMIT;
		v->reservation_id = walk_str(id);
		break;
	case 6:
	case 7:
		memset(&cmd->u, 0, sizeof(cmd->u));
		cmd->type = kind == 6 ? CORE_CMD_RELEASE : CORE_CMD_FULFILL;
		v->reservation_id = walk_str(id);
		if ((x >> 30) & 1) {
			v->lines = lines;
			v->nlines = 1;
			lines[0].qty = 1;
		}
		break;
	default:
		memset(&cmd->u, 0, sizeof(cmd->u));
		cmd->type = CORE_CMD_EXTEND;
		v->reservation_id = walk_str(id);
		v->ttl_ms = 100 + (int64_t)((x >> 24) % 2000);
		break;
	}
}

#endif
