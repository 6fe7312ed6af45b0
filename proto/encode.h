/*
 * encode.h - the contract's result and error shapes in MessagePack.
 */
#ifndef ALLOT_PROTO_ENCODE_H
#define ALLOT_PROTO_ENCODE_H

#include "core.h"
#include "mp.h"

void encode_str(mp_buf *out, core_str s);
/* {sku, location, on_hand, reserved, committed, safety, available, oversold, version} */
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

#endif
