#!/bin/sh
# Abrupt close: when the application or the target resets its
# connection (TCP RST), the other end's connection ends within 1 s, in
# forward, reverse and agent mode, fast open off and on.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

# probe PORT WHAT: both sides reset, three times each.
probe() {
	local port=$1 what=$2 side i
	for side in app target; do
		for i in 1 2 3; do
			ls_run_ok "$what: $side reset, run $i" 30 resetprobe.py \
			    --proxy "127.0.0.1:$port" --side "$side" --timeout 1
		done
		ls_say "$what: $side reset seen by the other end (last after ${OK_VALUE}s)"
	done
}

ls_start_server server
ls_start_client plain
probe "$SOCKS_PORT" forward
ls_start_client fast -f
probe "$SOCKS_PORT" forward-fast

ls_start_rserver rserver -f
ls_start_provider rprov
ls_rsocks_port rserver
probe "$RSOCKS_PORT" reverse-fast

ls_start_rserver aserver -c "$LS_CTOKEN"
ls_start_provider aprov
ls_start_connector aconn
probe "$SOCKS_PORT" agent
ls_start_connector aconnf -f
probe "$SOCKS_PORT" agent-fast

ls_finish
