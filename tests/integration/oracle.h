/*
 * oracle.h - what allotd may hold after the crash tests' traffic
 * (traffic.h), checked against what it answers.
 *
 * Replies on a connection come in request order, so the requests that got
 * a reply (acknowledged, or refused while Redis was away) are a prefix of
 * what the connection sent; of the rest, some may have been journaled. The
 * journal is written in the order requests run, so on each connection the
 * state reflects the answered requests and then a prefix of the others:
 *
 *   - each reservation reads exactly as after its acknowledged operations
 *     and some prefix of its unanswered ones;
 *   - each owned record's on_hand is the result of its acknowledged
 *     set/adjust sequence and some prefix of the rest;
 *   - on each record of a reserved sku, committed and on_hand are exactly
 *     what the recovered reservations add up to, and reserved is that plus
 *     what unanswered reserves (whose ids were never seen) may hold;
 *     retrying those reserves with their idempotency keys then makes it
 *     exact, and tells which of them were journaled;
 *   - across everything a connection sent, the unanswered requests that
 *     took effect come before those that did not.
 *
 * When every request got a reply there is one such state: exactly what
 * the successful requests made. The checks run on the test's thread and
 * assert; their messages start with oracle_ctx.
 */
#ifndef ALLOT_TESTS_ORACLE_H
#define ALLOT_TESTS_ORACLE_H

#include <stdbool.h>
#include <stdint.h>

#include "rpc_client.h"
#include "harness.h"
#include "traffic.h"

/* What is being checked, for failure messages: seed, round, life. */
extern char oracle_ctx[160];

/* A client-library connection to s for the checks (or the test fails). */
allot_client *oracle_client(const harness_server *s);

/* The records a life starts with: its reserved skus at both locations and
 * every connection's owned records. */
void oracle_stock_world(allot_client *c, const world *w);

/*
 * After a kill -9 and a restart: everything above, with the unanswered
 * reserves retried (on a connection to port) to learn which were
 * journaled: *old_out were (their clock reading is no later than
 * killed_at), *new_out were not (made once allotd was back, at ready_at
 * or later). Afterwards every reservation is known and found.
 */
void oracle_check_after_kill(allot_client *c, int port, worker *ws, int nw,
    const world *w, int64_t killed_at, int64_t ready_at, int *old_out,
    int *new_out);

/* When every request got a reply (success or refusal): each record and
 * reservation is exactly the result of the requests that succeeded. */
void oracle_check_exact(allot_client *c, worker *ws, int nw, const world *w);

/* A retry of the last acknowledged adjust of each record answers the
 * first reply and changes nothing. */
void oracle_check_adjust_retries(allot_client *c, worker *ws, int nw);

/* Everything readable about a life (its records and known reservations),
 * for comparing after later kills; the caller frees it. */
json_t *oracle_capture(allot_client *c, const world *w, worker *ws, int nw);
/* The two captures are equal, else the test fails naming the first
 * difference. */
void oracle_expect_same(json_t *before, json_t *after, const char *when);

#endif
