#!/bin/sh
# Reverse server with --workers 2 and one provider holding one tunnel
# (-T 1), which lands on one server worker.  SOCKS connections reach the
# server's workers through SO_REUSEPORT, so those accepted by the other
# worker must be passed to the tunnel's worker: 60 connections all work.
# Then, with transfers running, SIGKILL the server worker WITHOUT the
# tunnel: the transfers and the tunnel survive intact, the master
# respawns the worker, and new connections (some accepted by the new
# worker) work.  Early data (one write with greeting, CONNECT and
# request) must survive the hand-over, with and without fast open.
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
ls_start_rserver server
SPID=$SERVER_PID
LS_PROVIDER_WORKERS=1 ls_start_provider prov -T 1
ls_rsocks_port server
SPORT=$RSOCKS_PORT

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

wait_kids "$SPID" 2 10 || fail "server master has children '$KIDS', want 2 workers"
OLDKIDS=$KIDS
ls_say "server workers: $OLDKIDS"
sleep 1
ready0=$(grep -caE 'tunnel [0-9]+ to .* ready' "$TMPD/prov.log")

# holder: the worker holding the provider's tunnel (ESTABLISHED on the
# WebSocket port); sets HOLDER, OTHER.
holder() {
	local c
	c=$(python3 "$LS_LIB/sockowners.py" "$WS_PORT" $OLDKIDS)
	HOLDER=$(printf '%s\n' "$c" | awk '$2 > 0 { print $1 }')
	[ "$(echo $HOLDER | wc -w)" -eq 1 ] ||
	    fail "want exactly one server worker with the provider's tunnel: $c"
	OTHER=$(printf '%s\n' "$c" | awk '$2 == 0 { print $1 }')
	[ "$(echo $OTHER | wc -w)" -eq 1 ] || fail "no worker without the tunnel: $c"
}
holder
ls_say "tunnel held by worker $HOLDER; the other is $OTHER"

# 1. 60 connections in batches of 10 in parallel.
batch_get() {
	local tag=$1 batch i n p pids rc want got
	for batch in 1 2 3 4 5 6; do
		pids=
		for i in $(seq 1 10); do
			n=$(((batch - 1) * 10 + i))
			ls_curl "${BPORT:-$SPORT}" -o "$TMPD/$tag$n" -D "$TMPD/$tag$n.h" \
			    "http://127.0.0.1:$WEB/file?size=$((n * 1000))&seed=$tag$n" \
			    2>"$TMPD/$tag$n.err" &
			pids="$pids $!"
			ls_register "$!" "curl-$tag$n"
		done
		n=$(((batch - 1) * 10))
		for p in $pids; do
			n=$((n + 1))
			rc=0
			wait "$p" || rc=$?
			[ "$rc" -eq 0 ] || fail "$tag connection $n: curl exit $rc: $(cat "$TMPD/$tag$n.err")"
			want=$(ls_header "$TMPD/$tag$n.h" X-Content-SHA256)
			got=$(sha256sum <"$TMPD/$tag$n" | cut -d' ' -f1)
			[ -n "$want" ] && [ "$got" = "$want" ] ||
			    fail "$tag connection $n: sha256 $got != '$want'"
		done
	done
}
from=$(wc -l <"$TMPD/server.log")
batch_get w
out=$(timeout 120 python3 "$LS_LIB/socksloop.py" --proxy "127.0.0.1:$SPORT" \
    --target "127.0.0.1:$WEB" --count 60)
case $out in
*"summary ok 60 fail 0"*) ;;
*)	printf '%s\n' "$out" | grep -v ' ok ' >&2
	fail "60 sequential raw connections: not all succeeded" ;;
esac
handed=$(tail -n +"$((from + 1))" "$TMPD/server.log" | grep -ac 'handed to worker')
[ "$handed" -ge 1 ] ||
    fail "120 connections: the server log shows no connection 'handed to worker' the tunnel's worker (all accepted by one worker?)"
ls_say "120 connections through both workers ok ($handed handed over)"

# early PORT WHAT: 20 GETs with greeting, CONNECT and request in one
# write; about half are accepted by the worker without the tunnel and
# must be handed over with the bytes already read.
early() {
	local i out size
	for i in $(seq 1 20); do
		size=$((i * 1013))
		out=$(ls_socks5 --proxy "127.0.0.1:$1" --pipeline --timeout 15 \
		    --target "127.0.0.1:$WEB" --http-get "/file?size=$size&seed=e$i")
		ls_expect "$out" method 0500 "$2 early GET #$i"
		ls_expect "$out" reply 05000001000000000000 "$2 early GET #$i"
		ls_expect "$out" http-status 200 "$2 early GET #$i"
		ls_expect "$out" body-len "$size" "$2 early GET #$i"
		ls_expect "$out" header-sha256 "$(ls_field "$out" body-sha256)" \
		    "$2 early GET #$i"
	done
	ls_say "$2: 20 early-data GETs ok"
}

# 2. Slow transfers, then SIGKILL the worker without the tunnel.
declare -a SLOWPID
NSLOW=8
for k in $(seq 1 "$NSLOW"); do
	ls_curl "$SPORT" -o "$TMPD/s$k" -D "$TMPD/s$k.h" \
	    "http://127.0.0.1:$SLOW/file?size=$SLOW_SIZE&seed=s$k" \
	    2>"$TMPD/s$k.err" &
	SLOWPID[$k]=$!
	ls_register "$!" "curl-s$k"
done
# Wait until every transfer has its first bytes.
end=$((SECONDS + 15))
while :; do
	n=0
	for k in $(seq 1 "$NSLOW"); do
		[ -s "$TMPD/s$k" ] && n=$((n + 1))
	done
	[ "$n" -eq "$NSLOW" ] && break
	[ "$SECONDS" -lt "$end" ] || fail "only $n of $NSLOW slow transfers started"
	sleep 0.1
done
c=$(python3 "$LS_LIB/sockowners.py" "$SPORT" $OLDKIDS)
ON_OTHER=$(printf '%s\n' "$c" | awk -v v="$OTHER" '$1 == v { print $2 }')
ls_say "SOCKS connections per worker before the kill:" $c
holder
ls_say "killing server worker $OTHER (without the tunnel, holds $ON_OTHER SOCKS connections)"
kill -KILL "$OTHER"
LS_KIDS+=("$OTHER")

end=$((SECONDS + 5))
while :; do
	KIDS=$(ls_children "$SPID" | tr '\n' ' ')
	nk=$(echo $KIDS | wc -w)
	new=
	for k in $KIDS; do
		case " $OLDKIDS " in *" $k "*) ;; *) new=$k ;; esac
	done
	case " $KIDS " in *" $OTHER "*) gone=no ;; *) gone=yes ;; esac
	[ "$nk" -eq 2 ] && [ -n "$new" ] && [ "$gone" = yes ] && break
	[ "$SECONDS" -lt "$end" ] ||
	    fail "no respawn within 5 s: workers now '$KIDS', before '$OLDKIDS', killed $OTHER"
	sleep 0.1
done
ls_alive "$SPID" || fail "server master died after a worker was killed"
ls_alive "$HOLDER" || fail "the tunnel's worker $HOLDER died too"
ls_say "respawned: workers now $KIDS (new $new)"

ok=0 bad=0 broken=0
for k in $(seq 1 "$NSLOW"); do
	rc=0
	wait "${SLOWPID[$k]}" || rc=$?
	if [ "$rc" -ne 0 ]; then
		broken=$((broken + 1))
		ls_say "transfer $k broken: curl exit $rc: $(cat "$TMPD/s$k.err")"
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
ls_say "slow transfers: $ok intact, $broken broken, $bad with wrong data"
[ "$bad" -eq 0 ] || fail "$bad transfers completed with wrong data"
[ "$ok" -ge $((NSLOW - ON_OTHER)) ] ||
    fail "only $ok of $NSLOW transfers intact; $((NSLOW - ON_OTHER)) were held by the surviving worker"
ready1=$(grep -caE 'tunnel [0-9]+ to .* ready' "$TMPD/prov.log")
[ "$ready1" -eq "$ready0" ] ||
    fail "the provider's tunnel was re-established ($ready0 -> $ready1 'ready' lines) though its worker was not killed"

# 3. New connections after the respawn, accepted by both workers.
OLDKIDS=$KIDS
from=$(wc -l <"$TMPD/server.log")
batch_get r
out=$(timeout 120 python3 "$LS_LIB/socksloop.py" --proxy "127.0.0.1:$SPORT" \
    --target "127.0.0.1:$WEB" --count 60)
case $out in
*"summary ok 60 fail 0"*) ;;
*)	printf '%s\n' "$out" | grep -v ' ok ' >&2
	fail "60 sequential raw connections after the respawn: not all succeeded" ;;
esac
handed=$(tail -n +"$((from + 1))" "$TMPD/server.log" | grep -ac 'handed to worker')
[ "$handed" -ge 1 ] ||
    fail "after the respawn: no connection 'handed to worker' the tunnel's worker in the server log"
ls_say "120 connections after the respawn ok ($handed handed over)"
wait_kids "$SPID" 2 1 || fail "server workers changed during the last round: '$KIDS'"
[ "$KIDS" = "$OLDKIDS" ] || fail "server workers changed during the last round: '$KIDS' (was '$OLDKIDS')"
ls_alive "$PROVIDER_PID" || fail "provider died"
early "$SPORT" "plain (after the respawn)"

# The same with fast open on the server.
ls_start_rserver fastsrv -f
LS_PROVIDER_WORKERS=1 ls_start_provider fastprov -T 1
ls_rsocks_port fastsrv
BPORT=$RSOCKS_PORT batch_get f
early "$RSOCKS_PORT" "fast open"

ls_finish
