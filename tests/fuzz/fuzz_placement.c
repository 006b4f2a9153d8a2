/*
 * fuzz_placement.c -- libFuzzer harness for what the master reads from
 * a tunnel client's peeked request head (placement_parse).  The input
 * is the peeked bytes (cut at 4095 and at a NUL, as recv gives them to
 * placement_place).  Where the worker's HTTP parser takes the same
 * bytes as a GET of /socket..., both must read the same token hash,
 * reverse flag and instance, so the client lands where it is served.
 * And the request a client builds (url_auth_target, with a token and a
 * query from the input) must be read back exactly.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "linksocks.h"

#define FUZZ_PEEK	4096	/* placement_place's buffer */

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
const char *fuzz_corpus_name = "placement";

static void	 fuzz_check(int);
static char	*fuzz_peek(const uint8_t *, size_t);
static void	 fuzz_http(const uint8_t *, size_t, const struct placement_req *,
		    int);
static void	 fuzz_client(const uint8_t *, size_t);

static void
fuzz_check(int ok)
{
	if (!ok)
		abort();
}

/* What recv(MSG_PEEK) of the input leaves in placement_place's buffer. */
static char *
fuzz_peek(const uint8_t *data, size_t size)
{
	char	*buf;
	size_t	 n = size < FUZZ_PEEK - 1 ? size : FUZZ_PEEK - 1;

	if ((buf = malloc(n + 1)) == NULL)
		abort();
	memcpy(buf, data, n);
	buf[n] = '\0';
	return (buf);
}

/*
 * The worker's reading of the same bytes (server_ws_request): where its
 * request line is a GET of /socket... within the peeked bytes, the
 * master must have found the same token, reverse and instance.
 */
static void
fuzz_http(const uint8_t *data, size_t size, const struct placement_req *pr,
    int pr_ok)
{
	struct evbuffer		*buf;
	struct http_head	 hh;
	char			 hash[80], rev[16], inst[64];
	uint8_t			 id[LS_CHANNEL_ID_LEN];
	int			 has_token, reverse, has_inst;

	if ((buf = evbuffer_new()) == NULL ||
	    evbuffer_add(buf, data, size) == -1)
		abort();
	memset(&hh, 0, sizeof(hh));
	if (http_parse_request(buf, &hh) != 1)
		goto done;
	if (strcmp(hh.hh_method, "GET") != 0 ||
	    strncmp(hh.hh_target, "/socket", 7) != 0 ||
	    4 + strlen(hh.hh_target) >= FUZZ_PEEK - 1)
		goto done;
	has_token = http_query_get(hh.hh_query, "token", hash, sizeof(hash));
	fuzz_check(pr_ok == (has_token ? 0 : -1));
	if (!has_token)
		goto done;
	fuzz_check(strcmp(hash, pr->pr_hash) == 0);
	reverse = !http_query_get(hh.hh_query, "reverse", rev, sizeof(rev)) ||
	    strcmp(rev, "true") == 0 || strcmp(rev, "1") == 0;
	fuzz_check(reverse == pr->pr_reverse);
	has_inst = http_query_get(hh.hh_query, "instance", inst,
	    sizeof(inst)) && util_parse_uuid(inst, id) == 0;
	fuzz_check(has_inst == pr->pr_has_instance);
	if (has_inst)
		fuzz_check(memcmp(id, pr->pr_instance, sizeof(id)) == 0);
 done:
	http_head_free(&hh);
	evbuffer_free(buf);
}

/*
 * A client's request: the token is the input up to the first NUL (at
 * most 255 bytes, as config_check allows), the query of the URL what
 * follows it; the instance and reverse come from the input's bytes.
 */
static void
fuzz_client(const uint8_t *data, size_t size)
{
	struct ls_url		 u;
	struct placement_req	 pr;
	const uint8_t		*nul;
	uint8_t			 instance[LS_CHANNEL_ID_LEN];
	char			 token[256], url[1100], target[2048], err[256];
	char			 head[2200], hash[65];
	size_t			 tlen, qlen, i;
	int			 reverse = (int)(size & 1);

	nul = memchr(data, '\0', size);
	tlen = nul != NULL ? (size_t)(nul - data) : size;
	if (tlen >= sizeof(token))
		return;
	memcpy(token, data, tlen);
	token[tlen] = '\0';
	qlen = 0;
	if (nul != NULL) {
		nul++;
		qlen = strnlen((const char *)nul, size - (size_t)(nul - data));
	}
	if (qlen > 1000)
		qlen = 1000;
	snprintf(url, sizeof(url), "ws://h/socket?%.*s", (int)qlen,
	    nul != NULL ? (const char *)nul : "");
	for (i = 0; i < sizeof(instance); i++)
		instance[i] = (uint8_t)(size > 0 ? data[i % size] + i : i);
	if (url_parse(url, &u, err, sizeof(err)) == -1 || !u.u_query_auth ||
	    url_auth_target(&u, token, reverse, instance, target,
	    sizeof(target)) == -1)
		return;
	snprintf(head, sizeof(head), "GET %s HTTP/1.1\r\nHost: h\r\n\r\n",
	    target);
	fuzz_check(placement_parse(head, &pr) == 0);
	url_sha256_hex(token, tlen, hash);
	fuzz_check(strcmp(pr.pr_hash, hash) == 0);
	fuzz_check(pr.pr_reverse == reverse);
	fuzz_check(pr.pr_has_instance);
	fuzz_check(memcmp(pr.pr_instance, instance, sizeof(instance)) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct placement_req	 pr;
	char			*buf;
	int			 r;

	buf = fuzz_peek(data, size);
	r = placement_parse(buf, &pr);
	fuzz_check(r == 0 || r == -1);
	if (r == 0) {
		fuzz_check(memchr(pr.pr_hash, '\0', sizeof(pr.pr_hash)) !=
		    NULL);
		fuzz_check(pr.pr_reverse == 0 || pr.pr_reverse == 1);
		fuzz_check(pr.pr_has_instance == 0 ||
		    pr.pr_has_instance == 1);
	}
	free(buf);
	fuzz_http(data, size, &pr, r);
	fuzz_client(data, size);
	return (0);
}
