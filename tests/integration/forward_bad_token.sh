#!/bin/sh
# A client with a wrong token exits non-zero within a few seconds with
# "authentication failed" on stderr and leaves no process behind; the
# server keeps serving good clients.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

ls_web
ls_start_server server

for workers in 1 "$LS_WORKERS"; do
	name=bad$workers
	t0=$SECONDS
	"$LINKSOCKS_BIN" client -t "wrong-$LS_TOKEN" \
	    -u "ws://127.0.0.1:$WS_PORT" -s 127.0.0.1 -p 0 \
	    --port-file "$TMPD/$name.port" --workers "$workers" \
	    >"$TMPD/$name.out" 2>"$TMPD/$name.log" </dev/null &
	pid=$!
	ls_register "$pid" "$name"
	rc=0
	# bounded: the client must be gone after 15 s
	n=0
	while ls_alive "$pid" && [ "$n" -lt 150 ]; do
		sleep 0.1
		n=$((n + 1))
	done
	ls_alive "$pid" && fail "$name: client with a wrong token still running after 15 s"
	wait "$pid" || rc=$?
	el=$((SECONDS - t0))
	[ "$rc" -ne 0 ] || fail "$name: client with a wrong token exited 0"
	[ "$el" -le 10 ] || fail "$name: client took ${el}s to give up"
	grep -q "authentication failed" "$TMPD/$name.log" ||
	    fail "$name: no 'authentication failed' on stderr"
	# No worker may survive its master.
	sleep 1
	left=$(pgrep -f -- "$TMPD/$name.port" || true)
	if [ -n "$left" ]; then
		for p in $left; do
			ls_register "$p" "$name-leftover"
		done
		fail "$name: processes left behind: $left"
	fi
	ls_alive "$SERVER_PID" || fail "server died after a bad token"
	ls_say "$name: exit $rc after ${el}s, 'authentication failed' logged"
done

# A one-letter token, run under timeout(1).
rc=0
timeout 15 "$LINKSOCKS_BIN" client -t "x" -u "ws://127.0.0.1:$WS_PORT" \
    -s 127.0.0.1 -p 0 --port-file "$TMPD/badx.port" --workers 1 \
    >"$TMPD/badx.out" 2>"$TMPD/badx.log" </dev/null || rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] ||
    fail "client with token 'x': exit $rc (124 = still running after 15 s)"
grep -q "authentication failed" "$TMPD/badx.log" ||
    fail "client with token 'x': no 'authentication failed' on stderr"

ls_alive "$SERVER_PID" || fail "server died after bad tokens"
ls_start_client good
ls_check_get "$SOCKS_PORT" "http://127.0.0.1:$WEB/file?size=100000" \
    "good client after bad ones"

ls_finish
