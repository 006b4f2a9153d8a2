/*
 * preauth.c -- what connections that have not authenticated may hold in
 * a worker.  Each kind (tunnel connections in server.c, SOCKS5 sessions
 * still negotiating in front.c) has a pool with a cap on how many it
 * counts and, optionally, on the bytes they buffer together.  A new
 * connection at the cap, or a read that brings the pool over its bytes,
 * drops the oldest first: an attacker's connections age out, a client
 * that authenticates in a round trip is rarely the oldest.  The drops
 * are logged at most once a second, with their count.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "linksocks.h"

#define PREAUTH_LOG_INTERVAL	1.0	/* seconds between log lines */

static void	preauth_drop(struct preauth *);
static void	preauth_log(struct preauth_pool *);
static void	preauth_flush(evutil_socket_t, short, void *);

void
preauth_add(struct preauth_pool *pp, struct preauth *pa, preauth_drop_cb cb,
    void *arg)
{
	struct preauth	*old;

	while (pp->pp_count >= pp->pp_max &&
	    (old = TAILQ_FIRST(&pp->pp_list)) != NULL)
		preauth_drop(old);
	pa->pa_pool = pp;
	pa->pa_bytes = 0;
	pa->pa_drop = cb;
	pa->pa_arg = arg;
	TAILQ_INSERT_TAIL(&pp->pp_list, pa, pa_entry);
	pp->pp_count++;
	if (pp->pp_stat >= 0)
		STAT_INC(pp->pp_stat);
}

void
preauth_remove(struct preauth *pa)
{
	struct preauth_pool	*pp = pa->pa_pool;

	if (pp == NULL)
		return;
	TAILQ_REMOVE(&pp->pp_list, pa, pa_entry);
	pp->pp_count--;
	pp->pp_bytes -= pa->pa_bytes;
	pa->pa_bytes = 0;
	pa->pa_pool = NULL;
}

int
preauth_set_bytes(struct preauth *pa, size_t n)
{
	struct preauth_pool	*pp = pa->pa_pool;
	struct preauth		*old;
	int			 self = 0;

	if (pp == NULL)
		return (0);
	pp->pp_bytes = pp->pp_bytes - pa->pa_bytes + n;
	pa->pa_bytes = n;
	while (pp->pp_maxbytes > 0 && pp->pp_bytes > pp->pp_maxbytes &&
	    (old = TAILQ_FIRST(&pp->pp_list)) != NULL) {
		if (old == pa)
			self = 1;
		preauth_drop(old);
	}
	return (self ? -1 : 0);
}

/* Off the list first, so that the owner's teardown finds it gone. */
static void
preauth_drop(struct preauth *pa)
{
	struct preauth_pool	*pp = pa->pa_pool;

	preauth_remove(pa);
	pp->pp_drops++;
	pp->pp_total++;
	if (pp->pp_stat >= 0)
		STAT_INC(pp->pp_stat + 1);
	preauth_log(pp);
	pa->pa_drop(pa, pa->pa_arg);
}

/* One line now, or the count a second after the last line. */
static void
preauth_log(struct preauth_pool *pp)
{
	struct timeval	 tv;
	double		 now = util_now(), left;
	char		 bytes[64] = "";

	left = pp->pp_logged + PREAUTH_LOG_INTERVAL - now;
	if (pp->pp_logged == 0 || left <= 0) {
		if (pp->pp_maxbytes > 0)
			snprintf(bytes, sizeof(bytes), " or %zu KiB buffered",
			    pp->pp_maxbytes / 1024);
		log_warnx("preauth: %s: at the cap (%u%s): %lu dropped, "
		    "oldest first (%lu in all)", pp->pp_name, pp->pp_max,
		    bytes, pp->pp_drops, pp->pp_total);
		pp->pp_drops = 0;
		pp->pp_logged = now;
		return;
	}
	if (ls_worker == NULL)
		return;		/* no loop: the next line counts them */
	if (pp->pp_flush == NULL &&
	    (pp->pp_flush = evtimer_new(ls_worker->w_base, preauth_flush,
	    pp)) == NULL)
		return;
	if (!evtimer_pending(pp->pp_flush, NULL)) {
		tv.tv_sec = (time_t)left;
		tv.tv_usec = (suseconds_t)((left - (double)tv.tv_sec) * 1e6);
		evtimer_add(pp->pp_flush, &tv);
	}
}

static void
preauth_flush(evutil_socket_t fd LS_UNUSED, short ev LS_UNUSED, void *arg)
{
	struct preauth_pool	*pp = arg;

	if (pp->pp_drops > 0) {
		pp->pp_logged = 0;
		preauth_log(pp);
	}
}
