/*
 * access.h - the contract's words for access control: the roles' names and
 * what a token NAME may be. Shared by allotd (engine/auth.c reads the auth
 * file with them) and the CLI (`allot token new` checks what it is given),
 * so both agree on one rule.
 */
#ifndef ALLOT_PROTO_ACCESS_H
#define ALLOT_PROTO_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A NAME: 1 to ACCESS_NAME_MAX of A-Z a-z 0-9 _ . @ -, and not "-" alone,
 * which names what is done without a token. */
#define ACCESS_NAME_MAX 64
#define ACCESS_ANONYMOUS "-"

/* "none", "read", "checkout", "admin" for cmd_role (command.h). */
const char *access_role_name(uint8_t role);
/* The role (ROLE_READ .. ROLE_ADMIN) named by s[0..len), or -1. */
int access_role_parse(const char *s, size_t len);
/* Whether s[0..len) is a valid NAME. */
bool access_name_valid(const char *s, size_t len);

#endif
