/*
 * command.h - the command table: every method's wire name, the role that
 * may call it, and what kind of method it is.
 *
 * One X-macro, CMD_LIST, is the only list of methods. proto/ expands it into
 * cmd_table (names for lookup and statistics, roles, flags) and into its
 * table of parameter decoders (request.c); the dispatch in engine/ expands
 * it into its table of executors (dispatch.c). Adding a method is one line
 * here, one decoder, one executor and, where it changes state, one core
 * command.
 */
#ifndef ALLOT_PROTO_COMMAND_H
#define ALLOT_PROTO_COMMAND_H

#include <stdint.h>

/* Roles, in increasing power; a role may call the methods of those below. */
typedef enum cmd_role {
	ROLE_NONE = 0, /* callable before authentication (ping, auth) */
	ROLE_READ = 1,
	ROLE_CHECKOUT = 2,
	ROLE_ADMIN = 3,
} cmd_role;

enum cmd_flag {
	/* Runs through core_exec and, when it succeeds, is journaled; it is
	 * refused while changes cannot be made durable. */
	CMD_MUTATES = 1u << 0,
	/* The reply is not known when the request is handled: the engine
	 * sends it later (snapshot, once it is durable). */
	CMD_DEFERRED = 1u << 1,
	/* Acts on the connection it came on, not on the state (auth,
	 * subscribe): its executor is handed the connection's dispatch_peer. */
	CMD_CONNECTION = 1u << 2,
};

/* id, wire name, role, flags. */
#define CMD_LIST(X)                                              \
	X(PING, "ping", ROLE_NONE, 0)                            \
	X(AUTH, "auth", ROLE_NONE, CMD_CONNECTION)               \
	X(STOCK_SET, "stock.set", ROLE_ADMIN, CMD_MUTATES)       \
	X(STOCK_ADJUST, "stock.adjust", ROLE_ADMIN, CMD_MUTATES) \
	X(STOCK_GET, "stock.get", ROLE_READ, 0)                  \
	X(STOCK_SCAN, "stock.scan", ROLE_READ, 0)                \
	X(AVAIL, "avail", ROLE_READ, 0)                          \
	X(RESTOCK, "restock", ROLE_ADMIN, CMD_MUTATES)           \
	X(RESERVE, "reserve", ROLE_CHECKOUT, CMD_MUTATES)        \
	X(COMMIT, "commit", ROLE_CHECKOUT, CMD_MUTATES)          \
	X(RELEASE, "release", ROLE_CHECKOUT, CMD_MUTATES)        \
	X(FULFILL, "fulfill", ROLE_CHECKOUT, CMD_MUTATES)        \
	X(EXTEND, "extend", ROLE_CHECKOUT, CMD_MUTATES)          \
	X(RESERVATION_GET, "reservation.get", ROLE_READ, 0)      \
	X(LOCATION_PUT, "location.put", ROLE_ADMIN, CMD_MUTATES) \
	X(LOCATION_LIST, "location.list", ROLE_READ, 0)          \
	X(ROUTE_QUOTE, "route.quote", ROLE_READ, 0)              \
	X(CHANNEL_PUT, "channel.put", ROLE_ADMIN, CMD_MUTATES)   \
	X(SKU_PUT, "sku.put", ROLE_ADMIN, CMD_MUTATES)           \
	X(INBOUND_ADD, "inbound.add", ROLE_ADMIN, CMD_MUTATES)   \
	X(INBOUND_RECEIVE, "inbound.receive", ROLE_ADMIN, CMD_MUTATES) \
	X(INBOUND_LIST, "inbound.list", ROLE_READ, 0)            \
	X(STATS, "stats", ROLE_READ, 0)                          \
	X(SNAPSHOT, "snapshot", ROLE_ADMIN, CMD_DEFERRED)        \
	X(SUBSCRIBE, "subscribe", ROLE_READ, CMD_CONNECTION)     \
	X(UNSUBSCRIBE, "unsubscribe", ROLE_READ, CMD_CONNECTION)

typedef enum cmd_id {
#define X(id, name, role, flags) CMD_##id,
	CMD_LIST(X)
#undef X
	CMD_COUNT
} cmd_id;

typedef struct cmd_def {
	const char *name;
	uint8_t name_len;
	uint8_t role;  /* cmd_role */
	uint8_t flags; /* cmd_flag */
	cmd_id id;
} cmd_def;

extern const cmd_def cmd_table[CMD_COUNT];

/* Codes beside the core's CORE_E_*: a request naming no known method; a
 * change refused because it cannot be made durable now; a reply the engine
 * sends later. */
#define PROTO_E_UNKNOWN_METHOD (-100)
#define PROTO_E_UNAVAILABLE (-101)
#define PROTO_DEFERRED (-102)
/* Codes of the access check: no token yet, or a wrong one; a role that may
 * not call the method. */
#define PROTO_E_UNAUTHORIZED (-103)
#define PROTO_E_FORBIDDEN (-104)

/* NULL for an unknown name. */
const cmd_def *cmd_lookup(const char *name, uint32_t len);

#endif
