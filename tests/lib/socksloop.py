#!/usr/bin/env python3
"""Many short SOCKS5 connections, one after the other (stdlib only).

  socksloop.py --proxy HOST:PORT --target HOST:PORT --count N
               [--path /hello] [--expect-body TEXT] [--timeout S]
               [--stop-file FILE]

Each connection: greeting 05 01 00, CONNECT to the IPv4 target, a GET of
PATH with "Connection: close", read to EOF.  It succeeds when the method
reply is 05 00, the CONNECT reply is exactly 05 00 00 01 00*6, the
status is 200 and the body equals TEXT (default "hello\\n").  One line
per connection, flushed at once, times in wall-clock seconds:

  <n> ok <start> <end>
  <n> fail:<reason> <start> <end>

then "summary ok <k> fail <m>".  --stop-file: stop early once FILE exists.
"""

import argparse
import os
import socket
import sys
import time

import lstest

OK = bytes.fromhex("05000001000000000000")


def one(proxy, target, path, body, timeout):
	s = socket.create_connection(proxy, timeout=timeout)
	try:
		s.settimeout(timeout)
		try:
			r = lstest.socks5_connect(s, target[0], target[1])
		except lstest.SocksError as e:
			return e.step + "-" + (e.got.hex() or "none")
		if r != OK:
			return "reply-" + r.hex()
		s.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\n"
		    "Connection: close\r\n\r\n" % (path, target[0],
		    target[1])).encode())
		d = lstest.read_to_eof(s)
		head, sep, got = d.partition(b"\r\n\r\n")
		if not sep:
			return "no-http-head-%dB" % len(d)
		if head.split(b" ")[1:2] != [b"200"]:
			return "http-" + head.split(b"\r\n")[0].decode(
			    errors="replace").replace(" ", "_")
		if got != body:
			return "body-%dB" % len(got)
		return "ok"
	except socket.timeout:
		return "timeout"
	except OSError as e:
		return "oserror-" + (e.strerror or str(e)).replace(" ", "_")
	finally:
		s.close()


def main():
	ap = argparse.ArgumentParser()
	ap.add_argument("--proxy", required=True)
	ap.add_argument("--target", required=True)
	ap.add_argument("--count", type=int, required=True)
	ap.add_argument("--path", default="/hello")
	ap.add_argument("--expect-body", default="hello\n")
	ap.add_argument("--timeout", type=float, default=20.0)
	ap.add_argument("--stop-file")
	ap.add_argument("--interval", type=float, default=0.0,
	    help="seconds between connections")
	a = ap.parse_args()
	proxy, target = lstest.hostport(a.proxy), lstest.hostport(a.target)
	body = a.expect_body.encode()
	nok = nfail = 0
	for n in range(1, a.count + 1):
		if a.stop_file and os.path.exists(a.stop_file):
			break
		t0 = time.time()
		try:
			r = one(proxy, target, a.path, body, a.timeout)
		except OSError as e:
			r = "connect-" + (e.strerror or str(e)).replace(" ", "_")
		t1 = time.time()
		if r == "ok":
			nok += 1
			print("%d ok %.3f %.3f" % (n, t0, t1), flush=True)
		else:
			nfail += 1
			print("%d fail:%s %.3f %.3f" % (n, r, t0, t1), flush=True)
		if a.interval > 0:
			time.sleep(a.interval)
	print("summary ok %d fail %d" % (nok, nfail), flush=True)
	return 0


if __name__ == "__main__":
	sys.exit(main())
