#!/bin/sh
# Regression (interop, spec 7.4 and P-3): when a protocol-0x01 peer (the
# reference) closes a channel with a Disconnect, we answered with a
# Disconnect of our own.  The reference queues every Disconnect it
# receives into one cleanup queue whose workers sleep 5 s per entry, so
# the echoes piled up and, after some traffic, a refused fast-open
# connection took ~16 s to close.  A fake reference-like server (no
# extension offered) sends Data and a Disconnect for a channel and then
# watches 2 s for a Disconnect of that channel from us: there must be
# none, from a fast-open connector and from a plain forward client.
# Between our own peers (half-close) the reply Disconnect is how the
# other direction ends; forward_halfclose.sh and agent_disconnect.sh
# keep that.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

LS_WORKERS=1

# run NAME KIND [ARGS...]: a fake server, KIND (connector or client)
# against it, one application connection that sends "hello" and reads
# the answer to EOF; prints the fake server's report.
run() {
	local name=$1 kind=$2 out pid res
	shift 2
	rm -f "$TMPD/fake$name.port"
	ls_bg "fake$name" python3 "$LS_LIB/fakeserver.py" \
	    --port-file "$TMPD/fake$name.port" --delay 0.2 --watch 2
	ls_wait_file "$TMPD/fake$name.port" 10 "$LAST_PID" "fake$name"
	WS_PORT=$(cat "$TMPD/fake$name.port")
	WS_HOST=127.0.0.1
	if [ "$kind" = connector ]; then
		LS_CONNECTOR_TOKEN=any ls_start_connector "$name" "$@"
	else
		LS_CLIENT_TOKEN=any ls_start_client "$name" "$@"
	fi
	out=$(timeout 20 python3 - "$SOCKS_PORT" <<'PYEOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"\x05\x01\x00")
assert s.recv(2) == b"\x05\x00"
s.sendall(b"\x05\x01\x00\x03\x04host\x00\x50")
r = s.recv(10)
assert r[:2] == b"\x05\x00", r.hex()
s.sendall(b"hello")
got = b""
while True:
	b = s.recv(100)
	if not b:
		break
	got += b
print("got %s" % got.decode())
PYEOF
) || fail "$name: application: $out"
	[ "$out" = "got bye" ] || fail "$name: the answer did not come back: $out"
	pid=$(ls_pid_of "fake$name")
	wait "$pid" 2>/dev/null
	res=$(cat "$TMPD/fake$name.out")
	printf '%s\n' "$res" | grep -qx 'data hello' ||
	    fail "$name: the fake server did not get the data: $res"
	printf '%s\n' "$res" | grep -q '^disconnect_back ' ||
	    fail "$name: the fake server did not watch: $res"
	printf '%s\n' "$res" | grep -qx 'disconnect_back 0' ||
	    fail "$name: we echoed the peer's Disconnect: $res"
	ls_say "$name: the peer's Disconnect closed the channel, none sent back"
}

run conn connector -f
run fwd client
ls_finish
