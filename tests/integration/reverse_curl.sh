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

ls_web

ls_start_rsocks plain
PLAIN=$RSOCKS_PORT
ls_server_ctoken plain
ls_say "plain server generated connector token $GEN_CTOKEN"

ls_start_rsocks fast -f
FAST=$RSOCKS_PORT

ls_start_rsocks auth -n alice -w 's3cret pw'
AUTH=$RSOCKS_PORT

for mode in plain fast; do
	if [ "$mode" = plain ]; then port=$PLAIN; else port=$FAST; fi
	d0=$(ls_dials "p$mode" "$WEB")
	nconn=0
	ls_curl_suite "$port" "$mode"
	nconn=$((nconn + 28))

	# Early data: greeting, CONNECT and the GET in one write.
	ls_early_gets "$port" "$mode" 10 1031
	ls_early_upload "$port" 2000000 "$mode early upload"
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
	ls_expect_closed "$out" "bad credentials '$cred'"
done
out=$(s5 --greeting 050100 --target "127.0.0.1:$WEB")
ls_expect "$out" method 05ff "auth required, only method 00 offered"
ls_curl_hello "$AUTH" "curl with credentials" --proxy-user 'alice:s3cret pw'
ls_curl_refused "$AUTH" "curl with a wrong password" --proxy-user 'alice:nope'
ls_say "credentials: right ones work, wrong ones get 01 01"

ls_finish
