/*
 * check_rules.c -- unit tests for the access rules (src/rules.c): the
 * grammar with every error text, matching of IPv4, IPv6 and mapped
 * addresses against blocks, ranges and ports at their edges, the
 * classes a forward server refuses by default (link-local, unspecified,
 * multicast, loopback, and their IPv4-mapped forms), how rules and
 * --allow-private open them, and the own-socket refusal.  Pure: no
 * socket is opened and no packet sent.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linksocks.h"
#include "lib/check_main.h"

static void	 ip(const char *, uint8_t *);
static void	 set(struct rules *, ...);
static int	 matches(const struct rules *, const char *, uint16_t);
static enum rules_verdict verdict(const struct rules_policy *, const char *,
		    uint16_t, int);
static void	 assert_error(const char *, const char *);
static Suite	*rules_suite(void);

/* The 16-byte form of a literal the test trusts. */
static void
ip(const char *s, uint8_t *a)
{
	ck_assert_msg(rules_parse_ip(s, a) != -1, "bad literal %s", s);
}

/* rs := the rules given, NULL-terminated; each must parse. */
static void
set(struct rules *rs, ...)
{
	va_list		 ap;
	const char	*r;
	char		 err[256];

	rules_clear(rs);
	va_start(ap, rs);
	while ((r = va_arg(ap, const char *)) != NULL)
		ck_assert_msg(rules_add(rs, r, err, sizeof(err)) == 0,
		    "rule \"%s\": %s", r, err);
	va_end(ap);
}

static int
matches(const struct rules *rs, const char *addr, uint16_t port)
{
	uint8_t	a[16];
	int	named;

	ip(addr, a);
	return (rules_match(rs, a, port, &named));
}

static enum rules_verdict
verdict(const struct rules_policy *pl, const char *addr, uint16_t port,
    int local)
{
	uint8_t	a[16];

	ip(addr, a);
	return (rules_check(pl, a, port, local));
}

static void
assert_error(const char *rule, const char *want)
{
	struct rules	rs;
	char		err[256];

	memset(&rs, 0, sizeof(rs));
	snprintf(err, sizeof(err), "(none)");
	ck_assert_msg(rules_add(&rs, rule, err, sizeof(err)) == -1,
	    "rule \"%s\" parsed", rule);
	ck_assert_msg(strcmp(err, want) == 0, "rule \"%s\": error \"%s\", "
	    "expected \"%s\"", rule, err, want);
	ck_assert_uint_eq(rs.rs_n, 0);
	rules_clear(&rs);
}

START_TEST(parse_good)
{
	struct rules	 rs;
	const struct rule *r;
	uint8_t		 a[16];
	char		 err[256];

	memset(&rs, 0, sizeof(rs));
	ck_assert_int_eq(rules_add(&rs, "10.0.0.0/8:22,8000-9000", err,
	    sizeof(err)), 0);
	r = &rs.rs_rules[0];
	ck_assert_str_eq(r->r_text, "10.0.0.0/8:22,8000-9000");
	ck_assert_uint_eq(r->r_naddrs, 1);
	ip("10.0.0.0", a);
	ck_assert(memcmp(r->r_addrs[0].rr_lo, a, 16) == 0);
	ip("10.255.255.255", a);
	ck_assert(memcmp(r->r_addrs[0].rr_hi, a, 16) == 0);
	ck_assert_uint_eq(r->r_nports, 2);
	ck_assert_uint_eq(r->r_ports[0].rp_lo, 22);
	ck_assert_uint_eq(r->r_ports[0].rp_hi, 22);
	ck_assert_uint_eq(r->r_ports[1].rp_lo, 8000);
	ck_assert_uint_eq(r->r_ports[1].rp_hi, 9000);

	/* Host bits of a block are masked, as Go's ParseCIDR does. */
	ck_assert_int_eq(rules_add(&rs, "192.168.7.9/24", err, sizeof(err)),
	    0);
	r = &rs.rs_rules[1];
	ip("192.168.7.0", a);
	ck_assert(memcmp(r->r_addrs[0].rr_lo, a, 16) == 0);
	ip("192.168.7.255", a);
	ck_assert(memcmp(r->r_addrs[0].rr_hi, a, 16) == 0);
	ck_assert_uint_eq(r->r_nports, 0);

	/* Any address, some ports; any port. */
	ck_assert_int_eq(rules_add(&rs, "*:80,443", err, sizeof(err)), 0);
	ck_assert_uint_eq(rs.rs_rules[2].r_naddrs, 0);
	ck_assert_uint_eq(rs.rs_rules[2].r_nports, 2);
	ck_assert_int_eq(rules_add(&rs, "*:*", err, sizeof(err)), 0);
	ck_assert_uint_eq(rs.rs_rules[3].r_naddrs, 0);
	ck_assert_uint_eq(rs.rs_rules[3].r_nports, 0);
	ck_assert_int_eq(rules_add(&rs, "*", err, sizeof(err)), 0);

	/* IPv6: bare without ports, in brackets with them. */
	ck_assert_int_eq(rules_add(&rs, "fd00::/8", err, sizeof(err)), 0);
	ck_assert_uint_eq(rs.rs_rules[5].r_naddrs, 1);
	ck_assert_uint_eq(rs.rs_rules[5].r_nports, 0);
	ck_assert_int_eq(rules_add(&rs, "[fe80::/10,::1]:22", err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(rs.rs_rules[6].r_naddrs, 2);
	ck_assert_uint_eq(rs.rs_rules[6].r_nports, 1);
	ck_assert_int_eq(rules_add(&rs, "[::1]", err, sizeof(err)), 0);
	ck_assert_uint_eq(rs.rs_rules[7].r_nports, 0);
	ck_assert_int_eq(rules_add(&rs, "[10.0.0.1]:53", err, sizeof(err)),
	    0);

	/* Ranges, white space around items. */
	ck_assert_int_eq(rules_add(&rs, "192.168.1.1-192.168.2.255", err,
	    sizeof(err)), 0);
	ck_assert_int_eq(rules_add(&rs, "192.168.1.1-255", err,
	    sizeof(err)), 0);
	ck_assert_int_eq(rules_add(&rs, " 10.0.0.1 , 10.0.0.2 : 80 , 81 ",
	    err, sizeof(err)), 0);
	r = &rs.rs_rules[rs.rs_n - 1];
	ck_assert_uint_eq(r->r_naddrs, 2);
	ck_assert_uint_eq(r->r_nports, 2);
	ck_assert_int_eq(rules_add(&rs, "2001:db8::1-2001:db8::ff", err,
	    sizeof(err)), 0);
	ck_assert_int_eq(rules_add(&rs, "::ffff:10.0.0.1", err,
	    sizeof(err)), 0);
	ck_assert_int_eq(rules_add(&rs, "0.0.0.0/0:1-65535", err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(rs.rs_n, 15);
	rules_clear(&rs);
	ck_assert_uint_eq(rs.rs_n, 0);
	ck_assert_ptr_null(rs.rs_rules);
}
END_TEST

START_TEST(parse_bad)
{
	assert_error("", "empty rule");
	assert_error("   ", "empty rule");
	assert_error("10.0.0.0/33", "invalid prefix length \"33\"");
	assert_error("fe80::/129", "invalid prefix length \"129\"");
	assert_error("10.0.0.0/", "invalid prefix length \"\"");
	assert_error("10.0.0.0/8x", "invalid prefix length \"8x\"");
	assert_error("10.0.0.300", "invalid address \"10.0.0.300\"");
	assert_error("10.0.0", "invalid address \"10.0.0\"");
	assert_error("example.com:80", "invalid address \"example.com\"");
	assert_error("fe80::1%eth0", "invalid address \"fe80::1%eth0\"");
	assert_error("10.0.0.1:22:33", "invalid address \"10.0.0.1:22:33\"");
	assert_error("10.0.0.5-10.0.0.1",
	    "range \"10.0.0.5-10.0.0.1\" ends before it starts");
	assert_error("10.0.0.5-1", "range \"10.0.0.5-1\" ends before it "
	    "starts");
	assert_error("::2-::1", "range \"::2-::1\" ends before it starts");
	assert_error("10.0.0.1-::1",
	    "range \"10.0.0.1-::1\" mixes IPv4 and IPv6");
	assert_error("10.0.0.1-256", "invalid range end \"256\"");
	assert_error("10.0.0.1-", "invalid range end \"\"");
	assert_error("::1-5", "invalid range end \"5\"");
	assert_error("x-10.0.0.1", "invalid address \"x\"");
	assert_error("10.0.0.0/8:0", "invalid port \"0\"");
	assert_error("10.0.0.0/8:65536", "invalid port \"65536\"");
	assert_error("10.0.0.0/8:http", "invalid port \"http\"");
	assert_error("10.0.0.0/8:-5", "invalid port \"\"");
	assert_error("10.0.0.0/8:5-", "invalid port \"\"");
	assert_error("10.0.0.0/8:90-80",
	    "port range \"90-80\" ends before it starts");
	assert_error("10.0.0.0/8:", "missing port after ':' (* for any)");
	assert_error(":80", "missing address (* for any)");
	assert_error("[]:80", "missing address (* for any)");
	assert_error("10.0.0.1,,10.0.0.2", "empty address in list");
	assert_error("10.0.0.1,", "empty address in list");
	assert_error("10.0.0.0/8:22,,80", "empty port in list");
	assert_error("[::1", "missing ']'");
	assert_error("[::1]22", "unexpected \"22\" after ']'");
	assert_error("*,10.0.0.1", "invalid address \"*\"");
}
END_TEST

START_TEST(match_ipv4)
{
	struct rules	rs;

	memset(&rs, 0, sizeof(rs));
	set(&rs, "10.0.0.0/8:22,8000-9000", NULL);
	ck_assert(matches(&rs, "10.1.2.3", 22));
	ck_assert(matches(&rs, "10.0.0.0", 8000));
	ck_assert(matches(&rs, "10.255.255.255", 9000));
	ck_assert(!matches(&rs, "10.1.2.3", 21));
	ck_assert(!matches(&rs, "10.1.2.3", 23));
	ck_assert(!matches(&rs, "10.1.2.3", 7999));
	ck_assert(!matches(&rs, "10.1.2.3", 9001));
	ck_assert(!matches(&rs, "9.255.255.255", 22));
	ck_assert(!matches(&rs, "11.0.0.0", 22));
	/* The IPv4-mapped form is the same address. */
	ck_assert(matches(&rs, "::ffff:10.1.2.3", 22));
	ck_assert(!matches(&rs, "::ffff:11.1.2.3", 22));
	ck_assert(!matches(&rs, "::a01:203", 22));	/* IPv4-compatible */

	set(&rs, "192.168.1.10-192.168.2.5", NULL);
	ck_assert(!matches(&rs, "192.168.1.9", 1));
	ck_assert(matches(&rs, "192.168.1.10", 1));
	ck_assert(matches(&rs, "192.168.1.255", 65535));
	ck_assert(matches(&rs, "192.168.2.0", 80));
	ck_assert(matches(&rs, "192.168.2.5", 80));
	ck_assert(!matches(&rs, "192.168.2.6", 80));

	set(&rs, "192.168.1.1-20", NULL);
	ck_assert(!matches(&rs, "192.168.1.0", 80));
	ck_assert(matches(&rs, "192.168.1.1", 80));
	ck_assert(matches(&rs, "192.168.1.20", 80));
	ck_assert(!matches(&rs, "192.168.1.21", 80));

	/* A single address, a /32, a /0. */
	set(&rs, "203.0.113.7", NULL);
	ck_assert(matches(&rs, "203.0.113.7", 1));
	ck_assert(!matches(&rs, "203.0.113.8", 1));
	set(&rs, "203.0.113.7/32:443", NULL);
	ck_assert(matches(&rs, "203.0.113.7", 443));
	ck_assert(!matches(&rs, "203.0.113.6", 443));
	set(&rs, "0.0.0.0/0", NULL);
	ck_assert(matches(&rs, "0.0.0.0", 1));
	ck_assert(matches(&rs, "255.255.255.255", 1));
	ck_assert(!matches(&rs, "2001:db8::1", 1));

	/* One rule must match both: no crossing between rules. */
	set(&rs, "10.0.0.0/8:22", "192.168.0.0/16:80", NULL);
	ck_assert(matches(&rs, "10.0.0.1", 22));
	ck_assert(matches(&rs, "192.168.3.4", 80));
	ck_assert(!matches(&rs, "10.0.0.1", 80));
	ck_assert(!matches(&rs, "192.168.3.4", 22));

	/* Any address on some ports. */
	set(&rs, "*:443", NULL);
	ck_assert(matches(&rs, "198.51.100.1", 443));
	ck_assert(matches(&rs, "2001:db8::1", 443));
	ck_assert(!matches(&rs, "198.51.100.1", 80));
	ck_assert(rules_match_port(&rs, 443));
	ck_assert(!rules_match_port(&rs, 444));
	rules_clear(&rs);
}
END_TEST

START_TEST(match_ipv6)
{
	struct rules	rs;

	memset(&rs, 0, sizeof(rs));
	set(&rs, "2001:db8::/32", NULL);
	ck_assert(matches(&rs, "2001:db8::", 1));
	ck_assert(matches(&rs, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 1));
	ck_assert(!matches(&rs, "2001:db9::", 1));
	ck_assert(!matches(&rs, "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", 1));
	ck_assert(!matches(&rs, "10.0.0.1", 1));

	set(&rs, "2001:db8::1-2001:db8::ff", NULL);
	ck_assert(!matches(&rs, "2001:db8::", 1));
	ck_assert(matches(&rs, "2001:db8::1", 1));
	ck_assert(matches(&rs, "2001:db8::ff", 1));
	ck_assert(!matches(&rs, "2001:db8::100", 1));

	/* A prefix not on a byte boundary. */
	set(&rs, "[2001:db8:8000::/33]:53", NULL);
	ck_assert(matches(&rs, "2001:db8:8000::1", 53));
	ck_assert(matches(&rs, "2001:db8:ffff::1", 53));
	ck_assert(!matches(&rs, "2001:db8:7fff::1", 53));
	ck_assert(!matches(&rs, "2001:db8:8000::1", 54));

	/* ::/0 holds every address, IPv4 ones in their mapped form. */
	set(&rs, "::/0", NULL);
	ck_assert(matches(&rs, "2001:db8::1", 1));
	ck_assert(matches(&rs, "10.0.0.1", 1));

	/* Mapped IPv4 written in IPv6 syntax matches the IPv4 address. */
	set(&rs, "::ffff:10.0.0.0/104", NULL);
	ck_assert(matches(&rs, "10.9.8.7", 1));
	ck_assert(!matches(&rs, "11.0.0.0", 1));
	rules_clear(&rs);
}
END_TEST

START_TEST(classes)
{
	static const struct {
		const char		*c_addr;
		enum rules_class	 c_class;
	} cases[] = {
		{ "169.254.0.0", RC_LINKLOCAL },
		{ "169.254.169.254", RC_LINKLOCAL },
		{ "169.254.255.255", RC_LINKLOCAL },
		{ "169.253.255.255", RC_OTHER },
		{ "169.255.0.0", RC_OTHER },
		{ "fe80::", RC_LINKLOCAL },
		{ "fe80::1", RC_LINKLOCAL },
		{ "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", RC_LINKLOCAL },
		{ "fe7f:ffff::1", RC_OTHER },
		{ "fec0::1", RC_OTHER },
		{ "0.0.0.0", RC_UNSPEC },
		{ "0.1.2.3", RC_UNSPEC },
		{ "0.255.255.255", RC_UNSPEC },
		{ "1.0.0.0", RC_OTHER },
		{ "::", RC_UNSPEC },
		{ "::2", RC_OTHER },
		{ "224.0.0.0", RC_MULTICAST },
		{ "224.0.0.251", RC_MULTICAST },
		{ "239.255.255.255", RC_MULTICAST },
		{ "223.255.255.255", RC_OTHER },
		{ "240.0.0.1", RC_OTHER },
		{ "255.255.255.255", RC_MULTICAST },
		{ "255.255.255.254", RC_OTHER },
		{ "ff00::", RC_MULTICAST },
		{ "ff02::1", RC_MULTICAST },
		{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", RC_MULTICAST },
		{ "feff::1", RC_OTHER },
		{ "127.0.0.1", RC_LOOPBACK },
		{ "127.255.255.255", RC_LOOPBACK },
		{ "126.255.255.255", RC_OTHER },
		{ "128.0.0.0", RC_OTHER },
		{ "::1", RC_LOOPBACK },
		/* IPv4-mapped IPv6 forms of each. */
		{ "::ffff:169.254.1.1", RC_LINKLOCAL },
		{ "::ffff:0.0.0.0", RC_UNSPEC },
		{ "::ffff:0.0.0.1", RC_UNSPEC },
		{ "::ffff:224.0.0.1", RC_MULTICAST },
		{ "::ffff:255.255.255.255", RC_MULTICAST },
		{ "::ffff:127.0.0.1", RC_LOOPBACK },
		{ "::ffff:a9fe:101", RC_LINKLOCAL },	/* hex spelling */
		{ "::ffff:10.0.0.1", RC_OTHER },
		/* Ordinary unicast, private ranges included. */
		{ "10.0.0.1", RC_OTHER },
		{ "172.16.0.1", RC_OTHER },
		{ "192.168.1.1", RC_OTHER },
		{ "8.8.8.8", RC_OTHER },
		{ "2001:db8::1", RC_OTHER },
		{ "fd00::1", RC_OTHER },
	};
	uint8_t	a[16];
	size_t	i;

	for (i = 0; i < LS_NITEMS(cases); i++) {
		ip(cases[i].c_addr, a);
		ck_assert_msg(rules_classify(a) == cases[i].c_class,
		    "%s: class %d, expected %d", cases[i].c_addr,
		    rules_classify(a), cases[i].c_class);
	}
	ck_assert_str_eq(rules_strclass(RC_LINKLOCAL), "link-local address");
	ck_assert_str_eq(rules_strclass(RC_UNSPEC), "unspecified address");
	ck_assert_str_eq(rules_strclass(RC_MULTICAST),
	    "multicast or broadcast address");
	ck_assert_str_eq(rules_strclass(RC_LOOPBACK), "loopback address");
}
END_TEST

/* A forward server: the classes refused, what opens them. */
START_TEST(defaults)
{
	static const char *const refused[] = {
		"169.254.1.1", "169.254.169.254", "fe80::1", "0.0.0.0",
		"0.1.2.3", "::", "224.0.0.1", "239.1.2.3", "255.255.255.255",
		"ff02::1", "127.0.0.1", "127.1.2.3", "::1",
		"::ffff:169.254.1.1", "::ffff:0.0.0.0", "::ffff:224.0.0.1",
		"::ffff:127.0.0.1", "::ffff:255.255.255.255",
	};
	struct rules		 rs;
	struct rules_policy	 pl;
	uint8_t			 a[16];
	size_t			 i;

	memset(&rs, 0, sizeof(rs));
	memset(&pl, 0, sizeof(pl));
	pl.pl_rules = &rs;
	pl.pl_defaults = 1;
	for (i = 0; i < LS_NITEMS(refused); i++)
		ck_assert_msg(verdict(&pl, refused[i], 80, 0) == RV_CLASS,
		    "%s allowed by default", refused[i]);
	ck_assert_int_eq(verdict(&pl, "10.0.0.1", 80, 0), RV_ALLOW);
	ck_assert_int_eq(verdict(&pl, "192.168.1.1", 22, 0), RV_ALLOW);
	ck_assert_int_eq(verdict(&pl, "2001:db8::1", 443, 0), RV_ALLOW);
	ck_assert_int_eq(verdict(&pl, "169.253.255.255", 80, 0), RV_ALLOW);

	/* --allow-private: loopback and link-local, nothing else. */
	pl.pl_allow_private = 1;
	ck_assert_int_eq(verdict(&pl, "169.254.1.1", 80, 0), RV_ALLOW);
	ck_assert_int_eq(verdict(&pl, "fe80::1", 80, 0), RV_ALLOW);
	ck_assert_int_eq(verdict(&pl, "::ffff:169.254.1.1", 80, 0), RV_ALLOW);
	ck_assert_int_eq(verdict(&pl, "127.0.0.1", 80, 0), RV_ALLOW);
	ck_assert_int_eq(verdict(&pl, "::1", 80, 0), RV_ALLOW);
	ck_assert_int_eq(verdict(&pl, "0.0.0.0", 80, 0), RV_CLASS);
	ck_assert_int_eq(verdict(&pl, "::", 80, 0), RV_CLASS);
	ck_assert_int_eq(verdict(&pl, "224.0.0.1", 80, 0), RV_CLASS);
	ck_assert_int_eq(verdict(&pl, "ff02::1", 80, 0), RV_CLASS);
	ck_assert_int_eq(verdict(&pl, "::ffff:224.0.0.1", 80, 0), RV_CLASS);
	pl.pl_allow_private = 0;

	/* A rule naming a block opens it; a wider one does not. */
	set(&rs, "169.254.0.0/16", NULL);
	ck_assert_int_eq(verdict(&pl, "169.254.1.1", 80, 0), RV_ALLOW);
	ck_assert_int_eq(verdict(&pl, "::ffff:169.254.1.1", 80, 0), RV_ALLOW);
	ck_assert_int_eq(verdict(&pl, "fe80::1", 80, 0), RV_NORULE);
	ck_assert_int_eq(verdict(&pl, "10.0.0.1", 80, 0), RV_NORULE);
	set(&rs, "169.254.1.0-169.254.1.255:80", NULL);
	ck_assert_int_eq(verdict(&pl, "169.254.1.1", 80, 0), RV_ALLOW);
	ck_assert_int_eq(verdict(&pl, "169.254.1.1", 81, 0), RV_NORULE);
	set(&rs, "0.0.0.0/0", NULL);
	ck_assert_int_eq(verdict(&pl, "169.254.1.1", 80, 0), RV_CLASS);
	ck_assert_int_eq(verdict(&pl, "127.0.0.1", 80, 0), RV_CLASS);
	ck_assert_int_eq(verdict(&pl, "10.0.0.1", 80, 0), RV_ALLOW);
	set(&rs, "::/0", NULL);
	ck_assert_int_eq(verdict(&pl, "::1", 80, 0), RV_CLASS);
	ck_assert_int_eq(verdict(&pl, "2001:db8::1", 80, 0), RV_ALLOW);
	set(&rs, "[fe80::/10]:22", "127.0.0.1:8080", "224.0.0.0/4", NULL);
	ck_assert_int_eq(verdict(&pl, "fe80::1", 22, 0), RV_ALLOW);
	ck_assert_int_eq(verdict(&pl, "fe80::1", 23, 0), RV_NORULE);
	ck_assert_int_eq(verdict(&pl, "127.0.0.1", 8080, 0), RV_ALLOW);
	ck_assert_int_eq(verdict(&pl, "::ffff:127.0.0.1", 8080, 0), RV_ALLOW);
	ck_assert_int_eq(verdict(&pl, "127.0.0.1", 22, 0), RV_NORULE);
	ck_assert_int_eq(verdict(&pl, "127.0.0.2", 8080, 0), RV_NORULE);
	ck_assert_int_eq(verdict(&pl, "224.0.0.251", 5353, 0), RV_ALLOW);
	/* A block spanning two classes names neither. */
	set(&rs, "126.0.0.0-128.0.0.0", NULL);
	ck_assert_int_eq(verdict(&pl, "127.0.0.1", 80, 0), RV_CLASS);
	ck_assert_int_eq(verdict(&pl, "126.0.0.1", 80, 0), RV_ALLOW);

	/* Without defaults (provider, SOCKS side): the rules only. */
	rules_clear(&rs);
	pl.pl_defaults = 0;
	ck_assert_int_eq(verdict(&pl, "127.0.0.1", 22, 0), RV_ALLOW);
	ck_assert_int_eq(verdict(&pl, "169.254.169.254", 80, 0), RV_ALLOW);
	set(&rs, "10.0.0.0/8", NULL);
	ck_assert_int_eq(verdict(&pl, "127.0.0.1", 22, 0), RV_NORULE);
	ck_assert_int_eq(verdict(&pl, "10.0.0.1", 22, 0), RV_ALLOW);
	ip("169.254.1.1", a);
	ck_assert_str_eq(rules_why(RV_CLASS, a), "link-local address");
	ck_assert_str_eq(rules_why(RV_NORULE, a), "no access rule matches");
	ck_assert_str_eq(rules_why(RV_NORULE, NULL), "no access rule matches");
	rules_clear(&rs);
}
END_TEST

/* Our own listening sockets: never, on any local address. */
START_TEST(own_ports)
{
	static const uint16_t	 ports[] = { 8765, 9870 };
	struct rules		 rs;
	struct rules_policy	 pl;

	memset(&rs, 0, sizeof(rs));
	memset(&pl, 0, sizeof(pl));
	pl.pl_rules = &rs;
	pl.pl_defaults = 1;
	pl.pl_allow_private = 1;
	pl.pl_ports = ports;
	pl.pl_nports = LS_NITEMS(ports);
	ck_assert(rules_own_port(&pl, 8765));
	ck_assert(!rules_own_port(&pl, 8766));
	ck_assert_int_eq(verdict(&pl, "127.0.0.1", 8765, 0), RV_SELF);
	ck_assert_int_eq(verdict(&pl, "127.0.0.53", 9870, 0), RV_SELF);
	ck_assert_int_eq(verdict(&pl, "::1", 8765, 0), RV_SELF);
	ck_assert_int_eq(verdict(&pl, "::ffff:127.0.0.1", 8765, 0), RV_SELF);
	ck_assert_int_eq(verdict(&pl, "0.0.0.0", 8765, 0), RV_SELF);
	ck_assert_int_eq(verdict(&pl, "::", 8765, 0), RV_SELF);
	ck_assert_int_eq(verdict(&pl, "127.0.0.1", 8764, 0), RV_ALLOW);
	/* A local non-loopback address: the caller says it is local. */
	ck_assert_int_eq(verdict(&pl, "192.0.2.10", 8765, 1), RV_SELF);
	ck_assert_int_eq(verdict(&pl, "169.254.1.1", 8765, 1), RV_SELF);
	ck_assert_int_eq(verdict(&pl, "192.0.2.10", 8765, 0), RV_ALLOW);
	/* Rules naming them do not help. */
	set(&rs, "127.0.0.0/8", "192.0.2.10", NULL);
	ck_assert_int_eq(verdict(&pl, "127.0.0.1", 8765, 0), RV_SELF);
	ck_assert_int_eq(verdict(&pl, "192.0.2.10", 8765, 1), RV_SELF);
	ck_assert_int_eq(verdict(&pl, "127.0.0.1", 22, 0), RV_ALLOW);
	/* Not even without defaults (a provider lists no ports anyway). */
	pl.pl_defaults = 0;
	ck_assert_int_eq(verdict(&pl, "127.0.0.1", 8765, 0), RV_SELF);
	ck_assert_str_eq(rules_why(RV_SELF, NULL),
	    "one of this process's own listening sockets");
	rules_clear(&rs);
}
END_TEST

/* The SOCKS side: literals checked, names only on their port. */
START_TEST(hosts)
{
	struct rules		 rs;
	struct rules_policy	 pl;

	memset(&rs, 0, sizeof(rs));
	memset(&pl, 0, sizeof(pl));
	pl.pl_rules = &rs;
	ck_assert_int_eq(rules_check_host(&pl, "127.0.0.1", 22), RV_ALLOW);
	ck_assert_int_eq(rules_check_host(&pl, "example.org", 1), RV_ALLOW);
	set(&rs, "10.0.0.0/8:80", "*:443", NULL);
	ck_assert_int_eq(rules_check_host(&pl, "10.1.1.1", 80), RV_ALLOW);
	ck_assert_int_eq(rules_check_host(&pl, "10.1.1.1", 22), RV_NORULE);
	ck_assert_int_eq(rules_check_host(&pl, "127.0.0.1", 80), RV_NORULE);
	ck_assert_int_eq(rules_check_host(&pl, "::ffff:127.0.0.1", 80),
	    RV_NORULE);
	ck_assert_int_eq(rules_check_host(&pl, "::ffff:10.0.0.1", 80),
	    RV_ALLOW);
	ck_assert_int_eq(rules_check_host(&pl, "2001:db8::1", 443), RV_ALLOW);
	/* A name may resolve to 10/8: the dial side decides. */
	ck_assert_int_eq(rules_check_host(&pl, "example.org", 80), RV_ALLOW);
	ck_assert_int_eq(rules_check_host(&pl, "example.org", 443), RV_ALLOW);
	/* No rule allows port 22 anywhere: refused on the name. */
	ck_assert_int_eq(rules_check_host(&pl, "example.org", 22), RV_NORULE);
	rules_clear(&rs);
}
END_TEST

START_TEST(sockaddrs)
{
	struct sockaddr_in	 sin;
	struct sockaddr_in6	 sin6;
	struct sockaddr		 sa;
	uint8_t			 a[16], b[16];

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, "169.254.1.1", &sin.sin_addr);
	ck_assert_int_eq(rules_addr16((struct sockaddr *)&sin, a), 0);
	ip("::ffff:169.254.1.1", b);
	ck_assert(memcmp(a, b, 16) == 0);
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "fe80::1", &sin6.sin6_addr);
	ck_assert_int_eq(rules_addr16((struct sockaddr *)&sin6, a), 0);
	ck_assert_int_eq(rules_classify(a), RC_LINKLOCAL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_family = AF_UNIX;
	ck_assert_int_eq(rules_addr16(&sa, a), -1);
	ck_assert_int_eq(rules_parse_ip("localhost", a), -1);
	ck_assert_int_eq(rules_parse_ip("127.1", a), -1);
	ck_assert_int_eq(rules_parse_ip("10.0.0.1", a), AF_INET);
	ck_assert_int_eq(rules_parse_ip("::1", a), AF_INET6);
}
END_TEST

static Suite *
rules_suite(void)
{
	Suite	*s = suite_create("rules");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, parse_good);
	tcase_add_test(tc, parse_bad);
	tcase_add_test(tc, match_ipv4);
	tcase_add_test(tc, match_ipv6);
	tcase_add_test(tc, classes);
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, own_ports);
	tcase_add_test(tc, hosts);
	tcase_add_test(tc, sockaddrs);
	suite_add_tcase(s, tc);
	return (s);
}

const check_suite_fn check_suites[] = { rules_suite, NULL };
