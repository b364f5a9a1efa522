# Fenrun developer entry points. `make test` is what CI runs (via .ci/run).
# Tests use DATABASE_URL / FENRUN_DATABASE_URL when set, else they start the embedded PostgreSQL.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Touched after a successful install: reinstall only when pyproject.toml is newer than it.
STAMP  := $(VENV)/.installed
ARGS   ?=

.PHONY: venv run test lint fmt bench clean distclean

venv: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Order-only on the interpreter: pip touching .venv/bin must not force another install.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[dev]'
	touch $@

run: venv
	$(BIN)/fenrun serve $(ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHONPATH=. $(BIN)/lint-imports

test: lint
	$(BIN)/python -m api.schema_export --check
	$(BIN)/pytest -q $(ARGS)

bench: venv
	$(BIN)/python -m bench $(ARGS)

fmt: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Build and tool caches only; never .fenrun/ (that is the user's embedded database).
clean:
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +
	rm -rf .pytest_cache .ruff_cache .hypothesis .import_linter_cache build dist *.egg-info bench/results

distclean: clean
	rm -rf $(VENV)
