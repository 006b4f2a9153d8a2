#!/bin/sh
# quickstart.sh -- try linksocks forward mode on this machine.
#
#	contrib/quickstart.sh [path/to/linksocks]
#
# Builds nothing.  Uses the binary given as argument, else
# $LINKSOCKS_BIN, else ./src/linksocks, else linksocks from $PATH.
# Starts a server on 127.0.0.1:8765 and a client with SOCKS5 on
# 127.0.0.1:9870 in the foreground; Ctrl-C stops both.

BIN=${1:-${LINKSOCKS_BIN:-}}
if [ -z "$BIN" ]; then
	if [ -x ./src/linksocks ]; then
		BIN=./src/linksocks
	else
		BIN=$(command -v linksocks) || BIN=
	fi
fi
if [ -z "$BIN" ] || [ ! -x "$BIN" ]; then
	echo "usage: $0 [path/to/linksocks]  (or set LINKSOCKS_BIN)" >&2
	exit 1
fi

TOKEN=quickstart-token
SERVER_PID=
CLIENT_PID=

stop() {
	trap - INT TERM EXIT
	[ -n "$CLIENT_PID" ] && kill "$CLIENT_PID" 2>/dev/null
	[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
	wait
	echo "stopped"
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

"$BIN" server -t "$TOKEN" -H 127.0.0.1 -P 8765 &
SERVER_PID=$!
sleep 1
if ! kill -0 "$SERVER_PID" 2>/dev/null; then
	SERVER_PID=
	echo "server failed to start (is 127.0.0.1:8765 in use?)" >&2
	exit 1
fi

"$BIN" client -t "$TOKEN" -u ws://127.0.0.1:8765 -s 127.0.0.1 -p 9870 &
CLIENT_PID=$!
sleep 1
if ! kill -0 "$CLIENT_PID" 2>/dev/null; then
	CLIENT_PID=
	echo "client failed to start (is 127.0.0.1:9870 in use?)" >&2
	exit 1
fi

echo "try: curl --socks5-hostname 127.0.0.1:9870 http://example.com/"
echo "Ctrl-C stops server and client"
wait
