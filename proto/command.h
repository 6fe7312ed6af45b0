/*
 * command.h - the command table and the request dispatcher.
 *
 * One table, {name, handler, role, flags}, drives dispatch, statistics and
 * (later) authorisation. proto_handle_frame() takes one scanned MessagePack
 * value, checks the msgpack-rpc envelope, runs the method against the core
 * and appends the whole response to the output buffer. It knows the
 * contract and MessagePack; it knows nothing of sockets or clocks.
 */
#ifndef ALLOT_PROTO_COMMAND_H
#define ALLOT_PROTO_COMMAND_H

#include "core.h"
#include "durable.h"
#include "mp.h"

#include <stdbool.h>
#include <stdint.h>

/* Roles, in increasing power; a role may call the methods of those below. */
typedef enum cmd_role {
	ROLE_NONE = 0, /* callable before authentication (ping) */
	ROLE_READ = 1,
	ROLE_CHECKOUT = 2,
	ROLE_ADMIN = 3,
} cmd_role;

enum cmd_flag {
	CMD_MUTATES = 1u << 0,  /* goes through core_exec; journaled */
	CMD_DEFERRED = 1u << 1, /* the engine replies later (snapshot) */
};

/* X-macro: id, wire name, handler, role, flags. Only command.c expands
 * the handler column. */
#define CMD_LIST(X)                                                           \
	X(PING, "ping", h_ping, ROLE_NONE, 0)                                 \
	X(STOCK_SET, "stock.set", h_stock_set, ROLE_ADMIN, CMD_MUTATES)       \
	X(STOCK_ADJUST, "stock.adjust", h_stock_adjust, ROLE_ADMIN, CMD_MUTATES) \
	X(STOCK_GET, "stock.get", h_stock_get, ROLE_READ, 0)                  \
	X(AVAIL, "avail", h_avail, ROLE_READ, 0)                              \
	X(RESTOCK, "restock", h_restock, ROLE_ADMIN, CMD_MUTATES)             \
	X(RESERVE, "reserve", h_reserve, ROLE_CHECKOUT, CMD_MUTATES)          \
	X(COMMIT, "commit", h_commit, ROLE_CHECKOUT, CMD_MUTATES)             \
	X(RELEASE, "release", h_release, ROLE_CHECKOUT, CMD_MUTATES)          \
	X(FULFILL, "fulfill", h_fulfill, ROLE_CHECKOUT, CMD_MUTATES)          \
	X(EXTEND, "extend", h_extend, ROLE_CHECKOUT, CMD_MUTATES)             \
	X(RESERVATION_GET, "reservation.get", h_reservation_get, ROLE_READ, 0) \
	X(LOCATION_PUT, "location.put", h_location_put, ROLE_ADMIN, CMD_MUTATES) \
	X(LOCATION_LIST, "location.list", h_location_list, ROLE_READ, 0)      \
	X(ROUTE_QUOTE, "route.quote", h_route_quote, ROLE_READ, 0)            \
	X(CHANNEL_PUT, "channel.put", h_channel_put, ROLE_ADMIN, CMD_MUTATES) \
	X(SKU_PUT, "sku.put", h_sku_put, ROLE_ADMIN, CMD_MUTATES)             \
	X(INBOUND_ADD, "inbound.add", h_inbound_add, ROLE_ADMIN, CMD_MUTATES) \
	X(STATS, "stats", h_stats, ROLE_READ, 0)                              \
	X(SNAPSHOT, "snapshot", h_snapshot, ROLE_ADMIN, CMD_DEFERRED)

typedef enum cmd_id {
#define X(id, name, handler, role, flags) CMD_##id,
	CMD_LIST(X)
#undef X
	CMD_COUNT
} cmd_id;

/* Server-wide figures the engine fills in for `stats`. */
typedef struct cmd_server_stats {
	const char *version;
	const char *durability;
	int64_t started_at_ms;
	uint64_t connections_current;
	uint64_t connections_total;
	uint64_t connections_rejected;
	uint64_t requests_total;
	uint64_t requests_by_cmd[CMD_COUNT];
	uint64_t errors_total;
	uint64_t memory_allocated; /* bytes, from the allocator */
	uint64_t memory_resident;
	uint64_t loop_busy_max_us; /* the longest loop turn */
	/* Writes the value of stats' "durability" key (a map); NULL: {mode}. */
	void (*write_durability)(void *ud, mp_buf *out);
	void *durability_ud;
} cmd_server_stats;

/* Limits the dispatcher applies on top of the core's. */
typedef struct cmd_limits {
	uint32_t avail_skus_max;
} cmd_limits;

/*
 * Everything a handler needs. The engine owns it; line scratch is sized for
 * the core's lines_max (and avail's skus) by cmd_ctx_init().
 */
typedef struct cmd_ctx {
	core *core;
	int64_t now_ms;
	cmd_limits limits;
	cmd_server_stats *stats; /* may be NULL: stats then reports the core only */
	core_line_req *lines;
	uint32_t lines_cap;
	core_str *skus;
	uint32_t skus_cap;
	core_str *names;     /* locations_max: a channel's locations */
	uint32_t names_cap;
	void (*refresh_stats)(cmd_server_stats *stats); /* before `stats` replies */
	/*
	 * Durability. journal: NULL, or the batch every successful change is
	 * appended to as a journal record (journal.h), numbered on from its
	 * first_lsn. unavailable: NULL, or why changes cannot be made durable
	 * now; mutations then answer UNAVAILABLE with it and change nothing.
	 * snapshot: NULL when there is no durability; else starts (or joins) a
	 * snapshot whose reply the engine sends later; returns 0, or a core
	 * code with message filled.
	 */
	durable_batch *journal;
	const char *unavailable;
	int (*snapshot)(void *ud, char *message, size_t message_len);
	void *snapshot_ud;
	bool changed; /* set by a successful mutation; proto_handle_frame resets it */
} cmd_ctx;

/* The highest lsn given out so far (0: none). */
static inline uint64_t cmd_ctx_lsn(const cmd_ctx *ctx)
{
	return ctx->journal ? ctx->journal->first_lsn + ctx->journal->count - 1 : 0;
}

int cmd_ctx_init(cmd_ctx *ctx, core *c, const cmd_limits *limits);
void cmd_ctx_finish(cmd_ctx *ctx);

typedef struct cmd_def {
	const char *name;
	uint8_t name_len;
	uint8_t role;
	uint8_t flags;
	cmd_id id;
	/* Parses params (a cursor on the params map, or NULL when empty),
	 * acts, and appends [error, result] to out. Returns the core code. */
	int (*handle)(cmd_ctx *ctx, mp_cursor *params, mp_buf *out);
} cmd_def;

extern const cmd_def cmd_table[CMD_COUNT];
/* NULL for an unknown name. */
const cmd_def *cmd_lookup(const char *name, uint32_t len);

/* Code reported for a request naming no known method. */
#define PROTO_E_UNKNOWN_METHOD (-100)
/* Code reported when changes cannot be made durable now. */
#define PROTO_E_UNAVAILABLE (-101)
/* A handler's return: the reply comes later (proto_frame_info.deferred). */
#define PROTO_DEFERRED (-102)

/* What proto_handle_frame() did with one message. */
typedef struct proto_frame_info {
	bool replied;          /* a response was appended */
	uint32_t msgid;
	const cmd_def *cmd;    /* NULL: not a known method */
	int code;              /* CORE_OK or the error sent */
	bool changed;          /* a mutation succeeded (or replayed): its reply
	                        * must wait for the journal in sync mode */
	bool deferred;         /* nothing appended yet: the engine replies to
	                        * msgid later (snapshot) */
} proto_frame_info;

/*
 * Handle one complete MessagePack value (already checked by mp_scan) as a
 * msgpack-rpc message. Requests get exactly one response appended to out;
 * notifications and stray responses get none. An envelope that is
 * MessagePack but not msgpack-rpc gets BAD_REQUEST (msgid 0 when it has
 * none). Never fails: the output buffer's sticky failure flag says if
 * memory ran out.
 */
void proto_handle_frame(cmd_ctx *ctx, const uint8_t *frame, size_t len,
    mp_buf *out, proto_frame_info *info);

/* Append a whole error response [1, msgid, {code, message}, nil]. */
void proto_write_error_response(mp_buf *out, uint32_t msgid, const char *code,
    const char *message);

#endif
