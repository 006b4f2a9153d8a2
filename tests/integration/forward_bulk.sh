#!/bin/sh
# 100 MB download and 100 MB upload through the tunnel, compared by
# sha256, without and with fast open.  LS_BULK_MB changes the size.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

MB=${LS_BULK_MB:-100}
SIZE=$((MB * 1024 * 1024))
LS_CURL_TIMEOUT=${LS_BULK_TIMEOUT:-240}

ls_httpd web 127.0.0.1
WEB=$HTTP_PORT
ls_start_server server
ls_start_client plain
PLAIN=$SOCKS_PORT
ls_start_client fast -f
FAST=$SOCKS_PORT

head -c "$SIZE" /dev/urandom >"$TMPD/up.bin" || fail "cannot create upload file"
UPSUM=$(sha256sum <"$TMPD/up.bin" | cut -d' ' -f1)

ls_bulk "$PLAIN" plain "$MB" "$TMPD/up.bin" "$UPSUM"
ls_bulk "$FAST" fast "$MB" "$TMPD/up.bin" "$UPSUM"

ls_finish
