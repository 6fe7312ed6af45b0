/*
 * request_inbound.c - the params of inbound.receive and inbound.list (see
 * request_inbound.h). Types are checked here, ranges by the core.
 */
#include "request_inbound.h"

/* inbound.add's params, and inbound.receive's (which have no eta: an eta
 * key there is skipped, as any unknown key). */
int proto_parse_inbound(params *p, core_inbound_cmd *in, bool eta)
{
	bool has_qty = false, has_eta = false;
	core_str key;
	*in = (core_inbound_cmd){ 0 };
	while (params_next(p, &key)) {
		int rc = 0;
		if (key_is(key, "sku")) {
			rc = params_str(p, "sku", &in->sku);
		} else if (key_is(key, "location")) {
			rc = params_str(p, "location", &in->location);
		} else if (key_is(key, "qty")) {
			has_qty = mp_peek(&p->cur) != MP_T_NIL;
			rc = params_int(p, "qty", &in->qty);
		} else if (eta && key_is(key, "eta")) {
			has_eta = mp_peek(&p->cur) != MP_T_NIL;
			rc = params_int(p, "eta", &in->eta_ms);
		} else if (key_is(key, "ref")) {
			rc = params_str(p, "ref", &in->ref);
		} else {
			params_skip(p);
		}
		if (rc)
			return -1;
	}
	const char *missing = in->sku.p == NULL ? "sku" : in->location.p == NULL ? "location"
	    : !has_qty ? "qty" : eta && !has_eta ? "eta" : NULL;
	return missing ? params_missing(p, missing) : 0;
}

int proto_decode_inbound_receive(proto_decoder *d, params *p, proto_request *req)
{
	req->u.change.type = CORE_CMD_INBOUND_RECEIVE;
	return proto_parse_inbound(p, &req->u.change.u.inbound, false);
}

int proto_decode_inbound_list(proto_decoder *d, params *p, proto_request *req)
{
	core_str key;
	req->u.inbound_list.sku = (core_str){ NULL, 0 };
	while (params_next(p, &key)) {
		if (!key_is(key, "sku"))
			params_skip(p);
		else if (params_str(p, "sku", &req->u.inbound_list.sku))
			return -1;
	}
	core_str sku = req->u.inbound_list.sku;
	if (sku.p && !core_name_valid(sku, CORE_NAME_MAX))
		return params_fail(p, CORE_E_BAD_REQUEST,
		    "sku: must be 1 to %d bytes without control characters", CORE_NAME_MAX);
	return 0;
}
