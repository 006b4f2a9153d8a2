/*
 * dial.c -- the dial side of a TCP channel (a forward server, a
 * provider): a Connect arrived, the target is resolved with evdns and
 * each address tried in turn, and ConnectResponse tells the far side how
 * it went.  Only the resolved addresses that pass the access policy
 * (access.c) are kept, so the address checked is the address dialled;
 * a target with none left is refused ("destination not allowed").
 * Early data (fast open) waits in the socket's output until
 * the connect completes, and a half-close that arrives meanwhile is kept
 * for after it.  Once connected the channel relays through channel.c.
 *
 * With -x/--upstream-proxy (ls_conf->c_upx) the target is asked of the
 * proxy instead (proxy.c), by name; the policy still applies to the
 * target (dial_proxy_allowed), never to the proxy.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>

#include "linksocks.h"

static void	dial_event(struct bufferevent *, short, void *);
static void	dial_next(struct channel *);
static void	dial_resolved(int, struct evutil_addrinfo *, void *);
static struct evutil_addrinfo *dial_filter(struct channel *,
		    struct evutil_addrinfo *);
static void	dial_fail(struct channel *, enum stat_id, const char *);
static enum stat_id dial_reason(int);
static void	dial_disconnect(struct channel *, const struct msg *,
		    struct evbuffer *);
static void	dial_timeout(struct channel *);
static void	dial_close(struct channel *, const char *);
static void	dial_free(struct channel *);
static void	dial_proxy(struct channel *);
static int	dial_take_early(struct channel *, struct bufferevent *);
static void	dial_proxied(const struct proxy_result *, void *);

static const struct channel_ops dial_ops = {
	.co_kind = CHK_DIAL,
	.co_name = "dial",
	.co_data = channel_data,
	.co_connect_response = channel_ignore_response,
	.co_disconnect = dial_disconnect,
	.co_window = channel_window,
	.co_drained = channel_drained,
	.co_gone = channel_gone,
	.co_timeout = dial_timeout,
	.co_close = dial_close,
	.co_free = dial_free,
	.co_eof_reason = "EOF",
};

static void
dial_free(struct channel *ch)
{
	if (ch->ch_dnsreq != NULL) {
		evdns_getaddrinfo_cancel(ch->ch_dnsreq);
		ch->ch_dnsreq = NULL;
	}
	if (ch->ch_ai != NULL) {
		evutil_freeaddrinfo(ch->ch_ai);
		ch->ch_ai = ch->ch_ai_next = NULL;
	}
	if (ch->ch_proxy != NULL) {
		proxy_cancel(ch->ch_proxy);
		ch->ch_proxy = NULL;
	}
}

/*
 * No lookup goes on, nor a try of the next address; a connect under way
 * completes only to flush what the application sent before it closed.
 */
static void
dial_close(struct channel *ch, const char *why)
{
	dial_free(ch);
	channel_close_notify(ch, why);
}

/* What a connect error counts as in the metrics. */
static enum stat_id
dial_reason(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return (ST_CONNECT_REFUSED);
	case ETIMEDOUT:
		return (ST_CONNECT_TIMEOUT);
	case ENETUNREACH:
	case EHOSTUNREACH:
	case ENETDOWN:
	case EHOSTDOWN:
		return (ST_CONNECT_UNREACHABLE);
	default:
		return (ST_CONNECT_OTHER);
	}
}

static void
dial_fail(struct channel *ch, enum stat_id reason, const char *err)
{
	char	text[600];

	tunnel_count_connect(ch->ch_tun, reason);
	snprintf(text, sizeof(text), "dial tcp %s:%u: %s", ch->ch_host,
	    ch->ch_port, err);
	channel_refuse(ch, text);
}

static void
dial_event(struct bufferevent *bev, short what, void *arg)
{
	struct channel	*ch = arg;

	if (what & BEV_EVENT_CONNECTED) {
		/* The target accepted. */
		if (ch->ch_ai != NULL) {
			evutil_freeaddrinfo(ch->ch_ai);
			ch->ch_ai = ch->ch_ai_next = NULL;
		}
		util_set_nodelay(bufferevent_getfd(bev));
		ch->ch_flags |= CHF_CONFIRMED;
		tunnel_count_connect(ch->ch_tun, ST_CONNECT_OK);
		channel_timer(ch, 0);
		log_debug("channel %s connected to %s:%u", log_id(ch->ch_id),
		    log_strz(ch->ch_host), ch->ch_port);
		if (msg_put_connect_response(ch->ch_tun->t_out, 1, ch->ch_id,
		    NULL) == 0)
			tunnel_flush_msg(ch->ch_tun);
		limits_channel_rate(ch);	/* the token's rates, if any */
		channel_start_relay(ch);
		return;
	}
	ch->ch_errno = evutil_socket_geterror(bufferevent_getfd(bev));
	channel_set_err(ch, evutil_socket_error_to_string(ch->ch_errno));
	dial_next(ch);
}

/*
 * bev becomes the channel's socket: early data (fast open) waiting in the
 * old one's output moves over, and the old one goes.  The bufferevent
 * freezes its output's front: thaw to take it.  -1: out of memory.
 */
static int
dial_take_early(struct channel *ch, struct bufferevent *bev)
{
	struct evbuffer	*old;
	int		 rc = 0;

	if (ch->ch_bev != NULL) {
		old = bufferevent_get_output(ch->ch_bev);
		evbuffer_unfreeze(old, 1);
		rc = evbuffer_add_buffer(bufferevent_get_output(bev), old);
		limits_channel_unrate(ch);
		bufferevent_free(ch->ch_bev);
	}
	ch->ch_bev = bev;
	return (rc);
}

/* Try the next resolved address on a fresh socket, keeping queued data. */
static void
dial_next(struct channel *ch)
{
	struct evutil_addrinfo	*ai = ch->ch_ai_next;
	struct bufferevent	*bev;

	if (ai == NULL) {
		char	err[300];

		snprintf(err, sizeof(err), "connect: %s", ch->ch_err != NULL ?
		    ch->ch_err : "no address");
		dial_fail(ch, ch->ch_err != NULL ? dial_reason(ch->ch_errno) :
		    ST_CONNECT_RESOLVE, err);
		return;
	}
	ch->ch_ai_next = ai->ai_next;
	if ((bev = bufferevent_socket_new(ls_worker->w_base, -1,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		dial_fail(ch, ST_CONNECT_OTHER, "out of memory");
		return;
	}
	if (dial_take_early(ch, bev) == -1) {
		dial_fail(ch, ST_CONNECT_OTHER, "out of memory");
		return;
	}
	bufferevent_setcb(bev, NULL, NULL, dial_event, ch);
	if (bufferevent_socket_connect(bev, ai->ai_addr,
	    (int)ai->ai_addrlen) == -1) {
		ch->ch_errno = EVUTIL_SOCKET_ERROR();
		channel_set_err(ch,
		    evutil_socket_error_to_string(ch->ch_errno));
		dial_next(ch);
	}
}

/*
 * Drop the addresses the policy refuses from the list (each freed on
 * its own); one log line for the target if none is left.
 */
static struct evutil_addrinfo *
dial_filter(struct channel *ch, struct evutil_addrinfo *ai)
{
	struct evutil_addrinfo	*head = NULL, **tail = &head, *next;
	const char		*why = NULL, *w;
	char			 addr[INET6_ADDRSTRLEN + 8] = "";
	const struct rules	*tok = ch->ch_tun == NULL ? NULL :
				    access_token_rules(ch->ch_tun->t_token);

	for (; ai != NULL; ai = next) {
		next = ai->ai_next;
		ai->ai_next = NULL;
		if (access_check(ACCESS_DIAL, ai->ai_addr, tok, &w) ==
		    RV_ALLOW) {
			*tail = ai;
			tail = &ai->ai_next;
			continue;
		}
		util_sockaddr_str(ai->ai_addr, addr, sizeof(addr));
		why = w;
		log_debug("channel %s: %s:%u: address %s refused: %s",
		    log_id(ch->ch_id), log_str((const uint8_t *)ch->ch_host,
		    strlen(ch->ch_host)), ch->ch_port, addr, w);
		evutil_freeaddrinfo(ai);
	}
	if (head == NULL && why != NULL) {
		STAT_INC(ST_ACCESS_DIAL);
		access_refused("channel %s: destination %s:%u (%s) not "
		    "allowed for %s: %s", log_id(ch->ch_id),
		    log_str((const uint8_t *)ch->ch_host, strlen(ch->ch_host)),
		    ch->ch_port, addr, ch->ch_tun != NULL ?
		    ch->ch_tun->t_name : "?", why);
	}
	return (head);
}

/*
 * -x: the proxy dials, so the policy is applied here to the target as
 * far as it can be known: every address the name resolves to here must
 * pass (a name that leads to a refused address is refused, as a direct
 * dial would be); a name that does not resolve here is the proxy's to
 * resolve and is checked on its port.  The proxy's own address is the
 * operator's choice and never checked.  1 allowed, 0 refused (done).
 */
static int
dial_proxy_allowed(struct channel *ch, struct evutil_addrinfo *ai)
{
	const struct rules	*tok = ch->ch_tun == NULL ? NULL :
				    access_token_rules(ch->ch_tun->t_token);
	const char		*why = NULL;
	char			 addr[INET6_ADDRSTRLEN + 8] = "";

	if (ai == NULL) {
		if (access_check_host(ACCESS_DIAL, ch->ch_host, ch->ch_port,
		    tok, &why) == RV_ALLOW)
			return (1);
	} else {
		for (; ai != NULL; ai = ai->ai_next)
			if (access_check(ACCESS_DIAL, ai->ai_addr, tok,
			    &why) != RV_ALLOW) {
				util_sockaddr_str(ai->ai_addr, addr,
				    sizeof(addr));
				break;
			}
		if (ai == NULL)
			return (1);
	}
	STAT_INC(ST_ACCESS_DIAL);
	access_refused("channel %s: destination %s:%u%s%s%s not allowed for "
	    "%s: %s", log_id(ch->ch_id), log_str((const uint8_t *)ch->ch_host,
	    strlen(ch->ch_host)), ch->ch_port, addr[0] ? " (" : "", addr,
	    addr[0] ? ")" : "", ch->ch_tun != NULL ? ch->ch_tun->t_name : "?",
	    why != NULL ? why : "refused");
	tunnel_count_connect(ch->ch_tun, ST_CONNECT_DENIED);
	channel_deny(ch, "destination not allowed");
	return (0);
}

/* -x: ask the upstream proxy for the target (by name, as the reference). */
static void
dial_proxy(struct channel *ch)
{
	ch->ch_proxy = proxy_open(ls_worker->w_base, ls_worker->w_dns,
	    &ls_conf->c_upx, PROXY_CMD_CONNECT, ch->ch_host, ch->ch_port,
	    dial_proxied, ch);
	if (ch->ch_proxy == NULL)
		dial_fail(ch, ST_CONNECT_OTHER, "upstream proxy: out of memory "
		    "or invalid target");
}

/*
 * The proxy answered.  On success its connection becomes the channel's
 * socket: early data queued meanwhile moves over, and what the target
 * sent right after the proxy's reply is already in its input.
 */
static void
dial_proxied(const struct proxy_result *res, void *arg)
{
	struct channel		*ch = arg;
	struct bufferevent	*bev = res->pr_bev;
	int			 rc;

	ch->ch_proxy = NULL;
	if (res->pr_error != 0) {
		ch->ch_errno = res->pr_error;
		dial_fail(ch, dial_reason(res->pr_error), res->pr_text);
		return;
	}
	rc = dial_take_early(ch, bev);
	bufferevent_setcb(bev, NULL, NULL, dial_event, ch);
	if (rc == -1) {
		dial_fail(ch, ST_CONNECT_OTHER, "out of memory");
		return;
	}
	channel_ref(ch);
	dial_event(bev, BEV_EVENT_CONNECTED, ch);
	if (!channel_dead(ch) && ch->ch_bev == bev &&
	    evbuffer_get_length(bufferevent_get_input(bev)) > 0)
		bufferevent_trigger(bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS |
		    BEV_TRIG_DEFER_CALLBACKS);
	channel_unref(ch);
}

static void
dial_resolved(int result, struct evutil_addrinfo *ai, void *arg)
{
	struct channel	*ch = arg;
	char		 err[300];

	if (result == EVUTIL_EAI_CANCEL)
		return;
	ch->ch_dnsreq = NULL;
	if (ls_conf->c_upx.px_kind != PROXY_NONE) {
		if (result != 0 && ai != NULL)
			evutil_freeaddrinfo(ai);
		if (result != 0)
			ai = NULL;	/* the proxy may know it */
		if (dial_proxy_allowed(ch, ai))
			dial_proxy(ch);
		if (ai != NULL)
			evutil_freeaddrinfo(ai);
		return;
	}
	if (result != 0 || ai == NULL) {
		if (ai != NULL)
			evutil_freeaddrinfo(ai);
		snprintf(err, sizeof(err), "lookup %s: %s", ch->ch_host,
		    result == EVUTIL_EAI_NONAME ? "no such host" :
		    evutil_gai_strerror(result));
		dial_fail(ch, ST_CONNECT_RESOLVE, err);
		return;
	}
	if ((ai = dial_filter(ch, ai)) == NULL) {
		tunnel_count_connect(ch->ch_tun, ST_CONNECT_DENIED);
		channel_deny(ch, "destination not allowed");
		return;
	}
	ch->ch_ai = ch->ch_ai_next = ai;
	dial_next(ch);
}

/*
 * A Disconnect while connecting.  Graceful, from a half-close peer: the
 * application half-closed before the target accepted (fast open); keep
 * it, and once connected what it sent is written and then the write side
 * shut down.  Graceful from a plain 0x01 peer: what it sent is written
 * once connected, then the channel closes.  An abort: the application is
 * gone, so its early data is dropped and the connect abandoned.
 */
static void
dial_disconnect(struct channel *ch, const struct msg *m,
    struct evbuffer *frame)
{
	char		 ebuf[256];
	const char	*err = channel_msg_error(m, ebuf, sizeof(ebuf));
	int		 graceful = err[0] == '\0' || strcmp(err, "EOF") == 0;

	if (ch->ch_state == CH_CONNECTING && !graceful) {
		log_debug("channel %s: aborted by the peer while connecting: "
		    "%s", log_id(ch->ch_id), err);
		ch->ch_flags |= CHF_REMOTE_EOF | CHF_DISC_SENT;
		channel_close(ch, err, 0);
		return;
	}
	if (ch->ch_state == CH_CONNECTING && ch->ch_tun != NULL &&
	    ch->ch_tun->t_halfclose) {
		log_debug("channel %s: Disconnect from peer while connecting",
		    log_id(ch->ch_id));
		ch->ch_flags |= CHF_REMOTE_EOF;
		return;
	}
	channel_disconnect(ch, m, frame);
}

static void
dial_timeout(struct channel *ch)
{
	if (ch->ch_state == CH_CONNECTING) {
		dial_fail(ch, ST_CONNECT_TIMEOUT, "i/o timeout");
		return;
	}
	channel_relay_timeout(ch);
}

/* Connect received on t: dial the target; data may already follow. */
void
dial_connect(struct tunnel *t, const struct msg *m)
{
	struct channel		*ch;
	struct evutil_addrinfo	 hints;
	struct evdns_getaddrinfo_request *req;
	char			 portstr[8];
	const char		*why = NULL;

	if (m->m_proto == PROTO_UDP) {
		udp_dial(t, m);
		return;
	}
	if ((ch = channel_new_remote(t, m, &dial_ops)) == NULL)
		return;
	/* A queue for early data exists before anything else can arrive. */
	if ((ch->ch_bev = bufferevent_socket_new(ls_worker->w_base, -1,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		dial_fail(ch, ST_CONNECT_OTHER, "out of memory");
		return;
	}
	bufferevent_setcb(ch->ch_bev, NULL, NULL, dial_event, ch);

	if (m->m_proto != PROTO_TCP)
		why = "unsupported protocol";
	else if (m->m_port == 0)
		why = "invalid port 0";	/* P-19: answer, don't go silent */
	else if (m->m_addr.len == 0 ||
	    memchr(m->m_addr.p, '\0', m->m_addr.len) != NULL)
		why = "invalid address";
	if (why != NULL) {
		dial_fail(ch, ST_CONNECT_INVALID, why);
		return;
	}
	log_debug("channel %s dial %s:%u for %s", log_id(ch->ch_id),
	    log_strz(ch->ch_host), ch->ch_port, t->t_name);
	channel_timer(ch, LS_CONNECT_TIMEOUT);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	snprintf(portstr, sizeof(portstr), "%u", ch->ch_port);
	/*
	 * A literal or a hosts entry is answered synchronously (the callback
	 * may even have closed the channel): store only a pending request.
	 */
	channel_ref(ch);
	req = evdns_getaddrinfo(ls_worker->w_dns, ch->ch_host, portstr,
	    &hints, dial_resolved, ch);
	if (req != NULL && !channel_dead(ch))
		ch->ch_dnsreq = req;
	channel_unref(ch);
}
