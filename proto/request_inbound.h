/*
 * request_inbound.h - the params of inbound.receive and inbound.list, for
 * request.c's table of decoders (request_inbound.c).
 */
#ifndef ALLOT_PROTO_REQUEST_INBOUND_H
#define ALLOT_PROTO_REQUEST_INBOUND_H

#include "params.h"
#include "request.h"

/* inbound.receive {sku, location, qty, ref?} into req->u.change. */
/* inbound.add's params (eta required) or inbound.receive's (no eta). */
int proto_parse_inbound(params *p, core_inbound_cmd *in, bool eta);
int proto_decode_inbound_receive(proto_decoder *d, params *p, proto_request *req);
/* inbound.list {sku?} into req->u.inbound_list. */
int proto_decode_inbound_list(proto_decoder *d, params *p, proto_request *req);

#endif
