#!/usr/bin/env bash
# Install the tools the benchmarks use (bench/cost.py) when they are missing:
# wrk (an HTTP load generator written in C) from Debian's packages, and py-spy (the sampling
# profiler behind `python -m bench.cost --profile DIR`) through the project's `bench` extra.
# Run from the repository root: scripts/ensure-bench-tools.sh
set -uo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v wrk >/dev/null; then
  as_root apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq wrk >/dev/null
fi
if ! command -v wrk >/dev/null; then
  echo "wrk (Debian package wrk) is missing and could not be installed" >&2
  exit 1
fi

cd "$(dirname "$0")/.." || exit 1
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv || exit 1
fi
if ! .venv/bin/python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('py_spy') is None and 1 or 0)" 2>/dev/null \
  || [ ! -x .venv/bin/py-spy ]; then
  .venv/bin/pip install -q -e '.[test,bench]' || exit 1
fi
echo "bench tools: wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}'), $(.venv/bin/py-spy --version)"
