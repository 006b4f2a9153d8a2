/*
 * lsload.c -- load generator and target server for bench/run.
 *
 *	lsload serve [-H host] [-P port] --port-file file
 *	lsload client (--socks host:port --target host:port | --direct host:port)
 *	    (or --http host:port --target host:port: an HTTP proxy, CONNECT)
 *	    [-c conc] [--timeout sec] [--hold sec] mode args
 *	lsload freeport
 *
 * The target server reads one request line per connection and then:
 *	"DOWN n"  sends n bytes (0 = until the peer closes), then closes;
 *	"UP n"    reads n bytes (0 = until EOF), sending a report every
 *		  MiB and at the end: the running count and the CLOCK_MONOTONIC
 *		  time it was read at, two 8-byte big-endian numbers (client
 *		  and target share the host's clock);
 *	"PING"    answers every byte that follows with one byte;
 *	"IDLE"    answers one byte, then holds the connection open.
 *
 * Client modes (SIZE is bytes with an optional k/M/G suffix, or seconds
 * with an "s" suffix for a timed run):
 *	down SIZE	  one stream, target to client
 *	up SIZE		  one stream, client to target
 *	streams N SIZE	  N parallel downward streams, aggregate
 *	cps SECONDS|COUNT new connection per 1-byte request, -c in flight
 *	ttfb COUNT	  the same one at a time: connect() to first byte
 *	idle N		  N connections held open until a signal or --hold
 *
 * Results are printed as "result KEY VALUE" lines on stdout.  One
 * thread, level-triggered epoll, 1 MiB buffers, no per-byte work: the
 * tool only moves bytes between the kernel and one static buffer.
 */
#define _GNU_SOURCE

#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOAD_BUFSIZE	(1024 * 1024)
#define LOAD_REPORT	(1024 * 1024)	/* UP: count report interval */
#define LOAD_LOWAT	(64 * 1024)	/* bulk readers wake for this much */
#define LOAD_DRAIN	(10 * NSEC)	/* timed UP: wait for the last reports */
#define LOAD_MAXEVENTS	512
#define LOAD_LINEMAX	64
#define LOAD_BURST	16		/* reads or writes per wake-up */
#define LOAD_MAXERRORS	1000
#define NSEC		1000000000LL

#ifndef __dead
#define __dead		__attribute__((__noreturn__))
#endif

/* ---- target server ---------------------------------------------------- */

enum serve_state {
	SERVE_LINE,		/* reading the request line */
	SERVE_DOWN,		/* sending sc_want bytes (0 = forever) */
	SERVE_UP,		/* counting received bytes */
	SERVE_PING,		/* one byte back for every byte */
	SERVE_IDLE,		/* holding */
	SERVE_DRAIN,		/* sent everything; waiting for EOF */
	SERVE_CLOSING		/* close once sc_out is flushed */
};

struct serve_conn {
	int			 sc_fd;
	enum serve_state	 sc_state;
	uint32_t		 sc_events;
	uint64_t		 sc_want;
	uint64_t		 sc_done;
	int64_t			 sc_tdone;	/* when sc_done was reached */
	int			 sc_lowat;
	uint64_t		 sc_owed;	/* PING/IDLE reply bytes */
	int			 sc_report;	/* a count report is due */
	char			 sc_line[LOAD_LINEMAX];
	size_t			 sc_linelen;
	uint8_t			 sc_out[64];
	size_t			 sc_outlen;
	size_t			 sc_outoff;
};

/* ---- client ----------------------------------------------------------- */

enum client_job {
	JOB_DOWN,
	JOB_UP,
	JOB_PING,
	JOB_IDLE
};

enum client_state {
	CLIENT_CONNECT,		/* non-blocking connect() in progress */
	CLIENT_GREET,		/* SOCKS5 greeting sent, want 05 00 */
	CLIENT_HTTP,		/* HTTP CONNECT sent, want 200 and its head */
	CLIENT_REPLY,		/* SOCKS5 CONNECT sent, want the reply */
	CLIENT_RUN,		/* request line sent; job running */
	CLIENT_HELD,		/* idle: established and held */
	CLIENT_DONE
};

struct client_conn {
	int			 cc_fd;
	enum client_state	 cc_state;
	uint32_t		 cc_events;
	int64_t			 cc_tstart;	/* before connect() */
	int64_t			 cc_trun;	/* request line sent */
	int64_t			 cc_tend;
	int64_t			 cc_treport;
	uint64_t		 cc_moved;	/* payload bytes in or out */
	uint64_t		 cc_reported;	/* UP: target's count */
	uint64_t		 cc_best;	/* ... the last one by cl_tstop */
	int64_t			 cc_tbest;
	uint8_t			 cc_buf[320];
	size_t			 cc_len;
};

struct client {
	struct sockaddr_in	 cl_proxy;	/* where we connect() */
	struct sockaddr_in	 cl_target;	/* SOCKS CONNECT address */
	int			 cl_socks;	/* 1 SOCKS5, 2 HTTP CONNECT */
	enum client_job		 cl_job;
	uint64_t		 cl_want;	/* bytes per stream, 0 = timed */
	int64_t			 cl_duration;	/* ns, timed runs */
	uint64_t		 cl_count;	/* cps/ttfb/idle: connections */
	int			 cl_conc;
	int64_t			 cl_timeout;	/* ns, whole run */
	int64_t			 cl_hold;	/* ns, idle hold */
	int			 cl_ep;
	int64_t			 cl_tbegin;
	int64_t			 cl_tstop;	/* timed UP: sending stopped */

	/* statistics */
	uint64_t		 cl_opened;
	uint64_t		 cl_finished;
	uint64_t		 cl_errors;
	uint64_t		 cl_inflight;
	uint64_t		 cl_started;	/* ever reached CLIENT_RUN */
	uint64_t		 cl_held;	/* now in CLIENT_HELD */
	int64_t			*cl_lat;
	size_t			 cl_nlat;
	size_t			 cl_maxlat;
};

static uint8_t			 lsload_buf[LOAD_BUFSIZE];
static volatile sig_atomic_t	 lsload_quit;

static __dead void	lsload_usage(void);
static int64_t		lsload_now(void);
static void		lsload_signal(int);
static void		lsload_setup(void);
static int		lsload_addr(const char *, struct sockaddr_in *);
static int		lsload_size(const char *, uint64_t *, int64_t *);
static void		lsload_nodelay(int);
static void		lsload_lowat(int, int *, uint64_t);
static void		lsload_interest(int, int, void *, uint32_t *,
			    uint32_t);
static int		lsload_cmp64(const void *, const void *);

static int		serve_main(int, char **);
static void		serve_accept(int, int);
static void		serve_event(int, struct serve_conn *, uint32_t);
static int		serve_read(struct serve_conn *);
static int		serve_consume(struct serve_conn *, const uint8_t *,
			    size_t);
static int		serve_request(struct serve_conn *);
static int		serve_write(struct serve_conn *);
static int		serve_flush(struct serve_conn *);
static void		serve_update(int, struct serve_conn *);
static void		serve_close(int, struct serve_conn *);

static int		client_main(int, char **);
static struct client_conn *client_open(struct client *);
static void		client_event(struct client *, struct client_conn *,
			    uint32_t);
static int		client_fill(struct client_conn *);
static int		client_greet(struct client *, struct client_conn *);
static int		client_reply(struct client *, struct client_conn *);
static int		client_http(struct client *, struct client_conn *);
static int		client_start(struct client *, struct client_conn *);
static int		client_run(struct client *, struct client_conn *,
			    uint32_t);
static int		client_recv(struct client *, struct client_conn *);
static int		client_send(struct client *, struct client_conn *);
static void		client_update(struct client *, struct client_conn *);
static void		client_close(struct client *, struct client_conn *,
			    int);
static void		client_latency(struct client *, int64_t);
static int		client_wait(struct client *, int64_t);
static int		client_bulk(struct client *, int);
static int		client_cps(struct client *, const char *);
static int		client_idle(struct client *);
static int		client_freeport(void);
static void		client_cpu(struct client *);

static __dead void
lsload_usage(void)
{
	fprintf(stderr,
	    "usage: lsload serve [-H host] [-P port] --port-file file\n"
	    "       lsload client ((--socks | --http) host:port --target"
	    " host:port |\n           --direct host:port)\n"
	    "           [-c conc] [--timeout sec] [--hold sec] mode args\n"
	    "       modes: down SIZE | up SIZE | streams N SIZE |"
	    " cps SECS|COUNT |\n"
	    "              ttfb COUNT | idle N    (SIZE: 1G, 512M, 5s)\n"
	    "       lsload freeport\n");
	exit(2);
}

static int64_t
lsload_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * NSEC + ts.tv_nsec);
}

static void
lsload_signal(int sig)
{
	lsload_quit = 1;
}

/* Ignore SIGPIPE, stop on TERM/INT/HUP, and open every fd we may. */
static void
lsload_setup(void)
{
	struct sigaction	sa;
	struct rlimit		rl;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = lsload_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			warn("%s: setrlimit(RLIMIT_NOFILE)", __func__);
	}
}

/* "a.b.c.d:port", IPv4 only. */
static int
lsload_addr(const char *s, struct sockaddr_in *sin)
{
	char		 host[64];
	const char	*colon;
	char		*end;
	long		 port;

	if ((colon = strrchr(s, ':')) == NULL ||
	    (size_t)(colon - s) >= sizeof(host))
		return (-1);
	memcpy(host, s, colon - s);
	host[colon - s] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port < 0 || port > 65535)
		return (-1);
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		return (-1);
	return (0);
}

/* "123", "64k", "512M", "1G" -> *bytes; "5s", "0.5s" -> *ns. */
static int
lsload_size(const char *s, uint64_t *bytes, int64_t *ns)
{
	char	*end;
	double	 v;

	v = strtod(s, &end);
	if (end == s || v < 0)
		return (-1);
	*bytes = 0;
	*ns = 0;
	if (strcmp(end, "s") == 0) {
		*ns = (int64_t)(v * NSEC);
		return (*ns > 0 ? 0 : -1);
	}
	if (*end == 'k' || *end == 'K')
		v *= 1024;
	else if (*end == 'M')
		v *= 1024 * 1024;
	else if (*end == 'G')
		v *= 1024.0 * 1024 * 1024;
	else if (*end != '\0')
		return (-1);
	if (*end != '\0' && end[1] != '\0')
		return (-1);
	*bytes = (uint64_t)v;
	return (*bytes > 0 ? 0 : -1);
}

static void
lsload_nodelay(int fd)
{
	int	one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/*
 * Bulk readers only wake for LOAD_LOWAT bytes (or EOF): fewer wake-ups,
 * same bytes.  When less than that is due (left, 0 = unknown), they
 * wake for any byte again, so a short tail is read (and ACKed) at once.
 */
static void
lsload_lowat(int fd, int *cur, uint64_t left)
{
	int	v = LOAD_LOWAT;

	if (left != 0 && left < (uint64_t)v)
		v = 1;
	if (v == *cur)
		return;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof(v)) == 0)
		*cur = v;
}

/* Change an fd's epoll interest to want if it differs from *cur. */
static void
lsload_interest(int ep, int fd, void *ptr, uint32_t *cur, uint32_t want)
{
	struct epoll_event	ev;

	if (*cur == want)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.events = want;
	ev.data.ptr = ptr;
	if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) == -1)
		err(1, "%s: epoll_ctl(MOD)", __func__);
	*cur = want;
}

static int
lsload_cmp64(const void *a, const void *b)
{
	int64_t	x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x < y ? -1 : x > y);
}

/* ---- target server ---------------------------------------------------- */

static int
serve_main(int argc, char **argv)
{
	static const struct option	 opts[] = {
		{ "host",	required_argument, NULL, 'H' },
		{ "port",	required_argument, NULL, 'P' },
		{ "port-file",	required_argument, NULL, 'f' },
		{ NULL,		0,		   NULL, 0 }
	};
	struct epoll_event	 ev, evs[LOAD_MAXEVENTS];
	struct sockaddr_in	 sin;
	socklen_t		 slen;
	const char		*host = "127.0.0.1", *portfile = NULL;
	FILE			*fp;
	int			 ch, ep, lfd, i, n, port = 0, one = 1;

	while ((ch = getopt_long(argc, argv, "H:P:f:", opts, NULL)) != -1) {
		switch (ch) {
		case 'H':
			host = optarg;
			break;
		case 'P':
			port = atoi(optarg);
			break;
		case 'f':
			portfile = optarg;
			break;
		default:
			lsload_usage();
		}
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
		errx(2, "%s: bad host %s", __func__, host);

	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1)
		err(1, "%s: socket", __func__);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		err(1, "%s: bind", __func__);
	if (listen(lfd, 4096) == -1)
		err(1, "%s: listen", __func__);
	slen = sizeof(sin);
	if (getsockname(lfd, (struct sockaddr *)&sin, &slen) == -1)
		err(1, "%s: getsockname", __func__);
	port = ntohs(sin.sin_port);

	if ((ep = epoll_create1(0)) == -1)
		err(1, "%s: epoll_create1", __func__);
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;		/* NULL marks the listener */
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) == -1)
		err(1, "%s: epoll_ctl", __func__);

	if (portfile != NULL) {
		if ((fp = fopen(portfile, "w")) == NULL)
			err(1, "%s: %s", __func__, portfile);
		fprintf(fp, "port %d\n", port);
		if (fclose(fp) == EOF)
			err(1, "%s: %s", __func__, portfile);
	} else {
		printf("port %d\n", port);
		fflush(stdout);
	}

	while (!lsload_quit) {
		n = epoll_wait(ep, evs, LOAD_MAXEVENTS, -1);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			err(1, "%s: epoll_wait", __func__);
		}
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr == NULL)
				serve_accept(ep, lfd);
			else
				serve_event(ep, evs[i].data.ptr,
				    evs[i].events);
		}
	}
	return (0);
}

static void
serve_accept(int ep, int lfd)
{
	struct epoll_event	 ev;
	struct serve_conn	*sc;
	int			 fd, i;

	for (i = 0; i < 256; i++) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE) {
				warn("%s: accept4", __func__);
				usleep(10000);
			}
			return;
		}
		lsload_nodelay(fd);
		if ((sc = calloc(1, sizeof(*sc))) == NULL)
			err(1, "%s: calloc", __func__);
		sc->sc_fd = fd;
		sc->sc_state = SERVE_LINE;
		sc->sc_events = EPOLLIN;
		memset(&ev, 0, sizeof(ev));
		ev.events = sc->sc_events;
		ev.data.ptr = sc;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == -1)
			err(1, "%s: epoll_ctl", __func__);
	}
}

static void
serve_event(int ep, struct serve_conn *sc, uint32_t events)
{
	if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) &&
	    serve_read(sc) == -1)
		goto fail;
	if (sc->sc_state == SERVE_DOWN && (events & EPOLLOUT) &&
	    serve_write(sc) == -1)
		goto fail;
	if (serve_flush(sc) == -1)
		goto fail;
	if (sc->sc_state == SERVE_CLOSING && sc->sc_outoff == sc->sc_outlen &&
	    sc->sc_owed == 0 && !sc->sc_report)
		goto fail;
	serve_update(ep, sc);
	return;
 fail:
	serve_close(ep, sc);
}

/* Read what is there; -1 closes the connection. */
static int
serve_read(struct serve_conn *sc)
{
	ssize_t		n;
	uint64_t	left;
	int		i;

	for (i = 0; i < LOAD_BURST; i++) {
		n = read(sc->sc_fd, lsload_buf, sizeof(lsload_buf));
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			return (-1);
		}
		if (n == 0) {
			if (sc->sc_state == SERVE_UP) {
				sc->sc_tdone = lsload_now();
				sc->sc_report = 1;
				sc->sc_state = SERVE_CLOSING;
				return (0);
			}
			return (-1);
		}
		if (serve_consume(sc, lsload_buf, n) == -1)
			return (-1);
		if (sc->sc_state == SERVE_CLOSING)
			return (0);
	}
	if (sc->sc_state == SERVE_UP) {
		/* wake at the next report boundary and at the end */
		sc->sc_tdone = lsload_now();
		left = LOAD_REPORT - sc->sc_done % LOAD_REPORT;
		if (sc->sc_want > sc->sc_done && sc->sc_want - sc->sc_done < left)
			left = sc->sc_want - sc->sc_done;
		lsload_lowat(sc->sc_fd, &sc->sc_lowat, left);
	}
	return (0);
}

static int
serve_consume(struct serve_conn *sc, const uint8_t *p, size_t len)
{
	const uint8_t	*nl;
	size_t		 take;
	uint64_t	 before;

	if (sc->sc_state == SERVE_LINE) {
		nl = memchr(p, '\n', len);
		take = nl != NULL ? (size_t)(nl - p) + 1 : len;
		if (sc->sc_linelen + take >= sizeof(sc->sc_line))
			return (-1);
		memcpy(sc->sc_line + sc->sc_linelen, p, take);
		sc->sc_linelen += take;
		if (nl == NULL)
			return (0);
		sc->sc_line[sc->sc_linelen - 1] = '\0';
		if (serve_request(sc) == -1)
			return (-1);
		p += take;
		len -= take;
	}
	switch (sc->sc_state) {
	case SERVE_UP:
		before = sc->sc_done;
		sc->sc_done += len;
		if (sc->sc_done / LOAD_REPORT != before / LOAD_REPORT)
			sc->sc_report = 1;
		if (sc->sc_want != 0 && before < sc->sc_want &&
		    sc->sc_done >= sc->sc_want)
			sc->sc_report = 1;
		break;
	case SERVE_PING:
		sc->sc_owed += len;
		break;
	default:
		break;			/* discarded */
	}
	return (0);
}

static int
serve_request(struct serve_conn *sc)
{
	unsigned long long	v;
	char			*end;

	if (sc->sc_linelen > 1 && sc->sc_line[sc->sc_linelen - 2] == '\r')
		sc->sc_line[sc->sc_linelen - 2] = '\0';
	if (strncmp(sc->sc_line, "DOWN ", 5) == 0 ||
	    strncmp(sc->sc_line, "UP ", 3) == 0) {
		v = strtoull(strchr(sc->sc_line, ' ') + 1, &end, 10);
		if (*end != '\0')
			return (-1);
		sc->sc_want = v;
		sc->sc_state = sc->sc_line[0] == 'D' ? SERVE_DOWN : SERVE_UP;
	} else if (strcmp(sc->sc_line, "PING") == 0) {
		sc->sc_state = SERVE_PING;
	} else if (strcmp(sc->sc_line, "IDLE") == 0) {
		sc->sc_state = SERVE_IDLE;
		sc->sc_owed = 1;
	} else {
		warnx("%s: unknown request \"%s\"", __func__, sc->sc_line);
		return (-1);
	}
	return (0);
}

static int
serve_write(struct serve_conn *sc)
{
	ssize_t	n;
	size_t	len;
	int	i;

	for (i = 0; i < LOAD_BURST; i++) {
		len = sizeof(lsload_buf);
		if (sc->sc_want != 0 && sc->sc_want - sc->sc_done < len)
			len = sc->sc_want - sc->sc_done;
		n = write(sc->sc_fd, lsload_buf, len);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				return (0);
			return (-1);
		}
		sc->sc_done += n;
		if (sc->sc_want != 0 && sc->sc_done == sc->sc_want) {
			shutdown(sc->sc_fd, SHUT_WR);
			sc->sc_state = SERVE_DRAIN;
			return (0);
		}
	}
	return (0);
}

/* Send owed PING/IDLE bytes and the latest count report. */
static int
serve_flush(struct serve_conn *sc)
{
	ssize_t		n;
	size_t		len;
	uint64_t	v;
	int		i;

	for (;;) {
		if (sc->sc_outoff == sc->sc_outlen) {
			sc->sc_outoff = sc->sc_outlen = 0;
			if (sc->sc_owed > 0) {
				len = sizeof(sc->sc_out);
				if (sc->sc_owed < len)
					len = sc->sc_owed;
				memset(sc->sc_out, 'p', len);
				sc->sc_outlen = len;
				sc->sc_owed -= len;
			} else if (sc->sc_report) {
				v = sc->sc_done;
				for (i = 7; i >= 0; i--) {
					sc->sc_out[i] = v & 0xff;
					v >>= 8;
				}
				v = (uint64_t)sc->sc_tdone;
				for (i = 15; i >= 8; i--) {
					sc->sc_out[i] = v & 0xff;
					v >>= 8;
				}
				sc->sc_outlen = 16;
				sc->sc_report = 0;
			} else
				return (0);
		}
		n = write(sc->sc_fd, sc->sc_out + sc->sc_outoff,
		    sc->sc_outlen - sc->sc_outoff);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				return (0);
			return (-1);
		}
		sc->sc_outoff += n;
	}
}

static void
serve_update(int ep, struct serve_conn *sc)
{
	uint32_t	want = 0;

	if (sc->sc_state != SERVE_CLOSING)
		want |= EPOLLIN;
	if (sc->sc_state == SERVE_DOWN || sc->sc_outoff < sc->sc_outlen ||
	    sc->sc_owed > 0 || sc->sc_report)
		want |= EPOLLOUT;
	lsload_interest(ep, sc->sc_fd, sc, &sc->sc_events, want);
}

static void
serve_close(int ep, struct serve_conn *sc)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, sc->sc_fd, NULL);
	close(sc->sc_fd);
	free(sc);
}

/* ---- client ----------------------------------------------------------- */

static int
client_main(int argc, char **argv)
{
	static const struct option	 opts[] = {
		{ "socks",	required_argument, NULL, 's' },
		{ "http",	required_argument, NULL, 'H' },
		{ "target",	required_argument, NULL, 't' },
		{ "direct",	required_argument, NULL, 'D' },
		{ "timeout",	required_argument, NULL, 'T' },
		{ "hold",	required_argument, NULL, 'h' },
		{ NULL,		0,		   NULL, 0 }
	};
	struct client	 cl;
	const char	*mode;
	int		 ch, have_proxy = 0, have_target = 0;
	uint64_t	 n;
	int64_t		 ns;

	memset(&cl, 0, sizeof(cl));
	cl.cl_tbegin = lsload_now();
	cl.cl_conc = 16;
	cl.cl_timeout = 300 * NSEC;
	cl.cl_hold = 600 * NSEC;
	while ((ch = getopt_long(argc, argv, "+s:H:t:D:c:T:h:", opts,
	    NULL)) != -1) {
		switch (ch) {
		case 's':
		case 'H':
		case 'D':
			if (lsload_addr(optarg, &cl.cl_proxy) == -1)
				errx(2, "%s: bad address %s", __func__,
				    optarg);
			cl.cl_socks = ch == 's' ? 1 : ch == 'H' ? 2 : 0;
			have_proxy = 1;
			break;
		case 't':
			if (lsload_addr(optarg, &cl.cl_target) == -1)
				errx(2, "%s: bad address %s", __func__,
				    optarg);
			have_target = 1;
			break;
		case 'c':
			cl.cl_conc = atoi(optarg);
			if (cl.cl_conc < 1)
				lsload_usage();
			break;
		case 'T':
			cl.cl_timeout = (int64_t)(atof(optarg) * NSEC);
			break;
		case 'h':
			cl.cl_hold = (int64_t)(atof(optarg) * NSEC);
			break;
		default:
			lsload_usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (!have_proxy || (cl.cl_socks && !have_target) || argc < 1)
		lsload_usage();
	if ((cl.cl_ep = epoll_create1(0)) == -1)
		err(1, "%s: epoll_create1", __func__);

	mode = argv[0];
	if ((strcmp(mode, "down") == 0 || strcmp(mode, "up") == 0) &&
	    argc == 2) {
		if (lsload_size(argv[1], &cl.cl_want, &cl.cl_duration) == -1)
			lsload_usage();
		cl.cl_job = mode[0] == 'd' ? JOB_DOWN : JOB_UP;
		return (client_bulk(&cl, 1));
	}
	if (strcmp(mode, "streams") == 0 && argc == 3) {
		if (lsload_size(argv[2], &cl.cl_want, &cl.cl_duration) == -1 ||
		    atoi(argv[1]) < 1)
			lsload_usage();
		cl.cl_job = JOB_DOWN;
		return (client_bulk(&cl, atoi(argv[1])));
	}
	if (strcmp(mode, "cps") == 0 && argc == 2) {
		if (lsload_size(argv[1], &n, &ns) == -1)
			lsload_usage();
		cl.cl_job = JOB_PING;
		cl.cl_count = n;
		cl.cl_duration = ns;
		return (client_cps(&cl, "cps"));
	}
	if (strcmp(mode, "ttfb") == 0 && argc == 2) {
		cl.cl_job = JOB_PING;
		cl.cl_count = strtoull(argv[1], NULL, 10);
		cl.cl_conc = 1;
		if (cl.cl_count == 0)
			lsload_usage();
		return (client_cps(&cl, "ttfb"));
	}
	if (strcmp(mode, "idle") == 0 && argc == 2) {
		cl.cl_job = JOB_IDLE;
		cl.cl_count = strtoull(argv[1], NULL, 10);
		if (cl.cl_count == 0)
			lsload_usage();
		return (client_idle(&cl));
	}
	lsload_usage();
}

/* Start one connection; NULL (and cl_errors counted) if connect() fails. */
static struct client_conn *
client_open(struct client *cl)
{
	struct epoll_event	 ev;
	struct client_conn	*cc;
	int			 fd;

	if ((cc = calloc(1, sizeof(*cc))) == NULL)
		err(1, "%s: calloc", __func__);
	cc->cc_tstart = lsload_now();
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd == -1)
		err(1, "%s: socket", __func__);
	lsload_nodelay(fd);
	if (connect(fd, (struct sockaddr *)&cl->cl_proxy,
	    sizeof(cl->cl_proxy)) == -1 && errno != EINPROGRESS) {
		if (cl->cl_errors++ < 5)
			warn("%s: connect", __func__);
		close(fd);
		free(cc);
		return (NULL);
	}
	cc->cc_fd = fd;
	cc->cc_state = CLIENT_CONNECT;
	cc->cc_events = EPOLLOUT;
	memset(&ev, 0, sizeof(ev));
	ev.events = cc->cc_events;
	ev.data.ptr = cc;
	if (epoll_ctl(cl->cl_ep, EPOLL_CTL_ADD, fd, &ev) == -1)
		err(1, "%s: epoll_ctl", __func__);
	cl->cl_opened++;
	cl->cl_inflight++;
	return (cc);
}

static void
client_event(struct client *cl, struct client_conn *cc, uint32_t events)
{
	socklen_t	len = sizeof(int);
	int		error = 0, rv = 0;

	switch (cc->cc_state) {
	case CLIENT_CONNECT:
		if (getsockopt(cc->cc_fd, SOL_SOCKET, SO_ERROR, &error,
		    &len) == -1 || error != 0) {
			if (cl->cl_errors < 5)
				warnx("%s: connect: %s", __func__,
				    strerror(error));
			rv = -1;
			break;
		}
		if (cl->cl_socks == 2) {
			char	 req[128], a[INET_ADDRSTRLEN];
			int	 len;

			inet_ntop(AF_INET, &cl->cl_target.sin_addr, a,
			    sizeof(a));
			len = snprintf(req, sizeof(req), "CONNECT %s:%u "
			    "HTTP/1.1\r\nHost: %s:%u\r\n\r\n", a,
			    ntohs(cl->cl_target.sin_port), a,
			    ntohs(cl->cl_target.sin_port));
			if (write(cc->cc_fd, req, (size_t)len) != len) {
				rv = -1;
				break;
			}
			cc->cc_state = CLIENT_HTTP;
			cc->cc_len = 0;
		} else if (cl->cl_socks) {
			static const uint8_t greet[3] = { 5, 1, 0 };

			if (write(cc->cc_fd, greet, 3) != 3) {
				rv = -1;
				break;
			}
			cc->cc_state = CLIENT_GREET;
			cc->cc_len = 0;
		} else
			rv = client_start(cl, cc);
		break;
	case CLIENT_GREET:
		rv = client_greet(cl, cc);
		break;
	case CLIENT_HTTP:
		rv = client_http(cl, cc);
		break;
	case CLIENT_REPLY:
		rv = client_reply(cl, cc);
		break;
	case CLIENT_RUN:
	case CLIENT_HELD:
		rv = client_run(cl, cc, events);
		break;
	case CLIENT_DONE:
		break;
	}
	if (rv == -1) {
		client_close(cl, cc, 1);
		return;
	}
	if (cc->cc_state == CLIENT_DONE) {
		client_close(cl, cc, 0);
		return;
	}
	client_update(cl, cc);
}

/* Read into cc_buf; -1 on error or EOF, else bytes now in cc_buf. */
static int
client_fill(struct client_conn *cc)
{
	ssize_t	n;

	n = read(cc->cc_fd, cc->cc_buf + cc->cc_len,
	    sizeof(cc->cc_buf) - cc->cc_len);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return (cc->cc_len);
	if (n <= 0)
		return (-1);
	cc->cc_len += n;
	return (cc->cc_len);
}

static int
client_greet(struct client *cl, struct client_conn *cc)
{
	uint8_t	req[10];
	int	n;

	if ((n = client_fill(cc)) == -1)
		return (-1);
	if (n < 2)
		return (0);
	if (n > 2 || cc->cc_buf[0] != 5 || cc->cc_buf[1] != 0) {
		warnx("%s: SOCKS5 method reply %02x %02x", __func__,
		    cc->cc_buf[0], cc->cc_buf[1]);
		return (-1);
	}
	req[0] = 5;
	req[1] = 1;			/* CONNECT */
	req[2] = 0;
	req[3] = 1;			/* IPv4 */
	memcpy(req + 4, &cl->cl_target.sin_addr, 4);
	memcpy(req + 8, &cl->cl_target.sin_port, 2);
	if (write(cc->cc_fd, req, sizeof(req)) != sizeof(req))
		return (-1);
	cc->cc_state = CLIENT_REPLY;
	cc->cc_len = 0;
	return (0);
}

static int
client_reply(struct client *cl, struct client_conn *cc)
{
	size_t	want;
	int	n;

	if ((n = client_fill(cc)) == -1)
		return (-1);
	if (n < 5)
		return (0);
	if (cc->cc_buf[0] != 5 || cc->cc_buf[1] != 0) {
		if (cl->cl_errors < 5)
			warnx("%s: SOCKS5 reply %02x %02x", __func__,
			    cc->cc_buf[0], cc->cc_buf[1]);
		return (-1);
	}
	switch (cc->cc_buf[3]) {
	case 1:
		want = 4 + 4 + 2;
		break;
	case 4:
		want = 4 + 16 + 2;
		break;
	case 3:
		want = 4 + 1 + cc->cc_buf[4] + 2;
		break;
	default:
		warnx("%s: SOCKS5 reply ATYP %u", __func__, cc->cc_buf[3]);
		return (-1);
	}
	if ((size_t)n < want)
		return (0);
	if ((size_t)n > want) {
		warnx("%s: data before the request", __func__);
		return (-1);
	}
	return (client_start(cl, cc));
}

/* The HTTP proxy's answer to CONNECT: a 200 head, nothing after it. */
static int
client_http(struct client *cl, struct client_conn *cc)
{
	uint8_t	*end;
	int	 n;

	if ((n = client_fill(cc)) == -1)
		return (-1);
	end = memmem(cc->cc_buf, (size_t)n, "\r\n\r\n", 4);
	if (end == NULL) {
		if ((size_t)n == sizeof(cc->cc_buf)) {
			warnx("%s: HTTP proxy head too long", __func__);
			return (-1);
		}
		return (0);
	}
	if (n < 12 || memcmp(cc->cc_buf, "HTTP/1.", 7) != 0 ||
	    memcmp(cc->cc_buf + 8, " 200", 4) != 0) {
		if (cl->cl_errors < 5)
			warnx("%s: HTTP proxy answered %.12s", __func__,
			    (const char *)cc->cc_buf);
		return (-1);
	}
	if (end + 4 != cc->cc_buf + n) {
		warnx("%s: data before the request", __func__);
		return (-1);
	}
	return (client_start(cl, cc));
}

/* Tunnel (or direct connection) is up: send the request line. */
static int
client_start(struct client *cl, struct client_conn *cc)
{
	char	line[LOAD_LINEMAX];
	int	len;

	switch (cl->cl_job) {
	case JOB_DOWN:
		len = snprintf(line, sizeof(line), "DOWN %" PRIu64 "\n",
		    cl->cl_want);
		break;
	case JOB_UP:
		len = snprintf(line, sizeof(line), "UP %" PRIu64 "\n",
		    cl->cl_want);
		break;
	case JOB_PING:
		len = snprintf(line, sizeof(line), "PING\nx");
		break;
	case JOB_IDLE:
	default:
		len = snprintf(line, sizeof(line), "IDLE\n");
		break;
	}
	if (write(cc->cc_fd, line, len) != len)
		return (-1);
	if (cl->cl_job == JOB_DOWN) {
		len = 0;
		lsload_lowat(cc->cc_fd, &len, cl->cl_want);
	}
	cc->cc_state = CLIENT_RUN;
	cc->cc_trun = lsload_now();
	cc->cc_len = 0;
	cl->cl_started++;
	return (0);
}

static int
client_run(struct client *cl, struct client_conn *cc, uint32_t events)
{
	uint8_t	c;
	ssize_t	n;

	switch (cl->cl_job) {
	case JOB_DOWN:
		return (client_recv(cl, cc));
	case JOB_UP:
		if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) &&
		    client_recv(cl, cc) == -1)
			return (-1);
		if (cc->cc_state == CLIENT_RUN && (events & EPOLLOUT))
			return (client_send(cl, cc));
		return (0);
	case JOB_PING:
	case JOB_IDLE:
		n = read(cc->cc_fd, &c, 1);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return (0);
		if (n != 1)
			return (-1);
		if (cc->cc_state == CLIENT_HELD)
			return (-1);	/* idle connections stay silent */
		cc->cc_tend = lsload_now();
		if (cl->cl_job == JOB_PING) {
			client_latency(cl, cc->cc_tend - cc->cc_tstart);
			cc->cc_state = CLIENT_DONE;
		} else {
			cc->cc_state = CLIENT_HELD;
			cl->cl_held++;
		}
		return (0);
	}
	return (-1);
}

/* Bulk receive: payload (DOWN) or 8-byte count reports (UP). */
static int
client_recv(struct client *cl, struct client_conn *cc)
{
	ssize_t		n;
	uint64_t	v, t;
	int		i, j, k;

	for (i = 0; i < LOAD_BURST; i++) {
		n = read(cc->cc_fd, lsload_buf, sizeof(lsload_buf));
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				return (0);
			return (-1);
		}
		if (n == 0) {
			cc->cc_tend = lsload_now();
			if (cl->cl_job == JOB_DOWN && cl->cl_want != 0 &&
			    cc->cc_moved == cl->cl_want) {
				cc->cc_state = CLIENT_DONE;
				return (0);
			}
			warnx("%s: early EOF after %" PRIu64 " bytes",
			    __func__, cc->cc_moved);
			return (-1);
		}
		if (cl->cl_job == JOB_DOWN) {
			cc->cc_moved += n;
			continue;
		}
		/* UP: 16-byte reports, possibly split across reads */
		for (k = 0; k < n; k++) {
			cc->cc_buf[cc->cc_len++] = lsload_buf[k];
			if (cc->cc_len < 16)
				continue;
			for (v = 0, j = 0; j < 8; j++)
				v = v << 8 | cc->cc_buf[j];
			for (t = 0; j < 16; j++)
				t = t << 8 | cc->cc_buf[j];
			cc->cc_len = 0;
			cc->cc_reported = v;
			cc->cc_treport = (int64_t)t;
			if (cl->cl_tstop == 0 ||
			    cc->cc_treport <= cl->cl_tstop) {
				cc->cc_best = v;
				cc->cc_tbest = cc->cc_treport;
			}
		}
		if ((cl->cl_want != 0 && cc->cc_reported >= cl->cl_want) ||
		    (cl->cl_tstop != 0 && cc->cc_reported == cc->cc_moved &&
		    cc->cc_moved % LOAD_REPORT == 0)) {
			cc->cc_tend = cc->cc_treport;
			cc->cc_state = CLIENT_DONE;
			return (0);
		}
	}
	return (0);
}

static int
client_send(struct client *cl, struct client_conn *cc)
{
	ssize_t	n;
	size_t	len;
	int	i;

	for (i = 0; i < LOAD_BURST; i++) {
		len = sizeof(lsload_buf);
		if (cl->cl_tstop != 0) {
			/* stopping: up to a report boundary, then no more */
			if (cc->cc_moved % LOAD_REPORT == 0)
				return (0);
			len = LOAD_REPORT - cc->cc_moved % LOAD_REPORT;
		} else if (cl->cl_want != 0) {
			if (cc->cc_moved >= cl->cl_want)
				return (0);
			if (cl->cl_want - cc->cc_moved < len)
				len = cl->cl_want - cc->cc_moved;
		}
		n = write(cc->cc_fd, lsload_buf, len);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				return (0);
			return (-1);
		}
		cc->cc_moved += n;
	}
	return (0);
}

static void
client_update(struct client *cl, struct client_conn *cc)
{
	uint32_t	want;

	switch (cc->cc_state) {
	case CLIENT_CONNECT:
		want = EPOLLOUT;
		break;
	case CLIENT_RUN:
		want = EPOLLIN;
		if (cl->cl_job == JOB_UP && (cl->cl_tstop != 0 ?
		    cc->cc_moved % LOAD_REPORT != 0 :
		    cl->cl_want == 0 || cc->cc_moved < cl->cl_want))
			want |= EPOLLOUT;
		break;
	default:
		want = EPOLLIN;
		break;
	}
	lsload_interest(cl->cl_ep, cc->cc_fd, cc, &cc->cc_events, want);
}

/* The one teardown; bulk runs keep the struct (cc_fd = -1) for stats. */
static void
client_close(struct client *cl, struct client_conn *cc, int error)
{
	if (cc->cc_fd == -1)
		return;
	epoll_ctl(cl->cl_ep, EPOLL_CTL_DEL, cc->cc_fd, NULL);
	close(cc->cc_fd);
	cc->cc_fd = -1;
	cl->cl_inflight--;
	if (error)
		cl->cl_errors++;
	else
		cl->cl_finished++;
	if (cc->cc_state == CLIENT_HELD)
		cl->cl_held--;
	if (cl->cl_job == JOB_PING || cl->cl_job == JOB_IDLE)
		free(cc);
	else
		cc->cc_state = CLIENT_DONE;
}

static void
client_latency(struct client *cl, int64_t ns)
{
	if (cl->cl_nlat == cl->cl_maxlat) {
		cl->cl_maxlat = cl->cl_maxlat ? cl->cl_maxlat * 2 : 65536;
		cl->cl_lat = reallocarray(cl->cl_lat, cl->cl_maxlat,
		    sizeof(*cl->cl_lat));
		if (cl->cl_lat == NULL)
			err(1, "%s: reallocarray", __func__);
	}
	cl->cl_lat[cl->cl_nlat++] = ns;
}

/* One epoll round, at most until deadline (0 = 100 ms); -1 on a signal. */
static int
client_wait(struct client *cl, int64_t deadline)
{
	struct epoll_event	evs[LOAD_MAXEVENTS];
	int64_t			left;
	int			i, n, ms = 100;

	if (lsload_quit)
		return (-1);
	if (deadline != 0) {
		left = deadline - lsload_now();
		if (left < 0)
			left = 0;
		if (left / 1000000 < ms)
			ms = (int)((left + 999999) / 1000000);
	}
	n = epoll_wait(cl->cl_ep, evs, LOAD_MAXEVENTS, ms);
	if (n == -1) {
		if (errno == EINTR)
			return (lsload_quit ? -1 : 0);
		err(1, "%s: epoll_wait", __func__);
	}
	for (i = 0; i < n; i++)
		client_event(cl, evs[i].data.ptr, evs[i].events);
	return (0);
}

/*
 * nstreams bulk connections.  Timed runs measure the window that starts
 * once every stream has sent its request: DOWN counts what arrived by
 * its end; UP stops sending at its end (at the next report boundary)
 * and waits for the reports, then counts what the target had read by
 * then, by the target's timestamps.
 * Sized runs end when each stream has moved cl_want bytes.
 */
static int
client_bulk(struct client *cl, int nstreams)
{
	struct client_conn	**cc;
	int64_t			  t0 = 0, tlast, limit, end = 0, now;
	uint64_t		  b0 = 0, sum;
	double			  secs;
	int			  i, alive;
	const char		 *key;

	if ((cc = calloc(nstreams, sizeof(*cc))) == NULL)
		err(1, "%s: calloc", __func__);
	limit = lsload_now() + cl->cl_timeout;
	for (i = 0; i < nstreams; i++)
		if ((cc[i] = client_open(cl)) == NULL)
			errx(1, "%s: cannot connect", __func__);

	for (;;) {
		if (client_wait(cl, cl->cl_tstop == 0 ? end : 0) == -1)
			errx(1, "%s: interrupted", __func__);
		now = lsload_now();
		if (now > limit)
			errx(1, "%s: timed out", __func__);
		if (cl->cl_errors > 0)
			errx(1, "%s: a stream failed", __func__);
		if (t0 == 0 && cl->cl_started == (uint64_t)nstreams) {
			t0 = now;
			for (i = 0, b0 = 0; i < nstreams; i++)
				b0 += cl->cl_job == JOB_UP ?
				    cc[i]->cc_best : cc[i]->cc_moved;
			if (cl->cl_duration != 0)
				end = t0 + cl->cl_duration;
		}
		if (t0 == 0)
			continue;
		for (i = 0, alive = 0; i < nstreams; i++)
			alive += cc[i]->cc_state != CLIENT_DONE;
		if (cl->cl_duration == 0 || now < end) {
			if (alive == 0)
				break;
			continue;
		}
		if (cl->cl_job == JOB_DOWN)
			break;
		if (cl->cl_tstop == 0) {
			cl->cl_tstop = end;
			for (i = 0; i < nstreams; i++)
				if (cc[i]->cc_state != CLIENT_DONE)
					client_update(cl, cc[i]);
		}
		if (alive == 0)
			break;
		if (now > end + LOAD_DRAIN) {
			warnx("%s: some reports did not come", __func__);
			break;
		}
	}
	for (i = 0, sum = 0, tlast = t0; i < nstreams; i++) {
		if (cl->cl_job == JOB_UP) {
			sum += cc[i]->cc_best;
			if (cc[i]->cc_tbest > tlast)
				tlast = cc[i]->cc_tbest;
		} else {
			sum += cc[i]->cc_moved;
			if (cc[i]->cc_tend > tlast)
				tlast = cc[i]->cc_tend;
		}
	}
	if (cl->cl_job == JOB_DOWN && cl->cl_duration != 0)
		tlast = end;
	secs = (double)(tlast - t0) / NSEC;
	if (secs <= 0 || sum <= b0)
		errx(1, "%s: nothing moved", __func__);
	key = nstreams > 1 ? "streams" : cl->cl_job == JOB_UP ? "up" : "down";
	printf("result %s_MBps %.1f\n", key, (double)(sum - b0) / secs / 1e6);
	printf("result %s_bytes %" PRIu64 "\n", key, sum - b0);
	printf("result %s_seconds %.3f\n", key, secs);
	for (i = 0; i < nstreams; i++) {
		client_close(cl, cc[i], 0);
		free(cc[i]);
	}
	free(cc);
	client_cpu(cl);
	return (0);
}

/*
 * Connections per second: cl_conc in flight, each one SOCKS handshake,
 * one 1-byte request and reply, then close.  Latency is connect() start
 * to the reply byte.  ttfb is the same at concurrency 1.
 */
static int
client_cps(struct client *cl, const char *key)
{
	int64_t		t0, t1, end, limit;
	double		secs;
	int		more;

	t0 = lsload_now();
	end = cl->cl_duration != 0 ? t0 + cl->cl_duration : 0;
	limit = t0 + cl->cl_timeout;
	for (;;) {
		more = end != 0 ? lsload_now() < end :
		    cl->cl_opened < cl->cl_count;
		while (more && cl->cl_inflight < (uint64_t)cl->cl_conc) {
			if (client_open(cl) == NULL)
				break;	/* counted; let epoll run first */
			more = end != 0 || cl->cl_opened < cl->cl_count;
		}
		if (cl->cl_errors > LOAD_MAXERRORS)
			errx(1, "%s: too many errors", __func__);
		if (cl->cl_inflight == 0 && !more)
			break;
		if (client_wait(cl, end) == -1)
			errx(1, "%s: interrupted", __func__);
		if (lsload_now() > limit)
			errx(1, "%s: timed out with %" PRIu64 " in flight",
			    __func__, cl->cl_inflight);
		if (cl->cl_errors > LOAD_MAXERRORS)
			errx(1, "%s: too many errors", __func__);
	}
	t1 = lsload_now();
	secs = (double)(t1 - t0) / NSEC;
	if (cl->cl_nlat == 0)
		errx(1, "%s: no connection completed", __func__);
	qsort(cl->cl_lat, cl->cl_nlat, sizeof(*cl->cl_lat), lsload_cmp64);
	if (strcmp(key, "cps") == 0)
		printf("result cps %.1f\n", cl->cl_nlat / secs);
	printf("result %s_count %zu\n", key, cl->cl_nlat);
	printf("result %s_errors %" PRIu64 "\n", key, cl->cl_errors);
	printf("result %s_min_ms %.3f\n", key, cl->cl_lat[0] / 1e6);
	printf("result %s_p50_ms %.3f\n", key,
	    cl->cl_lat[cl->cl_nlat / 2] / 1e6);
	printf("result %s_p99_ms %.3f\n", key,
	    cl->cl_lat[(cl->cl_nlat * 99) / 100] / 1e6);
	printf("result %s_max_ms %.3f\n", key,
	    cl->cl_lat[cl->cl_nlat - 1] / 1e6);
	client_cpu(cl);
	return (0);
}

/*
 * Open cl_count proxied connections, cl_conc handshakes at a time, each
 * confirmed end to end by the target's one-byte answer; report, then
 * hold them until a signal or cl_hold passes.
 */
static int
client_idle(struct client *cl)
{
	int64_t		t0, limit, end;

	t0 = lsload_now();
	limit = t0 + cl->cl_timeout;
	for (;;) {
		while (cl->cl_opened < cl->cl_count &&
		    cl->cl_inflight - cl->cl_held < (uint64_t)cl->cl_conc) {
			if (client_open(cl) == NULL)
				break;
		}
		if (cl->cl_errors > 0) {
			printf("result idle_failed %" PRIu64 "\n",
			    cl->cl_errors);
			fflush(stdout);
			errx(1, "%s: %" PRIu64 " connections failed", __func__,
			    cl->cl_errors);
		}
		if (cl->cl_held == cl->cl_count)
			break;
		if (client_wait(cl, 0) == -1)
			errx(1, "%s: interrupted", __func__);
		if (lsload_now() > limit)
			errx(1, "%s: timed out, %" PRIu64 " of %" PRIu64
			    " up", __func__, cl->cl_held, cl->cl_count);
	}
	printf("result idle_established %" PRIu64 "\n", cl->cl_held);
	printf("result idle_seconds %.3f\n",
	    (double)(lsload_now() - t0) / NSEC);
	fflush(stdout);

	end = lsload_now() + cl->cl_hold;
	while (!lsload_quit && lsload_now() < end) {
		if (client_wait(cl, end) == -1)
			break;
		if (cl->cl_errors > 0) {
			printf("result idle_dropped %" PRIu64 "\n",
			    cl->cl_errors);
			fflush(stdout);
			return (1);
		}
	}
	printf("result idle_dropped 0\n");
	return (0);
}

/* Our own CPU use over the run, in % of one core: proof of headroom. */
static void
client_cpu(struct client *cl)
{
	struct rusage	ru;
	double		cpu, wall;

	if (getrusage(RUSAGE_SELF, &ru) == -1)
		return;
	cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	wall = (double)(lsload_now() - cl->cl_tbegin) / NSEC;
	if (wall > 0)
		printf("result cpu_pct %.0f\n", 100 * cpu / wall);
}

/* Print a port the kernel would give now (for peers without port 0). */
static int
client_freeport(void)
{
	struct sockaddr_in	sin;
	socklen_t		slen = sizeof(sin);
	int			fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &slen) == -1)
		err(1, "%s", __func__);
	printf("%d\n", ntohs(sin.sin_port));
	close(fd);
	return (0);
}

int
main(int argc, char **argv)
{
	if (argc < 2)
		lsload_usage();
	lsload_setup();
	if (strcmp(argv[1], "serve") == 0)
		return (serve_main(argc - 1, argv + 1));
	if (strcmp(argv[1], "client") == 0)
		return (client_main(argc - 1, argv + 1));
	if (strcmp(argv[1], "freeport") == 0)
		return (client_freeport());
	lsload_usage();
}
