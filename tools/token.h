/*
 * token.h - allot token new NAME ROLE: a fresh random token for allotd's
 * auth file (see token.c).
 */
#ifndef ALLOT_TOOLS_TOKEN_H
#define ALLOT_TOOLS_TOKEN_H

/* argv[0] is "new"; returns the exit status (0, or 2 for a usage error or
 * no randomness). */
int token_main(int argc, char **argv);

#endif
