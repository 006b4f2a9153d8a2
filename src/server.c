/*
 * server.c -- the tunnel server inside a worker: HTTP routing, WebSocket
 * upgrade, authentication (URL query or Auth message, spec 6), and the
 * dial side of forward-mode channels.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "linksocks.h"

#define SERVER_AUTH_TIMEOUT	30	/* seconds for the Auth message (P-27) */

struct server_conn {
	struct ws_conn	*sc_ws;
	struct tunnel	*sc_tun;
	int		 sc_query_auth;		/* token in the URL */
	char		 sc_token_hash[80];
	char		 sc_reverse[16];
	int		 sc_has_reverse;
	int		 sc_features;
	struct event	*sc_timer;
};

static char	 server_token_hash[65];

static int	server_ws_request(struct ws_conn *, const struct http_head *,
		    void *);
static void	server_ws_open(struct ws_conn *, void *);
static void	server_ws_closed(struct ws_conn *, const char *, void *);
static void	server_auth(struct tunnel *, struct msg *, const char *);
static void	server_message(struct tunnel *, struct msg *);
static void	server_closed(struct tunnel *, const char *);
static void	server_auth_timeout(evutil_socket_t, short, void *);
static void	server_auth_result(struct server_conn *, int, const char *);

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

void
server_init(void)
{
	url_sha256_hex(ls_conf->c_token, strlen(ls_conf->c_token),
	    server_token_hash);
}

void
server_drain(void)
{
	/* The master stops passing us tunnels; channels finish on their own. */
}

void
server_accept_fd(int fd)
{
	struct server_conn	*sc;

	util_set_nodelay(fd);
	if ((sc = calloc(1, sizeof(*sc))) == NULL) {
		log_warnx("%s: out of memory", __func__);
		close(fd);
		return;
	}
	if ((sc->sc_ws = ws_accept(ls_worker->w_base, fd, &server_ws_cb,
	    sc)) == NULL) {
		log_warnx("%s: cannot serve connection", __func__);
		free(sc);
		return;
	}
}

static void
server_conn_free(struct server_conn *sc)
{
	if (sc->sc_timer != NULL)
		event_free(sc->sc_timer);
	free(sc);
}

/* Spec 2.1 routes. */
static int
server_ws_request(struct ws_conn *ws, const struct http_head *h, void *arg)
{
	struct server_conn	*sc = arg;
	const char		*path = h->hh_path;
	const char		*feat;

	if (strcmp(path, "/socket") == 0 || strncmp(path, "/socket/", 8) == 0) {
		if (http_query_get(h->hh_query, "token", sc->sc_token_hash,
		    sizeof(sc->sc_token_hash)) && sc->sc_token_hash[0] != '\0')
			sc->sc_query_auth = 1;
		sc->sc_has_reverse = http_query_get(h->hh_query, "reverse",
		    sc->sc_reverse, sizeof(sc->sc_reverse)) &&
		    sc->sc_reverse[0] != '\0';
		if ((feat = http_header(h, LS_FEATURE_HEADER)) != NULL &&
		    strstr(feat, "halfclose") != NULL) {
			sc->sc_features = 1;
			ws_add_response_header(ws, LS_FEATURE_HEADER ": "
			    LS_FEATURES "\r\n");
		}
		return (1);
	}
	if (strcmp(path, "/") == 0) {
		ws_http_reply(ws, 200, NULL, "LinkSocks " LS_REF_VERSION
		    " is running but API is not enabled.\n", NULL);
		return (0);
	}
	ws_http_reply(ws, 404, NULL, "404 page not found\n", NULL);
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
	struct timeval		 tv = { SERVER_AUTH_TIMEOUT, 0 };
	int			 ok;

	if ((sc->sc_tun = tunnel_new(ws, 0, &server_tunnel_ops, sc)) == NULL) {
		log_warnx("%s: out of memory", __func__);
		ws_free(ws);
		server_conn_free(sc);
		return;
	}
	sc->sc_tun->t_halfclose = sc->sc_features;
	tunnel_set_state(sc->sc_tun, TUN_AUTH);
	if (sc->sc_query_auth) {
		/* Spec 6.2: URL-query authentication, answered at once. */
		if (strlen(sc->sc_token_hash) != 64) {
			server_auth_result(sc, 0, "invalid token format");
			return;
		}
		ok = util_ct_streq(sc->sc_token_hash, server_token_hash);
		if (ok && sc->sc_has_reverse &&
		    (strcmp(sc->sc_reverse, "true") == 0 ||
		    strcmp(sc->sc_reverse, "1") == 0))
			ok = 0;		/* a forward token asked for reverse */
		server_auth_result(sc, ok, "invalid token");
		return;
	}
	sc->sc_timer = evtimer_new(ls_worker->w_base, server_auth_timeout, sc);
	if (sc->sc_timer != NULL)
		evtimer_add(sc->sc_timer, &tv);
}

static void
server_auth_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct server_conn	*sc = arg;

	log_info("tunnel %s: no Auth message within %d s", sc->sc_tun->t_name,
	    SERVER_AUTH_TIMEOUT);
	tunnel_close(sc->sc_tun, "authentication timeout");
}

static void
server_auth_result(struct server_conn *sc, int ok, const char *err)
{
	struct tunnel	*t = sc->sc_tun;

	if (sc->sc_timer != NULL)
		evtimer_del(sc->sc_timer);
	if (msg_put_auth_response(t->t_out, ok, ok ? NULL : err) == 0)
		tunnel_flush_msg(t);
	if (!ok) {
		log_info("tunnel %s: authentication failed: %s", t->t_name,
		    err);
		tunnel_close(t, "authentication failed");
		return;
	}
	t->t_kind = TUNK_FORWARD;
	tunnel_set_state(t, TUN_OPEN);
	tunnel_start_keepalive(t);
	log_info("tunnel %s: forward client authenticated%s", t->t_name,
	    t->t_halfclose ? " (half-close)" : "");
}

/* Spec 6.3: the first message must be an Auth. */
static void
server_auth(struct tunnel *t, struct msg *m, const char *err)
{
	struct server_conn	*sc = t->t_arg;
	char			 buf[300];
	int			 ok;

	if (m == NULL) {
		snprintf(buf, sizeof(buf), "invalid auth message: %s", err);
		server_auth_result(sc, 0, buf);
		return;
	}
	if (m->m_type != MSG_AUTH) {
		server_auth_result(sc, 0, "invalid auth message");
		return;
	}
	ok = !m->m_reverse && m->m_token.len == strlen(ls_conf->c_token) &&
	    CRYPTO_memcmp(m->m_token.p, ls_conf->c_token,
	    m->m_token.len) == 0;
	server_auth_result(sc, ok, "invalid token");
}

static void
server_message(struct tunnel *t, struct msg *m)
{
	switch (m->m_type) {
	case MSG_CONNECT:
		if (t->t_kind != TUNK_FORWARD) {
			log_info("tunnel %s: Connect from a non-forward client, "
			    "refused", t->t_name);
			if (msg_put_connect_response(t->t_out, 0, m->m_id,
			    "forward proxying not allowed for this token") == 0)
				tunnel_flush_msg(t);
			return;
		}
		channel_dial(t, m);
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

	if (t->t_kind == TUNK_FORWARD)
		log_info("tunnel %s: closed: %s", t->t_name, why);
	server_conn_free(sc);
}
