/*
 * check_tls.c -- unit tests for the server's TLS (tls.c) without a
 * socket: a self-signed certificate made here with OpenSSL, handshakes
 * between a client SSL and one of tls_server_ctx() over a BIO pair.  A
 * session resumes after one ticket key rotation (the previous key still
 * opens it) and not after two; a key set the master sends installs, a
 * malformed one does not; a context built from the same files (another
 * worker) resumes the session of the first; a bad file on reload keeps
 * the old context; ALPN answers http/1.1.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "linksocks.h"
#include "lib/check_main.h"

static char	dir[] = "/tmp/check_tls.XXXXXX";
static char	cert_path[256], key_path[256], other_key[256];

/* A P-256 key and a self-signed certificate for 127.0.0.1. */
static void
write_pair(const char *cpath, const char *kpath)
{
	EVP_PKEY	*pk;
	X509		*x;
	X509_NAME	*n;
	FILE		*f;

	ck_assert_ptr_nonnull(pk = EVP_EC_gen("P-256"));
	ck_assert_ptr_nonnull(x = X509_new());
	ck_assert_int_eq(X509_set_version(x, 2), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 0x1a2b);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	ck_assert_int_eq(X509_set_pubkey(x, pk), 1);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)"localhost", -1, -1, 0);
	X509_set_issuer_name(x, n);
	ck_assert_int_gt(X509_sign(x, pk, EVP_sha256()), 0);
	if (cpath != NULL) {
		ck_assert_ptr_nonnull(f = fopen(cpath, "w"));
		ck_assert_int_eq(PEM_write_X509(f, x), 1);
		fclose(f);
	}
	ck_assert_ptr_nonnull(f = fopen(kpath, "w"));
	ck_assert_int_eq(PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL,
	    NULL), 1);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(pk);
}

static void
setup(void)
{
	char	err[512];

	snprintf(dir, sizeof(dir), "/tmp/check_tls.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", dir);
	snprintf(key_path, sizeof(key_path), "%s/key.pem", dir);
	snprintf(other_key, sizeof(other_key), "%s/other.pem", dir);
	write_pair(cert_path, key_path);
	write_pair(NULL, other_key);
	log_init(0, 0);
	ck_assert_msg(tls_server_init(cert_path, key_path, 12, 0, err,
	    sizeof(err)) == 0, "tls_server_init: %s", err);
	tls_keys_rotate();
}

static void
teardown(void)
{
	unlink(cert_path);
	unlink(key_path);
	unlink(other_key);
	rmdir(dir);
}

/*
 * One handshake of a client (offering sess, or none) against a server
 * SSL of ctx, TLS version v, over a BIO pair; returns the client's
 * session (its ticket, if one came) and whether it was reused.
 */
static SSL_SESSION *
handshake(SSL_CTX *ctx, int v, SSL_SESSION *sess, int *reused,
    char *alpn, size_t alpnlen)
{
	SSL_CTX			*cctx;
	SSL			*c, *s;
	BIO			*cb, *sb;
	SSL_SESSION		*out;
	const unsigned char	*p;
	unsigned int		 plen;
	char			 buf[16];
	int			 i, rc = 0, rs = 0, cdone = 0, sdone = 0;

	ck_assert_ptr_nonnull(cctx = SSL_CTX_new(TLS_client_method()));
	SSL_CTX_set_min_proto_version(cctx, v);
	SSL_CTX_set_max_proto_version(cctx, v);
	/* No client cache: freeing it would mark its sessions dead. */
	SSL_CTX_set_session_cache_mode(cctx, SSL_SESS_CACHE_OFF);
	ck_assert_ptr_nonnull(c = SSL_new(cctx));
	ck_assert_ptr_nonnull(s = SSL_new(ctx));
	ck_assert_int_eq(SSL_set_alpn_protos(c,
	    (const unsigned char *)"\x02h2\x08http/1.1", 12), 0);
	ck_assert_int_eq(BIO_new_bio_pair(&cb, 0, &sb, 0), 1);
	SSL_set_bio(c, cb, cb);
	SSL_set_bio(s, sb, sb);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	if (sess != NULL)
		ck_assert_int_eq(SSL_set_session(c, sess), 1);
	for (i = 0; i < 100 && !(cdone && sdone); i++) {
		if (!cdone && (rc = SSL_do_handshake(c)) == 1)
			cdone = 1;
		else if (!cdone)
			ck_assert_int_eq(SSL_get_error(c, rc),
			    SSL_ERROR_WANT_READ);
		if (!sdone && (rs = SSL_do_handshake(s)) == 1)
			sdone = 1;
		else if (!sdone)
			ck_assert_int_eq(SSL_get_error(s, rs),
			    SSL_ERROR_WANT_READ);
	}
	ck_assert(cdone && sdone);
	/* TLS 1.3 tickets come after the handshake: read them. */
	ck_assert_int_eq(SSL_write(s, "x", 1), 1);
	ck_assert_int_eq(SSL_read(c, buf, sizeof(buf)), 1);
	*reused = SSL_session_reused(c);
	SSL_get0_alpn_selected(c, &p, &plen);
	snprintf(alpn, alpnlen, "%.*s", (int)plen, p != NULL ? (const char *)p :
	    "");
	out = SSL_get1_session(c);
	/* A clean end: a session of a connection freed without one is
	 * marked not resumable. */
	SSL_set_shutdown(c, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_set_shutdown(s, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(cctx);
	return (out);
}

START_TEST(test_resume_across_rotation)
{
	int		 v = _i == 0 ? TLS1_2_VERSION : TLS1_3_VERSION, r;
	SSL_SESSION	*s0, *s1;
	char		 alpn[32];

	s0 = handshake(tls_server_ctx(), v, NULL, &r, alpn, sizeof(alpn));
	ck_assert_int_eq(r, 0);
	ck_assert_str_eq(alpn, "http/1.1");
	ck_assert(SSL_SESSION_has_ticket(s0));
	ck_assert(SSL_SESSION_is_resumable(s0));
	/* Same key: resumes. */
	s1 = handshake(tls_server_ctx(), v, s0, &r, alpn, sizeof(alpn));
	ck_assert_int_eq(r, 1);
	SSL_SESSION_free(s1);
	/* One rotation: the previous key still opens it. */
	tls_keys_rotate();
	s1 = handshake(tls_server_ctx(), v, s0, &r, alpn, sizeof(alpn));
	ck_assert_int_eq(r, 1);
	SSL_SESSION_free(s1);
	/* Two: gone, a full handshake. */
	tls_keys_rotate();
	s1 = handshake(tls_server_ctx(), v, s0, &r, alpn, sizeof(alpn));
	ck_assert_int_eq(r, 0);
	SSL_SESSION_free(s1);
	SSL_SESSION_free(s0);
}
END_TEST

/*
 * Another worker: its own context from the same files, the master's
 * keys by IPC_TLS_KEYS.  A malformed set changes nothing.
 */
START_TEST(test_keys_shared)
{
	struct ipc_tls_keys	 ik, bad;
	SSL_SESSION		*s0, *s1;
	SSL_CTX			*first;
	char			 err[512], alpn[32];
	int			 r;

	s0 = handshake(tls_server_ctx(), TLS1_3_VERSION, NULL, &r, alpn,
	    sizeof(alpn));
	tls_keys_get(&ik);
	ck_assert_uint_ge(ik.itk_n, 1);
	first = tls_server_ctx();
	SSL_CTX_up_ref(first);
	ck_assert_int_eq(tls_server_reload(err, sizeof(err)), 0);
	ck_assert_ptr_ne(tls_server_ctx(), first);
	/* Scramble our keys, then install the master's. */
	tls_keys_rotate();
	tls_keys_rotate();
	memset(&bad, 0, sizeof(bad));
	bad.itk_n = 3;
	ck_assert_int_eq(tls_keys_set(&bad), -1);
	bad.itk_n = 0;
	ck_assert_int_eq(tls_keys_set(&bad), -1);
	ck_assert_int_eq(tls_keys_set(&ik), 0);
	s1 = handshake(tls_server_ctx(), TLS1_3_VERSION, s0, &r, alpn,
	    sizeof(alpn));
	ck_assert_int_eq(r, 1);
	SSL_SESSION_free(s1);
	SSL_SESSION_free(s0);
	SSL_CTX_free(first);
}
END_TEST

/* A bad file on reload: -1 with the file and reason, old context kept. */
START_TEST(test_reload_bad)
{
	SSL_CTX	*before = tls_server_ctx();
	char	 err[512], desc[160], alpn[32];
	int	 r;

	tls_server_describe(desc, sizeof(desc));
	ck_assert_ptr_nonnull(strstr(desc, "serial 1A2B"));
	/* The key of another certificate. */
	ck_assert_int_eq(rename(other_key, key_path), 0);
	ck_assert_int_eq(tls_server_reload(err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, key_path));
	ck_assert_ptr_nonnull(strstr(err, "key values mismatch"));
	ck_assert_ptr_eq(tls_server_ctx(), before);
	/* A missing certificate. */
	ck_assert_int_eq(unlink(cert_path), 0);
	ck_assert_int_eq(tls_server_reload(err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "No such file or directory"));
	ck_assert_ptr_eq(tls_server_ctx(), before);
	SSL_SESSION_free(handshake(tls_server_ctx(), TLS1_2_VERSION, NULL,
	    &r, alpn, sizeof(alpn)));
}
END_TEST

static Suite *
tls_suite(void)
{
	Suite	*s = suite_create("tls");
	TCase	*tc = tcase_create("server");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_resume_across_rotation, 0, 2);
	tcase_add_test(tc, test_keys_shared);
	tcase_add_test(tc, test_reload_bad);
	suite_add_tcase(s, tc);
	return (s);
}

const check_suite_fn check_suites[] = { tls_suite, NULL };
