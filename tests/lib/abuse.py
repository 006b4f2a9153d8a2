#!/usr/bin/env python3
"""Unauthenticated load on a linksocks server, for the abuse_*.sh tests
(stdlib only).  Every connection goes to --host (loopback only), every
loop is bounded in count and in time (--time), and each subcommand
prints "key value" lines.

  fragment --host H --port P --conns N --size BYTES [--time S]
           [--guard-pid PID --guard-kib K] [--ready-file F]
      N connections at once, each upgrading /socket without a token and
      streaming one non-final binary fragment announced as BYTES long,
      again and again until --time runs out: a connection the server
      closes is opened anew.  --guard-pid stops everything as soon as
      that process's VmRSS grew by more than K KiB (so that a server
      without a limit is not driven out of memory).  --ready-file is
      written once the N connections are open.  Prints
          rounds R          fragments started
          closed C          ... that the server ended (close frame/EOF)
          codes 1009:C ...  close codes received, with their count
          sent BYTES        payload bytes the server accepted
          guard yes|no      stopped by --guard-kib

  gzip --host H --port P --conns N --inflate BYTES [--fit BYTES]
       [--parallel K] [--time S]
      N connections (K at a time) each sending, as their first message
      after an upgrade without a token, a TCP Data message whose payload
      is gzip and inflates to BYTES zeros (--fit: the largest multiple of
      64 KiB whose message fits in that many bytes).  Prints "message
      BYTES" (its size), "inflates BYTES", "done N", "authresp N" (an
      AuthResponse(0) came back), "codes ..." and "elapsed S".

  slowloris --host H --port P --conns N [--socks] [--time S]
      N connections opened one after the other, each sending the start
      of a request and no more: a WebSocket request head trickled one
      header line a second, or (--socks) the first byte of a SOCKS5
      greeting.  Held until --time.  Prints "opened N", "closed N" (the
      server ended them), "open N" and "closed_max I" (the largest index,
      from 0 in opening order, of a closed one; -1: none).

  auth --host H --port P --token T [--bind ADDR] [--count N]
       [--parallel K] [--time S] [--mode msg|query|mix] [--window S]
      Up to N authentications (K at a time) from ADDR with token T,
      by Auth message (msg), by URL query (query) or alternating (mix).
      Prints "attempts N", "answers N" (AuthResponse received), "ok N"
      (success), "fail N", "within S" (answers within --window seconds
      of the start, default 5), "elapsed S", "first S" and "max S" (the
      answer time of the first and slowest attempt) and "text T" (the
      first failure text).
"""

import argparse
import base64
import gzip
import hashlib
import os
import select
import socket
import struct
import sys
import threading
import time
import uuid


class Closed(Exception):
	pass


def frame(payload, op=2, fin=True, length=None):
	"""A masked client frame header (+ payload): mask key 0 keeps the
	payload as it is (any key is valid, RFC 6455 5.3)."""
	n = len(payload) if length is None else length
	b0 = (0x80 if fin else 0) | op
	if n < 126:
		h = struct.pack("!BB", b0, 0x80 | n)
	elif n < 65536:
		h = struct.pack("!BBH", b0, 0x80 | 126, n)
	else:
		h = struct.pack("!BBQ", b0, 0x80 | 127, n)
	return h + b"\0\0\0\0" + payload


class Conn:
	def __init__(self, host, port, path, bind=None, timeout=10.0):
		self.s = socket.socket(socket.AF_INET6 if ":" in host else
		    socket.AF_INET, socket.SOCK_STREAM)
		self.s.settimeout(timeout)
		if bind:
			self.s.bind((bind, 0))
		self.s.connect((host, port))
		self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
		self.buf = b""
		key = base64.b64encode(os.urandom(16)).decode()
		req = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
		    "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
		    "Sec-WebSocket-Version: 13\r\n\r\n" % (path, host, port, key))
		self.s.sendall(req.encode())
		while b"\r\n\r\n" not in self.buf:
			self._fill(timeout)
		head, self.buf = self.buf.split(b"\r\n\r\n", 1)
		if not head.startswith(b"HTTP/1.1 101"):
			raise Closed("upgrade refused: %r" % head[:40])

	def _fill(self, timeout):
		self.s.settimeout(max(timeout, 0.001))
		b = self.s.recv(65536)
		if not b:
			raise Closed("eof")
		self.buf += b

	def recv(self, deadline):
		"""(kind, payload): ("msg", bytes), ("close", code) or
		("eof", None); socket.timeout past the deadline."""
		msg = b""
		try:
			while True:
				while len(self.buf) < 2:
					self._fill(deadline - time.monotonic())
				b0, b1 = self.buf[0], self.buf[1]
				n, off = b1 & 0x7f, 2
				if n == 126:
					off = 4
				elif n == 127:
					off = 10
				while len(self.buf) < off:
					self._fill(deadline - time.monotonic())
				if n == 126:
					n = struct.unpack("!H", self.buf[2:4])[0]
				elif n == 127:
					n = struct.unpack("!Q", self.buf[2:10])[0]
				while len(self.buf) < off + n:
					self._fill(deadline - time.monotonic())
				p = self.buf[off:off + n]
				self.buf = self.buf[off + n:]
				op = b0 & 0x0f
				if op == 0x8:
					code = struct.unpack("!H", p[:2])[0] \
					    if len(p) >= 2 else 1005
					return ("close", code)
				if op == 0x9:
					self.s.sendall(frame(p, 0xa))
				elif op in (0x0, 0x1, 0x2):
					msg += p
					if b0 & 0x80:
						return ("msg", msg)
		except (Closed, ConnectionError):
			return ("eof", None)

	def close(self):
		try:
			self.s.close()
		except OSError:
			pass


def out(k, v):
	sys.stdout.write("%s %s\n" % (k, v))
	sys.stdout.flush()


def rss_kib(pid):
	try:
		with open("/proc/%d/status" % pid) as f:
			for line in f:
				if line.startswith("VmRSS:"):
					return int(line.split()[1])
	except OSError:
		pass
	return None


class Tally:
	def __init__(self):
		self.lock = threading.Lock()
		self.v = {}
		self.codes = {}

	def add(self, k, n=1):
		with self.lock:
			self.v[k] = self.v.get(k, 0) + n

	def code(self, c):
		with self.lock:
			self.codes[c] = self.codes.get(c, 0) + 1

	def get(self, k):
		return self.v.get(k, 0)

	def codes_text(self):
		return " ".join("%s:%d" % (c, n) for c, n in
		    sorted(self.codes.items(), key=lambda x: str(x[0]))) or "-"


# ---- fragment ---------------------------------------------------------

class Stream:
	"""One connection streaming its fragment (non-blocking once open)."""

	def __init__(self, a, tally):
		self.c = Conn(a.host, a.port, "/socket", timeout=5.0)
		self.c.s.sendall(frame(b"", fin=False, length=a.size))
		self.c.s.setblocking(False)
		self.left = a.size
		tally.add("rounds")


def cmd_fragment(a):
	"""One thread, select over the connections: a Python thread per
	connection would starve on the GIL and measure the helper."""
	tally = Tally()
	end = time.monotonic() + a.time
	chunk = b"\0" * 65536
	base = rss_kib(a.guard_pid) if a.guard_pid else None
	guard = False
	streams = []

	def fresh():
		try:
			return Stream(a, tally)
		except (OSError, Closed):
			tally.add("refused")
			return None

	for _ in range(a.conns):
		if time.monotonic() >= end:
			break
		streams.append(fresh())
	if a.ready_file:
		with open(a.ready_file, "w") as f:
			f.write("ready\n")
	nextguard = 0
	while time.monotonic() < end:
		now = time.monotonic()
		if base is not None and now >= nextguard:
			nextguard = now + 0.05
			r = rss_kib(a.guard_pid)
			if r is not None and r - base > a.guard_kib:
				guard = True
				break
		for i, st in enumerate(streams):
			if st is None:
				streams[i] = fresh()
		live = [st for st in streams if st is not None]
		rd = [st.c.s for st in live]
		wr = [st.c.s for st in live if st.left > 0]
		try:
			r, w, _ = select.select(rd, wr, [], 0.05)
		except (OSError, ValueError):
			r, w = [], []
		r, w = set(r), set(w)
		for i, st in enumerate(streams):
			if st is None:
				continue
			s = st.c.s
			done = False
			if s in r:
				# The server answered: a close, surely.
				try:
					kind, v = st.c.recv(time.monotonic() + 1)
				except (OSError, socket.timeout):
					kind, v = "eof", None
				if kind == "close":
					tally.code(v)
				done = kind in ("close", "eof")
			elif s in w:
				try:
					s.setblocking(False)
					n = s.send(chunk[:min(st.left, len(chunk))])
					st.left -= n
					tally.add("sent", n)
				except BlockingIOError:
					pass
				except OSError:
					done = True
			if done:
				tally.add("closed")
				st.c.close()
				streams[i] = None
	for st in streams:
		if st is not None:
			st.c.close()
	out("rounds", tally.get("rounds"))
	out("closed", tally.get("closed"))
	out("refused", tally.get("refused"))
	out("codes", tally.codes_text())
	out("sent", tally.get("sent"))
	out("guard", "yes" if guard else "no")
	return 0


# ---- gzip ---------------------------------------------------------------

def data_gzip(inflate):
	z = gzip.compress(b"\0" * inflate, compresslevel=9)
	return b"\x01\x04\x01" + os.urandom(16) + b"\x01" + \
	    struct.pack("!I", len(z)) + z


def cmd_gzip(a):
	inflate = a.inflate
	if a.fit:
		step = 65536
		inflate = step
		while len(data_gzip(inflate + step)) <= a.fit:
			inflate += step
	msg = data_gzip(inflate)
	out("message", len(msg))
	out("inflates", inflate)
	tally = Tally()
	lock = threading.Lock()
	todo = {"n": a.conns}
	end = time.monotonic() + a.time
	t0 = time.monotonic()

	def one():
		c = Conn(a.host, a.port, "/socket", timeout=5.0)
		try:
			c.s.sendall(frame(msg))
			# Whatever the server answers, until it closes.
			while True:
				kind, v = c.recv(end)
				if kind == "msg":
					if v[:3] == b"\x01\x02\x00":
						tally.add("authresp")
					continue
				if kind == "close":
					tally.code(v)
				return
		finally:
			c.close()

	def worker():
		while time.monotonic() < end:
			with lock:
				if todo["n"] == 0:
					return
				todo["n"] -= 1
			try:
				one()
				tally.add("done")
			except (OSError, Closed, socket.timeout):
				tally.add("error")

	ts = [threading.Thread(target=worker, daemon=True)
	    for _ in range(a.parallel)]
	for t in ts:
		t.start()
	for t in ts:
		t.join(max(0.1, end + 5 - time.monotonic()))
	out("done", tally.get("done"))
	out("error", tally.get("error"))
	out("authresp", tally.get("authresp"))
	out("codes", tally.codes_text())
	out("elapsed", "%.2f" % (time.monotonic() - t0))
	return 0


# ---- slowloris ----------------------------------------------------------

def cmd_slowloris(a):
	socks = []
	closed = []
	end = time.monotonic() + a.time
	for i in range(a.conns):
		if time.monotonic() >= end:
			break
		try:
			s = socket.create_connection((a.host, a.port), timeout=2)
			if a.socks:
				s.sendall(b"\x05")
			else:
				s.sendall(("GET /socket HTTP/1.1\r\nHost: %s\r\n" %
				    a.host).encode())
			s.setblocking(False)
			socks.append((i, s))
		except OSError:
			closed.append(i)
	live = dict((s, i) for i, s in socks)
	opened = len(socks)
	tick = time.monotonic() + 1
	while live and time.monotonic() < end:
		r, _, _ = select.select(list(live), [], [], 0.1)
		for s in r:
			try:
				d = s.recv(4096)
			except OSError:
				d = b""
			if not d:
				closed.append(live.pop(s))
				s.close()
		if time.monotonic() >= tick and not a.socks:
			tick += 1
			for s in list(live):
				try:
					s.send(b"X-Slow: 1\r\n")
				except OSError:
					closed.append(live.pop(s))
					s.close()
	out("opened", opened)
	out("closed", len(closed))
	out("open", len(live))
	out("closed_max", max(closed) if closed else -1)
	for s in live:
		s.close()
	return 0


# ---- auth ---------------------------------------------------------------

def auth_msg(token):
	t = token.encode()
	return b"\x01\x01" + bytes([len(t)]) + t + b"\x00" + os.urandom(16)


def cmd_auth(a):
	tally = Tally()
	lock = threading.Lock()
	state = {"n": 0, "first": None, "max": 0.0, "text": None}
	t0 = time.monotonic()
	end = t0 + a.time
	hexd = hashlib.sha256(a.token.encode()).hexdigest()

	def attempt(i):
		mode = a.mode if a.mode != "mix" else ("msg", "query")[i % 2]
		if mode == "query":
			path = "/socket?instance=%s&reverse=false&token=%s" % (
			    uuid.uuid4(), hexd)
		else:
			path = "/socket"
		s0 = time.monotonic()
		c = Conn(a.host, a.port, path, bind=a.bind,
		    timeout=max(0.1, end - s0))
		try:
			if mode == "msg":
				c.s.sendall(frame(auth_msg(a.token)))
			kind, v = c.recv(end)
		finally:
			c.close()
		el = time.monotonic() - s0
		if kind != "msg" or len(v) < 3 or v[:2] != b"\x01\x02":
			tally.add("noanswer")
			return
		tally.add("answers")
		if time.monotonic() - t0 <= a.window:
			tally.add("within")
		with lock:
			if state["first"] is None:
				state["first"] = el
			state["max"] = max(state["max"], el)
		if v[2] == 1:
			tally.add("ok")
		else:
			tally.add("fail")
			if state["text"] is None and len(v) > 3:
				state["text"] = v[4:4 + v[3]].decode("latin-1")

	def worker():
		while time.monotonic() < end:
			with lock:
				if state["n"] >= a.count:
					return
				i = state["n"]
				state["n"] += 1
			tally.add("attempts")
			try:
				attempt(i)
			except (OSError, Closed, socket.timeout):
				tally.add("error")

	ts = [threading.Thread(target=worker, daemon=True)
	    for _ in range(a.parallel)]
	for t in ts:
		t.start()
	for t in ts:
		t.join(max(0.1, end + 2 - time.monotonic()))
	out("attempts", tally.get("attempts"))
	out("answers", tally.get("answers"))
	out("ok", tally.get("ok"))
	out("fail", tally.get("fail"))
	out("noanswer", tally.get("noanswer") + tally.get("error"))
	out("within", tally.get("within"))
	out("elapsed", "%.2f" % (time.monotonic() - t0))
	out("first", "%.3f" % state["first"] if state["first"] is not None
	    else "-")
	out("max", "%.3f" % state["max"])
	out("text", state["text"] or "-")
	return 0


def main():
	ap = argparse.ArgumentParser()
	sub = ap.add_subparsers(dest="cmd", required=True)
	for name in ("fragment", "gzip", "slowloris", "auth"):
		p = sub.add_parser(name)
		p.add_argument("--host", default="127.0.0.1")
		p.add_argument("--port", type=int, required=True)
		p.add_argument("--time", type=float, default=20.0)
	p = sub.choices["fragment"]
	p.add_argument("--conns", type=int, default=200)
	p.add_argument("--size", type=int, default=31 * 1024 * 1024)
	p.add_argument("--guard-pid", type=int, default=0)
	p.add_argument("--guard-kib", type=int, default=1 << 20)
	p.add_argument("--ready-file")
	p = sub.choices["gzip"]
	p.add_argument("--conns", type=int, default=100)
	p.add_argument("--inflate", type=int, default=64 * 1024 * 1024)
	p.add_argument("--fit", type=int, default=0)
	p.add_argument("--parallel", type=int, default=10)
	p = sub.choices["slowloris"]
	p.add_argument("--conns", type=int, default=300)
	p.add_argument("--socks", action="store_true")
	p = sub.choices["auth"]
	p.add_argument("--token", required=True)
	p.add_argument("--bind")
	p.add_argument("--count", type=int, default=1)
	p.add_argument("--parallel", type=int, default=1)
	p.add_argument("--mode", choices=("msg", "query", "mix"), default="msg")
	p.add_argument("--window", type=float, default=5.0)
	a = ap.parse_args()
	if a.host not in ("127.0.0.1", "::1") and \
	    not a.host.startswith("127."):
		sys.stderr.write("abuse.py: loopback destinations only\n")
		return 2
	a.time = min(a.time, 120.0)
	return {"fragment": cmd_fragment, "gzip": cmd_gzip,
	    "slowloris": cmd_slowloris, "auth": cmd_auth}[a.cmd](a)


if __name__ == "__main__":
	sys.exit(main())
