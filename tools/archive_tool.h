/*
 * archive_tool.h - the history commands of the allot CLI: `allot archive`
 * (archive.c), `allot audit` (audit.c), `allot replay` (replay.c and its
 * report files) and `allot explain` (explain.c). Each takes its argv with
 * argv[0] its own name and returns the exit status: 0, 1 when the history
 * cannot be read, 2 for a usage error.
 */
#ifndef ALLOT_TOOLS_ARCHIVE_TOOL_H
#define ALLOT_TOOLS_ARCHIVE_TOOL_H

int archive_main(int argc, char **argv);
int audit_main(int argc, char **argv);
int replay_main(int argc, char **argv);
int explain_main(int argc, char **argv);

#endif
