#!/bin/sh
# Tokens at run time through the HTTP API, on a server with --workers 2
# and no token of its own: a forward token, a reverse token on a port of
# the pool (port 0) with SOCKS5 credentials, and a connector token for
# it.  A client, a provider and a connector use them at once: parallel
# downloads and uploads through all three, compared by sha256
# (LS_API_MB, default 100 MB each).  The status counts them.  Then the
# tokens are deleted: a transfer in progress is cut (the application
# sees a close), the three peers lose their tunnels and, refused on
# reconnecting, exit; the SOCKS5 port can be bound again; the status is
# empty; and the server holds as many descriptors as before the tokens.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init
LS_WORKERS=1		# the peers; the server gets 2
KEY=rt-key-$$
MB=${LS_API_MB:-100}
SIZE=$((MB * 1024 * 1024))

api() { ls_api "$@"; }
field() { ls_api_field "$@"; }

# fds: descriptors of the server's master and workers together.
fds() {
	local n=0 p
	for p in $SPID $(ls_children "$SPID"); do
		n=$((n + $(ls /proc/"$p"/fd 2>/dev/null | wc -l)))
	done
	echo "$n"
}

ls_web
ls_httpd slow 127.0.0.1 --rate $((256 * 1024))
SLOWWEB=$HTTP_PORT
ls_start_wsserver server api -k "$KEY" -H "$LS_HOST" -P 0 -s "$LS_HOST" \
    --port-file "$TMPD/server.port" --workers 2 --allow-private \
    --port-pool 30000-39999 -d
SPID=$SERVER_PID
ls_wait_kids "$SPID" 2 10 || fail "server: want 2 workers, have '$KIDS'"
sleep 0.5
FD0=$(fds)

api POST /api/token '{"type":"forward","token":"fwd-tok"}'
[ "$BODY" = '{"success":true,"token":"fwd-tok"}' ] || fail "forward: $CODE $BODY"
api POST /api/token '{"type":"reverse","token":"rev-tok","port":0,"username":"alice","password":"s3cret"}'
[ "$(field success)" = true ] || fail "reverse: $CODE $BODY"
RPORT=$(field port)
[ "$RPORT" -ge 30000 ] && [ "$RPORT" -le 39999 ] || fail "reverse port $RPORT outside the pool"
api POST /api/token '{"type":"connector","token":"con-tok","reverse_token":"rev-tok"}'
[ "$BODY" = '{"success":true,"token":"con-tok"}' ] || fail "connector: $CODE $BODY"
ls_say "tokens added; reverse SOCKS5 port $RPORT"

LS_CLIENT_TOKEN=fwd-tok ls_start_client client
CPORT=$SOCKS_PORT
LS_PROVIDER_TOKEN=rev-tok ls_start_provider prov
LS_CONNECTOR_TOKEN=con-tok ls_start_connector conn
NPORT=$SOCKS_PORT
wait_port 127.0.0.1 "$RPORT" 10 "$SPID" server

# The reverse port asks for the token's credentials.
rc=0
curl -sS --noproxy '' -m 10 -x "socks5h://127.0.0.1:$RPORT" \
    "http://127.0.0.1:$WEB/hello" >/dev/null 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "the reverse port served a client without credentials"
rc=0
curl -sS --noproxy '' -m 10 -x "socks5h://alice:wrong@127.0.0.1:$RPORT" \
    "http://127.0.0.1:$WEB/hello" >/dev/null 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "the reverse port took a wrong password"

# get NAME PROXY SEED: a download of SIZE bytes through PROXY (a curl -x
# URL) in the background, checked later by check NAME.
get() {
	( curl -sS --noproxy '' -m 120 -x "$2" -o "$TMPD/$1.body" -D "$TMPD/$1.hdr" \
	    "http://127.0.0.1:$WEB/file?size=$SIZE&seed=$3" 2>"$TMPD/$1.err";
	  echo $? >"$TMPD/$1.rc" ) &
}
check() {
	local want got
	wait_rc "$1"
	want=$(ls_header "$TMPD/$1.hdr" X-Content-SHA256)
	got=$(sha256sum <"$TMPD/$1.body" | cut -d' ' -f1)
	[ -n "$want" ] && [ "$got" = "$want" ] &&
	    [ "$(stat -c %s "$TMPD/$1.body")" = "$SIZE" ] ||
	    fail "$1: $MB MB download corrupt or short (sha256 $got, want $want)"
	rm -f "$TMPD/$1.body"
}
wait_rc() { ls_wait_rc "$1" 150; }
# put NAME PROXY: an upload of up.bin through PROXY in the background.
put() {
	( curl -sS --noproxy '' -m 120 -x "$2" -H 'Expect:' -T "$TMPD/up.bin" \
	    -o "$TMPD/$1.reply" "http://127.0.0.1:$WEB/upload" 2>"$TMPD/$1.err";
	  echo $? >"$TMPD/$1.rc" ) &
}
check_put() {
	wait_rc "$1"
	[ "$(cat "$TMPD/$1.reply")" = "$UPSUM $SIZE" ] ||
	    fail "$1: the target received '$(cat "$TMPD/$1.reply")', sent '$UPSUM $SIZE'"
}

ls_upload_file "$SIZE"
t0=$SECONDS
get gfwd "socks5h://127.0.0.1:$CPORT" f
get grev "socks5h://alice:s3cret@127.0.0.1:$RPORT" r
get gcon "socks5h://127.0.0.1:$NPORT" c
put pfwd "socks5h://127.0.0.1:$CPORT"
put prev "socks5h://alice:s3cret@127.0.0.1:$RPORT"
put pcon "socks5h://127.0.0.1:$NPORT"
check gfwd; check grev; check gcon
check_put pfwd; check_put prev; check_put pcon
ls_say "6 transfers of $MB MB (forward, reverse, agent; both ways) intact in $((SECONDS - t0)) s"

# Access rules: a token's own win over the server's dial list.
api POST /api/token "{\"type\":\"forward\",\"token\":\"ruled-tok\",\"rules\":[{\"addrs\":[\"127.0.0.1\"],\"ports\":[$WEB]}]}"
[ "$BODY" = '{"success":true,"token":"ruled-tok"}' ] || fail "ruled token: $BODY"
LS_CLIENT_TOKEN=ruled-tok ls_start_client ruled
RULED=$SOCKS_PORT
ls_curl_hello "$RULED" "the ruled token to its allowed port"
rc=0
ls_curl "$RULED" -o /dev/null "http://127.0.0.1:$SLOWWEB/hello" 2>/dev/null || rc=$?
[ "$rc" -ne 0 ] || fail "the ruled token reached a port its rules do not allow"
api PUT /api/config/access '{"dial":[{"addrs":["192.0.2.1"]}]}'
[ "$CODE" = 200 ] || fail "PUT dial: $CODE $BODY"
ls_curl_refused "$CPORT" "the forward token under the server's dial list"
ls_curl_hello "$RULED" "the ruled token under the server's dial list"
api PUT /api/config/access '{"dial":null}'
ls_curl_hello "$CPORT" "the forward token once the dial list is gone"
api DELETE /api/token/ruled-tok
pid=$(ls_pid_of ruled)
n=0
while ls_alive "$pid" && [ "$n" -lt 150 ]; do sleep 0.1; n=$((n + 1)); done
ls_alive "$pid" && fail "the ruled client still runs after its token was deleted"
ls_drop_master ruled
ls_say "access rules: per token and per server ok"

api GET /api/status
python3 - "$BODY" "$SIZE" "$RPORT" <<'EOF' || fail "status with the peers: $BODY"
import json, sys
d = json.loads(sys.argv[1]); size = int(sys.argv[2]); rport = int(sys.argv[3])
t = {e["token"]: e for e in d["tokens"]}
assert set(t) == {"fwd-tok", "rev-tok"}, t
f, r = t["fwd-tok"], t["rev-tok"]
assert f["clients_count"] == 1 and f["tunnels"] == 1, f
assert r["clients_count"] == 1 and r["connectors"] == 1, r
assert r["port"] == rport and r["connector_tokens"] == ["con-tok"], r
# Bytes of the tunnels: a download out and an upload in, at least.
assert f["bytes_out"] >= size and f["bytes_in"] >= size, f
assert r["bytes_out"] >= 2 * size and r["bytes_in"] >= 2 * size, r
assert d["server"]["workers"] == 2 and d["server"]["tunnels"] == 3, d["server"]
EOF

# A slow transfer (the target sends 256 KiB/s) through the client, cut
# by deleting its token.
( curl -sS --noproxy '' -m 60 -x "socks5h://127.0.0.1:$CPORT" \
    -o /dev/null "http://127.0.0.1:$SLOWWEB/file?size=$SIZE&seed=slow" \
    2>"$TMPD/slow.err"; echo $? >"$TMPD/slow.rc" ) &
sleep 1
[ ! -s "$TMPD/slow.rc" ] || fail "the slow transfer ended early: $(cat "$TMPD/slow.err")"

api DELETE /api/token/fwd-tok
[ "$BODY" = '{"success":true,"token":"fwd-tok"}' ] || fail "delete forward: $BODY"
api DELETE /api/token '{"token":"rev-tok"}'
[ "$BODY" = '{"success":true,"token":"rev-tok"}' ] || fail "delete reverse: $BODY"
n=0
while [ ! -s "$TMPD/slow.rc" ] && [ "$n" -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
[ -s "$TMPD/slow.rc" ] || fail "the transfer of a deleted token still runs 5 s later"
[ "$(cat "$TMPD/slow.rc")" != 0 ] || fail "the transfer of a deleted token completed"
ls_say "the running transfer was cut: curl exit $(cat "$TMPD/slow.rc")"

# The peers lost their tunnels and are refused now: each exits.
for name in client prov conn; do
	pid=$(ls_pid_of "$name")
	n=0
	while ls_alive "$pid" && [ "$n" -lt 150 ]; do sleep 0.1; n=$((n + 1)); done
	ls_alive "$pid" && fail "$name still runs 15 s after its token was deleted"
	grep -qa 'invalid token' "$TMPD/$name.log" ||
	    fail "$name: no 'invalid token' in its log after the delete"
	ls_drop_master "$name"
done
ls_say "client, provider and connector were disconnected and refused"

api GET /api/status
python3 -c 'import json, sys
d = json.loads(sys.argv[1])
assert d["tokens"] == [], d
assert d["server"]["tunnels"] == 0 and d["server"]["channels"] == 0, d' "$BODY" ||
    fail "status after the deletes: $BODY"
python3 -c 'import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1)' "$RPORT" ||
    fail "port $RPORT is still bound after its token was deleted"
n=0
until [ "$(fds)" -le "$FD0" ] || [ "$n" -ge 50 ]; do sleep 0.1; n=$((n + 1)); done
[ "$(fds)" -le "$FD0" ] ||
    fail "the server holds $(fds) descriptors, $FD0 before the tokens"
ls_say "port $RPORT free, status empty, $(fds) descriptors (was $FD0)"
ls_finish
