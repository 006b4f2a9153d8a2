/*
 * client.c -- the tunnel client inside a worker: keeps its share of the
 * WebSocket connections up (reconnecting with backoff), authenticates
 * (spec 6.5), and serves SOCKS5 on this worker's SO_REUSEPORT socket
 * once a tunnel is up (or at once with -i).
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>
#include <openssl/err.h>

#include "linksocks.h"

#define CLIENT_AUTH_TIMEOUT	30
#define CLIENT_DELAY_MIN	1.0
#define CLIENT_DELAY_MAX	600.0
#define CLIENT_MAX_REDIRECTS	5

enum client_slot_state {
	CS_IDLE,		/* waiting to reconnect */
	CS_CONNECTING,		/* ws_connect in progress */
	CS_AUTH,		/* tunnel open, waiting for AuthResponse */
	CS_OPEN
};

static const char *const client_slot_states[] = {
	[CS_IDLE] = "IDLE",
	[CS_CONNECTING] = "CONNECTING",
	[CS_AUTH] = "AUTH",
	[CS_OPEN] = "OPEN",
};

#define CS_TO(s)	(1u << (s))
/* Where each state may go; anything else is a bug. */
static const unsigned client_slot_moves[] = {
	[CS_IDLE] = CS_TO(CS_CONNECTING),
	[CS_CONNECTING] = CS_TO(CS_AUTH) | CS_TO(CS_IDLE),
	[CS_AUTH] = CS_TO(CS_OPEN) | CS_TO(CS_IDLE),
	[CS_OPEN] = CS_TO(CS_IDLE),
};

struct client_slot {
	int			 cs_idx;
	enum client_slot_state	 cs_state;
	struct ws_conn		*cs_ws;
	struct tunnel		*cs_tun;
	struct ls_url		 cs_url;	/* after redirects */
	int			 cs_redirects;
	double			 cs_delay;	/* backoff ceiling */
	struct event		*cs_timer;
	struct ls_proxy		 cs_proxy;	/* from the environment */
	uint8_t			 cs_reqid[LS_CHANNEL_ID_LEN];
};

static struct client_slot	*client_slots;
static int			 client_nslots;
static unsigned			 client_rr;
static struct listen_guard	*client_listener;
static int			 client_ever_open;
static int			 client_connector_ok;	/* -c: granted once */
static SSL_CTX			*client_ctx;	/* built once, in the master */

static SSL_CTX	*client_tls_ctx(char *, size_t);
static void	client_init(void);
static void	client_drain(void);
static void	client_slot_set_state(struct client_slot *,
		    enum client_slot_state);
static void	client_connect(struct client_slot *);
static void	client_retry(struct client_slot *, int);
static void	client_timer(evutil_socket_t, short, void *);
static void	client_ws_open(struct ws_conn *, void *);
static void	client_ws_closed(struct ws_conn *, const char *, void *);
static void	client_ws_redirect(struct ws_conn *, const char *, void *);
static void	client_auth(struct tunnel *, struct msg *, const char *);
static void	client_message(struct tunnel *, struct msg *,
		    struct evbuffer *);
static struct tunnel *client_pick(struct group *, int, int *);
static void	client_closed(struct tunnel *, const char *);
static void	client_listen(void);
static void	client_connector_add(struct tunnel *);
static void	client_accept(evutil_socket_t, struct sockaddr *, int, void *);
static int	client_dispatch(int, const void *, size_t, int);

static const struct ws_cb client_ws_cb = {
	.ws_open = client_ws_open,
	.ws_closed = client_ws_closed,
	.ws_redirect = client_ws_redirect,
};

/* A client's SOCKS front end: this worker's own tunnels. */
static const struct front_ops client_front_ops = {
	.fo_pick = client_pick,
	.fo_udp = udp_socks_start,
};

static const struct tunnel_ops client_tunnel_ops = {
	.to_auth = client_auth,
	.to_message = client_message,
	.to_closed = client_closed,
};

const struct worker_role client_role = {
	.wr_init = client_init,
	.wr_drain = client_drain,
	.wr_drain_tick = client_drain,	/* close tunnels that became idle */
	.wr_dispatch = client_dispatch,
};

/* OpenSSL's reason for the last error, or "error". */
static const char *
client_ssl_reason(void)
{
	const char	*r = ERR_reason_error_string(ERR_peek_last_error());

	return (r != NULL ? r : "error");
}

/*
 * The client's TLS context: the system's CA certificates, or those of
 * --ca-file/--ca-path instead; --tls-client-cert/--tls-client-key for
 * servers that ask for one.  NULL with the reason in err.
 */
static SSL_CTX *
client_tls_ctx(char *err, size_t errlen)
{
	struct config	*c = ls_conf;
	SSL_CTX		*ctx;
	struct stat	 st;
	static const unsigned char alpn[] = "\x08http/1.1";

	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		snprintf(err, errlen, "SSL_CTX_new: %s", client_ssl_reason());
		return (NULL);
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1);
	if (c->c_ca_path != NULL && stat(c->c_ca_path, &st) == -1) {
		snprintf(err, errlen, "--ca-path %s: %s", c->c_ca_path,
		    strerror(errno));
		goto fail;
	}
	if (c->c_ca_path != NULL && !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "--ca-path %s: not a directory",
		    c->c_ca_path);
		goto fail;
	}
	if (c->c_ca_file != NULL || c->c_ca_path != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, c->c_ca_file,
		    c->c_ca_path) != 1) {
			snprintf(err, errlen, "CA certificates %s: %s",
			    c->c_ca_file != NULL ? c->c_ca_file : c->c_ca_path,
			    client_ssl_reason());
			goto fail;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1)
		log_warnx("cannot load the system CA certificates");
	if (c->c_client_cert != NULL) {
		if (SSL_CTX_use_certificate_chain_file(ctx,
		    c->c_client_cert) != 1) {
			snprintf(err, errlen, "client certificate %s: %s",
			    c->c_client_cert, client_ssl_reason());
			goto fail;
		}
		if (SSL_CTX_use_PrivateKey_file(ctx, c->c_client_key,
		    SSL_FILETYPE_PEM) != 1) {
			snprintf(err, errlen, "client key %s: %s",
			    c->c_client_key, client_ssl_reason());
			goto fail;
		}
		if (SSL_CTX_check_private_key(ctx) != 1) {
			snprintf(err, errlen, "client key %s does not match "
			    "certificate %s", c->c_client_key,
			    c->c_client_cert);
			goto fail;
		}
	}
	SSL_CTX_set_verify(ctx, c->c_insecure ? SSL_VERIFY_NONE :
	    SSL_VERIFY_PEER, NULL);
	return (ctx);
 fail:
	SSL_CTX_free(ctx);
	return (NULL);
}

/*
 * Before the workers start (the master): the TLS files and the
 * environment's proxy must be usable.  0, or -1 with the reason.  The
 * context built here is the one every worker inherits.
 */
int
client_check(char *err, size_t errlen)
{
	struct ls_proxy	 px;

	if (client_ctx == NULL &&
	    (client_ctx = client_tls_ctx(err, errlen)) == NULL)
		return (-1);
	if (!ls_conf->c_no_env_proxy &&
	    proxy_from_env(&ls_conf->c_wsurl, &px, err, errlen) == -1)
		return (-1);
	return (0);
}

static void
client_init(void)
{
	struct config	*c = ls_conf;
	char		 err[512];
	int		 i, n;

	front_init(&client_front_ops);
	/* Redirects may lead to wss:// even from ws://. */
	if (client_ctx == NULL &&
	    (client_ctx = client_tls_ctx(err, sizeof(err))) == NULL)
		fatalx("%s", err);
	ls_worker->w_ssl = client_ctx;
	/* --threads connections in all, at least one per worker. */
	n = (c->c_threads + c->c_workers - 1) / c->c_workers;
	if (n < 1)
		n = 1;
	client_nslots = n;
	if ((client_slots = calloc((size_t)n, sizeof(*client_slots))) == NULL)
		fatal("%s: calloc", __func__);
	for (i = 0; i < n; i++) {
		client_slots[i].cs_idx = i;
		client_slots[i].cs_url = c->c_wsurl;
		client_slots[i].cs_timer = evtimer_new(ls_worker->w_base,
		    client_timer, &client_slots[i]);
		client_connect(&client_slots[i]);
	}
	if (c->c_socks_nowait)
		client_listen();
}

static void
client_drain(void)
{
	struct client_slot	*cs;
	int			 i;

	if (client_listener != NULL) {
		listen_free(client_listener);
		client_listener = NULL;
	}
	/*
	 * A provider leaves the server's rotation as soon as it can: each
	 * tunnel closes the moment it carries no channel (called again by
	 * the drain timer), and nothing is refused meanwhile.
	 */
	for (i = 0; i < client_nslots; i++) {
		cs = &client_slots[i];
		evtimer_del(cs->cs_timer);
		if (cs->cs_tun != NULL && cs->cs_tun->t_chans.ct_count == 0 &&
		    ls_conf->c_role == ROLE_PROVIDER)
			tunnel_close(cs->cs_tun, "draining");
	}
}

/*
 * A message from the master, which sends a client worker nothing: a
 * tunnel socket is closed; anything else is -1 (the worker stops).
 */
static int
client_dispatch(int type, const void *data, size_t len, int fd)
{
	if (type != IPC_TUNNEL_FD)
		return (-1);
	if (fd == -1 || !ipc_payload_ok(type, data, len))
		log_warnx("%s: %s without a descriptor", __func__,
		    ipc_typename(type));
	if (fd != -1)
		close(fd);
	return (0);
}

/* Live tunnels of this worker for SOCKS channels, round robin. */
static struct tunnel *
client_pick(struct group *g, int adopted, int *worker)
{
	struct client_slot	*cs;
	int			 i;

	*worker = -1;
	for (i = 0; i < client_nslots; i++) {
		cs = &client_slots[(client_rr + (unsigned)i) %
		    (unsigned)client_nslots];
		if (cs->cs_state == CS_OPEN && cs->cs_tun != NULL) {
			client_rr += (unsigned)i + 1;
			return (cs->cs_tun);
		}
	}
	return (NULL);
}

static void
client_slot_set_state(struct client_slot *cs, enum client_slot_state st)
{
	if (cs->cs_state == st)
		return;
	if (!(client_slot_moves[cs->cs_state] & CS_TO(st))) {
		log_warnx("BUG: tunnel %d: %s -> %s", cs->cs_idx,
		    client_slot_states[cs->cs_state], client_slot_states[st]);
#ifdef LS_STRICT
		abort();
#endif
	}
	log_trace("tunnel %d: %s -> %s", cs->cs_idx,
	    client_slot_states[cs->cs_state], client_slot_states[st]);
	cs->cs_state = st;
}

static void
client_connect(struct client_slot *cs)
{
	struct config	*c = ls_conf;
	struct ws_dial	 wd;
	char		 target[2048], err[512];
	int		 r;

	if (cs->cs_url.u_query_auth) {
		if (url_auth_target(&cs->cs_url, c->c_token != NULL ?
		    c->c_token : "anonymous", c->c_role == ROLE_PROVIDER,
		    c->c_instance, target, sizeof(target)) == -1)
			worker_fatal("URL too long");
	} else
		snprintf(target, sizeof(target), "%s", cs->cs_url.u_path);
	log_debug("connecting to %s://%s:%u%s", cs->cs_url.u_tls ? "wss" : "ws",
	    log_strz(cs->cs_url.u_host), cs->cs_url.u_port,
	    log_strz(cs->cs_url.u_path));
	memset(&wd, 0, sizeof(wd));
	wd.wd_ctx = ls_worker->w_ssl;
	wd.wd_sni = c->c_sni;
	wd.wd_insecure = c->c_insecure;
	wd.wd_host = c->c_host_hdr;
	wd.wd_headers = c->c_headers;
	wd.wd_extra = tunnel_feature_line();
	/* The environment's proxy, for this URL (a redirect may change it). */
	if (!c->c_no_env_proxy) {
		r = proxy_from_env(&cs->cs_url, &cs->cs_proxy, err,
		    sizeof(err));
		if (r == -1) {
			log_warnx("%s", err);
			client_retry(cs, 0);
			return;
		}
		if (r == 1)
			wd.wd_proxy = &cs->cs_proxy;
	}
	client_slot_set_state(cs, CS_CONNECTING);
	cs->cs_ws = ws_dial(ls_worker->w_base, ls_worker->w_dns, &wd,
	    &cs->cs_url, target, &client_ws_cb, cs);
	if (cs->cs_ws == NULL) {
		log_warnx("cannot start a connection to %s",
		    log_strz(cs->cs_url.u_host));
		client_retry(cs, 0);
	}
}

/*
 * Schedule the next attempt.  The ceiling starts at 1 s, grows by half
 * each failure up to 10 min (spec 6.7) and the wait is drawn uniformly
 * below it ("full jitter"), so a fleet does not reconnect in step after
 * a server restart.
 */
static void
client_retry(struct client_slot *cs, int was_open)
{
	struct timeval	tv;
	uint32_t	r;
	double		wait;

	client_slot_set_state(cs, CS_IDLE);
	cs->cs_ws = NULL;
	cs->cs_tun = NULL;
	if (ls_worker->w_draining)
		return;
	if (ls_conf->c_noreconnect)
		worker_fatal("connection lost and --no-reconnect is set");
	if (was_open || cs->cs_delay == 0)
		cs->cs_delay = CLIENT_DELAY_MIN;
	else if ((cs->cs_delay *= 1.5) > CLIENT_DELAY_MAX)
		cs->cs_delay = CLIENT_DELAY_MAX;
	cs->cs_url = ls_conf->c_wsurl;
	cs->cs_redirects = 0;
	util_random(&r, sizeof(r));
	wait = cs->cs_delay * ((double)r / 4294967296.0);
	if (wait < 0.05)
		wait = 0.05;
	log_warnx("connection error, waiting %.1fs before retrying", wait);
	tv.tv_sec = (time_t)wait;
	tv.tv_usec = (suseconds_t)((wait - (double)tv.tv_sec) * 1e6);
	evtimer_add(cs->cs_timer, &tv);
}

static void
client_timer(evutil_socket_t fd, short ev, void *arg)
{
	struct client_slot	*cs = arg;

	switch (cs->cs_state) {
	case CS_IDLE:
		client_connect(cs);
		break;
	case CS_AUTH:
		log_warnx("no authentication response within %d s",
		    CLIENT_AUTH_TIMEOUT);
		tunnel_close(cs->cs_tun, "authentication timeout");
		break;
	default:
		break;
	}
}

static void
client_ws_redirect(struct ws_conn *ws, const char *location, void *arg)
{
	struct client_slot	*cs = arg;
	struct ls_url		 u;
	char			 err[256], abs[2048];

	cs->cs_ws = NULL;
	if (++cs->cs_redirects > CLIENT_MAX_REDIRECTS) {
		log_warnx("too many redirects (maximum %d)",
		    CLIENT_MAX_REDIRECTS);
		client_retry(cs, 0);
		return;
	}
	if (location[0] == '/')
		snprintf(abs, sizeof(abs), "%s://%s%s%s%s:%u%s",
		    cs->cs_url.u_tls ? "wss" : "ws",
		    strchr(cs->cs_url.u_host, ':') ? "[" : "", cs->cs_url.u_host,
		    strchr(cs->cs_url.u_host, ':') ? "]" : "", "",
		    cs->cs_url.u_port, location);
	else
		snprintf(abs, sizeof(abs), "%s", location);
	if (url_parse(abs, &u, err, sizeof(err)) == -1) {
		log_warnx("bad redirect location \"%s\": %s",
		    log_strz(location), log_strz(err));
		client_retry(cs, 0);
		return;
	}
	log_info("redirected to %s", log_strz(abs));
	cs->cs_url = u;
	client_connect(cs);
}

static void
client_ws_closed(struct ws_conn *ws, const char *why, void *arg)
{
	struct client_slot	*cs = arg;

	/* Before the upgrade: connect, TLS or handshake failure. */
	log_warnx("cannot connect to %s:%u: %s", log_strz(cs->cs_url.u_host),
	    cs->cs_url.u_port, why);
	client_retry(cs, 0);
}

static void
client_ws_open(struct ws_conn *ws, void *arg)
{
	struct client_slot	*cs = arg;
	const struct http_head	*h;
	const char		*feat;
	struct tunnel		*t;
	struct timeval		 tv = { CLIENT_AUTH_TIMEOUT, 0 };
	int			 halfclose;
	uint32_t		 window;

	if ((t = tunnel_new(ws, 1, &client_tunnel_ops, cs)) == NULL) {
		ws_free(ws);
		client_retry(cs, 0);
		return;
	}
	cs->cs_tun = t;
	/* Until the AuthResponse: small messages, and only that one. */
	ws_set_read_limit(ws, LS_PREAUTH_MSG_MAX);
	client_slot_set_state(cs, CS_AUTH);
	t->t_kind = ls_conf->c_role == ROLE_PROVIDER ? TUNK_REVERSE :
	    TUNK_FORWARD;
	if ((h = ws_handshake_head(ws)) != NULL &&
	    (feat = http_header(h, LS_FEATURE_HEADER)) != NULL) {
		tunnel_features(feat, &halfclose, &window);
		tunnel_set_features(t, halfclose, window);
	}
	tunnel_set_state(t, TUN_AUTH);
	if (!cs->cs_url.u_query_auth) {
		/* Message authentication (spec 6.3). */
		if (msg_put_auth(t->t_out, ls_conf->c_token != NULL ?
		    ls_conf->c_token : "anonymous",
		    ls_conf->c_role == ROLE_PROVIDER, ls_conf->c_instance) == -1 ||
		    tunnel_flush_msg(t) == -1) {
			tunnel_close(t, "cannot send Auth");
			return;
		}
	}
	evtimer_add(cs->cs_timer, &tv);
}

static void
client_auth(struct tunnel *t, struct msg *m, const char *err)
{
	struct client_slot	*cs = t->t_arg;

	evtimer_del(cs->cs_timer);
	if (m == NULL || m->m_type != MSG_AUTH_RESPONSE) {
		log_warnx("unexpected message type for auth response%s%s",
		    err ? ": " : "", err ? err : "");
		tunnel_close_code(t, 1008, "bad auth response");
		return;
	}
	if (!m->m_success) {
		log_warnx("Authentication failed: %s",
		    log_str(m->m_error.p, m->m_error.len));
		if (ls_conf->c_retry_auth) {
			tunnel_close(t, "authentication failed");
			return;
		}
		if (ls_conf->c_token == NULL)
			worker_fatal("authentication failed: please provide a "
			    "token with -t or set LINKSOCKS_TOKEN");
		worker_fatal("authentication failed: invalid token");
	}
	client_slot_set_state(cs, CS_OPEN);
	ws_set_read_limit(t->t_ws, LS_MSG_MAX);
	cs->cs_delay = 0;
	tunnel_set_state(t, TUN_OPEN);
	tunnel_start_keepalive(t);
	log_info("tunnel %d to %s:%u ready%s", cs->cs_idx,
	    log_strz(cs->cs_url.u_host), cs->cs_url.u_port,
	    tunnel_feature_text(t));
	client_ever_open = 1;
	if (ls_conf->c_role == ROLE_PROVIDER) {
		/*
		 * One tunnel asks, as the reference's thread 0 does: a server
		 * of this implementation gives the token to the whole instance,
		 * the reference to the one connection that added it (P-14).
		 */
		if (ls_conf->c_connector_token != NULL &&
		    ls_worker->w_idx == 0 && cs->cs_idx == 0)
			client_connector_add(t);
		return;
	}
	client_listen();
	front_tunnel_available();
}

/*
 * Provider -c: ask for our connector token on every (re)connect; the
 * server treats a repeat as success.  A refusal of the first request is
 * fatal; a later one (a reference server that bound the token to our
 * previous connection, P-14) is only logged.
 */
static void
client_connector_add(struct tunnel *t)
{
	struct client_slot	*cs = t->t_arg;

	util_random(cs->cs_reqid, sizeof(cs->cs_reqid));
	if (msg_put_connector(t->t_out, cs->cs_reqid,
	    ls_conf->c_connector_token, CONNECTOR_ADD) == -1 ||
	    tunnel_flush_msg(t) == -1)
		log_warnx("cannot send the connector token request");
}

static void
client_message(struct tunnel *t, struct msg *m, struct evbuffer *raw)
{
	struct client_slot	*cs;

	switch (m->m_type) {
	case MSG_CONNECT:
		if (t->t_kind != TUNK_REVERSE) {
			log_debug("tunnel %s: Connect on a forward tunnel, "
			    "ignored", t->t_name);
			return;
		}
		dial_connect(t, m);
		break;
	case MSG_LOG:
		log_info("server log: %s", log_str(m->m_json.p, m->m_json.len));
		break;
	case MSG_CONNECTOR_RESPONSE:
		cs = t->t_arg;
		if (memcmp(m->m_id, cs->cs_reqid, sizeof(cs->cs_reqid)) != 0) {
			log_debug("unexpected ConnectorResponse, ignored");
			break;
		}
		/* The token is ours and secret: only -d shows it. */
		if (!m->m_success && !client_connector_ok) {
			log_debug("connector token %s refused",
			    log_strz(ls_conf->c_connector_token));
			worker_fatal("connector token %s refused: %s",
			    log_secret(ls_conf->c_connector_token),
			    log_str(m->m_error.p, m->m_error.len));
		}
		if (!m->m_success) {
			log_warnx("connector token %s refused again: %s (the "
			    "server keeps the first grant)",
			    log_secret(ls_conf->c_connector_token),
			    log_str(m->m_error.p, m->m_error.len));
			break;
		}
		client_connector_ok = 1;
		log_info("connector token %s added",
		    log_secret(ls_conf->c_connector_token));
		log_debug("connector token %s added",
		    m->m_token.len ? log_str(m->m_token.p, m->m_token.len) :
		    log_strz(ls_conf->c_connector_token));
		break;
	case MSG_PARTNERS:
		log_debug("partners: %s", log_str(m->m_json.p, m->m_json.len));
		break;
	default:
		log_debug("tunnel %s: ignoring %s", t->t_name,
		    msg_typename(m->m_type));
		break;
	}
}

static void
client_closed(struct tunnel *t, const char *why)
{
	struct client_slot	*cs = t->t_arg;
	int			 was_open = cs->cs_state == CS_OPEN;

	evtimer_del(cs->cs_timer);
	if (was_open)
		log_warnx("tunnel %d lost: %s", cs->cs_idx, why);
	client_retry(cs, was_open);
}

static void
client_listen(void)
{
	char	name[64];

	if (client_listener != NULL || ls_worker->w_socks_fd == -1 ||
	    ls_worker->w_draining)
		return;
	snprintf(name, sizeof(name), "SOCKS5 port %d", ls_conf->c_socks_port);
	client_listener = listen_new(ls_worker->w_base, ls_worker->w_socks_fd,
	    1024, name, client_accept, NULL, NULL);
	if (client_listener == NULL)
		fatal("SOCKS5 listen");
	ls_worker->w_socks_fd = -1;	/* owned by the listener now */
	log_info("SOCKS5 listening on %s:%d", ls_conf->c_socks_host,
	    ls_conf->c_socks_port);
}

static void
client_accept(evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	front_accept(fd, sa, salen, NULL);
}
