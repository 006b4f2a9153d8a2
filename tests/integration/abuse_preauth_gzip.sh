#!/bin/sh
# Compressed messages before authentication cost no inflating (issue 9,
# finding (b): a 65 KB gzip Data message, sent first, inflated to 64 MiB,
# ~180 ms of CPU, before it was refused).  One server worker:
#  1. 100 connections send, without a token, a Data message whose gzip
#     payload inflates to 64 MiB: each is closed with 1009 (over the
#     4 KiB limit before authentication).
#  2. 100 more send a Data message small enough for that limit whose
#     payload still inflates to about 4 MiB: each gets AuthResponse(0)
#     ("invalid auth message") and 1008, from its type byte alone.
# Each phase costs the worker less than 0.5 s of CPU (utime + stime),
# and meanwhile a transfer through a forward client is whole and quick.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

BOUND=0.5	# CPU seconds per phase of 100 messages
LS_WORKERS=1

ls_httpd web 127.0.0.1
WEB=$HTTP_PORT
ls_start_server server
W=$(ls_children "$SERVER_PID")
[ -n "$W" ] && [ "$(echo "$W" | wc -l)" = 1 ] ||
    fail "expected one server worker, have '$W'"
ls_start_client fwd
ls_check_get "$SOCKS_PORT" "http://127.0.0.1:$WEB/file?size=100000" \
    "before the attack"
HZ=$(getconf CLK_TCK)

cpu() {
	# utime + stime (fields 14 and 15; the name in field 2 has no blank)
	awk -v hz="$HZ" '{ printf "%.2f\n", ($14 + $15) / hz }' "/proc/$W/stat"
}

# phase NAME ARGS...: 100 gzip Data messages with a transfer meanwhile;
# sets OUT and USED (CPU seconds).
phase() {
	local name=$1 c0 c1 t0 el
	shift
	c0=$(cpu)
	ls_bg "$name" timeout 60 python3 "$LS_LIB/abuse.py" gzip \
	    --port "$WS_PORT" --conns 100 --parallel 10 --time 25 "$@"
	local pid=$LAST_PID
	t0=$(ls_now)
	ls_check_get "$SOCKS_PORT" \
	    "http://127.0.0.1:$WEB/file?size=300000&seed=$name" "$name: transfer"
	el=$(ls_elapsed "$t0")
	wait "$pid" || fail "$name: abuse.py gzip exited $?"
	sleep 0.5
	c1=$(cpu)
	OUT=$(cat "$TMPD/$name.out")
	printf '%s\n' "$OUT" | sed "s/^/  $name: /"
	USED=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f\n", b - a }')
	ls_say "$name: worker CPU $USED s; transfer meanwhile in ${el}s"
	ls_between "$el" 0 5 || fail "$name: the transfer took ${el}s"
}

phase big --inflate $((64 * 1024 * 1024))
[ "$(ls_field "$OUT" done)" = 100 ] ||
    fail "big: $(ls_field "$OUT" done) of 100 ended"
[ "$(ls_field "$OUT" codes)" = "1009:100" ] ||
    fail "big: close codes '$(ls_field "$OUT" codes)', expected 1009:100"
ls_between "$USED" 0 "$BOUND" || fail "big: worker used $USED s of CPU (bound $BOUND)"

phase small --fit 4096
[ "$(ls_field "$OUT" inflates)" -ge $((3 * 1024 * 1024)) ] ||
    fail "small: the message inflates to only $(ls_field "$OUT" inflates) bytes"
[ "$(ls_field "$OUT" done)" = 100 ] ||
    fail "small: $(ls_field "$OUT" done) of 100 ended"
[ "$(ls_field "$OUT" authresp)" = 100 ] ||
    fail "small: $(ls_field "$OUT" authresp) AuthResponse(0), expected 100"
[ "$(ls_field "$OUT" codes)" = "1008:100" ] ||
    fail "small: close codes '$(ls_field "$OUT" codes)', expected 1008:100"
ls_between "$USED" 0 "$BOUND" || fail "small: worker used $USED s of CPU (bound $BOUND)"
# Failed authentications are logged once a second; a line ending in
# "(N more)" stands for N of them, itself included, and comes at the
# latest a second after the burst: every one is accounted for.
sleep 1.5
n=$(awk '/authentication failed: invalid auth message( \([0-9]+ more\))?$/ {
	if (match($0, /\(([0-9]+) more\)$/)) n += substr($0, RSTART + 1) + 0
	else n++
} END { print n + 0 }' "$TMPD/server.log")
[ "$n" -ge 100 ] || fail "small: $n 'invalid auth message' failures logged"

ls_check_get "$SOCKS_PORT" "http://127.0.0.1:$WEB/file?size=1000000" \
    "after the attack"
ls_alive "$SERVER_PID" || fail "server died"
ls_finish
