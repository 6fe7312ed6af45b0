/*
 * request.h - a msgpack-rpc message decoded into a typed request.
 *
 * proto_decode() reads one complete MessagePack value (already cut off the
 * stream by the scanner, mp.h): the envelope [0, msgid, method, params],
 * the method's name against the command table, and the method's params into
 * the typed form the dispatch acts on. It runs nothing and keeps nothing
 * between calls but its scratch arrays; strings in the request point into
 * the frame, so a request is valid only while its frame is.
 */
#ifndef ALLOT_PROTO_REQUEST_H
#define ALLOT_PROTO_REQUEST_H

#include "command.h"
#include "core.h"
#include "event.h"
#include "mp.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* stock.get {sku, location?} */
typedef struct proto_stock_query {
	core_str sku;
	core_str location; /* {NULL, 0}: every location */
} proto_stock_query;

/* avail {skus, location?, channel?, at?}; skus sorted, repeats dropped. */
typedef struct proto_avail_query {
	const core_str *skus;
	uint32_t nskus;
	core_str location;
	core_str channel;
	bool has_at;
	int64_t at_ms;     /* available to promise at this time */
} proto_avail_query;

/* inbound.list {sku?} */
typedef struct proto_inbound_query {
	core_str sku;      /* {NULL, 0}: every sku */
} proto_inbound_query;

typedef struct proto_request {
	uint32_t msgid;
	const cmd_def *cmd;
	bool params;          /* a params map came; params_at is on it */
	mp_cursor params_at;
	union {
		core_cmd change;            /* every CMD_MUTATES method */
		core_reserve_cmd quote;     /* route.quote */
		proto_stock_query stock;    /* stock.get */
		core_scan_cmd scan;         /* stock.scan */
		proto_avail_query avail;    /* avail */
		proto_inbound_query inbound_list; /* inbound.list */
		core_str reservation_id;    /* reservation.get */
		core_str token;             /* auth */
		proto_subscribe subscribe;  /* subscribe */
	} u;
	core_str tags[CORE_TAGS_MAX];       /* location.put's tags point here */
} proto_request;

/* What proto_decode() found. */
typedef enum proto_decoded {
	PROTO_REQUEST,  /* *req is a request to act on */
	PROTO_IGNORED,  /* a notification or a stray response: no reply */
	PROTO_REFUSED,  /* answer with the refusal's error (proto_refusal) */
} proto_decoded;

/* Why a message was refused, and the msgid to answer (0 when unknown). */
typedef struct proto_refusal {
	uint32_t msgid;
	const cmd_def *cmd; /* NULL: the method was not known */
	const char *code;   /* an ALLOT_ERR_* string */
	int core_code;      /* the CORE_E_* / PROTO_E_* code it stands for */
	char message[200];
} proto_refusal;

/* Limits the decoder applies on top of the MessagePack scanner's. */
typedef struct proto_limits {
	uint32_t lines_max;      /* lines per order: the core's lines_max */
	uint32_t avail_skus_max; /* skus per avail call */
	uint32_t locations_max;  /* locations per channel: the core's */
	int64_t ttl_max_ms;      /* only to word the ttl_ms error */
} proto_limits;

/* The decoder's scratch: lines, skus and names of the request being read. */
typedef struct proto_decoder {
	proto_limits limits;
	core_line_req *lines;
	core_str *skus;
	core_str *names;
} proto_decoder;

/* 0, or -1 without memory. */
int proto_decoder_init(proto_decoder *d, const proto_limits *limits);
void proto_decoder_finish(proto_decoder *d);

/*
 * Decode one complete MessagePack value as a msgpack-rpc message: the
 * envelope and the method, not yet its params. On PROTO_REQUEST req->cmd is
 * the method (valid, as every string in req, while the frame's bytes are);
 * on PROTO_REFUSED *why says what to answer.
 */
proto_decoded proto_decode(proto_decoder *d, const uint8_t *frame, size_t len,
    proto_request *req, proto_refusal *why);

/*
 * The msgid of the request at the front of buf[0..len), a frame that may be
 * cut short or refused (over a limit, not MessagePack further on): read
 * from [0, msgid, ...] when those first elements are whole and readable,
 * else 0. Lets a refusal of the whole stream still answer the pending call.
 */
uint32_t proto_peek_msgid(const uint8_t *buf, size_t len);

/* subscribe's decoder (event.c), in request.c's table. */
struct params;
int proto_decode_subscribe(proto_decoder *d, struct params *p, proto_request *req);

/* The params of a request proto_decode() accepted, into req->u. 0, or -1
 * with *why filled (BAD_REQUEST, TOO_LARGE). */
int proto_decode_params(proto_decoder *d, proto_request *req, proto_refusal *why);

#endif
