#!/bin/sh
# Autonomy mode: server -r -a -t A (no SOCKS port).  provider1 -c CA and
# provider2 -c CB; connector CA reaches only provider1, connector CB only
# provider2 (checked in the providers' dial lines).  A provider cannot
# take another's connector token (add: "connector token already exists",
# exit non-zero; remove over the raw protocol: ConnectorResponse with
# success 0), and connector CA keeps working afterwards.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

OK=05000001000000000000
A=$LS_PTOKEN
CA=ca-$$
CB=cb-$$
HELLO=$(printf 'hello\n' | sha256sum | cut -d' ' -f1)

ls_httpd weba 127.0.0.1
WEBA=$HTTP_PORT
ls_httpd webb 127.0.0.1
WEBB=$HTTP_PORT

ls_start_aserver server
ls_start_provider p1 -c "$CA"
ls_wait_log "$TMPD/p1.log" "connector token $CA added" 1 10 "$PROVIDER_PID" p1
ls_start_provider p2 -c "$CB"
ls_wait_log "$TMPD/p2.log" "connector token $CB added" 1 10 "$PROVIDER_PID" p2

[ -z "$(ls_port_of "$TMPD/server.port" socks)" ] ||
    fail "autonomy server wrote a socks port: $(cat "$TMPD/server.port")"
grep -qa 'Connector Token:' "$TMPD/server.log" &&
    fail "autonomy server logged a generated connector token"

LS_CONNECTOR_TOKEN=$CA ls_start_connector ca
SCA=$SOCKS_PORT
LS_CONNECTOR_TOKEN=$CB ls_start_connector cb
SCB=$SOCKS_PORT

# traffic PORT WEB WHAT: 10 curl downloads and 20 raw GETs.
traffic() {
	local i out
	for i in $(seq 1 10); do
		ls_check_get "$1" "http://127.0.0.1:$2/file?size=$((i * 10007))&seed=$3$i" \
		    "$3 #$i"
	done
	out=$(timeout 120 python3 "$LS_LIB/socksloop.py" --proxy "127.0.0.1:$1" \
	    --target "127.0.0.1:$2" --count 20)
	case $out in
	*"summary ok 20 fail 0"*) ;;
	*)	printf '%s\n' "$out" >&2
		fail "$3: raw GETs failed" ;;
	esac
}

# isolation WHAT NA NB: every dial to WEBA by provider1, every dial to WEBB by
# provider2.
isolation() {
	local a1 a2 b1 b2
	sleep 0.3
	a1=$(ls_dials p1 "$WEBA"); a2=$(ls_dials p2 "$WEBA")
	b1=$(ls_dials p1 "$WEBB"); b2=$(ls_dials p2 "$WEBB")
	ls_say "$1: dials to A's target: p1 $a1 p2 $a2; to B's target: p1 $b1 p2 $b2"
	[ "$a2" -eq 0 ] || fail "$1: connector $CA traffic reached provider2 ($a2 dials)"
	[ "$b1" -eq 0 ] || fail "$1: connector $CB traffic reached provider1 ($b1 dials)"
	[ "$a1" -ge "$2" ] || fail "$1: provider1 logged $a1 dials for $2 connections via $CA"
	[ "$b2" -ge "$3" ] || fail "$1: provider2 logged $b2 dials for $3 connections via $CB"
}

traffic "$SCA" "$WEBA" viaCA
traffic "$SCB" "$WEBB" viaCB
isolation "first round" 30 30
ls_say "connectors reach only their own provider"

# provider2 cannot add CA.
rc=0
timeout 20 "$LINKSOCKS_BIN" provider -t "$A" -u "ws://127.0.0.1:$WS_PORT" \
    --workers 1 -c "$CA" >"$TMPD/p2dup.out" 2>"$TMPD/p2dup.log" </dev/null || rc=$?
[ "$rc" -ne 0 ] || fail "provider adding the taken token $CA exited 0"
[ "$rc" -ne 124 ] || fail "provider adding the taken token $CA still running after 20 s"
grep -qa "connector token already exists" "$TMPD/p2dup.log" ||
    fail "provider adding the taken token $CA: no 'connector token already exists' on stderr"
ls_say "second provider adding $CA: exit $rc, refused"

# Raw protocol: a provider connection authenticated with A cannot remove
# CA (nor CB); it can add and remove a token of its own.
RAW=raw-$$
out=$(timeout 60 python3 "$LS_LIB/lsws.py" --host 127.0.0.1 --port "$WS_PORT" \
    --token "$A" --reverse --connector "remove:$CA" --connector "remove:$CB" \
    --connector "add:$RAW" --connector "remove:$RAW")
printf '%s\n' "$out" | sed 's/^/    lsws: /'
ls_expect "$out" http 101 "raw provider"
ls_expect "$out" auth 010201 "raw provider"
for n in 1 2; do
	ls_expect "$out" "c$n.id" same "raw remove of another's token ($n)"
	ls_expect "$out" "c$n.success" 0 "raw remove of another's token ($n)"
	ls_expect "$out" "c$n.wellformed" yes "raw remove of another's token ($n)"
	[ -n "$(ls_field "$out" "c$n.text")" ] ||
	    fail "raw remove of another's token ($n): empty error text"
	case $(ls_field "$out" "c$n.hex") in
	0108*) ;;
	*)	fail "raw remove ($n): reply does not start 01 08" ;;
	esac
done
RAWHEX=$(printf '%s' "$RAW" | od -An -tx1 | tr -d ' \n')
RAWLEN=$(printf '%02x' "${#RAW}")
ls_expect "$out" c3.success 1 "raw add of a new token"
ls_expect "$out" c3.id same "raw add of a new token"
ls_expect "$out" c3.text "$RAW" "raw add of a new token"
case $(ls_field "$out" c3.hex) in
0108????????????????????????????????01$RAWLEN$RAWHEX) ;;
*)	fail "raw add: reply $(ls_field "$out" c3.hex), want 0108<id>01$RAWLEN$RAWHEX" ;;
esac
ls_expect "$out" c4.success 1 "raw remove of its own token"
ls_expect "$out" c4.id same "raw remove of its own token"
[ "$(ls_field "$out" c4.hex | wc -c)" -eq 39 ] ||
    fail "raw remove of its own token: reply $(ls_field "$out" c4.hex) is not 19 bytes"

# A connector connection cannot remove a connector token either.
out=$(timeout 60 python3 "$LS_LIB/lsws.py" --host 127.0.0.1 --port "$WS_PORT" \
    --token "$CA" --connector "remove:$CA" --timeout 3)
printf '%s\n' "$out" | sed 's/^/    lsws as connector: /'
ls_expect "$out" auth 010201 "raw connector"
[ "$(ls_field "$out" c1.success)" != 1 ] ||
    fail "a connector connection removed connector token $CA"

# Both connectors still work and stay isolated.
sleep 0.5
traffic "$SCA" "$WEBA" afterCA
traffic "$SCB" "$WEBB" afterCB
isolation "after the takeover attempts" 60 60
out=$(ls_socks5 --proxy "127.0.0.1:$SCA" --pipeline --target "127.0.0.1:$WEBA" \
    --http-get /hello)
ls_expect "$out" reply "$OK" "early data via $CA"
ls_expect "$out" body-sha256 "$HELLO" "early data via $CA"

# A new connector with CA (after the attempts) still reaches provider1.
LS_CONNECTOR_TOKEN=$CA ls_start_connector ca2 -f
traffic "$SOCKS_PORT" "$WEBA" newCA
isolation "new connector $CA" 91 60

# A connector with an unknown token is refused.
rc=0
timeout 20 "$LINKSOCKS_BIN" connector -t "nosuch-$$" -u "ws://127.0.0.1:$WS_PORT" \
    -p 0 --port-file "$TMPD/bad.port" --workers 1 \
    >"$TMPD/badconn.out" 2>"$TMPD/badconn.log" </dev/null || rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] ||
    fail "connector with an unknown token: exit $rc (124 = still running)"
grep -qa "authentication failed" "$TMPD/badconn.log" ||
    fail "connector with an unknown token: no 'authentication failed'"

ls_finish
