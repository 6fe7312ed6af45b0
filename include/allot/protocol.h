/*
 * allot/protocol.h - the constants of allot's wire contract (version 1).
 *
 * MessagePack-RPC over TCP: request [0, msgid, method, [params]], response
 * [1, msgid, error, result], notification [2, method, [params]].
 * See proto/PROTOCOL.md for every method.
 */
#ifndef ALLOT_PROTOCOL_H
#define ALLOT_PROTOCOL_H

#define ALLOT_PROTOCOL_VERSION 1
#define ALLOT_DEFAULT_HOST "127.0.0.1"
#define ALLOT_DEFAULT_PORT 7411

#define ALLOT_MSG_REQUEST 0
#define ALLOT_MSG_RESPONSE 1
#define ALLOT_MSG_NOTIFICATION 2

/* Error codes, as they appear in error.code. */
#define ALLOT_ERR_BAD_REQUEST "BAD_REQUEST"
#define ALLOT_ERR_UNKNOWN_METHOD "UNKNOWN_METHOD"
#define ALLOT_ERR_NOT_FOUND "NOT_FOUND"
#define ALLOT_ERR_OUT_OF_STOCK "OUT_OF_STOCK"
#define ALLOT_ERR_CONFLICT "CONFLICT"
#define ALLOT_ERR_INVALID_STATE "INVALID_STATE"
#define ALLOT_ERR_LIMIT_EXCEEDED "LIMIT_EXCEEDED"
#define ALLOT_ERR_UNAUTHORIZED "UNAUTHORIZED"
#define ALLOT_ERR_FORBIDDEN "FORBIDDEN"
#define ALLOT_ERR_TOO_LARGE "TOO_LARGE"
#define ALLOT_ERR_BUSY "BUSY"
#define ALLOT_ERR_UNAVAILABLE "UNAVAILABLE"

/* Model bounds fixed by the contract. */
#define ALLOT_NAME_BYTES_MAX 64     /* sku, location */
#define ALLOT_CHANNEL_BYTES_MAX 32
#define ALLOT_QTY_MAX 2147483647LL  /* 2^31 - 1 */

/* Defaults of the configurable limits (allotd --help lists the flags). */
#define ALLOT_DEFAULT_TTL_MS 900000LL       /* 15 minutes */
#define ALLOT_DEFAULT_TTL_MAX_MS 86400000LL /* 24 hours */
#define ALLOT_DEFAULT_LINES_MAX 100
#define ALLOT_DEFAULT_AVAIL_SKUS_MAX 1000
#define ALLOT_DEFAULT_MAX_CONNECTIONS 10000
#define ALLOT_DEFAULT_FRAME_BYTES_MAX (1u << 20)      /* 1 MiB */
#define ALLOT_DEFAULT_OUTPUT_BYTES_MAX (16u << 20)    /* per connection */
#define ALLOT_DEFAULT_SUBSCRIBER_BYTES_MAX (4u << 20) /* events unread by a subscriber */
#define ALLOT_DEFAULT_EVENTS_KEEP 1000000ULL          /* entries of the event stream */

/* stock.scan: records per page, at most and when count is not given
 * (tied to the core's by _Static_assert in proto/scan.c). */
#define ALLOT_SCAN_COUNT_MAX 10000
#define ALLOT_SCAN_COUNT_DEFAULT 1000

/* Access and fair service (SECURITY.md lists every limit). */
#define ALLOT_AUTH_FAILURES_MAX 5               /* wrong tokens before a close */
#define ALLOT_DEFAULT_IDLE_TIMEOUT_S 0          /* 0: idle connections stay */
#define ALLOT_DEFAULT_FRAME_TIMEOUT_MS 10000    /* to finish a begun request */
#define ALLOT_DEFAULT_FRAMES_PER_TURN 64        /* per connection per loop turn */

#endif
