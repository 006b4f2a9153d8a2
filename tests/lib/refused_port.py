#!/usr/bin/env python3
"""Print a TCP port on HOST (default 127.0.0.1) that nobody listens on.

  refused_port.py [HOST]

Binds port 0, reads the port, closes the socket, then checks that a
connect is refused; retries a few times if some other process grabbed it.
"""

import socket
import sys


def main():
	host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
	fam = socket.AF_INET6 if ":" in host else socket.AF_INET
	for _ in range(20):
		s = socket.socket(fam, socket.SOCK_STREAM)
		s.bind((host, 0))
		port = s.getsockname()[1]
		s.close()
		c = socket.socket(fam, socket.SOCK_STREAM)
		c.settimeout(2)
		try:
			c.connect((host, port))
		except ConnectionRefusedError:
			print(port)
			return 0
		except OSError:
			pass
		finally:
			c.close()
	sys.stderr.write("refused_port: no refused port found\n")
	return 1


if __name__ == "__main__":
	sys.exit(main())
