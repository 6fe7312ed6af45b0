/*
 * reserve.c - reserve one unit of tee-m with liballot.
 *
 *     cc reserve.c $(pkg-config --cflags --libs allot) -o reserve
 *     ALLOT_HOST=127.0.0.1 ALLOT_PORT=7411 ./reserve
 *
 * allotd is found as the allot CLI finds it: ALLOT_HOST (a host, or a Unix
 * socket's path) and ALLOT_PORT, else 127.0.0.1:7411; ALLOT_TOKEN, when
 * set, authenticates first. Exits 0 once the hold is made, printing its
 * reservation id; 1 when allotd refused (e.g. OUT_OF_STOCK); 2 when it
 * could not be reached.
 */
#include <allot/allot.h>

#include <stdio.h>
#include <stdlib.h>

int main(void)
{
	const char *host = getenv("ALLOT_HOST");
	const char *port_s = getenv("ALLOT_PORT");
	const char *token = getenv("ALLOT_TOKEN");
	int port = port_s != NULL && port_s[0] != '\0' ? atoi(port_s) : ALLOT_DEFAULT_PORT;

	allot_ctx *c = allot_connect(host, port, 5000);
	if (c == NULL || allot_err(c) != 0) {
		fprintf(stderr, "reserve: %s\n", c != NULL ? allot_errstr(c) : "out of memory");
		allot_free(c);
		return 2;
	}
	if (token != NULL && token[0] != '\0' && allot_auth(c, token, NULL, 0) != 0) {
		fprintf(stderr, "reserve: %s\n", allot_errstr(c));
		allot_free(c);
		return 2;
	}

	allot_line line = { .sku = "tee-m", .qty = 1 };
	allot_reply *r = NULL;
	int rc = allot_reserve(c, "example-order", &line, 1, 0, &r);
	int status;
	if (rc == ALLOT_OK) {
		const char *id = allot_value_str(
		    allot_value_get(allot_reply_result(r), "reservation_id"), NULL);
		printf("held %s\n", id != NULL ? id : "?");
		status = 0;
	} else if (rc == ALLOT_E_SERVER) {
		/* allotd answered with an error: its code, e.g. OUT_OF_STOCK. */
		fprintf(stderr, "reserve: %s: %s\n", allot_reply_error_code(r),
		    allot_reply_error_message(r));
		status = 1;
	} else {
		fprintf(stderr, "reserve: %s\n", allot_errstr(c));
		status = 2;
	}
	allot_reply_free(r);
	allot_free(c);
	return status;
}
