/*
 * dispatch.h - the one owner of a request from decoded frame to reply.
 *
 * For each complete frame the server hands it: decode (proto/), check the
 * caller's role against the command table, run the method against the core
 * (core_exec for changes, the core's reads otherwise), append the journal
 * record of a change and learn its lsn, and encode the reply. The server
 * then queues the reply, gated on that lsn in sync mode. Expiry sweeps go
 * through here too, so every change the core makes is journaled in one
 * place.
 */
#ifndef ALLOT_ENGINE_DISPATCH_H
#define ALLOT_ENGINE_DISPATCH_H

#include "auth.h"
#include "command.h"
#include "core.h"
#include "encode.h"
#include "metrics.h"
#include "mp.h"
#include "persist.h"
#include "request.h"

#include <stdbool.h>
#include <stdint.h>

/* Snapshot requests one connection may have waiting at once. */
#define DISPATCH_DEFERRED_MAX 16

/* What the dispatch keeps of the connection a request came on. */
struct events;
struct events_sub;

typedef struct dispatch_peer {
	struct events_sub *sub; /* NULL, or its subscription (events.h) */
	uint8_t role;      /* cmd_role: the highest role it may call */
	uint8_t auth_failures; /* auth calls with a wrong token */
	uint32_t deferred; /* replies it is owed later (snapshot) */
	const auth_token *token; /* NULL until auth succeeds (or without tokens) */
	proto_who_stats *who;    /* the token's NAME and counts, or the
	                          * dispatch's anonymous "-"; never NULL */
} dispatch_peer;

/* Server-wide figures for `stats` that only the server knows. */
typedef void (*dispatch_server_stats_fn)(void *ud, proto_server_stats *s);

typedef struct dispatch {
	core *core;
	persist *persist;   /* NULL: durability none */
	persist_mode mode;
	proto_decoder dec;
	int64_t now_ms;     /* the engine's time this turn */
	const char *unavailable; /* this turn: NULL, or why changes are refused */
	uint64_t last_lsn;  /* the highest lsn given out */
	int64_t started_at_ms;
	uint64_t requests_total;
	uint64_t errors_total;
	uint64_t requests_by_cmd[CMD_COUNT];
	/* Errors by method (CMD_COUNT: no known method) and wire code, for
	 * /metrics; successes are requests_by_cmd less these. */
	uint64_t errors_by_cmd_code[CMD_COUNT + 1][METRICS_CODES];
	dispatch_server_stats_fn server_stats;
	void *server_stats_ud;
	auth_set *auth;     /* NULL: no auth file, every connection is admin */
	proto_who_stats anonymous; /* "-": requests without a token */
	uint64_t auth_failures;
	uint64_t closed_for_auth;
	struct events *events; /* subscriptions; NULL: subscribe is refused */
	const char *events_off; /* NULL, or why subscribe is refused when
	                         * events is NULL (--io-threads) */
} dispatch;

/* What became of one frame. */
typedef struct dispatch_reply {
	bool replied;      /* a response was appended to out */
	bool deferred;     /* nothing appended: dispatch_snapshot_reply() answers
	                    * msgid once snapshot run `run` ends */
	uint32_t msgid;
	int code;          /* CORE_OK, or the error answered */
	uint32_t cmd;      /* the method's cmd_id; CMD_COUNT when none is known */
	uint64_t wait_lsn; /* 0, or the reply may leave only once Redis has
	                    * acknowledged the journal up to this lsn (sync) */
	uint64_t run;
	bool close;        /* send what is owed, then close the connection
	                    * (too many failed auth calls) */
} dispatch_reply;

/* 0, or -1 without memory. The core is borrowed; p may be NULL. */
int dispatch_init(dispatch *d, core *c, const proto_limits *limits, persist *p, persist_mode mode,
    int64_t now_ms);
void dispatch_finish(dispatch *d);

/* A connection's peer as it starts: admin without tokens, else nothing
 * but ping and auth until auth succeeds. */
void dispatch_peer_init(dispatch *d, dispatch_peer *peer);

/*
 * Use tokens from now on (NULL: none), taking set; the previous set is
 * the caller's to destroy once every peer is moved over with
 * dispatch_peer_rebind(). Counts carry over by name.
 */
void dispatch_set_auth(dispatch *d, auth_set *set);
/* After dispatch_set_auth(): point peer at its token in the new set.
 * false when its token is gone (the caller closes the connection). */
bool dispatch_peer_rebind(dispatch *d, dispatch_peer *peer);

/* Before the frames of one read: the engine's time, the core's expiry up
 * to it, and whether changes can be made durable now. */
void dispatch_turn(dispatch *d, int64_t now_ms);

/* Handle one complete MessagePack value from peer; the response (if any)
 * is appended to out. Never fails: out's sticky failure flag says if
 * memory ran out. */
void dispatch_frame(dispatch *d, dispatch_peer *peer, const uint8_t *frame, size_t len,
    mp_buf *out, dispatch_reply *r);

/* The first lsn of the journal batch this turn is filling: replies gated
 * at or after it are acknowledged together. */
uint64_t dispatch_batch_first_lsn(const dispatch *d);

/* The periodic sweep: expire and forget at most budget items at now_ms,
 * journaling what was forgotten. Returns the items done. */
uint32_t dispatch_sweep(dispatch *d, int64_t now_ms, uint32_t budget);

/* The whole response to a deferred snapshot request. */
void dispatch_snapshot_reply(mp_buf *out, uint32_t msgid, int code, const char *message,
    const persist_snapshot_info *info);

/* Count a reply the server wrote itself (a refused stream or connection). */
void dispatch_count_refusal(dispatch *d);

#endif
