#!/usr/bin/env bash
# Makes sure a PostgreSQL server (initdb, pg_ctl) is installed for the tests' throwaway cluster.
# As root it installs Debian's package; otherwise it says what to do and fails (tests never skip it).
set -euo pipefail

if [ -n "${CARNET_TEST_POSTGRES_URL:-}" ]; then
  echo "PostgreSQL: using CARNET_TEST_POSTGRES_URL"
  exit 0
fi
if command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ] || id postgres >/dev/null 2>&1; then
    exit 0
  fi
fi
if [ "$(id -u)" -eq 0 ]; then
  echo "PostgreSQL server missing: installing Debian's postgresql package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
  exit 0
fi
cat >&2 <<'TXT'
PostgreSQL server not found. The tests start a throwaway cluster with initdb/pg_ctl and need it.
Either install it (Debian/Ubuntu: sudo apt-get install postgresql), or point the tests at an existing
empty database: CARNET_TEST_POSTGRES_URL=postgresql://user:password@host:5432/carnet_test make test
TXT
exit 1
