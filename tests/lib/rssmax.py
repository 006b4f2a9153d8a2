#!/usr/bin/env python3
"""Largest resident set size of some processes over time (stdlib only).

  rssmax.py --pid P [--pid Q ...] --stop-file F [--interval S]

Samples VmRSS of every PID (and of its children, so a linksocks master
brings its workers) until F exists or all are gone, then prints one
line "PID max_kib first_kib" per process seen, "total max_kib" for the
largest sum over one sample, and "growth kib" for the largest growth of
one process over its first sample (start sampling before the load).
"""
import argparse
import os
import sys
import time


def rss_kib(pid):
	try:
		with open("/proc/%d/status" % pid) as f:
			for line in f:
				if line.startswith("VmRSS:"):
					return int(line.split()[1])
	except OSError:
		pass
	return None


def children(pid):
	try:
		with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
			return [int(x) for x in f.read().split()]
	except OSError:
		return []


def main():
	ap = argparse.ArgumentParser()
	ap.add_argument("--pid", type=int, action="append", required=True)
	ap.add_argument("--stop-file", required=True)
	ap.add_argument("--interval", type=float, default=0.1)
	ap.add_argument("--limit", type=float, default=600.0)
	a = ap.parse_args()
	best = {}
	first = {}
	total = 0
	end = time.monotonic() + a.limit
	while not os.path.exists(a.stop_file) and time.monotonic() < end:
		pids = []
		for p in a.pid:
			pids.append(p)
			pids.extend(children(p))
		s = 0
		alive = False
		for p in pids:
			r = rss_kib(p)
			if r is None:
				continue
			alive = True
			first.setdefault(p, r)
			best[p] = max(best.get(p, 0), r)
			s += r
		total = max(total, s)
		if not alive:
			break
		time.sleep(a.interval)
	for p in sorted(best):
		print("%d %d %d" % (p, best[p], first[p]))
	print("total %d" % total)
	print("growth %d" % max([best[p] - first[p] for p in best] or [0]))
	return 0


if __name__ == "__main__":
	sys.exit(main())
