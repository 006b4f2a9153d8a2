/*
 * fuzz_httpproxy.c -- libFuzzer harness for the HTTP proxy codec
 * (httpproxy.c).  The input is a request head and whatever follows it,
 * parsed with no credentials and with "user"/"pa:ss", once whole and
 * once fed in two pieces (the first byte picks the split) with a parse
 * after each: both ways must agree on the result, the status, the
 * target and the rewritten head.  What parses is checked: a host without
 * CR, LF or NUL, a port, the head drained and nothing else, and a
 * rewritten head of CRLF lines without Proxy-Authorization that ends in
 * "Connection: close".  Every status is written by httpproxy_reply.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "linksocks.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
const char *fuzz_corpus_name = "httpproxy";

struct fuzz_result {
	int			 r;
	struct httpproxy_req	 hr;
	size_t			 inlen;
	char			*fwd;		/* rewritten head, NUL-ended */
	size_t			 fwdlen;
};

static void	fuzz_run(const char *, const char *, const uint8_t *, size_t,
		    size_t, struct fuzz_result *);
static void	fuzz_check(const struct fuzz_result *, size_t);
static void	fuzz_same(const struct fuzz_result *,
		    const struct fuzz_result *);

static void
fuzz_run(const char *user, const char *pass, const uint8_t *p, size_t len,
    size_t split, struct fuzz_result *r)
{
	struct evbuffer	*in, *fwd;

	if ((in = evbuffer_new()) == NULL || (fwd = evbuffer_new()) == NULL)
		abort();
	evbuffer_add(in, p, split);
	r->r = httpproxy_parse(in, &r->hr, user, pass, fwd);
	if (r->r == 0) {
		if (evbuffer_get_length(in) != split ||
		    evbuffer_get_length(fwd) != 0)
			abort();
		evbuffer_add(in, p + split, len - split);
		r->r = httpproxy_parse(in, &r->hr, user, pass, fwd);
	} else
		evbuffer_add(in, p + split, len - split);
	r->inlen = evbuffer_get_length(in);
	r->fwdlen = evbuffer_get_length(fwd);
	if ((r->fwd = malloc(r->fwdlen + 1)) == NULL)
		abort();
	evbuffer_remove(fwd, r->fwd, r->fwdlen);
	r->fwd[r->fwdlen] = '\0';
	/* Nothing but the head is taken, and only when it parsed. */
	if (r->r == 1 && (r->hr.hr_headlen == 0 ||
	    r->inlen != len - r->hr.hr_headlen || (r->inlen > 0 &&
	    memcmp(evbuffer_pullup(in, -1), p + r->hr.hr_headlen,
	    r->inlen) != 0)))
		abort();
	if (r->r != 1 && (r->inlen != len || r->fwdlen != 0))
		abort();
	evbuffer_free(in);
	evbuffer_free(fwd);
}

static void
fuzz_check(const struct fuzz_result *r, size_t len)
{
	struct evbuffer	*out;
	const char	*l, *e;
	int		 conn = 0;

	if (r->r == -1) {
		if (r->hr.hr_status < 400 || r->hr.hr_status > 505 ||
		    r->hr.hr_error == NULL)
			abort();
		if ((out = evbuffer_new()) == NULL)
			abort();
		httpproxy_reply(out, r->hr.hr_status, r->hr.hr_error);
		if (evbuffer_get_length(out) < 40)
			abort();
		evbuffer_free(out);
		return;
	}
	if (r->r != 1)
		return;
	if (r->hr.hr_headlen > len || r->hr.hr_headlen > HTTPPROXY_HEAD_MAX ||
	    r->hr.hr_port == 0 || r->hr.hr_host[0] == '\0' ||
	    strpbrk(r->hr.hr_host, "\r\n /@[]") != NULL)
		abort();
	if (r->hr.hr_kind == HTTPPROXY_CONNECT) {
		if (r->fwdlen != 0)
			abort();
		return;
	}
	if (r->hr.hr_kind != HTTPPROXY_FORWARD || r->fwdlen == 0 ||
	    strlen(r->fwd) != r->fwdlen)
		abort();
	/* CRLF lines, the last one empty. */
	for (l = r->fwd; *l != '\0'; l = e + 2) {
		if ((e = strstr(l, "\r\n")) == NULL ||
		    memchr(l, '\n', (size_t)(e - l)) != NULL ||
		    memchr(l, '\r', (size_t)(e - l)) != NULL)
			abort();
		if (strncasecmp(l, "Proxy-Authorization:", 20) == 0)
			abort();
		if (strncasecmp(l, "Connection:", 11) == 0)
			conn++;
		if (e == l && e[2] != '\0')
			abort();
	}
	if (conn != 1 || r->fwdlen < 21 ||
	    strcmp(r->fwd + r->fwdlen - 21, "Connection: close\r\n\r\n") != 0)
		abort();
}

static void
fuzz_same(const struct fuzz_result *a, const struct fuzz_result *b)
{
	if (a->r != b->r || a->inlen != b->inlen || a->fwdlen != b->fwdlen ||
	    memcmp(a->fwd, b->fwd, a->fwdlen) != 0)
		abort();
	if (a->r == -1 && a->hr.hr_status != b->hr.hr_status)
		abort();
	if (a->r == 1 && (a->hr.hr_kind != b->hr.hr_kind ||
	    a->hr.hr_port != b->hr.hr_port ||
	    strcmp(a->hr.hr_host, b->hr.hr_host) != 0))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char	*creds[][2] = {
		{ NULL, NULL }, { "user", "pa:ss" } };
	struct fuzz_result	 whole, split;
	size_t			 i, at;

	at = size > 0 ? data[0] % (size + 1) : 0;
	for (i = 0; i < LS_NITEMS(creds); i++) {
		fuzz_run(creds[i][0], creds[i][1], data, size, size, &whole);
		fuzz_run(creds[i][0], creds[i][1], data, size, at, &split);
		fuzz_check(&whole, size);
		fuzz_same(&whole, &split);
		free(whole.fwd);
		free(split.fwd);
	}
	return (0);
}
