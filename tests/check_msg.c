/*
 * check_msg.c -- unit tests for the message codec (src/msg.c): the
 * spec's appendix A vectors both ways, truncation at every offset,
 * every parse error text, string limits, version rule, gzip.
 */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <zlib.h>

#include "linksocks.h"
#include "lib/check_main.h"

#define CH_HEX	"00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff"
#define MAXINF	(1024u * 1024)

static const uint8_t ch[LS_CHANNEL_ID_LEN] = {
	0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
	0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff
};
static const uint8_t id2[LS_CHANNEL_ID_LEN] = {
	0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12
};

#define LOG_JSON \
	"{\"level\":\"debug\",\"msg\":\"linksocks_client_hello:direct_signaling=1\"}"

struct vec {
	const char	*v_name;
	const char	*v_hex;		/* "CH" expands to the channel id */
	int		(*v_enc)(struct evbuffer *);
	void		(*v_chk)(const struct msg *);
	size_t		 v_okprefix[2];	/* shorter lengths valid per spec */
	int		 v_opentail;	/* more bytes would be an ErrorLen */
};

static size_t	 hexbytes(const char *, uint8_t *, size_t);
static uint8_t	*flatten(struct evbuffer *, size_t *);
static int	 parse_copy(struct msg *, const uint8_t *, size_t, size_t,
		    char *, size_t);
static void	 assert_str(const struct msg_str *, const char *);
static void	 assert_parse_err(const char *, const char *);
static size_t	 gzip_buf(const uint8_t *, size_t, uint8_t *, size_t);
static size_t	 data_msg(uint8_t *, int, int, const uint8_t *, size_t);
static Suite	*msg_suite(void);

/* Parse "01 02 CH 0a" into bytes; returns the length. */
static size_t
hexbytes(const char *hex, uint8_t *out, size_t outlen)
{
	size_t		 n = 0;
	unsigned int	 b;

	while (*hex != '\0') {
		if (*hex == ' ') {
			hex++;
			continue;
		}
		if (strncmp(hex, "CH", 2) == 0) {
			ck_assert_uint_le(n + LS_CHANNEL_ID_LEN, outlen);
			memcpy(out + n, ch, LS_CHANNEL_ID_LEN);
			n += LS_CHANNEL_ID_LEN;
			hex += 2;
			continue;
		}
		ck_assert_int_eq(sscanf(hex, "%2x", &b), 1);
		ck_assert_uint_lt(n, outlen);
		out[n++] = (uint8_t)b;
		hex += 2;
	}
	return (n);
}

static uint8_t *
flatten(struct evbuffer *b, size_t *len)
{
	uint8_t	*p;

	*len = evbuffer_get_length(b);
	p = malloc(*len + 1);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(evbuffer_remove(b, p, *len), (int)*len);
	return (p);
}

/* Parse an exact-size heap copy so ASan sees any read past the end. */
static int
parse_copy(struct msg *m, const uint8_t *buf, size_t len, size_t maxinf,
    char *err, size_t errlen)
{
	static uint8_t	*keep;
	uint8_t		*p;

	free(keep);
	p = malloc(len > 0 ? len : 1);
	ck_assert_ptr_nonnull(p);
	if (len > 0)
		memcpy(p, buf, len);
	keep = p;	/* the parsed struct points into it */
	return (msg_parse(m, p, len, maxinf, err, errlen));
}

static void
assert_str(const struct msg_str *s, const char *want)
{
	ck_assert_uint_eq(s->len, strlen(want));
	if (s->len > 0)
		ck_assert_mem_eq(s->p, want, s->len);
}

static void
assert_parse_err(const char *hex, const char *want)
{
	uint8_t		 buf[1024];
	struct msg	 m;
	char		 err[256];
	size_t		 n;

	n = hexbytes(hex, buf, sizeof(buf));
	snprintf(err, sizeof(err), "untouched");
	ck_assert_msg(parse_copy(&m, buf, n, MAXINF, err, sizeof(err)) == -1,
	    "%s parsed", hex);
	ck_assert_str_eq(err, want);
	msg_free(&m);
}

/* ---- appendix A: encoders -------------------------------------------- */

static int enc_auth(struct evbuffer *b)
{ return (msg_put_auth(b, "abc", 0, ch)); }
static int enc_authresp_ok(struct evbuffer *b)
{ return (msg_put_auth_response(b, 1, NULL)); }
static int enc_authresp_fail(struct evbuffer *b)
{ return (msg_put_auth_response(b, 0, "invalid token")); }
static int enc_connect_tcp(struct evbuffer *b)
{ return (msg_put_connect(b, PROTO_TCP, ch, "example.com", 443)); }
static int enc_connect_udp(struct evbuffer *b)
{ return (msg_put_connect(b, PROTO_UDP, ch, NULL, 0)); }
static int enc_connresp_ok(struct evbuffer *b)
{ return (msg_put_connect_response(b, 1, ch, NULL)); }
static int enc_connresp_fail(struct evbuffer *b)
{ return (msg_put_connect_response(b, 0, ch, "x")); }
static int enc_data_tcp(struct evbuffer *b)
{ return (msg_put_data(b, ch, (const uint8_t *)"hi", 2)); }
static int enc_data_udp_out(struct evbuffer *b)
{ return (msg_put_data_udp(b, ch, (const uint8_t *)"q", 1, NULL, 0,
    "8.8.8.8", 53)); }
static int enc_data_udp_in(struct evbuffer *b)
{ return (msg_put_data_udp(b, ch, (const uint8_t *)"r", 1, "8.8.8.8", 53,
    "", 0)); }
static int enc_disc(struct evbuffer *b)
{ return (msg_put_disconnect(b, ch, NULL)); }
static int enc_disc_eof(struct evbuffer *b)
{ return (msg_put_disconnect(b, ch, "EOF")); }
static int enc_connector(struct evbuffer *b)
{ return (msg_put_connector(b, ch, "X", CONNECTOR_ADD)); }
static int enc_connector_ok(struct evbuffer *b)
{ return (msg_put_connector_response(b, ch, 1, "X")); }
static int enc_connector_fail(struct evbuffer *b)
{ return (msg_put_connector_response(b, ch, 0, "e")); }
static int enc_partners(struct evbuffer *b)
{ return (msg_put_partners(b, 1)); }
static int enc_log(struct evbuffer *b)
{ return (msg_put_log(b, "debug",
    "linksocks_client_hello:direct_signaling=1")); }

/* ---- appendix A: field checks ---------------------------------------- */

static void
chk_common(const struct msg *m, int type)
{
	ck_assert_uint_eq(m->m_version, 0x01);
	ck_assert_uint_eq(m->m_type, type);
	ck_assert_uint_eq(m->m_rawtype, type);
}

static void chk_auth(const struct msg *m)
{
	chk_common(m, MSG_AUTH);
	assert_str(&m->m_token, "abc");
	ck_assert_int_eq(m->m_reverse, 0);
	ck_assert_mem_eq(m->m_id, ch, 16);
}
static void chk_authresp_ok(const struct msg *m)
{
	chk_common(m, MSG_AUTH_RESPONSE);
	ck_assert_int_eq(m->m_success, 1);
	assert_str(&m->m_error, "");
}
static void chk_authresp_fail(const struct msg *m)
{
	chk_common(m, MSG_AUTH_RESPONSE);
	ck_assert_int_eq(m->m_success, 0);
	assert_str(&m->m_error, "invalid token");
}
static void chk_connect_tcp(const struct msg *m)
{
	chk_common(m, MSG_CONNECT);
	ck_assert_int_eq(m->m_proto, PROTO_TCP);
	ck_assert_mem_eq(m->m_id, ch, 16);
	assert_str(&m->m_addr, "example.com");
	ck_assert_uint_eq(m->m_port, 443);
}
static void chk_connect_udp(const struct msg *m)
{
	chk_common(m, MSG_CONNECT);
	ck_assert_int_eq(m->m_proto, PROTO_UDP);
	ck_assert_mem_eq(m->m_id, ch, 16);
	assert_str(&m->m_addr, "");
	ck_assert_uint_eq(m->m_port, 0);
}
static void chk_connresp_ok(const struct msg *m)
{
	chk_common(m, MSG_CONNECT_RESPONSE);
	ck_assert_int_eq(m->m_success, 1);
	ck_assert_mem_eq(m->m_id, ch, 16);
	assert_str(&m->m_error, "");
}
static void chk_connresp_fail(const struct msg *m)
{
	chk_common(m, MSG_CONNECT_RESPONSE);
	ck_assert_int_eq(m->m_success, 0);
	ck_assert_mem_eq(m->m_id, ch, 16);
	assert_str(&m->m_error, "x");
}
static void chk_data_tcp(const struct msg *m)
{
	chk_common(m, MSG_DATA);
	ck_assert_int_eq(m->m_proto, PROTO_TCP);
	ck_assert_mem_eq(m->m_id, ch, 16);
	ck_assert_int_eq(m->m_compression, 0);
	ck_assert_uint_eq(m->m_datalen, 2);
	ck_assert_mem_eq(m->m_data, "hi", 2);
	ck_assert_ptr_null(m->m_inflated);
	assert_str(&m->m_addr, "");
	assert_str(&m->m_taddr, "");
}
static void chk_data_udp_out(const struct msg *m)
{
	chk_common(m, MSG_DATA);
	ck_assert_int_eq(m->m_proto, PROTO_UDP);
	ck_assert_mem_eq(m->m_id, ch, 16);
	ck_assert_int_eq(m->m_compression, 0);
	ck_assert_uint_eq(m->m_datalen, 1);
	ck_assert_mem_eq(m->m_data, "q", 1);
	assert_str(&m->m_addr, "");
	ck_assert_uint_eq(m->m_port, 0);
	assert_str(&m->m_taddr, "8.8.8.8");
	ck_assert_uint_eq(m->m_tport, 53);
}
static void chk_data_udp_in(const struct msg *m)
{
	chk_common(m, MSG_DATA);
	ck_assert_int_eq(m->m_proto, PROTO_UDP);
	ck_assert_uint_eq(m->m_datalen, 1);
	ck_assert_mem_eq(m->m_data, "r", 1);
	assert_str(&m->m_addr, "8.8.8.8");
	ck_assert_uint_eq(m->m_port, 53);
	assert_str(&m->m_taddr, "");
	ck_assert_uint_eq(m->m_tport, 0);
}
static void chk_disc(const struct msg *m)
{
	chk_common(m, MSG_DISCONNECT);
	ck_assert_mem_eq(m->m_id, ch, 16);
	assert_str(&m->m_error, "");
}
static void chk_disc_eof(const struct msg *m)
{
	chk_common(m, MSG_DISCONNECT);
	ck_assert_mem_eq(m->m_id, ch, 16);
	assert_str(&m->m_error, "EOF");
}
static void chk_connector(const struct msg *m)
{
	chk_common(m, MSG_CONNECTOR);
	ck_assert_mem_eq(m->m_id, ch, 16);
	assert_str(&m->m_token, "X");
	ck_assert_int_eq(m->m_op, CONNECTOR_ADD);
}
static void chk_connector_ok(const struct msg *m)
{
	chk_common(m, MSG_CONNECTOR_RESPONSE);
	ck_assert_mem_eq(m->m_id, ch, 16);
	ck_assert_int_eq(m->m_success, 1);
	assert_str(&m->m_token, "X");
	assert_str(&m->m_error, "");
}
static void chk_connector_fail(const struct msg *m)
{
	chk_common(m, MSG_CONNECTOR_RESPONSE);
	ck_assert_mem_eq(m->m_id, ch, 16);
	ck_assert_int_eq(m->m_success, 0);
	assert_str(&m->m_error, "e");
	assert_str(&m->m_token, "");
}
static void chk_partners(const struct msg *m)
{
	chk_common(m, MSG_PARTNERS);
	assert_str(&m->m_json, "{\"count\":1}");
}
static void chk_log(const struct msg *m)
{
	chk_common(m, MSG_LOG);
	ck_assert_uint_eq(m->m_json.len, 67);
	assert_str(&m->m_json, LOG_JSON);
}

static const struct vec vecs[] = {
	{ "auth", "01 01 03 61 62 63 00 CH", enc_auth, chk_auth, { 0 }, 0 },
	{ "authresp ok", "01 02 01", enc_authresp_ok, chk_authresp_ok,
	    { 0 }, 0 },
	{ "authresp fail", "01 02 00 0d 69 6e 76 61 6c 69 64 20 74 6f 6b 65 6e",
	    enc_authresp_fail, chk_authresp_fail, { 3 }, 0 },
	{ "connect tcp", "01 03 01 CH 0b 65 78 61 6d 70 6c 65 2e 63 6f 6d 01 bb",
	    enc_connect_tcp, chk_connect_tcp, { 0 }, 0 },
	{ "connect udp", "01 03 02 CH", enc_connect_udp, chk_connect_udp,
	    { 0 }, 0 },
	{ "connresp ok", "01 05 01 CH", enc_connresp_ok, chk_connresp_ok,
	    { 0 }, 0 },
	{ "connresp fail", "01 05 00 CH 01 78", enc_connresp_fail,
	    chk_connresp_fail, { 0 }, 0 },
	{ "data tcp", "01 04 01 CH 00 00 00 00 02 68 69", enc_data_tcp,
	    chk_data_tcp, { 0 }, 0 },
	{ "data udp out", "01 04 02 CH 00 00 00 00 01 71 00 00 00 07 38 2e 38 "
	    "2e 38 2e 38 00 35", enc_data_udp_out, chk_data_udp_out, { 0 }, 0 },
	{ "data udp in", "01 04 02 CH 00 00 00 00 01 72 07 38 2e 38 2e 38 2e "
	    "38 00 35 00 00 00", enc_data_udp_in, chk_data_udp_in, { 0 }, 0 },
	{ "disconnect", "01 06 CH", enc_disc, chk_disc, { 0 }, 1 },
	{ "disconnect EOF", "01 06 CH 03 45 4f 46", enc_disc_eof, chk_disc_eof,
	    { 18 }, 0 },
	{ "connector add", "01 07 CH 01 58 01", enc_connector, chk_connector,
	    { 0 }, 0 },
	{ "connector resp ok", "01 08 CH 01 01 58", enc_connector_ok,
	    chk_connector_ok, { 19 }, 0 },
	{ "connector resp fail", "01 08 CH 00 01 65", enc_connector_fail,
	    chk_connector_fail, { 0 }, 0 },
	{ "partners", "01 0a 00 00 00 0b 7b 22 63 6f 75 6e 74 22 3a 31 7d",
	    enc_partners, chk_partners, { 0 }, 0 },
	{ "log", NULL, enc_log, chk_log, { 0 }, 0 },
};

/* The Log vector is 01 09 00 00 00 43 + the JSON text. */
static size_t
vec_bytes(const struct vec *v, uint8_t *buf, size_t len)
{
	size_t	 n;

	if (v->v_hex != NULL)
		return (hexbytes(v->v_hex, buf, len));
	n = hexbytes("01 09 00 00 00 43", buf, len);
	memcpy(buf + n, LOG_JSON, strlen(LOG_JSON));
	return (n + strlen(LOG_JSON));
}

START_TEST(test_vector_encode)
{
	const struct vec	*v = &vecs[_i];
	struct evbuffer		*b;
	uint8_t			 want[512], *got;
	size_t			 wl, gl;

	wl = vec_bytes(v, want, sizeof(want));
	b = evbuffer_new();
	ck_assert_int_eq(v->v_enc(b), 0);
	got = flatten(b, &gl);
	ck_assert_msg(gl == wl, "%s: length %zu, want %zu", v->v_name, gl, wl);
	ck_assert_mem_eq(got, want, wl);
	free(got);
	evbuffer_free(b);
}
END_TEST

START_TEST(test_vector_parse)
{
	const struct vec	*v = &vecs[_i];
	struct msg		 m;
	uint8_t			 buf[512];
	char			 err[256];
	size_t			 n;

	n = vec_bytes(v, buf, sizeof(buf));
	ck_assert_msg(parse_copy(&m, buf, n, MAXINF, err, sizeof(err)) == 0,
	    "%s: %s", v->v_name, err);
	v->v_chk(&m);
	msg_free(&m);

	/* Trailing bytes after a full body are ignored. */
	if (v->v_opentail)
		return;
	buf[n] = 0xaa;
	buf[n + 1] = 0x55;
	ck_assert_int_eq(parse_copy(&m, buf, n + 2, MAXINF, err,
	    sizeof(err)), 0);
	v->v_chk(&m);
	msg_free(&m);
}
END_TEST

START_TEST(test_vector_truncate)
{
	const struct vec	*v = &vecs[_i];
	struct msg		 m;
	uint8_t			 buf[512];
	char			 err[256];
	size_t			 n, len, k;
	int			 okprefix, rc;

	n = vec_bytes(v, buf, sizeof(buf));
	for (len = 0; len < n; len++) {
		okprefix = 0;
		for (k = 0; k < LS_NITEMS(v->v_okprefix); k++)
			if (v->v_okprefix[k] != 0 && v->v_okprefix[k] == len)
				okprefix = 1;
		err[0] = '\0';
		rc = parse_copy(&m, buf, len, MAXINF, err, sizeof(err));
		ck_assert_msg(rc == (okprefix ? 0 : -1),
		    "%s truncated to %zu: rc %d", v->v_name, len, rc);
		if (rc == -1)
			ck_assert_msg(err[0] != '\0', "%s/%zu: no error text",
			    v->v_name, len);
		if (len < 2)
			ck_assert_str_eq(err, "message too short");
		msg_free(&m);
	}
}
END_TEST

/* The spec-valid prefixes, field by field. */
START_TEST(test_valid_prefixes)
{
	struct msg	 m;
	uint8_t		 buf[64];
	size_t		 n;

	n = hexbytes("01 02 00 0d 69", buf, sizeof(buf));
	ck_assert_int_eq(parse_copy(&m, buf, 3, MAXINF, NULL, 0), 0);
	ck_assert_int_eq(m.m_type, MSG_AUTH_RESPONSE);
	ck_assert_int_eq(m.m_success, 0);
	assert_str(&m.m_error, "");
	ck_assert_int_eq(parse_copy(&m, buf, n, MAXINF, NULL, 0), -1);

	n = hexbytes("01 06 CH 03 45 4f 46", buf, sizeof(buf));
	ck_assert_int_eq(parse_copy(&m, buf, 18, MAXINF, NULL, 0), 0);
	ck_assert_int_eq(m.m_type, MSG_DISCONNECT);
	ck_assert_mem_eq(m.m_id, ch, 16);
	assert_str(&m.m_error, "");

	n = hexbytes("01 08 CH 01 01 58", buf, sizeof(buf));
	ck_assert_int_eq(parse_copy(&m, buf, 19, MAXINF, NULL, 0), 0);
	ck_assert_int_eq(m.m_type, MSG_CONNECTOR_RESPONSE);
	ck_assert_int_eq(m.m_success, 1);
	assert_str(&m.m_token, "");
	ck_assert_int_eq(parse_copy(&m, buf, n, MAXINF, NULL, 0), 0);
	assert_str(&m.m_token, "X");

	/* ErrorLen 0 after a Disconnect is accepted. */
	n = hexbytes("01 06 CH 00", buf, sizeof(buf));
	ck_assert_int_eq(parse_copy(&m, buf, n, MAXINF, NULL, 0), 0);
	assert_str(&m.m_error, "");
}
END_TEST

/* ---- parse errors ------------------------------------------------------ */

START_TEST(test_parse_errors)
{
	assert_parse_err("", "message too short");
	assert_parse_err("01", "message too short");
	assert_parse_err("01 01", "invalid auth message");
	assert_parse_err("01 01 05 61 00 " CH_HEX,
	    "invalid auth message length");
	assert_parse_err("01 01 00 00 00 11 22", "invalid auth message length");
	assert_parse_err("01 02", "invalid auth response message");
	assert_parse_err("01 02 00 02 41", "invalid auth response error length");
	assert_parse_err("01 03 01", "invalid connect message");
	assert_parse_err("01 03 01 CH", "invalid tcp connect message");
	assert_parse_err("01 03 01 CH 01 41 00",
	    "invalid tcp connect message length");
	assert_parse_err("01 04 01 CH 00 00 00 00",
	    "invalid data message");
	assert_parse_err("01 04 01 CH 00 00 00 00 03 41 42",
	    "invalid data message length");
	assert_parse_err("01 04 01 CH 00 ff ff ff ff 41 42",
	    "invalid data message length");
	assert_parse_err("01 04 02 CH 00 00 00 00 01 71",
	    "invalid udp data message");
	assert_parse_err("01 04 02 CH 00 00 00 00 01 71 01 41 00",
	    "invalid udp data message length");
	assert_parse_err("01 04 02 CH 00 00 00 00 01 71 00 00 00",
	    "invalid udp data message target address");
	assert_parse_err("01 04 02 CH 00 00 00 00 01 71 00 00 00 02 41 42 00",
	    "invalid udp data message target address");
	assert_parse_err("01 05 00", "invalid connect response message");
	assert_parse_err("01 05 00 CH", "invalid connect response error length");
	assert_parse_err("01 05 00 CH 02 41",
	    "invalid connect response message length");
	assert_parse_err("01 06 00 11 22", "invalid disconnect message");
	assert_parse_err("01 06 CH 02 41",
	    "invalid disconnect message error length");
	assert_parse_err("01 07 CH", "invalid connector message");
	assert_parse_err("01 07 CH 01 58", "invalid connector message length");
	assert_parse_err("01 07 CH 00 03", "invalid operation type");
	assert_parse_err("01 07 CH 01 58 00", "invalid operation type");
	assert_parse_err("01 08 CH", "invalid connector response message");
	assert_parse_err("01 08 CH 00",
	    "invalid connector response error length");
	assert_parse_err("01 08 CH 00 02 41",
	    "invalid connector response message length");
	assert_parse_err("01 08 CH 01 02 41",
	    "invalid connector response token length");
	assert_parse_err("01 09 00 00 00", "invalid log message");
	assert_parse_err("01 09 00 00 00 02 7b", "invalid log message length");
	assert_parse_err("01 0a 00 00 00", "invalid partners message");
	assert_parse_err("01 0a 00 00 01 00 7b",
	    "invalid partners message length");
	assert_parse_err("01 0b 00", "invalid direct capabilities message");
	assert_parse_err("01 0c 00 00 00 05 7b",
	    "invalid direct rendezvous message length");
	assert_parse_err("01 0d", "invalid direct status message");
}
END_TEST

START_TEST(test_parse_json)
{
	struct msg	 m;
	uint8_t		 buf[256];
	char		 err[256];
	size_t		 n;

	/* Log/Partners bodies must decode like the reference's structs. */
	n = hexbytes("01 09 00 00 00 03 7b 7b 7d", buf, sizeof(buf));
	ck_assert_int_eq(parse_copy(&m, buf, n, MAXINF, err, sizeof(err)),
	    -1);
	ck_assert_msg(strncmp(err, "failed to unmarshal log message: ",
	    33) == 0, "%s", err);
	/* {"count":"x"} */
	n = hexbytes("01 0a 00 00 00 0d 7b 22 63 6f 75 6e 74 22 3a 22 78 22 "
	    "7d", buf, sizeof(buf));
	ck_assert_int_eq(parse_copy(&m, buf, n, MAXINF, err, sizeof(err)),
	    -1);
	ck_assert_msg(strncmp(err, "failed to unmarshal partners message: ",
	    38) == 0, "%s", err);
	/* [] is not an object */
	n = hexbytes("01 0a 00 00 00 02 5b 5d", buf, sizeof(buf));
	ck_assert_int_eq(parse_copy(&m, buf, n, MAXINF, NULL, 0), -1);
	/* null and unknown fields are fine; a Level key with case differs */
	n = hexbytes("01 09 00 00 00 04 6e 75 6c 6c", buf, sizeof(buf));
	ck_assert_int_eq(parse_copy(&m, buf, n, MAXINF, NULL, 0), 0);
	assert_str(&m.m_json, "null");
	n = hexbytes("01 09 00 00 00 0b 7b 22 4c 45 56 45 4c 22 3a 31 7d",
	    buf, sizeof(buf));
	ck_assert_int_eq(parse_copy(&m, buf, n, MAXINF, NULL, 0), -1);
	n = hexbytes("01 09 00 00 00 07 7b 22 78 22 3a 31 7d", buf,
	    sizeof(buf));
	ck_assert_int_eq(parse_copy(&m, buf, n, MAXINF, NULL, 0), 0);
	/* invalid UTF-8 inside a string is accepted, like the reference */
	n = hexbytes("01 09 00 00 00 0b 7b 22 6d 73 67 22 3a 22 ff 22 7d",
	    buf, sizeof(buf));
	ck_assert_int_eq(parse_copy(&m, buf, n, MAXINF, NULL, 0), 0);
	/* Direct messages are not decoded: any bytes pass. */
	n = hexbytes("01 0b 00 00 00 02 7b 7b", buf, sizeof(buf));
	ck_assert_int_eq(parse_copy(&m, buf, n, MAXINF, NULL, 0), 0);
	ck_assert_int_eq(m.m_type, MSG_DIRECT_CAPS);
	assert_str(&m.m_json, "{{");
	n = hexbytes("01 0d 00 00 00 00", buf, sizeof(buf));
	ck_assert_int_eq(parse_copy(&m, buf, n, MAXINF, NULL, 0), 0);
	ck_assert_int_eq(m.m_type, MSG_DIRECT_STATUS);
	ck_assert_uint_eq(m.m_json.len, 0);
}
END_TEST

/* ---- version and unknown types ----------------------------------------- */

START_TEST(test_version)
{
	struct msg	 m;
	uint8_t		 buf[64];
	char		 err[256];
	size_t		 n;

	n = hexbytes("11 06 CH", buf, sizeof(buf));
	ck_assert_int_eq(parse_copy(&m, buf, n, MAXINF, err, sizeof(err)),
	    -1);
	ck_assert_str_eq(err, "unsupported protocol major version: peer=0x11 "
	    "(major=1 minor=1) local=0x01 (major=0 minor=1)");
	n = hexbytes("21 01 00 00 " CH_HEX, buf, sizeof(buf));
	ck_assert_int_eq(parse_copy(&m, buf, n, MAXINF, err, sizeof(err)),
	    -1);
	ck_assert_str_eq(err, "unsupported protocol major version: peer=0x21 "
	    "(major=2 minor=1) local=0x01 (major=0 minor=1)");
	/* Version is checked before the type. */
	n = hexbytes("f0 ee", buf, sizeof(buf));
	ck_assert_int_eq(parse_copy(&m, buf, n, MAXINF, err, sizeof(err)),
	    -1);
	ck_assert_str_eq(err, "unsupported protocol major version: peer=0xf0 "
	    "(major=15 minor=0) local=0x01 (major=0 minor=1)");

	/* Any minor value is accepted. */
	n = hexbytes("0f 06 CH", buf, sizeof(buf));
	ck_assert_int_eq(parse_copy(&m, buf, n, MAXINF, err, sizeof(err)), 0);
	ck_assert_uint_eq(m.m_version, 0x0f);
	ck_assert_int_eq(m.m_type, MSG_DISCONNECT);
	ck_assert_mem_eq(m.m_id, ch, 16);
	n = hexbytes("00 02 01", buf, sizeof(buf));
	ck_assert_int_eq(parse_copy(&m, buf, n, MAXINF, err, sizeof(err)), 0);
	ck_assert_int_eq(m.m_type, MSG_AUTH_RESPONSE);
}
END_TEST

START_TEST(test_unknown_types)
{
	static const uint8_t	 types[] = { 0x00, 0x0e, 0x0f, 0x7f, 0xff };
	struct msg		 m;
	uint8_t			 buf[8];
	size_t			 i;

	for (i = 0; i < LS_NITEMS(types); i++) {
		buf[0] = 0x01;
		buf[1] = types[i];
		buf[2] = 0xab;
		ck_assert_int_eq(parse_copy(&m, buf, 2, MAXINF, NULL, 0), 0);
		ck_assert_int_eq(m.m_type, MSG_UNKNOWN);
		ck_assert_uint_eq(m.m_rawtype, types[i]);
		ck_assert_int_eq(parse_copy(&m, buf, 3, MAXINF, NULL, 0), 0);
		ck_assert_uint_eq(m.m_rawtype, types[i]);
	}
	ck_assert_str_eq(msg_typename(MSG_AUTH), "Auth");
	ck_assert_str_eq(msg_typename(MSG_DATA), "Data");
	ck_assert_str_eq(msg_typename(MSG_CONNECTOR_RESPONSE),
	    "ConnectorResponse");
	ck_assert_str_eq(msg_typename(MSG_DIRECT_STATUS), "DirectStatus");
	ck_assert_str_eq(msg_typename(MSG_UNKNOWN), "unknown");
	ck_assert_str_eq(msg_typename(0x0e), "unknown");
	ck_assert_str_eq(msg_typename(-1), "unknown");
	ck_assert_str_eq(msg_typename(0xff), "unknown");
}
END_TEST

/* Extension 0xF1 (doc/protocol-extensions.md): ChannelID, u32. */
START_TEST(test_window)
{
	struct evbuffer	*b = evbuffer_new();
	struct msg	 m;
	uint8_t		 want[64], *got;
	size_t		 n, len, i;
	char		 err[256];

	ck_assert_int_eq(msg_put_window(b, ch, 0x01020304), 0);
	got = flatten(b, &len);
	n = hexbytes("01 f1 CH 01 02 03 04", want, sizeof(want));
	ck_assert_uint_eq(len, n);
	ck_assert_mem_eq(got, want, n);
	ck_assert_int_eq(parse_copy(&m, got, len, MAXINF, err, sizeof(err)),
	    0);
	ck_assert_int_eq(m.m_type, MSG_WINDOW);
	ck_assert_mem_eq(m.m_id, ch, LS_CHANNEL_ID_LEN);
	ck_assert_uint_eq(m.m_window, 0x01020304);
	/* Every shorter message is refused. */
	for (i = 2; i < len; i++) {
		ck_assert_int_eq(parse_copy(&m, got, i, MAXINF, err,
		    sizeof(err)), -1);
		ck_assert_str_eq(err, "invalid window message");
	}
	/* Trailing bytes are ignored, as for every message. */
	memcpy(want, got, len);
	want[len] = 0xee;
	ck_assert_int_eq(parse_copy(&m, want, len + 1, MAXINF, err,
	    sizeof(err)), 0);
	/* An increment of 0 means nothing and is refused both ways. */
	n = hexbytes("01 f1 CH 00 00 00 00", want, sizeof(want));
	ck_assert_int_eq(parse_copy(&m, want, n, MAXINF, err, sizeof(err)),
	    -1);
	ck_assert_int_eq(msg_put_window(b, ch, 0), -1);
	ck_assert_uint_eq(evbuffer_get_length(b), 0);
	ck_assert_str_eq(msg_typename(MSG_WINDOW), "Window");
	free(got);
	evbuffer_free(b);
}
END_TEST


/* ---- primitives ----------------------------------------------------------- */

START_TEST(test_bool_and_proto)
{
	struct msg	 m;
	uint8_t		 buf[64];
	size_t		 n;

	n = hexbytes("01 01 00 02 CH", buf, sizeof(buf));
	ck_assert_int_eq(parse_copy(&m, buf, n, MAXINF, NULL, 0), 0);
	ck_assert_int_eq(m.m_reverse, 1);
	n = hexbytes("01 02 80", buf, sizeof(buf));
	ck_assert_int_eq(parse_copy(&m, buf, n, MAXINF, NULL, 0), 0);
	ck_assert_int_eq(m.m_success, 1);
	n = hexbytes("01 05 ff CH", buf, sizeof(buf));
	ck_assert_int_eq(parse_copy(&m, buf, n, MAXINF, NULL, 0), 0);
	ck_assert_int_eq(m.m_success, 1);
	/* Unknown protocol byte: Connect parses, without an address. */
	n = hexbytes("01 03 03 CH 0b 65 78", buf, sizeof(buf));
	ck_assert_int_eq(parse_copy(&m, buf, n, MAXINF, NULL, 0), 0);
	ck_assert_int_eq(m.m_proto, PROTO_NONE);
	ck_assert_mem_eq(m.m_id, ch, 16);
	assert_str(&m.m_addr, "");
	n = hexbytes("01 03 00 CH", buf, sizeof(buf));
	ck_assert_int_eq(parse_copy(&m, buf, n, MAXINF, NULL, 0), 0);
	ck_assert_int_eq(m.m_proto, PROTO_NONE);
	/* Data: unknown protocol carries no UDP suffix; unknown
	 * compression is raw. */
	n = hexbytes("01 04 07 CH 05 00 00 00 02 68 69", buf, sizeof(buf));
	ck_assert_int_eq(parse_copy(&m, buf, n, MAXINF, NULL, 0), 0);
	ck_assert_int_eq(m.m_proto, PROTO_NONE);
	ck_assert_int_eq(m.m_compression, 5);
	ck_assert_uint_eq(m.m_datalen, 2);
	ck_assert_mem_eq(m.m_data, "hi", 2);
	ck_assert_ptr_null(m.m_inflated);
	/* Zero-length TCP Data is accepted. */
	n = hexbytes("01 04 01 CH 00 00 00 00 00", buf, sizeof(buf));
	ck_assert_int_eq(parse_copy(&m, buf, n, MAXINF, NULL, 0), 0);
	ck_assert_uint_eq(m.m_datalen, 0);
	/* Connector remove with an empty token. */
	n = hexbytes("01 07 CH 00 02", buf, sizeof(buf));
	ck_assert_int_eq(parse_copy(&m, buf, n, MAXINF, NULL, 0), 0);
	ck_assert_int_eq(m.m_op, CONNECTOR_REMOVE);
	assert_str(&m.m_token, "");
}
END_TEST

/* ---- round trips -------------------------------------------------------- */

static uint8_t *
enc_parse(struct evbuffer *b, struct msg *m, size_t *len)
{
	uint8_t	*p;
	char	 err[256];

	p = flatten(b, len);
	ck_assert_msg(msg_parse(m, p, *len, MAXINF, err, sizeof(err)) == 0,
	    "%s", err);
	ck_assert_uint_eq(m->m_version, LS_PROTO_VERSION);
	return (p);
}

START_TEST(test_roundtrip)
{
	struct evbuffer	*b = evbuffer_new();
	struct msg	 m;
	uint8_t		*p;
	size_t		 n;

	ck_assert_int_eq(msg_put_auth(b, "tok\xff\x01", 1, id2), 0);
	p = enc_parse(b, &m, &n);
	ck_assert_int_eq(m.m_type, MSG_AUTH);
	assert_str(&m.m_token, "tok\xff\x01");
	ck_assert_int_eq(m.m_reverse, 1);
	ck_assert_mem_eq(m.m_id, id2, 16);
	free(p);

	ck_assert_int_eq(msg_put_auth(b, NULL, 7, id2), 0);
	p = enc_parse(b, &m, &n);
	ck_assert_uint_eq(n, 20);
	ck_assert_uint_eq(p[3], 1);	/* bool written as 0x01 */
	assert_str(&m.m_token, "");
	free(p);

	ck_assert_int_eq(msg_put_auth_response(b, 0, ""), 0);
	p = enc_parse(b, &m, &n);
	ck_assert_uint_eq(n, 4);	/* failure always has ErrorLen */
	ck_assert_uint_eq(p[3], 0);
	ck_assert_int_eq(m.m_success, 0);
	free(p);

	ck_assert_int_eq(msg_put_auth_response(b, 1, "ignored"), 0);
	p = enc_parse(b, &m, &n);
	ck_assert_uint_eq(n, 3);
	free(p);

	ck_assert_int_eq(msg_put_connect(b, PROTO_TCP, id2, "2001:db8::1",
	    65535), 0);
	p = enc_parse(b, &m, &n);
	ck_assert_int_eq(m.m_type, MSG_CONNECT);
	ck_assert_int_eq(m.m_proto, PROTO_TCP);
	ck_assert_mem_eq(m.m_id, id2, 16);
	assert_str(&m.m_addr, "2001:db8::1");
	ck_assert_uint_eq(m.m_port, 65535);
	free(p);

	ck_assert_int_eq(msg_put_connect_response(b, 0, id2, NULL), 0);
	p = enc_parse(b, &m, &n);
	ck_assert_uint_eq(n, 20);
	ck_assert_int_eq(m.m_success, 0);
	ck_assert_mem_eq(m.m_id, id2, 16);
	assert_str(&m.m_error, "");
	free(p);

	ck_assert_int_eq(msg_put_connect_response(b, 1, id2, "x"), 0);
	p = enc_parse(b, &m, &n);
	ck_assert_uint_eq(n, 19);
	free(p);

	ck_assert_int_eq(msg_put_disconnect(b, id2, ""), 0);
	p = enc_parse(b, &m, &n);
	ck_assert_uint_eq(n, 18);
	ck_assert_int_eq(m.m_type, MSG_DISCONNECT);
	ck_assert_mem_eq(m.m_id, id2, 16);
	free(p);

	ck_assert_int_eq(msg_put_connector(b, id2, "", CONNECTOR_REMOVE), 0);
	p = enc_parse(b, &m, &n);
	ck_assert_uint_eq(n, 20);
	ck_assert_int_eq(m.m_op, CONNECTOR_REMOVE);
	assert_str(&m.m_token, "");
	free(p);

	ck_assert_int_eq(msg_put_connector_response(b, id2, 1, NULL), 0);
	p = enc_parse(b, &m, &n);
	ck_assert_uint_eq(n, 19);	/* success without a token */
	ck_assert_int_eq(m.m_success, 1);
	free(p);

	ck_assert_int_eq(msg_put_connector_response(b, id2, 1, ""), 0);
	p = enc_parse(b, &m, &n);
	ck_assert_uint_eq(n, 19);
	free(p);

	ck_assert_int_eq(msg_put_connector_response(b, id2, 0, NULL), 0);
	p = enc_parse(b, &m, &n);
	ck_assert_uint_eq(n, 20);
	ck_assert_int_eq(m.m_success, 0);
	free(p);

	ck_assert_int_eq(msg_put_data_udp(b, id2, (const uint8_t *)"", 0,
	    "::1", 1, "example.org", 2), 0);
	p = enc_parse(b, &m, &n);
	ck_assert_int_eq(m.m_proto, PROTO_UDP);
	ck_assert_uint_eq(m.m_datalen, 0);
	assert_str(&m.m_addr, "::1");
	ck_assert_uint_eq(m.m_port, 1);
	assert_str(&m.m_taddr, "example.org");
	ck_assert_uint_eq(m.m_tport, 2);
	free(p);

	ck_assert_int_eq(msg_put_data(b, id2, NULL, 0), 0);
	p = enc_parse(b, &m, &n);
	ck_assert_uint_eq(n, 24);
	ck_assert_uint_eq(m.m_datalen, 0);
	free(p);

	ck_assert_int_eq(msg_put_partners(b, 12345), 0);
	p = enc_parse(b, &m, &n);
	ck_assert_int_eq(m.m_type, MSG_PARTNERS);
	assert_str(&m.m_json, "{\"count\":12345}");
	free(p);

	ck_assert_int_eq(msg_put_log(b, "warn", "a\"b\n<\xff>"), 0);
	p = enc_parse(b, &m, &n);
	ck_assert_int_eq(m.m_type, MSG_LOG);
	assert_str(&m.m_json,
	    "{\"level\":\"warn\",\"msg\":\"a\\\"b\\n<\xef\xbf\xbd>\"}");
	free(p);

	ck_assert_int_eq(msg_put_log(b, NULL, NULL), 0);
	p = enc_parse(b, &m, &n);
	assert_str(&m.m_json, "{\"level\":\"\",\"msg\":\"\"}");
	free(p);

	ck_assert_uint_eq(evbuffer_get_length(b), 0);
	evbuffer_free(b);
}
END_TEST

START_TEST(test_encode_rejects)
{
	struct evbuffer	*b = evbuffer_new();

	ck_assert_int_eq(msg_put_connect(b, PROTO_NONE, ch, "a", 1), -1);
	ck_assert_int_eq(msg_put_connect(b, 3, ch, "a", 1), -1);
	ck_assert_int_eq(msg_put_connector(b, ch, "a", 0), -1);
	ck_assert_int_eq(msg_put_connector(b, ch, "a", 3), -1);
	ck_assert_uint_eq(evbuffer_get_length(b), 0);
	evbuffer_free(b);
}
END_TEST

/* ---- string limits (P-17) ---------------------------------------------- */

START_TEST(test_string_limits)
{
	struct evbuffer	*b = evbuffer_new();
	struct msg	 m;
	char		 s255[256], s256[257], s300[301], cut[301];
	uint8_t		*p;
	size_t		 n;

	memset(s255, 'a', 255);
	s255[255] = '\0';
	memset(s256, 'b', 256);
	s256[256] = '\0';
	memset(s300, 'c', 300);
	s300[300] = '\0';

	/* Tokens and addresses over 255 bytes cannot be sent. */
	ck_assert_int_eq(msg_put_auth(b, s256, 0, ch), -1);
	ck_assert_int_eq(msg_put_connect(b, PROTO_TCP, ch, s256, 1), -1);
	ck_assert_int_eq(msg_put_connector(b, ch, s256, CONNECTOR_ADD), -1);
	ck_assert_int_eq(msg_put_connector_response(b, ch, 1, s256), -1);
	ck_assert_int_eq(msg_put_data_udp(b, ch, NULL, 0, s256, 1, "", 0),
	    -1);
	ck_assert_int_eq(msg_put_data_udp(b, ch, NULL, 0, "", 1, s256, 0),
	    -1);
	ck_assert_uint_eq(evbuffer_get_length(b), 0);

	/* 255 bytes is fine. */
	ck_assert_int_eq(msg_put_auth(b, s255, 0, ch), 0);
	p = enc_parse(b, &m, &n);
	ck_assert_uint_eq(n, 2 + 1 + 255 + 1 + 16);
	assert_str(&m.m_token, s255);
	free(p);
	ck_assert_int_eq(msg_put_connect(b, PROTO_TCP, ch, s255, 9), 0);
	p = enc_parse(b, &m, &n);
	assert_str(&m.m_addr, s255);
	ck_assert_uint_eq(m.m_port, 9);
	free(p);
	ck_assert_int_eq(msg_put_data_udp(b, ch, (const uint8_t *)"z", 1,
	    s255, 1, s255, 2), 0);
	p = enc_parse(b, &m, &n);
	assert_str(&m.m_addr, s255);
	assert_str(&m.m_taddr, s255);
	ck_assert_uint_eq(m.m_tport, 2);
	free(p);

	/* Error texts are cut to 255 bytes. */
	memcpy(cut, s300, 255);
	cut[255] = '\0';
	ck_assert_int_eq(msg_put_auth_response(b, 0, s300), 0);
	p = enc_parse(b, &m, &n);
	ck_assert_uint_eq(n, 4 + 255);
	ck_assert_uint_eq(p[3], 255);
	assert_str(&m.m_error, cut);
	free(p);
	ck_assert_int_eq(msg_put_connect_response(b, 0, ch, s300), 0);
	p = enc_parse(b, &m, &n);
	ck_assert_uint_eq(n, 20 + 255);
	assert_str(&m.m_error, cut);
	free(p);
	ck_assert_int_eq(msg_put_disconnect(b, ch, s300), 0);
	p = enc_parse(b, &m, &n);
	ck_assert_uint_eq(n, 19 + 255);
	assert_str(&m.m_error, cut);
	free(p);
	ck_assert_int_eq(msg_put_connector_response(b, ch, 0, s300), 0);
	p = enc_parse(b, &m, &n);
	ck_assert_uint_eq(n, 20 + 255);
	assert_str(&m.m_error, cut);
	free(p);

	/* The cut does not split a UTF-8 sequence: 254 x 'c' + U+00E9. */
	memset(s300, 'c', 254);
	memcpy(s300 + 254, "\xc3\xa9zz", 5);
	ck_assert_int_eq(msg_put_disconnect(b, ch, s300), 0);
	p = enc_parse(b, &m, &n);
	ck_assert_uint_eq(m.m_error.len, 254);
	free(p);

	evbuffer_free(b);
}
END_TEST

/* ---- gzip ------------------------------------------------------------------ */

static size_t
gzip_buf(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen)
{
	z_stream	 z;

	memset(&z, 0, sizeof(z));
	ck_assert_int_eq(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8,
	    Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)inlen;
	z.next_out = out;
	z.avail_out = (uInt)outlen;
	ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
	deflateEnd(&z);
	return (outlen - z.avail_out);
}

/* A Data message around an arbitrary (compressed) body. */
static size_t
data_msg(uint8_t *out, int proto, int comp, const uint8_t *body, size_t len)
{
	out[0] = 0x01;
	out[1] = MSG_DATA;
	out[2] = (uint8_t)proto;
	memcpy(out + 3, ch, 16);
	out[19] = (uint8_t)comp;
	out[20] = (uint8_t)(len >> 24);
	out[21] = (uint8_t)(len >> 16);
	out[22] = (uint8_t)(len >> 8);
	out[23] = (uint8_t)len;
	memcpy(out + 24, body, len);
	return (24 + len);
}

static uint8_t *
payload(size_t len)
{
	uint8_t		*p = malloc(len);
	uint32_t	 x = 12345;
	size_t		 i;

	ck_assert_ptr_nonnull(p);
	/* Compressible but not trivial: text-like bytes. */
	for (i = 0; i < len; i++) {
		x = x * 1103515245 + 12345;
		p[i] = "abcdefgh \n"[(x >> 16) % 10];
	}
	return (p);
}

static void
check_gzip_msg(const uint8_t *enc, size_t n, const uint8_t *pl, size_t plen)
{
	struct msg	 m;
	char		 err[256];
	uint32_t	 dl;

	ck_assert_uint_eq(enc[0], 0x01);
	ck_assert_uint_eq(enc[1], MSG_DATA);
	ck_assert_uint_eq(enc[2], PROTO_TCP);
	ck_assert_uint_eq(enc[19], 0x01);
	dl = ((uint32_t)enc[20] << 24) | (enc[21] << 16) | (enc[22] << 8) |
	    enc[23];
	ck_assert_uint_eq(dl, n - 24);
	ck_assert_uint_lt(dl, plen);
	ck_assert_uint_eq(enc[24], 0x1f);	/* gzip magic */
	ck_assert_uint_eq(enc[25], 0x8b);
	ck_assert_msg(msg_parse(&m, enc, n, LS_INFLATE_MAX, err,
	    sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(m.m_compression, 1);
	ck_assert_uint_eq(m.m_datalen, plen);
	ck_assert_ptr_nonnull(m.m_inflated);
	ck_assert_ptr_eq(m.m_data, m.m_inflated);
	ck_assert_int_eq(memcmp(m.m_data, pl, plen), 0);
	msg_free(&m);
	ck_assert_ptr_null(m.m_inflated);
	/* The same message over a cap one byte too small fails. */
	ck_assert_int_eq(msg_parse(&m, enc, n, plen - 1, err, sizeof(err)),
	    -1);
	ck_assert_msg(strncmp(err, "gzip decompression failed: ", 27) == 0,
	    "%s", err);
	ck_assert_int_eq(msg_parse(&m, enc, n, plen, err, sizeof(err)), 0);
	msg_free(&m);
}

START_TEST(test_gzip_roundtrip)
{
	struct evbuffer	*b = evbuffer_new(), *src = evbuffer_new();
	struct msg	 m;
	uint8_t		*pl, *enc;
	size_t		 plen = LS_GZIP_THRESHOLD, n, i;

	pl = payload(526000);

	ck_assert_int_eq(msg_put_data(b, ch, pl, plen), 0);
	enc = flatten(b, &n);
	check_gzip_msg(enc, n, pl, plen);
	free(enc);

	/* From an evbuffer in many small chunks; the rest stays in src. */
	for (i = 0; i < 526000; i += 1000)
		evbuffer_add(src, pl + i, 1000);
	ck_assert_int_eq(msg_put_data_evbuffer(b, ch, src, plen + 10), 0);
	ck_assert_uint_eq(evbuffer_get_length(src), 526000 - plen - 10);
	enc = flatten(b, &n);
	check_gzip_msg(enc, n, pl, plen + 10);
	free(enc);
	evbuffer_drain(src, evbuffer_get_length(src));

	/* One byte under the threshold goes raw. */
	ck_assert_int_eq(msg_put_data(b, ch, pl, plen - 1), 0);
	enc = flatten(b, &n);
	ck_assert_uint_eq(n, 24 + plen - 1);
	ck_assert_uint_eq(enc[19], 0);
	ck_assert_int_eq(msg_parse(&m, enc, n, 0, NULL, 0), 0);
	ck_assert_uint_eq(m.m_datalen, plen - 1);
	ck_assert_ptr_null(m.m_inflated);
	free(enc);

	/* UDP Data is compressed too, suffix after the gzip bytes. */
	ck_assert_int_eq(msg_put_data_udp(b, ch, pl, plen, "1.2.3.4", 5,
	    "", 0), 0);
	enc = flatten(b, &n);
	ck_assert_uint_eq(enc[19], 1);
	ck_assert_int_eq(msg_parse(&m, enc, n, LS_INFLATE_MAX, NULL, 0), 0);
	ck_assert_int_eq(m.m_proto, PROTO_UDP);
	ck_assert_uint_eq(m.m_datalen, plen);
	ck_assert_int_eq(memcmp(m.m_data, pl, plen), 0);
	assert_str(&m.m_addr, "1.2.3.4");
	ck_assert_uint_eq(m.m_port, 5);
	msg_free(&m);
	free(enc);

	free(pl);
	evbuffer_free(src);
	evbuffer_free(b);
}
END_TEST

START_TEST(test_evbuffer_nocopy)
{
	static uint8_t		 chunk[4096];
	struct evbuffer		*b = evbuffer_new(), *src = evbuffer_new();
	struct evbuffer_iovec	 v[4];
	struct evbuffer_ptr	 pos;
	uint8_t			 h[24];
	int			 nv;

	memset(chunk, 'k', sizeof(chunk));
	ck_assert_int_eq(evbuffer_add_reference(src, chunk, sizeof(chunk),
	    NULL, NULL), 0);
	ck_assert_int_eq(msg_put_data_evbuffer(b, ch, src, sizeof(chunk)), 0);
	ck_assert_uint_eq(evbuffer_get_length(src), 0);
	ck_assert_uint_eq(evbuffer_get_length(b), 24 + sizeof(chunk));
	ck_assert_int_eq(evbuffer_copyout(b, h, 24), 24);
	ck_assert_uint_eq(h[19], 0);
	ck_assert_uint_eq(h[22], 0x10);
	ck_assert_uint_eq(h[23], 0x00);
	/* The payload chunk is the very same memory: moved, not copied. */
	evbuffer_ptr_set(b, &pos, 24, EVBUFFER_PTR_SET);
	nv = evbuffer_peek(b, 1, &pos, v, 4);
	ck_assert_int_ge(nv, 1);
	ck_assert_ptr_eq(v[0].iov_base, chunk);

	/* Asking for more than src holds fails and adds nothing. */
	evbuffer_drain(b, evbuffer_get_length(b));
	evbuffer_add(src, "ab", 2);
	ck_assert_int_eq(msg_put_data_evbuffer(b, ch, src, 3), -1);
	ck_assert_uint_eq(evbuffer_get_length(b), 0);
	ck_assert_uint_eq(evbuffer_get_length(src), 2);
	ck_assert_int_eq(msg_put_data_evbuffer(b, ch, src, 0), 0);
	ck_assert_uint_eq(evbuffer_get_length(b), 24);
	ck_assert_uint_eq(evbuffer_get_length(src), 2);

	evbuffer_free(src);
	evbuffer_free(b);
}
END_TEST

START_TEST(test_gzip_bomb)
{
	const size_t	 big = 4 * MAXINF;
	uint8_t		*zero, *gz, *msg;
	size_t		 gl, n;
	struct msg	 m;
	char		 err[256];

	zero = calloc(1, big);
	gz = malloc(big);
	msg = malloc(big);
	gl = gzip_buf(zero, big, gz, big);
	ck_assert_uint_lt(gl, 8192);	/* 4 MiB of zeros shrink to ~4 KiB */
	n = data_msg(msg, PROTO_TCP, 1, gz, gl);
	ck_assert_int_eq(parse_copy(&m, msg, n, MAXINF, err, sizeof(err)),
	    -1);
	ck_assert_str_eq(err, "gzip decompression failed: decompressed data "
	    "exceeds 1048576 bytes");
	ck_assert_ptr_null(m.m_inflated);
	ck_assert_int_eq(parse_copy(&m, msg, n, big, err, sizeof(err)), 0);
	ck_assert_uint_eq(m.m_datalen, big);
	ck_assert_int_eq(memcmp(m.m_data, zero, big), 0);
	msg_free(&m);
	ck_assert_int_eq(parse_copy(&m, msg, n, 0, err, sizeof(err)), -1);
	free(zero);
	free(gz);
	free(msg);
}
END_TEST

START_TEST(test_gzip_corrupt)
{
	uint8_t		 gz[256], gz2[512], msg[1024];
	struct msg	 m;
	char		 err[256];
	size_t		 gl, n, cut;

	gl = gzip_buf((const uint8_t *)"hello hello hello", 17, gz,
	    sizeof(gz));

	/* Valid. */
	n = data_msg(msg, PROTO_TCP, 1, gz, gl);
	ck_assert_int_eq(parse_copy(&m, msg, n, MAXINF, err, sizeof(err)), 0);
	ck_assert_uint_eq(m.m_datalen, 17);
	ck_assert_mem_eq(m.m_data, "hello hello hello", 17);
	msg_free(&m);

	/* Two members decode as one stream, like the reference. */
	memcpy(gz2, gz, gl);
	memcpy(gz2 + gl, gz, gl);
	n = data_msg(msg, PROTO_TCP, 1, gz2, 2 * gl);
	ck_assert_int_eq(parse_copy(&m, msg, n, MAXINF, err, sizeof(err)), 0);
	ck_assert_uint_eq(m.m_datalen, 34);
	msg_free(&m);

	/* Trailing garbage after the member. */
	memcpy(gz2, gz, gl);
	memcpy(gz2 + gl, "garbage!!!!!", 12);
	n = data_msg(msg, PROTO_TCP, 1, gz2, gl + 12);
	ck_assert_int_eq(parse_copy(&m, msg, n, MAXINF, err, sizeof(err)),
	    -1);
	ck_assert_msg(strncmp(err, "gzip decompression failed: ", 27) == 0,
	    "%s", err);

	/* Bad CRC. */
	memcpy(gz2, gz, gl);
	gz2[gl - 8] ^= 0x01;
	n = data_msg(msg, PROTO_TCP, 1, gz2, gl);
	ck_assert_int_eq(parse_copy(&m, msg, n, MAXINF, err, sizeof(err)),
	    -1);
	ck_assert_msg(strncmp(err, "gzip decompression failed: ", 27) == 0,
	    "%s", err);

	/* Not gzip at all. */
	n = data_msg(msg, PROTO_TCP, 1, (const uint8_t *)"plain text", 10);
	ck_assert_int_eq(parse_copy(&m, msg, n, MAXINF, err, sizeof(err)),
	    -1);
	ck_assert_msg(strncmp(err, "gzip decompression failed: ", 27) == 0,
	    "%s", err);

	/* Empty gzip body. */
	n = data_msg(msg, PROTO_TCP, 1, gz, 0);
	ck_assert_int_eq(parse_copy(&m, msg, n, MAXINF, err, sizeof(err)),
	    -1);
	ck_assert_str_eq(err, "gzip reader creation failed: EOF");

	/* Every truncation of the gzip stream fails. */
	for (cut = 1; cut < gl; cut++) {
		n = data_msg(msg, PROTO_TCP, 1, gz, cut);
		ck_assert_msg(parse_copy(&m, msg, n, MAXINF, err,
		    sizeof(err)) == -1, "gzip cut at %zu parsed", cut);
		ck_assert_msg(strncmp(err, "gzip decompression failed: ",
		    27) == 0, "%s", err);
		ck_assert_ptr_null(m.m_inflated);
	}

	/* Compression byte other than 0/1: gzip bytes passed through raw. */
	n = data_msg(msg, PROTO_TCP, 2, gz, gl);
	ck_assert_int_eq(parse_copy(&m, msg, n, MAXINF, err, sizeof(err)), 0);
	ck_assert_uint_eq(m.m_datalen, gl);
	ck_assert_mem_eq(m.m_data, gz, gl);
}
END_TEST

static Suite *
msg_suite(void)
{
	Suite	*s = suite_create("msg");
	TCase	*tc;

	tc = tcase_create("vectors");
	tcase_add_loop_test(tc, test_vector_encode, 0, LS_NITEMS(vecs));
	tcase_add_loop_test(tc, test_vector_parse, 0, LS_NITEMS(vecs));
	tcase_add_loop_test(tc, test_vector_truncate, 0, LS_NITEMS(vecs));
	tcase_add_test(tc, test_valid_prefixes);
	suite_add_tcase(s, tc);

	tc = tcase_create("parse");
	tcase_add_test(tc, test_parse_errors);
	tcase_add_test(tc, test_parse_json);
	tcase_add_test(tc, test_version);
	tcase_add_test(tc, test_unknown_types);
	tcase_add_test(tc, test_window);
	tcase_add_test(tc, test_bool_and_proto);
	suite_add_tcase(s, tc);

	tc = tcase_create("encode");
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_encode_rejects);
	tcase_add_test(tc, test_string_limits);
	suite_add_tcase(s, tc);

	tc = tcase_create("gzip");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_gzip_roundtrip);
	tcase_add_test(tc, test_evbuffer_nocopy);
	tcase_add_test(tc, test_gzip_bomb);
	tcase_add_test(tc, test_gzip_corrupt);
	suite_add_tcase(s, tc);
	return (s);
}

const check_suite_fn check_suites[] = { msg_suite, NULL };
