# Fenrun developer entry points. `make test` is what CI runs (via .ci/run).
# Tests use DATABASE_URL / FENRUN_DATABASE_URL when set, else they start the embedded PostgreSQL.
#
# Dependencies install from the lock files (requirements/*.txt, every file checked by its hash):
# runtime.txt for `make run`, dev.txt (runtime plus test and lint tools) for everything else.
# `make lock` regenerates both from pyproject.toml.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Touched after a successful install: reinstall only when a lock file is newer than it.
RUNTIME := $(VENV)/.installed-runtime
DEV     := $(VENV)/.installed-dev
ARGS   ?=
GRAPHIQL := api/static/graphiql

.PHONY: venv venv-runtime run channel-simulator carrier-simulator test lint fmt bench fuzz lock graphiql-assets clean distclean

venv: $(DEV)
venv-runtime: $(RUNTIME)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Order-only on the interpreter: pip touching .venv/bin must not force another install.
# The project itself goes in without dependencies: the lock file brought them, hashes checked.
$(RUNTIME): requirements/runtime.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --require-hashes --no-deps -r requirements/runtime.txt
	$(BIN)/python -m pip install --no-deps -e .
	touch $@

$(DEV): requirements/dev.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --require-hashes --no-deps -r requirements/dev.txt
	$(BIN)/python -m pip install --no-deps -e .
	touch $@ $(RUNTIME)

run: venv-runtime
	$(BIN)/fenrun serve $(ARGS)

# The simulated payment channel (docs/payouts.md), e.g. ARGS="--callback-url
# http://127.0.0.1:8000 --key-id fk_... --secret ..."
channel-simulator: venv-runtime
	$(BIN)/fenrun channel-simulator $(ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHONPATH=. $(BIN)/lint-imports

test: lint
	$(BIN)/python -m api.schema_export --check
	$(BIN)/pytest -q $(ARGS)

bench: venv
	$(BIN)/python -m bench $(ARGS)

# A longer fuzzing run than make test's (ARGS="--requests 5000"; --without-nul: what lies behind
# the NUL finding while it is open). Prints requests, 5xx, unexpected errors, positions moved.
fuzz: venv
	$(BIN)/python -m bench.fuzz $(ARGS)

# A carrier simulator on loopback (ARGS="--port 9100"): api/carriers/simulator.py.
carrier-simulator: venv-runtime
	$(BIN)/fenrun carrier-simulator $(ARGS)

fmt: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Resolve pyproject.toml's pins (and everything they need) into hashed lock files. The runtime
# lock constrains the dev one, so both install the same runtime versions.
lock: venv
	$(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes \
		--custom-compile-command "make lock" --quiet -o requirements/runtime.txt
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
		--generate-hashes --constraint requirements/runtime.txt \
		--custom-compile-command "make lock" --quiet -o requirements/dev.txt

# Fetch GraphiQL's assets again from the npm registry (the versions strawberry's page names).
graphiql-assets:
	rm -rf $(VENV)/npm && mkdir -p $(VENV)/npm
	cd $(VENV)/npm && npm pack --silent react@18.2.0 react-dom@18.2.0 graphiql@3.8.3 \
		@graphiql/plugin-explorer@1.0.2 && for f in *.tgz; do mkdir -p "$${f%.tgz}" && \
		tar xzf "$$f" -C "$${f%.tgz}"; done
	cp $(VENV)/npm/react-18.2.0/package/umd/react.production.min.js $(GRAPHIQL)/
	cp $(VENV)/npm/react-dom-18.2.0/package/umd/react-dom.production.min.js $(GRAPHIQL)/
	cp $(VENV)/npm/graphiql-3.8.3/package/graphiql.min.js $(GRAPHIQL)/
	cp $(VENV)/npm/graphiql-3.8.3/package/graphiql.min.css $(GRAPHIQL)/
	cp $(VENV)/npm/graphiql-plugin-explorer-1.0.2/package/dist/index.umd.js \
		$(GRAPHIQL)/plugin-explorer.umd.js
	cp $(VENV)/npm/graphiql-plugin-explorer-1.0.2/package/dist/style.css \
		$(GRAPHIQL)/plugin-explorer.css

# Build and tool caches only; never a data folder (that is the user's embedded database).
clean:
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +
	rm -rf .pytest_cache .ruff_cache .hypothesis .import_linter_cache build dist *.egg-info bench/results

distclean: clean
	rm -rf $(VENV)
