/*
 * core_fixture.h -- a worker without a process around it, for the Check
 * units of the core (channel.c, tunnel.c, agent.c, front.c, dial.c).
 *
 * fx_setup() gives ls_conf and ls_worker (an event base, an evdns base
 * without servers, worker 0), a quiet log, SIGPIPE ignored, and a front
 * end whose picker returns fx_pick_tunnel (fx_pick_worker when NULL).
 * fx_teardown() closes what is left, runs the loop until the deferred
 * frees ran and checks that no channel is left (w_channels == 0).
 *
 * The fake tunnel transport is tunnel_new_framed() over one end of a
 * bufferevent_pair; the test drives the other end (struct fx_peer):
 * it reads the frames the tunnel sends (u32 length in host order, then
 * the message) and writes frames for the tunnel to receive.  Nothing
 * runs until the test pumps the loop (fx_pump).
 */
#ifndef CORE_FIXTURE_H
#define CORE_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "linksocks.h"

#define FX_MAXPEERS	8

struct fx_peer {
	struct bufferevent	*p_bev;		/* the test's end of the pair */
	struct tunnel		*p_tun;		/* NULL once to_closed ran */
	int			 p_closed;	/* to_closed ran */
	char			 p_why[128];	/* ... with this reason */
	int			 p_dial;	/* Connect -> dial_connect */
	struct group		*p_agent;	/* Connect -> agent_connect */
	struct group		*p_provider;	/* on this group's g_tunnels */
	unsigned		 p_nmsg;	/* to_message calls */
	int			 p_lasttype;	/* ... the last one's m_type */
};

/* A message the tunnel sent, with its own copy of the bytes. */
struct fx_msg {
	uint8_t			*fm_buf;
	size_t			 fm_len;
	struct msg		 fm_m;
};

extern struct tunnel	*fx_pick_tunnel;
extern int		 fx_pick_worker;
extern unsigned		 fx_udp_calls;

void		 fx_setup(void);
void		 fx_teardown(void);
/* Run the loop until nothing is active (a few passes at least). */
void		 fx_pump(void);
/* Pump until cond(arg) holds; 0 if it did not within two seconds. */
int		 fx_pump_until(int (*)(void *), void *);

/*
 * A framed tunnel and the test's end of it.  ext: the peer speaks both
 * extensions (half-close and credit, with ls_conf->c_window); 0: a plain
 * protocol-0x01 peer.
 */
struct fx_peer	*fx_peer_new(const char *, int);
/*
 * ... with other tunnel ops; their to_closed must end by calling
 * fx_tunnel_closed(), the fixture's own (the tunnel's arg is the peer).
 */
struct fx_peer	*fx_peer_new_ops(const char *, int,
		    const struct tunnel_ops *);
void		 fx_tunnel_closed(struct tunnel *, const char *);
/* Register p's tunnel as a provider of g (as server.c does). */
void		 fx_peer_provider(struct fx_peer *, struct group *);
/* Close the test's end: the tunnel sees EOF on its link. */
void		 fx_peer_eof(struct fx_peer *);

/* The next message from the tunnel: 1, or 0 if none came. */
int		 fx_recv(struct fx_peer *, struct fx_msg *);
void		 fx_msg_free(struct fx_msg *);
/* The next message must be of this type (and for this id if non-NULL);
 * it is stored in the fx_msg if non-NULL (fx_msg_free it). */
void		 fx_expect(struct fx_peer *, int, const uint8_t *,
		    struct fx_msg *);
/* Nothing more from the tunnel once the loop is quiet. */
void		 fx_expect_none(struct fx_peer *);
/* TCP Data for id until len payload bytes came; they must equal want. */
void		 fx_expect_data(struct fx_peer *, const uint8_t *,
		    const uint8_t *, size_t);
/* Read TCP Data for id until len bytes came (any other message fails);
 * Window messages are counted into *win when win is non-NULL. */
void		 fx_read_data(struct fx_peer *, const uint8_t *, uint8_t *,
		    size_t, uint64_t *);
/* Bytes of messages waiting in the test's end, not yet read. */
size_t		 fx_pending(struct fx_peer *);

/* Frames for the tunnel: a length, then the message. */
void		 fx_send_buf(struct fx_peer *, struct evbuffer *);
void		 fx_send_raw(struct fx_peer *, const void *, size_t);
void		 fx_send_connect(struct fx_peer *, int, const uint8_t *,
		    const char *, uint16_t);
void		 fx_send_cr(struct fx_peer *, int, const uint8_t *,
		    const char *);
void		 fx_send_data(struct fx_peer *, const uint8_t *, const void *,
		    size_t);
void		 fx_send_disc(struct fx_peer *, const uint8_t *, const char *);
void		 fx_send_window(struct fx_peer *, const uint8_t *, uint32_t);

/* The error text of a message, NUL terminated (static buffer). */
const char	*fx_errtext(const struct fx_msg *);

/*
 * The application side of a SOCKS5 front channel: a socketpair whose
 * other end went to front_accept() with group g.  Returns the app's fd.
 */
int		 fx_app_new(struct group *);
/* Greeting (no auth) and CONNECT to 127.0.0.1:port, then extra bytes. */
void		 fx_app_connect(int, uint16_t, const void *, size_t);
/* Read exactly n bytes from fd (pumping), failing after two seconds. */
void		 fx_app_read(int, void *, size_t);
/* Expect exactly these bytes next. */
void		 fx_app_expect(int, const void *, size_t);
/* The 10-byte SOCKS5 reply with this code must come next. */
void		 fx_app_reply(int, uint8_t);
/* End of file next (no more bytes): 1, or 0 if it did not come. */
int		 fx_app_eof(int);
/* Nothing to read once the loop is quiet (and no EOF). */
void		 fx_app_quiet(int);
/* Write all of buf (pumping while the socket is full). */
void		 fx_app_write(int, const void *, size_t);
/* Bytes waiting to be read on fd. */
size_t		 fx_app_avail(int);

/* A loopback listener (127.0.0.1, kernel port); fd, port in *port. */
int		 fx_listen(uint16_t *);
/* Accept on a listener (pumping): the fd, or -1 after two seconds. */
int		 fx_accept(int);
/* A loopback port nothing listens on. */
uint16_t	 fx_closed_port(void);

/*
 * Timers: the pending timer armed for about secs seconds (+-1), whose
 * callback argument (a channel for channel timers) is returned; NULL if
 * none.  fx_fire fires it and pumps.
 */
void		*fx_timer_arg(int);
struct event	*fx_timer(int);
int		 fx_fire(int);

/* The channel on p's tunnel with this id (NULL if none). */
struct channel	*fx_chan(struct fx_peer *, const uint8_t *);

/* Descriptors the teardown closes; fx_close closes one now. */
void		 fx_keep_fd(int);
void		 fx_close(int);

void		 fx_fill(uint8_t *, size_t, unsigned);

#endif /* CORE_FIXTURE_H */
