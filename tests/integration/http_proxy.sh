#!/bin/sh
# The HTTP proxy on the SOCKS5 ports (the first byte decides), in forward
# mode (client plain, client -f, client with -n/-w, client with an access
# rule) and reverse mode (server plain and -f):
#
#  forward  curl -x http:// absolute-form GETs (the body's sha256, and the
#           target sees origin form, "Connection: close", no Proxy-* and
#           no header the Connection header named), a chunked POST whose
#           body the target hashes, curl --proxytunnel (CONNECT); raw
#           heads: https:// absolute form 400 "use CONNECT", origin form
#           400, a malformed head 400, HTTP/2.0 505, an unknown method
#           405, a 9000-byte head 431; a CONNECT with a GET in the same
#           write (pipelined early bytes); a refused target: 502 for an
#           absolute-form GET, and for a CONNECT without fast open (with
#           fast open the 200 went first: closed, no more bytes).
#  auth     407 with Proxy-Authenticate without or with wrong credentials,
#           the body with -U user:pass, through CONNECT too.
#  rules    an access rule that allows only the web port: 403 elsewhere.
#  timeout  a fake server that never answers the Connect: 504 after the
#           connect guard.
#  reverse  the same GET, CONNECT and pipelined CONNECT on a reverse
#           server's SOCKS5 port, and on a fast-open connector's port
#           (agent mode).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

# hp PORT SEND...: raw request(s) in one write each; output in $TMPD/hp.
hp() {
	local port=$1 a=() rc=0
	shift
	for s in "$@"; do
		a+=(--send "$s")
	done
	timeout 40 python3 "$LS_LIB/httpproxy.py" --proxy "127.0.0.1:$port" \
	    --timeout 30 "${a[@]}" >"$TMPD/hp" || rc=$?
	[ "$rc" -eq 0 ] || fail "raw request to $port: not closed by the proxy (rc $rc)"
}

# hp_status WANT WHAT: the first line of $TMPD/hp, byte for byte.
hp_status() {
	local got
	got=$(head -n 1 "$TMPD/hp" | od -An -c | tr -s ' ')
	[ "$got" = "$(printf '%s\r\n' "$1" | od -An -c | tr -s ' ')" ] ||
	    fail "$2: status line '$(head -n 1 "$TMPD/hp")', expected '$1'"
}

# hpcurl PORT ARGS...: curl with the HTTP proxy 127.0.0.1:PORT.
hpcurl() {
	local port=$1
	shift
	timeout 60 curl -sS --noproxy '' -x "http://127.0.0.1:$port" \
	    --max-time 60 "$@"
}

# suite PORT MODE FAST: everything a plain proxy port must do.
suite() {
	local port=$1 mode=$2 fast=$3 code rc want got body
	# Absolute form, forwarded.
	body=$(hpcurl "$port" -H 'Connection: X-Drop' -H 'X-Drop: 1' \
	    -H 'X-Keep: 2' -H 'Keep-Alive: 300' -H 'Proxy-Connection: keep-alive' \
	    "http://127.0.0.1:$WEB/headers?q=1" | tr -d '\r') ||
	    fail "$mode: GET /headers failed"
	printf '%s\n' "$body" | head -n 1 | grep -qx 'GET /headers?q=1 HTTP/1.1' ||
	    fail "$mode: target saw '$(printf '%s' "$body" | head -n 1)'"
	printf '%s\n' "$body" | grep -qx 'Connection: close' ||
	    fail "$mode: no 'Connection: close' at the target: $body"
	printf '%s\n' "$body" | grep -qx "Host: 127.0.0.1:$WEB" ||
	    fail "$mode: Host at the target: $body"
	printf '%s\n' "$body" | grep -qx 'X-Keep: 2' ||
	    fail "$mode: X-Keep lost: $body"
	if printf '%s\n' "$body" | grep -qiE '^(proxy-|keep-alive|x-drop)'; then
		fail "$mode: hop-by-hop header reached the target: $body"
	fi
	[ "$(printf '%s\n' "$body" | grep -ci '^connection:')" = 1 ] ||
	    fail "$mode: Connection headers at the target: $body"
	code=$(hpcurl "$port" -o "$TMPD/get" -D "$TMPD/get.hdr" -w '%{http_code}' \
	    "http://127.0.0.1:$WEB/file?size=300000&seed=$mode") ||
	    fail "$mode: GET /file failed"
	[ "$code" = 200 ] || fail "$mode: GET /file: HTTP $code"
	want=$(ls_header "$TMPD/get.hdr" X-Content-SHA256)
	got=$(sha256sum <"$TMPD/get" | cut -d' ' -f1)
	[ -n "$want" ] && [ "$got" = "$want" ] ||
	    fail "$mode: GET /file sha256 $got != $want"
	# A chunked request body goes through with its Transfer-Encoding.
	head -c 200000 /dev/urandom >"$TMPD/up"
	want=$(sha256sum <"$TMPD/up" | cut -d' ' -f1)
	got=$(hpcurl "$port" -H 'Transfer-Encoding: chunked' \
	    --data-binary @"$TMPD/up" "http://127.0.0.1:$WEB/up") ||
	    fail "$mode: chunked POST failed"
	[ "$got" = "$want 200000" ] || fail "$mode: chunked POST: target says '$got'"
	# CONNECT.
	got=$(hpcurl "$port" --proxytunnel "http://127.0.0.1:$WEB/hello") ||
	    fail "$mode: --proxytunnel failed"
	[ "$got" = hello ] || fail "$mode: --proxytunnel gave '$got'"
	# CONNECT and the first request in one write.
	hp "$port" "CONNECT 127.0.0.1:$WEB HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.0\r\n\r\n"
	hp_status 'HTTP/1.1 200 Connection Established' "$mode pipelined CONNECT"
	tr -d '\r' <"$TMPD/hp" | sed -n 2,3p | tr '\n' '|' |
	    grep -qx '|HTTP/1.[01] 200 OK|' ||
	    fail "$mode pipelined CONNECT: $(cat "$TMPD/hp")"
	[ "$(tail -n 1 "$TMPD/hp")" = hello ] ||
	    fail "$mode pipelined CONNECT: no hello: $(cat "$TMPD/hp")"
	ls_say "$mode: GET, chunked POST, CONNECT, pipelined CONNECT ok"
	[ "$fast" = - ] && return 0
	# Refusals from the head alone.
	hp "$port" "GET https://127.0.0.1:$WEB/hello HTTP/1.1\r\nHost: x\r\n\r\n"
	hp_status 'HTTP/1.1 400 Bad Request' "$mode https://"
	grep -q 'use CONNECT' "$TMPD/hp" || fail "$mode https://: $(cat "$TMPD/hp")"
	hp "$port" "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
	hp_status 'HTTP/1.1 400 Bad Request' "$mode origin form"
	hp "$port" "GET http://127.0.0.1:$WEB/ HTTP/1.1\r\nBad header\r\n\r\n"
	hp_status 'HTTP/1.1 400 Bad Request' "$mode malformed head"
	hp "$port" "GARBAGE\r\n\r\n"
	hp_status 'HTTP/1.1 400 Bad Request' "$mode malformed request line"
	hp "$port" "CONNECT 127.0.0.1:99999 HTTP/1.1\r\n\r\n"
	hp_status 'HTTP/1.1 400 Bad Request' "$mode bad port"
	hp "$port" "GET http://127.0.0.1:$WEB/ HTTP/2.0\r\n\r\n"
	hp_status 'HTTP/1.1 505 HTTP Version Not Supported' "$mode HTTP/2.0"
	hp "$port" "BREW http://127.0.0.1:$WEB/ HTTP/1.1\r\n\r\n"
	hp_status 'HTTP/1.1 405 Method Not Allowed' "$mode BREW"
	hp "$port" "GET http://127.0.0.1:$WEB/ HTTP/1.1\r\nX-Big: $(head -c 9000 /dev/zero | tr '\0' a)\r\n\r\n"
	hp_status 'HTTP/1.1 431 Request Header Fields Too Large' "$mode big head"
	# A refused target.
	hp "$port" "GET http://127.0.0.1:$RP/ HTTP/1.1\r\nHost: x\r\n\r\n"
	hp_status 'HTTP/1.1 502 Bad Gateway' "$mode refused GET"
	hp "$port" "CONNECT 127.0.0.1:$RP HTTP/1.1\r\n\r\n"
	if [ "$fast" = fast ]; then
		[ "$(cat "$TMPD/hp")" = "$(printf 'HTTP/1.1 200 Connection Established\r\n\r\n')" ] ||
		    fail "$mode refused CONNECT (fast open): $(cat "$TMPD/hp")"
	else
		hp_status 'HTTP/1.1 502 Bad Gateway' "$mode refused CONNECT"
		grep -q 'refused' "$TMPD/hp" || fail "$mode refused CONNECT: $(cat "$TMPD/hp")"
	fi
	ls_say "$mode: refusals ok"
}

ls_web
RP=$(ls_refused_port 127.0.0.1)
[ -n "$RP" ] || fail "no refused port"

ls_start_forward
suite "$PLAIN" forward-plain plain
suite "$FAST" forward-fast fast

# Credentials: the SOCKS5 pair.
ls_start_client auth -f -n user -w 'pa:ss'
AUTH=$SOCKS_PORT
code=$(hpcurl "$AUTH" -o "$TMPD/a407" -D "$TMPD/a407.hdr" -w '%{http_code}' \
    "http://127.0.0.1:$WEB/hello") || fail "auth: curl failed"
[ "$code" = 407 ] || fail "auth: no credentials gave HTTP $code"
grep -q '^Proxy-Authenticate: Basic realm="linksocks"' "$TMPD/a407.hdr" ||
    fail "auth: no Proxy-Authenticate: $(cat "$TMPD/a407.hdr")"
code=$(hpcurl "$AUTH" -U user:wrong -o /dev/null -w '%{http_code}' \
    "http://127.0.0.1:$WEB/hello") || fail "auth: curl failed"
[ "$code" = 407 ] || fail "auth: wrong credentials gave HTTP $code"
got=$(hpcurl "$AUTH" -U 'user:pa:ss' "http://127.0.0.1:$WEB/headers") ||
    fail "auth: GET with credentials failed"
printf '%s\n' "$got" | grep -q '^GET /headers HTTP/1.1' ||
    fail "auth: GET with credentials: $got"
if printf '%s\n' "$got" | grep -qi '^proxy-authorization'; then
	fail "auth: Proxy-Authorization reached the target"
fi
got=$(hpcurl "$AUTH" -U 'user:pa:ss' --proxytunnel "http://127.0.0.1:$WEB/hello") ||
    fail "auth: CONNECT with credentials failed"
[ "$got" = hello ] || fail "auth: CONNECT gave '$got'"
ls_say "auth: 407 and Basic credentials ok"

# The access rules, as for SOCKS5.
ls_start_client ruled --access-rule "127.0.0.1:$WEB"
got=$(hpcurl "$SOCKS_PORT" "http://127.0.0.1:$WEB/hello") ||
    fail "rules: allowed GET failed"
[ "$got" = hello ] || fail "rules: allowed GET gave '$got'"
hp "$SOCKS_PORT" "GET http://127.0.0.1:$RP/ HTTP/1.1\r\n\r\n"
hp_status 'HTTP/1.1 403 Forbidden' "rules: denied GET"
hp "$SOCKS_PORT" "CONNECT 127.0.0.1:$RP HTTP/1.1\r\n\r\n"
hp_status 'HTTP/1.1 403 Forbidden' "rules: denied CONNECT"
ls_say "rules: 403 ok"

ls_start_rsocks rplain
suite "$RSOCKS_PORT" reverse-plain -
ls_start_rsocks rfast -f
suite "$RSOCKS_PORT" reverse-fast -

# A far side that never answers the Connect: 504 once the connect
# guard (15 s) runs out.
ls_helper fake fakeserver.py --delay 30
ls_bg mute "$LINKSOCKS_BIN" client -t x -u "ws://127.0.0.1:$HELPER_PORT" \
    -s 127.0.0.1 -p 0 --port-file "$TMPD/mute.port" --workers 1 -d
LS_MASTERS+=($((${#LS_PIDS[@]} - 1)))
MUTE=$(ls_wait_portline "$TMPD/mute.port" socks "$LS_STARTUP" "$LAST_PID" \
    mute) || exit 1
wait_port 127.0.0.1 "$MUTE" "$LS_STARTUP"
hp "$MUTE" "CONNECT 127.0.0.1:$WEB HTTP/1.1\r\n\r\n"
hp_status 'HTTP/1.1 504 Gateway Timeout' "unanswered CONNECT"
ls_say "timeout: 504 ok"

# Agent mode: a connector's port.
ls_start_rserver aserver -c "$LS_CTOKEN"
ls_start_provider aprov
ls_start_connector aconn -f
suite "$SOCKS_PORT" agent-fast -

ls_finish
