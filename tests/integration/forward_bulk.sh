#!/bin/sh
# 100 MB download and 100 MB upload through the tunnel, compared by
# sha256, without and with fast open.  LS_BULK_MB changes the size.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${TESTS_SRCDIR:-$(dirname "$0")/..}/lib/common.sh"
ls_init

ls_bulk_init

ls_web
ls_start_forward

ls_bulk "$PLAIN" plain "$MB" "$TMPD/up.bin" "$UPSUM"
ls_bulk "$FAST" fast "$MB" "$TMPD/up.bin" "$UPSUM"

ls_finish
