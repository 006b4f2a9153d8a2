/*
 * ipc.c -- master <-> worker messages.  Each message is one datagram on a
 * SOCK_SEQPACKET socketpair: a fixed header, a size-checked payload, and at
 * most one descriptor (SCM_RIGHTS).  Unknown types are the receiver's bug
 * to report (it logs and drops the peer).
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/uio.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "linksocks.h"

struct ipc_hdr {
	uint16_t	ih_type;
	uint16_t	ih_version;
	uint32_t	ih_len;
};

struct ipc_pending {
	TAILQ_ENTRY(ipc_pending) ip_entry;
	int		 ip_fd;
	int		 ip_keep;	/* the sender keeps ip_fd open */
	size_t		 ip_len;
	uint8_t		 ip_buf[];
};

struct ipc {
	int			 i_fd;
	struct event		*i_rev;
	struct event		*i_wev;
	ipc_dispatch_cb		 i_dispatch;
	ipc_closed_cb		 i_closed;
	void			*i_arg;
	TAILQ_HEAD(, ipc_pending) i_queue;
};

/* A worker's whole report fits in one message. */
typedef char ipc_stats_fits[sizeof(struct ipc_stats) <= IPC_MAX_PAYLOAD ?
    1 : -1];

static void	ipc_read(evutil_socket_t, short, void *);
static void	ipc_write(evutil_socket_t, short, void *);
static int	ipc_sendraw(struct ipc *, const uint8_t *, size_t, int);
static int	ipc_queue(struct ipc *, int, const void *, size_t, int, int);
static void	ipc_pending_free(struct ipc_pending *);

int
ipc_fd(struct ipc *i)
{
	return (i->i_fd);
}

const char *
ipc_typename(int type)
{
	switch (type) {
	case IPC_TUNNEL_FD:	return ("TUNNEL_FD");
	case IPC_PROVIDERS:	return ("PROVIDERS");
	case IPC_LINK:		return ("LINK");
	case IPC_HANDOFF_IN:	return ("HANDOFF_IN");
	case IPC_TOKEN:		return ("TOKEN");
	case IPC_SYNC:		return ("SYNC");
	case IPC_RULES:		return ("RULES");
	case IPC_SYNC_DONE:	return ("SYNC_DONE");
	case IPC_STAT:		return ("STAT");
	case IPC_CONNECTOR_RES:	return ("CONNECTOR_RES");
	case IPC_PROVIDER:	return ("PROVIDER");
	case IPC_HANDOFF:	return ("HANDOFF");
	case IPC_CONNECTOR_REQ:	return ("CONNECTOR_REQ");
	case IPC_TUNNEL_ACK:	return ("TUNNEL_ACK");
	case IPC_LOAD:		return ("LOAD");
	case IPC_FATAL:		return ("FATAL");
	case IPC_STATS_REQ:	return ("STATS_REQ");
	case IPC_LOG_LEVEL:	return ("LOG_LEVEL");
	case IPC_TLS_KEYS:	return ("TLS_KEYS");
	case IPC_TLS_RELOAD:	return ("TLS_RELOAD");
	case IPC_STATS:		return ("STATS");
	default:		return ("unknown");
	}
}

struct ipc *
ipc_new(struct event_base *base, int fd, ipc_dispatch_cb dispatch,
    ipc_closed_cb closed, void *arg)
{
	struct ipc	*i;

	if ((i = calloc(1, sizeof(*i))) == NULL)
		fatal("%s: calloc", __func__);
	i->i_fd = fd;
	i->i_dispatch = dispatch;
	i->i_closed = closed;
	i->i_arg = arg;
	TAILQ_INIT(&i->i_queue);
	util_socket_nonblock(fd);
	i->i_rev = event_new(base, fd, EV_READ | EV_PERSIST, ipc_read, i);
	i->i_wev = event_new(base, fd, EV_WRITE, ipc_write, i);
	if (i->i_rev == NULL || i->i_wev == NULL)
		fatalx("%s: event_new", __func__);
	event_add(i->i_rev, NULL);
	return (i);
}

void
ipc_free(struct ipc *i)
{
	struct ipc_pending	*p;

	if (i == NULL)
		return;
	while ((p = TAILQ_FIRST(&i->i_queue)) != NULL) {
		TAILQ_REMOVE(&i->i_queue, p, ip_entry);
		ipc_pending_free(p);
	}
	event_free(i->i_rev);
	event_free(i->i_wev);
	close(i->i_fd);
	free(i);
}

static int
ipc_sendraw(struct ipc *i, const uint8_t *buf, size_t len, int fd)
{
	struct msghdr	 mh;
	struct iovec	 iov;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct cmsghdr	*c;

	memset(&mh, 0, sizeof(mh));
	iov.iov_base = (void *)buf;
	iov.iov_len = len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (fd != -1) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_len = CMSG_LEN(sizeof(int));
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	for (;;) {
		if (sendmsg(i->i_fd, &mh, MSG_NOSIGNAL) != -1)
			return (0);
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
			return (1);
		return (-1);
	}
}

static void
ipc_pending_free(struct ipc_pending *p)
{
	if (p->ip_fd != -1 && !p->ip_keep)
		close(p->ip_fd);
	free(p);
}

/*
 * Send a message; the descriptor (if any) is closed here once it has been
 * passed, whatever the outcome.
 */
int
ipc_send(struct ipc *i, int type, const void *data, size_t len, int fd)
{
	return (ipc_queue(i, type, data, len, fd, 0));
}

/*
 * The same, but the caller keeps the descriptor: it must stay open until
 * the message is out (the peer answers it, or the ipc is freed).  -1 if
 * it cannot be sent; the descriptor is still the caller's either way.
 */
int
ipc_send_keep(struct ipc *i, int type, const void *data, size_t len, int fd)
{
	return (ipc_queue(i, type, data, len, fd, 1) == -1 ? -1 : 0);
}

static int
ipc_queue(struct ipc *i, int type, const void *data, size_t len, int fd,
    int keep)
{
	struct ipc_pending	*p;
	struct ipc_hdr		 h;
	int			 rc;

	if (len > IPC_MAX_PAYLOAD) {
		log_warnx("%s: %s payload too large (%zu)", __func__,
		    ipc_typename(type), len);
		if (fd != -1 && !keep)
			close(fd);
		return (-1);
	}
	if ((p = malloc(sizeof(*p) + sizeof(h) + len)) == NULL)
		fatal("%s: malloc", __func__);
	h.ih_type = (uint16_t)type;
	h.ih_version = IPC_VERSION;
	h.ih_len = (uint32_t)len;
	memcpy(p->ip_buf, &h, sizeof(h));
	if (len)
		memcpy(p->ip_buf + sizeof(h), data, len);
	p->ip_len = sizeof(h) + len;
	p->ip_fd = fd;
	p->ip_keep = keep;
	if (TAILQ_EMPTY(&i->i_queue) &&
	    (rc = ipc_sendraw(i, p->ip_buf, p->ip_len, fd)) != 1) {
		ipc_pending_free(p);
		if (rc == -1)
			log_warn("%s: sendmsg %s", __func__,
			    ipc_typename(type));
		return (rc);
	}
	TAILQ_INSERT_TAIL(&i->i_queue, p, ip_entry);
	event_add(i->i_wev, NULL);
	return (0);
}

static void
ipc_write(evutil_socket_t fd, short ev, void *arg)
{
	struct ipc		*i = arg;
	struct ipc_pending	*p;
	int			 rc;

	while ((p = TAILQ_FIRST(&i->i_queue)) != NULL) {
		if ((rc = ipc_sendraw(i, p->ip_buf, p->ip_len, p->ip_fd)) == 1)
			break;
		if (rc == -1)
			log_warn("%s: sendmsg", __func__);
		TAILQ_REMOVE(&i->i_queue, p, ip_entry);
		ipc_pending_free(p);
	}
	if (!TAILQ_EMPTY(&i->i_queue))
		event_add(i->i_wev, NULL);
}

/*
 * The header of a received datagram of n bytes: 0 with the type and the
 * payload, or -1 with the reason in err.  Pure, for the fuzzer.
 */
int
ipc_parse(const uint8_t *buf, size_t n, int *type, const uint8_t **payload,
    size_t *len, char *err, size_t errlen)
{
	struct ipc_hdr	 h;

	if (n < sizeof(h)) {
		snprintf(err, errlen, "short or truncated message (%zu)", n);
		return (-1);
	}
	memcpy(&h, buf, sizeof(h));
	if (h.ih_version != IPC_VERSION || h.ih_len != n - sizeof(h)) {
		snprintf(err, errlen, "bad header (version %u, len %u, got "
		    "%zu)", h.ih_version, h.ih_len, n);
		return (-1);
	}
	*type = h.ih_type;
	*payload = buf + sizeof(h);
	*len = h.ih_len;
	return (0);
}

/*
 * Is len the size of a payload of this type (a hand-off: the struct and
 * ih_datalen bytes of early data)?  1 yes, 0 no or an unknown type.
 */
int
ipc_payload_ok(int type, const void *data, size_t len)
{
	struct ipc_handoff	 h;
	struct ipc_stats	 s;

	switch (type) {
	case IPC_TUNNEL_FD:
	case IPC_TUNNEL_ACK:
		return (len == sizeof(struct ipc_tunnel_fd));
	case IPC_LINK:
		return (len == sizeof(uint32_t));
	case IPC_PROVIDERS:
		return (len == sizeof(struct ipc_providers));
	case IPC_TOKEN:
		return (len == sizeof(struct ipc_token));
	case IPC_SYNC:
		return (len == sizeof(struct ipc_sync));
	case IPC_RULES:
		return (len == sizeof(struct ipc_rules));
	case IPC_SYNC_DONE:
		return (len == sizeof(struct ipc_sync_done));
	case IPC_STAT:
		return (len == sizeof(struct ipc_stat));
	case IPC_CONNECTOR_RES:
	case IPC_CONNECTOR_REQ:
		return (len == sizeof(struct ipc_connector));
	case IPC_LOAD:
		return (len == sizeof(struct ipc_load));
	case IPC_STATS_REQ:
	case IPC_LOG_LEVEL:
	case IPC_TLS_RELOAD:
		return (len == sizeof(uint32_t));
	case IPC_TLS_KEYS:
		return (len == sizeof(struct ipc_tls_keys));
	case IPC_STATS:
		if (len < IPC_STATS_SIZE(0))
			return (0);
		memcpy(&s, data, IPC_STATS_SIZE(0));
		return (s.is_ntokens <= LS_METRICS_TOKENS + 1 &&
		    len == IPC_STATS_SIZE(s.is_ntokens));
	case IPC_PROVIDER:
		return (len == sizeof(struct ipc_provider));
	case IPC_FATAL:
		return (len <= IPC_MAX_PAYLOAD);	/* any text */
	case IPC_HANDOFF:
	case IPC_HANDOFF_IN:
		if (len < sizeof(h))
			return (0);
		memcpy(&h, data, sizeof(h));
		return (len == sizeof(h) + h.ih_datalen);
	default:
		return (0);
	}
}

static void
ipc_read(evutil_socket_t fd, short ev, void *arg)
{
	struct ipc	*i = arg;
	uint8_t		 buf[sizeof(struct ipc_hdr) + IPC_MAX_PAYLOAD];
	const uint8_t	*payload;
	char		 err[128];
	struct msghdr	 mh;
	struct iovec	 iov;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct cmsghdr	*c;
	ssize_t		 n;
	size_t		 len;
	int		 rfd, type;

	for (;;) {
		memset(&mh, 0, sizeof(mh));
		iov.iov_base = buf;
		iov.iov_len = sizeof(buf);
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == ECONNRESET)	/* the peer exited */
				goto closed;
			log_warn("%s: recvmsg", __func__);
			goto closed;
		}
		if (n == 0)
			goto closed;
		rfd = -1;
		for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == SOL_SOCKET &&
			    c->cmsg_type == SCM_RIGHTS)
				memcpy(&rfd, CMSG_DATA(c), sizeof(int));
		if (mh.msg_flags & MSG_TRUNC) {
			log_warnx("%s: short or truncated message (%zd)",
			    __func__, n);
			goto bad;
		}
		if (ipc_parse(buf, (size_t)n, &type, &payload, &len, err,
		    sizeof(err)) == -1) {
			log_warnx("%s: %s", __func__, err);
			goto bad;
		}
		i->i_dispatch(i, type, payload, len, rfd, i->i_arg);
		continue;
 bad:
		if (rfd != -1)
			close(rfd);
		goto closed;
	}
 closed:
	event_del(i->i_rev);
	i->i_closed(i, i->i_arg);
}
