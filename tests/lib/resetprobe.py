#!/usr/bin/env python3
"""Abrupt close (RST) through a SOCKS5 proxy (stdlib only).

  resetprobe.py --proxy HOST:PORT --side app|target [--timeout S]

Runs a target on 127.0.0.1:0, connects to it through the proxy, and
checks that both ends see data first.  Then one end resets its socket
(SO_LINGER 0 and close: a TCP RST): with --side app the application,
with --side target the target.  The other end must see its connection
end (EOF or reset) within --timeout seconds.  Prints
"ok <seconds until the other end saw it>" or "FAIL <why>"; exit 0/1.
"""
import argparse
import socket
import struct
import sys
import threading

import lstest


def rst(s):
	s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
	s.close()


def main():
	ap = argparse.ArgumentParser()
	ap.add_argument("--proxy", required=True)
	ap.add_argument("--side", choices=["app", "target"], required=True)
	ap.add_argument("--timeout", type=float, default=3.0)
	a = ap.parse_args()
	ls = socket.socket()
	ls.bind(("127.0.0.1", 0))
	ls.listen(1)
	tport = ls.getsockname()[1]
	conn = {}

	def accept():
		c, _ = ls.accept()
		conn["t"] = c

	th = threading.Thread(target=accept, daemon=True)
	th.start()
	app = socket.create_connection(lstest.hostport(a.proxy), timeout=10)
	try:
		lstest.socks5_connect(app, "127.0.0.1", tport)
	except lstest.SocksError as e:
		print("FAIL %s" % e)
		return 1
	th.join(10)
	t = conn.get("t")
	if t is None:
		print("FAIL the target got no connection")
		return 1
	# Data both ways first, so the channel is fully up.
	app.sendall(b"ping")
	t.settimeout(10)
	if t.recv(4) != b"ping":
		print("FAIL no data at the target")
		return 1
	t.sendall(b"pong")
	app.settimeout(10)
	if app.recv(4) != b"pong":
		print("FAIL no data at the application")
		return 1
	if a.side == "app":
		rst(app)
		other = t
	else:
		rst(t)
		other = app
	d, _ = lstest.wait_eof(other, a.timeout)
	if d is None:
		print("FAIL the %s's connection still open %.1fs after the %s "
		    "reset" % ("target" if a.side == "app" else "application",
		    a.timeout, a.side))
		return 1
	print("ok %.3f" % d)
	return 0


if __name__ == "__main__":
	sys.exit(main())
