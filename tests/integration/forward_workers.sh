#!/bin/sh
# Multi-process: client and server with --workers 2.  Connections are
# served by both client workers; killing one client worker (SIGKILL)
# mid-transfer makes the master respawn it while transfers held by the
# other worker complete intact, and new connections work afterwards.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init
LS_WORKERS=2

ls_web
ls_slow_httpd
ls_start_server server
ls_start_client client
CPID=$CLIENT_PID
SPORT=$SOCKS_PORT
CLOG=$TMPD/client.log

ls_wait_kids "$CPID" 2 10 || fail "client master has children '$KIDS', want 2 workers"
ls_wait_kids "$SERVER_PID" 2 10 || fail "server master has children '$KIDS', want 2 workers"
ls_wait_kids "$CPID" 2 1
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
ls_get_batches "$SPORT" w 4 "connection "
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
# counts: per-worker ESTABLISHED sockets on the SOCKS port, "pid n" lines.
counts() {
	python3 "$LS_LIB/sockowners.py" "$SPORT" $OLDKIDS
}

ls_slow_start "$SPORT" 6
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
	ls_slow_start "$SPORT" 4
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
ls_kill_worker "$CPID" "$VICTIM" "$OLDKIDS"

ls_slow_results
[ "$SLOW_OK" -ge 1 ] || fail "no transfer survived the worker kill"
[ "$SLOW_OK" -ge "$SURVIVOR_CONNS" ] ||
    fail "only $SLOW_OK transfers intact but $SURVIVOR_CONNS were held by the surviving worker"

# 3. new connections after the respawn; the new worker must serve too.
ls_wait_kids "$CPID" 2 1 || fail "client workers changed again: '$KIDS'"
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
ls_wait_kids "$CPID" 2 1 || fail "client workers changed during the last round: '$KIDS'"
ls_alive "$SERVER_PID" || fail "server died"

ls_finish
