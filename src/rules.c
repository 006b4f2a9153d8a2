/*
 * rules.c -- destination access rules: parsing --access-rule texts,
 * matching an address and a port against a rule set, the classes of
 * addresses a forward server refuses by default, and the verdict for one
 * destination under a policy.  Pure: no sockets, no lookups, no logging;
 * the callers (access.c) supply whether an address is local.
 *
 * A rule is ADDRS[:PORTS], or [ADDRS]:PORTS when an address has colons.
 * ADDRS is "*" or a comma-separated list of specs: an address, a CIDR
 * block (A/N) or a range (A-B, or A-N with N the last IPv4 octet).
 * PORTS is "*" or a comma-separated list of ports and ranges (P-Q).
 * Addresses compare in their 16-byte form, IPv4 as ::ffff:a.b.c.d, so
 * an IPv4-mapped IPv6 address is the IPv4 address it maps.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linksocks.h"

/* A block of addresses that makes a class. */
struct rules_block {
	enum rules_class	 rb_class;
	uint8_t			 rb_prefix[16];
	int			 rb_len;	/* bits */
};

#define V4M(a, b, c, d)	{ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d }

static const struct rules_block rules_blocks[] = {
	{ RC_UNSPEC, { 0 }, 128 },
	{ RC_UNSPEC, V4M(0, 0, 0, 0), 96 + 8 },
	{ RC_LOOPBACK, { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 },
	    128 },
	{ RC_LOOPBACK, V4M(127, 0, 0, 0), 96 + 8 },
	{ RC_LINKLOCAL, { 0xfe, 0x80 }, 10 },
	{ RC_LINKLOCAL, V4M(169, 254, 0, 0), 96 + 16 },
	{ RC_MULTICAST, { 0xff }, 8 },
	{ RC_MULTICAST, V4M(224, 0, 0, 0), 96 + 4 },
	{ RC_MULTICAST, V4M(255, 255, 255, 255), 128 },
};

static char	*rules_trim(char *);
static int	 rules_prefix_eq(const uint8_t *, const uint8_t *, int);
static const struct rules_block *rules_block_of(const uint8_t *);
static int	 rules_number(const char *, long, long, long *);
static int	 rules_parse_range(char *, struct rules_range *, char *,
		    size_t);
static int	 rules_parse_ports(char *, struct rules_ports *, char *,
		    size_t);
static int	 rules_split(char *, char ***, size_t *);
static int	 rules_parse(struct rule *, char *, char *, size_t);
static void	 rules_free_rule(struct rule *);
static int	 rules_in_range(const struct rules_range *, const uint8_t *);
static int	 rules_port_ok(const struct rule *, uint16_t);

static char *
rules_trim(char *s)
{
	size_t	len;

	while (*s == ' ' || *s == '\t')
		s++;
	len = strlen(s);
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		s[--len] = '\0';
	return (s);
}

/* Do a and b agree on their first bits bits? */
static int
rules_prefix_eq(const uint8_t *a, const uint8_t *b, int bits)
{
	int	whole = bits / 8, rest = bits % 8;
	uint8_t	mask;

	if (memcmp(a, b, (size_t)whole) != 0)
		return (0);
	if (rest == 0)
		return (1);
	mask = (uint8_t)(0xff << (8 - rest));
	return ((a[whole] & mask) == (b[whole] & mask));
}

static const struct rules_block *
rules_block_of(const uint8_t *a)
{
	size_t	i;

	for (i = 0; i < LS_NITEMS(rules_blocks); i++)
		if (rules_prefix_eq(a, rules_blocks[i].rb_prefix,
		    rules_blocks[i].rb_len))
			return (&rules_blocks[i]);
	return (NULL);
}

enum rules_class
rules_classify(const uint8_t *a)
{
	const struct rules_block	*b;

	return ((b = rules_block_of(a)) == NULL ? RC_OTHER : b->rb_class);
}

const char *
rules_strclass(enum rules_class c)
{
	switch (c) {
	case RC_LOOPBACK:
		return ("loopback address");
	case RC_LINKLOCAL:
		return ("link-local address");
	case RC_UNSPEC:
		return ("unspecified address");
	case RC_MULTICAST:
		return ("multicast or broadcast address");
	default:
		return ("address");
	}
}

int
rules_addr16(const struct sockaddr *sa, uint8_t *out)
{
	static const uint8_t	 v4m[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0xff, 0xff };

	switch (sa->sa_family) {
	case AF_INET:
		memcpy(out, v4m, sizeof(v4m));
		memcpy(out + 12, &((const struct sockaddr_in *)sa)->sin_addr,
		    4);
		return (0);
	case AF_INET6:
		memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return (0);
	default:
		return (-1);
	}
}

/* AF_INET or AF_INET6 for a literal (out: its 16-byte form), or -1. */
int
rules_parse_ip(const char *s, uint8_t *out)
{
	struct sockaddr_in	 sin;
	struct sockaddr_in6	 sin6;

	memset(&sin, 0, sizeof(sin));
	memset(&sin6, 0, sizeof(sin6));
	if (inet_pton(AF_INET, s, &sin.sin_addr) == 1) {
		sin.sin_family = AF_INET;
		(void)rules_addr16((struct sockaddr *)&sin, out);
		return (AF_INET);
	}
	if (inet_pton(AF_INET6, s, &sin6.sin6_addr) == 1) {
		sin6.sin6_family = AF_INET6;
		(void)rules_addr16((struct sockaddr *)&sin6, out);
		return (AF_INET6);
	}
	return (-1);
}

/* Decimal digits only, min..max. */
static int
rules_number(const char *s, long min, long max, long *out)
{
	long	v = 0;

	if (*s == '\0' || strlen(s) > 6)
		return (-1);
	for (; *s != '\0'; s++) {
		if (!isdigit((unsigned char)*s))
			return (-1);
		v = v * 10 + (*s - '0');
	}
	if (v < min || v > max)
		return (-1);
	*out = v;
	return (0);
}

/* One address spec: A, A/N, A-B or (IPv4) A-N. */
static int
rules_parse_range(char *s, struct rules_range *rr, char *err, size_t errlen)
{
	char	*sep;
	long	 n;
	int	 fam, fam2, bits, i;
	uint8_t	 hi[16];

	if ((sep = strchr(s, '/')) != NULL) {
		*sep = '\0';
		if ((fam = rules_parse_ip(s, rr->rr_lo)) == -1) {
			snprintf(err, errlen, "invalid address \"%s\"", s);
			return (-1);
		}
		if (rules_number(sep + 1, 0, fam == AF_INET ? 32 : 128,
		    &n) == -1) {
			snprintf(err, errlen, "invalid prefix length \"%s\"",
			    sep + 1);
			return (-1);
		}
		bits = (int)n + (fam == AF_INET ? 96 : 0);
		memcpy(rr->rr_hi, rr->rr_lo, 16);
		for (i = bits; i < 128; i++) {
			rr->rr_lo[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
			rr->rr_hi[i / 8] |= (uint8_t)(0x80 >> (i % 8));
		}
		return (0);
	}
	if ((sep = strchr(s, '-')) != NULL) {
		*sep = '\0';
		if ((fam = rules_parse_ip(s, rr->rr_lo)) == -1) {
			snprintf(err, errlen, "invalid address \"%s\"", s);
			return (-1);
		}
		if ((fam2 = rules_parse_ip(sep + 1, hi)) != -1) {
			if (fam2 != fam) {
				snprintf(err, errlen, "range \"%s-%s\" mixes "
				    "IPv4 and IPv6", s, sep + 1);
				return (-1);
			}
		} else if (fam == AF_INET &&
		    rules_number(sep + 1, 0, 255, &n) == 0) {
			memcpy(hi, rr->rr_lo, 16);
			hi[15] = (uint8_t)n;
		} else {
			snprintf(err, errlen, "invalid range end \"%s\"",
			    sep + 1);
			return (-1);
		}
		if (memcmp(rr->rr_lo, hi, 16) > 0) {
			snprintf(err, errlen, "range \"%s-%s\" ends before it "
			    "starts", s, sep + 1);
			return (-1);
		}
		memcpy(rr->rr_hi, hi, 16);
		return (0);
	}
	if (rules_parse_ip(s, rr->rr_lo) == -1) {
		snprintf(err, errlen, "invalid address \"%s\"", s);
		return (-1);
	}
	memcpy(rr->rr_hi, rr->rr_lo, 16);
	return (0);
}

/* One port spec: P or P-Q, 1..65535. */
static int
rules_parse_ports(char *s, struct rules_ports *rp, char *err, size_t errlen)
{
	char	*sep;
	long	 lo, hi;

	if ((sep = strchr(s, '-')) != NULL)
		*sep = '\0';
	if (rules_number(s, 1, 65535, &lo) == -1) {
		snprintf(err, errlen, "invalid port \"%s\"", s);
		return (-1);
	}
	hi = lo;
	if (sep != NULL && rules_number(sep + 1, 1, 65535, &hi) == -1) {
		snprintf(err, errlen, "invalid port \"%s\"", sep + 1);
		return (-1);
	}
	if (hi < lo) {
		snprintf(err, errlen, "port range \"%ld-%ld\" ends before it "
		    "starts", lo, hi);
		return (-1);
	}
	rp->rp_lo = (uint16_t)lo;
	rp->rp_hi = (uint16_t)hi;
	return (0);
}

/* Cut a comma-separated list in place; items trimmed. */
static int
rules_split(char *s, char ***items, size_t *n)
{
	size_t	 cap = 1, i = 0;
	char	*p, **v;

	for (p = s; *p != '\0'; p++)
		if (*p == ',')
			cap++;
	if ((v = calloc(cap, sizeof(*v))) == NULL)
		return (-1);
	for (p = s;; p++) {
		if (*p != ',' && *p != '\0')
			continue;
		v[i++] = s;
		if (*p == '\0')
			break;
		*p = '\0';
		s = p + 1;
	}
	for (i = 0; i < cap; i++)
		v[i] = rules_trim(v[i]);
	*items = v;
	*n = cap;
	return (0);
}

static int
rules_parse(struct rule *r, char *buf, char *err, size_t errlen)
{
	char	*addrs, *ports = NULL, *p, **items = NULL;
	size_t	 n, i, colons = 0;
	int	 rc = -1;

	buf = rules_trim(buf);
	if (*buf == '\0') {
		snprintf(err, errlen, "empty rule");
		return (-1);
	}
	if (*buf == '[') {
		if ((p = strchr(buf, ']')) == NULL) {
			snprintf(err, errlen, "missing ']'");
			return (-1);
		}
		*p++ = '\0';
		addrs = buf + 1;
		if (*p == ':')
			ports = p + 1;
		else if (*p != '\0') {
			snprintf(err, errlen, "unexpected \"%s\" after ']'", p);
			return (-1);
		}
	} else {
		/* An IPv6 address has two colons at least: no ports then. */
		for (p = buf; *p != '\0'; p++)
			if (*p == ':')
				colons++;
		addrs = buf;
		if (colons == 1) {
			p = strchr(buf, ':');
			*p = '\0';
			ports = p + 1;
		}
	}
	addrs = rules_trim(addrs);
	if (*addrs == '\0') {
		snprintf(err, errlen, "missing address (* for any)");
		return (-1);
	}
	if (ports != NULL && *(ports = rules_trim(ports)) == '\0') {
		snprintf(err, errlen, "missing port after ':' (* for any)");
		return (-1);
	}
	if (strcmp(addrs, "*") != 0) {
		if (rules_split(addrs, &items, &n) == -1 ||
		    (r->r_addrs = calloc(n, sizeof(*r->r_addrs))) == NULL)
			goto nomem;
		for (i = 0; i < n; i++) {
			if (*items[i] == '\0') {
				snprintf(err, errlen, "empty address in list");
				goto out;
			}
			if (rules_parse_range(items[i], &r->r_addrs[i], err,
			    errlen) == -1)
				goto out;
		}
		r->r_naddrs = n;
		free(items);
		items = NULL;
	}
	if (ports != NULL && strcmp(ports, "*") != 0) {
		if (rules_split(ports, &items, &n) == -1 ||
		    (r->r_ports = calloc(n, sizeof(*r->r_ports))) == NULL)
			goto nomem;
		for (i = 0; i < n; i++) {
			if (*items[i] == '\0') {
				snprintf(err, errlen, "empty port in list");
				goto out;
			}
			if (rules_parse_ports(items[i], &r->r_ports[i], err,
			    errlen) == -1)
				goto out;
		}
		r->r_nports = n;
	}
	rc = 0;
	goto out;
 nomem:
	snprintf(err, errlen, "out of memory");
 out:
	free(items);
	return (rc);
}

static void
rules_free_rule(struct rule *r)
{
	free(r->r_text);
	free(r->r_addrs);
	free(r->r_ports);
	memset(r, 0, sizeof(*r));
}

/* Parse text as one rule and append it to rs. */
int
rules_add(struct rules *rs, const char *text, char *err, size_t errlen)
{
	struct rule	 r, *nv;
	char		*buf;

	memset(&r, 0, sizeof(r));
	if ((buf = strdup(text)) == NULL ||
	    (r.r_text = strdup(text)) == NULL) {
		free(buf);
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	if (rules_parse(&r, buf, err, errlen) == -1) {
		free(buf);
		rules_free_rule(&r);
		return (-1);
	}
	free(buf);
	if ((nv = reallocarray(rs->rs_rules, rs->rs_n + 1,
	    sizeof(*nv))) == NULL) {
		rules_free_rule(&r);
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	rs->rs_rules = nv;
	rs->rs_rules[rs->rs_n++] = r;
	return (0);
}

void
rules_clear(struct rules *rs)
{
	size_t	i;

	for (i = 0; i < rs->rs_n; i++)
		rules_free_rule(&rs->rs_rules[i]);
	free(rs->rs_rules);
	rs->rs_rules = NULL;
	rs->rs_n = 0;
}

static int
rules_in_range(const struct rules_range *rr, const uint8_t *a)
{
	return (memcmp(rr->rr_lo, a, 16) <= 0 && memcmp(a, rr->rr_hi, 16) <= 0);
}

static int
rules_port_ok(const struct rule *r, uint16_t port)
{
	size_t	i;

	if (r->r_nports == 0)
		return (1);
	for (i = 0; i < r->r_nports; i++)
		if (port >= r->r_ports[i].rp_lo && port <= r->r_ports[i].rp_hi)
			return (1);
	return (0);
}

int
rules_match(const struct rules *rs, const uint8_t *a, uint16_t port,
    int *named)
{
	const struct rules_block	*b = rules_block_of(a);
	const struct rule		*r;
	size_t				 i, j;
	int				 found = 0;

	*named = 0;
	for (i = 0; i < rs->rs_n; i++) {
		r = &rs->rs_rules[i];
		if (!rules_port_ok(r, port))
			continue;
		if (r->r_naddrs == 0) {
			found = 1;
			continue;
		}
		for (j = 0; j < r->r_naddrs; j++) {
			if (!rules_in_range(&r->r_addrs[j], a))
				continue;
			found = 1;
			if (b != NULL && rules_prefix_eq(r->r_addrs[j].rr_lo,
			    b->rb_prefix, b->rb_len) &&
			    rules_prefix_eq(r->r_addrs[j].rr_hi, b->rb_prefix,
			    b->rb_len)) {
				*named = 1;
				return (1);
			}
		}
	}
	return (found);
}

int
rules_match_port(const struct rules *rs, uint16_t port)
{
	size_t	i;

	for (i = 0; i < rs->rs_n; i++)
		if (rules_port_ok(&rs->rs_rules[i], port))
			return (1);
	return (0);
}

int
rules_own_port(const struct rules_policy *pl, uint16_t port)
{
	size_t	i;

	for (i = 0; i < pl->pl_nports; i++)
		if (pl->pl_ports[i] == port)
			return (1);
	return (0);
}

/*
 * Our own listening sockets never; then the rules, when there are any;
 * then, with defaults, the classes unless a rule names the address or
 * (loopback, link-local) the policy allows private addresses.
 */
enum rules_verdict
rules_check(const struct rules_policy *pl, const uint8_t *a, uint16_t port,
    int local)
{
	enum rules_class	c = rules_classify(a);
	int			named = 0;

	if ((local || c == RC_LOOPBACK || c == RC_UNSPEC) &&
	    rules_own_port(pl, port))
		return (RV_SELF);
	if (pl->pl_rules != NULL && pl->pl_rules->rs_n > 0 &&
	    !rules_match(pl->pl_rules, a, port, &named))
		return (RV_NORULE);
	if (!pl->pl_defaults || c == RC_OTHER || named)
		return (RV_ALLOW);
	if (pl->pl_allow_private && (c == RC_LOOPBACK || c == RC_LINKLOCAL))
		return (RV_ALLOW);
	return (RV_CLASS);
}

enum rules_verdict
rules_check_host(const struct rules_policy *pl, const char *host,
    uint16_t port)
{
	uint8_t	a[16];

	if (rules_parse_ip(host, a) != -1)
		return (rules_check(pl, a, port, 0));
	if (pl->pl_rules != NULL && pl->pl_rules->rs_n > 0 &&
	    !rules_match_port(pl->pl_rules, port))
		return (RV_NORULE);
	return (RV_ALLOW);
}

const char *
rules_why(enum rules_verdict v, const uint8_t *a)
{
	switch (v) {
	case RV_ALLOW:
		return ("allowed");
	case RV_NORULE:
		return ("no access rule matches");
	case RV_SELF:
		return ("one of this process's own listening sockets");
	case RV_CLASS:
		return (a != NULL ? rules_strclass(rules_classify(a)) :
		    "refused by default");
	}
	return ("refused");
}
