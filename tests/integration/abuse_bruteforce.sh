#!/bin/sh
# Guessing tokens is slow, and a right token is never kept waiting (issue
# 9, finding (c): ~1,700 failed attempts a second from one sequential
# client).  One server worker; the guesser binds to 127.0.0.2:
#  1. A sequential guesser, alternating Auth messages and URL-query
#     hashes, gets at most 20 answers ("invalid token") within 5 s (the
#     first 3 at once, then 0.2, 0.4, 0.8 ... up to 5 s each).
#     Meanwhile the right token from 127.0.0.1 is answered with success
#     in less than 0.5 s, and a forward client starts and transfers.
#  2. 40 guesses from 127.0.0.2 at once gain nothing: at most 3 answers
#     within 4 s, the answers to one address going one after another.
#  3. The right token from 127.0.0.2 itself is answered at once, and it
#     clears that address's count: the next wrong guess is answered at
#     once too.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.2", 0))' \
    2>/dev/null || ls_skip "cannot bind 127.0.0.2"
LS_WORKERS=1
WRONG="wrong-$LS_TOKEN"

ls_httpd web 127.0.0.1
WEB=$HTTP_PORT
ls_start_server server

# auth NAME ARGS...: abuse.py auth against the server; OUT is its output.
auth() {
	local name=$1
	shift
	OUT=$(timeout 60 python3 "$LS_LIB/abuse.py" auth --port "$WS_PORT" \
	    "$@" 2>"$TMPD/$name.err") || fail "$name: abuse.py auth exited $?"
	printf '%s\n' "$OUT" | tr '\n' ' ' | sed "s/^/  $name: /"
	echo
}

# right NAME BIND: the right token from BIND, by message and by query:
# both succeed, each in less than 0.5 s.
right() {
	auth "$1" --bind "$2" --token "$LS_TOKEN" --count 2 --mode mix --time 10
	[ "$(ls_field "$OUT" ok)" = 2 ] || fail "$1: right token refused"
	ls_between "$(ls_field "$OUT" max)" 0 0.5 ||
	    fail "$1: right token answered in $(ls_field "$OUT" max)s"
}

# ---- 1. one sequential guesser -------------------------------------------
ls_bg guess timeout 30 python3 "$LS_LIB/abuse.py" auth --port "$WS_PORT" \
    --bind 127.0.0.2 --token "$WRONG" --count 200 --mode mix --time 8 \
    --window 5
GUESS_PID=$LAST_PID
sleep 2
right right1 127.0.0.1
ls_start_client fwd
ls_check_get "$SOCKS_PORT" "http://127.0.0.1:$WEB/file?size=100000" \
    "client started during the guessing"
wait "$GUESS_PID" || fail "guesser exited $?"
OUT=$(cat "$TMPD/guess.out")
printf '%s\n' "$OUT" | tr '\n' ' ' | sed 's/^/  guess: /'
echo
within=$(ls_field "$OUT" within)
[ "$(ls_field "$OUT" ok)" = 0 ] || fail "a wrong token was accepted"
[ "$(ls_field "$OUT" fail)" = "$(ls_field "$OUT" answers)" ] ||
    fail "guesses answered otherwise than with a failure"
[ "$(ls_field "$OUT" text)" = "invalid token" ] ||
    fail "guess answered '$(ls_field "$OUT" text)'"
[ "${within:-0}" -ge 3 ] && [ "$within" -le 20 ] ||
    fail "sequential guesser: $within answers within 5 s (expected 3..20)"
ls_say "1: $within answers within 5 s, $(ls_field "$OUT" answers) in 8 s"

# ---- 2. guesses in parallel ----------------------------------------------
auth parallel --bind 127.0.0.2 --token "$WRONG" --count 40 --parallel 40 \
    --time 4 --window 4
n=$(ls_field "$OUT" answers)
[ "$(ls_field "$OUT" attempts)" = 40 ] || fail "parallel: not 40 attempts"
[ "$n" -le 3 ] || fail "parallel: $n of 40 answered within 4 s (at most 3)"
ls_say "2: $n of 40 parallel guesses answered within 4 s"

# ---- 3. the right token from the guessing address ------------------------
right right2 127.0.0.2
auth after --bind 127.0.0.2 --token "$WRONG" --count 1 --time 10
[ "$(ls_field "$OUT" fail)" = 1 ] || fail "after: wrong token not refused"
ls_between "$(ls_field "$OUT" max)" 0 0.5 ||
    fail "after a success the next failure waited $(ls_field "$OUT" max)s"
ls_say "3: right token from 127.0.0.2 at once; its count is cleared"

ls_check_get "$SOCKS_PORT" "http://127.0.0.1:$WEB/file?size=1000000" \
    "after the guessing"
grep -q 'authentication failed: invalid token (.* failures from this address: answered in' \
    "$TMPD/server.log" || fail "no delayed failure logged"
ls_alive "$SERVER_PID" || fail "server died"
ls_finish
