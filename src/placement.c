/*
 * placement.c -- which worker takes an accepted tunnel client (master
 * side).  An accepted socket waits here up to 200 ms for its request
 * head, which is then read with MSG_PEEK (nothing is consumed); the
 * token hash of a /socket?token= query is looked up in the registry: a
 * token with limits goes to one worker chosen from its digest (but its
 * providers spread), a connector goes where its group's providers are, a
 * provider's connections spread over the workers, anything else (TLS,
 * message auth, an unknown token) goes to the least loaded worker.  A
 * native TLS client (first byte 0x16, --tls-cert) is always placed by
 * load: agent mode then relies on the worker links, and a token with
 * limits counts per worker it lands on.
 *
 * The master owns the worker table: it passes a view of it (struct
 * placement_worker) and a callback that sends the socket, so nothing
 * here calls into master.c.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linksocks.h"

#define PLACEMENT_WAIT_USEC	200000	/* for the request head */

struct placement_peek {
	struct event	*pp_ev;
	char		 pp_peer[64];
	placement_cb	 pp_cb;
	void		*pp_arg;
};

static unsigned	 placement_rr;

static int	 placement_pick(const struct placement_worker *, int);
static int	 placement_limited(const struct token *,
		    const struct placement_worker *, int);
static void	 placement_ready(evutil_socket_t, short, void *);

/* Least-loaded placement of a tunnel client among live workers. */
static int
placement_pick(const struct placement_worker *pw, int n)
{
	unsigned	 load, bestload = 0;
	int		 i, j, best = -1;

	for (j = 0; j < n; j++) {
		i = (int)((placement_rr + (unsigned)j) % (unsigned)n);
		if (!pw[i].pw_live)
			continue;
		load = pw[i].pw_load;
		if (best == -1 || load < bestload) {
			best = i;
			bestload = load;
		}
	}
	placement_rr++;
	return (best);
}

/*
 * A token with limits keeps its tunnels on one worker, chosen from its
 * digest among the live ones, so that worker's counts and rate group
 * are the token's.  -1: no live worker.
 */
static int
placement_limited(const struct token *tk, const struct placement_worker *pw,
    int n)
{
	unsigned	live = 0, k;
	int		i;

	for (i = 0; i < n; i++)
		if (pw[i].pw_live)
			live++;
	if (live == 0)
		return (-1);
	k = ((unsigned)tk->tk_digest[0] << 24 |
	    (unsigned)tk->tk_digest[1] << 16 |
	    (unsigned)tk->tk_digest[2] << 8 | tk->tk_digest[3]) % live;
	for (i = 0; i < n; i++)
		if (pw[i].pw_live && k-- == 0)
			return (i);
	return (-1);
}

/*
 * What a peeked request head (NUL-terminated, cut here) says: 0 for a
 * "GET /socket?...token=..." request, with its token hash, whether it
 * asks for reverse (reverse= absent, "true" or "1") and its instance;
 * -1 for anything else.  Pure, for the fuzzer.
 */
int
placement_parse(char *buf, struct placement_req *pr)
{
	char	 rev[16], inst[64], *q, *end;

	memset(pr, 0, sizeof(*pr));
	if (strncmp(buf, "GET /socket", 11) != 0 ||
	    (end = strpbrk(buf, " \r\n")) == NULL ||
	    (end = strpbrk(buf + 4, " \r\n")) == NULL)
		return (-1);
	*end = '\0';
	if ((q = strchr(buf, '?')) == NULL ||
	    !http_query_get(q + 1, "token", pr->pr_hash, sizeof(pr->pr_hash)))
		return (-1);
	pr->pr_reverse = !http_query_get(q + 1, "reverse", rev, sizeof(rev)) ||
	    strcmp(rev, "true") == 0 || strcmp(rev, "1") == 0;
	pr->pr_has_instance = http_query_get(q + 1, "instance", inst,
	    sizeof(inst)) && util_parse_uuid(inst, pr->pr_instance) == 0;
	return (0);
}

/*
 * Placement from the request head, read with MSG_PEEK (nothing is
 * consumed): a connector goes where its group's providers are, a
 * provider's connections spread over the workers.  Anything else (TLS,
 * message auth, an unknown token) goes to the least loaded worker.
 */
int
placement_place(int fd, const struct placement_worker *pw, int n)
{
	struct placement_req	 pr;
	struct token		*tk;
	struct group		*g = NULL;
	char			 buf[4096], key[IPC_KEYLEN];
	ssize_t			 r;
	int			 i, best = -1, connector = 0;

	r = recv(fd, buf, sizeof(buf) - 1, MSG_PEEK | MSG_DONTWAIT);
	/* A TLS record (ClientHello): the token is inside, out of reach. */
	if (r <= 0 || buf[0] == 0x16)
		return (placement_pick(pw, n));
	buf[r] = '\0';
	if (placement_parse(buf, &pr) == -1 ||
	    (tk = registry_find_hash(pr.pr_hash)) == NULL)
		return (placement_pick(pw, n));
	/* Limits: one worker, but providers still spread (their ports). */
	if ((tk->tk_limits.tl_max_tunnels != 0 ||
	    tk->tk_limits.tl_max_channels != 0 ||
	    tk->tk_limits.tl_upload != 0 || tk->tk_limits.tl_download != 0) &&
	    !(tk->tk_kind == TOK_REVERSE && pr.pr_reverse) &&
	    (best = placement_limited(tk, pw, n)) != -1)
		return (best);
	if (tk->tk_kind == TOK_CONNECTOR) {
		g = registry_group(tk->tk_target, 0);
		connector = 1;
	} else if (tk->tk_kind == TOK_REVERSE && pr.pr_reverse) {
		g = tk->tk_group;
		if (tk->tk_autonomy) {
			g = NULL;
			if (pr.pr_has_instance) {
				registry_internal_key(tk, pr.pr_instance, key,
				    sizeof(key));
				g = registry_group(key, 0);
			}
		}
	}
	if (g == NULL)
		return (placement_pick(pw, n));
	for (i = 0; i < n; i++) {
		if (!pw[i].pw_live)
			continue;
		if (best == -1 ||
		    (connector && g->g_count[i] > g->g_count[best]) ||
		    (!connector && g->g_count[i] < g->g_count[best]))
			best = i;
	}
	if (best == -1 || (connector && g->g_count[best] == 0))
		return (placement_pick(pw, n));
	if (!connector)
		g->g_count[best]++;	/* until the worker reports */
	return (best);
}

static void
placement_ready(evutil_socket_t fd, short ev LS_UNUSED, void *arg)
{
	struct placement_peek	*pp = arg;

	event_free(pp->pp_ev);
	pp->pp_cb(fd, pp->pp_peer, pp->pp_arg);
	free(pp);
}

/* Give the request head up to 200 ms to arrive for placement. */
void
placement_wait(struct event_base *base, int fd, const char *peer,
    placement_cb cb, void *arg)
{
	struct placement_peek	*pp;
	struct timeval		 tv = { 0, PLACEMENT_WAIT_USEC };
	char			 c;

	if (recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == -1 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK) &&
	    (pp = calloc(1, sizeof(*pp))) != NULL) {
		snprintf(pp->pp_peer, sizeof(pp->pp_peer), "%s", peer);
		pp->pp_cb = cb;
		pp->pp_arg = arg;
		if ((pp->pp_ev = event_new(base, fd, EV_READ,
		    placement_ready, pp)) != NULL) {
			event_add(pp->pp_ev, &tv);
			return;
		}
		free(pp);
	}
	cb(fd, peer, arg);
}
