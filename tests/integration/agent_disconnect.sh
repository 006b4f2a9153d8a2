#!/bin/sh
# Close propagation in agent mode (connector -> server -> provider):
# when the application closes, the target must see EOF within 1 s (the
# reference never tells the provider, P-5, or only after 5 s, P-3); when
# the target closes, the application must see EOF within 1 s.  Connector
# fast open off and on (early data too), and the same through a reverse
# server's own SOCKS port.  Afterwards no channel may be left open
# anywhere: SIGTERM finds nothing to drain and every process exits 0.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

ls_start_agent
ls_rsocks_port server
RPORT=$RSOCKS_PORT

# check PORT WHAT ARGS...
check() {
	local port=$1 what=$2 d
	shift 2
	ls_run_ok "$what" 60 eofwait.py --proxy "127.0.0.1:$port" "$@"
	d=$OK_VALUE
	awk -v d="$d" 'BEGIN { exit !(d < 1.0) }' ||
	    fail "$what: EOF only after ${d}s"
	ls_say "$what: EOF after ${d}s"
}

for mode in plain fast reverse; do
	case $mode in
	plain)	port=$PLAIN ;;
	fast)	port=$FAST ;;
	reverse) port=$RPORT ;;
	esac
	for i in 1 2 3; do
		check "$port" "$mode #$i: app closes, target" --closer app
		check "$port" "$mode #$i: target closes, app" --closer target
	done
	check "$port" "$mode: app closes after 3 MB each way" --closer app --bytes 3000000
	check "$port" "$mode: app closes, nothing sent" --closer app --bytes 0
	if [ "$mode" = fast ]; then
		check "$port" "$mode: early data, app closes" --closer app --pipeline
		check "$port" "$mode: early data, target closes" --closer target --pipeline
	fi
done

# Every app and target has closed: nothing may be left to drain.
sleep 1
for name in plain fast prov server; do
	ls_stop "$name"
	left=$(grep -aoE 'draining: [1-9][0-9]* channels? open' "$TMPD/$name.log" |
	    tr '\n' ' ')
	[ -z "$left" ] ||
	    fail "$name: channels leaked after every app and target closed ($left)"
	[ "$LS_RC" = 0 ] || fail "$name: exit '$LS_RC' after SIGTERM"
	ls_drop_master "$name"
done

ls_finish
