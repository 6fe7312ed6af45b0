/*
 * server_control.c - how allotd's server is stopped, reloaded and
 * observed from outside the request path: SIGINT and SIGTERM (a graceful
 * stop, bounded by shutdown_timeout_ms), SIGHUP (the auth file read
 * again), and the figures of `stats` that the server keeps. The request
 * path itself is server.c's.
 */
#include "server_internal.h"

#include "auth.h"
#include "log.h"
#include "notify.h"

#include <assert.h>
#include <jemalloc/jemalloc.h>
#include <signal.h>
#include <stdint.h>

static void on_shutdown_timeout(uv_timer_t *t)
{
	server *srv = t->data;
	/* Armed only by the first SIGINT or SIGTERM. */
	assert(srv->stopping);
	log_warn("shutdown: replies still unsent after %u ms; closing the remaining connections",
	    srv->cfg->shutdown_timeout_ms);
	for (conn *cn = srv->conns; cn; cn = cn->next)
		conn_close(cn);
	iothreads_stop(srv->io, true);
	persist_close(srv->persist);
}

static void on_signal(uv_signal_t *s, int signum)
{
	server *srv = s->data;
	assert(signum == SIGINT || signum == SIGTERM);
	const char *name = signum == SIGINT ? "SIGINT" : "SIGTERM";
	if (srv->stopping) {
		log_warn("received %s again; closing the remaining connections now", name);
		for (conn *cn = srv->conns; cn; cn = cn->next)
			conn_close(cn);
		iothreads_stop(srv->io, true);
		return;
	}
	srv->stopping = true;
	log_info("received %s; stopping: no new connections, sending the replies owed", name);
	notify_stopping();
	if (srv->io)
		iothreads_stop(srv->io, false);
	else
		uv_close((uv_handle_t *)&srv->listener, NULL);
	if (srv->unix_listening)
		uv_close((uv_handle_t *)&srv->unix_listener, NULL);
	uv_close((uv_handle_t *)&srv->sweep, NULL);
	/* The signal handlers stay, so a repeated signal is handled rather
	 * than killing the process, but they no longer keep the loop alive. */
	uv_unref((uv_handle_t *)&srv->sigint);
	uv_unref((uv_handle_t *)&srv->sigterm);
	uv_unref((uv_handle_t *)&srv->sighup);
	uv_timer_start(&srv->shutdown_timer, on_shutdown_timeout, srv->cfg->shutdown_timeout_ms, 0);
	uv_unref((uv_handle_t *)&srv->shutdown_timer);
	uv_close((uv_handle_t *)&srv->busy_meter, NULL);
	http_stop(srv->http);
	conn *next;
	for (conn *cn = srv->conns; cn; cn = next) {
		next = cn->next;
		conn_finish(cn);
	}
	persist_stop(srv->persist);
}

/* The figures of `stats` that the server keeps. */
void server_stats_fill(void *ud, proto_server_stats *s)
{
	server *srv = ud;
	assert(srv != NULL && s != NULL);
	uint64_t epoch = 1;
	size_t len = sizeof(epoch);
	mallctl("epoch", &epoch, &len, &epoch, len);
	size_t v;
	len = sizeof(v);
	if (mallctl("stats.allocated", &v, &len, NULL, 0) == 0)
		s->memory_allocated = v;
	len = sizeof(v);
	if (mallctl("stats.resident", &v, &len, NULL, 0) == 0)
		s->memory_resident = v;
	s->connections_current = srv->connections_current;
	s->connections_total = srv->connections_total;
	s->connections_rejected = srv->connections_rejected;
	s->connections_idle_closed = srv->fair.idle_closed;
	s->connections_frame_timeouts = srv->fair.frame_timeouts;
	s->connections_budget_stops = srv->fair.budget_stops;
	s->loop_busy_max_us = srv->loop_busy_max_us;
	if (srv->io)
		iothreads_counts(srv->io, &s->connections_current, &s->connections_total,
		    &s->connections_rejected);
	metrics_subscribers_set(srv->metrics, srv->events ? events_subscriber_count(srv->events) : 0);
}

/*
 * SIGHUP: read the auth file again. A file that does not load leaves the
 * tokens in force as they were (the reason is logged). Otherwise the new
 * set replaces the old at once: each authenticated connection keeps going
 * under its token's new line (its role may have changed), and those whose
 * token is gone get what they are owed and are closed.
 */
static void on_sighup(uv_signal_t *sig, int signum)
{
	server *srv = sig->data;
	assert(signum == SIGHUP);
	if (srv->cfg->auth_file == NULL) {
		log_warn("received SIGHUP; there is no --auth-file to read again");
		return;
	}
	char why[512];
	auth_set *fresh = NULL, *old = srv->dispatch.auth;
	if (auth_set_load(srv->cfg->auth_file, &fresh, why, sizeof(why)) != 0) {
		log_error("received SIGHUP; keeping the %u tokens in force: %s", old ? old->ntokens : 0, why);
		return;
	}
	assert(fresh != NULL);
	dispatch_set_auth(&srv->dispatch, fresh);
	uint32_t closed = 0;
	conn *next;
	for (conn *cn = srv->conns; cn; cn = next) {
		next = cn->next;
		if (!dispatch_peer_rebind(&srv->dispatch, &cn->peer) && !cn->closing) {
			closed++;
			conn_finish(cn);
		}
	}
	auth_set_destroy(old);
	log_info("received SIGHUP; %u tokens of %u names from %s; closed %u connections whose token was "
	    "removed", fresh->ntokens, fresh->nnames, srv->cfg->auth_file, closed);
}

void server_signals_start(server *srv)
{
	uv_timer_init(srv->loop, &srv->shutdown_timer);
	srv->shutdown_timer.data = srv;
	uv_signal_init(srv->loop, &srv->sigint);
	uv_signal_init(srv->loop, &srv->sigterm);
	srv->sigint.data = srv->sigterm.data = srv;
	uv_signal_start(&srv->sigint, on_signal, SIGINT);
	uv_signal_start(&srv->sigterm, on_signal, SIGTERM);
	uv_signal_init(srv->loop, &srv->sighup);
	srv->sighup.data = srv;
	uv_signal_start(&srv->sighup, on_sighup, SIGHUP);
}
