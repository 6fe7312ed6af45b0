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
/* The error map {code, message, ...} of a core error, then nil result. */
void encode_core_error(mp_buf *out, const core_error *err);
/* The error map {code, message} then nil result. */
void encode_error(mp_buf *out, const char *code, const char *message);

#endif
