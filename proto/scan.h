/*
 * scan.h - stock.scan on the wire: its params and the shape of its reply,
 * {records: [record, ...], cursor}.
 */
#ifndef ALLOT_PROTO_SCAN_H
#define ALLOT_PROTO_SCAN_H

#include "core.h"
#include "mp.h"
#include "params.h"

#include <stddef.h>

/* {cursor?, count?, sku_prefix?} into q (count defaults to
 * CORE_SCAN_COUNT_DEFAULT). 0, or -1 with p's error (BAD_REQUEST). */
int scan_decode(params *p, core_scan_cmd *q);

/* The result map's head, up to the records' array header, which is
 * written at its widest so its count can be set afterwards: returns where
 * it is, for encode_scan_tail(). */
size_t encode_scan_head(mp_buf *out);
/* The records' count into the header at `at`, then the cursor. */
void encode_scan_tail(mp_buf *out, size_t at, const core_scan_page *page);

#endif
