/*
 * check_auth.c -- unit tests for what guards authentication: the
 * registry lookups of a token a peer presents (registry.c), raw or as a
 * URL-query SHA-256, the pools of unauthenticated connections with
 * their caps (preauth.c) and the failed-authentication throttle
 * (throttle.c), with time as an argument.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "linksocks.h"
#include "lib/check_main.h"

/* A string literal with its length. */
#define B(s)		(const uint8_t *)(s), (sizeof(s) - 1)

static struct token	*fwd, *rev;

static void
registry_setup(void)
{
	char	err[256];

	fwd = registry_add(TOK_FORWARD, "forward-secret", NULL, err,
	    sizeof(err));
	ck_assert_ptr_nonnull(fwd);
	rev = registry_add(TOK_FORWARD, "other-secret", NULL, err,
	    sizeof(err));
	ck_assert_ptr_nonnull(rev);
}

static void
registry_teardown(void)
{
	registry_remove(fwd);
	registry_remove(rev);
}

START_TEST(test_auth_raw)
{
	ck_assert_ptr_eq(registry_auth(B("forward-secret")), fwd);
	ck_assert_ptr_eq(registry_auth(B("other-secret")), rev);
	ck_assert_ptr_null(registry_auth(B("forward-secre")));
	ck_assert_ptr_null(registry_auth(B("forward-secretx")));
	ck_assert_ptr_null(registry_auth(B("Forward-secret")));
	ck_assert_ptr_null(registry_auth(B("")));
	/* Only the bytes given count: no terminator is looked for. */
	ck_assert_ptr_eq(registry_auth((const uint8_t *)"other-secretXYZ",
	    12), rev);
}
END_TEST

START_TEST(test_auth_hash)
{
	char	hex[65], up[65];
	size_t	i;

	url_sha256_hex("forward-secret", 14, hex);
	ck_assert_ptr_eq(registry_find_hash(hex), fwd);
	url_sha256_hex("other-secret", 12, hex);
	ck_assert_ptr_eq(registry_find_hash(hex), rev);
	/* Spec 6.2: exact lower-case hex only. */
	for (i = 0; i < sizeof(hex); i++)
		up[i] = hex[i] >= 'a' && hex[i] <= 'f' ?
		    (char)(hex[i] - 'a' + 'A') : hex[i];
	ck_assert_str_ne(up, hex);
	ck_assert_ptr_null(registry_find_hash(up));
	hex[63] = '\0';
	ck_assert_ptr_null(registry_find_hash(hex));
	ck_assert_ptr_null(registry_find_hash(""));
	ck_assert_ptr_null(registry_find_hash("zz"
	    "00000000000000000000000000000000000000000000000000000000000000"));
	url_sha256_hex("nothing", 7, hex);
	ck_assert_ptr_null(registry_find_hash(hex));
}
END_TEST

START_TEST(test_sha256)
{
	uint8_t	d[LS_SHA256_LEN];
	char	hex[65];
	size_t	i;

	url_sha256("abc", 3, d);
	url_sha256_hex("abc", 3, hex);
	ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
	for (i = 0; i < sizeof(d); i++)
		ck_assert_int_eq(d[i], util_hexval(hex[2 * i]) << 4 |
		    util_hexval(hex[2 * i + 1]));
}
END_TEST

static Suite *
registry_suite(void)
{
	Suite	*s = suite_create("registry");
	TCase	*tc;

	tc = tcase_create("lookup");
	tcase_add_checked_fixture(tc, registry_setup, registry_teardown);
	tcase_add_test(tc, test_auth_raw);
	tcase_add_test(tc, test_auth_hash);
	tcase_add_test(tc, test_sha256);
	suite_add_tcase(s, tc);
	return (s);
}

/* ---- preauth.c ---------------------------------------------------- */

#define NCONN	8

struct fake_conn {
	struct preauth	 fc_pa;
	int		 fc_dropped;
	int		 fc_order;
};

static struct fake_conn	 conns[NCONN];
static int		 ndropped;

static void
fake_drop(struct preauth *pa, void *arg)
{
	struct fake_conn	*fc = arg;

	ck_assert_ptr_eq(&fc->fc_pa, pa);
	/* Off the list already: the owner's teardown finds it gone. */
	ck_assert_ptr_null(pa->pa_pool);
	fc->fc_dropped = 1;
	fc->fc_order = ++ndropped;
	preauth_remove(pa);
}

static void
preauth_setup(void)
{
	memset(conns, 0, sizeof(conns));
	ndropped = 0;
}

START_TEST(test_preauth_count)
{
	struct preauth_pool	 pp = PREAUTH_POOL_INITIALIZER(pp, "test", 3,
				    0);
	int			 i;

	for (i = 0; i < 3; i++)
		preauth_add(&pp, &conns[i].fc_pa, fake_drop, &conns[i]);
	ck_assert_uint_eq(pp.pp_count, 3);
	ck_assert_int_eq(ndropped, 0);
	/* At the cap: the oldest goes, then the next oldest. */
	preauth_add(&pp, &conns[3].fc_pa, fake_drop, &conns[3]);
	ck_assert_int_eq(conns[0].fc_order, 1);
	preauth_add(&pp, &conns[4].fc_pa, fake_drop, &conns[4]);
	ck_assert_int_eq(conns[1].fc_order, 2);
	ck_assert_uint_eq(pp.pp_count, 3);
	ck_assert_uint_eq(pp.pp_total, 2);
	/* One authenticates: room again, nobody dropped. */
	preauth_remove(&conns[3].fc_pa);
	preauth_remove(&conns[3].fc_pa);	/* twice is harmless */
	preauth_add(&pp, &conns[5].fc_pa, fake_drop, &conns[5]);
	ck_assert_int_eq(ndropped, 2);
	ck_assert_uint_eq(pp.pp_count, 3);
	for (i = 0; i < NCONN; i++)
		preauth_remove(&conns[i].fc_pa);
	ck_assert_uint_eq(pp.pp_count, 0);
	ck_assert(TAILQ_EMPTY(&pp.pp_list));
}
END_TEST

START_TEST(test_preauth_bytes)
{
	struct preauth_pool	 pp = PREAUTH_POOL_INITIALIZER(pp, "test", 10,
				    1000);
	int			 i;

	for (i = 0; i < 4; i++)
		preauth_add(&pp, &conns[i].fc_pa, fake_drop, &conns[i]);
	ck_assert_int_eq(preauth_set_bytes(&conns[1].fc_pa, 400), 0);
	ck_assert_int_eq(preauth_set_bytes(&conns[2].fc_pa, 500), 0);
	ck_assert_uint_eq(pp.pp_bytes, 900);
	/* Over 1000: the oldest go until under, whoever grew. */
	ck_assert_int_eq(preauth_set_bytes(&conns[3].fc_pa, 300), 0);
	ck_assert_int_eq(conns[0].fc_order, 1);
	ck_assert_int_eq(conns[1].fc_order, 2);
	ck_assert(!conns[2].fc_dropped);
	ck_assert_uint_eq(pp.pp_bytes, 800);
	/* Shrinking is counted too. */
	ck_assert_int_eq(preauth_set_bytes(&conns[2].fc_pa, 100), 0);
	ck_assert_uint_eq(pp.pp_bytes, 400);
	/* The oldest itself over the cap: it is the one dropped. */
	ck_assert_int_eq(preauth_set_bytes(&conns[2].fc_pa, 2000), -1);
	ck_assert(conns[2].fc_dropped);
	ck_assert_uint_eq(pp.pp_bytes, 300);
	ck_assert_uint_eq(pp.pp_count, 1);
	preauth_remove(&conns[3].fc_pa);
	ck_assert_uint_eq(pp.pp_bytes, 0);
	/* Not counted (removed): no effect. */
	ck_assert_int_eq(preauth_set_bytes(&conns[3].fc_pa, 5000), 0);
	ck_assert_uint_eq(pp.pp_bytes, 0);
}
END_TEST

static Suite *
preauth_suite(void)
{
	Suite	*s = suite_create("preauth");
	TCase	*tc;

	tc = tcase_create("pool");
	tcase_add_checked_fixture(tc, preauth_setup, NULL);
	tcase_add_test(tc, test_preauth_count);
	tcase_add_test(tc, test_preauth_bytes);
	suite_add_tcase(s, tc);
	return (s);
}

/* ---- throttle.c ----------------------------------------------------- */

static struct sockaddr_storage	 ss4, ss4b, ss6, ss6b, ss6c, ssm;

static const struct sockaddr *
sa4(struct sockaddr_storage *ss, const char *a)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(1234);
	ck_assert_int_eq(inet_pton(AF_INET, a, &sin->sin_addr), 1);
	return ((struct sockaddr *)ss);
}

static const struct sockaddr *
sa6(struct sockaddr_storage *ss, const char *a)
{
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(4321);
	ck_assert_int_eq(inet_pton(AF_INET6, a, &sin6->sin6_addr), 1);
	return ((struct sockaddr *)ss);
}

#define A4	((const struct sockaddr *)&ss4)
#define B4	((const struct sockaddr *)&ss4b)

static void
throttle_setup(void)
{
	throttle_reset();
	sa4(&ss4, "192.0.2.7");
	sa4(&ss4b, "192.0.2.8");
	sa6(&ss6, "2001:db8:1:2::1");
	sa6(&ss6b, "2001:db8:1:2:ffff::9");	/* same /64 */
	sa6(&ss6c, "2001:db8:1:3::1");		/* next /64 */
	sa6(&ssm, "::ffff:192.0.2.7");		/* A4, mapped */
}

START_TEST(test_throttle_delays)
{
	static const double	 want[] = { 0, 0, 0, 0, 0.2, 0.4, 0.8, 1.6,
				    3.2, 5, 5, 5, 5 };
	size_t			 n;

	for (n = 0; n < LS_NITEMS(want); n++)
		ck_assert_double_eq_tol(throttle_delay((unsigned)n), want[n],
		    1e-9);
	ck_assert_double_eq_tol(throttle_delay(1000), 5, 1e-9);
}
END_TEST

/*
 * A client that waits for each answer: the delays double from the 4th
 * failure, and stay near the 5 s cap (a failure is forgotten every 6 s,
 * one comes every 5 s).
 */
START_TEST(test_throttle_sequential)
{
	double		 now = 1000, d, total = 0;
	unsigned	 n, i;

	for (i = 1; i <= 20; i++) {
		d = throttle_fail(A4, now, &n);
		if (i <= 8)	/* less than 6 s so far: nothing forgotten */
			ck_assert_uint_eq(n, i);
		ck_assert_double_eq_tol(d, throttle_delay(n), 1e-9);
		if (i > 8)
			ck_assert_double_ge(d, 3.2);
		if (i > 12)
			ck_assert_double_eq_tol(d, 5, 1e-9);
		now += d + 0.001;
		total += d;
	}
	/* 20 tries: 0.2 + 0.4 + 0.8 + 1.6 + 3.2 and then about 5 s each. */
	ck_assert_double_ge(total, 60);
	/* Another address is not delayed. */
	ck_assert_double_eq_tol(throttle_fail(B4, now, NULL), 0, 1e-9);
}
END_TEST

/* Parallel attempts gain nothing: the answers go one after another. */
START_TEST(test_throttle_parallel)
{
	double		 now = 50, d;
	unsigned	 i;

	for (i = 0; i < LS_THROTTLE_FREE; i++)
		ck_assert_double_eq_tol(throttle_fail(A4, now, NULL), 0, 1e-9);
	d = throttle_fail(A4, now, NULL);
	ck_assert_double_eq_tol(d, 0.2, 1e-9);
	d = throttle_fail(A4, now, NULL);
	ck_assert_double_eq_tol(d, 0.2 + 0.4, 1e-9);
	d = throttle_fail(A4, now, NULL);
	ck_assert_double_eq_tol(d, 0.2 + 0.4 + 0.8, 1e-9);
	/* Many more: they queue, but never further than a minute. */
	for (i = 0; i < 100; i++)
		d = throttle_fail(A4, now, NULL);
	ck_assert_double_le(d, 60.0);
	ck_assert_double_ge(d, 59.0);
}
END_TEST

START_TEST(test_throttle_success)
{
	unsigned	i;

	for (i = 0; i < 8; i++)
		(void)throttle_fail(A4, 10, NULL);
	ck_assert_uint_eq(throttle_failures(A4, 10), 8);
	throttle_success(A4);
	ck_assert_uint_eq(throttle_failures(A4, 10), 0);
	ck_assert_double_eq_tol(throttle_fail(A4, 10, NULL), 0, 1e-9);
	/* A success from an address never seen: nothing happens. */
	throttle_success(B4);
	ck_assert_uint_eq(throttle_failures(B4, 10), 0);
}
END_TEST

START_TEST(test_throttle_decay)
{
	unsigned	i;

	for (i = 0; i < 20; i++)
		(void)throttle_fail(A4, 100, NULL);
	ck_assert_uint_eq(throttle_failures(A4, 100), LS_THROTTLE_CAP);
	ck_assert_uint_eq(throttle_failures(A4, 100 + LS_THROTTLE_FORGET -
	    0.01), LS_THROTTLE_CAP);
	ck_assert_uint_eq(throttle_failures(A4, 100 + LS_THROTTLE_FORGET),
	    LS_THROTTLE_CAP - 1);
	ck_assert_uint_eq(throttle_failures(A4, 100 + 3 * LS_THROTTLE_FORGET),
	    LS_THROTTLE_CAP - 3);
	/* The largest count is gone within a minute. */
	ck_assert_uint_eq(throttle_failures(A4, 160), 0);
	ck_assert_double_eq_tol(throttle_fail(A4, 160, NULL), 0, 1e-9);
}
END_TEST

START_TEST(test_throttle_addresses)
{
	unsigned	i;

	for (i = 0; i < 5; i++)
		(void)throttle_fail((struct sockaddr *)&ss6, 1, NULL);
	/* One /64 is one address; the next /64 is another. */
	ck_assert_uint_eq(throttle_failures((struct sockaddr *)&ss6b, 1), 5);
	ck_assert_uint_eq(throttle_failures((struct sockaddr *)&ss6c, 1), 0);
	/* An IPv4-mapped IPv6 address is the IPv4 address, all of it. */
	(void)throttle_fail(A4, 1, NULL);
	ck_assert_uint_eq(throttle_failures((struct sockaddr *)&ssm, 1), 1);
	ck_assert_uint_eq(throttle_failures(B4, 1), 0);
}
END_TEST

/* Fixed memory: many addresses evict the least recently seen. */
START_TEST(test_throttle_table)
{
	struct sockaddr_storage	 ss;
	char			 a[32];
	unsigned		 i;

	for (i = 0; i < 5; i++)
		(void)throttle_fail(A4, 1, NULL);
	/* A few others: A4's set (of 8) keeps it. */
	for (i = 0; i < 64; i++) {
		snprintf(a, sizeof(a), "10.0.%u.%u", i / 256, i % 256);
		(void)throttle_fail(sa4(&ss, a), 2, NULL);
	}
	ck_assert_uint_eq(throttle_failures(A4, 2), 5);
	/* Twenty times the table: A4, the oldest, is gone; the newest stay. */
	for (i = 0; i < 20 * LS_THROTTLE_SLOTS; i++) {
		snprintf(a, sizeof(a), "10.%u.%u.%u", i / 65536,
		    i / 256 % 256, i % 256);
		(void)throttle_fail(sa4(&ss, a), 3 + i * 1e-6, NULL);
	}
	ck_assert_uint_eq(throttle_failures(A4, 4), 0);
	ck_assert_uint_eq(throttle_failures(sa4(&ss, a), 4), 1);
}
END_TEST

static Suite *
throttle_suite(void)
{
	Suite	*s = suite_create("throttle");
	TCase	*tc;

	tc = tcase_create("throttle");
	tcase_add_checked_fixture(tc, throttle_setup, NULL);
	tcase_add_test(tc, test_throttle_delays);
	tcase_add_test(tc, test_throttle_sequential);
	tcase_add_test(tc, test_throttle_parallel);
	tcase_add_test(tc, test_throttle_success);
	tcase_add_test(tc, test_throttle_decay);
	tcase_add_test(tc, test_throttle_addresses);
	tcase_add_test(tc, test_throttle_table);
	suite_add_tcase(s, tc);
	return (s);
}

const check_suite_fn check_suites[] = { registry_suite, preauth_suite,
    throttle_suite, NULL };
