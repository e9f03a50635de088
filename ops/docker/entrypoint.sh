#!/bin/sh
# rally container entrypoint: turn file-based secrets into the environment, then run the command.
#
# PGPASSWORD_FILE   file holding the Postgres password (a compose secret). Exported as
#                   PGPASSWORD, which libpq uses when RALLY_DATABASE_URL has no password in it,
#                   so the password appears in neither compose.yaml nor the image.
#
# Everything else is configured with RALLY_* variables (docs/operations.md).
set -eu

if [ -n "${PGPASSWORD_FILE:-}" ]; then
    if [ ! -r "$PGPASSWORD_FILE" ]; then
        echo "rally-entrypoint: PGPASSWORD_FILE=$PGPASSWORD_FILE is not readable" >&2
        exit 2
    fi
    PGPASSWORD="$(cat "$PGPASSWORD_FILE")"
    export PGPASSWORD
fi

exec "$@"
