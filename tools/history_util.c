/*
 * history_util.c - what the history commands share (see history_util.h).
 */
#define _GNU_SOURCE
#include "history_util.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "durable.h"

int hu_source_option(hu_source *src, int opt, const char *arg, const char *prog)
{
	char *end = NULL;
	switch (opt) {
	case HU_OPT_REDIS: src->url = arg; return 1;
	case HU_OPT_NAMESPACE:
		if (!durable_namespace_valid(arg)) {
			fprintf(stderr, "%s: --namespace: 1 to %d of A-Z a-z 0-9 _ . -\n", prog,
			    DURABLE_NAMESPACE_MAX);
			return -1;
		}
		src->ns = arg;
		return 1;
	case HU_OPT_DIR: src->dir = arg; return 1;
	case HU_OPT_TTL_DEFAULT_MS:
		errno = 0;
		src->ttl_default_ms = strtoll(arg, &end, 10);
		if (errno || *end || src->ttl_default_ms < 1) {
			fprintf(stderr, "%s: --ttl-default-ms: a whole number of ms, not '%s'\n", prog, arg);
			return -1;
		}
		return 1;
	}
	return 0;
}

history *hu_open(const hu_source *src, const char *prog)
{
	if ((src->url == NULL) == (src->dir == NULL)) {
		fprintf(stderr, "%s: give one of --redis URL and --dir DIR\n", prog);
		return NULL;
	}
	char why[512];
	history *h = history_open(src->url, src->ns ? src->ns : "default", src->dir, why, sizeof(why));
	if (h == NULL)
		fprintf(stderr, "%s: cannot read the history in %s: %s\n", prog,
		    src->url ? src->url : src->dir, why);
	return h;
}

int hu_parse_time(const char *text, int64_t *ms)
{
	bool digits = *text != '\0';
	for (const char *p = text; *p; p++)
		digits = digits && isdigit((unsigned char)*p);
	if (digits && strlen(text) <= 18) {
		*ms = strtoll(text, NULL, 10);
		return 0;
	}
	static const char *const forms[] = { "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d" };
	for (size_t i = 0; i < sizeof(forms) / sizeof(*forms); i++) {
		struct tm tm = { 0 };
		const char *rest = strptime(text, forms[i], &tm);
		if (rest == NULL)
			continue;
		int64_t frac = 0;
		if (*rest == '.') {
			frac = strtol(rest + 1, (char **)&rest, 10);
			if (frac > 999)
				continue;
		}
		if (*rest == 'Z')
			rest++;
		if (*rest != '\0')
			continue;
		*ms = (int64_t)timegm(&tm) * 1000 + frac;
		return 0;
	}
	return -1;
}

const char *hu_format_time(int64_t ms, char *buf, size_t len)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	if (ms < 0 || gmtime_r(&s, &tm) == NULL) {
		snprintf(buf, len, "%lld", (long long)ms);
		return buf;
	}
	char date[24];
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03dZ", date, (int)(ms % 1000));
	return buf;
}

typedef struct collect {
	core_record_view *out;
	uint32_t cap, n;
} collect;

static void collect_record(void *ctx, const core_record_view *rec)
{
	collect *c = ctx;
	if (c->n < c->cap)
		c->out[c->n++] = *rec;
}

void hu_records(const core *c, core_str sku, core_str location, core_record_view *out,
    uint32_t cap, uint32_t *n)
{
	collect col = { out, cap, 0 };
	uint32_t count = 0;
	core_error err;
	if (core_stock_count(c, sku, location) > 0)
		(void)core_stock_get(c, sku, location, collect_record, &col, &count, &err);
	*n = col.n;
}

core_str hu_str(const char *s)
{
	return s ? (core_str){ s, (uint32_t)strlen(s) } : (core_str){ NULL, 0 };
}
