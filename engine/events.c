/*
 * events.c - subscriptions and each turn's events (events.h).
 *
 * Order within a turn's events: the reservations' changes as they
 * happened, then the records' stock (one per record, latest values), then
 * per sku its low_stock, out_of_stock or back_in_stock. seq numbers them
 * in that order, across subscribers and the stream alike.
 */
#include "events.h"

#include "conn.h"
#include "dispatch.h"
#include "log.h"
#include "outq.h"

#include <assert.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct events_sub {
	conn *cn;
	events_sub *prev, *next;
	uint32_t topics;
	bool wrote;        /* notifications queued this drain: flush after */
	bool cut;          /* too far behind: closing, nothing more queued */
	uint32_t nskus;    /* 0: every sku */
	core_str *skus;    /* sorted; names copied after the array */
};

struct events {
	uv_loop_t *loop;
	dispatch *d;
	core *core;
	persist *persist;  /* NULL, or with a stream */
	events_config cfg;
	uv_check_t check;
	events_sub *subs;
	uint32_t nsubs;
	uint64_t seq;
	mp_buf item;       /* the event being published, as the stream's item */
	mp_buf note;       /* its notification, written once for every subscriber */
	uint64_t gate_lsn; /* this drain's: notifications leave once acked to it */
	uint64_t batch_first;
	uint64_t published, notifications, cut, lost;
	uint64_t core_lost; /* core_changes_lost() as last logged */
};

static conn *conn_of(struct dispatch_peer *peer)
{
	return (conn *)(void *)((char *)peer - offsetof(conn, peer));
}

/* Track in the core exactly while someone listens. */
static void events_settle(events *ev)
{
	bool want = ev->nsubs > 0 || ev->persist != NULL;
	if (want == core_tracking(ev->core))
		return;
	if (core_track(ev->core, want) != 0)
		log_error("events: out of memory: changes are not tracked");
}

/* ---- subscriptions -------------------------------------------------------------- */

static int name_cmp(const void *a, const void *b)
{
	const core_str *x = a, *y = b;
	int n = memcmp(x->p, y->p, x->len < y->len ? x->len : y->len);
	return n ? n : (x->len > y->len) - (x->len < y->len);
}

static bool sub_wants_sku(const events_sub *s, core_str sku)
{
	return s->nskus == 0 || bsearch(&sku, s->skus, s->nskus, sizeof(*s->skus), name_cmp) != NULL;
}

static void sub_unlink(events *ev, events_sub *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		ev->subs = s->next;
	if (s->next)
		s->next->prev = s->prev;
	assert(ev->nsubs > 0);
	ev->nsubs--;
	s->cn->peer.sub = NULL;
	free(s);
}

/* A subscription with its own copy of the sku names. NULL without memory. */
static events_sub *sub_make(const proto_subscribe *req)
{
	size_t bytes = sizeof(events_sub) + (size_t)req->nskus * sizeof(core_str);
	for (uint32_t i = 0; i < req->nskus; i++)
		bytes += req->skus[i].len;
	events_sub *s = calloc(1, bytes);
	if (s == NULL)
		return NULL;
	s->topics = req->topics;
	s->nskus = req->nskus;
	s->skus = (core_str *)(void *)(s + 1);
	char *names = (char *)(s->skus + req->nskus);
	for (uint32_t i = 0; i < req->nskus; i++) {
		memcpy(names, req->skus[i].p, req->skus[i].len);
		s->skus[i] = (core_str){ names, req->skus[i].len };
		names += req->skus[i].len;
	}
	return s;
}

int events_subscribe(events *ev, struct dispatch_peer *peer, const proto_subscribe *req,
    char *message, size_t message_len)
{
	assert(req->topics != 0 && (req->topics & ~EVENT_TOPICS_ALL) == 0);
	events_sub *s = sub_make(req);
	if (s == NULL) {
		snprintf(message, message_len, "subscribe: out of memory");
		return CORE_E_BUSY;
	}
	if (peer->sub)
		sub_unlink(ev, peer->sub);
	s->cn = conn_of(peer);
	s->next = ev->subs;
	if (ev->subs)
		ev->subs->prev = s;
	ev->subs = s;
	ev->nsubs++;
	peer->sub = s;
	events_settle(ev);
	return CORE_OK;
}

void events_unsubscribe(events *ev, struct dispatch_peer *peer)
{
	if (peer->sub == NULL)
		return;
	sub_unlink(ev, peer->sub);
	events_settle(ev);
}

uint32_t events_topics(const struct dispatch_peer *peer)
{
	return peer->sub ? peer->sub->topics : 0;
}

/* ---- publishing ----------------------------------------------------------------- */

/* A subscriber too far behind: cut off now, whatever it is owed. */
static void sub_cut(events *ev, events_sub *s)
{
	s->cut = true;
	ev->cut++;
	log_warn("connection %" PRIu64 ": a subscriber more than %zu bytes behind; disconnecting it",
	    s->cn->id, ev->cfg.subscriber_bytes_max);
	conn_close(s->cn);
}

static void sub_queue(events *ev, events_sub *s)
{
	conn *cn = s->cn;
	mp_buf *out = outq_tail(&cn->out);
	bool ok = out != NULL && !mp_buf_failed(&ev->note);
	if (ok) {
		size_t before = out->len;
		mp_write_raw(out, ev->note.data, ev->note.len);
		ok = !mp_buf_failed(out) && outq_wrote(&cn->out, before, ev->gate_lsn, ev->batch_first);
	}
	ev->notifications++;
	s->wrote = true;
	if (!ok || cn->out.bytes + cn->inflight.len > ev->cfg.subscriber_bytes_max)
		sub_cut(ev, s);
}

/* Number e and hand it to the stream and every subscriber it matches
 * (r: the reservation of a reservation event, for the skus filter). */
static void publish(events *ev, proto_event *e, const core_resv *r)
{
	e->seq = ++ev->seq;
	ev->published++;
	if (ev->persist) {
		/* A failed write (no memory) marks the buffer: the event is
		 * then missing from the stream, and said so once. */
		mp_buf_reset(&ev->item);
		event_write_item(&ev->item, e);
		if ((mp_buf_failed(&ev->item) ||
		    persist_append_event(ev->persist, e->seq, ev->item.data, ev->item.len) != 0) &&
		    ev->lost++ == 0)
			log_error("events: out of memory: an event is missing from the stream");
	}
	bool encoded = false;
	for (events_sub *s = ev->subs; s; s = s->next) {
		if (!(s->topics & e->topic) || s->cut || s->cn->closing)
			continue;
		if (s->nskus && e->topic != EVENT_RESERVATION && !sub_wants_sku(s, e->sku))
			continue;
		if (s->nskus && e->topic == EVENT_RESERVATION) {
			/* Any of its lines' skus will do; a reservation already
			 * forgotten (retain_ms 0) matches no filter. */
			bool any = false;
			core_resv_view rv;
			if (r)
				core_resv_view_get(ev->core, r, &rv);
			for (uint32_t i = 0; r && !any && i < rv.nlines; i++) {
				core_line_view lv;
				core_resv_line_get(ev->core, r, i, &lv);
				any = sub_wants_sku(s, lv.sku);
			}
			if (!any)
				continue;
		}
		if (!encoded) {
			mp_buf_reset(&ev->note);
			event_write_notification(&ev->note, e);
			encoded = true;
		}
		sub_queue(ev, s);
	}
}

static void on_resv(void *ud, const core_change_resv *ch)
{
	proto_event e = { .topic = EVENT_RESERVATION, .at_ms = ch->at_ms, .reservation_id = ch->id,
		.order_id = ch->order_id, .status = core_resv_status_name(ch->status) };
	publish(ud, &e, ch->resv);
}

static void on_record(void *ud, const core_record_view *rec)
{
	events *ev = ud;
	proto_event e = { .topic = EVENT_STOCK, .at_ms = core_now(ev->core), .sku = rec->sku,
		.location = rec->location, .on_hand = rec->on_hand, .reserved = rec->reserved,
		.committed = rec->committed, .available = rec->available };
	publish(ev, &e, NULL);
}

static void on_sku(void *ud, const core_change_sku *ch)
{
	events *ev = ud;
	proto_event e = { .at_ms = core_now(ev->core), .sku = ch->sku, .available = ch->available,
		.threshold = ch->low_stock };
	if (ch->low_stock > 0 && ch->before > ch->low_stock && ch->available <= ch->low_stock) {
		e.topic = EVENT_LOW_STOCK;
		publish(ev, &e, NULL);
	}
	if (ch->before > 0 && ch->available == 0) {
		e.topic = EVENT_OUT_OF_STOCK;
		publish(ev, &e, NULL);
	}
	if (ch->before == 0 && ch->available > 0) {
		e.topic = EVENT_BACK_IN_STOCK;
		publish(ev, &e, NULL);
	}
}

void events_drain(events *ev)
{
	/* The one test paid when nobody listens: the core tracks nothing. */
	if (__builtin_expect(core_changes_pending(ev->core) == 0, 1))
		return;
	dispatch *d = ev->d;
	/* In sync mode a notification leaves, like a reply, once its change
	 * is durable: gated on the journal's last record so far. */
	ev->gate_lsn = d->mode == PERSIST_SYNC && d->last_lsn > persist_acked_lsn(d->persist)
	    ? d->last_lsn : 0;
	ev->batch_first = dispatch_batch_first_lsn(d);
	core_changes_sink sink = { on_resv, on_record, on_sku, ev };
	core_changes_drain(ev->core, &sink);
	for (events_sub *s = ev->subs; s; s = s->next) {
		if (s->wrote && !s->cut && !s->cn->closing)
			conn_flush(s->cn);
		s->wrote = false;
	}
	uint64_t lost = core_changes_lost(ev->core);
	if (lost != ev->core_lost) {
		log_error("events: %" PRIu64 " changes were not tracked (over %u a turn, or no memory)",
		    lost - ev->core_lost, CORE_CHANGES_MAX);
		ev->core_lost = lost;
	}
}

/* ---- life cycle ----------------------------------------------------------------- */

static void on_check(uv_check_t *h)
{
	events_drain(h->data);
}

static void on_seal(void *ud)
{
	events_drain(ud);
}

events *events_create(uv_loop_t *loop, dispatch *d, persist *p, const events_config *cfg,
    uint64_t seq)
{
	events *ev = calloc(1, sizeof(*ev));
	if (ev == NULL)
		return NULL;
	ev->loop = loop;
	ev->d = d;
	ev->core = d->core;
	ev->persist = p && persist_has_stream(p) ? p : NULL;
	ev->cfg = *cfg;
	ev->seq = seq;
	mp_buf_init(&ev->item);
	mp_buf_init(&ev->note);
	uv_check_init(loop, &ev->check);
	ev->check.data = ev;
	uv_check_start(&ev->check, on_check);
	uv_unref((uv_handle_t *)&ev->check);
	if (ev->persist)
		persist_set_seal_hook(ev->persist, on_seal, ev);
	events_settle(ev);
	return ev;
}

void events_close(events *ev)
{
	if (ev && !uv_is_closing((uv_handle_t *)&ev->check))
		uv_close((uv_handle_t *)&ev->check, NULL);
}

void events_destroy(events *ev)
{
	if (ev == NULL)
		return;
	/* Connections are gone by now (each unsubscribed as it closed);
	 * free what is left without looking at them. */
	while (ev->subs) {
		events_sub *s = ev->subs;
		ev->subs = s->next;
		free(s);
	}
	mp_buf_finish(&ev->item);
	mp_buf_finish(&ev->note);
	free(ev);
}

uint32_t events_subscriber_count(const events *ev)
{
	return ev ? ev->nsubs : 0;
}

void events_stats_get(const events *ev, events_stats *out)
{
	*out = (events_stats){ .subscribers = ev->nsubs, .seq = ev->seq, .published = ev->published,
		.notifications = ev->notifications, .subscribers_cut = ev->cut,
		.lost = ev->lost + core_changes_lost(ev->core) };
}
