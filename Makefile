# One command each for a fresh machine: `make demo` and `make test`.
# Both create .venv when it is missing and install xspecseg with everything it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.xspecseg-installed
PYTEST_ARGS ?=

.PHONY: demo test install lint format bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# pyproject.toml holds ranges; constraints.txt the exact torch/torchvision builds that
	# import beside each other on these machines
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[all,test]"
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

# The documentation site: docs/ -> docs/_build/html, every warning an error. Needs no network
# once the docs extra is installed.
.PHONY: docs
DOCS_STAMP := $(VENV)/.xspecseg-docs-installed
SPHINXOPTS ?=

$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[docs]"
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(BIN)/sphinx-build -q -W --keep-going -b html $(SPHINXOPTS) docs docs/_build/html
	@echo "docs: file://$(CURDIR)/docs/_build/html/index.html"
