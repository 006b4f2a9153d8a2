/*
 * fuzz_url.c -- libFuzzer harness for the client URL (url.c) and UUID
 * text (util_parse_uuid).  The input is "URL NUL token": a URL that
 * parses is written out again from its fields and must parse to the
 * same; its query-auth target (url_auth_target) must give back, through
 * the server's http_query_get, the token's hash, the instance and the
 * reverse flag.  Each part is also parsed as a UUID, which must succeed
 * exactly for 32 hex digits and dashes, and format back to the same id.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linksocks.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
const char *fuzz_corpus_name = "url";

static void	 fuzz_check(int);
static char	*fuzz_str(const uint8_t *, size_t);
static void	 fuzz_uuid(const char *);
static void	 fuzz_reparse(const struct ls_url *);
static void	 fuzz_auth(const struct ls_url *, const char *, int,
		    const uint8_t *);

static void
fuzz_check(int ok)
{
	if (!ok)
		abort();
}

/* A NUL-terminated heap copy of exactly len bytes (and the NUL). */
static char *
fuzz_str(const uint8_t *p, size_t len)
{
	char	*s;

	if ((s = malloc(len + 1)) == NULL)
		abort();
	memcpy(s, p, len);
	s[len] = '\0';
	return (s);
}

static void
fuzz_uuid(const char *s)
{
	uint8_t		 id[LS_CHANNEL_ID_LEN], id2[LS_CHANNEL_ID_LEN];
	char		 text[37];
	const char	*p;
	int		 hex = 0, other = 0, r;

	for (p = s; *p != '\0'; p++) {
		if (isxdigit((unsigned char)*p))
			hex++;
		else if (*p != '-')
			other = 1;
	}
	r = util_parse_uuid(s, id);
	fuzz_check(r == ((hex == 32 && !other) ? 0 : -1));
	if (r == -1)
		return;
	url_uuid_format(id, text);
	fuzz_check(strlen(text) == 36);
	fuzz_check(util_parse_uuid(text, id2) == 0);
	fuzz_check(memcmp(id, id2, sizeof(id)) == 0);
}

/* scheme://host:port/path?query from the fields parses to the same. */
static void
fuzz_reparse(const struct ls_url *u)
{
	struct ls_url	 v;
	char		 s[2048], err[256];
	int		 n;

	n = snprintf(s, sizeof(s), "%s://%s%s%s:%u%s", u->u_tls ? "wss" : "ws",
	    strchr(u->u_host, ':') != NULL ? "[" : "", u->u_host,
	    strchr(u->u_host, ':') != NULL ? "]" : "", u->u_port, u->u_path);
	fuzz_check(n > 0 && (size_t)n < sizeof(s));
	err[0] = '\0';
	if (url_parse(s, &v, err, sizeof(err)) != 0)
		abort();
	fuzz_check(v.u_tls == u->u_tls && v.u_port == u->u_port &&
	    v.u_query_auth == u->u_query_auth);
	fuzz_check(strcmp(v.u_host, u->u_host) == 0);
	fuzz_check(strcmp(v.u_path, u->u_path) == 0);
}

/* What the client sends, the server reads back (server_ws_request). */
static void
fuzz_auth(const struct ls_url *u, const char *token, int reverse,
    const uint8_t *instance)
{
	char		 target[2048], got[256], hash[65], uuid[37];
	const char	*q;
	uint8_t		 id[LS_CHANNEL_ID_LEN];
	size_t		 plen;

	if (url_auth_target(u, token, reverse, instance, target,
	    sizeof(target)) == -1)
		return;
	fuzz_check(memchr(target, '\0', sizeof(target)) != NULL);
	plen = strcspn(u->u_path, "?");
	fuzz_check(strncmp(target, u->u_path, plen) == 0);
	q = target + plen;
	fuzz_check(*q == '?');
	url_sha256_hex(token, strlen(token), hash);
	url_uuid_format(instance, uuid);
	fuzz_check(http_query_get(q + 1, "token", got, sizeof(got)) == 1);
	fuzz_check(strcmp(got, hash) == 0);
	fuzz_check(http_query_get(q + 1, "reverse", got, sizeof(got)) == 1);
	fuzz_check(strcmp(got, reverse ? "true" : "false") == 0);
	fuzz_check(http_query_get(q + 1, "instance", got, sizeof(got)) == 1);
	fuzz_check(strcmp(got, uuid) == 0);
	fuzz_check(util_parse_uuid(got, id) == 0);
	fuzz_check(memcmp(id, instance, sizeof(id)) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ls_url	 u;
	const uint8_t	*nul;
	uint8_t		 instance[LS_CHANNEL_ID_LEN];
	char		*url, *token, err[256];
	size_t		 ulen, i;
	int		 r;

	nul = memchr(data, '\0', size);
	ulen = nul != NULL ? (size_t)(nul - data) : size;
	url = fuzz_str(data, ulen);
	if (nul != NULL) {
		nul++;
		token = fuzz_str(nul, strnlen((const char *)nul,
		    size - (size_t)(nul - data)));
	} else
		token = fuzz_str((const uint8_t *)"", 0);
	for (i = 0; i < sizeof(instance); i++)
		instance[i] = (uint8_t)(size > 0 ? data[i % size] ^ i : i);

	err[0] = '\0';
	r = url_parse(url, &u, err, sizeof(err));
	fuzz_check(r == 0 || r == -1);
	if (r == -1)
		fuzz_check(err[0] != '\0');
	else {
		fuzz_check(u.u_host[0] != '\0' && strlen(u.u_host) <= 255);
		fuzz_check(u.u_port != 0 && (u.u_tls == 0 || u.u_tls == 1));
		fuzz_check(u.u_path[0] == '/');
		fuzz_check(u.u_query_auth == (strcspn(u.u_path, "?") == 7 &&
		    strncmp(u.u_path, "/socket", 7) == 0));
		fuzz_reparse(&u);
		fuzz_auth(&u, token, (int)(size & 1), instance);
	}
	fuzz_uuid(url);
	fuzz_uuid(token);
	free(url);
	free(token);
	return (0);
}
