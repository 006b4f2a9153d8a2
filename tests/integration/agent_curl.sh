#!/bin/sh
# Agent mode: server -r -t P -c C, provider -t P, connector -t C.  curl
# through the connector's SOCKS port, connector fast open off and on,
# early data (fast open must not drop it, P-6), and a connector using the
# token the server generated when started without -c.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

OK=05000001000000000000

ls_httpd web 127.0.0.1
WEB=$HTTP_PORT
ls_start_rserver server -c "$LS_CTOKEN"
ls_start_provider prov
ls_start_connector plain
PLAIN=$SOCKS_PORT
ls_start_connector fast -f
FAST=$SOCKS_PORT
grep -qaE 'Connector Token: [0-9a-f]{16}' "$TMPD/server.log" &&
    fail "server started with -c logged a generated connector token"

for mode in plain fast; do
	if [ "$mode" = plain ]; then port=$PLAIN; else port=$FAST; fi
	d0=$(ls_dials prov "$WEB")
	nconn=0
	for size in 0 1 1000 65536 65537 1048579 5000000; do
		ls_check_get "$port" \
		    "http://127.0.0.1:$WEB/file?size=$size&seed=$mode$size" \
		    "$mode size $size"
		nconn=$((nconn + 1))
	done
	ls_say "$mode: single downloads ok"

	rc=0
	ls_curl "$port" -o "$TMPD/a" -o "$TMPD/b" -o "$TMPD/c" \
	    "http://127.0.0.1:$WEB/file?size=100&seed=a" \
	    "http://127.0.0.1:$WEB/file?size=200000&seed=b" \
	    "http://127.0.0.1:$WEB/hello" 2>"$TMPD/curl.err" || rc=$?
	[ "$rc" -eq 0 ] || fail "$mode keep-alive: curl exit $rc: $(cat "$TMPD/curl.err")"
	nconn=$((nconn + 1))
	want=$(python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import httpd; print(httpd.content_sha256(100, "a"), httpd.content_sha256(200000, "b"))' "$LS_LIB")
	got="$(sha256sum <"$TMPD/a" | cut -d' ' -f1) $(sha256sum <"$TMPD/b" | cut -d' ' -f1)"
	[ "$got" = "$want" ] || fail "$mode keep-alive: sha256 '$got' != '$want'"
	[ "$(cat "$TMPD/c")" = hello ] || fail "$mode keep-alive: /hello gave '$(cat "$TMPD/c")'"

	pids=
	for i in $(seq 1 20); do
		ls_curl "$port" -o "$TMPD/p$i" -D "$TMPD/p$i.h" \
		    "http://127.0.0.1:$WEB/file?size=$((i * 7919))&seed=p$i" \
		    2>"$TMPD/p$i.err" &
		pids="$pids $!"
		ls_register "$!" "curl-p$i"
	done
	i=0
	for p in $pids; do
		i=$((i + 1))
		rc=0
		wait "$p" || rc=$?
		[ "$rc" -eq 0 ] || fail "$mode parallel #$i: curl exit $rc: $(cat "$TMPD/p$i.err")"
		want=$(ls_header "$TMPD/p$i.h" X-Content-SHA256)
		got=$(sha256sum <"$TMPD/p$i" | cut -d' ' -f1)
		[ -n "$want" ] && [ "$got" = "$want" ] ||
		    fail "$mode parallel #$i: sha256 $got != '$want'"
	done
	nconn=$((nconn + 20))
	ls_say "$mode: keep-alive and 20 parallel downloads ok"

	# Early data right after the CONNECT request (the agent-mode race
	# of the reference, P-6, drops it).
	for i in $(seq 1 25); do
		size=$((i * 1031))
		out=$(ls_socks5 --proxy "127.0.0.1:$port" --pipeline \
		    --target "127.0.0.1:$WEB" --http-get "/file?size=$size&seed=e$i")
		ls_expect "$out" method 0500 "$mode early GET #$i"
		ls_expect "$out" reply "$OK" "$mode early GET #$i"
		ls_expect "$out" http-status 200 "$mode early GET #$i"
		ls_expect "$out" body-len "$size" "$mode early GET #$i"
		ls_expect "$out" header-sha256 "$(ls_field "$out" body-sha256)" \
		    "$mode early GET #$i"
	done
	for n in 1 2000000; do
		out=$(ls_socks5 --proxy "127.0.0.1:$port" --pipeline \
		    --target "127.0.0.1:$WEB" --upload "$n")
		ls_expect "$out" reply "$OK" "$mode early upload $n"
		ls_expect "$out" http-status 200 "$mode early upload $n"
		ls_expect "$out" header-sha256 "$(ls_field "$out" sent-sha256)" \
		    "$mode early upload $n"
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
