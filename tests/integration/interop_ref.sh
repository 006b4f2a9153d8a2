#!/bin/sh
# Interoperability with a reference linksocks implementation (the Go
# linksocks, v1.8.x), in both roles.  Skipped (77) unless
# LINKSOCKS_REF_BIN names the reference binary; LINKSOCKS_REF_OPTS are
# extra options for its client/provider/connector (default
# "--direct-mode relay-only", so that the Go client uses only the relay).
#
#   forward: our server + reference client, reference server + our
#            client; each with SOCKS fast open off and on (-f on the
#            client), one of the two over /socket/ (Auth message); curl,
#            10 MB download and 10 MB upload checked by sha256, a refused
#            target answered 05 04 (fast open off)
#   reverse: our server -r + reference provider, reference server -r +
#            our provider; curl + 10 MB both ways
#   agent:   our server with reference provider + reference connector;
#            reference server with our provider + our connector, fast
#            open off and on (the Go server drops Data that reaches it
#            before it has registered a connector channel, P-6, so our
#            fast-open connector holds its data with it), plus a burst of
#            40 fast-open requests
#   UDP:     ASSOCIATE echo, 200 datagrams of 1..60000 bytes, through our
#            server + reference client and reference server + our client
#            (valid datagrams only: the reference crashes on malformed)
#   -x:      reference server -x socks5:// (Dante) and -x http:// (tinyproxy,
#            Basic) with our client; our server -x socks5:// with a
#            reference client
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"

[ -n "${LINKSOCKS_REF_BIN:-}" ] || ls_skip "LINKSOCKS_REF_BIN not set"
[ -x "$LINKSOCKS_REF_BIN" ] || ls_skip "LINKSOCKS_REF_BIN=$LINKSOCKS_REF_BIN is not executable"
REF=$LINKSOCKS_REF_BIN
read -r -a REFX <<<"${LINKSOCKS_REF_OPTS---direct-mode relay-only}"
ls_init
ls_say "reference: $REF ($("$REF" version 2>&1 | head -n 1))"

UNREACH=05040001000000000000
BULK=10485760


# ref_bg NAME PORT SUBCOMMAND ARGS...: a reference daemon that must end
# up accepting on 127.0.0.1:PORT (WebSocket or SOCKS port).
ref_bg() {
	local name=$1 port=$2
	shift 2
	ls_bg "$name" "$REF" "$@"
	wait_port 127.0.0.1 "$port" "$LS_STARTUP" "$LAST_PID" "$name"
	ls_say "$name: reference pid $LAST_PID on port $port"
}

ls_web
ls_udpecho echo 127.0.0.1
ECHO=$UDP_PORT
head -c "$BULK" /dev/urandom >"$TMPD/up.bin"
UPSUM=$(sha256sum <"$TMPD/up.bin" | cut -d' ' -f1)

# checks PORT WHAT [refused] [udp]: curl, 10 MB both ways, and optionally
# the refused target and UDP echo.
checks() {
	local port=$1 what=$2 out
	shift 2
	out=$(ls_curl "$port" "http://127.0.0.1:$WEB/hello" 2>&1) ||
	    fail "$what: curl /hello: $out"
	[ "$out" = hello ] || fail "$what: /hello gave '$out'"
	out=$(ls_curl "$port" "http://localhost:$WEB/hello" 2>&1) ||
	    fail "$what: curl localhost /hello: $out"
	[ "$out" = hello ] || fail "$what: localhost /hello gave '$out'"
	ls_check_get "$port" "http://127.0.0.1:$WEB/file?size=$BULK&seed=s$RANDOM" \
	    "$what: 10 MB download"
	ls_check_upload "$port" "$TMPD/up.bin" "$UPSUM" "$what: 10 MB upload"
	case " $* " in
	*" refused "*)
		local rp
		rp=$(ls_refused_port 127.0.0.1)
		[ -n "$rp" ] || fail "no refused port"
		out=$(ls_socks5 --proxy "127.0.0.1:$port" --target "127.0.0.1:$rp" \
		    --expect-close --timeout 25)
		ls_expect "$out" reply "$UNREACH" "$what: refused target"
		;;
	esac
	case " $* " in
	*" udp "*)
		ls_udp_check "$what: UDP echo" echo --proxy "127.0.0.1:$port" \
		    --target "127.0.0.1:$ECHO" --count 200 --min 1 --max 60000 \
		    --seed "$what" --window 8 --rto 1 --retries 4 --timeout 120
		;;
	esac
	ls_say "$what: ok"
}

# ---- forward: our server, reference client --------------------------------
ls_start_server server
P1=$(ls_free_port)
ref_bg refclient "$P1" client -t "$LS_TOKEN" -u "ws://127.0.0.1:$WS_PORT" \
    -s 127.0.0.1 -p "$P1" "${REFX[@]}"
checks "$P1" "our server + ref client" refused udp
P2=$(ls_free_port)
ref_bg refclientf "$P2" client -t "$LS_TOKEN" \
    -u "ws://127.0.0.1:$WS_PORT/socket/" -s 127.0.0.1 -p "$P2" -f "${REFX[@]}"
checks "$P2" "our server + ref client -f (Auth message)"

# ---- forward: reference server, our client --------------------------------
RWS=$(ls_free_port)
ref_bg refserver "$RWS" server -t "$LS_TOKEN" -H 127.0.0.1 -P "$RWS"
WS_PORT=$RWS
ls_start_client client
checks "$SOCKS_PORT" "ref server + our client" refused udp
# /socket/ makes our client authenticate with an Auth message.
rm -f "$TMPD/clientf.port"
ls_bg clientf "$LINKSOCKS_BIN" client -t "$LS_TOKEN" \
    -u "ws://127.0.0.1:$RWS/socket/" -s 127.0.0.1 -p 0 -f \
    --port-file "$TMPD/clientf.port" --workers "$LS_WORKERS" -d
LS_MASTERS+=($((${#LS_PIDS[@]} - 1)))
FP=$(ls_wait_portline "$TMPD/clientf.port" socks "$LS_STARTUP" "$LAST_PID" clientf) || exit 1
wait_port 127.0.0.1 "$FP" "$LS_STARTUP" "$LAST_PID" clientf
checks "$FP" "ref server + our client -f (Auth message)"

# ---- reverse: our server -r, reference provider ---------------------------
ls_start_rserver rserver
ls_bg refprovider "$REF" provider -t "$LS_PTOKEN" -u "ws://127.0.0.1:$WS_PORT" \
    "${REFX[@]}"
ls_rsocks_port rserver
checks "$RSOCKS_PORT" "our server -r + ref provider" refused

# ---- reverse: reference server -r, our provider ---------------------------
RWS=$(ls_free_port)
RSP=$(ls_free_port)
ref_bg refrserver "$RWS" server -t "$LS_PTOKEN" -H 127.0.0.1 -P "$RWS" -r \
    -s 127.0.0.1 -p "$RSP"
WS_PORT=$RWS
ls_start_provider provider
wait_port 127.0.0.1 "$RSP" "$LS_STARTUP"
checks "$RSP" "ref server -r + our provider" refused

# ---- agent: our server, reference provider + connector --------------------
ls_start_rserver aserver -c "$LS_CTOKEN"
ls_bg refaprovider "$REF" provider -t "$LS_PTOKEN" \
    -u "ws://127.0.0.1:$WS_PORT" "${REFX[@]}"
ls_rsocks_port aserver
P3=$(ls_free_port)
ref_bg refconnector "$P3" connector -t "$LS_CTOKEN" \
    -u "ws://127.0.0.1:$WS_PORT" -s 127.0.0.1 -p "$P3" "${REFX[@]}"
checks "$P3" "our server + ref provider + ref connector" refused
P4=$(ls_free_port)
ref_bg refconnectorf "$P4" connector -t "$LS_CTOKEN" \
    -u "ws://127.0.0.1:$WS_PORT/socket/" -s 127.0.0.1 -p "$P4" -f "${REFX[@]}"
checks "$P4" "our server + ref provider + ref connector -f"

# ---- agent: reference server, our provider + connector --------------------
RWS=$(ls_free_port)
RSP=$(ls_free_port)
ref_bg refaserver "$RWS" server -t "$LS_PTOKEN" -c "$LS_CTOKEN" \
    -H 127.0.0.1 -P "$RWS" -r -s 127.0.0.1 -p "$RSP"
WS_PORT=$RWS
# --drain-timeout 3: the Go server (v1.8.9) sends a connector's
# Disconnect back to the connector, never to the provider, so our
# provider's target connections stay open (HTTP keep-alive) and a
# SIGTERM drain would wait the default 30 s, beyond ls_stop's 10 s.
ls_start_provider aprovider --drain-timeout 3
wait_port 127.0.0.1 "$RSP" "$LS_STARTUP"
ls_start_connector connector
checks "$SOCKS_PORT" "ref server + our provider + our connector" refused
ls_start_connector connectorf -f
checks "$SOCKS_PORT" "ref server + our provider + our connector -f"
out=$(timeout 120 python3 "$LS_LIB/socksloop.py" --proxy "127.0.0.1:$SOCKS_PORT" \
    --target "127.0.0.1:$WEB" --count 40)
case $out in
*"summary ok 40 fail 0"*) ;;
*)	printf '%s\n' "$out" >&2
	fail "ref server + our connector -f: not all of 40 requests succeeded" ;;
esac
ls_say "ref server + our connector -f: 40 requests ok"

# ---- upstream proxies (-x), the reference's semantics on both sides -------
# Dante logs every connection it makes for us, so each run shows that the
# target was reached through it; the HTTP run uses tinyproxy with Basic
# authentication (the reference: CONNECT with Proxy-Authorization).
ls_danted dante
RWS=$(ls_free_port)
ref_bg refxserver "$RWS" server -t "$LS_TOKEN" -H 127.0.0.1 -P "$RWS" \
    -x "socks5://127.0.0.1:$DANTE_PORT"
WS_PORT=$RWS
ls_start_client xclient
checks "$SOCKS_PORT" "ref server -x socks5 + our client" refused
grep -aq "127.0.0.1.$WEB" "$TMPD/dante.dlog" ||
    fail "ref server -x: Dante logged no connection to port $WEB"
ls_tinyproxy tp alice secret
RWS=$(ls_free_port)
ref_bg refhserver "$RWS" server -t "$LS_TOKEN" -H 127.0.0.1 -P "$RWS" \
    -x "http://alice:secret@127.0.0.1:$TP_PORT"
WS_PORT=$RWS
ls_start_client hclient
checks "$SOCKS_PORT" "ref server -x http + our client"
: >"$TMPD/dante.dlog"
ls_start_server xserver -x "socks5://127.0.0.1:$DANTE_PORT"
P5=$(ls_free_port)
ref_bg refxclient "$P5" client -t "$LS_TOKEN" -u "ws://127.0.0.1:$WS_PORT" \
    -s 127.0.0.1 -p "$P5" "${REFX[@]}"
checks "$P5" "our server -x socks5 + ref client" refused
grep -aq "127.0.0.1.$WEB" "$TMPD/dante.dlog" ||
    fail "our server -x: Dante logged no connection to port $WEB"

ls_finish
