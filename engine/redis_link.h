/*
 * redis_link.h - allotd's one connection to Redis, on its loop.
 *
 * hiredis is used below its async layer: a non-blocking redisContext whose
 * socket the link watches with its own uv_poll_t. That keeps every fault in
 * view (hiredis 0.14.1's libuv adapter never reports a refused connection,
 * so a connect timer catches it) and makes replies map one to one, in
 * order, onto the commands sent.
 *
 * The link is DOWN, CONNECTING (TCP), HELLO (AUTH, SELECT and PING sent) or
 * UP. Only an answered PING counts as up: a stopped Redis still completes
 * TCP connects from its backlog. While up, a command whose reply has not
 * come within the reply timeout counts as a lost connection. A lost link
 * reconnects with a fresh context (never reusing a freed one), backing off
 * from reconnect_min_ms doubling to reconnect_max_ms.
 *
 * Commands go out only while up. Each is sent with a callback and user data
 * that get its reply; when the connection is lost first, every command
 * still waiting gets a NULL reply (it may or may not have run), in order,
 * and then the state callback says the link is down. The link knows
 * nothing of what the commands mean.
 */
#ifndef ALLOT_ENGINE_REDIS_LINK_H
#define ALLOT_ENGINE_REDIS_LINK_H

#include "durable.h"

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

typedef struct redis_link redis_link;

typedef struct redis_link_config {
	durable_url url;
	uint32_t connect_timeout_ms;   /* TCP connect and the PING answered */
	uint32_t reconnect_min_ms;
	uint32_t reconnect_max_ms;
	uint32_t reply_timeout_ms;     /* a command unanswered this long: lost */
} redis_link_config;

/* A command's reply, valid during the call; NULL when the connection was
 * lost before it came. */
typedef void (*redis_link_reply_fn)(void *ud, const redisReply *reply);
/* The link came up (why is NULL) or went down (why says why). Called on
 * changes only, never from inside redis_link_send(). */
typedef void (*redis_link_state_fn)(void *ud, bool up, const char *why);

/*
 * A link on loop. rc, when not NULL, is a connected, blocking context that
 * has been through AUTH/SELECT (the store recovery used): the link takes
 * it, makes it non-blocking and starts up, without a state call. Without
 * rc it starts down and connects. NULL without memory.
 */
redis_link *redis_link_create(uv_loop_t *loop, const redis_link_config *cfg, redisContext *rc,
    redis_link_state_fn state_fn, void *ud);

/*
 * Send a command (argv/lens as redisAppendCommandArgv; lens NULL for C
 * strings); fn(ud, reply) gets its reply. 0, or -1 when the link is not
 * up or without memory (nothing is sent and fn is not called). A write
 * that fails here is reported as a lost connection on a later loop turn,
 * never from inside this call.
 */
int redis_link_send(redis_link *l, int argc, const char **argv, const size_t *lens,
    redis_link_reply_fn fn, void *ud);

/* Between cork and uncork, commands sent are only appended: uncork
 * writes them all at once (a batch and its events: one write). Corks
 * nest: cork returns whether the link was corked already, and uncork,
 * given that, leaves an outer cork alone. */
bool redis_link_cork(redis_link *l);
void redis_link_uncork(redis_link *l, bool was);

bool redis_link_is_up(const redis_link *l);
/* Commands sent and not yet answered. */
uint32_t redis_link_in_flight(const redis_link *l);
/* Connection attempts after a loss. */
uint64_t redis_link_reconnects(const redis_link *l);

/* The caller saw that the connection cannot be used (Redis refused a write
 * that must succeed): treat it as lost now and reconnect. The callbacks
 * run before this returns. */
void redis_link_fail(redis_link *l, const char *why);
/* Drop the connection and never reconnect; waiting commands get no
 * callback. The handles stay until redis_link_close. */
void redis_link_stop(redis_link *l);
/* Close every handle (stopping first). No callback runs after this. */
void redis_link_close(redis_link *l);
/* After the loop has ended. Accepts NULL. */
void redis_link_destroy(redis_link *l);

#endif
