/*
 * channel.c -- one proxied TCP connection: a local bufferevent (the SOCKS
 * application, or the target on the dial side) joined to a channel id on
 * a tunnel.  One state enum, one transition function, one teardown.
 *
 * Data path rules:
 *  - local -> tunnel: read while the WebSocket output is below its high
 *    mark; otherwise stop reading and wait on the tunnel's blocked list.
 *    Payloads stay below the gzip threshold, so nothing is compressed.
 *  - tunnel -> local: append to the local output; above CH_OUT_HIGH pause
 *    the tunnel reader until the local side drains (never drop, P-1).
 *  - EOF is a half-close: the far side learns it from a Disconnect; a peer
 *    that speaks our extension keeps the other direction open (P-4), a
 *    plain 0x01 peer gets CH_LINGER seconds of grace, as it gives us.
 */
#include "config.h"

#include <sys/socket.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/dns.h>

#include "linksocks.h"

#define CH_CLOSE_FLUSH_TIMEOUT	30	/* seconds to flush before a close */
#define CHF_FLUSHING		0x200	/* closed, flushing local output */
#define CHF_EOF_PENDING		0x400	/* local EOF, input not yet sent */

static const char *const channel_states[] = {
	[CH_SOCKS] = "SOCKS",
	[CH_WAIT_TUNNEL] = "WAIT_TUNNEL",
	[CH_CONNECTING] = "CONNECTING",
	[CH_RELAY] = "RELAY",
	[CH_CLOSED] = "CLOSED",
};

static void	channel_read(struct bufferevent *, void *);
static void	channel_write(struct bufferevent *, void *);
static void	channel_event(struct bufferevent *, short, void *);
static void	channel_timeout(evutil_socket_t, short, void *);
static void	channel_flush_write(struct bufferevent *, void *);
static void	channel_flush_event(struct bufferevent *, short, void *);
static void	channel_free(struct channel *);
static void	channel_pump(struct channel *);
static void	channel_local_eof(struct channel *);
static void	channel_send_disconnect(struct channel *, const char *);
static void	channel_maybe_done(struct channel *);
static void	channel_timer(struct channel *, int);
static void	channel_dial_next(struct channel *);
static void	channel_dial_resolved(int, struct evutil_addrinfo *, void *);
static void	channel_dial_fail(struct channel *, const char *);
static void	channel_bev_setup(struct channel *);
static void	channel_rearm(struct channel *);
static int	channel_fastopen_holds(const struct tunnel *);
static int	channel_data_ok(struct channel *, size_t);
static int	channel_may_read(struct channel *);
static void	channel_grant(struct channel *, size_t);
static void	channel_data_added(struct channel *, struct evbuffer *);

const char *
channel_strstate(enum channel_state st)
{
	if ((size_t)st >= LS_NITEMS(channel_states))
		return ("?");
	return (channel_states[st]);
}

void
channel_set_state(struct channel *ch, enum channel_state st)
{
	log_trace("channel %s: %s -> %s", log_id(ch->ch_id),
	    channel_strstate(ch->ch_state), channel_strstate(st));
	ch->ch_state = st;
}

char		channel_nohost[] = "";

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
static void
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
	if (ch->ch_timer == NULL &&
	    (ch->ch_timer = evtimer_new(ls_worker->w_base, channel_timeout,
	    ch)) == NULL)
		return;
	evtimer_add(ch->ch_timer, &tv);
}

/*
 * The one timer after the Connect: the fast-open guard while a fast-open
 * connect is unconfirmed, else the linger after our EOF towards a plain
 * 0x01 peer (which may never send its own Disconnect), else nothing.
 */
static void
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

/* ---- teardown -------------------------------------------------------- */

static void
channel_send_disconnect(struct channel *ch, const char *err)
{
	struct tunnel	*t = ch->ch_tun;

	if (t == NULL || (ch->ch_flags & CHF_DISC_SENT))
		return;
	ch->ch_flags |= CHF_DISC_SENT;
	if (msg_put_disconnect(t->t_out, ch->ch_id, err) == 0)
		tunnel_flush_msg(t);
}

static void
channel_free(struct channel *ch)
{
	udp_free(ch);
	free(ch->ch_s5);
	if (ch->ch_host != channel_nohost)
		free(ch->ch_host);
	if (ch->ch_dnsreq != NULL) {
		evdns_getaddrinfo_cancel(ch->ch_dnsreq);
		ch->ch_dnsreq = NULL;
	}
	if (ch->ch_ai != NULL)
		evutil_freeaddrinfo(ch->ch_ai);
	if (ch->ch_timer != NULL)
		event_free(ch->ch_timer);
	if (ch->ch_bev != NULL)
		bufferevent_free(ch->ch_bev);
	ls_worker->w_channels--;
	worker_load_changed();
	free(ch);
}

/*
 * The one teardown.  Detach from the tunnel (telling the far side with a
 * Disconnect if it does not know yet), then either free at once or keep
 * only the local socket until what we owe it is written.
 */
void
channel_close(struct channel *ch, const char *why, int flush)
{
	struct evbuffer	*out;

	if (ch->ch_flags & CHF_RELAY) {
		agent_close(ch, why);
		return;
	}
	if (ch->ch_state == CH_CLOSED)
		return;
	log_debug("channel %s %s:%u closed: %s", log_id(ch->ch_id),
	    ch->ch_host, ch->ch_port, why);
	if (ch->ch_onlist)
		front_unwait(ch);
	if (ch->ch_tun != NULL) {
		if (ch->ch_state >= CH_CONNECTING)
			channel_send_disconnect(ch,
			    strcmp(why, "EOF") == 0 ? NULL : why);
		tunnel_remove(ch->ch_tun, ch);
	}
	channel_set_state(ch, CH_CLOSED);
	udp_free(ch);	/* the relay socket goes now, not after a flush */
	if (ch->ch_dnsreq != NULL) {
		evdns_getaddrinfo_cancel(ch->ch_dnsreq);
		ch->ch_dnsreq = NULL;
	}
	if (flush && ch->ch_bev != NULL &&
	    (out = bufferevent_get_output(ch->ch_bev)) != NULL &&
	    evbuffer_get_length(out) > 0 &&
	    (bufferevent_get_enabled(ch->ch_bev) & EV_WRITE)) {
		ch->ch_flags |= CHF_FLUSHING;
		bufferevent_disable(ch->ch_bev, EV_READ);
		bufferevent_setwatermark(ch->ch_bev, EV_WRITE, 0, 0);
		bufferevent_setcb(ch->ch_bev, NULL, channel_flush_write,
		    channel_flush_event, ch);
		channel_timer(ch, CH_CLOSE_FLUSH_TIMEOUT);
		return;
	}
	channel_free(ch);
}

static void
channel_flush_write(struct bufferevent *bev, void *arg)
{
	struct channel	*ch = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		channel_free(ch);
}

static void
channel_flush_event(struct bufferevent *bev, short what, void *arg)
{
	channel_free(arg);
}

/* ---- local socket -> tunnel ------------------------------------------ */

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

	/* libevent read 4 KiB at most: take what else is there. */
	if (have < CH_READ_MAX)
		(void)util_bev_read(bev, CH_READ_MAX - have);
	channel_pump(ch);
}

/* Resume after the tunnel drained (called by tunnel.c). */
void
channel_tunnel_drained(struct channel *ch)
{
	if (ch->ch_flags & CHF_RELAY) {
		agent_drained(ch);
		return;
	}
	if (ch->ch_state != CH_RELAY)
		return;
	if (channel_may_read(ch))
		bufferevent_enable(ch->ch_bev, EV_READ);
	channel_pump(ch);
}

/* The peer can take inc more bytes of this channel (Window, 0xF1). */
void
channel_tunnel_window(struct channel *ch, uint32_t inc)
{
	if (ch->ch_flags & CHF_RELAY) {
		agent_window(ch, inc);
		return;
	}
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
	channel_send_disconnect(ch, (ch->ch_flags & CHF_DIAL) ? "EOF" : NULL);
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

	if (what & BEV_EVENT_CONNECTED) {
		/* Dial side: the target accepted. */
		if (ch->ch_ai != NULL) {
			evutil_freeaddrinfo(ch->ch_ai);
			ch->ch_ai = ch->ch_ai_next = NULL;
		}
		util_set_nodelay(bufferevent_getfd(bev));
		ch->ch_flags |= CHF_CONFIRMED;
		channel_timer(ch, 0);
		log_debug("channel %s connected to %s:%u", log_id(ch->ch_id),
		    ch->ch_host, ch->ch_port);
		if (msg_put_connect_response(ch->ch_tun->t_out, 1, ch->ch_id,
		    NULL) == 0)
			tunnel_flush_msg(ch->ch_tun);
		channel_start_relay(ch);
		return;
	}
	if (ch->ch_state == CH_CONNECTING && (ch->ch_flags & CHF_DIAL)) {
		snprintf(ch->ch_err, sizeof(ch->ch_err), "%s",
		    evutil_socket_error_to_string(
		    evutil_socket_geterror(bufferevent_getfd(bev))));
		channel_dial_next(ch);
		return;
	}
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
	if ((ch->ch_flags & CHF_PAUSING) && len <= CH_OUT_LOW) {
		ch->ch_flags &= ~CHF_PAUSING;
		if (ch->ch_tun != NULL)
			tunnel_pause(ch->ch_tun, 0);
	}
	/* Half-close: the far side finished and we wrote everything. */
	if (len == 0 && (ch->ch_flags & CHF_REMOTE_EOF) &&
	    !(ch->ch_flags & CHF_SHUTWR)) {
		ch->ch_flags |= CHF_SHUTWR;
		shutdown(bufferevent_getfd(bev), SHUT_WR);
		channel_maybe_done(ch);
	}
}

/* ---- tunnel -> local socket ------------------------------------------ */

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
	if (ch->ch_state == CH_CONNECTING && !(ch->ch_flags & CHF_DIAL) &&
	    !(ch->ch_flags & CHF_FASTOPEN)) {
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

/* n payload bytes at the front of src: moved, not copied. */
void
channel_tunnel_data(struct channel *ch, struct evbuffer *src, size_t n)
{
	struct evbuffer	*out;

	if (!channel_data_ok(ch, n))
		return;
	out = bufferevent_get_output(ch->ch_bev);
	if (n > 0 && evbuffer_remove_buffer(src, out, n) != (int)n) {
		channel_close(ch, "out of memory", 0);
		return;
	}
	channel_data_added(ch, out);
}

/* Payload decoded into flat memory (gzip Data). */
void
channel_tunnel_bytes(struct channel *ch, const uint8_t *data, size_t len)
{
	struct evbuffer	*out;

	if (!channel_data_ok(ch, len))
		return;
	out = bufferevent_get_output(ch->ch_bev);
	if (evbuffer_add(out, data, len) == -1) {
		channel_close(ch, "out of memory", 0);
		return;
	}
	channel_data_added(ch, out);
}

void
channel_tunnel_disconnect(struct channel *ch, const char *err)
{
	int	graceful = err[0] == '\0' || strcmp(err, "EOF") == 0;

	log_debug("channel %s: Disconnect from peer%s%s", log_id(ch->ch_id),
	    err[0] ? ": " : "", err);
	if (ch->ch_flags & CHF_UDP) {
		/* An association has no half-close: it ends here. */
		ch->ch_flags |= CHF_DISC_SENT;
		if (ch->ch_state == CH_CONNECTING && !(ch->ch_flags & CHF_DIAL)
		    && !(ch->ch_flags & CHF_FASTOPEN))
			socks5_reply(bufferevent_get_output(ch->ch_bev),
			    S5_REP_HOSTUNREACH, NULL);
		channel_close(ch, graceful ? "EOF" : err, 1);
		return;
	}
	if (ch->ch_state == CH_CONNECTING && !(ch->ch_flags & CHF_DIAL)) {
		/* The dial side gave up before answering. */
		if (!(ch->ch_flags & CHF_FASTOPEN)) {
			ch->ch_flags |= CHF_DISC_SENT;
			socks5_reply(bufferevent_get_output(ch->ch_bev),
			    S5_REP_HOSTUNREACH, NULL);
			channel_close(ch, "remote gave up", 1);
			return;
		}
	}
	ch->ch_flags |= CHF_REMOTE_EOF;
	if (graceful && ch->ch_tun != NULL && ch->ch_tun->t_halfclose &&
	    ch->ch_state == CH_CONNECTING && (ch->ch_flags & CHF_DIAL)) {
		/*
		 * The application half-closed before the target accepted
		 * (fast open): remember; once connected, what it sent is
		 * written and then the write side shut down.
		 */
		return;
	}
	if (!graceful || ch->ch_tun == NULL || !ch->ch_tun->t_halfclose ||
	    ch->ch_state != CH_RELAY) {
		/*
		 * Abort, or no half-close: flush and close, answering with our
		 * own Disconnect (unless sent) so a peer that half-closed
		 * is not left waiting.
		 */
		channel_close(ch, graceful ? "EOF" : err, 1);
		return;
	}
	/* Half-close: shut our write side once the output is written. */
	channel_write(ch->ch_bev, ch);
}

void
channel_tunnel_connect_response(struct channel *ch, int ok, const char *err)
{
	if (ch->ch_flags & CHF_DIAL) {
		log_debug("channel %s: ConnectResponse on the dial side, "
		    "ignored", log_id(ch->ch_id));
		return;
	}
	if (ch->ch_flags & CHF_UDP) {
		udp_connect_response(ch, ok, err);
		return;
	}
	if (ch->ch_flags & CHF_CONFIRMED)
		return;
	if (!ok) {
		log_info("channel %s %s:%u: remote connect failed: %s",
		    log_id(ch->ch_id), ch->ch_host, ch->ch_port, err);
		ch->ch_flags |= CHF_DISC_SENT;	/* dial side forgot it */
		if (ch->ch_flags & CHF_FASTOPEN) {
			/* The app already has success: closing is all we can do. */
			channel_close(ch, "fast open: remote connect failed", 0);
		} else {
			socks5_reply(bufferevent_get_output(ch->ch_bev),
			    S5_REP_HOSTUNREACH, NULL);
			channel_close(ch, "remote connect failed", 1);
		}
		return;
	}
	ch->ch_flags |= CHF_CONFIRMED;
	channel_rearm(ch);
	if (ch->ch_flags & CHF_FOHOLD) {
		/* Answered already; now the held bytes may go. */
		ch->ch_flags &= ~CHF_FOHOLD;
		channel_start_relay(ch);
		return;
	}
	if (ch->ch_flags & CHF_FASTOPEN)
		return;
	socks5_reply(bufferevent_get_output(ch->ch_bev), S5_REP_OK, NULL);
	channel_start_relay(ch);
}

/* The tunnel is gone: deliver what we have, then close. */
void
channel_tunnel_gone(struct channel *ch)
{
	if (ch->ch_flags & CHF_RELAY) {
		agent_close(ch, "tunnel closed");
		return;
	}
	ch->ch_flags |= CHF_DISC_SENT;
	if (ch->ch_state == CH_CONNECTING && !(ch->ch_flags & CHF_DIAL) &&
	    !(ch->ch_flags & CHF_FASTOPEN)) {
		socks5_reply(bufferevent_get_output(ch->ch_bev),
		    S5_REP_NETUNREACH, NULL);
	}
	channel_close(ch, "tunnel closed", 1);
}

/* ---- timers ---------------------------------------------------------- */

static void
channel_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct channel	*ch = arg;

	if (ch->ch_flags & CHF_FLUSHING) {
		log_debug("channel %s: flush timed out", log_id(ch->ch_id));
		channel_free(ch);
		return;
	}
	switch (ch->ch_state) {
	case CH_CONNECTING:
		if (ch->ch_flags & CHF_DIAL) {
			snprintf(ch->ch_err, sizeof(ch->ch_err), "i/o timeout");
			channel_dial_fail(ch, ch->ch_err);
		} else {
			/* No ConnectResponse in time (P-8: tell the far side). */
			if (!(ch->ch_flags & CHF_FASTOPEN))
				socks5_reply(bufferevent_get_output(ch->ch_bev),
				    S5_REP_HOSTUNREACH, NULL);
			channel_close(ch, "connect response timeout", 1);
		}
		break;
	case CH_RELAY:
		if ((ch->ch_flags & CHF_FASTOPEN) &&
		    !(ch->ch_flags & CHF_CONFIRMED)) {
			channel_close(ch, "fast open: connect not confirmed "
			    "in time", 0);
			break;
		}
		/* Linger after our EOF with a plain 0x01 peer. */
		channel_close(ch, "EOF", 1);
		break;
	default:
		break;
	}
}

/* ---- relay start ----------------------------------------------------- */

void
channel_start_relay(struct channel *ch)
{
	channel_set_state(ch, CH_RELAY);
	channel_bev_setup(ch);
	bufferevent_enable(ch->ch_bev, EV_READ | EV_WRITE);
	/*
	 * A half-close that came during the dial, with nothing to write:
	 * shut the write side now (our own side has not ended yet, so this
	 * cannot close the channel).
	 */
	if (ch->ch_flags & CHF_REMOTE_EOF)
		channel_write(ch->ch_bev, ch);
	if (evbuffer_get_length(bufferevent_get_input(ch->ch_bev)) > 0)
		channel_pump(ch);
}

int
channel_attach(struct channel *ch, struct tunnel *t)
{
	int	tries;

	if (ch->ch_timer != NULL) {	/* the SOCKS handshake timer */
		event_free(ch->ch_timer);
		ch->ch_timer = NULL;
	}
	for (tries = 0; tries < 8; tries++) {
		util_random(ch->ch_id, sizeof(ch->ch_id));
		ch->ch_id[6] = (ch->ch_id[6] & 0x0f) | 0x40;
		ch->ch_id[8] = (ch->ch_id[8] & 0x3f) | 0x80;
		if (tunnel_add(t, ch) == 0)
			return (0);
	}
	return (-1);
}

/* Until ConnectResponse(1): ConnectTimeout + 5 s, then give up. */
void
channel_guard(struct channel *ch)
{
	channel_timer(ch, (ch->ch_flags & CHF_CONFIRMED) ? 0 :
	    LS_FASTOPEN_GUARD);
}

/*
 * A reference server relays a connector's channel in a background task
 * and drops Data that comes before it is done (spec P-6).  A connector
 * whose server did not offer our extensions still answers at once with
 * fast open, but holds the application's bytes until the connect is
 * confirmed, so none is lost.
 */
static int
channel_fastopen_holds(const struct tunnel *t)
{
	return (strcmp(ls_conf->c_subcmd, "connector") == 0 &&
	    !t->t_halfclose && !t->t_credit);
}

/* SOCKS side: send Connect on t; fast open answers the app at once. */
void
channel_socks_start(struct channel *ch, struct tunnel *t)
{
	if (channel_attach(ch, t) == -1) {
		socks5_reply(bufferevent_get_output(ch->ch_bev), S5_REP_FAIL,
		    NULL);
		channel_close(ch, "cannot register channel", 1);
		return;
	}
	log_debug("channel %s open %s:%u via %s%s", log_id(ch->ch_id),
	    ch->ch_host, ch->ch_port, t->t_name,
	    ls_conf->c_fastopen ? " (fast open)" : "");
	channel_set_state(ch, CH_CONNECTING);
	if (msg_put_connect(t->t_out, PROTO_TCP, ch->ch_id, ch->ch_host,
	    ch->ch_port) == -1 || tunnel_flush_msg(t) == -1) {
		ch->ch_flags |= CHF_DISC_SENT;
		socks5_reply(bufferevent_get_output(ch->ch_bev),
		    S5_REP_HOSTUNREACH, NULL);
		channel_close(ch, "cannot send Connect", 1);
		return;
	}
	channel_guard(ch);
	if (ls_conf->c_fastopen) {
		/* Success first; the app's bytes follow the Connect in order. */
		ch->ch_flags |= CHF_FASTOPEN;
		socks5_reply(bufferevent_get_output(ch->ch_bev), S5_REP_OK,
		    NULL);
		if (!channel_fastopen_holds(t)) {
			channel_start_relay(ch);
			return;
		}
		/* ... but they wait for the connect: see below. */
		ch->ch_flags |= CHF_FOHOLD;
	}
	channel_bev_setup(ch);
	bufferevent_disable(ch->ch_bev, EV_READ);
	bufferevent_enable(ch->ch_bev, EV_WRITE);
}

/* ---- dial side --------------------------------------------------------- */

static void
channel_dial_fail(struct channel *ch, const char *err)
{
	char	text[600];

	snprintf(text, sizeof(text), "dial tcp %s:%u: %s", ch->ch_host,
	    ch->ch_port, err);
	channel_refuse(ch, text);
}

/* Dial side: ConnectResponse(0, text), then the channel goes. */
void
channel_refuse(struct channel *ch, const char *text)
{
	log_info("channel %s: %s", log_id(ch->ch_id), text);
	if (ch->ch_tun != NULL &&
	    msg_put_connect_response(ch->ch_tun->t_out, 0, ch->ch_id,
	    text) == 0)
		tunnel_flush_msg(ch->ch_tun);
	ch->ch_flags |= CHF_DISC_SENT;	/* the failure response says it all */
	channel_close(ch, text, 0);
}

/* Try the next resolved address on a fresh socket, keeping queued data. */
static void
channel_dial_next(struct channel *ch)
{
	struct evutil_addrinfo	*ai = ch->ch_ai_next;
	struct bufferevent	*bev;
	struct evbuffer		*old;
	int			 rc;

	if (ai == NULL) {
		char	err[300];

		snprintf(err, sizeof(err), "connect: %s", ch->ch_err[0] ?
		    ch->ch_err : "no address");
		channel_dial_fail(ch, err);
		return;
	}
	ch->ch_ai_next = ai->ai_next;
	if ((bev = bufferevent_socket_new(ls_worker->w_base, -1,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		channel_dial_fail(ch, "out of memory");
		return;
	}
	if (ch->ch_bev != NULL) {
		/*
		 * Early data (fast open) waits in the old output; move it.  The
		 * bufferevent freezes its output's front: thaw to take it.
		 */
		old = bufferevent_get_output(ch->ch_bev);
		evbuffer_unfreeze(old, 1);
		rc = evbuffer_add_buffer(bufferevent_get_output(bev), old);
		bufferevent_free(ch->ch_bev);
		ch->ch_bev = NULL;
		if (rc == -1) {
			bufferevent_free(bev);
			channel_dial_fail(ch, "out of memory");
			return;
		}
	}
	ch->ch_bev = bev;
	bufferevent_setcb(bev, NULL, NULL, channel_event, ch);
	if (bufferevent_socket_connect(bev, ai->ai_addr,
	    (int)ai->ai_addrlen) == -1) {
		snprintf(ch->ch_err, sizeof(ch->ch_err), "%s",
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		channel_dial_next(ch);
	}
}

static void
channel_dial_resolved(int result, struct evutil_addrinfo *ai, void *arg)
{
	struct channel	*ch = arg;
	char		 err[300];

	if (result == EVUTIL_EAI_CANCEL)
		return;
	ch->ch_dnsreq = NULL;
	if (result != 0 || ai == NULL) {
		if (ai != NULL)
			evutil_freeaddrinfo(ai);
		snprintf(err, sizeof(err), "lookup %s: %s", ch->ch_host,
		    result == EVUTIL_EAI_NONAME ? "no such host" :
		    evutil_gai_strerror(result));
		channel_dial_fail(ch, err);
		return;
	}
	ch->ch_ai = ch->ch_ai_next = ai;
	channel_dial_next(ch);
}

/* A dial-side channel for Connect m, registered on t. */
struct channel *
channel_new_dial(struct tunnel *t, const struct msg *m)
{
	struct channel	*ch;

	if ((ch = calloc(1, sizeof(*ch))) == NULL) {
		log_warnx("%s: out of memory", __func__);
		return (NULL);
	}
	memcpy(ch->ch_id, m->m_id, sizeof(ch->ch_id));
	ch->ch_flags = CHF_DIAL;
	ch->ch_port = m->m_port;
	ch->ch_host = channel_nohost;
	if (channel_set_host(ch, (const char *)m->m_addr.p, m->m_addr.len) ==
	    -1) {
		log_warnx("%s: out of memory", __func__);
		free(ch);
		return (NULL);
	}
	if (tunnel_add(t, ch) == -1) {
		log_warnx("tunnel %s: Connect for channel %s already open, "
		    "ignored", t->t_name, log_id(m->m_id));
		free(ch->ch_host);
		free(ch);
		return (NULL);
	}
	ls_worker->w_channels++;
	worker_load_changed();
	channel_set_state(ch, CH_CONNECTING);
	return (ch);
}

/* Connect received on t: dial the target; data may already follow. */
void
channel_dial(struct tunnel *t, const struct msg *m)
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
	if ((ch = channel_new_dial(t, m)) == NULL)
		return;
	/* A queue for early data exists before anything else can arrive. */
	if ((ch->ch_bev = bufferevent_socket_new(ls_worker->w_base, -1,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		channel_dial_fail(ch, "out of memory");
		return;
	}
	bufferevent_setcb(ch->ch_bev, NULL, NULL, channel_event, ch);

	if (m->m_proto != PROTO_TCP)
		why = "unsupported protocol";
	else if (m->m_port == 0)
		why = "invalid port 0";	/* P-19: answer, don't go silent */
	else if (m->m_addr.len == 0 ||
	    memchr(m->m_addr.p, '\0', m->m_addr.len) != NULL)
		why = "invalid address";
	if (why != NULL) {
		channel_dial_fail(ch, why);
		return;
	}
	log_debug("channel %s dial %s:%u for %s", log_id(ch->ch_id),
	    ch->ch_host, ch->ch_port, t->t_name);
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
	req = evdns_getaddrinfo(ls_worker->w_dns, ch->ch_host, portstr,
	    &hints, channel_dial_resolved, ch);
	if (req != NULL)
		ch->ch_dnsreq = req;
}
