/*
 * fuzz_json.c - the CLI's JSON params into MessagePack, and replies back.
 *
 * `allot METHOD 'JSON'` parses its argument with cli_json_parse_args() and
 * builds the request with cli_json_build() (tools/cli_json.c); the reply,
 * read by liballot, comes back through cli_json_from_value(). Here the
 * tests' adapter (tests/compat/rpc_client.h) reaches them as
 * allot_json_parse_params(), allot_json_pack() and
 * allot_json_from_msgpack(), which go through the same code. The input is
 * the argument's text, cut at its first NUL as argv is.
 *
 * Checked: text refused says why; params that parse pack into exactly one
 * MessagePack value, which the engine's scanner (mp_scan) takes whole
 * unless nested deeper than it tracks; msgpack-c unpacks it and it turns
 * back into JSON equal to the params (json_equal), unless msgpack-c's own
 * nesting limit refuses it. The input's bytes are also read as a reply,
 * framed as the client frames one: whatever msgpack-c unpacks must become
 * JSON that jansson can print. And the input's bytes go to liballot's
 * reply decoder (allot_reply_parse()) as they are, and as the result of a
 * response: whatever the scanner frames as one message, the decoder takes,
 * keeping its bytes, and its values turn into JSON.
 */
#include "fuzz.h"
#include "mp.h"

#include "rpc_client.h"
#include <string.h>

/* How deep v nests: a scalar is 1. */
static int json_depth(json_t *v)
{
	int deepest = 0;
	if (json_is_object(v)) {
		const char *key;
		json_t *val;
		json_object_foreach(v, key, val) {
			int d = json_depth(val);
			deepest = d > deepest ? d : deepest;
		}
	} else if (json_is_array(v)) {
		size_t i;
		json_t *val;
		json_array_foreach(v, i, val) {
			int d = json_depth(val);
			deepest = d > deepest ? d : deepest;
		}
	}
	return deepest + 1;
}

/* The packed params, unpacked by msgpack-c, must be the params again. */
static void check_unpacks_back(json_t *params, const msgpack_sbuffer *sbuf)
{
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	size_t off = 0;
	if (msgpack_unpack_next(&u, sbuf->data, sbuf->size, &off) == MSGPACK_UNPACK_SUCCESS) {
		FUZZ_CHECK(off == sbuf->size, "msgpack-c read %zu of %zu bytes", off, sbuf->size);
		json_t *back = allot_json_from_msgpack(&u.data);
		FUZZ_CHECK(back != NULL, "allot_json_from_msgpack: out of memory");
		if (!json_equal(params, back)) {
			char *a = json_dumps(params, JSON_ENCODE_ANY), *b = json_dumps(back, JSON_ENCODE_ANY);
			FUZZ_CHECK(0, "params came back otherwise:\n%s\n%s", a ? a : "?", b ? b : "?");
		}
		json_decref(back);
	} else {
		FUZZ_CHECK(json_depth(params) > 32, "msgpack-c refuses params nested %d deep",
		    json_depth(params));
	}
	msgpack_unpacked_destroy(&u);
}

static void params_to_msgpack(const char *text)
{
	json_t *params = NULL;
	char err[256] = "";
	int parsed = allot_json_parse_params(text, &params, err, sizeof(err));
	if (fuzz_verbose())
		fprintf(stderr, "json: %s\n", parsed == ALLOT_CLIENT_OK ? "params" : err);
	if (parsed != ALLOT_CLIENT_OK) {
		FUZZ_CHECK(err[0] != '\0', "params refused without a reason");
		return;
	}
	if (params == NULL)
		return; /* blank: no params */
	msgpack_sbuffer sbuf;
	msgpack_sbuffer_init(&sbuf);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
	int rc = allot_json_pack(&pk, params, err, sizeof(err));
	int depth = json_depth(params);
	if (rc != ALLOT_CLIENT_OK) {
		FUZZ_CHECK(depth > ALLOT_JSON_DEPTH_MAX && err[0], "params refused: %s", err);
	} else {
		mp_limits any = { .frame_bytes_max = SIZE_MAX, .depth_max = MP_DEPTH_HARD_MAX,
			.array_max = UINT32_MAX, .map_max = UINT32_MAX, .str_max = UINT32_MAX };
		size_t len = 0;
		const char *why = NULL;
		int scanned = mp_scan((const uint8_t *)sbuf.data, sbuf.size, &any, &len, &why);
		FUZZ_CHECK((scanned == MP_OK && len == sbuf.size) ||
		    (scanned == MP_ERR_TOO_LARGE && depth > MP_DEPTH_HARD_MAX),
		    "packed params do not scan as one value: %d (%s), %zu of %zu bytes, depth %d",
		    scanned, why ? why : "-", len, sbuf.size, depth);
		check_unpacks_back(params, &sbuf);
	}
	msgpack_sbuffer_destroy(&sbuf);
	json_decref(params);
}

/* The input's bytes as a reply's value: framed by the scanner first, as
 * the client frames a reply before msgpack-c sees it (msgpack-c trusts a
 * header's element count and allocates for it). */
static void msgpack_to_json(const uint8_t *data, size_t size)
{
	mp_limits frame = { .frame_bytes_max = size, .depth_max = MP_DEPTH_HARD_MAX,
		.array_max = UINT32_MAX, .map_max = UINT32_MAX, .str_max = UINT32_MAX };
	size_t len = 0;
	if (mp_scan(data, size, &frame, &len, NULL) != MP_OK)
		return;
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	size_t off = 0;
	if (msgpack_unpack_next(&u, (const char *)data, len, &off) == MSGPACK_UNPACK_SUCCESS) {
		json_t *j = allot_json_from_msgpack(&u.data);
		FUZZ_CHECK(j != NULL, "allot_json_from_msgpack gave nothing");
		char *text = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
		FUZZ_CHECK(text != NULL, "a reply turned into JSON jansson cannot print");
		free(text);
		json_decref(j);
	}
	msgpack_unpacked_destroy(&u);
}

/* Decode r's parts into JSON jansson can print. */
static void reply_prints(const allot_reply *r)
{
	const allot_value *parts[] = { allot_reply_error(r), allot_reply_result(r),
		allot_reply_params(r) };
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		json_t *j = cli_json_from_value(parts[i]);
		FUZZ_CHECK(j != NULL, "cli_json_from_value gave nothing");
		char *text = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
		FUZZ_CHECK(text != NULL, "a reply's value turned into JSON jansson cannot print");
		free(text);
		json_decref(j);
	}
}

/* The input as a message for liballot, then wrapped as a response's result. */
static void liballot_decodes(const uint8_t *data, size_t size)
{
	allot_reply *r = NULL;
	if (allot_reply_parse(data, size, &r) == ALLOT_OK) {
		size_t raw_len = 0;
		const void *raw = allot_reply_raw(r, &raw_len);
		FUZZ_CHECK(raw_len == size && memcmp(raw, data, size) == 0, "the raw bytes differ");
		reply_prints(r);
	} else {
		FUZZ_CHECK(r == NULL, "a refused message still handed out a reply");
	}
	allot_reply_free(r);

	mp_limits any = { .frame_bytes_max = SIZE_MAX, .depth_max = MP_DEPTH_HARD_MAX,
		.array_max = UINT32_MAX, .map_max = UINT32_MAX, .str_max = UINT32_MAX };
	size_t len = 0;
	if (mp_scan(data, size, &any, &len, NULL) != MP_OK)
		return;
	allot_builder *b = allot_builder_create();
	FUZZ_CHECK(b != NULL, "out of memory");
	allot_put_array(b, 4);
	allot_put_uint(b, 1);
	allot_put_uint(b, 9);
	allot_put_nil(b);
	allot_put_raw(b, data, len);
	size_t msg_len = 0;
	const uint8_t *msg = allot_builder_data(b, &msg_len);
	size_t scanned = 0;
	if (mp_scan(msg, msg_len, &any, &scanned, NULL) == MP_OK) {
		r = NULL;
		FUZZ_CHECK(allot_reply_parse(msg, msg_len, &r) == ALLOT_OK,
		    "a response the scanner frames is refused by liballot");
		FUZZ_CHECK(allot_reply_msgid(r) == 9, "msgid lost");
		reply_prints(r);
		allot_reply_free(r);
	}
	allot_builder_destroy(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n = strnlen((const char *)data, size);
	char *text = fuzz_xmalloc(n + 1);
	memcpy(text, data, n);
	text[n] = '\0';
	params_to_msgpack(text);
	free(text);
	msgpack_to_json(data, size);
	liballot_decodes(data, size);
	return 0;
}
