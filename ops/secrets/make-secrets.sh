#!/usr/bin/env bash
# Create the compose secrets that do not exist yet (ops/secrets/README.md). Never overwrites.
set -euo pipefail
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v openssl >/dev/null || { echo "make-secrets: openssl is missing (Debian package: openssl)" >&2; exit 1; }
chmod 700 "$dir"
make() { # NAME BYTES
    local f="$dir/$1"
    if [ -s "$f" ]; then
        echo "make-secrets: keeping existing $f"
    else
        openssl rand -hex "$2" >"$f"
        echo "make-secrets: wrote $f"
    fi
    chmod 644 "$f"
}
make rally_root_key 32
make postgres_password 24
make grafana_admin_password 16
