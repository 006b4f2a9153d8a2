/*
 * throttle.c -- failed authentications counted per source address, and
 * how long the answer to the next one waits.  The first LS_THROTTLE_FREE
 * failures from an address are answered at once; then each waits
 * LS_THROTTLE_BASE_MS * 2^(failures - LS_THROTTLE_FREE), at most
 * LS_THROTTLE_MAX_MS, and the answers to one address go out one after
 * the other, so parallel attempts gain nothing.  An address forgets one
 * failure every LS_THROTTLE_FORGET seconds, and a success clears it: a
 * client with the right token is never delayed.
 *
 * Memory is fixed: LS_THROTTLE_SLOTS entries in sets of THROTTLE_WAYS,
 * the set chosen by a keyed hash of the address (a random key per
 * process, so nobody can aim at a set), the least recently seen entry of
 * a set replaced.  IPv6 addresses count per /64, as one host usually has
 * the whole prefix.  Pure: time is an argument, nothing is logged.
 */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <string.h>

#include <openssl/evp.h>

#include "linksocks.h"

#define THROTTLE_WAYS		8
#define THROTTLE_SETS		(LS_THROTTLE_SLOTS / THROTTLE_WAYS)
/* Queued answers go no further than this into the future. */
#define THROTTLE_HORIZON	60.0

struct throttle_entry {
	uint8_t		 te_addr[16];	/* IPv4-mapped, or an IPv6 /64 */
	int		 te_used;
	unsigned	 te_fails;
	double		 te_seen;	/* last failure */
	double		 te_forget;	/* the count last lost one at */
	double		 te_next;	/* the last delayed answer goes at */
};

static struct throttle_entry	throttle_table[LS_THROTTLE_SLOTS];
static uint8_t			throttle_key[32];
static int			throttle_keyed;

static void	throttle_addr(const struct sockaddr *, uint8_t *);
static struct throttle_entry *throttle_lookup(const uint8_t *, int, double);
static void	throttle_decay(struct throttle_entry *, double);

/* The 16 bytes an address counts under. */
static void
throttle_addr(const struct sockaddr *sa, uint8_t *a)
{
	static const uint8_t	 v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0,
				    0, 0xff, 0xff };

	memset(a, 0, 16);
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET) {
		memcpy(a, v4mapped, sizeof(v4mapped));
		memcpy(a + 12, &((const struct sockaddr_in *)(const void *)
		    sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		memcpy(a, &((const struct sockaddr_in6 *)(const void *)
		    sa)->sin6_addr, 16);
		if (memcmp(a, v4mapped, sizeof(v4mapped)) != 0)
			memset(a + 8, 0, 8);	/* the /64 */
	}
}

static struct throttle_entry *
throttle_lookup(const uint8_t *a, int create, double now)
{
	struct throttle_entry	*set, *e, *old = NULL;
	uint8_t			 buf[sizeof(throttle_key) + 16];
	uint8_t			 md[EVP_MAX_MD_SIZE];
	unsigned int		 mdlen = 0;
	uint32_t		 h;
	int			 i;

	if (!throttle_keyed) {
		util_random(throttle_key, sizeof(throttle_key));
		throttle_keyed = 1;
	}
	memcpy(buf, throttle_key, sizeof(throttle_key));
	memcpy(buf + sizeof(throttle_key), a, 16);
	if (EVP_Digest(buf, sizeof(buf), md, &mdlen, EVP_sha256(), NULL) != 1)
		fatalx("%s: EVP_Digest failed", __func__);
	memcpy(&h, md, sizeof(h));
	set = &throttle_table[(h % THROTTLE_SETS) * THROTTLE_WAYS];
	for (i = 0; i < THROTTLE_WAYS; i++) {
		e = &set[i];
		if (e->te_used && memcmp(e->te_addr, a, 16) == 0)
			return (e);
		if (old == NULL || !e->te_used ||
		    (old->te_used && e->te_seen < old->te_seen))
			old = e;
	}
	if (!create)
		return (NULL);
	memset(old, 0, sizeof(*old));
	memcpy(old->te_addr, a, 16);
	old->te_used = 1;
	old->te_seen = old->te_forget = now;
	return (old);
}

/* One failure forgotten per LS_THROTTLE_FORGET seconds. */
static void
throttle_decay(struct throttle_entry *e, double now)
{
	unsigned	steps;

	if (e->te_fails == 0 || now <= e->te_forget) {
		if (e->te_fails == 0)
			e->te_forget = now;
		return;
	}
	steps = (unsigned)((now - e->te_forget) / LS_THROTTLE_FORGET);
	if (steps >= e->te_fails) {
		e->te_fails = 0;
		e->te_forget = now;
		return;
	}
	e->te_fails -= steps;
	e->te_forget += (double)steps * LS_THROTTLE_FORGET;
}

/* The wait before the answer to the n-th failure in a row, seconds. */
double
throttle_delay(unsigned n)
{
	double	d;

	if (n <= LS_THROTTLE_FREE)
		return (0);
	if (n - LS_THROTTLE_FREE >= 16)
		return (LS_THROTTLE_MAX_MS / 1000.0);
	d = LS_THROTTLE_BASE_MS / 1000.0 *
	    (double)(1u << (n - LS_THROTTLE_FREE));
	return (d < LS_THROTTLE_MAX_MS / 1000.0 ? d : LS_THROTTLE_MAX_MS /
	    1000.0);
}

/*
 * A failure from sa at now: returns in how many seconds its answer may
 * go (0: at once), and the failures counted in *fails (may be NULL).
 */
double
throttle_fail(const struct sockaddr *sa, double now, unsigned *fails)
{
	struct throttle_entry	*e;
	uint8_t			 a[16];
	double			 d, at;

	throttle_addr(sa, a);
	e = throttle_lookup(a, 1, now);
	throttle_decay(e, now);
	if (e->te_fails < LS_THROTTLE_CAP)
		e->te_fails++;
	e->te_seen = now;
	if (fails != NULL)
		*fails = e->te_fails;
	if ((d = throttle_delay(e->te_fails)) == 0)
		return (0);
	/* After the answers already waiting for this address. */
	at = (e->te_next > now ? e->te_next : now) + d;
	if (at > now + THROTTLE_HORIZON)
		at = now + THROTTLE_HORIZON;
	e->te_next = at;
	return (at - now);
}

/* A success from sa: its count is forgotten. */
void
throttle_success(const struct sockaddr *sa)
{
	struct throttle_entry	*e;
	uint8_t			 a[16];

	throttle_addr(sa, a);
	if ((e = throttle_lookup(a, 0, 0)) != NULL)
		memset(e, 0, sizeof(*e));
}

/* The failures sa has now (for tests and logs). */
unsigned
throttle_failures(const struct sockaddr *sa, double now)
{
	struct throttle_entry	*e;
	uint8_t			 a[16];

	throttle_addr(sa, a);
	if ((e = throttle_lookup(a, 0, now)) == NULL)
		return (0);
	throttle_decay(e, now);
	return (e->te_fails);
}

/* Forget everything (tests). */
void
throttle_reset(void)
{
	memset(throttle_table, 0, sizeof(throttle_table));
}
