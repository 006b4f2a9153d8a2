# tests/lib/common.sh -- shared helpers for tests/integration/*.sh (bash).
#
# Usage, at the top of a test:
#	[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
#	. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
#	ls_init
#
# Every daemon is started by this file, recorded by PID and stopped by
# the EXIT trap; nothing else is ever signalled.  Ports are kernel-chosen
# (port 0 + --port-file).  Exit status follows automake: 0 pass, 1 fail,
# 77 skip.  Set LS_KEEP_TMP=1 to keep the temporary directory.

set -u

: "${TESTS_SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
LS_LIB="$TESTS_SRCDIR/lib"
LS_TEST=$(basename "$0" .sh)
LS_TOKEN="itest-token-$$"
: "${LS_WORKERS:=2}"		# --workers for every daemon unless a test changes it
: "${LS_HOST:=127.0.0.1}"	# listen host for server and client
: "${LS_STARTUP:=20}"		# seconds a daemon may take to write its port file

LS_PIDS=()		# every background PID we started
LS_NAMES=()		# parallel to LS_PIDS
LS_MASTERS=()		# indexes into LS_PIDS of linksocks masters
LS_KIDS=()		# worker PIDs seen under our masters
LS_FAILED=0
TMPD=

ls_say() {
	printf '[%s] %s: %s\n' "$(date +%H:%M:%S)" "$LS_TEST" "$*"
}

ls_skip() {
	echo "SKIP: $LS_TEST: $*"
	exit 77
}

# fail MSG...: report and exit 1; the EXIT trap stops the daemons and
# prints the tail of every log.
fail() {
	echo "FAIL: $LS_TEST: $*" >&2
	LS_FAILED=1
	exit 1
}

ls_init() {
	if [ -z "${LINKSOCKS_BIN:-}" ]; then
		LINKSOCKS_BIN="$TESTS_SRCDIR/../src/linksocks"
	fi
	[ -x "$LINKSOCKS_BIN" ] || ls_skip "no linksocks binary ($LINKSOCKS_BIN)"
	local t
	for t in python3 curl timeout pgrep sha256sum; do
		command -v "$t" >/dev/null 2>&1 || ls_skip "$t not installed"
	done
	# The client honours *_PROXY for its WebSocket; curl for its target.
	unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY \
	    all_proxy NO_PROXY no_proxy LINKSOCKS_TOKEN LINKSOCKS_URL \
	    LINKSOCKS_FASTOPEN LINKSOCKS_SOCKS_USERNAME \
	    LINKSOCKS_SOCKS_PASSWORD LINKSOCKS_SOCKS_PORT \
	    LINKSOCKS_SOCKS_HOST LINKSOCKS_WEBSOCKET_PORT \
	    LINKSOCKS_WEBSOCKET_HOST LINKSOCKS_MODE LINKSOCKS_ACCESS_RULE \
	    LINKSOCKS_ALLOW_PRIVATE LINKSOCKS_MAX_CHANNELS LINKSOCKS_MAX_UDP \
	    LINKSOCKS_METRICS_LISTEN LINKSOCKS_LIMIT_TUNNELS \
	    LINKSOCKS_LIMIT_CHANNELS LINKSOCKS_LIMIT_UPLOAD \
	    LINKSOCKS_LIMIT_DOWNLOAD LINKSOCKS_UPSTREAM_PROXY LINKSOCKS_TLS_CERT \
	    LINKSOCKS_TLS_KEY LINKSOCKS_TLS_MIN_VERSION LINKSOCKS_TLS_KTLS \
	    SSL_CERT_FILE SSL_CERT_DIR
	export PYTHONDONTWRITEBYTECODE=1
	TMPD=$(mktemp -d "${TMPDIR:-/tmp}/ls-$LS_TEST.XXXXXX") ||
	    fail "mktemp"
	trap ls_cleanup EXIT
	trap 'exit 1' INT TERM HUP
	ls_say "binary $LINKSOCKS_BIN, tmp $TMPD"
}

# ls_alive PID: true while PID exists and is not a zombie.
ls_alive() {
	local st
	[ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# ls_children PID: worker PIDs of a master, one per line, sorted.
ls_children() {
	pgrep -P "$1" 2>/dev/null | sort -n
}

ls_register() {
	LS_PIDS+=("$1")
	LS_NAMES+=("$2")
}

# ls_bg NAME CMD...: run CMD in the background, stdout to NAME.out and
# stderr to NAME.log in $TMPD; sets LAST_PID.
ls_bg() {
	local name=$1
	shift
	"$@" >"$TMPD/$name.out" 2>"$TMPD/$name.log" </dev/null &
	LAST_PID=$!
	ls_register "$LAST_PID" "$name"
}

# ls_pid_of NAME
ls_pid_of() {
	local i
	for i in "${!LS_NAMES[@]}"; do
		if [ "${LS_NAMES[$i]}" = "$1" ]; then
			echo "${LS_PIDS[$i]}"
			return 0
		fi
	done
	return 1
}

# ls_poll SECS PID NAME WHAT CMD...: run CMD every 0.1 s until it
# succeeds.  Fails when process NAME (PID) has died, or after SECS s of
# polling, naming WHAT it waited for; CMD may add what it last saw in
# LS_POLL_NOTE.
ls_poll() {
	local secs=$1 pid=$2 name=$3 what=$4 n=0
	shift 4
	LS_POLL_NOTE=
	until "$@"; do
		ls_alive "$pid" ||
		    fail "$name (pid $pid) exited while waiting for $what$LS_POLL_NOTE"
		n=$((n + 1))
		[ "$n" -le $((secs * 10)) ] ||
		    fail "$name: no $what after ${secs}s$LS_POLL_NOTE"
		sleep 0.1
	done
}

# ls_wait_file FILE SECONDS PID NAME: wait until FILE is non-empty; fail
# early if PID dies.
ls_wait_file() {
	ls_poll "$2" "$3" "$4" "$(basename "$1")" test -s "$1"
}

# ls_port_of FILE KEY: the port on the line "KEY <port>".
ls_port_of() {
	awk -v k="$2" '$1 == k { print $2; exit }' "$1"
}

# ls_connect HOST PORT: one TCP connect attempt (2 s bound).
ls_connect() {
	timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" \
	    >/dev/null 2>&1
}

# wait_port HOST PORT [SECONDS] [PID NAME]: until a TCP connect succeeds.
wait_port() {
	local host=$1 port=$2 secs=${3:-$LS_STARTUP} pid=${4:-} name=${5:-}
	local end=$((SECONDS + secs))
	until ls_connect "$host" "$port"; do
		if [ -n "$pid" ] && ! ls_alive "$pid"; then
			fail "$name (pid $pid) exited while waiting for $host:$port"
		fi
		[ "$SECONDS" -lt "$end" ] ||
		    fail "nothing accepts on $host:$port after ${secs}s"
		sleep 0.1
	done
}

ls_urlhost() {
	case $1 in
	*:*)	echo "[$1]" ;;
	*)	echo "$1" ;;
	esac
}

# ls_start_server NAME [ARGS...]: forward-mode server on $LS_HOST port 0;
# sets SERVER_PID, WS_PORT, WS_HOST.  The tests' targets listen on
# loopback, which a forward server refuses by default: it gets
# --allow-private unless LS_SERVER_DEFAULTS=1 (tests of those defaults).
ls_start_server() {
	local name=$1 open=--allow-private
	shift
	[ "${LS_SERVER_DEFAULTS:-0}" = 1 ] && open=
	rm -f "$TMPD/$name.port"
	ls_bg "$name" "$LINKSOCKS_BIN" server -t "$LS_TOKEN" -H "$LS_HOST" \
	    -P 0 --port-file "$TMPD/$name.port" --workers "$LS_WORKERS" \
	    -d ${open:+"$open"} "$@"
	SERVER_PID=$LAST_PID
	LS_MASTERS+=($((${#LS_PIDS[@]} - 1)))
	ls_wait_file "$TMPD/$name.port" "$LS_STARTUP" "$SERVER_PID" "$name"
	WS_PORT=$(ls_port_of "$TMPD/$name.port" ws)
	[ -n "$WS_PORT" ] || fail "$name: no 'ws <port>' line in port file: $(cat "$TMPD/$name.port")"
	WS_HOST=$LS_HOST
	wait_port "$WS_HOST" "$WS_PORT" "$LS_STARTUP" "$SERVER_PID" "$name"
	ls_say "$name: pid $SERVER_PID ws port $WS_PORT"
}

# ls_start_client NAME [ARGS...]: forward-mode client to the last
# server, SOCKS on $LS_HOST port 0; waits until the SOCKS port accepts
# (the tunnel is up); sets CLIENT_PID, SOCKS_PORT.
ls_start_client() {
	local name=$1
	shift
	rm -f "$TMPD/$name.port"
	ls_bg "$name" "$LINKSOCKS_BIN" client -t "${LS_CLIENT_TOKEN:-$LS_TOKEN}" \
	    -u "${LS_SCHEME:-ws}://$(ls_urlhost "$WS_HOST"):$WS_PORT" -s "$LS_HOST" -p 0 \
	    --port-file "$TMPD/$name.port" --workers "$LS_WORKERS" -d "$@"
	CLIENT_PID=$LAST_PID
	LS_MASTERS+=($((${#LS_PIDS[@]} - 1)))
	ls_wait_file "$TMPD/$name.port" "$LS_STARTUP" "$CLIENT_PID" "$name"
	SOCKS_PORT=$(ls_port_of "$TMPD/$name.port" socks)
	[ -n "$SOCKS_PORT" ] || fail "$name: no 'socks <port>' line in port file: $(cat "$TMPD/$name.port")"
	wait_port "$LS_HOST" "$SOCKS_PORT" "$LS_STARTUP" "$CLIENT_PID" "$name"
	ls_say "$name: pid $CLIENT_PID socks port $SOCKS_PORT"
}

# ls_helper NAME SCRIPT [ARGS...]: run the Python helper tests/lib/SCRIPT
# in the background with --port-file and wait for the port it writes;
# sets HELPER_PORT (and LAST_PID).
ls_helper() {
	local name=$1 script=$2
	shift 2
	rm -f "$TMPD/$name.port"
	ls_bg "$name" python3 "$LS_LIB/$script" --port-file "$TMPD/$name.port" \
	    "$@"
	ls_wait_file "$TMPD/$name.port" 10 "$LAST_PID" "$name"
	HELPER_PORT=$(cat "$TMPD/$name.port")
}

# ls_httpd NAME BIND [ARGS...]: helper HTTP server; sets HTTP_PORT.
ls_httpd() {
	local name=$1 bind=$2
	shift 2
	ls_helper "$name" httpd.py --bind "$bind" "$@"
	HTTP_PORT=$HELPER_PORT
	ls_say "$name: http on $bind port $HTTP_PORT"
}

# ls_web [ARGS...]: the usual HTTP target, httpd "web" on 127.0.0.1;
# sets WEB.
ls_web() {
	ls_httpd web 127.0.0.1 "$@"
	WEB=$HTTP_PORT
}

# ls_refused_port [HOST]: prints a port nobody listens on (empty on
# failure: callers check).
ls_refused_port() {
	timeout 20 python3 "$LS_LIB/refused_port.py" "${1:-127.0.0.1}"
}

# ls_socks5 ARGS...: run the raw SOCKS5 tool (bounded), output on stdout.
ls_socks5() {
	timeout 60 python3 "$LS_LIB/socks5.py" "$@"
}

# ls_field OUTPUT KEY: value of the first "KEY value" line.
ls_field() {
	printf '%s\n' "$1" | awk -v k="$2" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }'
}

# ls_expect OUTPUT KEY VALUE CONTEXT: exact match of one field.
ls_expect() {
	local got
	got=$(ls_field "$1" "$2")
	if [ "$got" != "$3" ]; then
		printf '%s\n' "--- socks5.py output:" "$1" >&2
		fail "$4: $2 is '$got', expected '$3'"
	fi
}

# ls_expect_get OUT WHAT SIZE: socks5.py output OUT of a CONNECT without
# authentication and an --http-get of SIZE bytes: method 05 00, the
# success reply, HTTP 200, SIZE body bytes whose sha256 is the header's.
ls_expect_get() {
	ls_expect "$1" method 0500 "$2"
	ls_expect "$1" reply 05000001000000000000 "$2"
	ls_expect "$1" http-status 200 "$2"
	ls_expect "$1" body-len "$3" "$2"
	ls_expect "$1" header-sha256 "$(ls_field "$1" body-sha256)" "$2"
}

# ls_expect_upload OUT WHAT: socks5.py output OUT of an --upload: the
# success reply, HTTP 200, and the target's sha256 of what it received
# equal to that of what was sent.
ls_expect_upload() {
	ls_expect "$1" reply 05000001000000000000 "$2"
	ls_expect "$1" http-status 200 "$2"
	ls_expect "$1" header-sha256 "$(ls_field "$1" sent-sha256)" "$2"
}

# ls_early_gets PORT WHAT COUNT STEP [ARGS...]: COUNT GETs of i * STEP
# bytes from $WEB, greeting, CONNECT and request each in one write
# (socks5.py --pipeline ARGS), each checked by ls_expect_get as
# "WHAT early GET #i".
ls_early_gets() {
	local port=$1 what=$2 count=$3 step=$4 i size out
	shift 4
	for i in $(seq 1 "$count"); do
		size=$((i * step))
		out=$(ls_socks5 --proxy "127.0.0.1:$port" --pipeline "$@" \
		    --target "127.0.0.1:$WEB" --http-get "/file?size=$size&seed=e$i")
		ls_expect_get "$out" "$what early GET #$i" "$size"
	done
}

# ls_early_upload PORT N WHAT: an upload of N bytes to $WEB, request head
# in the first write and the body right after, before any reply is read;
# checked by ls_expect_upload.
ls_early_upload() {
	local out
	out=$(ls_socks5 --proxy "127.0.0.1:$1" --pipeline \
	    --target "127.0.0.1:$WEB" --upload "$2")
	ls_expect_upload "$out" "$3"
}

# ls_expect_closed OUT WHAT [MAXSECS]: the "closed" line of socks5.py
# output OUT says the proxy closed (EOF or RST), not that the wait timed
# out; with MAXSECS, it closed within MAXSECS s and no byte arrived.
ls_expect_closed() {
	local c
	c=$(ls_field "$1" closed)
	case $c in
	eof*|reset*) ;;
	*)	printf '%s\n' "$1" >&2
		fail "$2: connection not closed by the proxy ($c)" ;;
	esac
	[ -n "${3:-}" ] || return 0
	set -- $c "$2" "$3"
	# $1 eof|reset, $2 "after", $3 seconds, $4 "bytes", $5 count
	awk -v t="$3" -v m="$7" 'BEGIN { exit !(t <= m) }' ||
	    fail "$6: closed only after $3 s (max $7)"
	[ "$5" = 0 ] || fail "$6: $5 bytes of data arrived before the close"
}

# ls_run_ok WHAT SECS SCRIPT ARGS...: run the Python probe tests/lib/SCRIPT
# for at most SECS s; it must exit 0 and print "ok VALUE".  Sets OK_VALUE.
ls_run_ok() {
	local what=$1 secs=$2 script=$3 out
	shift 3
	out=$(timeout "$secs" python3 "$LS_LIB/$script" "$@" 2>&1) ||
	    fail "$what: $out"
	case $out in
	ok\ *) ;;
	*)	fail "$what: $out" ;;
	esac
	OK_VALUE=${out#ok }
}

# ls_curl PORT ARGS...: curl through the SOCKS5 proxy 127.0.0.1:PORT
# (or $LS_HOST), remote name resolution.
ls_curl() {
	local port=$1
	shift
	timeout "${LS_CURL_TIMEOUT:-60}" curl -sS --noproxy '' \
	    --socks5-hostname "$(ls_urlhost "$LS_HOST"):$port" \
	    --max-time "${LS_CURL_TIMEOUT:-60}" "$@"
}

# ls_curl_hello PORT WHAT [ARGS...]: curl ARGS through the proxy for
# http://127.0.0.1:$WEB/hello must succeed and give "hello".
ls_curl_hello() {
	local port=$1 what=$2 rc=0
	shift 2
	ls_curl "$port" -o "$TMPD/h" "$@" "http://127.0.0.1:$WEB/hello" \
	    2>"$TMPD/curl.err" || rc=$?
	[ "$rc" -eq 0 ] && [ "$(cat "$TMPD/h")" = hello ] ||
	    fail "$what: exit $rc: $(cat "$TMPD/curl.err")"
}

# ls_curl_refused PORT WHAT [ARGS...]: the same must fail.
ls_curl_refused() {
	local port=$1 what=$2 rc=0
	shift 2
	ls_curl "$port" -o "$TMPD/h" "$@" "http://127.0.0.1:$WEB/hello" \
	    2>/dev/null || rc=$?
	[ "$rc" -ne 0 ] || fail "$what succeeded"
}

# ls_check_get PORT URL WHAT: download URL through the proxy; the body
# sha256 must equal the X-Content-SHA256 header and the length the
# Content-Length header.
ls_check_get() {
	local port=$1 url=$2 what=$3 rc code want got len clen
	rc=0
	code=$(ls_curl "$port" -o "$TMPD/get.body" -D "$TMPD/get.hdr" \
	    -w '%{http_code}' "$url" 2>"$TMPD/get.err") || rc=$?
	[ "$rc" -eq 0 ] || fail "$what: curl exit $rc for $url: $(cat "$TMPD/get.err")"
	[ "$code" = 200 ] || fail "$what: HTTP $code for $url"
	want=$(ls_header "$TMPD/get.hdr" X-Content-SHA256)
	got=$(sha256sum <"$TMPD/get.body" | cut -d' ' -f1)
	len=$(stat -c %s "$TMPD/get.body")
	clen=$(ls_header "$TMPD/get.hdr" Content-Length)
	[ -n "$want" ] || fail "$what: no X-Content-SHA256 header"
	[ "$len" = "$clen" ] || fail "$what: got $len bytes, Content-Length $clen ($url)"
	[ "$got" = "$want" ] || fail "$what: sha256 $got != $want ($url, $len bytes)"
	rm -f "$TMPD/get.body"
}

# ls_header FILE NAME: value of a response header (case-insensitive).
ls_header() {
	tr -d '\r' <"$1" | awk -v h="$(echo "$2" | tr 'A-Z' 'a-z')" '
	    { k = tolower($1); sub(/:$/, "", k) }
	    k == h { print $2 }' | tail -n 1
}

# ls_sanitizer_check: fail if any log holds a sanitizer report.
ls_sanitizer_check() {
	local f
	for f in "$TMPD"/*.log; do
		[ -f "$f" ] || continue
		if grep -qE 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:' "$f"; then
			echo "--- sanitizer report in $(basename "$f"):" >&2
			grep -m 5 -A 20 -E 'Sanitizer|runtime error:' "$f" >&2
			fail "sanitizer report in $(basename "$f")"
		fi
	done
}

# ls_descendants PID: every descendant of PID, one per line.
ls_descendants() {
	local k
	for k in $(pgrep -P "$1" 2>/dev/null); do
		echo "$k"
		ls_descendants "$k"
	done
}

# ls_note_kids: remember the descendants (workers, curl under timeout)
# of everything we started, so cleanup can reap them too.
ls_note_kids() {
	local pid k
	for pid in "${LS_PIDS[@]}"; do
		ls_alive "$pid" || continue
		for k in $(ls_descendants "$pid"); do
			LS_KIDS+=("$k")
		done
	done
}

# ls_stop NAME: SIGTERM a master, wait up to 10 s; sets LS_RC to its
# exit status ("hung" if it had to be killed); its workers must be gone
# within 3 s more ("+orphan-worker-PID" appended otherwise).
ls_stop() {
	local pid kids k n=0
	LS_RC=unknown
	pid=$(ls_pid_of "$1") || return 0
	kids=$(ls_children "$pid")
	kill -TERM "$pid" 2>/dev/null
	while ls_alive "$pid" && [ "$n" -lt 100 ]; do
		sleep 0.1
		n=$((n + 1))
	done
	if ls_alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		LS_RC=hung
	else
		LS_RC=0
		wait "$pid" 2>/dev/null || LS_RC=$?
	fi
	n=0
	for k in $kids; do
		while ls_alive "$k" && [ "$n" -lt 30 ]; do
			sleep 0.1
			n=$((n + 1))
		done
		if ls_alive "$k"; then
			kill -KILL "$k" 2>/dev/null
			LS_RC="$LS_RC+orphan-worker-$k"
		fi
	done
}

# ls_finish: stop every linksocks master gracefully (SIGTERM -> exit 0,
# workers gone), check the logs for sanitizer reports, exit 0.
ls_finish() {
	local i j bad=
	# Newest first: clients stop before the server they talk to.
	for ((j = ${#LS_MASTERS[@]} - 1; j >= 0; j--)); do
		i=${LS_MASTERS[$j]}
		ls_alive "${LS_PIDS[$i]}" ||
		    { bad="$bad ${LS_NAMES[$i]}:died-early"; continue; }
		ls_stop "${LS_NAMES[$i]}"
		[ "$LS_RC" = 0 ] || bad="$bad ${LS_NAMES[$i]}:exit=$LS_RC"
	done
	ls_sanitizer_check
	[ -z "$bad" ] || fail "graceful stop (SIGTERM must give exit 0):$bad"
	ls_say "PASS"
	exit 0
}

ls_cleanup() {
	local rc=$? i pid f
	trap - EXIT INT TERM HUP
	ls_note_kids 2>/dev/null
	for i in "${!LS_PIDS[@]}"; do
		pid=${LS_PIDS[$i]}
		ls_alive "$pid" && kill -TERM "$pid" 2>/dev/null
	done
	for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		f=0
		for pid in "${LS_PIDS[@]}" "${LS_KIDS[@]}"; do
			ls_alive "$pid" && f=1
		done
		[ "$f" = 0 ] && break
		sleep 0.25
	done
	for pid in "${LS_PIDS[@]}" "${LS_KIDS[@]}"; do
		ls_alive "$pid" && kill -KILL "$pid" 2>/dev/null
	done
	wait 2>/dev/null
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -n "$TMPD" ]; then
		for f in "$TMPD"/*.log "$TMPD"/*.out; do
			[ -s "$f" ] || continue
			echo "---- tail of $(basename "$f") ----" >&2
			tail -n "${LS_LOG_LINES:-60}" "$f" >&2
		done
	fi
	if [ -n "$TMPD" ]; then
		if [ "${LS_KEEP_TMP:-0}" = 1 ] || { [ "$rc" -ne 0 ] && [ "${LS_KEEP_TMP:-0}" = fail ]; }; then
			echo "kept $TMPD" >&2
		else
			rm -rf "$TMPD"
		fi
	fi
	exit "$rc"
}

# ---- reverse, agent and autonomy modes ----------------------------------
#
# Tokens: LS_PTOKEN (reverse/provider token), LS_CTOKEN (connector token)
# default to per-test values; tests may override them before use.
: "${LS_PTOKEN:=itest-rev-$$}"
: "${LS_CTOKEN:=itest-con-$$}"

# ls_wait_portline FILE KEY SECS PID NAME: until FILE has a "KEY <port>"
# line; prints the port.  Fails early if PID dies.
ls_wait_portline() {
	ls_poll "$3" "$4" "$5" "'$2 <port>' line in $(basename "$1")" \
	    ls_has_portline "$1" "$2"
	echo "$LS_PORTLINE"
}

# ls_has_portline FILE KEY: true when FILE has a "KEY <port>" line; sets
# LS_PORTLINE to the port.
ls_has_portline() {
	LS_PORTLINE=
	[ -f "$1" ] && LS_PORTLINE=$(ls_port_of "$1" "$2")
	[ -n "$LS_PORTLINE" ] && return 0
	LS_POLL_NOTE=" (the file holds: $(cat "$1" 2>/dev/null | tr '\n' ' '))"
	return 1
}

# ls_wait_log FILE REGEX COUNT SECS PID NAME: until FILE holds at least
# COUNT lines matching the extended REGEX.
ls_wait_log() {
	ls_poll "$4" "$5" "$6" "$3 line(s) /$2/ in $(basename "$1")" \
	    ls_has_lines "$1" "$2" "$3"
}

# ls_has_lines FILE REGEX COUNT: true when FILE holds at least COUNT
# lines matching REGEX.
ls_has_lines() {
	local c
	c=$(grep -caE -- "$2" "$1" 2>/dev/null)
	LS_POLL_NOTE=" (have ${c:-0})"
	[ "${c:-0}" -ge "$3" ]
}

# ls_start_rserver NAME [ARGS...]: reverse-mode server (-r -t $LS_PTOKEN)
# on $LS_HOST, WebSocket and SOCKS on port 0; sets SERVER_PID, WS_PORT,
# WS_HOST.  The SOCKS port is read later with ls_rsocks_port (it may be
# written only once a provider is up).
ls_start_rserver() {
	local name=$1
	shift
	ls_start_wsserver "$name" reverse -r -t "$LS_PTOKEN" \
	    -H "$LS_HOST" -P 0 -s "$LS_HOST" -p 0 \
	    --port-file "$TMPD/$name.port" --workers "$LS_WORKERS" -d "$@"
}

# ls_start_aserver NAME [ARGS...]: autonomy server (-r -a -t $LS_PTOKEN,
# no SOCKS port); sets SERVER_PID, WS_PORT, WS_HOST.
ls_start_aserver() {
	local name=$1
	shift
	ls_start_wsserver "$name" autonomy -r -a -t "$LS_PTOKEN" \
	    -H "$LS_HOST" -P 0 --port-file "$TMPD/$name.port" \
	    --workers "$LS_WORKERS" -d "$@"
}

# ls_start_wsserver NAME MODE ARGS...: "linksocks server ARGS", whose
# port file is $TMPD/NAME.port; waits for its "ws <port>" line and for
# the listener; sets SERVER_PID, WS_PORT, WS_HOST.
ls_start_wsserver() {
	local name=$1 mode=$2
	shift 2
	rm -f "$TMPD/$name.port"
	ls_bg "$name" "$LINKSOCKS_BIN" server "$@"
	SERVER_PID=$LAST_PID
	LS_MASTERS+=($((${#LS_PIDS[@]} - 1)))
	WS_PORT=$(ls_wait_portline "$TMPD/$name.port" ws "$LS_STARTUP" \
	    "$SERVER_PID" "$name") || exit 1
	WS_HOST=$LS_HOST
	wait_port "$WS_HOST" "$WS_PORT" "$LS_STARTUP" "$SERVER_PID" "$name"
	ls_say "$name: pid $SERVER_PID ws port $WS_PORT ($mode)"
}

# ls_rsocks_port NAME: the SOCKS port of reverse server NAME once it
# accepts connections; sets RSOCKS_PORT.
ls_rsocks_port() {
	local pid
	pid=$(ls_pid_of "$1") || fail "no process named $1"
	RSOCKS_PORT=$(ls_wait_portline "$TMPD/$1.port" socks "$LS_STARTUP" \
	    "$pid" "$1") || exit 1
	wait_port "$LS_HOST" "$RSOCKS_PORT" "$LS_STARTUP" "$pid" "$1"
	ls_say "$1: socks port $RSOCKS_PORT"
}

# ls_server_ctoken NAME: the generated "  Connector Token: <16 hex>" that
# server NAME logged; sets GEN_CTOKEN.
ls_server_ctoken() {
	local pid
	pid=$(ls_pid_of "$1") || fail "no process named $1"
	ls_wait_log "$TMPD/$1.log" 'Connector Token: [0-9a-f]{16}' 1 10 \
	    "$pid" "$1"
	GEN_CTOKEN=$(grep -aoE 'Connector Token: [0-9a-f]{16}' "$TMPD/$1.log" |
	    head -n 1 | awk '{ print $3 }')
}

# ls_start_provider NAME [ARGS...]: provider (-t ${LS_PROVIDER_TOKEN:-
# $LS_PTOKEN}) to the last server; waits for ${LS_PROVIDER_READY:-1}
# "tunnel N to HOST:PORT ready" lines; sets PROVIDER_PID.
# LS_PROVIDER_WORKERS overrides --workers (default $LS_WORKERS).
ls_start_provider() {
	local name=$1
	shift
	ls_bg "$name" "$LINKSOCKS_BIN" provider \
	    -t "${LS_PROVIDER_TOKEN:-$LS_PTOKEN}" \
	    -u "${LS_SCHEME:-ws}://$(ls_urlhost "$WS_HOST"):$WS_PORT" \
	    --workers "${LS_PROVIDER_WORKERS:-$LS_WORKERS}" -d "$@"
	PROVIDER_PID=$LAST_PID
	LS_MASTERS+=($((${#LS_PIDS[@]} - 1)))
	ls_wait_log "$TMPD/$name.log" 'tunnel [0-9]+ to .*:[0-9]+ ready' \
	    "${LS_PROVIDER_READY:-1}" "$LS_STARTUP" "$PROVIDER_PID" "$name"
	ls_say "$name: pid $PROVIDER_PID provider ready"
}

# ls_start_connector NAME [ARGS...]: connector (-t ${LS_CONNECTOR_TOKEN:-
# $LS_CTOKEN}) to the last server, SOCKS on $LS_HOST port 0; waits until
# the SOCKS port accepts; sets CONNECTOR_PID, SOCKS_PORT.
ls_start_connector() {
	local name=$1
	shift
	rm -f "$TMPD/$name.port"
	ls_bg "$name" "$LINKSOCKS_BIN" connector \
	    -t "${LS_CONNECTOR_TOKEN:-$LS_CTOKEN}" \
	    -u "${LS_SCHEME:-ws}://$(ls_urlhost "$WS_HOST"):$WS_PORT" -s "$LS_HOST" -p 0 \
	    --port-file "$TMPD/$name.port" --workers "$LS_WORKERS" -d "$@"
	CONNECTOR_PID=$LAST_PID
	LS_MASTERS+=($((${#LS_PIDS[@]} - 1)))
	SOCKS_PORT=$(ls_wait_portline "$TMPD/$name.port" socks "$LS_STARTUP" \
	    "$CONNECTOR_PID" "$name") || exit 1
	wait_port "$LS_HOST" "$SOCKS_PORT" "$LS_STARTUP" "$CONNECTOR_PID" "$name"
	ls_say "$name: pid $CONNECTOR_PID connector socks port $SOCKS_PORT"
}

# ls_start_forward: forward-mode server "server" and two clients, "plain"
# and "fast" (-f); sets PLAIN and FAST, their SOCKS ports.
ls_start_forward() {
	ls_start_server server
	ls_start_client plain
	PLAIN=$SOCKS_PORT
	ls_start_client fast -f
	FAST=$SOCKS_PORT
}

# ls_start_rsocks NAME [ARGS...]: reverse server NAME (ARGS) with one
# provider, "pNAME"; sets RSOCKS_PORT, the server's SOCKS port.
ls_start_rsocks() {
	local name=$1
	ls_start_rserver "$@"
	ls_start_provider "p$name"
	ls_rsocks_port "$name"
}

# ls_start_reverse: two reverse servers with a provider each
# (ls_start_rsocks), "plain" and "fast" (-f); sets PLAIN and FAST, their
# SOCKS ports.
ls_start_reverse() {
	ls_start_rsocks plain
	PLAIN=$RSOCKS_PORT
	ls_start_rsocks fast -f
	FAST=$RSOCKS_PORT
}

# ls_start_agent: reverse server "server" -c $LS_CTOKEN, provider "prov"
# and two connectors, "plain" and "fast" (-f); sets PLAIN and FAST.
ls_start_agent() {
	ls_start_rserver server -c "$LS_CTOKEN"
	ls_start_provider prov
	ls_start_connector plain
	PLAIN=$SOCKS_PORT
	ls_start_connector fast -f
	FAST=$SOCKS_PORT
}

# ls_dials NAME PORT: how many "channel <id> dial 127.0.0.1:PORT" lines
# process NAME has logged (provider -d).
ls_dials() {
	grep -caE "channel [0-9a-f]{8} dial 127\.0\.0\.1:$2([^0-9]|$)" \
	    "$TMPD/$1.log" 2>/dev/null || true
}

# ls_kill9_tree NAME: SIGKILL a master and all its descendants at once
# (a crash, no goodbye); they stay in LS_KIDS for the cleanup.
ls_kill9_tree() {
	local pid k kids
	pid=$(ls_pid_of "$1") || fail "no process named $1"
	kids=$(ls_descendants "$pid")
	{ kill -KILL "$pid" $kids; wait "$pid"; } 2>/dev/null
	for k in $kids; do
		LS_KIDS+=("$k")
	done
	ls_say "$1: killed -9 (pid $pid, workers" $kids")"
}

# ls_drop_master NAME: forget that NAME is a master (it died on purpose),
# so ls_finish does not report it as died-early.
ls_drop_master() {
	local j i keep=()
	for j in "${!LS_MASTERS[@]}"; do
		i=${LS_MASTERS[$j]}
		[ "${LS_NAMES[$i]}" = "$1" ] || keep+=("$i")
	done
	LS_MASTERS=("${keep[@]}")
}

# ls_check_upload PORT FILE SUM WHAT: curl -T FILE through the proxy; the
# httpd must report "SUM SIZE".
ls_check_upload() {
	local port=$1 file=$2 sum=$3 what=$4 rc=0 got size
	size=$(stat -c %s "$file")
	ls_curl "$port" -H 'Expect:' -T "$file" -o "$TMPD/up.reply" \
	    "http://127.0.0.1:${LS_UPLOAD_WEB:-$WEB}/upload" 2>"$TMPD/up.err" || rc=$?
	[ "$rc" -eq 0 ] || fail "$what: upload curl exit $rc: $(cat "$TMPD/up.err")"
	got=$(cat "$TMPD/up.reply")
	[ "$got" = "$sum $size" ] ||
	    fail "$what: server received '$got', sent '$sum $size'"
}

# ls_upload_file SIZE: SIZE random bytes in $TMPD/up.bin; sets UPSUM, their
# sha256.
ls_upload_file() {
	head -c "$1" /dev/urandom >"$TMPD/up.bin" || fail "cannot create upload file"
	UPSUM=$(sha256sum <"$TMPD/up.bin" | cut -d' ' -f1)
}

# ls_bulk_init: for the bulk tests, MB (LS_BULK_MB, default 100) and SIZE
# in bytes, LS_CURL_TIMEOUT (LS_BULK_TIMEOUT, default 240 s) and an
# upload file of SIZE bytes (ls_upload_file).
ls_bulk_init() {
	MB=${LS_BULK_MB:-100}
	SIZE=$((MB * 1024 * 1024))
	LS_CURL_TIMEOUT=${LS_BULK_TIMEOUT:-240}
	ls_upload_file "$SIZE"
}

# ls_bulk PORT MODE MB FILE SUM: through the SOCKS5 port, an MB MB
# download (sha256 against the server's) and the upload of FILE (the
# target must report SUM), each timed.
ls_bulk() {
	local port=$1 mode=$2 mb=$3 t0=$SECONDS
	ls_check_get "$port" \
	    "http://127.0.0.1:$WEB/file?size=$((mb * 1024 * 1024))&seed=$mode" \
	    "$mode: $mb MB download"
	ls_say "$mode: $mb MB download ok in $((SECONDS - t0)) s"
	t0=$SECONDS
	ls_check_upload "$port" "$4" "$5" "$mode: $mb MB upload"
	ls_say "$mode: $mb MB upload ok in $((SECONDS - t0)) s"
}

# ls_bulk_via PORT MODE PROV: ls_bulk of $MB MB both ways through the
# SOCKS5 port ($TMPD/up.bin, UPSUM); provider PROV must have dialled
# 127.0.0.1:$WEB for both transfers.
ls_bulk_via() {
	local d0
	d0=$(ls_dials "$3" "$WEB")
	ls_bulk "$1" "$2" "$MB" "$TMPD/up.bin" "$UPSUM"
	[ $(($(ls_dials "$3" "$WEB") - d0)) -ge 2 ] ||
	    fail "$2: the provider logged fewer than 2 dials to 127.0.0.1:$WEB"
}

# ls_make_ca NAME: a test CA in $TMPD/NAME.pem (key NAME.key).
ls_make_ca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
	    -nodes -days 2 -subj "/CN=linksocks test CA $1" \
	    -keyout "$TMPD/$1.key" -out "$TMPD/$1.pem" \
	    -addext basicConstraints=critical,CA:TRUE \
	    -addext keyUsage=critical,keyCertSign,cRLSign \
	    >"$TMPD/$1.openssl.log" 2>&1 ||
	    fail "openssl req (CA $1): $(cat "$TMPD/$1.openssl.log")"
}

# ls_make_cert NAME CA [SERIAL [CN SAN]]: a certificate for server and
# client use signed by CA, in $TMPD/NAME.pem (NAME.key); SERIAL (hex) is
# its serial number (random if omitted or empty), CN its common name
# (localhost) and SAN its subjectAltName (IP:127.0.0.1,IP:::1,
# DNS:localhost).
ls_make_cert() {
	local name=$1 ca=$2 serial=${3:-$(openssl rand -hex 8)}
	local cn=${4:-localhost} san=${5:-IP:127.0.0.1,IP:::1,DNS:localhost}
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -subj "/CN=$cn" -keyout "$TMPD/$name.key" \
	    -out "$TMPD/$name.csr" >"$TMPD/$name.openssl.log" 2>&1 ||
	    fail "openssl req ($name): $(cat "$TMPD/$name.openssl.log")"
	printf '%s\n' "subjectAltName=$san" \
	    "extendedKeyUsage=serverAuth,clientAuth" "basicConstraints=CA:FALSE" \
	    >"$TMPD/$name.ext"
	openssl x509 -req -in "$TMPD/$name.csr" -CA "$TMPD/$ca.pem" \
	    -CAkey "$TMPD/$ca.key" -days 2 -extfile "$TMPD/$name.ext" \
	    -set_serial "0x$serial" \
	    -out "$TMPD/$name.pem" >>"$TMPD/$name.openssl.log" 2>&1 ||
	    fail "openssl x509 ($name): $(cat "$TMPD/$name.openssl.log")"
}

# ls_tls_serial HOST PORT CA: the serial number (hex, as openssl prints
# it) of the certificate served on HOST:PORT, verified against CA.
ls_tls_serial() {
	echo | timeout 10 openssl s_client -connect "$1:$2" \
	    -CAfile "$TMPD/$3.pem" -verify_return_error 2>/dev/null |
	    openssl x509 -noout -serial 2>/dev/null | sed 's/^serial=//'
}

ls_now() {
	date +%s.%N
}
# ls_elapsed T0: seconds (with fraction) since T0 (from ls_now).
ls_elapsed() {
	awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f\n", b - a }'
}

# ls_between X LO HI: LO <= X <= HI (decimals).
ls_between() {
	awk -v x="$1" -v l="$2" -v h="$3" 'BEGIN { exit !(x >= l && x <= h) }'
}

# ls_curl_suite PORT MODE: through the SOCKS5 port, curl 7 sizes one by
# one, three requests on one kept-alive connection, and 20 downloads in
# parallel; every body must match its sha256.  28 connections in all.
ls_curl_suite() {
	local port=$1 mode=$2 size rc want got
	for size in 0 1 1000 65536 65537 1048579 5000000; do
		ls_check_get "$port" \
		    "http://127.0.0.1:$WEB/file?size=$size&seed=$mode$size" \
		    "$mode size $size"
	done
	ls_say "$mode: single downloads ok"

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

	ls_get_parallel "$port" p 1 20 7919 "$mode parallel #"
	ls_say "$mode: keep-alive and 20 parallel downloads ok"
}

# ls_get_parallel PORT TAG FROM TO STEP WHAT: downloads FROM..TO, number n
# of n * STEP bytes from $WEB (seed TAGn, into $TMPD/TAGn), all at once
# through the SOCKS5 port; every curl must succeed and every body match
# its sha256.  Failures are named "WHATn".
ls_get_parallel() {
	local port=$1 tag=$2 from=$3 to=$4 step=$5 what=$6 n p pids= rc want got
	for n in $(seq "$from" "$to"); do
		ls_curl "$port" -o "$TMPD/$tag$n" -D "$TMPD/$tag$n.h" \
		    "http://127.0.0.1:$WEB/file?size=$((n * step))&seed=$tag$n" \
		    2>"$TMPD/$tag$n.err" &
		pids="$pids $!"
		ls_register "$!" "curl-$tag$n"
	done
	n=$from
	for p in $pids; do
		rc=0
		wait "$p" || rc=$?
		[ "$rc" -eq 0 ] || fail "$what$n: curl exit $rc: $(cat "$TMPD/$tag$n.err")"
		want=$(ls_header "$TMPD/$tag$n.h" X-Content-SHA256)
		got=$(sha256sum <"$TMPD/$tag$n" | cut -d' ' -f1)
		[ -n "$want" ] && [ "$got" = "$want" ] ||
		    fail "$what$n: sha256 $got != '$want'"
		n=$((n + 1))
	done
}

# ls_get_batches PORT TAG BATCHES WHAT: BATCHES batches of 10 parallel
# downloads (ls_get_parallel, n * 1000 bytes), one batch after another.
ls_get_batches() {
	local b
	for b in $(seq 1 "$3"); do
		ls_get_parallel "$1" "$2" $(((b - 1) * 10 + 1)) $((b * 10)) 1000 "$4"
	done
}

# ---- worker kills (tests/integration/*_workers.sh) ----------------------

# ls_wait_kids PID N SECS: until PID has exactly N children, false after
# SECS s; sets KIDS (space-separated).
ls_wait_kids() {
	local pid=$1 want=$2 end=$((SECONDS + $3)) n
	while :; do
		KIDS=$(ls_children "$pid" | tr '\n' ' ')
		n=$(echo $KIDS | wc -w)
		[ "$n" -eq "$want" ] && return 0
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.1
	done
}

# ls_kill_worker MASTER VICTIM OLDKIDS: SIGKILL worker VICTIM of MASTER,
# whose workers were OLDKIDS; within 5 s MASTER must have as many workers
# again, VICTIM gone and one new, and MASTER must live.  Sets KIDS and
# NEWKID.
ls_kill_worker() {
	local master=$1 victim=$2 old=$3 end=$((SECONDS + 5)) k nk gone
	kill -KILL "$victim"
	LS_KIDS+=("$victim")
	while :; do
		KIDS=$(ls_children "$master" | tr '\n' ' ')
		nk=$(echo $KIDS | wc -w)
		NEWKID=
		for k in $KIDS; do
			case " $old " in *" $k "*) ;; *) NEWKID=$k ;; esac
		done
		case " $KIDS " in *" $victim "*) gone=no ;; *) gone=yes ;; esac
		[ "$nk" -eq "$(echo $old | wc -w)" ] && [ -n "$NEWKID" ] &&
		    [ "$gone" = yes ] && break
		[ "$SECONDS" -lt "$end" ] ||
		    fail "no respawn within 5 s: workers now '$KIDS', before '$old', killed $victim"
		sleep 0.1
	done
	ls_alive "$master" || fail "master $master died after worker $victim was killed"
	ls_say "respawned: workers now $KIDS (new $NEWKID)"
}

# ls_slow_httpd: httpd "slow" on 127.0.0.1 at 1 MB/s; sets SLOW, its port,
# and SLOW_SIZE, 6 MB (about 6 s per transfer).
ls_slow_httpd() {
	SLOW_SIZE=$((6 * 1024 * 1024))
	ls_httpd slow 127.0.0.1 --rate $((1024 * 1024))
	SLOW=$HTTP_PORT
}

# ls_slow_start PORT N: N more slow downloads from $SLOW through the
# SOCKS5 port, in the background, numbered on from NSLOW (into
# $TMPD/sK); SLOWPID[K] is the curl of number K.
NSLOW=0
SLOWPID=()
ls_slow_start() {
	local k
	for k in $(seq 1 "$2"); do
		NSLOW=$((NSLOW + 1))
		ls_curl "$1" -o "$TMPD/s$NSLOW" -D "$TMPD/s$NSLOW.h" \
		    "http://127.0.0.1:$SLOW/file?size=$SLOW_SIZE&seed=s$NSLOW" \
		    2>"$TMPD/s$NSLOW.err" &
		SLOWPID[$NSLOW]=$!
		ls_register "$!" "curl-s$NSLOW"
	done
}

# ls_slow_results: wait for every slow download; sets SLOW_OK (complete,
# SLOW_SIZE bytes, right sha256) and SLOW_BROKEN (curl failed).  None may
# have completed with wrong data.
ls_slow_results() {
	local k rc want got bad=0
	SLOW_OK=0
	SLOW_BROKEN=0
	for k in $(seq 1 "$NSLOW"); do
		rc=0
		wait "${SLOWPID[$k]}" || rc=$?
		if [ "$rc" -ne 0 ]; then
			SLOW_BROKEN=$((SLOW_BROKEN + 1))
			ls_say "transfer $k broken: curl exit $rc: $(cat "$TMPD/s$k.err")"
			continue
		fi
		want=$(ls_header "$TMPD/s$k.h" X-Content-SHA256)
		got=$(sha256sum <"$TMPD/s$k" | cut -d' ' -f1)
		if [ -n "$want" ] && [ "$got" = "$want" ] &&
		    [ "$(stat -c %s "$TMPD/s$k")" -eq "$SLOW_SIZE" ]; then
			SLOW_OK=$((SLOW_OK + 1))
		else
			bad=$((bad + 1))
			ls_say "transfer $k completed with wrong data: $got != $want"
		fi
	done
	ls_say "slow transfers: $SLOW_OK intact, $SLOW_BROKEN broken, $bad completed with wrong data"
	[ "$bad" -eq 0 ] || fail "$bad transfers completed with wrong data"
}

# ---- UDP ASSOCIATE helpers (tests/integration/udp_*.sh) -----------------
#
# Added for the UDP tests; nothing above depends on them.

# The echo tests' retransmission options (socks5udp.py echo): kernel
# drops under load are recovered; anything still missing fails.
ECHO_OPTS="--window 8 --rto 1 --retries 4 --timeout 120"

# ls_have_ipv6: true when a socket can be bound on ::1.
ls_have_ipv6() {
	python3 -c 'import socket; s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.bind(("::1", 0))' \
	    2>/dev/null
}

# ls_udpecho NAME BIND [ARGS...]: UDP echo server (udpecho.py) on BIND
# (127.0.0.1, ::1 or dual) port 0, one line per datagram in
# $TMPD/NAME.dgrams; sets UDP_PORT.
ls_udpecho() {
	local name=$1 bind=$2
	shift 2
	ls_helper "$name" udpecho.py --bind "$bind" \
	    --log "$TMPD/$name.dgrams" "$@"
	UDP_PORT=$HELPER_PORT
	ls_say "$name: udp echo on $bind port $UDP_PORT"
}

# ls_dnsd NAME BIND [ARGS...]: DNS responder (dnsd.py) on BIND port 0;
# sets DNS_PORT.
ls_dnsd() {
	local name=$1 bind=$2
	shift 2
	ls_helper "$name" dnsd.py --bind "$bind" "$@"
	DNS_PORT=$HELPER_PORT
	ls_say "$name: dns on $bind port $DNS_PORT"
}

# ls_udp SUBCOMMAND ARGS...: run the SOCKS5 UDP tool (socks5udp.py),
# bounded by ${LS_UDP_TIMEOUT:-150} s, output on stdout.
ls_udp() {
	timeout "${LS_UDP_TIMEOUT:-150}" python3 "$LS_LIB/socks5udp.py" "$@"
}

# ls_udp_bg NAME SUBCOMMAND ARGS...: ls_udp in the background, output in
# $TMPD/NAME.out; sets LAST_PID.
ls_udp_bg() {
	local name=$1
	shift
	ls_udp "$@" >"$TMPD/$name.out" 2>&1 &
	LAST_PID=$!
	ls_register "$LAST_PID" "udp-$name"
}

# ls_udp_wait PID NAME WHAT: wait for ls_udp_bg's PID; it must exit 0.
ls_udp_wait() {
	local rc=0
	wait "$1" || rc=$?
	[ "$rc" -eq 0 ] || { cat "$TMPD/$2.out" >&2;
	    fail "$3: exit $rc: $(ls_field "$(cat "$TMPD/$2.out")" summary)"; }
}

# ls_udp_check WHAT SUBCOMMAND ARGS...: run ls_udp; it must exit 0.
# Sets UDP_OUT to its output; says its summary line.
ls_udp_check() {
	local what=$1 rc=0
	shift
	UDP_OUT=$(ls_udp "$@" 2>"$TMPD/udp.err") || rc=$?
	if [ "$rc" -ne 0 ]; then
		printf '%s\n' "--- socks5udp.py $*:" "$UDP_OUT" >&2
		cat "$TMPD/udp.err" >&2
		fail "$what: socks5udp.py $1 exit $rc: $(ls_field "$UDP_OUT" summary)"
	fi
	ls_say "$what: $(ls_field "$UDP_OUT" summary)"
}

# ls_udp_reply_check OUT HEXPREFIX WHAT: the raw UDP ASSOCIATE reply in
# OUT must be HEXPREFIX followed by the 2-byte BND.PORT that the "relay"
# line names (non-zero), and nothing else.
ls_udp_reply_check() {
	local out=$1 pre=$2 what=$3 reply rport
	reply=$(ls_field "$out" reply)
	rport=$(ls_field "$out" relay | awk '{ print $2 }')
	[ -n "$rport" ] && [ "$rport" -gt 0 ] 2>/dev/null ||
	    { printf '%s\n' "$out" >&2; fail "$what: no relay port (reply '$reply')"; }
	[ "$reply" = "$pre$(printf '%04x' "$rport")" ] ||
	    { printf '%s\n' "$out" >&2; fail "$what: reply '$reply', expected '$pre' + BND.PORT $(printf '%04x' "$rport")"; }
}

# ls_udp_suite PORT MODE ECHO4 DNS: through the SOCKS5 port, 1,000
# datagrams of up to 65,497 bytes to the IPv4 echo server on port ECHO4
# (the reply must name the 127.0.0.1 relay), DNS A and NXDOMAIN through
# the responder on port DNS, malformed datagrams, and the relay and far
# sockets gone once the control connection closes ($TMPD/echo4.dgrams is
# the echo server's log).  ECHO_OPTS are the echo options.
ls_udp_suite() {
	local P="--proxy 127.0.0.1:$1" mode=$2 e4=$3 dns=$4
	ls_udp_check "$mode: 1000 datagrams to 127.0.0.1" echo $P \
	    --target "127.0.0.1:$e4" --count 1000 --min 1 --max 65497 \
	    --seed "$LS_TEST-$mode" $ECHO_OPTS
	ls_udp_reply_check "$UDP_OUT" 050000017f000001 \
	    "$mode: UDP ASSOCIATE reply"
	ls_udp_check "$mode: DNS A hello.test" dns $P \
	    --target "127.0.0.1:$dns" --name hello.test --expect 192.0.2.7
	ls_udp_check "$mode: DNS NXDOMAIN" dns $P \
	    --target "127.0.0.1:$dns" --name hello.example --expect-rcode 3
	ls_udp_check "$mode: malformed datagrams" malformed $P \
	    --target "127.0.0.1:$e4" --timeout 60
	ls_udp_check "$mode: relay released on close" close-check $P \
	    --target "127.0.0.1:$e4" --far-log "$TMPD/echo4.dgrams" \
	    --gone-timeout 5 --timeout 60
}

# ls_api METHOD PATH [BODY [KEY]]: an HTTP API request to the last
# server ($WS_PORT) with key KEY (default $KEY; "-": none); sets CODE
# and BODY.
ls_api() {
	local args=() key=${4-$KEY}
	[ "$key" = - ] || args+=(-H "X-API-Key: $key")
	[ -n "${3-}" ] && args+=(--data-binary "$3")
	rm -f "$TMPD/api.body"
	CODE=$(curl -s -m 10 -X "$1" "${args[@]}" -o "$TMPD/api.body" \
	    -w '%{http_code}' "http://127.0.0.1:$WS_PORT$2") || CODE=curl-failed
	BODY=$(cat "$TMPD/api.body" 2>/dev/null)
}

# ls_api_field NAME: member NAME of the JSON object in $BODY (a string
# as it is, anything else as JSON).
ls_api_field() {
	python3 -c 'import json,sys
v = json.loads(sys.argv[1]).get(sys.argv[2])
print(v if isinstance(v, str) else json.dumps(v))' "$BODY" "$1"
}

# ls_wait_rc NAME SECS: wait up to SECS s for a background curl that
# writes its exit status to $TMPD/NAME.rc; fail unless it is 0.
ls_wait_rc() {
	local n=0
	while [ ! -s "$TMPD/$1.rc" ] && [ "$n" -lt $(($2 * 10)) ]; do
		sleep 0.1
		n=$((n + 1))
	done
	[ "$(cat "$TMPD/$1.rc" 2>/dev/null)" = 0 ] ||
	    fail "$1: curl failed: $(cat "$TMPD/$1.err" 2>/dev/null)"
}

# ---- real proxies from Debian (issue 11) ------------------------------
# Each listens on 127.0.0.1 on a port nobody used a moment ago (these
# daemons cannot take port 0 and report it) and is stopped by PID.

# ls_mark_master: the process ls_bg started last is a linksocks master
# (its workers are checked and stopped with it).
ls_mark_master() {
	LS_MASTERS+=($((${#LS_PIDS[@]} - 1)))
}

# ls_free_port: a port to give a daemon that cannot report port 0 (a
# reference daemon, microsocks, squid...).
ls_free_port() {
	local p
	p=$(ls_refused_port)
	[ -n "$p" ] || fail "no free port"
	echo "$p"
}

# ls_microsocks NAME [ARGS...]: microsocks (SOCKS5, CONNECT only); sets
# MS_PORT.
ls_microsocks() {
	local name=$1
	shift
	command -v microsocks >/dev/null 2>&1 || ls_skip "microsocks not installed"
	MS_PORT=$(ls_free_port)
	ls_bg "$name" microsocks -i 127.0.0.1 -p "$MS_PORT" "$@"
	wait_port 127.0.0.1 "$MS_PORT" 10 "$LAST_PID" "$name"
	ls_say "$name: microsocks on port $MS_PORT"
}

# ls_tinyproxy NAME [USER PASS]: tinyproxy (HTTP proxy, CONNECT to any
# port), Basic authentication when USER is given; sets TP_PORT.  Its log
# is $TMPD/NAME.tplog.
ls_tinyproxy() {
	local name=$1 user=${2:-} pass=${3:-}
	command -v tinyproxy >/dev/null 2>&1 || ls_skip "tinyproxy not installed"
	TP_PORT=$(ls_free_port)
	{
		echo "Port $TP_PORT"
		echo "Listen 127.0.0.1"
		echo "Timeout 120"
		echo "LogFile \"$TMPD/$name.tplog\""
		echo "LogLevel Connect"
		echo "MaxClients 200"
		echo "Allow 127.0.0.1"
		echo "DisableViaHeader Yes"
		[ -n "$user" ] && echo "BasicAuth $user $pass"
	} >"$TMPD/$name.conf"
	ls_bg "$name" tinyproxy -d -c "$TMPD/$name.conf"
	wait_port 127.0.0.1 "$TP_PORT" 10 "$LAST_PID" "$name"
	ls_say "$name: tinyproxy on port $TP_PORT"
}

# ls_danted NAME: Dante (SOCKS5 with UDP ASSOCIATE), no authentication,
# connections and UDP associations logged in $TMPD/NAME.dlog; sets
# DANTE_PORT.
ls_danted() {
	local name=$1
	command -v danted >/dev/null 2>&1 || ls_skip "danted not installed"
	DANTE_PORT=$(ls_free_port)
	cat >"$TMPD/$name.conf" <<EOT
logoutput: $TMPD/$name.dlog
internal: 127.0.0.1 port = $DANTE_PORT
external: 127.0.0.1
clientmethod: none
socksmethod: none
user.privileged: root
user.unprivileged: root
client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }
socks pass {
	from: 127.0.0.0/8 to: 0.0.0.0/0
	command: connect udpassociate udpreply
	log: connect disconnect
}
EOT
	ls_bg "$name" danted -f "$TMPD/$name.conf" -N 1 -p "$TMPD/$name.pid"
	wait_port 127.0.0.1 "$DANTE_PORT" 15 "$LAST_PID" "$name"
	ls_say "$name: danted on port $DANTE_PORT"
}

# ls_squid NAME USER PASS: squid as a corporate HTTP proxy that wants
# Basic authentication (407 without it), no cache; its files live in
# $TMPD/NAME.d (squid drops to its own user); sets SQUID_PORT.
ls_squid() {
	local name=$1 user=$2 pass=$3 d
	command -v squid >/dev/null 2>&1 || ls_skip "squid not installed"
	[ -x /usr/lib/squid/basic_ncsa_auth ] || ls_skip "squid's basic_ncsa_auth missing"
	d="$TMPD/$name.d"
	# squid's user must reach it: the test directory becomes 711.
	chmod o+x "$TMPD"
	mkdir -p "$d" && chmod 777 "$d"
	SQUID_PORT=$(ls_free_port)
	echo "$user:$(openssl passwd -apr1 "$pass")" >"$d/passwd"
	chmod 644 "$d/passwd"
	cat >"$d/squid.conf" <<EOT
http_port 127.0.0.1:$SQUID_PORT
pid_filename $d/squid.pid
cache_log $d/cache.log
access_log stdio:$d/access.log
cache deny all
cache_mem 8 MB
coredump_dir $d
auth_param basic program /usr/lib/squid/basic_ncsa_auth $d/passwd
auth_param basic realm linksocks-test
acl authed proxy_auth REQUIRED
http_access allow localhost authed
http_access deny all
shutdown_lifetime 1 seconds
EOT
	ls_bg "$name" squid -N -f "$d/squid.conf"
	wait_port 127.0.0.1 "$SQUID_PORT" 30 "$LAST_PID" "$name"
	ls_say "$name: squid on port $SQUID_PORT"
}

# ls_nginx NAME CONF: run nginx (master and one worker) with the http{}
# body CONF (logs and temporary files in $TMPD/NAME.d, which the worker
# may write); wait for PORT (the caller's) with ls_nginx_wait.
ls_nginx() {
	local name=$1 d="$TMPD/$1.d"
	command -v nginx >/dev/null 2>&1 || ls_skip "nginx not installed"
	mkdir -p "$d" && chmod 777 "$d"
	cat >"$d/nginx.conf" <<EOT
daemon off;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log info;
events { worker_connections 512; }
http {
	access_log $d/access.log;
	client_body_temp_path $d/body;
	proxy_temp_path $d/proxy;
	fastcgi_temp_path $d/fastcgi;
	uwsgi_temp_path $d/uwsgi;
	scgi_temp_path $d/scgi;
$2
}
EOT
	ls_bg "$name" nginx -e "$d/error.log" -p "$d" -c "$d/nginx.conf"
	NGINX_PID=$LAST_PID
}
