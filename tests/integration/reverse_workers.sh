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

ls_web
ls_slow_httpd
ls_start_rserver server
SPID=$SERVER_PID
LS_PROVIDER_WORKERS=1 ls_start_provider prov -T 1
ls_rsocks_port server
SPORT=$RSOCKS_PORT

ls_wait_kids "$SPID" 2 10 || fail "server master has children '$KIDS', want 2 workers"
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

# both TAG WHAT: 60 connections in batches of 10 in parallel (files
# $TMPD/TAGn), then 60 raw ones in sequence, all fine; the server log
# since now must show one at least accepted by the worker without the
# tunnel and handed to the tunnel's worker.  WHAT ends the messages.
both() {
	local tag=$1 what=$2 from out handed
	from=$(wc -l <"$TMPD/server.log")
	ls_get_batches "$SPORT" "$tag" 6 "$tag connection "
	out=$(timeout 120 python3 "$LS_LIB/socksloop.py" --proxy "127.0.0.1:$SPORT" \
	    --target "127.0.0.1:$WEB" --count 60)
	case $out in
	*"summary ok 60 fail 0"*) ;;
	*)	printf '%s\n' "$out" | grep -v ' ok ' >&2
		fail "60 sequential raw connections$what: not all succeeded" ;;
	esac
	handed=$(tail -n +"$((from + 1))" "$TMPD/server.log" | grep -ac 'handed to worker')
	[ "$handed" -ge 1 ] ||
	    fail "120 connections$what: the server log shows no connection 'handed to worker' the tunnel's worker (all accepted by one worker?)"
	ls_say "120 connections$what through both workers ok ($handed handed over)"
}

# 1. 60 + 60 connections.
both w ""

# early PORT WHAT: 20 GETs with greeting, CONNECT and request in one
# write; about half are accepted by the worker without the tunnel and
# must be handed over with the bytes already read.
early() {
	ls_early_gets "$1" "$2" 20 1013 --timeout 15
	ls_say "$2: 20 early-data GETs ok"
}

# 2. Slow transfers, then SIGKILL the worker without the tunnel.
ls_slow_start "$SPORT" 8
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
ls_kill_worker "$SPID" "$OTHER" "$OLDKIDS"
ls_alive "$HOLDER" || fail "the tunnel's worker $HOLDER died too"

ls_slow_results
[ "$SLOW_OK" -ge $((NSLOW - ON_OTHER)) ] ||
    fail "only $SLOW_OK of $NSLOW transfers intact; $((NSLOW - ON_OTHER)) were held by the surviving worker"
ready1=$(grep -caE 'tunnel [0-9]+ to .* ready' "$TMPD/prov.log")
[ "$ready1" -eq "$ready0" ] ||
    fail "the provider's tunnel was re-established ($ready0 -> $ready1 'ready' lines) though its worker was not killed"

# 3. New connections after the respawn, accepted by both workers.
OLDKIDS=$KIDS
both r " after the respawn"
ls_wait_kids "$SPID" 2 1 || fail "server workers changed during the last round: '$KIDS'"
[ "$KIDS" = "$OLDKIDS" ] || fail "server workers changed during the last round: '$KIDS' (was '$OLDKIDS')"
ls_alive "$PROVIDER_PID" || fail "provider died"
early "$SPORT" "plain (after the respawn)"

# The same with fast open on the server.
ls_start_rserver fastsrv -f
LS_PROVIDER_WORKERS=1 ls_start_provider fastprov -T 1
ls_rsocks_port fastsrv
ls_get_batches "$RSOCKS_PORT" f 6 "f connection "
early "$RSOCKS_PORT" "fast open"

ls_finish
