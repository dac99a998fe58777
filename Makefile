# Two commands for a fresh machine:  `make demo`  and  `make test`.
# Each creates .venv on first use. torch is pinned to the CPU build first (a local wheel on our
# machines), so installing ebmlab afterwards never pulls CUDA wheels.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.ebmlab-installed
TORCH  ?= torch==2.13.0

.PHONY: setup demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/ebmlab demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/samplers.py

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache .mypy_cache
