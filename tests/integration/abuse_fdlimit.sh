#!/bin/sh
# Abuse: clean behaviour at the open-file limit.  A forward server and
# client, and a reverse server, run under `ulimit -n 256'; 1,000
# connections are thrown at each listener in turn (the client's SOCKS
# port, the server's WebSocket port, the reverse server's SOCKS port),
# held 3 s, then closed.  Every process must stay alive and cheap (CPU
# time over the floods below LS_FD_CPU_MAX seconds each: a listener at
# the limit is paused and resumed from a timer, never spun on; spinning,
# a worker burnt 0.8 s in one 3 s flood and logged 190,000 lines), each log
# may mention accept only a few times a second, the server must lose no
# handed-over tunnel descriptor, and once the floods end a curl through
# each proxy succeeds on the first try.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

: "${LS_FD_LIMIT:=256}"
: "${LS_FD_FLOOD:=1000}"
: "${LS_FD_CPU_MAX:=0.5}"	# seconds of CPU per process over all floods
: "${LS_FD_LOG_RATE:=2}"	# accept lines per process and second

[ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -ge $((LS_FD_FLOOD + 100)) ] ||
    ls_skip "hard open-file limit $(ulimit -Hn) below $((LS_FD_FLOOD + 100))"

ls_httpd web 127.0.0.1
WEB=$HTTP_PORT

# Every daemon starts under the limit: a subshell sets it, then execs.
REAL_BIN=$LINKSOCKS_BIN
cat >"$TMPD/limited" <<EOF
#!/bin/sh
ulimit -n $LS_FD_LIMIT || exit 1
exec "$REAL_BIN" "\$@"
EOF
chmod +x "$TMPD/limited"
LINKSOCKS_BIN=$TMPD/limited
ls_start_server server
ls_start_client client
SERVER_WS=$WS_PORT
ls_start_rserver rserver
LINKSOCKS_BIN=$REAL_BIN		# the provider is not under test
ls_start_provider provider
ls_rsocks_port rserver

CLIENT_PID=$(ls_pid_of client)
SERVER_PID=$(ls_pid_of server)
RSERVER_PID=$(ls_pid_of rserver)
PROCS=
for m in $CLIENT_PID $SERVER_PID $RSERVER_PID; do
	PROCS="$PROCS $m $(ls_children "$m")"
done
for p in $PROCS; do
	lim=$(awk '/^Max open files/ { print $4 }' "/proc/$p/limits")
	[ "$lim" = "$LS_FD_LIMIT" ] ||
	    fail "pid $p runs with an open-file limit of $lim, not $LS_FD_LIMIT"
done
ls_say "under test (limit $LS_FD_LIMIT):$PROCS"

# A first request through each proxy works before anything else.
[ "$(ls_curl "$SOCKS_PORT" "http://127.0.0.1:$WEB/hello")" = hello ] ||
    fail "forward proxy does not work before the flood"
[ "$(ls_curl "$RSOCKS_PORT" "http://127.0.0.1:$WEB/hello")" = hello ] ||
    fail "reverse proxy does not work before the flood"

# cpu PID: utime + stime in clock ticks.
cpu() {
	awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}
# accepts NAME: lines of NAME's log that mention accept.
accepts() {
	grep -ciE 'accept' "$TMPD/$1.log" || true
}

declare -A CPU0
for p in $PROCS; do
	CPU0[$p]=$(cpu "$p")
done
L0_client=$(accepts client)
L0_server=$(accepts server)
L0_rserver=$(accepts rserver)
t0=$SECONDS

flood() {
	local what=$1 port=$2 out
	out=$(timeout 60 python3 "$LS_LIB/fdflood.py" --port "$port" \
	    --count "$LS_FD_FLOOD" --hold 3 --connect-timeout 2) ||
	    fail "$what: fdflood.py failed: $out"
	ls_say "$what:" $out
	FLOOD_OUT=$out
}
flood "client SOCKS port" "$SOCKS_PORT"
flood "server WebSocket port" "$SERVER_WS"
WS_FLOOD=$FLOOD_OUT
flood "reverse server SOCKS port" "$RSOCKS_PORT"
secs=$((SECONDS - t0 + 1))

# Still alive, and nothing was respawned.
for p in $PROCS; do
	ls_alive "$p" || fail "pid $p died during the flood"
done
for m in $CLIENT_PID $SERVER_PID $RSERVER_PID; do
	[ "$(ls_children "$m" | wc -l)" = "$LS_WORKERS" ] ||
	    fail "master $m has workers $(ls_children "$m" | tr '\n' ' ')"
done

# Cheap: no process spun on its listener.
worst=0
for p in $PROCS; do
	d=$(( $(cpu "$p") - CPU0[$p] ))
	s=$(awk -v d="$d" -v t="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", d / t }')
	ls_say "pid $p: $s s CPU over the floods"
	awk -v s="$s" -v m="$LS_FD_CPU_MAX" 'BEGIN { exit !(s >= m) }' &&
	    fail "pid $p used $s s of CPU over the floods (limit $LS_FD_CPU_MAX s)"
done

# Quiet: a few lines a second at most about accept, per process.
for n in client server rserver; do
	eval "l0=\$L0_$n"
	l=$(( $(accepts "$n") - l0 ))
	max=$(( (LS_WORKERS + 1) * LS_FD_LOG_RATE * secs ))
	ls_say "$n: $l log lines about accept in ${secs} s (at most $max)"
	[ "$l" -le "$max" ] ||
	    fail "$n wrote $l lines about accept in $secs s (at most $max)"
done

# No tunnel descriptor lost between the master and its workers.
for n in server rserver; do
	lost=$(grep -c 'without a descriptor' "$TMPD/$n.log" || true)
	[ "$lost" = 0 ] || fail "$n lost $lost handed-over descriptors"
	lost=$(grep -cE 'hand-off to worker [0-9]+ failed' "$TMPD/$n.log" || true)
	[ "$lost" = 0 ] || fail "$n: the master failed $lost hand-offs"
done
# A tunnel client the workers cannot take is answered 503, never closed
# without a word (its descriptor lost on the way to a worker).
n=$(ls_field "$WS_FLOOD" answered)
h=$(ls_field "$WS_FLOOD" http503)
[ "$n" = "$h" ] ||
    fail "WebSocket flood: $n connections answered, only $h with 503"
n=$(ls_field "$WS_FLOOD" silent)
[ "$n" = 0 ] ||
    fail "WebSocket flood: $n tunnel clients closed without an answer"

# Once the flood is over, each proxy works at the first try.
out=$(ls_curl "$SOCKS_PORT" "http://127.0.0.1:$WEB/hello" 2>&1) ||
    fail "forward proxy after the flood: $out"
[ "$out" = hello ] || fail "forward proxy after the flood gave '$out'"
out=$(ls_curl "$RSOCKS_PORT" "http://127.0.0.1:$WEB/hello" 2>&1) ||
    fail "reverse proxy after the flood: $out"
[ "$out" = hello ] || fail "reverse proxy after the flood gave '$out'"
ls_say "alive, cheap and quiet at the fd limit; both proxies work after it"
ls_finish
