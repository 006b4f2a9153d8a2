/*
 * check_httpproxy.c -- unit tests for the HTTP proxy codec (httpproxy.c):
 * CONNECT forms, absolute URLs, IPv6 literals, bad ports and hosts, the
 * rewritten origin-form head and its hop-by-hop headers, Basic
 * credentials and base64, bounds, byte-at-a-time heads, and the replies.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "linksocks.h"
#include "lib/check_main.h"

static struct evbuffer		*in, *fwd;
static struct httpproxy_req	 hr;

static void
setup(void)
{
	in = evbuffer_new();
	fwd = evbuffer_new();
	ck_assert_ptr_nonnull(in);
	ck_assert_ptr_nonnull(fwd);
}

static void
teardown(void)
{
	evbuffer_free(in);
	evbuffer_free(fwd);
}

/* Parse s whole, no credentials. */
static int
parse(const char *s)
{
	evbuffer_drain(in, evbuffer_get_length(in));
	evbuffer_drain(fwd, evbuffer_get_length(fwd));
	evbuffer_add(in, s, strlen(s));
	return (httpproxy_parse(in, &hr, NULL, NULL, fwd));
}

/* The buffer as a C string (static). */
static const char *
text(struct evbuffer *b)
{
	static char	 buf[16384];
	size_t		 n = evbuffer_get_length(b);

	ck_assert_uint_lt(n, sizeof(buf));
	evbuffer_copyout(b, buf, n);
	buf[n] = '\0';
	return (buf);
}

static const struct {
	const char	*req;
	int		 kind;
	const char	*host;
	uint16_t	 port;
} good[] = {
	{ "CONNECT example.org:443 HTTP/1.1\r\n\r\n", HTTPPROXY_CONNECT,
	    "example.org", 443 },
	{ "CONNECT example.org HTTP/1.1\r\nHost: x\r\n\r\n", HTTPPROXY_CONNECT,
	    "example.org", 443 },
	{ "CONNECT 10.1.2.3:22 HTTP/1.0\n\n", HTTPPROXY_CONNECT, "10.1.2.3",
	    22 },
	{ "CONNECT [::1]:8080 HTTP/1.1\r\n\r\n", HTTPPROXY_CONNECT, "::1",
	    8080 },
	{ "CONNECT [2001:db8::1] HTTP/1.1\r\n\r\n", HTTPPROXY_CONNECT,
	    "2001:db8::1", 443 },
	{ "CONNECT a_b-c.d:65535 HTTP/1.1\r\n\r\n", HTTPPROXY_CONNECT,
	    "a_b-c.d", 65535 },
	{ "GET http://example.org/ HTTP/1.1\r\n\r\n", HTTPPROXY_FORWARD,
	    "example.org", 80 },
	{ "GET HTTP://Example.org:8080 HTTP/1.1\r\n\r\n", HTTPPROXY_FORWARD,
	    "Example.org", 8080 },
	{ "POST http://[::1]:81/x?y HTTP/1.1\r\n\r\n", HTTPPROXY_FORWARD,
	    "::1", 81 },
	{ "HEAD http://1.2.3.4?q HTTP/1.0\r\n\r\n", HTTPPROXY_FORWARD,
	    "1.2.3.4", 80 },
	{ "OPTIONS http://h/ HTTP/1.1\r\n\r\n", HTTPPROXY_FORWARD, "h", 80 },
	{ "PATCH http://h/ HTTP/1.1\r\n\r\n", HTTPPROXY_FORWARD, "h", 80 },
	{ "DELETE http://h/ HTTP/1.1\r\n\r\n", HTTPPROXY_FORWARD, "h", 80 },
	{ "PUT http://h/ HTTP/1.1\r\n\r\n", HTTPPROXY_FORWARD, "h", 80 },
};

START_TEST(test_good)
{
	ck_assert_int_eq(parse(good[_i].req), 1);
	ck_assert_int_eq(hr.hr_kind, good[_i].kind);
	ck_assert_str_eq(hr.hr_host, good[_i].host);
	ck_assert_uint_eq(hr.hr_port, good[_i].port);
	ck_assert_uint_eq(hr.hr_headlen, strlen(good[_i].req));
	ck_assert_uint_eq(evbuffer_get_length(in), 0);
	if (good[_i].kind == HTTPPROXY_CONNECT)
		ck_assert_uint_eq(evbuffer_get_length(fwd), 0);
}
END_TEST

static const struct {
	const char	*req;
	int		 status;
} bad[] = {
	{ "GARBAGE\r\n\r\n", 400 },
	{ "GET  http://h/ HTTP/1.1\r\n\r\n", 400 },
	{ "GET http://h/ HTTP/1.1 x\r\n\r\n", 400 },
	{ "GET http://h/ HTTP/1.1\r\nno colon\r\n\r\n", 400 },
	{ "GET http://h/ HTTP/1.1\r\n folded: x\r\n\r\n", 400 },
	{ "GET http://h/ HTTP/1.1\r\nBad Name: x\r\n\r\n", 400 },
	{ "GET http://h/ HTTP/1.1\r\nA: b\rc\r\n\r\n", 400 },
	{ "GET http://h/ HTTP/2.0\r\n\r\n", 505 },
	{ "GET http://h/ HTTP/0.9\r\n\r\n", 505 },
	{ "GET http://h/ HTTX/1.1\r\n\r\n", 400 },
	{ "GET http://h/ HTTP/1.11\r\n\r\n", 400 },
	{ "BREW http://h/ HTTP/1.1\r\n\r\n", 405 },
	{ "GETGETGETGETGETGETGET http://h/ HTTP/1.1\r\n\r\n", 405 },
	{ "GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400 },
	{ "GET * HTTP/1.1\r\n\r\n", 400 },
	{ "GET ftp://h/ HTTP/1.1\r\n\r\n", 400 },
	{ "GET https://h/ HTTP/1.1\r\n\r\n", 400 },
	{ "GET http:///x HTTP/1.1\r\n\r\n", 400 },
	{ "GET http://u:p@h/ HTTP/1.1\r\n\r\n", 400 },
	{ "GET http://h:0/ HTTP/1.1\r\n\r\n", 400 },
	{ "GET http://h:/ HTTP/1.1\r\n\r\n", 400 },
	{ "GET http://h#f HTTP/1.1\r\n\r\n", 400 },
	{ "CONNECT h:65536 HTTP/1.1\r\n\r\n", 400 },
	{ "CONNECT h:99999 HTTP/1.1\r\n\r\n", 400 },
	{ "CONNECT h:123456 HTTP/1.1\r\n\r\n", 400 },
	{ "CONNECT h:-1 HTTP/1.1\r\n\r\n", 400 },
	{ "CONNECT h:8a HTTP/1.1\r\n\r\n", 400 },
	{ "CONNECT :80 HTTP/1.1\r\n\r\n", 400 },
	{ "CONNECT h/x:80 HTTP/1.1\r\n\r\n", 400 },
	{ "CONNECT [::1:80 HTTP/1.1\r\n\r\n", 400 },
	{ "CONNECT [::g]:80 HTTP/1.1\r\n\r\n", 400 },
	{ "CONNECT []:80 HTTP/1.1\r\n\r\n", 400 },
	{ "CONNECT [::1]x HTTP/1.1\r\n\r\n", 400 },
	{ "CONNECT [1.2.3.4]:80 HTTP/1.1\r\n\r\n", 400 },
};

START_TEST(test_bad)
{
	ck_assert_int_eq(parse(bad[_i].req), -1);
	ck_assert_int_eq(hr.hr_status, bad[_i].status);
	ck_assert_ptr_nonnull(hr.hr_error);
}
END_TEST

START_TEST(test_https_text)
{
	ck_assert_int_eq(parse("GET https://h/ HTTP/1.1\r\n\r\n"), -1);
	ck_assert_ptr_nonnull(strstr(hr.hr_error, "CONNECT"));
}
END_TEST

START_TEST(test_nul)
{
	static const char	 req[] =
	    "GET http://h/ HTTP/1.1\r\nA: \0\r\n\r\n";

	evbuffer_add(in, req, sizeof(req) - 1);
	ck_assert_int_eq(httpproxy_parse(in, &hr, NULL, NULL, fwd), -1);
	ck_assert_int_eq(hr.hr_status, 400);
}
END_TEST

START_TEST(test_rewrite)
{
	ck_assert_int_eq(parse(
	    "GET http://Example.org:8080/a/b?c=d HTTP/1.1\r\n"
	    "Host: wrong\r\n"
	    "User-Agent: t\r\n"
	    "Connection: keep-alive, X-Hop\r\n"
	    "Proxy-Connection: X-Hop2\r\n"
	    "X-Hop: 1\r\n"
	    "x-hop2: 1\r\n"
	    "Keep-Alive: 300\r\n"
	    "Proxy-Authorization: Basic dTpw\r\n"
	    "TE: trailers\r\n"
	    "Trailer: X\r\n"
	    "Upgrade: websocket\r\n"
	    "Transfer-Encoding: chunked\r\n"
	    "X-Keep:  v  \r\n"
	    "\r\n5\r\nhello\r\n0\r\n\r\n"), 1);
	ck_assert_str_eq(text(fwd), "GET /a/b?c=d HTTP/1.1\r\n"
	    "Host: Example.org:8080\r\n"
	    "User-Agent: t\r\n"
	    "Transfer-Encoding: chunked\r\n"
	    "X-Keep: v\r\n"
	    "Connection: close\r\n\r\n");
	/* The body stays for the channel. */
	ck_assert_str_eq(text(in), "5\r\nhello\r\n0\r\n\r\n");
}
END_TEST

START_TEST(test_rewrite_paths)
{
	ck_assert_int_eq(parse("GET http://h HTTP/1.0\r\n\r\n"), 1);
	ck_assert_str_eq(text(fwd), "GET / HTTP/1.0\r\nHost: h\r\n"
	    "Connection: close\r\n\r\n");
	ck_assert_int_eq(parse("GET http://[::1]:81?x HTTP/1.1\r\n\r\n"), 1);
	ck_assert_str_eq(text(fwd), "GET /?x HTTP/1.1\r\nHost: [::1]:81\r\n"
	    "Connection: close\r\n\r\n");
}
END_TEST

START_TEST(test_incomplete)
{
	const char	*req = "CONNECT h:1 HTTP/1.1\r\nA: b\r\n\r\nearly";
	size_t		 i, n = strlen(req) - 5;

	for (i = 0; i < n; i++) {
		evbuffer_add(in, req + i, 1);
		ck_assert_int_eq(httpproxy_parse(in, &hr, NULL, NULL, fwd),
		    i + 1 < n ? 0 : 1);
	}
	evbuffer_add(in, req + n, 5);
	ck_assert_str_eq(text(in), "early");
	ck_assert_str_eq(hr.hr_host, "h");
	ck_assert_uint_eq(hr.hr_port, 1);
}
END_TEST

START_TEST(test_too_large)
{
	char	*big;
	size_t	 n = HTTPPROXY_HEAD_MAX + 100;

	big = malloc(n);
	ck_assert_ptr_nonnull(big);
	memcpy(big, "GET http://h/ HTTP/1.1\r\nX: ", 27);
	memset(big + 27, 'a', n - 27);
	evbuffer_add(in, big, HTTPPROXY_HEAD_MAX - 1);
	ck_assert_int_eq(httpproxy_parse(in, &hr, NULL, NULL, fwd), 0);
	evbuffer_add(in, big, 1);
	ck_assert_int_eq(httpproxy_parse(in, &hr, NULL, NULL, fwd), -1);
	ck_assert_int_eq(hr.hr_status, 431);
	free(big);
}
END_TEST

START_TEST(test_too_many_headers)
{
	int	 i;

	evbuffer_add_printf(in, "GET http://h/ HTTP/1.1\r\n");
	for (i = 0; i < 101; i++)
		evbuffer_add_printf(in, "X-%d: y\r\n", i);
	evbuffer_add_printf(in, "\r\n");
	ck_assert_int_eq(httpproxy_parse(in, &hr, NULL, NULL, fwd), -1);
	ck_assert_int_eq(hr.hr_status, 431);
}
END_TEST

static const struct {
	const char	*hdr;		/* NULL: none */
	int		 ok;
} auths[] = {
	{ NULL, 0 },
	{ "Basic dXNlcjpwYTpzcw==", 1 },	/* user:pa:ss */
	{ "basic   dXNlcjpwYTpzcw==  ", 1 },
	{ "Basic dXNlcjpwYTpzcw", 0 },		/* no padding */
	{ "Basic dXNlcjpwYXNz", 0 },		/* user:pass */
	{ "Basic dXNlcg==", 0 },		/* user */
	{ "Basic dXNlcjpwYTpzcw=x", 0 },
	{ "Basic dXNlcjpwYTpzc===", 0 },
	{ "Basic dXNl*jpwYTpzcw==", 0 },
	{ "Bearer dXNlcjpwYTpzcw==", 0 },
	{ "Basic", 0 },
	{ "Basic ", 0 },
	{ "BasicdXNlcjpwYTpzcw==", 0 },
	{ "Basic AHVzZXI6cGE6c3M=", 0 },	/* \0user:pa:ss */
};

START_TEST(test_auth)
{
	char	 req[256];
	int	 r;

	snprintf(req, sizeof(req), "CONNECT h:1 HTTP/1.1\r\n%s%s%s\r\n",
	    auths[_i].hdr != NULL ? "Proxy-Authorization: " : "",
	    auths[_i].hdr != NULL ? auths[_i].hdr : "",
	    auths[_i].hdr != NULL ? "\r\n" : "");
	evbuffer_add(in, req, strlen(req));
	r = httpproxy_parse(in, &hr, "user", "pa:ss", fwd);
	if (auths[_i].ok)
		ck_assert_int_eq(r, 1);
	else {
		ck_assert_int_eq(r, -1);
		ck_assert_int_eq(hr.hr_status, 407);
	}
}
END_TEST

START_TEST(test_auth_not_required)
{
	/* An empty password means none required, as for SOCKS5. */
	evbuffer_add_printf(in, "CONNECT h:1 HTTP/1.1\r\n\r\n");
	ck_assert_int_eq(httpproxy_parse(in, &hr, "user", "", fwd), 1);
}
END_TEST

START_TEST(test_b64)
{
	uint8_t	 out[16];

	ck_assert_int_eq(httpproxy_b64decode("", out, sizeof(out)), -1);
	ck_assert_int_eq(httpproxy_b64decode("Zg==", out, sizeof(out)), 1);
	ck_assert_int_eq(out[0], 'f');
	ck_assert_int_eq(httpproxy_b64decode("Zm8=", out, sizeof(out)), 2);
	ck_assert_int_eq(memcmp(out, "fo", 2), 0);
	ck_assert_int_eq(httpproxy_b64decode("Zm9v", out, sizeof(out)), 3);
	ck_assert_int_eq(memcmp(out, "foo", 3), 0);
	ck_assert_int_eq(httpproxy_b64decode("Zm9vYmFy", out, sizeof(out)),
	    6);
	ck_assert_int_eq(memcmp(out, "foobar", 6), 0);
	ck_assert_int_eq(httpproxy_b64decode("Zm9vYmFy", out, 5), -1);
	ck_assert_int_eq(httpproxy_b64decode("Zm9", out, sizeof(out)), -1);
	ck_assert_int_eq(httpproxy_b64decode("Z===", out, sizeof(out)), -1);
	ck_assert_int_eq(httpproxy_b64decode("=Zm9", out, sizeof(out)), -1);
	ck_assert_int_eq(httpproxy_b64decode("Zm=v", out, sizeof(out)), -1);
}
END_TEST

START_TEST(test_reply)
{
	struct evbuffer	*out = evbuffer_new();

	ck_assert_ptr_nonnull(out);
	httpproxy_reply(out, 200, NULL);
	ck_assert_str_eq(text(out), "HTTP/1.1 200 Connection Established"
	    "\r\n\r\n");
	evbuffer_drain(out, evbuffer_get_length(out));
	httpproxy_reply(out, 407, "no");
	ck_assert_str_eq(text(out), "HTTP/1.1 407 Proxy Authentication "
	    "Required\r\nProxy-Authenticate: Basic realm=\"linksocks\"\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Length: 3\r\nConnection: close\r\n\r\nno\n");
	evbuffer_drain(out, evbuffer_get_length(out));
	httpproxy_reply(out, 504, NULL);
	ck_assert_ptr_nonnull(strstr(text(out), "HTTP/1.1 504 Gateway "
	    "Timeout\r\n"));
	ck_assert_ptr_nonnull(strstr(text(out), "\r\n\r\nGateway Timeout\n"));
	evbuffer_free(out);
}
END_TEST

static Suite *
httpproxy_suite(void)
{
	Suite	*s = suite_create("httpproxy");
	TCase	*tc;

	tc = tcase_create("parse");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_good, 0, LS_NITEMS(good));
	tcase_add_loop_test(tc, test_bad, 0, LS_NITEMS(bad));
	tcase_add_test(tc, test_https_text);
	tcase_add_test(tc, test_nul);
	tcase_add_test(tc, test_rewrite);
	tcase_add_test(tc, test_rewrite_paths);
	tcase_add_test(tc, test_incomplete);
	tcase_add_test(tc, test_too_large);
	tcase_add_test(tc, test_too_many_headers);
	suite_add_tcase(s, tc);

	tc = tcase_create("auth");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_auth, 0, LS_NITEMS(auths));
	tcase_add_test(tc, test_auth_not_required);
	tcase_add_test(tc, test_b64);
	tcase_add_test(tc, test_reply);
	suite_add_tcase(s, tc);
	return (s);
}

const check_suite_fn check_suites[] = { httpproxy_suite, NULL };
