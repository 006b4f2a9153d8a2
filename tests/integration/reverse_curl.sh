#!/bin/sh
# Reverse mode: server -r with one provider; curl --socks5-hostname
# through the server's SOCKS port to a local HTTP server, fast open off
# (-f absent) and on (server -f), early data, and RFC 1929 credentials on
# the server's SOCKS port (-n/-w).  Every target connection must be
# dialled by the provider.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

OK=05000001000000000000
HELLO=$(printf 'hello\n' | sha256sum | cut -d' ' -f1)

ls_httpd web 127.0.0.1
WEB=$HTTP_PORT

ls_start_rserver plain
ls_start_provider pplain
ls_rsocks_port plain
PLAIN=$RSOCKS_PORT
ls_server_ctoken plain
ls_say "plain server generated connector token $GEN_CTOKEN"

ls_start_rserver fast -f
ls_start_provider pfast
ls_rsocks_port fast
FAST=$RSOCKS_PORT

ls_start_rserver auth -n alice -w 's3cret pw'
ls_start_provider pauth
ls_rsocks_port auth
AUTH=$RSOCKS_PORT

for mode in plain fast; do
	if [ "$mode" = plain ]; then port=$PLAIN; else port=$FAST; fi
	d0=$(ls_dials "p$mode" "$WEB")
	nconn=0
	for size in 0 1 1000 65536 65537 1048579 5000000; do
		ls_check_get "$port" \
		    "http://127.0.0.1:$WEB/file?size=$size&seed=$mode$size" \
		    "$mode size $size"
		nconn=$((nconn + 1))
	done
	ls_say "$mode: single downloads ok"

	# Several requests on one kept-alive connection.
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

	# 20 parallel small downloads.
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

	# Early data: greeting, CONNECT and the GET in one write.
	for i in $(seq 1 10); do
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
	out=$(ls_socks5 --proxy "127.0.0.1:$port" --pipeline \
	    --target "127.0.0.1:$WEB" --upload 2000000)
	ls_expect "$out" reply "$OK" "$mode early upload"
	ls_expect "$out" http-status 200 "$mode early upload"
	ls_expect "$out" header-sha256 "$(ls_field "$out" sent-sha256)" "$mode early upload"
	nconn=$((nconn + 11))
	ls_say "$mode: early data delivered intact"

	sleep 0.3
	d1=$(ls_dials "p$mode" "$WEB")
	[ $((d1 - d0)) -ge "$nconn" ] ||
	    fail "$mode: provider logged $((d1 - d0)) 'channel <id> dial 127.0.0.1:$WEB' lines for $nconn connections"
done

# Credentials on the server's SOCKS port.
s5() {
	ls_socks5 --proxy "127.0.0.1:$AUTH" --timeout 15 "$@"
}
out=$(s5 --auth 'alice:s3cret pw' --target "127.0.0.1:$WEB" --http-get /hello)
ls_expect "$out" method 0502 "auth ok"
ls_expect "$out" auth 0100 "auth ok"
ls_expect "$out" reply "$OK" "auth ok"
ls_expect "$out" http-status 200 "auth ok"
ls_expect "$out" body-sha256 "$HELLO" "auth ok"
out=$(s5 --pipeline --auth 'alice:s3cret pw' --target "127.0.0.1:$WEB" --http-get /hello)
ls_expect "$out" auth 0100 "auth pipelined"
ls_expect "$out" reply "$OK" "auth pipelined"
ls_expect "$out" body-sha256 "$HELLO" "auth pipelined"
for cred in 'alice:wrong' 'bob:s3cret pw' 'alice:s3cret' ':'; do
	out=$(s5 --auth "$cred" --target "127.0.0.1:$WEB" --http-get /hello)
	ls_expect "$out" method 0502 "bad credentials '$cred'"
	ls_expect "$out" auth 0101 "bad credentials '$cred'"
	[ -z "$(ls_field "$out" reply)" ] || fail "bad credentials '$cred': got a reply"
	case $(ls_field "$out" closed) in
	eof*|reset*) ;;
	*)	printf '%s\n' "$out" >&2
		fail "bad credentials '$cred': connection not closed" ;;
	esac
done
out=$(s5 --greeting 050100 --target "127.0.0.1:$WEB")
ls_expect "$out" method 05ff "auth required, only method 00 offered"
rc=0
ls_curl "$AUTH" -o "$TMPD/h" --proxy-user 'alice:s3cret pw' \
    "http://127.0.0.1:$WEB/hello" 2>"$TMPD/curl.err" || rc=$?
[ "$rc" -eq 0 ] && [ "$(cat "$TMPD/h")" = hello ] ||
    fail "curl with credentials: exit $rc: $(cat "$TMPD/curl.err")"
rc=0
ls_curl "$AUTH" -o "$TMPD/h" --proxy-user 'alice:nope' \
    "http://127.0.0.1:$WEB/hello" 2>/dev/null || rc=$?
[ "$rc" -ne 0 ] || fail "curl with a wrong password succeeded"
ls_say "credentials: right ones work, wrong ones get 01 01"

ls_finish
