/*
 * fuzz_proxy.c -- libFuzzer harness for proxy URLs and NO_PROXY lists
 * (proxy.c).  The input is "URL NUL host NUL list".  A URL that parses
 * has a host without '@', a port, a kind, and a name for messages that
 * never holds the password; written out again from its fields (user and
 * password percent-encoded) it parses to the same.  The list is matched
 * against the host: "*" always matches, and so does a list that names
 * the host itself (a plain name or address).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linksocks.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
const char *fuzz_corpus_name = "proxy";

static void
fuzz_check(int ok)
{
	if (!ok)
		abort();
}

/* Percent-encode every byte of s but letters and digits. */
static void
fuzz_enc(const char *s, char *out, size_t outlen)
{
	size_t	o = 0;

	for (; *s != '\0' && o + 4 < outlen; s++) {
		if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9'))
			out[o++] = *s;
		else
			o += (size_t)snprintf(out + o, outlen - o, "%%%02X",
			    (unsigned char)*s);
	}
	out[o] = '\0';
}

static void
fuzz_url(const char *url)
{
	struct ls_proxy	 px, px2;
	char		 err[256], u[800], p[800], again[2200];

	err[0] = '\0';
	if (proxy_parse(url, &px, err, sizeof(err)) == -1) {
		fuzz_check(err[0] != '\0');
		return;
	}
	fuzz_check(px.px_kind == PROXY_HTTP || px.px_kind == PROXY_SOCKS5);
	fuzz_check(px.px_host[0] != '\0' && px.px_port != 0);
	fuzz_check(strchr(px.px_host, '@') == NULL);
	fuzz_check(strchr(px.px_name, '@') == NULL);
	fuzz_check(strlen(px.px_user) < 256 && strlen(px.px_pass) < 256);
	fuzz_enc(px.px_user, u, sizeof(u));
	fuzz_enc(px.px_pass, p, sizeof(p));
	snprintf(again, sizeof(again), "%s://%s%s%s%s%s%s%s:%u",
	    px.px_kind == PROXY_HTTP ? "http" : "socks5", u,
	    px.px_pass[0] != '\0' ? ":" : "", p,
	    px.px_user[0] != '\0' || px.px_pass[0] != '\0' ? "@" : "",
	    strchr(px.px_host, ':') != NULL ? "[" : "", px.px_host,
	    strchr(px.px_host, ':') != NULL ? "]" : "", px.px_port);
	if (px.px_user[0] == '\0' && px.px_pass[0] != '\0')
		return;		/* ":pass@" has no written form with "" user */
	fuzz_check(proxy_parse(again, &px2, err, sizeof(err)) == 0);
	fuzz_check(px2.px_kind == px.px_kind && px2.px_port == px.px_port);
	fuzz_check(strcmp(px2.px_host, px.px_host) == 0);
	fuzz_check(strcmp(px2.px_user, px.px_user) == 0);
	fuzz_check(strcmp(px2.px_pass, px.px_pass) == 0);
	fuzz_check(strcmp(px2.px_name, px.px_name) == 0);
}

static void
fuzz_list(const char *host, const char *list)
{
	char	both[1200];
	int	r;

	r = proxy_no_proxy(list, host);
	fuzz_check(r == 0 || r == 1);
	fuzz_check(proxy_no_proxy("*", host) == 1);
	if (*host == '\0' || strlen(host) > 250 ||
	    strpbrk(host, ", \t/[]*") != NULL || host[0] == '.' ||
	    host[strlen(host) - 1] == '.')
		return;
	snprintf(both, sizeof(both), "%.500s,%s", list, host);
	fuzz_check(proxy_no_proxy(both, host) == 1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*s, *host, *list;

	if (size > 4096)
		return (0);
	if ((s = malloc(size + 3)) == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = s[size + 1] = s[size + 2] = '\0';
	host = s + strlen(s) + 1;
	if (host > s + size)
		host = s + size + 1;
	list = host + strlen(host) + 1;
	if (list > s + size + 1)
		list = s + size + 2;
	fuzz_url(s);
	fuzz_list(host, list);
	free(s);
	return (0);
}
