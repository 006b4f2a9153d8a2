#!/bin/sh
# Early data: the SOCKS client writes greeting + CONNECT + its request in
# ONE write, before reading any reply; the response must be complete and
# correct.  Mainly for fast open (the data races the remote connect),
# also checked without it (nothing may be dropped either way).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

ls_web
# "localhost" target: dual-stack when there is IPv6, so the test does
# not depend on which address of the name is dialled first.
if ls_have_ipv6; then
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

for mode in fast plain; do
	if [ "$mode" = fast ]; then port=$FAST; else port=$PLAIN; fi
	ls_early_gets "$port" "$mode" 25 1031
	# Same by name (ATYP 3): the dial waits for DNS as well.
	for i in 1 2 3 4 5; do
		out=$(ls_socks5 --proxy "127.0.0.1:$port" --pipeline \
		    --target "localhost:$WEBD" --http-get "/file?size=5000&seed=n$i")
		ls_expect_get "$out" "$mode early GET by name #$i" 5000
	done
	# Early upload: request head in the first write, then 2 MB of body,
	# all before the CONNECT reply is read.
	for n in 1 2000000; do
		ls_early_upload "$port" "$n" "$mode early upload $n"
	done
	ls_say "$mode: early data delivered intact"
done

ls_finish
