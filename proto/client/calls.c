/*
 * calls.c - liballot's params builder and its typed helpers for the common
 * calls (see allot/allot.h).
 */
#include "lib.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the builder ---- */

allot_builder *allot_builder_create(void)
{
	allot_builder *b = malloc(sizeof(*b));
	if (b != NULL)
		mp_buf_init(&b->buf);
	return b;
}

/* Zero the bytes built, which may hold a token, before letting them go. */
static void builder_wipe(allot_builder *b)
{
	if (b->buf.data != NULL)
		memset(b->buf.data, 0, b->buf.cap);
}

void allot_builder_destroy(allot_builder *b)
{
	if (b == NULL)
		return;
	builder_wipe(b);
	mp_buf_finish(&b->buf);
	free(b);
}

void allot_builder_reset(allot_builder *b)
{
	mp_buf_reset(&b->buf);
}

int allot_builder_status(const allot_builder *b)
{
	return mp_buf_failed(&b->buf) ? ALLOT_E_NOMEM : ALLOT_OK;
}

const void *allot_builder_data(const allot_builder *b, size_t *len)
{
	if (len != NULL)
		*len = b->buf.len;
	return b->buf.data;
}

void allot_put_nil(allot_builder *b) { mp_write_nil(&b->buf); }
void allot_put_bool(allot_builder *b, bool v) { mp_write_bool(&b->buf, v); }
void allot_put_int(allot_builder *b, int64_t v) { mp_write_int(&b->buf, v); }
void allot_put_uint(allot_builder *b, uint64_t v) { mp_write_uint(&b->buf, v); }
void allot_put_float(allot_builder *b, double v) { mp_write_double(&b->buf, v); }
void allot_put_str(allot_builder *b, const char *s) { mp_write_cstr(&b->buf, s); }
void allot_put_array(allot_builder *b, uint32_t n) { mp_write_array(&b->buf, n); }
void allot_put_map(allot_builder *b, uint32_t n) { mp_write_map(&b->buf, n); }

void allot_put_strn(allot_builder *b, const char *s, size_t len)
{
	mp_write_str(&b->buf, s, len);
}

void allot_put_raw(allot_builder *b, const void *p, size_t len)
{
	mp_write_raw(&b->buf, p, len);
}

void allot_put_bin(allot_builder *b, const void *p, size_t len)
{
	uint8_t hdr[5];
	size_t hdr_len;
	if (len > UINT32_MAX) {
		/* MessagePack cannot say it: fail as growth would. */
		b->buf.failed = true;
		return;
	}
	if (len <= UINT8_MAX) {
		hdr[0] = 0xc4;
		hdr[1] = (uint8_t)len;
		hdr_len = 2;
	} else if (len <= UINT16_MAX) {
		hdr[0] = 0xc5;
		hdr[1] = (uint8_t)(len >> 8);
		hdr[2] = (uint8_t)len;
		hdr_len = 3;
	} else {
		hdr[0] = 0xc6;
		for (int k = 0; k < 4; k++)
			hdr[1 + k] = (uint8_t)(len >> (24 - 8 * k));
		hdr_len = 5;
	}
	mp_write_raw(&b->buf, hdr, hdr_len);
	mp_write_raw(&b->buf, p, len);
}

/* ---- typed helpers ---- */

/* Run method with the args in b, freeing b; out as allot_call's. */
static int call_built(allot_ctx *c, const char *method, allot_builder *b,
    allot_reply **out)
{
	if (out != NULL)
		*out = NULL;
	if (b == NULL)
		return lib_fail(c, ALLOT_E_NOMEM, "out of memory");
	int rc = allot_call(c, method, b, out);
	allot_builder_destroy(b);
	return rc;
}

/* A builder holding {key: value} for one str value. */
static allot_builder *args_one_str(const char *key, const char *value)
{
	allot_builder *b = allot_builder_create();
	if (b == NULL)
		return NULL;
	allot_put_map(b, 1);
	allot_put_str(b, key);
	allot_put_str(b, value != NULL ? value : "");
	return b;
}

int allot_ping(allot_ctx *c)
{
	allot_reply *r = NULL;
	int rc = allot_call(c, "ping", NULL, &r);
	if (rc == 0) {
		const char *s = allot_value_str(allot_reply_result(r), NULL);
		if (s == NULL || strcmp(s, "pong") != 0)
			rc = lib_fail(c, ALLOT_E_PROTOCOL, "ping was not answered \"pong\"");
	}
	allot_reply_free(r);
	return rc;
}

int allot_auth(allot_ctx *c, const char *token, char *role, size_t role_len)
{
	if (role != NULL && role_len > 0)
		role[0] = '\0';
	if (token == NULL)
		return lib_fail(c, ALLOT_E_ARG, "no token given");
	allot_reply *r = NULL;
	int rc = call_built(c, "auth", args_one_str("token", token), &r);
	/* The request held the token: it does not linger in the buffer. */
	lib_wipe_output(c);
	if (rc == ALLOT_E_SERVER) {
		const char *code = allot_reply_error_code(r);
		const char *message = allot_reply_error_message(r);
		rc = lib_fail(c, ALLOT_E_AUTH, "the token was refused: %s: %s",
		    code ? code : "(no code)", message ? message : "");
	} else if (rc == 0 && role != NULL && role_len > 0) {
		const char *s = allot_value_str(allot_value_get(allot_reply_result(r), "role"), NULL);
		snprintf(role, role_len, "%s", s != NULL ? s : "");
	}
	allot_reply_free(r);
	return rc;
}

int allot_reserve(allot_ctx *c, const char *order_id, const allot_line *lines,
    size_t n_lines, int64_t ttl_ms, allot_reply **out)
{
	if (order_id == NULL || (lines == NULL && n_lines > 0) || n_lines > UINT32_MAX) {
		if (out != NULL)
			*out = NULL;
		return lib_fail(c, ALLOT_E_ARG, "reserve: no order_id or lines");
	}
	allot_builder *b = allot_builder_create();
	if (b != NULL) {
		allot_put_map(b, ttl_ms > 0 ? 3 : 2);
		allot_put_str(b, "order_id");
		allot_put_str(b, order_id);
		allot_put_str(b, "lines");
		allot_put_array(b, (uint32_t)n_lines);
		for (size_t i = 0; i < n_lines; i++) {
			allot_put_map(b, 2);
			allot_put_str(b, "sku");
			allot_put_str(b, lines[i].sku != NULL ? lines[i].sku : "");
			allot_put_str(b, "qty");
			allot_put_int(b, lines[i].qty);
		}
		if (ttl_ms > 0) {
			allot_put_str(b, "ttl_ms");
			allot_put_int(b, ttl_ms);
		}
	}
	return call_built(c, "reserve", b, out);
}

int allot_commit(allot_ctx *c, const char *reservation_id, allot_reply **out)
{
	return call_built(c, "commit", args_one_str("reservation_id", reservation_id), out);
}

int allot_release(allot_ctx *c, const char *reservation_id, allot_reply **out)
{
	return call_built(c, "release", args_one_str("reservation_id", reservation_id), out);
}

int allot_avail(allot_ctx *c, const char *const *skus, size_t n_skus,
    allot_reply **out)
{
	if ((skus == NULL && n_skus > 0) || n_skus > UINT32_MAX) {
		if (out != NULL)
			*out = NULL;
		return lib_fail(c, ALLOT_E_ARG, "avail: no skus");
	}
	allot_builder *b = allot_builder_create();
	if (b != NULL) {
		allot_put_map(b, 1);
		allot_put_str(b, "skus");
		allot_put_array(b, (uint32_t)n_skus);
		for (size_t i = 0; i < n_skus; i++)
			allot_put_str(b, skus[i] != NULL ? skus[i] : "");
	}
	return call_built(c, "avail", b, out);
}

/* stock.set's args into b. */
static void args_stock_set(allot_builder *b, const char *sku,
    const char *location, int64_t on_hand, int64_t safety)
{
	allot_put_map(b, safety >= 0 ? 4 : 3);
	allot_put_str(b, "sku");
	allot_put_str(b, sku != NULL ? sku : "");
	allot_put_str(b, "location");
	allot_put_str(b, location != NULL ? location : "");
	allot_put_str(b, "on_hand");
	allot_put_int(b, on_hand);
	if (safety >= 0) {
		allot_put_str(b, "safety");
		allot_put_int(b, safety);
	}
}

int allot_stock_set(allot_ctx *c, const char *sku, const char *location,
    int64_t on_hand, int64_t safety, allot_reply **out)
{
	allot_builder *b = allot_builder_create();
	if (b != NULL)
		args_stock_set(b, sku, location, on_hand, safety);
	return call_built(c, "stock.set", b, out);
}

int allot_append_stock_set(allot_ctx *c, const char *sku, const char *location,
    int64_t on_hand, int64_t safety, uint32_t *msgid)
{
	/* A builder on the stack's worth of bytes: bulk loads call this a
	 * million times, so it allocates only what mp_buf needs. */
	allot_builder b;
	mp_buf_init(&b.buf);
	args_stock_set(&b, sku, location, on_hand, safety);
	int rc = allot_append(c, "stock.set", &b, msgid);
	mp_buf_finish(&b.buf);
	assert(rc <= 0);
	return rc;
}
