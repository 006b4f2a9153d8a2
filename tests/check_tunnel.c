/*
 * check_tunnel.c -- tunnel.c: the feature negotiation, the channel
 * table, message dispatch in every tunnel state, the framed transport
 * (worker links and the fake tunnels of the other units), and the same
 * tunnel over a real WebSocket in this process (ws_connect to a ws_accept
 * on 127.0.0.1), with its pause, drain, keepalive and both closes.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "linksocks.h"
#include "lib/check_main.h"
#include "lib/core_fixture.h"

#define MIB	(1024u * 1024u)

static void	setup(void);
static void	teardown(void);
static Suite	*tunnel_suite(void);

static void
setup(void)
{
	fx_setup();
}

static void
teardown(void)
{
	fx_teardown();
}

static const uint8_t tid[LS_CHANNEL_ID_LEN] = {
	0x7e, 0x57, 1, 2, 3, 4, 0x45, 6, 0x87, 8, 9, 10, 11, 12, 13, 14
};

/* ---- pure parts ------------------------------------------------------- */

START_TEST(test_strstate)
{
	ck_assert_str_eq(tunnel_strstate(TUN_CONNECTING), "CONNECTING");
	ck_assert_str_eq(tunnel_strstate(TUN_AUTH), "AUTH");
	ck_assert_str_eq(tunnel_strstate(TUN_OPEN), "OPEN");
	ck_assert_str_eq(tunnel_strstate(TUN_CLOSED), "CLOSED");
	ck_assert_str_eq(tunnel_strstate((enum tunnel_state)7), "?");
}
END_TEST

static const struct {
	const char	*f_value;
	int		 f_halfclose;
	uint32_t	 f_window;
} features[] = {
	{ "halfclose, credit=4194304", 1, 4194304 },
	{ "HalfClose", 1, 0 },
	{ "  halfclose  ,  CREDIT=65536  ", 1, 65536 },
	{ "credit=65536", 0, 65536 },
	{ "credit=268435456", 0, 268435456 },	/* LS_WINDOW_MAX */
	{ "credit=268435457", 0, 0 },
	{ "credit=65535", 0, 0 },		/* below LS_WINDOW_MIN */
	{ "credit=65536x", 0, 0 },
	{ "credit=-65536", 0, 0 },
	{ "credit", 0, 0 },
	{ "credit=", 0, 0 },
	{ "halfclose=1", 0, 0 },
	{ "halfclose2", 0, 0 },
	{ "future, halfclose, other=3", 1, 0 },
	{ "", 0, 0 },
	{ ",,,", 0, 0 },
};

START_TEST(test_features)
{
	int		hc;
	uint32_t	win;
	size_t		i;

	for (i = 0; i < LS_NITEMS(features); i++) {
		tunnel_features(features[i].f_value, &hc, &win);
		ck_assert_msg(hc == features[i].f_halfclose &&
		    win == features[i].f_window, "\"%s\": %d %u",
		    features[i].f_value, hc, win);
	}
	tunnel_features(NULL, &hc, &win);
	ck_assert_int_eq(hc, 0);
	ck_assert_uint_eq(win, 0);
	/* --no-extensions: whatever the peer offers, none. */
	ls_conf->c_no_ext = 1;
	tunnel_features("halfclose, credit=65536", &hc, &win);
	ck_assert_int_eq(hc, 0);
	ck_assert_uint_eq(win, 0);
}
END_TEST

START_TEST(test_feature_line)
{
	struct tunnel	t;

	ck_assert_str_eq(tunnel_feature_line(),
	    "X-Linksocks-Features: halfclose, credit=4194304\r\n");
	ls_conf->c_window = 65536;
	ck_assert_str_eq(tunnel_feature_line(),
	    "X-Linksocks-Features: halfclose, credit=65536\r\n");
	ls_conf->c_no_ext = 1;
	ck_assert_str_eq(tunnel_feature_line(), "");

	memset(&t, 0, sizeof(t));
	ck_assert_str_eq(tunnel_feature_text(&t), "");
	tunnel_set_features(&t, 1, 0);
	ck_assert_str_eq(tunnel_feature_text(&t), " (half-close)");
	tunnel_set_features(&t, 0, 65536);
	ck_assert(t.t_credit);
	ck_assert_uint_eq(t.t_peer_window, 65536);
	ck_assert_str_eq(tunnel_feature_text(&t), " (credit)");
	tunnel_set_features(&t, 1, 65536);
	ck_assert_str_eq(tunnel_feature_text(&t), " (half-close, credit)");
}
END_TEST

/* ---- the channel table ------------------------------------------------ */

static const struct channel_ops quiet_ops = {
	.co_kind = CHK_DIAL,
	.co_name = "quiet",
	.co_gone = channel_gone,
};

START_TEST(test_table_grows)
{
	struct fx_peer	*p;
	struct channel	*ch[300], *dup;
	size_t		 i;
	const size_t	 n = LS_NITEMS(ch);

	ls_conf->c_window = 65536;
	p = fx_peer_new("t", 1);
	ck_assert_uint_eq(p->p_tun->t_chans.ct_size, 64);
	for (i = 0; i < n; i++) {
		ch[i] = channel_alloc(&quiet_ops, CH_RELAY);
		ck_assert_ptr_nonnull(ch[i]);
		ck_assert_int_eq(channel_attach(ch[i], p->p_tun), 0);
		ck_assert_ptr_eq(ch[i]->ch_tun, p->p_tun);
		/* A version 4 UUID. */
		ck_assert_uint_eq(ch[i]->ch_id[6] >> 4, 4);
		ck_assert_uint_eq(ch[i]->ch_id[8] >> 6, 2);
		/* Credit starts from both windows. */
		ck_assert_int_eq(ch[i]->ch_tx_credit, 65536);
		ck_assert_uint_eq(ch[i]->ch_rx_limit, 65536);
	}
	ck_assert_uint_eq(p->p_tun->t_chans.ct_count, n);
	ck_assert_uint_ge(p->p_tun->t_chans.ct_size, n);
	for (i = 0; i < n; i++)
		ck_assert_ptr_eq(tunnel_find(p->p_tun, ch[i]->ch_id), ch[i]);
	/* An id already there is refused. */
	dup = channel_alloc(&quiet_ops, CH_RELAY);
	memcpy(dup->ch_id, ch[7]->ch_id, LS_CHANNEL_ID_LEN);
	ck_assert_int_eq(tunnel_add(p->p_tun, dup), -1);
	channel_close(dup, "duplicate", 0);
	for (i = 0; i < n; i += 2) {
		tunnel_remove(p->p_tun, ch[i]);
		ck_assert_ptr_null(ch[i]->ch_tun);
		ck_assert_ptr_null(tunnel_find(p->p_tun, ch[i]->ch_id));
		channel_close(ch[i], "removed", 0);
	}
	ck_assert_uint_eq(p->p_tun->t_chans.ct_count, n / 2);
	for (i = 1; i < n; i += 2)
		ck_assert_ptr_eq(tunnel_find(p->p_tun, ch[i]->ch_id), ch[i]);
	/* The tunnel takes the rest with it. */
	tunnel_close(p->p_tun, "done");
	fx_pump();
	ck_assert_uint_eq(ls_worker->w_channels, 0);
}
END_TEST

/* A kind whose co_gone keeps its channel on a closing tunnel. */
static void
stubborn_gone(struct channel *ch, const char *why)
{
}

static const struct channel_ops stubborn_ops = {
	.co_kind = CHK_DIAL,
	.co_name = "stubborn",
	.co_gone = stubborn_gone,
};

START_TEST(test_teardown_takes_everything)
{
	struct fx_peer	*p = fx_peer_new("t", 1);
	struct tunnel	*t = p->p_tun;
	struct channel	*a, *b;

	a = channel_alloc(&stubborn_ops, CH_RELAY);
	b = channel_alloc(&stubborn_ops, CH_RELAY);
	ck_assert_int_eq(channel_attach(a, t), 0);
	tunnel_block(t, a);
	tunnel_block(t, a);		/* once is enough */
	ck_assert(a->ch_flags & CHF_BLOCKED);
	tunnel_pause(t, 1);
	a->ch_flags |= CHF_PAUSING;
	/* Blocked on t, but not in its table. */
	tunnel_block(t, b);
	tunnel_ref(t);
	tunnel_close(t, "going");
	ck_assert_int_eq(t->t_state, TUN_CLOSED);
	ck_assert_ptr_null(a->ch_tun);
	ck_assert(!(a->ch_flags & (CHF_BLOCKED | CHF_PAUSING)));
	ck_assert(!(b->ch_flags & CHF_BLOCKED));
	ck_assert_uint_eq(t->t_pausers, 0);
	ck_assert(TAILQ_EMPTY(&t->t_blocked));
	ck_assert_uint_eq(t->t_chans.ct_count, 0);
	ck_assert(p->p_closed);
	tunnel_close(t, "again");	/* nothing happens twice */
	ck_assert_str_eq(p->p_why, "going");
	/* A closed tunnel sends nothing and says so. */
	ck_assert_int_eq(msg_put_window(t->t_out, tid, 1), 0);
	ck_assert_int_eq(tunnel_flush_msg(t), -1);
	ck_assert_uint_eq(evbuffer_get_length(t->t_out), 0);
	{
		struct evbuffer	*src = evbuffer_new();

		evbuffer_add(src, "abc", 3);
		ck_assert_int_eq(tunnel_send_data(t, tid, src, 3), -1);
		ck_assert_uint_eq(evbuffer_get_length(src), 0);
		evbuffer_free(src);
	}
	ck_assert(!tunnel_writable(t));
	tunnel_unref(t);
	channel_close(a, "test", 0);
	channel_close(b, "test", 0);
	fx_pump();
	ck_assert_uint_eq(ls_worker->w_channels, 0);
}
END_TEST

/* ---- dispatch in every state ------------------------------------------ */

struct auth_rec {
	int		 ar_n;
	int		 ar_type;
	int		 ar_rawtype;
	char		 ar_err[128];
	char		 ar_token[64];
};
static struct auth_rec	arec;

static void
rec_auth(struct tunnel *t, struct msg *m, const char *err)
{
	arec.ar_n++;
	if (m == NULL) {
		arec.ar_type = -1;
		snprintf(arec.ar_err, sizeof(arec.ar_err), "%s", err);
		return;
	}
	arec.ar_type = m->m_type;
	arec.ar_rawtype = m->m_rawtype;
	snprintf(arec.ar_token, sizeof(arec.ar_token), "%.*s",
	    (int)m->m_token.len, (const char *)m->m_token.p);
}

static void
rec_message(struct tunnel *t, struct msg *m, struct evbuffer *raw)
{
	struct fx_peer	*p = t->t_arg;

	ck_assert_ptr_nonnull(p);
	p->p_nmsg++;
	p->p_lasttype = m->m_type;
}

static const struct tunnel_ops auth_ops = {
	.to_auth = rec_auth,
	.to_message = rec_message,
	.to_closed = fx_tunnel_closed,
};

static void
dispatch(struct tunnel *t, struct evbuffer *msg)
{
	tunnel_dispatch(t, msg);
	evbuffer_drain(msg, evbuffer_get_length(msg));
}

START_TEST(test_dispatch_states)
{
	struct fx_peer	*p = fx_peer_new_ops("t", 1, &auth_ops);
	struct tunnel	*t = p->p_tun;
	struct evbuffer	*b = evbuffer_new();
	static const uint8_t inst[LS_CHANNEL_ID_LEN];
	unsigned	 tunnels = ls_worker->w_tunnels;

	memset(&arec, 0, sizeof(arec));
	/*
	 * Each state in turn on one tunnel: set directly, since
	 * tunnel_set_state allows no move back from OPEN.
	 */
	/* CONNECTING: nothing is taken. */
	t->t_state = TUN_CONNECTING;
	ck_assert_int_eq(msg_put_log(b, "info", "x"), 0);
	dispatch(t, b);
	ck_assert_uint_eq(p->p_nmsg, 0);
	ck_assert_int_eq(arec.ar_n, 0);
	/* AUTH: the first message, or why it could not be read. */
	t->t_state = TUN_AUTH;
	ck_assert_int_eq(msg_put_auth(b, "tok", 1, inst), 0);
	dispatch(t, b);
	ck_assert_int_eq(arec.ar_n, 1);
	ck_assert_int_eq(arec.ar_type, MSG_AUTH);
	ck_assert_str_eq(arec.ar_token, "tok");
	evbuffer_add(b, "\x01\x01", 2);
	dispatch(t, b);
	ck_assert_int_eq(arec.ar_n, 2);
	ck_assert_int_eq(arec.ar_type, -1);
	ck_assert_str_eq(arec.ar_err, "invalid auth message");
	/*
	 * Data in AUTH goes to to_auth too, undecoded: only its type
	 * byte is read (nothing is parsed or inflated before auth).
	 */
	ck_assert_int_eq(msg_put_data(b, tid, (const uint8_t *)"d", 1), 0);
	dispatch(t, b);
	ck_assert_int_eq(arec.ar_type, MSG_UNKNOWN);
	ck_assert_int_eq(arec.ar_rawtype, MSG_DATA);
	ck_assert_uint_eq(p->p_nmsg, 0);
	/* A link tunnel is not counted among the client tunnels. */
	ck_assert_uint_eq(ls_worker->w_tunnels, tunnels);
	/* OPEN: to the owner. */
	t->t_state = TUN_OPEN;
	ck_assert_int_eq(msg_put_log(b, "info", "x"), 0);
	dispatch(t, b);
	ck_assert_uint_eq(p->p_nmsg, 1);
	ck_assert_int_eq(p->p_lasttype, MSG_LOG);
	ck_assert_int_eq(msg_put_partners(b, 2), 0);
	dispatch(t, b);
	ck_assert_uint_eq(p->p_nmsg, 2);
	ck_assert_int_eq(p->p_lasttype, MSG_PARTNERS);
	/* A link's route frame goes to the owner too. */
	evbuffer_add(b, "\x01\xf0", 2);
	evbuffer_add(b, tid, LS_CHANNEL_ID_LEN);
	evbuffer_add(b, "\x00\x01k", 3);
	dispatch(t, b);
	ck_assert_uint_eq(p->p_nmsg, 3);
	ck_assert_int_eq(p->p_lasttype, MSG_UNKNOWN);
	/* A malformed message that names no channel only costs itself. */
	evbuffer_add(b, "\x01\x03\x01", 3);
	dispatch(t, b);
	ck_assert_uint_eq(p->p_nmsg, 3);
	ck_assert(!p->p_closed);
	evbuffer_free(b);
	ck_assert_int_eq(arec.ar_n, 3);
}
END_TEST

/* A malformed Connect naming an open channel closes that channel. */
START_TEST(test_malformed_connect)
{
	struct fx_peer	*p = fx_peer_new("t", 1);
	struct channel	*ch;
	uint8_t		 bad[3 + LS_CHANNEL_ID_LEN + 1];

	ch = channel_alloc(&quiet_ops, CH_RELAY);
	memcpy(ch->ch_id, tid, LS_CHANNEL_ID_LEN);
	ck_assert_int_eq(tunnel_add(p->p_tun, ch), 0);
	bad[0] = LS_PROTO_VERSION;
	bad[1] = MSG_CONNECT;
	bad[2] = PROTO_TCP;
	memcpy(bad + 3, tid, LS_CHANNEL_ID_LEN);
	bad[19] = 200;			/* an address that is not there */
	fx_send_raw(p, bad, sizeof(bad));
	fx_pump();
	ck_assert_ptr_null(fx_chan(p, tid));
	ck_assert_uint_eq(ls_worker->w_channels, 0);
	ck_assert(!p->p_closed);
}
END_TEST

/* ---- the framed transport --------------------------------------------- */

START_TEST(test_framed_partial_frames)
{
	struct fx_peer	*p = fx_peer_new("t", 1);
	struct evbuffer	*b = evbuffer_new();
	uint8_t		 raw[64];
	uint32_t	 len;
	size_t		 n;

	ck_assert_int_eq(msg_put_log(b, "info", "partial"), 0);
	n = evbuffer_get_length(b);
	len = (uint32_t)n;
	evbuffer_remove(b, raw, n);
	/* The length alone, then half the message: nothing yet. */
	bufferevent_write(p->p_bev, &len, 2);
	fx_pump();
	bufferevent_write(p->p_bev, (uint8_t *)&len + 2, 2);
	bufferevent_write(p->p_bev, raw, n / 2);
	fx_pump();
	ck_assert_uint_eq(p->p_nmsg, 0);
	bufferevent_write(p->p_bev, raw + n / 2, n - n / 2);
	fx_pump();
	ck_assert_uint_eq(p->p_nmsg, 1);
	ck_assert_int_eq(p->p_lasttype, MSG_LOG);
	/* Two in one write. */
	fx_send_raw(p, raw, n);
	fx_send_raw(p, raw, n);
	fx_pump();
	ck_assert_uint_eq(p->p_nmsg, 3);
	evbuffer_free(b);
}
END_TEST

START_TEST(test_framed_corrupt_length)
{
	struct fx_peer	*p = fx_peer_new("t", 1);
	uint32_t	 len = 1;

	bufferevent_write(p->p_bev, &len, sizeof(len));
	bufferevent_write(p->p_bev, "x", 1);
	fx_pump();
	ck_assert(p->p_closed);
	ck_assert_str_eq(p->p_why, "corrupt worker link");
}
END_TEST

START_TEST(test_framed_oversized)
{
	struct fx_peer	*p = fx_peer_new("t", 1);
	uint32_t	 len = LS_MSG_MAX + 1;

	bufferevent_write(p->p_bev, &len, sizeof(len));
	fx_pump();
	ck_assert(p->p_closed);
	ck_assert_str_eq(p->p_why, "corrupt worker link");
}
END_TEST

/* Pauses nest: the link reads again after the last one, and what came
 * meanwhile is taken then. */
START_TEST(test_framed_pause_nests)
{
	struct fx_peer	*p = fx_peer_new("t", 1);
	struct evbuffer	*b = evbuffer_new();

	tunnel_pause(p->p_tun, 1);
	tunnel_pause(p->p_tun, 1);
	ck_assert_uint_eq(p->p_tun->t_pausers, 2);
	ck_assert_int_eq(msg_put_log(b, "info", "1"), 0);
	fx_send_buf(p, b);
	fx_pump();
	ck_assert_uint_eq(p->p_nmsg, 0);
	tunnel_pause(p->p_tun, 0);
	fx_pump();
	ck_assert_uint_eq(p->p_nmsg, 0);
	tunnel_pause(p->p_tun, 0);
	fx_pump();
	ck_assert_uint_eq(p->p_nmsg, 1);
	tunnel_pause(p->p_tun, 0);		/* not paused: no effect */
	ck_assert_uint_eq(p->p_tun->t_pausers, 0);
	evbuffer_free(b);
}
END_TEST

/* A worker link over a socketpair: messages out, EOF and error in. */
static int	link_closed_n;
static char	link_why[64];

static void
link_closed(struct tunnel *t, const char *why)
{
	link_closed_n++;
	snprintf(link_why, sizeof(link_why), "%s", why);
}

static const struct tunnel_ops link_ops = {
	.to_message = rec_message,
	.to_closed = link_closed,
};

START_TEST(test_link_socket)
{
	struct tunnel	*t;
	struct msg	 m;
	uint8_t		 buf[256];
	uint32_t	 len;
	char		 err[128];
	int		 sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	evutil_make_socket_nonblocking(sv[0]);
	evutil_make_socket_nonblocking(sv[1]);
	fx_keep_fd(sv[1]);
	link_closed_n = 0;
	t = tunnel_new_link(sv[0], 5, &link_ops, NULL);
	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(t->t_name, "link-5");
	ck_assert_int_eq(t->t_state, TUN_OPEN);
	ck_assert(t->t_halfclose && t->t_credit);
	ck_assert_uint_eq(t->t_peer_window, ls_conf->c_window);
	ck_assert(tunnel_idle(t) < 1.0);
	/* Out: a length in host order, then the message unchanged. */
	ck_assert_int_eq(msg_put_window(t->t_out, tid, 12345), 0);
	ck_assert_int_eq(tunnel_flush_msg(t), 0);
	fx_pump();
	fx_app_read(sv[1], &len, sizeof(len));
	ck_assert_uint_eq(len, 2 + LS_CHANNEL_ID_LEN + 4);
	fx_app_read(sv[1], buf, len);
	ck_assert_int_eq(msg_parse(&m, buf, len, LS_INFLATE_MAX, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(m.m_type, MSG_WINDOW);
	ck_assert_uint_eq(m.m_window, 12345);
	/* Data goes whole, as one framed message. */
	{
		struct evbuffer	*src = evbuffer_new();

		evbuffer_add(src, "payload", 7);
		ck_assert_int_eq(tunnel_send_data(t, tid, src, 7), 0);
		evbuffer_free(src);
	}
	fx_app_read(sv[1], &len, sizeof(len));
	ck_assert_uint_eq(len, MSG_DATA_HDR + 7);
	fx_app_read(sv[1], buf, len);
	ck_assert_int_eq(memcmp(buf + MSG_DATA_HDR, "payload", 7), 0);
	/* The other side goes with a message of ours unread: an error. */
	ck_assert_int_eq(msg_put_window(t->t_out, tid, 1), 0);
	ck_assert_int_eq(tunnel_flush_msg(t), 0);
	fx_pump();
	fx_close(sv[1]);
	fx_pump();
	ck_assert_int_eq(link_closed_n, 1);
	ck_assert_str_eq(link_why, "worker link error");
}
END_TEST

START_TEST(test_link_eof)
{
	struct tunnel	*t;
	int		 sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	evutil_make_socket_nonblocking(sv[0]);
	link_closed_n = 0;
	t = tunnel_new_link(sv[0], 2, &link_ops, NULL);
	ck_assert_ptr_nonnull(t);
	close(sv[1]);
	fx_pump();
	ck_assert_int_eq(link_closed_n, 1);
	ck_assert_str_eq(link_why, "worker link closed");
}
END_TEST

/* ---- over a real WebSocket --------------------------------------------- */

struct wsc {
	struct ws_conn	*w_conn;
	int		 w_open;
	int		 w_closed;
	char		 w_why[128];
	struct evbuffer	*w_in;		/* u32 length + message */
	int		 w_drains;
};

struct wss {
	struct tunnel	*s_tun;
	int		 s_halfclose;
	uint32_t	 s_window;
	int		 s_closed;
	char		 s_why[128];
	int		 s_nmsg;
	int		 s_opened;	/* to_open of a client tunnel */
};

static struct wsc	cli;
static struct wss	srv;
static int		ws_lfd;

static void
cli_open(struct ws_conn *ws, void *arg)
{
	cli.w_open = 1;
}

static void
cli_message(struct ws_conn *ws, struct evbuffer *buf, void *arg)
{
	uint32_t	len = (uint32_t)evbuffer_get_length(buf);

	evbuffer_add(cli.w_in, &len, sizeof(len));
	evbuffer_remove_buffer(buf, cli.w_in, len);
}

static void
cli_drain(struct ws_conn *ws, void *arg)
{
	cli.w_drains++;
}

static void
cli_closed(struct ws_conn *ws, const char *why, void *arg)
{
	cli.w_closed = 1;
	cli.w_conn = NULL;
	snprintf(cli.w_why, sizeof(cli.w_why), "%s", why);
}

static const struct ws_cb cli_cb = {
	.ws_open = cli_open,
	.ws_message = cli_message,
	.ws_drain = cli_drain,
	.ws_closed = cli_closed,
};

static void
srv_to_auth(struct tunnel *t, struct msg *m, const char *err)
{
	/* Anything will do: open, and say so. */
	if (m == NULL) {
		tunnel_close(t, err);
		return;
	}
	if (msg_put_auth_response(t->t_out, 1, NULL) == 0)
		tunnel_flush_msg(t);
	tunnel_set_state(t, TUN_OPEN);
}

static void
srv_to_message(struct tunnel *t, struct msg *m, struct evbuffer *raw)
{
	srv.s_nmsg++;
}

static void
srv_to_closed(struct tunnel *t, const char *why)
{
	struct wss	*s = t->t_arg;

	s->s_closed = 1;
	snprintf(s->s_why, sizeof(s->s_why), "%s", why);
	if (fx_pick_tunnel == t)
		fx_pick_tunnel = NULL;
	if (s->s_tun == t)
		s->s_tun = NULL;
}

static void
srv_to_open(struct tunnel *t)
{
	((struct wss *)t->t_arg)->s_opened = 1;
}

static const struct tunnel_ops srv_ops = {
	.to_auth = srv_to_auth,
	.to_message = srv_to_message,
	.to_closed = srv_to_closed,
	.to_open = srv_to_open,
};

static int
srv_request(struct ws_conn *ws, const struct http_head *h, void *arg)
{
	const char	*feat;

	if ((feat = http_header(h, LS_FEATURE_HEADER)) != NULL) {
		tunnel_features(feat, &srv.s_halfclose, &srv.s_window);
		if (srv.s_halfclose || srv.s_window != 0)
			ws_add_response_header(ws, tunnel_feature_line());
	}
	return (1);
}

static void
srv_open(struct ws_conn *ws, void *arg)
{
	srv.s_tun = tunnel_new(ws, 0, &srv_ops, &srv);
	ck_assert_ptr_nonnull(srv.s_tun);
	ck_assert_int_eq(srv.s_tun->t_state, TUN_CONNECTING);
	tunnel_set_features(srv.s_tun, srv.s_halfclose, srv.s_window);
	tunnel_set_state(srv.s_tun, TUN_AUTH);
}

static void
srv_closed(struct ws_conn *ws, const char *why, void *arg)
{
	ck_abort_msg("the server's WebSocket failed before opening: %s", why);
}

static const struct ws_cb srv_cb = {
	.ws_request = srv_request,
	.ws_open = srv_open,
	.ws_closed = srv_closed,
};

static int
ws_both_open(void *arg)
{
	return (cli.w_open && srv.s_tun != NULL);
}

static int
ws_accepted(void *arg)
{
	int	*fd = arg;

	*fd = accept(ws_lfd, NULL, NULL);
	return (*fd != -1);
}

static void
ws_setup(void)
{
	fx_setup();
	memset(&cli, 0, sizeof(cli));
	memset(&srv, 0, sizeof(srv));
	cli.w_in = evbuffer_new();
}

static void
ws_teardown(void)
{
	if (srv.s_tun != NULL)
		tunnel_close(srv.s_tun, "teardown");
	if (cli.w_conn != NULL)
		ws_free(cli.w_conn);
	cli.w_conn = NULL;
	fx_pump();
	evbuffer_free(cli.w_in);
	fx_teardown();
}

/*
 * A WebSocket from cli (ours, raw) to a tunnel (srv), opened and
 * authenticated.  ext: the client offers the extensions.  mode: WS_AUTH
 * leaves the tunnel waiting for Auth; WS_CONNECT returns once the client
 * started connecting (nothing accepted yet).
 */
#define WS_OPEN		0
#define WS_AUTH		1
#define WS_CONNECT	2

static void
ws_open_pair(int ext, int mode)
{
	struct ls_url	 u;
	struct evbuffer	*b = evbuffer_new();
	static const uint8_t inst[LS_CHANNEL_ID_LEN];
	char		 url[64], err[128];
	uint16_t	 port;
	int		 fd = -1;

	ws_lfd = fx_listen(&port);
	snprintf(url, sizeof(url), "ws://127.0.0.1:%u/socket", port);
	ck_assert_int_eq(url_parse(url, &u, err, sizeof(err)), 0);
	cli.w_conn = ws_connect(ls_worker->w_base, ls_worker->w_dns, NULL, &u,
	    "/socket", ext ? tunnel_feature_line() : NULL, &cli_cb, &cli);
	ck_assert_ptr_nonnull(cli.w_conn);
	if (mode == WS_CONNECT) {
		evbuffer_free(b);
		return;
	}
	ck_assert(fx_pump_until(ws_accepted, &fd));
	evutil_make_socket_nonblocking(fd);
	ck_assert_ptr_nonnull(ws_accept(ls_worker->w_base, fd, &srv_cb,
	    NULL));
	ck_assert(fx_pump_until(ws_both_open, NULL));
	ck_assert_int_eq(srv.s_tun->t_state, TUN_AUTH);
	ck_assert_int_eq(srv.s_tun->t_halfclose, ext);
	ck_assert_int_eq(srv.s_tun->t_credit, ext);
	ck_assert_uint_eq(ls_worker->w_tunnels, 0);
	if (mode == WS_AUTH) {
		evbuffer_free(b);
		return;
	}
	/* Authenticate: AuthResponse back, the tunnel opens. */
	ck_assert_int_eq(msg_put_auth(b, "tok", 0, inst), 0);
	ck_assert_int_eq(ws_send_evbuffer(cli.w_conn, b), 0);
	evbuffer_free(b);
	fx_pump();
	ck_assert_int_eq(srv.s_tun->t_state, TUN_OPEN);
	ck_assert_uint_eq(ls_worker->w_tunnels, 1);
}

static int
cli_frame_ready(void *arg)
{
	uint32_t	len;

	return (evbuffer_copyout(cli.w_in, &len, sizeof(len)) ==
	    sizeof(len) && evbuffer_get_length(cli.w_in) >= sizeof(len) + len);
}

/* The next message the client got must be of this type. */
static void
cli_expect(int type, const uint8_t *id, struct fx_msg *fm)
{
	uint32_t	len;
	char		err[128];

	ck_assert_msg(fx_pump_until(cli_frame_ready, NULL),
	    "expected %s over the WebSocket", msg_typename(type));
	memset(fm, 0, sizeof(*fm));
	evbuffer_remove(cli.w_in, &len, sizeof(len));
	fm->fm_len = len;
	fm->fm_buf = malloc(len);
	evbuffer_remove(cli.w_in, fm->fm_buf, len);
	ck_assert_int_eq(msg_parse(&fm->fm_m, fm->fm_buf, len, LS_INFLATE_MAX,
	    err, sizeof(err)), 0);
	ck_assert_msg(fm->fm_m.m_type == type, "expected %s, got %s",
	    msg_typename(type), msg_typename(fm->fm_m.m_type));
	if (id != NULL)
		ck_assert_int_eq(memcmp(fm->fm_m.m_id, id, LS_CHANNEL_ID_LEN),
		    0);
}

static void
cli_send(struct evbuffer *b)
{
	ck_assert_int_eq(ws_send_evbuffer(cli.w_conn, b), 0);
}

static void
cli_data(const uint8_t *id, const void *p, size_t n)
{
	struct evbuffer	*b = evbuffer_new();
	uint8_t		 h[MSG_DATA_HDR];

	msg_data_header(h, id, (uint32_t)n);
	evbuffer_add(b, h, sizeof(h));
	evbuffer_add(b, p, n);
	cli_send(b);
	evbuffer_free(b);
}

/* Data for id until n bytes came; they must be want. */
static void
cli_expect_data(const uint8_t *id, const uint8_t *want, size_t n)
{
	struct fx_msg	fm;
	size_t		got = 0;

	while (got < n) {
		cli_expect(MSG_DATA, id, &fm);
		ck_assert_uint_le(got + fm.fm_m.m_datalen, n);
		if (memcmp(fm.fm_m.m_data, want + got, fm.fm_m.m_datalen) != 0)
			ck_abort_msg("Data differs after %zu bytes", got);
		got += fm.fm_m.m_datalen;
		fx_msg_free(&fm);
	}
}

/* An application's CONNECT through the WebSocket tunnel, answered. */
static int
ws_socks(uint8_t *id)
{
	struct evbuffer	*b = evbuffer_new();
	struct fx_msg	 fm;
	int		 app;

	fx_pick_tunnel = srv.s_tun;
	app = fx_app_new(NULL);
	fx_app_connect(app, 443, NULL, 0);
	cli_expect(MSG_CONNECT, NULL, &fm);
	ck_assert_uint_eq(fm.fm_m.m_port, 443);
	memcpy(id, fm.fm_m.m_id, LS_CHANNEL_ID_LEN);
	fx_msg_free(&fm);
	ck_assert_int_eq(msg_put_connect_response(b, 1, id, NULL), 0);
	cli_send(b);
	evbuffer_free(b);
	fx_app_reply(app, S5_REP_OK);
	return (app);
}

START_TEST(test_ws_auth_and_relay)
{
	struct evbuffer	*b = evbuffer_new();
	struct fx_msg	 fm;
	uint8_t		 id[LS_CHANNEL_ID_LEN], up[3000], down[5000];
	int		 app;

	ws_open_pair(1, WS_OPEN);
	cli_expect(MSG_AUTH_RESPONSE, NULL, &fm);
	ck_assert(fm.fm_m.m_success);
	fx_msg_free(&fm);
	ck_assert_str_eq(tunnel_feature_text(srv.s_tun),
	    " (half-close, credit)");
	/* Not channel traffic: the owner's. */
	ck_assert_int_eq(msg_put_log(b, "info", "hi"), 0);
	cli_send(b);
	evbuffer_add(b, "\x01\xf0", 2);		/* no routes on a WebSocket */
	cli_send(b);
	fx_pump();
	ck_assert_int_eq(srv.s_nmsg, 1);

	app = ws_socks(id);
	fx_fill(up, sizeof(up), 1);
	fx_fill(down, sizeof(down), 2);
	fx_app_write(app, up, sizeof(up));
	cli_expect_data(id, up, sizeof(up));
	cli_data(id, down, sizeof(down));
	fx_app_expect(app, down, sizeof(down));
	fx_close(app);
	cli_expect(MSG_DISCONNECT, id, &fm);
	fx_msg_free(&fm);
	ck_assert_int_eq(msg_put_disconnect(b, id, NULL), 0);
	cli_send(b);
	fx_pump();
	ck_assert_uint_eq(ls_worker->w_channels, 0);
	evbuffer_free(b);
}
END_TEST

START_TEST(test_ws_bad_auth)
{
	struct evbuffer	*b = evbuffer_new();

	ws_open_pair(0, WS_AUTH);
	ck_assert_uint_eq(ls_worker->w_tunnels, 0);
	evbuffer_add(b, "\x01\x01", 2);
	cli_send(b);
	fx_pump();
	ck_assert(srv.s_closed);
	ck_assert_str_eq(srv.s_why, "invalid auth message");
	ck_assert_uint_eq(ls_worker->w_tunnels, 0);
	fx_pump();
	ck_assert(cli.w_closed);
	evbuffer_free(b);
}
END_TEST

/* The peer closes: every channel goes with what it is owed. */
START_TEST(test_ws_peer_closes)
{
	struct fx_msg	 fm;
	uint8_t		 id[LS_CHANNEL_ID_LEN];
	int		 app, owed;

	ws_open_pair(1, WS_OPEN);
	cli_expect(MSG_AUTH_RESPONSE, NULL, &fm);
	fx_msg_free(&fm);
	app = ws_socks(id);
	fx_pick_tunnel = srv.s_tun;
	owed = fx_app_new(NULL);
	fx_app_connect(owed, 80, NULL, 0);
	cli_expect(MSG_CONNECT, NULL, &fm);
	fx_msg_free(&fm);
	ws_close(cli.w_conn, 1000, "bye");
	cli.w_conn = NULL;
	fx_pump();
	ck_assert(srv.s_closed);
	ck_assert_ptr_null(srv.s_tun);
	ck_assert_uint_eq(ls_worker->w_tunnels, 0);
	ck_assert(fx_app_eof(app));
	fx_app_reply(owed, S5_REP_NETUNREACH);
	ck_assert(fx_app_eof(owed));
	ck_assert_uint_eq(ls_worker->w_channels, 0);
}
END_TEST

START_TEST(test_ws_we_close)
{
	struct fx_msg	fm;

	ws_open_pair(1, WS_OPEN);
	cli_expect(MSG_AUTH_RESPONSE, NULL, &fm);
	fx_msg_free(&fm);
	tunnel_close(srv.s_tun, "shutting down");
	ck_assert(srv.s_closed);
	ck_assert_str_eq(srv.s_why, "shutting down");
	ck_assert_uint_eq(ls_worker->w_tunnels, 0);
	fx_pump();
	ck_assert(cli.w_closed);
}
END_TEST

/* Keepalive: a ping every LS_PING_INTERVAL while the peer is heard. */
START_TEST(test_ws_keepalive)
{
	struct fx_msg	fm;

	ws_open_pair(0, WS_OPEN);
	cli_expect(MSG_AUTH_RESPONSE, NULL, &fm);
	fx_msg_free(&fm);
	tunnel_start_keepalive(srv.s_tun);
	ck_assert_ptr_eq(fx_timer_arg(LS_PING_INTERVAL), srv.s_tun);
	ck_assert(tunnel_idle(srv.s_tun) < 2.0);
	ck_assert(fx_fire(LS_PING_INTERVAL));
	fx_pump();
	/* Re-armed, still open; the client answered the ping. */
	ck_assert_ptr_eq(fx_timer_arg(LS_PING_INTERVAL), srv.s_tun);
	ck_assert_int_eq(srv.s_tun->t_state, TUN_OPEN);
	ck_assert(!cli.w_closed);
}
END_TEST

/* A plain peer floods a channel whose application does not read: the
 * WebSocket reader pauses, and resumes once the application drained. */
START_TEST(test_ws_pause)
{
	struct fx_msg	 fm;
	struct channel	*ch;
	uint8_t		 id[LS_CHANNEL_ID_LEN], *down, *got;
	const size_t	 n = 4 * MIB;
	size_t		 i;
	int		 app;

	ws_open_pair(0, WS_OPEN);
	cli_expect(MSG_AUTH_RESPONSE, NULL, &fm);
	fx_msg_free(&fm);
	app = ws_socks(id);
	down = malloc(n);
	got = malloc(n);
	fx_fill(down, n, 3);
	for (i = 0; i < 4; i++)
		cli_data(id, down + i * MIB, MIB);
	fx_pump();
	ch = tunnel_find(srv.s_tun, id);
	ck_assert(ch->ch_flags & CHF_PAUSING);
	ck_assert_uint_eq(srv.s_tun->t_pausers, 1);
	fx_app_read(app, got, n);
	ck_assert_int_eq(memcmp(got, down, n), 0);
	ck_assert_uint_eq(srv.s_tun->t_pausers, 0);
	free(down);
	free(got);
	fx_close(app);
	cli_expect(MSG_DISCONNECT, id, &fm);
	fx_msg_free(&fm);
}
END_TEST

/* The WebSocket's output above its high mark: the channel waits on the
 * blocked list and is woken by the drain. */
START_TEST(test_ws_drain)
{
	struct fx_msg	 fm;
	struct channel	*ch;
	uint8_t		 id[LS_CHANNEL_ID_LEN], *up;
	const size_t	 max = 48 * MIB;
	size_t		 off = 0;
	ssize_t		 w;
	int		 app, stuck = 0;

	ws_open_pair(0, WS_OPEN);
	cli_expect(MSG_AUTH_RESPONSE, NULL, &fm);
	fx_msg_free(&fm);
	app = ws_socks(id);
	ch = tunnel_find(srv.s_tun, id);
	up = malloc(max);
	fx_fill(up, max, 4);
	ws_pause(cli.w_conn, 1);		/* the peer stops reading */
	while (off < max && stuck < 5) {
		w = send(app, up + off, max - off, MSG_DONTWAIT);
		if (w > 0) {
			off += (size_t)w;
			stuck = 0;
		} else
			stuck++;
		fx_pump();
	}
	ck_assert_msg(off < max, "the channel never stopped reading");
	/* (The kernel may have taken some since: the output is then between
	 * the marks, still waiting for the drain below the low one.) */
	ck_assert(ch->ch_flags & CHF_BLOCKED);
	ck_assert_uint_gt(ws_output_len(srv.s_tun->t_ws), WS_OUT_LOW);
	ws_pause(cli.w_conn, 0);
	cli_expect_data(id, up, off);
	ck_assert(!(ch->ch_flags & CHF_BLOCKED));
	free(up);
	fx_close(app);
	cli_expect(MSG_DISCONNECT, id, &fm);
	fx_msg_free(&fm);
}
END_TEST

static int
ws_client_open(void *arg)
{
	return (((struct wss *)arg)->s_opened && srv.s_tun != NULL);
}

/* A client's tunnel learns that its WebSocket opened (to_open). */
START_TEST(test_ws_client_tunnel)
{
	struct wss	 mine;
	struct tunnel	*t;
	int		 fd = -1;

	memset(&mine, 0, sizeof(mine));
	ws_open_pair(1, WS_CONNECT);
	t = tunnel_new(cli.w_conn, 1, &srv_ops, &mine);
	ck_assert_ptr_nonnull(t);
	ck_assert(t->t_client);
	ck_assert(fx_pump_until(ws_accepted, &fd));
	evutil_make_socket_nonblocking(fd);
	ck_assert_ptr_nonnull(ws_accept(ls_worker->w_base, fd, &srv_cb,
	    NULL));
	ck_assert(fx_pump_until(ws_client_open, &mine));
	ck_assert(mine.s_opened);
	ck_assert_ptr_nonnull(srv.s_tun);
	/* Ours closes: the server's tunnel hears it from its WebSocket. */
	cli.w_conn = NULL;		/* the tunnel owns it now */
	tunnel_close(t, "client done");
	ck_assert(mine.s_closed);
	fx_pump();
	ck_assert(srv.s_closed);
}
END_TEST

static Suite *
tunnel_suite(void)
{
	Suite	*s = suite_create("tunnel");
	TCase	*tc;

	tc = tcase_create("pure");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_strstate);
	tcase_add_test(tc, test_features);
	tcase_add_test(tc, test_feature_line);
	suite_add_tcase(s, tc);

	tc = tcase_create("table");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_table_grows);
	tcase_add_test(tc, test_teardown_takes_everything);
	tcase_add_test(tc, test_dispatch_states);
	tcase_add_test(tc, test_malformed_connect);
	suite_add_tcase(s, tc);

	tc = tcase_create("framed");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_framed_partial_frames);
	tcase_add_test(tc, test_framed_corrupt_length);
	tcase_add_test(tc, test_framed_oversized);
	tcase_add_test(tc, test_framed_pause_nests);
	tcase_add_test(tc, test_link_socket);
	tcase_add_test(tc, test_link_eof);
	suite_add_tcase(s, tc);

	tc = tcase_create("websocket");
	tcase_add_checked_fixture(tc, ws_setup, ws_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_ws_auth_and_relay);
	tcase_add_test(tc, test_ws_bad_auth);
	tcase_add_test(tc, test_ws_peer_closes);
	tcase_add_test(tc, test_ws_we_close);
	tcase_add_test(tc, test_ws_keepalive);
	tcase_add_test(tc, test_ws_pause);
	tcase_add_test(tc, test_ws_drain);
	tcase_add_test(tc, test_ws_client_tunnel);
	suite_add_tcase(s, tc);
	return (s);
}

const check_suite_fn check_suites[] = { tunnel_suite, NULL };
