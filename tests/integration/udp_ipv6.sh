#!/bin/sh
# UDP ASSOCIATE and the relay's address: a SOCKS listener on ::1 answers
# ATYP 4 BND.ADDR ::1 and relays datagrams of up to 65,507 bytes (they
# fit because the relay hop is IPv6); a listener on 0.0.0.0 reached via
# 127.0.0.2 answers BND.ADDR 127.0.0.2 and its datagrams come from
# there; a listener on :: reached via ::1 answers ::1 and, if it is
# dual-stack, via 127.0.0.1 answers ATYP 1 127.0.0.1 (not a v4-mapped
# ATYP 4).  Fast open off and on.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

ls_have_ipv6 || ls_skip "no IPv6 loopback"
LOOP6=00000000000000000000000000000001

ls_udpecho echo4 127.0.0.1
E4=$UDP_PORT
ls_udpecho echo6 ::1
E6=$UDP_PORT

ls_start_server server		# WebSocket on 127.0.0.1
LS_HOST=::1
ls_start_client plain6
PLAIN6=$SOCKS_PORT
ls_start_client fast6 -f
FAST6=$SOCKS_PORT

for mode in plain fast; do
	if [ "$mode" = plain ]; then port=$PLAIN6; else port=$FAST6; fi
	P="--proxy [::1]:$port"
	# 65,507 + 10-byte header = 65,517 <= 65,527 on the IPv6 hop.
	ls_udp_check "$mode: ::1 listener, 300 datagrams to 127.0.0.1" \
	    echo $P --target "127.0.0.1:$E4" --count 300 --min 1 \
	    --max 65507 --seed "$mode-6to4" $ECHO_OPTS
	ls_udp_reply_check "$UDP_OUT" "05000004$LOOP6" \
	    "$mode: UDP ASSOCIATE reply on a ::1 listener"
	case $(ls_field "$UDP_OUT" udp-local) in
	"::1 "*) ;;
	*)	fail "$mode: the client's UDP socket is not on ::1: $(ls_field "$UDP_OUT" udp-local)" ;;
	esac
	# 65,505 = 65,527 - 22-byte header (ATYP 4).
	ls_udp_check "$mode: ::1 listener, 100 datagrams to [::1]" \
	    echo $P --target "[::1]:$E6" --count 100 --min 1 \
	    --max 65505 --seed "$mode-6to6" $ECHO_OPTS
	ls_udp_check "$mode: ::1 listener, malformed datagrams" malformed \
	    $P --target "[::1]:$E6" --timeout 60
	ls_udp_check "$mode: ::1 listener, relay released on close" \
	    close-check $P --target "127.0.0.1:$E4" --gone-timeout 5 \
	    --timeout 60
done

# A listener on 0.0.0.0 reached via 127.0.0.2: BND.ADDR is the address
# the control connection reached, and datagrams come back from it (the
# tool checks every reply's source against BND.ADDR:BND.PORT).
if python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.2", 0))' 2>/dev/null; then
	LS_HOST=0.0.0.0
	ls_start_client any4
	ANY4=$SOCKS_PORT
	ls_udp_check "0.0.0.0 listener via 127.0.0.2" echo \
	    --proxy "127.0.0.2:$ANY4" --target "127.0.0.1:$E4" --count 100 \
	    --min 1 --max 65497 --seed any4 $ECHO_OPTS
	ls_udp_reply_check "$UDP_OUT" 050000017f000002 \
	    "UDP ASSOCIATE reply on 0.0.0.0 reached via 127.0.0.2"
	ls_udp_check "0.0.0.0 listener via 127.0.0.1" echo \
	    --proxy "127.0.0.1:$ANY4" --target "127.0.0.1:$E4" --count 20 \
	    --min 1 --max 2000 --seed any4b $ECHO_OPTS
	ls_udp_reply_check "$UDP_OUT" 050000017f000001 \
	    "UDP ASSOCIATE reply on 0.0.0.0 reached via 127.0.0.1"
else
	ls_say "note: 127.0.0.2 unusable, the 0.0.0.0 part is skipped"
fi

# A listener on :: reached via ::1, and via 127.0.0.1 if it is
# dual-stack (then BND.ADDR must be ATYP 1, not ::ffff:127.0.0.1).
LS_HOST=::
ls_start_client any6
ANY6=$SOCKS_PORT
ls_udp_check ":: listener via ::1" echo --proxy "[::1]:$ANY6" \
    --target "127.0.0.1:$E4" --count 50 --min 1 --max 65507 \
    --seed any6 $ECHO_OPTS
ls_udp_reply_check "$UDP_OUT" "05000004$LOOP6" \
    "UDP ASSOCIATE reply on :: reached via ::1"
if ls_connect 127.0.0.1 "$ANY6"; then
	ls_udp_check ":: listener via 127.0.0.1" echo \
	    --proxy "127.0.0.1:$ANY6" --target "127.0.0.1:$E4" --count 50 \
	    --min 1 --max 65497 --seed any6b $ECHO_OPTS
	ls_udp_reply_check "$UDP_OUT" 050000017f000001 \
	    "UDP ASSOCIATE reply on :: reached via 127.0.0.1"
else
	ls_say "note: the :: listener is IPv6-only, no IPv4 check"
fi

ls_finish
