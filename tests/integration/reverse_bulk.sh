#!/bin/sh
# Reverse mode: 100 MB download and 100 MB upload through the server's
# SOCKS port and a provider, compared by sha256, without and with fast
# open (server -f).  LS_BULK_MB changes the size.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

ls_bulk_init

ls_web
ls_start_reverse

for mode in plain fast; do
	if [ "$mode" = plain ]; then port=$PLAIN; else port=$FAST; fi
	ls_bulk_via "$port" "$mode" "p$mode"
done

ls_finish
