# trialflow: two commands on a fresh machine with Python 3.11+ and make.
#   make demo   run the bundled example study end to end
#   make test   run the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench example clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "trialflow needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/trialflow demo --out trialflow-demo

test: $(STAMP)
	$(BIN)/ruff check trialflow tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check trialflow tests benchmarks
	$(BIN)/ruff format --check trialflow tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_xpt.py

# Regenerate the bundled synthetic example export.
example: $(STAMP)
	$(BIN)/trialflow synth --subjects 16 --seed 2022 --out examples/hucmsc-t2dm/raw-export.xlsx

clean:
	rm -rf $(VENV) trialflow-demo .pytest_cache .ruff_cache
