/*
 * output.c - printing replies (see output.h).
 */
#include "output.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "csv_io.h"

bool output_csv_supported(const char *method)
{
	return strcmp(method, "stock.get") == 0 || strcmp(method, "stock.scan") == 0 ||
	    strcmp(method, "avail") == 0;
}

static int print_json(FILE *out, json_t *v, bool compact)
{
	size_t flags = JSON_ENCODE_ANY | JSON_REAL_PRECISION(15) |
	    (compact ? JSON_COMPACT : JSON_INDENT(2));
	return json_dumpf(v, out, flags) == 0 && fputc('\n', out) != EOF ? 0 : -1;
}

/* A CSV cell of a JSON value: strings as they are, other scalars as JSON,
 * arrays and objects as compact JSON text. */
static void csv_cell(FILE *out, json_t *v)
{
	if (json_is_string(v)) {
		csv_write_field(out, json_string_value(v), json_string_length(v));
		return;
	}
	if (v == NULL || json_is_null(v))
		return;
	char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(15));
	if (text != NULL)
		csv_write_field(out, text, strlen(text));
	free(text);
}

/* Records (objects) as CSV: the first record's keys are the columns. */
static void csv_records(FILE *out, json_t *records)
{
	json_t *first = json_array_get(records, 0);
	if (!json_is_object(first))
		return;
	const char *key;
	json_t *v;
	bool comma = false;
	json_object_foreach(first, key, v) {
		fputs(comma ? "," : "", out);
		csv_write_field(out, key, strlen(key));
		comma = true;
	}
	fputc('\n', out);
	size_t i;
	json_t *rec;
	json_array_foreach(records, i, rec) {
		comma = false;
		json_object_foreach(first, key, v) {
			fputs(comma ? "," : "", out);
			csv_cell(out, json_object_get(rec, key));
			comma = true;
		}
		fputc('\n', out);
	}
}

/* avail's map as rows sku,total,location,available: one per location, or
 * one with an empty location for a sku stocked nowhere. */
static void csv_avail(FILE *out, json_t *result)
{
	fputs("sku,total,location,available\n", out);
	const char *sku, *loc;
	json_t *entry, *n;
	json_object_foreach(result, sku, entry) {
		json_t *total = json_object_get(entry, "total");
		json_t *locs = json_object_get(entry, "locations");
		if (json_object_size(locs) == 0) {
			csv_write_field(out, sku, strlen(sku));
			fprintf(out, ",%lld,,\n", (long long)json_integer_value(total));
			continue;
		}
		json_object_foreach(locs, loc, n) {
			csv_write_field(out, sku, strlen(sku));
			fprintf(out, ",%lld,", (long long)json_integer_value(total));
			csv_write_field(out, loc, strlen(loc));
			fprintf(out, ",%lld\n", (long long)json_integer_value(n));
		}
	}
}

static int print_csv(FILE *out, const char *method, json_t *v)
{
	if (strcmp(method, "avail") == 0) {
		csv_avail(out, v);
		return 0;
	}
	json_t *records = v;
	if (strcmp(method, "stock.scan") == 0) {
		records = json_object_get(v, "records");
		json_t *cursor = json_object_get(v, "cursor");
		/* A page of a scan: say how to go on, where it does not
		 * spoil the CSV. */
		if (json_integer_value(cursor) != 0)
			fprintf(stderr, "allot: more records: call stock.scan with \"cursor\": %lld\n",
			    (long long)json_integer_value(cursor));
	}
	if (!json_is_array(records))
		return -1;
	csv_records(out, records);
	return 0;
}

int output_print(FILE *out, const char *method, json_t *v, bool is_error, cli_format format)
{
	int rc;
	if (format == CLI_FORMAT_CSV && !is_error)
		rc = print_csv(out, method, v);
	else
		rc = print_json(out, v, format != CLI_FORMAT_PRETTY);
	if (rc != 0 || fflush(out) != 0) {
		fprintf(stderr, "allot: cannot write the reply: %s\n", rc ? "unexpected shape" : strerror(errno));
		return -1;
	}
	return 0;
}
