/*
 * check_auth.c -- unit tests for what decides an authentication: the
 * registry lookups of a token a peer presents (registry.c), raw or as a
 * URL-query SHA-256.
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

const check_suite_fn check_suites[] = { registry_suite, NULL };
