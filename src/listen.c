/*
 * listen.c -- a listening socket that behaves at the open-file limit.
 * libevent retries a failed accept on the next readiness, which at
 * EMFILE is at once: a process at its limit would spin on its listener
 * and log every failure.  Here such an error pauses the listener and a
 * timer resumes it, after 100 ms, doubling to 1.6 s while the errors go
 * on, back to 100 ms after an accept succeeds; one line a second at
 * most says so, with the count of errors since the last line.
 *
 * An owner that can answer a connection it cannot serve (the master's
 * 503) gives a shed callback: at the limit, the reserve descriptor
 * (/dev/null, opened by listen_reserve) is closed to accept one pending
 * connection, which the callback answers and closes, and reopened.
 *
 * Used by the master (tunnel port) and both roles (SOCKS ports); it
 * calls nothing above log.c and util.c.
 */
#include "config.h"

#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/listener.h>

#include "linksocks.h"

#define LISTEN_DELAY_MIN	100	/* ms */
#define LISTEN_DELAY_MAX	1600

struct listen_guard {
	struct evconnlistener	*lg_listener;
	struct event		*lg_timer;
	char			 lg_name[64];
	listen_accept_cb	 lg_accept;
	listen_shed_cb		 lg_shed;
	void			*lg_arg;
	int			 lg_delay;	/* ms; 0: not backing off */
	int			 lg_paused;
	unsigned long		 lg_errors;	/* since accepting again */
	unsigned long		 lg_shed_count;
	struct log_rl		 lg_rl;
};

static int	 listen_reserve_fd = -1;

static void	 listen_accept(struct evconnlistener *, evutil_socket_t,
		    struct sockaddr *, int, void *);
static void	 listen_error(struct evconnlistener *, void *);
static void	 listen_timer(evutil_socket_t, short, void *);
static void	 listen_shed(struct listen_guard *);
static int	 listen_at_limit(int);

/* The descriptor that listen_shed gives up for a moment. */
void
listen_reserve(void)
{
	if (listen_reserve_fd == -1 &&
	    (listen_reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1)
		log_warn("%s: /dev/null", __func__);
}

/* Errors that mean "no descriptor or memory now", not a broken socket. */
static int
listen_at_limit(int err)
{
	return (err == EMFILE || err == ENFILE || err == ENOBUFS ||
	    err == ENOMEM);
}

struct listen_guard *
listen_new(struct event_base *base, int fd, int backlog, const char *name,
    listen_accept_cb accept_cb, listen_shed_cb shed, void *arg)
{
	struct listen_guard	*lg;

	if ((lg = calloc(1, sizeof(*lg))) == NULL)
		return (NULL);
	snprintf(lg->lg_name, sizeof(lg->lg_name), "%s", name);
	lg->lg_accept = accept_cb;
	lg->lg_shed = shed;
	lg->lg_arg = arg;
	lg->lg_rl.rl_interval = 1.0;
	if ((lg->lg_timer = evtimer_new(base, listen_timer, lg)) == NULL)
		goto fail;
	if ((lg->lg_listener = evconnlistener_new(base, listen_accept, lg,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, backlog,
	    fd)) == NULL)
		goto fail;
	evconnlistener_set_error_cb(lg->lg_listener, listen_error);
	return (lg);
 fail:
	if (lg->lg_timer != NULL)
		event_free(lg->lg_timer);
	free(lg);
	return (NULL);
}

/* Close the socket; a held-back count is written first. */
void
listen_free(struct listen_guard *lg)
{
	if (lg == NULL)
		return;
	log_rl_done(&lg->lg_rl);
	evconnlistener_free(lg->lg_listener);
	event_free(lg->lg_timer);
	free(lg);
}

static void
listen_accept(struct evconnlistener *el, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct listen_guard	*lg = arg;

	if (lg->lg_delay != 0) {
		if (lg->lg_errors > 0)
			log_ratelimit(&lg->lg_rl, LL_INFO, "%s: accepting again "
			    "after %lu accept error%s", lg->lg_name,
			    lg->lg_errors, lg->lg_errors == 1 ? "" : "s");
		else
			log_ratelimit(&lg->lg_rl, LL_INFO, "%s: accepting "
			    "again", lg->lg_name);
		lg->lg_delay = 0;
		lg->lg_errors = 0;
	}
	lg->lg_accept(fd, sa, salen, lg->lg_arg);
}

/* Stop accepting and come back after the next delay of the backoff. */
void
listen_pause(struct listen_guard *lg)
{
	struct timeval	tv;

	if (lg->lg_paused)
		return;
	lg->lg_delay = lg->lg_delay == 0 ? LISTEN_DELAY_MIN :
	    lg->lg_delay * 2 > LISTEN_DELAY_MAX ? LISTEN_DELAY_MAX :
	    lg->lg_delay * 2;
	lg->lg_paused = 1;
	evconnlistener_disable(lg->lg_listener);
	tv.tv_sec = lg->lg_delay / 1000;
	tv.tv_usec = (lg->lg_delay % 1000) * 1000;
	evtimer_add(lg->lg_timer, &tv);
}

static void
listen_error(struct evconnlistener *el, void *arg)
{
	struct listen_guard	*lg = arg;
	int			 err = EVUTIL_SOCKET_ERROR();

	lg->lg_errors++;
	if (!listen_at_limit(err)) {
		/* Not ours to fix: say so, without flooding. */
		errno = err;
		log_ratelimit(&lg->lg_rl, LL_WARN, "%s: accept", lg->lg_name);
		return;
	}
	STAT_INC(ST_FDLIMIT);
	if (lg->lg_shed != NULL)
		listen_shed(lg);
	listen_pause(lg);
	if (lg->lg_shed != NULL)
		log_ratelimit(&lg->lg_rl, LL_WARNX, "%s: accept: %s; paused for "
		    "%d ms (%lu error%s; %lu connection%s answered and closed "
		    "so far)", lg->lg_name, strerror(err), lg->lg_delay,
		    lg->lg_errors, lg->lg_errors == 1 ? "" : "s",
		    lg->lg_shed_count, lg->lg_shed_count == 1 ? "" : "s");
	else
		log_ratelimit(&lg->lg_rl, LL_WARNX, "%s: accept: %s; paused for "
		    "%d ms (%lu error%s)", lg->lg_name, strerror(err),
		    lg->lg_delay, lg->lg_errors, lg->lg_errors == 1 ? "" : "s");
}

/*
 * One pending connection gets the reserve descriptor's slot: accepted,
 * answered by the owner and closed, so it learns now instead of waiting
 * in the backlog.
 */
static void
listen_shed(struct listen_guard *lg)
{
	int	fd;

	if (listen_reserve_fd == -1)
		return;
	close(listen_reserve_fd);
	listen_reserve_fd = -1;
#ifdef HAVE_ACCEPT4
	fd = accept4(evconnlistener_get_fd(lg->lg_listener), NULL, NULL,
	    SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
	if ((fd = accept(evconnlistener_get_fd(lg->lg_listener), NULL,
	    NULL)) != -1 && (util_socket_nonblock(fd) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1)) {
		close(fd);
		fd = -1;
	}
#endif
	if (fd != -1) {
		lg->lg_shed_count++;
		lg->lg_shed(fd, lg->lg_arg);	/* closes fd */
	}
	listen_reserve();
}

static void
listen_timer(evutil_socket_t fd, short ev, void *arg)
{
	struct listen_guard	*lg = arg;

	lg->lg_paused = 0;
	evconnlistener_enable(lg->lg_listener);
}
