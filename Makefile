# tracker — the two commands of the quick start are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
FAST   := $(wildcard tracker/_fast/*.pyx tracker/_fast/*.pxd)

.PHONY: setup build run test bench bench-compare bench-baseline loadtest loadtest-sustained lint clean

setup: $(STAMP) build

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel "cython>=3.0"
	$(BIN)/pip install -q --no-build-isolation -e ".[test]"
	touch $(STAMP)

# walcore links with zlib (its crc32): the header comes with zlib1g-dev.
build: $(STAMP) $(FAST)
	@test -f /usr/include/zlib.h || { apt-get update -q && apt-get install -y -q zlib1g-dev; }
	$(BIN)/python setup.py -q build_ext --inplace

run: setup
	$(BIN)/tracker run $(CONFIG)

# Unit and conformance tests run twice: on the Cython modules and on their
# pure-Python twins. Integration tests start real `tracker run` processes.
test: setup
	bash scripts/test.sh

bench: setup
	mkdir -p .benchmarks
	$(BIN)/pytest bench -q -p no:cacheprovider --benchmark-only --benchmark-json=.benchmarks/latest.json

bench-compare:
	$(BIN)/python bench/compare.py bench/baseline.json .benchmarks/latest.json

bench-baseline:
	$(BIN)/python bench/compare.py --save-baseline .benchmarks/latest.json bench/baseline.json

loadtest: setup
	bash loadtest/run.sh

# 60 s of full single-event load on 2 workers per store (DuckDB, then the local
# ClickHouse): shipper lag and worker RSS over time. Takes a few minutes.
loadtest-sustained: setup
	mkdir -p .benchmarks
	$(BIN)/python loadtest/sustained.py --json .benchmarks/sustained.json $(ARGS)

lint: setup
	$(BIN)/ruff check tracker tests bench loadtest

clean:
	rm -rf build tracker/_fast/*.c tracker/_fast/*.so .pytest_cache
