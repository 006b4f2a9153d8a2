/*
 * check_socks5.c -- unit tests for the resumable SOCKS5 parser (socks5.c):
 * exact reply bytes for every path, every truncation point, byte-at-a-time
 * feeding, early data, IPv6 text and RFC 1929 credentials.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "linksocks.h"
#include "lib/check_main.h"

#define GREET_NONE	"\x05\x01\x00"
#define GREET_USER	"\x05\x01\x02"
#define REQ_V4		"\x05\x01\x00\x01\x01\x02\x03\x04\x01\xbb"
#define REQ_DOM		"\x05\x01\x00\x03\x0b" "example.com\x00\x50"
#define REQ_V6		"\x05\x01\x00\x04" \
			"\x20\x01\x0d\xb8\x00\x00\x00\x00" \
			"\x00\x00\x00\x00\x00\x00\x00\x01\x1f\x90"
#define AUTH_OK		"\x01\x04user\x06secret"

/* A string literal with its length, embedded NULs included. */
#define B(s)		(const uint8_t *)(s), (sizeof(s) - 1)

static const uint8_t	 rep_fail[] = { 5, 1, 0, 1, 0, 0, 0, 0, 0, 0 };
static const uint8_t	 rep_atyp[] = { 5, 8, 0, 1, 0, 0, 0, 0, 0, 0 };
static const uint8_t	 rep_cmd[] = { 5, 7, 0, 1, 0, 0, 0, 0, 0, 0 };

static struct evbuffer	*in, *out;
static struct socks5	 s5;

static void
setup(void)
{
	in = evbuffer_new();
	out = evbuffer_new();
	ck_assert_ptr_nonnull(in);
	ck_assert_ptr_nonnull(out);
	socks5_init(&s5, NULL, NULL);
}

static void
teardown(void)
{
	evbuffer_free(in);
	evbuffer_free(out);
}

static enum socks5_state
feed(const uint8_t *p, size_t len)
{
	ck_assert_int_eq(evbuffer_add(in, p, len), 0);
	return (socks5_input(&s5, in, out));
}

/* The output holds exactly these bytes; it is then emptied. */
static void
out_is(const uint8_t *p, size_t len)
{
	size_t	 n = evbuffer_get_length(out);
	uint8_t	*q;

	ck_assert_uint_eq(n, len);
	if (len > 0) {
		q = evbuffer_pullup(out, -1);
		ck_assert_mem_eq(q, p, len);
	}
	evbuffer_drain(out, n);
}

static void
in_is(const uint8_t *p, size_t len)
{
	ck_assert_uint_eq(evbuffer_get_length(in), len);
	if (len > 0)
		ck_assert_mem_eq(evbuffer_pullup(in, -1), p, len);
}

/* ---- method negotiation ------------------------------------------ */

START_TEST(test_greet_none)
{
	ck_assert_int_eq(feed(B(GREET_NONE)), S5_REQUEST);
	out_is(B("\x05\x00"));
	in_is(NULL, 0);
	ck_assert_int_eq(s5.s5_anyauth, 0);
}
END_TEST

START_TEST(test_greet_none_among_others)
{
	ck_assert_int_eq(feed(B("\x05\x03\x01\x80\x00")), S5_REQUEST);
	out_is(B("\x05\x00"));
}
END_TEST

START_TEST(test_greet_bad_version)
{
	ck_assert_int_eq(feed(B("\x04\x01\x00")), S5_FAILED);
	out_is(rep_fail, sizeof(rep_fail));
	ck_assert_str_eq(s5.s5_error, "bad version");
}
END_TEST

START_TEST(test_greet_nmethods_zero)
{
	ck_assert_int_eq(feed(B("\x05\x00")), S5_FAILED);
	out_is(rep_fail, sizeof(rep_fail));
	ck_assert_ptr_nonnull(s5.s5_error);
}
END_TEST

START_TEST(test_greet_no_acceptable)
{
	/* No credentials configured, only GSSAPI offered. */
	ck_assert_int_eq(feed(B("\x05\x01\x01")), S5_FAILED);
	out_is(B("\x05\xff"));
	ck_assert_str_eq(s5.s5_error, "no acceptable method");
}
END_TEST

START_TEST(test_greet_creds_no_user_method)
{
	socks5_init(&s5, "user", "secret");
	ck_assert_int_eq(feed(B(GREET_NONE)), S5_FAILED);
	out_is(B("\x05\xff"));
	ck_assert_str_eq(s5.s5_error, "no acceptable method");
}
END_TEST

START_TEST(test_greet_creds_prefers_user)
{
	socks5_init(&s5, "user", "secret");
	ck_assert_int_eq(feed(B("\x05\x02\x00\x02")), S5_AUTH);
	out_is(B("\x05\x02"));
}
END_TEST

START_TEST(test_greet_half_creds_is_none)
{
	/* Both must be non-empty, otherwise no authentication. */
	socks5_init(&s5, "user", "");
	ck_assert_int_eq(feed(B(GREET_NONE)), S5_REQUEST);
	out_is(B("\x05\x00"));
	socks5_init(&s5, NULL, "secret");
	ck_assert_int_eq(feed(B(GREET_NONE)), S5_REQUEST);
	out_is(B("\x05\x00"));
}
END_TEST

/* ---- RFC 1929 ------------------------------------------------------ */

START_TEST(test_auth_ok)
{
	socks5_init(&s5, "user", "secret");
	ck_assert_int_eq(feed(B(GREET_USER AUTH_OK)), S5_REQUEST);
	out_is(B("\x05\x02\x01\x00"));
	ck_assert_str_eq(s5.s5_user_got, "user");
	ck_assert_int_eq(s5.s5_anyauth, 0);
	in_is(NULL, 0);
}
END_TEST

static const struct {
	const char	*wire;
	size_t		 len;
} bad_creds[] = {
	{ "\x01\x04user\x06secreT", 13 },
	{ "\x01\x04User\x06secret", 13 },
	{ "\x01\x04user\x05secre", 12 },
	{ "\x01\x04user\x07secret!", 14 },
	{ "\x01\x05user!\x06secret", 14 },
	{ "\x01\x00\x06secret", 9 },
	{ "\x01\x04user\x00", 7 },
	{ "\x01\x00\x00", 3 },
	{ "\x01\x06secret\x04user", 13 },
	{ "\x01\x04user\x06secre\x00", 13 },
};

START_TEST(test_auth_bad)
{
	socks5_init(&s5, "user", "secret");
	ck_assert_int_eq(feed(B(GREET_USER)), S5_AUTH);
	out_is(B("\x05\x02"));
	ck_assert_int_eq(feed((const uint8_t *)bad_creds[_i].wire,
	    bad_creds[_i].len), S5_FAILED);
	out_is(B("\x01\x01"));
	ck_assert_str_eq(s5.s5_error, "authentication failed");
}
END_TEST

START_TEST(test_auth_bad_version)
{
	socks5_init(&s5, "user", "secret");
	ck_assert_int_eq(feed(B(GREET_USER)), S5_AUTH);
	out_is(B("\x05\x02"));
	/* Decided on the version byte alone. */
	ck_assert_int_eq(feed(B("\x05")), S5_FAILED);
	out_is(B("\x01\x01"));
	ck_assert_ptr_nonnull(s5.s5_error);
}
END_TEST

START_TEST(test_auth_any_without_creds)
{
	ck_assert_int_eq(feed(B(GREET_USER)), S5_AUTH);
	out_is(B("\x05\x02"));
	ck_assert_int_eq(s5.s5_anyauth, 1);
	ck_assert_int_eq(feed(B("\x01\x03" "bob\x02pw")), S5_REQUEST);
	out_is(B("\x01\x00"));
	ck_assert_str_eq(s5.s5_user_got, "bob");
	ck_assert_int_eq(feed(B(REQ_V4)), S5_DONE);
	out_is(NULL, 0);
}
END_TEST

START_TEST(test_auth_any_empty)
{
	ck_assert_int_eq(feed(B(GREET_USER "\x01\x00\x00")), S5_REQUEST);
	out_is(B("\x05\x02\x01\x00"));
	ck_assert_str_eq(s5.s5_user_got, "");
}
END_TEST

START_TEST(test_auth_any_bad_version)
{
	ck_assert_int_eq(feed(B(GREET_USER "\x02\x03" "bob\x02pw")), S5_FAILED);
	out_is(B("\x05\x02\x01\x01"));
}
END_TEST

START_TEST(test_auth_long)
{
	char	 user[256], pass[256];
	uint8_t	 wire[3 + 255 + 255 + 3];

	memset(user, 'u', 255);
	user[255] = '\0';
	memset(pass, 'p', 255);
	pass[255] = '\0';
	socks5_init(&s5, user, pass);
	wire[0] = 5; wire[1] = 1; wire[2] = 2;
	wire[3] = 1;
	wire[4] = 255;
	memcpy(&wire[5], user, 255);
	wire[260] = 255;
	memcpy(&wire[261], pass, 255);
	ck_assert_int_eq(feed(wire, 516), S5_REQUEST);
	out_is(B("\x05\x02\x01\x00"));
	ck_assert_str_eq(s5.s5_user_got, user);
}
END_TEST

/* ---- requests -------------------------------------------------------- */

static void
to_request(void)
{
	ck_assert_int_eq(feed(B(GREET_NONE)), S5_REQUEST);
	out_is(B("\x05\x00"));
}

START_TEST(test_req_ipv4)
{
	to_request();
	ck_assert_int_eq(feed(B(REQ_V4)), S5_DONE);
	out_is(NULL, 0);
	in_is(NULL, 0);
	ck_assert_uint_eq(s5.s5_cmd, S5_CMD_CONNECT);
	ck_assert_uint_eq(s5.s5_atyp, S5_ATYP_IPV4);
	ck_assert_str_eq(s5.s5_host, "1.2.3.4");
	ck_assert_uint_eq(s5.s5_port, 443);
	ck_assert_ptr_null(s5.s5_error);
}
END_TEST

START_TEST(test_req_ipv4_edges)
{
	to_request();
	ck_assert_int_eq(feed(B("\x05\x01\x00\x01\xff\x00\x00\xff\xff\xff")),
	    S5_DONE);
	ck_assert_str_eq(s5.s5_host, "255.0.0.255");
	ck_assert_uint_eq(s5.s5_port, 65535);
}
END_TEST

START_TEST(test_req_domain)
{
	to_request();
	ck_assert_int_eq(feed(B(REQ_DOM)), S5_DONE);
	out_is(NULL, 0);
	ck_assert_uint_eq(s5.s5_atyp, S5_ATYP_DOMAIN);
	ck_assert_str_eq(s5.s5_host, "example.com");
	ck_assert_uint_eq(s5.s5_port, 80);
}
END_TEST

START_TEST(test_req_domain_255)
{
	uint8_t	 req[4 + 1 + 255 + 2];
	char	 want[256];

	memcpy(req, "\x05\x01\x00\x03", 4);
	req[4] = 255;
	memset(&req[5], 'a', 255);
	req[5 + 254] = 'Z';		/* verbatim, case kept */
	req[260] = 0x12;
	req[261] = 0x34;
	memset(want, 'a', 254);
	want[254] = 'Z';
	want[255] = '\0';
	to_request();
	/* One byte short first. */
	ck_assert_int_eq(feed(req, sizeof(req) - 1), S5_REQUEST);
	ck_assert_uint_eq(evbuffer_get_length(in), sizeof(req) - 1);
	ck_assert_int_eq(feed(&req[sizeof(req) - 1], 1), S5_DONE);
	ck_assert_str_eq(s5.s5_host, want);
	ck_assert_uint_eq(strlen(s5.s5_host), 255);
	ck_assert_uint_eq(s5.s5_port, 0x1234);
	in_is(NULL, 0);
}
END_TEST

START_TEST(test_req_domain_empty)
{
	to_request();
	/* Decided on the length byte, before any port bytes. */
	ck_assert_int_eq(feed(B("\x05\x01\x00\x03\x00")), S5_FAILED);
	out_is(rep_fail, sizeof(rep_fail));
}
END_TEST

START_TEST(test_req_domain_nul)
{
	to_request();
	ck_assert_int_eq(feed(B("\x05\x01\x00\x03\x03\x61\x00\x62\x00\x50")),
	    S5_FAILED);
	out_is(rep_fail, sizeof(rep_fail));
}
END_TEST

START_TEST(test_req_bad_version)
{
	to_request();
	ck_assert_int_eq(feed(B("\x04\x01\x00\x01")), S5_FAILED);
	out_is(rep_fail, sizeof(rep_fail));
	ck_assert_str_eq(s5.s5_error, "bad version");
}
END_TEST

static const uint8_t bad_atyp[] = { 0x00, 0x02, 0x05, 0x06, 0xff };

START_TEST(test_req_bad_atyp)
{
	uint8_t	 req[] = { 5, 1, 0, 0 };

	req[3] = bad_atyp[_i];
	to_request();
	ck_assert_int_eq(feed(req, sizeof(req)), S5_FAILED);
	out_is(rep_atyp, sizeof(rep_atyp));
	ck_assert_str_eq(s5.s5_error, "unsupported address type");
}
END_TEST

static const uint8_t bad_cmd[] = { 0x00, S5_CMD_BIND, 0x04, 0x80, 0xff };

START_TEST(test_req_bad_cmd)
{
	uint8_t	 req[] = { 5, 0, 0, 1, 10, 0, 0, 1, 0, 80 };

	req[1] = bad_cmd[_i];
	to_request();
	ck_assert_int_eq(feed(req, sizeof(req)), S5_FAILED);
	out_is(rep_cmd, sizeof(rep_cmd));
	ck_assert_str_eq(s5.s5_error, "command not supported");
}
END_TEST

START_TEST(test_req_bind_exact)
{
	to_request();
	ck_assert_int_eq(feed(B("\x05\x02\x00\x03\x01x\x00\x15")), S5_FAILED);
	out_is(B("\x05\x07\x00\x01\x00\x00\x00\x00\x00\x00"));
}
END_TEST

START_TEST(test_req_udp)
{
	to_request();
	ck_assert_int_eq(feed(B("\x05\x03\x00\x01\x00\x00\x00\x00\x00\x00")),
	    S5_DONE);
	out_is(NULL, 0);
	ck_assert_uint_eq(s5.s5_cmd, S5_CMD_UDP);
	ck_assert_str_eq(s5.s5_host, "0.0.0.0");
	ck_assert_uint_eq(s5.s5_port, 0);
}
END_TEST

START_TEST(test_req_early_data)
{
	to_request();
	ck_assert_int_eq(feed(B(REQ_DOM "GET / HTTP/1.0\r\n\r\n")), S5_DONE);
	out_is(NULL, 0);
	in_is(B("GET / HTTP/1.0\r\n\r\n"));
	/* Further input in DONE is left alone. */
	ck_assert_int_eq(feed(B("more")), S5_DONE);
	in_is(B("GET / HTTP/1.0\r\n\r\nmore"));
	out_is(NULL, 0);
}
END_TEST

START_TEST(test_pipelined_all)
{
	socks5_init(&s5, "user", "secret");
	ck_assert_int_eq(feed(B(GREET_USER AUTH_OK REQ_V6 "\x00\x01")),
	    S5_DONE);
	out_is(B("\x05\x02\x01\x00"));
	in_is(B("\x00\x01"));
	ck_assert_str_eq(s5.s5_host, "2001:db8::1");
	ck_assert_uint_eq(s5.s5_port, 8080);
}
END_TEST

START_TEST(test_failed_is_sticky)
{
	ck_assert_int_eq(feed(B("\x04\x01\x00")), S5_FAILED);
	out_is(rep_fail, sizeof(rep_fail));
	ck_assert_int_eq(feed(B(GREET_NONE)), S5_FAILED);
	out_is(NULL, 0);
	ck_assert_uint_eq(evbuffer_get_length(in), 6);
}
END_TEST

START_TEST(test_empty_input)
{
	ck_assert_int_eq(socks5_input(&s5, in, out), S5_GREETING);
	out_is(NULL, 0);
}
END_TEST

/* ---- IPv6 text ------------------------------------------------------- */

static const struct {
	const char	*text;		/* parsed with inet_pton */
	const char	*want;		/* Go net.IP.String() */
} v6[] = {
	{ "::", "::" },
	{ "::1", "::1" },
	{ "1::", "1::" },
	{ "2001:db8::1", "2001:db8::1" },
	{ "2001:DB8:0:0:0:0:0:ABCD", "2001:db8::abcd" },
	{ "2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1" },
	{ "2001:0:0:1:0:0:0:1", "2001:0:0:1::1" },
	{ "2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1" },
	{ "1:0:2:0:3:0:4:0", "1:0:2:0:3:0:4:0" },
	{ "fe80::1:2", "fe80::1:2" },
	{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" },
	{ "::ffff:1.2.3.4", "1.2.3.4" },
	{ "::ffff:0.0.0.0", "0.0.0.0" },
	{ "::ffff:255.255.255.255", "255.255.255.255" },
	/* Not mapped: hex groups, unlike glibc's "::1.2.3.4". */
	{ "::1.2.3.4", "::102:304" },
	{ "::1:2", "::1:2" },
	{ "::fffe:1.2.3.4", "::fffe:102:304" },
	{ "::ffff:0:1.2.3.4", "::ffff:0:102:304" },
	{ "64:ff9b::1.2.3.4", "64:ff9b::102:304" },
	{ "0:0:1::", "0:0:1::" },
	{ "1:0:0:2:0:0:0:0", "1:0:0:2::" },
};

START_TEST(test_req_ipv6)
{
	uint8_t	 req[22];

	memcpy(req, "\x05\x01\x00\x04", 4);
	ck_assert_int_eq(inet_pton(AF_INET6, v6[_i].text, &req[4]), 1);
	req[20] = 0;
	req[21] = 22;
	to_request();
	ck_assert_int_eq(feed(req, sizeof(req)), S5_DONE);
	ck_assert_uint_eq(s5.s5_atyp, S5_ATYP_IPV6);
	ck_assert_str_eq(s5.s5_host, v6[_i].want);
	ck_assert_uint_eq(s5.s5_port, 22);
}
END_TEST

/* ---- truncation and resumption ----------------------------------- */

struct conv {
	const char	*user, *pass;
	const uint8_t	*unit[3];	/* greeting, auth?, request */
	size_t		 len[3];
};

#define U(s)		(const uint8_t *)(s)
#define L(s)		(sizeof(s) - 1)

static const struct conv convs[] = {
	{ NULL, NULL, { U(GREET_NONE), U(REQ_V4) },
	    { L(GREET_NONE), L(REQ_V4) } },
	{ NULL, NULL, { U(GREET_NONE), U(REQ_DOM) },
	    { L(GREET_NONE), L(REQ_DOM) } },
	{ NULL, NULL, { U("\x05\x02\x01\x00"), U(REQ_V6) },
	    { 4, L(REQ_V6) } },
	{ "user", "secret", { U(GREET_USER), U(AUTH_OK), U(REQ_V4) },
	    { L(GREET_USER), L(AUTH_OK), L(REQ_V4) } },
	{ "user", "secret", { U("\x05\x02\x00\x02"), U(AUTH_OK), U(REQ_DOM) },
	    { 4, L(AUTH_OK), L(REQ_DOM) } },
	{ "user", "secret", { U(GREET_USER), U(AUTH_OK), U(REQ_V6) },
	    { L(GREET_USER), L(AUTH_OK), L(REQ_V6) } },
	{ NULL, NULL, { U(GREET_USER), U("\x01\x00\x00"), U(REQ_DOM) },
	    { L(GREET_USER), 3, L(REQ_DOM) } },
	{ NULL, NULL, { U(GREET_USER), U("\x01\x02" "ab\x00"), U(REQ_V4) },
	    { L(GREET_USER), 5, L(REQ_V4) } },
};

static int
conv_nunits(const struct conv *c)
{
	return (c->unit[2] != NULL ? 3 : 2);
}

START_TEST(test_truncation)
{
	const struct conv	*c = &convs[_i];
	enum socks5_state	 st;
	int			 u, j, n = conv_nunits(c);
	size_t			 k;

	for (u = 0; u < n; u++) {
		for (k = 0; k < c->len[u]; k++) {
			evbuffer_drain(in, evbuffer_get_length(in));
			socks5_init(&s5, c->user, c->pass);
			for (j = 0; j < u; j++)
				feed(c->unit[j], c->len[j]);
			st = s5.s5_state;
			ck_assert_int_ne(st, S5_FAILED);
			ck_assert_int_ne(st, S5_DONE);
			evbuffer_drain(out, evbuffer_get_length(out));
			ck_assert_uint_eq(evbuffer_get_length(in), 0);
			ck_assert_int_eq(feed(c->unit[u], k), st);
			in_is(c->unit[u], k);
			out_is(NULL, 0);
			/* The rest completes the unit. */
			st = feed(c->unit[u] + k, c->len[u] - k);
			ck_assert_int_eq(st, u == n - 1 ? S5_DONE :
			    (u == 0 && n == 3 ? S5_AUTH : S5_REQUEST));
			ck_assert_uint_eq(evbuffer_get_length(in), 0);
		}
	}
}
END_TEST

static void
bufs_eq(struct evbuffer *a, struct evbuffer *b)
{
	size_t	 n = evbuffer_get_length(a);

	ck_assert_uint_eq(n, evbuffer_get_length(b));
	if (n > 0)
		ck_assert_mem_eq(evbuffer_pullup(a, -1),
		    evbuffer_pullup(b, -1), n);
}

/* Run a whole wire image one-shot and byte by byte; compare results. */
static void
compare_feeding(const char *user, const char *pass, const uint8_t *p,
    size_t len)
{
	struct socks5	 a, b;
	struct evbuffer	*ain, *aout, *bin, *bout;
	size_t		 i;

	ain = evbuffer_new();
	aout = evbuffer_new();
	bin = evbuffer_new();
	bout = evbuffer_new();
	socks5_init(&a, user, pass);
	socks5_init(&b, user, pass);
	evbuffer_add(ain, p, len);
	socks5_input(&a, ain, aout);
	for (i = 0; i < len; i++) {
		evbuffer_add(bin, &p[i], 1);
		socks5_input(&b, bin, bout);
	}
	ck_assert_int_eq(a.s5_state, b.s5_state);
	bufs_eq(aout, bout);
	bufs_eq(ain, bin);
	ck_assert_int_eq(a.s5_anyauth, b.s5_anyauth);
	ck_assert_str_eq(a.s5_user_got, b.s5_user_got);
	if (a.s5_state == S5_DONE) {
		ck_assert_uint_eq(a.s5_cmd, b.s5_cmd);
		ck_assert_uint_eq(a.s5_atyp, b.s5_atyp);
		ck_assert_str_eq(a.s5_host, b.s5_host);
		ck_assert_uint_eq(a.s5_port, b.s5_port);
	}
	if (a.s5_state == S5_FAILED)
		ck_assert_str_eq(a.s5_error, b.s5_error);
	evbuffer_free(ain);
	evbuffer_free(aout);
	evbuffer_free(bin);
	evbuffer_free(bout);
}

START_TEST(test_bytewise_convs)
{
	const struct conv	*c = &convs[_i];
	uint8_t			 wire[1024];
	size_t			 len = 0;
	int			 u;

	for (u = 0; u < conv_nunits(c); u++) {
		memcpy(&wire[len], c->unit[u], c->len[u]);
		len += c->len[u];
	}
	memcpy(&wire[len], "early", 5);
	compare_feeding(c->user, c->pass, wire, len + 5);

	/* And the expected outcome, checked once more explicitly. */
	socks5_init(&s5, c->user, c->pass);
	for (u = 0; u < (int)len; u++)
		feed(&wire[u], 1);
	ck_assert_int_eq(s5.s5_state, S5_DONE);
	ck_assert_int_eq(feed(U("early"), 5), S5_DONE);
	in_is(U("early"), 5);
}
END_TEST

static const struct {
	const char	*user, *pass;
	const char	*wire;
	size_t		 len;
} fails[] = {
	{ NULL, NULL, "\x04\x01\x00", 3 },
	{ NULL, NULL, "\x05\x00", 2 },
	{ NULL, NULL, "\x05\x01\x01", 3 },
	{ "u", "p", "\x05\x01\x00", 3 },
	{ "u", "p", "\x05\x01\x02\x01\x01u\x01q", 8 },
	{ "u", "p", "\x05\x01\x02\x02\x01u\x01p", 8 },
	{ NULL, NULL, "\x05\x01\x02\x05", 4 },
	{ NULL, NULL, "\x05\x01\x00\x05\x01\x00\x01\x01\x02\x03\x04\x00\x50",
	    13 },
	{ NULL, NULL, "\x05\x01\x00\x05\x01\x00\x07", 7 },
	{ NULL, NULL, "\x05\x01\x00\x05\x02\x00\x01\x01\x02\x03\x04\x00\x50",
	    13 },
	{ NULL, NULL, "\x05\x01\x00\x05\x01\x00\x03\x00", 8 },
	{ NULL, NULL, "\x05\x01\x00\x05\x01\x00\x03\x02\x00" "a\x00\x50", 12 },
	{ "u", "p", "\x05\x01\x02\x01\x01u\x01p\x05\x04\x00\x04"
	    "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
	    "\x00\x50", 30 },
};

START_TEST(test_bytewise_fails)
{
	compare_feeding(fails[_i].user, fails[_i].pass,
	    (const uint8_t *)fails[_i].wire, fails[_i].len);
}
END_TEST

/* ---- replies and names ------------------------------------------- */

START_TEST(test_reply)
{
	struct sockaddr_in	 sin;
	struct sockaddr_in6	 sin6;
	struct sockaddr		 sa;

	socks5_reply(out, S5_REP_OK, NULL);
	out_is(B("\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00"));

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(1080);
	sin.sin_addr.s_addr = htonl(0x7f000001);
	socks5_reply(out, S5_REP_OK, (struct sockaddr *)&sin);
	out_is(B("\x05\x00\x00\x01\x7f\x00\x00\x01\x04\x38"));

	socks5_reply(out, S5_REP_HOSTUNREACH, NULL);
	out_is(B("\x05\x04\x00\x01\x00\x00\x00\x00\x00\x00"));

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(443);
	ck_assert_int_eq(inet_pton(AF_INET6, "2001:db8::1", &sin6.sin6_addr),
	    1);
	socks5_reply(out, S5_REP_REFUSED, (struct sockaddr *)&sin6);
	out_is(B("\x05\x05\x00\x04\x20\x01\x0d\xb8\x00\x00\x00\x00"
	    "\x00\x00\x00\x00\x00\x00\x00\x01\x01\xbb"));

	/* Other families: like NULL. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_family = AF_UNIX;
	socks5_reply(out, S5_REP_FAIL, &sa);
	out_is(rep_fail, sizeof(rep_fail));
}
END_TEST

START_TEST(test_strstate)
{
	ck_assert_str_eq(socks5_strstate(S5_GREETING), "greeting");
	ck_assert_str_eq(socks5_strstate(S5_AUTH), "auth");
	ck_assert_str_eq(socks5_strstate(S5_REQUEST), "request");
	ck_assert_str_eq(socks5_strstate(S5_DONE), "done");
	ck_assert_str_eq(socks5_strstate(S5_FAILED), "failed");
}
END_TEST

/* ---- UDP datagram header (RFC 1928 section 7) ------------------------- */

static const struct udp_good {
	const char	*name;
	uint8_t		 in[40];
	size_t		 len;
	const char	*host;
	uint16_t	 port;
	size_t		 hdrlen;
	uint8_t		 atyp;
} udp_good[] = {
	{ "ipv4", { 0, 0, 0, 1, 1, 2, 3, 4, 0x00, 0x35, 'q' }, 11,
	  "1.2.3.4", 53, 10, S5_ATYP_IPV4 },
	{ "ipv4 no payload", { 0, 0, 0, 1, 127, 0, 0, 1, 0xff, 0xff }, 10,
	  "127.0.0.1", 65535, 10, S5_ATYP_IPV4 },
	{ "domain", { 0, 0, 0, 3, 4, 'a', '.', 'b', 'c', 0x01, 0xbb, 'x',
	  'y' }, 13, "a.bc", 443, 11, S5_ATYP_DOMAIN },
	{ "ipv6", { 0, 0, 0, 4, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0,
	  0, 0, 0, 0, 1, 0x00, 0x35, 'z' }, 23, "2001:db8::1", 53, 22,
	  S5_ATYP_IPV6 },
	{ "ipv6 mapped", { 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff,
	  0xff, 10, 0, 0, 1, 0x00, 0x07 }, 22, "10.0.0.1", 7, 22,
	  S5_ATYP_IPV6 },
};

START_TEST(test_udp_parse_good)
{
	const struct udp_good	*g = &udp_good[_i];
	struct socks5_udp	 su;

	ck_assert_int_eq(socks5_udp_parse(g->in, g->len, &su), S5U_OK);
	ck_assert_str_eq(su.su_host, g->host);
	ck_assert_uint_eq(su.su_port, g->port);
	ck_assert_uint_eq(su.su_hdrlen, g->hdrlen);
	ck_assert_uint_eq(su.su_atyp, g->atyp);
}
END_TEST

static const struct udp_bad {
	const char	*name;
	uint8_t		 in[32];
	size_t		 len;
	int		 err;
} udp_bad[] = {
	{ "empty", { 0 }, 0, S5U_SHORT },
	{ "3 bytes", { 0, 0, 0 }, 3, S5U_SHORT },
	{ "rsv high", { 1, 0, 0, 1, 1, 2, 3, 4, 0, 53 }, 10, S5U_RSV },
	{ "rsv low", { 0, 1, 0, 1, 1, 2, 3, 4, 0, 53 }, 10, S5U_RSV },
	{ "frag 1", { 0, 0, 1, 1, 1, 2, 3, 4, 0, 53 }, 10, S5U_FRAG },
	{ "frag last", { 0, 0, 0x81, 1, 1, 2, 3, 4, 0, 53 }, 10, S5U_FRAG },
	{ "atyp 0", { 0, 0, 0, 0, 1, 2, 3, 4, 0, 53 }, 10, S5U_ATYP },
	{ "atyp 5", { 0, 0, 0, 5, 1, 2, 3, 4, 0, 53 }, 10, S5U_ATYP },
	/* The reference panics on these (P-20). */
	{ "ipv4 4 bytes", { 0, 0, 0, 1 }, 4, S5U_TRUNC },
	{ "ipv4 9 bytes", { 0, 0, 0, 1, 1, 2, 3, 4, 0 }, 9, S5U_TRUNC },
	{ "ipv6 21 bytes", { 0, 0, 0, 4, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
	  12, 13, 14, 15, 16, 0 }, 21, S5U_TRUNC },
	{ "domain no length", { 0, 0, 0, 3 }, 4, S5U_TRUNC },
	{ "domain past end", { 0, 0, 0, 3, 9, 'a', 'b', 0, 1 }, 9, S5U_TRUNC },
	{ "domain no port", { 0, 0, 0, 3, 1, 'a', 0 }, 7, S5U_TRUNC },
	{ "domain empty", { 0, 0, 0, 3, 0, 0, 53 }, 7, S5U_NAME },
	{ "domain nul", { 0, 0, 0, 3, 2, 'a', 0, 0, 53 }, 9, S5U_NAME },
};

START_TEST(test_udp_parse_bad)
{
	const struct udp_bad	*b = &udp_bad[_i];
	struct socks5_udp	 su;

	ck_assert_msg(socks5_udp_parse(b->in, b->len, &su) == b->err,
	    "%s: got %s", b->name, socks5_udp_strerror(
	    socks5_udp_parse(b->in, b->len, &su)));
	ck_assert_str_ne(socks5_udp_strerror(b->err), "?");
}
END_TEST

/* Every prefix of a good header is refused, never read past its end. */
START_TEST(test_udp_parse_truncation)
{
	const struct udp_good	*g = &udp_good[_i];
	struct socks5_udp	 su;
	uint8_t			*copy;
	size_t			 n;

	for (n = 0; n < g->hdrlen; n++) {
		copy = malloc(n + 1);
		ck_assert_ptr_nonnull(copy);
		memcpy(copy, g->in, n);
		ck_assert_int_ne(socks5_udp_parse(copy, n, &su), S5U_OK);
		free(copy);
	}
}
END_TEST

START_TEST(test_udp_header)
{
	uint8_t		 h[S5U_HDR_MAX];
	static const uint8_t v4[] = { 0, 0, 0, 1, 8, 8, 4, 4, 0, 53 };
	static const uint8_t v6hdr[] = { 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0,
	    0, 0, 0, 0, 0, 0, 0, 1, 0x1f, 0x90 };
	static const uint8_t dn[] = { 0, 0, 0, 3, 5, 'h', '.', 't', 'l',
	    'd', 0, 7 };
	char		 name[300];

	ck_assert_int_eq(socks5_udp_header(h, (const uint8_t *)"8.8.4.4", 7,
	    53), sizeof(v4));
	ck_assert_mem_eq(h, v4, sizeof(v4));
	ck_assert_int_eq(socks5_udp_header(h, (const uint8_t *)"::1", 3,
	    8080), sizeof(v6hdr));
	ck_assert_mem_eq(h, v6hdr, sizeof(v6hdr));
	ck_assert_int_eq(socks5_udp_header(h, (const uint8_t *)"h.tld", 5,
	    7), sizeof(dn));
	ck_assert_mem_eq(h, dn, sizeof(dn));
	ck_assert_int_eq(socks5_udp_header(h, (const uint8_t *)"", 0, 7), -1);
	ck_assert_int_eq(socks5_udp_header(h, (const uint8_t *)"a\0b", 3, 7),
	    -1);
	memset(name, 'a', sizeof(name));
	ck_assert_int_eq(socks5_udp_header(h, (const uint8_t *)name, 255, 1),
	    4 + 1 + 255 + 2);
	ck_assert_int_eq(socks5_udp_header(h, (const uint8_t *)name, 256, 1),
	    -1);
}
END_TEST

/* What the dial side reports parses back to the same address. */
START_TEST(test_udp_roundtrip)
{
	static const char *const addrs[] = { "127.0.0.1", "::1",
	    "2001:db8::8:800:200c:417a", "example.com", "10.1.2.3" };
	uint8_t			 h[S5U_HDR_MAX + 4];
	struct socks5_udp	 su;
	int			 n;
	size_t			 i;

	for (i = 0; i < LS_NITEMS(addrs); i++) {
		n = socks5_udp_header(h, (const uint8_t *)addrs[i],
		    strlen(addrs[i]), (uint16_t)(1000 + i));
		ck_assert_int_gt(n, 0);
		memcpy(h + n, "data", 4);
		ck_assert_int_eq(socks5_udp_parse(h, (size_t)n + 4, &su),
		    S5U_OK);
		ck_assert_str_eq(su.su_host, addrs[i]);
		ck_assert_uint_eq(su.su_port, 1000 + i);
		ck_assert_uint_eq(su.su_hdrlen, (size_t)n);
	}
}
END_TEST

START_TEST(test_addr_text)
{
	struct sockaddr_in	 sin;
	struct sockaddr_in6	 sin6;
	char			 buf[64];

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.7", &sin.sin_addr);
	socks5_addr_text((struct sockaddr *)&sin, buf, sizeof(buf));
	ck_assert_str_eq(buf, "192.0.2.7");
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "::ffff:192.0.2.8", &sin6.sin6_addr);
	socks5_addr_text((struct sockaddr *)&sin6, buf, sizeof(buf));
	ck_assert_str_eq(buf, "192.0.2.8");
	inet_pton(AF_INET6, "2001:db8:0:0:1:0:0:1", &sin6.sin6_addr);
	socks5_addr_text((struct sockaddr *)&sin6, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2001:db8::1:0:0:1");
}
END_TEST

static Suite *
socks5_suite(void)
{
	Suite	*s = suite_create("socks5");
	TCase	*tc;

	tc = tcase_create("greeting");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_greet_none);
	tcase_add_test(tc, test_greet_none_among_others);
	tcase_add_test(tc, test_greet_bad_version);
	tcase_add_test(tc, test_greet_nmethods_zero);
	tcase_add_test(tc, test_greet_no_acceptable);
	tcase_add_test(tc, test_greet_creds_no_user_method);
	tcase_add_test(tc, test_greet_creds_prefers_user);
	tcase_add_test(tc, test_greet_half_creds_is_none);
	suite_add_tcase(s, tc);

	tc = tcase_create("auth");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_auth_ok);
	tcase_add_loop_test(tc, test_auth_bad, 0, LS_NITEMS(bad_creds));
	tcase_add_test(tc, test_auth_bad_version);
	tcase_add_test(tc, test_auth_any_without_creds);
	tcase_add_test(tc, test_auth_any_empty);
	tcase_add_test(tc, test_auth_any_bad_version);
	tcase_add_test(tc, test_auth_long);
	suite_add_tcase(s, tc);

	tc = tcase_create("request");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_req_ipv4);
	tcase_add_test(tc, test_req_ipv4_edges);
	tcase_add_test(tc, test_req_domain);
	tcase_add_test(tc, test_req_domain_255);
	tcase_add_test(tc, test_req_domain_empty);
	tcase_add_test(tc, test_req_domain_nul);
	tcase_add_test(tc, test_req_bad_version);
	tcase_add_loop_test(tc, test_req_bad_atyp, 0, LS_NITEMS(bad_atyp));
	tcase_add_loop_test(tc, test_req_bad_cmd, 0, LS_NITEMS(bad_cmd));
	tcase_add_test(tc, test_req_bind_exact);
	tcase_add_test(tc, test_req_udp);
	tcase_add_test(tc, test_req_early_data);
	tcase_add_test(tc, test_pipelined_all);
	tcase_add_test(tc, test_failed_is_sticky);
	tcase_add_test(tc, test_empty_input);
	tcase_add_loop_test(tc, test_req_ipv6, 0, LS_NITEMS(v6));
	suite_add_tcase(s, tc);

	tc = tcase_create("resume");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_truncation, 0, LS_NITEMS(convs));
	tcase_add_loop_test(tc, test_bytewise_convs, 0, LS_NITEMS(convs));
	tcase_add_loop_test(tc, test_bytewise_fails, 0, LS_NITEMS(fails));
	suite_add_tcase(s, tc);

	tc = tcase_create("udp");
	tcase_add_loop_test(tc, test_udp_parse_good, 0, LS_NITEMS(udp_good));
	tcase_add_loop_test(tc, test_udp_parse_bad, 0, LS_NITEMS(udp_bad));
	tcase_add_loop_test(tc, test_udp_parse_truncation, 0,
	    LS_NITEMS(udp_good));
	tcase_add_test(tc, test_udp_header);
	tcase_add_test(tc, test_udp_roundtrip);
	tcase_add_test(tc, test_addr_text);
	suite_add_tcase(s, tc);

	tc = tcase_create("reply");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_reply);
	tcase_add_test(tc, test_strstate);
	suite_add_tcase(s, tc);
	return (s);
}

const check_suite_fn check_suites[] = { socks5_suite, NULL };
