/*
 * url.c -- client URL normalisation and the URL-query authentication
 * target (spec 2.2, 6.2).
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "linksocks.h"

#define URL_MAX_PARAMS	64

struct url_param {
	char	*up_key;	/* decoded */
	char	*up_val;	/* decoded */
};

static int	 url_decode(char *, int);
static int	 url_append(char *, size_t, size_t *, const char *);
static int	 url_append_escaped(char *, size_t, size_t *, const char *);
static int	 url_param_cmp(const void *, const void *);

/* Host names: letters, digits, '-', '.', '_'; no empty labels checked. */
int
url_host_ok(const char *h)
{
	const unsigned char	*p;

	if (*h == '\0')
		return (0);
	for (p = (const unsigned char *)h; *p != '\0'; p++) {
		if (!isalnum(*p) && *p != '-' && *p != '.' && *p != '_')
			return (0);
	}
	return (1);
}

int
url_parse(const char *s, struct ls_url *u, char *err, size_t errlen)
{
	char		 buf[2048], scheme[16], host[512], portstr[16];
	const char	*p, *auth, *rest, *hend, *colon, *q;
	size_t		 n, alen, i;
	long		 port;
	char		*ep;
	struct in6_addr	 in6;

	memset(u, 0, sizeof(*u));
	if (s == NULL || *s == '\0') {
		snprintf(err, errlen, "empty URL");
		return (-1);
	}
	for (p = s; *p != '\0'; p++) {
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7f) {
			snprintf(err, errlen, "invalid character in URL");
			return (-1);
		}
	}
	if (strstr(s, "://") == NULL)
		n = (size_t)snprintf(buf, sizeof(buf), "wss://%s", s);
	else
		n = (size_t)snprintf(buf, sizeof(buf), "%s", s);
	if (n >= sizeof(buf)) {
		snprintf(err, errlen, "URL too long");
		return (-1);
	}

	/* Scheme. */
	p = strstr(buf, "://");
	n = (size_t)(p - buf);
	if (n == 0 || n >= sizeof(scheme)) {
		snprintf(err, errlen, "invalid URL scheme");
		return (-1);
	}
	memcpy(scheme, buf, n);
	scheme[n] = '\0';
	if (strcasecmp(scheme, "ws") == 0 || strcasecmp(scheme, "http") == 0)
		u->u_tls = 0;
	else if (strcasecmp(scheme, "wss") == 0 ||
	    strcasecmp(scheme, "https") == 0)
		u->u_tls = 1;
	else {
		snprintf(err, errlen, "unsupported URL scheme \"%s\" "
		    "(use ws://, wss://, http:// or https://)", scheme);
		return (-1);
	}

	/* Authority: up to '/', '?' or '#'. */
	auth = p + 3;
	alen = strcspn(auth, "/?#");
	rest = auth + alen;
	if (alen == 0) {
		snprintf(err, errlen, "missing host in URL");
		return (-1);
	}
	if (memchr(auth, '@', alen) != NULL) {
		snprintf(err, errlen, "user information in URL not supported");
		return (-1);
	}
	portstr[0] = '\0';
	if (auth[0] == '[') {
		hend = memchr(auth, ']', alen);
		if (hend == NULL) {
			snprintf(err, errlen, "missing ']' in URL host");
			return (-1);
		}
		n = (size_t)(hend - auth - 1);
		if (n == 0 || n >= sizeof(host)) {
			snprintf(err, errlen, "invalid IPv6 host in URL");
			return (-1);
		}
		memcpy(host, auth + 1, n);
		host[n] = '\0';
		if (inet_pton(AF_INET6, host, &in6) != 1) {
			snprintf(err, errlen, "invalid IPv6 host in URL");
			return (-1);
		}
		hend++;
		if (hend < rest) {
			if (*hend != ':') {
				snprintf(err, errlen, "junk after ']' in URL");
				return (-1);
			}
			colon = hend;
		} else
			colon = NULL;
	} else {
		colon = memchr(auth, ':', alen);
		n = colon != NULL ? (size_t)(colon - auth) : alen;
		if (n >= sizeof(host)) {
			snprintf(err, errlen, "URL host too long");
			return (-1);
		}
		memcpy(host, auth, n);
		host[n] = '\0';
		if (!url_host_ok(host)) {
			snprintf(err, errlen, "invalid host in URL");
			return (-1);
		}
	}
	if (strlen(host) > 255) {
		snprintf(err, errlen, "URL host too long");
		return (-1);
	}
	if (colon != NULL) {
		n = (size_t)(rest - colon - 1);
		if (n == 0 || n >= sizeof(portstr)) {
			snprintf(err, errlen, "invalid port in URL");
			return (-1);
		}
		memcpy(portstr, colon + 1, n);
		portstr[n] = '\0';
		for (i = 0; i < n; i++) {
			if (!isdigit((unsigned char)portstr[i])) {
				snprintf(err, errlen, "invalid port in URL");
				return (-1);
			}
		}
		port = strtol(portstr, &ep, 10);
		if (*ep != '\0' || port < 1 || port > 65535) {
			snprintf(err, errlen, "port out of range in URL");
			return (-1);
		}
		u->u_port = (uint16_t)port;
	} else
		u->u_port = u->u_tls ? 443 : 80;
	memcpy(u->u_host, host, strlen(host) + 1);

	/* Path and query; a fragment is dropped. */
	n = strcspn(rest, "#");
	q = memchr(rest, '?', n);
	alen = q != NULL ? (size_t)(q - rest) : n;
	if (alen == 0 || (alen == 1 && rest[0] == '/')) {
		i = 0;
		if (url_append(u->u_path, sizeof(u->u_path), &i,
		    "/socket") == -1)
			goto toolong;
		u->u_query_auth = 1;
	} else {
		if (alen >= sizeof(u->u_path))
			goto toolong;
		memcpy(u->u_path, rest, alen);
		u->u_path[alen] = '\0';
		i = alen;
		u->u_query_auth = strcmp(u->u_path, "/socket") == 0;
	}
	if (q != NULL && (size_t)(q - rest) + 1 < n) {
		alen = n - (size_t)(q - rest);	/* "?query" */
		if (i + alen >= sizeof(u->u_path))
			goto toolong;
		memcpy(u->u_path + i, q, alen);
		u->u_path[i + alen] = '\0';
	}
	return (0);
 toolong:
	snprintf(err, errlen, "URL path too long");
	return (-1);
}

/* In-place %XX (and '+' if plus) decoding; -1 on a malformed escape. */
static int
url_decode(char *s, int plus)
{
	char	*r, *w;
	int	 hi, lo;

	for (r = w = s; *r != '\0'; r++) {
		if (*r == '%') {
			if ((hi = util_hexval((unsigned char)r[1])) == -1 ||
			    (lo = util_hexval((unsigned char)r[2])) == -1)
				return (-1);
			*w++ = (char)(hi << 4 | lo);
			r += 2;
		} else if (plus && *r == '+')
			*w++ = ' ';
		else
			*w++ = *r;
	}
	*w = '\0';
	return (0);
}

static int
url_append(char *out, size_t outlen, size_t *off, const char *s)
{
	size_t	 n = strlen(s);

	if (*off + n >= outlen)
		return (-1);
	memcpy(out + *off, s, n + 1);
	*off += n;
	return (0);
}

/* Query escaping as Go's url.QueryEscape: space as '+'. */
static int
url_append_escaped(char *out, size_t outlen, size_t *off, const char *s)
{
	static const char	 hex[] = "0123456789ABCDEF";
	const unsigned char	*p;
	char			 t[4];

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' ||
		    *p == '~') {
			t[0] = (char)*p;
			t[1] = '\0';
		} else if (*p == ' ') {
			t[0] = '+';
			t[1] = '\0';
		} else {
			t[0] = '%';
			t[1] = hex[*p >> 4];
			t[2] = hex[*p & 0xf];
			t[3] = '\0';
		}
		if (url_append(out, outlen, off, t) == -1)
			return (-1);
	}
	return (0);
}

static int
url_param_cmp(const void *a, const void *b)
{
	const struct url_param	*pa = a, *pb = b;
	int			 c;

	if ((c = strcmp(pa->up_key, pb->up_key)) != 0)
		return (c);
	/* Keep the original order of repeated keys. */
	return (pa < pb ? -1 : pa > pb);
}

int
url_auth_target(const struct ls_url *u, const char *token, int reverse,
    const uint8_t *instance, char *out, size_t outlen)
{
	struct url_param	 params[URL_MAX_PARAMS + 3];
	char			 uuid[37], hash[65];
	char			*copy = NULL, *q, *kv, *eq;
	size_t			 np = 0, off = 0, i;
	int			 rv = -1;

	if (token == NULL)
		token = "";
	url_uuid_format(instance, uuid);
	url_sha256_hex(token, strlen(token), hash);

	if ((q = strchr(u->u_path, '?')) != NULL) {
		if ((copy = strdup(q + 1)) == NULL)
			return (-1);
		for (kv = strtok(copy, "&"); kv != NULL;
		    kv = strtok(NULL, "&")) {
			if ((eq = strchr(kv, '=')) != NULL)
				*eq++ = '\0';
			else
				eq = kv + strlen(kv);
			/* Go drops pairs it cannot decode. */
			if (url_decode(kv, 1) == -1 || url_decode(eq, 1) == -1)
				continue;
			if (strcmp(kv, "instance") == 0 ||
			    strcmp(kv, "reverse") == 0 ||
			    strcmp(kv, "token") == 0)
				continue;
			if (np == URL_MAX_PARAMS)
				goto done;
			params[np].up_key = kv;
			params[np].up_val = eq;
			np++;
		}
	}
	params[np].up_key = "instance";
	params[np++].up_val = uuid;
	params[np].up_key = "reverse";
	params[np++].up_val = reverse ? "true" : "false";
	params[np].up_key = "token";
	params[np++].up_val = hash;
	qsort(params, np, sizeof(params[0]), url_param_cmp);

	if (q != NULL) {
		if ((size_t)(q - u->u_path) >= outlen)
			goto done;
		memcpy(out, u->u_path, (size_t)(q - u->u_path));
		off = (size_t)(q - u->u_path);
		out[off] = '\0';
	} else if (url_append(out, outlen, &off, u->u_path) == -1)
		goto done;
	for (i = 0; i < np; i++) {
		if (url_append(out, outlen, &off, i == 0 ? "?" : "&") == -1 ||
		    url_append_escaped(out, outlen, &off,
		    params[i].up_key) == -1 ||
		    url_append(out, outlen, &off, "=") == -1 ||
		    url_append_escaped(out, outlen, &off,
		    params[i].up_val) == -1)
			goto done;
	}
	rv = 0;
 done:
	free(copy);
	return (rv);
}

void
url_uuid_format(const uint8_t *id, char *out)
{
	static const char	 hex[] = "0123456789abcdef";
	size_t			 i, o = 0;

	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[id[i] >> 4];
		out[o++] = hex[id[i] & 0xf];
	}
	out[o] = '\0';
}

void
url_sha256(const void *s, size_t len, uint8_t *out)
{
	unsigned int	mdlen = 0;

	if (EVP_Digest(s, len, out, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != LS_SHA256_LEN)
		fatalx("%s: EVP_Digest failed", __func__);
}

void
url_sha256_hex(const char *s, size_t len, char *out)
{
	static const char	 hex[] = "0123456789abcdef";
	uint8_t			 md[LS_SHA256_LEN];
	size_t			 i;

	url_sha256(s, len, md);
	for (i = 0; i < sizeof(md); i++) {
		out[i * 2] = hex[md[i] >> 4];
		out[i * 2 + 1] = hex[md[i] & 0xf];
	}
	out[sizeof(md) * 2] = '\0';
}
