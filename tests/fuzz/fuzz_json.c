/*
 * fuzz_json.c - the CLI's JSON params into MessagePack, and replies back.
 *
 * `allot METHOD 'JSON'` parses its argument with allot_json_parse_params()
 * and packs it into the request with allot_json_pack() (proto/client/
 * json.c); the reply comes back through allot_json_from_msgpack(). The
 * input is the argument's text, cut at its first NUL as argv is.
 *
 * Checked: text refused says why; params that parse pack into exactly one
 * MessagePack value, which the engine's scanner (mp_scan) takes whole
 * unless nested deeper than it tracks; msgpack-c unpacks it and it turns
 * back into JSON equal to the params (json_equal), unless msgpack-c's own
 * nesting limit refuses it. The input's bytes are also read as a reply,
 * framed as the client frames one: whatever msgpack-c unpacks must become
 * JSON that jansson can print.
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n = strnlen((const char *)data, size);
	char *text = fuzz_xmalloc(n + 1);
	memcpy(text, data, n);
	text[n] = '\0';
	params_to_msgpack(text);
	free(text);
	msgpack_to_json(data, size);
	return 0;
}
