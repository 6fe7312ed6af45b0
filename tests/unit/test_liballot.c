/*
 * test_liballot.c - liballot's values, replies and builder, without a
 * server: messages built with the library's own builder (and a few bytes by
 * hand) are read back with allot_reply_parse() and the accessors.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "allot/allot.h"

/* A reply parsed from b's bytes, which must be accepted. */
static allot_reply *parse_built(const allot_builder *b)
{
	size_t len = 0;
	const void *data = allot_builder_data(b, &len);
	allot_reply *r = NULL;
	cr_assert_eq(allot_reply_parse(data, len, &r), ALLOT_OK);
	cr_assert_not_null(r);
	return r;
}

/* [1, msgid, error, result] with result from put_result (error nil). */
static allot_builder *response_with(uint32_t msgid)
{
	allot_builder *b = allot_builder_create();
	cr_assert_not_null(b);
	allot_put_array(b, 4);
	allot_put_uint(b, 1);
	allot_put_uint(b, msgid);
	allot_put_nil(b);
	return b;
}

Test(liballot, a_response_reads_back_as_a_tree_of_typed_values)
{
	allot_builder *b = response_with(7);
	allot_put_map(b, 9);
	allot_put_str(b, "neg");   allot_put_int(b, -5);
	allot_put_str(b, "pos");   allot_put_int(b, 42);
	allot_put_str(b, "big");   allot_put_uint(b, UINT64_MAX);
	allot_put_str(b, "f");     allot_put_float(b, 2.5);
	allot_put_str(b, "yes");   allot_put_bool(b, true);
	allot_put_str(b, "nul");   allot_put_strn(b, "a\0b", 3);
	allot_put_str(b, "blob");  allot_put_bin(b, "\x01\x02", 2);
	allot_put_str(b, "list");  allot_put_array(b, 2); allot_put_str(b, "x"); allot_put_nil(b);
	allot_put_str(b, "empty"); allot_put_map(b, 0);
	cr_assert_eq(allot_builder_status(b), ALLOT_OK);
	allot_reply *r = parse_built(b);

	cr_assert_eq(allot_reply_kind(r), ALLOT_REPLY_RESPONSE);
	cr_assert_eq(allot_reply_msgid(r), 7);
	cr_assert_eq(allot_value_type(allot_reply_error(r)), ALLOT_T_NIL);
	cr_assert_null(allot_reply_error_code(r));
	const allot_value *res = allot_reply_result(r);
	cr_assert_eq(allot_value_type(res), ALLOT_T_MAP);
	cr_assert_eq(allot_value_len(res), 9);

	int64_t i = 0;
	uint64_t u = 0;
	double f = 0;
	bool yes = false;
	cr_assert_eq(allot_value_type(allot_value_get(res, "neg")), ALLOT_T_INT);
	cr_assert_eq(allot_value_int(allot_value_get(res, "neg"), &i), ALLOT_OK);
	cr_assert_eq(i, -5);
	cr_assert_eq(allot_value_uint(allot_value_get(res, "neg"), &u), ALLOT_E_TYPE);
	cr_assert_eq(allot_value_type(allot_value_get(res, "pos")), ALLOT_T_UINT);
	cr_assert_eq(allot_value_uint(allot_value_get(res, "pos"), &u), ALLOT_OK);
	cr_assert_eq(u, 42);
	/* An integer above INT64_MAX is a uint, not an int. */
	cr_assert_eq(allot_value_int(allot_value_get(res, "big"), &i), ALLOT_E_TYPE);
	cr_assert_eq(i, -5, "a refused read leaves *out alone");
	cr_assert_eq(allot_value_uint(allot_value_get(res, "big"), &u), ALLOT_OK);
	cr_assert_eq(u, UINT64_MAX);
	cr_assert_eq(allot_value_float(allot_value_get(res, "f"), &f), ALLOT_OK);
	cr_assert_float_eq(f, 2.5, 1e-12);
	cr_assert_eq(allot_value_float(allot_value_get(res, "pos"), &f), ALLOT_OK, "any integer reads as a float");
	cr_assert_float_eq(f, 42.0, 1e-12);
	cr_assert_eq(allot_value_bool(allot_value_get(res, "yes"), &yes), ALLOT_OK);
	cr_assert(yes);

	size_t len = 0;
	const char *s = allot_value_str(allot_value_get(res, "nul"), &len);
	cr_assert_eq(len, 3);
	cr_assert_eq(memcmp(s, "a\0b", 4), 0, "bytes kept, NUL-terminated");
	const allot_value *blob = allot_value_get(res, "blob");
	cr_assert_eq(allot_value_type(blob), ALLOT_T_BIN);
	cr_assert_eq(memcmp(allot_value_str(blob, &len), "\x01\x02", 2), 0);
	cr_assert_eq(len, 2);

	const allot_value *list = allot_value_get(res, "list");
	cr_assert_eq(allot_value_len(list), 2);
	cr_assert_str_eq(allot_value_str(allot_value_at(list, 0), NULL), "x");
	cr_assert_eq(allot_value_type(allot_value_at(list, 1)), ALLOT_T_NIL);
	cr_assert_null(allot_value_at(list, 2));
	cr_assert_eq(allot_value_type(allot_value_get(res, "empty")), ALLOT_T_MAP);
	cr_assert_eq(allot_value_len(allot_value_get(res, "empty")), 0);

	/* Pairs in the order received. */
	cr_assert_str_eq(allot_value_str(allot_value_key_at(res, 0), NULL), "neg");
	cr_assert_str_eq(allot_value_str(allot_value_key_at(res, 8), NULL), "empty");
	cr_assert_null(allot_value_key_at(res, 9));
	cr_assert_null(allot_value_val_at(list, 0), "an array has no pairs");

	allot_reply_free(r);
	allot_builder_destroy(b);
}

Test(liballot, accessors_take_null_and_the_wrong_type_without_harm)
{
	int64_t i = 9;
	cr_assert_eq(allot_value_type(NULL), ALLOT_T_NONE);
	cr_assert_null(allot_value_get(NULL, "x"));
	cr_assert_null(allot_value_get(allot_value_get(NULL, "a"), "b"));
	cr_assert_null(allot_value_str(NULL, NULL));
	cr_assert_eq(allot_value_len(NULL), 0);
	cr_assert_eq(allot_value_int(NULL, &i), ALLOT_E_TYPE);
	cr_assert_eq(i, 9);
	cr_assert_null(allot_reply_error_code(NULL));
	cr_assert_str_eq(allot_type_name(ALLOT_T_MAP), "map");
	cr_assert_str_eq(allot_type_name(ALLOT_T_NONE), "none");
	allot_reply_free(NULL);
	allot_builder_destroy(NULL);
	allot_free(NULL);

	allot_builder *b = response_with(1);
	allot_put_str(b, "pong");
	allot_reply *r = parse_built(b);
	const allot_value *res = allot_reply_result(r);
	cr_assert_str_eq(allot_value_str(res, NULL), "pong");
	cr_assert_null(allot_value_get(res, "x"), "a str is not a map");
	cr_assert_null(allot_value_at(res, 0), "a str is not an array");
	cr_assert_eq(allot_value_int(res, &i), ALLOT_E_TYPE);
	allot_reply_free(r);
	allot_builder_destroy(b);
}

Test(liballot, an_error_reply_gives_its_code_message_and_data)
{
	allot_builder *b = allot_builder_create();
	allot_put_array(b, 4);
	allot_put_uint(b, 1);
	allot_put_uint(b, 3);
	allot_put_map(b, 3);
	allot_put_str(b, "code");    allot_put_str(b, ALLOT_ERR_OUT_OF_STOCK);
	allot_put_str(b, "message"); allot_put_str(b, "not enough tee-m");
	allot_put_str(b, "lines");   allot_put_array(b, 1);
	allot_put_map(b, 1); allot_put_str(b, "available"); allot_put_int(b, 2);
	allot_put_nil(b);
	allot_reply *r = parse_built(b);
	cr_assert_str_eq(allot_reply_error_code(r), "OUT_OF_STOCK");
	cr_assert_str_eq(allot_reply_error_message(r), "not enough tee-m");
	int64_t avail = 0;
	const allot_value *line = allot_value_at(allot_value_get(allot_reply_error(r), "lines"), 0);
	cr_assert_eq(allot_value_int(allot_value_get(line, "available"), &avail), ALLOT_OK);
	cr_assert_eq(avail, 2);
	cr_assert_eq(allot_value_type(allot_reply_result(r)), ALLOT_T_NIL);
	allot_reply_free(r);
	allot_builder_destroy(b);
}

Test(liballot, a_notification_gives_its_method_and_params)
{
	allot_builder *b = allot_builder_create();
	allot_put_array(b, 3);
	allot_put_uint(b, 2);
	allot_put_str(b, "event");
	allot_put_array(b, 1);
	allot_put_map(b, 1); allot_put_str(b, "topic"); allot_put_str(b, "stock");
	allot_reply *r = parse_built(b);
	cr_assert_eq(allot_reply_kind(r), ALLOT_REPLY_NOTIFICATION);
	cr_assert_str_eq(allot_reply_method(r), "event");
	cr_assert_str_eq(allot_value_str(allot_value_get(allot_value_at(allot_reply_params(r), 0),
	    "topic"), NULL), "stock");
	size_t raw_len = 0, built_len = 0;
	const void *raw = allot_reply_raw(r, &raw_len);
	const void *built = allot_builder_data(b, &built_len);
	cr_assert_eq(raw_len, built_len);
	cr_assert_eq(memcmp(raw, built, raw_len), 0, "the raw bytes are the message's");
	allot_reply_free(r);
	allot_builder_destroy(b);
}

Test(liballot, ext_values_keep_their_type_and_bytes)
{
	/* [1, 1, nil, fixext2 type 5 "hi"], and ext8 type -1 of 3 bytes. */
	const uint8_t fixext[] = { 0x94, 0x01, 0x01, 0xc0, 0xd5, 0x05, 'h', 'i' };
	const uint8_t ext8[] = { 0x94, 0x01, 0x01, 0xc0, 0xc7, 0x03, 0xff, 'a', 'b', 'c' };
	allot_reply *r = NULL;
	size_t len = 0;
	cr_assert_eq(allot_reply_parse(fixext, sizeof(fixext), &r), ALLOT_OK);
	cr_assert_eq(allot_value_type(allot_reply_result(r)), ALLOT_T_EXT);
	cr_assert_eq(allot_value_ext_type(allot_reply_result(r)), 5);
	cr_assert_str_eq(allot_value_str(allot_reply_result(r), &len), "hi");
	allot_reply_free(r);
	cr_assert_eq(allot_reply_parse(ext8, sizeof(ext8), &r), ALLOT_OK);
	cr_assert_eq(allot_value_ext_type(allot_reply_result(r)), -1);
	cr_assert_str_eq(allot_value_str(allot_reply_result(r), &len), "abc");
	cr_assert_eq(len, 3);
	allot_reply_free(r);
}

Test(liballot, bytes_that_are_not_one_rpc_message_are_refused)
{
	static const struct {
		const char *why;
		uint8_t bytes[8];
		size_t len;
	} cases[] = {
		{ "a request, not a response", { 0x94, 0x00, 0x01, 0xa1, 'x', 0x90 }, 6 },
		{ "a response of three elements", { 0x93, 0x01, 0x01, 0xc0 }, 4 },
		{ "a msgid that is not a uint32", { 0x94, 0x01, 0xff, 0xc0, 0xc0 }, 5 },
		{ "not an array", { 0xa2, 'h', 'i' }, 3 },
		{ "truncated", { 0x94, 0x01, 0x01, 0xc0 }, 4 },
		{ "two values", { 0x94, 0x01, 0x01, 0xc0, 0xc0, 0xc0 }, 6 },
		{ "the 0xc1 byte", { 0xc1 }, 1 },
		{ "empty", { 0 }, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		allot_reply *r = (allot_reply *)1;
		cr_assert_eq(allot_reply_parse(cases[i].bytes, cases[i].len, &r), ALLOT_E_PROTOCOL,
		    "%s", cases[i].why);
		cr_assert_null(r, "%s: no reply is handed out", cases[i].why);
	}
}

Test(liballot, bin_headers_take_the_smallest_size)
{
	static char big[70000];
	size_t sizes[] = { 0, 255, 256, 65535, 65536, sizeof(big) };
	size_t headers[] = { 2, 2, 3, 3, 5, 5 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		allot_builder *b = response_with(1);
		size_t before = 0, after = 0;
		allot_builder_data(b, &before);
		allot_put_bin(b, big, sizes[i]);
		allot_builder_data(b, &after);
		cr_assert_eq(after - before, headers[i] + sizes[i], "bin of %zu bytes", sizes[i]);
		allot_reply *r = parse_built(b);
		size_t len = 1;
		cr_assert_not_null(allot_value_str(allot_reply_result(r), &len));
		cr_assert_eq(len, sizes[i]);
		allot_reply_free(r);
		allot_builder_destroy(b);
	}
}

Test(liballot, the_builder_resets_and_reuses_its_memory)
{
	allot_builder *b = allot_builder_create();
	allot_put_map(b, 1);
	allot_put_str(b, "k");
	allot_put_str(b, "v");
	size_t len = 0;
	allot_builder_data(b, &len);
	cr_assert_eq(len, 5);
	allot_builder_reset(b);
	allot_builder_data(b, &len);
	cr_assert_eq(len, 0);
	allot_put_raw(b, "\xc0", 1);
	const uint8_t *p = allot_builder_data(b, &len);
	cr_assert_eq(len, 1);
	cr_assert_eq(p[0], 0xc0);
	cr_assert_eq(allot_builder_status(b), ALLOT_OK);
	allot_builder_destroy(b);
}

Test(liballot, statuses_have_words_and_the_version_is_the_headers)
{
	char want[32];
	snprintf(want, sizeof(want), "%d.%d.%d", ALLOT_LIB_VERSION_MAJOR, ALLOT_LIB_VERSION_MINOR,
	    ALLOT_LIB_VERSION_PATCH);
	cr_assert_str_eq(allot_version(), want);
	for (int s = ALLOT_E_TYPE; s <= ALLOT_OK; s++)
		cr_assert_str_neq(allot_strerror(s), "unknown status", "status %d", s);
	cr_assert_str_eq(allot_strerror(-1000), "unknown status");
}
