/*
 * proxy.c -- the client end of a proxy: proxy URLs, the environment's
 * proxies (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY), and the
 * exchange that asks an HTTP proxy (CONNECT) or a SOCKS5 proxy (CONNECT
 * or UDP ASSOCIATE, RFC 1928/1929) for a target, as a state machine on
 * a bufferevent.  Used by the WebSocket dial of a client (ws.c) and by
 * the dial side's -x/--upstream-proxy (dial.c, udp.c).
 *
 * The exchange reads exactly the proxy's reply: bytes the target sends
 * right after it (an SSH banner, say) stay in the bufferevent's input
 * for the caller.  It has no timer of its own; the caller's connect
 * timer covers the whole of it.  Names are sent to the proxy as names
 * (socks5:// behaves as socks5h://, as in the reference).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <openssl/evp.h>

#include "linksocks.h"

enum proxy_state {
	PXS_CONNECTING,		/* TCP to the proxy */
	PXS_HTTP,		/* CONNECT sent, waiting for the head */
	PXS_METHOD,		/* SOCKS5 greeting sent */
	PXS_AUTH,		/* RFC 1929 sent */
	PXS_REQUEST,		/* SOCKS5 request sent */
	PXS_DONE
};

struct proxy_conn {
	enum proxy_state	 pc_state;
	const struct ls_proxy	*pc_px;
	struct bufferevent	*pc_bev;
	int			 pc_cmd;
	char			 pc_host[256];
	uint16_t		 pc_port;
	proxy_cb		 pc_cb;
	void			*pc_arg;
	struct http_head	 pc_head;
	struct sockaddr_storage	 pc_bound;	/* UDP ASSOCIATE's relay */
	socklen_t		 pc_boundlen;
};

static int	proxy_decode(const char *, size_t, char *, size_t);
static void	proxy_read(struct bufferevent *, void *);
static void	proxy_event(struct bufferevent *, short, void *);
static void	proxy_done(struct proxy_conn *, int, const char *, ...)
		    LS_PRINTF(3, 4);
static int	proxy_socks_request(struct proxy_conn *);
static void	proxy_socks_reply(struct proxy_conn *);
static int	proxy_noproxy_match(const char *, const char *);

const char *
proxy_socks_strerror(int rep)
{
	static const char *const msgs[] = {
		"succeeded", "general SOCKS server failure",
		"connection not allowed by ruleset", "network unreachable",
		"host unreachable", "connection refused", "TTL expired",
		"command not supported", "address type not supported"
	};

	if (rep >= 0 && (size_t)rep < LS_NITEMS(msgs))
		return (msgs[rep]);
	return ("unknown SOCKS5 reply code");
}

/* Percent-decode n bytes of s into out (NUL-terminated); -1 bad/long. */
static int
proxy_decode(const char *s, size_t n, char *out, size_t outlen)
{
	size_t	i, o = 0;
	int	hi, lo;

	for (i = 0; i < n; i++) {
		if (o + 1 >= outlen)
			return (-1);
		if (s[i] == '%') {
			if (i + 2 >= n)
				return (-1);
			if ((hi = util_hexval((unsigned char)s[i + 1])) < 0 ||
			    (lo = util_hexval((unsigned char)s[i + 2])) < 0)
				return (-1);
			if (hi == 0 && lo == 0)
				return (-1);
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else
			out[o++] = s[i];
	}
	out[o] = '\0';
	return (0);
}

/*
 * scheme://[user[:password]@]host[:port][/]: socks5, socks5h (1080),
 * http, https (8080; plain TCP to the proxy, as in the reference).
 */
int
proxy_parse(const char *s, struct ls_proxy *px, char *err, size_t errlen)
{
	const char	*p, *auth, *at, *hp, *colon, *end;
	char		 scheme[16], portstr[8];
	size_t		 n, alen;
	long		 port;
	char		*ep;
	struct in6_addr	 a6;

	memset(px, 0, sizeof(*px));
	if (s == NULL || *s == '\0') {
		snprintf(err, errlen, "empty proxy URL");
		return (-1);
	}
	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7f) {
			snprintf(err, errlen, "invalid character in proxy "
			    "URL");
			return (-1);
		}
	if ((p = strstr(s, "://")) == NULL) {
		/* curl: a bare host[:port] is an HTTP proxy. */
		p = s;
		snprintf(scheme, sizeof(scheme), "http");
		auth = s;
	} else {
		n = (size_t)(p - s);
		if (n == 0 || n >= sizeof(scheme)) {
			snprintf(err, errlen, "invalid proxy URL scheme");
			return (-1);
		}
		memcpy(scheme, s, n);
		scheme[n] = '\0';
		auth = p + 3;
	}
	if (strcasecmp(scheme, "http") == 0 ||
	    strcasecmp(scheme, "https") == 0) {
		px->px_kind = PROXY_HTTP;
		px->px_port = 8080;
	} else if (strcasecmp(scheme, "socks5") == 0 ||
	    strcasecmp(scheme, "socks5h") == 0) {
		px->px_kind = PROXY_SOCKS5;
		px->px_port = 1080;
	} else {
		snprintf(err, errlen, "unsupported proxy scheme: %s "
		    "(supported: socks5, socks5h, http)", scheme);
		return (-1);
	}
	alen = strcspn(auth, "/?#");
	end = auth + alen;
	if (*end != '\0' && strcmp(end, "/") != 0) {
		snprintf(err, errlen, "a proxy URL has no path");
		return (-1);
	}
	/* The last '@' ends the user information. */
	at = NULL;
	for (p = auth; p < end; p++)
		if (*p == '@')
			at = p;
	hp = auth;
	if (at != NULL) {
		colon = memchr(auth, ':', (size_t)(at - auth));
		if (colon == NULL)
			colon = at;
		/* At most 255 bytes each, as RFC 1929 wants. */
		if (proxy_decode(auth, (size_t)(colon - auth), px->px_user,
		    sizeof(px->px_user)) == -1 || (colon < at &&
		    proxy_decode(colon + 1, (size_t)(at - colon - 1),
		    px->px_pass, sizeof(px->px_pass)) == -1)) {
			snprintf(err, errlen, "invalid or too long user "
			    "information in proxy URL");
			return (-1);
		}
		hp = at + 1;
	}
	portstr[0] = '\0';
	if (hp < end && *hp == '[') {
		p = memchr(hp, ']', (size_t)(end - hp));
		if (p == NULL || p == hp + 1 ||
		    (size_t)(p - hp - 1) >= sizeof(px->px_host)) {
			snprintf(err, errlen, "invalid IPv6 host in proxy URL");
			return (-1);
		}
		memcpy(px->px_host, hp + 1, (size_t)(p - hp - 1));
		if (inet_pton(AF_INET6, px->px_host, &a6) != 1) {
			snprintf(err, errlen, "invalid IPv6 host in proxy URL");
			return (-1);
		}
		p++;
		if (p < end && *p != ':') {
			snprintf(err, errlen, "junk after ']' in proxy URL");
			return (-1);
		}
	} else {
		p = memchr(hp, ':', (size_t)(end - hp));
		if (p == NULL)
			p = end;
		n = (size_t)(p - hp);
		if (n == 0 || n >= sizeof(px->px_host)) {
			snprintf(err, errlen, "missing or too long host in "
			    "proxy URL");
			return (-1);
		}
		memcpy(px->px_host, hp, n);
		if (!url_host_ok(px->px_host)) {
			snprintf(err, errlen, "invalid host in proxy URL");
			return (-1);
		}
	}
	if (p < end && *p == ':') {
		n = (size_t)(end - p - 1);
		if (n == 0 || n >= sizeof(portstr)) {
			snprintf(err, errlen, "invalid port in proxy URL");
			return (-1);
		}
		memcpy(portstr, p + 1, n);
		portstr[n] = '\0';
		errno = 0;
		port = strtol(portstr, &ep, 10);
		if (*ep != '\0' || !isdigit((unsigned char)portstr[0]) ||
		    port < 1 || port > 65535) {
			snprintf(err, errlen, "invalid port in proxy URL");
			return (-1);
		}
		px->px_port = (uint16_t)port;
	}
	/* For messages: never the password. */
	snprintf(px->px_name, sizeof(px->px_name), "%s://%s%s%s:%u",
	    px->px_kind == PROXY_HTTP ? "http" : "socks5",
	    strchr(px->px_host, ':') ? "[" : "", px->px_host,
	    strchr(px->px_host, ':') ? "]" : "", px->px_port);
	return (0);
}

/*
 * One NO_PROXY entry against a host (no brackets): "*" all; a literal
 * address or address/bits; a name, with or without a leading "." or
 * "*.", matching itself and any name under it.  Case-insensitive.
 */
static int
proxy_noproxy_match(const char *ent, const char *host)
{
	uint8_t		 a[16], h[16];
	char		 buf[300], *slash, *ep;
	size_t		 el, hl;
	long		 bits;
	int		 ai, hi, i;

	if (strcmp(ent, "*") == 0)
		return (1);
	if (snprintf(buf, sizeof(buf), "%s", ent) >= (int)sizeof(buf))
		return (0);
	if (buf[0] == '[') {	/* [v6] */
		memmove(buf, buf + 1, strlen(buf));
		if ((slash = strchr(buf, ']')) != NULL)
			memmove(slash, slash + 1, strlen(slash));
	}
	slash = strchr(buf, '/');
	if (slash != NULL)
		*slash++ = '\0';
	ai = rules_parse_ip(buf, a);
	if (ai != -1 || slash != NULL) {
		if (ai == -1 || rules_parse_ip(host, h) == -1)
			return (0);
		/* rules_parse_ip gives 16 bytes, v4 mapped. */
		hi = IN6_IS_ADDR_V4MAPPED((struct in6_addr *)a) ? 96 : 0;
		if (slash == NULL)
			bits = 128;
		else {
			bits = strtol(slash, &ep, 10);
			if (*slash == '\0' || *ep != '\0' || bits < 0 ||
			    bits > 128 - hi)
				return (0);
			bits += hi;
		}
		for (i = 0; i < bits; i++)
			if (((a[i / 8] ^ h[i / 8]) >> (7 - i % 8)) & 1)
				return (0);
		return (1);
	}
	ent = buf;
	if (strncmp(ent, "*.", 2) == 0)
		ent += 2;
	else if (ent[0] == '.')
		ent++;
	el = strlen(ent);
	hl = strlen(host);
	if (hl > 0 && host[hl - 1] == '.')
		hl--;
	if (el > 0 && ent[el - 1] == '.')
		el--;
	if (el == 0 || el > hl)
		return (0);
	if (strncasecmp(host + hl - el, ent, el) != 0)
		return (0);
	return (hl == el || host[hl - el - 1] == '.');
}

/* Is host (no brackets) listed in a NO_PROXY value? */
int
proxy_no_proxy(const char *list, const char *host)
{
	char		 ent[300];
	const char	*p = list;
	size_t		 n;

	while (p != NULL && *p != '\0') {
		p += strspn(p, ", \t");
		n = strcspn(p, ", \t");
		if (n == 0)
			break;
		if (n < sizeof(ent)) {
			memcpy(ent, p, n);
			ent[n] = '\0';
			if (proxy_noproxy_match(ent, host))
				return (1);
		}
		p += n;
	}
	return (0);
}

static const char *
proxy_getenv2(const char *lower, const char *upper)
{
	const char	*v;

	if ((v = getenv(lower)) != NULL && *v != '\0')
		return (v);
	if ((v = getenv(upper)) != NULL && *v != '\0')
		return (v);
	return (NULL);
}

/*
 * The environment's proxy for a WebSocket URL, as curl chooses it:
 * https_proxy (wss) or http_proxy (ws), then all_proxy; lower case
 * before upper case; none if no_proxy lists the host.  1 one is set in
 * *px, 0 none, -1 a bad value (err says which variable).
 */
int
proxy_from_env(const struct ls_url *u, struct ls_proxy *px, char *err,
    size_t errlen)
{
	const char	*v, *name, *np;
	char		 e[256];

	if ((np = proxy_getenv2("no_proxy", "NO_PROXY")) != NULL &&
	    proxy_no_proxy(np, u->u_host))
		return (0);
	if (u->u_tls) {
		v = proxy_getenv2("https_proxy", "HTTPS_PROXY");
		name = "HTTPS_PROXY";
	} else {
		v = proxy_getenv2("http_proxy", "HTTP_PROXY");
		name = "HTTP_PROXY";
	}
	if (v == NULL) {
		v = proxy_getenv2("all_proxy", "ALL_PROXY");
		name = "ALL_PROXY";
	}
	if (v == NULL)
		return (0);
	if (proxy_parse(v, px, e, sizeof(e)) == -1) {
		snprintf(err, errlen, "%s: %s", name, e);
		return (-1);
	}
	return (1);
}

/* ---- the exchange ------------------------------------------------- */

struct proxy_conn *
proxy_open(struct event_base *base, struct evdns_base *dns,
    const struct ls_proxy *px, int cmd, const char *host, uint16_t port,
    proxy_cb cb, void *arg)
{
	struct proxy_conn	*pc;

	if ((pc = calloc(1, sizeof(*pc))) == NULL)
		return (NULL);
	if (snprintf(pc->pc_host, sizeof(pc->pc_host), "%s", host) >=
	    (int)sizeof(pc->pc_host) || (px->px_kind == PROXY_HTTP &&
	    cmd != PROXY_CMD_CONNECT)) {
		free(pc);
		return (NULL);
	}
	pc->pc_px = px;
	pc->pc_cmd = cmd;
	pc->pc_port = port;
	pc->pc_cb = cb;
	pc->pc_arg = arg;
	pc->pc_state = PXS_CONNECTING;
	/* Deferred callbacks: none runs inside this function. */
	if ((pc->pc_bev = bufferevent_socket_new(base, -1,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS)) == NULL) {
		free(pc);
		return (NULL);
	}
	bufferevent_setcb(pc->pc_bev, proxy_read, NULL, proxy_event, pc);
	bufferevent_enable(pc->pc_bev, EV_READ | EV_WRITE);
	/* A literal or a hosts entry may be answered at once: no cb then. */
	if (bufferevent_socket_connect_hostname(pc->pc_bev, dns, AF_UNSPEC,
	    px->px_host, px->px_port) == -1) {
		bufferevent_free(pc->pc_bev);
		free(pc);
		return (NULL);
	}
	return (pc);
}

void
proxy_cancel(struct proxy_conn *pc)
{
	if (pc == NULL)
		return;
	if (pc->pc_bev != NULL)
		bufferevent_free(pc->pc_bev);
	http_head_free(&pc->pc_head);
	free(pc);
}

/* Report once and free; on success the bufferevent goes to the caller. */
static void
proxy_done(struct proxy_conn *pc, int err, const char *fmt, ...)
{
	struct proxy_result	 res;
	va_list			 ap;

	memset(&res, 0, sizeof(res));
	res.pr_error = err;
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(res.pr_text, sizeof(res.pr_text), fmt, ap);
		va_end(ap);
	}
	pc->pc_state = PXS_DONE;
	if (err == 0) {
		res.pr_bev = pc->pc_bev;
		bufferevent_setcb(pc->pc_bev, NULL, NULL, NULL, NULL);
		pc->pc_bev = NULL;
		memcpy(&res.pr_bound, &pc->pc_bound, sizeof(res.pr_bound));
		res.pr_boundlen = pc->pc_boundlen;
	}
	pc->pc_cb(&res, pc->pc_arg);
	proxy_cancel(pc);
}

static void
proxy_event(struct bufferevent *bev, short what, void *arg)
{
	struct proxy_conn	*pc = arg;
	struct evbuffer		*out = bufferevent_get_output(bev);
	char			 b64[700], cred[520];
	int			 err, dnserr;

	if (what & BEV_EVENT_CONNECTED) {
		util_set_nodelay(bufferevent_getfd(bev));
		if (pc->pc_px->px_kind == PROXY_SOCKS5) {
			if (pc->pc_px->px_user[0] != '\0')
				evbuffer_add(out, "\x05\x02\x00\x02", 4);
			else
				evbuffer_add(out, "\x05\x01\x00", 3);
			pc->pc_state = PXS_METHOD;
			return;
		}
		evbuffer_add_printf(out, "CONNECT %s%s%s:%u HTTP/1.1\r\n"
		    "Host: %s%s%s:%u\r\n",
		    strchr(pc->pc_host, ':') ? "[" : "", pc->pc_host,
		    strchr(pc->pc_host, ':') ? "]" : "", pc->pc_port,
		    strchr(pc->pc_host, ':') ? "[" : "", pc->pc_host,
		    strchr(pc->pc_host, ':') ? "]" : "", pc->pc_port);
		if (pc->pc_px->px_user[0] != '\0') {
			snprintf(cred, sizeof(cred), "%s:%s",
			    pc->pc_px->px_user, pc->pc_px->px_pass);
			EVP_EncodeBlock((unsigned char *)b64,
			    (const unsigned char *)cred, (int)strlen(cred));
			evbuffer_add_printf(out, "Proxy-Authorization: Basic "
			    "%s\r\n", b64);
		}
		evbuffer_add_printf(out, "User-Agent: linksocks/%s\r\n\r\n",
		    PACKAGE_VERSION);
		pc->pc_state = PXS_HTTP;
		return;
	}
	if (pc->pc_state == PXS_CONNECTING &&
	    (dnserr = bufferevent_socket_get_dns_error(bev)) != 0) {
		proxy_done(pc, EHOSTUNREACH, "proxy %s: lookup %s: %s",
		    pc->pc_px->px_name, pc->pc_px->px_host,
		    evutil_gai_strerror(dnserr));
		return;
	}
	err = evutil_socket_geterror(bufferevent_getfd(bev));
	if (pc->pc_state == PXS_CONNECTING)
		proxy_done(pc, err != 0 ? err : ECONNREFUSED,
		    "connect to proxy %s: %s", pc->pc_px->px_name,
		    evutil_socket_error_to_string(err != 0 ? err :
		    ECONNREFUSED));
	else
		proxy_done(pc, EPROTO, "proxy %s closed the connection "
		    "during its exchange%s", pc->pc_px->px_name,
		    (what & BEV_EVENT_ERROR) && err != 0 ? " (error)" : "");
}

/* The SOCKS5 request: CONNECT host:port, or UDP ASSOCIATE 0.0.0.0:0. */
static int
proxy_socks_request(struct proxy_conn *pc)
{
	struct evbuffer	*out = bufferevent_get_output(pc->pc_bev);
	uint8_t		 hdr[4], a[16], len, pb[2];
	size_t		 n;

	hdr[0] = 5;
	hdr[1] = pc->pc_cmd == PROXY_CMD_UDP ? 3 : 1;
	hdr[2] = 0;
	pb[0] = pc->pc_port >> 8;
	pb[1] = pc->pc_port & 0xff;
	if (inet_pton(AF_INET, pc->pc_host, a) == 1) {
		hdr[3] = 1;
		evbuffer_add(out, hdr, 4);
		evbuffer_add(out, a, 4);
	} else if (inet_pton(AF_INET6, pc->pc_host, a) == 1) {
		hdr[3] = 4;
		evbuffer_add(out, hdr, 4);
		evbuffer_add(out, a, 16);
	} else {
		n = strlen(pc->pc_host);
		if (n == 0 || n > 255)
			return (-1);
		hdr[3] = 3;
		len = (uint8_t)n;
		evbuffer_add(out, hdr, 4);
		evbuffer_add(out, &len, 1);
		evbuffer_add(out, pc->pc_host, n);
	}
	evbuffer_add(out, pb, 2);
	pc->pc_state = PXS_REQUEST;
	return (0);
}

/* 05 REP 00 ATYP BND.ADDR BND.PORT, read exactly. */
static void
proxy_socks_reply(struct proxy_conn *pc)
{
	struct evbuffer		*in = bufferevent_get_input(pc->pc_bev);
	uint8_t			 b[4 + 1 + 255 + 2];
	size_t			 need, have = evbuffer_get_length(in);
	struct sockaddr_in	*sin = (struct sockaddr_in *)&pc->pc_bound;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&pc->pc_bound;
	struct sockaddr_storage	 peer;
	socklen_t		 plen = sizeof(peer);
	static const int	 errs[] = { 0, EPROTO, EACCES, ENETUNREACH,
				    EHOSTUNREACH, ECONNREFUSED, ETIMEDOUT,
				    EPROTO, EPROTO };

	if (have < 5)
		return;
	evbuffer_copyout(in, b, 5);
	if (b[0] != 5) {
		proxy_done(pc, EPROTO, "proxy %s: invalid socks version: %u",
		    pc->pc_px->px_name, b[0]);
		return;
	}
	if (b[1] != 0) {
		proxy_done(pc, b[1] < LS_NITEMS(errs) ? errs[b[1]] : EPROTO,
		    "proxy %s: socks5 connect error: %s (%u)",
		    pc->pc_px->px_name, proxy_socks_strerror(b[1]), b[1]);
		return;
	}
	switch (b[3]) {
	case 1:
		need = 4 + 4 + 2;
		break;
	case 4:
		need = 4 + 16 + 2;
		break;
	case 3:
		need = 4 + 1 + (size_t)b[4] + 2;
		break;
	default:
		proxy_done(pc, EPROTO, "proxy %s: bad address type %u in "
		    "its reply", pc->pc_px->px_name, b[3]);
		return;
	}
	if (have < need)
		return;
	evbuffer_remove(in, b, need);
	memset(&pc->pc_bound, 0, sizeof(pc->pc_bound));
	if (b[3] == 1) {
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, b + 4, 4);
		memcpy(&sin->sin_port, b + 8, 2);
		pc->pc_boundlen = sizeof(*sin);
	} else if (b[3] == 4) {
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, b + 4, 16);
		memcpy(&sin6->sin6_port, b + 20, 2);
		pc->pc_boundlen = sizeof(*sin6);
	}
	if (pc->pc_cmd == PROXY_CMD_UDP) {
		/* A name, or the unspecified address: the proxy's own. */
		if (getpeername(bufferevent_getfd(pc->pc_bev),
		    (struct sockaddr *)&peer, &plen) == -1) {
			proxy_done(pc, EPROTO, "proxy %s: getpeername: %s",
			    pc->pc_px->px_name, strerror(errno));
			return;
		}
		if (b[3] == 3 || (b[3] == 1 && sin->sin_addr.s_addr == 0) ||
		    (b[3] == 4 && IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr))) {
			uint16_t	bport;

			memcpy(&bport, b + need - 2, 2);
			memcpy(&pc->pc_bound, &peer, plen);
			pc->pc_boundlen = plen;
			if (peer.ss_family == AF_INET)
				sin->sin_port = bport;
			else
				sin6->sin6_port = bport;
		}
	}
	proxy_done(pc, 0, NULL);
}

static void
proxy_read(struct bufferevent *bev, void *arg)
{
	struct proxy_conn	*pc = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct evbuffer		*out = bufferevent_get_output(bev);
	uint8_t			 b[2], ul, pl;
	int			 r, code;

	switch (pc->pc_state) {
	case PXS_HTTP:
		r = http_parse_response(in, &pc->pc_head);
		if (r == 0)
			return;
		if (r == -1) {
			proxy_done(pc, EPROTO, "proxy %s: malformed answer to "
			    "CONNECT", pc->pc_px->px_name);
			return;
		}
		code = pc->pc_head.hh_status;
		if (code < 200 || code > 299) {
			proxy_done(pc, code == 407 || code == 403 ? EACCES :
			    code == 504 ? ETIMEDOUT : ECONNREFUSED,
			    "proxy %s: HTTP CONNECT failed: %d %s",
			    pc->pc_px->px_name, code,
			    log_strz(pc->pc_head.hh_reason));
			return;
		}
		proxy_done(pc, 0, NULL);
		return;
	case PXS_METHOD:
		if (evbuffer_get_length(in) < 2)
			return;
		evbuffer_remove(in, b, 2);
		if (b[0] != 5) {
			proxy_done(pc, EPROTO, "proxy %s: invalid socks "
			    "version: %u", pc->pc_px->px_name, b[0]);
			return;
		}
		if (b[1] == 2 && pc->pc_px->px_user[0] != '\0') {
			ul = (uint8_t)strlen(pc->pc_px->px_user);
			pl = (uint8_t)strlen(pc->pc_px->px_pass);
			evbuffer_add(out, "\x01", 1);
			evbuffer_add(out, &ul, 1);
			evbuffer_add(out, pc->pc_px->px_user, ul);
			evbuffer_add(out, &pl, 1);
			evbuffer_add(out, pc->pc_px->px_pass, pl);
			pc->pc_state = PXS_AUTH;
			return;
		}
		if (b[1] != 0) {
			proxy_done(pc, EACCES, "proxy %s: %s",
			    pc->pc_px->px_name, b[1] == 0xff ?
			    "no acceptable authentication method (does it "
			    "want a user name and password?)" :
			    "unsupported auth method");
			return;
		}
		break;
	case PXS_AUTH:
		if (evbuffer_get_length(in) < 2)
			return;
		evbuffer_remove(in, b, 2);
		if (b[1] != 0) {
			proxy_done(pc, EACCES, "proxy %s: authentication "
			    "failed", pc->pc_px->px_name);
			return;
		}
		break;
	case PXS_REQUEST:
		proxy_socks_reply(pc);
		return;
	default:
		/* Nothing is expected before our first bytes. */
		proxy_done(pc, EPROTO, "proxy %s spoke first",
		    pc->pc_px->px_name);
		return;
	}
	if (proxy_socks_request(pc) == -1)
		proxy_done(pc, EINVAL, "proxy %s: host name too long",
		    pc->pc_px->px_name);
}
