#!/bin/sh
# Regression: in agent mode the server relays hop by hop with credit.  A
# protocol-0x01 connector may send Data messages far larger than the
# provider's window (the reference sends up to 2 MiB, gzip-compressed
# from 512 KiB); the relay must cut them to fit, or they never pass.
# A raw connector sends a 1 MiB plain and a 600 KiB gzip message to a
# provider with a 64 KiB window; the target must get every byte.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

LS_WORKERS=1
ls_start_rserver server -c "$LS_CTOKEN"
ls_start_provider prov --window 65536
grep -qa 'ready (half-close, credit)' "$TMPD/prov.log" ||
    fail "the provider's tunnel has no credit: $(grep -a ready "$TMPD/prov.log")"
for i in 1 2 3; do
	out=$(timeout 60 python3 "$LS_LIB/lsraw.py" bigframes --port "$WS_PORT" \
	    --token "$LS_CTOKEN" --timeout 40 2>&1) ||
	    fail "run $i: lsraw.py: $out"
	sent=$(printf '%s\n' "$out" | awk '$1 == "sent" { print $2 }')
	got=$(printf '%s\n' "$out" | awk '$1 == "answer" { print $2 }')
	[ -n "$sent" ] && [ "$sent" = "$got" ] ||
	    fail "run $i: the target read sha256 '$got', the connector sent '$sent'"
done
ls_say "1 MiB plain and 600 KiB gzip messages relayed to a 64 KiB window, 3 times"
ls_finish
