/*
 * dump.h - `allot snapshot dump`: a durable engine's state in Redis, printed
 * as JSON lines (the current snapshot's header and items, then every
 * journal record after it). It reads through the store
 * (engine/store/store.h), the one reader of the on-Redis format, so it
 * checks what recovery checks.
 */
#ifndef ALLOT_TOOLS_DUMP_H
#define ALLOT_TOOLS_DUMP_H

/* Exit statuses, as the rest of allot's. */
enum {
	DUMP_EXIT_OK = 0,
	DUMP_EXIT_DATA = 1,   /* Redis failed, or holds data that does not decode */
	DUMP_EXIT_USAGE = 2,
};

/*
 * Run "snapshot dump": argv[0] is "dump", its options follow (argv[0] may
 * be overwritten). Prints the dump on stdout, or the usage with --help, and
 * returns the exit status; messages go to stderr.
 */
int dump_main(int argc, char **argv);

#endif
