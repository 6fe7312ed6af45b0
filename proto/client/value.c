/*
 * value.c - a reply's values: decoding a frame into a tree, and reading it.
 *
 * A frame reaches here only after the resumable reader (proto/mp.c) has
 * walked it whole within the context's limits, so its claimed lengths are
 * known to fit in its bytes and its nesting in MP_DEPTH_HARD_MAX. Decoding
 * takes two passes over it with an mp_cursor: the first counts the values
 * and string bytes, the second fills one allocation holding the reply, its
 * nodes, its NUL-terminated strings and a copy of the raw frame. Every value
 * takes at least one byte of the frame, so a reply's memory is bounded by a
 * small multiple of the frame's size.
 */
#include "lib.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* An ext's header at c: its payload length and type, advancing past both. */
static bool read_ext_header(mp_cursor *c, uint32_t *len, int8_t *type)
{
	size_t left = (size_t)(c->end - c->p);
	if (left < 1)
		return false;
	uint8_t b = c->p[0];
	size_t hdr;
	if (b >= 0xd4 && b <= 0xd8) {
		hdr = 2;
		*len = 1u << (b - 0xd4);
	} else if (b >= 0xc7 && b <= 0xc9) {
		size_t w = b == 0xc7 ? 1 : b == 0xc8 ? 2 : 4;
		hdr = 2 + w;
		if (left < hdr)
			return false;
		uint32_t n = 0;
		for (size_t k = 0; k < w; k++)
			n = n << 8 | c->p[1 + k];
		*len = n;
	} else {
		return false;
	}
	if (left < hdr || *len > left - hdr)
		return false;
	*type = (int8_t)c->p[hdr - 1];
	c->p += hdr;
	return true;
}

/* Where the second pass writes: the next free node and string byte. */
typedef struct fill_state {
	allot_value *node;
	char *str;
} fill_state;

/* Pass one: count the values and string bytes of the value at c. */
static bool count_value(mp_cursor *c, size_t *nodes, size_t *bytes, int depth)
{
	if (depth > MP_DEPTH_HARD_MAX)
		return false;
	(*nodes)++;
	uint32_t n = 0;
	const char *s;
	int8_t et;
	switch (mp_peek(c)) {
	case MP_T_STR:
	case MP_T_BIN:
		if (!mp_read_str(c, &s, &n))
			return false;
		*bytes += (size_t)n + 1;
		return true;
	case MP_T_EXT:
		if (!read_ext_header(c, &n, &et))
			return false;
		c->p += n;
		*bytes += (size_t)n + 1;
		return true;
	case MP_T_ARRAY:
		if (!mp_read_array(c, &n))
			return false;
		for (uint32_t i = 0; i < n; i++)
			if (!count_value(c, nodes, bytes, depth + 1))
				return false;
		return true;
	case MP_T_MAP:
		if (!mp_read_map(c, &n))
			return false;
		for (uint64_t i = 0; i < 2 * (uint64_t)n; i++)
			if (!count_value(c, nodes, bytes, depth + 1))
				return false;
		return true;
	case MP_T_INVALID:
		return false;
	default:
		return mp_skip(c);
	}
}

static void fill_bytes(allot_value *v, fill_state *st, const char *s, uint32_t n)
{
	memcpy(st->str, s, n);
	st->str[n] = '\0';
	v->via.s = st->str;
	v->len = n;
	st->str += (size_t)n + 1;
}

/* Fill a container's elements (count of them) as consecutive nodes. */
static bool fill_value(mp_cursor *c, allot_value *v, fill_state *st);

static bool fill_items(mp_cursor *c, allot_value *v, size_t count, fill_state *st)
{
	v->via.items = st->node;
	st->node += count;
	for (size_t i = 0; i < count; i++)
		if (!fill_value(c, &v->via.items[i], st))
			return false;
	return true;
}

/* Pass two: the value at c into v (pass one has checked it). */
static bool fill_value(mp_cursor *c, allot_value *v, fill_state *st)
{
	const char *s;
	uint32_t n = 0;
	memset(v, 0, sizeof(*v));
	switch (mp_peek(c)) {
	case MP_T_NIL:
		v->type = ALLOT_T_NIL;
		return mp_read_nil(c);
	case MP_T_BOOL:
		v->type = ALLOT_T_BOOL;
		return mp_read_bool(c, &v->via.b);
	case MP_T_UINT:
	case MP_T_INT:
		/* An int encoding may hold a value >= 0: type by value. */
		if (mp_read_int(c, &v->via.i)) {
			v->type = v->via.i < 0 ? ALLOT_T_INT : ALLOT_T_UINT;
			return true;
		}
		v->type = ALLOT_T_UINT;
		return mp_read_uint(c, &v->via.u);
	case MP_T_FLOAT:
		v->type = ALLOT_T_FLOAT;
		return mp_read_double(c, &v->via.f);
	case MP_T_STR:
	case MP_T_BIN:
		v->type = mp_peek(c) == MP_T_STR ? ALLOT_T_STR : ALLOT_T_BIN;
		if (!mp_read_str(c, &s, &n))
			return false;
		fill_bytes(v, st, s, n);
		return true;
	case MP_T_EXT:
		v->type = ALLOT_T_EXT;
		if (!read_ext_header(c, &n, &v->ext_type))
			return false;
		fill_bytes(v, st, (const char *)c->p, n);
		c->p += n;
		return true;
	case MP_T_ARRAY:
		v->type = ALLOT_T_ARRAY;
		return mp_read_array(c, &n) && (v->len = n, fill_items(c, v, n, st));
	case MP_T_MAP:
		v->type = ALLOT_T_MAP;
		return mp_read_map(c, &n) && (v->len = n, fill_items(c, v, 2 * (size_t)n, st));
	default:
		return false;
	}
}

static bool value_is_msgid(const allot_value *v)
{
	return v->type == ALLOT_T_UINT && v->via.u <= UINT32_MAX;
}

/* Point r's fields at the parts of its message, checking its shape. */
static int reply_interpret(allot_reply *r, const char **why)
{
	const allot_value *root = &r->nodes[0];
	const allot_value *a = root->via.items;
	if (root->type != ALLOT_T_ARRAY || root->len < 1 || a[0].type != ALLOT_T_UINT)
		goto fail_shape;
	if (a[0].via.u == ALLOT_MSG_RESPONSE && root->len == 4 && value_is_msgid(&a[1])) {
		r->kind = ALLOT_REPLY_RESPONSE;
		r->msgid = (uint32_t)a[1].via.u;
		r->error = &a[2];
		r->result = &a[3];
		return ALLOT_OK;
	}
	if (a[0].via.u == ALLOT_MSG_NOTIFICATION && root->len == 3 &&
	    (a[1].type == ALLOT_T_STR || a[1].type == ALLOT_T_BIN)) {
		r->kind = ALLOT_REPLY_NOTIFICATION;
		r->method = a[1].via.s;
		r->params = &a[2];
		return ALLOT_OK;
	}
fail_shape:
	*why = "not a msgpack-rpc response or notification";
	return ALLOT_E_PROTOCOL;
}

int reply_decode(const uint8_t *frame, size_t len, allot_reply **out,
    const char **why)
{
	*out = NULL;
	size_t nodes = 0, bytes = 0;
	mp_cursor c;
	mp_cursor_init(&c, frame, len);
	if (!count_value(&c, &nodes, &bytes, 1) || c.p != c.end) {
		*why = "not one MessagePack value";
		return ALLOT_E_PROTOCOL;
	}
	assert(nodes >= 1 && nodes <= len);
	size_t head = sizeof(allot_reply) + nodes * sizeof(allot_value);
	allot_reply *r = malloc(head + bytes + len);
	if (r == NULL) {
		*why = "out of memory";
		return ALLOT_E_NOMEM;
	}
	memset(r, 0, sizeof(*r));
	r->nodes = (allot_value *)(r + 1);
	r->nodes_len = nodes;
	char *strings = (char *)r + head;
	r->raw = (const uint8_t *)strings + bytes;
	r->raw_len = len;
	memcpy((uint8_t *)strings + bytes, frame, len);

	fill_state st = { .node = r->nodes + 1, .str = strings };
	mp_cursor_init(&c, frame, len);
	bool filled = fill_value(&c, &r->nodes[0], &st);
	assert(filled && st.node == r->nodes + nodes && st.str == strings + bytes);
	(void)filled;
	int rc = reply_interpret(r, why);
	if (rc < 0) {
		free(r);
		return rc;
	}
	*out = r;
	return ALLOT_OK;
}

bool lib_is_one_value(const void *p, size_t len)
{
	mp_limits lim = {
		.frame_bytes_max = len,
		.depth_max = MP_DEPTH_HARD_MAX,
		.array_max = UINT32_MAX,
		.map_max = UINT32_MAX,
		.str_max = UINT32_MAX,
	};
	size_t value_len = 0;
	return mp_scan(p, len, &lim, &value_len, NULL) == MP_OK && value_len == len;
}

int allot_reply_parse(const void *msg, size_t len, allot_reply **out)
{
	*out = NULL;
	const char *why = NULL;
	if (msg == NULL || !lib_is_one_value(msg, len))
		return ALLOT_E_PROTOCOL;
	return reply_decode(msg, len, out, &why);
}

/* ---- values ---- */

allot_type allot_value_type(const allot_value *v)
{
	return v == NULL ? ALLOT_T_NONE : (allot_type)v->type;
}

const char *allot_type_name(allot_type t)
{
	static const char *const names[] = {
		[ALLOT_T_NONE] = "none", [ALLOT_T_NIL] = "nil",
		[ALLOT_T_BOOL] = "bool", [ALLOT_T_INT] = "int",
		[ALLOT_T_UINT] = "uint", [ALLOT_T_FLOAT] = "float",
		[ALLOT_T_STR] = "str", [ALLOT_T_BIN] = "bin",
		[ALLOT_T_ARRAY] = "array", [ALLOT_T_MAP] = "map",
		[ALLOT_T_EXT] = "ext",
	};
	if ((unsigned)t >= sizeof(names) / sizeof(names[0]))
		return "?";
	return names[t];
}

int allot_value_bool(const allot_value *v, bool *out)
{
	if (v == NULL || v->type != ALLOT_T_BOOL)
		return ALLOT_E_TYPE;
	*out = v->via.b;
	return ALLOT_OK;
}

int allot_value_int(const allot_value *v, int64_t *out)
{
	if (v == NULL || (v->type != ALLOT_T_INT && v->type != ALLOT_T_UINT))
		return ALLOT_E_TYPE;
	if (v->type == ALLOT_T_UINT && v->via.u > INT64_MAX)
		return ALLOT_E_TYPE;
	*out = v->via.i;
	return ALLOT_OK;
}

int allot_value_uint(const allot_value *v, uint64_t *out)
{
	if (v == NULL || v->type != ALLOT_T_UINT)
		return ALLOT_E_TYPE;
	*out = v->via.u;
	return ALLOT_OK;
}

int allot_value_float(const allot_value *v, double *out)
{
	if (v == NULL)
		return ALLOT_E_TYPE;
	switch (v->type) {
	case ALLOT_T_FLOAT: *out = v->via.f; return ALLOT_OK;
	case ALLOT_T_INT: *out = (double)v->via.i; return ALLOT_OK;
	case ALLOT_T_UINT: *out = (double)v->via.u; return ALLOT_OK;
	default: return ALLOT_E_TYPE;
	}
}

const char *allot_value_str(const allot_value *v, size_t *len)
{
	if (v == NULL || (v->type != ALLOT_T_STR && v->type != ALLOT_T_BIN &&
	    v->type != ALLOT_T_EXT))
		return NULL;
	if (len != NULL)
		*len = v->len;
	return v->via.s;
}

int8_t allot_value_ext_type(const allot_value *v)
{
	return v != NULL && v->type == ALLOT_T_EXT ? v->ext_type : 0;
}

size_t allot_value_len(const allot_value *v)
{
	if (v == NULL || (v->type != ALLOT_T_ARRAY && v->type != ALLOT_T_MAP))
		return 0;
	return v->len;
}

const allot_value *allot_value_at(const allot_value *v, size_t i)
{
	if (v == NULL || v->type != ALLOT_T_ARRAY || i >= v->len)
		return NULL;
	return &v->via.items[i];
}

const allot_value *allot_value_key_at(const allot_value *v, size_t i)
{
	if (v == NULL || v->type != ALLOT_T_MAP || i >= v->len)
		return NULL;
	return &v->via.items[2 * i];
}

const allot_value *allot_value_val_at(const allot_value *v, size_t i)
{
	if (v == NULL || v->type != ALLOT_T_MAP || i >= v->len)
		return NULL;
	return &v->via.items[2 * i + 1];
}

const allot_value *allot_value_get(const allot_value *v, const char *key)
{
	if (v == NULL || v->type != ALLOT_T_MAP || key == NULL)
		return NULL;
	size_t n = strlen(key);
	for (uint32_t i = 0; i < v->len; i++) {
		const allot_value *k = &v->via.items[2 * i];
		if ((k->type == ALLOT_T_STR || k->type == ALLOT_T_BIN) &&
		    k->len == n && memcmp(k->via.s, key, n) == 0)
			return &v->via.items[2 * i + 1];
	}
	return NULL;
}

/* ---- replies ---- */

allot_reply_type allot_reply_kind(const allot_reply *r)
{
	return r->kind;
}

uint32_t allot_reply_msgid(const allot_reply *r)
{
	return r != NULL ? r->msgid : 0;
}

const allot_value *allot_reply_result(const allot_reply *r)
{
	return r != NULL ? r->result : NULL;
}

const allot_value *allot_reply_error(const allot_reply *r)
{
	return r != NULL ? r->error : NULL;
}

/* The str under key in r's error map, or NULL. */
static const char *error_field(const allot_reply *r, const char *key)
{
	if (r == NULL || r->error == NULL || r->error->type == ALLOT_T_NIL)
		return NULL;
	const allot_value *v = allot_value_get(r->error, key);
	return v != NULL && v->type == ALLOT_T_STR ? v->via.s : NULL;
}

const char *allot_reply_error_code(const allot_reply *r)
{
	return error_field(r, "code");
}

const char *allot_reply_error_message(const allot_reply *r)
{
	return error_field(r, "message");
}

const char *allot_reply_method(const allot_reply *r)
{
	return r != NULL ? r->method : NULL;
}

const allot_value *allot_reply_params(const allot_reply *r)
{
	return r != NULL ? r->params : NULL;
}

const void *allot_reply_raw(const allot_reply *r, size_t *len)
{
	if (len != NULL)
		*len = r != NULL ? r->raw_len : 0;
	return r != NULL ? r->raw : NULL;
}

void allot_reply_free(allot_reply *r)
{
	free(r);
}
