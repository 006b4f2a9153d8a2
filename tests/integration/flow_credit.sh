#!/bin/sh
# Never lose a byte, bound memory, no head-of-line blocking between our
# own peers (issue: data path).  On one tunnel (one worker everywhere),
# a channel whose reader stalls for $STALL s after 1 MiB runs beside a
# channel at full speed; both carry $MB MB, compared by sha256.  Between
# our peers (credit windows) the fast channel must finish while the slow
# one is stalled; with --no-extensions on one end (what a protocol-0x01
# peer gets) it may wait, but nothing is lost.  No linksocks process on
# the path grows by more than $RSS_MIB MiB of resident memory.
# Downloads and uploads (a target that stalls before reading), forward,
# reverse and agent mode, fast open on in reverse and agent mode.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

LS_WORKERS=1
LS_PROVIDER_WORKERS=1
MB=${LS_FLOW_MB:-64}
SIZE=$((MB * 1024 * 1024))
STALL=${LS_FLOW_STALL:-8}
# A process holds at most a window per channel (4 MiB by default), or
# about 2 MiB per channel and 4 MiB of tunnel output without credit;
# allocator slack comes on top.  Unbounded buffering would hold most of
# the stalled channel's $MB MB.
RSS_MIB=${LS_FLOW_RSS_MIB:-24}
LS_CURL_TIMEOUT=${LS_FLOW_TIMEOUT:-180}
# Freed memory is not held back by the sanitizer, so RSS means RSS.
ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=1:thread_local_quarantine_size_kb=64"
export ASAN_OPTIONS

ls_web
ls_upload_file "$SIZE"

# rss_start PID...: sample the RSS of these masters and their workers.
rss_start() {
	rm -f "$TMPD/rss.stop" "$TMPD/rss.out"
	local args= p
	for p in "$@"; do
		args="$args --pid $p"
	done
	python3 "$LS_LIB/rssmax.py" $args --stop-file "$TMPD/rss.stop" \
	    >"$TMPD/rss.out" &
	RSS_PID=$!
	ls_register "$RSS_PID" rssmax
}

rss_stop() {
	touch "$TMPD/rss.stop"
	wait "$RSS_PID" 2>/dev/null
	RSS_GROWTH=$(awk '$1 == "growth" { print $2 }' "$TMPD/rss.out")
	[ -n "$RSS_GROWTH" ] || fail "no RSS samples"
}

# check_fast WHAT ELAPSED EXPECT: with credit the fast channel must be
# done before the stall ends.
check_fast() {
	if [ "$3" = yes ]; then
		ls_between "$2" 0 $((STALL - 1)) ||
		    fail "$1: the fast channel took ${2}s while the other was stalled ${STALL}s: head-of-line blocking"
	fi
}

# both NAME PORT EXPECT PIDS...: down and up, with the RSS of the PIDs
# (masters, so their workers too) sampled from idle on.
both() {
	local name=$1 port=$2 expect=$3
	shift 3
	rss_start "$@"
	down "$name" "$port" "$expect"
	up "$name" "$port" "$expect"
	rss_stop
	ls_say "$name: largest RSS growth of a linksocks process $((RSS_GROWTH / 1024)) MiB"
	[ "$RSS_GROWTH" -le $((RSS_MIB * 1024)) ] ||
	    fail "$name: a linksocks process grew by $((RSS_GROWTH / 1024)) MiB (bound $RSS_MIB MiB): $(tr '\n' ';' <"$TMPD/rss.out")"
}

# down NAME PORT EXPECT: stalled and fast downloads side by side.
down() {
	local name=$1 port=$2 expect=$3 t0 el out rc=0
	timeout $((STALL + 150)) python3 "$LS_LIB/slowget.py" \
	    --proxy "127.0.0.1:$port" \
	    --url "http://127.0.0.1:$WEB/file?size=$SIZE&seed=$name-slow" \
	    --stall-after 1048576 --stall "$STALL" >"$TMPD/slow.out" 2>&1 &
	SLOW=$!
	ls_register "$SLOW" slowget
	sleep 1
	t0=$(ls_now)
	ls_check_get "$port" "http://127.0.0.1:$WEB/file?size=$SIZE&seed=$name-fast" \
	    "$name: fast download"
	el=$(ls_elapsed "$t0")
	wait "$SLOW" || rc=$?
	out=$(cat "$TMPD/slow.out")
	[ "$rc" -eq 0 ] && [ "${out%% *}" = ok ] ||
	    fail "$name: stalled download: $out"
	ls_say "$name: download: fast $MB MB in ${el}s beside a channel stalled ${STALL}s ($out)"
	check_fast "$name: download" "$el" "$expect"
}

# up NAME PORT EXPECT: an upload to a target that stalls before
# reading, and one at full speed.
up() {
	local name=$1 port=$2 expect=$3 t0 el rc=0 got
	ls_curl "$port" -H 'Expect:' -T "$TMPD/up.bin" -o "$TMPD/slowup.reply" \
	    "http://127.0.0.1:$WEB/upload?stall=$STALL" 2>"$TMPD/slowup.err" &
	SLOW=$!
	ls_register "$SLOW" slowup
	sleep 1
	t0=$(ls_now)
	ls_check_upload "$port" "$TMPD/up.bin" "$UPSUM" "$name: fast upload"
	el=$(ls_elapsed "$t0")
	wait "$SLOW" || rc=$?
	got=$(cat "$TMPD/slowup.reply" 2>/dev/null)
	[ "$rc" -eq 0 ] && [ "$got" = "$UPSUM $SIZE" ] ||
	    fail "$name: stalled upload: curl exit $rc, target got '$got': $(cat "$TMPD/slowup.err")"
	ls_say "$name: upload: fast $MB MB in ${el}s beside a target stalled ${STALL}s"
	check_fast "$name: upload" "$el" "$expect"
}

# Forward mode, credit windows on.
ls_start_server fserver
ls_start_client fclient
grep -qa 'ready (half-close, credit)' "$TMPD/fclient.log" ||
    fail "forward: the tunnel did not negotiate credit: $(grep -a ready "$TMPD/fclient.log")"
both forward "$SOCKS_PORT" yes "$SERVER_PID" "$CLIENT_PID"

# Forward mode against an end without extensions (plain 0x01): lossless
# and bounded, head-of-line blocking allowed.
ls_start_client fplain --no-extensions
grep -qa 'ready$' "$TMPD/fplain.log" ||
    fail "--no-extensions: the tunnel still negotiated something: $(grep -a ready "$TMPD/fplain.log")"
both forward-0x01 "$SOCKS_PORT" no "$SERVER_PID" "$CLIENT_PID"

# Reverse mode, the server's SOCKS5 port with fast open.
ls_start_rserver rserver -f
ls_start_provider rprov
ls_rsocks_port rserver
both reverse-fast "$RSOCKS_PORT" yes "$SERVER_PID" "$PROVIDER_PID"

# Agent mode, fast-open connector: credit on both hops, the server
# relays with a queue per channel.
ls_start_rserver aserver -c "$LS_CTOKEN"
ASERVER=$SERVER_PID
ls_start_provider aprov
APROV=$PROVIDER_PID
ls_start_connector aconn -f
both agent-fast "$SOCKS_PORT" yes "$ASERVER" "$APROV" "$CONNECTOR_PID"

# Agent mode with a provider without extensions: credit on the
# connector's hop only; the server holds back by window and pause.
ls_start_rserver bserver -c "$LS_CTOKEN"
BSERVER=$SERVER_PID
ls_start_provider bprov --no-extensions
ls_start_connector bconn
both agent-mixed "$SOCKS_PORT" no "$BSERVER" "$PROVIDER_PID" "$CONNECTOR_PID"

ls_finish
