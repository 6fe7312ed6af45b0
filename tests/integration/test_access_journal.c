/*
 * test_access_journal.c - who made each change, in the journal, against a
 * real redis-server: the token's NAME in every record a connection causes
 * (`-` without tokens), as `allot snapshot dump` shows it; and a namespace
 * of durable format 1 (the golden one, written as allot 0.1 wrote it)
 * recovered, marked this build's format (2 or later), continued with who,
 * and recovered again.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access_util.h"
#include "durable.h"
#include "mp.h"
#include "redis_harness.h"

static redis_server *rs;
static harness_server *srv;
static char auth_path[128];

static void teardown(void)
{
	allotd_kill(srv);
	srv = NULL;
	redis_server_destroy(rs);
	rs = NULL;
	if (auth_path[0])
		unlink(auth_path);
}

TestSuite(access_journal, .fini = teardown, .timeout = 120);

static void start_redis(void)
{
	char err[512];
	rs = redis_server_start(err, sizeof(err));
	cr_assert_not_null(rs, "cannot start redis-server: %s", err);
}

static void start_allotd(const char *ns, const char *const *args)
{
	char err[512];
	srv = allotd_start_durable(rs, ns, args, err, sizeof(err));
	cr_assert_not_null(srv, "cannot start allotd: %s", err);
}

static void stop_allotd(void)
{
	int status = harness_server_stop(srv);
	srv = NULL;
	cr_assert_eq(status, 0, "allotd exited %d", status);
}

/* The journal records `allot snapshot dump` prints for ns, as JSON (an
 * array of the records' objects, the caller's to free). */
static json_t *dumped_records(const char *ns)
{
	const char *argv[] = { getenv("ALLOT_CLI"), "snapshot", "dump", "--redis", rs->url, "--namespace",
		ns, NULL };
	char *out = NULL, *err = NULL;
	int status = harness_run(argv, 30000, &out, &err);
	cr_assert_eq(status, 0, "allot snapshot dump exited %d: %s", status, err);
	json_t *records = json_array();
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		json_error_t jerr;
		json_t *o = json_loads(line, 0, &jerr);
		cr_assert_not_null(o, "not JSON: %s", line);
		if (json_object_get(o, "lsn"))
			json_array_append(records, o);
		json_decref(o);
	}
	free(out);
	free(err);
	return records;
}

/* The who of the last record of type, or NULL when it has none. */
static const char *who_of_last(json_t *records, const char *type)
{
	const char *who = NULL;
	bool found = false;
	size_t i;
	json_t *o;
	json_array_foreach(records, i, o) {
		if (strcmp(json_string_value(json_object_get(o, "type")), type) == 0) {
			found = true;
			who = json_string_value(json_object_get(o, "who"));
		}
	}
	cr_assert(found, "no %s record in the dump", type);
	return who;
}

Test(access_journal, every_record_names_the_token_that_made_it)
{
	start_redis();
	au_token ops, web;
	au_token_new(&ops, "ops", "admin");
	au_token_new(&web, "web-shop", "checkout");
	char lines[600];
	snprintf(lines, sizeof(lines), "%s\n%s\n", ops.line, web.line);
	au_write(au_path(auth_path, sizeof(auth_path), "tokens"), lines);
	const char *args[] = { "--auth-file", auth_path, NULL };
	start_allotd("audit", args);
	allot_client *admin = au_client(srv, ops.token), *shop = au_client(srv, web.token);
	cr_assert_str_empty(au_call(admin, "stock.set", "{\"sku\": \"A\", \"location\": \"W\", \"on_hand\": 5}", NULL));
	cr_assert_str_empty(au_call(shop, "reserve", "{\"order_id\": \"o-1\", \"lines\": [{\"sku\": \"A\", \"qty\": 2}]}", NULL));
	cr_assert_str_empty(au_call(admin, "location.put", "{\"location\": \"W\", \"priority\": 2}", NULL));
	allot_client_destroy(admin);
	allot_client_destroy(shop);
	stop_allotd();

	json_t *records = dumped_records("audit");
	cr_assert_str_eq(who_of_last(records, "stock.set"), "ops");
	cr_assert_str_eq(who_of_last(records, "reserve"), "web-shop");
	cr_assert_str_eq(who_of_last(records, "location.put"), "ops");
	/* No token anywhere in what Redis holds. */
	char *text = json_dumps(records, JSON_COMPACT);
	cr_assert(strstr(text, ops.token) == NULL && strstr(text, web.token) == NULL);
	free(text);
	json_decref(records);

	/* Without an auth file, the same namespace goes on, made by "-". */
	start_allotd("audit", NULL);
	allot_client *anyone = au_client(srv, NULL);
	cr_assert_str_empty(au_call(anyone, "stock.adjust", "{\"sku\": \"A\", \"location\": \"W\", \"delta\": 1}", NULL));
	allot_client_destroy(anyone);
	stop_allotd();
	records = dumped_records("audit");
	cr_assert_str_eq(who_of_last(records, "stock.adjust"), "-");
	cr_assert_str_eq(who_of_last(records, "reserve"), "web-shop");
	json_decref(records);
}

/* ---- a format-1 namespace -------------------------------------------------------- */

static uint8_t *read_whole(const char *name, size_t *len)
{
	const char *dir = getenv("GOLDEN_DIR");
	cr_assert(dir && dir[0], "GOLDEN_DIR is not set");
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	char *text = au_slurp(path);
	FILE *f = fopen(path, "rb");
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	fclose(f);
	return (uint8_t *)text;
}

static void redis_do(const char *const *words)
{
	char err[512];
	redisReply *r = redis_server_command(rs, err, sizeof(err), words);
	cr_assert_not_null(r, "%s", err);
	cr_assert_neq(r->type, REDIS_REPLY_ERROR, "%s: %s", words[0], r->str);
	freeReplyObject(r);
}

/* One command with binary arguments. */
static void redis_bin(int argc, const char **argv, const size_t *lens)
{
	char err[512];
	redisContext *c = redis_server_connect(rs, 5000, err, sizeof(err));
	cr_assert_not_null(c, "%s", err);
	redisReply *r = redisCommandArgv(c, argc, argv, lens);
	cr_assert(r && r->type != REDIS_REPLY_ERROR, "%s failed", argv[0]);
	freeReplyObject(r);
	redisFree(c);
}

/* tests/golden/ (format 1) into namespace golden, as allot 0.1 left it. */
static void load_golden_v1(void)
{
	size_t len;
	char *meta = (char *)read_whole("meta.txt", &len);
	for (char *line = strtok(meta, "\n"); line; line = strtok(NULL, "\n")) {
		char *sp = strchr(line, ' ');
		cr_assert_not_null(sp);
		*sp = '\0';
		const char *words[] = { "HSET", "allot:{golden}:meta", line, sp + 1, NULL };
		redis_do(words);
	}
	free(meta);
	uint8_t *snap = read_whole("snapshot.msgpack", &len);
	mp_cursor c;
	mp_cursor_init(&c, snap, len);
	uint32_t n;
	cr_assert(mp_read_array(&c, &n));
	char key[128] = "allot:{golden}:snap:22-3500";
	for (uint32_t i = 0; i < n; i++) {
		const char *chunk;
		uint32_t clen;
		cr_assert(mp_read_str(&c, &chunk, &clen));
		const char *argv[] = { "RPUSH", key, chunk };
		size_t lens[] = { 5, strlen(key), clen };
		redis_bin(3, argv, lens);
	}
	free(snap);
	uint8_t *journal = read_whole("journal.msgpack", &len);
	mp_cursor_init(&c, journal, len);
	cr_assert(mp_read_array(&c, &n));
	for (uint32_t i = 0; i < n; i++) {
		uint32_t two, idlen, blen;
		const char *id, *batch;
		cr_assert(mp_read_array(&c, &two) && mp_read_str(&c, &id, &idlen) && mp_read_str(&c, &batch, &blen));
		const char *argv[] = { "XADD", "allot:{golden}:journal", id, "b", batch };
		size_t lens[] = { 4, strlen(argv[1]), idlen, 1, blen };
		redis_bin(5, argv, lens);
	}
	free(journal);
}

static char *meta_format(void)
{
	char err[512];
	const char *words[] = { "HGET", "allot:{golden}:meta", "format", NULL };
	redisReply *r = redis_server_command(rs, err, sizeof(err), words);
	cr_assert(r && r->type == REDIS_REPLY_STRING, "%s", err);
	char *v = strdup(r->str);
	freeReplyObject(r);
	return v;
}

Test(access_journal, a_format_1_namespace_is_recovered_and_goes_on_in_format_2)
{
	start_redis();
	load_golden_v1();
	char *format = meta_format();
	cr_assert_str_eq(format, "1");
	free(format);
	start_allotd("golden", NULL);
	format = meta_format();
	char current[16];
	snprintf(current, sizeof(current), "%d", DURABLE_FORMAT);
	cr_assert_str_eq(format, current, "the namespace is marked this build's format before anything is appended");
	free(format);
	allot_client *c = au_client(srv, NULL);
	json_t *recs = NULL;
	cr_assert_str_empty(au_call(c, "stock.get", "{\"sku\": \"cap\", \"location\": \"paris\"}", &recs));
	cr_assert_eq(json_integer_value(json_object_get(json_array_get(recs, 0), "on_hand")), 4,
	    "the golden history's last state");
	json_decref(recs);
	cr_assert_str_empty(au_call(c, "stock.set", "{\"sku\": \"cap\", \"location\": \"paris\", \"on_hand\": 9}", NULL));
	allot_client_destroy(c);
	stop_allotd();

	/* Recovered again from the snapshot of format 1 and a journal of
	 * both formats. */
	start_allotd("golden", NULL);
	c = au_client(srv, NULL);
	cr_assert_str_empty(au_call(c, "stock.get", "{\"sku\": \"cap\", \"location\": \"paris\"}", &recs));
	cr_assert_eq(json_integer_value(json_object_get(json_array_get(recs, 0), "on_hand")), 9);
	json_decref(recs);
	allot_client_destroy(c);
	stop_allotd();
	json_t *records = dumped_records("golden");
	size_t i;
	json_t *o;
	size_t without = 0, with = 0;
	json_array_foreach(records, i, o) {
		if (json_object_get(o, "who"))
			with++;
		else if (strcmp(json_string_value(json_object_get(o, "type")), "sweep") != 0)
			without++;
	}
	cr_assert_gt(without, 0, "the format-1 records name nobody");
	cr_assert_eq(with, 1, "the one record made since names who");
	cr_assert_str_eq(who_of_last(records, "stock.set"), "-");
	json_decref(records);
}
