/*
 * log.c -- OpenBSD-style logging: stderr in the foreground, syslog when
 * daemonised.  Every line carries the process name set by log_procinit().
 * A line is one line: what a peer sent is escaped by the caller
 * (log_str), and vlog escapes any control byte that still got through.
 * Warnings a peer can repeat at will go through log_ratelimit.
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

#define LOG_STR_BUFS	4	/* log_str results usable in one call */

int		 log_debug_level;	/* 0 info, 1 debug, 2 trace */
static int	 log_use_syslog;
static char	 log_procname[32] = "linksocks";
static struct log_rl *log_rl_held;	/* rate limits holding a count */
static void	(*log_rl_hook)(void);

static void	 log_sanitise(char *, size_t);
static double	 log_now(void);
static void	 log_at(enum log_level, const char *, ...) LS_PRINTF(2, 3);

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

/*
 * Control bytes a caller forgot to escape become \xNN in place, as far
 * as the buffer allows: no line is ever split or coloured by a peer.
 */
static void
log_sanitise(char *msg, size_t size)
{
	static const char	 hex[] = "0123456789abcdef";
	size_t			 len = strlen(msg), i, n = 0;
	unsigned char		 c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)msg[i];
		if (c < 0x20 || c == 0x7f)
			n++;
	}
	if (n == 0)
		return;
	/* Make room for three more bytes per control byte, from the end. */
	while (len + 3 * n >= size) {
		c = (unsigned char)msg[--len];
		if (c < 0x20 || c == 0x7f)
			n--;
		msg[len] = '\0';
	}
	msg[len + 3 * n] = '\0';
	for (i = len; i-- > 0;) {
		c = (unsigned char)msg[i];
		if (c >= 0x20 && c != 0x7f) {
			msg[i + 3 * n] = (char)c;
			continue;
		}
		n--;
		msg[i + 3 * n] = '\\';
		msg[i + 3 * n + 1] = 'x';
		msg[i + 3 * n + 2] = hex[c >> 4];
		msg[i + 3 * n + 3] = hex[c & 15];
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
	log_sanitise(msg, sizeof(msg));
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
(log_debug)(const char *fmt, ...)
{
	va_list	ap;

	if (log_debug_level < 1)
		return;
	va_start(ap, fmt);
	vlog(LOG_DEBUG, fmt, ap);
	va_end(ap);
}

void
(log_trace)(const char *fmt, ...)
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

/*
 * Bytes as printable ASCII, anything else (and the backslash) as \xNN,
 * cut at 512 input bytes.  LOG_STR_BUFS static buffers in turn, so one
 * log call may print that many peer strings.
 */
const char *
log_str(const uint8_t *p, size_t len)
{
	static char	 bufs[LOG_STR_BUFS][4 * 512 + 1];
	static unsigned	 next;
	char		*buf = bufs[next++ % LOG_STR_BUFS];
	size_t		 i, o = 0, size = sizeof(bufs[0]);

	if (p == NULL)
		len = 0;
	for (i = 0; i < len && o + 5 < size; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
			buf[o++] = (char)p[i];
		else
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x",
			    p[i]);
	}
	buf[o] = '\0';
	return (buf);
}

/* log_str of a C string; NULL prints as "". */
const char *
log_strz(const char *s)
{
	return (log_str((const uint8_t *)s, s != NULL ? strlen(s) : 0));
}

/*
 * A token or key in a line above debug level: never its text, only how
 * long it is.  The text itself may go to a log_debug line.
 */
const char *
log_secret(const char *s)
{
	static char	 bufs[LOG_STR_BUFS][48];
	static unsigned	 next;
	char		*buf = bufs[next++ % LOG_STR_BUFS];

	snprintf(buf, sizeof(bufs[0]), "(hidden, %zu characters)",
	    s != NULL ? strlen(s) : 0);
	return (buf);
}

static double
log_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

static void
log_at(enum log_level lv, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	switch (lv) {
	case LL_WARN:
	case LL_WARNX:
		vlog(LOG_ERR, fmt, ap);
		break;
	case LL_INFO:
		vlog(LOG_INFO, fmt, ap);
		break;
	case LL_DEBUG:
		if (log_debug_level >= 1)
			vlog(LOG_DEBUG, fmt, ap);
		break;
	}
	va_end(ap);
}

/*
 * At most one line per rl_interval seconds for one kind of event.  The
 * ones in between are counted, and the next line that goes out says how
 * many ("(N more)"); when no further event comes, log_rl_flush_all (run
 * by the process from a timer that the hook arms) prints the count on
 * its own.  LL_WARN appends errno as log_warn does.  Returns 1 if the
 * line was written, 0 if it was only counted.
 */
int
log_ratelimit(struct log_rl *rl, enum log_level lv, const char *fmt, ...)
{
	char	 msg[1024];
	va_list	 ap;
	double	 now = log_now();
	int	 saved_errno = errno;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (lv == LL_WARN) {
		size_t	len = strlen(msg);

		snprintf(msg + len, sizeof(msg) - len, ": %s",
		    strerror(saved_errno));
	}
	if (rl->rl_logged && now - rl->rl_last < rl->rl_interval) {
		rl->rl_more++;
		rl->rl_level = lv;
		snprintf(rl->rl_msg, sizeof(rl->rl_msg), "%s", msg);
		if (!rl->rl_held) {
			rl->rl_held = 1;
			rl->rl_next = log_rl_held;
			log_rl_held = rl;
			if (log_rl_hook != NULL)
				log_rl_hook();
		}
		errno = saved_errno;
		return (0);
	}
	if (rl->rl_more > 0)
		log_at(lv, "%s (%lu more)", msg, rl->rl_more);
	else
		log_at(lv, "%s", msg);
	rl->rl_logged = 1;
	rl->rl_last = now;
	rl->rl_more = 0;
	errno = saved_errno;
	return (1);
}

/*
 * The count of what log_ratelimit held back, once its interval passed:
 * the last such line with "(N more)" (N counts it too).  Returns 1 if
 * some are still held back (call again later), 0 if none are.
 */
int
log_rl_flush(struct log_rl *rl)
{
	if (rl->rl_more == 0)
		return (0);
	if (log_now() - rl->rl_last < rl->rl_interval)
		return (1);
	log_at(rl->rl_level, "%s (%lu more)", rl->rl_msg, rl->rl_more);
	rl->rl_last = log_now();
	rl->rl_more = 0;
	return (0);
}

/*
 * The process's hook, called when a rate limit starts holding a count:
 * it arms a timer that calls log_rl_flush_all.  Setting it (a new
 * process) forgets what the parent held.
 */
void
log_rl_sethook(void (*hook)(void))
{
	log_rl_hook = hook;
	log_rl_held = NULL;
}

/* Flush every held count that may go out; 1 if some must wait more. */
int
log_rl_flush_all(void)
{
	struct log_rl	**p = &log_rl_held, *rl;
	int		  waiting = 0;

	while ((rl = *p) != NULL) {
		if (log_rl_flush(rl)) {
			waiting = 1;
			p = &rl->rl_next;
			continue;
		}
		rl->rl_held = 0;
		*p = rl->rl_next;
	}
	return (waiting);
}

/* A rate limit about to be freed: its count now, off the list. */
void
log_rl_done(struct log_rl *rl)
{
	struct log_rl	**p;

	if (rl->rl_more > 0) {
		log_at(rl->rl_level, "%s (%lu more)", rl->rl_msg,
		    rl->rl_more);
		rl->rl_more = 0;
	}
	for (p = &log_rl_held; *p != NULL; p = &(*p)->rl_next)
		if (*p == rl) {
			*p = rl->rl_next;
			break;
		}
	rl->rl_held = 0;
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
