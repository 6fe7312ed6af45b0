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
 *   [kind, now_ms, who, field, ...]      (durable format 2)
 *   [kind, now_ms, field, ...]           (durable format 1)
 * with kind a journal_kind below and who the token NAME of the caller that
 * made the change ("-" without tokens; nil for the engine's own sweep).
 * The batch a record is in says its format (durable.h). Absent optional
 * strings are nil. Lines are a flat array [sku, qty, sku, qty, ...]. See
 * proto/PROTOCOL.md, "Journal records".
 *
 * The numbers written to Redis are this file's, never a cast of a core
 * enum: record kinds, strategies and splits map to the core's enums
 * through tables in journal.c, and _Static_asserts there fail the build
 * when the core gains a command or strategy the format has no number for.
 */
#ifndef ALLOT_PROTO_JOURNAL_H
#define ALLOT_PROTO_JOURNAL_H

#include "core.h"
#include "mp.h"

#include <stdbool.h>

/* Record kinds as stored. Never renumber one: journals in Redis hold them. */
typedef enum journal_kind {
	JOURNAL_KIND_STOCK_SET = 1,
	JOURNAL_KIND_STOCK_ADJUST = 2,
	JOURNAL_KIND_RESTOCK = 3,
	JOURNAL_KIND_RESERVE = 4,
	JOURNAL_KIND_COMMIT = 5,
	JOURNAL_KIND_RELEASE = 6,
	JOURNAL_KIND_FULFILL = 7,
	JOURNAL_KIND_EXTEND = 8,
	JOURNAL_KIND_LOCATION_PUT = 9,
	JOURNAL_KIND_CHANNEL_PUT = 10,
	JOURNAL_KIND_SKU_PUT = 11,
	JOURNAL_KIND_INBOUND_ADD = 12,
	JOURNAL_KIND_INBOUND_RECEIVE = 13, /* durable format 3 */
	JOURNAL_KIND_SWEEP = 100,
} journal_kind;

/* The highest kind number; also bounds what the decoder reads as a kind. */
#define JOURNAL_KIND_MAX JOURNAL_KIND_SWEEP
/* The old name of the sweep kind. */
#define JOURNAL_SWEEP JOURNAL_KIND_SWEEP

/* A reserve record's strategy and split, as stored. */
enum {
	JOURNAL_STRATEGY_PRIORITY = 0,
	JOURNAL_STRATEGY_NEAREST = 1,
	JOURNAL_STRATEGY_CHEAPEST = 2,
	JOURNAL_STRATEGY_MOST_STOCK = 3,
	JOURNAL_STRATEGY_MAX = JOURNAL_STRATEGY_MOST_STOCK,
};
enum {
	JOURNAL_SPLIT_UNITS = 0,
	JOURNAL_SPLIT_LINES = 1,
	JOURNAL_SPLIT_NONE = 2,
	JOURNAL_SPLIT_MAX = JOURNAL_SPLIT_NONE,
};

/* The record kind of a core command, or 0 for none (not a core_cmd_type). */
journal_kind journal_kind_of_cmd(core_cmd_type type);
/* The core command a record kind replays: true with *out, or false for the
 * sweep and unknown kinds. */
bool journal_cmd_of_kind(journal_kind kind, core_cmd_type *out);
/* The method that makes records of kind ("stock.set", ...; "sweep"), or
 * NULL for an unknown kind. */
const char *journal_kind_name(journal_kind kind);

/* The longest who a record may name (a token NAME). */
#define JOURNAL_WHO_MAX 64

typedef struct journal_entry {
	journal_kind kind;
	int64_t now_ms;
	core_str who;    /* {NULL, 0}: not recorded (format 1, or a sweep) */
	core_cmd cmd;    /* when kind is a command's */
	core_str tags[CORE_TAGS_MAX]; /* location.put's tags point here */
	uint32_t forgot_reservations; /* JOURNAL_KIND_SWEEP */
	uint32_t forgot_keys;
} journal_entry;

/* Append the record of a command that succeeded at now_ms, made by who
 * (at most JOURNAL_WHO_MAX bytes), in the current format. */
void journal_encode_cmd(mp_buf *out, const core_cmd *cmd, int64_t now_ms, core_str who);
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
 * mp_scan) written in durable format `format` (its batch's). Strings point
 * into buf; lines and names are written to the scratch. Returns 0, or -1
 * with *err naming what is wrong; never reads past len.
 */
int journal_decode_format(const uint8_t *buf, size_t len, uint32_t format, journal_entry *e,
    const journal_scratch *scratch, const char **err);
/* journal_decode_format() in the current format, DURABLE_FORMAT. */
int journal_decode(const uint8_t *buf, size_t len, journal_entry *e,
    const journal_scratch *scratch, const char **err);

/* Running a decoded entry is the engine's: engine/replay.h. */

#endif
