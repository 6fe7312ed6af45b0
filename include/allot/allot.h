/*
 * allot/allot.h - liballot, the C client library of allotd.
 *
 * Modelled on hiredis: a context is one connection (TCP or a Unix socket);
 * calls block for at most the context's timeout; replies are small trees of
 * typed values the caller frees. Link with `pkg-config --cflags --libs
 * allot`. Nothing here is thread-safe: use one context per thread.
 *
 *     allot_ctx *c = allot_connect("127.0.0.1", 7411, 2000);
 *     if (c == NULL || allot_err(c) != 0) { ...allot_errstr(c)...; }
 *     allot_line line = { "tee-m", 1 };
 *     allot_reply *r = NULL;
 *     int rc = allot_reserve(c, "order-1", &line, 1, 0, &r);
 *     if (rc == 0)
 *         puts(allot_value_str(allot_value_get(allot_reply_result(r),
 *             "reservation_id"), NULL));
 *     else if (rc == ALLOT_E_SERVER)
 *         printf("%s\n", allot_reply_error_code(r)); // e.g. "OUT_OF_STOCK"
 *     allot_reply_free(r);
 *     allot_free(c);
 *
 * Statuses. Every function that can fail returns 0 (ALLOT_OK) or a
 * negative ALLOT_E_* status, and the context keeps the last failure:
 * allot_err() and allot_errstr(). ALLOT_E_SERVER means the transport worked
 * and allotd answered with an error map ({code, message, ...} as
 * proto/PROTOCOL.md says): the reply is handed back all the same, and
 * allot_reply_error_code() gives the code as a string of the contract
 * ("OUT_OF_STOCK", see allot/protocol.h), allot_reply_error() the whole map
 * with its data (e.g. OUT_OF_STOCK's `lines`). Rule: a function taking
 * `allot_reply **out` sets *out (the caller frees it with
 * allot_reply_free()) exactly when it returns 0 or ALLOT_E_SERVER, and sets
 * it to NULL otherwise; out may be NULL when the caller wants only the
 * status. After ALLOT_E_IO, ALLOT_E_CLOSED or ALLOT_E_PROTOCOL the
 * connection is unusable; make a new context (a timeout leaves it usable
 * unless a request went out only in part).
 *
 * Pipelining: allot_append*() queue requests in the context's output
 * buffer without waiting; allot_get_reply() sends what is queued and reads
 * the next response. Responses come in request order. While the library
 * sends, it also reads what has arrived, so a long pipeline cannot deadlock
 * against the server's own output limit; still, queue a bounded window
 * (say 1000 requests) before reading their replies, as memory is spent on
 * both sides.
 *
 * Params. A call takes its named arguments as one MessagePack map built
 * with an allot_builder (allot_call(), allot_append()), or the raw
 * MessagePack of the whole params array as it goes on the wire
 * (allot_call_raw(), allot_append_raw()); NULL sends [] (no arguments).
 */
#ifndef ALLOT_ALLOT_H
#define ALLOT_ALLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "allot/protocol.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define ALLOT_API __attribute__((visibility("default")))
#else
#define ALLOT_API
#endif

/* The library's version; its soname changes with the major number. */
#define ALLOT_LIB_VERSION_MAJOR 1
#define ALLOT_LIB_VERSION_MINOR 0
#define ALLOT_LIB_VERSION_PATCH 0
/* "1.0.0": the version of the library actually linked. */
ALLOT_API const char *allot_version(void);

/* ---- statuses ---- */

enum allot_status {
	ALLOT_OK = 0,
	ALLOT_E_ARG = -1,       /* a bad argument (no method, bad params, ...) */
	ALLOT_E_NOMEM = -2,
	ALLOT_E_CONNECT = -3,   /* could not resolve or connect */
	ALLOT_E_IO = -4,        /* the socket failed (reset, ...) */
	ALLOT_E_TIMEOUT = -5,   /* the timeout passed first */
	ALLOT_E_CLOSED = -6,    /* the server closed the connection */
	ALLOT_E_PROTOCOL = -7,  /* not msgpack-rpc from the server, or a reply
	                           over the reply limit */
	ALLOT_E_AUTH = -8,      /* allot_auth(): the server refused the token */
	ALLOT_E_SERVER = -9,    /* a response carrying an error map */
	ALLOT_E_TYPE = -10,     /* an accessor: the value is of another type or
	                           out of the target's range */
};

/* A short English description of a status ("timed out", ...). */
ALLOT_API const char *allot_strerror(int status);

/* ---- values: a reply's tree ---- */

typedef enum allot_type {
	ALLOT_T_NONE = 0, /* no value: what the accessors say of NULL */
	ALLOT_T_NIL,
	ALLOT_T_BOOL,
	ALLOT_T_INT,      /* a negative integer */
	ALLOT_T_UINT,     /* an integer >= 0 */
	ALLOT_T_FLOAT,    /* float32 or float64, as a double */
	ALLOT_T_STR,
	ALLOT_T_BIN,
	ALLOT_T_ARRAY,
	ALLOT_T_MAP,
	ALLOT_T_EXT,      /* MessagePack ext: bytes and a type number */
} allot_type;

/*
 * One value of a reply. Values belong to their reply and stay valid until
 * allot_reply_free(). Every accessor accepts NULL (a missing value), so
 * lookups chain: allot_value_get(allot_value_get(r, "a"), "b").
 */
typedef struct allot_value allot_value;

ALLOT_API allot_type allot_value_type(const allot_value *v);
/* "nil", "bool", "int", ... ("none" for ALLOT_T_NONE). */
ALLOT_API const char *allot_type_name(allot_type t);

/* Scalars: 0, or ALLOT_E_TYPE leaving *out alone when v is not of the
 * type or its value does not fit. allot_value_int() takes any integer in
 * int64_t range, allot_value_uint() any integer >= 0, allot_value_float()
 * a float or any integer. */
ALLOT_API int allot_value_bool(const allot_value *v, bool *out);
ALLOT_API int allot_value_int(const allot_value *v, int64_t *out);
ALLOT_API int allot_value_uint(const allot_value *v, uint64_t *out);
ALLOT_API int allot_value_float(const allot_value *v, double *out);

/* The bytes of a str, bin or ext, NUL-terminated (a NUL may also occur
 * inside: use *len), or NULL for other types. len may be NULL. */
ALLOT_API const char *allot_value_str(const allot_value *v, size_t *len);
/* An ext's type number (0 for other types). */
ALLOT_API int8_t allot_value_ext_type(const allot_value *v);

/* Elements of an array, pairs of a map (0 for other types). */
ALLOT_API size_t allot_value_len(const allot_value *v);
/* Element i of an array, or NULL (not an array, or out of range). */
ALLOT_API const allot_value *allot_value_at(const allot_value *v, size_t i);
/* The key and the value of pair i of a map, in the order received, or NULL. */
ALLOT_API const allot_value *allot_value_key_at(const allot_value *v, size_t i);
ALLOT_API const allot_value *allot_value_val_at(const allot_value *v, size_t i);
/* The value under a str (or bin) key of a map, the first if repeated; NULL
 * when v is not a map or has no such key. */
ALLOT_API const allot_value *allot_value_get(const allot_value *v,
    const char *key);

/* ---- replies ---- */

typedef enum allot_reply_type {
	ALLOT_REPLY_RESPONSE = 1,     /* [1, msgid, error, result] */
	ALLOT_REPLY_NOTIFICATION = 2, /* [2, method, params] */
} allot_reply_type;

/* One message from the server, owning its values. */
typedef struct allot_reply allot_reply;

ALLOT_API allot_reply_type allot_reply_kind(const allot_reply *r);
/* A response's msgid (0 for the one the server sends before closing a
 * stream it could not decode). */
ALLOT_API uint32_t allot_reply_msgid(const allot_reply *r);
/* A response's result (nil when it carries an error). */
ALLOT_API const allot_value *allot_reply_result(const allot_reply *r);
/* A response's error: nil on success, else the map {code, message, ...}. */
ALLOT_API const allot_value *allot_reply_error(const allot_reply *r);
/* The error's code ("OUT_OF_STOCK") and message, or NULL on success (or
 * when the error map lacks a string code or message). */
ALLOT_API const char *allot_reply_error_code(const allot_reply *r);
ALLOT_API const char *allot_reply_error_message(const allot_reply *r);
/* A notification's method ("event") and params (an array). */
ALLOT_API const char *allot_reply_method(const allot_reply *r);
ALLOT_API const allot_value *allot_reply_params(const allot_reply *r);
/* The whole message as it arrived: its MessagePack bytes, for a caller
 * with a decoder of its own (valid until allot_reply_free()). */
ALLOT_API const void *allot_reply_raw(const allot_reply *r, size_t *len);
/*
 * Decode one whole message, msg[0..len), that the caller read some other
 * way (its own event loop, say) into *out. Returns 0, ALLOT_E_PROTOCOL
 * when the bytes are not exactly one msgpack-rpc response or notification
 * (or nest deeper than 64 levels), or ALLOT_E_NOMEM.
 */
ALLOT_API int allot_reply_parse(const void *msg, size_t len, allot_reply **out);
/* Free r and its values. Accepts NULL. */
ALLOT_API void allot_reply_free(allot_reply *r);

/* ---- building params ---- */

/*
 * A MessagePack value built from the front: a container's header says how
 * many elements (a map: pairs, each a key then a value) follow. Failure is
 * sticky: after running out of memory every put is a no-op and
 * allot_builder_status() says ALLOT_E_NOMEM, so a caller checks once. A
 * call refuses (ALLOT_E_ARG) a builder that does not hold exactly one whole
 * value.
 *
 *     allot_builder *b = allot_builder_create();
 *     allot_put_map(b, 2);
 *     allot_put_str(b, "sku");  allot_put_str(b, "tee-m");
 *     allot_put_str(b, "skus"); allot_put_array(b, 1); allot_put_str(b, "x");
 *     rc = allot_call(c, "stock.get", b, &r);
 *     allot_builder_reset(b);  // build the next one
 */
typedef struct allot_builder allot_builder;

ALLOT_API allot_builder *allot_builder_create(void); /* NULL: out of memory */
ALLOT_API void allot_builder_destroy(allot_builder *b); /* accepts NULL */
/* Empty b (keeping its memory) to build another value. */
ALLOT_API void allot_builder_reset(allot_builder *b);
/* 0, or ALLOT_E_NOMEM once a put ran out of memory. */
ALLOT_API int allot_builder_status(const allot_builder *b);
/* The bytes built so far (valid until the next put, reset or destroy). */
ALLOT_API const void *allot_builder_data(const allot_builder *b, size_t *len);

ALLOT_API void allot_put_nil(allot_builder *b);
ALLOT_API void allot_put_bool(allot_builder *b, bool v);
ALLOT_API void allot_put_int(allot_builder *b, int64_t v);
ALLOT_API void allot_put_uint(allot_builder *b, uint64_t v);
ALLOT_API void allot_put_float(allot_builder *b, double v); /* float64 */
ALLOT_API void allot_put_str(allot_builder *b, const char *s); /* NUL-terminated */
ALLOT_API void allot_put_strn(allot_builder *b, const char *s, size_t len);
ALLOT_API void allot_put_bin(allot_builder *b, const void *p, size_t len);
ALLOT_API void allot_put_array(allot_builder *b, uint32_t n);
ALLOT_API void allot_put_map(allot_builder *b, uint32_t n);
/* Bytes that already are MessagePack, copied as they are. */
ALLOT_API void allot_put_raw(allot_builder *b, const void *p, size_t len);

/* ---- connecting ---- */

typedef struct allot_ctx allot_ctx;

/*
 * Connect to host:port (host NULL: ALLOT_DEFAULT_HOST; a name or a numeric
 * IPv4 or IPv6 address; a host containing '/' is the path of a Unix socket,
 * as allot_connect_unix(), and port is then ignored). timeout_ms > 0 bounds the connect and, later, each
 * call (send and wait for the response) and each allot_get_reply();
 * timeout_ms <= 0 waits forever. Name resolution itself is not bounded.
 *
 * Returns a context, or NULL only when out of memory. When the connection
 * failed, allot_err() is negative and allot_errstr() says why; free the
 * context with allot_free() either way.
 */
ALLOT_API allot_ctx *allot_connect(const char *host, int port, int timeout_ms);
/* The same over the Unix socket at path (allotd --unix). */
ALLOT_API allot_ctx *allot_connect_unix(const char *path, int timeout_ms);
/* Close the connection and free c and what it holds. Accepts NULL. */
ALLOT_API void allot_free(allot_ctx *c);

/* The last failure's status (0 if none yet) and its one-line message
 * ("" if none); the message stays valid until the next call on c. */
ALLOT_API int allot_err(const allot_ctx *c);
ALLOT_API const char *allot_errstr(const allot_ctx *c);

/* Change the timeout of later operations (<= 0: wait forever). */
ALLOT_API void allot_set_timeout(allot_ctx *c, int timeout_ms);
/* The cap on one incoming message's encoded size; 0 restores the default. */
#define ALLOT_REPLY_BYTES_MAX_DEFAULT ((size_t)64 << 20)
ALLOT_API void allot_set_reply_limit(allot_ctx *c, size_t bytes);
/* The connected socket (-1 if none), e.g. to poll() for notifications. */
ALLOT_API int allot_fd(const allot_ctx *c);

/*
 * Notifications ([2, "event", [...]] after subscribe) that arrive while a
 * call or allot_get_reply() waits for a response go to fn, or are dropped
 * without one. The reply is freed after fn returns.
 */
typedef void allot_notify_fn(const allot_reply *notification, void *ud);
ALLOT_API void allot_set_notify(allot_ctx *c, allot_notify_fn *fn, void *ud);

/* ---- synchronous calls ---- */

/*
 * Send method with args (a builder holding one map of named arguments, sent
 * as [map]; NULL: []) and wait for its response (see "Statuses" above).
 * Responses to earlier requests still unread (pipelined, or left by a
 * timeout) are read and dropped first; a response with msgid 0 (the server
 * could not decode what it got) is returned as the answer.
 */
ALLOT_API int allot_call(allot_ctx *c, const char *method,
    const allot_builder *args, allot_reply **out);
/* The same with params, the encoded params array exactly as it goes on the
 * wire (it must be one whole MessagePack value; NULL: []). */
ALLOT_API int allot_call_raw(allot_ctx *c, const char *method,
    const void *params, size_t params_len, allot_reply **out);

/* ---- pipelining ---- */

/*
 * Queue a request in c's output buffer without sending it; *msgid (may be
 * NULL) gets the msgid the library chose (never 0). allot_flush() or
 * allot_get_reply() sends it.
 */
ALLOT_API int allot_append(allot_ctx *c, const char *method,
    const allot_builder *args, uint32_t *msgid);
ALLOT_API int allot_append_raw(allot_ctx *c, const char *method,
    const void *params, size_t params_len, uint32_t *msgid);
/* Send everything queued (reading what arrives meanwhile). */
ALLOT_API int allot_flush(allot_ctx *c);
/* How many queued or sent requests have no response read yet. */
ALLOT_API size_t allot_pending(const allot_ctx *c);
/*
 * Send what is queued, then read the next response, in request order
 * (notifications met on the way go to the notify handler). Returns as
 * allot_call() does.
 */
ALLOT_API int allot_get_reply(allot_ctx *c, allot_reply **out);
/*
 * Read the next message of either kind, responses and notifications alike
 * (allot watch). Returns 0 with *out set, or a failure; ALLOT_E_TIMEOUT
 * when nothing whole arrived in time (what did arrive is kept).
 */
ALLOT_API int allot_get_message(allot_ctx *c, allot_reply **out);
/* Send bytes as they are (tests of malformed input). */
ALLOT_API int allot_send_raw(allot_ctx *c, const void *buf, size_t len);

/* ---- typed helpers (synchronous; out as allot_call's) ---- */

/* One line of an order. */
typedef struct allot_line {
	const char *sku;
	int64_t qty;
} allot_line;

/* ping: 0 when the server answered "pong". */
ALLOT_API int allot_ping(allot_ctx *c);
/* auth {token}: 0 with the role granted ("read", "checkout", "admin")
 * copied into role (may be NULL), ALLOT_E_AUTH when refused. The token is
 * wiped from the library's buffers after sending. */
ALLOT_API int allot_auth(allot_ctx *c, const char *token, char *role,
    size_t role_len);
/* reserve {order_id, lines, ttl_ms?}: ttl_ms <= 0 leaves the server's
 * default. Further options (channel, idempotency_key, ...): allot_call(). */
ALLOT_API int allot_reserve(allot_ctx *c, const char *order_id,
    const allot_line *lines, size_t n_lines, int64_t ttl_ms,
    allot_reply **out);
/* commit {reservation_id}, release {reservation_id} (the whole hold). */
ALLOT_API int allot_commit(allot_ctx *c, const char *reservation_id,
    allot_reply **out);
ALLOT_API int allot_release(allot_ctx *c, const char *reservation_id,
    allot_reply **out);
/* avail {skus}: up to ALLOT_DEFAULT_AVAIL_SKUS_MAX skus. */
ALLOT_API int allot_avail(allot_ctx *c, const char *const *skus,
    size_t n_skus, allot_reply **out);
/* stock.set {sku, location, on_hand, safety?}: safety < 0 is not sent. */
ALLOT_API int allot_stock_set(allot_ctx *c, const char *sku,
    const char *location, int64_t on_hand, int64_t safety,
    allot_reply **out);
/* stock.set queued for pipelining (bulk loads), as allot_append(). */
ALLOT_API int allot_append_stock_set(allot_ctx *c, const char *sku,
    const char *location, int64_t on_hand, int64_t safety, uint32_t *msgid);

#ifdef __cplusplus
}
#endif

#endif
