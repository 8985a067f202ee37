#!/usr/bin/env bash
# Install the system tools the tests use from Debian's packages when they are missing:
# SoftHSM2 (a PKCS#11 token, for the HSM signing tests). Fails loudly if it is still missing.
set -uo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

softhsm_module() {
  for lib in /usr/lib/softhsm/libsofthsm2.so /usr/lib/*/softhsm/libsofthsm2.so \
    /usr/local/lib/softhsm/libsofthsm2.so; do
    [ -f "$lib" ] && return 0
  done
  return 1
}

if ! command -v softhsm2-util >/dev/null || ! softhsm_module; then
  as_root apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq softhsm2 >/dev/null
fi
if ! command -v softhsm2-util >/dev/null || ! softhsm_module; then
  echo "SoftHSM2 (Debian package softhsm2) is missing and could not be installed" >&2
  exit 1
fi
echo "test tools: SoftHSM2 present"
