/*
 * channel.c -- one proxied connection on a tunnel, whatever its kind.
 * The code that creates a channel gives it a kind and a struct
 * channel_ops (front.c, dial.c, udp.c, agent.c); tunnel.c delivers the
 * channel's messages through those ops, and this file never looks at the
 * kind.  It holds what every kind shares:
 *
 *  - the life cycle: one allocation (channel_alloc), one named state
 *    with checked transitions (channel_set_state), one teardown
 *    (channel_close), a reference count and a free deferred to the event
 *    loop, so a callback further up the stack never sees freed memory;
 *  - the data path of a channel with a local socket (the application on
 *    the SOCKS side, the target on the dial side):
 *     - local -> tunnel: read while the WebSocket output is below its high
 *       mark (and, with credit, while the peer's window allows);
 *       otherwise stop reading and wait on the tunnel's blocked list.
 *       Payloads stay below the gzip threshold, so nothing is compressed.
 *     - tunnel -> local: append to the local output; above CH_OUT_HIGH
 *       pause the tunnel reader until the local side drains (never drop,
 *       P-1), or with credit grant the window back as the output drains.
 *     - EOF is a half-close: the far side learns it from a Disconnect; a
 *       peer that speaks our extension keeps the other direction open
 *       (P-4), a plain 0x01 peer gets CH_LINGER seconds of grace, as it
 *       gives us.
 */
#include "config.h"

#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/dns.h>

#include "linksocks.h"

#define CH_CLOSE_FLUSH_TIMEOUT	30	/* seconds to flush before a close */

static const char *const channel_states[] = {
	[CH_SOCKS] = "SOCKS",
	[CH_WAIT_TUNNEL] = "WAIT_TUNNEL",
	[CH_REPLY_OWED] = "REPLY_OWED",
	[CH_CONNECTING] = "CONNECTING",
	[CH_RELAY] = "RELAY",
	[CH_FLUSHING] = "FLUSHING",
	[CH_CLOSED] = "CLOSED",
};

#define CH_TO(s)	(1u << (s))
/* Where each state may go; anything else is a bug. */
static const unsigned channel_moves[] = {
	[CH_SOCKS] = CH_TO(CH_WAIT_TUNNEL) | CH_TO(CH_REPLY_OWED) |
	    CH_TO(CH_CONNECTING) | CH_TO(CH_RELAY) | CH_TO(CH_FLUSHING) |
	    CH_TO(CH_CLOSED),
	[CH_WAIT_TUNNEL] = CH_TO(CH_REPLY_OWED) | CH_TO(CH_CONNECTING) |
	    CH_TO(CH_RELAY) | CH_TO(CH_FLUSHING) | CH_TO(CH_CLOSED),
	[CH_REPLY_OWED] = CH_TO(CH_RELAY) | CH_TO(CH_FLUSHING) |
	    CH_TO(CH_CLOSED),
	[CH_CONNECTING] = CH_TO(CH_RELAY) | CH_TO(CH_FLUSHING) |
	    CH_TO(CH_CLOSED),
	[CH_RELAY] = CH_TO(CH_FLUSHING) | CH_TO(CH_CLOSED),
	[CH_FLUSHING] = CH_TO(CH_CLOSED),
	[CH_CLOSED] = 0,
};

static void	channel_read(struct bufferevent *, void *);
static void	channel_write(struct bufferevent *, void *);
static void	channel_event(struct bufferevent *, short, void *);
static void	channel_timeout(evutil_socket_t, short, void *);
static void	channel_flush_write(struct bufferevent *, void *);
static void	channel_flush_event(struct bufferevent *, short, void *);
static void	channel_release(struct channel *);
static void	channel_free(void *);
static void	channel_pump(struct channel *);
static void	channel_local_eof(struct channel *);
static void	channel_maybe_done(struct channel *);
static void	channel_bev_setup(struct channel *);
static int	channel_data_ok(struct channel *, size_t);
static int	channel_may_read(struct channel *);
static void	channel_grant(struct channel *, size_t);
static void	channel_data_added(struct channel *, struct evbuffer *);

/* ---- life cycle -------------------------------------------------------- */

const char *
channel_strstate(enum channel_state st)
{
	if ((size_t)st >= LS_NITEMS(channel_states))
		return ("?");
	return (channel_states[st]);
}

/* printb(9) style: "<LOCAL_EOF,FASTOPEN>", "" for none. */
const char *
channel_flagstr(int flags)
{
	static char	 buf[256];
	const char	*b = CHF_BITS + 1;	/* past the base */
	size_t		 off = 0;
	int		 bit, any = 0;

	buf[0] = '\0';
	while ((bit = (unsigned char)*b++) != 0) {
		const char	*name = b;

		while ((unsigned char)*b > ' ')
			b++;
		if (!(flags & (1 << (bit - 1))))
			continue;
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%c%.*s",
		    any ? ',' : '<', (int)(b - name), name);
		any = 1;
		if (off >= sizeof(buf) - 2)
			break;
	}
	if (any && off < sizeof(buf) - 1)
		snprintf(buf + off, sizeof(buf) - off, ">");
	return (buf);
}

void
channel_set_state(struct channel *ch, enum channel_state st)
{
	if (ch->ch_state == st)
		return;
	if ((size_t)st >= LS_NITEMS(channel_states) ||
	    !(channel_moves[ch->ch_state] & CH_TO(st))) {
		log_warnx("BUG: %s channel %s: %s -> %s %s",
		    ch->ch_ops->co_name, log_id(ch->ch_id),
		    channel_strstate(ch->ch_state), channel_strstate(st),
		    channel_flagstr(ch->ch_flags));
#ifdef LS_STRICT
		abort();
#endif
	}
	log_trace("channel %s: %s -> %s %s", log_id(ch->ch_id),
	    channel_strstate(ch->ch_state), channel_strstate(st),
	    channel_flagstr(ch->ch_flags));
	ch->ch_state = st;
}

struct channel *
channel_alloc(const struct channel_ops *ops, enum channel_state st)
{
	struct channel	*ch;

	if ((ch = calloc(1, sizeof(*ch))) == NULL) {
		log_warnx("%s: out of memory", __func__);
		return (NULL);
	}
	ch->ch_ops = ops;
	ch->ch_state = st;
	ch->ch_refs = 1;
	ch->ch_host = channel_nohost;
	ch->ch_peer = channel_nohost;
	ls_worker->w_channels++;
	worker_load_changed();
	return (ch);
}

void
channel_set_ops(struct channel *ch, const struct channel_ops *ops)
{
	if (ch->ch_state != CH_SOCKS && ch->ch_state != CH_WAIT_TUNNEL) {
		log_warnx("BUG: %s channel %s becomes %s in state %s",
		    ch->ch_ops->co_name, log_id(ch->ch_id), ops->co_name,
		    channel_strstate(ch->ch_state));
#ifdef LS_STRICT
		abort();
#endif
	}
	ch->ch_ops = ops;
}

void
channel_ref(struct channel *ch)
{
	ch->ch_refs++;
}

void
channel_unref(struct channel *ch)
{
	if (--ch->ch_refs == 0)
		worker_defer(channel_free, ch);
}

static void
channel_free(void *arg)
{
	struct channel	*ch = arg;

	if (ch->ch_peer != channel_nohost)
		free(ch->ch_peer);
	free(ch->ch_err);
	free(ch);
}

char		channel_nohost[] = "";

void
channel_set_peer(struct channel *ch, const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		return;		/* logs show "" */
	if (ch->ch_peer != channel_nohost)
		free(ch->ch_peer);
	ch->ch_peer = p;
}

void
channel_set_err(struct channel *ch, const char *s)
{
	free(ch->ch_err);
	ch->ch_err = strdup(s);		/* NULL: "no address" in dial.c */
}

int
channel_set_host(struct channel *ch, const char *p, size_t len)
{
	char	*h;

	if ((h = malloc(len + 1)) == NULL)
		return (-1);
	if (len > 0)
		memcpy(h, p, len);
	h[len] = '\0';
	if (ch->ch_host != NULL && ch->ch_host != channel_nohost)
		free(ch->ch_host);
	ch->ch_host = h;
	return (0);
}

/* An idle channel keeps no timer: the event goes when disarmed. */
void
channel_timer(struct channel *ch, int secs)
{
	struct timeval	tv = { secs, 0 };

	if (secs <= 0) {
		if (ch->ch_timer != NULL) {
			event_free(ch->ch_timer);
			ch->ch_timer = NULL;
		}
		return;
	}
	channel_timer_tv(ch, &tv);
}

void
channel_timer_tv(struct channel *ch, const struct timeval *tv)
{
	if (ch->ch_timer == NULL &&
	    (ch->ch_timer = evtimer_new(ls_worker->w_base, channel_timeout,
	    ch)) == NULL)
		return;
	evtimer_add(ch->ch_timer, tv);
}

static void
channel_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct channel	*ch = arg;

	if (ch->ch_state == CH_FLUSHING && ch->ch_bev != NULL) {
		log_debug("channel %s: flush timed out", log_id(ch->ch_id));
		channel_release(ch);
		return;
	}
	if (ch->ch_ops->co_timeout != NULL)
		ch->ch_ops->co_timeout(ch);
}

/* Until ConnectResponse(1): ConnectTimeout + 5 s, then give up. */
void
channel_guard(struct channel *ch)
{
	channel_timer(ch, (ch->ch_flags & CHF_CONFIRMED) ? 0 :
	    LS_FASTOPEN_GUARD);
}

void
channel_send_disconnect(struct channel *ch, const char *err)
{
	struct tunnel	*t = ch->ch_tun;

	if (t == NULL || (ch->ch_flags & CHF_DISC_SENT))
		return;
	ch->ch_flags |= CHF_DISC_SENT;
	if (msg_put_disconnect(t->t_out, ch->ch_id, err) == 0)
		tunnel_flush_msg(t);
}

/*
 * The one teardown.  The kind tells whoever must know (co_close), the
 * channel leaves its tunnel, then either goes at once or keeps only its
 * local socket until what we owe it is written (CH_FLUSHING).  A kind
 * whose channel flushes towards its tunnel (agent.c) enters CH_FLUSHING
 * itself and closes again when done.
 */
/*
 * Write what ch's output holds now, when EV_WRITE is off: the output was
 * empty before these bytes, so nothing queued is overtaken.  What the
 * socket does not take waits for EV_WRITE as before, and a failed write
 * leaves the bytes queued, where the bufferevent meets the same error and
 * reports it.  A token's rate (libevent's group) keeps the queued path.
 * Always going through EV_WRITE costs each small write an epoll_ctl to
 * add the event, a wakeup and another epoll_ctl to delete it (doc/
 * data-path.md).  1: the output is empty now.
 */
static int
channel_write_now(struct channel *ch)
{
	/* Without a socket yet (dial.c's queue for early data) it waits. */
	return (ch->ch_bev != NULL &&
	    util_bev_write_now(ch->ch_bev, !ch->ch_rated, -1));
}

/* After bytes went into ch's output: write them, as EV_WRITE would. */
void
channel_kick(struct channel *ch)
{
	if (channel_write_now(ch) && ch->ch_state == CH_RELAY)
		channel_write(ch->ch_bev, ch);
}

/*
 * Payloads from the tunnel are written once the callbacks of this loop
 * pass are done (an event made active runs after those already queued),
 * so the messages of one tunnel read go out in one writev per socket, as
 * EV_WRITE wrote them, and the application wakes once for them.
 */
static struct channel	*channel_kick_head;
static struct event	*channel_kick_ev;

static void
channel_kick_run(evutil_socket_t fd LS_UNUSED, short ev LS_UNUSED,
    void *arg LS_UNUSED)
{
	struct channel	*ch;

	while ((ch = channel_kick_head) != NULL) {
		channel_kick_head = ch->ch_kick_next;
		ch->ch_kick_next = NULL;
		ch->ch_kick_queued = 0;
		if (!channel_dead(ch) && ch->ch_state != CH_FLUSHING)
			channel_kick(ch);
		channel_unref(ch);
	}
}

static void
channel_kick_later(struct channel *ch)
{
	if (ch->ch_kick_queued ||
	    (bufferevent_get_enabled(ch->ch_bev) & EV_WRITE))
		return;		/* queued, or EV_WRITE writes it */
	if (channel_kick_ev == NULL && (channel_kick_ev = event_new(
	    ls_worker->w_base, -1, 0, channel_kick_run, NULL)) == NULL) {
		channel_kick(ch);
		return;
	}
	channel_ref(ch);
	ch->ch_kick_queued = 1;
	ch->ch_kick_next = channel_kick_head;
	channel_kick_head = ch;
	event_active(channel_kick_ev, 0, 0);
}

void
channel_close(struct channel *ch, const char *why, int flush)
{
	struct evbuffer	*out;

	if (ch->ch_state == CH_CLOSED)
		return;
	if (ch->ch_state == CH_FLUSHING) {
		channel_release(ch);
		return;
	}
	log_debug("channel %s (%s) %s:%u closed in %s: %s %s",
	    log_id(ch->ch_id), ch->ch_ops->co_name, log_strz(ch->ch_host),
	    ch->ch_port,
	    channel_strstate(ch->ch_state), why,
	    channel_flagstr(ch->ch_flags));
	if (ch->ch_ops->co_close != NULL)
		ch->ch_ops->co_close(ch, why);
	if (ch->ch_tun != NULL)
		tunnel_remove(ch->ch_tun, ch);
	/* What the socket does not take now waits for EV_WRITE. */
	if (flush && ch->ch_bev != NULL && !channel_write_now(ch)) {
		out = bufferevent_get_output(ch->ch_bev);
		channel_set_state(ch, CH_FLUSHING);
		bufferevent_disable(ch->ch_bev, EV_READ);
		bufferevent_setwatermark(ch->ch_bev, EV_WRITE, 0, 0);
		bufferevent_setcb(ch->ch_bev, NULL, channel_flush_write,
		    channel_flush_event, ch);
		/* A token's write rate makes the flush take longer. */
		channel_timer(ch, CH_CLOSE_FLUSH_TIMEOUT +
		    limits_write_secs(ch, evbuffer_get_length(out)));
		return;
	}
	channel_release(ch);
}

/* co_close of the kinds with a socket: the far side learns of it. */
void
channel_close_notify(struct channel *ch, const char *why)
{
	if (ch->ch_state == CH_REPLY_OWED || ch->ch_state == CH_CONNECTING ||
	    ch->ch_state == CH_RELAY)
		channel_send_disconnect(ch, strcmp(why, "EOF") == 0 ? NULL :
		    why);
}

/* co_gone of the kinds with a socket: deliver what we have, close. */
void
channel_gone(struct channel *ch, const char *why)
{
	ch->ch_flags |= CHF_DISC_SENT;
	channel_close(ch, why, 1);
}

/* The end: everything goes now but the memory, which the loop frees. */
static void
channel_release(struct channel *ch)
{
	if (ch->ch_tun != NULL)
		tunnel_remove(ch->ch_tun, ch);
	if (ch->ch_ops->co_free != NULL)
		ch->ch_ops->co_free(ch);
	if (ch->ch_pending != NULL) {
		evbuffer_free(ch->ch_pending);
		ch->ch_pending = NULL;
	}
	if (ch->ch_host != channel_nohost)
		free(ch->ch_host);
	ch->ch_host = channel_nohost;
	if (ch->ch_timer != NULL) {
		event_free(ch->ch_timer);
		ch->ch_timer = NULL;
	}
	limits_channel_drop(ch);	/* before its socket goes */
	if (ch->ch_bev != NULL) {
		bufferevent_free(ch->ch_bev);
		ch->ch_bev = NULL;
	}
	channel_set_state(ch, CH_CLOSED);
	ls_worker->w_channels--;
	worker_load_changed();
	channel_unref(ch);
}

static void
channel_flush_write(struct bufferevent *bev, void *arg)
{
	struct channel	*ch = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		channel_release(ch);
}

static void
channel_flush_event(struct bufferevent *bev, short what, void *arg)
{
	channel_release(arg);
}

int
channel_attach(struct channel *ch, struct tunnel *t)
{
	int	tries;

	channel_timer(ch, 0);	/* the SOCKS handshake timer */
	for (tries = 0; tries < 8; tries++) {
		util_random(ch->ch_id, sizeof(ch->ch_id));
		ch->ch_id[6] = (ch->ch_id[6] & 0x0f) | 0x40;
		ch->ch_id[8] = (ch->ch_id[8] & 0x3f) | 0x80;
		if (tunnel_add(t, ch) == 0)
			return (0);
	}
	return (-1);
}

/* A channel for Connect m, registered on t under its id. */
struct channel *
channel_new_remote(struct tunnel *t, const struct msg *m,
    const struct channel_ops *ops)
{
	struct channel	*ch;

	/* A duplicate is ignored below, as ever. */
	if (tunnel_full(t) && tunnel_find(t, m->m_id) == NULL) {
		tunnel_refuse(t, m, "too many channels");
		return (NULL);
	}
	/* The token's cap in this worker (server: t_use). */
	if (limits_channel_full(t->t_use) && tunnel_find(t, m->m_id) == NULL) {
		tunnel_refuse(t, m, LIMITS_CHANNEL_TEXT);
		return (NULL);
	}
	if ((ch = channel_alloc(ops, CH_CONNECTING)) == NULL)
		return (NULL);
	memcpy(ch->ch_id, m->m_id, sizeof(ch->ch_id));
	ch->ch_port = m->m_port;
	if (channel_set_host(ch, (const char *)m->m_addr.p, m->m_addr.len) ==
	    -1) {
		log_warnx("%s: out of memory", __func__);
		channel_close(ch, "out of memory", 0);
		return (NULL);
	}
	if (tunnel_add(t, ch) == -1) {
		log_warnx("tunnel %s: Connect for channel %s already open, "
		    "ignored", t->t_name, log_id(m->m_id));
		channel_close(ch, "duplicate Connect", 0);
		return (NULL);
	}
	(void)limits_channel_take(ch, t->t_use);
	return (ch);
}

/*
 * Dial side: ConnectResponse(0, text), then the channel goes.  The text
 * goes to the peer as it is (the reference's wording, host name
 * included) and to the log escaped.
 */
void
channel_refuse(struct channel *ch, const char *text)
{
	log_info("channel %s: %s", log_id(ch->ch_id), log_strz(text));
	channel_deny(ch, text);
}

/* The same when the caller has logged why. */
void
channel_deny(struct channel *ch, const char *text)
{
	char	why[4 * 512 + 1];

	snprintf(why, sizeof(why), "%s", log_strz(text));
	if (ch->ch_tun != NULL &&
	    msg_put_connect_response(ch->ch_tun->t_out, 0, ch->ch_id,
	    text) == 0)
		tunnel_flush_msg(ch->ch_tun);
	ch->ch_flags |= CHF_DISC_SENT;	/* the failure response says it all */
	channel_close(ch, why, 0);
}

const char *
channel_msg_error(const struct msg *m, char *buf, size_t len)
{
	snprintf(buf, len, "%s", log_str(m->m_error.p, m->m_error.len));
	return (buf);
}

void
channel_ignore_response(struct channel *ch, const struct msg *m,
    struct evbuffer *frame)
{
	log_debug("channel %s: ConnectResponse on the %s side, ignored",
	    log_id(ch->ch_id), ch->ch_ops->co_name);
}

/* ---- data path of a channel with a local socket ----------------------- */

/*
 * The one timer after the Connect: the fast-open guard while a fast-open
 * connect is unconfirmed, else the linger after our EOF towards a plain
 * 0x01 peer (which may never send its own Disconnect), else nothing.
 */
void
channel_rearm(struct channel *ch)
{
	if ((ch->ch_flags & CHF_FASTOPEN) && !(ch->ch_flags & CHF_CONFIRMED))
		return;		/* the guard set at Connect keeps running */
	if ((ch->ch_flags & CHF_LOCAL_EOF) && !(ch->ch_flags & CHF_REMOTE_EOF) &&
	    ch->ch_tun != NULL && !ch->ch_tun->t_halfclose)
		channel_timer(ch, CH_LINGER);
	else
		channel_timer(ch, 0);
}

static void
channel_bev_setup(struct channel *ch)
{
	bufferevent_setcb(ch->ch_bev, channel_read, channel_write,
	    channel_event, ch);
	bufferevent_setwatermark(ch->ch_bev, EV_READ, 0, CH_READ_MAX);
	/* With credit, every write may free credit to grant back. */
	bufferevent_setwatermark(ch->ch_bev, EV_WRITE,
	    ch->ch_tun != NULL && ch->ch_tun->t_credit ?
	    ls_conf->c_window : CH_OUT_LOW, 0);
	bufferevent_set_max_single_read(ch->ch_bev, CH_READ_CHUNK);
	bufferevent_set_max_single_write(ch->ch_bev, 4 * CH_READ_CHUNK);
}

static void
channel_pump(struct channel *ch)
{
	struct tunnel	*t = ch->ch_tun;
	struct evbuffer	*in = bufferevent_get_input(ch->ch_bev);
	size_t		 len, n;

	if (t == NULL || ch->ch_state != CH_RELAY)
		return;
	while ((len = evbuffer_get_length(in)) > 0) {
		if (!tunnel_writable(t)) {
			bufferevent_disable(ch->ch_bev, EV_READ);
			tunnel_block(t, ch);
			return;
		}
		n = t->t_credit ? CH_CREDIT_CHUNK : CH_READ_CHUNK;
		if (n > len)
			n = len;
		if (n > ls_conf->c_bufsize)
			n = ls_conf->c_bufsize;
		if (t->t_credit) {
			/* No more than the peer can take for this channel. */
			if (ch->ch_tx_credit <= 0) {
				ch->ch_flags |= CHF_NOCREDIT;
				bufferevent_disable(ch->ch_bev, EV_READ);
				return;
			}
			if ((int64_t)n > ch->ch_tx_credit)
				n = (size_t)ch->ch_tx_credit;
			ch->ch_tx_credit -= (int64_t)n;
		}
		if (tunnel_send_data(t, ch->ch_id, in, n) == -1) {
			/* A closing tunnel closes us; otherwise no memory. */
			if (t->t_state == TUN_OPEN)
				channel_close(ch, "cannot send: out of memory",
				    0);
			return;
		}
	}
	if (ch->ch_flags & CHF_EOF_PENDING) {
		ch->ch_flags &= ~CHF_EOF_PENDING;
		channel_local_eof(ch);
	}
}

/* May the local side be read from again? */
static int
channel_may_read(struct channel *ch)
{
	return (!(ch->ch_flags & (CHF_LOCAL_EOF | CHF_EOF_PENDING |
	    CHF_NOCREDIT)));
}

static void
channel_read(struct bufferevent *bev, void *arg)
{
	struct channel	*ch = arg;
	size_t		 have = evbuffer_get_length(bufferevent_get_input(bev));
	size_t		 more;
	ssize_t		 r;

	/*
	 * libevent read 4 KiB at most: take what else is there, within the
	 * token's rate (its group's bucket counts this read too).
	 */
	if (have < CH_READ_MAX &&
	    (more = limits_read_max(ch, CH_READ_MAX - have)) > 0 &&
	    (r = util_bev_read(bev, more)) > 0)
		limits_read_done(ch, (size_t)r);
	channel_pump(ch);
}

/* co_drained: resume after the tunnel drained. */
void
channel_drained(struct channel *ch)
{
	if (ch->ch_state != CH_RELAY)
		return;
	if (channel_may_read(ch))
		bufferevent_enable(ch->ch_bev, EV_READ);
	channel_pump(ch);
}

/* co_window: the peer can take inc more bytes of this channel. */
void
channel_window(struct channel *ch, uint32_t inc)
{
	ch->ch_tx_credit += inc;
	if (!(ch->ch_flags & CHF_NOCREDIT) || ch->ch_tx_credit <= 0)
		return;
	ch->ch_flags &= ~CHF_NOCREDIT;
	if (ch->ch_state != CH_RELAY)
		return;
	if (channel_may_read(ch) && !(ch->ch_flags & CHF_BLOCKED))
		bufferevent_enable(ch->ch_bev, EV_READ);
	channel_pump(ch);
}

/*
 * Grant back what the local side consumed since the last grant, once it
 * is a quarter of the window: the peer never waits on a full window
 * while we drain, and a grant costs one small message per quarter.
 */
static void
channel_grant(struct channel *ch, size_t outlen)
{
	struct tunnel	*t = ch->ch_tun;
	uint64_t	 consumed;
	uint32_t	 inc;

	if (t == NULL || !t->t_credit || ch->ch_rx_added < outlen)
		return;
	consumed = ch->ch_rx_added - outlen;
	if (consumed - ch->ch_rx_acked < ls_conf->c_window / 4)
		return;
	inc = (uint32_t)(consumed - ch->ch_rx_acked);
	ch->ch_rx_acked = consumed;
	ch->ch_rx_limit += inc;
	if (msg_put_window(t->t_out, ch->ch_id, inc) == 0)
		tunnel_flush_msg(t);
}

/* Our local side will send no more: tell the far side. */
static void
channel_local_eof(struct channel *ch)
{
	ch->ch_flags |= CHF_LOCAL_EOF;
	bufferevent_disable(ch->ch_bev, EV_READ);
	channel_send_disconnect(ch, ch->ch_ops->co_eof_reason);
	if (ch->ch_flags & CHF_REMOTE_EOF) {
		channel_maybe_done(ch);
		return;
	}
	channel_rearm(ch);
}

/* Both directions finished: close once the local output is written. */
static void
channel_maybe_done(struct channel *ch)
{
	if ((ch->ch_flags & (CHF_LOCAL_EOF | CHF_REMOTE_EOF)) ==
	    (CHF_LOCAL_EOF | CHF_REMOTE_EOF))
		channel_close(ch, "EOF", 1);
}

static void
channel_event(struct bufferevent *bev, short what, void *arg)
{
	struct channel	*ch = arg;
	char		 err[256];

	if (what & BEV_EVENT_EOF) {
		if (what & BEV_EVENT_WRITING) {
			channel_close(ch, "write: connection closed", 0);
			return;
		}
		/* Read side ended: send what is left, then the Disconnect. */
		bufferevent_disable(bev, EV_READ);
		if (evbuffer_get_length(bufferevent_get_input(bev)) > 0) {
			ch->ch_flags |= CHF_EOF_PENDING;
			channel_pump(ch);
		} else
			channel_local_eof(ch);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		snprintf(err, sizeof(err), "%s: %s",
		    (what & BEV_EVENT_READING) ? "read" : "write",
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		channel_close(ch, err, 0);
	}
}

static void
channel_write(struct bufferevent *bev, void *arg)
{
	struct channel	*ch = arg;
	size_t		 len = evbuffer_get_length(bufferevent_get_output(bev));

	channel_grant(ch, len);
	/* Empty: the next write goes straight out (channel_kick). */
	if (len == 0)
		bufferevent_disable(bev, EV_WRITE);
	if ((ch->ch_flags & CHF_PAUSING) && len <= CH_OUT_LOW) {
		ch->ch_flags &= ~CHF_PAUSING;
		if (ch->ch_tun != NULL)
			tunnel_pause(ch->ch_tun, 0);
	}
	/* Half-close: the far side finished and we wrote everything. */
	if (len == 0 && (ch->ch_flags & CHF_REMOTE_EOF) &&
	    !(ch->ch_flags & CHF_SHUTWR)) {
		ch->ch_flags |= CHF_SHUTWR;
		/* Our side ended too: the close that follows sends the FIN. */
		if (!(ch->ch_flags & CHF_LOCAL_EOF))
			shutdown(bufferevent_getfd(bev), SHUT_WR);
		channel_maybe_done(ch);
	}
}

/* May ch take Data now?  Logs and says no after its peer's EOF. */
static int
channel_data_ok(struct channel *ch, size_t n)
{
	struct tunnel	*t = ch->ch_tun;

	if (t != NULL && t->t_credit) {
		/* A peer that overruns its window is broken: stop it here. */
		if (ch->ch_rx_added + n > ch->ch_rx_limit) {
			log_warnx("channel %s: peer sent %llu bytes beyond its "
			    "credit window", log_id(ch->ch_id),
			    (unsigned long long)(ch->ch_rx_added + n -
			    ch->ch_rx_limit));
			channel_close(ch, "peer exceeded the credit window", 0);
			return (0);
		}
		ch->ch_rx_added += n;
	}
	if (ch->ch_flags & (CHF_REMOTE_EOF | CHF_SHUTWR)) {
		log_debug("channel %s: Data after Disconnect, dropped",
		    log_id(ch->ch_id));
		return (0);
	}
	if (ch->ch_state == CH_REPLY_OWED) {
		/* Data before ConnectResponse (P-7 order): keep it. */
		log_debug("channel %s: Data before ConnectResponse",
		    log_id(ch->ch_id));
	}
	if (ch->ch_flags & CHF_LOCAL_EOF)
		channel_rearm(ch);	/* the peer still talks: extend */
	return (1);
}

/* Above the high mark, pause the tunnel until the local side drains. */
static void
channel_data_added(struct channel *ch, struct evbuffer *out)
{
	/* With credit the peer keeps within the window: nothing to pause. */
	if (ch->ch_tun != NULL && ch->ch_tun->t_credit)
		return;
	if (evbuffer_get_length(out) > CH_OUT_HIGH &&
	    !(ch->ch_flags & CHF_PAUSING) && ch->ch_tun != NULL) {
		ch->ch_flags |= CHF_PAUSING;
		tunnel_pause(ch->ch_tun, 1);
	}
}

/*
 * co_data: the n payload bytes of the message in frame go to the local
 * socket, moved, not copied; a gzip message's inflated payload is copied.
 */
void
channel_data(struct channel *ch, struct evbuffer *frame, size_t n,
    const struct msg *m)
{
	struct evbuffer	*out;
	int		 rc;

	if (!channel_data_ok(ch, n))
		return;
	/* Ahead of its ConnectResponse: held until the reply is written. */
	if (ch->ch_state == CH_REPLY_OWED) {
		if (ch->ch_pending == NULL &&
		    (ch->ch_pending = evbuffer_new()) == NULL) {
			channel_close(ch, "out of memory", 0);
			return;
		}
		out = ch->ch_pending;
	} else
		out = bufferevent_get_output(ch->ch_bev);
	if (m != NULL && m->m_compression != 0)
		rc = evbuffer_add(out, m->m_data, m->m_datalen);
	else {
		evbuffer_drain(frame, MSG_DATA_HDR);
		rc = n > 0 && evbuffer_remove_buffer(frame, out, n) != (int)n ?
		    -1 : 0;
	}
	if (rc == -1) {
		channel_close(ch, "out of memory", 0);
		return;
	}
	channel_data_added(ch, out);
	if (out != ch->ch_pending)
		channel_kick_later(ch);
}

/*
 * co_disconnect for a relaying channel: between half-close peers a
 * graceful Disconnect ends one direction; otherwise flush and close.
 * A half-close peer gets our own Disconnect back (unless sent), so that
 * it is not left waiting for the other direction.  A protocol-0x01 peer
 * (the reference) closed the channel with its Disconnect and gets none:
 * it would only queue ours for a cleanup that sleeps 5 s per entry
 * (spec 7.4, P-3), and a burst of them delays every later close.
 */
void
channel_disconnect(struct channel *ch, const struct msg *m,
    struct evbuffer *frame)
{
	char		 ebuf[256];
	const char	*err = channel_msg_error(m, ebuf, sizeof(ebuf));
	int		 graceful = err[0] == '\0' || strcmp(err, "EOF") == 0;

	log_debug("channel %s: Disconnect from peer%s%s", log_id(ch->ch_id),
	    err[0] ? ": " : "", err);
	ch->ch_flags |= CHF_REMOTE_EOF;
	if (ch->ch_tun != NULL && !ch->ch_tun->t_halfclose)
		ch->ch_flags |= CHF_DISC_SENT;	/* no echo: see above */
	if (!graceful || ch->ch_tun == NULL || !ch->ch_tun->t_halfclose ||
	    ch->ch_state != CH_RELAY) {
		channel_close(ch, graceful ? "EOF" : err, 1);
		return;
	}
	/* Half-close: shut our write side once the output is written. */
	channel_write(ch->ch_bev, ch);
}

/* A linger or an unconfirmed fast-open connect ran out. */
void
channel_relay_timeout(struct channel *ch)
{
	if ((ch->ch_flags & CHF_FASTOPEN) && !(ch->ch_flags & CHF_CONFIRMED)) {
		channel_close(ch, "fast open: connect not confirmed in time",
		    0);
		return;
	}
	/* Linger after our EOF with a plain 0x01 peer. */
	channel_close(ch, "EOF", 1);
}

void
channel_start_relay(struct channel *ch)
{
	channel_set_state(ch, CH_RELAY);
	channel_bev_setup(ch);
	/* Data that came before the reply follows it now. */
	if (ch->ch_pending != NULL) {
		evbuffer_add_buffer(bufferevent_get_output(ch->ch_bev),
		    ch->ch_pending);
		evbuffer_free(ch->ch_pending);
		ch->ch_pending = NULL;
	}
	/* EV_WRITE only for what the socket does not take at once. */
	if (evbuffer_get_length(bufferevent_get_output(ch->ch_bev)) == 0)
		bufferevent_disable(ch->ch_bev, EV_WRITE);
	bufferevent_enable(ch->ch_bev, EV_READ);
	channel_write_now(ch);
	/*
	 * A half-close that came during the dial, with nothing to write:
	 * shut the write side now (our own side has not ended yet, so this
	 * cannot close the channel).
	 */
	if (ch->ch_flags & CHF_REMOTE_EOF)
		channel_write(ch->ch_bev, ch);
	if (ch->ch_state == CH_RELAY &&
	    evbuffer_get_length(bufferevent_get_input(ch->ch_bev)) > 0)
		channel_pump(ch);
}

/* Before the relay: write what the tunnel sends, read nothing yet. */
void
channel_hold(struct channel *ch)
{
	channel_bev_setup(ch);
	bufferevent_disable(ch->ch_bev, EV_READ);
	channel_write_now(ch);
}
