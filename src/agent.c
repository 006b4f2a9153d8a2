/*
 * agent.c -- agent mode: a connector's channel joined to a provider's.
 * Each side is a socketless channel ("half") in its own tunnel's table
 * (same id, P-25 scoping); frames pass through unchanged.  The Connect
 * is routed synchronously, and frames that arrive before a provider is
 * chosen wait in order (P-6), so fast-open connectors work.  A
 * Disconnect from either side reaches the other (P-5).
 *
 * Flow control is per hop.  Every half has a queue of frames waiting to
 * go out on its own tunnel (ch_pending: u32 length, u32 credit cost,
 * frame), so order is kept whatever holds a frame back: the tunnel's
 * output above its high mark, or, with a peer that speaks the credit
 * extension, the half's send credit.  Credit a peer gave us for the
 * other half is granted back only once its bytes have left on the far
 * hop, so what waits here is bounded by our window; a peer without the
 * extension (protocol 0x01 only) is paused when its half's twin queues
 * more than AGENT_PENDING_MAX instead (lossless, P-1, P-11).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linksocks.h"

#define AGENT_PENDING_MAX	(4u * 1024 * 1024)
#define AGENT_PENDING_LOW	(AGENT_PENDING_MAX / 4)
#define AGENT_CLOSING_TIMEOUT	30	/* seconds a finished half may flush */
#define AGENT_PIECE_MAX		(4u * 1024 * 1024) /* largest Data relayed */

struct agent_entry {
	uint32_t	re_len;		/* frame bytes */
	uint32_t	re_cost;	/* TCP payload bytes, for credit */
};

static TAILQ_HEAD(, channel) agent_waiters =
    TAILQ_HEAD_INITIALIZER(agent_waiters);

static struct channel *agent_half_new(const uint8_t *, int, enum channel_state);
static void	agent_release(struct channel *);
static void	agent_attach(struct channel *, struct tunnel *);
static void	agent_timeout(struct channel *);
static void	agent_connect_in(struct tunnel *, const struct msg *,
		    struct evbuffer *, struct group *, int);
static void	agent_frame(struct channel *, int, int, struct evbuffer *,
		    uint32_t);
static void	agent_data(struct channel *, struct evbuffer *, size_t,
		    const struct msg *);
static void	agent_datagram(struct channel *, const struct msg *,
		    struct evbuffer *);
static void	agent_connect_response(struct channel *, const struct msg *,
		    struct evbuffer *);
static void	agent_disconnect(struct channel *, const struct msg *,
		    struct evbuffer *);
static void	agent_window(struct channel *, uint32_t);
static void	agent_drained(struct channel *);
static void	agent_gone(struct channel *, const char *);
static void	agent_close(struct channel *, const char *);
static void	agent_free(struct channel *);
static void	agent_link_message(struct tunnel *, struct msg *,
		    struct evbuffer *);
static struct tunnel *agent_choose(struct channel *);
static void	agent_enqueue(struct channel *, struct evbuffer *, uint32_t);
static void	agent_forward(struct channel *, struct evbuffer *, uint32_t);
static int	agent_can_send(struct channel *, uint32_t);
static void	agent_transmit(struct channel *, struct evbuffer *, size_t,
		    uint32_t);
static void	agent_forward_one(struct channel *, struct evbuffer *,
		    uint32_t);
static void	agent_flush(struct channel *);
static void	agent_ack(struct channel *, uint32_t);
static void	agent_end(struct channel *, struct channel *);
static void	agent_closing(struct channel *);
static void	agent_message(struct channel *, int, const char *);

/* A connector may repeat a Connect at will: one line a second. */
static struct log_rl	agent_rl = LOG_RL_INIT(1.0);

static const struct channel_ops agent_ops = {
	.co_kind = CHK_AGENT,
	.co_name = "agent",
	.co_data = agent_data,
	.co_datagram = agent_datagram,
	.co_connect_response = agent_connect_response,
	.co_disconnect = agent_disconnect,
	.co_window = agent_window,
	.co_drained = agent_drained,
	.co_gone = agent_gone,
	.co_timeout = agent_timeout,
	.co_close = agent_close,
	.co_free = agent_free,
};

const struct tunnel_ops agent_link_ops = {
	.to_message = agent_link_message,
	.to_closed = router_link_gone,
};

static struct channel *
agent_half_new(const uint8_t *id, int flags, enum channel_state st)
{
	struct channel	*ch;

	if ((ch = channel_alloc(&agent_ops, st)) == NULL)
		return (NULL);
	memcpy(ch->ch_id, id, sizeof(ch->ch_id));
	ch->ch_flags = flags;
	if ((ch->ch_pending = evbuffer_new()) == NULL) {
		agent_release(ch);
		return (NULL);
	}
	return (ch);
}

/* co_free: what a half holds beyond the channel itself. */
static void
agent_free(struct channel *ch)
{
	if (ch->ch_flags & CHF_WAITING) {
		TAILQ_REMOVE(&agent_waiters, ch, ch_waiting);
		ch->ch_flags &= ~CHF_WAITING;
	}
	if (ch->ch_twin != NULL) {
		ch->ch_twin->ch_twin = NULL;
		ch->ch_twin = NULL;
	}
	if (ch->ch_pending != NULL) {
		evbuffer_free(ch->ch_pending);
		ch->ch_pending = NULL;
	}
}

/* A half goes without a word to anyone (its peers know, or never will). */
static void
agent_release(struct channel *ch)
{
	if (channel_dead(ch))
		return;
	channel_set_state(ch, CH_FLUSHING);
	channel_close(ch, "released", 0);
}

/* ---- queues and credit ------------------------------------------------ */

static void
agent_enqueue(struct channel *h, struct evbuffer *frame, uint32_t cost)
{
	struct agent_entry	re;

	re.re_len = (uint32_t)evbuffer_get_length(frame);
	re.re_cost = cost;
	if (evbuffer_add(h->ch_pending, &re, sizeof(re)) == -1 ||
	    evbuffer_add_buffer(h->ch_pending, frame) == -1)
		log_warnx("relay %s: out of memory, frame lost",
		    log_id(h->ch_id));
}

/* May a frame costing cost go out on h's tunnel now? */
static int
agent_can_send(struct channel *h, uint32_t cost)
{
	struct tunnel	*t = h->ch_tun;

	if (t == NULL || t->t_state != TUN_OPEN)
		return (0);
	if (!tunnel_writable(t)) {
		tunnel_block(t, h);
		return (0);
	}
	return (!t->t_credit || cost == 0 || h->ch_tx_credit >= cost);
}

/*
 * One frame, the first len bytes of src, out on h's tunnel (moved, not
 * copied); its bytes have left, so they are granted to the other hop.
 */
static void
agent_transmit(struct channel *h, struct evbuffer *src, size_t len,
    uint32_t cost)
{
	struct tunnel	*t = h->ch_tun;

	if (t->t_credit)
		h->ch_tx_credit -= cost;
	if (t->t_link == NULL) {
		STAT_ADD(ST_BYTES_OUT, cost);
		TSTAT_ADD(t->t_stats, TS_BYTES_OUT, cost);
	}
	if (evbuffer_remove_buffer(src, t->t_out, len) == (int)len)
		tunnel_flush_msg(t);
	if (h->ch_twin != NULL && cost > 0)
		agent_ack(h->ch_twin, cost);
}

/* h's peer sent cost bytes that are now gone on: grant by quarters. */
static void
agent_ack(struct channel *h, uint32_t cost)
{
	struct tunnel	*t = h->ch_tun;
	uint32_t	 inc;

	if (t == NULL || !t->t_credit || t->t_state != TUN_OPEN)
		return;
	h->ch_rx_unacked += cost;
	if (h->ch_rx_unacked < ls_conf->c_window / 4)
		return;
	inc = h->ch_rx_unacked;
	h->ch_rx_unacked = 0;
	h->ch_rx_acked += inc;
	h->ch_rx_limit += inc;
	if (msg_put_window(t->t_out, h->ch_id, inc) == 0)
		tunnel_flush_msg(t);
}

/*
 * A frame from src's tunnel goes to its twin: now, or behind the queue.
 * TCP Data (cost > 0, never compressed here: tunnel.c inflates it) is cut
 * into pieces of a quarter of the next hop's window, or AGENT_PIECE_MAX
 * without credit, so that it can always pass: a 0x01 peer may send
 * messages of many MiB.
 */
static void
agent_forward(struct channel *src, struct evbuffer *frame, uint32_t cost)
{
	struct channel	*dst = src->ch_twin;
	struct tunnel	*dt = dst->ch_tun;
	struct evbuffer	*piece;
	uint8_t		 h[MSG_DATA_HDR], id[LS_CHANNEL_ID_LEN];
	uint32_t	 max, n;

	if (dst->ch_state == CH_FLUSHING) {
		evbuffer_drain(frame, evbuffer_get_length(frame));
		return;
	}
	max = dt != NULL && dt->t_credit ? dt->t_peer_window / 4 :
	    AGENT_PIECE_MAX;
	if (cost > max &&
	    evbuffer_remove(frame, h, sizeof(h)) == (int)sizeof(h) &&
	    (piece = evbuffer_new()) != NULL) {
		memcpy(id, h + 3, sizeof(id));
		while (cost > 0) {
			n = cost < max ? cost : max;
			msg_data_header(h, id, n);
			evbuffer_add(piece, h, sizeof(h));
			evbuffer_remove_buffer(frame, piece, n);
			agent_forward_one(src, piece, n);
			cost -= n;
		}
		evbuffer_free(piece);
		return;
	}
	agent_forward_one(src, frame, cost);
}

static void
agent_forward_one(struct channel *src, struct evbuffer *frame, uint32_t cost)
{
	struct channel	*dst = src->ch_twin;

	if (evbuffer_get_length(dst->ch_pending) == 0 &&
	    agent_can_send(dst, cost)) {
		agent_transmit(dst, frame, evbuffer_get_length(frame), cost);
		return;
	}
	agent_enqueue(dst, frame, cost);
	/* A peer without credit is only held back by pausing its tunnel. */
	if (!src->ch_tun->t_credit && !(src->ch_flags & CHF_PAUSING) &&
	    evbuffer_get_length(dst->ch_pending) > AGENT_PENDING_MAX) {
		src->ch_flags |= CHF_PAUSING;
		tunnel_pause(src->ch_tun, 1);
	}
}

/* Send what h's queue holds while the tunnel and the credit allow. */
static void
agent_flush(struct channel *h)
{
	struct agent_entry	 re;
	struct channel		*tw;
	struct evbuffer		*pend = h->ch_pending;

	while (evbuffer_copyout(pend, &re, sizeof(re)) == sizeof(re)) {
		if (!agent_can_send(h, re.re_cost))
			break;
		evbuffer_drain(pend, sizeof(re));
		agent_transmit(h, pend, re.re_len, re.re_cost);
	}
	tw = h->ch_twin;
	if (tw != NULL && (tw->ch_flags & CHF_PAUSING) &&
	    evbuffer_get_length(pend) <= AGENT_PENDING_LOW) {
		tw->ch_flags &= ~CHF_PAUSING;
		tunnel_pause(tw->ch_tun, 0);
	}
	if (h->ch_state == CH_FLUSHING && evbuffer_get_length(pend) == 0)
		agent_release(h);
}

/* co_drained: h's tunnel drained below its low mark. */
static void
agent_drained(struct channel *h)
{
	agent_flush(h);
}

/* co_window: Window (0xF1) from h's peer, more credit for what h sends. */
static void
agent_window(struct channel *h, uint32_t inc)
{
	h->ch_tx_credit += inc;
	agent_flush(h);
}

/* h is done: it goes once what it still owes its tunnel is out. */
static void
agent_closing(struct channel *h)
{
	channel_set_state(h, CH_FLUSHING);
	if (h->ch_twin != NULL) {
		h->ch_twin->ch_twin = NULL;
		h->ch_twin = NULL;
	}
	if (h->ch_flags & CHF_WAITING) {
		TAILQ_REMOVE(&agent_waiters, h, ch_waiting);
		h->ch_flags &= ~CHF_WAITING;
	}
	/* A peer that never drains or grants does not keep it forever. */
	channel_timer(h, AGENT_CLOSING_TIMEOUT);
	agent_flush(h);
}

/* The pair is over: each half goes once its queue is out. */
static void
agent_end(struct channel *a, struct channel *b)
{
	if (b != NULL)
		agent_closing(b);
	agent_closing(a);
}

/* A message of our own to h's peer, in order behind its queue. */
static void
agent_message(struct channel *h, int type, const char *why)
{
	struct evbuffer	*b;
	int		 rc;

	if (h->ch_tun == NULL || h->ch_tun->t_state != TUN_OPEN ||
	    (b = evbuffer_new()) == NULL)
		return;
	if (type == MSG_DISCONNECT)
		rc = msg_put_disconnect(b, h->ch_id, why);
	else
		rc = msg_put_connect_response(b, 0, h->ch_id, why);
	if (rc == 0) {
		if (evbuffer_get_length(h->ch_pending) == 0 &&
		    agent_can_send(h, 0))
			agent_transmit(h, b, evbuffer_get_length(b), 0);
		else
			agent_enqueue(h, b, 0);
	}
	evbuffer_free(b);
}

/* ---- routing ----------------------------------------------------------- */

/*
 * Choose where ch goes: a local provider, or the link to the worker that
 * has the provider the round robin chose (which then picks locally).
 */
static struct tunnel *
agent_choose(struct channel *ch)
{
	struct tunnel	*t, *link;
	int		 worker;
	uint16_t	 klen;
	uint8_t		 hdr[2 + LS_CHANNEL_ID_LEN + 2];

	if (ch->ch_flags & CHF_FROM_LINK)
		return (router_pick_local(ch->ch_group));
	if ((t = router_pick(ch->ch_group, 0, &worker)) != NULL ||
	    worker < 0)
		return (t);
	if ((link = router_link(worker)) == NULL)
		return (router_pick_local(ch->ch_group));
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

/* Connect from a connector: route it now. */
void
agent_connect(struct tunnel *ct, const struct msg *m, struct evbuffer *raw,
    struct group *g)
{
	agent_connect_in(ct, m, raw, g, 0);
}

/*
 * Until a provider is chosen, ch_pending holds what goes to it, the
 * Connect (raw) first.
 */
static void
agent_connect_in(struct tunnel *ct, const struct msg *m, struct evbuffer *raw,
    struct group *g, int from_link)
{
	struct channel	*ch;
	struct tunnel	*pt;
	struct timeval	 tv;

	if (tunnel_find(ct, m->m_id) != NULL) {
		log_ratelimit(&agent_rl, LL_WARNX, "tunnel %s: Connect for open "
		    "channel %s, ignored", ct->t_name, log_id(m->m_id));
		return;
	}
	/* A worker link carries many tunnels' channels: not capped. */
	if (!from_link && tunnel_full(ct)) {
		tunnel_refuse(ct, m, "too many channels");
		return;
	}
	/* The connector token's cap (relays are counted, never rated). */
	if (!from_link && limits_channel_full(ct->t_use)) {
		tunnel_refuse(ct, m, LIMITS_CHANNEL_TEXT);
		return;
	}
	if ((ch = agent_half_new(m->m_id, from_link ? CHF_FROM_LINK : 0,
	    CH_WAIT_TUNNEL)) == NULL) {
		if (msg_put_connect_response(ct->t_out, 0, m->m_id,
		    "out of memory") == 0)
			tunnel_flush_msg(ct);
		return;
	}
	ch->ch_group = g;
	ch->ch_port = m->m_port;
	if (channel_set_host(ch, (const char *)m->m_addr.p, m->m_addr.len) ==
	    -1 || tunnel_add(ct, ch) == -1) {
		agent_release(ch);
		return;
	}
	if (!from_link)
		(void)limits_channel_take(ch, ct->t_use);
	agent_enqueue(ch, raw, 0);
	if ((pt = agent_choose(ch)) != NULL) {
		agent_attach(ch, pt);
		return;
	}
	log_debug("relay %s %s:%u: waiting %d ms for a provider",
	    log_id(ch->ch_id), log_strz(ch->ch_host), ch->ch_port,
	    ls_conf->c_connector_wait);
	TAILQ_INSERT_TAIL(&agent_waiters, ch, ch_waiting);
	ch->ch_flags |= CHF_WAITING;
	tv.tv_sec = ls_conf->c_connector_wait / 1000;
	tv.tv_usec = (ls_conf->c_connector_wait % 1000) * 1000;
	channel_timer_tv(ch, &tv);
}

/* co_timeout: no provider in time, or a finished half never flushed. */
static void
agent_timeout(struct channel *ch)
{
	struct tunnel	*ct = ch->ch_tun;

	if (ch->ch_state == CH_FLUSHING) {
		log_debug("relay %s: %zu bytes never flushed, dropped",
		    log_id(ch->ch_id), evbuffer_get_length(ch->ch_pending));
		agent_release(ch);
		return;
	}
	log_info("relay %s %s:%u: no available reverse clients",
	    log_id(ch->ch_id), log_strz(ch->ch_host), ch->ch_port);
	if (ct != NULL && ct->t_state == TUN_OPEN &&
	    msg_put_connect_response(ct->t_out, 0, ch->ch_id,
	    "no available reverse clients") == 0)
		tunnel_flush_msg(ct);
	agent_release(ch);
}

void
agent_provider_available(struct group *g)
{
	struct channel	*ch, *next;
	struct tunnel	*pt;

	for (ch = TAILQ_FIRST(&agent_waiters); ch != NULL; ch = next) {
		next = TAILQ_NEXT(ch, ch_waiting);
		if (ch->ch_group != g || (pt = agent_choose(ch)) == NULL)
			continue;
		TAILQ_REMOVE(&agent_waiters, ch, ch_waiting);
		ch->ch_flags &= ~CHF_WAITING;
		channel_timer(ch, 0);
		agent_attach(ch, pt);
	}
}

/* Join ch (connector side) to provider tunnel pt; what waited goes. */
static void
agent_attach(struct channel *ch, struct tunnel *pt)
{
	struct channel		*tw;
	struct evbuffer		*q, *frame = NULL, *nq;
	struct agent_entry	 re;

	if ((nq = evbuffer_new()) == NULL || (frame = evbuffer_new()) == NULL)
		goto fail;
	if ((tw = agent_half_new(ch->ch_id, 0, CH_RELAY)) == NULL)
		goto fail;
	tw->ch_port = ch->ch_port;
	if (channel_set_host(tw, ch->ch_host, strlen(ch->ch_host)) == -1 ||
	    tunnel_add(pt, tw) == -1) {
		agent_release(tw);
		goto fail;
	}
	ch->ch_twin = tw;
	tw->ch_twin = ch;
	channel_set_state(ch, CH_RELAY);
	log_debug("relay %s %s:%u: %s -> provider %s", log_id(ch->ch_id),
	    log_strz(ch->ch_host), ch->ch_port, ch->ch_tun->t_name,
	    pt->t_name);
	/* What waited on ch was for the provider: it goes as if new. */
	q = ch->ch_pending;
	ch->ch_pending = nq;
	while (evbuffer_copyout(q, &re, sizeof(re)) == sizeof(re)) {
		evbuffer_drain(q, sizeof(re));
		evbuffer_remove_buffer(q, frame, re.re_len);
		agent_forward(ch, frame, re.re_cost);
		evbuffer_drain(frame, evbuffer_get_length(frame));
	}
	evbuffer_free(frame);
	evbuffer_free(q);
	/* Also lifts a pause taken while waiting, once the queue is short. */
	agent_flush(tw);
	return;
 fail:
	if (nq != NULL)
		evbuffer_free(nq);
	if (frame != NULL)
		evbuffer_free(frame);
	if (msg_put_connect_response(ch->ch_tun->t_out, 0, ch->ch_id,
	    "cannot relay channel") == 0)
		tunnel_flush_msg(ch->ch_tun);
	agent_release(ch);
}

/*
 * A channel frame (Data, ConnectResponse or Disconnect, all of frame)
 * arrived on ch's tunnel; cost is its TCP payload.  Pass it on.
 */
static void
agent_frame(struct channel *ch, int type, int success, struct evbuffer *frame,
    uint32_t cost)
{
	struct tunnel	*src = ch->ch_tun;
	struct channel	*tw = ch->ch_twin;

	if (ch->ch_state == CH_FLUSHING)
		return;		/* nothing more is taken from this side */
	if (src->t_credit && cost > 0) {
		if (ch->ch_rx_added + cost > ch->ch_rx_limit) {
			log_warnx("relay %s: peer %s sent beyond its credit "
			    "window", log_id(ch->ch_id), src->t_name);
			channel_close(ch, "peer exceeded the credit window", 0);
			return;
		}
		ch->ch_rx_added += cost;
	}
	if (tw == NULL) {
		/* No provider yet: keep the frame in order. */
		if (type == MSG_DISCONNECT) {
			agent_release(ch);
			return;
		}
		agent_enqueue(ch, frame, cost);
		if (!src->t_credit && !(ch->ch_flags & CHF_PAUSING) &&
		    evbuffer_get_length(ch->ch_pending) > AGENT_PENDING_MAX) {
			ch->ch_flags |= CHF_PAUSING;
			tunnel_pause(src, 1);
		}
		return;
	}
	agent_forward(ch, frame, cost);
	if (type == MSG_CONNECT_RESPONSE && !success) {
		agent_end(ch, tw);
		return;
	}
	if (type != MSG_DISCONNECT)
		return;
	/*
	 * A Disconnect ends one direction.  Between half-close peers the
	 * pair lives until both directions ended; if the far hop will close
	 * outright, answer for it so the near side does not wait forever.
	 */
	ch->ch_flags |= CHF_REMOTE_EOF;
	if (src->t_halfclose && tw->ch_tun != NULL && tw->ch_tun->t_halfclose &&
	    !(tw->ch_flags & CHF_REMOTE_EOF))
		return;
	if (src->t_halfclose && !(tw->ch_flags & CHF_REMOTE_EOF))
		agent_message(ch, MSG_DISCONNECT, NULL);
	agent_end(ch, tw);
}

/* ---- the kind's ops ---------------------------------------------------- */

/*
 * A gzip Data message (a 0x01 peer's, 512 KiB or more) goes on as plain
 * Data, which the relay cuts to fit the next hop (its credit, or the
 * 32 MiB message limit: gzip may inflate to LS_INFLATE_MAX).
 */
static void
agent_data(struct channel *ch, struct evbuffer *frame, size_t n,
    const struct msg *m)
{
	uint8_t	 h[MSG_DATA_HDR];

	if (m == NULL || m->m_compression == 0) {
		agent_frame(ch, MSG_DATA, 1, frame, (uint32_t)n);
		return;
	}
	evbuffer_drain(frame, evbuffer_get_length(frame));
	msg_data_header(h, m->m_id, (uint32_t)m->m_datalen);
	if (evbuffer_add(frame, h, sizeof(h)) == -1 ||
	    evbuffer_add(frame, m->m_data, m->m_datalen) == -1) {
		log_warnx("relay %s: out of memory for a relayed message",
		    log_id(ch->ch_id));
		channel_close(ch, "out of memory", 0);
		return;
	}
	agent_frame(ch, MSG_DATA, 1, frame, (uint32_t)m->m_datalen);
}

static void
agent_datagram(struct channel *ch, const struct msg *m, struct evbuffer *frame)
{
	agent_frame(ch, MSG_DATA, 0, frame, 0);
}

static void
agent_connect_response(struct channel *ch, const struct msg *m,
    struct evbuffer *frame)
{
	agent_frame(ch, MSG_CONNECT_RESPONSE, m->m_success, frame, 0);
}

static void
agent_disconnect(struct channel *ch, const struct msg *m,
    struct evbuffer *frame)
{
	agent_frame(ch, MSG_DISCONNECT, 0, frame, 0);
}

static void
agent_gone(struct channel *ch, const char *why)
{
	channel_close(ch, why, 0);
}

/*
 * co_close: one half's tunnel is gone or misbehaved.  End both, telling
 * the other side (a Disconnect behind what it is still owed, or, with no
 * provider yet, a failed ConnectResponse).  ch itself goes now: what its
 * queue holds (for a provider not chosen, or beyond its peer's credit)
 * is lost, and its last word must not wait behind it.
 */
static void
agent_close(struct channel *ch, const char *why)
{
	struct channel	*tw = ch->ch_twin;

	if (ch->ch_pending != NULL)
		evbuffer_drain(ch->ch_pending,
		    evbuffer_get_length(ch->ch_pending));
	if (tw != NULL) {
		agent_message(tw, MSG_DISCONNECT, why);
		agent_closing(tw);
		agent_message(ch, MSG_DISCONNECT, why);
	} else
		agent_message(ch, MSG_CONNECT_RESPONSE, why);
}

/* ---- worker links --------------------------------------------------- */

/*
 * A frame from another worker: a route (the group key of the Connect
 * that follows), or that Connect.
 */
static void
agent_link_message(struct tunnel *t, struct msg *m, struct evbuffer *raw)
{
	const uint8_t	*r;
	size_t		 rlen = evbuffer_get_length(raw), klen;
	struct group	*g;

	if (m->m_rawtype == LS_LINK_ROUTE) {
		if (rlen < 2 + LS_CHANNEL_ID_LEN + 2 ||
		    (r = evbuffer_pullup(raw, -1)) == NULL)
			return;
		klen = (size_t)r[18] << 8 | r[19];
		if (rlen < 20 + klen || klen >= IPC_KEYLEN)
			return;
		free(t->t_route);
		if ((t->t_route = malloc(klen + 1)) == NULL)
			return;
		memcpy(t->t_route, r + 20, klen);
		t->t_route[klen] = '\0';
		return;
	}
	if (m->m_type != MSG_CONNECT || t->t_route == NULL) {
		log_debug("%s: unexpected %s", t->t_name,
		    msg_typename(m->m_type));
		return;
	}
	g = registry_group(t->t_route, 1);
	free(t->t_route);
	t->t_route = NULL;
	agent_connect_in(t, m, raw, g, 1);
}
