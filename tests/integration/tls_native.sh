#!/bin/sh
# Native TLS on the server (--tls-cert, --tls-key), --workers 2, with a
# test CA made here by openssl: bad certificates and keys stop the start
# with status 2 and OpenSSL's reason; forward, reverse and agent mode
# over wss:// (the connector and the provider on different workers go
# through the worker links); a client that does not trust the CA is
# refused with a clear message; a session made on one worker resumes on
# the other, and on workers respawned since; SIGHUP serves a new
# certificate (serial before and after) while the tunnel made before it
# keeps carrying data, and a bad key on SIGHUP keeps the old certificate.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init
LS_WORKERS=2
command -v openssl >/dev/null 2>&1 || ls_skip "openssl not installed"

ls_make_ca ca
ls_make_ca other
ls_make_cert srv ca 1a2b
ls_make_cert srv2 ca 3c4d
cp "$TMPD/srv.pem" "$TMPD/cur.pem"
cp "$TMPD/srv.key" "$TMPD/cur.key"
TLS=(--tls-cert "$TMPD/cur.pem" --tls-key "$TMPD/cur.key")

# ---- start-up errors: status 2 and a message naming file and reason --
# bad_start WHAT REGEX ARGS...
bad_start() {
	local what=$1 re=$2 rc=0
	shift 2
	timeout 10 "$LINKSOCKS_BIN" server -t x -H 127.0.0.1 -P 0 "$@" \
	    >"$TMPD/bad.out" 2>&1 || rc=$?
	[ "$rc" -eq 2 ] ||
	    fail "$what: exit status $rc, want 2: $(cat "$TMPD/bad.out")"
	grep -qaE -- "$re" "$TMPD/bad.out" ||
	    fail "$what: no /$re/ in: $(cat "$TMPD/bad.out")"
	ls_say "$what: status 2, $(grep -aE -- "$re" "$TMPD/bad.out" |
	    head -n 1 | sed 's/.*master: //')"
}
echo 'not a certificate' >"$TMPD/junk.pem"
bad_start "missing certificate" \
    "TLS: certificate $TMPD/nope.pem: No such file or directory" \
    --tls-cert "$TMPD/nope.pem" --tls-key "$TMPD/srv.key"
bad_start "missing key" "TLS: key $TMPD/nope.key: No such file or directory" \
    --tls-cert "$TMPD/srv.pem" --tls-key "$TMPD/nope.key"
bad_start "not PEM" "TLS: certificate $TMPD/junk.pem: no start line" \
    --tls-cert "$TMPD/junk.pem" --tls-key "$TMPD/srv.key"
bad_start "mismatched key" "TLS: key $TMPD/srv2.key: key values mismatch" \
    --tls-cert "$TMPD/srv.pem" --tls-key "$TMPD/srv2.key"
bad_start "certificate without key" "TLS needs both --tls-cert and --tls-key" \
    --tls-cert "$TMPD/srv.pem"
rc=0
timeout 10 "$LINKSOCKS_BIN" server -t x -P 0 --tls-min-version 1.1 \
    "${TLS[@]}" >"$TMPD/bad.out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] && grep -qa 'invalid --tls-min-version: "1.1"' "$TMPD/bad.out" ||
    fail "--tls-min-version 1.1: status $rc: $(cat "$TMPD/bad.out")"

# ---- forward mode over wss:// -----------------------------------------
export SSL_CERT_FILE="$TMPD/ca.pem"
LS_SCHEME=wss
ls_web
ls_start_server server "${TLS[@]}"
SPID=$SERVER_PID
SPORT=$WS_PORT
ls_start_client plain
FWD=$SOCKS_PORT
ls_curl_suite "$FWD" fwdwss
ls_start_client fast -f
ls_curl_hello "$SOCKS_PORT" "forward wss, fast open"
grep -qaE 'ws_event: .*TLSv1\.3 ' "$TMPD/server.log" ||
    fail "the server logged no TLS 1.3 handshake"
ls_say "forward mode over wss:// ok"

# Plain HTTP requests on the TLS port: / answered, /api/ refused clearly.
out=$(curl -sS --cacert "$TMPD/ca.pem" "https://127.0.0.1:$WS_PORT/" 2>&1)
case $out in
*"is running"*) ;;
*)	fail "GET / over TLS: $out" ;;
esac
out=$(curl -sS --cacert "$TMPD/ca.pem" -w ' %{http_code}' \
    "https://127.0.0.1:$WS_PORT/api/status" 2>&1)
case $out in
*"not served on a native TLS port"*" 501") ;;
*)	fail "GET /api/status over TLS: $out" ;;
esac
# --api-listen: the API on a plain port of its own beside a TLS port.
ls_start_server apisrv "${TLS[@]}" -k itest-key --api-listen 0
AP=$(ls_port_of "$TMPD/apisrv.port" api)
[ -n "$AP" ] || fail "--api-listen: no 'api PORT' line: $(cat "$TMPD/apisrv.port")"
out=$(curl -sS -m 10 -w ' %{http_code}' -H "X-API-Key: itest-key" \
    -X POST --data-binary '{"type":"forward","token":"via-api-port"}' \
    "http://127.0.0.1:$AP/api/token" 2>&1)
case $out in
*'"success":true'*" 200") ;;
*)	fail "--api-listen: POST /api/token: $out" ;;
esac
out=$(curl -sS -m 10 -w ' %{http_code}' "http://127.0.0.1:$AP/api/status" 2>&1)
case $out in
*" 401") ;;
*)	fail "--api-listen: GET /api/status without a key: $out" ;;
esac
LS_CLIENT_TOKEN=via-api-port ls_start_client apiclient
ls_curl_hello "$SOCKS_PORT" "a token added on the API port, over wss://"
ls_stop apiclient; ls_drop_master apiclient
ls_stop apisrv; ls_drop_master apisrv
rc=0
timeout 10 "$LINKSOCKS_BIN" server -t x -P 0 --api-listen 0 \
    >"$TMPD/bad.out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -qa -- "--api-listen needs an API key" "$TMPD/bad.out" ||
    fail "--api-listen without a key: status $rc: $(cat "$TMPD/bad.out")"
WS_PORT=$SPORT

# TLS 1.2 only with ECDHE and AEAD; no TLS 1.1.
echo | timeout 10 openssl s_client -connect "127.0.0.1:$WS_PORT" -tls1_2 \
    -CAfile "$TMPD/ca.pem" >"$TMPD/s12.out" 2>&1
grep -qaE 'Cipher is ECDHE-[A-Z]+-(AES[0-9]+-GCM|CHACHA20)' "$TMPD/s12.out" ||
    fail "TLS 1.2: $(grep -a Cipher "$TMPD/s12.out")"
echo | timeout 10 openssl s_client -connect "127.0.0.1:$WS_PORT" -tls1_2 \
    -cipher AES128-SHA -CAfile "$TMPD/ca.pem" >"$TMPD/s12.out" 2>&1 &&
    fail "TLS 1.2 with a non-ECDHE, non-AEAD cipher was accepted"
ls_say "TLS 1.2: ECDHE+AEAD only"

# ---- a client that does not trust the CA --------------------------------
SSL_CERT_FILE="$TMPD/other.pem" ls_bg wrongca "$LINKSOCKS_BIN" client \
    -t "$LS_TOKEN" -u "wss://127.0.0.1:$WS_PORT" -s 127.0.0.1 -p 0 \
    --workers 1
ls_wait_log "$TMPD/wrongca.log" \
    'cannot connect to 127\.0\.0\.1:[0-9]+: TLS: certificate verify failed \(unable to get local issuer certificate\)' \
    1 20 "$LAST_PID" wrongca
ls_say "untrusted CA: $(grep -a 'certificate verify failed' \
    "$TMPD/wrongca.log" | head -n 1 | sed 's/.*: cannot/cannot/')"

# ---- session resumption across the workers ------------------------------
ls_start_wsserver tonly tickets -t x -H 127.0.0.1 -P 0 \
    --port-file "$TMPD/tonly.port" --workers 2 -d "${TLS[@]}"
TPORT=$WS_PORT
for v in tls1_3 tls1_2; do
	rm -f "$TMPD/sess.pem"
	sleep 0.3 | timeout 10 openssl s_client -connect "127.0.0.1:$TPORT" \
	    -"$v" -CAfile "$TMPD/ca.pem" -sess_out "$TMPD/sess.pem" \
	    >"$TMPD/s.out" 2>&1
	[ -s "$TMPD/sess.pem" ] || fail "$v: no session saved: $(tail -n 5 "$TMPD/s.out")"
	reused=0
	for i in 1 2 3 4 5 6 7 8; do
		sleep 0.1 | timeout 10 openssl s_client \
		    -connect "127.0.0.1:$TPORT" -"$v" -CAfile "$TMPD/ca.pem" \
		    -sess_in "$TMPD/sess.pem" >"$TMPD/s.out" 2>&1
		grep -qa '^Reused,' "$TMPD/s.out" && reused=$((reused + 1))
	done
	[ "$reused" -eq 8 ] || fail "$v: $reused of 8 connections resumed"
	ls_say "$v: 8 of 8 connections resumed"
done
sleep 0.5
for w in 0 1; do
	n=$(grep -caE "worker $w: ws_event: .*, resumed" "$TMPD/tonly.log")
	[ "$n" -ge 2 ] || fail "worker $w resumed $n sessions, want >= 2"
	ls_say "worker $w resumed $n sessions"
done
# A respawned worker has the ticket keys too (the master's, by fork).
TPID=$SERVER_PID
ls_wait_kids "$TPID" 2 10 || fail "tickets server: workers '$KIDS', want 2"
OLDKIDS=$KIDS
for k in $OLDKIDS; do
	ls_kill_worker "$TPID" "$k" "$KIDS"
done
reused=0
for i in 1 2 3 4 5 6; do
	sleep 0.1 | timeout 10 openssl s_client -connect "127.0.0.1:$TPORT" \
	    -tls1_2 -CAfile "$TMPD/ca.pem" -sess_in "$TMPD/sess.pem" \
	    >"$TMPD/s.out" 2>&1
	grep -qa '^Reused,' "$TMPD/s.out" && reused=$((reused + 1))
done
[ "$reused" -eq 6 ] ||
    fail "after both workers were respawned: $reused of 6 resumed"
ls_say "respawned workers resume the session made before: 6 of 6"

# ---- SIGHUP: a new certificate, the open tunnel stays --------------------
s0=$(ls_tls_serial 127.0.0.1 "$SPORT" ca)
[ "$s0" = 1A2B ] || fail "serial before SIGHUP: '$s0', want 1A2B"
ready0=$(grep -caE 'tunnel [0-9]+ to .* ready' "$TMPD/plain.log")
# A transfer on the old tunnel that lasts across the reload.
ls_curl "$FWD" --limit-rate 1M -o "$TMPD/slow.body" -D "$TMPD/slow.hdr" \
    "http://127.0.0.1:$WEB/file?size=3000000&seed=slow" 2>"$TMPD/slow.err" &
SLOW=$!
sleep 0.5
cp "$TMPD/srv2.pem" "$TMPD/new.pem" && mv "$TMPD/new.pem" "$TMPD/cur.pem"
cp "$TMPD/srv2.key" "$TMPD/new.key" && mv "$TMPD/new.key" "$TMPD/cur.key"
kill -HUP "$SPID"
ls_wait_log "$TMPD/server.log" 'SIGHUP: TLS certificate .*cur\.pem reloaded \(serial 3C4D' \
    1 10 "$SPID" server
sleep 0.3
for i in 1 2 3 4; do
	s1=$(ls_tls_serial 127.0.0.1 "$SPORT" ca)
	[ "$s1" = 3C4D ] || fail "serial after SIGHUP (try $i): '$s1', want 3C4D"
done
ls_say "SIGHUP: serial $s0 -> $s1 on every handshake"
wait "$SLOW" || fail "transfer across the reload: curl: $(cat "$TMPD/slow.err")"
[ "$(sha256sum <"$TMPD/slow.body" | cut -d' ' -f1)" = \
    "$(ls_header "$TMPD/slow.hdr" X-Content-SHA256)" ] ||
    fail "transfer across the reload: sha256 differs"
ls_curl_hello "$FWD" "the old tunnel after SIGHUP"
ready1=$(grep -caE 'tunnel [0-9]+ to .* ready' "$TMPD/plain.log")
[ "$ready1" = "$ready0" ] ||
    fail "the client reconnected across the reload ($ready0 -> $ready1 ready lines)"
ls_say "SIGHUP: the tunnel made before it still carries data"
# A key that does not match: one error, the old certificate stays.
cp "$TMPD/srv.key" "$TMPD/new.key" && mv "$TMPD/new.key" "$TMPD/cur.key"
kill -HUP "$SPID"
ls_wait_log "$TMPD/server.log" \
    "SIGHUP: TLS: key .*cur\.key: key values mismatch .*; the old certificate stays" \
    1 10 "$SPID" server
s2=$(ls_tls_serial 127.0.0.1 "$SPORT" ca)
[ "$s2" = 3C4D ] || fail "serial after a bad SIGHUP: '$s2', want 3C4D"
WS_PORT=$SPORT ls_start_client after
ls_curl_hello "$SOCKS_PORT" "a new client after the bad reload"
ls_say "bad key on SIGHUP: logged, old certificate kept"
cp "$TMPD/srv2.key" "$TMPD/new.key" && mv "$TMPD/new.key" "$TMPD/cur.key"

# ---- reverse mode over wss:// ---------------------------------------------
ls_start_rsocks rsrv "${TLS[@]}"
ls_curl_suite "$RSOCKS_PORT" revwss
ls_say "reverse mode over wss:// ok"

# ---- agent mode, connector and provider over wss://, --workers 2 ----------
# One provider tunnel (-T 1, one worker) and a connector with two
# tunnels: placed by load, at least one connector tunnel is on the other
# server worker, which reaches the provider through the worker link.
ls_start_rserver asrv -c "$LS_CTOKEN" "${TLS[@]}"
LS_PROVIDER_WORKERS=1 ls_start_provider aprov -T 1
ls_start_connector acon
ACON=$SOCKS_PORT
ls_wait_log "$TMPD/acon.log" 'tunnel [0-9]+ to .*:[0-9]+ ready' 2 \
    "$LS_STARTUP" "$CONNECTOR_PID" acon
d0=$(ls_dials aprov "$WEB")
ls_curl_suite "$ACON" agentwss
for i in $(seq 1 12); do
	ls_curl_hello "$ACON" "agent wss hello $i"
done
[ $(($(ls_dials aprov "$WEB") - d0)) -ge 19 ] ||
    fail "agent: the provider dialled $(($(ls_dials aprov "$WEB") - d0)) times, want 19"
grep -qaE 'link to worker [01] up' "$TMPD/asrv.log" ||
    fail "agent: no worker link on the server"
cross=$(grep -caE 'relay [0-9a-f]+ .*-> provider link-[01]$' "$TMPD/asrv.log")
[ "$cross" -ge 1 ] ||
    fail "agent: no channel went to the provider through a worker link"
ls_say "agent mode over wss:// ok ($cross channels through the worker link)"

ls_finish
