/*
 * httpproxy.c -- the HTTP proxy side of a SOCKS5 port: parse a request
 * head (CONNECT host:port, or an absolute-form http:// request), check
 * Proxy-Authorization: Basic, rewrite an absolute-form head to origin
 * form without its hop-by-hop headers, and write the proxy's own
 * replies.  Pure: evbuffer in, struct and evbuffer out; front.c drives
 * it.  One request per connection: the rewritten head says
 * "Connection: close".
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "linksocks.h"

#define HP_MAX_HEADERS	100

struct hp_hdr {
	const char	*hh_name;
	const char	*hh_value;
};

static ssize_t	 hp_head_len(const uint8_t *, size_t);
static int	 hp_fail(struct httpproxy_req *, int, const char *);
static int	 hp_version(const char *);
static int	 hp_method_known(const char *);
static int	 hp_istoken(const char *);
static int	 hp_authority(const char *, size_t, uint16_t,
		    struct httpproxy_req *);
static int	 hp_auth_ok(const char *, const char *, const char *);
static int	 hp_hopbyhop(const char *, struct hp_hdr *, int);

/* Methods forwarded in absolute form; CONNECT is the tunnel. */
static const char *const hp_methods[] = {
	"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE",
	NULL
};

/* Always hop-by-hop (RFC 9110 7.6.1), besides those Connection names. */
static const char *const hp_hop[] = {
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "TE", "Trailer", "Trailers", "Upgrade", NULL
};

/* The head's length with its empty line, 0 incomplete. */
static ssize_t
hp_head_len(const uint8_t *p, size_t n)
{
	const uint8_t	*nl;
	size_t		 off = 0;

	while (off < n && (nl = memchr(p + off, '\n', n - off)) != NULL) {
		off = (size_t)(nl - p) + 1;
		if (off < n && p[off] == '\n')
			return ((ssize_t)off + 1);
		if (off + 1 < n && p[off] == '\r' && p[off + 1] == '\n')
			return ((ssize_t)off + 2);
	}
	return (0);
}

static int
hp_fail(struct httpproxy_req *hr, int status, const char *why)
{
	hr->hr_status = status;
	hr->hr_error = why;
	return (-1);
}

/* 1 HTTP/1.0 or 1.1, 0 another version, -1 not a version. */
static int
hp_version(const char *v)
{
	if (strncmp(v, "HTTP/", 5) != 0 || !isdigit((unsigned char)v[5]) ||
	    v[6] != '.' || !isdigit((unsigned char)v[7]) || v[8] != '\0')
		return (-1);
	return (v[5] == '1' && (v[7] == '0' || v[7] == '1'));
}

static int
hp_method_known(const char *m)
{
	int	 i;

	for (i = 0; hp_methods[i] != NULL; i++)
		if (strcmp(m, hp_methods[i]) == 0)
			return (1);
	return (0);
}

static int
hp_istoken(const char *s)
{
	const unsigned char	*p;

	if (*s == '\0')
		return (0);
	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p <= 0x20 || *p >= 0x7f ||
		    strchr("()<>@,;:\\\"/[]?={}", *p) != NULL)
			return (0);
	return (1);
}

/*
 * host[:port] or [v6][:port], len bytes of s, into hr_host and hr_port.
 * A name is letters, digits, '-', '.' and '_'.
 */
static int
hp_authority(const char *s, size_t len, uint16_t defport,
    struct httpproxy_req *hr)
{
	const char	*host, *colon = NULL, *p;
	size_t		 hlen, i;
	unsigned long	 port;
	struct in6_addr	 a6;
	char		 tmp[INET6_ADDRSTRLEN + 1];

	if (len == 0)
		return (hp_fail(hr, 400, "empty host"));
	if (s[0] == '[') {
		if ((p = memchr(s, ']', len)) == NULL)
			return (hp_fail(hr, 400, "bad IPv6 literal"));
		host = s + 1;
		hlen = (size_t)(p - host);
		if (hlen == 0 || hlen >= sizeof(tmp))
			return (hp_fail(hr, 400, "bad IPv6 literal"));
		memcpy(tmp, host, hlen);
		tmp[hlen] = '\0';
		if (inet_pton(AF_INET6, tmp, &a6) != 1)
			return (hp_fail(hr, 400, "bad IPv6 literal"));
		p++;
		if (p < s + len) {
			if (*p != ':')
				return (hp_fail(hr, 400, "bad host"));
			colon = p;
		}
	} else {
		colon = memchr(s, ':', len);
		host = s;
		hlen = colon != NULL ? (size_t)(colon - s) : len;
		if (hlen == 0)
			return (hp_fail(hr, 400, "empty host"));
		for (i = 0; i < hlen; i++)
			if (!isalnum((unsigned char)host[i]) &&
			    strchr("-._", host[i]) == NULL)
				return (hp_fail(hr, 400, "bad host"));
	}
	if (hlen >= sizeof(hr->hr_host))
		return (hp_fail(hr, 400, "host name too long"));
	memcpy(hr->hr_host, host, hlen);
	hr->hr_host[hlen] = '\0';
	hr->hr_port = defport;
	if (colon == NULL)
		return (0);
	port = 0;
	p = colon + 1;
	if (p == s + len || s + len - p > 5)
		return (hp_fail(hr, 400, "bad port"));
	for (; p < s + len; p++) {
		if (!isdigit((unsigned char)*p))
			return (hp_fail(hr, 400, "bad port"));
		port = port * 10 + (unsigned long)(*p - '0');
	}
	if (port == 0 || port > 65535)
		return (hp_fail(hr, 400, "bad port"));
	hr->hr_port = (uint16_t)port;
	return (0);
}

/*
 * "Basic base64(user:pass)" against the configured pair; both compared
 * in constant time, the password whatever the user compared to.
 */
static int
hp_auth_ok(const char *v, const char *user, const char *pass)
{
	char	 dec[512], *colon;
	int	 n, ok;

	if (v == NULL || strncasecmp(v, "Basic", 5) != 0 ||
	    (v[5] != ' ' && v[5] != '\t'))
		return (0);
	for (v += 5; *v == ' ' || *v == '\t'; v++)
		;
	if ((n = httpproxy_b64decode(v, (uint8_t *)dec, sizeof(dec) - 1)) ==
	    -1)
		return (0);
	dec[n] = '\0';
	if (memchr(dec, '\0', (size_t)n) != NULL ||
	    (colon = strchr(dec, ':')) == NULL)
		return (0);
	*colon = '\0';
	ok = util_ct_streq(dec, user);
	ok &= util_ct_streq(colon + 1, pass);
	OPENSSL_cleanse(dec, sizeof(dec));
	return (ok);
}

int
httpproxy_b64decode(const char *s, uint8_t *out, size_t outlen)
{
	static const char	 tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	const char		*c;
	size_t			 len = strlen(s), i, n = 0, pad = 0;
	uint32_t		 acc = 0;
	int			 v;

	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len == 0 || len % 4 != 0)
		return (-1);
	for (i = 0; i < len; i++) {
		if (s[i] == '=') {
			/* Only in the last two places, and to the end. */
			if (i < len - 2 || (i == len - 2 && s[len - 1] != '='))
				return (-1);
			pad++;
			v = 0;
		} else if (s[i] == '\0' ||
		    (c = strchr(tab, s[i])) == NULL)
			return (-1);
		else
			v = (int)(c - tab);
		acc = acc << 6 | (uint32_t)v;
		if (i % 4 == 3) {
			if (n + 3 - (i == len - 1 ? pad : 0) > outlen)
				return (-1);
			out[n++] = (uint8_t)(acc >> 16);
			if (i != len - 1 || pad < 2)
				out[n++] = (uint8_t)(acc >> 8);
			if (i != len - 1 || pad < 1)
				out[n++] = (uint8_t)acc;
			acc = 0;
		}
	}
	return ((int)n);
}

/* A header the proxy removes: fixed names and those Connection lists. */
static int
hp_hopbyhop(const char *name, struct hp_hdr *h, int nh)
{
	int	 i;

	for (i = 0; hp_hop[i] != NULL; i++)
		if (strcasecmp(name, hp_hop[i]) == 0)
			return (1);
	for (i = 0; i < nh; i++)
		if ((strcasecmp(h[i].hh_name, "Connection") == 0 ||
		    strcasecmp(h[i].hh_name, "Proxy-Connection") == 0) &&
		    http_list_has(h[i].hh_value, name))
			return (1);
	return (0);
}

int
httpproxy_parse(struct evbuffer *in, struct httpproxy_req *hr,
    const char *user, const char *pass, struct evbuffer *fwd)
{
	struct hp_hdr	 h[HP_MAX_HEADERS];
	const uint8_t	*p;
	char		*buf = NULL, *line, *rest, *nl, *sp1, *sp2, *colon, *v;
	char		*e, *target, *auth = NULL, *path;
	size_t		 len, n, alen = 0;
	ssize_t		 hlen;
	int		 nh = 0, i, r, ver;

	memset(hr, 0, sizeof(*hr));
	len = evbuffer_get_length(in);
	n = len < HTTPPROXY_HEAD_MAX ? len : HTTPPROXY_HEAD_MAX;
	if (n == 0)
		return (0);
	if ((p = evbuffer_pullup(in, (ev_ssize_t)n)) == NULL)
		return (hp_fail(hr, 500, "out of memory"));
	if ((hlen = hp_head_len(p, n)) == 0)
		return (len >= HTTPPROXY_HEAD_MAX ?
		    hp_fail(hr, 431, "request head too large") : 0);
	if (memchr(p, '\0', (size_t)hlen) != NULL)
		return (hp_fail(hr, 400, "NUL in the request head"));
	if ((buf = malloc((size_t)hlen + 1)) == NULL)
		return (hp_fail(hr, 500, "out of memory"));
	memcpy(buf, p, (size_t)hlen);
	buf[hlen] = '\0';
	hr->hr_headlen = (size_t)hlen;

	/* Lines: cut at LF, drop a CR before it. */
	rest = buf;
	line = rest;
	nl = strchr(rest, '\n');
	*nl = '\0';
	if (nl > line && nl[-1] == '\r')
		nl[-1] = '\0';
	rest = nl + 1;

	/* METHOD SP target SP HTTP/x.y */
	if ((sp1 = strchr(line, ' ')) == NULL ||
	    (sp2 = strchr(sp1 + 1, ' ')) == NULL) {
		r = hp_fail(hr, 400, "malformed request line");
		goto done;
	}
	*sp1 = '\0';
	*sp2 = '\0';
	target = sp1 + 1;
	if (!hp_istoken(line) || *target == '\0' ||
	    strpbrk(target, " \t\r") != NULL || strchr(sp2 + 1, ' ') != NULL) {
		r = hp_fail(hr, 400, "malformed request line");
		goto done;
	}
	if ((ver = hp_version(sp2 + 1)) == -1) {
		r = hp_fail(hr, 400, "malformed request line");
		goto done;
	}
	if (ver == 0) {
		r = hp_fail(hr, 505, "HTTP version not supported");
		goto done;
	}
	if (strlen(line) >= sizeof(hr->hr_method)) {
		r = hp_fail(hr, 405, "method not supported");
		goto done;
	}
	snprintf(hr->hr_method, sizeof(hr->hr_method), "%s", line);

	/* Header lines. */
	for (;;) {
		if ((nl = strchr(rest, '\n')) == NULL) {
			r = hp_fail(hr, 400, "malformed header");
			goto done;
		}
		*nl = '\0';
		if (nl > rest && nl[-1] == '\r')
			nl[-1] = '\0';
		line = rest;
		rest = nl + 1;
		if (*line == '\0')
			break;
		if (*line == ' ' || *line == '\t' ||
		    strchr(line, '\r') != NULL ||
		    (colon = strchr(line, ':')) == NULL) {
			r = hp_fail(hr, 400, "malformed header");
			goto done;
		}
		*colon = '\0';
		if (!hp_istoken(line)) {
			r = hp_fail(hr, 400, "malformed header");
			goto done;
		}
		if (nh == HP_MAX_HEADERS) {
			r = hp_fail(hr, 431, "too many header fields");
			goto done;
		}
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		e = v + strlen(v);
		while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
			*--e = '\0';
		h[nh].hh_name = line;
		h[nh].hh_value = v;
		nh++;
	}

	/* The target. */
	if (strcmp(hr->hr_method, "CONNECT") == 0) {
		hr->hr_kind = HTTPPROXY_CONNECT;
		if (hp_authority(target, strlen(target), 443, hr) == -1) {
			r = -1;
			goto done;
		}
		path = NULL;
	} else {
		if (!hp_method_known(hr->hr_method)) {
			r = hp_fail(hr, 405, "method not supported");
			goto done;
		}
		if (strncasecmp(target, "https://", 8) == 0) {
			r = hp_fail(hr, 400, "https:// is not proxied: use "
			    "CONNECT");
			goto done;
		}
		if (strncasecmp(target, "http://", 7) != 0) {
			r = hp_fail(hr, 400, "not an absolute-form http:// "
			    "request");
			goto done;
		}
		hr->hr_kind = HTTPPROXY_FORWARD;
		auth = target + 7;
		alen = strcspn(auth, "/?#");
		if (memchr(auth, '@', alen) != NULL) {
			r = hp_fail(hr, 400, "user info in the URL");
			goto done;
		}
		if (hp_authority(auth, alen, 80, hr) == -1) {
			r = -1;
			goto done;
		}
		path = auth + alen;
		if (*path == '#') {
			r = hp_fail(hr, 400, "bad request target");
			goto done;
		}
	}

	/* Credentials, when the port has them. */
	if (user != NULL && user[0] != '\0' && pass != NULL &&
	    pass[0] != '\0') {
		v = NULL;
		for (i = 0; i < nh; i++)
			if (strcasecmp(h[i].hh_name,
			    "Proxy-Authorization") == 0)
				v = (char *)h[i].hh_value;
		if (!hp_auth_ok(v, user, pass)) {
			r = hp_fail(hr, 407, v == NULL ?
			    "proxy authentication required" :
			    "proxy authentication failed");
			goto done;
		}
	}

	/* Origin form, without hop-by-hop headers, one request. */
	if (hr->hr_kind == HTTPPROXY_FORWARD && fwd != NULL) {
		if (evbuffer_add_printf(fwd, "%s %s%s %s\r\nHost: %.*s\r\n",
		    hr->hr_method, *path == '/' ? "" : "/", path, sp2 + 1,
		    (int)alen, auth) == -1) {
			r = hp_fail(hr, 500, "out of memory");
			goto done;
		}
		for (i = 0; i < nh; i++) {
			if (strcasecmp(h[i].hh_name, "Host") == 0 ||
			    hp_hopbyhop(h[i].hh_name, h, nh))
				continue;
			if (evbuffer_add_printf(fwd, "%s: %s\r\n",
			    h[i].hh_name, h[i].hh_value) == -1) {
				r = hp_fail(hr, 500, "out of memory");
				goto done;
			}
		}
		if (evbuffer_add_printf(fwd, "Connection: close\r\n\r\n") ==
		    -1) {
			r = hp_fail(hr, 500, "out of memory");
			goto done;
		}
	}
	evbuffer_drain(in, (size_t)hlen);
	r = 1;
 done:
	if (buf != NULL) {
		OPENSSL_cleanse(buf, (size_t)hlen);
		free(buf);
	}
	return (r);
}

const char *
httpproxy_reason(int status)
{
	switch (status) {
	case 200:	return ("Connection Established");
	case 400:	return ("Bad Request");
	case 403:	return ("Forbidden");
	case 405:	return ("Method Not Allowed");
	case 407:	return ("Proxy Authentication Required");
	case 408:	return ("Request Timeout");
	case 431:	return ("Request Header Fields Too Large");
	case 500:	return ("Internal Server Error");
	case 502:	return ("Bad Gateway");
	case 503:	return ("Service Unavailable");
	case 504:	return ("Gateway Timeout");
	case 505:	return ("HTTP Version Not Supported");
	default:	return ("Error");
	}
}

/*
 * The proxy's own reply: 200 for a CONNECT, else a status with a short
 * text body and Connection: close (407 asks for Basic credentials).
 */
void
httpproxy_reply(struct evbuffer *out, int status, const char *text)
{
	if (status == 200) {
		evbuffer_add_printf(out,
		    "HTTP/1.1 200 Connection Established\r\n\r\n");
		return;
	}
	if (text == NULL)
		text = httpproxy_reason(status);
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n"
	    "%s"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Length: %zu\r\n"
	    "Connection: close\r\n\r\n%s\n", status, httpproxy_reason(status),
	    status == 407 ?
	    "Proxy-Authenticate: Basic realm=\"linksocks\"\r\n" : "",
	    strlen(text) + 1, text);
}
