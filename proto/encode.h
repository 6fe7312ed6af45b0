/*
 * encode.h - the contract's result and error shapes in MessagePack.
 */
#ifndef ALLOT_PROTO_ENCODE_H
#define ALLOT_PROTO_ENCODE_H

#include "command.h"
#include "core.h"
#include "mp.h"

void encode_str(mp_buf *out, core_str s);
/* {sku, location, on_hand, incoming, reserved, committed, safety, available, oversold, version} */
void encode_record(mp_buf *out, const core_record_view *rec);
/* {reservation_id, order_id, status, expires_at, lines: [...]}; original
 * gives the reply reserve made (for idempotent retries). */
void encode_reservation(mp_buf *out, const core *c, const core_resv *r, bool original);
/* The same with room for an "explain" pair, which the caller writes next
 * (encode_explain) when explained. */
void encode_reservation_head(mp_buf *out, const core *c, const core_resv *r, bool original,
    bool explained);
/* {location, lat?, lon?, priority, cost, cost_per_km, capacity?, enabled,
 * tags, open_shipments} */
void encode_location(mp_buf *out, const core_location_view *l);
/* {channel, buffer, all_locations, locations?} (locations when not all) */
void encode_channel(mp_buf *out, const core *c, const core_channel *ch);
/* {sku, per_order, per_customer, low_stock}: 0 is none */
void encode_sku(mp_buf *out, const core_sku_view *s);
/* {sku, location, qty, eta, ref?, backordered} */
void encode_inbound(mp_buf *out, const core_inbound_view *v);
/* route.quote's result: {order_id, shipments, lines: [...], explain?} from
 * the core's last plan for r. */
void encode_quote(mp_buf *out, const core *c, const core_reserve_cmd *r);
/* The "explain" key and its map, from the core's last plan for r. */
void encode_explain(mp_buf *out, const core *c, const core_reserve_cmd *r);
/* An error map with extra pairs to follow (then the caller writes the nil
 * result). */
void encode_core_error_head(mp_buf *out, const core_error *err, uint32_t extra);
/* The error map {code, message, ...} of a core error, then nil result. */
void encode_core_error(mp_buf *out, const core_error *err);
/* The error map {code, message} then nil result. */
void encode_error(mp_buf *out, const char *code, const char *message);

/* ---- responses: [1, msgid, error, result] ---- */

/* [1, msgid, then the caller writes error and result. */
void encode_response_head(mp_buf *out, uint32_t msgid);
/* A whole error response [1, msgid, {code, message}, nil]. */
void encode_error_response(mp_buf *out, uint32_t msgid, const char *code, const char *message);

/* ---- reads ---- */

/* encode_record in the shape of core_stock_get's callback (out: mp_buf). */
void encode_record_item(void *out, const core_record_view *rec);
/* One sku of avail's map: sku => {total, locations, incoming}. */
void encode_avail_sku(mp_buf *out, const core *c, core_str sku, core_str location,
    const core_channel *ch);
/* [location, ...] */
void encode_location_list(mp_buf *out, const core *c);
/* avail with at: sku => {total, locations, at, incoming}, available to
 * promise at at_ms (core_avail_at). */
void encode_avail_sku_at(mp_buf *out, const core *c, core_str sku, core_str location,
    const core_channel *ch, int64_t at_ms);
/* encode_inbound in the shape of core_inbound_list's callback (out: mp_buf). */
void encode_inbound_item(void *out, const core_inbound_view *v);
/* inbound.receive's result: {record, filled: [{reservation_id, qty}]}. */
void encode_receipt(mp_buf *out, const core *c, const core_result *res);

/* ---- operations ---- */

/* Requests and errors of one token NAME ("-": without a token). */
typedef struct proto_who_stats {
	core_str name;
	uint64_t requests;
	uint64_t errors;
} proto_who_stats;

/* stats' "access": how callers are known, and what each name did. */
typedef struct proto_access_stats {
	bool tokens;                     /* an auth file is in force */
	uint32_t ntokens;
	uint64_t auth_failures;          /* auth calls with a wrong token */
	uint64_t closed_for_auth;        /* connections closed after too many */
	const proto_who_stats *anonymous; /* "-" */
	const proto_who_stats *names;    /* the auth file's, nnames of them */
	uint32_t nnames;
} proto_access_stats;

/* Server-wide figures for `stats`, filled by the engine. */
typedef struct proto_server_stats {
	const char *version;
	int64_t uptime_ms;
	uint64_t connections_current;
	uint64_t connections_total;
	uint64_t connections_rejected;
	uint64_t connections_idle_closed;  /* idle past --idle-timeout-s */
	uint64_t connections_frame_timeouts; /* a frame unfinished in time */
	uint64_t connections_budget_stops;   /* stopped at the frame budget */
	uint64_t requests_total;
	uint64_t errors_total;
	const uint64_t *requests_by_cmd; /* CMD_COUNT of them */
	uint64_t memory_allocated;       /* bytes, from the allocator */
	uint64_t memory_resident;
	uint64_t loop_busy_max_us;       /* the longest loop turn */
	proto_access_stats access;
} proto_server_stats;

/* stats' map, ending with the key "durability": the caller writes its
 * value (a map) next. */
void encode_stats(mp_buf *out, const core_stats *cs, const proto_server_stats *s);
/* durability's value when there is none: {mode}. */
void encode_durability_none(mp_buf *out, const char *mode);

/* What the snapshot method answers once the snapshot is durable. */
typedef struct proto_snapshot_result {
	uint64_t lsn;
	int64_t taken_at_ms;
	uint64_t bytes;
	uint32_t chunks;
	uint64_t duration_ms;
	uint64_t fork_us;
} proto_snapshot_result;

void encode_snapshot_result(mp_buf *out, const proto_snapshot_result *r);

#endif
