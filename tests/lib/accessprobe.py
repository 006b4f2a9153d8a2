#!/usr/bin/env python3
"""Raw-protocol probes of a forward server's access rules and channel
cap (stdlib only; the peer is lsraw.Peer).  Prints "key value" lines.

  connect --port P --token T --target HOST:PORT [--target ...]
      One Connect per target, in order; for each prints
      "response HOST:PORT OK TEXT" (OK 1 or 0, TEXT the error or "-"),
      or "response HOST:PORT none" if nothing came within --timeout.
      All go on one tunnel, so each answer after the first also shows
      that a refusal left the tunnel up.

  trap --bind ADDR|dual --port-file F --log F
      A TCP listener on port 0 that writes its port to F and one line
      per accepted connection to the log, then closes it: a target
      that must never be reached.

  cap --port P --token T --open N
      Starts an echo target on 127.0.0.1, opens N channels to it (each
      must succeed: "open I ok"), then one more ("extra OK TEXT"); then
      every open channel echoes a line ("echo I ok"), one is closed and
      a new one opens ("reopen OK TEXT"), which echoes too ("reecho ok").
"""

import argparse
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lsraw  # noqa: E402


def say(k, v):
	sys.stdout.write("%s %s\n" % (k, v))
	sys.stdout.flush()


def split(t):
	if t.startswith("["):
		h, _, p = t[1:].partition("]:")
	else:
		h, _, p = t.rpartition(":")
	return h, int(p)


def wait_response(p, ch, timeout):
	"""(ok, text) of the ConnectResponse for ch, or None."""
	deadline = time.monotonic() + timeout
	while time.monotonic() < deadline:
		m = p.recv(max(0.1, deadline - time.monotonic()))
		if m is None:
			return None
		if len(m) >= 19 and m[1] == 0x05 and m[3:19] == ch:
			ok = m[2]
			text = "-"
			if not ok and len(m) > 19:
				n = m[19]
				text = m[20:20 + n].decode("latin-1")
			return ok, text
	return None


def connect(a):
	p = lsraw.Peer(a.host, a.port, a.token, features="halfclose")
	for t in a.target:
		h, port = split(t)
		ch = os.urandom(16)
		p.send(lsraw.connect_msg(ch, h, port))
		r = wait_response(p, ch, a.timeout)
		if r is None:
			say("response", "%s none" % t)
		else:
			say("response", "%s %d %s" % (t, r[0], r[1]))
	return 0


def wait_data(p, ch, want, timeout):
	deadline = time.monotonic() + timeout
	got = b""
	while time.monotonic() < deadline and len(got) < len(want):
		m = p.recv(max(0.1, deadline - time.monotonic()))
		if m is None:
			return False
		if len(m) >= 24 and m[1] == 0x04 and m[3:19] == ch:
			got += m[24:]
	return got == want


def echo_server():
	ls = socket.socket()
	ls.bind(("127.0.0.1", 0))
	ls.listen(64)

	def serve(c):
		try:
			while True:
				b = c.recv(65536)
				if not b:
					break
				c.sendall(b)
		except OSError:
			pass
		c.close()

	def loop():
		while True:
			c, _ = ls.accept()
			threading.Thread(target=serve, args=(c,), daemon=True).start()

	threading.Thread(target=loop, daemon=True).start()
	return ls.getsockname()[1]


def cap(a):
	port = echo_server()
	p = lsraw.Peer(a.host, a.port, a.token, features="halfclose")
	chans = []
	for i in range(a.open):
		ch = os.urandom(16)
		p.send(lsraw.connect_msg(ch, "127.0.0.1", port))
		r = wait_response(p, ch, a.timeout)
		say("open", "%d %s" % (i + 1, "ok" if r and r[0] == 1 else
		    "failed %r" % (r,)))
		chans.append(ch)
	ch = os.urandom(16)
	p.send(lsraw.connect_msg(ch, "127.0.0.1", port))
	r = wait_response(p, ch, a.timeout)
	say("extra", "none" if r is None else "%d %s" % r)
	for i, ch in enumerate(chans):
		line = b"ping %d\n" % (i + 1)
		p.send(lsraw.data_msg(ch, line))
		say("echo", "%d %s" % (i + 1, "ok" if wait_data(p, ch, line,
		    a.timeout) else "failed"))
	p.send(lsraw.disconnect_msg(chans[0]))
	time.sleep(0.5)
	ch = os.urandom(16)
	p.send(lsraw.connect_msg(ch, "127.0.0.1", port))
	r = wait_response(p, ch, a.timeout)
	say("reopen", "none" if r is None else "%d %s" % r)
	if r is not None and r[0] == 1:
		line = b"again\n"
		p.send(lsraw.data_msg(ch, line))
		say("reecho", "ok" if wait_data(p, ch, line, a.timeout) else
		    "failed")
	return 0


def trap(a):
	if a.bind == "dual":
		ls = socket.socket(socket.AF_INET6)
		ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
		ls.bind(("::", 0))
	else:
		fam = socket.AF_INET6 if ":" in a.bind else socket.AF_INET
		ls = socket.socket(fam)
		ls.bind((a.bind, 0))
	ls.listen(64)
	tmp = a.port_file + ".tmp"
	with open(tmp, "w") as f:
		f.write("%d\n" % ls.getsockname()[1])
	os.rename(tmp, a.port_file)
	while True:
		c, peer = ls.accept()
		with open(a.log, "a") as f:
			f.write("accepted %s\n" % (peer[0],))
		c.close()


def main():
	ap = argparse.ArgumentParser()
	sub = ap.add_subparsers(dest="cmd", required=True)
	t = sub.add_parser("trap")
	t.add_argument("--bind", default="127.0.0.1")
	t.add_argument("--port-file", required=True)
	t.add_argument("--log", required=True)
	c = sub.add_parser("connect")
	c.add_argument("--host", default="127.0.0.1")
	c.add_argument("--port", type=int, required=True)
	c.add_argument("--token", required=True)
	c.add_argument("--timeout", type=float, default=10.0)
	c.add_argument("--target", action="append", default=[])
	k = sub.add_parser("cap")
	k.add_argument("--host", default="127.0.0.1")
	k.add_argument("--port", type=int, required=True)
	k.add_argument("--token", required=True)
	k.add_argument("--timeout", type=float, default=10.0)
	k.add_argument("--open", type=int, default=3)
	a = ap.parse_args()
	if a.cmd == "trap":
		return trap(a)
	if a.cmd == "cap":
		return cap(a)
	return connect(a)


if __name__ == "__main__":
	sys.exit(main())
