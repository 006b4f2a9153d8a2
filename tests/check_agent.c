/*
 * check_agent.c -- the agent relay (agent.c): a connector's channel
 * joined to a provider's, each half on its own framed fake tunnel
 * (tests/lib/core_fixture.c).  Frames must pass unchanged and in order,
 * a Disconnect from either side must reach the other, credit is per hop,
 * and a relay without a provider answers in time.
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

#define KIB	1024u
#define MIB	(1024u * 1024u)
#define KEY	"agent-key"

static struct group	*G;

static void	setup(void);
static void	teardown(void);
static struct fx_peer *connector(int);
static struct fx_peer *provider(int);
static void	expect_connect(struct fx_peer *, const uint8_t *);
static void	pair_open(struct fx_peer *, struct fx_peer *, const uint8_t *);
static void	expect_disc(struct fx_peer *, const uint8_t *, const char *);
static void	pair_end(struct fx_peer *, struct fx_peer *, const uint8_t *);
static void	expect_frame(struct fx_peer *, struct evbuffer *);
static void	all_closed(void);
static Suite	*agent_suite(void);

static const uint8_t aid[LS_CHANNEL_ID_LEN] = {
	0xa9, 0xe1, 0x7, 0x3, 0x4, 0x5, 0x46, 0x7,
	0x88, 0x9, 0xa, 0xb, 0xc, 0xd, 0xe, 0xf
};
static const uint8_t bid[LS_CHANNEL_ID_LEN] = {
	0xb0, 0xb1, 0x7, 0x3, 0x4, 0x5, 0x46, 0x7,
	0x88, 0x9, 0xa, 0xb, 0xc, 0xd, 0xe, 0x10
};

static void
setup(void)
{
	fx_setup();
	G = registry_group(KEY, 1);
	ck_assert_ptr_nonnull(G);
	ck_assert_uint_eq(G->g_nlocal, 0);
}

static void
teardown(void)
{
	fx_teardown();
}

static struct fx_peer *
connector(int ext)
{
	struct fx_peer	*c = fx_peer_new("conn", ext);

	c->p_agent = G;
	c->p_tun->t_kind = TUNK_CONNECTOR;
	return (c);
}

static struct fx_peer *
provider(int ext)
{
	struct fx_peer	*p = fx_peer_new("prov", ext);

	fx_peer_provider(p, G);
	return (p);
}

/* The Connect must reach the provider exactly as the connector sent it. */
static void
expect_connect(struct fx_peer *p, const uint8_t *id)
{
	struct evbuffer	*b = evbuffer_new();

	ck_assert_int_eq(msg_put_connect(b, PROTO_TCP, id, "127.0.0.1", 8080),
	    0);
	expect_frame(p, b);
	evbuffer_free(b);
}

/* The next frame p receives is exactly the bytes of b. */
static void
expect_frame(struct fx_peer *p, struct evbuffer *b)
{
	struct fx_msg	 fm;
	size_t		 n = evbuffer_get_length(b);

	fx_expect(p, evbuffer_pullup(b, -1)[1], NULL, &fm);
	ck_assert_uint_eq(fm.fm_len, n);
	ck_assert_int_eq(memcmp(fm.fm_buf, evbuffer_pullup(b, -1), n), 0);
	fx_msg_free(&fm);
}

/* A Disconnect with this text next (Window grants before it skipped). */
static void
expect_disc(struct fx_peer *p, const uint8_t *id, const char *err)
{
	struct fx_msg	fm;

	for (;;) {
		ck_assert_int_eq(fx_recv(p, &fm), 1);
		if (fm.fm_m.m_type != MSG_WINDOW)
			break;
		fx_msg_free(&fm);
	}
	ck_assert_msg(fm.fm_m.m_type == MSG_DISCONNECT, "expected "
	    "Disconnect, got %s", msg_typename(fm.fm_m.m_type));
	ck_assert_int_eq(memcmp(fm.fm_m.m_id, id, LS_CHANNEL_ID_LEN), 0);
	ck_assert_str_eq(fx_errtext(&fm), err);
	fx_msg_free(&fm);
}

/* Both sides end their direction; every half is gone after. */
static void
pair_end(struct fx_peer *c, struct fx_peer *p, const uint8_t *id)
{
	int	chc = c->p_tun->t_halfclose, php = p->p_tun->t_halfclose;

	fx_send_disc(c, id, NULL);
	expect_disc(p, id, "");
	if (chc && php) {
		fx_send_disc(p, id, NULL);
		expect_disc(c, id, "");
	} else if (chc)
		expect_disc(c, id, "");	/* answered for the plain provider */
	all_closed();
}

/* Connect from c, relayed to p, answered: both halves relay. */
static void
pair_open(struct fx_peer *c, struct fx_peer *p, const uint8_t *id)
{
	struct channel	*ch, *tw;
	struct fx_msg	 fm;

	fx_send_connect(c, PROTO_TCP, id, "127.0.0.1", 8080);
	expect_connect(p, id);
	ch = fx_chan(c, id);
	tw = fx_chan(p, id);
	ck_assert_ptr_nonnull(ch);
	ck_assert_ptr_nonnull(tw);
	ck_assert_int_eq(ch->ch_ops->co_kind, CHK_AGENT);
	ck_assert_int_eq(ch->ch_state, CH_RELAY);
	ck_assert_int_eq(tw->ch_state, CH_RELAY);
	ck_assert_ptr_eq(ch->ch_twin, tw);
	ck_assert_ptr_eq(tw->ch_twin, ch);
	ck_assert_str_eq(tw->ch_host, "127.0.0.1");
	ck_assert_uint_eq(tw->ch_port, 8080);
	fx_send_cr(p, 1, id, NULL);
	fx_expect(c, MSG_CONNECT_RESPONSE, id, &fm);
	ck_assert(fm.fm_m.m_success);
	fx_msg_free(&fm);
}

static void
all_closed(void)
{
	fx_pump();
	ck_assert_uint_eq(ls_worker->w_channels, 0);
}

/* ---- the relay -------------------------------------------------------- */

START_TEST(test_relay_both_ways)
{
	struct fx_peer	*c = connector(1), *p = provider(1);
	struct channel	*ch;
	uint8_t		 up[1000], down[2000];

	pair_open(c, p, aid);
	ck_assert_uint_eq(ls_worker->w_channels, 2);
	fx_fill(up, sizeof(up), 1);
	fx_fill(down, sizeof(down), 2);
	fx_send_data(c, aid, up, sizeof(up));
	fx_expect_data(p, aid, up, sizeof(up));
	fx_send_data(p, aid, down, sizeof(down));
	fx_expect_data(c, aid, down, sizeof(down));

	/* Half-close peers: one direction ends, the other carries on. */
	fx_send_disc(c, aid, NULL);
	expect_disc(p, aid, "");
	ch = fx_chan(c, aid);
	ck_assert_ptr_nonnull(ch);
	ck_assert(ch->ch_flags & CHF_REMOTE_EOF);
	ck_assert_int_eq(ch->ch_state, CH_RELAY);
	fx_send_data(p, aid, down, 100);
	fx_expect_data(c, aid, down, 100);
	fx_send_disc(p, aid, "EOF");
	expect_disc(c, aid, "EOF");
	all_closed();
	fx_expect_none(c);
	fx_expect_none(p);
}
END_TEST

/* Two channels on the same pair of tunnels do not mix. */
START_TEST(test_relay_two_channels)
{
	struct fx_peer	*c = connector(1), *p = provider(1);

	pair_open(c, p, aid);
	pair_open(c, p, bid);
	fx_send_data(c, bid, "to-b", 4);
	fx_send_data(c, aid, "to-a", 4);
	fx_expect_data(p, bid, (const uint8_t *)"to-b", 4);
	fx_expect_data(p, aid, (const uint8_t *)"to-a", 4);
	fx_send_cr(p, 0, bid, "late refusal");
	fx_send_disc(p, aid, "reset");
	/* Whatever the provider sends comes through as it was. */
	fx_expect(c, MSG_CONNECT_RESPONSE, bid, NULL);
	expect_disc(c, aid, "reset");
	ck_assert_ptr_null(fx_chan(c, bid));	/* the refusal ended b */
	/* An error ends one direction too: the connector answers. */
	ck_assert_ptr_nonnull(fx_chan(c, aid));
	fx_send_disc(c, aid, "reset");
	expect_disc(p, aid, "reset");
	all_closed();
}
END_TEST

START_TEST(test_provider_refuses)
{
	struct fx_peer	*c = connector(1), *p = provider(1);
	struct evbuffer	*b = evbuffer_new();

	fx_send_connect(c, PROTO_TCP, aid, "127.0.0.1", 8080);
	expect_connect(p, aid);
	fx_send_cr(p, 0, aid, "dial tcp 127.0.0.1:8080: refused");
	ck_assert_int_eq(msg_put_connect_response(b, 0, aid,
	    "dial tcp 127.0.0.1:8080: refused"), 0);
	expect_frame(c, b);
	evbuffer_free(b);
	all_closed();
	fx_expect_none(c);
	fx_expect_none(p);
}
END_TEST

/* A plain connector: its Disconnect ends the pair at once. */
START_TEST(test_plain_connector_disconnect)
{
	struct fx_peer	*c = connector(0), *p = provider(1);

	pair_open(c, p, aid);
	fx_send_disc(c, aid, NULL);
	expect_disc(p, aid, "");
	all_closed();
	fx_expect_none(p);
	fx_expect_none(c);
}
END_TEST

/*
 * A half-close provider whose connector is plain: the connector will
 * close outright, so the provider's Disconnect is answered for it.
 */
START_TEST(test_provider_disconnect_plain_connector)
{
	struct fx_peer	*c = connector(0), *p = provider(1);

	pair_open(c, p, aid);
	fx_send_disc(p, aid, NULL);
	expect_disc(c, aid, "");
	expect_disc(p, aid, "");
	all_closed();
}
END_TEST

START_TEST(test_connector_tunnel_closes)
{
	struct fx_peer	*c = connector(1), *p = provider(1);

	pair_open(c, p, aid);
	tunnel_close(c->p_tun, "connector gone");
	ck_assert(c->p_closed);
	expect_disc(p, aid, "tunnel closed");
	all_closed();
}
END_TEST

START_TEST(test_provider_tunnel_closes)
{
	struct fx_peer	*c = connector(1), *p = provider(1);

	pair_open(c, p, aid);
	fx_peer_eof(p);
	ck_assert(p->p_closed);
	ck_assert_uint_eq(G->g_nlocal, 0);
	expect_disc(c, aid, "tunnel closed");
	all_closed();
}
END_TEST

START_TEST(test_malformed_from_connector)
{
	struct fx_peer	*c = connector(1), *p = provider(1);
	uint8_t		 bad[2 + LS_CHANNEL_ID_LEN + 2];

	pair_open(c, p, aid);
	bad[0] = LS_PROTO_VERSION;
	bad[1] = MSG_DISCONNECT;
	memcpy(bad + 2, aid, LS_CHANNEL_ID_LEN);
	bad[18] = 9;			/* an error longer than what follows */
	bad[19] = 'x';
	fx_send_raw(c, bad, sizeof(bad));
	expect_disc(p, aid, "malformed message from peer");
	expect_disc(c, aid, "malformed message from peer");
	ck_assert(!c->p_closed);
	all_closed();
}
END_TEST

START_TEST(test_duplicate_connect)
{
	struct fx_peer	*c = connector(1), *p = provider(1);

	pair_open(c, p, aid);
	fx_send_connect(c, PROTO_TCP, aid, "127.0.0.1", 8080);
	fx_pump();
	ck_assert_uint_eq(ls_worker->w_channels, 2);
	fx_expect_none(p);
	pair_end(c, p, aid);
}
END_TEST

/* UDP Data and a ConnectResponse from the connector pass unchanged. */
START_TEST(test_other_frames_pass)
{
	struct fx_peer	*c = connector(1), *p = provider(1);
	struct evbuffer	*b = evbuffer_new();

	pair_open(c, p, aid);
	ck_assert_int_eq(msg_put_data_udp(b, aid, (const uint8_t *)"dns?", 4,
	    "10.0.0.1", 5353, "127.0.0.1", 53), 0);
	fx_send_buf(c, b);
	ck_assert_int_eq(msg_put_data_udp(b, aid, (const uint8_t *)"dns?", 4,
	    "10.0.0.1", 5353, "127.0.0.1", 53), 0);
	expect_frame(p, b);
	evbuffer_drain(b, evbuffer_get_length(b));
	ck_assert_int_eq(msg_put_connect_response(b, 1, aid, NULL), 0);
	fx_send_buf(c, b);
	ck_assert_int_eq(msg_put_connect_response(b, 1, aid, NULL), 0);
	expect_frame(p, b);
	evbuffer_free(b);
	ck_assert_uint_eq(ls_worker->w_channels, 2);
	pair_end(c, p, aid);
}
END_TEST

/* A 0x01 peer's gzip Data goes on as plain Data. */
START_TEST(test_gzip_reframed)
{
	struct fx_peer	*c = connector(0), *p = provider(0);
	struct evbuffer	*b = evbuffer_new();
	struct fx_msg	 fm;
	uint8_t		*big;
	const size_t	 n = 600 * KIB;

	pair_open(c, p, aid);
	big = malloc(n);
	fx_fill(big, n, 3);
	ck_assert_int_eq(msg_put_data(b, aid, big, n), 0);
	ck_assert_uint_lt(evbuffer_get_length(b), n);	/* compressed */
	fx_send_buf(c, b);
	evbuffer_free(b);
	fx_expect(p, MSG_DATA, aid, &fm);
	ck_assert_int_eq(fm.fm_m.m_compression, 0);
	ck_assert_uint_eq(fm.fm_m.m_datalen, n);
	ck_assert_int_eq(memcmp(fm.fm_m.m_data, big, n), 0);
	fx_msg_free(&fm);
	free(big);
	pair_end(c, p, aid);
}
END_TEST

/* ---- waiting for a provider ------------------------------------------- */

START_TEST(test_no_provider_timeout)
{
	struct fx_peer	*c = connector(1);
	struct channel	*ch;
	struct fx_msg	 fm;

	fx_send_connect(c, PROTO_TCP, aid, "127.0.0.1", 8080);
	fx_pump();
	ch = fx_chan(c, aid);
	ck_assert_ptr_nonnull(ch);
	ck_assert_int_eq(ch->ch_state, CH_WAIT_TUNNEL);
	ck_assert(ch->ch_flags & CHF_WAITING);
	ck_assert_ptr_eq(fx_timer_arg(5), ch);	/* c_connector_wait */
	fx_expect_none(c);
	ck_assert(fx_fire(5));
	fx_expect(c, MSG_CONNECT_RESPONSE, aid, &fm);
	ck_assert(!fm.fm_m.m_success);
	ck_assert_str_eq(fx_errtext(&fm), "no available reverse clients");
	fx_msg_free(&fm);
	all_closed();
}
END_TEST

START_TEST(test_no_provider_disconnect)
{
	struct fx_peer	*c = connector(1);

	fx_send_connect(c, PROTO_TCP, aid, "127.0.0.1", 8080);
	fx_send_data(c, aid, "early", 5);
	fx_send_disc(c, aid, NULL);
	all_closed();
	fx_expect_none(c);
	ck_assert_ptr_null(fx_timer(5));
}
END_TEST

START_TEST(test_no_provider_tunnel_closes)
{
	struct fx_peer	*c = connector(1);

	fx_send_connect(c, PROTO_TCP, aid, "127.0.0.1", 8080);
	fx_pump();
	ck_assert_uint_eq(ls_worker->w_channels, 1);
	tunnel_close(c->p_tun, "bye");
	all_closed();
	/* A provider arriving now finds nobody waiting. */
	provider(1);
	agent_provider_available(G);
	fx_pump();
	ck_assert_uint_eq(ls_worker->w_channels, 0);
}
END_TEST

/* A waiting half that must go answers with a failed ConnectResponse. */
START_TEST(test_no_provider_malformed)
{
	struct fx_peer	*c = connector(1);
	struct fx_msg	 fm;
	uint8_t		 bad[2 + LS_CHANNEL_ID_LEN + 2];

	fx_send_connect(c, PROTO_TCP, aid, "127.0.0.1", 8080);
	bad[0] = LS_PROTO_VERSION;
	bad[1] = MSG_DISCONNECT;
	memcpy(bad + 2, aid, LS_CHANNEL_ID_LEN);
	bad[18] = 9;
	bad[19] = 'x';
	fx_send_raw(c, bad, sizeof(bad));
	fx_expect(c, MSG_CONNECT_RESPONSE, aid, &fm);
	ck_assert(!fm.fm_m.m_success);
	ck_assert_str_eq(fx_errtext(&fm), "malformed message from peer");
	fx_msg_free(&fm);
	all_closed();
}
END_TEST

START_TEST(test_no_provider_overrun)
{
	struct fx_peer	*c;
	struct fx_msg	 fm;
	uint8_t		*buf;
	const uint32_t	 w = LS_WINDOW_MIN;

	ls_conf->c_window = w;
	c = connector(1);
	buf = calloc(1, w);
	fx_send_connect(c, PROTO_TCP, aid, "127.0.0.1", 8080);
	fx_send_data(c, aid, buf, w);		/* the whole window waits */
	fx_send_data(c, aid, buf, 1);		/* one byte beyond */
	fx_expect(c, MSG_CONNECT_RESPONSE, aid, &fm);
	ck_assert(!fm.fm_m.m_success);
	ck_assert_str_eq(fx_errtext(&fm), "peer exceeded the credit window");
	fx_msg_free(&fm);
	free(buf);
	all_closed();
}
END_TEST

/* Frames that come before a provider wait in order (P-6). */
START_TEST(test_provider_arrives_later)
{
	struct fx_peer	*c = connector(1), *p;
	struct group	*other = registry_group("other-key", 1);
	struct channel	*ch;
	struct fx_msg	 fm;

	fx_send_connect(c, PROTO_TCP, aid, "127.0.0.1", 8080);
	fx_send_data(c, aid, "one", 3);
	fx_send_data(c, aid, "two", 3);
	fx_pump();
	ck_assert_int_eq(fx_chan(c, aid)->ch_state, CH_WAIT_TUNNEL);
	agent_provider_available(other);	/* not its group */
	ck_assert_int_eq(fx_chan(c, aid)->ch_state, CH_WAIT_TUNNEL);
	p = provider(1);
	agent_provider_available(G);
	ch = fx_chan(c, aid);
	ck_assert_int_eq(ch->ch_state, CH_RELAY);
	ck_assert(!(ch->ch_flags & CHF_WAITING));
	ck_assert_ptr_null(fx_timer(5));
	expect_connect(p, aid);
	fx_expect_data(p, aid, (const uint8_t *)"one", 3);
	fx_expect_data(p, aid, (const uint8_t *)"two", 3);
	fx_send_cr(p, 1, aid, NULL);
	fx_expect(c, MSG_CONNECT_RESPONSE, aid, &fm);
	fx_msg_free(&fm);
	pair_end(c, p, aid);
}
END_TEST

/* A plain connector that sends much before a provider is paused. */
START_TEST(test_pause_while_waiting)
{
	struct fx_peer	*c = connector(0), *p;
	uint8_t		*buf;
	size_t		 i;
	const size_t	 n = 6;

	buf = malloc(n * MIB);
	fx_fill(buf, n * MIB, 4);
	fx_send_connect(c, PROTO_TCP, aid, "127.0.0.1", 8080);
	for (i = 0; i < n; i++)
		fx_send_data(c, aid, buf + i * MIB, MIB);
	fx_pump();
	ck_assert(fx_chan(c, aid)->ch_flags & CHF_PAUSING);
	ck_assert_uint_eq(c->p_tun->t_pausers, 1);
	p = provider(0);
	agent_provider_available(G);
	expect_connect(p, aid);
	fx_expect_data(p, aid, buf, n * MIB);
	ck_assert_uint_eq(c->p_tun->t_pausers, 0);
	free(buf);
	pair_end(c, p, aid);
}
END_TEST

/* ---- credit, per hop -------------------------------------------------- */

START_TEST(test_credit_grant_after_forward)
{
	struct fx_peer	*c, *p;
	struct fx_msg	 fm;
	uint8_t		 buf[16384];
	const uint32_t	 w = LS_WINDOW_MIN;

	ls_conf->c_window = w;
	c = connector(1);
	p = provider(1);
	pair_open(c, p, aid);
	fx_fill(buf, sizeof(buf), 5);
	ck_assert_uint_eq(fx_chan(c, aid)->ch_rx_limit, w);
	fx_send_data(c, aid, buf, w / 4 - 1);
	fx_expect_data(p, aid, buf, w / 4 - 1);
	fx_expect_none(c);		/* less than a quarter */
	fx_send_data(c, aid, buf, 1);
	fx_expect_data(p, aid, buf, 1);
	fx_expect(c, MSG_WINDOW, aid, &fm);
	ck_assert_uint_eq(fm.fm_m.m_window, w / 4);
	fx_msg_free(&fm);
	/* And the other way. */
	fx_send_data(p, aid, buf, w / 4);
	fx_expect_data(c, aid, buf, w / 4);
	fx_expect(p, MSG_WINDOW, aid, &fm);
	ck_assert_uint_eq(fm.fm_m.m_window, w / 4);
	fx_msg_free(&fm);
	pair_end(c, p, aid);
}
END_TEST

/* The provider grants nothing: the relay holds what it owes it, and
 * grants the connector nothing more until it went. */
START_TEST(test_credit_held_for_provider)
{
	struct fx_peer	*c, *p;
	struct channel	*tw;
	uint8_t		*buf;
	uint64_t	 win = 0;
	const uint32_t	 w = LS_WINDOW_MIN;

	ls_conf->c_window = w;
	c = connector(1);
	p = provider(1);
	pair_open(c, p, aid);
	buf = malloc(2 * w);
	fx_fill(buf, 2 * w, 6);
	/* The whole window, in pieces that fit, granted back as it goes. */
	fx_send_data(c, aid, buf, w);
	fx_read_data(p, aid, buf + w, w, NULL);
	ck_assert_int_eq(memcmp(buf, buf + w, w), 0);
	fx_pump();
	while (fx_pending(c) > 0) {
		struct fx_msg	fm;

		fx_expect(c, MSG_WINDOW, aid, &fm);
		win += fm.fm_m.m_window;
		fx_msg_free(&fm);
	}
	ck_assert_uint_eq(win, w);
	tw = fx_chan(p, aid);
	ck_assert_int_eq(tw->ch_tx_credit, 0);
	/* More from the connector waits for the provider's credit. */
	fx_fill(buf, w, 7);
	fx_send_data(c, aid, buf, w / 2);
	fx_pump();
	fx_expect_none(p);
	fx_expect_none(c);
	ck_assert_uint_gt(evbuffer_get_length(tw->ch_pending), w / 2);
	/* Each piece that leaves is granted to the connector. */
	fx_send_window(p, aid, w / 4);
	fx_expect_data(p, aid, buf, w / 4);
	fx_expect_none(p);
	fx_expect(c, MSG_WINDOW, aid, NULL);
	fx_expect_none(c);
	fx_send_window(p, aid, w);
	fx_expect_data(p, aid, buf + w / 4, w / 4);
	fx_expect(c, MSG_WINDOW, aid, NULL);
	ck_assert_uint_eq(evbuffer_get_length(tw->ch_pending), 0);
	ck_assert_int_eq(tw->ch_tx_credit, w - w / 4);
	free(buf);
	pair_end(c, p, aid);
}
END_TEST

/* A message larger than a quarter of the next hop's window is cut. */
START_TEST(test_credit_pieces)
{
	struct fx_peer	*c, *p;
	struct fx_msg	 fm;
	uint8_t		 buf[40000];
	const uint32_t	 w = LS_WINDOW_MIN;
	size_t		 off = 0;
	const size_t	 want[] = { 16384, 16384, 40000 - 2 * 16384 };
	size_t		 i;

	ls_conf->c_window = w;
	c = connector(1);
	p = provider(1);
	pair_open(c, p, aid);
	fx_fill(buf, sizeof(buf), 8);
	fx_send_data(c, aid, buf, sizeof(buf));
	for (i = 0; i < LS_NITEMS(want); i++) {
		fx_expect(p, MSG_DATA, aid, &fm);
		ck_assert_uint_eq(fm.fm_m.m_datalen, want[i]);
		ck_assert_int_eq(memcmp(fm.fm_m.m_data, buf + off, want[i]),
		    0);
		off += want[i];
		fx_msg_free(&fm);
	}
	/* Two pieces of a quarter went on: granted; the rest not yet. */
	fx_expect(c, MSG_WINDOW, aid, &fm);
	ck_assert_uint_eq(fm.fm_m.m_window, 16384);
	fx_msg_free(&fm);
	fx_expect(c, MSG_WINDOW, aid, &fm);
	ck_assert_uint_eq(fm.fm_m.m_window, 16384);
	fx_msg_free(&fm);
	fx_expect_none(c);
	pair_end(c, p, aid);
}
END_TEST

START_TEST(test_credit_overrun)
{
	struct fx_peer	*c, *p;
	uint8_t		*buf;
	const uint32_t	 w = LS_WINDOW_MIN;

	ls_conf->c_window = w;
	c = connector(1);
	p = provider(1);
	pair_open(c, p, aid);
	buf = calloc(1, w + 1);
	fx_send_data(c, aid, buf, w + 1);
	expect_disc(p, aid, "peer exceeded the credit window");
	expect_disc(c, aid, "peer exceeded the credit window");
	free(buf);
	all_closed();
}
END_TEST

/*
 * The pair ends while the provider's half still owes frames it has no
 * credit for: the half flushes, then goes; or its timer ends it.
 */
static struct channel *
closing_half(struct fx_peer *c, struct fx_peer *p, uint8_t *buf, size_t n)
{
	struct channel	*tw;

	pair_open(c, p, aid);
	fx_send_data(c, aid, buf, n);		/* all of p's credit */
	fx_read_data(p, aid, buf + n, n, NULL);
	fx_send_disc(p, aid, NULL);		/* p is done sending */
	expect_disc(c, aid, "");
	fx_send_data(c, aid, buf, n / 2);	/* no credit for it */
	fx_send_disc(c, aid, NULL);
	fx_pump();
	tw = fx_chan(p, aid);
	ck_assert_ptr_nonnull(tw);
	ck_assert_int_eq(tw->ch_state, CH_FLUSHING);
	ck_assert_ptr_null(tw->ch_twin);
	ck_assert_ptr_null(fx_chan(c, aid));	/* the other half went */
	ck_assert_ptr_eq(fx_timer_arg(30), tw);
	ck_assert_uint_eq(ls_worker->w_channels, 1);
	/* Nothing more is taken from the provider's side. */
	fx_send_data(p, aid, "ignored", 7);
	fx_pump();
	fx_expect_none(c);
	return (tw);
}

START_TEST(test_closing_half_flushes)
{
	struct fx_peer	*c, *p;
	uint8_t		*buf;
	const uint32_t	 w = LS_WINDOW_MIN;

	ls_conf->c_window = w;
	c = connector(1);
	p = provider(1);
	buf = malloc(2 * w);
	fx_fill(buf, w, 9);
	closing_half(c, p, buf, w);
	fx_send_window(p, aid, w);
	fx_expect_data(p, aid, buf, w / 2);
	expect_disc(p, aid, "");
	all_closed();
	free(buf);
}
END_TEST

START_TEST(test_closing_half_timeout)
{
	struct fx_peer	*c, *p;
	uint8_t		*buf;
	const uint32_t	 w = LS_WINDOW_MIN;

	ls_conf->c_window = w;
	c = connector(1);
	p = provider(1);
	buf = malloc(2 * w);
	fx_fill(buf, w, 10);
	closing_half(c, p, buf, w);
	ck_assert(fx_fire(30));
	all_closed();
	fx_expect_none(p);
	free(buf);
}
END_TEST

/* The connector's tunnel goes while the provider's half holds frames:
 * its Disconnect waits behind them. */
START_TEST(test_disconnect_behind_held_frames)
{
	struct fx_peer	*c, *p;
	uint8_t		*buf;
	const uint32_t	 w = LS_WINDOW_MIN;

	ls_conf->c_window = w;
	c = connector(1);
	p = provider(1);
	pair_open(c, p, aid);
	buf = malloc(2 * w);
	fx_fill(buf, 2 * w, 12);
	fx_send_data(c, aid, buf, w);
	fx_read_data(p, aid, buf + w, w, NULL);
	fx_fill(buf, w, 13);
	fx_send_data(c, aid, buf, w / 4);	/* no credit: held */
	fx_pump();
	fx_expect_none(p);
	tunnel_close(c->p_tun, "connector gone");
	fx_expect_none(p);
	ck_assert_uint_eq(ls_worker->w_channels, 1);
	fx_send_window(p, aid, w);
	fx_expect_data(p, aid, buf, w / 4);
	expect_disc(p, aid, "tunnel closed");
	free(buf);
	all_closed();
}
END_TEST

/* The connector misbehaves while the relay holds frames it has no
 * credit for: they are lost with it, but it still hears why. */
START_TEST(test_malformed_with_frames_held)
{
	struct fx_peer	*c, *p;
	uint8_t		*buf, bad[2 + LS_CHANNEL_ID_LEN + 2];
	const uint32_t	 w = LS_WINDOW_MIN;

	ls_conf->c_window = w;
	c = connector(1);
	p = provider(1);
	pair_open(c, p, aid);
	buf = malloc(2 * w);
	fx_fill(buf, 2 * w, 14);
	fx_send_data(p, aid, buf, w);		/* all of c's window */
	fx_read_data(c, aid, buf + w, w, NULL);
	fx_send_data(p, aid, buf, w / 4);	/* held for c */
	fx_pump();
	fx_expect_none(c);
	bad[0] = LS_PROTO_VERSION;
	bad[1] = MSG_DISCONNECT;
	memcpy(bad + 2, aid, LS_CHANNEL_ID_LEN);
	bad[18] = 9;
	bad[19] = 'x';
	fx_send_raw(c, bad, sizeof(bad));
	expect_disc(c, aid, "malformed message from peer");
	expect_disc(p, aid, "malformed message from peer");
	free(buf);
	all_closed();
}
END_TEST

/* ---- plain peers: the relay pauses the sender ------------------------- */

START_TEST(test_plain_blocked_then_drained)
{
	struct fx_peer	*c = connector(0), *p = provider(0);
	struct channel	*tw;
	uint8_t		*buf;
	const size_t	 n = 10;
	size_t		 i;

	pair_open(c, p, aid);
	buf = malloc(n * MIB);
	fx_fill(buf, n * MIB, 11);
	bufferevent_disable(p->p_bev, EV_READ);	/* the provider stalls */
	for (i = 0; i < n; i++)
		fx_send_data(c, aid, buf + i * MIB, MIB);
	fx_pump();
	tw = fx_chan(p, aid);
	ck_assert(tw->ch_flags & CHF_BLOCKED);
	ck_assert(fx_chan(c, aid)->ch_flags & CHF_PAUSING);
	ck_assert_uint_eq(c->p_tun->t_pausers, 1);
	ck_assert_uint_gt(evbuffer_get_length(tw->ch_pending),
	    4 * MIB);
	bufferevent_enable(p->p_bev, EV_READ);
	fx_expect_data(p, aid, buf, n * MIB);
	ck_assert_uint_eq(c->p_tun->t_pausers, 0);
	ck_assert(!(tw->ch_flags & CHF_BLOCKED));
	free(buf);
	pair_end(c, p, aid);
}
END_TEST

/* ---- across workers ----------------------------------------------------- */

static struct tunnel_ops	 link_ops;

static void
link_closed(struct tunnel *t, const char *why)
{
	agent_link_ops.to_closed(t, why);
	fx_tunnel_closed(t, why);
}

static void
send_route(struct fx_peer *l, const uint8_t *id, const char *key,
    size_t cut)
{
	uint8_t	r[64];
	size_t	klen = strlen(key);

	r[0] = LS_PROTO_VERSION;
	r[1] = LS_LINK_ROUTE;
	memcpy(r + 2, id, LS_CHANNEL_ID_LEN);
	r[18] = (uint8_t)(klen >> 8);
	r[19] = (uint8_t)klen;
	memcpy(r + 20, key, klen);
	fx_send_raw(l, r, 20 + klen - cut);
}

/* A Connect from another worker's link, routed to a local provider. */
START_TEST(test_link_connect)
{
	struct fx_peer	*l, *p = provider(1);
	struct channel	*ch;

	link_ops.to_message = agent_link_ops.to_message;
	link_ops.to_closed = link_closed;
	l = fx_peer_new_ops("link-1", 1, &link_ops);
	/* Without a route first, a Connect means nothing. */
	fx_send_connect(l, PROTO_TCP, aid, "127.0.0.1", 8080);
	fx_send_data(l, aid, "x", 1);
	send_route(l, aid, KEY, 3);		/* cut short: ignored */
	send_route(l, aid, KEY, 12);		/* no key length even */
	fx_send_connect(l, PROTO_TCP, aid, "127.0.0.1", 8080);
	fx_pump();
	ck_assert_uint_eq(ls_worker->w_channels, 0);
	fx_expect_none(p);

	send_route(l, aid, KEY, 0);
	send_route(l, aid, KEY, 0);		/* a second one replaces it */
	fx_send_connect(l, PROTO_TCP, aid, "127.0.0.1", 8080);
	expect_connect(p, aid);
	ch = fx_chan(l, aid);
	ck_assert_ptr_nonnull(ch);
	ck_assert(ch->ch_flags & CHF_FROM_LINK);
	ck_assert_ptr_null(l->p_tun->t_route);
	fx_send_cr(p, 1, aid, NULL);
	fx_expect(l, MSG_CONNECT_RESPONSE, aid, NULL);
	fx_send_data(l, aid, "over", 4);
	fx_expect_data(p, aid, (const uint8_t *)"over", 4);
	fx_peer_eof(l);
	ck_assert(l->p_closed);
	expect_disc(p, aid, "tunnel closed");
	all_closed();
}
END_TEST

/* Read one u32-framed message from a plain socket (the link's far end). */
static size_t
link_read(int fd, uint8_t *buf, size_t len)
{
	uint32_t	n;

	fx_app_read(fd, &n, sizeof(n));
	ck_assert_uint_le(n, len);
	fx_app_read(fd, buf, n);
	return (n);
}

/* The provider chosen lives in worker 1: the Connect goes over the link,
 * after a route naming the group. */
START_TEST(test_link_route_out)
{
	struct fx_peer	*c = connector(1);
	struct evbuffer	*b = evbuffer_new();
	uint8_t		 buf[256];
	size_t		 n;
	int		 sv[2];

	G->g_count[1] = 1;		/* the master says: one in worker 1 */
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	evutil_make_socket_nonblocking(sv[0]);
	evutil_make_socket_nonblocking(sv[1]);
	fx_keep_fd(sv[1]);
	router_link_set(1, sv[0], &agent_link_ops);
	ck_assert_ptr_nonnull(router_link(1));
	fx_send_connect(c, PROTO_TCP, aid, "127.0.0.1", 8080);
	fx_pump();
	n = link_read(sv[1], buf, sizeof(buf));
	ck_assert_uint_eq(n, 20 + strlen(KEY));
	ck_assert_uint_eq(buf[0], LS_PROTO_VERSION);
	ck_assert_uint_eq(buf[1], LS_LINK_ROUTE);
	ck_assert_int_eq(memcmp(buf + 2, aid, LS_CHANNEL_ID_LEN), 0);
	ck_assert_uint_eq(buf[18] << 8 | buf[19], strlen(KEY));
	ck_assert_int_eq(memcmp(buf + 20, KEY, strlen(KEY)), 0);
	n = link_read(sv[1], buf, sizeof(buf));
	ck_assert_int_eq(msg_put_connect(b, PROTO_TCP, aid, "127.0.0.1",
	    8080), 0);
	ck_assert_uint_eq(n, evbuffer_get_length(b));
	ck_assert_int_eq(memcmp(buf, evbuffer_pullup(b, -1), n), 0);
	evbuffer_free(b);
	ck_assert_int_eq(fx_chan(c, aid)->ch_state, CH_RELAY);
	/* The other worker goes away: the connector hears of it. */
	fx_close(sv[1]);
	expect_disc(c, aid, "tunnel closed");
	ck_assert_ptr_null(router_link(1));
	G->g_count[1] = 0;
	all_closed();
}
END_TEST

/* The round robin chose worker 1, which has no link (yet): local pick. */
START_TEST(test_link_missing)
{
	struct fx_peer	*c = connector(1);

	G->g_count[1] = 1;
	ck_assert_ptr_null(router_link(1));
	fx_send_connect(c, PROTO_TCP, aid, "127.0.0.1", 8080);
	fx_pump();
	ck_assert_int_eq(fx_chan(c, aid)->ch_state, CH_WAIT_TUNNEL);
	G->g_count[1] = 0;
	fx_send_disc(c, aid, NULL);
	all_closed();
}
END_TEST

static Suite *
agent_suite(void)
{
	Suite	*s = suite_create("agent");
	TCase	*tc;

	tc = tcase_create("relay");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_relay_both_ways);
	tcase_add_test(tc, test_relay_two_channels);
	tcase_add_test(tc, test_provider_refuses);
	tcase_add_test(tc, test_plain_connector_disconnect);
	tcase_add_test(tc, test_provider_disconnect_plain_connector);
	tcase_add_test(tc, test_connector_tunnel_closes);
	tcase_add_test(tc, test_provider_tunnel_closes);
	tcase_add_test(tc, test_malformed_from_connector);
	tcase_add_test(tc, test_duplicate_connect);
	tcase_add_test(tc, test_other_frames_pass);
	tcase_add_test(tc, test_gzip_reframed);
	suite_add_tcase(s, tc);

	tc = tcase_create("wait");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_no_provider_timeout);
	tcase_add_test(tc, test_no_provider_disconnect);
	tcase_add_test(tc, test_no_provider_tunnel_closes);
	tcase_add_test(tc, test_no_provider_malformed);
	tcase_add_test(tc, test_no_provider_overrun);
	tcase_add_test(tc, test_provider_arrives_later);
	tcase_add_test(tc, test_pause_while_waiting);
	suite_add_tcase(s, tc);

	tc = tcase_create("flow");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_credit_grant_after_forward);
	tcase_add_test(tc, test_credit_held_for_provider);
	tcase_add_test(tc, test_credit_pieces);
	tcase_add_test(tc, test_credit_overrun);
	tcase_add_test(tc, test_closing_half_flushes);
	tcase_add_test(tc, test_closing_half_timeout);
	tcase_add_test(tc, test_disconnect_behind_held_frames);
	tcase_add_test(tc, test_malformed_with_frames_held);
	tcase_add_test(tc, test_plain_blocked_then_drained);
	suite_add_tcase(s, tc);

	tc = tcase_create("link");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_link_connect);
	tcase_add_test(tc, test_link_route_out);
	tcase_add_test(tc, test_link_missing);
	suite_add_tcase(s, tc);
	return (s);
}

const check_suite_fn check_suites[] = { agent_suite, NULL };
