#!/bin/sh
# Agent mode: server -r -t P -c C, provider -t P, connector -t C.  curl
# through the connector's SOCKS port, connector fast open off and on,
# early data (fast open must not drop it, P-6), and a connector using the
# token the server generated when started without -c.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

ls_web
ls_start_agent
grep -qaE 'Connector Token: [0-9a-f]{16}' "$TMPD/server.log" &&
    fail "server started with -c logged a generated connector token"

for mode in plain fast; do
	if [ "$mode" = plain ]; then port=$PLAIN; else port=$FAST; fi
	d0=$(ls_dials prov "$WEB")
	nconn=0
	ls_curl_suite "$port" "$mode"
	nconn=$((nconn + 28))

	# Early data right after the CONNECT request (the agent-mode race
	# of the reference, P-6, drops it).
	ls_early_gets "$port" "$mode" 25 1031
	for n in 1 2000000; do
		ls_early_upload "$port" "$n" "$mode early upload $n"
	done
	nconn=$((nconn + 27))
	ls_say "$mode: early data delivered intact"

	sleep 0.3
	d1=$(ls_dials prov "$WEB")
	[ $((d1 - d0)) -ge "$nconn" ] ||
	    fail "$mode: provider logged $((d1 - d0)) 'channel <id> dial 127.0.0.1:$WEB' lines for $nconn connections"
done

# Without -c (and without -a) the server generates a connector token.
ls_start_rserver gen
ls_server_ctoken gen
ls_say "generated connector token $GEN_CTOKEN"
ls_start_provider pgen
LS_CONNECTOR_TOKEN=$GEN_CTOKEN ls_start_connector cgen
ls_check_get "$SOCKS_PORT" "http://127.0.0.1:$WEB/file?size=300000&seed=gen" \
    "connector with the generated token"
[ "$(ls_dials pgen "$WEB")" -ge 1 ] ||
    fail "generated token: the provider logged no dial"

ls_finish
