/*
 * limits.c -- a token's limits in this worker: how many tunnels and
 * channels of it are open here, and the libevent rate-limit group its
 * channels' sockets share (one group per limited token, made when its
 * first rated channel starts, freed with the last reference).
 *
 * Every worker enforces a token's full limits for what it holds; the
 * master places the tunnels of a limited token on one worker when it
 * can (placement.c), which makes them exact.
 *
 * The socket that is rated is the one this process has for the
 * channel: the target's on the dial side of a forward token (its read
 * is the download, its write the upload), the application's on the
 * SOCKS side of a reverse token (read: upload, write: download).
 * Agent-mode relays have no socket here and are only counted.
 *
 * A rate only slows a socket down: libevent stops reading it, or
 * writes less of its output at a time.  What is not written yet stays
 * in the output buffer, which the data path's credit (or its pause
 * mark) bounds, so nothing is dropped (doc/data-path.md).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>

#include "linksocks.h"

#define LIMITS_TICK_MSEC	100		/* refill step */
#define LIMITS_BURST_MIN	(64 * 1024)	/* bytes */
#define LIMITS_FLUSH_MAX	86400		/* seconds added to a flush */

static void			 limits_unref(struct token_use *);
static struct ev_token_bucket_cfg *limits_cfg(const struct token_use *);
static void			 limits_rate_of(uint64_t, size_t *, size_t *);

struct token_use *
limits_use(struct token *tk)
{
	struct token_use	*tu;

	if (tk->tk_use != NULL)
		return (tk->tk_use);
	if ((tu = calloc(1, sizeof(*tu))) == NULL)
		return (NULL);
	tu->tu_refs = 1;	/* the token's */
	tu->tu_kind = tk->tk_kind;
	tu->tu_limits = tk->tk_limits;
	tk->tk_use = tu;
	return (tu);
}

static void
limits_unref(struct token_use *tu)
{
	if (--tu->tu_refs > 0)
		return;
	/* Every member left before its socket went (limits_channel_unrate). */
	if (tu->tu_group != NULL)
		bufferevent_rate_limit_group_free(tu->tu_group);
	free(tu);
}

/*
 * One direction: a rate per tick of LIMITS_TICK_MSEC and a burst of a
 * quarter second's worth, at least 64 KiB and two ticks' worth (a
 * bucket that a tick fills to the brim loses what a busy moment did not
 * take, and the rate would fall short of the limit); 0 is no limit.
 */
static void
limits_rate_of(uint64_t rate, size_t *per_tick, size_t *burst)
{
	uint64_t	t, b;

	if (rate == 0 || rate > (uint64_t)EV_RATE_LIMIT_MAX / 2) {
		*per_tick = *burst = EV_RATE_LIMIT_MAX;
		return;
	}
	t = (rate * LIMITS_TICK_MSEC + 999) / 1000;
	b = rate / 4;
	if (b < LIMITS_BURST_MIN)
		b = LIMITS_BURST_MIN;
	if (b < 2 * t)
		b = 2 * t;
	*per_tick = (size_t)t;
	*burst = (size_t)b;
}

static struct ev_token_bucket_cfg *
limits_cfg(const struct token_use *tu)
{
	struct timeval	tick = { 0, LIMITS_TICK_MSEC * 1000 };
	size_t		ur, ub, dr, db;

	limits_rate_of(tu->tu_limits.tl_upload, &ur, &ub);
	limits_rate_of(tu->tu_limits.tl_download, &dr, &db);
	if (tu->tu_kind == TOK_REVERSE)		/* the application's socket */
		return (ev_token_bucket_cfg_new(ur, ub, dr, db, &tick));
	return (ev_token_bucket_cfg_new(dr, db, ur, ub, &tick));	/* target */
}

int
limits_tunnel_take(struct token *tk, struct token_use **out)
{
	struct token_use	*tu;

	*out = NULL;
	if ((tu = limits_use(tk)) == NULL)
		return (0);		/* no memory to count: no limit */
	if (tu->tu_limits.tl_max_tunnels != 0 &&
	    tu->tu_tunnels >= tu->tu_limits.tl_max_tunnels)
		return (-1);
	tu->tu_tunnels++;
	tu->tu_refs++;
	*out = tu;
	return (0);
}

void
limits_tunnel_drop(struct token_use *tu)
{
	if (tu == NULL)
		return;
	tu->tu_tunnels--;
	limits_unref(tu);
}

int
limits_channel_full(const struct token_use *tu)
{
	return (tu != NULL && tu->tu_limits.tl_max_channels != 0 &&
	    tu->tu_channels >= tu->tu_limits.tl_max_channels);
}

int
limits_channel_take(struct channel *ch, struct token_use *tu)
{
	if (tu == NULL || ch->ch_use != NULL)
		return (0);
	if (tu->tu_limits.tl_max_channels != 0 &&
	    tu->tu_channels >= tu->tu_limits.tl_max_channels)
		return (-1);
	tu->tu_channels++;
	tu->tu_refs++;
	ch->ch_use = tu;
	return (0);
}

void
limits_channel_rate(struct channel *ch)
{
	struct token_use		*tu = ch->ch_use;
	struct ev_token_bucket_cfg	*cfg;

	if (tu == NULL || ch->ch_rated || ch->ch_bev == NULL ||
	    tu->tu_kind == TOK_CONNECTOR ||
	    (tu->tu_limits.tl_upload == 0 && tu->tu_limits.tl_download == 0 &&
	    tu->tu_group == NULL))
		return;
	if (tu->tu_group == NULL) {
		if ((cfg = limits_cfg(tu)) == NULL)
			return;
		tu->tu_group = bufferevent_rate_limit_group_new(
		    ls_worker->w_base, cfg);
		ev_token_bucket_cfg_free(cfg);
		if (tu->tu_group == NULL) {
			log_warnx("%s: cannot make a rate-limit group",
			    __func__);
			return;
		}
	}
	if (bufferevent_add_to_rate_limit_group(ch->ch_bev, tu->tu_group) ==
	    -1)
		return;
	ch->ch_rated = 1;
	tu->tu_members++;
}

void
limits_channel_unrate(struct channel *ch)
{
	if (!ch->ch_rated)
		return;
	if (ch->ch_bev != NULL)
		bufferevent_remove_from_rate_limit_group(ch->ch_bev);
	ch->ch_rated = 0;
	ch->ch_use->tu_members--;
}

void
limits_channel_drop(struct channel *ch)
{
	struct token_use	*tu = ch->ch_use;

	if (tu == NULL)
		return;
	limits_channel_unrate(ch);
	ch->ch_use = NULL;
	tu->tu_channels--;
	limits_unref(tu);
}

int
limits_write_secs(const struct channel *ch, size_t len)
{
	uint64_t	rate, s;

	if (!ch->ch_rated)
		return (0);
	rate = ch->ch_use->tu_kind == TOK_REVERSE ?
	    ch->ch_use->tu_limits.tl_download : ch->ch_use->tu_limits.tl_upload;
	if (rate == 0)
		return (0);
	s = (uint64_t)len / rate + 1;
	return (s > LIMITS_FLUSH_MAX ? LIMITS_FLUSH_MAX : (int)s);
}

size_t
limits_read_max(struct channel *ch, size_t want)
{
	ev_ssize_t	n;

	if (!ch->ch_rated)
		return (want);
	if ((n = bufferevent_get_max_to_read(ch->ch_bev)) <= 0)
		return (0);
	return ((size_t)n < want ? (size_t)n : want);
}

void
limits_read_done(struct channel *ch, size_t n)
{
	if (ch->ch_rated && n > 0)
		(void)bufferevent_rate_limit_group_decrement_read(
		    ch->ch_use->tu_group, (ev_ssize_t)n);
}

void
limits_update(struct token *tk)
{
	struct token_use		*tu = tk->tk_use;
	struct ev_token_bucket_cfg	*cfg;

	if (tu == NULL)
		return;
	tu->tu_limits = tk->tk_limits;
	if (tu->tu_group == NULL || (cfg = limits_cfg(tu)) == NULL)
		return;
	if (bufferevent_rate_limit_group_set_cfg(tu->tu_group, cfg) == -1)
		log_warnx("%s: cannot change a rate", __func__);
	ev_token_bucket_cfg_free(cfg);
}

void
limits_token_gone(struct token *tk)
{
	struct token_use	*tu = tk->tk_use;

	if (tu == NULL)
		return;
	tk->tk_use = NULL;
	limits_unref(tu);
}
