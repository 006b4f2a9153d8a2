#!/bin/sh
# Reverse mode load sharing: three providers on one token; 300
# sequential SOCKS connections through the server are spread round robin
# (each provider's dial count within +-20% of 100).  Then one provider is
# killed (-9, master and worker) during another 200 connections, and a
# second one stopped with SIGTERM during 200 more: every connection not
# in flight at that moment must succeed.  Done with a one-worker server
# and again with --workers 2.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

ls_web
LS_PROVIDER_WORKERS=1

# loop NAME PORT COUNT: socksloop in the background; sets LOOP_PID.
# loop NAME PORT COUNT [INTERVAL]: COUNT connections in the background,
# INTERVAL seconds apart (0).
loop() {
	rm -f "$TMPD/$1.res"
	python3 "$LS_LIB/socksloop.py" --proxy "127.0.0.1:$2" \
	    --target "127.0.0.1:$WEB" --count "$3" --timeout 20 \
	    --interval "${4:-0}" >"$TMPD/$1.res" 2>"$TMPD/$1.err" &
	LOOP_PID=$!
	ls_register "$LOOP_PID" "loop-$1"
}

# loop_wait NAME SECS
loop_wait() {
	local pid n=0
	pid=$(ls_pid_of "loop-$1")
	while ls_alive "$pid"; do
		n=$((n + 1))
		[ "$n" -le $(($2 * 10)) ] ||
		    fail "$1: connection loop still running after $2 s ($(wc -l <"$TMPD/$1.res") done)"
		sleep 0.1
	done
	wait "$pid" 2>/dev/null
	grep -q '^summary ' "$TMPD/$1.res" ||
	    fail "$1: connection loop died: $(tail -n 3 "$TMPD/$1.err")"
}

# loop_results NAME: wait until the loop has N result lines.
loop_lines() {
	grep -c '^[0-9]' "$TMPD/$1.res" 2>/dev/null || true
}

# run_share SRV PORT PREFIX: 3 providers, 300 connections, distribution.
run_share() {
	local srv=$1 port=$2 pre=$3 p d c lo=80 hi=120 dist=
	local -A before
	for p in 1 2 3; do
		before[$p]=$(ls_dials "$pre$p" "$WEB")
	done
	loop "$srv-share" "$port" 300
	loop_wait "$srv-share" 240
	grep -q '^summary ok 300 fail 0$' "$TMPD/$srv-share.res" || {
		grep -v ' ok ' "$TMPD/$srv-share.res" | head -n 20 >&2
		fail "$srv: not all of 300 connections succeeded"
	}
	sleep 0.5
	for p in 1 2 3; do
		d=$(($(ls_dials "$pre$p" "$WEB") - ${before[$p]}))
		dist="$dist $pre$p=$d"
	done
	ls_say "$srv: 300 connections, dials per provider:$dist"
	c=0
	for p in 1 2 3; do
		d=$(($(ls_dials "$pre$p" "$WEB") - ${before[$p]}))
		c=$((c + d))
		[ "$d" -ge "$lo" ] && [ "$d" -le "$hi" ] ||
		    fail "$srv: provider $pre$p dialled $d of 300 (want $lo..$hi):$dist"
	done
	[ "$c" -eq 300 ] || fail "$srv: providers logged $c dials for 300 connections"
}

# run_kill SRV PORT VICTIM HOW SURVIVORS...: 200 connections, VICTIM
# killed (HOW = kill9 | term) after about 30.
run_kill() {
	local srv=$1 port=$2 victim=$3 how=$4 name tkill tgone n=0 p s0=0 s1=0
	local bad late nafter
	shift 4
	name="$srv-$how"
	# Paced, so at least 50 of the 170 after the kill come once the
	# victim is gone, however fast each connection is.
	loop "$name" "$port" 200 0.01
	while [ "$(loop_lines "$name")" -lt 30 ]; do
		n=$((n + 1))
		[ "$n" -le 600 ] || fail "$name: fewer than 30 connections in 60 s"
		ls_alive "$LOOP_PID" || fail "$name: loop ended early: $(tail -n 3 "$TMPD/$name.res")"
		sleep 0.1
	done
	for p in "$@"; do
		s0=$((s0 + $(ls_dials "$p" "$WEB")))
	done
	tkill=$(ls_now)
	if [ "$how" = kill9 ]; then
		ls_kill9_tree "$victim"
	else
		ls_stop "$victim"
		[ "$LS_RC" = 0 ] || fail "$name: provider $victim exit '$LS_RC' after SIGTERM"
		ls_say "$victim: stopped with SIGTERM"
	fi
	# SIGTERM: the provider is gone once its master exited.
	tgone=$(ls_now)
	ls_drop_master "$victim"
	loop_wait "$name" 240
	for p in "$@"; do
		s1=$((s1 + $(ls_dials "$p" "$WEB")))
	done
	# Failures: only connections in flight while the provider went
	# away (started before it was gone + 0.5 s).
	bad=$(awk '$2 != "ok" && $1 ~ /^[0-9]+$/ { print }' "$TMPD/$name.res")
	late=$(printf '%s\n' "$bad" | awk -v t="$tgone" 'NF && $3 > t + 0.5')
	[ -z "$bad" ] || ls_say "$name: failed around the kill ($how at $tkill, gone at $tgone):" $bad
	[ -z "$late" ] || {
		cat "$TMPD/$name.res" >&2
		fail "$name: connections started after $victim was gone failed: $late"
	}
	[ "$(printf '%s\n' "$bad" | awk 'NF' | wc -l)" -le 3 ] ||
	    fail "$name: more than 3 connections failed around the kill"
	nafter=$(awk -v t="$tgone" '$2 == "ok" && $3 > t + 0.2' "$TMPD/$name.res" | wc -l)
	[ "$nafter" -ge 50 ] || fail "$name: only $nafter connections after the kill"
	[ $((s1 - s0)) -ge "$nafter" ] ||
	    fail "$name: survivors ($*) dialled $((s1 - s0)) times for $nafter connections after the kill"
	ls_say "$name: $victim gone; $nafter later connections all served by $*"
}

for w in 1 2; do
	LS_WORKERS=$w
	srv=srv$w
	ls_start_rserver "$srv"
	for p in 1 2 3; do
		ls_start_provider "w${w}p$p"
	done
	ls_rsocks_port "$srv"
	PORT=$RSOCKS_PORT
	# Let the server learn all three providers.
	sleep 1
	run_share "$srv" "$PORT" "w${w}p"
	run_kill "$srv" "$PORT" "w${w}p3" kill9 "w${w}p1" "w${w}p2"
	run_kill "$srv" "$PORT" "w${w}p2" term "w${w}p1"
	ls_check_get "$PORT" "http://127.0.0.1:$WEB/file?size=100000" \
	    "$srv: one provider left"
done

ls_finish
