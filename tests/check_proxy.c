/*
 * check_proxy.c -- unit tests for src/proxy.c: proxy URLs (schemes,
 * default ports, credentials and their percent-decoding, every error),
 * NO_PROXY matching (names, suffixes, "*", addresses and CIDR), the
 * environment's choice as curl makes it, and the exchange itself against
 * a scripted proxy on a loopback socket: the bytes we send (greeting,
 * RFC 1929, CONNECT by name or address, UDP ASSOCIATE, the HTTP CONNECT
 * head with Basic authentication), replies cut into pieces, bytes the
 * target sends right after the reply left to the caller, and each
 * refusal with its errno value and text.
 */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "linksocks.h"
#include "lib/check_main.h"

/* ---- parsing ---------------------------------------------------------- */

START_TEST(parse_good)
{
	struct ls_proxy	 px;
	char		 err[256];

	ck_assert_int_eq(proxy_parse("socks5://127.0.0.1", &px, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(px.px_kind, PROXY_SOCKS5);
	ck_assert_int_eq(px.px_port, 1080);
	ck_assert_str_eq(px.px_user, "");
	ck_assert_str_eq(px.px_name, "socks5://127.0.0.1:1080");

	ck_assert_int_eq(proxy_parse("SOCKS5H://al%40ce:p%3Ass@proxy.test:9/",
	    &px, err, sizeof(err)), 0);
	ck_assert_int_eq(px.px_kind, PROXY_SOCKS5);
	ck_assert_str_eq(px.px_user, "al@ce");
	ck_assert_str_eq(px.px_pass, "p:ss");
	ck_assert_str_eq(px.px_host, "proxy.test");
	ck_assert_int_eq(px.px_port, 9);
	ck_assert_ptr_null(strstr(px.px_name, "p:ss"));

	ck_assert_int_eq(proxy_parse("http://[::1]:3128", &px, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(px.px_kind, PROXY_HTTP);
	ck_assert_str_eq(px.px_host, "::1");
	ck_assert_str_eq(px.px_name, "http://[::1]:3128");

	/* https: CONNECT in plain TCP, the reference's default port. */
	ck_assert_int_eq(proxy_parse("https://u:@h", &px, err, sizeof(err)),
	    0);
	ck_assert_int_eq(px.px_kind, PROXY_HTTP);
	ck_assert_int_eq(px.px_port, 8080);
	ck_assert_str_eq(px.px_user, "u");
	ck_assert_str_eq(px.px_pass, "");

	/* curl: no scheme is an HTTP proxy; the last '@' ends userinfo. */
	ck_assert_int_eq(proxy_parse("a@b:c@corp-proxy:8000", &px, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(px.px_kind, PROXY_HTTP);
	ck_assert_str_eq(px.px_user, "a@b");
	ck_assert_str_eq(px.px_pass, "c");
	ck_assert_str_eq(px.px_host, "corp-proxy");
}
END_TEST

START_TEST(parse_bad)
{
	static const struct {
		const char	*url;
		const char	*err;
	} bad[] = {
		{ "", "empty proxy URL" },
		{ "ftp://h", "unsupported proxy scheme: ftp" },
		{ "socks4://h", "unsupported proxy scheme: socks4" },
		{ "http://h:0", "invalid port" },
		{ "http://h:65536", "invalid port" },
		{ "http://h:8x", "invalid port" },
		{ "http://h:", "invalid port" },
		{ "http://h/path", "no path" },
		{ "http://:80", "missing or too long host" },
		{ "http://[::1", "invalid IPv6 host" },
		{ "http://[nothex]:1", "invalid IPv6 host" },
		{ "http://[::1]x", "junk after" },
		{ "http://h$x", "invalid host" },
		{ "http://a b", "invalid character" },
		{ "http://u:%zz@h", "user information" },
		{ "http://u:%00@h", "user information" },
		{ "http://u:%4@h", "user information" },
		{ "://h", "invalid proxy URL scheme" },
	};
	struct ls_proxy	 px;
	char		 err[256], longu[400];
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(proxy_parse(bad[i].url, &px, err,
		    sizeof(err)) == -1, "\"%s\" accepted", bad[i].url);
		ck_assert_msg(strstr(err, bad[i].err) != NULL,
		    "\"%s\": \"%s\" lacks \"%s\"", bad[i].url, err,
		    bad[i].err);
	}
	/* RFC 1929 sends a length byte. */
	memset(longu, 'u', 256);
	snprintf(longu + 256, sizeof(longu) - 256, ":p@h");
	memmove(longu + 9, longu, strlen(longu) + 1);
	memcpy(longu, "socks5://", 9);
	ck_assert_int_eq(proxy_parse(longu, &px, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "too long user information"));
}
END_TEST

START_TEST(no_proxy)
{
	static const struct {
		const char	*list;
		const char	*host;
		int		 hit;
	} t[] = {
		{ "*", "anything.example", 1 },
		{ "example.org", "example.org", 1 },
		{ "example.org", "www.EXAMPLE.org", 1 },
		{ "example.org", "badexample.org", 0 },
		{ ".example.org", "example.org", 1 },
		{ "*.example.org", "a.b.example.org", 1 },
		{ "example.org.", "x.example.org", 1 },
		{ "a.test, b.test", "b.test", 1 },
		{ "a.test,,b.test", "c.test", 0 },
		{ "127.0.0.1", "127.0.0.1", 1 },
		{ "127.0.0.1", "127.0.0.2", 0 },
		{ "127.0.0.0/8", "127.9.9.9", 1 },
		{ "10.0.0.0/8", "127.0.0.1", 0 },
		{ "127.0.0.0/33", "127.0.0.1", 0 },
		{ "::1", "::1", 1 },
		{ "[::1]", "::1", 1 },
		{ "fd00::/8", "fd12::1", 1 },
		{ "fd00::/8", "fe80::1", 0 },
		{ "127.0.0.1", "localhost", 0 },
		{ "localhost", "127.0.0.1", 0 },
		{ "", "x", 0 },
	};
	size_t	i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		ck_assert_msg(proxy_no_proxy(t[i].list, t[i].host) == t[i].hit,
		    "NO_PROXY=\"%s\" host %s: want %d", t[i].list, t[i].host,
		    t[i].hit);
}
END_TEST

static void
env_clear(void)
{
	static const char *const v[] = { "http_proxy", "HTTP_PROXY",
	    "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
	    "no_proxy", "NO_PROXY" };
	size_t	i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		unsetenv(v[i]);
}

START_TEST(from_env)
{
	struct ls_url	 ws, wss;
	struct ls_proxy	 px;
	char		 err[256];

	ck_assert_int_eq(url_parse("ws://srv.test:80/", &ws, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(url_parse("wss://srv.test/", &wss, err,
	    sizeof(err)), 0);
	env_clear();
	ck_assert_int_eq(proxy_from_env(&ws, &px, err, sizeof(err)), 0);

	setenv("HTTPS_PROXY", "http://tls-proxy:1", 1);
	setenv("HTTP_PROXY", "http://plain-proxy:2", 1);
	ck_assert_int_eq(proxy_from_env(&wss, &px, err, sizeof(err)), 1);
	ck_assert_str_eq(px.px_host, "tls-proxy");
	ck_assert_int_eq(proxy_from_env(&ws, &px, err, sizeof(err)), 1);
	ck_assert_str_eq(px.px_host, "plain-proxy");

	/* Lower case first. */
	setenv("http_proxy", "http://lower:3", 1);
	ck_assert_int_eq(proxy_from_env(&ws, &px, err, sizeof(err)), 1);
	ck_assert_str_eq(px.px_host, "lower");

	/* ALL_PROXY when the scheme's own is unset; an empty one is unset. */
	env_clear();
	setenv("HTTPS_PROXY", "", 1);
	setenv("ALL_PROXY", "socks5h://all:4", 1);
	ck_assert_int_eq(proxy_from_env(&wss, &px, err, sizeof(err)), 1);
	ck_assert_int_eq(px.px_kind, PROXY_SOCKS5);
	ck_assert_str_eq(px.px_host, "all");

	setenv("NO_PROXY", "other.test, .srv.test", 1);
	ck_assert_int_eq(proxy_from_env(&wss, &px, err, sizeof(err)), 0);
	setenv("no_proxy", "other.test", 1);	/* wins over NO_PROXY */
	ck_assert_int_eq(proxy_from_env(&wss, &px, err, sizeof(err)), 1);

	env_clear();
	setenv("HTTPS_PROXY", "gopher://x", 1);
	ck_assert_int_eq(proxy_from_env(&wss, &px, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "HTTPS_PROXY: unsupported proxy "
	    "scheme: gopher"));
	env_clear();
}
END_TEST

START_TEST(socks_strerror)
{
	ck_assert_str_eq(proxy_socks_strerror(5), "connection refused");
	ck_assert_str_eq(proxy_socks_strerror(2),
	    "connection not allowed by ruleset");
	ck_assert_str_eq(proxy_socks_strerror(9), "unknown SOCKS5 reply code");
	ck_assert_str_eq(proxy_socks_strerror(-1),
	    "unknown SOCKS5 reply code");
}
END_TEST

/* ---- the exchange against a scripted proxy ----------------------------- */

#define STEPS	4

/* After step i's expect bytes have arrived in all, write its reply. */
struct script {
	size_t		 expect[STEPS];
	const char	*reply[STEPS];
	size_t		 replylen[STEPS];
	int		 close_after;	/* close once the last step is sent */
	int		 split;		/* replies a byte, then the rest */
};

struct fake {
	struct event_base	*base;
	struct evconnlistener	*lev;
	struct bufferevent	*bev;
	const struct script	*sc;
	int			 step;
	struct evbuffer		*got;	/* everything the client sent */
	struct event		*later;
	const char		*rest;
	size_t			 restlen;
	/* the outcome */
	int			 done;
	struct proxy_result	 res;
	char			 leftover[64];
	size_t			 leftlen;
};

static void
fake_later(evutil_socket_t fd, short ev, void *arg)
{
	struct fake	*f = arg;

	bufferevent_write(f->bev, f->rest, f->restlen);
}

static void
fake_read(struct bufferevent *bev, void *arg)
{
	struct fake		*f = arg;
	const struct script	*sc = f->sc;
	struct timeval		 tv = { 0, 20000 };
	size_t			 n;

	evbuffer_add_buffer(f->got, bufferevent_get_input(bev));
	while (f->step < STEPS && sc->reply[f->step] != NULL &&
	    evbuffer_get_length(f->got) >= sc->expect[f->step]) {
		n = sc->replylen[f->step];
		if (sc->split && n > 1) {
			bufferevent_write(bev, sc->reply[f->step], 1);
			f->rest = sc->reply[f->step] + 1;
			f->restlen = n - 1;
			event_add(f->later, &tv);
		} else
			bufferevent_write(bev, sc->reply[f->step], n);
		f->step++;
	}
	if (sc->close_after && (f->step == STEPS ||
	    sc->reply[f->step] == NULL)) {
		bufferevent_free(bev);
		f->bev = NULL;
	}
}

static void
fake_accept(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct fake	*f = arg;

	f->bev = bufferevent_socket_new(f->base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(f->bev, fake_read, NULL, NULL, f);
	bufferevent_enable(f->bev, EV_READ | EV_WRITE);
}

static void
fake_done(const struct proxy_result *res, void *arg)
{
	struct fake	*f = arg;

	f->done = 1;
	f->res = *res;
	f->res.pr_bev = NULL;
	if (res->pr_bev != NULL) {
		f->leftlen = evbuffer_remove(bufferevent_get_input(res->pr_bev),
		    f->leftover, sizeof(f->leftover));
		bufferevent_free(res->pr_bev);
	}
	event_base_loopexit(f->base, NULL);
}

/* Run one exchange of cmd for host:port through proxy URL against sc. */
static void
run(struct fake *f, const struct script *sc, const char *scheme,
    int cmd, const char *host, uint16_t port)
{
	struct sockaddr_in	 sin;
	socklen_t		 slen = sizeof(sin);
	struct evdns_base	*dns;
	struct ls_proxy		 px;
	struct proxy_conn	*pc;
	char			 url[128], err[256];
	struct timeval		 limit = { 5, 0 };

	memset(f, 0, sizeof(*f));
	f->sc = sc;
	f->base = event_base_new();
	f->got = evbuffer_new();
	f->later = evtimer_new(f->base, fake_later, f);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->lev = evconnlistener_new_bind(f->base, fake_accept, f,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 8,
	    (struct sockaddr *)&sin, sizeof(sin));
	ck_assert_ptr_nonnull(f->lev);
	getsockname(evconnlistener_get_fd(f->lev), (struct sockaddr *)&sin,
	    &slen);
	snprintf(url, sizeof(url), "%s:%u", scheme, ntohs(sin.sin_port));
	ck_assert_msg(proxy_parse(url, &px, err, sizeof(err)) == 0, "%s",
	    err);
	dns = evdns_base_new(f->base, 0);
	pc = proxy_open(f->base, dns, &px, cmd, host, port, fake_done, f);
	ck_assert_ptr_nonnull(pc);
	event_base_loopexit(f->base, &limit);
	event_base_dispatch(f->base);
	ck_assert_msg(f->done, "no answer within 5 s");
	if (f->bev != NULL)
		bufferevent_free(f->bev);
	evconnlistener_free(f->lev);
	event_free(f->later);
	evdns_base_free(dns, 0);
	event_base_free(f->base);
}

static void
assert_sent(struct fake *f, const void *want, size_t len)
{
	size_t		 n = evbuffer_get_length(f->got);
	unsigned char	*p = evbuffer_pullup(f->got, -1);

	ck_assert_msg(n == len && memcmp(p, want, len) == 0,
	    "sent %zu bytes, wanted %zu (or different bytes)", n, len);
	evbuffer_free(f->got);
}

#define S(x)	x, sizeof(x) - 1

START_TEST(socks_connect_name)
{
	struct script	 sc = {
		{ 3, 3 + 7 + 10 },
		{ "\x05\x00", "\x05\x00\x00\x01\x7f\x00\x00\x01\x04\x38"
		    "SSH-2.0-x\r\n" },
		{ 2, 10 + 11 }, 0, 0
	};
	struct fake	 f;

	run(&f, &sc, "socks5://127.0.0.1", PROXY_CMD_CONNECT,
	    "target.test", 443);
	ck_assert_int_eq(f.res.pr_error, 0);
	/* The banner after the reply stays for the caller. */
	ck_assert_int_eq(f.leftlen, 11);
	ck_assert_int_eq(memcmp(f.leftover, "SSH-2.0-x\r\n", 11), 0);
	assert_sent(&f, S("\x05\x01\x00" "\x05\x01\x00\x03\x0btarget.test"
	    "\x01\xbb"));
}
END_TEST

START_TEST(socks_auth_split)
{
	/* Every reply arrives a byte first, then the rest. */
	struct script	 sc = {
		{ 4, 4 + 12, 4 + 12 + 22 },
		{ "\x05\x02", "\x01\x00", "\x05\x00\x00\x04"
		    "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01\x00\x50" },
		{ 2, 2, 22 }, 0, 1
	};
	struct fake	 f;

	run(&f, &sc, "socks5://alice:s3cret@127.0.0.1", PROXY_CMD_CONNECT,
	    "2001:db8::1", 80);
	ck_assert_msg(f.res.pr_error == 0, "%s", f.res.pr_text);
	ck_assert_int_eq(f.leftlen, 0);
	assert_sent(&f, S("\x05\x02\x00\x02" "\x01\x05" "alice" "\x06"
	    "s3cret" "\x05\x01\x00\x04\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0"
	    "\x01\x00\x50"));
}
END_TEST

START_TEST(socks_refusals)
{
	struct script	 refused = {
		{ 3, 13 }, { "\x05\x00", "\x05\x05\x00\x01\0\0\0\0\0\0" },
		{ 2, 10 }, 0, 0
	};
	struct script	 noauth = { { 3 }, { "\x05\xff" }, { 2 }, 0, 0 };
	struct script	 badauth = {
		{ 4, 9 }, { "\x05\x02", "\x01\x01" }, { 2, 2 }, 0, 0
	};
	struct script	 version = { { 3 }, { "\x04\x00" }, { 2 }, 0, 0 };
	struct script	 closes = { { 3 }, { "\x05" }, { 1 }, 1, 0 };
	struct script	 atyp = {
		{ 3, 11 }, { "\x05\x00", "\x05\x00\x00\x07\0\0\0\0\0\0" },
		{ 2, 10 }, 0, 0
	};
	struct fake	 f;

	run(&f, &refused, "socks5://127.0.0.1", PROXY_CMD_CONNECT,
	    "127.0.0.1", 9);
	ck_assert_int_eq(f.res.pr_error, ECONNREFUSED);
	ck_assert_ptr_nonnull(strstr(f.res.pr_text, "socks5 connect error: "
	    "connection refused (5)"));
	ck_assert_ptr_nonnull(strstr(f.res.pr_text, "proxy socks5://"));
	evbuffer_free(f.got);

	run(&f, &noauth, "socks5://127.0.0.1", PROXY_CMD_CONNECT, "h", 1);
	ck_assert_int_eq(f.res.pr_error, EACCES);
	ck_assert_ptr_nonnull(strstr(f.res.pr_text, "no acceptable "
	    "authentication method"));
	evbuffer_free(f.got);

	run(&f, &badauth, "socks5://u:p@127.0.0.1", PROXY_CMD_CONNECT,
	    "h", 1);
	ck_assert_int_eq(f.res.pr_error, EACCES);
	ck_assert_ptr_nonnull(strstr(f.res.pr_text, "authentication failed"));
	ck_assert_ptr_null(strstr(f.res.pr_text, ":p@"));
	evbuffer_free(f.got);

	run(&f, &version, "socks5://127.0.0.1", PROXY_CMD_CONNECT, "h", 1);
	ck_assert_int_eq(f.res.pr_error, EPROTO);
	ck_assert_ptr_nonnull(strstr(f.res.pr_text, "invalid socks version: "
	    "4"));
	evbuffer_free(f.got);

	run(&f, &closes, "socks5://127.0.0.1", PROXY_CMD_CONNECT, "h", 1);
	ck_assert_int_eq(f.res.pr_error, EPROTO);
	ck_assert_ptr_nonnull(strstr(f.res.pr_text, "closed the connection"));
	evbuffer_free(f.got);

	run(&f, &atyp, "socks5://127.0.0.1", PROXY_CMD_CONNECT, "h", 1);
	ck_assert_int_eq(f.res.pr_error, EPROTO);
	ck_assert_ptr_nonnull(strstr(f.res.pr_text, "bad address type 7"));
	evbuffer_free(f.got);
}
END_TEST

START_TEST(socks_udp_associate)
{
	/* BND.ADDR 0.0.0.0: the relay is at the proxy's own address. */
	struct script	 sc = {
		{ 3, 13 }, { "\x05\x00", "\x05\x00\x00\x01\0\0\0\0\x12\x34" },
		{ 2, 10 }, 0, 0
	};
	struct fake		 f;
	struct sockaddr_in	*sin;

	run(&f, &sc, "socks5://127.0.0.1", PROXY_CMD_UDP, "0.0.0.0", 0);
	ck_assert_msg(f.res.pr_error == 0, "%s", f.res.pr_text);
	sin = (struct sockaddr_in *)&f.res.pr_bound;
	ck_assert_int_eq(sin->sin_family, AF_INET);
	ck_assert_int_eq(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
	ck_assert_int_eq(ntohs(sin->sin_port), 0x1234);
	assert_sent(&f, S("\x05\x01\x00" "\x05\x03\x00\x01\0\0\0\0\0\0"));
}
END_TEST

START_TEST(http_connect)
{
	static const char ok[] = "HTTP/1.1 200 Connection established\r\n"
	    "Proxy-Agent: test\r\n\r\nEARLY";
	static const char want[] = "CONNECT [::1]:8765 HTTP/1.1\r\n"
	    "Host: [::1]:8765\r\n"
	    "Proxy-Authorization: Basic YWxpY2U6czNjcjN0\r\n";
	struct script	 sc = { { sizeof(want) - 1 }, { ok },
		{ sizeof(ok) - 1 }, 0, 1 };
	struct fake	 f;
	unsigned char	*p;

	run(&f, &sc, "http://alice:s3cr3t@127.0.0.1", PROXY_CMD_CONNECT,
	    "::1", 8765);
	ck_assert_msg(f.res.pr_error == 0, "%s", f.res.pr_text);
	ck_assert_int_eq(f.leftlen, 5);
	ck_assert_int_eq(memcmp(f.leftover, "EARLY", 5), 0);
	p = evbuffer_pullup(f.got, -1);
	ck_assert_int_eq(memcmp(p, want, sizeof(want) - 1), 0);
	ck_assert_ptr_nonnull(strstr((char *)p, "\r\n\r\n"));
	evbuffer_free(f.got);
}
END_TEST

START_TEST(http_refusals)
{
	static const char r407[] = "HTTP/1.1 407 Proxy Authentication "
	    "Required\r\nProxy-Authenticate: Basic realm=\"x\"\r\n"
	    "Content-Length: 0\r\n\r\n";
	static const char r502[] = "HTTP/1.0 502 Bad Gateway\r\n\r\n";
	static const char junk[] = "SSH-2.0-not-a-proxy\r\n\r\n";
	struct script	 s407 = { { 10 }, { r407 }, { sizeof(r407) - 1 }, 0,
		0 };
	struct script	 s502 = { { 10 }, { r502 }, { sizeof(r502) - 1 }, 0,
		0 };
	struct script	 sjunk = { { 10 }, { junk }, { sizeof(junk) - 1 },
		0, 0 };
	struct fake	 f;

	run(&f, &s407, "http://127.0.0.1", PROXY_CMD_CONNECT, "h.test",
	    443);
	ck_assert_int_eq(f.res.pr_error, EACCES);
	ck_assert_ptr_nonnull(strstr(f.res.pr_text, "HTTP CONNECT failed: 407 "
	    "Proxy Authentication Required"));
	evbuffer_free(f.got);

	run(&f, &s502, "http://127.0.0.1", PROXY_CMD_CONNECT, "h.test",
	    443);
	ck_assert_int_eq(f.res.pr_error, ECONNREFUSED);
	ck_assert_ptr_nonnull(strstr(f.res.pr_text, "502 Bad Gateway"));
	evbuffer_free(f.got);

	run(&f, &sjunk, "http://127.0.0.1", PROXY_CMD_CONNECT, "h.test",
	    443);
	ck_assert_int_eq(f.res.pr_error, EPROTO);
	ck_assert_ptr_nonnull(strstr(f.res.pr_text, "malformed answer"));
	evbuffer_free(f.got);
}
END_TEST

START_TEST(bad_requests)
{
	struct event_base	*base = event_base_new();
	struct ls_proxy		 px;
	char			 err[256], name[300];

	ck_assert_int_eq(proxy_parse("http://127.0.0.1:1", &px, err,
	    sizeof(err)), 0);
	/* HTTP proxies carry no UDP. */
	ck_assert_ptr_null(proxy_open(base, NULL, &px, PROXY_CMD_UDP,
	    "0.0.0.0", 0, fake_done, NULL));
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	ck_assert_ptr_null(proxy_open(base, NULL, &px, PROXY_CMD_CONNECT,
	    name, 80, fake_done, NULL));
	event_base_free(base);
}
END_TEST

static Suite *
proxy_suite(void)
{
	Suite	*s = suite_create("proxy");
	TCase	*tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, parse_good);
	tcase_add_test(tc, parse_bad);
	tcase_add_test(tc, no_proxy);
	tcase_add_test(tc, from_env);
	tcase_add_test(tc, socks_strerror);
	tcase_add_test(tc, socks_connect_name);
	tcase_add_test(tc, socks_auth_split);
	tcase_add_test(tc, socks_refusals);
	tcase_add_test(tc, socks_udp_associate);
	tcase_add_test(tc, http_connect);
	tcase_add_test(tc, http_refusals);
	tcase_add_test(tc, bad_requests);
	suite_add_tcase(s, tc);
	return (s);
}

const check_suite_fn check_suites[] = { proxy_suite, NULL };
