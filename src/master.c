/*
 * master.c -- the parent process.  It creates every listening socket
 * before forking (one SO_REUSEPORT SOCKS5 socket per client worker, as
 * nginx clones its listeners), forks and supervises the workers, owns the
 * signals, and on the server accepts tunnel clients and passes each
 * socket to the worker that placement.c picks from the worker table
 * kept here.  It never touches payload bytes.
 *
 * A tunnel client is never lost between the master and a worker: the
 * master keeps its copy of the socket until the worker says it took it.
 * A worker at its open-file limit gets the message without the socket
 * and hands it back; the master then tries another worker, and when
 * none can take it answers "503 Service Unavailable" and closes.  At the
 * master's own limit the tunnel port pauses (listen.c) and a pending
 * client gets the same 503 on the reserve descriptor's slot.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef HAVE_PRCTL
#include <sys/prctl.h>
#endif

#include <openssl/crypto.h>

#include "linksocks.h"

#define MASTER_RESPAWN_MIN	1.0	/* seconds */
#define MASTER_RESPAWN_MAX	30.0
#define MASTER_STABLE		10.0	/* a worker older than this is healthy */
#define MASTER_FULL_WAIT	0.25	/* a worker that handed a client back */
#define MASTER_503_BODY		"Service Unavailable: no worker can take " \
				"the connection now\n"

enum master_state {
	MS_RUNNING,
	MS_DRAINING,		/* SIGTERM: workers drain, no respawn */
	MS_STOPPING		/* SIGINT or fatal: workers stop now */
};

struct master_worker {
	int		 mw_idx;
	pid_t		 mw_pid;
	struct ipc	*mw_ipc;
	int		 mw_socks_fd;		/* client: this worker's listener */
	double		 mw_started;
	double		 mw_backoff;
	struct event	*mw_respawn;
	struct ipc_load	 mw_load;
	unsigned	 mw_assigned;		/* tunnels passed since last load */
	double		 mw_full_until;		/* handed a client back: skip */
};

/* A tunnel client passed to a worker, until it says it took it. */
struct master_tunnel {
	TAILQ_ENTRY(master_tunnel) mt_entry;
	uint32_t	 mt_seq;
	int		 mt_fd;
	int		 mt_worker;		/* where it went, -1 nowhere yet */
	uint64_t	 mt_tried;		/* workers that handed it back */
	char		 mt_peer[64];
};

struct master {
	struct config		*m_conf;
	const struct worker_role *m_role;	/* what the workers run */
	struct event_base	*m_base;
	enum master_state	 m_state;
	int			 m_exit;
	struct master_worker	*m_workers;
	int			 m_nworkers;
	int			 m_ws_fd;
	int			 m_metrics_fd;	/* --metrics-listen, -1 none */
	int			 m_api_fd;	/* --api-listen, -1 none */
	struct listen_guard	*m_api_listener;
	struct listen_guard	*m_ws_listener;
	struct event		*m_sigev[5];
	struct event		*m_killtimer;
	struct event		*m_rl_ev;	/* held log counts */
	struct event		*m_tls_ev;	/* ticket key rotation */
	TAILQ_HEAD(, master_tunnel) m_tunnels;	/* passed, not yet taken */
	uint32_t		 m_seq;
	struct log_rl		 m_rl_back;	/* clients handed back */
	struct log_rl		 m_rl_503;	/* clients answered 503 */
	struct log_rl		 m_rl_handoff;	/* hand-offs without fd */
};

static struct master	*master;

static void	master_bind(struct master *);
static void	master_portfile(struct master *);
static void	master_spawn(struct master *, struct master_worker *);
static void	master_respawn(evutil_socket_t, short, void *);
static void	master_signal(evutil_socket_t, short, void *);
static void	master_reap(struct master *);
static void	master_stop(struct master *, enum master_state, int);
static void	master_killtimer(evutil_socket_t, short, void *);
static void	master_accept(evutil_socket_t, struct sockaddr *, int,
		    void *);
static void	master_assign(int, const char *, void *);
static void	master_place(struct master *, struct master_tunnel *);
static void	master_tunnel_ack(struct master *, struct master_worker *,
		    const struct ipc_tunnel_fd *);
static void	master_tunnels_back(struct master *, struct master_worker *);
static void	master_503(int, void *);
static void	master_rl_arm(void);
static void	master_rl_tick(evutil_socket_t, short, void *);
static const char *master_owner(const char *);
static void	master_dispatch(struct ipc *, int, const void *, size_t, int,
		    void *);
static void	master_ipc_closed(struct ipc *, void *);
static int	master_alive(struct master *);
static void	master_bind_reverse(struct master *);
static void	master_links(struct master *, struct master_worker *);
static void	master_worker_gone(struct master *, struct master_worker *);
static void	master_event_log(int, const char *);
static void	master_bind_metrics(struct master *);
static void	master_bind_api(struct master *);
static void	master_api_accept(evutil_socket_t, struct sockaddr *, int,
		    void *);
static void	master_broadcast(struct master *, int, const void *, size_t);
static void	master_stats_request(uint32_t);
static void	master_tls_init(struct master *);
static int	master_tls_reload(struct master *);
static void	master_tls_rotate(evutil_socket_t, short, void *);

static void
master_bind(struct master *m)
{
	struct config	*c = m->m_conf;
	char		 err[256];
	int		 i, port;

	m->m_ws_fd = -1;
	master_bind_metrics(m);
	master_bind_api(m);
	if (c->c_role == ROLE_SERVER) {
		if ((m->m_ws_fd = util_bind_tcp(c->c_ws_host, c->c_ws_port, 0,
		    1024, err, sizeof(err))) == -1)
			fatalx("%s", err);
		log_info("listening for tunnels on %s:%d", c->c_ws_host,
		    util_local_port(m->m_ws_fd));
		/* Never dialled by our own workers (access.c). */
		access_own_port(util_local_port(m->m_ws_fd));
		master_bind_reverse(m);
		return;
	}
	if (c->c_role == ROLE_PROVIDER)
		return;		/* providers serve no SOCKS5 port */
	/*
	 * One SO_REUSEPORT socket per worker, bound here, listened on by the
	 * worker once its tunnel is up.  With port 0 the first bind picks
	 * the port and the others join it.
	 */
	port = c->c_socks_port;
	for (i = 0; i < m->m_nworkers; i++) {
		if ((m->m_workers[i].mw_socks_fd = util_bind_tcp(c->c_socks_host,
		    port, 1, 0, err, sizeof(err))) == -1)
			fatalx("SOCKS5 listener: %s", err);
		if (port == 0)
			port = util_local_port(m->m_workers[i].mw_socks_fd);
	}
	c->c_socks_port = port;
	access_own_port(port);
	log_info("SOCKS5 address %s:%d (%d worker socket%s)", c->c_socks_host,
	    port, m->m_nworkers, m->m_nworkers > 1 ? "s" : "");
}

/*
 * --metrics-listen: a plain-HTTP port in the master, without a key.  An
 * address other than loopback is served because the operator typed it,
 * with a warning: anyone who reaches it reads the counters.
 */
static void
master_bind_metrics(struct master *m)
{
	struct config	*c = m->m_conf;
	char		 err[256];
	const char	*h = c->c_metrics_host;

	m->m_metrics_fd = -1;
	if (h == NULL)
		return;
	if ((m->m_metrics_fd = util_bind_tcp(h, c->c_metrics_port, 0, 64, err,
	    sizeof(err))) == -1)
		fatalx("metrics listener: %s", err);
	log_info("metrics on http://%s%s%s:%d/metrics", strchr(h, ':') ?
	    "[" : "", log_strz(h), strchr(h, ':') ? "]" : "",
	    util_local_port(m->m_metrics_fd));
	if (strncmp(h, "127.", 4) != 0 && strcmp(h, "::1") != 0 &&
	    strcmp(h, "localhost") != 0)
		log_warnx("metrics: %s is not a loopback address and the "
		    "metrics port asks for no key", log_strz(h));
	access_own_port(util_local_port(m->m_metrics_fd));
}

/*
 * --api-listen: the HTTP API on a plain port of its own in the master,
 * for a server whose tunnel port speaks TLS (where the master cannot
 * read a request to keep it), or to keep the API off the public port.
 */
static void
master_bind_api(struct master *m)
{
	struct config	*c = m->m_conf;
	char		 err[256];
	const char	*h = c->c_api_host;

	m->m_api_fd = -1;
	if (h == NULL)
		return;
	if ((m->m_api_fd = util_bind_tcp(h, c->c_api_port, 0, 64, err,
	    sizeof(err))) == -1)
		fatalx("API listener: %s", err);
	log_info("HTTP API on http://%s%s%s:%d/api/", strchr(h, ':') ?
	    "[" : "", log_strz(h), strchr(h, ':') ? "]" : "",
	    util_local_port(m->m_api_fd));
	access_own_port(util_local_port(m->m_api_fd));
}

static void
master_api_accept(evutil_socket_t fd, struct sockaddr *sa, int salen,
    void *arg)
{
	char	peer[INET6_ADDRSTRLEN + 8];

	util_sockaddr_str(sa, peer, sizeof(peer));
	util_socket_nonblock(fd);
	control_accept(fd, peer);
}

/* A scrape wants fresh counters from every worker. */
static void
master_stats_request(uint32_t seq)
{
	master_broadcast(master, IPC_STATS_REQ, &seq, sizeof(seq));
}

/*
 * Reverse tokens with a SOCKS port: one SO_REUSEPORT socket per worker,
 * bound now; a worker listens once the token has a provider (or -i).
 */
static void
master_bind_reverse(struct master *m)
{
	struct config	*c = m->m_conf;
	struct token	*tk;
	char		 err[256];
	int		 i, port;

	TAILQ_FOREACH(tk, &registry_tokens, tk_entry) {
		if (tk->tk_kind != TOK_REVERSE || tk->tk_port < 0)
			continue;
		port = tk->tk_port;
		for (i = 0; i < m->m_nworkers; i++) {
			if ((tk->tk_fds[i] = util_bind_tcp(c->c_socks_host, port,
			    1, 0, err, sizeof(err))) == -1)
				fatalx("SOCKS5 listener: %s", err);
			if (port == 0)
				port = util_local_port(tk->tk_fds[i]);
		}
		tk->tk_port = port;
		access_own_port(port);
	}
}

static void
master_portfile(struct master *m)
{
	struct config	*c = m->m_conf;
	char		 tmp[4096];
	FILE		*f;

	if (c->c_portfile == NULL)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", c->c_portfile, (int)getpid());
	if ((f = fopen(tmp, "w")) == NULL)
		fatal("port file %s", tmp);
	if (m->m_ws_fd != -1)
		fprintf(f, "ws %d\n", util_local_port(m->m_ws_fd));
	if (m->m_metrics_fd != -1)
		fprintf(f, "metrics %d\n", util_local_port(m->m_metrics_fd));
	if (m->m_api_fd != -1)
		fprintf(f, "api %d\n", util_local_port(m->m_api_fd));
	if (c->c_role == ROLE_CLIENT || c->c_role == ROLE_CONNECTOR)
		fprintf(f, "socks %d\n", c->c_socks_port);
	else if (c->c_role == ROLE_SERVER) {
		struct token	*tk;

		TAILQ_FOREACH(tk, &registry_tokens, tk_entry)
			if (tk->tk_kind == TOK_REVERSE && tk->tk_port >= 0) {
				fprintf(f, "socks %d\n", tk->tk_port);
				break;
			}
	}
	if (fclose(f) == EOF || rename(tmp, c->c_portfile) == -1)
		fatal("port file %s", c->c_portfile);
}

static void
master_spawn(struct master *m, struct master_worker *w)
{
	sigset_t	 all, old;
	struct token	*tk;
	int		 sp[2], i;
	pid_t		 pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == -1)
		fatal("%s: socketpair", __func__);
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	switch ((pid = fork())) {
	case -1:
		fatal("%s: fork", __func__);
	case 0:
		/*
		 * Child: drop what belongs to the master and the others.  The
		 * master's base shares its epoll instance and signal state
		 * with us: give it its own (event_reinit), then free it, so
		 * the worker's new base owns the signals.
		 */
		close(sp[0]);
		if (event_reinit(m->m_base) == 0)
			event_base_free(m->m_base);
		if (m->m_ws_fd != -1)
			close(m->m_ws_fd);
		if (m->m_metrics_fd != -1)
			close(m->m_metrics_fd);
		if (m->m_api_fd != -1)
			close(m->m_api_fd);
		for (i = 0; i < m->m_nworkers; i++) {
			if (&m->m_workers[i] == w)
				continue;
			if (m->m_workers[i].mw_socks_fd != -1)
				close(m->m_workers[i].mw_socks_fd);
			if (m->m_workers[i].mw_ipc != NULL)
				close(ipc_fd(m->m_workers[i].mw_ipc));
		}
		TAILQ_FOREACH(tk, &registry_tokens, tk_entry) {
			for (i = 0; i < m->m_nworkers; i++)
				if (i != w->mw_idx && tk->tk_fds[i] != -1)
					close(tk->tk_fds[i]);
			tk->tk_fd = tk->tk_fds[w->mw_idx];
		}
		for (i = 1; i < NSIG; i++)
			if (i != SIGKILL && i != SIGSTOP)
				signal(i, SIG_DFL);
		signal(SIGPIPE, SIG_IGN);
#ifdef HAVE_PRCTL
		prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
		sigprocmask(SIG_SETMASK, &old, NULL);
		worker_main(m->m_role, w->mw_idx, sp[1], w->mw_socks_fd);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(sp[1]);
	w->mw_pid = pid;
	w->mw_started = util_now();
	memset(&w->mw_load, 0, sizeof(w->mw_load));
	w->mw_assigned = 0;
	w->mw_ipc = ipc_new(m->m_base, sp[0], master_dispatch,
	    master_ipc_closed, w);
	log_debug("worker %d started, pid %d", w->mw_idx, (int)pid);
	metrics_worker_started(w->mw_idx);
	if (m->m_conf->c_role == ROLE_SERVER)
		master_links(m, w);
}

static void
master_respawn(evutil_socket_t fd, short ev, void *arg)
{
	struct master_worker	*w = arg;

	if (master->m_state != MS_RUNNING || w->mw_pid != 0)
		return;
	log_info("respawning worker %d", w->mw_idx);
	master_spawn(master, w);
}

static void
master_reap(struct master *m)
{
	struct master_worker	*w;
	struct timeval		 tv;
	pid_t			 pid;
	int			 status, i;
	double			 lived;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		w = NULL;
		for (i = 0; i < m->m_nworkers; i++)
			if (m->m_workers[i].mw_pid == pid)
				w = &m->m_workers[i];
		if (w == NULL)
			continue;
		w->mw_pid = 0;
		if (w->mw_ipc != NULL) {
			ipc_free(w->mw_ipc);
			w->mw_ipc = NULL;
		}
		master_tunnels_back(m, w);
		master_worker_gone(m, w);
		metrics_worker_gone(w->mw_idx);
		control_worker_gone(w->mw_idx);
		if (WIFEXITED(status) && WEXITSTATUS(status) == LS_EXIT_FATAL) {
			log_debug("worker %d stopped with a fatal error",
			    w->mw_idx);
			if (m->m_state == MS_RUNNING)
				master_stop(m, MS_STOPPING, 1);
			continue;
		}
		if (m->m_state != MS_RUNNING) {
			log_debug("worker %d exited", w->mw_idx);
			continue;
		}
		if (WIFSIGNALED(status))
			log_warnx("worker %d (pid %d) killed by signal %d",
			    w->mw_idx, (int)pid, WTERMSIG(status));
		else
			log_warnx("worker %d (pid %d) exited with status %d",
			    w->mw_idx, (int)pid, WEXITSTATUS(status));
		/* Back off when a worker keeps dying young. */
		lived = util_now() - w->mw_started;
		if (lived >= MASTER_STABLE)
			w->mw_backoff = 0;
		else
			w->mw_backoff = w->mw_backoff == 0 ? MASTER_RESPAWN_MIN :
			    w->mw_backoff * 2 > MASTER_RESPAWN_MAX ?
			    MASTER_RESPAWN_MAX : w->mw_backoff * 2;
		tv.tv_sec = (time_t)w->mw_backoff;
		tv.tv_usec = (suseconds_t)((w->mw_backoff - (double)tv.tv_sec) *
		    1e6);
		if (w->mw_backoff == 0)
			tv.tv_usec = 100000;
		evtimer_add(w->mw_respawn, &tv);
	}
	if (m->m_state != MS_RUNNING && !master_alive(m))
		event_base_loopexit(m->m_base, NULL);
}

/*
 * Agent frames between a connector and a provider in different workers
 * travel over a direct worker-to-worker socketpair; a (re)started worker
 * gets a fresh one to every live worker.
 */
static void
master_links(struct master *m, struct master_worker *w)
{
	struct master_worker	*o;
	uint32_t		 peer;
	int			 sp[2], i;

	for (i = 0; i < m->m_nworkers; i++) {
		o = &m->m_workers[i];
		if (o == w || o->mw_ipc == NULL)
			continue;
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1) {
			log_warn("%s: socketpair", __func__);
			continue;
		}
		peer = (uint32_t)w->mw_idx;
		ipc_send(o->mw_ipc, IPC_LINK, &peer, sizeof(peer), sp[0]);
		peer = (uint32_t)o->mw_idx;
		ipc_send(w->mw_ipc, IPC_LINK, &peer, sizeof(peer), sp[1]);
	}
}

/* Send to every live worker. */
static void
master_broadcast(struct master *m, int type, const void *data, size_t len)
{
	int	i;

	for (i = 0; i < m->m_nworkers; i++)
		if (m->m_workers[i].mw_ipc != NULL)
			ipc_send(m->m_workers[i].mw_ipc, type, data, len, -1);
}

static void
master_providers_changed(struct master *m, struct group *g)
{
	struct ipc_providers	ip;

	memset(&ip, 0, sizeof(ip));
	memcpy(ip.ip_counts, g->g_count, sizeof(ip.ip_counts));
	snprintf(ip.ip_key, sizeof(ip.ip_key), "%s", g->g_key);
	master_broadcast(m, IPC_PROVIDERS, &ip, sizeof(ip));
}

/* A dead worker's providers are gone with it. */
static void
master_worker_gone(struct master *m, struct master_worker *w)
{
	struct group	*g;

	TAILQ_FOREACH(g, &registry_groups, g_entry)
		if (g->g_count[w->mw_idx] != 0) {
			g->g_count[w->mw_idx] = 0;
			master_providers_changed(m, g);
		}
}

static void
master_provider(struct master *m, struct master_worker *w,
    const struct ipc_provider *ip)
{
	struct ipc_provider	 p = *ip;
	struct group		*g;

	p.ip_key[sizeof(p.ip_key) - 1] = '\0';
	if ((g = registry_group(p.ip_key, 1)) == NULL)
		return;
	g->g_count[w->mw_idx] = p.ip_count;
	master_providers_changed(m, g);
}

/* Pass a parsed SOCKS request and its socket to the chosen worker. */
static void
master_handoff(struct master *m, struct master_worker *from,
    const void *data, size_t len, int fd)
{
	const struct ipc_handoff	*h = data;
	struct master_worker		*to;

	if (fd == -1) {
		/* At our open-file limit the kernel dropped it. */
		log_ratelimit(&m->m_rl_handoff, LL_WARNX, "worker %d: a SOCKS5 "
		    "hand-off arrived without its descriptor (open-file "
		    "limit?); that connection is lost", from->mw_idx);
		return;
	}
	if (!ipc_payload_ok(IPC_HANDOFF, data, len)) {
		log_warnx("worker %d: malformed hand-off (%zu bytes)",
		    from->mw_idx, len);
		close(fd);
		return;
	}
	if (h->ih_worker >= (uint32_t)m->m_nworkers ||
	    (to = &m->m_workers[h->ih_worker])->mw_ipc == NULL) {
		log_info("hand-off to worker %u: no such worker now; closing "
		    "the SOCKS connection", h->ih_worker);
		close(fd);
		return;
	}
	ipc_send(to->mw_ipc, IPC_HANDOFF_IN, data, len, fd);
}

static int
master_group_empty(const char *key)
{
	struct group	*g;
	int		 i;

	if ((g = registry_group(key, 0)) == NULL)
		return (1);
	for (i = 0; i < LS_MAX_WORKERS; i++)
		if (g->g_count[i] != 0)
			return (0);
	return (1);
}

/* Both keys belong to the same autonomy token ("<token>#<instance>"). */
static int
master_same_parent(const char *a, const char *b)
{
	const char	*ha = strrchr(a, '#'), *hb = strrchr(b, '#');

	return (ha != NULL && hb != NULL && ha - a == hb - b &&
	    strncmp(a, b, (size_t)(ha - a)) == 0);
}

/*
 * An autonomy group key is "<reverse token>#<instance>": above debug
 * level only the instance is logged.
 */
static const char *
master_owner(const char *key)
{
	const char	*hash = strrchr(key, '#');

	return (hash != NULL ? log_strz(hash + 1) : log_secret(key));
}

/*
 * Autonomy connector tokens (0x07): the master decides, so two workers
 * can never hand out the same token, then tells every worker.  The
 * tokens are the providers' secrets: only -d logs them.
 */
static void
master_connector(struct master *m, struct master_worker *w,
    const struct ipc_connector *req)
{
	struct ipc_connector	 r = *req;
	struct ipc_token	 it;
	struct token		*tk;
	char			 err[256];

	r.ic_owner[sizeof(r.ic_owner) - 1] = '\0';
	r.ic_token[sizeof(r.ic_token) - 1] = '\0';
	r.ic_text[0] = '\0';
	memset(&it, 0, sizeof(it));
	it.it_kind = TOK_CONNECTOR;
	if (r.ic_op == CONNECTOR_ADD) {
		/*
		 * A restarted provider comes back as a new instance: a token
		 * whose owner has no provider left anywhere moves to it.
		 */
		if ((tk = registry_find(r.ic_token)) != NULL &&
		    tk->tk_kind == TOK_CONNECTOR && tk->tk_owner != NULL &&
		    strcmp(tk->tk_owner, r.ic_owner) != 0 &&
		    master_group_empty(tk->tk_owner) &&
		    master_same_parent(tk->tk_owner, r.ic_owner)) {
			log_info("connector token %s moves from instance %s "
			    "to %s", log_secret(tk->tk_token),
			    master_owner(tk->tk_owner), master_owner(r.ic_owner));
			log_debug("connector token %s moves from %s to %s",
			    log_strz(tk->tk_token), log_strz(tk->tk_owner),
			    log_strz(r.ic_owner));
			it.it_remove = 1;
			snprintf(it.it_token, sizeof(it.it_token), "%s",
			    tk->tk_token);
			master_broadcast(m, IPC_TOKEN, &it, sizeof(it));
			it.it_remove = 0;
			registry_remove(tk);
		}
		tk = registry_add(TOK_CONNECTOR, r.ic_token, r.ic_owner, err,
		    sizeof(err));
		if (tk == NULL) {
			r.ic_ok = 0;
			snprintf(r.ic_text, sizeof(r.ic_text), "%s", err);
		} else {
			free(tk->tk_owner);
			tk->tk_owner = util_xstrdup(r.ic_owner);
			r.ic_ok = 1;
			snprintf(r.ic_text, sizeof(r.ic_text), "%s",
			    tk->tk_token);
			snprintf(it.it_token, sizeof(it.it_token), "%s",
			    tk->tk_token);
			snprintf(it.it_target, sizeof(it.it_target), "%s",
			    r.ic_owner);
			snprintf(it.it_owner, sizeof(it.it_owner), "%s",
			    r.ic_owner);
			it.it_max_tunnels = tk->tk_limits.tl_max_tunnels;
			it.it_max_channels = tk->tk_limits.tl_max_channels;
			it.it_upload = tk->tk_limits.tl_upload;
			it.it_download = tk->tk_limits.tl_download;
			master_broadcast(m, IPC_TOKEN, &it, sizeof(it));
			log_info("connector token %s added for instance %s",
			    log_secret(tk->tk_token), master_owner(r.ic_owner));
			log_debug("connector token %s added for %s",
			    log_strz(tk->tk_token), log_strz(r.ic_owner));
		}
	} else {
		/* Only a connector token this provider created (P-26). */
		tk = registry_find(r.ic_token);
		if (tk == NULL || tk->tk_kind != TOK_CONNECTOR ||
		    tk->tk_owner == NULL ||
		    strcmp(tk->tk_owner, r.ic_owner) != 0) {
			r.ic_ok = 0;
			snprintf(r.ic_text, sizeof(r.ic_text),
			    "Unauthorized connector management attempt");
		} else {
			r.ic_ok = 1;
			it.it_remove = 1;
			snprintf(it.it_token, sizeof(it.it_token), "%s",
			    tk->tk_token);
			registry_remove(tk);
			master_broadcast(m, IPC_TOKEN, &it, sizeof(it));
			log_info("connector token %s removed",
			    log_secret(it.it_token));
			log_debug("connector token %s removed",
			    log_strz(it.it_token));
		}
	}
	if (r.ic_ok)
		control_registry_changed();
	if (w->mw_ipc != NULL)
		ipc_send(w->mw_ipc, IPC_CONNECTOR_RES, &r, sizeof(r), -1);
}

static int
master_alive(struct master *m)
{
	int	i, n = 0;

	for (i = 0; i < m->m_nworkers; i++)
		if (m->m_workers[i].mw_pid != 0)
			n++;
	return (n);
}

static void
master_stop(struct master *m, enum master_state st, int exitcode)
{
	struct timeval	tv;
	int		i, sig;

	if (m->m_state == MS_STOPPING ||
	    (m->m_state == MS_DRAINING && st == MS_DRAINING))
		return;
	m->m_state = st;
	if (exitcode)
		m->m_exit = exitcode;
	if (m->m_ws_listener != NULL) {
		listen_free(m->m_ws_listener);		/* closes the port */
		m->m_ws_listener = NULL;
		m->m_ws_fd = -1;
	}
	if (m->m_api_listener != NULL) {
		listen_free(m->m_api_listener);
		m->m_api_listener = NULL;
		m->m_api_fd = -1;
	}
	sig = st == MS_DRAINING ? SIGTERM : SIGINT;
	for (i = 0; i < m->m_nworkers; i++) {
		evtimer_del(m->m_workers[i].mw_respawn);
		if (m->m_workers[i].mw_pid != 0)
			kill(m->m_workers[i].mw_pid, sig);
	}
	/* Workers that outstay the drain (or 5 s for a stop) get SIGKILL. */
	tv.tv_sec = st == MS_DRAINING ? m->m_conf->c_drain_timeout + 5 : 5;
	tv.tv_usec = 0;
	evtimer_add(m->m_killtimer, &tv);
	if (!master_alive(m))
		event_base_loopexit(m->m_base, NULL);
}

static void
master_killtimer(evutil_socket_t fd, short ev, void *arg)
{
	struct master	*m = arg;
	int		 i;

	for (i = 0; i < m->m_nworkers; i++)
		if (m->m_workers[i].mw_pid != 0) {
			log_warnx("worker %d did not stop in time, killing it",
			    i);
			kill(m->m_workers[i].mw_pid, SIGKILL);
		}
}

static void
master_signal(evutil_socket_t sig, short ev, void *arg)
{
	struct master	*m = arg;

	switch (sig) {
	case SIGCHLD:
		master_reap(m);
		break;
	case SIGTERM:
		log_info("SIGTERM: draining (up to %d s)",
		    m->m_conf->c_drain_timeout);
		master_stop(m, MS_DRAINING, 0);
		break;
	case SIGINT:
		log_info("SIGINT: stopping");
		master_stop(m, MS_STOPPING, 0);
		break;
	case SIGHUP:
		if (m->m_conf->c_role == ROLE_SERVER && m->m_state == MS_RUNNING)
			control_reload(master_tls_reload(m));
		else
			log_info("SIGHUP: nothing to reload (configuration "
			    "comes from the command line)");
		break;
	case SIGUSR1:
		log_info("SIGUSR1: logs go to %s, nothing to reopen",
		    m->m_conf->c_syslog ? "syslog" : "stderr");
		break;
	}
}

/*
 * --tls-cert: the context and the first ticket key, before the workers
 * fork (they inherit both).  A bad file stops the start with status 2.
 */
static void
master_tls_init(struct master *m)
{
	struct config	*c = m->m_conf;
	char		 err[1280], desc[160];

	if (c->c_role != ROLE_SERVER || c->c_tls_cert == NULL)
		return;
	if (tls_server_client_ca(c->c_tls_client_ca) == -1) {
		log_warnx("TLS: client CA file name too long");
		exit(2);
	}
	if (tls_server_init(c->c_tls_cert, c->c_tls_key, c->c_tls_minver,
	    c->c_tls_ktls, err, sizeof(err)) == -1) {
		log_warnx("TLS: %s", log_strz(err));
		exit(2);
	}
	tls_keys_rotate();
	tls_tune_memory();
	tls_server_describe(desc, sizeof(desc));
	log_info("TLS: certificate %s (%s), TLS %s and up%s%s",
	    log_strz(c->c_tls_cert), desc, c->c_tls_minver == 13 ? "1.3" :
	    "1.2", c->c_tls_client_ca != NULL ?
	    ", client certificates required from " : "",
	    c->c_tls_client_ca != NULL ? log_strz(c->c_tls_client_ca) : "");
}

/*
 * SIGHUP: the certificate and key again.  Checked here first, so a bad
 * file is one error and the workers keep what they have; otherwise the
 * master keeps the new context (for workers it respawns) and every
 * worker builds its own.  1 if reloaded, else 0.
 */
static int
master_tls_reload(struct master *m)
{
	struct config	*c = m->m_conf;
	char		 err[1280], desc[160];
	uint32_t	 z = 0;

	if (c->c_tls_cert == NULL)
		return (0);
	if (tls_server_reload(err, sizeof(err)) == -1) {
		log_warnx("SIGHUP: TLS: %s; the old certificate stays",
		    log_strz(err));
		return (0);
	}
	master_broadcast(m, IPC_TLS_RELOAD, &z, sizeof(z));
	tls_server_describe(desc, sizeof(desc));
	log_info("SIGHUP: TLS certificate %s reloaded (%s)",
	    log_strz(c->c_tls_cert), desc);
	return (1);
}

/* Every LS_TLS_TICKET_ROTATE seconds: a new ticket key, the old kept. */
static void
master_tls_rotate(evutil_socket_t fd, short ev, void *arg)
{
	struct master		*m = arg;
	struct ipc_tls_keys	 ik;

	tls_keys_rotate();
	tls_keys_get(&ik);
	master_broadcast(m, IPC_TLS_KEYS, &ik, sizeof(ik));
	OPENSSL_cleanse(&ik, sizeof(ik));
	log_debug("TLS: session-ticket key rotated");
}

static void
master_accept(evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct master	*m = arg;
	char		 peer[64];

	util_sockaddr_str(sa, peer, sizeof(peer));
	placement_wait(m->m_base, fd, peer, master_assign, m);
}

/* A tunnel client is ready for placement. */
static void
master_assign(int fd, const char *peer, void *arg)
{
	struct master		*m = arg;
	struct master_tunnel	*mt;

	/* An HTTP API request is answered here (control.c). */
	if (control_wants(fd)) {
		control_accept(fd, peer);
		return;
	}
	if ((mt = calloc(1, sizeof(*mt))) == NULL) {
		log_warnx("tunnel client %s: out of memory", peer);
		master_503(fd, m);
		return;
	}
	mt->mt_fd = fd;
	mt->mt_worker = -1;
	snprintf(mt->mt_peer, sizeof(mt->mt_peer), "%s", peer);
	master_place(m, mt);
}

/*
 * Pass a tunnel client to the worker placement picks from our table,
 * among those that have not handed it back; keep our copy until the
 * worker answers.  With none left, answer 503 and take no new client
 * for a moment.
 */
static void
master_place(struct master *m, struct master_tunnel *mt)
{
	struct master_worker	*w;
	struct placement_worker	 pw[LS_MAX_WORKERS];
	struct ipc_tunnel_fd	 itf;
	double			 now = util_now();
	int			 i;

	for (;;) {
		for (i = 0; i < m->m_nworkers; i++) {
			w = &m->m_workers[i];
			pw[i].pw_live = w->mw_pid != 0 && w->mw_ipc != NULL &&
			    !(mt->mt_tried & ((uint64_t)1 << i)) &&
			    now >= w->mw_full_until;
			pw[i].pw_load = w->mw_load.il_tunnels + w->mw_assigned;
		}
		if ((i = placement_place(mt->mt_fd, pw, m->m_nworkers)) == -1)
			break;
		w = &m->m_workers[i];
		itf.itf_seq = mt->mt_seq = ++m->m_seq;
		itf.itf_taken = 0;
		if (ipc_send_keep(w->mw_ipc, IPC_TUNNEL_FD, &itf, sizeof(itf),
		    mt->mt_fd) == -1) {
			mt->mt_tried |= (uint64_t)1 << i;
			continue;
		}
		log_debug("tunnel client %s -> worker %d", mt->mt_peer,
		    w->mw_idx);
		w->mw_assigned++;
		mt->mt_worker = i;
		TAILQ_INSERT_TAIL(&m->m_tunnels, mt, mt_entry);
		return;
	}
	log_ratelimit(&m->m_rl_503, LL_WARNX, "tunnel client %s: no worker "
	    "can take it now, answered 503", mt->mt_peer);
	master_503(mt->mt_fd, m);
	free(mt);
	if (m->m_ws_listener != NULL && m->m_state == MS_RUNNING)
		listen_pause(m->m_ws_listener);
}

/* A worker took a tunnel client, or handed it back. */
static void
master_tunnel_ack(struct master *m, struct master_worker *w,
    const struct ipc_tunnel_fd *itf)
{
	struct master_tunnel	*mt;

	TAILQ_FOREACH(mt, &m->m_tunnels, mt_entry)
		if (mt->mt_seq == itf->itf_seq && mt->mt_worker == w->mw_idx)
			break;
	if (mt == NULL) {
		log_warnx("worker %d: answer for unknown tunnel client %u",
		    w->mw_idx, itf->itf_seq);
		return;
	}
	TAILQ_REMOVE(&m->m_tunnels, mt, mt_entry);
	if (itf->itf_taken) {
		close(mt->mt_fd);	/* the worker has its own copy */
		free(mt);
		return;
	}
	log_ratelimit(&m->m_rl_back, LL_INFO, "tunnel client %s: worker %d "
	    "could not take it, trying another", mt->mt_peer, w->mw_idx);
	w->mw_full_until = util_now() + MASTER_FULL_WAIT;
	mt->mt_tried |= (uint64_t)1 << w->mw_idx;
	mt->mt_worker = -1;
	master_place(m, mt);
}

/* A worker went away: what it had not taken goes elsewhere. */
static void
master_tunnels_back(struct master *m, struct master_worker *w)
{
	TAILQ_HEAD(, master_tunnel)	 back = TAILQ_HEAD_INITIALIZER(back);
	struct master_tunnel		*mt, *next;

	for (mt = TAILQ_FIRST(&m->m_tunnels); mt != NULL; mt = next) {
		next = TAILQ_NEXT(mt, mt_entry);
		if (mt->mt_worker != w->mw_idx)
			continue;
		TAILQ_REMOVE(&m->m_tunnels, mt, mt_entry);
		TAILQ_INSERT_TAIL(&back, mt, mt_entry);
	}
	while ((mt = TAILQ_FIRST(&back)) != NULL) {
		TAILQ_REMOVE(&back, mt, mt_entry);
		mt->mt_tried |= (uint64_t)1 << w->mw_idx;
		mt->mt_worker = -1;
		if (m->m_state == MS_RUNNING)
			master_place(m, mt);
		else {
			master_503(mt->mt_fd, m);
			free(mt);
		}
	}
}

/*
 * Answer a tunnel client we cannot serve: what it sent is read first
 * (closing on unread input would reset the connection and lose the
 * answer), then the 503, then the close.  Never blocks.
 */
static void
master_503(int fd, void *arg)
{
	struct evbuffer	*out;
	char		 buf[4096];
	int		 i;

	for (i = 0; i < 16; i++)
		if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0)
			break;
	if ((out = evbuffer_new()) != NULL) {
		http_respond(out, 503, NULL, MASTER_503_BODY, NULL);
		(void)evbuffer_write(out, fd);
		evbuffer_free(out);
	}
	shutdown(fd, SHUT_WR);
	close(fd);
}

static void
master_dispatch(struct ipc *i, int type, const void *data, size_t len,
    int fd, void *arg)
{
	struct master_worker	*w = arg;

	if (fd != -1 && type != IPC_HANDOFF) {
		close(fd);	/* only hand-offs carry descriptors */
		fd = -1;
	}
	switch (type) {
	case IPC_TUNNEL_ACK:
		if (len != sizeof(struct ipc_tunnel_fd))
			goto badsize;
		master_tunnel_ack(master, w, data);
		break;
	case IPC_LOAD:
		if (!ipc_payload_ok(type, data, len)) {
			log_warnx("worker %d: bad %s size %zu", w->mw_idx,
			    ipc_typename(type), len);
			return;
		}
		memcpy(&w->mw_load, data, sizeof(w->mw_load));
		w->mw_assigned = 0;
		break;
	case IPC_PROVIDER:
		if (!ipc_payload_ok(type, data, len))
			goto badsize;
		master_provider(master, w, data);
		break;
	case IPC_STATS:
		if (!ipc_payload_ok(type, data, len))
			goto badsize;
		metrics_worker_report(w->mw_idx, data, len);
		break;
	case IPC_HANDOFF:
		master_handoff(master, w, data, len, fd);
		return;
	case IPC_CONNECTOR_REQ:
		if (!ipc_payload_ok(type, data, len))
			goto badsize;
		master_connector(master, w, data);
		break;
	case IPC_SYNC_DONE:
	case IPC_STAT:
		if (!ipc_payload_ok(type, data, len))
			goto badsize;
		control_ipc(w->mw_idx, type, data, len);
		break;
	case IPC_FATAL:
		log_warnx("worker %d: fatal: %.*s", w->mw_idx, (int)len,
		    (const char *)data);
		if (master->m_state == MS_RUNNING)
			master_stop(master, MS_STOPPING, 1);
		break;
	default:
		log_warnx("worker %d: unexpected IPC message type %d",
		    w->mw_idx, type);
		if (w->mw_pid != 0)
			kill(w->mw_pid, SIGKILL);
	}
	return;
 badsize:
	log_warnx("worker %d: bad %s size %zu", w->mw_idx, ipc_typename(type),
	    len);
}

static void
master_ipc_closed(struct ipc *i, void *arg)
{
	struct master_worker	*w = arg;

	/* The worker died or is dying; SIGCHLD does the bookkeeping. */
	ipc_free(w->mw_ipc);
	w->mw_ipc = NULL;
	master_tunnels_back(master, w);
	control_worker_gone(w->mw_idx);
}

/* control.c reaches a worker through this. */
static int
master_control_send(int idx, int type, const void *data, size_t len, int fd)
{
	struct master_worker	*w;

	if (idx < 0 || idx >= master->m_nworkers ||
	    (w = &master->m_workers[idx])->mw_ipc == NULL) {
		if (fd != -1)
			close(fd);
		return (-1);
	}
	return (ipc_send(w->mw_ipc, type, data, len, fd) == -1 ? -1 : 0);
}

static const struct control_ops master_control_ops = {
	.co_send = master_control_send,
};

static void
master_log_config(struct master *m)
{
	struct config	*c = m->m_conf;
	struct token	*tk;

	/*
	 * A token we generated is printed once, here: nobody else knows it.
	 * One the user gave is theirs already and a secret: -d only.
	 */
	log_info("Configuration:");
	if (c->c_napi_keys > 0)
		log_info("  HTTP API: enabled (%zu key%s)%s", c->c_napi_keys,
		    c->c_napi_keys > 1 ? "s" : "", c->c_api_keep_cli ?
		    ", command-line tokens kept" : "");
	if (c->c_napi_keys > 0 && !c->c_api_keep_cli) {
		log_info("  Tokens: from the API only");
		log_info("  Workers: %d", m->m_nworkers);
		return;
	}
	if (!c->c_reverse)
		log_info("  Mode: forward proxy (SOCKS5 on client -> server -> "
		    "network)");
	else
		log_info("  Mode: reverse proxy (SOCKS5 on server -> client -> "
		    "network)");
	log_info("  Token: %s%s", c->c_token_generated ? c->c_token :
	    log_secret(c->c_token), c->c_token_generated ? " (generated)" : "");
	if (!c->c_token_generated)
		log_debug("  Token: %s", log_strz(c->c_token));
	if (c->c_reverse) {
		TAILQ_FOREACH(tk, &registry_tokens, tk_entry)
			if (tk->tk_kind == TOK_REVERSE)
				log_info("  SOCKS5 port: %d", tk->tk_port);
		if (c->c_connector_token != NULL) {
			log_info("  Connector Token: %s%s",
			    c->c_connector_token_generated ?
			    c->c_connector_token :
			    log_secret(c->c_connector_token),
			    c->c_connector_token_generated ?
			    " (generated)" : "");
			if (!c->c_connector_token_generated)
				log_debug("  Connector Token: %s",
				    log_strz(c->c_connector_token));
		}
		if (c->c_socks_user != NULL && *c->c_socks_user != '\0')
			log_info("  SOCKS5 username: %s",
			    log_strz(c->c_socks_user));
		if (c->c_autonomy)
			log_info("  Connector autonomy: enabled");
		if (c->c_fastopen)
			log_info("  Fast open: enabled");
	}
	log_info("  Workers: %d", m->m_nworkers);
}

/* A rate-limited log line held a count back: print it in a second. */
static void
master_rl_arm(void)
{
	struct timeval	tv = { 1, 0 };

	if (master->m_rl_ev != NULL && !evtimer_pending(master->m_rl_ev, NULL))
		evtimer_add(master->m_rl_ev, &tv);
}

static void
master_rl_tick(evutil_socket_t fd, short ev, void *arg)
{
	if (log_rl_flush_all())
		master_rl_arm();
}

/* libevent's own warnings go through our log, not to stderr raw. */
static void
master_event_log(int severity, const char *msg)
{
	if (severity >= EVENT_LOG_WARN)
		log_warnx("libevent: %s", msg);
	else
		log_debug("libevent: %s", msg);
}

int
master_run(struct config *c, const struct worker_role *role)
{
	static const int	 sigs[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP,
				    SIGUSR1 };
	struct master		*m;
	struct timeval		 rot = { LS_TLS_TICKET_ROTATE, 0 };
	size_t			 i;

	log_init(c->c_debug, c->c_syslog);
	log_procinit("master");
	event_set_log_callback(master_event_log);
	signal(SIGPIPE, SIG_IGN);

	if ((m = calloc(1, sizeof(*m))) == NULL)
		fatal("%s: calloc", __func__);
	master = m;
	m->m_conf = c;
	TAILQ_INIT(&m->m_tunnels);
	m->m_rl_back.rl_interval = 1.0;
	m->m_rl_503.rl_interval = 1.0;
	m->m_rl_handoff.rl_interval = 1.0;
	m->m_role = role;
	m->m_nworkers = c->c_workers;
	if ((m->m_workers = calloc((size_t)m->m_nworkers,
	    sizeof(*m->m_workers))) == NULL)
		fatal("%s: calloc", __func__);
	for (i = 0; i < (size_t)m->m_nworkers; i++) {
		m->m_workers[i].mw_idx = (int)i;
		m->m_workers[i].mw_socks_fd = -1;
	}

	if (c->c_role == ROLE_SERVER) {
		registry_init(c);
		control_load(c);	/* --state-file */
		master_tls_init(m);
	}

	master_bind(m);
	if ((m->m_base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	log_debug("libevent %s, backend %s", event_get_version(),
	    event_base_get_method(m->m_base));
	if (c->c_role == ROLE_SERVER) {
		master_log_config(m);
		control_init(m->m_base, &master_control_ops, m->m_nworkers);
	}
	for (i = 0; i < LS_NITEMS(sigs); i++) {
		m->m_sigev[i] = evsignal_new(m->m_base, sigs[i], master_signal,
		    m);
		evsignal_add(m->m_sigev[i], NULL);
	}
	m->m_killtimer = evtimer_new(m->m_base, master_killtimer, m);
	m->m_rl_ev = evtimer_new(m->m_base, master_rl_tick, m);
	if (c->c_role == ROLE_SERVER && c->c_tls_cert != NULL) {
		m->m_tls_ev = event_new(m->m_base, -1, EV_PERSIST,
		    master_tls_rotate, m);
		if (m->m_tls_ev == NULL || event_add(m->m_tls_ev, &rot) == -1)
			fatalx("cannot arm the ticket key rotation");
	}
	metrics_init(m->m_base, m->m_nworkers, master_stats_request);
	log_rl_sethook(master_rl_arm);
	for (i = 0; i < (size_t)m->m_nworkers; i++) {
		m->m_workers[i].mw_respawn = evtimer_new(m->m_base,
		    master_respawn, &m->m_workers[i]);
		master_spawn(m, &m->m_workers[i]);
	}
	if (m->m_metrics_fd != -1 && metrics_listen(m->m_metrics_fd) == -1)
		fatalx("cannot listen for metrics");
	if (m->m_api_fd != -1 && (m->m_api_listener = listen_new(m->m_base,
	    m->m_api_fd, -1, "API port", master_api_accept, NULL, m)) == NULL)
		fatalx("cannot listen for the HTTP API");
	if (m->m_ws_fd != -1) {
		/* The slot for a 503 at the master's own limit. */
		listen_reserve();
		m->m_ws_listener = listen_new(m->m_base, m->m_ws_fd, -1,
		    "tunnel port", master_accept, master_503, m);
		if (m->m_ws_listener == NULL)
			fatalx("cannot listen for tunnels");
	}
	master_portfile(m);

	event_base_dispatch(m->m_base);

	for (i = 0; i < (size_t)m->m_nworkers; i++)
		if (m->m_workers[i].mw_ipc != NULL)
			ipc_free(m->m_workers[i].mw_ipc);
	log_info("exiting (status %d)", m->m_exit);
	if (c->c_portfile != NULL)
		unlink(c->c_portfile);
	return (m->m_exit);
}
