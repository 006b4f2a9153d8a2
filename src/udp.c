/*
 * udp.c -- SOCKS5 UDP ASSOCIATE over a tunnel (RFC 1928 section 7, spec
 * 7.5).  An association is a channel of one of this file's two kinds
 * (udp_socks_ops, udp_dial_ops) with a struct udp_assoc:
 *
 *  - SOCKS side (client, connector, reverse server): the application's
 *    TCP control connection is ch_bev; a relay socket is bound to the
 *    address the application reached us on (not always 127.0.0.1, P-20).
 *    Only datagrams from the application's own address are taken; each
 *    becomes a Data(udp) with the target from its header.  Data(udp)
 *    from the tunnel goes back with a header naming its source.  The
 *    association ends when the control connection does.
 *  - dial side (server in forward mode, provider): one socket per
 *    association (dual-stack where the host has IPv6), targets resolved
 *    with evdns, replies from any source sent back with their address;
 *    an association idle for --udp-timeout seconds ends.
 *
 * Datagrams are never queued without bound: malformed ones, fragments,
 * strangers' and those that find the tunnel full are dropped and
 * counted; the first of each kind is logged, the counts once at the end.
 * So are datagrams to a target the access policy refuses (access.c):
 * the SOCKS side checks literal targets, the dial side the address it
 * is about to send to.  A tunnel holds at most --max-udp associations.
 *
 * For the metrics (stats.c) an association's outcome is counted once,
 * under ST_UDP_* and never as a TCP connect or a fast-open reply: on the
 * SOCKS side when the far side answers (or does not), on the dial side
 * when it opens.  Datagrams and their payload are counted where they
 * cross the tunnel, drops by kind.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/dns.h>

#include "linksocks.h"

#define UDP_DGRAM_MAX		65536	/* largest datagram we take */
#define UDP_SOCKBUF		(4 * 1024 * 1024)
#define UDP_BATCH		64	/* datagrams per readable event */
#define UDP_PENDING_MAX		(256u * 1024)	/* bytes waiting for DNS */
#define UDP_CACHE_SIZE		8
#define UDP_CACHE_TTL		60	/* seconds a resolved name is kept */
#define UDP_NEG_TTL		5	/* ... and a failed one */

enum udp_drop {
	UDROP_MALFORMED,
	UDROP_FRAGMENT,
	UDROP_FOREIGN,
	UDROP_FULL,
	UDROP_NOCLIENT,
	UDROP_RESOLVE,
	UDROP_SEND,
	UDROP_DENIED,
	UDROP_NKINDS
};

static const char *const udp_drop_names[UDROP_NKINDS] = {
	[UDROP_MALFORMED] = "malformed",
	[UDROP_FRAGMENT] = "fragment",
	[UDROP_FOREIGN] = "foreign source",
	[UDROP_FULL] = "tunnel full",
	[UDROP_NOCLIENT] = "no client address yet",
	[UDROP_RESOLVE] = "unresolvable target",
	[UDROP_SEND] = "send error",
	[UDROP_DENIED] = "destination not allowed",
};

/* Drops are counted as ST_UDP_DROP_MALFORMED + kind. */
typedef char udp_drop_stats[ST_UDP_DROP_DENIED - ST_UDP_DROP_MALFORMED ==
    UDROP_DENIED && UDROP_NKINDS == UDROP_DENIED + 1 ? 1 : -1];

/* A datagram waiting for its target name to resolve (dial side). */
struct udp_pending {
	TAILQ_ENTRY(udp_pending) up_entry;
	uint16_t		 up_port;
	size_t			 up_len;
	uint8_t			 up_data[];
};

/* A name: being resolved (ul_req), or resolved (ul_ok) until ul_expire. */
struct udp_lookup {
	TAILQ_ENTRY(udp_lookup)	 ul_entry;
	struct udp_assoc	*ul_ua;
	struct evdns_getaddrinfo_request *ul_req;
	char			 ul_name[256];
	int			 ul_ok;
	struct sockaddr_storage	 ul_addr;
	socklen_t		 ul_addrlen;
	double			 ul_expire;
	TAILQ_HEAD(, udp_pending) ul_queue;
};

struct udp_assoc {
	struct channel		*ua_ch;
	struct tunnel		*ua_tun;	/* counted in its t_nudp */
	int			 ua_fd;
	int			 ua_family;	/* of ua_fd */
	struct event		*ua_ev;
	/* SOCKS side */
	struct sockaddr_storage	 ua_bound;	/* relay address, for the reply */
	socklen_t		 ua_boundlen;
	struct sockaddr_storage	 ua_client;	/* the application */
	socklen_t		 ua_clientlen;
	int			 ua_client_port;	/* port latched or given */
	/* dial side */
	TAILQ_HEAD(, udp_lookup) ua_lookups;
	size_t			 ua_pending;	/* bytes queued for DNS */
	struct event		*ua_idle;
	double			 ua_last;
	/* dial side through a SOCKS5 upstream (-x): its relay */
	struct proxy_conn	*ua_proxy;	/* UDP ASSOCIATE under way */
	struct bufferevent	*ua_ctl;	/* its control connection */
	struct sockaddr_storage	 ua_relay;	/* as ua_fd's family wants */
	socklen_t		 ua_relaylen;
	/* counters */
	int			 ua_counted;	/* its outcome, ST_UDP_* */
	uint64_t		 ua_up;		/* datagrams towards targets */
	uint64_t		 ua_down;	/* datagrams towards the app */
	uint64_t		 ua_drops[UDROP_NKINDS];
};

static uint8_t	udp_buf[UDP_DGRAM_MAX + S5U_HDR_MAX];

static struct udp_assoc *udp_assoc_new(struct channel *);
static void	udp_result(struct channel *, enum stat_id);
static void	udp_traffic(struct tunnel *, int, size_t);
static void	udp_count(struct udp_assoc *, struct tunnel *);
static int	udp_socket(int, const struct sockaddr *, socklen_t, char *,
		    size_t);
static void	udp_drop(struct udp_assoc *, enum udp_drop, const char *);
static void	udp_socks_read(evutil_socket_t, short, void *);
static void	udp_dial_read(evutil_socket_t, short, void *);
static void	udp_control_read(struct bufferevent *, void *);
static void	udp_control_event(struct bufferevent *, short, void *);
static void	udp_idle(evutil_socket_t, short, void *);
static void	udp_touch(struct udp_assoc *);
static void	udp_reply(struct channel *);
static void	udp_send_to(struct udp_assoc *, const struct sockaddr *,
		    socklen_t, const uint8_t *, size_t);
static void	udp_resolved(int, struct evutil_addrinfo *, void *);
static void	udp_lookup_free(struct udp_lookup *);
static int	udp_unmap(struct sockaddr_storage *, socklen_t *);
static int	udp_same_host(const struct sockaddr *,
		    const struct sockaddr *);
static uint16_t	udp_port_of(const struct sockaddr *);
static void	udp_set_port(struct sockaddr_storage *, uint16_t);
static ssize_t	udp_recv(struct channel *, struct sockaddr_storage *,
		    socklen_t *);
static void	udp_free(struct channel *);
static void	udp_close(struct channel *, const char *);
static void	udp_tcp_data(struct channel *, struct evbuffer *, size_t,
		    const struct msg *);
static void	udp_socks_datagram(struct channel *, const struct msg *,
		    struct evbuffer *);
static void	udp_dial_datagram(struct channel *, const struct msg *,
		    struct evbuffer *);
static void	udp_connect_response(struct channel *, const struct msg *,
		    struct evbuffer *);
static void	udp_disconnect(struct channel *, const struct msg *,
		    struct evbuffer *);
static void	udp_socks_gone(struct channel *, const char *);
static void	udp_socks_timeout(struct channel *);
static void	udp_dial_timeout(struct channel *);
static void	udp_proxied(const struct proxy_result *, void *);
static void	udp_dial_ready(struct channel *);
static void	udp_ctl_read(struct bufferevent *, void *);
static void	udp_ctl_event(struct bufferevent *, short, void *);
static int	udp_map(int, struct sockaddr_storage *, socklen_t *);

static const struct channel_ops udp_socks_ops = {
	.co_kind = CHK_UDP_SOCKS,
	.co_name = "udp-socks",
	.co_data = udp_tcp_data,
	.co_datagram = udp_socks_datagram,
	.co_connect_response = udp_connect_response,
	.co_disconnect = udp_disconnect,
	.co_gone = udp_socks_gone,
	.co_timeout = udp_socks_timeout,
	.co_close = udp_close,
	.co_free = udp_free,
};

static const struct channel_ops udp_dial_ops = {
	.co_kind = CHK_UDP_DIAL,
	.co_name = "udp-dial",
	.co_data = udp_tcp_data,
	.co_datagram = udp_dial_datagram,
	.co_connect_response = channel_ignore_response,
	.co_disconnect = udp_disconnect,
	.co_gone = channel_gone,
	.co_timeout = udp_dial_timeout,
	.co_close = udp_close,
	.co_free = udp_free,
};

/* ---- common ----------------------------------------------------------- */

static struct udp_assoc *
udp_assoc_new(struct channel *ch)
{
	struct udp_assoc	*ua;

	if ((ua = calloc(1, sizeof(*ua))) == NULL)
		return (NULL);
	ua->ua_ch = ch;
	ua->ua_fd = -1;
	TAILQ_INIT(&ua->ua_lookups);
	ch->ch_udp = ua;
	return (ua);
}

/* An association's outcome for the metrics, once. */
static void
udp_result(struct channel *ch, enum stat_id st)
{
	struct udp_assoc	*ua = ch->ch_udp;

	if (ua != NULL && ua->ua_counted)
		return;
	if (ua != NULL)
		ua->ua_counted = 1;
	STAT_INC(st);
}

/* One datagram of n payload bytes over t: from the peer if in. */
static void
udp_traffic(struct tunnel *t, int in, size_t n)
{
	STAT_INC(in ? ST_UDP_DGRAMS_IN : ST_UDP_DGRAMS_OUT);
	STAT_ADD(in ? ST_UDP_BYTES_IN : ST_UDP_BYTES_OUT, n);
	if (t != NULL)
		TSTAT_ADD(t->t_stats, in ? TS_UDP_BYTES_IN : TS_UDP_BYTES_OUT,
		    n);
}

/* The association counts against t's --max-udp until it is freed. */
static void
udp_count(struct udp_assoc *ua, struct tunnel *t)
{
	ua->ua_tun = t;
	tunnel_ref(t);
	t->t_nudp++;
}

/* A non-blocking UDP socket bound to sa, with large buffers. */
static int
udp_socket(int family, const struct sockaddr *sa, socklen_t salen,
    char *err, size_t errsz)
{
	int	fd, v = UDP_SOCKBUF, off = 0;

	if ((fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		snprintf(err, errsz, "socket: %s", strerror(errno));
		return (-1);
	}
	if (family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off,
		    sizeof(off));
	/* Above rmem_max only with CAP_NET_ADMIN; the plain call caps. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) == -1)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)) == -1)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	if (bind(fd, sa, salen) == -1) {
		snprintf(err, errsz, "bind: %s", strerror(errno));
		close(fd);
		return (-1);
	}
	return (fd);
}

/* Count a dropped datagram; log the first of each kind. */
static void
udp_drop(struct udp_assoc *ua, enum udp_drop why, const char *detail)
{
	STAT_INC(ST_UDP_DROP_MALFORMED + why);
	if (ua->ua_drops[why]++ == 0)
		log_info("udp %s: dropping datagram (%s%s%s); further ones "
		    "are counted", log_id(ua->ua_ch->ch_id),
		    udp_drop_names[why], detail != NULL ? ": " : "",
		    detail != NULL ? detail : "");
}

/* Release an association (co_free, and at once from co_close). */
static void
udp_free(struct channel *ch)
{
	struct udp_assoc	*ua = ch->ch_udp;
	struct udp_lookup	*ul;
	char			 drops[256];
	size_t			 off = 0;
	int			 i;

	if (ua == NULL)
		return;
	drops[0] = '\0';
	for (i = 0; i < UDROP_NKINDS; i++)
		if (ua->ua_drops[i] > 0 && off < sizeof(drops))
			off += (size_t)snprintf(drops + off,
			    sizeof(drops) - off, ", %llu %s",
			    (unsigned long long)ua->ua_drops[i],
			    udp_drop_names[i]);
	log_debug("udp %s: association ended: %llu datagrams out, %llu "
	    "back%s%s", log_id(ch->ch_id), (unsigned long long)ua->ua_up,
	    (unsigned long long)ua->ua_down, off > 0 ? "; dropped" : "",
	    off > 0 ? drops + 1 : "");
	while ((ul = TAILQ_FIRST(&ua->ua_lookups)) != NULL)
		udp_lookup_free(ul);
	if (ua->ua_proxy != NULL)
		proxy_cancel(ua->ua_proxy);
	if (ua->ua_ctl != NULL)
		bufferevent_free(ua->ua_ctl);
	if (ua->ua_ev != NULL)
		event_free(ua->ua_ev);
	if (ua->ua_idle != NULL)
		event_free(ua->ua_idle);
	if (ua->ua_fd != -1)
		close(ua->ua_fd);
	if (ua->ua_tun != NULL) {
		ua->ua_tun->t_nudp--;
		tunnel_unref(ua->ua_tun);
	}
	free(ua);
	ch->ch_udp = NULL;
}

/* IPv4-mapped IPv6 becomes plain IPv4, so comparisons and binds agree. */
static int
udp_unmap(struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in	 sin;

	if (ss->ss_family != AF_INET6 ||
	    !IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
		return (0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = sin6->sin6_port;
	memcpy(&sin.sin_addr, &sin6->sin6_addr.s6_addr[12], 4);
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, &sin, sizeof(sin));
	*len = sizeof(sin);
	return (1);
}

static int
udp_same_host(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return (0);
	if (a->sa_family == AF_INET)
		return (memcmp(&((const struct sockaddr_in *)a)->sin_addr,
		    &((const struct sockaddr_in *)b)->sin_addr, 4) == 0);
	if (a->sa_family == AF_INET6)
		return (memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		    &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0);
	return (0);
}

static uint16_t
udp_port_of(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohs(((const struct sockaddr_in *)sa)->sin_port));
	if (sa->sa_family == AF_INET6)
		return (ntohs(((const struct sockaddr_in6 *)sa)->sin6_port));
	return (0);
}

static void
udp_set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

/*
 * One datagram into udp_buf, from whom in *from: its length (above
 * UDP_DGRAM_MAX if it was cut), or -1 when there is none (errors other
 * than "nothing now" are logged).
 */
static ssize_t
udp_recv(struct channel *ch, struct sockaddr_storage *from, socklen_t *flen)
{
	ssize_t	 n;

	*flen = sizeof(*from);
	n = recvfrom(ch->ch_udp->ua_fd, udp_buf, UDP_DGRAM_MAX, MSG_TRUNC,
	    (struct sockaddr *)from, flen);
	if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK &&
	    errno != EINTR)
		log_debug("udp %s: recvfrom: %s", log_id(ch->ch_id),
		    strerror(errno));
	return (n);
}

/* A server's reverse port: its token's own rules, or NULL. */
static const struct rules *
udp_group_rules(const struct channel *ch)
{
	if (ch->ch_group == NULL || ch->ch_group->g_token == NULL ||
	    ch->ch_group->g_token->tk_rules.rs_n == 0)
		return (NULL);
	return (&ch->ch_group->g_token->tk_rules);
}

static void
udp_send_to(struct udp_assoc *ua, const struct sockaddr *sa, socklen_t salen,
    const uint8_t *p, size_t len)
{
	struct sockaddr_storage	 to;
	const char		*why;
	uint8_t			 hdr[S5U_HDR_MAX];
	char			 addr[INET6_ADDRSTRLEN];
	struct iovec		 iov[2];
	struct msghdr		 mh;
	int			 hlen;

	if (access_check(ACCESS_DIAL, sa, ua->ua_ch->ch_tun == NULL ? NULL :
	    access_token_rules(ua->ua_ch->ch_tun->t_token), &why) != RV_ALLOW) {
		STAT_INC(ST_ACCESS_DIAL);
		udp_drop(ua, UDROP_DENIED, why);
		return;
	}
	if (ua->ua_proxy != NULL) {
		udp_drop(ua, UDROP_FULL, "upstream proxy not ready");
		return;
	}
	if (ua->ua_relaylen != 0) {
		/* -x socks5: the target goes in the header, to the relay. */
		socks5_addr_text(sa, addr, sizeof(addr));
		if ((hlen = socks5_udp_header(hdr, (const uint8_t *)addr,
		    strlen(addr), udp_port_of(sa))) == -1) {
			udp_drop(ua, UDROP_MALFORMED, "bad target address");
			return;
		}
		iov[0].iov_base = hdr;
		iov[0].iov_len = (size_t)hlen;
		iov[1].iov_base = (void *)p;
		iov[1].iov_len = len;
		memset(&mh, 0, sizeof(mh));
		mh.msg_name = &ua->ua_relay;
		mh.msg_namelen = ua->ua_relaylen;
		mh.msg_iov = iov;
		mh.msg_iovlen = 2;
		if (sendmsg(ua->ua_fd, &mh, 0) == -1) {
			udp_drop(ua, UDROP_SEND, strerror(errno));
			return;
		}
		ua->ua_up++;
		return;
	}
	/* An IPv4 target on a dual-stack socket: as a mapped address. */
	if (salen > sizeof(to))
		salen = sizeof(to);
	memcpy(&to, sa, salen);
	if (udp_map(ua->ua_family, &to, &salen) == -1) {
		udp_drop(ua, UDROP_SEND, "no IPv6 on this host");
		return;
	}
	if (sendto(ua->ua_fd, p, len, 0, (struct sockaddr *)&to, salen) == -1) {
		udp_drop(ua, UDROP_SEND, strerror(errno));
		return;
	}
	ua->ua_up++;
}

/* ---- SOCKS side ------------------------------------------------------- */

/*
 * UDP ASSOCIATE parsed and a tunnel chosen: open the relay socket on the
 * address the application reached us on, then send Connect(udp).
 */
void
udp_socks_start(struct channel *ch, struct tunnel *t)
{
	struct udp_assoc	*ua;
	struct bufferevent	*bev = ch->ch_bev;
	struct sockaddr_storage	 ss;
	socklen_t		 slen = sizeof(ss);
	char			 err[128];
	int			 fd = bufferevent_getfd(bev);
	struct in_addr		 a4;
	struct in6_addr		 a6;

	channel_set_ops(ch, &udp_socks_ops);
	if (t->t_nudp >= (unsigned)ls_conf->c_max_udp || tunnel_full(t)) {
		log_info("udp %s: too many associations or channels on %s",
		    ch->ch_peer, t->t_name);
		udp_result(ch, ST_UDP_LIMIT);
		front_reply(ch, S5_REP_FAIL, NULL);
		channel_close(ch, "too many UDP associations", 1);
		return;
	}
	if (channel_attach(ch, t) == -1) {
		udp_result(ch, ST_UDP_OTHER);
		front_reply(ch, S5_REP_FAIL, NULL);
		channel_close(ch, "cannot register channel", 1);
		return;
	}
	if ((ua = udp_assoc_new(ch)) == NULL)
		goto fail;
	udp_count(ua, t);
	/* The application: its control connection's address. */
	ua->ua_clientlen = sizeof(ua->ua_client);
	if (getpeername(fd, (struct sockaddr *)&ua->ua_client,
	    &ua->ua_clientlen) == -1 ||
	    getsockname(fd, (struct sockaddr *)&ss, &slen) == -1) {
		log_warn("udp %s: getsockname", ch->ch_peer);
		goto fail;
	}
	udp_unmap(&ua->ua_client, &ua->ua_clientlen);
	udp_unmap(&ss, &slen);
	/* A port given in the request is the one it will send from. */
	ua->ua_client_port = ch->ch_port != 0 ? ch->ch_port : -1;
	udp_set_port(&ua->ua_client, ch->ch_port);
	if ((inet_pton(AF_INET, ch->ch_host, &a4) == 1 && a4.s_addr != 0) ||
	    (inet_pton(AF_INET6, ch->ch_host, &a6) == 1 &&
	    !IN6_IS_ADDR_UNSPECIFIED(&a6)))
		log_debug("udp %s: request names %s:%u; taking datagrams "
		    "from %s", ch->ch_peer, log_strz(ch->ch_host), ch->ch_port,
		    ch->ch_peer);
	udp_set_port(&ss, 0);
	if ((ua->ua_fd = udp_socket(ss.ss_family, (struct sockaddr *)&ss,
	    slen, err, sizeof(err))) == -1) {
		log_warnx("udp %s: relay socket: %s", ch->ch_peer, err);
		goto fail;
	}
	ua->ua_family = ss.ss_family;
	ua->ua_boundlen = sizeof(ua->ua_bound);
	if (getsockname(ua->ua_fd, (struct sockaddr *)&ua->ua_bound,
	    &ua->ua_boundlen) == -1 ||
	    (ua->ua_ev = event_new(ls_worker->w_base, ua->ua_fd,
	    EV_READ | EV_PERSIST, udp_socks_read, ch)) == NULL)
		goto fail;

	channel_set_state(ch, ls_conf->c_fastopen ? CH_CONNECTING :
	    CH_REPLY_OWED);
	log_debug("channel %s udp associate for %s via %s%s",
	    log_id(ch->ch_id), ch->ch_peer, t->t_name,
	    ls_conf->c_fastopen ? " (fast open)" : "");
	if (msg_put_connect(t->t_out, PROTO_UDP, ch->ch_id, NULL, 0) == -1 ||
	    tunnel_flush_msg(t) == -1) {
		ch->ch_flags |= CHF_DISC_SENT;
		udp_result(ch, ST_UDP_OTHER);
		front_reply(ch, S5_REP_HOSTUNREACH, NULL);
		channel_close(ch, "cannot send Connect", 1);
		return;
	}
	/* The control connection: its end is the association's end. */
	bufferevent_setcb(bev, udp_control_read, NULL, udp_control_event, ch);
	bufferevent_setwatermark(bev, EV_READ, 0, 0);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	channel_guard(ch);
	if (ls_conf->c_fastopen) {
		ch->ch_flags |= CHF_FASTOPEN;
		udp_reply(ch);
	}
	return;
 fail:
	udp_result(ch, ST_UDP_OTHER);
	front_reply(ch, S5_REP_FAIL, NULL);
	channel_close(ch, "cannot open the UDP relay", 1);
}

/* Success reply with the relay address; datagrams flow from now on. */
static void
udp_reply(struct channel *ch)
{
	struct udp_assoc	*ua = ch->ch_udp;
	char			 a[INET6_ADDRSTRLEN + 8];

	front_reply(ch, S5_REP_OK, (struct sockaddr *)&ua->ua_bound);
	channel_set_state(ch, CH_RELAY);
	event_add(ua->ua_ev, NULL);
	util_sockaddr_str((struct sockaddr *)&ua->ua_bound, a, sizeof(a));
	log_debug("udp %s: relay on %s for %s", log_id(ch->ch_id), a,
	    ch->ch_peer);
}

static void
udp_connect_response(struct channel *ch, const struct msg *m,
    struct evbuffer *frame)
{
	char		 ebuf[256];
	const char	*err;

	if (ch->ch_flags & CHF_CONFIRMED)
		return;
	if (!m->m_success) {
		err = channel_msg_error(m, ebuf, sizeof(ebuf));
		log_info("udp %s: remote association failed: %s",
		    log_id(ch->ch_id), err);
		udp_result(ch, ST_UDP_REMOTE);
		ch->ch_flags |= CHF_DISC_SENT;
		/* The far side's caps: a general failure. */
		if (ch->ch_state == CH_REPLY_OWED)
			front_reply(ch, strncmp(err, "too many ", 9) == 0 ||
			    strcmp(err, LIMITS_CHANNEL_TEXT) == 0 ?
			    S5_REP_FAIL : S5_REP_HOSTUNREACH, NULL);
		channel_close(ch, "remote association failed", 1);
		return;
	}
	ch->ch_flags |= CHF_CONFIRMED;
	udp_result(ch, ST_UDP_OK);
	channel_guard(ch);
	if (ch->ch_state == CH_REPLY_OWED)
		udp_reply(ch);
}

/* An association has no half-close: a Disconnect ends it. */
static void
udp_disconnect(struct channel *ch, const struct msg *m,
    struct evbuffer *frame)
{
	char		 ebuf[256];
	const char	*err = channel_msg_error(m, ebuf, sizeof(ebuf));

	log_debug("channel %s: Disconnect from peer%s%s", log_id(ch->ch_id),
	    err[0] ? ": " : "", err);
	ch->ch_flags |= CHF_DISC_SENT;
	/* Only a SOCKS side's association is unconfirmed while it runs. */
	if (!(ch->ch_flags & CHF_CONFIRMED))
		udp_result(ch, ST_UDP_REMOTE);
	if (ch->ch_state == CH_REPLY_OWED)
		front_reply(ch, S5_REP_HOSTUNREACH, NULL);
	channel_close(ch, err[0] == '\0' || strcmp(err, "EOF") == 0 ? "EOF" :
	    err, 1);
}

static void
udp_socks_gone(struct channel *ch, const char *why)
{
	if (!(ch->ch_flags & CHF_CONFIRMED))
		udp_result(ch, ST_UDP_NO_TUNNEL);
	if (ch->ch_state == CH_REPLY_OWED)
		front_reply(ch, S5_REP_NETUNREACH, NULL);
	channel_gone(ch, why);
}

static void
udp_socks_timeout(struct channel *ch)
{
	if (!(ch->ch_flags & CHF_CONFIRMED))
		udp_result(ch, ST_UDP_TIMEOUT);
	if (ch->ch_state == CH_REPLY_OWED) {
		/* No ConnectResponse in time (P-8: tell the far side). */
		front_reply(ch, S5_REP_HOSTUNREACH, NULL);
		channel_close(ch, "connect response timeout", 1);
	} else if (ch->ch_state == CH_CONNECTING)
		channel_close(ch, "connect response timeout", 1);
	else if (ch->ch_state == CH_RELAY)
		channel_relay_timeout(ch);
}

/* The relay socket goes now, not after a flush of the control socket. */
static void
udp_close(struct channel *ch, const char *why)
{
	udp_free(ch);
	channel_close_notify(ch, why);
}

static void
udp_tcp_data(struct channel *ch, struct evbuffer *frame, size_t n,
    const struct msg *m)
{
	log_debug("udp %s: TCP Data on a UDP channel, dropped",
	    log_id(ch->ch_id));
}

/* Bytes on the control connection mean nothing (RFC 1928): discard. */
static void
udp_control_read(struct bufferevent *bev, void *arg)
{
	struct evbuffer	*in = bufferevent_get_input(bev);

	evbuffer_drain(in, evbuffer_get_length(in));
}

static void
udp_control_event(struct bufferevent *bev, short what, void *arg)
{
	struct channel	*ch = arg;

	channel_close(ch, (what & BEV_EVENT_EOF) ?
	    "control connection closed" : "control connection error", 0);
}

/* Datagrams from the application. */
static void
udp_socks_read(evutil_socket_t fd, short ev, void *arg)
{
	struct channel		*ch = arg;
	struct udp_assoc	*ua = ch->ch_udp;
	struct sockaddr_storage	 from;
	socklen_t		 flen;
	struct socks5_udp	 su;
	const char		*why;
	ssize_t			 n;
	int			 i, e;
	uint16_t		 port;

	for (i = 0; i < UDP_BATCH && ch->ch_tun != NULL; i++) {
		if ((n = udp_recv(ch, &from, &flen)) == -1)
			return;
		udp_unmap(&from, &flen);
		port = udp_port_of((struct sockaddr *)&from);
		if (!udp_same_host((struct sockaddr *)&from,
		    (struct sockaddr *)&ua->ua_client) ||
		    (ua->ua_client_port != -1 && port != ua->ua_client_port)) {
			udp_drop(ua, UDROP_FOREIGN, NULL);
			continue;
		}
		if ((size_t)n > UDP_DGRAM_MAX) {
			udp_drop(ua, UDROP_MALFORMED, "too large");
			continue;
		}
		if ((e = socks5_udp_parse(udp_buf, (size_t)n, &su)) != S5U_OK) {
			udp_drop(ua, e == S5U_FRAG ? UDROP_FRAGMENT :
			    UDROP_MALFORMED, socks5_udp_strerror(e));
			continue;
		}
		if (access_check_host(ACCESS_ENTRY, su.su_host, su.su_port,
		    udp_group_rules(ua->ua_ch), &why) != RV_ALLOW) {
			STAT_INC(ST_ACCESS_ENTRY);
			udp_drop(ua, UDROP_DENIED, why);
			continue;
		}
		/* The first good datagram fixes the application's port. */
		if (ua->ua_client_port == -1) {
			ua->ua_client_port = port;
			memcpy(&ua->ua_client, &from, flen);
			ua->ua_clientlen = flen;
		}
		if (!tunnel_writable(ch->ch_tun)) {
			udp_drop(ua, UDROP_FULL, NULL);
			continue;
		}
		if (msg_put_data_udp(ch->ch_tun->t_out, ch->ch_id,
		    udp_buf + su.su_hdrlen, (size_t)n - su.su_hdrlen, NULL, 0,
		    su.su_host, su.su_port) == -1) {
			udp_drop(ua, UDROP_MALFORMED, "cannot encode");
			continue;
		}
		STAT_ADD(ST_BYTES_OUT, (size_t)n - su.su_hdrlen);
		TSTAT_ADD(ch->ch_tun->t_stats, TS_BYTES_OUT,
		    (size_t)n - su.su_hdrlen);
		udp_traffic(ch->ch_tun, 0, (size_t)n - su.su_hdrlen);
		if (tunnel_flush_msg(ch->ch_tun) == -1)
			return;
		ua->ua_up++;
	}
}

/* ---- dial side -------------------------------------------------------- */

/* Connect(udp) received on t: open the socket and answer at once. */
void
udp_dial(struct tunnel *t, const struct msg *m)
{
	struct channel		*ch;
	struct udp_assoc	*ua;
	struct sockaddr_in6	 any6;
	struct sockaddr_in	 any4;
	char			 err[128], text[200];
	struct timeval		 tv = { ls_conf->c_udp_timeout, 0 };

	if (t->t_nudp >= (unsigned)ls_conf->c_max_udp &&
	    tunnel_find(t, m->m_id) == NULL) {
		tunnel_refuse(t, m, "too many UDP associations");
		return;
	}
	if ((ch = channel_new_remote(t, m, &udp_dial_ops)) == NULL)
		return;
	if ((ua = udp_assoc_new(ch)) == NULL) {
		udp_result(ch, ST_UDP_OTHER);
		channel_refuse(ch, "out of memory");
		return;
	}
	udp_count(ua, t);
	memset(&any6, 0, sizeof(any6));
	any6.sin6_family = AF_INET6;
	any6.sin6_addr = in6addr_any;
	if ((ua->ua_fd = udp_socket(AF_INET6, (struct sockaddr *)&any6,
	    sizeof(any6), err, sizeof(err))) != -1)
		ua->ua_family = AF_INET6;
	else {
		memset(&any4, 0, sizeof(any4));
		any4.sin_family = AF_INET;
		any4.sin_addr.s_addr = htonl(INADDR_ANY);
		if ((ua->ua_fd = udp_socket(AF_INET, (struct sockaddr *)&any4,
		    sizeof(any4), err, sizeof(err))) == -1) {
			snprintf(text, sizeof(text), "listen udp: %s", err);
			udp_result(ch, ST_UDP_OTHER);
			channel_refuse(ch, text);
			return;
		}
		ua->ua_family = AF_INET;
	}
	if ((ua->ua_ev = event_new(ls_worker->w_base, ua->ua_fd,
	    EV_READ | EV_PERSIST, udp_dial_read, ch)) == NULL ||
	    (ua->ua_idle = evtimer_new(ls_worker->w_base, udp_idle,
	    ch)) == NULL) {
		udp_result(ch, ST_UDP_OTHER);
		channel_refuse(ch, "out of memory");
		return;
	}
	event_add(ua->ua_ev, NULL);
	ua->ua_last = util_now();
	evtimer_add(ua->ua_idle, &tv);
	if (ls_conf->c_upx.px_kind == PROXY_SOCKS5) {
		/* Answered once the upstream's relay is known. */
		ua->ua_proxy = proxy_open(ls_worker->w_base, ls_worker->w_dns,
		    &ls_conf->c_upx, PROXY_CMD_UDP, "0.0.0.0", 0, udp_proxied,
		    ch);
		if (ua->ua_proxy == NULL) {
			udp_result(ch, ST_UDP_OTHER);
			channel_refuse(ch, "upstream proxy: out of memory");
			return;
		}
		channel_timer(ch, LS_CONNECT_TIMEOUT);
		return;
	}
	udp_dial_ready(ch);
}

/* The association is usable: tell the far side. */
static void
udp_dial_ready(struct channel *ch)
{
	struct tunnel	*t = ch->ch_tun;

	ch->ch_flags |= CHF_CONFIRMED;
	udp_result(ch, ST_UDP_OK);
	channel_set_state(ch, CH_RELAY);
	log_debug("channel %s udp association for %s%s%s", log_id(ch->ch_id),
	    t->t_name, ch->ch_udp->ua_relaylen != 0 ? " via " : "",
	    ch->ch_udp->ua_relaylen != 0 ? ls_conf->c_upx.px_name : "");
	if (msg_put_connect_response(t->t_out, 1, ch->ch_id, NULL) == 0)
		tunnel_flush_msg(t);
}

/*
 * An address for a socket of family: IPv4 as a mapped address on a
 * dual-stack socket; -1 for IPv6 on an IPv4 socket.
 */
static int
udp_map(int family, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in	 sin;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;

	if (family == AF_INET6 && ss->ss_family == AF_INET) {
		memcpy(&sin, ss, sizeof(sin));
		memset(ss, 0, sizeof(*ss));
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = sin.sin_port;
		sin6->sin6_addr.s6_addr[10] = 0xff;
		sin6->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&sin6->sin6_addr.s6_addr[12], &sin.sin_addr, 4);
		*len = sizeof(*sin6);
	} else if (family == AF_INET && ss->ss_family != AF_INET)
		return (-1);
	return (0);
}

/* The SOCKS5 upstream answered UDP ASSOCIATE. */
static void
udp_proxied(const struct proxy_result *res, void *arg)
{
	struct channel		*ch = arg;
	struct udp_assoc	*ua = ch->ch_udp;

	ua->ua_proxy = NULL;
	channel_timer(ch, 0);
	if (res->pr_error != 0) {
		udp_result(ch, ST_UDP_OTHER);
		channel_refuse(ch, res->pr_text);
		return;
	}
	ua->ua_ctl = res->pr_bev;
	memcpy(&ua->ua_relay, &res->pr_bound, sizeof(ua->ua_relay));
	ua->ua_relaylen = res->pr_boundlen;
	if (ua->ua_relaylen != 0)
		udp_unmap(&ua->ua_relay, &ua->ua_relaylen);
	if (ua->ua_relaylen == 0 || udp_map(ua->ua_family, &ua->ua_relay,
	    &ua->ua_relaylen) == -1) {
		ua->ua_relaylen = 0;
		udp_result(ch, ST_UDP_OTHER);
		channel_refuse(ch, "upstream proxy: unusable UDP relay "
		    "address");
		return;
	}
	bufferevent_setcb(ua->ua_ctl, udp_ctl_read, NULL, udp_ctl_event, ch);
	bufferevent_enable(ua->ua_ctl, EV_READ);
	udp_dial_ready(ch);
}

/* Nothing is expected on the control connection; it only must stay. */
static void
udp_ctl_read(struct bufferevent *bev, void *arg)
{
	evbuffer_drain(bufferevent_get_input(bev),
	    evbuffer_get_length(bufferevent_get_input(bev)));
}

static void
udp_ctl_event(struct bufferevent *bev, short what, void *arg)
{
	struct channel	*ch = arg;

	channel_close(ch, "upstream proxy ended the UDP association", 0);
}

static void
udp_dial_timeout(struct channel *ch)
{
	if (ch->ch_udp != NULL && ch->ch_udp->ua_proxy != NULL) {
		proxy_cancel(ch->ch_udp->ua_proxy);
		ch->ch_udp->ua_proxy = NULL;
		udp_result(ch, ST_UDP_OTHER);
		channel_refuse(ch, "upstream proxy: i/o timeout");
	}
}

static void
udp_touch(struct udp_assoc *ua)
{
	ua->ua_last = util_now();
}

/* Idle for --udp-timeout: end it, telling the SOCKS side. */
static void
udp_idle(evutil_socket_t fd, short ev, void *arg)
{
	struct channel		*ch = arg;
	struct udp_assoc	*ua = ch->ch_udp;
	double			 left;
	struct timeval		 tv;

	left = ua->ua_last + ls_conf->c_udp_timeout - util_now();
	if (left > 0.5) {
		tv.tv_sec = (time_t)left;
		tv.tv_usec = (suseconds_t)((left - (double)tv.tv_sec) * 1e6);
		evtimer_add(ua->ua_idle, &tv);
		return;
	}
	channel_close(ch, "udp association idle", 0);
}

/* Replies from anywhere go back with their source address. */
static void
udp_dial_read(evutil_socket_t fd, short ev, void *arg)
{
	struct channel		*ch = arg;
	struct udp_assoc	*ua = ch->ch_udp;
	struct sockaddr_storage	 from, relay;
	socklen_t		 flen, rlen;
	struct socks5_udp	 su;
	char			 addr[256];
	ssize_t			 n;
	size_t			 off;
	uint16_t		 sport;
	int			 i, e;

	for (i = 0; i < UDP_BATCH && ch->ch_tun != NULL; i++) {
		if ((n = udp_recv(ch, &from, &flen)) == -1)
			return;
		udp_touch(ua);
		if ((size_t)n > UDP_DGRAM_MAX) {
			udp_drop(ua, UDROP_MALFORMED, "too large");
			continue;
		}
		if (!tunnel_writable(ch->ch_tun)) {
			udp_drop(ua, UDROP_FULL, NULL);
			continue;
		}
		udp_unmap(&from, &flen);
		off = 0;
		if (ua->ua_relaylen != 0) {
			/* Only the relay speaks, with a header: the source. */
			relay = ua->ua_relay;
			rlen = ua->ua_relaylen;
			udp_unmap(&relay, &rlen);
			if (!udp_same_host((struct sockaddr *)&from,
			    (struct sockaddr *)&relay) ||
			    udp_port_of((struct sockaddr *)&from) !=
			    udp_port_of((struct sockaddr *)&relay)) {
				udp_drop(ua, UDROP_FOREIGN, NULL);
				continue;
			}
			if ((e = socks5_udp_parse(udp_buf, (size_t)n, &su)) !=
			    S5U_OK) {
				udp_drop(ua, e == S5U_FRAG ? UDROP_FRAGMENT :
				    UDROP_MALFORMED, socks5_udp_strerror(e));
				continue;
			}
			snprintf(addr, sizeof(addr), "%s", su.su_host);
			sport = su.su_port;
			off = su.su_hdrlen;
		} else {
			socks5_addr_text((struct sockaddr *)&from, addr,
			    sizeof(addr));
			sport = udp_port_of((struct sockaddr *)&from);
		}
		n -= (ssize_t)off;
		if (msg_put_data_udp(ch->ch_tun->t_out, ch->ch_id,
		    udp_buf + off, (size_t)n, addr, sport, NULL, 0) == -1) {
			udp_drop(ua, UDROP_MALFORMED, "cannot encode");
			continue;
		}
		STAT_ADD(ST_BYTES_OUT, n);
		TSTAT_ADD(ch->ch_tun->t_stats, TS_BYTES_OUT, n);
		udp_traffic(ch->ch_tun, 0, (size_t)n);
		if (tunnel_flush_msg(ch->ch_tun) == -1)
			return;
		ua->ua_down++;
	}
}

static void
udp_lookup_free(struct udp_lookup *ul)
{
	struct udp_assoc	*ua = ul->ul_ua;
	struct udp_pending	*up;

	if (ul->ul_req != NULL)
		evdns_getaddrinfo_cancel(ul->ul_req);
	while ((up = TAILQ_FIRST(&ul->ul_queue)) != NULL) {
		TAILQ_REMOVE(&ul->ul_queue, up, up_entry);
		ua->ua_pending -= up->up_len;
		free(up);
	}
	TAILQ_REMOVE(&ua->ua_lookups, ul, ul_entry);
	free(ul);
}

/* First IPv4 address (the reference's habit for UDP), else the first. */
static void
udp_resolved(int result, struct evutil_addrinfo *ai, void *arg)
{
	struct udp_lookup	*ul = arg;
	struct udp_assoc	*ua = ul->ul_ua;
	struct evutil_addrinfo	*a, *pick = NULL;
	struct udp_pending	*up;
	struct sockaddr_storage	 ss;

	if (result == EVUTIL_EAI_CANCEL)
		return;
	ul->ul_req = NULL;
	for (a = ai; result == 0 && a != NULL; a = a->ai_next) {
		if (a->ai_family != AF_INET && (a->ai_family != AF_INET6 ||
		    ua->ua_family != AF_INET6))
			continue;
		if (pick == NULL || (pick->ai_family != AF_INET &&
		    a->ai_family == AF_INET))
			pick = a;
	}
	if (pick != NULL && pick->ai_addrlen <= sizeof(ul->ul_addr)) {
		ul->ul_ok = 1;
		memcpy(&ul->ul_addr, pick->ai_addr, pick->ai_addrlen);
		ul->ul_addrlen = (socklen_t)pick->ai_addrlen;
		ul->ul_expire = util_now() + UDP_CACHE_TTL;
	} else {
		ul->ul_expire = util_now() + UDP_NEG_TTL;
		log_debug("udp %s: lookup %s: %s", log_id(ua->ua_ch->ch_id),
		    log_strz(ul->ul_name), result != 0 ? evutil_gai_strerror(result) :
		    "no usable address");
	}
	if (ai != NULL)
		evutil_freeaddrinfo(ai);
	while ((up = TAILQ_FIRST(&ul->ul_queue)) != NULL) {
		TAILQ_REMOVE(&ul->ul_queue, up, up_entry);
		ua->ua_pending -= up->up_len;
		if (ul->ul_ok) {
			memcpy(&ss, &ul->ul_addr, ul->ul_addrlen);
			udp_set_port(&ss, up->up_port);
			udp_send_to(ua, (struct sockaddr *)&ss, ul->ul_addrlen,
			    up->up_data, up->up_len);
		} else
			udp_drop(ua, UDROP_RESOLVE, ul->ul_name);
		free(up);
	}
}

/* Data(udp) from the tunnel, to the application. */
static void
udp_socks_datagram(struct channel *ch, const struct msg *m,
    struct evbuffer *frame)
{
	struct udp_assoc	*ua = ch->ch_udp;
	uint8_t			 hdr[S5U_HDR_MAX];
	struct iovec		 iov[2];
	struct msghdr		 mh;
	int			 hlen;

	if (ua == NULL)
		return;
	udp_traffic(ch->ch_tun, 1, m->m_datalen);
	/* With a header naming the source. */
	if (ch->ch_state != CH_RELAY || ua->ua_client_port == -1) {
		udp_drop(ua, UDROP_NOCLIENT, NULL);
		return;
	}
	if ((hlen = socks5_udp_header(hdr, m->m_addr.p, m->m_addr.len,
	    m->m_port)) == -1) {
		udp_drop(ua, UDROP_MALFORMED, "bad source address");
		return;
	}
	iov[0].iov_base = hdr;
	iov[0].iov_len = (size_t)hlen;
	iov[1].iov_base = (void *)m->m_data;
	iov[1].iov_len = m->m_datalen;
	memset(&mh, 0, sizeof(mh));
	mh.msg_name = &ua->ua_client;
	mh.msg_namelen = ua->ua_clientlen;
	mh.msg_iov = iov;
	mh.msg_iovlen = 2;
	if (sendmsg(ua->ua_fd, &mh, 0) == -1) {
		udp_drop(ua, UDROP_SEND, strerror(errno));
		return;
	}
	ua->ua_down++;
}

/* Data(udp) from the tunnel, to TargetAddr:TargetPort. */
static void
udp_dial_datagram(struct channel *ch, const struct msg *m,
    struct evbuffer *frame)
{
	struct udp_assoc	*ua = ch->ch_udp;
	struct udp_lookup	*ul, *next;
	struct udp_pending	*up;
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;
	struct evutil_addrinfo	 hints;
	struct evdns_getaddrinfo_request *req;
	char			 name[256];
	int			 nlookups = 0, fresh = 0;
	double			 now;

	if (ua == NULL)
		return;
	udp_traffic(ch->ch_tun, 1, m->m_datalen);
	udp_touch(ua);
	if (m->m_taddr.len == 0 || m->m_taddr.len >= sizeof(name) ||
	    memchr(m->m_taddr.p, '\0', m->m_taddr.len) != NULL ||
	    m->m_tport == 0) {
		udp_drop(ua, UDROP_MALFORMED, "bad target address");
		return;
	}
	memcpy(name, m->m_taddr.p, m->m_taddr.len);
	name[m->m_taddr.len] = '\0';
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, name, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(m->m_tport);
		udp_send_to(ua, (struct sockaddr *)&ss, sizeof(*sin),
		    m->m_data, m->m_datalen);
		return;
	}
	if (inet_pton(AF_INET6, name, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(m->m_tport);
		udp_send_to(ua, (struct sockaddr *)&ss, sizeof(*sin6),
		    m->m_data, m->m_datalen);
		return;
	}
	/* A name: from the cache, or queued behind its lookup. */
	now = util_now();
	for (ul = TAILQ_FIRST(&ua->ua_lookups); ul != NULL; ul = next) {
		next = TAILQ_NEXT(ul, ul_entry);
		if (ul->ul_req == NULL && ul->ul_expire < now) {
			udp_lookup_free(ul);
			continue;
		}
		nlookups++;
		if (strcmp(ul->ul_name, name) == 0)
			break;
	}
	if (ul != NULL && ul->ul_req == NULL) {
		if (!ul->ul_ok) {
			udp_drop(ua, UDROP_RESOLVE, name);
			return;
		}
		memcpy(&ss, &ul->ul_addr, ul->ul_addrlen);
		udp_set_port(&ss, m->m_tport);
		udp_send_to(ua, (struct sockaddr *)&ss, ul->ul_addrlen,
		    m->m_data, m->m_datalen);
		return;
	}
	if (ua->ua_pending + m->m_datalen > UDP_PENDING_MAX) {
		udp_drop(ua, UDROP_FULL, "waiting for DNS");
		return;
	}
	if (ul == NULL) {
		if (nlookups >= UDP_CACHE_SIZE &&
		    (next = TAILQ_FIRST(&ua->ua_lookups)) != NULL &&
		    next->ul_req == NULL)
			udp_lookup_free(next);	/* the oldest goes */
		if ((ul = calloc(1, sizeof(*ul))) == NULL) {
			udp_drop(ua, UDROP_RESOLVE, "out of memory");
			return;
		}
		ul->ul_ua = ua;
		snprintf(ul->ul_name, sizeof(ul->ul_name), "%s", name);
		TAILQ_INIT(&ul->ul_queue);
		TAILQ_INSERT_TAIL(&ua->ua_lookups, ul, ul_entry);
		fresh = 1;
	}
	if ((up = malloc(sizeof(*up) + m->m_datalen)) == NULL) {
		udp_drop(ua, UDROP_FULL, "out of memory");
		if (fresh)
			udp_lookup_free(ul);
		return;
	}
	up->up_port = m->m_tport;
	up->up_len = m->m_datalen;
	memcpy(up->up_data, m->m_data, m->m_datalen);
	TAILQ_INSERT_TAIL(&ul->ul_queue, up, up_entry);
	ua->ua_pending += up->up_len;
	if (!fresh)
		return;		/* its lookup is already running */
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_protocol = IPPROTO_UDP;
	/* Answered at once for hosts entries: the callback ran already. */
	req = evdns_getaddrinfo(ls_worker->w_dns, name, NULL, &hints,
	    udp_resolved, ul);
	if (req != NULL)
		ul->ul_req = req;
	else if (ul->ul_expire == 0)
		udp_resolved(EVUTIL_EAI_FAIL, NULL, ul);
}
