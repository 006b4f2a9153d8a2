/*
 * lsscale.c -- many-process load generator and echo target for
 * bench/scale: up to hundreds of thousands of idle proxied connections.
 *
 *	lsscale serve [--procs N] [--addrs K] --port-file file
 *	lsscale hold --socks host:port --target-port P [--addrs K]
 *	    [--procs N] --count C [--rate R] [--inflight I] [--samples S]
 *	    [--timeout SEC] --dir DIR
 *
 * serve: N processes, each with its own SO_REUSEPORT listeners on
 * 127.0.0.1 and on 127.0.1.1 .. 127.0.1.K, all on the same port, that
 * echo every byte.  The port file says "port P".  The K extra addresses
 * let the proxy's dial side open more connections than one source
 * address has ephemeral ports.
 *
 * hold: N processes open C SOCKS5 connections in all (C/N each) at R
 * connections per second in all, each from its own source address in
 * 127.0.2.0 .. 127.0.(N+1).255 (bind() with port 0 and
 * IP_BIND_ADDRESS_NO_PORT), each to 127.0.1.X:P through the proxy, with
 * at most I handshakes in flight per process (default 128: a linksocks
 * worker drops the oldest of more than 256 SOCKS5 sessions still
 * negotiating), and confirms each end to end: greeting, CONNECT, one byte out, the same
 * byte back.  Then it holds them.  Each child writes DIR/st.I (one line:
 * "held H failed F dropped D first NS last NS", CLOCK_MONOTONIC) once
 * every connection is confirmed or failed, and again on SIGUSR2.  On
 * SIGUSR1 each child sends one byte on S/N held connections spread over
 * them, one at a time, and writes the round trips (ns, one a line) to
 * DIR/lat.I, then "done" to DIR/lat.I.ok.  SIGTERM closes every
 * connection and ends the child.  The parent passes signals on.
 */
#define _GNU_SOURCE

#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT	24
#endif

#define NSEC		1000000000LL
#define SC_MAXEVENTS	1024
#define SC_MAXPROCS	64
#define SC_LISTENER	(1ULL << 32)

enum hold_state {
	H_FREE,
	H_CONNECT,
	H_GREET,
	H_REPLY,
	H_ECHO,
	H_HELD
};

struct hold_conn {
	int		hc_fd;
	uint8_t		hc_state;
	uint8_t		hc_len;
	uint8_t		hc_buf[22];
};

static volatile sig_atomic_t	sc_term, sc_usr1, sc_usr2;
static pid_t			sc_kids[SC_MAXPROCS];
static int			sc_nkids;

static int64_t
sc_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * NSEC + ts.tv_nsec);
}

static void
sc_signal(int sig)
{
	if (sig == SIGUSR1)
		sc_usr1 = 1;
	else if (sig == SIGUSR2)
		sc_usr2 = 1;
	else
		sc_term = 1;
}

static void
sc_child(int sig)
{
	(void)sig;
}

static void
sc_setup(void)
{
	struct sigaction	sa;
	struct rlimit		rl;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = sc_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	sa.sa_handler = sc_child;
	sigaction(SIGCHLD, &sa, NULL);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			warn("%s: setrlimit(RLIMIT_NOFILE)", __func__);
	}
}

static void
sc_usage(void)
{
	fprintf(stderr,
	    "usage: lsscale serve [--procs N] [--addrs K] --port-file F\n"
	    "       lsscale hold --socks H:P --target-port P [--addrs K]"
	    " [--procs N]\n"
	    "           --count C [--rate R] [--inflight I] [--samples S]\n"
	    "           [--timeout SEC] --dir DIR\n");
	exit(2);
}

static void
sc_ip(struct sockaddr_in *sin, int a, int b, int c, int d, int port)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	sin->sin_addr.s_addr = htonl((uint32_t)a << 24 | b << 16 | c << 8 | d);
}

/* Fork n children running fn(i, arg); pass signals on; wait for all. */
static int
sc_fork(int n, int (*fn)(int, void *), void *arg)
{
	sigset_t	mask, old;
	pid_t		pid;
	int		i, st, left, rc = 0;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, &old);
	for (i = 0; i < n; i++) {
		if ((pid = fork()) == -1)
			err(1, "%s: fork", __func__);
		if (pid == 0) {
			sigprocmask(SIG_SETMASK, &old, NULL);
			exit(fn(i, arg));
		}
		sc_kids[sc_nkids++] = pid;
	}
	left = n;
	while (left > 0) {
		sigsuspend(&old);
		if (sc_term || sc_usr1 || sc_usr2) {
			for (i = 0; i < sc_nkids; i++) {
				if (sc_kids[i] == 0)
					continue;
				if (sc_term)
					kill(sc_kids[i], SIGTERM);
				if (sc_usr1)
					kill(sc_kids[i], SIGUSR1);
				if (sc_usr2)
					kill(sc_kids[i], SIGUSR2);
			}
			sc_term = sc_usr1 = sc_usr2 = 0;
		}
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
			for (i = 0; i < sc_nkids; i++)
				if (sc_kids[i] == pid)
					sc_kids[i] = 0;
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
				rc = 1;
			left--;
		}
	}
	return (rc);
}

/* ---- echo target ------------------------------------------------------ */

struct serve_args {
	int	sa_addrs;
	int	sa_port;
	int	sa_first;		/* listener of child 0, bound already */
};

static int
serve_listen(int a, int b, int c, int d, int port)
{
	struct sockaddr_in	sin;
	int			fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1)
		err(1, "%s: socket", __func__);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1)
		err(1, "%s: SO_REUSEPORT", __func__);
	sc_ip(&sin, a, b, c, d, port);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		err(1, "%s: bind 127.%d.%d.%d:%d", __func__, b, c, d, port);
	if (listen(fd, 65535) == -1)
		err(1, "%s: listen", __func__);
	return (fd);
}

static int
serve_child(int idx, void *arg)
{
	struct serve_args	*sa = arg;
	struct epoll_event	 ev, evs[SC_MAXEVENTS];
	uint8_t			 buf[4096];
	ssize_t			 r;
	int			 ep, i, j, n, fd, lfd, one = 1;

	if ((ep = epoll_create1(0)) == -1)
		err(1, "%s: epoll_create1", __func__);
	for (i = 0; i <= sa->sa_addrs; i++) {
		if (i == 0)
			lfd = idx == 0 ? sa->sa_first :
			    serve_listen(127, 0, 0, 1, sa->sa_port);
		else
			lfd = serve_listen(127, 0, 1, i, sa->sa_port);
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.u64 = SC_LISTENER | (uint32_t)lfd;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) == -1)
			err(1, "%s: epoll_ctl", __func__);
	}
	if (idx != 0)
		close(sa->sa_first);
	while (!sc_term) {
		n = epoll_wait(ep, evs, SC_MAXEVENTS, 1000);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			err(1, "%s: epoll_wait", __func__);
		}
		for (i = 0; i < n; i++) {
			fd = (int)(uint32_t)evs[i].data.u64;
			if (evs[i].data.u64 & SC_LISTENER) {
				for (j = 0; j < 256; j++) {
					int c = accept4(fd, NULL, NULL,
					    SOCK_NONBLOCK);
					if (c == -1) {
						if (errno == EMFILE ||
						    errno == ENFILE)
							warn("accept4");
						break;
					}
					setsockopt(c, IPPROTO_TCP, TCP_NODELAY,
					    &one, sizeof(one));
					memset(&ev, 0, sizeof(ev));
					ev.events = EPOLLIN;
					ev.data.u64 = (uint32_t)c;
					if (epoll_ctl(ep, EPOLL_CTL_ADD, c,
					    &ev) == -1)
						err(1, "epoll_ctl");
				}
				continue;
			}
			r = read(fd, buf, sizeof(buf));
			if (r == -1 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r <= 0 || write(fd, buf, r) != r)
				close(fd);	/* leaves the epoll set too */
		}
	}
	return (0);
}

static int
serve_main(int argc, char **argv)
{
	static const struct option	 opts[] = {
		{ "procs",	required_argument, NULL, 'n' },
		{ "addrs",	required_argument, NULL, 'k' },
		{ "port-file",	required_argument, NULL, 'f' },
		{ NULL,		0,		   NULL, 0 }
	};
	struct serve_args	 sa;
	struct sockaddr_in	 sin;
	socklen_t		 slen = sizeof(sin);
	const char		*portfile = NULL;
	FILE			*fp;
	int			 ch, procs = 1;

	memset(&sa, 0, sizeof(sa));
	sa.sa_addrs = 8;
	while ((ch = getopt_long(argc, argv, "n:k:f:", opts, NULL)) != -1) {
		switch (ch) {
		case 'n':
			procs = atoi(optarg);
			break;
		case 'k':
			sa.sa_addrs = atoi(optarg);
			break;
		case 'f':
			portfile = optarg;
			break;
		default:
			sc_usage();
		}
	}
	if (portfile == NULL || procs < 1 || procs > SC_MAXPROCS ||
	    sa.sa_addrs < 0 || sa.sa_addrs > 250)
		sc_usage();
	sa.sa_first = serve_listen(127, 0, 0, 1, 0);
	if (getsockname(sa.sa_first, (struct sockaddr *)&sin, &slen) == -1)
		err(1, "getsockname");
	sa.sa_port = ntohs(sin.sin_port);
	/* bind every address in the parent first: a clash shows at once */
	for (ch = 1; ch <= sa.sa_addrs; ch++)
		close(serve_listen(127, 0, 1, ch, sa.sa_port));
	if ((fp = fopen(portfile, "w")) == NULL)
		err(1, "%s", portfile);
	fprintf(fp, "port %d\n", sa.sa_port);
	if (fclose(fp) == EOF)
		err(1, "%s", portfile);
	return (sc_fork(procs, serve_child, &sa));
}

/* ---- generator -------------------------------------------------------- */

struct hold_args {
	struct sockaddr_in	 ha_socks;
	int			 ha_tport;
	int			 ha_addrs;
	int			 ha_procs;
	uint64_t		 ha_count;
	uint64_t		 ha_inflight;
	double			 ha_rate;
	uint64_t		 ha_samples;
	int64_t			 ha_timeout;
	const char		*ha_dir;
};

struct hold {
	struct hold_args	*h_args;
	int			 h_idx;
	int			 h_ep;
	struct hold_conn	*h_conns;
	uint64_t		 h_share;
	uint64_t		 h_opened;
	uint64_t		 h_inflight;
	uint64_t		 h_held;
	uint64_t		 h_failed;
	uint64_t		 h_dropped;
	int64_t			 h_first;
	int64_t			 h_last;
};

static void
hold_file(struct hold *h, const char *name, const char *text)
{
	char	path[4096], tmp[4200];
	FILE	*fp;

	snprintf(path, sizeof(path), "%s/%s.%d", h->h_args->ha_dir, name,
	    h->h_idx);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((fp = fopen(tmp, "w")) == NULL)
		err(1, "%s", tmp);
	fputs(text, fp);
	if (fclose(fp) == EOF || rename(tmp, path) == -1)
		err(1, "%s", path);
}

static void
hold_status(struct hold *h)
{
	char	line[256];

	snprintf(line, sizeof(line), "held %" PRIu64 " failed %" PRIu64
	    " dropped %" PRIu64 " first %" PRId64 " last %" PRId64 "\n",
	    h->h_held, h->h_failed, h->h_dropped, h->h_first, h->h_last);
	hold_file(h, "st", line);
}

static void
hold_fail(struct hold *h, struct hold_conn *hc, const char *why, int e)
{
	if (hc->hc_state == H_HELD) {
		h->h_held--;
		h->h_dropped++;
		if (h->h_dropped <= 3)
			warnx("child %d: held connection lost: %s",
			    h->h_idx, why);
	} else {
		h->h_inflight--;
		h->h_failed++;
		if (h->h_failed <= 3)
			warnx("child %d: connection failed: %s%s%s", h->h_idx,
			    why, e ? ": " : "", e ? strerror(e) : "");
	}
	close(hc->hc_fd);
	hc->hc_fd = -1;
	hc->hc_state = H_FREE;
}

static int
hold_open(struct hold *h)
{
	struct hold_args	*ha = h->h_args;
	struct hold_conn	*hc = &h->h_conns[h->h_opened];
	struct sockaddr_in	 src;
	struct epoll_event	 ev;
	uint64_t		 j = h->h_opened;
	int			 fd, one = 1;

	h->h_opened++;
	h->h_inflight++;
	hc->hc_state = H_CONNECT;
	hc->hc_len = 0;
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1) {
		hc->hc_fd = socket(AF_INET, SOCK_STREAM, 0);
		hold_fail(h, hc, "socket", errno);
		return (-1);
	}
	hc->hc_fd = fd;
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	sc_ip(&src, 127, 0, 2 + h->h_idx, 1 + (int)(j % 250), 0);
	if (bind(fd, (struct sockaddr *)&src, sizeof(src)) == -1) {
		hold_fail(h, hc, "bind", errno);
		return (-1);
	}
	if (connect(fd, (struct sockaddr *)&ha->ha_socks,
	    sizeof(ha->ha_socks)) == -1 && errno != EINPROGRESS) {
		hold_fail(h, hc, "connect", errno);
		return (-1);
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLOUT;
	ev.data.u64 = j;
	if (epoll_ctl(h->h_ep, EPOLL_CTL_ADD, fd, &ev) == -1)
		err(1, "%s: epoll_ctl", __func__);
	return (0);
}

/* Read until want bytes are buffered: 1 done, 0 wait, -1 failed. */
static int
hold_fill(struct hold_conn *hc, size_t want)
{
	ssize_t	n;

	if (want > sizeof(hc->hc_buf))
		return (-1);
	while (hc->hc_len < want) {
		n = read(hc->hc_fd, hc->hc_buf + hc->hc_len,
		    want - hc->hc_len);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return (0);
		if (n <= 0)
			return (-1);
		hc->hc_len += n;
	}
	return (1);
}

static void
hold_event(struct hold *h, uint64_t j, uint32_t events)
{
	struct hold_conn	*hc = &h->h_conns[j];
	struct epoll_event	 ev;
	uint8_t			 req[10];
	socklen_t		 slen;
	size_t			 want;
	int			 e = 0, r;
	uint8_t			 c;

	switch (hc->hc_state) {
	case H_CONNECT:
		slen = sizeof(e);
		if (getsockopt(hc->hc_fd, SOL_SOCKET, SO_ERROR, &e, &slen) ==
		    -1 || e != 0) {
			hold_fail(h, hc, "connect", e);
			return;
		}
		if (write(hc->hc_fd, "\5\1\0", 3) != 3) {
			hold_fail(h, hc, "greeting", errno);
			return;
		}
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.u64 = j;
		if (epoll_ctl(h->h_ep, EPOLL_CTL_MOD, hc->hc_fd, &ev) == -1)
			err(1, "%s: epoll_ctl", __func__);
		hc->hc_state = H_GREET;
		return;
	case H_GREET:
		if ((r = hold_fill(hc, 2)) <= 0) {
			if (r == -1)
				hold_fail(h, hc, "greeting answer", 0);
			return;
		}
		if (hc->hc_buf[0] != 5 || hc->hc_buf[1] != 0) {
			hold_fail(h, hc, "greeting refused", 0);
			return;
		}
		req[0] = 5;
		req[1] = 1;
		req[2] = 0;
		req[3] = 1;
		req[4] = 127;
		req[5] = 0;
		req[6] = h->h_args->ha_addrs > 0 ? 1 : 0;
		req[7] = h->h_args->ha_addrs > 0 ?
		    1 + (int)(j % h->h_args->ha_addrs) : 1;
		req[8] = h->h_args->ha_tport >> 8;
		req[9] = h->h_args->ha_tport & 0xff;
		if (write(hc->hc_fd, req, sizeof(req)) != sizeof(req)) {
			hold_fail(h, hc, "CONNECT", errno);
			return;
		}
		hc->hc_len = 0;
		hc->hc_state = H_REPLY;
		return;
	case H_REPLY:
		if ((r = hold_fill(hc, 5)) <= 0) {
			if (r == -1)
				hold_fail(h, hc, "SOCKS reply", 0);
			return;
		}
		if (hc->hc_buf[0] != 5 || hc->hc_buf[1] != 0) {
			if (h->h_failed < 3)
				warnx("child %d: SOCKS reply %02x %02x",
				    h->h_idx, hc->hc_buf[0], hc->hc_buf[1]);
			hold_fail(h, hc, "SOCKS refused", 0);
			return;
		}
		want = hc->hc_buf[3] == 1 ? 10 : hc->hc_buf[3] == 4 ? 22 :
		    hc->hc_buf[3] == 3 ? 7 + (size_t)hc->hc_buf[4] : 0;
		if ((r = hold_fill(hc, want)) <= 0) {
			if (r == -1)
				hold_fail(h, hc, "SOCKS reply", 0);
			return;
		}
		if (write(hc->hc_fd, "x", 1) != 1) {
			hold_fail(h, hc, "echo byte", errno);
			return;
		}
		hc->hc_len = 0;
		hc->hc_state = H_ECHO;
		return;
	case H_ECHO:
		if ((r = hold_fill(hc, 1)) <= 0) {
			if (r == -1)
				hold_fail(h, hc, "no echo", 0);
			return;
		}
		if (hc->hc_buf[0] != 'x') {
			hold_fail(h, hc, "wrong echo", 0);
			return;
		}
		hc->hc_state = H_HELD;
		h->h_inflight--;
		h->h_held++;
		h->h_last = sc_now();
		if (h->h_first == 0)
			h->h_first = h->h_last;
		return;
	case H_HELD:
		r = read(hc->hc_fd, &c, 1);
		if (r == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		hold_fail(h, hc, r == 0 ? "EOF" : r == 1 ? "stray byte" :
		    "read error", 0);
		return;
	default:
		(void)events;
		return;
	}
}

/* One byte on held connections spread over all of them, one at a time. */
static void
hold_ping(struct hold *h)
{
	struct pollfd		 pfd;
	struct hold_conn	*hc;
	uint64_t		 n, i, k, step, done = 0;
	char			 path[4096];
	int64_t			 t0;
	FILE			*fp;
	uint8_t			 c;

	n = h->h_args->ha_samples / h->h_args->ha_procs +
	    ((uint64_t)h->h_idx < h->h_args->ha_samples % h->h_args->ha_procs);
	snprintf(path, sizeof(path), "%s/lat.%d", h->h_args->ha_dir,
	    h->h_idx);
	if ((fp = fopen(path, "w")) == NULL)
		err(1, "%s", path);
	step = n > 0 && h->h_opened / n > 1 ? h->h_opened / n : 1;
	for (i = 0, k = 0; done < n && k < h->h_opened * 2; k++, i += step) {
		hc = &h->h_conns[i % h->h_opened];
		if (hc->hc_state != H_HELD)
			continue;
		t0 = sc_now();
		if (write(hc->hc_fd, "p", 1) != 1)
			continue;
		pfd.fd = hc->hc_fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 2000) != 1 || read(hc->hc_fd, &c, 1) != 1 ||
		    c != 'p') {
			fprintf(fp, "-1\n");
			done++;
			continue;
		}
		fprintf(fp, "%" PRId64 "\n", sc_now() - t0);
		done++;
	}
	if (fclose(fp) == EOF)
		err(1, "%s", path);
	hold_file(h, "lat.ok", "done\n");
}

static int
hold_child(int idx, void *arg)
{
	struct hold_args	*ha = arg;
	struct hold		 h;
	struct epoll_event	 evs[SC_MAXEVENTS];
	int64_t			 t0, limit, now;
	double			 rate;
	uint64_t		 i, allowed;
	int			 n, reported = 0;

	memset(&h, 0, sizeof(h));
	h.h_args = ha;
	h.h_idx = idx;
	h.h_share = ha->ha_count / ha->ha_procs +
	    ((uint64_t)idx < ha->ha_count % ha->ha_procs);
	rate = ha->ha_rate / ha->ha_procs;
	if ((h.h_conns = calloc(h.h_share + 1, sizeof(*h.h_conns))) == NULL)
		err(1, "calloc");
	if ((h.h_ep = epoll_create1(0)) == -1)
		err(1, "epoll_create1");
	t0 = sc_now();
	limit = t0 + ha->ha_timeout;
	while (!sc_term) {
		now = sc_now();
		allowed = (uint64_t)(rate * (double)(now - t0) / NSEC) + 1;
		if (allowed > h.h_share)
			allowed = h.h_share;
		while (h.h_opened < allowed && h.h_inflight < ha->ha_inflight)
			hold_open(&h);
		if (!reported && h.h_opened == h.h_share &&
		    h.h_inflight == 0) {
			hold_status(&h);
			reported = 1;
		}
		if (!reported && now > limit) {
			warnx("child %d: timed out with %" PRIu64
			    " handshakes in flight, %" PRIu64 " not opened",
			    idx, h.h_inflight, h.h_share - h.h_opened);
			for (i = 0; i < h.h_opened; i++)
				if (h.h_conns[i].hc_state != H_HELD &&
				    h.h_conns[i].hc_state != H_FREE)
					hold_fail(&h, &h.h_conns[i],
					    "timeout", 0);
			h.h_failed += h.h_share - h.h_opened;
			h.h_opened = h.h_share;
			hold_status(&h);
			reported = 1;
		}
		if (sc_usr2) {
			sc_usr2 = 0;
			hold_status(&h);
		}
		if (sc_usr1) {
			sc_usr1 = 0;
			hold_ping(&h);
		}
		n = epoll_wait(h.h_ep, evs, SC_MAXEVENTS, reported ? 200 : 2);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			err(1, "epoll_wait");
		}
		for (i = 0; i < (uint64_t)n; i++)
			hold_event(&h, evs[i].data.u64, evs[i].events);
	}
	for (i = 0; i < h.h_opened; i++)
		if (h.h_conns[i].hc_state != H_FREE)
			close(h.h_conns[i].hc_fd);
	return (0);
}

static int
hold_main(int argc, char **argv)
{
	static const struct option	 opts[] = {
		{ "socks",	 required_argument, NULL, 's' },
		{ "target-port", required_argument, NULL, 'p' },
		{ "addrs",	 required_argument, NULL, 'k' },
		{ "procs",	 required_argument, NULL, 'n' },
		{ "count",	 required_argument, NULL, 'c' },
		{ "rate",	 required_argument, NULL, 'r' },
		{ "inflight",	 required_argument, NULL, 'i' },
		{ "samples",	 required_argument, NULL, 'S' },
		{ "timeout",	 required_argument, NULL, 't' },
		{ "dir",	 required_argument, NULL, 'd' },
		{ NULL,		 0,		    NULL, 0 }
	};
	struct hold_args	 ha;
	char			 host[64], *colon;
	int			 ch;

	memset(&ha, 0, sizeof(ha));
	ha.ha_addrs = 8;
	ha.ha_procs = 1;
	ha.ha_rate = 5000;
	ha.ha_samples = 1000;
	ha.ha_inflight = 128;
	ha.ha_timeout = 600 * NSEC;
	while ((ch = getopt_long(argc, argv, "s:p:k:n:c:r:i:S:t:d:", opts,
	    NULL)) != -1) {
		switch (ch) {
		case 's':
			if (strlen(optarg) >= sizeof(host) ||
			    (colon = strrchr(strcpy(host, optarg), ':')) ==
			    NULL)
				sc_usage();
			*colon = '\0';
			memset(&ha.ha_socks, 0, sizeof(ha.ha_socks));
			ha.ha_socks.sin_family = AF_INET;
			ha.ha_socks.sin_port = htons(atoi(colon + 1));
			if (inet_pton(AF_INET, host,
			    &ha.ha_socks.sin_addr) != 1)
				sc_usage();
			break;
		case 'p':
			ha.ha_tport = atoi(optarg);
			break;
		case 'k':
			ha.ha_addrs = atoi(optarg);
			break;
		case 'n':
			ha.ha_procs = atoi(optarg);
			break;
		case 'c':
			ha.ha_count = strtoull(optarg, NULL, 10);
			break;
		case 'r':
			ha.ha_rate = atof(optarg);
			break;
		case 'i':
			ha.ha_inflight = strtoull(optarg, NULL, 10);
			break;
		case 'S':
			ha.ha_samples = strtoull(optarg, NULL, 10);
			break;
		case 't':
			ha.ha_timeout = (int64_t)(atof(optarg) * NSEC);
			break;
		case 'd':
			ha.ha_dir = optarg;
			break;
		default:
			sc_usage();
		}
	}
	if (ha.ha_dir == NULL || ha.ha_count == 0 || ha.ha_tport <= 0 ||
	    ha.ha_procs < 1 || ha.ha_procs > SC_MAXPROCS || ha.ha_rate <= 0 ||
	    ha.ha_inflight == 0 || ha.ha_addrs < 0 || ha.ha_addrs > 250 ||
	    ha.ha_socks.sin_port == 0)
		sc_usage();
	return (sc_fork(ha.ha_procs, hold_child, &ha));
}

int
main(int argc, char **argv)
{
	if (argc < 2)
		sc_usage();
	sc_setup();
	if (strcmp(argv[1], "serve") == 0)
		return (serve_main(argc - 1, argv + 1));
	if (strcmp(argv[1], "hold") == 0)
		return (hold_main(argc - 1, argv + 1));
	sc_usage();
	return (2);
}
