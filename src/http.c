/*
 * http.c -- HTTP/1.1 request and response head parsing and plain
 * responses.  Pure: evbuffer in, struct out.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "linksocks.h"

static ssize_t	 http_head_len(struct evbuffer *, size_t *);
static int	 http_split(struct evbuffer *, struct http_head *, size_t *,
		    char **);
static char	*http_nextline(char **);
static int	 http_istoken(const char *);
static int	 http_headers(struct http_head *, char *);
static int	 http_pctdecode(const char *, size_t, char *, int);
static const char *http_reason(int);

/*
 * Length of the head including the empty line, 0 if incomplete, -1 if
 * the head is larger than HTTP_MAX_HEAD.
 */
/*
 * The length of the head ("\n\n" or "\n\r\n" ends it), 0 need more, -1
 * too large.  *scanned bytes were looked at by earlier calls and are not
 * scanned again (but for the two a terminator may straddle), so a head
 * that trickles in byte by byte costs linear time; nothing is copied.
 */
static ssize_t
http_head_len(struct evbuffer *buf, size_t *scanned)
{
	struct evbuffer_ptr	 p, q, end;
	size_t			 len, n, start, have;
	char			 next[2];

	len = evbuffer_get_length(buf);
	n = len < HTTP_MAX_HEAD ? len : HTTP_MAX_HEAD;
	if (n == 0)
		return (0);
	start = *scanned > 2 ? *scanned - 2 : 0;
	if (start > n)
		start = 0;
	if (evbuffer_ptr_set(buf, &end, n, EVBUFFER_PTR_SET) == -1 ||
	    evbuffer_ptr_set(buf, &p, start, EVBUFFER_PTR_SET) == -1)
		return (-1);
	for (;;) {
		p = evbuffer_search_range(buf, "\n", 1, &p, &end);
		if (p.pos == -1)
			break;
		/* What follows the LF, within the head's limit. */
		have = n - (size_t)p.pos - 1;
		if (have > sizeof(next))
			have = sizeof(next);
		q = p;
		if (have > 0 && (evbuffer_ptr_set(buf, &q, 1,
		    EVBUFFER_PTR_ADD) == -1 || evbuffer_copyout_from(buf, &q,
		    next, have) != (ev_ssize_t)have))
			return (-1);
		if (have >= 1 && next[0] == '\n')
			return ((ssize_t)p.pos + 2);
		if (have == 2 && next[0] == '\r' && next[1] == '\n')
			return ((ssize_t)p.pos + 3);
		if (evbuffer_ptr_set(buf, &p, 1, EVBUFFER_PTR_ADD) == -1)
			break;
	}
	*scanned = n;
	return (len >= HTTP_MAX_HEAD ? -1 : 0);
}

/*
 * Move the head out of buf into an owned copy, with as much room again
 * behind it for decoded strings.  *first points at the first line.
 */
static int
http_split(struct evbuffer *buf, struct http_head *hh, size_t *headlen,
    char **first)
{
	ssize_t	 n;
	size_t	 scanned = hh->hh_scanned;

	memset(hh, 0, sizeof(*hh));
	if ((n = http_head_len(buf, &scanned)) <= 0) {
		hh->hh_scanned = scanned;
		return ((int)n);
	}
	if ((hh->hh_buf = malloc((size_t)n * 2 + 4)) == NULL)
		return (-1);
	if (evbuffer_remove(buf, hh->hh_buf, (size_t)n) != n) {
		http_head_free(hh);
		return (-1);
	}
	hh->hh_buf[n] = '\0';
	if (memchr(hh->hh_buf, '\0', (size_t)n) != NULL) {
		http_head_free(hh);
		return (-1);
	}
	*headlen = (size_t)n;
	*first = hh->hh_buf;
	return (1);
}

/* Cut the next line (LF or CRLF); NULL at the end of the head. */
static char *
http_nextline(char **pp)
{
	char	*line = *pp, *nl;

	if (line == NULL || (nl = strchr(line, '\n')) == NULL)
		return (NULL);
	*nl = '\0';
	if (nl > line && nl[-1] == '\r')
		nl[-1] = '\0';
	*pp = nl + 1;
	return (line);
}

static int
http_istoken(const char *s)
{
	const unsigned char	*p;

	if (*s == '\0')
		return (0);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p <= 0x20 || *p >= 0x7f ||
		    strchr("()<>@,;:\\\"/[]?={}", *p) != NULL)
			return (0);
	}
	return (1);
}

static int
http_headers(struct http_head *hh, char *rest)
{
	char	*line, *colon, *v, *e;

	while ((line = http_nextline(&rest)) != NULL) {
		if (*line == '\0')
			return (0);	/* the empty line ends the head */
		if (*line == ' ' || *line == '\t')
			return (-1);	/* obs-fold */
		if (strchr(line, '\r') != NULL)
			return (-1);
		if ((colon = strchr(line, ':')) == NULL)
			return (-1);
		*colon = '\0';
		if (!http_istoken(line))
			return (-1);
		if (hh->hh_nheaders == HTTP_MAX_HEADERS)
			return (-1);
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		e = v + strlen(v);
		while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
			*--e = '\0';
		hh->hh_headers[hh->hh_nheaders].h_name = line;
		hh->hh_headers[hh->hh_nheaders].h_value = v;
		hh->hh_nheaders++;
	}
	return (-1);
}

/*
 * Decode len bytes of s into out (room for len + 1).  %00 and malformed
 * escapes fail.  plus: '+' means space (query strings).
 */
static int
http_pctdecode(const char *s, size_t len, char *out, int plus)
{
	size_t	 i;
	int	 hi, lo;

	for (i = 0; i < len; i++) {
		if (s[i] == '%') {
			if (i + 2 >= len)
				return (-1);
			if ((hi = util_hexval((unsigned char)s[i + 1])) == -1 ||
			    (lo = util_hexval((unsigned char)s[i + 2])) == -1)
				return (-1);
			if (hi == 0 && lo == 0)
				return (-1);
			*out++ = (char)(hi << 4 | lo);
			i += 2;
		} else if (plus && s[i] == '+')
			*out++ = ' ';
		else
			*out++ = s[i];
	}
	*out = '\0';
	return (0);
}

int
http_parse_request(struct evbuffer *buf, struct http_head *hh)
{
	char	*rest, *line, *sp1, *sp2, *extra, *q;
	size_t	 headlen, plen;
	int	 r;

	if ((r = http_split(buf, hh, &headlen, &rest)) <= 0)
		return (r);
	extra = hh->hh_buf + headlen + 1;
	if ((line = http_nextline(&rest)) == NULL)
		goto bad;
	/* METHOD SP target SP HTTP/1.x */
	if ((sp1 = strchr(line, ' ')) == NULL)
		goto bad;
	*sp1++ = '\0';
	if ((sp2 = strchr(sp1, ' ')) == NULL)
		goto bad;
	*sp2++ = '\0';
	if (!http_istoken(line) || *sp1 != '/' ||
	    strncmp(sp2, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)sp2[7]) ||
	    sp2[8] != '\0')
		goto bad;
	if (strpbrk(sp1, " \t\r") != NULL)
		goto bad;
	hh->hh_method = line;
	hh->hh_target = sp1;
	q = strchr(sp1, '?');
	plen = q != NULL ? (size_t)(q - sp1) : strlen(sp1);
	hh->hh_path = extra;
	if (http_pctdecode(sp1, plen, extra, 0) == -1)
		goto bad;
	extra += strlen(extra) + 1;
	hh->hh_query = extra;
	if (q != NULL)
		memcpy(extra, q + 1, strlen(q + 1) + 1);
	else
		*extra = '\0';
	if (http_headers(hh, rest) == -1)
		goto bad;
	return (1);
 bad:
	http_head_free(hh);
	return (-1);
}

int
http_parse_response(struct evbuffer *buf, struct http_head *hh)
{
	char	*rest, *line, *ep;
	size_t	 headlen;
	long	 code;
	int	 r;

	if ((r = http_split(buf, hh, &headlen, &rest)) <= 0)
		return (r);
	if ((line = http_nextline(&rest)) == NULL)
		goto bad;
	/* HTTP/1.x SP 3DIGIT [SP reason]; a bare CR, as in a header: bad */
	if (strchr(line, '\r') != NULL || strncmp(line, "HTTP/1.", 7) != 0 ||
	    !isdigit((unsigned char)line[7]) || line[8] != ' ')
		goto bad;
	line += 9;
	if (!isdigit((unsigned char)line[0]) ||
	    !isdigit((unsigned char)line[1]) ||
	    !isdigit((unsigned char)line[2]) ||
	    (line[3] != ' ' && line[3] != '\0'))
		goto bad;
	code = strtol(line, &ep, 10);
	if (ep != line + 3 || code < 100)
		goto bad;
	hh->hh_status = (int)code;
	hh->hh_reason = line[3] == ' ' ? line + 4 : line + 3;
	if (http_headers(hh, rest) == -1)
		goto bad;
	return (1);
 bad:
	http_head_free(hh);
	return (-1);
}

void
http_head_free(struct http_head *hh)
{
	free(hh->hh_buf);
	memset(hh, 0, sizeof(*hh));
}

const char *
http_header(const struct http_head *hh, const char *name)
{
	int	 i;

	for (i = 0; i < hh->hh_nheaders; i++) {
		if (strcasecmp(hh->hh_headers[i].h_name, name) == 0)
			return (hh->hh_headers[i].h_value);
	}
	return (NULL);
}

/* Is token an item of the comma-separated list (case-insensitive)? */
int
http_list_has(const char *list, const char *token)
{
	const char	*v, *e;
	size_t		 tlen = strlen(token), n;

	for (v = list; *v != '\0'; v = e) {
		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		e = v + strcspn(v, ",");
		n = (size_t)(e - v);
		while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
			n--;
		if (n == tlen && n > 0 && strncasecmp(v, token, n) == 0)
			return (1);
	}
	return (0);
}

int
http_header_has_token(const struct http_head *hh, const char *name,
    const char *token)
{
	int	i;

	for (i = 0; i < hh->hh_nheaders; i++)
		if (strcasecmp(hh->hh_headers[i].h_name, name) == 0 &&
		    http_list_has(hh->hh_headers[i].h_value, token))
			return (1);
	return (0);
}

/*
 * The first parameter called name, URL-decoded.  Parameters with bad
 * escapes are skipped (as Go does); a value longer than outlen - 1 is
 * treated as absent.
 */
int
http_query_get(const char *query, const char *name, char *out,
    size_t outlen)
{
	const char	*p, *amp, *eq;
	char		*tmp;
	size_t		 klen, vlen;
	int		 found = 0;

	if (query == NULL)
		return (0);
	for (p = query; *p != '\0' && !found; p = *amp ? amp + 1 : amp) {
		amp = p + strcspn(p, "&");
		eq = memchr(p, '=', (size_t)(amp - p));
		klen = eq != NULL ? (size_t)(eq - p) : (size_t)(amp - p);
		vlen = eq != NULL ? (size_t)(amp - eq - 1) : 0;
		if ((tmp = malloc(klen + vlen + 2)) == NULL)
			return (0);
		if (http_pctdecode(p, klen, tmp, 1) == 0 &&
		    strcmp(tmp, name) == 0) {
			if (http_pctdecode(eq != NULL ? eq + 1 : "", vlen, tmp,
			    1) == 0) {
				if (strlen(tmp) < outlen) {
					memcpy(out, tmp, strlen(tmp) + 1);
					found = 1;
				} else {
					free(tmp);
					return (0);
				}
			}
		}
		free(tmp);
	}
	return (found);
}

static const char *
http_reason(int code)
{
	switch (code) {
	case 101:	return ("Switching Protocols");
	case 200:	return ("OK");
	case 201:	return ("Created");
	case 204:	return ("No Content");
	case 301:	return ("Moved Permanently");
	case 302:	return ("Found");
	case 307:	return ("Temporary Redirect");
	case 308:	return ("Permanent Redirect");
	case 400:	return ("Bad Request");
	case 401:	return ("Unauthorized");
	case 403:	return ("Forbidden");
	case 404:	return ("Not Found");
	case 405:	return ("Method Not Allowed");
	case 408:	return ("Request Timeout");
	case 411:	return ("Length Required");
	case 413:	return ("Request Entity Too Large");
	case 426:	return ("Upgrade Required");
	case 500:	return ("Internal Server Error");
	case 501:	return ("Not Implemented");
	case 503:	return ("Service Unavailable");
	default:	return ("Unknown");
	}
}

/*
 * Write a complete response: code, content type (NULL: plain text),
 * body (NULL: empty), extra header lines each ending "\r\n" (or NULL).
 */
void
http_respond(struct evbuffer *out, int code, const char *ctype,
    const char *body, const char *extra)
{
	size_t	 blen = body != NULL ? strlen(body) : 0;

	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n"
	    "Content-Type: %s\r\n"
	    "Content-Length: %zu\r\n"
	    "Connection: close\r\n"
	    "%s\r\n", code, http_reason(code),
	    ctype != NULL ? ctype : "text/plain; charset=utf-8", blen,
	    extra != NULL ? extra : "");
	if (blen > 0)
		evbuffer_add(out, body, blen);
}
