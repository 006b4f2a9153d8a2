#!/bin/sh
# Abuse: log injection.  The host name of a SOCKS5 request travels in a
# Connect message and went raw into the server's INFO line "dial tcp
# HOST:PORT: ..." (and into the agent relay's and the client's lines),
# so an application or a tunnel client could forge log lines and send
# terminal escapes to whoever reads the log.  A request whose host name
# holds a newline, a fake log line, an ESC sequence and a backslash must
# give exactly one INFO line on each side, with those bytes escaped as
# \xNN (the backslash too, so "\x41" typed by the peer is not mistaken
# for an escape), and no ESC byte anywhere in the logs.  Port 0 makes
# the server refuse before any lookup, so nothing leaves loopback.
# Tokens: one the user gave never appears in a log without -d (server
# configuration, connector tokens of a provider, on both sides); one the
# server generated is printed once, at start-up.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

FAKE='2026-12-04T00:00:00.000 INF worker 0: FORGED'
# A real line's time stamp: not the forged one.
REAL='2026-[0-9][0-9]-[0-9][0-9]T[0-9:.]+'
# What log_str makes of the host name below.
ESCAPED='evil\x0a2026-12-04T00:00:00.000 INF worker 0: FORGED\x1b[2J\x5cx41'

# request PORT DSTPORT: one SOCKS5 CONNECT to the evil name; prints the
# reply's hex.
request() {
	timeout 20 python3 - "$1" "$2" <<'PYEOF'
import socket, struct, sys
host = (b"evil\n2026-12-04T00:00:00.000 INF worker 0: FORGED"
    b"\x1b[2J\\x41")
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=15)
s.sendall(b"\x05\x01\x00")
assert s.recv(2) == b"\x05\x00"
s.sendall(b"\x05\x01\x00\x03" + bytes([len(host)]) + host +
    struct.pack("!H", int(sys.argv[2])))
r = s.recv(10)
print(r.hex())
PYEOF
}

# check NAME WHAT: in NAME's log, exactly one INFO line names the evil
# host, every line that does has it escaped, and no line is forged.
check() {
	local log="$TMPD/$1.log" n
	n=$(grep -acE "^$REAL INF .*FORGED" "$log" || true)
	[ "$n" = 1 ] || fail "$1: $n INFO lines about the evil host, want 1 ($2)"
	n=$(grep -a 'FORGED' "$log" | grep -acvF "$ESCAPED" || true)
	[ "$n" = 0 ] || fail "$1: $n lines hold the host name unescaped ($2)"
	n=$(grep -ac "^$FAKE" "$log" || true)
	[ "$n" = 0 ] || fail "$1: a forged line made it into the log ($2)"
	if grep -aq "$(printf '\033')" "$log"; then
		fail "$1: an ESC byte reached the log ($2)"
	fi
	ls_say "$1: $2: $(grep -aE "^$REAL INF .*FORGED" "$log" | cut -c1-160)"
}

# Forward: the server refuses "dial tcp HOST:0", the client reports it.
ls_start_server server
ls_start_client client
rep=$(request "$SOCKS_PORT" 0) || fail "forward request: $rep"
[ "${rep:0:4}" != 0500 ] || fail "forward request succeeded: $rep"
ls_wait_log "$TMPD/server.log" 'invalid port 0' 1 10 "$(ls_pid_of server)" server
ls_wait_log "$TMPD/client.log" 'remote connect failed' 1 10 "$(ls_pid_of client)" client
check server "forward, dial side"
check client "forward, SOCKS side"

# Agent: no provider, the relay answers "no available reverse clients".
ls_start_rserver rserver -c "$LS_CTOKEN" --connector-wait-provider 0
ls_start_connector connector
rep=$(request "$SOCKS_PORT" 80) || fail "agent request: $rep"
[ "${rep:0:4}" != 0500 ] || fail "agent request succeeded: $rep"
ls_wait_log "$TMPD/rserver.log" 'no available reverse clients' 1 10 "$(ls_pid_of rserver)" rserver
ls_wait_log "$TMPD/connector.log" 'remote connect failed' 1 10 "$(ls_pid_of connector)" connector
check rserver "agent relay"
check connector "agent, SOCKS side"

# quiet NAME ARGS...: a daemon at the default log level (no -d).
quiet() {
	local name=$1
	shift
	ls_bg "$name" "$LINKSOCKS_BIN" "$@" --workers 1
	LS_MASTERS+=($((${#LS_PIDS[@]} - 1)))
}
# secret NAME TOKEN...: no token appears in NAME's log.
secret() {
	local name=$1 t
	shift
	for t in "$@"; do
		if grep -aqF -- "$t" "$TMPD/$name.log"; then
			grep -aF -- "$t" "$TMPD/$name.log" >&2
			fail "$name logged the token $t"
		fi
	done
}
T1=user-token-$$ C1=user-ctoken-$$ T2=user-atoken-$$ C2=user-actoken-$$
quiet quiet1 server -r -t "$T1" -c "$C1" -H 127.0.0.1 -P 0 \
    -s 127.0.0.1 -p 0 --port-file "$TMPD/quiet1.port"
quiet quiet2 server -r -a -t "$T2" -H 127.0.0.1 -P 0 \
    --port-file "$TMPD/quiet2.port"
quiet gen server -H 127.0.0.1 -P 0 --port-file "$TMPD/gen.port"
ls_wait_log "$TMPD/quiet1.log" 'Connector Token:' 1 20 "$(ls_pid_of quiet1)" quiet1
p2=$(ls_wait_portline "$TMPD/quiet2.port" ws 20 "$(ls_pid_of quiet2)" quiet2) || exit 1
quiet qprov provider -t "$T2" -c "$C2" -u "ws://127.0.0.1:$p2"
ls_wait_log "$TMPD/qprov.log" 'connector token .* added' 1 20 "$(ls_pid_of qprov)" qprov
ls_wait_log "$TMPD/quiet2.log" 'connector token .* added' 1 20 "$(ls_pid_of quiet2)" quiet2
ls_wait_log "$TMPD/gen.log" 'Token: ' 1 20 "$(ls_pid_of gen)" gen
secret quiet1 "$T1" "$C1"
secret quiet2 "$T2" "$C2"
secret qprov "$T2" "$C2"
grep -aq 'Token: (hidden, ' "$TMPD/quiet1.log" ||
    fail "quiet1: no hidden token in its configuration"
n=$(grep -acE 'Token: [0-9a-f]{16} \(generated\)' "$TMPD/gen.log" || true)
[ "$n" = 1 ] || fail "gen: the generated token is printed $n times, want 1"
ls_say "user tokens hidden without -d, the generated token printed once"
ls_finish
