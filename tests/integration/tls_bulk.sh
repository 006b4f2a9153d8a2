#!/bin/sh
# 100 MB download and 100 MB upload, compared by sha256, through tunnels
# over native TLS (--tls-cert, --workers 2): a forward client, and a
# connector relayed to a provider (agent mode).  LS_BULK_MB changes the
# size.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init
LS_WORKERS=2
command -v openssl >/dev/null 2>&1 || ls_skip "openssl not installed"

ls_make_ca ca
ls_make_cert srv ca
TLS=(--tls-cert "$TMPD/srv.pem" --tls-key "$TMPD/srv.key")
export SSL_CERT_FILE="$TMPD/ca.pem"
LS_SCHEME=wss

ls_bulk_init
ls_web

ls_start_server server "${TLS[@]}"
ls_start_client plain
ls_bulk "$SOCKS_PORT" tlsfwd "$MB" "$TMPD/up.bin" "$UPSUM"

ls_start_rserver asrv -c "$LS_CTOKEN" "${TLS[@]}"
ls_start_provider prov
ls_start_connector con
ls_bulk_via "$SOCKS_PORT" tlsagent prov

grep -qaE 'ws_event: .*TLSv1\.3 ' "$TMPD/server.log" ||
    fail "the server logged no TLS 1.3 handshake"
ls_finish
