/*
 * dispatch.c - a request from decoded frame to encoded reply.
 *
 * dispatch_frame() reads one way: decode (proto_decode), refuse what may
 * not run (role, durability), run it (one executor per method, from the
 * command table), journal a change (persist_append_cmd, which gives its
 * lsn), encode the reply. Executors write the response's error and result
 * after the envelope's head; changes all go through exec_change().
 */
#include "dispatch.h"

#include "events.h"
#include "log.h"
#include "scan.h"

#include <allot/protocol.h>
#include <assert.h>
#include <stdio.h>
#include <string.h>

int dispatch_init(dispatch *d, core *c, const proto_limits *limits, persist *p, persist_mode mode,
    int64_t now_ms)
{
	memset(d, 0, sizeof(*d));
	d->core = c;
	d->persist = p;
	d->mode = p ? mode : PERSIST_NONE;
	d->started_at_ms = now_ms;
	d->now_ms = now_ms;
	d->last_lsn = p ? persist_acked_lsn(p) : 0;
	d->anonymous.name = (core_str){ ACCESS_ANONYMOUS, sizeof(ACCESS_ANONYMOUS) - 1 };
	return proto_decoder_init(&d->dec, limits);
}

void dispatch_finish(dispatch *d)
{
	proto_decoder_finish(&d->dec);
}

/* ---- access -------------------------------------------------------------------- */

void dispatch_peer_init(dispatch *d, dispatch_peer *peer)
{
	*peer = (dispatch_peer){ .role = d->auth ? ROLE_NONE : ROLE_ADMIN, .who = &d->anonymous };
}

/* Back to what a connection is before auth, keeping what else it has
 * (its failed attempts, the replies it is owed). */
static void peer_unauthenticate(dispatch *d, dispatch_peer *peer)
{
	peer->token = NULL;
	peer->role = d->auth ? ROLE_NONE : ROLE_ADMIN;
	peer->who = &d->anonymous;
	/* No role, no events. */
	if (d->events && peer->role == ROLE_NONE)
		events_unsubscribe(d->events, peer);
}

void dispatch_set_auth(dispatch *d, auth_set *set)
{
	if (set && d->auth)
		auth_set_carry_counts(set, d->auth);
	d->auth = set;
}

bool dispatch_peer_rebind(dispatch *d, dispatch_peer *peer)
{
	if (peer->token == NULL)
		return true;
	const auth_token *t = d->auth ? auth_set_find(d->auth, peer->token->hash) : NULL;
	if (t == NULL) {
		peer_unauthenticate(d, peer);
		return false;
	}
	peer->token = t;
	peer->role = t->role;
	peer->who = t->who;
	return true;
}

/*
 * auth {token} -> {role, name}. Without tokens every connection is admin
 * already, and any token is accepted, so that clients configured with one
 * work before the server asks for it. A wrong token leaves the connection
 * unauthenticated; ALLOT_AUTH_FAILURES_MAX of them close it.
 */
static int exec_auth(dispatch *d, dispatch_peer *peer, const proto_request *req, mp_buf *out,
    dispatch_reply *r)
{
	const auth_token *t = NULL;
	if (d->auth) {
		t = auth_set_check(d->auth, req->u.token.p, req->u.token.len);
		if (t == NULL) {
			peer_unauthenticate(d, peer);
			d->auth_failures++;
			peer->auth_failures++;
			char msg[160];
			snprintf(msg, sizeof(msg), "auth: unknown token (%u of %d attempts used)",
			    peer->auth_failures, ALLOT_AUTH_FAILURES_MAX);
			encode_error(out, ALLOT_ERR_UNAUTHORIZED, msg);
			/* Never the token: not even a wrong one is logged. */
			log_info("auth: an unknown token (%u of %d attempts on the connection)",
			    peer->auth_failures, ALLOT_AUTH_FAILURES_MAX);
			if (peer->auth_failures >= ALLOT_AUTH_FAILURES_MAX) {
				r->close = true;
				d->closed_for_auth++;
			}
			return PROTO_E_UNAUTHORIZED;
		}
		peer->token = t;
		peer->role = t->role;
		peer->who = t->who;
		log_debug("auth: a connection is now %.*s, role %s", (int)t->who->name.len, t->who->name.p,
		    access_role_name(t->role));
	}
	assert(peer->who != NULL && peer->role >= ROLE_READ);
	mp_write_nil(out);
	mp_write_map(out, 2);
	mp_write_lit(out, "role");
	mp_write_cstr(out, access_role_name(peer->role));
	mp_write_lit(out, "name");
	mp_write_str(out, peer->who->name.p, peer->who->name.len);
	return CORE_OK;
}

/* subscribe {topics, skus?} -> {topics}; unsubscribe {} -> {topics: []}.
 * A subscription belongs to the connection and replaces the one before. */
static int exec_subscription(dispatch *d, dispatch_peer *peer, const proto_request *req,
    mp_buf *out)
{
	char msg[200];
	if (d->events == NULL) {
		encode_error(out, ALLOT_ERR_UNAVAILABLE, d->events_off ? d->events_off : "events are not served here");
		return PROTO_E_UNAVAILABLE;
	}
	if (req->cmd->id == CMD_UNSUBSCRIBE) {
		events_unsubscribe(d->events, peer);
	} else {
		int rc = events_subscribe(d->events, peer, &req->u.subscribe, msg, sizeof(msg));
		if (rc != CORE_OK) {
			encode_error(out, core_strerror(rc), msg);
			return rc;
		}
	}
	mp_write_nil(out);
	mp_write_map(out, 1);
	mp_write_lit(out, "topics");
	event_write_topics(out, events_topics(peer));
	return CORE_OK;
}

void dispatch_turn(dispatch *d, int64_t now_ms)
{
	d->now_ms = now_ms;
	core_advance(d->core, now_ms);
	d->unavailable = d->persist ? persist_unavailable(d->persist) : NULL;
}

uint64_t dispatch_batch_first_lsn(const dispatch *d)
{
	return d->persist ? persist_batch_first_lsn(d->persist) : 0;
}

/* ---- errors ------------------------------------------------------------------ */

static int fail_core(mp_buf *out, const core_error *err)
{
	encode_core_error(out, err);
	return err->code;
}

/* A failed reserve or route.quote that planned (OUT_OF_STOCK) says why
 * when asked to explain. */
static int fail_explained(dispatch *d, mp_buf *out, const core_error *err, const core_reserve_cmd *r)
{
	core_explain ex;
	if (!r->explain || !core_explain_get(d->core, &ex))
		return fail_core(out, err);
	encode_core_error_head(out, err, 1);
	encode_explain(out, d->core, r);
	mp_write_nil(out);
	return err->code;
}

/* ---- changes ------------------------------------------------------------------- */

static void encode_change(dispatch *d, const core_cmd *cmd, const core_result *res, mp_buf *out)
{
	switch (res->kind) {
	case CORE_RESULT_RESV: {
		bool reserve = cmd->type == CORE_CMD_RESERVE;
		bool explained = reserve && cmd->u.reserve.explain && !res->replayed;
		encode_reservation_head(out, d->core, res->resv, res->replayed && reserve, explained);
		if (explained)
			encode_explain(out, d->core, &cmd->u.reserve);
		break;
	}
	case CORE_RESULT_LOCATION:
		encode_location(out, &res->location);
		break;
	case CORE_RESULT_CHANNEL:
		encode_channel(out, d->core, res->channel);
		break;
	case CORE_RESULT_SKU:
		encode_sku(out, &res->sku);
		break;
	case CORE_RESULT_INBOUND:
		encode_inbound(out, &res->inbound);
		break;
	case CORE_RESULT_RECORD:
		encode_record(out, &res->record);
		break;
	case CORE_RESULT_RECEIPT:
		encode_receipt(out, d->core, res);
		break;
	}
}

/*
 * Every method that changes state: the core decides, the journal records
 * what it decided (a replayed idempotent request changes nothing and is
 * not recorded), and in sync mode the reply waits for the journal, the
 * replay's too: its original may not be durable yet.
 */
static int exec_change(dispatch *d, const dispatch_peer *peer, const proto_request *req, mp_buf *out,
    dispatch_reply *r)
{
	const core_cmd *cmd = &req->u.change;
	core_result res;
	core_error err;
	assert(d->unavailable == NULL);
	int rc = core_exec(d->core, cmd, d->now_ms, &res, &err);
	if (rc && cmd->type == CORE_CMD_RESERVE)
		return fail_explained(d, out, &err, &cmd->u.reserve);
	if (rc)
		return fail_core(out, &err);
	if (d->persist && !res.replayed) {
		uint64_t lsn = persist_append_cmd(d->persist, cmd, core_now(d->core), peer->who->name);
		assert(lsn == d->last_lsn + 1);
		d->last_lsn = lsn;
	}
	if (d->mode == PERSIST_SYNC && d->last_lsn > persist_acked_lsn(d->persist))
		r->wait_lsn = d->last_lsn;
	mp_write_nil(out);
	encode_change(d, cmd, &res, out);
	return CORE_OK;
}

/* ---- reads ------------------------------------------------------------------------- */

static int exec_PING(dispatch *d, const proto_request *req, mp_buf *out)
{
	mp_write_nil(out);
	mp_write_lit(out, "pong");
	return CORE_OK;
}

static int exec_STOCK_GET(dispatch *d, const proto_request *req, mp_buf *out)
{
	const proto_stock_query *q = &req->u.stock;
	core_error err;
	uint32_t n = core_stock_count(d->core, q->sku, q->location);
	if (n == 0) {
		core_stock_get(d->core, q->sku, q->location, encode_record_item, out, &n, &err);
		return fail_core(out, &err);
	}
	mp_write_nil(out);
	mp_write_array(out, n);
	int rc = core_stock_get(d->core, q->sku, q->location, encode_record_item, out, &n, &err);
	assert(rc == CORE_OK);
	return rc;
}

/* stock.scan: the core checks the request before it emits anything, so a
 * refusal takes back only the result's head. */
static int exec_STOCK_SCAN(dispatch *d, const proto_request *req, mp_buf *out)
{
	core_scan_page page;
	core_error err;
	size_t mark = out->len;
	mp_write_nil(out);
	size_t at = encode_scan_head(out);
	if (core_stock_scan(d->core, &req->u.scan, encode_record_item, out, &page, &err) != 0) {
		out->len = mark;
		return fail_core(out, &err);
	}
	encode_scan_tail(out, at, &page);
	return CORE_OK;
}

static int exec_AVAIL(dispatch *d, const proto_request *req, mp_buf *out)
{
	const proto_avail_query *q = &req->u.avail;
	const core_channel *ch = NULL;
	core_error err;
	if (q->channel.p && core_channel_find(d->core, q->channel, &ch, &err) != 0)
		return fail_core(out, &err);
	mp_write_nil(out);
	mp_write_map(out, q->nskus);
	for (uint32_t i = 0; i < q->nskus; i++) {
		if (q->has_at)
			encode_avail_sku_at(out, d->core, q->skus[i], q->location, ch, q->at_ms);
		else
			encode_avail_sku(out, d->core, q->skus[i], q->location, ch);
	}
	return CORE_OK;
}

/* inbound.list {sku?}: at most CORE_INBOUND_LIST_MAX entries, else
 * TOO_LARGE (a sku has at most CORE_INBOUND_PER_SKU_MAX). */
static int exec_INBOUND_LIST(dispatch *d, const proto_request *req, mp_buf *out)
{
	_Static_assert(CORE_INBOUND_PER_SKU_MAX <= CORE_INBOUND_LIST_MAX, "one sku's entries always fit");
	core_str sku = req->u.inbound_list.sku;
	core_error err = { .code = CORE_E_TOO_LARGE };
	uint64_t n = core_inbound_count(d->core, sku);
	if (n > CORE_INBOUND_LIST_MAX) {
		snprintf(err.message, sizeof(err.message), "inbound.list: %llu entries, more than %d: name a sku",
		    (unsigned long long)n, CORE_INBOUND_LIST_MAX);
		return fail_core(out, &err);
	}
	size_t start = out->len;
	mp_write_nil(out);
	mp_write_array(out, (uint32_t)n);
	if (core_inbound_list(d->core, sku, encode_inbound_item, out, &err) != 0) {
		out->len = start; /* nothing was listed: answer the error instead */
		return fail_core(out, &err);
	}
	return CORE_OK;
}

/* route.quote: reserve's params; the plan, holding nothing. */
static int exec_ROUTE_QUOTE(dispatch *d, const proto_request *req, mp_buf *out)
{
	core_error err;
	if (core_quote(d->core, &req->u.quote, &err))
		return fail_explained(d, out, &err, &req->u.quote);
	mp_write_nil(out);
	encode_quote(out, d->core, &req->u.quote);
	return CORE_OK;
}

static int exec_RESERVATION_GET(dispatch *d, const proto_request *req, mp_buf *out)
{
	const core_resv *resv;
	core_error err;
	if (core_resv_find(d->core, req->u.reservation_id, &resv, &err))
		return fail_core(out, &err);
	mp_write_nil(out);
	encode_reservation(out, d->core, resv, false);
	return CORE_OK;
}

static int exec_LOCATION_LIST(dispatch *d, const proto_request *req, mp_buf *out)
{
	mp_write_nil(out);
	encode_location_list(out, d->core);
	return CORE_OK;
}

static int exec_STATS(dispatch *d, const proto_request *req, mp_buf *out)
{
	core_stats cs;
	proto_server_stats s = {
		.version = ALLOT_VERSION,
		.uptime_ms = d->now_ms - d->started_at_ms,
		.requests_total = d->requests_total,
		.errors_total = d->errors_total,
		.requests_by_cmd = d->requests_by_cmd,
		.access = {
			.tokens = d->auth != NULL,
			.ntokens = d->auth ? d->auth->ntokens : 0,
			.auth_failures = d->auth_failures,
			.closed_for_auth = d->closed_for_auth,
			.anonymous = &d->anonymous,
			.names = d->auth ? d->auth->names : NULL,
			.nnames = d->auth ? d->auth->nnames : 0,
		},
	};
	core_stats_get(d->core, &cs);
	if (d->server_stats)
		d->server_stats(d->server_stats_ud, &s);
	mp_write_nil(out);
	encode_stats(out, &cs, &s);
	if (d->persist)
		persist_write_stats(d->persist, out);
	else
		encode_durability_none(out, persist_mode_name(PERSIST_NONE));
	return CORE_OK;
}

/* snapshot {}: the reply comes once the snapshot is durable. */
static int exec_snapshot(dispatch *d, dispatch_peer *peer, mp_buf *out, dispatch_reply *r)
{
	char msg[200];
	if (d->persist == NULL) {
		encode_error(out, ALLOT_ERR_UNAVAILABLE, "durability is none: snapshots need --redis");
		return PROTO_E_UNAVAILABLE;
	}
	if (peer->deferred >= DISPATCH_DEFERRED_MAX) {
		snprintf(msg, sizeof(msg), "%d snapshot requests are already waiting on this connection",
		    DISPATCH_DEFERRED_MAX);
		encode_error(out, ALLOT_ERR_BUSY, msg);
		return CORE_E_BUSY;
	}
	int rc = persist_snapshot_request(d->persist, &r->run, msg, sizeof(msg));
	if (rc == PROTO_DEFERRED) {
		r->deferred = true;
		peer->deferred++;
		return CORE_OK;
	}
	encode_error(out, rc == PROTO_E_UNAVAILABLE ? ALLOT_ERR_UNAVAILABLE : core_strerror(rc), msg);
	return rc;
}

/* ---- the table ------------------------------------------------------------------------ */

typedef int (*exec_fn)(dispatch *d, const proto_request *req, mp_buf *out);

#define exec_STOCK_SET NULL
#define exec_STOCK_ADJUST NULL
#define exec_RESTOCK NULL
#define exec_RESERVE NULL
#define exec_COMMIT NULL
#define exec_RELEASE NULL
#define exec_FULFILL NULL
#define exec_EXTEND NULL
#define exec_LOCATION_PUT NULL
#define exec_CHANNEL_PUT NULL
#define exec_SKU_PUT NULL
#define exec_INBOUND_ADD NULL
#define exec_INBOUND_RECEIVE NULL
#define exec_SNAPSHOT NULL
#define exec_AUTH NULL
#define exec_SUBSCRIBE NULL
#define exec_UNSUBSCRIBE NULL

/* Reads, by method; changes (CMD_MUTATES), deferred methods and those on
 * the connection have NULL: exec_change(), exec_snapshot(), exec_auth()
 * and exec_subscription() take them. */
static const exec_fn readers[CMD_COUNT] = {
#define X(id, name, role, flags) [CMD_##id] = exec_##id,
	CMD_LIST(X)
#undef X
};

static int exec(dispatch *d, dispatch_peer *peer, const proto_request *req, mp_buf *out,
    dispatch_reply *r)
{
	const cmd_def *cmd = req->cmd;
	if (cmd->flags & CMD_MUTATES)
		return exec_change(d, peer, req, out, r);
	if (cmd->flags & CMD_DEFERRED)
		return exec_snapshot(d, peer, out, r);
	if (cmd->flags & CMD_CONNECTION && cmd->id != CMD_AUTH)
		return exec_subscription(d, peer, req, out);
	if (cmd->flags & CMD_CONNECTION)
		return exec_auth(d, peer, req, out, r);
	assert(readers[cmd->id] != NULL);
	return readers[cmd->id](d, req, out);
}

/* ---- one frame ------------------------------------------------------------------------- */

static void count(dispatch *d, proto_who_stats *who, const cmd_def *cmd, int code)
{
	d->requests_total++;
	who->requests++;
	if (cmd)
		d->requests_by_cmd[cmd->id]++;
	if (code != CORE_OK) {
		d->errors_total++;
		who->errors++;
		d->errors_by_cmd_code[cmd ? cmd->id : CMD_COUNT][metrics_code_index(code)]++;
	}
}

void dispatch_count_refusal(dispatch *d)
{
	d->errors_total++;
}

static int refused(dispatch *d, dispatch_peer *peer, const proto_refusal *why, mp_buf *out,
    dispatch_reply *r)
{
	encode_error_response(out, why->msgid, why->code, why->message);
	*r = (dispatch_reply){ .replied = true, .msgid = why->msgid, .code = why->core_code,
		.cmd = why->cmd ? why->cmd->id : CMD_COUNT };
	count(d, peer->who, why->cmd, why->core_code);
	return why->core_code;
}

/* A method above the connection's role: before auth, or outside it. */
static int refuse_access(dispatch *d, dispatch_peer *peer, proto_refusal *why, mp_buf *out,
    dispatch_reply *r)
{
	const cmd_def *cmd = why->cmd;
	if (peer->role == ROLE_NONE) {
		snprintf(why->message, sizeof(why->message),
		    "%s: this allotd needs a token: call auth {token} first", cmd->name);
		why->code = ALLOT_ERR_UNAUTHORIZED;
		why->core_code = PROTO_E_UNAUTHORIZED;
	} else {
		snprintf(why->message, sizeof(why->message), "%s: needs role %s; %.*s has role %s",
		    cmd->name, access_role_name(cmd->role), (int)peer->who->name.len, peer->who->name.p,
		    access_role_name(peer->role));
		why->code = ALLOT_ERR_FORBIDDEN;
		why->core_code = PROTO_E_FORBIDDEN;
	}
	return refused(d, peer, why, out, r);
}

/* dispatch_frame(), returning the code answered. */
static int handle(dispatch *d, dispatch_peer *peer, const uint8_t *frame, size_t len,
    mp_buf *out, dispatch_reply *r)
{
	proto_request req;
	proto_refusal why;
	*r = (dispatch_reply){ .code = CORE_OK, .cmd = CMD_COUNT };
	proto_decoded decoded = proto_decode(&d->dec, frame, len, &req, &why);
	if (decoded == PROTO_IGNORED)
		return CORE_OK;
	if (decoded == PROTO_REFUSED)
		return refused(d, peer, &why, out, r);
	const cmd_def *cmd = req.cmd;
	/* The one access check: the method's role against the connection's. */
	if (cmd->role > peer->role)
		return refuse_access(d, peer, &why, out, r);
	/* A change that cannot be made durable is refused before its params
	 * are read: nothing about it matters until Redis is back. */
	if ((cmd->flags & CMD_MUTATES) && d->unavailable) {
		snprintf(why.message, sizeof(why.message), "%s", d->unavailable);
		why.code = ALLOT_ERR_UNAVAILABLE;
		why.core_code = PROTO_E_UNAVAILABLE;
		return refused(d, peer, &why, out, r);
	}
	if (proto_decode_params(&d->dec, &req, &why) != 0)
		return refused(d, peer, &why, out, r);
	size_t start = out->len;
	r->msgid = req.msgid;
	r->cmd = cmd->id;
	encode_response_head(out, req.msgid);
	r->code = exec(d, peer, &req, out, r);
	if (r->deferred) {
		/* The reply comes later: take back the envelope's head. */
		out->len = start;
		assert(r->code == CORE_OK && r->wait_lsn == 0);
	}
	r->replied = !r->deferred;
	count(d, peer->who, cmd, r->code);
	return r->code;
}

void dispatch_frame(dispatch *d, dispatch_peer *peer, const uint8_t *frame, size_t len,
    mp_buf *out, dispatch_reply *r)
{
	handle(d, peer, frame, len, out, r);
}

/* ---- the sweep and deferred replies ---------------------------------------------------- */

uint32_t dispatch_sweep(dispatch *d, int64_t now_ms, uint32_t budget)
{
	uint32_t done = core_sweep(d->core, now_ms, budget);
	uint32_t forgot_resv, forgot_keys;
	core_sweep_forgot(d->core, &forgot_resv, &forgot_keys);
	if (d->persist && (forgot_resv || forgot_keys)) {
		uint64_t lsn = persist_append_sweep(d->persist, core_now(d->core), forgot_resv, forgot_keys);
		assert(lsn == d->last_lsn + 1);
		d->last_lsn = lsn;
	}
	return done;
}

void dispatch_snapshot_reply(mp_buf *out, uint32_t msgid, int code, const char *message,
    const persist_snapshot_info *info)
{
	if (code != 0) {
		encode_error_response(out, msgid, code == CORE_E_BUSY ? ALLOT_ERR_BUSY : ALLOT_ERR_UNAVAILABLE,
		    message);
		return;
	}
	proto_snapshot_result res = {
		.lsn = info->lsn,
		.taken_at_ms = info->taken_at_ms,
		.bytes = info->bytes,
		.chunks = info->chunks,
		.duration_ms = info->duration_ms,
		.fork_us = info->fork_us,
	};
	encode_response_head(out, msgid);
	mp_write_nil(out);
	encode_snapshot_result(out, &res);
}
