#!/usr/bin/env bash
# Installs the Debian packages the tests run for real (etcd, redis, promtool, chromium, openssl) and what
# npm install builds native/ with (a C compiler, make, python3 for node-gyp). Fails loudly if it cannot.
set -euo pipefail

need=()
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
# The dashboard's end-to-end tests drive Debian's Chromium with playwright-core.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v cc >/dev/null 2>&1 || need+=(gcc)
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v make >/dev/null 2>&1 || need+=(make)
command -v python3 >/dev/null 2>&1 || need+=(python3)
# Tests make their own certificate authorities with it (test/helpers/test-ca.ts).
command -v openssl >/dev/null 2>&1 || need+=(openssl)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "provision: missing ${need[*]}; install them (apt-get install ${need[*]}) or run as root" >&2
    exit 1
  fi
  echo "provision: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

for bin in etcd redis-server promtool chromium cc g++ make python3 openssl; do
  command -v "$bin" >/dev/null 2>&1 || { echo "provision: $bin is still missing" >&2; exit 1; }
done

# npm install builds native/ only where it found a compiler; with one installed now, build it.
cd "$(dirname "$0")/.."
for module in malloc_trim busy_poll process_exec; do
  [ -f "native/build/Release/$module.node" ] || { node scripts/build-native.js; break; }
done
