/*
 * test_node.c - a real JavaScript client: Node's msgpack-rpc-lite, as a
 * new user would install it (tests/js/package.json and its lock file),
 * drives allotd through tests/js/client.js: auth, inbound.add with a
 * 13-digit eta JavaScript sends as a float64, reserve and commit, an
 * OUT_OF_STOCK error's shape, 100 concurrent reserves on 50 units holding
 * exactly 50, and a TOO_LARGE frame whose pending call completes with the
 * error instead of hanging.
 *
 * The packages are installed with `npm ci` into the build tree
 * (JS_DEPS_DIR), once, and again when the lock file changes.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access_util.h"

#define NPM_TIMEOUT_MS 240000

static harness_server *srv;
static char auth_path[128];

static void teardown(void)
{
	harness_server_stop(srv);
	srv = NULL;
	if (auth_path[0])
		unlink(auth_path);
}

TestSuite(node, .fini = teardown, .timeout = 300);

static void copy_file(const char *from, const char *to)
{
	char *text = au_slurp(from);
	FILE *f = fopen(to, "w");
	cr_assert_not_null(f, "%s", to);
	fputs(text, f);
	fclose(f);
	free(text);
}

/* Whether the files at a and b hold the same text. */
static bool same_file(const char *a, const char *b)
{
	if (access(b, R_OK) != 0)
		return false;
	char *x = au_slurp(a), *y = au_slurp(b);
	bool same = strcmp(x, y) == 0;
	free(x);
	free(y);
	return same;
}

/* npm ci into deps (from the lock file in src) unless it is done already. */
static void install_packages(const char *src, const char *deps)
{
	char from[512], to[512], marker[512];
	snprintf(marker, sizeof(marker), "%s/node_modules/msgpack-rpc-lite/package.json", deps);
	snprintf(from, sizeof(from), "%s/package-lock.json", src);
	snprintf(to, sizeof(to), "%s/package-lock.json", deps);
	if (access(marker, R_OK) == 0 && same_file(from, to))
		return;
	mkdir(deps, 0755);
	copy_file(from, to);
	snprintf(from, sizeof(from), "%s/package.json", src);
	snprintf(to, sizeof(to), "%s/package.json", deps);
	copy_file(from, to);
	const char *npm[] = { "/usr/bin/npm", "ci", "--prefix", deps, "--no-audit", "--no-fund",
		"--prefer-offline", NULL };
	cr_assert_eq(access(npm[0], X_OK), 0, "npm is not installed (tools/install-deps installs it)");
	char *out = NULL, *err = NULL;
	int status = harness_run(npm, NPM_TIMEOUT_MS, &out, &err);
	cr_assert_eq(status, 0, "npm ci failed (%d): cannot install msgpack-rpc-lite:\n%s\n%s", status, out, err);
	free(out);
	free(err);
	cr_assert_eq(access(marker, R_OK), 0, "npm ci did not install msgpack-rpc-lite");
}

Test(node, msgpack_rpc_lite_reserves_commits_races_sends_big_integers_and_gets_too_large)
{
	const char *src = getenv("JS_DIR"), *deps = getenv("JS_DEPS_DIR");
	cr_assert(src && deps, "JS_DIR and JS_DEPS_DIR must be set (meson test sets them)");
	cr_assert_eq(access("/usr/bin/node", X_OK), 0, "node is not installed (tools/install-deps installs it)");
	install_packages(src, deps);

	au_token ops;
	au_token_new(&ops, "js", "admin");
	char lines[AU_LINE_MAX + 2];
	snprintf(lines, sizeof(lines), "%s\n", ops.line);
	au_write(au_path(auth_path, sizeof(auth_path), "tokens"), lines);
	const char *args[] = { "--auth-file", auth_path, "--frame-bytes-max", "4096", NULL };
	char err[512];
	srv = harness_server_start(args, err, sizeof(err));
	cr_assert_not_null(srv, "%s", err);

	char node_path[512], script[512], port[16];
	snprintf(node_path, sizeof(node_path), "%s/node_modules", deps);
	setenv("NODE_PATH", node_path, 1);
	snprintf(script, sizeof(script), "%s/client.js", src);
	snprintf(port, sizeof(port), "%d", srv->port);
	const char *argv[] = { "/usr/bin/node", script, HARNESS_HOST, port, ops.token, NULL };
	char *out = NULL, *errs = NULL;
	int status = harness_run(argv, 60000, &out, &errs);
	cr_assert_eq(status, 0, "client.js exited %d\nstdout:\n%s\nstderr:\n%s", status, out, errs);
	cr_assert(strstr(out, "all checks passed") != NULL, "%s", out);
	free(out);
	free(errs);
	cr_assert_eq(harness_server_stop(srv), 0);
	srv = NULL;
}
