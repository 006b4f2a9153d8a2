#!/usr/bin/env python3
"""Count ESTABLISHED TCP sockets with local port PORT held by each PID.

  sockowners.py PORT PID [PID...]

Prints "PID COUNT" per PID (stdlib only; reads /proc/net/tcp{,6} and
/proc/PID/fd).  A socket shared by several PIDs counts for each.
"""

import os
import sys

import lstest


def established_inodes(port):
	inodes = set()
	for p in lstest.proc_net_rows(("tcp", "tcp6")):
		if len(p) < 10:
			continue
		lport = int(p[1].rsplit(":", 1)[1], 16)
		if lport == port and p[3] == "01":
			inodes.add(p[9])
	return inodes


def pid_inodes(pid):
	res = set()
	d = "/proc/%s/fd" % pid
	try:
		names = os.listdir(d)
	except OSError:
		return res
	for n in names:
		try:
			t = os.readlink(os.path.join(d, n))
		except OSError:
			continue
		if t.startswith("socket:["):
			res.add(t[8:-1])
	return res


def main():
	if len(sys.argv) < 3:
		sys.stderr.write("usage: sockowners.py PORT PID...\n")
		return 1
	est = established_inodes(int(sys.argv[1]))
	for pid in sys.argv[2:]:
		print(pid, len(est & pid_inodes(pid)))
	return 0


if __name__ == "__main__":
	sys.exit(main())
