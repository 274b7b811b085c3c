# Two commands set everything up from the lock file: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck soak bench clean lock azurite

$(STAMP): requirements.lock pyproject.toml
	@echo "Setting up $(VENV) from requirements.lock (first run only; about a minute)..."
	$(PYTHON) -m venv $(VENV)
	@# uv, at the version the lock pins, installs the lock's 238 wheels in ~40 s (pip: ~3.5 min)
	$(BIN)/python -m pip install --quiet --quiet --disable-pip-version-check $$(grep '^uv==' requirements.lock)
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements.lock
	$(BIN)/python -m pip install --quiet --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/prefect-firework demo

lint: $(STAMP)
	$(BIN)/ruff check --no-cache .

# the modules [tool.mypy] in pyproject.toml names
typecheck: $(STAMP)
	$(BIN)/python -m mypy

test: lint typecheck
	$(BIN)/python -m pytest

# Azurite (Azure Blob's emulator, npm) for the Azure source tests, under .cache/ (not committed;
# the tests install it there on first use too). Needs Node.js 18+ and npm.
AZURITE_VERSION := 3.37.0
AZURITE := .cache/azurite/node_modules/.bin/azurite-blob
azurite: $(AZURITE)
$(AZURITE):
	mkdir -p .cache/azurite
	npm install --silent --no-audit --no-fund --prefix .cache/azurite azurite@$(AZURITE_VERSION)

# Benchmarks with small defaults (< 10 min); each script takes --full for the sizes in
# bench/RESULTS.md. Not part of `make test`.
bench: $(STAMP)
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/memory.py
	$(BIN)/python bench/cold.py
	$(BIN)/python bench/orchestration.py
	$(BIN)/python bench/pacing.py
	$(BIN)/python bench/remote.py
	$(BIN)/python bench/probes.py
	$(BIN)/python bench/complete.py
	$(BIN)/python bench/scale.py

# Reliability soak (docs/RELIABILITY.md): many crash trials, 10x the generated bad input and
# fuzzing. FIREWORK_SOAK_TRIALS=50 make soak for more trials. Not part of `make test`.
# (The suite strips FIREWORK_* variables, so the tests read RELIABILITY_* ones.)
FIREWORK_SOAK_TRIALS ?= 20
soak: $(STAMP)
	RELIABILITY_SOAK=1 RELIABILITY_SOAK_TRIALS=$(FIREWORK_SOAK_TRIALS) $(BIN)/python -m pytest \
		tests/reliability/test_crash_rerun.py tests/reliability/test_bad_input.py \
		tests/reliability/test_sandbox_fuzz.py

clean:
	rm -rf $(VENV) .cache

# Re-pin every dependency (needs network access to the package index).
lock:
	rm -rf .lockvenv && $(PYTHON) -m venv .lockvenv
	.lockvenv/bin/pip install --quiet -e '.[dev]'
	.lockvenv/bin/pip freeze --all --exclude-editable | grep -v '^pip==' > requirements.lock
	rm -rf .lockvenv
