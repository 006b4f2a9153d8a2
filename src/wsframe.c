/*
 * wsframe.c -- the pure parts of RFC 6455, apart from any connection:
 * frame headers (section 5.2), masking (5.3) on flat buffers and in
 * place on evbuffers, masking keys, and the handshake's key check and
 * Sec-WebSocket-Accept value (4.2).  ws.c drives a connection with
 * these; the Check units and the fuzz harness call them directly.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "linksocks.h"

#define WS_GUID			"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/*
 * Parse a frame header.  Returns its length, 0 if more bytes are needed,
 * or -1 for a header no peer may send: reserved bits (no extension is
 * negotiated), an unknown opcode, a fragmented or over-long control
 * frame, or a 64-bit length with the top bit set.
 */
int
wsframe_parse(const uint8_t *p, size_t len, struct ws_frame *f)
{
	size_t		 need = 2;
	uint64_t	 n;
	int		 i;

	if (len < 2)
		return (0);
	if (p[0] & 0x70)
		return (-1);
	f->wf_fin = (p[0] & 0x80) != 0;
	f->wf_op = p[0] & 0x0f;
	f->wf_masked = (p[1] & 0x80) != 0;
	n = p[1] & 0x7f;
	switch (f->wf_op) {
	case WS_OP_CONT:
	case WS_OP_TEXT:
	case WS_OP_BINARY:
		break;
	case WS_OP_CLOSE:
	case WS_OP_PING:
	case WS_OP_PONG:
		if (!f->wf_fin || n > 125)
			return (-1);
		break;
	default:
		return (-1);
	}
	if (n == 126)
		need += 2;
	else if (n == 127)
		need += 8;
	if (f->wf_masked)
		need += 4;
	if (len < need)
		return (0);
	if (n == 126)
		n = (uint64_t)p[2] << 8 | p[3];
	else if (n == 127) {
		if (p[2] & 0x80)
			return (-1);
		for (n = 0, i = 0; i < 8; i++)
			n = n << 8 | p[2 + i];
	}
	f->wf_len = n;
	if (f->wf_masked)
		memcpy(f->wf_mask, p + need - 4, 4);
	return ((int)need);
}

/* Write a frame header (mask NULL: unmasked); returns its length. */
size_t
wsframe_header(uint8_t *out, int fin, int op, uint64_t len,
    const uint8_t *mask)
{
	size_t	 o = 0;
	int	 i;

	out[o++] = (uint8_t)((fin ? 0x80 : 0) | (op & 0x0f));
	if (len < 126)
		out[o++] = (uint8_t)len;
	else if (len <= 0xffff) {
		out[o++] = 126;
		out[o++] = (uint8_t)(len >> 8);
		out[o++] = (uint8_t)len;
	} else {
		out[o++] = 127;
		for (i = 7; i >= 0; i--)
			out[o++] = (uint8_t)(len >> (8 * i));
	}
	if (mask != NULL) {
		out[1] |= 0x80;
		memcpy(out + o, mask, 4);
		o += 4;
	}
	return (o);
}

/* XOR len bytes with the key, starting at key offset off (mod 4). */
void
wsframe_mask(uint8_t *p, size_t len, const uint8_t *key, size_t off)
{
	uint8_t		 k8[8];
	uint64_t	 k, v;
	size_t		 i;

	while (len > 0 && ((uintptr_t)p & 7) != 0) {
		*p++ ^= key[off++ & 3];
		len--;
	}
	for (i = 0; i < 8; i++)
		k8[i] = key[(off + i) & 3];
	memcpy(&k, k8, sizeof(k));
	for (; len >= 8; p += 8, len -= 8) {	/* 8 = 2 keys: off stays */
		memcpy(&v, p, sizeof(v));
		v ^= k;
		memcpy(p, &v, sizeof(v));
	}
	while (len > 0) {
		*p++ ^= key[off++ & 3];
		len--;
	}
}

/* Mask the first len bytes of an evbuffer in place. */
void
wsframe_mask_evbuffer(struct evbuffer *b, size_t len, const uint8_t *key,
    size_t off)
{
	struct evbuffer_iovec	 v[16];
	struct evbuffer_ptr	 pos;
	size_t			 done = 0, n;
	int			 i, nv;

	if (len == 0)
		return;
	evbuffer_ptr_set(b, &pos, 0, EVBUFFER_PTR_SET);
	while (done < len) {
		nv = evbuffer_peek(b, (ev_ssize_t)(len - done), &pos, v,
		    (int)LS_NITEMS(v));
		if (nv <= 0)
			break;
		if (nv > (int)LS_NITEMS(v))
			nv = (int)LS_NITEMS(v);
		for (i = 0; i < nv && done < len; i++) {
			n = v[i].iov_len;
			if (n > len - done)
				n = len - done;
			wsframe_mask(v[i].iov_base, n, key, off + done);
			done += n;
		}
		if (evbuffer_ptr_set(b, &pos, done, EVBUFFER_PTR_SET) == -1)
			break;
	}
}

/* Masking keys from a strong source, drawn in batches. */
void
wsframe_genmask(uint8_t *key)
{
	static uint8_t	 pool[512];
	static size_t	 left;

	if (left < 4) {
		if (RAND_bytes(pool, sizeof(pool)) != 1)
			fatalx("%s: RAND_bytes failed", __func__);
		left = sizeof(pool);
	}
	left -= 4;
	memcpy(key, pool + left, 4);
}

/* A Sec-WebSocket-Key must be the base64 text of 16 bytes. */
int
wsframe_key_valid(const char *key)
{
	unsigned char	 raw[32];
	size_t		 len;

	if (key == NULL || (len = strlen(key)) != 24 ||
	    key[22] != '=' || key[23] != '=')
		return (0);
	/* EVP_DecodeBlock counts the padding as zero bytes: 18. */
	return (EVP_DecodeBlock(raw, (const unsigned char *)key, 24) == 18);
}

/* Sec-WebSocket-Accept for a key: out gets 28 characters and a NUL. */
void
wsframe_accept_key(const char *key, char *out)
{
	EVP_MD_CTX	*md;
	unsigned char	 dig[EVP_MAX_MD_SIZE];
	unsigned int	 dlen = 0;

	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(md, EVP_sha1(), NULL) != 1 ||
	    EVP_DigestUpdate(md, key, strlen(key)) != 1 ||
	    EVP_DigestUpdate(md, WS_GUID, sizeof(WS_GUID) - 1) != 1 ||
	    EVP_DigestFinal_ex(md, dig, &dlen) != 1 || dlen != 20)
		fatalx("%s: SHA-1 failed", __func__);
	EVP_MD_CTX_free(md);
	EVP_EncodeBlock((unsigned char *)out, dig, (int)dlen);
}

/*
 * Is a received close frame's payload valid (RFC 6455 5.5.1, 7.4)?
 * Empty, or a status code a peer may send and a reason in UTF-8.
 * Returns 0, or 1002 (a length of 1, a code no peer may send) or 1007
 * (a reason that is not UTF-8).  1012-1014 are the IANA-registered
 * codes after the RFC (we send 1013 ourselves).
 */
int
wsframe_close_check(const uint8_t *p, size_t len)
{
	unsigned	 code;

	if (len == 0)
		return (0);
	if (len == 1)
		return (1002);
	code = (unsigned)p[0] << 8 | p[1];
	if (!((code >= 1000 && code <= 1003) ||
	    (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999)))
		return (1002);
	if (!util_utf8_valid(p + 2, len - 2))
		return (1007);
	return (0);
}
