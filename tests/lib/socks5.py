#!/usr/bin/env python3
"""Raw SOCKS5 client for byte-exact assertions (stdlib only).

  socks5.py --proxy HOST:PORT [options]

Prints one "key value" line per observation, bytes in lower-case hex:

  method 0500             the 2-byte method selection reply
  auth 0100               the 2-byte RFC 1929 status reply
  reply 05000001...       the CONNECT/BIND/... reply (exactly as read)
  reply-after S           seconds from sending the request to its reply
  http-status 200         with --http-get / --upload
  body-len N / body-sha256 HEX / header-sha256 HEX / sent-sha256 HEX
  closed eof|reset|timeout after SECONDS bytes N   (with --expect-close,
                          or after a refusal: how the proxy ended things)

Options:
  --greeting HEX      raw greeting (default 050100, or 050102 with --auth)
  --auth USER:PASS    answer method 02 with RFC 1929 credentials
  --cmd N             request command (1 CONNECT, 2 BIND, 3 UDP); 0 = none
  --target HOST:PORT  destination; IPv4/IPv6 literals use ATYP 1/4
  --atyp domain       send literals as ATYP 3 too
  --pipeline          send greeting, auth, request and payload in ONE write
                      before reading anything
  --http-get PATH     payload: GET PATH, read the response to EOF
  --upload N          payload: POST of N deterministic bytes
  --send-hex HEX      payload: raw bytes
  --expect-close      after the reply (and payload), read until the proxy
                      closes; report how and how many bytes arrived
  --timeout S         per-step and overall read timeout (default 20)

Exit status: 0 when the exchange ran (whatever the replies), 2 when the
proxy could not be reached, 1 on usage errors.
"""

import argparse
import hashlib
import socket
import sys
import time

import lstest


def out(key, val):
	sys.stdout.write("%s %s\n" % (key, val))
	sys.stdout.flush()


def upload_data(n):
	"""Deterministic upload body: a repeating, non-trivial pattern."""
	block = hashlib.sha256(b"linksocks-upload").digest() * 2048
	while n > 0:
		c = block[:min(n, len(block))]
		n -= len(c)
		yield c


class Conn(lstest.Buffered):
	def read_exact(self, n):
		"""Return up to n bytes; fewer only on EOF/reset/timeout."""
		try:
			while len(self.buf) < n:
				self._fill()
		except (EOFError, socket.timeout, ConnectionError):
			pass
		d, self.buf = self.buf[:n], self.buf[n:]
		return d

	def read_to_close(self):
		"""Read until EOF; returns (how, data)."""
		how = "eof"
		try:
			while True:
				self._fill()
		except EOFError:
			how = "eof"
		except socket.timeout:
			how = "timeout"
		except ConnectionError:
			how = "reset"
		d, self.buf = self.buf, b""
		return how, d


def build_request(cmd, target, force_domain):
	host, port = lstest.hostport(target)
	return bytes([5, cmd, 0]) + lstest.socks5_addr(host, port, force_domain)


def build_auth(cred):
	u, _, p = cred.partition(":")
	ub, pb = u.encode(), p.encode()
	return bytes([1, len(ub)]) + ub + bytes([len(pb)]) + pb


def http_get(path, host):
	return ("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: lstest\r\n"
	    "Connection: close\r\n\r\n" % (path, host)).encode()


def http_post_head(n, host):
	return ("POST /upload HTTP/1.1\r\nHost: %s\r\nUser-Agent: lstest\r\n"
	    "Content-Length: %d\r\nConnection: close\r\n\r\n" %
	    (host, n)).encode()


def report_http(how, data):
	head, sep, body = data.partition(b"\r\n\r\n")
	lines = head.split(b"\r\n")
	status = lines[0].split(b" ")
	out("http-status", status[1].decode() if len(status) > 1 and sep
	    else "none")
	hdr = {}
	for l in lines[1:]:
		k, _, v = l.partition(b":")
		hdr[k.strip().lower()] = v.strip().decode(errors="replace")
	out("body-len", len(body))
	out("body-sha256", hashlib.sha256(body).hexdigest())
	hs = hdr.get(b"x-content-sha256", hdr.get(b"x-body-sha256", "none"))
	out("header-sha256", hs)
	out("content-length", hdr.get(b"content-length", "none"))
	out("end", how)


def main():
	ap = argparse.ArgumentParser()
	ap.add_argument("--proxy", required=True)
	ap.add_argument("--greeting")
	ap.add_argument("--auth")
	ap.add_argument("--cmd", type=int, default=1)
	ap.add_argument("--target")
	ap.add_argument("--atyp", choices=["auto", "domain"], default="auto")
	ap.add_argument("--pipeline", action="store_true")
	ap.add_argument("--http-get")
	ap.add_argument("--upload", type=int)
	ap.add_argument("--send-hex")
	ap.add_argument("--expect-close", action="store_true")
	ap.add_argument("--timeout", type=float, default=20.0)
	a = ap.parse_args()
	if a.cmd and not a.target:
		ap.error("--target required with --cmd")

	greeting = bytes.fromhex(a.greeting) if a.greeting else \
	    bytes.fromhex("050102" if a.auth else "050100")
	auth = build_auth(a.auth) if a.auth else b""
	req = build_request(a.cmd, a.target, a.atyp == "domain") \
	    if a.cmd else b""
	thost = a.target or "localhost"
	payload = b""
	if a.http_get:
		payload = http_get(a.http_get, thost)
	elif a.upload is not None:
		payload = http_post_head(a.upload, thost)
	elif a.send_hex:
		payload = bytes.fromhex(a.send_hex)

	ph, pp = lstest.hostport(a.proxy)
	start = time.monotonic()
	try:
		s = socket.create_connection((ph, pp), timeout=a.timeout)
	except OSError as e:
		out("connect-error", str(e).replace(" ", "_"))
		return 2
	s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
	c = Conn(s, start + a.timeout)

	def closed_report():
		t0 = time.monotonic()
		how, d = c.read_to_close()
		out("closed", "%s after %.2f bytes %d" %
		    (how, time.monotonic() - t0, len(d)))

	up_sha = None

	def send(data):
		try:
			s.sendall(data)
		except OSError as e:
			out("send-error", str(e).replace(" ", "_"))

	def send_upload():
		h = hashlib.sha256()
		try:
			for chunk in upload_data(a.upload):
				h.update(chunk)
				s.sendall(chunk)
		except OSError as e:
			out("send-error", str(e).replace(" ", "_"))
		return h.hexdigest()

	t_req = None
	if a.pipeline:
		# One write with everything, then (upload) the body at once,
		# all before reading a single reply byte.
		t_req = time.monotonic()
		send(greeting + auth + req + payload)
		if a.upload is not None:
			up_sha = send_upload()
	else:
		send(greeting)

	m = c.read_exact(2)
	out("method", m.hex() if m else "none")
	if len(m) < 2 or m[0] != 5 or m[1] not in (0, 2):
		closed_report()
		return 0
	if m[1] == 2:
		if not a.auth:
			closed_report()
			return 0
		if not a.pipeline:
			send(auth)
		r = c.read_exact(2)
		out("auth", r.hex() if r else "none")
		if len(r) < 2 or r[1] != 0:
			closed_report()
			return 0
	if not a.cmd:
		if a.expect_close:
			closed_report()
		return 0
	if not a.pipeline:
		t_req = time.monotonic()
		send(req)

	r = lstest.socks5_read_reply(c.read_exact)
	out("reply", r.hex() if r else "none")
	# From the request's send to its reply: what the proxy took, without
	# this process's start-up on a loaded machine.
	out("reply-after", "%.2f" % (time.monotonic() - t_req))
	if len(r) < 2 or r[1] != 0:
		closed_report()
		return 0

	if a.upload is not None:
		if not a.pipeline:
			send(payload)
			up_sha = send_upload()
		out("sent-sha256", up_sha)
		how, d = c.read_to_close()
		report_http(how, d)
	elif a.http_get:
		if not a.pipeline:
			send(payload)
		how, d = c.read_to_close()
		report_http(how, d)
	elif payload and not a.pipeline:
		send(payload)
	if a.expect_close:
		closed_report()
	s.close()
	return 0


if __name__ == "__main__":
	sys.exit(main())
