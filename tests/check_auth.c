/*
 * check_auth.c -- unit tests for what guards authentication: the
 * registry lookups of a token a peer presents (registry.c), raw or as a
 * URL-query SHA-256, and the pools of unauthenticated connections with
 * their caps (preauth.c).
 */
#include "config.h"

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

const check_suite_fn check_suites[] = { registry_suite, preauth_suite,
    NULL };
