#!/bin/sh
# Agent mode: 100 MB download and 100 MB upload through connector ->
# server -> provider, compared by sha256, connector fast open off and
# on.  LS_BULK_MB changes the size.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

MB=${LS_BULK_MB:-100}
SIZE=$((MB * 1024 * 1024))
LS_CURL_TIMEOUT=${LS_BULK_TIMEOUT:-240}

ls_httpd web 127.0.0.1
WEB=$HTTP_PORT
ls_start_rserver server -c "$LS_CTOKEN"
ls_start_provider prov
ls_start_connector plain
PLAIN=$SOCKS_PORT
ls_start_connector fast -f
FAST=$SOCKS_PORT

head -c "$SIZE" /dev/urandom >"$TMPD/up.bin" || fail "cannot create upload file"
UPSUM=$(sha256sum <"$TMPD/up.bin" | cut -d' ' -f1)

for mode in plain fast; do
	if [ "$mode" = plain ]; then port=$PLAIN; else port=$FAST; fi
	d0=$(ls_dials prov "$WEB")
	ls_bulk "$port" "$mode" "$MB" "$TMPD/up.bin" "$UPSUM"
	[ $(($(ls_dials prov "$WEB") - d0)) -ge 2 ] ||
	    fail "$mode: the provider logged fewer than 2 dials to 127.0.0.1:$WEB"
done

ls_finish
