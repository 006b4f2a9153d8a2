#!/bin/sh
# Autonomy mode: 100 MB download and 100 MB upload through connector ->
# server -> provider, where the provider created the connector token
# (server -r -a, provider -c), compared by sha256, connector fast open
# off and on; then curl through both connectors.  LS_BULK_MB changes the
# size.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

ls_bulk_init
CT=ct-$$

ls_web
ls_start_aserver server
ls_start_provider prov -c "$CT"
ls_wait_log "$TMPD/prov.log" "connector token $CT added" 1 10 "$PROVIDER_PID" prov
LS_CONNECTOR_TOKEN=$CT ls_start_connector plain
PLAIN=$SOCKS_PORT
LS_CONNECTOR_TOKEN=$CT ls_start_connector fast -f
FAST=$SOCKS_PORT

for mode in plain fast; do
	if [ "$mode" = plain ]; then port=$PLAIN; else port=$FAST; fi
	ls_bulk_via "$port" "$mode" prov
	ls_curl_suite "$port" "$mode"
done

ls_finish
