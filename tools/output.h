/*
 * output.h - how the CLI prints a reply: indented JSON (the default),
 * compact one-line JSON (-c), or CSV for list results (--csv: stock.get,
 * stock.scan and avail).
 */
#ifndef ALLOT_TOOLS_OUTPUT_H
#define ALLOT_TOOLS_OUTPUT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

typedef enum cli_format {
	CLI_FORMAT_PRETTY,
	CLI_FORMAT_COMPACT,
	CLI_FORMAT_CSV,
} cli_format;

/* Whether --csv can print method's result. */
bool output_csv_supported(const char *method);

/* Print v (a result, or an error map: errors are always JSON) as format
 * asks; CSV only for a result of a method output_csv_supported() accepts.
 * 0, or -1 after saying why on stderr. */
int output_print(FILE *out, const char *method, json_t *v, bool is_error, cli_format format);

#endif
