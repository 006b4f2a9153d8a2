/*
 * fuzz_udp.c -- libFuzzer harness for the SOCKS5 UDP datagram header
 * (socks5_udp_parse) and its inverse (socks5_udp_header): a header that
 * parses is rebuilt from what was parsed and must parse the same again,
 * and a parse never reads past the datagram (ASan sees the exact size).
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "linksocks.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
const char *fuzz_corpus_name = "udp";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct socks5_udp	 a, b;
	uint8_t			*copy, h[S5U_HDR_MAX], ip[16];
	int			 e, n, literal;

	/* An exact-size copy, so reading one byte too far is caught. */
	if ((copy = malloc(size > 0 ? size : 1)) == NULL)
		abort();
	memcpy(copy, data, size);
	e = socks5_udp_parse(copy, size, &a);
	if (e < S5U_OK || e > S5U_NAME || socks5_udp_strerror(e) == NULL)
		abort();
	if (e == S5U_OK) {
		/* Smallest: a one-letter domain, 4 + 1 + 1 + 2 bytes. */
		if (a.su_hdrlen > size || a.su_hdrlen < 8 ||
		    memchr(a.su_host, '\0', sizeof(a.su_host)) == NULL ||
		    a.su_host[0] == '\0')
			abort();
		/* Rebuild the header from the text: it parses the same. */
		n = socks5_udp_header(h, (const uint8_t *)a.su_host,
		    strlen(a.su_host), a.su_port);
		if (n <= 0 || (size_t)n > sizeof(h))
			abort();
		if (socks5_udp_parse(h, (size_t)n, &b) != S5U_OK ||
		    a.su_port != b.su_port || b.su_hdrlen != (size_t)n)
			abort();
		/*
		 * The same text, except a domain that is an IP literal: it
		 * comes back as an address (an IPv4-mapped one as IPv4).
		 */
		literal = inet_pton(AF_INET, a.su_host, ip) == 1 ||
		    inet_pton(AF_INET6, a.su_host, ip) == 1;
		if (!(a.su_atyp == S5_ATYP_DOMAIN && literal) &&
		    strcmp(a.su_host, b.su_host) != 0)
			abort();
	}
	free(copy);
	return (0);
}
