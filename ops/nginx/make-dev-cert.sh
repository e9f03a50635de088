#!/usr/bin/env bash
# Create a self-signed TLS certificate for local use of the compose stack.
#
#   ops/nginx/make-dev-cert.sh [OUT_DIR] [HOSTNAME]
#
# Writes OUT_DIR/server.crt and OUT_DIR/server.key (default OUT_DIR: ops/nginx/certs, which is
# gitignored; default HOSTNAME: localhost). The certificate is valid for HOSTNAME, localhost,
# 127.0.0.1 and ::1, for 825 days. Never commit the key; for a real deployment put the
# certificate chain and key from your CA (e.g. Let's Encrypt) at the same two paths.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here/certs}"
name="${2:-localhost}"

command -v openssl >/dev/null || { echo "make-dev-cert: openssl is missing (Debian package: openssl)" >&2; exit 1; }

san="DNS:localhost,IP:127.0.0.1,IP:::1"
[ "$name" = localhost ] || san="DNS:$name,$san"

mkdir -p "$out"
umask 077
openssl req -x509 -newkey rsa:2048 -sha256 -nodes -days 825 \
    -keyout "$out/server.key" -out "$out/server.crt" \
    -subj "/CN=$name" \
    -addext "subjectAltName=$san" \
    -addext "basicConstraints=critical,CA:FALSE" \
    -addext "keyUsage=critical,digitalSignature,keyEncipherment" \
    -addext "extendedKeyUsage=serverAuth" 2>/dev/null
# nginx reads the key as root before dropping privileges; the certificate is public.
chmod 600 "$out/server.key"
chmod 644 "$out/server.crt"
echo "make-dev-cert: wrote $out/server.crt and $out/server.key for $name"
