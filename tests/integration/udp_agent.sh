#!/bin/sh
# UDP ASSOCIATE in agent mode: server -r -c C, provider -t P, connector
# -t C (fast open off and -f).  The connector's SOCKS port relays through
# the server to the provider, which sends the datagrams on.  1,000
# datagrams of 1 to 65,497 bytes checked byte for byte, DNS, malformed
# datagrams, and the relay released when the control connection closes.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

ECHO_OPTS="--window 8 --rto 1 --retries 4 --timeout 120"

ls_udpecho echo4 127.0.0.1
E4=$UDP_PORT
ls_dnsd dns 127.0.0.1 --answer hello.test=192.0.2.7
DNS=$DNS_PORT

ls_start_rserver server -c "$LS_CTOKEN"
ls_start_provider prov
ls_start_connector plain
PLAIN=$SOCKS_PORT
ls_start_connector fast -f
FAST=$SOCKS_PORT

for mode in plain fast; do
	if [ "$mode" = plain ]; then port=$PLAIN; else port=$FAST; fi
	ls_udp_suite "$port" "$mode" "$E4" "$DNS"
	ls_say "$mode: agent UDP ASSOCIATE ok"
done

# Both connectors at once.
ls_udp echo --proxy "127.0.0.1:$PLAIN" --target "127.0.0.1:$E4" \
    --count 300 --min 1 --max 65497 --seed agent-par1 $ECHO_OPTS \
    >"$TMPD/par1.out" 2>&1 &
p1=$!
ls_register "$p1" udp-par1
ls_udp_check "concurrent: fast connector" echo --proxy "127.0.0.1:$FAST" \
    --target "127.0.0.1:$E4" --count 300 --min 1 --max 65497 \
    --seed agent-par2 $ECHO_OPTS
rc=0
wait "$p1" || rc=$?
[ "$rc" -eq 0 ] || { cat "$TMPD/par1.out" >&2;
    fail "concurrent: plain connector exit $rc: $(ls_field "$(cat "$TMPD/par1.out")" summary)"; }
ls_say "concurrent: both connectors ok"

ls_finish
