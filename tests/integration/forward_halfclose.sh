#!/bin/sh
# Half-close: the application shuts down its write side after sending
# 3 MB; the target reads to EOF and answers with 1 MB.  The answer must
# arrive whole (the reference drops it, P-4), and the target's close must
# reach the application at once, not after a 5 s cleanup delay (P-3).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

ls_start_forward

for mode in plain fast; do
	if [ "$mode" = plain ]; then port=$PLAIN; else port=$FAST; fi
	for sizes in "3000000 1048576" "0 256" "251 0"; do
		set -- $sizes
		ls_run_ok "$mode half-close up=$1 down=$2" 30 halfclose.py \
		    "$port" "$1" "$2"
		delay=$OK_VALUE
		awk -v d="$delay" 'BEGIN { exit !(d < 1.0) }' ||
		    fail "$mode: EOF reached the app ${delay}s after the target closed"
		ls_say "$mode half-close up=$1 down=$2 ok (EOF after ${delay}s)"
	done
done

ls_finish
