/*
 * core_fixture.c -- a worker without a process around it, and a fake
 * tunnel transport over a bufferevent_pair, for the Check units of the
 * core.  See core_fixture.h.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/ioctl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>

#include "linksocks.h"
#include "core_fixture.h"

#define FX_WAIT		2.0	/* seconds a test waits for something */
#define FX_MAXFDS	64

struct tunnel	*fx_pick_tunnel;
int		 fx_pick_worker = -1;
unsigned	 fx_udp_calls;

static struct event_base	*fx_base;
static struct fx_peer		*fx_peers[FX_MAXPEERS];
static int			 fx_fds[FX_MAXFDS];
static size_t			 fx_nfds;

static struct tunnel *fx_pick(struct group *, int, int *);
static void	fx_udp(struct channel *, struct tunnel *);
static void	fx_to_message(struct tunnel *, struct msg *, struct evbuffer *);
static int	fx_frame_ready(void *);
static double	fx_now(void);

static const struct front_ops fx_front_ops = {
	.fo_pick = fx_pick,
	.fo_udp = fx_udp,
};

static const struct tunnel_ops fx_tunnel_ops = {
	.to_message = fx_to_message,
	.to_closed = fx_tunnel_closed,
};

static struct tunnel *
fx_pick(struct group *g, int adopted, int *worker)
{
	*worker = fx_pick_tunnel != NULL ? -1 : fx_pick_worker;
	return (fx_pick_tunnel);
}

/* UDP ASSOCIATE is not this fixture's business: refuse it like a role
 * without UDP would, but count the call. */
static void
fx_udp(struct channel *ch, struct tunnel *t)
{
	fx_udp_calls++;
	front_reply(ch, S5_REP_CMD, NULL);
	channel_close(ch, "no UDP in the fixture", 1);
}

static void
fx_to_message(struct tunnel *t, struct msg *m, struct evbuffer *raw)
{
	struct fx_peer	*p = t->t_arg;

	p->p_nmsg++;
	p->p_lasttype = m->m_type;
	if (m->m_type != MSG_CONNECT)
		return;
	if (p->p_dial)
		dial_connect(t, m);
	else if (p->p_agent != NULL)
		agent_connect(t, m, raw, p->p_agent);
}

void
fx_tunnel_closed(struct tunnel *t, const char *why)
{
	struct fx_peer	*p = t->t_arg;
	struct group	*g = p->p_provider;

	if (g != NULL) {
		TAILQ_REMOVE(&g->g_tunnels, t, t_entry);
		g->g_nlocal--;
		p->p_provider = NULL;
	}
	if (fx_pick_tunnel == t)
		fx_pick_tunnel = NULL;
	p->p_closed = 1;
	snprintf(p->p_why, sizeof(p->p_why), "%s", why);
	p->p_tun = NULL;
}

static double
fx_now(void)
{
	struct timeval	tv;

	gettimeofday(&tv, NULL);
	return ((double)tv.tv_sec + (double)tv.tv_usec / 1e6);
}

void
fx_keep_fd(int fd)
{
	ck_assert_uint_lt(fx_nfds, FX_MAXFDS);
	fx_fds[fx_nfds++] = fd;
}

void
fx_close(int fd)
{
	size_t	i;

	for (i = 0; i < fx_nfds; i++)
		if (fx_fds[i] == fd) {
			fx_fds[i] = fx_fds[--fx_nfds];
			break;
		}
	close(fd);
}

void
fx_setup(void)
{
	struct config	*c;
	struct worker	*w;
	const char	*v;

	signal(SIGPIPE, SIG_IGN);
	v = getenv("FX_VERBOSE");
	log_init(v != NULL ? atoi(v) : 0, 0);
	log_procinit("check");

	c = calloc(1, sizeof(*c));
	ck_assert_ptr_nonnull(c);
	c->c_role = ROLE_SERVER;
	c->c_subcmd = "server";
	c->c_window = LS_WINDOW;
	c->c_bufsize = 1024 * 1024;	/* config_defaults */
	c->c_connector_wait = 5000;
	c->c_udp_timeout = LS_UDP_TIMEOUT;
	c->c_drain_timeout = 30;
	c->c_allow_private = 1;	/* the targets listen on 127.0.0.1 */
	c->c_max_channels = LS_MAX_CHANNELS;
	c->c_max_udp = LS_MAX_UDP;
	c->c_threads = 1;
	c->c_workers = 1;
	ls_conf = c;

	w = calloc(1, sizeof(*w));
	ck_assert_ptr_nonnull(w);
	w->w_idx = 0;
	w->w_socks_fd = -1;
	/*
	 * worker_defer binds its event to the first base it sees, for the
	 * life of the process: without fork (CK_FORK=no) every test shares
	 * one base.
	 */
	if (fx_base == NULL)
		fx_base = event_base_new();
	ck_assert_ptr_nonnull(fx_base);
	w->w_base = fx_base;
	w->w_dns = evdns_base_new(fx_base, 0);
	ck_assert_ptr_nonnull(w->w_dns);
	ls_worker = w;

	front_init(&fx_front_ops);
	fx_pick_tunnel = NULL;
	fx_pick_worker = -1;
	fx_udp_calls = 0;
	memset(fx_peers, 0, sizeof(fx_peers));
	fx_nfds = 0;
}

void
fx_teardown(void)
{
	struct fx_peer	*p;
	size_t		 i;
	const char	*ckfork = getenv("CK_FORK");

	for (i = 0; i < fx_nfds; i++)
		close(fx_fds[i]);
	fx_nfds = 0;
	fx_pump();
	for (i = 0; i < FX_MAXPEERS; i++) {
		if ((p = fx_peers[i]) == NULL)
			continue;
		if (p->p_tun != NULL)
			tunnel_close(p->p_tun, "teardown");
		fx_pump();
		bufferevent_free(p->p_bev);
		free(p);
		fx_peers[i] = NULL;
	}
	fx_pump();
	ck_assert_msg(ls_worker->w_channels == 0,
	    "%u channel(s) left after the test", ls_worker->w_channels);
	ck_assert_uint_eq(front_waiting(), 0);
	evdns_base_free(ls_worker->w_dns, 0);
	if (ls_worker->w_ipc != NULL)
		ipc_free(ls_worker->w_ipc);
	fx_pump();
	/* In a forked test the base can go: nothing uses it any more. */
	if (ckfork == NULL || strcmp(ckfork, "no") != 0) {
		event_base_free(fx_base);
		fx_base = NULL;
	}
	free(ls_worker);
	ls_worker = NULL;
	free(ls_conf);
	ls_conf = NULL;
}

void
fx_pump(void)
{
	int	i, quiet = 0;

	for (i = 0; i < 100000 && quiet < 3; i++) {
		event_base_loop(fx_base, EVLOOP_NONBLOCK);
		if (event_base_get_num_events(fx_base,
		    EVENT_BASE_COUNT_ACTIVE) == 0)
			quiet++;
		else
			quiet = 0;
	}
}

int
fx_pump_until(int (*cond)(void *), void *arg)
{
	double	start = fx_now();

	for (;;) {
		fx_pump();
		if (cond(arg))
			return (1);
		if (fx_now() - start > FX_WAIT)
			return (0);
		usleep(500);
	}
}

/* ---- the fake tunnel transport ---------------------------------------- */

struct fx_peer *
fx_peer_new(const char *name, int ext)
{
	return (fx_peer_new_ops(name, ext, &fx_tunnel_ops));
}

struct fx_peer *
fx_peer_new_ops(const char *name, int ext, const struct tunnel_ops *ops)
{
	struct bufferevent	*pair[2];
	struct fx_peer		*p;
	size_t			 i;

	for (i = 0; i < FX_MAXPEERS && fx_peers[i] != NULL; i++)
		;
	ck_assert_uint_lt(i, FX_MAXPEERS);
	p = calloc(1, sizeof(*p));
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(bufferevent_pair_new(fx_base, BEV_OPT_DEFER_CALLBACKS,
	    pair), 0);
	p->p_bev = pair[1];
	p->p_tun = tunnel_new_framed(pair[0], name, ops, p);
	ck_assert_ptr_nonnull(p->p_tun);
	ck_assert_int_eq(p->p_tun->t_state, TUN_OPEN);
	if (!ext)
		tunnel_set_features(p->p_tun, 0, 0);
	bufferevent_enable(p->p_bev, EV_READ | EV_WRITE);
	fx_peers[i] = p;
	return (p);
}

void
fx_peer_provider(struct fx_peer *p, struct group *g)
{
	TAILQ_INSERT_TAIL(&g->g_tunnels, p->p_tun, t_entry);
	g->g_nlocal++;
	p->p_tun->t_group = g;
	p->p_tun->t_kind = TUNK_REVERSE;
	p->p_provider = g;
}

void
fx_peer_eof(struct fx_peer *p)
{
	bufferevent_flush(p->p_bev, EV_WRITE, BEV_FINISHED);
	fx_pump();
}

size_t
fx_pending(struct fx_peer *p)
{
	return (evbuffer_get_length(bufferevent_get_input(p->p_bev)));
}

static int
fx_frame_ready(void *arg)
{
	struct fx_peer	*p = arg;
	struct evbuffer	*in = bufferevent_get_input(p->p_bev);
	uint32_t	 len;

	return (evbuffer_copyout(in, &len, sizeof(len)) == sizeof(len) &&
	    evbuffer_get_length(in) >= sizeof(len) + len);
}

int
fx_recv(struct fx_peer *p, struct fx_msg *fm)
{
	struct evbuffer	*in = bufferevent_get_input(p->p_bev);
	uint32_t	 len;
	char		 err[256];

	memset(fm, 0, sizeof(*fm));
	fx_pump();
	if (!fx_frame_ready(p))
		return (0);
	evbuffer_remove(in, &len, sizeof(len));
	fm->fm_len = len;
	fm->fm_buf = malloc(len > 0 ? len : 1);
	ck_assert_ptr_nonnull(fm->fm_buf);
	ck_assert_int_eq(evbuffer_remove(in, fm->fm_buf, len), (int)len);
	err[0] = '\0';
	ck_assert_msg(msg_parse(&fm->fm_m, fm->fm_buf, len, LS_INFLATE_MAX,
	    err, sizeof(err)) == 0, "tunnel %s sent a malformed message: %s",
	    p->p_tun != NULL ? p->p_tun->t_name : "?", err);
	return (1);
}

void
fx_msg_free(struct fx_msg *fm)
{
	msg_free(&fm->fm_m);
	free(fm->fm_buf);
	memset(fm, 0, sizeof(*fm));
}

void
fx_expect(struct fx_peer *p, int type, const uint8_t *id, struct fx_msg *out)
{
	struct fx_msg	 mine, *fm = out != NULL ? out : &mine;

	ck_assert_msg(fx_pump_until(fx_frame_ready, p),
	    "expected %s, the tunnel sent nothing", msg_typename(type));
	ck_assert_int_eq(fx_recv(p, fm), 1);
	ck_assert_msg(fm->fm_m.m_type == type, "expected %s, got %s",
	    msg_typename(type), msg_typename(fm->fm_m.m_type));
	if (id != NULL)
		ck_assert_msg(memcmp(fm->fm_m.m_id, id, LS_CHANNEL_ID_LEN) ==
		    0, "%s for channel %s, expected %s", msg_typename(type),
		    log_id(fm->fm_m.m_id), log_id(id));
	if (out == NULL)
		fx_msg_free(fm);
}

void
fx_expect_none(struct fx_peer *p)
{
	struct fx_msg	fm;

	if (fx_recv(p, &fm)) {
		ck_abort_msg("unexpected %s (%zu bytes) from tunnel",
		    msg_typename(fm.fm_m.m_type), fm.fm_len);
	}
}

void
fx_read_data(struct fx_peer *p, const uint8_t *id, uint8_t *buf, size_t len,
    uint64_t *win)
{
	struct fx_msg	fm;
	size_t		got = 0;

	while (got < len) {
		ck_assert_msg(fx_pump_until(fx_frame_ready, p),
		    "%zu of %zu bytes of Data came", got, len);
		fx_recv(p, &fm);
		if (fm.fm_m.m_type == MSG_WINDOW && win != NULL) {
			ck_assert_int_eq(memcmp(fm.fm_m.m_id, id,
			    LS_CHANNEL_ID_LEN), 0);
			*win += fm.fm_m.m_window;
			fx_msg_free(&fm);
			continue;
		}
		ck_assert_msg(fm.fm_m.m_type == MSG_DATA, "expected Data, got "
		    "%s after %zu bytes", msg_typename(fm.fm_m.m_type), got);
		ck_assert_int_eq(fm.fm_m.m_proto, PROTO_TCP);
		ck_assert_int_eq(memcmp(fm.fm_m.m_id, id, LS_CHANNEL_ID_LEN),
		    0);
		ck_assert_msg(got + fm.fm_m.m_datalen <= len,
		    "%zu bytes of Data, %zu expected", got + fm.fm_m.m_datalen,
		    len);
		memcpy(buf + got, fm.fm_m.m_data, fm.fm_m.m_datalen);
		got += fm.fm_m.m_datalen;
		fx_msg_free(&fm);
	}
}

void
fx_expect_data(struct fx_peer *p, const uint8_t *id, const uint8_t *want,
    size_t len)
{
	uint8_t	*buf = malloc(len > 0 ? len : 1);

	ck_assert_ptr_nonnull(buf);
	fx_read_data(p, id, buf, len, NULL);
	ck_assert_msg(memcmp(buf, want, len) == 0, "Data differs");
	free(buf);
}

void
fx_send_buf(struct fx_peer *p, struct evbuffer *b)
{
	uint32_t	len = (uint32_t)evbuffer_get_length(b);

	ck_assert_int_eq(bufferevent_write(p->p_bev, &len, sizeof(len)), 0);
	ck_assert_int_eq(bufferevent_write_buffer(p->p_bev, b), 0);
}

void
fx_send_raw(struct fx_peer *p, const void *buf, size_t len)
{
	struct evbuffer	*b = evbuffer_new();

	evbuffer_add(b, buf, len);
	fx_send_buf(p, b);
	evbuffer_free(b);
}

void
fx_send_connect(struct fx_peer *p, int proto, const uint8_t *id,
    const char *host, uint16_t port)
{
	struct evbuffer	*b = evbuffer_new();

	ck_assert_int_eq(msg_put_connect(b, proto, id, host, port), 0);
	fx_send_buf(p, b);
	evbuffer_free(b);
}

void
fx_send_cr(struct fx_peer *p, int ok, const uint8_t *id, const char *err)
{
	struct evbuffer	*b = evbuffer_new();

	ck_assert_int_eq(msg_put_connect_response(b, ok, id, err), 0);
	fx_send_buf(p, b);
	evbuffer_free(b);
}

/* Uncompressed TCP Data whatever its size (msg_put_data gzips big ones). */
void
fx_send_data(struct fx_peer *p, const uint8_t *id, const void *buf,
    size_t len)
{
	struct evbuffer	*b = evbuffer_new();
	uint8_t		 h[MSG_DATA_HDR];

	msg_data_header(h, id, (uint32_t)len);
	evbuffer_add(b, h, sizeof(h));
	evbuffer_add(b, buf, len);
	fx_send_buf(p, b);
	evbuffer_free(b);
}

void
fx_send_disc(struct fx_peer *p, const uint8_t *id, const char *err)
{
	struct evbuffer	*b = evbuffer_new();

	ck_assert_int_eq(msg_put_disconnect(b, id, err), 0);
	fx_send_buf(p, b);
	evbuffer_free(b);
}

void
fx_send_window(struct fx_peer *p, const uint8_t *id, uint32_t inc)
{
	struct evbuffer	*b = evbuffer_new();

	ck_assert_int_eq(msg_put_window(b, id, inc), 0);
	fx_send_buf(p, b);
	evbuffer_free(b);
}

const char *
fx_errtext(const struct fx_msg *fm)
{
	static char	buf[300];

	snprintf(buf, sizeof(buf), "%.*s", (int)fm->fm_m.m_error.len,
	    (const char *)fm->fm_m.m_error.p);
	return (buf);
}

struct channel *
fx_chan(struct fx_peer *p, const uint8_t *id)
{
	if (p->p_tun == NULL)
		return (NULL);
	return (tunnel_find(p->p_tun, id));
}

/* ---- the application and target sockets ------------------------------- */

int
fx_app_new(struct group *g)
{
	struct sockaddr_in	sin;
	int			sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	evutil_make_socket_nonblocking(sv[0]);
	evutil_make_socket_nonblocking(sv[1]);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(40000);
	front_accept(sv[0], (struct sockaddr *)&sin, sizeof(sin), g);
	fx_keep_fd(sv[1]);
	return (sv[1]);
}

void
fx_app_connect(int fd, uint16_t port, const void *extra, size_t n)
{
	uint8_t	buf[2048];
	size_t	len = 0;

	ck_assert_uint_le(n, sizeof(buf) - 13);
	memcpy(buf, "\x05\x01\x00", 3);
	memcpy(buf + 3, "\x05\x01\x00\x01\x7f\x00\x00\x01", 8);
	buf[11] = (uint8_t)(port >> 8);
	buf[12] = (uint8_t)port;
	len = 13;
	if (n > 0)
		memcpy(buf + len, extra, n);
	fx_app_write(fd, buf, len + n);
	fx_app_expect(fd, "\x05\x00", 2);
}

void
fx_app_read(int fd, void *buf, size_t n)
{
	uint8_t	*b = buf;
	size_t	 got = 0;
	ssize_t	 r;
	double	 start = fx_now();

	while (got < n) {
		r = recv(fd, b + got, n - got, MSG_DONTWAIT);
		if (r > 0) {
			got += (size_t)r;
			start = fx_now();
			continue;
		}
		if (r == 0)
			ck_abort_msg("end of file after %zu of %zu bytes", got,
			    n);
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			ck_abort_msg("recv: %s after %zu of %zu bytes",
			    strerror(errno), got, n);
		if (fx_now() - start > FX_WAIT)
			ck_abort_msg("%zu of %zu bytes came", got, n);
		fx_pump();
	}
}

void
fx_app_expect(int fd, const void *want, size_t n)
{
	uint8_t	*buf = malloc(n > 0 ? n : 1);
	size_t	 i;

	ck_assert_ptr_nonnull(buf);
	fx_app_read(fd, buf, n);
	/* (ck_assert marks a point per call: not one per byte) */
	if (memcmp(buf, want, n) != 0) {
		for (i = 0; buf[i] == ((const uint8_t *)want)[i]; i++)
			;
		ck_abort_msg("byte %zu of %zu: %02x, expected %02x", i, n,
		    buf[i], ((const uint8_t *)want)[i]);
	}
	free(buf);
}

void
fx_app_reply(int fd, uint8_t rep)
{
	uint8_t	want[10] = { 5, 0, 0, 1, 0, 0, 0, 0, 0, 0 };

	want[1] = rep;
	fx_app_expect(fd, want, sizeof(want));
}

int
fx_app_eof(int fd)
{
	uint8_t	c;
	ssize_t	r;
	double	start = fx_now();

	for (;;) {
		r = recv(fd, &c, 1, MSG_DONTWAIT);
		if (r == 0 || (r == -1 && errno == ECONNRESET))
			return (1);
		if (r > 0)
			ck_abort_msg("a byte (%02x) where end of file was "
			    "expected", c);
		if (fx_now() - start > FX_WAIT)
			return (0);
		fx_pump();
	}
}

void
fx_app_quiet(int fd)
{
	uint8_t	c;
	ssize_t	r;

	fx_pump();
	r = recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK);
	ck_assert_msg(r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK),
	    "expected nothing to read, recv returned %zd", r);
}

void
fx_app_write(int fd, const void *buf, size_t n)
{
	const uint8_t	*b = buf;
	size_t		 off = 0;
	ssize_t		 w;
	double		 start = fx_now();

	while (off < n) {
		w = send(fd, b + off, n - off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w > 0) {
			off += (size_t)w;
			start = fx_now();
			continue;
		}
		if (w == 0 || (errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR))
			ck_abort_msg("send: %s after %zu of %zu bytes",
			    strerror(errno), off, n);
		if (fx_now() - start > FX_WAIT)
			ck_abort_msg("the channel stopped reading after %zu of "
			    "%zu bytes", off, n);
		fx_pump();
	}
}

size_t
fx_app_avail(int fd)
{
	int	n = 0;

	fx_pump();
	ck_assert_int_eq(ioctl(fd, FIONREAD, &n), 0);
	return ((size_t)n);
}

int
fx_listen(uint16_t *port)
{
	struct sockaddr_in	sin;
	socklen_t		slen = sizeof(sin);
	int			fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(fd, 16), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &slen), 0);
	evutil_make_socket_nonblocking(fd);
	*port = ntohs(sin.sin_port);
	fx_keep_fd(fd);
	return (fd);
}

int
fx_accept(int lfd)
{
	double	start = fx_now();
	int	fd;

	for (;;) {
		fx_pump();
		if ((fd = accept(lfd, NULL, NULL)) != -1) {
			evutil_make_socket_nonblocking(fd);
			fx_keep_fd(fd);
			return (fd);
		}
		if (fx_now() - start > FX_WAIT)
			return (-1);
		usleep(500);
	}
}

uint16_t
fx_closed_port(void)
{
	struct sockaddr_in	sin;
	socklen_t		slen = sizeof(sin);
	int			fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &slen), 0);
	close(fd);
	return (ntohs(sin.sin_port));
}

/* ---- timers ----------------------------------------------------------- */

struct fx_timer_find {
	double		 tf_secs;
	double		 tf_now;
	struct event	*tf_ev;
};

static int
fx_timer_each(const struct event_base *base, const struct event *ev,
    void *arg)
{
	struct fx_timer_find	*tf = arg;
	struct timeval		 tv;
	double			 left;

	if (event_get_fd(ev) != -1 || (event_get_events(ev) & EV_PERSIST) ||
	    !event_pending(ev, EV_TIMEOUT, &tv))
		return (0);
	left = (double)tv.tv_sec + (double)tv.tv_usec / 1e6 - tf->tf_now;
	if (left > tf->tf_secs - 1.0 && left <= tf->tf_secs + 0.5) {
		tf->tf_ev = (struct event *)ev;
		return (1);
	}
	return (0);
}

struct event *
fx_timer(int secs)
{
	struct fx_timer_find	tf;

	tf.tf_secs = secs;
	tf.tf_now = fx_now();
	tf.tf_ev = NULL;
	event_base_foreach_event(fx_base, fx_timer_each, &tf);
	return (tf.tf_ev);
}

void *
fx_timer_arg(int secs)
{
	struct event	*ev = fx_timer(secs);

	return (ev != NULL ? event_get_callback_arg(ev) : NULL);
}

int
fx_fire(int secs)
{
	struct event	*ev = fx_timer(secs);

	if (ev == NULL)
		return (0);
	event_active(ev, EV_TIMEOUT, 1);
	fx_pump();
	return (1);
}

void
fx_fill(uint8_t *buf, size_t n, unsigned seed)
{
	size_t	i;

	for (i = 0; i < n; i++)
		buf[i] = (uint8_t)((i * 131u + seed * 7u + (i >> 9)) & 0xff);
}
