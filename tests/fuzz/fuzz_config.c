/*
 * fuzz_config.c -- libFuzzer harness for the command line and the
 * LINKSOCKS_* environment (config_load).  The input is NUL-separated
 * words: "LINKSOCKS_NAME=value" for a name on the list below sets that
 * variable (every one is unset before each input), any other word is
 * the next argument after argv[0].  config_noexit makes help and errors
 * return instead of exit.  A configuration that loads must be within
 * the documented ranges, and is freed again.
 *
 * The parser prints its errors and usage texts; run the libFuzzer
 * binary with -close_fd_mask=3 to keep them off the terminal.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linksocks.h"

#define FUZZ_MAXWORDS	48
#define FUZZ_ENVLEN	4200	/* past config_env's 4096 */

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
const char *fuzz_corpus_name = "config";

static const char *const fuzz_env[] = {
	"LINKSOCKS_MODE",
	"LINKSOCKS_TOKEN",
	"LINKSOCKS_FASTOPEN",
	"LINKSOCKS_CONNECTOR_TOKEN",
	"LINKSOCKS_SOCKS_HOST",
	"LINKSOCKS_SOCKS_PORT",
	"LINKSOCKS_SOCKS_USERNAME",
	"LINKSOCKS_SOCKS_PASSWORD",
	"LINKSOCKS_API_KEY",
	"LINKSOCKS_UPSTREAM_PROXY",
	"LINKSOCKS_WEBSOCKET_HOST",
	"LINKSOCKS_WEBSOCKET_PORT",
	"LINKSOCKS_CONNECTOR_AUTONOMY",
	"LINKSOCKS_URL",
	"LINKSOCKS_RETRY_AUTH"
};

/*
 * putenv keeps these very strings, so no input leaves memory behind in
 * the C library's environment (setenv would keep every value it saw).
 */
static char	fuzz_envbuf[LS_NITEMS(fuzz_env)][FUZZ_ENVLEN];

static void	 fuzz_check(int);
static int	 fuzz_setenv(const char *, size_t);
static void	 fuzz_loaded(const struct config *);

static void
fuzz_check(int ok)
{
	if (!ok)
		abort();
}

/* 1 if the word set an allowed variable, 0 if it is an argument. */
static int
fuzz_setenv(const char *w, size_t len)
{
	size_t	 i, n;

	for (i = 0; i < LS_NITEMS(fuzz_env); i++) {
		n = strlen(fuzz_env[i]);
		if (len <= n || strncmp(w, fuzz_env[i], n) != 0 || w[n] != '=')
			continue;
		if (len >= FUZZ_ENVLEN)
			len = FUZZ_ENVLEN - 1;
		unsetenv(fuzz_env[i]);
		memcpy(fuzz_envbuf[i], w, len);
		fuzz_envbuf[i][len] = '\0';
		if (putenv(fuzz_envbuf[i]) != 0)
			abort();
		return (1);
	}
	return (0);
}

static void
fuzz_loaded(const struct config *c)
{
	fuzz_check(c == ls_conf);
	fuzz_check(c->c_role == ROLE_SERVER || c->c_role == ROLE_CLIENT ||
	    c->c_role == ROLE_CONNECTOR || c->c_role == ROLE_PROVIDER);
	fuzz_check(c->c_subcmd != NULL);
	fuzz_check(c->c_ws_port >= 0 && c->c_ws_port <= 65535);
	fuzz_check(c->c_socks_port >= 0 && c->c_socks_port <= 65535);
	fuzz_check(c->c_workers >= 1 && c->c_workers <= 64);
	fuzz_check(c->c_window >= LS_WINDOW_MIN && c->c_window <= LS_WINDOW_MAX);
	fuzz_check(c->c_bufsize >= 1024 && c->c_bufsize <= 16 * 1024 * 1024);
	fuzz_check(c->c_udp_timeout >= 1 && c->c_udp_timeout <= 86400);
	fuzz_check(c->c_drain_timeout >= 0 && c->c_drain_timeout <= 86400);
	fuzz_check(c->c_connector_wait >= 0 &&
	    c->c_connector_wait <= 86400000);
	fuzz_check(c->c_socks_host != NULL && c->c_ws_host != NULL);
	fuzz_check(c->c_token == NULL || strlen(c->c_token) <= 255);
	fuzz_check(c->c_connector_token == NULL ||
	    strlen(c->c_connector_token) <= 255);
	fuzz_check((c->c_socks_user != NULL && *c->c_socks_user != '\0') ==
	    (c->c_socks_pass != NULL && *c->c_socks_pass != '\0'));
	if (c->c_role == ROLE_SERVER) {
		fuzz_check(c->c_token == NULL ||
		    strcmp(c->c_token, "anonymous") != 0);
		fuzz_check(c->c_reverse ||
		    (!c->c_autonomy && c->c_connector_token == NULL));
		fuzz_check(!c->c_autonomy || c->c_connector_token == NULL);
	} else {
		fuzz_check(c->c_threads >= 1);
		fuzz_check(c->c_wsurl.u_host[0] != '\0');
		fuzz_check(c->c_wsurl.u_port != 0);
		fuzz_check(c->c_reverse == (c->c_role == ROLE_PROVIDER));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		*copy, *argv[FUZZ_MAXWORDS + 2], *w, *end;
	struct config	*c;
	size_t		 i, len;
	int		 argc = 0;

	config_noexit = 1;
	for (i = 0; i < LS_NITEMS(fuzz_env); i++)
		unsetenv(fuzz_env[i]);
	/* The words, each NUL-terminated (the last one by us). */
	if ((copy = malloc(size + 1)) == NULL)
		abort();
	memcpy(copy, data, size);
	copy[size] = '\0';
	argv[argc++] = (char *)"linksocks";
	for (w = copy, end = copy + size; w < end && argc <= FUZZ_MAXWORDS;
	    w += len + 1) {
		len = strlen(w);
		if (!fuzz_setenv(w, len))
			argv[argc++] = w;
	}
	argv[argc] = NULL;

	c = config_load(argc, argv);
	if (c != NULL) {
		fuzz_check(config_exit == -1);
		fuzz_loaded(c);
		config_free(c);
		fuzz_check(ls_conf == NULL);
	} else
		fuzz_check(config_exit >= -1 && config_exit <= 2);
	fflush(stdout);

	for (i = 0; i < LS_NITEMS(fuzz_env); i++)
		unsetenv(fuzz_env[i]);
	free(copy);
	return (0);
}
