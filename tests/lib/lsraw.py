#!/usr/bin/env python3
"""Raw linksocks peer for protocol regression tests (stdlib only).

As a module: Peer(host, port, token, reverse=False, features=None) opens
ws://HOST:PORT/socket?... with URL-query authentication (spec 6.2),
optionally sending "X-Linksocks-Features: <features>", and checks the
AuthResponse.  peer.send(msg) sends one message (masked, as a client
must); several messages may go in one write with peer.send_many();
peer.recv(timeout) returns the next data message (pings are answered),
or None at close.  The helpers build and parse the messages of spec 4.

As a script, one scenario per subcommand, printing "key value" lines:

  halfclose-during-dial --host H --port P --token T --target-port N
      Connect and Disconnect for one channel in a single write, so the
      Disconnect (our half-close) reaches the server while it is still
      dialling; the target reads to EOF and answers "bye".  Prints
      "response 1", "data bye", "disconnect 1" when the server kept the
      half-close and delivered the answer.

  bigframes --host H --port P --token CONNECTOR-TOKEN --target-port N
      As a connector that speaks half-close but not credit (like a
      protocol-0x01 peer in this respect), sends one plain Data message
      of --plain bytes and one gzip-compressed Data message of --gzip
      bytes (as the reference does from 512 KiB), then a half-close;
      the target answers the sha256 of what it read.  Prints
      "sent HEX" and "answer HEX".
"""

import argparse
import base64
import hashlib
import os
import socket
import struct
import sys
import threading
import time
import uuid

from lstest import Closed, read_to_eof, ws_frame

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Peer:
	def __init__(self, host, port, token, reverse=False, features=None,
	    timeout=10.0):
		self.s = socket.create_connection((host, port), timeout=timeout)
		self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
		self.buf = b""
		key = base64.b64encode(os.urandom(16)).decode()
		tok = hashlib.sha256(token.encode()).hexdigest()
		path = "/socket?instance=%s&reverse=%s&token=%s" % (
		    uuid.uuid4(), "true" if reverse else "false", tok)
		req = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
		    "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
		    "Sec-WebSocket-Version: 13\r\n" % (path, host, port, key))
		if features is not None:
			req += "X-Linksocks-Features: %s\r\n" % features
		self.s.sendall((req + "\r\n").encode())
		while b"\r\n\r\n" not in self.buf:
			self._fill(timeout)
		head, self.buf = self.buf.split(b"\r\n\r\n", 1)
		self.head = head.decode("latin-1")
		if not self.head.startswith("HTTP/1.1 101"):
			raise Closed("upgrade refused: " + self.head.splitlines()[0])
		auth = self.recv(timeout)
		if auth != b"\x01\x02\x01":
			raise Closed("auth failed: %r" % auth)

	def _fill(self, timeout):
		self.s.settimeout(timeout)
		b = self.s.recv(1 << 20)
		if not b:
			raise Closed("eof")
		self.buf += b

	def _need(self, n, timeout):
		while len(self.buf) < n:
			self._fill(timeout)

	def send(self, payload, op=2):
		self.s.sendall(ws_frame(payload, op))

	def send_many(self, payloads):
		self.s.sendall(b"".join(ws_frame(p) for p in payloads))

	def recv(self, timeout=10.0):
		"""Next data message; None once the server closed."""
		msg = b""
		try:
			while True:
				self._need(2, timeout)
				b0, b1 = self.buf[0], self.buf[1]
				n, off = b1 & 0x7f, 2
				if n == 126:
					self._need(4, timeout)
					n, off = struct.unpack("!H", self.buf[2:4])[0], 4
				elif n == 127:
					self._need(10, timeout)
					n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
				self._need(off + n, timeout)
				p, self.buf = self.buf[off:off + n], self.buf[off + n:]
				op = b0 & 0x0f
				if op == 0x9:
					self.send(p, 0xa)
				elif op == 0x8:
					return None
				elif op in (0x0, 0x1, 0x2):
					msg += p
					if b0 & 0x80:
						return msg
		except Closed:
			return None


def connect_msg(ch, host, port):
	h = host.encode()
	return b"\x01\x03\x01" + ch + bytes([len(h)]) + h + struct.pack("!H", port)


def data_msg(ch, payload):
	return b"\x01\x04\x01" + ch + b"\x00" + struct.pack("!I", len(payload)) + \
	    payload


def disconnect_msg(ch):
	return b"\x01\x06" + ch


def halfclose_during_dial(a):
	ls = socket.socket()
	ls.bind(("127.0.0.1", a.target_port))
	ls.listen(1)
	state = {}

	def target():
		c, _ = ls.accept()
		state["read"] = read_to_eof(c)
		c.sendall(b"bye")
		c.close()

	th = threading.Thread(target=target, daemon=True)
	th.start()
	p = Peer(a.host, a.port, a.token, features="halfclose")
	ch = os.urandom(16)
	p.send_many([connect_msg(ch, "127.0.0.1", a.target_port),
	    disconnect_msg(ch)])
	deadline = time.monotonic() + a.timeout
	data = b""
	while time.monotonic() < deadline:
		m = p.recv(max(0.1, deadline - time.monotonic()))
		if m is None:
			print("closed 1")
			break
		if m[1] == 0x05 and m[3:19] == ch:
			print("response %d" % m[2])
		elif m[1] == 0x04 and m[3:19] == ch:
			data += m[24:]
		elif m[1] == 0x06 and m[2:18] == ch:
			print("data %s" % data.decode("latin-1"))
			print("disconnect 1")
			break
	th.join(1)
	print("target_read %d" % len(state.get("read", b"")))
	return 0


def bigframes(a):
	import gzip
	ls = socket.socket()
	ls.bind(("127.0.0.1", a.target_port))
	ls.listen(1)

	def target():
		c, _ = ls.accept()
		h = hashlib.sha256(read_to_eof(c, 1 << 20))
		c.sendall(h.hexdigest().encode())
		c.close()

	th = threading.Thread(target=target, daemon=True)
	th.start()
	p = Peer(a.host, a.port, a.token, features="halfclose")
	ch = os.urandom(16)
	plain = os.urandom(a.plain)
	raw = os.urandom(a.gzip)
	comp = gzip.compress(raw)
	gz = b"\x01\x04\x01" + ch + b"\x01" + struct.pack("!I", len(comp)) + comp
	print("sent %s" % hashlib.sha256(plain + raw).hexdigest(), flush=True)
	p.send_many([connect_msg(ch, "127.0.0.1", a.target_port),
	    data_msg(ch, plain), gz, disconnect_msg(ch)])
	deadline = time.monotonic() + a.timeout
	data = b""
	while time.monotonic() < deadline:
		m = p.recv(max(0.1, deadline - time.monotonic()))
		if m is None:
			break
		if m[1] == 0x04 and m[3:19] == ch:
			data += m[24:]
		elif m[1] == 0x06 and m[2:18] == ch:
			break
	print("answer %s" % data.decode("latin-1"), flush=True)
	return 0


def main():
	ap = argparse.ArgumentParser()
	sub = ap.add_subparsers(dest="cmd", required=True)
	h = sub.add_parser("halfclose-during-dial")
	h.add_argument("--host", default="127.0.0.1")
	h.add_argument("--port", type=int, required=True)
	h.add_argument("--token", required=True)
	h.add_argument("--target-port", type=int, default=0)
	h.add_argument("--timeout", type=float, default=10.0)
	b = sub.add_parser("bigframes")
	b.add_argument("--host", default="127.0.0.1")
	b.add_argument("--port", type=int, required=True)
	b.add_argument("--token", required=True)
	b.add_argument("--target-port", type=int, default=0)
	b.add_argument("--plain", type=int, default=1 << 20)
	b.add_argument("--gzip", type=int, default=600 * 1024)
	b.add_argument("--timeout", type=float, default=30.0)
	a = ap.parse_args()
	if a.cmd in ("halfclose-during-dial", "bigframes") and \
	    a.target_port == 0:
		s = socket.socket()
		s.bind(("127.0.0.1", 0))
		a.target_port = s.getsockname()[1]
		s.close()
	if a.cmd == "bigframes":
		return bigframes(a)
	if a.cmd == "halfclose-during-dial":
		return halfclose_during_dial(a)
	return 64


if __name__ == "__main__":
	sys.exit(main())
