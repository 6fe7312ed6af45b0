/*
 * snapshotter.c - snapshots taken by a forked child (see snapshotter.h).
 */
#define _GNU_SOURCE
#include "snapshotter.h"

#include "command.h"
#include "clock.h"
#include "log.h"
#include "store.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* How often the parent looks whether the child has exited. */
#define CHILD_POLL_MS 2
/* The child waits this long for each Redis reply. */
#define CHILD_REPLY_TIMEOUT_MS 30000
/* Failed snapshots' keys waiting to be deleted; more are left to the next
 * start, which deletes every snapshot key but the current. */
#define DELS_MAX 8

/*
 * Makes the new snapshot current and keeps the history: every snapshot is
 * indexed in the snaps hash; the history starts at the newest snapshot
 * taken at or before now - keep_ms (it never moves back), moved on to
 * newer snapshots while the journal after it holds more than keep_bytes.
 * The journal before the history's start is trimmed, and the snapshots
 * before it deleted -- but never what a live archiver has not copied
 * (archivers silent for longer than keep_ms are forgotten and named in the
 * reply). Atomic, as a script. KEYS: meta, journal, new, snaps, archivers;
 * ARGV: lsn, taken at, format, journal bytes up to lsn, keep_ms,
 * keep_bytes, now_ms, the most snapshots kept. Returns [history lsn, its
 * snapshot's time (0: none), its journal bytes, forgotten archivers...].
 */
static const char SWITCH_SCRIPT[] =
    "local meta, journal, new, snaps, arch = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5] "
    "local jb, keep_ms, keep_bytes, now = tonumber(ARGV[4]), tonumber(ARGV[5]), "
    "  tonumber(ARGV[6]), tonumber(ARGV[7]) "
    "redis.call('HSET', meta, '" DURABLE_META_SNAPSHOT "', new, '" DURABLE_META_SNAPSHOT_LSN
    "', ARGV[1], '" DURABLE_META_SNAPSHOT_AT_MS "', ARGV[2], '" DURABLE_META_FORMAT "', ARGV[3]) "
    "redis.call('HSET', snaps, new, ARGV[1] .. ' ' .. ARGV[2] .. ' ' .. ARGV[4]) "
    "local list, all = {}, redis.call('HGETALL', snaps) "
    "for i = 1, #all, 2 do "
    "  local l, a, b = string.match(all[i + 1], '^(%d+) (%d+) (%d+)$') "
    "  if l then table.insert(list, {key = all[i], lsn = tonumber(l), at = tonumber(a), "
    "    jb = tonumber(b)}) end "
    "end "
    "table.sort(list, function(x, y) return x.lsn < y.lsn end) "
    "local hist = tonumber(redis.call('HGET', meta, '" DURABLE_META_HISTORY_LSN "') or '0') "
    "local base = 0 "
    "for i, s in ipairs(list) do "
    "  if s.lsn == hist or (s.lsn > hist and s.at <= now - keep_ms) then base = i end "
    "end "
    "while base < #list and #list - base >= tonumber(ARGV[8]) do base = base + 1 end "
    "while base < #list and jb - (base > 0 and list[base].jb or 0) > keep_bytes do "
    "  base = base + 1 end "
    "local b_lsn, b_at, b_jb = hist, 0, 0 "
    "if base > 0 then b_lsn, b_at, b_jb = list[base].lsn, list[base].at, list[base].jb end "
    "local trim, snap_limit, out = b_lsn, b_lsn, {b_lsn, b_at, b_jb} "
    "local arcs = redis.call('HGETALL', arch) "
    "for i = 1, #arcs, 2 do "
    "  local l, sl, hb = string.match(arcs[i + 1], '^(%d+) (%d+) (%d+)$') "
    "  if not l or tonumber(hb) < now - keep_ms then "
    "    redis.call('HDEL', arch, arcs[i]) table.insert(out, arcs[i]) "
    "  else "
    "    trim = math.min(trim, tonumber(l)) snap_limit = math.min(snap_limit, tonumber(sl)) "
    "  end "
    "end "
    "for i, s in ipairs(list) do "
    "  if s.lsn < b_lsn and s.lsn <= snap_limit and s.key ~= new then "
    "    redis.call('DEL', s.key) redis.call('HDEL', snaps, s.key) end "
    "end "
    "redis.call('HSET', meta, '" DURABLE_META_HISTORY_LSN "', b_lsn) "
    "if trim > 0 then redis.call('XTRIM', journal, 'MINID', (trim + 1) .. '-0') end "
    "return out";

/* A finished child's snapshot, until the script has made it current. */
enum switch_state { SWITCH_NONE, SWITCH_WAITING, SWITCH_SENT };

/* A failed snapshot's key, until Redis has deleted it. */
typedef struct del_item {
	struct del_item *next;
	snapshotter *s;
	bool sent;
	char key[DURABLE_KEY_MAX];
} del_item;

struct snapshotter {
	uv_loop_t *loop;
	snapshotter_config cfg;
	char ns[DURABLE_NAMESPACE_MAX + 1];
	char key_meta[DURABLE_KEY_MAX];
	char key_journal[DURABLE_KEY_MAX];
	char key_snaps[DURABLE_KEY_MAX];
	char key_archivers[DURABLE_KEY_MAX];
	const core *core;
	redis_link *link;
	journal_writer *writer;

	uv_timer_t snap_timer;   /* periodic */
	uv_timer_t child_timer;  /* polls the child */
	pid_t child;
	int child_pipe;
	uint64_t run;            /* runs started */
	bool again;              /* a request came during the current run */
	bool starting;           /* inside snapshot_start: the seal it makes is ours */
	bool stopping;
	bool closed;
	uint64_t child_lsn;
	int64_t child_at_ms;
	uint64_t child_journal_bytes; /* the journal's batch bytes up to child_lsn */
	uint64_t child_t0_us, child_fork_us;
	char child_key[DURABLE_KEY_MAX];

	enum switch_state sw;
	uint64_t sw_bytes;
	uint32_t sw_chunks;

	del_item *dels;
	uint32_t ndels;

	uint64_t snap_lsn;       /* the current snapshot */
	int64_t snap_at_ms;
	char snap_key[DURABLE_KEY_MAX];
	uint64_t journal_bytes_base; /* batch bytes before the writer's first */
	snapshotter_history history;
	snapshotter_info last;
	uint64_t taken, failed;

	snapshotter_done_fn done_fn;
	snapshotter_idle_fn idle_fn;
	void *ud;
};


static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int snapshot_start(snapshotter *s, char *why, size_t why_len);

bool snapshotter_running(const snapshotter *s)
{
	return s->child != 0 || s->sw != SWITCH_NONE;
}

bool snapshotter_busy(const snapshotter *s)
{
	return snapshotter_running(s) || s->dels != NULL;
}

static void maybe_idle(snapshotter *s)
{
	if (!snapshotter_busy(s) && s->idle_fn)
		s->idle_fn(s->ud);
}

/* The current run ended: report it, and start the one a request asked for
 * meanwhile. */
static void snapshot_finish(snapshotter *s, int code, const char *message)
{
	assert(s->child == 0 && s->sw == SWITCH_NONE);
	uint64_t run = s->run;
	snapshotter_info info = s->last;
	info.lsn = s->child_lsn;
	info.taken_at_ms = s->child_at_ms;
	info.duration_ms = (mono_us() - s->child_t0_us) / 1000;
	info.fork_us = s->child_fork_us;
	if (code == 0) {
		info.bytes = s->sw_bytes;
		info.chunks = s->sw_chunks;
		s->taken++;
		s->last = info;
		log_info("snapshot at lsn %" PRIu64 " is current: %" PRIu64 " bytes in %u chunks, %" PRIu64
		    " ms; the history kept starts after lsn %" PRIu64, info.lsn, info.bytes, info.chunks,
		    info.duration_ms, s->history.lsn);
	} else {
		s->failed++;
	}
	if (s->done_fn)
		s->done_fn(s->ud, run, code, message, &info);
	if (s->again && !s->stopping && !s->closed) {
		s->again = false;
		char why[300];
		if (snapshot_start(s, why, sizeof(why)) != 0) {
			s->run++;
			if (s->done_fn)
				s->done_fn(s->ud, s->run, PROTO_E_UNAVAILABLE, why, &info);
		}
	}
}

/* ---- deleting a failed snapshot's key -------------------------------------- */

static void on_del_reply(void *ud, const redisReply *r)
{
	del_item *d = ud;
	snapshotter *s = d->s;
	if (r == NULL) {
		d->sent = false; /* lost with the connection: again when it is back */
		return;
	}
	if (r->type == REDIS_REPLY_ERROR)
		log_warn("removing %s failed: %s", d->key, r->str);
	del_item **at = &s->dels;
	while (*at != d)
		at = &(*at)->next;
	*at = d->next;
	s->ndels--;
	free(d);
	maybe_idle(s);
}

static void dels_send(snapshotter *s)
{
	for (del_item *d = s->dels; d && redis_link_is_up(s->link); d = d->next) {
		if (d->sent)
			continue;
		const char *argv[] = { "DEL", d->key };
		d->sent = redis_link_send(s->link, 2, argv, NULL, on_del_reply, d) == 0;
	}
}

static void del_later(snapshotter *s, const char *key)
{
	del_item *d = s->ndels < DELS_MAX ? calloc(1, sizeof(*d)) : NULL;
	if (d == NULL) {
		log_warn("%s is left for the next start to remove", key);
		return;
	}
	d->s = s;
	snprintf(d->key, sizeof(d->key), "%s", key);
	d->next = s->dels;
	s->dels = d;
	s->ndels++;
	dels_send(s);
}

/* ---- switching to a new snapshot ------------------------------------------- */

/* Where the history starts now, and the archivers the switch forgot, from
 * its reply. */
static void history_of_reply(snapshotter *s, const redisReply *r)
{
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 3) {
		log_warn("the snapshot switch answered no history position");
		return;
	}
	const redisReply *const *e = (const redisReply *const *)r->element;
	if (e[0]->type == REDIS_REPLY_INTEGER && e[1]->type == REDIS_REPLY_INTEGER &&
	    e[2]->type == REDIS_REPLY_INTEGER && e[0]->integer >= 0) {
		assert((uint64_t)e[0]->integer <= s->child_lsn);
		s->history.lsn = (uint64_t)e[0]->integer;
		if (e[1]->integer > 0)
			s->history.at_ms = e[1]->integer;
		s->history.journal_bytes = (uint64_t)(e[2]->integer > 0 ? e[2]->integer : 0);
	}
	for (size_t i = 3; i < r->elements; i++)
		if (e[i]->type == REDIS_REPLY_STRING)
			log_warn("archiver %s was silent for longer than --journal-keep-ms (%" PRIu64 " ms): it is "
			    "forgotten, and the journal it had not copied may now be trimmed", e[i]->str,
			    s->cfg.keep_ms);
}

static void on_switch_reply(void *ud, const redisReply *r)
{
	snapshotter *s = ud;
	assert(s->sw == SWITCH_SENT);
	if (r == NULL) {
		s->sw = SWITCH_WAITING; /* lost with the connection: again when it is back */
		return;
	}
	s->sw = SWITCH_NONE;
	if (r->type == REDIS_REPLY_ERROR) {
		log_error("switching to snapshot %s failed: %s", s->child_key, r->str);
		snapshot_finish(s, PROTO_E_UNAVAILABLE, "switching to the new snapshot failed in Redis");
	} else {
		assert(s->child_lsn >= s->snap_lsn);
		history_of_reply(s, r);
		s->snap_lsn = s->child_lsn;
		s->snap_at_ms = s->child_at_ms;
		snprintf(s->snap_key, sizeof(s->snap_key), "%s", s->child_key);
		snapshot_finish(s, 0, NULL);
	}
	maybe_idle(s);
}

/* Send the switch once Redis has every record the snapshot covers, so
 * that its trim never drops a record before it landed. */
static void switch_maybe(snapshotter *s)
{
	if (s->sw != SWITCH_WAITING || !redis_link_is_up(s->link) ||
	    journal_writer_acked_lsn(s->writer) < s->child_lsn)
		return;
	char lsn[24], at[24], fmt[16], jb[24], keep_ms[24], keep_bytes[24], now[24], most[16];
	snprintf(lsn, sizeof(lsn), "%" PRIu64, s->child_lsn);
	snprintf(at, sizeof(at), "%" PRId64, s->child_at_ms);
	snprintf(fmt, sizeof(fmt), "%d", DURABLE_FORMAT);
	snprintf(jb, sizeof(jb), "%" PRIu64, s->child_journal_bytes);
	snprintf(keep_ms, sizeof(keep_ms), "%" PRIu64, s->cfg.keep_ms);
	snprintf(keep_bytes, sizeof(keep_bytes), "%" PRIu64, s->cfg.keep_bytes);
	snprintf(now, sizeof(now), "%" PRId64, clock_now_ms());
	snprintf(most, sizeof(most), "%d", STORE_SNAPS_MAX);
	const char *argv[] = { "EVAL", SWITCH_SCRIPT, "5", s->key_meta, s->key_journal, s->child_key,
		s->key_snaps, s->key_archivers, lsn, at, fmt, jb, keep_ms, keep_bytes, now, most };
	if (redis_link_send(s->link, 16, argv, NULL, on_switch_reply, s) == 0)
		s->sw = SWITCH_SENT;
}

/* ---- the child ---------------------------------------------------------------- */

/* In the child: write the snapshot, report through fd, exit. Never returns. */
static void __attribute__((noreturn)) child_main(const snapshotter *s, pid_t parent, int fd)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(3);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	/* Drop the parent's sockets (the listener above all), so that a child
	 * outliving a killed parent cannot hold its port. */
	if (fd > 3)
		close_range(3, (unsigned)fd - 1, 0);
	close_range((unsigned)fd + 1, ~0U, 0);
	char why[400];
	store *st = store_connect(&s->cfg.url, s->ns, s->cfg.connect_timeout_ms, CHILD_REPLY_TIMEOUT_MS,
	    why, sizeof(why));
	if (st == NULL) {
		log_error("snapshot: cannot reach Redis: %s", why);
		_exit(1);
	}
	uint64_t bytes = 0;
	uint32_t chunks = 0;
	if (store_write_snapshot(st, s->child_key, s->core, s->child_lsn, s->cfg.chunk_bytes, &bytes,
	        &chunks, why, sizeof(why)) != 0) {
		log_error("snapshot: %s", why);
		_exit(1);
	}
	uint64_t report[2] = { bytes, chunks };
	if (write(fd, report, sizeof(report)) != (ssize_t)sizeof(report))
		_exit(1);
	_exit(0);
}

static void child_reaped(snapshotter *s, bool ok, const uint64_t report[2], int status)
{
	if (!ok) {
		log_error("snapshot at lsn %" PRIu64 " failed (the writer exited with status %d)", s->child_lsn,
		    status);
		del_later(s, s->child_key);
		snapshot_finish(s, PROTO_E_UNAVAILABLE, "the snapshot could not be written to Redis");
		maybe_idle(s);
		return;
	}
	s->sw_bytes = report[0];
	s->sw_chunks = (uint32_t)report[1];
	s->sw = SWITCH_WAITING;
	switch_maybe(s);
}

static void on_child_poll(uv_timer_t *t)
{
	snapshotter *s = t->data;
	if (s->child == 0)
		return;
	int status;
	pid_t got = waitpid(s->child, &status, WNOHANG);
	if (got == 0)
		return;
	uv_timer_stop(&s->child_timer);
	s->child = 0;
	uint64_t report[2] = { 0, 0 };
	bool ok = got > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
	    read(s->child_pipe, report, sizeof(report)) == (ssize_t)sizeof(report);
	close(s->child_pipe);
	s->child_pipe = -1;
	child_reaped(s, ok, report, got > 0 ? status : -1);
}

/* Start a run now. 0, or -1 with why. */
static int snapshot_start(snapshotter *s, char *why, size_t why_len)
{
	assert(!snapshotter_running(s));
	if (!redis_link_is_up(s->link) || journal_writer_failed(s->writer)) {
		const char *u = journal_writer_unavailable(s->writer);
		snprintf(why, why_len, "%s", u ? u : "Redis is unreachable");
		return -1;
	}
	s->starting = true;
	journal_writer_seal(s->writer); /* the snapshot's lsn ends a batch */
	s->starting = false;
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) != 0) {
		snprintf(why, why_len, "pipe: %s", strerror(errno));
		return -1;
	}
	s->child_lsn = journal_writer_sealed_lsn(s->writer);
	s->child_at_ms = clock_now_ms();
	s->child_journal_bytes = snapshotter_journal_bytes(s);
	durable_key_snapshot(s->child_key, s->ns, s->child_lsn, (uint64_t)s->child_at_ms);
	pid_t parent = getpid();
	uint64_t t0 = mono_us();
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		child_main(s, parent, fds[1]);
	}
	uint64_t t1 = mono_us();
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		snprintf(why, why_len, "fork: %s", strerror(errno));
		return -1;
	}
	s->run++;
	s->child = pid;
	s->child_pipe = fds[0];
	s->child_t0_us = t0;
	s->child_fork_us = t1 - t0;
	log_info("snapshot at lsn %" PRIu64 " started (the fork took %" PRIu64 " us)", s->child_lsn,
	    s->child_fork_us);
	uv_timer_start(&s->child_timer, on_child_poll, CHILD_POLL_MS, CHILD_POLL_MS);
	return 0;
}

/* ---- triggers ----------------------------------------------------------------- */

static void snapshot_maybe(snapshotter *s)
{
	if (s->stopping || s->closed || snapshotter_running(s) || !redis_link_is_up(s->link))
		return;
	if (journal_writer_sealed_lsn(s->writer) == s->snap_lsn)
		return; /* nothing new */
	char why[300];
	if (snapshot_start(s, why, sizeof(why)) != 0)
		log_warn("periodic snapshot not taken: %s", why);
}

static void on_snap_timer(uv_timer_t *t)
{
	snapshot_maybe(t->data);
}

void snapshotter_sealed(snapshotter *s, uint64_t lsn)
{
	if (s->starting || s->cfg.every_records == 0 || s->child != 0)
		return;
	assert(lsn >= s->snap_lsn);
	if (lsn - s->snap_lsn >= s->cfg.every_records)
		snapshot_maybe(s);
}

void snapshotter_acked(snapshotter *s, uint64_t lsn)
{
	(void)lsn;
	switch_maybe(s);
}

void snapshotter_link_changed(snapshotter *s, bool up)
{
	if (!up)
		return;
	switch_maybe(s);
	dels_send(s);
}

int snapshotter_request(snapshotter *s, uint64_t *run, char *message, size_t message_len)
{
	if (s->stopping || s->closed) {
		snprintf(message, message_len, "the server is stopping");
		return PROTO_E_UNAVAILABLE;
	}
	if (snapshotter_running(s)) {
		s->again = true;
		*run = s->run + 1;
		return PROTO_DEFERRED;
	}
	if (snapshot_start(s, message, message_len) != 0)
		return PROTO_E_UNAVAILABLE;
	*run = s->run;
	return PROTO_DEFERRED;
}

uint64_t snapshotter_journal_bytes(const snapshotter *s)
{
	journal_writer_stats j;
	journal_writer_stats_get(s->writer, &j);
	return s->journal_bytes_base + j.bytes;
}

void snapshotter_recorded(snapshotter *s, int64_t now_ms)
{
	if (s->history.lsn == 0 && s->history.at_ms == 0)
		s->history.at_ms = now_ms;
}

void snapshotter_history_get(const snapshotter *s, snapshotter_history *out)
{
	*out = s->history;
}

void snapshotter_stats_get(const snapshotter *s, snapshotter_stats *out)
{
	*out = (snapshotter_stats){
		.lsn = s->snap_lsn,
		.key = s->snap_key,
		.at_ms = s->snap_at_ms,
		.running = snapshotter_running(s),
		.taken = s->taken,
		.failed = s->failed,
		.last = s->last,
	};
}

/* ---- life cycle ------------------------------------------------------------- */

snapshotter *snapshotter_create(uv_loop_t *loop, const snapshotter_config *cfg, const core *c,
    redis_link *link, journal_writer *writer, const snapshotter_current *current,
    snapshotter_done_fn done, snapshotter_idle_fn idle, void *ud)
{
	assert(durable_namespace_valid(cfg->ns) && cfg->chunk_bytes > 0);
	snapshotter *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->loop = loop;
	s->cfg = *cfg;
	snprintf(s->ns, sizeof(s->ns), "%s", cfg->ns);
	s->cfg.ns = s->ns;
	durable_key_meta(s->key_meta, cfg->ns);
	durable_key_journal(s->key_journal, cfg->ns);
	durable_key_snaps(s->key_snaps, cfg->ns);
	durable_key_archivers(s->key_archivers, cfg->ns);
	s->core = c;
	s->link = link;
	s->writer = writer;
	s->child_pipe = -1;
	s->snap_lsn = current->lsn;
	s->snap_at_ms = current->at_ms;
	snprintf(s->snap_key, sizeof(s->snap_key), "%s", current->key);
	s->journal_bytes_base = current->journal_bytes;
	s->history = current->history;
	s->done_fn = done;
	s->idle_fn = idle;
	s->ud = ud;
	uv_timer_init(loop, &s->snap_timer);
	uv_timer_init(loop, &s->child_timer);
	s->snap_timer.data = s->child_timer.data = s;
	if (cfg->interval_s) {
		uint64_t ms = (uint64_t)cfg->interval_s * 1000;
		uv_timer_start(&s->snap_timer, on_snap_timer, ms, ms);
		uv_unref((uv_handle_t *)&s->snap_timer);
	}
	return s;
}

static void kill_child(snapshotter *s)
{
	if (s->child == 0)
		return;
	kill(s->child, SIGKILL);
	waitpid(s->child, NULL, 0);
	s->child = 0;
	close(s->child_pipe);
	s->child_pipe = -1;
	uv_timer_stop(&s->child_timer);
}

void snapshotter_stop(snapshotter *s)
{
	if (s->stopping)
		return;
	s->stopping = true;
	s->again = false;
	uv_timer_stop(&s->snap_timer);
	if (s->child) {
		kill_child(s);
		snapshot_finish(s, PROTO_E_UNAVAILABLE, "the server is stopping");
	}
}

void snapshotter_close(snapshotter *s)
{
	if (s == NULL || s->closed)
		return;
	s->closed = true;
	kill_child(s);
	uv_close((uv_handle_t *)&s->snap_timer, NULL);
	uv_close((uv_handle_t *)&s->child_timer, NULL);
}

void snapshotter_destroy(snapshotter *s)
{
	if (s == NULL)
		return;
	while (s->dels) {
		del_item *d = s->dels;
		s->dels = d->next;
		free(d);
	}
	free(s);
}
