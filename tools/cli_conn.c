/*
 * cli_conn.c - the CLI's calls through the client library (cli_conn.h).
 */
#include "cli_conn.h"

#include <msgpack.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "allot/client.h"

struct cli_conn {
	allot_client *client;
	msgpack_sbuffer queued;  /* stock.set requests not sent yet */
	msgpack_packer pk;
	uint32_t next_msgid;     /* of the next request queued */
	uint32_t oldest_msgid;   /* of the oldest request not answered */
	allot_message reply;
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

/* The CLI's code for a client library status. */
static int code_of(int status)
{
	switch (status) {
	case ALLOT_CLIENT_ERR_AUTH: return CLI_CONN_E_AUTH;
	case ALLOT_CLIENT_ERR_PROTOCOL: return CLI_CONN_E_PROTOCOL;
	case ALLOT_CLIENT_ERR_ARG:
	case ALLOT_CLIENT_ERR_NOMEM: return CLI_CONN_E_FAIL;
	default: return CLI_CONN_E_LOST;
	}
}

cli_conn *cli_conn_open(const cli_target *t, char *err, size_t err_len)
{
	cli_conn *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		conn_fail(err, err_len, CLI_CONN_E_FAIL, "out of memory");
		return NULL;
	}
	c->client = allot_client_connect(t->host, t->port, t->timeout_ms, err, err_len);
	if (c->client == NULL) {
		free(c);
		return NULL;
	}
	char why[256];
	if (t->token != NULL &&
	    allot_client_auth(c->client, t->token, NULL, 0, why, sizeof(why)) < 0) {
		conn_fail(err, err_len, CLI_CONN_E_AUTH, "auth: %s", why);
		allot_client_destroy(c->client);
		free(c);
		return NULL;
	}
	msgpack_sbuffer_init(&c->queued);
	msgpack_packer_init(&c->pk, &c->queued, msgpack_sbuffer_write);
	allot_message_init(&c->reply);
	c->next_msgid = c->oldest_msgid = 1;
	return c;
}

void cli_conn_close(cli_conn *c)
{
	if (c == NULL)
		return;
	allot_client_destroy(c->client);
	msgpack_sbuffer_destroy(&c->queued);
	allot_message_clear(&c->reply);
	free(c);
}

bool cli_conn_alive(const cli_conn *c)
{
	/* A closed peer makes the socket readable with nothing to read. The
	 * CLI owes no reply between calls, so readable means closed (or a
	 * stray message, which the next call would skip anyway). */
	int fd = allot_client_fd(c->client);
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
	int rc = allot_client_call_params(c->client, method, params, error, result, err, err_len);
	return rc < 0 ? code_of(rc) : 0;
}

static void pack_str(msgpack_packer *pk, const char *s, size_t len)
{
	msgpack_pack_str(pk, len);
	msgpack_pack_str_body(pk, s, len);
}

#define pack_lit(pk, lit) pack_str((pk), "" lit "", sizeof(lit) - 1)

int cli_conn_queue_stock_set(cli_conn *c, const cli_stock_row *row, char *err, size_t err_len)
{
	msgpack_packer *pk = &c->pk;
	uint32_t msgid = c->next_msgid++;
	if (c->next_msgid == 0)
		c->next_msgid = 1; /* the server answers undecodable input with 0 */
	msgpack_pack_array(pk, 4);
	msgpack_pack_uint8(pk, 0);
	msgpack_pack_uint32(pk, msgid);
	pack_lit(pk, "stock.set");
	msgpack_pack_array(pk, 1);
	msgpack_pack_map(pk, row->safety >= 0 ? 4 : 3);
	pack_lit(pk, "sku");
	pack_str(pk, row->sku, row->sku_len);
	pack_lit(pk, "location");
	pack_str(pk, row->location, row->location_len);
	pack_lit(pk, "on_hand");
	msgpack_pack_int64(pk, row->on_hand);
	if (row->safety >= 0) {
		pack_lit(pk, "safety");
		msgpack_pack_int64(pk, row->safety);
	}
	return 0;
}

int cli_conn_flush(cli_conn *c, char *err, size_t err_len)
{
	if (c->queued.size == 0)
		return 0;
	int rc = allot_client_send_raw(c->client, c->queued.data, c->queued.size, err, err_len);
	msgpack_sbuffer_clear(&c->queued);
	return rc < 0 ? code_of(rc) : 0;
}

/* The string under key in map, copied into buf ("" when absent). */
static void copy_str(const msgpack_object *map, const char *key, char *buf, size_t len)
{
	const msgpack_object *o = allot_object_map_get(map, key);
	buf[0] = '\0';
	if (o != NULL && o->type == MSGPACK_OBJECT_STR)
		snprintf(buf, len, "%.*s", (int)o->via.str.size, o->via.str.ptr);
}

int cli_conn_next_status(cli_conn *c, char *code, size_t code_len, char *message,
    size_t message_len, char *err, size_t err_len)
{
	for (;;) {
		int rc = allot_client_recv(c->client, &c->reply, err, err_len);
		if (rc < 0)
			return code_of(rc);
		if (c->reply.type == ALLOT_MSG_RESPONSE)
			break; /* notifications are not the CLI's business */
	}
	const allot_message *m = &c->reply;
	if (m->msgid != c->oldest_msgid) {
		char why[256] = "";
		if (m->error.type == MSGPACK_OBJECT_MAP)
			copy_str(&m->error, "message", why, sizeof(why));
		return conn_fail(err, err_len, CLI_CONN_E_PROTOCOL,
		    "reply %u where %u was due%s%s", m->msgid, c->oldest_msgid, why[0] ? ": " : "", why);
	}
	if (++c->oldest_msgid == 0)
		c->oldest_msgid = 1;
	if (m->error.type == MSGPACK_OBJECT_NIL)
		return 0;
	copy_str(&m->error, "code", code, code_len);
	copy_str(&m->error, "message", message, message_len);
	return 1;
}

/* The integer under key in map, or -1 when it is not one. */
static int64_t get_int(const msgpack_object *map, const char *key)
{
	const msgpack_object *o = allot_object_map_get(map, key);
	if (o != NULL && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX)
		return (int64_t)o->via.u64;
	return -1;
}

/* Each record of a page to fn. */
static int scan_records(const msgpack_object *records, cli_scan_fn *fn, void *ud, char *err,
    size_t err_len)
{
	for (uint32_t i = 0; i < records->via.array.size; i++) {
		const msgpack_object *r = &records->via.array.ptr[i];
		const msgpack_object *sku = r->type == MSGPACK_OBJECT_MAP ? allot_object_map_get(r, "sku") : NULL;
		const msgpack_object *loc = r->type == MSGPACK_OBJECT_MAP ? allot_object_map_get(r, "location") : NULL;
		cli_scan_record rec = { .on_hand = get_int(r, "on_hand"), .safety = get_int(r, "safety") };
		if (sku == NULL || loc == NULL || sku->type != MSGPACK_OBJECT_STR ||
		    loc->type != MSGPACK_OBJECT_STR || rec.on_hand < 0 || rec.safety < 0)
			return conn_fail(err, err_len, CLI_CONN_E_PROTOCOL, "stock.scan: a record without "
			    "sku, location, on_hand and safety");
		rec.sku = sku->via.str.ptr;
		rec.sku_len = sku->via.str.size;
		rec.location = loc->via.str.ptr;
		rec.location_len = loc->via.str.size;
		int rc = fn(ud, &rec);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int cli_conn_scan(cli_conn *c, uint64_t cursor, uint32_t count, const char *sku_prefix,
    cli_scan_fn *fn, void *ud, uint64_t *next, char *err, size_t err_len)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 1);
	msgpack_pack_map(&pk, sku_prefix ? 3 : 2);
	pack_lit(&pk, "cursor");
	msgpack_pack_uint64(&pk, cursor);
	pack_lit(&pk, "count");
	msgpack_pack_uint32(&pk, count);
	if (sku_prefix) {
		pack_lit(&pk, "sku_prefix");
		pack_str(&pk, sku_prefix, strlen(sku_prefix));
	}
	int rc = allot_client_call(c->client, "stock.scan", sb.data, sb.size, &c->reply, err, err_len);
	msgpack_sbuffer_destroy(&sb);
	if (rc < 0)
		return code_of(rc);
	const allot_message *m = &c->reply;
	if (m->error.type != MSGPACK_OBJECT_NIL) {
		char code[64], message[256];
		copy_str(&m->error, "code", code, sizeof(code));
		copy_str(&m->error, "message", message, sizeof(message));
		return conn_fail(err, err_len, CLI_CONN_E_FAIL, "stock.scan: %s: %s", code, message);
	}
	const msgpack_object *records = m->result.type == MSGPACK_OBJECT_MAP
	    ? allot_object_map_get(&m->result, "records") : NULL;
	const msgpack_object *cur = m->result.type == MSGPACK_OBJECT_MAP
	    ? allot_object_map_get(&m->result, "cursor") : NULL;
	if (records == NULL || records->type != MSGPACK_OBJECT_ARRAY || cur == NULL ||
	    cur->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return conn_fail(err, err_len, CLI_CONN_E_PROTOCOL,
		    "stock.scan: the reply is not {records, cursor}");
	*next = cur->via.u64;
	return scan_records(records, fn, ud, err, err_len);
}
