/*
 * socks.c -- the SOCKS5 frontend of a worker: accepted application
 * connections, negotiated with the pure parser in socks5.c, then handed
 * to a channel on one of this worker's tunnels.  Requests that find no
 * tunnel wait up to LS_WAIT_TUNNEL seconds for one.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "linksocks.h"

#define SOCKS_HANDSHAKE_TIMEOUT	30	/* seconds for greeting + request */

static TAILQ_HEAD(, channel) socks_waiters =
    TAILQ_HEAD_INITIALIZER(socks_waiters);
static unsigned	socks_nwaiting;

static void	socks_read(struct bufferevent *, void *);
static void	socks_event(struct bufferevent *, short, void *);
static void	socks_timeout(evutil_socket_t, short, void *);
static void	socks_request(struct channel *);
static void	socks_fail(struct channel *, uint8_t, const char *);

unsigned
socks_waiting(void)
{
	return (socks_nwaiting);
}

void
socks_unwait(struct channel *ch)
{
	if (!ch->ch_onlist)
		return;
	TAILQ_REMOVE(&socks_waiters, ch, ch_entry);
	ch->ch_onlist = 0;
	socks_nwaiting--;
}

void
socks_accept(evutil_socket_t fd, const struct sockaddr *sa, int salen)
{
	struct channel	*ch;
	struct timeval	 tv = { SOCKS_HANDSHAKE_TIMEOUT, 0 };

	if (ls_worker->w_draining) {
		close(fd);
		return;
	}
	if ((ch = calloc(1, sizeof(*ch))) == NULL) {
		log_warnx("%s: out of memory", __func__);
		close(fd);
		return;
	}
	util_sockaddr_str(sa, ch->ch_peer, sizeof(ch->ch_peer));
	util_set_nodelay(fd);
	ch->ch_state = CH_SOCKS;
	socks5_init(&ch->ch_s5, ls_conf->c_socks_user, ls_conf->c_socks_pass);
	if ((ch->ch_bev = bufferevent_socket_new(ls_worker->w_base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL ||
	    (ch->ch_timer = evtimer_new(ls_worker->w_base, socks_timeout,
	    ch)) == NULL) {
		log_warnx("%s: out of memory", __func__);
		if (ch->ch_bev != NULL)
			bufferevent_free(ch->ch_bev);
		else
			close(fd);
		free(ch);
		return;
	}
	ls_worker->w_channels++;
	worker_load_changed();
	bufferevent_setcb(ch->ch_bev, socks_read, NULL, socks_event, ch);
	bufferevent_setwatermark(ch->ch_bev, EV_READ, 0, 2 * CH_READ_CHUNK);
	bufferevent_enable(ch->ch_bev, EV_READ | EV_WRITE);
	evtimer_add(ch->ch_timer, &tv);
	log_trace("socks %s: accepted", ch->ch_peer);
}

static void
socks_fail(struct channel *ch, uint8_t rep, const char *why)
{
	if (rep != 0xff)
		socks5_reply(bufferevent_get_output(ch->ch_bev), rep, NULL);
	log_info("socks %s: %s", ch->ch_peer, why);
	channel_close(ch, why, 1);
}

static void
socks_read(struct bufferevent *bev, void *arg)
{
	struct channel	*ch = arg;

	switch (socks5_input(&ch->ch_s5, bufferevent_get_input(bev),
	    bufferevent_get_output(bev))) {
	case S5_FAILED:
		log_info("socks %s: %s", ch->ch_peer, ch->ch_s5.s5_error ?
		    ch->ch_s5.s5_error : "negotiation failed");
		channel_close(ch, "SOCKS5 negotiation failed", 1);
		return;
	case S5_DONE:
		socks_request(ch);
		return;
	default:
		return;
	}
}

static void
socks_request(struct channel *ch)
{
	struct tunnel	*t;
	struct timeval	 tv = { LS_WAIT_TUNNEL, 0 };

	snprintf(ch->ch_host, sizeof(ch->ch_host), "%s", ch->ch_s5.s5_host);
	ch->ch_port = ch->ch_s5.s5_port;
	/* Stop reading: early data stays queued until the channel runs. */
	bufferevent_disable(ch->ch_bev, EV_READ);
	evtimer_del(ch->ch_timer);
	if (ch->ch_s5.s5_cmd != S5_CMD_CONNECT) {
		socks_fail(ch, S5_REP_CMD, "UDP ASSOCIATE is not supported yet");
		return;
	}
	if ((t = socks_pick_tunnel()) != NULL) {
		channel_socks_start(ch, t);
		return;
	}
	log_debug("socks %s: %s:%u waits for a tunnel", ch->ch_peer,
	    ch->ch_host, ch->ch_port);
	channel_set_state(ch, CH_WAIT_TUNNEL);
	TAILQ_INSERT_TAIL(&socks_waiters, ch, ch_entry);
	ch->ch_onlist = 1;
	socks_nwaiting++;
	evtimer_add(ch->ch_timer, &tv);
}

struct tunnel *
socks_pick_tunnel(void)
{
	return (client_pick_tunnel());
}

/* A tunnel came up: start every waiting request that can go. */
void
socks_tunnel_available(void)
{
	struct channel	*ch;
	struct tunnel	*t;

	while ((ch = TAILQ_FIRST(&socks_waiters)) != NULL &&
	    (t = socks_pick_tunnel()) != NULL) {
		socks_unwait(ch);
		evtimer_del(ch->ch_timer);
		channel_socks_start(ch, t);
	}
}

static void
socks_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct channel	*ch = arg;

	if (ch->ch_state == CH_WAIT_TUNNEL) {
		socks_unwait(ch);
		socks_fail(ch, S5_REP_NETUNREACH, "no tunnel available within "
		    "10 s");
		return;
	}
	log_info("socks %s: handshake timeout", ch->ch_peer);
	channel_close(ch, "SOCKS5 handshake timeout", 0);
}

static void
socks_event(struct bufferevent *bev, short what, void *arg)
{
	struct channel	*ch = arg;

	if (ch->ch_state == CH_WAIT_TUNNEL && (what & BEV_EVENT_EOF) &&
	    (what & BEV_EVENT_READING)) {
		/* The app half-closed after its request: keep waiting. */
		return;
	}
	log_trace("socks %s: closed during negotiation", ch->ch_peer);
	channel_close(ch, "client closed", 0);
}
