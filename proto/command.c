/*
 * command.c - the command table.
 */
#include "command.h"

#include "core.h"

#include <allot/protocol.h>
#include <string.h>

/* The public limits and the core's are one: the core's headers cannot
 * include the public one, so the two are tied here at compile time. */
_Static_assert(ALLOT_NAME_BYTES_MAX == CORE_NAME_MAX, "sku/location name limit");
_Static_assert(ALLOT_CHANNEL_BYTES_MAX == CORE_CHANNEL_MAX, "channel name limit");
_Static_assert(ALLOT_QTY_MAX == CORE_QTY_MAX, "quantity limit");
_Static_assert(ALLOT_DEFAULT_LINES_MAX == CORE_DEFAULT_LINES_MAX, "lines per order");
_Static_assert(ALLOT_DEFAULT_TTL_MS == CORE_DEFAULT_TTL_MS, "default hold time");
_Static_assert(ALLOT_DEFAULT_TTL_MAX_MS == CORE_DEFAULT_TTL_MAX_MS, "longest hold");

const cmd_def cmd_table[CMD_COUNT] = {
#define X(id_, name_, role_, flags_) \
	[CMD_##id_] = { name_, sizeof(name_) - 1, role_, flags_, CMD_##id_ },
	CMD_LIST(X)
#undef X
};

const cmd_def *cmd_lookup(const char *name, uint32_t len)
{
	for (int i = 0; i < CMD_COUNT; i++)
		if (cmd_table[i].name_len == len && memcmp(cmd_table[i].name, name, len) == 0)
			return &cmd_table[i];
	return NULL;
}
