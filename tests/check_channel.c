/*
 * check_channel.c -- the channel state machine (channel.c) with its two
 * kinds that have a local socket: the SOCKS side (front.c), with an
 * application on a socketpair, and the dial side (dial.c), with a target
 * listening on 127.0.0.1.  The tunnel is tunnel_new_framed() over a
 * bufferevent_pair whose far end the test plays (tests/lib/core_fixture.c).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "linksocks.h"
#include "lib/check_main.h"
#include "lib/core_fixture.h"

#define KIB	1024u
#define MIB	(1024u * 1024u)

static void	setup(void);
static void	teardown(void);
static struct channel *socks_open(struct fx_peer *, int *, uint8_t *,
		    const void *, size_t);
static struct channel *socks_relay(struct fx_peer *, int *, uint8_t *);
static void	app_shut(int);
static void	all_closed(void);
static size_t	app_drain(int);
static void	step_until_not(struct channel *, enum channel_state);
static Suite	*channel_suite(void);

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

/* An application's CONNECT through p, up to the Connect p receives. */
static struct channel *
socks_open(struct fx_peer *p, int *app, uint8_t *id, const void *early,
    size_t n)
{
	struct fx_msg	 fm;
	struct channel	*ch;

	*app = fx_app_new(NULL);
	fx_pick_tunnel = p->p_tun;
	fx_app_connect(*app, 8080, early, n);
	fx_expect(p, MSG_CONNECT, NULL, &fm);
	ck_assert_int_eq(fm.fm_m.m_proto, PROTO_TCP);
	ck_assert_uint_eq(fm.fm_m.m_addr.len, 9);
	ck_assert_int_eq(memcmp(fm.fm_m.m_addr.p, "127.0.0.1", 9), 0);
	ck_assert_uint_eq(fm.fm_m.m_port, 8080);
	memcpy(id, fm.fm_m.m_id, LS_CHANNEL_ID_LEN);
	fx_msg_free(&fm);
	ch = fx_chan(p, id);
	ck_assert_ptr_nonnull(ch);
	ck_assert_int_eq(ch->ch_ops->co_kind, CHK_SOCKS);
	return (ch);
}

/* ... answered: the application has its success reply, bytes flow. */
static struct channel *
socks_relay(struct fx_peer *p, int *app, uint8_t *id)
{
	struct channel	*ch;

	ch = socks_open(p, app, id, NULL, 0);
	ck_assert_int_eq(ch->ch_state, CH_REPLY_OWED);
	fx_send_cr(p, 1, id, NULL);
	fx_app_reply(*app, S5_REP_OK);
	ch = fx_chan(p, id);
	ck_assert_ptr_nonnull(ch);
	ck_assert_int_eq(ch->ch_state, CH_RELAY);
	ck_assert(ch->ch_flags & CHF_CONFIRMED);
	return (ch);
}

static void
app_shut(int fd)
{
	ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
}

/* Read to the end: the bytes that came before it. */
static size_t
app_drain(int fd)
{
	uint8_t	buf[65536];
	size_t	total = 0;
	ssize_t	r;
	int	idle = 0;

	while (idle < 2000) {
		r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r == 0 || (r == -1 && errno == ECONNRESET))
			return (total);
		if (r > 0) {
			total += (size_t)r;
			idle = 0;
			continue;
		}
		idle++;
		fx_pump();
		usleep(1000);
	}
	ck_abort_msg("no end of file after %zu bytes", total);
	return (total);
}

static void
all_closed(void)
{
	fx_pump();
	ck_assert_uint_eq(ls_worker->w_channels, 0);
}

/* One loop pass at a time until ch leaves st (it must, soon). */
static void
step_until_not(struct channel *ch, enum channel_state st)
{
	int	i;

	for (i = 0; i < 1000 && ch->ch_state == st; i++)
		event_base_loop(ls_worker->w_base, EVLOOP_ONCE |
		    EVLOOP_NONBLOCK);
	ck_assert_int_ne(ch->ch_state, st);
}

/* ---- pure parts ------------------------------------------------------- */

START_TEST(test_flagstr)
{
	ck_assert_str_eq(channel_flagstr(0), "");
	ck_assert_str_eq(channel_flagstr(CHF_LOCAL_EOF), "<LOCAL_EOF>");
	ck_assert_str_eq(channel_flagstr(CHF_LOCAL_EOF | CHF_FASTOPEN),
	    "<LOCAL_EOF,FASTOPEN>");
	ck_assert_str_eq(channel_flagstr(CHF_FROM_LINK | CHF_REMOTE_EOF |
	    CHF_NOCREDIT), "<REMOTE_EOF,NOCREDIT,FROM_LINK>");
	ck_assert_str_eq(channel_flagstr(0xffff),
	    "<LOCAL_EOF,REMOTE_EOF,PAUSING,BLOCKED,FASTOPEN,CONFIRMED,SHUTWR,"
	    "DISC_SENT,EOF_PENDING,NOCREDIT,FOHOLD,WAITING,ADOPTED,FROM_LINK,"
	    "HTTP,HTTP_FWD>");
	/* Bits without a name are left out. */
	ck_assert_str_eq(channel_flagstr(0x10000 | CHF_BLOCKED), "<BLOCKED>");
}
END_TEST

START_TEST(test_strstate)
{
	ck_assert_str_eq(channel_strstate(CH_SOCKS), "SOCKS");
	ck_assert_str_eq(channel_strstate(CH_WAIT_TUNNEL), "WAIT_TUNNEL");
	ck_assert_str_eq(channel_strstate(CH_REPLY_OWED), "REPLY_OWED");
	ck_assert_str_eq(channel_strstate(CH_CONNECTING), "CONNECTING");
	ck_assert_str_eq(channel_strstate(CH_RELAY), "RELAY");
	ck_assert_str_eq(channel_strstate(CH_FLUSHING), "FLUSHING");
	ck_assert_str_eq(channel_strstate(CH_CLOSED), "CLOSED");
	ck_assert_str_eq(channel_strstate((enum channel_state)99), "?");
}
END_TEST

static const struct channel_ops bare_ops = {
	.co_kind = CHK_DIAL,
	.co_name = "bare",
};

START_TEST(test_set_state_legal)
{
	struct channel	*ch;

	ch = channel_alloc(&bare_ops, CH_SOCKS);
	ck_assert_ptr_nonnull(ch);
	ck_assert_uint_eq(ls_worker->w_channels, 1);
	ck_assert_int_eq(ch->ch_refs, 1);
	ck_assert_str_eq(ch->ch_host, "");
	channel_set_state(ch, CH_SOCKS);	/* same state: nothing */
	ck_assert_int_eq(ch->ch_state, CH_SOCKS);
	channel_set_state(ch, CH_WAIT_TUNNEL);
	channel_set_state(ch, CH_CONNECTING);
	channel_set_state(ch, CH_RELAY);
	ck_assert_int_eq(ch->ch_state, CH_RELAY);
	ck_assert_int_eq(channel_set_host(ch, "example.org", 11), 0);
	ck_assert_str_eq(ch->ch_host, "example.org");
	ck_assert_int_eq(channel_set_host(ch, "x", 0), 0);
	ck_assert_str_eq(ch->ch_host, "");
	channel_ref(ch);
	channel_close(ch, "test", 1);
	ck_assert_int_eq(ch->ch_state, CH_CLOSED);
	ck_assert_uint_eq(ls_worker->w_channels, 0);
	channel_close(ch, "again", 1);	/* safe on a closed channel */
	ck_assert_int_eq(ch->ch_state, CH_CLOSED);
	fx_pump();
	ck_assert_int_eq(ch->ch_refs, 1);	/* ours keeps the memory */
	channel_unref(ch);
	fx_pump();
}
END_TEST

#ifdef LS_STRICT
/* A strict build aborts on a move the table does not allow. */
START_TEST(test_set_state_illegal)
{
	struct channel	*ch;

	ch = channel_alloc(&bare_ops, CH_RELAY);
	ck_assert_ptr_nonnull(ch);
	channel_set_state(ch, CH_SOCKS);
}
END_TEST

START_TEST(test_set_ops_illegal)
{
	struct channel	*ch;

	ch = channel_alloc(&bare_ops, CH_RELAY);
	ck_assert_ptr_nonnull(ch);
	channel_set_ops(ch, &bare_ops);
}
END_TEST
#endif

START_TEST(test_set_ops)
{
	static const struct channel_ops other = {
		.co_kind = CHK_UDP_SOCKS,
		.co_name = "other",
	};
	struct channel	*ch;

	ch = channel_alloc(&bare_ops, CH_WAIT_TUNNEL);
	ck_assert_ptr_nonnull(ch);
	channel_set_ops(ch, &other);
	ck_assert_ptr_eq(ch->ch_ops, &other);
	channel_close(ch, "test", 0);
	all_closed();
}
END_TEST

/* ---- SOCKS side: negotiation ------------------------------------------ */

START_TEST(test_socks_close_in_negotiation)
{
	struct channel	*ch;
	int		 app;

	app = fx_app_new(NULL);
	fx_app_write(app, "\x05\x01\x00", 3);
	fx_app_expect(app, "\x05\x00", 2);
	ch = fx_timer_arg(30);		/* the handshake timer */
	ck_assert_ptr_nonnull(ch);
	ck_assert_int_eq(ch->ch_state, CH_SOCKS);
	ck_assert_uint_eq(ls_worker->w_channels, 1);
	fx_close(app);
	all_closed();
}
END_TEST

START_TEST(test_socks_handshake_timeout)
{
	struct channel	*ch;
	int		 app;

	app = fx_app_new(NULL);
	fx_pump();
	ch = fx_timer_arg(30);
	ck_assert_ptr_nonnull(ch);
	ck_assert_int_eq(ch->ch_state, CH_SOCKS);
	ck_assert(fx_fire(30));
	ck_assert(fx_app_eof(app));	/* no reply bytes, just closed */
	all_closed();
}
END_TEST

START_TEST(test_socks_bad_command)
{
	static const uint8_t	 bind[] = { 5, 1, 0, 5, 2, 0, 1, 127, 0, 0, 1,
	    0, 80 };
	struct channel		*ch;
	int			 app;

	app = fx_app_new(NULL);
	fx_pump();
	ch = fx_timer_arg(30);
	ck_assert_ptr_nonnull(ch);
	channel_ref(ch);
	/*
	 * The reply is written at once (channel_kick), so the channel closes
	 * without a flush: SOCKS -> CLOSED, the bytes already sent.
	 */
	ck_assert_int_eq(send(app, bind, sizeof(bind), 0), sizeof(bind));
	step_until_not(ch, CH_SOCKS);
	ck_assert_int_eq(ch->ch_state, CH_CLOSED);
	fx_app_expect(app, "\x05\x00", 2);
	fx_app_reply(app, S5_REP_CMD);
	ck_assert(fx_app_eof(app));
	ck_assert_int_eq(ch->ch_state, CH_CLOSED);
	channel_unref(ch);
	all_closed();
}
END_TEST

START_TEST(test_socks_bad_version)
{
	int	app;

	app = fx_app_new(NULL);
	fx_app_write(app, "\x04\x01\x00\x50\x7f\x00\x00\x01\x00", 9);
	fx_app_reply(app, S5_REP_FAIL);	/* request-style, as the reference */
	ck_assert(fx_app_eof(app));
	all_closed();
}
END_TEST

static const uint8_t udp_req[] = { 5, 1, 0, 5, 3, 0, 1, 0, 0, 0, 0, 0, 0 };

START_TEST(test_socks_udp_to_role)
{
	struct fx_peer	*p = fx_peer_new("p", 1);
	int		 app;

	app = fx_app_new(NULL);
	fx_pick_tunnel = p->p_tun;
	fx_app_write(app, udp_req, sizeof(udp_req));
	fx_app_expect(app, "\x05\x00", 2);
	fx_app_reply(app, S5_REP_CMD);
	ck_assert(fx_app_eof(app));
	ck_assert_uint_eq(fx_udp_calls, 1);
	fx_expect_none(p);
	all_closed();
}
END_TEST

static struct tunnel *
pick_none(struct group *g, int adopted, int *worker)
{
	*worker = -1;
	return (fx_pick_tunnel);
}

START_TEST(test_socks_udp_unsupported)
{
	static const struct front_ops noudp = { .fo_pick = pick_none };
	struct fx_peer	*p = fx_peer_new("p", 1);
	int		 app;

	front_init(&noudp);
	app = fx_app_new(NULL);
	fx_pick_tunnel = p->p_tun;
	fx_app_write(app, udp_req, sizeof(udp_req));
	fx_app_expect(app, "\x05\x00", 2);
	fx_app_reply(app, S5_REP_CMD);
	ck_assert(fx_app_eof(app));
	fx_expect_none(p);
	all_closed();
}
END_TEST

/* ---- SOCKS side: waiting for a tunnel ---------------------------------- */

START_TEST(test_wait_tunnel_then_tunnel)
{
	struct fx_peer	*p = fx_peer_new("p", 1);
	struct channel	*ch;
	struct fx_msg	 fm;
	uint8_t		 id[LS_CHANNEL_ID_LEN];
	int		 app;

	app = fx_app_new(NULL);
	fx_app_connect(app, 8080, "hello", 5);
	ch = fx_timer_arg(LS_WAIT_TUNNEL);
	ck_assert_ptr_nonnull(ch);
	ck_assert_int_eq(ch->ch_state, CH_WAIT_TUNNEL);
	ck_assert(ch->ch_flags & CHF_WAITING);
	ck_assert_uint_eq(front_waiting(), 1);
	/* The application is done sending; it still waits for its reply. */
	app_shut(app);
	fx_app_quiet(app);
	front_tunnel_available();	/* still none: nothing happens */
	ck_assert_uint_eq(front_waiting(), 1);
	fx_expect_none(p);

	fx_pick_tunnel = p->p_tun;
	front_tunnel_available();
	ck_assert_uint_eq(front_waiting(), 0);
	fx_expect(p, MSG_CONNECT, NULL, &fm);
	memcpy(id, fm.fm_m.m_id, sizeof(id));
	fx_msg_free(&fm);
	ch = fx_chan(p, id);
	ck_assert_ptr_nonnull(ch);
	ck_assert_int_eq(ch->ch_state, CH_REPLY_OWED);
	ck_assert(!(ch->ch_flags & CHF_WAITING));
	ck_assert_ptr_null(fx_timer(LS_WAIT_TUNNEL));
	fx_expect_none(p);		/* the early data waits */

	fx_send_cr(p, 1, id, NULL);
	fx_app_reply(app, S5_REP_OK);
	fx_expect_data(p, id, (const uint8_t *)"hello", 5);
	fx_expect(p, MSG_DISCONNECT, id, &fm);
	ck_assert_uint_eq(fm.fm_m.m_error.len, 0);
	fx_msg_free(&fm);
	fx_send_disc(p, id, NULL);
	ck_assert(fx_app_eof(app));
	all_closed();
}
END_TEST

START_TEST(test_wait_tunnel_timeout)
{
	struct channel	*ch;
	int		 app;

	app = fx_app_new(NULL);
	fx_app_connect(app, 8080, NULL, 0);
	ch = fx_timer_arg(LS_WAIT_TUNNEL);
	ck_assert_ptr_nonnull(ch);
	ck_assert_int_eq(ch->ch_state, CH_WAIT_TUNNEL);
	ck_assert(fx_fire(LS_WAIT_TUNNEL));
	fx_app_reply(app, S5_REP_NETUNREACH);
	ck_assert(fx_app_eof(app));
	ck_assert_uint_eq(front_waiting(), 0);
	all_closed();
}
END_TEST

/* A channel that cannot send its Connect answers host unreachable. */
START_TEST(test_wait_tunnel_closed_tunnel)
{
	struct fx_peer	*p = fx_peer_new("p", 1);
	struct tunnel	*t = p->p_tun;
	int		 app;

	app = fx_app_new(NULL);
	fx_app_connect(app, 8080, NULL, 0);
	ck_assert_uint_eq(front_waiting(), 1);
	/* A picker that hands out a tunnel that is closing (kept alive). */
	tunnel_ref(t);
	tunnel_close(t, "gone");
	fx_pick_tunnel = t;
	front_tunnel_available();
	fx_app_reply(app, S5_REP_HOSTUNREACH);
	ck_assert(fx_app_eof(app));
	fx_pick_tunnel = NULL;
	tunnel_unref(t);
	all_closed();
}
END_TEST

/* ---- hand-off to another worker, and adoption there ------------------ */

struct handoff_rx {
	int			 hr_n;
	int			 hr_type;
	int			 hr_fd;
	uint8_t			 hr_buf[IPC_MAX_PAYLOAD];
	size_t			 hr_len;
};

static void
handoff_dispatch(struct ipc *i, int type, const void *data, size_t len,
    int fd, void *arg)
{
	struct handoff_rx	*hr = arg;

	hr->hr_n++;
	hr->hr_type = type;
	hr->hr_fd = fd;
	memcpy(hr->hr_buf, data, len);
	hr->hr_len = len;
}

static void
handoff_closed(struct ipc *i, void *arg)
{
}

static int
handoff_came(void *arg)
{
	return (((struct handoff_rx *)arg)->hr_n > 0);
}

START_TEST(test_handoff_and_adopt)
{
	struct fx_peer		*p = fx_peer_new("p", 1);
	struct group		*g = registry_group("handoff-group", 1);
	struct handoff_rx	 hr;
	struct ipc		*master;
	struct ipc_handoff	 h;
	struct channel		*ch;
	struct fx_msg		 fm;
	uint8_t			 id[LS_CHANNEL_ID_LEN];
	int			 sv[2], app;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	ls_worker->w_ipc = ipc_new(ls_worker->w_base, sv[0],
	    handoff_dispatch, handoff_closed, NULL);
	memset(&hr, 0, sizeof(hr));
	master = ipc_new(ls_worker->w_base, sv[1], handoff_dispatch,
	    handoff_closed, &hr);

	/* Worker 3 has the provider: the request and its socket move. */
	fx_pick_worker = 3;
	app = fx_app_new(g);
	fx_app_connect(app, 8080, "early", 5);
	ck_assert(fx_pump_until(handoff_came, &hr));
	ck_assert_int_eq(hr.hr_type, IPC_HANDOFF);
	ck_assert_uint_eq(hr.hr_len, sizeof(h) + 5);
	ck_assert_int_ge(hr.hr_fd, 0);
	memcpy(&h, hr.hr_buf, sizeof(h));
	ck_assert_uint_eq(h.ih_worker, 3);
	ck_assert_uint_eq(h.ih_port, 8080);
	ck_assert_uint_eq(h.ih_cmd, S5_CMD_CONNECT);
	ck_assert_uint_eq(h.ih_datalen, 5);
	ck_assert_str_eq(h.ih_key, "handoff-group");
	ck_assert_str_eq(h.ih_host, "127.0.0.1");
	ck_assert_str_eq(h.ih_peer, "127.0.0.1:40000");
	ck_assert_int_eq(memcmp(hr.hr_buf + sizeof(h), "early", 5), 0);
	ck_assert_uint_eq(ls_worker->w_channels, 0);	/* ours went */
	fx_app_quiet(app);		/* the socket lives on in hr_fd */

	/* The worker with the provider adopts it. */
	fx_pick_worker = -1;
	fx_pick_tunnel = p->p_tun;
	evutil_make_socket_nonblocking(hr.hr_fd);
	front_adopt(hr.hr_fd, &h, hr.hr_buf + sizeof(h), g);
	fx_expect(p, MSG_CONNECT, NULL, &fm);
	memcpy(id, fm.fm_m.m_id, sizeof(id));
	ck_assert_uint_eq(fm.fm_m.m_port, 8080);
	fx_msg_free(&fm);
	ch = fx_chan(p, id);
	ck_assert_ptr_nonnull(ch);
	ck_assert(ch->ch_flags & CHF_ADOPTED);
	ck_assert_str_eq(ch->ch_peer, "127.0.0.1:40000");
	fx_send_cr(p, 1, id, NULL);
	fx_app_reply(app, S5_REP_OK);
	fx_expect_data(p, id, (const uint8_t *)"early", 5);
	fx_app_write(app, (const uint8_t *)"more", 4);
	fx_expect_data(p, id, (const uint8_t *)"more", 4);
	fx_close(app);
	fx_expect(p, MSG_DISCONNECT, id, &fm);
	fx_msg_free(&fm);
	fx_send_disc(p, id, NULL);
	ipc_free(master);
	all_closed();
}
END_TEST

/* A request waiting for a tunnel moves when another worker gets one. */
START_TEST(test_handoff_from_wait)
{
	struct group		*g = registry_group("handoff-group", 1);
	struct handoff_rx	 hr;
	struct ipc		*master;
	int			 sv[2], app;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	ls_worker->w_ipc = ipc_new(ls_worker->w_base, sv[0],
	    handoff_dispatch, handoff_closed, NULL);
	memset(&hr, 0, sizeof(hr));
	master = ipc_new(ls_worker->w_base, sv[1], handoff_dispatch,
	    handoff_closed, &hr);
	app = fx_app_new(g);
	fx_app_connect(app, 8080, NULL, 0);
	ck_assert_uint_eq(front_waiting(), 1);
	fx_pick_worker = 1;
	front_tunnel_available();
	ck_assert(fx_pump_until(handoff_came, &hr));
	ck_assert_int_eq(hr.hr_type, IPC_HANDOFF);
	ck_assert_uint_eq(front_waiting(), 0);
	ck_assert_uint_eq(ls_worker->w_channels, 0);
	close(hr.hr_fd);
	fx_close(app);
	ipc_free(master);
	all_closed();
}
END_TEST

/* The master is gone: the request cannot move and fails. */
START_TEST(test_handoff_fails)
{
	struct group		*g = registry_group("handoff-group", 1);
	int			 sv[2], app;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	ls_worker->w_ipc = ipc_new(ls_worker->w_base, sv[0],
	    handoff_dispatch, handoff_closed, NULL);
	close(sv[1]);
	fx_pick_worker = 2;
	app = fx_app_new(g);
	fx_app_connect(app, 8080, "x", 1);
	fx_app_reply(app, S5_REP_FAIL);
	ck_assert(fx_app_eof(app));
	all_closed();
}
END_TEST

/* ---- SOCKS side: answered by the far side ----------------------------- */

START_TEST(test_socks_relay_halfclose_app_first)
{
	struct fx_peer	*p = fx_peer_new("p", 1);
	struct channel	*ch;
	struct fx_msg	 fm;
	uint8_t		 id[LS_CHANNEL_ID_LEN], up[1000], down[2000];
	int		 app;

	ch = socks_open(p, &app, id, NULL, 0);
	ck_assert_int_eq(ch->ch_state, CH_REPLY_OWED);
	ck_assert_ptr_eq(fx_timer_arg(LS_FASTOPEN_GUARD), ch);
	fx_app_quiet(app);		/* no reply before the answer */
	fx_send_cr(p, 1, id, NULL);
	fx_app_reply(app, S5_REP_OK);
	ch = fx_chan(p, id);
	ck_assert_int_eq(ch->ch_state, CH_RELAY);
	ck_assert_ptr_null(fx_timer(LS_FASTOPEN_GUARD));
	/* A second answer changes nothing. */
	fx_send_cr(p, 0, id, "late");
	fx_app_quiet(app);
	ck_assert_int_eq(fx_chan(p, id)->ch_state, CH_RELAY);

	fx_fill(up, sizeof(up), 1);
	fx_fill(down, sizeof(down), 2);
	fx_app_write(app, up, sizeof(up));
	fx_expect_data(p, id, up, sizeof(up));
	fx_send_data(p, id, down, sizeof(down));
	fx_app_expect(app, down, sizeof(down));

	/* The application is done: one direction ends, the other goes on. */
	app_shut(app);
	fx_expect(p, MSG_DISCONNECT, id, &fm);
	ck_assert_uint_eq(fm.fm_m.m_error.len, 0);
	fx_msg_free(&fm);
	ch = fx_chan(p, id);
	ck_assert_ptr_nonnull(ch);
	ck_assert_int_eq(ch->ch_state, CH_RELAY);
	ck_assert(ch->ch_flags & CHF_LOCAL_EOF);
	ck_assert_ptr_null(fx_timer(CH_LINGER));	/* half-close peer */
	fx_send_data(p, id, down, 500);
	fx_app_expect(app, down, 500);
	fx_send_disc(p, id, NULL);
	ck_assert(fx_app_eof(app));
	fx_expect_none(p);
	all_closed();
}
END_TEST

START_TEST(test_socks_relay_halfclose_peer_first)
{
	struct fx_peer	*p = fx_peer_new("p", 1);
	struct channel	*ch;
	struct fx_msg	 fm;
	uint8_t		 id[LS_CHANNEL_ID_LEN], up[300];
	int		 app;

	ch = socks_relay(p, &app, id);
	fx_send_disc(p, id, "EOF");	/* graceful, as a dial side says it */
	ck_assert(fx_app_eof(app));	/* our write side is shut */
	ch = fx_chan(p, id);
	ck_assert_ptr_nonnull(ch);
	ck_assert(ch->ch_flags & CHF_REMOTE_EOF);
	ck_assert(ch->ch_flags & CHF_SHUTWR);
	/* Data after the peer's Disconnect is dropped. */
	fx_send_data(p, id, "late", 4);
	fx_pump();
	fx_fill(up, sizeof(up), 3);
	fx_app_write(app, up, sizeof(up));
	fx_expect_data(p, id, up, sizeof(up));
	app_shut(app);
	fx_expect(p, MSG_DISCONNECT, id, &fm);
	fx_msg_free(&fm);
	all_closed();
	fx_expect_none(p);
}
END_TEST

START_TEST(test_socks_connect_failed)
{
	struct fx_peer	*p = fx_peer_new("p", 1);
	struct channel	*ch;
	uint8_t		 id[LS_CHANNEL_ID_LEN];
	int		 app;

	ch = socks_open(p, &app, id, NULL, 0);
	ck_assert_int_eq(ch->ch_state, CH_REPLY_OWED);
	fx_send_cr(p, 0, id, "dial tcp 127.0.0.1:8080: connect: refused");
	fx_app_reply(app, S5_REP_HOSTUNREACH);
	ck_assert(fx_app_eof(app));
	fx_expect_none(p);		/* the dial side forgot it already */
	all_closed();
}
END_TEST

START_TEST(test_reply_owed_disconnect)
{
	struct fx_peer	*p = fx_peer_new("p", 1);
	uint8_t		 id[LS_CHANNEL_ID_LEN];
	int		 app;

	socks_open(p, &app, id, NULL, 0);
	fx_send_disc(p, id, "gave up");
	fx_app_reply(app, S5_REP_HOSTUNREACH);
	ck_assert(fx_app_eof(app));
	fx_expect_none(p);
	all_closed();
}
END_TEST

START_TEST(test_reply_owed_timeout)
{
	struct fx_peer	*p = fx_peer_new("p", 1);
	struct fx_msg	 fm;
	uint8_t		 id[LS_CHANNEL_ID_LEN];
	int		 app;

	socks_open(p, &app, id, NULL, 0);
	ck_assert(fx_fire(LS_FASTOPEN_GUARD));
	fx_app_reply(app, S5_REP_HOSTUNREACH);
	ck_assert(fx_app_eof(app));
	fx_expect(p, MSG_DISCONNECT, id, &fm);	/* P-8: tell the far side */
	ck_assert_str_eq(fx_errtext(&fm), "connect response timeout");
	fx_msg_free(&fm);
	all_closed();
}
END_TEST

START_TEST(test_reply_owed_tunnel_closed)
{
	struct fx_peer	*p = fx_peer_new("p", 1);
	uint8_t		 id[LS_CHANNEL_ID_LEN];
	int		 app;

	socks_open(p, &app, id, NULL, 0);
	tunnel_close(p->p_tun, "test closes it");
	ck_assert(p->p_closed);
	ck_assert_str_eq(p->p_why, "test closes it");
	fx_app_reply(app, S5_REP_NETUNREACH);
	ck_assert(fx_app_eof(app));
	all_closed();
}
END_TEST

/*
 * Data that overtakes its ConnectResponse (a peer may send its first
 * bytes right behind the answer, P-7) waits until the application has
 * its reply: a SOCKS5 client reads the reply first.
 */
START_TEST(test_reply_owed_data_first)
{
	struct fx_peer	*p = fx_peer_new("p", 1);
	struct channel	*ch;
	uint8_t		 id[LS_CHANNEL_ID_LEN];
	int		 app;

	ch = socks_open(p, &app, id, NULL, 0);
	fx_send_data(p, id, "banner", 6);
	fx_pump();
	ck_assert_int_eq(ch->ch_state, CH_REPLY_OWED);
	fx_send_cr(p, 1, id, NULL);
	fx_app_reply(app, S5_REP_OK);
	fx_app_expect(app, "banner", 6);
	fx_close(app);
	fx_expect(p, MSG_DISCONNECT, id, NULL);
	fx_send_disc(p, id, NULL);
	all_closed();
}
END_TEST

/* ... and goes with a failure: the application gets only its reply. */
START_TEST(test_reply_owed_data_then_refused)
{
	struct fx_peer	*p = fx_peer_new("p", 1);
	uint8_t		 id[LS_CHANNEL_ID_LEN];
	int		 app;

	socks_open(p, &app, id, NULL, 0);
	fx_send_data(p, id, "banner", 6);
	fx_send_cr(p, 0, id, "refused");
	fx_app_reply(app, S5_REP_HOSTUNREACH);
	ck_assert(fx_app_eof(app));
	fx_expect_none(p);
	all_closed();
}
END_TEST

/* The application goes while its reply is owed: the far side learns. */
START_TEST(test_reply_owed_app_closes)
{
	struct fx_peer	*p = fx_peer_new("p", 1);
	struct channel	*ch;
	struct fx_msg	 fm;
	uint8_t		 id[LS_CHANNEL_ID_LEN];
	int		 app;

	ch = socks_open(p, &app, id, NULL, 0);
	fx_close(app);
	fx_pump();
	ck_assert_int_eq(ch->ch_state, CH_REPLY_OWED);	/* not reading */
	fx_send_cr(p, 1, id, NULL);
	fx_expect(p, MSG_DISCONNECT, id, &fm);
	fx_msg_free(&fm);
	all_closed();
}
END_TEST

/* Every channel of a closing tunnel goes, each with what it is owed. */
START_TEST(test_tunnel_close_every_channel)
{
	struct fx_peer	*p = fx_peer_new("p", 1);
	uint8_t		 id1[LS_CHANNEL_ID_LEN], id2[LS_CHANNEL_ID_LEN];
	uint8_t		 id3[LS_CHANNEL_ID_LEN], down[3000];
	int		 a1, a2, a3;

	socks_relay(p, &a1, id1);
	socks_open(p, &a2, id2, NULL, 0);
	socks_relay(p, &a3, id3);
	ck_assert_uint_eq(ls_worker->w_channels, 3);
	fx_fill(down, sizeof(down), 4);
	fx_send_data(p, id1, down, sizeof(down));
	fx_pump();
	tunnel_close(p->p_tun, "bye");
	fx_app_expect(a1, down, sizeof(down));	/* delivered, then EOF */
	ck_assert(fx_app_eof(a1));
	fx_app_reply(a2, S5_REP_NETUNREACH);
	ck_assert(fx_app_eof(a2));
	ck_assert(fx_app_eof(a3));
	ck_assert(p->p_closed);
	ck_assert_str_eq(p->p_why, "bye");
	fx_expect_none(p);
	all_closed();
}
END_TEST

/* ---- the HTTP proxy on the same port ---------------------------------- */

/* An HTTP request head through p, up to the Connect p receives. */
static void
http_open(struct fx_peer *p, int *app, uint8_t *id, const char *req,
    const char *host, uint16_t port)
{
	struct fx_msg	 fm;

	*app = fx_app_new(NULL);
	fx_pick_tunnel = p->p_tun;
	fx_app_write(*app, req, strlen(req));
	fx_expect(p, MSG_CONNECT, NULL, &fm);
	ck_assert_int_eq(fm.fm_m.m_proto, PROTO_TCP);
	ck_assert_uint_eq(fm.fm_m.m_addr.len, strlen(host));
	ck_assert_int_eq(memcmp(fm.fm_m.m_addr.p, host, strlen(host)), 0);
	ck_assert_uint_eq(fm.fm_m.m_port, port);
	memcpy(id, fm.fm_m.m_id, LS_CHANNEL_ID_LEN);
	fx_msg_free(&fm);
	ck_assert_int_eq(fx_chan(p, id)->ch_ops->co_kind, CHK_SOCKS);
	ck_assert(fx_chan(p, id)->ch_flags & CHF_HTTP);
}

#define HTTP_200	"HTTP/1.1 200 Connection Established\r\n\r\n"

START_TEST(test_http_connect)
{
	struct fx_peer	*p = fx_peer_new("p", 1);
	uint8_t		 id[LS_CHANNEL_ID_LEN];
	int		 app;

	http_open(p, &app, id, "CONNECT [::1]:8443 HTTP/1.1\r\n"
	    "Host: x\r\n\r\nearly", "::1", 8443);
	ck_assert_int_eq(fx_chan(p, id)->ch_state, CH_REPLY_OWED);
	fx_app_quiet(app);
	fx_send_cr(p, 1, id, NULL);
	fx_app_expect(app, HTTP_200, strlen(HTTP_200));
	/* The bytes behind the head follow, after the 200. */
	fx_expect_data(p, id, (const uint8_t *)"early", 5);
	fx_send_data(p, id, "back", 4);
	fx_app_expect(app, "back", 4);
	fx_close(app);
	fx_expect(p, MSG_DISCONNECT, id, NULL);
	fx_send_disc(p, id, NULL);
	all_closed();
}
END_TEST

START_TEST(test_http_connect_refused)
{
	struct fx_peer	*p = fx_peer_new("p", 1);
	uint8_t		 id[LS_CHANNEL_ID_LEN];
	char		 buf[16];
	int		 app;

	http_open(p, &app, id, "CONNECT h:1 HTTP/1.1\r\n\r\n", "h", 1);
	fx_send_cr(p, 0, id, "connection refused");
	fx_app_read(app, buf, 12);
	ck_assert_int_eq(memcmp(buf, "HTTP/1.1 502", 12), 0);
	while (fx_app_avail(app) > 0)
		fx_app_read(app, buf, 1);
	ck_assert(fx_app_eof(app));
	all_closed();
}
END_TEST

START_TEST(test_http_forward_fastopen)
{
	static const char	 fwd[] = "GET /x HTTP/1.1\r\nHost: h:81\r\n"
				    "Connection: close\r\n\r\n";
	struct fx_peer		*p = fx_peer_new("p", 1);
	uint8_t			 id[LS_CHANNEL_ID_LEN];
	char			 buf[16];
	int			 app;

	ls_conf->c_fastopen = 1;
	http_open(p, &app, id, "GET http://h:81/x HTTP/1.1\r\n"
	    "Proxy-Connection: keep-alive\r\n\r\n", "h", 81);
	/* No reply of ours: the rewritten head goes with the Connect. */
	fx_expect_data(p, id, (const uint8_t *)fwd, strlen(fwd));
	fx_app_quiet(app);
	/* Nothing came from the origin yet: a failure is still a 502. */
	fx_send_cr(p, 0, id, "connection refused");
	fx_app_read(app, buf, 12);
	ck_assert_int_eq(memcmp(buf, "HTTP/1.1 502", 12), 0);
	while (fx_app_avail(app) > 0)
		fx_app_read(app, buf, 1);
	ck_assert(fx_app_eof(app));
	all_closed();
}
END_TEST

START_TEST(test_http_bad_head)
{
	static const char	 want[] = "HTTP/1.1 400 Bad Request\r\n";
	char			 buf[sizeof(want)];
	int			 app;

	app = fx_app_new(NULL);
	fx_app_write(app, "GET / HTTP/1.1\r\n\r\n", 18);
	fx_app_read(app, buf, sizeof(want) - 1);
	ck_assert_int_eq(memcmp(buf, want, sizeof(want) - 1), 0);
	while (fx_app_avail(app) > 0)
		fx_app_read(app, buf, 1);
	ck_assert(fx_app_eof(app));
	all_closed();
}
END_TEST

/* ---- fast open -------------------------------------------------------- */

START_TEST(test_fastopen_success)
{
	struct fx_peer	*p = fx_peer_new("p", 1);
	struct channel	*ch;
	uint8_t		 id[LS_CHANNEL_ID_LEN], down[100];
	int		 app;

	ls_conf->c_fastopen = 1;
	ch = socks_open(p, &app, id, "GET / HTTP/1.0\r\n\r\n", 18);
	/* Success at once; the early bytes follow the Connect in order. */
	fx_app_reply(app, S5_REP_OK);
	fx_expect_data(p, id, (const uint8_t *)"GET / HTTP/1.0\r\n\r\n", 18);
	ch = fx_chan(p, id);
	ck_assert_int_eq(ch->ch_state, CH_RELAY);
	ck_assert(ch->ch_flags & CHF_FASTOPEN);
	ck_assert(!(ch->ch_flags & CHF_CONFIRMED));
	ck_assert_ptr_eq(fx_timer_arg(LS_FASTOPEN_GUARD), ch);
	fx_send_cr(p, 1, id, NULL);
	fx_pump();
	ck_assert(ch->ch_flags & CHF_CONFIRMED);
	ck_assert_ptr_null(fx_timer(LS_FASTOPEN_GUARD));
	fx_fill(down, sizeof(down), 5);
	fx_send_data(p, id, down, sizeof(down));
	fx_app_expect(app, down, sizeof(down));
	fx_close(app);
	fx_expect(p, MSG_DISCONNECT, id, NULL);
	fx_send_disc(p, id, NULL);
	all_closed();
}
END_TEST

START_TEST(test_fastopen_failure_closes)
{
	struct fx_peer	*p = fx_peer_new("p", 1);
	uint8_t		 id[LS_CHANNEL_ID_LEN];
	int		 app;

	ls_conf->c_fastopen = 1;
	socks_open(p, &app, id, "x", 1);
	fx_app_reply(app, S5_REP_OK);
	fx_expect_data(p, id, (const uint8_t *)"x", 1);
	fx_send_cr(p, 0, id, "connection refused");
	ck_assert(fx_app_eof(app));	/* no second reply: just closed */
	fx_expect_none(p);
	all_closed();
}
END_TEST

START_TEST(test_fastopen_guard_timeout)
{
	struct fx_peer	*p = fx_peer_new("p", 1);
	struct fx_msg	 fm;
	uint8_t		 id[LS_CHANNEL_ID_LEN];
	int		 app;

	ls_conf->c_fastopen = 1;
	socks_open(p, &app, id, NULL, 0);
	fx_app_reply(app, S5_REP_OK);
	ck_assert(fx_fire(LS_FASTOPEN_GUARD));
	ck_assert(fx_app_eof(app));
	fx_expect(p, MSG_DISCONNECT, id, &fm);
	ck_assert_str_eq(fx_errtext(&fm),
	    "fast open: connect not confirmed in time");
	fx_msg_free(&fm);
	all_closed();
}
END_TEST

/* Fast open while waiting for a tunnel: answered once one comes. */
START_TEST(test_fastopen_after_wait)
{
	struct fx_peer	*p = fx_peer_new("p", 1);
	struct channel	*ch;
	struct fx_msg	 fm;
	uint8_t		 id[LS_CHANNEL_ID_LEN];
	int		 app;

	ls_conf->c_fastopen = 1;
	app = fx_app_new(NULL);
	fx_app_connect(app, 8080, "first", 5);
	ch = fx_timer_arg(LS_WAIT_TUNNEL);
	ck_assert_ptr_nonnull(ch);
	ck_assert_int_eq(ch->ch_state, CH_WAIT_TUNNEL);
	fx_app_quiet(app);		/* no reply while waiting */
	fx_pick_tunnel = p->p_tun;
	front_tunnel_available();
	fx_app_reply(app, S5_REP_OK);
	fx_expect(p, MSG_CONNECT, NULL, &fm);
	memcpy(id, fm.fm_m.m_id, sizeof(id));
	fx_msg_free(&fm);
	fx_expect_data(p, id, (const uint8_t *)"first", 5);
	ck_assert_int_eq(fx_chan(p, id)->ch_state, CH_RELAY);
	fx_send_cr(p, 1, id, NULL);
	fx_close(app);
	fx_expect(p, MSG_DISCONNECT, id, NULL);
	fx_send_disc(p, id, NULL);
	all_closed();
}
END_TEST

/* The application is done before the connect is confirmed: the guard
 * keeps running (no linger instead of it), and goes with the answer. */
START_TEST(test_fastopen_eof_before_confirm)
{
	struct fx_peer	*p = fx_peer_new("p", 0);
	struct channel	*ch;
	struct fx_msg	 fm;
	uint8_t		 id[LS_CHANNEL_ID_LEN];
	int		 app;

	ls_conf->c_fastopen = 1;
	ch = socks_open(p, &app, id, "req", 3);
	fx_app_reply(app, S5_REP_OK);
	fx_expect_data(p, id, (const uint8_t *)"req", 3);
	app_shut(app);
	fx_expect(p, MSG_DISCONNECT, id, &fm);
	fx_msg_free(&fm);
	ck_assert(ch->ch_flags & CHF_LOCAL_EOF);
	ck_assert_ptr_eq(fx_timer_arg(LS_FASTOPEN_GUARD), ch);
	ck_assert_ptr_null(fx_timer(CH_LINGER));
	/* Confirmed: now the plain peer gets its linger. */
	fx_send_cr(p, 1, id, NULL);
	fx_pump();
	ck_assert_ptr_null(fx_timer(LS_FASTOPEN_GUARD));
	ck_assert_ptr_eq(fx_timer_arg(CH_LINGER), ch);
	fx_send_data(p, id, "resp", 4);
	fx_app_expect(app, "resp", 4);
	fx_send_disc(p, id, NULL);
	ck_assert(fx_app_eof(app));
	all_closed();
}
END_TEST

/* A connector whose server is a plain 0x01 peer holds the early data. */
static struct channel *
fastopen_hold(struct fx_peer *p, int *app, uint8_t *id)
{
	struct channel	*ch;

	ls_conf->c_fastopen = 1;
	ls_conf->c_subcmd = "connector";
	ls_conf->c_role = ROLE_CONNECTOR;
	ch = socks_open(p, app, id, "held", 4);
	fx_app_reply(*app, S5_REP_OK);
	ck_assert_int_eq(ch->ch_state, CH_CONNECTING);
	ck_assert(ch->ch_flags & CHF_FOHOLD);
	ck_assert(ch->ch_flags & CHF_FASTOPEN);
	fx_expect_none(p);
	return (ch);
}

START_TEST(test_fastopen_hold_released)
{
	struct fx_peer	*p = fx_peer_new("p", 0);
	struct channel	*ch;
	uint8_t		 id[LS_CHANNEL_ID_LEN];
	int		 app;

	ch = fastopen_hold(p, &app, id);
	fx_app_write(app, (const uint8_t *)"+more", 5);
	fx_expect_none(p);		/* still held */
	fx_send_cr(p, 1, id, NULL);
	fx_expect_data(p, id, (const uint8_t *)"held+more", 9);
	ch = fx_chan(p, id);
	ck_assert_int_eq(ch->ch_state, CH_RELAY);
	ck_assert(!(ch->ch_flags & CHF_FOHOLD));
	fx_send_data(p, id, "ok", 2);
	fx_app_expect(app, "ok", 2);
	fx_send_disc(p, id, NULL);
	ck_assert(fx_app_eof(app));
	all_closed();
}
END_TEST

START_TEST(test_fastopen_hold_refused)
{
	struct fx_peer	*p = fx_peer_new("p", 0);
	uint8_t		 id[LS_CHANNEL_ID_LEN];
	int		 app;

	fastopen_hold(p, &app, id);
	fx_send_cr(p, 0, id, "no");
	ck_assert(fx_app_eof(app));
	fx_expect_none(p);
	all_closed();
}
END_TEST

START_TEST(test_connecting_disconnect)
{
	struct fx_peer	*p = fx_peer_new("p", 0);
	uint8_t		 id[LS_CHANNEL_ID_LEN];
	int		 app;

	fastopen_hold(p, &app, id);
	fx_send_disc(p, id, NULL);
	ck_assert(fx_app_eof(app));
	/*
	 * A plain (0x01) peer closed the channel for good: not answered,
	 * since the reference queues every Disconnect it receives behind
	 * 5 s sleeps (regress_disconnect_echo.sh).
	 */
	fx_expect_none(p);
	all_closed();
}
END_TEST

START_TEST(test_connecting_tunnel_closed)
{
	struct fx_peer	*p = fx_peer_new("p", 0);
	uint8_t		 id[LS_CHANNEL_ID_LEN];
	int		 app;

	fastopen_hold(p, &app, id);
	fx_peer_eof(p);			/* the link ends under it */
	ck_assert(p->p_closed);
	ck_assert_str_eq(p->p_why, "worker link closed");
	ck_assert(fx_app_eof(app));
	all_closed();
}
END_TEST

START_TEST(test_connecting_timeout)
{
	struct fx_peer	*p = fx_peer_new("p", 0);
	struct fx_msg	 fm;
	uint8_t		 id[LS_CHANNEL_ID_LEN];
	int		 app;

	fastopen_hold(p, &app, id);
	ck_assert(fx_fire(LS_FASTOPEN_GUARD));
	ck_assert(fx_app_eof(app));
	fx_expect(p, MSG_DISCONNECT, id, &fm);
	ck_assert_str_eq(fx_errtext(&fm), "connect response timeout");
	fx_msg_free(&fm);
	all_closed();
}
END_TEST

/* ---- flushing --------------------------------------------------------- */

/* A relaying channel whose application does not read 1 MiB it is owed,
 * closed by a Disconnect with an error: it flushes. */
static struct channel *
flushing(struct fx_peer *p, int *app, uint8_t *id, uint8_t *down)
{
	struct channel	*ch;
	struct fx_msg	 fm;

	socks_relay(p, app, id);
	fx_fill(down, MIB, 6);
	fx_send_data(p, id, down, MIB);
	fx_pump();
	ch = fx_chan(p, id);
	ck_assert_ptr_nonnull(ch);
	channel_ref(ch);
	fx_send_disc(p, id, "connection reset by peer");
	fx_pump();
	ck_assert_int_eq(ch->ch_state, CH_FLUSHING);
	ck_assert_ptr_null(fx_chan(p, id));	/* off the tunnel */
	ck_assert_ptr_eq(fx_timer_arg(30), ch);
	ck_assert_uint_eq(ls_worker->w_channels, 1);
	fx_expect(p, MSG_DISCONNECT, id, &fm);
	ck_assert_str_eq(fx_errtext(&fm), "connection reset by peer");
	fx_msg_free(&fm);
	return (ch);
}

START_TEST(test_flushing_completes)
{
	struct fx_peer	*p = fx_peer_new("p", 1);
	struct channel	*ch;
	uint8_t		 id[LS_CHANNEL_ID_LEN], *down = malloc(MIB);
	int		 app;

	ch = flushing(p, &app, id, down);
	/* The tunnel closing does not touch a flushing channel. */
	tunnel_close(p->p_tun, "bye");
	ck_assert_int_eq(ch->ch_state, CH_FLUSHING);
	fx_app_expect(app, down, MIB);
	ck_assert(fx_app_eof(app));
	ck_assert_int_eq(ch->ch_state, CH_CLOSED);
	channel_unref(ch);
	free(down);
	all_closed();
}
END_TEST

START_TEST(test_flushing_timeout)
{
	struct fx_peer	*p = fx_peer_new("p", 1);
	struct channel	*ch;
	uint8_t		 id[LS_CHANNEL_ID_LEN], *down = malloc(MIB);
	int		 app;

	ch = flushing(p, &app, id, down);
	ck_assert(fx_fire(30));
	ck_assert_int_eq(ch->ch_state, CH_CLOSED);
	ck_assert_uint_eq(ls_worker->w_channels, 0);
	ck_assert_uint_lt(app_drain(app), MIB);
	channel_unref(ch);
	free(down);
	all_closed();
}
END_TEST

START_TEST(test_flushing_app_closes)
{
	struct fx_peer	*p = fx_peer_new("p", 1);
	struct channel	*ch;
	uint8_t		 id[LS_CHANNEL_ID_LEN], *down = malloc(MIB);
	int		 app;

	ch = flushing(p, &app, id, down);
	fx_close(app);
	fx_pump();
	ck_assert_int_eq(ch->ch_state, CH_CLOSED);
	channel_unref(ch);
	free(down);
	all_closed();
}
END_TEST

START_TEST(test_flushing_closed_again)
{
	struct fx_peer	*p = fx_peer_new("p", 1);
	struct channel	*ch;
	uint8_t		 id[LS_CHANNEL_ID_LEN], *down = malloc(MIB);
	int		 app;

	ch = flushing(p, &app, id, down);
	channel_close(ch, "enough", 1);		/* ends the flush */
	ck_assert_int_eq(ch->ch_state, CH_CLOSED);
	ck_assert_uint_lt(app_drain(app), MIB);
	channel_unref(ch);
	free(down);
	all_closed();
}
END_TEST

/* ---- credit windows --------------------------------------------------- */

START_TEST(test_credit_window)
{
	struct fx_peer	*p;
	struct channel	*ch;
	uint8_t		 id[LS_CHANNEL_ID_LEN], *up, *got;
	const size_t	 n = 100000, w = LS_WINDOW_MIN;
	int		 app;

	ls_conf->c_window = w;
	p = fx_peer_new("p", 1);
	up = malloc(n);
	got = malloc(n);
	fx_fill(up, n, 7);
	ch = socks_relay(p, &app, id);
	ck_assert_int_eq(ch->ch_tx_credit, (int64_t)w);
	/* A grant before any need adds to the window. */
	fx_send_window(p, id, 1000);
	fx_pump();
	ck_assert_int_eq(ch->ch_tx_credit, (int64_t)w + 1000);
	fx_app_write(app, up, n);
	/* Exactly the peer's window, then nothing. */
	fx_read_data(p, id, got, w + 1000, NULL);
	fx_expect_none(p);
	ch = fx_chan(p, id);
	ck_assert(ch->ch_flags & CHF_NOCREDIT);
	ck_assert_int_eq(ch->ch_tx_credit, 0);
	/* A small grant lets that much through. */
	fx_send_window(p, id, 20000);
	fx_read_data(p, id, got + w + 1000, 20000, NULL);
	fx_expect_none(p);
	ck_assert(ch->ch_flags & CHF_NOCREDIT);
	fx_send_window(p, id, (uint32_t)w);
	fx_read_data(p, id, got + w + 21000, n - w - 21000, NULL);
	ck_assert_int_eq(memcmp(got, up, n), 0);
	ck_assert(!(ch->ch_flags & CHF_NOCREDIT));
	ck_assert_int_eq(ch->ch_tx_credit, (int64_t)(w + 21000 + w - n));
	fx_expect_none(p);
	free(up);
	free(got);
	fx_close(app);
	fx_expect(p, MSG_DISCONNECT, id, NULL);
	fx_send_disc(p, id, NULL);
	all_closed();
}
END_TEST

START_TEST(test_credit_grant)
{
	struct fx_peer	*p;
	struct channel	*ch;
	struct fx_msg	 fm;
	uint8_t		 id[LS_CHANNEL_ID_LEN], down[3 * 16384];
	const uint32_t	 w = LS_WINDOW_MIN;
	int		 app;

	ls_conf->c_window = w;
	p = fx_peer_new("p", 1);
	ch = socks_relay(p, &app, id);
	ck_assert_uint_eq(ch->ch_rx_limit, w);
	fx_fill(down, sizeof(down), 8);
	/* Less than a quarter consumed: no grant yet. */
	fx_send_data(p, id, down, w / 4 - 1);
	fx_app_expect(app, down, w / 4 - 1);
	fx_expect_none(p);
	/* A quarter: the peer gets it back. */
	fx_send_data(p, id, down + w / 4 - 1, 1);
	fx_app_expect(app, down + w / 4 - 1, 1);
	fx_expect(p, MSG_WINDOW, id, &fm);
	ck_assert_uint_eq(fm.fm_m.m_window, w / 4);
	fx_msg_free(&fm);
	ch = fx_chan(p, id);
	ck_assert_uint_eq(ch->ch_rx_limit, w + w / 4);
	ck_assert_uint_eq(ch->ch_rx_acked, w / 4);
	/* The whole window at once, then more within the grant. */
	fx_send_data(p, id, down, 2 * 16384);
	fx_app_expect(app, down, 2 * 16384);
	fx_expect(p, MSG_WINDOW, id, &fm);
	ck_assert_uint_eq(fm.fm_m.m_window, 2 * 16384);
	fx_msg_free(&fm);
	fx_close(app);
	fx_expect(p, MSG_DISCONNECT, id, NULL);
	fx_send_disc(p, id, NULL);
	all_closed();
}
END_TEST

START_TEST(test_credit_overrun)
{
	struct fx_peer	*p;
	struct fx_msg	 fm;
	uint8_t		 id[LS_CHANNEL_ID_LEN], *down;
	const uint32_t	 w = LS_WINDOW_MIN;
	int		 app;

	ls_conf->c_window = w;
	p = fx_peer_new("p", 1);
	socks_relay(p, &app, id);
	down = calloc(1, w + 1);
	fx_send_data(p, id, down, w + 1);
	fx_expect(p, MSG_DISCONNECT, id, &fm);
	ck_assert_str_eq(fx_errtext(&fm), "peer exceeded the credit window");
	fx_msg_free(&fm);
	ck_assert(fx_app_eof(app));	/* none of it delivered */
	free(down);
	all_closed();
}
END_TEST

/* No Data message carries more than -b (c_bufsize) bytes. */
START_TEST(test_bufsize_caps_messages)
{
	struct fx_peer	*p = fx_peer_new("p", 1);
	struct fx_msg	 fm;
	uint8_t		 id[LS_CHANNEL_ID_LEN], up[2500];
	size_t		 i, off = 0;
	const size_t	 want[] = { 1000, 1000, 500 };
	int		 app;

	ls_conf->c_bufsize = 1000;
	socks_relay(p, &app, id);
	fx_fill(up, sizeof(up), 15);
	fx_app_write(app, up, sizeof(up));
	for (i = 0; i < LS_NITEMS(want); i++) {
		fx_expect(p, MSG_DATA, id, &fm);
		ck_assert_uint_eq(fm.fm_m.m_datalen, want[i]);
		ck_assert_int_eq(memcmp(fm.fm_m.m_data, up + off, want[i]), 0);
		off += want[i];
		fx_msg_free(&fm);
	}
	fx_close(app);
	fx_expect(p, MSG_DISCONNECT, id, NULL);
	fx_send_disc(p, id, NULL);
	all_closed();
}
END_TEST

/* ---- plain 0x01 peers: linger, pause ---------------------------------- */

START_TEST(test_plain_linger)
{
	struct fx_peer	*p = fx_peer_new("p", 0);
	struct channel	*ch;
	struct fx_msg	 fm;
	uint8_t		 id[LS_CHANNEL_ID_LEN];
	int		 app;

	ch = socks_relay(p, &app, id);
	ck_assert(!p->p_tun->t_credit && !p->p_tun->t_halfclose);
	app_shut(app);
	fx_expect(p, MSG_DISCONNECT, id, &fm);
	fx_msg_free(&fm);
	ck_assert_ptr_eq(fx_timer_arg(CH_LINGER), ch);
	/* The peer still talks: delivered, the linger starts over. */
	fx_send_data(p, id, "tail", 4);
	fx_app_expect(app, "tail", 4);
	ck_assert_ptr_eq(fx_timer_arg(CH_LINGER), ch);
	ck_assert(fx_fire(CH_LINGER));
	ck_assert(fx_app_eof(app));
	fx_expect_none(p);
	all_closed();
}
END_TEST

START_TEST(test_plain_disconnect_closes)
{
	struct fx_peer	*p = fx_peer_new("p", 0);
	uint8_t		 id[LS_CHANNEL_ID_LEN], down[5000];
	int		 app;

	socks_relay(p, &app, id);
	fx_fill(down, sizeof(down), 9);
	fx_send_data(p, id, down, sizeof(down));
	fx_send_disc(p, id, NULL);
	fx_app_expect(app, down, sizeof(down));
	ck_assert(fx_app_eof(app));
	/*
	 * No half-close on a plain peer: both directions end, and the
	 * Disconnect is not echoed (the peer has forgotten the channel).
	 */
	fx_expect_none(p);
	all_closed();
}
END_TEST

START_TEST(test_plain_window_ignored)
{
	struct fx_peer	*p = fx_peer_new("p", 0);
	struct channel	*ch;
	uint8_t		 id[LS_CHANNEL_ID_LEN];
	int		 app;

	ch = socks_relay(p, &app, id);
	fx_send_window(p, id, 1000);
	fx_pump();
	ck_assert_int_eq(ch->ch_tx_credit, 0);
	fx_app_write(app, (const uint8_t *)"abc", 3);
	fx_expect_data(p, id, (const uint8_t *)"abc", 3);
	fx_close(app);
	fx_expect(p, MSG_DISCONNECT, id, NULL);
	fx_send_disc(p, id, NULL);
	all_closed();
}
END_TEST

/* Above CH_OUT_HIGH unwritten, the tunnel's reader pauses; it resumes
 * once the application drained below CH_OUT_LOW. */
START_TEST(test_plain_pause_resume)
{
	struct fx_peer	*p = fx_peer_new("p", 0);
	struct channel	*ch;
	uint8_t		 id[LS_CHANNEL_ID_LEN], *down, *got;
	const size_t	 n = 4 * MIB;
	size_t		 i;
	int		 app;

	ch = socks_relay(p, &app, id);
	down = malloc(n);
	got = malloc(n);
	fx_fill(down, n, 10);
	for (i = 0; i < 4; i++)
		fx_send_data(p, id, down + i * MIB, MIB);
	fx_pump();
	ck_assert(ch->ch_flags & CHF_PAUSING);
	ck_assert_uint_eq(p->p_tun->t_pausers, 1);
	/* The last frame waits in the link, not in the channel. */
	ck_assert_uint_gt(evbuffer_get_length(bufferevent_get_input(
	    p->p_tun->t_link)), MIB);
	fx_app_read(app, got, n);
	ck_assert_int_eq(memcmp(got, down, n), 0);
	ck_assert(!(ch->ch_flags & CHF_PAUSING));
	ck_assert_uint_eq(p->p_tun->t_pausers, 0);
	free(down);
	free(got);
	fx_close(app);
	fx_expect(p, MSG_DISCONNECT, id, NULL);
	fx_send_disc(p, id, NULL);
	all_closed();
}
END_TEST

/* The tunnel's output full: the channel stops reading and waits on the
 * blocked list until the output drains. */
START_TEST(test_blocked_on_tunnel)
{
	struct fx_peer	*p = fx_peer_new("p", 0);
	struct channel	*ch;
	uint8_t		 id[LS_CHANNEL_ID_LEN], *up, *got;
	const size_t	 n = 6 * MIB;
	size_t		 off = 0;
	ssize_t		 w;
	int		 app, stuck = 0;

	ch = socks_relay(p, &app, id);
	up = malloc(n);
	got = malloc(n);
	fx_fill(up, n, 11);
	bufferevent_disable(p->p_bev, EV_READ);
	while (off < n && stuck < 3) {
		w = send(app, up + off, n - off, MSG_DONTWAIT);
		if (w > 0) {
			off += (size_t)w;
			stuck = 0;
		} else
			stuck++;
		fx_pump();
	}
	ck_assert_uint_lt(off, n);
	ck_assert(ch->ch_flags & CHF_BLOCKED);
	ck_assert(!tunnel_writable(p->p_tun));
	bufferevent_enable(p->p_bev, EV_READ);
	fx_app_write(app, up + off, n - off);
	fx_read_data(p, id, got, n, NULL);
	ck_assert_int_eq(memcmp(got, up, n), 0);
	ck_assert(!(ch->ch_flags & CHF_BLOCKED));
	free(up);
	free(got);
	fx_close(app);
	fx_expect(p, MSG_DISCONNECT, id, NULL);
	fx_send_disc(p, id, NULL);
	all_closed();
}
END_TEST

/* ---- what the tunnel delivers ----------------------------------------- */

START_TEST(test_malformed_closes_one_channel)
{
	struct fx_peer	*p = fx_peer_new("p", 1);
	uint8_t		 id1[LS_CHANNEL_ID_LEN], id2[LS_CHANNEL_ID_LEN];
	uint8_t		 id3[LS_CHANNEL_ID_LEN], bad[128];
	int		 a1, a2, a3;

	socks_relay(p, &a1, id1);
	socks_relay(p, &a2, id2);
	socks_open(p, &a3, id3, NULL, 0);
	/* Data whose length field says more than the message holds. */
	memset(bad, 0, sizeof(bad));
	msg_data_header(bad, id1, 100);
	fx_send_raw(p, bad, MSG_DATA_HDR + 50);
	ck_assert(fx_app_eof(a1));
	ck_assert_ptr_null(fx_chan(p, id1));
	/* ConnectResponse(0) without its error length, to an owed reply. */
	bad[0] = LS_PROTO_VERSION;
	bad[1] = MSG_CONNECT_RESPONSE;
	bad[2] = 0;
	memcpy(bad + 3, id3, LS_CHANNEL_ID_LEN);
	fx_send_raw(p, bad, 3 + LS_CHANNEL_ID_LEN);
	fx_app_reply(a3, S5_REP_NETUNREACH);
	ck_assert(fx_app_eof(a3));
	/* The other channel carries on. */
	fx_send_data(p, id2, "still", 5);
	fx_app_expect(a2, "still", 5);
	ck_assert_ptr_nonnull(fx_chan(p, id2));
	/* A Disconnect whose error runs past its end. */
	bad[0] = LS_PROTO_VERSION;
	bad[1] = MSG_DISCONNECT;
	memcpy(bad + 2, id2, LS_CHANNEL_ID_LEN);
	bad[18] = 10;
	bad[19] = 'x';
	fx_send_raw(p, bad, 20);
	ck_assert(fx_app_eof(a2));
	ck_assert(!p->p_closed);
	fx_expect_none(p);
	all_closed();
}
END_TEST

START_TEST(test_unknown_channel_ignored)
{
	struct fx_peer	*p = fx_peer_new("p", 1);
	struct evbuffer	*b = evbuffer_new();
	uint8_t		 id[LS_CHANNEL_ID_LEN], other[LS_CHANNEL_ID_LEN];
	uint8_t		 junk[4] = { LS_PROTO_VERSION, 0x7e, 1, 2 };
	int		 app;

	socks_relay(p, &app, id);
	memset(other, 0xab, sizeof(other));
	fx_send_data(p, other, "zzz", 3);		/* fast path */
	fx_send_cr(p, 1, other, NULL);
	fx_send_disc(p, other, "x");
	fx_send_window(p, other, 100);
	fx_send_raw(p, junk, sizeof(junk));		/* unknown type */
	/* Not channel traffic: for the tunnel's owner. */
	ck_assert_int_eq(msg_put_log(b, "info", "hello"), 0);
	fx_send_buf(p, b);
	evbuffer_free(b);
	fx_pump();
	ck_assert_uint_eq(p->p_nmsg, 1);
	ck_assert_int_eq(p->p_lasttype, MSG_LOG);
	fx_send_data(p, id, "mine", 4);
	fx_app_expect(app, "mine", 4);
	fx_app_quiet(app);
	ck_assert(!p->p_closed);
	fx_expect_none(p);
	fx_close(app);
	fx_expect(p, MSG_DISCONNECT, id, NULL);
	fx_send_disc(p, id, NULL);
	all_closed();
}
END_TEST

START_TEST(test_gzip_and_udp_data)
{
	struct fx_peer	*p = fx_peer_new("p", 1);
	struct evbuffer	*b = evbuffer_new();
	uint8_t		 id[LS_CHANNEL_ID_LEN], *down;
	const size_t	 n = 600 * KIB;
	int		 app;

	socks_relay(p, &app, id);
	down = malloc(n);
	fx_fill(down, n, 12);
	/* A 0x01 peer gzips Data of 512 KiB and more. */
	ck_assert_int_eq(msg_put_data(b, id, down, n), 0);
	ck_assert_uint_lt(evbuffer_get_length(b), n);
	fx_send_buf(p, b);
	fx_app_expect(app, down, n);
	/* UDP Data on a TCP channel: dropped. */
	ck_assert_int_eq(msg_put_data_udp(b, id, (const uint8_t *)"u", 1,
	    "1.2.3.4", 53, "5.6.7.8", 53), 0);
	fx_send_buf(p, b);
	fx_app_quiet(app);
	evbuffer_free(b);
	free(down);
	fx_close(app);
	fx_expect(p, MSG_DISCONNECT, id, NULL);
	fx_send_disc(p, id, NULL);
	all_closed();
}
END_TEST

/* ---- dial side -------------------------------------------------------- */

static struct fx_peer *
dial_peer(int ext)
{
	struct fx_peer	*p = fx_peer_new("d", ext);

	p->p_dial = 1;
	return (p);
}

static const uint8_t did[LS_CHANNEL_ID_LEN] = {
	0xd1, 0xa1, 2, 3, 4, 5, 0x46, 7, 0x88, 9, 10, 11, 12, 13, 14, 15
};

START_TEST(test_dial_relay)
{
	struct fx_peer	*p = dial_peer(1);
	struct channel	*ch;
	struct fx_msg	 fm;
	uint8_t		 up[4000], down[3000];
	uint16_t	 port;
	int		 lfd, tfd;

	lfd = fx_listen(&port);
	fx_send_connect(p, PROTO_TCP, did, "127.0.0.1", port);
	tfd = fx_accept(lfd);
	ck_assert_int_ge(tfd, 0);
	fx_expect(p, MSG_CONNECT_RESPONSE, did, &fm);
	ck_assert(fm.fm_m.m_success);
	fx_msg_free(&fm);
	ch = fx_chan(p, did);
	ck_assert_ptr_nonnull(ch);
	ck_assert_int_eq(ch->ch_ops->co_kind, CHK_DIAL);
	ck_assert_int_eq(ch->ch_state, CH_RELAY);
	ck_assert(ch->ch_flags & CHF_CONFIRMED);
	ck_assert_ptr_null(fx_timer(LS_CONNECT_TIMEOUT));
	/* A ConnectResponse on the dial side is ignored. */
	fx_send_cr(p, 1, did, NULL);
	fx_fill(up, sizeof(up), 13);
	fx_fill(down, sizeof(down), 14);
	fx_send_data(p, did, up, sizeof(up));
	fx_app_expect(tfd, up, sizeof(up));
	fx_app_write(tfd, down, sizeof(down));
	fx_expect_data(p, did, down, sizeof(down));
	/* The target is done: "EOF", as the reference says it. */
	app_shut(tfd);
	fx_expect(p, MSG_DISCONNECT, did, &fm);
	ck_assert_str_eq(fx_errtext(&fm), "EOF");
	fx_msg_free(&fm);
	ck_assert_int_eq(fx_chan(p, did)->ch_state, CH_RELAY);
	fx_send_data(p, did, "rest", 4);
	fx_app_expect(tfd, "rest", 4);
	fx_send_disc(p, did, NULL);
	ck_assert(fx_app_eof(tfd));
	fx_expect_none(p);
	all_closed();
}
END_TEST

START_TEST(test_dial_refused)
{
	struct fx_peer	*p = dial_peer(1);
	struct fx_msg	 fm;
	char		 want[128];
	uint16_t	 port = fx_closed_port();

	fx_send_connect(p, PROTO_TCP, did, "127.0.0.1", port);
	fx_expect(p, MSG_CONNECT_RESPONSE, did, &fm);
	ck_assert(!fm.fm_m.m_success);
	snprintf(want, sizeof(want), "dial tcp 127.0.0.1:%u: connect: "
	    "Connection refused", port);
	ck_assert_str_eq(fx_errtext(&fm), want);
	fx_msg_free(&fm);
	fx_expect_none(p);
	all_closed();
}
END_TEST

START_TEST(test_dial_invalid)
{
	struct fx_peer	*p = dial_peer(1);
	struct fx_msg	 fm;
	uint8_t		 raw[64];

	fx_send_connect(p, PROTO_TCP, did, "127.0.0.1", 0);
	fx_expect(p, MSG_CONNECT_RESPONSE, did, &fm);
	ck_assert(!fm.fm_m.m_success);
	ck_assert_str_eq(fx_errtext(&fm),
	    "dial tcp 127.0.0.1:0: invalid port 0");
	fx_msg_free(&fm);
	fx_send_connect(p, PROTO_TCP, did, "", 80);
	fx_expect(p, MSG_CONNECT_RESPONSE, did, &fm);
	ck_assert_str_eq(fx_errtext(&fm), "dial tcp :80: invalid address");
	fx_msg_free(&fm);
	/* A NUL inside the address. */
	raw[0] = LS_PROTO_VERSION;
	raw[1] = MSG_CONNECT;
	raw[2] = PROTO_TCP;
	memcpy(raw + 3, did, LS_CHANNEL_ID_LEN);
	raw[19] = 3;
	memcpy(raw + 20, "a\0b", 3);
	raw[23] = 0;
	raw[24] = 80;
	fx_send_raw(p, raw, 25);
	fx_expect(p, MSG_CONNECT_RESPONSE, did, &fm);
	ck_assert(!fm.fm_m.m_success);
	ck_assert_ptr_nonnull(strstr(fx_errtext(&fm), "invalid address"));
	fx_msg_free(&fm);
	fx_expect_none(p);
	all_closed();
}
END_TEST

/* Early data and a half-close that come while the dial goes on. */
START_TEST(test_dial_early_data_halfclose)
{
	struct fx_peer	*p = dial_peer(1);
	struct fx_msg	 fm;
	uint16_t	 port;
	int		 lfd, tfd;

	lfd = fx_listen(&port);
	fx_send_connect(p, PROTO_TCP, did, "127.0.0.1", port);
	fx_send_data(p, did, "early", 5);
	fx_send_disc(p, did, NULL);
	tfd = fx_accept(lfd);
	ck_assert_int_ge(tfd, 0);
	fx_expect(p, MSG_CONNECT_RESPONSE, did, &fm);
	ck_assert(fm.fm_m.m_success);
	fx_msg_free(&fm);
	fx_app_expect(tfd, "early", 5);
	ck_assert(fx_app_eof(tfd));
	ck_assert(fx_chan(p, did)->ch_flags & CHF_SHUTWR);
	fx_app_write(tfd, "resp", 4);
	fx_expect_data(p, did, (const uint8_t *)"resp", 4);
	app_shut(tfd);
	fx_expect(p, MSG_DISCONNECT, did, &fm);
	ck_assert_str_eq(fx_errtext(&fm), "EOF");
	fx_msg_free(&fm);
	all_closed();
}
END_TEST

static struct channel *
dial_direct(struct fx_peer *p, uint16_t port, uint8_t *buf, size_t len)
{
	struct evbuffer	*b = evbuffer_new();
	struct msg	 m;
	char		 err[128];
	size_t		 n;

	ck_assert_int_eq(msg_put_connect(b, PROTO_TCP, did, "127.0.0.1", port),
	    0);
	n = evbuffer_get_length(b);
	ck_assert_uint_le(n, len);
	evbuffer_remove(b, buf, n);
	evbuffer_free(b);
	ck_assert_int_eq(msg_parse(&m, buf, n, LS_INFLATE_MAX, err,
	    sizeof(err)), 0);
	dial_connect(p->p_tun, &m);
	msg_free(&m);
	return (fx_chan(p, did));
}

START_TEST(test_dial_timeout)
{
	struct fx_peer	*p = dial_peer(1);
	struct channel	*ch;
	struct fx_msg	 fm;
	uint8_t		 buf[64];
	char		 want[128];
	uint16_t	 port;

	fx_listen(&port);
	ch = dial_direct(p, port, buf, sizeof(buf));
	ck_assert_ptr_nonnull(ch);
	ck_assert_int_eq(ch->ch_state, CH_CONNECTING);
	ck_assert_ptr_eq(fx_timer_arg(LS_CONNECT_TIMEOUT), ch);
	/* The timer first, before the loop sees the connect finish. */
	event_active(fx_timer(LS_CONNECT_TIMEOUT), EV_TIMEOUT, 1);
	fx_expect(p, MSG_CONNECT_RESPONSE, did, &fm);
	ck_assert(!fm.fm_m.m_success);
	snprintf(want, sizeof(want), "dial tcp 127.0.0.1:%u: i/o timeout",
	    port);
	ck_assert_str_eq(fx_errtext(&fm), want);
	fx_msg_free(&fm);
	all_closed();
}
END_TEST

START_TEST(test_dial_disconnect_while_connecting)
{
	struct fx_peer	*p = dial_peer(1);
	struct channel	*ch;
	uint8_t		 buf[64];
	uint16_t	 port;

	int		 lfd, tfd;

	lfd = fx_listen(&port);
	ch = dial_direct(p, port, buf, sizeof(buf));
	ck_assert_int_eq(ch->ch_state, CH_CONNECTING);
	fx_send_data(p, did, "early", 5);
	/*
	 * An abort, not a half-close: the channel goes at once, its early
	 * data with it, and the peer, which closed it already, hears
	 * nothing back (a 0x01 peer queues every close it gets, P-5).
	 */
	fx_send_disc(p, did, "canceled");
	fx_expect_none(p);
	all_closed();
	/* The target got nothing: no connection, or one with no bytes. */
	if ((tfd = fx_accept(lfd)) >= 0)
		ck_assert(fx_app_eof(tfd));
}
END_TEST

START_TEST(test_dial_tunnel_closed_while_connecting)
{
	struct fx_peer	*p = dial_peer(1);
	struct channel	*ch;
	uint8_t		 buf[64];
	uint16_t	 port;

	fx_listen(&port);
	ch = dial_direct(p, port, buf, sizeof(buf));
	ck_assert_int_eq(ch->ch_state, CH_CONNECTING);
	tunnel_close(p->p_tun, "gone");
	ck_assert_uint_eq(ls_worker->w_channels, 0);
	all_closed();
}
END_TEST

START_TEST(test_dial_duplicate_connect)
{
	struct fx_peer	*p = dial_peer(1);
	struct fx_msg	 fm;
	uint16_t	 port;
	int		 lfd, tfd;

	lfd = fx_listen(&port);
	fx_send_connect(p, PROTO_TCP, did, "127.0.0.1", port);
	tfd = fx_accept(lfd);
	fx_expect(p, MSG_CONNECT_RESPONSE, did, &fm);
	fx_msg_free(&fm);
	fx_send_connect(p, PROTO_TCP, did, "127.0.0.1", port);
	fx_pump();
	ck_assert_uint_eq(ls_worker->w_channels, 1);
	ck_assert_int_eq(accept(lfd, NULL, NULL), -1);
	fx_expect_none(p);
	fx_close(tfd);
	fx_expect(p, MSG_DISCONNECT, did, NULL);
	fx_send_disc(p, did, NULL);
	all_closed();
}
END_TEST

/* A plain peer and a target that closes: linger, then gone. */
START_TEST(test_dial_plain_target_closes)
{
	struct fx_peer	*p = dial_peer(0);
	struct fx_msg	 fm;
	uint16_t	 port;
	int		 lfd, tfd;

	lfd = fx_listen(&port);
	fx_send_connect(p, PROTO_TCP, did, "127.0.0.1", port);
	tfd = fx_accept(lfd);
	fx_expect(p, MSG_CONNECT_RESPONSE, did, &fm);
	fx_msg_free(&fm);
	fx_app_write(tfd, "bye", 3);
	fx_close(tfd);
	fx_expect_data(p, did, (const uint8_t *)"bye", 3);
	fx_expect(p, MSG_DISCONNECT, did, &fm);
	ck_assert_str_eq(fx_errtext(&fm), "EOF");
	fx_msg_free(&fm);
	ck_assert(fx_fire(CH_LINGER));
	fx_expect_none(p);
	all_closed();
}
END_TEST

static Suite *
channel_suite(void)
{
	Suite	*s = suite_create("channel");
	TCase	*tc;

	tc = tcase_create("state");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_flagstr);
	tcase_add_test(tc, test_strstate);
	tcase_add_test(tc, test_set_state_legal);
	tcase_add_test(tc, test_set_ops);
	suite_add_tcase(s, tc);
#ifdef LS_STRICT
	tc = tcase_create("strict");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test_raise_signal(tc, test_set_state_illegal, SIGABRT);
	tcase_add_test_raise_signal(tc, test_set_ops_illegal, SIGABRT);
	suite_add_tcase(s, tc);
#endif

	tc = tcase_create("socks");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_socks_close_in_negotiation);
	tcase_add_test(tc, test_socks_handshake_timeout);
	tcase_add_test(tc, test_socks_bad_command);
	tcase_add_test(tc, test_socks_bad_version);
	tcase_add_test(tc, test_http_connect);
	tcase_add_test(tc, test_http_connect_refused);
	tcase_add_test(tc, test_http_forward_fastopen);
	tcase_add_test(tc, test_http_bad_head);
	tcase_add_test(tc, test_socks_udp_to_role);
	tcase_add_test(tc, test_socks_udp_unsupported);
	tcase_add_test(tc, test_wait_tunnel_then_tunnel);
	tcase_add_test(tc, test_wait_tunnel_timeout);
	tcase_add_test(tc, test_wait_tunnel_closed_tunnel);
	tcase_add_test(tc, test_handoff_and_adopt);
	tcase_add_test(tc, test_handoff_from_wait);
	tcase_add_test(tc, test_handoff_fails);
	tcase_add_test(tc, test_socks_relay_halfclose_app_first);
	tcase_add_test(tc, test_socks_relay_halfclose_peer_first);
	tcase_add_test(tc, test_socks_connect_failed);
	tcase_add_test(tc, test_reply_owed_disconnect);
	tcase_add_test(tc, test_reply_owed_timeout);
	tcase_add_test(tc, test_reply_owed_tunnel_closed);
	tcase_add_test(tc, test_reply_owed_app_closes);
	tcase_add_test(tc, test_reply_owed_data_first);
	tcase_add_test(tc, test_reply_owed_data_then_refused);
	tcase_add_test(tc, test_tunnel_close_every_channel);
	suite_add_tcase(s, tc);

	tc = tcase_create("fastopen");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_fastopen_success);
	tcase_add_test(tc, test_fastopen_failure_closes);
	tcase_add_test(tc, test_fastopen_guard_timeout);
	tcase_add_test(tc, test_fastopen_after_wait);
	tcase_add_test(tc, test_fastopen_eof_before_confirm);
	tcase_add_test(tc, test_fastopen_hold_released);
	tcase_add_test(tc, test_fastopen_hold_refused);
	tcase_add_test(tc, test_connecting_disconnect);
	tcase_add_test(tc, test_connecting_tunnel_closed);
	tcase_add_test(tc, test_connecting_timeout);
	suite_add_tcase(s, tc);

	tc = tcase_create("flush");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_flushing_completes);
	tcase_add_test(tc, test_flushing_timeout);
	tcase_add_test(tc, test_flushing_app_closes);
	tcase_add_test(tc, test_flushing_closed_again);
	suite_add_tcase(s, tc);

	tc = tcase_create("flow");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_credit_window);
	tcase_add_test(tc, test_credit_grant);
	tcase_add_test(tc, test_credit_overrun);
	tcase_add_test(tc, test_bufsize_caps_messages);
	tcase_add_test(tc, test_plain_linger);
	tcase_add_test(tc, test_plain_disconnect_closes);
	tcase_add_test(tc, test_plain_window_ignored);
	tcase_add_test(tc, test_plain_pause_resume);
	tcase_add_test(tc, test_blocked_on_tunnel);
	suite_add_tcase(s, tc);

	tc = tcase_create("delivery");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_malformed_closes_one_channel);
	tcase_add_test(tc, test_unknown_channel_ignored);
	tcase_add_test(tc, test_gzip_and_udp_data);
	suite_add_tcase(s, tc);

	tc = tcase_create("dial");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_dial_relay);
	tcase_add_test(tc, test_dial_refused);
	tcase_add_test(tc, test_dial_invalid);
	tcase_add_test(tc, test_dial_early_data_halfclose);
	tcase_add_test(tc, test_dial_timeout);
	tcase_add_test(tc, test_dial_disconnect_while_connecting);
	tcase_add_test(tc, test_dial_tunnel_closed_while_connecting);
	tcase_add_test(tc, test_dial_duplicate_connect);
	tcase_add_test(tc, test_dial_plain_target_closes);
	suite_add_tcase(s, tc);
	return (s);
}

const check_suite_fn check_suites[] = { channel_suite, NULL };
