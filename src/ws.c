/*
 * ws.c -- RFC 6455 WebSocket on a libevent bufferevent.
 *
 * One struct ws_conn per connection, server (ws_accept) or client
 * (ws_connect): the HTTP upgrade on either side, the client's connect
 * and TLS, the server's TLS (ws_accept_tls, with tls.c's context), and
 * the frame stream of an open connection.  The pure framing
 * (headers, masking, handshake keys) is in wsframe.c.  Frames are read
 * and written on evbuffers, so payload bytes are never copied in user
 * space: a received frame is unmasked in place and its chains are moved
 * into the message buffer handed to the owner; a message to send is
 * masked in place (client) and its chains moved into the socket's
 * output.  (The wslay library, used before, copies every message two or
 * three times and frames in 4 KiB steps; see doc/data-path.md.)  Every
 * libevent callback holds a reference while it runs so that the owner
 * may call ws_free()/ws_close() from any callback; the memory is
 * released when the last reference goes.  The bufferevent itself may
 * outlive the ws_conn for a short linger that flushes a close frame or
 * an HTTP answer.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "linksocks.h"

#define WS_HEAD_TIMEOUT		30	/* server: request head */
#define WS_HANDSHAKE_TIMEOUT	45	/* client: connect + 101 */
#define WS_LINGER		5	/* flush cap after close */
#define WS_READ_MAX		(256u * 1024)	/* bytes per read call */
#define WS_WRITE_MAX		(1024u * 1024)	/* bytes per write call */

enum ws_state {
	WS_HTTP,		/* server: waiting for the request head */
	WS_CONNECTING,		/* client: resolve, TCP, TLS */
	WS_HANDSHAKE,		/* client: upgrade sent, waiting for 101 */
	WS_OPEN,
	WS_DEAD			/* ended; no callbacks from here on */
};

enum ws_rx {
	WSRX_HEADER,		/* waiting for a frame header */
	WSRX_PAYLOAD		/* wc_rx_left payload bytes still to come */
};

struct ws_conn {
	enum ws_state		 wc_state;
	int			 wc_server;
	int			 wc_tls;
	struct event_base	*wc_base;
	struct bufferevent	*wc_bev;
	const struct ws_cb	*wc_cb;
	void			*wc_arg;
	struct http_head	 wc_head;
	struct evbuffer		*wc_extra;	/* 101 lines / client request */
	char			 wc_accept[29];	/* client: expected value */
	char			 wc_host[256];	/* client: for errors */
	char			 wc_peer[272];
	time_t			 wc_last_rx;
	int			 wc_refs;
	int			 wc_paused;
	int			 wc_eof;
	int			 wc_overhigh;
	int			 wc_close_sent;
	struct event		*wc_timer;
	struct event		*wc_resume;
	struct event		*wc_push;	/* ws_push: write at batch end */
	int			 wc_direct;	/* plain socket: ws_push writes */
	/* receiving */
	enum ws_rx		 wc_rx;
	struct ws_frame		 wc_frame;	/* the frame being read */
	uint64_t		 wc_rx_left;
	size_t			 wc_rx_maskoff;
	int			 wc_msg_op;	/* 0, or opcode of wc_msg */
	struct evbuffer		*wc_msg;	/* data message being assembled */
	uint8_t			 wc_ctl[125];	/* control frame payload */
	size_t			 wc_ctllen;
	size_t			 wc_rx_max;	/* largest message (read limit) */
	struct preauth		*wc_budget;	/* told what we buffer */
	/* client through a proxy: the exchange, then TLS on its socket */
	struct proxy_conn	*wc_proxy;
	SSL			*wc_ssl;	/* until the proxy answers */
};

struct ws_linger {
	struct bufferevent	*wl_bev;
	struct event		*wl_timer;
};

static const char *ws_strstate(enum ws_state);
static void	 ws_set_state(struct ws_conn *, enum ws_state);
static time_t	 ws_now(void);
static struct ws_conn *ws_new(struct event_base *, const struct ws_cb *,
		    void *, int);
static void	 ws_destroy(struct ws_conn *);
static void	 ws_enter(struct ws_conn *);
static void	 ws_leave(struct ws_conn *);
static void	 ws_release(struct ws_conn *, int);
static void	 ws_fail(struct ws_conn *, const char *);
static void	 ws_linger(struct bufferevent *);
static void	 ws_linger_done(struct ws_linger *);
static void	 ws_linger_read(struct bufferevent *, void *);
static void	 ws_linger_write(struct bufferevent *, void *);
static void	 ws_linger_event(struct bufferevent *, short, void *);
static void	 ws_linger_timer(evutil_socket_t, short, void *);
static void	 ws_read(struct bufferevent *, void *);
static void	 ws_write(struct bufferevent *, void *);
static void	 ws_push(evutil_socket_t, short, void *);
static void	 ws_event(struct bufferevent *, short, void *);
static void	 ws_timer(evutil_socket_t, short, void *);
static void	 ws_resume(evutil_socket_t, short, void *);
static void	 ws_server_tls_error(struct ws_conn *, short);
static void	 ws_server_head(struct ws_conn *);
static void	 ws_server_upgrade(struct ws_conn *);
static void	 ws_server_reject(struct ws_conn *, int, const char *,
		    const char *);
static void	 ws_client_head(struct ws_conn *);
static void	 ws_error(struct ws_conn *, short);
static int	 ws_start(struct ws_conn *);
static void	 ws_process(struct ws_conn *);
static int	 ws_flush(struct ws_conn *);
static void	 ws_deliver(struct ws_conn *);
static void	 ws_control(struct ws_conn *);
static void	 ws_protocol_error(struct ws_conn *, uint16_t, const char *);
static int	 ws_frame_out(struct ws_conn *, int, const uint8_t *, size_t,
		    struct evbuffer *, size_t);
static int	 ws_usable(struct ws_conn *);
static size_t	 ws_read_high(struct ws_conn *);
static size_t	 ws_read_room(struct ws_conn *);
static void	 ws_account(struct ws_conn *);

static const char *
ws_strstate(enum ws_state s)
{
	switch (s) {
	case WS_HTTP:		return ("http");
	case WS_CONNECTING:	return ("connecting");
	case WS_HANDSHAKE:	return ("handshake");
	case WS_OPEN:		return ("open");
	case WS_DEAD:		return ("dead");
	}
	return ("?");
}

static void
ws_set_state(struct ws_conn *wc, enum ws_state s)
{
	if (wc->wc_state == s)
		return;
	log_trace("%s: %s: %s -> %s", __func__, wc->wc_peer,
	    ws_strstate(wc->wc_state), ws_strstate(s));
	wc->wc_state = s;
}

static time_t
ws_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec);
}

static struct ws_conn *
ws_new(struct event_base *base, const struct ws_cb *cb, void *arg,
    int server)
{
	struct ws_conn	*wc;

	if ((wc = calloc(1, sizeof(*wc))) == NULL)
		return (NULL);
	wc->wc_base = base;
	wc->wc_cb = cb;
	wc->wc_arg = arg;
	wc->wc_server = server;
	wc->wc_last_rx = ws_now();
	wc->wc_rx_max = LS_MSG_MAX;
	snprintf(wc->wc_peer, sizeof(wc->wc_peer), "?");
	wc->wc_timer = evtimer_new(base, ws_timer, wc);
	wc->wc_resume = event_new(base, -1, 0, ws_resume, wc);
	wc->wc_push = event_new(base, -1, 0, ws_push, wc);
	wc->wc_extra = evbuffer_new();
	wc->wc_msg = evbuffer_new();
	if (wc->wc_timer == NULL || wc->wc_resume == NULL ||
	    wc->wc_push == NULL ||
	    wc->wc_extra == NULL || wc->wc_msg == NULL) {
		ws_destroy(wc);
		return (NULL);
	}
	return (wc);
}

static void
ws_destroy(struct ws_conn *wc)
{
	if (wc->wc_proxy != NULL)
		proxy_cancel(wc->wc_proxy);
	if (wc->wc_ssl != NULL)
		SSL_free(wc->wc_ssl);
	if (wc->wc_bev != NULL)
		bufferevent_free(wc->wc_bev);
	if (wc->wc_msg != NULL)
		evbuffer_free(wc->wc_msg);
	http_head_free(&wc->wc_head);
	if (wc->wc_extra != NULL)
		evbuffer_free(wc->wc_extra);
	if (wc->wc_timer != NULL)
		event_free(wc->wc_timer);
	if (wc->wc_resume != NULL)
		event_free(wc->wc_resume);
	if (wc->wc_push != NULL)
		event_free(wc->wc_push);
	free(wc);
}

static void
ws_enter(struct ws_conn *wc)
{
	wc->wc_refs++;
}

static void
ws_leave(struct ws_conn *wc)
{
	if (--wc->wc_refs == 0 && wc->wc_state == WS_DEAD)
		ws_destroy(wc);
}

/* The one teardown: hand the socket to a linger or close it, free later. */
static void
ws_release(struct ws_conn *wc, int linger)
{
	ws_set_state(wc, WS_DEAD);
	event_del(wc->wc_timer);
	event_del(wc->wc_resume);
	event_del(wc->wc_push);
	if (wc->wc_proxy != NULL) {
		proxy_cancel(wc->wc_proxy);
		wc->wc_proxy = NULL;
	}
	if (wc->wc_bev != NULL) {
		if (linger)
			ws_linger(wc->wc_bev);
		else
			bufferevent_free(wc->wc_bev);
		wc->wc_bev = NULL;
	}
	if (wc->wc_refs == 0)
		ws_destroy(wc);
}

/* The connection ended by itself: tell the owner once, then free. */
static void
ws_fail(struct ws_conn *wc, const char *reason)
{
	const struct ws_cb	*cb = wc->wc_cb;

	if (wc->wc_state == WS_DEAD)
		return;
	log_debug("%s: %s: %s", __func__, wc->wc_peer, reason);
	ws_enter(wc);
	ws_set_state(wc, WS_DEAD);
	if (cb != NULL && cb->ws_closed != NULL)
		cb->ws_closed(wc, reason, wc->wc_arg);
	ws_release(wc, 1);
	ws_leave(wc);
}

/* Flush what is queued, then close; at most WS_LINGER seconds. */
static void
ws_linger(struct bufferevent *bev)
{
	struct ws_linger	*wl;
	struct timeval		 tv = { WS_LINGER, 0 };

	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0 ||
	    (wl = calloc(1, sizeof(*wl))) == NULL) {
		bufferevent_free(bev);
		return;
	}
	wl->wl_bev = bev;
	if ((wl->wl_timer = evtimer_new(bufferevent_get_base(bev),
	    ws_linger_timer, wl)) == NULL) {
		ws_linger_done(wl);
		return;
	}
	evtimer_add(wl->wl_timer, &tv);
	bufferevent_setcb(bev, ws_linger_read, ws_linger_write,
	    ws_linger_event, wl);
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	bufferevent_setwatermark(bev, EV_READ, 0, 0);
	bufferevent_set_timeouts(bev, NULL, NULL);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void
ws_linger_done(struct ws_linger *wl)
{
	bufferevent_free(wl->wl_bev);
	if (wl->wl_timer != NULL)
		event_free(wl->wl_timer);
	free(wl);
}

static void
ws_linger_read(struct bufferevent *bev, void *arg LS_UNUSED)
{
	struct evbuffer	*in = bufferevent_get_input(bev);

	evbuffer_drain(in, evbuffer_get_length(in));
}

static void
ws_linger_write(struct bufferevent *bev, void *arg)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		ws_linger_done(arg);
}

static void
ws_linger_event(struct bufferevent *bev LS_UNUSED, short what LS_UNUSED,
    void *arg)
{
	ws_linger_done(arg);
}

static void
ws_linger_timer(evutil_socket_t fd LS_UNUSED, short ev LS_UNUSED, void *arg)
{
	ws_linger_done(arg);
}

/* ---- server ------------------------------------------------------- */

struct ws_conn *
ws_accept(struct event_base *base, evutil_socket_t fd, const struct ws_cb *cb,
    void *arg)
{
	return (ws_accept_tls(base, fd, NULL, cb, arg));
}

/*
 * With ctx the bufferevent is bufferevent_openssl's, accepting: the
 * handshake runs before the first read callback, under the request
 * head's deadline.
 */
struct ws_conn *
ws_accept_tls(struct event_base *base, evutil_socket_t fd,
    struct ssl_ctx_st *ctx, const struct ws_cb *cb, void *arg)
{
	struct ws_conn		*wc;
	struct sockaddr_storage	 ss;
	socklen_t		 slen = sizeof(ss);
	struct timeval		 tv = { WS_HEAD_TIMEOUT, 0 };
	SSL			*ssl;
	int			 opts = BEV_OPT_CLOSE_ON_FREE |
				    BEV_OPT_DEFER_CALLBACKS;

	if ((wc = ws_new(base, cb, arg, 1)) == NULL) {
		log_warnx("%s: out of memory", __func__);
		evutil_closesocket(fd);
		return (NULL);
	}
	if (getpeername(fd, (struct sockaddr *)&ss, &slen) == 0)
		util_sockaddr_str((struct sockaddr *)&ss, wc->wc_peer,
		    sizeof(wc->wc_peer));
	evutil_make_socket_nonblocking(fd);
	if (ctx != NULL) {
		wc->wc_tls = 1;
		if ((ssl = SSL_new(ctx)) == NULL)
			wc->wc_bev = NULL;
		else if ((wc->wc_bev = bufferevent_openssl_socket_new(base,
		    fd, ssl, BUFFEREVENT_SSL_ACCEPTING, opts)) == NULL)
			SSL_free(ssl);
		else
			bufferevent_openssl_set_allow_dirty_shutdown(
			    wc->wc_bev, 1);
	} else
		wc->wc_bev = bufferevent_socket_new(base, fd, opts);
	if (wc->wc_bev == NULL) {
		log_warnx("%s: cannot make the %sbufferevent", __func__,
		    ctx != NULL ? "TLS " : "");
		evutil_closesocket(fd);
		ws_destroy(wc);
		return (NULL);
	}
	wc->wc_state = WS_HTTP;
	bufferevent_setcb(wc->wc_bev, ws_read, ws_write, ws_event, wc);
	/* No more than a request head is read before it is parsed. */
	bufferevent_setwatermark(wc->wc_bev, EV_READ, 0, HTTP_MAX_HEAD);
	bufferevent_enable(wc->wc_bev, EV_READ | EV_WRITE);
	evtimer_add(wc->wc_timer, &tv);
	return (wc);
}

static void
ws_server_head(struct ws_conn *wc)
{
	const struct ws_cb	*cb = wc->wc_cb;
	int			 r, up;

	r = http_parse_request(bufferevent_get_input(wc->wc_bev),
	    &wc->wc_head);
	if (r == 0)
		return;
	event_del(wc->wc_timer);
	if (r == -1) {
		http_respond(bufferevent_get_output(wc->wc_bev), 400, NULL,
		    "400 Bad Request", NULL);
		ws_fail(wc, "malformed or oversized request head");
		return;
	}
	log_debug("%s: %s: %s %s", __func__, wc->wc_peer,
	    log_strz(wc->wc_head.hh_method), log_strz(wc->wc_head.hh_target));
	up = cb != NULL && cb->ws_request != NULL ?
	    cb->ws_request(wc, &wc->wc_head, wc->wc_arg) : 1;
	if (wc->wc_state != WS_HTTP)
		return;		/* answered or freed by the owner */
	if (!up) {
		log_warnx("%s: %s: request not answered", __func__,
		    wc->wc_peer);
		ws_server_reject(wc, 500, "500 Internal Server Error\n", NULL);
		return;
	}
	ws_server_upgrade(wc);
}

/*
 * Before the request head under TLS: most often a failed handshake (a
 * client that does not trust our certificate, a plain-text client, a
 * scanner); the reason is OpenSSL's.
 */
static void
ws_server_tls_error(struct ws_conn *wc, short what)
{
	char		 msg[300];
	const char	*reason = NULL;
	unsigned long	 e, x = 0;

	while ((e = bufferevent_get_openssl_error(wc->wc_bev)) != 0)
		if (x == 0 && ERR_GET_LIB(e) != 0)
			x = e;
	if (x != 0)
		reason = ERR_reason_error_string(x);
	if (reason != NULL)
		snprintf(msg, sizeof(msg), "TLS: %s", reason);
	else
		snprintf(msg, sizeof(msg), "%s", (what & BEV_EVENT_EOF) ?
		    "connection closed before request" : "read error");
	ws_fail(wc, msg);
}

/* A request we refuse to upgrade: answer, and the owner hears of it. */
static void
ws_server_reject(struct ws_conn *wc, int code, const char *body,
    const char *extra)
{
	char	why[64];

	http_respond(bufferevent_get_output(wc->wc_bev), code, NULL, body,
	    extra);
	snprintf(why, sizeof(why), "upgrade refused (HTTP %d)", code);
	ws_fail(wc, why);
}

static void
ws_server_upgrade(struct ws_conn *wc)
{
	struct http_head	*hh = &wc->wc_head;
	struct evbuffer		*out = bufferevent_get_output(wc->wc_bev);
	const char		*v, *key;
	char			 accept[29];
	static const char	 verhdr[] = "Sec-WebSocket-Version: 13\r\n";

	if (!http_header_has_token(hh, "Connection", "upgrade") ||
	    !http_header_has_token(hh, "Upgrade", "websocket")) {
		ws_server_reject(wc, 400, "Bad Request\n", verhdr);
		return;
	}
	if (strcmp(hh->hh_method, "GET") != 0) {
		ws_server_reject(wc, 405, "Method Not Allowed\n", verhdr);
		return;
	}
	if ((v = http_header(hh, "Sec-WebSocket-Version")) == NULL ||
	    strcmp(v, "13") != 0) {
		ws_server_reject(wc, 400, "Bad Request\n", verhdr);
		return;
	}
	key = http_header(hh, "Sec-WebSocket-Key");
	if (!wsframe_key_valid(key)) {
		ws_server_reject(wc, 400, "Bad Request\n", verhdr);
		return;
	}
	wsframe_accept_key(key, accept);
	evbuffer_add_printf(out, "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n", accept);
	evbuffer_add_buffer(out, wc->wc_extra);
	evbuffer_add(out, "\r\n", 2);
	if (ws_start(wc) == -1)
		return;
	/* Frames pipelined behind the head. */
	if (wc->wc_state == WS_OPEN && !wc->wc_paused)
		ws_process(wc);
}

void
ws_http_reply(struct ws_conn *wc, int code, const char *ctype,
    const char *body, const char *extra)
{
	if (wc == NULL || wc->wc_state != WS_HTTP || wc->wc_bev == NULL)
		return;
	log_debug("%s: %s: %d", __func__, wc->wc_peer, code);
	http_respond(bufferevent_get_output(wc->wc_bev), code, ctype, body,
	    extra);
	ws_release(wc, 1);
}

void
ws_add_response_header(struct ws_conn *wc, const char *lines)
{
	if (wc != NULL && wc->wc_server && wc->wc_state == WS_HTTP &&
	    lines != NULL)
		evbuffer_add(wc->wc_extra, lines, strlen(lines));
}

/* ---- client ------------------------------------------------------- */

struct ws_conn *
ws_connect(struct event_base *base, struct evdns_base *dns,
    struct ssl_ctx_st *ctx, const struct ls_url *url, const char *target,
    const char *extra, const struct ws_cb *cb, void *arg)
{
	struct ws_dial	wd;

	memset(&wd, 0, sizeof(wd));
	wd.wd_ctx = ctx;
	wd.wd_extra = extra;
	return (ws_dial(base, dns, &wd, url, target, cb, arg));
}

/*
 * The proxy answered a client's CONNECT: its socket carries TLS (a
 * new bufferevent on the same descriptor) or the upgrade itself.
 */
static void
ws_proxied(const struct proxy_result *res, void *arg)
{
	struct ws_conn		*wc = arg;
	struct bufferevent	*bev = res->pr_bev;
	evutil_socket_t		 fd;

	wc->wc_proxy = NULL;
	ws_enter(wc);
	if (res->pr_error != 0) {
		ws_fail(wc, res->pr_text);
		goto out;
	}
	if (wc->wc_ssl == NULL) {
		wc->wc_bev = bev;
		bufferevent_setcb(bev, ws_read, ws_write, ws_event, wc);
		bufferevent_enable(bev, EV_READ | EV_WRITE);
		ws_leave(wc);
		ws_event(bev, BEV_EVENT_CONNECTED, wc);
		return;
	}
	if (evbuffer_get_length(bufferevent_get_input(bev)) > 0) {
		bufferevent_free(bev);
		ws_fail(wc, "the proxy sent data before the TLS handshake");
		goto out;
	}
	/* Keep the descriptor, drop the plain bufferevent. */
	fd = bufferevent_getfd(bev);
	bufferevent_setfd(bev, -1);
	bufferevent_free(bev);
	wc->wc_bev = bufferevent_openssl_socket_new(wc->wc_base, fd,
	    wc->wc_ssl, BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (wc->wc_bev == NULL) {
		evutil_closesocket(fd);
		ws_fail(wc, "out of memory");
		goto out;
	}
	wc->wc_ssl = NULL;	/* the bufferevent's now */
	bufferevent_openssl_set_allow_dirty_shutdown(wc->wc_bev, 1);
	bufferevent_setcb(wc->wc_bev, ws_read, ws_write, ws_event, wc);
	bufferevent_enable(wc->wc_bev, EV_READ | EV_WRITE);
 out:
	ws_leave(wc);
}

struct ws_conn *
ws_dial(struct event_base *base, struct evdns_base *dns,
    const struct ws_dial *wd, const struct ls_url *url, const char *target,
    const struct ws_cb *cb, void *arg)
{
	struct ws_conn	*wc;
	SSL		*ssl = NULL;
	struct in6_addr	 a6;
	struct in_addr	 a4;
	uint8_t		 raw[16];
	char		 key[32], hostport[300];
	const char	*name;
	int		 isip, opts = BEV_OPT_CLOSE_ON_FREE |
			    BEV_OPT_DEFER_CALLBACKS;
	struct timeval	 tv = { WS_HANDSHAKE_TIMEOUT, 0 };

	if ((wc = ws_new(base, cb, arg, 0)) == NULL) {
		log_warnx("%s: out of memory", __func__);
		return (NULL);
	}
	isip = strchr(url->u_host, ':') != NULL ?
	    inet_pton(AF_INET6, url->u_host, &a6) == 1 :
	    inet_pton(AF_INET, url->u_host, &a4) == 1;
	memcpy(wc->wc_host, url->u_host, sizeof(wc->wc_host));
	if (strchr(url->u_host, ':') != NULL)
		snprintf(wc->wc_peer, sizeof(wc->wc_peer), "[%s]:%u",
		    url->u_host, url->u_port);
	else
		snprintf(wc->wc_peer, sizeof(wc->wc_peer), "%s:%u",
		    url->u_host, url->u_port);
	if (url->u_tls) {
		wc->wc_tls = 1;
		if (wd->wd_ctx == NULL || (ssl = SSL_new(wd->wd_ctx)) == NULL) {
			log_warnx("%s: no TLS context", __func__);
			goto fail;
		}
		/* --sni names the server to verify, too (a CDN's name). */
		name = wd->wd_sni != NULL ? wd->wd_sni : url->u_host;
		SSL_set_verify(ssl, wd->wd_insecure ? SSL_VERIFY_NONE :
		    SSL_VERIFY_PEER, NULL);
		if (isip && wd->wd_sni == NULL) {
			if (!wd->wd_insecure && X509_VERIFY_PARAM_set1_ip_asc(
			    SSL_get0_param(ssl), url->u_host) != 1)
				goto fail;
		} else {
			if (SSL_set_tlsext_host_name(ssl, name) != 1 ||
			    (!wd->wd_insecure && SSL_set1_host(ssl, name) != 1))
				goto fail;
		}
		if (wd->wd_proxy == NULL) {
			wc->wc_bev = bufferevent_openssl_socket_new(base, -1,
			    ssl, BUFFEREVENT_SSL_CONNECTING, opts);
			if (wc->wc_bev == NULL)
				goto fail;
			ssl = NULL;	/* owned by the bufferevent now */
			bufferevent_openssl_set_allow_dirty_shutdown(
			    wc->wc_bev, 1);
		} else {
			wc->wc_ssl = ssl;	/* for after the proxy */
			ssl = NULL;
		}
	} else if (wd->wd_proxy == NULL &&
	    (wc->wc_bev = bufferevent_socket_new(base, -1, opts)) == NULL)
		goto fail;

	/* The request is written once connected. */
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		goto fail;
	EVP_EncodeBlock((unsigned char *)key, raw, sizeof(raw));
	wsframe_accept_key(key, wc->wc_accept);
	if (wd->wd_host != NULL)
		snprintf(hostport, sizeof(hostport), "%s", wd->wd_host);
	else if ((url->u_tls && url->u_port == 443) ||
	    (!url->u_tls && url->u_port == 80))
		snprintf(hostport, sizeof(hostport), "%s%s%s",
		    isip && strchr(url->u_host, ':') ? "[" : "", url->u_host,
		    isip && strchr(url->u_host, ':') ? "]" : "");
	else
		snprintf(hostport, sizeof(hostport), "%s", wc->wc_peer);
	if (evbuffer_add_printf(wc->wc_extra, "GET %s HTTP/1.1\r\n"
	    "Host: %s\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: %s\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "%s%s\r\n", target != NULL ? target : url->u_path, hostport, key,
	    wd->wd_headers != NULL ? wd->wd_headers : "",
	    wd->wd_extra != NULL ? wd->wd_extra : "") == -1)
		goto fail;

	wc->wc_state = WS_CONNECTING;
	evtimer_add(wc->wc_timer, &tv);
	if (wd->wd_proxy != NULL) {
		log_debug("%s: %s%s via %s", __func__, wc->wc_peer,
		    url->u_tls ? " (tls)" : "", wd->wd_proxy->px_name);
		wc->wc_proxy = proxy_open(base, dns, wd->wd_proxy,
		    PROXY_CMD_CONNECT, url->u_host, url->u_port, ws_proxied,
		    wc);
		if (wc->wc_proxy == NULL)
			goto fail;
		return (wc);
	}
	bufferevent_setcb(wc->wc_bev, ws_read, ws_write, ws_event, wc);
	bufferevent_enable(wc->wc_bev, EV_READ | EV_WRITE);
	log_debug("%s: %s%s", __func__, wc->wc_peer, url->u_tls ? " (tls)" :
	    "");
	if (bufferevent_socket_connect_hostname(wc->wc_bev, dns, AF_UNSPEC,
	    url->u_host, url->u_port) == -1) {
		log_warnx("%s: %s: connect failed", __func__, wc->wc_peer);
		goto fail;
	}
	return (wc);
 fail:
	if (ssl != NULL)
		SSL_free(ssl);
	ws_destroy(wc);
	return (NULL);
}

/* Socket, DNS or TLS error (or EOF before the handshake ended). */
static void
ws_error(struct ws_conn *wc, short what)
{
	char		 msg[400];
	const char	*stage, *reason;
	unsigned long	 e = 0, x;
	long		 vr;
	int		 err = EVUTIL_SOCKET_ERROR(), dnserr;
	SSL		*ssl;

	if (wc->wc_state == WS_CONNECTING &&
	    (dnserr = bufferevent_socket_get_dns_error(wc->wc_bev)) != 0) {
		snprintf(msg, sizeof(msg), "resolve %s failed: %s",
		    log_strz(wc->wc_host), evutil_gai_strerror(dnserr));
		ws_fail(wc, msg);
		return;
	}
	/*
	 * libevent queues bare SSL_get_error() codes (library 0) next to
	 * real OpenSSL errors; a dirty shutdown or a failed connect under
	 * TLS shows up as such a code with EOF.
	 */
	if (wc->wc_tls) {
		while ((x = bufferevent_get_openssl_error(wc->wc_bev)) != 0) {
			if (e == 0 && ERR_GET_LIB(x) != 0)
				e = x;
		}
	}
	if (e != 0) {
		ssl = bufferevent_openssl_get_ssl(wc->wc_bev);
		vr = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
		reason = ERR_reason_error_string(e);
		if (reason == NULL)
			reason = "error";
		if (vr != X509_V_OK)
			snprintf(msg, sizeof(msg), "TLS: %s (%s)", reason,
			    X509_verify_cert_error_string(vr));
		else
			snprintf(msg, sizeof(msg), "TLS: %s", reason);
		ws_fail(wc, msg);
		return;
	}
	if (wc->wc_state == WS_CONNECTING)
		stage = "connect failed";
	else if (wc->wc_state == WS_HANDSHAKE)
		stage = "handshake failed";
	else
		stage = "connection error";
	if ((what & BEV_EVENT_ERROR) || err == ECONNREFUSED ||
	    err == ECONNRESET || err == ETIMEDOUT || err == EHOSTUNREACH ||
	    err == ENETUNREACH)
		snprintf(msg, sizeof(msg), "%s: %s", stage, err != 0 ?
		    evutil_socket_error_to_string(err) : "error");
	else
		snprintf(msg, sizeof(msg), "%s: connection closed by peer",
		    stage);
	ws_fail(wc, msg);
}

static void
ws_client_head(struct ws_conn *wc)
{
	struct http_head	*hh = &wc->wc_head;
	const struct ws_cb	*cb = wc->wc_cb;
	const char		*v;
	char			 msg[400];
	int			 r;

	r = http_parse_response(bufferevent_get_input(wc->wc_bev), hh);
	if (r == 0)
		return;
	if (r == -1) {
		ws_fail(wc, "handshake failed: malformed HTTP response");
		return;
	}
	if (hh->hh_status >= 301 && hh->hh_status <= 308 &&
	    hh->hh_status != 304 && hh->hh_status != 305 &&
	    hh->hh_status != 306) {
		v = http_header(hh, "Location");
		if (v == NULL || *v == '\0') {
			ws_fail(wc, "redirect response missing Location header");
			return;
		}
		if (cb != NULL && cb->ws_redirect != NULL) {
			log_debug("%s: %s: redirect to %s", __func__,
			    wc->wc_peer, log_strz(v));
			ws_set_state(wc, WS_DEAD);
			cb->ws_redirect(wc, v, wc->wc_arg);
			ws_release(wc, 0);
			return;
		}
	}
	if (hh->hh_status != 101) {
		snprintf(msg, sizeof(msg), "handshake failed: HTTP %d %s",
		    hh->hh_status, log_strz(hh->hh_reason));
		ws_fail(wc, msg);
		return;
	}
	if (!http_header_has_token(hh, "Upgrade", "websocket") ||
	    !http_header_has_token(hh, "Connection", "upgrade")) {
		ws_fail(wc, "handshake failed: missing Upgrade/Connection "
		    "header");
		return;
	}
	if ((v = http_header(hh, "Sec-WebSocket-Accept")) == NULL ||
	    strcmp(v, wc->wc_accept) != 0) {
		ws_fail(wc, "handshake failed: bad Sec-WebSocket-Accept");
		return;
	}
	event_del(wc->wc_timer);
	if (ws_start(wc) == -1)
		return;
	/* Frames the server sent right behind the 101. */
	if (wc->wc_state == WS_OPEN && !wc->wc_paused)
		ws_process(wc);
}

/* ---- both sides ---------------------------------------------------- */

/* Handshake done: the connection carries frames from now on. */
static int
ws_start(struct ws_conn *wc)
{
	const struct ws_cb	*cb = wc->wc_cb;

	bufferevent_setwatermark(wc->wc_bev, EV_WRITE, WS_OUT_LOW, 0);
	bufferevent_set_max_single_write(wc->wc_bev, WS_WRITE_MAX);
	bufferevent_set_max_single_read(wc->wc_bev, WS_READ_MAX);
	bufferevent_setwatermark(wc->wc_bev, EV_READ, 0, ws_read_high(wc));
	event_del(wc->wc_timer);
	wc->wc_rx = WSRX_HEADER;
	ws_set_state(wc, WS_OPEN);
	log_debug("%s: %s: websocket open", __func__, wc->wc_peer);
	if (wc->wc_paused)
		bufferevent_disable(wc->wc_bev, EV_READ);
	/*
	 * A plain socket's frames are written by ws_push once the callbacks
	 * of this loop pass have queued theirs: one writev for the batch, and
	 * no epoll_ctl to add EV_WRITE and delete it again.  EV_WRITE waits
	 * only for what the socket does not take.  TLS keeps libevent's path.
	 */
	wc->wc_direct = !wc->wc_tls &&
	    bufferevent_get_underlying(wc->wc_bev) == NULL;
	if (wc->wc_direct && ws_output_len(wc) == 0)
		bufferevent_disable(wc->wc_bev, EV_WRITE);
	if (cb != NULL && cb->ws_open != NULL)
		cb->ws_open(wc, wc->wc_arg);
	return (0);
}

/* A whole data message is in wc_msg: hand it over, then forget it. */
static void
ws_deliver(struct ws_conn *wc)
{
	const struct ws_cb	*cb = wc->wc_cb;

	wc->wc_msg_op = 0;
	if (cb != NULL && cb->ws_message != NULL)
		cb->ws_message(wc, wc->wc_msg, wc->wc_arg);
	if (wc->wc_msg != NULL)
		evbuffer_drain(wc->wc_msg, evbuffer_get_length(wc->wc_msg));
}

/* Close frame with code, then the connection ends with reason. */
static void
ws_protocol_error(struct ws_conn *wc, uint16_t code, const char *reason)
{
	uint8_t	 c[2];

	if (!wc->wc_close_sent) {
		c[0] = (uint8_t)(code >> 8);
		c[1] = (uint8_t)code;
		(void)ws_frame_out(wc, WS_OP_CLOSE, c, sizeof(c), NULL, 0);
		wc->wc_close_sent = 1;
	}
	ws_fail(wc, reason);
}

/* A complete control frame is in wc_ctl. */
static void
ws_control(struct ws_conn *wc)
{
	const struct ws_cb	*cb = wc->wc_cb;
	char			 msg[64];
	uint16_t		 code = 1005;

	switch (wc->wc_frame.wf_op) {
	case WS_OP_PING:
		(void)ws_frame_out(wc, WS_OP_PONG, wc->wc_ctl, wc->wc_ctllen,
		    NULL, 0);
		break;
	case WS_OP_PONG:
		if (cb != NULL && cb->ws_pong != NULL)
			cb->ws_pong(wc, wc->wc_arg);
		break;
	case WS_OP_CLOSE:
		switch (wsframe_close_check(wc->wc_ctl, wc->wc_ctllen)) {
		case 0:
			break;
		case 1007:
			ws_protocol_error(wc, 1007, "close reason is not UTF-8");
			return;
		default:
			ws_protocol_error(wc, 1002, "malformed close frame");
			return;
		}
		if (wc->wc_ctllen >= 2)
			code = (uint16_t)(wc->wc_ctl[0] << 8 | wc->wc_ctl[1]);
		/* Answer with the same code, then go. */
		if (!wc->wc_close_sent) {
			(void)ws_frame_out(wc, WS_OP_CLOSE, wc->wc_ctl,
			    wc->wc_ctllen >= 2 ? 2 : 0, NULL, 0);
			wc->wc_close_sent = 1;
		}
		snprintf(msg, sizeof(msg), "closed by peer (code %u)", code);
		ws_fail(wc, msg);
		break;
	}
}

/*
 * Take frames from the input while open and not paused: headers parsed,
 * payload unmasked in place and moved (not copied) into the message.
 */
static void
ws_process(struct ws_conn *wc)
{
	struct evbuffer	*in;
	struct ws_frame	*f = &wc->wc_frame;
	uint8_t		 hdr[WS_HDR_MAX];
	size_t		 avail, n;
	int		 r, ctl;

	while (wc->wc_state == WS_OPEN && !wc->wc_paused &&
	    wc->wc_bev != NULL) {
		in = bufferevent_get_input(wc->wc_bev);
		avail = evbuffer_get_length(in);
		if (wc->wc_rx == WSRX_HEADER) {
			n = avail < sizeof(hdr) ? avail : sizeof(hdr);
			if (n < 2 || evbuffer_copyout(in, hdr, n) != (ev_ssize_t)n)
				break;
			if ((r = wsframe_parse(hdr, n, f)) == 0)
				break;
			if (r < 0) {
				ws_protocol_error(wc, 1002, "protocol error");
				return;
			}
			/* Clients mask, servers do not (RFC 6455 5.1). */
			if (f->wf_masked != wc->wc_server) {
				ws_protocol_error(wc, 1002, "protocol error");
				return;
			}
			ctl = f->wf_op >= WS_OP_CLOSE;
			if (!ctl && ((f->wf_op == WS_OP_CONT) !=
			    (wc->wc_msg_op != 0))) {
				/* Continuation of nothing, or a new message
				 * inside a fragmented one. */
				ws_protocol_error(wc, 1002, "protocol error");
				return;
			}
			if (!ctl && f->wf_len + evbuffer_get_length(wc->wc_msg)
			    > wc->wc_rx_max) {
				ws_protocol_error(wc, 1009, "message too big");
				return;
			}
			evbuffer_drain(in, (size_t)r);
			avail -= (size_t)r;
			if (!ctl && f->wf_op != WS_OP_CONT)
				wc->wc_msg_op = f->wf_op;
			wc->wc_rx = WSRX_PAYLOAD;
			wc->wc_rx_left = f->wf_len;
			wc->wc_rx_maskoff = 0;
			wc->wc_ctllen = 0;
		}
		ctl = f->wf_op >= WS_OP_CLOSE;
		n = wc->wc_rx_left < avail ? (size_t)wc->wc_rx_left : avail;
		if (n > 0) {
			if (f->wf_masked) {
				wsframe_mask_evbuffer(in, n, f->wf_mask,
				    wc->wc_rx_maskoff);
				wc->wc_rx_maskoff += n;
			}
			if (ctl) {
				evbuffer_remove(in, wc->wc_ctl + wc->wc_ctllen,
				    n);
				wc->wc_ctllen += n;
			} else if (evbuffer_remove_buffer(in, wc->wc_msg, n) !=
			    (int)n) {
				ws_fail(wc, "out of memory");
				return;
			}
			wc->wc_rx_left -= n;
		}
		if (wc->wc_rx_left > 0)
			break;
		wc->wc_rx = WSRX_HEADER;
		if (ctl)
			ws_control(wc);
		else if (f->wf_fin)
			ws_deliver(wc);
	}
	if (wc->wc_state == WS_OPEN && wc->wc_eof && !wc->wc_paused)
		ws_fail(wc, "connection closed by peer");
}

/*
 * One frame: head bytes, then n bytes moved out of src (may be NULL).
 * A client masks both in place.  Returns 0, or -1 if the connection is
 * gone or out of memory.
 */
static int
ws_frame_out(struct ws_conn *wc, int op, const uint8_t *head, size_t hlen,
    struct evbuffer *src, size_t n)
{
	struct evbuffer	*out;
	uint8_t		 buf[WS_HDR_MAX + 160], key[4];
	uint8_t		*h = buf;
	size_t		 o;
	int		 rc = 0;

	if (wc->wc_bev == NULL || wc->wc_close_sent)
		return (-1);
	out = bufferevent_get_output(wc->wc_bev);
	if (!wc->wc_server)
		wsframe_genmask(key);
	if (hlen > sizeof(buf) - WS_HDR_MAX &&
	    (h = malloc(WS_HDR_MAX + hlen)) == NULL)
		return (-1);
	o = wsframe_header(h, 1, op, (uint64_t)hlen + n,
	    wc->wc_server ? NULL : key);
	if (hlen > 0)
		memcpy(h + o, head, hlen);
	if (!wc->wc_server) {
		wsframe_mask(h + o, hlen, key, 0);
		if (n > 0)
			wsframe_mask_evbuffer(src, n, key, hlen);
	}
	if (evbuffer_add(out, h, o + hlen) == -1 ||
	    (n > 0 && evbuffer_remove_buffer(src, out, n) != (int)n))
		rc = -1;
	if (h != buf)
		free(h);
	if (rc == 0)
		rc = ws_flush(wc);
	return (rc);
}

/* Note the output level for the drain callback. */
static int
ws_flush(struct ws_conn *wc)
{
	if (wc->wc_bev == NULL)
		return (-1);
	if (ws_output_len(wc) >= WS_OUT_HIGH)	/* as tunnel_writable() */
		wc->wc_overhigh = 1;
	if (wc->wc_direct && wc->wc_state == WS_OPEN &&
	    !(bufferevent_get_enabled(wc->wc_bev) & EV_WRITE))
		event_active(wc->wc_push, 0, 0);	/* once, if already */
	return (0);
}

/*
 * The batch's frames, written at once; the rest waits for EV_WRITE.  A
 * failed write leaves them queued: libevent's write meets the error and
 * reports it as before.  EV_WRITE is off only while the output is empty
 * (ws_write), so nothing queued earlier is overtaken.
 */
static void
ws_push(evutil_socket_t fd LS_UNUSED, short ev LS_UNUSED, void *arg)
{
	struct ws_conn	*wc = arg;

	if (wc->wc_state != WS_OPEN || wc->wc_bev == NULL ||
	    (bufferevent_get_enabled(wc->wc_bev) & EV_WRITE))
		return;
	(void)util_bev_write_now(wc->wc_bev, 1, WS_WRITE_MAX);
	ws_write(wc->wc_bev, wc);
}

/*
 * The input's high mark: with a read limit below LS_MSG_MAX one largest
 * frame, so that a peer cannot make us buffer ahead; otherwise none (TLS:
 * WS_READ_MAX, or it reads one record per call).
 */
static size_t
ws_read_high(struct ws_conn *wc)
{
	if (wc->wc_rx_max < LS_MSG_MAX)
		return (wc->wc_rx_max + WS_HDR_MAX);
	return (wc->wc_tls ? WS_READ_MAX : 0);
}

/* How much more one read may take into the input. */
static size_t
ws_read_room(struct ws_conn *wc)
{
	size_t	high = ws_read_high(wc), len;

	len = evbuffer_get_length(bufferevent_get_input(wc->wc_bev));
	if (high == 0 || high > len + WS_READ_MAX)
		return (WS_READ_MAX);
	return (high > len ? high - len : 0);
}

/*
 * After a read: a limited connection may not pile up output either (a
 * peer that pings and never reads), and what it holds goes to its
 * budget, which may drop it (or an older one).
 */
static void
ws_account(struct ws_conn *wc)
{
	size_t	out;

	if (wc->wc_state == WS_DEAD || wc->wc_bev == NULL)
		return;
	out = ws_output_len(wc);
	if (wc->wc_state == WS_OPEN && wc->wc_rx_max < LS_MSG_MAX &&
	    out > wc->wc_rx_max + WS_HDR_MAX) {
		ws_protocol_error(wc, 1008, "output backlog over the limit");
		return;
	}
	if (wc->wc_budget != NULL)
		(void)preauth_set_bytes(wc->wc_budget, out +
		    evbuffer_get_length(bufferevent_get_input(wc->wc_bev)) +
		    evbuffer_get_length(wc->wc_msg));
}

static void
ws_read(struct bufferevent *bev LS_UNUSED, void *arg)
{
	struct ws_conn	*wc = arg;
	ssize_t		 n = 1;
	size_t		 room;

	wc->wc_last_rx = ws_now();
	ws_enter(wc);
	switch (wc->wc_state) {
	case WS_HTTP:
		ws_server_head(wc);
		break;
	case WS_HANDSHAKE:
		ws_client_head(wc);
		break;
	case WS_OPEN:
		/* libevent read 4 KiB at most: take what else is there. */
		if (!wc->wc_tls && !wc->wc_paused && !wc->wc_eof &&
		    (room = ws_read_room(wc)) > 0 &&
		    (n = util_bev_read(wc->wc_bev, room)) == 0) {
			wc->wc_eof = 1;
			bufferevent_disable(wc->wc_bev, EV_READ);
		} else if (n == -1 && errno != EAGAIN) {
			ws_error(wc, BEV_EVENT_READING | BEV_EVENT_ERROR);
			break;
		}
		ws_process(wc);
		break;
	default:
		break;
	}
	ws_account(wc);
	ws_leave(wc);
}

static void
ws_write(struct bufferevent *bev LS_UNUSED, void *arg)
{
	struct ws_conn		*wc = arg;
	const struct ws_cb	*cb = wc->wc_cb;

	if (wc->wc_state != WS_OPEN)
		return;
	ws_enter(wc);
	if (wc->wc_direct && ws_output_len(wc) == 0)
		bufferevent_disable(wc->wc_bev, EV_WRITE);	/* ws_push */
	if (wc->wc_overhigh && ws_output_len(wc) <= WS_OUT_LOW) {
		wc->wc_overhigh = 0;
		if (cb != NULL && cb->ws_drain != NULL)
			cb->ws_drain(wc, wc->wc_arg);
	}
	ws_leave(wc);
}

static void
ws_event(struct bufferevent *bev LS_UNUSED, short what, void *arg)
{
	struct ws_conn	*wc = arg;
	SSL		*ssl;

	ws_enter(wc);
	switch (wc->wc_state) {
	case WS_CONNECTING:
		if (what & BEV_EVENT_CONNECTED) {
			log_debug("%s: %s: connected", __func__, wc->wc_peer);
			ws_set_state(wc, WS_HANDSHAKE);
			util_set_nodelay(bufferevent_getfd(wc->wc_bev));
			bufferevent_write_buffer(wc->wc_bev, wc->wc_extra);
			break;
		}
		ws_error(wc, what);
		break;
	case WS_HANDSHAKE:
		ws_error(wc, what);
		break;
	case WS_HTTP:
		if (what & BEV_EVENT_CONNECTED) {
			ssl = bufferevent_openssl_get_ssl(wc->wc_bev);
			log_debug("%s: %s: %s %s%s%s", __func__, wc->wc_peer,
			    SSL_get_version(ssl), SSL_get_cipher_name(ssl),
			    SSL_session_reused(ssl) ? ", resumed" : "",
			    BIO_get_ktls_send(SSL_get_wbio(ssl)) ?
			    ", kernel TLS" : "");
		} else if (wc->wc_tls)
			ws_server_tls_error(wc, what);
		else
			ws_fail(wc, (what & BEV_EVENT_EOF) ?
			    "connection closed before request" : "read error");
		break;
	case WS_OPEN:
		if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR)) {
			wc->wc_eof = 1;
			ws_process(wc);
			break;
		}
		ws_error(wc, what);
		break;
	default:
		break;
	}
	ws_leave(wc);
}

static void
ws_timer(evutil_socket_t fd LS_UNUSED, short ev LS_UNUSED, void *arg)
{
	struct ws_conn	*wc = arg;

	ws_enter(wc);
	if (wc->wc_state == WS_HTTP)
		ws_fail(wc, "timeout waiting for the request head");
	else if (wc->wc_state == WS_CONNECTING ||
	    wc->wc_state == WS_HANDSHAKE)
		ws_fail(wc, "handshake timeout");
	ws_leave(wc);
}

static void
ws_resume(evutil_socket_t fd LS_UNUSED, short ev LS_UNUSED, void *arg)
{
	struct ws_conn	*wc = arg;

	ws_enter(wc);
	if (wc->wc_state == WS_OPEN)
		ws_process(wc);
	ws_leave(wc);
}

/* ---- owner API ------------------------------------------------------ */

static int
ws_usable(struct ws_conn *wc)
{
	return (wc != NULL && wc->wc_state == WS_OPEN &&
	    !wc->wc_close_sent);
}

int
ws_send(struct ws_conn *wc, const uint8_t *p, size_t len)
{
	if (!ws_usable(wc))
		return (-1);
	return (ws_frame_out(wc, WS_OP_BINARY, p, len, NULL, 0));
}

/* The whole evbuffer as one binary message; it is left empty. */
int
ws_send_evbuffer(struct ws_conn *wc, struct evbuffer *buf)
{
	return (ws_send_parts(wc, NULL, 0, buf, evbuffer_get_length(buf)));
}

/* One binary message: head, then n bytes moved out of src. */
int
ws_send_parts(struct ws_conn *wc, const uint8_t *head, size_t hlen,
    struct evbuffer *src, size_t n)
{
	if (!ws_usable(wc)) {
		if (src != NULL)
			evbuffer_drain(src, n);
		return (-1);
	}
	return (ws_frame_out(wc, WS_OP_BINARY, head, hlen, src, n));
}

int
ws_ping(struct ws_conn *wc)
{
	if (!ws_usable(wc))
		return (-1);
	return (ws_frame_out(wc, WS_OP_PING, NULL, 0, NULL, 0));
}

size_t
ws_output_len(struct ws_conn *wc)
{
	if (wc == NULL || wc->wc_bev == NULL)
		return (0);
	return (evbuffer_get_length(bufferevent_get_output(wc->wc_bev)));
}

void
ws_pause(struct ws_conn *wc, int on)
{
	if (wc == NULL || wc->wc_state == WS_DEAD)
		return;
	if (on) {
		if (wc->wc_paused)
			return;
		wc->wc_paused = 1;
		if (wc->wc_state == WS_OPEN && wc->wc_bev != NULL)
			bufferevent_disable(wc->wc_bev, EV_READ);
		return;
	}
	if (!wc->wc_paused)
		return;
	wc->wc_paused = 0;
	if (wc->wc_state == WS_OPEN && wc->wc_bev != NULL) {
		if (!wc->wc_eof)
			bufferevent_enable(wc->wc_bev, EV_READ);
		/* Buffered input, outside this call. */
		event_active(wc->wc_resume, 0, 0);
	}
}

void
ws_close(struct ws_conn *wc, uint16_t code, const char *reason)
{
	uint8_t	 b[125];
	size_t	 rlen;

	if (wc == NULL || wc->wc_state == WS_DEAD)
		return;
	log_debug("%s: %s: code %u", __func__, wc->wc_peer, code);
	if (wc->wc_state != WS_OPEN) {
		ws_release(wc, 0);
		return;
	}
	if (reason == NULL)
		reason = "";
	rlen = strlen(reason);
	if (rlen > sizeof(b) - 2)
		rlen = sizeof(b) - 2;
	b[0] = (uint8_t)(code >> 8);
	b[1] = (uint8_t)code;
	memcpy(b + 2, reason, rlen);
	if (!wc->wc_close_sent)
		(void)ws_frame_out(wc, WS_OP_CLOSE, b, rlen + 2, NULL, 0);
	wc->wc_close_sent = 1;
	ws_release(wc, 1);
}

void
ws_free(struct ws_conn *wc)
{
	if (wc == NULL || wc->wc_state == WS_DEAD)
		return;
	ws_release(wc, 0);
}

void
ws_set_cb(struct ws_conn *wc, const struct ws_cb *cb, void *arg)
{
	wc->wc_cb = cb;
	wc->wc_arg = arg;
}

void
ws_set_read_limit(struct ws_conn *wc, size_t n)
{
	if (wc == NULL || wc->wc_state == WS_DEAD)
		return;
	wc->wc_rx_max = n < LS_MSG_MAX ? n : LS_MSG_MAX;
	/* Before the upgrade the request head's mark stays (ws_start). */
	if (wc->wc_state == WS_OPEN && wc->wc_bev != NULL)
		bufferevent_setwatermark(wc->wc_bev, EV_READ, 0,
		    ws_read_high(wc));
}

void
ws_set_budget(struct ws_conn *wc, struct preauth *pa)
{
	if (wc != NULL)
		wc->wc_budget = pa;
}

const struct http_head *
ws_handshake_head(struct ws_conn *wc)
{
	return (&wc->wc_head);
}

const char *
ws_peer(struct ws_conn *wc)
{
	return (wc != NULL ? wc->wc_peer : "?");
}

time_t
ws_last_rx(struct ws_conn *wc)
{
	return (wc->wc_last_rx);
}
