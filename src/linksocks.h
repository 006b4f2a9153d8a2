/*
 * linksocks -- SOCKS5 over WebSocket, wire compatible with linksocks 0x01.
 *
 * One internal header: types first, then prototypes grouped by the file
 * that defines them.  Every exported function carries its file's prefix.
 */
#ifndef LINKSOCKS_H
#define LINKSOCKS_H

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/queue.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>

#ifndef __dead
#define __dead		__attribute__((__noreturn__))
#endif
#define LS_PRINTF(a, b)	__attribute__((__format__(printf, a, b)))
#define LS_UNUSED	__attribute__((__unused__))

#define LS_NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

/* Protocol constants (spec appendix B). */
#define LS_PROTO_VERSION	0x01
#define MSG_DATA_HDR		24	/* Data header up to DataLen */
#define LS_REF_VERSION		"v1.8.9"	/* reported in GET / and status */
#define LS_MSG_MAX		(32u * 1024 * 1024)	/* WebSocket read limit */
#define LS_GZIP_THRESHOLD	(512u * 1024)
#define LS_INFLATE_MAX		(64u * 1024 * 1024)	/* P-18 cap */
#define LS_CONNECT_TIMEOUT	10	/* seconds */
#define LS_FASTOPEN_GUARD	(LS_CONNECT_TIMEOUT + 5)
#define LS_WAIT_TUNNEL		10	/* SOCKS waits this long for a tunnel */
#define LS_PING_INTERVAL	30
#define LS_READ_TIMEOUT		60	/* after last frame/pong received */
#define LS_CHANNEL_ID_LEN	16
#define LS_DEFAULT_WS_PORT	8765
#define LS_DEFAULT_SOCKS_PORT	9870
#define LS_UDP_TIMEOUT		300	/* seconds an idle association lives */
#define LS_WINDOW		(4 * 1024 * 1024)	/* per-channel credit */
#define LS_WINDOW_MIN		(64 * 1024)
#define LS_WINDOW_MAX		(256 * 1024 * 1024)
#define LS_MAX_CHANNELS		65536	/* open channels per tunnel */
#define LS_MAX_CHANNELS_LIMIT	1048576
#define LS_MAX_UDP		1024	/* UDP associations per tunnel */
#define LS_MAX_UDP_LIMIT	65536

/*
 * What a peer may cost before it has authenticated (man page, SECURITY),
 * in each worker process.  The deadline runs from the accept and covers
 * the HTTP request head; the message limit is raised to LS_MSG_MAX once
 * the tunnel is authenticated.  At a cap the oldest goes first.
 */
#define LS_PREAUTH_TIMEOUT	30	/* seconds, accept to authenticated */
#define LS_PREAUTH_MSG_MAX	4096	/* a message, reassembled fragments */
#define LS_PREAUTH_MAX		256	/* tunnel connections not authenticated */
#define LS_PREAUTH_BYTES	(4u * 1024 * 1024)	/* what they buffer */
#define LS_SOCKS_PREAUTH_MAX	4096	/* SOCKS5 sessions still negotiating
					 * (default of --max-negotiating) */

/*
 * Failed authentications, counted per source address in each worker
 * (throttle.c): the first LS_THROTTLE_FREE are answered at once, the
 * n-th after min(2^(n - LS_THROTTLE_FREE) * LS_THROTTLE_BASE_MS,
 * LS_THROTTLE_MAX_MS); one is forgotten every LS_THROTTLE_FORGET
 * seconds, so the largest count (LS_THROTTLE_CAP) is gone in a minute,
 * and a success forgets them all.
 */
#define LS_THROTTLE_SLOTS	1024	/* addresses remembered */
#define LS_THROTTLE_FREE	3
#define LS_THROTTLE_BASE_MS	100
#define LS_THROTTLE_MAX_MS	5000
#define LS_THROTTLE_FORGET	6	/* seconds */
#define LS_THROTTLE_CAP		10

/* Exit status a worker uses for "fatal, do not respawn, stop everything". */
#define LS_EXIT_FATAL		3

/* ------------------------------------------------------------------ */
/* msg.c: linksocks message codec (pure, no I/O)                       */

enum msg_type {
	MSG_UNKNOWN = 0x00,
	MSG_AUTH = 0x01,
	MSG_AUTH_RESPONSE = 0x02,
	MSG_CONNECT = 0x03,
	MSG_DATA = 0x04,
	MSG_CONNECT_RESPONSE = 0x05,
	MSG_DISCONNECT = 0x06,
	MSG_CONNECTOR = 0x07,
	MSG_CONNECTOR_RESPONSE = 0x08,
	MSG_LOG = 0x09,
	MSG_PARTNERS = 0x0a,
	MSG_DIRECT_CAPS = 0x0b,
	MSG_DIRECT_RENDEZVOUS = 0x0c,
	MSG_DIRECT_STATUS = 0x0d,
	/* Extension, only on tunnels that negotiated "credit": */
	MSG_WINDOW = 0xf1	/* ChannelID, u32 credit increment */
};

enum msg_proto {
	PROTO_NONE = 0,
	PROTO_TCP = 1,
	PROTO_UDP = 2
};

enum msg_connector_op {
	CONNECTOR_ADD = 1,
	CONNECTOR_REMOVE = 2
};

/* A byte string pointing into the parsed buffer (not NUL terminated). */
struct msg_str {
	const uint8_t	*p;
	size_t		 len;
};

/*
 * A parsed message.  Strings and m_data point into the buffer given to
 * msg_parse() (or into m_inflated for gzip Data), so the buffer must
 * outlive the struct.  msg_free() releases m_inflated.
 */
struct msg {
	uint8_t		 m_version;
	uint8_t		 m_type;	/* enum msg_type; MSG_UNKNOWN for others */
	uint8_t		 m_rawtype;	/* type byte as received */
	uint8_t		 m_id[LS_CHANNEL_ID_LEN]; /* ChannelID or Instance */
	int		 m_success;	/* AuthResponse, ConnectResponse, ConnectorResponse */
	int		 m_reverse;	/* Auth */
	int		 m_proto;	/* Connect, Data: enum msg_proto */
	int		 m_op;		/* Connector */
	int		 m_compression;	/* Data: byte as received */
	struct msg_str	 m_token;	/* Auth, Connector, ConnectorResponse(ok) */
	struct msg_str	 m_error;	/* *Response(fail), Disconnect */
	struct msg_str	 m_addr;	/* Connect; Data(udp) Address */
	uint16_t	 m_port;	/* Connect; Data(udp) Port */
	struct msg_str	 m_taddr;	/* Data(udp) TargetAddr */
	uint16_t	 m_tport;	/* Data(udp) TargetPort */
	struct msg_str	 m_json;	/* Log, Partners, 0x0b-0x0d */
	uint32_t	 m_window;	/* Window: credit increment */
	const uint8_t	*m_data;	/* Data payload (inflated if gzip) */
	size_t		 m_datalen;
	uint8_t		*m_inflated;	/* owned by the struct */
};

/*
 * Parse one whole message.  Returns 0, or -1 with a reference-style error
 * text in err ("message too short", "invalid data message length", ...).
 * Gzip Data is inflated up to maxinflate bytes (error above it).
 */
int		 msg_parse(struct msg *, const uint8_t *, size_t, size_t,
		    char *, size_t);
void		 msg_free(struct msg *);
const char	*msg_typename(int);

/*
 * Encoders: each appends one complete message to the evbuffer and returns
 * 0, or -1 (allocation failure, string > 255 bytes where it cannot be
 * truncated).  Error texts longer than 255 bytes are truncated (P-17).
 * NULL strings are treated as empty.
 */
int		 msg_put_auth(struct evbuffer *, const char *, int,
		    const uint8_t *);
int		 msg_put_auth_response(struct evbuffer *, int, const char *);
int		 msg_put_connect(struct evbuffer *, int, const uint8_t *,
		    const char *, uint16_t);
/* TCP Data from a flat buffer; gzip when len >= LS_GZIP_THRESHOLD. */
int		 msg_put_data(struct evbuffer *, const uint8_t *,
		    const uint8_t *, size_t);
/* The header alone of a TCP Data message of len bytes (MSG_DATA_HDR). */
void		 msg_data_header(uint8_t *, const uint8_t *, uint32_t);
/* TCP Data moving len bytes out of src (no copy below the threshold). */
int		 msg_put_data_evbuffer(struct evbuffer *, const uint8_t *,
		    struct evbuffer *, size_t);
/* UDP Data: addr/port = source (dial->socks), taddr/tport = target. */
int		 msg_put_data_udp(struct evbuffer *, const uint8_t *,
		    const uint8_t *, size_t, const char *, uint16_t,
		    const char *, uint16_t);
int		 msg_put_connect_response(struct evbuffer *, int,
		    const uint8_t *, const char *);
int		 msg_put_disconnect(struct evbuffer *, const uint8_t *,
		    const char *);
int		 msg_put_connector(struct evbuffer *, const uint8_t *,
		    const char *, int);
int		 msg_put_connector_response(struct evbuffer *,
		    const uint8_t *, int, const char *);
int		 msg_put_log(struct evbuffer *, const char *, const char *);
int		 msg_put_partners(struct evbuffer *, int);
int		 msg_put_window(struct evbuffer *, const uint8_t *, uint32_t);

/* ------------------------------------------------------------------ */
/* socks5.c: SOCKS5 server-side parser (pure, resumable)               */

enum socks5_state {
	S5_GREETING,
	S5_AUTH,
	S5_REQUEST,
	S5_DONE,	/* request parsed: fields below are valid */
	S5_FAILED	/* a reply (if any) is in the output; close after flush */
};

#define S5_CMD_CONNECT		0x01
#define S5_CMD_BIND		0x02
#define S5_CMD_UDP		0x03

#define S5_ATYP_IPV4		0x01
#define S5_ATYP_DOMAIN		0x03
#define S5_ATYP_IPV6		0x04

#define S5_REP_OK		0x00
#define S5_REP_FAIL		0x01
#define S5_REP_NOTALLOWED	0x02
#define S5_REP_NETUNREACH	0x03
#define S5_REP_HOSTUNREACH	0x04
#define S5_REP_REFUSED		0x05
#define S5_REP_TTL		0x06
#define S5_REP_CMD		0x07
#define S5_REP_ATYP		0x08

struct socks5 {
	enum socks5_state s5_state;
	const char	*s5_user;	/* configured credentials: both */
	const char	*s5_pass;	/* non-NULL and non-empty = required */
	int		 s5_anyauth;	/* RFC 1929 chosen without creds */
	/* Results, valid in S5_DONE. */
	uint8_t		 s5_cmd;
	uint8_t		 s5_atyp;
	char		 s5_host[256];	/* text sent in Connect */
	uint16_t	 s5_port;
	char		 s5_user_got[256];	/* RFC 1929 user, for logs */
	const char	*s5_error;	/* static text why S5_FAILED */
};

void		 socks5_init(struct socks5 *, const char *, const char *);
/*
 * Consume what is complete from in, append replies to out.  Returns the
 * new state.  In S5_DONE, bytes after the request stay in `in' (early
 * data for fast open).
 */
enum socks5_state socks5_input(struct socks5 *, struct evbuffer *,
		    struct evbuffer *);
/* Append a 10-byte (IPv4/NULL) or 22-byte (IPv6) reply. */
void		 socks5_reply(struct evbuffer *, uint8_t,
		    const struct sockaddr *);
const char	*socks5_strstate(enum socks5_state);
/* Go's text for an IPv6 address (IPv4-mapped as dotted quad). */
void		 socks5_ipv6_text(const uint8_t *, char *, size_t);
void		 socks5_addr_text(const struct sockaddr *, char *, size_t);

/* SOCKS5 UDP datagram header (RFC 1928 section 7), pure. */
enum socks5_udp_err {
	S5U_OK,
	S5U_SHORT,		/* < 4 bytes */
	S5U_RSV,		/* RSV != 0 */
	S5U_FRAG,		/* FRAG != 0: fragments are not reassembled */
	S5U_ATYP,		/* unknown address type */
	S5U_TRUNC,		/* address or port cut short */
	S5U_NAME		/* empty domain, or NUL in it */
};
#define S5U_HDR_MAX		(4 + 1 + 255 + 2)

struct socks5_udp {
	uint8_t		 su_atyp;
	char		 su_host[256];	/* text for Data(udp) TargetAddr */
	uint16_t	 su_port;
	size_t		 su_hdrlen;	/* payload starts here */
};

int		 socks5_udp_parse(const uint8_t *, size_t, struct socks5_udp *);
const char	*socks5_udp_strerror(int);
int		 socks5_udp_header(uint8_t *, const uint8_t *, size_t,
		    uint16_t);

/* ------------------------------------------------------------------ */
/* rules.c: destination access rules (pure, no I/O)                    */

/* One address spec, inclusive, in 16-byte form (IPv4 as ::ffff:a.b.c.d). */
struct rules_range {
	uint8_t		 rr_lo[16];
	uint8_t		 rr_hi[16];
};

struct rules_ports {
	uint16_t	 rp_lo;
	uint16_t	 rp_hi;
};

/* One allow entry: no address spec = any address, no port spec = any. */
struct rule {
	char			*r_text;	/* as given, for logs */
	struct rules_range	*r_addrs;
	size_t			 r_naddrs;
	struct rules_ports	*r_ports;
	size_t			 r_nports;
};

/* A rule set: empty allows everything. */
struct rules {
	struct rule	*rs_rules;
	size_t		 rs_n;
};

/* What the address is, for the defaults of a forward server. */
enum rules_class {
	RC_OTHER,		/* an ordinary unicast address */
	RC_LOOPBACK,		/* 127.0.0.0/8, ::1 */
	RC_LINKLOCAL,		/* 169.254.0.0/16, fe80::/10 */
	RC_UNSPEC,		/* 0.0.0.0/8, :: */
	RC_MULTICAST		/* 224.0.0.0/4, 255.255.255.255, ff00::/8 */
};

enum rules_verdict {
	RV_ALLOW,
	RV_NORULE,		/* rules are set and none matches */
	RV_CLASS,		/* refused by default: see rules_classify */
	RV_SELF			/* one of our own listening sockets */
};

#define RULES_MAXPORTS		16

/* Where a destination is checked, and what applies there. */
struct rules_policy {
	const struct rules *pl_rules;	/* NULL or empty: no rules */
	int		 pl_defaults;	/* refuse the classes above RC_OTHER */
	int		 pl_allow_private; /* ... but not loopback, link-local */
	const uint16_t	*pl_ports;	/* our listening ports */
	size_t		 pl_nports;
};

/* Parse one rule and add it; -1 with the problem in err. */
int		 rules_add(struct rules *, const char *, char *, size_t);
void		 rules_clear(struct rules *);
/* The 16-byte form of an AF_INET or AF_INET6 address; -1 otherwise. */
int		 rules_addr16(const struct sockaddr *, uint8_t *);
/* ... of a literal IPv4 or IPv6 text; -1 if it is not one. */
int		 rules_parse_ip(const char *, uint8_t *);
enum rules_class rules_classify(const uint8_t *);
const char	*rules_strclass(enum rules_class);
/* Does a rule match?  *named: the address spec that matched lies wholly
 * inside the block of the address's class (it names it). */
int		 rules_match(const struct rules *, const uint8_t *, uint16_t,
		    int *);
/* Could a rule match port on some address? */
int		 rules_match_port(const struct rules *, uint16_t);
/* Is port one of the policy's own listening ports? */
int		 rules_own_port(const struct rules_policy *, uint16_t);
/*
 * The verdict for a destination; local: the address is one of this
 * host's (loopback and unspecified addresses always are).
 */
enum rules_verdict rules_check(const struct rules_policy *, const uint8_t *,
		    uint16_t, int);
/* The verdict for a host text from a request: a literal is checked as
 * above (not local); a name only on its port. */
enum rules_verdict rules_check_host(const struct rules_policy *,
		    const char *, uint16_t);
/* Why: "no access rule matches", "loopback address", ... */
const char	*rules_why(enum rules_verdict, const uint8_t *);

/* ------------------------------------------------------------------ */
/* url.c: client URL normalisation (spec 2.2)                          */

struct ls_url {
	int		 u_tls;		/* wss */
	char		 u_host[256];	/* no brackets */
	uint16_t	 u_port;
	char		 u_path[1024];	/* path + "?" + query, starts with / */
	int		 u_query_auth;	/* path was exactly /socket */
};

int		 url_parse(const char *, struct ls_url *, char *, size_t);
/* Host names: letters, digits, '-', '.', '_'. */
int		 url_host_ok(const char *);
/* The request target for query auth: /socket?instance=..&reverse=..&token=.. */
int		 url_auth_target(const struct ls_url *, const char *, int,
		    const uint8_t *, char *, size_t);
void		 url_uuid_format(const uint8_t *, char *);	/* 37 bytes */
#define LS_SHA256_LEN	32
void		 url_sha256(const void *, size_t, uint8_t *);	/* 32 bytes */
void		 url_sha256_hex(const char *, size_t, char *);	/* 65 bytes */

/* ------------------------------------------------------------------ */
/* proxy.c: the client end of an HTTP CONNECT or SOCKS5 proxy           */

enum proxy_kind {
	PROXY_NONE,
	PROXY_HTTP,		/* CONNECT, Basic authentication */
	PROXY_SOCKS5		/* RFC 1928, RFC 1929 */
};

struct ls_proxy {
	enum proxy_kind	 px_kind;
	char		 px_host[256];	/* no brackets */
	uint16_t	 px_port;
	char		 px_user[256];	/* "": no credentials */
	char		 px_pass[256];
	char		 px_name[300];	/* scheme://host:port, for messages */
};

#define PROXY_CMD_CONNECT	1
#define PROXY_CMD_UDP		3	/* SOCKS5 UDP ASSOCIATE */

struct proxy_result {
	int			 pr_error;	/* 0, or an errno value */
	char			 pr_text[512];	/* why, naming the proxy */
	struct bufferevent	*pr_bev;	/* success: now the caller's */
	struct sockaddr_storage	 pr_bound;	/* UDP: the proxy's relay */
	socklen_t		 pr_boundlen;
};

struct proxy_conn;
typedef void	(*proxy_cb)(const struct proxy_result *, void *);

int		 proxy_parse(const char *, struct ls_proxy *, char *, size_t);
/* 1 a proxy for the URL from the environment, 0 none, -1 bad value. */
int		 proxy_from_env(const struct ls_url *, struct ls_proxy *,
		    char *, size_t);
int		 proxy_no_proxy(const char *, const char *);
const char	*proxy_socks_strerror(int);
/*
 * Connect to the proxy and ask it for host:port; cb once, unless
 * cancelled first.  NULL: out of memory or a bad request.
 */
struct proxy_conn *proxy_open(struct event_base *, struct evdns_base *,
		    const struct ls_proxy *, int, const char *, uint16_t,
		    proxy_cb, void *);
void		 proxy_cancel(struct proxy_conn *);

/* ------------------------------------------------------------------ */
/* http.c: HTTP/1.1 request/response head parsing (pure)               */

#define HTTP_MAX_HEAD		8192
#define HTTP_MAX_HEADERS	64

struct http_header {
	char		*h_name;
	char		*h_value;
};

struct http_head {
	char		*hh_buf;	/* owned copy of the head */
	char		*hh_method;	/* request */
	char		*hh_target;	/* request: path?query */
	char		*hh_path;	/* request: decoded path part */
	char		*hh_query;	/* request: raw query or "" */
	int		 hh_status;	/* response */
	char		*hh_reason;	/* response */
	int		 hh_nheaders;
	struct http_header hh_headers[HTTP_MAX_HEADERS];
	size_t		 hh_scanned;	/* bytes looked at while incomplete */
};

/*
 * Parse a head from the evbuffer once "\r\n\r\n" is present: 1 parsed
 * (head removed from the buffer), 0 need more, -1 malformed or too large.
 */
int		 http_parse_request(struct evbuffer *, struct http_head *);
int		 http_parse_response(struct evbuffer *, struct http_head *);
void		 http_head_free(struct http_head *);
const char	*http_header(const struct http_head *, const char *);
/* Is token an item of a comma-separated list (case-insensitive)? */
int		 http_list_has(const char *, const char *);
/* Does a comma-separated header value contain token (case-insensitive)? */
int		 http_header_has_token(const struct http_head *, const char *,
		    const char *);
/* Copy the URL-decoded value of query parameter name; 1 found, 0 not. */
int		 http_query_get(const char *, const char *, char *, size_t);
void		 http_respond(struct evbuffer *, int, const char *,
		    const char *, const char *);

/* ------------------------------------------------------------------ */
/* httpproxy.c: the HTTP proxy on a SOCKS5 port, heads and replies (pure) */

#define HTTPPROXY_HEAD_MAX	8192
#define HTTPPROXY_CONNECT	1	/* CONNECT host:port */
#define HTTPPROXY_FORWARD	2	/* GET http://host/... and the like */

struct httpproxy_req {
	int		 hr_kind;	/* HTTPPROXY_* */
	char		 hr_method[16];
	char		 hr_host[256];	/* name or address, no brackets */
	uint16_t	 hr_port;
	size_t		 hr_headlen;	/* bytes of the head */
	int		 hr_status;	/* refused: the status to answer */
	const char	*hr_error;	/* ... and why (static text) */
};

/*
 * Parse a request head at the start of in: 0 need more, 1 parsed (the
 * head drained; a forwarded request's rewritten head added to fwd), -1
 * refused with hr_status and hr_error.  user and pass, both non-empty,
 * are required as Proxy-Authorization: Basic.
 */
int		 httpproxy_parse(struct evbuffer *, struct httpproxy_req *,
		    const char *, const char *, struct evbuffer *);
/* The proxy's reply: 200 Connection Established, or status and text. */
void		 httpproxy_reply(struct evbuffer *, int, const char *);
const char	*httpproxy_reason(int);
/* Standard base64 with padding into out; its length, -1 if invalid. */
int		 httpproxy_b64decode(const char *, uint8_t *, size_t);

/* ------------------------------------------------------------------ */
/* wsframe.c: RFC 6455 framing and handshake keys (pure)               */

#define WS_OP_CONT		0x0
#define WS_OP_TEXT		0x1
#define WS_OP_BINARY		0x2
#define WS_OP_CLOSE		0x8
#define WS_OP_PING		0x9
#define WS_OP_PONG		0xa
#define WS_HDR_MAX		14	/* 2 + 8 length + 4 mask */

struct ws_frame {
	int		 wf_fin;
	int		 wf_op;
	int		 wf_masked;
	uint8_t		 wf_mask[4];
	uint64_t	 wf_len;
};

/* Header length, 0 need more, -1 malformed. */
int		 wsframe_parse(const uint8_t *, size_t, struct ws_frame *);
/* Write a header (mask NULL: unmasked); returns its length. */
size_t		 wsframe_header(uint8_t *, int, int, uint64_t,
		    const uint8_t *);
/* XOR with the key, starting at key offset off (mod 4). */
void		 wsframe_mask(uint8_t *, size_t, const uint8_t *, size_t);
/* The same on the first len bytes of an evbuffer, in place. */
void		 wsframe_mask_evbuffer(struct evbuffer *, size_t,
		    const uint8_t *, size_t);
/* A fresh 4-byte masking key. */
void		 wsframe_genmask(uint8_t *);
/* Is it a valid Sec-WebSocket-Key (base64 of 16 bytes)? */
int		 wsframe_key_valid(const char *);
/* Sec-WebSocket-Accept for a key: out gets 28 chars + NUL. */
void		 wsframe_accept_key(const char *, char *);
/* A close frame's payload: 0 if valid, else the status to fail with. */
int		 wsframe_close_check(const uint8_t *, size_t);

/* ------------------------------------------------------------------ */
/* throttle.c: failed authentications per source address (pure)        */

/* A failure from the address: seconds until it may be answered. */
double		 throttle_fail(const struct sockaddr *, double, unsigned *);
/* A success: the address's failures are forgotten. */
void		 throttle_success(const struct sockaddr *);
unsigned	 throttle_failures(const struct sockaddr *, double);
double		 throttle_delay(unsigned);
void		 throttle_reset(void);

/* ------------------------------------------------------------------ */
/* stats.c: this process's counters for the metrics (plain integers)   */

/*
 * What is counted, in each process (the master renders them, metrics.c).
 * Gauges: ST_TUNNELS_OPEN (filled in when a worker reports) and
 * ST_CHANNELS_OPEN; the rest only grow.  The order is the rendering
 * order: a metric's labelled values are neighbours.
 */
enum stat_id {
	ST_TUNNELS_OPEN,	/* authenticated tunnels now */
	ST_TUNNELS_TOTAL,
	ST_CHANNELS_OPEN,	/* channels registered on tunnels now */
	ST_CHANNELS_TOTAL,
	ST_BYTES_IN,		/* payload received from tunnel peers */
	ST_BYTES_OUT,		/* payload sent to tunnel peers */
	ST_CONNECT_OK,		/* TCP connects: dialled, or confirmed */
	ST_CONNECT_REFUSED,
	ST_CONNECT_TIMEOUT,
	ST_CONNECT_UNREACHABLE,
	ST_CONNECT_RESOLVE,
	ST_CONNECT_DENIED,	/* access rules */
	ST_CONNECT_LIMIT,	/* channel or association caps */
	ST_CONNECT_NO_TUNNEL,	/* no tunnel (provider) in time, or it went */
	ST_CONNECT_REMOTE,	/* the far side's ConnectResponse said no */
	ST_CONNECT_INVALID,	/* a request we cannot dial */
	ST_CONNECT_OTHER,
	ST_FASTOPEN_ANSWERED,	/* SOCKS5 success before the connect */
	ST_FASTOPEN_CONFIRMED,
	ST_FASTOPEN_FAILED,	/* ... then the connect failed */
	ST_UDP_OK,		/* UDP associations: answered, or opened */
	ST_UDP_LIMIT,		/* association or channel caps */
	ST_UDP_NO_TUNNEL,
	ST_UDP_REMOTE,		/* the far side's ConnectResponse said no */
	ST_UDP_TIMEOUT,
	ST_UDP_OTHER,
	ST_UDP_DGRAMS_IN,	/* Data(udp) from tunnel peers */
	ST_UDP_DGRAMS_OUT,	/* ... and to them */
	ST_UDP_BYTES_IN,	/* their payload (also in ST_BYTES_IN) */
	ST_UDP_BYTES_OUT,
	ST_UDP_DROP_MALFORMED,	/* datagrams dropped, by enum udp_drop */
	ST_UDP_DROP_FRAGMENT,
	ST_UDP_DROP_FOREIGN,
	ST_UDP_DROP_FULL,
	ST_UDP_DROP_NOCLIENT,
	ST_UDP_DROP_RESOLVE,
	ST_UDP_DROP_SEND,
	ST_UDP_DROP_DENIED,
	ST_AUTH_FAIL_TOKEN,	/* a token no one has */
	ST_AUTH_FAIL_MALFORMED,	/* no, or a malformed, Auth */
	ST_PREAUTH_TUNNEL,	/* per pool: connections counted, dropped */
	ST_PREAUTH_TUNNEL_DROP,
	ST_PREAUTH_SOCKS,
	ST_PREAUTH_SOCKS_DROP,
	ST_PREAUTH_METRICS,
	ST_PREAUTH_METRICS_DROP,
	ST_FDLIMIT,		/* a listener paused at the open-file limit */
	ST_ACCESS_DIAL,		/* destinations refused */
	ST_ACCESS_ENTRY,
	ST_HTTPPROXY_CONNECT,	/* HTTP proxy requests: CONNECT parsed */
	ST_HTTPPROXY_FORWARD,	/* ... absolute-form parsed */
	ST_HTTPPROXY_REFUSED,	/* ... answered 4xx from the head alone */
	ST_MAX
};

/* Per token: ST_ counterparts for the tunnels the token opened. */
enum tstat_id {
	TS_TUNNELS_OPEN,
	TS_TUNNELS_TOTAL,
	TS_CHANNELS_OPEN,
	TS_CHANNELS_TOTAL,
	TS_BYTES_IN,
	TS_BYTES_OUT,
	TS_CONNECT_FAILED,
	TS_FASTOPEN,
	TS_UDP_BYTES_IN,	/* UDP payload, also in TS_BYTES_* */
	TS_UDP_BYTES_OUT,
	TS_MAX
};

#define LS_METRICS_TOKENS	32	/* tokens with a label of their own */
#define LS_METRICS_HASHLEN	12	/* hex digits of the SHA-256 shown */
#define LS_METRICS_OTHER	"other"	/* the label of the rest */

struct stats_token {
	char		 st_label[16];	/* hash prefix or "other", NUL ended */
	uint64_t	 st_v[TS_MAX];
};

extern uint64_t	 stats_v[ST_MAX];
#define STAT_ADD(id, n)		(stats_v[(id)] += (uint64_t)(n))
#define STAT_INC(id)		STAT_ADD(id, 1)
#define TSTAT_ADD(st, id, n)	do {					\
	if ((st) != NULL)						\
		(st)->st_v[(id)] += (uint64_t)(n);			\
} while (0)

struct stats_token *stats_token(const char *);
unsigned	 stats_tokens(struct stats_token *);
void		 stats_reset(void);

/* ------------------------------------------------------------------ */
/* preauth.c: what unauthenticated connections may hold in a worker    */

struct preauth;
/* Drop pa's connection: end it now (its teardown calls preauth_remove). */
typedef void	(*preauth_drop_cb)(struct preauth *, void *);

/* One connection not yet authenticated, on its pool's list. */
struct preauth {
	TAILQ_ENTRY(preauth)	 pa_entry;
	struct preauth_pool	*pa_pool;	/* NULL: not counted */
	size_t			 pa_bytes;	/* what it buffers */
	preauth_drop_cb		 pa_drop;
	void			*pa_arg;
};

/* The connections of one kind in a worker, oldest first. */
struct preauth_pool {
	const char		*pp_name;	/* for the log */
	unsigned		 pp_max;	/* connections */
	size_t			 pp_maxbytes;	/* 0: not counted */
	unsigned		 pp_count;
	size_t			 pp_bytes;
	TAILQ_HEAD(, preauth)	 pp_list;
	unsigned long		 pp_drops;	/* not logged yet */
	unsigned long		 pp_total;	/* ever */
	double			 pp_logged;	/* last log line, monotonic */
	struct event		*pp_flush;	/* logs pp_drops a second later */
	int			 pp_stat;	/* its ST_PREAUTH_*, -1: none;
						 * drops count at pp_stat + 1 */
};
#define PREAUTH_POOL_INITIALIZER(pool, name, max, maxbytes)		\
	{ (name), (max), (maxbytes), 0, 0,				\
	  TAILQ_HEAD_INITIALIZER((pool).pp_list), 0, 0, 0, NULL, -1 }

/* Count a new connection, dropping the oldest ones while at the cap. */
void		 preauth_add(struct preauth_pool *, struct preauth *,
		    preauth_drop_cb, void *);
/* It authenticated or ended; no-op when not counted. */
void		 preauth_remove(struct preauth *);
/*
 * It buffers n bytes now; over the pool's byte cap the oldest are
 * dropped.  Returns -1 when pa itself was dropped.
 */
int		 preauth_set_bytes(struct preauth *, size_t);

/* ------------------------------------------------------------------ */
/* ws.c: RFC 6455 WebSocket connections on a bufferevent               */

struct ws_conn;
struct ssl_ctx_st;

struct ws_cb {
	/* Client: 101 verified.  Server: upgrade written. */
	void	(*ws_open)(struct ws_conn *, void *);
	/*
	 * One complete data message (binary or text): all of msg.  Take
	 * what is wanted (evbuffer_remove_buffer moves chains without
	 * copying); whatever is left is drained after the call.
	 */
	void	(*ws_message)(struct ws_conn *, struct evbuffer *, void *);
	/* Output drained below the low watermark after ws_output_len() was
	 * above the high watermark. */
	void	(*ws_drain)(struct ws_conn *, void *);
	/* A pong arrived. */
	void	(*ws_pong)(struct ws_conn *, void *);
	/*
	 * The connection ended (peer close, error, read limit, handshake
	 * failure).  Called once; the ws_conn is freed right after it
	 * returns.  Not called after ws_close()/ws_free() by the owner.
	 */
	void	(*ws_closed)(struct ws_conn *, const char *, void *);
	/*
	 * Server only: a request head arrived.  Return 1 to upgrade (the
	 * ws layer then checks the WebSocket headers and writes the 101,
	 * or answers 400/405 and calls ws_closed), or 0 after calling
	 * ws_http_reply() for a plain response: the connection is then
	 * gone and no ws_closed follows.
	 */
	int	(*ws_request)(struct ws_conn *, const struct http_head *,
		    void *);
	/* Client only: 3xx with Location (absolute or relative URL). */
	void	(*ws_redirect)(struct ws_conn *, const char *, void *);
};

#define WS_OUT_HIGH	(4u * 1024 * 1024)
#define WS_OUT_LOW	(1u * 1024 * 1024)

/* Server: serve an accepted socket (HTTP first, then maybe WebSocket). */
struct ws_conn	*ws_accept(struct event_base *, evutil_socket_t,
		    const struct ws_cb *, void *);
/* The same under TLS with ctx (server side of the handshake), or plain
 * when ctx is NULL. */
struct ws_conn	*ws_accept_tls(struct event_base *, evutil_socket_t,
		    struct ssl_ctx_st *, const struct ws_cb *, void *);
/*
 * Client: resolve (evdns), connect, TLS if url->u_tls (SNI + hostname
 * verification with ctx), send the upgrade for target (path?query) with
 * extra header lines (may be NULL, each ending "\r\n").
 */
struct ws_conn	*ws_connect(struct event_base *, struct evdns_base *,
		    struct ssl_ctx_st *, const struct ls_url *, const char *,
		    const char *, const struct ws_cb *, void *);
/* A client's connection, with everything a front end or proxy needs. */
struct ws_dial {
	struct ssl_ctx_st	*wd_ctx;	/* wss:// */
	const struct ls_proxy	*wd_proxy;	/* NULL: direct */
	const char		*wd_sni;	/* NULL: the URL host */
	int			 wd_insecure;	/* --insecure: no verification */
	const char		*wd_host;	/* Host header; NULL: the URL's */
	const char		*wd_headers;	/* --header lines (CRLF each) */
	const char		*wd_extra;	/* more lines (features) */
};
struct ws_conn	*ws_dial(struct event_base *, struct evdns_base *,
		    const struct ws_dial *, const struct ls_url *,
		    const char *, const struct ws_cb *, void *);
/* Queue one binary message; 0 or -1 (closed / out of memory). */
int		 ws_send(struct ws_conn *, const uint8_t *, size_t);
/* Queue the whole evbuffer as one binary message (moved, not copied). */
int		 ws_send_evbuffer(struct ws_conn *, struct evbuffer *);
/* One binary message: the head bytes, then n bytes moved out of src. */
int		 ws_send_parts(struct ws_conn *, const uint8_t *, size_t,
		    struct evbuffer *, size_t);
int		 ws_ping(struct ws_conn *);
size_t		 ws_output_len(struct ws_conn *);
/* Stop/resume delivering messages (backpressure on the socket). */
void		 ws_pause(struct ws_conn *, int);
/* Plain HTTP answer from ws_request; the connection closes after it. */
void		 ws_http_reply(struct ws_conn *, int, const char *,
		    const char *, const char *);
/* Close frame (code, reason), flush, then free.  No ws_closed call. */
void		 ws_close(struct ws_conn *, uint16_t, const char *);
/* Free at once, no callback. */
void		 ws_free(struct ws_conn *);
void		 ws_set_cb(struct ws_conn *, const struct ws_cb *, void *);
/*
 * The largest message (fragments reassembled) the peer may send, 1009
 * above it; LS_MSG_MAX unless set.  Below LS_MSG_MAX the connection also
 * reads no more than one such frame ahead and may not let more than that
 * pile up in its output (1008), so what it holds stays near twice n.
 */
void		 ws_set_read_limit(struct ws_conn *, size_t);
/* Report what the connection buffers to pa (NULL: stop), after reads. */
void		 ws_set_budget(struct ws_conn *, struct preauth *);
/* Server, inside ws_request before returning 1: extra 101 header line(s),
 * each ending "\r\n". */
void		 ws_add_response_header(struct ws_conn *, const char *);
/* The handshake head: request (server) or 101 response (client); valid
 * until the connection is freed. */
const struct http_head *ws_handshake_head(struct ws_conn *);
/* Peer address text "1.2.3.4:5" / "[::1]:5" for logs. */
const char	*ws_peer(struct ws_conn *);
time_t		 ws_last_rx(struct ws_conn *);	/* monotonic seconds */

/* ------------------------------------------------------------------ */
/* tls.c: the server's TLS context and shared session-ticket keys      */

#define LS_TLS_TICKET_ROTATE	(12 * 3600)	/* seconds */

struct ipc_tls_keys;

/*
 * Remember the files (minver 12 or 13) and build the context: 0, or -1
 * with "certificate FILE: reason" (or key) in err.
 */
int		 tls_server_init(const char *, const char *, int, int, char *,
		    size_t);
/* Before tls_server_init: require client certificates from this CA. */
int		 tls_server_client_ca(const char *);
/* Build it again from the same files; -1 (err) keeps the old one. */
int		 tls_server_reload(char *, size_t);
struct ssl_ctx_st *tls_server_ctx(void);	/* NULL: no TLS */
/* The leaf's serial and expiry, for logs. */
void		 tls_server_describe(char *, size_t);
void		 tls_keys_rotate(void);		/* master */
void		 tls_keys_get(struct ipc_tls_keys *);
int		 tls_keys_set(const struct ipc_tls_keys *);	/* worker */
int		 tls_ktls_available(void);
void		 tls_tune_memory(void);	/* malloc for TLS throughput */

/* ------------------------------------------------------------------ */
/* log.c: OpenBSD-style logging                                        */

void		 log_init(int, int);	/* debug level, use syslog */
void		 log_procinit(const char *);
void		 log_setverbose(int);
int		 log_getverbose(void);
void		 log_warn(const char *, ...) LS_PRINTF(1, 2);
void		 log_warnx(const char *, ...) LS_PRINTF(1, 2);
void		 log_info(const char *, ...) LS_PRINTF(1, 2);
void		 log_debug(const char *, ...) LS_PRINTF(1, 2);
void		 log_trace(const char *, ...) LS_PRINTF(1, 2);
void		 vlog(int, const char *, va_list) LS_PRINTF(2, 0);
/*
 * Below their level debug and trace lines cost one test: their arguments
 * (log_id, log_strz and the like format into buffers) are not evaluated.
 */
extern int	 log_debug_level;	/* 0 info, 1 debug, 2 trace */
#define log_debug(...)	do {						\
	if (log_debug_level >= 1)					\
		(log_debug)(__VA_ARGS__);				\
} while (0)
#define log_trace(...)	do {						\
	if (log_debug_level >= 2)					\
		(log_trace)(__VA_ARGS__);				\
} while (0)
__dead void	 fatal(const char *, ...) LS_PRINTF(1, 2);
__dead void	 fatalx(const char *, ...) LS_PRINTF(1, 2);
/*
 * Escape bytes for logging (printable ASCII kept, the rest and "\\" as
 * \xNN); every string a peer sent goes through it.  Four static buffers
 * in turn: up to four results in one log call.
 */
const char	*log_str(const uint8_t *, size_t);
const char	*log_strz(const char *);		/* the same, C string */
/* A token or API key in a line above debug level: only its length. */
const char	*log_secret(const char *);
const char	*log_id(const uint8_t *);	/* short hex channel id */

enum log_level {
	LL_WARN,		/* log_warn: errno appended */
	LL_WARNX,
	LL_INFO,
	LL_DEBUG
};

/* One kind of repeated event: at most one line per rl_interval seconds. */
struct log_rl {
	double		 rl_interval;
	double		 rl_last;	/* when a line went out (monotonic) */
	int		 rl_logged;	/* one has */
	unsigned long	 rl_more;	/* held back since */
	enum log_level	 rl_level;	/* ... the last of them */
	char		 rl_msg[256];
	int		 rl_held;	/* on the list of held counts */
	struct log_rl	*rl_next;
};
#define LOG_RL_INIT(secs)	{ (secs), 0, 0, 0, LL_WARNX, "", 0, NULL }

int		 log_ratelimit(struct log_rl *, enum log_level, const char *,
		    ...) LS_PRINTF(3, 4);
int		 log_rl_flush(struct log_rl *);
/* Called when a count is first held back: arm a timer for flush_all. */
void		 log_rl_sethook(void (*)(void));
int		 log_rl_flush_all(void);	/* 1: call again later */
void		 log_rl_done(struct log_rl *);	/* before freeing it */

/* ------------------------------------------------------------------ */
/* config.c: command line and environment                              */

enum ls_role {
	ROLE_SERVER,
	ROLE_CLIENT,		/* forward client */
	ROLE_CONNECTOR,		/* agent mode: SOCKS5 for a provider group */
	ROLE_PROVIDER		/* client -r */
};

/*
 * Per-token limits; 0 = none.  Rates in bytes per second, seen from the
 * application: upload = application to target, download = back.  Every
 * worker enforces them for the tunnels and channels it holds (limits.c).
 */
struct token_limits {
	uint32_t	tl_max_tunnels;
	uint32_t	tl_max_channels;
	uint64_t	tl_upload;
	uint64_t	tl_download;
};

struct config {
	enum ls_role	 c_role;
	const char	*c_subcmd;	/* as typed: server client provider connector */
	char		*c_token;	/* NULL: generated (server) / anonymous */
	int		 c_token_generated;
	char		*c_connector_token;
	int		 c_connector_token_generated;
	int		 c_reverse;
	int		 c_autonomy;
	int		 c_fastopen;
	int		 c_debug;
	int		 c_workers;
	char		*c_socks_host;
	int		 c_socks_port;
	char		*c_socks_user;
	char		*c_socks_pass;
	int		 c_socks_nowait;
	char		*c_upstream;		/* -x, as given */
	struct ls_proxy	 c_upx;			/* -x, parsed (PROXY_NONE) */
	char		*c_portfile;
	int		 c_syslog;
	int		 c_drain_timeout;	/* seconds, SIGTERM drain */
	int		 c_udp_timeout;		/* seconds, idle UDP association */
	uint32_t	 c_window;		/* our per-channel receive window */
	int		 c_no_ext;		/* --no-extensions */
	struct rules	 c_rules;		/* --access-rule */
	int		 c_allow_private;	/* --allow-private */
	int		 c_max_channels;	/* per tunnel */
	int		 c_max_negotiating;	/* SOCKS5 per worker */
	int		 c_max_udp;		/* UDP associations per tunnel */
	struct token_limits c_limits;		/* --limit-*: the CLI tokens */
	char		*c_metrics_host;	/* --metrics-listen */
	int		 c_metrics_port;
	char		*c_api_host;		/* --api-listen (server) */
	int		 c_api_port;
	/* server */
	char		*c_ws_host;
	int		 c_ws_port;
	size_t		 c_bufsize;
	char		**c_api_keys;		/* -k, repeatable */
	size_t		 c_napi_keys;
	size_t		 c_napi_keys_fixed;	/* of -k and the environment */
	char		*c_api_key_file;	/* --api-key-file */
	char		*c_state_file;		/* --state-file */
	char		*c_tls_cert;		/* --tls-cert: PEM chain */
	char		*c_tls_key;		/* --tls-key */
	int		 c_tls_minver;		/* --tls-min-version: 12, 13 */
	int		 c_tls_ktls;		/* --tls-ktls */
	char		*c_tls_client_ca;	/* --tls-client-ca */
	int		 c_api_keep_cli;	/* --api-keep-cli-tokens */
	int		 c_pool_lo;		/* --port-pool */
	int		 c_pool_hi;
	int		 c_connector_wait;	/* ms */
	/* client */
	char		*c_url;
	struct ls_url	 c_wsurl;
	int		 c_noreconnect;
	int		 c_retry_auth;
	int		 c_threads;
	int		 c_no_env_proxy;
	char		*c_ca_file;		/* --ca-file */
	char		*c_ca_path;		/* --ca-path */
	char		*c_client_cert;		/* --tls-client-cert */
	char		*c_client_key;		/* --tls-client-key */
	char		*c_sni;			/* --sni */
	char		*c_host_hdr;		/* --host */
	char		*c_headers;		/* --header lines, CRLF each */
	int		 c_insecure;		/* --insecure */
	uint8_t		 c_instance[LS_CHANNEL_ID_LEN];
};

extern struct config	*ls_conf;

#define LS_MAX_API_KEYS		64
#define LS_PORT_POOL_LO		1024	/* the reference's pool */
#define LS_PORT_POOL_HI		10240

/* Parse argv and the environment into ls_conf; NULL: nothing to run. */
struct config	*config_load(int, char **);
void		 config_free(struct config *);
/* SIGHUP: read --api-key-file again; the number of keys, or -1 (err). */
int		 config_reload_api_keys(struct config *, char *, size_t);
/*
 * Tests set config_noexit: where the command line exits (help, a bad
 * option), config_load() prints the same text and returns NULL with the
 * exit status in config_exit (-1: no exit).
 */
extern int	 config_noexit;
extern int	 config_exit;

/* ------------------------------------------------------------------ */
/* registry.c: tokens and provider groups (every process has a copy)   */

#define LS_MAX_WORKERS		64

enum token_kind {
	TOK_FORWARD = 1,
	TOK_REVERSE,
	TOK_CONNECTOR
};

struct group;
struct listen_guard;
struct token_use;

struct token {
	TAILQ_ENTRY(token)	 tk_entry;
	enum token_kind		 tk_kind;
	char			*tk_token;
	char			 tk_hash[65];	/* hex SHA-256, URL auth */
	uint8_t			 tk_digest[LS_SHA256_LEN]; /* the same, raw */
	int			 tk_port;	/* reverse: SOCKS port, -1 none */
	int			 tk_autonomy;	/* reverse: providers own groups */
	char			*tk_target;	/* connector: group key */
	char			*tk_owner;	/* connector made by a provider */
	int			 tk_fds[LS_MAX_WORKERS]; /* master: per worker */
	int			 tk_fd;		/* worker: its own socket */
	struct listen_guard	*tk_listener;
	struct group		*tk_group;	/* reverse: its group */
	char			*tk_user;	/* reverse: SOCKS5 user or NULL */
	char			*tk_pass;	/* ... and password */
	int			 tk_api;	/* added through the HTTP API */
	struct rules		 tk_rules;	/* its own access rules */
	struct json_t		*tk_rules_json;	/* master: ... as given */
	struct token_limits	 tk_limits;	/* 0 = none (above) */
	struct token_use	*tk_use;	/* worker: its counts (limits.c) */
};

/*
 * The providers that serve one key: a reverse token, or (autonomy) one
 * provider instance's internal key "<token>#<instance>".
 */
struct group {
	TAILQ_ENTRY(group)	 g_entry;
	char			*g_key;
	struct token		*g_token;	/* the reverse token */
	TAILQ_HEAD(, tunnel)	 g_tunnels;	/* this worker's providers */
	unsigned		 g_nlocal;
	uint32_t		 g_count[LS_MAX_WORKERS]; /* from the master */
	unsigned		 g_rr;		/* over every worker's providers */
	unsigned		 g_lrr;		/* over this worker's */
	unsigned		 g_connectors;	/* this worker's connectors */
};

extern TAILQ_HEAD(token_list, token) registry_tokens;
extern TAILQ_HEAD(group_list, group) registry_groups;

struct token	*registry_add(enum token_kind, const char *, const char *,
		    char *, size_t);
void		 registry_remove(struct token *);
const char	*registry_kind_name(enum token_kind);
/* Exact lookup for our own bookkeeping (not for what a peer sent). */
struct token	*registry_find(const char *);
/*
 * What a peer presents: a raw token (Auth message) or the hex SHA-256 of
 * one (URL query).  Both compare SHA-256 digests with CRYPTO_memcmp
 * against every token, without stopping at a match, so the time taken
 * says nothing about which token, or how much of one, matched.
 */
struct token	*registry_auth(const uint8_t *, size_t);
struct token	*registry_find_hash(const char *);
struct group	*registry_group(const char *, int);
unsigned	 registry_group_total(struct group *);
void		 registry_internal_key(const struct token *, const uint8_t *,
		    char *, size_t);
/* Build the CLI tokens (master, before fork). */
void		 registry_init(struct config *);

/* ------------------------------------------------------------------ */
/* limits.c: a token's limits in this worker                           */

struct channel;

#define LIMITS_TUNNEL_TEXT	"token tunnel limit reached"
#define LIMITS_CHANNEL_TEXT	"token channel limit reached"

/*
 * What one worker holds of a token: its authenticated tunnels, its open
 * channels and, with a rate, the libevent group its sockets share.  A
 * tunnel and a channel keep a reference, so a removed token's channels
 * that still flush find it.
 */
struct token_use {
	unsigned		 tu_refs;
	enum token_kind		 tu_kind;
	struct token_limits	 tu_limits;
	unsigned		 tu_tunnels;
	unsigned		 tu_channels;
	struct bufferevent_rate_limit_group *tu_group;
	unsigned		 tu_members;	/* sockets in tu_group */
};

/* tk's counts here, made on first use (NULL: out of memory). */
struct token_use *limits_use(struct token *);
/* A tunnel authenticating with tk: 0 and *out, or -1 at the cap. */
int		 limits_tunnel_take(struct token *, struct token_use **);
void		 limits_tunnel_drop(struct token_use *);
/* Is tu (NULL: none) at its channel cap? */
int		 limits_channel_full(const struct token_use *);
/* A new channel counted against tu (NULL: none): -1 at the cap. */
int		 limits_channel_take(struct channel *, struct token_use *);
/* Its socket (ch_bev) joins the token's rate group, if it has rates. */
void		 limits_channel_rate(struct channel *);
/* Before ch_bev is freed or replaced: out of the group. */
void		 limits_channel_unrate(struct channel *);
/* The channel ends: out of the group, uncounted. */
void		 limits_channel_drop(struct channel *);
/*
 * How much a rated channel may read now beyond libevent's own read, and
 * the count of what it read so (the group's bucket).
 */
size_t		 limits_read_max(struct channel *, size_t);
/* Seconds that len bytes of output take at a rated channel's write rate. */
int		 limits_write_secs(const struct channel *, size_t);
void		 limits_read_done(struct channel *, size_t);
/* tk's limits changed: the rates apply at once, caps to new ones. */
void		 limits_update(struct token *);
/* tk leaves the registry. */
void		 limits_token_gone(struct token *);

/* ------------------------------------------------------------------ */
/* access.c: this process's destination policy (rules.c + its role)     */

enum access_side {
	ACCESS_DIAL,		/* we dial: server forward, provider */
	ACCESS_ENTRY		/* an application asked: SOCKS side */
};

/* A port this process listens on (master, before the workers fork). */
void		 access_own_port(int);
/*
 * The verdict for an address we are about to use; *why for the log.  A
 * token's own rules (NULL or empty: none) win over the side's list.
 */
enum rules_verdict access_check(enum access_side, const struct sockaddr *,
		    const struct rules *, const char **);
/* The verdict for a requested host text (literal, or a name's port). */
enum rules_verdict access_check_host(enum access_side, const char *,
		    uint16_t, const struct rules *, const char **);
/* A side's list from the API (takes the contents; NULL: unset). */
void		 access_set_rules(enum access_side, struct rules *);
/* A server tunnel's token's own rules, or NULL. */
const struct rules *access_token_rules(const char *);
/* Log one refusal at info level, at most 20 a second (then counted). */
void		 access_refused(const char *, ...) LS_PRINTF(1, 2);

/* ------------------------------------------------------------------ */
/* util.c                                                              */

void		 util_random(void *, size_t);
uint64_t	 util_siphash(const uint8_t[16], const void *, size_t);
void		 util_token_generate(char *);	/* 17 bytes: 16 hex + NUL */
int		 util_ct_streq(const char *, const char *);
double		 util_now(void);		/* monotonic seconds */
int		 util_socket_nonblock(int);
void		 util_sockaddr_str(const struct sockaddr *, char *, size_t);
/* Bind a TCP socket (SO_REUSEADDR, optionally SO_REUSEPORT); listen
 * when backlog > 0.  Returns fd or -1 with err filled. */
int		 util_bind_tcp(const char *, int, int, int, char *, size_t);
int		 util_local_port(int);
void		 util_set_nodelay(int);
/*
 * libevent 2.1 reads at most 4 KiB per callback: read what else the
 * socket of a plain bufferevent holds, up to max bytes, into its input.
 * Returns bytes read, 0 at end of file, -1 with errno (EAGAIN: none, or
 * libevent's read took less than 4 KiB and so emptied the socket).
 */
ssize_t		 util_bev_read(struct bufferevent *, size_t);
/*
 * For a plain socket bufferevent whose EV_WRITE is off (its output was
 * empty before these bytes): write up to max bytes of the output now
 * (-1: all), or none if !direct; EV_WRITE on for what remains.  1: the
 * output is empty now.  See doc/data-path.md.
 */
int		 util_bev_write_now(struct bufferevent *, int, ev_ssize_t);
void		 util_tune_memory(void);	/* malloc for the data path */
char		*util_xstrdup(const char *);
int		 util_parse_uuid(const char *, uint8_t *);
/* Bytes per second: N with k, M, G (1000s) or Ki, Mi, Gi (1024s). */
int		 util_parse_rate(const char *, uint64_t *);
int		 util_hexval(int);
/* Length of the UTF-8 sequence at p, 0 if ill-formed (RFC 3629). */
size_t		 util_utf8_seq(const uint8_t *, size_t);
int		 util_utf8_valid(const uint8_t *, size_t);

/* ------------------------------------------------------------------ */
/* listen.c: listeners that pause at the open-file limit               */

struct listen_guard;
typedef void	(*listen_accept_cb)(evutil_socket_t, struct sockaddr *, int,
		    void *);
/* Answer and close a connection that cannot be served (fd is ours). */
typedef void	(*listen_shed_cb)(int, void *);

/* Open the reserve descriptor (/dev/null) of this process, once. */
void		 listen_reserve(void);
/*
 * Listen on fd (owned from now on, non-blocking) with backlog; name is
 * for the logs.  On EMFILE, ENFILE, ENOBUFS or ENOMEM from accept the
 * listener pauses with a backoff (100 ms doubling to 1.6 s, reset by a
 * successful accept) and logs one line a second at most; with shed, a
 * pending connection is first accepted on the reserve descriptor's slot
 * and handed to shed.  NULL if out of memory.
 */
struct listen_guard *listen_new(struct event_base *, int, int, const char *,
		    listen_accept_cb, listen_shed_cb, void *);
/* Back off as at the limit (the owner cannot take more for now). */
void		 listen_pause(struct listen_guard *);
void		 listen_free(struct listen_guard *);	/* closes the socket */

/* ------------------------------------------------------------------ */
/* ipc.c: typed, versioned messages over SOCK_SEQPACKET socketpairs    */

#define IPC_VERSION	2
#define IPC_MAX_PAYLOAD	4096

enum ipc_type {
	/* master -> worker: 1..99 */
	IPC_TUNNEL_FD = 1,	/* struct ipc_tunnel_fd + fd: an accepted
				 * tunnel client socket */
	IPC_PROVIDERS = 2,	/* struct ipc_providers: counts per worker */
	IPC_HANDOFF_IN = 3,	/* struct ipc_handoff + fd */
	IPC_TOKEN = 4,		/* struct ipc_token: registry change */
	IPC_CONNECTOR_RES = 5,	/* struct ipc_connector */
	IPC_LINK = 6,		/* uint32 peer worker + fd: worker link */
	IPC_SYNC = 7,		/* struct ipc_sync: a barrier (control.c) */
	IPC_RULES = 8,		/* struct ipc_rules: an access rule list */
	IPC_STATS_REQ = 9,	/* uint32 request number: send IPC_STATS */
	IPC_LOG_LEVEL = 10,	/* uint32: 0 info, 1 debug, 2 trace */
	IPC_TLS_KEYS = 11,	/* struct ipc_tls_keys: session-ticket keys */
	IPC_TLS_RELOAD = 12,	/* uint32 0: build the TLS context again */
	/* worker -> master: 100..199 */
	IPC_LOAD = 100,		/* struct ipc_load */
	IPC_FATAL = 101,	/* text: worker stops everything */
	IPC_PROVIDER = 102,	/* struct ipc_provider: my count for a key */
	IPC_HANDOFF = 103,	/* struct ipc_handoff + fd */
	IPC_CONNECTOR_REQ = 104,	/* struct ipc_connector */
	IPC_TUNNEL_ACK = 105,	/* struct ipc_tunnel_fd: taken or handed back */
	IPC_SYNC_DONE = 106,	/* struct ipc_sync_done: all before it applied */
	IPC_STAT = 107,		/* struct ipc_stat: one token's numbers */
	IPC_STATS = 108		/* struct ipc_stats: the worker's counters */
};

#define IPC_KEYLEN	300

/* One session-ticket key (tls.c): its name in the ticket, then keys. */
struct tls_ticket_key {
	uint8_t		 ttk_name[16];
	uint8_t		 ttk_aes[32];
	uint8_t		 ttk_hmac[32];
};

/* The master's ticket keys: [0] seals and opens, [1] (if n 2) opens. */
struct ipc_tls_keys {
	uint32_t	 itk_n;
	uint32_t	 itk_pad;
	struct tls_ticket_key itk_keys[2];
};

struct ipc_provider {
	uint32_t	 ip_count;
	char		 ip_key[IPC_KEYLEN];
};

struct ipc_providers {
	uint32_t	 ip_counts[LS_MAX_WORKERS];
	char		 ip_key[IPC_KEYLEN];
};

/* A parsed SOCKS5 request moving to the worker that has a provider. */
struct ipc_handoff {
	uint32_t	 ih_worker;
	uint16_t	 ih_port;
	uint8_t		 ih_cmd;
	uint8_t		 ih_pad;
	uint32_t	 ih_datalen;	/* early data that follows */
	char		 ih_key[IPC_KEYLEN];
	char		 ih_host[256];
	char		 ih_peer[64];
};
#define IPC_HANDOFF_MAXDATA	(IPC_MAX_PAYLOAD - sizeof(struct ipc_handoff))

struct ipc_connector {
	uint32_t	 ic_reqid;
	uint32_t	 ic_op;		/* CONNECTOR_ADD / CONNECTOR_REMOVE */
	uint32_t	 ic_ok;
	char		 ic_owner[IPC_KEYLEN];	/* the provider's group key */
	char		 ic_token[256];
	char		 ic_text[256];	/* reply: token added or error */
	uint8_t		 ic_id[LS_CHANNEL_ID_LEN];
};

/* A registry change; a reverse token's port comes with the worker's
 * socket (run time, control.c). */
struct ipc_token {
	uint32_t	 it_kind;	/* enum token_kind */
	uint32_t	 it_remove;
	int32_t		 it_port;	/* reverse: SOCKS5 port, -1 none */
	uint32_t	 it_autonomy;
	char		 it_token[256];
	char		 it_target[IPC_KEYLEN];
	char		 it_owner[IPC_KEYLEN];
	char		 it_user[256];	/* reverse: SOCKS5 credentials */
	char		 it_pass[256];
	uint32_t	 it_max_tunnels;	/* struct token_limits */
	uint32_t	 it_max_channels;
	uint64_t	 it_upload;
	uint64_t	 it_download;
};

/*
 * An access rule list from the API, one rule per message: BEGIN, ADD
 * (ir_text), COMMIT, or RESET; for a side's list (ir_side: enum access_side) or a
 * token's own (IPC_RULES_TOKEN, ir_token).
 */
#define IPC_RULES_BEGIN		1
#define IPC_RULES_ADD		2
#define IPC_RULES_COMMIT	3
#define IPC_RULES_RESET		4	/* a side's list: the command line's */
#define IPC_RULES_TOKEN		2	/* ir_side: a token's */
struct ipc_rules {
	uint32_t	 ir_op;
	uint32_t	 ir_side;
	char		 ir_token[256];
	char		 ir_text[1024];
};

/* A barrier: the worker answers IPC_SYNC_DONE (after its IPC_STATs). */
struct ipc_sync {
	uint32_t	 is_id;
	uint32_t	 is_stats;	/* send IPC_STAT per token first */
};

struct ipc_sync_done {
	uint32_t	 sd_id;
	uint32_t	 sd_tunnels;	/* this worker's, authenticated */
	uint32_t	 sd_channels;
	uint32_t	 sd_pad;
};

struct ipc_stat {
	uint32_t	 st_id;
	uint32_t	 st_tunnels;	/* forward clients or providers */
	uint32_t	 st_connectors;	/* reverse: connectors of its groups */
	uint32_t	 st_channels;
	uint32_t	 st_refused;	/* Connects refused by a cap or rule */
	uint32_t	 st_fastopen;	/* channels opened with fast open */
	uint64_t	 st_bytes_in;	/* from the tunnels' peers */
	uint64_t	 st_bytes_out;
	char		 st_token[256];
};

struct ipc_load {
	uint32_t	 il_tunnels;
	uint32_t	 il_channels;
};

/*
 * A worker's counters (stats.c), every LS_STATS_INTERVAL seconds and in
 * answer to IPC_STATS_REQ: is_ntokens token slots follow is_v, so the
 * payload is IPC_STATS_SIZE(is_ntokens) bytes.
 */
#define LS_STATS_INTERVAL	5	/* seconds */
struct ipc_stats {
	uint32_t	 is_seq;	/* the request answered, 0: none */
	uint32_t	 is_ntokens;
	uint64_t	 is_v[ST_MAX];
	struct stats_token is_tokens[LS_METRICS_TOKENS + 1];
};
#define IPC_STATS_SIZE(n)	(offsetof(struct ipc_stats, is_tokens) + \
				    (size_t)(n) * sizeof(struct stats_token))

/*
 * A tunnel client's socket and the worker's answer to it.  The master
 * keeps its own copy of the descriptor until the answer: a worker at its
 * open-file limit receives the message without the descriptor (the
 * kernel drops it) and hands it back (itf_taken 0), so the master can
 * try another worker or answer 503 itself.
 */
struct ipc_tunnel_fd {
	uint32_t	 itf_seq;
	uint32_t	 itf_taken;
};

struct ipc;
typedef void	(*ipc_dispatch_cb)(struct ipc *, int, const void *, size_t,
		    int, void *);
typedef void	(*ipc_closed_cb)(struct ipc *, void *);

struct ipc	*ipc_new(struct event_base *, int, ipc_dispatch_cb,
		    ipc_closed_cb, void *);
int		 ipc_send(struct ipc *, int, const void *, size_t, int);
int		 ipc_send_keep(struct ipc *, int, const void *, size_t, int);
void		 ipc_free(struct ipc *);
int		 ipc_fd(struct ipc *);
const char	*ipc_typename(int);
/* A received datagram's header: 0 and type, payload, length; -1 bad. */
int		 ipc_parse(const uint8_t *, size_t, int *, const uint8_t **,
		    size_t *, char *, size_t);
/* The payload size check of every type: 1 good, 0 bad or unknown. */
int		 ipc_payload_ok(int, const void *, size_t);

/* ------------------------------------------------------------------ */
/* placement.c: which worker takes an accepted tunnel client (master)  */

/* What placement sees of one worker in the master's table. */
struct placement_worker {
	int		 pw_live;	/* running, control socket open */
	unsigned	 pw_load;	/* tunnels reported + passed since */
};

/* What a tunnel client's request head says about its placement. */
struct placement_req {
	char		 pr_hash[80];	/* token= (hex SHA-256 of the token) */
	int		 pr_reverse;	/* reverse= absent, true or 1 */
	int		 pr_has_instance; /* pr_instance holds instance= */
	uint8_t		 pr_instance[LS_CHANNEL_ID_LEN];
};

typedef void	(*placement_cb)(int, const char *, void *);

/* Wait up to 200 ms for the request head of fd, then cb(fd, peer, arg). */
void		 placement_wait(struct event_base *, int, const char *,
		    placement_cb, void *);
/* The index of the worker for the client on fd, or -1: none is live. */
int		 placement_place(int, const struct placement_worker *, int);
/* Parse a peeked head (NUL-terminated, modified): 0, or -1 not ours. */
int		 placement_parse(char *, struct placement_req *);

/* ------------------------------------------------------------------ */
/* metrics.c: every process's counters in the Prometheus text format    */

typedef void	(*metrics_ready_cb)(void *);

/* In the master: request(seq) sends IPC_STATS_REQ to every worker. */
void		 metrics_init(struct event_base *, int, void (*)(uint32_t));
void		 metrics_worker_report(int, const void *, size_t);
void		 metrics_worker_started(int);
void		 metrics_worker_gone(int);
/* Everything known now, text exposition format 0.0.4 (GET /metrics). */
void		 metrics_render(struct evbuffer *);
/* A token's TS_MAX counters (by its hex SHA-256) for the API status;
 * -1: it has no series of its own (unseen, or one of "other"). */
int		 metrics_token_sum(const char *, uint64_t *);
/*
 * Fresh counters: cb(arg) once every live worker has answered a new
 * request, or after half a second; -1 (no call) when too many wait.
 * metrics_refresh_cancel(arg) before arg goes away.
 */
int		 metrics_refresh(metrics_ready_cb, void *);
void		 metrics_refresh_cancel(void *);
/* Serve GET /metrics without a key on a bound socket (--metrics-listen). */
int		 metrics_listen(int);
void		 metrics_stop(void);
/* The text format's escapes: label values, and HELP text. */
void		 metrics_escape_label(struct evbuffer *, const char *);
void		 metrics_escape_help(struct evbuffer *, const char *);

/* ------------------------------------------------------------------ */
/* api.c: the HTTP API's JSON requests and answers (pure)              */

struct json_t;

/* A rule list: texts for rules_add (the workers), JSON for GET. */
struct api_rules {
	char		**ar_texts;
	size_t		 ar_n;
	struct json_t	*ar_json;	/* NULL: none given (or null) */
};

struct api_access_req {
	int		 aa_has_entry;
	struct api_rules aa_entry;
	int		 aa_has_dial;
	struct api_rules aa_dial;
};

struct api_token_req {
	enum token_kind	 atr_kind;
	char		*atr_token;		/* NULL: generate */
	int		 atr_port;		/* reverse: 0 = from the pool */
	int		 atr_autonomy;		/* allow_manage_connector */
	char		*atr_user;
	char		*atr_pass;
	char		*atr_reverse_token;	/* connector */
	struct api_rules atr_rules;		/* its own access rules */
	struct token_limits atr_limits;		/* limits (0 = none) */
};

int		 api_token_parse(const char *, size_t, struct api_token_req *,
		    char *, size_t);
void		 api_token_req_free(struct api_token_req *);
char		*api_delete_parse(const char *, size_t);
int		 api_rules_parse(struct json_t *, struct api_rules *, char *,
		    size_t);
void		 api_rules_free(struct api_rules *);
/* A "limits" object into out (absent fields 0).  0, or -1 with err. */
int		 api_limits_parse(struct json_t *, struct token_limits *,
		    char *, size_t);
/* {"max_tunnels":N,"max_channels":N,"upload_rate":N,"download_rate":N} */
struct json_t	*api_limits_json(const struct token_limits *);
int		 api_access_parse(const char *, size_t, struct api_access_req *,
		    char *, size_t);
void		 api_access_req_free(struct api_access_req *);
char		*api_access_body(struct json_t *, struct json_t *);
/* Answer bodies: one compact JSON object and "\n", malloc'd. */
char		*api_error_body(const char *);
char		*api_token_body(const char *, int);	/* port < -1: none */
char		*api_status_body(struct json_t *);	/* takes the object */

/* ------------------------------------------------------------------ */
/* state.c: the registry on disk (--state-file), master                 */

#define STATE_VERSION	1

/* One token of a state file, checked. */
struct state_token {
	enum token_kind	 se_kind;
	char		*se_token;
	int		 se_port;	/* reverse, -1: none (autonomy) */
	int		 se_autonomy;
	char		*se_user;	/* reverse: both or neither */
	char		*se_pass;
	char		*se_reverse;	/* connector: its reverse token */
	char		*se_provider;	/* ... made by this provider instance */
	struct api_rules se_rules;
	struct token_limits se_limits;
};

struct state {
	struct state_token *st_tokens;
	size_t		 st_n;
	int		 st_has_access[2];	/* by enum access_side */
	struct api_rules st_access[2];
	int		 st_log_level;		/* -1: not given */
};

int		 state_parse(const char *, size_t, struct state *, char *,
		    size_t);
/* 0 read, 1 no such file, -1 error (in err). */
int		 state_read(const char *, struct state *, char *, size_t);
void		 state_free(struct state *);
/* The run-time tokens of the registry and the API's access lists. */
char		*state_render(struct json_t *, struct json_t *, int);
int		 state_write(const char *, const char *, char *, size_t);
const char	*state_level_name(int);

/* ------------------------------------------------------------------ */
/* control.c: the HTTP API and run-time registry changes (master)      */

/* Send a changed token (limits, credentials) to every worker. */
void		 control_token_update(struct token *);

struct control_conn;
struct control_ops {
	/* Send to worker i; the descriptor is consumed.  -1: not live. */
	int	(*co_send)(int, int, const void *, size_t, int);
};

void		 control_init(struct event_base *, const struct control_ops *,
		    int);
int		 control_wants(int);		/* peek: an API request? */
void		 control_accept(int, const char *);
void		 control_ipc(int, int, const void *, size_t);
void		 control_worker_gone(int);
/* --state-file at start-up (before the ports are bound): exits 2 if
 * the file cannot be used. */
void		 control_load(struct config *);
void		 control_reload(int);		/* SIGHUP */
void		 control_registry_changed(void);	/* save the state */
/* GET /metrics: where the metrics module answers (the API key passed). */
void		 control_metrics(struct control_conn *);
/* Answer an API request now: code, content type (NULL: text/plain) and
 * a malloc'd body, which control.c frees. */
void		 control_reply(struct control_conn *, int, const char *, char *);

/* ------------------------------------------------------------------ */
/* master.c: binding, the worker processes, signals, IPC               */

struct worker_role;
int		 master_run(struct config *, const struct worker_role *);

/* ------------------------------------------------------------------ */
/* worker.c: one event loop per worker process                         */

/*
 * What a worker runs above its loop: the tunnel server (server_role) or
 * the tunnel client (client_role).  worker.c reaches server.c and
 * client.c only through this.
 */
struct worker_role {
	void	(*wr_init)(void);	/* the loop is set up */
	void	(*wr_drain)(void);	/* SIGTERM: take no new work */
	void	(*wr_drain_tick)(void);	/* each drain check, or NULL */
	/*
	 * A message from the master, fd -1 or its descriptor: 0 taken
	 * (fd included), -1 a type this role never gets (worker_dispatch
	 * closes fd and stops the worker).
	 */
	int	(*wr_dispatch)(int, const void *, size_t, int);
};

struct worker {
	int			 w_idx;
	struct event_base	*w_base;
	struct evdns_base	*w_dns;
	struct ipc		*w_ipc;
	int			 w_socks_fd;	/* client side; -1 on server */
	int			 w_draining;
	double			 w_drain_started;
	unsigned		 w_tunnels;
	unsigned		 w_channels;
	struct ssl_ctx_st	*w_ssl;
	struct event		*w_drain_ev;
	const struct worker_role *w_role;
};

extern struct worker	*ls_worker;

__dead void	 worker_main(const struct worker_role *, int, int, int);
void		 worker_load_changed(void);
void		 worker_fatal(const char *, ...) LS_PRINTF(1, 2);
/* Run fn(arg) from the event loop after the current callback (frees). */
void		 worker_defer(void (*)(void *), void *);

/* ------------------------------------------------------------------ */
/* tunnel.c: one authenticated WebSocket carrying channels             */

enum tunnel_state {
	TUN_CONNECTING,		/* client: TCP/TLS/HTTP handshake */
	TUN_AUTH,		/* waiting for Auth / AuthResponse */
	TUN_OPEN,
	TUN_CLOSED
};

enum tunnel_kind {
	TUNK_FORWARD,		/* forward client (server side: we dial) */
	TUNK_REVERSE,		/* provider */
	TUNK_CONNECTOR
};

struct channel;
struct tunnel;
struct udp_assoc;

struct chan_table {
	struct channel	**ct_slots;
	size_t		  ct_size;	/* power of two */
	size_t		  ct_count;
};

struct tunnel_ops {
	/*
	 * TUN_AUTH: the first message (NULL with err on a parse error).  A
	 * message of another type than the one expected (Auth, or
	 * AuthResponse on a client) is not decoded: only m_version and
	 * m_rawtype are set, m_type is MSG_UNKNOWN.
	 */
	void	(*to_auth)(struct tunnel *, struct msg *, const char *);
	/*
	 * A decoded message that is not channel traffic the tunnel handles;
	 * raw holds the whole message as received (contiguous).
	 */
	void	(*to_message)(struct tunnel *, struct msg *, struct evbuffer *);
	/* The tunnel is gone (channels already closed). */
	void	(*to_closed)(struct tunnel *, const char *);
	/* The tunnel reached TUN_OPEN (client: WS open). */
	void	(*to_open)(struct tunnel *);
};

struct tunnel {
	struct ws_conn		*t_ws;
	enum tunnel_state	 t_state;
	enum tunnel_kind	 t_kind;
	int			 t_client;	/* we dialled it */
	int			 t_halfclose;	/* peer speaks our extension */
	int			 t_credit;	/* per-channel credit windows */
	uint32_t		 t_peer_window;	/* peer's receive window */
	const struct tunnel_ops	*t_ops;
	void			*t_arg;
	struct chan_table	 t_chans;
	TAILQ_HEAD(, channel)	 t_blocked;	/* waiting for ws drain */
	unsigned		 t_pausers;	/* channels pausing our reader */
	struct evbuffer		*t_out;		/* scratch for one message */
	struct event		*t_timer;	/* auth timeout / keepalive */
	struct bufferevent	*t_link;	/* framed transport instead of t_ws */
	struct event		*t_link_ev;
	char			*t_route;	/* link: group key of next Connect */
	struct evbuffer		*t_linkmsg;	/* link: message being read */
	double			 t_link_rx;	/* link: last message, monotonic */
	char			 t_name[64];
	char			*t_token;	/* server: raw token it used */
	struct token_use	*t_use;		/* server: its token's limits */
	struct stats_token	*t_stats;	/* server: its token's counters,
						 * set before TUN_OPEN */
	/*
	 * One reference while open, one more for each dispatch in progress;
	 * the memory goes from the event loop once the last one is dropped
	 * after TUN_CLOSED, so callers up the stack never see it freed.
	 */
	int			 t_refs;
	struct group		*t_group;	/* server: provider/connector group */
	int			 t_autonomy;	/* provider on an autonomy token */
	unsigned		 t_nudp;	/* UDP associations (udp.c) */
	unsigned		 t_refused;	/* Connects refused by a cap */
	unsigned		 t_fastopen;	/* channels opened with fast open */
	uint64_t		 t_bytes_in;	/* Data payload received */
	uint64_t		 t_bytes_out;	/* ... and sent */
	TAILQ_ENTRY(tunnel)	 t_entry;	/* g_tunnels */
	TAILQ_ENTRY(tunnel)	 t_all;		/* server: every tunnel */
};

#define LS_FEATURE_HEADER	"X-Linksocks-Features"

/* Our X-Linksocks-Features header line, or "" (--no-extensions). */
const char	*tunnel_feature_line(void);
/* Parse a features value: half-close offered, credit window (0: none). */
void		 tunnel_features(const char *, int *, uint32_t *);
/* Enable what both ends offered on t. */
void		 tunnel_set_features(struct tunnel *, int, uint32_t);
const char	*tunnel_feature_text(const struct tunnel *);

struct tunnel	*tunnel_new(struct ws_conn *, int, const struct tunnel_ops *,
		    void *);
/* A worker link to worker `peer' over a socketpair from the master. */
struct tunnel	*tunnel_new_link(int, int, const struct tunnel_ops *, void *);
/*
 * The same framed transport (u32 length, then the message, unchanged)
 * on any bufferevent, already OPEN, with both extensions on: worker links,
 * and unit tests over a bufferevent_pair.  The tunnel owns bev.
 */
struct tunnel	*tunnel_new_framed(struct bufferevent *, const char *,
		    const struct tunnel_ops *, void *);
/* Link-only frame: 01 F0 <16-byte channel id> <u16 keylen> <group key>. */
#define LS_LINK_ROUTE		0xf0
void		 tunnel_set_state(struct tunnel *, enum tunnel_state);
const char	*tunnel_strstate(enum tunnel_state);
void		 tunnel_ref(struct tunnel *);
void		 tunnel_unref(struct tunnel *);
/* Close the tunnel and every channel on it; to_closed is called. */
void		 tunnel_close(struct tunnel *, const char *);
/* The same, with a WebSocket close code other than 1000 (why as text). */
void		 tunnel_close_code(struct tunnel *, uint16_t, const char *);
/* Send the message built in t_out; -1 if the tunnel is gone. */
int		 tunnel_flush_msg(struct tunnel *);
/* Send TCP Data for id: the first n bytes of src, moved, not copied. */
int		 tunnel_send_data(struct tunnel *, const uint8_t *,
		    struct evbuffer *, size_t);
int		 tunnel_writable(struct tunnel *);	/* below high mark */
void		 tunnel_block(struct tunnel *, struct channel *);
void		 tunnel_pause(struct tunnel *, int);
struct channel	*tunnel_find(struct tunnel *, const uint8_t *);
int		 tunnel_add(struct tunnel *, struct channel *);
/* Does t hold --max-channels channels already? */
int		 tunnel_full(const struct tunnel *);
/* ConnectResponse(0, text) for a Connect refused before it had a
 * channel (caps), counted by its protocol; logged at 1, 2, 4, 8...
 * refusals on t. */
void		 tunnel_refuse(struct tunnel *, const struct msg *,
		    const char *);
/* A TCP connect's outcome (ST_CONNECT_*) for the metrics; t may be NULL. */
void		 tunnel_count_connect(struct tunnel *, enum stat_id);
/* One whole message (all of the evbuffer) from the peer. */
void		 tunnel_dispatch(struct tunnel *, struct evbuffer *);
void		 tunnel_remove(struct tunnel *, struct channel *);
void		 tunnel_start_keepalive(struct tunnel *);
double		 tunnel_idle(struct tunnel *);
extern const struct ws_cb tunnel_ws_cb;

/* ------------------------------------------------------------------ */
/* channel.c: one proxied connection over a tunnel, of some kind       */

/*
 * What a channel is: set once by the code that creates it, which also
 * gives it its struct channel_ops.  channel.c and tunnel.c never look at
 * the kind; they call through the ops.
 */
enum channel_kind {
	CHK_SOCKS,		/* front.c: an application's SOCKS5 CONNECT */
	CHK_DIAL,		/* dial.c: the target of a Connect we received */
	CHK_UDP_SOCKS,		/* udp.c: an application's UDP ASSOCIATE */
	CHK_UDP_DIAL,		/* udp.c: the far end of an association */
	CHK_AGENT		/* agent.c: one half of a relayed channel */
};

/* Progress; the transitions allowed are in channel.c (channel_moves). */
enum channel_state {
	CH_SOCKS,		/* SOCKS5 negotiation with the application */
	CH_WAIT_TUNNEL,		/* request parsed, no tunnel (provider) yet */
	CH_REPLY_OWED,		/* Connect sent; the application still waits
				 * for its SOCKS5 reply (no fast open) */
	CH_CONNECTING,		/* Connect received and dialling, or sent with
				 * fast open: nothing owed to the application */
	CH_RELAY,		/* bytes flow */
	CH_FLUSHING,		/* done with the far side; writing what its
				 * output still holds */
	CH_CLOSED		/* dead: callbacks return; freed from the loop */
};

#define CHF_LOCAL_EOF		0x0001	/* local read side ended, Disconnect sent */
#define CHF_REMOTE_EOF		0x0002	/* Disconnect received */
#define CHF_PAUSING		0x0004	/* we paused the tunnel reader */
#define CHF_BLOCKED		0x0008	/* on t_blocked, waiting for drain */
#define CHF_FASTOPEN		0x0010	/* answered before the connect */
#define CHF_CONFIRMED		0x0020	/* ConnectResponse(1) seen / dial ok */
#define CHF_SHUTWR		0x0040	/* local write side shut down */
#define CHF_DISC_SENT		0x0080	/* the far side knows it is closed */
#define CHF_EOF_PENDING		0x0100	/* local EOF, input not yet sent */
#define CHF_NOCREDIT		0x0200	/* waiting for the peer's Window */
#define CHF_FOHOLD		0x0400	/* fast open answered, data held */
#define CHF_WAITING		0x0800	/* on its kind's waiting list */
#define CHF_ADOPTED		0x1000	/* front.c: handed from a worker */
#define CHF_FROM_LINK		0x2000	/* agent.c: came over a worker link */
#define CHF_HTTP		0x4000	/* front.c: an HTTP proxy request */
#define CHF_HTTP_FWD		0x8000	/* ... absolute form: no 200 owed */
#define CHF_BITS	"\020\001LOCAL_EOF\002REMOTE_EOF\003PAUSING\004BLOCKED" \
	"\005FASTOPEN\006CONFIRMED\007SHUTWR\010DISC_SENT\011EOF_PENDING" \
	"\012NOCREDIT\013FOHOLD\014WAITING\015ADOPTED\016FROM_LINK" \
	"\017HTTP\020HTTP_FWD"

#define CH_OUT_HIGH		(2u * 1024 * 1024)
#define CH_OUT_LOW		(512u * 1024)
/*
 * Largest Data payload: 512 KiB towards a protocol-0x01 peer, which
 * drops what comes beyond 1,000 queued messages (P-1), so larger messages
 * give it more room; 256 KiB between our peers, where credit bounds what
 * waits and smaller steps pipeline better.  Reads stay at 512 KiB: what
 * one read brings is still in the cache when it is written out.
 */
#define CH_READ_CHUNK		(512u * 1024)
#define CH_CREDIT_CHUNK		(256u * 1024)
#define CH_READ_MAX		CH_READ_CHUNK	/* input buffered */
#define CH_LINGER		5	/* seconds, 0x01-only peers */

struct channel_ops {
	enum channel_kind	 co_kind;
	const char		*co_name;	/* for logs */
	/*
	 * TCP Data: the whole message is in frame, n payload bytes after its
	 * MSG_DATA_HDR-byte header.  m is NULL on the fast path, else the
	 * decoded message (gzip: m_data holds the inflated payload).
	 */
	void	(*co_data)(struct channel *, struct evbuffer *, size_t,
		    const struct msg *);
	/* UDP Data, decoded and as received (NULL: dropped). */
	void	(*co_datagram)(struct channel *, const struct msg *,
		    struct evbuffer *);
	/* ConnectResponse and Disconnect, decoded and as received. */
	void	(*co_connect_response)(struct channel *, const struct msg *,
		    struct evbuffer *);
	void	(*co_disconnect)(struct channel *, const struct msg *,
		    struct evbuffer *);
	/* Window (0xF1): the peer takes this many more bytes. */
	void	(*co_window)(struct channel *, uint32_t);
	/* The tunnel's output drained after channel_block. */
	void	(*co_drained)(struct channel *);
	/* The tunnel is going away, or sent this channel garbage. */
	void	(*co_gone)(struct channel *, const char *);
	/* ch_timer fired (never while CH_FLUSHING: channel.c owns that). */
	void	(*co_timeout)(struct channel *);
	/* First step of channel_close: tell whoever must know (optional). */
	void	(*co_close)(struct channel *, const char *);
	/* Release what the kind holds, once, from the teardown (optional). */
	void	(*co_free)(struct channel *);
	/* Disconnect text for our own EOF (NULL: none). */
	const char		*co_eof_reason;
};

struct channel {
	uint8_t			 ch_id[LS_CHANNEL_ID_LEN];
	enum channel_state	 ch_state;
	int			 ch_flags;
	int			 ch_refs;	/* see channel_ref */
	const struct channel_ops *ch_ops;
	struct tunnel		*ch_tun;
	struct bufferevent	*ch_bev;	/* application or target */
	struct event		*ch_timer;
	struct socks5		*ch_s5;		/* front: while negotiating */
	struct preauth		 ch_preauth;	/* front: ... counted */
	char			*ch_host;	/* target name or address */
	uint16_t		 ch_port;
	char			*ch_peer;	/* front: address:port, or "" */
	struct evdns_getaddrinfo_request *ch_dnsreq;	/* dial */
	struct evutil_addrinfo	*ch_ai, *ch_ai_next;	/* dial */
	struct proxy_conn	*ch_proxy;	/* dial: -x exchange under way */
	char			*ch_err;	/* dial: last connect error */
	int			 ch_errno;	/* dial: ... its errno */
	struct channel		*ch_hnext;	/* chan_table chain */
	struct group		*ch_group;	/* server SOCKS: token's group */
	struct channel		*ch_twin;	/* agent: other half */
	struct evbuffer		*ch_pending;	/* agent: frames queued; socks:
						 * Data before the reply */
	struct udp_assoc	*ch_udp;	/* udp */
	struct token_use	*ch_use;	/* counted against a token */
	int			 ch_rated;	/* ch_bev in its rate group */
	int			 ch_kick_queued;	/* on channel_kick_head */
	struct channel		*ch_kick_next;
	/* Credit (t_credit): what we may send, and what the peer may. */
	int64_t			 ch_tx_credit;
	uint64_t		 ch_rx_added;	/* payload bytes received */
	uint64_t		 ch_rx_limit;	/* ... allowed so far */
	uint64_t		 ch_rx_acked;	/* ... consumed and granted */
	uint32_t		 ch_rx_unacked;	/* agent: consumed, not granted */
	TAILQ_ENTRY(channel)	 ch_blocked;	/* t_blocked (CHF_BLOCKED) */
	TAILQ_ENTRY(channel)	 ch_waiting;	/* front or agent waiters
						 * (CHF_WAITING) */
};

const char	*channel_strstate(enum channel_state);
void		 channel_set_state(struct channel *, enum channel_state);
/* "<LOCAL_EOF,FASTOPEN>" for debug logs; static buffer. */
const char	*channel_flagstr(int);
/*
 * A new channel of a kind, in state st (counted in w_channels), with one
 * reference that channel_close drops.  NULL when out of memory.
 */
struct channel	*channel_alloc(const struct channel_ops *, enum channel_state);
/* A kind taking over a channel another kind negotiated (front -> udp). */
void		 channel_set_ops(struct channel *, const struct channel_ops *);
/* Keep ch's memory past its teardown, until the matching unref. */
void		 channel_ref(struct channel *);
void		 channel_unref(struct channel *);
#define channel_dead(ch)	((ch)->ch_state == CH_CLOSED)
/* Set ch_host from len bytes (copied, NUL added); -1 out of memory.
 * A new channel's ch_host is channel_nohost (""), never NULL. */
extern char	 channel_nohost[];
int		 channel_set_host(struct channel *, const char *, size_t);
/* Copies kept only while needed: a front's peer, a dial's last error. */
void		 channel_set_peer(struct channel *, const char *);
void		 channel_set_err(struct channel *, const char *);
/*
 * The one teardown, reached by every path: the kind's co_close, off the
 * tunnel, then (flush) keep the local socket until its output is written,
 * or free now.  Safe to call again; a close while flushing ends the flush.
 */
void		 channel_close(struct channel *, const char *, int);
/* co_close and co_gone of the kinds with a local socket. */
void		 channel_close_notify(struct channel *, const char *);
void		 channel_gone(struct channel *, const char *);
/* Give ch a fresh channel id on t; -1 if none could be registered. */
int		 channel_attach(struct channel *, struct tunnel *);
/* A channel for Connect m received on t (dial side), registered on t
 * under m's id, CH_CONNECTING; NULL (logged) if it cannot be, or
 * (ConnectResponse "too many channels") if t is full. */
struct channel	*channel_new_remote(struct tunnel *, const struct msg *,
		    const struct channel_ops *);
/* Dial side: answer ConnectResponse(0, text) and close (logged). */
void		 channel_refuse(struct channel *, const char *);
/* The same, not logged: the caller said why. */
void		 channel_deny(struct channel *, const char *);
/* Disconnect(err) to the far side unless it knows already. */
void		 channel_send_disconnect(struct channel *, const char *);
/* ch_timer: (re)arm for secs, or drop it with 0. */
void		 channel_timer(struct channel *, int);
void		 channel_timer_tv(struct channel *, const struct timeval *);
/* The fast-open guard: ConnectTimeout + 5 s until the connect is
 * confirmed. */
void		 channel_guard(struct channel *);
/* After a change: the guard, the linger after our EOF, or no timer. */
void		 channel_rearm(struct channel *);
/* The error text of a ConnectResponse or Disconnect, escaped. */
const char	*channel_msg_error(const struct msg *, char *, size_t);
/*
 * The data path of a channel with a local socket (front and dial kinds):
 * start relaying ch_bev, and the ops they share.
 */
void		 channel_start_relay(struct channel *);
void		 channel_kick(struct channel *);
void		 channel_hold(struct channel *);
void		 channel_data(struct channel *, struct evbuffer *, size_t,
		    const struct msg *);
void		 channel_window(struct channel *, uint32_t);
void		 channel_drained(struct channel *);
/* A Disconnect for a relaying channel (or a dial still connecting). */
void		 channel_disconnect(struct channel *, const struct msg *,
		    struct evbuffer *);
/* Linger or fast-open guard expired (CH_RELAY). */
void		 channel_relay_timeout(struct channel *);
/* ConnectResponse where none is expected: logged, ignored. */
void		 channel_ignore_response(struct channel *, const struct msg *,
		    struct evbuffer *);

/* ------------------------------------------------------------------ */
/* dial.c: the dial side of a TCP channel (server forward, provider)   */

/* Connect received on t: dial the target (UDP: udp_dial). */
void		 dial_connect(struct tunnel *, const struct msg *);

/* ------------------------------------------------------------------ */
/* udp.c: UDP ASSOCIATE over a tunnel                                  */

/* The front hands over a parsed UDP ASSOCIATE with the tunnel chosen. */
void		 udp_socks_start(struct channel *, struct tunnel *);
void		 udp_dial(struct tunnel *, const struct msg *);

/* ------------------------------------------------------------------ */
/* agent.c: agent mode, a connector's channel joined to a provider's     */

/* Connect from a connector (raw: the message as received). */
void		 agent_connect(struct tunnel *, const struct msg *,
		    struct evbuffer *, struct group *);
void		 agent_provider_available(struct group *);
/* A worker link's tunnel ops: routes and Connects from other workers. */
extern const struct tunnel_ops agent_link_ops;

/* ------------------------------------------------------------------ */
/* front.c: SOCKS5 front end sessions on bufferevents                  */

/*
 * What the role gives its front end: where a parsed request goes.
 * fo_pick returns a local tunnel, or NULL with *worker set to the worker
 * that should take the connection (-1: none yet).  fo_udp starts a UDP
 * ASSOCIATE (NULL: refused).
 */
struct front_ops {
	struct tunnel	*(*fo_pick)(struct group *, int, int *);
	void		 (*fo_udp)(struct channel *, struct tunnel *);
};

void		 front_init(const struct front_ops *);
void		 front_accept(evutil_socket_t, const struct sockaddr *, int,
		    struct group *);
struct ipc_handoff;
void		 front_adopt(int, const struct ipc_handoff *, const uint8_t *,
		    struct group *);
void		 front_tunnel_available(void);
unsigned	 front_waiting(void);
/* The one writer of SOCKS5 replies (bound address: NULL or sa). */
void		 front_reply(struct channel *, uint8_t, const struct sockaddr *);

/* ------------------------------------------------------------------ */
/* server.c: tunnel server (runs in workers)                           */

extern const struct worker_role server_role;

/* ------------------------------------------------------------------ */
/* router.c: which provider takes a channel; the links between workers */

/*
 * Round robin over every provider of g in every worker: a local tunnel,
 * or NULL with *worker set to the worker that has the one chosen (-1:
 * none).  adopted: the request moved once already, so local only.
 */
struct tunnel	*router_pick(struct group *, int, int *);
/* This worker's providers of g only. */
struct tunnel	*router_pick_local(struct group *);
/* The link to worker i, or NULL. */
struct tunnel	*router_link(int);
void		 router_link_set(int, int, const struct tunnel_ops *);
/* A link's to_closed: forget it. */
void		 router_link_gone(struct tunnel *, const char *);

/* ------------------------------------------------------------------ */
/* client.c: tunnel client (runs in workers)                           */

extern const struct worker_role client_role;
/* The master, before forking: TLS files and environment proxy usable? */
int		 client_check(char *, size_t);

/* ------------------------------------------------------------------ */
/* linksocks.c: the program: configuration, then the master            */

int		 linksocks_main(int, char **);

#endif /* LINKSOCKS_H */
