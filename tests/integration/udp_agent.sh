#!/bin/sh
# UDP ASSOCIATE in agent mode: server -r -c C, provider -t P, connector
# -t C (fast open off and -f).  The connector's SOCKS port relays through
# the server to the provider, which sends the datagrams on.  1,000
# datagrams of 1 to 65,497 bytes checked byte for byte, DNS, malformed
# datagrams, and the relay released when the control connection closes.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

ls_udpecho echo4 127.0.0.1
E4=$UDP_PORT
ls_dnsd dns 127.0.0.1 --answer hello.test=192.0.2.7
DNS=$DNS_PORT

ls_start_agent

for mode in plain fast; do
	if [ "$mode" = plain ]; then port=$PLAIN; else port=$FAST; fi
	ls_udp_suite "$port" "$mode" "$E4" "$DNS"
	ls_say "$mode: agent UDP ASSOCIATE ok"
done

# Both connectors at once.
ls_udp_bg par1 echo --proxy "127.0.0.1:$PLAIN" --target "127.0.0.1:$E4" \
    --count 300 --min 1 --max 65497 --seed agent-par1 $ECHO_OPTS
p1=$LAST_PID
ls_udp_check "concurrent: fast connector" echo --proxy "127.0.0.1:$FAST" \
    --target "127.0.0.1:$E4" --count 300 --min 1 --max 65497 \
    --seed agent-par2 $ECHO_OPTS
ls_udp_wait "$p1" par1 "concurrent: plain connector"
ls_say "concurrent: both connectors ok"

ls_finish
