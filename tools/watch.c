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

#include "allot/client.h"

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
static int print_events(const allot_message *m)
{
	const msgpack_object *method = &m->method;
	const char *name = method->type == MSGPACK_OBJECT_STR ? method->via.str.ptr
	    : method->type == MSGPACK_OBJECT_BIN ? method->via.bin.ptr : NULL;
	uint32_t len = method->type == MSGPACK_OBJECT_STR ? method->via.str.size
	    : method->type == MSGPACK_OBJECT_BIN ? method->via.bin.size : 0;
	if (name == NULL || len != 5 || memcmp(name, "event", 5) != 0 ||
	    m->params.type != MSGPACK_OBJECT_ARRAY)
		return 0;
	for (uint32_t i = 0; i < m->params.via.array.size; i++) {
		json_t *e = allot_json_from_msgpack(&m->params.via.array.ptr[i]);
		int rc = e ? json_dumpf(e, stdout, JSON_COMPACT | JSON_REAL_PRECISION(15)) : -1;
		json_decref(e);
		if (rc != 0 || fputc('\n', stdout) == EOF)
			return -1;
	}
	return fflush(stdout) == 0 ? 0 : -1;
}

/* Read and print until stopped; the exit status. */
static int watch_loop(allot_client *c)
{
	allot_message m;
	char err[512];
	allot_message_init(&m);
	allot_client_set_timeout(c, WATCH_POLL_MS);
	int status = 2;
	while (!watch_stop) {
		int rc = allot_client_recv(c, &m, err, sizeof(err));
		if (rc == ALLOT_CLIENT_ERR_TIMEOUT)
			continue;
		if (rc < 0) {
			/* A signal may cut a wait short: that is a stop, not a failure. */
			if (!watch_stop)
				fprintf(stderr, "allot: watch: %s\n", err);
			break;
		}
		if (m.type == ALLOT_MSG_NOTIFICATION && print_events(&m) != 0) {
			fprintf(stderr, "allot: watch: cannot write: %s\n", strerror(errno));
			break;
		}
	}
	allot_message_clear(&m);
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
	char err[512];
	int status = 2;
	json_t *error = NULL, *result = NULL;
	allot_client *c = allot_client_connect(t->host, t->port, t->timeout_ms, err, sizeof(err));
	if (c == NULL) {
		fprintf(stderr, "allot: %s\n", err);
		goto done;
	}
	if (t->token && allot_client_auth(c, t->token, NULL, 0, err, sizeof(err)) < 0) {
		fprintf(stderr, "allot: auth: %s\n", err);
		goto done;
	}
	if (allot_client_call_params(c, "subscribe", params, &error, &result, err, sizeof(err)) < 0) {
		fprintf(stderr, "allot: subscribe: %s\n", err);
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
	allot_client_destroy(c);
	return status;
}
