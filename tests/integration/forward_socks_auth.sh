#!/bin/sh
# SOCKS5 method negotiation and RFC 1929 authentication on the client
# (-n/-w): exact reply bytes, close after refusals, BIND -> 0x07.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

OK=05000001000000000000
CMDNS=05070001000000000000
HELLO=$(printf 'hello\n' | sha256sum | cut -d' ' -f1)

ls_web
ls_start_server server
ls_start_client auth -n alice -w 's3cret pw'
AUTH=$SOCKS_PORT
ls_start_client noauth
NOAUTH=$SOCKS_PORT

s5() {
	ls_socks5 --proxy "127.0.0.1:$1" --timeout 15 "${@:2}"
}

# 1. right credentials, then a real CONNECT.
out=$(s5 "$AUTH" --auth 'alice:s3cret pw' --target "127.0.0.1:$WEB" --http-get /hello)
ls_expect "$out" method 0502 "auth ok"
ls_expect "$out" auth 0100 "auth ok"
ls_expect "$out" reply "$OK" "auth ok"
ls_expect "$out" http-status 200 "auth ok"
ls_expect "$out" body-sha256 "$HELLO" "auth ok"

# 2. the same, everything in one write.
out=$(s5 "$AUTH" --pipeline --auth 'alice:s3cret pw' --target "127.0.0.1:$WEB" --http-get /hello)
ls_expect "$out" method 0502 "auth pipelined"
ls_expect "$out" auth 0100 "auth pipelined"
ls_expect "$out" reply "$OK" "auth pipelined"
ls_expect "$out" body-sha256 "$HELLO" "auth pipelined"

# 3. offering 00 and 02: auth is required, so 02 is chosen.
out=$(s5 "$AUTH" --greeting 05020002 --auth 'alice:s3cret pw' --target "127.0.0.1:$WEB" --http-get /hello)
ls_expect "$out" method 0502 "methods 00,02"
ls_expect "$out" auth 0100 "methods 00,02"
ls_expect "$out" body-sha256 "$HELLO" "methods 00,02"

# 4. wrong password, wrong user, prefix of the password.
for cred in 'alice:wrong' 'bob:s3cret pw' 'alice:s3cret' 'alice:s3cret pwx' ':'; do
	out=$(s5 "$AUTH" --auth "$cred" --target "127.0.0.1:$WEB" --http-get /hello)
	ls_expect "$out" method 0502 "bad credentials '$cred'"
	ls_expect "$out" auth 0101 "bad credentials '$cred'"
	[ -z "$(ls_field "$out" reply)" ] || fail "bad credentials '$cred': got a reply"
	ls_expect_closed "$out" "bad credentials '$cred'"
done

# 5. only "no auth" offered while auth is configured.
out=$(s5 "$AUTH" --greeting 050100 --target "127.0.0.1:$WEB")
ls_expect "$out" method 05ff "only method 00 offered"
ls_expect_closed "$out" "only method 00 offered"

# 6. BIND after authentication.
out=$(s5 "$AUTH" --auth 'alice:s3cret pw' --cmd 2 --target "127.0.0.1:$WEB")
ls_expect "$out" auth 0100 "BIND (auth)"
ls_expect "$out" reply "$CMDNS" "BIND (auth)"
ls_expect_closed "$out" "BIND (auth)"

# 7. no credentials configured: 00 accepted, BIND refused, CONNECT works.
out=$(s5 "$NOAUTH" --greeting 050100 --target "127.0.0.1:$WEB" --http-get /hello)
ls_expect "$out" method 0500 "no-auth client"
ls_expect "$out" reply "$OK" "no-auth client"
ls_expect "$out" body-sha256 "$HELLO" "no-auth client"
out=$(s5 "$NOAUTH" --cmd 2 --target "127.0.0.1:$WEB")
ls_expect "$out" method 0500 "BIND (no auth)"
ls_expect "$out" reply "$CMDNS" "BIND (no auth)"
ls_expect_closed "$out" "BIND (no auth)"

# 8. curl with and without credentials.
ls_curl_hello "$AUTH" "curl with credentials" --proxy-user 'alice:s3cret pw'
ls_curl_refused "$AUTH" "curl without credentials"

ls_finish
