#!/bin/sh
# UDP ASSOCIATE in forward mode (client -> server), fast open off and on:
# 1,000 datagrams of 1 to 65,497 bytes (the largest payload an IPv4 relay
# hop carries under a 10-byte header) to an IPv4 echo server, 300 to an
# IPv6 echo server (ATYP 4), 200 by name (localhost, ATYP 3), each echo
# checked byte for byte with its SOCKS header; DNS through the
# association; malformed datagrams dropped without harm; datagrams from
# another source port refused; the relay port (and the server's UDP
# socket) released when the control connection closes; concurrent
# associations; RFC 1929 credentials before UDP ASSOCIATE.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

if ls_have_ipv6; then
	V6=yes
else
	V6=no
	ls_say "note: ::1 unusable, the IPv6 echo part is skipped"
fi

ls_udpecho echo4 127.0.0.1
E4=$UDP_PORT
if [ "$V6" = yes ]; then
	ls_udpecho echo6 ::1
	E6=$UDP_PORT
	ls_udpecho echodual dual
	ED=$UDP_PORT
else
	ED=$E4
fi
ls_dnsd dns 127.0.0.1 --answer hello.test=192.0.2.7 \
    --answer other.test=198.51.100.9
DNS=$DNS_PORT

ls_start_forward
ls_start_client auth -n alice -w 's3cret pw'
AUTH=$SOCKS_PORT

for mode in plain fast; do
	if [ "$mode" = plain ]; then port=$PLAIN; else port=$FAST; fi
	P="--proxy 127.0.0.1:$port"

	# 1,000 datagrams to 127.0.0.1 (ATYP 1) and the reply on a 127.0.0.1
	# listener, DNS A and NXDOMAIN, malformed datagrams, the relay and
	# the server's UDP socket released on close.
	ls_udp_suite "$port" "$mode" "$E4" "$DNS"

	if [ "$V6" = yes ]; then
		# 65,485 = 65,507 - 22-byte header (ATYP 4).
		ls_udp_check "$mode: 300 datagrams to [::1] (ATYP 4)" \
		    echo $P --target "[::1]:$E6" --count 300 --min 1 \
		    --max 65485 --seed "$mode-v6" $ECHO_OPTS
	fi
	# 65,491 = 65,507 - 16-byte header (ATYP 3, "localhost").  The
	# dual-stack echo server answers whichever address the server
	# picks; replies must name that address (not the name).
	ls_udp_check "$mode: 200 datagrams to localhost (ATYP 3)" \
	    echo $P --target "localhost:$ED" --count 200 --min 1 \
	    --max 65491 --seed "$mode-name" $ECHO_OPTS

	ls_udp_check "$mode: DNS A other.test" dns $P \
	    --target "127.0.0.1:$DNS" --name other.test --expect 198.51.100.9

	ls_udp_check "$mode: malformed datagrams, name target" malformed $P \
	    --target "localhost:$ED" --timeout 60
	# Dropped datagrams are counted: the ended association logs how
	# many of each kind (client -d).
	ls_wait_log "$TMPD/$mode.log" \
	    'association ended: .*dropped .*[0-9]+ malformed.*[0-9]+ fragment' \
	    1 10 "$(ls_pid_of "$mode")" "$mode"

	# The relay latches the first source port (DST 0.0.0.0:0).
	ls_udp_check "$mode: foreign source port" foreign $P \
	    --target "127.0.0.1:$E4" --timeout 60
	ls_say "$mode: UDP ASSOCIATE ok"
done

# Concurrent associations, on both clients at once; each must get its
# own relay and only its own echoes.
pids=
i=0
for port in $PLAIN $PLAIN $FAST $FAST; do
	i=$((i + 1))
	ls_udp_bg "par$i" echo --proxy "127.0.0.1:$port" --target "127.0.0.1:$E4" \
	    --count 250 --min 1 --max 65497 --seed "par$i" $ECHO_OPTS
	pids="$pids $LAST_PID"
done
i=0
for p in $pids; do
	i=$((i + 1))
	ls_udp_wait "$p" "par$i" "concurrent association #$i"
done
relays=$(for i in 1 2 3 4; do ls_field "$(cat "$TMPD/par$i.out")" relay; done |
    sort -u | wc -l)
[ "$relays" -eq 4 ] || fail "4 concurrent associations shared relays ($relays distinct)"
ls_say "4 concurrent associations ok"

# Many short associations one after another: each relay port must go.
for i in $(seq 1 10); do
	ls_udp_check "short association #$i" close-check \
	    --proxy "127.0.0.1:$PLAIN" --target "127.0.0.1:$E4" \
	    --gone-timeout 5 --timeout 30 >/dev/null
done
ls_say "10 short associations opened and released"

# RFC 1929 credentials, then UDP ASSOCIATE.
ls_udp_check "credentials" echo --proxy "127.0.0.1:$AUTH" \
    --user alice --password 's3cret pw' --target "127.0.0.1:$E4" \
    --count 100 --min 1 --max 65497 --seed auth $ECHO_OPTS
[ "$(ls_field "$UDP_OUT" auth)" = 0100 ] || fail "credentials: auth reply '$(ls_field "$UDP_OUT" auth)'"
rc=0
out=$(ls_udp hold --proxy "127.0.0.1:$AUTH" --user alice --password nope \
    --timeout 15) || rc=$?
[ "$rc" -eq 2 ] && [ "$(ls_field "$out" auth)" = 0101 ] ||
    { printf '%s\n' "$out" >&2; fail "wrong password: exit $rc, expected 2 with auth 0101"; }
ls_say "credentials: UDP ASSOCIATE after RFC 1929 ok, wrong password refused"

# DST.ADDR:DST.PORT in the request name the client's UDP socket: the
# relay takes datagrams from that port only (a foreign socket sending
# first is not latched) and sends the replies to it.
for mode in plain fast; do
	if [ "$mode" = plain ]; then port=$PLAIN; else port=$FAST; fi
	ls_udp_check "$mode: declared client port" foreign \
	    --proxy "127.0.0.1:$port" --declare --target "127.0.0.1:$E4" \
	    --timeout 60
	ls_udp_check "$mode: declared client port, echo" echo \
	    --proxy "127.0.0.1:$port" --declare --target "127.0.0.1:$E4" \
	    --count 50 --min 1 --max 65497 --seed "$mode-decl" $ECHO_OPTS
done

ls_finish
