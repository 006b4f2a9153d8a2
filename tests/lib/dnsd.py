#!/usr/bin/env python3
"""Minimal DNS responder over UDP for the linksocks tests (stdlib only).

  dnsd.py --bind 127.0.0.1|::1 --port-file FILE [--answer NAME=IP ...]
      [--default IP]

Binds port 0 and writes the port, followed by a newline, to FILE
atomically.  For every query (one question):

  A  NAME, NAME given by --answer   -> that IP
  A  any other name under ".test"   -> --default (192.0.2.7)
  other types for a ".test" name    -> NOERROR, no answer (NODATA)
  any name outside ".test"          -> NXDOMAIN
  unparsable query (>= 12 bytes)    -> FORMERR

Responses keep the ID, opcode and RD bit, set QR and AA, echo the
question, and carry one A record (name pointer to the question, class
IN, TTL 60).  One line per query goes to stderr.
"""

import argparse
import ipaddress
import socket
import struct
import sys

import lstest

TYPE_A = 1
CLASS_IN = 1


def parse_name(d, off):
	"""Return (lower-case name without trailing dot, offset after)."""
	labels = []
	while True:
		if off >= len(d):
			raise ValueError("name runs past the end")
		n = d[off]
		off += 1
		if n == 0:
			break
		if n & 0xC0:
			raise ValueError("compression in a question")
		if off + n > len(d):
			raise ValueError("label runs past the end")
		labels.append(d[off:off + n].decode("ascii", "replace"))
		off += n
	return ".".join(labels).lower(), off


def respond(q, answers, default):
	if len(q) < 12:
		return None, "short"
	qid, flags, qd, _an, _ns, _ar = struct.unpack("!HHHHHH", q[:12])
	if flags & 0x8000:
		return None, "not a query"
	opcode = (flags >> 11) & 0xF
	rd = flags & 0x0100
	base = 0x8000 | (opcode << 11) | 0x0400 | rd	# QR, AA
	try:
		if qd != 1 or opcode != 0:
			raise ValueError("qdcount %d opcode %d" % (qd, opcode))
		name, off = parse_name(q, 12)
		if off + 4 > len(q):
			raise ValueError("no qtype/qclass")
		qtype, qclass = struct.unpack("!HH", q[off:off + 4])
	except ValueError as e:
		hdr = struct.pack("!HHHHHH", qid, base | 1, 0, 0, 0, 0)
		return hdr, "FORMERR (%s)" % e
	question = q[12:off + 4]
	if name != "test" and not name.endswith(".test"):
		hdr = struct.pack("!HHHHHH", qid, base | 3, 1, 0, 0, 0)
		return hdr + question, "%s type %d NXDOMAIN" % (name, qtype)
	if qtype != TYPE_A or qclass != CLASS_IN:
		hdr = struct.pack("!HHHHHH", qid, base, 1, 0, 0, 0)
		return hdr + question, "%s type %d NODATA" % (name, qtype)
	ip = answers.get(name, default)
	rr = struct.pack("!HHHIH", 0xC00C, TYPE_A, CLASS_IN, 60, 4) + \
	    ipaddress.IPv4Address(ip).packed
	hdr = struct.pack("!HHHHHH", qid, base, 1, 1, 0, 0)
	return hdr + question + rr, "%s A %s" % (name, ip)


def main():
	ap = argparse.ArgumentParser()
	ap.add_argument("--bind", default="127.0.0.1")
	ap.add_argument("--port-file", required=True)
	ap.add_argument("--answer", action="append", default=[],
	    metavar="NAME=IP")
	ap.add_argument("--default", default="192.0.2.7")
	a = ap.parse_args()
	answers = {}
	for x in a.answer:
		n, _, ip = x.partition("=")
		ipaddress.IPv4Address(ip)
		answers[n.lower().rstrip(".")] = ip
	ipaddress.IPv4Address(a.default)

	fam = socket.AF_INET6 if ":" in a.bind else socket.AF_INET
	s = socket.socket(fam, socket.SOCK_DGRAM)
	s.bind((a.bind, 0))
	lstest.write_port_file(a.port_file, s.getsockname()[1])
	while True:
		try:
			q, src = s.recvfrom(65536)
		except OSError:
			continue
		r, what = respond(q, answers, a.default)
		sys.stderr.write("dnsd: %s:%d %s\n" % (src[0], src[1], what))
		sys.stderr.flush()
		if r is not None:
			try:
				s.sendto(r, src)
			except OSError:
				pass


if __name__ == "__main__":
	try:
		main()
	except KeyboardInterrupt:
		pass
