# Two commands for a fresh machine:
#   make demo   install, then price the seed 004 RAG stack on AWS, Azure and GCP
#   make test   install what the tests need, lint, type-check and run the whole suite
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: install demo test lint typecheck bench clean

$(BIN)/pepperpy-cloud: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/pepperpy-cloud

demo: install
	$(BIN)/pepperpy-cloud estimate examples/stacks/bsc-rag.yaml --provider all
	$(BIN)/pepperpy-cloud compare examples/stacks/kv-store.yaml

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q

bench: install
	$(BIN)/python benchmarks/catalog_bench.py
	$(BIN)/python benchmarks/cli_startup_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
