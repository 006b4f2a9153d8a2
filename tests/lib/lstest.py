"""Shared pieces of the Python helpers in tests/lib (stdlib only).

The helpers run as scripts from tests/lib, so "import lstest" finds this
file next to them.  Nothing here prints or exits; callers decide what a
failure means for them.

  hostport(s)             "HOST:PORT" or "[V6]:PORT" -> (host, port)
  literal(h)              ipaddress object of an IP literal, else None
  plain_host(h)           address text, IPv4-mapped IPv6 shown as IPv4
  big_buffers(s, size)    ask for large socket buffers
  write_port_file(p, n)   write "n\\n" to p atomically (tmp + rename)
  proc_net_rows(names)    the rows of /proc/net/tcp and the like, split
  read_exact(s, n)        n bytes, fewer only at EOF
  read_to_eof(s)          everything until EOF
  wait_eof(s, secs)       how long until EOF or a reset, and bytes before
  socks5_addr(h, p)       SOCKS5 address: ATYP, address, port
  socks5_read_reply(read) a SOCKS5 reply, as long as its ATYP says
  socks5_connect(s, ...)  greeting 05 01 00 and CONNECT on a socket
  Buffered(sock, dl)      buffered reads, all bounded by one deadline
  ws_frame(payload, op)   a masked (client) WebSocket frame
"""

import ipaddress
import os
import socket
import struct
import time

BUF = 4 * 1024 * 1024


class Closed(EOFError):
	"""The peer closed (str: how)."""


class SocksError(OSError):
	"""A SOCKS5 step failed: step is "method" or "reply", got the bytes
	read (short when the proxy closed)."""

	def __init__(self, step, got):
		OSError.__init__(self, "SOCKS5 %s %s" % (step, got.hex() or
		    "none"))
		self.step = step
		self.got = got


def hostport(s):
	if s.startswith("["):
		h, _, p = s[1:].partition("]:")
	else:
		h, _, p = s.rpartition(":")
	if not h or not p:
		raise ValueError("bad HOST:PORT '%s'" % s)
	return h, int(p)


def literal(h):
	try:
		return ipaddress.ip_address(h.split("%", 1)[0])
	except ValueError:
		return None


def plain_host(h):
	a = literal(h)
	if a is None:
		return h
	if a.version == 6 and a.ipv4_mapped is not None:
		return str(a.ipv4_mapped)
	return str(a)


def big_buffers(s, size=BUF):
	"""Ask for SIZE-byte buffers; SO_*BUFFORCE first (works as root)."""
	for force, plain in ((getattr(socket, "SO_RCVBUFFORCE", None),
	    socket.SO_RCVBUF), (getattr(socket, "SO_SNDBUFFORCE", None),
	    socket.SO_SNDBUF)):
		try:
			if force is None:
				raise OSError()
			s.setsockopt(socket.SOL_SOCKET, force, size)
		except OSError:
			try:
				s.setsockopt(socket.SOL_SOCKET, plain, size)
			except OSError:
				pass


def write_port_file(path, port):
	"""The port and a newline, in place at once (common.sh waits for a
	non-empty file)."""
	tmp = path + ".tmp"
	with open(tmp, "w") as f:
		f.write("%d\n" % port)
	os.rename(tmp, path)


def proc_net_rows(names):
	"""Split rows of /proc/net/<name> for each name, header skipped."""
	for name in names:
		try:
			f = open("/proc/net/" + name)
		except OSError:
			continue
		with f:
			next(f, None)
			for line in f:
				yield line.split()


def read_exact(s, n):
	"""n bytes from socket s; fewer only when the peer closed."""
	d = b""
	while len(d) < n:
		b = s.recv(min(65536, n - len(d)))
		if not b:
			break
		d += b
	return d


def read_to_eof(s, size=65536):
	d = b""
	while True:
		b = s.recv(size)
		if not b:
			return d
		d += b


def wait_eof(s, secs):
	"""(seconds until s reads EOF or a reset, bytes read before it), or
	(None, bytes) when neither came within secs."""
	t0 = time.monotonic()
	end = t0 + secs
	n = 0
	try:
		while True:
			left = end - time.monotonic()
			if left <= 0:
				return None, n
			s.settimeout(left)
			b = s.recv(65536)
			if not b:
				break
			n += len(b)
	except socket.timeout:
		return None, n
	except OSError:
		pass
	return time.monotonic() - t0, n


def socks5_addr(host, port, force_domain=False):
	"""ATYP, address and port: IPv4/IPv6 literals as ATYP 1/4, names (and
	everything with force_domain) as ATYP 3."""
	a = None if force_domain else literal(host)
	if a is None:
		hb = host.encode()
		if len(hb) > 255:
			raise ValueError("name too long")
		return bytes([3, len(hb)]) + hb + port.to_bytes(2, "big")
	return bytes([1 if a.version == 4 else 4]) + a.packed + \
	    port.to_bytes(2, "big")


def socks5_read_reply(read):
	"""A reply read with read(n): its 4-byte head, then as many address
	bytes as ATYP says.  Shorter only when read(n) returned short."""
	r = read(4)
	if len(r) == 4:
		if r[3] == 1:
			r += read(6)
		elif r[3] == 4:
			r += read(18)
		elif r[3] == 3:
			ln = read(1)
			r += ln
			if ln:
				r += read(ln[0] + 2)
	return r


def socks5_connect(s, host, port, data=b"", pipeline=False,
    force_domain=False):
	"""On the connected socket s: greeting 05 01 00 (no authentication),
	CONNECT to host:port, then data.  With pipeline, all of it in one
	write before any reply is read.  Returns the reply; raises SocksError
	unless the method reply is 05 00 and the reply's REP is 0."""
	req = b"\x05\x01\x00" + socks5_addr(host, port, force_domain)
	if pipeline:
		s.sendall(b"\x05\x01\x00" + req + data)
	else:
		s.sendall(b"\x05\x01\x00")
	m = read_exact(s, 2)
	if m != b"\x05\x00":
		raise SocksError("method", m)
	if not pipeline:
		s.sendall(req)
	r = socks5_read_reply(lambda n: read_exact(s, n))
	if len(r) < 5 or r[1] != 0 or len(r) < {1: 10, 3: 7 + r[4],
	    4: 22}.get(r[3], len(r) + 1):
		raise SocksError("reply", r)
	if not pipeline and data:
		s.sendall(data)
	return r


class Buffered:
	"""A socket read through a buffer; every read ends by the deadline
	(time.monotonic()) with socket.timeout, or with Closed("eof")."""

	def __init__(self, sock, deadline):
		self.s = sock
		self.deadline = deadline
		self.buf = b""

	def _fill(self):
		left = self.deadline - time.monotonic()
		if left <= 0:
			raise socket.timeout()
		self.s.settimeout(left)
		d = self.s.recv(65536)
		if not d:
			raise Closed("eof")
		self.buf += d


def ws_frame(payload, op=2):
	"""One final frame with a random mask, as a client sends it."""
	mask = os.urandom(4)
	n = len(payload)
	if n < 126:
		h = struct.pack("!BB", 0x80 | op, 0x80 | n)
	elif n < 65536:
		h = struct.pack("!BBH", 0x80 | op, 0x80 | 126, n)
	else:
		h = struct.pack("!BBQ", 0x80 | op, 0x80 | 127, n)
	return h + mask + bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
