# trialflow: two commands on a fresh machine with Python 3.11+ and make.
#   make demo   run the bundled example studies end to end (single-arm, then three-arm)
#   make test   run the whole test suite
# Both install exactly requirements.lock (every package pinned with its hashes) into .venv.
#   make lock         recompile the lock after editing pyproject.toml's dependencies
#   make upgrade      move the lock to today's newest releases, then run the tests
#   make test-bounds  run the tests at the lowest and highest versions pyproject.toml allows
#   make docs         regenerate the generated pages (docs/spec.md's reference, docs/cli.md,
#                     docs/derivations.md, docs/rules.md, docs/api/, README's command table)
#                     and build the documentation site into site/ (mkdocs, --strict)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements.lock
TOOLS  := requirements-tools.lock
# One lock for every supported Python (3.11 and newer) and platform: uv's universal resolution.
COMPILE := $(BIN)/uv pip compile pyproject.toml --extra test --extra dask --extra docs --group build --universal \
	--python-version 3.11 --generate-hashes --custom-compile-command "make lock" --quiet -o $(LOCK)

.PHONY: demo test lint bench example clean lock upgrade test-bounds tools docs

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "trialflow needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)

# The lock and nothing else: --no-deps resolves nothing, --require-hashes takes only the locked
# files, trialflow itself is installed from this folder without the index, and pip check plus
# .ci/check-lock fail when the lock is incomplete or the environment holds anything else.
$(STAMP): $(BIN)/python $(LOCK) pyproject.toml
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation --no-index -e .
	$(BIN)/python -m pip check
	$(BIN)/python .ci/check-lock $(LOCK) $(TOOLS)
	touch $(STAMP)

# The single-arm example is the main output (trialflow-demo); the three-arm one goes beside it.
demo: $(STAMP)
	$(BIN)/trialflow demo --out trialflow-demo
	$(BIN)/trialflow demo --example three-arm --out trialflow-demo-three-arm

test: $(STAMP)
	$(BIN)/ruff check trialflow tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check trialflow tests benchmarks
	$(BIN)/ruff format --check trialflow tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_xpt.py

# Regenerate every page generated from the code (docs/generate.py says which), then build the
# site; a warning fails the build (mkdocs.yml: strict).
docs: $(STAMP)
	$(BIN)/python docs/generate.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

# Regenerate the bundled synthetic example exports.
example: $(STAMP)
	$(BIN)/trialflow synth --subjects 16 --seed 2022 --out examples/hucmsc-t2dm/raw-export.xlsx
	$(BIN)/trialflow synth --design three-arm --subjects 90 --seed 2024 \
		--out examples/three-arm/raw-export.xlsx

$(BIN)/uv: $(BIN)/python $(TOOLS)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(TOOLS)
	touch $(BIN)/uv

tools: $(BIN)/uv

lock: $(BIN)/uv
	$(COMPILE)

upgrade: $(BIN)/uv
	$(COMPILE) --upgrade
	echo uv | $(BIN)/uv pip compile - --universal --python-version 3.11 --generate-hashes \
		--upgrade --no-header --quiet -o $(TOOLS).new
	{ sed -n '1,2p' $(TOOLS); cat $(TOOLS).new; } > $(TOOLS).tmp && rm $(TOOLS).new && mv $(TOOLS).tmp $(TOOLS)
	$(MAKE) test

test-bounds: $(BIN)/uv
	.ci/test-bounds

clean:
	rm -rf $(VENV) .venv-bounds trialflow-demo trialflow-demo-three-arm site .pytest_cache .ruff_cache
