/*
 * api.c -- the HTTP API's requests and answers as JSON (spec 11): parse
 * and type-check a request body, write an answer body.  Pure: text in,
 * structs out, no registry, no sockets; control.c does the work and
 * the fuzzer (tests/fuzz/fuzz_api.c) and check_api feed it anything.
 *
 * Every answer is one compact JSON object and a newline, with the keys
 * in the reference's order, so byte-exact clients see what they expect.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "linksocks.h"

#define API_RULES_MAX	256	/* rules in one list */
#define API_RULE_TEXT	1000	/* bytes of one rule as text */

static int	 api_string(json_t *, const char *, char **, char *, size_t);
static char	*api_dump(json_t *);
static int	 api_rule_text(json_t *, size_t, char *, size_t, char *,
		    size_t);

/* An optional string field: 0 (absent or set), -1 wrong type. */
static int
api_string(json_t *o, const char *name, char **out, char *err,
    size_t errlen)
{
	json_t	*v;

	*out = NULL;
	if ((v = json_object_get(o, name)) == NULL || json_is_null(v))
		return (0);
	if (!json_is_string(v)) {
		snprintf(err, errlen, "field \"%s\" must be a string", name);
		return (-1);
	}
	if (strlen(json_string_value(v)) != json_string_length(v)) {
		snprintf(err, errlen, "field \"%s\" contains a NUL byte", name);
		return (-1);
	}
	*out = util_xstrdup(json_string_value(v));
	return (0);
}

void
api_rules_free(struct api_rules *ar)
{
	size_t	i;

	for (i = 0; i < ar->ar_n; i++)
		free(ar->ar_texts[i]);
	free(ar->ar_texts);
	json_decref(ar->ar_json);
	memset(ar, 0, sizeof(*ar));
}

/*
 * One rule of the reference's JSON form, {"addrs": ["10.0.0.0/8", ...],
 * "ports": [22, [8000, 9000]]}, as the text rules.c reads:
 * "[A,B]:P,Q-R" ("*" for an empty list).  0, or -1 with err.
 */
static int
api_rule_text(json_t *r, size_t idx, char *out, size_t outlen, char *err,
    size_t errlen)
{
	json_t		*addrs, *ports, *v, *lo, *hi;
	const char	*key, *a;
	size_t		 i, len = 0;
	json_int_t	 p, q;
	int		 n;

#define APPEND(...) do {						\
	n = snprintf(out + len, outlen - len, __VA_ARGS__);		\
	if (n < 0 || (size_t)n >= outlen - len) {			\
		snprintf(err, errlen, "rule %zu is too long", idx + 1);	\
		return (-1);						\
	}								\
	len += (size_t)n;						\
} while (0)

	if (!json_is_object(r)) {
		snprintf(err, errlen, "rule %zu must be an object with \"addrs\" "
		    "and \"ports\"", idx + 1);
		return (-1);
	}
	json_object_foreach(r, key, v)
		if (strcmp(key, "addrs") != 0 && strcmp(key, "ports") != 0) {
			snprintf(err, errlen, "rule %zu: unknown field \"%s\"",
			    idx + 1, log_strz(key));
			return (-1);
		}
	addrs = json_object_get(r, "addrs");
	ports = json_object_get(r, "ports");
	if ((addrs != NULL && !json_is_null(addrs) && !json_is_array(addrs)) ||
	    (ports != NULL && !json_is_null(ports) && !json_is_array(ports))) {
		snprintf(err, errlen, "rule %zu: \"addrs\" and \"ports\" must "
		    "be arrays", idx + 1);
		return (-1);
	}
	out[0] = '\0';
	if (addrs == NULL || json_array_size(addrs) == 0)
		APPEND("*");
	else {
		APPEND("[");
		json_array_foreach(addrs, i, v) {
			if (!json_is_string(v) || (a = json_string_value(v),
			    strlen(a) != json_string_length(v)) ||
			    strpbrk(a, ",[]") != NULL || *a == '\0') {
				snprintf(err, errlen, "rule %zu: \"addrs\" must "
				    "hold address strings", idx + 1);
				return (-1);
			}
			APPEND("%s%s", i > 0 ? "," : "", a);
		}
		APPEND("]");
	}
	if (ports == NULL || json_array_size(ports) == 0)
		return (0);
	APPEND(":");
	json_array_foreach(ports, i, v) {
		if (json_is_integer(v)) {
			p = q = json_integer_value(v);
		} else if (json_is_array(v) && json_array_size(v) == 2 &&
		    json_is_integer(lo = json_array_get(v, 0)) &&
		    json_is_integer(hi = json_array_get(v, 1))) {
			p = json_integer_value(lo);
			q = json_integer_value(hi);
		} else {
			snprintf(err, errlen, "rule %zu: a port is a number or "
			    "[low, high]", idx + 1);
			return (-1);
		}
		if (p < 1 || p > 65535 || q < 1 || q > 65535) {
			snprintf(err, errlen, "rule %zu: port out of range "
			    "1..65535", idx + 1);
			return (-1);
		}
		if (p == q)
			APPEND("%s%lld", i > 0 ? "," : "", (long long)p);
		else
			APPEND("%s%lld-%lld", i > 0 ? "," : "", (long long)p,
			    (long long)q);
	}
	return (0);
#undef APPEND
}

/*
 * A rule list (JSON null or an array of rules): each rule checked by
 * rules.c, kept as text for the workers and as JSON for GET.  0, or -1
 * with err naming the rule and the problem.
 */
int
api_rules_parse(json_t *v, struct api_rules *ar, char *err, size_t errlen)
{
	struct rules	 rs;
	json_t		*r;
	char		 text[API_RULE_TEXT], e[256];
	size_t		 i;

	memset(ar, 0, sizeof(*ar));
	memset(&rs, 0, sizeof(rs));
	if (v == NULL || json_is_null(v))
		return (0);
	if (!json_is_array(v)) {
		snprintf(err, errlen, "rules must be an array");
		return (-1);
	}
	if (json_array_size(v) > API_RULES_MAX) {
		snprintf(err, errlen, "more than %d rules", API_RULES_MAX);
		return (-1);
	}
	if ((ar->ar_texts = calloc(json_array_size(v) + 1,
	    sizeof(*ar->ar_texts))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	json_array_foreach(v, i, r) {
		if (api_rule_text(r, i, text, sizeof(text), err, errlen) == -1)
			goto bad;
		if (rules_add(&rs, text, e, sizeof(e)) == -1) {
			snprintf(err, errlen, "rule %zu: %s", i + 1, e);
			goto bad;
		}
		ar->ar_texts[ar->ar_n++] = util_xstrdup(text);
	}
	rules_clear(&rs);
	ar->ar_json = json_deep_copy(v);
	return (0);
 bad:
	rules_clear(&rs);
	api_rules_free(ar);
	return (-1);
}

/* PUT /api/config/access: a list present replaces, a missing one stays. */
int
api_access_parse(const char *body, size_t len, struct api_access_req *r,
    char *err, size_t errlen)
{
	json_error_t	 je;
	json_t		*o, *v;
	char		 e[300];

	memset(r, 0, sizeof(*r));
	if ((o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je)) == NULL ||
	    !json_is_object(o)) {
		snprintf(err, errlen, "invalid request body");
		json_decref(o);
		return (-1);
	}
	if ((v = json_object_get(o, "entry")) != NULL) {
		r->aa_has_entry = 1;
		if (api_rules_parse(v, &r->aa_entry, e, sizeof(e)) == -1) {
			snprintf(err, errlen, "entry: %s", e);
			goto bad;
		}
	}
	if ((v = json_object_get(o, "dial")) != NULL) {
		r->aa_has_dial = 1;
		if (api_rules_parse(v, &r->aa_dial, e, sizeof(e)) == -1) {
			snprintf(err, errlen, "dial: %s", e);
			goto bad;
		}
	}
	json_decref(o);
	return (0);
 bad:
	json_decref(o);
	api_access_req_free(r);
	return (-1);
}

void
api_access_req_free(struct api_access_req *r)
{
	api_rules_free(&r->aa_entry);
	api_rules_free(&r->aa_dial);
	memset(r, 0, sizeof(*r));
}

/* {"entry":[...],"dial":[...]}, null for a list never set. */
char *
api_access_body(json_t *entry, json_t *dial)
{
	json_t	*o;

	if ((o = json_object()) == NULL)
		return (NULL);
	json_object_set(o, "entry", entry != NULL ? entry : json_null());
	json_object_set(o, "dial", dial != NULL ? dial : json_null());
	return (api_dump(o));
}

/*
 * A token's "limits" object (not ours in the reference): each member
 * optional, a non-negative integer, 0 = none.  Anything else, or an
 * unknown member, is a 400 naming it.
 */
int
api_limits_parse(json_t *v, struct token_limits *out, char *err,
    size_t errlen)
{
	static const struct {
		const char	*name;
		int		 wide;		/* 64 bits, else 32 */
	} fields[] = {
		{ "max_tunnels", 0 },
		{ "max_channels", 0 },
		{ "upload_rate", 1 },
		{ "download_rate", 1 },
	};
	const char	*key;
	json_t		*f;
	json_int_t	 n;
	size_t		 i;

	memset(out, 0, sizeof(*out));
	if (v == NULL || json_is_null(v))
		return (0);
	if (!json_is_object(v)) {
		snprintf(err, errlen, "limits must be an object");
		return (-1);
	}
	json_object_foreach(v, key, f) {
		for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
			if (strcmp(key, fields[i].name) == 0)
				break;
		if (i == sizeof(fields) / sizeof(fields[0])) {
			snprintf(err, errlen, "limits: unknown field \"%s\"",
			    log_strz(key));
			return (-1);
		}
		if (!json_is_integer(f) || (n = json_integer_value(f)) < 0 ||
		    (!fields[i].wide && (uint64_t)n > UINT32_MAX)) {
			snprintf(err, errlen, "limits.%s must be a non-negative "
			    "integer%s", fields[i].name, fields[i].wide ? "" :
			    " (at most 4294967295)");
			return (-1);
		}
		switch (i) {
		case 0:
			out->tl_max_tunnels = (uint32_t)n;
			break;
		case 1:
			out->tl_max_channels = (uint32_t)n;
			break;
		case 2:
			out->tl_upload = (uint64_t)n;
			break;
		default:
			out->tl_download = (uint64_t)n;
			break;
		}
	}
	return (0);
}

/* All four members, 0 for none: for the status and the state file. */
json_t *
api_limits_json(const struct token_limits *tl)
{
	json_t	*o;

	if ((o = json_object()) == NULL)
		return (NULL);
	json_object_set_new(o, "max_tunnels",
	    json_integer((json_int_t)tl->tl_max_tunnels));
	json_object_set_new(o, "max_channels",
	    json_integer((json_int_t)tl->tl_max_channels));
	json_object_set_new(o, "upload_rate",
	    json_integer((json_int_t)tl->tl_upload));
	json_object_set_new(o, "download_rate",
	    json_integer((json_int_t)tl->tl_download));
	return (o);
}

void
api_token_req_free(struct api_token_req *r)
{
	free(r->atr_token);
	free(r->atr_user);
	free(r->atr_pass);
	free(r->atr_reverse_token);
	api_rules_free(&r->atr_rules);
	memset(r, 0, sizeof(*r));
}

/*
 * POST /api/token.  0: parsed; -1: 400 with the text in err (the
 * reference's "invalid request body" and "invalid token type", or the
 * field whose type is wrong).
 */
int
api_token_parse(const char *body, size_t len, struct api_token_req *r,
    char *err, size_t errlen)
{
	json_error_t	 je;
	json_t		*o, *v;
	const char	*type;
	json_int_t	 port;
	char		 e[300];

	memset(r, 0, sizeof(*r));
	if ((o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je)) == NULL ||
	    !json_is_object(o)) {
		snprintf(err, errlen, "invalid request body");
		json_decref(o);
		return (-1);
	}
	if ((v = json_object_get(o, "type")) != NULL && !json_is_string(v)) {
		snprintf(err, errlen, "field \"type\" must be a string");
		goto bad;
	}
	type = v != NULL ? json_string_value(v) : "";
	if (strcmp(type, "forward") == 0)
		r->atr_kind = TOK_FORWARD;
	else if (strcmp(type, "reverse") == 0)
		r->atr_kind = TOK_REVERSE;
	else if (strcmp(type, "connector") == 0)
		r->atr_kind = TOK_CONNECTOR;
	else {
		snprintf(err, errlen, "invalid token type");
		goto bad;
	}
	if (api_string(o, "token", &r->atr_token, err, errlen) == -1 ||
	    api_string(o, "username", &r->atr_user, err, errlen) == -1 ||
	    api_string(o, "password", &r->atr_pass, err, errlen) == -1 ||
	    api_string(o, "reverse_token", &r->atr_reverse_token, err,
	    errlen) == -1)
		goto bad;
	if ((v = json_object_get(o, "port")) != NULL && !json_is_null(v)) {
		if (!json_is_integer(v)) {
			snprintf(err, errlen, "field \"port\" must be an "
			    "integer");
			goto bad;
		}
		port = json_integer_value(v);
		if (port < 0 || port > 65535) {
			snprintf(err, errlen, "field \"port\" must be 0..65535");
			goto bad;
		}
		r->atr_port = (int)port;
	}
	if ((v = json_object_get(o, "allow_manage_connector")) != NULL &&
	    !json_is_null(v)) {
		if (!json_is_boolean(v)) {
			snprintf(err, errlen, "field \"allow_manage_connector\" "
			    "must be a boolean");
			goto bad;
		}
		r->atr_autonomy = json_is_true(v);
	}
	if (api_rules_parse(json_object_get(o, "rules"), &r->atr_rules, e,
	    sizeof(e)) == -1) {
		snprintf(err, errlen, "field \"rules\": %s", e);
		goto bad;
	}
	if (api_limits_parse(json_object_get(o, "limits"), &r->atr_limits,
	    err, errlen) == -1)
		goto bad;
	if ((r->atr_user != NULL && strlen(r->atr_user) > 255) ||
	    (r->atr_pass != NULL && strlen(r->atr_pass) > 255)) {
		snprintf(err, errlen, "username and password are limited to "
		    "255 bytes");
		goto bad;
	}
	json_decref(o);
	return (0);
 bad:
	json_decref(o);
	api_token_req_free(r);
	return (-1);
}

/*
 * DELETE /api/token: the body's "token".  NULL (the reference's
 * "token not specified") for anything but an object with a non-empty
 * string token.
 */
char *
api_delete_parse(const char *body, size_t len)
{
	json_error_t	 je;
	json_t		*o, *v;
	char		*tok = NULL;

	if ((o = json_loadb(body, len, 0, &je)) == NULL)
		return (NULL);
	if (json_is_object(o) && (v = json_object_get(o, "token")) != NULL &&
	    json_is_string(v) && json_string_length(v) > 0 &&
	    strlen(json_string_value(v)) == json_string_length(v))
		tok = util_xstrdup(json_string_value(v));
	json_decref(o);
	return (tok);
}

/* Compact JSON and a newline, malloc'd. */
static char *
api_dump(json_t *o)
{
	char	*s, *line;
	size_t	 n;

	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (s == NULL)
		return (NULL);
	n = strlen(s);
	if ((line = malloc(n + 2)) != NULL) {
		memcpy(line, s, n);
		line[n] = '\n';
		line[n + 1] = '\0';
	}
	free(s);
	return (line);
}

/* {"success":false,"error":"..."} */
char *
api_error_body(const char *error)
{
	json_t	*o;

	if ((o = json_object()) == NULL)
		return (NULL);
	json_object_set_new(o, "success", json_false());
	json_object_set_new(o, "error", json_string(error));
	return (api_dump(o));
}

/* {"success":true,"token":"...","port":N}: port < -1 leaves it out. */
char *
api_token_body(const char *token, int port)
{
	json_t	*o;

	if ((o = json_object()) == NULL)
		return (NULL);
	json_object_set_new(o, "success", json_true());
	json_object_set_new(o, "token", json_string(token));
	if (port >= -1)
		json_object_set_new(o, "port", json_integer(port));
	return (api_dump(o));
}

/* The status document: the caller fills it, this writes it. */
char *
api_status_body(json_t *o)
{
	return (api_dump(o));
}
