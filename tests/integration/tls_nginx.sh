#!/bin/sh
# nginx terminating TLS in front of a plain server: the configuration is
# the one in man/linksocks.1.in (section TLS, "Behind nginx"), read from
# between its "nginx example" markers, with only the listen address, the
# certificate paths and the server's port replaced (each replacement must
# happen, so the test fails when the page's example changes shape); the
# test wraps it in the top level nginx needs (pid, logs, temp paths in
# the test directory).  A client over wss:// through nginx moves 100 MB
# each way, compared by sha256 (LS_BULK_MB changes the size).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init
LS_WORKERS=2
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || ls_skip "nginx not installed"
command -v openssl >/dev/null 2>&1 || ls_skip "openssl not installed"
MAN="$TESTS_SRCDIR/../man/linksocks.1.in"
[ -f "$MAN" ] || fail "no man page at $MAN"

ls_make_ca ca
ls_make_cert srv ca
export SSL_CERT_FILE="$TMPD/ca.pem"

ls_bulk_init
ls_web
ls_start_server server
NPORT=$(python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# The example: the lines between .Bd and .Ed after the begin marker.
awk '/^\.\\" nginx example: begin/ { on = 1; next }
    /^\.\\" nginx example: end/ { on = 0 }
    on && /^\.Bd/ { lit = 1; next }
    on && /^\.Ed/ { lit = 0; next }
    on && lit' "$MAN" >"$TMPD/example.conf"
[ -s "$TMPD/example.conf" ] || fail "no nginx example in $MAN"
# subst FROM TO: replace the literal FROM, which must be there.
subst() {
	grep -qF -- "$1" "$TMPD/example.conf" ||
	    fail "the man page's nginx example has no '$1'"
	FROM=$1 TO=$2 python3 -c 'import os, sys
p = sys.argv[1]; s = open(p).read()
open(p, "w").write(s.replace(os.environ["FROM"], os.environ["TO"]))' \
	    "$TMPD/example.conf"
}
subst "listen 443 ssl;" "listen 127.0.0.1:$NPORT ssl;"
subst /etc/linksocks/fullchain.pem "$TMPD/srv.pem"
subst /etc/linksocks/key.pem "$TMPD/srv.key"
subst "http://127.0.0.1:8765;" "http://127.0.0.1:$WS_PORT;"
for d in proxy_buffering proxy_http_version proxy_read_timeout \
    'Upgrade $http_upgrade' 'Connection $connection_upgrade'; do
	grep -qF -- "$d" "$TMPD/example.conf" ||
	    fail "the man page's nginx example lacks '$d'"
done
mkdir -p "$TMPD/ngx" || fail "mkdir"
{
	[ "$(id -u)" -eq 0 ] && echo "user root;"
	echo "daemon off;"
	echo "worker_processes 1;"
	echo "pid $TMPD/nginx.pid;"
	echo "error_log $TMPD/nginx.err info;"
	echo "events { worker_connections 256; }"
	echo "http {"
	echo "    access_log $TMPD/nginx.access;"
	for t in client_body proxy fastcgi uwsgi scgi; do
		echo "    ${t}_temp_path $TMPD/ngx/$t;"
	done
	cat "$TMPD/example.conf"
	echo "}"
} >"$TMPD/nginx.conf"
"$NGINX" -t -p "$TMPD/ngx/" -e "$TMPD/nginx.err" -c "$TMPD/nginx.conf" \
    >"$TMPD/nginx-t.out" 2>&1 ||
    fail "nginx -t: $(cat "$TMPD/nginx-t.out")"
ls_bg nginx "$NGINX" -p "$TMPD/ngx/" -e "$TMPD/nginx.err" \
    -c "$TMPD/nginx.conf"
NGINX_PID=$LAST_PID
wait_port 127.0.0.1 "$NPORT" 10 "$NGINX_PID" nginx
ls_say "nginx: pid $NGINX_PID, port $NPORT -> 127.0.0.1:$WS_PORT"

# The client connects to nginx.
SPORT=$WS_PORT
WS_PORT=$NPORT LS_SCHEME=wss ls_start_client plain
ls_curl_hello "$SOCKS_PORT" "through nginx"
ls_bulk "$SOCKS_PORT" nginx "$MB" "$TMPD/up.bin" "$UPSUM"
# A plain request through nginx reaches the server too.
out=$(curl -sS --noproxy '' --cacert "$TMPD/ca.pem" \
    "https://127.0.0.1:$NPORT/" 2>&1)
case $out in
*"is running"*) ;;
*)	fail "GET / through nginx: $out" ;;
esac
grep -qaE '"GET / HTTP/1\.1" 200 ' "$TMPD/nginx.access" ||
    fail "nginx logged no request: $(tail -n 3 "$TMPD/nginx.access")"
grep -qaE "master: tunnel client 127\.0\.0\.1:[0-9]+ -> worker" \
    "$TMPD/server.log" || fail "the server saw no tunnel client"
ls_finish
