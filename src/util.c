/*
 * util.c -- small helpers shared by every process: randomness, tokens,
 * time, sockets.
 */
#include "config.h"

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <fcntl.h>
#ifdef HAVE_MALLOPT
#include <malloc.h>
#endif
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "linksocks.h"

/* SipHash-2-4 (Aumasson, Bernstein): a keyed hash for tables whose keys
 * a peer chooses. */
#define SIP_ROTL(x, b)	(uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIP_ROUND(v0, v1, v2, v3) do {					\
	v0 += v1; v1 = SIP_ROTL(v1, 13); v1 ^= v0; v0 = SIP_ROTL(v0, 32); \
	v2 += v3; v3 = SIP_ROTL(v3, 16); v3 ^= v2;			\
	v0 += v3; v3 = SIP_ROTL(v3, 21); v3 ^= v0;			\
	v2 += v1; v1 = SIP_ROTL(v1, 17); v1 ^= v2; v2 = SIP_ROTL(v2, 32); \
} while (0)

static uint64_t
util_le64(const uint8_t *p)
{
	uint64_t	v = 0;
	int		i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return (v);
}

uint64_t
util_siphash(const uint8_t key[16], const void *data, size_t len)
{
	const uint8_t	*p = data;
	uint64_t	 k0 = util_le64(key), k1 = util_le64(key + 8);
	uint64_t	 v0 = k0 ^ 0x736f6d6570736575ULL;
	uint64_t	 v1 = k1 ^ 0x646f72616e646f6dULL;
	uint64_t	 v2 = k0 ^ 0x6c7967656e657261ULL;
	uint64_t	 v3 = k1 ^ 0x7465646279746573ULL;
	uint64_t	 m, b = (uint64_t)len << 56;
	size_t		 i, left = len & 7;

	for (i = 0; i + 8 <= len; i += 8) {
		m = util_le64(p + i);
		v3 ^= m;
		SIP_ROUND(v0, v1, v2, v3);
		SIP_ROUND(v0, v1, v2, v3);
		v0 ^= m;
	}
	while (left > 0) {
		left--;
		b |= (uint64_t)p[i + left] << (8 * left);
	}
	v3 ^= b;
	SIP_ROUND(v0, v1, v2, v3);
	SIP_ROUND(v0, v1, v2, v3);
	v0 ^= b;
	v2 ^= 0xff;
	for (i = 0; i < 4; i++)
		SIP_ROUND(v0, v1, v2, v3);
	return (v0 ^ v1 ^ v2 ^ v3);
}

/*
 * Small draws come from a pool refilled 4 KiB at a time: RAND_bytes costs
 * a getpid(2) per call (its fork check), one per channel ID otherwise.  A
 * forked child must not hand out its parent's bytes: it empties the pool.
 */
static uint8_t	 util_rpool[4096];
static size_t	 util_rleft;
static int	 util_ratfork;

static void
util_random_forked(void)
{
	explicit_bzero(util_rpool, sizeof(util_rpool));
	util_rleft = 0;
}

void
util_random(void *buf, size_t len)
{
	if (!util_ratfork) {
		if (pthread_atfork(NULL, NULL, util_random_forked) != 0)
			fatalx("%s: pthread_atfork failed", __func__);
		util_ratfork = 1;
	}
	if (len > 64) {
		if (RAND_bytes(buf, (int)len) != 1)
			fatalx("%s: RAND_bytes failed", __func__);
		return;
	}
	if (util_rleft < len) {
		if (RAND_bytes(util_rpool, sizeof(util_rpool)) != 1)
			fatalx("%s: RAND_bytes failed", __func__);
		util_rleft = sizeof(util_rpool);
	}
	util_rleft -= len;
	memcpy(buf, util_rpool + util_rleft, len);
	explicit_bzero(util_rpool + util_rleft, len);
}

void
util_token_generate(char *out)
{
	static const char	 hex[] = "0123456789abcdef";
	uint8_t			 b[8];
	size_t			 i;

	util_random(b, sizeof(b));
	for (i = 0; i < sizeof(b); i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[16] = '\0';
}

int
util_ct_streq(const char *a, const char *b)
{
	size_t	la = strlen(a), lb = strlen(b);

	if (la != lb)
		return (0);
	return (CRYPTO_memcmp(a, b, la) == 0);
}

double
util_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

int
util_socket_nonblock(int fd)
{
	int	flags;

	if ((flags = fcntl(fd, F_GETFL)) == -1)
		return (-1);
	return (fcntl(fd, F_SETFL, flags | O_NONBLOCK));
}

void
util_sockaddr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	char	host[INET6_ADDRSTRLEN];

	if (sa == NULL) {
		snprintf(buf, len, "?");
		return;
	}
	switch (sa->sa_family) {
	case AF_INET: {
		const struct sockaddr_in *sin = (const void *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(sin->sin_port));
		break;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *sin6 = (const void *)sa;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(sin6->sin6_port));
		break;
	}
	default:
		snprintf(buf, len, "af%d", sa->sa_family);
	}
}

int
util_bind_tcp(const char *host, int port, int reuseport, int backlog,
    char *err, size_t errlen)
{
	struct addrinfo	 hints, *res = NULL;
	char		 portstr[8];
	int		 fd = -1, one = 1, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%d", port);
	if ((rc = getaddrinfo(host, portstr, &hints, &res)) != 0) {
		snprintf(err, errlen, "cannot resolve listen address %s: %s",
		    host, gai_strerror(rc));
		return (-1);
	}
	if ((fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC,
	    res->ai_protocol)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		goto fail;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
	    sizeof(one)) == -1)) {
		snprintf(err, errlen, "setsockopt(SO_REUSEADDR/SO_REUSEPORT): %s",
		    strerror(errno));
		goto fail;
	}
	if (bind(fd, res->ai_addr, res->ai_addrlen) == -1) {
		snprintf(err, errlen, "bind %s:%d: %s", host, port,
		    strerror(errno));
		goto fail;
	}
	if (backlog > 0 && listen(fd, backlog) == -1) {
		snprintf(err, errlen, "listen %s:%d: %s", host, port,
		    strerror(errno));
		goto fail;
	}
	if (util_socket_nonblock(fd) == -1) {
		snprintf(err, errlen, "fcntl: %s", strerror(errno));
		goto fail;
	}
	freeaddrinfo(res);
	return (fd);
 fail:
	if (fd != -1)
		close(fd);
	freeaddrinfo(res);
	return (-1);
}

int
util_local_port(int fd)
{
	struct sockaddr_storage	ss;
	socklen_t		len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return (-1);
	if (ss.ss_family == AF_INET)
		return (ntohs(((struct sockaddr_in *)&ss)->sin_port));
	if (ss.ss_family == AF_INET6)
		return (ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
	return (-1);
}

void
util_set_nodelay(int fd)
{
	int	one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

char *
util_xstrdup(const char *s)
{
	char	*p;

	if (s == NULL)
		return (NULL);
	if ((p = strdup(s)) == NULL)
		fatal("%s: strdup", __func__);
	return (p);
}

/*
 * Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0 if it is not one.
 */
size_t
util_utf8_seq(const uint8_t *p, size_t len)
{
	size_t		 n, k;
	uint32_t	 cp;

	if (len == 0)
		return (0);
	if (p[0] < 0x80)
		return (1);
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 1, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 2, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 3, cp = p[0] & 0x07;
	else
		return (0);
	if (n >= len)
		return (0);
	for (k = 1; k <= n; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return (0);
		cp = (cp << 6) | (p[k] & 0x3f);
	}
	if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return (0);
	return (n + 1);
}

/* Is all of p well-formed UTF-8? */
int
util_utf8_valid(const uint8_t *p, size_t len)
{
	size_t	 i = 0, n;

	while (i < len) {
		if ((n = util_utf8_seq(p + i, len - i)) == 0)
			return (0);
		i += n;
	}
	return (1);
}

int
util_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

/* Canonical (or dash-less) UUID text to 16 bytes; 0 on success. */
int
util_parse_uuid(const char *s, uint8_t *out)
{
	int	i, n = 0, hi = -1, v;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] == '-')
			continue;
		if ((v = util_hexval((unsigned char)s[i])) == -1)
			return (-1);
		if (hi < 0)
			hi = v;
		else {
			if (n >= LS_CHANNEL_ID_LEN)
				return (-1);
			out[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	return (n == LS_CHANNEL_ID_LEN && hi < 0 ? 0 : -1);
}

/* libevent's socket read takes at most this much (EVBUFFER_MAX_READ). */
#define UTIL_EV_READ_MAX	4096

ssize_t
util_bev_read(struct bufferevent *bev, size_t max)
{
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct evbuffer_iovec	 v[2];
	struct iovec		 iov[2];
	int			 fd = bufferevent_getfd(bev), avail = 0, n, i;
	ssize_t			 r;
	size_t			 left;

	if (fd == -1) {
		errno = EBADF;
		return (-1);
	}
	/* libevent's read took less than it could: the socket is empty. */
	if (evbuffer_get_length(in) < UTIL_EV_READ_MAX) {
		errno = EAGAIN;
		return (-1);
	}
	/* Only what is there: no large chain for a few bytes. */
	if (ioctl(fd, FIONREAD, &avail) == -1 || avail <= 0) {
		errno = EAGAIN;
		return (-1);
	}
	if ((size_t)avail < max)
		max = (size_t)avail;
	if (max == 0) {
		errno = EAGAIN;
		return (-1);
	}
	/* A socket bufferevent freezes its input's end between reads. */
	evbuffer_unfreeze(in, 0);
	if ((n = evbuffer_reserve_space(in, (ev_ssize_t)max, v, 2)) <= 0) {
		evbuffer_freeze(in, 0);
		errno = ENOMEM;
		return (-1);
	}
	for (i = 0, left = max; i < n; i++) {
		iov[i].iov_base = v[i].iov_base;
		iov[i].iov_len = v[i].iov_len < left ? v[i].iov_len : left;
		left -= iov[i].iov_len;
	}
	r = readv(fd, iov, n);
	for (i = 0, left = r > 0 ? (size_t)r : 0; i < n; i++) {
		v[i].iov_len = iov[i].iov_len < left ? iov[i].iov_len : left;
		left -= v[i].iov_len;
	}
	evbuffer_commit_space(in, v, n);
	evbuffer_freeze(in, 0);
	return (r);
}

/*
 * A rate in bytes per second: decimal digits, then nothing or one of k,
 * M, G (powers of 1000) or Ki, Mi, Gi (powers of 1024).  0 on success,
 * -1 for anything else or above INT64_MAX.
 */
int
util_parse_rate(const char *s, uint64_t *out)
{
	static const struct {
		const char	*sfx;
		uint64_t	 mul;
	} sfx[] = {
		{ "", 1 },
		{ "k", 1000ULL }, { "M", 1000000ULL }, { "G", 1000000000ULL },
		{ "Ki", 1024ULL }, { "Mi", 1048576ULL }, { "Gi", 1073741824ULL },
	};
	uint64_t	 n = 0;
	size_t		 i;

	if (*s < '0' || *s > '9')
		return (-1);
	for (; *s >= '0' && *s <= '9'; s++) {
		if (n > (uint64_t)INT64_MAX / 10)
			return (-1);
		n = n * 10 + (uint64_t)(*s - '0');
	}
	for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++)
		if (strcmp(s, sfx[i].sfx) == 0)
			break;
	if (i == sizeof(sfx) / sizeof(sfx[0]) ||
	    (n > 0 && sfx[i].mul > (uint64_t)INT64_MAX / n))
		return (-1);
	*out = n * sfx[i].mul;
	return (0);
}

int
util_bev_write_now(struct bufferevent *bev, int direct, ev_ssize_t max)
{
	struct evbuffer	*out = bufferevent_get_output(bev);
	int		 fd = bufferevent_getfd(bev);

	if (evbuffer_get_length(out) == 0)
		return (1);
	if (bufferevent_get_enabled(bev) & EV_WRITE)
		return (0);
	if (direct && fd != -1) {
		/*
		 * A socket bufferevent freezes its output's front.  A failed
		 * write leaves the bytes queued: libevent's write meets the
		 * same error and reports it.
		 */
		evbuffer_unfreeze(out, 1);
		(void)evbuffer_write_atmost(out, fd, max);
		evbuffer_freeze(out, 1);
		if (evbuffer_get_length(out) == 0)
			return (1);
	}
	bufferevent_enable(bev, EV_WRITE);
	return (0);
}

/*
 * The data path's buffers are up to 512 KiB (a read of CH_READ_CHUNK or
 * WS_READ_MAX): glibc's defaults give them to mmap, or to the top of the
 * heap and back to the kernel when freed, so that a download spent its
 * time in brk(2) and page faults: 300-480 MB/s through client and server,
 * 1,300-1,550 with blocks below 1 MiB from the heap and up to 2 MiB kept
 * free at its top (bench/run, this project's 2-core machine).  TLS
 * processes keep more (tls_tune_memory).  Called before the workers
 * fork; they inherit it.
 */
void
util_tune_memory(void)
{
#ifdef HAVE_MALLOPT
	(void)mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
	(void)mallopt(M_TRIM_THRESHOLD, 2 * 1024 * 1024);
#endif
}
