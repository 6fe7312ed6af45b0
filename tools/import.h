/*
 * import.h - `allot import [--dry-run] FILE.csv` and `allot export
 * [--sku-prefix P]`: stock in and out as CSV (csv_io.h).
 */
#ifndef ALLOT_TOOLS_IMPORT_H
#define ALLOT_TOOLS_IMPORT_H

#include "cli_conn.h"

/* argv[0] is "import" / "export". Exit status: 0 done; 1 import with bad
 * rows (the good ones are loaded); 2 usage or failure. */
int import_main(const cli_target *t, int argc, char **argv);
int export_main(const cli_target *t, int argc, char **argv);

#endif
