/*
 * relay.c -- agent mode: a connector's channel joined to a provider's.
 * Each side is a socketless channel in its own tunnel's table (same id,
 * P-25 scoping); frames pass through unchanged.  The Connect is routed
 * synchronously, and frames that arrive before a provider is chosen wait
 * in order (P-6), so fast-open connectors work.  A Disconnect from either
 * side reaches the other (P-5), and backpressure pauses the sending
 * tunnel instead of dropping (P-1, P-11).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linksocks.h"

#define RELAY_PENDING_MAX	(4u * 1024 * 1024)

static TAILQ_HEAD(, channel) relay_waiters =
    TAILQ_HEAD_INITIALIZER(relay_waiters);

static void	relay_free_half(struct channel *);
static void	relay_attach(struct channel *, struct tunnel *);
static void	relay_timeout(evutil_socket_t, short, void *);
static struct tunnel *relay_choose(struct channel *);
static void	relay_send(struct channel *, struct tunnel *,
		    struct evbuffer *);
static void	relay_queue(struct channel *, struct evbuffer *);

static void
relay_free_half(struct channel *ch)
{
	if (ch->ch_onlist) {
		TAILQ_REMOVE(&relay_waiters, ch, ch_entry);
		ch->ch_onlist = 0;
	}
	if (ch->ch_tun != NULL)
		tunnel_remove(ch->ch_tun, ch);
	if (ch->ch_twin != NULL)
		ch->ch_twin->ch_twin = NULL;
	if (ch->ch_pending != NULL)
		evbuffer_free(ch->ch_pending);
	if (ch->ch_timer != NULL)
		event_free(ch->ch_timer);
	ls_worker->w_channels--;
	worker_load_changed();
	free(ch);
}

/* Move one raw frame (all of frame) to dst on behalf of ch. */
static void
relay_send(struct channel *ch, struct tunnel *dst, struct evbuffer *frame)
{
	if (dst->t_state != TUN_OPEN) {
		evbuffer_drain(frame, evbuffer_get_length(frame));
		return;
	}
	if (evbuffer_add_buffer(dst->t_out, frame) == 0)
		tunnel_flush_msg(dst);
	if (!tunnel_writable(dst) && ch->ch_tun != NULL &&
	    !(ch->ch_flags & CHF_PAUSING) && ch->ch_twin != NULL) {
		ch->ch_flags |= CHF_PAUSING;
		tunnel_pause(ch->ch_tun, 1);
		tunnel_block(dst, ch->ch_twin);
	}
}

/* Keep a frame in order until a provider is chosen. */
static void
relay_queue(struct channel *ch, struct evbuffer *frame)
{
	uint32_t	len = (uint32_t)evbuffer_get_length(frame);

	evbuffer_add(ch->ch_pending, &len, sizeof(len));
	evbuffer_add_buffer(ch->ch_pending, frame);
}

void
relay_drained(struct channel *tw)
{
	struct channel	*ch = tw->ch_twin;

	if (ch != NULL && (ch->ch_flags & CHF_PAUSING)) {
		ch->ch_flags &= ~CHF_PAUSING;
		tunnel_pause(ch->ch_tun, 0);
	}
}

/*
 * Choose where ch goes: a local provider, or the link to the worker that
 * has the provider the round robin chose (which then picks locally).
 */
static struct tunnel *
relay_choose(struct channel *ch)
{
	struct tunnel	*t, *link;
	int		 worker;
	uint16_t	 klen;
	uint8_t		 hdr[2 + LS_CHANNEL_ID_LEN + 2];

	if (ch->ch_flags & CHF_FROM_LINK)
		return (server_pick_local(ch->ch_group));
	if ((t = server_pick_provider(ch->ch_group, &worker)) != NULL ||
	    worker < 0)
		return (t);
	if ((link = server_link(worker)) == NULL)
		return (server_pick_local(ch->ch_group));
	/* Tell the other worker which group the next Connect is for. */
	klen = (uint16_t)strlen(ch->ch_group->g_key);
	hdr[0] = LS_PROTO_VERSION;
	hdr[1] = LS_LINK_ROUTE;
	memcpy(hdr + 2, ch->ch_id, LS_CHANNEL_ID_LEN);
	hdr[2 + LS_CHANNEL_ID_LEN] = (uint8_t)(klen >> 8);
	hdr[3 + LS_CHANNEL_ID_LEN] = (uint8_t)klen;
	evbuffer_add(link->t_out, hdr, sizeof(hdr));
	evbuffer_add(link->t_out, ch->ch_group->g_key, klen);
	tunnel_flush_msg(link);
	return (link);
}

/* Connect from a connector (or a worker link): route it now. */
void
relay_connect(struct tunnel *ct, const struct msg *m, struct group *g,
    int from_link)
{
	struct channel	*ch;
	struct tunnel	*pt;
	struct timeval	 tv;

	if (tunnel_find(ct, m->m_id) != NULL) {
		log_warnx("tunnel %s: Connect for open channel %s, ignored",
		    ct->t_name, log_id(m->m_id));
		return;
	}
	if ((ch = calloc(1, sizeof(*ch))) == NULL ||
	    (ch->ch_pending = evbuffer_new()) == NULL) {
		free(ch);
		if (msg_put_connect_response(ct->t_out, 0, m->m_id,
		    "out of memory") == 0)
			tunnel_flush_msg(ct);
		return;
	}
	memcpy(ch->ch_id, m->m_id, sizeof(ch->ch_id));
	ch->ch_flags = CHF_RELAY | (from_link ? CHF_FROM_LINK : 0);
	ch->ch_group = g;
	ch->ch_port = m->m_port;
	snprintf(ch->ch_host, sizeof(ch->ch_host), "%.*s",
	    (int)m->m_addr.len, (const char *)m->m_addr.p);
	ls_worker->w_channels++;
	worker_load_changed();
	if (tunnel_add(ct, ch) == -1) {
		ch->ch_tun = NULL;
		relay_free_half(ch);
		return;
	}
	relay_queue(ch, ct->t_rawbuf);
	channel_set_state(ch, CH_WAIT_TUNNEL);
	if ((pt = relay_choose(ch)) != NULL) {
		relay_attach(ch, pt);
		return;
	}
	log_debug("relay %s %s:%u: waiting %d ms for a provider",
	    log_id(ch->ch_id), ch->ch_host, ch->ch_port,
	    ls_conf->c_connector_wait);
	TAILQ_INSERT_TAIL(&relay_waiters, ch, ch_entry);
	ch->ch_onlist = 1;
	ch->ch_timer = evtimer_new(ls_worker->w_base, relay_timeout, ch);
	tv.tv_sec = ls_conf->c_connector_wait / 1000;
	tv.tv_usec = (ls_conf->c_connector_wait % 1000) * 1000;
	if (ch->ch_timer != NULL)
		evtimer_add(ch->ch_timer, &tv);
}

static void
relay_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct channel	*ch = arg;
	struct tunnel	*ct = ch->ch_tun;

	log_info("relay %s %s:%u: no available reverse clients",
	    log_id(ch->ch_id), ch->ch_host, ch->ch_port);
	if (ct != NULL && msg_put_connect_response(ct->t_out, 0, ch->ch_id,
	    "no available reverse clients") == 0)
		tunnel_flush_msg(ct);
	relay_free_half(ch);
}

void
relay_provider_available(struct group *g)
{
	struct channel	*ch, *next;
	struct tunnel	*pt;

	for (ch = TAILQ_FIRST(&relay_waiters); ch != NULL; ch = next) {
		next = TAILQ_NEXT(ch, ch_entry);
		if (ch->ch_group != g || (pt = relay_choose(ch)) == NULL)
			continue;
		TAILQ_REMOVE(&relay_waiters, ch, ch_entry);
		ch->ch_onlist = 0;
		if (ch->ch_timer != NULL)
			evtimer_del(ch->ch_timer);
		relay_attach(ch, pt);
	}
}

/* Join ch (connector side) to provider tunnel pt and replay what waited. */
static void
relay_attach(struct channel *ch, struct tunnel *pt)
{
	struct channel	*tw;
	struct evbuffer	*pend = ch->ch_pending;
	uint32_t	 len;

	if ((tw = calloc(1, sizeof(*tw))) == NULL)
		goto fail;
	memcpy(tw->ch_id, ch->ch_id, sizeof(tw->ch_id));
	tw->ch_flags = CHF_RELAY;
	tw->ch_port = ch->ch_port;
	memcpy(tw->ch_host, ch->ch_host, sizeof(tw->ch_host));
	ls_worker->w_channels++;
	if (tunnel_add(pt, tw) == -1) {
		ls_worker->w_channels--;
		free(tw);
		goto fail;
	}
	ch->ch_twin = tw;
	tw->ch_twin = ch;
	channel_set_state(ch, CH_RELAY);
	channel_set_state(tw, CH_RELAY);
	log_debug("relay %s %s:%u: %s -> provider %s", log_id(ch->ch_id),
	    ch->ch_host, ch->ch_port, ch->ch_tun->t_name, pt->t_name);
	ch->ch_pending = NULL;
	while (evbuffer_copyout(pend, &len, sizeof(len)) == sizeof(len) &&
	    evbuffer_get_length(pend) >= sizeof(len) + len) {
		evbuffer_drain(pend, sizeof(len));
		if (pt->t_state != TUN_OPEN ||
		    evbuffer_remove_buffer(pend, pt->t_out, len) != (int)len)
			break;
		tunnel_flush_msg(pt);
	}
	evbuffer_free(pend);
	if (!tunnel_writable(pt) && !(ch->ch_flags & CHF_PAUSING)) {
		ch->ch_flags |= CHF_PAUSING;
		tunnel_pause(ch->ch_tun, 1);
	}
	/* Paused while queueing: resume now, or when pt drains. */
	if (ch->ch_flags & CHF_PAUSING) {
		if (tunnel_writable(pt)) {
			ch->ch_flags &= ~CHF_PAUSING;
			tunnel_pause(ch->ch_tun, 0);
		} else
			tunnel_block(pt, tw);
	}
	return;
 fail:
	if (msg_put_connect_response(ch->ch_tun->t_out, 0, ch->ch_id,
	    "cannot relay channel") == 0)
		tunnel_flush_msg(ch->ch_tun);
	relay_free_half(ch);
}

/*
 * A channel frame (Data, ConnectResponse or Disconnect, all of frame)
 * arrived on ch's tunnel: pass it on unchanged.
 */
void
relay_frame(struct channel *ch, int type, int success, struct evbuffer *frame)
{
	struct tunnel	*src = ch->ch_tun, *dst;
	struct channel	*tw = ch->ch_twin;

	if (tw == NULL) {
		/* No provider yet: keep the frame in order. */
		if (type == MSG_DISCONNECT) {
			relay_free_half(ch);
			return;
		}
		if (ch->ch_pending == NULL)
			return;
		relay_queue(ch, frame);
		if (evbuffer_get_length(ch->ch_pending) > RELAY_PENDING_MAX &&
		    !(ch->ch_flags & CHF_PAUSING)) {
			ch->ch_flags |= CHF_PAUSING;
			tunnel_pause(src, 1);
		}
		return;
	}
	dst = tw->ch_tun;
	relay_send(ch, dst, frame);
	if (type == MSG_CONNECT_RESPONSE && !success)
		goto done;
	if (type != MSG_DISCONNECT)
		return;
	/*
	 * A Disconnect ends one direction.  Between half-close peers the
	 * pair lives until both directions ended; if the far hop will close
	 * outright, answer for it so the near side does not wait forever.
	 */
	ch->ch_flags |= CHF_REMOTE_EOF;
	if (src->t_halfclose && dst != NULL && dst->t_halfclose &&
	    !(tw->ch_flags & CHF_REMOTE_EOF))
		return;
	if (src->t_halfclose && !(tw->ch_flags & CHF_REMOTE_EOF) &&
	    src->t_state == TUN_OPEN &&
	    msg_put_disconnect(src->t_out, ch->ch_id, NULL) == 0)
		tunnel_flush_msg(src);
 done:
	relay_free_half(tw);
	relay_free_half(ch);
}

/* One half's tunnel is gone or misbehaved: end both, telling the other. */
void
relay_close(struct channel *ch, const char *why)
{
	struct channel	*tw = ch->ch_twin;

	log_debug("relay %s %s:%u closed: %s", log_id(ch->ch_id), ch->ch_host,
	    ch->ch_port, why);
	if (tw != NULL) {
		if (tw->ch_tun != NULL && tw->ch_tun->t_state == TUN_OPEN &&
		    msg_put_disconnect(tw->ch_tun->t_out, tw->ch_id, why) == 0)
			tunnel_flush_msg(tw->ch_tun);
		relay_free_half(tw);
	} else if (ch->ch_tun != NULL && ch->ch_tun->t_state == TUN_OPEN &&
	    msg_put_connect_response(ch->ch_tun->t_out, 0, ch->ch_id,
	    why) == 0)
		tunnel_flush_msg(ch->ch_tun);
	if (ch->ch_tun != NULL && ch->ch_tun->t_state == TUN_OPEN &&
	    tw != NULL && msg_put_disconnect(ch->ch_tun->t_out, ch->ch_id,
	    why) == 0)
		tunnel_flush_msg(ch->ch_tun);
	relay_free_half(ch);
}
