/*
 * msg.c -- the linksocks message codec (spec sections 3-5): parse one
 * whole message, append complete messages to an evbuffer.  Pure: no I/O
 * and no logging, so it can be unit tested and fuzzed on its own.
 */
#include "config.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <zlib.h>

#include "linksocks.h"

#define MSG_HDR_LEN		2	/* Version, Type */
#define MSG_STR_MAX		255	/* short string (L8) limit */
#define MSG_INFLATE_MIN		4096
/* Largest fixed-shape message: Connect with a 255-byte address. */
#define MSG_SMALL_MAX		512
/* UDP suffix: AddrLen Address Port TargetAddrLen TargetAddr TargetPort. */
#define MSG_UDP_SUFFIX_MAX	(2 * (1 + MSG_STR_MAX + 2))

#define MSG_COMP_NONE		0x00
#define MSG_COMP_GZIP		0x01

/* A small message under construction on the stack. */
struct msg_wr {
	uint8_t		 w_buf[MSG_SMALL_MAX];
	size_t		 w_len;
};

static int	 msg_err(char *, size_t, const char *, ...) LS_PRINTF(3, 4);
static uint16_t	 msg_be16(const uint8_t *);
static uint32_t	 msg_be32(const uint8_t *);
static int	 msg_proto(uint8_t);
static void	 msg_setstr(struct msg_str *, const uint8_t *, size_t);
static int	 msg_parse_auth(struct msg *, const uint8_t *, size_t,
		    char *, size_t);
static int	 msg_parse_auth_response(struct msg *, const uint8_t *,
		    size_t, char *, size_t);
static int	 msg_parse_connect(struct msg *, const uint8_t *, size_t,
		    char *, size_t);
static int	 msg_parse_data(struct msg *, const uint8_t *, size_t,
		    size_t, char *, size_t);
static int	 msg_parse_udp_suffix(struct msg *, const uint8_t *, size_t,
		    char *, size_t);
static int	 msg_parse_connect_response(struct msg *, const uint8_t *,
		    size_t, char *, size_t);
static int	 msg_parse_disconnect(struct msg *, const uint8_t *, size_t,
		    char *, size_t);
static int	 msg_parse_connector(struct msg *, const uint8_t *, size_t,
		    char *, size_t);
static int	 msg_parse_connector_response(struct msg *, const uint8_t *,
		    size_t, char *, size_t);
static int	 msg_parse_json(struct msg *, const char *, const uint8_t *,
		    size_t, char *, size_t);
static int	 msg_json_check(int, const char *, const struct msg_str *,
		    char *, size_t);
static int	 msg_inflate(struct msg *, const uint8_t *, size_t, size_t,
		    char *, size_t);
static void	 msg_wr_init(struct msg_wr *, uint8_t);
static void	 msg_wr_u8(struct msg_wr *, uint8_t);
static void	 msg_wr_u16(struct msg_wr *, uint16_t);
static void	 msg_wr_bytes(struct msg_wr *, const void *, size_t);
static int	 msg_wr_str(struct msg_wr *, const char *);
static void	 msg_wr_errstr(struct msg_wr *, const char *);
static int	 msg_wr_flush(struct msg_wr *, struct evbuffer *);
static size_t	 msg_errlen(const char *);
static void	 msg_put_u32(uint8_t *, uint32_t);
static void	 msg_data_hdr(uint8_t *, int, const uint8_t *, int, uint32_t);
static int	 msg_put_data_gzip(struct evbuffer *, int, const uint8_t *,
		    const struct evbuffer_iovec *, int, size_t,
		    const uint8_t *, size_t);
static int	 msg_put_data_flat(struct evbuffer *, int, const uint8_t *,
		    const uint8_t *, size_t, const uint8_t *, size_t);
static int	 msg_put_json(struct evbuffer *, uint8_t, json_t *);
static char	*msg_utf8_fix(const char *);

static const char *msg_names[] = {
	"unknown",
	"Auth",
	"AuthResponse",
	"Connect",
	"Data",
	"ConnectResponse",
	"Disconnect",
	"Connector",
	"ConnectorResponse",
	"Log",
	"Partners",
	"DirectCapabilities",
	"DirectRendezvous",
	"DirectStatus"
};

const char *
msg_typename(int type)
{
	if (type == MSG_WINDOW)
		return ("Window");
	if (type < 0 || (size_t)type >= LS_NITEMS(msg_names))
		return ("unknown");
	return (msg_names[type]);
}

static int
msg_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return (-1);
}

static uint16_t
msg_be16(const uint8_t *p)
{
	return ((uint16_t)((p[0] << 8) | p[1]));
}

static uint32_t
msg_be32(const uint8_t *p)
{
	return (((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	    ((uint32_t)p[2] << 8) | (uint32_t)p[3]);
}

static int
msg_proto(uint8_t b)
{
	if (b == PROTO_TCP || b == PROTO_UDP)
		return (b);
	return (PROTO_NONE);
}

static void
msg_setstr(struct msg_str *s, const uint8_t *p, size_t len)
{
	s->p = p;
	s->len = len;
}

/*
 * Parsers below get the body (everything after Version and Type) as b/n.
 * Every length is checked against what is left before it is used.
 */

static int
msg_parse_auth(struct msg *m, const uint8_t *b, size_t n, char *err,
    size_t errlen)
{
	size_t	 tl;

	if (n < 1)
		return (msg_err(err, errlen, "invalid auth message"));
	tl = b[0];
	if (n - 1 < tl + 1 + LS_CHANNEL_ID_LEN)
		return (msg_err(err, errlen, "invalid auth message length"));
	msg_setstr(&m->m_token, b + 1, tl);
	m->m_reverse = b[1 + tl] != 0;
	memcpy(m->m_id, b + 2 + tl, LS_CHANNEL_ID_LEN);
	return (0);
}

static int
msg_parse_auth_response(struct msg *m, const uint8_t *b, size_t n,
    char *err, size_t errlen)
{
	size_t	 el;

	if (n < 1)
		return (msg_err(err, errlen, "invalid auth response message"));
	m->m_success = b[0] != 0;
	if (!m->m_success && n > 1) {
		el = b[1];
		if (n - 2 < el)
			return (msg_err(err, errlen,
			    "invalid auth response error length"));
		msg_setstr(&m->m_error, b + 2, el);
	}
	return (0);
}

static int
msg_parse_connect(struct msg *m, const uint8_t *b, size_t n, char *err,
    size_t errlen)
{
	size_t	 al;

	if (n < 1 + LS_CHANNEL_ID_LEN)
		return (msg_err(err, errlen, "invalid connect message"));
	m->m_proto = msg_proto(b[0]);
	memcpy(m->m_id, b + 1, LS_CHANNEL_ID_LEN);
	if (m->m_proto != PROTO_TCP)
		return (0);
	if (n < 18)
		return (msg_err(err, errlen, "invalid tcp connect message"));
	al = b[17];
	if (n - 18 < al + 2)
		return (msg_err(err, errlen,
		    "invalid tcp connect message length"));
	msg_setstr(&m->m_addr, b + 18, al);
	m->m_port = msg_be16(b + 18 + al);
	return (0);
}

static int
msg_parse_udp_suffix(struct msg *m, const uint8_t *b, size_t n, char *err,
    size_t errlen)
{
	size_t	 al;

	if (n < 1)
		return (msg_err(err, errlen, "invalid udp data message"));
	al = b[0];
	if (n - 1 < al + 2)
		return (msg_err(err, errlen,
		    "invalid udp data message length"));
	msg_setstr(&m->m_addr, b + 1, al);
	m->m_port = msg_be16(b + 1 + al);
	b += 3 + al;
	n -= 3 + al;
	if (n < 1 || n - 1 < (size_t)b[0] + 2)
		return (msg_err(err, errlen,
		    "invalid udp data message target address"));
	al = b[0];
	msg_setstr(&m->m_taddr, b + 1, al);
	m->m_tport = msg_be16(b + 1 + al);
	return (0);
}

static int
msg_parse_data(struct msg *m, const uint8_t *b, size_t n, size_t maxinflate,
    char *err, size_t errlen)
{
	size_t	 dl;

	if (n < 22)
		return (msg_err(err, errlen, "invalid data message"));
	m->m_proto = msg_proto(b[0]);
	memcpy(m->m_id, b + 1, LS_CHANNEL_ID_LEN);
	m->m_compression = b[17];
	dl = msg_be32(b + 18);
	if (n - 22 < dl)
		return (msg_err(err, errlen, "invalid data message length"));
	m->m_data = b + 22;
	m->m_datalen = dl;
	if (m->m_proto == PROTO_UDP &&
	    msg_parse_udp_suffix(m, b + 22 + dl, n - 22 - dl, err,
	    errlen) == -1)
		return (-1);
	if (m->m_compression == MSG_COMP_GZIP)
		return (msg_inflate(m, b + 22, dl, maxinflate, err, errlen));
	return (0);
}

static int
msg_parse_connect_response(struct msg *m, const uint8_t *b, size_t n,
    char *err, size_t errlen)
{
	size_t	 el;

	if (n < 1 + LS_CHANNEL_ID_LEN)
		return (msg_err(err, errlen,
		    "invalid connect response message"));
	m->m_success = b[0] != 0;
	memcpy(m->m_id, b + 1, LS_CHANNEL_ID_LEN);
	if (m->m_success)
		return (0);
	if (n < 18)
		return (msg_err(err, errlen,
		    "invalid connect response error length"));
	el = b[17];
	if (n - 18 < el)
		return (msg_err(err, errlen,
		    "invalid connect response message length"));
	msg_setstr(&m->m_error, b + 18, el);
	return (0);
}

static int
msg_parse_disconnect(struct msg *m, const uint8_t *b, size_t n, char *err,
    size_t errlen)
{
	size_t	 el;

	if (n < LS_CHANNEL_ID_LEN)
		return (msg_err(err, errlen, "invalid disconnect message"));
	memcpy(m->m_id, b, LS_CHANNEL_ID_LEN);
	if (n == LS_CHANNEL_ID_LEN)
		return (0);
	el = b[16];
	if (n - 17 < el)
		return (msg_err(err, errlen,
		    "invalid disconnect message error length"));
	msg_setstr(&m->m_error, b + 17, el);
	return (0);
}

/* Extension 0xF1 (credit): ChannelID, u32 increment. */
static int
msg_parse_window(struct msg *m, const uint8_t *b, size_t n, char *err,
    size_t errlen)
{
	if (n < LS_CHANNEL_ID_LEN + 4)
		return (msg_err(err, errlen, "invalid window message"));
	memcpy(m->m_id, b, LS_CHANNEL_ID_LEN);
	m->m_window = msg_be32(b + LS_CHANNEL_ID_LEN);
	if (m->m_window == 0)
		return (msg_err(err, errlen, "invalid window increment 0"));
	return (0);
}

static int
msg_parse_connector(struct msg *m, const uint8_t *b, size_t n, char *err,
    size_t errlen)
{
	size_t	 tl;

	if (n < LS_CHANNEL_ID_LEN + 1)
		return (msg_err(err, errlen, "invalid connector message"));
	memcpy(m->m_id, b, LS_CHANNEL_ID_LEN);
	tl = b[16];
	if (n - 17 < tl + 1)
		return (msg_err(err, errlen,
		    "invalid connector message length"));
	msg_setstr(&m->m_token, b + 17, tl);
	m->m_op = b[17 + tl];
	if (m->m_op != CONNECTOR_ADD && m->m_op != CONNECTOR_REMOVE)
		return (msg_err(err, errlen, "invalid operation type"));
	return (0);
}

static int
msg_parse_connector_response(struct msg *m, const uint8_t *b, size_t n,
    char *err, size_t errlen)
{
	size_t	 sl;

	if (n < LS_CHANNEL_ID_LEN + 1)
		return (msg_err(err, errlen,
		    "invalid connector response message"));
	memcpy(m->m_id, b, LS_CHANNEL_ID_LEN);
	m->m_success = b[16] != 0;
	if (!m->m_success) {
		if (n < 18)
			return (msg_err(err, errlen,
			    "invalid connector response error length"));
		sl = b[17];
		if (n - 18 < sl)
			return (msg_err(err, errlen,
			    "invalid connector response message length"));
		msg_setstr(&m->m_error, b + 18, sl);
		return (0);
	}
	if (n == 17)
		return (0);
	sl = b[17];
	if (n - 18 < sl)
		return (msg_err(err, errlen,
		    "invalid connector response token length"));
	msg_setstr(&m->m_token, b + 18, sl);
	return (0);
}

static int
msg_parse_json(struct msg *m, const char *kind, const uint8_t *b, size_t n,
    char *err, size_t errlen)
{
	size_t	 jl;

	if (n < 4)
		return (msg_err(err, errlen, "invalid %s message", kind));
	jl = msg_be32(b);
	if (n - 4 < jl)
		return (msg_err(err, errlen, "invalid %s message length",
		    kind));
	msg_setstr(&m->m_json, b + 4, jl);
	return (0);
}

/*
 * Log and Partners bodies must decode like the reference's JSON structs:
 * null or an object whose known keys (matched case-insensitively) have
 * the right type.  Invalid UTF-8 is accepted as the reference does.
 */
static int
msg_json_check(int type, const char *kind, const struct msg_str *s,
    char *err, size_t errlen)
{
	json_error_t	 je;
	json_t		*j, *v;
	const char	*k;
	int		 rc = 0;

	j = json_loadb((const char *)s->p, s->len,
	    JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
	if (j == NULL) {
		if (json_error_code(&je) == json_error_invalid_utf8)
			return (0);
		return (msg_err(err, errlen, "failed to unmarshal %s message: "
		    "%s", kind, je.text));
	}
	if (json_is_null(j))
		goto done;
	if (!json_is_object(j)) {
		rc = msg_err(err, errlen, "failed to unmarshal %s message: "
		    "not a JSON object", kind);
		goto done;
	}
	json_object_foreach(j, k, v) {
		if (json_is_null(v))
			continue;
		if (type == MSG_LOG && (strcasecmp(k, "level") == 0 ||
		    strcasecmp(k, "msg") == 0) && !json_is_string(v)) {
			rc = msg_err(err, errlen, "failed to unmarshal %s "
			    "message: field %s is not a string", kind, k);
			break;
		}
		if (type == MSG_PARTNERS && strcasecmp(k, "count") == 0 &&
		    !json_is_integer(v)) {
			rc = msg_err(err, errlen, "failed to unmarshal %s "
			    "message: field %s is not an integer", kind, k);
			break;
		}
	}
 done:
	json_decref(j);
	return (rc);
}

/*
 * Inflate gzip Data (all members, like the reference) into m_inflated,
 * failing once the output would exceed max bytes (P-18).
 */
static int
msg_inflate(struct msg *m, const uint8_t *in, size_t inlen, size_t max,
    char *err, size_t errlen)
{
	z_stream	 z;
	uint8_t		*out, *nout;
	size_t		 cap, lim, total = 0, room;
	int		 rc;

	if (inlen == 0)
		return (msg_err(err, errlen, "gzip reader creation failed: "
		    "EOF"));
	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return (msg_err(err, errlen, "gzip reader creation failed: "
		    "out of memory"));
	/* One byte past the cap tells "exactly max" from "more". */
	lim = max < SIZE_MAX ? max + 1 : max;
	cap = inlen < SIZE_MAX / 4 ? inlen * 4 : SIZE_MAX;
	if (cap < MSG_INFLATE_MIN)
		cap = MSG_INFLATE_MIN;
	if (cap > lim)
		cap = lim;
	if ((out = malloc(cap)) == NULL) {
		inflateEnd(&z);
		return (msg_err(err, errlen, "gzip decompression failed: "
		    "out of memory"));
	}
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)inlen;	/* DataLen is a u32 */
	for (;;) {
		if (total == cap) {
			if (cap == lim)
				goto toobig;
			cap = cap <= lim / 2 ? cap * 2 : lim;
			if ((nout = realloc(out, cap)) == NULL) {
				msg_err(err, errlen, "gzip decompression "
				    "failed: out of memory");
				goto fail;
			}
			out = nout;
		}
		room = cap - total;
		if (room > UINT_MAX)
			room = UINT_MAX;
		z.next_out = out + total;
		z.avail_out = (uInt)room;
		rc = inflate(&z, Z_NO_FLUSH);
		total += room - z.avail_out;
		if (total > max)
			goto toobig;
		if (rc == Z_STREAM_END) {
			if (z.avail_in == 0)
				break;
			/* Another gzip member follows. */
			if (inflateReset(&z) != Z_OK) {
				msg_err(err, errlen, "gzip decompression "
				    "failed: reset");
				goto fail;
			}
			continue;
		}
		if (rc == Z_OK)
			continue;
		if (rc == Z_BUF_ERROR && z.avail_in != 0 && z.avail_out == 0)
			continue;
		if (rc == Z_BUF_ERROR)
			msg_err(err, errlen, "gzip decompression failed: "
			    "unexpected EOF");
		else
			msg_err(err, errlen, "gzip decompression failed: %s",
			    z.msg != NULL ? z.msg : "corrupt data");
		goto fail;
	}
	inflateEnd(&z);
	m->m_inflated = out;
	m->m_data = out;
	m->m_datalen = total;
	return (0);
 toobig:
	msg_err(err, errlen, "gzip decompression failed: decompressed data "
	    "exceeds %zu bytes", max);
 fail:
	inflateEnd(&z);
	free(out);
	return (-1);
}

int
msg_parse(struct msg *m, const uint8_t *buf, size_t len, size_t maxinflate,
    char *err, size_t errlen)
{
	const uint8_t	*b;
	size_t		 n;
	uint8_t		 v;
	int		 rc;

	memset(m, 0, sizeof(*m));
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (buf == NULL || len < MSG_HDR_LEN)
		return (msg_err(err, errlen, "message too short"));
	v = buf[0];
	if ((v >> 4) != (LS_PROTO_VERSION >> 4))
		return (msg_err(err, errlen, "unsupported protocol major "
		    "version: peer=0x%02x (major=%d minor=%d) local=0x%02x "
		    "(major=%d minor=%d)", v, v >> 4, v & 0x0f,
		    LS_PROTO_VERSION, LS_PROTO_VERSION >> 4,
		    LS_PROTO_VERSION & 0x0f));
	m->m_version = v;
	m->m_rawtype = buf[1];
	m->m_type = buf[1];
	b = buf + MSG_HDR_LEN;
	n = len - MSG_HDR_LEN;

	switch (m->m_rawtype) {
	case MSG_AUTH:
		rc = msg_parse_auth(m, b, n, err, errlen);
		break;
	case MSG_AUTH_RESPONSE:
		rc = msg_parse_auth_response(m, b, n, err, errlen);
		break;
	case MSG_CONNECT:
		rc = msg_parse_connect(m, b, n, err, errlen);
		break;
	case MSG_DATA:
		rc = msg_parse_data(m, b, n, maxinflate, err, errlen);
		break;
	case MSG_CONNECT_RESPONSE:
		rc = msg_parse_connect_response(m, b, n, err, errlen);
		break;
	case MSG_DISCONNECT:
		rc = msg_parse_disconnect(m, b, n, err, errlen);
		break;
	case MSG_CONNECTOR:
		rc = msg_parse_connector(m, b, n, err, errlen);
		break;
	case MSG_CONNECTOR_RESPONSE:
		rc = msg_parse_connector_response(m, b, n, err, errlen);
		break;
	case MSG_LOG:
		if ((rc = msg_parse_json(m, "log", b, n, err, errlen)) == 0)
			rc = msg_json_check(MSG_LOG, "log", &m->m_json, err,
			    errlen);
		break;
	case MSG_PARTNERS:
		if ((rc = msg_parse_json(m, "partners", b, n, err,
		    errlen)) == 0)
			rc = msg_json_check(MSG_PARTNERS, "partners",
			    &m->m_json, err, errlen);
		break;
	case MSG_DIRECT_CAPS:
		rc = msg_parse_json(m, "direct capabilities", b, n, err,
		    errlen);
		break;
	case MSG_DIRECT_RENDEZVOUS:
		rc = msg_parse_json(m, "direct rendezvous", b, n, err,
		    errlen);
		break;
	case MSG_DIRECT_STATUS:
		rc = msg_parse_json(m, "direct status", b, n, err, errlen);
		break;
	case MSG_WINDOW:
		rc = msg_parse_window(m, b, n, err, errlen);
		break;
	default:
		/* Forward compatibility: unknown types parse and are ignored. */
		m->m_type = MSG_UNKNOWN;
		rc = 0;
		break;
	}
	if (rc == -1)
		msg_free(m);
	return (rc);
}

void
msg_free(struct msg *m)
{
	if (m == NULL)
		return;
	free(m->m_inflated);
	m->m_inflated = NULL;
	m->m_data = NULL;
	m->m_datalen = 0;
}

/* ------------------------------------------------------------------ */
/* Encoders                                                            */

static void
msg_wr_init(struct msg_wr *w, uint8_t type)
{
	w->w_buf[0] = LS_PROTO_VERSION;
	w->w_buf[1] = type;
	w->w_len = MSG_HDR_LEN;
}

static void
msg_wr_u8(struct msg_wr *w, uint8_t v)
{
	w->w_buf[w->w_len++] = v;
}

static void
msg_wr_u16(struct msg_wr *w, uint16_t v)
{
	w->w_buf[w->w_len++] = v >> 8;
	w->w_buf[w->w_len++] = v & 0xff;
}

static void
msg_wr_bytes(struct msg_wr *w, const void *p, size_t len)
{
	if (len > 0)
		memcpy(w->w_buf + w->w_len, p, len);
	w->w_len += len;
}

/* A short string that cannot be truncated (token, address). */
static int
msg_wr_str(struct msg_wr *w, const char *s)
{
	size_t	 len = s != NULL ? strlen(s) : 0;

	if (len > MSG_STR_MAX)
		return (-1);
	msg_wr_u8(w, (uint8_t)len);
	msg_wr_bytes(w, s, len);
	return (0);
}

/* Length of an error text cut to 255 bytes at a UTF-8 boundary (P-17). */
static size_t
msg_errlen(const char *s)
{
	size_t	 len = s != NULL ? strlen(s) : 0;

	if (len <= MSG_STR_MAX)
		return (len);
	len = MSG_STR_MAX;
	while (len > 0 && ((uint8_t)s[len] & 0xc0) == 0x80)
		len--;
	return (len);
}

static void
msg_wr_errstr(struct msg_wr *w, const char *s)
{
	size_t	 len = msg_errlen(s);

	msg_wr_u8(w, (uint8_t)len);
	msg_wr_bytes(w, s, len);
}

static int
msg_wr_flush(struct msg_wr *w, struct evbuffer *out)
{
	return (evbuffer_add(out, w->w_buf, w->w_len) == 0 ? 0 : -1);
}

int
msg_put_auth(struct evbuffer *out, const char *token, int reverse,
    const uint8_t *instance)
{
	struct msg_wr	 w;

	msg_wr_init(&w, MSG_AUTH);
	if (msg_wr_str(&w, token) == -1)
		return (-1);
	msg_wr_u8(&w, reverse ? 1 : 0);
	msg_wr_bytes(&w, instance, LS_CHANNEL_ID_LEN);
	return (msg_wr_flush(&w, out));
}

int
msg_put_auth_response(struct evbuffer *out, int success, const char *error)
{
	struct msg_wr	 w;

	msg_wr_init(&w, MSG_AUTH_RESPONSE);
	msg_wr_u8(&w, success ? 1 : 0);
	if (!success)
		msg_wr_errstr(&w, error);
	return (msg_wr_flush(&w, out));
}

int
msg_put_connect(struct evbuffer *out, int proto, const uint8_t *id,
    const char *addr, uint16_t port)
{
	struct msg_wr	 w;

	if (proto != PROTO_TCP && proto != PROTO_UDP)
		return (-1);
	msg_wr_init(&w, MSG_CONNECT);
	msg_wr_u8(&w, (uint8_t)proto);
	msg_wr_bytes(&w, id, LS_CHANNEL_ID_LEN);
	if (proto == PROTO_TCP) {
		if (msg_wr_str(&w, addr) == -1)
			return (-1);
		msg_wr_u16(&w, port);
	}
	return (msg_wr_flush(&w, out));
}

int
msg_put_connect_response(struct evbuffer *out, int success,
    const uint8_t *id, const char *error)
{
	struct msg_wr	 w;

	msg_wr_init(&w, MSG_CONNECT_RESPONSE);
	msg_wr_u8(&w, success ? 1 : 0);
	msg_wr_bytes(&w, id, LS_CHANNEL_ID_LEN);
	if (!success)
		msg_wr_errstr(&w, error);
	return (msg_wr_flush(&w, out));
}

int
msg_put_disconnect(struct evbuffer *out, const uint8_t *id,
    const char *error)
{
	struct msg_wr	 w;

	msg_wr_init(&w, MSG_DISCONNECT);
	msg_wr_bytes(&w, id, LS_CHANNEL_ID_LEN);
	if (error != NULL && error[0] != '\0')
		msg_wr_errstr(&w, error);
	return (msg_wr_flush(&w, out));
}

int
msg_put_window(struct evbuffer *out, const uint8_t *id, uint32_t inc)
{
	struct msg_wr	 w;

	if (inc == 0)
		return (-1);
	msg_wr_init(&w, MSG_WINDOW);
	msg_wr_bytes(&w, id, LS_CHANNEL_ID_LEN);
	msg_wr_u16(&w, (uint16_t)(inc >> 16));
	msg_wr_u16(&w, (uint16_t)inc);
	return (msg_wr_flush(&w, out));
}

int
msg_put_connector(struct evbuffer *out, const uint8_t *id,
    const char *token, int op)
{
	struct msg_wr	 w;

	if (op != CONNECTOR_ADD && op != CONNECTOR_REMOVE)
		return (-1);
	msg_wr_init(&w, MSG_CONNECTOR);
	msg_wr_bytes(&w, id, LS_CHANNEL_ID_LEN);
	if (msg_wr_str(&w, token) == -1)
		return (-1);
	msg_wr_u8(&w, (uint8_t)op);
	return (msg_wr_flush(&w, out));
}

int
msg_put_connector_response(struct evbuffer *out, const uint8_t *id,
    int success, const char *str)
{
	struct msg_wr	 w;

	msg_wr_init(&w, MSG_CONNECTOR_RESPONSE);
	msg_wr_bytes(&w, id, LS_CHANNEL_ID_LEN);
	msg_wr_u8(&w, success ? 1 : 0);
	if (!success)
		msg_wr_errstr(&w, str);
	else if (str != NULL && str[0] != '\0' && msg_wr_str(&w, str) == -1)
		return (-1);
	return (msg_wr_flush(&w, out));
}

static void
msg_put_u32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = (v >> 16) & 0xff;
	p[2] = (v >> 8) & 0xff;
	p[3] = v & 0xff;
}

static void
msg_data_hdr(uint8_t *h, int proto, const uint8_t *id, int comp,
    uint32_t dlen)
{
	h[0] = LS_PROTO_VERSION;
	h[1] = MSG_DATA;
	h[2] = (uint8_t)proto;
	memcpy(h + 3, id, LS_CHANNEL_ID_LEN);
	h[19] = (uint8_t)comp;
	msg_put_u32(h + 20, dlen);
}

/* The 24-byte header of an uncompressed TCP Data message. */
void
msg_data_header(uint8_t *h, const uint8_t *id, uint32_t dlen)
{
	msg_data_hdr(h, PROTO_TCP, id, MSG_COMP_NONE, dlen);
}

/*
 * Gzip len bytes spread over iov[0..niov) straight into reserved space
 * of out, then fill in the header; nothing is committed on failure.
 */
static int
msg_put_data_gzip(struct evbuffer *out, int proto, const uint8_t *id,
    const struct evbuffer_iovec *iov, int niov, size_t len,
    const uint8_t *suffix, size_t sufflen)
{
	struct evbuffer_iovec	 v;
	z_stream		 z;
	uLong			 bound;
	size_t			 clen, left = len;
	uint8_t			*p;
	int			 i, rc;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED,
	    16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return (-1);
	bound = deflateBound(&z, len);
	if (bound > UINT32_MAX - MSG_DATA_HDR - MSG_UDP_SUFFIX_MAX ||
	    evbuffer_reserve_space(out, (ev_ssize_t)(MSG_DATA_HDR +
	    bound + sufflen), &v, 1) != 1)
		goto fail;
	p = v.iov_base;
	z.next_out = p + MSG_DATA_HDR;
	z.avail_out = (uInt)bound;
	for (i = 0; i < niov && left > 0; i++) {
		z.next_in = iov[i].iov_base;
		z.avail_in = (uInt)(iov[i].iov_len < left ?
		    iov[i].iov_len : left);
		left -= z.avail_in;
		while (z.avail_in > 0)
			if (deflate(&z, Z_NO_FLUSH) != Z_OK)
				goto fail;
	}
	if (left != 0)
		goto fail;
	while ((rc = deflate(&z, Z_FINISH)) == Z_OK)
		;
	if (rc != Z_STREAM_END)
		goto fail;
	clen = bound - z.avail_out;
	deflateEnd(&z);
	msg_data_hdr(p, proto, id, MSG_COMP_GZIP, (uint32_t)clen);
	if (sufflen > 0)
		memcpy(p + MSG_DATA_HDR + clen, suffix, sufflen);
	v.iov_len = MSG_DATA_HDR + clen + sufflen;
	return (evbuffer_commit_space(out, &v, 1) == 0 ? 0 : -1);
 fail:
	deflateEnd(&z);
	return (-1);
}

static int
msg_put_data_flat(struct evbuffer *out, int proto, const uint8_t *id,
    const uint8_t *data, size_t len, const uint8_t *suffix, size_t sufflen)
{
	struct evbuffer_iovec	 iov;
	uint8_t			 h[MSG_DATA_HDR];

	if ((len > 0 && data == NULL) || len > UINT32_MAX)
		return (-1);
	if (len >= LS_GZIP_THRESHOLD) {
		iov.iov_base = (void *)(uintptr_t)data;
		iov.iov_len = len;
		return (msg_put_data_gzip(out, proto, id, &iov, 1, len,
		    suffix, sufflen));
	}
	msg_data_hdr(h, proto, id, MSG_COMP_NONE, (uint32_t)len);
	if (evbuffer_expand(out, sizeof(h) + len + sufflen) == -1 ||
	    evbuffer_add(out, h, sizeof(h)) == -1 ||
	    (len > 0 && evbuffer_add(out, data, len) == -1) ||
	    (sufflen > 0 && evbuffer_add(out, suffix, sufflen) == -1))
		return (-1);
	return (0);
}

int
msg_put_data(struct evbuffer *out, const uint8_t *id, const uint8_t *data,
    size_t len)
{
	return (msg_put_data_flat(out, PROTO_TCP, id, data, len, NULL, 0));
}

int
msg_put_data_evbuffer(struct evbuffer *out, const uint8_t *id,
    struct evbuffer *src, size_t len)
{
	struct evbuffer_iovec	*iov;
	uint8_t			 h[MSG_DATA_HDR];
	int			 n, rc;

	if (evbuffer_get_length(src) < len || len > UINT32_MAX)
		return (-1);
	if (len < LS_GZIP_THRESHOLD) {
		msg_data_hdr(h, PROTO_TCP, id, MSG_COMP_NONE, (uint32_t)len);
		if (evbuffer_add(out, h, sizeof(h)) == -1)
			return (-1);
		if (len > 0 &&
		    evbuffer_remove_buffer(src, out, len) != (int)len)
			return (-1);
		return (0);
	}
	if ((n = evbuffer_peek(src, (ev_ssize_t)len, NULL, NULL, 0)) <= 0 ||
	    (iov = calloc(n, sizeof(*iov))) == NULL)
		return (-1);
	n = evbuffer_peek(src, (ev_ssize_t)len, NULL, iov, n);
	rc = msg_put_data_gzip(out, PROTO_TCP, id, iov, n, len, NULL, 0);
	free(iov);
	if (rc == 0)
		evbuffer_drain(src, len);
	return (rc);
}

int
msg_put_data_udp(struct evbuffer *out, const uint8_t *id,
    const uint8_t *data, size_t len, const char *addr, uint16_t port,
    const char *taddr, uint16_t tport)
{
	uint8_t		 suf[MSG_UDP_SUFFIX_MAX];
	size_t		 sl = 0, al, tl;

	al = addr != NULL ? strlen(addr) : 0;
	tl = taddr != NULL ? strlen(taddr) : 0;
	if (al > MSG_STR_MAX || tl > MSG_STR_MAX || len > UINT32_MAX)
		return (-1);
	suf[sl++] = (uint8_t)al;
	if (al > 0)
		memcpy(suf + sl, addr, al);
	sl += al;
	suf[sl++] = port >> 8;
	suf[sl++] = port & 0xff;
	suf[sl++] = (uint8_t)tl;
	if (tl > 0)
		memcpy(suf + sl, taddr, tl);
	sl += tl;
	suf[sl++] = tport >> 8;
	suf[sl++] = tport & 0xff;
	return (msg_put_data_flat(out, PROTO_UDP, id, data, len, suf, sl));
}

static int
msg_put_json(struct evbuffer *out, uint8_t type, json_t *j)
{
	uint8_t	 h[MSG_HDR_LEN + 4];
	char	*s;
	size_t	 len;
	int	 rc = -1;

	if (j == NULL)
		return (-1);
	s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (s == NULL)
		return (-1);
	len = strlen(s);
	h[0] = LS_PROTO_VERSION;
	h[1] = type;
	msg_put_u32(h + 2, (uint32_t)len);
	if (evbuffer_expand(out, sizeof(h) + len) == 0 &&
	    evbuffer_add(out, h, sizeof(h)) == 0 &&
	    evbuffer_add(out, s, len) == 0)
		rc = 0;
	free(s);
	return (rc);
}

/*
 * Copy s replacing each invalid UTF-8 byte with U+FFFD, as the reference
 * JSON encoder does; jansson refuses invalid UTF-8 outright.
 */
static char *
msg_utf8_fix(const char *s)
{
	const uint8_t	*p = (const uint8_t *)(s != NULL ? s : "");
	size_t		 len = strlen((const char *)p), i = 0, o = 0, n;
	char		*r;

	if (len > (SIZE_MAX - 1) / 3 || (r = malloc(len * 3 + 1)) == NULL)
		return (NULL);
	while (i < len) {
		if ((n = util_utf8_seq(p + i, len - i)) == 0) {
			memcpy(r + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
			continue;
		}
		memcpy(r + o, p + i, n);
		o += n;
		i += n;
	}
	r[o] = '\0';
	return (r);
}

int
msg_put_log(struct evbuffer *out, const char *level, const char *text)
{
	char	*l, *t;
	json_t	*j = NULL;

	l = msg_utf8_fix(level);
	t = msg_utf8_fix(text);
	if (l != NULL && t != NULL)
		j = json_pack("{s:s, s:s}", "level", l, "msg", t);
	free(l);
	free(t);
	return (msg_put_json(out, MSG_LOG, j));
}

int
msg_put_partners(struct evbuffer *out, int count)
{
	return (msg_put_json(out, MSG_PARTNERS,
	    json_pack("{s:i}", "count", count)));
}
