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
