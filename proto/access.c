/*
 * access.c - role names and token NAMEs (see access.h).
 */
#include "access.h"

#include "command.h"

#include <string.h>

static const char *const role_names[] = {
	[ROLE_NONE] = "none",
	[ROLE_READ] = "read",
	[ROLE_CHECKOUT] = "checkout",
	[ROLE_ADMIN] = "admin",
};

const char *access_role_name(uint8_t role)
{
	return role <= ROLE_ADMIN ? role_names[role] : "none";
}

int access_role_parse(const char *s, size_t len)
{
	for (int r = ROLE_READ; r <= ROLE_ADMIN; r++)
		if (strlen(role_names[r]) == len && memcmp(role_names[r], s, len) == 0)
			return r;
	return -1;
}

bool access_name_valid(const char *s, size_t len)
{
	if (len == 0 || len > ACCESS_NAME_MAX || (len == 1 && s[0] == '-'))
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    ch == '_' || ch == '.' || ch == '@' || ch == '-';
		if (!ok)
			return false;
	}
	return true;
}
