#!/usr/bin/env python3
"""Half-close through a SOCKS5 proxy.

Runs a target on 127.0.0.1:0 that reads until EOF, then answers with the
sha256 of what it read followed by N bytes and closes.  The client sends
its data through the proxy, shuts down its write side, and must still
receive the whole answer, then EOF promptly after the target closed.
Prints "ok <seconds-from-target-close-to-eof>" or "FAIL <why>"; exit 0/1.
"""
import hashlib
import socket
import sys
import threading
import time

import lstest

def target(lsock, reply_len, state):
    conn, _ = lsock.accept()
    h = hashlib.sha256()
    n = 0
    while True:
        b = conn.recv(65536)
        if not b:
            break
        h.update(b)
        n += len(b)
    body = bytes((i * 7 + 3) & 0xff for i in range(256)) * (reply_len // 256)
    conn.sendall(h.hexdigest().encode() + b"\n" + body)
    state["closed_at"] = time.monotonic()
    conn.close()

def main():
    proxy_port = int(sys.argv[1])
    up_len = int(sys.argv[2])
    reply_len = int(sys.argv[3])
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    tport = lsock.getsockname()[1]
    state = {}
    th = threading.Thread(target=target, args=(lsock, reply_len, state),
                          daemon=True)
    th.start()

    s = socket.create_connection(("127.0.0.1", proxy_port), timeout=20)
    try:
        lstest.socks5_connect(s, "127.0.0.1", tport)
    except lstest.SocksError as e:
        print("FAIL %s" % e); return 1
    data = bytes((i * 13 + 1) & 0xff for i in range(251)) * (up_len // 251)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    got = lstest.read_to_eof(s)
    eof_at = time.monotonic()
    want_head = hashlib.sha256(data).hexdigest().encode() + b"\n"
    body = bytes((i * 7 + 3) & 0xff for i in range(256)) * (reply_len // 256)
    if got != want_head + body:
        print("FAIL answer: got %d bytes, want %d (head %r)" %
              (len(got), len(want_head) + len(body), got[:65]))
        return 1
    if "closed_at" not in state:
        print("FAIL target never closed"); return 1
    print("ok %.3f" % (eof_at - state["closed_at"]))
    return 0

if __name__ == "__main__":
    sys.exit(main())
