#!/bin/sh
# client_tls.sh -- the client's side of wss:// against nginx as the TLS
# front end of a plain server, with certificates made by openssl here:
# --ca-file and --ca-path for a private CA, a wrong CA refused with a
# clear message, --insecure, --sni (sent and verified), --host and
# --header (seen by nginx), a client certificate that nginx requires,
# and wss:// through an HTTPS_PROXY (tinyproxy with Basic
# authentication); our own TLS server requiring client certificates
# (--tls-client-ca).  Bad TLS files are an error at start (exit 2).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init
command -v openssl >/dev/null 2>&1 || ls_skip "openssl not installed"

ls_web
ls_make_ca ca
ls_make_ca other
ls_make_cert front ca "" localhost "DNS:localhost,DNS:cdn.test,IP:127.0.0.1"
ls_make_cert alice ca "" alice "DNS:alice.test"
ls_make_cert mallory other "" mallory "DNS:mallory.test"
echo "not a certificate" >"$TMPD/junk.txt"

ls_start_server server
NP=$(ls_free_port)
NM=$(ls_free_port)
ND=$TMPD/nginx.d
ls_nginx nginx "
	log_format lsfront '\$server_port \$status host=\$host sni=\$ssl_server_name xt=\$http_x_linksocks_test cn=\$ssl_client_s_dn';
	map \$http_upgrade \$connection_upgrade { default upgrade; '' close; }
	server {
		listen 127.0.0.1:$NP ssl;
		access_log $ND/front.log lsfront;
		ssl_certificate $TMPD/front.pem;
		ssl_certificate_key $TMPD/front.key;
		location / {
			proxy_pass http://127.0.0.1:$WS_PORT;
			proxy_http_version 1.1;
			proxy_set_header Upgrade \$http_upgrade;
			proxy_set_header Connection \$connection_upgrade;
			proxy_set_header Host \$host;
			proxy_buffering off;
			proxy_read_timeout 1h;
			proxy_send_timeout 1h;
		}
	}
	server {
		listen 127.0.0.1:$NM ssl;
		access_log $ND/front.log lsfront;
		ssl_certificate $TMPD/front.pem;
		ssl_certificate_key $TMPD/front.key;
		ssl_client_certificate $TMPD/ca.pem;
		ssl_verify_client on;
		location / {
			proxy_pass http://127.0.0.1:$WS_PORT;
			proxy_http_version 1.1;
			proxy_set_header Upgrade \$http_upgrade;
			proxy_set_header Connection \$connection_upgrade;
			proxy_set_header Host \$host;
			proxy_buffering off;
			proxy_read_timeout 1h;
		}
	}"
wait_port 127.0.0.1 "$NP" 15 "$NGINX_PID" nginx
wait_port 127.0.0.1 "$NM" 15 "$NGINX_PID" nginx

# up NAME URL ARGS...: a client that must get its tunnel up; hello
# through it.
up() {
	local name=$1 url=$2
	shift 2
	rm -f "$TMPD/$name.port"
	ls_bg "$name" "$LINKSOCKS_BIN" client -t "$LS_TOKEN" -u "$url" \
	    -s 127.0.0.1 -p 0 --port-file "$TMPD/$name.port" --workers 1 -d "$@"
	ls_mark_master
	ls_wait_file "$TMPD/$name.port" "$LS_STARTUP" "$LAST_PID" "$name"
	SOCKS_PORT=$(ls_port_of "$TMPD/$name.port" socks)
	wait_port 127.0.0.1 "$SOCKS_PORT" "$LS_STARTUP" "$LAST_PID" "$name"
	ls_curl_hello "$SOCKS_PORT" "$name"
	ls_say "$name: tunnel up and carrying data"
}

# refused NAME URL PATTERN ARGS...: a client whose connection must fail
# with a log line matching PATTERN (then it retries; it is stopped).
refused() {
	local name=$1 url=$2 pat=$3 pid
	shift 3
	ls_bg "$name" "$LINKSOCKS_BIN" client -t "$LS_TOKEN" -u "$url" \
	    -s 127.0.0.1 -p 0 --workers 1 -d "$@"
	pid=$LAST_PID
	ls_mark_master
	ls_poll 20 "$pid" "$name" "/$pat/ in its log" \
	    grep -aqE -- "$pat" "$TMPD/$name.log"
	grep -aqE "tunnel .* ready|authenticated" "$TMPD/$name.log" &&
	    fail "$name: a tunnel came up"
	ls_stop "$name"
	ls_drop_master "$name"
	ls_say "$name: refused as expected"
}

U="wss://127.0.0.1:$NP"
up cafile "$U" --ca-file "$TMPD/ca.pem"
ls_check_get "$SOCKS_PORT" "http://127.0.0.1:$WEB/file?size=5000000" \
    "wss:// through nginx: 5 MB"
ls_stop cafile; ls_drop_master cafile

mkdir -p "$TMPD/capath"
cp "$TMPD/ca.pem" "$TMPD/capath/$(openssl x509 -hash -noout -in "$TMPD/ca.pem").0"
up capath "$U" --ca-path "$TMPD/capath"
ls_stop capath; ls_drop_master capath

refused wrongca "$U" \
    "cannot connect to 127\.0\.0\.1:$NP: TLS: certificate verify failed" \
    --ca-file "$TMPD/other.pem"
refused sysca "$U" "TLS: certificate verify failed"

up insecure "$U" --insecure
grep -aq "NOT verified; for tests only" "$TMPD/insecure.log" ||
    fail "--insecure: no warning on stderr"
ls_stop insecure; ls_drop_master insecure

# --sni: sent, and the name verified; --host and --header reach nginx.
up sni "$U" --ca-file "$TMPD/ca.pem" --sni cdn.test --host front.test \
    --header "X-Linksocks-Test: 42"
ls_stop sni; ls_drop_master sni
# nginx logs an upgraded request when it ends.
ls_poll 10 "$NGINX_PID" nginx "the access log line of the tunnel" \
    grep -aq "^$NP 101 host=front.test sni=cdn.test xt=42" "$ND/front.log"
refused badsni "$U" "TLS: certificate verify failed \(hostname mismatch\)" \
    --ca-file "$TMPD/ca.pem" --sni wrong.test

# A client certificate that the front end requires.
UM="wss://127.0.0.1:$NM"
refused nocert "$UM" "handshake failed: .*400" --ca-file "$TMPD/ca.pem"
refused badcert "$UM" "handshake failed: .*400" --ca-file "$TMPD/ca.pem" \
    --tls-client-cert "$TMPD/mallory.pem" --tls-client-key "$TMPD/mallory.key"
up cert "$UM" --ca-file "$TMPD/ca.pem" \
    --tls-client-cert "$TMPD/alice.pem" --tls-client-key "$TMPD/alice.key"
ls_stop cert; ls_drop_master cert
ls_poll 10 "$NGINX_PID" nginx "the access log line of the tunnel" \
    grep -aq "^$NM 101 .*cn=CN=alice" "$ND/front.log"

# wss:// through a corporate proxy from the environment.
ls_tinyproxy tp alice secret
HTTPS_PROXY="http://alice:secret@127.0.0.1:$TP_PORT" \
    up viaproxy "$U" --ca-file "$TMPD/ca.pem"
grep -aq "CONNECT.*127.0.0.1:$NP" "$TMPD/tp.tplog" ||
    fail "HTTPS_PROXY: tinyproxy logged no CONNECT to 127.0.0.1:$NP"
grep -aq "via http://127.0.0.1:$TP_PORT" "$TMPD/viaproxy.log" ||
    fail "HTTPS_PROXY: the client did not say it used the proxy"
ls_stop viaproxy; ls_drop_master viaproxy

# Our own TLS server requiring a client certificate (--tls-client-ca).
ls_start_server tlsca --tls-cert "$TMPD/front.pem" --tls-key "$TMPD/front.key" \
    --tls-client-ca "$TMPD/ca.pem"
UT="wss://127.0.0.1:$WS_PORT"
# TLS 1.3: the client has sent its upgrade when the server's alert comes,
# so the alert or, having lost the race with it, a reset is what it sees.
refused tnocert "$UT" "cannot connect to 127\.0\.0\.1:$WS_PORT: (TLS: .*certificate required|handshake failed: Connection reset by peer)" \
    --ca-file "$TMPD/ca.pem"
refused tbadcert "$UT" "cannot connect to 127\.0\.0\.1:$WS_PORT: TLS: .*(unknown ca|certificate)" \
    --ca-file "$TMPD/ca.pem" --tls-client-cert "$TMPD/mallory.pem" \
    --tls-client-key "$TMPD/mallory.key"
up tcert "$UT" --ca-file "$TMPD/ca.pem" --tls-client-cert "$TMPD/alice.pem" \
    --tls-client-key "$TMPD/alice.key"
ls_stop tcert; ls_drop_master tcert
rc=0
"$LINKSOCKS_BIN" server -t x -P 0 --tls-cert "$TMPD/front.pem" \
    --tls-key "$TMPD/front.key" --tls-client-ca "$TMPD/junk.txt" \
    >"$TMPD/bad.out" 2>&1 || rc=$?
[ "$rc" = 2 ] && grep -aq "client CA $TMPD/junk.txt" "$TMPD/bad.out" ||
    fail "--tls-client-ca junk: exit $rc: $(cat "$TMPD/bad.out")"

# Bad files: exit status 2 at start, naming the file.
bad() {
	local what=$1 want=$2 rc=0
	shift 2
	"$LINKSOCKS_BIN" client -t x -u "$U" -p 0 "$@" >"$TMPD/bad.out" 2>&1 ||
	    rc=$?
	[ "$rc" = 2 ] || fail "$what: exit $rc, not 2: $(cat "$TMPD/bad.out")"
	grep -aqE -- "$want" "$TMPD/bad.out" ||
	    fail "$what: no /$want/ in: $(cat "$TMPD/bad.out")"
}
bad "missing --ca-file" "CA certificates $TMPD/nope.pem" \
    --ca-file "$TMPD/nope.pem"
bad "--ca-path not a directory" "--ca-path .*not a directory" \
    --ca-path "$TMPD/ca.pem"
bad "key of another certificate" "client key .*(does not match|mismatch)" \
    --tls-client-cert "$TMPD/alice.pem" --tls-client-key "$TMPD/mallory.key"
bad "a certificate that is not PEM" "client certificate $TMPD/junk.txt" \
    --tls-client-cert "$TMPD/junk.txt" --tls-client-key "$TMPD/alice.key"
rc=0
"$LINKSOCKS_BIN" client -t x -u "$U" --tls-client-cert "$TMPD/alice.pem" \
    >"$TMPD/bad.out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -aq "go together" "$TMPD/bad.out" ||
    fail "--tls-client-cert alone: exit $rc: $(cat "$TMPD/bad.out")"
rc=0
"$LINKSOCKS_BIN" client -t x -u "$U" --header "Host: evil" \
    >"$TMPD/bad.out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -aq "cannot set Host" "$TMPD/bad.out" ||
    fail "--header Host: exit $rc: $(cat "$TMPD/bad.out")"

ls_finish
