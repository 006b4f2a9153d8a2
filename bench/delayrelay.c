/*
 * delayrelay.c -- a TCP relay that adds a fixed delay each way.
 *
 *	delayrelay -l port|0 [--port-file file] -t host:port -d ms [-b bytes]
 *
 * Every chunk read from one side is queued with the time it was read
 * and written to the other side ms milliseconds later, in order; an EOF
 * is passed on (as shutdown(SHUT_WR)) the same ms later.  One timerfd
 * holds the earliest due time.  Connection setup is not delayed: only
 * data and EOF are.  Each direction stops reading while more than -b
 * bytes (64 MiB) wait, so the relay is bounded; at 25 ms that still
 * allows 2.6 GB/s per direction.  IPv4 only, one thread, epoll.
 */
#define _GNU_SOURCE

#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef __dead
#define __dead		__attribute__((__noreturn__))
#endif

#define DELAY_BUFSIZE	(1024 * 1024)
#define DELAY_BURST	16
#define DELAY_MAXEVENTS	256
#define NSEC		1000000000LL

struct chunk {
	TAILQ_ENTRY(chunk)	 ck_entry;
	int64_t			 ck_due;
	size_t			 ck_len;	/* 0 marks EOF */
	size_t			 ck_off;
	uint8_t			 ck_data[];
};
TAILQ_HEAD(chunkq, chunk);

struct session;

/* One socket of a session; epoll data points here. */
struct half {
	struct session		*h_sess;
	int			 h_idx;		/* 0 client, 1 target */
	int			 h_fd;
	uint32_t		 h_events;
};

/* Bytes read from half d_src, to be written to the other half. */
struct direction {
	struct chunkq		 d_queue;
	size_t			 d_queued;
	int			 d_eof;		/* EOF read from the source */
	int			 d_shut;	/* EOF passed on */
	int			 d_blocked;	/* last write hit EAGAIN */
};

struct session {
	LIST_ENTRY(session)	 s_entry;
	struct half		 s_half[2];
	struct direction	 s_dir[2];	/* s_dir[i]: from half i */
	int			 s_connected;
	int			 s_dead;	/* closed; freed after the batch */
};

static LIST_HEAD(, session)	 delay_sessions =
    LIST_HEAD_INITIALIZER(delay_sessions);
static LIST_HEAD(, session)	 delay_dead =
    LIST_HEAD_INITIALIZER(delay_dead);
static uint8_t			 delay_buf[DELAY_BUFSIZE];
static struct sockaddr_in	 delay_target;
static int64_t			 delay_ns;
static size_t			 delay_maxq = 64 * 1024 * 1024;
static int			 delay_ep;
static int			 delay_tfd;
static volatile sig_atomic_t	 delay_quit;

static __dead void	delay_usage(void);
static int64_t		delay_now(void);
static void		delay_signal(int);
static void		delay_accept(int);
static void		delay_event(struct half *, uint32_t);
static int		delay_connected(struct session *);
static int		delay_read(struct session *, int);
static int		delay_flush(struct session *, int, int64_t);
static void		delay_update(struct session *);
static void		delay_close(struct session *);
static void		delay_reap(void);
static void		delay_timer(void);

static __dead void
delay_usage(void)
{
	fprintf(stderr, "usage: delayrelay -l port|0 [--port-file file] "
	    "-t host:port -d ms [-b bytes]\n");
	exit(2);
}

static int64_t
delay_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * NSEC + ts.tv_nsec);
}

static void
delay_signal(int sig)
{
	delay_quit = 1;
}

static void
delay_accept(int lfd)
{
	struct epoll_event	 ev;
	struct session		*s;
	int			 fd, tfd, i, k, one = 1;

	for (k = 0; k < 64; k++) {
		if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) == -1) {
			if (errno != EAGAIN && errno != EINTR)
				warn("%s: accept4", __func__);
			return;
		}
		tfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (tfd == -1) {
			warn("%s: socket", __func__);
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(tfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(tfd, (struct sockaddr *)&delay_target,
		    sizeof(delay_target)) == -1 && errno != EINPROGRESS) {
			warn("%s: connect", __func__);
			close(fd);
			close(tfd);
			continue;
		}
		if ((s = calloc(1, sizeof(*s))) == NULL)
			err(1, "%s: calloc", __func__);
		s->s_half[0].h_fd = fd;
		s->s_half[1].h_fd = tfd;
		s->s_half[0].h_events = EPOLLIN;
		s->s_half[1].h_events = EPOLLOUT;	/* connecting */
		for (i = 0; i < 2; i++) {
			s->s_half[i].h_sess = s;
			s->s_half[i].h_idx = i;
			TAILQ_INIT(&s->s_dir[i].d_queue);
			memset(&ev, 0, sizeof(ev));
			ev.events = s->s_half[i].h_events;
			ev.data.ptr = &s->s_half[i];
			if (epoll_ctl(delay_ep, EPOLL_CTL_ADD,
			    s->s_half[i].h_fd, &ev) == -1)
				err(1, "%s: epoll_ctl", __func__);
		}
		LIST_INSERT_HEAD(&delay_sessions, s, s_entry);
	}
}

static void
delay_event(struct half *h, uint32_t events)
{
	struct session	*s = h->h_sess;
	int		 i = h->h_idx;

	if (s->s_dead)
		return;
	if ((events & EPOLLERR) ||
	    ((events & EPOLLHUP) && s->s_dir[i].d_eof))
		goto fail;
	if (i == 1 && !s->s_connected) {
		if (delay_connected(s) == -1)
			goto fail;
		return;
	}
	if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) &&
	    delay_read(s, i) == -1)
		goto fail;
	if (events & EPOLLOUT) {
		/* half i is writable: the direction toward it */
		s->s_dir[1 - i].d_blocked = 0;
		if (delay_flush(s, 1 - i, delay_now()) == -1)
			goto fail;
	}
	if (s->s_dir[0].d_shut && s->s_dir[1].d_shut)
		goto fail;		/* both ways finished */
	delay_update(s);
	return;
 fail:
	delay_close(s);
}

static int
delay_connected(struct session *s)
{
	socklen_t	len = sizeof(int);
	int		error = 0;

	if (getsockopt(s->s_half[1].h_fd, SOL_SOCKET, SO_ERROR, &error,
	    &len) == -1 || error != 0) {
		warnx("%s: connect: %s", __func__, strerror(error));
		return (-1);
	}
	s->s_connected = 1;
	if (delay_flush(s, 0, delay_now()) == -1)
		return (-1);
	delay_update(s);
	return (0);
}

/* Queue what half i has to say; -1 ends the session. */
static int
delay_read(struct session *s, int i)
{
	struct direction	*d = &s->s_dir[i];
	struct chunk		*ck;
	ssize_t			 n;
	int			 k;

	for (k = 0; k < DELAY_BURST && !d->d_eof && d->d_queued < delay_maxq;
	    k++) {
		n = read(s->s_half[i].h_fd, delay_buf, sizeof(delay_buf));
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				return (0);
			return (-1);
		}
		if ((ck = malloc(sizeof(*ck) + n)) == NULL)
			err(1, "%s: malloc", __func__);
		ck->ck_due = delay_now() + delay_ns;
		ck->ck_len = n;
		ck->ck_off = 0;
		memcpy(ck->ck_data, delay_buf, n);
		TAILQ_INSERT_TAIL(&d->d_queue, ck, ck_entry);
		d->d_queued += n;
		if (n == 0)
			d->d_eof = 1;
	}
	return (0);
}

/* Write every chunk of direction i that is due by now. */
static int
delay_flush(struct session *s, int i, int64_t now)
{
	struct direction	*d = &s->s_dir[i];
	struct chunk		*ck;
	int			 fd = s->s_half[1 - i].h_fd;
	ssize_t			 n;

	if (!s->s_connected || d->d_blocked)
		return (0);
	while ((ck = TAILQ_FIRST(&d->d_queue)) != NULL && ck->ck_due <= now) {
		if (ck->ck_len == 0) {
			shutdown(fd, SHUT_WR);
			d->d_shut = 1;
		} else {
			n = write(fd, ck->ck_data + ck->ck_off,
			    ck->ck_len - ck->ck_off);
			if (n == -1) {
				if (errno == EAGAIN || errno == EINTR) {
					d->d_blocked = 1;
					return (0);
				}
				return (-1);
			}
			ck->ck_off += n;
			d->d_queued -= n;
			if (ck->ck_off < ck->ck_len) {
				d->d_blocked = 1;
				return (0);
			}
		}
		TAILQ_REMOVE(&d->d_queue, ck, ck_entry);
		free(ck);
	}
	return (0);
}

static void
delay_update(struct session *s)
{
	struct epoll_event	 ev;
	struct half		*h;
	uint32_t		 want;
	int			 i;

	for (i = 0; i < 2; i++) {
		h = &s->s_half[i];
		want = 0;
		if (i == 1 && !s->s_connected)
			want = EPOLLOUT;
		else {
			if (!s->s_dir[i].d_eof &&
			    s->s_dir[i].d_queued < delay_maxq)
				want |= EPOLLIN;
			if (s->s_dir[1 - i].d_blocked)
				want |= EPOLLOUT;
		}
		if (want == h->h_events)
			continue;
		memset(&ev, 0, sizeof(ev));
		ev.events = want;
		ev.data.ptr = h;
		if (epoll_ctl(delay_ep, EPOLL_CTL_MOD, h->h_fd, &ev) == -1)
			err(1, "%s: epoll_ctl", __func__);
		h->h_events = want;
	}
}

static void
delay_close(struct session *s)
{
	struct chunk	*ck;
	int		 i;

	for (i = 0; i < 2; i++) {
		epoll_ctl(delay_ep, EPOLL_CTL_DEL, s->s_half[i].h_fd, NULL);
		close(s->s_half[i].h_fd);
		while ((ck = TAILQ_FIRST(&s->s_dir[i].d_queue)) != NULL) {
			TAILQ_REMOVE(&s->s_dir[i].d_queue, ck, ck_entry);
			free(ck);
		}
	}
	LIST_REMOVE(s, s_entry);
	s->s_dead = 1;
	LIST_INSERT_HEAD(&delay_dead, s, s_entry);
}

static void
delay_reap(void)
{
	struct session	*s;

	while ((s = LIST_FIRST(&delay_dead)) != NULL) {
		LIST_REMOVE(s, s_entry);
		free(s);
	}
}

/* Flush what is due everywhere and arm the timer for the next chunk. */
static void
delay_timer(void)
{
	struct itimerspec	 its;
	struct session		*s, *next;
	struct chunk		*ck;
	int64_t			 now, due = 0;
	int			 i, dead;

	now = delay_now();
	for (s = LIST_FIRST(&delay_sessions); s != NULL; s = next) {
		next = LIST_NEXT(s, s_entry);
		for (i = 0, dead = 0; i < 2 && !dead; i++)
			dead = delay_flush(s, i, now) == -1;
		if (dead || (s->s_dir[0].d_shut && s->s_dir[1].d_shut)) {
			delay_close(s);
			continue;
		}
		delay_update(s);
		for (i = 0; i < 2; i++) {
			if (!s->s_connected || s->s_dir[i].d_blocked)
				continue;
			ck = TAILQ_FIRST(&s->s_dir[i].d_queue);
			if (ck != NULL && (due == 0 || ck->ck_due < due))
				due = ck->ck_due;
		}
	}
	memset(&its, 0, sizeof(its));
	if (due != 0) {
		its.it_value.tv_sec = due / NSEC;
		its.it_value.tv_nsec = due % NSEC;
	}
	if (timerfd_settime(delay_tfd, TFD_TIMER_ABSTIME, &its, NULL) == -1)
		err(1, "%s: timerfd_settime", __func__);
}

int
main(int argc, char **argv)
{
	static const struct option	 opts[] = {
		{ "listen",	required_argument, NULL, 'l' },
		{ "port-file",	required_argument, NULL, 'f' },
		{ "target",	required_argument, NULL, 't' },
		{ "delay",	required_argument, NULL, 'd' },
		{ "buffer",	required_argument, NULL, 'b' },
		{ NULL,		0,		   NULL, 0 }
	};
	struct epoll_event	 ev, evs[DELAY_MAXEVENTS];
	struct sockaddr_in	 sin;
	struct sigaction	 sa;
	struct rlimit		 rl;
	socklen_t		 slen;
	const char		*portfile = NULL, *colon;
	char			 host[64];
	uint64_t		 expired;
	FILE			*fp;
	int			 ch, lfd, i, n, port = -1, one = 1, have_t = 0;

	while ((ch = getopt_long(argc, argv, "l:f:t:d:b:", opts,
	    NULL)) != -1) {
		switch (ch) {
		case 'l':
			port = atoi(optarg);
			break;
		case 'f':
			portfile = optarg;
			break;
		case 't':
			if ((colon = strrchr(optarg, ':')) == NULL ||
			    (size_t)(colon - optarg) >= sizeof(host))
				delay_usage();
			memcpy(host, optarg, colon - optarg);
			host[colon - optarg] = '\0';
			memset(&delay_target, 0, sizeof(delay_target));
			delay_target.sin_family = AF_INET;
			delay_target.sin_port = htons(atoi(colon + 1));
			if (inet_pton(AF_INET, host,
			    &delay_target.sin_addr) != 1)
				delay_usage();
			have_t = 1;
			break;
		case 'd':
			delay_ns = (int64_t)(atof(optarg) * 1000000);
			break;
		case 'b':
			delay_maxq = strtoull(optarg, NULL, 10);
			break;
		default:
			delay_usage();
		}
	}
	if (port < 0 || port > 65535 || !have_t || delay_ns < 0 ||
	    delay_maxq == 0)
		delay_usage();

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = delay_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1)
		err(1, "socket");
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(lfd, 1024) == -1)
		err(1, "bind/listen 127.0.0.1:%d", port);
	slen = sizeof(sin);
	if (getsockname(lfd, (struct sockaddr *)&sin, &slen) == -1)
		err(1, "getsockname");

	if ((delay_ep = epoll_create1(0)) == -1)
		err(1, "epoll_create1");
	delay_tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	if (delay_tfd == -1)
		err(1, "timerfd_create");
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = &lfd;
	if (epoll_ctl(delay_ep, EPOLL_CTL_ADD, lfd, &ev) == -1)
		err(1, "epoll_ctl");
	ev.data.ptr = &delay_tfd;
	if (epoll_ctl(delay_ep, EPOLL_CTL_ADD, delay_tfd, &ev) == -1)
		err(1, "epoll_ctl");

	if (portfile != NULL) {
		if ((fp = fopen(portfile, "w")) == NULL)
			err(1, "%s", portfile);
		fprintf(fp, "port %d\n", ntohs(sin.sin_port));
		if (fclose(fp) == EOF)
			err(1, "%s", portfile);
	} else {
		printf("port %d\n", ntohs(sin.sin_port));
		fflush(stdout);
	}

	while (!delay_quit) {
		n = epoll_wait(delay_ep, evs, DELAY_MAXEVENTS, -1);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			err(1, "epoll_wait");
		}
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr == &lfd)
				delay_accept(lfd);
			else if (evs[i].data.ptr == &delay_tfd) {
				if (read(delay_tfd, &expired,
				    sizeof(expired)) == -1 && errno != EAGAIN)
					err(1, "timerfd read");
			} else
				delay_event(evs[i].data.ptr, evs[i].events);
		}
		delay_timer();
		delay_reap();
	}
	return (0);
}
