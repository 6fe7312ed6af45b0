/*
 * test_core_walk.c - seeded random walks of the core against the reference
 * model (model.h): every step runs one random command (valid or not) on
 * both and compares the outcome and error code, the reply, every record,
 * the touched and the expired reservations, the counters; core_check();
 * and for a failed command, the canonical dump before and after. Also:
 * the same commands at the same times rebuild the same state whatever
 * reads ran between them.
 */
#include <criterion/criterion.h>

#include "core_fixture.h"
#include "model.h"

static uint64_t g_rng;

static uint64_t rnd64(void)
{
	uint64_t z = (g_rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int rnd(int n)
{
	return (int)(rnd64() % (uint64_t)n);
}

/* A reservation id to act on: mostly recent or live ones, some old or
 * forgotten, some the core never made. Returns the model index or -1. */
static int m_pick(const model *m, char id[32], int prefer)
{
	int x = rnd(100);
	if (prefer >= 0 && x >= 8 && x < 50) { /* a live one in the preferred state */
		int cand[64], n = 0;
		for (int i = 0; i < m->nlive && n < 64; i++)
			if (m->r[m->live[i]].status == prefer)
				cand[n++] = m->live[i];
		if (n) {
			int idx = cand[rnd(n)];
			m_id(m->r[idx].seq, id);
			return idx;
		}
	}
	if (m->nr == 0 || x < 8) {
		switch (rnd(5)) {
		case 0: /* the next id, not made yet */
			m_id(m->next_seq + (uint64_t)rnd(3), id);
			break;
		case 1: /* an existing id in upper case */
			m_id(m->nr ? m->r[rnd(m->nr)].seq : 1, id);
			for (char *p = id + 2; *p; p++)
				if (*p >= 'a' && *p <= 'f')
					*p = (char)(*p - 'a' + 'A');
			break;
		case 2:
			snprintf(id, 32, "r-%016" PRIx64, (uint64_t)1); /* wrong epoch */
			break;
		case 3:
			snprintf(id, 32, "r-zzzzzzzzzzzzzzzz");
			break;
		default:
			id[0] = '\0';
		}
		return -1;
	}
	int idx;
	if (x < 55 && m->nlive)
		idx = m->live[rnd(m->nlive)];
	else if (x < 80)
		idx = m->nr - 1 - rnd(m->nr < 20 ? m->nr : 20);
	else
		idx = rnd(m->nr);
	m_id(m->r[idx].seq, id);
	return idx;
}

/* Where a live reservation waits on a backorder (when asked and there is
 * one): most receipts go there, so that they fill some. */
static void m_backorder_at(const model *m, bool want, int *sku, int *loc)
{
	for (int i = 0; want && i < m->nlive; i++) {
		const m_resv *r = &m->r[m->live[(i + rnd(m->nlive)) % m->nlive]];
		for (int li = 0; li < r->nlines; li++)
			for (int j = 0; j < r->l[li].nallocs; j++)
				if (r->l[li].a[j].bo && r->l[li].a[j].qty > 0) {
					*sku = r->l[li].sku;
					*loc = r->l[li].a[j].loc;
					return;
				}
	}
}

static void run_model(uint64_t seed, int steps)
{
	m_seed = seed;
	g_rng = seed;
	core_config cfg;
	core_config_default(&cfg);
	cfg.hash_seed = seed * 0x2545f4914f6cdd1dULL;
	cfg.lines_max = M_LINES_MAX;
	cfg.ttl_default_ms = M_TTL_DEFAULT;
	cfg.ttl_max_ms = M_TTL_MAX;
	cfg.retain_ms = M_RETAIN;
	cfg.id_epoch = (uint32_t)M_EPOCH;
	core *c = mk_cfg(&cfg);
	model *m = malloc(sizeof(*m));
	cr_assert_not_null(m);
	m_init(m);
	int64_t now = 0;
	int expired[4096];
	uint64_t n_ok = 0, n_fail = 0, n_codes[9] = { 0 }, n_sweep_expired = 0;
	/* Outcomes by operation, for the log: ok and failed. */
	static const char *const op_names[] = { "stock.set", "stock.adjust", "restock", "reserve",
		"commit", "release", "release lines", "fulfill", "fulfill lines", "extend", "inbound.add",
		"inbound.receive" };
#define OPS (sizeof(op_names) / sizeof(op_names[0]))
	uint64_t op_ok[OPS] = { 0 }, op_fail[OPS] = { 0 }, n_filled = 0;

	for (m_step = 0; m_step < steps; m_step++) {
		now += rnd(501);
		int op = rnd(100);
		if (op == 99)
			now += rnd(5001); /* a pause */
		/* Half the sweeps run without an advance first, so that they do
		 * the expiring themselves, within their budget. */
		bool raw_sweep = (op == 97 || op == 98) && rnd(2);
		int nexp = raw_sweep ? 0 : m_advance(m, now, expired);

		core_cmd cmd;
		memset(&cmd, 0, sizeof(cmd));
		core_line_req lines[M_LINES_MAX + 2];
		int lsku[M_LINES_MAX + 2];
		int64_t lqty[M_LINES_MAX + 2];
		int nl = 0;
		char id[32] = "", order[24];
		m_out o;
		memset(&o, 0, sizeof(o));
		o.resv = -1;
		bool exec = true;

		if (op < 10) {
			m_op = "stock.set";
			int s = rnd(M_SKUS), l = rnd(M_LOCS), x = rnd(100);
			int64_t on_hand = x < 90 ? rnd(31) : x < 94 ? -1 : x < 97 ? CORE_QTY_MAX + 1 : CORE_QTY_MAX - rnd(5);
			x = rnd(100);
			int64_t safety = x < 50 ? -1 : x < 90 ? rnd(4) : -2;
			x = rnd(100);
			const m_rec *mr = &m->rec[s][l];
			int64_t if_version = x < 70 ? -1 : x < 80 ? 0 : x < 90 ? (int64_t)mr->version :
			    (int64_t)mr->version + 1 + rnd(3);
			cmd.type = CORE_CMD_STOCK_SET;
			cmd.u.stock = (core_stock_cmd){ .sku = S(m_sku_name[s]), .location = S(m_loc_name[l]),
				.on_hand = on_hand, .safety = safety, .if_version = if_version };
			m_stock(m, cmd.type, s, l, on_hand, safety, if_version, 0, -1, 0, &o);
		} else if (op < 22 || (op >= 22 && op < 27)) {
			bool re = op >= 22;
			m_op = re ? "restock" : "stock.adjust";
			int s = rnd(M_SKUS), l = rnd(M_LOCS), x = rnd(100), key = -1, reason = rnd(2);
			int64_t delta, if_version = -1;
			if (re)
				delta = x < 90 ? 1 + rnd(10) : x < 95 ? 0 : x < 97 ? -3 : CORE_QTY_MAX;
			else
				delta = x < 85 ? rnd(26) - 10 : x < 90 ? -CORE_QTY_MAX - 1 : x < 95 ? CORE_QTY_MAX : -rnd(50);
			x = rnd(100);
			if (!re && x >= 75) /* conditional: at the record's version, or not */
				if_version = (int64_t)m->rec[s][l].version + (x >= 90);
			if (!re && rnd(100) < 35) {
				key = rnd(M_KEYS);
				if (m->adj[key].used && rnd(100) < 60) { /* a retry */
					s = m->adj[key].sku;
					l = m->adj[key].loc;
					delta = m->adj[key].delta;
					reason = m->adj[key].reason;
					if_version = m->adj[key].if_version;
				}
			}
			cmd.type = re ? CORE_CMD_RESTOCK : CORE_CMD_STOCK_ADJUST;
			cmd.u.stock = (core_stock_cmd){ .sku = S(m_sku_name[s]), .location = S(m_loc_name[l]),
				.delta = delta, .safety = -1, .if_version = if_version,
				.reason = re ? ABSENT : S(m_reason[reason]),
				.idempotency_key = key >= 0 ? S(m_adj_key_name[key]) : ABSENT };
			m_stock(m, cmd.type, s, l, 0, -1, if_version, delta, key, re ? 0 : reason, &o);
		} else if (op >= 52 && op < 57) {
			bool add = op < 55;
			m_op = add ? "inbound.add" : "inbound.receive";
			int s = rnd(M_SKUS), l = rnd(M_LOCS), x = rnd(100);
			m_backorder_at(m, !add && x < 60, &s, &l);
			int64_t qty = x < 97 ? 1 + rnd(add ? 20 : 7) : 0;
			int ref = rnd(100) < (add ? 40 : 70) ? -1 : rnd(M_REFS);
			cmd.type = add ? CORE_CMD_INBOUND_ADD : CORE_CMD_INBOUND_RECEIVE;
			cmd.u.inbound = (core_inbound_cmd){ .sku = S(m_sku_name[s]), .location = S(m_loc_name[l]),
				.qty = qty, .eta_ms = 1000 * (1 + rnd(3)), .ref = ref >= 0 ? S(m_ref_name[ref]) : ABSENT };
			if (add)
				m_inbound_add(m, s, l, qty, cmd.u.inbound.eta_ms, ref, &o);
			else
				m_receive(m, s, l, qty, ref, &o);
		} else if (op < 57) {
			m_op = "reserve";
			int x = rnd(100);
			nl = x < 1 ? 0 : x < 4 ? M_LINES_MAX + 1 : 1 + rnd(M_LINES_MAX);
			int perm[M_NAMES];
			for (int i = 0; i < M_NAMES; i++)
				perm[i] = i;
			for (int i = M_NAMES - 1; i > 0; i--) {
				int j = rnd(i + 1), t = perm[i];
				perm[i] = perm[j];
				perm[j] = t;
			}
			for (int i = 0; i < nl; i++) {
				lsku[i] = perm[i];
				lqty[i] = rnd(100) < 2 ? 0 : 1 + rnd(8);
			}
			if (nl >= 2 && rnd(100) < 5)
				lsku[nl - 1] = lsku[0]; /* the same sku twice */
			x = rnd(100);
			int64_t ttl = x < 85 ? 100 + rnd(4901) : x < 90 ? -1 : x < 93 ? 0 : x < 96 ? M_TTL_MAX + 1 :
			    x < 98 ? -5 : M_TTL_MAX;
			bool partial = rnd(100) < 30, backorder = rnd(100) < 40;
			for (int i = 0; i < nl && backorder && rnd(2); i++)
				lqty[i] += lqty[i] ? 30 + rnd(60) : 0; /* large: short on hand, so backordered */
			int key = -1;
			snprintf(order, sizeof(order), "o-%d", m_step);
			if (rnd(100) < 20) {
				key = rnd(M_KEYS);
				const m_res_key *k = &m->res[key];
				if (k->used && rnd(100) < 60) { /* a retry */
					snprintf(order, sizeof(order), "%s", k->order);
					nl = k->nlines;
					for (int i = 0; i < nl; i++) {
						lsku[i] = k->sku[i];
						lqty[i] = k->qty[i];
					}
					ttl = rnd(4) ? k->ttl : (k->ttl == M_TTL_DEFAULT ? -1 : k->ttl);
					partial = k->partial;
					backorder = k->backorder;
				}
			}
			for (int i = 0; i < nl; i++)
				lines[i] = (core_line_req){ S(m_sku_name[lsku[i]]), lqty[i] };
			cmd.type = CORE_CMD_RESERVE;
			cmd.u.reserve = (core_reserve_cmd){ .order_id = S(order), .lines = lines,
				.nlines = (uint32_t)nl, .ttl_ms = ttl, .allow_partial = partial,
				.allow_backorder = backorder,
				.idempotency_key = key >= 0 ? S(m_res_key_name[key]) : ABSENT };
			m_reserve(m, order, lsku, lqty, nl, ttl, partial, backorder, key, &o);
		} else if (op < 97) {
			int idx = m_pick(m, id, op >= 80 && op < 92 ? CORE_RESV_COMMITTED :
			    op < 67 || op >= 92 ? CORE_RESV_HELD : -1);
			cmd.u.resv.reservation_id = S(id);
			if (op < 67) {
				m_op = "commit";
				cmd.type = CORE_CMD_COMMIT;
				m_commit(m, idx, &o);
			} else if (op < 92) {
				bool fulfil = op >= 80;
				bool whole = fulfil ? op < 84 : op < 72;
				m_op = fulfil ? (whole ? "fulfill" : "fulfill lines") : (whole ? "release" : "release lines");
				cmd.type = fulfil ? CORE_CMD_FULFILL : CORE_CMD_RELEASE;
				if (!whole) {
					const m_resv *r = m_lookup(m, idx);
					if (r) {
						int order_l[M_LINES_MAX];
						for (int i = 0; i < r->nlines; i++)
							order_l[i] = i;
						for (int i = r->nlines - 1; i > 0; i--) {
							int j = rnd(i + 1), t = order_l[i];
							order_l[i] = order_l[j];
							order_l[j] = t;
						}
						nl = 1 + rnd(r->nlines);
						for (int i = 0; i < nl; i++) {
							const m_line *l = &r->l[order_l[i]];
							int64_t left = m_line_left(l);
							lsku[i] = l->sku;
							lqty[i] = left > 0 ? 1 + rnd((int)left) : 1;
						}
						int x = rnd(100);
						if (x < 8) {
							lqty[0] = m_line_left(&r->l[order_l[0]]) + 1;
						} else if (x < 12) {
							lqty[0] = 0;
						} else if (x < 16) { /* a sku not in the reservation */
							int s;
							bool in;
							do {
								s = rnd(M_NAMES);
								in = false;
								for (int i = 0; i < r->nlines; i++)
									in |= r->l[i].sku == s;
							} while (in);
							lsku[rnd(nl)] = s;
						} else if (x < 20) { /* named twice */
							if (nl >= 2)
								lsku[1] = lsku[0];
							else {
								lsku[1] = lsku[0];
								lqty[1] = 1;
								nl = 2;
							}
						} else if (x < 23) {
							nl = 0;
						}
					} else {
						nl = 1 + rnd(2);
						lsku[0] = rnd(M_NAMES);
						lsku[1] = (lsku[0] + 1) % M_NAMES;
						lqty[0] = lqty[1] = 1 + rnd(3);
					}
					for (int i = 0; i < nl; i++)
						lines[i] = (core_line_req){ S(m_sku_name[lsku[i]]), lqty[i] };
					cmd.u.resv.lines = lines;
					cmd.u.resv.nlines = (uint32_t)nl;
				}
				m_release_fulfill(m, idx, lsku, lqty, nl, whole, fulfil, &o);
			} else {
				m_op = "extend";
				int x = rnd(100);
				int64_t ttl = x < 90 ? 100 + rnd(4901) : x < 94 ? 0 : x < 97 ? M_TTL_MAX + 1 : M_TTL_MAX;
				cmd.type = CORE_CMD_EXTEND;
				cmd.u.resv.ttl_ms = ttl;
				m_extend(m, idx, ttl, &o);
			}
		} else {
			exec = false;
		}

		if (!exec) {
			m_op = op == 99 ? "advance" : raw_sweep ? "sweep without advance" : "sweep";
			if (!raw_sweep) {
				uint32_t n = core_advance(c, now);
				MCHECK(n == (uint32_t)nexp, "core_advance expired %u, model %d", n, nexp);
			}
			if (op != 99) {
				uint32_t budget = rnd(2) ? UINT32_MAX : 1 + (uint32_t)rnd(4);
				uint64_t expired_before = m->expired_total;
				uint32_t want = m_sweep(m, now, budget);
				uint32_t got = core_sweep(c, now, budget);
				MCHECK(got == want, "core_sweep(%u) did %u, model %u", budget, got, want);
				if (raw_sweep && m->expired_total > expired_before)
					n_sweep_expired++;
				m_check_all_resv(c, m);
			}
		} else {
			/* A failed command must leave the dump as it was: advance
			 * first, dump, then run it at the same now. Otherwise
			 * let core_exec do the expiry itself half of the time. */
			char *before = NULL;
			if (o.rc != CORE_OK || rnd(2)) {
				uint32_t n = core_advance(c, now);
				MCHECK(n == (uint32_t)nexp, "core_advance expired %u, model %d", n, nexp);
			}
			if (o.rc != CORE_OK)
				before = dump(c);
			core_result res;
			core_error err;
			memset(&res, 0, sizeof(res));
			memset(&err, 0, sizeof(err));
			int rc = core_exec(c, &cmd, now, &res, &err);
			MCHECK(rc == o.rc, "core %s (%s), model %s", core_strerror(rc),
			    rc ? err.message : "", core_strerror(o.rc));
			n_codes[-rc]++;
			for (size_t k = 0; k < OPS; k++)
				if (strcmp(m_op, op_names[k]) == 0)
					(rc ? op_fail : op_ok)[k]++;
			if (rc != CORE_OK) {
				n_fail++;
				MCHECK(err.code == rc, "err.code");
				char *after = dump(c);
				m_dump_same(before, after);
				free(after);
				if (rc == CORE_E_OUT_OF_STOCK) {
					MCHECK(err.nshort == (uint32_t)o.nshort, "nshort %u want %d", err.nshort, o.nshort);
					for (int i = 0; i < o.nshort; i++)
						MCHECK(str_is(err.short_lines[i].sku, m_sku_name[o.short_sku[i]]) &&
						    err.short_lines[i].requested == o.short_req[i] &&
						    err.short_lines[i].available == o.short_avail[i],
						    "short line %d: %.*s %" PRId64 "/%" PRId64 " want %s %" PRId64 "/%" PRId64,
						    i, (int)err.short_lines[i].sku.len, err.short_lines[i].sku.p,
						    err.short_lines[i].requested, err.short_lines[i].available,
						    m_sku_name[o.short_sku[i]], o.short_req[i], o.short_avail[i]);
				}
				if (rc == CORE_E_CONFLICT && cmd.type <= CORE_CMD_STOCK_ADJUST)
					MCHECK(err.version == o.err_version, "conflict version %" PRIu64 " want %" PRIu64,
					    err.version, o.err_version);
			} else {
				n_ok++;
				MCHECK(res.replayed == o.replayed, "replayed %d want %d", res.replayed, o.replayed);
				if (cmd.type <= CORE_CMD_RESTOCK) {
					m_check_rec_view(&res.record, &o.reply, o.sku, o.loc, "reply");
				} else if (cmd.type == CORE_CMD_INBOUND_ADD) {
					MCHECK(res.kind == CORE_RESULT_INBOUND, "inbound.add answers its entry");
				} else if (cmd.type == CORE_CMD_INBOUND_RECEIVE) {
					MCHECK(res.kind == CORE_RESULT_RECEIPT, "inbound.receive answers a receipt");
					m_check_rec_view(&res.record, &o.reply, o.sku, o.loc, "receipt");
					MCHECK(res.nfills == (uint32_t)o.nfills, "%u fills, model %d", res.nfills, o.nfills);
					for (int i = 0; i < o.nfills; i++) {
						char want[CORE_RESERVATION_ID_LEN + 1];
						m_id(m->r[o.fill_resv[i]].seq, want);
						MCHECK(strcmp(id_of(c, res.fills[i].resv).s, want) == 0 &&
						    res.fills[i].qty == o.fill_qty[i], "fill %d: %s %" PRId64 ", model %s %" PRId64,
						    i, id_of(c, res.fills[i].resv).s, res.fills[i].qty, want, o.fill_qty[i]);
						m_check_resv(c, m, o.fill_resv[i]);
					}
					n_filled += (uint64_t)o.nfills;
				} else {
					char want[CORE_RESERVATION_ID_LEN + 1];
					m_id(m->r[o.resv].seq, want);
					MCHECK(res.resv != NULL && strcmp(id_of(c, res.resv).s, want) == 0,
					    "reply names %s", want);
					m_check_resv(c, m, o.resv);
				}
				if (cmd.type == CORE_CMD_RESERVE && !res.replayed) {
					/* Nothing promised beyond what is on hand. */
					const m_resv *r = &m->r[o.resv];
					for (int i = 0; i < r->nlines; i++)
						for (int j = 0; j < r->l[i].nallocs; j++) {
							if (r->l[i].a[j].bo)
								continue; /* held against inbound entries */
							core_record_view v = rec(c, m_sku_name[r->l[i].sku],
							    m_loc_name[r->l[i].a[j].loc]);
							MCHECK(v.reserved + v.committed + v.safety <= v.on_hand,
							    "reserve overcommitted %s@%s", m_sku_name[r->l[i].sku],
							    m_loc_name[r->l[i].a[j].loc]);
						}
				}
			}
			free(before);
		}
		for (int i = 0; i < nexp; i++) {
			MCHECK(m->r[expired[i]].status == CORE_RESV_EXPIRED || m->r[expired[i]].forgotten,
			    "model expiry");
			m_check_resv(c, m, expired[i]);
		}
		m_check_state(c, m);
		if (m_step % 500 == 499)
			m_check_all_resv(c, m);
	}
	m_check_all_resv(c, m);
	/* The walk must have exercised both outcomes and every error. */
	cr_assert_gt(n_ok, (uint64_t)steps / 4, "seed %" PRIu64 ": %" PRIu64 " successes", seed, n_ok);
	cr_assert_gt(n_fail, (uint64_t)steps / 10, "seed %" PRIu64 ": %" PRIu64 " failures", seed, n_fail);
	for (int code = 1; code <= 7; code++)
		if (code != -CORE_E_LIMIT_EXCEEDED)
			cr_assert_gt(n_codes[code], 0, "seed %" PRIu64 ": no %s", seed, core_strerror(-code));
	cr_assert_gt(m->expired_total, 0);
	cr_assert_gt(n_sweep_expired, 0, "seed %" PRIu64 ": no sweep expired anything", seed);
	cr_log_info("seed %" PRIu64 ": %d steps, %" PRIu64 " ok, %" PRIu64 " failed, %d reservations, "
	    "%" PRIu64 " expired, %" PRIu64 " sweeps expired holds", seed, steps, n_ok, n_fail, m->nr,
	    m->expired_total, n_sweep_expired);
	char by_op[512];
	size_t len = 0;
	cr_assert_geq(n_filled, 10, "seed %" PRIu64 ": receipts filled %" PRIu64 " backorders", seed, n_filled);
	for (size_t k = 0; k < OPS; k++) {
		len += (size_t)snprintf(by_op + len, sizeof(by_op) - len, " %s %" PRIu64 "/%" PRIu64 ";",
		    op_names[k], op_ok[k], op_ok[k] + op_fail[k]);
		/* Every command must have succeeded often enough to matter. */
		cr_assert_gt(op_ok[k], (uint64_t)steps / 200, "seed %" PRIu64 ": %s succeeded %" PRIu64
		    " times", seed, op_names[k], op_ok[k]);
	}
	cr_log_info("seed %" PRIu64 " ok/run:%s; %" PRIu64 " backorders filled", seed, by_op, n_filled);
	core_destroy(c);
	m_free(m);
	free(m);
}

#define M_STEPS 20000

Test(core, random_walk_matches_the_model_seed_1)
{
	run_model(1, M_STEPS);
}

Test(core, random_walk_matches_the_model_seed_2)
{
	run_model(2, M_STEPS);
}

Test(core, random_walk_matches_the_model_seed_0xc0ffee)
{
	run_model(0xc0ffee, M_STEPS);
}

Test(core, random_walk_matches_the_model_seed_20240917)
{
	run_model(20240917, M_STEPS);
}

/*
 * Replay: the same commands at the same times rebuild the same state,
 * whether or not reads (which expire due holds) ran in between. Durability
 * rests on this: a journal records commands, not reads.
 */
Test(core, the_same_commands_at_the_same_times_give_the_same_state_whatever_reads_ran_between)
{
	core *live = mk(), *replayed = mk();
	uint64_t x = 42;
	int64_t now = 1000;
	char order[32], sku[8];
	size_t cap = 1 << 20;
	char *a = malloc(cap), *b = malloc(cap);
	for (int i = 0; i < 3; i++) {
		snprintf(sku, sizeof(sku), "S%d", i);
		put(live, sku, "W1", 50);
		put(replayed, sku, "W1", 50);
	}
	for (int step = 0; step < 400; step++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		now += (int64_t)(x >> 40) % 300;
		/* Reads at times between commands, on the live core only. */
		if ((x >> 20) & 1)
			core_advance(live, now - (int64_t)((x >> 8) % 150));
		snprintf(order, sizeof(order), "o-%d", step);
		snprintf(sku, sizeof(sku), "S%d", (int)((x >> 33) % 3));
		core_result ra, rb;
		core_error ea, eb;
		int ca, cb;
		if ((x >> 12) % 4 == 0 && step > 0) {
			/* Release the hold made a few steps ago, if still there. */
			rid id;
			snprintf(id.s, sizeof(id.s), "r-%016llx", (unsigned long long)((x >> 16) % (uint64_t)step + 1));
			core_cmd cmd = { .type = CORE_CMD_RELEASE };
			cmd.u.resv = (core_resv_cmd){ .reservation_id = S(id.s) };
			ca = core_exec(live, &cmd, now, &ra, &ea);
			cb = core_exec(replayed, &cmd, now, &rb, &eb);
		} else {
			ca = reserve(live, now, order, (lines8){ { sku }, { 1 } }, 100 + (int64_t)(x >> 50) % 900,
			    false, NULL, &ra, &ea);
			cb = reserve(replayed, now, order, (lines8){ { sku }, { 1 } }, 100 + (int64_t)(x >> 50) % 900,
			    false, NULL, &rb, &eb);
		}
		cr_assert_eq(ca, cb, "step %d: outcomes differ", step);
		size_t na = core_dump(live, a, cap), nb = core_dump(replayed, b, cap);
		cr_assert(na < cap && nb < cap);
		cr_assert(na == nb && memcmp(a, b, na) == 0, "step %d: states differ:\n%.*s\n---\n%.*s",
		    step, (int)na, a, (int)nb, b);
	}
	free(a);
	free(b);
	done(live);
	done(replayed);
}
