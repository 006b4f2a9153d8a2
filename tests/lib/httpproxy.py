#!/usr/bin/env python3
"""Raw HTTP proxy requests for the linksocks integration tests.

  httpproxy.py --proxy HOST:PORT --send TEXT [--send TEXT ...]
               [--timeout SECS]

Connects to the proxy, writes each TEXT (Python escapes: \\r, \\n, \\x00
...) in one write of its own, all before reading anything, then reads
until the proxy closes.  Writes what arrived to stdout, byte for byte.
Exit status 0 when the proxy closed (EOF or reset), 2 when nothing closed
it within the timeout (default 10 s).
"""

import argparse
import socket
import sys
import time

import lstest


def main():
	ap = argparse.ArgumentParser()
	ap.add_argument("--proxy", required=True)
	ap.add_argument("--send", action="append", default=[])
	ap.add_argument("--timeout", type=float, default=10.0)
	a = ap.parse_args()
	host, port = lstest.hostport(a.proxy)
	s = socket.create_connection((host, port), timeout=a.timeout)
	for t in a.send:
		s.sendall(t.encode("latin-1").decode("unicode_escape")
		    .encode("latin-1"))
	end = time.monotonic() + a.timeout
	got = b""
	rc = 2
	while time.monotonic() < end:
		s.settimeout(max(0.01, end - time.monotonic()))
		try:
			b = s.recv(65536)
		except socket.timeout:
			break
		except ConnectionResetError:
			rc = 0
			break
		if not b:
			rc = 0
			break
		got += b
	sys.stdout.buffer.write(got)
	sys.stdout.flush()
	return rc


if __name__ == "__main__":
	sys.exit(main())
