#!/bin/sh
# Multi-process: client and server with --workers 2.  Connections are
# served by both client workers; killing one client worker (SIGKILL)
# mid-transfer makes the master respawn it while transfers held by the
# other worker complete intact, and new connections work afterwards.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init
LS_WORKERS=2

SLOW_SIZE=$((6 * 1024 * 1024))	# 6 MB at 1 MB/s: ~6 s per transfer
SLOW_RATE=$((1024 * 1024))

ls_httpd web 127.0.0.1
WEB=$HTTP_PORT
ls_httpd slow 127.0.0.1 --rate "$SLOW_RATE"
SLOW=$HTTP_PORT
ls_start_server server
ls_start_client client
CPID=$CLIENT_PID
SPORT=$SOCKS_PORT
CLOG=$TMPD/client.log

# wait_kids PID N SECS: until PID has exactly N children; sets KIDS.
wait_kids() {
	local pid=$1 want=$2 end=$((SECONDS + $3)) n
	while :; do
		KIDS=$(ls_children "$pid" | tr '\n' ' ')
		n=$(echo $KIDS | wc -w)
		[ "$n" -eq "$want" ] && return 0
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.1
	done
}

wait_kids "$CPID" 2 10 || fail "client master has children '$KIDS', want 2 workers"
wait_kids "$SERVER_PID" 2 10 || fail "server master has children '$KIDS', want 2 workers"
wait_kids "$CPID" 2 1
OLDKIDS=$KIDS
ls_say "client workers: $OLDKIDS"

# served_by FROMLINE PORT: distinct "worker N" that logged opening a
# channel to 127.0.0.1:PORT after line FROMLINE of the client log.
served_by() {
	tail -n +"$(($1 + 1))" "$CLOG" |
	    grep -aoE "worker [0-9]+: .*channel [0-9a-f]{8} open 127\.0\.0\.1:$2([^0-9]|$)" |
	    awk '{ print $1 " " $2 }' | tr -d ':' | sort | uniq -c
}

# 1. 40 connections, in batches of 10 in parallel.
for batch in 1 2 3 4; do
	pids=
	for i in $(seq 1 10); do
		n=$(((batch - 1) * 10 + i))
		ls_curl "$SPORT" -o "$TMPD/w$n" -D "$TMPD/w$n.h" \
		    "http://127.0.0.1:$WEB/file?size=$((n * 1000))&seed=w$n" \
		    2>"$TMPD/w$n.err" &
		pids="$pids $!"
		ls_register "$!" "curl-w$n"
	done
	n=$(((batch - 1) * 10))
	for p in $pids; do
		n=$((n + 1))
		rc=0
		wait "$p" || rc=$?
		[ "$rc" -eq 0 ] || fail "connection $n: curl exit $rc: $(cat "$TMPD/w$n.err")"
		want=$(ls_header "$TMPD/w$n.h" X-Content-SHA256)
		got=$(sha256sum <"$TMPD/w$n" | cut -d' ' -f1)
		[ -n "$want" ] && [ "$got" = "$want" ] ||
		    fail "connection $n: sha256 $got != '$want'"
	done
done
sleep 0.5
dist=$(served_by 0 "$WEB")
ls_say "40 connections served by:" $dist
total=$(printf '%s\n' "$dist" | awk '{ s += $1 } END { print s + 0 }')
[ "$total" -ge 40 ] ||
    fail "client -d log has $total 'channel <id> open 127.0.0.1:$WEB' lines for 40 connections"
printf '%s\n' "$dist" | grep -q ' worker 0$' ||
    fail "no channel served by 'worker 0' ($dist)"
printf '%s\n' "$dist" | grep -q ' worker 1$' ||
    fail "no channel served by 'worker 1' ($dist)"

# 2. slow transfers spread over both workers, then SIGKILL one worker.
NSLOW=0
start_slow() {
	local k
	for k in $(seq 1 "$1"); do
		NSLOW=$((NSLOW + 1))
		ls_curl "$SPORT" -o "$TMPD/s$NSLOW" -D "$TMPD/s$NSLOW.h" \
		    "http://127.0.0.1:$SLOW/file?size=$SLOW_SIZE&seed=s$NSLOW" \
		    2>"$TMPD/s$NSLOW.err" &
		SLOWPID[$NSLOW]=$!
		ls_register "$!" "curl-s$NSLOW"
	done
}

# counts: per-worker ESTABLISHED sockets on the SOCKS port, "pid n" lines.
counts() {
	python3 "$LS_LIB/sockowners.py" "$SPORT" $OLDKIDS
}

declare -a SLOWPID
start_slow 6
split=no
for attempt in 1 2 3; do
	end=$((SECONDS + 10))
	while :; do
		c=$(counts)
		sum=$(printf '%s\n' "$c" | awk '{ s += $2 } END { print s + 0 }')
		[ "$sum" -ge "$NSLOW" ] && break
		[ "$SECONDS" -lt "$end" ] ||
		    fail "only $sum of $NSLOW SOCKS connections held by the workers ($c)"
		sleep 0.1
	done
	if [ "$(printf '%s\n' "$c" | awk '$2 > 0' | wc -l)" -ge 2 ]; then
		split=yes
		break
	fi
	ls_say "all slow connections on one worker ($c), adding 4"
	start_slow 4
done
[ "$split" = yes ] || fail "$NSLOW connections never spread over both workers: $c"

VICTIM=$(printf '%s\n' "$c" | awk '$2 > 0 { print $1; exit }')
SURVIVOR_CONNS=$(printf '%s\n' "$c" | awk -v v="$VICTIM" '$1 != v { s += $2 } END { print s + 0 }')
VICTIM_CONNS=$(printf '%s\n' "$c" | awk -v v="$VICTIM" '$1 == v { print $2 }')
running=0
for k in $(seq 1 "$NSLOW"); do
	ls_alive "${SLOWPID[$k]}" && running=$((running + 1))
done
ls_say "killing worker $VICTIM ($VICTIM_CONNS transfers; $SURVIVOR_CONNS on the other; $running of $NSLOW still running)"
kill -KILL "$VICTIM"
LS_KIDS+=("$VICTIM")

end=$((SECONDS + 5))
while :; do
	KIDS=$(ls_children "$CPID" | tr '\n' ' ')
	nk=$(echo $KIDS | wc -w)
	new=
	for k in $KIDS; do
		case " $OLDKIDS " in *" $k "*) ;; *) new=$k ;; esac
	done
	case " $KIDS " in *" $VICTIM "*) gone=no ;; *) gone=yes ;; esac
	[ "$nk" -eq 2 ] && [ -n "$new" ] && [ "$gone" = yes ] && break
	[ "$SECONDS" -lt "$end" ] ||
	    fail "no respawn within 5 s: workers now '$KIDS', before '$OLDKIDS', killed $VICTIM"
	sleep 0.1
done
ls_alive "$CPID" || fail "client master died after a worker was killed"
ls_say "respawned: workers now $KIDS (new $new)"

ok=0 bad=0 broken=0
for k in $(seq 1 "$NSLOW"); do
	rc=0
	wait "${SLOWPID[$k]}" || rc=$?
	if [ "$rc" -ne 0 ]; then
		broken=$((broken + 1))
		continue
	fi
	want=$(ls_header "$TMPD/s$k.h" X-Content-SHA256)
	got=$(sha256sum <"$TMPD/s$k" | cut -d' ' -f1)
	if [ -n "$want" ] && [ "$got" = "$want" ] &&
	    [ "$(stat -c %s "$TMPD/s$k")" -eq "$SLOW_SIZE" ]; then
		ok=$((ok + 1))
	else
		bad=$((bad + 1))
		ls_say "transfer $k completed with wrong data: $got != $want"
	fi
done
ls_say "slow transfers: $ok intact, $broken broken, $bad completed with wrong data"
[ "$bad" -eq 0 ] || fail "$bad transfers completed with wrong data"
[ "$ok" -ge 1 ] || fail "no transfer survived the worker kill"
[ "$ok" -ge "$SURVIVOR_CONNS" ] ||
    fail "only $ok transfers intact but $SURVIVOR_CONNS were held by the surviving worker"

# 3. new connections after the respawn; the new worker must serve too.
wait_kids "$CPID" 2 1 || fail "client workers changed again: '$KIDS'"
OLDKIDS=$KIDS
for round in 1 2; do
	from=$(wc -l <"$CLOG")
	for n in $(seq 1 20); do
		ls_check_get "$SPORT" \
		    "http://127.0.0.1:$WEB/file?size=$((n * 333))&seed=r$round.$n" \
		    "after respawn, connection $n"
	done
	sleep 0.5
	dist=$(served_by "$from" "$WEB")
	nw=$(printf '%s\n' "$dist" | awk 'NF' | wc -l)
	[ "$nw" -ge 2 ] && break
	ls_say "round $round after respawn served by: $dist"
	sleep 2
done
ls_say "after respawn served by:" $dist
[ "$nw" -ge 2 ] || fail "after the respawn only one worker serves connections: $dist"
wait_kids "$CPID" 2 1 || fail "client workers changed during the last round: '$KIDS'"
ls_alive "$SERVER_PID" || fail "server died"

ls_finish
