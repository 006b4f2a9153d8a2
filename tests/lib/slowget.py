#!/usr/bin/env python3
"""A slow HTTP download through a SOCKS5 proxy (stdlib only).

  slowget.py --proxy HOST:PORT --url http://HOST:PORT/file?size=N&seed=S
             [--stall-after BYTES] [--stall SECONDS] [--rate BYTES_PER_S]

Sends the GET, reads the body, stops reading for --stall seconds once
--stall-after body bytes are in (the socket buffers fill and the proxy
must hold the rest back), then reads on at --rate (0: as fast as it
can).  The body's sha256 must match the X-Content-SHA256 header.
Prints "ok BYTES SECONDS" (exit 0) or "FAIL why" (exit 1).
"""
import argparse
import hashlib
import socket
import sys
import time
import urllib.parse

import lstest


def socks_connect(proxy, host, port, timeout):
	"""CONNECT through the proxy, the host always as a name (ATYP 3)."""
	s = socket.create_connection(lstest.hostport(proxy), timeout=timeout)
	lstest.socks5_connect(s, host, port, force_domain=True)
	return s


def main():
	ap = argparse.ArgumentParser()
	ap.add_argument("--proxy", required=True)
	ap.add_argument("--url", required=True)
	ap.add_argument("--stall-after", type=int, default=1 << 20)
	ap.add_argument("--stall", type=float, default=0.0)
	ap.add_argument("--rate", type=int, default=0)
	ap.add_argument("--timeout", type=float, default=120.0)
	a = ap.parse_args()
	u = urllib.parse.urlsplit(a.url)
	t0 = time.monotonic()
	try:
		s = socks_connect(a.proxy, u.hostname, u.port or 80, a.timeout)
		# A small receive buffer, so the stall is felt at once.
		s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
		path = u.path + ("?" + u.query if u.query else "")
		s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close"
		    "\r\n\r\n" % (path, u.netloc)).encode())
		buf = b""
		while b"\r\n\r\n" not in buf:
			b = s.recv(65536)
			if not b:
				print("FAIL no response head")
				return 1
			buf += b
		head, body = buf.split(b"\r\n\r\n", 1)
		hdrs = {}
		for line in head.decode("latin-1").split("\r\n")[1:]:
			k, _, v = line.partition(":")
			hdrs[k.strip().lower()] = v.strip()
		want = hdrs.get("x-content-sha256")
		size = int(hdrs.get("content-length", "-1"))
		h = hashlib.sha256(body)
		got = len(body)
		stalled = a.stall <= 0
		rstart = time.monotonic()
		rgot = 0
		while got < size:
			if not stalled and got >= a.stall_after:
				time.sleep(a.stall)
				stalled = True
				rstart = time.monotonic()
				rgot = 0
			n = 65536
			if a.rate > 0 and stalled:
				due = rstart + rgot / a.rate
				d = due - time.monotonic()
				if d > 0:
					time.sleep(d)
				n = min(n, max(1024, a.rate // 50))
			b = s.recv(n)
			if not b:
				break
			h.update(b)
			got += len(b)
			rgot += len(b)
		s.close()
	except OSError as e:
		print("FAIL %s" % e)
		return 1
	if got != size:
		print("FAIL got %d of %d bytes" % (got, size))
		return 1
	if h.hexdigest() != want:
		print("FAIL sha256 %s != %s" % (h.hexdigest(), want))
		return 1
	print("ok %d %.2f" % (got, time.monotonic() - t0))
	return 0


if __name__ == "__main__":
	sys.exit(main())
