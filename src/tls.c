/*
 * tls.c -- the server's native TLS: one SSL_CTX built from the PEM
 * certificate chain and key files (--tls-cert, --tls-key), and the
 * session-ticket keys that every worker shares.
 *
 * The master builds the context once before it forks, so that a bad file
 * stops the start with status 2 and the workers (forked, never exec'd)
 * inherit a checked context and the first ticket key.  On SIGHUP the
 * master builds a new context from the files; only if that works does it
 * keep it (for workers it respawns later) and tell the workers
 * (IPC_TLS_RELOAD), each of which builds its own and keeps the old one
 * when that fails.  A connection holds its own reference to the context
 * it began with, so open tunnels are not touched.
 *
 * Ticket keys: the master draws them (RAND_bytes) and rotates them every
 * LS_TLS_TICKET_ROTATE seconds (IPC_TLS_KEYS to every worker); a worker
 * seals new tickets with the current key and opens tickets sealed with
 * the current or the previous one, so a session made on one worker
 * resumes on any other, and across one rotation.  The stateful session
 * cache is off: a worker-local cache would resume only on that worker.
 *
 * Nothing here knows the configuration or the processes: the callers
 * pass file names and the key sets.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#ifdef HAVE_MALLOPT
#include <malloc.h>
#endif

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "linksocks.h"

/* TLS 1.2: forward secrecy and AEAD only.  TLS 1.3: OpenSSL's suites. */
#define TLS_CIPHERS12	"ECDHE+AESGCM:ECDHE+CHACHA20"

static SSL_CTX		*tls_ctx;		/* the current context */
static char		 tls_cert[1024];	/* the files, for reloads */
static char		 tls_key[1024];
static char		 tls_client_ca[1024];	/* "": no client certificates */
static int		 tls_minver;
static int		 tls_ktls;
static struct ipc_tls_keys tls_keys;	/* [0] current, [1] previous */

static void	 tls_err(char *, size_t, const char *, const char *);
static SSL_CTX	*tls_build(char *, size_t);
static int	 tls_alpn(SSL *, const unsigned char **, unsigned char *,
		    const unsigned char *, unsigned int, void *);
static int	 tls_ticket(SSL *, unsigned char *, unsigned char *,
		    EVP_CIPHER_CTX *, EVP_MAC_CTX *, int);

/* "what FILE: OpenSSL's reason" from the error queue, which is emptied. */
static void
tls_err(char *err, size_t errlen, const char *what, const char *file)
{
	unsigned long	 e, first = 0, sys = 0;
	const char	*reason = NULL;

	while ((e = ERR_get_error()) != 0) {
		if (first == 0)
			first = e;
		if (sys == 0 && ERR_SYSTEM_ERROR(e))
			sys = e;
	}
	if (sys != 0)
		reason = strerror(ERR_GET_REASON(sys));
	else if (first != 0)
		reason = ERR_reason_error_string(first);
	snprintf(err, errlen, "%s %s: %s", what, file, reason != NULL ?
	    reason : "unknown error");
}

static SSL_CTX *
tls_build(char *err, size_t errlen)
{
	SSL_CTX		*ctx;
	uint64_t	 op;

	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		tls_err(err, errlen, "TLS context", "(memory)");
		return (NULL);
	}
	op = SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_NO_RENEGOTIATION;
#ifdef SSL_OP_NO_CLIENT_RENEGOTIATION
	op |= SSL_OP_NO_CLIENT_RENEGOTIATION;
#endif
#ifdef SSL_OP_ENABLE_KTLS
	if (tls_ktls)
		op |= SSL_OP_ENABLE_KTLS;
#endif
	SSL_CTX_set_options(ctx, op);
	if (SSL_CTX_set_min_proto_version(ctx, tls_minver) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS12) != 1) {
		tls_err(err, errlen, "TLS settings", "(ciphers)");
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, tls_cert) != 1) {
		tls_err(err, errlen, "certificate", tls_cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, tls_key, SSL_FILETYPE_PEM) !=
	    1 || SSL_CTX_check_private_key(ctx) != 1) {
		tls_err(err, errlen, "key", tls_key);
		snprintf(err + strlen(err), errlen - strlen(err),
		    " (key for certificate %s)", tls_cert);
		goto fail;
	}
	if (tls_client_ca[0] != '\0') {
		STACK_OF(X509_NAME)	*names;

		if (SSL_CTX_load_verify_locations(ctx, tls_client_ca,
		    NULL) != 1 ||
		    (names = SSL_load_client_CA_file(tls_client_ca)) == NULL) {
			tls_err(err, errlen, "client CA", tls_client_ca);
			goto fail;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
		    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"linksocks",
	    9);
	SSL_CTX_set_timeout(ctx, LS_TLS_TICKET_ROTATE);
	SSL_CTX_set_alpn_select_cb(ctx, tls_alpn, NULL);
	SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, tls_ticket);
	return (ctx);
 fail:
	SSL_CTX_free(ctx);
	return (NULL);
}

int
tls_server_init(const char *cert, const char *key, int minver, int ktls,
    char *err, size_t errlen)
{
	if (strlen(cert) >= sizeof(tls_cert) || strlen(key) >= sizeof(tls_key)) {
		snprintf(err, errlen, "certificate or key file name too long");
		return (-1);
	}
	snprintf(tls_cert, sizeof(tls_cert), "%s", cert);
	snprintf(tls_key, sizeof(tls_key), "%s", key);
	tls_minver = minver == 13 ? TLS1_3_VERSION : TLS1_2_VERSION;
	tls_ktls = ktls;
	return (tls_server_reload(err, errlen));
}

/* Client certificates from this CA are required (read on each build). */
int
tls_server_client_ca(const char *file)
{
	if (file == NULL) {
		tls_client_ca[0] = '\0';
		return (0);
	}
	if (strlen(file) >= sizeof(tls_client_ca))
		return (-1);
	snprintf(tls_client_ca, sizeof(tls_client_ca), "%s", file);
	return (0);
}

int
tls_server_reload(char *err, size_t errlen)
{
	SSL_CTX	*ctx;

	if (tls_cert[0] == '\0') {
		snprintf(err, errlen, "no TLS certificate configured");
		return (-1);
	}
	if ((ctx = tls_build(err, errlen)) == NULL)
		return (-1);
	SSL_CTX_free(tls_ctx);	/* connections keep their reference */
	tls_ctx = ctx;
	return (0);
}

struct ssl_ctx_st *
tls_server_ctx(void)
{
	return (tls_ctx);
}

/* "serial 1A2B, expires Dec  4 21:00:00 2027 GMT" of the leaf. */
void
tls_server_describe(char *buf, size_t len)
{
	X509		*x;
	BIGNUM		*bn;
	BIO		*b;
	char		*hex = NULL, when[64] = "?";
	int		 n;

	snprintf(buf, len, "no certificate");
	if (tls_ctx == NULL || (x = SSL_CTX_get0_certificate(tls_ctx)) == NULL)
		return;
	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL)) !=
	    NULL) {
		hex = BN_bn2hex(bn);
		BN_free(bn);
	}
	if ((b = BIO_new(BIO_s_mem())) != NULL) {
		if (ASN1_TIME_print(b, X509_get0_notAfter(x)) == 1 &&
		    (n = BIO_read(b, when, sizeof(when) - 1)) > 0)
			when[n] = '\0';
		BIO_free(b);
	}
	snprintf(buf, len, "serial %s, expires %s", hex != NULL ? hex : "?",
	    when);
	OPENSSL_free(hex);
}

/* ALPN: http/1.1 when offered; a client offering only others gets none. */
static int
tls_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char	 h11[] = "\x08http/1.1";
	unsigned char			*sel;

	if (SSL_select_next_proto(&sel, outlen, h11, sizeof(h11) - 1, in,
	    inlen) != OPENSSL_NPN_NEGOTIATED)
		return (SSL_TLSEXT_ERR_NOACK);
	*out = sel;
	return (SSL_TLSEXT_ERR_OK);
}

/* ---- session tickets ---------------------------------------------- */

/* Master: a new current key; the current one becomes the previous. */
void
tls_keys_rotate(void)
{
	struct tls_ticket_key	k;

	if (RAND_bytes((unsigned char *)&k, sizeof(k)) != 1)
		fatalx("%s: RAND_bytes failed", __func__);
	if (tls_keys.itk_n > 0)
		tls_keys.itk_keys[1] = tls_keys.itk_keys[0];
	tls_keys.itk_keys[0] = k;
	tls_keys.itk_n = tls_keys.itk_n > 0 ? 2 : 1;
	OPENSSL_cleanse(&k, sizeof(k));
}

void
tls_keys_get(struct ipc_tls_keys *ik)
{
	*ik = tls_keys;
}

/* Worker: the master's set; -1 if it is not one (logged by the caller). */
int
tls_keys_set(const struct ipc_tls_keys *ik)
{
	if (ik->itk_n < 1 || ik->itk_n > 2)
		return (-1);
	OPENSSL_cleanse(&tls_keys, sizeof(tls_keys));
	tls_keys = *ik;
	return (0);
}

/*
 * OpenSSL 3's ticket callback: AES-256-CBC and HMAC-SHA256 keyed by the
 * shared set.  Sealing: 1, or 0 (no ticket) without a key.  Opening: 1
 * with the current key, 2 (accept, issue a fresh ticket) with the
 * previous one, 0 (full handshake) for an unknown key name.
 */
static int
tls_ticket(SSL *ssl, unsigned char *name, unsigned char *iv,
    EVP_CIPHER_CTX *ectx, EVP_MAC_CTX *hctx, int enc)
{
	const struct tls_ticket_key	*k = NULL;
	OSSL_PARAM			 params[3];
	uint32_t			 i;

	if (enc) {
		if (tls_keys.itk_n == 0)
			return (0);
		k = &tls_keys.itk_keys[0];
		memcpy(name, k->ttk_name, sizeof(k->ttk_name));
		if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1 ||
		    EVP_EncryptInit_ex(ectx, EVP_aes_256_cbc(), NULL,
		    k->ttk_aes, iv) != 1)
			return (-1);
	} else {
		for (i = 0; i < tls_keys.itk_n && i < 2; i++)
			if (CRYPTO_memcmp(name, tls_keys.itk_keys[i].ttk_name,
			    sizeof(k->ttk_name)) == 0) {
				k = &tls_keys.itk_keys[i];
				break;
			}
		if (k == NULL)
			return (0);
		if (EVP_DecryptInit_ex(ectx, EVP_aes_256_cbc(), NULL,
		    k->ttk_aes, iv) != 1)
			return (-1);
	}
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
	    (void *)k->ttk_hmac, sizeof(k->ttk_hmac));
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[2] = OSSL_PARAM_construct_end();
	if (EVP_MAC_CTX_set_params(hctx, params) != 1)
		return (-1);
	return (enc || k == &tls_keys.itk_keys[0] ? 1 : 2);
}

/*
 * A process that speaks TLS (a server with --tls-cert, a client on
 * wss://): glibc gives large blocks back to the kernel as soon as they
 * are free, and the record layer's buffers and the evbuffer chains
 * around them came and went so that most of the time went to page
 * faults: 40-190 MB/s through a tunnel, 250-350 MB/s with freed memory
 * kept (up to 64 MiB at the top of the heap) and blocks below 4 MiB
 * taken from the heap, measured on this project's 2-core test machine.
 * Called before the workers fork; they inherit it.
 */
void
tls_tune_memory(void)
{
#ifdef HAVE_MALLOPT
	(void)mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
	(void)mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
#endif
}

/* Whether this OpenSSL offers kernel TLS at all (--tls-ktls). */
int
tls_ktls_available(void)
{
#ifdef SSL_OP_ENABLE_KTLS
	return (1);
#else
	return (0);
#endif
}
