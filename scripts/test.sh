#!/usr/bin/env bash
# The whole suite, as CI runs it. Integration tests may not skip here.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export TRACKER_REQUIRE_SERVICES=1
export PYTHONDONTWRITEBYTECODE=1

echo "== services"
# Stop the ClickHouse server at exit only when this run started it.
if ! bash scripts/services/clickhouse.sh status >/dev/null; then
    bash scripts/services/clickhouse.sh start
    trap 'bash scripts/services/clickhouse.sh stop' EXIT
fi

echo "== lint"
$BIN/ruff check tracker tests bench loadtest

echo "== unit and conformance tests (compiled extensions)"
$BIN/python -c "import tracker._fast as f; assert f.USING_EXTENSIONS, 'Cython modules are not built'"
$BIN/pytest -q -p no:cacheprovider tests/unit tests/conformance

echo "== unit tests (pure-Python twins)"
TRACKER_NO_EXTENSIONS=1 $BIN/pytest -q -p no:cacheprovider tests/unit

echo "== integration tests"
$BIN/pytest -q -p no:cacheprovider tests/integration
