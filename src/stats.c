/*
 * stats.c -- this process's counters for the metrics: plain integers
 * that the data path adds to (no lock, no system call; each process has
 * its own), and a small table of per-token counters.  A worker sends a
 * copy to the master now and then and when asked (worker.c), and the
 * master renders them (metrics.c).
 *
 * The token table has LS_METRICS_TOKENS slots, given to tokens in the
 * order this process first counts them, and one more, "other", for the
 * rest: the number of series stays bounded whatever the number of
 * tokens.  A token is known by the first LS_METRICS_HASHLEN hex digits
 * of its SHA-256, never in clear.  A slot is never given back, so its
 * counters only grow.  Pure: nothing is logged.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "linksocks.h"

uint64_t		 stats_v[ST_MAX];

static struct stats_token stats_tok[LS_METRICS_TOKENS + 1];
static unsigned		 stats_ntok;		/* labelled slots used */
static int		 stats_other_used;

/*
 * The slot for a token given by its hex SHA-256 (at least
 * LS_METRICS_HASHLEN digits): its own while there is room, else "other".
 */
struct stats_token *
stats_token(const char *hexhash)
{
	struct stats_token	*st;
	unsigned		 i;

	for (i = 0; i < stats_ntok; i++)
		if (strncmp(stats_tok[i].st_label, hexhash,
		    LS_METRICS_HASHLEN) == 0)
			return (&stats_tok[i]);
	if (stats_ntok < LS_METRICS_TOKENS && strlen(hexhash) >=
	    LS_METRICS_HASHLEN) {
		st = &stats_tok[stats_ntok++];
		memset(st, 0, sizeof(*st));
		memcpy(st->st_label, hexhash, LS_METRICS_HASHLEN);
		st->st_label[LS_METRICS_HASHLEN] = '\0';
		return (st);
	}
	st = &stats_tok[LS_METRICS_TOKENS];
	if (!stats_other_used) {
		stats_other_used = 1;
		memset(st, 0, sizeof(*st));
		snprintf(st->st_label, sizeof(st->st_label), "%s",
		    LS_METRICS_OTHER);
	}
	return (st);
}

/*
 * The slots in use, "other" last if it is: copied to out (room for
 * LS_METRICS_TOKENS + 1); returns how many.
 */
unsigned
stats_tokens(struct stats_token *out)
{
	unsigned	n = stats_ntok;

	memcpy(out, stats_tok, n * sizeof(*out));
	if (stats_other_used)
		out[n++] = stats_tok[LS_METRICS_TOKENS];
	return (n);
}

/* Forget everything (tests). */
void
stats_reset(void)
{
	memset(stats_v, 0, sizeof(stats_v));
	memset(stats_tok, 0, sizeof(stats_tok));
	stats_ntok = 0;
	stats_other_used = 0;
}
