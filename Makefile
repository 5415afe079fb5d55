# Every target sets up its own virtualenv, so a fresh clone needs only Python 3.11+.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install run demo test lint format bench clean

$(INSTALLED): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip<26.3"
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(INSTALLED)

install: $(INSTALLED)

# Serve the product on its embedded moto stack; Ctrl-C stops everything.
run: install
	TZ=UTC $(BIN)/python -m infra.local

# Replay one citizen journey against `make run` in another terminal.
demo: install
	$(BIN)/python -m infra.local.demo

test: install
	TZ=UTC $(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python -m benchmarks.aws_calls
	$(BIN)/python -m benchmarks.cold_import

clean:
	rm -rf $(VENV) .local .pytest_cache .ruff_cache
