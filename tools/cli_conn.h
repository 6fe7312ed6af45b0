/*
 * cli_conn.h - the CLI's own few calls to allotd.
 *
 * Everything the CLI asks of the client library goes through here: a
 * connection that authenticates itself, one JSON call, stock.set
 * pipelined (import), a page of stock.scan (export), and whether the
 * connection is still alive (the REPL reconnects when allotd restarted).
 * The rest of the CLI knows only these functions, so a change of the
 * client library is a change of this file alone.
 *
 * Functions that can fail return 0 or a negative CLI_CONN_E_* and write a
 * one-line message into err[0..err_len).
 */
#ifndef ALLOT_TOOLS_CLI_CONN_H
#define ALLOT_TOOLS_CLI_CONN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	CLI_CONN_E_FAIL = -1,   /* bad argument, no memory */
	CLI_CONN_E_LOST = -2,   /* could not connect, or the connection broke */
	CLI_CONN_E_AUTH = -3,   /* the server refused the token */
	CLI_CONN_E_PROTOCOL = -4, /* a reply that makes no sense */
};

/* Where allotd is and how to talk to it; the strings are borrowed. */
typedef struct cli_target {
	const char *host; /* a name, an address, or a Unix socket path with '/' */
	int port;
	int timeout_ms;   /* <= 0: wait forever */
	const char *token; /* NULL: no auth call */
} cli_target;

typedef struct cli_conn cli_conn;

/* Connect (and authenticate when t has a token). NULL with err filled.
 * t must outlive the connection. */
cli_conn *cli_conn_open(const cli_target *t, char *err, size_t err_len);
/* Close and free; accepts NULL. */
void cli_conn_close(cli_conn *c);
/* Whether the peer has not closed the connection (nothing is read). */
bool cli_conn_alive(const cli_conn *c);

/* Call method with params (a JSON object or NULL; borrowed). On 0,
 * *error is NULL or the error map, *result the result (JSON null when
 * nil); both new references. */
int cli_conn_call(cli_conn *c, const char *method, json_t *params, json_t **error,
    json_t **result, char *err, size_t err_len);

/* ---- stock.set, pipelined ---- */

/* One row of stock: names borrowed for the call. safety < 0: not sent. */
typedef struct cli_stock_row {
	const char *sku;
	size_t sku_len;
	const char *location;
	size_t location_len;
	int64_t on_hand;
	int64_t safety;
} cli_stock_row;

/* Queue stock.set of row; nothing is sent until cli_conn_flush(). */
int cli_conn_queue_stock_set(cli_conn *c, const cli_stock_row *row, char *err, size_t err_len);
/* Send what is queued. */
int cli_conn_flush(cli_conn *c, char *err, size_t err_len);
/* The reply to the oldest request sent and not yet answered: 0 for a
 * success, 1 for an error reply (its code and message copied out), or a
 * negative CLI_CONN_E_*. */
int cli_conn_next_status(cli_conn *c, char *code, size_t code_len, char *message,
    size_t message_len, char *err, size_t err_len);

/* ---- stock.scan ---- */

/* One record of a scan: what import takes back (names not NUL-terminated,
 * valid during the call). */
typedef struct cli_scan_record {
	const char *sku;
	size_t sku_len;
	const char *location;
	size_t location_len;
	int64_t on_hand;
	int64_t safety;
} cli_scan_record;

typedef int cli_scan_fn(void *ud, const cli_scan_record *rec);

/* One page of stock.scan from cursor: fn for each record (a non-zero
 * return stops and is returned), *next the cursor to go on with (0: done).
 * An error reply is CLI_CONN_E_FAIL with its code and message in err. */
int cli_conn_scan(cli_conn *c, uint64_t cursor, uint32_t count, const char *sku_prefix,
    cli_scan_fn *fn, void *ud, uint64_t *next, char *err, size_t err_len);

#endif
