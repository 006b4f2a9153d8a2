/*
 * splicetest.c -- the splice(2) experiment of doc/data-path.md: what one
 * relay hop costs when it copies a payload through user space and when
 * it splices it, with the framing linksocks adds on the server's
 * download path (a WebSocket frame header and a Data message header,
 * 28 bytes, before each payload).
 *
 *	splicetest copy|splice SIZE_MB [CHUNK_KB]
 *
 * A source process writes SIZE_MB MiB to the relay as fast as it can; a
 * sink process reads and discards.  The relay (this process) reads at
 * most CHUNK_KB KiB (default 256, linksocks' largest read on the dial
 * side) and forwards each piece behind a 28-byte header:
 *	copy:	read(2) into a buffer, writev(2) header and payload
 *	splice:	splice(2) socket -> pipe, write(2) header with MSG_MORE,
 *		splice(2) pipe -> socket
 * All on 127.0.0.1, blocking sockets.  Prints one line: mode, MB/s, and
 * the relay's CPU (user + system) in nanoseconds per byte.
 */
#define _GNU_SOURCE

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <err.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HDR_LEN	28

static int
listener(uint16_t *port)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);
	int			fd;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		err(1, "socket");
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, 4) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
		err(1, "listener");
	*port = ntohs(sin.sin_port);
	return (fd);
}

static int
dial(uint16_t port)
{
	struct sockaddr_in	sin;
	int			fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		err(1, "socket");
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		err(1, "connect");
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return (fd);
}

static double
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec + ts.tv_nsec / 1e9);
}

static double
cpu(void)
{
	struct rusage	ru;

	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
}

static void
writeall(int fd, const void *p, size_t n, int flags)
{
	ssize_t	w;

	while (n > 0) {
		if ((w = send(fd, p, n, flags)) <= 0)
			err(1, "send");
		p = (const char *)p + w;
		n -= (size_t)w;
	}
}

int
main(int argc, char *argv[])
{
	static char	 buf[1 << 20];
	uint8_t		 hdr[HDR_LEN];
	struct iovec	 iov[2];
	uint64_t	 total, moved = 0;
	size_t		 chunk = 256 * 1024;
	uint16_t	 sport, dport;
	int		 lsrc, ldst, src, dst, splice_mode, p[2], fd;
	double		 t0, c0, t1, c1;
	ssize_t		 n, w, k;
	pid_t		 a, b;

	if (argc < 3)
		errx(2, "usage: splicetest copy|splice SIZE_MB [CHUNK_KB]");
	splice_mode = strcmp(argv[1], "splice") == 0;
	total = strtoull(argv[2], NULL, 10) << 20;
	if (argc > 3)
		chunk = strtoul(argv[3], NULL, 10) * 1024;
	if (chunk == 0 || chunk > sizeof(buf))
		errx(2, "CHUNK_KB: 1 to 1024");
	memset(hdr, 0x82, sizeof(hdr));
	lsrc = listener(&sport);
	ldst = listener(&dport);
	if ((a = fork()) == 0) {		/* source */
		uint64_t left = total;

		fd = dial(sport);
		memset(buf, 'x', sizeof(buf));
		while (left > 0) {
			n = left < sizeof(buf) ? (ssize_t)left : (ssize_t)sizeof(buf);
			writeall(fd, buf, (size_t)n, 0);
			left -= (uint64_t)n;
		}
		_exit(0);
	}
	if ((b = fork()) == 0) {		/* sink */
		fd = dial(dport);
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			;
		_exit(0);
	}
	if ((src = accept(lsrc, NULL, NULL)) == -1 ||
	    (dst = accept(ldst, NULL, NULL)) == -1)
		err(1, "accept");
	if (pipe(p) == -1)
		err(1, "pipe");
	(void)fcntl(p[1], F_SETPIPE_SZ, (int)chunk);
	t0 = now();
	c0 = cpu();
	while (moved < total) {
		if (!splice_mode) {
			if ((n = read(src, buf, chunk)) <= 0)
				break;
			iov[0].iov_base = hdr;
			iov[0].iov_len = sizeof(hdr);
			iov[1].iov_base = buf;
			iov[1].iov_len = (size_t)n;
			/* Loopback takes it whole or blocks: no short writes
			 * here in practice; check anyway. */
			if ((w = writev(dst, iov, 2)) != (ssize_t)sizeof(hdr) + n) {
				if (w < (ssize_t)sizeof(hdr))
					err(1, "writev");
				writeall(dst, buf + (w - (ssize_t)sizeof(hdr)),
				    (size_t)(n - (w - (ssize_t)sizeof(hdr))), 0);
			}
		} else {
			if ((n = splice(src, NULL, p[1], NULL, chunk,
			    SPLICE_F_MOVE)) <= 0)
				break;
			writeall(dst, hdr, sizeof(hdr), MSG_MORE);
			for (k = n; k > 0; k -= w)
				if ((w = splice(p[0], NULL, dst, NULL, (size_t)k,
				    SPLICE_F_MOVE | SPLICE_F_MORE)) <= 0)
					err(1, "splice to the socket");
		}
		moved += (uint64_t)n;
	}
	shutdown(dst, SHUT_WR);
	waitpid(b, NULL, 0);
	t1 = now();
	c1 = cpu();
	waitpid(a, NULL, 0);
	printf("%s chunk %zu KiB: %.1f MB/s, relay CPU %.3f ns/byte\n",
	    argv[1], chunk / 1024, moved / (t1 - t0) / 1e6,
	    (c1 - c0) * 1e9 / (double)moved);
	return (moved == total ? 0 : 1);
}
