#!/bin/sh
# No provider.  Reverse server with -i (SOCKS port listens at once):
# greeting 05 01 00 -> 05 00, then the request is answered after 10 s
# (+-1.5 s) with exactly 05 03 00 01 00*6 and the connection is closed;
# a provider that arrives within those 10 s serves the waiting request.
# Connector whose token has no provider: 05 04 00 01 00*6 after the
# server's connector-wait-provider (5 s default, 2 s when set).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

OK=05000001000000000000
NETUNREACH=05030001000000000000
UNREACH=05040001000000000000
HELLO=$(printf 'hello\n' | sha256sum | cut -d' ' -f1)

ls_web

# timed NAME ARGS...: ls_socks5 ARGS in the background, output and
# "elapsed S" (wall time from start to the end of the exchange, without
# the close wait) into $TMPD/NAME.res; sets LAST_PID.
timed() {
	local name=$1
	shift
	(
		t0=$(ls_now)
		out=$(ls_socks5 "$@")
		el=$(ls_elapsed "$t0")
		printf '%s\n' "$out"
		echo "elapsed $el"
	) >"$TMPD/$name.res" 2>&1 &
	LAST_PID=$!
	ls_register "$LAST_PID" "$name"
}

# in_window OUT WHAT LO HI: the reply came LO..HI s after the request
# was sent (the helper's own start-up on a loaded machine not counted).
in_window() {
	local t
	t=$(ls_field "$1" reply-after)
	[ -n "$t" ] || fail "$2: no reply-after in the helper's output"
	ls_between "$t" "$3" "$4" ||
	    fail "$2: reply after $t s, want $3..$4 s"
	ls_say "$2: reply after $t s"
}

# 1. Reverse server, -i, no provider: three requests at once.
ls_start_rserver srv -i
ls_rsocks_port srv
PORT=$RSOCKS_PORT
for i in 1 2 3; do
	timed "np$i" --proxy "127.0.0.1:$PORT" --target "127.0.0.1:$WEB" \
	    --expect-close --timeout 25
done
for i in 1 2 3; do
	wait "$(ls_pid_of "np$i")"
	out=$(cat "$TMPD/np$i.res")
	ls_expect "$out" method 0500 "no provider #$i"
	ls_expect "$out" reply "$NETUNREACH" "no provider #$i"
	ls_expect_closed "$out" "no provider #$i" 1.0
	in_window "$out" "no provider #$i" 8.5 11.5
done
# Everything in one write: the same answer.
timed nppipe --proxy "127.0.0.1:$PORT" --target "127.0.0.1:$WEB" \
    --pipeline --send-hex 474554202f20485454502f312e300d0a0d0a \
    --expect-close --timeout 25
wait "$(ls_pid_of nppipe)"
out=$(cat "$TMPD/nppipe.res")
ls_expect "$out" method 0500 "no provider, pipelined"
ls_expect "$out" reply "$NETUNREACH" "no provider, pipelined"
ls_expect_closed "$out" "no provider, pipelined" 1.0
in_window "$out" "no provider, pipelined" 8.5 11.5
ls_say "no provider: 05 00, then 05 03 after 10 s, closed"

# 2. A provider arriving while a request waits serves it.
timed late --proxy "127.0.0.1:$PORT" --target "127.0.0.1:$WEB" \
    --http-get /hello --timeout 25
sleep 2
ls_start_provider prov
wait "$(ls_pid_of late)"
out=$(cat "$TMPD/late.res")
ls_expect "$out" reply "$OK" "request waiting for a provider"
ls_expect "$out" body-sha256 "$HELLO" "request waiting for a provider"
ls_check_get "$PORT" "http://127.0.0.1:$WEB/file?size=100000" "with a provider"
ls_say "a provider arriving within 10 s serves the waiting request"

# 3. Connector, token without provider: 05 04 after about 5 s.
for wp in default 2s; do
	if [ "$wp" = default ]; then
		ls_start_rserver "csrv-$wp" -c "$LS_CTOKEN"
		lo=4.0 hi=7.0
	else
		ls_start_rserver "csrv-$wp" -c "$LS_CTOKEN" --connector-wait-provider "$wp"
		lo=1.5 hi=3.5
	fi
	ls_start_connector "conn-$wp"
	CPORT=$SOCKS_PORT
	for i in 1 2; do
		timed "cn$wp$i" --proxy "127.0.0.1:$CPORT" --target "127.0.0.1:$WEB" \
		    --expect-close --timeout 25
	done
	for i in 1 2; do
		wait "$(ls_pid_of "cn$wp$i")"
		out=$(cat "$TMPD/cn$wp$i.res")
		ls_expect "$out" method 0500 "connector, no provider ($wp) #$i"
		ls_expect "$out" reply "$UNREACH" "connector, no provider ($wp) #$i"
		ls_expect_closed "$out" "connector, no provider ($wp) #$i" 1.0
		in_window "$out" "connector, no provider ($wp) #$i" "$lo" "$hi"
	done
	# The connector is still usable once a provider comes.
	ls_start_provider "cprov-$wp"
	ls_check_get "$CPORT" "http://127.0.0.1:$WEB/file?size=100000&seed=$wp" \
	    "connector after its provider came ($wp)"
done
ls_say "connector without provider: 05 04 after the wait"

ls_finish
