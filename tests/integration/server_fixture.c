/*
 * server_fixture.c - one allotd and one client per test (server_fixture.h).
 */
#include "server_fixture.h"

#include <criterion/criterion.h>

#include <stddef.h>

#include "json_util.h"

harness_server *fx_srv;

static void start(const char *const *extra_args)
{
	char err[512];
	fx_srv = harness_server_start(extra_args, err, sizeof(err));
	cr_assert_not_null(fx_srv, "cannot start allotd: %s", err);
	ju_client = harness_client(fx_srv, FX_CLIENT_TIMEOUT_MS, err, sizeof(err));
	cr_assert_not_null(ju_client, "cannot connect: %s", err);
}

/* Stop the test's allotd; its exit status. */
static int stop(void)
{
	allot_client_destroy(ju_client);
	ju_client = NULL;
	int status = harness_server_stop(fx_srv);
	fx_srv = NULL;
	return status;
}

void fx_setup(void)
{
	start(NULL);
}

void fx_teardown(void)
{
	stop();
	ju_free_kept();
}

void fx_finish(void)
{
	ju_free_kept();
	int status = stop();
	cr_assert_eq(status, 0, "allotd exited with status %d", status);
}

void fx_restart(const char *const *extra_args)
{
	int status = stop();
	cr_assert_eq(status, 0, "allotd exited with status %d", status);
	start(extra_args);
}
