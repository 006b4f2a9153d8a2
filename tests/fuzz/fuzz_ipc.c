/*
 * fuzz_ipc.c -- libFuzzer harness for the master <-> worker framing
 * (ipc.c).  The input is one received datagram: ipc_parse checks its
 * header, ipc_payload_ok the payload size for its type, and a payload
 * that passes is read the way its receiver reads it (a hand-off's early
 * data to the last byte), from an exact-size copy so that ASan sees a
 * read past the datagram.  The input is also sent as a payload: with
 * the header ipc_send writes, it must parse back unchanged.  A worker's
 * counters (IPC_STATS) also go through the master's table and its
 * renderer, whose output must stay well formed whatever the labels.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "linksocks.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
const char *fuzz_corpus_name = "ipc";

/* The header as ipc_send writes it (struct ipc_hdr in ipc.c). */
struct fuzz_hdr {
	uint16_t	fh_type;
	uint16_t	fh_version;
	uint32_t	fh_len;
};

static volatile uint8_t	fuzz_sink;

static void	 fuzz_check(int);
static void	 fuzz_receive(int, const uint8_t *, size_t);
static void	 fuzz_frame(const uint8_t *, size_t);
static void	 fuzz_metrics_text(struct evbuffer *);

static void
fuzz_check(int ok)
{
	if (!ok)
		abort();
}

/*
 * Rendered text: every line a comment or a sample, a label value never
 * ends a line early, no byte outside printable ASCII.
 */
static void
fuzz_metrics_text(struct evbuffer *out)
{
	size_t		 n = evbuffer_get_length(out), i;
	const char	*s = (const char *)evbuffer_pullup(out, -1);
	int		 bol = 1;

	fuzz_check(n > 0 && s[n - 1] == '\n');
	for (i = 0; i < n; i++) {
		if (bol)
			fuzz_check(s[i] == '#' || strncmp(s + i,
			    "linksocks_", 10) == 0);
		fuzz_check(s[i] == '\n' || (s[i] >= 0x20 && s[i] < 0x7f));
		bol = s[i] == '\n';
	}
}

/* What the receivers (master.c, server.c) do with a checked payload. */
static void
fuzz_receive(int type, const uint8_t *p, size_t len)
{
	struct ipc_handoff	 h;
	struct ipc_providers	 ps;
	struct ipc_provider	 pv;
	struct ipc_token	 it;
	struct ipc_connector	 ic;
	struct ipc_load		 il;
	struct ipc_stats	 is;
	struct ipc_tunnel_fd	 itf;
	struct ipc_sync		 sy;
	struct ipc_sync_done	 sd;
	struct ipc_rules	 ir;
	struct ipc_stat		 st;
	struct ipc_tls_keys	 tk;
	struct evbuffer		*out;
	uint32_t		 peer, i;
	uint8_t			 x = 0;

	switch (type) {
	case IPC_TUNNEL_FD:
	case IPC_TUNNEL_ACK:
		fuzz_check(len == sizeof(itf));
		memcpy(&itf, p, sizeof(itf));
		x = (uint8_t)(itf.itf_seq ^ itf.itf_taken);
		break;
	case IPC_LINK:
		memcpy(&peer, p, sizeof(peer));
		x = (uint8_t)peer;
		break;
	case IPC_PROVIDERS:
		memcpy(&ps, p, sizeof(ps));
		ps.ip_key[sizeof(ps.ip_key) - 1] = '\0';
		x = (uint8_t)strlen(ps.ip_key);
		break;
	case IPC_PROVIDER:
		memcpy(&pv, p, sizeof(pv));
		pv.ip_key[sizeof(pv.ip_key) - 1] = '\0';
		x = (uint8_t)strlen(pv.ip_key);
		break;
	case IPC_TOKEN:
		memcpy(&it, p, sizeof(it));
		it.it_token[sizeof(it.it_token) - 1] = '\0';
		x = (uint8_t)strlen(it.it_token);
		break;
	case IPC_CONNECTOR_RES:
	case IPC_CONNECTOR_REQ:
		memcpy(&ic, p, sizeof(ic));
		ic.ic_token[sizeof(ic.ic_token) - 1] = '\0';
		x = (uint8_t)strlen(ic.ic_token);
		break;
	case IPC_LOAD:
		memcpy(&il, p, sizeof(il));
		x = (uint8_t)il.il_tunnels;
		break;
	case IPC_FATAL:
		x = (uint8_t)strnlen((const char *)p, len);
		break;
	case IPC_TLS_KEYS:
		/* server.c installs the set; tls.c refuses a bad count. */
		fuzz_check(len == sizeof(tk));
		memcpy(&tk, p, sizeof(tk));
		fuzz_check((tls_keys_set(&tk) == 0) ==
		    (tk.itk_n == 1 || tk.itk_n == 2));
		x = tk.itk_keys[0].ttk_name[0];
		break;
	case IPC_STATS_REQ:
	case IPC_LOG_LEVEL:
	case IPC_TLS_RELOAD:
		/* worker.c clamps a level above 2; a reload ignores it. */
		memcpy(&peer, p, sizeof(peer));
		x = (uint8_t)peer;
		break;
	case IPC_STATS:
		memcpy(&is, p, len);
		fuzz_check(is.is_ntokens <= LS_METRICS_TOKENS + 1 &&
		    len == IPC_STATS_SIZE(is.is_ntokens));
		/* What the master does with it: table, then text. */
		metrics_init(NULL, 2, NULL);
		metrics_worker_started(0);
		metrics_worker_report(0, p, len);
		if ((out = evbuffer_new()) == NULL)
			abort();
		metrics_render(out);
		fuzz_metrics_text(out);
		evbuffer_free(out);
		metrics_worker_gone(0);
		break;
	case IPC_HANDOFF:
	case IPC_HANDOFF_IN:
		memcpy(&h, p, sizeof(h));
		fuzz_check(sizeof(h) + h.ih_datalen == len);
		h.ih_key[sizeof(h.ih_key) - 1] = '\0';
		h.ih_host[sizeof(h.ih_host) - 1] = '\0';
		h.ih_peer[sizeof(h.ih_peer) - 1] = '\0';
		/* front_adopt copies the early data into the channel. */
		for (i = 0; i < h.ih_datalen; i++)
			x ^= p[sizeof(h) + i];
		break;
	case IPC_SYNC:
		memcpy(&sy, p, sizeof(sy));
		x = (uint8_t)(sy.is_id ^ sy.is_stats);
		break;
	case IPC_SYNC_DONE:
		memcpy(&sd, p, sizeof(sd));
		x = (uint8_t)(sd.sd_id ^ sd.sd_tunnels ^ sd.sd_channels);
		break;
	case IPC_RULES:
		/* server.c terminates both strings before it reads them. */
		memcpy(&ir, p, sizeof(ir));
		ir.ir_token[sizeof(ir.ir_token) - 1] = '\0';
		ir.ir_text[sizeof(ir.ir_text) - 1] = '\0';
		x = (uint8_t)(strlen(ir.ir_token) ^ strlen(ir.ir_text));
		break;
	case IPC_STAT:
		memcpy(&st, p, sizeof(st));
		st.st_token[sizeof(st.st_token) - 1] = '\0';
		x = (uint8_t)(strlen(st.st_token) ^ st.st_bytes_in);
		break;
	default:
		abort();	/* ipc_payload_ok took an unknown type */
	}
	fuzz_sink = x;
}

/* The input as the payload of a message: it must come back unchanged. */
static void
fuzz_frame(const uint8_t *data, size_t size)
{
	struct fuzz_hdr	 h;
	const uint8_t	*payload;
	uint8_t		*msg;
	size_t		 len;
	char		 err[128];
	int		 type;

	if (size > IPC_MAX_PAYLOAD)
		size = IPC_MAX_PAYLOAD;
	if ((msg = malloc(sizeof(h) + size)) == NULL)
		abort();
	h.fh_type = size > 0 ? data[0] : 0;
	h.fh_version = IPC_VERSION;
	h.fh_len = (uint32_t)size;
	memcpy(msg, &h, sizeof(h));
	memcpy(msg + sizeof(h), data, size);
	fuzz_check(ipc_parse(msg, sizeof(h) + size, &type, &payload, &len,
	    err, sizeof(err)) == 0);
	fuzz_check(type == h.fh_type && len == size &&
	    payload == msg + sizeof(h));
	fuzz_check(memcmp(payload, data, size) == 0);
	free(msg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t	*payload;
	uint8_t		*copy;
	size_t		 len;
	char		 err[128];
	int		 type, ok;

	/* An exact-size copy, so reading one byte too far is caught. */
	if ((copy = malloc(size > 0 ? size : 1)) == NULL)
		abort();
	memcpy(copy, data, size);
	err[0] = '\0';
	if (ipc_parse(copy, size, &type, &payload, &len, err,
	    sizeof(err)) == -1)
		fuzz_check(err[0] != '\0');
	else {
		fuzz_check(payload >= copy && payload + len == copy + size);
		ok = ipc_payload_ok(type, payload, len);
		fuzz_check(ok == 0 || ok == 1);
		if (ok) {
			fuzz_check(strcmp(ipc_typename(type), "unknown") != 0);
			fuzz_receive(type, payload, len);
		}
	}
	free(copy);
	fuzz_frame(data, size);
	return (0);
}
