# Two commands do all the set-up on a fresh machine:
#   make demo   -> installs into .venv, ingests the shipped real IRA sample, detects, writes out/
#   make test   -> installs into .venv (with test extras) and runs the whole test suite
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test install clean

$(BIN)/cibscope: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]"
	touch $(BIN)/cibscope

install: $(BIN)/cibscope

demo: install
	$(BIN)/cibscope demo --out out/

test: install
	$(BIN)/python -m pytest -q

clean:
	rm -rf out/ cibscope.duckdb cibscope.duckdb.wal
