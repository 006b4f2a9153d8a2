#!/usr/bin/env python3
"""A fake linksocks server that checks when a connector's data comes.

  fakeserver.py --port-file F [--delay S] [--reply-data TEXT] [--watch S]

Listens on 127.0.0.1:0 (port written to F), accepts one WebSocket
client, answers the URL-query authentication with AuthResponse(1)
without offering any extension (as the reference does), and then, for
the first Connect(tcp) it receives: waits --delay seconds, notes
whether any Data for that channel arrived in the meantime, answers
ConnectResponse(1), reads the Data that follows, answers it with one
Data message (--reply-data) and a Disconnect.  It prints
"early_data N" (bytes of Data before the ConnectResponse), "data TEXT"
(what came after) and exits.  The reference relays a connector's
channel in a background task and drops Data that precedes it (spec
P-6); a connector that talks to such a server must hold its data.

With --watch S it then keeps reading for S seconds and prints
"disconnect_back N": how many Disconnect messages came for the channel
after its own.  The reference closes a channel on the Disconnect it
sends or receives and queues every Disconnect it receives for a cleanup
that sleeps 5 s (spec 7.4, P-3), so a peer must not echo one back.
"""
import argparse
import base64
import hashlib
import select
import socket
import struct
import sys
import time

import lstest

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Conn:
	def __init__(self, s):
		self.s = s
		self.buf = b""

	def fill(self, timeout):
		r, _, _ = select.select([self.s], [], [], timeout)
		if not r:
			return False
		b = self.s.recv(1 << 20)
		if not b:
			raise EOFError()
		self.buf += b
		return True

	def frame(self):
		"""One complete message from buf, or None."""
		b = self.buf
		if len(b) < 2:
			return None
		n, off = b[1] & 0x7f, 2
		if n == 126:
			if len(b) < 4:
				return None
			n, off = struct.unpack("!H", b[2:4])[0], 4
		elif n == 127:
			if len(b) < 10:
				return None
			n, off = struct.unpack("!Q", b[2:10])[0], 10
		masked = b[1] & 0x80
		mask = b[off:off + 4] if masked else b"\0\0\0\0"
		if masked:
			off += 4
		if len(b) < off + n:
			return None
		p = bytes(c ^ mask[i & 3] for i, c in enumerate(b[off:off + n]))
		self.buf = b[off + n:]
		op = b[0] & 0x0f
		if op == 0x9:
			self.send(p, 0xa)
			return b""
		if op in (0x8, 0xa):
			return b""
		return p

	def send(self, p, op=2):
		n = len(p)
		if n < 126:
			h = struct.pack("!BB", 0x80 | op, n)
		elif n < 65536:
			h = struct.pack("!BBH", 0x80 | op, 126, n)
		else:
			h = struct.pack("!BBQ", 0x80 | op, 127, n)
		self.s.sendall(h + p)


def main():
	ap = argparse.ArgumentParser()
	ap.add_argument("--port-file", required=True)
	ap.add_argument("--delay", type=float, default=0.5)
	ap.add_argument("--reply-data", default="bye")
	ap.add_argument("--timeout", type=float, default=30)
	ap.add_argument("--watch", type=float, default=0)
	a = ap.parse_args()
	ls = socket.socket()
	ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	ls.bind(("127.0.0.1", 0))
	ls.listen(4)
	lstest.write_port_file(a.port_file, ls.getsockname()[1])
	deadline = time.monotonic() + a.timeout
	s, _ = ls.accept()
	c = Conn(s)
	while b"\r\n\r\n" not in c.buf:
		c.fill(deadline - time.monotonic())
	head, c.buf = c.buf.split(b"\r\n\r\n", 1)
	key = [l.split(b":", 1)[1].strip() for l in head.split(b"\r\n")
	    if l.lower().startswith(b"sec-websocket-key:")][0]
	acc = base64.b64encode(hashlib.sha1(key + GUID).digest())
	s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + acc + b"\r\n\r\n")
	c.send(b"\x01\x02\x01")
	ch = None
	early = 0
	after = b""
	t_connect = None
	answered = False
	while time.monotonic() < deadline:
		m = c.frame()
		if m is None:
			if ch is not None and not answered and \
			    time.monotonic() >= t_connect + a.delay:
				print("early_data %d" % early, flush=True)
				c.send(b"\x01\x05\x01" + ch)
				answered = True
				continue
			c.fill(0.05)
			continue
		if len(m) < 2:
			continue
		if m[1] == 0x03 and m[2] == 0x01 and ch is None:
			ch = m[3:19]
			t_connect = time.monotonic()
		elif m[1] == 0x04 and ch is not None and m[3:19] == ch:
			if answered:
				after += m[24:]
				if after:
					r = a.reply_data.encode()
					c.send(b"\x01\x04\x01" + ch + b"\x00" +
					    struct.pack("!I", len(r)) + r)
					c.send(b"\x01\x06" + ch)
					break
			else:
				early += len(m) - 24
	print("data %s" % after.decode("latin-1"), flush=True)
	if a.watch > 0:
		back = 0
		end = time.monotonic() + a.watch
		try:
			while time.monotonic() < end:
				m = c.frame()
				if m is None:
					c.fill(min(0.05, max(0, end - time.monotonic())))
					continue
				if len(m) >= 18 and m[1] == 0x06 and m[2:18] == ch:
					back += 1
		except EOFError:
			pass
		print("disconnect_back %d" % back, flush=True)
	time.sleep(0.5)
	s.close()
	return 0


if __name__ == "__main__":
	sys.exit(main())
