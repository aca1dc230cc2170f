# Two commands do all the set-up on a fresh machine (see README.md):
#   make app    create .venv, install SSL Workbench, open it on the built-in demo dataset
#   make test   create .venv, install SSL Workbench with its test tools, run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: app test install install-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install -e .

install-test: $(BIN)/python
	$(BIN)/python -m pip install -e '.[test]'

app: install
	$(BIN)/workbench

test: install-test
	$(BIN)/python -m pytest
