/*
 * tunnel.c -- one WebSocket connection carrying linksocks channels.  The
 * tunnel decodes messages, routes channel traffic (Data, ConnectResponse,
 * Disconnect) to the channel with that id *on this tunnel* (P-25), and
 * does backpressure: channels that find the WebSocket output full wait on
 * t_blocked; channels whose local output is full pause the WebSocket
 * reader (lossless, P-1).
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "linksocks.h"

#define TUNNEL_MIN_SLOTS	64

static void	tunnel_ws_open(struct ws_conn *, void *);
static void	tunnel_ws_message(struct ws_conn *, struct evbuffer *, void *);
static void	tunnel_ws_drain(struct ws_conn *, void *);
static void	tunnel_ws_pong(struct ws_conn *, void *);
static void	tunnel_ws_closed(struct ws_conn *, const char *, void *);
static void	tunnel_keepalive(evutil_socket_t, short, void *);
static void	tunnel_free(void *);
static void	tunnel_channel_message(struct tunnel *, struct channel *,
		    const struct msg *, struct evbuffer *);
static void	tunnel_link_read(struct bufferevent *, void *);
static void	tunnel_link_write(struct bufferevent *, void *);

/* A peer may send garbage at will: one line a second about it. */
static struct log_rl	tunnel_rl_malformed = LOG_RL_INIT(1.0);
static void	tunnel_link_event(struct bufferevent *, short, void *);
static void	tunnel_link_kick(evutil_socket_t, short, void *);
static size_t	tunnel_hash(const uint8_t *, size_t);
static void	tunnel_teardown(struct tunnel *, const char *, int, uint16_t);
static void	tunnel_auth_message(struct tunnel *, struct evbuffer *, size_t);

const struct ws_cb tunnel_ws_cb = {
	.ws_open = tunnel_ws_open,
	.ws_message = tunnel_ws_message,
	.ws_drain = tunnel_ws_drain,
	.ws_pong = tunnel_ws_pong,
	.ws_closed = tunnel_ws_closed,
};

static const char *const tunnel_states[] = {
	[TUN_CONNECTING] = "CONNECTING",
	[TUN_AUTH] = "AUTH",
	[TUN_OPEN] = "OPEN",
	[TUN_CLOSED] = "CLOSED",
};

const char *
tunnel_strstate(enum tunnel_state st)
{
	if ((size_t)st >= LS_NITEMS(tunnel_states))
		return ("?");
	return (tunnel_states[st]);
}

#define TUN_TO(s)	(1u << (s))
/* Where each state may go; anything else is a bug. */
static const unsigned tunnel_moves[] = {
	[TUN_CONNECTING] = TUN_TO(TUN_AUTH) | TUN_TO(TUN_OPEN) |
	    TUN_TO(TUN_CLOSED),
	[TUN_AUTH] = TUN_TO(TUN_OPEN) | TUN_TO(TUN_CLOSED),
	[TUN_OPEN] = TUN_TO(TUN_CLOSED),
	[TUN_CLOSED] = 0,
};

void
tunnel_set_state(struct tunnel *t, enum tunnel_state st)
{
	if (t->t_state == st)
		return;
	if ((size_t)st >= LS_NITEMS(tunnel_states) ||
	    !(tunnel_moves[t->t_state] & TUN_TO(st))) {
		log_warnx("BUG: tunnel %s: %s -> %s", t->t_name,
		    tunnel_strstate(t->t_state), tunnel_strstate(st));
#ifdef LS_STRICT
		abort();
#endif
	}
	log_trace("tunnel %s: %s -> %s", t->t_name, tunnel_strstate(t->t_state),
	    tunnel_strstate(st));
	if (t->t_link != NULL)
		;	/* worker links are not client tunnels */
	else if (st == TUN_OPEN && t->t_state != TUN_OPEN) {
		ls_worker->w_tunnels++;
		STAT_INC(ST_TUNNELS_TOTAL);
		TSTAT_ADD(t->t_stats, TS_TUNNELS_OPEN, 1);
		TSTAT_ADD(t->t_stats, TS_TUNNELS_TOTAL, 1);
		worker_load_changed();
	} else if (st != TUN_OPEN && t->t_state == TUN_OPEN) {
		ls_worker->w_tunnels--;
		TSTAT_ADD(t->t_stats, TS_TUNNELS_OPEN, -1);
		worker_load_changed();
	}
	t->t_state = st;
}

struct tunnel *
tunnel_new(struct ws_conn *ws, int client, const struct tunnel_ops *ops,
    void *arg)
{
	struct tunnel	*t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return (NULL);
	t->t_ws = ws;
	t->t_client = client;
	t->t_ops = ops;
	t->t_arg = arg;
	t->t_state = TUN_CONNECTING;
	t->t_refs = 1;
	TAILQ_INIT(&t->t_blocked);
	t->t_chans.ct_size = TUNNEL_MIN_SLOTS;
	t->t_chans.ct_slots = calloc(t->t_chans.ct_size, sizeof(void *));
	t->t_out = evbuffer_new();
	t->t_timer = evtimer_new(ls_worker->w_base, tunnel_keepalive, t);
	if (t->t_chans.ct_slots == NULL || t->t_out == NULL ||
	    t->t_timer == NULL) {
		t->t_ws = NULL;
		tunnel_free(t);
		return (NULL);
	}
	snprintf(t->t_name, sizeof(t->t_name), "%s", ws_peer(ws));
	ws_set_cb(ws, &tunnel_ws_cb, t);
	return (t);
}

static void
tunnel_free(void *arg)
{
	struct tunnel	*t = arg;

	free(t->t_chans.ct_slots);
	if (t->t_out != NULL)
		evbuffer_free(t->t_out);
	if (t->t_linkmsg != NULL)
		evbuffer_free(t->t_linkmsg);
	if (t->t_timer != NULL)
		event_free(t->t_timer);
	free(t->t_token);
	free(t->t_route);
	free(t);
}

void
tunnel_ref(struct tunnel *t)
{
	t->t_refs++;
}

/* The last reference of a closed tunnel: free it from the loop. */
void
tunnel_unref(struct tunnel *t)
{
	if (--t->t_refs == 0)
		worker_defer(tunnel_free, t);
}

/*
 * The one teardown.  Channels go first (each flushes what it holds to its
 * local socket), then the owner hears about it, then the memory goes.
 */
static void
tunnel_teardown(struct tunnel *t, const char *why, int from_ws, uint16_t code)
{
	struct chan_table	*ct = &t->t_chans;
	struct channel		*ch;
	size_t			 i;

	if (t->t_state == TUN_CLOSED)
		return;
	log_debug("tunnel %s closed: %s (%zu channel%s)", t->t_name, why,
	    ct->ct_count, ct->ct_count == 1 ? "" : "s");
	tunnel_set_state(t, TUN_CLOSED);
	for (i = 0; i < ct->ct_size; i++)
		while ((ch = ct->ct_slots[i]) != NULL) {
			ch->ch_ops->co_gone(ch, "tunnel closed");
			if (ct->ct_slots[i] == ch) {
				log_warnx("%s: %s channel %s stayed on a closed "
				    "tunnel", __func__, ch->ch_ops->co_name,
				    log_id(ch->ch_id));
				tunnel_remove(t, ch);
			}
		}
	while ((ch = TAILQ_FIRST(&t->t_blocked)) != NULL) {
		TAILQ_REMOVE(&t->t_blocked, ch, ch_blocked);
		ch->ch_flags &= ~CHF_BLOCKED;
	}
	if (t->t_link != NULL) {
		bufferevent_free(t->t_link);
		t->t_link = NULL;
		if (t->t_link_ev != NULL)
			event_free(t->t_link_ev);
		t->t_link_ev = NULL;
	} else if (!from_ws)
		ws_close(t->t_ws, code, code == 1000 ? "" : why);
	t->t_ws = NULL;
	t->t_ops->to_closed(t, why);
	tunnel_unref(t);	/* the reference of an open tunnel */
}

void
tunnel_close(struct tunnel *t, const char *why)
{
	tunnel_teardown(t, why, 0, 1000);
}

/* The same with a WebSocket close code (1008 policy, 1013 try later). */
void
tunnel_close_code(struct tunnel *t, uint16_t code, const char *why)
{
	tunnel_teardown(t, why, 0, code);
}

int
tunnel_flush_msg(struct tunnel *t)
{
	uint32_t	len;
	uint8_t		h[2];

	if (t->t_link != NULL && t->t_state != TUN_CLOSED) {
		/* Worker link: a length, then the frame, unchanged. */
		len = (uint32_t)evbuffer_get_length(t->t_out);
		if (bufferevent_write(t->t_link, &len, sizeof(len)) == -1 ||
		    bufferevent_write_buffer(t->t_link, t->t_out) == -1)
			return (-1);
		return (0);
	}
	if (t->t_state == TUN_CLOSED || t->t_ws == NULL) {
		evbuffer_drain(t->t_out, evbuffer_get_length(t->t_out));
		return (-1);
	}
	/* A relayed Data message (agent mode) counts as data sent. */
	len = (uint32_t)evbuffer_get_length(t->t_out);
	if (len > MSG_DATA_HDR && evbuffer_copyout(t->t_out, h, 2) == 2 &&
	    h[1] == MSG_DATA)
		t->t_bytes_out += len - MSG_DATA_HDR;
	return (ws_send_evbuffer(t->t_ws, t->t_out));
}

/*
 * The header goes straight into the output (usually into the free end
 * of the last payload's chain), and the payload's chains follow it: no
 * copy, and mostly no allocation, per message.
 */
int
tunnel_send_data(struct tunnel *t, const uint8_t *id, struct evbuffer *src,
    size_t n)
{
	uint8_t		h[MSG_DATA_HDR];

	t->t_bytes_out += n;
	if (t->t_link != NULL) {
		/* Worker links frame with a length: build the whole message. */
		if (msg_put_data_evbuffer(t->t_out, id, src, n) == -1)
			return (-1);
		return (tunnel_flush_msg(t));
	}
	msg_data_header(h, id, (uint32_t)n);
	if (t->t_state == TUN_CLOSED || t->t_ws == NULL) {
		evbuffer_drain(src, n);
		return (-1);
	}
	STAT_ADD(ST_BYTES_OUT, n);
	TSTAT_ADD(t->t_stats, TS_BYTES_OUT, n);
	return (ws_send_parts(t->t_ws, h, sizeof(h), src, n));
}

int
tunnel_writable(struct tunnel *t)
{
	if (t->t_link != NULL)
		return (evbuffer_get_length(bufferevent_get_output(t->t_link)) <
		    WS_OUT_HIGH);
	return (t->t_ws != NULL && ws_output_len(t->t_ws) < WS_OUT_HIGH);
}

void
tunnel_block(struct tunnel *t, struct channel *ch)
{
	if (ch->ch_flags & CHF_BLOCKED)
		return;
	ch->ch_flags |= CHF_BLOCKED;
	TAILQ_INSERT_TAIL(&t->t_blocked, ch, ch_blocked);
}

void
tunnel_pause(struct tunnel *t, int on)
{
	if (on) {
		if (t->t_pausers++ == 0 && t->t_link != NULL)
			bufferevent_disable(t->t_link, EV_READ);
		else if (t->t_pausers == 1 && t->t_ws != NULL)
			ws_pause(t->t_ws, 1);
	} else if (t->t_pausers > 0) {
		if (--t->t_pausers == 0 && t->t_link != NULL) {
			bufferevent_enable(t->t_link, EV_READ);
			/* Frames already read wait for the next pass. */
			event_active(t->t_link_ev, EV_TIMEOUT, 0);
		} else if (t->t_pausers == 0 && t->t_ws != NULL)
			ws_pause(t->t_ws, 0);
	}
}

/* ---- extensions (doc/protocol-extensions.md) -------------------------- */

const char *
tunnel_feature_line(void)
{
	static char	line[96];

	if (ls_conf->c_no_ext)
		return ("");
	snprintf(line, sizeof(line), LS_FEATURE_HEADER ": halfclose, "
	    "credit=%u\r\n", ls_conf->c_window);
	return (line);
}

/*
 * "halfclose, credit=4194304": unknown names and bad values ignored.  The
 * whole value, however long: a cut one misreads its last item.
 */
void
tunnel_features(const char *v, int *halfclose, uint32_t *window)
{
	char		*buf, *tok, *last, *val, *end;
	unsigned long	 n;
	size_t		 len;

	*halfclose = 0;
	*window = 0;
	if (v == NULL || ls_conf->c_no_ext || (buf = strdup(v)) == NULL)
		return;
	for (tok = strtok_r(buf, ",", &last); tok != NULL;
	    tok = strtok_r(NULL, ",", &last)) {
		while (isspace((unsigned char)*tok))
			tok++;
		len = strlen(tok);
		while (len > 0 && isspace((unsigned char)tok[len - 1]))
			tok[--len] = '\0';
		if ((val = strchr(tok, '=')) != NULL)
			*val++ = '\0';
		if (strcasecmp(tok, "halfclose") == 0 && val == NULL)
			*halfclose = 1;
		else if (strcasecmp(tok, "credit") == 0 && val != NULL &&
		    isdigit((unsigned char)*val)) {
			n = strtoul(val, &end, 10);
			if (*end == '\0' && n >= LS_WINDOW_MIN &&
			    n <= LS_WINDOW_MAX)
				*window = (uint32_t)n;
		}
	}
	free(buf);
}

/* " (half-close, credit)" or "" for logs. */
const char *
tunnel_feature_text(const struct tunnel *t)
{
	if (t->t_halfclose && t->t_credit)
		return (" (half-close, credit)");
	if (t->t_halfclose)
		return (" (half-close)");
	if (t->t_credit)
		return (" (credit)");
	return ("");
}

void
tunnel_set_features(struct tunnel *t, int halfclose, uint32_t window)
{
	t->t_halfclose = halfclose;
	t->t_credit = window != 0;
	t->t_peer_window = window;
}

/* ---- channel table: chained hash on the (random) channel id -------- */

/*
 * The peer chooses channel ids: a keyed hash with a per-process random
 * key, so that it cannot put every channel of a tunnel in one bucket.
 */
static size_t
tunnel_hash(const uint8_t *id, size_t size)
{
	static uint8_t	key[16];
	static int	keyed;

	if (!keyed) {
		util_random(key, sizeof(key));
		keyed = 1;
	}
	return ((size_t)util_siphash(key, id, LS_CHANNEL_ID_LEN) &
	    (size - 1));
}

struct channel *
tunnel_find(struct tunnel *t, const uint8_t *id)
{
	struct channel	*ch;

	for (ch = t->t_chans.ct_slots[tunnel_hash(id, t->t_chans.ct_size)];
	    ch != NULL; ch = ch->ch_hnext)
		if (memcmp(ch->ch_id, id, LS_CHANNEL_ID_LEN) == 0)
			return (ch);
	return (NULL);
}

static int
tunnel_grow(struct tunnel *t)
{
	struct chan_table	*ct = &t->t_chans;
	struct channel		**slots, *ch, *next;
	size_t			 i, nsize = ct->ct_size * 2, h;

	if ((slots = calloc(nsize, sizeof(*slots))) == NULL)
		return (-1);
	for (i = 0; i < ct->ct_size; i++)
		for (ch = ct->ct_slots[i]; ch != NULL; ch = next) {
			next = ch->ch_hnext;
			h = tunnel_hash(ch->ch_id, nsize);
			ch->ch_hnext = slots[h];
			slots[h] = ch;
		}
	free(ct->ct_slots);
	ct->ct_slots = slots;
	ct->ct_size = nsize;
	return (0);
}

int
tunnel_full(const struct tunnel *t)
{
	return (t->t_chans.ct_count >= (size_t)ls_conf->c_max_channels);
}

void
tunnel_count_connect(struct tunnel *t, enum stat_id st)
{
	STAT_INC(st);
	if (st != ST_CONNECT_OK && t != NULL)
		TSTAT_ADD(t->t_stats, TS_CONNECT_FAILED, 1);
}

void
tunnel_refuse(struct tunnel *t, const struct msg *m, const char *text)
{
	const uint8_t	*id = m->m_id;

	if (m->m_proto == PROTO_UDP)
		STAT_INC(ST_UDP_LIMIT);
	else
		tunnel_count_connect(t, ST_CONNECT_LIMIT);
	t->t_refused++;
	if ((t->t_refused & (t->t_refused - 1)) == 0 &&
	    strcmp(text, LIMITS_CHANNEL_TEXT) == 0)
		log_info("tunnel %s: Connect for channel %s refused: %s (%u "
		    "refused on this tunnel; the token's limit in this worker "
		    "is %u channels)", t->t_name, log_id(id), text,
		    t->t_refused, t->t_use != NULL ?
		    t->t_use->tu_limits.tl_max_channels : 0);
	else if ((t->t_refused & (t->t_refused - 1)) == 0)
		log_info("tunnel %s: Connect for channel %s refused: %s (%u "
		    "refused on this tunnel; limits %d channels, %d UDP)",
		    t->t_name, log_id(id), text, t->t_refused,
		    ls_conf->c_max_channels, ls_conf->c_max_udp);
	if (t->t_state == TUN_OPEN &&
	    msg_put_connect_response(t->t_out, 0, id, text) == 0)
		tunnel_flush_msg(t);
}

int
tunnel_add(struct tunnel *t, struct channel *ch)
{
	struct chan_table	*ct = &t->t_chans;
	size_t			 h;

	if (tunnel_find(t, ch->ch_id) != NULL)
		return (-1);
	if (ct->ct_count >= ct->ct_size && tunnel_grow(t) == -1)
		return (-1);
	h = tunnel_hash(ch->ch_id, ct->ct_size);
	ch->ch_hnext = ct->ct_slots[h];
	ct->ct_slots[h] = ch;
	ct->ct_count++;
	if (t->t_link == NULL) {
		STAT_INC(ST_CHANNELS_OPEN);
		STAT_INC(ST_CHANNELS_TOTAL);
		TSTAT_ADD(t->t_stats, TS_CHANNELS_OPEN, 1);
		TSTAT_ADD(t->t_stats, TS_CHANNELS_TOTAL, 1);
	}
	ch->ch_tun = t;
	if (t->t_credit) {
		ch->ch_tx_credit = t->t_peer_window;
		ch->ch_rx_limit = ls_conf->c_window;
		ch->ch_rx_added = ch->ch_rx_acked = 0;
	}
	return (0);
}

void
tunnel_remove(struct tunnel *t, struct channel *ch)
{
	struct channel	**pp;

	for (pp = &t->t_chans.ct_slots[tunnel_hash(ch->ch_id,
	    t->t_chans.ct_size)]; *pp != NULL; pp = &(*pp)->ch_hnext)
		if (*pp == ch) {
			*pp = ch->ch_hnext;
			t->t_chans.ct_count--;
			if (t->t_link == NULL) {
				STAT_ADD(ST_CHANNELS_OPEN, -1);
				TSTAT_ADD(t->t_stats, TS_CHANNELS_OPEN, -1);
			}
			break;
		}
	ch->ch_hnext = NULL;
	if (ch->ch_flags & CHF_BLOCKED) {
		TAILQ_REMOVE(&t->t_blocked, ch, ch_blocked);
		ch->ch_flags &= ~CHF_BLOCKED;
	}
	if (ch->ch_flags & CHF_PAUSING) {
		ch->ch_flags &= ~CHF_PAUSING;
		tunnel_pause(t, 0);
	}
	ch->ch_tun = NULL;
}

/* ---- WebSocket events ------------------------------------------------ */

static void
tunnel_ws_open(struct ws_conn *ws, void *arg)
{
	struct tunnel	*t = arg;

	if (t->t_ops->to_open != NULL)
		t->t_ops->to_open(t);
}

/* Where a malformed message names its channel, end that channel only. */
static void
tunnel_bad_message(struct tunnel *t, const uint8_t *buf, size_t len,
    const char *err)
{
	struct channel	*ch = NULL;

	if (len >= 2 + 1 + LS_CHANNEL_ID_LEN && (buf[1] == MSG_DATA ||
	    buf[1] == MSG_CONNECT_RESPONSE || buf[1] == MSG_CONNECT))
		ch = tunnel_find(t, buf + 3);
	else if (len >= 2 + LS_CHANNEL_ID_LEN && buf[1] == MSG_DISCONNECT)
		ch = tunnel_find(t, buf + 2);
	log_ratelimit(&tunnel_rl_malformed, LL_WARNX, "tunnel %s: dropping "
	    "malformed %s message (%zu bytes): %s%s", t->t_name,
	    msg_typename(len > 1 ? buf[1] : 0), len, err,
	    ch != NULL ? "; closing its channel" : "");
	if (ch != NULL)
		ch->ch_ops->co_gone(ch, "malformed message from peer");
}

static void
tunnel_ws_message(struct ws_conn *ws, struct evbuffer *buf, void *arg)
{
	struct tunnel	*t = arg;

	tunnel_ref(t);
	tunnel_dispatch(t, buf);
	tunnel_unref(t);
}

/*
 * Is buf an uncompressed TCP Data message?  Then its channel id is in
 * h + 3 and its payload follows the 24-byte header.  The checks are
 * those msg_parse makes for such a message.
 */
static int
tunnel_is_tcp_data(struct evbuffer *buf, size_t len, uint8_t *h)
{
	uint32_t	dlen;

	if (len < MSG_DATA_HDR ||
	    evbuffer_copyout(buf, h, MSG_DATA_HDR) != MSG_DATA_HDR)
		return (0);
	dlen = (uint32_t)h[20] << 24 | (uint32_t)h[21] << 16 |
	    (uint32_t)h[22] << 8 | h[23];
	return ((h[0] >> 4) == (LS_PROTO_VERSION >> 4) && h[1] == MSG_DATA &&
	    h[2] == PROTO_TCP && h[19] == 0 && dlen == len - MSG_DATA_HDR);
}

/*
 * One whole message, all of buf.  TCP Data, nearly all the traffic, is
 * routed from its header and its payload moved on without a copy;
 * everything else is decoded in full.
 */
void
tunnel_dispatch(struct tunnel *t, struct evbuffer *buf)
{
	struct channel	*ch;
	struct msg	 m;
	uint8_t		 h[MSG_DATA_HDR];
	uint8_t		*p;
	size_t		 len = evbuffer_get_length(buf);
	char		 err[256];

	if (t->t_state == TUN_AUTH) {
		tunnel_auth_message(t, buf, len);
		return;
	}
	if (t->t_state == TUN_OPEN && tunnel_is_tcp_data(buf, len, h)) {
		log_trace("tunnel %s: <- Data %zu bytes", t->t_name, len);
		if ((ch = tunnel_find(t, h + 3)) == NULL) {
			log_debug("tunnel %s: Data for unknown channel %s, "
			    "dropped", t->t_name, log_id(h + 3));
			return;
		}
		if (t->t_link == NULL) {
			STAT_ADD(ST_BYTES_IN, len - MSG_DATA_HDR);
			TSTAT_ADD(t->t_stats, TS_BYTES_IN, len - MSG_DATA_HDR);
		}
		t->t_bytes_in += len - MSG_DATA_HDR;
		ch->ch_ops->co_data(ch, buf, len - MSG_DATA_HDR, NULL);
		return;
	}
	if ((p = evbuffer_pullup(buf, -1)) == NULL && len > 0) {
		tunnel_close(t, "out of memory");
		return;
	}
	if (msg_parse(&m, p, len, LS_INFLATE_MAX, err, sizeof(err)) == -1) {
		tunnel_bad_message(t, p, len, err);
		return;
	}
	if (t->t_state != TUN_OPEN) {
		msg_free(&m);
		return;
	}
	log_trace("tunnel %s: <- %s %zu bytes", t->t_name,
	    msg_typename(m.m_type), len);
	switch (m.m_type) {
	case MSG_DATA:
	case MSG_CONNECT_RESPONSE:
	case MSG_DISCONNECT:
	case MSG_WINDOW:
		if ((ch = tunnel_find(t, m.m_id)) == NULL) {
			log_debug("tunnel %s: %s for unknown channel %s, "
			    "dropped", t->t_name, msg_typename(m.m_type),
			    log_id(m.m_id));
			break;
		}
		tunnel_channel_message(t, ch, &m, buf);
		break;
	case MSG_UNKNOWN:
		if (t->t_link != NULL && m.m_rawtype == LS_LINK_ROUTE) {
			t->t_ops->to_message(t, &m, buf);
			break;
		}
		log_trace("tunnel %s: ignoring message type 0x%02x",
		    t->t_name, m.m_rawtype);
		break;
	default:
		t->t_ops->to_message(t, &m, buf);
		break;
	}
	msg_free(&m);
}

/*
 * Before authentication only the one message expected is decoded: Auth
 * on a server's tunnel, AuthResponse on a client's.  The type byte is
 * looked at first, so anything else (a gzip Data message, say) is
 * neither parsed nor inflated: to_auth gets a message with only
 * m_version and m_rawtype set (m_type MSG_UNKNOWN).  ws.c's read limit
 * (LS_PREAUTH_MSG_MAX) keeps what arrives small.
 */
static void
tunnel_auth_message(struct tunnel *t, struct evbuffer *buf, size_t len)
{
	struct msg	 m;
	uint8_t		 h[2], *p;
	int		 want = t->t_client ? MSG_AUTH_RESPONSE : MSG_AUTH;
	char		 err[256];

	if (len >= sizeof(h) && evbuffer_copyout(buf, h, sizeof(h)) ==
	    (ev_ssize_t)sizeof(h) && h[1] != want) {
		memset(&m, 0, sizeof(m));
		m.m_version = h[0];
		m.m_rawtype = h[1];
		m.m_type = MSG_UNKNOWN;
		log_debug("tunnel %s: %s (0x%02x, %zu bytes) before "
		    "authentication", t->t_name, msg_typename(h[1]), h[1],
		    len);
		t->t_ops->to_auth(t, &m, NULL);
		return;
	}
	if ((p = evbuffer_pullup(buf, -1)) == NULL && len > 0) {
		tunnel_close(t, "out of memory");
		return;
	}
	/* Neither Auth nor AuthResponse is ever compressed: inflate none. */
	if (msg_parse(&m, p, len, 0, err, sizeof(err)) == -1) {
		t->t_ops->to_auth(t, NULL, err);
		return;
	}
	t->t_ops->to_auth(t, &m, NULL);
	msg_free(&m);
}

/* Channel traffic, decoded, to the channel's kind. */
static void
tunnel_channel_message(struct tunnel *t, struct channel *ch,
    const struct msg *m, struct evbuffer *buf)
{
	const struct channel_ops	*ops = ch->ch_ops;

	switch (m->m_type) {
	case MSG_DATA:
		if (t->t_link == NULL) {
			STAT_ADD(ST_BYTES_IN, m->m_datalen);
			TSTAT_ADD(t->t_stats, TS_BYTES_IN, m->m_datalen);
		}
		t->t_bytes_in += m->m_datalen;
		if (m->m_proto == PROTO_TCP)
			ops->co_data(ch, buf, m->m_datalen, m);
		else if (ops->co_datagram != NULL)
			ops->co_datagram(ch, m, buf);
		else
			log_debug("tunnel %s: UDP Data on %s channel %s, "
			    "dropped", t->t_name, ops->co_name,
			    log_id(m->m_id));
		break;
	case MSG_CONNECT_RESPONSE:
		ops->co_connect_response(ch, m, buf);
		break;
	case MSG_DISCONNECT:
		ops->co_disconnect(ch, m, buf);
		break;
	case MSG_WINDOW:
		if (!t->t_credit)
			log_debug("tunnel %s: Window without credit, ignored",
			    t->t_name);
		else if (ops->co_window != NULL)
			ops->co_window(ch, m->m_window);
		break;
	}
}

static void
tunnel_ws_drain(struct ws_conn *ws, void *arg)
{
	struct tunnel	*t = arg;
	struct channel	*ch;

	/* Wake blocked channels in order while there is room. */
	while ((ch = TAILQ_FIRST(&t->t_blocked)) != NULL &&
	    tunnel_writable(t)) {
		TAILQ_REMOVE(&t->t_blocked, ch, ch_blocked);
		ch->ch_flags &= ~CHF_BLOCKED;
		if (ch->ch_ops->co_drained != NULL)
			ch->ch_ops->co_drained(ch);
		if (t->t_state == TUN_CLOSED)
			return;
	}
}

static void
tunnel_ws_pong(struct ws_conn *ws, void *arg)
{
	struct tunnel	*t = arg;

	log_trace("tunnel %s: pong", t->t_name);
}

static void
tunnel_ws_closed(struct ws_conn *ws, const char *why, void *arg)
{
	tunnel_teardown(arg, why, 1, 1000);
}

/*
 * Keepalive: ping every LS_PING_INTERVAL; a peer silent for longer than
 * LS_READ_TIMEOUT + LS_PING_INTERVAL is gone.  Both ends ping, so a long
 * idle transfer is never mistaken for a dead tunnel (P-2).
 */
static void
tunnel_keepalive(evutil_socket_t fd, short ev, void *arg)
{
	struct tunnel	*t = arg;
	struct timeval	 tv = { LS_PING_INTERVAL, 0 };
	double		 idle;

	idle = tunnel_idle(t);
	if (idle > LS_READ_TIMEOUT + LS_PING_INTERVAL) {
		tunnel_close(t, "peer silent for too long");
		return;
	}
	ws_ping(t->t_ws);
	evtimer_add(t->t_timer, &tv);
}

/* Seconds since the peer was last heard from. */
double
tunnel_idle(struct tunnel *t)
{
	if (t->t_ws != NULL)
		return (util_now() - (double)ws_last_rx(t->t_ws));
	return (util_now() - t->t_link_rx);
}

void
tunnel_start_keepalive(struct tunnel *t)
{
	struct timeval	tv = { LS_PING_INTERVAL, 0 };

	evtimer_add(t->t_timer, &tv);
}

/* ---- worker links: the same tunnel over a socketpair ----------------- */

static void
tunnel_link_process(struct tunnel *t)
{
	struct evbuffer	*in = bufferevent_get_input(t->t_link);
	uint32_t	 len;

	while (t->t_state == TUN_OPEN && t->t_pausers == 0 &&
	    evbuffer_copyout(in, &len, sizeof(len)) == sizeof(len)) {
		if (len < 2 || len > LS_MSG_MAX) {
			tunnel_close(t, "corrupt worker link");
			return;
		}
		if (evbuffer_get_length(in) < sizeof(len) + len)
			return;
		evbuffer_drain(in, sizeof(len));
		t->t_link_rx = util_now();
		if (evbuffer_remove_buffer(in, t->t_linkmsg, len) != (int)len) {
			tunnel_close(t, "out of memory");
			return;
		}
		tunnel_ref(t);
		tunnel_dispatch(t, t->t_linkmsg);
		evbuffer_drain(t->t_linkmsg, evbuffer_get_length(t->t_linkmsg));
		tunnel_unref(t);
		if (t->t_link == NULL)
			return;
		in = bufferevent_get_input(t->t_link);
	}
}

static void
tunnel_link_read(struct bufferevent *bev, void *arg)
{
	tunnel_link_process(arg);
}

static void
tunnel_link_kick(evutil_socket_t fd, short ev, void *arg)
{
	tunnel_link_process(arg);
}

static void
tunnel_link_write(struct bufferevent *bev, void *arg)
{
	tunnel_ws_drain(NULL, arg);
}

static void
tunnel_link_event(struct bufferevent *bev, short what, void *arg)
{
	tunnel_close(arg, (what & BEV_EVENT_EOF) ? "worker link closed" :
	    "worker link error");
}

/* A link to worker `peer' over a socketpair from the master. */
struct tunnel *
tunnel_new_link(int fd, int peer, const struct tunnel_ops *ops, void *arg)
{
	struct bufferevent	*bev;
	char			 name[32];

	if ((bev = bufferevent_socket_new(ls_worker->w_base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		close(fd);
		return (NULL);
	}
	bufferevent_set_max_single_read(bev, 256 * 1024);
	snprintf(name, sizeof(name), "link-%d", peer);
	return (tunnel_new_framed(bev, name, ops, arg));
}

struct tunnel *
tunnel_new_framed(struct bufferevent *bev, const char *name,
    const struct tunnel_ops *ops, void *arg)
{
	struct tunnel	*t;

	if ((t = calloc(1, sizeof(*t))) == NULL) {
		bufferevent_free(bev);
		return (NULL);
	}
	t->t_ops = ops;
	t->t_arg = arg;
	t->t_state = TUN_CONNECTING;
	t->t_refs = 1;
	/* Both ends are us, with the same configuration. */
	tunnel_set_features(t, 1, ls_conf->c_window);
	TAILQ_INIT(&t->t_blocked);
	t->t_chans.ct_size = TUNNEL_MIN_SLOTS;
	t->t_chans.ct_slots = calloc(t->t_chans.ct_size, sizeof(void *));
	t->t_out = evbuffer_new();
	t->t_linkmsg = evbuffer_new();
	t->t_link = bev;
	t->t_link_rx = util_now();
	t->t_link_ev = event_new(ls_worker->w_base, -1, 0, tunnel_link_kick,
	    t);
	if (t->t_chans.ct_slots == NULL || t->t_out == NULL ||
	    t->t_linkmsg == NULL || t->t_link_ev == NULL) {
		bufferevent_free(t->t_link);
		if (t->t_link_ev != NULL)
			event_free(t->t_link_ev);
		tunnel_free(t);
		return (NULL);
	}
	snprintf(t->t_name, sizeof(t->t_name), "%s", name);
	bufferevent_setcb(t->t_link, tunnel_link_read, tunnel_link_write,
	    tunnel_link_event, t);
	bufferevent_setwatermark(t->t_link, EV_WRITE, WS_OUT_LOW, 0);
	bufferevent_enable(t->t_link, EV_READ | EV_WRITE);
	t->t_state = TUN_OPEN;	/* not counted as a client tunnel */
	return (t);
}
