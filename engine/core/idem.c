/*
 * idem.c - idempotency keys (see idem.h).
 */
#include "idem.h"

#include <stdlib.h>

static uint64_t idem_hash(const core *c, int method, core_str key)
{
	return hash_bytes(c->cfg.hash_seed ^ (uint64_t)method << 8, key.p, key.len);
}

uint32_t idem_hash_of(const void *item)
{
	return (uint32_t)((const core_idem *)item)->hash;
}

typedef struct idem_key {
	uint64_t hash;
	int method;
	core_str key;
} idem_key;

static bool idem_eq(const void *item, const void *key)
{
	const core_idem *e = item;
	const idem_key *k = key;
	return e->hash == k->hash && e->method == k->method && e->key_len == k->key.len &&
	    memcmp(e->key, k->key.p, k->key.len) == 0;
}

core_idem *idem_find(const core *c, int method, core_str key)
{
	idem_key k = { idem_hash(c, method, key), method, key };
	return table_find(&c->idem_by_key, k.hash, idem_eq, &k);
}

core_idem *idem_prepare(core *c, int method, core_str key, uint64_t params_hash)
{
	if (table_reserve(&c->idem_by_key, 1) != 0)
		return NULL;
	core_idem *e = calloc(1, sizeof(*e) + key.len);
	if (e == NULL)
		return NULL;
	e->hash = idem_hash(c, method, key);
	e->params_hash = params_hash;
	e->method = (uint8_t)method;
	e->key_len = (uint8_t)key.len;
	memcpy(e->key, key.p, key.len);
	return e;
}

void idem_abort(core_idem *e)
{
	free(e);
}

static core_idem **list_head(core *c, int method)
{
	return &c->idem_head[method - 1];
}

void idem_commit(core *c, core_idem *e)
{
	if (table_count(&c->idem_by_key) >= c->cfg.idempotency_max) {
		/* Forget the oldest key, adjust keys first: they are only a
		 * retry guard, while a reserve key also names a live hold. */
		core_idem *old = c->idem_head[IDEM_ADJUST - 1];
		if (old == NULL)
			old = c->idem_head[IDEM_RESERVE - 1];
		if (old)
			idem_remove(c, old);
	}
	e->created_ms = c->now_ms;
	core_idem **head = list_head(c, e->method);
	core_idem **tail = &c->idem_tail[e->method - 1];
	e->prev = *tail;
	e->next = NULL;
	if (*tail)
		(*tail)->next = e;
	else
		*head = e;
	*tail = e;
	int rc = table_insert(&c->idem_by_key, e->hash, e);
	assert(rc == 0); /* room was reserved by idem_prepare */
	(void)rc;
	if (e->resv)
		e->resv->idem = e;
}

void idem_remove(core *c, core_idem *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->idem_head[e->method - 1] = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->idem_tail[e->method - 1] = e->prev;
	if (e->resv)
		e->resv->idem = NULL;
	table_remove(&c->idem_by_key, e);
	free(e);
}

uint32_t idem_forget_old(core *c, uint32_t budget, bool due_only)
{
	uint32_t n = 0;
	core_idem *e;
	while (n < budget && (e = c->idem_head[IDEM_ADJUST - 1]) != NULL &&
	    (!due_only || e->created_ms + c->cfg.retain_ms <= c->now_ms)) {
		idem_remove(c, e);
		n++;
	}
	return n;
}

void idem_finish(core *c)
{
	for (int m = 0; m < 2; m++) {
		core_idem *e = c->idem_head[m];
		while (e) {
			core_idem *next = e->next;
			free(e);
			e = next;
		}
		c->idem_head[m] = c->idem_tail[m] = NULL;
	}
	table_finish(&c->idem_by_key);
}
