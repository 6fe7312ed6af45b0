/*
 * cli_json.h - JSON <-> liballot values, for the allot CLI (and the tests
 * that speak JSON to allotd). jansson stays here, out of liballot's public
 * header.
 *
 * JSON to MessagePack (an allot_builder): objects become maps with str keys,
 * arrays arrays, strings str, integers the smallest int/uint form, reals
 * float64, true and false bool, null nil. Nesting deeper than
 * CLI_JSON_DEPTH_MAX is refused.
 *
 * A reply's values to JSON:
 *   - nil, bool, arrays, maps and int map as expected; a uint above
 *     INT64_MAX (which jansson cannot hold) becomes a JSON real;
 *   - floats become reals, except NaN and infinities, which JSON cannot
 *     express: they become null;
 *   - str and bin both become strings; bytes that are not valid UTF-8 are
 *     replaced by U+FFFD, so binary data is not preserved;
 *   - ext becomes the tagged object {"$ext": {"type": N, "hex": "0a1b"}};
 *   - map keys that are not str: bin as its text, integers and floats in
 *     decimal, true/false/null as those words, and arrays, maps and ext as
 *     their compact JSON text, cut to 256 bytes ending "..."; when two keys
 *     render the same, the later value wins.
 */
#ifndef ALLOT_TOOLS_CLI_JSON_H
#define ALLOT_TOOLS_CLI_JSON_H

#include <stddef.h>

#include <jansson.h>

#include "allot/allot.h"

#define CLI_JSON_DEPTH_MAX 512

/* Append value to b. Returns 0, or ALLOT_E_ARG / ALLOT_E_NOMEM with a
 * message in err (may be NULL). */
int cli_json_build(allot_builder *b, json_t *value, char *err, size_t err_len);

/* A new JSON value for v (the caller owns it; NULL v gives JSON null), or
 * NULL when out of memory. */
json_t *cli_json_from_value(const allot_value *v);

/*
 * Parse the JSON text of a method's named arguments. NULL or blank text
 * gives *args_out = NULL (no arguments); otherwise the text must be a JSON
 * object, without duplicate keys, and *args_out is a new reference. On
 * invalid JSON the message gives the line and column. Returns 0 or
 * ALLOT_E_ARG.
 */
int cli_json_parse_args(const char *text, json_t **args_out, char *err,
    size_t err_len);

/*
 * Call method with args (a JSON object, or NULL for none) and convert the
 * response. Returns 0 when a response arrived, with *error_out NULL when
 * its error was nil and a new reference to the error map otherwise, and
 * *result_out a new reference to the result (JSON null when nil); either
 * out pointer may be NULL. Otherwise a negative status as allot_call()
 * returns, allot_errstr(c) saying why.
 */
int cli_json_call(allot_ctx *c, const char *method, json_t *args,
    json_t **error_out, json_t **result_out);

/* cli_json_call() with args as JSON text; a parse failure is ALLOT_E_ARG
 * with the message in err (may be NULL). */
int cli_json_call_text(allot_ctx *c, const char *method, const char *args_json,
    json_t **error_out, json_t **result_out, char *err, size_t err_len);

#endif
