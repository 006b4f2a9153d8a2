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

download() {
	local port=$1 what=$2 t0=$SECONDS
	ls_check_get "$port" "http://127.0.0.1:$WEB/file?size=$SIZE&seed=$what" \
	    "$what: $MB MB download"
	ls_say "$what: $MB MB download ok in $((SECONDS - t0)) s"
}

upload() {
	local port=$1 what=$2 t0=$SECONDS rc=0 got
	ls_curl "$port" -H 'Expect:' -T "$TMPD/up.bin" -o "$TMPD/up.reply" \
	    "http://127.0.0.1:$WEB/upload" 2>"$TMPD/up.err" || rc=$?
	[ "$rc" -eq 0 ] || fail "$what: upload curl exit $rc: $(cat "$TMPD/up.err")"
	got=$(cat "$TMPD/up.reply")
	[ "$got" = "$UPSUM $SIZE" ] ||
	    fail "$what: server received '$got', sent '$UPSUM $SIZE'"
	ls_say "$what: $MB MB upload ok in $((SECONDS - t0)) s"
}

download "$PLAIN" plain
upload "$PLAIN" plain
download "$FAST" fast
upload "$FAST" fast

ls_finish
