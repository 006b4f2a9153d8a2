#!/bin/sh
# upstream_proxy.sh -- -x/--upstream-proxy on the dial side, through real
# proxies from Debian: microsocks (SOCKS5, with and without RFC 1929
# credentials), tinyproxy (HTTP CONNECT with Basic authentication) and
# Dante (SOCKS5 UDP ASSOCIATE).  Forward mode (the server dials) with
# fast open on and off, reverse mode (the provider dials), the access
# policy applied to the final destination and never to the proxy, and
# the proxy's refusals reported with its name and reason.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

ls_web
TRAP=$(ls_refused_port)
[ -n "$TRAP" ] || fail "no refused port"

stop() {
	local n
	for n in "$@"; do
		ls_stop "$n"
		ls_drop_master "$n"
	done
}

log_has() {
	grep -aqE -- "$2" "$TMPD/$1.log" || fail "$3: $1 logged no /$2/"
}

# through PORT WHAT: a GET, a 3 MB download (sha256) and five pipelined
# GETs (the request travels with the greeting: early data with -f).
through() {
	ls_curl_hello "$1" "$2: hello"
	ls_check_get "$1" "http://127.0.0.1:$WEB/file?size=3000000" "$2: 3 MB"
	ls_early_gets "$1" "$2" 5 70000
}

# ---- microsocks, no credentials: forward mode, plain and fast open ----
ls_microsocks ms
MS=$MS_PORT
ls_start_server server -x "socks5://127.0.0.1:$MS"
ls_start_client plain
through "$SOCKS_PORT" "socks5 upstream"
ls_start_client fast -f
through "$SOCKS_PORT" "socks5 upstream, fast open"
log_has server "dial 127\.0\.0\.1:$WEB" "socks5 upstream: dial logged"
# A refusal by the upstream is the dial's error, naming the proxy.
out=$(ls_socks5 --proxy "127.0.0.1:$SOCKS_PORT" --target "127.0.0.1:$TRAP" \
    --expect-close --timeout 20)
ls_expect_closed "$out" "socks5 upstream, refused target"
log_has server "dial tcp 127\.0\.0\.1:$TRAP: proxy socks5://127\.0\.0\.1:$MS: socks5 connect error" \
    "socks5 upstream: refusal text"
stop fast plain server

# ---- the policy is the target's, not the proxy's ----------------------
# Without --allow-private the server refuses loopback targets; a rule
# opens 127.0.0.1:$WEB only.  The proxy itself sits on loopback and is
# used all the same.
LS_SERVER_DEFAULTS=1 ls_start_server ruled -x "socks5://127.0.0.1:$MS" \
    --access-rule "127.0.0.1:$WEB"
ls_start_client rc
ls_curl_hello "$SOCKS_PORT" "rule: allowed target through the proxy"
for t in "127.0.0.1:$TRAP" "localhost:$TRAP" "127.0.0.2:$WEB"; do
	out=$(ls_socks5 --proxy "127.0.0.1:$SOCKS_PORT" --target "$t" \
	    --expect-close --timeout 20)
	r=$(ls_field "$out" reply)
	case $r in
	0502*)	;;
	*)	printf '%s\n' "$out" >&2
		fail "rule: $t through the proxy gave reply '$r', not 02 (not allowed)" ;;
	esac
done
log_has ruled "destination localhost:$TRAP \(127\.0\.0\.1[]:0-9]*\) not allowed" \
    "rule: a name is checked on what it resolves to"
stop rc ruled

# ---- microsocks with credentials -------------------------------------
ls_microsocks msa -u alice -P 's3cret:x'
MSA=$MS_PORT
ls_start_server sauth -x "socks5://alice:s3cret%3Ax@127.0.0.1:$MSA"
ls_start_client sa -f
through "$SOCKS_PORT" "socks5 upstream with credentials"
stop sa sauth
LINKSOCKS_UPSTREAM_PROXY="socks5://alice:wrong@127.0.0.1:$MSA" \
    ls_start_server sbad
ls_start_client sb
ls_curl_refused "$SOCKS_PORT" "socks5 upstream, wrong password"
log_has sbad "proxy socks5://127\.0\.0\.1:$MSA: authentication failed" \
    "socks5 upstream: wrong password reported"
grep -aq "wrong" "$TMPD/sbad.log" && fail "the password appears in the log"
stop sb sbad

# ---- tinyproxy: HTTP CONNECT with Basic authentication ----------------
ls_tinyproxy tp alice secret
TP=$TP_PORT
ls_start_server hserver -x "http://alice:secret@127.0.0.1:$TP"
ls_start_client hplain
through "$SOCKS_PORT" "http upstream"
ls_start_client hfast -f
through "$SOCKS_PORT" "http upstream, fast open"
grep -aq "CONNECT.*127.0.0.1:$WEB" "$TMPD/tp.tplog" ||
    fail "http upstream: tinyproxy logged no CONNECT to 127.0.0.1:$WEB"
stop hfast hplain hserver
ls_start_server hbad -x "http://alice:nope@127.0.0.1:$TP"
ls_start_client hb
ls_curl_refused "$SOCKS_PORT" "http upstream, wrong password"
log_has hbad "proxy http://127\.0\.0\.1:$TP: HTTP CONNECT failed: 40[17]" \
    "http upstream: refusal status reported"
stop hb hbad

# ---- Dante: TCP and UDP through one SOCKS5 upstream -------------------
ls_udpecho echo4 127.0.0.1
E4=$UDP_PORT
ls_danted dante
ls_start_server userver -x "socks5://127.0.0.1:$DANTE_PORT"
ls_start_client uplain
ls_curl_hello "$SOCKS_PORT" "dante: tcp"
ls_udp_check "dante: 300 datagrams through the upstream's relay" echo \
    --proxy "127.0.0.1:$SOCKS_PORT" --target "127.0.0.1:$E4" --count 300 \
    --min 1 --max 1400 --seed 7 --window 16
log_has userver "udp association for .* via socks5://127\.0\.0\.1:$DANTE_PORT" \
    "dante: association through the upstream"
grep -aqiE "udpassociate|udpreply" "$TMPD/dante.dlog" ||
    fail "dante: no UDP association in Dante's log"
stop uplain userver

# ---- reverse mode: the provider dials through the upstream ------------
ls_start_rserver rev
ls_start_provider prov -x "socks5://127.0.0.1:$MS"
ls_rsocks_port rev
through "$RSOCKS_PORT" "reverse, provider through socks5 upstream"
stop prov rev

# ---- configuration errors: exit status 2 ------------------------------
for bad in "ftp://127.0.0.1:21" "socks5://127.0.0.1:0" "socks5://[::1" \
    "http://a b"; do
	rc=0
	"$LINKSOCKS_BIN" server -t x -P 0 -x "$bad" >"$TMPD/bad.out" 2>&1 || rc=$?
	[ "$rc" = 2 ] || fail "-x '$bad': exit $rc, not 2"
	grep -aq "upstream-proxy" "$TMPD/bad.out" ||
	    fail "-x '$bad': no clear error: $(cat "$TMPD/bad.out")"
	case $bad in
	ftp*)	grep -aq "unsupported proxy scheme: ftp" "$TMPD/bad.out" ||
		    fail "-x ftp: $(cat "$TMPD/bad.out")" ;;
	esac
done

ls_finish
