#!/bin/sh
# The HTTP API (spec 11, and 2.1 for its routes) against the reference's
# answers, byte for byte where the reference's bodies are fixed: every
# row of 11.1-11.4, the key (missing, wrong, a second key, throttled),
# bad JSON, wrong field types (400 naming the field), an oversized body
# (413), ports (the pool, one taken by a token, one taken by another
# process), and where we differ on purpose (DELETE of an unknown token).
# Also: without -k the API is not there (404), and -k drops the CLI
# tokens unless --api-keep-cli-tokens.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init
LS_WORKERS=2
KEY=conf-key-$$
KEY2=second-key-$$

# api METHOD PATH [BODY] [KEY|-]: one request; sets CODE, BODY (exact,
# with its final newline kept as "\n" in BODYX) and CTYPE.
api() {
	local m=$1 p=$2 data=${3-} key=${4-$KEY} args=()
	[ "$key" = - ] || args+=(-H "X-API-Key: $key")
	[ -n "$data" ] && args+=(--data-binary "$data")
	rm -f "$TMPD/api.body" "$TMPD/api.head"
	CODE=$(curl -s -m 10 -X "$m" "${args[@]}" -D "$TMPD/api.head" \
	    -o "$TMPD/api.body" -w '%{http_code}' \
	    "http://127.0.0.1:$WS_PORT$p") || CODE=curl-failed
	BODY=$(cat "$TMPD/api.body" 2>/dev/null)
	BODYX=$(od -An -c "$TMPD/api.body" 2>/dev/null | tr -s ' \n' ' ')
	CTYPE=$(awk 'tolower($1) == "content-type:" { sub(/\r$/, ""); $1 = ""; sub(/^ /, ""); print }' "$TMPD/api.head" 2>/dev/null)
}

# expect WHAT CODE BODY: exact status and body (the body plus "\n").
expect() {
	[ "$CODE" = "$2" ] || fail "$1: status $CODE, want $2 (body '$BODY')"
	printf '%s\n' "$3" | cmp -s - "$TMPD/api.body" ||
	    fail "$1: body '$BODY' ($BODYX), want '$3' and a newline"
}

# field NAME: a top-level JSON field of BODY (python repr for non-strings).
field() {
	python3 -c 'import json,sys
d = json.loads(sys.argv[1]); v = d.get(sys.argv[2], "<absent>")
print(v if isinstance(v, str) else json.dumps(v))' "$BODY" "$1"
}

# ---- without a key: no API ---------------------------------------------
ls_start_server noapi
api GET /api/status
[ "$CODE" = 404 ] && [ "$BODY" = "404 page not found" ] ||
    fail "API disabled: /api/status gave $CODE '$BODY', want 404"
api GET /
expect "GET / without API" 200 "LinkSocks v1.8.9 is running but API is not enabled."
ls_stop noapi
ls_drop_master noapi

# ---- with two keys and a CLI token (dropped) ---------------------------
ls_start_wsserver api api -k "$KEY" -k "$KEY2" -t cli-token-$$ \
    -H "$LS_HOST" -P 0 --port-file "$TMPD/api.port" --workers "$LS_WORKERS" \
    --port-pool 20000-20999 -d

api GET /
expect "GET / with API" 200 "LinkSocks v1.8.9 is running. API endpoints available at /api/*"
api GET /api/other
expect "unknown API path" 404 "404 page not found"
api GET /metrics "" wrong-key
expect "/metrics with a wrong key" 401 '{"success":false,"error":"invalid API key"}'
# With the key: the Prometheus text, fresh from both workers, which the
# real parser reads (when python3-prometheus-client is there).
api GET /metrics
[ "$CODE" = 200 ] || fail "/metrics with the key: status $CODE"
case $CTYPE in
"text/plain; version=0.0.4"*) ;;
*)	fail "/metrics: Content-Type '$CTYPE'" ;;
esac
for w in 0 1; do
	grep -q "^linksocks_tunnels_open{worker=\"$w\"" "$TMPD/api.body" ||
	    fail "/metrics: no tunnels_open sample of worker $w"
done
for py in python3 /usr/bin/python3; do
	"$py" -c 'import prometheus_client.parser' 2>/dev/null || continue
	"$py" "$LS_LIB/promq.py" "$TMPD/api.body" check >"$TMPD/prom.out" 2>&1 ||
	    fail "/metrics: the parser refused it: $(cat "$TMPD/prom.out")"
	break
done

# 401: missing, wrong, empty; both keys work.
for k in - wrong-key ""; do
	api GET /api/status "" "$k"
	expect "status with key '$k'" 401 '{"success":false,"error":"invalid API key"}'
done
api POST /api/token '{"type":"forward"}' wrong-key
expect "POST with a wrong key" 401 '{"success":false,"error":"invalid API key"}'
[ "$CTYPE" = application/json ] || fail "401 on /api/token: Content-Type '$CTYPE'"
api GET /api/status "" "$KEY2"
[ "$CODE" = 200 ] || fail "the second key: status $CODE"

# The CLI token is not there (API mode, spec 11).
api GET /api/status
[ "$CODE" = 200 ] || fail "status: $CODE"
[ "$(field version)" = v1.8.9 ] || fail "status version: $BODY"
[ "$(field tokens)" = "[]" ] || fail "API mode kept the CLI token: $BODY"
[ "$(field direct)" = '{"enabled": false}' ] || fail "status direct: $BODY"

# ---- POST /api/token (11.1) ----------------------------------------------
api POST /api/token '{"type":"forward"}'
[ "$CODE" = 200 ] && [ "$(field success)" = true ] ||
    fail "forward add: $CODE '$BODY'"
FWD=$(field token)
[[ $FWD =~ ^[0-9a-f]{16}$ ]] || fail "generated token '$FWD' is not 16 hex"
expect "forward add" 200 "{\"success\":true,\"token\":\"$FWD\"}"
[ "$CTYPE" = application/json ] || fail "POST answer Content-Type '$CTYPE'"

api POST /api/token '{"type":"forward","token":"f1"}'
expect "named forward" 200 '{"success":true,"token":"f1"}'
api POST /api/token '{"type":"forward","token":"f1"}'
expect "duplicate" 200 '{"success":false,"error":"token already exists"}'
api POST /api/token '{"type":"reverse","token":"f1"}'
expect "duplicate across kinds" 200 '{"success":false,"error":"token already exists"}'
api POST /api/token '{"type":"forward","token":"anonymous"}'
expect "anonymous" 200 "{\"success\":false,\"error\":\"'anonymous' is reserved and cannot be used as a token\"}"
api POST /api/token '{"type":"bogus"}'
expect "bogus type" 400 '{"success":false,"error":"invalid token type"}'
api POST /api/token '{}'
expect "no type" 400 '{"success":false,"error":"invalid token type"}'
for bad in '{"type":"forward"' 'not json' '[1,2]' '' '"forward"'; do
	api POST /api/token "$bad"
	expect "body '$bad'" 400 '{"success":false,"error":"invalid request body"}'
done
# Wrong types: 400 naming the field.
for f in 'type:1' 'token:5' 'port:"x"' 'port:1.5' 'username:[]' \
    'password:{}' 'reverse_token:true' 'allow_manage_connector:"yes"'; do
	name=${f%%:*} val=${f#*:}
	if [ "$name" = type ]; then
		body="{\"type\":$val}"
	else
		body="{\"type\":\"reverse\",\"$name\":$val}"
	fi
	api POST /api/token "$body"
	[ "$CODE" = 400 ] || fail "$body: status $CODE, want 400 ($BODY)"
	[ "$(field success)" = false ] || fail "$body: $BODY"
	case $(field error) in
	*"\"$name\""*) ;;
	*)	fail "$body: error '$(field error)' does not name $name" ;;
	esac
done
api POST /api/token '{"type":"reverse","port":70000}'
[ "$CODE" = 400 ] || fail "port 70000: $CODE $BODY"

# Reverse tokens and ports.
api POST /api/token '{"type":"reverse","token":"r1"}'
[ "$(field success)" = true ] || fail "reverse add: $BODY"
P1=$(field port)
[ "$P1" -ge 20000 ] && [ "$P1" -le 20999 ] ||
    fail "port 0 gave $P1, outside --port-pool 20000-20999"
expect "reverse add" 200 "{\"success\":true,\"token\":\"r1\",\"port\":$P1}"
api POST /api/token "{\"type\":\"reverse\",\"token\":\"r2\",\"port\":$P1}"
expect "a port another token has" 200 "{\"success\":false,\"error\":\"cannot allocate port: $P1\"}"
# A port someone else holds: an error answer, never a token without a
# listener (the reference's pitfall).
ls_bg holder python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
open(sys.argv[1], "w").write("%d\n" % s.getsockname()[1]); time.sleep(60)' \
    "$TMPD/holder.port"
ls_wait_file "$TMPD/holder.port" 10 "$LAST_PID" holder
HP=$(cat "$TMPD/holder.port")
api POST /api/token "{\"type\":\"reverse\",\"token\":\"r3\",\"port\":$HP}"
[ "$CODE" = 200 ] && [ "$(field success)" = false ] ||
    fail "a port held by another process: $CODE '$BODY'"
case $(field error) in
"cannot allocate port: $HP"*) ;;
*)	fail "a port held by another process: error '$(field error)'" ;;
esac
api POST /api/token '{"type":"reverse","token":"auto","allow_manage_connector":true,"port":0}'
expect "autonomy" 200 '{"success":true,"token":"auto","port":-1}'

# Connectors.
api POST /api/token '{"type":"connector"}'
expect "connector without reverse_token" 200 '{"success":false,"error":"reverse_token is required for connector token"}'
api POST /api/token '{"type":"connector","reverse_token":"nope"}'
expect "connector to nothing" 200 '{"success":false,"error":"reverse token does not exist"}'
api POST /api/token '{"type":"connector","reverse_token":"f1"}'
expect "connector to a forward token" 200 '{"success":false,"error":"reverse token does not exist"}'
api POST /api/token '{"type":"connector","token":"c1","reverse_token":"r1"}'
expect "connector" 200 '{"success":true,"token":"c1"}'
api POST /api/token '{"type":"connector","token":"c1","reverse_token":"r1"}'
expect "connector again (idempotent)" 200 '{"success":true,"token":"c1"}'
api POST /api/token '{"type":"connector","token":"anonymous","reverse_token":"r1"}'
expect "anonymous connector" 200 "{\"success\":false,\"error\":\"'anonymous' is reserved and cannot be used as a connector token\"}"
api POST /api/token/anything '{"type":"forward","token":"f2"}'
expect "POST /api/token/..." 200 '{"success":true,"token":"f2"}'

# Oversized body: 413, nothing added.
head -c 70000 /dev/zero | tr '\0' ' ' >"$TMPD/big.json"
api POST /api/token "@$TMPD/big.json"
[ "$CODE" = 413 ] || fail "70000-byte body: status $CODE, want 413"
# A body of 60 KiB (under the limit) is read: spaces and an object.
{ head -c 60000 /dev/zero | tr '\0' ' '; printf '{"type":"forward","token":"big"}'; } >"$TMPD/ok.json"
api POST /api/token "@$TMPD/ok.json"
expect "60 KiB body" 200 '{"success":true,"token":"big"}'

# Other methods (11.4) and the status route.
for m in PUT GET PATCH; do
	api "$m" /api/token
	[ "$CODE" = 405 ] && [ -z "$BODY" ] ||
	    fail "$m /api/token: $CODE '$BODY', want 405 and no body"
done
api POST /api/status
[ "$CODE" = 405 ] && [ -z "$BODY" ] || fail "POST /api/status: $CODE '$BODY'"

# ---- status ----------------------------------------------------------------
api GET /api/status
python3 - "$BODY" "$P1" "$FWD" <<'EOF' || fail "status: $BODY"
import json, sys
d = json.loads(sys.argv[1]); p1 = int(sys.argv[2]); fwd = sys.argv[3]
t = {e["token"]: e for e in d["tokens"]}
assert set(t) == {fwd, "f1", "f2", "big", "r1", "auto"}, sorted(t)
assert t["f1"]["type"] == "forward" and t["f1"]["clients_count"] == 0
assert "port" not in t["f1"]
assert t["r1"]["type"] == "reverse" and t["r1"]["port"] == p1
assert t["r1"]["connector_tokens"] == ["c1"], t["r1"]
assert t["auto"]["port"] == -1 and "connector_tokens" not in t["auto"]
for e in d["tokens"]:
    for k in ("tunnels", "channels", "bytes_in", "bytes_out",
              "connects_refused", "fast_open_channels"):
        assert e[k] == 0, (e, k)
s = d["server"]
assert s["workers"] == 2 and s["uptime"] >= 0 and s["version"], s
assert d["direct"] == {"enabled": False}
EOF

# ---- DELETE (11.2) ---------------------------------------------------------
api DELETE /api/token/f1
expect "DELETE by path" 200 '{"success":true,"token":"f1"}'
api DELETE /api/token '{"token":"f2"}'
expect "DELETE by body" 200 '{"success":true,"token":"f2"}'
api DELETE /api/token/ '{"token":"big"}'
expect "DELETE /api/token/ by body" 200 '{"success":true,"token":"big"}'
# The reference says success for a token it never had; we say not found.
api DELETE /api/token/f1
expect "DELETE unknown" 200 '{"success":false,"error":"token not found"}'
for b in '{}' '' 'junk' '{"token":5}' '{"token":""}'; do
	api DELETE /api/token "$b"
	expect "DELETE body '$b'" 200 '{"success":false,"error":"token not specified"}'
done
# A reverse token takes its connector tokens and its port with it.
api DELETE /api/token/r1
expect "DELETE reverse" 200 '{"success":true,"token":"r1"}'
api GET /api/status
python3 -c 'import json, sys
d = json.loads(sys.argv[1])
assert sorted(e["token"] for e in d["tokens"]) == sorted([sys.argv[2], "auto"]), d' \
    "$BODY" "$FWD" || fail "status after the deletes: $BODY"
api POST /api/token '{"type":"connector","token":"c2","reverse_token":"r1"}'
expect "connector to a deleted token" 200 '{"success":false,"error":"reverse token does not exist"}'
api POST /api/token '{"type":"connector","token":"c1","reverse_token":"auto"}'
expect "the deleted connector token is free again" 200 '{"success":true,"token":"c1"}'
python3 -c 'import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))' "$P1" ||
    fail "port $P1 still bound after its token was deleted"
api POST /api/token "{\"type\":\"reverse\",\"token\":\"r1\",\"port\":$P1}"
expect "the port again" 200 "{\"success\":true,\"token\":\"r1\",\"port\":$P1}"

# ---- access rules (the newer reference's additions) -------------------------
api GET /api/config/access
expect "access unset" 200 '{"entry":null,"dial":null}'
api PUT /api/config/access '{"dial":[{"addrs":["10.0.0.0/8","::1"],"ports":[22,[8000,9000]]}]}'
expect "PUT dial" 200 '{"entry":null,"dial":[{"addrs":["10.0.0.0/8","::1"],"ports":[22,[8000,9000]]}]}'
api PUT /api/config/access '{"entry":[{"ports":[443]}]}'
expect "PUT entry keeps dial" 200 '{"entry":[{"ports":[443]}],"dial":[{"addrs":["10.0.0.0/8","::1"],"ports":[22,[8000,9000]]}]}'
for bad in '{"entry":[{"addrs":["300.1.1.1"]}]}' '{"dial":[{"ports":[0]}]}' \
    '{"dial":[{"ports":[[9,1]]}]}' '{"entry":"all"}' '{"entry":[{"hosts":[]}]}' \
    '{"dial":[{"addrs":["1.2.3.4/33"]}]}' '{"dial":[{"addrs":[5]}]}' 'nope'; do
	api PUT /api/config/access "$bad"
	[ "$CODE" = 400 ] && [ "$(field success)" = false ] && [ -n "$(field error)" ] ||
	    fail "PUT $bad: $CODE '$BODY', want 400 with a message"
done
api GET /api/config/access
expect "bad rules changed nothing" 200 '{"entry":[{"ports":[443]}],"dial":[{"addrs":["10.0.0.0/8","::1"],"ports":[22,[8000,9000]]}]}'
api PUT /api/config/access '{"entry":null,"dial":[]}'
expect "PUT both" 200 '{"entry":null,"dial":[]}'
api GET /api/config/access "" wrong-key
expect "access with a wrong key" 401 '{"success":false,"error":"invalid API key"}'
api DELETE /api/config/access
[ "$CODE" = 405 ] || fail "DELETE /api/config/access: $CODE"
api POST /api/token '{"type":"forward","token":"ruled","rules":[{"addrs":["127.0.0.1"],"ports":[80]}]}'
expect "token with rules" 200 '{"success":true,"token":"ruled"}'
api POST /api/token '{"type":"forward","token":"badrule","rules":[{"addrs":["x"]}]}'
[ "$CODE" = 400 ] || fail "token with a bad rule: $CODE $BODY"
case $(field error) in *'"rules"'*) ;; *) fail "token with a bad rule: $BODY" ;; esac
api DELETE /api/token/ruled

# ---- wrong keys are throttled like wrong tokens -----------------------------
t0=$(ls_now)
for i in 1 2 3 4 5 6; do
	api GET /api/status "" "bad-$i"
	[ "$CODE" = 401 ] || fail "wrong key #$i: $CODE"
done
el=$(ls_elapsed "$t0")
ls_between "$el" 0.6 30 ||
    fail "6 wrong keys answered in $el s: not throttled (want >= 0.6 s)"
ls_say "6 wrong keys took $el s"
api GET /api/status
[ "$CODE" = 200 ] || fail "the right key after wrong ones: $CODE"
ls_stop api
ls_drop_master api

# ---- --api-keep-cli-tokens -------------------------------------------------
ls_start_wsserver keep keep -k "$KEY" -t cli-token-$$ --api-keep-cli-tokens \
    -H "$LS_HOST" -P 0 --port-file "$TMPD/keep.port" --workers 1 -d
api GET /api/status
python3 -c 'import json, sys
d = json.loads(sys.argv[1])
assert [e["token"] for e in d["tokens"]] == [sys.argv[2]], d' "$BODY" "cli-token-$$" ||
    fail "--api-keep-cli-tokens: $BODY"
ls_finish
