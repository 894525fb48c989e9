# pausewatch: two commands do all the set-up.
#   make run    install into .venv and start the service on the embedded default (SQLite) with
#               the demo world streaming through it (data in ./demo-data; a rerun resumes it)
#               on $PAUSEWATCH_HOST:$PAUSEWATCH_PORT (default 127.0.0.1:8080)
#   make test   install what the tests need (Python packages, PostgreSQL when root) and run them
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: run test test-fast lint typecheck system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[evals,transcript,simulate]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/pausewatch serve --demo --data-dir demo-data

system-deps:
	bash scripts/install-system-deps.sh

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy --strict src

test: $(VENV)/.installed-dev system-deps lint typecheck
	$(BIN)/pytest $(PYTEST_ARGS)

# Everything but the slow tests (crash recovery, large logs): for quick local runs.
test-fast: $(VENV)/.installed-dev lint typecheck
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
