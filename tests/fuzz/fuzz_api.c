/*
 * fuzz_api.c -- libFuzzer harness for the HTTP API's JSON half
 * (src/api.c), which reads whatever a client with a key sends: the
 * input is a request body, parsed as POST /api/token, DELETE
 * /api/token and PUT /api/config/access.  Whatever parses must hold
 * together: every rule text rules.c reads back, a token field has no
 * NUL, and the answers built from what was read are single-line JSON
 * objects that jansson reads back.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "linksocks.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
const char *fuzz_corpus_name = "api";

static void	 fuzz_check(int);
static void	 fuzz_rules(const struct api_rules *);
static void	 fuzz_body(char *);

static void
fuzz_check(int ok)
{
	if (!ok)
		abort();
}

/* Every text of a parsed list must parse again. */
static void
fuzz_rules(const struct api_rules *ar)
{
	struct rules	 rs;
	char		 err[256];
	size_t		 i;

	memset(&rs, 0, sizeof(rs));
	for (i = 0; i < ar->ar_n; i++)
		fuzz_check(rules_add(&rs, ar->ar_texts[i], err,
		    sizeof(err)) == 0);
	fuzz_check(rs.rs_n == ar->ar_n);
	rules_clear(&rs);
}

/* An answer: one JSON object, one line, a final newline. */
static void
fuzz_body(char *b)
{
	json_error_t	 je;
	json_t		*o;
	size_t		 n;

	fuzz_check(b != NULL);
	n = strlen(b);
	fuzz_check(n > 1 && b[n - 1] == '\n' && memchr(b, '\n', n - 1) ==
	    NULL);
	fuzz_check((o = json_loadb(b, n, 0, &je)) != NULL && json_is_object(o));
	json_decref(o);
	free(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_token_req	 r;
	struct api_access_req	 a;
	char			 err[512], *tok;
	const char		*body = (const char *)data;

	if (api_token_parse(body, size, &r, err, sizeof(err)) == 0) {
		fuzz_check(r.atr_kind == TOK_FORWARD ||
		    r.atr_kind == TOK_REVERSE || r.atr_kind == TOK_CONNECTOR);
		fuzz_check(r.atr_port >= 0 && r.atr_port <= 65535);
		fuzz_rules(&r.atr_rules);
		if (r.atr_token != NULL)
			fuzz_body(api_token_body(r.atr_token, r.atr_port));
		api_token_req_free(&r);
	} else {
		fuzz_check(strlen(err) > 0);
		fuzz_body(api_error_body(err));
	}
	if ((tok = api_delete_parse(body, size)) != NULL) {
		fuzz_check(*tok != '\0');
		fuzz_body(api_token_body(tok, -2));
		free(tok);
	}
	if (api_access_parse(body, size, &a, err, sizeof(err)) == 0) {
		fuzz_rules(&a.aa_entry);
		fuzz_rules(&a.aa_dial);
		fuzz_body(api_access_body(a.aa_entry.ar_json,
		    a.aa_dial.ar_json));
		api_access_req_free(&a);
	} else
		fuzz_body(api_error_body(err));
	return (0);
}
