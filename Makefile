# The two commands of the README: `make run` and `make test`. Everything else is a part of them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_WORKERS ?= 2

# Every install is from a lock file with hashes (`make lock` writes them from pyproject.toml):
# requirements.lock, what serving needs (`make run`, the Dockerfile); requirements-dev.lock, that and
# the dev extra (`make test`, CI), with the same pins; requirements-tools.lock, uv, which installs
# the other two (in seconds where pip takes a minute) and writes them.
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
TOOLS_LOCK := requirements-tools.lock
UV_INSTALLED := $(VENV)/.installed-uv
SERVE_INSTALLED := $(VENV)/.installed-serve
INSTALLED := $(VENV)/.installed
UV_PIP := $(BIN)/uv pip --quiet
# Locked and hashed: nothing is resolved, nothing unpinned is fetched.
UV_SYNC = $(UV_PIP) install --python $(BIN)/python --require-hashes --no-deps -r
# The project itself, on top of its locked dependencies.
INSTALL_PROJECT := $(UV_PIP) install --python $(BIN)/python --no-deps -e .
# Everything installed, and shop's own modules, compiled to bytecode once, here: where
# PYTHONDONTWRITEBYTECODE is set, every process (each `shop serve` worker, each test's server) would
# otherwise compile every module it imports as it starts, about 2 s of the 4 s `shop serve` took.
# A module edited later is compiled again as it is imported. A package may ship a file that is not
# meant to compile (a fixture of its tests): the venv's failures are not the install's.
COMPILE := $(BIN)/python -m compileall -q -j 0 src/shop && \
	{ $(BIN)/python -m compileall -q -j 0 $(VENV)/lib >/dev/null || true; }

.PHONY: catalogs run test install install-serve lint format typecheck imports pytest bench clean openapi node lock

$(UV_INSTALLED): $(TOOLS_LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "shop needs Python >= 3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r $(TOOLS_LOCK)
	@touch $@

$(SERVE_INSTALLED): $(LOCK) pyproject.toml Makefile $(UV_INSTALLED)
	$(UV_SYNC) $(LOCK)
	$(INSTALL_PROJECT)
	$(MAKE) catalogs
	$(COMPILE)
	@touch $@

catalogs:  ## compile the message catalogs (.po -> .mo) in place; the wheel's build does it too
	$(BIN)/python -c 'import pathlib, shop.core.i18n as i; i.compile_catalogs(pathlib.Path("src/shop"))'


$(INSTALLED): $(DEV_LOCK) pyproject.toml Makefile $(UV_INSTALLED)
	$(UV_SYNC) $(DEV_LOCK)
	$(INSTALL_PROJECT)
	$(MAKE) catalogs
	$(COMPILE)
	@touch $@ $(SERVE_INSTALLED)

install: $(INSTALLED)  ## the dev install (tests, linters): what `make test` and CI use

install-serve: $(SERVE_INSTALLED)  ## only what serving needs

run: $(SERVE_INSTALLED)  ## migrate and serve http://127.0.0.1:8000 (docs at /docs)
	$(BIN)/shop serve --host 127.0.0.1 --port 8000

test: lint typecheck imports pytest  ## everything CI checks

# Rewrites the lock files from pyproject.toml: the newest versions its bounds allow, for every
# platform and Python 3.11 and later. Commit them; the next `make run`/`make test` installs them.
UV_COMPILE = $(UV_PIP) compile --generate-hashes --universal --python-version 3.11

lock: $(UV_INSTALLED)  ## regenerate requirements*.lock from pyproject.toml
	echo "uv>=0.5,<1" | $(UV_COMPILE) - -o $(TOOLS_LOCK)
	$(UV_COMPILE) pyproject.toml --extra dev -o $(DEV_LOCK)
	$(UV_COMPILE) pyproject.toml --constraints $(DEV_LOCK) -o $(LOCK)

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
