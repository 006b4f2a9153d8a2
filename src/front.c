/*
 * front.c -- the SOCKS5 front end of a worker: accepted application
 * connections, negotiated with the pure parser in socks5.c, then handed
 * to a channel on a tunnel the role picks (front_ops): a TCP channel of
 * this file's kind, or a UDP association (udp.c).  Requests that find no
 * tunnel wait up to LS_WAIT_TUNNEL seconds for one.
 *
 * Every SOCKS5 reply after the request goes through front_reply().  The
 * application is owed its reply from the Connect until the far side
 * answers (CH_REPLY_OWED); with fast open it gets success at once and
 * its bytes follow the Connect, so a failure can only close it.
 *
 * A CONNECT to a literal address the access rules refuse (access.c) is
 * answered 05 02 here, before any tunnel is involved; a name is refused
 * here only when no rule allows its port, else the dial side decides.
 *
 * The same port is an HTTP proxy: a first byte that is an upper-case
 * letter starts an HTTP request head (httpproxy.c) instead of a SOCKS5
 * greeting.  A parsed CONNECT or absolute-form request becomes the same
 * TCP channel as a SOCKS5 CONNECT (CHF_HTTP), and front_reply() speaks
 * HTTP for it: 200 Connection Established for a CONNECT (nothing for an
 * absolute-form request, whose rewritten head goes first on the channel
 * and whose answer is the origin's), 403, 502 or 504 for a failure.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "linksocks.h"

#define FRONT_HANDSHAKE_TIMEOUT	30	/* seconds for greeting + request */
/* ih_cmd of a handed-off HTTP request (beside the SOCKS5 commands). */
#define FRONT_CMD_HTTP_CONNECT	0xf1
#define FRONT_CMD_HTTP_FORWARD	0xf2

static TAILQ_HEAD(, channel) front_waiters =
    TAILQ_HEAD_INITIALIZER(front_waiters);
static unsigned			 front_nwaiting;
/* What any local application can repeat at will: one line a second. */
static struct log_rl		 front_rl = LOG_RL_INIT(1.0);
static const struct front_ops	*front_role;
/*
 * Sessions from the accept until their request is parsed.  Each holds
 * at most the 2 KiB read mark of front_new, so only their number is
 * capped; the handshake timer bounds how long.
 */
static struct preauth_pool	 front_preauth = PREAUTH_POOL_INITIALIZER(
    front_preauth, "SOCKS5 sessions negotiating", LS_SOCKS_PREAUTH_MAX, 0);

static struct channel *front_new(evutil_socket_t, struct group *);
static void	front_read(struct bufferevent *, void *);
static void	front_http_read(struct channel *);
static void	front_http_reply(struct channel *, uint8_t, const char *);
static void	front_event(struct bufferevent *, short, void *);
static void	front_request(struct channel *);
static int	front_allowed(struct channel *);
static int	front_counted(struct channel *);
static void	front_fail(struct channel *, uint8_t, const char *);
static void	front_handoff(struct channel *, int);
static void	front_start(struct channel *, struct tunnel *);
static void	front_unwait(struct channel *);
static void	front_connect(struct channel *, struct tunnel *);
static int	front_fastopen_holds(const struct tunnel *);
static void	front_http_failed(struct channel *, const char *);
static void	front_connect_response(struct channel *, const struct msg *,
		    struct evbuffer *);
static void	front_disconnect(struct channel *, const struct msg *,
		    struct evbuffer *);
static void	front_gone(struct channel *, const char *);
static void	front_timeout(struct channel *);
static void	front_close(struct channel *, const char *);
static void	front_free(struct channel *);
static void	front_preauth_drop(struct preauth *, void *);

static const struct channel_ops front_ops = {
	.co_kind = CHK_SOCKS,
	.co_name = "socks",
	.co_data = channel_data,
	.co_connect_response = front_connect_response,
	.co_disconnect = front_disconnect,
	.co_window = channel_window,
	.co_drained = channel_drained,
	.co_gone = front_gone,
	.co_timeout = front_timeout,
	.co_close = front_close,
	.co_free = front_free,
	.co_eof_reason = NULL,
};

void
front_init(const struct front_ops *fo)
{
	front_role = fo;
	front_preauth.pp_stat = ST_PREAUTH_SOCKS;
	if (ls_conf->c_max_negotiating > 0)
		front_preauth.pp_max = (unsigned)ls_conf->c_max_negotiating;
}

unsigned
front_waiting(void)
{
	return (front_nwaiting);
}

static void
front_unwait(struct channel *ch)
{
	if (!(ch->ch_flags & CHF_WAITING))
		return;
	TAILQ_REMOVE(&front_waiters, ch, ch_waiting);
	ch->ch_flags &= ~CHF_WAITING;
	front_nwaiting--;
}

void
front_reply(struct channel *ch, uint8_t rep, const struct sockaddr *sa)
{
	if (ch->ch_bev == NULL)
		return;
	if (ch->ch_flags & CHF_HTTP)
		front_http_reply(ch, rep, NULL);
	else
		socks5_reply(bufferevent_get_output(ch->ch_bev), rep, sa);
	channel_kick(ch);
}

/*
 * The HTTP form of a SOCKS5 reply code: 200 for a CONNECT (an absolute-
 * form request gets the origin's answer), 403 for the access rules, 504
 * for a connect that timed out (S5_REP_TTL, used only here), 502 else.
 */
static void
front_http_reply(struct channel *ch, uint8_t rep, const char *why)
{
	struct evbuffer	*out = bufferevent_get_output(ch->ch_bev);

	switch (rep) {
	case S5_REP_OK:
		if (!(ch->ch_flags & CHF_HTTP_FWD))
			httpproxy_reply(out, 200, NULL);
		break;
	case S5_REP_NOTALLOWED:
		httpproxy_reply(out, 403, "destination not allowed");
		break;
	case S5_REP_TTL:
		httpproxy_reply(out, 504, why != NULL ? why :
		    "connect to the destination timed out");
		break;
	case S5_REP_NETUNREACH:
		httpproxy_reply(out, 502, why != NULL ? why :
		    "no tunnel to the destination");
		break;
	default:
		httpproxy_reply(out, 502, why != NULL ? why :
		    "cannot connect to the destination");
		break;
	}
	channel_kick(ch);
}

static struct channel *
front_new(evutil_socket_t fd, struct group *g)
{
	struct channel	*ch;
	const char	*user, *pass;
	char		*copy;
	size_t		 ulen, plen;

	if ((ch = channel_alloc(&front_ops, CH_SOCKS)) == NULL) {
		close(fd);
		return (NULL);
	}
	ch->ch_group = g;
	/*
	 * A server's reverse port asks for its token's credentials, copied
	 * after the SOCKS5 state: the token may go (API) while we negotiate.
	 */
	user = ls_conf->c_socks_user;
	pass = ls_conf->c_socks_pass;
	if (ls_conf->c_role == ROLE_SERVER) {
		user = g != NULL && g->g_token != NULL ? g->g_token->tk_user :
		    NULL;
		pass = g != NULL && g->g_token != NULL ? g->g_token->tk_pass :
		    NULL;
	}
	ulen = user != NULL ? strlen(user) + 1 : 0;
	plen = pass != NULL ? strlen(pass) + 1 : 0;
	if ((ch->ch_s5 = malloc(sizeof(*ch->ch_s5) + ulen + plen)) == NULL ||
	    (ch->ch_bev = bufferevent_socket_new(ls_worker->w_base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		log_warnx("%s: out of memory", __func__);
		close(fd);
		channel_close(ch, "out of memory", 0);
		return (NULL);
	}
	copy = (char *)(ch->ch_s5 + 1);
	if (user != NULL)
		memcpy(copy, user, ulen);
	if (pass != NULL)
		memcpy(copy + ulen, pass, plen);
	socks5_init(ch->ch_s5, user != NULL ? copy : NULL,
	    pass != NULL ? copy + ulen : NULL);
	bufferevent_setcb(ch->ch_bev, front_read, NULL, front_event, ch);
	/* A new bufferevent has EV_WRITE on: off until a reply is left. */
	bufferevent_disable(ch->ch_bev, EV_WRITE);
	/*
	 * Small reads while negotiating: what follows the request (early
	 * data) must fit a hand-off message to another worker.
	 */
	bufferevent_set_max_single_read(ch->ch_bev, 1024);
	bufferevent_setwatermark(ch->ch_bev, EV_READ, 0, 2048);
	return (ch);
}

/* A SOCKS request parsed by another worker, with its socket. */
void
front_adopt(int fd, const struct ipc_handoff *h, const uint8_t *data,
    struct group *g)
{
	struct channel	*ch;
	struct evbuffer	*in;
	int		 rc;

	if ((ch = front_new(fd, g)) == NULL)
		return;
	channel_set_peer(ch, h->ih_peer);
	ch->ch_flags |= CHF_ADOPTED;
	ch->ch_s5->s5_state = S5_DONE;
	ch->ch_s5->s5_cmd = h->ih_cmd;
	if (h->ih_cmd == FRONT_CMD_HTTP_CONNECT ||
	    h->ih_cmd == FRONT_CMD_HTTP_FORWARD) {
		ch->ch_flags |= CHF_HTTP;
		if (h->ih_cmd == FRONT_CMD_HTTP_FORWARD)
			ch->ch_flags |= CHF_HTTP_FWD;
		ch->ch_s5->s5_cmd = S5_CMD_CONNECT;
	}
	ch->ch_s5->s5_port = h->ih_port;
	snprintf(ch->ch_s5->s5_host, sizeof(ch->ch_s5->s5_host), "%s",
	    h->ih_host);
	if (h->ih_datalen > 0) {
		/* A socket bufferevent freezes its input's end: thaw to add. */
		in = bufferevent_get_input(ch->ch_bev);
		evbuffer_unfreeze(in, 0);
		rc = evbuffer_add(in, data, h->ih_datalen);
		evbuffer_freeze(in, 0);
		if (rc == -1) {
			channel_close(ch, "out of memory", 0);
			return;
		}
	}
	log_debug("socks %s: adopted %s:%u from another worker", ch->ch_peer,
	    log_strz(h->ih_host), h->ih_port);
	front_request(ch);
}

void
front_accept(evutil_socket_t fd, const struct sockaddr *sa, int salen,
    struct group *g)
{
	struct channel	*ch;
	char		 peer[64];

	if (ls_worker->w_draining) {
		close(fd);
		return;
	}
	util_set_nodelay(fd);
	if ((ch = front_new(fd, g)) == NULL)
		return;
	util_sockaddr_str(sa, peer, sizeof(peer));
	channel_set_peer(ch, peer);
	preauth_add(&front_preauth, &ch->ch_preauth, front_preauth_drop, ch);
	/* EV_WRITE waits for what a reply leaves behind (channel_kick). */
	bufferevent_enable(ch->ch_bev, EV_READ);
	channel_timer(ch, FRONT_HANDSHAKE_TIMEOUT);
	log_trace("socks %s: accepted", ch->ch_peer);
}

/* The oldest session still negotiating makes room for a new one. */
static void
front_preauth_drop(struct preauth *pa, void *arg)
{
	struct channel	*ch = arg;

	log_debug("socks %s: dropped, too many sessions negotiating",
	    ch->ch_peer);
	channel_close(ch, "too many SOCKS5 sessions negotiating", 0);
}

static void
front_fail(struct channel *ch, uint8_t rep, const char *why)
{
	if ((ch->ch_flags & CHF_HTTP) && ch->ch_bev != NULL)
		front_http_reply(ch, rep, why);
	else
		front_reply(ch, rep, NULL);
	log_ratelimit(&front_rl, LL_INFO, "socks %s: %s", ch->ch_peer, why);
	channel_close(ch, why, 1);
}

static void
front_read(struct bufferevent *bev, void *arg)
{
	struct channel	*ch = arg;
	uint8_t		 c;
	int		 r;

	/* The first byte decides: 0x05 SOCKS5, a method letter HTTP. */
	if (!(ch->ch_flags & CHF_HTTP) && ch->ch_s5->s5_state == S5_GREETING &&
	    evbuffer_copyout(bufferevent_get_input(bev), &c, 1) == 1 &&
	    c >= 'A' && c <= 'Z') {
		ch->ch_flags |= CHF_HTTP;
		/* Room for a whole head, and a little of what follows. */
		bufferevent_setwatermark(bev, EV_READ, 0,
		    HTTPPROXY_HEAD_MAX + 1024);
	}
	if (ch->ch_flags & CHF_HTTP) {
		front_http_read(ch);
		return;
	}
	r = socks5_input(ch->ch_s5, bufferevent_get_input(bev),
	    bufferevent_get_output(bev));
	channel_kick(ch);	/* the method or authentication reply */
	switch (r) {
	case S5_FAILED:
		log_ratelimit(&front_rl, LL_INFO, "socks %s: %s", ch->ch_peer,
		    ch->ch_s5->s5_error ? ch->ch_s5->s5_error :
		    "negotiation failed");
		channel_close(ch, "SOCKS5 negotiation failed", 1);
		return;
	case S5_DONE:
		front_request(ch);
		return;
	default:
		return;
	}
}

/*
 * An HTTP proxy request head: refused with its status, or made into the
 * request of a SOCKS5 CONNECT.  An absolute-form request's rewritten head
 * goes in front of what the application sent after it, so the channel
 * sends it first; nothing the application sent is lost.
 */
static void
front_http_read(struct channel *ch)
{
	struct httpproxy_req	 hr;
	struct evbuffer		*in = bufferevent_get_input(ch->ch_bev);
	struct evbuffer		*fwd;
	int			 r;

	if ((fwd = evbuffer_new()) == NULL) {
		channel_close(ch, "out of memory", 0);
		return;
	}
	r = httpproxy_parse(in, &hr, ch->ch_s5->s5_user, ch->ch_s5->s5_pass,
	    fwd);
	if (r == 0) {
		evbuffer_free(fwd);
		return;
	}
	if (r == -1) {
		evbuffer_free(fwd);
		STAT_INC(ST_HTTPPROXY_REFUSED);
		log_ratelimit(&front_rl, LL_INFO, "http %s: %d: %s",
		    ch->ch_peer, hr.hr_status, hr.hr_error);
		httpproxy_reply(bufferevent_get_output(ch->ch_bev),
		    hr.hr_status, hr.hr_error);
		bufferevent_disable(ch->ch_bev, EV_READ);
		channel_close(ch, hr.hr_error, 1);
		return;
	}
	if (hr.hr_kind == HTTPPROXY_FORWARD) {
		STAT_INC(ST_HTTPPROXY_FORWARD);
		ch->ch_flags |= CHF_HTTP_FWD;
		if (evbuffer_prepend_buffer(in, fwd) == -1) {
			evbuffer_free(fwd);
			channel_close(ch, "out of memory", 0);
			return;
		}
	} else
		STAT_INC(ST_HTTPPROXY_CONNECT);
	evbuffer_free(fwd);
	log_debug("http %s: %s %s:%u", ch->ch_peer, hr.hr_method,
	    log_strz(hr.hr_host), hr.hr_port);
	snprintf(ch->ch_s5->s5_host, sizeof(ch->ch_s5->s5_host), "%s",
	    hr.hr_host);
	ch->ch_s5->s5_port = hr.hr_port;
	ch->ch_s5->s5_cmd = S5_CMD_CONNECT;
	ch->ch_s5->s5_state = S5_DONE;
	front_request(ch);
}

/*
 * The provider chosen lives in another worker: the socket and the parsed
 * request move there (through the master), bytes never cross processes.
 */
static void
front_handoff(struct channel *ch, int worker)
{
	uint8_t			 buf[IPC_MAX_PAYLOAD];
	struct ipc_handoff	*h = (struct ipc_handoff *)buf;
	struct evbuffer		*in = bufferevent_get_input(ch->ch_bev);
	size_t			 n = evbuffer_get_length(in);
	struct evbuffer		*out = bufferevent_get_output(ch->ch_bev);
	size_t			 olen = evbuffer_get_length(out);
	int			 fd;
	uint8_t			*op;
	ssize_t			 w;

	/*
	 * Replies we owe (greeting, auth: a few bytes, so the socket buffer
	 * takes them at once) must reach the app before the socket moves.
	 */
	if (olen > 0) {
		op = evbuffer_pullup(out, -1);
		w = send(bufferevent_getfd(ch->ch_bev), op, olen,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w != (ssize_t)olen) {
			log_warn("socks %s: hand-off: send", ch->ch_peer);
			channel_close(ch, "cannot hand off the connection", 0);
			return;
		}
		/*
		 * Sent: gone from the output, or a failure reply below would
		 * follow a second copy.  A socket bufferevent freezes its
		 * output's front: thaw to drain.
		 */
		evbuffer_unfreeze(out, 1);
		evbuffer_drain(out, olen);
		evbuffer_freeze(out, 1);
	}
	if (n > IPC_HANDOFF_MAXDATA) {
		log_warnx("socks %s: hand-off: %zu bytes of early data",
		    ch->ch_peer, n);
		front_fail(ch, S5_REP_FAIL, "cannot hand off the connection");
		return;
	}
	if ((fd = dup(bufferevent_getfd(ch->ch_bev))) == -1) {
		log_warn("socks %s: hand-off: dup", ch->ch_peer);
		front_fail(ch, S5_REP_FAIL, "cannot hand off the connection");
		return;
	}
	memset(h, 0, sizeof(*h));
	h->ih_worker = (uint32_t)worker;
	h->ih_port = ch->ch_port;
	h->ih_cmd = ch->ch_s5->s5_cmd;
	if (ch->ch_flags & CHF_HTTP)
		h->ih_cmd = (ch->ch_flags & CHF_HTTP_FWD) ?
		    FRONT_CMD_HTTP_FORWARD : FRONT_CMD_HTTP_CONNECT;
	h->ih_datalen = (uint32_t)n;
	snprintf(h->ih_key, sizeof(h->ih_key), "%s", ch->ch_group->g_key);
	snprintf(h->ih_host, sizeof(h->ih_host), "%s", ch->ch_host);
	snprintf(h->ih_peer, sizeof(h->ih_peer), "%s", ch->ch_peer);
	evbuffer_copyout(in, buf + sizeof(*h), n);
	log_debug("socks %s: %s:%u handed to worker %d", ch->ch_peer,
	    log_strz(ch->ch_host), ch->ch_port, worker);
	if (ipc_send(ls_worker->w_ipc, IPC_HANDOFF, buf, sizeof(*h) + n,
	    fd) == -1) {
		front_fail(ch, S5_REP_FAIL, "cannot hand off the connection");
		return;
	}
	channel_close(ch, "handed off", 0);
}

/* The request has a tunnel: a TCP channel or a UDP association. */
static void
front_start(struct channel *ch, struct tunnel *t)
{
	int	udp = ch->ch_s5->s5_cmd == S5_CMD_UDP;

	/* Negotiated: what the channel needs is in ch_host and ch_port. */
	free(ch->ch_s5);
	ch->ch_s5 = NULL;
	if (!udp)
		front_connect(ch, t);
	else if (front_role->fo_udp != NULL)
		front_role->fo_udp(ch, t);
	else
		front_fail(ch, S5_REP_CMD, "UDP ASSOCIATE not supported here");
}

/* A CONNECT the rules refuse: 05 02 now (one log line, rate-limited). */
static int
front_allowed(struct channel *ch)
{
	const char	*why;

	if (ch->ch_s5->s5_cmd == S5_CMD_UDP ||
	    access_check_host(ACCESS_ENTRY, ch->ch_host, ch->ch_port,
	    ch->ch_group != NULL && ch->ch_group->g_token != NULL ?
	    &ch->ch_group->g_token->tk_rules : NULL, &why) == RV_ALLOW)
		return (1);
	STAT_INC(ST_ACCESS_ENTRY);
	STAT_INC(ST_CONNECT_DENIED);
	access_refused("socks %s: destination %s:%u not allowed: %s",
	    ch->ch_peer, log_str((const uint8_t *)ch->ch_host,
	    strlen(ch->ch_host)), ch->ch_port, why);
	front_reply(ch, S5_REP_NOTALLOWED, NULL);
	channel_close(ch, "destination not allowed", 1);
	return (0);
}

/*
 * A server's reverse port: the request (CONNECT or UDP ASSOCIATE) counts
 * against its token's channel cap, and the application's socket joins
 * the token's rate group.  At the cap: 05 01, one log line.
 */
static int
front_counted(struct channel *ch)
{
	struct token	*tk;

	if (ls_conf->c_role != ROLE_SERVER || ch->ch_group == NULL ||
	    (tk = ch->ch_group->g_token) == NULL)
		return (1);
	if (limits_channel_take(ch, limits_use(tk)) == -1) {
		STAT_INC(ST_CONNECT_LIMIT);
		front_fail(ch, S5_REP_FAIL, LIMITS_CHANNEL_TEXT);
		return (0);
	}
	limits_channel_rate(ch);
	return (1);
}

static void
front_request(struct channel *ch)
{
	struct tunnel	*t;
	int		 worker;

	if (channel_set_host(ch, ch->ch_s5->s5_host,
	    strlen(ch->ch_s5->s5_host)) == -1) {
		front_fail(ch, S5_REP_FAIL, "out of memory");
		return;
	}
	ch->ch_port = ch->ch_s5->s5_port;
	preauth_remove(&ch->ch_preauth);	/* negotiated */
	if (!front_allowed(ch) || !front_counted(ch))
		return;
	/* Stop reading: early data stays queued until the channel runs. */
	bufferevent_disable(ch->ch_bev, EV_READ);
	channel_timer(ch, 0);
	if ((t = front_role->fo_pick(ch->ch_group,
	    (ch->ch_flags & CHF_ADOPTED) != 0, &worker)) != NULL) {
		front_start(ch, t);
		return;
	}
	if (worker >= 0) {
		front_handoff(ch, worker);
		return;
	}
	log_debug("socks %s: %s:%u waits for a tunnel", ch->ch_peer,
	    log_strz(ch->ch_host), ch->ch_port);
	channel_set_state(ch, CH_WAIT_TUNNEL);
	TAILQ_INSERT_TAIL(&front_waiters, ch, ch_waiting);
	ch->ch_flags |= CHF_WAITING;
	front_nwaiting++;
	channel_timer(ch, LS_WAIT_TUNNEL);
}

/* A tunnel came up: start every waiting request that can go. */
void
front_tunnel_available(void)
{
	struct channel	*ch, *next;
	struct tunnel	*t;
	int		 worker;

	for (ch = TAILQ_FIRST(&front_waiters); ch != NULL; ch = next) {
		next = TAILQ_NEXT(ch, ch_waiting);
		t = front_role->fo_pick(ch->ch_group,
		    (ch->ch_flags & CHF_ADOPTED) != 0, &worker);
		if (t == NULL && worker < 0)
			continue;
		front_unwait(ch);
		channel_timer(ch, 0);
		if (t != NULL)
			front_start(ch, t);
		else
			front_handoff(ch, worker);
	}
}

static void
front_event(struct bufferevent *bev, short what, void *arg)
{
	struct channel	*ch = arg;

	if (ch->ch_state == CH_WAIT_TUNNEL && (what & BEV_EVENT_EOF) &&
	    (what & BEV_EVENT_READING) && ch->ch_s5->s5_cmd != S5_CMD_UDP) {
		/* The app half-closed after its request: keep waiting. */
		return;
	}
	log_trace("socks %s: closed during negotiation", ch->ch_peer);
	channel_close(ch, "client closed", 0);
}

/* ---- the SOCKS side of a TCP channel ---------------------------------- */

/*
 * A reference server relays a connector's channel in a background task
 * and drops Data that comes before it is done (spec P-6).  A connector
 * whose server did not offer our extensions still answers at once with
 * fast open, but holds the application's bytes until the connect is
 * confirmed, so none is lost.
 */
static int
front_fastopen_holds(const struct tunnel *t)
{
	return (ls_conf->c_role == ROLE_CONNECTOR &&
	    !t->t_halfclose && !t->t_credit);
}

/* Send Connect on t; fast open answers the application at once. */
static void
front_connect(struct channel *ch, struct tunnel *t)
{
	if (tunnel_full(t)) {
		tunnel_count_connect(t, ST_CONNECT_LIMIT);
		front_fail(ch, S5_REP_FAIL, "too many channels on the tunnel");
		return;
	}
	if (channel_attach(ch, t) == -1) {
		front_fail(ch, S5_REP_FAIL, "cannot register channel");
		return;
	}
	log_debug("channel %s open %s:%u via %s%s", log_id(ch->ch_id),
	    log_strz(ch->ch_host), ch->ch_port, t->t_name,
	    ls_conf->c_fastopen ? " (fast open)" : "");
	channel_set_state(ch, ls_conf->c_fastopen ? CH_CONNECTING :
	    CH_REPLY_OWED);
	if (msg_put_connect(t->t_out, PROTO_TCP, ch->ch_id, ch->ch_host,
	    ch->ch_port) == -1 || tunnel_flush_msg(t) == -1) {
		ch->ch_flags |= CHF_DISC_SENT;
		front_fail(ch, S5_REP_HOSTUNREACH, "cannot send Connect");
		return;
	}
	channel_guard(ch);
	if (ls_conf->c_fastopen) {
		/* Success first; the app's bytes follow the Connect in order. */
		ch->ch_flags |= CHF_FASTOPEN;
		STAT_INC(ST_FASTOPEN_ANSWERED);
		TSTAT_ADD(t->t_stats, TS_FASTOPEN, 1);
		t->t_fastopen++;
		front_reply(ch, S5_REP_OK, NULL);
		if (!front_fastopen_holds(t)) {
			channel_start_relay(ch);
			return;
		}
		/* ... but they wait for the connect: see above. */
		ch->ch_flags |= CHF_FOHOLD;
	}
	channel_hold(ch);
}

static void
front_connect_response(struct channel *ch, const struct msg *m,
    struct evbuffer *frame)
{
	char		 ebuf[256];
	const char	*err;

	if (ch->ch_flags & CHF_CONFIRMED)
		return;
	if (!m->m_success) {
		err = channel_msg_error(m, ebuf, sizeof(ebuf));
		log_info("channel %s %s:%u: remote connect failed: %s",
		    log_id(ch->ch_id), log_strz(ch->ch_host), ch->ch_port, err);
		tunnel_count_connect(ch->ch_tun, ST_CONNECT_REMOTE);
		if (ch->ch_flags & CHF_FASTOPEN)
			STAT_INC(ST_FASTOPEN_FAILED);
		ch->ch_flags |= CHF_DISC_SENT;	/* dial side forgot it */
		if (ch->ch_flags & CHF_HTTP) {
			front_http_failed(ch, err);
			return;
		}
		if (ch->ch_state != CH_REPLY_OWED) {
			/* The app already has success: closing is all we can do. */
			channel_close(ch, "fast open: remote connect failed", 0);
			return;
		}
		/* The far side's access rules (dial.c) or its caps said no. */
		front_reply(ch, strcmp(err, "destination not allowed") == 0 ?
		    S5_REP_NOTALLOWED : strcmp(err, "too many channels") == 0 ||
		    strcmp(err, LIMITS_CHANNEL_TEXT) == 0 ?
		    S5_REP_FAIL : S5_REP_HOSTUNREACH, NULL);
		channel_close(ch, "remote connect failed", 1);
		return;
	}
	ch->ch_flags |= CHF_CONFIRMED;
	tunnel_count_connect(ch->ch_tun, ST_CONNECT_OK);
	if (ch->ch_flags & CHF_FASTOPEN)
		STAT_INC(ST_FASTOPEN_CONFIRMED);
	channel_rearm(ch);
	if (ch->ch_flags & CHF_FOHOLD) {
		/* Answered already; now the held bytes may go. */
		ch->ch_flags &= ~CHF_FOHOLD;
		channel_start_relay(ch);
		return;
	}
	if (ch->ch_state != CH_REPLY_OWED)
		return;
	front_reply(ch, S5_REP_OK, NULL);
	channel_start_relay(ch);
}

/*
 * An HTTP request's connect failed.  Nothing came from the destination
 * yet, so an absolute-form request, or a CONNECT still owed its 200, gets
 * a status: 403 (rules), 504 (timed out) or 502, with the reason.
 */
static void
front_http_failed(struct channel *ch, const char *err)
{
	uint8_t	 rep;

	if (ch->ch_state != CH_REPLY_OWED && !(ch->ch_flags & CHF_HTTP_FWD)) {
		channel_close(ch, "fast open: remote connect failed", 0);
		return;
	}
	if (strcmp(err, "destination not allowed") == 0)
		rep = S5_REP_NOTALLOWED;
	else if (strstr(err, "timeout") != NULL ||
	    strstr(err, "timed out") != NULL)
		rep = S5_REP_TTL;
	else
		rep = S5_REP_HOSTUNREACH;
	front_http_reply(ch, rep, rep == S5_REP_NOTALLOWED ? NULL : err);
	channel_close(ch, "remote connect failed", 1);
}

static void
front_disconnect(struct channel *ch, const struct msg *m,
    struct evbuffer *frame)
{
	if (ch->ch_state == CH_REPLY_OWED) {
		/* The dial side gave up before answering. */
		log_debug("channel %s: Disconnect before ConnectResponse",
		    log_id(ch->ch_id));
		tunnel_count_connect(ch->ch_tun, ST_CONNECT_REMOTE);
		ch->ch_flags |= CHF_DISC_SENT;
		front_reply(ch, S5_REP_HOSTUNREACH, NULL);
		channel_close(ch, "remote gave up", 1);
		return;
	}
	channel_disconnect(ch, m, frame);
}

static void
front_gone(struct channel *ch, const char *why)
{
	if (ch->ch_state == CH_REPLY_OWED) {
		tunnel_count_connect(ch->ch_tun, ST_CONNECT_NO_TUNNEL);
		front_reply(ch, S5_REP_NETUNREACH, NULL);
	} else if ((ch->ch_flags & CHF_FASTOPEN) &&
	    !(ch->ch_flags & CHF_CONFIRMED)) {
		tunnel_count_connect(ch->ch_tun, ST_CONNECT_NO_TUNNEL);
		STAT_INC(ST_FASTOPEN_FAILED);
	}
	channel_gone(ch, why);
}

static void
front_timeout(struct channel *ch)
{
	switch (ch->ch_state) {
	case CH_SOCKS:
		log_ratelimit(&front_rl, LL_INFO, "%s %s: handshake timeout",
		    (ch->ch_flags & CHF_HTTP) ? "http" : "socks", ch->ch_peer);
		if (ch->ch_flags & CHF_HTTP) {
			STAT_INC(ST_HTTPPROXY_REFUSED);
			httpproxy_reply(bufferevent_get_output(ch->ch_bev), 408,
			    "request head timeout");
			bufferevent_disable(ch->ch_bev, EV_READ);
			channel_close(ch, "HTTP request head timeout", 1);
			break;
		}
		channel_close(ch, "SOCKS5 handshake timeout", 0);
		break;
	case CH_WAIT_TUNNEL:
		front_unwait(ch);
		STAT_INC(ch->ch_s5->s5_cmd == S5_CMD_UDP ? ST_UDP_NO_TUNNEL :
		    ST_CONNECT_NO_TUNNEL);
		front_fail(ch, S5_REP_NETUNREACH, "no tunnel available within "
		    "10 s");
		break;
	case CH_REPLY_OWED:
		/* No ConnectResponse in time (P-8: tell the far side). */
		tunnel_count_connect(ch->ch_tun, ST_CONNECT_TIMEOUT);
		front_reply(ch, (ch->ch_flags & CHF_HTTP) ? S5_REP_TTL :
		    S5_REP_HOSTUNREACH, NULL);
		channel_close(ch, "connect response timeout", 1);
		break;
	case CH_CONNECTING:
		tunnel_count_connect(ch->ch_tun, ST_CONNECT_TIMEOUT);
		STAT_INC(ST_FASTOPEN_FAILED);
		if (ch->ch_flags & CHF_HTTP_FWD)
			front_reply(ch, S5_REP_TTL, NULL);
		channel_close(ch, "connect response timeout", 1);
		break;
	case CH_RELAY:
		if ((ch->ch_flags & CHF_FASTOPEN) &&
		    !(ch->ch_flags & CHF_CONFIRMED)) {
			tunnel_count_connect(ch->ch_tun, ST_CONNECT_TIMEOUT);
			STAT_INC(ST_FASTOPEN_FAILED);
		}
		channel_relay_timeout(ch);
		break;
	default:
		break;
	}
}

static void
front_close(struct channel *ch, const char *why)
{
	preauth_remove(&ch->ch_preauth);
	front_unwait(ch);
	channel_close_notify(ch, why);
}

static void
front_free(struct channel *ch)
{
	preauth_remove(&ch->ch_preauth);
	free(ch->ch_s5);
	ch->ch_s5 = NULL;
}
