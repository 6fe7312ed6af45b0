/*
 * rpc_client.c - the tests' msgpack-c view of liballot (rpc_client.h).
 */
#include "rpc_client.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct allot_client {
	allot_ctx *ctx;
	allot_client_notify_fn *notify_fn;
	void *notify_ud;
};

static int say(char *err, size_t err_len, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int say(char *err, size_t err_len, int status, const char *fmt, ...)
{
	if (err != NULL && err_len > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return status;
}

/* A liballot status as this interface reports it, with the context's
 * message. A response carrying an error is a response: 0. */
static int status_of(allot_client *c, int rc, char *err, size_t err_len)
{
	if (rc == 0 || rc == ALLOT_E_SERVER)
		return ALLOT_CLIENT_OK;
	return say(err, err_len, rc, "%s", allot_errstr(c->ctx));
}

void allot_message_init(allot_message *m)
{
	memset(m, 0, sizeof(*m));
	msgpack_unpacked_init(&m->unpacked_);
}

void allot_message_clear(allot_message *m)
{
	msgpack_unpacked_destroy(&m->unpacked_);
	allot_reply_free(m->reply_);
	allot_message_init(m);
}

/* Fill m from r (taken): msgpack-c decodes the raw bytes liballot kept. */
static int message_from_reply(allot_message *m, allot_reply *r, char *err,
    size_t err_len)
{
	allot_message_clear(m);
	size_t len = 0;
	const char *raw = allot_reply_raw(r, &len);
	size_t used = 0;
	msgpack_unpack_return ur = msgpack_unpack_next(&m->unpacked_, raw, len, &used);
	if (ur != MSGPACK_UNPACK_SUCCESS || used != len) {
		/* liballot accepted it, so msgpack-c ran out of nesting depth
		 * (32 levels) or of memory; the frame is consumed. */
		allot_reply_free(r);
		allot_message_clear(m);
		return say(err, err_len, ALLOT_CLIENT_ERR_PROTOCOL,
		    "cannot decode a %zu-byte message: nested deeper than 32 "
		    "levels, or out of memory", len);
	}
	m->reply_ = r;
	m->size = len;
	m->root = m->unpacked_.data;
	const msgpack_object *a = m->root.via.array.ptr;
	if (allot_reply_kind(r) == ALLOT_REPLY_RESPONSE) {
		m->type = ALLOT_MSG_RESPONSE;
		m->msgid = allot_reply_msgid(r);
		m->error = a[2];
		m->result = a[3];
	} else {
		m->type = ALLOT_MSG_NOTIFICATION;
		m->method = a[1];
		m->params = a[2];
	}
	return ALLOT_CLIENT_OK;
}

allot_client *allot_client_connect(const char *host, int port, int timeout_ms,
    char *err, size_t err_len)
{
	allot_client *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		say(err, err_len, ALLOT_CLIENT_ERR_NOMEM, "out of memory");
		return NULL;
	}
	c->ctx = allot_connect(host, port, timeout_ms);
	if (c->ctx == NULL || allot_err(c->ctx) < 0) {
		say(err, err_len, ALLOT_CLIENT_ERR_CONNECT, "%s",
		    c->ctx != NULL ? allot_errstr(c->ctx) : "out of memory");
		allot_free(c->ctx);
		free(c);
		return NULL;
	}
	return c;
}

void allot_client_destroy(allot_client *c)
{
	if (c == NULL)
		return;
	allot_free(c->ctx);
	free(c);
}

void allot_client_set_timeout(allot_client *c, int timeout_ms)
{
	allot_set_timeout(c->ctx, timeout_ms);
}

void allot_client_set_reply_limit(allot_client *c, size_t bytes)
{
	allot_set_reply_limit(c->ctx, bytes);
}

int allot_client_fd(const allot_client *c)
{
	return allot_fd(c->ctx);
}

static void notify_trampoline(const allot_reply *note, void *ud)
{
	allot_client *c = ud;
	size_t len = 0;
	const void *raw = allot_reply_raw(note, &len);
	allot_reply *copy = NULL;
	if (allot_reply_parse(raw, len, &copy) != 0)
		return;
	allot_message m;
	allot_message_init(&m);
	if (message_from_reply(&m, copy, NULL, 0) == 0)
		c->notify_fn(&m, c->notify_ud);
	allot_message_clear(&m);
}

void allot_client_set_notify_handler(allot_client *c, allot_client_notify_fn *fn,
    void *ud)
{
	c->notify_fn = fn;
	c->notify_ud = ud;
	allot_set_notify(c->ctx, fn != NULL ? notify_trampoline : NULL, c);
}

int allot_client_send_request(allot_client *c, const char *method,
    const void *params, size_t params_len, uint32_t *msgid_out, char *err,
    size_t err_len)
{
	int rc = allot_append_raw(c->ctx, method, params, params_len, msgid_out);
	if (rc == 0)
		rc = allot_flush(c->ctx);
	return status_of(c, rc, err, err_len);
}

int allot_client_call(allot_client *c, const char *method,
    const void *params, size_t params_len, allot_message *reply, char *err,
    size_t err_len)
{
	allot_message_clear(reply);
	allot_reply *r = NULL;
	int rc = allot_call_raw(c->ctx, method, params, params_len, &r);
	if (rc != 0 && rc != ALLOT_E_SERVER)
		return status_of(c, rc, err, err_len);
	return message_from_reply(reply, r, err, err_len);
}

int allot_client_auth(allot_client *c, const char *token, char *role,
    size_t role_len, char *err, size_t err_len)
{
	return status_of(c, allot_auth(c->ctx, token, role, role_len), err, err_len);
}

int allot_client_send_raw(allot_client *c, const void *buf, size_t len,
    char *err, size_t err_len)
{
	return status_of(c, allot_send_raw(c->ctx, buf, len), err, err_len);
}

int allot_client_recv(allot_client *c, allot_message *msg, char *err,
    size_t err_len)
{
	allot_message_clear(msg);
	allot_reply *r = NULL;
	int rc = allot_get_message(c->ctx, &r);
	if (rc != 0)
		return status_of(c, rc, err, err_len);
	return message_from_reply(msg, r, err, err_len);
}

static bool object_equals_cstr(const msgpack_object *o, const char *s)
{
	size_t n = strlen(s);
	if (o->type == MSGPACK_OBJECT_STR)
		return o->via.str.size == n && memcmp(o->via.str.ptr, s, n) == 0;
	if (o->type == MSGPACK_OBJECT_BIN)
		return o->via.bin.size == n && memcmp(o->via.bin.ptr, s, n) == 0;
	return false;
}

const msgpack_object *allot_object_map_get(const msgpack_object *map,
    const char *key)
{
	if (map == NULL || map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object_kv *kv = &map->via.map.ptr[i];
		if (object_equals_cstr(&kv->key, key))
			return &kv->val;
	}
	return NULL;
}

const char *allot_message_error_code(const allot_message *m, char *buf,
    size_t buf_len)
{
	if (m->type != ALLOT_MSG_RESPONSE || buf == NULL || buf_len == 0)
		return NULL;
	const msgpack_object *code = allot_object_map_get(&m->error, "code");
	if (code == NULL || code->type != MSGPACK_OBJECT_STR)
		return NULL;
	size_t n = code->via.str.size < buf_len - 1 ? code->via.str.size : buf_len - 1;
	memcpy(buf, code->via.str.ptr, n);
	buf[n] = '\0';
	return buf;
}

/* ---- JSON, through the CLI's converter ---- */

int allot_json_pack(msgpack_packer *pk, json_t *value, char *err,
    size_t err_len)
{
	allot_builder *b = allot_builder_create();
	if (b == NULL)
		return say(err, err_len, ALLOT_CLIENT_ERR_NOMEM, "out of memory");
	int rc = cli_json_build(b, value, err, err_len);
	size_t len = 0;
	const void *data = allot_builder_data(b, &len);
	if (rc == 0 && pk->callback(pk->data, data, len) != 0)
		rc = say(err, err_len, ALLOT_CLIENT_ERR_NOMEM, "out of memory");
	allot_builder_destroy(b);
	return rc;
}

json_t *allot_json_from_msgpack(const msgpack_object *obj)
{
	if (obj == NULL)
		return json_null();
	/* Wrapped as the result of a response, liballot reads it as it would
	 * read a reply, and the CLI's converter turns that into JSON. */
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	int prc = msgpack_pack_array(&pk, 4) | msgpack_pack_uint8(&pk, 1) |
	    msgpack_pack_uint8(&pk, 0) | msgpack_pack_nil(&pk) |
	    msgpack_pack_object(&pk, *obj);
	allot_reply *r = NULL;
	json_t *j = NULL;
	if (prc == 0 && allot_reply_parse(sb.data, sb.size, &r) == 0)
		j = cli_json_from_value(allot_reply_result(r));
	allot_reply_free(r);
	msgpack_sbuffer_destroy(&sb);
	return j;
}

int allot_json_parse_params(const char *text, json_t **params_out,
    char *err, size_t err_len)
{
	return cli_json_parse_args(text, params_out, err, err_len);
}

int allot_client_call_params(allot_client *c, const char *method,
    json_t *params, json_t **error_out, json_t **result_out, char *err,
    size_t err_len)
{
	int rc = cli_json_call(c->ctx, method, params, error_out, result_out);
	return rc < 0 ? say(err, err_len, rc, "%s", allot_errstr(c->ctx)) : rc;
}

int allot_client_call_json(allot_client *c, const char *method,
    const char *params_json, json_t **error_out, json_t **result_out,
    char *err, size_t err_len)
{
	return cli_json_call_text(c->ctx, method, params_json, error_out,
	    result_out, err, err_len);
}
