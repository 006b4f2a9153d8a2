#!/bin/sh
# curl --socks5-hostname through client+server to a local HTTP server,
# fast open off and on; every body must match its sha256 header.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

ls_web
ls_start_forward

for mode in plain fast; do
	if [ "$mode" = plain ]; then port=$PLAIN; else port=$FAST; fi
	ls_curl_suite "$port" "$mode"
done

ls_finish
