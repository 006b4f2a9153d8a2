/*
 * worker.c -- a worker process: one event loop that owns its tunnels,
 * channels, SOCKS5 sessions and outbound connections.  It never blocks.
 * What runs on the loop is the role the master passes (server.c or
 * client.c, struct worker_role); this file is below both and calls
 * them only through it.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "linksocks.h"

struct worker	*ls_worker;

static struct event	*worker_sigterm, *worker_sigint, *worker_sighup;
static struct event	*worker_load_ev;
static struct event	*worker_stats_ev;	/* periodic IPC_STATS */
static struct event	*worker_rl_ev;		/* held log counts */

/* Work deferred to the loop (worker_defer): one event, one array. */
struct worker_deferred {
	void	(*wd_fn)(void *);
	void	*wd_arg;
};
static struct worker_deferred	*worker_deferred;
static size_t			 worker_ndeferred, worker_maxdeferred;
static struct event		*worker_defer_ev;
static int			 worker_defer_armed;

static void	worker_signal(evutil_socket_t, short, void *);
static void	worker_dispatch(struct ipc *, int, const void *, size_t, int,
		    void *);
static void	worker_ipc_closed(struct ipc *, void *);
static void	worker_send_load(evutil_socket_t, short, void *);
static void	worker_send_stats(uint32_t);
static void	worker_stats_tick(evutil_socket_t, short, void *);
static void	worker_drain_check(evutil_socket_t, short, void *);
static void	worker_run_deferred(evutil_socket_t, short, void *);
static void	worker_rl_arm(void);
static void	worker_rl_tick(evutil_socket_t, short, void *);

static void
worker_signal(evutil_socket_t sig, short ev, void *arg)
{
	struct worker	*w = ls_worker;
	struct timeval	 tv = { 0, 200000 };

	switch (sig) {
	case SIGTERM:
		if (w->w_draining)
			return;
		log_info("draining: %u channel%s open", w->w_channels,
		    w->w_channels == 1 ? "" : "s");
		w->w_draining = 1;
		w->w_drain_started = util_now();
		w->w_role->wr_drain();
		w->w_drain_ev = event_new(w->w_base, -1, EV_PERSIST,
		    worker_drain_check, w);
		event_add(w->w_drain_ev, &tv);
		break;
	case SIGINT:
		log_debug("stopping");
		exit(0);
	case SIGHUP:
		break;
	}
}

static void
worker_drain_check(evutil_socket_t fd, short ev, void *arg)
{
	struct worker	*w = arg;

	if (w->w_role->wr_drain_tick != NULL)
		w->w_role->wr_drain_tick();
	if (w->w_channels == 0) {
		log_debug("drained");
		exit(0);
	}
	if (util_now() - w->w_drain_started >= ls_conf->c_drain_timeout) {
		log_warnx("drain timeout: closing %u channel%s", w->w_channels,
		    w->w_channels == 1 ? "" : "s");
		exit(0);
	}
}

/* The role takes what it knows; any other message is a bug. */
static void
worker_dispatch(struct ipc *i, int type, const void *data, size_t len,
    int fd, void *arg)
{
	uint32_t	seq;

	if (type == IPC_STATS_REQ && fd == -1 &&
	    ipc_payload_ok(type, data, len)) {
		memcpy(&seq, data, sizeof(seq));
		worker_send_stats(seq);
		return;
	}
	if (type == IPC_LOG_LEVEL && fd == -1 &&
	    ipc_payload_ok(type, data, len)) {
		memcpy(&seq, data, sizeof(seq));
		log_setverbose(seq > 2 ? 2 : (int)seq);
		return;
	}
	if (ls_worker->w_role->wr_dispatch(type, data, len, fd) == 0)
		return;
	if (fd != -1)
		close(fd);
	fatalx("%s: unexpected IPC message type %d from master", __func__,
	    type);
}

static void
worker_ipc_closed(struct ipc *i, void *arg)
{
	/* The master is gone: nobody supervises us any more. */
	log_warnx("master went away, exiting");
	exit(0);
}

static void
worker_send_load(evutil_socket_t fd, short ev, void *arg)
{
	struct ipc_load	l;

	memset(&l, 0, sizeof(l));
	l.il_tunnels = ls_worker->w_tunnels;
	l.il_channels = ls_worker->w_channels;
	ipc_send(ls_worker->w_ipc, IPC_LOAD, &l, sizeof(l), -1);
}

/* Our counters to the master: seq answers its request (0: periodic). */
static void
worker_send_stats(uint32_t seq)
{
	struct ipc_stats	s;

	memset(&s, 0, sizeof(s));
	s.is_seq = seq;
	memcpy(s.is_v, stats_v, sizeof(s.is_v));
	s.is_v[ST_TUNNELS_OPEN] = ls_worker->w_tunnels;
	s.is_ntokens = stats_tokens(s.is_tokens);
	ipc_send(ls_worker->w_ipc, IPC_STATS, &s, IPC_STATS_SIZE(s.is_ntokens),
	    -1);
}

static void
worker_stats_tick(evutil_socket_t fd, short ev, void *arg)
{
	worker_send_stats(0);
}

/* Coalesce load reports: at most one per event loop pass. */
void
worker_load_changed(void)
{
	if (worker_load_ev != NULL && !event_pending(worker_load_ev,
	    EV_TIMEOUT, NULL))
		event_active(worker_load_ev, EV_TIMEOUT, 0);
}

/*
 * Objects that callbacks can reach are freed from here, after the
 * callback that closed them returned (tmux's server_client_unref): a
 * pointer further up the stack stays valid and sees the object dead.
 */
void
worker_defer(void (*fn)(void *), void *arg)
{
	struct worker_deferred	*nd;
	size_t			 n;

	if (worker_ndeferred == worker_maxdeferred) {
		n = worker_maxdeferred ? worker_maxdeferred * 2 : 64;
		if ((nd = reallocarray(worker_deferred, n, sizeof(*nd))) ==
		    NULL) {
			log_warnx("%s: out of memory, leaking an object",
			    __func__);
			return;
		}
		worker_deferred = nd;
		worker_maxdeferred = n;
	}
	worker_deferred[worker_ndeferred].wd_fn = fn;
	worker_deferred[worker_ndeferred].wd_arg = arg;
	worker_ndeferred++;
	if (worker_defer_ev == NULL &&
	    (worker_defer_ev = event_new(ls_worker->w_base, -1, 0,
	    worker_run_deferred, NULL)) == NULL)
		fatalx("%s: event_new failed", __func__);
	if (!worker_defer_armed) {
		worker_defer_armed = 1;
		event_active(worker_defer_ev, EV_TIMEOUT, 0);
	}
}

static void
worker_run_deferred(evutil_socket_t fd, short ev, void *arg)
{
	size_t	i;

	worker_defer_armed = 0;
	/* What runs here may defer more: it joins this pass. */
	for (i = 0; i < worker_ndeferred; i++)
		worker_deferred[i].wd_fn(worker_deferred[i].wd_arg);
	worker_ndeferred = 0;
}

/* A rate-limited log line held a count back: print it in a second. */
static void
worker_rl_arm(void)
{
	struct timeval	tv = { 1, 0 };

	if (worker_rl_ev != NULL && !evtimer_pending(worker_rl_ev, NULL))
		evtimer_add(worker_rl_ev, &tv);
}

static void
worker_rl_tick(evutil_socket_t fd, short ev, void *arg)
{
	if (log_rl_flush_all())
		worker_rl_arm();
}

void
worker_fatal(const char *fmt, ...)
{
	char	buf[512];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_warnx("%s", buf);
	/* The master learns from our exit status; stop now. */
	exit(LS_EXIT_FATAL);
}

__dead void
worker_main(const struct worker_role *role, int idx, int ctlfd,
    int socksfd)
{
	struct worker	*w;
	struct timeval	 stats_tv = { LS_STATS_INTERVAL, 0 };
	char		 name[32];

	snprintf(name, sizeof(name), "worker %d", idx);
	log_procinit(name);
	stats_reset();		/* the master's counts are not ours */
	if ((w = calloc(1, sizeof(*w))) == NULL)
		fatal("%s: calloc", __func__);
	ls_worker = w;
	w->w_idx = idx;
	w->w_role = role;
	w->w_socks_fd = socksfd;
	if ((w->w_base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	/* Name servers from resolv.conf and names from /etc/hosts. */
	if ((w->w_dns = evdns_base_new(w->w_base,
	    EVDNS_BASE_INITIALIZE_NAMESERVERS)) == NULL &&
	    (w->w_dns = evdns_base_new(w->w_base, 0)) == NULL)
		fatalx("evdns_base_new failed");
	evdns_base_load_hosts(w->w_dns, NULL);
	w->w_ipc = ipc_new(w->w_base, ctlfd, worker_dispatch,
	    worker_ipc_closed, w);
	worker_sigterm = evsignal_new(w->w_base, SIGTERM, worker_signal, w);
	worker_sigint = evsignal_new(w->w_base, SIGINT, worker_signal, w);
	worker_sighup = evsignal_new(w->w_base, SIGHUP, worker_signal, w);
	evsignal_add(worker_sigterm, NULL);
	evsignal_add(worker_sigint, NULL);
	evsignal_add(worker_sighup, NULL);
	worker_load_ev = event_new(w->w_base, -1, 0, worker_send_load, w);
	worker_rl_ev = evtimer_new(w->w_base, worker_rl_tick, NULL);
	if ((worker_stats_ev = event_new(w->w_base, -1, EV_PERSIST,
	    worker_stats_tick, NULL)) == NULL)
		fatalx("event_new failed");
	event_add(worker_stats_ev, &stats_tv);
	log_rl_sethook(worker_rl_arm);
	log_debug("started, libevent %s (%s)", event_get_version(),
	    event_base_get_method(w->w_base));

	role->wr_init();
	event_base_dispatch(w->w_base);
	exit(0);
}
