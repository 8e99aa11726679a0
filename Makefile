# One command each for a fresh machine: `make demo` and `make test`.
# Both create .venv when it is missing and install xspecseg with everything it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.xspecseg-installed
PYTEST_ARGS ?=

.PHONY: demo test install lint format bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch/torchvision are pinned in pyproject.toml (2.14.1 / 0.29.1: the builds that
	# run on CPU and CUDA and that import beside each other)
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/xspecseg demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_cube.py

clean:
	rm -rf $(VENV) xspecseg-demo .pytest_cache
