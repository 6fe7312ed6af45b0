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
 *
 * The README's "From Python" and "From Node" snippets are run here too, as
 * they stand in README.md: each fenced ```python and ```js block, against
 * a fresh allotd named by ALLOT_PORT.
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

/* The fenced blocks of text opened by "```lang", in order, into out[] (the
 * caller frees them); how many. */
static int fenced_blocks(const char *text, const char *lang, char **out, int max)
{
	char open[32];
	snprintf(open, sizeof(open), "\n```%s\n", lang);
	int n = 0;
	for (const char *p = strstr(text, open); p != NULL && n < max; p = strstr(p, open)) {
		p += strlen(open);
		const char *end = strstr(p, "\n```");
		cr_assert_not_null(end, "a ```%s block in README.md does not end", lang);
		out[n++] = strndup(p, (size_t)(end - p) + 1);
		p = end;
	}
	return n;
}

/* The text of README's "### title" section, up to the next heading (the
 * caller frees it). */
static char *readme_section(const char *readme, const char *title)
{
	char head[64];
	snprintf(head, sizeof(head), "\n### %s\n", title);
	const char *start = strstr(readme, head);
	cr_assert_not_null(start, "README.md has no '### %s' section", title);
	start += strlen(head);
	const char *end = start;
	while ((end = strstr(end, "\n#")) != NULL && !(strncmp(end, "\n## ", 4) == 0 || strncmp(end, "\n### ", 5) == 0))
		end++;
	return strndup(start, end ? (size_t)(end - start) + 1 : strlen(start));
}

/* Run one snippet with interp; it must exit 0 and print each of want. */
static void run_snippet(const char *interp, const char *code, const char *ext, const char *const *want)
{
	char path[128];
	snprintf(path, sizeof(path), "/tmp/allot-%d-snippet.%s", (int)getpid(), ext);
	au_write(path, code);
	const char *argv[] = { interp, path, NULL };
	char *out = NULL, *errs = NULL;
	int status = harness_run(argv, 60000, &out, &errs);
	unlink(path);
	cr_assert_eq(status, 0, "the README snippet exited %d:\n%s\nstdout:\n%s\nstderr:\n%s", status, code,
	    out, errs);
	for (int i = 0; want[i]; i++)
		cr_assert(strstr(out, want[i]) != NULL, "the README snippet printed no '%s':\n%s\n%s", want[i],
		    code, out);
	free(out);
	free(errs);
}

Test(node, the_readme_snippets_from_python_and_node_run_as_written)
{
	const char *src = getenv("JS_DIR"), *deps = getenv("JS_DEPS_DIR");
	cr_assert(src && deps, "JS_DIR and JS_DEPS_DIR must be set (meson test sets them)");
	install_packages(src, deps);
	char readme_path[512], node_path[512], port[16], err[512];
	snprintf(readme_path, sizeof(readme_path), "%s/../../README.md", src);
	char *readme = au_slurp(readme_path);
	char *py[4] = { 0 }, *js[4] = { 0 };
	char *from_python = readme_section(readme, "From Python"), *from_node = readme_section(readme, "From Node");
	int npy = fenced_blocks(from_python, "python", py, 4), njs = fenced_blocks(from_node, "js", js, 4);
	free(from_python);
	free(from_node);
	cr_assert_eq(npy, 2, "README.md has %d python snippets, not 2 (plain msgpack, pynvim)", npy);
	cr_assert_eq(njs, 1, "README.md has %d js snippets, not 1", njs);

	srv = harness_server_start(NULL, err, sizeof(err));
	cr_assert_not_null(srv, "%s", err);
	snprintf(port, sizeof(port), "%d", srv->port);
	setenv("ALLOT_PORT", port, 1);
	snprintf(node_path, sizeof(node_path), "%s/node_modules", deps);
	setenv("NODE_PATH", node_path, 1);
	run_snippet("/usr/bin/python3", py[0], "py", (const char *[]){ "r-", "OUT_OF_STOCK", NULL });
	run_snippet("/usr/bin/python3", py[1], "py", (const char *[]){ "'total': ", "OUT_OF_STOCK", NULL });
	run_snippet("/usr/bin/node", js[0], "js", (const char *[]){ "r-", "OUT_OF_STOCK", NULL });
	for (int i = 0; i < 4; i++) {
		free(py[i]);
		free(js[i]);
	}
	free(readme);
	cr_assert_eq(harness_server_stop(srv), 0);
	srv = NULL;
}
