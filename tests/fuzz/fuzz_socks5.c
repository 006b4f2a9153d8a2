/*
 * fuzz_socks5.c -- libFuzzer harness for the SOCKS5 parser.  The input is
 * fed with and without credentials, one-shot and split at a point taken
 * from the first byte, and the results must agree.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "linksocks.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
const char *fuzz_corpus_name = "socks5";

struct fuzz_result {
	enum socks5_state	 state;
	size_t			 inlen;
	size_t			 outlen;
	uint8_t			 out[1024];
	struct socks5		 s5;
};

static void	 fuzz_check(const struct socks5 *, size_t, size_t);
static void	 fuzz_run(const char *, const char *, const uint8_t *,
		    size_t, size_t, struct fuzz_result *);
static void	 fuzz_same(const struct fuzz_result *,
		    const struct fuzz_result *);

static void
fuzz_check(const struct socks5 *s5, size_t consumed, size_t outlen)
{
	switch (s5->s5_state) {
	case S5_GREETING:
	case S5_AUTH:
	case S5_REQUEST:
		if (s5->s5_error != NULL)
			abort();
		break;
	case S5_DONE:
		if (memchr(s5->s5_host, '\0', sizeof(s5->s5_host)) == NULL)
			abort();
		if (s5->s5_host[0] == '\0')
			abort();
		if (s5->s5_cmd != S5_CMD_CONNECT && s5->s5_cmd != S5_CMD_UDP)
			abort();
		if (s5->s5_atyp != S5_ATYP_IPV4 &&
		    s5->s5_atyp != S5_ATYP_DOMAIN &&
		    s5->s5_atyp != S5_ATYP_IPV6)
			abort();
		/* Smallest exchange: 05 01 00 + one-letter domain request. */
		if (consumed < 3 + 8)
			abort();
		break;
	case S5_FAILED:
		if (s5->s5_error == NULL || outlen == 0)
			abort();
		break;
	default:
		abort();
	}
	if (memchr(s5->s5_user_got, '\0', sizeof(s5->s5_user_got)) == NULL)
		abort();
	/* Replies so far: at most 2 + 2 + 10 bytes. */
	if (outlen > 14)
		abort();
	if (socks5_strstate(s5->s5_state) == NULL)
		abort();
}

/* Feed p[0..split) then p[split..len); split == len means one shot. */
static void
fuzz_run(const char *user, const char *pass, const uint8_t *p, size_t len,
    size_t split, struct fuzz_result *r)
{
	struct evbuffer		*in, *out;
	enum socks5_state	 st;

	if ((in = evbuffer_new()) == NULL || (out = evbuffer_new()) == NULL)
		abort();
	socks5_init(&r->s5, user, pass);
	evbuffer_add(in, p, split);
	st = socks5_input(&r->s5, in, out);
	if (st != r->s5.s5_state)
		abort();
	fuzz_check(&r->s5, split - evbuffer_get_length(in),
	    evbuffer_get_length(out));
	evbuffer_add(in, p + split, len - split);
	st = socks5_input(&r->s5, in, out);
	if (st != r->s5.s5_state)
		abort();
	/* A second call with nothing new changes nothing. */
	if (socks5_input(&r->s5, in, out) != st)
		abort();
	r->state = st;
	r->inlen = evbuffer_get_length(in);
	r->outlen = evbuffer_get_length(out);
	fuzz_check(&r->s5, len - r->inlen, r->outlen);
	if (r->inlen > len || r->outlen > sizeof(r->out))
		abort();
	evbuffer_remove(out, r->out, r->outlen);
	/* Bytes left in the input are a suffix of what was fed. */
	if (r->inlen > 0 && memcmp(evbuffer_pullup(in, -1),
	    p + len - r->inlen, r->inlen) != 0)
		abort();
	evbuffer_free(in);
	evbuffer_free(out);
}

static void
fuzz_same(const struct fuzz_result *a, const struct fuzz_result *b)
{
	if (a->state != b->state || a->inlen != b->inlen ||
	    a->outlen != b->outlen || memcmp(a->out, b->out, a->outlen) != 0)
		abort();
	if (a->state == S5_DONE &&
	    (strcmp(a->s5.s5_host, b->s5.s5_host) != 0 ||
	    a->s5.s5_port != b->s5.s5_port || a->s5.s5_cmd != b->s5.s5_cmd))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char	*creds[][2] = {
		{ NULL, NULL }, { "user", "secret" }, { "u", "" } };
	struct fuzz_result	*whole, *split;
	size_t			 i, at;

	if ((whole = malloc(sizeof(*whole))) == NULL ||
	    (split = malloc(sizeof(*split))) == NULL)
		abort();
	at = size > 0 ? data[0] % (size + 1) : 0;
	for (i = 0; i < LS_NITEMS(creds); i++) {
		fuzz_run(creds[i][0], creds[i][1], data, size, size, whole);
		fuzz_run(creds[i][0], creds[i][1], data, size, at, split);
		fuzz_same(whole, split);
	}
	free(whole);
	free(split);
	return (0);
}
