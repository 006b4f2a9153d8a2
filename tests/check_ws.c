/*
 * check_ws.c -- url.c, http.c, wsframe.c and ws.c: pure parsers, then
 * WebSocket end to end on loopback in one process (kernel-chosen port).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "linksocks.h"
#include "lib/check_main.h"

/* ---- url.c -------------------------------------------------------- */

START_TEST(test_accept_key)
{
	char	 out[29];

	wsframe_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out);
	ck_assert_str_eq(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}
END_TEST

static const struct {
	const char	*in;
	int		 tls;
	const char	*host;
	int		 port;
	const char	*path;
	int		 qauth;
} url_good[] = {
	{ "example.com:8443", 1, "example.com", 8443, "/socket", 1 },
	{ "example.com", 1, "example.com", 443, "/socket", 1 },
	{ "http://h", 0, "h", 80, "/socket", 1 },
	{ "https://h/", 1, "h", 443, "/socket", 1 },
	{ "HTTPS://h:1/", 1, "h", 1, "/socket", 1 },
	{ "ws://[::1]:9/x?y=1", 0, "::1", 9, "/x?y=1", 0 },
	{ "wss://[2001:db8::1]", 1, "2001:db8::1", 443, "/socket", 1 },
	{ "ws://h/socket/", 0, "h", 80, "/socket/", 0 },
	{ "ws://h/socket", 0, "h", 80, "/socket", 1 },
	{ "ws://h/socket?a=b", 0, "h", 80, "/socket?a=b", 1 },
	{ "ws://h?a=b", 0, "h", 80, "/socket?a=b", 1 },
	{ "ws://h/socket#frag", 0, "h", 80, "/socket", 1 },
	{ "ws://10.0.0.1:65535/a/b", 0, "10.0.0.1", 65535, "/a/b", 0 },
};

static const char *url_bad[] = {
	"", "ftp://h", "ws://", "ws://h:0", "ws://h:65536", "ws://h:x",
	"ws://h:", "ws://[::1", "ws://[zz]:1", "ws://[::1]x", "ws://u@h",
	"ws://h h", "ws://h\x01", "ws://ho$t", "://h",
};

START_TEST(test_url_parse)
{
	struct ls_url	 u;
	char		 err[256], big[400];
	size_t		 i;

	for (i = 0; i < LS_NITEMS(url_good); i++) {
		err[0] = '\0';
		ck_assert_msg(url_parse(url_good[i].in, &u, err,
		    sizeof(err)) == 0, "%s: %s", url_good[i].in, err);
		ck_assert_int_eq(u.u_tls, url_good[i].tls);
		ck_assert_str_eq(u.u_host, url_good[i].host);
		ck_assert_int_eq(u.u_port, url_good[i].port);
		ck_assert_str_eq(u.u_path, url_good[i].path);
		ck_assert_int_eq(u.u_query_auth, url_good[i].qauth);
	}
	for (i = 0; i < LS_NITEMS(url_bad); i++) {
		err[0] = '\0';
		ck_assert_msg(url_parse(url_bad[i], &u, err, sizeof(err)) == -1,
		    "accepted %s", url_bad[i]);
		ck_assert_msg(err[0] != '\0', "no error text for %s",
		    url_bad[i]);
	}
	ck_assert_int_eq(url_parse("ftp://h", &u, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "ftp"));
	/* Host of 256 characters. */
	memset(big, 'a', sizeof(big));
	memcpy(big, "ws://", 5);
	big[5 + 256] = '\0';
	ck_assert_int_eq(url_parse(big, &u, err, sizeof(err)), -1);
	big[5 + 255] = '\0';
	ck_assert_int_eq(url_parse(big, &u, err, sizeof(err)), 0);
	ck_assert_uint_eq(strlen(u.u_host), 255);
}
END_TEST

START_TEST(test_url_auth_target)
{
	static const uint8_t	 inst[16] = {
		0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0,
		0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef
	};
	struct ls_url		 u;
	char			 err[128], out[1024], hex[65], uuid[37];

	url_uuid_format(inst, uuid);
	ck_assert_str_eq(uuid, "12345678-9abc-def0-0123-456789abcdef");
	url_sha256_hex("my_token", 8, hex);
	ck_assert_str_eq(hex,
	    "bc14369a0a9823350ecfefa8467ee656953f9c6eebd5b83cd5ebb56a0207e04b");

	ck_assert_int_eq(url_parse("ws://h:1", &u, err, sizeof(err)), 0);
	ck_assert_int_eq(url_auth_target(&u, "my_token", 0, inst, out,
	    sizeof(out)), 0);
	ck_assert_str_eq(out, "/socket?instance="
	    "12345678-9abc-def0-0123-456789abcdef&reverse=false&token="
	    "bc14369a0a9823350ecfefa8467ee656953f9c6eebd5b83cd5ebb56a0207e04b");

	/* Existing parameters kept and sorted; ours overwritten. */
	ck_assert_int_eq(url_parse("ws://h/socket?zz=1&token=old&a=x%20y&"
	    "reverse=true&m=%2F", &u, err, sizeof(err)), 0);
	ck_assert_int_eq(url_auth_target(&u, "my_token", 1, inst, out,
	    sizeof(out)), 0);
	ck_assert_str_eq(out, "/socket?a=x+y&instance="
	    "12345678-9abc-def0-0123-456789abcdef&m=%2F&reverse=true&token="
	    "bc14369a0a9823350ecfefa8467ee656953f9c6eebd5b83cd5ebb56a0207e04b"
	    "&zz=1");

	/* Too small an output. */
	ck_assert_int_eq(url_auth_target(&u, "my_token", 1, inst, out, 40),
	    -1);
}
END_TEST

/* ---- http.c ------------------------------------------------------- */

static int
parse_req(const char *s, struct http_head *hh)
{
	struct evbuffer	*b = evbuffer_new();
	int		 r;

	evbuffer_add(b, s, strlen(s));
	r = http_parse_request(b, hh);
	evbuffer_free(b);
	return (r);
}

/* A head that trickles in byte by byte is scanned once, not each time. */
START_TEST(test_http_request_incremental)
{
	const char		*req = "GET /socket?token=x HTTP/1.1\r\n"
				    "Host: h\nUpgrade: websocket\r\n\r\nEARLY";
	struct http_head	 hh;
	struct evbuffer		*b = evbuffer_new();
	size_t			 i, headlen = strlen(req) - strlen("EARLY");

	memset(&hh, 0, sizeof(hh));
	for (i = 0; i < headlen - 1; i++) {
		evbuffer_add(b, req + i, 1);
		ck_assert_int_eq(http_parse_request(b, &hh), 0);
		/* Everything held so far was looked at, and is kept. */
		ck_assert_uint_eq(hh.hh_scanned, i + 1);
		ck_assert_uint_eq(evbuffer_get_length(b), i + 1);
	}
	evbuffer_add(b, req + i, strlen(req) - i);
	ck_assert_int_eq(http_parse_request(b, &hh), 1);
	ck_assert_str_eq(hh.hh_target, "/socket?token=x");
	ck_assert_int_eq(hh.hh_nheaders, 2);
	ck_assert_str_eq(http_header(&hh, "upgrade"), "websocket");
	ck_assert_uint_eq(evbuffer_get_length(b), 5);	/* EARLY stays */
	http_head_free(&hh);

	/* A bare LF LF ends a head too, split across two reads. */
	evbuffer_drain(b, evbuffer_get_length(b));
	memset(&hh, 0, sizeof(hh));
	evbuffer_add_printf(b, "GET / HTTP/1.1\nHost: h\n");
	ck_assert_int_eq(http_parse_request(b, &hh), 0);
	evbuffer_add_printf(b, "\n");
	ck_assert_int_eq(http_parse_request(b, &hh), 1);
	http_head_free(&hh);

	/* Never terminated: refused at HTTP_MAX_HEAD, in 100-byte steps. */
	evbuffer_drain(b, evbuffer_get_length(b));
	memset(&hh, 0, sizeof(hh));
	evbuffer_add_printf(b, "GET / HTTP/1.1\r\n");
	for (i = 0; evbuffer_get_length(b) < HTTP_MAX_HEAD; i++) {
		ck_assert_int_eq(http_parse_request(b, &hh), 0);
		evbuffer_add_printf(b, "X-%04zu: %090d\r\n", i, 0);
	}
	ck_assert_int_eq(http_parse_request(b, &hh), -1);
	evbuffer_free(b);
}
END_TEST

/* SipHash-2-4 against the test vectors of its paper's appendix. */
START_TEST(test_siphash)
{
	uint8_t	key[16], msg[64];
	size_t	i;

	for (i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)i;
	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)i;
	ck_assert_uint_eq(util_siphash(key, msg, 0), 0x726fdb47dd0e0e31ULL);
	ck_assert_uint_eq(util_siphash(key, msg, 15), 0xa129ca6149be45e5ULL);
	ck_assert_uint_eq(util_siphash(key, msg, 8), 0x93f5f5799a932462ULL);
	ck_assert_uint_eq(util_siphash(key, msg, 63), 0x958a324ceb064572ULL);
	/* Another key, another hash. */
	key[0] ^= 1;
	ck_assert_uint_ne(util_siphash(key, msg, 15), 0xa129ca6149be45e5ULL);
}
END_TEST

START_TEST(test_http_request)
{
	struct http_head	 hh;
	struct evbuffer		*b;
	char			 v[64], *big;
	size_t			 n;

	b = evbuffer_new();
	evbuffer_add_printf(b, "GET /a%%20b/socket?token=ab%%2Bc+d&x=1 "
	    "HTTP/1.1\r\nHost: h\r\nConnection:  keep-alive, Upgrade \r\n"
	    "upgrade: WebSocket\r\nX-Empty:\r\n\r\nTAIL");
	ck_assert_int_eq(http_parse_request(b, &hh), 1);
	ck_assert_uint_eq(evbuffer_get_length(b), 4);	/* TAIL stays */
	ck_assert_str_eq(hh.hh_method, "GET");
	ck_assert_str_eq(hh.hh_target, "/a%20b/socket?token=ab%2Bc+d&x=1");
	ck_assert_str_eq(hh.hh_path, "/a b/socket");
	ck_assert_str_eq(hh.hh_query, "token=ab%2Bc+d&x=1");
	ck_assert_int_eq(hh.hh_nheaders, 4);
	ck_assert_str_eq(http_header(&hh, "HOST"), "h");
	ck_assert_str_eq(http_header(&hh, "connection"),
	    "keep-alive, Upgrade");
	ck_assert_str_eq(http_header(&hh, "x-empty"), "");
	ck_assert_ptr_null(http_header(&hh, "nope"));
	ck_assert_int_eq(http_header_has_token(&hh, "Connection", "upgrade"),
	    1);
	ck_assert_int_eq(http_header_has_token(&hh, "Connection", "keep"), 0);
	ck_assert_int_eq(http_header_has_token(&hh, "Upgrade", "websocket"),
	    1);
	ck_assert_int_eq(http_query_get(hh.hh_query, "token", v, sizeof(v)),
	    1);
	ck_assert_str_eq(v, "ab+c d");
	ck_assert_int_eq(http_query_get(hh.hh_query, "x", v, sizeof(v)), 1);
	ck_assert_str_eq(v, "1");
	ck_assert_int_eq(http_query_get(hh.hh_query, "y", v, sizeof(v)), 0);
	ck_assert_int_eq(http_query_get(hh.hh_query, "token", v, 4), 0);
	http_head_free(&hh);
	evbuffer_free(b);

	/* Bare LF, no query. */
	ck_assert_int_eq(parse_req("POST /api/token HTTP/1.0\nA: b\n\n", &hh),
	    1);
	ck_assert_str_eq(hh.hh_method, "POST");
	ck_assert_str_eq(hh.hh_path, "/api/token");
	ck_assert_str_eq(hh.hh_query, "");
	ck_assert_str_eq(http_header(&hh, "a"), "b");
	http_head_free(&hh);

	/* Incomplete. */
	ck_assert_int_eq(parse_req("GET / HTTP/1.1\r\nHost: h\r\n", &hh), 0);
	ck_assert_int_eq(parse_req("", &hh), 0);

	/* Malformed. */
	ck_assert_int_eq(parse_req("GET /%zz HTTP/1.1\r\n\r\n", &hh), -1);
	ck_assert_int_eq(parse_req("GET /%00 HTTP/1.1\r\n\r\n", &hh), -1);
	ck_assert_int_eq(parse_req("GET /%4 HTTP/1.1\r\n\r\n", &hh), -1);
	ck_assert_int_eq(parse_req("GET / HTTP/2.0\r\n\r\n", &hh), -1);
	ck_assert_int_eq(parse_req("GET x HTTP/1.1\r\n\r\n", &hh), -1);
	ck_assert_int_eq(parse_req("GET / HTTP/1.1 x\r\n\r\n", &hh), -1);
	ck_assert_int_eq(parse_req("GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n",
	    &hh), -1);
	ck_assert_int_eq(parse_req("GET / HTTP/1.1\r\nA b\r\n\r\n", &hh), -1);
	ck_assert_int_eq(parse_req("GET / HTTP/1.1\r\nA : b\r\n\r\n", &hh),
	    -1);
	ck_assert_int_eq(parse_req("\r\n\r\n", &hh), -1);

	/* Too many headers. */
	b = evbuffer_new();
	evbuffer_add_printf(b, "GET / HTTP/1.1\r\n");
	for (n = 0; n < HTTP_MAX_HEADERS + 1; n++)
		evbuffer_add_printf(b, "H%zu: v\r\n", n);
	evbuffer_add_printf(b, "\r\n");
	ck_assert_int_eq(http_parse_request(b, &hh), -1);
	evbuffer_free(b);

	/* Oversized head: -1 once 8 KiB arrived without the end. */
	big = malloc(HTTP_MAX_HEAD + 100);
	memset(big, 'a', HTTP_MAX_HEAD + 99);
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	big[HTTP_MAX_HEAD - 1] = '\0';
	ck_assert_int_eq(parse_req(big, &hh), 0);
	big[HTTP_MAX_HEAD - 1] = 'a';
	big[HTTP_MAX_HEAD] = '\0';
	ck_assert_int_eq(parse_req(big, &hh), -1);
	free(big);
}
END_TEST

START_TEST(test_http_response)
{
	struct http_head	 hh;
	struct evbuffer		*b = evbuffer_new();
	char			*s;
	size_t			 n;

	evbuffer_add_printf(b, "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nSec-WebSocket-Accept: x=\r\n\r\n");
	evbuffer_add(b, "\x82\x00", 2);
	ck_assert_int_eq(http_parse_response(b, &hh), 1);
	ck_assert_int_eq(hh.hh_status, 101);
	ck_assert_str_eq(hh.hh_reason, "Switching Protocols");
	ck_assert_str_eq(http_header(&hh, "sec-websocket-accept"), "x=");
	ck_assert_uint_eq(evbuffer_get_length(b), 2);
	http_head_free(&hh);
	evbuffer_drain(b, 2);
	evbuffer_add_printf(b, "HTTP/1.0 302\r\nLocation: /x\r\n\r\n");
	ck_assert_int_eq(http_parse_response(b, &hh), 1);
	ck_assert_int_eq(hh.hh_status, 302);
	ck_assert_str_eq(hh.hh_reason, "");
	http_head_free(&hh);
	evbuffer_add_printf(b, "HTTP/1.1 99x OK\r\n\r\n");
	ck_assert_int_eq(http_parse_response(b, &hh), -1);

	/* http_respond */
	evbuffer_drain(b, evbuffer_get_length(b));
	http_respond(b, 404, NULL, "404 page not found\n", "X-A: 1\r\n");
	n = evbuffer_get_length(b);
	s = calloc(1, n + 1);
	evbuffer_remove(b, s, n);
	ck_assert_str_eq(s, "HTTP/1.1 404 Not Found\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Length: 19\r\n"
	    "Connection: close\r\n"
	    "X-A: 1\r\n"
	    "\r\n"
	    "404 page not found\n");
	free(s);
	evbuffer_free(b);
}
END_TEST

/* ---- end to end ----------------------------------------------------- */

struct side {
	struct ws_conn	*conn;
	int		 opened;
	int		 nmsg;
	uint8_t		*last;
	size_t		 lastlen;
	uint8_t		*msgs[8];
	size_t		 msglen[8];
	int		 pongs;
	int		 drains;
	int		 closed;
	char		 reason[256];
	int		 redirected;
	char		 location[256];
	int		 echo;		/* server: echo messages back */
	int		 free_in_msg;	/* ws_free from inside ws_message */
	int		 pause_in_msg;	/* ws_pause from inside ws_message */
};

static struct event_base	*base;
static struct evdns_base	*dnsbase;
static struct evconnlistener	*lst;
static struct event		*tick;
static int			 lport;
static struct side		 srv, cli;

static void
side_reset(struct side *s)
{
	int	 i;

	free(s->last);
	for (i = 0; i < 8; i++)
		free(s->msgs[i]);
	memset(s, 0, sizeof(*s));
}

static void
t_open(struct ws_conn *c, void *arg)
{
	struct side	*s = arg;

	s->conn = c;
	s->opened++;
}

static void
t_message(struct ws_conn *c, struct evbuffer *buf, void *arg)
{
	struct side	*s = arg;
	size_t		 len = evbuffer_get_length(buf);
	const uint8_t	*p = len > 0 ? evbuffer_pullup(buf, -1) :
			    (const uint8_t *)"";

	if (s->nmsg < 8) {
		s->msgs[s->nmsg] = malloc(len + 1);
		memcpy(s->msgs[s->nmsg], p, len);
		s->msglen[s->nmsg] = len;
	}
	s->nmsg++;
	free(s->last);
	s->last = malloc(len + 1);
	memcpy(s->last, p, len);
	s->lastlen = len;
	if (s->free_in_msg) {
		ws_free(c);
		s->conn = NULL;
		/* Calls on a freed connection's siblings must stay safe. */
		return;
	}
	if (s->pause_in_msg)
		ws_pause(c, 1);
	if (s->echo)
		ck_assert_int_eq(ws_send(c, p, len), 0);
}

static void
t_drain(struct ws_conn *c LS_UNUSED, void *arg)
{
	((struct side *)arg)->drains++;
}

static void
t_pong(struct ws_conn *c LS_UNUSED, void *arg)
{
	((struct side *)arg)->pongs++;
}

static void
t_closed(struct ws_conn *c LS_UNUSED, const char *reason, void *arg)
{
	struct side	*s = arg;

	s->closed++;
	s->conn = NULL;
	snprintf(s->reason, sizeof(s->reason), "%s", reason);
}

static int
t_request(struct ws_conn *c, const struct http_head *hh, void *arg)
{
	struct side	*s = arg;

	s->conn = c;
	if (strcmp(hh->hh_path, "/socket") == 0) {
		ws_add_response_header(c, "X-Test: yes\r\n");
		return (1);
	}
	if (strcmp(hh->hh_path, "/moved") == 0) {
		ws_http_reply(c, 301, NULL, "", "Location: ws://x/socket\r\n");
		s->conn = NULL;
		return (0);
	}
	ws_http_reply(c, 404, NULL, "404 page not found\n", NULL);
	s->conn = NULL;
	return (0);
}

static void
t_redirect(struct ws_conn *c LS_UNUSED, const char *loc, void *arg)
{
	struct side	*s = arg;

	s->redirected++;
	s->conn = NULL;
	snprintf(s->location, sizeof(s->location), "%s", loc);
}

static const struct ws_cb srv_cb = {
	t_open, t_message, t_drain, t_pong, t_closed, t_request, NULL
};
static const struct ws_cb cli_cb = {
	t_open, t_message, t_drain, t_pong, t_closed, NULL, t_redirect
};

static void
t_accept(struct evconnlistener *l LS_UNUSED, evutil_socket_t fd,
    struct sockaddr *sa LS_UNUSED, int salen LS_UNUSED, void *arg LS_UNUSED)
{
	ck_assert_ptr_nonnull(ws_accept(base, fd, &srv_cb, &srv));
}

static void
t_tick(evutil_socket_t fd LS_UNUSED, short ev LS_UNUSED, void *arg LS_UNUSED)
{
}

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec + ts.tv_nsec / 1e9);
}

/* Run the loop until *flag >= want or secs pass; returns the flag. */
static int
run_until(int *flag, int want, double secs)
{
	double	 end = now() + secs;

	while (*flag < want && now() < end)
		event_base_loop(base, EVLOOP_ONCE);
	return (*flag);
}

static void
run_for(double secs)
{
	double	 end = now() + secs;

	while (now() < end)
		event_base_loop(base, EVLOOP_ONCE);
}

static void
e2e_setup(void)
{
	struct sockaddr_in	 sin;
	socklen_t		 slen = sizeof(sin);
	struct timeval		 tv = { 0, 10000 };

	log_init(0, 0);
	base = event_base_new();
	dnsbase = evdns_base_new(base, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lst = evconnlistener_new_bind(base, t_accept, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
	    (struct sockaddr *)&sin, sizeof(sin));
	ck_assert_ptr_nonnull(lst);
	getsockname(evconnlistener_get_fd(lst), (struct sockaddr *)&sin,
	    &slen);
	lport = ntohs(sin.sin_port);
	tick = event_new(base, -1, EV_PERSIST, t_tick, NULL);
	event_add(tick, &tv);
	memset(&srv, 0, sizeof(srv));
	memset(&cli, 0, sizeof(cli));
}

static void
e2e_teardown(void)
{
	if (cli.conn != NULL)
		ws_free(cli.conn);
	if (srv.conn != NULL)
		ws_free(srv.conn);
	/* Let lingering sockets finish. */
	run_for(0.05);
	side_reset(&srv);
	side_reset(&cli);
	event_free(tick);
	evconnlistener_free(lst);
	evdns_base_free(dnsbase, 0);
	event_base_free(base);
}

static struct ws_conn *
client_to(const char *path)
{
	struct ls_url	 u;
	char		 url[128], err[128];
	struct ws_conn	*c;

	snprintf(url, sizeof(url), "ws://127.0.0.1:%d%s", lport, path);
	ck_assert_int_eq(url_parse(url, &u, err, sizeof(err)), 0);
	c = ws_connect(base, dnsbase, NULL, &u, u.u_path,
	    "X-Extra: 1\r\n", &cli_cb, &cli);
	ck_assert_ptr_nonnull(c);
	cli.conn = c;
	return (c);
}

static void
open_pair(void)
{
	client_to("/socket");
	ck_assert_int_eq(run_until(&cli.opened, 1, 5), 1);
	ck_assert_int_eq(run_until(&srv.opened, 1, 5), 1);
	ck_assert_ptr_nonnull(srv.conn);
}

static void
fill(uint8_t *p, size_t len, unsigned seed)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 7 + seed + (i >> 8));
}

START_TEST(test_e2e_messages)
{
	static const size_t	 sizes[] = {
		0, 1, 125, 126, 65535, 65536, 1024 * 1024
	};
	const struct http_head	*hh;
	uint8_t			*buf;
	struct evbuffer		*eb;
	char			 host[64];
	size_t			 i;

	open_pair();
	hh = ws_handshake_head(cli.conn);
	ck_assert_int_eq(hh->hh_status, 101);
	ck_assert_str_eq(http_header(hh, "X-Test"), "yes");
	hh = ws_handshake_head(srv.conn);
	ck_assert_str_eq(http_header(hh, "X-Extra"), "1");
	snprintf(host, sizeof(host), "127.0.0.1:%d", lport);
	ck_assert_str_eq(http_header(hh, "Host"), host);
	ck_assert_str_eq(ws_peer(cli.conn), host);
	ck_assert_ptr_nonnull(strstr(ws_peer(srv.conn), "127.0.0.1:"));

	/* Client -> server (masked), server echoes (unmasked). */
	srv.echo = 1;
	buf = malloc(1024 * 1024);
	for (i = 0; i < LS_NITEMS(sizes); i++) {
		fill(buf, sizes[i], (unsigned)i);
		ck_assert_int_eq(ws_send(cli.conn, buf, sizes[i]), 0);
		ck_assert_int_eq(run_until(&cli.nmsg, (int)i + 1, 10),
		    (int)i + 1);
		ck_assert_int_eq(srv.nmsg, (int)i + 1);
		ck_assert_uint_eq(srv.lastlen, sizes[i]);
		ck_assert_uint_eq(cli.lastlen, sizes[i]);
		ck_assert(memcmp(srv.last, buf, sizes[i]) == 0);
		ck_assert(memcmp(cli.last, buf, sizes[i]) == 0);
	}
	srv.echo = 0;

	/* ws_send_evbuffer drains its argument. */
	eb = evbuffer_new();
	evbuffer_add(eb, "hello", 5);
	evbuffer_add(eb, " world", 6);
	ck_assert_int_eq(ws_send_evbuffer(srv.conn, eb), 0);
	ck_assert_uint_eq(evbuffer_get_length(eb), 0);
	evbuffer_free(eb);
	ck_assert_int_eq(run_until(&cli.nmsg, 8, 5), 8);
	ck_assert_uint_eq(cli.lastlen, 11);
	ck_assert(memcmp(cli.last, "hello world", 11) == 0);

	/* Ping both ways. */
	ck_assert_int_eq(ws_ping(cli.conn), 0);
	ck_assert_int_eq(run_until(&cli.pongs, 1, 5), 1);
	ck_assert_int_eq(ws_ping(srv.conn), 0);
	ck_assert_int_eq(run_until(&srv.pongs, 1, 5), 1);
	ck_assert(ws_last_rx(srv.conn) > 0);

	/* Pause: nothing is delivered; resume delivers all, in order. */
	ws_pause(cli.conn, 1);
	ck_assert_int_eq(ws_send(srv.conn, (const uint8_t *)"one", 3), 0);
	ck_assert_int_eq(ws_send(srv.conn, (const uint8_t *)"two", 3), 0);
	ck_assert_int_eq(ws_send(srv.conn, (const uint8_t *)"three", 5), 0);
	run_for(0.1);
	ck_assert_int_eq(cli.nmsg, 8);
	ws_pause(cli.conn, 0);
	ck_assert_int_eq(cli.nmsg, 8);	/* not from inside ws_pause */
	ck_assert_int_eq(run_until(&cli.nmsg, 11, 5), 11);
	ck_assert_uint_eq(cli.lastlen, 5);
	ck_assert(memcmp(cli.last, "three", 5) == 0);

	/* Output above the high watermark, then ws_drain. */
	ck_assert_uint_eq(ws_output_len(srv.conn), 0);
	fill(buf, 1024 * 1024, 9);
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(ws_send(srv.conn, buf, 1024 * 1024), 0);
	ck_assert_uint_gt(ws_output_len(srv.conn), WS_OUT_HIGH);
	ck_assert_int_eq(run_until(&srv.drains, 1, 10), 1);
	ck_assert_uint_le(ws_output_len(srv.conn), WS_OUT_LOW);
	ck_assert_int_eq(run_until(&cli.nmsg, 16, 10), 16);
	ck_assert_uint_eq(cli.lastlen, 1024 * 1024);
	ck_assert(memcmp(cli.last, buf, 1024 * 1024) == 0);
	free(buf);

	/* Close from the client: the server hears code 1000. */
	ws_close(cli.conn, 1000, "bye");
	cli.conn = NULL;
	ck_assert_int_eq(run_until(&srv.closed, 1, 5), 1);
	ck_assert_str_eq(srv.reason, "closed by peer (code 1000)");
	run_for(0.05);
	ck_assert_int_eq(cli.closed, 0);
}
END_TEST

/* Pausing inside ws_message holds back what wslay already buffered. */
START_TEST(test_e2e_pause_in_callback)
{
	open_pair();
	cli.pause_in_msg = 1;
	/* Three small frames in one TCP segment. */
	ck_assert_int_eq(ws_send(srv.conn, (const uint8_t *)"m1", 2), 0);
	ck_assert_int_eq(ws_send(srv.conn, (const uint8_t *)"m2", 2), 0);
	ck_assert_int_eq(ws_send(srv.conn, (const uint8_t *)"m3", 2), 0);
	run_until(&cli.nmsg, 1, 5);
	run_for(0.1);
	ck_assert_int_eq(cli.nmsg, 1);
	ck_assert(memcmp(cli.msgs[0], "m1", 2) == 0);
	ws_pause(cli.conn, 0);
	run_for(0.1);
	ck_assert_int_eq(cli.nmsg, 2);
	ck_assert(memcmp(cli.msgs[1], "m2", 2) == 0);
	cli.pause_in_msg = 0;
	ws_pause(cli.conn, 0);
	ck_assert_int_eq(run_until(&cli.nmsg, 3, 5), 3);
	ck_assert(memcmp(cli.msgs[2], "m3", 2) == 0);
	/* Still usable both ways. */
	ck_assert_int_eq(ws_send(cli.conn, (const uint8_t *)"up", 2), 0);
	ck_assert_int_eq(run_until(&srv.nmsg, 1, 5), 1);
}
END_TEST

START_TEST(test_e2e_server_close)
{
	open_pair();
	ws_close(srv.conn, 1001, "going away");
	srv.conn = NULL;
	ck_assert_int_eq(run_until(&cli.closed, 1, 5), 1);
	ck_assert_str_eq(cli.reason, "closed by peer (code 1001)");
	ck_assert_int_eq(srv.closed, 0);
}
END_TEST

START_TEST(test_e2e_free_in_callback)
{
	open_pair();
	srv.free_in_msg = 1;
	ck_assert_int_eq(ws_send(cli.conn, (const uint8_t *)"a", 1), 0);
	ck_assert_int_eq(ws_send(cli.conn, (const uint8_t *)"b", 1), 0);
	ck_assert_int_eq(run_until(&cli.closed, 1, 5), 1);
	ck_assert_int_eq(srv.nmsg, 1);
	ck_assert_int_eq(srv.closed, 0);
	ck_assert_ptr_nonnull(strstr(cli.reason, "closed"));
}
END_TEST

START_TEST(test_e2e_http_errors)
{
	struct sockaddr_in	 sin;
	socklen_t		 slen = sizeof(sin);
	struct ls_url		 u;
	char			 url[128], err[128];
	int			 fd;

	/* Plain 404 from ws_request. */
	client_to("/nope");
	ck_assert_int_eq(run_until(&cli.closed, 1, 5), 1);
	ck_assert_str_eq(cli.reason, "handshake failed: HTTP 404 Not Found");
	ck_assert_int_eq(srv.closed, 0);

	/* 301 with Location: ws_redirect, no ws_closed. */
	memset(&cli, 0, sizeof(cli));
	client_to("/moved");
	ck_assert_int_eq(run_until(&cli.redirected, 1, 5), 1);
	ck_assert_str_eq(cli.location, "ws://x/socket");
	run_for(0.05);
	ck_assert_int_eq(cli.closed, 0);

	/* Connection refused: a port nobody listens on. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	getsockname(fd, (struct sockaddr *)&sin, &slen);
	close(fd);
	snprintf(url, sizeof(url), "ws://127.0.0.1:%d/socket",
	    ntohs(sin.sin_port));
	ck_assert_int_eq(url_parse(url, &u, err, sizeof(err)), 0);
	memset(&cli, 0, sizeof(cli));
	cli.conn = ws_connect(base, dnsbase, NULL, &u, u.u_path, NULL,
	    &cli_cb, &cli);
	ck_assert_ptr_nonnull(cli.conn);
	ck_assert_int_eq(run_until(&cli.closed, 1, 5), 1);
	ck_assert_str_eq(cli.reason, "connect failed: Connection refused");
}
END_TEST

/* ---- raw client against ws_accept ------------------------------------ */

static int
raw_connect(void)
{
	struct sockaddr_in	 sin;
	int			 fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(lport);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	return (fd);
}

/* Read what arrives while the loop runs; stop at EOF or after n bytes. */
static size_t
raw_read(int fd, uint8_t *buf, size_t len, size_t want, double secs,
    int *eof)
{
	double	 end = now() + secs;
	size_t	 got = 0;
	ssize_t	 n;

	*eof = 0;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	while (got < want && now() < end) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		n = read(fd, buf + got, len - got);
		if (n == 0) {
			*eof = 1;
			break;
		}
		if (n > 0)
			got += (size_t)n;
		else
			usleep(1000);
	}
	return (got);
}

static size_t
frame(uint8_t *out, int fin, int op, const void *payload, size_t len)
{
	static const uint8_t	 mask[4] = { 0x11, 0x22, 0x33, 0x44 };
	const uint8_t		*p = payload;
	size_t			 o = 0, i;

	out[o++] = (uint8_t)((fin ? 0x80 : 0) | op);
	ck_assert_uint_lt(len, 126);
	out[o++] = (uint8_t)(0x80 | len);
	memcpy(out + o, mask, 4);
	o += 4;
	for (i = 0; i < len; i++)
		out[o++] = p[i] ^ mask[i % 4];
	return (o);
}

static const char raw_req[] = "GET /socket HTTP/1.1\r\nHost: x\r\n"
    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n\r\n";

START_TEST(test_raw_fragments)
{
	uint8_t		 out[1024], in[4096];
	size_t		 o = 0, n;
	int		 fd, eof;
	const char	*resp;

	fd = raw_connect();
	memcpy(out, raw_req, sizeof(raw_req) - 1);
	o = sizeof(raw_req) - 1;
	/* Pipelined: binary in three fragments with a ping inside. */
	o += frame(out + o, 0, 0x2, "abc", 3);
	o += frame(out + o, 0, 0x0, "def", 3);
	o += frame(out + o, 1, 0x9, "p", 1);
	o += frame(out + o, 1, 0x0, "gh", 2);
	o += frame(out + o, 1, 0x1, "hello", 5);
	ck_assert_int_eq(write(fd, out, o), (ssize_t)o);
	ck_assert_int_eq(run_until(&srv.nmsg, 2, 5), 2);
	ck_assert_uint_eq(srv.msglen[0], 8);
	ck_assert(memcmp(srv.msgs[0], "abcdefgh", 8) == 0);
	ck_assert_uint_eq(srv.msglen[1], 5);
	ck_assert(memcmp(srv.msgs[1], "hello", 5) == 0);

	/* 101 with the RFC example accept value, then the pong. */
	n = raw_read(fd, in, sizeof(in) - 1, 1, 2, &eof);
	in[n] = '\0';
	resp = (const char *)in;
	ck_assert_ptr_nonnull(strstr(resp, "HTTP/1.1 101 Switching Protocols"
	    "\r\n"));
	ck_assert_ptr_nonnull(strstr(resp,
	    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
	ck_assert_ptr_nonnull(strstr(resp, "\r\nX-Test: yes\r\n"));
	ck_assert_ptr_null(strstr(resp, "Sec-WebSocket-Protocol"));
	ck_assert_ptr_null(strstr(resp, "Sec-WebSocket-Extensions"));
	resp = strstr(resp, "\r\n\r\n");
	ck_assert_ptr_nonnull(resp);
	resp += 4;
	if ((size_t)(resp - (const char *)in) + 3 > n)
		n += raw_read(fd, in + n, sizeof(in) - n, 3 -
		    (n - (size_t)(resp - (const char *)in)), 2, &eof);
	ck_assert_uint_ge(n - (size_t)(resp - (const char *)in), 3);
	ck_assert(memcmp(resp, "\x8a\x01p", 3) == 0);

	/* A frame header above LS_MSG_MAX: 1009 and "message too big". */
	o = 0;
	out[o++] = 0x82;
	out[o++] = 0x80 | 127;
	for (n = 0; n < 8; n++)
		out[o++] = (uint8_t)((uint64_t)(LS_MSG_MAX + 1) >>
		    (56 - 8 * n));
	/* Mask key and the first payload bytes (wslay checks then). */
	memcpy(out + o, "\x01\x02\x03\x04xxxx", 8);
	o += 8;
	ck_assert_int_eq(write(fd, out, o), (ssize_t)o);
	ck_assert_int_eq(run_until(&srv.closed, 1, 5), 1);
	ck_assert_str_eq(srv.reason, "message too big");
	n = raw_read(fd, in, sizeof(in), 4, 2, &eof);
	ck_assert_uint_eq(n, 4);
	ck_assert(memcmp(in, "\x88\x02\x03\xf1", 4) == 0);
	n = raw_read(fd, in, sizeof(in), 1, 2, &eof);
	ck_assert_int_eq(eof, 1);
	close(fd);
}
END_TEST

/*
 * A close frame is checked before it is answered: a code no peer may
 * send gets 1002, a reason that is not UTF-8 gets 1007 (RFC 6455 7.4,
 * 8.1); a valid one is echoed with its code.
 */
static void
raw_close_case(const char *payload, size_t plen, const char *want,
    const char *reason)
{
	uint8_t		 out[1024], in[4096];
	size_t		 o, n, skip;
	int		 fd, eof;
	const char	*p;

	memset(&srv, 0, sizeof(srv));
	fd = raw_connect();
	memcpy(out, raw_req, sizeof(raw_req) - 1);
	o = sizeof(raw_req) - 1;
	o += frame(out + o, 1, 0x8, payload, plen);
	ck_assert_int_eq(write(fd, out, o), (ssize_t)o);
	ck_assert_int_eq(run_until(&srv.closed, 1, 5), 1);
	ck_assert_str_eq(srv.reason, reason);
	n = raw_read(fd, in, sizeof(in) - 1, 1, 2, &eof);
	in[n] = '\0';
	p = strstr((const char *)in, "\r\n\r\n");
	ck_assert_ptr_nonnull(p);
	skip = (size_t)(p + 4 - (const char *)in);
	if (n < skip + 4)
		n += raw_read(fd, in + n, sizeof(in) - n, skip + 4 - n, 2,
		    &eof);
	ck_assert_uint_eq(n - skip, 4);
	ck_assert(memcmp(in + skip, want, 4) == 0);
	close(fd);
}

START_TEST(test_raw_close_frames)
{
	/* Valid: echoed with the same code. */
	raw_close_case("\x03\xe8ok", 4, "\x88\x02\x03\xe8",
	    "closed by peer (code 1000)");
	raw_close_case("\x0f\xa0" "caf\xc3\xa9", 7, "\x88\x02\x0f\xa0",
	    "closed by peer (code 4000)");
	/* The reason is not UTF-8 (a lone continuation byte): 1007. */
	raw_close_case("\x03\xe8" "a\x80z", 5, "\x88\x02\x03\xef",
	    "close reason is not UTF-8");
	/* An encoded surrogate (ED A0 80): 1007. */
	raw_close_case("\x03\xe8\xed\xa0\x80", 5, "\x88\x02\x03\xef",
	    "close reason is not UTF-8");
	/* Codes no peer may send (1005, 999, 2000): 1002. */
	raw_close_case("\x03\xed", 2, "\x88\x02\x03\xea",
	    "malformed close frame");
	raw_close_case("\x03\xe7", 2, "\x88\x02\x03\xea",
	    "malformed close frame");
	raw_close_case("\x07\xd0", 2, "\x88\x02\x03\xea",
	    "malformed close frame");
	/* One byte of payload: 1002. */
	raw_close_case("\x03", 1, "\x88\x02\x03\xea",
	    "malformed close frame");
}
END_TEST

START_TEST(test_close_check)
{
	static const struct {
		const char	*p;
		size_t		 len;
		int		 want;
	} v[] = {
		{ "", 0, 0 },
		{ "\x03", 1, 1002 },
		{ "\x03\xe8", 2, 0 },			/* 1000 */
		{ "\x03\xeb", 2, 0 },			/* 1003 */
		{ "\x03\xec", 2, 1002 },		/* 1004 */
		{ "\x03\xed", 2, 1002 },		/* 1005 */
		{ "\x03\xee", 2, 1002 },		/* 1006 */
		{ "\x03\xef", 2, 0 },			/* 1007 */
		{ "\x03\xf5", 2, 0 },			/* 1013, registered */
		{ "\x03\xf6", 2, 0 },			/* 1014 */
		{ "\x03\xf7", 2, 1002 },		/* 1015 */
		{ "\x0b\xb7", 2, 1002 },		/* 2999 */
		{ "\x0b\xb8", 2, 0 },			/* 3000 */
		{ "\x13\x87", 2, 0 },			/* 4999 */
		{ "\x13\x88", 2, 1002 },		/* 5000 */
		{ "\x00\x00", 2, 1002 },
		{ "\x03\xe8\xe2\x82\xac", 5, 0 },	/* U+20AC */
		{ "\x03\xe8\xf0\x9f\x98\x80", 6, 0 },	/* U+1F600 */
		{ "\x03\xe8\xf4\x8f\xbf\xbf", 6, 0 },	/* U+10FFFF */
		{ "\x03\xe8\xf4\x90\x80\x80", 6, 1007 },	/* > U+10FFFF */
		{ "\x03\xe8\xc0\xaf", 4, 1007 },	/* overlong '/' */
		{ "\x03\xe8\xe0\x80\xaf", 5, 1007 },	/* overlong */
		{ "\x03\xe8\xed\xbf\xbf", 5, 1007 },	/* surrogate */
		{ "\x03\xe8\xe2\x82", 4, 1007 },	/* truncated */
		{ "\x03\xe8\xff", 3, 1007 },
		{ "\x03\xe8" "a\x00" "b", 5, 0 },		/* NUL is UTF-8 */
	};
	size_t	 i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		ck_assert_msg(wsframe_close_check((const uint8_t *)v[i].p,
		    v[i].len) == v[i].want, "case %zu", i);
}
END_TEST

/* Send req, return the whole answer until the server closes. */
static char *
raw_exchange(const char *req, size_t reqlen)
{
	static char	 resp[16384];
	size_t		 n;
	int		 fd, eof;

	if (reqlen == 0)
		reqlen = strlen(req);
	fd = raw_connect();
	ck_assert_int_eq(write(fd, req, reqlen), (ssize_t)reqlen);
	n = raw_read(fd, (uint8_t *)resp, sizeof(resp) - 1, sizeof(resp) - 1,
	    3, &eof);
	ck_assert_int_eq(eof, 1);
	resp[n] = '\0';
	close(fd);
	return (resp);
}

START_TEST(test_raw_bad_upgrades)
{
	const char	*r;
	char		*big;

	r = raw_exchange("POST /socket HTTP/1.1\r\nUpgrade: websocket\r\n"
	    "Connection: upgrade\r\nSec-WebSocket-Version: 13\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", 0);
	ck_assert_msg(strncmp(r, "HTTP/1.1 405 ", 13) == 0, "%s", r);
	ck_assert_ptr_nonnull(strstr(r, "Sec-WebSocket-Version: 13\r\n"));

	r = raw_exchange("GET /socket HTTP/1.1\r\nHost: x\r\n\r\n", 0);
	ck_assert_msg(strncmp(r, "HTTP/1.1 400 ", 13) == 0, "%s", r);

	r = raw_exchange("GET /socket HTTP/1.1\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Version: 12\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", 0);
	ck_assert_msg(strncmp(r, "HTTP/1.1 400 ", 13) == 0, "%s", r);
	ck_assert_ptr_nonnull(strstr(r, "Sec-WebSocket-Version: 13\r\n"));

	r = raw_exchange("GET /socket HTTP/1.1\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
	    "Sec-WebSocket-Key: c2hvcnQ=\r\n\r\n", 0);
	ck_assert_msg(strncmp(r, "HTTP/1.1 400 ", 13) == 0, "%s", r);

	r = raw_exchange("GET /other HTTP/1.1\r\n\r\n", 0);
	ck_assert_str_eq(r, "HTTP/1.1 404 Not Found\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Length: 19\r\nConnection: close\r\n\r\n"
	    "404 page not found\n");

	r = raw_exchange("GET /%zz HTTP/1.1\r\n\r\n", 0);
	ck_assert_msg(strncmp(r, "HTTP/1.1 400 ", 13) == 0, "%s", r);

	big = malloc(HTTP_MAX_HEAD + 16);
	memset(big, 'a', HTTP_MAX_HEAD + 16);
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	r = raw_exchange(big, HTTP_MAX_HEAD + 16);
	free(big);
	ck_assert_msg(strncmp(r, "HTTP/1.1 400 ", 13) == 0, "%s", r);
	ck_assert_int_eq(srv.nmsg, 0);
}
END_TEST

/* ---- TLS client against a minimal TLS server answering 404 ----------- */

static SSL_CTX			*tls_sctx;
static struct bufferevent	*tls_sbev;

static X509 *
tls_selfsigned(EVP_PKEY *pk)
{
	X509		*x = X509_new();
	X509_NAME	*name;
	X509_EXTENSION	*ext;
	X509V3_CTX	 v3;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, pk);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"test", -1, -1, 0);
	X509_set_issuer_name(x, name);
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name,
	    "IP:127.0.0.1");
	ck_assert_ptr_nonnull(ext);
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	ck_assert_int_gt(X509_sign(x, pk, EVP_sha256()), 0);
	return (x);
}

static void
tls_srv_read(struct bufferevent *bev, void *arg LS_UNUSED)
{
	struct evbuffer	*in = bufferevent_get_input(bev);

	if (evbuffer_search(in, "\r\n\r\n", 4, NULL).pos == -1)
		return;
	evbuffer_drain(in, evbuffer_get_length(in));
	http_respond(bufferevent_get_output(bev), 404, NULL, "nope\n", NULL);
}

static void
tls_srv_event(struct bufferevent *bev, short what, void *arg LS_UNUSED)
{
	if (what & BEV_EVENT_CONNECTED)
		return;
	if (bev == tls_sbev)
		tls_sbev = NULL;
	bufferevent_free(bev);
}

static void
tls_accept(struct evconnlistener *l LS_UNUSED, evutil_socket_t fd,
    struct sockaddr *sa LS_UNUSED, int salen LS_UNUSED, void *arg LS_UNUSED)
{
	if (tls_sbev != NULL)
		bufferevent_free(tls_sbev);
	tls_sbev = bufferevent_openssl_socket_new(base, fd,
	    SSL_new(tls_sctx), BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE);
	ck_assert_ptr_nonnull(tls_sbev);
	bufferevent_setcb(tls_sbev, tls_srv_read, NULL, tls_srv_event, NULL);
	bufferevent_enable(tls_sbev, EV_READ | EV_WRITE);
}

START_TEST(test_tls_client)
{
	struct evconnlistener	*tl;
	struct sockaddr_in	 sin;
	socklen_t		 slen = sizeof(sin);
	EVP_PKEY		*pk;
	X509			*x;
	SSL_CTX			*cctx;
	struct ls_url		 u;
	char			 url[128], err[128];
	int			 pass;

	pk = EVP_EC_gen("P-256");
	ck_assert_ptr_nonnull(pk);
	x = tls_selfsigned(pk);
	tls_sctx = SSL_CTX_new(TLS_server_method());
	ck_assert_int_eq(SSL_CTX_use_certificate(tls_sctx, x), 1);
	ck_assert_int_eq(SSL_CTX_use_PrivateKey(tls_sctx, pk), 1);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	tl = evconnlistener_new_bind(base, tls_accept, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
	    (struct sockaddr *)&sin, sizeof(sin));
	ck_assert_ptr_nonnull(tl);
	getsockname(evconnlistener_get_fd(tl), (struct sockaddr *)&sin,
	    &slen);
	snprintf(url, sizeof(url), "wss://127.0.0.1:%d/socket",
	    ntohs(sin.sin_port));
	ck_assert_int_eq(url_parse(url, &u, err, sizeof(err)), 0);

	for (pass = 0; pass < 3; pass++) {
		if (pass == 2) {
			/* Nobody listens any more. */
			evconnlistener_free(tl);
			tl = NULL;
		}
		cctx = SSL_CTX_new(TLS_client_method());
		SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
		if (pass >= 1)	/* trust the self-signed certificate */
			X509_STORE_add_cert(SSL_CTX_get_cert_store(cctx), x);
		memset(&cli, 0, sizeof(cli));
		cli.conn = ws_connect(base, dnsbase, cctx, &u, u.u_path, NULL,
		    &cli_cb, &cli);
		ck_assert_ptr_nonnull(cli.conn);
		ck_assert_int_eq(run_until(&cli.closed, 1, 5), 1);
		if (pass == 0)
			ck_assert_msg(strncmp(cli.reason,
			    "TLS: certificate verify failed", 30) == 0, "%s",
			    cli.reason);
		else if (pass == 1)
			ck_assert_str_eq(cli.reason,
			    "handshake failed: HTTP 404 Not Found");
		else
			ck_assert_str_eq(cli.reason,
			    "connect failed: Connection refused");
		SSL_CTX_free(cctx);
		run_for(0.05);
	}
	if (tls_sbev != NULL)
		bufferevent_free(tls_sbev);
	tls_sbev = NULL;
	SSL_CTX_free(tls_sctx);
	X509_free(x);
	EVP_PKEY_free(pk);
}
END_TEST

/* ---- framing (RFC 6455 section 5) ----------------------------------- */

static const struct frame_case {
	const char	*name;
	uint8_t		 in[16];
	size_t		 len;
	int		 hlen;		/* expected return */
	int		 fin, op, masked;
	uint64_t	 plen;
} frame_cases[] = {
	/* RFC 6455 5.7 examples. */
	{ "unmasked Hello", { 0x81, 0x05 }, 2, 2, 1, 1, 0, 5 },
	{ "masked Hello", { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d }, 6, 6, 1, 1,
	  1, 5 },
	{ "fragment start", { 0x01, 0x03 }, 2, 2, 0, 1, 0, 3 },
	{ "continuation", { 0x80, 0x02 }, 2, 2, 1, 0, 0, 2 },
	{ "ping", { 0x89, 0x05 }, 2, 2, 1, 9, 0, 5 },
	{ "256-byte binary", { 0x82, 0x7e, 0x01, 0x00 }, 4, 4, 1, 2, 0, 256 },
	{ "64 KiB binary", { 0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0 }, 10, 10, 1,
	  2, 0, 65536 },
	{ "masked 16-bit", { 0x82, 0xfe, 0x01, 0x00, 1, 2, 3, 4 }, 8, 8, 1, 2,
	  1, 256 },
	/* Incomplete headers. */
	{ "1 byte", { 0x82 }, 1, 0, 0, 0, 0, 0 },
	{ "16-bit cut", { 0x82, 0x7e, 0x01 }, 3, 0, 0, 0, 0, 0 },
	{ "64-bit cut", { 0x82, 0x7f, 0, 0, 0, 0, 0 }, 7, 0, 0, 0, 0, 0 },
	{ "mask cut", { 0x82, 0x85, 1, 2, 3 }, 5, 0, 0, 0, 0, 0 },
	/* Malformed. */
	{ "rsv1", { 0xc2, 0x00 }, 2, -1, 0, 0, 0, 0 },
	{ "rsv3", { 0x92, 0x00 }, 2, -1, 0, 0, 0, 0 },
	{ "opcode 3", { 0x83, 0x00 }, 2, -1, 0, 0, 0, 0 },
	{ "opcode 0xb", { 0x8b, 0x00 }, 2, -1, 0, 0, 0, 0 },
	{ "fragmented ping", { 0x09, 0x00 }, 2, -1, 0, 0, 0, 0 },
	{ "126-byte pong", { 0x8a, 0x7e, 0x00, 0x7e }, 4, -1, 0, 0, 0, 0 },
	{ "64-bit top bit", { 0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 1 }, 10,
	  -1, 0, 0, 0, 0 },
};

START_TEST(test_frame_parse)
{
	const struct frame_case	*c = &frame_cases[_i];
	struct ws_frame		 f;
	int			 r;

	memset(&f, 0, sizeof(f));
	r = wsframe_parse(c->in, c->len, &f);
	ck_assert_msg(r == c->hlen, "%s: got %d want %d", c->name, r,
	    c->hlen);
	if (r <= 0)
		return;
	ck_assert_int_eq(f.wf_fin, c->fin);
	ck_assert_int_eq(f.wf_op, c->op);
	ck_assert_int_eq(f.wf_masked, c->masked);
	ck_assert_uint_eq(f.wf_len, c->plen);
	if (c->masked)
		ck_assert_mem_eq(f.wf_mask, c->in + r - 4, 4);
}
END_TEST

/* Headers we write parse back; lengths pick the shortest form. */
START_TEST(test_frame_header)
{
	static const uint64_t	 lens[] = { 0, 1, 125, 126, 65535, 65536,
	    (uint64_t)LS_MSG_MAX, 0x7fffffffffffffffULL };
	static const size_t	 sizes[] = { 2, 2, 2, 4, 4, 10, 10, 10 };
	static const uint8_t	 key[4] = { 0xa1, 0xb2, 0xc3, 0xd4 };
	uint8_t			 h[WS_HDR_MAX];
	struct ws_frame		 f;
	size_t			 i, n;

	for (i = 0; i < LS_NITEMS(lens); i++) {
		n = wsframe_header(h, 1, WS_OP_BINARY, lens[i], NULL);
		ck_assert_uint_eq(n, sizes[i]);
		ck_assert_int_eq(wsframe_parse(h, n, &f), (int)n);
		ck_assert_uint_eq(f.wf_len, lens[i]);
		ck_assert_int_eq(f.wf_masked, 0);
		n = wsframe_header(h, 0, WS_OP_CONT, lens[i], key);
		ck_assert_uint_eq(n, sizes[i] + 4);
		ck_assert_int_eq(wsframe_parse(h, n, &f), (int)n);
		ck_assert_uint_eq(f.wf_len, lens[i]);
		ck_assert_int_eq(f.wf_fin, 0);
		ck_assert_int_eq(f.wf_op, WS_OP_CONT);
		ck_assert_mem_eq(f.wf_mask, key, 4);
	}
}
END_TEST

/* Masking at any alignment and key offset equals the byte-wise rule. */
START_TEST(test_mask)
{
	static const uint8_t	 key[4] = { 0x37, 0xfa, 0x21, 0x3d };
	uint8_t			 buf[300], want[300];
	size_t			 start, len, off, i;

	for (start = 0; start < 9; start++)
		for (len = 0; len < 40; len++)
			for (off = 0; off < 4; off++) {
				for (i = 0; i < sizeof(buf); i++)
					buf[i] = want[i] = (uint8_t)(i * 31 + 7);
				for (i = 0; i < len; i++)
					want[start + i] ^= key[(off + i) % 4];
				wsframe_mask(buf + start, len, key, off);
				ck_assert_mem_eq(buf, want, sizeof(buf));
			}
	/* RFC 6455 5.7: "Hello" masked with 37 fa 21 3d. */
	memcpy(buf, "Hello", 5);
	wsframe_mask(buf, 5, key, 0);
	ck_assert_mem_eq(buf, "\x7f\x9f\x4d\x51\x58", 5);
}
END_TEST

static Suite *
ws_suite(void)
{
	Suite	*s = suite_create("ws");
	TCase	*tc;

	tc = tcase_create("pure");
	tcase_add_test(tc, test_accept_key);
	tcase_add_test(tc, test_url_parse);
	tcase_add_test(tc, test_url_auth_target);
	tcase_add_test(tc, test_http_request);
	tcase_add_test(tc, test_http_request_incremental);
	tcase_add_test(tc, test_siphash);
	tcase_add_test(tc, test_http_response);
	tcase_add_loop_test(tc, test_frame_parse, 0, LS_NITEMS(frame_cases));
	tcase_add_test(tc, test_frame_header);
	tcase_add_test(tc, test_mask);
	tcase_add_test(tc, test_close_check);
	suite_add_tcase(s, tc);

	tc = tcase_create("e2e");
	tcase_add_checked_fixture(tc, e2e_setup, e2e_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_e2e_messages);
	tcase_add_test(tc, test_e2e_pause_in_callback);
	tcase_add_test(tc, test_e2e_server_close);
	tcase_add_test(tc, test_e2e_free_in_callback);
	tcase_add_test(tc, test_e2e_http_errors);
	tcase_add_test(tc, test_raw_fragments);
	tcase_add_test(tc, test_raw_close_frames);
	tcase_add_test(tc, test_raw_bad_upgrades);
	tcase_add_test(tc, test_tls_client);
	suite_add_tcase(s, tc);
	return (s);
}

const check_suite_fn check_suites[] = { ws_suite, NULL };
