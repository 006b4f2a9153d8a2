/*
 * registry.c -- the token registry (spec 6.1) and provider groups.  The
 * master builds it from the command line before forking, so every worker
 * starts with the same copy; run-time changes (autonomy connector tokens)
 * are decided by the master and broadcast.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "linksocks.h"

static struct token *registry_match(const uint8_t *);

struct token_list registry_tokens = TAILQ_HEAD_INITIALIZER(registry_tokens);
struct group_list registry_groups = TAILQ_HEAD_INITIALIZER(registry_groups);

struct token *
registry_find(const char *tok)
{
	struct token	*tk;

	TAILQ_FOREACH(tk, &registry_tokens, tk_entry)
		if (strcmp(tk->tk_token, tok) == 0)
			return (tk);
	return (NULL);
}

/*
 * The token whose digest is d.  Every token is compared, in full, in
 * constant time: no early exit on a match or on a first differing byte.
 */
static struct token *
registry_match(const uint8_t *d)
{
	struct token	*tk, *found = NULL;

	TAILQ_FOREACH(tk, &registry_tokens, tk_entry)
		if (CRYPTO_memcmp(tk->tk_digest, d, LS_SHA256_LEN) == 0)
			found = tk;
	return (found);
}

/* A raw token as a peer presented it (Auth message). */
struct token *
registry_auth(const uint8_t *tok, size_t len)
{
	uint8_t	d[LS_SHA256_LEN];

	url_sha256(tok, len, d);
	return (registry_match(d));
}

/*
 * The 64 lower-case hex characters of a URL query token (spec 6.2 step
 * 2: exact, so upper case matches nothing).
 */
struct token *
registry_find_hash(const char *hash)
{
	uint8_t	d[LS_SHA256_LEN];
	size_t	i;

	if (strlen(hash) != 2 * LS_SHA256_LEN ||
	    strspn(hash, "0123456789abcdef") != 2 * LS_SHA256_LEN)
		return (NULL);
	for (i = 0; i < LS_SHA256_LEN; i++)
		d[i] = (uint8_t)(util_hexval((unsigned char)hash[2 * i]) << 4 |
		    util_hexval((unsigned char)hash[2 * i + 1]));
	return (registry_match(d));
}

/*
 * Add a token.  Empty tok = generate 16 hex characters.  For a connector,
 * target is the group key it maps to.  Errors use the reference's texts.
 */
struct token *
registry_add(enum token_kind kind, const char *tok, const char *target,
    char *err, size_t errlen)
{
	struct token	*tk, *old;
	char		 gen[17];
	int		 i;

	if (tok == NULL || *tok == '\0') {
		do
			util_token_generate(gen);
		while (registry_find(gen) != NULL);
		tok = gen;
	}
	if (strcmp(tok, "anonymous") == 0) {
		snprintf(err, errlen, kind == TOK_CONNECTOR ?
		    "'anonymous' is reserved and cannot be used as a connector "
		    "token" : "'anonymous' is reserved and cannot be used as a "
		    "token");
		return (NULL);
	}
	if (strlen(tok) > 255) {
		snprintf(err, errlen, "token is longer than 255 bytes");
		return (NULL);
	}
	if ((old = registry_find(tok)) != NULL) {
		if (kind == TOK_CONNECTOR && old->tk_kind == TOK_CONNECTOR &&
		    target != NULL && strcmp(old->tk_target, target) == 0)
			return (old);	/* idempotent re-add */
		snprintf(err, errlen, kind == TOK_CONNECTOR ?
		    "connector token already exists" : "token already exists");
		return (NULL);
	}
	if ((tk = calloc(1, sizeof(*tk))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (NULL);
	}
	tk->tk_kind = kind;
	tk->tk_token = util_xstrdup(tok);
	tk->tk_target = util_xstrdup(target);
	tk->tk_fd = -1;
	tk->tk_port = -1;
	for (i = 0; i < LS_MAX_WORKERS; i++)
		tk->tk_fds[i] = -1;
	url_sha256(tok, strlen(tok), tk->tk_digest);
	url_sha256_hex(tok, strlen(tok), tk->tk_hash);
	TAILQ_INSERT_TAIL(&registry_tokens, tk, tk_entry);
	if (kind == TOK_REVERSE)
		tk->tk_group = registry_group(tok, 1);
	if (tk->tk_group != NULL)
		tk->tk_group->g_token = tk;
	return (tk);
}

void
registry_remove(struct token *tk)
{
	TAILQ_REMOVE(&registry_tokens, tk, tk_entry);
	if (tk->tk_group != NULL && tk->tk_group->g_token == tk)
		tk->tk_group->g_token = NULL;
	limits_token_gone(tk);
	free(tk->tk_user);
	free(tk->tk_pass);
	rules_clear(&tk->tk_rules);
	json_decref(tk->tk_rules_json);
	free(tk->tk_token);
	free(tk->tk_target);
	free(tk->tk_owner);
	free(tk);
}

/* A kind as the API and the state file spell it. */
const char *
registry_kind_name(enum token_kind k)
{
	return (k == TOK_FORWARD ? "forward" : k == TOK_REVERSE ? "reverse" :
	    "connector");
}

struct group *
registry_group(const char *key, int create)
{
	struct group	*g;

	TAILQ_FOREACH(g, &registry_groups, g_entry)
		if (strcmp(g->g_key, key) == 0)
			return (g);
	if (!create || (g = calloc(1, sizeof(*g))) == NULL)
		return (NULL);
	g->g_key = util_xstrdup(key);
	TAILQ_INIT(&g->g_tunnels);
	TAILQ_INSERT_TAIL(&registry_groups, g, g_entry);
	return (g);
}

unsigned
registry_group_total(struct group *g)
{
	unsigned	i, n = 0;
	int		self = ls_worker != NULL ? ls_worker->w_idx : -1;

	for (i = 0; i < LS_MAX_WORKERS; i++)
		n += (int)i == self ? g->g_nlocal : g->g_count[i];
	return (n);
}

/*
 * An autonomy provider's own group: keyed by its instance, so a provider
 * that reconnects (same instance) finds its connector tokens still bound
 * to it (P-9 / P-14a).
 */
void
registry_internal_key(const struct token *tk, const uint8_t *instance,
    char *out, size_t len)
{
	char	uuid[37];

	url_uuid_format(instance, uuid);
	snprintf(out, len, "%s#%s", tk->tk_token, uuid);
}

void
registry_init(struct config *c)
{
	struct token	*tk, *ctk;
	char		 err[256];

	/*
	 * With an API key the tokens come from the API, as in the
	 * reference, unless the operator keeps the command line's too.
	 */
	if (c->c_napi_keys > 0 && !c->c_api_keep_cli)
		return;
	if (c->c_token == NULL) {
		/* Generated below by registry_add; remember it. */
		c->c_token_generated = 1;
	}
	if (!c->c_reverse) {
		if ((tk = registry_add(TOK_FORWARD, c->c_token, NULL, err,
		    sizeof(err))) == NULL)
			fatalx("%s", err);
		tk->tk_limits = c->c_limits;
		free(c->c_token);
		c->c_token = util_xstrdup(tk->tk_token);
		return;
	}
	if ((tk = registry_add(TOK_REVERSE, c->c_token, NULL, err,
	    sizeof(err))) == NULL)
		fatalx("%s", err);
	tk->tk_limits = c->c_limits;
	free(c->c_token);
	c->c_token = util_xstrdup(tk->tk_token);
	if (c->c_autonomy) {
		tk->tk_autonomy = 1;
		return;
	}
	tk->tk_port = c->c_socks_port;
	if (c->c_socks_user != NULL && *c->c_socks_user != '\0') {
		tk->tk_user = util_xstrdup(c->c_socks_user);
		tk->tk_pass = util_xstrdup(c->c_socks_pass);
	}
	if (c->c_connector_token == NULL)
		c->c_connector_token_generated = 1;
	if ((ctk = registry_add(TOK_CONNECTOR, c->c_connector_token,
	    tk->tk_token, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	ctk->tk_limits = c->c_limits;
	free(c->c_connector_token);
	c->c_connector_token = util_xstrdup(ctk->tk_token);
}
