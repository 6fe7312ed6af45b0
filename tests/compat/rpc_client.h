/*
 * rpc_client.h - the tests' client: msgpack-c objects and jansson values
 * over liballot (allot/allot.h).
 *
 * The integration and unit tests inspect replies as msgpack_object trees
 * and build odd requests with msgpack-c; this adapter keeps that interface
 * for them while every byte goes through liballot's connection, framing and
 * reader, so the suites exercise the installed library's code. Replies are
 * decoded by msgpack-c from the raw bytes liballot hands back
 * (allot_reply_raw()); JSON goes through the CLI's converter (tools/
 * cli_json.h). Statuses are liballot's (ALLOT_CLIENT_ERR_X == ALLOT_E_X).
 *
 * One allot_client is one liballot context. Functions that can fail return
 * 0 or a negative status and, when err is not NULL, write a one-line
 * message into err[0..err_len).
 */
#ifndef ALLOT_TESTS_RPC_CLIENT_H
#define ALLOT_TESTS_RPC_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <msgpack.h>

#include "allot/allot.h"
#include "cli_json.h"

typedef struct allot_client allot_client;

enum allot_client_status {
	ALLOT_CLIENT_OK = ALLOT_OK,
	ALLOT_CLIENT_ERR_ARG = ALLOT_E_ARG,
	ALLOT_CLIENT_ERR_NOMEM = ALLOT_E_NOMEM,
	ALLOT_CLIENT_ERR_CONNECT = ALLOT_E_CONNECT,
	ALLOT_CLIENT_ERR_IO = ALLOT_E_IO,
	ALLOT_CLIENT_ERR_TIMEOUT = ALLOT_E_TIMEOUT,
	ALLOT_CLIENT_ERR_CLOSED = ALLOT_E_CLOSED,
	ALLOT_CLIENT_ERR_PROTOCOL = ALLOT_E_PROTOCOL,
	ALLOT_CLIENT_ERR_AUTH = ALLOT_E_AUTH,
};

/* The default cap on the encoded size of one message from the server. */
#define ALLOT_CLIENT_REPLY_BYTES_MAX ALLOT_REPLY_BYTES_MAX_DEFAULT

/*
 * One message read from the server: a response ([1, msgid, error, result])
 * or a notification ([2, method, params]). The msgpack_object fields point
 * into memory the message owns; fields that do not apply to its type are
 * nil.
 */
typedef struct allot_message {
	int type;              /* ALLOT_MSG_RESPONSE or ALLOT_MSG_NOTIFICATION */
	uint32_t msgid;        /* responses */
	msgpack_object error;  /* responses: nil on success, else a map */
	msgpack_object result; /* responses: nil when error is not */
	msgpack_object method; /* notifications: str or bin */
	msgpack_object params; /* notifications */
	msgpack_object root;   /* the whole message */
	size_t size;           /* its encoded size in bytes */

	/* Private: the storage the objects above point into. */
	msgpack_unpacked unpacked_;
	allot_reply *reply_;
} allot_message;

/* Make m empty. Call once before the first use. */
void allot_message_init(allot_message *m);

/* Free what m holds and make it empty again; m may be reused after. */
void allot_message_clear(allot_message *m);

/*
 * Connect to host:port. host may be a name or a numeric address (NULL means
 * ALLOT_DEFAULT_HOST); a host containing '/' is taken as the path of a Unix
 * socket and port is ignored. timeout_ms > 0 bounds the connect and, later,
 * each send, recv and call; timeout_ms <= 0 waits forever. (Name resolution
 * itself is not bounded.) Returns NULL and fills err on failure.
 */
allot_client *allot_client_connect(const char *host, int port, int timeout_ms,
    char *err, size_t err_len);

/* Close the connection and free c. Accepts NULL. */
void allot_client_destroy(allot_client *c);

/* Change the timeout of later operations; <= 0 waits forever. */
void allot_client_set_timeout(allot_client *c, int timeout_ms);

/* Change the cap on one incoming message's encoded size (0: the default). */
void allot_client_set_reply_limit(allot_client *c, size_t bytes);

/* The connected socket, for tests that need to poke at it. */
int allot_client_fd(const allot_client *c);

/*
 * Called for each notification that arrives while allot_client_call() waits
 * for its response; without a handler such notifications are dropped.
 */
typedef void allot_client_notify_fn(const allot_message *notification, void *ud);
void allot_client_set_notify_handler(allot_client *c, allot_client_notify_fn *fn,
    void *ud);

/*
 * Send the request [0, msgid, method, params] without waiting for its
 * response; the client picks msgid (never 0, which the server uses for
 * replies to undecodable input) and stores it in *msgid_out if not NULL.
 * params/params_len is the complete MessagePack encoding of the params
 * value, normally an array holding one map; NULL sends [] (no arguments).
 * It must be exactly one well-formed value, or ALLOT_CLIENT_ERR_ARG.
 */
int allot_client_send_request(allot_client *c, const char *method,
    const void *params, size_t params_len, uint32_t *msgid_out, char *err,
    size_t err_len);

/*
 * Send one request and wait for its response, filling *reply (which must
 * have been initialised; whatever it held is cleared first). Returns 0 once
 * a response arrived, whether it carries a result or an error: look at
 * reply->error. Responses with other msgids (left over from requests whose
 * wait timed out) are skipped, except msgid 0, which the server sends before
 * closing a stream it could not decode: that one is returned as the reply.
 * The timeout bounds the whole call.
 */
int allot_client_call(allot_client *c, const char *method,
    const void *params, size_t params_len, allot_message *reply, char *err,
    size_t err_len);

/*
 * Authenticate the connection: call auth {token} and wait for the answer.
 * Returns 0 with the role granted ("read", "checkout", "admin") copied
 * into role (which may be NULL), ALLOT_CLIENT_ERR_AUTH when the server
 * refused the token (err says why; a server closes the connection after
 * ALLOT_AUTH_FAILURES_MAX refusals), or another status as
 * allot_client_call() returns. A server without tokens accepts any token
 * as admin. The token is not kept.
 */
int allot_client_auth(allot_client *c, const char *token, char *role,
    size_t role_len, char *err, size_t err_len);

/*
 * Send arbitrary bytes as they are, for tests that pipeline requests or
 * send malformed input. A send that times out part way leaves the stream
 * unusable: later operations fail with the error it had.
 */
int allot_client_send_raw(allot_client *c, const void *buf, size_t len,
    char *err, size_t err_len);

/*
 * Read the next message, whatever it is, into *msg (cleared first). Returns
 * ALLOT_CLIENT_ERR_CLOSED when the peer closed the connection cleanly
 * between messages, ALLOT_CLIENT_ERR_TIMEOUT if nothing whole arrived in
 * time (bytes read so far are kept for the next call), and
 * ALLOT_CLIENT_ERR_PROTOCOL for bytes that are not MessagePack, a message
 * over the reply limit (both leave the stream unusable) or a well-formed
 * value that is not a response or notification (which is consumed).
 */
int allot_client_recv(allot_client *c, allot_message *msg, char *err,
    size_t err_len);

/* The value under key in map (keys compared as str or bin), or NULL. */
const msgpack_object *allot_object_map_get(const msgpack_object *map,
    const char *key);

/*
 * The error code of a response, e.g. "UNKNOWN_METHOD", as a NUL-terminated
 * copy in buf, or NULL when the response has no error or its error has no
 * string "code".
 */
const char *allot_message_error_code(const allot_message *m, char *buf,
    size_t buf_len);

/*
 * JSON <-> MessagePack (proto/client/json.c).
 *
 * JSON to MessagePack: objects become maps with str keys, arrays arrays,
 * strings str, integers the smallest int/uint form, reals float64, true and
 * false bool, null nil. Nesting deeper than ALLOT_JSON_DEPTH_MAX is refused.
 *
 * MessagePack to JSON:
 *   - nil, bool, arrays, maps and int map as expected; a uint above
 *     INT64_MAX (which jansson cannot hold) becomes a JSON real;
 *   - float32/float64 become reals, except NaN and infinities, which JSON
 *     cannot express: they become null;
 *   - str and bin both become strings; bytes that are not valid UTF-8 are
 *     replaced by U+FFFD, so binary data is not preserved;
 *   - ext becomes the tagged object {"$ext": {"type": N, "hex": "0a1b"}};
 *   - map keys that are not str: bin as its text, integers and floats in
 *     decimal, true/false/null as those words, and arrays, maps and ext as
 *     their compact JSON text, cut to 256 bytes ending "..."; when two
 *     keys render the same, the later value wins.
 */
#define ALLOT_JSON_DEPTH_MAX CLI_JSON_DEPTH_MAX

/* Pack value with pk. Returns 0, or a negative status and a message. */
int allot_json_pack(msgpack_packer *pk, json_t *value, char *err,
    size_t err_len);

/* A new JSON value for obj (the caller owns it), or NULL when out of memory. */
json_t *allot_json_from_msgpack(const msgpack_object *obj);

/*
 * Parse the JSON text of a method's named arguments. NULL or blank text
 * gives *params_out = NULL (no arguments); otherwise the text must be a JSON
 * object, without duplicate keys, and *params_out is a new reference. On
 * invalid JSON the message gives the line and column.
 */
int allot_json_parse_params(const char *text, json_t **params_out,
    char *err, size_t err_len);

/*
 * Call method with params (a JSON object, or NULL for none) sent as
 * [params] (or []), and convert the response. On 0, *error_out is NULL when
 * the response's error was nil and a new reference to it otherwise, and
 * *result_out is a new reference to the result (JSON null when nil). Either
 * out pointer may be NULL when the caller does not want that part.
 */
int allot_client_call_params(allot_client *c, const char *method,
    json_t *params, json_t **error_out, json_t **result_out, char *err,
    size_t err_len);

/* allot_client_call_params() with params given as JSON text. */
int allot_client_call_json(allot_client *c, const char *method,
    const char *params_json, json_t **error_out, json_t **result_out,
    char *err, size_t err_len);

#endif
