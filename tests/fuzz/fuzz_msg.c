/*
 * fuzz_msg.c -- libFuzzer harness for the message codec: parse any bytes;
 * whatever parses is encoded again and must parse back to the same
 * fields (abort otherwise).  tests/fuzz/replay.c runs it over
 * tests/corpus/msg in make check.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "linksocks.h"

#define FUZZ_MAXINFLATE	(1024u * 1024)

int		 LLVMFuzzerTestOneInput(const uint8_t *, size_t);
extern const char *fuzz_corpus_name;
const char	*fuzz_corpus_name = "msg";

static char	*fuzz_cstr(const struct msg_str *);
static int	 fuzz_streq(const struct msg_str *, const struct msg_str *);
static void	 fuzz_check(int);
static int	 fuzz_encode(const struct msg *, struct evbuffer *);
static int	 fuzz_encode_json(const struct msg *, struct evbuffer *);
static void	 fuzz_compare(const struct msg *, const struct msg *);

static void
fuzz_check(int ok)
{
	if (!ok)
		abort();
}

/* A NUL-terminated copy, or NULL if the bytes contain a NUL. */
static char *
fuzz_cstr(const struct msg_str *s)
{
	char	*c;

	if (s->len > 0 && memchr(s->p, '\0', s->len) != NULL)
		return (NULL);
	if ((c = malloc(s->len + 1)) == NULL)
		abort();
	if (s->len > 0)
		memcpy(c, s->p, s->len);
	c[s->len] = '\0';
	return (c);
}

static int
fuzz_streq(const struct msg_str *a, const struct msg_str *b)
{
	return (a->len == b->len &&
	    (a->len == 0 || memcmp(a->p, b->p, a->len) == 0));
}

static int
fuzz_encode_json(const struct msg *m, struct evbuffer *out)
{
	json_t		*j, *l, *t, *c;
	int		 rc = 1;

	j = json_loadb((const char *)m->m_json.p, m->m_json.len,
	    JSON_DECODE_ANY, NULL);
	if (j == NULL || !json_is_object(j))
		goto done;
	if (m->m_type == MSG_LOG) {
		l = json_object_get(j, "level");
		t = json_object_get(j, "msg");
		if (json_is_string(l) && json_is_string(t) &&
		    strlen(json_string_value(l)) == json_string_length(l) &&
		    strlen(json_string_value(t)) == json_string_length(t))
			rc = msg_put_log(out, json_string_value(l),
			    json_string_value(t));
	} else if ((c = json_object_get(j, "count")) != NULL &&
	    json_is_integer(c) && json_integer_value(c) >= 0 &&
	    json_integer_value(c) <= INT32_MAX)
		rc = msg_put_partners(out, (int)json_integer_value(c));
 done:
	json_decref(j);
	return (rc);
}

/* 0 encoded, 1 nothing to encode, -1 encoder refused. */
static int
fuzz_encode(const struct msg *m, struct evbuffer *out)
{
	char	*a = NULL, *b = NULL;
	int	 rc = 1;

	switch (m->m_type) {
	case MSG_AUTH:
		if ((a = fuzz_cstr(&m->m_token)) != NULL)
			rc = msg_put_auth(out, a, m->m_reverse, m->m_id);
		break;
	case MSG_AUTH_RESPONSE:
		if ((a = fuzz_cstr(&m->m_error)) != NULL)
			rc = msg_put_auth_response(out, m->m_success, a);
		break;
	case MSG_CONNECT:
		if (m->m_proto != PROTO_NONE &&
		    (a = fuzz_cstr(&m->m_addr)) != NULL)
			rc = msg_put_connect(out, m->m_proto, m->m_id, a,
			    m->m_port);
		break;
	case MSG_DATA:
		if (m->m_proto == PROTO_TCP)
			rc = msg_put_data(out, m->m_id, m->m_data,
			    m->m_datalen);
		else if (m->m_proto == PROTO_UDP &&
		    (a = fuzz_cstr(&m->m_addr)) != NULL &&
		    (b = fuzz_cstr(&m->m_taddr)) != NULL)
			rc = msg_put_data_udp(out, m->m_id, m->m_data,
			    m->m_datalen, a, m->m_port, b, m->m_tport);
		break;
	case MSG_CONNECT_RESPONSE:
		if ((a = fuzz_cstr(&m->m_error)) != NULL)
			rc = msg_put_connect_response(out, m->m_success,
			    m->m_id, a);
		break;
	case MSG_DISCONNECT:
		if ((a = fuzz_cstr(&m->m_error)) != NULL)
			rc = msg_put_disconnect(out, m->m_id, a);
		break;
	case MSG_CONNECTOR:
		if ((a = fuzz_cstr(&m->m_token)) != NULL)
			rc = msg_put_connector(out, m->m_id, a, m->m_op);
		break;
	case MSG_CONNECTOR_RESPONSE:
		if ((a = fuzz_cstr(m->m_success ? &m->m_token :
		    &m->m_error)) != NULL)
			rc = msg_put_connector_response(out, m->m_id,
			    m->m_success, a);
		break;
	case MSG_LOG:
	case MSG_PARTNERS:
		rc = fuzz_encode_json(m, out);
		break;
	default:
		break;
	}
	free(a);
	free(b);
	return (rc);
}

static void
fuzz_compare(const struct msg *m, const struct msg *r)
{
	fuzz_check(r->m_version == LS_PROTO_VERSION);
	fuzz_check(r->m_type == m->m_type);
	switch (m->m_type) {
	case MSG_LOG:
	case MSG_PARTNERS:
		return;	/* re-encoded from decoded fields */
	case MSG_AUTH:
		fuzz_check(r->m_reverse == m->m_reverse);
		break;
	case MSG_CONNECT:
	case MSG_DATA:
		fuzz_check(r->m_proto == m->m_proto);
		fuzz_check(r->m_port == m->m_port);
		fuzz_check(r->m_tport == m->m_tport);
		fuzz_check(fuzz_streq(&r->m_addr, &m->m_addr));
		fuzz_check(fuzz_streq(&r->m_taddr, &m->m_taddr));
		break;
	case MSG_CONNECTOR:
		fuzz_check(r->m_op == m->m_op);
		break;
	default:
		break;
	}
	fuzz_check(memcmp(r->m_id, m->m_id, LS_CHANNEL_ID_LEN) == 0);
	fuzz_check(r->m_success == m->m_success);
	fuzz_check(fuzz_streq(&r->m_token, &m->m_token));
	fuzz_check(fuzz_streq(&r->m_error, &m->m_error));
	fuzz_check(r->m_datalen == m->m_datalen);
	fuzz_check(m->m_datalen == 0 ||
	    memcmp(r->m_data, m->m_data, m->m_datalen) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msg	 m, r;
	struct evbuffer	*out;
	uint8_t		*enc;
	size_t		 len;
	char		 err[256];

	if (msg_parse(&m, data, size, FUZZ_MAXINFLATE, err,
	    sizeof(err)) == -1) {
		fuzz_check(err[0] != '\0');
		fuzz_check(m.m_inflated == NULL);
		return (0);
	}
	fuzz_check(msg_typename(m.m_type) != NULL);
	fuzz_check(m.m_datalen <= FUZZ_MAXINFLATE || m.m_inflated == NULL);
	if ((out = evbuffer_new()) == NULL)
		abort();
	if (fuzz_encode(&m, out) == 0) {
		len = evbuffer_get_length(out);
		if ((enc = evbuffer_pullup(out, -1)) == NULL && len > 0)
			abort();
		if (msg_parse(&r, enc, len, FUZZ_MAXINFLATE, err,
		    sizeof(err)) == -1)
			abort();
		fuzz_compare(&m, &r);
		msg_free(&r);
	}
	evbuffer_free(out);
	msg_free(&m);
	return (0);
}
