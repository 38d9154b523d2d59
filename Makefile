# The two commands of the README: `make run` and `make test`. Everything else is a part of them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PYTEST_WORKERS ?= 2

.PHONY: catalogs run test install lint format typecheck imports pytest bench clean openapi node

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "shop needs Python >= 3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(MAKE) catalogs
	@touch $@

install: $(INSTALLED)

catalogs:  ## compile the message catalogs (.po -> .mo) in place; the wheel's build does it too
	$(BIN)/python -c 'import pathlib, shop.core.i18n as i; i.compile_catalogs(pathlib.Path("src/shop"))'


run: $(INSTALLED)  ## migrate and serve http://127.0.0.1:8000 (docs at /docs)
	$(BIN)/shop serve --host 127.0.0.1 --port 8000

test: lint typecheck imports pytest  ## everything CI checks

lint: $(INSTALLED)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: $(INSTALLED)
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

typecheck: $(INSTALLED)
	$(BIN)/mypy

imports: $(INSTALLED)
	$(BIN)/lint-imports

pytest: $(INSTALLED) node
	$(BIN)/pytest -n $(PYTEST_WORKERS) --durations=10

openapi: $(INSTALLED)  ## rewrite docs/openapi.json from the code (a test fails while it is stale)
	$(BIN)/python -m shop.openapi docs/openapi.json

# The Node tools of the tests (Redocly, the TypeScript client): pinned in package-lock.json. Without
# npm the tests that need them skip, saying so (never in CI, whose .ci/run installs them).
NODE_INSTALLED := node_modules/.package-lock.json

$(NODE_INSTALLED): package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund; \
	else echo "npm not found: the OpenAPI lint and TypeScript client tests will skip"; fi

node: $(NODE_INSTALLED)

BENCH_INSTALLED := $(VENV)/.bench-installed

$(BENCH_INSTALLED): $(INSTALLED) pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	@touch $@

bench: $(BENCH_INSTALLED)  ## wrk against shop and its ceilings; rewrites docs/PERFORMANCE.md (BENCH_ARGS=--quick, --scale-1m)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache node_modules
