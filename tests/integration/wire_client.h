/*
 * wire_client.h - the integration tests' raw MessagePack-RPC connection to
 * allotd, for tests that pipeline requests from many threads and check
 * every reply byte for byte (test_crash.c, test_race.c).
 *
 * It is built on the project's own MessagePack code (proto/mp.h): requests
 * are written with mp_write_* into the connection's mp_buf, replies are
 * framed with the scanner (in one place, wire_next()) and read in place
 * with an mp_cursor; nothing is decoded into a tree.
 *
 * Nothing here asserts, so worker threads may use it (Criterion's
 * assertions belong to the test's own thread): a function that fails
 * returns a negative status and keeps the first problem in c->error.
 * Every wait is bounded by a deadline on harness_now_ms()'s clock.
 */
#ifndef ALLOT_TESTS_WIRE_CLIENT_H
#define ALLOT_TESTS_WIRE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mp.h"

/* The largest reply a connection takes, and how much it reads at once. */
#define WIRE_FRAME_MAX ((size_t)16 << 20)
#define WIRE_READ_CHUNK ((size_t)64 << 10)

/* The statuses of wire_next() and wire_reply_next(). */
enum wire_status {
	WIRE_OK = 1,          /* a message arrived */
	WIRE_TIMEOUT = 0,     /* the deadline passed first */
	WIRE_CLOSED = -1,     /* the connection closed or failed */
	WIRE_BAD = -2,        /* bytes that are not a (well-formed) reply */
};

typedef struct wire_conn {
	int fd;
	mp_buf out;          /* requests written, not sent yet */
	uint8_t *in;         /* bytes received: [in_off, in_len) not read yet */
	size_t in_len, in_cap, in_off;
	size_t msg_len;      /* the message last returned, at in_off */
	mp_reader reader;    /* its place in the reply still arriving */
	char error[512];     /* the first problem, "" while there is none */
} wire_conn;

/*
 * Connect to allotd on 127.0.0.1:port. Returns 0, or -1 with c->error set
 * (c is then safe to close).
 */
int wire_open(wire_conn *c, int port, int timeout_ms);
/* Close the socket and free the buffers; c may be closed twice. */
void wire_close(wire_conn *c);

/* Record a problem in c->error unless one is recorded already. */
void wire_fail(wire_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Start a request [0, msgid, method, [params]] in c->out: the caller then
 * writes the one params value (mp_write_map() and its pairs).
 */
void wire_request(wire_conn *c, uint32_t msgid, const char *method);

/*
 * Send everything in c->out before the deadline and empty it. Returns 0,
 * or -1 (c->error set) when the connection failed or the deadline passed.
 */
int wire_flush(wire_conn *c, int64_t deadline);

/*
 * The next whole message, in msg (pointing into c's buffer until the next
 * call). Returns WIRE_OK, WIRE_TIMEOUT, WIRE_CLOSED or WIRE_BAD (the last
 * two with c->error set).
 */
int wire_next(wire_conn *c, int64_t deadline, mp_cursor *msg);

/* A response, [1, msgid, error, result]: cursors at error and result. */
typedef struct wire_reply {
	uint32_t msgid;
	bool failed;         /* error is not nil */
	mp_cursor error;
	mp_cursor result;
} wire_reply;

/*
 * The next message, which must be a response; as wire_next() (a message
 * that is not a response is WIRE_BAD).
 */
int wire_reply_next(wire_conn *c, int64_t deadline, wire_reply *r);

/*
 * wire_reply_next() that must be the response to msgid. Returns 0 with r
 * filled, or -1 with c->error set (also when the deadline passes).
 */
int wire_reply_to(wire_conn *c, uint32_t msgid, int64_t deadline,
    wire_reply *r);

/* True when bytes beyond the replies read are buffered, or arrive within
 * wait_ms: a server that answers once per request sends none. */
bool wire_more(wire_conn *c, int wait_ms);

/* Reading a reply in place: each takes a cursor at a value and leaves it. */

/* The value of key in the map at m. */
bool wire_get(mp_cursor m, const char *key, mp_cursor *value);
/* The value at v is the str s. */
bool wire_is_str(mp_cursor v, const char *s);
/* The map at m has key with the str s. */
bool wire_get_is(mp_cursor m, const char *key, const char *s);
/* The value of key, an integer. */
bool wire_get_int(mp_cursor m, const char *key, int64_t *out);
/* The value of key, a str, copied NUL-terminated into buf[0..len) (it
 * must fit, with room for the NUL). */
bool wire_get_text(mp_cursor m, const char *key, char *buf, size_t len);
/* The code of a reply's error, or "" when it has none. */
void wire_error_code(const wire_reply *r, char *buf, size_t len);
/* Element i of the array at a. */
bool wire_index(mp_cursor a, uint32_t i, mp_cursor *elem);

#endif
