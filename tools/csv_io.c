/*
 * csv_io.c - the CSV of import and export (see csv_io.h).
 */
#include "csv_io.h"

#include <inttypes.h>
#include <string.h>
#include <strings.h>

#include "allot/protocol.h"

/* One quoted field from *pp: its text unquoted in place at out. */
static int split_quoted(char **pp, char *end, char **out, size_t *out_len, const char **why)
{
	char *p = *pp + 1, *w = p;
	*out = w;
	for (;;) {
		if (p == end) {
			*why = "a quoted field does not end";
			return -1;
		}
		if (*p == '"') {
			if (p + 1 < end && p[1] == '"') {
				*w++ = '"';
				p += 2;
				continue;
			}
			p++;
			break;
		}
		*w++ = *p++;
	}
	if (p != end && *p != ',') {
		*why = "text after a quoted field";
		return -1;
	}
	*out_len = (size_t)(w - *out);
	*pp = p;
	return 0;
}

int csv_split(char *line, size_t len, csv_fields *f, const char **why)
{
	char *p = line, *end = line + len;
	f->n = 0;
	for (;;) {
		if (f->n == CSV_FIELDS_MAX) {
			*why = "too many fields";
			return -1;
		}
		int i = f->n++;
		if (p < end && *p == '"') {
			if (split_quoted(&p, end, &f->p[i], &f->len[i], why) != 0)
				return -1;
		} else {
			char *comma = memchr(p, ',', (size_t)(end - p));
			char *stop = comma ? comma : end;
			if (memchr(p, '"', (size_t)(stop - p)) != NULL) {
				*why = "a quote inside an unquoted field";
				return -1;
			}
			f->p[i] = p;
			f->len[i] = (size_t)(stop - p);
			p = stop;
		}
		if (p == end)
			return 0;
		p++; /* the comma */
	}
}

static bool field_is(const csv_fields *f, int i, const char *name)
{
	return f->len[i] == strlen(name) && strncasecmp(f->p[i], name, f->len[i]) == 0;
}

int csv_header(const csv_fields *f, csv_columns *cols, char *why, size_t why_len)
{
	*cols = (csv_columns){ -1, -1, -1, -1, f->n };
	for (int i = 0; i < f->n; i++) {
		int *col = field_is(f, i, "sku") ? &cols->sku : field_is(f, i, "location") ? &cols->location
		    : field_is(f, i, "on_hand") ? &cols->on_hand : field_is(f, i, "safety") ? &cols->safety : NULL;
		if (col != NULL && *col >= 0) {
			snprintf(why, why_len, "the header names column '%.*s' twice", (int)f->len[i], f->p[i]);
			return -1;
		}
		if (col != NULL)
			*col = i;
	}
	if (cols->sku < 0 || cols->location < 0 || cols->on_hand < 0) {
		snprintf(why, why_len, "the first line must be a header naming the columns "
		    "sku,location,on_hand[,safety]");
		return -1;
	}
	return 0;
}

static bool name_ok(const char *p, size_t len)
{
	if (len < 1 || len > ALLOT_NAME_BYTES_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return false;
	return true;
}

/* A count 0..2^31-1 written in decimal digits. */
static bool count_ok(const char *p, size_t len, int64_t *out)
{
	if (len < 1 || len > 10)
		return false;
	int64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (p[i] - '0');
	}
	*out = v;
	return v <= ALLOT_QTY_MAX;
}

int csv_row(const csv_fields *f, const csv_columns *cols, cli_stock_row *row, char *why,
    size_t why_len)
{
	int need = cols->sku > cols->location ? cols->sku : cols->location;
	need = need > cols->on_hand ? need : cols->on_hand;
	if (f->n <= need) {
		snprintf(why, why_len, "%d field%s, the header has %d", f->n, f->n == 1 ? "" : "s", cols->n);
		return -1;
	}
	*row = (cli_stock_row){ f->p[cols->sku], f->len[cols->sku], f->p[cols->location],
		f->len[cols->location], 0, -1 };
	if (!name_ok(row->sku, row->sku_len)) {
		snprintf(why, why_len, "sku: must be 1 to %d bytes without control characters",
		    ALLOT_NAME_BYTES_MAX);
		return -1;
	}
	if (!name_ok(row->location, row->location_len)) {
		snprintf(why, why_len, "location: must be 1 to %d bytes without control characters",
		    ALLOT_NAME_BYTES_MAX);
		return -1;
	}
	int i = cols->on_hand;
	if (!count_ok(f->p[i], f->len[i], &row->on_hand)) {
		snprintf(why, why_len, "on_hand: '%.*s' is not a whole number from 0 to %lld",
		    (int)(f->len[i] > 32 ? 32 : f->len[i]), f->p[i], ALLOT_QTY_MAX);
		return -1;
	}
	i = cols->safety;
	if (i >= 0 && i < f->n && f->len[i] > 0 && !count_ok(f->p[i], f->len[i], &row->safety)) {
		snprintf(why, why_len, "safety: '%.*s' is not a whole number from 0 to %lld",
		    (int)(f->len[i] > 32 ? 32 : f->len[i]), f->p[i], ALLOT_QTY_MAX);
		return -1;
	}
	return 0;
}

void csv_write_field(FILE *out, const char *s, size_t len)
{
	bool quote = len > 0 && (s[0] == ' ' || s[len - 1] == ' ' ||
	    memchr(s, ',', len) != NULL || memchr(s, '"', len) != NULL);
	if (!quote) {
		fwrite(s, 1, len, out);
		return;
	}
	fputc('"', out);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"')
			fputc('"', out);
		fputc(s[i], out);
	}
	fputc('"', out);
}

void csv_write_row(FILE *out, const cli_scan_record *rec)
{
	csv_write_field(out, rec->sku, rec->sku_len);
	fputc(',', out);
	csv_write_field(out, rec->location, rec->location_len);
	fprintf(out, ",%" PRId64 ",%" PRId64 "\n", rec->on_hand, rec->safety);
}
