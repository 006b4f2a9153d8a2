#!/usr/bin/env python3
"""Read a Prometheus text exposition with the real parser
(prometheus_client.parser, Debian's python3-prometheus-client).

  promq.py FILE check             parse all of it; every family must
                                  have HELP and a TYPE; prints "ok N"
  promq.py FILE sum NAME [K=V..]  the sum of the samples named NAME
                                  whose labels include every K=V
  promq.py FILE labels NAME KEY   the values of label KEY of NAME,
                                  one a line, sorted

A parse error or a malformed family exits 1 with the reason.
"""

import sys

from prometheus_client.parser import text_string_to_metric_families


def families(path):
	with open(path, encoding="utf-8") as f:
		text = f.read()
	return list(text_string_to_metric_families(text))


def samples(fams):
	for fam in fams:
		for s in fam.samples:
			yield fam, s


def main():
	if len(sys.argv) < 3:
		print(__doc__, file=sys.stderr)
		return 2
	path, op = sys.argv[1], sys.argv[2]
	try:
		fams = families(path)
	except Exception as e:	# the parser raises ValueError and others
		print("parse error: %r" % (e,), file=sys.stderr)
		return 1
	if op == "check":
		seen = set()
		for fam in fams:
			if fam.name in seen:
				print("family %s twice" % fam.name,
				    file=sys.stderr)
				return 1
			seen.add(fam.name)
			if fam.type not in ("counter", "gauge"):
				print("family %s: type %s" %
				    (fam.name, fam.type), file=sys.stderr)
				return 1
			if not fam.documentation:
				print("family %s: no HELP" % fam.name,
				    file=sys.stderr)
				return 1
			for s in fam.samples:
				if fam.type == "counter" and \
				    not s.name.endswith("_total"):
					print("counter sample %s" % s.name,
					    file=sys.stderr)
					return 1
				if s.value < 0:
					print("negative %s" % s.name,
					    file=sys.stderr)
					return 1
		print("ok %d" % len(fams))
		return 0
	if op == "sum" and len(sys.argv) >= 4:
		want = dict(a.split("=", 1) for a in sys.argv[4:])
		total = 0
		n = 0
		for fam, s in samples(fams):
			if s.name != sys.argv[3]:
				continue
			if all(s.labels.get(k) == v for k, v in want.items()):
				total += s.value
				n += 1
		if n == 0:
			print("no sample %s %s" % (sys.argv[3], want),
			    file=sys.stderr)
			return 1
		print("%d" % total)
		return 0
	if op == "labels" and len(sys.argv) == 5:
		vals = set()
		for fam, s in samples(fams):
			if s.name == sys.argv[3] and sys.argv[4] in s.labels:
				vals.add(s.labels[sys.argv[4]])
		for v in sorted(vals):
			print(v)
		return 0
	print(__doc__, file=sys.stderr)
	return 2


if __name__ == "__main__":
	sys.exit(main())
