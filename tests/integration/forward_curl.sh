#!/bin/sh
# curl --socks5-hostname through client+server to a local HTTP server,
# fast open off and on; every body must match its sha256 header.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

ls_httpd web 127.0.0.1
WEB=$HTTP_PORT
ls_start_server server
ls_start_client plain
PLAIN=$SOCKS_PORT
ls_start_client fast -f
FAST=$SOCKS_PORT

for mode in plain fast; do
	if [ "$mode" = plain ]; then port=$PLAIN; else port=$FAST; fi
	for size in 0 1 1000 65536 65537 1048579 5000000; do
		ls_check_get "$port" \
		    "http://127.0.0.1:$WEB/file?size=$size&seed=$mode$size" \
		    "$mode size $size"
	done
	ls_say "$mode: single downloads ok"

	# Several requests on one kept-alive connection.
	rc=0
	ls_curl "$port" -o "$TMPD/a" -o "$TMPD/b" -o "$TMPD/c" \
	    "http://127.0.0.1:$WEB/file?size=100&seed=a" \
	    "http://127.0.0.1:$WEB/file?size=200000&seed=b" \
	    "http://127.0.0.1:$WEB/hello" 2>"$TMPD/curl.err" || rc=$?
	[ "$rc" -eq 0 ] || fail "$mode keep-alive: curl exit $rc: $(cat "$TMPD/curl.err")"
	want=$(python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import httpd; print(httpd.content_sha256(100, "a"), httpd.content_sha256(200000, "b"))' "$LS_LIB")
	got="$(sha256sum <"$TMPD/a" | cut -d' ' -f1) $(sha256sum <"$TMPD/b" | cut -d' ' -f1)"
	[ "$got" = "$want" ] || fail "$mode keep-alive: sha256 '$got' != '$want'"
	[ "$(cat "$TMPD/c")" = hello ] || fail "$mode keep-alive: /hello gave '$(cat "$TMPD/c")'"

	# 20 parallel small downloads.
	pids=
	for i in $(seq 1 20); do
		ls_curl "$port" -o "$TMPD/p$i" -D "$TMPD/p$i.h" \
		    "http://127.0.0.1:$WEB/file?size=$((i * 7919))&seed=p$i" \
		    2>"$TMPD/p$i.err" &
		pids="$pids $!"
		ls_register "$!" "curl-p$i"
	done
	i=0
	for p in $pids; do
		i=$((i + 1))
		rc=0
		wait "$p" || rc=$?
		[ "$rc" -eq 0 ] || fail "$mode parallel #$i: curl exit $rc: $(cat "$TMPD/p$i.err")"
		want=$(ls_header "$TMPD/p$i.h" X-Content-SHA256)
		got=$(sha256sum <"$TMPD/p$i" | cut -d' ' -f1)
		[ -n "$want" ] && [ "$got" = "$want" ] ||
		    fail "$mode parallel #$i: sha256 $got != '$want'"
	done
	ls_say "$mode: keep-alive and 20 parallel downloads ok"
done

ls_finish
