/*
 * csv_io.h - the CSV of allot import and export: `sku,location,on_hand[,safety]`
 * with a header line, one record per line, fields quoted as RFC 4180 says
 * ("a,b" and "say ""hi""") when they hold a comma, a quote or blanks at
 * either end, so any name the contract allows (no control characters, so
 * no line breaks) survives export then import exactly.
 */
#ifndef ALLOT_TOOLS_CSV_IO_H
#define ALLOT_TOOLS_CSV_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "cli_conn.h"

/* Columns one line may have; more is a bad row. */
#define CSV_FIELDS_MAX 32

/* The fields of one line, pointing into the line (unquoted in place). */
typedef struct csv_fields {
	char *p[CSV_FIELDS_MAX];
	size_t len[CSV_FIELDS_MAX];
	int n;
} csv_fields;

/* Split line[0..len) (its line break removed) into f, unquoting in place.
 * 0, or -1 with *why saying what is wrong. */
int csv_split(char *line, size_t len, csv_fields *f, const char **why);

/* Which field holds what: from the header line. */
typedef struct csv_columns {
	int sku, location, on_hand, safety; /* safety -1: no such column */
	int n;                              /* fields in the header */
} csv_columns;

/* The header's columns: sku, location and on_hand must be named, safety
 * may be; other columns are ignored (so `allot --csv stock.scan` output
 * imports too). 0, or -1 with why filled. */
int csv_header(const csv_fields *f, csv_columns *cols, char *why, size_t why_len);

/* One row as stock.set takes it, checked as allotd would check it (names
 * 1..64 bytes without control characters, counts 0..2^31-1; an empty
 * safety is not sent, so the record keeps its own). 0, or -1 with why. */
int csv_row(const csv_fields *f, const csv_columns *cols, cli_stock_row *row, char *why,
    size_t why_len);

/* The header export writes, and one record in the same columns. */
#define CSV_HEADER "sku,location,on_hand,safety"
void csv_write_field(FILE *out, const char *s, size_t len);
void csv_write_row(FILE *out, const cli_scan_record *rec);

#endif
