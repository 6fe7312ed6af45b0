/*
 * journal.h - journal records: what changed the core, in MessagePack.
 *
 * The core is deterministic: the same commands at the same times give the
 * same state, whatever reads ran in between (they only expire holds, which
 * the next command would expire too). So the journal records inputs, not
 * effects: each successful command with the core's time when it ran, and
 * each sweep that did work (it forgets finished reservations, which no
 * command does). Replaying the records in order into a core restored from
 * the snapshot they follow rebuilds the state exactly.
 *
 * A record is one MessagePack array, positional to stay small:
 *   [type, now_ms, field, ...]
 * with type a core_cmd_type, or JOURNAL_SWEEP for
 * [type, now_ms, reservations forgotten, keys forgotten].
 * Absent optional strings are nil. Lines are a flat array
 * [sku, qty, sku, qty, ...]. See proto/PROTOCOL.md, "Journal records".
 */
#ifndef ALLOT_PROTO_JOURNAL_H
#define ALLOT_PROTO_JOURNAL_H

#include "core.h"
#include "mp.h"

#define JOURNAL_SWEEP 100

typedef struct journal_entry {
	int type;        /* a core_cmd_type, or JOURNAL_SWEEP */
	int64_t now_ms;
	core_cmd cmd;    /* when type is a command */
	core_str tags[CORE_TAGS_MAX]; /* location.put's tags point here */
	uint32_t forgot_reservations; /* JOURNAL_SWEEP */
	uint32_t forgot_keys;
} journal_entry;

/* Append the record of a command that succeeded at now_ms. */
void journal_encode_cmd(mp_buf *out, const core_cmd *cmd, int64_t now_ms);
/* Append the record of a sweep that forgot something (core_sweep_forgot). */
void journal_encode_sweep(mp_buf *out, int64_t now_ms, uint32_t reservations, uint32_t keys);

/* Where a decoded record's lists go: lines (lines_max of them) and names
 * (a channel's locations: locations_max of them). */
typedef struct journal_scratch {
	core_line_req *lines;
	uint32_t lines_cap;
	core_str *names;
	uint32_t names_cap;
} journal_scratch;

/*
 * Decode one record (a whole MessagePack value, already bounded by
 * mp_scan). Strings point into buf; lines and names are written to the
 * scratch. Returns 0, or -1 with *err naming what is wrong; never reads
 * past len.
 */
int journal_decode(const uint8_t *buf, size_t len, journal_entry *e,
    const journal_scratch *scratch, const char **err);

/* Apply a decoded entry to a core, as it was applied when recorded. */
int journal_apply(core *c, const journal_entry *e, core_error *err);

#endif
