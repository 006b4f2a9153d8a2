/*
 * check_state.c -- unit tests for the state file (src/state.c): a full
 * file parsed member by member, the error naming each kind of mistake,
 * the file written atomically with mode 0600 and read back, a missing
 * file, and the registry rendered and parsed again (only the run time's
 * tokens, an autonomy connector as reverse_token + provider).
 */
#include "config.h"

#include <sys/stat.h>
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "linksocks.h"
#include "lib/check_main.h"

static Suite	*state_suite(void);
static void	 bad(const char *, const char *);

/* text must be refused with exactly this error. */
static void
bad(const char *text, const char *want)
{
	struct state	st;
	char		err[512];

	ck_assert_msg(state_parse(text, strlen(text), &st, err,
	    sizeof(err)) == -1, "accepted %s", text);
	ck_assert_msg(strcmp(err, want) == 0, "%s: error '%s', want '%s'",
	    text, err, want);
}

START_TEST(test_parse_full)
{
	struct state	 st;
	char		 err[512];
	const char	*t = "{\"version\":1,\"tokens\":["
	    "{\"type\":\"forward\",\"token\":\"f\",\"rules\":[{\"addrs\":"
	    "[\"127.0.0.1\"],\"ports\":[80]}]},"
	    "{\"type\":\"reverse\",\"token\":\"r\",\"port\":1080,"
	    "\"username\":\"u\",\"password\":\"p\",\"limits\":"
	    "{\"max_tunnels\":2,\"download_rate\":10000000}},"
	    "{\"type\":\"reverse\",\"token\":\"a\","
	    "\"allow_manage_connector\":true},"
	    "{\"type\":\"connector\",\"token\":\"c\",\"reverse_token\":\"r\"},"
	    "{\"type\":\"connector\",\"token\":\"d\",\"reverse_token\":\"a\","
	    "\"provider\":\"0123abcd-0123-4567-89ab-0123456789ab\"}],"
	    "\"access\":{\"dial\":[]},\"log_level\":\"trace\"}";

	ck_assert_int_eq(state_parse(t, strlen(t), &st, err, sizeof(err)), 0);
	ck_assert_uint_eq(st.st_n, 5);
	ck_assert_int_eq(st.st_tokens[0].se_kind, TOK_FORWARD);
	ck_assert_str_eq(st.st_tokens[0].se_rules.ar_texts[0],
	    "[127.0.0.1]:80");
	ck_assert_int_eq(st.st_tokens[1].se_kind, TOK_REVERSE);
	ck_assert_int_eq(st.st_tokens[1].se_port, 1080);
	ck_assert_str_eq(st.st_tokens[1].se_user, "u");
	ck_assert_str_eq(st.st_tokens[1].se_pass, "p");
	ck_assert_uint_eq(st.st_tokens[1].se_limits.tl_max_tunnels, 2);
	ck_assert_uint_eq(st.st_tokens[1].se_limits.tl_max_channels, 0);
	ck_assert_uint_eq(st.st_tokens[1].se_limits.tl_download, 10000000);
	ck_assert_int_eq(st.st_tokens[2].se_autonomy, 1);
	ck_assert_int_eq(st.st_tokens[2].se_port, -1);
	ck_assert_str_eq(st.st_tokens[3].se_reverse, "r");
	ck_assert_ptr_null(st.st_tokens[3].se_provider);
	ck_assert_str_eq(st.st_tokens[4].se_provider,
	    "0123abcd-0123-4567-89ab-0123456789ab");
	ck_assert_int_eq(st.st_has_access[ACCESS_ENTRY], 0);
	ck_assert_int_eq(st.st_has_access[ACCESS_DIAL], 1);
	ck_assert_uint_eq(st.st_access[ACCESS_DIAL].ar_n, 0);
	ck_assert_int_eq(st.st_log_level, 2);
	state_free(&st);
}
END_TEST

START_TEST(test_parse_errors)
{
	bad("", "not JSON (line 1: '[' or '{' expected near end of file)");
	bad("[]", "not a JSON object");
	bad("{\"tokens\":[]}", "\"version\" must be 1");
	bad("{\"version\":2,\"tokens\":[]}", "\"version\" must be 1");
	bad("{\"version\":1}", "\"tokens\" must be an array");
	bad("{\"version\":1,\"tokens\":[],\"x\":1}",
	    "the file: unknown member \"x\"");
	bad("{\"version\":1,\"tokens\":[1]}", "tokens[0] must be an object");
	bad("{\"version\":1,\"tokens\":[{\"type\":\"x\",\"token\":\"t\"}]}",
	    "tokens[0]: \"type\" must be \"forward\", \"reverse\" or "
	    "\"connector\"");
	bad("{\"version\":1,\"tokens\":[{\"type\":\"forward\"}]}",
	    "tokens[0]: \"token\" is missing");
	bad("{\"version\":1,\"tokens\":[{\"type\":\"forward\",\"token\":\"\"}]}",
	    "tokens[0]: \"token\" must be 1..255 bytes");
	/* jansson refuses a NUL in a string. */
	bad("{\"version\":1,\"tokens\":[{\"type\":\"forward\",\"token\":"
	    "\"a\\u0000b\"}]}", "not JSON (line 1: \\x5cu0000 is not allowed "
	    "without JSON_ALLOW_NUL near '\"a\\x5cu0000b\"')");
	bad("{\"version\":1,\"tokens\":[{\"type\":\"forward\",\"token\":"
	    "\"anonymous\"}]}", "tokens[0]: \"anonymous\" is reserved");
	bad("{\"version\":1,\"tokens\":[{\"type\":\"forward\",\"token\":\"t\","
	    "\"y\":1}]}", "tokens[0]: unknown member \"y\"");
	bad("{\"version\":1,\"tokens\":[{\"type\":\"forward\",\"token\":\"t\"},"
	    "{\"type\":\"forward\",\"token\":\"t\"}]}",
	    "tokens[1]: the same token as tokens[0]");
	bad("{\"version\":1,\"tokens\":[{\"type\":\"reverse\",\"token\":\"t\"}]}",
	    "tokens[0]: \"port\" is missing");
	bad("{\"version\":1,\"tokens\":[{\"type\":\"reverse\",\"token\":\"t\","
	    "\"port\":0}]}",
	    "tokens[0]: \"port\" must be an integer 1..65535");
	bad("{\"version\":1,\"tokens\":[{\"type\":\"reverse\",\"token\":\"t\","
	    "\"port\":\"80\"}]}",
	    "tokens[0]: \"port\" must be an integer 1..65535");
	bad("{\"version\":1,\"tokens\":[{\"type\":\"reverse\",\"token\":\"t\","
	    "\"port\":80,\"allow_manage_connector\":true}]}",
	    "tokens[0]: an autonomy token has no \"port\"");
	bad("{\"version\":1,\"tokens\":[{\"type\":\"reverse\",\"token\":\"t\","
	    "\"port\":80,\"username\":\"u\"}]}", "tokens[0]: \"username\" and "
	    "\"password\" go together and are not empty");
	bad("{\"version\":1,\"tokens\":[{\"type\":\"forward\",\"token\":\"t\","
	    "\"port\":80}]}", "tokens[0]: \"port\", \"username\", \"password\" "
	    "and \"allow_manage_connector\" are for reverse tokens");
	bad("{\"version\":1,\"tokens\":[{\"type\":\"connector\",\"token\":"
	    "\"t\"}]}", "tokens[0]: \"reverse_token\" is missing");
	bad("{\"version\":1,\"tokens\":[{\"type\":\"connector\",\"token\":"
	    "\"t\",\"reverse_token\":\"r\",\"provider\":\"x\"}]}",
	    "tokens[0]: \"provider\" must be a UUID");
	bad("{\"version\":1,\"tokens\":[{\"type\":\"connector\",\"token\":"
	    "\"t\",\"reverse_token\":\"r\",\"rules\":[{}]}]}",
	    "tokens[0]: a connector token has no \"rules\"");
	bad("{\"version\":1,\"tokens\":[{\"type\":\"forward\",\"token\":\"t\","
	    "\"rules\":[{\"addrs\":[\"1.2.3.4/33\"]}]}]}",
	    "tokens[0]: rule 1: invalid prefix length \"33\"");
	bad("{\"version\":1,\"tokens\":[{\"type\":\"forward\",\"token\":\"t\","
	    "\"limits\":{\"upload_rate\":-1}}]}", "tokens[0]: "
	    "limits.upload_rate must be a non-negative integer");
	bad("{\"version\":1,\"tokens\":[],\"access\":{\"entry\":{}}}",
	    "access.entry must be an array");
	bad("{\"version\":1,\"tokens\":[],\"access\":{\"other\":[]}}",
	    "access: unknown member \"other\"");
	bad("{\"version\":1,\"tokens\":[],\"log_level\":\"loud\"}",
	    "\"log_level\" must be \"info\", \"debug\" or \"trace\"");
}
END_TEST

/* Written whole, mode 0600, no temporary left; read back; missing. */
START_TEST(test_write_read)
{
	struct state	 st;
	struct stat	 sb;
	struct dirent	*de;
	DIR		*d;
	char		 dir[] = "/tmp/check_state.XXXXXX", path[256], err[512];
	int		 n = 0;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/state.json", dir);
	ck_assert_int_eq(state_read(path, &st, err, sizeof(err)), 1);
	ck_assert_int_eq(state_write(path, "{\"version\":1,\"tokens\":[]}",
	    err, sizeof(err)), 0);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);
	ck_assert_int_eq(state_read(path, &st, err, sizeof(err)), 0);
	ck_assert_uint_eq(st.st_n, 0);
	state_free(&st);
	ck_assert_ptr_nonnull(d = opendir(dir));
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	ck_assert_int_eq(n, 1);
	/* A directory that is not there: an error, nothing written. */
	snprintf(path, sizeof(path), "%s/no/state.json", dir);
	ck_assert_int_eq(state_write(path, "{}", err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "No such file or directory"));
	ck_assert_int_eq(state_read(dir, &st, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "not a regular file");
	snprintf(path, sizeof(path), "%s/state.json", dir);
	unlink(path);
	rmdir(dir);
}
END_TEST

/* The registry as a file: the run time's tokens only, and back. */
START_TEST(test_render)
{
	struct state	 st;
	struct token	*f, *r, *a, *c, *cli;
	char		 err[512], *text;
	json_t		*empty = json_array();

	cli = registry_add(TOK_FORWARD, "cli", NULL, err, sizeof(err));
	ck_assert_ptr_nonnull(cli);
	f = registry_add(TOK_FORWARD, "f", NULL, err, sizeof(err));
	f->tk_api = 1;
	f->tk_rules_json = json_loads("[{\"addrs\":[\"127.0.0.1\"]}]", 0,
	    NULL);
	ck_assert_int_eq(rules_add(&f->tk_rules, "[127.0.0.1]", err,
	    sizeof(err)), 0);
	r = registry_add(TOK_REVERSE, "r", NULL, err, sizeof(err));
	r->tk_api = 1;
	r->tk_port = 4711;
	r->tk_user = strdup("u");
	r->tk_pass = strdup("p");
	r->tk_limits.tl_upload = 123;
	a = registry_add(TOK_REVERSE, "a", NULL, err, sizeof(err));
	a->tk_api = 1;
	a->tk_autonomy = 1;
	c = registry_add(TOK_CONNECTOR, "c",
	    "a#0123abcd-0123-4567-89ab-0123456789ab", err, sizeof(err));
	c->tk_owner = strdup("a#0123abcd-0123-4567-89ab-0123456789ab");
	text = state_render(NULL, empty, 1);
	json_decref(empty);
	ck_assert_ptr_nonnull(text);
	ck_assert_int_eq(state_parse(text, strlen(text), &st, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(st.st_n, 4);		/* not "cli" */
	ck_assert_str_eq(st.st_tokens[0].se_token, "f");
	ck_assert_str_eq(st.st_tokens[0].se_rules.ar_texts[0], "[127.0.0.1]");
	ck_assert_int_eq(st.st_tokens[1].se_port, 4711);
	ck_assert_str_eq(st.st_tokens[1].se_pass, "p");
	ck_assert_uint_eq(st.st_tokens[1].se_limits.tl_upload, 123);
	ck_assert_uint_eq(st.st_tokens[0].se_limits.tl_upload, 0);
	ck_assert_int_eq(st.st_tokens[2].se_autonomy, 1);
	ck_assert_str_eq(st.st_tokens[3].se_reverse, "a");
	ck_assert_str_eq(st.st_tokens[3].se_provider,
	    "0123abcd-0123-4567-89ab-0123456789ab");
	ck_assert_int_eq(st.st_has_access[ACCESS_ENTRY], 0);
	ck_assert_int_eq(st.st_has_access[ACCESS_DIAL], 1);
	ck_assert_int_eq(st.st_log_level, 1);
	state_free(&st);
	free(text);
	registry_remove(c);
	registry_remove(a);
	registry_remove(r);
	registry_remove(f);
	registry_remove(cli);
}
END_TEST

static Suite *
state_suite(void)
{
	Suite	*s = suite_create("state");
	TCase	*tc = tcase_create("file");

	tcase_add_test(tc, test_parse_full);
	tcase_add_test(tc, test_parse_errors);
	tcase_add_test(tc, test_write_read);
	tcase_add_test(tc, test_render);
	suite_add_tcase(s, tc);
	return (s);
}

const check_suite_fn check_suites[] = { state_suite, NULL };
