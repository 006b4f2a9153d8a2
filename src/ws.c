/*
 * ws.c -- RFC 6455 WebSocket on a libevent bufferevent; framing by wslay.
 *
 * One struct ws_conn per connection, server (ws_accept) or client
 * (ws_connect).  Every libevent callback holds a reference while it runs
 * so that the owner may call ws_free()/ws_close() from any callback; the
 * memory is released when the last reference goes.  The bufferevent
 * itself may outlive the ws_conn for a short linger that flushes a close
 * frame or an HTTP answer.
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
#include <wslay/wslay.h>

#include "linksocks.h"

#define WS_HEAD_TIMEOUT		30	/* server: request head */
#define WS_HANDSHAKE_TIMEOUT	45	/* client: connect + 101 */
#define WS_LINGER		5	/* flush cap after close */
#define WS_OUT_HARDCAP		((size_t)LS_MSG_MAX * 4)
#define WS_GUID			"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

enum ws_state {
	WS_HTTP,		/* server: waiting for the request head */
	WS_CONNECTING,		/* client: resolve, TCP, TLS */
	WS_HANDSHAKE,		/* client: upgrade sent, waiting for 101 */
	WS_OPEN,
	WS_DEAD			/* ended; no callbacks from here on */
};

struct ws_pmsg {
	TAILQ_ENTRY(ws_pmsg)	 pm_entry;
	size_t			 pm_len;
	uint8_t			 pm_data[];
};
TAILQ_HEAD(ws_pmsgs, ws_pmsg);

struct ws_conn {
	enum ws_state		 wc_state;
	int			 wc_server;
	int			 wc_tls;
	struct event_base	*wc_base;
	struct bufferevent	*wc_bev;
	wslay_event_context_ptr	 wc_ctx;
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
	int			 wc_failed;
	char			 wc_failmsg[400];
	struct event		*wc_timer;
	struct event		*wc_resume;
	struct ws_pmsgs		 wc_pending;	/* arrived while paused */
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
static void	 ws_fail_later(struct ws_conn *, const char *);
static void	 ws_linger(struct bufferevent *);
static void	 ws_linger_done(struct ws_linger *);
static void	 ws_linger_read(struct bufferevent *, void *);
static void	 ws_linger_write(struct bufferevent *, void *);
static void	 ws_linger_event(struct bufferevent *, short, void *);
static void	 ws_linger_timer(evutil_socket_t, short, void *);
static void	 ws_read(struct bufferevent *, void *);
static void	 ws_write(struct bufferevent *, void *);
static void	 ws_event(struct bufferevent *, short, void *);
static void	 ws_timer(evutil_socket_t, short, void *);
static void	 ws_resume(evutil_socket_t, short, void *);
static void	 ws_server_head(struct ws_conn *);
static void	 ws_server_upgrade(struct ws_conn *);
static int	 ws_key_valid(const char *);
static void	 ws_client_head(struct ws_conn *);
static void	 ws_error(struct ws_conn *, short);
static int	 ws_start(struct ws_conn *);
static void	 ws_process(struct ws_conn *);
static int	 ws_flush(struct ws_conn *);
static void	 ws_deliver(struct ws_conn *, const uint8_t *, size_t);
static ssize_t	 ws_recv_cb(wslay_event_context_ptr, uint8_t *, size_t, int,
		    void *);
static ssize_t	 ws_send_cb(wslay_event_context_ptr, const uint8_t *, size_t,
		    int, void *);
static int	 ws_genmask_cb(wslay_event_context_ptr, uint8_t *, size_t,
		    void *);
static void	 ws_msg_cb(wslay_event_context_ptr,
		    const struct wslay_event_on_msg_recv_arg *, void *);

static const struct wslay_event_callbacks ws_wslay_cb = {
	ws_recv_cb,
	ws_send_cb,
	ws_genmask_cb,
	NULL,
	NULL,
	NULL,
	ws_msg_cb
};

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
	TAILQ_INIT(&wc->wc_pending);
	snprintf(wc->wc_peer, sizeof(wc->wc_peer), "?");
	wc->wc_timer = evtimer_new(base, ws_timer, wc);
	wc->wc_resume = event_new(base, -1, 0, ws_resume, wc);
	wc->wc_extra = evbuffer_new();
	if (wc->wc_timer == NULL || wc->wc_resume == NULL ||
	    wc->wc_extra == NULL) {
		ws_destroy(wc);
		return (NULL);
	}
	return (wc);
}

static void
ws_destroy(struct ws_conn *wc)
{
	struct ws_pmsg	*pm;

	if (wc->wc_bev != NULL)
		bufferevent_free(wc->wc_bev);
	if (wc->wc_ctx != NULL)
		wslay_event_context_free(wc->wc_ctx);
	while ((pm = TAILQ_FIRST(&wc->wc_pending)) != NULL) {
		TAILQ_REMOVE(&wc->wc_pending, pm, pm_entry);
		free(pm);
	}
	http_head_free(&wc->wc_head);
	if (wc->wc_extra != NULL)
		evbuffer_free(wc->wc_extra);
	if (wc->wc_timer != NULL)
		event_free(wc->wc_timer);
	if (wc->wc_resume != NULL)
		event_free(wc->wc_resume);
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

/* Failure noticed where the owner may be on the stack: report later. */
static void
ws_fail_later(struct ws_conn *wc, const char *reason)
{
	if (wc->wc_state == WS_DEAD || wc->wc_failed)
		return;
	wc->wc_failed = 1;
	snprintf(wc->wc_failmsg, sizeof(wc->wc_failmsg), "%s", reason);
	if (wc->wc_bev != NULL)
		bufferevent_disable(wc->wc_bev, EV_READ);
	event_active(wc->wc_resume, 0, 0);
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
	struct ws_conn		*wc;
	struct sockaddr_storage	 ss;
	socklen_t		 slen = sizeof(ss);
	struct timeval		 tv = { WS_HEAD_TIMEOUT, 0 };

	if ((wc = ws_new(base, cb, arg, 1)) == NULL) {
		log_warnx("%s: out of memory", __func__);
		evutil_closesocket(fd);
		return (NULL);
	}
	if (getpeername(fd, (struct sockaddr *)&ss, &slen) == 0)
		util_sockaddr_str((struct sockaddr *)&ss, wc->wc_peer,
		    sizeof(wc->wc_peer));
	evutil_make_socket_nonblocking(fd);
	wc->wc_bev = bufferevent_socket_new(base, fd,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (wc->wc_bev == NULL) {
		log_warnx("%s: bufferevent_socket_new failed", __func__);
		evutil_closesocket(fd);
		ws_destroy(wc);
		return (NULL);
	}
	wc->wc_state = WS_HTTP;
	bufferevent_setcb(wc->wc_bev, ws_read, ws_write, ws_event, wc);
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
	    wc->wc_head.hh_method, wc->wc_head.hh_target);
	up = cb != NULL && cb->ws_request != NULL ?
	    cb->ws_request(wc, &wc->wc_head, wc->wc_arg) : 1;
	if (wc->wc_state != WS_HTTP)
		return;		/* answered or freed by the owner */
	if (!up) {
		log_warnx("%s: %s: request not answered", __func__,
		    wc->wc_peer);
		ws_http_reply(wc, 500, NULL, "500 Internal Server Error\n",
		    NULL);
		return;
	}
	ws_server_upgrade(wc);
}

/* A Sec-WebSocket-Key must be the base64 text of 16 bytes. */
static int
ws_key_valid(const char *key)
{
	unsigned char	 raw[32];
	size_t		 len;

	if (key == NULL || (len = strlen(key)) != 24 ||
	    key[22] != '=' || key[23] != '=')
		return (0);
	/* EVP_DecodeBlock counts the padding as zero bytes: 18. */
	return (EVP_DecodeBlock(raw, (const unsigned char *)key, 24) == 18);
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
		ws_http_reply(wc, 400, NULL, "Bad Request\n", verhdr);
		return;
	}
	if (strcmp(hh->hh_method, "GET") != 0) {
		ws_http_reply(wc, 405, NULL, "Method Not Allowed\n", verhdr);
		return;
	}
	if ((v = http_header(hh, "Sec-WebSocket-Version")) == NULL ||
	    strcmp(v, "13") != 0) {
		ws_http_reply(wc, 400, NULL, "Bad Request\n", verhdr);
		return;
	}
	key = http_header(hh, "Sec-WebSocket-Key");
	if (!ws_key_valid(key)) {
		ws_http_reply(wc, 400, NULL, "Bad Request\n", verhdr);
		return;
	}
	ws_accept_key(key, accept);
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
	struct ws_conn	*wc;
	SSL		*ssl = NULL;
	struct in6_addr	 a6;
	struct in_addr	 a4;
	uint8_t		 raw[16];
	char		 key[32], hostport[300];
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
		if (ctx == NULL || (ssl = SSL_new(ctx)) == NULL) {
			log_warnx("%s: no TLS context", __func__);
			goto fail;
		}
		SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
		if (isip) {
			if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
			    url->u_host) != 1)
				goto fail;
		} else {
			if (SSL_set_tlsext_host_name(ssl, url->u_host) != 1 ||
			    SSL_set1_host(ssl, url->u_host) != 1)
				goto fail;
		}
		wc->wc_bev = bufferevent_openssl_socket_new(base, -1, ssl,
		    BUFFEREVENT_SSL_CONNECTING, opts);
		if (wc->wc_bev == NULL)
			goto fail;
		ssl = NULL;	/* owned by the bufferevent now */
		bufferevent_openssl_set_allow_dirty_shutdown(wc->wc_bev, 1);
	} else if ((wc->wc_bev = bufferevent_socket_new(base, -1, opts)) ==
	    NULL)
		goto fail;

	/* The request is written once connected. */
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		goto fail;
	EVP_EncodeBlock((unsigned char *)key, raw, sizeof(raw));
	ws_accept_key(key, wc->wc_accept);
	if ((url->u_tls && url->u_port == 443) ||
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
	    "%s\r\n", target != NULL ? target : url->u_path, hostport, key,
	    extra != NULL ? extra : "") == -1)
		goto fail;

	wc->wc_state = WS_CONNECTING;
	bufferevent_setcb(wc->wc_bev, ws_read, ws_write, ws_event, wc);
	bufferevent_enable(wc->wc_bev, EV_READ | EV_WRITE);
	evtimer_add(wc->wc_timer, &tv);
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
		    wc->wc_host, evutil_gai_strerror(dnserr));
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
			    wc->wc_peer, v);
			ws_set_state(wc, WS_DEAD);
			cb->ws_redirect(wc, v, wc->wc_arg);
			ws_release(wc, 0);
			return;
		}
	}
	if (hh->hh_status != 101) {
		snprintf(msg, sizeof(msg), "handshake failed: HTTP %d %s",
		    hh->hh_status, hh->hh_reason);
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

/* Handshake done: set up wslay and tell the owner. */
static int
ws_start(struct ws_conn *wc)
{
	const struct ws_cb	*cb = wc->wc_cb;
	int			 r;

	if (wc->wc_server)
		r = wslay_event_context_server_init(&wc->wc_ctx,
		    &ws_wslay_cb, wc);
	else
		r = wslay_event_context_client_init(&wc->wc_ctx,
		    &ws_wslay_cb, wc);
	if (r != 0) {
		wc->wc_ctx = NULL;
		ws_fail(wc, "out of memory");
		return (-1);
	}
	wslay_event_config_set_max_recv_msg_length(wc->wc_ctx, LS_MSG_MAX);
	bufferevent_setwatermark(wc->wc_bev, EV_WRITE, WS_OUT_LOW, 0);
	event_del(wc->wc_timer);
	ws_set_state(wc, WS_OPEN);
	log_debug("%s: %s: websocket open", __func__, wc->wc_peer);
	if (wc->wc_paused)
		bufferevent_disable(wc->wc_bev, EV_READ);
	if (cb != NULL && cb->ws_open != NULL)
		cb->ws_open(wc, wc->wc_arg);
	return (0);
}

static void
ws_deliver(struct ws_conn *wc, const uint8_t *p, size_t len)
{
	const struct ws_cb	*cb = wc->wc_cb;

	if (cb != NULL && cb->ws_message != NULL)
		cb->ws_message(wc, p != NULL ? p : (const uint8_t *)"", len,
		    wc->wc_arg);
}

/* Deliver what is buffered, unless paused; then look at the outcome. */
static void
ws_process(struct ws_conn *wc)
{
	struct ws_pmsg	*pm;
	char		 msg[64];
	const char	*why;
	int		 r;

	while (wc->wc_state == WS_OPEN && !wc->wc_paused && !wc->wc_failed &&
	    (pm = TAILQ_FIRST(&wc->wc_pending)) != NULL) {
		TAILQ_REMOVE(&wc->wc_pending, pm, pm_entry);
		ws_deliver(wc, pm->pm_data, pm->pm_len);
		free(pm);
	}
	if (wc->wc_state != WS_OPEN || wc->wc_paused || wc->wc_failed)
		return;
	r = wslay_event_recv(wc->wc_ctx);
	if (wc->wc_state != WS_OPEN)
		return;
	if (r != 0) {
		ws_fail(wc, "receive failed");
		return;
	}
	if (ws_flush(wc) == -1)
		return;
	if (wslay_event_get_close_received(wc->wc_ctx)) {
		snprintf(msg, sizeof(msg), "closed by peer (code %u)",
		    wslay_event_get_status_code_received(wc->wc_ctx));
		ws_fail(wc, msg);
		return;
	}
	if (!wslay_event_get_read_enabled(wc->wc_ctx)) {
		switch (wslay_event_get_status_code_sent(wc->wc_ctx)) {
		case WSLAY_CODE_MESSAGE_TOO_BIG:
			why = "message too big";
			break;
		case WSLAY_CODE_PROTOCOL_ERROR:
			why = "protocol error";
			break;
		case WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA:
			why = "invalid UTF-8 in text message";
			break;
		default:
			why = "receive failed";
			break;
		}
		ws_fail(wc, why);
		return;
	}
	if (wc->wc_eof && !wc->wc_paused && TAILQ_EMPTY(&wc->wc_pending))
		ws_fail(wc, "connection closed by peer");
}

/* Move queued frames into the output buffer. */
static int
ws_flush(struct ws_conn *wc)
{
	if (wc->wc_ctx == NULL || wc->wc_bev == NULL)
		return (-1);
	if (wslay_event_send(wc->wc_ctx) != 0) {
		ws_fail_later(wc, "send failed");
		return (-1);
	}
	if (ws_output_len(wc) >= WS_OUT_HIGH)	/* as tunnel_writable() */
		wc->wc_overhigh = 1;
	return (0);
}

static void
ws_read(struct bufferevent *bev LS_UNUSED, void *arg)
{
	struct ws_conn	*wc = arg;

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
		ws_process(wc);
		break;
	default:
		break;
	}
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
	if (wslay_event_want_write(wc->wc_ctx))
		ws_flush(wc);
	if (wc->wc_state == WS_OPEN && wc->wc_overhigh &&
	    ws_output_len(wc) <= WS_OUT_LOW) {
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

	ws_enter(wc);
	switch (wc->wc_state) {
	case WS_CONNECTING:
		if (what & BEV_EVENT_CONNECTED) {
			log_debug("%s: %s: connected", __func__, wc->wc_peer);
			ws_set_state(wc, WS_HANDSHAKE);
			bufferevent_write_buffer(wc->wc_bev, wc->wc_extra);
			break;
		}
		ws_error(wc, what);
		break;
	case WS_HANDSHAKE:
		ws_error(wc, what);
		break;
	case WS_HTTP:
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
	if (wc->wc_failed)
		ws_fail(wc, wc->wc_failmsg);
	else if (wc->wc_state == WS_OPEN)
		ws_process(wc);
	ws_leave(wc);
}

/* ---- wslay callbacks ------------------------------------------------ */

static ssize_t
ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
    int flags LS_UNUSED, void *arg)
{
	struct ws_conn	*wc = arg;
	int		 n;

	if (wc->wc_state != WS_OPEN || wc->wc_paused || wc->wc_failed ||
	    wc->wc_bev == NULL) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return (-1);
	}
	n = evbuffer_remove(bufferevent_get_input(wc->wc_bev), buf, len);
	if (n <= 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return (-1);
	}
	return (n);
}

static ssize_t
ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
    int flags LS_UNUSED, void *arg)
{
	struct ws_conn	*wc = arg;
	struct evbuffer	*out;

	if (wc->wc_bev == NULL) {
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return (-1);
	}
	out = bufferevent_get_output(wc->wc_bev);
	if (evbuffer_get_length(out) > WS_OUT_HARDCAP) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return (-1);
	}
	if (evbuffer_add(out, data, len) == -1) {
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return (-1);
	}
	return ((ssize_t)len);
}

static int
ws_genmask_cb(wslay_event_context_ptr ctx LS_UNUSED, uint8_t *buf,
    size_t len, void *arg LS_UNUSED)
{
	return (RAND_bytes(buf, (int)len) == 1 ? 0 : -1);
}

static void
ws_msg_cb(wslay_event_context_ptr ctx LS_UNUSED,
    const struct wslay_event_on_msg_recv_arg *m, void *arg)
{
	struct ws_conn		*wc = arg;
	const struct ws_cb	*cb = wc->wc_cb;
	struct ws_pmsg		*pm;

	if (wc->wc_state != WS_OPEN || wc->wc_failed)
		return;
	switch (m->opcode) {
	case WSLAY_TEXT_FRAME:
	case WSLAY_BINARY_FRAME:
		if (!wc->wc_paused) {
			ws_deliver(wc, m->msg, m->msg_length);
			break;
		}
		/* Already in wslay's own buffer: keep for the resume. */
		if ((pm = malloc(sizeof(*pm) + m->msg_length)) == NULL) {
			ws_fail_later(wc, "out of memory");
			break;
		}
		pm->pm_len = m->msg_length;
		if (m->msg_length > 0)
			memcpy(pm->pm_data, m->msg, m->msg_length);
		TAILQ_INSERT_TAIL(&wc->wc_pending, pm, pm_entry);
		break;
	case WSLAY_PONG:
		if (cb != NULL && cb->ws_pong != NULL)
			cb->ws_pong(wc, wc->wc_arg);
		break;
	default:
		break;
	}
}

/* ---- owner API ------------------------------------------------------ */

int
ws_send(struct ws_conn *wc, const uint8_t *p, size_t len)
{
	struct wslay_event_msg	 m;

	if (wc == NULL || wc->wc_state != WS_OPEN || wc->wc_failed)
		return (-1);
	m.opcode = WSLAY_BINARY_FRAME;
	m.msg = p;
	m.msg_length = len;
	if (wslay_event_queue_msg(wc->wc_ctx, &m) != 0)
		return (-1);
	return (ws_flush(wc));
}

int
ws_send_evbuffer(struct ws_conn *wc, struct evbuffer *buf)
{
	size_t		 len = evbuffer_get_length(buf);
	const uint8_t	*p = (const uint8_t *)"";
	int		 r;

	if (len > 0 && (p = evbuffer_pullup(buf, -1)) == NULL) {
		evbuffer_drain(buf, len);
		return (-1);
	}
	r = ws_send(wc, p, len);
	evbuffer_drain(buf, len);
	return (r);
}

int
ws_ping(struct ws_conn *wc)
{
	struct wslay_event_msg	 m;

	if (wc == NULL || wc->wc_state != WS_OPEN || wc->wc_failed)
		return (-1);
	m.opcode = WSLAY_PING;
	m.msg = NULL;
	m.msg_length = 0;
	if (wslay_event_queue_msg(wc->wc_ctx, &m) != 0)
		return (-1);
	return (ws_flush(wc));
}

size_t
ws_output_len(struct ws_conn *wc)
{
	size_t	 n = 0;

	if (wc == NULL || wc->wc_bev == NULL)
		return (0);
	if (wc->wc_ctx != NULL)
		n = wslay_event_get_queued_msg_length(wc->wc_ctx);
	return (n + evbuffer_get_length(bufferevent_get_output(wc->wc_bev)));
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
		/* Buffered input and pending messages, outside this call. */
		event_active(wc->wc_resume, 0, 0);
	}
}

void
ws_close(struct ws_conn *wc, uint16_t code, const char *reason)
{
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
	if (rlen > 123)
		rlen = 123;
	if (wslay_event_queue_close(wc->wc_ctx, code,
	    (const uint8_t *)reason, rlen) == 0 && wc->wc_bev != NULL)
		(void)wslay_event_send(wc->wc_ctx);
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

void
ws_accept_key(const char *key, char *out)
{
	EVP_MD_CTX	*md;
	unsigned char	 dig[EVP_MAX_MD_SIZE];
	unsigned int	 dlen = 0;

	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(md, EVP_sha1(), NULL) != 1 ||
	    EVP_DigestUpdate(md, key, strlen(key)) != 1 ||
	    EVP_DigestUpdate(md, WS_GUID, sizeof(WS_GUID) - 1) != 1 ||
	    EVP_DigestFinal_ex(md, dig, &dlen) != 1 || dlen != 20)
		fatalx("%s: SHA-1 failed", __func__);
	EVP_MD_CTX_free(md);
	EVP_EncodeBlock((unsigned char *)out, dig, (int)dlen);
}
