/*
 * control.c -- the control plane in the master: the HTTP API (spec 11)
 * on the tunnel port and the run-time changes of the token registry.
 *
 * The master sees every request head before placement (MSG_PEEK); an
 * API request (/api/..., /metrics) stays here instead of going to a
 * worker.  Its head and body are bounded (HTTP_MAX_HEAD, a 64 KiB body,
 * 413 above), the key is compared in constant time against every
 * configured key, and a wrong key is throttled per address as a wrong
 * token is (throttle.c).  JSON goes through api.c.
 *
 * Every change is decided here: a token is added to or removed from the
 * master's registry, a reverse token's SOCKS5 port is bound now (one
 * SO_REUSEPORT socket per worker, as at start-up; a port that cannot be
 * bound is an error answer, never a token without a listener), the
 * change goes to every worker (IPC_TOKEN, with the worker's socket), and
 * the answer waits for a barrier: IPC_SYNC to every live worker, each
 * answering IPC_SYNC_DONE once everything before it is applied.  The
 * same barrier collects the statistics of GET /api/status (IPC_STAT).
 * Barriers run one at a time, in the order of the requests.
 *
 * The master reaches the workers through a table of functions
 * (struct control_ops), so nothing here calls into master.c.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "linksocks.h"

#define CONTROL_MAX_CONNS	64	/* API connections at once */
#define CONTROL_TIMEOUT		10	/* seconds for one request */
#define CONTROL_SYNC_TIMEOUT	3	/* seconds for the workers */
#define CONTROL_BODY_MAX	(64 * 1024)
#define CONTROL_POOL_BINDS	256	/* binds tried for one port 0 */
#define CONTROL_NOT_FOUND	"404 page not found\n"
#define CONTROL_JSON		"application/json"

enum control_state {
	CC_HEAD,		/* reading the request head */
	CC_BODY,		/* ... its body */
	CC_DELAY,		/* a wrong key: the 401 waits (throttle) */
	CC_SYNC,		/* waiting for the workers */
	CC_WRITE		/* answering, then close */
};

enum control_op {
	OP_NONE,
	OP_ADD,
	OP_DELETE,
	OP_STATUS,
	OP_ACCESS_GET,
	OP_ACCESS_PUT
};

struct control_conn {
	TAILQ_ENTRY(control_conn) cc_entry;	/* control_conns */
	TAILQ_ENTRY(control_conn) cc_sync;	/* control_syncq */
	enum control_state	 cc_state;
	enum control_op		 cc_op;
	struct bufferevent	*cc_bev;
	struct event		*cc_timer;
	struct http_head	 cc_head;
	size_t			 cc_bodylen;
	struct sockaddr_storage	 cc_ss;
	char			 cc_peer[64];
	int			 cc_plain;	/* no JSON Content-Type */
	int			 cc_gone;	/* the client left meanwhile */
	int			 cc_code;	/* the answer, once decided */
	char			*cc_body;
};

/* Statistics of one token, summed over the workers for a status. */
struct control_stat {
	TAILQ_ENTRY(control_stat) cs_entry;
	struct ipc_stat		 cs;
};

static struct {
	struct event_base	*base;
	const struct control_ops *ops;
	int			 nworkers;
	TAILQ_HEAD(, control_conn) conns;
	unsigned		 nconns;
	TAILQ_HEAD(, control_conn) syncq;	/* head: the barrier running */
	uint32_t		 sync_id;
	uint64_t		 sync_wait;	/* workers yet to answer */
	struct event		*sync_timer;
	TAILQ_HEAD(, control_stat) stats;
	struct ipc_sync_done	 totals;
	double			 started;
	uint8_t			 keys[LS_MAX_API_KEYS][LS_SHA256_LEN];
	size_t			 nkeys;
	json_t			*access[2];	/* by side, as given */
	int			 access_set[2];	/* ... set by the API or file */
	int			 file_level;	/* the state file's log_level */
	struct log_rl		 rl_save;
	struct log_rl		 rl_key;
	struct log_rl		 rl_bad;
} ctl;

static void	control_read(struct bufferevent *, void *);
static void	control_event(struct bufferevent *, short, void *);
static void	control_written(struct bufferevent *, void *);
static void	control_timeout(evutil_socket_t, short, void *);
static void	control_route(struct control_conn *);
static void	control_request(struct control_conn *);
static void	control_answer(struct control_conn *, int, char *);
static void	control_answer_error(struct control_conn *, int,
		    const char *);
static void	control_send(struct control_conn *);
static void	control_send_type(struct control_conn *, const char *);
static void	control_free(struct control_conn *);
static void	control_metrics_ready(void *);
static int	control_key_ok(const char *);
static void	control_add(struct control_conn *, const char *, size_t);
static void	control_delete(struct control_conn *, const char *);
static void	control_sync_queue(struct control_conn *);
static void	control_sync_start(void);
static void	control_sync_done(void);
static void	control_sync_timeout(evutil_socket_t, short, void *);
static void	control_status(struct control_conn *);
static int	control_bind_port(int, int *, char *, size_t);
static int	control_port_used(int);
static void	control_broadcast_token(struct token *, int, int);
static void	control_remove_token(struct token *);
static void	control_send_rules(int, const char *, const struct api_rules *);
static void	control_access_put(struct control_conn *, const char *, size_t);
static void	control_access_set(int, const struct api_rules *);
static void	control_keys(struct config *);
static int	control_persisted(const struct token *);
static struct token *control_state_add(const struct state_token *, int,
		    char *, size_t);
static int	control_state_save(void);
static int	control_reload_state(void);
static int	control_reload_token(struct token *,
		    const struct state_token *);

void
control_init(struct event_base *base, const struct control_ops *ops,
    int nworkers)
{
	struct config	*c = ls_conf;

	/* ctl starts zeroed; control_load() may have filled it already. */
	ctl.base = base;
	ctl.ops = ops;
	ctl.nworkers = nworkers;
	TAILQ_INIT(&ctl.conns);
	TAILQ_INIT(&ctl.syncq);
	TAILQ_INIT(&ctl.stats);
	ctl.started = util_now();
	ctl.rl_key.rl_interval = 1.0;
	ctl.rl_bad.rl_interval = 1.0;
	ctl.rl_save.rl_interval = 10.0;
	if ((ctl.sync_timer = evtimer_new(base, control_sync_timeout,
	    NULL)) == NULL)
		fatalx("%s: out of memory", __func__);
	control_keys(c);
}

/* Keys compare as SHA-256 digests: the same time for any length. */
static void
control_keys(struct config *c)
{
	size_t	i;

	for (i = 0; i < c->c_napi_keys && i < LS_MAX_API_KEYS; i++)
		url_sha256(c->c_api_keys[i], strlen(c->c_api_keys[i]),
		    ctl.keys[i]);
	ctl.nkeys = i;
}

/*
 * Is the request head waiting on fd one for us?  With an API key: any
 * method on /api/... or /metrics.  Peeked, nothing consumed.
 */
int
control_wants(int fd)
{
	char	 buf[512], *sp, *end;
	ssize_t	 r;

	if (ctl.nkeys == 0)
		return (0);
	r = recv(fd, buf, sizeof(buf) - 1, MSG_PEEK | MSG_DONTWAIT);
	if (r <= 0)
		return (0);
	buf[r] = '\0';
	if ((sp = strchr(buf, ' ')) == NULL || sp - buf > 16)
		return (0);
	sp++;
	end = sp + strcspn(sp, " ?#\r\n");
	return (strncmp(sp, "/api/", 5) == 0 ||
	    ((size_t)(end - sp) == 8 && strncmp(sp, "/metrics", 8) == 0));
}

/* An API request's connection, from the tunnel port's accept. */
void
control_accept(int fd, const char *peer)
{
	struct control_conn	*cc;
	struct timeval		 tv = { CONTROL_TIMEOUT, 0 };
	socklen_t		 slen;

	if (ctl.nconns >= CONTROL_MAX_CONNS ||
	    (cc = calloc(1, sizeof(*cc))) == NULL) {
		log_ratelimit(&ctl.rl_bad, LL_WARNX, "API request from %s: "
		    "too many at once, closed", peer);
		close(fd);
		return;
	}
	snprintf(cc->cc_peer, sizeof(cc->cc_peer), "%s", peer);
	slen = sizeof(cc->cc_ss);
	if (getpeername(fd, (struct sockaddr *)&cc->cc_ss, &slen) == -1)
		cc->cc_ss.ss_family = AF_UNSPEC;
	if ((cc->cc_bev = bufferevent_socket_new(ctl.base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL ||
	    (cc->cc_timer = evtimer_new(ctl.base, control_timeout,
	    cc)) == NULL) {
		if (cc->cc_bev == NULL)
			close(fd);
		else
			bufferevent_free(cc->cc_bev);
		free(cc);
		return;
	}
	TAILQ_INSERT_TAIL(&ctl.conns, cc, cc_entry);
	ctl.nconns++;
	cc->cc_state = CC_HEAD;
	bufferevent_setcb(cc->cc_bev, control_read, NULL, control_event, cc);
	bufferevent_setwatermark(cc->cc_bev, EV_READ, 0,
	    HTTP_MAX_HEAD + CONTROL_BODY_MAX + 1);
	bufferevent_enable(cc->cc_bev, EV_READ);
	evtimer_add(cc->cc_timer, &tv);
	control_read(cc->cc_bev, cc);
}

static void
control_free(struct control_conn *cc)
{
	if (cc->cc_state == CC_SYNC)
		TAILQ_REMOVE(&ctl.syncq, cc, cc_sync);
	metrics_refresh_cancel(cc);
	TAILQ_REMOVE(&ctl.conns, cc, cc_entry);
	ctl.nconns--;
	if (cc->cc_timer != NULL)
		event_free(cc->cc_timer);
	bufferevent_free(cc->cc_bev);
	http_head_free(&cc->cc_head);
	free(cc->cc_body);
	free(cc);
}

static void
control_read(struct bufferevent *bev, void *arg)
{
	struct control_conn	*cc = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	const char		*te, *cl;
	char			*end;
	unsigned long long	 n;
	int			 r;

	if (cc->cc_state == CC_HEAD) {
		if ((r = http_parse_request(in, &cc->cc_head)) == 0)
			return;
		if (r == -1) {
			log_ratelimit(&ctl.rl_bad, LL_INFO, "API request from "
			    "%s: malformed or oversized head", cc->cc_peer);
			cc->cc_plain = 1;
			control_answer(cc, 400, util_xstrdup("400 Bad "
			    "Request\n"));
			control_send(cc);
			return;
		}
		cc->cc_state = CC_BODY;
		te = http_header(&cc->cc_head, "Transfer-Encoding");
		cl = http_header(&cc->cc_head, "Content-Length");
		if (te != NULL) {
			cc->cc_plain = 1;
			control_answer(cc, 411, util_xstrdup("a body needs a "
			    "Content-Length\n"));
			control_send(cc);
			return;
		}
		if (cl != NULL) {
			errno = 0;
			n = strtoull(cl, &end, 10);
			if (*cl < '0' || *cl > '9' || *end != '\0' ||
			    errno != 0) {
				cc->cc_plain = 1;
				control_answer(cc, 400, util_xstrdup("400 Bad "
				    "Request\n"));
				control_send(cc);
				return;
			}
			cc->cc_bodylen = n > CONTROL_BODY_MAX ?
			    CONTROL_BODY_MAX + 1 : (size_t)n;
		}
		/* The route, the key and the size first: no body is read
		 * for a request we refuse. */
		control_route(cc);
		if (cc->cc_state != CC_BODY)
			return;
	}
	if (cc->cc_state != CC_BODY)
		return;
	if (evbuffer_get_length(in) < cc->cc_bodylen)
		return;
	control_request(cc);
}

static void
control_event(struct bufferevent *bev, short what, void *arg)
{
	struct control_conn	*cc = arg;

	if (cc->cc_state == CC_WRITE && !(what & BEV_EVENT_ERROR))
		return;
	/* The client went away: what it asked for is done regardless. */
	if (cc->cc_state == CC_SYNC) {
		cc->cc_gone = 1;	/* the barrier frees it */
		bufferevent_disable(bev, EV_READ | EV_WRITE);
		return;
	}
	control_free(cc);
}

static void
control_written(struct bufferevent *bev, void *arg)
{
	struct control_conn	*cc = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
		shutdown(bufferevent_getfd(bev), SHUT_WR);
		control_free(cc);
	}
}

static void
control_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct control_conn	*cc = arg;

	switch (cc->cc_state) {
	case CC_HEAD:
	case CC_BODY:
		log_ratelimit(&ctl.rl_bad, LL_INFO, "API request from %s: "
		    "not complete within %d s", cc->cc_peer, CONTROL_TIMEOUT);
		control_free(cc);
		break;
	case CC_DELAY:
		control_send(cc);
		break;
	case CC_SYNC:
		break;		/* the barrier has its own deadline */
	case CC_WRITE:
		control_free(cc);
		break;
	}
}

/* Is key one of ours?  Every key is compared, in constant time. */
static int
control_key_ok(const char *key)
{
	uint8_t	 d[LS_SHA256_LEN];
	size_t	 i;
	int	 ok = 0;

	if (key == NULL)
		key = "";
	url_sha256(key, strlen(key), d);
	for (i = 0; i < ctl.nkeys; i++)
		ok |= CRYPTO_memcmp(d, ctl.keys[i], sizeof(d)) == 0;
	return (ok && *key != '\0');
}

/*
 * Spec 2.1 and 11: the routes, then the key (401, throttled), then the
 * method (405) and the body's size (413).
 */
static void
control_route(struct control_conn *cc)
{
	const char	*path = cc->cc_head.hh_path;
	const char	*method = cc->cc_head.hh_method;
	struct timeval	 tv;
	double		 d;
	unsigned	 n;
	int		 metrics = 0;

	if (strcmp(path, "/metrics") == 0)
		cc->cc_plain = metrics = 1;
	else if (strcmp(path, "/api/token") == 0 ||
	    strncmp(path, "/api/token/", 11) == 0) {
		if (strcmp(method, "POST") == 0)
			cc->cc_op = OP_ADD;
		else if (strcmp(method, "DELETE") == 0)
			cc->cc_op = OP_DELETE;
	} else if (strcmp(path, "/api/config/access") == 0) {
		if (strcmp(method, "GET") == 0)
			cc->cc_op = OP_ACCESS_GET;
		else if (strcmp(method, "PUT") == 0)
			cc->cc_op = OP_ACCESS_PUT;
	} else if (strcmp(path, "/api/status") == 0) {
		cc->cc_plain = 1;	/* the reference sets no type here */
		if (strcmp(method, "GET") == 0)
			cc->cc_op = OP_STATUS;
	} else {
		cc->cc_plain = 1;
		control_answer(cc, 404, util_xstrdup(CONTROL_NOT_FOUND));
		control_send(cc);
		return;
	}
	if (!control_key_ok(http_header(&cc->cc_head, "X-API-Key"))) {
		d = throttle_fail((struct sockaddr *)&cc->cc_ss, util_now(),
		    &n);
		log_ratelimit(&ctl.rl_key, LL_INFO, "API request from %s: "
		    "invalid API key (%u failures from this address)",
		    cc->cc_peer, n);
		control_answer_error(cc, 401, "invalid API key");
		if (d > 0) {
			/* Nothing more is read; the answer waits. */
			cc->cc_state = CC_DELAY;
			bufferevent_disable(cc->cc_bev, EV_READ);
			tv.tv_sec = (time_t)d;
			tv.tv_usec = (suseconds_t)((d - (double)tv.tv_sec) *
			    1e6);
			evtimer_add(cc->cc_timer, &tv);
			return;
		}
		control_send(cc);
		return;
	}
	throttle_success((struct sockaddr *)&cc->cc_ss);
	if (metrics) {
		control_metrics(cc);
		return;
	}
	if (cc->cc_op == OP_NONE) {
		control_answer(cc, 405, util_xstrdup(""));
		control_send(cc);
		return;
	}
	if (cc->cc_bodylen > CONTROL_BODY_MAX) {
		control_answer_error(cc, 413, "request body too large");
		control_send(cc);
		return;
	}
}

/*
 * GET /metrics, the API key checked: the workers are asked for fresh
 * counters (metrics.c answers within half a second, whatever happens)
 * and the text goes out when they are in.
 */
void
control_metrics(struct control_conn *cc)
{
	if (metrics_refresh(control_metrics_ready, cc) == -1)
		control_metrics_ready(cc);	/* too many waiting: as is */
}

static void
control_metrics_ready(void *arg)
{
	struct control_conn	*cc = arg;
	struct evbuffer		*b;
	size_t			 len;
	char			*body;

	if ((b = evbuffer_new()) == NULL)
		fatal("%s: evbuffer_new", __func__);
	metrics_render(b);
	len = evbuffer_get_length(b);
	if ((body = malloc(len + 1)) == NULL)
		fatal("%s: malloc", __func__);
	evbuffer_remove(b, body, len);
	body[len] = '\0';
	evbuffer_free(b);
	control_reply(cc, 200, "text/plain; version=0.0.4; charset=utf-8",
	    body);
}

/* Answer now: code, content type (NULL: text/plain), body (ours). */
void
control_reply(struct control_conn *cc, int code, const char *ctype,
    char *body)
{
	cc->cc_plain = ctype == NULL;
	control_answer(cc, code, body);
	control_send_type(cc, ctype);
}

/* The head and the whole body are here. */
static void
control_request(struct control_conn *cc)
{
	struct evbuffer	*in = bufferevent_get_input(cc->cc_bev);
	char		*body;
	const char	*path = cc->cc_head.hh_path;

	if ((body = malloc(cc->cc_bodylen + 1)) == NULL) {
		control_answer_error(cc, 500, "out of memory");
		control_send(cc);
		return;
	}
	evbuffer_remove(in, body, cc->cc_bodylen);
	body[cc->cc_bodylen] = '\0';
	bufferevent_disable(cc->cc_bev, EV_READ);
	switch (cc->cc_op) {
	case OP_ADD:
		control_add(cc, body, cc->cc_bodylen);
		break;
	case OP_DELETE:
		if (strcmp(path, "/api/token") == 0 ||
		    strcmp(path, "/api/token/") == 0) {
			char	*tok = api_delete_parse(body, cc->cc_bodylen);

			control_delete(cc, tok);
			free(tok);
		} else
			control_delete(cc, path + 11);
		break;
	case OP_STATUS:
		control_sync_queue(cc);
		break;
	case OP_ACCESS_GET:
		control_answer(cc, 200, api_access_body(ctl.access[ACCESS_ENTRY],
		    ctl.access[ACCESS_DIAL]));
		control_send(cc);
		break;
	case OP_ACCESS_PUT:
		control_access_put(cc, body, cc->cc_bodylen);
		break;
	case OP_NONE:
		break;
	}
	free(body);
}

/* The answer is decided (sent by control_send): body is ours, NULL if
 * out of memory. */
static void
control_answer(struct control_conn *cc, int code, char *body)
{
	cc->cc_code = code;
	free(cc->cc_body);
	cc->cc_body = body;
}

static void
control_answer_error(struct control_conn *cc, int code, const char *error)
{
	control_answer(cc, code, api_error_body(error));
}

static void
control_send(struct control_conn *cc)
{
	control_send_type(cc, cc->cc_plain ? NULL : CONTROL_JSON);
}

static void
control_send_type(struct control_conn *cc, const char *ctype)
{
	struct evbuffer	*out = bufferevent_get_output(cc->cc_bev);

	if (cc->cc_body == NULL) {
		cc->cc_code = 500;
		cc->cc_plain = 1;
	}
	cc->cc_state = CC_WRITE;
	http_respond(out, cc->cc_code, cc->cc_body != NULL ? ctype : NULL,
	    cc->cc_body != NULL ? cc->cc_body : "out of memory\n", NULL);
	bufferevent_disable(cc->cc_bev, EV_READ);
	bufferevent_setcb(cc->cc_bev, NULL, control_written, control_event,
	    cc);
	bufferevent_enable(cc->cc_bev, EV_WRITE);
}

/* ---- tokens ----------------------------------------------------------- */

static int
control_port_used(int port)
{
	struct token	*tk;

	TAILQ_FOREACH(tk, &registry_tokens, tk_entry)
		if (tk->tk_kind == TOK_REVERSE && tk->tk_port == port)
			return (1);
	return (0);
}

/*
 * Bind port (0: one of the pool) once per worker; fds[] gets the
 * sockets.  -1 with the reason in err: nothing stays bound.
 */
static int
control_bind_port(int port, int *fds, char *err, size_t errlen)
{
	struct config	*c = ls_conf;
	char		 e[256];
	int		 i, span, tries, p, want = port, binds;
	uint32_t	 rnd;

	span = c->c_pool_hi - c->c_pool_lo + 1;
	tries = port == 0 ? span : 1;
	binds = CONTROL_POOL_BINDS;
	util_random(&rnd, sizeof(rnd));
	p = port == 0 ? c->c_pool_lo + (int)(rnd % (uint32_t)span) : port;
	for (; tries > 0; tries--) {
		if (port == 0 && ++p > c->c_pool_hi)
			p = c->c_pool_lo;
		if (control_port_used(p))
			continue;
		/* Ports the OS refuses: a bounded number of tries. */
		if (binds-- == 0)
			break;
		for (i = 0; i < ctl.nworkers; i++)
			if ((fds[i] = util_bind_tcp(c->c_socks_host, p, 1, 0, e,
			    sizeof(e))) == -1)
				break;
		if (i == ctl.nworkers)
			return (p);
		while (--i >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
		if (port != 0) {
			snprintf(err, errlen, "cannot allocate port: %d (%s)",
			    want, e);
			return (-1);
		}
	}
	snprintf(err, errlen, "cannot allocate port: %d", want);
	return (-1);
}

/*
 * Tell every worker about tk (remove: that it is gone; fds: a new
 * token's SOCKS5 sockets go with it, not an update's).
 */
static void
control_broadcast_token(struct token *tk, int remove, int fds)
{
	struct ipc_token	 it;
	int			 i, fd;

	memset(&it, 0, sizeof(it));
	it.it_kind = (uint32_t)tk->tk_kind;
	it.it_remove = (uint32_t)remove;
	it.it_port = tk->tk_port;
	it.it_autonomy = (uint32_t)tk->tk_autonomy;
	snprintf(it.it_token, sizeof(it.it_token), "%s", tk->tk_token);
	if (tk->tk_target != NULL)
		snprintf(it.it_target, sizeof(it.it_target), "%s",
		    tk->tk_target);
	if (tk->tk_owner != NULL)
		snprintf(it.it_owner, sizeof(it.it_owner), "%s", tk->tk_owner);
	if (tk->tk_user != NULL) {
		snprintf(it.it_user, sizeof(it.it_user), "%s", tk->tk_user);
		snprintf(it.it_pass, sizeof(it.it_pass), "%s", tk->tk_pass);
	}
	it.it_max_tunnels = tk->tk_limits.tl_max_tunnels;
	it.it_max_channels = tk->tk_limits.tl_max_channels;
	it.it_upload = tk->tk_limits.tl_upload;
	it.it_download = tk->tk_limits.tl_download;
	for (i = 0; i < ctl.nworkers; i++) {
		fd = -1;
		if (!remove && fds && tk->tk_fds[i] != -1 &&
		    (fd = dup(tk->tk_fds[i])) == -1)
			log_warn("%s: dup", __func__);
		/* A worker down now inherits the master's copy later. */
		ctl.ops->co_send(i, IPC_TOKEN, &it, sizeof(it), fd);
	}
}

/*
 * A rule list to every worker, one rule a message (the list was checked
 * by api.c): a side's list (enum access_side) or a token's own.
 */
static void
control_send_rules(int side, const char *token, const struct api_rules *ar)
{
	struct ipc_rules	 ir;
	size_t			 i;
	int			 w;

	memset(&ir, 0, sizeof(ir));
	ir.ir_side = (uint32_t)side;
	if (token != NULL)
		snprintf(ir.ir_token, sizeof(ir.ir_token), "%s", token);
	for (w = 0; w < ctl.nworkers; w++) {
		ir.ir_op = IPC_RULES_BEGIN;
		ir.ir_text[0] = '\0';
		ctl.ops->co_send(w, IPC_RULES, &ir, sizeof(ir), -1);
		ir.ir_op = IPC_RULES_ADD;
		for (i = 0; i < ar->ar_n; i++) {
			snprintf(ir.ir_text, sizeof(ir.ir_text), "%s",
			    ar->ar_texts[i]);
			ctl.ops->co_send(w, IPC_RULES, &ir, sizeof(ir), -1);
		}
		ir.ir_op = IPC_RULES_COMMIT;
		ir.ir_text[0] = '\0';
		ctl.ops->co_send(w, IPC_RULES, &ir, sizeof(ir), -1);
	}
}

/*
 * PUT /api/config/access: a list that is present replaces the side's
 * list (here, for workers started later, and in every worker), a
 * missing one stays.  The answer is the configuration now.
 */
static void
control_access_put(struct control_conn *cc, const char *body, size_t len)
{
	struct api_access_req	 r;
	struct api_rules	*ar;
	char			 err[512];
	int			 side;

	if (api_access_parse(body, len, &r, err, sizeof(err)) == -1) {
		log_ratelimit(&ctl.rl_bad, LL_INFO, "API request from %s: %s",
		    cc->cc_peer, log_strz(err));
		control_answer_error(cc, 400, err);
		control_send(cc);
		return;
	}
	for (side = 0; side < 2; side++) {
		if (side == ACCESS_ENTRY ? !r.aa_has_entry : !r.aa_has_dial)
			continue;
		ar = side == ACCESS_ENTRY ? &r.aa_entry : &r.aa_dial;
		control_access_set(side, ar);
		log_info("API: %s access rules set (%zu rule%s)",
		    side == ACCESS_ENTRY ? "entry" : "dial", ar->ar_n,
		    ar->ar_n == 1 ? "" : "s");
	}
	api_access_req_free(&r);
	(void)control_state_save();
	control_answer(cc, 200, api_access_body(ctl.access[ACCESS_ENTRY],
	    ctl.access[ACCESS_DIAL]));
	control_sync_queue(cc);
}

/*
 * A side's list (enum access_side) from the API or the state file: here
 * (for workers started later) and in every worker.  ar NULL: the side
 * has the command line's list again.
 */
static void
control_access_set(int side, const struct api_rules *ar)
{
	struct ipc_rules	 ir;
	struct rules		 rs;
	char			 err[256];
	size_t			 i;
	int			 w;

	json_decref(ctl.access[side]);
	ctl.access[side] = NULL;
	ctl.access_set[side] = ar != NULL;
	if (ar == NULL) {
		access_set_rules((enum access_side)side, NULL);
		memset(&ir, 0, sizeof(ir));
		ir.ir_op = IPC_RULES_RESET;
		ir.ir_side = (uint32_t)side;
		for (w = 0; w < ctl.nworkers; w++)
			ctl.ops->co_send(w, IPC_RULES, &ir, sizeof(ir), -1);
		return;
	}
	memset(&rs, 0, sizeof(rs));
	for (i = 0; i < ar->ar_n; i++)
		(void)rules_add(&rs, ar->ar_texts[i], err, sizeof(err));
	access_set_rules((enum access_side)side, &rs);
	control_send_rules(side, NULL, ar);
	ctl.access[side] = json_incref(ar->ar_json);	/* NULL stays */
}

/* POST /api/token (spec 11.1). */
static void
control_add(struct control_conn *cc, const char *body, size_t len)
{
	struct api_token_req	 r;
	struct token		*tk, *rtk;
	char			 err[512];
	int			 fds[LS_MAX_WORKERS], i, port = -2;
	size_t			 n;

	if (api_token_parse(body, len, &r, err, sizeof(err)) == -1) {
		log_ratelimit(&ctl.rl_bad, LL_INFO, "API request from %s: %s",
		    cc->cc_peer, log_strz(err));
		control_answer_error(cc, 400, err);
		control_send(cc);
		return;
	}
	for (i = 0; i < LS_MAX_WORKERS; i++)
		fds[i] = -1;
	tk = NULL;
	switch (r.atr_kind) {
	case TOK_FORWARD:
		tk = registry_add(TOK_FORWARD, r.atr_token, NULL, err,
		    sizeof(err));
		break;
	case TOK_REVERSE:
		if (r.atr_token != NULL && *r.atr_token != '\0' &&
		    registry_find(r.atr_token) != NULL) {
			snprintf(err, sizeof(err), "token already exists");
			break;
		}
		if (r.atr_autonomy)
			port = -1;
		else if (r.atr_port != 0 && control_port_used(r.atr_port))
			snprintf(err, sizeof(err), "cannot allocate port: %d",
			    r.atr_port);
		else
			port = control_bind_port(r.atr_port, fds, err,
			    sizeof(err));
		if (port == -2 || (port == -1 && !r.atr_autonomy))
			break;
		if ((tk = registry_add(TOK_REVERSE, r.atr_token, NULL, err,
		    sizeof(err))) == NULL) {
			for (i = 0; i < ctl.nworkers; i++)
				if (fds[i] != -1)
					close(fds[i]);
			break;
		}
		tk->tk_port = port;
		tk->tk_autonomy = r.atr_autonomy;
		memcpy(tk->tk_fds, fds, sizeof(tk->tk_fds));
		access_own_port(port);	/* for workers forked later */
		/* Spec 11.1: SOCKS5 authentication only with both. */
		if (r.atr_user != NULL && *r.atr_user != '\0' &&
		    r.atr_pass != NULL && *r.atr_pass != '\0') {
			tk->tk_user = util_xstrdup(r.atr_user);
			tk->tk_pass = util_xstrdup(r.atr_pass);
		}
		break;
	case TOK_CONNECTOR:
		if (r.atr_reverse_token == NULL ||
		    *r.atr_reverse_token == '\0') {
			snprintf(err, sizeof(err), "reverse_token is required "
			    "for connector token");
			break;
		}
		if ((rtk = registry_find(r.atr_reverse_token)) == NULL ||
		    rtk->tk_kind != TOK_REVERSE) {
			snprintf(err, sizeof(err), "reverse token does not "
			    "exist");
			break;
		}
		tk = registry_add(TOK_CONNECTOR, r.atr_token, rtk->tk_token,
		    err, sizeof(err));
		break;
	}
	if (tk == NULL) {
		log_info("API: %s token not added: %s",
		    registry_kind_name(r.atr_kind), err);
		control_answer(cc, 200, api_error_body(err));
		control_send(cc);
		api_token_req_free(&r);
		return;
	}
	tk->tk_api = 1;
	if (tk->tk_kind != TOK_CONNECTOR) {
		for (n = 0; n < r.atr_rules.ar_n; n++)
			(void)rules_add(&tk->tk_rules, r.atr_rules.ar_texts[n],
			    err, sizeof(err));
		if (r.atr_rules.ar_n > 0)
			tk->tk_rules_json = json_incref(r.atr_rules.ar_json);
	}
	tk->tk_limits = r.atr_limits;
	control_broadcast_token(tk, 0, 1);
	if (tk->tk_kind != TOK_CONNECTOR && r.atr_rules.ar_n > 0)
		control_send_rules(IPC_RULES_TOKEN, tk->tk_token,
		    &r.atr_rules);
	if (tk->tk_kind == TOK_REVERSE && tk->tk_port > 0)
		log_info("API: reverse token %s added, SOCKS5 port %d%s",
		    log_secret(tk->tk_token), tk->tk_port, tk->tk_user != NULL ?
		    " (with authentication)" : "");
	else
		log_info("API: %s token %s added",
		    registry_kind_name(tk->tk_kind), log_secret(tk->tk_token));
	(void)control_state_save();
	control_answer(cc, 200, api_token_body(tk->tk_token,
	    tk->tk_kind == TOK_REVERSE ? tk->tk_port : -2));
	api_token_req_free(&r);
	control_sync_queue(cc);
}

/*
 * A token that every worker has changed in place (limits, SOCKS5
 * credentials): lower caps apply to new tunnels and channels, a rate at
 * once.  No sockets go with it.
 */
void
control_token_update(struct token *tk)
{
	control_broadcast_token(tk, 0, 0);
}

/*
 * Remove a token everywhere: a reverse token takes its connector tokens
 * (also those its autonomy providers made, P-28) and its SOCKS5 port
 * with it.  The workers close every tunnel that used any of them.
 */
static void
control_remove_token(struct token *tk)
{
	struct token	*ctk, *next;
	size_t		 n = strlen(tk->tk_token);
	int		 i;

	if (tk->tk_kind == TOK_REVERSE)
		for (ctk = TAILQ_FIRST(&registry_tokens); ctk != NULL;
		    ctk = next) {
			next = TAILQ_NEXT(ctk, tk_entry);
			if (ctk->tk_kind != TOK_CONNECTOR ||
			    ctk->tk_target == NULL ||
			    strncmp(ctk->tk_target, tk->tk_token, n) != 0 ||
			    (ctk->tk_target[n] != '\0' &&
			    ctk->tk_target[n] != '#'))
				continue;
			log_info("API: connector token %s removed with its "
			    "reverse token", log_secret(ctk->tk_token));
			control_broadcast_token(ctk, 1, 0);
			registry_remove(ctk);
		}
	control_broadcast_token(tk, 1, 0);
	for (i = 0; i < LS_MAX_WORKERS; i++)
		if (tk->tk_fds[i] != -1) {
			close(tk->tk_fds[i]);
			tk->tk_fds[i] = -1;
		}
	registry_remove(tk);
}

/* DELETE /api/token[/<token>] (spec 11.2). */
static void
control_delete(struct control_conn *cc, const char *tok)
{
	struct token	*tk;
	char		*copy;

	if (tok == NULL || *tok == '\0') {
		control_answer(cc, 200, api_error_body("token not specified"));
		control_send(cc);
		return;
	}
	/* The reference answers success for a token it never had. */
	if ((tk = registry_find(tok)) == NULL) {
		control_answer(cc, 200, api_error_body("token not found"));
		control_send(cc);
		return;
	}
	log_info("API: %s token %s removed", registry_kind_name(tk->tk_kind),
	    log_secret(tk->tk_token));
	copy = util_xstrdup(tk->tk_token);
	control_remove_token(tk);
	(void)control_state_save();
	control_answer(cc, 200, api_token_body(copy, -2));
	free(copy);
	control_sync_queue(cc);
}

/* ---- the barrier ------------------------------------------------------ */

static void
control_sync_queue(struct control_conn *cc)
{
	int	idle = TAILQ_EMPTY(&ctl.syncq);

	cc->cc_state = CC_SYNC;
	TAILQ_INSERT_TAIL(&ctl.syncq, cc, cc_sync);
	if (idle)
		control_sync_start();
}

static void
control_sync_start(void)
{
	struct control_conn	*cc;
	struct control_stat	*cs;
	struct ipc_sync		 is;
	struct timeval		 tv = { CONTROL_SYNC_TIMEOUT, 0 };
	int			 i;

	if ((cc = TAILQ_FIRST(&ctl.syncq)) == NULL)
		return;
	while ((cs = TAILQ_FIRST(&ctl.stats)) != NULL) {
		TAILQ_REMOVE(&ctl.stats, cs, cs_entry);
		free(cs);
	}
	memset(&ctl.totals, 0, sizeof(ctl.totals));
	memset(&is, 0, sizeof(is));
	is.is_id = ++ctl.sync_id;
	is.is_stats = cc->cc_op == OP_STATUS;
	ctl.sync_wait = 0;
	for (i = 0; i < ctl.nworkers; i++)
		if (ctl.ops->co_send(i, IPC_SYNC, &is, sizeof(is), -1) == 0)
			ctl.sync_wait |= (uint64_t)1 << i;
	if (ctl.sync_wait == 0) {
		control_sync_done();
		return;
	}
	evtimer_add(ctl.sync_timer, &tv);
}

/* The barrier is passed (or given up): answer, start the next. */
static void
control_sync_done(void)
{
	struct control_conn	*cc;

	evtimer_del(ctl.sync_timer);
	ctl.sync_wait = 0;
	if ((cc = TAILQ_FIRST(&ctl.syncq)) == NULL)
		return;
	TAILQ_REMOVE(&ctl.syncq, cc, cc_sync);
	cc->cc_state = CC_WRITE;	/* off the queue */
	if (cc->cc_gone)
		control_free(cc);
	else {
		if (cc->cc_op == OP_STATUS)
			control_status(cc);
		control_send(cc);
	}
	if (!TAILQ_EMPTY(&ctl.syncq))
		control_sync_start();
}

static void
control_sync_timeout(evutil_socket_t fd, short ev, void *arg)
{
	log_warnx("API: workers did not confirm a change within %d s "
	    "(mask %llx); answering anyway", CONTROL_SYNC_TIMEOUT,
	    (unsigned long long)ctl.sync_wait);
	control_sync_done();
}

/* A worker answers the barrier (IPC_SYNC_DONE) or reports (IPC_STAT). */
void
control_ipc(int worker, int type, const void *data, size_t len)
{
	struct ipc_sync_done	 sd;
	struct ipc_stat		 st;
	struct control_stat	*cs;

	if (type == IPC_STAT) {
		memcpy(&st, data, sizeof(st));
		st.st_token[sizeof(st.st_token) - 1] = '\0';
		if (st.st_id != ctl.sync_id || ctl.sync_wait == 0)
			return;
		TAILQ_FOREACH(cs, &ctl.stats, cs_entry)
			if (strcmp(cs->cs.st_token, st.st_token) == 0)
				break;
		if (cs == NULL) {
			if ((cs = calloc(1, sizeof(*cs))) == NULL)
				return;
			memcpy(&cs->cs, &st, sizeof(st));
			TAILQ_INSERT_TAIL(&ctl.stats, cs, cs_entry);
			return;
		}
		cs->cs.st_tunnels += st.st_tunnels;
		cs->cs.st_connectors += st.st_connectors;
		cs->cs.st_channels += st.st_channels;
		cs->cs.st_bytes_in += st.st_bytes_in;
		cs->cs.st_bytes_out += st.st_bytes_out;
		cs->cs.st_refused += st.st_refused;
		cs->cs.st_fastopen += st.st_fastopen;
		return;
	}
	memcpy(&sd, data, sizeof(sd));
	if (sd.sd_id != ctl.sync_id ||
	    !(ctl.sync_wait & ((uint64_t)1 << worker)))
		return;
	ctl.totals.sd_tunnels += sd.sd_tunnels;
	ctl.totals.sd_channels += sd.sd_channels;
	ctl.sync_wait &= ~((uint64_t)1 << worker);
	if (ctl.sync_wait == 0)
		control_sync_done();
}

/* A worker died: it answers no barrier. */
void
control_worker_gone(int worker)
{
	if (worker < 0 || worker >= LS_MAX_WORKERS ||
	    !(ctl.sync_wait & ((uint64_t)1 << worker)))
		return;
	ctl.sync_wait &= ~((uint64_t)1 << worker);
	if (ctl.sync_wait == 0)
		control_sync_done();
}

static struct ipc_stat *
control_stat_of(const char *token)
{
	struct control_stat	*cs;

	TAILQ_FOREACH(cs, &ctl.stats, cs_entry)
		if (strcmp(cs->cs.st_token, token) == 0)
			return (&cs->cs);
	return (NULL);
}

/*
 * GET /api/status (spec 11.3): the reference's fields, then ours (extra
 * fields only, so its clients still parse it).  clients_count is the
 * token's own connections (not the total of P-15).
 */
static void
control_status(struct control_conn *cc)
{
	static const struct ipc_stat zero;
	const struct ipc_stat	*st;
	struct token		*tk, *ctk;
	json_t			*o, *toks, *e, *cts, *srv;

	if ((o = json_object()) == NULL || (toks = json_array()) == NULL) {
		json_decref(o);
		control_answer_error(cc, 500, "out of memory");
		return;
	}
	json_object_set_new(o, "version", json_string(LS_REF_VERSION));
	TAILQ_FOREACH(tk, &registry_tokens, tk_entry) {
		if (tk->tk_kind == TOK_CONNECTOR)
			continue;
		if ((st = control_stat_of(tk->tk_token)) == NULL)
			st = &zero;
		e = json_object();
		json_object_set_new(e, "token", json_string(tk->tk_token));
		json_object_set_new(e, "type", json_string(tk->tk_kind ==
		    TOK_FORWARD ? "forward" : "reverse"));
		json_object_set_new(e, "clients_count",
		    json_integer(st->st_tunnels));
		if (tk->tk_kind == TOK_REVERSE) {
			json_object_set_new(e, "port", json_integer(
			    tk->tk_port));
			cts = json_array();
			TAILQ_FOREACH(ctk, &registry_tokens, tk_entry)
				if (ctk->tk_kind == TOK_CONNECTOR &&
				    ctk->tk_target != NULL &&
				    strncmp(ctk->tk_target, tk->tk_token,
				    strlen(tk->tk_token)) == 0 &&
				    (ctk->tk_target[strlen(tk->tk_token)] ==
				    '\0' || ctk->tk_target[strlen(
				    tk->tk_token)] == '#'))
					json_array_append_new(cts,
					    json_string(ctk->tk_token));
			if (json_array_size(cts) > 0)
				json_object_set_new(e, "connector_tokens", cts);
			else
				json_decref(cts);
		}
		/* Ours. */
		json_object_set_new(e, "tunnels", json_integer(st->st_tunnels));
		if (tk->tk_kind == TOK_REVERSE)
			json_object_set_new(e, "connectors",
			    json_integer(st->st_connectors));
		json_object_set_new(e, "channels",
		    json_integer(st->st_channels));
		json_object_set_new(e, "bytes_in",
		    json_integer((json_int_t)st->st_bytes_in));
		json_object_set_new(e, "bytes_out",
		    json_integer((json_int_t)st->st_bytes_out));
		json_object_set_new(e, "connects_refused",
		    json_integer(st->st_refused));
		json_object_set_new(e, "fast_open_channels",
		    json_integer(st->st_fastopen));
		json_object_set_new(e, "limits", api_limits_json(
		    &tk->tk_limits));
		json_array_append_new(toks, e);
	}
	json_object_set_new(o, "tokens", toks);
	e = json_object();
	json_object_set_new(e, "enabled", json_false());
	json_object_set_new(o, "direct", e);
	srv = json_object();
	json_object_set_new(srv, "version", json_string(PACKAGE_VERSION));
	json_object_set_new(srv, "uptime", json_integer((json_int_t)(
	    util_now() - ctl.started)));
	json_object_set_new(srv, "workers", json_integer(ctl.nworkers));
	json_object_set_new(srv, "tunnels",
	    json_integer(ctl.totals.sd_tunnels));
	json_object_set_new(srv, "channels",
	    json_integer(ctl.totals.sd_channels));
	json_object_set_new(o, "server", srv);
	free(cc->cc_body);
	if ((cc->cc_body = api_status_body(o)) == NULL)
		cc->cc_code = 500;
	else
		cc->cc_code = 200;
}

/* ---- the state file ---------------------------------------------------- */

/* A token of the run time (API, state file, autonomy provider). */
static int
control_persisted(const struct token *tk)
{
	return (tk->tk_api || tk->tk_owner != NULL);
}

/*
 * A state file's token into the registry.  bind: bind a reverse
 * token's port now (run time); at start-up master.c binds every port.
 * NULL with err if it cannot be added.
 */
static struct token *
control_state_add(const struct state_token *se, int bind, char *err,
    size_t errlen)
{
	struct token	*tk = NULL, *rtk;
	char		 target[IPC_KEYLEN];
	int		 fds[LS_MAX_WORKERS], i;
	size_t		 n;

	for (i = 0; i < LS_MAX_WORKERS; i++)
		fds[i] = -1;
	switch (se->se_kind) {
	case TOK_FORWARD:
		tk = registry_add(TOK_FORWARD, se->se_token, NULL, err, errlen);
		break;
	case TOK_REVERSE:
		if (registry_find(se->se_token) != NULL) {
			snprintf(err, errlen, "token already exists");
			return (NULL);
		}
		if (!se->se_autonomy) {
			if (control_port_used(se->se_port)) {
				snprintf(err, errlen, "port %d is another "
				    "token's", se->se_port);
				return (NULL);
			}
			if (bind && control_bind_port(se->se_port, fds, err,
			    errlen) == -1)
				return (NULL);
		}
		if ((tk = registry_add(TOK_REVERSE, se->se_token, NULL, err,
		    errlen)) == NULL) {
			for (i = 0; i < LS_MAX_WORKERS; i++)
				if (fds[i] != -1)
					close(fds[i]);
			return (NULL);
		}
		tk->tk_autonomy = se->se_autonomy;
		tk->tk_port = se->se_autonomy ? -1 : se->se_port;
		memcpy(tk->tk_fds, fds, sizeof(tk->tk_fds));
		if (bind && tk->tk_port > 0)
			access_own_port(tk->tk_port);
		if (se->se_user != NULL) {
			tk->tk_user = util_xstrdup(se->se_user);
			tk->tk_pass = util_xstrdup(se->se_pass);
		}
		break;
	case TOK_CONNECTOR:
		if ((rtk = registry_find(se->se_reverse)) == NULL ||
		    rtk->tk_kind != TOK_REVERSE) {
			snprintf(err, errlen, "reverse token does not exist");
			return (NULL);
		}
		if (se->se_provider != NULL && !rtk->tk_autonomy) {
			snprintf(err, errlen, "its reverse token has no "
			    "autonomy providers");
			return (NULL);
		}
		if (se->se_provider != NULL)
			snprintf(target, sizeof(target), "%s#%s",
			    rtk->tk_token, se->se_provider);
		else
			snprintf(target, sizeof(target), "%s", rtk->tk_token);
		if ((tk = registry_add(TOK_CONNECTOR, se->se_token, target,
		    err, errlen)) == NULL)
			return (NULL);
		if (se->se_provider != NULL) {
			free(tk->tk_owner);
			tk->tk_owner = util_xstrdup(target);
		}
		break;
	}
	if (tk == NULL)
		return (NULL);
	tk->tk_api = se->se_provider == NULL;
	tk->tk_limits = se->se_limits;
	if (tk->tk_kind != TOK_CONNECTOR && se->se_rules.ar_n > 0) {
		for (n = 0; n < se->se_rules.ar_n; n++)
			(void)rules_add(&tk->tk_rules, se->se_rules.ar_texts[n],
			    err, errlen);
		tk->tk_rules_json = json_incref(se->se_rules.ar_json);
	}
	return (tk);
}

/*
 * Start-up (master, before the ports are bound and the workers forked):
 * the state file's tokens, access lists and log level.  A file that
 * cannot be read or is not valid stops the server with status 2; a
 * missing one is an empty state, written at once so that a directory
 * the server cannot write to is found now.
 */
void
control_load(struct config *c)
{
	struct state	 st;
	struct token	*tk;
	char		 err[512];
	size_t		 i;
	int		 pass, r, side;

	ctl.file_level = -1;
	if (c->c_state_file == NULL)
		return;
	if ((r = state_read(c->c_state_file, &st, err, sizeof(err))) == -1) {
		log_warnx("state file %s: %s", log_strz(c->c_state_file), err);
		exit(2);
	}
	if (r == 1)
		log_info("state file %s: not there yet, starting empty",
		    log_strz(c->c_state_file));
	/* Reverse and forward tokens first: connectors name them. */
	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < st.st_n; i++) {
			if ((st.st_tokens[i].se_kind == TOK_CONNECTOR) !=
			    (pass == 1))
				continue;
			if (control_state_add(&st.st_tokens[i], 0, err,
			    sizeof(err)) != NULL)
				continue;
			if ((tk = registry_find(st.st_tokens[i].se_token)) !=
			    NULL && !control_persisted(tk)) {
				log_warnx("state file %s: tokens[%zu]: a "
				    "command-line token; the command line's "
				    "is kept", log_strz(c->c_state_file), i);
				continue;
			}
			log_warnx("state file %s: tokens[%zu]: %s",
			    log_strz(c->c_state_file), i, err);
			exit(2);
		}
	for (side = 0; side < 2; side++)
		if (st.st_has_access[side])
			control_access_set(side, &st.st_access[side]);
	ctl.file_level = st.st_log_level;
	if (st.st_log_level != -1 && c->c_debug == 0)
		log_setverbose(st.st_log_level);
	if (r == 0)
		log_info("state file %s: %zu token%s loaded",
		    log_strz(c->c_state_file), st.st_n, st.st_n == 1 ? "" : "s");
	state_free(&st);
	if (control_state_save() == -1)
		exit(2);
}

/*
 * After every change: the registry to the state file, atomically.
 * -1 if it could not be written (logged).
 */
static int
control_state_save(void)
{
	struct config	*c = ls_conf;
	json_t		*lists[2], *empty = json_array();
	char		*text, err[512];
	int		 side;

	if (c->c_state_file == NULL) {
		json_decref(empty);
		return (0);
	}
	for (side = 0; side < 2; side++)
		lists[side] = !ctl.access_set[side] ? NULL :
		    ctl.access[side] != NULL ? ctl.access[side] : empty;
	text = state_render(lists[ACCESS_ENTRY], lists[ACCESS_DIAL],
	    ctl.file_level);
	json_decref(empty);
	if (text == NULL) {
		log_ratelimit(&ctl.rl_save, LL_WARNX, "state file %s not "
		    "written: out of memory", log_strz(c->c_state_file));
		return (-1);
	}
	if (state_write(c->c_state_file, text, err, sizeof(err)) == -1) {
		log_ratelimit(&ctl.rl_save, LL_WARNX, "state file %s not "
		    "written: %s", log_strz(c->c_state_file), log_strz(err));
		free(text);
		return (-1);
	}
	free(text);
	return (0);
}

/* Does tk, as it is, stand for entry se (the same kind and binding)? */
static int
control_same_binding(const struct token *tk, const struct state_token *se)
{
	char	target[IPC_KEYLEN];

	if (tk->tk_kind != se->se_kind)
		return (0);
	switch (se->se_kind) {
	case TOK_FORWARD:
		return (1);
	case TOK_REVERSE:
		return (tk->tk_autonomy == se->se_autonomy &&
		    (se->se_autonomy || tk->tk_port == se->se_port));
	case TOK_CONNECTOR:
		if (se->se_provider != NULL)
			snprintf(target, sizeof(target), "%s#%s",
			    se->se_reverse, se->se_provider);
		else
			snprintf(target, sizeof(target), "%s", se->se_reverse);
		return (tk->tk_target != NULL &&
		    strcmp(tk->tk_target, target) == 0 &&
		    (tk->tk_owner != NULL) == (se->se_provider != NULL));
	}
	return (0);
}

static const struct state_token *
control_state_find(const struct state *st, const char *token)
{
	size_t	i;

	for (i = 0; i < st->st_n; i++)
		if (strcmp(st->st_tokens[i].se_token, token) == 0)
			return (&st->st_tokens[i]);
	return (NULL);
}

/* Are a reverse token's SOCKS5 credentials those of entry se? */
static int
control_same_credentials(const struct token *tk,
    const struct state_token *se)
{
	if ((tk->tk_user == NULL) != (se->se_user == NULL))
		return (0);
	return (tk->tk_user == NULL || (strcmp(tk->tk_user, se->se_user) ==
	    0 && strcmp(tk->tk_pass, se->se_pass) == 0));
}

/* Are a token's rules those of entry se? */
static int
control_same_rules(const struct token *tk, const struct state_token *se)
{
	size_t	i;

	if (tk->tk_rules.rs_n != se->se_rules.ar_n)
		return (0);
	for (i = 0; i < se->se_rules.ar_n; i++)
		if (strcmp(tk->tk_rules.rs_rules[i].r_text,
		    se->se_rules.ar_texts[i]) != 0)
			return (0);
	return (1);
}

/* Two rule lists as JSON; NULL is an empty list. */
static int
control_same_list(json_t *a, json_t *b)
{
	json_t	*empty = json_array();
	int	 same;

	same = json_equal(a != NULL ? a : empty, b != NULL ? b : empty);
	json_decref(empty);
	return (same);
}

/*
 * SIGHUP, a token that stays: new limits or SOCKS5 credentials are
 * changed in place in every worker (control_token_update).  The number
 * of changes (0 or 1).
 */
static int
control_reload_token(struct token *tk, const struct state_token *se)
{
	const struct token_limits *a = &tk->tk_limits, *b = &se->se_limits;
	int	 limits, creds;

	limits = a->tl_max_tunnels != b->tl_max_tunnels ||
	    a->tl_max_channels != b->tl_max_channels ||
	    a->tl_upload != b->tl_upload || a->tl_download != b->tl_download;
	creds = tk->tk_kind == TOK_REVERSE &&
	    !control_same_credentials(tk, se);
	if (!limits && !creds)
		return (0);
	tk->tk_limits = *b;
	if (creds) {
		free(tk->tk_user);
		free(tk->tk_pass);
		tk->tk_user = util_xstrdup(se->se_user);
		tk->tk_pass = util_xstrdup(se->se_pass);
	}
	control_token_update(tk);
	if (limits)
		log_info("SIGHUP: %s token %s: limits changed (tunnels %u, "
		    "channels %u, upload %llu B/s, download %llu B/s; 0 = none)",
		    registry_kind_name(tk->tk_kind), log_secret(tk->tk_token),
		    b->tl_max_tunnels, b->tl_max_channels,
		    (unsigned long long)b->tl_upload,
		    (unsigned long long)b->tl_download);
	if (creds)
		log_info("SIGHUP: reverse token %s: SOCKS5 credentials %s",
		    log_secret(tk->tk_token), tk->tk_user != NULL ?
		    "changed" : "removed");
	return (1);
}

/*
 * SIGHUP: make the run-time registry what the state file says.  Tokens
 * that are gone, or bound differently (kind, port, credentials, reverse
 * token), are removed; new ones added; changed rules replaced in place,
 * so the tunnels of a token whose binding is the same stay up.  Then
 * the access lists and the log level.  One line per change; the number
 * of changes, or -1 if the file could not be used (nothing changed).
 */
static int
control_reload_state(void)
{
	struct config		*c = ls_conf;
	struct state		 st;
	const struct state_token *se;
	struct token		*tk;
	char			 err[512];
	size_t			 i, j;
	int			 r, side, pass, changes = 0, w;
	uint32_t		 lv;

	if ((r = state_read(c->c_state_file, &st, err, sizeof(err))) != 0) {
		log_warnx("SIGHUP: state file %s: %s; nothing changed",
		    log_strz(c->c_state_file), r == 1 ? "not there" : err);
		return (-1);
	}
	/* Gone or bound differently: removed (with its tunnels). */
 again:
	TAILQ_FOREACH(tk, &registry_tokens, tk_entry) {
		if (!control_persisted(tk))
			continue;
		se = control_state_find(&st, tk->tk_token);
		if (se != NULL && control_same_binding(tk, se))
			continue;
		log_info("SIGHUP: %s token %s %s", registry_kind_name(
		    tk->tk_kind), log_secret(tk->tk_token), se == NULL ?
		    "removed" : "changed: removed and added again");
		control_remove_token(tk);
		changes++;
		goto again;
	}
	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < st.st_n; i++) {
			se = &st.st_tokens[i];
			if ((se->se_kind == TOK_CONNECTOR) != (pass == 1))
				continue;
			if ((tk = registry_find(se->se_token)) == NULL) {
				if ((tk = control_state_add(se, 1, err,
				    sizeof(err))) == NULL) {
					log_warnx("SIGHUP: state file "
					    "tokens[%zu]: %s; not added", i,
					    err);
					continue;
				}
				control_broadcast_token(tk, 0, 1);
				if (tk->tk_rules.rs_n > 0)
					control_send_rules(IPC_RULES_TOKEN,
					    tk->tk_token, &se->se_rules);
				log_info("SIGHUP: %s token %s added%s",
				    registry_kind_name(tk->tk_kind),
				    log_secret(tk->tk_token), tk->tk_port > 0 ?
				    ", SOCKS5 port bound" : "");
				changes++;
				continue;
			}
			if (!control_persisted(tk)) {
				log_warnx("SIGHUP: state file tokens[%zu] is a "
				    "command-line token; the command line's "
				    "is kept", i);
				continue;
			}
			changes += control_reload_token(tk, se);
			if (tk->tk_kind == TOK_CONNECTOR ||
			    control_same_rules(tk, se))
				continue;
			rules_clear(&tk->tk_rules);
			for (j = 0; j < se->se_rules.ar_n; j++)
				(void)rules_add(&tk->tk_rules,
				    se->se_rules.ar_texts[j], err, sizeof(err));
			json_decref(tk->tk_rules_json);
			tk->tk_rules_json = json_incref(se->se_rules.ar_json);
			control_send_rules(IPC_RULES_TOKEN, tk->tk_token,
			    &se->se_rules);
			log_info("SIGHUP: %s token %s: access rules changed "
			    "(%zu rule%s)", registry_kind_name(tk->tk_kind),
			    log_secret(tk->tk_token), se->se_rules.ar_n,
			    se->se_rules.ar_n == 1 ? "" : "s");
			changes++;
		}
	for (side = 0; side < 2; side++) {
		if (!st.st_has_access[side] && !ctl.access_set[side])
			continue;
		if (st.st_has_access[side] && ctl.access_set[side] &&
		    control_same_list(st.st_access[side].ar_json,
		    ctl.access[side]))
			continue;
		control_access_set(side, st.st_has_access[side] ?
		    &st.st_access[side] : NULL);
		if (st.st_has_access[side])
			log_info("SIGHUP: %s access rules changed (%zu rule%s)",
			    side == ACCESS_ENTRY ? "entry" : "dial",
			    st.st_access[side].ar_n,
			    st.st_access[side].ar_n == 1 ? "" : "s");
		else
			log_info("SIGHUP: %s access rules: the command line's "
			    "again", side == ACCESS_ENTRY ? "entry" : "dial");
		changes++;
	}
	ctl.file_level = st.st_log_level;
	if (st.st_log_level != -1 && st.st_log_level != log_getverbose()) {
		log_info("SIGHUP: log level %s (was %s)",
		    state_level_name(st.st_log_level),
		    state_level_name(log_getverbose()));
		log_setverbose(st.st_log_level);
		lv = (uint32_t)st.st_log_level;
		for (w = 0; w < ctl.nworkers; w++)
			ctl.ops->co_send(w, IPC_LOG_LEVEL, &lv, sizeof(lv), -1);
		changes++;
	}
	state_free(&st);
	return (changes);
}

/*
 * SIGHUP in the master: the API key file and the state file again;
 * changes counts what the caller reloaded already (the TLS certificate).
 */
void
control_reload(int changes)
{
	struct config	*c = ls_conf;
	uint8_t		 old[LS_MAX_API_KEYS][LS_SHA256_LEN];
	size_t		 nold = ctl.nkeys;
	char		 err[512];
	int		 n;

	if (c->c_api_key_file != NULL) {
		memcpy(old, ctl.keys, sizeof(old));
		if ((n = config_reload_api_keys(c, err, sizeof(err))) == -1)
			log_warnx("SIGHUP: API key file %s; the keys stay",
			    log_strz(err));
		else {
			control_keys(c);
			if (nold != ctl.nkeys || CRYPTO_memcmp(old, ctl.keys,
			    nold * LS_SHA256_LEN) != 0) {
				log_info("SIGHUP: API keys changed (%d key%s)",
				    n, n == 1 ? "" : "s");
				changes++;
			}
		}
	}
	if (c->c_state_file != NULL && (n = control_reload_state()) != 0) {
		if (n == -1)
			return;
		changes += n;
		(void)control_state_save();
	}
	if (changes == 0)
		log_info("SIGHUP: nothing changed%s", c->c_state_file == NULL &&
		    c->c_api_key_file == NULL && c->c_tls_cert == NULL ?
		    " (no --state-file, --api-key-file or --tls-cert to read)" :
		    "");
}

/* An autonomy provider's connector token was added or removed. */
void
control_registry_changed(void)
{
	(void)control_state_save();
}
