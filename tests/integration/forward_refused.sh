#!/bin/sh
# A refused target: exactly 05 04 00 01 00*6 and a close without fast
# open; with fast open the success reply comes at once, then the
# connection is closed (EOF or RST) within 15 s and no data arrives.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

OK=05000001000000000000
UNREACH=05040001000000000000

ls_web
ls_start_forward

RP=$(ls_refused_port 127.0.0.1)
[ -n "$RP" ] || fail "no refused port"
ls_say "refused port $RP"

for i in 1 2 3; do
	t0=$SECONDS
	out=$(ls_socks5 --proxy "127.0.0.1:$PLAIN" --target "127.0.0.1:$RP" \
	    --expect-close --timeout 25)
	ls_expect "$out" method 0500 "refused, no fast open #$i"
	ls_expect "$out" reply "$UNREACH" "refused, no fast open #$i"
	ls_expect_closed "$out" "refused, no fast open #$i" 5
	[ $((SECONDS - t0)) -le 12 ] ||
	    fail "refused, no fast open: answer took $((SECONDS - t0)) s"
done
ls_say "no fast open: refused -> 05 04, closed"

# ATYP 3 name that cannot resolve: also 05 04, within the connect timeout.
out=$(ls_socks5 --proxy "127.0.0.1:$PLAIN" --target "no-such-host.invalid:80" \
    --expect-close --timeout 25)
ls_expect "$out" reply "$UNREACH" "unresolvable name, no fast open"
ls_expect_closed "$out" "unresolvable name, no fast open" 5
ls_say "no fast open: unresolvable name -> 05 04"

# The tunnel still works after failures.
ls_check_get "$PLAIN" "http://127.0.0.1:$WEB/file?size=10000" "after refusals"

for i in 1 2; do
	out=$(ls_socks5 --proxy "127.0.0.1:$FAST" --target "127.0.0.1:$RP" \
	    --send-hex "$(printf 'GET / HTTP/1.0\r\n\r\n' | od -An -tx1 | tr -d ' \n')" \
	    --expect-close --timeout 25)
	ls_expect "$out" method 0500 "refused, fast open #$i"
	ls_expect "$out" reply "$OK" "refused, fast open #$i"
	ls_expect_closed "$out" "refused, fast open #$i" 15.5
done
ls_say "fast open: refused -> 05 00 then closed, no data"

ls_check_get "$FAST" "http://127.0.0.1:$WEB/file?size=10000" "fast open after refusals"

ls_finish
