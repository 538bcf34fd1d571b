# Two commands: `make demo` sets up and runs the demo loop; `make test` sets up and runs the tests.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install demo test lint ui clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/validation-loop demo

lint: install
	$(BIN)/ruff check validation_loop validation_loop_tests benchmarks
	$(BIN)/ruff format --check validation_loop validation_loop_tests benchmarks

test: lint
	$(BIN)/python -m pytest

ui: install
	$(BIN)/validation-loop ui

clean:
	rm -rf $(VENV) build *.egg-info
