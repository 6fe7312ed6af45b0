/*
 * scan.c - stock.scan's params and reply (see scan.h; the scan itself is
 * the core's, engine/core/scan.c).
 */
#include "scan.h"

#include <allot/protocol.h>
#include <assert.h>

_Static_assert(ALLOT_SCAN_COUNT_MAX == CORE_SCAN_COUNT_MAX, "stock.scan's largest count");
_Static_assert(ALLOT_SCAN_COUNT_DEFAULT == CORE_SCAN_COUNT_DEFAULT, "stock.scan's default count");

int scan_decode(params *p, core_scan_cmd *q)
{
	core_str key;
	int64_t cursor = 0, count = CORE_SCAN_COUNT_DEFAULT;
	*q = (core_scan_cmd){ 0 };
	while (params_next(p, &key)) {
		int rc = 0;
		if (key_is(key, "cursor"))
			rc = params_int(p, "cursor", &cursor);
		else if (key_is(key, "count"))
			rc = params_count(p, "count", CORE_SCAN_COUNT_MAX, &count);
		else if (key_is(key, "sku_prefix"))
			rc = params_str(p, "sku_prefix", &q->sku_prefix);
		else
			params_skip(p);
		if (rc)
			return -1;
	}
	if (cursor < 0)
		return params_fail(p, CORE_E_BAD_REQUEST,
		    "cursor: must be 0 or a cursor stock.scan returned");
	if (count < 1)
		return params_fail(p, CORE_E_BAD_REQUEST, "count: must be 1 to %d",
		    CORE_SCAN_COUNT_MAX);
	q->cursor = (uint64_t)cursor;
	q->count = (uint32_t)count;
	return 0;
}

/* An array32 header: 0xdd and a big-endian count, 5 bytes. */
#define ARRAY32_TAG 0xdd
#define ARRAY32_BYTES 5

size_t encode_scan_head(mp_buf *out)
{
	static const uint8_t header[ARRAY32_BYTES] = { ARRAY32_TAG, 0, 0, 0, 0 };
	mp_write_map(out, 2);
	mp_write_lit(out, "records");
	size_t at = out->len;
	mp_write_raw(out, header, sizeof(header));
	return at;
}

void encode_scan_tail(mp_buf *out, size_t at, const core_scan_page *page)
{
	if (mp_buf_failed(out))
		return; /* the caller sees the failure */
	assert(at + ARRAY32_BYTES <= out->len && out->data[at] == ARRAY32_TAG);
	uint32_t n = page->count;
	out->data[at + 1] = (uint8_t)(n >> 24);
	out->data[at + 2] = (uint8_t)(n >> 16);
	out->data[at + 3] = (uint8_t)(n >> 8);
	out->data[at + 4] = (uint8_t)n;
	mp_write_lit(out, "cursor");
	mp_write_uint(out, page->cursor);
}
