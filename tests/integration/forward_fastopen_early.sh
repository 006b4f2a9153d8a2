#!/bin/sh
# Early data: the SOCKS client writes greeting + CONNECT + its request in
# ONE write, before reading any reply; the response must be complete and
# correct.  Mainly for fast open (the data races the remote connect),
# also checked without it (nothing may be dropped either way).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

OK=05000001000000000000

ls_httpd web 127.0.0.1
WEB=$HTTP_PORT
# "localhost" target: dual-stack when there is IPv6, so the test does
# not depend on which address of the name is dialled first.
if python3 -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
	ls_httpd webd dual
	WEBD=$HTTP_PORT
else
	WEBD=$WEB
fi
ls_start_server server
ls_start_client fast -f
FAST=$SOCKS_PORT
ls_start_client plain
PLAIN=$SOCKS_PORT

# check OUT WHAT SIZE
check() {
	ls_expect "$1" method 0500 "$2"
	ls_expect "$1" reply "$OK" "$2"
	ls_expect "$1" http-status 200 "$2"
	ls_expect "$1" body-len "$3" "$2"
	ls_expect "$1" header-sha256 "$(ls_field "$1" body-sha256)" "$2"
}

for mode in fast plain; do
	if [ "$mode" = fast ]; then port=$FAST; else port=$PLAIN; fi
	for i in $(seq 1 25); do
		size=$((i * 1031))
		out=$(ls_socks5 --proxy "127.0.0.1:$port" --pipeline \
		    --target "127.0.0.1:$WEB" \
		    --http-get "/file?size=$size&seed=e$i")
		check "$out" "$mode early GET #$i" "$size"
	done
	# Same by name (ATYP 3): the dial waits for DNS as well.
	for i in 1 2 3 4 5; do
		out=$(ls_socks5 --proxy "127.0.0.1:$port" --pipeline \
		    --target "localhost:$WEBD" --http-get "/file?size=5000&seed=n$i")
		check "$out" "$mode early GET by name #$i" 5000
	done
	# Early upload: request head in the first write, then 2 MB of body,
	# all before the CONNECT reply is read.
	for n in 1 2000000; do
		out=$(ls_socks5 --proxy "127.0.0.1:$port" --pipeline \
		    --target "127.0.0.1:$WEB" --upload "$n")
		ls_expect "$out" reply "$OK" "$mode early upload $n"
		ls_expect "$out" http-status 200 "$mode early upload $n"
		ls_expect "$out" header-sha256 "$(ls_field "$out" sent-sha256)" \
		    "$mode early upload $n"
	done
	ls_say "$mode: early data delivered intact"
done

ls_finish
