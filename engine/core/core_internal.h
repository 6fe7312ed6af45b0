/*
 * core_internal.h - the core's data layout, shared by its .c files only.
 *
 * Inventory: skus are found by name through a hash table; each sku keeps a
 * small array of records, one per location it is stocked at, sorted by the
 * location's name (its name_rank), which never changes relative order when
 * a location's priority does. Locations are few and get a 16-bit id; each
 * also keeps its rank by priority then name, which the planner uses.
 *
 * Reservations are one allocation each: the header, its lines, their
 * allocations and the order id, back to back. The expiry heap node is just
 * an index inside the reservation, so scheduling allocates nothing.
 *
 * Expiry is exact but lazy past a point (expiry.c): holds whose deadline is
 * at or before the horizon count as expired before they are swept, and the
 * ledgers (ledger.c) say what they will give back, by deadline, so that
 * every read sees the state as if they had been swept.
 */
#ifndef ALLOT_CORE_INTERNAL_H
#define ALLOT_CORE_INTERNAL_H

#include "core.h"
#include "seqmap.h"
#include "table.h"

#include <assert.h>

#define LOC_NONE 0xffffu
#define HEAP_NONE UINT32_MAX

typedef struct core_loc {
	uint64_t hash;
	int32_t priority;
	uint32_t rank;      /* by priority then name; 0 = best; dense */
	uint32_t name_rank; /* by name alone; records are sorted by it */
	uint32_t open;      /* live reservations holding units here */
	uint32_t ledger;    /* held ones among them, by deadline (expiry.c) */
	int64_t capacity;   /* most open shipments; -1: none */
	double x, y, z;     /* unit vector of (lat, lon), when has_coords */
	double lat, lon;
	double cost, cost_per_km;
	uint16_t id;
	bool enabled;
	bool has_coords;
	uint8_t ntags;
	uint8_t name_len;
	char name[CORE_NAME_MAX + 1];
	uint8_t tag_len[CORE_TAGS_MAX];
	char tags[CORE_TAGS_MAX][CORE_TAG_MAX];
} core_loc;

/* One sku at one location. 32 bytes. */
typedef struct core_rec {
	uint32_t on_hand;
	uint32_t reserved;
	uint32_t committed;
	uint32_t safety;
	uint64_t version;
	uint16_t loc;
	uint16_t touched; /* 1 while on the changes' list of records (changes.c) */
	uint32_t ledger;  /* held units and allocations here, by deadline (expiry.c);
	                   * a claim's index while a snapshot is restored (snap_restore.c) */
} core_rec;

typedef struct core_sku {
	core_rec *recs; /* sorted by location rank */
	uint32_t hash32;
	uint16_t nrecs;
	uint16_t caprecs;
	int64_t total_seen; /* total available at the last drain (changes.c) */
	uint8_t name_len;
	uint8_t touched;  /* 1 while on the changes' list of skus (changes.c) */
	char name[]; /* NUL-terminated */
} core_sku;

typedef struct core_ralloc {
	uint32_t qty;  /* still allocated */
	uint32_t orig; /* as reserve returned it */
	uint16_t loc;
	uint16_t backorder; /* 1: held against the sku's inbound entries at loc */
} core_ralloc;

typedef struct core_rline {
	core_sku *sku;
	uint32_t qty; /* requested */
	uint32_t released;
	uint32_t fulfilled;
	uint16_t alloc_first;
	uint16_t nallocs;
} core_rline;

typedef struct core_idem core_idem;
typedef struct plan_state plan_state;

/* A channel: its locations as a bit per location id (locations_max bits),
 * unless all. */
struct core_channel {
	uint64_t hash;
	uint32_t buffer;
	uint32_t nlocs;   /* bits set, when not all */
	bool all;
	uint8_t name_len;
	char name[CORE_CHANNEL_MAX + 1];
	uint64_t bits[];
};

/* A sku's purchase limits and low-stock threshold, filed by sku; 0: none. */
typedef struct core_skupol {
	core_sku *sku;
	uint32_t per_order, per_customer, low_stock;
} core_skupol;

/* A sku's inbound entries, sorted by eta, location name rank, ref. What
 * backorders hold at a location is spread over its entries: new
 * backorders take the earliest entries, returned units go back to the
 * latest, fulfilled ones leave the earliest. */
typedef struct inb_entry {
	int64_t eta_ms;
	uint32_t qty;
	uint32_t held;      /* by backorders, held or committed */
	uint16_t loc;
	uint8_t ref_len;    /* 0: none */
	char ref[CORE_REF_MAX];
} inb_entry;

/* A sku's backorders at one location, by deadline; units of lazily
 * expired ones up to settled_ms are given back to the entries already
 * (inbound.c). */
typedef struct inb_slot {
	int64_t settled_ms;
	uint32_t ledger;
	uint16_t loc;
} inb_slot;

typedef struct core_inb {
	core_sku *sku;
	uint32_t n, cap;
	inb_entry *e;
	inb_slot *slots;  /* one per location with entries, made with the first */
	uint32_t nslots, cap_slots;
	/* Sequence numbers of the reservations that may hold backorders of
	 * the sku, ascending: every live one that does is here (a receipt
	 * fills them in this order); ones that no longer do are dropped when
	 * the list is full or a receipt walks it (inbound_receive.c). */
	uint64_t *waiting;
	uint32_t nwaiting, cap_waiting;
} core_inb;

/* Units of a sku with a per-customer limit that one customer holds in
 * live reservations (held or committed). Derived from the reservations;
 * an entry at 0 units is removed. */
typedef struct core_cust {
	uint64_t hash;
	core_sku *sku;
	uint64_t units;
	uint32_t ledger;  /* what held ones hold, by deadline (expiry.c) */
	uint8_t len;
	char id[];
} core_cust;

struct core_resv {
	uint64_t id;
	int64_t expires_at_ms;      /* current deadline while held */
	int64_t orig_expires_at_ms; /* as reserve returned it */
	int64_t finished_at_ms;     /* when it left held/committed */
	core_resv *fin_next;        /* its finished FIFO, oldest first */
	core_idem *idem;            /* the key that created it, if any */
	uint32_t heap_idx;          /* position in the expiry heap or HEAP_NONE */
	uint16_t nlines;
	uint8_t status;
	uint8_t order_id_len;
	core_rline lines[];         /* then nallocs core_ralloc, then order id,
	                             * then (len byte, customer id: len 0 for
	                             * none), then (len byte, name) per
	                             * unknown-sku line */
};

enum idem_method { IDEM_RESERVE = 1, IDEM_ADJUST = 2 };

struct core_idem {
	uint64_t hash;
	uint64_t params_hash;
	int64_t created_ms;
	core_idem *prev, *next; /* insertion order, oldest at head */
	core_resv *resv;        /* IDEM_RESERVE */
	core_record_view rec;   /* IDEM_ADJUST: the reply; names point into the sku/loc */
	uint8_t method;
	uint8_t key_len;
	char key[];
};

/* A ledger node: one deadline of one tree, with the sums of its subtree
 * (expiry.c says what a and b count in each tree) and its priority, a hash
 * of its key kept so a descent does not hash; or a ledger's head (ledger.c).
 * 0 is no node. b counts holds or allocations, each of which takes more
 * than 16 bytes of memory, so a tree's b stays far below 2^32 (ledger_add
 * asserts it). 32 bytes. */
typedef struct ledger_node {
	int64_t key;
	uint32_t l, r;
	uint64_t a;
	uint32_t b;
	uint32_t prio;
} ledger_node;

typedef struct ledger_sum {
	uint64_t a, b;
} ledger_sum;

#define LEDGER_CHUNK_BITS 12 /* nodes come in chunks of 4096 (128 KiB) */

typedef struct ledger_pool {
	ledger_node **chunks;
	uint32_t nchunks, cap_chunks;
	uint32_t free_head;      /* free nodes, linked through l */
	uint64_t nfree, used;
	uint64_t seed;           /* treap priorities */
} ledger_pool;

struct core {
	core_config cfg;
	int64_t now_ms;
	/* Holds due at or before the horizon are expired whether swept or
	 * not (expiry.c); never above now_ms. */
	int64_t horizon_ms;
	ledger_pool ledger;
	uint32_t ledger_all;     /* every hold: on-hand units, count */

	/* Locations by id and by name; rank_order[rank] = id,
	 * name_order[name_rank] = id. */
	core_loc **locs;
	uint16_t *rank_order;
	uint16_t *name_order;
	uint32_t nlocs;
	bool ranks_by_name; /* rank == name_rank everywhere: records are in rank order */
	table loc_by_name;

	table sku_by_name;
	uint64_t nrecs;
	/* Skus in the order they were made, for stock.scan (scan.c): only
	 * ever appended, as skus are never removed. */
	core_sku **sku_seq;
	uint32_t nsku_seq, cap_sku_seq;

	/* Reservations by id; expiry heap; the finished FIFOs: swept
	 * expiries in heap order, and the others (released, fulfilled) in the
	 * order they finished. Forgetting merges them (expiry.c). */
	seqmap resv_by_seq;   /* reservation id = id_base + sequence number */
	uint64_t id_base;
	core_resv **heap;
	uint32_t heap_len, heap_cap;
	core_resv *fin_head, *fin_tail;
	core_resv *exp_head, *exp_tail;
	uint64_t next_seq;
	uint64_t by_status[5];
	uint64_t expired_total;
	uint64_t units_reserved, units_committed;
	uint32_t swept_reservations, swept_keys; /* forgotten by the last sweep */

	table idem_by_key;
	core_idem *idem_head[2], *idem_tail[2]; /* by method - 1, oldest first */

	/* Channels by name, and in the order they were made. */
	table chan_by_name;
	core_channel **chans;
	uint32_t nchans;
	/* Sku policies by sku; customers' units of limited skus. */
	table pol_by_sku;
	table cust_by_key;
	/* Inbound entries by sku; their number. */
	table inb_by_sku;
	uint64_t ninbound;

	/* Scratch for planning, sized for lines_max; grown when a plan needs
	 * more allocations than seen before. */
	core_short_line *shorts;
	core_sku **plan_skus;
	struct plan_alloc { core_rec *rec; uint32_t line; uint32_t qty; uint16_t loc; bool backorder; } *plan;
	uint32_t plan_cap;
	plan_state *ps; /* the planner's own scratch (plan.c) */
	core_sku **cust_skus;  /* lines_max: a reserve's lines with a per-customer limit */
	core_cust **cust_new;  /* lines_max: their new entries */

	/* What changed since the last core_changes_drain(), kept only while
	 * tracking (changes.c). */
	struct core_changes *changes; /* NULL: not tracking */
	/* The last receipt's fills, and the grown copies of the reservations
	 * it fills (inbound_receive.c); grown as needed. */
	core_fill *fills;
	core_resv **fill_grown;
	uint32_t fills_cap;
};

/* Helpers shared across the core's files. */
static inline uint64_t resv_count(const core *c)
{
	return c->resv_by_seq.count;
}
static inline core_ralloc *resv_allocs(const core_resv *r)
{
	return (core_ralloc *)(void *)((char *)(uintptr_t)r + sizeof(*r) + r->nlines * sizeof(core_rline));
}
/* The order id follows the last line's allocations. */
static inline const char *resv_order_id(const core_resv *r)
{
	const core_rline *last = &r->lines[r->nlines - 1];
	return (const char *)(resv_allocs(r) + last->alloc_first + last->nallocs);
}
/* The customer id follows the order id, after its length byte. */
static inline core_str resv_customer(const core_resv *r)
{
	const unsigned char *p = (const unsigned char *)resv_order_id(r) + r->order_id_len;
	return (core_str){ p[0] ? (const char *)p + 1 : NULL, p[0] };
}
/* Where the names of unknown-sku lines start. */
static inline const unsigned char *resv_unknown_names(const core_resv *r)
{
	const unsigned char *p = (const unsigned char *)resv_order_id(r) + r->order_id_len;
	return p + 1 + p[0];
}
/* A line's sku name: its sku's, or for a sku that did not exist when the
 * order was reserved (allow_partial; the line's sku is then NULL), the copy
 * kept after the order id. */
core_str rline_sku_name(const core_resv *r, const core_rline *l);

/* ---- changes, for events (changes.c) ------------------------------------- */

/* Record rec of s about to change (extra: units of a lazily expired hold
 * it still counts as reserved, which the change gives back). */
void changes_rec(core *c, const core_sku *s, core_rec *rec, uint32_t extra);
/* r just entered status s. */
void changes_resv(core *c, const core_resv *r, core_resv_status s, int64_t at_ms);
static inline void track_rec(core *c, const core_sku *s, core_rec *rec, uint32_t extra)
{
	/* The one branch the mutations pay when nobody tracks. */
	if (__builtin_expect(c->changes != NULL, 0) && !rec->touched)
		changes_rec(c, s, rec, extra);
}
static inline void track_resv(core *c, const core_resv *r, core_resv_status s, int64_t at_ms)
{
	if (__builtin_expect(c->changes != NULL, 0))
		changes_resv(c, r, s, at_ms);
}
void changes_finish(core *c);

/* ---- expiry (expiry.c) ----------------------------------------------------- */

/* A core_advance() sweeps at most this many due holds on the spot (the
 * usual few since the last request, so nothing stays lazy); past that it
 * moves the horizon and the sweep does the rest. Sweeping one costs 0.3
 * to 2 us, several times that when a storm finds the heap cold (a pop
 * misses the cache a few dozen times), so a request waits behind a
 * fraction of a millisecond of it at most. */
#define EXPIRY_ADVANCE_MAX 16

static inline bool lazy_any(const core *c)
{
	return c->heap_len && c->heap[0]->expires_at_ms <= c->horizon_ms;
}
/* Held, but its deadline is at or before the horizon: expired, not swept. */
static inline bool resv_lazy(const core *c, const core_resv *r)
{
	return r->status == CORE_RESV_HELD && r->expires_at_ms <= c->horizon_ms;
}
static inline core_resv_status resv_status(const core *c, const core_resv *r)
{
	return resv_lazy(c, r) ? CORE_RESV_EXPIRED : (core_resv_status)r->status;
}
static inline int64_t resv_finished_at(const core *c, const core_resv *r)
{
	return resv_lazy(c, r) ? r->expires_at_ms : r->finished_at_ms;
}
/* What lazily expired holds will give back to a tree: 0 when none. */
ledger_sum lazy_sum(const core *c, uint32_t ledger);
/* Reads as if every lazily expired hold had been swept: what they give
 * back is part of what is held (they are not swept yet). */
static inline uint32_t rec_reserved(const core *c, const core_rec *rec)
{
	if (rec->ledger == 0 || !lazy_any(c))
		return rec->reserved;
	uint64_t lazy = lazy_sum(c, rec->ledger).a;
	assert(lazy <= rec->reserved);
	return rec->reserved - (uint32_t)lazy;
}
static inline uint64_t rec_version(const core *c, const core_rec *rec)
{
	return rec->ledger && lazy_any(c) ? rec->version + lazy_sum(c, rec->ledger).b : rec->version;
}
static inline uint32_t loc_open(const core *c, const core_loc *l)
{
	if (l->ledger == 0 || !lazy_any(c))
		return l->open;
	uint64_t lazy = lazy_sum(c, l->ledger).a;
	assert(lazy <= l->open);
	return l->open - (uint32_t)lazy;
}
static inline uint64_t cust_units(const core *c, const core_cust *e)
{
	if (e->ledger == 0 || !lazy_any(c))
		return e->units;
	uint64_t lazy = lazy_sum(c, e->ledger).a;
	assert(lazy <= e->units);
	return e->units - lazy;
}
static inline int64_t rec_available(const core *c, const core_rec *rec)
{
	int64_t a = (int64_t)rec->on_hand - rec_reserved(c, rec) - rec->committed - rec->safety;
	return a > 0 ? a : 0;
}

/* Add (or take back) what a held reservation gives back when it expires
 * to the ledgers, at its deadline. Adding needs ledger_reserve() first:
 * resv_account_nodes() nodes at most. */
void resv_account(core *c, const core_resv *r, bool add);
static inline uint32_t resv_account_nodes(uint32_t nallocs, uint32_t nlines)
{
	return 2 * nallocs + nlines + 1;
}
/* Expire r (held) now, at its deadline. */
void expire_one(core *c, core_resv *r);
/* Sweep due holds in deadline order (the lazily expired first), at most
 * budget; the number swept. */
uint32_t resv_expire_due(core *c, uint32_t budget);
/* Sweep every lazily expired hold now: O(the backlog), for the rare caller
 * that cannot work with them unswept. */
void expiry_drain(core *c);
/* The oldest finished reservation, lazily expired ones included; NULL
 * when none. */
core_resv *resv_oldest_finished(const core *c);
/* Forget the oldest finished reservations, at most budget: only those past
 * retain_ms when due_only. */
uint32_t resv_forget_old(core *c, uint32_t budget, bool due_only);
/* r leaves held or committed: onto its finished FIFO. */
void resv_finish_link(core *c, core_resv *r);
const char *expiry_check(const core *c);
/* Snapshots: the lazily expired holds in the order the sweep takes them,
 * into a malloc'd *out (NULL when none); -1 without memory. And, when a
 * restore is done, the ledgers of its held reservations but the customers'
 * (cust_rebuild() makes those); -1 without memory. */
int expiry_lazy_sorted(const core *c, const core_resv ***out, uint32_t *n);
int expiry_ledgers_build(core *c);

/* ledger.c: sums by deadline, in one pool of nodes. A ledger is the index
 * of its head node, 0 when it is empty. */
void ledger_init(core *c);
void ledger_finish(core *c);
/* Make sure n nodes can be taken without allocating; -1 without memory.
 * An add takes at most one node; a sub takes none. */
int ledger_reserve(core *c, uint64_t n);
void ledger_add(core *c, uint32_t *root, int64_t key, uint64_t a, uint64_t b);
void ledger_sub(core *c, uint32_t *root, int64_t key, uint64_t a, uint64_t b);
/* Sums of the keys at or before upto. */
ledger_sum ledger_upto(const core *c, uint32_t root, int64_t upto);
/* The first key after `after`, or INT64_MAX. */
int64_t ledger_after(const core *c, uint32_t root, int64_t after);
/* Free a whole tree. */
void ledger_clear(core *c, uint32_t *root);
/* Whether the ledger's tree (not its tail) has a node for key. */
bool ledger_has_node(const core *c, uint32_t ledger, int64_t key);
/* The tree's order, priorities and sums; *total its sums, *nodes added to
 * (its head counts). */
const char *ledger_tree_check(const core *c, uint32_t ledger, ledger_sum *total, uint64_t *nodes);

int core_fail(core_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool name_valid(core_str s, uint32_t max);

uint64_t loc_name_hash(const core *c, core_str name);
uint64_t sku_name_hash(const core *c, core_str name);
core_loc *loc_find(const core *c, core_str name);
core_sku *sku_find(const core *c, core_str name);
/* Locations rank by priority (ascending), then name. */
int loc_rank_cmp(const core_loc *a, const core_loc *b);
core_rec *sku_rec_at(const core *c, const core_sku *s, uint16_t loc);
void rec_view(const core *c, const core_sku *s, const core_rec *rec, core_record_view *out);

int inventory_init(core *c);
void inventory_finish(core *c);
int inventory_exec(core *c, const core_cmd *cmd, core_result *res, core_error *err);

/* A location's rank among all, and its name rank, after locations change
 * (inventory.c); ranks are dense. */
void loc_rerank(core *c);
/* After ranks changed: whether they follow the names. */
void loc_ranks_checked(core *c);
int loc_name_cmp(const core_loc *a, const core_loc *b);
void loc_set_coords(core_loc *l, double lat, double lon);
void loc_defaults(core_loc *l);
void loc_view(const core *c, const core_loc *l, core_location_view *out);
core_sku *sku_make(core *c, core_str name, core_error *err);
/* scan.c: the skus in the order they were made. Reserve room for n more
 * (0, or -1 without memory) before the point of no return; push then
 * cannot fail. */
int sku_seq_reserve(core *c, uint32_t n);
void sku_seq_push(core *c, core_sku *s);
void sku_seq_finish(core *c);
/* Every sku once in sku_seq, and nothing else; NULL or what is wrong. */
const char *sku_seq_check(const core *c);
int inventory_location_put(core *c, const core_location_cmd *cmd, core_result *res, core_error *err);

/* policy.c: channels, sku policies, customers' units. */
int policy_init(core *c);
void policy_finish(core *c);
int policy_channel_put(core *c, const core_channel_cmd *cmd, core_result *res, core_error *err);
int policy_sku_put(core *c, const core_sku_cmd *cmd, core_result *res, core_error *err);
const core_skupol *policy_of(const core *c, const core_sku *s);
core_channel *channel_find(const core *c, core_str name);
/* A new channel, linked, serving every location with no buffer; NULL with
 * *err (TOO_LARGE beyond CORE_CHANNELS_MAX, BUSY). */
core_channel *channel_make(core *c, core_str name, core_error *err);
core_cust *cust_find(const core *c, core_str customer, const core_sku *s);
uint64_t cust_hash(const core *c, core_str customer, const core_sku *s);
/* Entries for the customer's limited lines of a new reservation: made
 * (unlinked, at 0 units) for those missing, into out[]; the count. -1
 * without memory (nothing made). */
int cust_prepare(core *c, core_str customer, core_sku *const *skus, uint32_t n, core_cust **out);
void cust_link(core *c, core_cust *e);
void cust_unlink(core *c, core_cust *e); /* and free it */
/* Add or take units of (customer, sku) when the sku has a per-customer
 * limit; taking to 0 removes the entry. */
void cust_add(core *c, core_str customer, const core_sku *s, uint64_t units);
void cust_take(core *c, core_str customer, const core_sku *s, uint64_t units);
/* The entries of every limited sku from the live reservations (restore);
 * -1 without memory. */
int cust_rebuild(core *c, const core_sku *only);
const char *policy_check(const core *c);

/* inbound.c */
int inbound_init(core *c);
void inbound_finish(core *c);
int inbound_add(core *c, const core_inbound_cmd *cmd, core_result *res, core_error *err);
core_inb *inbound_of(const core *c, const core_sku *s);
/* Units backorders at loc give back (release: to the latest entries) or
 * ship (fulfill: from the earliest, which lose the units). */
void inbound_return(core *c, const core_sku *s, uint16_t loc, uint32_t units);
void inbound_ship(core *c, const core_sku *s, uint16_t loc, uint32_t units);
/* Backorders take units at loc from the earliest entries. */
void inbound_hold(core *c, const core_sku *s, uint16_t loc, uint32_t units);
/* A hold due at deadline_ms expires with units backordered at loc: they go
 * back unless they went back already (inbound_settle). */
void inbound_expired(core *c, const core_sku *s, uint16_t loc, uint32_t units, int64_t deadline_ms);
/* The ledger of (s, loc); every location with entries has one. */
inb_slot *inbound_slot(const core *c, const core_sku *s, uint16_t loc);
/* The entries' held, as if every lazily expired hold had been swept, into
 * held[0..b->n). */
void inbound_held_now(const core *c, const core_inb *b, uint32_t *held);
/* A restored entry (snapshot); -1 without memory. */
int inbound_restore(core *c, core_sku *s, const inb_entry *e);
const char *inbound_check(const core *c);
/* Give back what lazily expired backorders at loc hold, before a command
 * changes the entries there (inbound.c). */
void inbound_settle(core *c, core_inb *b, uint16_t loc);
/* Entry order: eta, location name, ref. */
int inbound_entry_cmp(const core *c, const inb_entry *a, const inb_entry *b);

/* inbound_receive.c: receipts, the waiting lists, dated availability. */
int inbound_receive(core *c, const core_inbound_cmd *cmd, core_result *res, core_error *err);
/* Units the sku's entries at loc expect, not yet received. */
int64_t inbound_incoming_at(const core *c, const core_sku *s, uint16_t loc);
/* Room to add one reservation to s's waiting list (reserve, before it
 * can no longer fail); -1 without memory. */
int inbound_waiting_room(core *c, const core_sku *s);
/* Add reservation seq (the newest) to s's waiting list, after
 * inbound_waiting_room() made room (or a restore, which may allocate: -1
 * without memory). */
void inbound_waiting_add(core *c, const core_sku *s, uint64_t seq);
int inbound_waiting_restore(core *c, const core_sku *s, uint64_t seq);
/* Whether live, unexpired r still holds backorders of s. */
bool inbound_resv_waits(const core *c, const core_resv *r, const core_sku *s);
const char *inbound_waiting_check(const core *c);
void inbound_receive_finish(core *c);

/* A record to change, prepared so that making it exist cannot fail
 * half-way: every allocation happens in target_prepare(), and
 * target_commit() only links what was prepared (inventory.c). */
typedef struct target {
	core_loc *loc, *new_loc;
	core_sku *sku, *new_sku;
	core_rec *rec; /* NULL until committed when the record is new */
} target;
int target_prepare(core *c, core_str sku, core_str loc, target *t, core_error *err);
core_rec *target_commit(core *c, target *t, core_str sku, core_str loc);

int resv_init(core *c);
void resv_finish(core *c);
int resv_exec(core *c, const core_cmd *cmd, core_result *res, core_error *err);
/* The reserve command (resv_reserve.c), run by resv_exec(). */
int resv_reserve(core *c, const core_reserve_cmd *cmd, core_result *res, core_error *err);
/* A reservation's id as clients see it (resv_view.c). */
void resv_id_format(uint64_t id, char out[CORE_RESERVATION_ID_LEN + 1]);
/* Forget r, the head of its finished FIFO. */
void resv_forget(core *c, core_resv *r);
/* r leaves held or committed with status s (expired: at its deadline). */
void resv_end(core *c, core_resv *r, core_resv_status s);
const char *resv_check(const core *c);
/* Take units back from a held reservation's records (expiry) or move them
 * to committed (commit). */
void resv_unhold(core *c, const core_resv *r, bool to_committed);
/* The distinct locations where r holds units now, into list; and after
 * r's units changed, close its shipments at those of before[0..n) where
 * it holds none now (all of them when all). */
uint32_t resv_open_locs(core *c, const core_resv *r, uint16_t *list);
void resv_close_emptied(core *c, const core_resv *r, const uint16_t *before, uint32_t n, bool all);
uint64_t line_remaining(const core_resv *r, const core_rline *l);

void heap_push(core *c, core_resv *r);
void heap_remove(core *c, core_resv *r);
void heap_update(core *c, core_resv *r);
static inline core_resv *heap_top(const core *c)
{
	return c->heap_len ? c->heap[0] : NULL;
}
int heap_reserve(core *c, uint32_t n);
const char *heap_check(const core *c);

#endif
