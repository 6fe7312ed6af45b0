/*
 * durability_fixture.c - the state of the durability suite and its setup
 * and teardown (durability_fixture.h).
 */
#include "durability_fixture.h"

redis_server *dur_rs;
harness_server *dur_srv;
const char *dur_ns;
const char *const *dur_args;

void dur_setup(void)
{
	char err[1024];
	dur_rs = redis_server_start(err, sizeof(err));
	cr_assert_not_null(dur_rs, "cannot start redis-server: %s", err);
}

void dur_teardown(void)
{
	allot_client_destroy(ju_client);
	ju_client = NULL;
	allotd_kill(dur_srv);
	dur_srv = NULL;
	redis_server_destroy(dur_rs);
	dur_rs = NULL;
	ju_free_kept();
}

/* The lsn of the first record the journal in Redis holds (0: empty): its
 * first entry's batch starts there, read from the batch's head. */
long long dur_journal_first_lsn(const char *ns)
{
	char key[128], err[512];
	snprintf(key, sizeof(key), "allot:{%s}:journal", ns);
	const char *const words[] = { "XRANGE", key, "-", "+", "COUNT", "1", NULL };
	redisReply *r = redis_server_command(dur_rs, err, sizeof(err), words);
	cr_assert_not_null(r, "XRANGE %s: %s", key, err);
	long long first = 0;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
		/* The batch is [first_lsn, format, [records]]: its first byte
		 * is a fixarray header, then first_lsn as a MessagePack uint. */
		const redisReply *f = r->element[0]->element[1];
		const unsigned char *b = (const unsigned char *)f->element[1]->str;
		cr_assert(b[0] >= 0x92 && b[0] <= 0x93, "a batch that is not an array: 0x%02x", b[0]);
		if (b[1] < 0x80)
			first = b[1];
		else if (b[1] == 0xcc)
			first = b[2];
		else if (b[1] == 0xcd)
			first = (b[2] << 8) | b[3];
		else
			cr_assert_fail("first lsn encoded as 0x%02x", b[1]);
	}
	freeReplyObject(r);
	return first;
}
