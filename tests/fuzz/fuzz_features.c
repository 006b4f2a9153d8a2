/*
 * fuzz_features.c -- libFuzzer harness for the X-Linksocks-Features
 * value (tunnel_features).  The input (up to a NUL) is parsed with the
 * extensions on and off, and compared with a plain reading of the whole
 * value: "halfclose" alone turns half-close on, the last good
 * "credit=N" (LS_WINDOW_MIN..LS_WINDOW_MAX) is the window, the rest is
 * ignored.  Our own header line (tunnel_feature_line), with a window
 * taken from the input, goes through http_parse_request and must parse
 * back to half-close and that window.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "linksocks.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
const char *fuzz_corpus_name = "features";

static struct config	fuzz_conf;

static void	 fuzz_check(int);
static void	 fuzz_reference(const char *, int *, uint32_t *);
static void	 fuzz_line(uint32_t);

static void
fuzz_check(int ok)
{
	if (!ok)
		abort();
}

/* The same rules as tunnel_features, over the whole value, by hand. */
static void
fuzz_reference(const char *v, int *halfclose, uint32_t *window)
{
	const char	*p, *e, *b, *eq;
	size_t		 n, i;
	uint64_t	 w;

	*halfclose = 0;
	*window = 0;
	for (p = v; *p != '\0'; p = *e != '\0' ? e + 1 : e) {
		e = p + strcspn(p, ",");
		for (b = p; b < e && isspace((unsigned char)*b); b++)
			;
		for (n = (size_t)(e - b); n > 0 &&
		    isspace((unsigned char)b[n - 1]); n--)
			;
		if ((eq = memchr(b, '=', n)) == NULL) {
			if (n == 9 && strncasecmp(b, "halfclose", 9) == 0)
				*halfclose = 1;
			continue;
		}
		if ((size_t)(eq - b) != 6 || strncasecmp(b, "credit", 6) != 0)
			continue;
		eq++;
		n -= 7;
		if (n == 0)
			continue;
		for (i = 0, w = 0; i < n; i++) {
			if (!isdigit((unsigned char)eq[i]))
				break;
			if (w <= LS_WINDOW_MAX)
				w = w * 10 + (uint64_t)(eq[i] - '0');
		}
		if (i == n && w >= LS_WINDOW_MIN && w <= LS_WINDOW_MAX)
			*window = (uint32_t)w;
	}
}

/* Our header line, through an HTTP head, back to what we offered. */
static void
fuzz_line(uint32_t window)
{
	struct evbuffer		*buf;
	struct http_head	 hh;
	const char		*line, *v;
	uint32_t		 w;
	int			 hc;

	fuzz_conf.c_window = window;
	line = tunnel_feature_line();
	fuzz_check(strncmp(line, LS_FEATURE_HEADER ": ",
	    strlen(LS_FEATURE_HEADER ": ")) == 0);
	if ((buf = evbuffer_new()) == NULL ||
	    evbuffer_add_printf(buf, "GET /socket HTTP/1.1\r\n"
	    "Host: x\r\n%s\r\n", line) == -1)
		abort();
	memset(&hh, 0, sizeof(hh));
	fuzz_check(http_parse_request(buf, &hh) == 1);
	v = http_header(&hh, "x-linksocks-features");
	fuzz_check(v != NULL);
	tunnel_features(v, &hc, &w);
	fuzz_check(hc == 1 && w == window);
	http_head_free(&hh);
	evbuffer_free(buf);
	fuzz_conf.c_no_ext = 1;
	fuzz_check(strcmp(tunnel_feature_line(), "") == 0);
	fuzz_conf.c_no_ext = 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		*v;
	size_t		 len;
	uint32_t	 w, rw, window;
	int		 hc, rhc;

	memset(&fuzz_conf, 0, sizeof(fuzz_conf));
	fuzz_conf.c_window = LS_WINDOW;
	ls_conf = &fuzz_conf;

	len = strnlen((const char *)data, size);
	if ((v = malloc(len + 1)) == NULL)
		abort();
	memcpy(v, data, len);
	v[len] = '\0';

	tunnel_features(v, &hc, &w);
	fuzz_check(hc == 0 || hc == 1);
	fuzz_check(w == 0 || (w >= LS_WINDOW_MIN && w <= LS_WINDOW_MAX));
	fuzz_reference(v, &rhc, &rw);
	fuzz_check(hc == rhc && w == rw);

	fuzz_conf.c_no_ext = 1;
	tunnel_features(v, &hc, &w);
	fuzz_check(hc == 0 && w == 0);
	fuzz_conf.c_no_ext = 0;
	tunnel_features(NULL, &hc, &w);
	fuzz_check(hc == 0 && w == 0);

	/* A window from the last four bytes, into the allowed range. */
	window = LS_WINDOW;
	if (size >= 4) {
		memcpy(&window, data + size - 4, 4);
		window = LS_WINDOW_MIN + window %
		    (LS_WINDOW_MAX - LS_WINDOW_MIN + 1);
	}
	fuzz_line(window);

	free(v);
	ls_conf = NULL;
	return (0);
}
