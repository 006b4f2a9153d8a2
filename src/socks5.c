/*
 * socks5.c -- SOCKS5 server-side parser (RFC 1928 / RFC 1929), pure and
 * resumable: evbuffer in, evbuffer out, no sockets.  A unit (greeting,
 * authentication, request) is drained from the input only once it is
 * complete; a prefix, or a unit rejected before it is complete (bad
 * version, bad address type), leaves the input untouched.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "linksocks.h"

/* Largest unit: RFC 1929 VER ULEN UNAME(255) PLEN PASSWD(255). */
#define S5_UNIT_MAX	(1 + 1 + 255 + 1 + 255)

#define S5_VERSION	0x05
#define S5_AUTH_VERSION	0x01
#define S5_METHOD_NONE	0x00
#define S5_METHOD_USER	0x02
#define S5_METHOD_NOACC	0xff

static enum socks5_state socks5_greeting(struct socks5 *, const uint8_t *,
		    size_t, struct evbuffer *, struct evbuffer *);
static enum socks5_state socks5_auth(struct socks5 *, const uint8_t *,
		    size_t, struct evbuffer *, struct evbuffer *);
static enum socks5_state socks5_request(struct socks5 *, const uint8_t *,
		    size_t, struct evbuffer *, struct evbuffer *);
static enum socks5_state socks5_fail(struct socks5 *, const char *);
static void	 socks5_reply2(struct evbuffer *, uint8_t, uint8_t);
static int	 socks5_creds(const struct socks5 *);
static int	 socks5_ctcmp(const uint8_t *, size_t, const char *);

void
socks5_init(struct socks5 *s5, const char *user, const char *pass)
{
	memset(s5, 0, sizeof(*s5));
	s5->s5_state = S5_GREETING;
	s5->s5_user = user;
	s5->s5_pass = pass;
}

enum socks5_state
socks5_input(struct socks5 *s5, struct evbuffer *in, struct evbuffer *out)
{
	uint8_t			 buf[S5_UNIT_MAX];
	size_t			 len;
	ev_ssize_t		 n;
	enum socks5_state	 old;

	do {
		old = s5->s5_state;
		if (old == S5_DONE || old == S5_FAILED)
			break;
		len = evbuffer_get_length(in);
		if (len > sizeof(buf))
			len = sizeof(buf);
		if (len == 0)
			break;
		if ((n = evbuffer_copyout(in, buf, len)) < 0)
			return (socks5_fail(s5, "input buffer error"));
		len = (size_t)n;
		switch (old) {
		case S5_GREETING:
			s5->s5_state = socks5_greeting(s5, buf, len, in, out);
			break;
		case S5_AUTH:
			s5->s5_state = socks5_auth(s5, buf, len, in, out);
			break;
		case S5_REQUEST:
			s5->s5_state = socks5_request(s5, buf, len, in, out);
			break;
		default:
			break;
		}
	} while (s5->s5_state != old);

	return (s5->s5_state);
}

void
socks5_reply(struct evbuffer *out, uint8_t rep, const struct sockaddr *sa)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;
	uint8_t				 b[22];

	b[0] = S5_VERSION;
	b[1] = rep;
	b[2] = 0x00;
	if (sa != NULL && sa->sa_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)sa;
		b[3] = S5_ATYP_IPV6;
		memcpy(&b[4], &sin6->sin6_addr, 16);
		memcpy(&b[20], &sin6->sin6_port, 2);
		evbuffer_add(out, b, 22);
		return;
	}
	b[3] = S5_ATYP_IPV4;
	if (sa != NULL && sa->sa_family == AF_INET) {
		sin = (const struct sockaddr_in *)sa;
		memcpy(&b[4], &sin->sin_addr, 4);
		memcpy(&b[8], &sin->sin_port, 2);
	} else
		memset(&b[4], 0, 6);
	evbuffer_add(out, b, 10);
}

const char *
socks5_strstate(enum socks5_state state)
{
	switch (state) {
	case S5_GREETING:
		return ("greeting");
	case S5_AUTH:
		return ("auth");
	case S5_REQUEST:
		return ("request");
	case S5_DONE:
		return ("done");
	case S5_FAILED:
		return ("failed");
	}
	return ("unknown");
}

/* VER NMETHODS METHODS[NMETHODS] */
static enum socks5_state
socks5_greeting(struct socks5 *s5, const uint8_t *p, size_t len,
    struct evbuffer *in, struct evbuffer *out)
{
	size_t	 i, need;
	int	 none = 0, user = 0;

	if (len < 2)
		return (S5_GREETING);
	if (p[0] != S5_VERSION || p[1] == 0) {
		/* Request-style reply, as the reference sends here. */
		socks5_reply(out, S5_REP_FAIL, NULL);
		return (socks5_fail(s5, p[0] != S5_VERSION ?
		    "bad version" : "no methods offered"));
	}
	need = 2 + (size_t)p[1];
	if (len < need)
		return (S5_GREETING);
	for (i = 2; i < need; i++) {
		if (p[i] == S5_METHOD_NONE)
			none = 1;
		else if (p[i] == S5_METHOD_USER)
			user = 1;
	}
	evbuffer_drain(in, need);

	if (socks5_creds(s5)) {
		if (!user)
			goto noacc;
		socks5_reply2(out, S5_VERSION, S5_METHOD_USER);
		return (S5_AUTH);
	}
	if (none) {
		socks5_reply2(out, S5_VERSION, S5_METHOD_NONE);
		return (S5_REQUEST);
	}
	if (user) {
		/* No credentials configured: accept whatever is given. */
		s5->s5_anyauth = 1;
		socks5_reply2(out, S5_VERSION, S5_METHOD_USER);
		return (S5_AUTH);
	}
 noacc:
	socks5_reply2(out, S5_VERSION, S5_METHOD_NOACC);
	return (socks5_fail(s5, "no acceptable method"));
}

/* RFC 1929: VER ULEN UNAME PLEN PASSWD */
static enum socks5_state
socks5_auth(struct socks5 *s5, const uint8_t *p, size_t len,
    struct evbuffer *in, struct evbuffer *out)
{
	size_t	 ulen, plen, need;
	int	 bad;

	if (len < 1)
		return (S5_AUTH);
	if (p[0] != S5_AUTH_VERSION) {
		socks5_reply2(out, S5_AUTH_VERSION, 0x01);
		return (socks5_fail(s5, "bad authentication version"));
	}
	if (len < 2)
		return (S5_AUTH);
	ulen = p[1];
	need = 2 + ulen + 1;
	if (len < need)
		return (S5_AUTH);
	plen = p[2 + ulen];
	need += plen;
	if (len < need)
		return (S5_AUTH);

	memcpy(s5->s5_user_got, &p[2], ulen);
	s5->s5_user_got[ulen] = '\0';
	evbuffer_drain(in, need);

	if (!s5->s5_anyauth) {
		/* Evaluate both comparisons: no early exit on the user. */
		bad = socks5_ctcmp(&p[2], ulen, s5->s5_user);
		bad |= socks5_ctcmp(&p[3 + ulen], plen, s5->s5_pass);
		if (bad) {
			socks5_reply2(out, S5_AUTH_VERSION, 0x01);
			return (socks5_fail(s5, "authentication failed"));
		}
	}
	socks5_reply2(out, S5_AUTH_VERSION, 0x00);
	return (S5_REQUEST);
}

/* VER CMD RSV ATYP DST.ADDR DST.PORT */
static enum socks5_state
socks5_request(struct socks5 *s5, const uint8_t *p, size_t len,
    struct evbuffer *in, struct evbuffer *out)
{
	size_t	 alen, need;
	uint8_t	 cmd, atyp;

	if (len < 4)
		return (S5_REQUEST);
	cmd = p[1];
	atyp = p[3];
	if (p[0] != S5_VERSION) {
		socks5_reply(out, S5_REP_FAIL, NULL);
		return (socks5_fail(s5, "bad version"));
	}
	switch (atyp) {
	case S5_ATYP_IPV4:
		alen = 4;
		break;
	case S5_ATYP_IPV6:
		alen = 16;
		break;
	case S5_ATYP_DOMAIN:
		if (len < 5)
			return (S5_REQUEST);
		alen = p[4];
		if (alen == 0) {
			socks5_reply(out, S5_REP_FAIL, NULL);
			return (socks5_fail(s5, "empty domain name"));
		}
		break;
	default:
		socks5_reply(out, S5_REP_ATYP, NULL);
		return (socks5_fail(s5, "unsupported address type"));
	}
	need = 4 + (atyp == S5_ATYP_DOMAIN) + alen + 2;
	if (len < need)
		return (S5_REQUEST);

	switch (atyp) {
	case S5_ATYP_IPV4:
		snprintf(s5->s5_host, sizeof(s5->s5_host), "%u.%u.%u.%u",
		    p[4], p[5], p[6], p[7]);
		break;
	case S5_ATYP_IPV6:
		socks5_ipv6_text(&p[4], s5->s5_host, sizeof(s5->s5_host));
		break;
	case S5_ATYP_DOMAIN:
		if (memchr(&p[5], '\0', alen) != NULL) {
			socks5_reply(out, S5_REP_FAIL, NULL);
			return (socks5_fail(s5, "NUL in domain name"));
		}
		memcpy(s5->s5_host, &p[5], alen);
		s5->s5_host[alen] = '\0';
		break;
	}
	s5->s5_port = (uint16_t)((p[need - 2] << 8) | p[need - 1]);
	s5->s5_cmd = cmd;
	s5->s5_atyp = atyp;

	/* Anything after the request is early data and stays in `in'. */
	evbuffer_drain(in, need);
	if (cmd != S5_CMD_CONNECT && cmd != S5_CMD_UDP) {
		/* The reference closes silently; a 0x07 reply is kinder. */
		socks5_reply(out, S5_REP_CMD, NULL);
		return (socks5_fail(s5, "command not supported"));
	}
	return (S5_DONE);
}

static enum socks5_state
socks5_fail(struct socks5 *s5, const char *why)
{
	s5->s5_error = why;
	return (S5_FAILED);
}

static void
socks5_reply2(struct evbuffer *out, uint8_t a, uint8_t b)
{
	uint8_t	 r[2];

	r[0] = a;
	r[1] = b;
	evbuffer_add(out, r, sizeof(r));
}

/* Both user and password configured and non-empty. */
static int
socks5_creds(const struct socks5 *s5)
{
	return (s5->s5_user != NULL && s5->s5_user[0] != '\0' &&
	    s5->s5_pass != NULL && s5->s5_pass[0] != '\0');
}

/*
 * Compare received bytes with a configured string; 0 when equal.  The
 * time depends on the received length only, not on where they differ.
 */
static int
socks5_ctcmp(const uint8_t *got, size_t glen, const char *want)
{
	size_t			 wlen, i;
	volatile uint8_t	 diff;

	wlen = strlen(want);
	diff = (glen != wlen);
	for (i = 0; i < glen; i++)
		diff |= got[i] ^ (uint8_t)(i < wlen ? want[i] : 0);
	return (diff != 0);
}

/*
 * Go's net.IP.String(): IPv4-mapped as dotted quad, else RFC 5952 (lower
 * case, the first longest run of two or more zero groups as "::").
 * glibc inet_ntop differs (it prints ::a.b.c.d for IPv4-compatible).
 */
void
socks5_ipv6_text(const uint8_t *a, char *buf, size_t bufsz)
{
	static const uint8_t	 mapped[12] = {
	    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	uint16_t		 g[8];
	int			 i, best = -1, bestlen = 0, run;
	size_t			 off = 0;

	if (memcmp(a, mapped, sizeof(mapped)) == 0) {
		snprintf(buf, bufsz, "%u.%u.%u.%u", a[12], a[13], a[14],
		    a[15]);
		return;
	}
	for (i = 0; i < 8; i++)
		g[i] = (uint16_t)((a[2 * i] << 8) | a[2 * i + 1]);
	for (i = 0; i < 8; i += run > 0 ? run : 1) {
		for (run = 0; i + run < 8 && g[i + run] == 0; run++)
			;
		if (run >= 2 && run > bestlen) {
			best = i;
			bestlen = run;
		}
	}
	buf[0] = '\0';
	for (i = 0; i < 8 && off < bufsz; i++) {
		if (i == best) {
			off += (size_t)snprintf(buf + off, bufsz - off, "::");
			i += bestlen - 1;
			continue;
		}
		off += (size_t)snprintf(buf + off, bufsz - off, "%s%x",
		    (i == 0 || i == best + bestlen) ? "" : ":", g[i]);
	}
}

/*
 * The text a peer of the reference expects for an address: dotted quad
 * for IPv4 (and IPv4-mapped IPv6), Go's form for IPv6.
 */
void
socks5_addr_text(const struct sockaddr *sa, char *buf, size_t bufsz)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;
	const uint8_t			*a;

	switch (sa->sa_family) {
	case AF_INET:
		sin = (const struct sockaddr_in *)sa;
		a = (const uint8_t *)&sin->sin_addr;
		snprintf(buf, bufsz, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
		break;
	case AF_INET6:
		sin6 = (const struct sockaddr_in6 *)sa;
		socks5_ipv6_text((const uint8_t *)&sin6->sin6_addr, buf, bufsz);
		break;
	default:
		snprintf(buf, bufsz, "?");
		break;
	}
}

/* ---- UDP datagram header (RFC 1928 section 7) ------------------------ */

static const char *const socks5_udp_errors[] = {
	[S5U_OK] = "ok",
	[S5U_SHORT] = "shorter than a header",
	[S5U_RSV] = "reserved bytes not zero",
	[S5U_FRAG] = "fragment (FRAG not zero)",
	[S5U_ATYP] = "unsupported address type",
	[S5U_TRUNC] = "truncated address",
	[S5U_NAME] = "bad domain name",
};

const char *
socks5_udp_strerror(int e)
{
	if (e < 0 || (size_t)e >= LS_NITEMS(socks5_udp_errors))
		return ("?");
	return (socks5_udp_errors[e]);
}

/*
 * RSV(2) FRAG ATYP DST.ADDR DST.PORT DATA, parsed strictly: RSV must be
 * zero and fragments are refused (we do not reassemble).  On S5U_OK the
 * payload starts at p + su->su_hdrlen.
 */
int
socks5_udp_parse(const uint8_t *p, size_t len, struct socks5_udp *su)
{
	size_t	 alen, need;

	if (len < 4)
		return (S5U_SHORT);
	if (p[0] != 0 || p[1] != 0)
		return (S5U_RSV);
	if (p[2] != 0)
		return (S5U_FRAG);
	switch (p[3]) {
	case S5_ATYP_IPV4:
		need = 4 + 4 + 2;
		if (len < need)
			return (S5U_TRUNC);
		snprintf(su->su_host, sizeof(su->su_host), "%u.%u.%u.%u",
		    p[4], p[5], p[6], p[7]);
		break;
	case S5_ATYP_IPV6:
		need = 4 + 16 + 2;
		if (len < need)
			return (S5U_TRUNC);
		socks5_ipv6_text(&p[4], su->su_host, sizeof(su->su_host));
		break;
	case S5_ATYP_DOMAIN:
		if (len < 5)
			return (S5U_TRUNC);
		alen = p[4];
		need = 4 + 1 + alen + 2;
		if (len < need)
			return (S5U_TRUNC);
		if (alen == 0 || memchr(&p[5], '\0', alen) != NULL)
			return (S5U_NAME);
		memcpy(su->su_host, &p[5], alen);
		su->su_host[alen] = '\0';
		break;
	default:
		return (S5U_ATYP);
	}
	su->su_atyp = p[3];
	su->su_port = (uint16_t)((p[need - 2] << 8) | p[need - 1]);
	su->su_hdrlen = need;
	return (S5U_OK);
}

/*
 * The header of a datagram to the application, for the source address
 * text a Data(udp) message carries: IPv4 and IPv6 literals as ATYP 1 and
 * 4, anything else as a domain.  buf holds S5U_HDR_MAX bytes.  Returns
 * the header length, or -1 for an empty or over-long name.
 */
int
socks5_udp_header(uint8_t *buf, const uint8_t *addr, size_t alen,
    uint16_t port)
{
	char		 text[256];
	struct in_addr	 a4;
	struct in6_addr	 a6;
	size_t		 off;

	if (alen == 0 || alen > 255 || memchr(addr, '\0', alen) != NULL)
		return (-1);
	memcpy(text, addr, alen);
	text[alen] = '\0';
	buf[0] = buf[1] = buf[2] = 0;
	if (inet_pton(AF_INET, text, &a4) == 1) {
		buf[3] = S5_ATYP_IPV4;
		memcpy(&buf[4], &a4, 4);
		off = 8;
	} else if (inet_pton(AF_INET6, text, &a6) == 1) {
		buf[3] = S5_ATYP_IPV6;
		memcpy(&buf[4], &a6, 16);
		off = 20;
	} else {
		buf[3] = S5_ATYP_DOMAIN;
		buf[4] = (uint8_t)alen;
		memcpy(&buf[5], addr, alen);
		off = 5 + alen;
	}
	buf[off] = (uint8_t)(port >> 8);
	buf[off + 1] = (uint8_t)port;
	return ((int)(off + 2));
}
