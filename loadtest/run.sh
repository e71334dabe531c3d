#!/usr/bin/env bash
# `make loadtest`: installs wrk when missing, then runs loadtest/run.py.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq wrk
  else
    echo "wrk is missing: sudo apt-get install wrk" >&2; exit 2
  fi
fi
mkdir -p .benchmarks
exec .venv/bin/python loadtest/run.py --json .benchmarks/loadtest.json "$@"
