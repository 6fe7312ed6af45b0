/*
 * model.h - the reference model of the core's seeded random walks
 * (test_core_walk.c): plain arrays written from the specification
 * (PROTOCOL.md, Model and Methods): records per (sku, location),
 * reservations with their lines and allocations (backorders too), inbound
 * entries and their receipts, idempotency keys. Each
 * m_<command> applies a command to the model and says, in an m_out, what
 * the core must answer; the m_check_* functions compare the core's whole
 * observable state with the model's and fail the test (MCHECK) where they
 * differ.
 */
#ifndef ALLOT_TESTS_MODEL_H
#define ALLOT_TESTS_MODEL_H

#include <criterion/criterion.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core.h"

#define M_SKUS 6      /* stocked skus s0..s5 */
#define M_NAMES 7     /* plus "zz", never stocked */
#define M_LOCS 4
#define M_KEYS 6      /* idempotency keys per method */
#define M_LINES_MAX 3 /* cfg.lines_max */
#define M_TTL_MAX 10000
#define M_TTL_DEFAULT 3000
#define M_RETAIN 8000
#define M_EPOCH UINT64_C(0x6b0401fa) /* high half of ids: exercises a-f digits */
#define M_ENTRIES CORE_INBOUND_PER_SKU_MAX /* inbound entries per sku */
#define M_REFS 2
#define M_FILLS 256   /* reservations one receipt fills, at most, in the walk */

/* The names the walk uses; m_sku_name[M_SKUS] ("zz") is never stocked. */
extern const char *const m_sku_name[M_NAMES];
extern const char *const m_loc_name[M_LOCS];
extern const char *const m_adj_key_name[M_KEYS];
extern const char *const m_res_key_name[M_KEYS];
extern const char *const m_reason[2];
extern const char *const m_ref_name[M_REFS];

typedef struct m_rec {
	bool exists;
	int64_t on_hand, reserved, committed, safety;
	uint64_t version;
	int64_t incoming; /* kept whether the record exists or not */
} m_rec;

/* On hand in rank order (those a receipt added, orig 0, after), then the
 * backorders (bo) in the order their locations were first drawn. */
typedef struct m_alloc {
	int loc;
	int64_t qty, orig;
	bool bo;
} m_alloc;

typedef struct m_line {
	int sku;
	int64_t qty, released, fulfilled;
	int nallocs;
	m_alloc a[2 * M_LOCS];
} m_line;

/* An inbound entry: by eta, location name, ref (-1: none). */
typedef struct m_entry {
	int loc;
	int64_t eta;
	int ref;
	int64_t qty, held;
} m_entry;

typedef struct m_resv {
	uint64_t seq;
	char order[24];
	int status;
	int64_t deadline, orig_deadline, finished_at;
	uint64_t fin_order;
	bool forgotten;
	int key; /* reserve key index or -1 */
	int live_pos; /* index in model.live while held or committed, else -1 */
	int nlines;
	m_line l[M_LINES_MAX];
} m_resv;

typedef struct m_adj_key {
	bool used;
	int sku, loc, reason;
	int64_t delta, if_version;
	m_rec reply;
	int64_t created;
	uint64_t order;
} m_adj_key;

typedef struct m_res_key {
	bool used;
	int resv;
	char order[24];
	int nlines;
	int sku[M_LINES_MAX + 1];
	int64_t qty[M_LINES_MAX + 1];
	int64_t ttl; /* resolved */
	bool partial, backorder;
} m_res_key;

typedef struct model {
	m_rec rec[M_SKUS][M_LOCS];
	int rank[M_LOCS]; /* rank position -> location index */
	m_resv *r;
	int nr, capr;
	int *live; /* indices of held or committed reservations */
	int nlive;
	uint64_t next_seq, fin_counter, key_counter, expired_total;
	m_adj_key adj[M_KEYS];
	m_res_key res[M_KEYS];
	int64_t now;
	bool sku_made[M_SKUS];  /* by a record, an inbound entry or a receipt */
	m_entry in[M_SKUS][M_ENTRIES];
	int nin[M_SKUS];
} model;

/* What the core must answer to a command. */
typedef struct m_out {
	int rc;
	uint64_t err_version;     /* CONFLICT of stock.set */
	int nshort;               /* OUT_OF_STOCK */
	int short_sku[M_LINES_MAX + 1];
	int64_t short_req[M_LINES_MAX + 1], short_avail[M_LINES_MAX + 1];
	bool replayed;
	m_rec reply;              /* stock commands */
	int sku, loc;             /* stock commands: the record */
	int resv;                 /* reservation commands: model index */
	int nfills;               /* inbound.receive */
	int fill_resv[M_FILLS];
	int64_t fill_qty[M_FILLS];
} m_out;

/* Context for failure messages: the walk sets them as it goes. */
extern uint64_t m_seed;
extern int m_step;
extern const char *m_op;

/* Fail the test, naming the seed, step and operation, unless cond holds. */
#define MCHECK(cond, ...) do { \
		if (!(cond)) { \
			char mcheck_msg__[512]; \
			snprintf(mcheck_msg__, sizeof(mcheck_msg__), __VA_ARGS__); \
			cr_assert_fail("seed %" PRIu64 " step %d op %s: %s (%s)", m_seed, m_step, m_op, \
			    mcheck_msg__, #cond); \
		} \
	} while (0)

void m_init(model *m);
void m_free(model *m);
/* Units a line still holds. */
int64_t m_line_left(const m_line *l);
/* core_advance: the clock moves to now (never back) and every due hold
 * expires; their indices go to out (if given). Returns how many. */
int m_advance(model *m, int64_t now, int *out);
/* core_sweep: expire, then forget finished reservations (oldest finished
 * first), then adjust keys (oldest first), budget items in all. */
uint32_t m_sweep(model *m, int64_t now, uint32_t budget);

/* The commands; each returns o->rc. Reservations are named by their index
 * in m->r; idx < 0 is an id the core never made. */
int m_stock(model *m, core_cmd_type type, int sku, int loc, int64_t on_hand,
    int64_t safety, int64_t if_version, int64_t delta, int key, int reason, m_out *o);
/* backorder: allow_backorder. */
int m_reserve(model *m, const char *order, const int *sku, const int64_t *qty, int n,
    int64_t ttl, bool partial, bool backorder, int key, m_out *o);
/* inbound.add and inbound.receive; ref -1: none. */
int m_inbound_add(model *m, int sku, int loc, int64_t qty, int64_t eta, int ref, m_out *o);
int m_receive(model *m, int sku, int loc, int64_t qty, int ref, m_out *o);
m_resv *m_lookup(model *m, int idx);
int m_commit(model *m, int idx, m_out *o);
/* whole: the whole reservation, else the n lines given. */
int m_release_fulfill(model *m, int idx, const int *sku, const int64_t *qty, int n,
    bool whole, bool fulfil, m_out *o);
int m_extend(model *m, int idx, int64_t ttl, m_out *o);

/* The id the core gives the reservation of sequence number seq. */
void m_id(uint64_t seq, char out[CORE_RESERVATION_ID_LEN + 1]);
/* Reservation idx as the core reads it (or its absence, once forgotten). */
void m_check_resv(const core *c, const model *m, int idx);
void m_check_all_resv(const core *c, const model *m);
/* One record view against the model's record of sku at loc. */
void m_check_rec_view(const core_record_view *v, const m_rec *mr, int sku, int loc,
    const char *what);
/* Every record, the counters, the next deadline and core_check(). */
void m_check_state(const core *c, const model *m);
/* A failed command must leave the canonical dump as it was. */
void m_dump_same(const char *before, const char *after);

#endif
