#!/usr/bin/env bash
# Installs the Debian packages the tests need: a PostgreSQL server (the storage tests run on
# SQLite and on a real PostgreSQL that the fixtures start as the unprivileged 'postgres' user).
# Without root nothing is installed; the PostgreSQL tests then skip and say why (except under
# CI=true, where they fail instead).
set -euo pipefail

have_pg() { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }

if have_pg; then
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "install-system-deps: not root, PostgreSQL not installed; its tests will skip" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends postgresql >/dev/null
have_pg || { echo "install-system-deps: postgresql installed but initdb not found" >&2; exit 1; }
