/*
 * server_fixture.h - the fixture of the suites whose tests each start
 * their own allotd (without Redis) and talk to it through one client,
 * ju_client (json_util.h):
 *
 *     TestSuite(methods, .init = fx_setup, .fini = fx_teardown, ...);
 *
 * and each test ends with fx_finish(), which checks that allotd exits 0
 * on SIGTERM (Criterion does not count a failed assertion in .fini; the
 * teardown only cleans up after a test that failed earlier).
 */
#ifndef ALLOT_TESTS_SERVER_FIXTURE_H
#define ALLOT_TESTS_SERVER_FIXTURE_H

#include "harness.h"
#include "json_util.h"

/* How long the fixture's client waits for a reply. */
#define FX_CLIENT_TIMEOUT_MS 10000

/* The test's allotd, NULL outside a test; its client is ju_client
 * (json_util.h). */
extern harness_server *fx_srv;

/* Start allotd without extra arguments and connect ju_client. */
void fx_setup(void);
/* Free what a failed test left: the client, kept JSON, the server. */
void fx_teardown(void);
/* The end of every test: as fx_teardown(), and allotd must exit 0. */
void fx_finish(void);
/* Replace the server with one started with extra_args (NULL-terminated). */
void fx_restart(const char *const *extra_args);

#endif
