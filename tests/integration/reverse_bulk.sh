#!/bin/sh
# Reverse mode: 100 MB download and 100 MB upload through the server's
# SOCKS port and a provider, compared by sha256, without and with fast
# open (server -f).  LS_BULK_MB changes the size.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

MB=${LS_BULK_MB:-100}
SIZE=$((MB * 1024 * 1024))
LS_CURL_TIMEOUT=${LS_BULK_TIMEOUT:-240}

ls_httpd web 127.0.0.1
WEB=$HTTP_PORT
ls_start_rserver plain
ls_start_provider pplain
ls_rsocks_port plain
PLAIN=$RSOCKS_PORT
ls_start_rserver fast -f
ls_start_provider pfast
ls_rsocks_port fast
FAST=$RSOCKS_PORT

head -c "$SIZE" /dev/urandom >"$TMPD/up.bin" || fail "cannot create upload file"
UPSUM=$(sha256sum <"$TMPD/up.bin" | cut -d' ' -f1)

for mode in plain fast; do
	if [ "$mode" = plain ]; then port=$PLAIN; else port=$FAST; fi
	ls_bulk "$port" "$mode" "$MB" "$TMPD/up.bin" "$UPSUM"
	[ "$(ls_dials "p$mode" "$WEB")" -ge 2 ] ||
	    fail "$mode: the provider logged no dial to 127.0.0.1:$WEB"
done

ls_finish
