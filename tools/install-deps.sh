#!/usr/bin/env bash
# Install what smg needs to build, test and benchmark on Debian 12 (as root).
# Idempotent and quiet when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
PKGS=(build-essential clang libclang-rt-14-dev pkg-config
      libuv1-dev libhttp-parser-dev libjansson-dev libyaml-dev libpcre2-dev libutf8proc-dev
      curl wrk nginx-light haproxy prometheus nodejs npm procps iproute2)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node/npm may come from elsewhere than Debian: accept any node >= 20 on PATH
if command -v node >/dev/null && command -v npm >/dev/null; then
    tmp=(); for p in "${missing[@]}"; do [[ "$p" == nodejs || "$p" == npm ]] || tmp+=("$p"); done
    missing=("${tmp[@]+"${tmp[@]}"}")
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# test and benchmark clients from npm, pinned by the lockfile
# (a symlinked node_modules belongs to another checkout: never rewrite it from here)
if [ ! -L tests/node_modules ] && { [ ! -d tests/node_modules ] || [ tests/package-lock.json -nt tests/node_modules/.stamp ]; }; then
    echo "install-deps: npm ci (tests/)"
    (cd tests && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.stamp)
fi
