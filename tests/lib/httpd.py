#!/usr/bin/env python3
"""Test HTTP server for the linksocks integration tests (stdlib only).

  httpd.py --bind 127.0.0.1|::1|dual --port-file FILE [--rate BYTES_PER_S]

Listens on port 0 (kernel-chosen) and writes the port, followed by a
newline, to FILE atomically once the socket listens.  "dual" listens on
:: with IPV6_V6ONLY off, so both 127.0.0.1 and ::1 reach it.

  GET  /hello                 -> "hello\\n"
  GET  /headers               -> the request line and header lines as
                                 received
  GET  /file?size=N[&seed=S][&rate=R]
                              -> N bytes of deterministic pseudo-random
                                 data; header X-Content-SHA256 holds the
                                 hex sha256 of the body.  rate (bytes/s,
                                 default --rate, 0 = unlimited) throttles.
  POST|PUT any path[?stall=S][&rate=R]
                              -> reads the body (Content-Length or chunked)
                                 and replies "<hex sha256> <length>\\n";
                                 headers X-Body-SHA256 and X-Body-Length.
                                 stall waits S seconds before reading the
                                 body, rate (bytes/s) throttles the read:
                                 a slow target for flow-control tests.
"""

import argparse
import hashlib
import http.server
import random
import socket
import socketserver
import sys
import time
import urllib.parse

import lstest

CHUNK = 64 * 1024


def content_chunks(size, seed):
	"""Yield the deterministic body of /file?size=size&seed=seed."""
	i = 0
	left = size
	while left > 0:
		n = min(CHUNK, left)
		yield random.Random("%s:%d" % (seed, i)).randbytes(n)
		left -= n
		i += 1


def content_sha256(size, seed):
	h = hashlib.sha256()
	for c in content_chunks(size, seed):
		h.update(c)
	return h.hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
	protocol_version = "HTTP/1.1"
	server_version = "lstest-httpd/1"

	def log_message(self, fmt, *args):
		if self.server.verbose:
			sys.stderr.write("httpd: %s %s\n" %
			    (self.address_string(), fmt % args))

	def reply(self, code, body, headers=()):
		self.send_response(code)
		self.send_header("Content-Type", "application/octet-stream")
		self.send_header("Content-Length", str(len(body)))
		for k, v in headers:
			self.send_header(k, v)
		self.end_headers()
		if self.command != "HEAD":
			self.wfile.write(body)

	def do_GET(self):
		u = urllib.parse.urlsplit(self.path)
		q = urllib.parse.parse_qs(u.query)
		if u.path == "/hello":
			self.reply(200, b"hello\n")
			return
		if u.path == "/headers":
			# The request line and headers as received.
			body = (self.requestline + "\n" +
			    str(self.headers)).encode("latin-1")
			self.reply(200, body)
			return
		if u.path != "/file":
			self.reply(404, b"not found\n")
			return
		try:
			size = int(q.get("size", ["0"])[0])
			seed = q.get("seed", ["0"])[0]
			rate = int(q.get("rate", [str(self.server.rate)])[0])
		except ValueError:
			self.reply(400, b"bad query\n")
			return
		if size < 0:
			self.reply(400, b"bad size\n")
			return
		self.send_response(200)
		self.send_header("Content-Type", "application/octet-stream")
		self.send_header("Content-Length", str(size))
		self.send_header("X-Content-SHA256", content_sha256(size, seed))
		self.end_headers()
		if self.command == "HEAD":
			return
		start = time.monotonic()
		sent = 0
		for c in content_chunks(size, seed):
			if rate > 0:
				# Small pieces keep the throttle smooth.
				for off in range(0, len(c), 16384):
					piece = c[off:off + 16384]
					due = start + (sent + len(piece)) / rate
					delay = due - time.monotonic()
					if delay > 0:
						time.sleep(delay)
					self.wfile.write(piece)
					sent += len(piece)
			else:
				self.wfile.write(c)
				sent += len(c)
		self.wfile.flush()

	do_HEAD = do_GET

	def throttle(self, rate, start, total):
		if rate > 0:
			delay = start + total / rate - time.monotonic()
			if delay > 0:
				time.sleep(delay)

	def read_body(self, rate=0):
		h = hashlib.sha256()
		total = 0
		start = time.monotonic()

		def take(left, where):
			"""Hash the next LEFT body bytes, at RATE."""
			nonlocal total
			while left > 0:
				self.throttle(rate, start, total)
				b = self.rfile.read(min(left, CHUNK))
				if not b:
					raise EOFError("eof in " + where)
				h.update(b)
				total += len(b)
				left -= len(b)

		te = self.headers.get("Transfer-Encoding", "").lower()
		if "chunked" in te:
			while True:
				line = self.rfile.readline(1024)
				if not line:
					raise EOFError("eof in chunk size")
				n = int(line.split(b";")[0].strip(), 16)
				if n == 0:
					# trailers up to the empty line
					while True:
						t = self.rfile.readline(8192)
						if t in (b"\r\n", b"\n", b""):
							break
					break
				take(n, "chunk")
				self.rfile.readline(16)
		else:
			take(int(self.headers.get("Content-Length", "0")), "body")
		return h.hexdigest(), total

	def do_POST(self):
		q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
		try:
			stall = float(q.get("stall", ["0"])[0])
			rate = int(q.get("rate", ["0"])[0])
		except ValueError:
			self.reply(400, b"bad query\n")
			return
		if stall > 0:
			time.sleep(stall)
		try:
			digest, total = self.read_body(rate)
		except (EOFError, ValueError) as e:
			sys.stderr.write("httpd: bad upload: %s\n" % e)
			self.close_connection = True
			return
		self.reply(200, ("%s %d\n" % (digest, total)).encode(),
		    [("X-Body-SHA256", digest), ("X-Body-Length", str(total))])

	do_PUT = do_POST


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
	daemon_threads = True
	allow_reuse_address = True
	request_queue_size = 128

	def server_bind(self):
		if self.dual:
			self.socket.setsockopt(socket.IPPROTO_IPV6,
			    socket.IPV6_V6ONLY, 0)
		socketserver.TCPServer.server_bind(self)


def main():
	ap = argparse.ArgumentParser()
	ap.add_argument("--bind", default="127.0.0.1")
	ap.add_argument("--port-file", required=True)
	ap.add_argument("--rate", type=int, default=0)
	ap.add_argument("--verbose", action="store_true")
	a = ap.parse_args()

	dual = a.bind == "dual"
	host = "::" if dual else a.bind
	fam = socket.AF_INET6 if ":" in host else socket.AF_INET

	class S(Server):
		address_family = fam
	S.dual = dual
	srv = S((host, 0), Handler)
	srv.rate = a.rate
	srv.verbose = a.verbose
	port = srv.server_address[1]
	lstest.write_port_file(a.port_file, port)
	try:
		srv.serve_forever()
	except KeyboardInterrupt:
		pass


if __name__ == "__main__":
	main()
