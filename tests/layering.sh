#!/bin/sh
# layering.sh -- the shape of src/, checked by make check:
#  1. no include/call cycle among the files (tests/depgraph.py prints the
#     graph and every cycle);
#  2. the generic core (channel.c, tunnel.c) never dispatches on a channel
#     kind, and a kind's private flags stay in the kind's own file.
srcdir=${TESTS_SRCDIR:-$(dirname "$0")}/../src
fail=0

python3 "$(dirname "$0")/depgraph.py" "$srcdir" || fail=1

# A kind is known only to the file that makes it: CHK_* appears in the
# header and in the ops table of its own file.
kind_file() {
	case $1 in
	CHK_SOCKS) echo front.c ;;
	CHK_DIAL) echo dial.c ;;
	CHK_UDP_SOCKS|CHK_UDP_DIAL) echo udp.c ;;
	CHK_AGENT) echo agent.c ;;
	CHF_ADOPTED) echo front.c ;;
	CHF_FROM_LINK) echo agent.c ;;
	esac
}
for sym in CHK_SOCKS CHK_DIAL CHK_UDP_SOCKS CHK_UDP_DIAL CHK_AGENT \
    CHF_ADOPTED CHF_FROM_LINK; do
	own=$(kind_file "$sym")
	for f in "$srcdir"/*.c; do
		[ "$(basename "$f")" = "$own" ] && continue
		if grep -n "\\<$sym\\>" "$f"; then
			echo "FAIL: $sym used in $(basename "$f"), outside $own"
			fail=1
		fi
	done
done
# Nothing dispatches on the kind or compares ops tables.
if grep -n 'co_kind *[=!]=\|ch_ops *[=!]= *&' "$srcdir"/*.c; then
	echo "FAIL: dispatch on a channel's kind"
	fail=1
fi
[ $fail -eq 0 ] && echo "layering: no cycle, no kind dispatch outside its file"
exit $fail
