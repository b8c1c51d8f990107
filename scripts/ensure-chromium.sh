#!/usr/bin/env bash
# Makes sure Debian's Chromium is installed at /usr/bin/chromium for the browser tests (tests/web, driven by the
# playwright Python package; `playwright install` is not used). As root it installs Debian's package when missing;
# otherwise it says what to do and fails (with CARNET_REQUIRE_CHROMIUM=1 the tests never skip the browser tests).
# Then installs axe-core for the accessibility checks (tests/web/package-lock.json).
set -euo pipefail

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "Chromium missing: installing Debian's chromium package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium >/dev/null
  else
    cat >&2 <<'TXT'
Chromium not found at /usr/bin/chromium. The web portal tests drive it with Playwright.
Install it (Debian: sudo apt-get install chromium), then run make test again.
TXT
    exit 1
  fi
fi

# axe-core (the accessibility checks injected into the pages), from the committed package-lock.json; needs npm
# (make node, scripts/ensure-node.sh, runs first).
cd "$(dirname "$0")/.."
if [ ! -f tests/web/node_modules/.carnet-installed ] \
   || [ tests/web/package-lock.json -nt tests/web/node_modules/.carnet-installed ]; then
  (cd tests/web && npm ci --no-audit --no-fund --prefer-offline --loglevel=error)
  touch tests/web/node_modules/.carnet-installed
fi
