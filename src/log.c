/*
 * log.c -- OpenBSD-style logging: stderr in the foreground, syslog when
 * daemonised.  Every line carries the process name set by log_procinit().
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "linksocks.h"

static int	 log_debug_level;	/* 0 info, 1 debug, 2 trace */
static int	 log_use_syslog;
static char	 log_procname[32] = "linksocks";

void
log_init(int level, int use_syslog)
{
	log_debug_level = level;
	log_use_syslog = use_syslog;
	if (use_syslog)
		openlog("linksocks", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	tzset();
}

void
log_procinit(const char *name)
{
	if (name != NULL)
		snprintf(log_procname, sizeof(log_procname), "%s", name);
}

void
log_setverbose(int v)
{
	log_debug_level = v;
}

int
log_getverbose(void)
{
	return (log_debug_level);
}

static const char *
log_levelname(int pri)
{
	switch (pri) {
	case LOG_CRIT:		return ("FTL");
	case LOG_ERR:		return ("ERR");
	case LOG_WARNING:	return ("WRN");
	case LOG_INFO:		return ("INF");
	case LOG_DEBUG:		return ("DBG");
	default:		return ("TRC");
	}
}

void
vlog(int pri, const char *fmt, va_list ap)
{
	char		 msg[2048];
	char		 ts[32];
	struct timespec	 now;
	struct tm	 tm;
	int		 saved_errno = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_use_syslog) {
		syslog(pri > LOG_DEBUG ? LOG_DEBUG : pri, "%s: %s",
		    log_procname, msg);
	} else {
		clock_gettime(CLOCK_REALTIME, &now);
		localtime_r(&now.tv_sec, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ld %s %s: %s\n", ts,
		    now.tv_nsec / 1000000, log_levelname(pri), log_procname,
		    msg);
		fflush(stderr);
	}
	errno = saved_errno;
}

static void
logit(int pri, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(pri, fmt, ap);
	va_end(ap);
}

static void
vwarn_errno(int pri, const char *fmt, va_list ap)
{
	char	 buf[1024];
	int	 saved_errno = errno;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	logit(pri, "%s: %s", buf, strerror(saved_errno));
	errno = saved_errno;
}

void
log_warn(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vwarn_errno(LOG_ERR, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_ERR, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	if (log_debug_level < 1)
		return;
	va_start(ap, fmt);
	vlog(LOG_DEBUG, fmt, ap);
	va_end(ap);
}

void
log_trace(const char *fmt, ...)
{
	va_list	ap;

	if (log_debug_level < 2)
		return;
	va_start(ap, fmt);
	vlog(LOG_DEBUG + 1, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vwarn_errno(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}

const char *
log_str(const uint8_t *p, size_t len)
{
	static char	 buf[4 * 256 + 1];
	size_t		 i, o = 0;

	for (i = 0; i < len && o + 5 < sizeof(buf); i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
			buf[o++] = (char)p[i];
		else
			o += (size_t)snprintf(buf + o, sizeof(buf) - o,
			    "\\x%02x", p[i]);
	}
	buf[o] = '\0';
	return (buf);
}

const char *
log_id(const uint8_t *id)
{
	static char	 buf[4][9];
	static int	 n;
	char		*b = buf[n++ & 3];

	snprintf(b, 9, "%02x%02x%02x%02x", id[0], id[1], id[2], id[3]);
	return (b);
}
