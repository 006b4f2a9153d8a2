/*
 * access.c -- the destination policy of this process: the access rules
 * of ls_conf (rules.c) with the defaults of its role and its own
 * listening ports.  The dial side (dial.c, udp.c) asks about the
 * address it is about to use; the SOCKS side (front.c, udp.c) about the
 * host a request names.  Refusals are logged at a bounded rate.
 *
 * Defaults: a forward server (role server, the dial side of forward
 * tunnels) refuses loopback, link-local, unspecified and multicast
 * addresses unless --allow-private (loopback, link-local) or a rule
 * naming them opens them; every process refuses its own listening
 * sockets on any local address, whatever the rules.  Providers and the
 * SOCKS side apply the rules only.
 *
 * On a server the HTTP API may set a list per side (entry, dial), which
 * replaces the command line's rules on that side, and a token may carry
 * its own list, which wins over both for that token's traffic.
 */
#include "config.h"

#include <sys/types.h>
#include <ifaddrs.h>
#include <stdarg.h>
#include <string.h>
#include <syslog.h>

#include "linksocks.h"

#define ACCESS_LOG_BURST	20	/* lines a second, then counted */
#define ACCESS_IFS_TTL		5	/* seconds the interface list is kept */

static uint16_t		 access_ports[RULES_MAXPORTS];
static struct rules	 access_lists[2];	/* by side, from the API */
static int		 access_listset[2];
static size_t		 access_nports;
static double		 access_window;
static unsigned		 access_logged, access_quiet;

static void	access_policy(enum access_side, const struct rules *,
		    struct rules_policy *);
static int	access_local(const uint8_t *);

void
access_own_port(int port)
{
	size_t	i;

	if (port <= 0 || port > 65535)
		return;
	for (i = 0; i < access_nports; i++)
		if (access_ports[i] == port)
			return;
	if (access_nports < LS_NITEMS(access_ports))
		access_ports[access_nports++] = (uint16_t)port;
	else
		log_warnx("%s: more than %zu listening ports, %d not "
		    "protected", __func__, LS_NITEMS(access_ports), port);
}

/* The list of a side (the API's, taking rs's contents); NULL: unset. */
void
access_set_rules(enum access_side side, struct rules *rs)
{
	rules_clear(&access_lists[side]);
	access_listset[side] = rs != NULL;
	if (rs != NULL) {
		access_lists[side] = *rs;
		memset(rs, 0, sizeof(*rs));
	}
}

static void
access_policy(enum access_side side, const struct rules *tok,
    struct rules_policy *pl)
{
	memset(pl, 0, sizeof(*pl));
	if (tok != NULL && tok->rs_n > 0)
		pl->pl_rules = tok;
	else if (access_listset[side])
		pl->pl_rules = &access_lists[side];
	else
		pl->pl_rules = &ls_conf->c_rules;
	if (side != ACCESS_DIAL)
		return;
	pl->pl_defaults = ls_conf->c_role == ROLE_SERVER;
	pl->pl_allow_private = ls_conf->c_allow_private;
	pl->pl_ports = access_ports;
	pl->pl_nports = access_nports;
}

/*
 * Is a (16-byte form) one of this host's addresses?  The interface list
 * is read again after a few seconds; if it cannot be read, yes.
 */
static int
access_local(const uint8_t *a)
{
	static struct ifaddrs	*ifs;
	static double		 stamp;
	struct ifaddrs		*ifa;
	uint8_t			 b[16];
	double			 now = util_now();

	if (ifs == NULL || now - stamp > ACCESS_IFS_TTL) {
		if (ifs != NULL)
			freeifaddrs(ifs);
		ifs = NULL;
		if (getifaddrs(&ifs) == -1) {
			log_warn("%s: getifaddrs", __func__);
			ifs = NULL;
			return (1);
		}
		stamp = now;
	}
	for (ifa = ifs; ifa != NULL; ifa = ifa->ifa_next)
		if (ifa->ifa_addr != NULL &&
		    rules_addr16(ifa->ifa_addr, b) == 0 &&
		    memcmp(a, b, sizeof(b)) == 0)
			return (1);
	return (0);
}

enum rules_verdict
access_check(enum access_side side, const struct sockaddr *sa,
    const struct rules *tok, const char **why)
{
	struct rules_policy	 pl;
	enum rules_verdict	 v;
	uint8_t			 a[16];
	uint16_t		 port;
	int			 local = 0;

	if (rules_addr16(sa, a) == -1) {
		*why = "not an IP address";
		return (RV_NORULE);
	}
	port = sa->sa_family == AF_INET ?
	    ntohs(((const struct sockaddr_in *)sa)->sin_port) :
	    ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	access_policy(side, tok, &pl);
	if (rules_own_port(&pl, port))
		local = access_local(a);
	v = rules_check(&pl, a, port, local);
	*why = rules_why(v, a);
	return (v);
}

enum rules_verdict
access_check_host(enum access_side side, const char *host, uint16_t port,
    const struct rules *tok, const char **why)
{
	struct rules_policy	 pl;
	enum rules_verdict	 v;
	uint8_t			 a[16];

	access_policy(side, tok, &pl);
	v = rules_check_host(&pl, host, port);
	*why = rules_why(v, rules_parse_ip(host, a) == -1 ? NULL : a);
	return (v);
}

/* The rules of the token a server tunnel used (never a peer's text). */
const struct rules *
access_token_rules(const char *token)
{
	struct token	*tk;

	if (token == NULL || (tk = registry_find(token)) == NULL ||
	    tk->tk_rules.rs_n == 0)
		return (NULL);
	return (&tk->tk_rules);
}

void
access_refused(const char *fmt, ...)
{
	va_list	ap;
	double	now = util_now();

	if (now - access_window >= 1.0) {
		if (access_quiet > 0)
			log_info("access: %u more refusals not logged",
			    access_quiet);
		access_window = now;
		access_logged = access_quiet = 0;
	}
	if (access_logged >= ACCESS_LOG_BURST) {
		access_quiet++;
		return;
	}
	access_logged++;
	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap);
	va_end(ap);
}
