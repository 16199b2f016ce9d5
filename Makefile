# Two entry points for a fresh machine with Python 3.11+: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint venv clean

$(BIN)/liveshift: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/liveshift

venv: $(BIN)/liveshift

demo: venv
	$(BIN)/liveshift demo

test: venv
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/ruff format --check src tests $(wildcard bench)
	$(BIN)/mypy
	$(BIN)/pytest -p no:cacheprovider $(PYTEST_ARGS)

# The embedded PostgreSQL of `make demo` keeps running after it: stop it before deleting its data.
clean:
	if [ -x $(BIN)/liveshift ] && [ -d .liveshift/pgdata ]; then \
		$(BIN)/liveshift embedded stop --dir .liveshift/pgdata; fi
	rm -rf $(VENV) .liveshift
