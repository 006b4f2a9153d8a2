#!/bin/sh
# Regression: a half-close (Disconnect) that reaches the server while it
# is still dialling the target was taken as an abort, so the target's
# answer never came back (seen with fast-open clients that send nothing
# and shut down at once).  A raw peer sends Connect and Disconnect in one
# write; the target must get the connection, read EOF, and its answer
# must come back before the server's own Disconnect.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

ls_start_server server
for i in 1 2 3 4 5; do
	out=$(timeout 30 python3 "$LS_LIB/lsraw.py" halfclose-during-dial \
	    --port "$WS_PORT" --token "$LS_TOKEN" 2>&1) ||
	    fail "run $i: lsraw.py failed: $out"
	for want in "response 1" "data bye" "disconnect 1" "target_read 0"; do
		printf '%s\n' "$out" | grep -qx "$want" ||
		    fail "run $i: no '$want' in: $(printf '%s' "$out" | tr '\n' ';')"
	done
done
ls_say "half-close during the dial kept; the answer came back 5 times"
ls_finish
