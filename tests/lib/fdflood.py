#!/usr/bin/env python3
"""Throw many TCP connections at one loopback listener, bounded.

  fdflood.py --port P [--host 127.0.0.1] [--count 1000] [--hold 3]
      [--connect-timeout 2] [--send BYTES]

Opens --count non-blocking connections at once (connects that do not
complete within --connect-timeout seconds are counted as pending),
optionally writes --send on each that connected, holds them all for
--hold seconds while reading whatever the server answers, then closes
them.  Prints "key value" lines:

  connected N     the TCP handshake completed
  pending N       not completed in time (backlog full, SYN dropped)
  failed N        refused or reset before completing
  answered N      the server wrote something before we closed
  http503 N       ... and it began "HTTP/1.1 503 "
  closed N        the server closed (EOF or reset) before we did
  silent N        ... without writing anything first
  seconds S       wall time from the first connect to the last close

The host must be a loopback address: nothing else is ever contacted.
"""
import argparse
import errno
import ipaddress
import resource
import select
import socket
import sys
import time


def main():
	ap = argparse.ArgumentParser()
	ap.add_argument("--host", default="127.0.0.1")
	ap.add_argument("--port", type=int, required=True)
	ap.add_argument("--count", type=int, default=1000)
	ap.add_argument("--hold", type=float, default=3.0)
	ap.add_argument("--connect-timeout", type=float, default=2.0)
	ap.add_argument("--send", default="")
	a = ap.parse_args()
	if not ipaddress.ip_address(a.host).is_loopback:
		print("fdflood.py: %s is not a loopback address" % a.host,
		    file=sys.stderr)
		return 2
	if not 0 < a.count <= 5000 or not 0 <= a.hold <= 30:
		print("fdflood.py: --count 1..5000, --hold 0..30", file=sys.stderr)
		return 2
	soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
	want = a.count + 64
	if soft < want:
		if hard != resource.RLIM_INFINITY and hard < want:
			print("fdflood.py: open-file limit %d < %d" % (hard, want),
			    file=sys.stderr)
			return 77
		resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
	fam = socket.AF_INET6 if ":" in a.host else socket.AF_INET
	t0 = time.monotonic()
	socks = {}
	failed = 0
	for _ in range(a.count):
		s = socket.socket(fam, socket.SOCK_STREAM)
		s.setblocking(False)
		rc = s.connect_ex((a.host, a.port))
		if rc not in (0, errno.EINPROGRESS, errno.EAGAIN):
			failed += 1
			s.close()
			continue
		socks[s.fileno()] = [s, rc == 0, b"", False]
	poll = select.poll()
	for fd, st in socks.items():
		if not st[1]:
			poll.register(fd, select.POLLOUT)
	deadline = time.monotonic() + a.connect_timeout
	waiting = sum(1 for st in socks.values() if not st[1])
	while waiting and time.monotonic() < deadline:
		for fd, ev in poll.poll(100):
			st = socks[fd]
			poll.unregister(fd)
			waiting -= 1
			err = st[0].getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
			if err == 0:
				st[1] = True
			else:
				failed += 1
				st[0].close()
				del socks[fd]
	connected = sum(1 for st in socks.values() if st[1])
	pending = len(socks) - connected
	poll = select.poll()
	for fd, st in socks.items():
		if st[1]:
			if a.send:
				try:
					st[0].send(a.send.encode())
				except OSError:
					pass
			poll.register(fd, select.POLLIN)
	end = time.monotonic() + a.hold
	while time.monotonic() < end:
		for fd, ev in poll.poll(100):
			st = socks[fd]
			try:
				b = st[0].recv(4096)
			except OSError:
				b = b""
			if b:
				st[2] += b
				continue
			st[3] = True
			poll.unregister(fd)
	answered = sum(1 for st in socks.values() if st[2])
	h503 = sum(1 for st in socks.values()
	    if st[2].startswith(b"HTTP/1.1 503 "))
	closed = sum(1 for st in socks.values() if st[3])
	silent = sum(1 for st in socks.values() if st[3] and not st[2])
	for st in socks.values():
		st[0].close()
	print("connected %d" % connected)
	print("pending %d" % pending)
	print("failed %d" % failed)
	print("answered %d" % answered)
	print("http503 %d" % h503)
	print("closed %d" % closed)
	print("silent %d" % silent)
	print("seconds %.2f" % (time.monotonic() - t0))
	return 0


if __name__ == "__main__":
	sys.exit(main())
