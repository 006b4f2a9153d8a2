/*
 * check_api.c -- unit tests for the HTTP API's JSON half (src/api.c):
 * POST /api/token bodies with every field and every wrong type (the
 * error names the field), the reference's texts for a bad body and a
 * bad type, DELETE bodies, rule lists in the reference's JSON form and
 * the texts they become for rules.c, PUT /api/config/access, and the
 * exact bytes of the answers.  Pure: no socket, no registry.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "linksocks.h"
#include "lib/check_main.h"

static Suite	*api_suite(void);
static void	 bad_token(const char *, const char *);

/* The body must be refused with exactly this error text. */
static void
bad_token(const char *body, const char *want)
{
	struct api_token_req	 r;
	char			 err[512];

	ck_assert_msg(api_token_parse(body, strlen(body), &r, err,
	    sizeof(err)) == -1, "accepted %s", body);
	ck_assert_msg(strcmp(err, want) == 0, "%s: error '%s', want '%s'",
	    body, err, want);
}

START_TEST(test_token_full)
{
	struct api_token_req	 r;
	char			 err[512];
	const char		*b = "{\"type\":\"reverse\",\"token\":\"t\","
	    "\"port\":1080,\"username\":\"u\",\"password\":\"p\","
	    "\"allow_manage_connector\":false,\"rules\":[{\"addrs\":"
	    "[\"10.0.0.0/8\",\"::1\"],\"ports\":[22,[8000,9000]]},{}]}";

	ck_assert_int_eq(api_token_parse(b, strlen(b), &r, err, sizeof(err)),
	    0);
	ck_assert_int_eq(r.atr_kind, TOK_REVERSE);
	ck_assert_str_eq(r.atr_token, "t");
	ck_assert_int_eq(r.atr_port, 1080);
	ck_assert_str_eq(r.atr_user, "u");
	ck_assert_str_eq(r.atr_pass, "p");
	ck_assert_int_eq(r.atr_autonomy, 0);
	ck_assert_uint_eq(r.atr_rules.ar_n, 2);
	ck_assert_str_eq(r.atr_rules.ar_texts[0],
	    "[10.0.0.0/8,::1]:22,8000-9000");
	ck_assert_str_eq(r.atr_rules.ar_texts[1], "*");
	api_token_req_free(&r);
}
END_TEST

START_TEST(test_token_minimal)
{
	struct api_token_req	 r;
	char			 err[512];
	const char		*b;

	ck_assert_int_eq(api_token_parse("{\"type\":\"forward\"}", 18, &r,
	    err, sizeof(err)), 0);
	ck_assert_int_eq(r.atr_kind, TOK_FORWARD);
	ck_assert_ptr_null(r.atr_token);
	ck_assert_uint_eq(r.atr_rules.ar_n, 0);
	api_token_req_free(&r);
	b = "{\"type\":\"connector\",\"reverse_token\":\"r\",\"token\":null}";
	ck_assert_int_eq(api_token_parse(b, strlen(b), &r, err, sizeof(err)),
	    0);
	ck_assert_int_eq(r.atr_kind, TOK_CONNECTOR);
	ck_assert_str_eq(r.atr_reverse_token, "r");
	api_token_req_free(&r);
}
END_TEST

START_TEST(test_token_errors)
{
	bad_token("", "invalid request body");
	bad_token("{", "invalid request body");
	bad_token("[]", "invalid request body");
	bad_token("\"forward\"", "invalid request body");
	bad_token("{\"type\":\"forward\",\"type\":\"reverse\"}",
	    "invalid request body");
	bad_token("{}", "invalid token type");
	bad_token("{\"type\":\"Forward\"}", "invalid token type");
	bad_token("{\"type\":1}", "field \"type\" must be a string");
	bad_token("{\"type\":\"forward\",\"token\":1}",
	    "field \"token\" must be a string");
	bad_token("{\"type\":\"reverse\",\"port\":\"1\"}",
	    "field \"port\" must be an integer");
	bad_token("{\"type\":\"reverse\",\"port\":1.0}",
	    "field \"port\" must be an integer");
	bad_token("{\"type\":\"reverse\",\"port\":-1}",
	    "field \"port\" must be 0..65535");
	bad_token("{\"type\":\"reverse\",\"port\":65536}",
	    "field \"port\" must be 0..65535");
	bad_token("{\"type\":\"reverse\",\"username\":[]}",
	    "field \"username\" must be a string");
	bad_token("{\"type\":\"reverse\",\"password\":false}",
	    "field \"password\" must be a string");
	bad_token("{\"type\":\"connector\",\"reverse_token\":{}}",
	    "field \"reverse_token\" must be a string");
	bad_token("{\"type\":\"reverse\",\"allow_manage_connector\":1}",
	    "field \"allow_manage_connector\" must be a boolean");
	/* jansson refuses \u0000 without JSON_ALLOW_NUL. */
	bad_token("{\"type\":\"forward\",\"token\":\"a\\u0000b\"}",
	    "invalid request body");
	bad_token("{\"type\":\"forward\",\"rules\":{}}",
	    "field \"rules\": rules must be an array");
	bad_token("{\"type\":\"forward\",\"rules\":[1]}",
	    "field \"rules\": rule 1 must be an object with \"addrs\" and "
	    "\"ports\"");
	bad_token("{\"type\":\"forward\",\"rules\":[{},{\"addrs\":"
	    "[\"1.2.3.4/33\"]}]}",
	    "field \"rules\": rule 2: invalid prefix length \"33\"");
	bad_token("{\"type\":\"forward\",\"rules\":[{\"ports\":[[2,1]]}]}",
	    "field \"rules\": rule 1: port range \"2-1\" ends before it "
	    "starts");
	bad_token("{\"type\":\"forward\",\"rules\":[{\"ports\":[[1,2,3]]}]}",
	    "field \"rules\": rule 1: a port is a number or [low, high]");
	bad_token("{\"type\":\"forward\",\"rules\":[{\"addrs\":[\"a,b\"]}]}",
	    "field \"rules\": rule 1: \"addrs\" must hold address strings");
	bad_token("{\"type\":\"forward\",\"rules\":[{\"host\":1}]}",
	    "field \"rules\": rule 1: unknown field \"host\"");
}
END_TEST

START_TEST(test_limits)
{
	struct api_token_req	 r;
	struct token_limits	 tl;
	json_t			*o;
	char			 err[512], *s;
	const char		*b = "{\"type\":\"forward\",\"limits\":"
	    "{\"max_tunnels\":3,\"max_channels\":4294967295,"
	    "\"upload_rate\":0,\"download_rate\":10000000000}}";

	ck_assert_int_eq(api_token_parse(b, strlen(b), &r, err, sizeof(err)),
	    0);
	ck_assert_uint_eq(r.atr_limits.tl_max_tunnels, 3);
	ck_assert_uint_eq(r.atr_limits.tl_max_channels, 4294967295U);
	ck_assert_uint_eq(r.atr_limits.tl_upload, 0);
	ck_assert_uint_eq(r.atr_limits.tl_download, 10000000000ULL);
	api_token_req_free(&r);
	/* Absent, null and {} are no limits; each member is optional. */
	b = "{\"type\":\"connector\",\"reverse_token\":\"r\","
	    "\"limits\":{\"max_channels\":2}}";
	ck_assert_int_eq(api_token_parse(b, strlen(b), &r, err, sizeof(err)),
	    0);
	ck_assert_uint_eq(r.atr_limits.tl_max_channels, 2);
	ck_assert_uint_eq(r.atr_limits.tl_max_tunnels, 0);
	api_token_req_free(&r);
	ck_assert_int_eq(api_limits_parse(NULL, &tl, err, sizeof(err)), 0);
	ck_assert_uint_eq(tl.tl_download, 0);
	o = json_null();
	ck_assert_int_eq(api_limits_parse(o, &tl, err, sizeof(err)), 0);
	json_decref(o);
	o = json_object();
	ck_assert_int_eq(api_limits_parse(o, &tl, err, sizeof(err)), 0);
	json_decref(o);

	bad_token("{\"type\":\"forward\",\"limits\":[]}",
	    "limits must be an object");
	bad_token("{\"type\":\"forward\",\"limits\":5}",
	    "limits must be an object");
	bad_token("{\"type\":\"forward\",\"limits\":{\"upload_rate\":-1}}",
	    "limits.upload_rate must be a non-negative integer");
	bad_token("{\"type\":\"forward\",\"limits\":"
	    "{\"download_rate\":\"10M\"}}",
	    "limits.download_rate must be a non-negative integer");
	bad_token("{\"type\":\"forward\",\"limits\":"
	    "{\"download_rate\":1.5}}",
	    "limits.download_rate must be a non-negative integer");
	bad_token("{\"type\":\"forward\",\"limits\":{\"max_tunnels\":null}}",
	    "limits.max_tunnels must be a non-negative integer (at most "
	    "4294967295)");
	bad_token("{\"type\":\"forward\",\"limits\":"
	    "{\"max_channels\":4294967296}}",
	    "limits.max_channels must be a non-negative integer (at most "
	    "4294967295)");
	bad_token("{\"type\":\"forward\",\"limits\":{\"rate\":1}}",
	    "limits: unknown field \"rate\"");

	tl.tl_max_tunnels = 1;
	tl.tl_max_channels = 0;
	tl.tl_upload = 2500000;
	tl.tl_download = 0;
	o = api_limits_json(&tl);
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	ck_assert_str_eq(s, "{\"download_rate\":0,\"max_channels\":0,"
	    "\"max_tunnels\":1,\"upload_rate\":2500000}");
	free(s);
	json_decref(o);
}
END_TEST

START_TEST(test_delete)
{
	char	*t;

	t = api_delete_parse("{\"token\":\"abc\"}", 15);
	ck_assert_str_eq(t, "abc");
	free(t);
	ck_assert_ptr_null(api_delete_parse("{}", 2));
	ck_assert_ptr_null(api_delete_parse("", 0));
	ck_assert_ptr_null(api_delete_parse("{\"token\":\"\"}", 12));
	ck_assert_ptr_null(api_delete_parse("{\"token\":7}", 11));
	ck_assert_ptr_null(api_delete_parse("[\"token\"]", 9));
}
END_TEST

START_TEST(test_access)
{
	struct api_access_req	 r;
	char			 err[512], *b;
	const char		*in = "{\"dial\":[{\"addrs\":[\"192.168.1.1-255\"]}],"
	    "\"entry\":null}";

	ck_assert_int_eq(api_access_parse(in, strlen(in), &r, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(r.aa_has_entry, 1);
	ck_assert_uint_eq(r.aa_entry.ar_n, 0);
	ck_assert_ptr_null(r.aa_entry.ar_json);
	ck_assert_int_eq(r.aa_has_dial, 1);
	ck_assert_uint_eq(r.aa_dial.ar_n, 1);
	ck_assert_str_eq(r.aa_dial.ar_texts[0], "[192.168.1.1-255]");
	b = api_access_body(r.aa_entry.ar_json, r.aa_dial.ar_json);
	ck_assert_str_eq(b, "{\"entry\":null,\"dial\":[{\"addrs\":"
	    "[\"192.168.1.1-255\"]}]}\n");
	free(b);
	api_access_req_free(&r);
	ck_assert_int_eq(api_access_parse("{}", 2, &r, err, sizeof(err)), 0);
	ck_assert_int_eq(r.aa_has_entry + r.aa_has_dial, 0);
	api_access_req_free(&r);
	ck_assert_int_eq(api_access_parse("{\"entry\":[{\"ports\":[0]}]}", 25,
	    &r, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "entry: rule 1: port out of range 1..65535");
	ck_assert_int_eq(api_access_parse("x", 1, &r, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "invalid request body");
}
END_TEST

START_TEST(test_bodies)
{
	char	*b;

	b = api_error_body("invalid API key");
	ck_assert_str_eq(b, "{\"success\":false,\"error\":\"invalid API key\"}\n");
	free(b);
	b = api_token_body("t", -2);
	ck_assert_str_eq(b, "{\"success\":true,\"token\":\"t\"}\n");
	free(b);
	b = api_token_body("t", -1);
	ck_assert_str_eq(b, "{\"success\":true,\"token\":\"t\",\"port\":-1}\n");
	free(b);
	b = api_error_body("'anonymous' is \"x\"");
	ck_assert_str_eq(b, "{\"success\":false,\"error\":\"'anonymous' is "
	    "\\\"x\\\"\"}\n");
	free(b);
}
END_TEST

static Suite *
api_suite(void)
{
	Suite	*s = suite_create("api");
	TCase	*tc = tcase_create("json");

	tcase_add_test(tc, test_token_full);
	tcase_add_test(tc, test_token_minimal);
	tcase_add_test(tc, test_token_errors);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_delete);
	tcase_add_test(tc, test_access);
	tcase_add_test(tc, test_bodies);
	suite_add_tcase(s, tc);
	return (s);
}

const check_suite_fn check_suites[] = { api_suite, NULL };
