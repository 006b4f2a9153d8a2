#!/bin/sh
# env_proxy.sh -- the environment's proxies for the WebSocket dial, as
# curl reads them, through real proxies: squid as a corporate HTTP proxy
# that wants Basic authentication (HTTP_PROXY, and its 407 reported with
# the proxy's name), NO_PROXY bypassing it, -E ignoring it, ALL_PROXY
# with socks5h:// through Dante, a provider through a proxy, a bad value
# refused at start (exit 2), and the reconnect backoff's full jitter.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init
command -v openssl >/dev/null 2>&1 || ls_skip "openssl not installed"

ls_web
ls_start_server server
DEAD=$(ls_refused_port)
[ -n "$DEAD" ] || fail "no refused port"
ls_squid squid alice 's3cret'
SQ=$SQUID_PORT

# waitlog NAME PATTERN WHAT: until NAME's log matches (20 s).
waitlog() {
	ls_poll 20 "$(ls_pid_of "$1")" "$1" "$3" grep -aqE -- "$2" \
	    "$TMPD/$1.log"
}

stop() {
	ls_stop "$1"
	ls_drop_master "$1"
}

# Through squid with credentials from the URL.
HTTP_PROXY="http://alice:s3cret@127.0.0.1:$SQ" ls_start_client viasquid
ls_curl_hello "$SOCKS_PORT" "HTTP_PROXY through squid"
ls_check_get "$SOCKS_PORT" "http://127.0.0.1:$WEB/file?size=2000000" \
    "HTTP_PROXY through squid: 2 MB"
stop viasquid
grep -aq "CONNECT 127.0.0.1:$WS_PORT" "$TMPD/squid.d/access.log" ||
    fail "squid logged no CONNECT 127.0.0.1:$WS_PORT"

# Without credentials: 407, named, then the normal retries.
HTTP_PROXY="http://127.0.0.1:$SQ" ls_bg noauth "$LINKSOCKS_BIN" client \
    -t "$LS_TOKEN" -u "ws://127.0.0.1:$WS_PORT" -p 0 --workers 1 -d
ls_mark_master
waitlog noauth "cannot connect to 127\.0\.0\.1:$WS_PORT: proxy http://127\.0\.0\.1:$SQ: HTTP CONNECT failed: 407" \
    "the 407 reported"
waitlog noauth "waiting [0-9.]+s before retrying" "a retry scheduled"
stop noauth

# Lower case wins; NO_PROXY (any case, a list, CIDR) bypasses; -E ignores.
http_proxy="http://alice:s3cret@127.0.0.1:$SQ" \
    HTTP_PROXY="http://127.0.0.1:$DEAD" ls_start_client lower
ls_curl_hello "$SOCKS_PORT" "http_proxy before HTTP_PROXY"
stop lower
for np in "127.0.0.1" "example.org, 127.0.0.0/8" "*" ".invalid,127.0.0.1"; do
	NO_PROXY="$np" HTTP_PROXY="http://127.0.0.1:$DEAD" \
	    ls_start_client noproxy
	ls_curl_hello "$SOCKS_PORT" "NO_PROXY=$np"
	grep -aqE "ws_dial: .* via " "$TMPD/noproxy.log" &&
	    fail "NO_PROXY=$np: the proxy was used"
	stop noproxy
done
no_proxy="localhost" HTTP_PROXY="http://127.0.0.1:$DEAD" \
    ls_bg notlisted "$LINKSOCKS_BIN" client -t "$LS_TOKEN" \
    -u "ws://127.0.0.1:$WS_PORT" -p 0 --workers 1 -d
ls_mark_master
waitlog notlisted "connect to proxy http://127\.0\.0\.1:$DEAD: Connection refused" \
    "no_proxy=localhost does not cover 127.0.0.1"
stop notlisted
HTTP_PROXY="http://127.0.0.1:$DEAD" ALL_PROXY="http://127.0.0.1:$DEAD" \
    ls_start_client noenv -E
ls_curl_hello "$SOCKS_PORT" "-E ignores the environment"
stop noenv

# ALL_PROXY with a SOCKS5 proxy (the name goes to the proxy).
ls_danted dante
ALL_PROXY="socks5h://127.0.0.1:$DANTE_PORT" ls_start_client viadante
ls_curl_hello "$SOCKS_PORT" "ALL_PROXY=socks5h:// through Dante"
stop viadante
grep -aq "127.0.0.1.$WS_PORT" "$TMPD/dante.dlog" ||
    fail "Dante logged no connection to port $WS_PORT"

# A provider through the proxy (reverse mode).
ls_start_rserver rev
HTTP_PROXY="http://alice:s3cret@127.0.0.1:$SQ" ls_start_provider prov
ls_rsocks_port rev
ls_curl_hello "$RSOCKS_PORT" "provider through squid"
stop prov
stop rev

# A value that is not a proxy URL: exit 2, naming the variable.
rc=0
HTTPS_PROXY="ftp://127.0.0.1:21" "$LINKSOCKS_BIN" client -t x \
    -u "wss://127.0.0.1:1" -p 0 >"$TMPD/bad.out" 2>&1 || rc=$?
[ "$rc" = 2 ] && grep -aq "HTTPS_PROXY: unsupported proxy scheme: ftp" \
    "$TMPD/bad.out" || fail "bad HTTPS_PROXY: exit $rc: $(cat "$TMPD/bad.out")"

# Full jitter: the first wait is at most 1 s, and the waits differ.
ls_bg jitter "$LINKSOCKS_BIN" client -t x -u "ws://127.0.0.1:$DEAD" -p 0 \
    --workers 1 -T 3
ls_mark_master
retries9() {
	[ "$(grep -ac 'before retrying' "$TMPD/jitter.log")" -ge 9 ]
}
ls_poll 20 "$LAST_PID" jitter "nine retries" retries9
stop jitter
waits=$(grep -ao 'waiting [0-9.]*s' "$TMPD/jitter.log" | sed 's/[^0-9.]//g')
first=$(printf '%s\n' "$waits" | head -n 3)
for w in $first; do
	awk -v w="$w" 'BEGIN { exit !(w <= 1.0) }' ||
	    fail "jitter: a first wait of ${w}s is above 1 s"
done
[ "$(printf '%s\n' "$waits" | sort -u | wc -l)" -ge 4 ] ||
    fail "jitter: the waits do not vary: $(echo $waits)"

ls_finish
