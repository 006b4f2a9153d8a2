#!/usr/bin/env python3
"""Close propagation through a SOCKS5 proxy (stdlib only).

  eofwait.py --proxy HOST:PORT --closer app|target [--bytes N]
             [--pipeline] [--wait S]

Runs a target on 127.0.0.1:0, CONNECTs to it through the proxy, moves
N bytes (default 100000) app -> target and N bytes target -> app, checks
both arrived intact, then the closer closes its socket completely and
the other end measures how long until it sees EOF (or a reset).  With
--pipeline the app sends greeting, CONNECT and its N bytes in one write
before reading any reply (fast open).  Prints "ok <seconds>" or
"FAIL <why>"; exit 0/1.
"""

import argparse
import hashlib
import socket
import sys
import threading

import lstest
from lstest import read_exact, wait_eof


def pattern(n, k):
	blk = hashlib.sha256(b"eofwait-%d" % k).digest() * 64
	return (blk * (n // len(blk) + 1))[:n]


def main():
	ap = argparse.ArgumentParser()
	ap.add_argument("--proxy", required=True)
	ap.add_argument("--closer", choices=["app", "target"], required=True)
	ap.add_argument("--bytes", type=int, default=100000)
	ap.add_argument("--pipeline", action="store_true")
	ap.add_argument("--wait", type=float, default=10.0)
	a = ap.parse_args()

	ls = socket.socket()
	ls.bind(("127.0.0.1", 0))
	ls.listen(4)
	ls.settimeout(20)
	tport = ls.getsockname()[1]
	up = pattern(a.bytes, 1)
	down = pattern(a.bytes, 2)
	st = {}

	def target():
		try:
			c, _ = ls.accept()
		except OSError as e:
			st["err"] = "target accept: %s" % e
			return
		c.settimeout(20)
		st["conn"] = c
		got = read_exact(c, len(up))
		if got != up:
			st["err"] = "target got %d of %d bytes or wrong data" % (
			    len(got), len(up))
			return
		c.sendall(down)
		st["ready"] = True

	th = threading.Thread(target=target, daemon=True)
	th.start()

	s = socket.create_connection(lstest.hostport(a.proxy), timeout=20)
	s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
	try:
		r = lstest.socks5_connect(s, "127.0.0.1", tport, up, a.pipeline)
	except lstest.SocksError as e:
		print("FAIL %s" % e)
		return 1
	if r != bytes.fromhex("05000001000000000000"):
		print("FAIL connect reply %s" % r.hex())
		return 1
	got = read_exact(s, len(down))
	th.join(25)
	if "err" in st:
		print("FAIL %s" % st["err"])
		return 1
	if got != down or not st.get("ready"):
		print("FAIL app got %d of %d bytes or wrong data" % (len(got),
		    len(down)))
		return 1

	if a.closer == "app":
		s.close()
		d, extra = wait_eof(st["conn"], a.wait)
		where = "target"
	else:
		st["conn"].close()
		d, extra = wait_eof(s, a.wait)
		where = "app"
	if d is None:
		print("FAIL the %s saw no EOF within %.0f s after the %s closed" %
		    (where, a.wait, a.closer))
		return 1
	if extra:
		print("FAIL the %s got %d unexpected bytes before EOF" % (where,
		    extra))
		return 1
	print("ok %.3f" % d)
	return 0


if __name__ == "__main__":
	sys.exit(main())
