/*
 * state.c -- the token registry on disk (--state-file), in the master.
 *
 * One JSON object, written whole after every change and never in place:
 * a temporary file beside it is written, fsync'd and renamed over the
 * old one, then the directory is fsync'd, so a reader (or a restart
 * after a crash) sees the old file or the new one, never a part.
 *
 *	{ "version": 1,
 *	  "tokens": [
 *	    { "type": "forward", "token": "...", "rules": [...],
 *	      "limits": { "max_tunnels": 2, "download_rate": 10000000 } },
 *	    { "type": "reverse", "token": "...", "port": 1080,
 *	      "username": "...", "password": "...",
 *	      "allow_manage_connector": false, "rules": [...] },
 *	    { "type": "connector", "token": "...", "reverse_token": "...",
 *	      "provider": "<instance uuid>" } ],
 *	  "access": { "entry": [...], "dial": [...] },
 *	  "log_level": "info" }
 *
 * A token entry has the members of a POST /api/token body (rules in the
 * same JSON form); "provider" marks a connector token an autonomy
 * provider made.  Only tokens of the run time are in the file (the API,
 * autonomy providers); command-line tokens come from the command line.
 * "access" holds the lists PUT /api/config/access set (a side that is
 * absent is the command line's).  Everything is checked before anything
 * is used: a file that is not exactly this is an error naming the member.
 *
 * This file parses and renders; control.c decides what a state means
 * for the running registry.
 */
#include "config.h"

#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "linksocks.h"

#define STATE_MAX_SIZE		(64 * 1024 * 1024)
#define STATE_MAX_TOKENS	100000

static const char *const state_levels[] = { "info", "debug", "trace" };

static int	 state_token(json_t *, size_t, struct state_token *, char *,
		    size_t);
static int	 state_string(json_t *, const char *, size_t, char **, int,
		    char *, size_t);
static int	 state_uuid(const char *);
static int	 state_known(json_t *, const char *const *, const char *,
		    char *, size_t);

void
state_free(struct state *st)
{
	size_t	i;

	for (i = 0; i < st->st_n; i++) {
		free(st->st_tokens[i].se_token);
		free(st->st_tokens[i].se_user);
		free(st->st_tokens[i].se_pass);
		free(st->st_tokens[i].se_reverse);
		free(st->st_tokens[i].se_provider);
		api_rules_free(&st->st_tokens[i].se_rules);
	}
	free(st->st_tokens);
	api_rules_free(&st->st_access[0]);
	api_rules_free(&st->st_access[1]);
	memset(st, 0, sizeof(*st));
}

/* 8-4-4-4-12 lower-case hex digits, as url_uuid_format writes them. */
static int
state_uuid(const char *s)
{
	size_t	i;

	if (strlen(s) != 36)
		return (0);
	for (i = 0; i < 36; i++)
		if (i == 8 || i == 13 || i == 18 || i == 23 ? s[i] != '-' :
		    strchr("0123456789abcdef", s[i]) == NULL || s[i] == '\0')
			return (0);
	return (1);
}

/* Every member of o is one of names; else -1 naming it. */
static int
state_known(json_t *o, const char *const *names, const char *where,
    char *err, size_t errlen)
{
	const char	*key;
	json_t		*v;
	size_t		 i;

	json_object_foreach(o, key, v) {
		for (i = 0; names[i] != NULL; i++)
			if (strcmp(key, names[i]) == 0)
				break;
		if (names[i] == NULL) {
			snprintf(err, errlen, "%s: unknown member \"%s%s\"",
			    where, log_str((const uint8_t *)key,
			    strlen(key) > 64 ? 64 : strlen(key)),
			    strlen(key) > 64 ? "..." : "");
			return (-1);
		}
	}
	return (0);
}

/* A string member of at most max bytes, no NUL; need: required. */
static int
state_string(json_t *o, const char *name, size_t max, char **out, int need,
    char *err, size_t errlen)
{
	json_t	*v;

	*out = NULL;
	if ((v = json_object_get(o, name)) == NULL || json_is_null(v)) {
		if (!need)
			return (0);
		snprintf(err, errlen, "\"%s\" is missing", name);
		return (-1);
	}
	if (!json_is_string(v) ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		snprintf(err, errlen, "\"%s\" must be a string", name);
		return (-1);
	}
	if (json_string_length(v) > max || (need && *json_string_value(v) ==
	    '\0')) {
		snprintf(err, errlen, "\"%s\" must be 1..%zu bytes", name, max);
		return (-1);
	}
	*out = util_xstrdup(json_string_value(v));
	return (0);
}

static int
state_token(json_t *o, size_t idx, struct state_token *se, char *err,
    size_t errlen)
{
	static const char *const names[] = { "type", "token", "port",
	    "username", "password", "allow_manage_connector", "reverse_token",
	    "provider", "rules", "limits", NULL };
	json_t		*v;
	const char	*type;
	char		 where[64], e[400];
	json_int_t	 port;

	snprintf(where, sizeof(where), "tokens[%zu]", idx);
	memset(se, 0, sizeof(*se));
	se->se_port = -1;
	if (!json_is_object(o)) {
		snprintf(err, errlen, "%s must be an object", where);
		return (-1);
	}
	if (state_known(o, names, where, err, errlen) == -1)
		return (-1);
	v = json_object_get(o, "type");
	type = json_is_string(v) ? json_string_value(v) : "";
	if (strcmp(type, "forward") == 0)
		se->se_kind = TOK_FORWARD;
	else if (strcmp(type, "reverse") == 0)
		se->se_kind = TOK_REVERSE;
	else if (strcmp(type, "connector") == 0)
		se->se_kind = TOK_CONNECTOR;
	else {
		snprintf(err, errlen, "%s: \"type\" must be \"forward\", "
		    "\"reverse\" or \"connector\"", where);
		return (-1);
	}
	if (state_string(o, "token", 255, &se->se_token, 1, e,
	    sizeof(e)) == -1 ||
	    state_string(o, "username", 255, &se->se_user, 0, e,
	    sizeof(e)) == -1 ||
	    state_string(o, "password", 255, &se->se_pass, 0, e,
	    sizeof(e)) == -1 ||
	    state_string(o, "reverse_token", 255, &se->se_reverse,
	    se->se_kind == TOK_CONNECTOR, e, sizeof(e)) == -1 ||
	    state_string(o, "provider", 36, &se->se_provider, 0, e,
	    sizeof(e)) == -1)
		goto bad;
	if (strcmp(se->se_token, "anonymous") == 0) {
		snprintf(e, sizeof(e), "\"anonymous\" is reserved");
		goto bad;
	}
	if ((v = json_object_get(o, "port")) != NULL && !json_is_null(v)) {
		if (!json_is_integer(v) || (port = json_integer_value(v)) < 1 ||
		    port > 65535) {
			snprintf(e, sizeof(e), "\"port\" must be an integer "
			    "1..65535");
			goto bad;
		}
		se->se_port = (int)port;
	}
	if ((v = json_object_get(o, "allow_manage_connector")) != NULL &&
	    !json_is_null(v)) {
		if (!json_is_boolean(v)) {
			snprintf(e, sizeof(e), "\"allow_manage_connector\" "
			    "must be a boolean");
			goto bad;
		}
		se->se_autonomy = json_is_true(v);
	}
	if (api_rules_parse(json_object_get(o, "rules"), &se->se_rules, e,
	    sizeof(e)) == -1)
		goto bad;
	if (api_limits_parse(json_object_get(o, "limits"), &se->se_limits, e,
	    sizeof(e)) == -1)
		goto bad;
	/* What each kind needs, and nothing it cannot have. */
	switch (se->se_kind) {
	case TOK_REVERSE:
		if (se->se_autonomy != (se->se_port == -1)) {
			snprintf(e, sizeof(e), se->se_autonomy ? "an autonomy "
			    "token has no \"port\"" : "\"port\" is missing");
			goto bad;
		}
		if ((se->se_user == NULL) != (se->se_pass == NULL) ||
		    (se->se_user != NULL && (*se->se_user == '\0' ||
		    *se->se_pass == '\0'))) {
			snprintf(e, sizeof(e), "\"username\" and \"password\" "
			    "go together and are not empty");
			goto bad;
		}
		if (se->se_reverse != NULL || se->se_provider != NULL) {
			snprintf(e, sizeof(e), "\"reverse_token\" and "
			    "\"provider\" are for connector tokens");
			goto bad;
		}
		break;
	case TOK_CONNECTOR:
		if (se->se_rules.ar_n > 0 || se->se_rules.ar_json != NULL) {
			snprintf(e, sizeof(e), "a connector token has no "
			    "\"rules\"");
			goto bad;
		}
		/* FALLTHROUGH */
	case TOK_FORWARD:
		if (se->se_port != -1 || se->se_user != NULL ||
		    se->se_pass != NULL || se->se_autonomy) {
			snprintf(e, sizeof(e), "\"port\", \"username\", "
			    "\"password\" and \"allow_manage_connector\" are "
			    "for reverse tokens");
			goto bad;
		}
		if (se->se_kind == TOK_FORWARD && (se->se_reverse != NULL ||
		    se->se_provider != NULL)) {
			snprintf(e, sizeof(e), "\"reverse_token\" and "
			    "\"provider\" are for connector tokens");
			goto bad;
		}
		break;
	}
	if (se->se_provider != NULL && !state_uuid(se->se_provider)) {
		snprintf(e, sizeof(e), "\"provider\" must be a UUID");
		goto bad;
	}
	return (0);
 bad:
	snprintf(err, errlen, "%s: %s", where, e);
	return (-1);
}

/*
 * Parse a state file's text.  0, or -1 with what is wrong in err; st is
 * filled only on success (and is state_free'd by the caller).
 */
int
state_parse(const char *buf, size_t len, struct state *st, char *err,
    size_t errlen)
{
	static const char *const top[] = { "version", "tokens", "access",
	    "log_level", NULL };
	static const char *const sides[] = { "entry", "dial", NULL };
	json_error_t	 je;
	json_t		*o, *v, *a;
	const char	*name;
	size_t		 i, j;
	char		 e[400];
	int		 side;

	memset(st, 0, sizeof(*st));
	st->st_log_level = -1;
	if ((o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je)) == NULL) {
		snprintf(err, errlen, "not JSON (line %d: %s)", je.line,
		    log_strz(je.text));
		return (-1);
	}
	if (!json_is_object(o)) {
		snprintf(err, errlen, "not a JSON object");
		goto bad;
	}
	if (state_known(o, top, "the file", err, errlen) == -1)
		goto bad;
	v = json_object_get(o, "version");
	if (!json_is_integer(v) || json_integer_value(v) != STATE_VERSION) {
		snprintf(err, errlen, "\"version\" must be %d", STATE_VERSION);
		goto bad;
	}
	v = json_object_get(o, "tokens");
	if (!json_is_array(v)) {
		snprintf(err, errlen, "\"tokens\" must be an array");
		goto bad;
	}
	if (json_array_size(v) > STATE_MAX_TOKENS) {
		snprintf(err, errlen, "more than %d tokens", STATE_MAX_TOKENS);
		goto bad;
	}
	if ((st->st_tokens = calloc(json_array_size(v) + 1,
	    sizeof(*st->st_tokens))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto bad;
	}
	json_array_foreach(v, i, a) {
		st->st_n = i + 1;	/* freed with st, even if half made */
		if (state_token(a, i, &st->st_tokens[i], err, errlen) == -1)
			goto bad;
		for (j = 0; j < i; j++)
			if (strcmp(st->st_tokens[j].se_token,
			    st->st_tokens[i].se_token) == 0) {
				snprintf(err, errlen, "tokens[%zu]: the same "
				    "token as tokens[%zu]", i, j);
				goto bad;
			}
	}
	if ((v = json_object_get(o, "access")) != NULL) {
		if (!json_is_object(v)) {
			snprintf(err, errlen, "\"access\" must be an object");
			goto bad;
		}
		if (state_known(v, sides, "access", err, errlen) == -1)
			goto bad;
		for (side = 0; side < 2; side++) {
			name = side == ACCESS_ENTRY ? "entry" : "dial";
			a = json_object_get(v, name);
			if (a == NULL)
				continue;
			if (!json_is_array(a)) {
				snprintf(err, errlen, "access.%s must be an "
				    "array", name);
				goto bad;
			}
			if (api_rules_parse(a, &st->st_access[side], e,
			    sizeof(e)) == -1) {
				snprintf(err, errlen, "access.%s: %s", name,
				    e);
				goto bad;
			}
			st->st_has_access[side] = 1;
		}
	}
	if ((v = json_object_get(o, "log_level")) != NULL) {
		for (i = 0; i < LS_NITEMS(state_levels); i++)
			if (json_is_string(v) &&
			    strcmp(json_string_value(v), state_levels[i]) == 0)
				break;
		if (i == LS_NITEMS(state_levels)) {
			snprintf(err, errlen, "\"log_level\" must be \"info\", "
			    "\"debug\" or \"trace\"");
			goto bad;
		}
		st->st_log_level = (int)i;
	}
	json_decref(o);
	return (0);
 bad:
	json_decref(o);
	state_free(st);
	return (-1);
}

/*
 * Read and parse path.  0 read; 1 there is no such file (nothing saved
 * yet); -1 with the reason in err (unreadable, too big, not valid).
 */
int
state_read(const char *path, struct state *st, char *err, size_t errlen)
{
	struct stat	 sb;
	char		*buf;
	ssize_t		 n;
	size_t		 len = 0;
	int		 fd, r;

	memset(st, 0, sizeof(*st));
	st->st_log_level = -1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return (1);
		snprintf(err, errlen, "%s", strerror(errno));
		return (-1);
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    sb.st_size > STATE_MAX_SIZE) {
		snprintf(err, errlen, "%s", !S_ISREG(sb.st_mode) ?
		    "not a regular file" : "larger than 64 MiB");
		close(fd);
		return (-1);
	}
	if ((buf = malloc((size_t)sb.st_size + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		close(fd);
		return (-1);
	}
	while (len < (size_t)sb.st_size) {
		n = read(fd, buf + len, (size_t)sb.st_size - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (len != (size_t)sb.st_size) {
		snprintf(err, errlen, "short read");
		free(buf);
		return (-1);
	}
	r = state_parse(buf, len, st, err, errlen);
	free(buf);
	return (r);
}

/* A token as a state entry (NULL: not one of the run time's). */
static json_t *
state_token_json(const struct token *tk)
{
	json_t		*o;
	const char	*hash;

	if (!tk->tk_api && tk->tk_owner == NULL)
		return (NULL);
	o = json_object();
	json_object_set_new(o, "type",
	    json_string(registry_kind_name(tk->tk_kind)));
	json_object_set_new(o, "token", json_string(tk->tk_token));
	switch (tk->tk_kind) {
	case TOK_REVERSE:
		if (tk->tk_autonomy)
			json_object_set_new(o, "allow_manage_connector",
			    json_true());
		else
			json_object_set_new(o, "port",
			    json_integer(tk->tk_port));
		if (tk->tk_user != NULL) {
			json_object_set_new(o, "username",
			    json_string(tk->tk_user));
			json_object_set_new(o, "password",
			    json_string(tk->tk_pass));
		}
		break;
	case TOK_CONNECTOR:
		/* Its group: "<reverse token>" or "<token>#<instance>". */
		if ((hash = strrchr(tk->tk_target, '#')) != NULL &&
		    tk->tk_owner != NULL) {
			json_object_set_new(o, "reverse_token",
			    json_stringn(tk->tk_target,
			    (size_t)(hash - tk->tk_target)));
			json_object_set_new(o, "provider", json_string(hash + 1));
		} else
			json_object_set_new(o, "reverse_token",
			    json_string(tk->tk_target));
		break;
	case TOK_FORWARD:
		break;
	}
	if (tk->tk_kind != TOK_CONNECTOR && tk->tk_rules_json != NULL)
		json_object_set(o, "rules", tk->tk_rules_json);
	if (tk->tk_limits.tl_max_tunnels != 0 ||
	    tk->tk_limits.tl_max_channels != 0 ||
	    tk->tk_limits.tl_upload != 0 || tk->tk_limits.tl_download != 0)
		json_object_set_new(o, "limits",
		    api_limits_json(&tk->tk_limits));
	return (o);
}

/*
 * The registry and the API's access lists (NULL: not set) as the text
 * of a state file; malloc'd.
 */
char *
state_render(json_t *entry, json_t *dial, int log_level)
{
	struct token	*tk;
	json_t		*o, *tokens, *access, *t;
	char		*s;

	o = json_object();
	json_object_set_new(o, "version", json_integer(STATE_VERSION));
	tokens = json_array();
	TAILQ_FOREACH(tk, &registry_tokens, tk_entry)
		if ((t = state_token_json(tk)) != NULL)
			json_array_append_new(tokens, t);
	json_object_set_new(o, "tokens", tokens);
	if (entry != NULL || dial != NULL) {
		access = json_object();
		if (entry != NULL)
			json_object_set(access, "entry", entry);
		if (dial != NULL)
			json_object_set(access, "dial", dial);
		json_object_set_new(o, "access", access);
	}
	if (log_level >= 0 && log_level < (int)LS_NITEMS(state_levels))
		json_object_set_new(o, "log_level",
		    json_string(state_levels[log_level]));
	s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	return (s);
}

const char *
state_level_name(int level)
{
	if (level < 0 || level >= (int)LS_NITEMS(state_levels))
		return ("?");
	return (state_levels[level]);
}

/*
 * Replace path with text atomically: a temporary file in the same
 * directory, written and fsync'd, renamed over path, and the directory
 * fsync'd.  The file is made mode 0600: it holds tokens and passwords.
 * 0, or -1 with the reason in err (path is then untouched).
 */
int
state_write(const char *path, const char *text, char *err, size_t errlen)
{
	char		 tmp[PATH_MAX], dir[PATH_MAX], *slash;
	size_t		 len = strlen(text), off = 0;
	ssize_t		 n;
	int		 fd, dfd;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >=
	    (int)sizeof(tmp)) {
		snprintf(err, errlen, "path too long");
		return (-1);
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		return (-1);
	}
	while (off < len) {
		n = write(fd, text + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			goto fail;
		off += (size_t)n;
	}
	if (write(fd, "\n", 1) != 1 || fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) == -1)
		goto fail;
	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    fsync(dfd) == -1) {
		snprintf(err, errlen, "fsync %s: %s", dir, strerror(errno));
		if (dfd != -1)
			close(dfd);
		return (-1);
	}
	close(dfd);
	return (0);
 fail:
	snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
	if (fd != -1)
		close(fd);
	unlink(tmp);
	return (-1);
}
