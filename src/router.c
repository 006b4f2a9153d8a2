/*
 * router.c -- where a new channel of a provider group goes: round robin
 * over every provider of the group in every worker (the master tells each
 * worker the others' counts), and the links between workers that carry a
 * channel to the worker that has the provider chosen (agent mode).  The
 * SOCKS front end of a server and the agent relay both ask here; neither
 * knows how providers are counted or where the links are.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "linksocks.h"

/* A provider silent for longer than this is passed over. */
#define ROUTER_SILENT		(LS_PING_INTERVAL + 10)

static struct tunnel	*router_links[LS_MAX_WORKERS];

static struct tunnel	*router_pick_provider(struct group *, int *);

/*
 * Round robin over every provider of the group in every worker, so load
 * is shared per provider whatever worker a SOCKS connection lands on.  A
 * provider silent for longer than a keepalive period is skipped.
 */
static struct tunnel *
router_pick_provider(struct group *g, int *worker)
{
	struct tunnel	*t;
	unsigned	 total, k, n, tries;
	int		 i, self = ls_worker->w_idx;

	*worker = -1;
	if (g == NULL || (total = registry_group_total(g)) == 0)
		return (NULL);
	for (tries = 0; tries < total; tries++) {
		k = g->g_rr++ % total;
		for (i = 0; i < LS_MAX_WORKERS; i++) {
			n = i == self ? g->g_nlocal : g->g_count[i];
			if (k < n)
				break;
			k -= n;
		}
		if (i >= LS_MAX_WORKERS)
			break;
		if (i != self) {
			*worker = i;
			return (NULL);
		}
		TAILQ_FOREACH(t, &g->g_tunnels, t_entry)
			if (k-- == 0)
				break;
		if (t == NULL)
			continue;
		if (tunnel_idle(t) > ROUTER_SILENT) {
			log_info("provider %s silent for %.0fs, skipped",
			    t->t_name, tunnel_idle(t));
			continue;
		}
		return (t);
	}
	/* Every local candidate looked dead: any provider beats none. */
	return (TAILQ_FIRST(&g->g_tunnels));
}

struct tunnel *
router_pick(struct group *g, int adopted, int *worker)
{
	*worker = -1;
	/* A handed-off request moves once: it takes a provider here. */
	if (adopted)
		return (router_pick_local(g));
	return (router_pick_provider(g, worker));
}

/* This worker's providers of g only, round robin, skipping silent ones. */
struct tunnel *
router_pick_local(struct group *g)
{
	struct tunnel	*t;
	unsigned	 n, k;

	if (g == NULL || g->g_nlocal == 0)
		return (NULL);
	for (n = 0; n < g->g_nlocal; n++) {
		k = g->g_lrr++ % g->g_nlocal;
		TAILQ_FOREACH(t, &g->g_tunnels, t_entry)
			if (k-- == 0)
				break;
		if (t != NULL && tunnel_idle(t) <= ROUTER_SILENT)
			return (t);
	}
	return (TAILQ_FIRST(&g->g_tunnels));
}

/* ---- worker links (agent relay across workers) ------------------------ */

struct tunnel *
router_link(int worker)
{
	if (worker < 0 || worker >= LS_MAX_WORKERS)
		return (NULL);
	return (router_links[worker]);
}

/* The link to worker peer, over fd from the master. */
void
router_link_set(int peer, int fd, const struct tunnel_ops *ops)
{
	if (peer < 0 || peer >= LS_MAX_WORKERS || peer == ls_worker->w_idx) {
		close(fd);
		return;
	}
	if (router_links[peer] != NULL)
		tunnel_close(router_links[peer], "replaced");
	router_links[peer] = tunnel_new_link(fd, peer, ops, NULL);
	log_debug("link to worker %d up", peer);
}

void
router_link_gone(struct tunnel *t, const char *why)
{
	int	i;

	for (i = 0; i < LS_MAX_WORKERS; i++)
		if (router_links[i] == t) {
			router_links[i] = NULL;
			log_debug("link to worker %d closed: %s", i, why);
		}
}
