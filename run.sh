#!/usr/bin/env bash
# Install tufsync into ./.venv (first run only) and start it in embedded mode.
# Usage: ./run.sh [--host 0.0.0.0] [--port 9000]
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import tufsync" 2>/dev/null || [ pyproject.toml -nt .venv/.installed ]; then
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet -e .
  touch .venv/.installed
fi
exec .venv/bin/tufsync serve "$@"
