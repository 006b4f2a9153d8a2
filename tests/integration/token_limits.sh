#!/bin/sh
# Per-token limits (issue 10).  A forward server with --workers 2 and an
# API key; tokens added through the API with a "limits" object:
#  - download_rate 10000000 and max_channels 2: a 50 MB download takes
#    5 s +- 20 % and is sha256-identical, while an unlimited token's
#    download at the same time is faster than the limit; a 3rd channel
#    is refused with SOCKS5 reply 05 01 and works again once one ends;
#  - download_rate 10000000 for a client with two tunnels: both are
#    placed on one worker and share the rate (2 x 15 MB in 3 s);
#  - upload_rate 2500000: a 5 MB upload takes 2 s +- 20 %, intact;
#  - max_tunnels 1: a second client with the token is refused
#    ("token tunnel limit reached") and the status counts one tunnel;
#  - the status shows each token's limits;
#  - a reverse token with download_rate 5000000 and max_channels 1: a
#    10 MB download on its SOCKS5 port takes 2 s, a 2nd channel gets 05 01.
# Then a server with -t and --limit-download 5M (a CLI token): a 10 MB
# download takes 2 s +- 20 %; a bad --limit-* value exits with status 2.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init
LS_WORKERS=1		# the clients; the servers get 2
KEY=lim-key-$$

api() {
	local args=(-H "X-API-Key: $KEY")
	[ -n "${3-}" ] && args+=(--data-binary "$3")
	CODE=$(curl -s -m 10 -X "$1" "${args[@]}" -o "$TMPD/api.body" \
	    -w '%{http_code}' "http://127.0.0.1:$WS_PORT$2") || CODE=curl-failed
	BODY=$(cat "$TMPD/api.body" 2>/dev/null)
}

# get NAME PORT SIZE: a download through SOCKS5 PORT in the background;
# its rc, sha256 check and time come from done_get NAME SIZE.
get() {
	( t0=$(ls_now)
	  curl -sS --noproxy '' -m 60 -x "socks5h://127.0.0.1:$2" \
	    -o "$TMPD/$1.body" -D "$TMPD/$1.hdr" \
	    "http://127.0.0.1:$WEB/file?size=$3&seed=$1" 2>"$TMPD/$1.err"
	  rc=$?
	  ls_elapsed "$t0" >"$TMPD/$1.time"
	  echo $rc >"$TMPD/$1.rc" ) &
}
wait_rc() { ls_wait_rc "$1" 60; }
# done_get NAME SIZE: sets T, the seconds it took.
done_get() {
	local want got
	wait_rc "$1"
	want=$(ls_header "$TMPD/$1.hdr" X-Content-SHA256)
	got=$(sha256sum <"$TMPD/$1.body" | cut -d' ' -f1)
	[ -n "$want" ] && [ "$got" = "$want" ] &&
	    [ "$(stat -c %s "$TMPD/$1.body")" = "$2" ] ||
	    fail "$1: download corrupt or short (sha256 $got, want $want)"
	rm -f "$TMPD/$1.body"
	T=$(cat "$TMPD/$1.time")
}

ls_web
ls_httpd slow 127.0.0.1 --rate $((256 * 1024))
SLOWWEB=$HTTP_PORT
ls_start_wsserver server api -k "$KEY" -H "$LS_HOST" -P 0 -s "$LS_HOST" \
    --port-file "$TMPD/server.port" --workers 2 --allow-private \
    --port-pool 30000-39999 -d
SPID=$SERVER_PID
ls_wait_kids "$SPID" 2 10 || fail "server: want 2 workers, have '$KIDS'"

# Bad limits are a 400 naming the field.
api POST /api/token '{"type":"forward","limits":{"upload_rate":-1}}'
[ "$CODE" = 400 ] && [ "$BODY" = '{"success":false,"error":"limits.upload_rate must be a non-negative integer"}' ] ||
    fail "negative rate: $CODE $BODY"
api POST /api/token '{"type":"forward","limits":{"speed":1}}'
[ "$CODE" = 400 ] && [ "$BODY" = '{"success":false,"error":"limits: unknown field \"speed\""}' ] ||
    fail "unknown member: $CODE $BODY"

api POST /api/token '{"type":"forward","token":"lim-tok","limits":{"download_rate":10000000,"max_channels":2}}'
[ "$BODY" = '{"success":true,"token":"lim-tok"}' ] || fail "limited token: $CODE $BODY"
api POST /api/token '{"type":"forward","token":"free-tok"}'
[ "$BODY" = '{"success":true,"token":"free-tok"}' ] || fail "free token: $CODE $BODY"
api POST /api/token '{"type":"forward","token":"up-tok","limits":{"upload_rate":2500000}}'
[ "$BODY" = '{"success":true,"token":"up-tok"}' ] || fail "upload token: $CODE $BODY"
api POST /api/token '{"type":"forward","token":"one-tok","limits":{"max_tunnels":1}}'
[ "$BODY" = '{"success":true,"token":"one-tok"}' ] || fail "tunnel token: $CODE $BODY"

LS_CLIENT_TOKEN=lim-tok ls_start_client lim
LIM=$SOCKS_PORT
LS_CLIENT_TOKEN=free-tok ls_start_client free
FREE=$SOCKS_PORT
LS_CLIENT_TOKEN=up-tok ls_start_client up
UP=$SOCKS_PORT
LS_CLIENT_TOKEN=one-tok ls_start_client one

# 50 MB at 10 MB/s, an unlimited 50 MB meanwhile.
SIZE=50000000
get glim "$LIM" "$SIZE"
sleep 0.5
get gfree "$FREE" "$SIZE"
done_get gfree "$SIZE"
TFREE=$T
done_get glim "$SIZE"
TLIM=$T
ls_say "50 MB: limited token $TLIM s, unlimited token $TFREE s"
ls_between "$TLIM" 4.0 6.0 ||
    fail "a 50 MB download at 10 MB/s took $TLIM s (want 5 s +- 20 %)"
# Faster than the limit allows (a loaded machine may not reach much
# more): it is not in the limited token's rate group.
awk -v f="$TFREE" -v l="$TLIM" 'BEGIN { exit !(f < 0.9 * l) }' ||
    fail "the unlimited token was slowed: $TFREE s for 50 MB, the limited $TLIM s"

# A client with two tunnels: the master puts both on one worker, so
# two downloads at once share the token's 10 MB/s (2 x 15 MB in 3 s).
api POST /api/token '{"type":"forward","token":"two-tok","limits":{"download_rate":10000000}}'
[ "$BODY" = '{"success":true,"token":"two-tok"}' ] || fail "two-tok: $CODE $BODY"
LS_CLIENT_TOKEN=two-tok ls_start_client two --workers 2
TWO=$SOCKS_PORT
ls_wait_log "$TMPD/server.log" 'forward client authenticated' 6 10 "$SPID" server
SIZE=15000000
get gtwo1 "$TWO" "$SIZE"
get gtwo2 "$TWO" "$SIZE"
done_get gtwo1 "$SIZE"
T1=$T
done_get gtwo2 "$SIZE"
T=$(awk -v a="$T1" -v b="$T" 'BEGIN { print (a > b ? a : b) }')
ls_say "two tunnels of one token, 2 x 15 MB at 10 MB/s: $T s"
ls_between "$T" 2.4 3.6 || fail "2 x 15 MB at 10 MB/s over two tunnels took $T s (want 3 s +- 20 %)"

# max_channels 2: two slow downloads hold both; a third is refused.
sget() {
	( curl -sS --noproxy '' -m 30 -x "socks5h://127.0.0.1:$LIM" -o /dev/null \
	    "http://127.0.0.1:$SLOWWEB/file?size=$((1536 * 1024))&seed=$1" \
	    2>"$TMPD/$1.err"; echo $? >"$TMPD/$1.rc" ) &
}
sget s1
sget s2
sleep 1
[ ! -s "$TMPD/s1.rc" ] && [ ! -s "$TMPD/s2.rc" ] ||
    fail "the slow downloads ended early"
out=$(ls_socks5 --proxy "127.0.0.1:$LIM" --target "127.0.0.1:$WEB" \
    --http-get /hello --timeout 10)
rep=$(ls_field "$out" reply)
case $rep in
0501*)	;;
*)	fail "a 3rd channel on a token with max_channels 2: reply '$rep', want 05 01" ;;
esac
# A UDP association is a channel too.
out=$(ls_socks5 --proxy "127.0.0.1:$LIM" --cmd 3 --target 0.0.0.0:0 \
    --timeout 10)
rep=$(ls_field "$out" reply)
case $rep in
0501*)	;;
*)	fail "a UDP association over max_channels 2: reply '$rep', want 05 01" ;;
esac
# Both held their channel throughout (6 s at 256 KiB/s).
[ ! -s "$TMPD/s1.rc" ] && [ ! -s "$TMPD/s2.rc" ] ||
    fail "the slow downloads ended before the refusals were checked"
grep -qa 'token channel limit reached' "$TMPD/lim.log" ||
    fail "the client did not log the server's refusal text"
wait_rc s1
wait_rc s2
out=$(ls_socks5 --proxy "127.0.0.1:$LIM" --target "127.0.0.1:$WEB" \
    --http-get /hello --timeout 10)
ls_expect "$out" http-status 200 "a channel once the others ended"
ls_say "max_channels: 3rd channel and a UDP association refused with 05 01, then served"

# upload_rate 2.5 MB/s: 5 MB in 2 s.
ls_upload_file 5000000
t0=$(ls_now)
ls_check_upload "$UP" "$TMPD/up.bin" "$UPSUM" "upload at 2.5 MB/s"
T=$(ls_elapsed "$t0")
ls_say "5 MB upload at 2.5 MB/s: $T s"
ls_between "$T" 1.6 2.4 || fail "a 5 MB upload at 2.5 MB/s took $T s (want 2 s +- 20 %)"

# max_tunnels 1: a second client is refused at authentication.
ls_bg one2 "$LINKSOCKS_BIN" client -t one-tok -u "ws://127.0.0.1:$WS_PORT" \
    -s "$LS_HOST" -p 0 --workers 1 -d
pid=$LAST_PID
n=0
while ls_alive "$pid" && [ "$n" -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
ls_alive "$pid" && fail "a second client of a max_tunnels 1 token still runs"
grep -qa 'token tunnel limit reached' "$TMPD/one2.log" ||
    fail "the second client did not log 'token tunnel limit reached'"
api GET /api/status
python3 - "$BODY" <<'EOF' || fail "status: $BODY"
import json, sys
d = json.loads(sys.argv[1])
t = {e["token"]: e for e in d["tokens"]}
assert t["one-tok"]["clients_count"] == 1, t["one-tok"]
assert t["lim-tok"]["limits"] == {"max_tunnels": 0, "max_channels": 2,
    "upload_rate": 0, "download_rate": 10000000}, t["lim-tok"]
assert t["free-tok"]["limits"] == {"max_tunnels": 0, "max_channels": 0,
    "upload_rate": 0, "download_rate": 0}, t["free-tok"]
assert t["one-tok"]["limits"]["max_tunnels"] == 1, t["one-tok"]
EOF
ls_say "max_tunnels: second client refused, status shows one tunnel"

# A reverse token: the rate and the cap on its SOCKS5 port (one
# provider, so every channel ends in its worker).
api POST /api/token '{"type":"reverse","token":"rlim-tok","port":0,"limits":{"download_rate":5000000,"max_channels":1}}'
[ "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["success"])' "$BODY")" = True ] ||
    fail "reverse token: $CODE $BODY"
RPORT=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["port"])' "$BODY")
LS_PROVIDER_TOKEN=rlim-tok ls_start_provider rprov
wait_port 127.0.0.1 "$RPORT" 10 "$SPID" server
SIZE=10000000
get grev "$RPORT" "$SIZE"
sleep 0.5
out=$(ls_socks5 --proxy "127.0.0.1:$RPORT" --target "127.0.0.1:$WEB" \
    --http-get /hello --timeout 10)
rep=$(ls_field "$out" reply)
case $rep in
0501*)	;;
*)	fail "a 2nd channel on a reverse token with max_channels 1: reply '$rep', want 05 01" ;;
esac
done_get grev "$SIZE"
ls_say "reverse token: 10 MB at 5 MB/s in $T s; 2nd channel refused with 05 01"
ls_between "$T" 1.6 2.4 || fail "a 10 MB download at 5 MB/s on a reverse port took $T s (want 2 s +- 20 %)"

# A CLI token with --limit-download.
rc=0
"$LINKSOCKS_BIN" server -t x --limit-download 10X >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "--limit-download 10X: exit status $rc, want 2"
rc=0
"$LINKSOCKS_BIN" server -t x --limit-tunnels -1 >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "--limit-tunnels -1: exit status $rc, want 2"
LS_WORKERS=2 ls_start_server cli --limit-download 5M
LS_WORKERS=1 ls_start_client clic
SIZE=10000000
get gcli "$SOCKS_PORT" "$SIZE"
done_get gcli "$SIZE"
ls_say "10 MB with --limit-download 5M: $T s"
ls_between "$T" 1.6 2.4 || fail "a 10 MB download at 5 MB/s took $T s (want 2 s +- 20 %)"
ls_finish
