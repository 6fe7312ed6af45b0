/*
 * import.c - `allot import`: a CSV of stock into allotd as pipelined
 * stock.set calls.
 *
 * Rows are read, checked and packed in batches; up to IMPORT_WINDOW calls
 * are in flight at once, so the server never sees a client it must buffer
 * for without bound (its replies to one window are well under its
 * per-connection output limit), and the round trips overlap. Replies come
 * in request order, so a ring of line numbers says which row each
 * refusal is about. Every bad row is reported with its line number and
 * reason, and the rest are loaded.
 */
#include "import.h"

#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "csv_io.h"
#include "progress.h"

/* Calls in flight at most (a power of two: the ring of line numbers), and
 * rows per batch sent at once. */
#define IMPORT_WINDOW 4096u
#define IMPORT_BATCH 512u
_Static_assert((IMPORT_WINDOW & (IMPORT_WINDOW - 1)) == 0, "the ring's size is a power of two");
_Static_assert(IMPORT_BATCH <= IMPORT_WINDOW, "a batch fits the window");

typedef struct import_run {
	const char *path;
	bool dry_run;
	FILE *in;
	cli_conn *conn;
	progress bar;
	uint64_t ring[IMPORT_WINDOW]; /* line numbers of the calls in flight */
	uint64_t sent, answered;      /* calls */
	uint64_t rows, good, bad;     /* data rows read; loaded (or, dry, fine); refused */
	char err[512];
} import_run;

static void report_bad(import_run *r, uint64_t line, const char *why)
{
	progress_clear(&r->bar);
	fprintf(stderr, "%s:%llu: %s\n", r->path, (unsigned long long)line, why);
	r->bad++;
}

/* Take the reply of the oldest call in flight. */
static int take_reply(import_run *r)
{
	char code[64], message[300], why[400];
	int rc = cli_conn_next_status(r->conn, code, sizeof(code), message, sizeof(message),
	    r->err, sizeof(r->err));
	if (rc < 0)
		return rc;
	assert(r->answered < r->sent);
	uint64_t line = r->ring[r->answered % IMPORT_WINDOW];
	r->answered++;
	if (rc == 0) {
		r->good++;
		return 0;
	}
	snprintf(why, sizeof(why), "%s: %s", code, message);
	report_bad(r, line, why);
	return 0;
}

/* Send what is queued, then take replies until the window has room for
 * another batch (or, at the end, until every call is answered). */
static int settle(import_run *r, bool all)
{
	if (r->dry_run)
		return 0;
	int rc = cli_conn_flush(r->conn, r->err, sizeof(r->err));
	uint64_t keep = all ? 0 : IMPORT_WINDOW - IMPORT_BATCH;
	while (rc == 0 && r->sent - r->answered > keep)
		rc = take_reply(r);
	return rc;
}

/* One data line: checked, then queued as stock.set (or, dry, counted). */
static int import_line(import_run *r, const csv_columns *cols, char *line, size_t len,
    uint64_t lineno)
{
	csv_fields f;
	const char *why_split;
	char why[300];
	cli_stock_row row;
	r->rows++;
	if (csv_split(line, len, &f, &why_split) != 0) {
		report_bad(r, lineno, why_split);
		return 0;
	}
	if (csv_row(&f, cols, &row, why, sizeof(why)) != 0) {
		report_bad(r, lineno, why);
		return 0;
	}
	if (r->dry_run) {
		r->good++;
		return 0;
	}
	/* settle() leaves room for a batch: the ring never laps. */
	assert(r->sent - r->answered < IMPORT_WINDOW);
	r->ring[r->sent % IMPORT_WINDOW] = lineno;
	r->sent++;
	int rc = cli_conn_queue_stock_set(r->conn, &row, r->err, sizeof(r->err));
	if (rc == 0 && r->sent % IMPORT_BATCH == 0)
		rc = settle(r, false);
	return rc;
}

/* Strip the line break (LF or CRLF); whether anything but blanks is left. */
static bool trim_line(char *line, size_t *len)
{
	while (*len > 0 && (line[*len - 1] == '\n' || line[*len - 1] == '\r'))
		line[--*len] = '\0';
	return strspn(line, " \t") < *len;
}

/* Read the header, then every row. */
static int import_lines(import_run *r)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t got;
	uint64_t lineno = 0;
	csv_columns cols;
	bool header = false;
	int rc = 0;
	while (rc == 0 && (got = getline(&line, &cap, r->in)) >= 0) {
		size_t len = (size_t)got;
		lineno++;
		if (!trim_line(line, &len))
			continue;
		if (!header) {
			csv_fields f;
			const char *why = NULL;
			char hwhy[200];
			if (csv_split(line, len, &f, &why) != 0 || csv_header(&f, &cols, hwhy, sizeof(hwhy)) != 0) {
				snprintf(r->err, sizeof(r->err), "%s:%llu: %s", r->path,
				    (unsigned long long)lineno, why ? why : hwhy);
				rc = CLI_CONN_E_FAIL;
				break;
			}
			header = true;
			continue;
		}
		rc = import_line(r, &cols, line, len, lineno);
		if ((r->rows & 1023) == 0)
			progress_update(&r->bar, (uint64_t)ftello(r->in), r->rows);
	}
	free(line);
	if (rc == 0 && ferror(r->in)) {
		snprintf(r->err, sizeof(r->err), "%s: %s", r->path, strerror(errno));
		rc = CLI_CONN_E_FAIL;
	}
	if (rc == 0 && !header) {
		snprintf(r->err, sizeof(r->err), "%s: no header line (sku,location,on_hand[,safety])", r->path);
		rc = CLI_CONN_E_FAIL;
	}
	return rc == 0 ? settle(r, true) : rc;
}

static void import_usage(FILE *out)
{
	fprintf(out, "usage: allot import [--dry-run] FILE.csv\n"
	    "Load stock from a CSV with a header line naming sku,location,on_hand[,safety]\n"
	    "('-' reads stdin). Every bad row is reported with its line number and the\n"
	    "rest are loaded. --dry-run checks the file without sending anything.\n"
	    "Exit status: 0 all rows loaded; 1 some rows refused; 2 failure.\n");
}

/* The summary line, on stdout. */
static void import_summary(const import_run *r, double seconds)
{
	double rate = seconds > 0 ? (double)r->rows / seconds : 0;
	if (r->dry_run)
		printf("%s: %llu rows checked: %llu good, %llu bad (dry run: nothing sent)\n", r->path,
		    (unsigned long long)r->rows, (unsigned long long)r->good, (unsigned long long)r->bad);
	else
		printf("%s: %llu rows: %llu loaded, %llu bad, in %.2f s (%.0f rows/s)\n", r->path,
		    (unsigned long long)r->rows, (unsigned long long)r->good, (unsigned long long)r->bad,
		    seconds, rate);
}

int import_main(const cli_target *t, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	import_run *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return 2;
	int ch, status = 2;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+nh", longopts, NULL)) != -1) {
		if (ch == 'n')
			r->dry_run = true;
		else {
			import_usage(ch == 'h' ? stdout : stderr);
			free(r);
			return ch == 'h' ? 0 : 2;
		}
	}
	if (argc - optind != 1) {
		import_usage(stderr);
		free(r);
		return 2;
	}
	r->path = argv[optind];
	r->in = strcmp(r->path, "-") == 0 ? stdin : fopen(r->path, "r");
	if (r->in == NULL) {
		fprintf(stderr, "allot import: %s: %s\n", r->path, strerror(errno));
		free(r);
		return 2;
	}
	struct stat st;
	uint64_t size = fstat(fileno(r->in), &st) == 0 && S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
	if (!r->dry_run && (r->conn = cli_conn_open(t, r->err, sizeof(r->err))) == NULL) {
		fprintf(stderr, "allot import: %s\n", r->err);
		goto done;
	}
	progress_start(&r->bar, size, isatty(STDERR_FILENO));
	int rc = import_lines(r);
	progress_clear(&r->bar);
	if (rc != 0) {
		fprintf(stderr, "allot import: %s (%llu rows loaded before)\n", r->err,
		    (unsigned long long)r->good);
		goto done;
	}
	import_summary(r, progress_elapsed_s(&r->bar));
	status = r->bad ? 1 : 0;
done:
	cli_conn_close(r->conn);
	if (r->in != stdin)
		fclose(r->in);
	free(r);
	return fflush(stdout) == 0 ? status : 2;
}
