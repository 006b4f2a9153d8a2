/*
 * fuzz_state.c -- libFuzzer harness for the state file (src/state.c),
 * which an operator edits by hand and a crash may cut short: the input
 * is a file's text.  What parses must hold together: every token is
 * 1..255 bytes without NUL, no two are the same, a reverse token has a
 * port or is an autonomy token, a connector names a reverse token, every
 * rule text reads back through rules.c, and the log level is known.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "linksocks.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
const char *fuzz_corpus_name = "state";

static void
fuzz_check(int ok)
{
	if (!ok)
		abort();
}

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
	rules_clear(&rs);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct state		 st;
	const struct state_token *se;
	char			 err[512];
	size_t			 i, j, n;

	if (state_parse((const char *)data, len, &st, err, sizeof(err)) ==
	    -1) {
		/* An error says what is wrong. */
		n = strlen(err);
		fuzz_check(n > 0);
		return (0);
	}
	for (i = 0; i < st.st_n; i++) {
		se = &st.st_tokens[i];
		n = strlen(se->se_token);
		fuzz_check(n >= 1 && n <= 255);
		fuzz_check(strcmp(se->se_token, "anonymous") != 0);
		for (j = 0; j < i; j++)
			fuzz_check(strcmp(st.st_tokens[j].se_token,
			    se->se_token) != 0);
		switch (se->se_kind) {
		case TOK_REVERSE:
			fuzz_check(se->se_autonomy ? se->se_port == -1 :
			    se->se_port >= 1 && se->se_port <= 65535);
			fuzz_check((se->se_user == NULL) ==
			    (se->se_pass == NULL));
			break;
		case TOK_CONNECTOR:
			fuzz_check(se->se_reverse != NULL &&
			    se->se_rules.ar_n == 0);
			break;
		case TOK_FORWARD:
			fuzz_check(se->se_port == -1 && se->se_user == NULL);
			break;
		default:
			fuzz_check(0);
		}
		fuzz_rules(&se->se_rules);
	}
	for (i = 0; i < 2; i++)
		if (st.st_has_access[i])
			fuzz_rules(&st.st_access[i]);
		else
			fuzz_check(st.st_access[i].ar_n == 0);
	fuzz_check(st.st_log_level >= -1 && st.st_log_level <= 2);
	state_free(&st);
	return (0);
}
