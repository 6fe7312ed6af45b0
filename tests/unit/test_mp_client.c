/*
 * test_mp_client.c - the client library frames replies with proto/mp.h's
 * resumable reader: a reply that arrives a byte at a time comes out whole,
 * pipelined replies come out in order, a header claiming more than the
 * reply limit is refused before its bytes arrive (and the stream stays
 * refused), bytes that are not MessagePack are refused, and request params
 * must be exactly one value.
 *
 * The "server" is this process: a Unix socket in a temporary directory,
 * written to by a thread, so no network and no allotd are involved.
 */
#include <criterion/criterion.h>
#include <msgpack.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "rpc_client.h"

#define TIMEOUT_MS 5000

typedef struct peer {
	char dir[64];
	char path[128];
	int listen_fd;
	int fd;               /* the accepted end */
	allot_client *client;
} peer;

/* A listening socket, a client connected to it, and the accepted end. */
static void peer_open(peer *p)
{
	char err[256];
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	signal(SIGPIPE, SIG_IGN);
	snprintf(p->dir, sizeof p->dir, "/tmp/allot-mp-client-XXXXXX");
	cr_assert_not_null(mkdtemp(p->dir));
	snprintf(p->path, sizeof p->path, "%s/sock", p->dir);
	cr_assert_lt(strlen(p->path), sizeof sun.sun_path);
	memcpy(sun.sun_path, p->path, strlen(p->path) + 1);
	p->listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_geq(p->listen_fd, 0);
	cr_assert_eq(bind(p->listen_fd, (struct sockaddr *)&sun, sizeof sun), 0);
	cr_assert_eq(listen(p->listen_fd, 1), 0);
	/* A Unix connect completes once queued: no thread needed to accept. */
	p->client = allot_client_connect(p->path, 0, TIMEOUT_MS, err, sizeof err);
	cr_assert_not_null(p->client, "connect: %s", err);
	p->fd = accept(p->listen_fd, NULL, NULL);
	cr_assert_geq(p->fd, 0);
}

static void peer_close(peer *p)
{
	allot_client_destroy(p->client);
	close(p->fd);
	close(p->listen_fd);
	unlink(p->path);
	rmdir(p->dir);
}

typedef struct drip {
	int fd;
	const uint8_t *bytes;
	size_t len;
} drip;

/* Write the bytes one at a time, a little apart, so that the client reads
 * them in many pieces. */
static void *drip_main(void *arg)
{
	const drip *d = arg;
	struct timespec gap = { 0, 200 * 1000 };

	for (size_t i = 0; i < d->len; i++) {
		if (write(d->fd, d->bytes + i, 1) != 1)
			break;
		nanosleep(&gap, NULL);
	}
	return NULL;
}

/* [1, msgid, nil, {"items": [0, 1, ... n-1], "name": "<name>"}] */
static void pack_response(msgpack_sbuffer *sb, uint32_t msgid, uint32_t n, const char *name)
{
	msgpack_packer pk;

	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint8(&pk, 1);
	msgpack_pack_uint32(&pk, msgid);
	msgpack_pack_nil(&pk);
	msgpack_pack_map(&pk, 2);
	msgpack_pack_str_with_body(&pk, "items", 5);
	msgpack_pack_array(&pk, n);
	for (uint32_t i = 0; i < n; i++)
		msgpack_pack_uint32(&pk, i);
	msgpack_pack_str_with_body(&pk, "name", 4);
	msgpack_pack_str_with_body(&pk, name, strlen(name));
}

static void expect_response(const allot_message *m, uint32_t msgid, uint32_t n, const char *name)
{
	const msgpack_object *items = allot_object_map_get(&m->result, "items");
	const msgpack_object *got = allot_object_map_get(&m->result, "name");

	cr_assert_eq(m->type, ALLOT_MSG_RESPONSE);
	cr_assert_eq(m->msgid, msgid);
	cr_assert_eq(m->error.type, MSGPACK_OBJECT_NIL);
	cr_assert_not_null(items);
	cr_assert_eq(items->type, MSGPACK_OBJECT_ARRAY);
	cr_assert_eq(items->via.array.size, n);
	for (uint32_t i = 0; i < n; i++)
		cr_assert_eq(items->via.array.ptr[i].via.u64, i);
	cr_assert_not_null(got);
	cr_assert_eq(got->via.str.size, strlen(name));
	cr_assert_eq(memcmp(got->via.str.ptr, name, strlen(name)), 0);
}

Test(mp_client, a_reply_arriving_a_byte_at_a_time_comes_out_whole)
{
	peer p;
	msgpack_sbuffer sb;
	allot_message m;
	pthread_t t;
	char err[256];

	peer_open(&p);
	msgpack_sbuffer_init(&sb);
	pack_response(&sb, 7, 400, "dripped");
	cr_assert_gt(sb.size, 300, "the reply spans many reads");
	drip d = { p.fd, (const uint8_t *)sb.data, sb.size };
	cr_assert_eq(pthread_create(&t, NULL, drip_main, &d), 0);

	allot_message_init(&m);
	cr_assert_eq(allot_client_recv(p.client, &m, err, sizeof err), 0, "recv: %s", err);
	expect_response(&m, 7, 400, "dripped");
	cr_assert_eq(m.size, sb.size);
	pthread_join(t, NULL);

	allot_message_clear(&m);
	msgpack_sbuffer_destroy(&sb);
	peer_close(&p);
}

Test(mp_client, pipelined_replies_come_out_in_order_then_close_is_clean)
{
	peer p;
	msgpack_sbuffer sb;
	allot_message m;
	pthread_t t;
	char err[256];

	peer_open(&p);
	msgpack_sbuffer_init(&sb);
	pack_response(&sb, 1, 3, "one");
	pack_response(&sb, 2, 40, "two");
	pack_response(&sb, 3, 0, "three");
	drip d = { p.fd, (const uint8_t *)sb.data, sb.size };
	cr_assert_eq(pthread_create(&t, NULL, drip_main, &d), 0);

	allot_message_init(&m);
	cr_assert_eq(allot_client_recv(p.client, &m, err, sizeof err), 0, "recv: %s", err);
	expect_response(&m, 1, 3, "one");
	cr_assert_eq(allot_client_recv(p.client, &m, err, sizeof err), 0, "recv: %s", err);
	expect_response(&m, 2, 40, "two");
	cr_assert_eq(allot_client_recv(p.client, &m, err, sizeof err), 0, "recv: %s", err);
	expect_response(&m, 3, 0, "three");
	pthread_join(t, NULL);

	/* Nothing partial is left: the peer closing is a clean close. */
	shutdown(p.fd, SHUT_WR);
	cr_assert_eq(allot_client_recv(p.client, &m, err, sizeof err), ALLOT_CLIENT_ERR_CLOSED,
	    "%s", err);

	allot_message_clear(&m);
	msgpack_sbuffer_destroy(&sb);
	peer_close(&p);
}

Test(mp_client, a_header_over_the_reply_limit_is_refused_before_its_bytes)
{
	/* [1, 1, nil, <str32 claiming 1 MiB>] with only the header sent. */
	static const uint8_t head[] = { 0x94, 0x01, 0x01, 0xc0, 0xdb, 0x00, 0x10, 0x00, 0x00 };
	peer p;
	allot_message m;
	char err[256];

	peer_open(&p);
	allot_client_set_reply_limit(p.client, 4096);
	cr_assert_eq(write(p.fd, head, sizeof head), (ssize_t)sizeof head);

	allot_message_init(&m);
	cr_assert_eq(allot_client_recv(p.client, &m, err, sizeof err), ALLOT_CLIENT_ERR_PROTOCOL);
	cr_assert(strstr(err, "frame larger than the limit") != NULL, "%s", err);
	cr_assert(strstr(err, "4096") != NULL, "%s", err);
	/* The stream is out of step for good. */
	cr_assert_eq(allot_client_recv(p.client, &m, err, sizeof err), ALLOT_CLIENT_ERR_PROTOCOL);
	cr_assert(strstr(err, "unusable") != NULL, "%s", err);

	allot_message_clear(&m);
	peer_close(&p);
}

Test(mp_client, the_same_header_within_the_limit_waits_for_its_bytes)
{
	/* 16 bytes of payload claimed: well within the default limit. */
	static const uint8_t head[] = { 0x94, 0x01, 0x01, 0xc0, 0xdb, 0x00, 0x00, 0x00, 0x10 };
	peer p;
	allot_message m;
	char err[256];

	peer_open(&p);
	cr_assert_eq(write(p.fd, head, sizeof head), (ssize_t)sizeof head);
	allot_message_init(&m);
	allot_client_set_timeout(p.client, 200);
	cr_assert_eq(allot_client_recv(p.client, &m, err, sizeof err), ALLOT_CLIENT_ERR_TIMEOUT,
	    "%s", err);
	/* The rest arrives: the bytes kept from before complete it. */
	cr_assert_eq(write(p.fd, "0123456789abcdef", 16), 16);
	allot_client_set_timeout(p.client, TIMEOUT_MS);
	cr_assert_eq(allot_client_recv(p.client, &m, err, sizeof err), 0, "%s", err);
	cr_assert_eq(m.msgid, 1);
	cr_assert_eq(m.result.type, MSGPACK_OBJECT_STR);
	cr_assert_eq(m.result.via.str.size, 16);

	allot_message_clear(&m);
	peer_close(&p);
}

Test(mp_client, bytes_that_are_not_messagepack_are_refused)
{
	static const uint8_t junk[] = { 0x94, 0x01, 0xc1 };
	peer p;
	allot_message m;
	char err[256];

	peer_open(&p);
	cr_assert_eq(write(p.fd, junk, sizeof junk), (ssize_t)sizeof junk);
	allot_message_init(&m);
	cr_assert_eq(allot_client_recv(p.client, &m, err, sizeof err), ALLOT_CLIENT_ERR_PROTOCOL);
	cr_assert(strstr(err, "0xc1") != NULL, "%s", err);
	allot_message_clear(&m);
	peer_close(&p);
}

Test(mp_client, request_params_must_be_exactly_one_value)
{
	static const uint8_t two[] = { 0x91, 0x01, 0x02 };      /* [1] then 2 */
	static const uint8_t cut[] = { 0x92, 0x01 };            /* [1, ...  */
	static const uint8_t one[] = { 0x91, 0x81, 0xa1, 'k', 0x01 }; /* [{"k": 1}] */
	peer p;
	uint32_t msgid = 0;
	char err[256];
	uint8_t got[64];

	peer_open(&p);
	cr_assert_eq(allot_client_send_request(p.client, "m", two, sizeof two, &msgid, err,
	    sizeof err), ALLOT_CLIENT_ERR_ARG);
	cr_assert_eq(allot_client_send_request(p.client, "m", cut, sizeof cut, &msgid, err,
	    sizeof err), ALLOT_CLIENT_ERR_ARG);
	cr_assert_eq(allot_client_send_request(p.client, "m", one, 0, &msgid, err,
	    sizeof err), ALLOT_CLIENT_ERR_ARG);
	cr_assert_eq(allot_client_send_request(p.client, "m", one, sizeof one, &msgid, err,
	    sizeof err), 0, "%s", err);
	cr_assert_eq(msgid, 1, "the refused ones sent nothing and took no msgid");

	/* [0, 1, "m", [{"k": 1}]]: 5 bytes of envelope, then the params. */
	static const uint8_t envelope[] = { 0x94, 0x00, 0x01, 0xa1, 'm' };
	ssize_t n = read(p.fd, got, sizeof got);
	cr_assert_eq(n, (ssize_t)(sizeof envelope + sizeof one));
	cr_assert_eq(memcmp(got, envelope, sizeof envelope), 0);
	cr_assert_eq(memcmp(got + sizeof envelope, one, sizeof one), 0);
	peer_close(&p);
}
