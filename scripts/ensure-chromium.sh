#!/usr/bin/env bash
# Makes sure Debian's Chromium is installed at /usr/bin/chromium for the browser tests (tests/web, driven by the
# playwright Python package; `playwright install` is not used). As root it installs Debian's package when missing;
# otherwise it says what to do and fails (with CARNET_REQUIRE_CHROMIUM=1 the tests never skip the browser tests).
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
