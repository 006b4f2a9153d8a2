#!/bin/sh
# A plain HTTP answer (GET /, 404) and a refused upgrade (400, 405) end
# the connection's server state too.  It used to stay allocated (and, in
# the pre-authentication count, would have stayed counted): with
# --enable-sanitizers, LeakSanitizer reported it when the worker exited.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

LS_WORKERS=1
ls_start_server server

U="http://127.0.0.1:$WS_PORT"
c() {
	timeout 10 curl -sS --noproxy '' --max-time 10 -o "$TMPD/body" \
	    -w '%{http_code}' "$@" 2>"$TMPD/curl.err"
}
for i in 1 2 3; do
	[ "$(c "$U/")" = 200 ] || fail "GET /: not 200"
	grep -q "is running but API is not enabled" "$TMPD/body" ||
	    fail "GET /: body '$(cat "$TMPD/body")'"
	[ "$(c "$U/nowhere")" = 404 ] || fail "GET /nowhere: not 404"
	# /socket without the WebSocket headers, and with a bad version.
	[ "$(c "$U/socket")" = 400 ] || fail "GET /socket, no upgrade: not 400"
	[ "$(c -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
	    -H 'Sec-WebSocket-Version: 12' \
	    -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "$U/socket")" = 400 ] ||
	    fail "version 12: not 400"
	[ "$(c -X POST -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
	    -H 'Sec-WebSocket-Version: 13' \
	    -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "$U/socket")" = 405 ] ||
	    fail "POST upgrade: not 405"
done
ls_say "15 plain answers ok"
# ls_finish stops the server and fails on any sanitizer report.
ls_finish
