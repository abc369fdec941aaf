# Two commands do all the set-up on a fresh machine:
#   make demo   -> installs cibscope's runtime dependencies only into .venv, ingests the shipped real IRA
#                  sample, detects, writes out/ (no test tools, no embedding model: docs/benchmarks.md)
#   make test   -> installs cibscope with its test extras into .venv and runs the whole test suite
# One stamp file per installed set, so `make test` after `make demo` adds the test extras to the lean
# .venv (and `make demo` after `make test` reuses the full one, a superset).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.installed-runtime
TEST := $(VENV)/.installed-test

.PHONY: demo test install clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# --no-compile: pip would byte-compile every installed module (about 140 MB of .pyc, most never imported);
# Python compiles what the jobs import on first use instead (docs/benchmarks.md, "Lean install").
$(RUNTIME): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --no-compile -e .
	touch $@

$(TEST): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[test]"
	touch $@ $(RUNTIME)

install: $(RUNTIME)

demo: $(RUNTIME)
	$(BIN)/cibscope demo --out out/

test: $(TEST)
	$(BIN)/python -m pytest -q

clean:
	rm -rf out/ cibscope.duckdb cibscope.duckdb.wal
