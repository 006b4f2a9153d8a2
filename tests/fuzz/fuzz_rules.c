/*
 * fuzz_rules.c -- libFuzzer harness for the access rule engine
 * (rules.c).  The input up to the first newline (or NUL) is one rule
 * for rules_add, the next line a host text for rules_check_host and
 * rules_parse_ip, the rest 18-byte probes (a 16-byte address, a port).
 * A rule that parses must match exactly what a plain reading of its
 * parsed ranges and ports matches; a rule that does not gives a reason;
 * verdicts keep the policy's promises: nothing without rules and
 * defaults is refused but our own ports, our own ports are always
 * refused, and a literal host is judged as its address.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "linksocks.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
const char *fuzz_corpus_name = "rules";

static void	 fuzz_check(int);
static int	 fuzz_match(const struct rules *, const uint8_t *, uint16_t);
static char	*fuzz_line(const uint8_t **, size_t *);

static void
fuzz_check(int ok)
{
	if (!ok)
		abort();
}

/* rules_match without its shortcuts: any rule, port then address. */
static int
fuzz_match(const struct rules *rs, const uint8_t *a, uint16_t port)
{
	const struct rule	*r;
	size_t			 i, j;
	int			 pok, aok;

	for (i = 0; i < rs->rs_n; i++) {
		r = &rs->rs_rules[i];
		pok = r->r_nports == 0;
		for (j = 0; j < r->r_nports; j++)
			if (port >= r->r_ports[j].rp_lo &&
			    port <= r->r_ports[j].rp_hi)
				pok = 1;
		aok = r->r_naddrs == 0;
		for (j = 0; j < r->r_naddrs; j++)
			if (memcmp(a, r->r_addrs[j].rr_lo, 16) >= 0 &&
			    memcmp(a, r->r_addrs[j].rr_hi, 16) <= 0)
				aok = 1;
		if (pok && aok)
			return (1);
	}
	return (0);
}

/* The next line of the input as a C string (malloc'd). */
static char *
fuzz_line(const uint8_t **p, size_t *len)
{
	size_t	 n;
	char	*s;

	for (n = 0; n < *len && (*p)[n] != '\n' && (*p)[n] != '\0'; n++)
		;
	if ((s = malloc(n + 1)) == NULL)
		abort();
	memcpy(s, *p, n);
	s[n] = '\0';
	if (n < *len)
		n++;
	*p += n;
	*len -= n;
	return (s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rules		 rs = { NULL, 0 };
	struct rules_policy	 pl;
	const uint8_t		*p = data;
	size_t			 len = size, i;
	uint16_t		 own[2] = { 1080, 8765 }, port;
	uint8_t			 a[16], b[16];
	enum rules_verdict	 v;
	char			*rule, *host, err[256];
	int			 named, added, m;

	rule = fuzz_line(&p, &len);
	host = fuzz_line(&p, &len);
	err[0] = '\0';
	added = rules_add(&rs, rule, err, sizeof(err)) == 0;
	fuzz_check(added ? rs.rs_n == 1 : rs.rs_n == 0 && err[0] != '\0');
	if (added) {
		for (i = 0; i < rs.rs_rules[0].r_naddrs; i++)
			fuzz_check(memcmp(rs.rs_rules[0].r_addrs[i].rr_lo,
			    rs.rs_rules[0].r_addrs[i].rr_hi, 16) <= 0);
		for (i = 0; i < rs.rs_rules[0].r_nports; i++)
			fuzz_check(rs.rs_rules[0].r_ports[i].rp_lo > 0 &&
			    rs.rs_rules[0].r_ports[i].rp_lo <=
			    rs.rs_rules[0].r_ports[i].rp_hi);
	}

	memset(&pl, 0, sizeof(pl));
	pl.pl_ports = own;
	pl.pl_nports = 2;
	while (len >= 18) {
		memcpy(a, p, 16);
		port = (uint16_t)(p[16] << 8 | p[17]);
		p += 18;
		len -= 18;
		m = rules_match(&rs, a, port, &named);
		fuzz_check(m == fuzz_match(&rs, a, port));
		fuzz_check(!named || m);
		(void)rules_strclass(rules_classify(a));
		/* No rules, no defaults: only our own ports are refused. */
		pl.pl_rules = NULL;
		pl.pl_defaults = 0;
		v = rules_check(&pl, a, port, 1);
		fuzz_check(v == (port == 1080 || port == 8765 ? RV_SELF :
		    RV_ALLOW));
		/* With the rule and the defaults: never allowed unmatched. */
		pl.pl_rules = &rs;
		pl.pl_defaults = 1;
		pl.pl_allow_private = port & 1;
		v = rules_check(&pl, a, port, port & 2);
		fuzz_check(v <= RV_SELF);
		if (rs.rs_n > 0 && !m)
			fuzz_check(v != RV_ALLOW);
		if (v == RV_ALLOW && rules_classify(a) != RC_OTHER &&
		    !named)
			fuzz_check(pl.pl_allow_private &&
			    (rules_classify(a) == RC_LOOPBACK ||
			    rules_classify(a) == RC_LINKLOCAL));
		(void)rules_why(v, a);
	}

	/* A literal host is judged as its address, not as a local one. */
	port = (uint16_t)(size * 7919);
	pl.pl_rules = &rs;
	pl.pl_defaults = 1;
	pl.pl_allow_private = 0;
	v = rules_check_host(&pl, host, port);
	fuzz_check(v <= RV_SELF);
	if (rules_parse_ip(host, b) == 0)
		fuzz_check(v == rules_check(&pl, b, port, 0));
	rules_clear(&rs);
	fuzz_check(rs.rs_n == 0);
	free(rule);
	free(host);
	return (0);
}
