# Two commands for a fresh machine:  `make demo`  and  `make test`.
# Each creates .venv on first use and installs torch first: without an NVIDIA GPU the CPU build
# (from pip's configured local wheels where they provide it, as on our machines; else from the
# PyTorch CPU index), with a GPU the default CUDA build (tools/torch_source.py decides and says why).
# Installing ebmlab afterwards then never pulls CUDA wheels on a CPU machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.ebmlab-installed
TORCH  ?= torch==2.13.0
# test workers (pytest-xdist; one test file per worker, so module fixtures run once); JOBS=0 runs in-process
JOBS   ?= 2

.PHONY: setup check-setup demo test test-gpu-path lint bench clean

$(STAMP): pyproject.toml tools/torch_source.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $$($(BIN)/python tools/torch_source.py --explain --torch '$(TORCH)') '$(TORCH)'
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# Proof of the torch choice: a dry-run resolution (nothing installed) that fails if CUDA packages would come.
check-setup: $(STAMP)
	$(BIN)/python tools/torch_source.py --check --torch '$(TORCH)'

demo: $(STAMP)
	$(BIN)/ebmlab demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -n $(JOBS) --dist loadfile

# the suite on the GPU path on this CPU: finiteness checks read late, logged values kept as tensors (docs/gpu.md)
test-gpu-path: $(STAMP)
	$(BIN)/python -m pytest -n $(JOBS) --dist loadfile --gpu-path

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/samplers.py

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache .mypy_cache
