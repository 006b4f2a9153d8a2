#!/usr/bin/env python3
"""Minimal raw linksocks WebSocket client for protocol tests (stdlib only).

  lsws.py --host HOST --port PORT --token TOKEN [--reverse]
          [--connector add:TOK|remove:TOK]... [--timeout S]

Opens ws://HOST:PORT/socket?instance=<uuid>&reverse=true|false&token=
<sha256hex(TOKEN)> (URL-query authentication, spec 6.2), reads the
AuthResponse, then sends each Connector request (spec 4.7) in order and
waits for the ConnectorResponse with the same request id (spec 4.8),
skipping any other message and answering pings.  Prints "key value"
lines, bytes in lower-case hex:

  http 101                    status of the upgrade response
  accept ok|bad               Sec-WebSocket-Accept check
  auth 010201                 the AuthResponse message as received
  cN.hex 0108...              the N-th ConnectorResponse (N from 1)
  cN.id same|other            its ChannelID against the request's
  cN.success 0|1
  cN.wellformed yes|no        length byte matches the remaining bytes
  cN.text TEXT                error text (failure) or token (success)
  cN.none                     no response within the timeout
  closed HOW                  the server closed the connection

Exit status 0 when the exchange ran, 2 when the server was unreachable.
"""

import argparse
import base64
import hashlib
import os
import socket
import struct
import sys
import time
import uuid

import lstest
from lstest import Closed

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def out(k, v):
	sys.stdout.write("%s %s\n" % (k, v))
	sys.stdout.flush()


class WS(lstest.Buffered):
	def read(self, n):
		while len(self.buf) < n:
			self._fill()
		d, self.buf = self.buf[:n], self.buf[n:]
		return d

	def read_head(self):
		while b"\r\n\r\n" not in self.buf:
			self._fill()
		h, _, self.buf = self.buf.partition(b"\r\n\r\n")
		return h

	def send_frame(self, opcode, payload):
		self.s.sendall(lstest.ws_frame(payload, opcode))

	def read_message(self):
		"""One complete data message (bytes); control frames handled."""
		msg = b""
		while True:
			b0, b1 = self.read(2)
			op = b0 & 0x0f
			n = b1 & 0x7f
			if n == 126:
				n = struct.unpack(">H", self.read(2))[0]
			elif n == 127:
				n = struct.unpack(">Q", self.read(8))[0]
			mask = self.read(4) if b1 & 0x80 else None
			p = self.read(n)
			if mask:
				p = bytes(b ^ mask[i & 3] for i, b in enumerate(p))
			if op == 0x8:
				raise Closed("close-frame")
			if op == 0x9:
				self.send_frame(0xA, p)
				continue
			if op == 0xA:
				continue
			msg += p
			if b0 & 0x80:
				return msg


def main():
	ap = argparse.ArgumentParser()
	ap.add_argument("--host", required=True)
	ap.add_argument("--port", type=int, required=True)
	ap.add_argument("--token", required=True)
	ap.add_argument("--reverse", action="store_true")
	ap.add_argument("--connector", action="append", default=[])
	ap.add_argument("--timeout", type=float, default=10.0)
	a = ap.parse_args()

	try:
		s = socket.create_connection((a.host, a.port), timeout=a.timeout)
	except OSError as e:
		out("connect-error", str(e).replace(" ", "_"))
		return 2
	ws = WS(s, time.monotonic() + a.timeout)
	key = base64.b64encode(os.urandom(16))
	tok = hashlib.sha256(a.token.encode()).hexdigest()
	host = "[%s]" % a.host if ":" in a.host else a.host
	req = ("GET /socket?instance=%s&reverse=%s&token=%s HTTP/1.1\r\n"
	    "Host: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
	    "User-Agent: lstest-lsws\r\n\r\n" % (uuid.uuid4(),
	    "true" if a.reverse else "false", tok, host, a.port,
	    key.decode())).encode()
	s.sendall(req)
	try:
		head = ws.read_head().decode(errors="replace").split("\r\n")
	except (Closed, socket.timeout, ConnectionError) as e:
		out("http", "none")
		out("closed", str(e) or "timeout")
		return 0
	st = head[0].split(" ")
	out("http", st[1] if len(st) > 1 else "none")
	want = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
	acc = None
	for l in head[1:]:
		k, _, v = l.partition(":")
		if k.strip().lower() == "sec-websocket-accept":
			acc = v.strip()
	out("accept", "ok" if acc == want else "bad")
	if len(st) < 2 or st[1] != "101":
		return 0
	try:
		m = ws.read_message()
	except (Closed, socket.timeout, ConnectionError) as e:
		out("auth", "none")
		out("closed", str(e) or "timeout")
		return 0
	out("auth", m.hex())
	if m[:3] != b"\x01\x02\x01":
		return 0

	for i, spec in enumerate(a.connector, 1):
		op, _, ctok = spec.partition(":")
		opb = {"add": 1, "remove": 2}[op]
		rid = os.urandom(16)
		tb = ctok.encode()
		ws.send_frame(0x2, b"\x01\x07" + rid + bytes([len(tb)]) + tb +
		    bytes([opb]))
		ws.deadline = time.monotonic() + a.timeout
		got = None
		try:
			while got is None:
				m = ws.read_message()
				if len(m) >= 2 and m[1] == 0x08:
					got = m
		except socket.timeout:
			out("c%d.none" % i, "timeout")
			continue
		except (Closed, ConnectionError) as e:
			out("c%d.none" % i, "closed")
			out("closed", str(e))
			return 0
		out("c%d.hex" % i, got.hex())
		out("c%d.id" % i, "same" if got[2:18] == rid else "other")
		if len(got) < 19:
			out("c%d.wellformed" % i, "no")
			continue
		out("c%d.success" % i, got[18])
		if len(got) == 19:
			out("c%d.wellformed" % i, "yes")
			out("c%d.text" % i, "")
			continue
		n = got[19]
		out("c%d.wellformed" % i, "yes" if len(got) == 20 + n else "no")
		out("c%d.text" % i, got[20:20 + n].decode(errors="replace"))
	try:
		ws.send_frame(0x8, struct.pack(">H", 1000))
	except OSError:
		pass
	s.close()
	return 0


if __name__ == "__main__":
	sys.exit(main())
