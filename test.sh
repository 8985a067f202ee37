#!/usr/bin/env bash
# Install everything tufsync and its tests need into ./.venv, make sure Redis and
# PostgreSQL answer, then lint, type-check and run the whole test suite.
# Extra arguments go to pytest (e.g. ./test.sh -m "not slow").
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet -e '.[test]'
scripts/ensure-services.sh
scripts/ensure-test-tools.sh
# The second TUF client of the end-to-end tests (tuf-js), pinned by its lock file.
if ! command -v npm >/dev/null; then
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
npm ci --prefix tests/e2e/tufjs --no-audit --no-fund --loglevel=error
echo "== ruff"
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
echo "== mypy"
.venv/bin/mypy src
echo "== import layers"
.venv/bin/lint-imports
echo "== vulture (dead code; names used only by frameworks are in vulture_whitelist.py)"
.venv/bin/vulture
echo "== pytest"
.venv/bin/pytest "$@"
