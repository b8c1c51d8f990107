#!/usr/bin/env bash
# Makes sure Node.js (>= 20) and npm are installed, then installs the test OpenID provider (tests/oidc) from its
# committed package-lock.json. As root it installs Debian's packages when missing; otherwise it says what to do
# and fails (with CARNET_REQUIRE_NODE=1 the tests never skip the external-provider interoperability tests).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "Node.js/npm missing: installing Debian's nodejs and npm packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq nodejs npm >/dev/null
  else
    cat >&2 <<'TXT'
Node.js and npm not found. The tests start an external OpenID provider (npm package oidc-provider) and need them.
Install them (Debian/Ubuntu: sudo apt-get install nodejs npm), then run make test again.
TXT
    exit 1
  fi
fi

major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 20 ]; then
  echo "Warning: Node.js $(node --version) is older than 20; oidc-provider may not run on it" >&2
fi

# npm ci installs exactly the locked versions; --prefer-offline uses npm's cache when it holds them.
if [ ! -f tests/oidc/node_modules/.carnet-installed ] \
   || [ tests/oidc/package-lock.json -nt tests/oidc/node_modules/.carnet-installed ]; then
  (cd tests/oidc && npm ci --no-audit --no-fund --prefer-offline --loglevel=error)
  touch tests/oidc/node_modules/.carnet-installed
fi
