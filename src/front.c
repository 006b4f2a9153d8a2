/*
 * front.c -- the SOCKS5 front end of a worker: accepted application
 * connections, negotiated with the pure parser in socks5.c, then handed
 * to a channel on one of this worker's tunnels.  Requests that find no
 * tunnel wait up to LS_WAIT_TUNNEL seconds for one.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "linksocks.h"

#define FRONT_HANDSHAKE_TIMEOUT	30	/* seconds for greeting + request */

static TAILQ_HEAD(, channel) front_waiters =
    TAILQ_HEAD_INITIALIZER(front_waiters);
static unsigned	front_nwaiting;

static void	front_read(struct bufferevent *, void *);
static void	front_event(struct bufferevent *, short, void *);
static void	front_timeout(evutil_socket_t, short, void *);
static void	front_request(struct channel *);
static void	front_fail(struct channel *, uint8_t, const char *);
static void	front_handoff(struct channel *, int);
static void	front_start(struct channel *, struct tunnel *);

unsigned
front_waiting(void)
{
	return (front_nwaiting);
}

void
front_unwait(struct channel *ch)
{
	if (!ch->ch_onlist)
		return;
	TAILQ_REMOVE(&front_waiters, ch, ch_entry);
	ch->ch_onlist = 0;
	front_nwaiting--;
}

static struct channel *
front_new(evutil_socket_t fd, struct group *g)
{
	struct channel	*ch;

	if ((ch = calloc(1, sizeof(*ch))) == NULL) {
		log_warnx("%s: out of memory", __func__);
		close(fd);
		return (NULL);
	}
	ch->ch_group = g;
	ch->ch_state = CH_SOCKS;
	ch->ch_host = channel_nohost;
	if ((ch->ch_s5 = malloc(sizeof(*ch->ch_s5))) == NULL) {
		log_warnx("%s: out of memory", __func__);
		close(fd);
		free(ch);
		return (NULL);
	}
	socks5_init(ch->ch_s5, ls_conf->c_socks_user, ls_conf->c_socks_pass);
	if ((ch->ch_bev = bufferevent_socket_new(ls_worker->w_base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL ||
	    (ch->ch_timer = evtimer_new(ls_worker->w_base, front_timeout,
	    ch)) == NULL) {
		log_warnx("%s: out of memory", __func__);
		if (ch->ch_bev != NULL)
			bufferevent_free(ch->ch_bev);
		else
			close(fd);
		free(ch->ch_s5);
		free(ch);
		return (NULL);
	}
	ls_worker->w_channels++;
	worker_load_changed();
	bufferevent_setcb(ch->ch_bev, front_read, NULL, front_event, ch);
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
	snprintf(ch->ch_peer, sizeof(ch->ch_peer), "%s", h->ih_peer);
	ch->ch_flags |= CHF_ADOPTED;
	ch->ch_s5->s5_state = S5_DONE;
	ch->ch_s5->s5_cmd = h->ih_cmd;
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
	bufferevent_enable(ch->ch_bev, EV_WRITE);
	log_debug("socks %s: adopted %s:%u from another worker", ch->ch_peer,
	    h->ih_host, h->ih_port);
	front_request(ch);
}

void
front_accept(evutil_socket_t fd, const struct sockaddr *sa, int salen,
    struct group *g)
{
	struct channel	*ch;
	struct timeval	 tv = { FRONT_HANDSHAKE_TIMEOUT, 0 };

	if (ls_worker->w_draining) {
		close(fd);
		return;
	}
	util_set_nodelay(fd);
	if ((ch = front_new(fd, g)) == NULL)
		return;
	util_sockaddr_str(sa, ch->ch_peer, sizeof(ch->ch_peer));
	bufferevent_enable(ch->ch_bev, EV_READ | EV_WRITE);
	evtimer_add(ch->ch_timer, &tv);
	log_trace("socks %s: accepted", ch->ch_peer);
}

static void
front_fail(struct channel *ch, uint8_t rep, const char *why)
{
	if (rep != 0xff)
		socks5_reply(bufferevent_get_output(ch->ch_bev), rep, NULL);
	log_info("socks %s: %s", ch->ch_peer, why);
	channel_close(ch, why, 1);
}

static void
front_read(struct bufferevent *bev, void *arg)
{
	struct channel	*ch = arg;

	switch (socks5_input(ch->ch_s5, bufferevent_get_input(bev),
	    bufferevent_get_output(bev))) {
	case S5_FAILED:
		log_info("socks %s: %s", ch->ch_peer, ch->ch_s5->s5_error ?
		    ch->ch_s5->s5_error : "negotiation failed");
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
	int			 fd;

	struct evbuffer		*out = bufferevent_get_output(ch->ch_bev);

	/* Replies we owe (greeting, auth) must reach the app before the move. */
	size_t			 olen = evbuffer_get_length(out);
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
		evbuffer_drain(out, olen);
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
	h->ih_datalen = (uint32_t)n;
	snprintf(h->ih_key, sizeof(h->ih_key), "%s", ch->ch_group->g_key);
	snprintf(h->ih_host, sizeof(h->ih_host), "%s", ch->ch_host);
	snprintf(h->ih_peer, sizeof(h->ih_peer), "%s", ch->ch_peer);
	evbuffer_copyout(in, buf + sizeof(*h), n);
	log_debug("socks %s: %s:%u handed to worker %d", ch->ch_peer,
	    ch->ch_host, ch->ch_port, worker);
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
	if (udp)
		udp_socks_start(ch, t);
	else
		channel_socks_start(ch, t);
}

static void
front_request(struct channel *ch)
{
	struct tunnel	*t;
	struct timeval	 tv = { LS_WAIT_TUNNEL, 0 };
	int		 worker;

	if (channel_set_host(ch, ch->ch_s5->s5_host,
	    strlen(ch->ch_s5->s5_host)) == -1) {
		front_fail(ch, S5_REP_FAIL, "out of memory");
		return;
	}
	ch->ch_port = ch->ch_s5->s5_port;
	/* Stop reading: early data stays queued until the channel runs. */
	bufferevent_disable(ch->ch_bev, EV_READ);
	evtimer_del(ch->ch_timer);
	if ((t = front_pick_tunnel(ch, &worker)) != NULL) {
		front_start(ch, t);
		return;
	}
	if (worker >= 0) {
		front_handoff(ch, worker);
		return;
	}
	log_debug("socks %s: %s:%u waits for a tunnel", ch->ch_peer,
	    ch->ch_host, ch->ch_port);
	channel_set_state(ch, CH_WAIT_TUNNEL);
	TAILQ_INSERT_TAIL(&front_waiters, ch, ch_entry);
	ch->ch_onlist = 1;
	front_nwaiting++;
	evtimer_add(ch->ch_timer, &tv);
}

struct tunnel *
front_pick_tunnel(struct channel *ch, int *worker)
{
	*worker = -1;
	if (ch->ch_group == NULL)
		return (client_pick_tunnel());
	/* A handed-off request moves once: it takes a provider here. */
	if (ch->ch_flags & CHF_ADOPTED)
		return (server_pick_local(ch->ch_group));
	return (server_pick_provider(ch->ch_group, worker));
}

/* A tunnel came up: start every waiting request that can go. */
void
front_tunnel_available(void)
{
	struct channel	*ch, *next;
	struct tunnel	*t;
	int		 worker;

	for (ch = TAILQ_FIRST(&front_waiters); ch != NULL; ch = next) {
		next = TAILQ_NEXT(ch, ch_entry);
		t = front_pick_tunnel(ch, &worker);
		if (t == NULL && worker < 0)
			continue;
		front_unwait(ch);
		evtimer_del(ch->ch_timer);
		if (t != NULL)
			front_start(ch, t);
		else
			front_handoff(ch, worker);
	}
}

static void
front_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct channel	*ch = arg;

	if (ch->ch_state == CH_WAIT_TUNNEL) {
		front_unwait(ch);
		front_fail(ch, S5_REP_NETUNREACH, "no tunnel available within "
		    "10 s");
		return;
	}
	log_info("socks %s: handshake timeout", ch->ch_peer);
	channel_close(ch, "SOCKS5 handshake timeout", 0);
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
