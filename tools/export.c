/*
 * export.c - `allot export [--sku-prefix P]`: every record as CSV on
 * stdout, through stock.scan, in the columns import reads, so that export
 * then import gives the same on_hand and safety everywhere.
 */
#include "import.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "allot/protocol.h"
#include "csv_io.h"

static int export_record(void *ud, const cli_scan_record *rec)
{
	csv_write_row(ud, rec);
	return 0;
}

static void export_usage(FILE *out)
{
	fprintf(out, "usage: allot export [--sku-prefix P] > FILE.csv\n"
	    "Write every record (or those of skus starting with P) as CSV with the\n"
	    "header " CSV_HEADER ", which allot import reads back.\n");
}

int export_main(const cli_target *t, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "sku-prefix", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *prefix = NULL;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		if (ch == 'P') {
			prefix = optarg;
			continue;
		}
		export_usage(ch == 'h' ? stdout : stderr);
		return ch == 'h' ? 0 : 2;
	}
	if (optind != argc) {
		export_usage(stderr);
		return 2;
	}
	char err[512];
	cli_conn *c = cli_conn_open(t, err, sizeof(err));
	if (c == NULL) {
		fprintf(stderr, "allot export: %s\n", err);
		return 2;
	}
	printf(CSV_HEADER "\n");
	uint64_t cursor = 0;
	int rc;
	do {
		rc = cli_conn_scan(c, cursor, ALLOT_SCAN_COUNT_MAX, prefix, export_record, stdout, &cursor,
		    err, sizeof(err));
	} while (rc == 0 && cursor != 0 && !ferror(stdout));
	cli_conn_close(c);
	if (rc != 0) {
		fprintf(stderr, "allot export: %s\n", err);
		return 2;
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "allot export: cannot write: %s\n", strerror(errno));
		return 2;
	}
	return 0;
}
