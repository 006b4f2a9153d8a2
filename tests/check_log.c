/*
 * check_log.c -- unit tests for log hygiene (log.c): peer bytes escaped
 * by log_str in buffers that several calls can share, control bytes
 * escaped by vlog even when a caller forgot, secrets never printed, and
 * log_ratelimit's "N more" summaries.  stderr is captured in a file.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "linksocks.h"
#include "lib/check_main.h"

static char	 capture_path[] = "/tmp/check_log.XXXXXX";
static int	 capture_fd = -1, saved_stderr = -1;

static void
capture_start(void)
{
	fflush(stderr);
	capture_fd = mkstemp(capture_path);
	ck_assert_int_ne(capture_fd, -1);
	saved_stderr = dup(STDERR_FILENO);
	ck_assert_int_ne(saved_stderr, -1);
	ck_assert_int_ne(dup2(capture_fd, STDERR_FILENO), -1);
	log_init(0, 0);
}

/* What was logged since capture_start, NUL-terminated (free it). */
static char *
capture_end(void)
{
	char	*buf;
	off_t	 len;

	fflush(stderr);
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	len = lseek(capture_fd, 0, SEEK_END);
	ck_assert_int_ge(len, 0);
	buf = calloc(1, (size_t)len + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(pread(capture_fd, buf, (size_t)len, 0), len);
	close(capture_fd);
	unlink(capture_path);
	strcpy(capture_path + strlen(capture_path) - 6, "XXXXXX");
	return (buf);
}

static int
count_lines(const char *s)
{
	int	n = 0;

	for (; *s != '\0'; s++)
		if (*s == '\n')
			n++;
	return (n);
}

START_TEST(test_str_escapes)
{
	const uint8_t	 host[] = "evil\n2026 INF forged\x1b[31m\\x";

	ck_assert_str_eq(log_str(host, sizeof(host) - 1),
	    "evil\\x0a2026 INF forged\\x1b[31m\\x5cx");
	ck_assert_str_eq(log_str((const uint8_t *)"a\0b", 3), "a\\x00b");
	ck_assert_str_eq(log_str(NULL, 5), "");
	ck_assert_str_eq(log_strz(NULL), "");
	ck_assert_str_eq(log_strz("\x7f\xff"), "\\x7f\\xff");
}
END_TEST

START_TEST(test_str_buffers)
{
	char		 line[256];
	const char	*a = log_strz("one\n"), *b = log_strz("two\r");

	/* Both results stay valid in one call. */
	snprintf(line, sizeof(line), "%s %s %s %s", a, b, log_strz("3"),
	    log_strz("4"));
	ck_assert_str_eq(line, "one\\x0a two\\x0d 3 4");
}
END_TEST

START_TEST(test_str_long)
{
	uint8_t		 big[700];
	const char	*s;

	memset(big, '\n', sizeof(big));
	s = log_str(big, sizeof(big));
	/* Cut, never overflowing, whole escapes only. */
	ck_assert_uint_le(strlen(s), 4 * 512);
	ck_assert_uint_eq(strlen(s) % 4, 0);
}
END_TEST

START_TEST(test_secret)
{
	const char	*s = log_secret("my-secret-token");

	ck_assert_ptr_null(strstr(s, "secret"));
	ck_assert_ptr_nonnull(strstr(s, "15"));
}
END_TEST

START_TEST(test_vlog_net)
{
	char	*out;

	capture_start();
	log_info("peer said %s and %s", "a\nINF forged", "\x1b[2Jb");
	out = capture_end();
	ck_assert_int_eq(count_lines(out), 1);
	ck_assert_ptr_null(strchr(out, '\x1b'));
	ck_assert_ptr_nonnull(strstr(out,
	    "peer said a\\x0aINF forged and \\x1b[2Jb\n"));
	free(out);
}
END_TEST

START_TEST(test_ratelimit)
{
	struct log_rl	 rl = LOG_RL_INIT(1000);
	char		*out;
	int		 i, n = 0;

	capture_start();
	for (i = 0; i < 100; i++)
		n += log_ratelimit(&rl, LL_WARNX, "accept: %d", i);
	ck_assert_int_eq(n, 1);
	ck_assert_uint_eq(rl.rl_more, 99);
	/* Within the interval the count stays held back. */
	ck_assert_int_eq(log_rl_flush(&rl), 1);
	ck_assert_int_eq(log_rl_flush_all(), 1);
	/* Done with it: the count goes out, the list forgets it. */
	log_rl_done(&rl);
	ck_assert_int_eq(log_rl_flush_all(), 0);
	out = capture_end();
	ck_assert_int_eq(count_lines(out), 2);
	ck_assert_ptr_nonnull(strstr(out, "accept: 0\n"));
	ck_assert_ptr_nonnull(strstr(out, "accept: 99 (99 more)\n"));
	free(out);
}
END_TEST

static int	hook_calls;

static void
hook(void)
{
	hook_calls++;
}

START_TEST(test_ratelimit_hook)
{
	struct log_rl	 a = LOG_RL_INIT(1000), b = LOG_RL_INIT(1000);
	char		*out;

	capture_start();
	log_rl_sethook(hook);
	log_ratelimit(&a, LL_INFO, "a");
	log_ratelimit(&b, LL_INFO, "b");
	ck_assert_int_eq(hook_calls, 0);
	log_ratelimit(&a, LL_INFO, "a");
	log_ratelimit(&a, LL_INFO, "a");
	/* Once per rate limit that starts holding a count. */
	ck_assert_int_eq(hook_calls, 1);
	log_ratelimit(&b, LL_INFO, "b");
	ck_assert_int_eq(hook_calls, 2);
	log_rl_done(&a);
	log_rl_done(&b);
	ck_assert_int_eq(log_rl_flush_all(), 0);
	log_rl_sethook(NULL);
	out = capture_end();
	ck_assert_int_eq(count_lines(out), 4);
	ck_assert_ptr_nonnull(strstr(out, "a (2 more)\n"));
	ck_assert_ptr_nonnull(strstr(out, "b (1 more)\n"));
	free(out);
}
END_TEST

START_TEST(test_ratelimit_summary)
{
	struct log_rl	 rl = LOG_RL_INIT(0.05);
	char		*out;
	int		 i;

	capture_start();
	ck_assert_int_eq(log_ratelimit(&rl, LL_INFO, "x %d", 0), 1);
	for (i = 1; i <= 5; i++)
		ck_assert_int_eq(log_ratelimit(&rl, LL_INFO, "x %d", i), 0);
	usleep(80000);
	/* The next line carries the count of those held back. */
	ck_assert_int_eq(log_ratelimit(&rl, LL_INFO, "x %d", 6), 1);
	for (i = 7; i <= 9; i++)
		ck_assert_int_eq(log_ratelimit(&rl, LL_INFO, "x %d", i), 0);
	usleep(80000);
	/* With no further event, a flush prints the last one and the count. */
	ck_assert_int_eq(log_rl_flush_all(), 0);
	ck_assert_int_eq(log_rl_flush(&rl), 0);
	log_rl_done(&rl);
	out = capture_end();
	ck_assert_int_eq(count_lines(out), 3);
	ck_assert_ptr_nonnull(strstr(out, "x 0\n"));
	ck_assert_ptr_nonnull(strstr(out, "x 6 (5 more)\n"));
	ck_assert_ptr_nonnull(strstr(out, "x 9 (3 more)\n"));
	free(out);
}
END_TEST

START_TEST(test_ratelimit_debug_hidden)
{
	struct log_rl	 rl = LOG_RL_INIT(0);
	char		*out;

	capture_start();
	ck_assert_int_eq(log_ratelimit(&rl, LL_DEBUG, "quiet"), 1);
	out = capture_end();
	ck_assert_str_eq(out, "");
	free(out);
}
END_TEST

static Suite *
log_suite(void)
{
	Suite	*s = suite_create("log");
	TCase	*tc;

	tc = tcase_create("escape");
	tcase_add_test(tc, test_str_escapes);
	tcase_add_test(tc, test_str_buffers);
	tcase_add_test(tc, test_str_long);
	tcase_add_test(tc, test_secret);
	tcase_add_test(tc, test_vlog_net);
	suite_add_tcase(s, tc);

	tc = tcase_create("ratelimit");
	tcase_add_test(tc, test_ratelimit);
	tcase_add_test(tc, test_ratelimit_summary);
	tcase_add_test(tc, test_ratelimit_hook);
	tcase_add_test(tc, test_ratelimit_debug_hidden);
	suite_add_tcase(s, tc);
	return (s);
}

const check_suite_fn check_suites[] = { log_suite, NULL };
