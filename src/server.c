/*
 * server.c -- the tunnel server inside a worker: HTTP routing, WebSocket
 * upgrade, authentication (URL query or Auth message, spec 6), forward
 * clients (we dial), providers (grouped per reverse token or autonomy
 * instance, serving the reverse SOCKS ports and connectors), connectors
 * (agent relay, relay.c) and autonomy connector management (0x07).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "linksocks.h"

struct server_conn {
	struct ws_conn	*sc_ws;
	struct tunnel	*sc_tun;
	int		 sc_query_auth;		/* token in the URL */
	char		 sc_token_hash[80];
	char		 sc_reverse[16];
	int		 sc_has_reverse;
	uint8_t		 sc_instance[LS_CHANNEL_ID_LEN];
	int		 sc_has_instance;
	int		 sc_halfclose;	/* the client offered it */
	uint32_t	 sc_window;	/* ... and its credit window */
	struct event	*sc_timer;	/* LS_PREAUTH_TIMEOUT from the accept */
	struct preauth	 sc_preauth;	/* counted until authenticated */
	struct sockaddr_storage sc_ss;	/* the peer, for the throttle */
	struct event	*sc_delay;	/* a failure's answer waits */
	char		 sc_err[300];	/* ... with this text */
};

struct server_pending {
	TAILQ_ENTRY(server_pending) sp_entry;
	uint32_t	 sp_reqid;
	struct tunnel	*sp_tun;
	uint8_t		 sp_id[LS_CHANNEL_ID_LEN];
	int		 sp_op;
};

static TAILQ_HEAD(, tunnel) server_tunnels =
    TAILQ_HEAD_INITIALIZER(server_tunnels);
static TAILQ_HEAD(, server_pending) server_pendings =
    TAILQ_HEAD_INITIALIZER(server_pendings);
static uint32_t	server_reqid;
/* Connections from the accept until authenticated (P-27). */
static struct preauth_pool server_preauth = PREAUTH_POOL_INITIALIZER(
    server_preauth, "tunnel connections not authenticated", LS_PREAUTH_MAX,
    LS_PREAUTH_BYTES);
static struct log_rl	server_rl_nofd = LOG_RL_INIT(1.0);
/* What an unauthenticated peer can repeat at will: one line a second. */
static struct log_rl	server_rl_auth = LOG_RL_INIT(1.0);
static struct log_rl	server_rl_refused = LOG_RL_INIT(1.0);
static struct log_rl	server_rl_handoff = LOG_RL_INIT(1.0);
static struct log_rl	server_rl_limit = LOG_RL_INIT(1.0);

static void	server_init(void);
static void	server_accept_fd(int);
static void	server_drain(void);
static void	server_providers(const struct ipc_providers *);
static void	server_handoff_in(const void *, size_t, int);
static void	server_token_update(const struct ipc_token *, int);
static void	server_token_limits(struct token *,
		    const struct ipc_token *);
static void	server_sync(const struct ipc_sync *);
static void	server_rules(const struct ipc_rules *);
static void	server_connector_result(const struct ipc_connector *);
static void	server_link_fd(int, int);
static int	server_ws_request(struct ws_conn *, const struct http_head *,
		    void *);
static void	server_ws_open(struct ws_conn *, void *);
static void	server_ws_closed(struct ws_conn *, const char *, void *);
static void	server_auth(struct tunnel *, struct msg *, const char *);
static void	server_message(struct tunnel *, struct msg *,
		    struct evbuffer *);
static void	server_closed(struct tunnel *, const char *);
static void	server_conn_free(struct server_conn *);
static void	server_conn_end(struct server_conn *, uint16_t, const char *);
static void	server_preauth_timeout(evutil_socket_t, short, void *);
static void	server_preauth_drop(struct preauth *, void *);
static void	server_authenticate(struct server_conn *, struct token *, int,
		    int, const uint8_t *);
static void	server_auth_fail(struct server_conn *, const char *, int);
static void	server_auth_answer(struct server_conn *, const char *);
static void	server_auth_delayed(evutil_socket_t, short, void *);
static void	server_listeners(void);
static void	server_socks_accept(evutil_socket_t, struct sockaddr *, int,
		    void *);
static void	server_tunnel_fd(const void *, size_t, int);
static void	server_report(struct group *);
static void	server_partners(struct group *);
static void	server_connector_msg(struct tunnel *, struct msg *);
static int	server_dispatch(int, const void *, size_t, int);
static void	server_tls_keys(const void *);
static void	server_tls_reload(void);

static const struct ws_cb server_ws_cb = {
	.ws_request = server_ws_request,
	.ws_open = server_ws_open,
	.ws_closed = server_ws_closed,
};

static const struct tunnel_ops server_tunnel_ops = {
	.to_auth = server_auth,
	.to_message = server_message,
	.to_closed = server_closed,
};

const struct worker_role server_role = {
	.wr_init = server_init,
	.wr_drain = server_drain,
	.wr_dispatch = server_dispatch,
};

/* A server's SOCKS front end: reverse ports, providers anywhere. */
static const struct front_ops server_front_ops = {
	.fo_pick = router_pick,
	.fo_udp = udp_socks_start,
};

static void
server_init(void)
{
	server_preauth.pp_stat = ST_PREAUTH_TUNNEL;
	front_init(&server_front_ops);
	server_listeners();
}

/* A message from the master; -1: not one a server worker takes. */
static int
server_dispatch(int type, const void *data, size_t len, int fd)
{
	switch (type) {
	case IPC_TUNNEL_FD:
		if (!ipc_payload_ok(type, data, len))
			goto badsize;
		server_tunnel_fd(data, len, fd);
		break;
	case IPC_LINK:
		if (!ipc_payload_ok(type, data, len) || fd == -1) {
			if (fd != -1)
				close(fd);
			log_warnx("%s: malformed %s", __func__,
			    ipc_typename(type));
			return (0);
		}
		server_link_fd((int)*(const uint32_t *)data, fd);
		break;
	case IPC_PROVIDERS:
		if (!ipc_payload_ok(type, data, len))
			goto badsize;
		server_providers(data);
		break;
	case IPC_HANDOFF_IN:
		server_handoff_in(data, len, fd);
		break;
	case IPC_TOKEN:
		if (!ipc_payload_ok(type, data, len))
			goto badsize;
		server_token_update(data, fd);
		break;
	case IPC_SYNC:
		if (!ipc_payload_ok(type, data, len))
			goto badsize;
		server_sync(data);
		break;
	case IPC_RULES:
		if (!ipc_payload_ok(type, data, len))
			goto badsize;
		server_rules(data);
		break;
	case IPC_CONNECTOR_RES:
		if (!ipc_payload_ok(type, data, len))
			goto badsize;
		server_connector_result(data);
		break;
	case IPC_TLS_KEYS:
		if (!ipc_payload_ok(type, data, len) || fd != -1)
			goto badsize;
		server_tls_keys(data);
		break;
	case IPC_TLS_RELOAD:
		if (!ipc_payload_ok(type, data, len) || fd != -1)
			goto badsize;
		server_tls_reload();
		break;
	default:
		return (-1);
	}
	return (0);
 badsize:
	if (fd != -1)
		close(fd);
	fatalx("%s: bad %s size %zu from master", __func__,
	    ipc_typename(type), len);
}

/* The master's session-ticket keys (start-up keys came with the fork). */
static void
server_tls_keys(const void *data)
{
	struct ipc_tls_keys	ik;

	memcpy(&ik, data, sizeof(ik));
	if (tls_keys_set(&ik) == -1)
		log_warnx("%s: malformed ticket key set ignored", __func__);
	OPENSSL_cleanse(&ik, sizeof(ik));
}

/*
 * SIGHUP: the master read the certificate and key files fine; build our
 * own context from them.  Open connections keep theirs.
 */
static void
server_tls_reload(void)
{
	char	err[1280];

	if (tls_server_reload(err, sizeof(err)) == -1)
		log_warnx("TLS reload: %s; the old certificate stays",
		    log_strz(err));
	else
		log_debug("TLS reload: new certificate in use");
}

/*
 * A tunnel client from the master.  Its descriptor does not arrive when
 * we are at the open-file limit (the kernel drops it from the message):
 * the master still has it, so hand it back, as when draining, and it
 * tries another worker or answers 503.  Nothing is lost silently.
 */
static void
server_tunnel_fd(const void *data, size_t len, int fd)
{
	struct ipc_tunnel_fd	itf;

	memcpy(&itf, data, sizeof(itf));
	itf.itf_taken = fd != -1 && !ls_worker->w_draining;
	if (fd == -1)
		log_ratelimit(&server_rl_nofd, LL_WARNX, "a tunnel client's "
		    "descriptor did not arrive (open-file limit?): handed "
		    "back to the master");
	else if (!itf.itf_taken)
		log_debug("draining: tunnel client handed back to the master");
	ipc_send(ls_worker->w_ipc, IPC_TUNNEL_ACK, &itf, sizeof(itf), -1);
	if (itf.itf_taken)
		server_accept_fd(fd);
	else if (fd != -1)
		close(fd);
}

void
server_drain(void)
{
	struct token	*tk;

	/* Stop taking SOCKS5 connections; channels finish on their own. */
	TAILQ_FOREACH(tk, &registry_tokens, tk_entry)
		if (tk->tk_listener != NULL) {
			listen_free(tk->tk_listener);
			tk->tk_listener = NULL;
		}
}

/*
 * A reverse token's SOCKS port listens once any worker has one of its
 * providers (spec 7.8), or at once with -i.
 */
static void
server_listeners(void)
{
	struct token	*tk;
	char		 name[64];

	if (ls_worker->w_draining)
		return;
	TAILQ_FOREACH(tk, &registry_tokens, tk_entry) {
		if (tk->tk_kind != TOK_REVERSE || tk->tk_fd == -1 ||
		    tk->tk_listener != NULL)
			continue;
		if (!ls_conf->c_socks_nowait && (tk->tk_group == NULL ||
		    registry_group_total(tk->tk_group) == 0))
			continue;
		snprintf(name, sizeof(name), "SOCKS5 port %d", tk->tk_port);
		tk->tk_listener = listen_new(ls_worker->w_base, tk->tk_fd, 1024,
		    name, server_socks_accept, NULL, tk);
		if (tk->tk_listener == NULL) {
			log_warn("SOCKS5 listen on port %d", tk->tk_port);
			continue;
		}
		tk->tk_fd = -1;
		log_info("SOCKS5 listening on %s:%d", ls_conf->c_socks_host,
		    tk->tk_port);
	}
}

static void
server_socks_accept(evutil_socket_t fd, struct sockaddr *sa, int salen,
    void *arg)
{
	struct token	*tk = arg;

	front_accept(fd, sa, salen, tk->tk_group);
}

/* Tell the master how many providers of g this worker has. */
static void
server_report(struct group *g)
{
	struct ipc_provider	ip;

	memset(&ip, 0, sizeof(ip));
	ip.ip_count = g->g_nlocal;
	snprintf(ip.ip_key, sizeof(ip.ip_key), "%s", g->g_key);
	ipc_send(ls_worker->w_ipc, IPC_PROVIDER, &ip, sizeof(ip), -1);
}

/* ---- worker links (agent relay across workers) ------------------------ */

static void
server_link_fd(int peer, int fd)
{
	router_link_set(peer, fd, &agent_link_ops);
}

static void
server_providers(const struct ipc_providers *ip)
{
	struct ipc_providers	 p = *ip;
	struct group		*g;

	p.ip_key[sizeof(p.ip_key) - 1] = '\0';
	if ((g = registry_group(p.ip_key, 1)) == NULL)
		return;
	memcpy(g->g_count, p.ip_counts, sizeof(g->g_count));
	server_listeners();
	front_tunnel_available();
	agent_provider_available(g);
}

static void
server_handoff_in(const void *data, size_t len, int fd)
{
	const struct ipc_handoff	*h = data;
	struct ipc_handoff		 hc;

	if (fd == -1) {
		/* At our open-file limit the kernel dropped it. */
		log_ratelimit(&server_rl_handoff, LL_WARNX, "a SOCKS5 hand-off "
		    "arrived without its descriptor (open-file limit?); that "
		    "connection is lost");
		return;
	}
	if (!ipc_payload_ok(IPC_HANDOFF_IN, data, len)) {
		log_warnx("%s: malformed hand-off", __func__);
		close(fd);
		return;
	}
	memcpy(&hc, h, sizeof(hc));
	hc.ih_key[sizeof(hc.ih_key) - 1] = '\0';
	hc.ih_host[sizeof(hc.ih_host) - 1] = '\0';
	hc.ih_peer[sizeof(hc.ih_peer) - 1] = '\0';
	front_adopt(fd, &hc, (const uint8_t *)data + sizeof(*h),
	    registry_group(hc.ih_key, 1));
}

/*
 * A registry change from the master.  A new reverse token with a SOCKS5
 * port comes with this worker's socket for it (fd).  A removed token
 * takes every tunnel that used it (forward clients, providers,
 * connectors: spec 11.2) and its listener with it.
 */
static void
server_token_update(const struct ipc_token *itp, int fd)
{
	struct ipc_token	 it = *itp;
	struct token		*tk;
	struct tunnel		*t, *next;
	char			 err[256];

	it.it_token[sizeof(it.it_token) - 1] = '\0';
	it.it_target[sizeof(it.it_target) - 1] = '\0';
	it.it_owner[sizeof(it.it_owner) - 1] = '\0';
	it.it_user[sizeof(it.it_user) - 1] = '\0';
	it.it_pass[sizeof(it.it_pass) - 1] = '\0';
	if (it.it_remove) {
		if (fd != -1)
			close(fd);
		if ((tk = registry_find(it.it_token)) == NULL)
			return;
		for (t = TAILQ_FIRST(&server_tunnels); t != NULL; t = next) {
			next = TAILQ_NEXT(t, t_all);
			if (t->t_token != NULL &&
			    strcmp(t->t_token, it.it_token) == 0)
				tunnel_close(t, "token removed");
		}
		if (tk->tk_listener != NULL) {
			listen_free(tk->tk_listener);	/* closes the port */
			tk->tk_listener = NULL;
			log_info("SOCKS5 port %d closed: its token was removed",
			    tk->tk_port);
		}
		if (tk->tk_fd != -1)
			close(tk->tk_fd);
		tk->tk_fd = -1;
		registry_remove(tk);
		return;
	}
	if ((tk = registry_find(it.it_token)) != NULL &&
	    tk->tk_kind == (enum token_kind)it.it_kind &&
	    (tk->tk_kind != TOK_CONNECTOR || strcmp(tk->tk_target,
	    it.it_target) == 0)) {
		/* A change of a token we have: its limits, its credentials. */
		if (fd != -1)
			close(fd);
		server_token_limits(tk, &it);
		if (it.it_owner[0] != '\0') {
			free(tk->tk_owner);
			tk->tk_owner = util_xstrdup(it.it_owner);
		}
		free(tk->tk_user);
		free(tk->tk_pass);
		tk->tk_user = tk->tk_pass = NULL;
		if (tk->tk_kind == TOK_REVERSE && it.it_user[0] != '\0' &&
		    it.it_pass[0] != '\0') {
			tk->tk_user = util_xstrdup(it.it_user);
			tk->tk_pass = util_xstrdup(it.it_pass);
		}
		log_debug("token %s updated", log_secret(tk->tk_token));
		return;
	}
	if ((tk = registry_add(it.it_kind, it.it_token, it.it_target, err,
	    sizeof(err))) == NULL) {
		if (fd != -1)
			close(fd);
		log_warnx("%s: token %s: %s", __func__,
		    log_secret(it.it_token), err);
		return;
	}
	if (it.it_owner[0] != '\0') {
		free(tk->tk_owner);
		tk->tk_owner = util_xstrdup(it.it_owner);
	}
	server_token_limits(tk, &it);
	if (tk->tk_kind != TOK_REVERSE) {
		if (fd != -1)
			close(fd);
		return;
	}
	tk->tk_port = it.it_port;
	tk->tk_autonomy = it.it_autonomy != 0;
	if (it.it_user[0] != '\0' && it.it_pass[0] != '\0') {
		tk->tk_user = util_xstrdup(it.it_user);
		tk->tk_pass = util_xstrdup(it.it_pass);
	}
	if (fd != -1) {
		tk->tk_fd = fd;
		access_own_port(tk->tk_port);	/* never dialled */
		server_listeners();
	}
}

/* The limits an IPC_TOKEN carries, applied to tk (rates at once). */
static void
server_token_limits(struct token *tk, const struct ipc_token *it)
{
	tk->tk_limits.tl_max_tunnels = it->it_max_tunnels;
	tk->tk_limits.tl_max_channels = it->it_max_channels;
	tk->tk_limits.tl_upload = it->it_upload;
	tk->tk_limits.tl_download = it->it_download;
	limits_update(tk);
}

/* An access rule list from the master (the API), one rule a message. */
static void
server_rules(const struct ipc_rules *irp)
{
	static struct rules	 pending;
	struct ipc_rules	 ir = *irp;
	struct token		*tk;
	char			 err[256];

	ir.ir_token[sizeof(ir.ir_token) - 1] = '\0';
	ir.ir_text[sizeof(ir.ir_text) - 1] = '\0';
	switch (ir.ir_op) {
	case IPC_RULES_BEGIN:
		rules_clear(&pending);
		break;
	case IPC_RULES_ADD:
		/* Checked by the master already. */
		if (rules_add(&pending, ir.ir_text, err, sizeof(err)) == -1)
			log_warnx("%s: rule %s: %s", __func__,
			    log_strz(ir.ir_text), err);
		break;
	case IPC_RULES_RESET:
		/* The side's list is the command line's again. */
		if (ir.ir_side == ACCESS_DIAL || ir.ir_side == ACCESS_ENTRY)
			access_set_rules((enum access_side)ir.ir_side, NULL);
		rules_clear(&pending);
		break;
	case IPC_RULES_COMMIT:
		if (ir.ir_side == ACCESS_DIAL || ir.ir_side == ACCESS_ENTRY) {
			access_set_rules((enum access_side)ir.ir_side,
			    &pending);
			break;
		}
		if ((tk = registry_find(ir.ir_token)) != NULL) {
			rules_clear(&tk->tk_rules);
			tk->tk_rules = pending;
			memset(&pending, 0, sizeof(pending));
		}
		rules_clear(&pending);
		break;
	}
}

/* A barrier from the master: everything before it is applied. */
static void
server_sync(const struct ipc_sync *is)
{
	struct ipc_sync_done	 sd;
	struct ipc_stat		 st;
	struct token		*tk;
	struct tunnel		*t;
	size_t			 n;

	memset(&sd, 0, sizeof(sd));
	sd.sd_id = is->is_id;
	TAILQ_FOREACH(t, &server_tunnels, t_all)
		if (t->t_state == TUN_OPEN) {
			sd.sd_tunnels++;
			sd.sd_channels += (uint32_t)t->t_chans.ct_count;
		}
	if (is->is_stats)
		TAILQ_FOREACH(tk, &registry_tokens, tk_entry) {
			if (tk->tk_kind == TOK_CONNECTOR)
				continue;
			memset(&st, 0, sizeof(st));
			st.st_id = is->is_id;
			n = strlen(tk->tk_token);
			TAILQ_FOREACH(t, &server_tunnels, t_all) {
				if (t->t_state != TUN_OPEN)
					continue;
				if (t->t_kind == TUNK_CONNECTOR &&
				    t->t_group != NULL &&
				    strncmp(t->t_group->g_key, tk->tk_token,
				    n) == 0 && (t->t_group->g_key[n] == '\0' ||
				    t->t_group->g_key[n] == '#'))
					st.st_connectors++;
				else if (t->t_token == NULL ||
				    strcmp(t->t_token, tk->tk_token) != 0)
					continue;
				if (t->t_kind != TUNK_CONNECTOR)
					st.st_tunnels++;
				st.st_channels += (uint32_t)t->t_chans.ct_count;
				st.st_refused += t->t_refused;
				st.st_fastopen += t->t_fastopen;
				st.st_bytes_in += t->t_bytes_in;
				st.st_bytes_out += t->t_bytes_out;
			}
			if (st.st_tunnels == 0 && st.st_connectors == 0 &&
			    st.st_refused == 0)
				continue;
			snprintf(st.st_token, sizeof(st.st_token), "%s",
			    tk->tk_token);
			ipc_send(ls_worker->w_ipc, IPC_STAT, &st, sizeof(st), -1);
		}
	ipc_send(ls_worker->w_ipc, IPC_SYNC_DONE, &sd, sizeof(sd), -1);
}

static void
server_connector_result(const struct ipc_connector *r)
{
	struct server_pending	*sp;
	char			 text[256];

	TAILQ_FOREACH(sp, &server_pendings, sp_entry)
		if (sp->sp_reqid == r->ic_reqid)
			break;
	if (sp == NULL)
		return;
	TAILQ_REMOVE(&server_pendings, sp, sp_entry);
	memcpy(text, r->ic_text, sizeof(text));
	text[sizeof(text) - 1] = '\0';
	if (sp->sp_tun != NULL) {
		/* An accepted add answers with the token: never above debug. */
		log_info("tunnel %s: connector %s %s: %s", sp->sp_tun->t_name,
		    sp->sp_op == CONNECTOR_ADD ? "add" : "remove",
		    r->ic_ok ? "ok" : "refused", r->ic_ok ? log_secret(text) :
		    log_strz(text));
		if (r->ic_ok)
			log_debug("tunnel %s: connector token %s",
			    sp->sp_tun->t_name, log_strz(text));
		if (msg_put_connector_response(sp->sp_tun->t_out, sp->sp_id,
		    r->ic_ok, (r->ic_ok && sp->sp_op == CONNECTOR_REMOVE) ?
		    NULL : text) == 0)
			tunnel_flush_msg(sp->sp_tun);
	}
	free(sp);
}

/* Connector (0x07) from a provider: only on autonomy tokens (spec 4.7). */
static void
server_connector_msg(struct tunnel *t, struct msg *m)
{
	struct server_pending	*sp;
	struct ipc_connector	 req;

	if (t->t_kind != TUNK_REVERSE || !t->t_autonomy || t->t_group == NULL) {
		log_ratelimit(&server_rl_refused, LL_INFO, "tunnel %s: "
		    "connector management refused", t->t_name);
		if (msg_put_connector_response(t->t_out, m->m_id, 0,
		    "Unauthorized connector management attempt") == 0)
			tunnel_flush_msg(t);
		return;
	}
	if (m->m_token.len >= sizeof(req.ic_token) ||
	    memchr(m->m_token.p, '\0', m->m_token.len) != NULL) {
		if (msg_put_connector_response(t->t_out, m->m_id, 0,
		    "invalid connector token") == 0)
			tunnel_flush_msg(t);
		return;
	}
	if ((sp = calloc(1, sizeof(*sp))) == NULL)
		return;
	memset(&req, 0, sizeof(req));
	req.ic_reqid = sp->sp_reqid = ++server_reqid;
	req.ic_op = (uint32_t)m->m_op;
	snprintf(req.ic_owner, sizeof(req.ic_owner), "%s", t->t_group->g_key);
	memcpy(req.ic_token, m->m_token.p, m->m_token.len);
	sp->sp_tun = t;
	sp->sp_op = m->m_op;
	memcpy(sp->sp_id, m->m_id, sizeof(sp->sp_id));
	TAILQ_INSERT_TAIL(&server_pendings, sp, sp_entry);
	ipc_send(ls_worker->w_ipc, IPC_CONNECTOR_REQ, &req, sizeof(req), -1);
}

/* ---- connections ------------------------------------------------------ */

/*
 * A connection is counted against the pre-authentication budget from
 * here (its request head included) until it authenticates: a small read
 * limit, one deadline, and a place in server_preauth.
 */
static void
server_accept_fd(int fd)
{
	struct server_conn	*sc;
	struct timeval		 tv = { LS_PREAUTH_TIMEOUT, 0 };
	socklen_t		 slen;

	util_set_nodelay(fd);
	if ((sc = calloc(1, sizeof(*sc))) == NULL ||
	    (sc->sc_timer = evtimer_new(ls_worker->w_base,
	    server_preauth_timeout, sc)) == NULL) {
		log_warnx("%s: out of memory", __func__);
		close(fd);
		free(sc);
		return;
	}
	slen = sizeof(sc->sc_ss);
	if (getpeername(fd, (struct sockaddr *)&sc->sc_ss, &slen) == -1)
		sc->sc_ss.ss_family = AF_UNSPEC;	/* counts as one */
	preauth_add(&server_preauth, &sc->sc_preauth, server_preauth_drop, sc);
	if ((sc->sc_ws = ws_accept_tls(ls_worker->w_base, fd,
	    tls_server_ctx(), &server_ws_cb, sc)) == NULL) {
		log_warnx("%s: cannot serve connection", __func__);
		server_conn_free(sc);
		return;
	}
	ws_set_read_limit(sc->sc_ws, LS_PREAUTH_MSG_MAX);
	ws_set_budget(sc->sc_ws, &sc->sc_preauth);
	evtimer_add(sc->sc_timer, &tv);
}

static void
server_conn_free(struct server_conn *sc)
{
	preauth_remove(&sc->sc_preauth);
	if (sc->sc_timer != NULL)
		event_free(sc->sc_timer);
	if (sc->sc_delay != NULL)
		event_free(sc->sc_delay);
	free(sc);
}

/* End a connection that has not authenticated, at any stage. */
static void
server_conn_end(struct server_conn *sc, uint16_t code, const char *why)
{
	if (sc->sc_tun != NULL) {
		/* server_closed frees sc. */
		tunnel_close_code(sc->sc_tun, code, why);
		return;
	}
	log_debug("connection %s: %s", ws_peer(sc->sc_ws), why);
	ws_free(sc->sc_ws);
	server_conn_free(sc);
}

static void
server_preauth_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct server_conn	*sc = arg;

	log_ratelimit(&server_rl_auth, LL_INFO, "connection %s: not "
	    "authenticated within %d s", ws_peer(sc->sc_ws),
	    LS_PREAUTH_TIMEOUT);
	server_conn_end(sc, 1008, "authentication timeout");
}

/* The oldest unauthenticated connection makes room for a new one. */
static void
server_preauth_drop(struct preauth *pa, void *arg)
{
	server_conn_end(arg, 1013, "too many unauthenticated connections");
}

/* Spec 2.1 routes. */
static int
server_ws_request(struct ws_conn *ws, const struct http_head *h, void *arg)
{
	struct server_conn	*sc = arg;
	const char		*path = h->hh_path;
	const char		*feat;
	char			 inst[64];

	if (strcmp(path, "/socket") == 0 || strncmp(path, "/socket/", 8) == 0) {
		if (http_query_get(h->hh_query, "token", sc->sc_token_hash,
		    sizeof(sc->sc_token_hash)) && sc->sc_token_hash[0] != '\0')
			sc->sc_query_auth = 1;
		sc->sc_has_reverse = http_query_get(h->hh_query, "reverse",
		    sc->sc_reverse, sizeof(sc->sc_reverse)) &&
		    sc->sc_reverse[0] != '\0';
		if (http_query_get(h->hh_query, "instance", inst,
		    sizeof(inst)) && util_parse_uuid(inst,
		    sc->sc_instance) == 0)
			sc->sc_has_instance = 1;
		if ((feat = http_header(h, LS_FEATURE_HEADER)) != NULL) {
			tunnel_features(feat, &sc->sc_halfclose,
			    &sc->sc_window);
			if (sc->sc_halfclose || sc->sc_window != 0)
				ws_add_response_header(ws,
				    tunnel_feature_line());
		}
		return (1);
	}
	/* The master answers the API from the request head, which it
	 * cannot read under TLS. */
	if (tls_server_ctx() != NULL && (strcmp(path, "/api") == 0 ||
	    strncmp(path, "/api/", 5) == 0))
		ws_http_reply(ws, 501, NULL, "The HTTP API is not served on "
		    "a native TLS port (--tls-cert): use --api-listen.\n",
		    NULL);
	else if (strcmp(path, "/") == 0)
		ws_http_reply(ws, 200, NULL, ls_conf->c_napi_keys > 0 ?
		    "LinkSocks " LS_REF_VERSION " is running. API endpoints "
		    "available at /api/*\n" : "LinkSocks " LS_REF_VERSION
		    " is running but API is not enabled.\n", NULL);
	else
		ws_http_reply(ws, 404, NULL, "404 page not found\n", NULL);
	/* Answered: the connection is gone and no ws_closed follows. */
	server_conn_free(sc);
	return (0);
}

static void
server_ws_closed(struct ws_conn *ws, const char *why, void *arg)
{
	/* Before the upgrade completed (plain HTTP, bad handshake). */
	log_debug("connection %s: %s", ws_peer(ws), why);
	server_conn_free(arg);
}

static void
server_ws_open(struct ws_conn *ws, void *arg)
{
	struct server_conn	*sc = arg;
	struct token		*tk;
	int			 want_reverse = -1;

	if ((sc->sc_tun = tunnel_new(ws, 0, &server_tunnel_ops, sc)) == NULL) {
		log_warnx("%s: out of memory", __func__);
		ws_free(ws);
		server_conn_free(sc);
		return;
	}
	TAILQ_INSERT_TAIL(&server_tunnels, sc->sc_tun, t_all);
	tunnel_set_features(sc->sc_tun, sc->sc_halfclose, sc->sc_window);
	tunnel_set_state(sc->sc_tun, TUN_AUTH);
	/* Else spec 6.3: an Auth message, before the deadline (sc_timer). */
	if (!sc->sc_query_auth)
		return;
	/* Spec 6.2: URL-query authentication, answered at once. */
	if (strlen(sc->sc_token_hash) != 64) {
		server_auth_fail(sc, "invalid token format", 1);
		return;
	}
	tk = registry_find_hash(sc->sc_token_hash);
	if (sc->sc_has_reverse)
		want_reverse = strcmp(sc->sc_reverse, "true") == 0 ||
		    strcmp(sc->sc_reverse, "1") == 0;
	if (!sc->sc_has_instance)
		util_random(sc->sc_instance, sizeof(sc->sc_instance));
	server_authenticate(sc, tk, want_reverse, 1, sc->sc_instance);
}

/*
 * A failed authentication.  A wrong token (guess) is counted against
 * the peer's address and answered at once or, after a few from that
 * address, from a timer (throttle.c): meanwhile nothing more is read,
 * and the connection stays counted against the pre-authentication
 * budget and its deadline.  A malformed or missing Auth message guesses
 * nothing and is answered at once.
 */
static void
server_auth_fail(struct server_conn *sc, const char *err, int guess)
{
	struct tunnel	*t = sc->sc_tun;
	struct timeval	 tv;
	unsigned	 n;
	double		 d;

	if (sc->sc_delay != NULL && evtimer_pending(sc->sc_delay, NULL))
		return;		/* answered already */
	STAT_INC(guess ? ST_AUTH_FAIL_TOKEN : ST_AUTH_FAIL_MALFORMED);
	d = guess ? throttle_fail((struct sockaddr *)&sc->sc_ss, util_now(),
	    &n) : 0;
	if (d <= 0 || (sc->sc_delay == NULL &&
	    (sc->sc_delay = evtimer_new(ls_worker->w_base,
	    server_auth_delayed, sc)) == NULL)) {
		log_ratelimit(&server_rl_auth, LL_INFO, "tunnel %s: "
		    "authentication failed: %s", t->t_name, log_strz(err));
		server_auth_answer(sc, err);
		return;
	}
	log_ratelimit(&server_rl_auth, LL_INFO, "tunnel %s: authentication "
	    "failed: %s (%u failures from this address: answered in %.1f s)",
	    t->t_name, log_strz(err), n, d);
	snprintf(sc->sc_err, sizeof(sc->sc_err), "%s", err);
	tunnel_pause(t, 1);
	tv.tv_sec = (time_t)d;
	tv.tv_usec = (suseconds_t)((d - (double)tv.tv_sec) * 1e6);
	evtimer_add(sc->sc_delay, &tv);
}

static void
server_auth_delayed(evutil_socket_t fd, short ev, void *arg)
{
	struct server_conn	*sc = arg;

	server_auth_answer(sc, sc->sc_err);
}

/* AuthResponse(0, err), then close. */
static void
server_auth_answer(struct server_conn *sc, const char *err)
{
	struct tunnel	*t = sc->sc_tun;

	evtimer_del(sc->sc_timer);
	if (msg_put_auth_response(t->t_out, 0, err) == 0)
		tunnel_flush_msg(t);
	tunnel_close_code(t, 1008, "authentication failed");
}

/*
 * Classify the token (spec 6.2 step 3-5, 6.3) and give the connection
 * its role.  want_reverse: 1 reverse, 0 not reverse, -1 the token decides.
 */
static void
server_authenticate(struct server_conn *sc, struct token *tk,
    int want_reverse, int query, const uint8_t *instance)
{
	struct tunnel	*t = sc->sc_tun;
	struct token	*rtk;
	struct group	*g = NULL;
	char		 key[IPC_KEYLEN], *hash;
	enum tunnel_kind kind;

	if (tk == NULL)
		goto invalid;
	if (tk->tk_kind == TOK_CONNECTOR) {
		/* Valid while what it maps to exists. */
		if ((hash = strchr(tk->tk_target, '#')) != NULL)
			*hash = '\0';
		rtk = registry_find(tk->tk_target);
		if (hash != NULL)
			*hash = '#';
		if (rtk == NULL || rtk->tk_kind != TOK_REVERSE)
			goto invalid;
	}
	switch (tk->tk_kind) {
	case TOK_REVERSE:
		if (want_reverse == 0)
			goto invalid;
		kind = TUNK_REVERSE;
		break;
	case TOK_FORWARD:
		if (want_reverse == 1)
			goto invalid;
		kind = TUNK_FORWARD;
		break;
	default:
		if (want_reverse == 1)
			goto invalid;
		kind = TUNK_CONNECTOR;
		break;
	}
	/* The token's tunnel cap in this worker: a clear refusal. */
	if (limits_tunnel_take(tk, &t->t_use) == -1) {
		log_ratelimit(&server_rl_limit, LL_INFO, "tunnel %s: refused: "
		    "%s (%u)", t->t_name, LIMITS_TUNNEL_TEXT,
		    tk->tk_limits.tl_max_tunnels);
		server_auth_answer(sc, LIMITS_TUNNEL_TEXT);
		return;
	}
	/* Out of the pre-authentication budget: the normal limits apply. */
	throttle_success((struct sockaddr *)&sc->sc_ss);
	evtimer_del(sc->sc_timer);
	preauth_remove(&sc->sc_preauth);
	ws_set_budget(t->t_ws, NULL);
	ws_set_read_limit(t->t_ws, LS_MSG_MAX);
	t->t_kind = kind;
	t->t_token = util_xstrdup(tk->tk_token);
	t->t_stats = stats_token(tk->tk_hash);
	/* AuthResponse goes out before anything else can (P-12). */
	if (msg_put_auth_response(t->t_out, 1, NULL) == 0)
		tunnel_flush_msg(t);
	tunnel_set_state(t, TUN_OPEN);
	tunnel_start_keepalive(t);

	switch (kind) {
	case TUNK_FORWARD:
		log_info("tunnel %s: forward client authenticated%s", t->t_name,
		    tunnel_feature_text(t));
		return;
	case TUNK_REVERSE:
		if (tk->tk_autonomy) {
			registry_internal_key(tk, instance, key, sizeof(key));
			g = registry_group(key, 1);
			if (g != NULL && g->g_token == NULL)
				g->g_token = tk;
			t->t_autonomy = 1;
		} else
			g = tk->tk_group;
		if (g == NULL) {
			tunnel_close(t, "out of memory");
			return;
		}
		t->t_group = g;
		TAILQ_INSERT_TAIL(&g->g_tunnels, t, t_entry);
		g->g_nlocal++;
		log_info("tunnel %s: provider authenticated (%s, %u here)%s",
		    t->t_name, tk->tk_autonomy ? "autonomy" : "reverse",
		    g->g_nlocal, tunnel_feature_text(t));
		server_report(g);
		server_listeners();
		server_partners(g);
		front_tunnel_available();
		agent_provider_available(g);
		return;
	case TUNK_CONNECTOR:
		if ((g = registry_group(tk->tk_target, 1)) == NULL) {
			tunnel_close(t, "out of memory");
			return;
		}
		t->t_group = g;
		g->g_connectors++;
		log_info("tunnel %s: connector authenticated (%u provider%s)",
		    t->t_name, registry_group_total(g),
		    registry_group_total(g) == 1 ? "" : "s");
		server_partners(g);
		return;
	}
	(void)query;
	return;
 invalid:
	server_auth_fail(sc, "invalid token", 1);
}

/*
 * Partners (0x0A, spec 13.2) per group: connectors learn how many
 * providers serve them, providers how many connectors use them.
 */
static void
server_partners(struct group *g)
{
	struct tunnel	*t;
	unsigned	 providers = registry_group_total(g);

	TAILQ_FOREACH(t, &server_tunnels, t_all) {
		if (t->t_state != TUN_OPEN || t->t_group != g)
			continue;
		if (msg_put_partners(t->t_out, t->t_kind == TUNK_CONNECTOR ?
		    (int)providers : (int)g->g_connectors) == 0)
			tunnel_flush_msg(t);
	}
}

/* Spec 6.3: the first message must be an Auth. */
static void
server_auth(struct tunnel *t, struct msg *m, const char *err)
{
	struct server_conn	*sc = t->t_arg;
	struct token		*tk;
	char			 buf[300];

	if (m == NULL) {
		snprintf(buf, sizeof(buf), "invalid auth message: %s", err);
		server_auth_fail(sc, buf, 0);
		return;
	}
	if (m->m_type != MSG_AUTH) {
		server_auth_fail(sc, "invalid auth message", 0);
		return;
	}
	if (m->m_token.len > 255 ||
	    memchr(m->m_token.p, '\0', m->m_token.len) != NULL) {
		server_auth_fail(sc, "invalid token", 1);
		return;
	}
	tk = registry_auth(m->m_token.p, m->m_token.len);
	server_authenticate(sc, tk, m->m_reverse ? 1 : 0, 0, m->m_id);
}

static void
server_message(struct tunnel *t, struct msg *m, struct evbuffer *raw)
{
	switch (m->m_type) {
	case MSG_CONNECT:
		if (t->t_kind == TUNK_CONNECTOR) {
			agent_connect(t, m, raw, t->t_group);
			return;
		}
		if (t->t_kind != TUNK_FORWARD) {
			/* P-13: a provider is not a forward client. */
			log_ratelimit(&server_rl_refused, LL_INFO, "tunnel %s: "
			    "Connect from a provider, refused", t->t_name);
			if (msg_put_connect_response(t->t_out, 0, m->m_id,
			    "forward proxying not allowed for this token") == 0)
				tunnel_flush_msg(t);
			return;
		}
		dial_connect(t, m);
		break;
	case MSG_CONNECTOR:
		server_connector_msg(t, m);
		break;
	case MSG_LOG:
		log_debug("tunnel %s: peer log: %s", t->t_name,
		    log_str(m->m_json.p, m->m_json.len));
		break;
	default:
		log_trace("tunnel %s: ignoring %s", t->t_name,
		    msg_typename(m->m_type));
		break;
	}
}

static void
server_closed(struct tunnel *t, const char *why)
{
	struct server_conn	*sc = t->t_arg;
	struct server_pending	*sp;
	struct group		*g = t->t_group;

	TAILQ_REMOVE(&server_tunnels, t, t_all);
	TAILQ_FOREACH(sp, &server_pendings, sp_entry)
		if (sp->sp_tun == t)
			sp->sp_tun = NULL;
	if (g != NULL && t->t_kind == TUNK_REVERSE) {
		TAILQ_REMOVE(&g->g_tunnels, t, t_entry);
		g->g_nlocal--;
		server_report(g);
		if (registry_group_total(g) == 0)
			server_partners(g);
	} else if (g != NULL && t->t_kind == TUNK_CONNECTOR)
		g->g_connectors--;
	if (t->t_state == TUN_CLOSED && t->t_token != NULL)
		log_info("tunnel %s: closed: %s", t->t_name, why);
	limits_tunnel_drop(t->t_use);
	t->t_use = NULL;
	server_conn_free(sc);
}
