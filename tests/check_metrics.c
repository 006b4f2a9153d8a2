/*
 * check_metrics.c -- unit tests for the metrics: the text format's
 * escapes, what metrics_render prints from workers' reports (sums per
 * token, a dead worker's counters kept, gauges not), the bound on token
 * labels, labels that are not ours, one token's sums for the API, UDP's
 * own families (not counted as connects or fast open), the IPC_STATS
 * size check and the per-process token table (stats.c).
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linksocks.h"
#include "lib/check_main.h"

/* The evbuffer as a C string (free it); the buffer is freed. */
static char *
drain(struct evbuffer *b)
{
	size_t	 n = evbuffer_get_length(b);
	char	*s;

	s = malloc(n + 1);
	ck_assert_ptr_nonnull(s);
	evbuffer_remove(b, s, n);
	s[n] = '\0';
	evbuffer_free(b);
	return (s);
}

static char *
render(void)
{
	struct evbuffer	*b = evbuffer_new();

	ck_assert_ptr_nonnull(b);
	metrics_render(b);
	return (drain(b));
}

static unsigned
count(const char *hay, const char *needle)
{
	unsigned	n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay++;
	}
	return (n);
}

/* A report from worker idx: counters and tokens as given. */
static void
report(int idx, uint64_t bytes_out, const char *const *labels,
    const uint64_t *tok_out, unsigned ntok)
{
	struct ipc_stats	s;
	unsigned		i;

	memset(&s, 0, sizeof(s));
	s.is_v[ST_BYTES_OUT] = bytes_out;
	s.is_v[ST_TUNNELS_OPEN] = 3;
	s.is_v[ST_CONNECT_REFUSED] = 2;
	s.is_ntokens = ntok;
	for (i = 0; i < ntok; i++) {
		snprintf(s.is_tokens[i].st_label,
		    sizeof(s.is_tokens[i].st_label), "%s", labels[i]);
		s.is_tokens[i].st_v[TS_BYTES_OUT] = tok_out[i];
		s.is_tokens[i].st_v[TS_TUNNELS_OPEN] = 1;
	}
	ck_assert(ipc_payload_ok(IPC_STATS, &s, IPC_STATS_SIZE(ntok)));
	metrics_worker_report(idx, &s, IPC_STATS_SIZE(ntok));
}

START_TEST(test_escape)
{
	struct evbuffer	*b = evbuffer_new();
	char		*s;

	metrics_escape_label(b, "a\\b\"c\nd");
	s = drain(b);
	ck_assert_str_eq(s, "a\\\\b\\\"c\\nd");
	free(s);
	b = evbuffer_new();
	metrics_escape_help(b, "a\\b\"c\nd");
	s = drain(b);
	ck_assert_str_eq(s, "a\\\\b\"c\\nd");
	free(s);
}
END_TEST

START_TEST(test_render)
{
	static const char *const l[] = { "0123456789ab" };
	const uint64_t	 a[] = { 50 }, b[] = { 5 };
	uint64_t	 v[TS_MAX];
	char		*s, *line, *save;

	metrics_init(NULL, 2, NULL);
	metrics_worker_started(0);
	metrics_worker_started(1);
	report(0, 100, l, a, 1);
	report(1, 7, l, b, 1);
	s = render();
	ck_assert_ptr_nonnull(strstr(s,
	    "\nlinksocks_bytes_out_total{worker=\"0\"} 100\n"));
	ck_assert_ptr_nonnull(strstr(s,
	    "\nlinksocks_bytes_out_total{worker=\"1\"} 7\n"));
	ck_assert_ptr_nonnull(strstr(s,
	    "\nlinksocks_connects_total{worker=\"0\",result=\"refused\"} 2\n"));
	ck_assert_ptr_nonnull(strstr(s,
	    "\nlinksocks_token_bytes_out_total{token=\"0123456789ab\"} 55\n"));
	ck_assert_ptr_nonnull(strstr(s,
	    "\nlinksocks_workers_up 2\n"));
	ck_assert_int_eq(metrics_token_sum("0123456789abcdef0123", v), 0);
	ck_assert_uint_eq(v[TS_BYTES_OUT], 55);
	ck_assert_uint_eq(v[TS_TUNNELS_OPEN], 2);
	ck_assert_int_eq(metrics_token_sum("ffffffffffffffff", v), -1);
	ck_assert_int_eq(metrics_token_sum("0123", v), -1);
	ck_assert_uint_eq(count(s,
	    "# TYPE linksocks_bytes_out_total counter\n"), 1);
	ck_assert_uint_eq(count(s, "# TYPE linksocks_tunnels_open gauge\n"), 1);
	/* Every line: a comment or name, labels, one space, a number. */
	for (line = strtok_r(s, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "# HELP ", 7) == 0 ||
		    strncmp(line, "# TYPE ", 7) == 0)
			continue;
		ck_assert_msg(strncmp(line, "linksocks_", 10) == 0, "%s", line);
		ck_assert_msg(strchr(line, ' ') != NULL &&
		    strspn(strrchr(line, ' ') + 1, "0123456789") ==
		    strlen(strrchr(line, ' ') + 1), "%s", line);
	}
	free(s);
}
END_TEST

/* UDP associations and datagrams: their own families, not TCP's. */
START_TEST(test_udp)
{
	static const char *const results[] = { "ok", "limit", "no_tunnel",
	    "remote", "timeout", "other" };
	static const char *const reasons[] = { "malformed", "fragment",
	    "foreign", "full", "no_client", "resolve", "send", "denied" };
	struct ipc_stats	 st;
	char			 want[128], *s;
	size_t			 i;

	metrics_init(NULL, 1, NULL);
	metrics_worker_started(0);
	memset(&st, 0, sizeof(st));
	st.is_v[ST_UDP_OK] = 3;
	st.is_v[ST_UDP_REMOTE] = 1;
	st.is_v[ST_UDP_DGRAMS_IN] = 10;
	st.is_v[ST_UDP_DGRAMS_OUT] = 11;
	st.is_v[ST_UDP_BYTES_IN] = 1000;
	st.is_v[ST_UDP_BYTES_OUT] = 1100;
	st.is_v[ST_UDP_DROP_DENIED] = 4;
	st.is_ntokens = 1;
	snprintf(st.is_tokens[0].st_label, sizeof(st.is_tokens[0].st_label),
	    "%s", "0123456789ab");
	st.is_tokens[0].st_v[TS_UDP_BYTES_IN] = 900;
	st.is_tokens[0].st_v[TS_UDP_BYTES_OUT] = 950;
	ck_assert(ipc_payload_ok(IPC_STATS, &st, IPC_STATS_SIZE(1)));
	metrics_worker_report(0, &st, IPC_STATS_SIZE(1));
	s = render();
	ck_assert_ptr_nonnull(strstr(s, "\nlinksocks_udp_associations_total"
	    "{worker=\"0\",result=\"ok\"} 3\n"));
	ck_assert_ptr_nonnull(strstr(s, "\nlinksocks_udp_associations_total"
	    "{worker=\"0\",result=\"remote\"} 1\n"));
	/* Neither a TCP connect nor a fast-open reply. */
	ck_assert_ptr_nonnull(strstr(s, "\nlinksocks_connects_total"
	    "{worker=\"0\",result=\"ok\"} 0\n"));
	ck_assert_ptr_nonnull(strstr(s, "\nlinksocks_connects_total"
	    "{worker=\"0\",result=\"remote\"} 0\n"));
	ck_assert_ptr_nonnull(strstr(s, "\nlinksocks_fastopen_total"
	    "{worker=\"0\",outcome=\"answered\"} 0\n"));
	ck_assert_ptr_nonnull(strstr(s,
	    "\nlinksocks_udp_datagrams_in_total{worker=\"0\"} 10\n"));
	ck_assert_ptr_nonnull(strstr(s,
	    "\nlinksocks_udp_datagrams_out_total{worker=\"0\"} 11\n"));
	ck_assert_ptr_nonnull(strstr(s,
	    "\nlinksocks_udp_bytes_in_total{worker=\"0\"} 1000\n"));
	ck_assert_ptr_nonnull(strstr(s,
	    "\nlinksocks_udp_bytes_out_total{worker=\"0\"} 1100\n"));
	ck_assert_ptr_nonnull(strstr(s, "\nlinksocks_udp_drops_total"
	    "{worker=\"0\",reason=\"denied\"} 4\n"));
	ck_assert_ptr_nonnull(strstr(s, "\nlinksocks_token_udp_bytes_in_total"
	    "{token=\"0123456789ab\"} 900\n"));
	ck_assert_ptr_nonnull(strstr(s, "\nlinksocks_token_udp_bytes_out_total"
	    "{token=\"0123456789ab\"} 950\n"));
	/* Every result and reason once, one HELP and TYPE per family. */
	for (i = 0; i < LS_NITEMS(results); i++) {
		snprintf(want, sizeof(want), "linksocks_udp_associations_total"
		    "{worker=\"0\",result=\"%s\"} ", results[i]);
		ck_assert_uint_eq(count(s, want), 1);
	}
	ck_assert_uint_eq(count(s, "linksocks_udp_associations_total{"), 6);
	for (i = 0; i < LS_NITEMS(reasons); i++) {
		snprintf(want, sizeof(want), "linksocks_udp_drops_total"
		    "{worker=\"0\",reason=\"%s\"} ", reasons[i]);
		ck_assert_uint_eq(count(s, want), 1);
	}
	ck_assert_uint_eq(count(s, "linksocks_udp_drops_total{"), 8);
	ck_assert_uint_eq(count(s,
	    "# TYPE linksocks_udp_associations_total counter\n"), 1);
	ck_assert_uint_eq(count(s,
	    "# TYPE linksocks_udp_drops_total counter\n"), 1);
	free(s);
}
END_TEST

START_TEST(test_worker_gone)
{
	static const char *const l[] = { "0123456789ab" };
	const uint64_t	 a[] = { 50 }, c[] = { 1 };
	char		*s;

	metrics_init(NULL, 1, NULL);
	metrics_worker_started(0);
	report(0, 100, l, a, 1);
	metrics_worker_gone(0);
	s = render();
	/* Counters stay; gauges of a dead worker are 0. */
	ck_assert_ptr_nonnull(strstr(s,
	    "\nlinksocks_bytes_out_total{worker=\"0\"} 100\n"));
	ck_assert_ptr_nonnull(strstr(s,
	    "\nlinksocks_tunnels_open{worker=\"0\"} 0\n"));
	ck_assert_ptr_nonnull(strstr(s,
	    "\nlinksocks_token_bytes_out_total{token=\"0123456789ab\"} 50\n"));
	ck_assert_ptr_nonnull(strstr(s,
	    "\nlinksocks_token_tunnels_open{token=\"0123456789ab\"} 0\n"));
	ck_assert_ptr_nonnull(strstr(s, "\nlinksocks_workers_up 0\n"));
	free(s);
	/* Its next life adds to them. */
	metrics_worker_started(0);
	report(0, 3, l, c, 1);
	s = render();
	ck_assert_ptr_nonnull(strstr(s,
	    "\nlinksocks_bytes_out_total{worker=\"0\"} 103\n"));
	ck_assert_ptr_nonnull(strstr(s,
	    "\nlinksocks_token_bytes_out_total{token=\"0123456789ab\"} 51\n"));
	ck_assert_ptr_nonnull(strstr(s,
	    "\nlinksocks_tunnels_open{worker=\"0\"} 3\n"));
	free(s);
}
END_TEST

START_TEST(test_token_bound)
{
	char		 names[40][16];
	const char	*l0[LS_METRICS_TOKENS], *l1[8];
	uint64_t	 v0[LS_METRICS_TOKENS], v1[8];
	char		*s;
	unsigned	 i;

	for (i = 0; i < 40; i++) {
		snprintf(names[i], sizeof(names[i]), "%012x", 0xa0000 + i);
		if (i < LS_METRICS_TOKENS) {
			l0[i] = names[i];
			v0[i] = 1;
		} else {
			l1[i - LS_METRICS_TOKENS] = names[i];
			v1[i - LS_METRICS_TOKENS] = 10;
		}
	}
	metrics_init(NULL, 2, NULL);
	metrics_worker_started(0);
	metrics_worker_started(1);
	report(0, 0, l0, v0, LS_METRICS_TOKENS);
	report(1, 0, l1, v1, 8);
	s = render();
	/* 32 labels of their own, the 8 others summed. */
	ck_assert_uint_eq(count(s, "linksocks_token_bytes_out_total{token="),
	    LS_METRICS_TOKENS + 1);
	ck_assert_ptr_nonnull(strstr(s,
	    "\nlinksocks_token_bytes_out_total{token=\"other\"} 80\n"));
	ck_assert_ptr_null(strstr(s, names[35]));
	ck_assert_ptr_nonnull(strstr(s, names[31]));
	free(s);
}
END_TEST

START_TEST(test_bad_label)
{
	static const char *const l[] = { "ab\"}\n# TYPE x", "ABCDEF" };
	const uint64_t	 a[] = { 4, 5 };
	char		*s;

	metrics_init(NULL, 1, NULL);
	metrics_worker_started(0);
	report(0, 0, l, a, 2);
	s = render();
	ck_assert_ptr_null(strstr(s, "# TYPE x"));
	ck_assert_ptr_null(strstr(s, "ABCDEF"));
	ck_assert_ptr_nonnull(strstr(s,
	    "\nlinksocks_token_bytes_out_total{token=\"other\"} 9\n"));
	free(s);
	/* Out of range workers are ignored. */
	metrics_worker_report(5, NULL, 0);
	metrics_worker_report(-1, NULL, 0);
	metrics_worker_gone(64);
}
END_TEST

START_TEST(test_payload_ok)
{
	struct ipc_stats	s;
	uint32_t		seq = 1;

	memset(&s, 0, sizeof(s));
	ck_assert(ipc_payload_ok(IPC_STATS, &s, IPC_STATS_SIZE(0)));
	ck_assert(!ipc_payload_ok(IPC_STATS, &s, IPC_STATS_SIZE(1)));
	ck_assert(!ipc_payload_ok(IPC_STATS, &s, IPC_STATS_SIZE(0) - 1));
	s.is_ntokens = 1;
	ck_assert(ipc_payload_ok(IPC_STATS, &s, IPC_STATS_SIZE(1)));
	s.is_ntokens = LS_METRICS_TOKENS + 1;
	ck_assert(ipc_payload_ok(IPC_STATS, &s, sizeof(s)));
	s.is_ntokens = LS_METRICS_TOKENS + 2;
	ck_assert(!ipc_payload_ok(IPC_STATS, &s, IPC_STATS_SIZE(0)));
	ck_assert(sizeof(s) <= IPC_MAX_PAYLOAD);
	ck_assert(ipc_payload_ok(IPC_STATS_REQ, &seq, sizeof(seq)));
	ck_assert(!ipc_payload_ok(IPC_STATS_REQ, &seq, 2));
	ck_assert_str_eq(ipc_typename(IPC_STATS), "STATS");
	ck_assert_str_eq(ipc_typename(IPC_STATS_REQ), "STATS_REQ");
}
END_TEST

START_TEST(test_stats_token)
{
	struct stats_token	 out[LS_METRICS_TOKENS + 1], *a, *o;
	char			 h[65];
	unsigned		 i;

	stats_reset();
	ck_assert_uint_eq(stats_tokens(out), 0);
	for (i = 0; i < LS_METRICS_TOKENS; i++) {
		url_sha256_hex((const char *)&i, sizeof(i), h);
		a = stats_token(h);
		ck_assert_ptr_eq(stats_token(h), a);
		ck_assert_uint_eq(strlen(a->st_label), LS_METRICS_HASHLEN);
		ck_assert(strncmp(a->st_label, h, LS_METRICS_HASHLEN) == 0);
		a->st_v[TS_BYTES_IN] = i;
	}
	ck_assert_uint_eq(stats_tokens(out), LS_METRICS_TOKENS);
	o = stats_token("ffffffffffffffffffffffffffffffff");
	ck_assert_str_eq(o->st_label, LS_METRICS_OTHER);
	ck_assert_ptr_eq(stats_token("eeeeeeeeeeeeeeee"), o);
	ck_assert_uint_eq(stats_tokens(out), LS_METRICS_TOKENS + 1);
	ck_assert_str_eq(out[LS_METRICS_TOKENS].st_label, LS_METRICS_OTHER);
	ck_assert_uint_eq(out[5].st_v[TS_BYTES_IN], 5);
	stats_reset();
}
END_TEST

static Suite *
metrics_suite(void)
{
	Suite	*s = suite_create("metrics");
	TCase	*tc;

	tc = tcase_create("format");
	tcase_add_test(tc, test_escape);
	tcase_add_test(tc, test_render);
	tcase_add_test(tc, test_udp);
	tcase_add_test(tc, test_bad_label);
	suite_add_tcase(s, tc);

	tc = tcase_create("aggregate");
	tcase_add_test(tc, test_worker_gone);
	tcase_add_test(tc, test_token_bound);
	tcase_add_test(tc, test_payload_ok);
	tcase_add_test(tc, test_stats_token);
	suite_add_tcase(s, tc);
	return (s);
}

const check_suite_fn check_suites[] = { metrics_suite, NULL };
