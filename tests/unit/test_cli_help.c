/*
 * test_cli_help.c - the CLI's help table and its CSV.
 *
 * Every method of the command table (proto/command.h's CMD_LIST) has help:
 * a summary, params, types, result, errors, parameter keys for completion,
 * and an example whose params are a JSON object using only those keys. A
 * method added without help fails here.
 *
 * The CSV: fields split and quoted so that any name the contract allows
 * comes back as it went out; header and row checks with their reasons.
 */
#include <criterion/criterion.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv_io.h"
#include "help.h"

Test(cli_help, every_method_has_help_with_an_example)
{
	for (int i = 0; i < CMD_COUNT; i++) {
		const cli_help *h = &cli_help_table[i];
		const char *name = cmd_table[i].name;
		cr_assert(h->summary && h->summary[0], "%s has no help (tools/help.c)", name);
		cr_assert(h->params && h->types && h->result && h->errors && h->keys,
		    "%s: help without params, types, result, errors or keys", name);
		cr_assert(h->example, "%s: no example", name);
		json_error_t jerr;
		json_t *ex = json_loads(h->example, 0, &jerr);
		cr_assert(json_is_object(ex), "%s: the example is not a JSON object: %s", name, jerr.text);
		const char *key;
		json_t *v;
		json_object_foreach(ex, key, v) {
			char word[80];
			snprintf(word, sizeof(word), " %s ", key);
			char keys[1100];
			snprintf(keys, sizeof(keys), " %s ", h->keys);
			cr_assert(strstr(keys, word) != NULL, "%s: the example's key '%s' is not in keys", name, key);
		}
		json_decref(ex);
	}
}

Test(cli_help, help_of_a_method_prints_its_parts_and_unknown_ones_fail)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	cr_assert_eq(cli_help_method(out, "stock.scan"), 0);
	cli_help_list(out);
	fclose(out);
	cr_assert(strstr(text, "params: {cursor?, count?, sku_prefix?}") != NULL, "%s", text);
	cr_assert(strstr(text, "errors: BAD_REQUEST") != NULL, "%s", text);
	cr_assert(strstr(text, "allot stock.scan '{") != NULL, "%s", text);
	for (int i = 0; i < CMD_COUNT; i++)
		cr_assert(strstr(text, cmd_table[i].name) != NULL, "the list lacks %s", cmd_table[i].name);
	free(text);
	FILE *sink = fopen("/dev/null", "w");
	cr_assert_eq(cli_help_method(sink, "stock.delete"), -1);
	fclose(sink);
}

/* Write a record as export does, read it back as import does. */
static void round_trip(const char *sku, const char *loc)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	cli_scan_record rec = { sku, strlen(sku), loc, strlen(loc), 12, 3 };
	csv_write_row(out, &rec);
	fclose(out);
	cr_assert(len > 0 && text[len - 1] == '\n');
	text[--len] = '\0';
	csv_fields f;
	const char *why = NULL;
	cr_assert_eq(csv_split(text, len, &f, &why), 0, "%s: %s", text, why);
	csv_columns cols = { 0, 1, 2, 3, 4 };
	cli_stock_row row;
	char reason[200];
	cr_assert_eq(csv_row(&f, &cols, &row, reason, sizeof(reason)), 0, "%s", reason);
	cr_assert(row.sku_len == strlen(sku) && memcmp(row.sku, sku, row.sku_len) == 0,
	    "sku [%s] came back as [%.*s]", sku, (int)row.sku_len, row.sku);
	cr_assert(row.location_len == strlen(loc) && memcmp(row.location, loc, row.location_len) == 0);
	cr_assert_eq(row.on_hand, 12);
	cr_assert_eq(row.safety, 3);
	free(text);
}

Test(cli_csv, names_with_commas_quotes_blanks_and_utf8_round_trip)
{
	round_trip("plain", "W1");
	round_trip("a,b", "W 2");
	round_trip("say \"hi\"", "\"");
	round_trip(" lead", "trail ");
	round_trip("\"\"", ",");
	round_trip("T-Shirt \xc3\xa4\xc3\xb6\xc3\xbc \xe2\x82\xac", "Lager M\xc3\xbcnchen");
}

static int row_of(const char *line, const char *header, char *why, size_t why_len)
{
	char h[200], l[200];
	snprintf(h, sizeof(h), "%s", header);
	snprintf(l, sizeof(l), "%s", line);
	csv_fields f;
	csv_columns cols;
	const char *split_why = NULL;
	cr_assert_eq(csv_split(h, strlen(h), &f, &split_why), 0);
	if (csv_header(&f, &cols, why, why_len) != 0)
		return -2;
	if (csv_split(l, strlen(l), &f, &split_why) != 0) {
		snprintf(why, why_len, "%s", split_why);
		return -1;
	}
	cli_stock_row row;
	return csv_row(&f, &cols, &row, why, why_len);
}

Test(cli_csv, bad_rows_and_headers_say_why)
{
	char why[200];
	const char *hdr = "sku,location,on_hand,safety";
	cr_assert_eq(row_of("a,W1,5,", hdr, why, sizeof(why)), 0);
	cr_assert_eq(row_of("a,W1,5", hdr, why, sizeof(why)), 0);
	cr_assert_eq(row_of("a,W1", hdr, why, sizeof(why)), -1);
	cr_assert_eq(row_of("a,W1,-1,0", hdr, why, sizeof(why)), -1);
	cr_assert(strstr(why, "on_hand") != NULL, "%s", why);
	cr_assert_eq(row_of("a,W1,2147483648,0", hdr, why, sizeof(why)), -1);
	cr_assert_eq(row_of("a,W1,1,x", hdr, why, sizeof(why)), -1);
	cr_assert(strstr(why, "safety") != NULL, "%s", why);
	cr_assert_eq(row_of(",W1,1,1", hdr, why, sizeof(why)), -1);
	cr_assert(strstr(why, "sku") != NULL, "%s", why);
	cr_assert_eq(row_of("a,\"W1,1,1", hdr, why, sizeof(why)), -1);
	cr_assert(strstr(why, "quoted") != NULL, "%s", why);
	cr_assert_eq(row_of("a,W\"1,1,1", hdr, why, sizeof(why)), -1);
	/* Columns by the header's names, in any order, others ignored. */
	cr_assert_eq(row_of("7,x,W1,a", "on_hand,note,location,sku", why, sizeof(why)), 0);
	cr_assert_eq(row_of("a,W1,1", "sku,location,count", why, sizeof(why)), -2);
	cr_assert(strstr(why, "header") != NULL, "%s", why);
	cr_assert_eq(row_of("a,W1,1", "sku,sku,location,on_hand", why, sizeof(why)), -2);
}
