/*
 * watch.c - allot watch [TOPIC...] [--sku SKU...]
 *
 * Subscribes to TOPICs (every topic when none is named), for the given
 * skus only when --sku is given, and prints each event as one line of
 * compact JSON, {"topic": ..., "seq": ..., "at": ..., ...}, flushed as it
 * comes, until SIGINT or SIGTERM (exit 0) or until the server closes the
 * connection (exit 2).
 */
#include "watch.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_json.h"

/* How often a quiet connection looks at the stop flag. */
#define WATCH_POLL_MS 200
/* --sku flags at most: allotd's own limit per subscription is lower or
 * equal by default (avail's skus per call). */
#define WATCH_SKUS_MAX 1000

static volatile sig_atomic_t watch_stop;

static void on_stop(int sig)
{
	(void)sig;
	watch_stop = 1;
}

static void watch_usage(FILE *out)
{
	fprintf(out,
	    "usage: allot [--host H] [--port P] [--token T] watch [TOPIC...] [--sku SKU...]\n"
	    "\n"
	    "Print allotd's events as they happen, one JSON object a line, until\n"
	    "interrupted. TOPICs: stock, low_stock, out_of_stock, back_in_stock,\n"
	    "reservation (default: all). --sku (repeatable) keeps only events of\n"
	    "those skus.\n");
}

/* {topics: [...], skus?: [...]} from the words after "watch"; NULL after
 * printing why. */
static json_t *watch_params(int argc, char **argv, int *help)
{
	json_t *topics = json_array(), *skus = json_array();
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			*help = 1;
		} else if (strcmp(argv[i], "--sku") == 0 && i + 1 < argc &&
		    json_array_size(skus) < WATCH_SKUS_MAX) {
			json_array_append_new(skus, json_string(argv[++i]));
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "allot: watch: unknown or incomplete option '%s'\n", argv[i]);
			json_decref(topics);
			json_decref(skus);
			return NULL;
		} else {
			json_array_append_new(topics, json_string(argv[i]));
		}
	}
	if (json_array_size(topics) == 0) {
		static const char *const all[] = { "stock", "low_stock", "out_of_stock",
			"back_in_stock", "reservation" };
		for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
			json_array_append_new(topics, json_string(all[i]));
	}
	json_t *p = json_pack("{s:o}", "topics", topics);
	if (json_array_size(skus) > 0)
		json_object_set_new(p, "skus", skus);
	else
		json_decref(skus);
	return p;
}

/* Print the events of one notification; -1 when stdout fails. */
static int print_events(const allot_reply *m)
{
	const char *name = allot_reply_method(m);
	const allot_value *params = allot_reply_params(m);
	if (name == NULL || strcmp(name, "event") != 0 || allot_value_type(params) != ALLOT_T_ARRAY)
		return 0;
	for (size_t i = 0; i < allot_value_len(params); i++) {
		json_t *e = cli_json_from_value(allot_value_at(params, i));
		int rc = e ? json_dumpf(e, stdout, JSON_COMPACT | JSON_REAL_PRECISION(15)) : -1;
		json_decref(e);
		if (rc != 0 || fputc('\n', stdout) == EOF)
			return -1;
	}
	return fflush(stdout) == 0 ? 0 : -1;
}

/* Read and print until stopped; the exit status. */
static int watch_loop(allot_ctx *c)
{
	allot_set_timeout(c, WATCH_POLL_MS);
	int status = 2;
	while (!watch_stop) {
		allot_reply *m = NULL;
		int rc = allot_get_message(c, &m);
		if (rc == ALLOT_E_TIMEOUT)
			continue;
		if (rc < 0) {
			/* A signal may cut a wait short: that is a stop, not a failure. */
			if (!watch_stop)
				fprintf(stderr, "allot: watch: %s\n", allot_errstr(c));
			break;
		}
		rc = allot_reply_kind(m) == ALLOT_REPLY_NOTIFICATION ? print_events(m) : 0;
		allot_reply_free(m);
		if (rc != 0) {
			fprintf(stderr, "allot: watch: cannot write: %s\n", strerror(errno));
			break;
		}
	}
	return watch_stop ? 0 : status;
}

int watch_main(const watch_target *t, int argc, char **argv)
{
	int help = 0;
	json_t *params = watch_params(argc, argv, &help);
	if (params == NULL || help) {
		watch_usage(help ? stdout : stderr);
		json_decref(params);
		return help ? 0 : 2;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	int status = 2;
	json_t *error = NULL, *result = NULL;
	allot_ctx *c = allot_connect(t->host, t->port, t->timeout_ms);
	if (c == NULL || allot_err(c) < 0) {
		fprintf(stderr, "allot: %s\n", c != NULL ? allot_errstr(c) : "out of memory");
		goto done;
	}
	if (t->token && allot_auth(c, t->token, NULL, 0) < 0) {
		fprintf(stderr, "allot: auth: %s\n", allot_errstr(c));
		goto done;
	}
	if (cli_json_call(c, "subscribe", params, &error, &result) < 0) {
		fprintf(stderr, "allot: subscribe: %s\n", allot_errstr(c));
		goto done;
	}
	if (error != NULL) {
		char *text = json_dumps(error, JSON_COMPACT);
		fprintf(stderr, "allot: subscribe: %s\n", text ? text : "refused");
		free(text);
		status = 1;
		goto done;
	}
	status = watch_loop(c);
done:
	json_decref(error);
	json_decref(result);
	json_decref(params);
	allot_free(c);
	return status;
}
