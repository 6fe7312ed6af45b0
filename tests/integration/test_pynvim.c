/*
 * test_pynvim.c - a third-party msgpack-rpc client (pynvim) drives allotd
 * through ping, stock.set, reserve, commit and stock.get. The checks live
 * in pynvim_client.py; this test starts the server and runs it.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>

#include "harness.h"

#define PYTHON "/usr/bin/python3"

Test(pynvim, session_reserves_and_commits, .timeout = 120)
{
	const char *script = getenv("PYNVIM_CLIENT");
	cr_assert(script != NULL && script[0] != '\0',
	    "PYNVIM_CLIENT is not set (the path of pynvim_client.py)");

	char err[512];
	harness_server *s = harness_server_start(NULL, err, sizeof(err));
	cr_assert_not_null(s, "cannot start allotd: %s", err);

	char port[16];
	snprintf(port, sizeof(port), "%d", s->port);
	const char *argv[] = { PYTHON, script, HARNESS_HOST, port, NULL };
	char *out = NULL, *errs = NULL;
	int status = harness_run(argv, 60000, &out, &errs);
	cr_assert_eq(status, 0, "pynvim_client.py exited %d\nstdout:\n%s\n"
	    "stderr:\n%s", status, out ? out : "", errs ? errs : "");
	free(out);
	free(errs);

	status = harness_server_stop(s);
	cr_assert_eq(status, 0, "allotd exited with status %d", status);
}
