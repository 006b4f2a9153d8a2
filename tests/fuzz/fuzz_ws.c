/*
 * fuzz_ws.c -- libFuzzer harness for the WebSocket frame codec
 * (wsframe.c): a header that parses is written again from what was
 * parsed and must parse to the same fields; parsing never reads past the
 * input (exact-size copy for ASan); masking twice with any key and
 * offset gives the input back; a close payload is judged the same as
 * its code and the UTF-8 check of its reason say one by one.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "linksocks.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
const char *fuzz_corpus_name = "ws";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ws_frame	 f, g;
	uint8_t		*copy, h[WS_HDR_MAX], key[4] = { 0, 0, 0, 0 };
	size_t		 n, off;
	int		 r;

	if ((copy = malloc(size > 0 ? size : 1)) == NULL)
		abort();
	memcpy(copy, data, size);
	r = wsframe_parse(copy, size, &f);
	if (r > 0) {
		if ((size_t)r > size || r > WS_HDR_MAX || r < 2)
			abort();
		if (f.wf_op >= WS_OP_CLOSE && (f.wf_len > 125 || !f.wf_fin))
			abort();
		if (f.wf_len >> 63)
			abort();
		n = wsframe_header(h, f.wf_fin, f.wf_op, f.wf_len,
		    f.wf_masked ? f.wf_mask : NULL);
		if (n > sizeof(h) || wsframe_parse(h, n, &g) != (int)n ||
		    g.wf_fin != f.wf_fin || g.wf_op != f.wf_op ||
		    g.wf_masked != f.wf_masked || g.wf_len != f.wf_len ||
		    (f.wf_masked && memcmp(g.wf_mask, f.wf_mask, 4) != 0))
			abort();
		/* Minimal length encoding: never longer than what came in. */
		if (n > (size_t)r)
			abort();
	} else if (r != 0 && r != -1)
		abort();
	/* Mask is its own inverse, at any alignment and key offset. */
	if (size >= 5) {
		memcpy(key, data, 4);
		off = data[4];
		memcpy(copy, data, size);
		wsframe_mask(copy + 5, size - 5, key, off);
		wsframe_mask(copy + 5, size - 5, key, off);
		if (memcmp(copy, data, size) != 0)
			abort();
	}
	/* The input as a close frame's payload, checked independently. */
	memcpy(copy, data, size);
	r = wsframe_close_check(copy, size);
	if (r != 0 && r != 1002 && r != 1007)
		abort();
	if (size >= 2 && r != 1002 &&
	    (r == 1007) == util_utf8_valid(copy + 2, size - 2))
		abort();
	for (off = 0; off < size; off += n)
		if ((n = util_utf8_seq(copy + off, size - off)) == 0)
			break;
		else if (n > 4 || n > size - off)
			abort();
	if ((off == size) != util_utf8_valid(copy, size))
		abort();
	free(copy);
	return (0);
}
