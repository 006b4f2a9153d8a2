#!/bin/sh
# Regression (interop, spec P-6): the reference server relays a
# connector's channel in a background task and drops Data that comes
# before it is done, so a fast-open connector's first bytes were lost
# with it.  A fast-open connector whose server offers none of our
# extensions still answers the application at once, but holds its bytes
# until the ConnectResponse.  A fake reference-like server answers the
# Connect 0.5 s late and counts the Data that came before.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

ls_helper fake fakeserver.py --delay 0.5
WS_PORT=$HELPER_PORT
WS_HOST=127.0.0.1
LS_WORKERS=1
LS_CONNECTOR_TOKEN=any ls_start_connector conn -f

# The application sends its request right after the success reply.
out=$(timeout 20 python3 - "$SOCKS_PORT" "$LS_LIB" <<'PYEOF'
import socket, sys, time
sys.path.insert(0, sys.argv[2])
import lstest
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"\x05\x01\x00")
assert s.recv(2) == b"\x05\x00"
t0 = time.monotonic()
s.sendall(b"\x05\x01\x00\x03\x04host\x00\x50")
r = s.recv(10)
print("reply %s after %.2f" % (r.hex(), time.monotonic() - t0))
s.sendall(b"hello")
got = lstest.read_to_eof(s, 100)
print("got %s" % got.decode())
PYEOF
) || fail "application: $out"
printf '%s\n' "$out" | grep -q '^reply 05000001000000000000 after 0\.[0-3]' ||
    fail "fast open did not answer at once: $out"
printf '%s\n' "$out" | grep -qx 'got bye' ||
    fail "the answer did not come back: $out"
pid=$(ls_pid_of fake)
wait "$pid" 2>/dev/null
res=$(cat "$TMPD/fake.out")
printf '%s\n' "$res" | grep -qx 'early_data 0' ||
    fail "the connector sent data before the ConnectResponse: $res"
printf '%s\n' "$res" | grep -qx 'data hello' ||
    fail "the server did not get the held data: $res"
ls_say "fast open answered at once, data held until the ConnectResponse, then delivered"
ls_finish
