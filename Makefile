# pausewatch: two commands do all the set-up.
#   make run    install into .venv and start the service on the embedded default (SQLite) with
#               the demo world streaming through it (data in ./demo-data; a rerun resumes it)
#               on $PAUSEWATCH_HOST:$PAUSEWATCH_PORT (default 127.0.0.1:8080)
#   make test   install what the tests need (Python packages, PostgreSQL when root) and run them
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
# The suite runs in this many processes, a test file to each at a time (docs/adr/0058); 0 runs
# it in this one process.
PYTEST_WORKERS ?= 2
PYTEST_XDIST := $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadfile)

.PHONY: run test test-fast lint typecheck system-deps bytecode clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[evals,transcript,simulate]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed bytecode
	$(BIN)/pausewatch serve --demo --data-dir demo-data

# Every `pausewatch` process (the tests start hundreds, the service its workers) reads the
# package's compiled modules instead of compiling them again, even where the environment says
# not to write bytecode (PYTHONDONTWRITEBYTECODE): about 0.3 s a process (docs/adr/0055).
bytecode: $(BIN)/python
	$(BIN)/python -m compileall -q src

system-deps:
	bash scripts/install-system-deps.sh

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy --strict src

test: $(VENV)/.installed-dev system-deps lint typecheck bytecode
	$(BIN)/pytest $(PYTEST_XDIST) $(PYTEST_ARGS)

# Everything but the slow tests (crash recovery, large logs): for quick local runs.
test-fast: $(VENV)/.installed-dev lint typecheck bytecode
	$(BIN)/pytest -m "not slow" $(PYTEST_XDIST) $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
