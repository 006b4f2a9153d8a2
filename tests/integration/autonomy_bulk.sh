#!/bin/sh
# Autonomy mode: 100 MB download and 100 MB upload through connector ->
# server -> provider, where the provider created the connector token
# (server -r -a, provider -c), compared by sha256, connector fast open
# off and on; then curl through both connectors.  LS_BULK_MB changes the
# size.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

MB=${LS_BULK_MB:-100}
SIZE=$((MB * 1024 * 1024))
LS_CURL_TIMEOUT=${LS_BULK_TIMEOUT:-240}
CT=ct-$$

ls_httpd web 127.0.0.1
WEB=$HTTP_PORT
ls_start_aserver server
ls_start_provider prov -c "$CT"
ls_wait_log "$TMPD/prov.log" "connector token $CT added" 1 10 "$PROVIDER_PID" prov
LS_CONNECTOR_TOKEN=$CT ls_start_connector plain
PLAIN=$SOCKS_PORT
LS_CONNECTOR_TOKEN=$CT ls_start_connector fast -f
FAST=$SOCKS_PORT

head -c "$SIZE" /dev/urandom >"$TMPD/up.bin" || fail "cannot create upload file"
UPSUM=$(sha256sum <"$TMPD/up.bin" | cut -d' ' -f1)

for mode in plain fast; do
	if [ "$mode" = plain ]; then port=$PLAIN; else port=$FAST; fi
	d0=$(ls_dials prov "$WEB")
	ls_bulk "$port" "$mode" "$MB" "$TMPD/up.bin" "$UPSUM"
	[ $(($(ls_dials prov "$WEB") - d0)) -ge 2 ] ||
	    fail "$mode: the provider logged fewer than 2 dials to 127.0.0.1:$WEB"
	ls_curl_suite "$port" "$mode"
done

ls_finish
