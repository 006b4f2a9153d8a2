#!/usr/bin/env python3
"""SOCKS5 UDP ASSOCIATE test client (RFC 1928 section 7; stdlib only).

  socks5udp.py SUBCOMMAND --proxy HOST:PORT [common options] [options]

Every subcommand opens the TCP control connection, greets (method 00, or
02 with --user/--password, RFC 1929), sends UDP ASSOCIATE with DST
0.0.0.0:0 (or --assoc-addr, or --declare), reads the reply, opens a UDP
socket of the relay's family bound to the control connection's local
address, and runs its checks.  The control connection stays open until
the subcommand ends (plus --hold seconds).  Output, one "key value" line
each:

  method 0500 / auth 0100   the method selection and RFC 1929 replies
  reply 0500000100000000... the UDP ASSOCIATE reply, raw, in hex
  relay ADDR PORT           where datagrams go (BND.ADDR, or the proxy
                            host when BND.ADDR is 0.0.0.0 or ::)
  udp-local ADDR PORT       the client's UDP socket
  bad REASON ...            each rejected reply datagram (first 20)
  summary ...               the verdict line of the subcommand

Subcommands (TARGET is HOST:PORT, [v6]:PORT for IPv6; literals go as
ATYP 1/4, names as ATYP 3, --atyp domain forces ATYP 3):

  echo --target T --count N --min A --max B --seed S --window W
       N datagrams of sizes in [A,B] (A, B and some edge sizes first,
       then pseudo-random), each "8-byte seq, 8-byte length, seeded
       pseudo-random bytes" (truncated below 16 bytes), to an echo
       server; at most W outstanding; a datagram not echoed within
       --rto seconds (doubling, at most 4 s) is sent again, up to
       --retries times.  Each reply must come from the relay, carry
       RSV 0, FRAG 0 and the echo server's address and port (the
       target, or each address of the target name, or --expect-from),
       and the exact payload.
       summary sent N ok K bad X lost L retrans R reordered O dup D
           icmp I elapsed SECONDS
       exit 0 iff K == N and X == 0, and R is at most --max-retrans
       (default 2% of N, at least 3).
  malformed --target T
       one valid datagram first, then a battery of broken ones (empty,
       1-3 bytes, RSV != 0, FRAG != 0, ATYP 0/2/5/255, truncated ATYP
       1/4, ATYP 3 with an overlong or zero length, plus valid ones to
       port 0, to a dead port and to an unresolvable name) and then
       --valid valid datagrams, which must all be echoed; nothing with
       a bad datagram's marker (nor anything unidentified) may come back.
       summary malformed M echoed_bad B valid_ok V valid_sent W
       exit 0 iff B == 0 and V == W.
  foreign --target T
       datagrams from the association's socket are echoed, one from a
       second UDP socket (another source port) is not, to either socket.
       With --declare the request names the first socket's address and
       port and the foreign socket sends first.
       summary foreign_echoed F own_ok K own_sent N
       exit 0 iff F == 0 and K == N.
  dns --target T --name NAME [--expect IP] [--expect-rcode N] [--qtype N]
       one DNS query through the association; prints dns-rcode and one
       dns-answer line per A record.  exit 0 iff the rcode matches
       (default 0) and, with --expect, IP is among the answers.
  close-check --target T [--far-log FILE] [--gone-timeout S]
       one echo to prove the association, then the control connection
       is closed; polls /proc/net/udp{,6} until no socket has the relay
       port as its local port: relay_gone 1|0 after SECONDS.  With
       --far-log (the udpecho.py --log file of T) the source port the
       echo server saw is checked too: far_gone 1|0 after SECONDS.
       summary relay_gone 1|0 [far_gone 1|0]
       exit 0 iff everything checked is gone.
  hold  just the association, kept for --hold seconds.

Exit status: 0 pass, 1 a check failed, 2 the proxy could not be reached
or refused the association, 64 usage errors.
"""

import argparse
import ipaddress
import random
import select
import socket
import struct
import sys
import time

import lstest
from lstest import big_buffers, literal

UDP_MAX = {socket.AF_INET: 65507, socket.AF_INET6: 65527}


class Usage(Exception):
	pass


class ProxyError(Exception):
	pass


def out(key, *vals):
	sys.stdout.write("%s %s\n" % (key, " ".join(str(v) for v in vals)))
	sys.stdout.flush()


def split_hostport(s):
	try:
		return lstest.hostport(s)
	except ValueError as e:
		raise Usage(str(e))


# Normalized text of an address; IPv4-mapped shown as IPv4.
norm = lstest.plain_host


def enc_addr(host, port, force_domain=False):
	"""SOCKS address: ATYP, address, port."""
	try:
		return lstest.socks5_addr(host, port, force_domain)
	except ValueError as e:
		raise Usage(str(e))


def udp_header(host, port, force_domain=False):
	return b"\x00\x00\x00" + enc_addr(host, port, force_domain)


def parse_udp(d):
	"""Return (rsv, frag, atyp, host, port, payload); ValueError if bad."""
	if len(d) < 4:
		raise ValueError("short header (%d bytes)" % len(d))
	rsv = struct.unpack("!H", d[:2])[0]
	frag, atyp = d[2], d[3]
	if atyp == 1:
		if len(d) < 10:
			raise ValueError("truncated ATYP 1 (%d bytes)" % len(d))
		host = str(ipaddress.IPv4Address(d[4:8]))
		off = 8
	elif atyp == 4:
		if len(d) < 22:
			raise ValueError("truncated ATYP 4 (%d bytes)" % len(d))
		host = str(ipaddress.IPv6Address(d[4:20]))
		off = 20
	elif atyp == 3:
		if len(d) < 5 or len(d) < 7 + d[4]:
			raise ValueError("truncated ATYP 3 (%d bytes)" % len(d))
		host = d[5:5 + d[4]].decode("ascii", "replace")
		off = 5 + d[4]
	else:
		raise ValueError("ATYP %d" % atyp)
	port = struct.unpack("!H", d[off:off + 2])[0]
	return rsv, frag, atyp, host, port, d[off + 2:]


class Session:
	"""TCP control connection plus the association's UDP socket."""

	def __init__(self, a):
		self.a = a
		self.t0 = time.monotonic()
		self.deadline = self.t0 + a.timeout
		self.nbad_printed = 0
		self.control_closed = False
		self.icmp = 0
		self.stray = []

	def left(self):
		return self.deadline - time.monotonic()

	def recv_exact(self, n):
		d = b""
		while len(d) < n:
			t = self.left()
			if t <= 0:
				raise ProxyError("timeout in the handshake")
			self.tcp.settimeout(min(t, 20))
			try:
				c = self.tcp.recv(n - len(d))
			except socket.timeout:
				raise ProxyError("timeout in the handshake")
			except OSError as e:
				raise ProxyError("recv: %s" % e)
			if not c:
				raise ProxyError("proxy closed the control "
				    "connection after %d bytes" % len(d))
			d += c
		return d

	def open(self):
		a = self.a
		ph, pp = split_hostport(a.proxy)
		self.proxy_host = ph
		try:
			self.tcp = socket.create_connection((ph, pp),
			    timeout=min(a.timeout, 20))
		except OSError as e:
			raise ProxyError("connect %s: %s" % (a.proxy, e))
		self.tcp.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
		tfam = self.tcp.family
		local_ip = self.tcp.getsockname()[0]

		# With --declare the UDP socket exists before the request.
		self.udp = None
		if a.declare:
			self.udp = self.new_udp(tfam, a.bind_udp or local_ip)
		if a.user is not None:
			self.tcp.sendall(b"\x05\x01\x02")
		else:
			self.tcp.sendall(b"\x05\x01\x00")
		m = self.recv_exact(2)
		out("method", m.hex())
		if m[0] != 5 or m[1] not in (0, 2):
			raise ProxyError("method refused")
		if m[1] == 2:
			if a.user is None:
				raise ProxyError("proxy wants credentials")
			ub, pb = a.user.encode(), (a.password or "").encode()
			self.tcp.sendall(bytes([1, len(ub)]) + ub +
			    bytes([len(pb)]) + pb)
			r = self.recv_exact(2)
			out("auth", r.hex())
			if r[1] != 0:
				raise ProxyError("credentials refused")
		if a.declare:
			h, p = self.udp.getsockname()[:2]
			dst = enc_addr(norm(h), p)
		elif a.assoc_addr:
			h, p = split_hostport(a.assoc_addr)
			dst = enc_addr(h, p)
		else:
			dst = enc_addr("0.0.0.0", 0)
		self.tcp.sendall(b"\x05\x03\x00" + dst)
		r = lstest.socks5_read_reply(self.recv_exact)
		out("reply", r.hex())
		if r[0] != 5 or r[1] != 0:
			raise ProxyError("UDP ASSOCIATE refused, REP %d" % r[1])
		if r[3] == 1:
			host = str(ipaddress.IPv4Address(r[4:8]))
		elif r[3] == 4:
			host = str(ipaddress.IPv6Address(r[4:20]))
		else:
			raise ProxyError("reply ATYP %d not supported" % r[3])
		port = struct.unpack("!H", r[-2:])[0]
		if literal(host).is_unspecified:
			host = ph
		if port == 0:
			raise ProxyError("BND.PORT 0")
		self.relay_host = norm(host)
		self.relay_port = port
		out("relay", self.relay_host, port)
		rfam = socket.AF_INET6 if ":" in self.relay_host else \
		    socket.AF_INET
		self.rfam = rfam
		if self.udp is None:
			bind = a.bind_udp
			if bind is None:
				bind = local_ip if rfam == tfam else \
				    ("::" if rfam == socket.AF_INET6 else "")
			self.udp = self.new_udp(rfam, bind)
		elif self.udp.family != rfam:
			raise ProxyError("relay family differs from the "
			    "declared UDP socket's")
		self.relay = (self.relay_host, port)
		h, p = self.udp.getsockname()[:2]
		out("udp-local", norm(h), p)
		self.tcp.setblocking(False)

	def new_udp(self, fam, bind):
		s = socket.socket(fam, socket.SOCK_DGRAM)
		big_buffers(s)
		s.bind((bind, 0))
		s.setblocking(False)
		return s

	def limit(self):
		return UDP_MAX[self.rfam]

	def sendto(self, sock, d, dest=None):
		"""Send one datagram; False when it could not be queued."""
		dest = dest or self.relay
		for _ in range(2):
			try:
				sock.sendto(d, dest)
				return True
			except BlockingIOError:
				select.select([], [sock], [], 0.2)
			except ConnectionRefusedError:
				self.icmp += 1
			except OSError as e:
				out("send-error", len(d), str(e).replace(" ", "_"))
				return False
		return False

	def poll(self, socks, timeout):
		"""Wait up to timeout; return [(sock, data, src)].  Watches
		the control connection: EOF or reset sets control_closed."""
		if self.control_closed:
			rl = list(socks)
		else:
			rl = list(socks) + [self.tcp]
		timeout = max(0.0, min(timeout, self.left()))
		try:
			r, _, _ = select.select(rl, [], [], timeout)
		except InterruptedError:
			return []
		res = []
		for s in r:
			if s is self.tcp:
				try:
					d = self.tcp.recv(4096)
				except BlockingIOError:
					continue
				except OSError:
					d = b""
				if not d:
					self.control_closed = True
					out("control-closed",
					    "%.2f" % (time.monotonic() - self.t0))
				else:
					out("control-data", d.hex())
				continue
			for _ in range(64):
				try:
					d, src = s.recvfrom(65536)
				except BlockingIOError:
					break
				except ConnectionRefusedError:
					self.icmp += 1
					continue
				except OSError:
					break
				res.append((s, d, src))
		return res

	def from_relay(self, src):
		if self.a.any_src:
			return True
		return norm(src[0]) == self.relay_host and \
		    src[1] == self.relay_port

	def bad(self, reason):
		if self.nbad_printed < 20:
			out("bad", reason)
		self.nbad_printed += 1

	def close(self):
		if self.a.hold > 0:
			time.sleep(self.a.hold)
		try:
			self.tcp.close()
		except OSError:
			pass


# ---- target and expected reply source ---------------------------------

def target_info(a):
	th, tp = split_hostport(a.target)
	force = a.atyp == "domain"
	hdr = udp_header(th, tp, force)
	exp = set()
	if a.expect_from:
		for x in a.expect_from:
			h, p = split_hostport(x)
			exp.add((norm(h), p))
	elif literal(th) is not None:
		exp.add((norm(th), tp))
	else:
		try:
			for ai in socket.getaddrinfo(th, tp, 0,
			    socket.SOCK_DGRAM):
				exp.add((norm(ai[4][0]), tp))
		except socket.gaierror as e:
			raise Usage("cannot resolve %s: %s" % (th, e))
	return th, tp, hdr, exp


def check_header(sess, exp, d):
	"""Payload of a reply datagram, or None (reported as bad)."""
	try:
		rsv, frag, atyp, h, p, payload = parse_udp(d)
	except ValueError as e:
		sess.bad("header: %s" % e)
		return None
	if rsv != 0 or frag != 0:
		sess.bad("RSV %04x FRAG %02x" % (rsv, frag))
		return None
	if atyp == 3:
		sess.bad("reply source is a name (%s)" % h)
		return None
	if (norm(h), p) not in exp:
		sess.bad("reply source %s:%d (ATYP %d), expected %s" % (h, p,
		    atyp, " or ".join("%s:%d" % x for x in sorted(exp))))
		return None
	want = 1 if ":" not in norm(h) else 4
	if atyp != want:
		sess.bad("ATYP %d for %s" % (atyp, h))
		return None
	return payload


def exchange(sess, hdr, exp, payloads, tries=None):
	"""Send each payload (dict key -> bytes) from sess.udp until it is
	echoed (intact) or tries run out; returns the set of keys echoed.
	Intact replies that match no pending payload go to sess.stray."""
	a = sess.a
	tries = a.retries + 1 if tries is None else tries
	pending = dict(payloads)
	got = set()
	sent_n = {k: 0 for k in pending}
	due = {k: 0.0 for k in pending}
	while pending and sess.left() > 0:
		now = time.monotonic()
		for k in list(pending):
			if due[k] <= now:
				if sent_n[k] >= tries:
					del pending[k]
					continue
				sess.sendto(sess.udp, hdr + pending[k])
				sent_n[k] += 1
				due[k] = now + min(a.rto * 2 ** (sent_n[k] - 1),
				    4.0)
		if not pending:
			break
		wait = min(due[k] for k in pending) - time.monotonic()
		for s, d, src in sess.poll([sess.udp], max(wait, 0.001)):
			if not sess.from_relay(src):
				sess.bad("datagram from %s:%d, not the relay" %
				    (src[0], src[1]))
				continue
			pl = check_header(sess, exp, d)
			if pl is None:
				continue
			for k, v in list(pending.items()):
				if v == pl:
					got.add(k)
					del pending[k]
					break
			else:
				sess.stray.append(pl)
	return got


# ---- echo ----------------------------------------------------------------

def echo_sizes(a, n, limit):
	lo, hi = a.min, a.max
	edges = [lo, hi, hi - 1, lo + 1, 1, 15, 16, 17, 1472, 1473, 8192,
	    65507 - 10, limit]
	sizes = []
	for e in edges:
		if lo <= e <= hi and e not in sizes:
			sizes.append(e)
	rnd = random.Random("sizes:%s" % a.seed)
	while len(sizes) < n:
		sizes.append(rnd.randint(lo, hi))
	return sizes[:n]


def cmd_echo(sess):
	a = sess.a
	th, tp, hdr, exp = target_info(a)
	if a.min < 0 or a.max < a.min:
		raise Usage("bad --min/--max")
	limit = sess.limit() - len(hdr)
	if a.max > limit:
		raise Usage("--max %d does not fit: the relay hop carries at "
		    "most %d payload bytes with this %d-byte header" %
		    (a.max, limit, len(hdr)))
	n = a.count
	sizes = echo_sizes(a, n, limit)

	def payload(seq):
		sz = sizes[seq]
		d = struct.pack("!QQ", seq, sz) + random.Random(
		    "%s:%d" % (a.seed, seq)).randbytes(max(0, sz - 16))
		return d[:sz]

	outstanding = {}	# seq -> [datagram, tries, due]
	small = {}		# payload -> seq, for sizes < 16
	acked = bytearray(n)
	nxt = 0
	ok = bad = lost = retrans = reordered = dup = 0
	maxseq = -1
	ever_retrans = set()
	while (nxt < n or outstanding) and sess.left() > 0 and \
	    not sess.control_closed:
		now = time.monotonic()
		# Retransmissions first, then new datagrams into the window.
		for seq in list(outstanding):
			o = outstanding[seq]
			if o[2] > now:
				continue
			if o[1] > a.retries:
				del outstanding[seq]
				if sizes[seq] < 16:
					small.pop(o[0][len(hdr):], None)
				lost += 1
				out("lost", seq, sizes[seq])
				continue
			sess.sendto(sess.udp, o[0])
			o[1] += 1
			o[2] = now + min(a.rto * 2 ** (o[1] - 1), 4.0)
			retrans += 1
			ever_retrans.add(seq)
		while nxt < n and len(outstanding) < a.window:
			pl = payload(nxt)
			if sizes[nxt] < 16:
				if pl in small:
					break	# identical to an outstanding one
				small[pl] = nxt
			dg = hdr + pl
			sess.sendto(sess.udp, dg)
			outstanding[nxt] = [dg, 1, time.monotonic() + a.rto]
			nxt += 1
		if not outstanding:
			continue
		wait = min(o[2] for o in outstanding.values()) - \
		    time.monotonic()
		for s, d, src in sess.poll([sess.udp], max(wait, 0.001)):
			if not sess.from_relay(src):
				bad += 1
				sess.bad("datagram from %s:%d, not the relay" %
				    (src[0], src[1]))
				continue
			pl = check_header(sess, exp, d)
			if pl is None:
				bad += 1
				continue
			if len(pl) >= 16:
				seq, sz = struct.unpack("!QQ", pl[:16])
				if seq >= n or sz != len(pl) or \
				    sizes[seq] != sz:
					bad += 1
					sess.bad("payload of %d bytes claims seq "
					    "%d length %d" % (len(pl), seq, sz))
					continue
			else:
				seq = small.get(pl)
				if seq is None:
					# A late duplicate of a small one?
					cands = [i for i in range(n)
					    if sizes[i] == len(pl) and acked[i]
					    and payload(i) == pl]
					if cands:
						dup += 1
					else:
						bad += 1
						sess.bad("unknown %d-byte payload "
						    "%s" % (len(pl), pl.hex()))
					continue
			want = outstanding[seq][0][len(hdr):] \
			    if seq in outstanding else payload(seq)
			if pl != want:
				bad += 1
				diff = next(i for i in range(len(pl))
				    if pl[i] != want[i])
				sess.bad("seq %d (%d bytes) corrupted from byte "
				    "%d" % (seq, len(pl), diff))
				continue
			if acked[seq]:
				dup += 1
				continue
			acked[seq] = 1
			ok += 1
			if seq < maxseq and seq not in ever_retrans:
				reordered += 1
			maxseq = max(maxseq, seq)
			if seq in outstanding:
				del outstanding[seq]
			if len(pl) < 16:
				small.pop(pl, None)
	if sess.left() <= 0:
		out("timeout", "%.1f" % a.timeout)
	lost += len(outstanding) + (n - nxt)
	out("summary", "sent", nxt, "ok", ok, "bad", bad, "lost", lost,
	    "retrans", retrans, "reordered", reordered, "dup", dup,
	    "icmp", sess.icmp, "elapsed", "%.2f" % (time.monotonic() - sess.t0))
	# Retransmission covers a kernel buffer overflowing under load, not
	# a relay that loses datagrams: more than max-retrans fails.
	limit = a.max_retrans if a.max_retrans >= 0 else max(3, n // 50)
	if retrans > limit:
		out("too_many_retrans", retrans, "limit", limit)
		return 1
	return 0 if ok == n and bad == 0 else 1


# ---- malformed -----------------------------------------------------------

def dead_udp_port(host):
	"""A UDP port on host nobody is bound to (host must be local)."""
	fam = socket.AF_INET6 if ":" in host else socket.AF_INET
	s = socket.socket(fam, socket.SOCK_DGRAM)
	try:
		s.bind((host, 0))
		return s.getsockname()[1]
	except OSError:
		return None
	finally:
		s.close()


def cmd_malformed(sess):
	a = sess.a
	th, tp, hdr, exp = target_info(a)
	tag = "%08x" % random.getrandbits(32)
	sess.stray = []

	# 1. The association works, and the relay has seen our source.
	warm = {"warm": ("VALID-warm-%s" % tag).encode()}
	if not exchange(sess, hdr, exp, warm):
		out("summary", "malformed", 0, "echoed_bad", 0, "valid_ok", 0,
		    "valid_sent", 1)
		out("error", "the first valid datagram was not echoed")
		return 1

	# 2. The battery.  Each bad datagram that has room carries a
	# unique marker, so an echo of it can be told apart.
	bad = []
	markers = {}

	def mk(name):
		m = ("BAD-%s-%s" % (name, tag)).encode()
		markers[m] = name
		return m

	v4 = literal(th) if literal(th) is not None and \
	    literal(th).version == 4 else ipaddress.IPv4Address("127.0.0.1")
	v6 = literal(th) if literal(th) is not None and \
	    literal(th).version == 6 else ipaddress.IPv6Address("::1")
	p = struct.pack("!H", tp)
	a1 = b"\x01" + v4.packed + p
	a4 = b"\x04" + v6.packed + p
	body = hdr[3:]		# the valid target, ATYP onwards
	bad.append(("empty", b""))
	for i in (1, 2, 3):
		bad.append(("short%d" % i, b"\x00" * i))
	for r in (b"\x00\x01", b"\x01\x00", b"\xff\xff"):
		nm = "rsv%s" % r.hex()
		bad.append((nm, r + b"\x00" + body + mk(nm)))
	for f in (1, 2, 0x7f, 0x80, 0x81, 0xff):
		nm = "frag%02x" % f
		bad.append((nm, b"\x00\x00" + bytes([f]) + body + mk(nm)))
	for t in (0, 2, 5, 6, 0xff):
		nm = "atyp%d" % t
		bad.append((nm, b"\x00\x00\x00" + bytes([t]) + a1[1:] +
		    mk(nm)))
	for n in range(4, 10):
		bad.append(("atyp1-%dB" % n, (b"\x00\x00\x00" + a1)[:n]))
	for n in range(4, 22):
		bad.append(("atyp4-%dB" % n, (b"\x00\x00\x00" + a4)[:n]))
	nm = b"localhost"
	bad.append(("atyp3-len255", b"\x00\x00\x00\x03\xff" + nm))
	bad.append(("atyp3-len10", b"\x00\x00\x00\x03\x0a" + nm))
	bad.append(("atyp3-noport", b"\x00\x00\x00\x03\x09" + nm))
	bad.append(("atyp3-halfport", b"\x00\x00\x00\x03\x09" + nm +
	    p[:1]))
	bad.append(("atyp3-nolen", b"\x00\x00\x00\x03"))
	bad.append(("atyp3-len0", b"\x00\x00\x00\x03\x00" + p +
	    mk("atyp3-len0")))
	bad.append(("atyp3-nul", b"\x00\x00\x00\x03\x0a" + b"localhost\x00" +
	    p + mk("atyp3-nul")))
	# Valid datagrams that cannot be delivered: the association must
	# survive the far side's errors (EINVAL, ICMP unreachable, no name).
	bad.append(("port0", b"\x00\x00\x00" + a1[:-2] + b"\x00\x00" +
	    mk("port0")))
	dead = dead_udp_port(str(v4))
	if dead:
		bad.append(("deadport", b"\x00\x00\x00" + a1[:-2] +
		    struct.pack("!H", dead) + mk("deadport")))
	bad.append(("noname", udp_header("no-such-host.invalid", tp, True) +
	    mk("noname")))
	big = sess.limit()
	bad.append(("fragmax", (b"\x00\x00\x01" + body + mk("fragmax") +
	    b"x" * big)[:big]))

	if a.only:
		pre = tuple(a.only.split(","))
		bad = [x for x in bad if x[0].startswith(pre)]
	for name, d in bad:
		sess.sendto(sess.udp, d)
		time.sleep(0.002)
	out("malformed-sent", len(bad))

	# 3. Quiet period: nothing may come back.
	echoed = 0
	end = time.monotonic() + a.quiet

	def classify(pl_or_raw):
		for m, name in markers.items():
			if m in pl_or_raw:
				return name
		return None

	while time.monotonic() < end and sess.left() > 0:
		for s, d, src in sess.poll([sess.udp],
		    end - time.monotonic()):
			name = classify(d)
			if name is None and ("VALID-warm-%s" % tag).encode() \
			    in d:
				continue	# late duplicate of the warm-up
			echoed += 1
			out("echoed-bad", name or "unidentified",
			    "from %s:%d" % (src[0], src[1]), len(d),
			    d[:48].hex())

	# 4. The association still works.
	valid = {i: ("VALID-%d-%s-" % (i, tag)).encode() + bytes(
	    random.Random("%s%d" % (tag, i)).randbytes(i * 997 % 3000))
	    for i in range(a.valid)}
	got = exchange(sess, hdr, exp, valid)
	for pl in sess.stray:
		name = classify(pl)
		if name is not None:
			echoed += 1
			out("echoed-bad", name, "(late)", len(pl))
	if sess.control_closed:
		out("error", "the proxy closed the control connection")
	out("summary", "malformed", len(bad), "echoed_bad", echoed,
	    "valid_ok", len(got), "valid_sent", len(valid))
	return 0 if echoed == 0 and len(got) == len(valid) and \
	    not sess.control_closed else 1


# ---- foreign -------------------------------------------------------------

def cmd_foreign(sess):
	a = sess.a
	th, tp, hdr, exp = target_info(a)
	tag = "%08x" % random.getrandbits(32)
	sess.stray = []
	h, _p = sess.udp.getsockname()[:2]
	other = sess.new_udp(sess.udp.family, h)
	op = other.getsockname()[1]
	out("foreign-local", norm(h), op)
	fmark = ("FOREIGN-%s" % tag).encode()
	own_sent = own_ok = 0

	def foreign_burst():
		for _ in range(3):
			sess.sendto(other, hdr + fmark)
			time.sleep(0.05)

	if not a.declare:
		own_sent += 1
		own_ok += len(exchange(sess, hdr, exp,
		    {1: ("OWN-1-%s" % tag).encode()}))
	foreign_burst()
	own = {i: ("OWN-%d-%s" % (i, tag)).encode() for i in (2, 3, 4)}
	own_sent += len(own)
	own_ok += len(exchange(sess, hdr, exp, own))
	# Let anything the foreign socket provoked arrive.
	feched = sum(1 for pl in sess.stray if fmark in pl)
	end = time.monotonic() + a.quiet
	while time.monotonic() < end and sess.left() > 0:
		for s, d, src in sess.poll([sess.udp, other],
		    end - time.monotonic()):
			if fmark in d:
				feched += 1
				out("foreign-echoed", "to",
				    "own" if s is sess.udp else "foreign",
				    "from %s:%d" % (src[0], src[1]))
	out("summary", "foreign_echoed", feched, "own_ok", own_ok,
	    "own_sent", own_sent)
	other.close()
	return 0 if feched == 0 and own_ok == own_sent and \
	    not sess.control_closed else 1


# ---- dns -----------------------------------------------------------------

def dns_query(qid, name, qtype):
	q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
	for lab in name.rstrip(".").split("."):
		q += bytes([len(lab)]) + lab.encode()
	return q + b"\x00" + struct.pack("!HH", qtype, 1)


def skip_name(d, off):
	while True:
		n = d[off]
		if n & 0xC0 == 0xC0:
			return off + 2
		off += 1
		if n == 0:
			return off
		off += n


def dns_parse(d, qid):
	if len(d) < 12:
		raise ValueError("short DNS message")
	rid, flags, qd, an = struct.unpack("!HHHH", d[:8])
	if rid != qid:
		raise ValueError("ID %04x, sent %04x" % (rid, qid))
	if not flags & 0x8000:
		raise ValueError("QR not set")
	off = 12
	for _ in range(qd):
		off = skip_name(d, off) + 4
	answers = []
	for _ in range(an):
		off = skip_name(d, off)
		t, c, ttl, rl = struct.unpack("!HHIH", d[off:off + 10])
		off += 10
		rd = d[off:off + rl]
		off += rl
		if t == 1 and c == 1 and rl == 4:
			answers.append((str(ipaddress.IPv4Address(rd)), ttl))
	return flags & 0xF, answers


def cmd_dns(sess):
	a = sess.a
	th, tp, hdr, exp = target_info(a)
	sess.stray = []
	qid = random.getrandbits(16)
	q = dns_query(qid, a.name, a.qtype)
	resp = None
	tries = 0
	while resp is None and tries <= a.retries and sess.left() > 0:
		sess.sendto(sess.udp, hdr + q)
		tries += 1
		end = time.monotonic() + a.rto * tries
		while resp is None and time.monotonic() < end:
			for s, d, src in sess.poll([sess.udp],
			    end - time.monotonic()):
				if not sess.from_relay(src):
					sess.bad("datagram from %s:%d" % src[:2])
					continue
				pl = check_header(sess, exp, d)
				if pl is None:
					continue
				try:
					resp = dns_parse(pl, qid)
				except (ValueError, IndexError,
				    struct.error) as e:
					sess.bad("DNS reply: %s" % e)
	if resp is None:
		out("summary", "dns", "no-answer")
		return 1
	rcode, answers = resp
	out("dns-rcode", rcode)
	for ip, ttl in answers:
		out("dns-answer", ip, ttl)
	ok = rcode == a.expect_rcode and (a.expect is None or
	    a.expect in [x[0] for x in answers])
	out("summary", "dns", "ok" if ok else "mismatch", "rcode", rcode,
	    "answers", len(answers))
	return 0 if ok else 1


# ---- close-check ---------------------------------------------------------

def udp_ports_bound():
	ports = set()
	for p in lstest.proc_net_rows(("udp", "udp6")):
		if len(p) > 2:
			ports.add(int(p[1].rsplit(":", 1)[1], 16))
	return ports


def far_port(logfile, head):
	try:
		with open(logfile) as f:
			for line in f:
				p = line.split()
				if len(p) >= 5 and p[4] == head:
					return int(p[2])
	except OSError:
		pass
	return None


def cmd_close_check(sess):
	a = sess.a
	th, tp, hdr, exp = target_info(a)
	sess.stray = []
	mark = ("CLOSE-%08x-probe" % random.getrandbits(32)).encode()
	if not exchange(sess, hdr, exp, {1: mark}):
		out("error", "the probe datagram was not echoed")
		return 1
	rport = sess.relay_port
	if rport not in udp_ports_bound():
		out("error", "relay port %d not found in /proc/net/udp*" %
		    rport)
		return 1
	fport = None
	if a.far_log:
		end = time.monotonic() + 3
		while fport is None and time.monotonic() < end:
			fport = far_port(a.far_log, mark[:16].hex())
			if fport is None:
				time.sleep(0.1)
		if fport is None:
			out("error", "probe not found in %s" % a.far_log)
			return 1
		out("far-port", fport)
	sess.tcp.close()
	sess.udp.close()
	t0 = time.monotonic()
	rgone = fgone = None
	while time.monotonic() - t0 < a.gone_timeout:
		b = udp_ports_bound()
		el = time.monotonic() - t0
		if rgone is None and rport not in b:
			rgone = el
		if fport is not None and fgone is None and fport not in b:
			fgone = el
		if rgone is not None and (fport is None or fgone is not None):
			break
		time.sleep(0.05)
	out("relay_gone", 1 if rgone is not None else 0, "after",
	    "%.2f" % (rgone if rgone is not None else a.gone_timeout))
	res = rgone is not None
	summ = ["relay_gone", 1 if rgone is not None else 0]
	if fport is not None:
		out("far_gone", 1 if fgone is not None else 0, "after",
		    "%.2f" % (fgone if fgone is not None else a.gone_timeout))
		res = res and fgone is not None
		summ += ["far_gone", 1 if fgone is not None else 0]
	out("summary", *summ)
	return 0 if res else 1


def cmd_hold(sess):
	return 0


# ---- main ----------------------------------------------------------------

def main():
	common = argparse.ArgumentParser(add_help=False)
	common.add_argument("--proxy", required=True)
	common.add_argument("--user")
	common.add_argument("--password")
	common.add_argument("--assoc-addr", help="DST.ADDR:PORT to request")
	common.add_argument("--declare", action="store_true",
	    help="request the UDP socket's own address and port")
	common.add_argument("--bind-udp", help="local address of the UDP "
	    "socket (default: the control connection's)")
	common.add_argument("--any-src", action="store_true",
	    help="accept replies from any source, not only the relay")
	common.add_argument("--timeout", type=float, default=120.0)
	common.add_argument("--rto", type=float, default=1.0)
	common.add_argument("--retries", type=int, default=3)
	common.add_argument("--hold", type=float, default=0.0)
	common.add_argument("--quiet", type=float, default=1.5,
	    help="seconds to wait for echoes that must not come")
	common.add_argument("--target")
	common.add_argument("--atyp", choices=["auto", "domain"],
	    default="auto")
	common.add_argument("--expect-from", action="append",
	    metavar="HOST:PORT")
	ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
	sub = ap.add_subparsers(dest="cmd", required=True)
	e = sub.add_parser("echo", parents=[common])
	e.add_argument("--count", type=int, default=100)
	e.add_argument("--min", type=int, default=1)
	e.add_argument("--max", type=int, default=1400)
	e.add_argument("--seed", default="udp")
	e.add_argument("--window", type=int, default=8)
	e.add_argument("--max-retrans", type=int, default=-1,
	    help="fail above this many retransmissions (default: 2%% of "
	    "--count, at least 3)")
	m = sub.add_parser("malformed", parents=[common])
	m.add_argument("--valid", type=int, default=5)
	m.add_argument("--only", help="comma-separated name prefixes of "
	    "the bad datagrams to send (debugging)")
	sub.add_parser("foreign", parents=[common])
	d = sub.add_parser("dns", parents=[common])
	d.add_argument("--name", required=True)
	d.add_argument("--expect")
	d.add_argument("--expect-rcode", type=int, default=0)
	d.add_argument("--qtype", type=int, default=1)
	c = sub.add_parser("close-check", parents=[common])
	c.add_argument("--far-log")
	c.add_argument("--gone-timeout", type=float, default=5.0)
	sub.add_parser("hold", parents=[common])
	try:
		a = ap.parse_args()
	except SystemExit as x:
		return 64 if x.code else 0
	if a.cmd != "hold" and not a.target:
		sys.stderr.write("socks5udp: --target required\n")
		return 64
	fn = {"echo": cmd_echo, "malformed": cmd_malformed,
	    "foreign": cmd_foreign, "dns": cmd_dns,
	    "close-check": cmd_close_check, "hold": cmd_hold}[a.cmd]
	sess = Session(a)
	try:
		sess.open()
	except ProxyError as x:
		out("error", str(x).replace("\n", " "))
		return 2
	except Usage as x:
		out("error", "usage: %s" % x)
		return 64
	try:
		rc = fn(sess)
	except Usage as x:
		out("error", "usage: %s" % x)
		return 64
	if a.cmd != "close-check":
		sess.close()
	return rc


if __name__ == "__main__":
	sys.exit(main())
