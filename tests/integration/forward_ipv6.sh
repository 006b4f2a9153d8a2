#!/bin/sh
# IPv6 and name targets: an HTTP server on [::1] reached as an IPv6
# literal (ATYP 4 and as a name), "localhost" (dual-stack and IPv4-only
# targets: every address of the name must be tried), and the whole
# tunnel (WebSocket and SOCKS) listening on ::1.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

ls_have_ipv6 || ls_skip "no IPv6 loopback"
getent ahosts localhost >/dev/null || ls_skip "localhost does not resolve"
# Only where localhost also names ::1 can a ::1-only target be reached by it.
if getent ahosts localhost | grep -q '^::1[[:space:]]'; then
	LOCALHOST6=yes
else
	LOCALHOST6=no
fi

ls_httpd web6 ::1
WEB6=$HTTP_PORT
ls_httpd web4 127.0.0.1
WEB4=$HTTP_PORT
ls_httpd webdual dual
WEBD=$HTTP_PORT
HELLO=$(printf 'hello\n' | sha256sum | cut -d' ' -f1)

ls_start_forward

for mode in plain fast; do
	if [ "$mode" = plain ]; then port=$PLAIN; else port=$FAST; fi

	ls_check_get "$port" "http://[::1]:$WEB6/file?size=300000&seed=6" \
	    "$mode: curl to [::1]"

	out=$(ls_socks5 --proxy "127.0.0.1:$port" --target "[::1]:$WEB6" \
	    --http-get /hello)
	ls_expect "$out" reply 05000001000000000000 "$mode: ATYP 4 ::1"
	ls_expect "$out" http-status 200 "$mode: ATYP 4 ::1"
	ls_expect "$out" body-sha256 "$HELLO" "$mode: ATYP 4 ::1"

	out=$(ls_socks5 --proxy "127.0.0.1:$port" --target "[::1]:$WEB6" \
	    --atyp domain --http-get /hello)
	ls_expect "$out" reply 05000001000000000000 "$mode: name '::1' (ATYP 3)"
	ls_expect "$out" body-sha256 "$HELLO" "$mode: name '::1' (ATYP 3)"

	ls_check_get "$port" "http://localhost:$WEBD/file?size=300000&seed=d" \
	    "$mode: curl to localhost (dual-stack target)"
	ls_check_get "$port" "http://localhost:$WEB4/file?size=300000&seed=4" \
	    "$mode: curl to localhost (target on 127.0.0.1 only; the server must try every address of the name)"
	if [ "$LOCALHOST6" = yes ]; then
		ls_check_get "$port" "http://localhost:$WEB6/file?size=300000&seed=l6" \
		    "$mode: curl to localhost (target on ::1 only; the server must try every address of the name)"
	fi
	ls_say "$mode: IPv6 and localhost targets ok"
done

# The tunnel itself over IPv6: server and SOCKS listening on ::1.
LS_HOST=::1
ls_start_server server6
ls_start_client client6
ls_check_get "$SOCKS_PORT" "http://[::1]:$WEB6/file?size=1000000&seed=x" \
    "tunnel on ::1, target [::1]"
ls_check_get "$SOCKS_PORT" "http://127.0.0.1:$WEB4/file?size=1000000&seed=y" \
    "tunnel on ::1, target 127.0.0.1"
ls_say "tunnel over ::1 ok"

ls_finish
