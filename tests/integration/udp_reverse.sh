#!/bin/sh
# UDP ASSOCIATE in reverse mode: the server's SOCKS port (server -r, fast
# open off and -f) relays through a provider, which sends the datagrams
# to their targets.  1,000 datagrams of 1 to 65,497 bytes to an IPv4 echo
# server and 200 by name, checked byte for byte; DNS; malformed
# datagrams; foreign source ports; the relay and the provider's UDP
# socket released when the control connection closes.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

ls_udpecho echo4 127.0.0.1
E4=$UDP_PORT
# By name: a dual-stack echo server answers whichever address of
# "localhost" the provider picks (replies must name that address).
if ls_have_ipv6; then
	ls_udpecho echodual dual
	ED=$UDP_PORT
else
	ED=$E4
fi
ls_dnsd dns 127.0.0.1 --answer hello.test=192.0.2.7
DNS=$DNS_PORT

ls_start_reverse

for mode in plain fast; do
	if [ "$mode" = plain ]; then port=$PLAIN; else port=$FAST; fi
	P="--proxy 127.0.0.1:$port"

	ls_udp_suite "$port" "$mode" "$E4" "$DNS"
	ls_udp_check "$mode: 200 datagrams to localhost (ATYP 3)" echo $P \
	    --target "localhost:$ED" --count 200 --min 1 --max 65491 \
	    --seed "rev-name-$mode" $ECHO_OPTS
	ls_udp_check "$mode: foreign source port" foreign $P \
	    --target "127.0.0.1:$E4" --timeout 60
	ls_say "$mode: reverse UDP ASSOCIATE ok"
done

ls_finish
