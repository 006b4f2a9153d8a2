/*
 * fuzz_http.c -- libFuzzer harness for the HTTP head parser (http.c).
 * The first byte picks the sizes of the pieces; the rest is parsed as a
 * request and as a response, once whole and once added to an evbuffer
 * piece by piece with one struct http_head kept across the calls (the
 * incremental scan resumes at hh_scanned).  Both ways must agree on the
 * result, the head's length and every field.  What parses is checked
 * (tokens, no CR or LF in values, a path that starts with '/', ...) and
 * looked up with http_header, http_header_has_token and http_query_get;
 * a status that parses is written by http_respond and parsed again.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "linksocks.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
const char *fuzz_corpus_name = "http";

typedef int	(*fuzz_parser)(struct evbuffer *, struct http_head *);

struct fuzz_res {
	int			 r;
	size_t			 headlen;
	struct http_head	 hh;
};

static void	 fuzz_check(int);
static int	 fuzz_istoken(const char *);
static size_t	 fuzz_piece(uint32_t *, uint8_t);
static void	 fuzz_whole(fuzz_parser, const uint8_t *, size_t,
		    struct fuzz_res *);
static void	 fuzz_pieces(fuzz_parser, const uint8_t *, size_t, uint8_t,
		    struct fuzz_res *);
static int	 fuzz_streq(const char *, const char *);
static void	 fuzz_same(const struct fuzz_res *, const struct fuzz_res *);
static void	 fuzz_query(const char *, const char *);
static void	 fuzz_head(const struct http_head *, int);
static void	 fuzz_respond(int);
static void	 fuzz_run(fuzz_parser, int, const uint8_t *, size_t, uint8_t);

static void
fuzz_check(int ok)
{
	if (!ok)
		abort();
}

/* RFC 9110 token, independent of http.c's. */
static int
fuzz_istoken(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;

	if (*p == '\0')
		return (0);
	for (; *p != '\0'; p++)
		if (*p <= 0x20 || *p >= 0x7f ||
		    strchr("()<>@,;:\\\"/[]?={}", *p) != NULL)
			return (0);
	return (1);
}

/*
 * The next piece size: the low six bits of sel bound it (0: one byte at
 * a time), a xorshift seeded by sel varies it.
 */
static size_t
fuzz_piece(uint32_t *st, uint8_t sel)
{
	uint32_t	 x = *st;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*st = x;
	return (1 + x % (1 + (uint32_t)(sel & 0x3f) * 8));
}

static void
fuzz_whole(fuzz_parser parse, const uint8_t *p, size_t len,
    struct fuzz_res *res)
{
	struct evbuffer	*buf;

	if ((buf = evbuffer_new()) == NULL || evbuffer_add(buf, p, len) == -1)
		abort();
	memset(&res->hh, 0, sizeof(res->hh));
	res->r = parse(buf, &res->hh);
	fuzz_check(res->r >= -1 && res->r <= 1);
	res->headlen = len - evbuffer_get_length(buf);
	if (res->r == 0)	/* incomplete: nothing taken */
		fuzz_check(res->headlen == 0);
	if (res->r == 1)
		fuzz_check(res->headlen > 0 && res->headlen <= HTTP_MAX_HEAD);
	evbuffer_free(buf);
}

static void
fuzz_pieces(fuzz_parser parse, const uint8_t *p, size_t len, uint8_t sel,
    struct fuzz_res *res)
{
	struct evbuffer	*buf;
	uint32_t	 st = 0x9e3779b9u ^ sel;
	size_t		 off = 0, n;

	if ((buf = evbuffer_new()) == NULL)
		abort();
	memset(&res->hh, 0, sizeof(res->hh));	/* once, then kept */
	res->r = parse(buf, &res->hh);
	fuzz_check(res->r == 0);
	while (res->r == 0 && off < len) {
		n = fuzz_piece(&st, sel);
		if (n > len - off)
			n = len - off;
		if (evbuffer_add(buf, p + off, n) == -1)
			abort();
		off += n;
		res->r = parse(buf, &res->hh);
		fuzz_check(res->r >= -1 && res->r <= 1);
		if (res->r == 0)
			fuzz_check(evbuffer_get_length(buf) == off);
	}
	res->headlen = off - evbuffer_get_length(buf);
	evbuffer_free(buf);
}

static int
fuzz_streq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a == b);
	return (strcmp(a, b) == 0);
}

static void
fuzz_same(const struct fuzz_res *a, const struct fuzz_res *b)
{
	int	 i;

	fuzz_check(a->r == b->r);
	if (a->r != 1)
		return;
	fuzz_check(a->headlen == b->headlen);
	fuzz_check(fuzz_streq(a->hh.hh_method, b->hh.hh_method));
	fuzz_check(fuzz_streq(a->hh.hh_target, b->hh.hh_target));
	fuzz_check(fuzz_streq(a->hh.hh_path, b->hh.hh_path));
	fuzz_check(fuzz_streq(a->hh.hh_query, b->hh.hh_query));
	fuzz_check(a->hh.hh_status == b->hh.hh_status);
	fuzz_check(fuzz_streq(a->hh.hh_reason, b->hh.hh_reason));
	fuzz_check(a->hh.hh_nheaders == b->hh.hh_nheaders);
	for (i = 0; i < a->hh.hh_nheaders; i++) {
		fuzz_check(fuzz_streq(a->hh.hh_headers[i].h_name,
		    b->hh.hh_headers[i].h_name));
		fuzz_check(fuzz_streq(a->hh.hh_headers[i].h_value,
		    b->hh.hh_headers[i].h_value));
	}
}

/* A found value fits the buffer; one that does not is not found. */
static void
fuzz_query(const char *query, const char *name)
{
	char	 big[256], small[4];
	int	 fb, fs;

	memset(big, 'x', sizeof(big));
	memset(small, 'x', sizeof(small));
	fb = http_query_get(query, name, big, sizeof(big));
	fs = http_query_get(query, name, small, sizeof(small));
	fuzz_check(fb == 0 || fb == 1);
	if (fb)
		fuzz_check(memchr(big, '\0', sizeof(big)) != NULL);
	if (fs) {
		fuzz_check(memchr(small, '\0', sizeof(small)) != NULL);
		fuzz_check(fb && strcmp(big, small) == 0);
	}
}

static void
fuzz_head(const struct http_head *hh, int request)
{
	const struct http_header	*h;
	const char			*v;
	size_t				 len;
	int				 i, j;

	fuzz_check(hh->hh_buf != NULL);
	fuzz_check(hh->hh_nheaders >= 0 && hh->hh_nheaders <= HTTP_MAX_HEADERS);
	if (request) {
		fuzz_check(fuzz_istoken(hh->hh_method));
		fuzz_check(hh->hh_target[0] == '/' && hh->hh_path[0] == '/');
		fuzz_check(strpbrk(hh->hh_target, " \t\r\n") == NULL);
		fuzz_check(hh->hh_query != NULL);
		fuzz_query(hh->hh_query, "token");
		fuzz_query(hh->hh_query, "instance");
		fuzz_query(hh->hh_query, "reverse");
		fuzz_query(hh->hh_query, "");
	} else {
		fuzz_check(hh->hh_status >= 100 && hh->hh_status <= 999);
		fuzz_check(strpbrk(hh->hh_reason, "\r\n") == NULL);
	}
	for (i = 0; i < hh->hh_nheaders; i++) {
		h = &hh->hh_headers[i];
		fuzz_check(fuzz_istoken(h->h_name));
		fuzz_check(strpbrk(h->h_value, "\r\n") == NULL);
		len = strlen(h->h_value);
		fuzz_check(len == 0 || (h->h_value[0] != ' ' &&
		    h->h_value[0] != '\t' && h->h_value[len - 1] != ' ' &&
		    h->h_value[len - 1] != '\t'));
		/* The first header of that name, whatever the case. */
		for (j = 0; strcasecmp(hh->hh_headers[j].h_name,
		    h->h_name) != 0; j++)
			;
		v = http_header(hh, h->h_name);
		fuzz_check(v == hh->hh_headers[j].h_value);
		if (len > 0 && strchr(h->h_value, ',') == NULL)
			fuzz_check(http_header_has_token(hh, h->h_name,
			    h->h_value));
	}
	(void)http_header_has_token(hh, "Connection", "upgrade");
	(void)http_header_has_token(hh, "Upgrade", "websocket");
	(void)http_header(hh, LS_FEATURE_HEADER);
}

/* What http_respond writes parses back as a response with that status. */
static void
fuzz_respond(int status)
{
	struct evbuffer		*out;
	struct http_head	 hh;

	if ((out = evbuffer_new()) == NULL)
		abort();
	http_respond(out, status, NULL, "body", "X-Test: 1\r\n");
	memset(&hh, 0, sizeof(hh));
	fuzz_check(http_parse_response(out, &hh) == 1);
	fuzz_check(hh.hh_status == status);
	fuzz_check(fuzz_streq(http_header(&hh, "content-length"), "4"));
	fuzz_check(fuzz_streq(http_header(&hh, "X-Test"), "1"));
	fuzz_check(evbuffer_get_length(out) == 4);
	http_head_free(&hh);
	evbuffer_free(out);
}

static void
fuzz_run(fuzz_parser parse, int request, const uint8_t *p, size_t len,
    uint8_t sel)
{
	struct fuzz_res	*whole, *pieces;

	if ((whole = calloc(1, sizeof(*whole))) == NULL ||
	    (pieces = calloc(1, sizeof(*pieces))) == NULL)
		abort();
	fuzz_whole(parse, p, len, whole);
	fuzz_pieces(parse, p, len, sel, pieces);
	fuzz_same(whole, pieces);
	if (whole->r == 1) {
		fuzz_head(&whole->hh, request);
		if (!request)
			fuzz_respond(whole->hh.hh_status);
	}
	http_head_free(&whole->hh);
	http_head_free(&pieces->hh);
	free(whole);
	free(pieces);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return (0);
	fuzz_run(http_parse_request, 1, data + 1, size - 1, data[0]);
	fuzz_run(http_parse_response, 0, data + 1, size - 1, data[0]);
	return (0);
}
