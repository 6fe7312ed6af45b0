/*
 * core.h - allot's pure allocation core.
 *
 * The core owns inventory and reservations. It does no I/O, reads no clock
 * and knows nothing of MessagePack or libuv: time comes in as now_ms, every
 * mutation goes through core_exec(), and a failed command leaves the state
 * exactly as it was. One thread owns a core; nothing here locks.
 *
 * An optional string that was not given has p == NULL; a given one, even
 * empty, has p != NULL and is checked.
 *
 * Strings given to the core (core_str) are borrowed for the duration of the
 * call; the core copies what it keeps. Pointers the core hands back (records,
 * reservations, names) stay valid until the next call that mutates the core
 * (core_exec, core_advance, core_sweep).
 */
#ifndef ALLOT_CORE_H
#define ALLOT_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct core core;

typedef struct core_str {
	const char *p;
	uint32_t len;
} core_str;

/* The defaults core_config_default() gives the limits that are also the
 * contract's (include/allot/protocol.h's ALLOT_DEFAULT_*, tied to these by
 * _Static_assert in proto/command.c). */
#define CORE_DEFAULT_LINES_MAX 100
#define CORE_DEFAULT_TTL_MS 900000LL       /* 15 minutes */
#define CORE_DEFAULT_TTL_MAX_MS 86400000LL /* 24 hours */

/* Limits and defaults; core_config_default() fills every field. */
typedef struct core_config {
	uint64_t hash_seed;          /* randomise hash tables against flooding */
	uint32_t lines_max;          /* lines per order */
	uint32_t skus_max;           /* distinct skus */
	uint32_t locations_max;      /* distinct locations (< 65535) */
	uint32_t reservations_max;   /* reservations kept, live and finished */
	uint32_t idempotency_max;    /* idempotency keys remembered */
	int64_t ttl_default_ms;
	int64_t ttl_max_ms;
	int64_t retain_ms;           /* finished reservations stay readable */
	uint32_t id_epoch;           /* high half of reservation ids */
} core_config;

/* Error codes; core_strerror() gives the wire name. */
enum core_code {
	CORE_OK = 0,
	CORE_E_BAD_REQUEST = -1,
	CORE_E_NOT_FOUND = -2,
	CORE_E_OUT_OF_STOCK = -3,
	CORE_E_CONFLICT = -4,
	CORE_E_INVALID_STATE = -5,
	CORE_E_LIMIT_EXCEEDED = -6,
	CORE_E_TOO_LARGE = -7,
	CORE_E_BUSY = -8,
};

/* Bounds of the model, fixed by the contract. */
#define CORE_NAME_MAX 64
#define CORE_CHANNEL_MAX 32
#define CORE_ORDER_ID_MAX 128
#define CORE_CUSTOMER_ID_MAX 128
#define CORE_KEY_MAX 128
#define CORE_REASON_MAX 256
#define CORE_QTY_MAX 2147483647LL
#define CORE_RESERVATION_ID_LEN 18 /* "r-" + 16 hex digits */
#define CORE_TAGS_MAX 16           /* tags per location */
#define CORE_CHANNELS_MAX 256      /* channels configured with channel.put */
#define CORE_INBOUND_PER_SKU_MAX 64 /* inbound entries of one sku */
#define CORE_INBOUND_MAX 1000000   /* inbound entries in all */
#define CORE_REF_MAX 64            /* an inbound entry's ref */
/* Reservations one inbound.receive may fill (its reply lists each); a
 * receipt that would fill more is TOO_LARGE: receive fewer units at once. */
#define CORE_RECEIVE_FILLS_MAX 10000
/* Entries inbound.list answers at most; beyond, TOO_LARGE: name a sku. */
#define CORE_INBOUND_LIST_MAX 10000
#define CORE_TAG_MAX 32            /* bytes per tag */
#define CORE_COST_MAX 1e9          /* cost and cost_per_km of a location */
#define CORE_MAX_SHIPMENTS_MAX 65535
#define CORE_EARTH_RADIUS_KM 6371.0088
/* The planner searches every combination of usable locations when there
 * are at most this many, and chooses greedily beyond. */
#define CORE_PLAN_EXACT_MAX 16

/* One line the core could not cover, for OUT_OF_STOCK. */
typedef struct core_short_line {
	core_str sku;
	int64_t requested;
	int64_t available;
} core_short_line;

/*
 * What went wrong. message is a full sentence naming the field; for
 * OUT_OF_STOCK, short_lines[0..nshort) lists every short line (the array is
 * owned by the core and valid until the next call); for CONFLICT on
 * if_version, version is the record's current version.
 */
typedef struct core_error {
	int code;
	char message[200];
	uint32_t nshort;
	const core_short_line *short_lines;
	uint64_t version;
} core_error;

const char *core_strerror(int code);

/* The contract's rule for names: 1..max bytes, no control characters. */
bool core_name_valid(core_str s, uint32_t max);
/* Free text (reasons): 0..max bytes, no control characters. */
bool core_text_valid(core_str s, uint32_t max);

/* ---- Read-only views of state ----------------------------------------- */

typedef struct core_record_view {
	core_str sku;
	core_str location;
	int64_t on_hand;
	int64_t reserved;
	int64_t committed;
	int64_t safety;
	int64_t available; /* max(0, on_hand - reserved - committed - safety) */
	int64_t oversold;  /* max(0, reserved + committed - on_hand) */
	uint64_t version;
	int64_t incoming;  /* units inbound entries expect here, not yet received */
} core_record_view;

typedef enum core_resv_status {
	CORE_RESV_HELD = 0,
	CORE_RESV_COMMITTED,
	CORE_RESV_FULFILLED,
	CORE_RESV_RELEASED,
	CORE_RESV_EXPIRED,
} core_resv_status;

const char *core_resv_status_name(core_resv_status s);

typedef struct core_resv core_resv;

/* A reservation as the wire shows it. */
typedef struct core_resv_view {
	char id[CORE_RESERVATION_ID_LEN + 1];
	core_str order_id;
	core_resv_status status;
	int64_t expires_at_ms; /* -1 once committed or finished without a deadline */
	uint32_t nlines;
} core_resv_view;

typedef struct core_line_view {
	core_str sku;
	int64_t qty;       /* requested */
	int64_t short_qty; /* requested but not held (allow_partial) */
	int64_t released;  /* units released since */
	int64_t fulfilled; /* units fulfilled since */
	int64_t backordered; /* of qty, held against inbound stock (as reserve gave them) */
	uint32_t nallocs;  /* on-hand allocations first, then backorders */
} core_line_view;

typedef struct core_alloc_view {
	core_str location;
	int64_t qty; /* still allocated: held, committed, or as at expiry */
	bool backorder; /* held against inbound stock at the location */
} core_alloc_view;

void core_resv_view_get(const core *c, const core_resv *r, core_resv_view *out);
void core_resv_line_get(const core *c, const core_resv *r, uint32_t i, core_line_view *out);
void core_resv_alloc_get(const core *c, const core_resv *r, uint32_t line,
    uint32_t i, core_alloc_view *out);
/* The reply reserve gave when the reservation was made (for idempotent
 * retries): original status held, original deadline and allocations. */
void core_resv_view_original(const core *c, const core_resv *r, core_resv_view *out);
int64_t core_resv_alloc_original_qty(const core_resv *r, uint32_t line, uint32_t i);

/* ---- Commands ---------------------------------------------------------- */

typedef enum core_cmd_type {
	CORE_CMD_STOCK_SET = 1,
	CORE_CMD_STOCK_ADJUST,
	CORE_CMD_RESTOCK,
	CORE_CMD_RESERVE,
	CORE_CMD_COMMIT,
	CORE_CMD_RELEASE,
	CORE_CMD_FULFILL,
	CORE_CMD_EXTEND,
	CORE_CMD_LOCATION_PUT,
	CORE_CMD_CHANNEL_PUT,
	CORE_CMD_SKU_PUT,
	CORE_CMD_INBOUND_ADD,
	CORE_CMD_INBOUND_RECEIVE,
} core_cmd_type;
#define CORE_CMD_LAST CORE_CMD_INBOUND_RECEIVE

typedef struct core_line_req {
	core_str sku;
	int64_t qty;
} core_line_req;

typedef struct core_stock_cmd {
	core_str sku;
	core_str location;
	int64_t on_hand;    /* stock.set */
	int64_t safety;     /* stock.set; -1 keeps the current value */
	int64_t if_version; /* stock.set, stock.adjust; -1 when absent, 0 = must not exist */
	int64_t delta;      /* stock.adjust; restock's qty */
	core_str reason;
	core_str idempotency_key; /* stock.adjust */
} core_stock_cmd;

typedef enum core_strategy {
	CORE_STRATEGY_PRIORITY = 0, /* location priority ascending, then name */
	CORE_STRATEGY_NEAREST,      /* great-circle distance to ship_to */
	CORE_STRATEGY_CHEAPEST,     /* cost + distance_km * cost_per_km */
	CORE_STRATEGY_MOST_STOCK,   /* available units of the order's skus, descending */
} core_strategy;
#define CORE_STRATEGY_LAST CORE_STRATEGY_MOST_STOCK

/* Wire names ("priority", ...); NULL for an unknown value. */
const char *core_strategy_name(core_strategy s);
const char *core_split_name(int split);

typedef enum core_split {
	CORE_SPLIT_UNITS = 0,
	CORE_SPLIT_LINES,
	CORE_SPLIT_NONE,
} core_split;

typedef struct core_reserve_cmd {
	core_str order_id;
	const core_line_req *lines;
	uint32_t nlines;
	core_str channel;     /* p == NULL: none */
	core_str customer_id; /* p == NULL: none */
	int64_t ttl_ms;       /* -1: the default */
	core_strategy strategy;
	core_split split;
	uint32_t max_shipments; /* 0: no cap */
	bool allow_partial;
	core_str idempotency_key;
	bool has_ship_to;
	double ship_lat, ship_lon; /* degrees, when has_ship_to */
	bool allow_backorder;
	/* Keep what core_explain_*() reads after the call. Not journaled: it
	 * changes no state. */
	bool explain;
} core_reserve_cmd;

/* location.put: what is given changes, the rest stays. */
typedef struct core_location_cmd {
	core_str location;
	bool has_coords;
	double lat, lon;        /* degrees */
	bool has_priority;
	int64_t priority;       /* int32 range */
	bool has_cost;
	double cost;            /* per shipment */
	bool has_cost_per_km;
	double cost_per_km;
	int64_t capacity;       /* -1: not given; else 0..2^31-1 open shipments */
	int enabled;            /* -1: not given, 0, 1 */
	bool has_tags;
	uint32_t ntags;
	const core_str *tags;
} core_location_cmd;

typedef struct core_resv_cmd {
	core_str reservation_id;
	const core_line_req *lines; /* release/fulfill: NULL for the whole */
	uint32_t nlines;
	int64_t ttl_ms;             /* extend */
} core_resv_cmd;

/* channel.put: what is given changes, the rest stays. */
typedef struct core_channel_cmd {
	core_str channel;
	bool has_locations;       /* locations[0..nlocations) replace the list */
	uint32_t nlocations;
	const core_str *locations;
	bool all_locations;       /* every location, now and later */
	int64_t buffer;           /* -1: not given */
} core_channel_cmd;

/* sku.put: what is given changes (0: no limit), the rest stays. */
typedef struct core_sku_cmd {
	core_str sku;
	int64_t per_order;        /* -1: not given */
	int64_t per_customer;
	int64_t low_stock;
} core_sku_cmd;

/* inbound.add: units expected at a location; inbound.receive: units
 * arrived there (eta_ms unused). */
typedef struct core_inbound_cmd {
	core_str sku;
	core_str location;
	int64_t qty;              /* 1..2^31-1 */
	int64_t eta_ms;           /* 0..: when they are expected */
	core_str ref;             /* p == NULL: none */
} core_inbound_cmd;

/* Units of a backorder a receipt turned into an allocation on hand. The
 * pointer is valid as the result's are. */
typedef struct core_fill {
	const core_resv *resv;
	int64_t qty;
} core_fill;

typedef struct core_cmd {
	core_cmd_type type;
	union {
		core_stock_cmd stock;
		core_reserve_cmd reserve;
		core_resv_cmd resv;
		core_location_cmd location;
		core_channel_cmd channel;
		core_sku_cmd sku;
		core_inbound_cmd inbound;
	} u;
} core_cmd;

/* An inbound entry: expected units, and how many backorders hold. */
typedef struct core_inbound_view {
	core_str sku;
	core_str location;
	int64_t qty;
	int64_t eta_ms;
	core_str ref;             /* p == NULL: none */
	int64_t backordered;      /* held or committed by backorders */
} core_inbound_view;

typedef struct core_channel core_channel;

/* A channel: the locations that serve it (all, or a list) and its buffer. */
typedef struct core_channel_view {
	core_str name;
	bool all_locations;
	uint32_t nlocations;      /* when not all */
	int64_t buffer;
} core_channel_view;

/* A sku's policy; 0 is "none". */
typedef struct core_sku_view {
	core_str sku;
	int64_t per_order, per_customer, low_stock;
} core_sku_view;

/* A location and its routing attributes. */
typedef struct core_location_view {
	core_str name;
	bool has_coords;
	double lat, lon;
	int32_t priority;
	double cost, cost_per_km;
	int64_t capacity;         /* -1: none */
	bool enabled;
	uint32_t open_shipments;  /* held or committed reservations using it */
	uint32_t ntags;
	core_str tags[CORE_TAGS_MAX];
} core_location_view;

typedef enum core_result_kind {
	CORE_RESULT_RECORD = 0,
	CORE_RESULT_RESV,
	CORE_RESULT_LOCATION,
	CORE_RESULT_CHANNEL,
	CORE_RESULT_SKU,
	CORE_RESULT_INBOUND,
	CORE_RESULT_RECEIPT,      /* inbound.receive: record and fills */
} core_result_kind;

/* What a successful command produced. */
typedef struct core_result {
	core_result_kind kind;
	core_record_view record; /* stock commands */
	const core_resv *resv;   /* reservation commands */
	core_location_view location; /* location.put */
	const core_channel *channel; /* channel.put */
	core_sku_view sku;       /* sku.put */
	core_inbound_view inbound; /* inbound.add */
	const core_fill *fills;  /* inbound.receive: by reservation, earliest first */
	uint32_t nfills;
	bool replayed;           /* an idempotent retry: the first reply again */
} core_result;

/* ---- Life cycle -------------------------------------------------------- */

void core_config_default(core_config *cfg);
/* NULL on allocation failure. The config is copied. */
core *core_create(const core_config *cfg);
void core_destroy(core *c);
const core_config *core_get_config(const core *c);

/*
 * Move the core's clock to now_ms (it never goes back) and expire every hold
 * whose deadline has passed, so that the very next request sees their units
 * available. Call before every request. Returns the number expired.
 *
 * It does a bounded amount of work however many holds fall due: past a few
 * dozen, they count as expired at once (every read and command sees them
 * expired) and core_sweep() sweeps them later; see core_expiry_backlog().
 */
uint32_t core_advance(core *c, int64_t now_ms);

/*
 * Bounded background work for a periodic timer: sweep expired holds (those
 * core_advance() left, first), expire due holds and forget finished
 * reservations past their retention, at most budget items in all.
 * Allocates nothing. Returns the items done; less than budget means caught up.
 */
uint32_t core_sweep(core *c, int64_t now_ms, uint32_t budget);

/* Holds that count as expired but are not swept yet: the sweep's backlog. */
uint64_t core_expiry_backlog(const core *c);

/* The core's clock: the latest time it was given. A command runs at
 * max(this, the time passed to it); a journal records that. */
int64_t core_now(const core *c);

/*
 * What the last core_sweep() forgot: finished reservations and adjust
 * idempotency keys, oldest first. Expiries need no record (the clock
 * implies them) but forgetting does, since how much a budget covers
 * depends on what reads expired before it.
 */
void core_sweep_forgot(const core *c, uint32_t *reservations, uint32_t *keys);
/* Replay a sweep: advance to now_ms, then forget the given numbers of the
 * oldest finished reservations and adjust keys. BAD_REQUEST when there were
 * fewer to forget (a journal that does not belong to this state; the core
 * has then forgotten what there was). */
int core_forget(core *c, int64_t now_ms, uint32_t reservations, uint32_t keys, core_error *err);

/* Deadline of the next hold to expire, or INT64_MAX. */
int64_t core_next_deadline(const core *c);

/*
 * The one entry point for mutations. On success returns CORE_OK and fills
 * *res; on failure returns the negative code, fills *err, and the state is
 * unchanged.
 */
int core_exec(core *c, const core_cmd *cmd, int64_t now_ms,
    core_result *res, core_error *err);

/* ---- Reads (never mutate beyond what core_advance would) --------------- */

/*
 * Records of one sku: all its locations, or just `location` when its len is
 * non-zero. Calls emit for each, in location rank order. NOT_FOUND when the
 * sku or the record does not exist.
 */
int core_stock_get(const core *c, core_str sku, core_str location,
    void (*emit)(void *ctx, const core_record_view *rec), void *ctx,
    uint32_t *count, core_error *err);
/* Number of records core_stock_get would emit (0 if none). */
uint32_t core_stock_count(const core *c, core_str sku, core_str location);

/*
 * stock.scan: every record, a page at a time (scan.c). Records come by sku
 * in the order the skus were made, each sku's by location name. cursor 0
 * starts; the page's cursor continues, 0 when done. Every record that
 * exists for the whole scan is emitted exactly once, however the state
 * grows meanwhile (skus and records are never removed); a cursor holds
 * within one core's life (a restored core may order skus otherwise).
 * count (1..CORE_SCAN_COUNT_MAX) bounds the records of a page, and
 * count * CORE_SCAN_VISIT_FACTOR the skus looked at, so a page may hold
 * fewer records than count and still not be the last. sku_prefix, when
 * given, keeps only skus that start with it. BAD_REQUEST for a count out
 * of range, a bad prefix or a cursor no scan returned.
 */
#define CORE_SCAN_COUNT_MAX 10000
#define CORE_SCAN_COUNT_DEFAULT 1000
#define CORE_SCAN_VISIT_FACTOR 16
typedef struct core_scan_cmd {
	uint64_t cursor;
	uint32_t count;
	core_str sku_prefix; /* p NULL: every sku */
} core_scan_cmd;
typedef struct core_scan_page {
	uint64_t cursor; /* 0: the scan is done */
	uint32_t count;  /* records emitted */
} core_scan_page;
int core_stock_scan(const core *c, const core_scan_cmd *q,
    void (*emit)(void *ctx, const core_record_view *rec), void *ctx,
    core_scan_page *page, core_error *err);

/*
 * Availability of one sku: total and per location (filtered to `location`
 * when non-empty). Unknown skus have total 0 and no locations.
 */
typedef struct core_avail_loc {
	core_str location;
	int64_t available;
} core_avail_loc;
int64_t core_avail(const core *c, core_str sku, core_str location,
    void (*emit)(void *ctx, const core_avail_loc *loc), void *ctx,
    uint32_t *nlocs);
/* The same as a channel sees it (ch may be NULL): only its locations,
 * each offering available less the channel's buffer. */
int64_t core_avail_channel(const core *c, core_str sku, core_str location, const core_channel *ch,
    void (*emit)(void *ctx, const core_avail_loc *loc), void *ctx,
    uint32_t *nlocs);

/*
 * Available to promise at at_ms: per location (the records', and those
 * with inbound entries due), what core_avail_channel() gives plus the
 * units of entries with eta <= at_ms that no backorder holds, less the
 * channel's buffer once, never below 0. Only `location` when non-empty.
 */
int64_t core_avail_at(const core *c, core_str sku, core_str location, const core_channel *ch,
    int64_t at_ms, void (*emit)(void *ctx, const core_avail_loc *loc), void *ctx,
    uint32_t *nlocs);

/* Inbound entries of one sku (sku.p != NULL) or of every sku. */
uint64_t core_inbound_count(const core *c, core_str sku);
/*
 * inbound.list: the entries core_inbound_count() counts, each sku's by eta
 * (then location name, then ref), skus by name; emit for each. The caller
 * bounds the count (CORE_INBOUND_LIST_MAX). BUSY without memory, before
 * anything is emitted.
 */
int core_inbound_list(const core *c, core_str sku,
    void (*emit)(void *ctx, const core_inbound_view *v), void *ctx, core_error *err);

/* A sku's inbound entries, by eta (then location name, then ref); only
 * at ch's locations when ch is not NULL. Returns how many. */
uint32_t core_incoming(const core *c, core_str sku, const core_channel *ch,
    void (*emit)(void *ctx, const core_inbound_view *v), void *ctx);

/* Channels: NOT_FOUND for a name no channel.put made. */
int core_channel_find(const core *c, core_str name, const core_channel **out, core_error *err);
void core_channel_get(const core *c, const core_channel *ch, core_channel_view *out);
/* Its locations (when not all), in rank order; emit for each. */
void core_channel_locations(const core *c, const core_channel *ch,
    void (*emit)(void *ctx, core_str location), void *ctx);
/* Channels in the order they were made. */
uint32_t core_channel_count(const core *c);
const core_channel *core_channel_at(const core *c, uint32_t i);

/* Locations in rank order (priority, then name): rank 0 .. count-1. */
uint32_t core_location_count(const core *c);
void core_location_at(const core *c, uint32_t rank, core_location_view *out);

/*
 * The plan reserve would make for cmd, holding nothing: the same checks and
 * errors as reserve (OUT_OF_STOCK unless allow_partial; an idempotency key
 * is checked for its form only). The plan is read with core_plan_*() until
 * the next call into the core.
 */
int core_quote(core *c, const core_reserve_cmd *cmd, core_error *err);
/* The last plan (core_quote, or a reserve that planned): its lines and
 * their allocations, in the order reserve would hold them. */
uint32_t core_plan_shipments(const core *c);
void core_plan_line_get(const core *c, uint32_t line, core_line_view *out);
void core_plan_alloc_get(const core *c, uint32_t line, uint32_t i, core_alloc_view *out);

/*
 * Why the last plan is what it is, for reserve and route.quote with
 * explain: every location holding a record of one of the order's skus, in
 * the strategy's rank order, with its rank key and its fate. Valid until
 * the next call into the core; after a reserve that failed with
 * OUT_OF_STOCK too.
 */
typedef enum core_fate {
	CORE_FATE_USED = 0,        /* the plan holds units here */
	CORE_FATE_NOT_NEEDED,      /* could serve, but better-ranked ones did */
	CORE_FATE_SHORT,           /* lacks units for a line the plan needed */
	CORE_FATE_DISABLED,
	CORE_FATE_OUTSIDE_CHANNEL,
	CORE_FATE_AT_CAPACITY,
} core_fate;

typedef struct core_explain {
	core_strategy strategy;
	int split;
	uint32_t max_shipments;   /* 0: no cap */
	uint32_t considered;      /* locations listed */
	uint32_t usable;          /* enabled, in the channel, under capacity, with stock */
	bool exact;               /* every combination searched (usable <= 16) */
	uint32_t shipments;       /* locations the plan uses */
	int64_t runner_up;        /* index of the best-ranked location not used, or -1 */
} core_explain;

typedef struct core_explain_loc {
	core_str location;
	core_fate fate;
	bool has_km;
	double km;                /* great-circle distance to ship_to */
	double cost;              /* cost + km * cost_per_km (cost alone without km) */
	int64_t available;        /* units of the order's skus it could offer */
	int32_t priority;
	uint32_t open_shipments;
	int64_t capacity;         /* -1: none */
} core_explain_loc;

bool core_explain_get(const core *c, core_explain *out); /* false: none kept */
void core_explain_loc_get(const core *c, uint32_t i, core_explain_loc *out);
/* Units of line `line` that location i could offer (channel view). */
int64_t core_explain_line_available(const core *c, uint32_t i, uint32_t line);

/* NOT_FOUND when the id is unknown or was forgotten. */
int core_resv_find(const core *c, core_str reservation_id,
    const core_resv **out, core_error *err);

typedef struct core_stats {
	uint64_t skus;
	uint64_t locations;
	uint64_t records;
	uint64_t reservations[5]; /* by core_resv_status */
	uint64_t idempotency_keys;
	uint64_t expired_total;
	uint64_t units_reserved;  /* held, all records */
	uint64_t units_committed;
	int64_t now_ms;
} core_stats;
void core_stats_get(const core *c, core_stats *out);

/* ---- What changed, for events ------------------------------------------- */

/*
 * While tracking, the core notes what its mutations change (core_exec,
 * core_advance, core_sweep, core_forget): the records touched, once each,
 * with their available before the first touch; the skus touched; every
 * reservation's change of status. core_changes_drain() hands them over
 * and forgets them. The core never calls out while it mutates: the engine
 * drains once per loop turn, so a record changed many times in a turn
 * gives one account carrying its latest values.
 *
 * Not tracking costs one predictable branch per change. The lists hold at
 * most CORE_CHANGES_MAX entries each, far more than a loop turn's bounded
 * work makes; beyond that (or without memory) changes are counted in
 * core_changes_lost() and not kept, and the engine logs it.
 */
#define CORE_CHANGES_MAX (1u << 20)

/* Start (every sku's total available becomes its seen total: O(skus)) or
 * stop tracking; stopping forgets what was not drained. -1 without
 * memory (not tracking then). */
int core_track(core *c, bool on);
bool core_tracking(const core *c);

typedef struct core_change_resv {
	char id[CORE_RESERVATION_ID_LEN + 1];
	core_str order_id;
	core_resv_status status;
	int64_t at_ms;          /* when: an expiry's deadline, else the core's clock */
	const core_resv *resv;  /* NULL when forgotten before the drain */
} core_change_resv;

typedef struct core_change_sku {
	core_str sku;
	int64_t before;         /* total available at the last drain (or when
	                         * tracking began, or 0 for a new sku) */
	int64_t available;      /* now */
	int64_t low_stock;      /* its sku.put threshold; 0: none */
} core_change_sku;

/* Callbacks of a drain, in this order: every reservation change in the
 * order they happened; each record whose available differs from before its
 * first change since the last drain, in the order first touched; each sku
 * touched, in the order first touched. Views are valid during the call. */
typedef struct core_changes_sink {
	void (*resv)(void *ud, const core_change_resv *ch);
	void (*record)(void *ud, const core_record_view *rec);
	void (*sku)(void *ud, const core_change_sku *ch);
	void *ud;
} core_changes_sink;

/* Entries kept since the last drain. */
uint32_t core_changes_pending(const core *c);
/* Hand over and forget; returns the entries handed over. */
uint32_t core_changes_drain(core *c, const core_changes_sink *sink);
/* Changes not kept (over CORE_CHANGES_MAX, or no memory), ever. */
uint64_t core_changes_lost(const core *c);

/*
 * Skus with their totals over their records, for views rebuilt in the
 * background: visits at most budget slots of the sku table from *cursor,
 * calling emit for each sku found, and moves *cursor on (back to 0 once
 * the walk reached the end). Returns the slots visited. Between calls
 * the core may change: a sku added, or moved by the table's growth, may
 * be missed or seen twice by a walk that spans calls, so this suits views
 * the next walk corrects, not exact answers. t and its name are valid
 * during the call.
 */
typedef struct core_sku_total {
	core_str sku;
	int64_t on_hand, reserved, committed, available;
	int64_t low_stock;          /* sku.put's threshold; 0: none */
	uint32_t records;
	uint32_t oversold_records;  /* records with reserved + committed > on_hand */
} core_sku_total;
uint32_t core_sku_scan(const core *c, uint32_t *cursor, uint32_t budget,
    void (*emit)(void *ctx, const core_sku_total *t), void *ctx);

/*
 * A canonical text dump of the whole state, for tests: the same state gives
 * the same bytes. Writes at most cap bytes and returns the length it needed.
 */
size_t core_dump(const core *c, char *buf, size_t cap);

/* Check every invariant; returns NULL or a description of the first broken
 * one. Costs O(state): for tests and debug builds. */
const char *core_check(const core *c);

/* ---- Snapshots ----------------------------------------------------------- */

/*
 * The whole state as a header and a sequence of items, for a durable engine
 * to store and to restore exactly: a restored core answers every later
 * command, advance and sweep as the exported one would (same reservation
 * ids, same idempotent replays, same expiries, same forgetting order) and
 * core_dump() gives the same bytes.
 *
 * Items come in this order, and a restore takes them in no other:
 *   locations     in id order (ids 0, 1, 2, ...);
 *   channels      in the order they were made;
 *   skus          each with its records, in location rank order;
 *   reservations  live ones (held, committed) by sequence number, then
 *                 finished ones oldest first, the order they are forgotten;
 *   keys          idempotency keys, each method's oldest first.
 *
 * Views hold plain values and borrowed strings. Quantities are int64_t and
 * ids are wide so that a decoder can pass any value it read and leave the
 * range checks to core_restore_item().
 */

typedef struct core_snap_header {
	uint64_t hash_seed;      /* the config's: params hashes depend on it */
	uint32_t id_epoch;       /* the config's: reservation ids depend on it */
	int64_t now_ms;
	uint64_t next_seq;       /* sequence number of the next reservation */
	uint64_t expired_total;
	uint64_t locations;      /* item counts, checked by core_restore_finish() */
	uint64_t skus;
	uint64_t records;        /* records of all skus */
	uint64_t reservations;
	uint64_t keys;
} core_snap_header;

typedef enum core_snap_kind {
	CORE_SNAP_LOCATION = 1,
	CORE_SNAP_SKU = 2,
	CORE_SNAP_RESERVATION = 3,
	CORE_SNAP_KEY = 4,
	CORE_SNAP_CHANNEL = 5,    /* after the locations, before the skus */
} core_snap_kind;

typedef struct core_snap_channel {
	core_str name;
	int64_t buffer;
	bool all_locations;
	uint32_t nlocations;
	const uint64_t *locations; /* location ids, when not all */
} core_snap_channel;

typedef struct core_snap_location {
	uint64_t id;       /* its position among the locations */
	core_str name;
	int64_t priority;  /* int32 range; lower ranks first */
	bool has_coords;
	double lat, lon;
	double cost, cost_per_km;
	int64_t capacity;  /* -1: none */
	bool enabled;
	uint32_t ntags;
	core_str tags[CORE_TAGS_MAX];
} core_snap_location;

typedef struct core_snap_record {
	uint64_t location; /* location id */
	int64_t on_hand;
	int64_t reserved;  /* must equal what held reservations hold here */
	int64_t committed; /* must equal what committed reservations hold here */
	int64_t safety;
	uint64_t version;
} core_snap_record;

typedef struct core_snap_inbound {
	uint64_t location;  /* location id */
	int64_t qty;
	int64_t eta_ms;
	core_str ref;       /* p == NULL: none */
	int64_t backordered; /* must equal what backorders hold (see below) */
} core_snap_inbound;

typedef struct core_snap_sku {
	core_str name;
	uint32_t nrecs;
	const core_snap_record *recs; /* nrecs, in location name order */
	int64_t per_order, per_customer, low_stock; /* 0: none */
	uint32_t ninbound;
	const core_snap_inbound *inbound; /* in eta, location name, ref order */
} core_snap_sku;

typedef struct core_snap_alloc {
	uint64_t location; /* location id */
	int64_t qty;       /* still allocated (as at expiry for an expired hold) */
	int64_t orig;      /* as reserve returned it */
} core_snap_alloc;

typedef struct core_snap_line {
	core_str sku;
	bool sku_known;    /* false: the sku did not exist when reserved */
	int64_t qty;       /* requested */
	int64_t released;
	int64_t fulfilled;
	uint32_t nallocs;
	const core_snap_alloc *allocs;
	uint32_t nbackorders;             /* after allocs: held against inbound */
	const core_snap_alloc *backorders;
} core_snap_line;

typedef struct core_snap_resv {
	uint64_t seq;               /* id = ((uint64_t)id_epoch << 32) + seq */
	uint64_t status;            /* a core_resv_status */
	int64_t expires_at_ms;      /* -1 once committed */
	int64_t orig_expires_at_ms;
	int64_t finished_at_ms;     /* -1 while held or committed */
	core_str order_id;
	core_str customer_id;       /* p == NULL: none */
	uint32_t nlines;
	const core_snap_line *lines;
} core_snap_resv;

enum { CORE_SNAP_KEY_RESERVE = 1, CORE_SNAP_KEY_ADJUST = 2 };

typedef struct core_snap_key {
	uint64_t method;            /* CORE_SNAP_KEY_RESERVE or _ADJUST */
	core_str key;
	uint64_t params_hash;
	int64_t created_ms;
	uint64_t resv_seq;          /* reserve: the reservation it made */
	core_record_view reply;     /* adjust: the first reply; available and
	                             * oversold are derived, not restored */
} core_snap_key;

typedef struct core_snap_item {
	core_snap_kind kind;
	union {
		core_snap_location location;
		core_snap_sku sku;
		core_snap_resv resv;
		core_snap_key key;
		core_snap_channel channel;
	} u;
} core_snap_item;

/*
 * Export. core_snap_open() fills *hdr and returns a cursor (NULL without
 * memory); core_snap_next() gives the next item and 1, or 0 after the last.
 * An item's views point into the core and the cursor's scratch and stay
 * valid until the next call. The core must not change while the cursor is
 * open. Nothing is allocated per item: the cursor's scratch is allocated
 * at open, for the largest item the core can hold.
 */
typedef struct core_snap_cursor core_snap_cursor;
core_snap_cursor *core_snap_open(const core *c, core_snap_header *hdr);
int core_snap_next(core_snap_cursor *cur, core_snap_item *item);
void core_snap_close(core_snap_cursor *cur); /* NULL is fine */

/*
 * Import, from untrusted input. core_restore_begin() creates the core from
 * cfg (its hash_seed and id_epoch replaced by the header's) and the header's
 * clock and counters; core_restore_item() checks and restores one item;
 * core_restore_finish() checks the counts and the records' reserved and
 * committed against the holds; with what core_restore_item() checks and
 * rebuilds (the expiry heap, the finished and key FIFOs, the counters) that
 * covers every invariant of core_check(), which runs too unless the state
 * is large (it sorts every record). Anything malformed, inconsistent or
 * over cfg's limits is refused with *err saying what (BAD_REQUEST,
 * TOO_LARGE; BUSY without memory); after a refusal the restore refuses
 * everything, and the caller calls core_restore_abort(). Reservations'
 * skus are looked up in batches, so a sku that is not there may be refused
 * by a later call (the message names the reservation). The header's
 * next_seq is at most 2^40.
 *
 * core_restore_finish() consumes r: it returns the core (the caller owns
 * it) or NULL with *err. core_restore_abort() frees r and the core being
 * built; NULL is fine.
 */
typedef struct core_restore core_restore;
core_restore *core_restore_begin(const core_config *cfg, const core_snap_header *hdr,
    core_error *err);
int core_restore_item(core_restore *r, const core_snap_item *item, core_error *err);
core *core_restore_finish(core_restore *r, core_error *err);
void core_restore_abort(core_restore *r);

#endif
