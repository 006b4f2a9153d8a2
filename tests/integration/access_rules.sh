#!/bin/sh
# Destination access rules and the per-tunnel channel cap.  Every target
# is on loopback; non-loopback refusals run in a network namespace this
# test creates (unshare -rn), where nothing is routed anywhere.
#
#  defaults  A forward server started without --allow-private refuses
#            127.0.0.1, 0.0.0.0, ::1, ::ffff:127.0.0.1, "localhost" (from
#            /etc/hosts), a dotted quad sent as a name, and its own
#            WebSocket port: the client answers 05 02 and closes (fast
#            open: 05 00, then closed with no data); a raw peer gets
#            ConnectResponse failure "destination not allowed"; the
#            server logs why; the trap target never sees a connection.
#  open      --allow-private reaches loopback targets (by address and by
#            name) but never the server's own port, nor 0.0.0.0; a rule
#            naming 127.0.0.1:PORT opens just that; LINKSOCKS_ACCESS_RULE
#            naming 127.0.0.0/8 still leaves the server's own port shut.
#  syntax    A bad rule (option or environment) exits 2, naming the rule
#            and the problem.
#  socks     A client with --access-rule refuses a literal address and a
#            name whose port no rule allows with 05 02 by itself: the
#            server never logs a dial for them.
#  cap       --max-channels 3: the 4th Connect gets ConnectResponse
#            "too many channels" while the 3 others keep echoing and the
#            tunnel stays; a freed slot is used again.  Through a client
#            the 4th SOCKS CONNECT gets 05 01 while 3 downloads finish.
#            --max-udp 1: a second UDP ASSOCIATE gets 05 01 while the
#            first holds; once it ends a new one works.
#  netns     In the namespace: 169.254.1.1 on lo.  The default server
#            refuses it and 224.0.0.1; with --allow-private it is reached,
#            but the server's own port on that address is not.
#
# AR_PARTS="defaults open ..." runs some parts only.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
: "${LS_WORKERS:=1}"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"

OK=05000001000000000000
FAILREP=05010001000000000000
NOTALLOWED=05020001000000000000
PARTS=${AR_PARTS:-defaults open syntax socks cap netns}
PROBE="$LS_LIB/accessprobe.py"

want() {
	case " $PARTS " in
	*" $1 "*) return 0 ;;
	esac
	return 1
}

# ls_trap NAME BIND: a listener that must never be reached; sets TRAP.
ls_trap() {
	rm -f "$TMPD/$1.port"
	: >"$TMPD/$1.hits"
	ls_bg "$1" python3 "$PROBE" trap --bind "$2" \
	    --port-file "$TMPD/$1.port" --log "$TMPD/$1.hits"
	ls_wait_file "$TMPD/$1.port" 10 "$LAST_PID" "$1"
	TRAP=$(cat "$TMPD/$1.port")
	ls_say "$1: trap on $2 port $TRAP"
}

trap_clean() {
	[ ! -s "$TMPD/$1.hits" ] ||
	    fail "$2: the trap was reached: $(cat "$TMPD/$1.hits")"
}

# refused PROXYPORT TARGET WHAT [socks5.py options]: 05 02, then closed.
refused() {
	local proxy=$1 target=$2 what=$3 out c
	shift 3
	out=$(ls_socks5 --proxy "127.0.0.1:$proxy" --target "$target" \
	    --expect-close --timeout 20 "$@")
	ls_expect "$out" method 0500 "$what"
	ls_expect "$out" reply "$NOTALLOWED" "$what"
	c=$(ls_field "$out" closed)
	case $c in
	eof*|reset*) ;;
	*)	fail "$what: connection not closed after 05 02 ($c)" ;;
	esac
	ls_say "$what: 05 02"
}

# udp_dropped PROXYPORT TARGET WHAT: an association, 3 datagrams to
# TARGET (the echo server), none echoed, none reaching it.
udp_dropped() {
	local out rc=0 before after
	before=$(wc -l <"$TMPD/echo.dgrams" 2>/dev/null || echo 0)
	out=$(ls_udp echo --proxy "127.0.0.1:$1" --target "$2" --count 3 \
	    --min 16 --max 16 --retries 1 --rto 0.5 --timeout 20 \
	    2>"$TMPD/udp.err") || rc=$?
	case $(ls_field "$out" reply) in
	0500*) ;;
	*)	fail "$3: UDP ASSOCIATE reply '$(ls_field "$out" reply)'" ;;
	esac
	case $(ls_field "$out" summary) in
	"sent 3 ok 0 "*) ;;
	*)	printf '%s\n' "$out" >&2
		fail "$3: $(ls_field "$out" summary)" ;;
	esac
	after=$(wc -l <"$TMPD/echo.dgrams" 2>/dev/null || echo 0)
	[ "$before" = "$after" ] ||
	    fail "$3: $((after - before)) datagrams reached the echo server"
	ls_say "$3: association up, datagrams dropped"
}

# has_line OUTPUT LINE WHAT
has_line() {
	printf '%s\n' "$1" | grep -Fxq -- "$2" ||
	    { printf '%s\n' "--- output:" "$1" >&2; fail "$3: no line '$2'"; }
}

# log_has NAME ERE WHAT: process NAME logged a line matching ERE.
log_has() {
	grep -aqE -- "$2" "$TMPD/$1.log" || fail "$3: $1 logged no /$2/"
}

log_lacks() {
	! grep -aqE -- "$2" "$TMPD/$1.log" ||
	    fail "$3: $1 logged $(grep -aE -- "$2" "$TMPD/$1.log" | head -n 1)"
}

# stop NAME...: graceful stop (exit 0), then forget them.
stop() {
	local n
	for n in "$@"; do
		ls_stop "$n"
		[ "$LS_RC" = 0 ] || fail "$n: exit '$LS_RC' after SIGTERM"
		ls_drop_master "$n"
	done
}

HAVE6=0
ls_have_ipv6 && HAVE6=1

part_defaults() {
	local sws sc scf out
	LS_WORKERS=2 LS_SERVER_DEFAULTS=1 ls_start_server strict
	sws=$WS_PORT
	ls_start_client sc
	sc=$SOCKS_PORT
	ls_start_client scf -f
	scf=$SOCKS_PORT

	refused "$sc" "127.0.0.1:$TRAP" "default: 127.0.0.1"
	refused "$sc" "127.0.0.1:$TRAP" "default: 127.0.0.1 as a name" \
	    --atyp domain
	refused "$sc" "localhost:$TRAP" "default: localhost"
	refused "$sc" "0.0.0.0:$TRAP" "default: 0.0.0.0"
	refused "$sc" "127.0.0.1:$sws" "default: own WebSocket port"
	if [ "$HAVE6" = 1 ]; then
		refused "$sc" "[::1]:$TRAP" "default: ::1"
		refused "$sc" "[::ffff:127.0.0.1]:$TRAP" \
		    "default: ::ffff:127.0.0.1"
	fi
	log_has strict "destination 127\.0\.0\.1:$TRAP \(127\.0\.0\.1:$TRAP\) not allowed for .*: loopback address" \
	    "default: log"
	log_has strict "destination localhost:$TRAP \((127\.0\.0\.1|\[::1\]):$TRAP\) not allowed for .*: loopback address" \
	    "default: log of a name"
	log_has strict "destination 0\.0\.0\.0:$TRAP .*: unspecified address" \
	    "default: log of 0.0.0.0"
	log_has sc "remote connect failed: destination not allowed" \
	    "default: client log"

	# Fast open: success went first, so closing is all that is left.
	out=$(ls_socks5 --proxy "127.0.0.1:$scf" --target "127.0.0.1:$TRAP" \
	    --send-hex 474554202f20485454502f312e300d0a0d0a \
	    --expect-close --timeout 25)
	ls_expect "$out" reply "$OK" "default, fast open"
	case $(ls_field "$out" closed) in
	eof*" bytes 0"|reset*" bytes 0") ;;
	*)	fail "default, fast open: $(ls_field "$out" closed)" ;;
	esac
	ls_say "default, fast open: 05 00, then closed without data"

	# The raw protocol: the failure text, and the tunnel stays up.
	out=$(timeout 60 python3 "$PROBE" connect --port "$sws" \
	    --token "$LS_TOKEN" --target "127.0.0.1:$TRAP" \
	    --target "localhost:$TRAP" --target "127.0.0.1:$sws" \
	    --target "127.0.0.9:$TRAP")
	has_line "$out" "response 127.0.0.1:$TRAP 0 destination not allowed" \
	    "default, raw"
	has_line "$out" "response localhost:$TRAP 0 destination not allowed" \
	    "default, raw name"
	has_line "$out" "response 127.0.0.1:$sws 0 destination not allowed" \
	    "default, raw own port"
	has_line "$out" "response 127.0.0.9:$TRAP 0 destination not allowed" \
	    "default, raw 127.0.0.9"
	log_has strict "destination 127\.0\.0\.1:$sws .*: one of this process's own listening sockets" \
	    "default: own port log"
	log_lacks strict "connected to" "default: something was dialled"

	# UDP: the association opens, datagrams to loopback are dropped.
	udp_dropped "$sc" "127.0.0.1:$ECHO" "default: UDP to 127.0.0.1"
	log_has strict "udp [0-9a-f]+: dropping datagram \(destination not allowed: loopback address\)" \
	    "default: UDP log"
	trap_clean trap "default"
	stop scf sc strict
}

part_open() {
	local ows oc out
	ls_start_server open
	ows=$WS_PORT
	ls_start_client oc
	oc=$SOCKS_PORT
	ls_check_get "$oc" "http://127.0.0.1:$WEB/file?size=10000&seed=o1" \
	    "allow-private: 127.0.0.1"
	ls_check_get "$oc" "http://localhost:$WEB/file?size=10000&seed=o2" \
	    "allow-private: localhost"
	if [ "$HAVE6" = 1 ]; then
		ls_check_get "$oc" "http://[::1]:$WEB/file?size=10000&seed=o3" \
		    "allow-private: ::1"
		refused "$oc" "[::1]:$ows" "allow-private: own port on ::1"
	fi
	ls_say "allow-private: 127.0.0.1, localhost and ::1 reached"
	refused "$oc" "127.0.0.1:$ows" "allow-private: own WebSocket port"
	refused "$oc" "0.0.0.0:$ows" "allow-private: own port on 0.0.0.0"
	refused "$oc" "0.0.0.0:$TRAP" "allow-private: 0.0.0.0"
	stop oc open

	# A rule naming one loopback address and port opens that only.
	LS_SERVER_DEFAULTS=1 ls_start_server ruled --access-rule \
	    "127.0.0.1:$WEB"
	ls_start_client rc
	ls_check_get "$SOCKS_PORT" "http://127.0.0.1:$WEB/file?size=7777" \
	    "rule 127.0.0.1:$WEB"
	refused "$SOCKS_PORT" "127.0.0.1:$TRAP" "rule: another port"
	refused "$SOCKS_PORT" "127.0.0.2:$WEB" "rule: another address"
	log_has ruled "destination 127\.0\.0\.1:$TRAP .*: no access rule matches" \
	    "rule: log"
	stop rc ruled

	# The environment's rule names all of 127/8: not the server's port.
	LINKSOCKS_ACCESS_RULE="127.0.0.0/8" LS_SERVER_DEFAULTS=1 \
	    ls_start_server envr
	ls_start_client ec
	ls_check_get "$SOCKS_PORT" "http://127.0.0.1:$WEB/file?size=999" \
	    "LINKSOCKS_ACCESS_RULE 127.0.0.0/8"
	refused "$SOCKS_PORT" "127.0.0.1:$WS_PORT" \
	    "LINKSOCKS_ACCESS_RULE 127.0.0.0/8: own port"
	stop ec envr
	trap_clean trap "open"
}

# bad WHAT EXPECTED-STDERR ARGS...: exit 2 and exactly that message.
bad() {
	local what=$1 msg=$2 rc=0
	shift 2
	timeout 10 "$LINKSOCKS_BIN" "$@" >"$TMPD/bad.out" \
	    2>"$TMPD/bad.err" </dev/null || rc=$?
	[ "$rc" = 2 ] ||
	    fail "$what: exit $rc, expected 2: $(cat "$TMPD/bad.err")"
	[ "$(cat "$TMPD/bad.err")" = "$msg" ] ||
	    fail "$what: stderr '$(cat "$TMPD/bad.err")', expected '$msg'"
	ls_say "$what: exit 2, $msg"
}

part_syntax() {
	local s="server -H 127.0.0.1 -P 0 -t syntax-token --workers 1"
	bad "bad prefix" \
	    'linksocks: invalid access rule "10.0.0.0/33": invalid prefix length "33"' \
	    $s --access-rule 10.0.0.0/8:22 --access-rule 10.0.0.0/33
	bad "bad port" \
	    'linksocks: invalid access rule "[::1]:0": invalid port "0"' \
	    client -t x -u ws://127.0.0.1:9 -s 127.0.0.1 -p 0 \
	    --access-rule '[::1]:0'
	bad "bad address" \
	    'linksocks: invalid access rule "example.org:80": invalid address "example.org"' \
	    provider -t x -u ws://127.0.0.1:9 --access-rule example.org:80
	LINKSOCKS_ACCESS_RULE='10.0.0.0/8:22; 10.0.0.9-1' bad "bad range" \
	    'linksocks: invalid access rule "10.0.0.9-1" in LINKSOCKS_ACCESS_RULE: range "10.0.0.9-1" ends before it starts' \
	    $s
	bad "empty port" \
	    'linksocks: invalid access rule "*:": missing port after '"':'"' (* for any)' \
	    $s --access-rule '*:'
}

part_socks() {
	local out dials
	ls_start_server fwd
	ls_start_client guarded --access-rule "127.0.0.1:$WEB"
	ls_check_get "$SOCKS_PORT" "http://127.0.0.1:$WEB/file?size=4242" \
	    "client rule: 127.0.0.1:$WEB"
	dials=$(grep -caE "dial 127\.0\.0\.1:$WEB for" "$TMPD/fwd.log")
	[ "$dials" -ge 1 ] || fail "client rule: the server logs no dial"
	refused "$SOCKS_PORT" "127.0.0.1:$TRAP" "client rule: another port"
	refused "$SOCKS_PORT" "127.0.0.2:$WEB" "client rule: another address"
	refused "$SOCKS_PORT" "localhost:$TRAP" \
	    "client rule: a name on a port no rule allows"
	if [ "$HAVE6" = 1 ]; then
		refused "$SOCKS_PORT" "[::1]:$WEB" "client rule: ::1"
	fi
	log_has guarded "socks .*: destination 127\.0\.0\.1:$TRAP not allowed: no access rule matches" \
	    "client rule: log"
	udp_dropped "$SOCKS_PORT" "127.0.0.1:$ECHO" "client rule: UDP"
	log_has guarded "udp [0-9a-f]+: dropping datagram \(destination not allowed: no access rule matches\)" \
	    "client rule: UDP log"
	# None of them went on the tunnel.
	log_lacks fwd "dial [^ ]*:$TRAP for|dial 127\.0\.0\.2:|dial ::1:" \
	    "client rule: a refused request reached the server"
	trap_clean trap "client rule"
	stop guarded fwd
}

part_cap() {
	local out i pids p rc want got
	ls_start_server capped --max-channels 3
	out=$(timeout 90 python3 "$PROBE" cap --port "$WS_PORT" \
	    --token "$LS_TOKEN" --open 3)
	for i in 1 2 3; do
		has_line "$out" "open $i ok" "cap: channel $i"
	done
	has_line "$out" "extra 0 too many channels" "cap: the 4th"
	for i in 1 2 3; do
		has_line "$out" "echo $i ok" "cap: channel $i after the 4th"
	done
	has_line "$out" "reopen 1 -" "cap: a freed slot"
	has_line "$out" "reecho ok" "cap: the new channel"
	log_has capped "Connect for channel [0-9a-f]+ refused: too many channels" \
	    "cap: log"
	ls_say "cap: 3 open, the 4th refused, the 3 echo, a freed slot used"

	# Through a client: 3 slow downloads hold the slots.
	ls_start_client cc
	pids=
	for i in 1 2 3; do
		ls_socks5 --proxy "127.0.0.1:$SOCKS_PORT" \
		    --target "127.0.0.1:$WEB" --timeout 60 \
		    --http-get "/file?size=200000&seed=cap$i&rate=50000" \
		    >"$TMPD/cap$i.out" 2>&1 &
		pids="$pids $!"
		ls_register "$!" "slow$i"
	done
	ls_wait_log "$TMPD/capped.log" "connected to 127\.0\.0\.1:$WEB" 3 20 \
	    "$(ls_pid_of capped)" capped
	out=$(ls_socks5 --proxy "127.0.0.1:$SOCKS_PORT" \
	    --target "127.0.0.1:$WEB" --expect-close --timeout 20)
	ls_expect "$out" reply "$FAILREP" "cap: 4th SOCKS CONNECT"
	i=0
	for p in $pids; do
		i=$((i + 1))
		rc=0
		wait "$p" || rc=$?
		out=$(cat "$TMPD/cap$i.out")
		ls_expect "$out" http-status 200 "cap: download $i"
		want=$(ls_field "$out" header-sha256)
		got=$(ls_field "$out" body-sha256)
		[ "$want" = "$got" ] && [ "$(ls_field "$out" body-len)" = 200000 ] ||
		    fail "cap: download $i: $got != $want"
	done
	ls_say "cap: 4th SOCKS CONNECT 05 01, the 3 downloads complete"
	stop cc capped

	# --max-udp 1: a second association waits for the first to end.
	ls_start_server ucap --max-udp 1
	ls_start_client uc
	ls_udp hold --proxy "127.0.0.1:$SOCKS_PORT" --hold 6 \
	    >"$TMPD/hold.out" 2>&1 &
	p=$!
	ls_register "$p" hold
	ls_wait_log "$TMPD/ucap.log" "udp association for" 1 20 \
	    "$(ls_pid_of ucap)" ucap
	out=$(ls_udp hold --proxy "127.0.0.1:$SOCKS_PORT" 2>/dev/null)
	ls_expect "$out" reply "$FAILREP" "cap: a second UDP association"
	log_has ucap "refused: too many UDP associations" "cap: UDP log"
	wait "$p" || fail "cap: the first association: $(cat "$TMPD/hold.out")"
	case $(ls_field "$(cat "$TMPD/hold.out")" reply) in
	0500*) ;;
	*)	fail "cap: the first association: $(cat "$TMPD/hold.out")" ;;
	esac
	ls_wait_log "$TMPD/ucap.log" "association ended" 1 20 \
	    "$(ls_pid_of ucap)" ucap
	ls_udp_check "cap: UDP once the first ended" echo \
	    --proxy "127.0.0.1:$SOCKS_PORT" --target "127.0.0.1:$ECHO" \
	    --count 20 --max 1000
	ls_say "cap: --max-udp 1: the 2nd association 05 01, a freed one reused"
	stop uc ucap
}

# ---- inside the namespace ---------------------------------------------

netns_inside() {
	local nws out
	ip link set lo up 2>/dev/null &&
	    ip addr add 169.254.1.1/16 dev lo 2>/dev/null ||
	    ls_skip "cannot set up lo in the namespace"
	ls_trap ntrap 0.0.0.0
	ls_httpd nweb 0.0.0.0
	LS_SERVER_DEFAULTS=1 ls_start_server nstrict -H 0.0.0.0
	nws=$WS_PORT
	ls_start_client nsc
	refused "$SOCKS_PORT" "169.254.1.1:$TRAP" "netns default: 169.254.1.1"
	refused "$SOCKS_PORT" "224.0.0.1:$TRAP" "netns default: 224.0.0.1"
	refused "$SOCKS_PORT" "169.254.1.1:$nws" \
	    "netns default: own port on 169.254.1.1"
	out=$(timeout 60 python3 "$PROBE" connect --port "$nws" \
	    --token "$LS_TOKEN" --target "169.254.1.1:$TRAP")
	has_line "$out" "response 169.254.1.1:$TRAP 0 destination not allowed" \
	    "netns default, raw"
	log_has nstrict "destination 169\.254\.1\.1:$TRAP .*: link-local address" \
	    "netns default: log"
	log_has nstrict "destination 224\.0\.0\.1:$TRAP .*: multicast or broadcast address" \
	    "netns default: multicast log"

	ls_start_server nopen -H 0.0.0.0
	ls_start_client noc
	ls_check_get "$SOCKS_PORT" \
	    "http://169.254.1.1:$HTTP_PORT/file?size=5000&seed=ll" \
	    "netns allow-private: 169.254.1.1"
	refused "$SOCKS_PORT" "169.254.1.1:$WS_PORT" \
	    "netns allow-private: own port on 169.254.1.1"
	refused "$SOCKS_PORT" "224.0.0.1:$TRAP" \
	    "netns allow-private: 224.0.0.1"
	log_has nopen "destination 169\.254\.1\.1:$WS_PORT .*: one of this process's own listening sockets" \
	    "netns allow-private: own port log"
	trap_clean ntrap "netns"
}

part_netns() {
	local rc=0
	if ! command -v unshare >/dev/null 2>&1 ||
	    ! command -v ip >/dev/null 2>&1 ||
	    ! unshare -rn true 2>/dev/null; then
		ls_say "netns part SKIPPED: no unshare -rn or ip here"
		return 0
	fi
	timeout 300 unshare -rn bash "$0" --netns >"$TMPD/netns.out" 2>&1 ||
	    rc=$?
	case $rc in
	0)	sed 's/^/  netns: /' "$TMPD/netns.out" | grep -a ': PASS\|05 02\|reached' ;;
	77)	ls_say "netns part SKIPPED: $(tail -n 1 "$TMPD/netns.out")" ;;
	*)	cat "$TMPD/netns.out" >&2
		fail "netns part: exit $rc" ;;
	esac
}

if [ "${1:-}" = --netns ]; then
	LS_TEST=$LS_TEST-netns
	ls_init
	netns_inside
	ls_finish
fi

ls_init
if [ "$HAVE6" = 1 ]; then
	ls_httpd web dual
	ls_trap trap dual
else
	ls_httpd web 127.0.0.1
	ls_trap trap 127.0.0.1
fi
WEB=$HTTP_PORT
ls_udpecho echo 127.0.0.1
ECHO=$UDP_PORT
for p in defaults open syntax socks cap netns; do
	want "$p" || continue
	ls_say "---- $p"
	"part_$p"
done
ls_finish
