/*
 * replay.h - `allot replay`'s parts: two worlds replayed side by side from
 * the recorded history (replay_world.c), the command line and the driver
 * (replay.c), and the report as a table, JSON or HTML (replay_report.c).
 */
#ifndef ALLOT_TOOLS_REPLAY_H
#define ALLOT_TOOLS_REPLAY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core.h"
#include "journal.h"

/* Locations a report names at most (the rest are summed as "other"). */
#define REPLAY_LOCATIONS_MAX 1024
/* Shipments per order counted one by one up to this; more are counted
 * with it. */
#define REPLAY_SHIPMENTS_HIST 16

/* A world's account of the demand re-run: API.md's S. */
typedef struct replay_stats {
	uint64_t orders, held, out_of_stock, short_units, backordered_units, shipments, split_orders;
	double km, cost;
	uint32_t nlocations;
	char locations[REPLAY_LOCATIONS_MAX][CORE_NAME_MAX + 1];
	uint64_t units[REPLAY_LOCATIONS_MAX];
	uint64_t other_units;             /* beyond REPLAY_LOCATIONS_MAX names */
	uint64_t by_shipments[REPLAY_SHIPMENTS_HIST + 1]; /* held orders by shipments */
	uint64_t refused_other;           /* what-if refusals other than OUT_OF_STOCK */
	uint64_t skipped;                 /* recorded changes that did not apply here */
} replay_stats;

/* The routing overrides of the what-if world. */
typedef struct replay_overrides {
	bool has_strategy;
	core_strategy strategy;
	bool has_split;
	core_split split;
	bool has_max_shipments;
	uint32_t max_shipments;
	json_t *locations;                /* location.put params, applied at T1 */
} replay_overrides;

typedef struct replay_world replay_world;

/* A world over core c (it owns c from now on). recorded: every record as
 * it was; else the what-if world with ov. NULL without memory. */
replay_world *replay_world_create(core *c, bool recorded, const replay_overrides *ov);
void replay_world_destroy(replay_world *w);
/* Apply a record. counting: it is inside [T1, T2] (its reserves are
 * re-run and counted). recorded_id: for a reserve, the id the recorded
 * world gave it (replay_world_last_made() of that world). 0, or -1 with
 * why (a recorded change that does not apply to the recorded world). */
int replay_world_apply(replay_world *w, uint64_t lsn, const journal_entry *e, bool counting,
    uint64_t recorded_id, char *why, size_t why_len);
/* The id of the reservation the last reserve applied made, 0 when none. */
uint64_t replay_world_last_made(const replay_world *w);
/* Apply the --locations overrides at now_ms. 0 or -1 with why. */
int replay_world_locations(replay_world *w, int64_t now_ms, char *why, size_t why_len);
const replay_stats *replay_world_stats(const replay_world *w);
core *replay_world_core(replay_world *w);

/* The report. */
void replay_print_table(FILE *out, const replay_stats *rec, const replay_stats *what,
    int64_t from_ms, int64_t to_ms);
json_t *replay_json_of(const replay_stats *s);
int replay_write_html(const char *path, const replay_stats *rec, const replay_stats *what,
    int64_t from_ms, int64_t to_ms, const char *overrides_text);

#endif
