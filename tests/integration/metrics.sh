#!/bin/sh
# --metrics-listen: the server's and the client's GET /metrics, read by
# the real Prometheus text parser (python3-prometheus-client), move by
# the expected amounts: a 1 MiB download through a forward client is one
# channel, one connect ok and at least 1 MiB each way it went, under the
# token's hash label (never the token); a refused target is a failed
# connect under "refused" on the server and "remote" on the client; a
# fast-open client counts its early replies and how they ended, and a
# destination its access rule refuses; a wrong token is an
# authentication failure.  UDP: 20 echoed datagrams of 100 bytes are one
# association and 20 datagrams, 2000 bytes each way on both sides, and
# neither a connect nor a fast-open reply; datagrams an access rule
# refuses are drops under "denied", an association over --max-udp a
# "limit" result.  Anything but GET /metrics
# is 404/405, and an oversized request head 400.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

# The parser may be in the system's Python only (pyenv shims).
PROMPY=
for py in python3 /usr/bin/python3; do
	if command -v "$py" >/dev/null 2>&1 &&
	    "$py" -c 'import prometheus_client.parser' 2>/dev/null; then
		PROMPY=$py
		break
	fi
done
[ -n "$PROMPY" ] || ls_skip "python3-prometheus-client not installed"

SIZE=1048576

# scrape PORT NAME: GET /metrics into $TMPD/NAME.prom; it must parse.
scrape() {
	local code
	code=$(timeout 15 curl -sS --noproxy '' --max-time 10 \
	    -D "$TMPD/$2.hdr" -o "$TMPD/$2.prom" -w '%{http_code}' \
	    "http://127.0.0.1:$1/metrics" 2>"$TMPD/$2.err") ||
	    fail "$2: curl: $(cat "$TMPD/$2.err")"
	[ "$code" = 200 ] || fail "$2: HTTP $code"
	grep -qi '^content-type: text/plain; version=0.0.4' "$TMPD/$2.hdr" ||
	    fail "$2: content type: $(grep -i content-type "$TMPD/$2.hdr")"
	"$PROMPY" "$LS_LIB/promq.py" "$TMPD/$2.prom" check \
	    >"$TMPD/$2.check" 2>&1 ||
	    fail "$2: the parser refused it: $(cat "$TMPD/$2.check")"
}

# q NAME SAMPLE [K=V...]: the sum of those samples in scrape NAME.
q() {
	local name=$1
	shift
	"$PROMPY" "$LS_LIB/promq.py" "$TMPD/$name.prom" sum "$@" ||
	    fail "$name: no sample $*"
}

# delta A B SAMPLE [K=V...]: B's sum minus A's.
delta() {
	local a=$1 b=$2
	shift 2
	echo $(($(q "$b" "$@") - $(q "$a" "$@")))
}

ls_web
ls_start_server server --metrics-listen 127.0.0.1:0
SM=$(ls_port_of "$TMPD/server.port" metrics)
[ -n "$SM" ] || fail "no 'metrics <port>' line: $(cat "$TMPD/server.port")"
ls_start_client client --metrics-listen 0
CM=$(ls_port_of "$TMPD/client.port" metrics)
[ -n "$CM" ] || fail "no client 'metrics <port>' line"
ls_say "metrics: server $SM, client $CM"

# Not /metrics, not GET, an oversized head.
code=$(curl -sS --noproxy '' --max-time 10 -o /dev/null -w '%{http_code}' \
    "http://127.0.0.1:$SM/") || fail "GET /: curl failed"
[ "$code" = 404 ] || fail "GET /: HTTP $code, expected 404"
code=$(curl -sS --noproxy '' --max-time 10 -o /dev/null -w '%{http_code}' \
    -X POST "http://127.0.0.1:$SM/metrics") || fail "POST: curl failed"
[ "$code" = 405 ] || fail "POST /metrics: HTTP $code, expected 405"
big=$(head -c 12000 /dev/zero | tr '\0' a)
code=$(curl -sS --noproxy '' --max-time 10 -o /dev/null -w '%{http_code}' \
    -H "X-Big: $big" "http://127.0.0.1:$SM/metrics" 2>/dev/null) || true
[ "$code" = 400 ] || fail "oversized head: HTTP $code, expected 400"
ls_say "404, 405 and 400 as expected"

scrape "$SM" s0
scrape "$CM" c0
[ "$(q s0 linksocks_workers_up)" = "$LS_WORKERS" ] ||
    fail "workers_up is $(q s0 linksocks_workers_up), not $LS_WORKERS"
[ "$(q s0 linksocks_tunnels_open)" -ge 1 ] ||
    fail "server: no open tunnel counted"

# A known transfer.
ls_check_get "$SOCKS_PORT" "http://127.0.0.1:$WEB/file?size=$SIZE" \
    "1 MiB download"
scrape "$SM" s1
scrape "$CM" c1
d=$(delta s0 s1 linksocks_channels_total)
[ "$d" = 1 ] || fail "server: channels_total moved by $d, expected 1"
d=$(delta s0 s1 linksocks_connects_total result=ok)
[ "$d" = 1 ] || fail "server: connects ok moved by $d, expected 1"
d=$(delta s0 s1 linksocks_bytes_out_total)
[ "$d" -ge "$SIZE" ] || fail "server: bytes_out moved by $d < $SIZE"
d=$(delta s0 s1 linksocks_bytes_in_total)
[ "$d" -gt 0 ] || fail "server: bytes_in did not move (the request)"
d=$(delta c0 c1 linksocks_bytes_in_total)
[ "$d" -ge "$SIZE" ] || fail "client: bytes_in moved by $d < $SIZE"
d=$(delta c0 c1 linksocks_connects_total result=ok)
[ "$d" = 1 ] || fail "client: connects ok moved by $d, expected 1"
d=$(delta c0 c1 linksocks_channels_total)
[ "$d" = 1 ] || fail "client: channels_total moved by $d, expected 1"
ls_say "1 MiB: one channel, one connect, bytes counted on both sides"

# The token: by the first 12 hex digits of its SHA-256, never in clear.
label=$(printf '%s' "$LS_TOKEN" | sha256sum | cut -c1-12)
got=$("$PROMPY" "$LS_LIB/promq.py" "$TMPD/s1.prom" labels \
    linksocks_token_bytes_out_total token)
[ "$got" = "$label" ] || fail "token labels '$got', expected '$label'"
grep -q -- "$LS_TOKEN" "$TMPD/s1.prom" && fail "the token is in the output"
d=$(q s1 linksocks_token_bytes_out_total token="$label")
[ "$d" -ge "$SIZE" ] || fail "token bytes_out $d < $SIZE"
[ "$(q s1 linksocks_token_channels_total token="$label")" -ge 1 ] ||
    fail "token channels_total did not move"
[ "$(q s1 linksocks_token_tunnels_open token="$label")" -ge 1 ] ||
    fail "token tunnels_open is 0"
ls_say "token label $label"

# A refused target.
RP=$(ls_refused_port 127.0.0.1)
[ -n "$RP" ] || fail "no refused port"
out=$(ls_socks5 --proxy "127.0.0.1:$SOCKS_PORT" --target "127.0.0.1:$RP" \
    --expect-close --timeout 25)
ls_expect "$out" reply 05040001000000000000 "refused target"
scrape "$SM" s2
scrape "$CM" c2
d=$(delta s1 s2 linksocks_connects_total result=refused)
[ "$d" = 1 ] || fail "server: connects refused moved by $d, expected 1"
d=$(delta s1 s2 linksocks_connects_total result=ok)
[ "$d" = 0 ] || fail "server: connects ok moved by $d on a refusal"
d=$(delta s1 s2 linksocks_token_connect_failures_total token="$label")
[ "$d" = 1 ] || fail "token connect failures moved by $d, expected 1"
d=$(delta c1 c2 linksocks_connects_total result=remote)
[ "$d" = 1 ] || fail "client: connects remote moved by $d, expected 1"
ls_say "refused target: counted under 'refused' and 'remote'"

# UDP: a known exchange through the first client, to a UDP echo server.
ls_udpecho echo 127.0.0.1
ECHO=$UDP_PORT
ls_udp_check "metrics: 20 datagrams of 100 bytes" echo \
    --proxy "127.0.0.1:$SOCKS_PORT" --target "127.0.0.1:$ECHO" --count 20 \
    --min 100 --max 100 --max-retrans 0 --seed metrics
scrape "$SM" s2u
scrape "$CM" c2u
for side in s2:s2u:server c2:c2u:client; do
	a=${side%%:*} b=${side#*:} b=${b%%:*} who=${side##*:}
	for want in udp_associations_total:result=ok:1 \
	    udp_datagrams_in_total::20 udp_datagrams_out_total::20 \
	    udp_bytes_in_total::2000 udp_bytes_out_total::2000 \
	    udp_drops_total::0 connects_total::0 fastopen_total::0; do
		m=${want%%:*} l=${want#*:} l=${l%%:*} n=${want##*:}
		d=$(delta "$a" "$b" "linksocks_$m" $l)
		[ "$d" = "$n" ] || fail "$who: $m $l moved by $d, expected $n"
	done
done
d=$(delta s2 s2u linksocks_udp_associations_total)
[ "$d" = 1 ] || fail "server: UDP associations moved by $d, expected 1"
for m in udp_bytes_in udp_bytes_out; do
	d=$(delta s2 s2u "linksocks_token_${m}_total" token="$label")
	[ "$d" = 2000 ] || fail "token $m moved by $d, expected 2000"
done
d=$(delta s2 s2u linksocks_bytes_in_total)
[ "$d" -ge 2000 ] || fail "server: bytes_in moved by $d < 2000 (UDP)"
ls_say "UDP: one association, 20 datagrams and 2000 bytes each way"

# Fast open and an access rule on a second client.
ls_start_client fast -f --access-rule 127.0.0.1 --metrics-listen 0
FAST=$SOCKS_PORT
FM=$(ls_port_of "$TMPD/fast.port" metrics)
[ -n "$FM" ] || fail "no fast client 'metrics <port>' line"
scrape "$FM" f0
ls_check_get "$FAST" "http://127.0.0.1:$WEB/file?size=10000" "fast open GET"
out=$(ls_socks5 --proxy "127.0.0.1:$FAST" --target "127.0.0.1:$RP" \
    --expect-close --timeout 25)
ls_expect "$out" reply 05000001000000000000 "fast open, refused target"
ls_expect_closed "$out" "fast open, refused target" 15.5
out=$(ls_socks5 --proxy "127.0.0.1:$FAST" --target "127.0.0.2:80" \
    --expect-close --timeout 25)
ls_expect "$out" reply 05020001000000000000 "a destination the rule refuses"
scrape "$FM" f1
for want in answered=2 confirmed=1 failed=1; do
	d=$(delta f0 f1 linksocks_fastopen_total outcome="${want%=*}")
	[ "$d" = "${want#*=}" ] ||
	    fail "fast client: fastopen ${want%=*} moved by $d, not ${want#*=}"
done
d=$(delta f0 f1 linksocks_connects_total result=denied)
[ "$d" = 1 ] || fail "fast client: connects denied moved by $d, expected 1"
d=$(delta f0 f1 linksocks_access_refusals_total side=entry)
[ "$d" = 1 ] || fail "fast client: entry refusals moved by $d, expected 1"
ls_say "fast open outcomes and an access refusal counted"

# UDP through the fast client: the association is answered early, but
# is no fast-open reply; datagrams to 127.0.0.2 its rule refuses.
rc=0
out=$(ls_udp echo --proxy "127.0.0.1:$FAST" --target "127.0.0.2:$ECHO" \
    --count 3 --min 16 --max 16 --retries 0 --rto 0.5 --timeout 20 \
    2>"$TMPD/udp.err") || rc=$?
case $(ls_field "$out" reply) in
0500*) ;;
*)	fail "fast client: UDP ASSOCIATE reply '$(ls_field "$out" reply)'" ;;
esac
case $(ls_field "$out" summary) in
"sent 3 ok 0 "*) ;;
*)	fail "fast client: refused datagrams: $(ls_field "$out" summary)" ;;
esac
scrape "$FM" f2
for want in udp_associations_total:result=ok:1 \
    udp_drops_total:reason=denied:3 udp_drops_total::3 \
    access_refusals_total:side=entry:3 udp_datagrams_out_total::0 \
    udp_datagrams_in_total::0 fastopen_total::0 connects_total::0; do
	m=${want%%:*} l=${want#*:} l=${l%%:*} n=${want##*:}
	d=$(delta f1 f2 "linksocks_$m" $l)
	[ "$d" = "$n" ] || fail "fast client: $m $l moved by $d, expected $n"
done
ls_say "UDP refused by an access rule: 3 drops, no fast open, no connect"

# An association over the cap (--max-udp 0): a "limit" result.
ls_start_client capped --max-udp 0 --metrics-listen 0
CAPM=$(ls_port_of "$TMPD/capped.port" metrics)
[ -n "$CAPM" ] || fail "no capped client 'metrics <port>' line"
scrape "$CAPM" k0
out=$(ls_udp hold --proxy "127.0.0.1:$SOCKS_PORT" --timeout 20 \
    2>/dev/null) || true
ls_expect "$out" reply 05010001000000000000 "UDP over --max-udp 0"
scrape "$CAPM" k1
for want in udp_associations_total:result=limit:1 \
    udp_associations_total::1 connects_total::0 fastopen_total::0; do
	m=${want%%:*} l=${want#*:} l=${l%%:*} n=${want##*:}
	d=$(delta k0 k1 "linksocks_$m" $l)
	[ "$d" = "$n" ] || fail "capped client: $m $l moved by $d, expected $n"
done
ls_say "UDP over the cap: counted as 'limit', not as a connect"

# A wrong token.
scrape "$SM" s2b
rc=0
timeout 15 "$LINKSOCKS_BIN" client -t "wrong-$LS_TOKEN" \
    -u "ws://127.0.0.1:$WS_PORT" -s 127.0.0.1 -p 0 --workers 1 \
    >"$TMPD/bad.out" 2>"$TMPD/bad.log" </dev/null || rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "bad client: exit $rc"
scrape "$SM" s3
d=$(delta s2b s3 linksocks_auth_failures_total reason=token)
[ "$d" -ge 1 ] || fail "auth failures moved by $d, expected >= 1"
d=$(delta s2b s3 linksocks_preauth_connections_total pool=tunnel)
[ "$d" -ge 1 ] || fail "pre-auth tunnel connections moved by $d"
d=$(delta s2b s3 linksocks_tunnels_total)
[ "$d" = 0 ] || fail "tunnels_total moved by $d for a failed client"
grep -q -- "wrong-$LS_TOKEN" "$TMPD/s3.prom" &&
    fail "the wrong token is in the output"
ls_say "wrong token: counted as an authentication failure"

# A worker's counters survive it: kill one, the totals do not go down.
before=$(q s3 linksocks_bytes_out_total)
kids=$(ls_children "$SERVER_PID" | tr '\n' ' ')
ls_kill_worker "$SERVER_PID" "$(echo $kids | cut -d' ' -f1)" "$kids"
scrape "$SM" s4
after=$(q s4 linksocks_bytes_out_total)
[ "$after" -ge "$before" ] ||
    fail "bytes_out went down from $before to $after after a worker died"

ls_finish
