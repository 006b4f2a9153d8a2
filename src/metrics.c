/*
 * metrics.c -- the master's view of every process's counters (stats.c),
 * rendered in the Prometheus text exposition format (version 0.0.4), and
 * the plain-HTTP listener of --metrics-listen that serves it.
 *
 * Workers report their counters every LS_STATS_INTERVAL seconds and when
 * asked (IPC_STATS_REQ, sent through the function the master gives
 * metrics_init).  A scrape asks every worker and answers once all that
 * are up have replied, or after METRICS_WAIT seconds with what it has:
 * the master never waits on a worker.  The counters a worker had when it
 * died are kept and added to those of its next life, so a worker's
 * counters, and the totals, never go down.
 *
 * Tokens are labelled by a hash prefix (stats.c); the first
 * LS_METRICS_TOKENS labels the master sees keep their own series, the
 * rest are summed into "other", so the output stays bounded.
 *
 * The listener takes no key: it is for a scraper on the same host, and
 * treats its connections as the tunnel port treats unauthenticated ones
 * (a deadline, a cap on connections and on the request head, oldest
 * dropped first).  metrics_render is what the HTTP API calls for its
 * own GET /metrics behind the API key.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "linksocks.h"

#define METRICS_WAIT		0.5	/* seconds a scrape waits for workers */
#define METRICS_TIMEOUT		10	/* seconds: request, then answer */
#define METRICS_CONNS		16	/* connections at once */
#define METRICS_WAITERS		64	/* scrapes waiting for workers */
#define METRICS_CTYPE		"text/plain; version=0.0.4; charset=utf-8"

/* One line of a family: which counter, with which label, kept where. */
#define MS_WORKERS	0x1
#define MS_MASTER	0x2
struct metrics_stat {
	const char	*ms_family;
	const char	*ms_label;	/* NULL: no label of its own */
	const char	*ms_value;
	int		 ms_where;	/* MS_*: who counts it */
};

struct metrics_family {
	const char	*mf_name;
	const char	*mf_help;
	int		 mf_gauge;
};

static const struct metrics_stat metrics_stats[ST_MAX] = {
	[ST_TUNNELS_OPEN] = { "linksocks_tunnels_open",
	    NULL, NULL, MS_WORKERS },
	[ST_TUNNELS_TOTAL] = { "linksocks_tunnels_total",
	    NULL, NULL, MS_WORKERS },
	[ST_CHANNELS_OPEN] = { "linksocks_channels_open",
	    NULL, NULL, MS_WORKERS },
	[ST_CHANNELS_TOTAL] = { "linksocks_channels_total",
	    NULL, NULL, MS_WORKERS },
	[ST_BYTES_IN] = { "linksocks_bytes_in_total", NULL, NULL, MS_WORKERS },
	[ST_BYTES_OUT] = { "linksocks_bytes_out_total",
	    NULL, NULL, MS_WORKERS },
	[ST_CONNECT_OK] = { "linksocks_connects_total",
	    "result", "ok", MS_WORKERS },
	[ST_CONNECT_REFUSED] = { "linksocks_connects_total", "result",
	    "refused", MS_WORKERS },
	[ST_CONNECT_TIMEOUT] = { "linksocks_connects_total", "result",
	    "timeout", MS_WORKERS },
	[ST_CONNECT_UNREACHABLE] = { "linksocks_connects_total", "result",
	    "unreachable", MS_WORKERS },
	[ST_CONNECT_RESOLVE] = { "linksocks_connects_total", "result",
	    "resolve", MS_WORKERS },
	[ST_CONNECT_DENIED] = { "linksocks_connects_total", "result",
	    "denied", MS_WORKERS },
	[ST_CONNECT_LIMIT] = { "linksocks_connects_total", "result", "limit",
	    MS_WORKERS },
	[ST_CONNECT_NO_TUNNEL] = { "linksocks_connects_total", "result",
	    "no_tunnel", MS_WORKERS },
	[ST_CONNECT_REMOTE] = { "linksocks_connects_total", "result",
	    "remote", MS_WORKERS },
	[ST_CONNECT_INVALID] = { "linksocks_connects_total", "result",
	    "invalid", MS_WORKERS },
	[ST_CONNECT_OTHER] = { "linksocks_connects_total", "result", "other",
	    MS_WORKERS },
	[ST_FASTOPEN_ANSWERED] = { "linksocks_fastopen_total", "outcome",
	    "answered", MS_WORKERS },
	[ST_FASTOPEN_CONFIRMED] = { "linksocks_fastopen_total", "outcome",
	    "confirmed", MS_WORKERS },
	[ST_FASTOPEN_FAILED] = { "linksocks_fastopen_total", "outcome",
	    "failed", MS_WORKERS },
	[ST_UDP_OK] = { "linksocks_udp_associations_total", "result", "ok",
	    MS_WORKERS },
	[ST_UDP_LIMIT] = { "linksocks_udp_associations_total", "result",
	    "limit", MS_WORKERS },
	[ST_UDP_NO_TUNNEL] = { "linksocks_udp_associations_total", "result",
	    "no_tunnel", MS_WORKERS },
	[ST_UDP_REMOTE] = { "linksocks_udp_associations_total", "result",
	    "remote", MS_WORKERS },
	[ST_UDP_TIMEOUT] = { "linksocks_udp_associations_total", "result",
	    "timeout", MS_WORKERS },
	[ST_UDP_OTHER] = { "linksocks_udp_associations_total", "result",
	    "other", MS_WORKERS },
	[ST_UDP_DGRAMS_IN] = { "linksocks_udp_datagrams_in_total", NULL, NULL,
	    MS_WORKERS },
	[ST_UDP_DGRAMS_OUT] = { "linksocks_udp_datagrams_out_total", NULL,
	    NULL, MS_WORKERS },
	[ST_UDP_BYTES_IN] = { "linksocks_udp_bytes_in_total", NULL, NULL,
	    MS_WORKERS },
	[ST_UDP_BYTES_OUT] = { "linksocks_udp_bytes_out_total", NULL, NULL,
	    MS_WORKERS },
	[ST_UDP_DROP_MALFORMED] = { "linksocks_udp_drops_total", "reason",
	    "malformed", MS_WORKERS },
	[ST_UDP_DROP_FRAGMENT] = { "linksocks_udp_drops_total", "reason",
	    "fragment", MS_WORKERS },
	[ST_UDP_DROP_FOREIGN] = { "linksocks_udp_drops_total", "reason",
	    "foreign", MS_WORKERS },
	[ST_UDP_DROP_FULL] = { "linksocks_udp_drops_total", "reason", "full",
	    MS_WORKERS },
	[ST_UDP_DROP_NOCLIENT] = { "linksocks_udp_drops_total", "reason",
	    "no_client", MS_WORKERS },
	[ST_UDP_DROP_RESOLVE] = { "linksocks_udp_drops_total", "reason",
	    "resolve", MS_WORKERS },
	[ST_UDP_DROP_SEND] = { "linksocks_udp_drops_total", "reason", "send",
	    MS_WORKERS },
	[ST_UDP_DROP_DENIED] = { "linksocks_udp_drops_total", "reason",
	    "denied", MS_WORKERS },
	[ST_AUTH_FAIL_TOKEN] = { "linksocks_auth_failures_total", "reason",
	    "token", MS_WORKERS },
	[ST_AUTH_FAIL_MALFORMED] = { "linksocks_auth_failures_total",
	    "reason", "malformed", MS_WORKERS },
	[ST_PREAUTH_TUNNEL] = { "linksocks_preauth_connections_total", "pool",
	    "tunnel", MS_WORKERS },
	[ST_PREAUTH_TUNNEL_DROP] = { "linksocks_preauth_drops_total", "pool",
	    "tunnel", MS_WORKERS },
	[ST_PREAUTH_SOCKS] = { "linksocks_preauth_connections_total", "pool",
	    "socks", MS_WORKERS },
	[ST_PREAUTH_SOCKS_DROP] = { "linksocks_preauth_drops_total", "pool",
	    "socks", MS_WORKERS },
	[ST_PREAUTH_METRICS] = { "linksocks_preauth_connections_total", "pool",
	    "metrics", MS_MASTER },
	[ST_PREAUTH_METRICS_DROP] = { "linksocks_preauth_drops_total", "pool",
	    "metrics", MS_MASTER },
	[ST_FDLIMIT] = { "linksocks_fd_limit_events_total", NULL, NULL,
	    MS_WORKERS | MS_MASTER },
	[ST_ACCESS_DIAL] = { "linksocks_access_refusals_total", "side",
	    "dial", MS_WORKERS },
	[ST_ACCESS_ENTRY] = { "linksocks_access_refusals_total", "side",
	    "entry", MS_WORKERS },
	[ST_HTTPPROXY_CONNECT] = { "linksocks_http_proxy_requests_total",
	    "kind", "connect", MS_WORKERS },
	[ST_HTTPPROXY_FORWARD] = { "linksocks_http_proxy_requests_total",
	    "kind", "forward", MS_WORKERS },
	[ST_HTTPPROXY_REFUSED] = { "linksocks_http_proxy_requests_total",
	    "kind", "refused", MS_WORKERS },
};

static const struct metrics_family metrics_families[] = {
	{ "linksocks_tunnels_open", "Authenticated tunnels open.", 1 },
	{ "linksocks_tunnels_total", "Tunnels authenticated.", 0 },
	{ "linksocks_channels_open", "Channels open on tunnels.", 1 },
	{ "linksocks_channels_total", "Channels opened on tunnels.", 0 },
	{ "linksocks_bytes_in_total", "Payload bytes received from tunnel "
	    "peers.", 0 },
	{ "linksocks_bytes_out_total", "Payload bytes sent to tunnel peers.",
	    0 },
	{ "linksocks_connects_total", "TCP connects by result: ok, or why "
	    "they failed.", 0 },
	{ "linksocks_fastopen_total", "Fast-open SOCKS5 replies sent before "
	    "the connect, and how the connect ended.", 0 },
	{ "linksocks_udp_associations_total", "UDP associations by result: "
	    "ok, or why they failed; never counted as connects or fast "
	    "open.", 0 },
	{ "linksocks_udp_datagrams_in_total", "UDP datagrams received from "
	    "tunnel peers.", 0 },
	{ "linksocks_udp_datagrams_out_total", "UDP datagrams sent to tunnel "
	    "peers.", 0 },
	{ "linksocks_udp_bytes_in_total", "UDP payload bytes received from "
	    "tunnel peers (also in linksocks_bytes_in_total).", 0 },
	{ "linksocks_udp_bytes_out_total", "UDP payload bytes sent to tunnel "
	    "peers (also in linksocks_bytes_out_total).", 0 },
	{ "linksocks_udp_drops_total", "UDP datagrams dropped, by reason.",
	    0 },
	{ "linksocks_auth_failures_total", "Failed tunnel authentications.",
	    0 },
	{ "linksocks_preauth_connections_total", "Connections counted "
	    "against a pre-authentication pool.", 0 },
	{ "linksocks_preauth_drops_total", "Connections dropped at a "
	    "pre-authentication cap, oldest first.", 0 },
	{ "linksocks_fd_limit_events_total", "Times a listener paused at the "
	    "open-file limit.", 0 },
	{ "linksocks_access_refusals_total", "Destinations refused by the "
	    "access rules.", 0 },
	{ "linksocks_http_proxy_requests_total", "HTTP proxy requests on the "
	    "SOCKS5 ports: CONNECT, absolute-form, or refused from the head.",
	    0 },
};

static const struct metrics_family metrics_tfamilies[TS_MAX] = {
	[TS_TUNNELS_OPEN] = { "linksocks_token_tunnels_open",
	    "Tunnels open per token.", 1 },
	[TS_TUNNELS_TOTAL] = { "linksocks_token_tunnels_total",
	    "Tunnels authenticated per token.", 0 },
	[TS_CHANNELS_OPEN] = { "linksocks_token_channels_open",
	    "Channels open per token.", 1 },
	[TS_CHANNELS_TOTAL] = { "linksocks_token_channels_total",
	    "Channels opened per token.", 0 },
	[TS_BYTES_IN] = { "linksocks_token_bytes_in_total",
	    "Payload bytes received per token.", 0 },
	[TS_BYTES_OUT] = { "linksocks_token_bytes_out_total",
	    "Payload bytes sent per token.", 0 },
	[TS_CONNECT_FAILED] = { "linksocks_token_connect_failures_total",
	    "TCP connects that failed per token.", 0 },
	[TS_FASTOPEN] = { "linksocks_token_fastopen_total",
	    "Fast-open replies per token.", 0 },
	[TS_UDP_BYTES_IN] = { "linksocks_token_udp_bytes_in_total",
	    "UDP payload bytes received per token.", 0 },
	[TS_UDP_BYTES_OUT] = { "linksocks_token_udp_bytes_out_total",
	    "UDP payload bytes sent per token.", 0 },
};

struct metrics_worker {
	int		 mw_up;		/* started, not yet reaped */
	int		 mw_answered;	/* ... to the current request */
	uint64_t	 mw_base[ST_MAX];	/* its earlier lives */
	struct ipc_stats mw_cur;		/* its last report */
};

struct metrics_waiter {
	metrics_ready_cb mwt_cb;
	void		*mwt_arg;
};

struct metrics_conn {
	struct bufferevent	*mc_bev;
	struct event		*mc_deadline;	/* accept + METRICS_TIMEOUT */
	struct preauth		 mc_preauth;
	int			 mc_done;	/* answered: close once out */
	char			 mc_peer[64];
};

static struct {
	struct event_base	*m_base;
	int			 m_nworkers;
	void			 (*m_request)(uint32_t);
	struct metrics_worker	 m_w[LS_MAX_WORKERS];
	char			 m_labels[LS_METRICS_TOKENS][16];
	unsigned		 m_nlabels;
	/* Token counters of workers' earlier lives, per bucket. */
	uint64_t		 m_tbase[LS_METRICS_TOKENS + 1][TS_MAX];
	double			 m_started;
	uint32_t		 m_seq;
	int			 m_pending;	/* a request is out */
	struct event		*m_timer;
	struct metrics_waiter	 m_waiters[METRICS_WAITERS];
	unsigned		 m_nwaiters;
	struct listen_guard	*m_listener;
} metrics;

static struct preauth_pool metrics_pool = PREAUTH_POOL_INITIALIZER(
    metrics_pool, "metrics connections", METRICS_CONNS,
    METRICS_CONNS * (HTTP_MAX_HEAD + 1));
static struct log_rl	metrics_rl = LOG_RL_INIT(1.0);

static unsigned	metrics_bucket(const char *);
static int	metrics_gauge(int);
static void	metrics_family(struct evbuffer *, const char *, const char *,
		    int);
static void	metrics_sample(struct evbuffer *, const char *, const char *,
		    const char *, const char *, const char *, uint64_t);
static void	metrics_timeout(evutil_socket_t, short, void *);
static void	metrics_fire(void);
static void	metrics_accept(evutil_socket_t, struct sockaddr *, int,
		    void *);
static void	metrics_read(struct bufferevent *, void *);
static void	metrics_written(struct bufferevent *, void *);
static void	metrics_event(struct bufferevent *, short, void *);
static void	metrics_answer(struct metrics_conn *, int, const char *,
		    struct evbuffer *);
static void	metrics_ready(void *);
static void	metrics_conn_free(struct metrics_conn *);
static void	metrics_escape(struct evbuffer *, const char *, int);
static void	metrics_drop(struct preauth *, void *);
static void	metrics_deadline(evutil_socket_t, short, void *);

/* ---- the text format ------------------------------------------------ */

/* Backslash and line feed escaped, and the double quote if quote. */
static void
metrics_escape(struct evbuffer *out, const char *s, int quote)
{
	for (; *s != '\0'; s++)
		if (*s == '\\')
			evbuffer_add(out, "\\\\", 2);
		else if (*s == '\n')
			evbuffer_add(out, "\\n", 2);
		else if (*s == '"' && quote)
			evbuffer_add(out, "\\\"", 2);
		else
			evbuffer_add(out, s, 1);
}

/* A label value: backslash, double quote and line feed escaped. */
void
metrics_escape_label(struct evbuffer *out, const char *s)
{
	metrics_escape(out, s, 1);
}

/* HELP text: backslash and line feed escaped. */
void
metrics_escape_help(struct evbuffer *out, const char *s)
{
	metrics_escape(out, s, 0);
}

static void
metrics_family(struct evbuffer *out, const char *name, const char *help,
    int gauge)
{
	evbuffer_add_printf(out, "# HELP %s ", name);
	metrics_escape_help(out, help);
	evbuffer_add_printf(out, "\n# TYPE %s %s\n", name,
	    gauge ? "gauge" : "counter");
}

/* name{l1="v1",l2="v2"} value; a NULL label is left out. */
static void
metrics_sample(struct evbuffer *out, const char *name, const char *l1,
    const char *v1, const char *l2, const char *v2, uint64_t value)
{
	evbuffer_add_printf(out, "%s", name);
	if (l1 != NULL || l2 != NULL) {
		evbuffer_add(out, "{", 1);
		if (l1 != NULL) {
			evbuffer_add_printf(out, "%s=\"", l1);
			metrics_escape_label(out, v1);
			evbuffer_add(out, "\"", 1);
		}
		if (l2 != NULL) {
			if (l1 != NULL)
				evbuffer_add(out, ",", 1);
			evbuffer_add_printf(out, "%s=\"", l2);
			metrics_escape_label(out, v2);
			evbuffer_add(out, "\"", 1);
		}
		evbuffer_add(out, "}", 1);
	}
	evbuffer_add_printf(out, " %llu\n", (unsigned long long)value);
}

/* ---- the master's table ----------------------------------------------- */

/*
 * request(seq) asks every worker for its counters (IPC_STATS_REQ); base
 * (NULL in tests) runs the scrape timer.
 */
void
metrics_init(struct event_base *base, int nworkers, void (*request)(uint32_t))
{
	memset(&metrics, 0, sizeof(metrics));
	metrics.m_base = base;
	metrics.m_nworkers = nworkers > LS_MAX_WORKERS ? LS_MAX_WORKERS :
	    nworkers;
	metrics.m_request = request;
	metrics.m_started = util_now();
	metrics_pool.pp_stat = ST_PREAUTH_METRICS;
	if (base != NULL && (metrics.m_timer = evtimer_new(base,
	    metrics_timeout, NULL)) == NULL)
		fatalx("%s: evtimer_new", __func__);
}

/* The bucket of a token label: its own, or the last one, "other". */
static unsigned
metrics_bucket(const char *label)
{
	unsigned	i;

	for (i = 0; i < metrics.m_nlabels; i++)
		if (strcmp(metrics.m_labels[i], label) == 0)
			return (i);
	if (metrics.m_nlabels < LS_METRICS_TOKENS &&
	    strcmp(label, LS_METRICS_OTHER) != 0) {
		snprintf(metrics.m_labels[metrics.m_nlabels],
		    sizeof(metrics.m_labels[0]), "%s", label);
		return (metrics.m_nlabels++);
	}
	return (LS_METRICS_TOKENS);
}

/* An IPC_STATS from worker idx (checked by ipc_payload_ok). */
void
metrics_worker_report(int idx, const void *data, size_t len)
{
	struct metrics_worker	*w;
	struct ipc_stats	*s;
	unsigned		 i, n = 0;

	if (idx < 0 || idx >= metrics.m_nworkers ||
	    !ipc_payload_ok(IPC_STATS, data, len))
		return;
	w = &metrics.m_w[idx];
	s = &w->mw_cur;
	memset(s, 0, sizeof(*s));
	memcpy(s, data, len);
	/* Labels as we print them: hex or "other", never anything else. */
	for (i = 0; i < s->is_ntokens; i++) {
		s->is_tokens[i].st_label[sizeof(s->is_tokens[i].st_label) -
		    1] = '\0';
		if (strspn(s->is_tokens[i].st_label, "0123456789abcdef") !=
		    strlen(s->is_tokens[i].st_label) &&
		    strcmp(s->is_tokens[i].st_label, LS_METRICS_OTHER) != 0)
			snprintf(s->is_tokens[i].st_label,
			    sizeof(s->is_tokens[i].st_label), "%s",
			    LS_METRICS_OTHER);
		(void)metrics_bucket(s->is_tokens[i].st_label);
	}
	w->mw_up = 1;
	if (metrics.m_pending && s->is_seq == metrics.m_seq)
		w->mw_answered = 1;
	if (!metrics.m_pending)
		return;
	for (i = 0; i < (unsigned)metrics.m_nworkers; i++)
		if (metrics.m_w[i].mw_up && !metrics.m_w[i].mw_answered)
			n++;
	if (n == 0)
		metrics_fire();
}

/* Worker idx (re)started: a scrape waits for its answer. */
void
metrics_worker_started(int idx)
{
	if (idx >= 0 && idx < metrics.m_nworkers)
		metrics.m_w[idx].mw_up = 1;
}

/* Worker idx died: its counters so far become the base of its next life. */
void
metrics_worker_gone(int idx)
{
	struct metrics_worker	*w;
	struct ipc_stats	*s;
	unsigned		 i, b;
	int			 k;

	if (idx < 0 || idx >= metrics.m_nworkers)
		return;
	w = &metrics.m_w[idx];
	s = &w->mw_cur;
	for (k = 0; k < ST_MAX; k++)
		if (!metrics_gauge(k))
			w->mw_base[k] += s->is_v[k];
	for (i = 0; i < s->is_ntokens; i++) {
		b = metrics_bucket(s->is_tokens[i].st_label);
		for (k = 0; k < TS_MAX; k++)
			if (!metrics_tfamilies[k].mf_gauge)
				metrics.m_tbase[b][k] +=
				    s->is_tokens[i].st_v[k];
	}
	memset(s, 0, sizeof(*s));
	w->mw_up = 0;
	w->mw_answered = 0;
}

/* Is the family of counter k a gauge? */
static int
metrics_gauge(int k)
{
	size_t	i;

	for (i = 0; i < LS_NITEMS(metrics_families); i++)
		if (strcmp(metrics_families[i].mf_name,
		    metrics_stats[k].ms_family) == 0)
			return (metrics_families[i].mf_gauge);
	return (0);
}

/*
 * One token's counters summed over the workers, for the API's status: 0,
 * or -1 when it has no series of its own (never seen, or in "other").
 */
int
metrics_token_sum(const char *hexhash, uint64_t *v)
{
	struct metrics_worker	*w;
	unsigned		 b, j;
	int			 i, k;

	memset(v, 0, TS_MAX * sizeof(*v));
	for (b = 0; b < metrics.m_nlabels; b++)
		if (strncmp(metrics.m_labels[b], hexhash,
		    LS_METRICS_HASHLEN) == 0)
			break;
	if (b == metrics.m_nlabels || strlen(hexhash) < LS_METRICS_HASHLEN)
		return (-1);
	for (k = 0; k < TS_MAX; k++)
		v[k] = metrics.m_tbase[b][k];
	for (i = 0; i < metrics.m_nworkers; i++) {
		w = &metrics.m_w[i];
		for (j = 0; j < w->mw_cur.is_ntokens; j++) {
			if (strcmp(w->mw_cur.is_tokens[j].st_label,
			    metrics.m_labels[b]) != 0)
				continue;
			for (k = 0; k < TS_MAX; k++)
				v[k] += w->mw_cur.is_tokens[j].st_v[k];
		}
	}
	return (0);
}

/* Everything we know now, in the text format. */
void
metrics_render(struct evbuffer *out)
{
	const struct metrics_family	*mf;
	const struct metrics_stat	*ms;
	struct metrics_worker		*w;
	uint64_t			 tv[LS_METRICS_TOKENS + 1][TS_MAX];
	int				 used[LS_METRICS_TOKENS + 1];
	char				 wname[16];
	unsigned			 b, j, up = 0;
	size_t				 f;
	int				 i, k;

	metrics_family(out, "linksocks_build_info", "Version of this "
	    "program; the value is always 1.", 1);
	metrics_sample(out, "linksocks_build_info", "version", PACKAGE_VERSION,
	    NULL, NULL, 1);
	for (i = 0; i < metrics.m_nworkers; i++)
		if (metrics.m_w[i].mw_up)
			up++;
	metrics_family(out, "linksocks_workers", "Worker processes "
	    "configured.", 1);
	metrics_sample(out, "linksocks_workers", NULL, NULL, NULL, NULL,
	    (uint64_t)metrics.m_nworkers);
	metrics_family(out, "linksocks_workers_up", "Worker processes "
	    "running.", 1);
	metrics_sample(out, "linksocks_workers_up", NULL, NULL, NULL, NULL, up);
	metrics_family(out, "linksocks_uptime_seconds", "Seconds since the "
	    "master started.", 1);
	metrics_sample(out, "linksocks_uptime_seconds", NULL, NULL, NULL, NULL,
	    (uint64_t)(util_now() - metrics.m_started));

	for (f = 0; f < LS_NITEMS(metrics_families); f++) {
		mf = &metrics_families[f];
		metrics_family(out, mf->mf_name, mf->mf_help, mf->mf_gauge);
		for (k = 0; k < ST_MAX; k++) {
			ms = &metrics_stats[k];
			if (strcmp(ms->ms_family, mf->mf_name) != 0)
				continue;
			for (i = 0; i < metrics.m_nworkers &&
			    (ms->ms_where & MS_WORKERS); i++) {
				w = &metrics.m_w[i];
				snprintf(wname, sizeof(wname), "%d", i);
				metrics_sample(out, mf->mf_name, "worker",
				    wname, ms->ms_label, ms->ms_value,
				    (mf->mf_gauge ? 0 : w->mw_base[k]) +
				    (w->mw_up ? w->mw_cur.is_v[k] : 0));
			}
			if (ms->ms_where & MS_MASTER)
				metrics_sample(out, mf->mf_name, "worker",
				    "master", ms->ms_label, ms->ms_value,
				    stats_v[k]);
		}
	}

	/* Tokens: summed over the workers, by the master's buckets. */
	memset(tv, 0, sizeof(tv));
	memset(used, 0, sizeof(used));
	for (b = 0; b <= LS_METRICS_TOKENS; b++)
		for (k = 0; k < TS_MAX; k++)
			if (metrics.m_tbase[b][k] != 0) {
				tv[b][k] = metrics.m_tbase[b][k];
				used[b] = 1;
			}
	for (i = 0; i < metrics.m_nworkers; i++) {
		w = &metrics.m_w[i];
		if (!w->mw_up)
			continue;
		for (j = 0; j < w->mw_cur.is_ntokens; j++) {
			b = metrics_bucket(w->mw_cur.is_tokens[j].st_label);
			used[b] = 1;
			for (k = 0; k < TS_MAX; k++)
				tv[b][k] += w->mw_cur.is_tokens[j].st_v[k];
		}
	}
	for (k = 0; k < TS_MAX; k++) {
		mf = &metrics_tfamilies[k];
		metrics_family(out, mf->mf_name, mf->mf_help, mf->mf_gauge);
		for (b = 0; b <= LS_METRICS_TOKENS; b++) {
			if (!used[b])
				continue;
			metrics_sample(out, mf->mf_name, "token",
			    b < LS_METRICS_TOKENS ? metrics.m_labels[b] :
			    LS_METRICS_OTHER, NULL, NULL, tv[b][k]);
		}
	}
}

/* ---- fresh counters for a scrape -------------------------------------- */

/*
 * Call cb(arg) once every worker that is up has sent its counters after
 * this call, or after METRICS_WAIT seconds; -1 (cb not called) when too
 * many wait already.
 */
int
metrics_refresh(metrics_ready_cb cb, void *arg)
{
	struct timeval	tv;
	int		i, n = 0;

	if (metrics.m_nwaiters == METRICS_WAITERS)
		return (-1);
	metrics.m_waiters[metrics.m_nwaiters].mwt_cb = cb;
	metrics.m_waiters[metrics.m_nwaiters].mwt_arg = arg;
	metrics.m_nwaiters++;
	if (metrics.m_pending)
		return (0);
	for (i = 0; i < metrics.m_nworkers; i++) {
		metrics.m_w[i].mw_answered = 0;
		if (metrics.m_w[i].mw_up)
			n++;
	}
	if (++metrics.m_seq == 0)
		metrics.m_seq = 1;
	metrics.m_pending = 1;
	if (metrics.m_request != NULL && n > 0)
		metrics.m_request(metrics.m_seq);
	tv.tv_sec = 0;
	tv.tv_usec = n > 0 ? (suseconds_t)(METRICS_WAIT * 1e6) : 0;
	if (metrics.m_timer != NULL)
		evtimer_add(metrics.m_timer, &tv);
	return (0);
}

/* A waiter goes away before its answer (its connection closed). */
void
metrics_refresh_cancel(void *arg)
{
	unsigned	i;

	for (i = 0; i < metrics.m_nwaiters; i++)
		if (metrics.m_waiters[i].mwt_arg == arg) {
			metrics.m_waiters[i] =
			    metrics.m_waiters[--metrics.m_nwaiters];
			i--;
		}
}

static void
metrics_timeout(evutil_socket_t fd, short ev, void *arg)
{
	if (metrics.m_pending)
		metrics_fire();
}

/* The request is answered (or given up on): every waiter, once. */
static void
metrics_fire(void)
{
	struct metrics_waiter	w;

	metrics.m_pending = 0;
	if (metrics.m_timer != NULL)
		evtimer_del(metrics.m_timer);
	while (metrics.m_nwaiters > 0) {
		w = metrics.m_waiters[0];
		metrics.m_waiters[0] =
		    metrics.m_waiters[--metrics.m_nwaiters];
		w.mwt_cb(w.mwt_arg);
	}
}

/* ---- the --metrics-listen port ---------------------------------------- */

/* Serve GET /metrics on fd (bound and listening; owned from now on). */
int
metrics_listen(int fd)
{
	if (metrics.m_base == NULL)
		return (-1);
	metrics.m_listener = listen_new(metrics.m_base, fd, -1, "metrics port",
	    metrics_accept, NULL, NULL);
	return (metrics.m_listener == NULL ? -1 : 0);
}

void
metrics_stop(void)
{
	listen_free(metrics.m_listener);	/* closes the port */
	metrics.m_listener = NULL;
}

static void
metrics_accept(evutil_socket_t fd, struct sockaddr *sa, int salen,
    void *arg)
{
	struct metrics_conn	*mc;
	struct timeval		 tv = { METRICS_TIMEOUT, 0 };

	if ((mc = calloc(1, sizeof(*mc))) == NULL) {
		close(fd);
		return;
	}
	util_sockaddr_str(sa, mc->mc_peer, sizeof(mc->mc_peer));
	util_socket_nonblock(fd);
	if ((mc->mc_bev = bufferevent_socket_new(metrics.m_base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		close(fd);
		free(mc);
		return;
	}
	/* One deadline for the request and the answer, however slow. */
	if ((mc->mc_deadline = evtimer_new(metrics.m_base, metrics_deadline,
	    mc)) == NULL) {
		bufferevent_free(mc->mc_bev);
		free(mc);
		return;
	}
	evtimer_add(mc->mc_deadline, &tv);
	/* Counted as not authenticated until answered: oldest dropped. */
	preauth_add(&metrics_pool, &mc->mc_preauth, metrics_drop, mc);
	bufferevent_setcb(mc->mc_bev, metrics_read, NULL, metrics_event, mc);
	bufferevent_setwatermark(mc->mc_bev, EV_READ, 0, HTTP_MAX_HEAD + 1);
	bufferevent_enable(mc->mc_bev, EV_READ);
}

static void
metrics_read(struct bufferevent *bev, void *arg)
{
	struct metrics_conn	*mc = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct http_head	 hh;
	int			 rc;

	if (mc->mc_done) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	memset(&hh, 0, sizeof(hh));
	if ((rc = http_parse_request(in, &hh)) == 0) {
		if (evbuffer_get_length(in) <= HTTP_MAX_HEAD) {
			/* More to come; at the byte cap the oldest go. */
			(void)preauth_set_bytes(&mc->mc_preauth,
			    evbuffer_get_length(in));
			return;
		}
		rc = -1;
	}
	if (rc == -1) {
		log_ratelimit(&metrics_rl, LL_INFO, "metrics %s: bad or "
		    "oversized request head", mc->mc_peer);
		metrics_answer(mc, 400, "bad request\n", NULL);
		return;
	}
	evbuffer_drain(in, evbuffer_get_length(in));
	if (strcmp(hh.hh_path, "/metrics") != 0)
		metrics_answer(mc, 404, "not found\n", NULL);
	else if (strcmp(hh.hh_method, "GET") != 0)
		metrics_answer(mc, 405, "method not allowed\n", NULL);
	else {
		mc->mc_done = 1;
		bufferevent_disable(bev, EV_READ);
		if (metrics_refresh(metrics_ready, mc) == -1)
			metrics_ready(mc);	/* what we have */
	}
	http_head_free(&hh);
}

/* The workers answered: the scrape's answer. */
static void
metrics_ready(void *arg)
{
	struct metrics_conn	*mc = arg;
	struct evbuffer		*body;

	if ((body = evbuffer_new()) == NULL) {
		metrics_conn_free(mc);
		return;
	}
	metrics_render(body);
	metrics_answer(mc, 200, NULL, body);
	evbuffer_free(body);
}

/* Write the response and close once it is out. */
static void
metrics_answer(struct metrics_conn *mc, int code, const char *text,
    struct evbuffer *body)
{
	struct evbuffer	*out = bufferevent_get_output(mc->mc_bev);

	mc->mc_done = 1;
	preauth_remove(&mc->mc_preauth);
	if (body == NULL) {
		http_respond(out, code, NULL, text, code == 405 ?
		    "Allow: GET\r\n" : NULL);
	} else {
		evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\n"
		    "Content-Type: %s\r\nContent-Length: %zu\r\n"
		    "Connection: close\r\n\r\n", METRICS_CTYPE,
		    evbuffer_get_length(body));
		evbuffer_add_buffer(out, body);
	}
	bufferevent_setcb(mc->mc_bev, metrics_read, metrics_written,
	    metrics_event, mc);
	bufferevent_enable(mc->mc_bev, EV_WRITE);
}

static void
metrics_written(struct bufferevent *bev, void *arg)
{
	struct metrics_conn	*mc = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		metrics_conn_free(mc);
}

static void
metrics_event(struct bufferevent *bev, short what, void *arg)
{
	struct metrics_conn	*mc = arg;

	if ((what & BEV_EVENT_EOF) && (what & BEV_EVENT_READING) &&
	    mc->mc_done)
		return;		/* half-closed after its request: answer */
	metrics_conn_free(mc);
}

static void
metrics_deadline(evutil_socket_t fd, short ev, void *arg)
{
	struct metrics_conn	*mc = arg;

	log_ratelimit(&metrics_rl, LL_INFO, "metrics %s: timeout",
	    mc->mc_peer);
	metrics_conn_free(mc);
}

static void
metrics_drop(struct preauth *pa, void *arg)
{
	metrics_conn_free(arg);
}

static void
metrics_conn_free(struct metrics_conn *mc)
{
	metrics_refresh_cancel(mc);
	preauth_remove(&mc->mc_preauth);
	event_free(mc->mc_deadline);
	bufferevent_free(mc->mc_bev);
	free(mc);
}
