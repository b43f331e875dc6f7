# nbparity — every target that needs the environment or the C build creates it first,
# so each README command works on a fresh clone by itself.

PYTHON      ?= python3
VENV        := .venv
PY          := $(VENV)/bin/python
# The CPU build of torch: on this project's machines `torch==2.13.0` resolves to a local CPU
# wheel; never let pip pick a multi-gigabyte CUDA build for CI. Override on a GPU machine.
TORCH_SPEC  ?= torch==2.13.0
STAMP       := $(VENV)/.installed
C_REF       := c_reference/build/nanobragg-ref
OMP         ?=

.PHONY: setup build test lint demo gate bench golden fuzz clean help

help:
	@echo "make setup   create $(VENV) and install the project with its dev extra (CPU torch)"
	@echo "make build   compile the C reference into $(C_REF) (OMP=1 for OpenMP)"
	@echo "make test    set up, build, and run the whole test suite"
	@echo "make demo    trace pixel (685, 1039) of the embedded default case with both engines"
	@echo "make lint    ruff"

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

build:
	$(MAKE) -C c_reference OMP=$(OMP)

test: setup build
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check .

# The default case at pixel (685, 1039): the torch default (spec) shows the phi=0 carry-over
# divergence with its diagnosis (exit 1, expected); c-parity mode matches the C reference.
demo: setup build
	@echo "== torch in spec mode (its default): the phi=0 carry-over divergence is expected"
	$(VENV)/bin/nbparity trace --pixel 685 1039; test $$? -eq 1
	@echo "== torch in c-parity mode: parity is expected"
	$(VENV)/bin/nbparity trace --pixel 685 1039 --phi-carryover-mode c-parity

gate: setup build
	$(VENV)/bin/nbparity gate

# A long differential fuzzing run (CI runs a 50-configuration batch inside make test).
fuzz: setup build
	$(VENV)/bin/nbparity fuzz --n 1000

golden: setup build
	$(VENV)/bin/nbparity golden

# every benchmark, every engine (BENCH_ARGS="--quick" or "--only heavy --repeats 5" for less)
bench: setup build
	-$(MAKE) -C c_reference OMP=1
	$(PY) -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf c_reference/build .pytest_cache .ruff_cache
