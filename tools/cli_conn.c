/*
 * cli_conn.c - the CLI's calls through the client library (cli_conn.h).
 */
#include "cli_conn.h"

#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "allot/allot.h"
#include "cli_json.h"

struct cli_conn {
	allot_ctx *ctx;
	allot_builder *args; /* the params being built */
};

static int conn_fail(char *err, size_t err_len, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int conn_fail(char *err, size_t err_len, int code, const char *fmt, ...)
{
	if (err != NULL && err_len > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* The CLI's code for a liballot status. */
static int code_of(int status)
{
	switch (status) {
	case ALLOT_E_AUTH: return CLI_CONN_E_AUTH;
	case ALLOT_E_PROTOCOL: return CLI_CONN_E_PROTOCOL;
	case ALLOT_E_ARG:
	case ALLOT_E_NOMEM:
	case ALLOT_E_TYPE: return CLI_CONN_E_FAIL;
	default: return CLI_CONN_E_LOST;
	}
}

/* A failure of the library: its message into err, and the CLI's code. */
static int ctx_fail(const cli_conn *c, int status, char *err, size_t err_len)
{
	return conn_fail(err, err_len, code_of(status), "%s", allot_errstr(c->ctx));
}

cli_conn *cli_conn_open(const cli_target *t, char *err, size_t err_len)
{
	cli_conn *c = calloc(1, sizeof(*c));
	if (c == NULL || (c->args = allot_builder_create()) == NULL) {
		free(c);
		conn_fail(err, err_len, CLI_CONN_E_FAIL, "out of memory");
		return NULL;
	}
	/* A host with a '/' is the path of allotd's Unix socket. */
	c->ctx = t->host != NULL && strchr(t->host, '/') != NULL
	    ? allot_connect_unix(t->host, t->timeout_ms) : allot_connect(t->host, t->port, t->timeout_ms);
	if (c->ctx == NULL || allot_err(c->ctx) < 0) {
		conn_fail(err, err_len, CLI_CONN_E_LOST, "%s", c->ctx ? allot_errstr(c->ctx) : "out of memory");
		cli_conn_close(c);
		return NULL;
	}
	if (t->token != NULL && allot_auth(c->ctx, t->token, NULL, 0) < 0) {
		conn_fail(err, err_len, CLI_CONN_E_AUTH, "auth: %s", allot_errstr(c->ctx));
		cli_conn_close(c);
		return NULL;
	}
	return c;
}

void cli_conn_close(cli_conn *c)
{
	if (c == NULL)
		return;
	allot_free(c->ctx);
	allot_builder_destroy(c->args);
	free(c);
}

bool cli_conn_alive(const cli_conn *c)
{
	/* A closed peer makes the socket readable with nothing to read. The
	 * CLI owes no reply between calls, so readable means closed (or a
	 * stray message, which the next call would skip anyway). */
	int fd = allot_fd(c->ctx);
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 0) <= 0)
		return true;
	if (p.revents & (POLLHUP | POLLERR | POLLNVAL))
		return false;
	char byte;
	return recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

int cli_conn_call(cli_conn *c, const char *method, json_t *params, json_t **error,
    json_t **result, char *err, size_t err_len)
{
	int rc = cli_json_call(c->ctx, method, params, error, result);
	return rc < 0 ? ctx_fail(c, rc, err, err_len) : 0;
}

#define put_lit(b, lit) allot_put_strn((b), "" lit "", sizeof(lit) - 1)

int cli_conn_queue_stock_set(cli_conn *c, const cli_stock_row *row, char *err, size_t err_len)
{
	allot_builder *b = c->args;
	allot_builder_reset(b);
	allot_put_map(b, row->safety >= 0 ? 4 : 3);
	put_lit(b, "sku");
	allot_put_strn(b, row->sku, row->sku_len);
	put_lit(b, "location");
	allot_put_strn(b, row->location, row->location_len);
	put_lit(b, "on_hand");
	allot_put_int(b, row->on_hand);
	if (row->safety >= 0) {
		put_lit(b, "safety");
		allot_put_int(b, row->safety);
	}
	int rc = allot_append(c->ctx, "stock.set", b, NULL);
	return rc < 0 ? ctx_fail(c, rc, err, err_len) : 0;
}

int cli_conn_flush(cli_conn *c, char *err, size_t err_len)
{
	int rc = allot_flush(c->ctx);
	return rc < 0 ? ctx_fail(c, rc, err, err_len) : 0;
}

int cli_conn_next_status(cli_conn *c, char *code, size_t code_len, char *message,
    size_t message_len, char *err, size_t err_len)
{
	allot_reply *r = NULL;
	int rc = allot_get_reply(c->ctx, &r);
	if (rc == 0 || rc == ALLOT_E_SERVER) {
		if (allot_reply_msgid(r) == 0) {
			/* The server could not decode the stream and closes it. */
			const char *why = allot_reply_error_message(r);
			conn_fail(err, err_len, CLI_CONN_E_PROTOCOL, "the server refused the stream: %s",
			    why ? why : "(no message)");
			allot_reply_free(r);
			return CLI_CONN_E_PROTOCOL;
		}
		if (rc == ALLOT_E_SERVER) {
			const char *what = allot_reply_error_code(r), *why = allot_reply_error_message(r);
			snprintf(code, code_len, "%s", what ? what : "");
			snprintf(message, message_len, "%s", why ? why : "");
		}
		allot_reply_free(r);
		return rc == 0 ? 0 : 1;
	}
	return ctx_fail(c, rc, err, err_len);
}

/* An integer of a record, or -1 when it is not one. */
static int64_t get_int(const allot_value *map, const char *key)
{
	int64_t v;
	return allot_value_int(allot_value_get(map, key), &v) == 0 && v >= 0 ? v : -1;
}

/* Each record of a page to fn. */
static int scan_records(const allot_value *records, cli_scan_fn *fn, void *ud, char *err,
    size_t err_len)
{
	for (size_t i = 0; i < allot_value_len(records); i++) {
		const allot_value *r = allot_value_at(records, i);
		cli_scan_record rec = { .on_hand = get_int(r, "on_hand"), .safety = get_int(r, "safety") };
		rec.sku = allot_value_type(allot_value_get(r, "sku")) == ALLOT_T_STR
		    ? allot_value_str(allot_value_get(r, "sku"), &rec.sku_len) : NULL;
		rec.location = allot_value_type(allot_value_get(r, "location")) == ALLOT_T_STR
		    ? allot_value_str(allot_value_get(r, "location"), &rec.location_len) : NULL;
		if (rec.sku == NULL || rec.location == NULL || rec.on_hand < 0 || rec.safety < 0)
			return conn_fail(err, err_len, CLI_CONN_E_PROTOCOL, "stock.scan: a record without "
			    "sku, location, on_hand and safety");
		int rc = fn(ud, &rec);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int cli_conn_scan(cli_conn *c, uint64_t cursor, uint32_t count, const char *sku_prefix,
    cli_scan_fn *fn, void *ud, uint64_t *next, char *err, size_t err_len)
{
	allot_builder *b = c->args;
	allot_builder_reset(b);
	allot_put_map(b, sku_prefix ? 3 : 2);
	put_lit(b, "cursor");
	allot_put_uint(b, cursor);
	put_lit(b, "count");
	allot_put_uint(b, count);
	if (sku_prefix) {
		put_lit(b, "sku_prefix");
		allot_put_str(b, sku_prefix);
	}
	allot_reply *r = NULL;
	int rc = allot_call(c->ctx, "stock.scan", b, &r);
	if (rc == ALLOT_E_SERVER) {
		const char *code = allot_reply_error_code(r), *message = allot_reply_error_message(r);
		conn_fail(err, err_len, CLI_CONN_E_FAIL, "stock.scan: %s: %s", code ? code : "?",
		    message ? message : "");
		allot_reply_free(r);
		return CLI_CONN_E_FAIL;
	}
	if (rc < 0)
		return ctx_fail(c, rc, err, err_len);
	const allot_value *result = allot_reply_result(r);
	const allot_value *records = allot_value_get(result, "records");
	if (allot_value_type(records) != ALLOT_T_ARRAY ||
	    allot_value_uint(allot_value_get(result, "cursor"), next) != 0) {
		allot_reply_free(r);
		return conn_fail(err, err_len, CLI_CONN_E_PROTOCOL,
		    "stock.scan: the reply is not {records, cursor}");
	}
	rc = scan_records(records, fn, ud, err, err_len);
	allot_reply_free(r);
	return rc;
}
