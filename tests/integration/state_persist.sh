#!/bin/sh
# --state-file and SIGHUP.  A server (--workers 2, API only) gets a
# forward and a reverse token (port 0, with credentials) through the
# API; a client and a provider use them.  Every change is in the file,
# and a reader polling the file during 100 API changes never sees a
# partial one.  The server is killed with -9 (master and workers) and
# started again on the same port with the same file: the same client and
# provider reconnect and work, on the same reverse port, and a token's
# limits are kept.  SIGHUP with a rule change in the file refuses a
# destination that was allowed a moment before, while a transfer through
# the same token goes on intact, and changes a token's limits; a
# broken file on SIGHUP changes nothing.  A truncated, an invalid and an
# unreadable file each stop the server at start with status 2 and a
# message naming the problem.  --api-key-file is read again on SIGHUP.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init
LS_WORKERS=1		# the peers; the server gets 2
KEY=st-key-$$
ST=$TMPD/state.json

api() { ls_api "$@"; }
field() { ls_api_field "$@"; }

# state_has PYTHON-EXPR: the state file parsed as d satisfies EXPR.
state_has() {
	python3 - "$ST" "$1" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
t = {e["token"]: e for e in d["tokens"]}
sys.exit(0 if eval("(" + sys.argv[2] + ")") else 1)
EOF
}

ls_web
ls_httpd other 127.0.0.1
OTHER=$HTTP_PORT
KEYS=$TMPD/keys
printf '# API keys\n\n  %s  \n' "$KEY" >"$KEYS"
chmod 600 "$KEYS"
SARGS=(--api-key-file "$KEYS" -H 127.0.0.1 -s 127.0.0.1 --workers 2
    --allow-private --state-file "$ST" --port-pool 30000-39999 -d)
ls_start_wsserver server api -P 0 --port-file "$TMPD/server.port" \
    "${SARGS[@]}"
WSP=$WS_PORT
ls_wait_kids "$SERVER_PID" 2 10 || fail "server: want 2 workers, have '$KIDS'"
state_has 'd == {"version": 1, "tokens": []}' ||
    fail "a new state file is not empty: $(cat "$ST")"
[ "$(stat -c %a "$ST")" = 600 ] || fail "state file mode $(stat -c %a "$ST"), want 600"

api POST /api/token '{"type":"forward","token":"fwd-tok"}'
[ "$BODY" = '{"success":true,"token":"fwd-tok"}' ] || fail "forward: $CODE $BODY"
api POST /api/token '{"type":"reverse","token":"rev-tok","port":0,"username":"alice","password":"s3cret"}'
[ "$(field success)" = true ] || fail "reverse: $CODE $BODY"
RPORT=$(field port)
api POST /api/token '{"type":"forward","token":"lim-tok","limits":{"max_channels":3,"download_rate":5000000}}'
[ "$BODY" = '{"success":true,"token":"lim-tok"}' ] || fail "limited: $CODE $BODY"
state_has "t['lim-tok']['limits'] == {'max_tunnels': 0, 'max_channels': 3,
    'upload_rate': 0, 'download_rate': 5000000}" ||
    fail "state file: the limits: $(cat "$ST")"
state_has "t['fwd-tok'] == {'type': 'forward', 'token': 'fwd-tok'} and
    t['rev-tok'] == {'type': 'reverse', 'token': 'rev-tok', 'port': $RPORT,
    'username': 'alice', 'password': 's3cret'}" ||
    fail "state file after two adds: $(cat "$ST")"

# Atomic replacement: a reader never sees a partial file while 100
# tokens are added and removed.
python3 - "$ST" >"$TMPD/reader.out" 2>&1 <<'EOF' &
import json, sys, time
n = bad = 0
end = time.time() + 30
while time.time() < end:
    try:
        s = open(sys.argv[1]).read()
    except FileNotFoundError:
        bad += 1
        print("missing"); break
    try:
        json.loads(s)
    except ValueError:
        bad += 1
        print("partial:", repr(s[-60:])); break
    n += 1
    try:
        open(sys.argv[1] + ".stop").close()
        break
    except FileNotFoundError:
        pass
print("reads", n, "bad", bad)
EOF
READER=$!
for i in $(seq 1 50); do
	api POST /api/token "{\"type\":\"forward\",\"token\":\"churn-$i\"}"
	[ "$CODE" = 200 ] || fail "churn add $i: $CODE $BODY"
	api DELETE "/api/token/churn-$i"
	[ "$CODE" = 200 ] || fail "churn delete $i: $CODE $BODY"
done
: >"$ST.stop"
wait "$READER"
grep -q ' bad 0$' "$TMPD/reader.out" || fail "reader: $(cat "$TMPD/reader.out")"
ls_say "100 changes, reader: $(cat "$TMPD/reader.out")"
state_has "set(t) == {'fwd-tok', 'rev-tok', 'lim-tok'}" || fail "after the churn: $(cat "$ST")"
ls /"$TMPD"/state.json.tmp.* >/dev/null 2>&1 && fail "temporary files left beside the state file"

LS_CLIENT_TOKEN=fwd-tok ls_start_client client
CPORT=$SOCKS_PORT
LS_PROVIDER_TOKEN=rev-tok ls_start_provider prov
wait_port 127.0.0.1 "$RPORT" 10 "$SERVER_PID" server
ls_check_get "$CPORT" "http://127.0.0.1:$WEB/file?size=1000000&seed=a" "forward before the crash"
ls_curl_hello "$CPORT" "forward to the other target before the crash" \
    -o /dev/null "http://127.0.0.1:$OTHER/hello"
curl -sS --noproxy '' -m 10 -x "socks5h://alice:s3cret@127.0.0.1:$RPORT" \
    "http://127.0.0.1:$WEB/hello" >"$TMPD/r" 2>&1 && [ "$(cat "$TMPD/r")" = hello ] ||
    fail "reverse before the crash: $(cat "$TMPD/r")"

# A crash: master and workers at once.
ls_kill9_tree server
ls_drop_master server
ls_start_wsserver server2 api -P "$WSP" --port-file "$TMPD/server2.port" \
    "${SARGS[@]}"
SPID=$SERVER_PID
grep -qa "state file .*: 3 tokens loaded" "$TMPD/server2.log" ||
    fail "server2 did not say it loaded 3 tokens"
# The same client and provider come back by themselves.
hello_fwd() {
	ls_curl "$CPORT" -o "$TMPD/h" "http://127.0.0.1:$WEB/hello" 2>/dev/null &&
	    [ "$(cat "$TMPD/h")" = hello ]
}
hello_rev() {
	curl -sS --noproxy '' -m 5 -x "socks5h://alice:s3cret@127.0.0.1:$RPORT" \
	    -o "$TMPD/h2" "http://127.0.0.1:$WEB/hello" 2>/dev/null &&
	    [ "$(cat "$TMPD/h2")" = hello ]
}
LS_CURL_TIMEOUT=5 ls_poll 30 "$SPID" server2 "the client back through the restarted server" hello_fwd
ls_poll 30 "$SPID" server2 "the provider back on reverse port $RPORT" hello_rev
ls_check_get "$CPORT" "http://127.0.0.1:$WEB/file?size=4000000&seed=b" "forward after the restart"
api GET /api/status
python3 - "$BODY" "$RPORT" <<'EOF' || fail "status after the restart: $BODY"
import json, sys
d = json.loads(sys.argv[1])
t = {e["token"]: e for e in d["tokens"]}
assert set(t) == {"fwd-tok", "rev-tok", "lim-tok"}, t
assert t["fwd-tok"]["clients_count"] == 1, t
assert t["lim-tok"]["limits"]["max_channels"] == 3, t
assert t["rev-tok"]["clients_count"] == 1 and t["rev-tok"]["port"] == int(sys.argv[2]), t
EOF
ls_say "restart after kill -9: tokens, reverse port $RPORT, client and provider back"

# SIGHUP: fwd-tok may reach $WEB only; a transfer through it goes on.
SIZE=$((48 * 1024 * 1024))
( ls_curl "$CPORT" --limit-rate 12M -o "$TMPD/long.body" -D "$TMPD/long.hdr" \
    "http://127.0.0.1:$WEB/file?size=$SIZE&seed=long" 2>"$TMPD/long.err";
  echo $? >"$TMPD/long.rc" ) &
sleep 1
[ ! -s "$TMPD/long.rc" ] || fail "the long transfer ended early: $(cat "$TMPD/long.err")"
ls_curl_hello "$CPORT" "the other target before SIGHUP" -o /dev/null \
    "http://127.0.0.1:$OTHER/hello"
python3 - "$ST" "$WEB" <<'EOF'
import json, os, sys
d = json.load(open(sys.argv[1]))
for e in d["tokens"]:
    if e["token"] == "fwd-tok":
        e["rules"] = [{"addrs": ["127.0.0.1"], "ports": [int(sys.argv[2])]}]
    if e["token"] == "lim-tok":
        e["limits"]["download_rate"] = 7000000
open(sys.argv[1] + ".new", "w").write(json.dumps(d))
os.rename(sys.argv[1] + ".new", sys.argv[1])
EOF
kill -HUP "$SPID"
ls_wait_log "$TMPD/server2.log" 'SIGHUP: forward token .* access rules changed \(1 rule\)' \
    1 10 "$SPID" server2
ls_wait_log "$TMPD/server2.log" 'SIGHUP: forward token .*: limits changed \(tunnels 0, channels 3, upload 0 B/s, download 7000000 B/s' \
    1 10 "$SPID" server2
api GET /api/status
python3 -c 'import json,sys
t = {e["token"]: e for e in json.loads(sys.argv[1])["tokens"]}
assert t["lim-tok"]["limits"]["download_rate"] == 7000000, t' "$BODY" ||
    fail "status after the limits changed: $BODY"
refused_other() {
	! ls_curl "$CPORT" -o /dev/null "http://127.0.0.1:$OTHER/hello" 2>/dev/null
}
LS_CURL_TIMEOUT=5 ls_poll 10 "$SPID" server2 "the other target refused after SIGHUP" refused_other
# The reply: SOCKS5 0x02, not allowed by the rule set.
out=$(ls_socks5 --proxy "127.0.0.1:$CPORT" --target "127.0.0.1:$OTHER" \
    --expect-close --timeout 20)
ls_expect "$out" reply 05020001000000000000 "a destination the new rules refuse"
ls_curl_hello "$CPORT" "the allowed target after SIGHUP"
n=0
while [ ! -s "$TMPD/long.rc" ] && [ "$n" -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
[ "$(cat "$TMPD/long.rc" 2>/dev/null)" = 0 ] ||
    fail "the transfer across SIGHUP failed: $(cat "$TMPD/long.err" 2>/dev/null)"
want=$(ls_header "$TMPD/long.hdr" X-Content-SHA256)
got=$(sha256sum <"$TMPD/long.body" | cut -d' ' -f1)
[ "$got" = "$want" ] && [ "$(stat -c %s "$TMPD/long.body")" = "$SIZE" ] ||
    fail "the transfer across SIGHUP is corrupt or short"
rm -f "$TMPD/long.body"
ls_say "SIGHUP: new rule refuses, the 48 MB transfer across it is intact"

# A broken file on SIGHUP changes nothing.
cp "$ST" "$TMPD/good.json"
printf '{"version": 1, "tokens": [' >"$ST"
kill -HUP "$SPID"
ls_wait_log "$TMPD/server2.log" 'SIGHUP: state file .*not JSON.*nothing changed' 1 10 \
    "$SPID" server2
ls_curl_hello "$CPORT" "the allowed target after a broken SIGHUP"
cp "$TMPD/good.json" "$ST"

# API keys from the file, again on SIGHUP.
api GET /api/status
[ "$CODE" = 200 ] || fail "the key of the key file: $CODE"
printf 'new-key-%s\n' $$ >"$KEYS"
kill -HUP "$SPID"
ls_wait_log "$TMPD/server2.log" 'SIGHUP: API keys changed \(1 key\)' 1 10 "$SPID" server2
api GET /api/status
[ "$CODE" = 401 ] || fail "the old key after SIGHUP: $CODE"
api GET /api/status '' "new-key-$$"
[ "$CODE" = 200 ] || fail "the new key after SIGHUP: $CODE $BODY"
ls_say "key file read again on SIGHUP"

# Start-up with a file that cannot be used: status 2, a clear message.
bad_start() {
	local what=$1 file=$2 want=$3 rc=0
	timeout 20 "$LINKSOCKS_BIN" server -k "$KEY" -H 127.0.0.1 -P 0 \
	    --state-file "$file" >"$TMPD/bad.out" 2>"$TMPD/bad.err" || rc=$?
	[ "$rc" = 2 ] || fail "$what: exit $rc, want 2: $(cat "$TMPD/bad.err")"
	grep -qaE "$want" "$TMPD/bad.err" ||
	    fail "$what: no '$want' in: $(cat "$TMPD/bad.err")"
	ls_say "$what: exit 2: $(grep -a 'state file' "$TMPD/bad.err" | head -n 1)"
}
head -c $(($(stat -c %s "$ST") / 2)) "$ST" >"$TMPD/trunc.json"
bad_start "a truncated file" "$TMPD/trunc.json" "state file .*trunc.json: not JSON"
echo '{"version":1,"tokens":[{"type":"forward","token":5}]}' >"$TMPD/type.json"
bad_start "a wrong type" "$TMPD/type.json" 'tokens\[0\]: "token" must be a string'
echo '{"version":2,"tokens":[]}' >"$TMPD/ver.json"
bad_start "another version" "$TMPD/ver.json" '"version" must be 1'
mkdir "$TMPD/dir.json"
bad_start "a directory" "$TMPD/dir.json" 'not a regular file'
[ "$(stat -c %s "$TMPD/trunc.json")" -lt "$(stat -c %s "$ST")" ] ||
    fail "the failed start rewrote the truncated file"
ls_finish
