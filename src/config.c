/*
 * config.c -- command line and LINKSOCKS_* environment into ls_conf.
 * Precedence: explicit flag, then non-empty environment value, then
 * default (spec 12.3).  linksocks.c starts the program with the result.
 */
#include "config.h"

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "linksocks.h"

struct config	*ls_conf;
int		 config_noexit;
int		 config_exit = -1;

/* With config_noexit, where config_quit() returns to config_load(). */
static jmp_buf		 config_jmp;
static struct config	*config_cur;	/* being built */
static char		**config_av;	/* argv with LINKSOCKS_MODE's word */

enum {
	OPT_RETRY_AUTH = 256,
	OPT_WORKERS,
	OPT_PORT_FILE,
	OPT_SYSLOG,
	OPT_DRAIN,
	OPT_WAIT_PROVIDER,
	OPT_DIRECT_MODE,
	OPT_UDP_TIMEOUT,
	OPT_WINDOW,
	OPT_NO_EXT,
	OPT_ACCESS_RULE,
	OPT_ALLOW_PRIVATE,
	OPT_MAX_CHANNELS,
	OPT_MAX_UDP,
	OPT_MAX_NEGOTIATING,
	OPT_METRICS_LISTEN,
	OPT_API_KEEP_CLI,
	OPT_PORT_POOL,
	OPT_STATE_FILE,
	OPT_API_KEY_FILE,
	OPT_LIMIT_TUNNELS,
	OPT_LIMIT_CHANNELS,
	OPT_LIMIT_UPLOAD,
	OPT_LIMIT_DOWNLOAD,
	OPT_CA_FILE,
	OPT_CA_PATH,
	OPT_CLIENT_CERT,
	OPT_CLIENT_KEY,
	OPT_SNI,
	OPT_HOST_HDR,
	OPT_HEADER,
	OPT_INSECURE,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_TLS_MINVER,
	OPT_TLS_KTLS,
	OPT_TLS_CLIENT_CA,
	OPT_API_LISTEN
};

static const struct option server_opts[] = {
	{ "ws-host",		required_argument, NULL, 'H' },
	{ "ws-port",		required_argument, NULL, 'P' },
	{ "token",		required_argument, NULL, 't' },
	{ "buffer-size",	required_argument, NULL, 'b' },
	{ "fast-open",		optional_argument, NULL, 'f' },
	{ "reverse",		optional_argument, NULL, 'r' },
	{ "connector-token",	required_argument, NULL, 'c' },
	{ "connector-autonomy",	optional_argument, NULL, 'a' },
	{ "upstream-proxy",	required_argument, NULL, 'x' },
	{ "socks-host",		required_argument, NULL, 's' },
	{ "socks-port",		required_argument, NULL, 'p' },
	{ "socks-username",	required_argument, NULL, 'n' },
	{ "socks-password",	required_argument, NULL, 'w' },
	{ "socks-nowait",	optional_argument, NULL, 'i' },
	{ "connector-wait-provider", required_argument, NULL, OPT_WAIT_PROVIDER },
	{ "debug",		no_argument,	   NULL, 'd' },
	{ "workers",		required_argument, NULL, OPT_WORKERS },
	{ "port-file",		required_argument, NULL, OPT_PORT_FILE },
	{ "syslog",		no_argument,	   NULL, OPT_SYSLOG },
	{ "drain-timeout",	required_argument, NULL, OPT_DRAIN },
	{ "udp-timeout",	required_argument, NULL, OPT_UDP_TIMEOUT },
	{ "window",		required_argument, NULL, OPT_WINDOW },
	{ "no-extensions",	no_argument,	   NULL, OPT_NO_EXT },
	{ "access-rule",	required_argument, NULL, OPT_ACCESS_RULE },
	{ "allow-private",	optional_argument, NULL, OPT_ALLOW_PRIVATE },
	{ "max-channels",	required_argument, NULL, OPT_MAX_CHANNELS },
	{ "max-udp",		required_argument, NULL, OPT_MAX_UDP },
	{ "max-negotiating",	required_argument, NULL, OPT_MAX_NEGOTIATING },
	{ "metrics-listen",	required_argument, NULL, OPT_METRICS_LISTEN },
	{ "api-key",		required_argument, NULL, 'k' },
	{ "api-keep-cli-tokens", optional_argument, NULL, OPT_API_KEEP_CLI },
	{ "port-pool",		required_argument, NULL, OPT_PORT_POOL },
	{ "state-file",		required_argument, NULL, OPT_STATE_FILE },
	{ "api-key-file",	required_argument, NULL, OPT_API_KEY_FILE },
	{ "limit-tunnels",	required_argument, NULL, OPT_LIMIT_TUNNELS },
	{ "limit-channels",	required_argument, NULL, OPT_LIMIT_CHANNELS },
	{ "limit-upload",	required_argument, NULL, OPT_LIMIT_UPLOAD },
	{ "limit-download",	required_argument, NULL, OPT_LIMIT_DOWNLOAD },
	{ "tls-cert",		required_argument, NULL, OPT_TLS_CERT },
	{ "tls-key",		required_argument, NULL, OPT_TLS_KEY },
	{ "tls-min-version",	required_argument, NULL, OPT_TLS_MINVER },
	{ "tls-ktls",		optional_argument, NULL, OPT_TLS_KTLS },
	{ "tls-client-ca",	required_argument, NULL, OPT_TLS_CLIENT_CA },
	{ "api-listen",		required_argument, NULL, OPT_API_LISTEN },
	{ "help",		no_argument,	   NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};
static const char server_short[] = "H:P:t:b:f::r::c:a::s:p:n:w:i::k:x:dh";

static const struct option client_opts[] = {
	{ "token",		required_argument, NULL, 't' },
	{ "url",		required_argument, NULL, 'u' },
	{ "reverse",		optional_argument, NULL, 'r' },
	{ "connector-token",	required_argument, NULL, 'c' },
	{ "socks-host",		required_argument, NULL, 's' },
	{ "socks-port",		required_argument, NULL, 'p' },
	{ "socks-username",	required_argument, NULL, 'n' },
	{ "socks-password",	required_argument, NULL, 'w' },
	{ "socks-no-wait",	optional_argument, NULL, 'i' },
	{ "no-reconnect",	optional_argument, NULL, 'R' },
	{ "retry-auth",		optional_argument, NULL, OPT_RETRY_AUTH },
	{ "threads",		required_argument, NULL, 'T' },
	{ "fast-open",		optional_argument, NULL, 'f' },
	{ "no-env-proxy",	optional_argument, NULL, 'E' },
	{ "upstream-proxy",	required_argument, NULL, 'x' },
	{ "ca-file",		required_argument, NULL, OPT_CA_FILE },
	{ "ca-path",		required_argument, NULL, OPT_CA_PATH },
	{ "tls-client-cert",	required_argument, NULL, OPT_CLIENT_CERT },
	{ "tls-client-key",	required_argument, NULL, OPT_CLIENT_KEY },
	{ "sni",		required_argument, NULL, OPT_SNI },
	{ "host",		required_argument, NULL, OPT_HOST_HDR },
	{ "header",		required_argument, NULL, OPT_HEADER },
	{ "insecure",		no_argument,	   NULL, OPT_INSECURE },
	{ "direct-mode",	required_argument, NULL, OPT_DIRECT_MODE },
	{ "debug",		no_argument,	   NULL, 'd' },
	{ "workers",		required_argument, NULL, OPT_WORKERS },
	{ "port-file",		required_argument, NULL, OPT_PORT_FILE },
	{ "syslog",		no_argument,	   NULL, OPT_SYSLOG },
	{ "drain-timeout",	required_argument, NULL, OPT_DRAIN },
	{ "udp-timeout",	required_argument, NULL, OPT_UDP_TIMEOUT },
	{ "window",		required_argument, NULL, OPT_WINDOW },
	{ "no-extensions",	no_argument,	   NULL, OPT_NO_EXT },
	{ "access-rule",	required_argument, NULL, OPT_ACCESS_RULE },
	{ "max-channels",	required_argument, NULL, OPT_MAX_CHANNELS },
	{ "max-udp",		required_argument, NULL, OPT_MAX_UDP },
	{ "max-negotiating",	required_argument, NULL, OPT_MAX_NEGOTIATING },
	{ "metrics-listen",	required_argument, NULL, OPT_METRICS_LISTEN },
	{ "help",		no_argument,	   NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};
static const char client_short[] = "t:u:r::c:s:p:n:w:i::R::T:f::E::x:dh";

static __dead void	config_quit(int);
static __dead void	config_usage(const char *, int);
static __dead void	config_die(const char *, ...) LS_PRINTF(1, 2);
static __dead void	config_die_rule(const char *, const char *,
			    const char *);
static void		 config_add_rule(struct config *, const char *,
			    const char *);
static void		 config_env_rules(struct config *);
static void		 config_limit(struct config *, int, const char *,
			    const char *);
static const char	*config_env(const char *);
static int		 config_parse_bool(const char *, int *);
static int		 config_parse_int(const char *, long, long, int *);
static int		 config_parse_duration(const char *, int *);
static int		 config_parse_listen(const char *, char **, int *);
static void		 config_env_string(char **, const char *);
static int		 config_parse_tlsver(const char *, int *);
static void		 config_env_bool(int *, const char *);
static void		 config_add_api_key(struct config *, const char *);
static void		 config_clear_api_keys(struct config *);
static int		 config_parse_pool(const char *, int *, int *);
static void		 config_env_int(int *, const char *, long, long);
static void		 config_defaults(struct config *, enum ls_role);
static void		 config_parse(struct config *, int, char **);
static void		 config_check(struct config *);
static int		 config_file_open_to_others(const char *);
static struct config	*config_build(int, char **);

/* Exit, or (config_noexit, tests) return NULL from config_load(). */
static __dead void
config_quit(int status)
{
	if (config_noexit) {
		config_exit = status;
		longjmp(config_jmp, 1);
	}
	exit(status);
}

static __dead void
config_die(const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "linksocks: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	config_quit(1);
}

/* A bad access rule: a usage error, status 2. */
static __dead void
config_die_rule(const char *rule, const char *where, const char *problem)
{
	fprintf(stderr, "linksocks: invalid access rule \"%s\"%s: %s\n", rule,
	    where, problem);
	config_quit(2);
}

static void
config_add_rule(struct config *c, const char *rule, const char *where)
{
	char	err[256];

	if (rules_add(&c->c_rules, rule, err, sizeof(err)) == -1)
		config_die_rule(rule, where, err);
}

/*
 * --limit-* (or its LINKSOCKS_LIMIT_* variable, named in where): a
 * count 0..4294967295 or a rate (util_parse_rate).  Bad: status 2.
 */
static void
config_limit(struct config *c, int opt, const char *v, const char *where)
{
	uint64_t	n;
	int		rate = opt == OPT_LIMIT_UPLOAD ||
			    opt == OPT_LIMIT_DOWNLOAD;

	if (util_parse_rate(v, &n) == -1 || (!rate && (strspn(v,
	    "0123456789") != strlen(v) || n > UINT32_MAX))) {
		fprintf(stderr, "linksocks: invalid %s: \"%s\" (%s)\n", where,
		    v, rate ? "bytes per second, with an optional k, M, G, "
		    "Ki, Mi or Gi" : "0..4294967295, 0 = none");
		config_quit(2);
	}
	switch (opt) {
	case OPT_LIMIT_TUNNELS:
		c->c_limits.tl_max_tunnels = (uint32_t)n;
		break;
	case OPT_LIMIT_CHANNELS:
		c->c_limits.tl_max_channels = (uint32_t)n;
		break;
	case OPT_LIMIT_UPLOAD:
		c->c_limits.tl_upload = n;
		break;
	default:
		c->c_limits.tl_download = n;
		break;
	}
}

/* LINKSOCKS_ACCESS_RULE: rules separated by white space or ';'. */
static void
config_env_rules(struct config *c)
{
	const char	*v;
	char		*buf, *p, *rule;

	if ((v = config_env("LINKSOCKS_ACCESS_RULE")) == NULL)
		return;
	if ((buf = strdup(v)) == NULL)
		config_die("out of memory");
	for (p = buf; (rule = strsep(&p, " \t\r\n;")) != NULL;)
		if (*rule != '\0')
			config_add_rule(c, rule, " in LINKSOCKS_ACCESS_RULE");
	free(buf);
}

static __dead void
config_usage(const char *sub, int status)
{
	FILE	*f = status ? stderr : stdout;

	if (sub != NULL && strcmp(sub, "server") == 0) {
		fprintf(f,
"usage: linksocks server [-dh] [-r[BOOL]] [-a[BOOL]] [-f[BOOL]] [-i[BOOL]]\n"
"                        [-H host] [-P port] [-t token] [-c token]\n"
"                        [-s host] [-p port] [-n user] [-w password]\n"
"                        [-b bytes] [--connector-wait-provider duration]\n"
"                        [--workers n] [--port-file file]\n"
"                        [--drain-timeout sec] [--udp-timeout sec]\n"
"                        [--window bytes] [--no-extensions] [--syslog]\n"
"                        [--access-rule rule ...] [--allow-private[=BOOL]]\n"
"                        [--max-channels n] [--max-udp n]\n"
"                        [--metrics-listen [addr:]port]\n"
"                        [-k key ...] [--api-key-file file] [--api-keep-cli-tokens]\n"
"                        [--port-pool lo-hi] [--state-file file]\n"
"                        [--limit-tunnels n] [--limit-channels n]\n"
"                        [--limit-upload rate] [--limit-download rate]\n"
"                        [--tls-cert file --tls-key file]\n"
"                        [--tls-min-version 1.2|1.3] [--tls-ktls[=BOOL]]\n"
"                        [--tls-client-ca file] [--api-listen [addr:]port]\n"
"\n"
"Accept linksocks clients over WebSocket: dial for forward clients, or\n"
"(-r) serve SOCKS5 through providers and relay connectors.\n"
"  -H, --ws-host HOST         listen address (0.0.0.0; LINKSOCKS_WEBSOCKET_HOST)\n"
"  -P, --ws-port PORT         listen port (8765, 0 = any; LINKSOCKS_WEBSOCKET_PORT)\n"
"  -t, --token TOKEN          forward or reverse token (generated if omitted; LINKSOCKS_TOKEN)\n"
"  -r, --reverse              reverse mode: SOCKS5 here, providers dial\n"
"  -c, --connector-token TOK  connector token (-r; generated if omitted; LINKSOCKS_CONNECTOR_TOKEN)\n"
"  -a, --connector-autonomy   providers manage their own connector tokens (LINKSOCKS_CONNECTOR_AUTONOMY)\n"
"  -s, --socks-host HOST      reverse SOCKS5 address (127.0.0.1; LINKSOCKS_SOCKS_HOST)\n"
"  -p, --socks-port PORT      reverse SOCKS5 port (9870, 0 = any; LINKSOCKS_SOCKS_PORT)\n"
"  -n, --socks-username USER  reverse SOCKS5 user (LINKSOCKS_SOCKS_USERNAME)\n"
"  -w, --socks-password PASS  ... and password (LINKSOCKS_SOCKS_PASSWORD)\n"
"  -i, --socks-nowait         listen before the first provider is up\n"
"      --connector-wait-provider DURATION\n"
"                             how long a connector waits for a provider (5s)\n"
"  -b, --buffer-size BYTES    largest Data payload sent (1048576; 524288 used at most)\n"
"  -f, --fast-open            fast open on the server's own SOCKS ports (LINKSOCKS_FASTOPEN)\n"
"      --workers N            worker processes (online CPUs)\n"
"      --port-file FILE       write \"ws PORT\" (and \"socks PORT\") once listening\n"
"      --drain-timeout SEC    SIGTERM drain limit (30)\n"
"      --udp-timeout SEC      end UDP associations idle this long (300)\n"
"      --window BYTES         per-channel receive window with our peers (4194304)\n"
"      --no-extensions        plain protocol 0x01: no half-close, no credit windows\n"
"      --access-rule RULE     allow only destinations a rule matches, e.g.\n"
"                             10.0.0.0/8:22,8000-9000 (repeatable; LINKSOCKS_ACCESS_RULE)\n"
"      --allow-private        let forward clients reach loopback and link-local\n"
"                             addresses (LINKSOCKS_ALLOW_PRIVATE)\n"
"      --max-channels N       open channels per tunnel (65536; LINKSOCKS_MAX_CHANNELS)\n"
"      --max-udp N            UDP associations per tunnel (1024; LINKSOCKS_MAX_UDP)\n"
"      --max-negotiating N    SOCKS5/HTTP sessions negotiating per worker (4096)\n"
"      --metrics-listen [ADDR:]PORT\n"
"                             Prometheus GET /metrics here, no key (ADDR\n"
"                             127.0.0.1 unless given; LINKSOCKS_METRICS_LISTEN)\n"
"  -x, --upstream-proxy URL   forward mode: dial targets through socks5:// or\n"
"                             http:// (LINKSOCKS_UPSTREAM_PROXY)\n"
"  -k, --api-key KEY          enable the HTTP API with this key (repeatable;\n"
"                             LINKSOCKS_API_KEY); -t/-c/-r/-a then create no token\n"
"      --api-listen [ADDR:]PORT\n"
"                             the HTTP API on a plain port of its own (ADDR\n"
"                             127.0.0.1 unless given; LINKSOCKS_API_LISTEN)\n"
"      --api-key-file FILE    API keys, one a line (# comments); read again on\n"
"                             SIGHUP (LINKSOCKS_API_KEY_FILE)\n"
"      --api-keep-cli-tokens  with -k, keep the tokens of -t/-c/-r/-a too\n"
"      --port-pool LO-HI      ports for API reverse tokens with port 0 (1024-10240)\n"
"      --state-file FILE      keep the run-time tokens and rules in FILE, load it at\n"
"                             start, read it again on SIGHUP (LINKSOCKS_STATE_FILE)\n"
"      --limit-tunnels N      tunnels per -t/-c token, per worker (0 = none;\n"
"                             LINKSOCKS_LIMIT_TUNNELS)\n"
"      --limit-channels N     open channels per -t/-c token, per worker\n"
"                             (0 = none; LINKSOCKS_LIMIT_CHANNELS)\n"
"      --limit-upload RATE    bytes/s application to target per token, e.g.\n"
"                             10M or 512Ki (LINKSOCKS_LIMIT_UPLOAD)\n"
"      --limit-download RATE  bytes/s back to the application (LINKSOCKS_LIMIT_DOWNLOAD)\n"
"      --tls-cert FILE        serve wss:// with this PEM certificate chain, read\n"
"                             again on SIGHUP (LINKSOCKS_TLS_CERT)\n"
"      --tls-key FILE         ... and its PEM private key (LINKSOCKS_TLS_KEY)\n"
"      --tls-min-version V    1.2 or 1.3 (1.2; LINKSOCKS_TLS_MIN_VERSION)\n"
"      --tls-ktls[=BOOL]      kernel TLS where OpenSSL and the kernel offer it\n"
"                             (LINKSOCKS_TLS_KTLS)\n"
"      --tls-client-ca FILE   require a client certificate issued by a CA in\n"
"                             FILE (PEM; LINKSOCKS_TLS_CLIENT_CA)\n"
"      --syslog               log to syslog instead of stderr\n"
"  -d, --debug                debug logging; -dd for trace\n"
"  -h, --help                 this help\n");
	} else if (sub != NULL) {
		fprintf(f,
"usage: linksocks %s [-dh] [-r[BOOL]] [-f[BOOL]] [-i] [-R] [-c token]\n"
"                        [-t token] [-u url]\n"
"                        [-s host] [-p port] [-n user] [-w password]\n"
"                        [-E] [-T threads] [--retry-auth] [--workers n]\n"
"                        [--port-file file] [--drain-timeout sec]\n"
"                        [--udp-timeout sec] [--window bytes]\n"
"                        [--no-extensions]\n"
"                        [--direct-mode relay-only|auto] [--syslog]\n"
"                        [--access-rule rule ...] [--max-channels n]\n"
"                        [--max-udp n] [--metrics-listen [addr:]port]\n"
"\n"
"Connect to a linksocks server and serve SOCKS5 locally (client,\n"
"connector), or dial targets for the server (provider = client -r).\n"
"  -t, --token TOKEN          token (anonymous if omitted; LINKSOCKS_TOKEN)\n"
"  -u, --url URL              server URL (ws://localhost:8765; LINKSOCKS_URL)\n"
"  -r, --reverse              act as a provider (same as linksocks provider)\n"
"  -c, --connector-token TOK  provider: add this connector token (autonomy)\n"
"  -s, --socks-host HOST      SOCKS5 listen address (127.0.0.1; LINKSOCKS_SOCKS_HOST)\n"
"  -p, --socks-port PORT      SOCKS5 listen port (9870, 0 = any; LINKSOCKS_SOCKS_PORT)\n"
"  -n, --socks-username USER  require RFC 1929 user (LINKSOCKS_SOCKS_USERNAME)\n"
"  -w, --socks-password PASS  ... and password (LINKSOCKS_SOCKS_PASSWORD)\n"
"  -f, --fast-open            answer CONNECT before the remote connect (LINKSOCKS_FASTOPEN)\n"
"  -i, --socks-no-wait        listen before the tunnel is up\n"
"  -R, --no-reconnect         exit when the tunnel drops\n"
"      --retry-auth           keep retrying after authentication failures (LINKSOCKS_RETRY_AUTH)\n"
"  -T, --threads N            WebSocket connections in all (1; at least one per worker)\n"
"  -E, --no-env-proxy         ignore HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY\n"
"  -x, --upstream-proxy URL   provider: dial targets through socks5:// or http://\n"
"                             (LINKSOCKS_UPSTREAM_PROXY)\n"
"      --ca-file FILE         trust the CA certificates in FILE (PEM) for wss://\n"
"      --ca-path DIR          ... or in DIR (c_rehash layout)\n"
"      --tls-client-cert FILE present this certificate (PEM chain) to the server\n"
"      --tls-client-key FILE  ... with this key\n"
"      --sni NAME             TLS server name to send and verify (URL host)\n"
"      --host NAME            Host header of the upgrade request (URL host)\n"
"      --header 'N: V'        add a header to the upgrade request (repeatable)\n"
"      --insecure             FOR TESTS ONLY: do not verify the server certificate\n"
"      --workers N            worker processes (online CPUs)\n"
"      --port-file FILE       write \"socks PORT\" once bound\n"
"      --drain-timeout SEC    SIGTERM drain limit (30)\n"
"      --udp-timeout SEC      end UDP associations idle this long (300)\n"
"      --window BYTES         per-channel receive window with our peers (4194304)\n"
"      --no-extensions        plain protocol 0x01: no half-close, no credit windows\n"
"      --direct-mode MODE     relay-only or auto (direct mode is not implemented)\n"
"      --access-rule RULE     SOCKS side: refuse other literal addresses at once;\n"
"                             provider: dial only what a rule matches\n"
"                             (repeatable; LINKSOCKS_ACCESS_RULE)\n"
"      --max-channels N       open channels per tunnel (65536; LINKSOCKS_MAX_CHANNELS)\n"
"      --max-udp N            UDP associations per tunnel (1024; LINKSOCKS_MAX_UDP)\n"
"      --max-negotiating N    SOCKS5/HTTP sessions negotiating per worker (4096)\n"
"      --metrics-listen [ADDR:]PORT\n"
"                             Prometheus GET /metrics here, no key (ADDR\n"
"                             127.0.0.1 unless given; LINKSOCKS_METRICS_LISTEN)\n"
"      --syslog               log to syslog instead of stderr\n"
"  -d, --debug                debug logging; -dd for trace\n"
"  -h, --help                 this help\n", sub);
	} else {
		fprintf(f,
"usage: linksocks server|client|provider|connector [options]\n"
"       linksocks version | --version | -V\n"
"       linksocks help [SUBCOMMAND] | SUBCOMMAND --help\n"
"\n"
"SOCKS5 over WebSocket, compatible with linksocks protocol 0x01.\n"
"See linksocks(1).\n");
	}
	config_quit(status);
}

static const char *
config_env(const char *name)
{
	static char	 buf[4096];
	const char	*v;
	size_t		 len;

	if ((v = getenv(name)) == NULL)
		return (NULL);
	while (isspace((unsigned char)*v))
		v++;
	len = strlen(v);
	while (len > 0 && isspace((unsigned char)v[len - 1]))
		len--;
	if (len == 0 || len >= sizeof(buf))
		return (NULL);
	memcpy(buf, v, len);
	buf[len] = '\0';
	return (buf);
}

/* Go strconv.ParseBool spellings. */
static int
config_parse_bool(const char *s, int *out)
{
	static const char *const yes[] = { "1", "t", "T", "TRUE", "true", "True" };
	static const char *const no[] = { "0", "f", "F", "FALSE", "false", "False" };
	size_t	i;

	for (i = 0; i < LS_NITEMS(yes); i++)
		if (strcmp(s, yes[i]) == 0) {
			*out = 1;
			return (0);
		}
	for (i = 0; i < LS_NITEMS(no); i++)
		if (strcmp(s, no[i]) == 0) {
			*out = 0;
			return (0);
		}
	return (-1);
}

static int
config_parse_int(const char *s, long min, long max, int *out)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return (-1);
	*out = (int)v;
	return (0);
}

/* A Go-style duration ("5s", "500ms", "1m30s", "0") in milliseconds. */
static int
config_parse_duration(const char *s, int *ms)
{
	double	 total = 0, v;
	char	*end;

	if (strcmp(s, "0") == 0) {
		*ms = 0;
		return (0);
	}
	if (*s == '\0')
		return (-1);
	while (*s != '\0') {
		errno = 0;
		v = strtod(s, &end);
		if (errno != 0 || end == s || v < 0)
			return (-1);
		s = end;
		if (strncmp(s, "ms", 2) == 0) {
			total += v;
			s += 2;
		} else if (*s == 's') {
			total += v * 1000;
			s++;
		} else if (*s == 'm') {
			total += v * 60000;
			s++;
		} else if (*s == 'h') {
			total += v * 3600000;
			s++;
		} else
			return (-1);
	}
	if (total > 86400000.0)
		return (-1);
	*ms = (int)total;
	return (0);
}

static void
config_env_string(char **dst, const char *name)
{
	const char	*v;

	if ((v = config_env(name)) != NULL) {
		free(*dst);
		*dst = util_xstrdup(v);
	}
}

static void
config_add_api_key(struct config *c, const char *key)
{
	char	**v;

	if (c->c_napi_keys >= LS_MAX_API_KEYS)
		config_die("more than %d API keys", LS_MAX_API_KEYS);
	if ((v = reallocarray(c->c_api_keys, c->c_napi_keys + 1,
	    sizeof(*v))) == NULL)
		config_die("out of memory");
	c->c_api_keys = v;
	v[c->c_napi_keys++] = util_xstrdup(key);
}

static void
config_clear_api_keys(struct config *c)
{
	size_t	i;

	for (i = 0; i < c->c_napi_keys; i++)
		free(c->c_api_keys[i]);
	free(c->c_api_keys);
	c->c_api_keys = NULL;
	c->c_napi_keys = 0;
}

/*
 * The keys of an API key file: one a line, blanks around it ignored,
 * empty lines and lines starting with "#" skipped.  Appended to keys
 * (at most max in all); the number read, or -1 with err.
 */
static int
config_read_key_file(const char *path, char ***keys, size_t *n, size_t max,
    char *err, size_t errlen)
{
	FILE	*f;
	char	*line = NULL, *k, *e, **v;
	size_t	 cap = 0, lineno = 0;
	ssize_t	 len;
	int	 got = 0;

	if ((f = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return (-1);
	}
	while ((len = getline(&line, &cap, f)) != -1) {
		lineno++;
		if (memchr(line, '\0', (size_t)len) != NULL) {
			snprintf(err, errlen, "%s:%zu: a NUL byte", path,
			    lineno);
			goto bad;
		}
		for (k = line; *k == ' ' || *k == '\t'; k++)
			;
		e = k + strlen(k);
		while (e > k && (e[-1] == '\n' || e[-1] == '\r' ||
		    e[-1] == ' ' || e[-1] == '\t'))
			*--e = '\0';
		if (*k == '\0' || *k == '#')
			continue;
		if (*n >= max) {
			snprintf(err, errlen, "%s: more than %zu API keys", path,
			    max);
			goto bad;
		}
		if ((v = reallocarray(*keys, *n + 1, sizeof(*v))) == NULL) {
			snprintf(err, errlen, "out of memory");
			goto bad;
		}
		*keys = v;
		v[(*n)++] = util_xstrdup(k);
		got++;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto bad;
	}
	free(line);
	fclose(f);
	if (got == 0) {
		snprintf(err, errlen, "%s: no API key in the file", path);
		return (-1);
	}
	return (got);
 bad:
	free(line);
	fclose(f);
	return (-1);
}

/*
 * SIGHUP: the key file again.  The keys of -k and LINKSOCKS_API_KEY
 * stay; the file's are replaced.  The number of keys now, or -1 (err;
 * nothing changed).
 */
int
config_reload_api_keys(struct config *c, char *err, size_t errlen)
{
	char	**keys = NULL;
	size_t	  n = 0, i;

	if (c->c_api_key_file == NULL)
		return ((int)c->c_napi_keys);
	if (config_read_key_file(c->c_api_key_file, &keys, &n,
	    LS_MAX_API_KEYS - c->c_napi_keys_fixed, err, errlen) == -1) {
		for (i = 0; i < n; i++)
			free(keys[i]);
		free(keys);
		return (-1);
	}
	for (i = c->c_napi_keys_fixed; i < c->c_napi_keys; i++)
		free(c->c_api_keys[i]);
	c->c_napi_keys = c->c_napi_keys_fixed;
	for (i = 0; i < n; i++)
		config_add_api_key(c, keys[i]);
	for (i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
	return ((int)c->c_napi_keys);
}

/* Can users other than the owner read path? */
static int
config_file_open_to_others(const char *path)
{
	struct stat	sb;

	return (stat(path, &sb) == 0 && (sb.st_mode & 044) != 0);
}

/* LO-HI, 1 <= LO <= HI <= 65535. */
static int
config_parse_pool(const char *s, int *lo, int *hi)
{
	char	buf[32], *dash;

	if (strlen(s) >= sizeof(buf))
		return (-1);
	memcpy(buf, s, strlen(s) + 1);
	if ((dash = strchr(buf, '-')) == NULL)
		return (-1);
	*dash = '\0';
	if (config_parse_int(buf, 1, 65535, lo) == -1 ||
	    config_parse_int(dash + 1, 1, 65535, hi) == -1 || *hi < *lo)
		return (-1);
	return (0);
}

static void
config_env_bool(int *dst, const char *name)
{
	const char	*v;

	if ((v = config_env(name)) != NULL && config_parse_bool(v, dst) == -1)
		config_die("invalid %s: \"%s\"", name, v);
}

static void
config_env_int(int *dst, const char *name, long min, long max)
{
	const char	*v;

	if ((v = config_env(name)) != NULL &&
	    config_parse_int(v, min, max, dst) == -1)
		config_die("invalid %s: \"%s\"", name, v);
}

/*
 * "[address:]port" (an IPv6 address in brackets) for --metrics-listen:
 * the address is 127.0.0.1 unless given.  0, or -1 if malformed.
 */
static int
config_parse_listen(const char *s, char **host, int *port)
{
	const char	*colon, *p;
	char		*h;
	size_t		 hlen;

	if (s[0] == '[') {
		if ((p = strchr(s, ']')) == NULL || p[1] != ':' || p == s + 1)
			return (-1);
		h = strndup(s + 1, (size_t)(p - s - 1));
		p += 2;
	} else if ((colon = strrchr(s, ':')) != NULL) {
		hlen = (size_t)(colon - s);
		if (hlen == 0 || memchr(s, ':', hlen) != NULL)
			return (-1);	/* IPv6 needs brackets */
		h = strndup(s, hlen);
		p = colon + 1;
	} else {
		h = strdup("127.0.0.1");
		p = s;
	}
	if (h == NULL)
		config_die("out of memory");
	if (config_parse_int(p, 0, 65535, port) == -1) {
		free(h);
		return (-1);
	}
	free(*host);
	*host = h;
	return (0);
}

/*
 * --header "Name: value": a token for the name, no CR/LF anywhere, and
 * none of the headers the upgrade itself sets.  Kept as request lines.
 */
static void
config_add_header(struct config *c, const char *h)
{
	static const char *const own[] = { "host", "upgrade", "connection",
	    "sec-websocket-key", "sec-websocket-version",
	    "sec-websocket-extensions", "content-length",
	    "transfer-encoding" };
	const char	*colon, *v, *p;
	char		*n;
	size_t		 nlen, i, old;

	colon = strchr(h, ':');
	if (colon == NULL || colon == h || strpbrk(h, "\r\n") != NULL)
		config_die("invalid --header \"%s\" (\"Name: value\")", h);
	nlen = (size_t)(colon - h);
	for (p = h; p < colon; p++)
		if (!isalnum((unsigned char)*p) &&
		    strchr("!#$%&'*+-.^_`|~", *p) == NULL)
			config_die("invalid --header name in \"%s\"", h);
	for (i = 0; i < LS_NITEMS(own); i++)
		if (strlen(own[i]) == nlen && strncasecmp(h, own[i], nlen) == 0)
			config_die("--header cannot set %.*s (use --host for "
			    "Host)", (int)nlen, h);
	v = colon + 1;
	v += strspn(v, " \t");
	old = c->c_headers != NULL ? strlen(c->c_headers) : 0;
	if (old + nlen + strlen(v) + 4 > 8192)
		config_die("--header: the extra headers exceed 8192 bytes");
	if ((n = realloc(c->c_headers, old + nlen + strlen(v) + 5)) == NULL)
		config_die("out of memory");
	snprintf(n + old, nlen + strlen(v) + 5, "%.*s: %s\r\n", (int)nlen, h,
	    v);
	c->c_headers = n;
}

static void
config_defaults(struct config *c, enum ls_role role)
{
	const char	*v, *key;
	long		 n;

	c->c_role = role;
	c->c_socks_host = util_xstrdup("127.0.0.1");
	c->c_socks_port = LS_DEFAULT_SOCKS_PORT;
	c->c_ws_host = util_xstrdup("0.0.0.0");
	c->c_ws_port = LS_DEFAULT_WS_PORT;
	c->c_url = util_xstrdup("ws://localhost:8765");
	c->c_bufsize = 1024 * 1024;
	c->c_connector_wait = 5000;
	c->c_threads = 1;
	c->c_drain_timeout = 30;
	c->c_udp_timeout = LS_UDP_TIMEOUT;
	c->c_window = LS_WINDOW;
	c->c_max_channels = LS_MAX_CHANNELS;
	c->c_max_negotiating = LS_SOCKS_PREAUTH_MAX;
	c->c_max_udp = LS_MAX_UDP;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	c->c_workers = n < 1 ? 1 : n > 64 ? 64 : (int)n;

	config_env_string(&c->c_token, "LINKSOCKS_TOKEN");
	config_env_bool(&c->c_fastopen, "LINKSOCKS_FASTOPEN");
	config_env_string(&c->c_connector_token, "LINKSOCKS_CONNECTOR_TOKEN");
	config_env_string(&c->c_socks_host, "LINKSOCKS_SOCKS_HOST");
	config_env_int(&c->c_socks_port, "LINKSOCKS_SOCKS_PORT", 0, 65535);
	config_env_string(&c->c_socks_user, "LINKSOCKS_SOCKS_USERNAME");
	config_env_string(&c->c_socks_pass, "LINKSOCKS_SOCKS_PASSWORD");
	config_env_int(&c->c_max_channels, "LINKSOCKS_MAX_CHANNELS", 1,
	    LS_MAX_CHANNELS_LIMIT);
	config_env_int(&c->c_max_udp, "LINKSOCKS_MAX_UDP", 0,
	    LS_MAX_UDP_LIMIT);
	config_env_int(&c->c_max_negotiating, "LINKSOCKS_MAX_NEGOTIATING", 1,
	    LS_MAX_CHANNELS_LIMIT);
	config_env_rules(c);
	if ((v = config_env("LINKSOCKS_METRICS_LISTEN")) != NULL &&
	    config_parse_listen(v, &c->c_metrics_host, &c->c_metrics_port) ==
	    -1)
		config_die("invalid LINKSOCKS_METRICS_LISTEN: \"%s\" "
		    "([address:]port)", v);
	config_env_string(&c->c_upstream, "LINKSOCKS_UPSTREAM_PROXY");
	c->c_pool_lo = LS_PORT_POOL_LO;
	c->c_tls_minver = 12;
	c->c_pool_hi = LS_PORT_POOL_HI;
	if (role == ROLE_SERVER) {
		if ((key = config_env("LINKSOCKS_API_KEY")) != NULL &&
		    *key != '\0')
			config_add_api_key(c, key);
		config_env_string(&c->c_ws_host, "LINKSOCKS_WEBSOCKET_HOST");
		config_env_string(&c->c_state_file, "LINKSOCKS_STATE_FILE");
		config_env_string(&c->c_api_key_file, "LINKSOCKS_API_KEY_FILE");
		config_env_string(&c->c_tls_cert, "LINKSOCKS_TLS_CERT");
		config_env_string(&c->c_tls_key, "LINKSOCKS_TLS_KEY");
		if ((v = config_env("LINKSOCKS_TLS_MIN_VERSION")) != NULL &&
		    config_parse_tlsver(v, &c->c_tls_minver) == -1)
			config_die("invalid LINKSOCKS_TLS_MIN_VERSION: \"%s\" "
			    "(1.2 or 1.3)", v);
		config_env_bool(&c->c_tls_ktls, "LINKSOCKS_TLS_KTLS");
		config_env_string(&c->c_tls_client_ca,
		    "LINKSOCKS_TLS_CLIENT_CA");
		if ((v = config_env("LINKSOCKS_API_LISTEN")) != NULL &&
		    config_parse_listen(v, &c->c_api_host, &c->c_api_port) ==
		    -1)
			config_die("invalid LINKSOCKS_API_LISTEN: \"%s\" "
			    "([address:]port)", v);
		config_env_int(&c->c_ws_port, "LINKSOCKS_WEBSOCKET_PORT", 0,
		    65535);
		config_env_bool(&c->c_autonomy, "LINKSOCKS_CONNECTOR_AUTONOMY");
		config_env_bool(&c->c_allow_private, "LINKSOCKS_ALLOW_PRIVATE");
		if ((v = config_env("LINKSOCKS_LIMIT_TUNNELS")) != NULL)
			config_limit(c, OPT_LIMIT_TUNNELS, v,
			    "LINKSOCKS_LIMIT_TUNNELS");
		if ((v = config_env("LINKSOCKS_LIMIT_CHANNELS")) != NULL)
			config_limit(c, OPT_LIMIT_CHANNELS, v,
			    "LINKSOCKS_LIMIT_CHANNELS");
		if ((v = config_env("LINKSOCKS_LIMIT_UPLOAD")) != NULL)
			config_limit(c, OPT_LIMIT_UPLOAD, v,
			    "LINKSOCKS_LIMIT_UPLOAD");
		if ((v = config_env("LINKSOCKS_LIMIT_DOWNLOAD")) != NULL)
			config_limit(c, OPT_LIMIT_DOWNLOAD, v,
			    "LINKSOCKS_LIMIT_DOWNLOAD");
	} else {
		config_env_string(&c->c_url, "LINKSOCKS_URL");
		config_env_bool(&c->c_retry_auth, "LINKSOCKS_RETRY_AUTH");
	}
}

/* "1.2" or "1.3" (also "12", "13", "TLSv1.2"): 12 or 13. */
static int
config_parse_tlsver(const char *s, int *dst)
{
	if (strncasecmp(s, "TLSv", 4) == 0)
		s += 4;
	if (strcmp(s, "1.2") == 0 || strcmp(s, "12") == 0)
		*dst = 12;
	else if (strcmp(s, "1.3") == 0 || strcmp(s, "13") == 0)
		*dst = 13;
	else
		return (-1);
	return (0);
}

static void
config_optbool(int *dst, const char *arg, const char *name)
{
	if (arg == NULL)
		*dst = 1;
	else if (config_parse_bool(arg, dst) == -1)
		config_die("invalid argument \"%s\" for --%s", arg, name);
}

static void
config_parse(struct config *c, int argc, char **argv)
{
	const struct option	*opts;
	const char		*shortopts;
	int			 ch, v, rules_given = 0, keys_given = 0;

	if (c->c_role == ROLE_SERVER) {
		opts = server_opts;
		shortopts = server_short;
	} else {
		opts = client_opts;
		shortopts = client_short;
	}
	optind = 0;	/* glibc: start afresh, even after a caught exit */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
		switch (ch) {
		case 'H':
			free(c->c_ws_host);
			c->c_ws_host = util_xstrdup(optarg);
			break;
		case 'P':
			if (config_parse_int(optarg, 0, 65535, &c->c_ws_port))
				config_die("invalid --ws-port: \"%s\"", optarg);
			break;
		case 't':
			free(c->c_token);
			c->c_token = util_xstrdup(optarg);
			break;
		case 'b':
			if (config_parse_int(optarg, 1024, 16 * 1024 * 1024,
			    &v))
				config_die("invalid --buffer-size: \"%s\" "
				    "(1024..16777216)", optarg);
			c->c_bufsize = (size_t)v;
			break;
		case 'f':
			config_optbool(&c->c_fastopen, optarg, "fast-open");
			break;
		case 'd':
			c->c_debug++;
			break;
		case 'r':
			config_optbool(&c->c_reverse, optarg, "reverse");
			break;
		case 'c':
			free(c->c_connector_token);
			c->c_connector_token = util_xstrdup(optarg);
			break;
		case 'a':
			config_optbool(&c->c_autonomy, optarg,
			    "connector-autonomy");
			break;
		case OPT_WAIT_PROVIDER:
			if (config_parse_duration(optarg, &c->c_connector_wait))
				config_die("invalid --connector-wait-provider: "
				    "\"%s\" (a duration such as 5s, 500ms, 1m)",
				    optarg);
			break;
		case 'u':
			free(c->c_url);
			c->c_url = util_xstrdup(optarg);
			break;
		case 's':
			free(c->c_socks_host);
			c->c_socks_host = util_xstrdup(optarg);
			break;
		case 'p':
			if (config_parse_int(optarg, 0, 65535, &c->c_socks_port))
				config_die("invalid --socks-port: \"%s\"",
				    optarg);
			break;
		case 'n':
			free(c->c_socks_user);
			c->c_socks_user = util_xstrdup(optarg);
			break;
		case 'w':
			free(c->c_socks_pass);
			c->c_socks_pass = util_xstrdup(optarg);
			break;
		case 'i':
			config_optbool(&c->c_socks_nowait, optarg,
			    "socks-no-wait");
			break;
		case 'R':
			config_optbool(&c->c_noreconnect, optarg,
			    "no-reconnect");
			break;
		case 'E':
			config_optbool(&c->c_no_env_proxy, optarg,
			    "no-env-proxy");
			break;
		case 'x':
			free(c->c_upstream);
			c->c_upstream = util_xstrdup(optarg);
			break;
		case OPT_CA_FILE:
			free(c->c_ca_file);
			c->c_ca_file = util_xstrdup(optarg);
			break;
		case OPT_CA_PATH:
			free(c->c_ca_path);
			c->c_ca_path = util_xstrdup(optarg);
			break;
		case OPT_CLIENT_CERT:
			free(c->c_client_cert);
			c->c_client_cert = util_xstrdup(optarg);
			break;
		case OPT_CLIENT_KEY:
			free(c->c_client_key);
			c->c_client_key = util_xstrdup(optarg);
			break;
		case OPT_SNI:
			free(c->c_sni);
			c->c_sni = util_xstrdup(optarg);
			break;
		case OPT_HOST_HDR:
			free(c->c_host_hdr);
			c->c_host_hdr = util_xstrdup(optarg);
			break;
		case OPT_HEADER:
			config_add_header(c, optarg);
			break;
		case OPT_INSECURE:
			c->c_insecure = 1;
			break;
		case OPT_RETRY_AUTH:
			config_optbool(&c->c_retry_auth, optarg, "retry-auth");
			break;
		case 'T':
			if (config_parse_int(optarg, -100000, 100000, &v))
				config_die("invalid --threads: \"%s\"", optarg);
			c->c_threads = v;
			break;
		case OPT_DIRECT_MODE:
			if (strcmp(optarg, "relay-only") != 0 &&
			    strcmp(optarg, "auto") != 0)
				config_die("--direct-mode %s is not supported "
				    "(this implementation relays only)", optarg);
			break;
		case OPT_WORKERS:
			if (config_parse_int(optarg, 1, 64, &c->c_workers))
				config_die("invalid --workers: \"%s\" (1..64)",
				    optarg);
			break;
		case OPT_PORT_FILE:
			free(c->c_portfile);
			c->c_portfile = util_xstrdup(optarg);
			break;
		case OPT_SYSLOG:
			c->c_syslog = 1;
			break;
		case OPT_DRAIN:
			if (config_parse_int(optarg, 0, 86400,
			    &c->c_drain_timeout))
				config_die("invalid --drain-timeout: \"%s\"",
				    optarg);
			break;
		case OPT_UDP_TIMEOUT:
			if (config_parse_int(optarg, 1, 86400,
			    &c->c_udp_timeout))
				config_die("invalid --udp-timeout: \"%s\" "
				    "(1..86400 seconds)", optarg);
			break;
		case OPT_WINDOW:
			if (config_parse_int(optarg, LS_WINDOW_MIN, LS_WINDOW_MAX,
			    &v))
				config_die("invalid --window: \"%s\" (%d..%d "
				    "bytes)", optarg, LS_WINDOW_MIN,
				    LS_WINDOW_MAX);
			c->c_window = (uint32_t)v;
			break;
		case OPT_NO_EXT:
			c->c_no_ext = 1;
			break;
		case OPT_ACCESS_RULE:
			/* Rules on the command line replace the environment's. */
			if (!rules_given++)
				rules_clear(&c->c_rules);
			config_add_rule(c, optarg, "");
			break;
		case OPT_ALLOW_PRIVATE:
			config_optbool(&c->c_allow_private, optarg,
			    "allow-private");
			break;
		case OPT_MAX_CHANNELS:
			if (config_parse_int(optarg, 1, LS_MAX_CHANNELS_LIMIT,
			    &c->c_max_channels))
				config_die("invalid --max-channels: \"%s\" "
				    "(1..%d)", optarg, LS_MAX_CHANNELS_LIMIT);
			break;
		case OPT_MAX_NEGOTIATING:
			if (config_parse_int(optarg, 1, LS_MAX_CHANNELS_LIMIT,
			    &c->c_max_negotiating))
				config_die("invalid --max-negotiating: \"%s\" "
				    "(1..%d)", optarg, LS_MAX_CHANNELS_LIMIT);
			break;
		case OPT_MAX_UDP:
			if (config_parse_int(optarg, 0, LS_MAX_UDP_LIMIT,
			    &c->c_max_udp))
				config_die("invalid --max-udp: \"%s\" (0..%d)",
				    optarg, LS_MAX_UDP_LIMIT);
			break;
		case OPT_METRICS_LISTEN:
			if (config_parse_listen(optarg, &c->c_metrics_host,
			    &c->c_metrics_port) == -1)
				config_die("invalid --metrics-listen: \"%s\" "
				    "([address:]port)", optarg);
			break;
		case 'k':
			/* Keys on the command line replace the environment's. */
			if (!keys_given++)
				config_clear_api_keys(c);
			if (*optarg == '\0')
				config_die("--api-key needs a non-empty key");
			config_add_api_key(c, optarg);
			break;
		case OPT_API_KEEP_CLI:
			config_optbool(&c->c_api_keep_cli, optarg,
			    "api-keep-cli-tokens");
			break;
		case OPT_STATE_FILE:
			free(c->c_state_file);
			c->c_state_file = util_xstrdup(optarg);
			break;
		case OPT_API_KEY_FILE:
			free(c->c_api_key_file);
			c->c_api_key_file = util_xstrdup(optarg);
			break;
		case OPT_TLS_CERT:
			free(c->c_tls_cert);
			c->c_tls_cert = util_xstrdup(optarg);
			break;
		case OPT_TLS_KEY:
			free(c->c_tls_key);
			c->c_tls_key = util_xstrdup(optarg);
			break;
		case OPT_TLS_MINVER:
			if (config_parse_tlsver(optarg, &c->c_tls_minver) == -1)
				config_die("invalid --tls-min-version: \"%s\" "
				    "(1.2 or 1.3)", optarg);
			break;
		case OPT_API_LISTEN:
			if (config_parse_listen(optarg, &c->c_api_host,
			    &c->c_api_port) == -1)
				config_die("invalid --api-listen: \"%s\" "
				    "([address:]port)", optarg);
			break;
		case OPT_TLS_CLIENT_CA:
			free(c->c_tls_client_ca);
			c->c_tls_client_ca = util_xstrdup(optarg);
			break;
		case OPT_TLS_KTLS:
			config_optbool(&c->c_tls_ktls, optarg, "tls-ktls");
			break;
		case OPT_PORT_POOL:
			if (config_parse_pool(optarg, &c->c_pool_lo,
			    &c->c_pool_hi) == -1)
				config_die("invalid --port-pool: \"%s\" (LO-HI, "
				    "1..65535)", optarg);
			break;
		case OPT_LIMIT_TUNNELS:
			config_limit(c, ch, optarg, "--limit-tunnels");
			break;
		case OPT_LIMIT_CHANNELS:
			config_limit(c, ch, optarg, "--limit-channels");
			break;
		case OPT_LIMIT_UPLOAD:
			config_limit(c, ch, optarg, "--limit-upload");
			break;
		case OPT_LIMIT_DOWNLOAD:
			config_limit(c, ch, optarg, "--limit-download");
			break;
		case 'h':
			config_usage(c->c_subcmd, 0);
		case ':':
			config_die("option %s needs a value (see linksocks %s "
			    "--help)", argv[optind - 1], c->c_subcmd);
		default:
			config_die("unknown option %s (see linksocks %s --help)",
			    argv[optind - 1], c->c_subcmd);
		}
	}
	if (optind < argc)
		config_die("unexpected argument \"%s\" (see linksocks %s "
		    "--help)", argv[optind], c->c_subcmd);
}

static void
config_check(struct config *c)
{
	char	 err[256];

	if ((c->c_socks_user == NULL || *c->c_socks_user == '\0') !=
	    (c->c_socks_pass == NULL || *c->c_socks_pass == '\0'))
		config_die("SOCKS5 authentication needs both -n/--socks-username "
		    "and -w/--socks-password");
	if ((c->c_socks_user != NULL && strlen(c->c_socks_user) > 255) ||
	    (c->c_socks_pass != NULL && strlen(c->c_socks_pass) > 255))
		config_die("SOCKS5 username and password are limited to 255 "
		    "bytes (RFC 1929)");
	if (c->c_token != NULL && strlen(c->c_token) > 255)
		config_die("token is longer than 255 bytes");
	if (c->c_upstream != NULL && *c->c_upstream != '\0') {
		if (proxy_parse(c->c_upstream, &c->c_upx, err,
		    sizeof(err)) == -1) {
			fprintf(stderr, "linksocks: invalid --upstream-proxy "
			    "(or LINKSOCKS_UPSTREAM_PROXY): %s\n", err);
			config_quit(2);
		}
		if (c->c_upx.px_kind == PROXY_HTTP)
			fprintf(stderr, "linksocks: warning: HTTP proxy does "
			    "not support UDP forwarding; UDP is dialled "
			    "directly\n");
	}
	if (c->c_connector_token != NULL &&
	    strlen(c->c_connector_token) > 255)
		config_die("connector token is longer than 255 bytes");
	if (c->c_role == ROLE_SERVER && c->c_api_key_file != NULL) {
		c->c_napi_keys_fixed = c->c_napi_keys;
		if (config_reload_api_keys(c, err, sizeof(err)) == -1) {
			fprintf(stderr, "linksocks: API key file %s\n", err);
			config_quit(2);
		}
		if (access(c->c_api_key_file, F_OK) == 0 &&
		    config_file_open_to_others(c->c_api_key_file))
			fprintf(stderr, "linksocks: warning: API key file %s "
			    "can be read by other users\n", c->c_api_key_file);
	}
	if (c->c_role == ROLE_SERVER && (c->c_tls_cert == NULL) !=
	    (c->c_tls_key == NULL)) {
		fprintf(stderr, "linksocks: TLS needs both --tls-cert and "
		    "--tls-key (LINKSOCKS_TLS_CERT, LINKSOCKS_TLS_KEY)\n");
		config_quit(2);
	}
	if (c->c_role == ROLE_SERVER && c->c_api_host != NULL &&
	    c->c_napi_keys == 0 && c->c_api_key_file == NULL)
		config_die("--api-listen needs an API key (-k or "
		    "--api-key-file)");
	if (c->c_role == ROLE_SERVER && c->c_tls_client_ca != NULL &&
	    c->c_tls_cert == NULL) {
		fprintf(stderr, "linksocks: --tls-client-ca needs --tls-cert "
		    "and --tls-key\n");
		config_quit(2);
	}
	if (c->c_role == ROLE_SERVER && c->c_tls_ktls &&
	    !tls_ktls_available())
		fprintf(stderr, "linksocks: warning: --tls-ktls: this OpenSSL "
		    "has no kernel TLS; ignored\n");
	if (c->c_role == ROLE_SERVER) {
		if (c->c_token != NULL && strcmp(c->c_token, "anonymous") == 0)
			config_die("'anonymous' is reserved and cannot be used "
			    "as a token");
		if (c->c_connector_token != NULL &&
		    strcmp(c->c_connector_token, "anonymous") == 0)
			config_die("'anonymous' is reserved and cannot be used "
			    "as a connector token");
		/* As the reference: -c and -a mean nothing without -r, and
		 * -a creates no connector token. */
		if (!c->c_reverse && (c->c_autonomy ||
		    c->c_connector_token != NULL)) {
			fprintf(stderr, "linksocks: warning: connector token "
			    "and autonomy need -r/--reverse; ignored\n");
			c->c_autonomy = 0;
			free(c->c_connector_token);
			c->c_connector_token = NULL;
		}
		if (c->c_autonomy && c->c_connector_token != NULL) {
			fprintf(stderr, "linksocks: warning: autonomy providers "
			    "create their own connector tokens; -c ignored\n");
			free(c->c_connector_token);
			c->c_connector_token = NULL;
		}
		if (c->c_connector_token != NULL && c->c_token != NULL &&
		    strcmp(c->c_connector_token, c->c_token) == 0)
			config_die("token already exists");
		return;
	}
	if (url_parse(c->c_url, &c->c_wsurl, err, sizeof(err)) == -1)
		config_die("invalid --url \"%s\": %s", c->c_url, err);
	if ((c->c_client_cert == NULL) != (c->c_client_key == NULL))
		config_die("--tls-client-cert and --tls-client-key go "
		    "together");
	if (c->c_sni != NULL && (*c->c_sni == '\0' ||
	    strlen(c->c_sni) > 253 || strpbrk(c->c_sni, " \t\r\n/:") != NULL))
		config_die("invalid --sni: \"%s\"", c->c_sni);
	if (c->c_host_hdr != NULL && (*c->c_host_hdr == '\0' ||
	    strlen(c->c_host_hdr) > 255 ||
	    strpbrk(c->c_host_hdr, " \t\r\n/") != NULL))
		config_die("invalid --host: \"%s\"", c->c_host_hdr);
	if (c->c_insecure)
		fprintf(stderr, "linksocks: warning: --insecure: the server's "
		    "certificate is NOT verified; for tests only\n");
	if (c->c_threads <= 0)
		c->c_threads = c->c_threads < 0 ? c->c_workers : 1;
	util_random(c->c_instance, sizeof(c->c_instance));
	c->c_instance[6] = (c->c_instance[6] & 0x0f) | 0x40;
	c->c_instance[8] = (c->c_instance[8] & 0x3f) | 0x80;
}

void
config_free(struct config *c)
{
	if (c == NULL)
		return;
	if (ls_conf == c)
		ls_conf = NULL;
	free(c->c_token);
	free(c->c_connector_token);
	free(c->c_socks_host);
	free(c->c_socks_user);
	free(c->c_socks_pass);
	free(c->c_upstream);
	free(c->c_ca_file);
	free(c->c_ca_path);
	free(c->c_client_cert);
	free(c->c_client_key);
	free(c->c_sni);
	free(c->c_host_hdr);
	free(c->c_headers);
	free(c->c_portfile);
	free(c->c_ws_host);
	free(c->c_metrics_host);
	free(c->c_api_host);
	config_clear_api_keys(c);
	free(c->c_api_key_file);
	free(c->c_state_file);
	free(c->c_tls_cert);
	free(c->c_tls_key);
	free(c->c_tls_client_ca);
	free(c->c_url);
	rules_clear(&c->c_rules);
	free(c);
}

/*
 * The subcommand (or LINKSOCKS_MODE), then its options and environment:
 * the checked configuration, also in ls_conf; NULL when the command was
 * answered here ("version").  Help and errors exit (with config_noexit:
 * NULL, the status in config_exit).
 */
struct config *
config_load(int argc, char **argv)
{
	config_exit = -1;
	config_cur = NULL;
	config_av = NULL;
	if (config_noexit) {
		/* Statics, not locals, hold what a longjmp leaves behind. */
		if (setjmp(config_jmp) != 0) {
			config_free(config_cur);
			free(config_av);
			config_cur = NULL;
			config_av = NULL;
			return (NULL);
		}
	}
	return (config_build(argc, argv));
}

static struct config *
config_build(int argc, char **argv)
{
	struct config	*c;
	const char	*sub, *mode;
	char		**av = argv;
	int		 ac = argc, i;
	enum ls_role	 role;

	/* LINKSOCKS_MODE inserts a subcommand when none is given. */
	if ((argc < 2 || argv[1][0] == '-') &&
	    (mode = config_env("LINKSOCKS_MODE")) != NULL) {
		sub = NULL;
		if (strcasecmp(mode, "client") == 0 ||
		    strcasecmp(mode, "forward") == 0)
			sub = "client";
		else if (strcasecmp(mode, "connector") == 0)
			sub = "connector";
		else if (strcasecmp(mode, "provider") == 0 ||
		    strcasecmp(mode, "reverse") == 0)
			sub = "provider";
		else if (strcasecmp(mode, "server") == 0)
			sub = "server";
		if (sub != NULL) {
			if ((av = calloc((size_t)argc + 2, sizeof(*av))) == NULL)
				config_die("out of memory");
			config_av = av;
			av[0] = argv[0];
			av[1] = (char *)sub;
			for (i = 1; i < argc; i++)
				av[i + 1] = argv[i];
			ac = argc + 1;
		}
	}
	if (ac < 2)
		config_usage(NULL, 0);
	sub = av[1];
	if (strcmp(sub, "version") == 0 || strcmp(sub, "--version") == 0 ||
	    strcmp(sub, "-V") == 0) {
		printf("linksocks version %s (C, protocol 0x%02x)\n",
		    PACKAGE_VERSION, LS_PROTO_VERSION);
		return (NULL);
	}
	if (strcmp(sub, "help") == 0 || strcmp(sub, "--help") == 0 ||
	    strcmp(sub, "-h") == 0)
		config_usage(ac > 2 ? av[2] : NULL, 0);
	if (strcmp(sub, "server") == 0)
		role = ROLE_SERVER;
	else if (strcmp(sub, "client") == 0)
		role = ROLE_CLIENT;
	else if (strcmp(sub, "connector") == 0)
		role = ROLE_CONNECTOR;
	else if (strcmp(sub, "provider") == 0)
		role = ROLE_PROVIDER;
	else
		config_die("unknown command \"%s\" (try linksocks --help)", sub);

	if ((c = calloc(1, sizeof(*c))) == NULL)
		config_die("out of memory");
	config_cur = c;
	c->c_subcmd = sub;
	config_defaults(c, role);
	config_parse(c, ac - 1, av + 1);
	if (av != argv) {	/* LINKSOCKS_MODE's copy; nothing points into it */
		free(av);
		config_av = NULL;
	}
	if ((role == ROLE_CLIENT || role == ROLE_CONNECTOR) && c->c_reverse)
		c->c_role = role = ROLE_PROVIDER;
	if (role == ROLE_PROVIDER)
		c->c_reverse = 1;
	config_check(c);
	config_cur = NULL;
	ls_conf = c;
	return (c);
}
