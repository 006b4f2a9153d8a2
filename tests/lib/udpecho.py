#!/usr/bin/env python3
"""UDP echo server for the linksocks integration tests (stdlib only).

  udpecho.py --bind 127.0.0.1|::1|dual --port-file FILE [--log FILE]
      [--port N]

Binds port 0 (kernel-chosen, or --port N) and writes the port, followed
by a newline, to FILE atomically once bound.  "dual" binds :: with
IPV6_V6ONLY off, so both 127.0.0.1 and ::1 reach it.  Every datagram
(0 to 65,535 bytes) is sent back, unchanged, to its sender.  Socket
buffers are made as large as the system allows (4 MiB asked for).

--log FILE appends one line per datagram, flushed whenever the socket is
idle (so it may trail by a fraction of a second):

  N SRC_HOST SRC_PORT LEN HEAD

N counts from 1, SRC_HOST is the sender (IPv4-mapped addresses shown as
plain IPv4), HEAD the hex of the first 16 bytes (or "-" when empty).
"""

import argparse
import select
import signal
import socket
import sys

import lstest
from lstest import big_buffers, plain_host


def main():
	ap = argparse.ArgumentParser()
	ap.add_argument("--bind", default="127.0.0.1")
	ap.add_argument("--port", type=int, default=0)
	ap.add_argument("--port-file", required=True)
	ap.add_argument("--log")
	a = ap.parse_args()

	dual = a.bind == "dual"
	host = "::" if dual else a.bind
	fam = socket.AF_INET6 if ":" in host else socket.AF_INET
	s = socket.socket(fam, socket.SOCK_DGRAM)
	if dual:
		s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
	big_buffers(s)
	s.bind((host, a.port))
	port = s.getsockname()[1]
	lstest.write_port_file(a.port_file, port)

	log = open(a.log, "a") if a.log else None
	pending = []
	n = 0
	signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
	s.setblocking(False)
	try:
		while True:
			r, _, _ = select.select([s], [], [], 0.2 if pending
			    else None)
			if not r:
				log.write("".join(pending))
				log.flush()
				pending = []
				continue
			# Drain what is queued before sleeping again.
			for _ in range(256):
				try:
					d, src = s.recvfrom(65536)
				except (BlockingIOError, InterruptedError):
					break
				except OSError:
					# e.g. ECONNREFUSED from an earlier ICMP
					continue
				try:
					s.sendto(d, src)
				except BlockingIOError:
					# Send buffer full: wait for room once.
					select.select([], [s], [], 1.0)
					try:
						s.sendto(d, src)
					except OSError:
						pass
				except OSError:
					pass
				n += 1
				if log:
					pending.append("%d %s %d %d %s\n" % (n,
					    plain_host(src[0]), src[1], len(d),
					    d[:16].hex() or "-"))
	finally:
		if log:
			log.write("".join(pending))
			log.close()


if __name__ == "__main__":
	main()
